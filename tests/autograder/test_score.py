"""Does scoring tell an answer left as released from an edited one exactly as nbgrader does?

The grader computes nbgrader's cell checksum itself (importing nbgrader costs every grading process its
Jupyter server extensions); it must agree with nbgrader's own ``compute_checksum`` on every graded cell
of the course's assignments and of the toy, as released and as a student may change them.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from nbgrader.utils import compute_checksum

from autograder.sandbox import Execution
from autograder.source import load_assignment, nb_meta
from autograder.steps.restore import restore
from autograder.steps.score import checksum, score

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "solutions" / name for name in ("hw1_backprop", "hw2_mnist", "hw3_imdb")]
SOURCES.append(ROOT / "tests" / "fixtures" / "autograder" / "source" / "toy")


def _variants(cell):
    """The cell as released, and as a student (or a damaged file) may have changed it."""
    yield cell
    for change in (
        lambda c: setattr(c, "source", c.source + "\n# my answer"),
        lambda c: setattr(c, "source", ""),
        lambda c: setattr(c, "source", c.source.replace("\n", "\r\n") + " é ✓"),
        lambda c: setattr(c, "cell_type", "markdown" if c.cell_type == "code" else "code"),
        lambda c: c.metadata.nbgrader.update(grade=1, points="3"),
        lambda c: c.metadata.nbgrader.update(solution=0, locked="yes"),
        lambda c: c.metadata.nbgrader.pop("grade", None),
    ):
        changed = copy.deepcopy(cell)
        change(changed)
        yield changed


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_the_checksum_is_nbgraders_on_every_graded_cell(source):
    assignment = load_assignment(source, root=ROOT)
    graded = [
        c for nb in (assignment.master, assignment.release) for c in nb.cells if nb_meta(c).get("grade_id")
    ]
    assert graded
    for cell in graded:
        for variant in _variants(cell):
            assert checksum(variant) == compute_checksum(variant)
    for cell in assignment.release.cells:  # what nbgrader stored when releasing it
        if "checksum" in nb_meta(cell):
            assert checksum(cell) == nb_meta(cell)["checksum"]


def test_a_written_answer_left_as_released_earns_nothing_and_an_edited_one_awaits_review(toy):
    manual = next(s for s in toy.specs if s.role == "manual")
    released = copy.deepcopy(toy.release)
    answered = copy.deepcopy(toy.release)
    next(c for c in answered.cells if nb_meta(c).get("grade_id") == manual.grade_id).source = "Because..."
    finished = Execution()  # nothing ran: a written answer is scored on its text alone
    verdicts = []
    for nb in (released, answered):
        restored, _ = restore(nb, toy)
        verdicts.append(next(c for c in score(restored, toy, finished) if c.grade_id == manual.grade_id))
    assert (verdicts[0].points, verdicts[0].message) == (0.0, "no answer")
    assert (verdicts[1].points, verdicts[1].message) == (None, "awaiting review")
