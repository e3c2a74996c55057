"""Is everything a submission put on a feedback page inert (shown as text or a picture, never run)?"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

import nbformat
from bs4 import BeautifulSoup
from conftest import ROOT, read_page, read_toy
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from autograder.results import CellResult, Status, SubmissionResult
from autograder.steps.feedback import NO_ALT, clean_html, render_failure, render_feedback, write_assets

MARK = "autograder-xss"
PAYLOADS = [
    f"<script>alert('{MARK}')</script>",
    f"<img src=x onerror=\"alert('{MARK}')\">",
    f"<iframe src=\"javascript:alert('{MARK}')\"></iframe>",
    f"<svg onload=\"alert('{MARK}')\"><script>alert('{MARK}')</script></svg>",
    f"<a href=\"javascript:alert('{MARK}')\">click</a>",
    f'<object data="{MARK}.swf"></object><embed src="{MARK}.swf">',
    f"<style>body {{ background: url('javascript:{MARK}') }}</style>",
    f"<details open ontoggle=\"alert('{MARK}')\"><summary>x</summary></details>",
    f'<form action="https://evil.example/{MARK}"><button>go</button></form>',
    f'<base href="https://evil.example/{MARK}/">',
    f'<meta http-equiv="refresh" content="0;url=https://evil.example/{MARK}">',
]
HTML_PAYLOAD = "\n".join(PAYLOADS)
SVG_PAYLOAD = (
    f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"alert('{MARK}')\"><script>{MARK}</script></svg>"
)


def live_markup(page: str, marker: str = MARK) -> list[str]:
    """What on ``page`` would act in a browser and carries ``marker`` (a submission put it there)."""
    soup = BeautifulSoup(page, "html.parser")
    found = []
    for tag in soup.find_all(True):
        text = str(tag)
        if marker not in text:
            continue
        if tag.name in ("script", "iframe", "object", "embed", "style", "form", "base", "meta", "svg"):
            found.append(tag.name)
        for name, value in tag.attrs.items():
            value = " ".join(value) if isinstance(value, list) else str(value)
            if name.lower().startswith("on") or value.strip().lower().startswith("javascript:"):
                found.append(f"{tag.name}[{name}]")
    return found


def _executed_notebook() -> nbformat.NotebookNode:
    answer = new_markdown_cell(HTML_PAYLOAD, metadata={"nbgrader": {"grade_id": "explain"}})
    code = new_code_cell(f"print('{MARK}')  # </script><script>alert(1)</script>")
    code.outputs = [
        new_output("display_data", data={"text/html": HTML_PAYLOAD, "text/plain": "x"}),
        new_output("display_data", data={"image/svg+xml": SVG_PAYLOAD}),
        new_output("display_data", data={"application/javascript": f"alert('{MARK}')"}),
        new_output(
            "display_data",
            data={"application/vnd.jupyter.widget-view+json": {"model_id": MARK, "version_major": 2}},
        ),
        new_output("display_data", data={"text/markdown": HTML_PAYLOAD}),
        new_output(
            "display_data",
            data={"image/png": base64.b64encode(b"\x89PNG").decode()},
            metadata={"image/png": {"width": f"1 onerror=alert('{MARK}')", "alt": f'"><script>{MARK}'}},
        ),
        new_output("display_data", data={"image/png": f"x\" onerror=\"alert('{MARK}')"}),
        new_output("stream", name="stdout", text=HTML_PAYLOAD),
        new_output("error", ename=MARK, evalue=HTML_PAYLOAD, traceback=[HTML_PAYLOAD]),
    ]
    raw = new_raw_cell(HTML_PAYLOAD, metadata={"raw_mimetype": "text/html"})
    nb = new_notebook(cells=[answer, code, raw])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {MARK: {}}}}
    return nb


def _result(student: str = f"<b onmouseover=alert('{MARK}')>ann</b>") -> SubmissionResult:
    cell = CellResult("explain", 0.0, 1.0, False, message=f"ValueError: {HTML_PAYLOAD}\n```\n{HTML_PAYLOAD}")
    return SubmissionResult(student, Status.GRADED, reason=HTML_PAYLOAD, cells=(cell,))


def test_nothing_a_submission_wrote_is_live_on_its_feedback_page():
    page = render_feedback(_executed_notebook(), _result(), assignment="toy")
    assert MARK in page  # the payloads are shown...
    assert live_markup(page) == []  # ...as text, never as markup that acts


def test_the_page_forbids_inline_scripts_it_did_not_write():
    page = render_feedback(_executed_notebook(), _result(), assignment="toy")
    soup = BeautifulSoup(page, "html.parser")
    policy = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert (
        "default-src 'none'" in policy
        and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    )
    assert "object-src 'none'" in policy and "base-uri 'none'" in policy


def test_a_student_sees_what_they_wrote():
    """Formatting survives; disallowed tags are shown as text, not silently dropped."""
    nb = new_notebook(
        cells=[new_markdown_cell("# Why\n\n**Because** the gradient *vanishes*.\n\n<script>x</script>")]
    )
    page = render_feedback(nb, _result("ann"), assignment="toy")
    soup = BeautifulSoup(page, "html.parser")
    assert soup.find("strong", string="Because") and soup.find("em", string="vanishes")
    assert "&lt;script&gt;x&lt;/script&gt;" in page


def test_an_image_keeps_only_safe_addresses():
    assert 'src="data:image/png;base64,AAAA"' in clean_html('<img src="data:image/png;base64,AAAA">')
    for bad in ("javascript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=", "vbscript:x"):
        assert "src=" not in clean_html(f'<img src="{bad}">')
    assert "href" not in clean_html('<a href="data:text/html,hi">x</a>')


def test_the_failure_page_escapes_everything_and_runs_no_script():
    result = SubmissionResult(f"<script>{MARK}</script>", Status.FAILED, reason=HTML_PAYLOAD + "\udcff")
    page = render_failure(result, assignment="toy")
    assert live_markup(page) == [] and MARK in page
    assert "script-src" not in page and "default-src 'none'" in page
    page.encode("utf-8")  # a lone surrogate cannot make the page unwritable


def _open(browser, tmp_path, page: str):
    feedback = tmp_path / "feedback"
    write_assets(feedback)
    path = feedback / "ann" / "toy.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return read_page(browser, path)


def test_a_feedback_page_reads_offline_with_its_math_typeset(browser, tmp_path):
    """Offline, in a real browser: is the math typeset, nothing fetched elsewhere, no console error?"""
    text = (
        "The logistic $\\sigma(z) = 1/(1 + e^{-z})$ and\n\n$$\\frac{\\partial L}{\\partial w_{kj}} = "
        "\\delta_j x_k$$\n\nA student's link: $\\href{javascript:alert(1)}{click}$"
    )
    nb = new_notebook(cells=[new_markdown_cell(text), new_code_cell("print(1)")])
    nb.cells[1].outputs = [new_output("stream", name="stdout", text="1\n")]
    state, console = _open(browser, tmp_path, render_feedback(nb, _result("ann"), assignment="toy"))
    assert "error" not in state, state
    assert state["mathjax"] and state["typeset"] >= 3 and state["mathErrors"] == 0, state
    assert state["rawMath"] == [], state["rawMath"]
    assert [r for r in state["resources"] if not r.startswith("file:")] == []
    assert console == []
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))"
    )
    assert not [link for link in links if "javascript" in link.lower()]


def test_the_payloads_do_nothing_in_a_real_browser(browser, tmp_path):
    """An alert would stop the page script with an exception; none fires and no request leaves."""
    page = render_feedback(_executed_notebook(), _result(), assignment="toy")
    state, _console = _open(browser, tmp_path, page)
    assert "error" not in state, state
    assert [r for r in state["resources"] if not r.startswith("file:") and not r.startswith("data:")] == []


def test_the_policy_stops_a_script_the_sanitizer_would_have_missed(browser, tmp_path):
    """The second layer: markup planted in the page after rendering still cannot run."""
    page = render_feedback(new_notebook(cells=[new_markdown_cell("hi")]), _result("ann"), assignment="toy")
    planted = "<script>document.title = 'pwned'</script><img src=x onerror=\"document.title = 'pwned'\">"
    state, _console = _open(browser, tmp_path, page.replace("<main>", "<main>" + planted, 1))
    assert "error" not in state, state
    assert browser.title != "pwned"


def test_markup_too_deep_or_too_much_is_shown_as_text_not_parsed():
    """The grader sanitizes outside any sandbox limit: a parser's worst cases are never fed to it."""
    from autograder.steps.feedback import MAX_MARKUP_DEPTH, MAX_PAGE_MARKDOWN

    deep = clean_html("<div>" * (MAX_MARKUP_DEPTH + 1) + "x")
    assert deep.startswith("<pre>&lt;div&gt;") and "too deeply nested" in deep
    assert clean_html("<div>" * 10 + "x").startswith("<div>")
    long_cell = "**bold** " * (MAX_PAGE_MARKDOWN // 9 + 1)
    nb = new_notebook(cells=[new_markdown_cell("**first**"), new_markdown_cell(long_cell)])
    soup = BeautifulSoup(render_feedback(nb, _result("ann"), assignment="toy"), "html.parser")
    assert soup.find("strong", string="first")  # within the budget: rendered
    assert soup.find("pre", string=lambda t: t and t.startswith("**bold**"))  # past it: text


def test_code_is_shown_as_text_whatever_language_the_notebook_claims():
    """Highlighted code is not sanitized again (Pygments escapes it): markup in code never becomes live."""
    code = new_code_cell(HTML_PAYLOAD, metadata={"magics_language": "html"})
    magic = new_code_cell(f"%%html\n{HTML_PAYLOAD}")
    nb = new_notebook(cells=[code, magic])
    for lexer in ("ipython3", "html", f"x\" onload=\"alert('{MARK}')"):
        nb.metadata["language_info"] = {"name": "python", "pygments_lexer": lexer}
        page = render_feedback(nb, _result("ann"), assignment="toy")
        assert live_markup(page) == []
        shown = BeautifulSoup(page, "html.parser").get_text()
        assert all(payload in shown for payload in PAYLOADS)  # the code reads as it was written


def test_every_image_has_alternative_text():
    """An image without its own alternative text gets nbconvert's; one with it keeps it."""
    png = base64.b64encode(b"\x89PNG").decode()
    code = new_code_cell("plot()")
    code.outputs = [
        new_output("display_data", data={"image/png": png}),
        new_output("display_data", data={"image/png": png}, metadata={"image/png": {"alt": "loss curve"}}),
        new_output("display_data", data={"image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg'/>"}),
    ]
    text = new_markdown_cell('![](https://example.org/a.png) <img src="b.png" title="a > b">')
    page = render_feedback(new_notebook(cells=[text, code]), _result("ann"), assignment="toy")
    alts = [img.get("alt") for img in BeautifulSoup(page, "html.parser").find_all("img")]
    assert sorted(alts) == sorted(["", "loss curve", *[NO_ALT] * 3])  # Markdown's ![](...) says "decorative"


FRESH_RENDER = """
import json, sys
import nbformat
from autograder.results import SubmissionResult
from autograder.steps.feedback import render_feedback
nb = nbformat.reads(sys.stdin.read(), as_version=4)
print(render_feedback(nb, SubmissionResult.from_dict(json.loads(sys.argv[1])), assignment="toy"), end="")
"""


def _fresh_render(nb: nbformat.NotebookNode, result: SubmissionResult) -> str:
    """The page a new process renders (nothing reused from earlier pages)."""
    done = subprocess.run(
        [sys.executable, "-c", FRESH_RENDER, json.dumps(result.to_dict())], input=nbformat.writes(nb),
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    return done.stdout


def _without_cell_ids(page: str) -> str:
    """The page without its cells' ids (the verdict cells the page adds get random ones)."""
    return re.sub(r'id="cell-id=[^"]*"', "", page)


def test_a_page_rendered_after_others_is_the_one_a_fresh_process_renders(toy):
    """Cells shared with earlier pages are rendered once per process: does a student whose answers differ
    from the release's, whose notebook names another lexer, or whose cells of the same words have different
    attachments still get exactly their own page?"""
    result = SubmissionResult("ann", Status.GRADED, cells=(CellResult("explain", 0.0, 1.0, False, "no"),))
    correct, wrong = read_toy(toy, "correct"), read_toy(toy, "partially-wrong")
    differing = [
        cell.source for cell in wrong.cells
        if cell.cell_type == "code" and cell.source not in {c.source for c in toy.release.cells}
    ]  # fmt: skip
    assert differing  # the student's answers are not the release's
    drawn = [base64.b64encode(picture).decode() for picture in (b"first", b"second")]
    text = "![diagram](attachment:d.png) the same words in two cells"
    for nb in (correct, wrong):
        nb.cells += [new_markdown_cell(text, attachments={"d.png": {"image/png": data}}) for data in drawn]
    other_lexer = nbformat.from_dict(wrong)
    other_lexer.metadata["language_info"] = {"name": "text", "pygments_lexer": "text"}
    render_feedback(correct, result, assignment="toy")
    for nb in (wrong, other_lexer):
        page = render_feedback(nb, result, assignment="toy")
        assert _without_cell_ids(page) == _without_cell_ids(_fresh_render(nb, result))
        shown = BeautifulSoup(page, "html.parser").get_text()
        assert all(line in shown for source in differing for line in source.splitlines() if line.strip())
        images = [img["src"] for img in BeautifulSoup(page, "html.parser").find_all("img")]
        assert [f"data:image/png;base64,{data}" for data in drawn] == images  # each cell its own picture


def test_a_markdown_image_from_a_missing_attachment_shows_the_cell_as_text(toy):
    """A student's Markdown may name an attachment it does not hold (deleted, or never pasted): nbconvert
    refuses such a cell; the page shows its text and why, and the rest of the page as usual."""
    result = SubmissionResult("ann", Status.GRADED, cells=(CellResult("explain", 0.0, 1.0, False, "no"),))
    nb = read_toy(toy, "correct")
    nb.cells += [
        new_markdown_cell("my plot ![loss](attachment:loss.png)"),
        new_markdown_cell("and ![acc](attachment:acc.png)", attachments={"other.png": {"image/png": "AAAA"}}),
    ]
    page = BeautifulSoup(render_feedback(nb, result, assignment="toy"), "html.parser")
    text = page.get_text()
    assert "missing attachment: loss.png" in text and "my plot ![loss](attachment:loss.png)" in text
    assert "missing attachment: acc.png" in text
    assert not any(img.get("src", "").startswith("attachment:") for img in page.find_all("img"))
