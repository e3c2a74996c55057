"""A seeded generator of hostile uploads for the toy assignment, and what a grading run of them must satisfy.

Each generated student folder starts from a committed toy submission (``correct`` or ``untouched``, the
blank release; see ``tests/fixtures/autograder/build.py``) and gets one to three *mutations*, drawn from
six classes: ``bytes`` (truncated, re-encoded, garbage, NUL bytes, line endings), ``json`` (wrong types,
missing and extra keys, absurd numbers, deep nesting, duplicate keys), ``unicode`` (lone surrogates in
sources, metadata and names, bidi and zero-width characters, NUL, non-BMP), ``nbgrader`` (grade ids,
points, flags, schema version, checksums, reordered, deleted or edited cells), ``content`` (every HTML/JS/
SVG payload of :data:`PAYLOADS` everywhere a student's text can reach, code that displays HTML or raw MIME
bundles, exceptions worded in markup, shell escapes, huge outputs) and ``files`` (renamed notebooks,
several notebooks, extra files, symlinks, pipes, sparse giants, odd, overlong and colliding folder names,
empty folders). Beside them come *controls*: the correct and the blank notebooks untouched, and correct
notebooks with only harmless changes, each with the score it must keep. ``manifest.json`` beside the
``subs/`` folder says which mutations every student got, so a failure names its mutation.

Why ``random.Random`` rather than hypothesis: the unit under test is a *batch*, graded once by the real
command (a sandbox per notebook, seconds per run), and the assertions are about the batch's files.
Hypothesis wants to run a property once per example and shrink by re-running it, which would grade
hundreds of batches. A ``random.Random`` seeded per notebook (``f"{seed}:{index}"``) gives the same bytes
on every machine and Python version, lets one notebook be rebuilt alone, and needs no new dependency.
Every mutation kind is the first mutation of some notebook (round robin): the first ``len(MUTATIONS)``
notebooks get theirs alone, later ones one or two more, drawn.

Reproduce a defect from the command line (``--list`` names every mutation)::

    python tests/fuzz_uploads.py --out /tmp/fuzz --seed 17 --count 140 --grade
    python tests/fuzz_uploads.py --out /tmp/fuzz --classes unicode --count 12 --grade
    python tests/fuzz_uploads.py --out /tmp/fuzz --mutation json.deep-nesting --count 3 --grade --one-by-one
    python tests/fuzz_uploads.py --out /tmp/fuzz --skip files.long-folder-name --grade

``--grade`` runs ``autograder grade`` on the batch and prints every broken expectation with the
student's mutations (the command's stderr is kept in ``OUT/stderr.txt``); ``--one-by-one`` grades each
folder in a batch of its own (to find a notebook that aborts a whole batch); ``--skip`` leaves a known
batch killer out to see past it.
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import json
import math
import os
import random
import re
import sqlite3
import stat
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOY_FIXTURES = ROOT / "tests" / "fixtures" / "autograder"
TOY_SOURCE = TOY_FIXTURES / "source" / "toy"
ASSIGNMENT = "toy"
MAX_SCORE = 5.0  # square-test (2) + softmax-test (3); the written answer is graded by hand
MARKER = "autograder-fuzz-xss"  # in every payload: where it appears, submitted markup reached the page
CLASSES = ("bytes", "json", "unicode", "nbgrader", "content", "files")

# The order mutations are applied in, whatever order they were drawn in: edits of a valid notebook first,
# then edits that break its shape, then edits of the JSON text, of its bytes, and of the folder.
SEMANTIC, SHAPE, TEXT, BYTES, FILES = range(5)

Json = Any


# --------------------------------------------------------------------------------------------------
# Payloads: markup that must only ever reach a page as escaped text.

PAYLOADS = {
    "script": f"<script>console.log('{MARKER}')</script>",
    "img-onerror": f"<img src=x onerror=\"console.log('{MARKER}')\">",
    "iframe": f"<iframe src=\"javascript:console.log('{MARKER}')\"></iframe>",
    "svg-onload": f'<svg onload="console.log(\'{MARKER}\')"><circle r="4"/></svg>',
    "svg-script": f"<svg><script>console.log('{MARKER}')</script></svg>",
    "a-javascript": f"<a href=\"javascript:console.log('{MARKER}')\">click</a>",
    "markdown-javascript": f"[click me](javascript:console.log('{MARKER}'))",
    "style": f"<style>body {{ background: red; /* {MARKER} */ }}</style>",
    "object": f"<object data=\"javascript:console.log('{MARKER}')\"></object>",
    "embed": f"<embed src=\"javascript:console.log('{MARKER}')\">",
    "details-ontoggle": f"<details open ontoggle=\"console.log('{MARKER}')\">x</details>",
    "broken-out-of-code": f"</code></pre><script>console.log('{MARKER}')</script>",
    "rcdata-breakout": f"</title></textarea></style><script>console.log('{MARKER}')</script>",
    "comment-breakout": f"<!--><img src=x onerror=\"console.log('{MARKER}')\">-->",
    "noscript-mxss": '<noscript><p title="</noscript>'
    + f"<img src=x onerror=console.log('{MARKER}')>\"></noscript>",
    "entity-javascript": f"<a href=\"&#106;ava&#x09;script:console.log('{MARKER}')\">click</a>",
    "data-html-link": f"<a href=\"data:text/html,<script>console.log('{MARKER}')</script>\">click</a>",
    "meta-refresh": f'<meta http-equiv="refresh" content="0;url=javascript:console.log(\'{MARKER}\')">',
    "base-href": f"<base href=\"javascript:console.log('{MARKER}')//\">",
    "form-action": f"<form><button formaction=\"javascript:console.log('{MARKER}')\">go</button></form>",
    "svg-animate": f'<svg><animate onbegin="console.log(\'{MARKER}\')" attributeName="x" dur="1s"/></svg>',
    "math-href": f"<math><mi xlink:href=\"javascript:console.log('{MARKER}')\">x</mi></math>",
    "style-url": f"<p style=\"background:url(javascript:console.log('{MARKER}'))\">x</p>",
    "autofocus": f"<input autofocus onfocus=\"console.log('{MARKER}')\">",
    "markdown-image-onerror": f"![x](x\" onerror=\"console.log('{MARKER}'))",
}
SVG_OPEN = f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"console.log('{MARKER}')\">"
NAME_PAYLOADS = (  # fit in a file name: no slash
    f"<img src=x onerror=console.log('{MARKER}')>",
    f"<svg onload=console.log('{MARKER}')>",
)


# --------------------------------------------------------------------------------------------------
# An upload under construction.


@dataclass
class Upload:
    """One student's folder before it is written.

    Attributes:
        doc: the notebook as JSON values (anything, once mutated).
        base: ``correct`` or ``untouched``, the committed submission it started from.
        raw: tokens in ``doc`` (strings or keys) and the JSON text that replaces them when serialized
            (duplicate keys, absurd numbers, nesting too deep for ``json.dumps``).
        text_patches: edits of the serialized JSON text.
        byte_patches: edits of the encoded bytes.
        notebook_name: the notebook's file name, ``None`` for no notebook.
        folder_suffix: appended to the student folder's name.
        extra_files: other files in the folder (name to bytes).
        extra_folders: sub-folders in the folder.
        special: ``(kind, name, argument)`` entries that are not regular files: ``symlink`` (to the
            argument), ``fifo``, ``sparse`` (a file of the argument's size in bytes, holding nothing).
        folder_pad: a character repeated at the end of the folder's name up to the longest name the
            file system allows (255 bytes).
        twin: ``(old, new)``: a second student folder, named with ``old`` replaced by ``new``, holds a
            copy of the same files (two students whose ids must not collide).
    """

    doc: Json
    base: str
    raw: dict[str, str] = field(default_factory=dict)
    text_patches: list[Callable[[str], str]] = field(default_factory=list)
    byte_patches: list[Callable[[bytes], bytes]] = field(default_factory=list)
    notebook_name: str | None = f"{ASSIGNMENT}.ipynb"
    folder_suffix: str = ""
    extra_files: dict[str, bytes] = field(default_factory=dict)
    extra_folders: list[str] = field(default_factory=list)
    special: list[tuple[str, str, str]] = field(default_factory=list)
    folder_pad: str = ""
    twin: tuple[str, str] | None = None

    def token(self, raw_json: str) -> str:
        """A placeholder string that :func:`serialize` replaces with ``raw_json`` (verbatim JSON text)."""
        name = f"@@fuzz-raw-{len(self.raw)}@@"
        self.raw[name] = raw_json
        return name

    def key(self, real: str) -> str:
        """A placeholder key that becomes ``real`` (a duplicate of a key already in the object)."""
        return self.token(json.dumps(real))


_SURROGATE = re.compile("[\ud800-\udfff]")


def serialize(upload: Upload) -> bytes:
    """The notebook file's bytes: JSON (lone surrogates as ``\\udcff`` escapes), patched, encoded."""
    text = json.dumps(upload.doc, indent=1, ensure_ascii=False)
    for name, raw_json in upload.raw.items():
        text = text.replace(json.dumps(name), raw_json)
    text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)  # only ever inside JSON strings
    for patch in upload.text_patches:
        text = patch(text)
    data = text.encode("utf-8", errors="surrogatepass")
    for patch in upload.byte_patches:
        data = patch(data)
    return data


def _base_doc(name: str) -> Json:
    return json.loads((TOY_FIXTURES / "submissions" / f"{name}.ipynb").read_text(encoding="utf-8"))


def _cells(doc: Json) -> list[Json]:
    cells = doc.get("cells") if isinstance(doc, dict) else None
    return cells if isinstance(cells, list) else []


def _dict_cells(doc: Json) -> list[dict]:
    return [c for c in _cells(doc) if isinstance(c, dict)]


def _nbgrader(cell: dict) -> dict | None:
    meta = cell.get("metadata")
    found = meta.get("nbgrader") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else None


def _grade_id(cell: dict) -> object:
    meta = _nbgrader(cell)
    return meta.get("grade_id") if meta else None


def _by_id(doc: Json, *grade_ids: str) -> list[dict]:
    return [c for c in _dict_cells(doc) if _grade_id(c) in grade_ids]


def _pick(rng: random.Random, items: list) -> Any:
    return rng.choice(items) if items else None


def _source_text(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def _set_source(cell: dict, text: str) -> None:
    """Set a cell's source, keeping its form (one string, or a list of lines as Jupyter writes it)."""
    cell["source"] = text.splitlines(keepends=True) if isinstance(cell.get("source"), list) else text


def _append(cell: dict, text: str) -> None:
    _set_source(cell, _source_text(cell).rstrip("\n") + "\n" + text)


def _answer(doc: Json, rng: random.Random, kind: str) -> dict | None:
    """A code answer (``square``/``softmax``) or the markdown answer (``explain``) still in the notebook."""
    return _pick(rng, _by_id(doc, "square", "softmax") if kind == "code" else _by_id(doc, "explain"))


def _graded(doc: Json) -> list[dict]:
    return [c for c in _dict_cells(doc) if _nbgrader(c) is not None]


def _new_cell(kind: str, source: str, **extra: Json) -> dict:
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    cell: dict = {"cell_type": kind, "id": f"fuzz-{digest}", "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    cell.update(extra)
    return cell


def _insert(doc: Json, rng: random.Random, cell: Json) -> str | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        return None
    cells = doc["cells"]
    where = rng.randint(0, len(cells))
    cells.insert(where, cell)
    return f"at index {where}"


# --------------------------------------------------------------------------------------------------
# The mutations. Each returns what it did (for the manifest), or None when the notebook gave it nothing
# to work on (an earlier mutation removed what it edits).


@dataclass(frozen=True)
class Mutation:
    """One kind of damage an upload can have.

    Attributes:
        name: ``<class>.<kind>``, as the manifest and the failure messages name it.
        kind: the class (one of :data:`CLASSES`).
        stage: when it is applied (edits of a valid notebook first, the folder last).
        apply: changes the upload; returns a description, or None if it did not apply.
        harmless: a correct notebook with only harmless mutations must still score full marks (every
            variant leaves the answers' code intact and the notebook readable by Jupyter).
    """

    name: str
    kind: str
    stage: int
    apply: Callable[[Upload, random.Random], str | None]
    harmless: bool = False


MUTATIONS: dict[str, Mutation] = {}


def mutation(kind: str, stage: int, *, harmless: bool = False) -> Callable:
    """Register a mutation under ``<kind>.<function name with dashes>``."""

    def register(function: Callable[[Upload, random.Random], str | None]) -> Callable:
        name = f"{kind}.{function.__name__.strip('_').replace('_', '-')}"
        MUTATIONS[name] = Mutation(name, kind, stage, function, harmless)
        return function

    return register


# bytes ---------------------------------------------------------------------------------------------


@mutation("bytes", BYTES)
def truncated(up: Upload, rng: random.Random) -> str:
    """The upload stopped part-way."""
    fraction = rng.uniform(0.02, 0.98)
    up.byte_patches.append(lambda data: data[: int(len(data) * fraction)])
    return f"cut at {fraction:.0%} of the file"


@mutation("bytes", BYTES)
def utf16(up: Upload, rng: random.Random) -> str:
    """Saved by an editor that writes UTF-16."""
    codec = rng.choice(["utf-16", "utf-16-le", "utf-16-be"])
    up.byte_patches.append(
        lambda data: data.decode("utf-8", "surrogateescape").encode(codec, "surrogatepass")
    )
    return f"re-encoded as {codec}"


@mutation("bytes", BYTES)
def utf8_bom(up: Upload, rng: random.Random) -> str:
    """A byte order mark before the JSON (Windows editors)."""
    up.byte_patches.append(lambda data: b"\xef\xbb\xbf" + data)
    return "UTF-8 byte order mark prepended"


@mutation("bytes", BYTES)
def latin1(up: Upload, rng: random.Random) -> str:
    """Non-ASCII text saved as latin-1 (invalid UTF-8)."""
    cell = _answer(up.doc, rng, "markdown") or _answer(up.doc, rng, "code")
    if cell is not None:
        _append(cell, "# café, naïve, Größe, ½" if cell.get("cell_type") == "code" else "Café, naïve, ½.")
    up.byte_patches.append(lambda data: data.decode("utf-8", "replace").encode("latin-1", "replace"))
    return "accented text, re-encoded as latin-1"


@mutation("bytes", BYTES)
def trailing_garbage(up: Upload, rng: random.Random) -> str:
    """Bytes after the JSON document."""
    garbage = rng.choice([b"\n}}]]", b"\x00\xff\xfe\x00", b"\n<<<<<<< HEAD\n", b'{"nbformat": 4}', b"\x1a"])
    up.byte_patches.append(lambda data: data + garbage)
    return f"appended {garbage!r}"


@mutation("bytes", BYTES)
def empty(up: Upload, rng: random.Random) -> str:
    """A 0-byte file."""
    up.byte_patches.append(lambda data: b"")
    return "0 bytes"


@mutation("bytes", BYTES)
def nul_bytes(up: Upload, rng: random.Random) -> str:
    """Raw NUL bytes in the file (a disk or transfer error)."""
    spots = sorted(rng.random() for _ in range(rng.randint(1, 4)))

    def patch(data: bytes) -> bytes:
        for spot in reversed(spots):
            at = int(len(data) * spot)
            data = data[:at] + b"\x00" * 4 + data[at:]
        return data

    up.byte_patches.append(patch)
    return f"NUL bytes at {', '.join(f'{s:.0%}' for s in spots)}"


@mutation("bytes", TEXT, harmless=True)
def crlf_file(up: Upload, rng: random.Random) -> str:
    """Windows line endings between the JSON's lines (harmless)."""
    up.text_patches.append(lambda text: text.replace("\n", "\r\n"))
    return "CRLF line endings in the file"


def _line_endings(up: Upload, rng: random.Random, ending: str) -> str | None:
    cells = [c for c in _dict_cells(up.doc) if _source_text(c)]
    chosen = rng.sample(cells, k=rng.randint(1, len(cells))) if cells else []
    for cell in chosen:
        _set_source(cell, _source_text(cell).replace("\n", ending))
    return f"{ending!r} line endings in {len(chosen)} cell source(s)" if chosen else None


@mutation("bytes", SEMANTIC, harmless=True)
def crlf_sources(up: Upload, rng: random.Random) -> str | None:
    """CRLF inside cell sources (a notebook edited on Windows)."""
    return _line_endings(up, rng, "\r\n")


@mutation("bytes", SEMANTIC, harmless=True)
def lone_cr_sources(up: Upload, rng: random.Random) -> str | None:
    """Lone CR line endings inside cell sources (classic Mac OS)."""
    return _line_endings(up, rng, "\r")


# json ----------------------------------------------------------------------------------------------

_ODD_VALUES: list[Json] = [None, 0, -1, 2.5, "", "x", [], {}, True, [1, "a", None], {"a": {}}]


def _json_type(value: Json) -> str:
    return type(value).__name__


def _paths(node: Json, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*path, i)
            yield from _paths(value, (*path, i))


def _get(node: Json, path: tuple) -> Json:
    for part in path:
        node = node[part]
    return node


def _show(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "(top)"


@mutation("json", SHAPE)
def wrong_type_anywhere(up: Upload, rng: random.Random) -> str | None:
    """Any value in the document replaced by one of another JSON type."""
    paths = list(_paths(up.doc))
    if not paths:
        return None
    path = rng.choice(paths)
    old = _get(up.doc, path)
    new = rng.choice([v for v in _ODD_VALUES if _json_type(v) != _json_type(old)])
    _get(up.doc, path[:-1])[path[-1]] = copy.deepcopy(new)
    return f"{_show(path)}: {_json_type(old)} -> {json.dumps(new)}"


@mutation("json", SHAPE)
def cells_not_a_list(up: Upload, rng: random.Random) -> str | None:
    """``cells`` is an object, a string, a number or null."""
    if not isinstance(up.doc, dict):
        return None
    value = rng.choice([{}, {"0": _pick(rng, _cells(up.doc))}, "cells", None, 42])
    up.doc["cells"] = value
    return f"cells = {json.dumps(value)[:60]}"


@mutation("json", SHAPE)
def cell_replaced_by_scalar(up: Upload, rng: random.Random) -> str | None:
    """A cell replaced by a number, a string, null, a boolean or a list."""
    cells = _cells(up.doc)
    if not cells:
        return None
    i = rng.randrange(len(cells))
    cells[i] = rng.choice([7, "cell", None, True, [], 1.5])
    return f"cells[{i}] = {json.dumps(cells[i])}"


@mutation("json", SHAPE)
def source_not_text(up: Upload, rng: random.Random) -> str | None:
    """``source`` a number, or a list holding an integer."""
    cell = _pick(rng, _dict_cells(up.doc))
    if cell is None:
        return None
    if rng.random() < 0.5:
        cell["source"] = rng.choice([42, 3.5, True, None])
    else:
        cell["source"] = [*_source_text(cell).splitlines(keepends=True), 7]
    return f"source of cell {_grade_id(cell) or cell.get('id')!r} = {json.dumps(cell['source'])[:60]}"


@mutation("json", SHAPE)
def metadata_list(up: Upload, rng: random.Random) -> str | None:
    """``metadata`` (of the notebook or of a cell) is a list."""
    target = rng.choice([up.doc, _pick(rng, _graded(up.doc))])
    if not isinstance(target, dict):
        return None
    target["metadata"] = rng.choice([[], ["nbgrader"], [{"nbgrader": {}}]])
    return (
        "notebook metadata is a list" if target is up.doc else f"metadata of {_grade_id(target)!r} is a list"
    )


@mutation("json", SHAPE)
def outputs_dict(up: Upload, rng: random.Random) -> str | None:
    """``outputs`` of a code cell is an object."""
    cell = _pick(rng, [c for c in _dict_cells(up.doc) if c.get("cell_type") == "code"])
    if cell is None:
        return None
    cell["outputs"] = {"output_type": "stream", "name": "stdout", "text": "hello"}
    return f"outputs of {_grade_id(cell) or cell.get('id')!r} is an object"


@mutation("json", SHAPE)
def missing_key(up: Upload, rng: random.Random) -> str | None:
    """A required key removed from the notebook or from a cell."""
    targets = [up.doc, *_dict_cells(up.doc)] if isinstance(up.doc, dict) else []
    target = _pick(rng, [t for t in targets if t])
    if target is None:
        return None
    key = rng.choice(sorted(target))
    del target[key]
    return f"removed {key!r} from " + ("the notebook" if target is up.doc else f"cell {target.get('id')!r}")


@mutation("json", SHAPE)
def extra_key(up: Upload, rng: random.Random) -> str | None:
    """An unknown key in the notebook, a cell or its nbgrader metadata."""
    targets = [up.doc, *_dict_cells(up.doc), *filter(None, map(_nbgrader, _dict_cells(up.doc)))]
    target = _pick(rng, [t for t in targets if isinstance(t, dict)])
    if target is None:
        return None
    key = rng.choice(["extra", "cell_type_", "Cells", "__proto__", "attachments"])
    target[key] = rng.choice([1, "x", {"nested": [1, 2]}, None])
    return f"added {key!r}"


@mutation("json", SHAPE)
def odd_cell_type(up: Upload, rng: random.Random) -> str | None:
    """``cell_type`` null, unknown, or ``raw`` on a graded cell."""
    cell = _pick(rng, _graded(up.doc)) or _pick(rng, _dict_cells(up.doc))
    if cell is None:
        return None
    cell["cell_type"] = rng.choice([None, "python", "", "Code", "raw", 3])
    return f"cell_type of {_grade_id(cell) or cell.get('id')!r} = {json.dumps(cell['cell_type'])}"


@mutation("json", SHAPE)
def absurd_nbformat_minor(up: Upload, rng: random.Random) -> str | None:
    """``nbformat_minor`` Infinity, NaN, 1e400, a 5000-digit integer or negative."""
    if not isinstance(up.doc, dict):
        return None
    raw = rng.choice(["Infinity", "NaN", "-Infinity", "1e400", "9" * 5000, "-1", "4.5"])
    up.doc["nbformat_minor"] = up.token(raw)
    return f"nbformat_minor = {raw[:12]}{'...' if len(raw) > 12 else ''}"


@mutation("json", SHAPE)
def absurd_execution_count(up: Upload, rng: random.Random) -> str | None:
    """``execution_count`` negative, a float, huge or a string."""
    cell = _pick(rng, [c for c in _dict_cells(up.doc) if c.get("cell_type") == "code"])
    if cell is None:
        return None
    raw = rng.choice(["-1", "2.5", "1e308", '"3"', "Infinity", "1" + "0" * 400])
    cell["execution_count"] = up.token(raw)
    return f"execution_count of {_grade_id(cell) or cell.get('id')!r} = {raw[:12]}"


@mutation("json", SHAPE)
def deep_nesting(up: Upload, rng: random.Random) -> str | None:
    """Lists or objects thousands deep, somewhere in the notebook."""
    depth = rng.choice([1_500, 20_000, 200_000])
    raw = "[" * depth + "]" * depth if rng.random() < 0.5 else '{"a":' * depth + "1" + "}" * depth
    cell = _pick(rng, _dict_cells(up.doc))
    where = rng.choice(["cell metadata", "notebook metadata", "outputs", "source"])
    if where == "notebook metadata" and isinstance(up.doc, dict) and isinstance(up.doc.get("metadata"), dict):
        up.doc["metadata"]["deep"] = up.token(raw)
    elif where == "cell metadata" and cell is not None and isinstance(cell.get("metadata"), dict):
        cell["metadata"]["deep"] = up.token(raw)
    elif cell is not None:
        cell["outputs" if where == "outputs" else "source"] = up.token(raw)
    elif isinstance(up.doc, dict):
        up.doc["deep"] = up.token(raw)
    else:
        return None
    return f"{depth} levels of {'lists' if raw[0] == '[' else 'objects'} in {where}"


@mutation("json", SHAPE)
def duplicate_keys(up: Upload, rng: random.Random) -> str | None:
    """The same key twice in one JSON object (the last one wins in Python)."""
    options = []
    if isinstance(up.doc, dict):
        options.append((up.doc, "cells", []))
        options.append((up.doc, "nbformat", 3))
    for cell in _by_id(up.doc, "square", "softmax", "explain"):
        options.append((cell, "source", "def " + "square(x):\n    return 0"))
        meta = _nbgrader(cell)
        if meta is not None:
            options.append((meta, "grade_id", "square-test"))
            options.append((meta, "points", 1000))
    if not options:
        return None
    target, key, value = rng.choice(options)
    target[up.key(key)] = value
    return f"{key!r} repeated, second value {json.dumps(value)[:40]}"


# unicode -------------------------------------------------------------------------------------------

LONE = ("\udcff", "\ud800", "\udfff", "\ud83d")  # lone high and low surrogates


@mutation("unicode", SEMANTIC)
def surrogate_in_code(up: Upload, rng: random.Random) -> str | None:
    """A lone surrogate (a ``\\udcff`` escape in the JSON) in a code answer."""
    cell = _answer(up.doc, rng, "code")
    if cell is None:
        return None
    char = rng.choice(LONE)
    _append(cell, rng.choice([f"# note {char}", f"NOTE = 'x{char}y'", f"print('{char}')"]))
    return f"U+{ord(char):04X} in {_grade_id(cell)!r}"


@mutation("unicode", SEMANTIC, harmless=True)
def surrogate_in_markdown(up: Upload, rng: random.Random) -> str | None:
    """A lone surrogate in the written answer or an added markdown cell."""
    char = rng.choice(LONE)
    cell = _answer(up.doc, rng, "markdown")
    if cell is not None and rng.random() < 0.7:
        _append(cell, f"Because {char} shifts cancel.")
        return f"U+{ord(char):04X} in 'explain'"
    where = _insert(up.doc, rng, _new_cell("markdown", f"My notes {char}"))
    return where and f"U+{ord(char):04X} in an added markdown cell {where}"


@mutation("unicode", SEMANTIC)
def surrogate_in_metadata(up: Upload, rng: random.Random) -> str | None:
    """A lone surrogate in notebook or cell metadata (kernelspec, tags, a grade id)."""
    char = rng.choice(LONE)
    cell = _pick(rng, _graded(up.doc))
    where = rng.choice(["kernelspec", "tags", "grade_id", "cell id"])
    if where == "kernelspec" and isinstance(up.doc, dict) and isinstance(up.doc.get("metadata"), dict):
        up.doc["metadata"]["kernelspec"] = {"name": "python3", "display_name": f"Python {char}"}
    elif cell is None:
        return None
    elif where == "tags":
        cell["metadata"]["tags"] = [f"tag{char}"]
    elif where == "grade_id":
        _nbgrader(cell)["grade_id"] = f"{_grade_id(cell)}{char}"
    else:
        cell["id"] = f"cell{char}"
    return f"U+{ord(char):04X} in {where}"


@mutation("unicode", FILES, harmless=True)
def surrogate_in_folder_name(up: Upload, rng: random.Random) -> str:
    """The student folder's name is not valid UTF-8 (a lone surrogate once decoded)."""
    up.folder_suffix += "-\udcff\udcfe"
    return "bytes 0xff 0xfe in the folder name"


@mutation("unicode", FILES, harmless=True)
def surrogate_in_file_name(up: Upload, rng: random.Random) -> str | None:
    """The notebook's file name is not valid UTF-8."""
    if up.notebook_name is None:
        return None
    up.notebook_name = rng.choice([f"{ASSIGNMENT}\udcff.ipynb", f"\udce9{ASSIGNMENT}.ipynb"])
    return "a byte that is not UTF-8 in the notebook's name"


INVISIBLE = {
    "RTL override": "\u202e",
    "zero-width space": "\u200b",
    "zero-width joiner": "\u200d",
    "BOM": "\ufeff",
    "first strong isolate": "\u2068",
    "NUL": "\u0000",
}


@mutation("unicode", SEMANTIC)
def invisible_chars(up: Upload, rng: random.Random) -> str | None:
    """RTL overrides, zero-width characters or NUL in code, markdown or metadata."""
    name, char = rng.choice(sorted(INVISIBLE.items()))
    cell = _pick(rng, [*_by_id(up.doc, "square", "softmax", "explain")])
    if cell is None:
        return None
    where = rng.choice(["source", "comment", "grade id"])
    if where == "grade id":
        _nbgrader(cell)["grade_id"] = f"{_grade_id(cell)}{char}"
    elif where == "comment" and cell.get("cell_type") == "code":
        _append(cell, f"# admin{char}istrator {char}")
    else:
        text = _source_text(cell)
        at = rng.randrange(len(text) + 1)
        _set_source(cell, text[:at] + char + text[at:])
    return f"{name} in the {where} of {_grade_id(cell)!r}"


@mutation("unicode", FILES, harmless=True)
def invisible_in_folder_name(up: Upload, rng: random.Random) -> str:
    """An RTL override or zero-width character in the folder name."""
    name, char = rng.choice([(k, v) for k, v in sorted(INVISIBLE.items()) if k != "NUL"])
    up.folder_suffix += f"-evil{char}gpj.ipynb"
    return f"{name} in the folder name"


NON_BMP = "\U0001f40d\U0001d518\U00010348\U0001f600"


@mutation("unicode", SEMANTIC, harmless=True)
def non_bmp(up: Upload, rng: random.Random) -> str | None:
    """Characters outside the Basic Multilingual Plane (emoji, math letters, Gothic)."""
    cell = _pick(rng, _by_id(up.doc, "square", "softmax", "explain"))
    if cell is None:
        return None
    if cell.get("cell_type") == "code":
        _append(cell, f"EMOJI = '{NON_BMP}'  # {NON_BMP}")
    else:
        _append(cell, f"{NON_BMP} shifts cancel.")
    if isinstance(up.doc, dict) and isinstance(up.doc.get("metadata"), dict):
        up.doc["metadata"]["author"] = NON_BMP
    if rng.random() < 0.4:
        up.folder_suffix += f"-{NON_BMP[:2]}"
    return f"non-BMP characters in {_grade_id(cell)!r}" + (" and the folder name" if up.folder_suffix else "")


# nbgrader metadata ---------------------------------------------------------------------------------


def _graded_meta(up: Upload, rng: random.Random, *grade_ids: str) -> tuple[dict, dict] | tuple[None, None]:
    cells = [c for c in (_by_id(up.doc, *grade_ids) if grade_ids else _graded(up.doc)) if _nbgrader(c)]
    cell = _pick(rng, cells)
    return (cell, _nbgrader(cell)) if cell is not None else (None, None)


def _set_grade_id(up: Upload, rng: random.Random, value: Json, label: str) -> str | None:
    _cell, meta = _graded_meta(up, rng)
    if meta is None:
        return None
    old = meta.get("grade_id")
    meta["grade_id"] = value
    return f"grade_id {old!r} -> {label}"


@mutation("nbgrader", SEMANTIC)
def grade_id_list(up: Upload, rng: random.Random) -> str | None:
    """A grade id that is a list."""
    return _set_grade_id(up, rng, ["square"], "['square']")


@mutation("nbgrader", SEMANTIC)
def grade_id_number(up: Upload, rng: random.Random) -> str | None:
    """A grade id that is a number."""
    value = rng.choice([0, 1, 3.5, -2])
    return _set_grade_id(up, rng, value, repr(value))


@mutation("nbgrader", SEMANTIC)
def grade_id_empty(up: Upload, rng: random.Random) -> str | None:
    """An empty (or null) grade id."""
    value = rng.choice(["", None, " "])
    return _set_grade_id(up, rng, value, repr(value))


@mutation("nbgrader", SEMANTIC)
def grade_id_duplicated(up: Upload, rng: random.Random) -> str | None:
    """Two cells with the same grade id (a copied cell, or a renamed one)."""
    cell, meta = _graded_meta(up, rng)
    other = _pick(rng, [c for c in _graded(up.doc) if c is not cell])
    if meta is None or other is None:
        return None
    meta["grade_id"] = _grade_id(other)
    return f"two cells named {_grade_id(other)!r}"


@mutation("nbgrader", SEMANTIC)
def grade_id_unknown(up: Upload, rng: random.Random) -> str | None:
    """A grade id the source does not have."""
    value = rng.choice(["square-test-2", "bonus", "cell-87af56a7", "SQUARE"])
    return _set_grade_id(up, rng, value, repr(value))


def _set_points(up: Upload, rng: random.Random, value: Json, label: str) -> str | None:
    _cell, meta = _graded_meta(up, rng, "square-test", "softmax-test", "explain")
    if meta is None:
        return None
    meta["points"] = value
    return f"points of {meta.get('grade_id')!r} = {label}"


@mutation("nbgrader", SEMANTIC, harmless=True)
def points_string(up: Upload, rng: random.Random) -> str | None:
    """Points written as a string."""
    value = rng.choice(["100", "two", "", "1e9"])
    return _set_points(up, rng, value, repr(value))


@mutation("nbgrader", SEMANTIC, harmless=True)
def points_negative(up: Upload, rng: random.Random) -> str | None:
    """Negative points."""
    value = rng.choice([-1, -1000, -0.5])
    return _set_points(up, rng, value, repr(value))


@mutation("nbgrader", SEMANTIC, harmless=True)
def points_nan(up: Upload, rng: random.Random) -> str | None:
    """Points NaN or infinite."""
    value = rng.choice([math.nan, math.inf, -math.inf])
    return _set_points(up, rng, value, repr(value))


@mutation("nbgrader", SEMANTIC, harmless=True)
def points_huge(up: Upload, rng: random.Random) -> str | None:
    """Huge points."""
    value = rng.choice([10**30, 1e308, 2**63])
    return _set_points(up, rng, value, repr(value))


@mutation("nbgrader", SEMANTIC, harmless=True)
def flags_flipped(up: Upload, rng: random.Random) -> str | None:
    """``grade``, ``solution`` or ``locked`` flipped (a test made an answer, an answer made a test)."""
    _cell, meta = _graded_meta(up, rng)
    if meta is None:
        return None
    flags = rng.sample(["grade", "solution", "locked"], k=rng.randint(1, 3))
    for flag in flags:
        meta[flag] = not meta.get(flag)
    return f"{', '.join(flags)} flipped on {meta.get('grade_id')!r}"


@mutation("nbgrader", SEMANTIC, harmless=True)
def flags_strings(up: Upload, rng: random.Random) -> str | None:
    """Flags written as strings (``"false"`` is true in Python)."""
    _cell, meta = _graded_meta(up, rng)
    if meta is None:
        return None
    for flag in ("grade", "solution", "locked"):
        meta[flag] = rng.choice(["false", "true", "yes", "0", ""])
    return f"flags of {meta.get('grade_id')!r} are strings"


@mutation("nbgrader", SEMANTIC, harmless=True)
def schema_version_new(up: Upload, rng: random.Random) -> str | None:
    """An nbgrader schema version from the future."""
    cells = [c for c in _graded(up.doc) if rng.random() < 0.5] or _graded(up.doc)[:1]
    for cell in cells:
        _nbgrader(cell)["schema_version"] = rng.choice([4, 99, "3", None])
    return f"schema_version changed on {len(cells)} cell(s)" if cells else None


@mutation("nbgrader", SEMANTIC)
def metadata_removed(up: Upload, rng: random.Random) -> str | None:
    """nbgrader metadata removed from an answer, or the answers pasted into a fresh notebook."""
    if rng.random() < 0.5:
        cell = _pick(rng, _by_id(up.doc, "square", "softmax", "explain"))
        if cell is None:
            return None
        del cell["metadata"]["nbgrader"]
        return f"nbgrader metadata removed from {_source_text(cell)[:20]!r}"
    for cell in _dict_cells(up.doc):
        cell["metadata"] = {}
        cell["id"] = f"{rng.getrandbits(32):08x}"
    return "every cell's metadata removed (answers pasted into a fresh notebook)"


@mutation("nbgrader", SEMANTIC, harmless=True)
def checksum_edited(up: Upload, rng: random.Random) -> str | None:
    """A cell's checksum changed or removed."""
    _cell, meta = _graded_meta(up, rng)
    if meta is None:
        return None
    if rng.random() < 0.5:
        meta["checksum"] = rng.choice(["0" * 32, "", 12345])
    else:
        meta.pop("checksum", None)
    return f"checksum of {meta.get('grade_id')!r} edited"


@mutation("nbgrader", SEMANTIC, harmless=True)
def cells_reordered(up: Upload, rng: random.Random) -> str | None:
    """Cells shuffled (tests before answers)."""
    cells = _cells(up.doc)
    if len(cells) < 2:
        return None
    rng.shuffle(cells)
    return "cells shuffled"


@mutation("nbgrader", SEMANTIC)
def cell_deleted(up: Upload, rng: random.Random) -> str | None:
    """A cell deleted (an answer, a test or a read-only cell)."""
    cells = _cells(up.doc)
    if not cells:
        return None
    i = rng.randrange(len(cells))
    gone = cells.pop(i)
    return f"deleted cells[{i}] ({_grade_id(gone) if isinstance(gone, dict) else gone!r})"


@mutation("nbgrader", SEMANTIC, harmless=True)
def test_edited(up: Upload, rng: random.Random) -> str | None:
    """A test cell edited (emptied, made to pass, or given more points)."""
    cell, meta = _graded_meta(up, rng, "square-test", "softmax-test")
    if meta is None:
        return None
    _set_source(cell, rng.choice(["pass", "assert True", "", "print('tests are optional')"]))
    if rng.random() < 0.5:
        meta["points"] = 50
    return f"test {meta.get('grade_id')!r} edited"


# content -------------------------------------------------------------------------------------------


def _payloads(rng: random.Random) -> list[str]:
    """Every payload, in a drawn order (each one reaches every place a content mutation writes to)."""
    return rng.sample(sorted(PAYLOADS), k=len(PAYLOADS))


def _named(names: list[str]) -> str:
    return f"all {len(names)} payloads" if len(names) == len(PAYLOADS) else ", ".join(names)


@mutation("content", SEMANTIC, harmless=True)
def html_in_markdown_answer(up: Upload, rng: random.Random) -> str | None:
    """HTML, JS and SVG in the written answer."""
    cell = _answer(up.doc, rng, "markdown")
    if cell is None:
        return None
    names = _payloads(rng)
    _append(cell, "\n\n".join(PAYLOADS[n] for n in names))
    return f"{_named(names)} in 'explain'"


@mutation("content", SEMANTIC, harmless=True)
def html_in_added_markdown(up: Upload, rng: random.Random) -> str | None:
    """An added markdown cell full of markup."""
    names = _payloads(rng)
    where = _insert(up.doc, rng, _new_cell("markdown", "\n\n".join(PAYLOADS[n] for n in names)))
    return where and f"{_named(names)} in a markdown cell added {where}"


@mutation("content", SEMANTIC, harmless=True)
def html_in_code_comment(up: Upload, rng: random.Random) -> str | None:
    """Markup in comments and strings of a code answer."""
    cell = _answer(up.doc, rng, "code")
    if cell is None:
        return None
    names = _payloads(rng)
    _append(cell, "\n".join(f"# {PAYLOADS[n]}" for n in names) + f"\nNOTE = {PAYLOADS[names[0]]!r}")
    return f"{_named(names)} in comments of {_grade_id(cell)!r}"


def _stored_outputs(names: list[str]) -> list[dict]:
    html = "".join(PAYLOADS[n] for n in names)
    svg = SVG_OPEN + f"<script>console.log('{MARKER}')</script></svg>"
    return [
        {"output_type": "display_data", "metadata": {}, "data": {"text/html": html, "text/plain": "x"}},
        {"output_type": "display_data", "metadata": {}, "data": {"image/svg+xml": svg}},
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"application/javascript": f"console.log('{MARKER}')"},
        },
        {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {"text/html": html}},
    ]


@mutation("content", SEMANTIC, harmless=True)
def html_in_stored_outputs(up: Upload, rng: random.Random) -> str | None:
    """Saved outputs with text/html, SVG and JavaScript, on an answer or an added code cell."""
    names = _payloads(rng)
    if rng.random() < 0.5:
        cell = _answer(up.doc, rng, "code")
        if cell is None:
            return None
        cell["outputs"] = _stored_outputs(names)
        return f"stored outputs ({_named(names)}) on {_grade_id(cell)!r}"
    where = _insert(up.doc, rng, _new_cell("code", "1 + 1", outputs=_stored_outputs(names)))
    return where and f"stored outputs ({_named(names)}) on a code cell added {where}"


@mutation("content", SEMANTIC, harmless=True)
def widget_state(up: Upload, rng: random.Random) -> str | None:
    """Widget state in the notebook's metadata (rendered as a script by nbconvert)."""
    if not isinstance(up.doc, dict) or not isinstance(up.doc.get("metadata"), dict):
        return None
    state = {"model-1": {"model_name": "HTMLModel", "state": {"value": PAYLOADS["script"]}}}
    state["model-2"] = {"model_name": "x", "state": {"value": f"</script><script>console.log('{MARKER}')//"}}
    up.doc["metadata"]["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {"state": state, "version_major": 2, "version_minor": 0}
    }
    return "widget state with a script breakout in the notebook metadata"


@mutation("content", SEMANTIC)
def html_in_cell_id(up: Upload, rng: random.Random) -> str | None:
    """Markup in a cell's id (and in its tags)."""
    cell = _pick(rng, _dict_cells(up.doc))
    if cell is None:
        return None
    cell["id"] = rng.choice(NAME_PAYLOADS)
    if isinstance(cell.get("metadata"), dict):
        cell["metadata"]["tags"] = [PAYLOADS["script"]]
    return f"markup in the id and tags of {_grade_id(cell) or 'a cell'!r}"


@mutation("content", FILES, harmless=True)
def html_in_file_name(up: Upload, rng: random.Random) -> str | None:
    """Markup in the notebook's file name."""
    if up.notebook_name is None:
        return None
    up.notebook_name = f"{rng.choice(NAME_PAYLOADS)}.ipynb"
    return "markup in the notebook's file name"


@mutation("content", FILES, harmless=True)
def html_in_folder_name(up: Upload, rng: random.Random) -> str:
    """Markup in the student folder's name (the student id)."""
    up.folder_suffix += f"-{rng.choice(NAME_PAYLOADS)}"
    return "markup in the folder name"


DISPLAYS = {
    "HTML": f"display(HTML({PAYLOADS['script'] + PAYLOADS['img-onerror']!r}))",
    "Javascript": f"display(Javascript(\"console.log('{MARKER}')\"))",
    "SVG": f"display(SVG({SVG_OPEN + '</svg>'!r}))",
    "Markdown": f"display(Markdown({PAYLOADS['iframe']!r}))",
    "repr_html": (
        "class Shiny:\n    def _repr_html_(self):\n"
        f"        return {PAYLOADS['svg-onload'] + PAYLOADS['a-javascript']!r}\nShiny()"
    ),
    "Latex": f"display(Latex({PAYLOADS['img-onerror']!r}))",
    "print": f"print({PAYLOADS['script']!r})",
    "error": f"raise ValueError({PAYLOADS['script']!r})",
}


@mutation("content", SEMANTIC, harmless=True)
def display_html(up: Upload, rng: random.Random) -> str | None:
    """An answer cell that displays HTML, JavaScript, SVG or markdown when it runs (or raises markup)."""
    cell = _answer(up.doc, rng, "code")
    if cell is None:
        return None
    names = sorted(rng.sample(sorted(DISPLAYS), k=len(DISPLAYS)), key=lambda n: n == "error")  # raise: last
    code = "\n".join(DISPLAYS[n] for n in names)
    _append(cell, f"from IPython.display import display, HTML, Javascript, SVG, Markdown, Latex\n{code}")
    return f"{_grade_id(cell)!r} displays {', '.join(names)}"


@mutation("content", SEMANTIC)
def shell_escape(up: Upload, rng: random.Random) -> str | None:
    """``!ls`` or ``%%bash`` in an answer cell."""
    cell = _answer(up.doc, rng, "code")
    if cell is None:
        return None
    if rng.random() < 0.5:
        _append(cell, rng.choice(["!ls -la /", "!cat /etc/passwd | head -3", "files = !ls\n%env X=1"]))
        return f"a shell escape in {_grade_id(cell)!r}"
    _set_source(cell, f"%%bash\necho '{PAYLOADS['script']}'\nls /\n" + _source_text(cell))
    return f"{_grade_id(cell)!r} made a %%bash cell"


RAW_BUNDLES = {  # what display(..., raw=True) lets a cell put in its outputs
    "png-breakout": ({"image/png": f"\"><img src=x onerror=\"console.log('{MARKER}')"}, {}),
    "jpeg-breakout": ({"image/jpeg": f"x\" onerror=\"console.log('{MARKER}')"}, {}),
    "size-breakout": (
        {"image/png": "iVBORw0KGgo="},
        {"image/png": {"width": f"1\" onerror=\"console.log('{MARKER}')", "height": "<script>"}},
    ),
    "html-list": ({"text/html": ["<scr", f"ipt>console.log('{MARKER}')</script>"]}, {}),
    "markdown": ({"text/markdown": PAYLOADS["iframe"] + PAYLOADS["markdown-javascript"]}, {}),
    "latex": ({"text/latex": PAYLOADS["svg-onload"]}, {}),
    "widget-view": ({"application/vnd.jupyter.widget-view+json": {"model_id": PAYLOADS["script"]}}, {}),
    "pdf": ({"application/pdf": PAYLOADS["script"], "text/plain": "pdf"}, {}),
}


@mutation("content", SEMANTIC, harmless=True)
def display_raw_mime(up: Upload, rng: random.Random) -> str | None:
    """An answer cell that displays raw MIME bundles: image data and sizes that break out of attributes."""
    cell = _answer(up.doc, rng, "code")
    if cell is None:
        return None
    names = rng.sample(sorted(RAW_BUNDLES), k=len(RAW_BUNDLES))
    lines = [f"display({RAW_BUNDLES[n][0]!r}, raw=True, metadata={RAW_BUNDLES[n][1]!r})" for n in names]
    _append(cell, "from IPython.display import display\n" + "\n".join(lines))
    return f"{_grade_id(cell)!r} displays raw bundles {', '.join(names)}"


@mutation("content", SEMANTIC)
def markup_in_test_message(up: Upload, rng: random.Random) -> str | None:
    """An answer whose function raises an exception named and worded in markup when a test calls it."""
    cell = _answer(up.doc, rng, "code")
    if cell is None:
        return None
    name = _grade_id(cell)
    payload = PAYLOADS[rng.choice(["script", "img-onerror", "iframe", "broken-out-of-code"])]
    _append(
        cell,
        f"class Oops(Exception):\n    pass\n\nOops.__name__ = Oops.__qualname__ = {NAME_PAYLOADS[0]!r}\n\n"
        f"def {name}(*args):\n    raise Oops({payload!r})",
    )
    return f"{name}() raises markup"


@mutation("content", SEMANTIC)
def huge_output(up: Upload, rng: random.Random) -> str | None:
    """Huge outputs: printed, displayed as HTML (cut mid-tag), or stored in the file."""
    cell = _answer(up.doc, rng, "code")
    if cell is None:
        return None
    how = rng.choice(["print", "html", "stored", "stored-too-large"])
    if how == "print":
        _append(cell, "print('x' * 3_000_000)")
    elif how == "html":
        _append(
            cell,
            "from IPython.display import display, HTML\n"
            f"display(HTML(('<i>' + 'y' * 50 + '</i>') * 400 + {PAYLOADS['script']!r} * 2000))",
        )
    else:
        size = 600_000 if how == "stored" else 1_500_000
        text = ("y" * 99 + "\n") * (size // 100)
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": text}]
    return f"{how} huge output in {_grade_id(cell)!r}"


# files ---------------------------------------------------------------------------------------------


@mutation("files", FILES, harmless=True)
def renamed(up: Upload, rng: random.Random) -> str | None:
    """The notebook renamed (``HW1 final.ipynb``, ``toy (2).ipynb``...)."""
    if up.notebook_name is None:
        return None
    up.notebook_name = rng.choice(
        ["HW1 final.ipynb", f"{ASSIGNMENT} (2).ipynb", f"{ASSIGNMENT.title()}.ipynb", f"{ASSIGNMENT}.IPYNB",
         f"{ASSIGNMENT}-final.ipynb", f"Copy of {ASSIGNMENT}.ipynb"]
    )  # fmt: skip
    return f"renamed to {up.notebook_name!r}"


def _empty_notebook() -> bytes:
    doc = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(doc, indent=1).encode()


@mutation("files", FILES, harmless=True)
def several_notebooks(up: Upload, rng: random.Random) -> str | None:
    """Several notebooks in the folder; one holds the graded cells."""
    if up.notebook_name is None:
        return None
    if rng.random() < 0.5:
        up.notebook_name = rng.choice(["HW1 final.ipynb", f"{ASSIGNMENT}_v2.ipynb"])
        up.extra_files["Untitled.ipynb"] = _empty_notebook()
        up.extra_files["scratch.ipynb"] = json.dumps(
            {
                "cells": [_new_cell("code", "print('scratch')")],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        ).encode()
        return f"{up.notebook_name!r} beside Untitled.ipynb and scratch.ipynb"
    up.extra_files[f".ipynb_checkpoints/{ASSIGNMENT}-checkpoint.ipynb"] = (  # where Jupyter keeps it
        TOY_FIXTURES / "submissions" / "untouched.ipynb"
    ).read_bytes()
    up.extra_files["Untitled1.ipynb"] = _empty_notebook()
    return f"{up.notebook_name!r} beside Untitled1.ipynb and a blank copy in .ipynb_checkpoints/"


@mutation("files", FILES, harmless=True)
def extra_files(up: Upload, rng: random.Random) -> str:
    """Files that are not notebooks beside the notebook."""
    files = {
        "README.md": b"# my homework\n",
        "data.csv": b"a,b\n1,2\n",
        ".DS_Store": b"\x00\x00\x00\x01Bud1",
        f"{ASSIGNMENT}.py": b"def square(x):\n    return x * x\n",
        "notes.txt": "r\u00e9sum\u00e9 \U0001f40d".encode(),
    }
    chosen = rng.sample(sorted(files), k=rng.randint(1, len(files)))
    up.extra_files.update({name: files[name] for name in chosen})
    if rng.random() < 0.3:
        up.extra_folders.append(".ipynb_checkpoints")
    return f"extra files {', '.join(chosen)}"


# A sparse file this large takes no disk, and no machine allocates it: a reader that ignores the size limit
# fails at once (MemoryError) instead of filling the grading machine's memory.
SPARSE_BYTES = 2**40


@mutation("files", FILES)
def special_files(up: Upload, rng: random.Random) -> str | None:
    """A symbolic link (to the instructor's source), a named pipe or a huge sparse file as a notebook."""
    if up.notebook_name is None:
        return None
    instead = f"{ASSIGNMENT}.ipynb"
    variant = rng.choice(["symlink-source", "symlink-etc", "fifo", "sparse", "fifo-beside", "sparse-beside"])
    if variant.endswith("-beside"):  # the real notebook renamed, the odd file a second candidate
        up.notebook_name, instead = "HW1 final.ipynb", rng.choice(["backup.ipynb", "Untitled.ipynb"])
    else:
        up.notebook_name = None
    if variant == "symlink-source":
        up.special.append(("symlink", instead, str(TOY_SOURCE / f"{ASSIGNMENT}.ipynb")))
    elif variant == "symlink-etc":
        up.special.append(("symlink", instead, "/etc/passwd"))
    elif variant.startswith("fifo"):
        up.special.append(("fifo", instead, ""))
    else:
        up.special.append(("sparse", instead, str(SPARSE_BYTES)))
    return f"{instead} is a {variant.split('-')[0]}" + (
        " beside the renamed notebook" if "beside" in variant else ""
    )


@mutation("files", FILES)
def odd_folder_name(up: Upload, rng: random.Random) -> str:
    """A student folder whose name holds a newline, a tab, quotes, commas or a formula."""
    suffix = rng.choice(["-a\nb", "-tab\there", '-"quoted",comma', "-=HYPERLINK(1)", "- ", "-;rm -rf ~"])
    up.folder_suffix += suffix
    return f"folder name ends with {suffix!r}"


NAME_MAX = 255  # bytes in one file name (Linux file systems)


@mutation("files", FILES)
def long_folder_name(up: Upload, rng: random.Random) -> str:
    """A student folder's name as long as the file system allows (ASCII, accented, or bytes not UTF-8)."""
    up.folder_pad = rng.choice(["x", "\u00e9", "\udcff"])
    return f"folder name padded with {up.folder_pad!r} to {NAME_MAX} bytes"


@mutation("files", FILES)
def colliding_names(up: Upload, rng: random.Random) -> str:
    """Two student folders whose names differ only in bytes that are not UTF-8 or in Unicode normal form."""
    old, new = rng.choice([("\udcff", "\\xff"), ("\u00e9", "e\u0301"), ("\udcfe", "\ufffd")])
    up.folder_suffix += f"-{old}"
    up.twin = (old, new)
    return f"a second folder named with {new!r} instead of {old!r}, holding the same files"


@mutation("files", FILES)
def empty_folder(up: Upload, rng: random.Random) -> str:
    """A student folder with nothing in it."""
    up.notebook_name = None
    up.extra_files.clear()
    return "empty folder"


@mutation("files", FILES)
def notebook_is_a_folder(up: Upload, rng: random.Random) -> str:
    """A folder named like the notebook (an unzipped upload)."""
    up.notebook_name = None
    up.extra_folders.append(f"{ASSIGNMENT}.ipynb")
    return f"{ASSIGNMENT}.ipynb is a folder"


# --------------------------------------------------------------------------------------------------
# Controls: submissions whose score is known.


def _control_crlf_file(up: Upload) -> None:
    up.text_patches.append(lambda text: text.replace("\n", "\r\n"))


def _control_crlf_sources(up: Upload) -> None:
    for cell in _dict_cells(up.doc):
        _set_source(cell, _source_text(cell).replace("\n", "\r\n"))


def _control_renamed(up: Upload) -> None:
    up.notebook_name = f"{ASSIGNMENT} (2).ipynb"


def _control_extra_files(up: Upload) -> None:
    up.extra_files.update({"README.md": b"# notes\n", "data.csv": b"a,b\n1,2\n"})


def _control_minified(up: Upload) -> None:
    up.text_patches.append(lambda text: json.dumps(json.loads(text), separators=(",", ":")))


def _control_string_sources(up: Upload) -> None:
    for cell in _dict_cells(up.doc):
        cell["source"] = _source_text(cell)


def _control_notes(up: Upload) -> None:
    _insert(up.doc, random.Random(0), _new_cell("markdown", f"Notes on the homework {NON_BMP}"))


CONTROLS: dict[str, tuple[str, Callable[[Upload], None] | None, float, str]] = {
    # name: (base, harmless change, autograded score it must keep, what the change is)
    "correct": ("correct", None, MAX_SCORE, "the correct solution, untouched"),
    "blank": ("untouched", None, 0.0, "the blank release, untouched"),
    "crlf-file": ("correct", _control_crlf_file, MAX_SCORE, "CRLF line endings in the file"),
    "crlf-sources": ("correct", _control_crlf_sources, MAX_SCORE, "CRLF line endings inside every source"),
    "renamed": ("correct", _control_renamed, MAX_SCORE, f"the only notebook named {ASSIGNMENT} (2).ipynb"),
    "extra-files": ("correct", _control_extra_files, MAX_SCORE, "README.md and data.csv beside it"),
    "minified": ("correct", _control_minified, MAX_SCORE, "JSON without whitespace"),
    "string-sources": ("correct", _control_string_sources, MAX_SCORE, "sources as one string each"),
    "added-notes": ("correct", _control_notes, MAX_SCORE, "an added markdown cell with emoji"),
}


# --------------------------------------------------------------------------------------------------
# A batch on disk.


@dataclass(frozen=True)
class Batch:
    """A generated batch: ``folder/subs/<student>/`` plus ``folder/manifest.json``."""

    folder: Path
    manifest: dict

    @property
    def subs(self) -> Path:
        """The folder of student folders (what ``autograder grade`` reads)."""
        return self.folder / "subs"

    @property
    def students(self) -> dict[str, dict]:
        """Manifest entries by key (``s007`` for mutated submissions, ``c00`` for controls)."""
        return self.manifest["students"]

    def describe(self, key: str) -> str:
        """A student's key, folder and mutations, for failure messages."""
        entry = self.students[key]
        if entry["control"]:
            return f"{key} (control: {entry['control']})"
        done = "; ".join(f"{m['name']}: {m['detail']}" for m in entry["mutations"])
        return f"{key} ({entry['base']} + {done})"


def tree_digest(folder: Path) -> dict[str, str]:
    """What a folder holds, without opening pipes or reading sparse giants: a comparable summary."""
    found = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            found[str(path.relative_to(folder))] = f"symlink to {os.readlink(path)}"
        elif stat.S_ISFIFO(info.st_mode):
            found[str(path.relative_to(folder))] = "fifo"
        elif path.is_file():
            data = path.read_bytes() if info.st_size < 64 * 1024**2 else b""
            found[str(path.relative_to(folder))] = f"{info.st_size} {hashlib.sha256(data).hexdigest()}"
    return found


def key_of(student_id: str) -> str:
    """The manifest key a student id starts with (folder names are ``<key>-<label>``)."""
    return student_id.split("-", 1)[0]


def _write(folder: Path, upload: Upload) -> None:
    folder.mkdir(parents=True)
    if upload.notebook_name is not None:
        (folder / upload.notebook_name).write_bytes(serialize(upload))
    for name, data in upload.extra_files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    for name in upload.extra_folders:
        (folder / name).mkdir(exist_ok=True)
    for kind, name, argument in upload.special:
        if kind == "symlink":
            (folder / name).symlink_to(argument)
        elif kind == "fifo":
            os.mkfifo(folder / name)
        else:
            with open(folder / name, "wb") as handle:
                handle.truncate(int(argument))


def pool(
    classes: tuple[str, ...] = CLASSES, names: tuple[str, ...] = (), skip: tuple[str, ...] = ()
) -> list[Mutation]:
    """The mutations to draw from: those of ``classes``, or exactly ``names``, less those in ``skip``."""
    unknown = sorted((set(names) | set(skip)) - set(MUTATIONS))
    if unknown:
        raise ValueError(f"unknown mutation(s) {unknown}; known: {sorted(MUTATIONS)}")
    chosen = [MUTATIONS[n] for n in names] if names else [m for m in MUTATIONS.values() if m.kind in classes]
    return [m for m in chosen if m.name not in skip]


def make_upload(seed: int, index: int, mutations: list[Mutation]) -> tuple[Upload, list[dict]]:
    """Build notebook ``index`` of a batch: its base and one to three mutations from ``mutations``.

    The first mutation is ``mutations[index % len(mutations)]``, so a batch covers every kind: the first
    ``len(mutations)`` notebooks get that one alone (a failure names exactly one mutation), later ones get
    one or two more, drawn. All of it comes from ``random.Random(f"{seed}:{index}")``.

    Returns:
        The upload and what was applied, in the order applied.
    """
    rng = random.Random(f"{seed}:{index}")
    first = mutations[index % len(mutations)]
    others = [m for m in mutations if m is not first]
    extra = rng.randint(1, 2) if index >= len(mutations) else 0
    chosen = [first, *rng.sample(others, k=min(len(others), extra))]
    base = "correct" if rng.random() < 0.6 else "untouched"
    upload = Upload(_base_doc(base), base)
    applied = []
    for mut in sorted(chosen, key=lambda m: m.stage):  # stable: draw order within a stage
        detail = mut.apply(upload, rng)
        if detail is not None:
            applied.append({"name": mut.name, "class": mut.kind, "detail": detail})
    return upload, applied


def _label(name: str) -> str:
    return name.replace(".", "-")


def generate(
    folder: Path,
    *,
    seed: int,
    count: int,
    classes: tuple[str, ...] = CLASSES,
    names: tuple[str, ...] = (),
    skip: tuple[str, ...] = (),
    controls: bool = True,
) -> Batch:
    """Write a batch of ``count`` mutated submissions (plus the controls) and its manifest.

    Args:
        folder: where ``subs/`` and ``manifest.json`` go (created; must not hold a batch already).
        seed: the batch's seed; the same seed writes the same bytes.
        count: how many mutated submissions.
        classes: draw mutations from these classes only.
        names: draw exactly these mutations (overrides ``classes``).
        skip: never draw these (to see past a mutation known to abort a batch).
        controls: also write the control submissions.

    Returns:
        The batch.
    """
    mutations = pool(classes, names, skip)
    subs = folder / "subs"
    subs.mkdir(parents=True)
    students: dict[str, dict] = {}
    if controls:
        for number, (name, (base, change, score, what)) in enumerate(CONTROLS.items()):
            upload = Upload(_base_doc(base), base)
            if change is not None:
                change(upload)
            key = f"c{number:02d}"
            _write(subs / f"{key}-{name}", upload)
            students[key] = {
                "folder": f"{key}-{name}",
                "base": base,
                "control": what,
                "expected_score": score,
                "mutations": [],
            }
    for index in range(count):
        upload, applied = make_upload(seed, index, mutations)
        key = f"s{index:03d}"
        label = _label(applied[0]["name"]) if applied else "unchanged"
        name = f"{key}-{label}{upload.folder_suffix}"
        twin = f"{key}-{label}{upload.folder_suffix.replace(*upload.twin)}" if upload.twin else None
        if upload.folder_pad:
            room = NAME_MAX - max(len(os.fsencode(n)) for n in (name, twin) if n is not None)
            padding = upload.folder_pad * (room // len(os.fsencode(upload.folder_pad)))
            name, twin = name + padding, twin and twin + padding
        _write(subs / name, upload)
        students[key] = {"folder": name, "base": upload.base, "control": "", "expected_score": None,
                         "mutations": applied, "rows": 1}  # fmt: skip
        if twin is not None:
            _write(subs / twin, upload)
            students[key].update(twin=twin, rows=2)
    manifest = {"seed": seed, "count": count, "assignment": ASSIGNMENT, "max_score": MAX_SCORE,
                "students": students}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return Batch(folder, manifest)


# --------------------------------------------------------------------------------------------------
# Grading a batch with the installed command, and reading what it wrote.


@dataclass(frozen=True)
class GradedBatch:
    """A batch after ``autograder grade``: the command's outcome and the files it wrote.

    Attributes:
        batch: the generated batch.
        out: the ``--out`` folder.
        done: the finished command.
        seconds: its wall time.
        rows: ``grades.csv`` rows by manifest key (None when the file is missing).
        results: ``results.json``'s students by manifest key (None when missing or unreadable).
    """

    batch: Batch
    out: Path
    done: subprocess.CompletedProcess
    seconds: float
    rows: dict[str, list[dict]] | None
    results: dict[str, list[dict]] | None


def grade_command(batch: Batch, out: Path, *, workers: int = 2, force: bool = False) -> list[str]:
    """The command that grades ``batch`` into ``out`` (strict sandbox, the default)."""
    command = [sys.executable, "-m", "autograder", "grade", str(TOY_SOURCE), str(batch.subs),
               "--out", str(out), "--workers", str(workers)]  # fmt: skip
    return [*command, "--force"] if force else command


def _by_key(ids_and_values: list[tuple[str, dict]]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for student_id, value in ids_and_values:
        grouped.setdefault(key_of(student_id), []).append({"student_id": student_id, **value})
    return grouped


def read_outputs(out: Path) -> tuple[dict[str, list[dict]] | None, dict[str, list[dict]] | None]:
    """``grades.csv`` rows and ``results.json`` students, grouped by manifest key (None if missing)."""
    rows = results = None
    if (out / "grades.csv").is_file():
        with open(out / "grades.csv", newline="", encoding="utf-8", errors="replace") as handle:
            rows = _by_key([(row["student_id"], row) for row in csv.DictReader(handle)])
    try:
        students = json.loads((out / "results.json").read_text(encoding="utf-8", errors="replace"))[
            "students"
        ]
        results = _by_key(list(students.items()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return rows, results


def grade(batch: Batch, out: Path, *, workers: int = 2, timeout: float = 900) -> GradedBatch:
    """Grade ``batch`` once with ``autograder grade`` and read what it wrote."""
    start = time.monotonic()
    try:
        done = subprocess.run(
            grade_command(batch, out, workers=workers), cwd=ROOT, capture_output=True, text=True,
            errors="replace", timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired as expired:  # a batch that hangs: say so, with what it printed
        stderr = expired.stderr.decode("utf-8", "replace") if isinstance(expired.stderr, bytes) else ""
        done = subprocess.CompletedProcess(expired.cmd, -9, "", f"{stderr}\nHUNG: killed after {timeout:g} s")
    seconds = time.monotonic() - start
    rows, results = read_outputs(out)
    return GradedBatch(batch, out, done, seconds, rows, results)


# --------------------------------------------------------------------------------------------------
# What a grading run must satisfy. Each check returns the problems it found, one line each.

EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception|Interrupt|Exit)\b|\bStopIteration\b")
NOT_A_SENTENCE = (  # Python speaking, not the grader: tracebacks, reprs, messages of built-in exceptions
    "Traceback", "internal error", "object at 0x", 'File "', "{'", "has no attribute", "unhashable type",
    "is not iterable", "not subscriptable", "NotebookNode",
)  # fmt: skip
MAX_REASON_CHARS = 1_000
GRADER_FAULT = "fault in the grader"  # how a row says the grader itself failed: never an upload's doing


def abort_summary(graded: GradedBatch) -> str:
    """Why a run wrote no ``grades.csv``: exit code, the exception line, and who was never stored."""
    stderr = graded.done.stderr.strip().splitlines()
    last = next(
        (line for line in reversed(stderr) if EXCEPTION_NAME.search(line)), stderr[-1] if stderr else ""
    )
    stored = {key_of(p.stem) for p in (graded.out / ".state").glob("*.json")}
    missing = [graded.batch.describe(k) for k in graded.batch.students if k not in stored]
    return (
        f"the whole batch aborted (exit {graded.done.returncode}, no grades.csv); "
        f"stderr ends with: {last!r}.\n"
        f"{len(missing)} of {len(graded.batch.students)} student(s) have no stored result"
        + (":\n  " + "\n  ".join(missing[:40]) if missing else "")
        + "\nFind the notebook that kills a batch with: python tests/fuzz_uploads.py --grade --one-by-one"
    )


def traceback_problems(graded: GradedBatch) -> list[str]:
    """The command must end with exit 0 or 1 and print no traceback."""
    problems = []
    if graded.done.returncode not in (0, 1):
        problems.append(f"exit status {graded.done.returncode}")
    if "HUNG: killed after" in graded.done.stderr:
        problems.append(graded.done.stderr.strip().splitlines()[-1])
    if "Traceback (most recent call last)" in graded.done.stderr:
        lines = graded.done.stderr.strip().splitlines()
        problems.append(f"a traceback on stderr ending with {lines[-1]!r}")
    return problems


def row_problems(graded: GradedBatch) -> list[str]:
    """One row per student folder in ``grades.csv`` and ``results.json``, each id once, no others."""
    problems = []
    for name, found in (("grades.csv", graded.rows), ("results.json", graded.results)):
        if found is None:
            problems.append(f"{name} is missing or unreadable")
            continue
        for key, entry in graded.batch.students.items():
            if len(found.get(key, [])) != entry.get("rows", 1):
                problems.append(f"{name}: {len(found.get(key, []))} rows for {graded.batch.describe(key)}")
            ids = [row["student_id"] for row in found.get(key, [])]
            if len(set(ids)) != len(ids):
                problems.append(f"{name}: the same student id twice for {graded.batch.describe(key)}")
        problems += [
            f"{name}: a row for an unknown student {k!r}" for k in found if k not in graded.batch.students
        ]
    return problems


def is_sentence(reason: str) -> str:
    """Why ``reason`` is not a sentence a student can act on ('' when it is one)."""
    words = re.findall(r"[A-Za-z]{2,}", reason)
    if len(words) < 3:
        return "fewer than three words"
    if match := EXCEPTION_NAME.search(reason):
        return f"names the exception {match.group()}"
    if found := next((s for s in NOT_A_SENTENCE if s in reason), None):
        return f"contains {found!r}"
    if match := re.search(r"\b(\w+) \1\b", reason):
        return f"repeats the word {match.group(1)!r}"
    if len(reason) > MAX_REASON_CHARS:
        return f"{len(reason)} characters long"
    if _SURROGATE.search(reason):
        return "holds a lone surrogate"
    return ""


def reason_problems(graded: GradedBatch) -> list[str]:
    """Every failed row's reason is a sentence, not an exception; no upload is reported as a grader fault."""
    problems = []
    for key, rows in (graded.rows or {}).items():
        for row in rows:
            who = graded.batch.describe(key) if key in graded.batch.students else key
            if row["status"] == "failed" and (why := is_sentence(row["reason"])):
                problems.append(f"{who}: reason {row['reason'][:200]!r} {why}")
            elif GRADER_FAULT in row["reason"]:
                problems.append(f"{who}: an upload made the grader fail: {row['reason'][:200]!r}")
            elif found := next((s for s in NOT_A_SENTENCE[:3] if s in row["reason"]), None):
                problems.append(f"{who}: a graded row's notes contain {found!r}: {row['reason'][:200]!r}")
    return problems


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def score_problems(graded: GradedBatch) -> list[str]:
    """Graded rows have a finite score between 0 and the source's maximum; failed rows have none."""
    problems = []
    for key, rows in (graded.rows or {}).items():
        who = graded.batch.describe(key) if key in graded.batch.students else key
        for row in rows:
            score, top = _number(row["score"]), _number(row["max_score"])
            if row["status"] == "graded":
                if top != MAX_SCORE:
                    problems.append(f"{who}: max_score {row['max_score']!r}, the source says {MAX_SCORE:g}")
                if score is None or not 0 <= score <= MAX_SCORE:
                    problems.append(f"{who}: score {row['score']!r} outside 0..{MAX_SCORE:g}")
            elif row["status"] == "failed":
                if row["score"] != "":
                    problems.append(f"{who}: failed with a score {row['score']!r}")
            else:
                problems.append(f"{who}: status {row['status']!r}")
    return problems


def blank_problems(graded: GradedBatch) -> list[str]:
    """A blank notebook earns nothing, whatever was done to it (no mutation adds solution code)."""
    problems = []
    for key, entry in graded.batch.students.items():
        if entry["base"] != "untouched":
            continue
        for row in (graded.rows or {}).get(key, []):
            if row["status"] == "graded" and _number(row["score"]) != 0:
                problems.append(f"{graded.batch.describe(key)}: a blank notebook scored {row['score']!r}")
    return problems


def harmless_problems(graded: GradedBatch) -> list[str]:
    """A correct notebook with only harmless mutations (see :class:`Mutation`) keeps full marks."""
    problems = []
    for key, entry in graded.batch.students.items():
        names = [m["name"] for m in entry["mutations"]]
        if entry["control"] or entry["base"] != "correct" or not all(MUTATIONS[n].harmless for n in names):
            continue
        got = [(r["status"], r["score"], r["reason"][:160]) for r in (graded.rows or {}).get(key, [])]
        if [(status, _number(score)) for status, score, _ in got] != [("graded", MAX_SCORE)]:
            problems.append(f"{graded.batch.describe(key)}: expected {MAX_SCORE:g}, got {got}")
    return problems


def hidden_problems(graded: GradedBatch) -> list[str]:
    """No hidden test line reaches a feedback page, ``results.json`` or ``grades.csv``."""
    import html

    from autograder.source import load_assignment

    hidden = load_assignment(TOY_SOURCE).hidden_lines
    problems = []
    for path in [*feedback_pages(graded.out), graded.out / "results.json", graded.out / "grades.csv"]:
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        for line in hidden:
            if any(form in text for form in (line, html.escape(line), html.escape(line, quote=False))):
                problems.append(f"{path.relative_to(graded.out)} quotes the hidden test line {line[:60]!r}")
    return problems


def control_problems(graded: GradedBatch) -> list[str]:
    """Controls are graded and keep their scores."""
    problems = []
    for key, entry in graded.batch.students.items():
        if not entry["control"]:
            continue
        rows = (graded.rows or {}).get(key, [])
        got = [(r["status"], r["score"], r["reason"][:160]) for r in rows]
        if [(s, _number(v)) for s, v, _ in got] != [("graded", entry["expected_score"])]:
            problems.append(f"{graded.batch.describe(key)}: expected {entry['expected_score']:g}, got {got}")
    return problems


def gradebook_problems(graded: GradedBatch) -> list[str]:
    """``gradebook.db`` exists and holds one submission per graded row."""
    path = graded.out / "gradebook.db"
    if not path.is_file():
        return ["gradebook.db is missing"]
    graded_rows = sum(r["status"] == "graded" for rows in (graded.rows or {}).values() for r in rows)
    try:
        with sqlite3.connect(path) as db:
            stored = db.execute("select count(*) from submitted_assignment").fetchone()[0]
    except sqlite3.Error as error:
        return [f"gradebook.db cannot be read: {error}"]
    return (
        []
        if stored == graded_rows
        else [f"gradebook.db holds {stored} submissions, grades.csv {graded_rows}"]
    )


# Live markup: anything in a page that a browser would run or load because a submission put it there.
# Elements that load or run content, and raw-text elements whose parsing differs between a sanitizer and
# a browser (mutation XSS).
FORBIDDEN_TAGS = {
    "iframe", "object", "embed", "frame", "frameset", "applet", "base", "portal", "noscript", "noembed",
    "noframes", "xmp", "plaintext",
}  # fmt: skip
BAD_SCHEMES = ("javascript:", "vbscript:", "data:text/html", "data:application/xhtml", "data:image/svg+xml")
# Attributes whose value a browser loads or runs: submitted text there is live.
URL_ATTRIBUTES = {
    "href", "src", "srcset", "action", "formaction", "data", "xlink:href", "poster", "background",
    "srcdoc", "content", "ping", "codebase", "cite", "dynsrc", "lowsrc",
}  # fmt: skip


def _url_scheme(value: str) -> str:
    """A URL's scheme as a browser reads it (control characters and whitespace are ignored)."""
    return "".join(ch for ch in value if ch > " " and unicodedata.category(ch) != "Cc").lower()


def _inert_image(tag: str, scheme: str) -> bool:
    """An SVG shown through ``<img src="data:image/svg+xml...">``: browsers never run its scripts."""
    return tag == "img" and scheme.startswith("data:image/svg+xml")


def live_markup(page: str) -> list[str]:
    """Elements and attributes in ``page`` that would run or load submitted content.

    Parsed the way a browser does (html5lib). nbconvert's own template scripts are told apart by the
    marker: every payload carries :data:`MARKER`, which may appear only as text.

    Returns:
        One line per finding (empty when the page is safe).
    """
    from bs4 import BeautifulSoup

    found = []
    soup = BeautifulSoup(page, "html5lib")
    for tag in soup.find_all(True):
        name = tag.name.lower()
        if name in FORBIDDEN_TAGS:
            found.append(f"<{name}> element: {str(tag)[:120]!r}")
        for attr, value in tag.attrs.items():
            text = " ".join(value) if isinstance(value, list) else str(value)
            bare = attr.lower() if attr.lower() == "xlink:href" else attr.lower().rsplit(":", 1)[-1]
            scheme = _url_scheme(text)
            if bare.startswith("on"):
                found.append(f"<{name} {attr}=...> handler: {text[:80]!r}")
            elif bare in URL_ATTRIBUTES and scheme.startswith(BAD_SCHEMES) and not _inert_image(name, scheme):
                found.append(f"<{name} {attr}={text[:80]!r}> URL")
            elif bare in URL_ATTRIBUTES and MARKER in text:
                found.append(f"<{name} {attr}=...> loads submitted text: {text[:80]!r}")
            elif bare == "style" and ("url(" in scheme or "expression(" in scheme) and MARKER in text:
                found.append(f"<{name} style=...> loads submitted text: {text[:80]!r}")
        content = "".join(str(child) for child in tag.contents)  # get_text() skips script text
        if name in ("script", "style") and MARKER in content:
            found.append(f"<{name}> with submitted content: {content[:120]!r}")
        if name == "meta" and str(tag.get("http-equiv", "")).lower() == "refresh":
            found.append(f"<meta http-equiv=refresh>: {str(tag)[:120]!r}")
    return found


def feedback_pages(out: Path) -> list[Path]:
    """Every HTML page written under ``OUT/feedback``."""
    return sorted((out / "feedback").rglob("*.html"))


def markup_problems(graded: GradedBatch) -> list[str]:
    """No feedback page holds live markup from a submission."""
    problems = []
    for page in feedback_pages(graded.out):
        found = live_markup(page.read_text(encoding="utf-8", errors="replace"))
        if found:
            key = key_of(page.parent.name)
            who = graded.batch.describe(key) if key in graded.batch.students else page.parent.name
            problems.append(f"{who}: {len(found)} live element(s), e.g. " + "; ".join(found[:3]))
    return problems


def page_problems(graded: GradedBatch) -> list[str]:
    """Every student (each twin too) has exactly one feedback page."""
    pages: dict[str, int] = {}
    for page in feedback_pages(graded.out):
        pages[key_of(page.parent.name)] = pages.get(key_of(page.parent.name), 0) + 1
    problems = []
    for key, entry in graded.batch.students.items():
        if pages.get(key, 0) != entry.get("rows", 1):
            problems.append(f"{graded.batch.describe(key)}: {pages.get(key, 0)} feedback pages")
    return problems


CHECKS: dict[str, Callable[[GradedBatch], list[str]]] = {
    "exit status and stderr": traceback_problems,
    "one row per student": row_problems,
    "gradebook": gradebook_problems,
    "failed rows give sentences": reason_problems,
    "scores within the maximum": score_problems,
    "blank notebooks earn nothing": blank_problems,
    "controls keep their scores": control_problems,
    "harmless mutations keep full marks": harmless_problems,
    "no hidden test in what students see": hidden_problems,
    "one feedback page per student": page_problems,
    "no live markup in feedback": markup_problems,
}


def snapshot(out: Path) -> dict[str, bytes | int]:
    """What a re-run must not change: the reports' bytes and each stored result's modification time."""
    files: dict[str, bytes | int] = {
        name: (out / name).read_bytes() for name in ("grades.csv", "results.json") if (out / name).is_file()
    }
    files.update({f".state/{p.name}": p.stat().st_mtime_ns for p in sorted((out / ".state").glob("*.json"))})
    return files


# --------------------------------------------------------------------------------------------------
# Command line.


def _report(graded: GradedBatch) -> int:
    count, status = len(graded.batch.students), graded.done.returncode
    print(f"graded {count} submissions in {graded.seconds:.1f} s, exit {status}")
    if graded.rows is None:
        print(abort_summary(graded))
    broken = 0
    for name, check in CHECKS.items():
        problems = check(graded)
        broken += len(problems)
        print(f"\n== {name}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for line in problems:
            print(f"  - {line}")
    return 1 if broken else 0


def main(argv: list[str] | None = None) -> int:
    """Generate a batch (and optionally grade it and check the result)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="a new folder for the batch")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--count", type=int, default=len(MUTATIONS))
    parser.add_argument(
        "--classes", default=",".join(CLASSES), help=f"comma-separated, of {', '.join(CLASSES)}"
    )
    parser.add_argument("--mutation", action="append", default=[], help="only this mutation (repeatable)")
    parser.add_argument("--skip", action="append", default=[], help="never this mutation (repeatable)")
    parser.add_argument("--no-controls", action="store_true")
    parser.add_argument("--grade", action="store_true", help="grade the batch and check the results")
    parser.add_argument("--one-by-one", action="store_true", help="grade each folder in a batch of its own")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args(argv)
    if args.list:
        for mut in MUTATIONS.values():
            print(f"{mut.name:36} {mut.apply.__doc__}")
        return 0
    if args.out is None:
        parser.error("--out is required")
    batch = generate(
        args.out, seed=args.seed, count=args.count, classes=tuple(args.classes.split(",")),
        names=tuple(args.mutation), skip=tuple(args.skip), controls=not args.no_controls,
    )  # fmt: skip
    print(f"wrote {len(batch.students)} submissions to {batch.subs} (manifest: {args.out / 'manifest.json'})")
    if args.one_by_one:
        status = 0
        for key, entry in batch.students.items():
            single = Batch(args.out / "one" / key, {**batch.manifest, "students": {key: entry}})
            (single.subs).mkdir(parents=True)
            for name in (entry["folder"], entry.get("twin")):
                if name is not None:
                    (batch.subs / name).rename(single.subs / name)
            graded = grade(single, single.folder / "out", workers=1)
            (single.folder / "stderr.txt").write_text(graded.done.stderr, encoding="utf-8")
            problems = [p for check in CHECKS.values() for p in check(graded)]
            if graded.rows is None:
                problems.insert(0, abort_summary(graded).splitlines()[0])
            status |= bool(problems)
            print(f"{batch.describe(key)}: {'ok' if not problems else ''}")
            for line in problems:
                print(f"  - {line}")
        return status
    if args.grade:
        graded = grade(batch, args.out / "out", workers=args.workers)
        (args.out / "stderr.txt").write_text(graded.done.stderr, encoding="utf-8")
        print(f"the command's stderr: {args.out / 'stderr.txt'}")
        return _report(graded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
