"""The program that runs inside a sandboxed process: a student's notebook, or the verifier of its tests.

It is started by :mod:`autograder.sandbox` with a fresh working folder as its current directory, reads
commands on standard input and answers on the pipe whose descriptor is in ``AUTOGRADER_FD``. Every message
is one JSON line, followed by ``blob`` raw bytes when the line says ``"blob": n`` (NumPy arrays as an
``.npz`` archive, see ``plaindata.py``), as ``protocol.py`` frames them for both ends. It writes
``{"event": "ready"}`` once its warm-up imports are done.

``AUTOGRADER_ROLE=student`` (the default) runs the student's code and answers questions about it:

* ``{"op": "file", "name": "data/x.csv"}`` + blob: writes a file into the working folder (the submitted
  notebook and the assignment's data files arrive this way, before the first cell);
* ``{"op": "run", "index": i, "source": "..."}``: writes ``{"event": "start", "index": i}``, runs the cell,
  then ``{"event": "done", "index": i, "outputs": [...], "changed": [names]}`` (nbformat v4 outputs; the
  global names the cell bound, rebound or deleted);
* ``{"op": "get", "id": k, "name": "W1"}`` and ``{"op": "call", "id": k, "ref": r, "args": tree}``: the value
  of a global, or what calling a function it sent earlier returns, as ``{"event": "reply", "id": k,
  "value": tree}`` or ``{"event": "reply", "id": k, "error": "ValueError: ..."}``. What the function
  prints is dropped (hidden test inputs must not reach the feedback through it).
* ``{"op": "names", "id": k}``, ``{"op": "delete", "id": k, "name": n}``, ``{"op": "set", "id": k,
  "name": n, "args": tree}`` + blob and ``{"op": "import", "id": k, "name": n, "module": m, "attribute":
  a}``: the student's global names; a test's ``del n``; a test binding a name the student's code also
  uses, to data or to what a module holds (so the student's functions see what nbgrader's single kernel
  would show them); ``{"op": "unhonoured", "id": k, "name": n, "reason": r}``: a stand-in for a value
  that could not travel.

``AUTOGRADER_ROLE=verifier`` runs test cells and never student code:

* ``{"op": "file", ...}`` + blob: as for the student (the assignment's data files, so tests can open them);

* ``{"op": "models", "allow": {kind: [names]}}``: what a Keras model fetched from the student's process may
  use to be rebuilt here (``plaindata.ModelAllowList``; until it arrives, no model is);
* ``{"op": "prelude", "source": "..."}``: the instructor's imports and definitions, run once;
* ``{"op": "test", "index": i, "source": "...", "stale": [names]}``: puts Keras's settings and the random
  generators back as they were before the first test (``plaindata.KerasState``), then runs a test cell in
  a namespace where a name the tests did not define is looked up in the student's process: it writes
  ``{"event": "request", "id": k, "op": "get" | "call", ...}`` and waits for the ``{"op": "reply", ...}``
  the grader relays. Only plain data comes back (``plaindata.py``); a student function becomes a proxy
  whose call is such a request. ``stale`` lists the names student cells changed since the last test cell
  (their copies here are dropped). A test that deletes (``del squares``) or binds (``squares = ...``) at
  its top level one of the student's global names does so in the student's process too, as in nbgrader's
  single kernel. A value that cannot travel as plain data (a function the test defines) is replaced there
  by a stand-in whose every use raises :class:`Unhonoured` (:data:`UNHONOURED` in its message), so student
  code that looks the name up fails saying why instead of grading against the wrong state, and code
  that does not is unaffected (a test's scratch variable that shares a student's name). A fetched list,
  dict, set, bytearray or NumPy array (up to 16 MB) the test changes in place (``values.append(1)``,
  ``W1[0] = 0``) is sent back before student code runs again (a call, or the end of the test cell).

Student cells run in one IPython ``InteractiveShell`` (magics, ``%matplotlib inline`` and rich display work as
in a kernel) without the ZeroMQ kernel machinery, which is what makes a submission cheap to start. An
exception in a cell becomes an ``error`` output and execution goes on with the next cell, exactly like
nbgrader's ``allow_errors`` execution. Time limits are enforced from outside (the parent kills the whole
process group), so nothing here has to cooperate with them.

This file imports nothing from the ``autograder`` package on purpose: the sandbox runs it by path, and it
loads ``protocol.py`` and ``plaindata.py`` from its own folder by path before any student code runs.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib.util
import os
import pickle
import sys
import traceback
import types
from pathlib import Path
from typing import Any, cast

_STREAM_CAP = 200_000  # characters kept per stream per cell; the parent's limit-output step trims further


class _Recorder:
    """Collects the outputs of the cell that is running."""

    def __init__(self) -> None:
        self.outputs: list[dict] = []
        self.stream_chars = {"stdout": 0, "stderr": 0}

    def reset(self) -> None:
        self.outputs = []
        self.stream_chars = {"stdout": 0, "stderr": 0}

    def stream(self, name: str, text: str) -> None:
        room = _STREAM_CAP - self.stream_chars[name]
        if room <= 0:
            return
        if len(text) > room:
            text = text[:room] + f"\n[... {name} truncated by the autograder ...]\n"
        self.stream_chars[name] += len(text)
        last = self.outputs[-1] if self.outputs else None
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})


RECORDER = _Recorder()


class _Stream:
    """A text file object that records what is written to it as a stream output."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        RECORDER.stream(self.name, text)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return 1 if self.name == "stdout" else 2


def _jsonable(data: dict) -> dict:
    return {key: value for key, value in data.items() if isinstance(value, (str, dict, list))}


def _make_shell():
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Hook(DisplayHook):
        _pending: tuple[Any, dict] | None = None

        def start_displayhook(self) -> None:
            self._pending = None

        def write_output_prompt(self) -> None:
            pass

        def write_format_data(self, format_dict, md_dict=None) -> None:
            self._pending = (format_dict, md_dict or {})

        def finish_displayhook(self) -> None:
            if self._pending is not None:
                data, metadata = self._pending
                RECORDER.outputs.append(
                    {
                        "output_type": "execute_result",
                        "data": _jsonable(data),
                        "metadata": metadata,
                        # the shell that owns this hook (typed Optional by IPython's traits)
                        "execution_count": self.shell.execution_count,  # type: ignore[union-attr]
                    }
                )
            self._pending = None

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw) -> None:
            RECORDER.outputs.append(
                {"output_type": "display_data", "data": _jsonable(data), "metadata": metadata or {}}
            )

        def clear_output(self, wait: bool = False) -> None:
            RECORDER.reset()

    class Shell(InteractiveShell):
        displayhook_class = Hook
        display_pub_class = Publisher

        def enable_gui(self, gui=None) -> None:
            pass

        def _showtraceback(self, etype, evalue, stb) -> None:
            RECORDER.outputs.append(
                {
                    "output_type": "error",
                    "ename": getattr(etype, "__name__", str(etype)),
                    "evalue": str(evalue),
                    "traceback": list(stb),
                }
            )

    shell = Shell.instance(colors="NoColor", history_length=0, cache_size=0)
    if shell.history_manager is not None:
        shell.history_manager.enabled = False
    shell.system = _piped_system(shell)  # type: ignore[method-assign]  # IPython's hook for ``!cmd``
    return shell


def _piped_system(shell):
    """``!cmd`` through plain pipes: IPython's default needs a pseudo-terminal, which a sandbox has not."""
    import subprocess

    def system(cmd: str) -> None:
        if cmd.rstrip().endswith("&"):
            raise OSError("Background processes not supported.")
        done = subprocess.run(
            shell.var_expand(cmd, depth=1), shell=True, stdin=subprocess.DEVNULL, capture_output=True
        )
        sys.stdout.write(done.stdout.decode("utf-8", "replace"))
        sys.stderr.write(done.stderr.decode("utf-8", "replace"))
        shell.user_ns["_exit_code"] = done.returncode

    return system


def _load_beside(name: str) -> types.ModuleType:
    """The module ``name`` from this file's folder, loaded by path (the sandbox cannot import autograder)."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_autograder_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # a dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


class _Channel:
    """Commands in, events out, framed by ``protocol.py`` (the grader's own definition, loaded by path).

    Args:
        protocol: the loaded ``protocol.py``.
        out_fd: the events pipe (``AUTOGRADER_FD``).
        in_fd: where commands arrive (a copy of standard input).
    """

    def __init__(self, protocol: types.ModuleType, out_fd: int, in_fd: int) -> None:
        self.protocol = protocol
        self.out = os.fdopen(out_fd, "wb", buffering=0)
        self.inp = os.fdopen(in_fd, "rb")

    def send(self, message: dict, blob: bytes = b"") -> None:
        self.out.write(self.protocol.encode(message, blob))

    def receive(self) -> tuple[dict, bytes]:
        line = self.inp.readline()
        if not line:
            raise SystemExit(0)  # the grader is gone
        message, size = self.protocol.decode(line, sys.maxsize)  # the grader's files may be of any size
        blob = self.inp.read(size) if size else b""
        return message, blob


def _error_text(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _quiet(function, *args, **kwargs):
    """Call ``function`` with what it prints recorded nowhere (the current cell's outputs are kept)."""
    saved = RECORDER.outputs, dict(RECORDER.stream_chars)
    RECORDER.reset()
    try:
        return function(*args, **kwargs)
    finally:
        RECORDER.outputs, RECORDER.stream_chars = saved


def _serve_student(channel: _Channel, plaindata, shell) -> None:
    refs: list = []

    def refer(value) -> int:
        refs.append(value)
        return len(refs) - 1

    def reply(request: dict, compute) -> None:
        try:
            tree, blob = plaindata.encode(_quiet(compute), refer)
            channel.send({"event": "reply", "id": request["id"], "value": tree}, blob)
        except BaseException as error:  # whatever student code raises is the answer
            if isinstance(error, (SystemExit, KeyboardInterrupt)) and not isinstance(error, Exception):
                error = RuntimeError(f"{type(error).__name__} raised")
            channel.send({"event": "reply", "id": request["id"], "error": _error_text(error)})

    namespace = shell.user_ns
    while True:
        command, blob = channel.receive()
        op = command.get("op")
        if op == "run":
            RECORDER.reset()
            before = {name: id(value) for name, value in namespace.items()}
            channel.send({"event": "start", "index": command["index"]})
            shell.run_cell(command["source"], store_history=True)
            after = {name: id(value) for name, value in namespace.items()}
            changed = sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))
            channel.send(
                {"event": "done", "index": command["index"], "outputs": RECORDER.outputs, "changed": changed}
            )
        elif op == "file":  # the submitted notebook and the assignment's data files, into the working folder
            _write_file(command, blob)
        elif op == "get":
            name = command["name"]

            def value(name=name):
                if name not in namespace:
                    raise NameError(f"name {name!r} is not defined")
                return namespace[name]

            reply(command, value)
        elif op == "call":

            def result(command=command, blob=blob):
                # A model among the arguments comes from the verifier: the grader's side, rebuilt unchecked.
                decoder = plaindata.Decoder(plaindata.unpack(blob), lambda ref, name: refs[ref], models=None)
                target = refs[command["ref"]]
                arguments = decoder.decode(command["args"])
                return target(*arguments[0], **arguments[1])

            reply(command, result)
        elif op == "names":
            reply(command, lambda: sorted(n for n in namespace if n[:1] != "_" and n not in _IPYTHON_NAMES))
        elif op == "delete":

            def delete(command=command):
                name = str(command.get("name"))
                if name not in namespace:
                    raise NameError(f"name {name!r} is not defined")
                del namespace[name]
                return True

            reply(command, delete)
        elif op == "import":

            def load(command=command):
                found = importlib.import_module(str(command["module"]))
                for part in filter(None, str(command.get("attribute", "")).split(".")):
                    found = getattr(found, part)
                namespace[str(command["name"])] = found
                return True

            reply(command, load)
        elif op == "unhonoured":

            def stand_in(command=command):
                namespace[str(command["name"])] = _StandIn(str(command.get("reason", UNHONOURED)))
                return True

            reply(command, stand_in)
        elif op == "set":

            def bind(command=command, blob=blob):
                decoder = plaindata.Decoder(plaindata.unpack(blob), lambda ref, name: refs[ref], models=None)
                arguments = decoder.decode(command["args"])
                namespace[str(command["name"])] = arguments
                return True

            reply(command, bind)
        elif op == "end":
            return


_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit"})
UNHONOURED = "the autograder cannot honour this test"


class Unhonoured(Exception):
    """A test changes the student's state in a way the verifier design cannot carry over (see above)."""


class _StandIn:
    """What a student's name holds after a test bound it to a value that could not travel: any use fails."""

    def __init__(self, reason: str) -> None:
        object.__setattr__(self, "_reason", reason)

    def _fail(self, *args, **kwargs):
        raise Unhonoured(object.__getattribute__(self, "_reason"))

    __call__ = __getattr__ = __getitem__ = __iter__ = __len__ = __bool__ = __setattr__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __matmul__ = _fail
    __eq__ = __lt__ = __gt__ = __contains__ = __float__ = __int__ = __index__ = _fail
    __hash__ = None  # type: ignore[assignment]  # unhashable, as a value that cannot be used must be

    def __repr__(self) -> str:
        return "<a value a test bound that the autograder cannot pass here>"


class _StudentError(Exception):
    """An exception raised by the student's code while a test called it."""


def _student_exception(text: str) -> Exception:
    name, _, message = text.partition(": ")
    known = getattr(builtins, name, None)
    if isinstance(known, type) and issubclass(known, Exception) and known.__module__ == "builtins":
        try:
            return known(message)
        except TypeError:
            pass
    return type(name if name.isidentifier() else "StudentError", (_StudentError,), {})(message)


class _Remote:
    """A function or class in the student's process; calling it is a request (arguments sent as data)."""

    def __init__(self, verifier: _Verifier, ref: int, name: str) -> None:
        self._verifier, self._ref, self.__name__ = verifier, ref, name

    def __call__(self, *args, **kwargs):
        return self._verifier.request({"op": "call", "ref": self._ref}, (args, kwargs))

    def __repr__(self) -> str:
        return f"<student function {self.__name__}>"


def _importable(value) -> tuple[str, str] | None:
    """``(module, attribute)`` that import ``value`` in another process (``attribute`` '' for a module)."""
    if isinstance(value, types.ModuleType):
        return value.__name__, ""
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    found = sys.modules.get(module)
    for part in qualname.split(".") if found is not None else ():
        found = getattr(found, part, None)
    return (module, qualname) if found is value and module not in ("__main__", "builtins") else None


_MUTABLE = (list, dict, set, bytearray)


def _is_array(value) -> bool:
    return type(value).__name__ == "ndarray" and type(value).__module__ == "numpy"


_TRACKED_BYTES = 16 * 1024**2  # larger values (a dataset) are not tracked: hashing them per call is slow


def _digest(value) -> bytes | None:
    """A fingerprint of a fetched value's contents (None when it cannot be taken or is too large)."""
    if _is_array(value) and value.nbytes > _TRACKED_BYTES:
        return None
    try:
        data = pickle.dumps(value, protocol=5)
    except Exception:  # an object pickle cannot write: its in-place changes are not tracked
        return None
    return hashlib.blake2b(data, digest_size=16).digest() if len(data) <= _TRACKED_BYTES else None


class _Namespace(dict):
    """The test cells' globals: what they define, else the student's value of that name (fetched)."""

    def __init__(self, verifier: _Verifier) -> None:
        super().__init__()
        self.verifier = verifier
        self.fixed: set[str] = set()  # the instructor's prelude: never replaced by a student's value
        self.fetched: dict[str, int] = {}
        self.digests: dict[str, bytes | None] = {}  # of fetched mutable values, to see in-place changes
        self.student_names: frozenset[str] = frozenset()  # the student's globals when this test started

    def __missing__(self, name: str):
        if name in builtins.__dict__ or name.startswith("__"):
            raise KeyError(name)
        try:
            value = self.verifier.request({"op": "get", "name": name})
        except NameError:
            raise KeyError(name) from None
        dict.__setitem__(self, name, value)
        self.fetched[name] = id(value)
        if isinstance(value, _MUTABLE) or _is_array(value):
            self.digests[name] = _digest(value)
        return value

    def sync(self) -> None:
        """Send the student's process the fetched values a test changed in place (``values.append(1)``),
        before student code runs again (a call, or the next cells): as in nbgrader's single kernel."""
        for name, before in list(self.digests.items()):
            value = dict.get(self, name)
            if before is None or value is None or id(value) != self.fetched.get(name):
                continue
            now = _digest(value)
            if now != before:
                self.digests[name] = now
                self._send(name, value)

    def _shared(self, name: str) -> bool:
        return name in self.student_names and name not in self.fixed and not name.startswith("_")

    def __setitem__(self, name: str, value) -> None:
        """A test's top-level binding; of a student's name, made in the student's process too."""
        dict.__setitem__(self, name, value)
        self.fetched.pop(name, None)
        if self._shared(name):
            self._send(name, value)

    def _send(self, name: str, value) -> None:
        """Bind ``name`` to ``value`` in the student's process (data, or what a module holds)."""
        where = _importable(value)
        try:
            if where is not None:  # a module or one of its functions: the student's process imports it
                self.verifier.request(
                    {"op": "import", "name": name, "module": where[0], "attribute": where[1]}
                )
            else:
                self.verifier.request({"op": "set", "name": name}, value)
        except self.verifier.plaindata.TransferError as error:
            reason = (
                f"{UNHONOURED}: it binds the student's name {name!r} to a value that cannot be passed to "
                f"the student's process ({error}), so the student's code cannot see it as in nbgrader's "
                "single kernel"
            )
            self.verifier.request({"op": "unhonoured", "name": name, "reason": reason})

    def __delitem__(self, name: str) -> None:
        """A test's top-level ``del``; of a student's name, done in the student's process too."""
        local = dict.__contains__(self, name)
        if local:
            dict.__delitem__(self, name)
            self.fetched.pop(name, None)
        if name in self.fixed or name.startswith("_"):
            if not local:
                raise KeyError(name)
            return
        try:
            self.verifier.request({"op": "delete", "name": name})
        except NameError:
            if not local:
                raise KeyError(name) from None
        # Still the student's name: binding it again (``squares = orig_squares``) restores it there too.
        self.student_names = self.student_names | {name}

    def forget(self, stale: list[str]) -> None:
        """Drop fetched copies (student state moves on) and test values the student's cells replaced."""
        for name, ident in self.fetched.items():
            if name in self and id(self[name]) == ident:
                dict.__delitem__(self, name)
        self.fetched, self.digests = {}, {}
        for name in stale:
            if name in self and name not in self.fixed:
                dict.__delitem__(self, name)


class _Verifier:
    def __init__(self, channel: _Channel, plaindata) -> None:
        self.channel = channel
        self.plaindata = plaindata
        self.namespace = _Namespace(self)
        self.next_id = 0
        self.models = plaindata.ModelAllowList()  # until the grader sends the assignment's: no model
        self.keras_state: Any = None  # Keras settings and random state after the set-up (_serve_verifier)

    def _refer(self, value) -> int:
        if isinstance(value, _Remote):
            return value._ref
        raise self.plaindata.TransferError(
            "a test cannot pass one of its own functions to student code; pass data instead"
        )

    def request(self, message: dict, payload=None):
        if message["op"] == "call":
            self.namespace.sync()
        self.next_id += 1
        blob = b""
        if payload is not None:
            encoder = self.plaindata.Encoder(self._refer, strict=True)
            message = {**message, "args": encoder.encode(payload)}
            blob = self.plaindata.pack(encoder.arrays)
        self.channel.send({"event": "request", "id": self.next_id, **message}, blob)
        answer, blob = self.channel.receive()
        if answer.get("op") != "reply" or answer.get("id") != self.next_id:
            raise RuntimeError("the grader's answer does not match the request")
        if "error" in answer:
            text = str(answer["error"])
            if message["op"] == "get" and text.startswith("NameError"):
                raise NameError(text.partition(": ")[2])
            raise _student_exception(text)
        return self.plaindata.decode(
            answer.get("value"), blob, lambda ref, name: _Remote(self, ref, name), models=self.models
        )

    def run(self, source: str, name: str, then=None) -> None:
        """Run a cell's code in the namespace; record its output, last value and error like a kernel.

        ``then`` is called after the code, even when it failed (its own error is the cell's too).
        """
        try:
            tree = ast.parse(source, filename=name)
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            exec(compile(tree, name, "exec"), self.namespace)
            if last is not None:
                value = eval(
                    compile(ast.Expression(cast(ast.Expr, last).value), name, "eval"), self.namespace
                )
                if value is not None:
                    RECORDER.outputs.append(
                        {
                            "output_type": "execute_result",
                            "data": {"text/plain": repr(value)},
                            "metadata": {},
                            "execution_count": None,
                        }
                    )
        except Exception as error:  # a failing test is an error output, as in a kernel
            _record_error(error)
        if then is not None:
            try:
                then()
            except Exception as error:
                _record_error(error)


def _record_error(error: Exception) -> None:
    RECORDER.outputs.append(
        {
            "output_type": "error",
            "ename": type(error).__name__,
            "evalue": str(error),
            "traceback": traceback.format_exception(error),
        }
    )


def _write_file(command: dict, blob: bytes) -> None:
    """Write a file the grader sent into the working folder (a relative path that stays inside it)."""
    path = Path(str(command.get("name", "")))
    if path.parts and not path.is_absolute() and ".." not in path.parts:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
        except OSError:
            pass  # a full disk shows when the notebook needs the file


def _serve_verifier(channel: _Channel, plaindata) -> None:
    verifier = _Verifier(channel, plaindata)
    while True:
        command, blob = channel.receive()
        op = command.get("op")
        RECORDER.reset()
        if op == "file":  # the assignment's data files: tests open them as the notebook does
            _write_file(command, blob)
        elif op == "models":
            verifier.models = plaindata.ModelAllowList.from_description(command["allow"])
        elif op == "prelude":
            verifier.run(command["source"], "<instructor set-up>")
            verifier.namespace.fixed = {n for n in verifier.namespace if not n.startswith("__")}
            channel.send({"event": "done", "index": -1, "outputs": RECORDER.outputs})
        elif op == "test":
            # Every test starts from the Keras settings and random state the set-up left, whatever a
            # model used in an earlier test did to them.
            if verifier.keras_state is None:
                verifier.keras_state = plaindata.KerasState()
            verifier.keras_state.restore()
            verifier.namespace.forget(list(command.get("stale", [])))
            channel.send({"event": "start", "index": command["index"]})
            verifier.namespace.student_names = frozenset(verifier.request({"op": "names"}))
            verifier.run(command["source"], f"<test cell {command['index']}>", then=verifier.namespace.sync)
            channel.send({"event": "done", "index": command["index"], "outputs": RECORDER.outputs})
        elif op == "end":
            return


def prepare(preload: list[str]) -> tuple[types.ModuleType, types.ModuleType]:
    """The warm-up: load the framing and the codec beside this file, then import ``preload``.

    Runs before the job is known: in this process when started alone (:func:`main`), or once in a fork
    server (``zygote.py``) whose every child then serves one sandbox (:func:`serve`).

    Returns:
        The loaded ``protocol.py`` and ``plaindata.py``.
    """
    protocol, plaindata = _load_beside("protocol"), _load_beside("plaindata")
    # The runner's own folder must not shadow student imports; a kernel puts the working folder first.
    sys.path[0] = ""
    for module in preload:
        __import__(module)
    return protocol, plaindata


def serve(role: str, protocol: types.ModuleType, plaindata: types.ModuleType, events_fd: int) -> None:
    """Say ``ready`` on ``events_fd`` and serve the commands arriving on standard input as ``role``."""
    channel = _Channel(protocol, events_fd, os.dup(0))
    shell = _make_shell() if role == "student" else None
    channel.send({"event": "ready"})
    # From here on, what reaches the raw descriptors 0, 1 and 2 (os.write, C libraries) is discarded:
    # output is recorded through sys.stdout/sys.stderr, and a flood must not grow the grader's log file.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    sys.stdin = open(os.devnull, encoding="utf-8")
    sys.stdout, sys.stderr = _Stream("stdout"), _Stream("stderr")
    if role == "student":
        _serve_student(channel, plaindata, shell)
    else:
        _serve_verifier(channel, plaindata)


def main() -> None:
    """Warm up, then serve commands as a student's notebook or as the verifier (``AUTOGRADER_ROLE``)."""
    events_fd = int(os.environ.pop("AUTOGRADER_FD"))
    role = os.environ.pop("AUTOGRADER_ROLE", "student")
    protocol, plaindata = prepare(list(filter(None, os.environ.pop("AUTOGRADER_PRELOAD", "").split(","))))
    serve(role, protocol, plaindata, events_fd)


if __name__ == "__main__":
    main()
