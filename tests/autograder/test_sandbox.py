"""Does a sandboxed process stay within its limits, die whole, say how it ended, and see what a notebook
should see (a private home, shell escapes, nbgrader's environment, the assignment's files, its tests'
changes to its names)?
"""

from __future__ import annotations

import time

import pytest

from autograder import api, sandbox
from autograder.sandbox import Limits


def test_the_whole_process_group_is_killed(tmp_path, start):
    marker = tmp_path / "child-alive"
    late_touch = f"import time, pathlib; time.sleep(3); pathlib.Path({str(marker)!r}).touch()"
    child = f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {late_touch!r}])"
    runner = start(limits=sandbox.Limits(cell_timeout=1.0, submission_timeout=5.0))
    execution = runner.run([(0, child), (1, "while True: pass")])
    assert execution.status == "cell-timeout"
    time.sleep(3.5)
    assert not marker.exists(), "a child of the notebook survived the kill"


def test_a_submission_limit_stops_many_slow_cells(start):
    runner = start(limits=sandbox.Limits(cell_timeout=5.0, submission_timeout=2.0))
    execution = runner.run([(i, "import time; time.sleep(0.9)") for i in range(5)])
    assert execution.status == "submission-timeout" and len(execution.outputs) == 2


def test_a_process_that_exits_is_reported(start):
    execution = start(limits=sandbox.Limits()).run([(0, "print(1)"), (1, "import os; os._exit(3)")])
    assert execution.status == "died" and "exited with code 3" in execution.detail
    assert execution.outputs[0][0]["text"] == "1\n"


def test_the_sandbox_has_a_private_home_and_an_empty_folder(start):
    source = "import os; print(os.environ['HOME'].startswith(os.getcwd()), sorted(os.listdir('.')))"
    execution = start(limits=sandbox.Limits()).run([(0, source)])
    assert execution.outputs[0][0]["text"] == "True ['.home']\n"  # the grader's log stays outside


def test_shell_escapes_work_in_the_sandbox(start):
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
    execution = start(limits=sandbox.Limits()).run(cells)
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
def test_garbage_on_the_result_pipe_is_the_notebooks_fault(garbage, start):
    """Is garbage written on the result channel a stopped notebook (it scores what it earned), not a crash?"""
    write = (
        "import os\nfor fd in range(3, 256):\n    try:\n"
        "        if os.readlink(f'/proc/self/fd/{fd}').startswith('pipe:'):\n"
        f"            os.write(fd, {garbage!r})\n    except OSError:\n        pass\n"
    )
    execution = start(limits=sandbox.Limits()).run([(0, "print('kept')"), (1, write), (2, "print(2)")])
    assert execution.status == "died" and "unreadable on the grader's result channel" in execution.detail
    assert execution.outputs[0][0]["text"] == "kept\n" and execution.stopped_at == 1


def test_notebooks_see_nbgrader_execution_as_nbgrader_sets_it(toy, start):
    """Both the student's process and the verifier see NBGRADER_EXECUTION=autograde (nbgrader's FAQ)."""
    cells = [sandbox.Cell(0, "import os\nprint(os.environ.get('NBGRADER_EXECUTION'))")]
    check = "import os\nassert os.environ['NBGRADER_EXECUTION'] == 'autograde'"
    cells.append(sandbox.Cell(1, check, test=True))
    lim = sandbox.Limits(cell_timeout=5.0, submission_timeout=20.0)
    student, verifier = (start(limits=lim, role=r) for r in ("student", "verifier"))
    execution = sandbox.run_notebook(student, cells, verifier=verifier)
    assert execution.outputs[0][0]["text"] == "autograde\n"
    assert not [o for o in execution.outputs[1] if o.get("output_type") == "error"]


def test_test_cells_open_the_assignments_files_as_the_notebook_does(start):
    """A test that reads a data file finds it in the verifier's working folder (nbgrader's behaviour)."""
    cells = [
        sandbox.Cell(0, "print(open('data/weights.txt').read())"),
        sandbox.Cell(
            1, "assert open('data/weights.txt').read() == '0.5'\nprint(sorted(os.listdir('.')))", test=True
        ),
    ]
    lim = sandbox.Limits(cell_timeout=5.0, submission_timeout=20.0)
    student, verifier = (start(limits=lim, role=r) for r in ("student", "verifier"))
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


def test_a_tests_del_and_rebinding_of_a_students_name_reach_the_students_code(start):
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
    student, verifier = (start(limits=lim, role=r) for r in ("student", "verifier"))
    execution = sandbox.run_notebook(student, cells, verifier=verifier)
    assert execution.status == "finished", execution.detail
    errors = {i: [o for o in execution.outputs[i] if o["output_type"] == "error"] for i in (1, 2, 4, 5)}
    assert errors[1] == errors[2] == errors[4] == []
    assert execution.outputs[3][0]["text"] == "50 1 [1, 2]\n"  # the student's code sees the test's changes
    # The test's own squares cannot travel: the student's code that looks it up fails saying why.
    assert "the autograder cannot honour this test" in execution.outputs[4][0]["text"]
    (refused,) = errors[5]
    assert refused["ename"] == "Unhonoured" and "'squares'" in refused["evalue"]


def test_a_sandbox_sizes_its_thread_pools_to_its_share_of_the_cores(monkeypatch, start):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    isolation = sandbox.Isolation("strict", sandbox.default_expose())
    runner = start(limits=Limits(), isolation=isolation, threads=1, preload=())
    source = f"import os; print([os.environ.get(n) for n in {sandbox.THREAD_VARIABLES!r}])"
    execution = runner.run([(0, source)])
    assert execution.status == "finished", execution.detail
    assert execution.outputs[0][0]["text"].strip() == str(["1"] * len(sandbox.THREAD_VARIABLES))
    assert api.thread_budget(1) >= api.thread_budget(2) >= 1
