"""Does multi-hot encoding put a 1 exactly where a review has a word, dense and sparse alike?"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from dlcourse.text import multi_hot, multi_hot_csr

SEQUENCES = [[1, 4, 2, 4, 4], [], [0, 5], [3]]
EXPECTED = np.array(
    [
        [0, 1, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 1],
        [0, 0, 0, 1, 0, 0],
    ],
    dtype=np.float64,
)


def test_dense_marks_each_distinct_word_once_and_is_float64_by_default() -> None:
    x = multi_hot(SEQUENCES, num_words=6)
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x, EXPECTED)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_dense_honours_dtype(dtype: type) -> None:
    x = multi_hot(SEQUENCES, num_words=6, dtype=dtype)
    assert x.dtype == dtype
    np.testing.assert_array_equal(x, EXPECTED.astype(dtype))


def test_csr_equals_dense_and_stores_only_the_ones() -> None:
    x = multi_hot_csr(SEQUENCES, num_words=6)
    assert sp.issparse(x) and x.format == "csr"
    assert x.shape == (4, 6) and x.dtype == np.float32
    np.testing.assert_array_equal(x.toarray(), EXPECTED)
    assert x.nnz == 6  # repeated words are stored once
    np.testing.assert_array_equal(x.indptr, [0, 3, 3, 5, 6])
    np.testing.assert_array_equal(x.indices, [1, 2, 4, 0, 5, 3])
    assert x.indices.dtype == np.int32


def test_csr_keeps_trailing_empty_rows_and_column_count() -> None:
    x = multi_hot_csr([[2], []], num_words=10)
    assert x.shape == (2, 10)
    np.testing.assert_array_equal(x.toarray()[1], np.zeros(10))


@pytest.mark.parametrize("encode", [multi_hot, multi_hot_csr])
@pytest.mark.parametrize("bad", [[[1, 6]], [[-1, 2]], [[2], [2**40]]])
def test_out_of_range_words_are_refused(encode, bad: list[list[int]]) -> None:
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        encode(bad, num_words=6)


def test_real_imdb_reviews_encode_identically(data_dir) -> None:
    from dlcourse.datasets import load_imdb

    (x_train, _), _ = load_imdb(num_words=10000)
    sequences = x_train[:200]
    dense = multi_hot(sequences, 10000)
    sparse = multi_hot_csr(sequences, 10000)
    np.testing.assert_array_equal(sparse.toarray(), dense)
    # The first review has 218 tokens; its row counts its distinct words, start token 1 included.
    assert dense[0].sum() == len(set(x_train[0])) and dense[0, 1] == 1
    np.testing.assert_array_equal(sparse.getnnz(axis=1), [len(set(s)) for s in sequences])
