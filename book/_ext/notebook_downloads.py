"""Sphinx extension: offer every MyST Markdown notebook page as a Jupyter notebook (.ipynb) download.

The chapters are MyST Markdown notebooks (diff-friendly sources). For each such page this writes
``_sources/<page>.ipynb`` -- the same cells, converted with jupytext, without outputs, so a student runs
it from the top -- and sets ``ipynb_source`` in the page context, which makes sphinx-book-theme list it
first in the page's download menu. (The theme only does this itself when a launch service is set up.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jupytext
from sphinx.application import Sphinx


def _add_notebook(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    if doctree is None or "kernelspec" not in app.env.metadata.get(pagename, {}):
        return
    source = Path(app.env.doc2path(pagename))
    if source.suffix != ".md":
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(source)
    notebook.metadata.pop("jupytext", None)
    jupytext.write(notebook, target, fmt="ipynb")
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app: Sphinx) -> dict[str, object]:
    # Before sphinx-book-theme's header buttons (priority 501) read ``ipynb_source``.
    app.connect("html-page-context", _add_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
