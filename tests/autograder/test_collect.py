"""Does collecting find each student's notebook, in student folders and in an LMS's zip (late flags,
resubmissions), refuse unsafe entries, and keep students whose ids collide apart?
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from conftest import TOY_SUBMISSIONS as SUBMISSIONS

from autograder.collect import collect


def _canvas_zip(path: Path, entries: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return path


def test_canvas_zip_names_late_flags_resubmissions_and_unsafe_entries(tmp_path):
    good = (SUBMISSIONS / "correct.ipynb").read_bytes()
    archive = _canvas_zip(
        tmp_path / "submissions.zip",
        {
            "doejane_12345_67890_toy.ipynb": good,
            "smithbob_LATE_22222_11111_toy-1.ipynb": good,
            "smithbob_LATE_22222_11111_toy.ipynb": b"old",
            "../../evilzip_33333_44444_toy.ipynb": good,
            "/tmp/absolute_55555_66666_toy.ipynb": good,
            "renamed_77777_88888_my_homework.ipynb": good,
        },
        symlink="linked_99999_10101_toy.ipynb",
    )
    staging = tmp_path / "out" / ".incoming"
    subs = {s.student_id: s for s in collect(archive, "toy", staging=staging, max_bytes=1 << 20)}
    assert subs["12345"].lms.name == "doejane" and subs["12345"].notebook.read_bytes() == good
    late = subs["22222"]
    assert late.lms.late and late.lms.filename == "toy-1.ipynb" and late.notebook.read_bytes() == good
    assert "'..'" in subs["33333"].problem and "absolute path" in subs["55555"].problem
    assert "symbolic link" in subs["99999"].problem
    renamed = subs["77777"]  # a Canvas upload named by the student is graded, with a note naming the file
    assert not renamed.problem and renamed.notebook.read_bytes() == good
    assert renamed.notes == ("graded my_homework.ipynb (expected the name toy.ipynb)",)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(staging in p.parents or p == archive for p in written), written
    assert not Path("/tmp/absolute_55555_66666_toy.ipynb").exists()


def test_student_folders_missing_renamed_and_several_notebooks(toy, tmp_path):
    """Is a renamed notebook graded with a note, and the right one picked among several by its grade ids?"""
    good = (SUBMISSIONS / "correct.ipynb").read_text()
    other = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []})
    other_homework = json.dumps(
        {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
         "cells": [{"cell_type": "code", "source": "", "metadata": {"nbgrader": {"grade_id": "hw9-q1"}},
                    "outputs": [], "execution_count": None}]}
    )  # fmt: skip
    for student, files in {
        "ann": {"toy.ipynb": good, "Untitled.ipynb": other},
        "bob": {"HW1 final.ipynb": good},
        "cyd": {"notes.txt": "x"},
        "dee": {"a.ipynb": other, "b.ipynb": other},
        "eve": {"scratch.ipynb": other, "toy (2).ipynb": good},
        "fay": {"draft.ipynb": good, "final.ipynb": good},
        "gus": {"hw9.ipynb": other_homework},
    }.items():
        (tmp_path / student).mkdir()
        for name, text in files.items():
            (tmp_path / student / name).write_text(text)
    ids = frozenset(s.grade_id for s in toy.specs)
    found = collect(tmp_path, "toy", staging=tmp_path / ".x", max_bytes=1 << 20, grade_ids=ids)
    subs = {s.student_id: s for s in found}
    assert subs["ann"].notebook.name == "toy.ipynb" and subs["ann"].notes == ("ignored Untitled.ipynb",)
    assert subs["bob"].notebook.name == "HW1 final.ipynb" and not subs["bob"].problem
    assert subs["bob"].notes == ("graded HW1 final.ipynb (expected the name toy.ipynb)",)
    assert subs["cyd"].problem == "notebook missing: expected toy.ipynb, found notes.txt"
    assert subs["dee"].problem.startswith("several notebooks and none named toy.ipynb: a.ipynb, b.ipynb")
    assert "none holds this assignment's cells" in subs["dee"].problem
    assert subs["eve"].notebook.name == "toy (2).ipynb"
    assert "it is the one holding this assignment's cells" in subs["eve"].notes[0]
    assert subs["fay"].notebook is None and "several hold this assignment's cells" in subs["fay"].problem
    assert subs["gus"].notebook is None and "holds none of this assignment's cells" in subs["gus"].problem


def test_students_whose_ids_would_collide_or_not_fit_a_file_name_keep_their_own_rows(tmp_path):
    """Undecodable bytes and a folder really named like their escape, and a 250-character name."""
    from autograder.reports import file_name

    good = (SUBMISSIONS / "correct.ipynb").read_bytes()
    for name in (b"bad\xffname", b"bad\\xffname", b"x" * 250):
        folder = tmp_path / os.fsdecode(name)
        folder.mkdir()
        (folder / "toy.ipynb").write_bytes(good)
    subs = collect(tmp_path, "toy", staging=tmp_path / ".x", max_bytes=1 << 20)
    ids = [s.student_id for s in subs]
    assert len(set(ids)) == 3 and all(s.notebook is not None for s in subs)
    assert sum(i.startswith("bad\\xffname~") for i in ids) == 2
    names = [file_name(i) for i in ids]
    assert len(set(names)) == 3 and all(len(n.encode()) <= 100 for n in names)
