"""Is OUT/summary.html written by every batch, offline and inert, with the numbers grades.csv holds?"""

from __future__ import annotations

import csv
import html
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from autograder.results import CellResult, Status, SubmissionResult
from autograder.summary import POLICY, render


def _rows(page: str, table: str) -> list[list[str]]:
    block = re.search(rf'<table id="{re.escape(table)}">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", block, re.S)[1:]
    return [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row, re.S)] for row in rows]


@pytest.mark.slow
def test_every_batch_writes_a_summary_whose_numbers_match_grades_csv(toy_batch):
    page = (toy_batch / "summary.html").read_text(encoding="utf-8")
    with open(toy_batch / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    graded = [r for r in rows if r["status"] == "graded"]
    assert {s: int(n) for s, n in _rows(page, "score-distribution")} == Counter(r["score"] for r in graded)
    cells = json.loads((toy_batch / "results.json").read_text())["students"]
    for test, passed, count, _rate in _rows(page, "pass-rates"):
        verdicts = [s["cells"][test]["passed"] for s in cells.values() if s["status"] == "graded"]
        assert (int(passed), int(count)) == (sum(verdicts), len(verdicts))
    assert _rows(page, "failed-by-reason") == [["not a notebook", "1", "not-json"]]
    pending = {g: int(n) for g, n, _who in _rows(page, "manual-pending")}
    assert pending == {"explain": sum(r["explain (manual)"] == "awaiting review" for r in rows)}
    softmax = _rows(page, "messages-softmax-test")
    assert ["AssertionError: softmax overflows: subtract the maximum first", "1"] in softmax


@pytest.mark.slow
def test_the_page_is_offline_scriptless_and_its_plots_have_alt_text(toy_batch):
    page = (toy_batch / "summary.html").read_text(encoding="utf-8")
    assert f'content="{POLICY}"' in page
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    images = re.findall(r"<img ([^>]*)>", page)
    assert len(images) == 2
    for attributes in images:
        assert 'src="data:image/png;base64,' in attributes
        alt = html.unescape(re.search(r'alt="([^"]*)"', attributes).group(1))
        assert alt.startswith(("Bar chart of the autograded score distribution", "Horizontal bar chart"))


def test_hostile_ids_messages_and_reasons_are_escaped():
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    results = [
        SubmissionResult(
            f"{evil}-a",
            Status.GRADED,
            cells=(
                CellResult("t", 0.0, 1.0, False, message=f"ValueError: {evil}"),
                CellResult("w", None, 1.0, None, manual=True),
            ),
        ),
        SubmissionResult(f"{evil}-b", Status.FAILED, reason=f"not a notebook: {evil}"),
        SubmissionResult("c", Status.FAILED, reason=f"{evil}: odd"),
    ]
    page = render(f"hw{evil}", results)
    assert "<script" not in page and "<img src=x" not in page and "onerror=alert(2)>" not in page
    assert html.escape(f"ValueError: {evil}") in page
    assert html.escape(f"{evil}-b") in page and html.escape(f"{evil}-a") in page


def test_an_empty_class_still_gets_a_page(tmp_path: Path):
    page = render("toy", [])
    assert "0 submissions" in page and "Nothing is awaiting review" in page
