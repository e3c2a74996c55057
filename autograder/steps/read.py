"""Step 1: read a submitted file into a clean notebook, or say in a sentence why it cannot be graded.

Uploads are whatever a student's tools wrote, so the file is checked in layers, each failing with a reason
a student can act on (and, where it concerns a cell, that cell's number and first line):

1. **bytes**: empty, too large, encoding. UTF-8 is expected; a UTF-8 byte-order mark, or UTF-16/UTF-32
   text with its mark (what some Windows editors write), is decoded and noted; anything else is refused
   with the offending byte's position.
2. **JSON**: syntax, nesting (at most :data:`MAX_DEPTH` levels; Jupyter writes about 8), numbers (an
   integer of more than 4,300 digits is refused, like Python itself does).
3. **what grading uses** (our own checks, the notebook format's rules for those parts): ``nbformat`` 4 with
   a whole-number ``nbformat_minor``; ``cells`` a list of objects, each with a ``cell_type`` of ``code``,
   ``markdown`` or ``raw`` and a ``source`` that is text or a list of texts. A broken nbgrader ``grade_id``
   (not text, empty) is dropped with a note, so the cell is matched by its content like any cell that lost
   its metadata (see :mod:`autograder.steps.restore`).
4. **text**: a lone UTF-16 surrogate (a ``\\udcff`` escape some editors write; it cannot be stored as
   UTF-8) is *repaired*: replaced by U+FFFD, with a note naming the cell. Line endings become ``\\n``
   (Python and Markdown read ``\\r\\n`` and ``\\r`` the same way), so they never count as an edit.

What grading does not use is dropped, never judged: saved outputs and execution counts (every code cell is
executed again), notebook metadata (restored from the source; it may carry widget state), unknown keys.
The clean notebook built from the rest is then validated against nbformat's own schema.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from autograder.errors import SubmissionError
from autograder.source import Assignment, nb_meta

MAX_DEPTH = 100  # levels of JSON nesting; a notebook Jupyter wrote has about 8
CELL_TYPES = ("code", "markdown", "raw")
_CELL_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")  # nbformat 4.5's rule for cell ids
_SURROGATE = re.compile("[\ud800-\udfff]")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
RESAVE = "open it in Jupyter, save it (File > Save Notebook) and upload that file"


def _kind(value: Any) -> str:
    """What a JSON value is, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _number(value: float) -> str:
    """A number as JSON writes it (``Infinity``, ``NaN``), shortened."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
    text = repr(value)
    return text if len(text) <= 20 else text[:17] + "..."


def _decode(raw: bytes, notes: list[str]) -> str:
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError:
                break
            if codec != "utf-8-sig":
                notes.append(f"the file was saved as {codec.upper()} text, not UTF-8; it was converted")
            return text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SubmissionError(
            f"not a notebook: the file is not UTF-8 text (byte 0x{raw[error.start]:02x} at position "
            f"{error.start} cannot be read; it was probably re-saved in another encoding): {RESAVE}"
        ) from None


def _too_deep(data: Any) -> bool:
    """Whether ``data`` nests deeper than :data:`MAX_DEPTH` (checked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


def _parse(text: str) -> Any:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SubmissionError(
            f"not a notebook: invalid JSON ({error.msg}: line {error.lineno}, column {error.colno}; the "
            f"file may be truncated or edited by hand): {RESAVE}"
        ) from None
    except RecursionError:
        data = None
        deep = True
    except ValueError:  # Python refuses integers of more than 4,300 digits
        raise SubmissionError(
            "not a notebook: the file holds a number with thousands of digits, which no notebook has "
            f"(the file was altered): {RESAVE}"
        ) from None
    else:
        deep = _too_deep(data)
    if deep:
        raise SubmissionError(
            f"not a notebook: its JSON is nested more than {MAX_DEPTH} levels deep (a notebook Jupyter "
            f"wrote has about 8; the file was altered): {RESAVE}"
        )
    return data


def _first_line(source: str) -> str:
    line = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return line if len(line) <= 40 else line[:37] + "..."


class _Reader:
    """Builds the clean notebook cell by cell, collecting the notes."""

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes
        self.repaired: list[int] = []

    def where(self, number: int, source: str = "") -> str:
        first = _first_line(source)
        return f"cell {number}" + (f" ({first!r})" if first else "")

    def text(self, value: str, number: int) -> str:
        if _SURROGATE.search(value):
            value = _SURROGATE.sub("\ufffd", value)
            if number not in self.repaired:
                self.repaired.append(number)
        return value.replace("\r\n", "\n").replace("\r", "\n")

    def source(self, value: Any, number: int) -> str:
        if isinstance(value, str):
            return self.text(value, number)
        if isinstance(value, list) and all(isinstance(part, str) for part in value):
            return self.text("".join(value), number)
        found = (
            _kind(value)
            if not isinstance(value, list)
            else "a list holding " + next(_kind(part) for part in value if not isinstance(part, str))
        )
        raise SubmissionError(
            f"cell {number} is damaged: its text ('source') is {found} instead of text: {RESAVE}"
        )

    def grade_id(self, cell: dict, number: int, source: str) -> str | None:
        metadata = cell.get("metadata", {})
        if not isinstance(metadata, dict):
            self.notes.append(f"{self.where(number, source)}: its metadata is {_kind(metadata)}; ignored")
            return None
        meta = metadata.get("nbgrader")
        if meta is None:
            return None
        if not isinstance(meta, dict):
            problem = f"its grading information is {_kind(meta)} instead of an object"
        else:
            grade_id = meta.get("grade_id")
            if grade_id is None:
                return None
            if isinstance(grade_id, str) and grade_id.strip() and not _SURROGATE.search(grade_id):
                return grade_id
            problem = f"its grade_id is {_kind(grade_id) if not isinstance(grade_id, str) else 'empty'}"
        self.notes.append(
            f"{self.where(number, source)}: {problem}, so the grader cannot tell which cell it is; it is "
            "matched by its content"
        )
        return None

    def attachments(self, cell: dict, number: int) -> dict | None:
        value = cell.get("attachments")
        if value is None:
            return None
        valid = isinstance(value, dict) and all(
            isinstance(name, str)
            and isinstance(bundle, dict)
            and all(isinstance(m, str) and isinstance(d, (str, list)) for m, d in bundle.items())
            for name, bundle in value.items()
        )
        if not valid:
            self.notes.append(f"cell {number}: its attachments are damaged; ignored")
            return None
        return value

    def cell(self, value: Any, number: int, seen_ids: set[str]) -> NotebookNode:
        if not isinstance(value, dict):
            raise SubmissionError(
                f"cell {number} is damaged: it is {_kind(value)} instead of a notebook cell: {RESAVE}"
            )
        kind = value.get("cell_type")
        if kind not in CELL_TYPES:
            found = repr(kind) if isinstance(kind, str) and len(kind) < 40 else _kind(kind)
            raise SubmissionError(
                f"cell {number} is damaged: its type is {found}, not code, markdown or raw: {RESAVE}"
            )
        source = self.source(value.get("source", ""), number)
        if kind == "code":
            cell = new_code_cell(source)
        elif kind == "markdown":
            cell = new_markdown_cell(source)
        else:
            cell = new_raw_cell(source)
        if kind != "code" and (attachments := self.attachments(value, number)) is not None:
            cell.attachments = attachments
        grade_id = self.grade_id(value, number, source)
        if grade_id is not None:
            cell.metadata["nbgrader"] = {"grade_id": grade_id}
        ident = value.get("id")
        if not (isinstance(ident, str) and _CELL_ID.match(ident)) or ident in seen_ids:
            ident = f"cell-{number}"
            while ident in seen_ids:
                ident += "-x"
        seen_ids.add(ident)
        cell.id = ident
        return cell


def read_notebook(path: Path, *, max_bytes: int) -> tuple[NotebookNode, list[str]]:
    """Read a submitted notebook file into a clean notebook (see the module docstring).

    Args:
        path: the file.
        max_bytes: larger files are refused.

    Returns:
        The clean notebook (nbformat 4.5, cells only) and notes on what was repaired or ignored.

    Raises:
        SubmissionError: the file cannot be graded; ``reason`` says why and what to do.
    """
    if path.is_symlink():
        raise SubmissionError(f"{path.name} is a symbolic link; submit the notebook file itself")
    size = path.stat().st_size
    if size == 0:
        raise SubmissionError("empty file (0 bytes): the upload contains no notebook")
    if size > max_bytes:
        raise SubmissionError(
            f"file too large: {size / 1024**2:.1f} MB > {max_bytes / 1024**2:.1f} MB limit "
            "(clear the outputs; instructors can raise max_notebook_mb in autograder.toml)"
        )
    notes: list[str] = []
    data = _parse(_decode(path.read_bytes(), notes))
    if not isinstance(data, dict):
        raise SubmissionError(f"not a notebook: the file's JSON is {_kind(data)}, not an object: {RESAVE}")
    version = data.get("nbformat")
    if isinstance(version, bool) or not isinstance(version, (int, float)) or version != 4:
        shown = repr(version) if type(version) in (int, float, str) and len(repr(version)) < 20 else None
        raise SubmissionError(
            f"wrong notebook format: nbformat {shown or _kind(version)}, expected 4 ({RESAVE} with a "
            "current Jupyter)"
        )
    minor = data.get("nbformat_minor", 0)
    if isinstance(minor, bool) or not isinstance(minor, int) or minor < 0:
        shown = _number(minor) if isinstance(minor, (int, float)) else _kind(minor)
        raise SubmissionError(
            f"not a valid notebook: its format version (nbformat_minor) is {shown}, not a whole number: "
            f"{RESAVE}"
        )
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise SubmissionError(
            f"not a valid notebook: it has no list of cells (found {_kind(cells)}): {RESAVE}"
        )
    reader = _Reader(notes)
    seen: set[str] = set()
    clean = new_notebook(cells=[reader.cell(cell, i, seen) for i, cell in enumerate(cells, start=1)])
    if reader.repaired:
        numbers = ", ".join(str(n) for n in reader.repaired)
        notes.append(
            f"cell(s) {numbers} held characters that are not valid Unicode (unpaired surrogates, which some "
            "editors write); each was replaced by \ufffd"
        )
    try:
        nbformat.validate(clean)
    except nbformat.ValidationError as error:
        first = str(getattr(error, "message", error)).splitlines()[0]
        raise SubmissionError(f"not a valid notebook: {first}: {RESAVE}") from None
    return clean, notes


def check_structure(nb: NotebookNode, assignment: Assignment) -> list[str]:
    """Refuse ambiguous notebooks and note what will be repaired.

    Returns:
        Notes for the result's reason (cells whose type changed and will be restored).

    Raises:
        SubmissionError: a grade id appears more than once (which copy is the answer is unknowable).
    """
    ids = [nb_meta(c).get("grade_id") for c in nb.cells]
    repeated = sorted(g for g, n in Counter(i for i in ids if i).items() if n > 1)
    if repeated:
        raise SubmissionError(
            f"duplicated grade id(s) {', '.join(repeated)}: cells were copied in the notebook, so which "
            "one is the answer is ambiguous (delete the copies, keep one cell per id)"
        )
    notes = []
    for cell in nb.cells:
        spec = assignment.spec(nb_meta(cell).get("grade_id", ""))
        if spec is not None and cell.cell_type != spec.cell_type:
            notes.append(
                f"cell {spec.grade_id!r} was changed from {spec.cell_type} to {cell.cell_type}; restored"
            )
    return notes
