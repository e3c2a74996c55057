"""Who runs the unit of work: this machine's pool, a Dask cluster, or one Kubernetes pod per submission.

The unit is :func:`autograder.api._grade_job` (a worker set up by ``_init_worker``): it grades one
submission in the sandbox and writes ``.state/<id>.json``, ``feedback/`` and ``autograded/`` under an
output folder. Every executor runs exactly that function, so a grade does not depend on who ran it:

* :func:`grade_one` runs it once for one notebook (``autograder grade-one``; what a pod runs);
* :func:`grade_dask` sends each submission to a Dask worker as bytes (no shared filesystem): a *job* (the
  notebook and who it belongs to, :func:`job_from_submission`) plus the assignment's source files
  (:func:`assignment_bundle`, sent once per worker). The worker rebuilds the source in a private folder,
  runs the unit in a scratch output folder, and returns what the unit wrote (:func:`run_job`); the client
  stores it under ``OUT/`` exactly where a local run would (:func:`store_outcome`), then writes the
  reports. Dask only schedules: the sandbox is on in every worker, as it is locally.

A worker that dies mid-task has its task re-run by the scheduler on another worker; the client keeps one
result per student (the first to arrive, results are keyed by student id), so nothing is counted twice.
A submission that keeps killing workers (``distributed.scheduler.allowed-failures``) becomes a ``failed``
row with that reason, never a missing one.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing.util  # noqa: F401 (api._init_worker registers a finalizer through it)
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autograder import api, reports
from autograder.collect import Submission
from autograder.errors import UsageError
from autograder.pipeline import fingerprint
from autograder.results import LmsIdentity, Status, SubmissionResult
from autograder.source import Assignment, load_assignment

MAX_BUNDLE_BYTES = 64 * 1024**2  # an assignment folder is a notebook and a toml; more is a mistake
BUNDLE_SKIP = (".ipynb_checkpoints", "__pycache__", "feedback", ".git")

# Per-process state of a Dask worker: one materialised source per bundle digest, one grading thread.
_REMOTE: dict[str, Any] = {}
_REMOTE_LOCK = threading.Lock()


def assignment_bundle(assignment: Assignment, *, root: Path) -> dict[str, bytes]:
    """The files a worker needs to load ``assignment`` as this machine does.

    Args:
        assignment: the loaded assignment (its folder is read).
        root: the course root (its ``nbgrader_config.py`` shapes the master notebook).

    Returns:
        Relative path -> bytes: ``solutions/<name>/...`` and ``nbgrader_config.py`` when present.

    Raises:
        UsageError: the folder holds more than :data:`MAX_BUNDLE_BYTES`.
    """
    files: dict[str, bytes] = {}
    for path in sorted(assignment.folder.rglob("*")):
        relative = path.relative_to(assignment.folder)
        if path.is_file() and not any(part in BUNDLE_SKIP for part in relative.parts):
            files[f"solutions/{assignment.name}/{relative.as_posix()}"] = path.read_bytes()
    config = root / "nbgrader_config.py"
    if config.is_file():
        files["nbgrader_config.py"] = config.read_bytes()
    size = sum(len(b) for b in files.values())
    if size > MAX_BUNDLE_BYTES:
        raise UsageError(
            f"{assignment.folder} holds {size / 1024**2:.0f} MB; a worker is sent the whole folder, so keep "
            f"data out of it (at most {MAX_BUNDLE_BYTES // 1024**2} MB)."
        )
    return files


def bundle_digest(bundle: dict[str, bytes]) -> str:
    """A digest naming a bundle's content (workers cache one source folder per digest)."""
    digest = hashlib.sha256()
    for name in sorted(bundle):
        digest.update(name.encode() + b"\0" + hashlib.sha256(bundle[name]).digest())
    return digest.hexdigest()


def job_from_submission(sub: Submission) -> dict[str, Any]:
    """Everything about one submission a remote worker needs, as plain values (the notebook as bytes)."""
    notebook = sub.notebook.read_bytes() if sub.notebook is not None and sub.notebook.is_file() else None
    return {
        "student_id": sub.student_id,
        "notebook_name": sub.notebook.name if sub.notebook is not None else None,
        "notebook": notebook,
        "problem": sub.problem,
        "lms": sub.lms.__dict__ if sub.lms else None,
        "notes": list(sub.notes),
    }


def submission_from_job(job: dict[str, Any], folder: Path) -> Submission:
    """Write a job's notebook under ``folder`` and describe it as :func:`collect` would have."""
    notebook = None
    if job.get("notebook") is not None:
        notebook = folder / job["student_id"] / (job.get("notebook_name") or "submission.ipynb")
        notebook.parent.mkdir(parents=True, exist_ok=True)
        notebook.write_bytes(job["notebook"])
    lms = job.get("lms")
    return Submission(
        student_id=job["student_id"],
        notebook=notebook,
        problem=job.get("problem", ""),
        lms=LmsIdentity(**lms) if lms else None,
        notes=tuple(job.get("notes", ())),
    )


def read_outcome(out: Path, assignment: str, student_id: str) -> dict[str, Any]:
    """What the unit wrote for one student under ``out``: result dict, feedback html, executed notebook."""
    feedback, executed, state = api._student_paths(out, assignment, student_id)
    return {
        "result": json.loads(state.read_text(encoding="utf-8")),
        "feedback": feedback.read_text(encoding="utf-8"),
        "executed": executed.read_text(encoding="utf-8") if executed.is_file() else None,
    }


def store_outcome(out: Path, assignment: str, outcome: dict[str, Any]) -> SubmissionResult:
    """Write an outcome under ``out`` where the local pool writes it (the state file last, atomically)."""
    result = SubmissionResult.from_dict(outcome["result"])
    feedback, executed, state = api._student_paths(out, assignment, result.student_id)
    reports.write_atomic(feedback, outcome["feedback"])
    if outcome.get("executed") is not None:
        reports.write_atomic(executed, outcome["executed"])
    reports.write_atomic(state, json.dumps(result.to_dict(), indent=1, sort_keys=True))
    return result


def _grading_thread() -> concurrent.futures.ThreadPoolExecutor:
    # One long-lived thread per worker process grades: sandboxes die with the thread that started them
    # (PR_SET_PDEATHSIG), so the warm spare must be started by a thread that outlives the task, and the
    # unit's per-process state (one spare) is not shared by two tasks at once.
    if "thread" not in _REMOTE:
        _REMOTE["thread"] = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="autograder")
    return _REMOTE["thread"]


def _prepare(bundle: dict[str, bytes], timeout: float | None, sandbox_mode: str) -> Path:
    """Materialise the source once per bundle and set up this process as a grading worker; the scratch out."""
    key = (bundle_digest(bundle), timeout, sandbox_mode)
    if _REMOTE.get("key") != key:
        api._close_spare()
        old = _REMOTE.pop("root", None)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        root = Path(tempfile.mkdtemp(prefix="autograder-worker-"))
        for name, data in bundle.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        folder = root / "solutions" / Path(next(n for n in bundle if n.startswith("solutions/"))).parts[1]
        api._init_worker(str(folder), str(root), timeout, str(root / "out"), sandbox_mode)
        _REMOTE.update(key=key, root=root)
    return _REMOTE["root"] / "out"


def _run_here(bundle: dict[str, bytes], job: dict[str, Any], timeout: float | None, mode: str) -> dict:
    out = _prepare(bundle, timeout, mode)
    name = api._WORKER["assignment"].name
    with tempfile.TemporaryDirectory(prefix="autograder-job-") as tmp:
        sub = submission_from_job(job, Path(tmp))
        api._grade_job(sub)
    outcome = read_outcome(out, name, job["student_id"])
    for path in api._student_paths(out, name, job["student_id"]):
        path.unlink(missing_ok=True)
    return outcome


def run_job(
    bundle: dict[str, bytes],
    job: dict[str, Any],
    *,
    timeout: float | None = None,
    sandbox_mode: str = "strict",
) -> dict[str, Any]:
    """Grade one job on this (remote) machine with the unit of work; the Dask task.

    Args:
        bundle: the assignment's files (:func:`assignment_bundle`).
        job: the submission (:func:`job_from_submission`).
        timeout: seconds per submission, as given to ``grade``.
        sandbox_mode: ``strict`` or ``warn``, as given to ``grade``.

    Returns:
        ``{"result": dict, "feedback": html, "executed": notebook text or None, "worker": address}``.
    """
    from distributed import get_worker

    with _REMOTE_LOCK:
        pool = _grading_thread()
    outcome = pool.submit(_run_here, bundle, job, timeout, sandbox_mode).result()
    try:
        outcome["worker"] = get_worker().address
    except ValueError:  # called outside a Dask worker
        outcome["worker"] = os.uname().nodename
    return outcome


def grade_one(
    assignment: str | Path,
    notebook: str | Path,
    *,
    out: str | Path,
    student: str | None = None,
    meta: str | Path | None = None,
    timeout: float | None = None,
    root: str | Path | None = None,
    sandbox_mode: str = "strict",
) -> SubmissionResult:
    """Grade a single notebook with the unit of work and write its files under ``out``.

    Writes what a batch writes for this student: ``OUT/.state/<id>.json``, ``OUT/feedback/<id>/`` and
    ``OUT/autograded/<id>/`` (no reports: many of these are gathered by ``autograder collect``).

    Args:
        assignment: the assignment's name (under ``ROOT/solutions``) or its source folder.
        notebook: the student's notebook.
        out: output folder (created).
        student: the student id (default: the notebook's parent folder name).
        meta: a job file written by ``autograder k8s`` (student id, LMS identity, notes, and the problem
            found when the submission was collected); it overrides ``student``.
        timeout: wall-clock seconds per submission, overriding ``autograder.toml``.
        root: the course root (default: current directory).
        sandbox_mode: ``strict`` or ``warn`` (see :mod:`autograder.sandbox`).

    Returns:
        The result (graded, or failed with its reason).

    Raises:
        UsageError: bad arguments, missing assignment or notebook, unusable sandbox in strict mode.
    """
    if timeout is not None and timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds.")
    api._isolation(sandbox_mode)
    root_path = Path.cwd() if root is None else Path(root)
    loaded = load_assignment(assignment, root=root_path)
    path = Path(notebook)
    if meta is not None:
        try:
            job = json.loads(Path(meta).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UsageError(f"cannot read the job file {meta}: {error}") from None
    else:
        job = {"student_id": student or path.resolve().parent.name, "problem": "", "lms": None, "notes": []}
    if not job.get("problem") and not path.is_file():
        raise UsageError(f"notebook not found: {path}")
    lms = job.get("lms")
    sub = Submission(
        student_id=job["student_id"],
        notebook=path if path.is_file() else None,
        problem=job.get("problem", ""),
        lms=LmsIdentity(**lms) if lms else None,
        notes=tuple(job.get("notes", ())),
    )
    out_path = Path(out).resolve()
    if out_path == loaded.folder or loaded.folder in out_path.parents:
        raise UsageError(f"--out {out_path} is inside the assignment's source folder; choose another folder.")
    api._init_worker(str(loaded.folder), str(root_path), timeout, str(out_path), sandbox_mode)
    api._WORKER["keep_warm"] = False
    try:
        return SubmissionResult.from_dict(api._grade_job(sub))
    finally:
        api._close_spare()
        api._WORKER.clear()


def _failed(sub: Submission, assignment: Assignment, reason: str) -> dict[str, Any]:
    from autograder.steps.feedback import render_failure

    result = SubmissionResult(
        sub.student_id, Status.FAILED, reason=reason, lms=sub.lms, fingerprint=fingerprint(sub, assignment)
    )
    return {"result": result.to_dict(), "feedback": render_failure(result, assignment=assignment.name)}


def grade_dask(
    assignment: str | Path,
    submissions: str | Path,
    *,
    out: str | Path,
    scheduler: str | None = None,
    local_workers: int = 2,
    timeout: float | None = None,
    force: bool = False,
    root: str | Path | None = None,
    sandbox_mode: str = "strict",
    on_start: Callable[[int, int], None] | None = None,
    on_result: api.ProgressCallback | None = None,
    students: tuple[str, ...] | None = None,
) -> reports.GradeReport:
    """Grade every submission on a Dask cluster; the same ``OUT/`` as :func:`autograder.api.grade`.

    Args:
        assignment: the assignment's name (under ``ROOT/solutions``) or its source folder.
        submissions: a folder of student folders, or a Canvas download (zip or folder).
        out: output folder (created).
        scheduler: the scheduler's address (``tcp://HOST:PORT``); None starts a local cluster of
            ``local_workers`` single-threaded worker processes for this run.
        local_workers: workers of the local cluster (ignored with ``scheduler``).
        timeout, force, root, sandbox_mode, on_start, on_result, students: as in
            :func:`autograder.api.grade`.

    Returns:
        The run's report.

    Raises:
        UsageError: bad arguments, missing assignment or submissions, unreachable scheduler.
    """
    from distributed import Client, LocalCluster

    if timeout is not None and timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds.")
    api._isolation(sandbox_mode)  # the client's machine too: a broken sandbox is found before sending
    root_path, loaded, out_path, subs, plan = api._prepare(
        assignment, submissions, out=out, timeout=timeout, force=force, root=root, on_start=on_start,
        on_result=on_result, students=students,
    )  # fmt: skip
    results = dict(plan.done)
    if plan.todo:
        bundle = assignment_bundle(loaded, root=root_path)
        cluster = None
        try:
            if scheduler is None:
                cluster = LocalCluster(
                    n_workers=local_workers, threads_per_worker=1, processes=True, dashboard_address=None
                )
            client = Client(cluster if cluster is not None else scheduler, timeout=30)
        except OSError as error:
            if cluster is not None:
                cluster.close()
            raise UsageError(f"cannot reach the Dask scheduler {scheduler}: {error}") from None
        try:
            results.update(
                _dask_batch(client, bundle, loaded, plan.todo, out_path, timeout, sandbox_mode, on_result)
            )
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    ordered = tuple(results[s.student_id] for s in subs if s.student_id in results)
    final = api.write_reports(out_path, loaded, ordered)
    return reports.GradeReport(loaded.name, out_path, final, tuple(s.student_id for s in plan.todo))


def _same(value: Any) -> Any:
    return value


def _dask_batch(
    client: Any,
    bundle: dict[str, bytes],
    loaded: Assignment,
    todo: list[Submission],
    out: Path,
    timeout: float | None,
    sandbox_mode: str,
    on_result: api.ProgressCallback | None,
) -> dict[str, SubmissionResult]:
    from distributed import as_completed

    digest = bundle_digest(bundle)[:12]
    # A task rather than scattered data: if the worker holding it dies, the scheduler recomputes it.
    bundle_future = client.submit(_same, bundle, key=f"autograder-bundle-{digest}", pure=False)
    by_key: dict[str, Submission] = {}
    futures = []
    for sub in todo:
        key = f"autograder-{loaded.name}-{digest}-{sub.student_id}"
        by_key[key] = sub
        futures.append(
            client.submit(
                run_job, bundle_future, job_from_submission(sub), timeout=timeout,
                sandbox_mode=sandbox_mode, key=key, pure=False, retries=0,
            )
        )  # fmt: skip
    results: dict[str, SubmissionResult] = {}
    for future in as_completed(futures):
        sub = by_key[future.key]
        if sub.student_id in results:
            continue
        try:
            outcome = future.result()
        except Exception as error:  # KilledWorker, or what the task raised remotely: a failed row
            outcome = _failed(
                sub, loaded, f"the Dask worker grading it failed: {type(error).__name__}: {str(error)[:300]}"
            )
        expected = fingerprint(sub, loaded)
        if outcome["result"].get("fingerprint") != expected:
            outcome = _failed(
                sub, loaded, "the worker graded a different source or settings (fingerprint mismatch): "
                "are the workers running the same autograder version?",
            )  # fmt: skip
        result = store_outcome(out, loaded.name, outcome)
        results[result.student_id] = result
        if on_result:
            on_result(result, False)
        future.release()
    return results
