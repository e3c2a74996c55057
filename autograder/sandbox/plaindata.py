"""Plain data across the sandbox wall: values become JSON plus one ``.npz`` archive, never pickles or code.

The student's process and the verifier (see :mod:`autograder.sandbox`) exchange values with this codec.
:func:`encode` turns a value into ``(tree, arrays)``: ``tree`` is JSON-ready, and each NumPy array sits in
``arrays`` under a number the tree refers to; :func:`pack` writes the arrays as one uncompressed ``.npz``.
:func:`decode` rebuilds the value from the tree and an archive opened with ``allow_pickle=False``.

What crosses, with its exact type kept (``isinstance(x, float)`` answers the same on both sides):

* ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``; ``list``, ``tuple``, ``dict``
  (any plain keys), ``set``, ``frozenset``;
* NumPy arrays (any numeric, bool or string dtype) and NumPy scalars; arrays of Python objects (IMDb's
  lists of word indices) element by element;
* a Keras model built with ``keras.Sequential`` or the functional API: its JSON configuration, its compile
  configuration and its weights. The configuration is the student's to write (``to_json`` can be
  replaced), and Keras's safe mode still calls any exported Keras function it names, so the verifier
  first walks it as JSON (:func:`check_model_config`): every class or function (model, compile settings
  and nested initializers, regularizers, constraints, activations, losses, metrics, optimizers), every
  name Keras would look up (``"activation": "relu"``, ``"loss": "mse"``) must be on the assignment's
  :class:`ModelAllowList`; ``Lambda`` layers and Python code never pass; a functional model's layers may
  only be called on the model's tensors, with ``True``, ``False`` or ``None`` for flags such as
  ``training`` (no strings, numbers or objects). Only then is it rebuilt with safe mode, inside a
  :class:`KerasState` that puts Keras's settings and random state back afterwards, so a test calls
  ``predict`` on a copy the student's code never touched. The optimizer's iteration count comes along
  (``model.optimizer.iterations``: how many batches the model was really trained on, however many times
  ``fit`` was called), so a test can check a training budget from what happened;
* a SciPy sparse matrix or array (``scipy.sparse``, any format): its CSR arrays (``data``, ``indices``,
  ``indptr``, which travel like any other array) and its shape; the verifier checks that they describe a
  valid matrix before rebuilding it in the original format (IMDb's multi-hot reviews, as the book builds
  them with ``dlcourse.text.multi_hot_csr``);
* a Keras ``History``: its ``history``, ``params`` and ``epoch``;
* a function or class of the student's: a *reference* (``{"__remote__": n}``); the verifier turns it into a
  proxy whose call is a request to the student's process, with the arguments and the result encoded
  again.

Anything else arrives as :class:`Unsupported`, which raises :class:`TransferError` (a clear message for the
student) as soon as a test uses it. The verifier never sends it a reference of its own: a function passed
*to* student code cannot cross.

This file imports only the standard library and NumPy (Keras and SciPy lazily), and nothing from
``autograder``: the runner loads it by path inside the sandbox.
"""

from __future__ import annotations

import copy
import io
import json
import random
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_DEPTH = 64  # nesting deeper than this is refused (a self-referencing list would never end)


class TransferError(TypeError):
    """A value could not cross between the student's process and the verifier."""


class Unsupported:
    """Stands for a student value of a type that cannot cross; any use raises :class:`TransferError`."""

    def __init__(self, type_name: str) -> None:
        object.__setattr__(self, "_type_name", type_name)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TransferError(
            f"the test needs a {self._type_name} object from your code, which the grader cannot receive: "
            "return NumPy arrays, SciPy sparse matrices, numbers, strings, lists, tuples, dicts, a Keras "
            "Sequential or functional model, or a History"
        )

    def __getattr__(self, name: str) -> Any:
        self._refuse()

    __call__ = __getitem__ = __iter__ = __len__ = __bool__ = __float__ = __int__ = _refuse
    __eq__ = __lt__ = __le__ = __gt__ = __ge__ = __add__ = __sub__ = __mul__ = __truediv__ = _refuse
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self._type_name} object the grader cannot receive>"


#: SciPy's sparse formats: a value of one of them crosses as CSR and is turned back into its format.
SPARSE_FORMATS = ("csr", "csc", "coo", "bsr", "dia", "lil", "dok")


def _is_sparse(value: Any) -> bool:
    """Whether ``value`` is a SciPy sparse matrix or array (without importing SciPy when it cannot be)."""
    if not (type(value).__module__ or "").startswith("scipy.sparse"):
        return False
    import scipy.sparse

    return scipy.sparse.issparse(value)


def _optimizer_iterations(model: Any) -> int | None:
    """How many batches the model's optimizer has applied (None when it has no optimizer yet)."""
    optimizer = getattr(model, "optimizer", None)
    iterations = getattr(optimizer, "iterations", None)
    if iterations is None:
        return None
    try:
        return int(np.asarray(iterations))
    except (TypeError, ValueError):
        return None


def _keras_kind(value: Any) -> str | None:
    """``"model"``, ``"history"`` or None, without importing Keras when the value cannot be one."""
    module = type(value).__module__ or ""
    if not module.startswith("keras"):
        return None
    import keras

    if isinstance(value, keras.callbacks.History):
        return "history"
    if isinstance(value, keras.Model):
        return "model"
    return None


class Encoder:
    """Encodes values; ``refer`` decides how a function or class becomes a reference (None: refused)."""

    def __init__(self, refer: Callable[[Any], int] | None = None, *, strict: bool = False) -> None:
        self.arrays: list[np.ndarray] = []
        self.refer = refer
        self.strict = strict  # raise on a value that cannot cross instead of sending an Unsupported marker

    def _array(self, array: np.ndarray) -> dict:
        self.arrays.append(array)
        return {"__ndarray__": len(self.arrays) - 1}

    def encode(self, value: Any, depth: int = 0) -> Any:
        """The JSON-ready tree of ``value`` (arrays are collected in ``self.arrays``)."""
        if depth > MAX_DEPTH:
            raise TransferError("the value is nested too deeply to send")
        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return value if np.isfinite(value) else {"__float__": repr(value)}
        if kind is complex:
            return {"__complex__": [value.real, value.imag]}
        if kind is bytes:
            return {"__bytes__": value.hex()}
        if kind is list:
            return [self.encode(v, depth + 1) for v in value]
        if kind is tuple:
            return {"__tuple__": [self.encode(v, depth + 1) for v in value]}
        if kind in (set, frozenset):
            return {"__set__": [self.encode(v, depth + 1) for v in value], "frozen": kind is frozenset}
        if kind is dict:
            pairs = [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]
            return {"__dict__": pairs}
        if kind is np.ndarray:
            if value.dtype.hasobject:
                return {
                    "__objarray__": list(value.shape),
                    "items": [self.encode(v, depth + 1) for v in value.ravel().tolist()],
                }
            return self._array(value)
        if isinstance(value, np.generic) and not isinstance(value, np.object_):
            return {"__npscalar__": self._array(np.asarray(value))["__ndarray__"]}
        if _is_sparse(value):
            csr = value.tocsr()
            fmt = value.format if value.format in SPARSE_FORMATS else "csr"
            return {
                "__sparse__": {
                    "format": fmt,
                    "array": not isinstance(value, _sparse_matrix_type()),
                    "shape": [int(n) for n in csr.shape],
                    "data": self._array(np.asarray(csr.data))["__ndarray__"],
                    "indices": self._array(np.asarray(csr.indices))["__ndarray__"],
                    "indptr": self._array(np.asarray(csr.indptr))["__ndarray__"],
                }
            }
        keras_kind = _keras_kind(value)
        if keras_kind == "history":
            return {
                "__keras_history__": {
                    "history": self.encode(dict(getattr(value, "history", {}) or {}), depth + 1),
                    "params": self.encode(dict(getattr(value, "params", {}) or {}), depth + 1),
                    "epoch": self.encode(list(getattr(value, "epoch", []) or []), depth + 1),
                }
            }
        if keras_kind == "model":
            try:
                config = value.to_json()
            except (NotImplementedError, TypeError, ValueError) as error:
                raise TransferError(
                    f"the model cannot be described as a configuration ({type(error).__name__}: {error}); "
                    "build it with keras.Sequential or the functional API"
                ) from None
            compiled = value.get_compile_config() if getattr(value, "compiled", False) else None
            return {
                "__keras_model__": {
                    "config": config,
                    "compile": json.dumps(compiled, default=str) if compiled is not None else None,
                    "weights": [self._array(np.asarray(w))["__ndarray__"] for w in value.get_weights()],
                    "iterations": _optimizer_iterations(value) if compiled is not None else None,
                }
            }
        if callable(value) and self.refer is not None:
            return {"__remote__": self.refer(value), "name": getattr(value, "__name__", kind.__name__)}
        name = f"{kind.__module__}.{kind.__qualname__}"
        if self.strict:
            raise TransferError(f"a {name} object cannot be sent to student code: send plain data")
        return {"__unsupported__": name}


def _sparse_matrix_type() -> type:
    import scipy.sparse

    return scipy.sparse.spmatrix


def _rebuild_sparse(spec: Any, array: Callable[[Any], np.ndarray]) -> Any:
    """The sparse matrix ``spec`` describes, after checking that its arrays form a valid CSR matrix."""
    import scipy.sparse

    if not isinstance(spec, dict) or spec.get("format") not in SPARSE_FORMATS:
        raise TransferError("malformed sparse matrix")
    shape = spec.get("shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(type(n) is int and n >= 0 for n in shape)):
        raise TransferError("malformed sparse matrix (shape)")
    data, indices, indptr = (array(spec.get(part)) for part in ("data", "indices", "indptr"))
    numeric = data.dtype.kind in "biufc"
    integral = indices.dtype.kind in "iu" and indptr.dtype.kind in "iu"
    if not (numeric and integral and data.ndim == indices.ndim == indptr.ndim == 1):
        raise TransferError("malformed sparse matrix (its arrays' types)")
    if len(indptr) != shape[0] + 1 or len(data) != len(indices):
        raise TransferError("malformed sparse matrix (its arrays' lengths)")
    try:
        kind = scipy.sparse.csr_array if spec.get("array") is True else scipy.sparse.csr_matrix
        matrix = kind((data, indices, indptr), shape=tuple(shape))
        matrix.check_format(full_check=True)  # row pointers that only grow, column indices inside the shape
        return matrix.asformat(spec["format"])
    except (ValueError, TypeError, IndexError, OverflowError) as error:
        raise TransferError(f"malformed sparse matrix: {error}") from None


def pack(arrays: list[np.ndarray]) -> bytes:
    """The arrays as one uncompressed ``.npz`` archive (empty bytes when there are none)."""
    if not arrays:
        return b""
    buffer = io.BytesIO()
    np.savez(buffer, *arrays)
    return buffer.getvalue()


def encode(value: Any, refer: Callable[[Any], int] | None = None) -> tuple[Any, bytes]:
    """``(tree, blob)`` for ``value``: see the module docstring for what crosses."""
    encoder = Encoder(refer)
    tree = encoder.encode(value)
    return tree, pack(encoder.arrays)


MODEL_KINDS = (
    "layers",
    "activations",
    "losses",
    "optimizers",
    "metrics",
    "initializers",
    "regularizers",
    "constraints",
)
# The Keras modules a configuration names for each kind (what Keras itself writes as ``module``). A class
# or function is accepted when its module is one of its kind's and its name is on that kind's list.
_KIND_MODULES = {
    "layers": (
        "keras.layers",
        "keras",
        "keras.models",
        "keras.src.models.functional",
        "keras.src.models.sequential",
    ),
    "activations": ("keras.activations",),
    "losses": ("keras.losses",),
    "optimizers": ("keras.optimizers", "keras.optimizers.schedules"),
    "metrics": ("keras.metrics",),
    "initializers": ("keras.initializers",),
    "regularizers": ("keras.regularizers",),
    "constraints": ("keras.constraints",),
}
_FUNCTION_KINDS = ("activations", "losses", "metrics")  # functions Keras writes with module "builtins"
_DTYPE_POLICIES = {("keras", "DTypePolicy"), ("keras.dtype_policies", "DTypePolicy")}  # in every layer
_NEVER = {"Lambda": "a Lambda layer runs code"}
_COMPILE_KEYS = {
    "optimizer": "optimizers",
    "loss": "losses",
    "metrics": "metrics",
    "weighted_metrics": "metrics",
    "loss_weights": None,
    "run_eagerly": None,
    "steps_per_execution": None,
    "jit_compile": None,
    "auto_scale_loss": None,
}
_ENTRY_KEYS = {"module", "class_name", "config", "registered_name", "name", "inbound_nodes", "build_config",
               "compile_config"}  # fmt: skip
_MAX_PROBLEMS = 4


def _key(name: str) -> str:
    """How names compare: ``binary_crossentropy`` is ``BinaryCrossentropy``, ``rmsprop`` is ``RMSprop``."""
    return name.replace("_", "").lower()


@dataclass(frozen=True)
class ModelAllowList:
    """What a Keras model fetched from the student's process may name, kind by kind (Keras's own names).

    Attributes:
        layers: layer and model classes (``Sequential``, ``Functional``, ``InputLayer``, ``Dense``...).
        activations: activation functions (``relu``...).
        losses: loss classes or functions, in either spelling (``BinaryCrossentropy``,
            ``binary_crossentropy``).
        optimizers: optimizer and learning-rate schedule classes (``RMSprop``...).
        metrics: metric classes or functions, and the names ``compile`` accepts (``accuracy``...).
        initializers: weight initializers (``GlorotUniform``...).
        regularizers: weight penalties (``L2``...).
        constraints: weight constraints (``MaxNorm``...).
    """

    layers: tuple[str, ...] = ()
    activations: tuple[str, ...] = ()
    losses: tuple[str, ...] = ()
    optimizers: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    initializers: tuple[str, ...] = ()
    regularizers: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for kind in MODEL_KINDS:
            names = getattr(self, kind)
            if isinstance(names, str) or not all(isinstance(n, str) and n.isidentifier() for n in names):
                raise ValueError(f"models.{kind} must be a list of Keras names, got {names!r}")
            object.__setattr__(self, kind, tuple(names))
        for name in self.layers:
            if name in _NEVER:
                raise ValueError(f"models.layers cannot allow {name}: {_NEVER[name]}")

    def describe(self) -> dict[str, list[str]]:
        """The lists as plain data (how they travel to the verifier)."""
        return {kind: list(getattr(self, kind)) for kind in MODEL_KINDS}

    @classmethod
    def from_description(cls, data: Any) -> ModelAllowList:
        """The allow-list :meth:`describe` gave (unknown kinds are refused)."""
        if not isinstance(data, dict) or not set(data) <= set(MODEL_KINDS):
            raise ValueError(f"not a model allow-list: {data!r}")
        return cls(**{kind: tuple(names) for kind, names in data.items()})

    def allows(self, kind: str, name: str) -> bool:
        """Whether ``name`` is on the list of ``kind``."""
        return _key(name) in {_key(n) for n in getattr(self, kind)}


class _ConfigCheck:
    """Walks a model's (or compile) configuration as JSON and lists what is not on the allow-list.

    Nothing is deserialized: every place Keras would turn into an object (a dict with ``class_name``), a
    function, a name it looks up (an ``activation`` string, a ``loss`` name) or a call argument (a
    functional model's ``inbound_nodes``) is compared with the lists.
    """

    def __init__(self, allowed: ModelAllowList) -> None:
        self.allowed = allowed
        self.problems: list[str] = []
        self.kinds: set[str] = set()  # the kinds a problem was about (their lists go in the message)

    def refuse(self, problem: str, kind: str | None = None) -> None:
        if problem not in self.problems:
            self.problems.append(problem)
        if kind is not None:
            self.kinds.add(kind)

    def value(self, value: Any, kind: str | None, depth: int) -> None:
        """Any value of a configuration; strings are names Keras looks up when ``kind`` is set."""
        if depth > MAX_DEPTH:
            self.refuse("a configuration nested too deeply")
        elif isinstance(value, dict) and "class_name" in value:
            self.entry(value, depth + 1)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.value(item, _kind_of_key(key) or kind, depth + 1)
        elif isinstance(value, list):
            for item in value:
                self.value(item, kind, depth + 1)
        elif isinstance(value, str) and kind is not None and not self.allowed.allows(kind, value):
            self.refuse(f"the {kind[:-1]} {value!r}", kind)

    def entry(self, entry: dict, depth: int) -> None:
        """A class or function reference: ``{"module", "class_name", "config", "registered_name"}``."""
        class_name, module = entry.get("class_name"), entry.get("module")
        config = entry.get("config")
        unknown = sorted(set(entry) - _ENTRY_KEYS)
        if unknown:
            self.refuse(f"a configuration entry with the key(s) {', '.join(map(repr, unknown))}")
        if class_name == "__lambda__":
            self.refuse("Python code (__lambda__)")
            return
        if not isinstance(class_name, str) or not isinstance(module, str) or class_name.startswith("__"):
            what = class_name if isinstance(class_name, str) else "an entry"
            self.refuse(f"{what} (not a Keras class or function)")
            return
        label = entry.get("name") or (config.get("name") if isinstance(config, dict) else None)
        if class_name == "function":
            self.function(module, config, entry.get("registered_name"))
            return
        if entry.get("registered_name") not in (None, class_name):
            self.refuse(f"the custom class {entry.get('registered_name')!r}")
        name = f"{module}.{class_name}"
        if not (module == "keras" or module.startswith("keras.")):
            self.refuse(f"{name}, which is not a Keras class")
        elif class_name in _NEVER:
            named = f" {label!r}" if isinstance(label, str) else ""
            self.refuse(f"the {class_name} layer{named} ({_NEVER[class_name]})", "layers")
        elif (module, class_name) not in _DTYPE_POLICIES and not any(
            module in _KIND_MODULES[kind] and self.allowed.allows(kind, class_name) for kind in MODEL_KINDS
        ):
            kind = next((k for k in MODEL_KINDS if module in _KIND_MODULES[k]), None)
            self.refuse(
                f"{name}" + (f", which is not an allowed {kind[:-1]}" if kind else ""), kind or "layers"
            )
        if "inbound_nodes" in entry:
            self.nodes(label if isinstance(label, str) else class_name, entry["inbound_nodes"])
        if isinstance(config, dict):
            for key, item in config.items():
                self.value(item, _kind_of_key(key), depth + 1)
        elif config is not None:
            self.refuse(f"{name} with a configuration that is not a dict")
        self.value(entry.get("build_config"), None, depth + 1)
        if entry.get("compile_config"):
            self.compile(entry["compile_config"])

    def function(self, module: str, name: Any, registered_name: Any) -> None:
        """A reference to a function (``"class_name": "function"``): only activations, losses, metrics."""
        if not isinstance(name, str) or registered_name not in (None, "function", name):
            self.refuse(f"a function reference that is not a Keras name ({name!r})")
            return
        kinds = (
            _FUNCTION_KINDS
            if module == "builtins"
            else [k for k in _FUNCTION_KINDS if module in _KIND_MODULES[k]]
        )
        if not any(self.allowed.allows(kind, name) for kind in kinds):
            where = "" if module == "builtins" else f"{module}."
            self.refuse(
                f"the function {where}{name}, which is not an allowed activation, loss or metric",
                "activations",
            )
            self.kinds.update(("losses", "metrics"))

    def nodes(self, layer: str, nodes: Any) -> None:
        """A functional model's calls of one layer: arguments may be its tensors, ``True``/``False``/None."""
        if not isinstance(nodes, list):
            self.refuse(f"the layer {layer!r} with unreadable calls")
            return
        for node in nodes:
            if not isinstance(node, dict) or not set(node) <= {"args", "kwargs"}:
                self.refuse(f"the layer {layer!r} with a call in an old or unknown format")
                continue
            args, kwargs = node.get("args", []), node.get("kwargs", {})
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                self.refuse(f"the layer {layer!r} with unreadable call arguments")
                continue
            bad = [_short(a) for a in args if not _is_tensors(a)]
            bad += [
                f"{k}={_short(v)}"
                for k, v in kwargs.items()
                if not (v is None or type(v) is bool or _is_tensors(v))
            ]
            if bad:
                self.refuse(
                    f"the layer {layer!r} called with {', '.join(bad)} (only tensors, True, False or None "
                    "may be passed to a layer)"
                )

    def compile(self, config: Any) -> None:
        """A compile configuration: optimizer, loss and metrics (names or entries), plain settings."""
        if not isinstance(config, dict):
            self.refuse("a compile configuration that is not a dict")
            return
        for key, item in config.items():
            if key not in _COMPILE_KEYS:
                self.refuse(f"the compile setting {key!r}")
            else:
                self.value(item, _COMPILE_KEYS[key], 0)


def _kind_of_key(key: Any) -> str | None:
    """The kind of object Keras looks a string up as, under this key of a layer's configuration."""
    if not isinstance(key, str):
        return None
    if key == "activation" or key.endswith("_activation"):
        return "activations"
    for suffix, kind in (("_initializer", "initializers"), ("_regularizer", "regularizers"),
                         ("_constraint", "constraints")):  # fmt: skip
        if key.endswith(suffix):
            return kind
    return None


def _is_tensors(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is a reference to a tensor of the model (or a list of them, for ``Concatenate``)."""
    if isinstance(value, list) and value and depth < 8:
        return all(_is_tensors(v, depth + 1) for v in value)
    tensor_keys = {"class_name", "config"}
    if (
        not isinstance(value, dict)
        or value.get("class_name") != "__keras_tensor__"
        or set(value) != tensor_keys
    ):
        return False
    config = value["config"]
    if not isinstance(config, dict) or set(config) != {"shape", "dtype", "keras_history"}:
        return False
    shape, dtype, history = config["shape"], config["dtype"], config["keras_history"]
    return (
        isinstance(shape, list)
        and all(d is None or type(d) is int for d in shape)
        and isinstance(dtype, str)
        and isinstance(history, list)
        and len(history) == 3
        and isinstance(history[0], str)
        and all(type(i) is int for i in history[1:])
    )


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_model_config(config: Any, allowed: ModelAllowList, *, compile_config: Any = None) -> None:
    """Refuse a model whose configuration names anything the allow-list does not (before it is rebuilt).

    Args:
        config: the model's configuration, parsed from its JSON (``model.to_json()``).
        allowed: what the assignment allows.
        compile_config: the model's compile configuration, if it was compiled.

    Raises:
        TransferError: what was refused, and what is allowed for the kinds concerned.
    """
    check = _ConfigCheck(allowed)
    if not isinstance(config, dict) or config.get("class_name") not in ("Sequential", "Functional"):
        check.refuse("a configuration that is not a Sequential or functional model")
    else:
        check.entry(config, 0)
    if compile_config is not None:
        check.compile(compile_config)
    if not check.problems:
        return
    shown = check.problems[:_MAX_PROBLEMS]
    more = len(check.problems) - len(shown)
    lists = "; ".join(
        f"{kind}: {', '.join(getattr(allowed, kind)) or 'none'}"
        for kind in MODEL_KINDS
        if kind in check.kinds
    )
    raise TransferError(
        "the grader does not rebuild this model: it uses "
        + "; ".join(shown)
        + (f" (and {more} more)" if more else "")
        + (f". This assignment allows {lists}" if lists else "")
    )


class KerasState:
    """Keras's global settings and the random generators' states, taken now and put back by :meth:`restore`.

    Covers ``keras.config`` (floatx, epsilon, image data format, dtype policy, logging...), Keras's global
    state (its random seed generator among them), Python's and NumPy's global generators and TensorFlow's
    global seed. Keras is only looked at when something already imported it.
    """

    def __init__(self) -> None:
        self.python_random = random.getstate()
        self.numpy_random = np.random.get_state()
        self.config: dict[str, Any] = {}
        self.global_state: dict[str, Any] | None = None
        self.tf_seed: tuple[Any, Any] | None = None
        settings = sys.modules.get("keras.src.backend.config")
        if settings is not None:
            self.config = {
                name: copy.copy(value)
                for name, value in vars(settings).items()
                if name.startswith("_")
                and not name.startswith("__")
                and isinstance(value, (str, int, float, bool, dict, type(None)))
            }
        tracker = sys.modules.get("keras.src.backend.common.global_state")
        if tracker is not None:
            self.global_state = dict(vars(tracker.GLOBAL_STATE_TRACKER))
        if "tensorflow" in sys.modules:
            from tensorflow.python.eager import context
            from tensorflow.python.framework import ops

            self.tf_seed = (context.global_seed(), ops.get_default_graph().seed)

    def restore(self) -> None:
        """Put everything back as it was when this state was taken."""
        random.setstate(self.python_random)
        np.random.set_state(self.numpy_random)
        settings = sys.modules.get("keras.src.backend.config")
        for name, value in self.config.items():
            setattr(settings, name, copy.copy(value))
        tracker = sys.modules.get("keras.src.backend.common.global_state")
        if tracker is not None and self.global_state is not None:
            current = vars(tracker.GLOBAL_STATE_TRACKER)
            current.clear()
            current.update(self.global_state)
        if self.tf_seed is not None:
            from tensorflow.python.eager import context
            from tensorflow.python.framework import ops

            if (context.global_seed(), ops.get_default_graph().seed) != self.tf_seed:
                context.set_global_seed(self.tf_seed[0])
                ops.get_default_graph().seed = self.tf_seed[1]


def _rebuild_model(spec: dict, arrays: Any, allowed: ModelAllowList | None) -> Any:
    """The model ``spec`` describes, checked against ``allowed`` first (None: the grader's own model)."""
    try:
        config = json.loads(spec["config"])
        compile_config = json.loads(spec["compile"]) if spec.get("compile") is not None else None
    except (TypeError, ValueError, KeyError, RecursionError) as error:
        raise TransferError(f"the model's configuration is unreadable: {error}") from None
    if allowed is not None:
        check_model_config(config, allowed, compile_config=compile_config)
    import keras
    from keras.src.saving import serialization_lib

    state = KerasState()  # nothing a rebuild does outlives it
    try:
        with serialization_lib.SafeModeScope(True):
            model = keras.models.model_from_json(spec["config"])
            model.set_weights([arrays[f"arr_{i}"] for i in spec["weights"]])
            if compile_config is not None:
                model.compile_from_config(compile_config)
                iterations = spec.get("iterations")
                if type(iterations) is int and iterations >= 0 and model.optimizer is not None:
                    model.optimizer.iterations.assign(iterations)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise TransferError(f"the model could not be rebuilt from its configuration: {error}") from None
    finally:
        state.restore()
    return model


class Decoder:
    """Decodes trees; ``remote`` turns a reference into a callable proxy (None: refused).

    ``models`` is what a Keras model may name to be rebuilt (see :func:`check_model_config`); None only
    where the model comes from the grader's side (the verifier's arguments to a student function).
    """

    def __init__(
        self, arrays: Any, remote: Callable[[int, str], Any] | None = None, *, models: ModelAllowList | None
    ) -> None:
        self.arrays = arrays
        self.remote = remote
        self.models = models

    def _array(self, index: Any) -> np.ndarray:
        if type(index) is not int or self.arrays is None or f"arr_{index}" not in self.arrays:
            raise TransferError("a value refers to an array that was not sent")
        return self.arrays[f"arr_{index}"]

    def decode(self, tree: Any, depth: int = 0) -> Any:
        """The value ``tree`` stands for."""
        if depth > MAX_DEPTH:
            raise TransferError("the value is nested too deeply")
        if tree is None or type(tree) in (bool, int, float, str):
            return tree
        if type(tree) is list:
            return [self.decode(v, depth + 1) for v in tree]
        if type(tree) is not dict or len(tree) == 0:
            raise TransferError("malformed value")
        tag = next(iter(tree))
        body = tree[tag]
        if tag == "__float__":
            return float(body)
        if tag == "__complex__":
            return complex(*body)
        if tag == "__bytes__":
            return bytes.fromhex(body)
        if tag == "__tuple__":
            return tuple(self.decode(v, depth + 1) for v in body)
        if tag == "__set__":
            items = (self.decode(v, depth + 1) for v in body)
            return frozenset(items) if tree.get("frozen") else set(items)
        if tag == "__dict__":
            return {self.decode(k, depth + 1): self.decode(v, depth + 1) for k, v in body}
        if tag == "__ndarray__":
            return self._array(body)
        if tag == "__npscalar__":
            return self._array(body)[()]
        if tag == "__objarray__":
            elements = [self.decode(v, depth + 1) for v in tree["items"]]
            out = np.empty(len(elements), dtype=object)
            for i, item in enumerate(elements):
                out[i] = item
            return out.reshape(tuple(body))
        if tag == "__sparse__":
            return _rebuild_sparse(body, self._array)
        if tag == "__keras_history__":
            import keras

            history = keras.callbacks.History()
            history.history = self.decode(body["history"], depth + 1)
            history.params = self.decode(body["params"], depth + 1)
            history.epoch = self.decode(body["epoch"], depth + 1)
            return history
        if tag == "__keras_model__":
            return _rebuild_model(body, self.arrays, self.models)
        if tag == "__remote__" and self.remote is not None and type(body) is int:
            return self.remote(body, str(tree.get("name", "function")))
        if tag == "__unsupported__":
            return Unsupported(str(body))
        raise TransferError(f"malformed value ({tag})")


def unpack(blob: bytes) -> Any:
    """The arrays of an archive made by :func:`pack`, loaded without pickles (None when empty)."""
    if not blob:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            members = archive.infolist()
        stored = all(m.compress_type == zipfile.ZIP_STORED for m in members)
        if not stored or sum(m.file_size for m in members) > len(blob):
            raise TransferError("array data must be an uncompressed .npz archive")
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise TransferError(f"unreadable array data: {error}") from None


def decode(
    tree: Any,
    blob: bytes,
    remote: Callable[[int, str], Any] | None = None,
    *,
    models: ModelAllowList | None,
) -> Any:
    """The value sent as ``(tree, blob)``; a Keras model must pass ``models`` (see :class:`Decoder`)."""
    return Decoder(unpack(blob), remote, models=models).decode(tree)
