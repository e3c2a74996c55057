"""Does the grader survive a batch of hostile uploads, say why it refused each one, and keep every page inert?

``tests/fuzz_uploads.py`` writes one batch (a fixed seed): every mutation kind alone once, then each again
with one or two others, plus controls whose scores are known. The batch is graded ONCE with the installed
command (``--workers 2``, strict sandbox), and re-graded once without ``--force``; the questions below read
what it wrote. A failure names each student's mutations; reproduce one class or one kind with::

    python tests/fuzz_uploads.py --out /tmp/fuzz --classes unicode --count 16 --grade
    python tests/fuzz_uploads.py --out /tmp/fuzz --mutation json.deep-nesting --count 1 --grade --one-by-one
"""

from __future__ import annotations

import html
import subprocess
from pathlib import Path

import fuzz_uploads as fuzz
import pytest

SEED = 17
COUNT = 2 * len(fuzz.MUTATIONS)  # each kind alone, then each again in company


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> fuzz.GradedBatch:
    """The batch, graded once (its wall time is in ``graded.seconds``)."""
    batch = fuzz.generate(tmp_path_factory.mktemp("fuzz"), seed=SEED, count=COUNT)
    result = fuzz.grade(batch, batch.folder / "out", workers=2)
    print(f"\nfuzz batch: {len(batch.students)} submissions graded in {result.seconds:.1f} s")
    return result


def _with_reports(graded: fuzz.GradedBatch) -> fuzz.GradedBatch:
    """The graded batch, or a failure that says the whole batch aborted and who never got a result."""
    if graded.rows is None:
        pytest.fail(fuzz.abort_summary(graded), pytrace=False)
    return graded


def _none(problems: list[str], what: str) -> None:
    assert not problems, f"{len(problems)} {what}:\n" + "\n".join(problems)


# The generator -------------------------------------------------------------------------------------


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first = fuzz.generate(tmp_path / "a", seed=SEED, count=30)
    again = fuzz.generate(tmp_path / "b", seed=SEED, count=30)
    other = fuzz.generate(tmp_path / "c", seed=SEED + 1, count=30)
    assert first.manifest == again.manifest
    assert fuzz.tree_digest(first.subs) == fuzz.tree_digest(again.subs)
    assert other.manifest["students"] != first.manifest["students"]
    assert fuzz.tree_digest(other.subs) != fuzz.tree_digest(first.subs)


def test_the_batch_covers_every_class_and_every_mutation_alone() -> None:
    students = [fuzz.make_upload(SEED, i, list(fuzz.MUTATIONS.values()))[1] for i in range(COUNT)]
    assert COUNT >= 100
    assert all(1 <= len(applied) <= 3 for applied in students)
    alone = {applied[0]["name"] for applied in students if len(applied) == 1}
    assert alone == set(fuzz.MUTATIONS), f"never applied alone: {sorted(set(fuzz.MUTATIONS) - alone)}"
    assert {m["class"] for applied in students for m in applied} == set(fuzz.CLASSES)


def test_the_live_markup_check_flags_what_a_browser_would_run_and_passes_escaped_text() -> None:
    page = "<!DOCTYPE html><html><head><script src='require.js'></script></head><body>{}</body></html>"
    for name, payload in fuzz.PAYLOADS.items():
        if not name.startswith("markdown-"):  # markdown: live only once rendered
            assert fuzz.live_markup(page.format(payload)), name
        assert fuzz.live_markup(page.format(f"<pre>{html.escape(payload)}</pre>")) == [], name
    assert fuzz.live_markup(page.format('<a href=" JaVa\tScRiPt:alert(1)">x</a>'))
    assert fuzz.live_markup(page.format(fuzz.SVG_OPEN + "</svg>"))


# The graded batch ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_command_finishes_with_exit_0_or_1_and_no_traceback(graded: fuzz.GradedBatch) -> None:
    problems = fuzz.traceback_problems(graded)
    if graded.rows is None:
        problems.append(fuzz.abort_summary(graded))
    _none(problems, "problem(s) with the run")


@pytest.mark.slow
def test_every_student_has_one_row_in_grades_csv_and_in_results_json(graded: fuzz.GradedBatch) -> None:
    _none(fuzz.row_problems(_with_reports(graded)), "missing or extra rows")


@pytest.mark.slow
def test_the_gradebook_holds_every_graded_submission(graded: fuzz.GradedBatch) -> None:
    _none(fuzz.gradebook_problems(_with_reports(graded)), "gradebook problem(s)")


@pytest.mark.slow
def test_every_failed_row_gives_a_sentence_not_an_exception_as_its_reason(graded: fuzz.GradedBatch) -> None:
    _none(fuzz.reason_problems(_with_reports(graded)), "failed row(s) without a sentence as reason")


@pytest.mark.slow
def test_no_score_exceeds_the_maximum_and_no_failed_row_has_a_score(graded: fuzz.GradedBatch) -> None:
    _none(fuzz.score_problems(_with_reports(graded)), "score problem(s)")


@pytest.mark.slow
def test_no_mutation_turns_a_blank_notebook_into_points(graded: fuzz.GradedBatch) -> None:
    _none(fuzz.blank_problems(_with_reports(graded)), "blank notebook(s) with points")


@pytest.mark.slow
def test_controls_keep_their_scores(graded: fuzz.GradedBatch) -> None:
    _none(fuzz.control_problems(_with_reports(graded)), "control(s) with another score")


@pytest.mark.slow
def test_a_correct_notebook_with_only_harmless_mutations_keeps_full_marks(graded: fuzz.GradedBatch) -> None:
    _none(fuzz.harmless_problems(_with_reports(graded)), "harmless mutation(s) that cost points")


@pytest.mark.slow
def test_no_hidden_test_line_reaches_a_page_or_a_report(graded: fuzz.GradedBatch) -> None:
    _none(fuzz.hidden_problems(graded), "hidden test line(s) shown")


@pytest.mark.slow
def test_every_student_gets_one_feedback_page(graded: fuzz.GradedBatch) -> None:
    _none(fuzz.page_problems(graded), "student(s) without exactly one page")


@pytest.mark.slow
def test_no_feedback_page_holds_live_markup_from_a_submission(graded: fuzz.GradedBatch) -> None:
    assert fuzz.feedback_pages(graded.out), "no feedback page was written"
    _none(fuzz.markup_problems(graded), "page(s) with live submitted markup")


@pytest.mark.slow
def test_a_rerun_without_force_regrades_nothing_and_changes_no_byte(graded: fuzz.GradedBatch) -> None:
    _with_reports(graded)
    before = fuzz.snapshot(graded.out)
    done = subprocess.run(
        fuzz.grade_command(graded.batch, graded.out), cwd=fuzz.ROOT, capture_output=True, text=True,
        errors="replace", timeout=600,
    )  # fmt: skip
    assert done.returncode == graded.done.returncode, done.stderr[-2000:]
    folders = sum(entry.get("rows", 1) for entry in graded.batch.students.values())  # twins are two folders
    assert f"{folders} submission(s) already graded" in done.stderr, done.stderr[-2000:]
    after = fuzz.snapshot(graded.out)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert changed == [], f"a re-run changed {changed[:20]}"
