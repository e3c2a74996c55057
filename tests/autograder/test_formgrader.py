"""Can an instructor grade written answers in nbgrader's own formgrader, and do the scores flow back?

``autograder formgrader`` prepares the output folder; nbgrader's formgrader (a Jupyter server extension)
is started headless on it once, its REST API lists our submission and takes a score and a comment the
way its Manual Grading page sends them; ``autograder report`` then carries them to every output.
"""

from __future__ import annotations

import csv

import pytest
from conftest import TOY, autograder_cli, formgrader_server


@pytest.fixture
def formgrader(toy_out, tmp_path):
    done = autograder_cli("formgrader", str(TOY), str(toy_out))
    assert done.returncode == 0, done.stderr
    assert "jupyter lab" in done.stderr
    with formgrader_server(toy_out, tmp_path) as server:
        yield toy_out, server


@pytest.mark.slow
def test_formgrader_lists_our_submission_and_its_scores_reach_the_canvas_export(formgrader):
    out, server = formgrader
    config = (out / "nbgrader_config.py").read_text()
    assert "gradebook.db" in config and str(out) not in config  # relative to the file, never absolute
    assert (out / "source" / "toy" / "toy.ipynb").is_file()
    submissions = {s["student"]: s for s in server.call("/formgrader/api/submitted_notebooks/toy/toy")}
    assert set(submissions) == {"correct", "untouched", "partially-wrong"}  # not-json has no grades
    correct = submissions["correct"]
    assert correct["needs_manual_grade"] is True
    page = server.call(f"/formgrader/submissions/{correct['id']}")  # the Manual Grading page renders it
    assert "explain" in page and "Shifting every logit" in page
    assert "cdnjs" not in page and "../../files/feedback/_static/mathjax/tex-chtml.js" in page
    script = server.call("/files/feedback/_static/mathjax/tex-chtml.js")  # the page's relative address
    assert script == (out / "feedback" / "_static" / "mathjax" / "tex-chtml.js").read_text()
    grades = {g["name"]: g for g in server.call(f"/formgrader/api/grades?submission_id={correct['id']}")}
    server.call(f"/formgrader/api/grade/{grades['explain']['id']}", "PUT", {"manual_score": 1})
    comments = {c["name"]: c for c in server.call(f"/formgrader/api/comments?submission_id={correct['id']}")}
    server.call(f"/formgrader/api/comment/{comments['explain']['id']}", "PUT", {"manual_comment": "Why c?"})

    done = autograder_cli("report", str(TOY), str(out))
    assert done.returncode == 0, done.stderr
    with open(out / "grades.csv", newline="") as handle:
        row = {r["student_id"]: r for r in csv.DictReader(handle)}["correct"]
    assert row["explain (manual)"] == "1"
    with open(out / "canvas-toy.csv", newline="") as handle:
        assert {r["ID"]: r["toy"] for r in csv.DictReader(handle)}["correct"] == "6"
    assert "Why c?" in (out / "feedback" / "correct" / "toy.html").read_text()
