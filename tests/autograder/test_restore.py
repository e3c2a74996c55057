"""Do the autograder's steps, one at a time, do what they promise (no full grading run here)?"""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import TOY_FIXTURES
from conftest import TOY_SUBMISSIONS as SUBMISSIONS

from autograder import sandbox
from autograder.collect import collect
from autograder.config import load_config
from autograder.errors import SubmissionError, UsageError
from autograder.source import nb_meta
from autograder.steps.conceal import HIDDEN, conceal, redact
from autograder.steps.execute import execute
from autograder.steps.read import check_structure, read_notebook
from autograder.steps.restore import restore
from autograder.steps.score import score


def _read(toy, scenario: str) -> nbformat.NotebookNode:
    return read_notebook(SUBMISSIONS / f"{scenario}.ipynb", max_bytes=toy.config.max_notebook_bytes)[0]


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


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        ("not-json", "not a notebook: invalid JSON"),
        ("empty-file", "empty file (0 bytes)"),
        ("wrong-nbformat", "wrong notebook format: nbformat 3"),
        ("invalid-notebook", "not a valid notebook"),
    ],
)
def test_malformed_files_are_refused_with_a_reason(toy, scenario, reason):
    with pytest.raises(SubmissionError, match=re.escape(reason)):
        _read(toy, scenario)


def test_huge_file_is_refused_before_reading(toy, tmp_path):
    huge = tmp_path / "huge-file.ipynb"
    huge.write_bytes(b" " * (toy.config.max_notebook_bytes + 1))
    with pytest.raises(SubmissionError, match=r"file too large: 1\.0 MB > 1\.0 MB limit"):
        read_notebook(huge, max_bytes=toy.config.max_notebook_bytes)


def test_duplicated_grade_ids_are_refused(toy):
    with pytest.raises(SubmissionError, match="duplicated grade id"):
        check_structure(_read(toy, "duplicated-grade-id"), toy)


def test_deleted_and_edited_tests_are_restored_from_the_source(toy):
    deleted, notes = restore(_read(toy, "deleted-test-cell"), toy)
    assert "cell 'square-test' was missing and was restored" in notes
    edited, notes = restore(_read(toy, "edited-test-cell"), toy)
    assert "test cell 'square-test' was edited; the original was restored" in notes
    for nb in (deleted, edited):
        test = next(c for c in nb.cells if nb_meta(c).get("grade_id") == "square-test")
        assert "### BEGIN HIDDEN TESTS" in test.source and test.metadata.nbgrader.points == 2


def test_changed_cell_type_is_noted_and_restored(toy):
    nb = _read(toy, "changed-cell-type")
    assert check_structure(nb, toy) == ["cell 'square-test' was changed from code to markdown; restored"]
    restored, _ = restore(nb, toy)
    assert next(c for c in restored.cells if nb_meta(c).get("grade_id") == "square-test").cell_type == "code"


def test_student_cells_stay_where_the_student_put_them(toy):
    restored, notes = restore(_read(toy, "scratch-cells"), toy)
    sources = [c.source for c in restored.cells]
    assert notes == []
    assert sources[0] == "My notes"
    square = next(i for i, c in enumerate(restored.cells) if nb_meta(c).get("grade_id") == "square")
    assert sources[square + 1].startswith("square_of_two = square(2)")


def _run(toy, scenario: str, **limits):
    nb, _ = restore(_read(toy, scenario), toy)
    lim = sandbox.Limits(**{"cell_timeout": 5.0, "submission_timeout": 20.0, **limits})
    student, verifier = (
        sandbox.start(limits=lim, preload=("numpy",), role=role) for role in ("student", "verifier")
    )
    executed, execution = execute(nb, toy, student, verifier)
    return executed, execution


def test_stderr_from_a_library_does_not_fail_a_correct_answer(toy):
    executed, execution = _run(toy, "stderr-noise")
    assert execution.status == "finished"
    streams = [
        o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"
    ]
    # square() writes to stderr only when a test calls it; what student code prints while a test calls it
    # is dropped (it could echo the hidden tests' inputs), and it costs no points.
    assert not any("tensorflow-style" in o.text for o in streams)
    assert {c.grade_id: c.points for c in score(executed, toy, execution) if not c.manual} == {
        "square-test": 2.0,
        "softmax-test": 3.0,
    }


def test_an_interrupt_ignoring_infinite_loop_costs_at_most_the_cell_limit(toy):
    start = time.monotonic()
    executed, execution = _run(toy, "infinite-loop", cell_timeout=2.0)
    assert time.monotonic() - start < 8
    assert execution.status == "cell-timeout"
    verdicts = {c.grade_id: c for c in score(executed, toy, execution)}
    assert verdicts["square-test"].passed and not verdicts["softmax-test"].passed
    assert "limit per cell" in verdicts["softmax-test"].message


def test_the_whole_process_group_is_killed(tmp_path):
    marker = tmp_path / "child-alive"
    late_touch = f"import time, pathlib; time.sleep(3); pathlib.Path({str(marker)!r}).touch()"
    child = f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {late_touch!r}])"
    runner = sandbox.start(limits=sandbox.Limits(cell_timeout=1.0, submission_timeout=5.0))
    execution = runner.run([(0, child), (1, "while True: pass")])
    assert execution.status == "cell-timeout"
    time.sleep(3.5)
    assert not marker.exists(), "a child of the notebook survived the kill"


def test_a_submission_limit_stops_many_slow_cells():
    runner = sandbox.start(limits=sandbox.Limits(cell_timeout=5.0, submission_timeout=2.0))
    execution = runner.run([(i, "import time; time.sleep(0.9)") for i in range(5)])
    assert execution.status == "submission-timeout" and len(execution.outputs) == 2


def test_a_process_that_exits_is_reported():
    execution = sandbox.start(limits=sandbox.Limits()).run([(0, "print(1)"), (1, "import os; os._exit(3)")])
    assert execution.status == "died" and "exited with code 3" in execution.detail
    assert execution.outputs[0][0]["text"] == "1\n"


def test_the_sandbox_has_a_private_home_and_an_empty_folder():
    source = "import os; print(os.environ['HOME'].startswith(os.getcwd()), sorted(os.listdir('.')))"
    execution = sandbox.start(limits=sandbox.Limits()).run([(0, source)])
    assert execution.outputs[0][0]["text"] == "True ['.home']\n"  # the grader's log stays outside


def test_concealing_removes_hidden_tests_and_their_echoes(toy):
    executed, _execution = _run(toy, "reads-hidden-tests")
    safe = conceal(executed, toy)
    text = nbformat.writes(safe)
    for line in toy.hidden_lines:
        assert line not in text and line.replace('"', '\\"') not in text
    # Test cells never run in the student's process, so its input history holds no test code at all.
    echo = next(c for c in executed.cells if "print(In)" in c.source)
    history = "".join(o.get("text", "") for o in echo.outputs)
    assert "def square" in history and "assert square(3) == 9" not in history
    # The redaction still stands behind the verifier's outputs (a hidden line in a test cell is replaced).
    assert redact(f"x = 1\n{toy.hidden_lines[0]}", toy.hidden_lines) == f"x = 1\n{HIDDEN}"


def test_a_students_own_output_is_never_rewritten_even_when_it_looks_like_a_hidden_line(toy):
    """Concealment follows provenance: printing a guessed hidden line shows it, and tells nothing."""
    nb = _read(toy, "correct")
    guess = toy.hidden_lines[0]
    square = next(i for i, c in enumerate(nb.cells) if nb_meta(c).get("grade_id") == "square")
    nb.cells.insert(square + 1, nbformat.v4.new_code_cell(f"print({guess!r})"))
    restored, _ = restore(nb, toy)
    lim = sandbox.Limits(cell_timeout=5.0, submission_timeout=20.0)
    roles = ("student", "verifier")
    student, verifier = (sandbox.start(limits=lim, preload=("numpy",), role=r) for r in roles)
    executed, _execution = execute(restored, toy, student, verifier)
    safe = conceal(executed, toy)
    printed = next(c for c in safe.cells if c.source == f"print({guess!r})")
    assert printed.outputs[0]["text"] == guess + "\n"


def test_failing_hidden_tests_show_only_the_error_message(toy):
    executed, execution = _run(toy, "partially-wrong")
    softmax = {c.grade_id: c for c in score(executed, toy, execution)}["softmax-test"]
    assert softmax.message == "AssertionError: softmax overflows: subtract the maximum first"
    error = next(
        o for c in conceal(executed, toy).cells for o in c.get("outputs", []) if o.output_type == "error"
    )
    assert error.traceback == ["AssertionError: softmax overflows: subtract the maximum first"]


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


def test_bad_configuration_is_a_usage_error_that_says_what_to_fix(tmp_path):
    (tmp_path / "autograder.toml").write_text("[limits]\ncell_timeout = 10\ncel_timeout = 5\n")
    with pytest.raises(UsageError, match=r"unknown key.*cel_timeout.*known keys"):
        load_config(tmp_path)
    (tmp_path / "autograder.toml").write_text("[limits]\ncell_timeout = 120\nmemory_gb = 6\n")
    config = load_config(tmp_path)
    assert config.limits.cell_timeout == 120 and config.limits.memory_bytes == 6 * 1024**3
    assert os.environ.get("DLCOURSE_DATA") is None or "DLCOURSE_DATA" in config.env_passthrough


def test_the_models_table_replaces_or_extends_the_default_allow_list(tmp_path):
    from autograder.config import DEFAULT_MODELS

    assert load_config(tmp_path).models == DEFAULT_MODELS  # no autograder.toml
    (tmp_path / "autograder.toml").write_text(
        '[models]\noptimizers = ["SGD"]\n[models.add]\nlayers = ["Conv2D"]\n'
    )
    models = load_config(tmp_path).models
    assert models.optimizers == ("SGD",)
    assert models.layers == (*DEFAULT_MODELS.layers, "Conv2D") and models.losses == DEFAULT_MODELS.losses
    assert models.allows("optimizers", "sgd") and not models.allows("optimizers", "Adam")
    (tmp_path / "autograder.toml").write_text('[models.add]\nlayers = ["Lambda"]\n')
    with pytest.raises(UsageError, match=r"models.layers cannot allow Lambda: a Lambda layer runs code"):
        load_config(tmp_path)
    (tmp_path / "autograder.toml").write_text('[models]\nlayer = ["Dense"]\n')
    with pytest.raises(UsageError, match=r"unknown key\(s\) layer in \[models\]"):
        load_config(tmp_path)
    (tmp_path / "autograder.toml").write_text('[models]\nlosses = "mse"\n')
    with pytest.raises(UsageError, match=r"models.losses must be a list of Keras names"):
        load_config(tmp_path)


def test_the_working_folder_holds_the_notebook_and_the_assignments_data_files_only(toy, tmp_path):
    import shutil
    from dataclasses import replace

    folder = tmp_path / "toy"
    shutil.copytree(toy.folder, folder)
    (folder / "scores.csv").write_text("a,b\n1,2\n")
    (folder / "data").mkdir()
    (folder / "data" / "weights.txt").write_text("0.5")
    (folder / "autograder.toml").write_text("[limits]\ncell_timeout = 5\n")
    assignment = replace(toy, folder=folder)
    nb, _ = restore(_read(toy, "correct"), assignment)
    probe = (
        "import os\nprint(sorted(os.listdir('.')), open('data/weights.txt').read(), open('toy.ipynb').read())"
    )
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    lim = sandbox.Limits(cell_timeout=5.0, submission_timeout=20.0)
    student, verifier = (
        sandbox.start(limits=lim, preload=("numpy",), role=r) for r in ("student", "verifier")
    )
    executed, execution = execute(nb, assignment, student, verifier, notebook=("toy.ipynb", b'{"cells": []}'))
    assert execution.status == "finished"
    assert (
        executed.cells[-1].outputs[0]["text"]
        == "['.home', 'data', 'scores.csv', 'toy.ipynb'] 0.5 {\"cells\": []}\n"
    )


@pytest.mark.parametrize("broken", ["student", "verifier"])
def test_a_sandbox_that_cannot_start_fails_the_submission_with_the_reason_never_a_zero(toy, broken):
    from autograder.collect import Submission
    from autograder.pipeline import grade_submission
    from autograder.results import Status

    def start_runner(role: str) -> sandbox.Runner:
        preload = ("numpy", "no_such_module_for_the_test") if role == broken else ("numpy",)
        return sandbox.start(limits=sandbox.Limits(cell_timeout=5.0), preload=preload, role=role)

    sub = Submission(student_id="s1", notebook=SUBMISSIONS / "correct.ipynb")
    graded = grade_submission(sub, toy, start_runner=start_runner)
    assert graded.result.status == Status.FAILED and graded.result.cells == ()  # no score, no zero
    assert graded.result.reason.startswith("grading failed: ")
    assert "did not start" in graded.result.reason or "exited" in graded.result.reason
    assert "No module named 'no_such_module_for_the_test'" in graded.result.reason


def _without_grading_metadata(toy, grade_ids: set[str]) -> nbformat.NotebookNode:
    nb = _read(toy, "correct")
    for cell in nb.cells:
        if nb_meta(cell).get("grade_id") in grade_ids:
            del cell.metadata["nbgrader"]
    return nb


def test_an_answer_pasted_into_a_fresh_notebook_is_found_by_its_content(toy):
    """Is an answer cell that lost its nbgrader metadata graded where it belongs, with a note?"""
    restored, notes = restore(_without_grading_metadata(toy, {"square"}), toy)
    square = next(c for c in restored.cells if nb_meta(c).get("grade_id") == "square")
    assert "return x * x" in square.source and "NotImplementedError" not in square.source
    assert sum("return x * x" in c.source for c in restored.cells) == 1  # moved, not duplicated
    assert any("answer cell 'square' had lost its grading information" in n for n in notes)


def test_an_ambiguous_answer_is_not_guessed_and_the_note_says_what_to_do(toy):
    nb = _without_grading_metadata(toy, {"square"})
    loose = next(c for c in nb.cells if "return x * x" in c.source and not nb_meta(c))
    nb.cells.append(nbformat.v4.new_code_cell(loose.source.replace("x * x", "x ** 2")))
    restored, notes = restore(nb, toy)
    square = next(c for c in restored.cells if nb_meta(c).get("grade_id") == "square")
    assert "NotImplementedError" in square.source
    assert any("answer cell 'square' was missing" in n and "submit again" in n for n in notes)


def test_line_endings_and_trailing_spaces_are_not_an_edit(toy):
    nb = _read(toy, "correct")
    for cell in nb.cells:
        if nb_meta(cell).get("grade_id") == "square-test":
            cell.source = cell.source.replace("\n", "  \r\n") + "\r\n"
    _restored, notes = restore(nb, toy)
    assert not any("edited" in n for n in notes), notes


def test_shell_escapes_work_in_the_sandbox():
    """Do ``!cmd``, ``x = !cmd``, ``%%bash`` and ``subprocess`` work without a terminal?"""
    cells = [
        (0, "!echo bang-works && ls /nonexistent-dir"),
        (1, "listed = !echo one; echo two\nprint(list(listed), _exit_code)"),
        (2, "%%bash\necho bash-works\n"),
        (
            3,
            "import subprocess\n"
            "print(subprocess.run(['echo', 'subprocess-works'], capture_output=True, text=True).stdout)",
        ),
        (4, "print('after')"),
    ]
    execution = sandbox.start(limits=sandbox.Limits()).run(cells)
    text = {i: "".join(o.get("text", "") for o in outs) for i, outs in execution.outputs.items()}
    assert execution.status == "finished"
    assert "bang-works" in text[0] and "No such file or directory" in text[0]
    assert "['one', 'two']" in text[1]
    assert "bash-works" in text[2] and "subprocess-works" in text[3] and text[4] == "after\n"
    assert not any(o.get("output_type") == "error" for outs in execution.outputs.values() for o in outs)


@pytest.mark.parametrize(
    "garbage",
    [b"[" * 200_000 + b"\n", b'{"event": "done", "index": 0, "outputs": ' + b"9" * 5000 + b"}\n"],
    ids=["nested-200000", "5000-digit-integer"],
)
def test_garbage_on_the_result_pipe_is_the_notebooks_fault(garbage):
    """Is garbage written on the result channel a stopped notebook (it scores what it earned), not a crash?"""
    write = (
        "import os\nfor fd in range(3, 256):\n    try:\n"
        "        if os.readlink(f'/proc/self/fd/{fd}').startswith('pipe:'):\n"
        f"            os.write(fd, {garbage!r})\n    except OSError:\n        pass\n"
    )
    execution = sandbox.start(limits=sandbox.Limits()).run(
        [(0, "print('kept')"), (1, write), (2, "print(2)")]
    )
    assert execution.status == "died" and "unreadable on the grader's result channel" in execution.detail
    assert execution.outputs[0][0]["text"] == "kept\n" and execution.stopped_at == 1


def test_students_whose_ids_would_collide_or_not_fit_a_file_name_keep_their_own_rows(tmp_path):
    """Undecodable bytes and a folder really named like their escape, and a 250-character name."""
    from autograder.api import file_name

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


def test_notebooks_see_nbgrader_execution_as_nbgrader_sets_it(toy):
    """Both the student's process and the verifier see NBGRADER_EXECUTION=autograde (nbgrader's FAQ)."""
    cells = [sandbox.Cell(0, "import os\nprint(os.environ.get('NBGRADER_EXECUTION'))")]
    check = "import os\nassert os.environ['NBGRADER_EXECUTION'] == 'autograde'"
    cells.append(sandbox.Cell(1, check, test=True))
    lim = sandbox.Limits(cell_timeout=5.0, submission_timeout=20.0)
    student, verifier = (sandbox.start(limits=lim, role=r) for r in ("student", "verifier"))
    execution = sandbox.run_notebook(student, cells, verifier=verifier)
    assert execution.outputs[0][0]["text"] == "autograde\n"
    assert not [o for o in execution.outputs[1] if o.get("output_type") == "error"]


def test_test_cells_open_the_assignments_files_as_the_notebook_does():
    """A test that reads a data file finds it in the verifier's working folder (nbgrader's behaviour)."""
    cells = [
        sandbox.Cell(0, "print(open('data/weights.txt').read())"),
        sandbox.Cell(
            1, "assert open('data/weights.txt').read() == '0.5'\nprint(sorted(os.listdir('.')))", test=True
        ),
    ]
    lim = sandbox.Limits(cell_timeout=5.0, submission_timeout=20.0)
    student, verifier = (sandbox.start(limits=lim, role=r) for r in ("student", "verifier"))
    files = {"data/weights.txt": b"0.5"}
    execution = sandbox.run_notebook(
        student,
        cells,
        verifier=verifier,
        prelude="import os",
        files={**files, "toy.ipynb": b"{}"},
        test_files=files,
    )
    assert execution.status == "finished", execution.detail
    assert execution.outputs[0][0]["text"] == "0.5\n"
    assert execution.outputs[1] == [
        {"output_type": "stream", "name": "stdout", "text": "['.home', 'data']\n"}
    ]


def test_a_tests_del_and_rebinding_of_a_students_name_reach_the_students_code():
    """As in nbgrader's single kernel: ``del squares`` makes the student's ``total`` raise NameError,
    binding data or an imported function and changing a list in place are seen by the student's code,
    and a function the test defines (which cannot travel) makes the student's code that uses the name
    fail saying the autograder cannot honour it."""
    student_code = "def squares(n):\n    return [i * i for i in range(n)]\n\nscale = 1\n\n"
    student_code += "def total(n):\n    return scale * sum(squares(n))\n\nfrom math import floor as rounder\n"
    student_code += "weights = [1]\n\ndef weighted():\n    return sum(weights)"
    deleted = (
        "kept = squares\ndel squares\ntry:\n    total(3)\nexcept NameError:\n    pass\n"
        "else:\n    raise AssertionError('total does not use squares')\nfinally:\n    squares = kept"
    )
    rebound = "assert total(3) == 5\nscale = 10\nassert total(3) == 50\nfrom math import ceil as rounder"
    rebound += "\nweights.append(2)\nassert weighted() == 3"
    cells = [
        sandbox.Cell(0, student_code),
        sandbox.Cell(1, deleted, test=True),
        sandbox.Cell(2, rebound, test=True),
        sandbox.Cell(3, "print(total(3), rounder(0.5), weights)"),
        sandbox.Cell(
            4,
            "def squares(n):\n    return []\n\ntry:\n    total(2)\nexcept Exception as e:\n    print(e)",
            test=True,
        ),
        sandbox.Cell(5, "total(2)"),
    ]
    lim = sandbox.Limits(cell_timeout=10.0, submission_timeout=40.0)
    student, verifier = (sandbox.start(limits=lim, role=r) for r in ("student", "verifier"))
    execution = sandbox.run_notebook(student, cells, verifier=verifier)
    assert execution.status == "finished", execution.detail
    errors = {i: [o for o in execution.outputs[i] if o["output_type"] == "error"] for i in (1, 2, 4, 5)}
    assert errors[1] == errors[2] == errors[4] == []
    assert execution.outputs[3][0]["text"] == "50 1 [1, 2]\n"  # the student's code sees the test's changes
    # The test's own squares cannot travel: the student's code that looks it up fails saying why.
    assert "the autograder cannot honour this test" in execution.outputs[4][0]["text"]
    (refused,) = errors[5]
    assert refused["ename"] == "Unhonoured" and "'squares'" in refused["evalue"]
