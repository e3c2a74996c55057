"""Does an assignment's source load as nbgrader makes it: hidden tests in the instructor's version only,
the committed fixtures current, a source of another nbgrader schema refused in one line?
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import TOY_FIXTURES, autograder_in_process


def test_fixtures_are_what_the_factory_builds():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_fixtures", TOY_FIXTURES / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build(check=True) == [], "run: python tests/fixtures/autograder/build.py"


def test_source_keeps_hidden_tests_in_master_only(toy):
    master = "\n".join(c.source for c in toy.master.cells)
    release = "\n".join(c.source for c in toy.release.cells)
    assert toy.hidden_lines and all(line in master and line not in release for line in toy.hidden_lines)
    assert "return x * x" not in master, "solutions must be cleared from the master notebook"
    assert [s.grade_id for s in toy.specs if s.role == "test"] == ["square-test", "softmax-test"]
    assert [s.grade_id for s in toy.specs if s.role == "manual"] == ["explain"]


def test_a_source_of_a_newer_nbgrader_schema_is_a_usage_error_in_one_line(tmp_path):
    """nbgrader's own too-new.ipynb as a source: exit 2 with one clear line, never a traceback."""
    import nbgrader

    files = Path(nbgrader.__file__).parent / "tests" / "apps" / "files"
    (tmp_path / "too-new").mkdir()
    shutil.copyfile(files / "too-new.ipynb", tmp_path / "too-new" / "too-new.ipynb")
    (tmp_path / "subs" / "ann").mkdir(parents=True)
    shutil.copyfile(files / "too-new.ipynb", tmp_path / "subs" / "ann" / "too-new.ipynb")
    done = autograder_in_process(
        "grade", str(tmp_path / "too-new"), str(tmp_path / "subs"), "--out", str(tmp_path / "out")
    )
    assert done.exit_code == 2, done.stderr
    assert "Traceback" not in done.stderr and "another schema version" in done.stderr
