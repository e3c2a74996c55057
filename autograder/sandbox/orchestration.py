"""Running one notebook across a student's process and a verifier (:func:`run_notebook`).

Answer cells run in the student's process, test cells in the verifier; the verifier's requests for the
student's values and calls are relayed through here, checked, with their framing already checked by
:class:`~autograder.sandbox.protocol.Reader` (see :mod:`autograder.sandbox` for why). The per-cell and
per-submission time limits are enforced here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from autograder.sandbox.isolation import Role
from autograder.sandbox.plaindata import ModelAllowList
from autograder.sandbox.process import GARBLED, ExecutionStatus, Runner, Stop


@dataclass
class Execution:
    """What happened when a notebook's code cells ran.

    Attributes:
        outputs: nbformat output dicts per executed cell index.
        execution_counts: execution count per executed cell index.
        status: an :class:`ExecutionStatus`: ``"finished"``, ``"cell-timeout"``, ``"submission-timeout"``,
            ``"died"`` (the notebook's process stopped) or ``"sandbox-error"`` (the grading machinery failed:
            nothing to score).
        stopped_at: index of the cell that was running when execution stopped early, if any.
        detail: human-readable explanation when ``status`` is not ``"finished"``.
        seconds: wall time from the job being sent to the end.
    """

    outputs: dict[int, list[dict]] = field(default_factory=dict)
    execution_counts: dict[int, int] = field(default_factory=dict)
    status: ExecutionStatus = ExecutionStatus.FINISHED
    stopped_at: int | None = None
    detail: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Cell:
    """A code cell to run: its notebook index, its source, and whether it is a test (run by the verifier)."""

    index: int
    source: str
    test: bool = False


_MAX_NAMES = 10_000  # names one cell may report as changed
_MAX_ERROR_CHARS = 4_000


def _relay(
    request: dict, blob: bytes, student: Runner, deadline: float, timeout: tuple[ExecutionStatus, str]
) -> tuple[dict, bytes]:
    """Forward one verifier request to the student's process; return its (checked) reply to the verifier."""
    op = request.get("op")
    ident = request.get("id")
    if op == "get" and isinstance(request.get("name"), str):
        student.send({"op": "get", "id": ident, "name": request["name"]})
    elif op == "call" and type(request.get("ref")) is int:
        student.send({"op": "call", "id": ident, "ref": request["ref"], "args": request.get("args")}, blob)
    elif op == "names":
        student.send({"op": "names", "id": ident})
    elif op == "delete" and isinstance(request.get("name"), str):
        student.send({"op": "delete", "id": ident, "name": request["name"]})
    elif op == "import" and all(isinstance(request.get(k), str) for k in ("name", "module", "attribute")):
        student.send({"op": "import", **{k: request[k] for k in ("id", "name", "module", "attribute")}})
    elif op == "unhonoured" and isinstance(request.get("name"), str):
        reason = str(request.get("reason", ""))[:_MAX_ERROR_CHARS]
        student.send({"op": "unhonoured", "id": ident, "name": request["name"], "reason": reason})
    elif op == "set" and isinstance(request.get("name"), str):
        student.send({"op": "set", "id": ident, "name": request["name"], "args": request.get("args")}, blob)
    else:
        raise Stop(ExecutionStatus.SANDBOX_ERROR, "the test process sent an unknown request")
    reply, reply_blob = student.receive(deadline, timeout)
    if reply.get("event") != "reply" or reply.get("id") != ident:
        raise Stop(ExecutionStatus.DIED, GARBLED)
    answer: dict = {"op": "reply", "id": ident}
    if "error" in reply:
        answer["error"] = str(reply["error"])[:_MAX_ERROR_CHARS]
    else:
        answer["value"] = reply.get("value")
    verifier_blob = reply_blob if "value" in answer else b""
    return answer, verifier_blob


def _await_done(process: Runner, index: int, deadline: float, timeout: tuple[ExecutionStatus, str]) -> dict:
    """Wait for a student cell's ``done`` (a ``start`` may come first)."""
    while True:
        message, _ = process.receive(deadline, timeout)
        event = message.get("event")
        if event == "start" and message.get("index") == index:
            continue
        if event == "done" and message.get("index") == index and isinstance(message.get("outputs"), list):
            return message
        raise Stop(
            process.stop_status,
            GARBLED if process.role == Role.STUDENT else "the test process sent an unexpected message",
        )


def _await_prelude(verifier: Runner) -> None:
    """Wait for the verifier's set-up (the instructor's imports and definitions) to have run cleanly."""
    deadline = time.monotonic() + verifier.limits.startup_timeout
    done = _await_done(verifier, -1, deadline, (ExecutionStatus.SANDBOX_ERROR, "the tests' set-up timed out"))
    errors = [o for o in done["outputs"] if o.get("output_type") == "error"]
    if errors:
        detail = f"{errors[0].get('ename')}: {errors[0].get('evalue')}"
        raise Stop(ExecutionStatus.SANDBOX_ERROR, f"the tests' set-up failed: {detail}")


def run_notebook(
    student: Runner,
    cells: list[Cell],
    *,
    verifier: Runner | None = None,
    prelude: str = "",
    files: dict[str, bytes] | None = None,
    test_files: dict[str, bytes] | None = None,
    models: ModelAllowList | None = None,
) -> Execution:
    """Run a notebook's code cells in order, then stop both processes.

    Cells that are not tests run in ``student``; test cells run in ``verifier`` (which first runs
    ``prelude``, the instructor's imports and definitions), asking ``student`` for values and calls through
    this process (see the module docstring). Errors in a cell do not stop later cells; time limits (per cell,
    counting the student's time spent answering a test, and per submission) and a dead process do.

    Args:
        student: the student's started process.
        cells: the code cells, in notebook order.
        verifier: the verifier's started process; required when a cell is a test.
        prelude: source the verifier runs before the first test.
        files: files to put in the student's working folder first (relative path: content).
        test_files: files to put in the verifier's working folder (the assignment's data files).
        models: what a Keras model fetched from ``student`` may use to be rebuilt in ``verifier`` (None:
            no model is rebuilt there).

    Returns:
        The outputs of every cell that finished and how execution ended.
    """
    result = Execution()
    start = time.monotonic()
    current: int | None = None
    try:
        student.wait_ready()
        for name, data in (files or {}).items():
            student.send({"op": "file", "name": name}, data)
        # The verifier warms up and runs its set-up while the student's first cells run; both are
        # awaited before the first test cell only.
        verifier_state = "starting" if verifier is not None else "none"

        def advance_verifier(wait: bool) -> None:
            nonlocal verifier_state
            assert verifier is not None
            if verifier_state == "starting" and (verifier.poll_ready() or wait):
                verifier.wait_ready()
                for name, data in (test_files or {}).items():
                    verifier.send({"op": "file", "name": name}, data)
                if models is not None:
                    verifier.send({"op": "models", "allow": models.describe()})
                if prelude.strip():
                    verifier.send({"op": "prelude", "source": prelude})
                verifier_state = "set-up" if prelude.strip() else "ready"
            if verifier_state == "set-up" and wait:
                _await_prelude(verifier)
                verifier_state = "ready"

        start = time.monotonic()
        limits = student.limits
        submission_deadline = start + limits.submission_timeout
        stale: set[str] = set()
        for count, cell in enumerate(cells, start=1):
            current = cell.index
            if cell.test:
                if verifier is None:
                    raise ValueError("a test cell needs a verifier process")
                advance_verifier(wait=True)  # its set-up's time is not the test's
            now = time.monotonic()
            cell_deadline = now + limits.cell_timeout
            deadline = min(cell_deadline, submission_deadline)
            timeout = (
                (
                    ExecutionStatus.CELL_TIMEOUT,
                    f"a cell exceeded the {limits.cell_timeout:g} s limit per cell",
                )
                if cell_deadline < submission_deadline
                else (
                    ExecutionStatus.SUBMISSION_TIMEOUT,
                    f"the notebook exceeded the {limits.submission_timeout:g} s limit per submission",
                )
            )
            if not cell.test:
                if verifier_state == "starting":
                    advance_verifier(wait=False)
                student.send({"op": "run", "index": cell.index, "source": cell.source})
                done = _await_done(student, cell.index, deadline, timeout)
                changed = done.get("changed", [])
                if isinstance(changed, list) and len(changed) <= _MAX_NAMES:
                    stale.update(n for n in changed if isinstance(n, str))
            else:
                assert verifier is not None
                verifier.send(
                    {"op": "test", "index": cell.index, "source": cell.source, "stale": sorted(stale)}
                )
                stale = set()
                while True:
                    message, blob = verifier.receive(deadline, timeout)
                    event = message.get("event")
                    if event == "request":
                        verifier.send(*_relay(message, blob, student, deadline, timeout))
                    elif event == "done" and message.get("index") == cell.index:
                        done = message
                        break
                    elif event != "start":
                        raise Stop(
                            ExecutionStatus.SANDBOX_ERROR, "the test process sent an unexpected message"
                        )
            result.outputs[cell.index] = list(done.get("outputs", []))
            result.execution_counts[cell.index] = count
            current = None
    except Stop as stop:
        result.status, result.detail, result.stopped_at = stop.status, stop.detail, current
    finally:
        result.seconds = time.monotonic() - start
        student.close()
        if verifier is not None:
            verifier.close()
    return result
