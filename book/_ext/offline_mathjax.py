"""Sphinx extension: serve MathJax 3 from the built book itself, so pages typeset math offline.

MathJax comes from the pinned PyPI package ``django-static-mathjax`` (MathJax 3.2.2's ``es5`` build; the
package has no dependencies). At the end of an HTML build the parts a page can load are copied to
``_static/mathjax/``: the ``tex-chtml.js`` component, its web fonts, the TeX extensions it autoloads, and
the accessibility, menu and speech components it may load on demand. ``_config.yml`` points
``mathjax_path`` at ``mathjax/tex-chtml.js`` (relative to ``_static``).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

# What tex-chtml.js can load at run time, relative to MathJax's es5/ folder.
_PARTS = ("tex-chtml.js", "output/chtml/fonts", "input/tex/extensions", "a11y", "ui", "sre", "adaptors")


def mathjax_source() -> Path:
    """Return MathJax's ``es5`` folder inside the installed ``django-static-mathjax`` package."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            "MathJax is not installed: `pip install django-static-mathjax` (pinned in requirements.txt)"
        )
    es5 = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if not (es5 / "tex-chtml.js").is_file():
        raise ExtensionError(f"MathJax's tex-chtml.js not found under {es5}")
    return es5


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in _PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, target / part, dirs_exist_ok=True)
        elif src.is_file():
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / part)


def setup(app: Sphinx) -> dict[str, object]:
    mathjax_source()  # fail early, before a long build, if MathJax is missing
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
