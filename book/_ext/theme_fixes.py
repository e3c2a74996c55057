"""Sphinx extension: keep the theme's pages free of console errors (the browser test checks this).

sphinx-thebe 0.3.1 registers its inline configuration script (``const THEBE_JS_URL = ...``) once per
``env-before-read-docs`` event, which Jupyter Book emits more than once, so a page declared the same
``const`` twice and the browser logged a SyntaxError. Here identical scripts are listed once.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _script_key(script: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    attributes = getattr(script, "attributes", {}) or {}
    return str(getattr(script, "filename", None) or ""), tuple(
        sorted((k, str(v)) for k, v in attributes.items())
    )


def _dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
