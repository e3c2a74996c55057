"""``OUT/summary.html``: the class at a glance, one offline page with no scripts.

The score distribution, each test's pass rate, the most frequent failure messages per test (grouped,
with how many students hit each), failed submissions by reason and the manual grading still pending.
Plots are drawn with matplotlib's Agg renderer into PNG ``data:`` addresses, each with alt text saying
what it shows. Everything a student wrote (messages, reasons, ids) is escaped, and a
Content-Security-Policy allows nothing but inline styles and ``data:`` images.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from autograder.results import Status, SubmissionResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FILE = "summary.html"
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
TOP_MESSAGES = 5
STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;"
    "text-align:left;vertical-align:top}img{max-width:100%}code{white-space:pre-wrap}"
)


def _png(draw: Callable[[Axes], None], alt: str) -> str:
    """An ``<img>`` of the figure ``draw(axes)`` makes, as a PNG data address (no pyplot, no global state)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 2.8), dpi=96, layout="constrained")
    draw(figure.add_subplot())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(head: Sequence[str], rows: Sequence[Sequence[object]], name: str) -> str:
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>\n" for row in rows)
    return f'<table id="{name}">\n<tr>{cells}</tr>\n{body}</table>\n'


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


def failure_kind(reason: str) -> str:
    """A failed submission's reason, grouped: the words before its first colon (``not a notebook``)."""
    return _first_line(reason).split(":", 1)[0].strip() or "no reason given"


def render(assignment: str, results: Sequence[SubmissionResult]) -> str:
    """The page for ``results`` (merged with the gradebook, as ``grades.csv`` is written from)."""
    graded = [r for r in results if r.status is Status.GRADED]
    failed = [r for r in results if r.status is Status.FAILED]
    parts = [f"<h1>{_e(assignment)}: the class at a glance</h1>"]
    max_total = max((r.max_total for r in graded), default=0.0)
    parts.append(
        f"<p>{len(results)} submissions: {len(graded)} graded, {len(failed)} failed. Scores are the "
        f"autograded points out of {max_total:g} (the <code>score</code> column of grades.csv)"
        + (
            f"; mean {statistics.fmean(r.total for r in graded):.2f}, "
            f"median {statistics.median(r.total for r in graded):g}.</p>"
            if graded
            else ".</p>"
        )
    )

    parts.append("<h2>Score distribution</h2>")
    scores = Counter(r.total for r in graded)
    if scores:

        def histogram(ax: Axes) -> None:
            xs = sorted(scores)
            ax.bar([f"{x:g}" for x in xs], [scores[x] for x in xs], color="#4477aa")
            ax.set_xlabel(f"autograded score (of {max_total:g})")
            ax.set_ylabel("students")

        alt = "Bar chart of the autograded score distribution: " + ", ".join(
            f"{scores[x]} student(s) scored {x:g}" for x in sorted(scores)
        )
        parts.append(_png(histogram, alt))
    parts.append(
        _table(("score", "students"), [(f"{x:g}", scores[x]) for x in sorted(scores)], "score-distribution")
    )

    tests: dict[str, list] = defaultdict(list)
    for r in graded:
        for c in r.cells:
            if not c.manual:
                tests[c.grade_id].append((r, c))
    parts.append("<h2>Pass rate per test</h2>")
    rates = [
        (grade_id, sum(1 for _, c in pairs if c.passed), len(pairs)) for grade_id, pairs in tests.items()
    ]
    if rates:

        def bars(ax: Axes) -> None:
            ax.barh([g for g, _, _ in rates][::-1], [100 * p / n for _, p, n in rates][::-1], color="#228833")
            ax.set_xlim(0, 100)
            ax.set_xlabel("% of graded submissions passing")

        alt = "Horizontal bar chart of each test's pass rate: " + ", ".join(
            f"{g} {100 * p / n:.0f}% ({p} of {n})" for g, p, n in rates
        )
        parts.append(_png(bars, alt))
    parts.append(
        _table(
            ("test", "passed", "graded", "pass rate"),
            [(g, p, n, f"{100 * p / n:.0f}%") for g, p, n in rates],
            "pass-rates",
        )
    )

    parts.append("<h2>Most frequent failure messages</h2>")
    any_failure = False
    for grade_id, pairs in tests.items():
        messages = Counter(_first_line(c.message) or "(no message)" for _, c in pairs if not c.passed)
        if messages:
            any_failure = True
            parts.append(f"<h3>{_e(grade_id)}</h3>")
            parts.append(
                _table(
                    ("message", "students"),
                    messages.most_common(TOP_MESSAGES),
                    f"messages-{_e(grade_id)}",
                )
            )
    if not any_failure:
        parts.append("<p>No test failed.</p>")

    parts.append("<h2>Failed submissions by reason</h2>")
    kinds: dict[str, list[str]] = defaultdict(list)
    for r in failed:
        kinds[failure_kind(r.reason)].append(r.student_id)
    ranked = sorted(kinds.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    parts.append(
        _table(
            ("reason", "students", "who"), [(k, len(v), ", ".join(v)) for k, v in ranked], "failed-by-reason"
        )
        if ranked
        else "<p>None.</p>"
    )

    parts.append("<h2>Manual grading still pending</h2>")
    pending: dict[str, list[str]] = defaultdict(list)
    for r in graded:
        for c in r.cells:
            if c.manual and c.points is None:
                pending[c.grade_id].append(r.student_id)
    parts.append(
        _table(
            ("written answer", "awaiting review", "who"),
            [(g, len(v), ", ".join(v)) for g, v in pending.items()],
            "manual-pending",
        )
        if pending
        else "<p>Nothing is awaiting review.</p>"
    )
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n"
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n'
        f"<title>{_e(assignment)}: summary</title><style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )
