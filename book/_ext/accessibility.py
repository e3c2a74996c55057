"""Sphinx extension: the book passes axe-core's serious and critical checks in light and dark mode.

What it fixes (each checked by ``tests/test_book.py``, which runs axe-core on every page and theme):

- The "Show code cell source" toggles (sphinx-togglebutton's ``<summary aria-label="Toggle hidden
  content">``) announced a name other than the words they show (``label-content-name-mismatch``): the
  label is dropped here, so a screen reader reads the visible words.
- The theme's search buttons, colour-mode switch and search form: ``_static/accessibility.js`` gives the
  buttons a name that contains what they show, hides the switch's decorative icons from assistive
  technology, and adds a submit button to the search form (jupyter-book #2135).
- Rich's colours in cell outputs (Keras's ``model.summary()``: blue, green and cyan at 1.6-3.7:1):
  ``_static/accessibility.css`` replaces each with a shade of at least 4.5:1 on the output background of
  each theme.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

STATIC = Path(__file__).resolve().parents[1] / "_static"
_TOGGLE = '<summary aria-label="Toggle hidden content">'


def _name_toggles_by_their_text(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree
) -> None:
    body = context.get("body")
    if body and _TOGGLE in body:
        context["body"] = body.replace(_TOGGLE, "<summary>")


def _add_static(app: Sphinx) -> None:
    app.config.html_static_path.append(str(STATIC))


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("builder-inited", _add_static)
    app.add_css_file("accessibility.css")
    app.add_js_file("accessibility.js", loading_method="defer")
    app.connect("html-page-context", _name_toggles_by_their_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
