"""Step 7: the student's feedback page: their code and outputs, a score per graded cell, test messages.

The notebook it renders has already been concealed (no hidden test code). A summary table opens the page
and a short verdict follows each graded cell; nbconvert's HTML exporter does the rendering.

Everything that came from a submission is inert on the page (the instructor and the student open it in
their browsers):

* nbconvert renders with ``sanitize_html``: Markdown cells and HTML/Markdown outputs pass through
  :func:`clean_html` (bleach, with an allow-list of formatting tags and attributes, links and images only
  to ``http(s)``, relative and ``data:image`` addresses); JavaScript outputs, widget views and widget state
  are dropped; SVG outputs become ``<img src="data:...">``, where scripts never run;
* code, file names, ids and messages are escaped as text (Pygments, :func:`html.escape`);
* a Content-Security-Policy allows scripts from files only (MathJax and its settings, which the page
  template loads from ``feedback/_static/``): an inline script or ``on...=`` handler that slipped through
  would not run, and nothing is loaded from another host.

Most of a page is the same on every student's page (the release's instructions, protected code and
visible tests), so each process renders a text once and reuses it (:func:`_reused`): the Pygments
highlighting of a code cell, a Markdown cell's HTML and the sanitizer's output are pure functions of their
text (and the lexer). Only texts of at most :data:`REUSED_CHARS` characters are kept, at most
:data:`REUSED_TEXTS` of each kind, so a batch of large submissions cannot fill the grader's memory (it
keeps some 45 MB at most, most of it highlighted code).

The page reads offline: MathJax 3 (the pinned ``django-static-mathjax``, as the book) is copied once per
output folder by :func:`write_assets` and referenced relatively, with its "safe" extension on (no
``\\href{javascript:...}`` in a student's formulas).
"""

from __future__ import annotations

import copy
import html
import importlib.util
import re
import shutil
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import bleach
from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer
from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell

from autograder.results import CellResult, SubmissionResult, clean_text
from autograder.source import nb_meta

TAGS = frozenset(
    {
        *bleach.ALLOWED_TAGS,
        *("h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "div", "span", "pre", "code", "kbd", "samp"),
        *("table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "colgroup", "col"),
        *("img", "figure", "figcaption", "sub", "sup", "small", "del", "ins", "s", "u", "mark", "q", "cite"),
        *("dl", "dt", "dd", "details", "summary", "var", "time", "abbr"),
    }
)
_IMAGE_DATA = re.compile(
    r"^data:image/(png|jpe?g|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*$", re.IGNORECASE
)
_COMMON = {"class", "id", "title", "lang", "dir", "style", "align"}


def _scheme(address: str) -> str:
    """The scheme of an address ('' for a relative one), as a browser reads it (spaces and case ignored)."""
    head = "".join(address.split()).split("/", 1)[0]
    return head.split(":", 1)[0].lower() if ":" in head else ""


def _attribute_allowed(tag: str, name: str, value: str) -> bool:
    if name in _COMMON:
        return True
    if tag == "a" and name == "href":
        return _scheme(value) in ("", "http", "https", "mailto")
    if tag == "img" and name in ("alt", "width", "height"):
        return True
    if tag == "img" and name == "src":
        return _scheme(value) in ("", "http", "https") or bool(_IMAGE_DATA.match(value))
    return tag in ("td", "th", "col", "colgroup") and name in ("colspan", "rowspan", "span")


_CLEANER = bleach.Cleaner(
    tags=TAGS,
    attributes=_attribute_allowed,
    protocols={"http", "https", "mailto", "data"},  # data: only passes _attribute_allowed on <img src>
    strip=False,  # disallowed markup is shown as text, so a student sees what they wrote
    strip_comments=True,
    css_sanitizer=CSSSanitizer(allowed_css_properties=ALLOWED_CSS_PROPERTIES),
)


MAX_MARKUP_CHARS = 200_000  # longer markup is shown as text (sanitizing costs time in the grader)
MAX_MARKUP_DEPTH = 100  # deeper nesting too: an HTML parser's time grows with the square of the depth
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*?(/?)>")
_VOID = frozenset(
    ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr")
)


def _too_nested(text: str) -> bool:
    """Whether tags open deeper than :data:`MAX_MARKUP_DEPTH` (a linear scan, never a parse)."""
    depth = 0
    for closing, name, self_closing in _TAG.findall(text):
        if closing:
            depth = max(depth - 1, 0)
        elif not self_closing and name.lower() not in _VOID:
            depth += 1
            if depth > MAX_MARKUP_DEPTH:
                return True
    return False


# A text at most REUSED_CHARS long is rendered once per process and its result reused; REUSED_TEXTS results
# are kept per kind of rendering (least recently used dropped first). Highlighted code is up to 15 times its
# source (Markdown's HTML and sanitized markup about 1-2 times): 256 x 8,000 x 16 characters bound the first.
REUSED_CHARS = 8_000
REUSED_TEXTS = 256


def _reused(render: Callable[..., str]) -> Callable[..., str]:
    """``render(*keys, text)``, its results kept for texts of at most :data:`REUSED_CHARS` characters.

    ``render`` must be a pure function of its arguments (hashable keys, the text last). The cells every
    student's page shares are then rendered once per process instead of once per page; a longer text is
    rendered each time (it is seldom shared, and keeping it would let submissions fill memory).
    """
    kept = lru_cache(maxsize=REUSED_TEXTS)(render)

    def rendered(*args: Any) -> str:
        return kept(*args) if len(args[-1]) <= REUSED_CHARS else render(*args)

    return rendered


_sanitized = _reused(_CLEANER.clean)


def clean_html(element: str | bytes) -> str:
    """Markup from a submission, made inert: only formatting tags and safe attributes survive.

    Used by nbconvert (its ``clean_html`` filter) for Markdown cells and HTML outputs. Markup too long or
    too deeply nested to sanitize quickly is shown as escaped text instead.
    """
    text = clean_text(element.decode("utf-8", "replace") if isinstance(element, bytes) else str(element))
    if len(text) > MAX_MARKUP_CHARS or _too_nested(text):
        shown = html.escape(text[:MAX_MARKUP_CHARS])
        return f"<pre>{shown}</pre><p>[shown as text: too long or too deeply nested to display]</p>"
    return _sanitized(text)


TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = "_static"  # beside the students' folders: OUT/feedback/_static/
MATHJAX_PARTS = (
    *("tex-chtml.js", "output/chtml/fonts", "input/tex/extensions"),
    *("ui", "a11y", "sre", "adaptors"),  # what its menu loads on demand
)
POLICY = (
    "default-src 'none'; script-src 'self' file:; style-src 'self' 'unsafe-inline'; img-src 'self' data: "
    "file: https: http:; font-src 'self' data: file:; object-src 'none'; frame-src 'none'; base-uri 'none'; "
    "form-action 'none'"
)


NO_ALT = "No description has been provided for this image"  # nbconvert's words for an image without one
_IMG_WITHOUT_ALT = re.compile(r"<img\b(?![^>]*\salt=)", re.IGNORECASE)


@cache
def _exporter():
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.markdown_mistune import InvalidNotebook
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class ReusedHighlight(Highlight2HTML):
        """nbconvert's ``highlight_code`` filter for one page, asking ``highlighted(lexer, source)`` (the
        exporter's, which keeps its results) for every cell but one whose metadata names a
        ``magics_language`` (nbconvert then highlights it in that language)."""

        def __init__(self, highlighted: Callable[[str, str], str], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.highlighted = highlighted

        def __call__(self, source, language=None, metadata=None):
            lexer = language or self.pygments_lexer
            magics = bool(metadata and "magics_language" in metadata)
            if isinstance(source, str) and isinstance(lexer, str) and not magics:
                return self.highlighted(lexer, source)
            return super().__call__(source, language, metadata)

    class FeedbackExporter(HTMLExporter):
        """nbconvert's HTML exporter without its last pass through BeautifulSoup, which parses and writes
        the whole page again (half of a page's rendering time) to give images without alternative text
        nbconvert's default one (done here by :data:`_IMG_WITHOUT_ALT`) and to make JupyterLab's cells
        focusable (the classic template the feedback page extends has none).

        Code is highlighted, and Markdown without attachments rendered, once per text (:func:`_reused`).
        """

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.highlighted = _reused(self.highlight_with)
            self.plain_markdown = _reused(self.markdown_in)

        def highlight_with(self, lexer: str, source: str) -> str:
            """nbconvert's highlighting of ``source`` with the Pygments lexer named ``lexer``."""
            return Highlight2HTML(pygments_lexer=lexer, parent=self)(source)

        def markdown_in(self, path: str, source: str) -> str:
            """nbconvert's HTML for ``source``, a cell without attachments on a page whose notebook is in
            ``path`` (all its renderer reads besides the text and the exporter's settings)."""
            return HTMLExporter.markdown2html(self, {"resources": {"metadata": {"path": path}}}, source)

        @pass_context
        def markdown2html(self, context, source):
            cell = context.get("cell", {})
            path = context.get("resources", {}).get("metadata", {}).get("path", "")
            try:
                if cell.get("attachments") or not isinstance(source, str) or not isinstance(path, str):
                    return HTMLExporter.markdown2html(self, context, source)
                return self.plain_markdown(path, source)
            except InvalidNotebook as error:  # an image from an attachment the cell does not hold
                return f"<p><em>{html.escape(str(error))}</em></p><pre>{html.escape(str(source))}</pre>"

        def from_notebook_node(self, nb, resources=None, **kw):
            language = nb.metadata.get("language_info", {})
            lexer = language.get("pygments_lexer", language.get("name", None))
            self.register_filter(
                "highlight_code", ReusedHighlight(self.highlighted, pygments_lexer=lexer, parent=self)
            )
            resources = self._init_resources(resources)
            self.register_filter(
                "filter_data_type",
                WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self, resources=resources),
            )
            page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _IMG_WITHOUT_ALT.sub(f'<img alt="{NO_ALT}"', page), resources

    return FeedbackExporter(
        template_name="feedback",
        extra_template_basedirs=[str(TEMPLATES)],
        sanitize_html=True,
        # strip_files_prefix rewrites Jupyter-server "files/" links (none here); its regex takes quadratic
        # time on a line of "[" characters, so it is left out.
        filters={"clean_html": clean_html, "strip_files_prefix": lambda text: text},
    )


def mathjax_source() -> Path:
    """MathJax 3's ``es5`` folder in the pinned ``django-static-mathjax`` package (the book uses it too)."""
    spec = importlib.util.find_spec("mathjax")
    locations = list(spec.submodule_search_locations or []) if spec else []
    es5 = Path(locations[0]) / "static" / "mathjax" / "es5" if locations else None
    if es5 is None or not (es5 / "tex-chtml.js").is_file():
        raise FileNotFoundError("MathJax is missing: pip install django-static-mathjax (requirements.txt)")
    return es5


def write_assets(feedback: Path) -> Path:
    """Put what feedback pages load (MathJax and its settings) in ``feedback/_static``, once per folder.

    Returns:
        The ``_static`` folder.
    """
    target = feedback / STATIC
    if (target / "mathjax" / "tex-chtml.js").is_file() and (target / "mathjax-config.js").is_file():
        return target
    source = mathjax_source()
    for part in MATHJAX_PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, target / "mathjax" / part, dirs_exist_ok=True)
        elif src.is_file():
            (target / "mathjax" / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / "mathjax" / part)
    shutil.copy2(TEMPLATES / "feedback" / "mathjax-config.js", target / "mathjax-config.js")
    return target


def _with_policy(page: str, policy: str) -> str:
    meta = f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">'
    return re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + "\n" + meta, page, count=1, flags=re.IGNORECASE)


RENDERED = (
    *("text/plain", "text/html", "text/markdown", "text/latex"),
    *("image/png", "image/jpeg", "image/svg+xml"),
)
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
REMOVED = "[output not shown in feedback: it is neither text nor an image]"


def _display_metadata(metadata: object) -> dict:
    """Only what the template reads (sizes, alt text), each of the type it expects."""
    if not isinstance(metadata, dict):
        return {}

    def keep(entry: dict) -> dict:
        kept = {k: entry[k] for k in ("width", "height") if type(entry.get(k)) in (int, float)}
        if isinstance(entry.get("alt"), str):
            kept["alt"] = entry["alt"]
        if entry.get("unconfined") is True:
            kept["unconfined"] = True
        return kept

    out = keep(metadata)
    for mime in RENDERED:
        if isinstance(metadata.get(mime), dict):
            out[mime] = keep(metadata[mime])
    return out


def inert_outputs(nb: NotebookNode) -> NotebookNode:
    """Keep only outputs the page shows as text, sanitized HTML or images, with plain metadata (in place).

    JavaScript, widget views and unknown types are replaced by a note; image data must be base64; output
    metadata keeps sizes and alt text only (the template writes sizes into unquoted attributes).
    """
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") not in ("display_data", "execute_result"):
                continue
            data = {mime: value for mime, value in output.get("data", {}).items() if mime in RENDERED}
            for mime in ("image/png", "image/jpeg"):
                if mime in data and not (isinstance(data[mime], str) and _BASE64.match(data[mime])):
                    del data[mime]
            output["data"] = data or {"text/plain": REMOVED}
            output["metadata"] = _display_metadata(output.get("metadata"))
    return nb


MAX_PAGE_MARKDOWN = 200_000  # characters of Markdown rendered per page; the rest is shown as text


def _bounded_markdown(nb: NotebookNode) -> NotebookNode:
    """Past :data:`MAX_PAGE_MARKDOWN`, Markdown cells are shown as escaped text (rendering costs time)."""
    budget = MAX_PAGE_MARKDOWN
    for cell in nb.cells:
        if cell.get("cell_type") != "markdown":
            continue
        budget -= len(cell.source)
        if budget < 0:  # a raw HTML cell: no Markdown parsing, only one <pre> for the sanitizer
            cell.cell_type, cell.metadata = "raw", {"raw_mimetype": "text/html", **cell.metadata}
            cell.source = f"<pre>{html.escape(cell.source[: MAX_MARKUP_CHARS // 2])}</pre>"
            cell.pop("attachments", None)
    return nb


def _points(cell: CellResult) -> str:
    if cell.points is None:
        return f"awaiting review / {cell.max_points:g}"
    return f"{cell.points:g} / {cell.max_points:g}"


def _grader_note(cell: CellResult) -> str:
    """What a person decided about the cell: an override of the tests' points, the grader's comment."""
    text = ""
    if cell.overridden:
        tests = "no points" if cell.auto_points is None else f"{cell.auto_points:g}"
        reason = f": {html.escape(cell.override_reason)}" if cell.override_reason else ""
        text += f"\n<p>Points set by your instructor (the tests gave {tests}){reason}</p>"
    if cell.comment:
        text += f"\n<p>Comment from your grader:</p>\n<blockquote>{html.escape(cell.comment)}</blockquote>"
    return text


def _verdict(cell: CellResult) -> str:
    name = html.escape(cell.grade_id)
    if cell.manual:
        return f"<p><strong>{name}</strong> (written answer): {_points(cell)}</p>" + _grader_note(cell)
    mark = "passed" if cell.passed else "failed"
    text = f"<p><strong>{name}</strong>: {mark}, {_points(cell)}</p>"
    if cell.message:
        text += f"\n<pre>{html.escape(cell.message)}</pre>"
    return text + _grader_note(cell)


def _summary(result: SubmissionResult, assignment: str) -> str:
    rows = "\n".join(
        f"<tr><td>{html.escape(c.grade_id)}</td><td>{_points(c)}</td>"
        f"<td>{html.escape(c.message.splitlines()[0]) if c.message else ''}</td></tr>"
        for c in result.cells
    )
    manual = ""
    if result.manual_max and result.manual_pending:
        manual = f" (plus {result.manual_max:g} points of written answers, graded by hand)"
    elif result.manual_max:
        manual = f"; written answers: <strong>{result.manual_total:g} / {result.manual_max:g}</strong>"
    summary = (
        f"<h1>Feedback: {html.escape(assignment)}</h1>\n"
        f"<p>Student: <code>{html.escape(result.student_id)}</code>. Autograded score: "
        f"<strong>{result.total:g} / {result.max_total:g}</strong>{manual}</p>\n"
        f"<table>\n<tr><td><strong>cell</strong></td><td><strong>points</strong></td>"
        f"<td><strong>message</strong></td></tr>\n{rows}\n</table>\n"
    )
    if result.reason:
        summary += f"<p>Notes: {html.escape(result.reason)}</p>\n"
    return summary


def render_feedback(nb: NotebookNode, result: SubmissionResult, *, assignment: str) -> str:
    """The feedback page as HTML.

    Args:
        nb: the concealed, executed notebook.
        result: the scores to show.
        assignment: the assignment's name (page title).

    Returns:
        A standalone HTML document whose submitted content is inert (see the module docstring).
    """
    nb = _bounded_markdown(inert_outputs(copy.deepcopy(nb)))
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in ("kernelspec", "language_info")}
    by_id = {c.grade_id: c for c in result.cells}
    cells = [new_markdown_cell(_summary(result, assignment))]
    for cell in nb.cells:
        cells.append(cell)
        grade_id = nb_meta(cell).get("grade_id")
        if grade_id in by_id:
            cells.append(new_markdown_cell(_verdict(by_id[grade_id])))
    nb.cells = cells
    body, _resources = _exporter().from_notebook_node(
        nb, resources={"metadata": {"name": f"{assignment} feedback"}, "static_url": f"../{STATIC}"}
    )
    return _with_policy(clean_text(body), POLICY)


FAILURE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def render_failure(result: SubmissionResult, *, assignment: str) -> str:
    """A short HTML page for a submission that could not be graded (no scripts at all)."""
    return clean_text(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{FAILURE_POLICY}">'
        f"<title>{html.escape(assignment)} feedback</title></head><body>\n"
        f"<h1>Feedback: {html.escape(assignment)}</h1>\n"
        f"<p>Student: <code>{html.escape(result.student_id)}</code></p>\n"
        f"<p><strong>This submission could not be graded:</strong> {html.escape(result.reason)}</p>\n"
        "<p>Contact your instructor; nothing was scored.</p>\n</body></html>\n"
    )
