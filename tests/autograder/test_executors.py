"""Does grading on a Dask cluster give exactly the local grades, even when a worker dies mid-batch?

A real scheduler and two workers run as separate processes (``dask scheduler``, ``dask worker``). As root
with ``ip netns`` each of them, and the grading client, gets a network namespace of its own joined by a
bridge (a namespace too), so they reach each other only over TCP, as separate hosts would (no change to
the machine's own network); elsewhere they share the loopback. The submissions are hw1 notebooks built by
``bench/grading.py`` (correct, wrong, untouched, not JSON) and one correct notebook that sleeps a few
seconds, so a worker can be killed while it grades.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HW = "hw1_backprop"
SLOW, SLOW_SECONDS = "student-slow", 6


def _bench():
    spec = importlib.util.spec_from_file_location("bench_grading", ROOT / "bench" / "grading.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Network:
    """Hosts to run commands on: network namespaces on one bridge (as root), or plain loopback."""

    def __init__(self, names: list[str]) -> None:
        self.tag = f"ag{os.getpid() % 100000}"
        self.namespaces = os.geteuid() == 0 and shutil.which("ip") is not None
        self.addresses = {name: "127.0.0.1" for name in names}
        self.created: list[str] = []
        if self.namespaces:
            try:
                self._build(names)
            except subprocess.CalledProcessError:
                self.close()
                self.namespaces, self.addresses = False, {name: "127.0.0.1" for name in names}

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def _build(self, names: list[str]) -> None:
        switch = f"{self.tag}-sw"
        self._ip("netns", "add", switch)
        self.created.append(switch)
        self._ip("-n", switch, "link", "add", "br0", "type", "bridge")
        self._ip("-n", switch, "link", "set", "br0", "up")
        subnet = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
        for i, name in enumerate(names, start=2):
            ns = f"{self.tag}-{name}"
            self._ip("netns", "add", ns)
            self.created.append(ns)
            self._ip(
                "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"p{i}", "netns", switch
            )
            self._ip("-n", switch, "link", "set", f"p{i}", "master", "br0", "up")
            self._ip("-n", ns, "addr", "add", f"{subnet}.{i}/24", "dev", "eth0")
            self._ip("-n", ns, "link", "set", "eth0", "up")
            self._ip("-n", ns, "link", "set", "lo", "up")
            self.addresses[name] = f"{subnet}.{i}"

    def command(self, host: str, argv: list[str]) -> list[str]:
        """``argv`` as run on ``host``."""
        return ["ip", "netns", "exec", f"{self.tag}-{host}", *argv] if self.namespaces else argv

    def close(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        self.created.clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and two single-threaded workers, each its own process group (and host when possible)."""

    def __init__(self, tmp: Path) -> None:
        self.net = Network(["scheduler", "w1", "w2", "client"])
        self.port = _free_port()
        self.address = f"tcp://{self.net.addresses['scheduler']}:{self.port}"
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}
        env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "3"}
        self._start("scheduler", [str(BIN / "dask"), "scheduler", "--host", self.net.addresses["scheduler"],
                                  "--port", str(self.port), "--no-dashboard"], env)  # fmt: skip
        self._wait_for_scheduler()
        for name in ("w1", "w2"):
            self.start_worker(name)
        self.wait_for_workers(2)

    def _start(self, name: str, argv: list[str], env: dict) -> None:
        log = open(self.tmp / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            self.net.command(name, argv),
            cwd=self.tmp,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def start_worker(self, name: str) -> None:
        """Start (or restart) worker ``name``."""
        argv = [str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--nworkers", "1",
                "--host", self.net.addresses[name], "--no-dashboard", "--name", name]  # fmt: skip
        self._start(name, argv, dict(os.environ))

    def _wait_for_scheduler(self) -> None:
        deadline = time.monotonic() + 60
        while b"Scheduler at" not in (self.tmp / "scheduler.log").read_bytes():
            assert time.monotonic() < deadline, (self.tmp / "scheduler.log").read_text()
            time.sleep(0.2)

    def wait_for_workers(self, count: int) -> None:
        deadline = time.monotonic() + 90
        while (self.tmp / "scheduler.log").read_text().count("Register worker") < count:
            assert time.monotonic() < deadline, (self.tmp / "scheduler.log").read_text()
            time.sleep(0.2)

    def processing(self) -> dict[str, list[str]]:
        """Task keys each worker (by name) is running or holds, as the scheduler sees them."""
        script = (
            "import json, sys; from distributed import Client; c = Client(sys.argv[1], timeout=20); "
            "names = {a: w['name'] for a, w in c.scheduler_info()['workers'].items()}; "
            "print(json.dumps({names[a]: [str(k) for k in ks] for a, ks in c.processing().items()}))"
        )
        done = subprocess.run(
            self.net.command("client", [sys.executable, "-c", script, self.address]),
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return json.loads(done.stdout)

    def kill(self, name: str) -> None:
        """SIGKILL the worker's whole process group (its nanny and worker; sandboxes die with them)."""
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(timeout=30)

    def close(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        self.net.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("dask"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    subs = tmp_path_factory.mktemp("subs")
    bench = _bench()
    kinds = bench.build_batch(HW, 10, subs)
    for student in ("student01", "student02", "student03", "student04"):  # one correct is enough (time)
        assert kinds.pop(student) == "correct"
        shutil.rmtree(subs / student)
    slow = bench._solved(HW)  # a correct notebook that takes SLOW_SECONDS more: a task to kill a worker in
    slow.cells.append(nbformat.v4.new_code_cell(f"import time\ntime.sleep({SLOW_SECONDS})"))
    nbformat.write(slow, (subs / SLOW).mkdir() or subs / SLOW / f"{HW}.ipynb")
    kinds[SLOW] = "correct, slow"
    local = tmp_path_factory.mktemp("local") / "out"
    argv = [sys.executable, "-m", "autograder", "grade", HW, str(subs), "--out", str(local), "--workers", "2"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # not-json fails with a reason
    return subs, kinds, local


def grade_on(cluster: Cluster, subs: Path, out: Path, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "autograder", "grade", HW, str(subs), "--out", str(out),
            "--executor", "dask", "--scheduler", cluster.address, *extra]  # fmt: skip
    return subprocess.Popen(
        cluster.net.command("client", argv),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def students(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())["students"]


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_a_dask_cluster_gives_every_student_the_local_grades(cluster, batch, tmp_path):
    subs, kinds, local = batch
    run = grade_on(cluster, subs, tmp_path / "out")
    _stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 1, stderr
    assert students(tmp_path / "out") == students(local)
    assert rows(tmp_path / "out") == rows(local)
    for kind in ("feedback", "autograded"):
        ours = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out" / kind).rglob("*.*"))
        assert ours == sorted(p.relative_to(local) for p in (local / kind).rglob("*.*"))
    assert sorted(p.stem for p in (tmp_path / "out" / ".state").glob("*.json")) == sorted(kinds)


@pytest.mark.slow
def test_a_rerun_on_the_cluster_reuses_finished_students(cluster, batch, tmp_path):
    subs, kinds, local = batch
    shutil.copytree(local, tmp_path / "out")  # finished by the local pool: same fingerprints
    student = sorted(kinds)[0]
    (tmp_path / "out" / ".state" / f"{student}.json").unlink()
    run = grade_on(cluster, subs, tmp_path / "out")
    _stdout, stderr = run.communicate(timeout=300)
    assert f"{len(kinds) - 1} submission(s) already graded by an earlier run" in stderr
    assert "(1 graded now)" in stderr.replace("\n", " ")
    assert students(tmp_path / "out") == students(local)


@pytest.mark.slow
def test_killing_a_worker_mid_batch_still_grades_everyone_exactly_once(cluster, batch, tmp_path):
    subs, kinds, local = batch
    run = grade_on(cluster, subs, tmp_path / "out")
    deadline = time.monotonic() + 120
    victim = None
    while victim is None:
        assert run.poll() is None and time.monotonic() < deadline, f"{SLOW} was never being graded"
        busy = cluster.processing()
        victim = next((w for w, keys in busy.items() if any(k.endswith(f"-{SLOW}") for k in keys)), None)
    assert not (tmp_path / "out" / ".state" / f"{SLOW}.json").exists()
    cluster.kill(victim)  # while it grades the slow student
    _stdout, stderr = run.communicate(timeout=300)
    cluster.start_worker(victim)  # for whatever runs next
    assert run.returncode == 1, stderr
    graded = rows(tmp_path / "out")
    assert sorted(r["student_id"] for r in graded) == sorted(kinds)  # each once: none lost, none twice
    assert students(tmp_path / "out") == students(local)
    cluster.wait_for_workers(3)  # w2 registered again: the cluster is whole for whatever runs next
