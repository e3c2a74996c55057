"""Multi-hot encoding of word-index sequences, dense (the textbook way) and sparse (the frugal way).

Introduced in the IMDb chapter (``book/06_imdb``, section "Turning reviews into vectors"), used again in
the regularization chapter (``book/07_regularization``).

A review ``[1, 14, 22, 14]`` over a vocabulary of ``num_words`` becomes a row of ``num_words`` entries
that is 1 at columns 1, 14 and 22 and 0 elsewhere (a repeated word still gives 1). The dense textbook
matrix for the 25,000 IMDb training reviews and 10,000 words takes 25000 * 10000 * 8 B = 2 GB in float64;
the CSR matrix stores only the ~3.3 million ones (about 26 MB) and Keras accepts it in ``fit``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

__all__ = ["multi_hot", "multi_hot_csr"]


def _check_range(indices: np.ndarray, num_words: int) -> None:
    if indices.size and (indices.min() < 0 or indices.max() >= num_words):
        raise ValueError(
            f"word indices must lie in [0, {num_words}), got values in "
            f"[{indices.min()}, {indices.max()}]; load the data with num_words={num_words}"
        )


def multi_hot(
    sequences: Sequence[Sequence[int]], num_words: int, dtype: npt.DTypeLike = np.float64
) -> np.ndarray:
    """Encode sequences as a dense multi-hot matrix (``vectorize_sequences`` of Chollet's book).

    Args:
        sequences: ``n`` sequences of word indices in ``[0, num_words)``.
        num_words: the vocabulary size (number of columns).
        dtype: the matrix's dtype; float64 is the textbook's (8 bytes per entry).

    Returns:
        An ``(n, num_words)`` array with 1 where a word occurs in a sequence, 0 elsewhere.

    Raises:
        ValueError: if an index lies outside ``[0, num_words)``.
    """
    results = np.zeros((len(sequences), num_words), dtype=dtype)
    for i, sequence in enumerate(sequences):
        indices = np.asarray(sequence, dtype=np.int64)
        _check_range(indices, num_words)
        results[i, indices] = 1
    return results


def multi_hot_csr(
    sequences: Sequence[Sequence[int]], num_words: int, dtype: npt.DTypeLike = np.float32
) -> sp.csr_matrix:
    """Encode sequences as a sparse multi-hot matrix in CSR format, without a dense intermediate.

    Row ``i`` holds the sorted distinct words of ``sequences[i]``: ``indices[indptr[i]:indptr[i+1]]``,
    each with value 1. Memory is one value and one int32 column index per distinct word, plus one
    row pointer per sequence.

    Args:
        sequences: ``n`` sequences of word indices in ``[0, num_words)``.
        num_words: the vocabulary size (number of columns).
        dtype: the dtype of the stored ones (float32 is what Keras trains in).

    Returns:
        An ``(n, num_words)`` ``scipy.sparse.csr_matrix`` equal to ``multi_hot(sequences, num_words)``.

    Raises:
        ValueError: if an index lies outside ``[0, num_words)``.
    """
    index_dtype = np.int32 if num_words <= np.iinfo(np.int32).max else np.int64
    rows = []
    for sequence in sequences:
        row = np.unique(np.asarray(sequence, dtype=np.int64))  # sorted, so row[0] and row[-1] bound it
        _check_range(row[[0, -1]] if row.size else row, num_words)
        rows.append(row.astype(index_dtype))
    indices = np.concatenate(rows) if rows else np.zeros(0, dtype=index_dtype)
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(row) for row in rows], out=indptr[1:])
    if indices.size <= np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    data = np.ones(indices.size, dtype=dtype)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), num_words))
