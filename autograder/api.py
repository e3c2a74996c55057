"""The Python API: keyword-only functions that hold every default once; the CLI only forwards to them.

``grade`` collects submissions, skips those an earlier run finished (same fingerprint, unless ``force``),
grades the rest ``workers`` at a time (each in its own sandboxed process, a warm one started while the
previous submission's feedback is written), stores each student's result atomically as soon as it is
known, then writes ``grades.csv``, ``results.json`` and the gradebook from all stored results. A run killed
at any point loses nothing that was finished and duplicates nothing on the next run.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from autograder import course, gradebook, outputs, reports, sandbox
from autograder.collect import Submission, collect
from autograder.errors import UsageError
from autograder.pipeline import Graded, fingerprint, grade_submission
from autograder.reports import ERROR_LOG, file_name, log_grader_error
from autograder.results import Status, SubmissionResult
from autograder.similarity import DEFAULT_THRESHOLD, SimilarityReport
from autograder.similarity import similarity as compare_answers
from autograder.source import Assignment, load_assignment, resolve_folder
from autograder.steps.execute import prelude_modules
from autograder.steps.feedback import render_failure, write_assets

STATE_DIR = ".state"
INCOMING_DIR = ".incoming"
ProgressCallback = Callable[[SubmissionResult, bool], None]

# Per-process state of a grading worker: the assignment and warm sandbox processes (student, verifier).
_WORKER: dict = {}
ROLES = ("student", "verifier")


def _new_runner(role: str) -> sandbox.Runner:
    assignment = _WORKER["assignment"]
    config = assignment.config
    preload = config.preload
    if role == "verifier":  # warm up with what the tests' set-up imports (Keras takes seconds)
        preload = tuple(dict.fromkeys((*preload, *prelude_modules(assignment))))
    return sandbox.start(
        limits=config.limits,
        env_passthrough=config.env_passthrough,
        preload=preload,
        isolation=_WORKER["isolation"],
        role=role,
        threads=_WORKER.get("threads"),
    )


def _start_runner(role: str) -> sandbox.Runner:
    spare = _WORKER.get("spare", {}).pop(role, None)
    return spare if spare is not None else _new_runner(role)


def _warm_spare() -> None:
    if _WORKER.get("keep_warm"):
        spares = _WORKER.setdefault("spare", {})
        for role in ROLES:
            if role not in spares:
                spares[role] = _new_runner(role)


def _isolation(mode: str) -> sandbox.Isolation:
    """The sandbox settings for ``mode``, checked on this machine now (not in the middle of a batch)."""
    try:
        isolation = sandbox.Isolation(mode, sandbox.default_expose())
        sandbox.resolve(isolation)
    except (ValueError, sandbox.Unavailable) as error:
        raise UsageError(str(error)) from None
    return isolation


def _close_spare() -> None:
    for spare in _WORKER.pop("spare", {}).values():
        spare.close()


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


def _init_worker(
    folder: str,
    root: str,
    timeout: float | None,
    out: str,
    mode: str,
    notebook: str | None = None,
    threads: int | None = None,
) -> None:
    sandbox.die_with_parent()  # a killed grader takes its workers (and their sandboxes) with it
    assignment = load_assignment(folder, root=Path(root), notebook=notebook)
    _WORKER.update(
        assignment=_with_timeout(assignment, timeout),
        out=Path(out),
        keep_warm=True,
        isolation=sandbox.Isolation(mode, sandbox.default_expose()),
        threads=threads,
    )
    multiprocessing.util.Finalize(None, _close_spare, exitpriority=10)


def _with_timeout(assignment: Assignment, timeout: float | None) -> Assignment:
    from dataclasses import replace

    return replace(assignment, config=assignment.config.with_timeout(timeout))


def _student_paths(out: Path, assignment: str, student_id: str) -> tuple[Path, Path, Path]:
    name = file_name(student_id)
    return (
        out / "feedback" / name / f"{assignment}.html",
        out / "autograded" / name / assignment / f"{assignment}.ipynb",
        out / STATE_DIR / f"{name}.json",
    )


GRADER_FAULT = (
    "the grader failed on this submission ({step}): a fault in the grader, not in the notebook; "
    "the instructor finds the details in {log}"
)


def grader_failure(
    submission: Submission, assignment: Assignment, out: Path, step: str, error: BaseException
) -> Graded:
    """The result of a submission the grader itself failed on: logged, failed, never a silent zero."""
    log_grader_error(out, submission.student_id, step, error)
    failed = SubmissionResult(
        submission.student_id,
        Status.FAILED,
        reason=GRADER_FAULT.format(step=step, log=ERROR_LOG),
        lms=submission.lms,
        fingerprint=fingerprint(submission, assignment),
        grader_error=True,
    )
    return Graded(failed, render_failure(failed, assignment=assignment.name), None)


def _store(out: Path, assignment: Assignment, graded: Graded) -> None:
    feedback, executed, state = _student_paths(out, assignment.name, graded.result.student_id)
    reports.write_atomic(feedback, graded.feedback_html)
    if graded.executed is not None:
        reports.write_atomic(executed, nbformat.writes(graded.executed))
    reports.write_atomic(state, json.dumps(graded.result.to_dict(), indent=1, sort_keys=True))


def _grade_job(submission: Submission) -> dict:
    """Grade one submission in this worker and store everything about it; return the result as a dict.

    Every step is this student's alone: an exception anywhere (reading, executing, scoring, rendering,
    storing) becomes this student's failed result, logged in ``OUT/grader-errors.log``; the batch goes on.
    """
    assignment: Assignment = _WORKER["assignment"]
    out: Path = _WORKER["out"]
    try:
        graded = grade_submission(submission, assignment, start_runner=_start_runner)
    except Exception as error:  # a grader fault: this student fails with a reason, the batch goes on
        graded = grader_failure(submission, assignment, out, "grading", error)
    try:
        _warm_spare()
    except Exception as error:  # the next submission starts its own sandbox (and fails alone if it cannot)
        log_grader_error(out, submission.student_id, "starting the next sandbox", error)
        _close_spare()
    try:
        _store(out, assignment, graded)
    except Exception as error:
        graded = grader_failure(submission, assignment, out, "writing the feedback", error)
        _store(out, assignment, graded)
    return graded.result.to_dict()


@dataclass(frozen=True)
class _Plan:
    todo: list[Submission]
    done: dict[str, SubmissionResult]


def _stored(out: Path, assignment: Assignment, student_id: str) -> SubmissionResult | None:
    state = _student_paths(out, assignment.name, student_id)[2]
    if not state.exists():
        return None
    try:
        return SubmissionResult.from_dict(json.loads(state.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError):
        return None


def _plan(
    subs: list[Submission],
    assignment: Assignment,
    out: Path,
    force: bool,
    students: frozenset[str] | None = None,
) -> _Plan:
    """What to grade: everyone not finished before (or everyone with ``force``), or only ``students``.

    With ``students`` the named students are graded again and everyone else keeps the stored result
    (even if the source changed since: a fixed test re-grades only who asked); a student with no stored
    result is left out of this run's reports.
    """
    todo, done = [], {}
    for sub in subs:
        if students is not None:
            previous = None if sub.student_id in students else _stored(out, assignment, sub.student_id)
            if previous is not None:
                done[sub.student_id] = previous
            elif sub.student_id in students:
                todo.append(sub)
            continue
        previous = None if force else _stored(out, assignment, sub.student_id)
        if (
            previous is not None
            and not previous.grader_error  # a grader fault is retried
            and previous.fingerprint == fingerprint(sub, assignment)
        ):
            done[sub.student_id] = previous
            continue
        todo.append(sub)
    return _Plan(todo, done)


def _prepare(
    assignment: str | Path,
    submissions: str | Path,
    *,
    out: str | Path,
    timeout: float | None,
    force: bool,
    root: str | Path | None,
    on_start: Callable[[int, int], None] | None,
    on_result: ProgressCallback | None,
    students: tuple[str, ...] | None = None,
    notebook: str | None = None,
    within: str | None = None,
) -> tuple[Path, Assignment, Path, list[Submission], _Plan]:
    """What every executor does first: load the source, collect, and plan (reporting reused results).

    ``notebook`` picks one of a several-notebook assignment's notebooks; ``within`` is the assignment's
    folder inside each student's folder (nbgrader's ``submitted/<student>/<assignment>/`` layout).

    Returns:
        The course root, the assignment, the output folder, the submissions and the plan.
    """
    root_path = Path.cwd() if root is None else Path(root)
    loaded = _with_timeout(load_assignment(assignment, root=root_path, notebook=notebook), timeout)
    out_path = Path(out).resolve()
    if out_path == loaded.folder or loaded.folder in out_path.parents:
        raise UsageError(f"--out {out_path} is inside the assignment's source folder; choose another folder.")
    out_path.mkdir(parents=True, exist_ok=True)
    subs = collect(
        Path(submissions),
        loaded.name,
        staging=out_path / INCOMING_DIR,
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
    plan = _plan(subs, loaded, out_path, force, None if students is None else frozenset(students))
    if on_start:
        on_start(len(plan.todo), len(plan.done))
    if on_result:
        for result in plan.done.values():
            on_result(result, True)
    return root_path, loaded, out_path, subs, plan


def grade(
    assignment: str | Path,
    submissions: str | Path,
    *,
    out: str | Path,
    workers: int = 1,
    timeout: float | None = None,
    force: bool = False,
    root: str | Path | None = None,
    sandbox_mode: str = "strict",
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
    isolation = _isolation(sandbox_mode)
    sandbox.sweep()  # working folders and cgroups a killed grader left behind
    root_path = Path.cwd() if root is None else Path(root)
    notebooks, within = course.layout(assignment, Path(submissions), root=root_path)
    options: dict[str, Any] = dict(
        workers=workers, timeout=timeout, force=force, root=root_path, isolation=isolation,
        sandbox_mode=sandbox_mode, on_start=on_start, on_result=on_result, students=students, within=within,
    )  # fmt: skip
    if len(notebooks) == 1:
        return _grade_notebook(assignment, submissions, out=Path(out), notebook=notebooks[0], **options)[0]
    out_path = Path(out).resolve()
    parts, max_scores = {}, {}
    for name in notebooks:
        parts[name], max_scores[name] = _grade_notebook(
            assignment, submissions, out=out_path / name, notebook=name, **options
        )
    return course.write_reports(out_path, resolve_folder(assignment, root=root_path).name, parts, max_scores)


def _grade_notebook(
    assignment: str | Path,
    submissions: str | Path,
    *,
    out: Path,
    notebook: str,
    workers: int,
    timeout: float | None,
    force: bool,
    root: Path,
    isolation: sandbox.Isolation,
    sandbox_mode: str,
    on_start: Callable[[int, int], None] | None,
    on_result: ProgressCallback | None,
    students: tuple[str, ...] | None,
    within: str | None,
) -> tuple[reports.GradeReport, float]:
    """Grade every submission of one notebook of an assignment (see :func:`grade`).

    Returns:
        The run's report, and the points its tests are worth.
    """
    root_path, loaded, out_path, subs, plan = _prepare(
        assignment, submissions, out=out, timeout=timeout, force=force, root=root, on_start=on_start,
        on_result=on_result, students=students, notebook=notebook, within=within,
    )  # fmt: skip
    results = dict(plan.done)
    if plan.todo:
        wanted = min(workers, len(plan.todo))
        workers, notice = fit_workers(wanted, loaded.config.limits, sandbox.cgroups.available_memory())
        if notice:
            print(notice, file=sys.stderr)
    if plan.todo and (workers == 1 or len(plan.todo) == 1):
        _WORKER.update(
            assignment=loaded, out=out_path, keep_warm=len(plan.todo) > 1, isolation=isolation,
            threads=thread_budget(1),
        )  # fmt: skip
        try:
            for i, sub in enumerate(plan.todo):
                _WORKER["keep_warm"] = i < len(plan.todo) - 1
                result = SubmissionResult.from_dict(_grade_job(sub))
                results[result.student_id] = result
                if on_result:
                    on_result(result, False)
        finally:
            _close_spare()
            _WORKER.clear()
    elif plan.todo:
        threads = thread_budget(min(workers, len(plan.todo)))
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=min(workers, len(plan.todo)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(
                str(loaded.folder),
                str(root_path),
                timeout,
                str(out_path),
                sandbox_mode,
                loaded.name,
                threads,
            ),
        ) as pool:
            futures = {pool.submit(_grade_job, sub): sub for sub in plan.todo}
            for future in concurrent.futures.as_completed(futures):
                try:
                    result = SubmissionResult.from_dict(future.result())
                except Exception as error:  # the worker process itself died (it stored nothing)
                    result = grader_failure(futures[future], loaded, out_path, "grading", error).result
                results[result.student_id] = result
                if on_result:
                    on_result(result, False)

    ordered = tuple(results[s.student_id] for s in subs if s.student_id in results)
    final = write_reports(out_path, loaded, ordered)
    worth = sum(spec.points for spec in loaded.specs if spec.role == "test")
    return reports.GradeReport(loaded.name, out_path, final, tuple(s.student_id for s in plan.todo)), worth


def write_reports(
    out: Path,
    assignment: Assignment,
    results: tuple[SubmissionResult, ...],
    *,
    feedback_for: tuple[str, ...] = (),
) -> tuple[SubmissionResult, ...]:
    """Record the results in the gradebook, then write every report from it (:func:`outputs.write`).

    Returns:
        The results with the gradebook's manual points, comments and overrides merged in.
    """
    write_assets(out / "feedback")  # MathJax, once per output folder (the pages reference it relatively)
    for student_id, error in gradebook.record(out, assignment, results):
        log_grader_error(out, student_id, "recording in the gradebook", error)
    return outputs.write(out, assignment, results, feedback_for=feedback_for)


def _stored_results(out: Path) -> list[SubmissionResult]:
    folder = out / STATE_DIR
    if not folder.is_dir():
        raise UsageError(
            f"no grading results in {out}: run `autograder grade ASSIGNMENT SUBMISSIONS --out {out}` first."
        )
    return [
        SubmissionResult.from_dict(json.loads(p.read_text(encoding="utf-8")))
        for p in sorted(folder.glob("*.json"))
    ]


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
    results = outputs.merged(out_path, name, _stored_results(out_path))
    target = Path(to) if to else outputs.canvas_path(out_path, name)
    reports.write_atomic(target, reports.canvas_csv(name, results))
    return target


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
    loaded = load_assignment(assignment, root=Path.cwd() if root is None else Path(root))
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
    loaded = load_assignment(assignment, root=Path.cwd() if root is None else Path(root))
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
    tmp = Path(sandbox.tempfile.mkdtemp(prefix="autograder-check-"))
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
