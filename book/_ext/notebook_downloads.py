"""Sphinx extension: offer every MyST Markdown notebook page as a Jupyter notebook (.ipynb) download.

The chapters are MyST Markdown notebooks (diff-friendly sources). For each such page this writes
``_sources/<page>.ipynb`` -- the same cells, converted with jupytext, without outputs, so a student runs
it from the top -- and sets ``ipynb_source`` in the page context, which makes sphinx-book-theme list it
first in the page's download menu.

With launch buttons configured, sphinx-book-theme copies the *executed* notebook (outputs included) to
the same place; the output-free one is written again after it. Its Colab button would open the page's
``.md`` source on GitHub, which Colab cannot read: with ``notebook_downloads_colab_branch`` set, the
button opens ``_sources/<page>.ipynb`` of the book published on that branch instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jupytext
from sphinx.application import Sphinx


def _source(app: Sphinx, pagename: str, doctree) -> Path | None:
    if doctree is None or "kernelspec" not in app.env.metadata.get(pagename, {}):
        return None
    source = Path(app.env.doc2path(pagename))
    return source if source.suffix == ".md" else None


def _announce_notebook(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree
) -> None:
    if _source(app, pagename, doctree) is not None:
        context["ipynb_source"] = f"{pagename}.ipynb"


def _write_notebook(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    source = _source(app, pagename, doctree)
    if source is None:
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(source)
    notebook.metadata.pop("jupytext", None)
    jupytext.write(notebook, target, fmt="ipynb")
    _point_colab_at_notebook(app, pagename, context)


def _point_colab_at_notebook(app: Sphinx, pagename: str, context: dict[str, Any]) -> None:
    branch = app.config.notebook_downloads_colab_branch
    options = app.config.html_theme_options
    colab = (options.get("launch_buttons") or {}).get("colab_url", "").rstrip("/")
    repository = options.get("repository_url", "").rstrip("/")
    if not (branch and colab and repository.startswith("https://github.com/")):
        return
    owner_repo = repository.removeprefix("https://github.com/")
    url = f"{colab}/github/{owner_repo}/blob/{branch}/_sources/{pagename}.ipynb"
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []) if isinstance(group, dict) else []:
            if button.get("text") == "Colab":
                button["url"] = url


def setup(app: Sphinx) -> dict[str, object]:
    app.add_config_value("notebook_downloads_colab_branch", "", "html", types=[str])
    # Before sphinx-book-theme's header buttons (priority 501) read ``ipynb_source``; the file is written
    # after them, over the executed copy the theme's launch buttons put there.
    app.connect("html-page-context", _announce_notebook, priority=500)
    app.connect("html-page-context", _write_notebook, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.1"}
