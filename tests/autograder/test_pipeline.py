"""Does one submission's pipeline turn a sandbox that cannot start into a failed result with its reason,
never a zero?
"""

from __future__ import annotations

import pytest
from conftest import TOY_SUBMISSIONS as SUBMISSIONS

from autograder import sandbox


@pytest.mark.parametrize("broken", ["student", "verifier"])
def test_a_sandbox_that_cannot_start_fails_the_submission_with_the_reason_never_a_zero(toy, broken):
    from autograder.collect import Submission
    from autograder.pipeline import grade_submission
    from autograder.results import Status

    def start_runner(role: str) -> sandbox.Runner:
        preload = ("numpy", "no_such_module_for_the_test") if role == broken else ("numpy",)
        return sandbox.start(limits=sandbox.Limits(cell_timeout=5.0), preload=preload, role=role)

    sub = Submission(student_id="s1", notebook=SUBMISSIONS / "correct.ipynb")
    graded = grade_submission(sub, toy, start_runner=start_runner)
    assert graded.result.status == Status.FAILED and graded.result.cells == ()  # no score, no zero
    assert graded.result.reason.startswith("grading failed: ")
    assert "did not start" in graded.result.reason or "exited" in graded.result.reason
    assert "No module named 'no_such_module_for_the_test'" in graded.result.reason
