"""Does reading an upload turn every malformed shape into a sentence, and repair what is harmless?"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import TOY_SUBMISSIONS, read_toy

from autograder.errors import SubmissionError
from autograder.steps.read import check_structure, read_notebook

CORRECT = TOY_SUBMISSIONS / "correct.ipynb"
EXCEPTION_NAMES = re.compile(r"\b\w*(Error|Exception)\b|Traceback|internal error")


def _notebook() -> dict:
    return json.loads(CORRECT.read_text(encoding="utf-8"))


def _answer_index(nb: dict) -> int:
    return next(
        i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == "square"
    )


def _write(tmp_path: Path, data: str | bytes) -> Path:
    path = tmp_path / "toy.ipynb"
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def _mutated(change) -> str:
    nb = _notebook()
    change(nb, _answer_index(nb))
    return json.dumps(nb)


def _set(path: tuple, value):
    def change(nb: dict, answer: int) -> None:
        target = nb
        keys = [answer if key == "ANSWER" else key for key in path]
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def _deep(levels: int) -> str:
    nb = _notebook()
    nb["metadata"]["x"] = "DEEP"
    return json.dumps(nb).replace('"DEEP"', "[" * levels + "]" * levels)


REFUSED = {  # upload -> what the reason must say
    "truncated": (lambda: json.dumps(_notebook())[:-200], "invalid JSON"),
    "latin-1": (
        lambda: json.dumps(_notebook(), ensure_ascii=False).replace("Toy", "Töy").encode("latin-1"),
        "not UTF-8 text (byte 0xf6 at position",
    ),
    "nested-200000": (lambda: _deep(200_000), "nested more than 100 levels deep"),
    "nested-150": (lambda: _deep(150), "nested more than 100 levels deep"),
    "5000-digit-number": (
        lambda: json.dumps(_notebook()).replace('"nbformat_minor": 5', '"nbformat_minor": ' + "9" * 5000),
        "a number with thousands of digits",
    ),
    "minor-infinity": (
        lambda: json.dumps(_notebook()).replace('"nbformat_minor": 5', '"nbformat_minor": Infinity'),
        "(nbformat_minor) is Infinity, not a whole number",
    ),
    "minor-text": (lambda: _mutated(_set(("nbformat_minor",), "5")), "(nbformat_minor) is text"),
    "nbformat-true": (
        lambda: _mutated(_set(("nbformat",), True)),
        "wrong notebook format: nbformat true/false",
    ),
    "json-list": (lambda: "[1, 2]", "the file's JSON is a list, not an object"),
    "cells-dict": (lambda: _mutated(_set(("cells",), {})), "no list of cells (found an object)"),
    "cell-number": (lambda: _mutated(_set(("cells", 0), 42)), "cell 1 is damaged: it is a number"),
    "cell-type-null": (lambda: _mutated(_set(("cells", "ANSWER", "cell_type"), None)), "its type is null"),
    "cell-type-unknown": (
        lambda: _mutated(_set(("cells", "ANSWER", "cell_type"), "heading")),
        "its type is 'heading', not code, markdown or raw",
    ),
    "source-number": (lambda: _mutated(_set(("cells", "ANSWER", "source"), 7)), "('source') is a number"),
    "source-list-int": (
        lambda: _mutated(_set(("cells", "ANSWER", "source"), ["a", 1])),
        "('source') is a list holding a number",
    ),
}


@pytest.mark.parametrize("upload", sorted(REFUSED))
def test_a_damaged_upload_is_refused_with_a_sentence_that_says_where(tmp_path, upload):
    make, expected = REFUSED[upload]
    with pytest.raises(SubmissionError) as caught:
        read_notebook(_write(tmp_path, make()), max_bytes=10**8)
    reason = caught.value.reason
    assert expected in reason
    assert not EXCEPTION_NAMES.search(reason), reason
    assert "Jupyter" in reason or "cell" in reason  # it says what to do or where


def test_a_lone_surrogate_is_repaired_and_named(tmp_path):
    """Is a JSON ``\\udcff`` escape (some editors write it) replaced, with a note naming the cell?"""
    text = _mutated(
        lambda nb, i: nb["cells"][i].update(source="# SURROGATE\ndef square(x):\n    return x * x")
    )
    nb, notes = read_notebook(_write(tmp_path, text.replace("SURROGATE", "\\udcff")), max_bytes=10**8)
    answer = _answer_index(_notebook())
    assert nb.cells[answer].source.startswith("# \ufffd\n")
    assert notes == [
        f"cell(s) {answer + 1} held characters that are not valid Unicode (unpaired surrogates, which some "
        "editors write); each was replaced by \ufffd"
    ]
    nb.cells[answer].source.encode("utf-8")  # storable


@pytest.mark.parametrize("codec", ["utf-16", "utf-8-sig", "utf-32"])
def test_a_notebook_saved_with_a_byte_order_mark_is_read(tmp_path, codec):
    nb, notes = read_notebook(_write(tmp_path, json.dumps(_notebook()).encode(codec)), max_bytes=10**8)
    assert len(nb.cells) == len(_notebook()["cells"])
    assert notes == (
        []
        if codec == "utf-8-sig"
        else [f"the file was saved as {codec.upper()} text, not UTF-8; it was converted"]
    )


def test_line_endings_become_newlines(tmp_path):
    def crlf(nb: dict, answer: int) -> None:
        for cell in nb["cells"]:
            cell["source"] = "".join(cell["source"]).replace("\n", "\r\n")
        nb["cells"][answer]["source"] = "def square(x):\r    return x * x\r"

    nb, notes = read_notebook(_write(tmp_path, _mutated(crlf)), max_bytes=10**8)
    assert all("\r" not in cell.source for cell in nb.cells)
    assert nb.cells[_answer_index(_notebook())].source == "def square(x):\n    return x * x\n"
    assert notes == []


@pytest.mark.parametrize(
    ("change", "note"),
    [
        (_set(("cells", "ANSWER", "metadata", "nbgrader", "grade_id"), ["square"]), "its grade_id is a list"),
        (_set(("cells", "ANSWER", "metadata", "nbgrader", "grade_id"), ""), "its grade_id is empty"),
        (_set(("cells", "ANSWER", "metadata", "nbgrader"), "square"), "its grading information is text"),
        (_set(("cells", "ANSWER", "metadata"), [1, 2]), "its metadata is a list; ignored"),
    ],
)
def test_broken_grading_metadata_is_dropped_with_a_note(tmp_path, change, note):
    nb, notes = read_notebook(_write(tmp_path, _mutated(change)), max_bytes=10**8)
    answer = _answer_index(_notebook())
    assert "nbgrader" not in nb.cells[answer].metadata
    assert len(notes) == 1 and note in notes[0] and f"cell {answer + 1} ('def square(x):')" in notes[0]


def test_what_grading_does_not_use_is_dropped_not_judged(tmp_path):
    """Saved outputs, notebook metadata (widget state), odd ids and unknown keys never refuse an upload."""

    def odd(nb: dict, answer: int) -> None:
        nb["metadata"] = {"widgets": {"application/vnd.jupyter.widget-state+json": {"x": [1] * 3}}, "n": None}
        nb["cells"][answer]["outputs"] = {"not": "a list"}
        nb["cells"][answer]["execution_count"] = -3.5
        nb["cells"][answer]["id"] = "<script>"
        nb["cells"][answer]["surprise"] = True
        nb["cells"][0]["id"] = nb["cells"][1]["id"] = "same"

    nb, notes = read_notebook(_write(tmp_path, _mutated(odd)), max_bytes=10**8)
    assert nb.metadata == {} and notes == []
    assert all(cell.get("outputs", []) == [] for cell in nb.cells)
    ids = [cell.id for cell in nb.cells]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        ("not-json", "not a notebook: invalid JSON"),
        ("empty-file", "empty file (0 bytes)"),
        ("wrong-nbformat", "wrong notebook format: nbformat 3"),
        ("invalid-notebook", "not a valid notebook"),
    ],
)
def test_malformed_files_are_refused_with_a_reason(toy, scenario, reason):
    with pytest.raises(SubmissionError, match=re.escape(reason)):
        read_toy(toy, scenario)


def test_huge_file_is_refused_before_reading(toy, tmp_path):
    huge = tmp_path / "huge-file.ipynb"
    huge.write_bytes(b" " * (toy.config.max_notebook_bytes + 1))
    with pytest.raises(SubmissionError, match=r"file too large: 1\.0 MB > 1\.0 MB limit"):
        read_notebook(huge, max_bytes=toy.config.max_notebook_bytes)


def test_duplicated_grade_ids_are_refused(toy):
    with pytest.raises(SubmissionError, match="duplicated grade id"):
        check_structure(read_toy(toy, "duplicated-grade-id"), toy)
