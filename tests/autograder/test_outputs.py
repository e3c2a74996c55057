"""Do feedback pages, grades.csv and the Canvas export follow what people decided in the gradebook?

Scores are entered the way formgrader writes them (nbgrader's Gradebook API: ``Grade.manual_score``,
``Comment.manual_comment``) or with ``autograder review``; every output is then derived from the gradebook.
"""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from conftest import TOY, TOY_SUBMISSIONS, autograder_cli, autograder_in_process


def grades(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def canvas(out: Path) -> dict[str, str]:
    with open(out / "canvas-toy.csv", newline="", encoding="utf-8") as handle:
        return {row["ID"]: row["toy"] for row in csv.DictReader(handle)}


def page_text(out: Path, student: str) -> str:
    page = (out / "feedback" / student / "toy.html").read_text(encoding="utf-8")
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def formgrader_writes(out: Path, student: str, cell: str, *, points: float, comment: str) -> None:
    """What formgrader does when an instructor types points and a comment (nbgrader's own API)."""
    from nbgrader.api import Gradebook

    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        gb.find_grade(cell, "toy", "toy", student).manual_score = points
        gb.find_comment(cell, "toy", "toy", student).manual_comment = comment
        gb.db.commit()


@pytest.mark.slow
def test_a_score_and_comment_typed_in_formgrader_reach_every_output_after_report(toy_out, toy):
    assert "awaiting review" in page_text(toy_out, "correct")
    assert autograder_cli("export", "toy", str(toy_out)).returncode == 0
    assert canvas(toy_out)["correct"] == "5"
    formgrader_writes(toy_out, "correct", "explain", points=1.5, comment="Good, but <b>say why</b> exp(-c)")
    assert autograder_cli("export", "toy", str(toy_out)).returncode == 0  # export reads the gradebook itself
    assert canvas(toy_out)["correct"] == "6.5"
    done = autograder_cli("report", str(TOY), str(toy_out))
    assert done.returncode == 0, done.stderr
    row = grades(toy_out)["correct"]
    assert (row["explain (manual)"], row["manual_pending"]) == ("1.5", "0")
    assert canvas(toy_out)["correct"] == "6.5"
    text = page_text(toy_out, "correct")
    assert "awaiting review" not in text
    assert "written answers: 1.5 / 2" in text
    assert "Comment from your grader" in text and "Good, but <b>say why</b> exp(-c)" in text
    raw = (toy_out / "feedback" / "correct" / "toy.html").read_text(encoding="utf-8")
    assert "<b>say why</b>" not in raw  # the comment is text, not markup
    for line in toy.hidden_lines:  # the page was concealed again before rendering
        assert line not in raw and html.escape(line) not in raw and html.escape(line, quote=False) not in raw
    summary = (toy_out / "summary.html").read_text(encoding="utf-8")
    assert "correct" not in re.search(r'<table id="manual-pending">.*?</table>', summary, re.S).group(0)


@pytest.mark.slow
def test_review_rewrites_the_feedback_page_and_the_export_at_once(toy_out):
    assert autograder_cli("export", "toy", str(toy_out)).returncode == 0
    done = autograder_cli(
        "review", str(TOY), str(toy_out), "--student", "partially-wrong", "--cell", "explain", "--points", "2"
    )
    assert done.returncode == 0, done.stderr
    assert grades(toy_out)["partially-wrong"]["explain (manual)"] == "2"
    assert canvas(toy_out)["partially-wrong"] == "4"  # 2 autograded + 2 by hand
    text = page_text(toy_out, "partially-wrong")
    assert "explain (written answer): 2 / 2" in text and "awaiting review" not in text
    cleared = autograder_cli(
        "review", str(TOY), str(toy_out), "--student", "partially-wrong", "--cell", "explain", "--clear"
    )
    assert cleared.returncode == 0, cleared.stderr
    assert grades(toy_out)["partially-wrong"]["explain (manual)"] == "awaiting review"
    assert "awaiting review" in page_text(toy_out, "partially-wrong")


@pytest.mark.slow
def test_an_override_needs_a_reason_is_shown_everywhere_and_survives_a_regrade(toy_out, tmp_path):
    args = ("review", str(TOY), str(toy_out), "--student", "partially-wrong", "--cell", "softmax-test")
    refused = autograder_in_process(*args, "--points", "3")
    assert refused.exit_code == 2 and "--override" in refused.stderr
    done = autograder_cli(*args, "--points", "3", "--override", "the overflow test was released late")
    assert done.returncode == 0, done.stderr
    row = grades(toy_out)["partially-wrong"]
    assert row["score"] == "5"
    assert row["overrides"] == "softmax-test: 0 -> 3 (the overflow test was released late)"
    text = page_text(toy_out, "partially-wrong")
    assert "Points set by your instructor (the tests gave 0): the overflow test was released late" in text
    # A forced re-grade of the whole class keeps the override (nbgrader's manual_score is never overwritten).
    subs = tmp_path / "subs"
    for student in ("partially-wrong", "correct"):
        (subs / student).mkdir(parents=True)
        shutil.copyfile(TOY_SUBMISSIONS / f"{student}.ipynb", subs / student / "toy.ipynb")
    regrade = autograder_cli("grade", str(TOY), str(subs), "--out", str(toy_out), "--force")
    assert regrade.returncode == 0, regrade.stderr
    assert grades(toy_out)["partially-wrong"]["overrides"].startswith("softmax-test: 0 -> 3")
    assert "Points set by your instructor" in page_text(toy_out, "partially-wrong")


@pytest.mark.slow
def test_students_regrades_only_the_named_students_and_keeps_the_others(toy_out, tmp_path):
    subs = tmp_path / "subs"
    for student in ("correct", "untouched", "partially-wrong", "not-json"):
        (subs / student).mkdir(parents=True)
        shutil.copyfile(TOY_SUBMISSIONS / f"{student}.ipynb", subs / student / "toy.ipynb")
    before = {p.name: p.stat().st_mtime_ns for p in (toy_out / ".state").glob("*.json")}
    # A late upload: untouched sends the right answers, and one more student appears.
    shutil.copyfile(TOY_SUBMISSIONS / "correct.ipynb", subs / "untouched" / "toy.ipynb")
    (subs / "late").mkdir()
    shutil.copyfile(TOY_SUBMISSIONS / "partially-wrong.ipynb", subs / "late" / "toy.ipynb")
    done = autograder_cli("grade", str(TOY), str(subs), "--out", str(toy_out), "--students", "untouched,late")
    assert done.returncode == 1, done.stderr  # not-json is still failed (kept, not re-graded)
    after = {p.name: p.stat().st_mtime_ns for p in (toy_out / ".state").glob("*.json")}
    assert after["untouched.json"] != before["untouched.json"]
    assert {k: after[k] for k in ("correct.json", "partially-wrong.json", "not-json.json")} == {
        k: before[k] for k in ("correct.json", "partially-wrong.json", "not-json.json")
    }
    rows = grades(toy_out)
    assert set(rows) == {"correct", "untouched", "partially-wrong", "not-json", "late"}
    assert (rows["untouched"]["score"], rows["late"]["score"], rows["correct"]["score"]) == ("5", "2", "5")
    unknown = autograder_in_process(
        "grade", str(TOY), str(subs), "--out", str(toy_out), "--students", "nobody"
    )
    assert unknown.exit_code == 2 and "no submission for nobody" in unknown.stderr


@pytest.mark.slow
def test_results_json_carries_comments_and_overrides(toy_out):
    import json

    formgrader_writes(toy_out, "correct", "explain", points=2, comment="Exactly.")
    assert autograder_cli("report", str(TOY), str(toy_out)).returncode == 0
    cells = json.loads((toy_out / "results.json").read_text())["students"]["correct"]["cells"]
    assert cells["explain"]["points"] == 2 and cells["explain"]["comment"] == "Exactly."
