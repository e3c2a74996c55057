"""Do the memory limits fit: resident caps apart from the address space, and a batch that fits the machine?

Before a batch starts, the workers' worst case (workers x the resident caps of a student's sandbox and its
verifier) is compared with the memory available: fewer workers with a one-line notice, or a clear refusal,
never the kernel's OOM killer choosing. Each sandbox's numerical libraries get a share of the cores.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import TOY, TOY_SUBMISSIONS

from autograder import api, sandbox
from autograder.config import load_config
from autograder.errors import UsageError
from autograder.sandbox import Limits, cgroups

ROOT = Path(__file__).resolve().parents[2]
GIB = 1024**3


def test_resident_caps_are_set_apart_from_the_address_space(tmp_path):
    (tmp_path / "autograder.toml").write_text(
        "[limits]\nmemory_gb = 8\nresident_gb = 1.5\nverifier_memory_gb = 4\nverifier_resident_gb = 0.5\n"
    )
    limits = load_config(tmp_path).limits
    assert (limits.memory_bytes, limits.resident_bytes) == (8 * GIB, 1.5 * GIB)
    verifier = limits.for_role("verifier")
    assert (verifier.memory_bytes, verifier.resident_bytes) == (4 * GIB, 0.5 * GIB)
    assert limits.worker_resident_bytes == 2 * GIB


def test_a_file_that_sets_only_memory_gb_keeps_it_as_the_resident_cap_too(tmp_path):
    (tmp_path / "autograder.toml").write_text("[limits]\nmemory_gb = 6\nverifier_memory_gb = 3\n")
    limits = load_config(tmp_path).limits
    assert limits.resident_bytes == 6 * GIB and limits.for_role("verifier").resident_bytes == 3 * GIB
    defaults = load_config(tmp_path / "none").limits  # no autograder.toml
    assert defaults.memory_bytes == 8 * GIB and defaults.worker_resident_bytes == 4 * GIB
    assert Limits(memory_bytes=GIB).resident_cap == GIB  # limits built in code: the cap follows memory


def test_workers_are_capped_to_what_the_available_memory_holds():
    limits = Limits(resident_bytes=2 * GIB, verifier_resident_bytes=1 * GIB)
    assert api.fit_workers(2, limits, 7 * GIB) == (2, "")
    workers, notice = api.fit_workers(4, limits, 7 * GIB)
    assert workers == 2 and "grading with 2 worker(s), not 4" in notice and "2 + 1 GiB" in notice
    assert "\n" not in notice
    assert api.fit_workers(4, limits, None) == (4, "")  # unknown (not Linux): as asked
    with pytest.raises(UsageError, match=r"not enough memory to grade.*lower resident_gb"):
        api.fit_workers(1, limits, 2 * GIB)


def test_the_available_memory_is_read_from_this_machine():
    available = cgroups.available_memory()
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        assert available is None
        return
    lines = meminfo.read_text().splitlines()
    total = next(int(line.split()[1]) * 1024 for line in lines if line.startswith("MemTotal:"))
    assert 0 < available <= total


def _toy_batch(target: Path, count: int) -> Path:
    for i in range(count):
        (target / f"s{i}").mkdir(parents=True)
        shutil.copyfile(TOY_SUBMISSIONS / "correct.ipynb", target / f"s{i}" / "toy.ipynb")
    return target


@pytest.mark.slow
def test_a_batch_is_graded_with_fewer_workers_when_memory_is_short(tmp_path, monkeypatch, capsys):
    subs = _toy_batch(tmp_path / "subs", 2)
    monkeypatch.setattr(cgroups, "available_memory", lambda: 5 * GIB)  # one worker's caps: 2 + 2 GiB
    report = api.grade(TOY, subs, out=tmp_path / "out", workers=2, root=ROOT)
    assert "grading with 1 worker(s), not 2" in capsys.readouterr().err
    assert [r.total for r in report.results] == [5, 5]


def test_a_batch_that_cannot_fit_one_worker_is_refused_before_anything_runs(tmp_path, monkeypatch):
    subs = _toy_batch(tmp_path / "subs", 1)
    monkeypatch.setattr(cgroups, "available_memory", lambda: GIB)
    started = []
    monkeypatch.setattr(sandbox, "start", lambda **kw: started.append(kw))
    refusal = r"one worker's sandboxes may hold 2 \+ 2 GiB.*1\.0 GiB is available"
    with pytest.raises(UsageError, match=refusal):
        api.grade(TOY, subs, out=tmp_path / "out", root=ROOT)
    assert not started and not (tmp_path / "out" / "grades.csv").exists()


def test_a_sandbox_sizes_its_thread_pools_to_its_share_of_the_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    isolation = sandbox.Isolation("strict", sandbox.default_expose())
    runner = sandbox.start(limits=Limits(), isolation=isolation, threads=1, preload=())
    source = f"import os; print([os.environ.get(n) for n in {sandbox.THREAD_VARIABLES!r}])"
    execution = runner.run([(0, source)])
    assert execution.status == "finished", execution.detail
    assert execution.outputs[0][0]["text"].strip() == str(["1"] * len(sandbox.THREAD_VARIABLES))
    assert api.thread_budget(1) >= api.thread_budget(2) >= 1
