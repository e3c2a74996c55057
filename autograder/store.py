"""The output store: where one notebook's grading run keeps what it knows under ``OUT/``.

Per student, a run writes ``OUT/feedback/<id>/<nb>.html`` (the student's page),
``OUT/autograded/<id>/<nb>/<nb>.ipynb`` (the executed notebook, nbgrader's layout; none for a failed
submission) and, last and atomically, ``OUT/.state/<id>.json`` (the result). The state file is the mark of
a finished student: a run killed at any point is resumed from the state files (:meth:`OutputStore.plan`),
never duplicating or losing a finished student. ``OUT/.incoming/`` stages extracted uploads.

An :class:`Outcome` is what grading one student produced (the result, the feedback page, the executed
notebook), as plain values: a worker process, a Dask worker or a Kubernetes pod hands it to whoever stores
it under ``OUT/``, and every one of them stores it the same way (:meth:`OutputStore.save`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.collect import Submission
from autograder.pipeline import Graded, fingerprint
from autograder.reports import file_name, write_atomic
from autograder.results import SubmissionResult
from autograder.source import Assignment

STATE_DIR = ".state"
INCOMING_DIR = ".incoming"


@dataclass(frozen=True)
class StudentFiles:
    """Where one student's files of one notebook live under ``OUT/``."""

    feedback: Path
    executed: Path
    state: Path


@dataclass(frozen=True)
class Outcome:
    """What grading one student produced, as plain values (it crosses process and machine boundaries).

    Attributes:
        result: the result (graded, or failed with its reason).
        feedback: the feedback page (HTML).
        executed: the executed notebook's text, or None (a failed submission has none).
        worker: who graded it (a Dask worker's address; empty when graded here).
    """

    result: SubmissionResult
    feedback: str
    executed: str | None = None
    worker: str = ""

    @classmethod
    def from_graded(cls, graded: Graded) -> Outcome:
        """The outcome of a submission the pipeline graded."""
        executed = None if graded.executed is None else nbformat.writes(graded.executed)
        return cls(graded.result, graded.feedback_html, executed)


@dataclass(frozen=True)
class Plan:
    """What a run grades (``todo``) and the stored results it keeps (``done``, by student id)."""

    todo: list[Submission]
    done: dict[str, SubmissionResult]


@dataclass(frozen=True)
class OutputStore:
    """The output folder of one notebook's grading run.

    Attributes:
        out: the folder (``OUT``, or ``OUT/<notebook>`` for a notebook of a several-notebook assignment).
        notebook: the graded notebook's name (the assignment's name for a one-notebook assignment).
    """

    out: Path
    notebook: str

    @property
    def incoming(self) -> Path:
        """Where uploads (zips, Canvas downloads) are extracted before grading."""
        return self.out / INCOMING_DIR

    @property
    def state_dir(self) -> Path:
        """The folder of the state files (one finished student each)."""
        return self.out / STATE_DIR

    def files(self, student_id: str) -> StudentFiles:
        """Where ``student_id``'s files are."""
        name = file_name(student_id)
        return StudentFiles(
            feedback=self.out / "feedback" / name / f"{self.notebook}.html",
            executed=self.out / "autograded" / name / self.notebook / f"{self.notebook}.ipynb",
            state=self.state_dir / f"{name}.json",
        )

    def save(self, outcome: Outcome) -> SubmissionResult:
        """Write an outcome's files, the state file last (atomically): the student is then finished.

        Returns:
            The stored result.
        """
        files = self.files(outcome.result.student_id)
        write_atomic(files.feedback, outcome.feedback)
        if outcome.executed is not None:
            write_atomic(files.executed, outcome.executed)
        write_atomic(files.state, json.dumps(outcome.result.to_dict(), indent=1, sort_keys=True))
        return outcome.result

    def stored_result(self, student_id: str) -> SubmissionResult:
        """The result stored for ``student_id``.

        Raises:
            OSError: no state file, or it cannot be read.
            ValueError, KeyError, TypeError: the state file is not a result.
        """
        state = self.files(student_id).state
        return SubmissionResult.from_dict(json.loads(state.read_text(encoding="utf-8")))

    def stored(self, student_id: str) -> SubmissionResult | None:
        """The result an earlier run stored for ``student_id``, or None (none, or unreadable)."""
        try:
            return self.stored_result(student_id)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def load(self, student_id: str) -> Outcome:
        """Read back what :meth:`save` wrote for ``student_id``.

        Raises:
            OSError: a file is missing or unreadable.
            ValueError, KeyError, TypeError: the state file is not a result (or not UTF-8).
        """
        files = self.files(student_id)
        result = self.stored_result(student_id)
        feedback = files.feedback.read_text(encoding="utf-8")
        executed = files.executed.read_text(encoding="utf-8") if files.executed.is_file() else None
        return Outcome(result, feedback, executed)

    def discard(self, student_id: str) -> None:
        """Remove ``student_id``'s files (a worker's scratch store, once their outcome has left)."""
        files = self.files(student_id)
        for path in (files.state, files.feedback, files.executed):
            path.unlink(missing_ok=True)

    def stored_ids(self) -> list[str]:
        """The state files' names (one per finished student), sorted."""
        return sorted(p.name for p in self.state_dir.glob("*.json")) if self.state_dir.is_dir() else []

    def plan(
        self,
        subs: Iterable[Submission],
        assignment: Assignment,
        *,
        force: bool,
        students: frozenset[str] | None = None,
    ) -> Plan:
        """What to grade: everyone not finished before (or everyone with ``force``), or only ``students``.

        A stored result is kept when its fingerprint matches the submission and the source as they are now
        and it is not a grader fault (those are retried). With ``students`` the named students are graded
        again and everyone else keeps the stored result (even if the source changed since: a fixed test
        re-grades only who asked); a student with no stored result is left out of this run's reports.
        """
        todo, done = [], {}
        for sub in subs:
            if students is not None:
                previous = None if sub.student_id in students else self.stored(sub.student_id)
                if previous is not None:
                    done[sub.student_id] = previous
                elif sub.student_id in students:
                    todo.append(sub)
                continue
            previous = None if force else self.stored(sub.student_id)
            unchanged = previous is not None and previous.fingerprint == fingerprint(sub, assignment)
            if previous is not None and unchanged and not previous.grader_error:  # a grader fault is retried
                done[sub.student_id] = previous
                continue
            todo.append(sub)
        return Plan(todo, done)


def stored_results(out: Path) -> list[SubmissionResult] | None:
    """Every result stored under ``out`` (in file-name order), or None when nothing was ever graded there.

    Raises:
        ValueError, KeyError, TypeError: a state file is not a result.
    """
    folder = out / STATE_DIR
    if not folder.is_dir():
        return None
    return [
        SubmissionResult.from_dict(json.loads(p.read_text(encoding="utf-8")))
        for p in sorted(folder.glob("*.json"))
    ]
