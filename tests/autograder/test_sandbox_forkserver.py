"""Is a sandbox forked by a fork server the sandbox a fresh process gets, and does the server fail safely?

Every isolation, protocol and hostile test of ``test_sandbox.py`` and ``test_sandbox_hostile.py`` runs both
ways (the ``start`` fixture), and batches graded by a worker use fork servers. These tests look at what
only forking could get wrong: a layer the fork child must put on itself (capabilities, ``no_new_privs``,
the filter, the uid, descriptors, environment, limits), state inherited from the server (random
generators, its socket, its folder), and what happens when the server cannot start, stops, or its grader
is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TOY, toy_students

from autograder import api, sandbox
from autograder.collect import Submission
from autograder.results import Status
from autograder.source import load_assignment
from autograder.store import OutputStore
from autograder.worker import GradingWorker, check_isolation

ROOT = Path(__file__).resolve().parents[2]
ISOLATION = sandbox.Isolation("strict", sandbox.default_expose())

# What a sandboxed process can see of itself: identity, capabilities, filter, limits, descriptors, mounts.
PORTRAIT = r"""
import json, os, resource, stat
fields = {}
for line in open("/proc/self/status"):
    name, _, value = line.partition(":")
    if name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Groups"):
        fields[name] = value.strip()
uids = open("/proc/self/status").read().split("Uid:")[1].split("\n")[0].split()
fields["uid"] = "root" if uids[0] == "0" else "unprivileged"
fields["same ids"] = len(set(uids)) == 1
fds = {}
for fd in sorted(os.listdir("/proc/self/fd"), key=int):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    kind = target.split(":")[0] if ":" in target else target
    fds[fd] = "ipython history" if "history.sqlite" in kind else kind
fields["descriptors"] = sorted(fds.values())
fields["environment"] = sorted(os.environ)
mounted = [line.split()[1] for line in open("/proc/self/mounts")]
fields["mounts"] = sorted("WORKDIR" if path == os.getcwd() else path for path in mounted)
names = ("AS", "NPROC", "FSIZE", "CPU", "CORE")
fields["limits"] = [resource.getrlimit(getattr(resource, f"RLIMIT_{name}")) for name in names]
fields["processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])  # its init and itself
fields["ids"] = (os.getppid(), os.getpgid(0), os.getsid(0))  # init is its parent; no group, no session
fields["cwd is home's parent"] = os.getcwd() == os.path.dirname(os.environ["HOME"])
print(json.dumps(fields))
"""


def _portrait(server: sandbox.ForkServer | None) -> dict:
    limits = sandbox.Limits(cell_timeout=20, memory_bytes=3 * 1024**3, max_processes=100)
    runner = sandbox.start(limits=limits, preload=("numpy",), isolation=ISOLATION, fork_server=server)
    execution = runner.run([(0, PORTRAIT)])
    assert execution.status == "finished", execution.detail
    return json.loads(execution.outputs[0][0]["text"])


def test_a_forked_sandbox_is_the_sandbox_a_fresh_process_gets():
    with_server = sandbox.ForkServer(preload=("numpy",), isolation=ISOLATION)
    try:
        fresh, forked = _portrait(None), _portrait(with_server)
    finally:
        with_server.close()
    assert forked == fresh
    assert forked["CapEff"] == forked["CapBnd"] == "0000000000000000"  # and so are they both
    assert (forked["NoNewPrivs"], forked["Seccomp"]) == ("1", "2")
    assert forked["uid"] == ("unprivileged" if os.geteuid() == 0 else "root")
    assert "socket" not in forked["descriptors"]  # the server's control socket did not leak
    assert (forked["processes"], forked["ids"]) == (2, [1, 0, 0])


def test_each_forked_sandbox_draws_its_own_random_numbers():
    server = sandbox.ForkServer(preload=("numpy",), isolation=ISOLATION)
    draws = []
    try:
        for _ in range(2):
            runner = sandbox.start(limits=sandbox.Limits(), isolation=ISOLATION, fork_server=server)
            code = "import random, numpy as np\nprint(random.random(), np.random.rand())"
            draws.append(runner.run([(0, code)]).outputs[0][0]["text"].split())
    finally:
        server.close()
    assert draws[0][0] != draws[1][0] and draws[0][1] != draws[1][1]


def test_the_server_is_out_of_the_sandboxs_reach():
    server = sandbox.ForkServer(preload=(), isolation=ISOLATION)
    try:
        runner = sandbox.start(limits=sandbox.Limits(), isolation=ISOLATION, fork_server=server)
        code = (
            "import os\n"
            f"print(os.path.exists({str(server.folder)!r}))\n"
            f"try:\n    os.kill({server.process.pid}, 0)\nexcept OSError as e:\n    print(type(e).__name__)\n"
        )
        text = runner.run([(0, code)]).outputs[0][0]["text"]
    finally:
        server.close()
    # Its folder does not exist there, and its PID is no process there (another PID namespace).
    assert text.split() == ["False", "ProcessLookupError"]


KILLED_GRADER = """
import sys, time
from autograder import sandbox
isolation = sandbox.Isolation("strict", sandbox.default_expose())
server = sandbox.ForkServer(preload=(), isolation=isolation)
runner = sandbox.start(limits=sandbox.Limits(), isolation=isolation, fork_server=server)
runner.wait_ready()
runner.send({"op": "run", "index": 0, "source": "import time; time.sleep(300)"})
print(server.process.pid, runner.process.pid, flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_grader_takes_its_fork_server_and_their_sandboxes_along():
    grader = subprocess.Popen([sys.executable, "-c", KILLED_GRADER], stdout=subprocess.PIPE, text=True)
    try:
        assert grader.stdout is not None
        pids = [int(p) for p in grader.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
    finally:
        grader.send_signal(signal.SIGKILL)
        grader.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def test_a_server_that_cannot_start_says_why():
    server = sandbox.ForkServer(preload=("no_such_module_anywhere",), isolation=ISOLATION)
    try:
        with pytest.raises(sandbox.ForkServerError, match="No module named 'no_such_module_anywhere'"):
            sandbox.start(limits=sandbox.Limits(), isolation=ISOLATION, role="verifier", fork_server=server)
    finally:
        server.close()
    assert not server.folder.exists()


def test_a_sandbox_whose_server_stopped_is_the_graders_failure_not_the_students():
    server = sandbox.ForkServer(preload=(), isolation=ISOLATION)
    runner = sandbox.start(limits=sandbox.Limits(cell_timeout=20), isolation=ISOLATION, fork_server=server)
    runner.wait_ready()
    os.kill(server.process.pid, signal.SIGKILL)  # the kernel's OOM killer, say
    server.process.wait()
    execution = runner.run([(0, "print(1)")])
    server.close()
    assert execution.status == sandbox.ExecutionStatus.SANDBOX_ERROR


def _worker(tmp_path: Path, fork_server: bool = True) -> GradingWorker:
    toy = load_assignment(TOY, root=ROOT)
    if not fork_server:
        (tmp_path / "toy").mkdir()
        for path in TOY.iterdir():
            (tmp_path / "toy" / path.name).write_bytes(path.read_bytes())
        with open(tmp_path / "toy" / "autograder.toml", "a") as handle:
            handle.write("\n[execution]\nfork_server = false\n")
        toy = load_assignment(tmp_path / "toy", root=ROOT)
    store = OutputStore(tmp_path / "out", toy.name)
    return GradingWorker(toy, store, isolation=check_isolation("strict"), threads=1)


def test_a_worker_whose_server_fails_grades_with_fresh_sandboxes_and_says_so(tmp_path, monkeypatch, capfd):
    def refuse(*args, **kwargs):
        raise sandbox.ForkServerError("the sandboxes' fork server stopped: for this test")

    monkeypatch.setattr(sandbox.ForkServer, "spawn", refuse)
    toy_students(tmp_path / "subs", ("correct",))
    with _worker(tmp_path) as worker:
        outcome = worker.grade(
            Submission("correct", tmp_path / "subs" / "correct" / "toy.ipynb"), warm_next=False
        )
    assert outcome.result.status is Status.GRADED and outcome.result.total == outcome.result.max_total
    assert (
        "sandboxes start without a fork server (the sandboxes' fork server stopped" in capfd.readouterr().err
    )
    assert "starting the sandboxes' fork server" in (tmp_path / "out" / "grader-errors.log").read_text()


def test_fork_server_false_grades_with_a_fresh_process_per_sandbox(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(sandbox.ForkServer, "__init__", lambda self, **kwargs: started.append(kwargs))
    toy_students(tmp_path / "subs", ("correct",))
    with _worker(tmp_path, fork_server=False) as worker:
        outcome = worker.grade(
            Submission("correct", tmp_path / "subs" / "correct" / "toy.ipynb"), warm_next=False
        )
    assert outcome.result.status is Status.GRADED and outcome.result.total == outcome.result.max_total
    assert started == []


@pytest.mark.slow
def test_a_batch_graded_through_fork_servers_gets_the_fresh_processes_grades(tmp_path):
    """Every toy scenario (crashes, timeouts, garbage on the pipe, syntax errors...) at two workers."""
    subs = toy_students(tmp_path / "subs", [p.stem for p in (TOY.parents[1] / "submissions").glob("*.ipynb")])
    (tmp_path / "plain").mkdir()
    for path in TOY.iterdir():
        (tmp_path / "plain" / path.name).write_bytes(path.read_bytes())
    with open(tmp_path / "plain" / "autograder.toml", "a") as handle:
        handle.write("\n[execution]\nfork_server = false\n")
    forked = api.grade(TOY, subs, out=tmp_path / "forked", workers=2)
    fresh = api.grade(tmp_path / "plain", subs, out=tmp_path / "fresh", workers=2)

    def grades(report):
        return {r.student_id: (r.status, r.total, r.reason) for r in report.results}

    assert grades(forked) == grades(fresh) and len(forked.results) >= 8
