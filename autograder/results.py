"""Results are values: frozen dataclasses every other module speaks (reports, gradebook, CLI).

A submission that cannot be graded is still a :class:`SubmissionResult`, with ``status`` ``failed`` and
a ``reason``; it is never a silent zero. ``total`` and ``max_total`` count the automatically graded
points only; manually graded cells carry ``points=None`` until an instructor enters a score.
"""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass, field
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
    """

    grade_id: str
    points: float | None
    max_points: float
    passed: bool | None
    message: str = ""
    manual: bool = False


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
