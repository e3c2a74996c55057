"""What crosses between a student's process and the verifier (autograder/sandbox/plaindata.py).

The verifier decides every verdict from values it decodes here, so decoding must keep exact types (a test
asking ``isinstance(x, float)`` must get the student's answer right), rebuild Keras models without running
student code or any Keras function the assignment does not use, and refuse pickles, compressed archives and
look-alike objects.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import math
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.config import DEFAULT_MODELS, load_config
from autograder.sandbox import plaindata
from autograder.sandbox.plaindata import ModelAllowList, TransferError, Unsupported

ROOT = Path(__file__).resolve().parents[2]


def _round_trip(value, models=DEFAULT_MODELS, **kwargs):
    tree, blob = plaindata.encode(value, **kwargs)
    return plaindata.decode(tree, blob, models=models)


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
        plaindata.decode({"__ndarray__": 0}, buffer.getvalue(), models=None)
    compressed = io.BytesIO()
    np.savez_compressed(compressed, np.zeros(10**6))
    with pytest.raises(TransferError, match="uncompressed"):
        plaindata.decode({"__ndarray__": 0}, compressed.getvalue(), models=None)
    with pytest.raises(TransferError):
        plaindata.decode({"__ndarray__": 0}, b"PK\x03\x04 not a zip", models=None)


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
    with pytest.raises(TransferError, match="the Lambda layer 'lambda' \\(a Lambda layer runs code\\)"):
        _round_trip(lambda_model)
    with pytest.raises(TransferError, match="could not be rebuilt"):
        _round_trip(lambda_model, models=None)  # unchecked, Keras's safe mode still refuses Lambda code

    tree, blob = plaindata.encode(keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)]))
    config = tree["__keras_model__"]["config"].replace('"module": "keras.layers"', '"module": "os"')
    tree["__keras_model__"]["config"] = config
    with pytest.raises(TransferError, match=r"os.Dense, which is not a Keras class"):
        plaindata.decode(tree, blob, models=DEFAULT_MODELS)


def _hostile_build():
    spec = importlib.util.spec_from_file_location("hostile_build", ROOT / "tests/fixtures/hostile/build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _models_of(notebook: Path) -> dict:
    """Every model the solution's answer cells build: each ``build*()``, compiled by ``compile_model``."""
    import keras

    cells = nbformat.read(notebook, as_version=4).cells
    answers = [
        c.source for c in cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    ]
    namespace: dict = {"keras": keras, "np": np, "num_words": 10000}
    for source in answers:
        tree = ast.parse(source)
        tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
        exec(compile(tree, str(notebook), "exec"), namespace)
    models = {name: f() for name, f in namespace.items() if name.startswith("build") and callable(f)}
    if "compile_model" in namespace:
        models = {name: namespace["compile_model"](model) for name, model in models.items()}
    return models


@pytest.mark.parametrize("homework", ["hw2_mnist", "hw3_imdb"])
def test_every_solution_model_passes_its_assignments_allow_list(homework):
    """The default list (or the homework's autograder.toml) must let every model of the solution through."""
    folder = ROOT / "solutions" / homework
    allowed = load_config(folder).models
    models = _models_of(folder / f"{homework}.ipynb")
    assert models, f"no model built by the {homework} solution"
    for name, model in models.items():
        copy = _round_trip(model, models=allowed)
        assert copy.count_params() == model.count_params(), name
        assert copy.compiled == model.compiled, name


def _gadget_config(name: str) -> dict:
    """The configuration a gadget fixture sends, built as its notebook builds it."""
    import keras

    build = _hostile_build()
    namespace: dict = {"keras": keras}
    exec(build.gadget_source(name), namespace)
    return namespace["config"]


GADGETS = ["verdict-model-gadget-lambda-set-floatx", "verdict-model-gadget-exported-function",
           "verdict-model-gadget-non-tensor-argument"]  # fmt: skip


@pytest.mark.parametrize("gadget", GADGETS)
def test_each_gadget_changes_keras_settings_when_rebuilt_without_the_allow_list(gadget):
    """The gadgets are real: rebuilt the old way (safe mode only) and used, each changes a global setting."""
    import keras
    from keras.src.saving import serialization_lib

    build = _hostile_build()
    setting = build.MODEL_GADGETS[gadget][2]
    settings = lambda: {"floatx": str(keras.config.floatx()), "epsilon": str(keras.config.epsilon())}  # noqa: E731
    before = settings()
    state = plaindata.KerasState()
    try:
        with serialization_lib.SafeModeScope(True):
            model = keras.models.model_from_json(json.dumps(_gadget_config(gadget)))
        try:
            model.predict(np.ones((2, 4), dtype="float32"), verbose=0)
        except (ValueError, TypeError):
            pass  # the gadget's damage is done by then
        after = settings()
    finally:
        state.restore()
    assert after[setting] != before[setting], after
    assert settings() == before  # and KerasState put them back


@pytest.mark.parametrize("gadget", GADGETS)
def test_each_gadget_is_refused_before_anything_is_rebuilt_with_what_was_refused(gadget, monkeypatch):
    import keras

    build = _hostile_build()
    refusal = build.MODEL_GADGETS[gadget][1]
    rebuilt = []
    monkeypatch.setattr(keras.models, "model_from_json", lambda *a, **k: rebuilt.append(a))
    spec = {"config": json.dumps(_gadget_config(gadget)), "compile": None, "weights": []}
    with pytest.raises(TransferError) as refused:
        plaindata.decode({"__keras_model__": spec}, b"", models=DEFAULT_MODELS)
    message = str(refused.value)
    assert message.startswith("the grader does not rebuild this model: it uses ")
    assert refusal in message
    assert "This assignment allows layers: Sequential, Functional, InputLayer, Dense" in message or (
        "activations: linear, relu, sigmoid" in message
    )
    assert rebuilt == []


def _dense_model(**dense):
    import keras

    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2, **dense)])
    return json.loads(model.to_json())


def test_classes_functions_and_names_off_the_list_are_refused_with_the_list():
    import keras

    narrow = ModelAllowList(
        layers=("Sequential", "InputLayer", "Dense"),
        activations=("relu",),
        initializers=("GlorotUniform", "Zeros"),
        losses=("mse",),
        optimizers=("SGD",),
    )
    plaindata.check_model_config(_dense_model(activation="relu"), narrow)
    with pytest.raises(TransferError, match=r"the activation 'tanh'.* activations: relu$"):
        plaindata.check_model_config(_dense_model(activation="tanh"), narrow)
    with pytest.raises(TransferError, match=r"keras.regularizers.L2, which is not an allowed regularizer"):
        plaindata.check_model_config(_dense_model(activation="relu", kernel_regularizer="l2"), narrow)
    with pytest.raises(
        TransferError, match=r"keras.layers.Dropout, which is not an allowed layer.*layers: Seq"
    ):
        config = json.loads(keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dropout(0.5)]).to_json())
        plaindata.check_model_config(config, narrow)
    compiled = {"optimizer": "adam", "loss": {"module": "builtins", "class_name": "function",
                "config": "mse", "registered_name": "function"}, "metrics": ["accuracy"]}  # fmt: skip
    with pytest.raises(TransferError, match="the optimizer 'adam'; the metric 'accuracy'") as refused:
        plaindata.check_model_config(_dense_model(activation="relu"), narrow, compile_config=compiled)
    assert "optimizers: SGD" in str(refused.value) and "metrics: none" in str(refused.value)
    stolen = {**compiled, "optimizer": "sgd", "metrics": [], "loss": {"module": "keras.config",
              "class_name": "function", "config": "set_backend", "registered_name": "function"}}  # fmt: skip
    with pytest.raises(TransferError, match=r"the function keras.config.set_backend"):
        plaindata.check_model_config(_dense_model(activation="relu"), narrow, compile_config=stolen)


def test_a_functional_model_with_merges_flags_and_a_nested_model_is_rebuilt():
    import keras

    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(2,), name="b")
    inner = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(4, activation="tanh")])
    merged = keras.layers.Concatenate()([a, b])
    hidden = keras.layers.Dropout(0.2)(keras.layers.BatchNormalization()(inner(merged)), training=False)
    model = keras.Model([a, b], keras.layers.Dense(1, activation="sigmoid")(hidden))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy(), metrics=["auc"]
    )
    x = [np.ones((2, 3), dtype="float32"), np.ones((2, 2), dtype="float32")]
    copy = _round_trip(model)
    assert np.allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0))
    assert copy.get_compile_config()["loss"]["class_name"] == "BinaryCrossentropy"


def test_shapes_keras_3_does_not_write_are_refused_rather_than_guessed():
    import keras

    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    plaindata.check_model_config(json.loads(model.to_json()), DEFAULT_MODELS)
    edits = {  # refusal: how the Dense layer's entry is changed
        "a call in an old or unknown format": lambda dense: dense.update(
            inbound_nodes=[[["input_layer", 0, 0, {}]]]
        ),
        "Dense (not a Keras class or function)": lambda dense: dense.pop("module"),  # the legacy loader
        "__typespec__ (not a Keras class or function)": lambda dense: dense["config"].update(
            kernel_initializer={"class_name": "__typespec__", "module": "keras", "config": []}
        ),
        "the key(s) 'shared_object_id'": lambda dense: dense.update(shared_object_id=1),
        "numpy.ones, which is not an allowed activation": lambda dense: dense["config"].update(
            activation={"module": "numpy", "class_name": "function", "config": "ones"}
        ),
    }
    for refusal, edit in edits.items():
        changed = json.loads(model.to_json())
        edit(changed["config"]["layers"][1])
        with pytest.raises(TransferError) as refused:
            plaindata.check_model_config(changed, DEFAULT_MODELS)
        assert refusal in str(refused.value)


def test_lambda_layers_cannot_be_allowed():
    with pytest.raises(ValueError, match=r"models.layers cannot allow Lambda: a Lambda layer runs code"):
        ModelAllowList(layers=("Dense", "Lambda"))


def test_a_rebuild_leaves_keras_settings_and_random_state_as_it_found_them(monkeypatch):
    """Even a model the allow-list let through cannot change what later tests see."""
    import random

    import keras

    monkeypatch.setattr(plaindata, "check_model_config", lambda *args, **kwargs: None)  # no allow-list
    gadget = "verdict-model-gadget-lambda-set-floatx"
    spec = {"config": json.dumps(_gadget_config(gadget)), "compile": None, "weights": []}
    keras.utils.set_random_seed(1)
    expected = (random.random(), np.random.random())
    keras.utils.set_random_seed(1)
    try:
        plaindata.decode({"__keras_model__": spec}, b"", models=DEFAULT_MODELS)
    except TransferError:
        pass  # set_weights([]) on a model with weights
    assert keras.config.floatx() == "float32"
    assert (random.random(), np.random.random()) == expected


def test_sparse_matrices_cross_as_their_arrays_and_keep_format_and_values():
    """Does chapter 6's CSR multi-hot matrix reach the verifier (it used to end in a TransferError)?"""
    import scipy.sparse

    from dlcourse.text import multi_hot_csr

    reviews = multi_hot_csr([[1, 14, 22, 14], [], [0, 9999]], num_words=10000)
    back = _round_trip({"x": reviews, "rows": [reviews[:1]]})
    assert type(back["x"]) is scipy.sparse.csr_matrix and back["x"].shape == (3, 10000)
    assert back["x"].dtype == np.float32 and (back["x"] != reviews).nnz == 0
    assert back["rows"][0].shape == (1, 10000)
    for value in (reviews.tocoo(), reviews.tocsc(), scipy.sparse.csr_array(reviews), reviews.tolil()):
        again = _round_trip(value)
        assert type(again) is type(value) and np.array_equal(again.toarray(), value.toarray())


def test_a_forged_sparse_matrix_is_refused():
    """Arrays that do not describe a matrix of the stated shape never become one."""
    import scipy.sparse

    tree, blob = plaindata.encode(scipy.sparse.csr_matrix(np.eye(3, dtype=np.float32)))
    for part, value, message in [
        ("shape", [3, 2], "malformed sparse matrix"),  # column index 2 outside a 3 x 2 matrix
        ("shape", [-1, 3], r"malformed sparse matrix \(shape\)"),
        ("shape", [2, 3], "lengths"),  # 4 row pointers for 2 rows
        ("format", "pickle", "malformed sparse matrix"),
    ]:
        forged = json.loads(json.dumps(tree))
        forged["__sparse__"][part] = value
        with pytest.raises(TransferError, match=message):
            plaindata.decode(forged, blob, models=None)
    forged = json.loads(json.dumps(tree))
    forged["__sparse__"]["indptr"] = forged["__sparse__"]["data"]  # float row pointers
    with pytest.raises(TransferError, match="types"):
        plaindata.decode(forged, blob, models=None)


def test_a_models_optimizer_iterations_cross_so_a_second_fit_shows():
    """A budget check reads how many batches the optimizer really took, not the last History's length."""
    import keras

    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(10, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    assert int(_round_trip(model).optimizer.iterations) == 0
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)  # 3 batches per epoch
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    copy = _round_trip(model)
    assert len(history.history["loss"]) == 1 and int(copy.optimizer.iterations) == 9
    assert np.array_equal(copy.predict(x, verbose=0), model.predict(x, verbose=0))
