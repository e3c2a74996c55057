"""The Python API: keyword-only functions that hold every default once; the CLI only forwards to them.

``grade`` collects submissions, skips those an earlier run finished (same fingerprint, unless ``force``),
grades the rest ``workers`` at a time (each in its own sandboxed process, a warm one started while the
previous submission's feedback is written), stores each student's result atomically as soon as it is
known, then writes ``grades.csv``, ``results.json`` and the gradebook from all stored results. A run killed
at any point loses nothing that was finished and duplicates nothing on the next run.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import course, gradebook, outputs, reports, sandbox
from autograder.collect import Submission, collect
from autograder.errors import UsageError
from autograder.pipeline import grade_submission
from autograder.reports import log_grader_error
from autograder.results import Status, SubmissionResult
from autograder.similarity import DEFAULT_THRESHOLD, SimilarityReport
from autograder.similarity import similarity as compare_answers
from autograder.source import Assignment, CellRole, load_assignment, resolve_folder
from autograder.steps.feedback import write_assets
from autograder.store import OutputStore, Plan, stored_results
from autograder.worker import (
    GradingWorker,
    SandboxMode,
    WorkerSettings,
    check_isolation,
    grade_in_process,
    grader_failure,
    start_process_worker,
)

DEFAULT_WORKERS = 1  # submissions graded at once, by the local pool or a local Dask cluster
ProgressCallback = Callable[[SubmissionResult, bool], None]


def thread_budget(workers: int) -> int:
    """Threads each worker's sandboxes may use so that ``workers`` of them share this machine's cores."""
    return max(1, len(os.sched_getaffinity(0)) // workers)


def fit_workers(workers: int, limits: sandbox.Limits, available: int | None) -> tuple[int, str]:
    """How many workers fit in ``available`` bytes of memory, each holding two sandboxes at their caps.

    Returns:
        The workers to start (at most ``workers``) and a one-line notice when fewer than asked.

    Raises:
        UsageError: not even one worker fits (the kernel's OOM killer would choose what dies).
    """
    per_worker = limits.worker_resident_bytes
    if available is None or workers * per_worker <= available:
        return workers, ""
    gib = 1024**3
    caps = f"{limits.resident_cap / gib:g} + {limits.for_role('verifier').resident_cap / gib:g} GiB"
    fit = available // per_worker
    if fit < 1:
        raise UsageError(
            f"not enough memory to grade: one worker's sandboxes may hold {caps} (the notebook's and the "
            f"tests' resident caps) and {available / gib:.1f} GiB is available; free memory, or lower "
            "resident_gb / verifier_resident_gb in autograder.toml to the measured peaks."
        )
    return fit, (
        f"note: grading with {fit} worker(s), not {workers}: each may hold {caps} (resident caps) and "
        f"{available / gib:.1f} GiB of memory is available"
    )


@dataclass(frozen=True)
class Batch:
    """One notebook's run, planned: what every executor grades (:func:`grade_each_notebook`).

    Attributes:
        root: the course root.
        assignment: the notebook's assignment (the run's timeout applied).
        store: its output store (``OUT``, or ``OUT/<notebook>`` for a several-notebook assignment).
        submissions: every collected submission, in report order.
        plan: who is graded now and whose stored result is kept.
        sandbox_mode: ``strict`` or ``warn``.
    """

    root: Path
    assignment: Assignment
    store: OutputStore
    submissions: list[Submission]
    plan: Plan
    sandbox_mode: str


# An executor: grades a batch's students still to grade, calling back with each result as it arrives.
GradeTodo = Callable[[Batch, ProgressCallback], dict[str, SubmissionResult]]


def prepare(
    assignment: str | Path,
    submissions: str | Path,
    *,
    out: str | Path,
    timeout: float | None,
    force: bool,
    root: Path,
    sandbox_mode: str,
    on_start: Callable[[int, int], None] | None,
    on_result: ProgressCallback | None,
    students: tuple[str, ...] | None = None,
    notebook: str | None = None,
    within: str | None = None,
) -> Batch:
    """What every executor does first: load the source, collect, and plan (reporting reused results).

    ``notebook`` picks one of a several-notebook assignment's notebooks; ``within`` is the assignment's
    folder inside each student's folder (nbgrader's ``submitted/<student>/<assignment>/`` layout).
    """
    loaded = load_assignment(assignment, root=root, notebook=notebook).with_timeout(timeout)
    out_path = Path(out).resolve()
    if out_path == loaded.folder or loaded.folder in out_path.parents:
        raise UsageError(f"--out {out_path} is inside the assignment's source folder; choose another folder.")
    out_path.mkdir(parents=True, exist_ok=True)
    store = OutputStore(out_path, loaded.name)
    subs = collect(
        Path(submissions),
        loaded.name,
        staging=store.incoming,
        max_bytes=loaded.config.max_notebook_bytes,
        grade_ids=frozenset(s.grade_id for s in loaded.specs),
        within=within,
    )
    if students is not None:
        unknown = sorted(set(students) - {s.student_id for s in subs})
        if unknown:
            raise UsageError(
                f"--students: no submission for {', '.join(unknown)} in {submissions}; "
                "the ids are the folder names (or Canvas user ids) in grades.csv."
            )
    plan = store.plan(subs, loaded, force=force, students=None if students is None else frozenset(students))
    if on_start:
        on_start(len(plan.todo), len(plan.done))
    if on_result:
        for result in plan.done.values():
            on_result(result, True)
    return Batch(root, loaded, store, subs, plan, sandbox_mode)


def grade_each_notebook(
    assignment: str | Path,
    submissions: str | Path,
    *,
    out: str | Path,
    timeout: float | None,
    force: bool,
    root: str | Path | None,
    sandbox_mode: str,
    on_start: Callable[[int, int], None] | None,
    on_result: ProgressCallback | None,
    students: tuple[str, ...] | None,
    grade_todo: GradeTodo,
) -> reports.GradeReport:
    """Grade an assignment notebook by notebook with ``grade_todo`` (an executor), then write the reports.

    Each notebook is planned (:func:`prepare`), its students still to grade are handed to ``grade_todo``
    (which returns their results by student id, calling ``on_result`` as they arrive), and its reports
    are written; an assignment of several notebooks then gets ``OUT/grades.csv`` and ``results.json``
    summed over them (:func:`autograder.course.write_reports`). The arguments are :func:`grade`'s.
    """
    root_path = Path.cwd() if root is None else Path(root)
    notebooks, within = course.layout(assignment, Path(submissions), root=root_path)
    out_path = Path(out).resolve()
    name_of_assignment = resolve_folder(assignment, root=root_path).name
    parts, max_scores = {}, {}
    for name in notebooks:
        if len(notebooks) > 1:  # one gradebook for the whole assignment, as nbgrader keeps it
            gradebook.join(out_path / name, name_of_assignment)
        batch = prepare(
            assignment, submissions, out=out_path / name if len(notebooks) > 1 else out_path, timeout=timeout,
            force=force, root=root_path, sandbox_mode=sandbox_mode, on_start=on_start, on_result=on_result,
            students=students, notebook=name, within=within,
        )  # fmt: skip
        results = dict(batch.plan.done)
        # Each result goes into the gradebook as it arrives, while the workers grade the next students.
        recorder = gradebook.Recorder(batch.store.out, batch.assignment)

        def arrived(result: SubmissionResult, kept: bool, recorder: gradebook.Recorder = recorder) -> None:
            with contextlib.suppress(Exception):  # a gradebook that cannot open fails the reports, as before
                recorder.add(result)
            if on_result:
                on_result(result, kept)

        if batch.plan.todo:
            results.update(grade_todo(batch, arrived))
        ordered = tuple(results[s.student_id] for s in batch.submissions if s.student_id in results)
        final = write_reports(batch.store.out, batch.assignment, ordered, recorder=recorder)
        regraded = tuple(s.student_id for s in batch.plan.todo)
        parts[name] = reports.GradeReport(batch.assignment.name, batch.store.out, final, regraded)
        max_scores[name] = points_possible(batch.assignment)
    if len(notebooks) == 1:
        return parts[notebooks[0]]
    return course.write_reports(out_path, name_of_assignment, parts, max_scores)


def points_possible(assignment: Assignment) -> float:
    """The points a notebook's tests are worth (what a student who did not submit it loses)."""
    return sum(spec.points for spec in assignment.specs if spec.role is CellRole.TEST)


def grade(
    assignment: str | Path,
    submissions: str | Path,
    *,
    out: str | Path,
    workers: int = DEFAULT_WORKERS,
    timeout: float | None = None,
    force: bool = False,
    root: str | Path | None = None,
    sandbox_mode: str = SandboxMode.STRICT,
    on_start: Callable[[int, int], None] | None = None,
    on_result: ProgressCallback | None = None,
    students: tuple[str, ...] | None = None,
) -> reports.GradeReport:
    """Grade every submission of an assignment.

    Args:
        assignment: the assignment's name (under ``ROOT/solutions`` or the course's nbgrader source
            folder, ``source/``) or its source folder.
        submissions: a folder of student folders, nbgrader's ``submitted/`` folder, or a Canvas download
            (zip or folder).
        out: output folder (created): grades.csv, results.json, feedback/, gradebook.db. An assignment of
            several notebooks gets one such folder per notebook (``OUT/<notebook>/``) and, in ``OUT``,
            ``grades.csv`` and ``results.json`` summed over its notebooks (see :mod:`autograder.course`).
        workers: submissions graded at once; results do not depend on it.
        timeout: wall-clock seconds per submission, overriding ``autograder.toml`` (cells are capped too).
        force: re-grade students an earlier run already finished.
        root: the course root (default: current directory).
        sandbox_mode: ``strict`` refuses to grade where student code cannot be isolated; ``warn`` grades
            anyway with a loud warning (see :mod:`autograder.sandbox`).
        on_start: called once with ``(to_grade, already_done)`` before grading starts.
        on_result: called with ``(result, reused)`` for every student, as results arrive.
        students: grade these students again (after a fixed test, a late upload) and keep everyone
            else's stored result; ``None`` grades everyone not finished before.

    Returns:
        The run's report (its ``exit_status`` is the CLI's exit code).

    Raises:
        UsageError: bad arguments, missing assignment or submissions, invalid configuration.
    """
    if workers < 1:
        raise UsageError("--workers must be at least 1.")
    if timeout is not None and timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds.")
    isolation = check_isolation(sandbox_mode)
    sandbox.sweep()  # working folders and cgroups a killed grader left behind

    def grade_todo(batch: Batch, arrived: ProgressCallback) -> dict[str, SubmissionResult]:
        return _grade_locally(batch, workers=workers, timeout=timeout, isolation=isolation, on_result=arrived)

    return grade_each_notebook(
        assignment, submissions, out=out, timeout=timeout, force=force, root=root, sandbox_mode=sandbox_mode,
        on_start=on_start, on_result=on_result, students=students, grade_todo=grade_todo,
    )  # fmt: skip


def _grade_locally(
    batch: Batch,
    *,
    workers: int,
    timeout: float | None,
    isolation: sandbox.Isolation,
    on_result: ProgressCallback | None,
) -> dict[str, SubmissionResult]:
    """Grade a batch's students on this machine: in this process, or a pool of ``workers`` processes."""
    todo, loaded, store = batch.plan.todo, batch.assignment, batch.store
    workers, notice = fit_workers(
        min(workers, len(todo)), loaded.config.limits, sandbox.cgroups.available_memory()
    )
    if notice:
        print(notice, file=sys.stderr)
    results: dict[str, SubmissionResult] = {}
    if workers == 1 or len(todo) == 1:
        with GradingWorker(loaded, store, isolation=isolation, threads=thread_budget(1)) as worker:
            for i, sub in enumerate(todo):
                result = worker.grade(sub, warm_next=i < len(todo) - 1).result
                results[result.student_id] = result
                if on_result:
                    on_result(result, False)
        return results
    settings = WorkerSettings(
        folder=loaded.folder, root=batch.root, notebook=loaded.name, timeout=timeout, out=store.out,
        sandbox_mode=batch.sandbox_mode, threads=thread_budget(workers),
    )  # fmt: skip
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start_process_worker,
        initargs=(settings, loaded),
    ) as pool:
        # Jobs are taken in order: each worker's last one (one of the last `workers`) warms nothing.
        futures = {
            pool.submit(grade_in_process, sub, i < len(todo) - workers): sub for i, sub in enumerate(todo)
        }
        for future in concurrent.futures.as_completed(futures):
            try:
                result = future.result().result
            except Exception as error:  # the worker process itself died (it stored nothing)
                result = grader_failure(futures[future], loaded, store.out, "grading", error).result
            results[result.student_id] = result
            if on_result:
                on_result(result, False)
    return results


def write_reports(
    out: Path,
    assignment: Assignment,
    results: tuple[SubmissionResult, ...],
    *,
    feedback_for: tuple[str, ...] = (),
    recorder: gradebook.Recorder | None = None,
) -> tuple[SubmissionResult, ...]:
    """Record the results in the gradebook, then write every report from it (:func:`outputs.write`).

    ``recorder``: the run's gradebook, holding the results recorded as they arrived (the others are
    recorded here).

    Returns:
        The results with the gradebook's manual points, comments and overrides merged in.
    """
    write_assets(out / "feedback")  # MathJax, once per output folder (the pages reference it relatively)
    recorder = recorder or gradebook.Recorder(out, assignment)
    for result in results:
        recorder.add(result)
    for student_id, error in recorder.close():
        log_grader_error(out, student_id, "recording in the gradebook", error)
    return outputs.write(out, assignment, results, feedback_for=feedback_for)


def _stored_results(out: Path) -> list[SubmissionResult]:
    results = stored_results(out)
    if results is None:
        raise UsageError(
            f"no grading results in {out}: run `autograder grade ASSIGNMENT SUBMISSIONS --out {out}` first."
        )
    return results


def export(
    assignment: str | Path, out: str | Path, *, format: str = "canvas", to: str | Path | None = None
) -> Path:
    """Write an LMS gradebook import file from a finished grading run.

    Args:
        assignment: the assignment's name (the Canvas column title) or its source folder.
        out: the grading output folder.
        format: only ``canvas`` for now.
        to: the CSV path (default ``OUT/canvas-<assignment>.csv``).

    Returns:
        The written file.

    Raises:
        UsageError: unknown format or no results.
    """
    if format != "canvas":
        raise UsageError(f"unknown export format {format!r}; supported: canvas.")
    name = Path(assignment).stem if str(assignment).endswith(".ipynb") else Path(assignment).name
    out_path = Path(out)
    notebooks = course.graded_notebooks(out_path)
    if notebooks is not None:  # several notebooks: each student's total over them
        combined = _course_report(out_path, name, notebooks).results
        target = Path(to) if to else outputs.canvas_path(out_path, name)
        reports.write_atomic(target, reports.canvas_csv(name, combined))
        return target
    results = outputs.merged(out_path, name, _stored_results(out_path))
    target = Path(to) if to else outputs.canvas_path(out_path, name)
    reports.write_atomic(target, reports.canvas_csv(name, results))
    return target


def _course_report(
    out: Path, assignment: str, notebooks: dict[str, float], *, canvas: bool = False
) -> reports.GradeReport:
    """Write an assignment's summed reports again from its notebooks' stored results and the gradebook."""
    parts = {}
    for name in notebooks:
        merged = outputs.merged(out / name, name, _stored_results(out / name))
        parts[name] = reports.GradeReport(name, out / name, merged, ())
    return course.write_reports(out, assignment, parts, notebooks, canvas=canvas)


def _which_notebook(cell: str, loaded: dict[str, Assignment]) -> tuple[str, str]:
    """The notebook and grade id ``cell`` names: ``<notebook>/<grade_id>`` (as in the summed grades.csv),
    or a grade id only one notebook has."""
    notebook, _, grade_id = cell.partition("/")
    if grade_id and notebook in loaded:
        return notebook, grade_id
    owners = [name for name, nb in loaded.items() if nb.spec(cell) is not None]
    if len(owners) == 1:
        return owners[0], cell
    where = f"notebooks {', '.join(owners)} all have it" if owners else "no notebook has it"
    raise UsageError(
        f"--cell {cell!r}: {where}; name it as NOTEBOOK/GRADE_ID, e.g. {next(iter(loaded))}/{cell}."
    )


def review(
    assignment: str | Path,
    out: str | Path,
    *,
    student: str,
    cell: str,
    points: float | None,
    override: str | None = None,
    root: str | Path | None = None,
) -> float:
    """Enter a person's score for one cell, then rewrite every report (and that student's feedback).

    Args:
        assignment: the assignment's name (under ``ROOT/solutions``) or its source folder.
        out: the grading output folder.
        student: the student id.
        cell: the grade id.
        points: points for a written answer, or (with ``override``) replacing a test's; ``None`` removes
            what was entered (the tests' points, or ``awaiting review``, count again).
        override: why a test's points are replaced (required for a test cell).
        root: the course root (default: current directory).

    Returns:
        The cell's maximum points.

    Raises:
        UsageError: unknown assignment, student or cell, points out of range, a test without a reason.
    """
    out_path = Path(out)
    root_path = Path.cwd() if root is None else Path(root)
    notebooks = course.graded_notebooks(out_path)
    if notebooks is not None:  # several notebooks: the cell is NOTEBOOK/GRADE_ID
        every = {name: load_assignment(assignment, root=root_path, notebook=name) for name in notebooks}
        name, cell = _which_notebook(cell, every)
        part = out_path / name
        max_points = gradebook.set_manual_score(part, name, student, cell, points, override=override)
        outputs.write(part, every[name], _stored_results(part), feedback_for=(student,))
        _course_report(out_path, resolve_folder(assignment, root=root_path).name, notebooks)
        return max_points
    loaded = load_assignment(assignment, root=root_path)
    results = _stored_results(out_path)
    max_points = gradebook.set_manual_score(out_path, loaded.name, student, cell, points, override=override)
    outputs.write(out_path, loaded, results, feedback_for=(student,))
    return max_points


def similarity(
    assignment: str | Path,
    out: str | Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    root: str | Path | None = None,
) -> SimilarityReport:
    """Write ``OUT/similarity.html`` and ``.csv``: students whose answers are alike (grades untouched).

    Args:
        assignment: the assignment's name (under ``ROOT/solutions``) or its source folder.
        out: a grading output folder (its executed notebooks are compared).
        threshold: the share of fingerprints (0..1) from which a pair is listed.
        root: the course root (default: current directory).

    Returns:
        The report (see :mod:`autograder.similarity`).

    Raises:
        UsageError: unknown assignment, nothing graded in ``out``, threshold outside 0..1.
    """
    loaded = load_assignment(assignment, root=Path.cwd() if root is None else Path(root))
    return compare_answers(loaded, Path(out), threshold=threshold)


def report(assignment: str | Path, out: str | Path, *, root: str | Path | None = None) -> Path:
    """Write every report again from the stored results and the gradebook (after grading in formgrader).

    ``grades.csv``, ``results.json``, ``summary.html``, the Canvas export and every graded student's
    feedback page.

    Returns:
        The output folder.

    Raises:
        UsageError: unknown assignment, or no results in ``out``.
    """
    out_path = Path(out)
    root_path = Path.cwd() if root is None else Path(root)
    notebooks = course.graded_notebooks(out_path)
    if notebooks is not None:  # several notebooks: each one's reports, then the summed ones
        for name in notebooks:
            loaded = load_assignment(assignment, root=root_path, notebook=name)
            results = _stored_results(out_path / name)
            write_assets(out_path / name / "feedback")
            outputs.write(
                out_path / name, loaded, results, feedback_for=[r.student_id for r in results], canvas=True
            )
        _course_report(out_path, resolve_folder(assignment, root=root_path).name, notebooks, canvas=True)
        return out_path
    loaded = load_assignment(assignment, root=root_path)
    results = _stored_results(out_path)
    write_assets(out_path / "feedback")
    outputs.write(out_path, loaded, results, feedback_for=[r.student_id for r in results], canvas=True)
    return out_path


def release(assignment: str, *, root: str | Path | None = None) -> Path:
    """Generate the student version with nbgrader itself (``nbgrader generate_assignment --no-db``).

    The course's ``nbgrader_config.py`` decides the folders (``solutions/`` → ``assignments/``).

    Returns:
        The released folder.

    Raises:
        UsageError: unknown assignment or nbgrader failure (its output is included).
    """
    root_path = Path.cwd() if root is None else Path(root)
    folder = resolve_folder(assignment, root=root_path)
    if folder.parent != (root_path / "solutions").resolve():
        raise UsageError(f"release works on assignments under {root_path / 'solutions'}; got {folder}.")
    command = [
        sys.executable, "-m", "nbgrader", "generate_assignment", folder.name, "--force", "--no-db",
        "--CourseDirectory.source_directory=solutions", "--CourseDirectory.release_directory=assignments",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=root_path, capture_output=True, text=True, check=False)
    target = root_path / "assignments" / folder.name
    if done.returncode != 0:
        raise UsageError(
            f"nbgrader generate_assignment failed for {folder.name}:\n{done.stdout}{done.stderr}"
        )
    return target


@dataclass(frozen=True)
class CheckReport:
    """A student's self-check: public tests only."""

    notebook: Path
    result: SubmissionResult

    @property
    def all_passed(self) -> bool:
        """Whether every public test passed."""
        return self.result.status is Status.GRADED and all(
            c.passed for c in self.result.cells if not c.manual
        )


def check(notebook: str | Path, *, timeout: float | None = None) -> CheckReport:
    """Run a student's notebook and its public tests (the tests it contains), as a self-check.

    The notebook is its own source of truth here (no hidden tests exist in it); nothing is restored.

    Args:
        notebook: the student's notebook.
        timeout: wall-clock seconds for the whole notebook (default: the configured default).

    Returns:
        The report (per test cell: points, passed, message).

    Raises:
        UsageError: the file is missing.
    """
    from autograder.config import GradingConfig
    from autograder.source import cell_specs

    path = Path(notebook)
    if not path.is_file():
        raise UsageError(f"notebook not found: {path}")
    tmp = Path(tempfile.mkdtemp(prefix="autograder-check-"))
    try:
        folder = tmp / path.stem
        folder.mkdir()
        shutil.copyfile(path, folder / path.name)
        config = GradingConfig().with_timeout(timeout)
        sub = Submission(student_id="you", notebook=folder / path.name)
        try:
            nb = nbformat.read(path, as_version=4)
            specs = cell_specs(nb)
        except (ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError):
            specs = ()  # unreadable: grading it below says why, in a sentence
        self_source = Assignment(
            name=path.stem, folder=folder, master=nb if specs else nbformat.v4.new_notebook(),
            release=nb if specs else nbformat.v4.new_notebook(), specs=specs, hidden_lines=(),
            config=config, fingerprint="",
        )  # fmt: skip
        graded = grade_submission(
            sub,
            self_source,
            start_runner=lambda role: sandbox.start(
                limits=config.limits,
                env_passthrough=config.env_passthrough,
                preload=config.preload,
                isolation=sandbox.Isolation("off"),  # a student's own code on their own machine
                role=role,
                nbgrader_execution="validate",  # what nbgrader's Validate sets
            ),
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return CheckReport(path, graded.result)
