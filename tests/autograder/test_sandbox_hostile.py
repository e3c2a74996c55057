"""Can a hostile notebook forge its grade, reach instructor data, hurt the grader or leave anything behind?

One batch grades every ``tests/fixtures/hostile/<class>-<scenario>.ipynb`` next to a correct and a blank
submission of the toy assignment, with the installed command at ``--workers 2`` and the default strict
sandbox. Meanwhile this test serves the solution code on 127.0.0.1, so a notebook that can connect would
score. Each hostile notebook must score exactly what the blank one scores, the correct one full marks,
and afterwards no planted file, changed file or live process may remain. ``kernel-surface-*`` notebooks
also print what each system call the sandbox's filter refuses answered, read back from ``autograded/``.
"""

from __future__ import annotations

import ast
import csv
import errno
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import site
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import nbformat
import pytest
from conftest import TOY, TOY_FIXTURES, toy_students

from autograder import api, sandbox
from autograder.errors import UsageError
from autograder.sandbox import syscalls

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "fixtures" / "hostile"
SCENARIOS = sorted(p.stem for p in HOSTILE.glob("*.ipynb"))
FORGERIES = sorted(p.stem for p in HOSTILE.glob("verdict-*.ipynb"))
MARKER = "autograder-hostile"
LIMITS = """\
[limits]
cell_timeout = 4
submission_timeout = 40
memory_gb = 2
disk_mb = 64
max_processes = 128
"""


def _load_build():
    spec = importlib.util.spec_from_file_location("hostile_build", HOSTILE / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file()}  # fmt: skip


def _planted_files() -> list[Path]:
    """Files an attack would have planted, wherever this process can see them."""
    folders = {*site.getsitepackages(), site.getusersitepackages(), str(ROOT), str(Path.home()), "/tmp"}
    found = []
    for folder in map(Path, folders):
        candidates = [
            *folder.glob(f"*{MARKER}*"),
            *folder.glob(".ipython/profile_default/startup/*"),
            *(folder / name for name in ("sitecustomize.py", "usercustomize.py")),
        ]
        found += [p for p in candidates if p.is_file() and MARKER in p.read_text(errors="replace")]
        found += [p for p in folder.glob(f"*{MARKER}-fill-*")]
    return found


def _hostile_processes() -> list[str]:
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if MARKER in command and "pytest" not in command:
                alive.append(f"{entry.name}: {command}")
    return alive


class _SolutionServer:
    """Serves the correct answers on 127.0.0.1 and counts who connected."""

    def __init__(self, port: int, payload: str) -> None:
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self.listener.settimeout(0.5)
        self.payload = payload.encode()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with connection:
                connection.sendall(self.payload)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.listener.close()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    build = _load_build()
    toy = build._toy_build()
    source = tmp_path_factory.mktemp("source") / "toy"
    shutil.copytree(TOY, source)
    (source / "autograder.toml").write_text(LIMITS)
    subs = tmp_path_factory.mktemp("hostile-subs")
    for scenario in SCENARIOS:
        (subs / scenario).mkdir()
        shutil.copyfile(HOSTILE / f"{scenario}.ipynb", subs / scenario / "toy.ipynb")
    toy_students(subs, ("correct", "untouched"))
    before = _digest(subs)
    server = _SolutionServer(build.PORT, "\n\n".join(toy.CORRECT[k] for k in ("square", "softmax")))
    out = tmp_path_factory.mktemp("hostile-graded") / "out"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "autograder", "grade", str(source), str(subs), "--out", str(out),
             "--workers", "2"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        server.close()
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        grades = {row["student_id"]: row for row in csv.DictReader(handle)}
    yield {"done": done, "grades": grades, "server": server, "subs": subs, "before": before, "out": out}
    for path in _planted_files():  # only ever non-empty if an attack succeeded (and a test failed)
        path.unlink()


def test_fixtures_are_what_the_factory_builds():
    assert _load_build().build(check=True) == [], "run: python tests/fixtures/hostile/build.py"


@pytest.mark.slow
def test_every_hostile_notebook_scores_exactly_what_a_blank_one_scores(batch):
    grades = batch["grades"]
    assert batch["done"].returncode == 0, batch["done"].stderr
    assert grades["correct"]["score"] == "5" and grades["correct"]["status"] == "graded"
    blank = grades["untouched"]["score"]
    assert blank == "0"
    scores = {scenario: (grades[scenario]["status"], grades[scenario]["score"]) for scenario in SCENARIOS}
    assert scores == dict.fromkeys(SCENARIOS, ("graded", blank))
    assert {grades[scenario]["max_score"] for scenario in SCENARIOS} == {"5"}  # no points added by edits


@pytest.mark.parametrize("scenario", [f for f in FORGERIES if f != "verdict-forged-messages"])
def test_each_forgery_would_pass_every_test_if_tests_ran_in_the_students_process(scenario, toy):
    """The forgeries are real: run the test cells in the student's own process and each earns full marks.

    (The batch above shows that with the verifier the same notebooks score what a blank one scores.
    ``verdict-forged-messages`` is left out: the result channel's protocol refuses it on its own.)
    """
    from autograder.steps.read import read_notebook
    from autograder.steps.restore import restore
    from autograder.steps.score import score

    restored, _ = restore(read_notebook(HOSTILE / f"{scenario}.ipynb", max_bytes=10**7)[0], toy)
    code = [(i, c.source) for i, c in enumerate(restored.cells) if c.cell_type == "code"]
    isolation = sandbox.Isolation("strict", sandbox.default_expose())
    runner = sandbox.start(limits=sandbox.Limits(cell_timeout=10), preload=("numpy",), isolation=isolation)
    execution = runner.run(code)  # every cell, tests included, in one student process: the naive design
    for index, outputs in execution.outputs.items():
        restored.cells[index].outputs = [nbformat.from_dict(o) for o in outputs]
    verdicts = {c.grade_id: c.points for c in score(restored, toy, execution) if not c.manual}
    assert verdicts == {"square-test": 2.0, "softmax-test": 3.0}


def _printed_json(out: Path, student: str) -> dict[str, dict]:
    """The JSON lines the attack cell of ``student``'s executed notebook printed, by their ``call``."""
    notebook = nbformat.read(out / "autograded" / student / "toy" / "toy.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if c.get("id") == "attack")
    text = "".join(
        o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout"
    )
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return {line["call"]: line for line in lines}


@pytest.mark.slow
def test_every_system_call_the_filter_refuses_answers_eperm_in_the_notebook_and_in_its_child(batch):
    """Does each refused kernel interface answer EPERM to the notebook's process and to a child it forked?"""
    if platform.machine() != "x86_64":
        pytest.skip("the kernel-surface fixture calls system calls by their x86_64 numbers")
    import pyseccomp

    calls = _load_build().KERNEL_SURFACE_CALLS
    on_this_machine = {n for n in syscalls.DENIED if pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, n) >= 0}
    assert on_this_machine <= set(calls), "the fixture must try every call the filter refuses"
    printed = _printed_json(batch["out"], "kernel-surface-syscalls")
    answers = {
        name: (printed.get(name, {}).get("parent"), printed.get(name, {}).get("child")) for name in calls
    }
    expected = {name: (errno.EPERM, errno.EPERM) for name in calls}
    expected["clone3"] = (errno.ENOSYS, errno.ENOSYS)  # so that the C library falls back to clone
    expected["clone(CLONE_SIGHAND)"] = (errno.EINVAL, errno.EINVAL)  # no namespace flag: the kernel answers
    assert {n: a for n, a in answers.items() if a != expected[n]} == {}
    python = printed["os.unshare(CLONE_NEWUSER)"]
    assert (python["parent"], python["child"]) == ("PermissionError", "PermissionError")
    command = printed["unshare -U -r id -u"]
    assert command["returncode"] != 0 and "Operation not permitted" in command["stderr"]
    status = printed["/proc/self/status"]
    assert (status["Seccomp"], status["NoNewPrivs"]) == ("2", "1")  # a filter, and it cannot be lifted


FILTERED = """\
import ctypes, subprocess
fields = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
libc = ctypes.CDLL(None, use_errno=True)
refused = libc.unshare(0x10000000) == -1 and ctypes.get_errno() == 1  # CLONE_NEWUSER: EPERM
command = subprocess.run(["unshare", "-U", "-r", "true"], capture_output=True).returncode
print(fields["Seccomp"].strip(), fields["NoNewPrivs"].strip(), refused, command != 0)
"""


def _filtered(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream").strip()


def _run_filtered(mode: str, start) -> str:
    """What :data:`FILTERED` prints in a sandbox of ``mode``: Seccomp, NoNewPrivs and the two refusals."""
    isolation = sandbox.Isolation(mode, sandbox.default_expose())
    runner = start(limits=sandbox.Limits(cell_timeout=20), isolation=isolation)
    return _filtered(runner.run([(0, FILTERED)]).outputs[0])


def test_the_students_and_the_verifiers_processes_both_run_under_the_filter(start):
    isolation = sandbox.Isolation("strict", sandbox.default_expose())
    limits = sandbox.Limits(cell_timeout=20)
    student = start(limits=limits, isolation=isolation)
    verifier = start(limits=limits, isolation=isolation, role="verifier")
    cells = [sandbox.Cell(0, FILTERED), sandbox.Cell(1, FILTERED, test=True)]
    execution = sandbox.run_notebook(student, cells, verifier=verifier)
    assert execution.status == "finished", execution.detail
    assert [_filtered(execution.outputs[i]) for i in (0, 1)] == ["2 1 True True"] * 2


ORDINARY_WORK = """\
%matplotlib inline
import concurrent.futures, multiprocessing, subprocess
import matplotlib.pyplot as plt
import numpy as np
%time total = float(np.linalg.inv(np.eye(50)).sum())
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    threads = sum(pool.map(abs, [-1, -2, -3]))
with multiprocessing.get_context("fork").Pool(2) as pool:
    forked = sum(pool.map(abs, [-1, -2]))
echoed = !echo shell
plt.plot([0, 1], [1, 0])
plt.show()
print(total, threads, forked, echoed[0], subprocess.run(["true"]).returncode)
"""


def test_what_homework_code_does_still_works_under_the_filter(start):
    """Threads, forked workers, magics, shell escapes, subprocesses and plots: the filter refuses none."""
    isolation = sandbox.Isolation("strict", sandbox.default_expose())
    execution = start(limits=sandbox.Limits(cell_timeout=60), isolation=isolation).run([(0, ORDINARY_WORK)])
    outputs = execution.outputs[0]
    assert [o["output_type"] for o in outputs if o["output_type"] == "error"] == [], outputs
    assert "50.0 6 3 shell 0" in _filtered(outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_the_filter_also_holds_in_a_user_namespace_sandbox(monkeypatch, start):
    """Grading as an ordinary user: the notebook is root of its own user namespace, and still filtered."""
    flags = sandbox.unshare_flags(as_root=False)
    command = ["unshare", *flags, sys.executable, "-I", "-S", str(sandbox.ENTER)]
    monkeypatch.setattr(sandbox.isolation, "probe", lambda: (command, ""))
    assert _run_filtered("strict", start) == "2 1 True True"


def test_warn_mode_without_namespaces_still_filters_system_calls(monkeypatch, capfd, start):
    monkeypatch.setattr(sandbox.isolation, "probe", lambda: (None, "no user namespaces"))
    assert _run_filtered("warn", start) == "2 1 True True"
    err = capfd.readouterr().err
    assert "WITHOUT a sandbox" in err and "WITHOUT the system-call filter" not in err


def test_without_libseccomp_strict_mode_refuses_and_warn_mode_says_so(monkeypatch, tmp_path, capfd, start):
    monkeypatch.setattr(sandbox.isolation, "BINDING", "no_such_seccomp_binding")
    why = sandbox.probe_filter.__wrapped__()  # the real probe, not its cached answer
    assert why == (None, "the Python package no_such_seccomp_binding is not installed")
    monkeypatch.setattr(sandbox.isolation, "probe_filter", lambda: why)
    with pytest.raises(UsageError, match="cannot filter student code's system calls: the Python") as info:
        api.grade(TOY, tmp_path, out=tmp_path / "out")
    assert "apt install libseccomp2" in str(info.value) and "pip install -r requirements" in str(info.value)
    assert not (tmp_path / "out").exists()
    assert _run_filtered("warn", start).split()[0] == "0"  # namespaces, but no filter
    err = capfd.readouterr().err
    assert "WITHOUT the system-call filter (the Python package no_such_seccomp_binding is not" in err


def test_the_benchmark_switch_never_turns_the_filter_off_silently(monkeypatch, capfd, start):
    monkeypatch.setenv(sandbox.UNFILTERED_BENCHMARK, "1")
    assert _run_filtered("strict", start).split()[0] == "0"
    assert f"WITHOUT the system-call filter ({sandbox.UNFILTERED_BENCHMARK} is set)" in capfd.readouterr().err


@pytest.mark.slow
def test_time_and_crash_limits_are_reported_as_reasons(batch):
    grades = batch["grades"]
    assert "a cell exceeded the 4 s limit per cell" in grades["resources-fork-bomb"]["reason"]
    assert "a cell exceeded the 4 s limit per cell" in grades["resources-sleep-forever"]["reason"]
    assert "killed by SIGKILL" in grades["process-kill-grader"]["reason"]
    flood = grades["resources-result-flood"]["reason"]
    assert "wrote something unreadable on the grader's result channel" in flood


@pytest.mark.slow
def test_no_connection_reached_the_loopback_server(batch):
    assert batch["server"].connections == 0


@pytest.mark.slow
def test_no_submission_or_result_was_changed_and_nothing_was_planted(batch):
    assert _digest(batch["subs"]) == batch["before"]
    assert _planted_files() == []
    results = (batch["out"] / "results.json").read_text()
    assert (
        MARKER not in results
        and "autograder-hostile was here" not in (batch["out"] / "grades.csv").read_text()
    )


@pytest.mark.slow
def test_no_process_outlives_its_grading(batch):
    assert _hostile_processes() == []


def test_strict_mode_refuses_where_namespaces_are_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(
        sandbox.isolation, "probe", lambda: (None, "unshare: unshare failed: Operation not permitted")
    )
    with pytest.raises(UsageError, match="cannot isolate student code: unshare"):
        api.grade(TOY, tmp_path, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_warn_mode_grades_without_namespaces_and_says_so(monkeypatch, tmp_path, capfd):
    monkeypatch.setattr(sandbox.isolation, "probe", lambda: (None, "no user namespaces"))
    toy_students(tmp_path / "subs", ("correct",))
    report = api.grade(TOY, tmp_path / "subs", out=tmp_path / "out", sandbox_mode="warn")
    assert report.results[0].total == 5
    assert "WARNING: autograder: student code runs WITHOUT a sandbox (no namespaces: no user namespaces)" in (
        capfd.readouterr().err
    )


def test_a_sandboxed_process_sees_no_network_and_no_host_files(start):
    isolation = sandbox.Isolation("strict", sandbox.default_expose())
    runner = start(limits=sandbox.Limits(cell_timeout=10), isolation=isolation)
    source = (
        "import os, socket\n"
        f"print(sorted(os.listdir({str(ROOT)!r})))\n"
        "print(sorted(i[1] for i in socket.if_nameindex()), os.getuid() == 0)\n"
        "print(sorted(os.listdir('/tmp')), os.path.basename(os.getcwd()))"
    )
    execution = runner.run([(0, source)])
    visible, network, tmp = execution.outputs[0][0]["text"].splitlines()
    assert set(ast.literal_eval(visible)) <= {".venv", "dlcourse"}  # only what Python and dlcourse need
    assert network == f"['lo'] {os.geteuid() != 0}"  # as root, the notebook runs as an unprivileged uid
    # /tmp is fresh: the working folder, plus the way to exposed paths under /tmp (a checkout there).
    listing, workdir = tmp.rsplit(" ", 1)
    under_tmp = {Path(p).parts[2] for p in (*isolation.expose, sys.prefix) if Path(p).parts[1:2] == ("tmp",)}
    assert set(ast.literal_eval(listing)) == {workdir, *under_tmp}


def test_a_path_exposed_under_tmp_is_readable_and_read_only(start):
    """A checkout (and its virtualenv) under /tmp must stay visible above the sandbox's fresh /tmp."""
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="exposed-") as folder:
        (Path(folder) / "data.txt").write_text("visible")
        os.chmod(folder, 0o755)
        os.chmod(Path(folder) / "data.txt", 0o644)
        isolation = sandbox.Isolation("strict", (*sandbox.default_expose(), folder))
        runner = start(limits=sandbox.Limits(cell_timeout=10), isolation=isolation)
        source = (
            f"print(open({folder + '/data.txt'!r}).read())\n"
            f"try:\n    open({folder + '/new.txt'!r}, 'w')\nexcept OSError as e:\n    print(type(e).__name__)"
        )
        stream = runner.run([(0, source)]).outputs[0][0]
        assert stream["text"].split() == ["visible", "OSError"]
        assert not (Path(folder) / "new.txt").exists()


def test_the_data_folder_is_readable_by_the_name_it_is_given_even_through_a_symlink(monkeypatch, start):
    """CI may reach the course data through a symlinked folder; the notebook uses DLCOURSE_DATA as named."""
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="real-data-") as real:
        os.chmod(real, 0o755)
        (Path(real) / "data").mkdir(mode=0o755)
        (Path(real) / "data" / "mnist.txt").write_text("digits")
        os.chmod(Path(real) / "data" / "mnist.txt", 0o644)
        link = Path(real + "-link")
        link.symlink_to(real)
        try:
            monkeypatch.setenv("DLCOURSE_DATA", f"{link}/data")
            isolation = sandbox.Isolation("strict", sandbox.default_expose())
            runner = start(limits=sandbox.Limits(cell_timeout=10), isolation=isolation)
            stream = runner.run([(0, f"print(open({str(link)!r} + '/data/mnist.txt').read())")]).outputs[0][0]
            assert stream["text"].strip() == "digits"
        finally:
            link.unlink()


def test_the_user_namespace_flavour_a_laptop_gets_is_as_tight(monkeypatch, start):
    """Without root the notebook is uid 0 of its own user namespace, with no capabilities at all."""
    command = [
        "unshare",
        *sandbox.unshare_flags(as_root=False),
        sys.executable,
        "-I",
        "-S",
        str(sandbox.ENTER),
    ]
    monkeypatch.setattr(sandbox.isolation, "probe", lambda: (command, ""))
    isolation = sandbox.Isolation("strict", sandbox.default_expose())
    venv = Path(sys.prefix)
    source = (
        "import os, socket, subprocess\n"
        "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
        f"print(subprocess.run(['mount', '-o', 'remount,rw,bind', {str(venv)!r}]).returncode != 0)\n"
        f"print(os.path.exists({str(ROOT / 'solutions')!r}), os.path.exists({str(ROOT / 'tests')!r}))\n"
        "socket.create_connection(('127.0.0.1', 9), timeout=1)"
    )
    execution = start(limits=sandbox.Limits(cell_timeout=10), isolation=isolation).run([(0, source)])
    stream, error = execution.outputs[0]
    assert stream["text"].splitlines()[0] == "0000000000000000"  # no capability, not even in its namespace
    assert stream["text"].splitlines()[-2:] == ["True", "False False"]
    assert (error["ename"], error["evalue"]) == ("OSError", "[Errno 101] Network is unreachable")


AS_USER = [  # what an instructor's laptop run can defend against without root (no network server needed)
    "fs-read-solutions", "fs-write-gradebook", "fs-plant-files", "process-kill-grader", "process-daemons",
    "edit-more-points", "verdict-patched-comparisons", "verdict-forged-messages", "kernel-surface-syscalls",
]  # fmt: skip


# Run as root in a private mount namespace: covers each folder FOLDERS names (one other users may not
# enter) with a tmpfs of mode 755 holding bind mounts of its entries, then runs COMMAND. Same paths, same
# files, now reachable; nothing changes outside the namespace, which ends with COMMAND.
REACHABLE = """
import json, os, subprocess, sys, tempfile
folders, staging, command = json.loads(sys.argv[1])
for folder in folders:
    stage = tempfile.mkdtemp(dir=staging)
    subprocess.run(["mount", "--bind", folder, stage], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "reachable", folder], check=True)
    for name in os.listdir(stage):
        source, target = os.path.join(stage, name), os.path.join(folder, name)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
            continue
        os.mkdir(target) if os.path.isdir(source) else open(target, "x").close()
        subprocess.run(["mount", "--bind", source, target], check=True)
os.execvp(command[0], command)
"""


def _where_any_user_reaches_this_install(command: list[str], staging: Path) -> list[str]:
    """``command`` run where every user can reach this checkout and its Python, at their own paths.

    A clone or interpreter under a folder only its owner may enter (mode 700: CI's ``/root``, a private
    work folder) is out of reach of any other user, whatever the grader does; on a laptop the user owns
    both. Each such folder on the way is made traversable in a private mount namespace (``REACHABLE``).
    """
    needed = [ROOT, Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent]
    closed = sorted(
        {
            folder
            for path in needed
            for folder in (path, *path.parents)
            if not folder.stat().st_mode & stat.S_IXOTH
        },
        key=lambda folder: len(folder.parts),
    )
    if not closed:
        return command
    staging.mkdir(mode=0o700, exist_ok=True)
    arguments = json.dumps([[str(f) for f in closed], str(staging), command])
    unshare = ["unshare", "--mount", "--propagation", "private"]
    return [*unshare, sys.executable, "-I", "-c", REACHABLE, arguments]


@pytest.mark.slow
def test_an_ordinary_user_gets_the_same_grades_through_a_user_namespace():
    """Grade as uid 65534 (an ordinary user, no root anywhere), the way an instructor's laptop runs.

    Where the kernel allows unprivileged user namespaces (this machine does) the grades are those of the
    root batch; where it does not, strict mode refuses with the reason. Either way nothing is graded
    unsandboxed. The user can read the checkout and its Python wherever this suite runs from (see
    :func:`_where_any_user_reaches_this_install`), as a laptop's user reads their own.
    """
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    work = Path(tempfile.mkdtemp(prefix="autograder-as-user-"))
    try:
        work.chmod(0o777)
        source = work / "toy"
        shutil.copytree(TOY, source)
        (source / "autograder.toml").write_text(LIMITS)
        subs = work / "subs"
        for scenario in AS_USER:
            (subs / scenario).mkdir(parents=True)
            shutil.copyfile(HOSTILE / f"{scenario}.ipynb", subs / scenario / "toy.ipynb")
        toy_students(subs, ("correct", "untouched"))
        (work / "home").mkdir()
        for path in (work, *work.rglob("*")):
            os.chown(path, 65534, 65534)
        env = {**os.environ, "HOME": str(work / "home")}
        staging = work / "staging"  # root's, made after the chown

        def as_nobody(*args: str) -> list[str]:
            return _where_any_user_reaches_this_install([*nobody, *args], staging)

        reach = subprocess.run(
            as_nobody(sys.executable, "-c", "import autograder"), cwd=work, env=env, capture_output=True,
            text=True, check=False,
        )  # fmt: skip
        assert reach.returncode == 0, f"user 65534 cannot import the grader: {reach.stderr}"
        done = subprocess.run(
            as_nobody(sys.executable, "-m", "autograder", "grade", str(source), str(subs), "--out",
                      str(work / "out"), "--workers", "2"),
            cwd=work, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        # Refusing is right only where this user may not make a user namespace at all (the kernel's
        # choice): then, as without user namespaces, strict mode must refuse with the reason.
        probe = as_nobody("unshare", "--user", "--map-root-user", sys.executable, "-c", "import autograder")
        if subprocess.run(probe, cwd=work, env=env, capture_output=True, check=False).returncode != 0:
            assert done.returncode == 2 and "cannot isolate student code" in done.stderr, done.stderr
            assert not (work / "out" / "grades.csv").exists()
            return
        assert done.returncode == 0, done.stderr
        with open(work / "out" / "grades.csv", newline="", encoding="utf-8") as handle:
            grades = {row["student_id"]: row["score"] for row in csv.DictReader(handle)}
        assert grades == {**dict.fromkeys(AS_USER, "0"), "correct": "5", "untouched": "0"}
        assert _planted_files() == [] and _hostile_processes() == []
    finally:
        shutil.rmtree(work, ignore_errors=True)


FORKING_MEMORY_BOMB = """\
import os, time
children = []
for _ in range(3):  # 3 x 600 MB, each child under the 1 GB per-process limit
    pid = os.fork()
    if pid == 0:
        block = bytearray(600 * 1024**2)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(1)
        os._exit(0)
    children.append(pid)
print([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children])
"""


def test_a_forking_memory_bomb_is_bounded_by_the_sandboxs_memory_limit_as_a_whole(capfd, start):
    from autograder.sandbox import cgroups

    isolation = sandbox.Isolation("strict", sandbox.default_expose())
    runner = start(limits=sandbox.Limits(cell_timeout=30, memory_bytes=1024**3), isolation=isolation)
    group = runner.cgroup
    execution = runner.run([(0, FORKING_MEMORY_BOMB)])
    if os.geteuid() != 0 and group is None:  # no writable cgroup: per-process limits only, and it says so
        assert "memory and process limits apply per process" in capfd.readouterr().err
        return
    assert group is not None, cgroups.parents()[1]  # root always gets a cgroup here
    codes = ast.literal_eval(execution.outputs[0][0]["text"])
    assert codes.count(-9) >= 1 and codes.count(0) >= 1, codes  # the kernel killed what did not fit
    assert not any(folder.exists() for folder in group.folders)  # and the group is gone


def test_a_killed_graders_leftovers_are_swept(tmp_path):
    from autograder.sandbox import cgroups

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path(tempfile.gettempdir()) / f"{sandbox.WORKDIR_PREFIX}{dead.pid}-x1"
    (stale / ".home").mkdir(parents=True)
    live = Path(tempfile.mkdtemp(prefix=f"{sandbox.WORKDIR_PREFIX}{os.getpid()}-"))
    folders, _why = cgroups.parents()
    stale_groups = [parent / f"{cgroups.PREFIX}{dead.pid}-x1" for parent in folders]
    for folder in stale_groups:
        folder.mkdir()
    try:
        assert sandbox.sweep() >= 1 + len(stale_groups)
        assert not stale.exists() and live.is_dir()
        assert not any(folder.exists() for folder in stale_groups)
    finally:
        shutil.rmtree(live, ignore_errors=True)


# verdict-model-gadget-*: Keras models whose configuration would run Keras functions in the verifier. They
# answer the fixtures' Keras assignment (model_toy: a 2-point model test, then a 1-point test that Keras's
# settings are intact); its students' sandboxes import Keras, so this batch is kept small.
KERAS_HOSTILE = HOSTILE / "keras"
MODEL_GADGETS = sorted(p.stem for p in KERAS_HOSTILE.glob("verdict-model-gadget-*.ipynb"))


@pytest.fixture(scope="module")
def model_batch(tmp_path_factory):
    from autograder.source import build_master_and_release

    build = _load_build()
    source = tmp_path_factory.mktemp("model-source") / "model_toy"
    source.mkdir()
    nbformat.write(build.model_toy_source(), source / "model_toy.ipynb")
    (source / "autograder.toml").write_text(build.MODEL_TOY_CONFIG)
    _master, release = build_master_and_release(build.model_toy_source(), root=TOY_FIXTURES)
    correct = nbformat.from_dict(release)
    for cell in correct.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "model":
            cell.source = (
                'model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3, "softmax")])'
            )
    subs = tmp_path_factory.mktemp("model-subs")
    (subs / "correct").mkdir()
    nbformat.write(correct, subs / "correct" / "model_toy.ipynb")
    for gadget in MODEL_GADGETS:
        (subs / gadget).mkdir()
        shutil.copyfile(KERAS_HOSTILE / f"{gadget}.ipynb", subs / gadget / "model_toy.ipynb")
    out = tmp_path_factory.mktemp("model-graded") / "out"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(source), str(subs), "--out", str(out),
         "--workers", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    return {"done": done, "students": results.get("students", {}), "out": out, "build": build}


def test_there_is_a_model_gadget_for_each_refusal():
    assert MODEL_GADGETS == sorted(_load_build().MODEL_GADGETS)
    assert len(MODEL_GADGETS) >= 3


@pytest.mark.slow
def test_a_correct_model_keeps_its_marks_beside_the_gadgets(model_batch):
    assert model_batch["done"].returncode == 0, model_batch["done"].stderr
    students = model_batch["students"]
    assert (students["correct"]["status"], students["correct"]["score"]) == ("graded", 3.0)


@pytest.mark.slow
@pytest.mark.parametrize("gadget", MODEL_GADGETS)
def test_each_model_gadget_is_refused_and_the_student_reads_why(model_batch, gadget):
    """Is the gadget refused (the model test fails with the reason), and are Keras's settings intact?"""
    student = model_batch["students"][gadget]
    refusal = model_batch["build"].MODEL_GADGETS[gadget][1]
    cells = student["cells"]
    assert (student["status"], student["score"]) == ("graded", 1.0)
    assert cells["keras-settings"]["passed"], cells["keras-settings"]["message"]
    message = cells["model-test"]["message"]
    assert message.startswith("TransferError: the grader does not rebuild this model: it uses "), message
    assert refusal in message
    feedback = (model_batch["out"] / "feedback" / gadget / "model_toy.html").read_text()
    assert "the grader does not rebuild this model" in feedback


def test_each_test_cell_starts_from_the_keras_settings_the_set_up_left(start):
    """A test that changes Keras's settings or random state (as a gadget would) does not reach the next."""
    isolation = sandbox.Isolation("strict", sandbox.default_expose())
    limits = sandbox.Limits(cell_timeout=60)
    student = start(limits=limits, isolation=isolation)
    verifier = start(limits=limits, preload=("keras",), isolation=isolation, role="verifier")
    change = (
        'keras.config.set_floatx("float16")\nkeras.config.set_epsilon(0.5)\n'
        'keras.config.set_image_data_format("channels_first")\nkeras.utils.set_random_seed(7)'
    )
    show = (
        "print(keras.config.floatx(), keras.config.epsilon(), keras.config.image_data_format(),"
        " random.random(), np.random.random())"
    )
    cells = [
        sandbox.Cell(0, show, test=True),
        sandbox.Cell(1, change, test=True),
        sandbox.Cell(2, show, test=True),
    ]
    execution = sandbox.run_notebook(
        student, cells, verifier=verifier, prelude="import random\nimport keras\nimport numpy as np"
    )
    first, after = (execution.outputs[i][0]["text"] for i in (0, 2))
    assert after == first and first.startswith("float32 1e-07 channels_last "), (first, after)
