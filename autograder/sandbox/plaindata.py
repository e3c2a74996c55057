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
  configuration and its weights. The verifier rebuilds it with Keras's safe mode (no ``Lambda`` code, only
  classes whose ``module`` is Keras's own), so a test calls ``predict`` on a copy the student's code never
  touched;
* a Keras ``History``: its ``history``, ``params`` and ``epoch``;
* a function or class of the student's: a *reference* (``{"__remote__": n}``); the verifier turns it into a
  proxy whose call is a request to the student's process, with the arguments and the result encoded
  again.

Anything else arrives as :class:`Unsupported`, which raises :class:`TransferError` (a clear message for the
student) as soon as a test uses it. The verifier never sends it a reference of its own: a function passed
*to* student code cannot cross.

This file imports only the standard library and NumPy (Keras lazily), and nothing from ``autograder``: the
runner loads it by path inside the sandbox.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
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
            "return NumPy arrays, numbers, strings, lists, tuples, dicts, a Keras Sequential or functional "
            "model, or a History"
        )

    def __getattr__(self, name: str) -> Any:
        self._refuse()

    __call__ = __getitem__ = __iter__ = __len__ = __bool__ = __float__ = __int__ = _refuse
    __eq__ = __lt__ = __le__ = __gt__ = __ge__ = __add__ = __sub__ = __mul__ = __truediv__ = _refuse  # type: ignore[assignment]
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self._type_name} object the grader cannot receive>"


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
                }
            }
        if callable(value) and self.refer is not None:
            return {"__remote__": self.refer(value), "name": getattr(value, "__name__", kind.__name__)}
        name = f"{kind.__module__}.{kind.__qualname__}"
        if self.strict:
            raise TransferError(f"a {name} object cannot be sent to student code: send plain data")
        return {"__unsupported__": name}


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


def _allowed_modules(config: Any) -> None:
    """Refuse a Keras configuration that names a class outside Keras (defence on top of safe mode)."""
    if isinstance(config, dict):
        module = config.get("module")
        if isinstance(module, str) and not (module == "keras" or module.startswith("keras.")):
            name = f"{module}.{config.get('class_name')}"
            raise TransferError(f"the model uses {name}, which is not a Keras class")
        if config.get("registered_name") not in (None, config.get("class_name")):  # "package>Name"
            raise TransferError(f"the model uses a custom class ({config.get('registered_name')})")
        for value in config.values():
            _allowed_modules(value)
    elif isinstance(config, list):
        for value in config:
            _allowed_modules(value)


def _rebuild_model(spec: dict, arrays: Any) -> Any:
    import keras
    from keras.src.saving import serialization_lib

    config = json.loads(spec["config"])
    _allowed_modules(config)
    try:
        with serialization_lib.SafeModeScope(True):
            model = keras.models.model_from_json(spec["config"])
            model.set_weights([arrays[f"arr_{i}"] for i in spec["weights"]])
            if spec.get("compile") is not None:
                compile_config = json.loads(spec["compile"])
                _allowed_modules(compile_config)
                model.compile_from_config(compile_config)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise TransferError(f"the model could not be rebuilt from its configuration: {error}") from None
    return model


class Decoder:
    """Decodes trees; ``remote`` turns a reference into a callable proxy (None: refused)."""

    def __init__(self, arrays: Any, remote: Callable[[int, str], Any] | None = None) -> None:
        self.arrays = arrays
        self.remote = remote

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
            items = [self.decode(v, depth + 1) for v in tree["items"]]
            out = np.empty(len(items), dtype=object)
            for i, item in enumerate(items):
                out[i] = item
            return out.reshape(tuple(body))
        if tag == "__keras_history__":
            import keras

            history = keras.callbacks.History()
            history.history = self.decode(body["history"], depth + 1)
            history.params = self.decode(body["params"], depth + 1)
            history.epoch = self.decode(body["epoch"], depth + 1)
            return history
        if tag == "__keras_model__":
            return _rebuild_model(body, self.arrays)
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


def decode(tree: Any, blob: bytes, remote: Callable[[int, str], Any] | None = None) -> Any:
    """The value sent as ``(tree, blob)``."""
    return Decoder(unpack(blob), remote).decode(tree)
