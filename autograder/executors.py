"""Who runs the unit of work: this machine's pool, a Dask cluster, or one Kubernetes pod per submission.

The unit is :meth:`autograder.worker.GradingWorker.grade`: it grades one submission in the sandbox and
stores its :class:`~autograder.store.Outcome` (``.state/<id>.json``, ``feedback/`` and ``autograded/``)
under an output folder. Every executor runs exactly that method, so a grade does not depend on who ran it:

* :func:`grade_one` runs it once for one notebook (``autograder grade-one``; what a pod runs);
* :func:`grade_dask` sends each submission to a Dask worker as bytes (no shared filesystem): a *job* (the
  notebook and who it belongs to, :func:`job_from_submission`) plus the assignment's source files
  (:func:`assignment_bundle`, sent once per worker). The worker rebuilds the source in a private folder,
  grades in a scratch output folder, and returns the outcome (:func:`run_job`); the client stores it
  under ``OUT/`` exactly where a local run would (:meth:`~autograder.store.OutputStore.save`), then writes
  the reports. An assignment of several notebooks is graded notebook by notebook, as locally
  (:func:`autograder.api.grade_each_notebook`). Dask only schedules: the sandbox is on in every worker,
  as it is locally, with the thread budget of the worker processes sharing its machine.

A worker that dies mid-task has its task re-run by the scheduler on another worker; the client keeps one
result per student (the first to arrive, results are keyed by student id), so nothing is counted twice.
A submission that keeps killing workers (``distributed.scheduler.allowed-failures``) becomes a ``failed``
row with that reason, never a missing one.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from autograder import api, reports
from autograder.collect import Submission
from autograder.errors import UsageError
from autograder.pipeline import fingerprint
from autograder.results import LmsIdentity, Status, SubmissionResult
from autograder.source import Assignment, load_assignment
from autograder.steps.feedback import render_failure
from autograder.store import Outcome, OutputStore
from autograder.worker import GradingWorker, SandboxMode, WorkerSettings, bind_to_process, check_isolation

MAX_BUNDLE_BYTES = 64 * 1024**2  # an assignment folder is a notebook and a toml; more is a mistake
BUNDLE_SKIP = (".ipynb_checkpoints", "__pycache__", "feedback", ".git")

# Per-process state of a Dask worker: one grading thread, and one worker over a materialised source.
_REMOTE: dict[str, Any] = {}
_REMOTE_LOCK = threading.Lock()


def assignment_bundle(assignment: Assignment, *, root: Path) -> dict[str, bytes]:
    """The files a worker needs to load ``assignment`` as this machine does.

    Args:
        assignment: the loaded assignment (its folder is read).
        root: the course root (its ``nbgrader_config.py`` shapes the master notebook).

    Returns:
        Relative path -> bytes: ``solutions/<folder>/...`` and ``nbgrader_config.py`` when present.

    Raises:
        UsageError: the folder holds more than :data:`MAX_BUNDLE_BYTES`.
    """
    files: dict[str, bytes] = {}
    for path in sorted(assignment.folder.rglob("*")):
        relative = path.relative_to(assignment.folder)
        if path.is_file() and not any(part in BUNDLE_SKIP for part in relative.parts):
            files[f"solutions/{assignment.folder.name}/{relative.as_posix()}"] = path.read_bytes()
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


def _grading_thread() -> concurrent.futures.ThreadPoolExecutor:
    # One long-lived thread per worker process grades: sandboxes die with the thread that started them
    # (PR_SET_PDEATHSIG), so the warm spare must be started by a thread that outlives the task, and the
    # unit's per-process state (one spare) is not shared by two tasks at once.
    if "thread" not in _REMOTE:
        _REMOTE["thread"] = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="autograder")
    return _REMOTE["thread"]


def _worker_for(bundle: dict[str, bytes], settings: dict[str, Any]) -> GradingWorker:
    """This process's worker for ``bundle`` graded with ``settings``: built once, kept while they hold."""
    key = (bundle_digest(bundle), *sorted(settings.items()))
    if _REMOTE.get("key") != key:
        old = _REMOTE.pop("worker", None)
        if old is not None:
            old.close()
            shutil.rmtree(_REMOTE.pop("root"), ignore_errors=True)
        root = Path(tempfile.mkdtemp(prefix="autograder-worker-"))
        for name, data in bundle.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        folder = root / "solutions" / Path(next(n for n in bundle if n.startswith("solutions/"))).parts[1]
        worker = GradingWorker.load(WorkerSettings(folder=folder, root=root, out=root / "out", **settings))
        _REMOTE.update(key=key, root=root, worker=bind_to_process(worker))
    return _REMOTE["worker"]


def _run_here(bundle: dict[str, bytes], job: dict[str, Any], settings: dict[str, Any]) -> Outcome:
    worker = _worker_for(bundle, settings)
    with tempfile.TemporaryDirectory(prefix="autograder-job-") as tmp:
        outcome = worker.grade(submission_from_job(job, Path(tmp)))
    worker.store.discard(job["student_id"])  # the client stores it; this scratch folder keeps nothing
    return outcome


def run_job(
    bundle: dict[str, bytes],
    job: dict[str, Any],
    *,
    notebook: str | None = None,
    timeout: float | None = None,
    sandbox_mode: str = SandboxMode.STRICT,
    workers_per_host: int = 1,
) -> Outcome:
    """Grade one job on this (remote) machine with a grading worker; the Dask task.

    Args:
        bundle: the assignment's files (:func:`assignment_bundle`).
        job: the submission (:func:`job_from_submission`).
        notebook: which of the assignment's notebooks (None: the only one).
        timeout: seconds per submission, as given to ``grade``.
        sandbox_mode: ``strict`` or ``warn``, as given to ``grade``.
        workers_per_host: grading processes sharing this machine's cores (the thread budget's divisor).

    Returns:
        The outcome, with the worker's address.
    """
    from distributed import get_worker

    settings = {
        "notebook": notebook, "timeout": timeout, "sandbox_mode": str(sandbox_mode),
        "threads": api.thread_budget(workers_per_host),
    }  # fmt: skip
    with _REMOTE_LOCK:
        pool = _grading_thread()
    outcome = pool.submit(_run_here, bundle, job, settings).result()
    try:
        where = get_worker().address
    except ValueError:  # called outside a Dask worker
        where = os.uname().nodename
    return replace(outcome, worker=where)


def grade_one(
    assignment: str | Path,
    notebook: str | Path,
    *,
    out: str | Path,
    student: str | None = None,
    meta: str | Path | None = None,
    source_notebook: str | None = None,
    timeout: float | None = None,
    root: str | Path | None = None,
    sandbox_mode: str = SandboxMode.STRICT,
) -> SubmissionResult:
    """Grade a single notebook with a grading worker and write its files under ``out``.

    Writes what a batch writes for this student: ``OUT/.state/<id>.json``, ``OUT/feedback/<id>/`` and
    ``OUT/autograded/<id>/`` (no reports: many of these are gathered by ``autograder collect``).

    Args:
        assignment: the assignment's name (under ``ROOT/solutions``) or its source folder.
        notebook: the student's notebook.
        out: output folder (created).
        student: the student id (default: the notebook's parent folder name).
        meta: a job file written by ``autograder k8s`` (student id, LMS identity, notes, the problem
            found when the submission was collected, and which notebook of the assignment it is); it
            overrides ``student``.
        source_notebook: which of the assignment's notebooks ``notebook`` answers (its name without
            ``.ipynb``; None: the job file's, else the assignment's only one).
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
    isolation = check_isolation(sandbox_mode)
    root_path = Path.cwd() if root is None else Path(root)
    path = Path(notebook)
    if meta is not None:
        try:
            job = json.loads(Path(meta).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UsageError(f"cannot read the job file {meta}: {error}") from None
    else:
        job = {"student_id": student or path.resolve().parent.name, "problem": "", "lms": None, "notes": []}
    chosen = source_notebook or job.get("source_notebook")
    loaded = load_assignment(assignment, root=root_path, notebook=chosen).with_timeout(timeout)
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
    store = OutputStore(out_path, loaded.name)
    worker = GradingWorker(loaded, store, isolation=isolation, threads=api.thread_budget(1), keep_warm=False)
    with bind_to_process(worker):
        return worker.grade(sub).result


def _failed(sub: Submission, assignment: Assignment, reason: str) -> Outcome:
    result = SubmissionResult(
        sub.student_id, Status.FAILED, reason=reason, lms=sub.lms, fingerprint=fingerprint(sub, assignment)
    )
    return Outcome(result, render_failure(result, assignment=assignment.name))


class _Cluster:
    """The Dask client of a run, connected when the first notebook has students to grade."""

    def __init__(self, scheduler: str | None, local_workers: int) -> None:
        self.scheduler = scheduler
        self.local_workers = local_workers
        self.cluster: Any = None
        self.client: Any = None

    def connect(self) -> Any:
        """The client (connecting, and starting a local cluster without a scheduler, on first use).

        Raises:
            UsageError: the scheduler cannot be reached.
        """
        from distributed import Client, LocalCluster

        if self.client is None:
            try:
                if self.scheduler is None:
                    self.cluster = LocalCluster(
                        n_workers=self.local_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                    )
                self.client = Client(self.cluster if self.cluster is not None else self.scheduler, timeout=30)
            except OSError as error:
                self.close()
                raise UsageError(f"cannot reach the Dask scheduler {self.scheduler}: {error}") from None
        return self.client

    def workers_per_host(self) -> int:
        """The most worker processes any machine of the cluster runs (they share its cores)."""
        hosts = [w.get("host", "") for w in self.connect().scheduler_info().get("workers", {}).values()]
        return max((hosts.count(h) for h in hosts), default=1)

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this run started one."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def grade_dask(
    assignment: str | Path,
    submissions: str | Path,
    *,
    out: str | Path,
    scheduler: str | None = None,
    local_workers: int = api.DEFAULT_WORKERS,
    timeout: float | None = None,
    force: bool = False,
    root: str | Path | None = None,
    sandbox_mode: str = SandboxMode.STRICT,
    on_start: Callable[[int, int], None] | None = None,
    on_result: api.ProgressCallback | None = None,
    students: tuple[str, ...] | None = None,
) -> reports.GradeReport:
    """Grade every submission on a Dask cluster; the same ``OUT/`` as :func:`autograder.api.grade`.

    Args:
        assignment: the assignment's name (under ``ROOT/solutions`` or the course's nbgrader source
            folder) or its source folder; an assignment of several notebooks is graded into
            ``OUT/<notebook>/`` with the sums in ``OUT``, as by :func:`autograder.api.grade`.
        submissions: a folder of student folders, nbgrader's ``submitted/``, or a Canvas download.
        out: output folder (created).
        scheduler: the scheduler's address (``tcp://HOST:PORT``); None starts a local cluster of
            ``local_workers`` single-threaded worker processes for this run.
        local_workers: workers of the local cluster (ignored with ``scheduler``); the CLI's ``--workers``.
        timeout, force, root, sandbox_mode, on_start, on_result, students: as in
            :func:`autograder.api.grade`.

    Returns:
        The run's report.

    Raises:
        UsageError: bad arguments, missing assignment or submissions, unreachable scheduler.
    """
    if local_workers < 1:
        raise UsageError("--workers must be at least 1.")
    if timeout is not None and timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds.")
    check_isolation(sandbox_mode)  # the client's machine too: a broken sandbox is found before sending
    cluster = _Cluster(scheduler, local_workers)

    def grade_todo(batch: api.Batch, arrived: api.ProgressCallback) -> dict[str, SubmissionResult]:
        return _dask_batch(cluster, batch, timeout, arrived)

    try:
        return api.grade_each_notebook(
            assignment, submissions, out=out, timeout=timeout, force=force, root=root,
            sandbox_mode=sandbox_mode, on_start=on_start, on_result=on_result, students=students,
            grade_todo=grade_todo,
        )  # fmt: skip
    finally:
        cluster.close()


def _same(value: Any) -> Any:
    return value


def _dask_batch(
    cluster: _Cluster, batch: api.Batch, timeout: float | None, on_result: api.ProgressCallback | None
) -> dict[str, SubmissionResult]:
    """Grade one notebook's students still to grade on the cluster; store each outcome as it arrives."""
    from distributed import as_completed

    loaded = batch.assignment
    bundle = assignment_bundle(loaded, root=batch.root)
    client = cluster.connect()
    share = cluster.workers_per_host() if cluster.scheduler is not None else cluster.local_workers
    digest = bundle_digest(bundle)[:12]
    # A task rather than scattered data: if the worker holding it dies, the scheduler recomputes it.
    bundle_future = client.submit(_same, bundle, key=f"autograder-bundle-{digest}", pure=False)
    by_key: dict[str, Submission] = {}
    futures = []
    for sub in batch.plan.todo:
        key = f"autograder-{loaded.name}-{digest}-{sub.student_id}"
        by_key[key] = sub
        futures.append(
            client.submit(
                run_job, bundle_future, job_from_submission(sub), notebook=loaded.name, timeout=timeout,
                sandbox_mode=batch.sandbox_mode, workers_per_host=share, key=key, pure=False, retries=0,
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
        if outcome.result.fingerprint != fingerprint(sub, loaded):
            outcome = _failed(
                sub, loaded, "the worker graded a different source or settings (fingerprint mismatch): "
                "are the workers running the same autograder version?",
            )  # fmt: skip
        result = batch.store.save(outcome)
        results[result.student_id] = result
        if on_result:
            on_result(result, False)
        future.release()
    return results
