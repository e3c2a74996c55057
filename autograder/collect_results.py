"""Gathering the results pods wrote (``autograder collect``) into the same ``OUT/`` as a local run.

Pod *i* of the Job written by :mod:`autograder.k8s` writes ``RESULTS/<i>/.state/<id>.json`` (last,
atomically), ``RESULTS/<i>/feedback/`` and ``RESULTS/<i>/autograded/``. :func:`collect_results` checks each
against ``plan.json`` (the student of index *i* and the fingerprint of their submission and of the source)
and stores it under ``OUT/`` where ``grade`` stores it, then writes ``grades.csv``, ``results.json`` and the
gradebook from every student's result.

A pod result that is missing (the pod has not finished, failed, or was not copied) or unusable (not JSON, not
a result, another student's, another source's) is not a grade: that student's row is ``failed`` with the
reason and what to do, and nothing is stored for them, so a later ``collect`` (once the pod result is there)
or ``grade`` on the same ``OUT/`` fills it in. A result stored by an earlier ``collect`` with the right
fingerprint is kept when its pod folder is gone, so no grade is lost between collections.

For an assignment of several notebooks, each pod graded one notebook of one student (``plan.json`` says
which); each notebook's results are stored in ``OUT/<notebook>/`` and ``OUT`` gets the sums, as ``grade``
writes them (:func:`autograder.course.write_reports`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autograder import api, course, gradebook, reports
from autograder.errors import UsageError
from autograder.results import LmsIdentity, Status, SubmissionResult
from autograder.source import Assignment, load_assignment, resolve_folder
from autograder.store import Outcome, OutputStore


def _read_plan(plan_dir: Path) -> dict[str, Any]:
    path = plan_dir / "plan.json"
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(plan.get("submissions"), list) or "assignment" not in plan:
            raise ValueError("not a plan written by `autograder k8s`")
    except (OSError, ValueError, AttributeError) as error:
        raise UsageError(
            f"cannot read {path} ({error}): pass the folder `autograder k8s ... --out FOLDER` wrote."
        ) from None
    return plan


def _pod_result(folder: Path, entry: dict[str, Any], assignment: str) -> tuple[Outcome | None, str]:
    """The outcome pod ``entry["index"]`` wrote, or None and why it cannot be used."""
    index, student = entry["index"], entry["student_id"]
    pod = OutputStore(folder, assignment)
    where = f"pod {index} (job completion index {index})"
    if not pod.files(student).state.is_file():
        found = pod.stored_ids()
        detail = f"it holds {', '.join(found)}" if found else f"{folder} is missing or empty"
        return None, (
            f"no result from {where}: {detail}; check the pod (kubectl logs), copy its results folder, "
            "and run collect again"
        )
    try:
        result = pod.stored_result(student)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        return (
            None,
            f"the result of {where} is unreadable ({type(error).__name__}: {error}); re-run index {index}",
        )
    if result.student_id != student:
        return (
            None,
            f"the result of {where} is for {result.student_id!r}, not {student!r}; re-run index {index}",
        )
    if result.fingerprint != entry["fingerprint"]:
        return None, (
            f"the result of {where} was graded from another submission, source or settings (fingerprint "
            f"mismatch); re-run index {index} with this image"
        )
    try:
        return pod.load(student), ""
    except (OSError, UnicodeDecodeError) as error:
        return None, f"the feedback of {where} is unreadable ({error}); re-run index {index}"


def _stored(store: OutputStore, entry: dict[str, Any]) -> SubmissionResult | None:
    result = store.stored(entry["student_id"])
    return result if result is not None and result.fingerprint == entry["fingerprint"] else None


def collect_results(
    assignment: str | Path,
    plan_dir: str | Path,
    results: str | Path,
    *,
    out: str | Path,
    root: str | Path | None = None,
) -> reports.GradeReport:
    """Gather pod results into ``out`` and write its reports.

    Args:
        assignment: the assignment's name (under ``ROOT/solutions``) or its source folder.
        plan_dir: the folder ``autograder k8s`` wrote (its ``plan.json``).
        results: a copy of the results volume (``<index>/`` folders).
        out: output folder (created).
        root: the course root (default: current directory).

    Returns:
        The report: every planned student once, failed with a reason where no usable pod result exists.

    Raises:
        UsageError: no plan, or a plan for another assignment or another version of its source.
    """
    plan = _read_plan(Path(plan_dir))
    root_path = Path.cwd() if root is None else Path(root)
    results_path = Path(results)
    out_path = Path(out).resolve()
    notebooks: dict[str, str] = plan.get("notebooks") or {}
    if not notebooks:  # one notebook: OUT holds it
        loaded = load_assignment(assignment, root=root_path).with_timeout(plan.get("timeout"))
        _check_source(plan_dir, plan["assignment"], loaded.name, plan.get("assignment_fingerprint"), loaded)
        _check_results(results_path)
        return _collect_notebook(loaded, plan["submissions"], results_path, out_path)
    folder = resolve_folder(assignment, root=root_path)
    parts = {name: load_assignment(folder, root=root_path, notebook=name) for name in notebooks}
    for name, loaded in parts.items():
        _check_source(plan_dir, plan["assignment"], folder.name, notebooks[name], loaded)
    _check_results(results_path)
    graded, max_scores = {}, {}
    for name, loaded in parts.items():  # several: OUT/<notebook>/ each, the sums in OUT
        entries = [entry for entry in plan["submissions"] if entry.get("notebook") == name]
        timed = loaded.with_timeout(plan.get("timeout"))
        gradebook.join(out_path / name, folder.name)  # one gradebook for the assignment, as nbgrader's
        graded[name] = _collect_notebook(timed, entries, results_path, out_path / name)
        max_scores[name] = api.points_possible(loaded)
    return course.write_reports(out_path, folder.name, graded, max_scores)


def _check_source(
    plan_dir: str | Path, planned: str, name: str, expected: str | None, loaded: Assignment
) -> None:
    """Refuse to collect results graded from another assignment, or another version of its source."""
    if planned != name or expected != loaded.fingerprint:
        raise UsageError(
            f"{Path(plan_dir) / 'plan.json'} was written for {planned} as its source was then; "
            f"solutions/{name} differs now. Collect with the source the image was built from."
        )


def _check_results(results: Path) -> None:
    if not results.is_dir():
        raise UsageError(f"no results folder {results}: copy the results volume there first.")


def _collect_notebook(
    loaded: Assignment, entries: list[dict[str, Any]], results: Path, out: Path
) -> reports.GradeReport:
    """Store one notebook's pod results under ``out`` (a failed row with the reason where none is usable)."""
    out.mkdir(parents=True, exist_ok=True)
    store = OutputStore(out, loaded.name)
    ordered, collected = [], []
    for entry in entries:
        outcome, why = _pod_result(results / str(entry["index"]), entry, loaded.name)
        if outcome is not None:
            ordered.append(store.save(outcome))
            collected.append(entry["student_id"])
            continue
        earlier = _stored(store, entry)
        ordered.append(
            earlier
            if earlier is not None
            else SubmissionResult(
                entry["student_id"],
                Status.FAILED,
                reason=why,
                lms=LmsIdentity(**entry["lms"]) if entry.get("lms") else None,
                fingerprint=entry["fingerprint"],
            )
        )
    results_tuple = tuple(ordered)
    api.write_reports(out, loaded, results_tuple)
    return reports.GradeReport(loaded.name, out, results_tuple, tuple(collected))
