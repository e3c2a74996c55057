"""The command line: argument parsing, progress, the summary table and the exit code; nothing else.

Every command forwards to :mod:`autograder.api`. Exit codes: 0 every submission graded, 1 some failed
(all rows still written), 2 usage or configuration error (the message says how to fix it), 3 the grader
itself failed on some submissions (all rows still written; details in ``OUT/grader-errors.log``).
"""

from __future__ import annotations

import enum
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from autograder import api
from autograder.collect_results import collect_results
from autograder.errors import UsageError
from autograder.executors import grade_dask
from autograder.executors import grade_one as run_one
from autograder.k8s import write_manifests
from autograder.platforms.gradescope import write_zip
from autograder.platforms.prairielearn import write_grader
from autograder.reports import ERROR_LOG, ExitStatus, GradeReport
from autograder.results import Status, SubmissionResult
from autograder.worker import SandboxMode

console = Console(stderr=True)


def _fail_usage(error: UsageError) -> None:
    console.print(f"[bold red]Error:[/] {error}", highlight=False)
    sys.exit(ExitStatus.USAGE)


def _summary(report: GradeReport) -> Table:
    table = Table(
        title=f"{report.assignment}: {len(report.results)} submissions, {len(report.failed)} failed"
    )
    for column in ("student", "score", "status", "reason"):
        table.add_column(column, overflow="fold")
    for r in report.results:
        score = f"{r.total:g} / {r.max_total:g}" if r.status is Status.GRADED else "-"
        style = "red" if r.status is Status.FAILED else ""
        # Student ids and reasons quote what students wrote: printed as text, never as rich markup.
        table.add_row(escape(r.student_id), score, str(r.status), escape(r.reason[:160]), style=style)
    return table


def _finish(report: GradeReport, done: str) -> None:
    """Print the summary table and where the reports are, then exit with the report's status."""
    Console().print(_summary(report))
    count = len(report.regraded)
    console.print(f"Wrote {report.out / 'grades.csv'}, results.json and feedback/ ({count} {done})")
    if report.grader_errors:
        console.print(
            f"[bold red]The grader itself failed on {len(report.grader_errors)} submission(s)[/] "
            f"(a fault in the grader, not in the notebooks): details in {report.out / ERROR_LOG}; "
            "running the same command again grades them again."
        )
    sys.exit(report.exit_status)


def _default(function: Callable[..., object], name: str) -> Any:
    """The default of ``function``'s keyword ``name``: the API holds every default, the CLI repeats none."""
    return inspect.signature(function).parameters[name].default


class Executor(enum.StrEnum):
    """Who grades a batch (``grade --executor``)."""

    LOCAL = "local"  # this machine's worker pool
    DASK = "dask"  # a Dask cluster


def _sandbox(function: Callable[..., object]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The ``--sandbox`` option of a command forwarding to ``function`` (its default is that function's)."""
    return click.option(
        "--sandbox",
        "sandbox_mode",
        type=click.Choice([mode.value for mode in SandboxMode]),
        default=str(_default(function, "sandbox_mode")),
        show_default=True,
        envvar="AUTOGRADER_SANDBOX",
        help="strict: refuse to grade where student code cannot be isolated; warn: grade anyway, loudly.",
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dlcourse-kit")
def main() -> None:
    """Grade nbgrader assignments: many notebooks, some of them broken."""


@main.command()
@click.argument("assignment")
@click.argument("submissions", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (created).")
@click.option(
    "--workers",
    default=_default(api.grade, "workers"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Submissions at once.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds per submission (overrides autograder.toml).",
)
@click.option("--force", is_flag=True, help="Re-grade students a previous run already finished.")
@click.option(
    "--students",
    help="Re-grade only these students (ID[,ID...]: after a fixed test or a late upload); everyone else "
    "keeps their stored result.",
)
@_sandbox(api.grade)
@click.option(
    "--executor",
    type=click.Choice([executor.value for executor in Executor]),
    default=Executor.LOCAL.value,
    show_default=True,
    help="local: this machine's worker pool; dask: a Dask cluster (--scheduler, or a local one).",
)
@click.option(
    "--scheduler",
    help="Dask scheduler address, tcp://HOST:PORT (with --executor dask; default: a local cluster of "
    "--workers single-threaded workers).",
)
def grade(
    assignment: str,
    submissions: Path,
    out: Path,
    workers: int,
    timeout: float | None,
    force: bool,
    students: str | None,
    sandbox_mode: str,
    executor: str,
    scheduler: str | None,
) -> None:
    """Grade SUBMISSIONS (student folders, nbgrader's submitted/, or a Canvas zip/folder) against ASSIGNMENT.

    ASSIGNMENT is a folder under solutions/ or the course's nbgrader source folder (source/ps1), or a path;
    an assignment of several notebooks is graded into OUT/<notebook>/ with the sums in OUT.
    """
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"), console=console, transient=False,
    )  # fmt: skip
    task = None

    def on_start(todo: int, done: int) -> None:
        nonlocal task
        task = progress.add_task("grading", total=todo + done, last="")
        if done:
            console.print(f"{done} submission(s) already graded by an earlier run (use --force to re-grade)")

    def on_result(result: SubmissionResult, reused: bool) -> None:
        assert task is not None, "the batch announces its size before its first result"
        mark = "reused" if reused else str(result.status)
        if task is not None:  # on_start comes first
            progress.update(task, advance=1, last=escape(f"{result.student_id}: {mark}"))

    if scheduler and executor != Executor.DASK:
        _fail_usage(UsageError("--scheduler needs --executor dask."))
    only = None
    if students is not None:
        only = tuple(dict.fromkeys(s.strip() for s in students.split(",") if s.strip()))
        if not only:
            _fail_usage(UsageError("--students needs at least one student id (ID[,ID...])."))
    try:
        with progress:
            if executor == Executor.DASK:
                report = grade_dask(
                    assignment, submissions, out=out, scheduler=scheduler, local_workers=workers,
                    timeout=timeout, force=force, sandbox_mode=sandbox_mode, on_start=on_start,
                    on_result=on_result, students=only,
                )  # fmt: skip
            else:
                report = api.grade(
                    assignment, submissions, out=out, workers=workers, timeout=timeout, force=force,
                    sandbox_mode=sandbox_mode, on_start=on_start, on_result=on_result, students=only,
                )  # fmt: skip
    except UsageError as error:
        _fail_usage(error)
    _finish(report, "graded now")


@main.command("grade-one")
@click.argument("assignment")
@click.argument("notebook", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (created).")
@click.option("--student", help="Student id (default: the notebook's folder name).")
@click.option(
    "--meta",
    type=click.Path(path_type=Path),
    help="Job file written by `autograder k8s` (student id, LMS identity, collection problem).",
)
@click.option(
    "--source-notebook",
    metavar="NAME",
    help="The assignment's notebook NOTEBOOK answers, if it has several (default: the job file's).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds per submission (overrides autograder.toml).",
)
@_sandbox(run_one)
def grade_one(
    assignment: str,
    notebook: Path,
    out: Path,
    student: str | None,
    meta: Path | None,
    source_notebook: str | None,
    timeout: float | None,
    sandbox_mode: str,
) -> None:
    """Grade one NOTEBOOK in the sandbox; write OUT/.state/<id>.json, feedback/ and autograded/."""
    try:
        result = run_one(
            assignment, notebook, out=out, student=student, meta=meta, source_notebook=source_notebook,
            timeout=timeout, sandbox_mode=sandbox_mode,
        )  # fmt: skip
    except UsageError as error:
        _fail_usage(error)
    score = f"{result.total:g} / {result.max_total:g}" if result.status is Status.GRADED else "-"
    console.print(escape(f"{result.student_id}: {result.status} {score} {result.reason[:160]}".rstrip()))
    if result.grader_error:
        sys.exit(ExitStatus.GRADER_ERROR)
    sys.exit(ExitStatus.OK if result.status is Status.GRADED else ExitStatus.SOME_FAILED)


@main.command()
@click.argument("assignment")
@click.argument("submissions", type=click.Path(path_type=Path))
@click.option("--image", required=True, help="The grading image (build it from the written Dockerfile).")
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Folder for the manifests (created)."
)
@click.option(
    "--parallelism",
    default=_default(write_manifests, "parallelism"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Pods at once.",
)
@click.option("--cpus", default=_default(write_manifests, "cpus"), show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="CPU request and limit per pod (memory comes from autograder.toml).")  # fmt: skip
@click.option("--namespace", help="Kubernetes namespace (default: the current context's).")
@click.option("--results-pvc", default=_default(write_manifests, "results_pvc"), show_default=True,
              help="Claim for the results.")  # fmt: skip
@click.option("--jobs-pvc", help="Claim holding the written jobs/ folder, instead of ConfigMaps.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds per submission (overrides autograder.toml).",
)
def k8s(
    assignment: str,
    submissions: Path,
    image: str,
    out: Path,
    parallelism: int,
    cpus: float,
    namespace: str | None,
    results_pvc: str,
    jobs_pvc: str | None,
    timeout: float | None,
) -> None:
    """Write an Indexed Job (one pod per submission), its ConfigMaps and a Dockerfile to OUT."""
    try:
        plan = write_manifests(
            assignment, submissions, image=image, out=out, parallelism=parallelism, cpus=cpus,
            namespace=namespace, results_pvc=results_pvc, jobs_pvc=jobs_pvc, timeout=timeout,
        )  # fmt: skip
    except UsageError as error:
        _fail_usage(error)
    carried = (
        f"{plan.configmaps} ConfigMap(s)" if not jobs_pvc else f"the claim {jobs_pvc} (copy jobs/ there)"
    )
    console.print(
        f"Wrote {plan.folder / 'job.yaml'} (Job {plan.name}: {plan.count} pods, notebooks in {carried}), "
        f"Dockerfile and plan.json. Next: build and push the image, `kubectl apply -f job.yaml`, copy the "
        f"results volume to a folder, then `autograder collect {assignment} {plan.folder} FOLDER --out OUT`."
    )


@main.command()
@click.argument("assignment")
@click.argument("plan", type=click.Path(path_type=Path))
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (created).")
def collect(assignment: str, plan: Path, results: Path, out: Path) -> None:
    """Gather pod RESULTS (a copy of the results volume) for the Job written to PLAN into OUT."""
    try:
        report = collect_results(assignment, plan, results, out=out)
    except UsageError as error:
        _fail_usage(error)
    _finish(report, "collected")


@main.command()
@click.argument("assignment")
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--threshold",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=_default(api.similarity, "threshold"),
    show_default=True,
    help="List pairs sharing at least this share of the smaller answer's fingerprints.",
)
def similarity(assignment: str, out: Path, threshold: float) -> None:
    """Find pairs of students in OUT whose answers are alike (offline; a pointer, never a verdict)."""
    try:
        report = api.similarity(assignment, out, threshold=threshold)
    except UsageError as error:
        _fail_usage(error)
    table = Table(
        title=f"{len(report.pairs)} pair(s) of {report.compared} submissions at {threshold:.0%} or more"
    )
    for column in ("students", "similarity", "shared fingerprints"):
        table.add_column(column)
    for pair in report.pairs:
        table.add_row(escape(f"{pair.a} & {pair.b}"), f"{pair.similarity:.0%}", str(pair.shared))
    Console().print(table)
    console.print(f"Wrote {report.html} and {report.csv.name} (no grade was changed)")


@main.command()
@click.argument("assignment")
def release(assignment: str) -> None:
    """Generate assignments/ASSIGNMENT from solutions/ASSIGNMENT with nbgrader generate_assignment."""
    try:
        target = api.release(assignment)
    except UsageError as error:
        _fail_usage(error)
    console.print(f"Released {target}")


@main.command()
@click.argument("notebook", type=click.Path(path_type=Path))
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds for the whole notebook."
)
def check(notebook: Path, timeout: float | None) -> None:
    """Run NOTEBOOK and its public tests, and say what passed (a student's self-check)."""
    try:
        report = api.check(notebook, timeout=timeout)
    except UsageError as error:
        _fail_usage(error)
    out = Console()
    result = report.result
    if result.status is Status.FAILED:
        out.print(f"[red]Cannot check {escape(str(notebook))}:[/] {escape(result.reason)}")
        sys.exit(ExitStatus.SOME_FAILED)
    table = Table(title=f"Self-check of {notebook.name} (public tests only; hidden tests run at grading)")
    for column in ("test", "points", "result", "message"):
        table.add_column(column, overflow="fold")
    for cell in result.cells:
        if cell.manual:
            table.add_row(
                cell.grade_id, f"{cell.max_points:g}", "written answer", "graded by your instructor"
            )
        else:
            verdict = "[green]passed[/]" if cell.passed else "[red]failed[/]"
            table.add_row(
                escape(cell.grade_id), f"{cell.points:g} / {cell.max_points:g}", verdict, escape(cell.message)
            )
    out.print(table)
    if result.reason:
        out.print(f"Notes: {escape(result.reason)}")
    out.print(f"Public tests: {result.total:g} / {result.max_total:g} points")
    sys.exit(ExitStatus.OK if report.all_passed else ExitStatus.SOME_FAILED)


@main.command()
@click.argument("assignment")
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["canvas"]),
    default=_default(api.export, "format"),
    show_default=True,
)
@click.option("--to", type=click.Path(path_type=Path), help="CSV path (default OUT/canvas-ASSIGNMENT.csv).")
def export(assignment: str, out: Path, fmt: str, to: Path | None) -> None:
    """Write an LMS gradebook import CSV from the results in OUT."""
    try:
        target = api.export(assignment, out, format=fmt, to=to)
    except UsageError as error:
        _fail_usage(error)
    console.print(f"Wrote {target}")


@main.command()
@click.argument("assignment")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--student", required=True, help="Student id (as in grades.csv).")
@click.option(
    "--cell",
    required=True,
    help="grade_id of the cell (NOTEBOOK/GRADE_ID in an assignment of several notebooks).",
)
@click.option("--points", type=float, help="Points to give (a written answer, or a test with --override).")
@click.option(
    "--override", metavar="REASON", help="Replace a test's points; the reason is shown to the student."
)
@click.option("--clear", is_flag=True, help="Remove the points entered for this cell (and any override).")
def review(
    assignment: str,
    out: Path,
    student: str,
    cell: str,
    points: float | None,
    override: str | None,
    clear: bool,
) -> None:
    """Enter a person's points for a cell (OUT/gradebook.db); every report and the feedback follow."""
    if clear == (points is not None):
        _fail_usage(UsageError("give either --points N or --clear."))
    try:
        max_points = api.review(assignment, out, student=student, cell=cell, points=points, override=override)
    except UsageError as error:
        _fail_usage(error)
    done = "cleared" if clear else f"{points:g} of {max_points:g} points recorded"
    console.print(escape(f"{student} / {cell}: {done}; grades.csv, feedback and summary.html rewritten"))


@main.command()
@click.argument("assignment")
@click.argument("out", type=click.Path(path_type=Path))
def report(assignment: str, out: Path) -> None:
    """Write every report in OUT again from the gradebook (after grading in formgrader)."""
    try:
        api.report(assignment, out)
    except UsageError as error:
        _fail_usage(error)
    console.print(
        f"Wrote {out / 'grades.csv'}, results.json, summary.html, canvas-{Path(assignment).name}.csv "
        "and every feedback page from the gradebook"
    )


@main.command()
@click.argument("assignment")
@click.argument("out", type=click.Path(path_type=Path))
def formgrader(assignment: str, out: Path) -> None:
    """Make OUT a course folder for nbgrader's formgrader (grade written answers in JupyterLab)."""
    from autograder.formgrader import prepare

    try:
        config = prepare(assignment, out)
    except UsageError as error:
        _fail_usage(error)
    console.print(
        escape(
            f"Wrote {config} and {config.parent / 'source'}. Open formgrader: "
            f"cd {config.parent} && jupyter lab, "
            "then Nbgrader > Formgrader > Manual Grading. Afterwards: "
            f"autograder report {assignment} {out} (grades.csv, feedback and the Canvas export follow)."
        ),
        soft_wrap=True,  # the commands stay whole lines, to copy and paste (a long path would split them)
    )


_VISIBILITY = click.option(
    "--hidden-visibility",
    type=click.Choice(["hidden", "after_due_date", "after_published", "visible"]),
    help="When students see tests holding hidden tests (default: autograder.toml, else after_published).",
)


@main.command()
@click.argument("assignment")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for the zip (created).")
@_VISIBILITY
@_sandbox(write_zip)
def gradescope(assignment: str, out: Path, hidden_visibility: str | None, sandbox_mode: str) -> None:
    """Write the autograder zip Gradescope's "Configure Autograder" page takes."""
    try:
        target = write_zip(assignment, out, hidden_visibility=hidden_visibility, sandbox_mode=sandbox_mode)
    except UsageError as error:
        _fail_usage(error)
    console.print(f"Wrote {target}: upload it on Gradescope (base image Ubuntu 22.04).")


@main.command()
@click.argument("assignment")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to write (created).")
@_sandbox(write_grader)
def prairielearn(assignment: str, out: Path, sandbox_mode: str) -> None:
    """Write a PrairieLearn external-grader folder (Dockerfile, grade.sh, info.json)."""
    try:
        folder = write_grader(assignment, out, sandbox_mode=sandbox_mode)
    except UsageError as error:
        _fail_usage(error)
    console.print(
        f"Wrote {folder}: build and push its Dockerfile, then merge info.json into the question's info.json."
    )
