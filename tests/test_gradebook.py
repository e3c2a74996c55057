"""Is the gradebook we write the one nbgrader would write, without nbgrader's subprocess?"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TOY

from autograder import gradebook
from autograder.results import CellResult, Status, SubmissionResult
from autograder.source import load_assignment


def _schema(db: Path) -> tuple[list[str], list[tuple]]:
    """Every table's and index's definition, and the schema version the database is stamped with."""
    with sqlite3.connect(db) as connection:
        definitions = sorted(row[0] for row in connection.execute("SELECT sql FROM sqlite_master") if row[0])
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    return definitions, version


def test_a_new_gradebook_is_the_one_nbgrader_creates(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    gradebook.record(ours, load_assignment(TOY, root=ROOT), ())
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    Gradebook(f"sqlite:///{theirs / gradebook.DB_NAME}").close()  # nbgrader asks alembic for the version
    assert _schema(ours / gradebook.DB_NAME) == _schema(theirs / gradebook.DB_NAME)


def test_grades_are_recorded_without_starting_a_process(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    def no_process(*args, **kwargs):
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess.Popen, "__init__", no_process)
    cells = (
        CellResult("square-test", 2.0, 2.0, True),
        CellResult("softmax-test", 0.0, 3.0, False, "AssertionError: rows must sum to 1"),
        CellResult("explain", None, 2.0, None, "awaiting review", manual=True),
    )
    results = (
        SubmissionResult("ann", Status.GRADED, cells=cells),
        SubmissionResult("bob", Status.FAILED, reason="not a notebook"),
    )
    assert gradebook.record(tmp_path, load_assignment(TOY, root=ROOT), results) == []
    monkeypatch.undo()
    with Gradebook(f"sqlite:///{tmp_path / gradebook.DB_NAME}") as gb:
        tests = ("square-test", "softmax-test")
        scores = {g: gb.find_grade(g, "toy", "toy", "ann").auto_score for g in tests}
        assert scores == {"square-test": 2.0, "softmax-test": 0.0}
        assert gb.find_grade("explain", "toy", "toy", "ann").needs_manual_grade
        assert [s.id for s in gb.students] == ["ann"]  # a failed submission has no grades to hold


@pytest.mark.parametrize("stamped", [True, False])
def test_an_existing_gradebook_is_left_as_it_is(tmp_path, stamped):
    """A database nbgrader or a person already holds keeps its version and data; one a crash left without
    a version gets one."""
    db = tmp_path / gradebook.DB_NAME
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE note (text TEXT)")
        connection.execute("INSERT INTO note VALUES ('kept')")
        if stamped:
            connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            connection.execute("INSERT INTO alembic_version VALUES ('older')")
    gradebook.record(tmp_path, load_assignment(TOY, root=ROOT), ())
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT text FROM note").fetchall() == [("kept",)]
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert version == ([("older",)] if stamped else [(gradebook.schema_version(),)])
