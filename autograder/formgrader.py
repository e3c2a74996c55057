"""Grading written answers in nbgrader's own formgrader, on the gradebook ``autograder grade`` wrote.

:func:`prepare` turns an output folder into the course folder formgrader reads: ``OUT/nbgrader_config.py``
(``db_url`` to ``OUT/gradebook.db``, the course root ``OUT``, paths relative to the file itself),
``OUT/source/<hw>/`` (the assignment's source, so the Manual Grading page lists it) beside the
``OUT/autograded/<student>/<hw>/<hw>.ipynb`` the grader already writes in nbgrader's layout, and a
``mathjax.html.j2`` (under ``OUT/formgrader-jupyter/``) that makes formgrader's pages load the vendored
MathJax (``OUT/feedback/_static/``, served from the Jupyter server's root, ``OUT``), not a CDN's. nbgrader's
feedback folder is moved to ``nbgrader-feedback/`` so it never overwrites our pages. Scores and comments
typed there land in the gradebook (``Grade.manual_score``, ``Comment.manual_comment``); ``autograder
report`` then writes every output from it.

An assignment of several notebooks (nbgrader's course layout, graded into ``OUT/<notebook>/``) is one
assignment in formgrader, as in nbgrader: its gradebook is ``OUT/gradebook.db`` already, the sources are
copied to ``OUT/source/<assignment>/`` and each executed notebook is linked (relatively) at
``OUT/autograded/<student>/<assignment>/<notebook>.ipynb``, where formgrader looks for it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from autograder import course
from autograder.errors import UsageError
from autograder.source import load_assignment, resolve_folder
from autograder.steps.feedback import write_assets

CONFIG = """\
# Written by `autograder formgrader`: nbgrader's formgrader on the autograder's output folder.
# Paths are relative to this file, so the folder can move. Start it with:  jupyter lab  (from this folder)
import os

_here = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.root = _here
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_here, "gradebook.db")
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "nbgrader-feedback"  # feedback/ holds the autograder's pages
# nbgrader has no MathJax setting: formgrader's grading page calls nbconvert's mathjax() macro without a
# URL (MathJax 2 from a CDN). A Jupyter data folder searched first (JUPYTER_PATH, read when formgrader
# builds its exporter, after this file) holds nbconvert/templates/base/mathjax.html.j2 loading the
# vendored MathJax 3 from feedback/_static/ instead.
_templates = os.path.join(_here, "formgrader-jupyter")
os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [_templates, os.environ.get("JUPYTER_PATH")]))
"""

# Relative to formgrader's /formgrader/submissions/<id> page: the Jupyter server (root OUT) serves
# /files/feedback/_static/, where write_assets put MathJax 3 and its settings (safe extension on).
MATHJAX_MACRO = """\
{#- Written by `autograder formgrader`: the vendored MathJax 3 (feedback/_static/) instead of a CDN. -#}
{%- macro mathjax(url="") -%}
<script src="../../files/feedback/_static/mathjax-config.js"></script>
<script src="../../files/feedback/_static/mathjax/tex-chtml.js"></script>
{%- endmacro %}
"""


def prepare(assignment: str | Path, out: str | Path, *, root: str | Path | None = None) -> Path:
    """Make ``out`` a course folder nbgrader's formgrader can open.

    Returns:
        The written ``nbgrader_config.py``.

    Raises:
        UsageError: unknown assignment or no gradebook in ``out``.
    """
    out_path = Path(out).resolve()
    root_path = Path.cwd() if root is None else Path(root)
    if not (out_path / "gradebook.db").is_file():
        raise UsageError(f"no gradebook in {out_path}: run `autograder grade ... --out {out_path}` first.")
    notebooks = course.graded_notebooks(out_path)
    if notebooks is None:
        loaded = load_assignment(assignment, root=root_path)
        source = out_path / "source" / loaded.name
        source.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(loaded.folder / f"{loaded.name}.ipynb", source / f"{loaded.name}.ipynb")
    else:
        _link_notebooks(out_path, resolve_folder(assignment, root=root_path), tuple(notebooks))
    write_assets(out_path / "feedback")
    templates = out_path / "formgrader-jupyter" / "nbconvert" / "templates" / "base"
    templates.mkdir(parents=True, exist_ok=True)
    (templates / "mathjax.html.j2").write_text(MATHJAX_MACRO, encoding="utf-8")
    config = out_path / "nbgrader_config.py"
    config.write_text(CONFIG, encoding="utf-8")
    return config


def _link_notebooks(out: Path, folder: Path, notebooks: tuple[str, ...]) -> None:
    """Lay out an assignment of several notebooks where formgrader reads it (see the module docstring)."""
    source = out / "source" / folder.name
    source.mkdir(parents=True, exist_ok=True)
    for name in notebooks:
        shutil.copyfile(folder / f"{name}.ipynb", source / f"{name}.ipynb")
        executed = sorted((out / name / "autograded").glob(f"*/{name}/{name}.ipynb"))
        for path in executed:
            student = path.parent.parent.name
            link = out / "autograded" / student / folder.name / f"{name}.ipynb"
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(os.path.relpath(path, link.parent))
