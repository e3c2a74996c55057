"""Does the autograder grade the real hw1 the way the course intends (full marks, zero, the right losses)?"""

from __future__ import annotations

import copy
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.source import load_assignment, nb_meta

ROOT = Path(__file__).resolve().parents[1]
HW = "hw1_backprop"


def _solved() -> nbformat.NotebookNode:
    """The released notebook with the source's answers typed in (what a perfect student hands in)."""
    release = load_assignment(HW, root=ROOT).release
    source = nbformat.read(ROOT / "solutions" / HW / f"{HW}.ipynb", as_version=4)
    answers = {nb_meta(c).get("grade_id"): c.source for c in source.cells if nb_meta(c).get("solution")}
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if nb_meta(cell).get("solution") and nb_meta(cell).get("grade_id") in answers:
            cell.source = answers[nb_meta(cell)["grade_id"]]
    return nb


@pytest.mark.slow
def test_hw1_solution_full_marks_untouched_zero_and_a_wrong_answer_loses_its_cells(tmp_path):
    subs = tmp_path / "subs"
    for student in ("solved", "untouched", "missing-w-oj"):
        (subs / student).mkdir(parents=True)
    nbformat.write(_solved(), subs / "solved" / f"{HW}.ipynb")
    shutil.copyfile(ROOT / "assignments" / HW / f"{HW}.ipynb", subs / "untouched" / f"{HW}.ipynb")
    shutil.copyfile(
        ROOT / "tests" / "fixtures" / "submissions" / HW / "missing-w-oj.ipynb",
        subs / "missing-w-oj" / f"{HW}.ipynb",
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", HW, str(subs), "--out", str(out), "--workers", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {r["student_id"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert rows["solved"]["score"] == rows["solved"]["max_score"] != "0"
    assert rows["untouched"]["score"] == "0"
    cells = json.loads((out / "results.json").read_text())["students"]["missing-w-oj"]["cells"]
    failing = {grade_id for grade_id, cell in cells.items() if cell["passed"] is False}
    assert failing == {"hidden-layer-grads", "training"}
    assert "missing w_oj factor" in cells["hidden-layer-grads"]["message"]
