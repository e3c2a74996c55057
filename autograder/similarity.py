"""Similar-work report: pairs of students whose answers are more alike than independent work usually is.

A pointer for a person to look at, never a verdict: it changes no grade, and the page says so. It runs
offline on a graded batch (``OUT/autograded/<student>/<hw>/<hw>.ipynb``, where every answer cell sits in
its place), so no student's work leaves the instructor's machine.

Method: document fingerprinting by *winnowing*, the algorithm behind MOSS (S. Schleimer, D. S. Wilkerson and
A. Aiken, "Winnowing: Local Algorithms for Document Fingerprinting", SIGMOD 2003):

1. **What counts.** Only code a student wrote: answer cells and cells they added; a cell identical to one
   of the released notebook's is dropped, and so is every fingerprint the released notebook itself has
   (the scaffold: signatures, docstrings, ``# YOUR CODE HERE``, given lines), so blank or near-blank
   submissions do not match each other.
2. **Normalization** (Python's own ``ast``), so the usual disguises change nothing: docstrings and comments
   are gone, white space does not exist after parsing, every name a student chose (variables, arguments,
   helper functions) becomes ``V`` while names the assignment defines (``sigmoid``), builtins, imported
   modules and attributes (``np.dot``) are kept, the operands of ``+``, ``*``, ``&``, ``|``, ``^``, ``==``
   and ``!=`` are put in a fixed order (``a = b + c`` equals ``a = c + b``), and functions are sorted, so
   reordering them changes nothing either. Code that does not parse falls back to the same renaming on
   its tokens.
3. **Fingerprints.** Hashes of every :data:`K` consecutive tokens; in each window of :data:`WINDOW` hashes
   the minimum is kept. Any common run of ``K + WINDOW - 1`` tokens or more shares a fingerprint.
4. **Index, not all pairs.** An inverted index from fingerprint to students counts shared fingerprints per
   pair; a fingerprint most of the class has (:func:`common_limit`) is an idiom, not evidence, and is
   ignored. A pair's similarity is the share of the smaller set of fingerprints found in the other.

The side-by-side view highlights lines whose renamed tokens appear in the other answer (operand order is
not undone there: it shows where to look, the score says how much).
"""

from __future__ import annotations

import ast
import builtins
import concurrent.futures
import csv
import hashlib
import html
import io
import json
import keyword
import os
import re
import tokenize
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.errors import UsageError
from autograder.source import Assignment, nb_meta

K = 12  # tokens per k-gram: shorter runs are coincidence (a call and its arguments)
WINDOW = 6  # winnowing window: every common run of K + WINDOW - 1 = 17 tokens is caught
DEFAULT_THRESHOLD = 0.5
MIN_FINGERPRINTS = 12  # an answer with fewer fingerprints is too short to compare
PER_PROCESS = 100  # notebooks per worker process below which fingerprinting stays in this process
MAX_SIDE_BY_SIDE = 100  # pairs shown side by side on the page (the table and the CSV list them all)
_COMMUTATIVE = (ast.Add, ast.Mult, ast.BitAnd, ast.BitOr, ast.BitXor)
_BUILTINS = frozenset(dir(builtins))
_KEYWORDS = frozenset(keyword.kwlist)


def _ipython_free(source: str) -> str:
    """The cell without IPython-only lines (magics, shell escapes), which ``ast`` cannot read."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _is_docstring(statement: ast.stmt) -> bool:
    """A bare string statement (a docstring or a string used as a comment)."""
    value = getattr(statement, "value", None)
    return (
        isinstance(statement, ast.Expr) and isinstance(value, ast.Constant) and isinstance(value.value, str)
    )


class _Normalizer(ast.NodeTransformer):
    """Removes what a copier changes for free: names, docstrings, operand order, function order."""

    def __init__(self, kept: frozenset[str]) -> None:
        self.kept = kept

    def _name(self, name: str) -> str:
        return name if name in self.kept or name in _BUILTINS else "V"

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        body = [s for s in body if not _is_docstring(s)]
        return body or [ast.Pass()]

    def visit_Module(self, node: ast.Module) -> ast.AST:
        self.generic_visit(node)
        node.body = self._body(node.body)
        functions = sorted(
            (s for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))),
            key=ast.dump,
        )
        others = [
            s for s in node.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        ]
        node.body = [*others, *functions]
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        node.name = self._name(node.name)
        node.body = self._body(node.body)
        node.returns = None
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.generic_visit(node)
        node.name = self._name(node.name)
        node.body = self._body(node.body)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg, node.annotation = "V", None
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._name(node.id)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, _COMMUTATIVE):
            node.left, node.right = sorted((node.left, node.right), key=ast.dump)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            node.left, node.comparators[0] = sorted((node.left, node.comparators[0]), key=ast.dump)
        return node


def normalized_tokens(source: str, kept: frozenset[str]) -> list[str]:
    """The token stream fingerprints are taken from (see the module docstring, step 2)."""
    try:
        tree = ast.parse(_ipython_free(source))
        text = ast.unparse(_Normalizer(kept).visit(tree))
    except (SyntaxError, ValueError, RecursionError):
        lines = _token_lines(source, kept)
        return [token for number in sorted(lines) for token in lines[number]]
    tokens = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in (tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER):
            continue
        tokens.append(
            {tokenize.NEWLINE: ";", tokenize.INDENT: "{", tokenize.DEDENT: "}"}.get(token.type, token.string)
        )
    return tokens


def _hash(gram: tuple[str, ...]) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(gram).encode(), digest_size=8).digest(), "big")


def fingerprints(tokens: list[str], *, k: int = K, window: int = WINDOW) -> frozenset[int]:
    """Winnowing (Schleimer et al. 2003): the minimum hash of every window of ``window`` k-gram hashes."""
    hashes = [_hash(tuple(tokens[i : i + k])) for i in range(len(tokens) - k + 1)]
    if len(hashes) <= window:
        return frozenset(hashes[:1] and [min(hashes)])
    return frozenset(min(hashes[i : i + window]) for i in range(len(hashes) - window + 1))


@dataclass(frozen=True)
class Answer:
    """What one student wrote: the code that counts, and its fingerprints (scaffold removed)."""

    student_id: str
    cells: tuple[str, ...]
    prints: frozenset[int]


@dataclass(frozen=True)
class Pair:
    """Two students and how alike their answers are (0..1: the smaller set's share found in the other)."""

    a: str
    b: str
    similarity: float
    shared: int
    prints_a: int
    prints_b: int


@dataclass(frozen=True)
class SimilarityReport:
    """The pairs above the threshold, most similar first, and where the report was written."""

    pairs: tuple[Pair, ...]
    compared: int
    skipped: tuple[str, ...]
    html: Path
    csv: Path


def assignment_names(assignment: Assignment) -> frozenset[str]:
    """Names the released notebook defines or imports (kept by normalization: they are not a choice)."""
    names: set[str] = set()
    for cell in assignment.release.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_ipython_free(cell.source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]+[^\n]+$", re.MULTILINE)


def _imports(cells: tuple[str, ...]) -> frozenset[str]:
    """Names the cells import (``np`` for ``import numpy as np``): read from their import lines alone."""
    names: set[str] = set()
    for line in _IMPORT.findall("\n".join(cells)):
        try:
            tree = ast.parse(line.strip())
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def student_cells(nb: NotebookNode, assignment: Assignment) -> tuple[str, ...]:
    """The code cells a student wrote: answers and added cells, not copies of released cells."""
    return _student_cells(nb, _Context.of(assignment))


def _student_cells(nb: NotebookNode, context: _Context) -> tuple[str, ...]:
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        grade_id = nb_meta(cell).get("grade_id")
        if grade_id is not None and context.roles.get(grade_id) not in ("answer", "manual"):
            continue
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if source.strip() and source.strip() not in context.released:
            cells.append(source)
    return tuple(cells)


@dataclass(frozen=True)
class _Context:
    """What fingerprinting one notebook needs from the assignment (plain data, sent to worker processes)."""

    name: str
    roles: dict[str, str]
    released: frozenset[str]
    kept: frozenset[str]
    scaffold: frozenset[int]

    @classmethod
    def of(cls, assignment: Assignment) -> _Context:
        kept = assignment_names(assignment)
        code = "\n\n".join(c.source for c in assignment.release.cells if c.cell_type == "code")
        return cls(
            name=assignment.name,
            roles={s.grade_id: s.role for s in assignment.specs},
            released=frozenset(c.source.strip() for c in assignment.release.cells),
            kept=kept,
            scaffold=fingerprints(normalized_tokens(code, kept)),
        )


def _read_one(context: _Context, student: Path) -> Answer | None:
    """One student's answer from their executed notebook (None when there is none)."""
    path = student / context.name / f"{context.name}.ipynb"
    try:  # written by the grader itself: read as JSON, without nbformat's (slow) validation
        nb = nbformat.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
    cells = _student_cells(nb, context)
    names = context.kept | _imports(cells)
    prints = fingerprints(normalized_tokens("\n\n".join(cells), names)) if cells else frozenset()
    return Answer(student.name, cells, prints - context.scaffold)


def common_limit(students: int) -> int:
    """A fingerprint held by more students than this is an idiom of the class, not evidence of copying."""
    return max(5, students // 2)


def compare(answers: list[Answer], *, threshold: float = DEFAULT_THRESHOLD) -> list[Pair]:
    """Pairs at or above ``threshold``, most similar first (an inverted index, not all pairs)."""
    holders: dict[int, list[int]] = defaultdict(list)
    for index, answer in enumerate(answers):
        for fingerprint in answer.prints:
            holders[fingerprint].append(index)
    limit = common_limit(len(answers))
    shared: Counter[tuple[int, int]] = Counter()
    ignored: dict[int, set[int]] = defaultdict(set)
    for fingerprint, who in holders.items():
        if len(who) > limit:
            for index in who:
                ignored[index].add(fingerprint)
            continue
        shared.update(combinations(who, 2))
    pairs = []
    for (i, j), count in shared.items():
        size_i = len(answers[i].prints) - len(ignored[i])
        size_j = len(answers[j].prints) - len(ignored[j])
        smaller = min(size_i, size_j)
        if smaller < MIN_FINGERPRINTS:
            continue
        score = count / smaller
        if score >= threshold:
            a, b = sorted((answers[i].student_id, answers[j].student_id))
            sizes = (size_i, size_j) if a == answers[i].student_id else (size_j, size_i)
            pairs.append(Pair(a, b, round(score, 3), count, *sizes))
    return sorted(pairs, key=lambda p: (-p.similarity, p.a, p.b))


def read_answers(assignment: Assignment, out: Path) -> tuple[list[Answer], list[str]]:
    """Every graded student's answer under ``out`` (and the ids that have no executed notebook).

    Notebooks are fingerprinted by one process per core when the batch is large.
    """
    folder = out / "autograded"
    if not folder.is_dir():
        raise UsageError(f"no graded notebooks in {out}: run `autograder grade ... --out {out}` first.")
    context = _Context.of(assignment)
    students = sorted(p for p in folder.iterdir() if p.is_dir())
    workers = min(os.cpu_count() or 1, max(1, len(students) // PER_PROCESS))
    if workers > 1:
        with concurrent.futures.ProcessPoolExecutor(workers) as pool:
            found = list(pool.map(_read_one, [context] * len(students), students, chunksize=PER_PROCESS // 2))
    else:
        found = [_read_one(context, student) for student in students]
    answers = [a for a in found if a is not None]
    skipped = [s.name for s, a in zip(students, found, strict=True) if a is None]
    return answers, skipped


def _lines(cells: tuple[str, ...], kept: frozenset[str]) -> list[tuple[str, str]]:
    """Each source line with its renamed-token key ('' for lines too short to mean anything)."""
    out = []
    for source in cells:
        token_lines = _token_lines(source, kept)
        for number, line in enumerate(source.splitlines(), start=1):
            tokens = token_lines.get(number, [])
            out.append((line, " ".join(tokens) if len(tokens) >= 4 else ""))
        out.append(("", ""))
    return out


def _token_lines(source: str, kept: frozenset[str]) -> dict[int, list[str]]:
    lines: dict[int, list[str]] = defaultdict(list)
    previous = ""
    try:
        for token in tokenize.generate_tokens(io.StringIO(_ipython_free(source)).readline):
            if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER):
                continue
            if token.type in (tokenize.INDENT, tokenize.DEDENT):
                continue
            text = token.string
            if token.type == tokenize.NAME and previous != "." and text not in kept and text not in _BUILTINS:
                text = text if text in _KEYWORDS else "V"
            elif token.type == tokenize.STRING:
                text = "S"
            lines[token.start[0]].append(text)
            previous = token.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return lines


PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 110em; }
table.pairs td, table.pairs th { padding: 0.2em 0.8em; text-align: left; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 0.85em; }
mark { background: #ffe08a; }
.note { background: #eef5ff; border-left: 4px solid #4a7bd0; padding: 0.5em 1em; }
"""


def _highlighted(lines: list[tuple[str, str]], other: set[str], scaffold: set[str]) -> str:
    rendered = []
    for line, key in lines:
        text = html.escape(line)
        rendered.append(f"<mark>{text}</mark>" if key and key in other and key not in scaffold else text)
    return "\n".join(rendered)


def render_html(
    assignment: Assignment, pairs: list[Pair], answers: dict[str, Answer], threshold: float
) -> str:
    """The report page: the pairs, then each pair side by side with the lines both wrote highlighted."""
    kept = assignment_names(assignment)
    scaffold = {
        key
        for _line, key in _lines(
            tuple(c.source for c in assignment.release.cells if c.cell_type == "code"), kept
        )
        if key
    }
    rows, sections = [], []
    for number, pair in enumerate(pairs, start=1):
        if number > MAX_SIDE_BY_SIDE:
            rows.append(
                f"<tr><td>{html.escape(pair.a)} &amp; {html.escape(pair.b)}</td>"
                f"<td>{pair.similarity:.0%}</td><td>{pair.shared}</td></tr>"
            )
            continue
        a, b = answers[pair.a], answers[pair.b]
        lines_a = _lines(a.cells, kept | _imports(a.cells))
        lines_b = _lines(b.cells, kept | _imports(b.cells))
        keys_a, keys_b = {k for _l, k in lines_a if k}, {k for _l, k in lines_b if k}
        name_a, name_b = html.escape(pair.a), html.escape(pair.b)
        rows.append(
            f"<tr><td><a href='#pair-{number}'>{name_a} &amp; {name_b}</a></td>"
            f"<td>{pair.similarity:.0%}</td><td>{pair.shared}</td></tr>"
        )
        sections.append(
            f"<h2 id='pair-{number}'>{name_a} and {name_b}: {pair.similarity:.0%}</h2>"
            f"<p>{pair.shared} shared fingerprints ({pair.prints_a} and {pair.prints_b} in all).</p>"
            f"<div class='side'><div><h3>{name_a}</h3>"
            f"<pre>{_highlighted(lines_a, keys_b, scaffold)}</pre></div>"
            f"<div><h3>{name_b}</h3><pre>{_highlighted(lines_b, keys_a, scaffold)}</pre></div></div>"
        )
    table = (
        "<table class='pairs'><tr><th>students</th><th>similarity</th><th>shared fingerprints</th></tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else "<p>No pair of students is above the threshold.</p>"
    )
    name = html.escape(assignment.name)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{PAGE_POLICY}\">"
        f"<title>Similar work: {name}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>Similar work: {name}</h1>\n"
        "<p class='note'>A pointer for a person to look at, <strong>never a verdict</strong>: two students "
        "can write alike for honest reasons (a study group, the lecture's code, a short answer). No grade "
        f"was changed. {len(answers)} submissions compared offline; pairs whose answers share at least "
        f"{threshold:.0%} of the smaller one's fingerprints (winnowing, as MOSS; names, comments, operand "
        "order and function order do not count). Highlighted lines match after renaming.</p>\n"
        f"{table}\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def render_csv(pairs: list[Pair]) -> str:
    """``student_a,student_b,similarity,shared_fingerprints,fingerprints_a,fingerprints_b``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["student_a", "student_b", "similarity", "shared_fingerprints", "fingerprints_a", "fingerprints_b"]
    )
    for p in pairs:
        writer.writerow([p.a, p.b, f"{p.similarity:.3f}", p.shared, p.prints_a, p.prints_b])
    return buffer.getvalue()


def similarity(
    assignment: Assignment, out: Path, *, threshold: float = DEFAULT_THRESHOLD
) -> SimilarityReport:
    """Compare every graded student's answers and write ``OUT/similarity.html`` and ``OUT/similarity.csv``.

    Args:
        assignment: the loaded assignment (its released notebook is the scaffold to ignore).
        out: the grading output folder.
        threshold: pairs at or above this similarity (0..1) are reported.

    Returns:
        The report.

    Raises:
        UsageError: no graded notebooks in ``out``, or a threshold outside 0..1.
    """
    from autograder.reports import write_atomic

    if not 0.0 < threshold <= 1.0:
        raise UsageError("--threshold must be between 0 and 1 (a share of fingerprints).")
    answers, skipped = read_answers(assignment, out)
    pairs = compare(answers, threshold=threshold)
    by_id = {a.student_id: a for a in answers}
    page, table = out / "similarity.html", out / "similarity.csv"
    write_atomic(page, render_html(assignment, pairs, by_id, threshold))
    write_atomic(table, render_csv(pairs))
    return SimilarityReport(tuple(pairs), len(answers), tuple(skipped), page, table)
