"""Is the built book complete, offline-readable and rendered correctly in a real browser?

These tests read ``_build/html`` (``make test`` builds the book first). The browser test drives Debian's
headless Chromium through Selenium with all networking off; it is skipped, with a message, only where
Chromium is not installed (``.ci/run`` installs it and sets DLCOURSE_REQUIRE_BROWSER=1 so CI never skips).
"""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from conftest import read_page

# The book to check: this repository, or another checkout's (for trying the tests on a scratch book).
ROOT = Path(os.environ.get("DLCOURSE_BOOK_ROOT", Path(__file__).resolve().parents[1]))
HTML = ROOT / "_build" / "html"


def _toc_pages(toc_file: Path = ROOT / "_toc.yml") -> list[str]:
    toc = yaml.safe_load(toc_file.read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return pages


PAGES = _toc_pages()


@pytest.fixture(scope="module")
def html_dir() -> Path:
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book at {HTML}: run `make book` first (`make test` does)")
    return HTML


def _page_html(html_dir: Path, page: str) -> Path:
    return html_dir / f"{page}.html"


def _is_notebook_page(page: str) -> bool:
    source = ROOT / f"{page}.md"
    if not source.is_file():
        return False
    parts = source.read_text(encoding="utf-8").split("---", 2)
    return len(parts) == 3 and parts[0].strip() == "" and "kernelspec:" in parts[1]


class _Resources(HTMLParser):
    """Collects every URL a page loads by itself (scripts, styles, images, fonts, frames)."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "audio", "video", "embed") and a.get("src"):
            self.loaded.append(a["src"])
        if tag == "link" and a.get("href"):
            rel = (a.get("rel") or "").lower()
            if any(r in rel for r in ("stylesheet", "preload", "icon", "modulepreload", "prefetch")):
                self.loaded.append(a["href"])


_REMOTE = re.compile(r"^(https?:)?//", re.I)


@pytest.mark.parametrize("page", PAGES)
def test_every_toc_page_is_in_the_html(html_dir, page):
    assert _page_html(html_dir, page).is_file(), f"{page} missing from the built book"


def test_no_page_loads_anything_from_another_host(html_dir):
    offenders = {}
    for page in sorted(html_dir.rglob("*.html")):
        parser = _Resources()
        parser.feed(page.read_text(encoding="utf-8"))
        remote = [u for u in parser.loaded if _REMOTE.match(u)]
        if remote:
            offenders[str(page.relative_to(html_dir))] = remote
    for css in html_dir.rglob("*.css"):
        remote = re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", css.read_text(errors="replace"))
        remote += re.findall(r"@import\s+['\"]((?:https?:)?//[^'\"]+)", css.read_text(errors="replace"))
        if remote:
            offenders[str(css.relative_to(html_dir))] = remote
    assert offenders == {}


def test_mathjax_is_served_from_the_book(html_dir):
    assert (html_dir / "_static" / "mathjax" / "tex-chtml.js").is_file()
    fonts = list((html_dir / "_static" / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff"))
    assert len(fonts) > 10


@pytest.mark.parametrize("page", [p for p in PAGES if _is_notebook_page(p)])
def test_notebook_pages_offer_their_notebook_for_download(html_dir, page):
    import nbformat

    html = _page_html(html_dir, page).read_text(encoding="utf-8")
    name = Path(page).name + ".ipynb"
    assert f"_sources/{page}.ipynb" in html, f"no .ipynb download link on {page}"
    notebook = nbformat.read(html_dir / "_sources" / f"{page}.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cells"
    assert all(not c.outputs for c in code), f"{name} ships outputs"


# --- figures: every image says what it shows --------------------------------------------------------


class _Figures(HTMLParser):
    """Collects every ``<img>`` (its alt text, and the id and caption of the ``<figure>`` around it)."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self._figure: dict[str, str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "figure":
            self._figure = {"id": a.get("id") or "", "caption": ""}
            self._first_image = len(self.images)
        elif tag == "figcaption" and self._figure is not None:
            self._in_caption = True
        elif tag == "img":
            self.images.append({"src": a.get("src"), "alt": a.get("alt"), "figure": None, "caption": None})

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self._in_caption = False
        elif tag == "figure" and self._figure is not None:
            for image in self.images[self._first_image :]:
                image["figure"] = self._figure["id"]
                image["caption"] = " ".join(self._figure["caption"].split())
            self._figure = None

    def handle_data(self, data):
        if self._in_caption and self._figure is not None:
            self._figure["caption"] += data


def _images(html_dir: Path, page: str) -> list[dict[str, str | None]]:
    parser = _Figures()
    parser.feed(_page_html(html_dir, page).read_text(encoding="utf-8"))
    return parser.images


_FILE_NAME = re.compile(r"(_images/|\.(png|jpe?g|svg|gif|webp)\b)", re.I)

# The pictures drawn by dlcourse.plotting: page -> figure name -> words its caption must contain.
PICTURES = {
    "book/01_perceptron": {"fig-unit": "One unit"},
    "book/02_mlp": {"fig-mlp": "one-hidden-layer network"},
    "book/03_backprop": {"fig-backprop-graph": "computational graph", "fig-forgotten-weight": "slide forgot"},
    "book/07_regularization": {"fig-dropout-draws": "two random draws", "fig-l1-l2-geometry": "L1 diamond"},
}


@pytest.mark.parametrize("page", PAGES)
def test_every_image_has_alt_text_that_says_what_it_shows(html_dir, page):
    for image in _images(html_dir, page):
        alt = (image["alt"] or "").strip()
        assert alt, f"{page}: {image['src']} has no alt text"
        assert not _FILE_NAME.search(alt), f"{page}: {image['src']} has a file name as alt text: {alt!r}"
        if "_images/" in (image["src"] or ""):  # a plot the page drew (the theme's logos and icons are named)
            assert len(alt) >= 20, f"{page}: {image['src']}: alt text {alt!r} too short to say what it shows"


@pytest.mark.parametrize("page", PAGES)
def test_every_plot_is_a_captioned_figure(html_dir, page):
    plots = [i for i in _images(html_dir, page) if "_images/" in (i["src"] or "")]
    for image in plots:
        assert image["figure"], f"{page}: {image['src']} is not in a named figure"
        assert len(image["caption"] or "") >= 20, f"{page}: {image['src']} has caption {image['caption']!r}"
    names = [i["figure"] for i in plots]
    assert len(names) == len(set(names)), f"{page}: figure names repeat: {names}"


@pytest.mark.parametrize("page", sorted(PICTURES))
def test_network_pictures_are_on_their_pages(html_dir, page):
    figures = {i["figure"]: i for i in _images(html_dir, page) if i["figure"]}
    for name, words in PICTURES[page].items():
        assert name in figures, f"{name} missing from {page} (figures there: {sorted(figures)})"
        assert words in figures[name]["caption"], figures[name]["caption"]
        assert figures[name]["src"].startswith("../_images/"), (
            "the picture is not an image rendered by the page"
        )


def test_the_book_has_its_pictures(html_dir):
    images = [i for page in PAGES for i in _images(html_dir, page) if "_images/" in (i["src"] or "")]
    assert len(images) >= 26 + 6, f"{len(images)} plots in the book"


# --- the browser (fixture in conftest.py) ----------------------------------------------------------


def _has_math(page_file: Path) -> bool:
    text = page_file.read_text(encoding="utf-8")
    return 'class="math' in text


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_offline_in_a_browser(html_dir, browser, page):
    page_file = _page_html(html_dir, page)
    state, console = read_page(browser, page_file)
    assert "error" not in state, state
    assert console == [], f"console errors on {page}: {json.dumps(console, indent=1)}"
    remote = [r for r in state["resources"] if not r.startswith("file:")]
    assert remote == [], f"{page} requested {remote}"
    assert state["brokenImages"] == [], f"{page} has images that did not load"
    if _has_math(page_file):
        assert state["mathjax"], f"{page} has math but MathJax did not load"
        assert state["typeset"] > 0, f"{page}: MathJax typeset nothing"
        assert state["mathErrors"] == 0, f"{page}: MathJax reported TeX errors"
        assert state["rawMath"] == [], f"{page}: raw TeX delimiters left: {state['rawMath'][:5]}"


# --- launching a chapter: buttons, and the set-up cell that installs dlcourse where it is missing ---------

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
NOTEBOOK_PAGES = [p for p in PAGES if _is_notebook_page(p)]
SETUP_MARK = "# SET-UP CELL"


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_chapter_pages_offer_launch_buttons(html_dir, page):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_page_html(html_dir, page).read_text(encoding="utf-8"), "html.parser")
    links = {a.get_text(" ", strip=True): a["href"] for a in soup.select(".dropdown-launch-buttons a[href]")}
    repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    buttons = CONFIG["launch_buttons"]
    assert links.get("Binder", "").startswith(f"{buttons['binderhub_url']}/v2/gh/{repo}/"), links
    assert f"{page}.md" in links["Binder"]
    assert links.get("JupyterHub", "").startswith(f"{buttons['jupyterhub_url']}/hub/user-redirect/git-pull?")
    # Colab reads notebooks only: the button opens the published book's output-free copy of this page.
    branch = CONFIG["sphinx"]["config"]["notebook_downloads_colab_branch"]
    assert links.get("Colab") == f"{buttons['colab_url']}/github/{repo}/blob/{branch}/_sources/{page}.ipynb"
    assert (html_dir / "_sources" / f"{page}.ipynb").is_file()


def _setup_cell(page: str) -> tuple[str, list[str]]:
    import jupytext

    notebook = jupytext.read(ROOT / f"{page}.md")
    first = next(c for c in notebook.cells if c.cell_type == "code")
    return first.source, first.metadata.get("tags", [])


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_each_chapter_starts_with_the_hidden_set_up_cell(html_dir, page):
    source, tags = _setup_cell(page)
    assert source.startswith(SETUP_MARK), f"{page}: the first code cell is not the set-up cell"
    assert source == _setup_cell(NOTEBOOK_PAGES[0])[0], f"{page}: its set-up cell differs from the others"
    assert "remove-cell" in tags
    assert SETUP_MARK not in _page_html(html_dir, page).read_text(encoding="utf-8")
    assert f"git+{CONFIG['repository']['url']}" in source  # installs from the instructor's repository


# Runs the set-up cell in a fresh Python and reports every process it starts (refusing to start any).
_RUN_SETUP_CELL = """
import json, sys
started = []
def refuse(event, args):
    if event == "subprocess.Popen":
        started.append([str(a) for a in args[1]])
        raise RuntimeError("refused")
sys.addaudithook(refuse)
if sys.argv[1] == "missing":  # as on Colab: importlib finds no dlcourse
    import importlib.util
    original = importlib.util.find_spec
    importlib.util.find_spec = lambda name, *a: None if name == "dlcourse" else original(name, *a)
try:
    exec(sys.stdin.read(), {})
except RuntimeError as error:
    assert str(error) == "refused", error
print(json.dumps(started))
"""


def test_the_set_up_cell_does_nothing_where_dlcourse_is_installed():
    import subprocess
    import sys

    source, _ = _setup_cell(NOTEBOOK_PAGES[0])
    here = subprocess.run(
        [sys.executable, "-c", _RUN_SETUP_CELL, "installed"], input=source, capture_output=True, text=True
    )
    assert here.returncode == 0, here.stderr
    assert json.loads(here.stdout) == []  # nothing started, nothing installed

    # Where dlcourse is missing (Colab) the same cell runs pip on the course's package.
    colab = subprocess.run(
        [sys.executable, "-c", _RUN_SETUP_CELL, "missing"], input=source, capture_output=True, text=True
    )
    assert colab.returncode == 0, colab.stderr
    (command,) = json.loads(colab.stdout)
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert command[-1].startswith("dlcourse-kit[") and f"git+{CONFIG['repository']['url']}" in command[-1]


# --- accessibility (axe-core) in both colour modes, and display math on a phone ----------------------------


def _open_in_mode(browser, page_file: Path, mode: str) -> None:
    """Open ``page_file`` in pydata-sphinx-theme's ``mode`` (its switch stores the choice in localStorage)."""
    browser.get(page_file.resolve().as_uri())
    browser.execute_script(
        "localStorage.setItem('mode', arguments[0]); localStorage.setItem('theme', arguments[0]);", mode
    )
    read_page(browser, page_file)  # reloads and waits for MathJax
    assert browser.execute_script("return document.documentElement.dataset.theme") == mode


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("page", [*PAGES, "search", "genindex"])  # every page the build writes
def test_page_has_no_serious_accessibility_violations(html_dir, browser, page, mode):
    from selenium_axe_python import Axe

    _open_in_mode(browser, _page_html(html_dir, page), mode)
    axe = Axe(browser)
    axe.inject()
    # axe-core's default rules plus its experimental ones (label-content-name-mismatch is one).
    experimental = browser.execute_script("return axe.getRules(['experimental']).map(r => r.ruleId)")
    results = axe.run(options=json.dumps({"rules": {rule: {"enabled": True} for rule in experimental}}))
    serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [] or pytest.fail(axe.report(serious))


PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True}

# Each display equation's typeset width against the width of the column it sits in.
DISPLAY_WIDTHS = """
return Array.from(document.querySelectorAll('mjx-container[display="true"]')).map(c => ({
  tex: (c.closest('.math') || c).getAttribute('id') || c.textContent.slice(0, 60),
  math: c.querySelector('mjx-math').getBoundingClientRect().width,
  column: c.getBoundingClientRect().width,
}));
"""


def _has_display_math(page: str) -> bool:
    source = ROOT / f"{page}.md"
    return source.is_file() and "$$" in source.read_text(encoding="utf-8")


@pytest.mark.parametrize("page", [p for p in PAGES if _has_display_math(p)])
def test_display_equations_fit_a_phone_screen(html_dir, browser, page):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    try:
        read_page(browser, _page_html(html_dir, page))
        displays = browser.execute_script(DISPLAY_WIDTHS)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    too_wide = [d for d in displays if d["math"] > d["column"] + 0.5]
    assert too_wide == [], (
        f"{page}: {len(too_wide)} of {len(displays)} display equations are cut off: {too_wide}"
    )
