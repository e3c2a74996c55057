"""Results are values: frozen dataclasses every other module speaks (reports, gradebook, CLI).

A submission that cannot be graded is still a :class:`SubmissionResult`, with ``status`` ``failed`` and
a ``reason``; it is never a silent zero. ``total`` and ``max_total`` count the automatically graded
points only; manually graded cells carry ``points=None`` until an instructor enters a score.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with every lone UTF-16 surrogate (unencodable in UTF-8) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


class Status(enum.StrEnum):
    """Whether a submission was graded."""

    GRADED = "graded"
    FAILED = "failed"


@dataclass(frozen=True)
class CellResult:
    """The verdict on one graded cell.

    Attributes:
        grade_id: nbgrader's ``grade_id`` of the cell.
        points: points earned; ``None`` for a manually graded cell awaiting review.
        max_points: points available.
        passed: for an autograded test, whether it passed; ``None`` for manual cells.
        message: what a student reads (an error's type and message, never hidden test code).
        manual: whether the cell is graded by a person.
        comment: the grader's comment (nbgrader's ``Comment.manual_comment``), shown in the feedback.
        overridden: an instructor replaced the tests' points (``Grade.manual_score`` on a test cell).
        auto_points: the tests' points when ``overridden``.
        override_reason: why the points were overridden (``autograder review --override REASON``).
    """

    grade_id: str
    points: float | None
    max_points: float
    passed: bool | None
    message: str = ""
    manual: bool = False
    comment: str = ""
    overridden: bool = False
    auto_points: float | None = None
    override_reason: str = ""


@dataclass(frozen=True)
class Grading:
    """What a person decided about one cell, as stored in the gradebook.

    Attributes:
        points: ``Grade.manual_score`` (None: nobody entered points); on a test cell it overrides the tests.
        comment: ``Comment.manual_comment`` (formgrader's comment box), or ``""``.
        reason: why a test cell's points were overridden, or ``""``.
    """

    points: float | None = None
    comment: str = ""
    reason: str = ""


@dataclass(frozen=True)
class LmsIdentity:
    """Who a submission belongs to, as the LMS download named it (Canvas file names)."""

    name: str
    user_id: str
    submission_id: str
    late: bool = False
    filename: str = ""


@dataclass(frozen=True)
class SubmissionResult:
    """The outcome for one student.

    Attributes:
        student_id: the student's id (folder name, or the LMS user id).
        status: ``graded`` or ``failed``.
        reason: why it failed, or notes on a graded submission (restored cells, time limits).
        cells: one result per graded cell of the source notebook, in notebook order.
        lms: the LMS identity when the submission came from an LMS download.
        fingerprint: digest of the inputs; a re-run skips students whose fingerprint is unchanged.
        grader_error: the submission failed because of a fault in the grader, not in the notebook (the
            reason says where the details are); a re-run grades it again.
    """

    student_id: str
    status: Status
    reason: str = ""
    cells: tuple[CellResult, ...] = ()
    lms: LmsIdentity | None = None
    fingerprint: str = ""
    grader_error: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def total(self) -> float:
        """Automatically graded points earned."""
        return float(sum(c.points or 0.0 for c in self.cells if not c.manual))

    @property
    def max_total(self) -> float:
        """Automatically graded points available."""
        return float(sum(c.max_points for c in self.cells if not c.manual))

    @property
    def manual_max(self) -> float:
        """Points in manually graded cells."""
        return float(sum(c.max_points for c in self.cells if c.manual))

    @property
    def manual_total(self) -> float:
        """Points entered so far for manually graded cells."""
        return float(sum(c.points or 0.0 for c in self.cells if c.manual))

    @property
    def manual_pending(self) -> float:
        """Points of manually graded cells nobody has graded yet."""
        return float(sum(c.max_points for c in self.cells if c.manual and c.points is None))

    def with_grading(self, grading: Mapping[str, Grading]) -> SubmissionResult:
        """This result with a person's decisions merged in (``{grade_id: Grading}`` from the gradebook).

        Entered points replace a written answer's ``None`` and override a test's points (``overridden``,
        the tests' points kept in ``auto_points``); comments and reasons travel with their cell.
        """
        if self.status is not Status.GRADED or not grading:
            return self
        cells = []
        for cell in self.cells:
            entry = grading.get(cell.grade_id)
            if entry is None:
                cells.append(cell)
                continue
            changes: dict[str, Any] = {"comment": entry.comment}
            if entry.points is not None:
                changes["points"] = entry.points
                if cell.manual:
                    changes["message"] = "graded by hand"  # no longer "awaiting review"
                else:
                    changes.update(overridden=True, auto_points=cell.points, override_reason=entry.reason)
            cells.append(replace(cell, **changes))
        return replace(self, cells=tuple(cells))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``from_dict`` reads it back)."""
        data = asdict(self)
        data["status"] = str(self.status)
        data.pop("extra")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        """Rebuild a result written by :meth:`to_dict`."""
        return cls(
            student_id=data["student_id"],
            status=Status(data["status"]),
            reason=data.get("reason", ""),
            cells=tuple(CellResult(**cell) for cell in data.get("cells", ())),
            lms=LmsIdentity(**data["lms"]) if data.get("lms") else None,
            fingerprint=data.get("fingerprint", ""),
            grader_error=bool(data.get("grader_error", False)),
        )
