"""What crosses between a student's process and the verifier (autograder/sandbox/plaindata.py).

The verifier decides every verdict from values it decodes here, so decoding must keep exact types (a test
asking ``isinstance(x, float)`` must get the student's answer right), rebuild Keras models without running
student code, and refuse pickles, compressed archives and look-alike objects.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from autograder.sandbox import plaindata
from autograder.sandbox.plaindata import TransferError, Unsupported


def _round_trip(value, **kwargs):
    tree, blob = plaindata.encode(value, **kwargs)
    return plaindata.decode(tree, blob)


def test_plain_values_keep_their_exact_types():
    value = {
        "f": 0.5, "f32": np.float32(0.5), "f64": np.float64(0.5), "i": 3, "i64": np.int64(3), "b": True,
        "c": 1 + 2j, "s": "x", "raw": b"\x00\xff", "none": None, "t": (1, [2, (3,)]), 7: "int key",
        "set": {1, 2}, "nan": math.nan, "inf": -math.inf, "arr": np.arange(6, dtype=np.float32).reshape(2, 3),
    }  # fmt: skip
    back = _round_trip(value)
    assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in value.items()}
    assert back["arr"].dtype == np.float32 and np.array_equal(back["arr"], value["arr"])
    assert back["t"] == (1, [2, (3,)]) and back[7] == "int key" and back["raw"] == b"\x00\xff"
    assert math.isnan(back["nan"]) and back["inf"] == -math.inf and back["f32"] == np.float32(0.5)


def test_arrays_of_python_objects_cross_element_by_element():
    reviews = np.empty(3, dtype=object)
    reviews[:] = [[1, 14, 22], [1, 5], []]
    back = _round_trip(reviews)
    assert back.dtype == object and [list(r) for r in back] == [[1, 14, 22], [1, 5], []]


def test_a_look_alike_object_arrives_unusable():
    class Anything(float):  # a float that equals everything: the classic forged answer
        def __eq__(self, other):
            return True

    back = _round_trip([Anything(0.0)])[0]
    assert isinstance(back, Unsupported)
    with pytest.raises(TransferError, match="Anything object"):
        _ = back == 9
    with pytest.raises(TransferError, match="cannot be sent"):  # what the verifier uses for test arguments
        plaindata.Encoder(strict=True).encode(Anything(1.0))


def test_pickled_or_compressed_array_data_is_refused():
    buffer = io.BytesIO()
    np.savez(buffer, np.array([{"a": 1}], dtype=object))  # an object array is stored as a pickle
    with pytest.raises(TransferError, match="unreadable array data"):
        plaindata.decode({"__ndarray__": 0}, buffer.getvalue())
    compressed = io.BytesIO()
    np.savez_compressed(compressed, np.zeros(10**6))
    with pytest.raises(TransferError, match="uncompressed"):
        plaindata.decode({"__ndarray__": 0}, compressed.getvalue())
    with pytest.raises(TransferError):
        plaindata.decode({"__ndarray__": 0}, b"PK\x03\x04 not a zip")


def test_a_keras_model_is_rebuilt_with_its_weights_and_compile_settings():
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(3, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    copy = _round_trip(model)
    assert copy is not model and copy.compiled and type(copy.optimizer).__name__ == "RMSprop"
    assert copy.get_compile_config()["loss"] == "categorical_crossentropy"
    assert np.array_equal(copy.predict(x, verbose=0), model.predict(x, verbose=0))

    history = keras.callbacks.History()
    history.history = {"loss": [0.5, 0.25]}
    assert _round_trip(history).history == {"loss": [0.5, 0.25]}


def test_a_model_that_would_run_code_when_rebuilt_is_refused():
    import keras

    lambda_model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Lambda(lambda t: t * 2)])
    with pytest.raises(TransferError, match="could not be rebuilt"):
        _round_trip(lambda_model)  # Keras's safe mode refuses to deserialize Lambda code

    tree, blob = plaindata.encode(keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)]))
    config = tree["__keras_model__"]["config"].replace('"module": "keras.layers"', '"module": "os"')
    tree["__keras_model__"]["config"] = config
    with pytest.raises(TransferError, match="not a Keras class"):
        plaindata.decode(tree, blob)
