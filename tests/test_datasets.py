"""Does dlcourse.datasets return exactly what keras.datasets returns, from the offline copies?"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlcourse import datasets


@pytest.fixture(scope="module")
def imdb10k(data_dir):
    return datasets.load_imdb(num_words=10000)


def _keras_reading(monkeypatch, module: str, path: Path):
    """Make a keras.datasets module read ``path`` instead of downloading (bypassing its hash check)."""
    import importlib

    mod = importlib.import_module(f"keras.src.datasets.{module}")
    monkeypatch.setattr(mod, "get_file", lambda *a, **k: str(path))
    return mod


def test_mnist_matches_the_published_facts(data_dir):
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist()
    assert (x_train.shape, x_train.dtype) == ((60000, 28, 28), np.uint8)
    assert (y_train.shape, y_train.dtype) == ((60000,), np.uint8)
    assert (x_test.shape, x_test.dtype) == ((10000, 28, 28), np.uint8)
    assert (y_test.shape, y_test.dtype) == ((10000,), np.uint8)
    assert np.bincount(y_train).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert x_train.max() == 255 and x_train.min() == 0


def test_mnist_is_what_keras_returns(data_dir, monkeypatch):
    mnist = _keras_reading(monkeypatch, "mnist", data_dir / "mnist.npz")
    ours, theirs = datasets.load_mnist(), mnist.load_data()
    for a, b in zip(
        np.array(ours, dtype=object).ravel(), np.array(theirs, dtype=object).ravel(), strict=True
    ):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_imdb_top_10000_words_matches_the_reference_facts(imdb10k):
    (x_train, y_train), (x_test, _) = imdb10k
    assert len(x_train) == len(x_test) == 25000
    assert len(x_train[0]) == 218
    assert x_train[0][:6] == [1, 14, 22, 16, 43, 530]
    assert y_train[:10].tolist() == [1, 0, 0, 1, 0, 0, 1, 0, 1, 0]
    assert y_train.dtype == np.int64 and x_train.dtype == object
    assert max(max(seq) for seq in x_train) == 9999


def test_imdb_review_lengths(data_dir):
    (x_train, _), _ = datasets.load_imdb()
    lengths = np.array([len(seq) for seq in x_train])
    # The reference facts count tokens as load_imdb returns them (start token included).
    assert round(float(np.mean(lengths)), 2) == 238.71
    assert int(lengths.max()) == 2494


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"num_words": 10000},
        {"num_words": 5000, "skip_top": 20, "maxlen": 200, "seed": 7},
        {"num_words": 1000, "oov_char": None, "start_char": None, "index_from": 0},
    ],
    ids=["defaults", "top-10000", "skip-maxlen-seed", "no-oov-no-start"],
)
def test_imdb_is_what_keras_returns(data_dir, monkeypatch, kwargs):
    imdb = _keras_reading(monkeypatch, "imdb", data_dir / "imdb.npz")
    (ox, oy), (otx, oty) = datasets.load_imdb(**kwargs)
    (kx, ky), (ktx, kty) = imdb.load_data(**kwargs)
    assert ox.dtype == kx.dtype and otx.dtype == ktx.dtype
    assert ox.tolist() == kx.tolist() and otx.tolist() == ktx.tolist()
    assert oy.dtype == ky.dtype and np.array_equal(oy, ky) and np.array_equal(oty, kty)


def test_imdb_maxlen_that_keeps_nothing_is_an_error(data_dir):
    with pytest.raises(ValueError, match="Increase maxlen"):
        datasets.load_imdb(maxlen=1)


def test_word_index_is_what_keras_returns(data_dir, monkeypatch):
    imdb = _keras_reading(monkeypatch, "imdb", data_dir / "imdb_word_index.json")
    index = datasets.get_imdb_word_index()
    assert len(index) == 88584
    assert index == imdb.get_word_index()
    assert index["the"] == 1


def test_raw_text_is_aligned_with_the_sequences(data_dir, imdb10k):
    train, test = datasets.load_imdb_text()
    (x_train, y_train), (_, y_test) = imdb10k
    assert len(train) == len(test) == 25000
    assert np.array_equal(train.labels, y_train) and np.array_equal(test.labels, y_test)
    # Stars follow the labels: positive reviews have 7-10 stars, negative ones 1-4.
    assert set(np.unique(train.stars[train.labels == 1])) <= {7, 8, 9, 10}
    assert set(np.unique(train.stars[train.labels == 0])) <= {1, 2, 3, 4}
    # Decoding a sequence gives the words of the review it is aligned with.
    words = {rank + 3: w for w, rank in datasets.get_imdb_word_index().items()}
    for i in (0, 1, 12345, 24999):
        decoded = [words[t] for t in x_train[i] if t > 3][:15]
        text = train.texts[i].lower()
        assert all(w in text for w in decoded), (i, decoded, text[:200])


def test_raw_order_agrees_with_the_shipped_order_file(data_dir):
    order = json.loads((data_dir / "imdb_npz_order.json").read_text())
    train, test = datasets.load_imdb_text(seed=0)
    for split, reviews in (("train", train), ("test", test)):
        assert sorted(reviews.files) == sorted(order[split])
        assert datasets._raw_order(order[split], split) == order[split]


_OFFLINE_SCRIPT = """
import sys
from dlcourse import datasets
try:
    getattr(datasets, sys.argv[1])()
except datasets.DatasetUnavailableError as exc:
    assert exc.__cause__ is None and exc.__suppress_context__, "keras traceback leaked"
    print(exc)
    sys.exit(3)
sys.exit(0)
"""


@pytest.mark.parametrize(
    ("loader", "filename"),
    [
        ("load_mnist", "mnist.npz"),
        ("load_imdb", "imdb.npz"),
        ("get_imdb_word_index", "imdb_word_index.json"),
    ],
)
def test_offline_without_data_gives_one_clear_error(tmp_path, loader, filename):
    empty = tmp_path / "empty-data"
    empty.mkdir()
    keras_home = tmp_path / "keras-home"
    env = {
        **os.environ,
        "DLCOURSE_DATA": str(empty),
        "KERAS_HOME": str(keras_home),
        # Any download goes through a proxy nobody listens on, so it fails at once.
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "no_proxy": "",
    }
    proc = subprocess.run(
        [sys.executable, "-c", _OFFLINE_SCRIPT, loader],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    message = proc.stdout
    assert filename in message
    assert str(empty) in message
    assert "DLCOURSE_DATA" in message and "export DLCOURSE_DATA=" in message
    assert "Traceback" not in proc.stderr
    assert list(empty.iterdir()) == [], "the data folder was written to"
    # Keras may write its keras.json config; its dataset cache must hold no partial download.
    leftovers = [p for p in (keras_home / "datasets").rglob("*") if p.is_file()]
    assert leftovers == [], f"half-written cache left behind: {leftovers}"
