"""The course's only way to get data: MNIST and IMDb, offline-first.

Every loader returns exactly what the matching ``keras.datasets`` function returns, so the book reads
like Chollet's *Deep Learning with Python*. Where the files come from:

1. If the environment variable ``DLCOURSE_DATA`` names a folder holding the file (the layout of the
   course's ``shared/data/`` folder: ``mnist.npz``, ``imdb.npz``, ``imdb_word_index.json``,
   ``aclImdb_v1_labelled.tar.gz``), it is read from there. That folder is only ever read.
2. Otherwise Keras's own download and cache (``~/.keras/datasets``, or ``$KERAS_HOME``) is used.
3. Offline and without the files, one :class:`DatasetUnavailableError` says which file is missing,
   where it was looked for and how to provide it. Keras removes a partial download itself.

The ``.npz`` copies in ``DLCOURSE_DATA`` hold the same arrays as Google's but are not byte-identical,
so they are loaded here with numpy (applying Keras's IMDb post-processing) and never handed to
``keras.utils.get_file``, whose hash check would reject and delete them.
"""

from __future__ import annotations

import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DATA_ENV",
    "DatasetUnavailableError",
    "ImdbReviews",
    "get_imdb_word_index",
    "load_imdb",
    "load_imdb_text",
    "load_mnist",
]

DATA_ENV = "DLCOURSE_DATA"

_KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_ACLIMDB_ORIGIN = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"


@dataclass(frozen=True)
class _Source:
    """One dataset file: its name in ``DLCOURSE_DATA`` and where Keras downloads it from."""

    name: str
    what: str
    origin: str
    file_hash: str | None
    cache_name: str


_MNIST = _Source(
    "mnist.npz",
    "MNIST",
    _KERAS_ORIGIN + "mnist.npz",
    "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    "mnist.npz",
)
_IMDB = _Source(
    "imdb.npz",
    "IMDb (word-rank sequences)",
    _KERAS_ORIGIN + "imdb.npz",
    "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
    "imdb.npz",
)
_IMDB_WORD_INDEX = _Source(
    "imdb_word_index.json",
    "IMDb word index",
    _KERAS_ORIGIN + "imdb_word_index.json",
    "bfafd718b763782e994055a2d397834f",
    "imdb_word_index.json",
)
_ACLIMDB = _Source(
    "aclImdb_v1_labelled.tar.gz",
    "IMDb raw review text (Maas et al., 2011)",
    _ACLIMDB_ORIGIN,
    None,
    "aclImdb_v1.tar.gz",
)


class DatasetUnavailableError(RuntimeError):
    """A dataset file is neither in ``DLCOURSE_DATA`` nor downloadable right now."""


def _data_dir() -> Path | None:
    folder = os.environ.get(DATA_ENV)
    return Path(folder).expanduser() if folder else None


def _resolve(source: _Source) -> Path:
    """Return a readable path for ``source``: ``DLCOURSE_DATA`` first, then Keras's cache/download."""
    folder = _data_dir()
    if folder is not None and (folder / source.name).is_file():
        return folder / source.name

    from keras.utils import get_file  # imported lazily: Keras is slow to import

    try:
        return Path(get_file(fname=source.cache_name, origin=source.origin, file_hash=source.file_hash))
    # Keras raises a bare ``Exception`` for URL errors and ``ValueError`` for a bad hash.
    except Exception as exc:
        where = (
            f"{DATA_ENV}={folder} (no file named {source.name!r} there)"
            if folder is not None
            else f"{DATA_ENV} is not set"
        )
        raise DatasetUnavailableError(
            f"{source.what} is not available: {where}, and downloading {source.origin} "
            f"failed ({_one_line(exc)}).\n"
            f"To fix this, either point {DATA_ENV} at a folder that holds {source.name!r} "
            f"(the course's shared/data folder, e.g. `export {DATA_ENV}=/path/to/shared/data`), "
            "or connect to the internet so Keras can download and cache it in ~/.keras/datasets."
        ) from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


def load_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST exactly as ``keras.datasets.mnist.load_data()`` does.

    Introduced in the MNIST chapter (``book/05_mnist``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes (60000, 28, 28), (60000,),
        (10000, 28, 28) and (10000,).
    """
    with np.load(_resolve(_MNIST), allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def load_imdb(
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load IMDb exactly as ``keras.datasets.imdb.load_data`` does for the same arguments.

    Introduced in the IMDb chapter (``book/06_imdb``).

    Args:
        num_words: keep the ``num_words`` most frequent words; rarer ones become ``oov_char``.
        skip_top: also replace the ``skip_top`` most frequent words by ``oov_char``.
        maxlen: drop reviews longer than ``maxlen`` tokens (counting the start token).
        seed: seed of the shuffle applied to the train and test splits.
        start_char: token prepended to every review (``None`` for none).
        oov_char: token for dropped words (``None`` removes them instead).
        index_from: offset added to every word rank (0, 1 and 2 are padding, start and OOV).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of ``list[int]`` and int64 labels.
    """
    with np.load(_resolve(_IMDB), allow_pickle=True) as f:
        x_train, labels_train = f["x_train"], f["y_train"]
        x_test, labels_test = f["x_test"], f["y_test"]

    # The same steps, in the same order, as keras/src/datasets/imdb.py.
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]

    prefix = [start_char] if start_char is not None else []
    train = [prefix + [w + index_from for w in x] for x in x_train]
    test = [prefix + [w + index_from for w in x] for x in x_test]

    if maxlen:
        train, labels_train = _remove_long(maxlen, train, labels_train)
        test, labels_test = _remove_long(maxlen, test, labels_test)
        if not train or not test:
            raise ValueError(
                f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was "
                "kept. Increase maxlen."
            )

    xs = train + test
    labels = np.concatenate([labels_train, labels_test])
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]

    idx = len(train)
    return (
        (np.array(xs[:idx], dtype="object"), labels[:idx]),
        (np.array(xs[idx:], dtype="object"), labels[idx:]),
    )


def _remove_long(
    maxlen: int, seqs: list[list[int]], labels: np.ndarray
) -> tuple[list[list[int]], np.ndarray]:
    keep = [i for i, x in enumerate(seqs) if len(x) < maxlen]
    return [seqs[i] for i in keep], labels[keep]


def get_imdb_word_index() -> dict[str, int]:
    """Return the word -> rank mapping of ``keras.datasets.imdb.get_word_index()``.

    A word of rank ``r`` appears in :func:`load_imdb` sequences as ``r + index_from``.
    """
    with open(_resolve(_IMDB_WORD_INDEX), encoding="utf-8") as f:
        return json.load(f)


@dataclass(frozen=True)
class ImdbReviews:
    """Raw reviews of one split, position-aligned with :func:`load_imdb` for the same seed.

    Attributes:
        texts: the review texts (HTML line breaks ``<br />`` kept as in the corpus).
        labels: 1 for positive, 0 for negative (equal to ``load_imdb``'s labels).
        stars: the IMDb rating of each review, 1-4 (negative) or 7-10 (positive).
        files: the review's file inside the archive, e.g. ``train/pos/0_9.txt``.
    """

    texts: list[str]
    labels: np.ndarray
    stars: np.ndarray
    files: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def _raw_order(names: list[str], split: str) -> list[str]:
    """Keras's ``imdb.npz`` lists each split's positive reviews, then its negative ones, by file name."""
    pos = sorted(n for n in names if n.startswith(f"{split}/pos/") and n.endswith(".txt"))
    neg = sorted(n for n in names if n.startswith(f"{split}/neg/") and n.endswith(".txt"))
    return pos + neg


def load_imdb_text(seed: int = 113) -> tuple[ImdbReviews, ImdbReviews]:
    """Return the raw text, label and star rating of every labelled IMDb review.

    Position ``i`` of the train (test) result is the review behind ``x_train[i]`` (``x_test[i]``) of
    :func:`load_imdb` with the same ``seed``. Reads ``aclImdb_v1_labelled.tar.gz`` from
    ``DLCOURSE_DATA`` or downloads the original archive (about 80 MB). Cite Maas et al. (2011).

    Returns:
        ``(train, test)`` as :class:`ImdbReviews`.
    """
    texts: dict[str, str] = {}
    with tarfile.open(_resolve(_ACLIMDB), "r:gz") as tar:
        for member in tar:
            name = member.name.removeprefix("aclImdb/")
            if member.isfile() and name.count("/") == 2 and name.split("/")[1] in ("pos", "neg"):
                handle = tar.extractfile(member)
                if handle is not None:
                    texts[name] = handle.read().decode("utf-8")

    rng = np.random.RandomState(seed)
    splits = []
    for split in ("train", "test"):
        files = np.array(_raw_order(list(texts), split), dtype=object)
        indices = np.arange(len(files))
        rng.shuffle(indices)
        ordered = [str(f) for f in files[indices]]
        splits.append(
            ImdbReviews(
                texts=[texts[f] for f in ordered],
                labels=np.array([int(f.split("/")[1] == "pos") for f in ordered], dtype=np.int64),
                stars=np.array([int(f.rsplit("_", 1)[1][:-4]) for f in ordered], dtype=np.int64),
                files=ordered,
            )
        )
    return splits[0], splits[1]
