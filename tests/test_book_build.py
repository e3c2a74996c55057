"""Is the book build as strict as promised? (a scratch book built with the repository's configuration)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")

_HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def _scratch_book(tmp_path: Path, cell: str) -> Path:
    book = tmp_path / "book-src"
    (book / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    shutil.copytree(ROOT / "book" / "_ext", book / "book" / "_ext")
    shutil.copytree(ROOT / "book" / "_static", book / "book" / "_static")
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/page\n")
    (book / "book" / "page.md").write_text(
        _HEADER + "# Page\n\n```{code-cell} ipython3\n" + cell + "\n```\n", encoding="utf-8"
    )
    return book


def _build(book: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(JUPYTER_BOOK), "build", ".", "--path-output", ".", "-W", "-n", "--keep-going"],
        cwd=book,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_an_erroring_cell_fails_the_build(tmp_path):
    proc = _build(_scratch_book(tmp_path, 'raise RuntimeError("a cell that breaks")'))
    assert proc.returncode != 0
    assert "Executing notebook failed" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_stderr_never_reaches_a_page(tmp_path):
    # The strings are built at run time so that the page's source code does not contain them.
    cell = 'import sys\nprint("to" + "-stdout")\nprint("NOISE" + "-ON-STDERR", file=sys.stderr)'
    book = _scratch_book(tmp_path, cell)
    proc = _build(book)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    html = (book / "_build" / "html" / "book" / "page.html").read_text(encoding="utf-8")
    assert "to-stdout" in html
    assert "NOISE-ON-STDERR" not in html
