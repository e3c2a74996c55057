"""Are the Kubernetes manifests valid, and does `autograder collect` lose no grade?

No cluster is reachable here, so:

* every manifest ``autograder k8s`` writes is checked against the Kubernetes schema by the official
  client's models (``kubernetes.client.V1Job`` etc., which refuse unknown fields and missing required
  ones), and read the way a user would (one pod per submission, limits from ``autograder.toml``…);
* each pod is played on this machine: its ConfigMaps are unpacked to a folder standing for ``/jobs``, and
  the container's command line, with ``$(INDEX)`` filled in, is run with only the capabilities the manifest
  grants (``setpriv --bounding-set``, as root), writing to a folder standing for the results volume;
* ``autograder collect`` reads those results, with one pod's result missing and one corrupt.
"""

from __future__ import annotations

import base64
import copy
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import autograder_in_process
from kubernetes import client as k8s

from autograder.source import load_assignment

ROOT = Path(__file__).resolve().parents[2]
HW = "hw1_backprop"
WRONG = ROOT / "tests" / "fixtures" / "submissions" / HW / "forgot-activation-derivative.ipynb"
MODELS = {
    "ConfigMap": k8s.V1ConfigMap,
    "Job": k8s.V1Job,
    "NetworkPolicy": k8s.V1NetworkPolicy,
    "PersistentVolumeClaim": k8s.V1PersistentVolumeClaim,
}


def autograder(*args: str, cwd: Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def validate(doc: dict):
    """The manifest as the official client's model; raises on unknown fields, missing or mistyped ones."""
    return MODELS[doc["kind"]].model_validate(doc)


def rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def subs(tmp_path_factory) -> Path:
    """Correct, wrong, untouched, not JSON, and no notebook at all."""
    spec = importlib.util.spec_from_file_location("bench_grading", ROOT / "bench" / "grading.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    folder = tmp_path_factory.mktemp("subs")
    for student in ("correct", "wrong", "untouched", "not-json", "missing"):
        (folder / student).mkdir()
    nbformat.write(bench._solved(HW), folder / "correct" / f"{HW}.ipynb")
    shutil.copyfile(WRONG, folder / "wrong" / f"{HW}.ipynb")
    nbformat.write(load_assignment(HW, root=ROOT).release, folder / "untouched" / f"{HW}.ipynb")
    (folder / "not-json" / f"{HW}.ipynb").write_text("{ not json")
    return folder


@pytest.fixture(scope="module")
def written(subs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("k8s")
    done = autograder("k8s", HW, str(subs), "--image", "registry.example/grader:1", "--out", str(out),
                      "--parallelism", "3", "--cpus", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def manifests(folder: Path) -> list[dict]:
    return list(yaml.safe_load_all((folder / "job.yaml").read_text()))


def test_every_manifest_deserializes_into_the_official_models(written):
    docs = manifests(written)
    assert sorted({d["kind"] for d in docs}) == sorted(MODELS)
    for doc in docs:
        validate(doc)


def test_the_schema_check_refuses_unknown_and_missing_fields(written):
    job = next(d for d in manifests(written) if d["kind"] == "Job")
    typo = copy.deepcopy(job)
    typo["spec"]["paralelism"] = 3
    with pytest.raises(ValueError, match="paralelism"):
        validate(typo)
    nameless = copy.deepcopy(job)
    del nameless["spec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(ValueError, match="name"):
        validate(nameless)


def test_one_indexed_completion_per_submission_without_credentials_or_network(written):
    docs = manifests(written)
    job = validate(next(d for d in docs if d["kind"] == "Job"))
    assert job.spec.completion_mode == "Indexed" and job.spec.completions == 5 and job.spec.parallelism == 3
    pod = job.spec.template.spec
    assert pod.automount_service_account_token is False and pod.restart_policy == "Never"
    container = pod.containers[0]
    assert container.resources.limits["cpu"] == "2"
    assert container.security_context.capabilities.drop == ["ALL"]
    # The runtime's default system-call filter on the pod and the container (the sandbox adds its own).
    assert pod.security_context.seccomp_profile.type == "RuntimeDefault"
    assert container.security_context.seccomp_profile.type == "RuntimeDefault"
    policy = validate(next(d for d in docs if d["kind"] == "NetworkPolicy"))
    assert "Egress" in policy.spec.policy_types and not policy.spec.egress  # no egress rule: all denied
    assert policy.spec.pod_selector.match_labels.items() <= job.spec.template.metadata.labels.items()


def test_memory_limit_comes_from_the_assignments_autograder_toml(subs, tmp_path):
    (tmp_path / "none").mkdir()
    refused = autograder_in_process(
        "k8s", "hw2_mnist", str(tmp_path / "none"), "--image", "i", "--out", str(tmp_path / "o")
    )
    assert refused.exit_code == 2 and "no submissions" in refused.stderr.replace("\n", " ")
    (tmp_path / "s" / "someone").mkdir(parents=True)
    done = autograder("k8s", "hw2_mnist", str(tmp_path / "s"), "--image", "i", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    job = validate(next(d for d in manifests(tmp_path / "o") if d["kind"] == "Job"))
    # memory_gb = 8 + verifier_memory_gb = 4 (address spaces) + two 512 MB tmpfs + 1 GiB for the grader
    assert (
        job.spec.template.spec.containers[0].resources.limits["memory"]
        == f"{(8 + 4) * 1024 + 2 * 512 + 1024}Mi"
    )
    assert job.spec.template.spec.active_deadline_seconds >= 600  # submission_timeout = 600


def test_configmaps_carry_every_notebook_byte_for_byte_and_stay_under_1_mib(subs, tmp_path):
    many = tmp_path / "many"
    for i in range(40):  # ~40 x 60 KB: several ConfigMaps
        (many / f"s{i:02d}").mkdir(parents=True)
        shutil.copyfile(WRONG, many / f"s{i:02d}" / f"{HW}.ipynb")
    done = autograder("k8s", HW, str(many), "--image", "i", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    maps = [d for d in manifests(tmp_path / "o") if d["kind"] == "ConfigMap"]
    assert len(maps) > 1
    for cm in maps:
        assert len(json.dumps(cm)) < 1024**2
    unpacked = unpack(tmp_path / "o", tmp_path / "jobs")
    assert sorted(p.name for p in unpacked.glob("*.ipynb")) == sorted(f"{i}.ipynb" for i in range(40))
    assert all(p.read_bytes() == WRONG.read_bytes() for p in unpacked.glob("*.ipynb"))


def test_a_notebook_too_large_for_a_configmap_asks_for_a_volume(tmp_path):
    (tmp_path / "s" / "big").mkdir(parents=True)
    nb = json.loads(WRONG.read_text())
    nb["cells"][0]["source"] = ["x" * 100 + "\n"] * 12_000  # 1.2 MB, under max_notebook_mb
    (tmp_path / "s" / "big" / f"{HW}.ipynb").write_text(json.dumps(nb))
    refused = autograder_in_process(
        "k8s", HW, str(tmp_path / "s"), "--image", "i", "--out", str(tmp_path / "o")
    )
    assert refused.exit_code == 2 and "--jobs-pvc" in refused.stderr
    done = autograder("k8s", HW, str(tmp_path / "s"), "--image", "i", "--out", str(tmp_path / "o"),
                      "--jobs-pvc", "course-jobs")  # fmt: skip
    assert done.returncode == 0, done.stderr
    job = validate(next(d for d in manifests(tmp_path / "o") if d["kind"] == "Job"))
    volume = next(v for v in job.spec.template.spec.volumes if v.name == "jobs")
    assert volume.persistent_volume_claim.claim_name == "course-jobs"
    assert (tmp_path / "o" / "jobs" / "0.ipynb").stat().st_size > 1024**2


def unpack(folder: Path, target: Path) -> Path:
    """What the projected ConfigMap volume shows a pod at /jobs."""
    target.mkdir()
    for cm in (d for d in manifests(folder) if d["kind"] == "ConfigMap"):
        for key, text in (cm.get("data") or {}).items():
            (target / key).write_text(text)
        for key, b64 in (cm.get("binaryData") or {}).items():
            (target / key).write_bytes(base64.b64decode(b64))
    return target


def play_pods(folder: Path, jobs: Path, results: Path) -> list[subprocess.CompletedProcess]:
    """Run each pod's container command here, with the manifest's capabilities only (as root)."""
    job = validate(next(d for d in manifests(folder) if d["kind"] == "Job"))
    container = job.spec.template.spec.containers[0]
    caps = ",".join(f"+{c.lower()}" for c in container.security_context.capabilities.add)
    confine = ["setpriv", "--inh-caps=-all", f"--bounding-set=-all,{caps}"] if os.geteuid() == 0 else []
    done = []
    for index in range(job.spec.completions):
        args = [
            a.replace("$(INDEX)", str(index))
            .replace("/jobs/", f"{jobs}/")
            .replace("/results/", f"{results}/")
            for a in container.args
        ]
        assert container.command == ["autograder"]
        env = {**os.environ, "INDEX": str(index)}
        done.append(subprocess.run([*confine, sys.executable, "-m", "autograder", *args], cwd=ROOT, env=env,
                                   capture_output=True, text=True, timeout=300))  # fmt: skip
    return done


@pytest.fixture(scope="module")
def pods(written, subs, tmp_path_factory):
    base = tmp_path_factory.mktemp("pods")
    jobs = unpack(written, base / "jobs")
    results = base / "results"
    done = play_pods(written, jobs, results)
    local = base / "local"
    assert autograder("grade", HW, str(subs), "--out", str(local), "--workers", "2").returncode == 1
    return results, done, local


@pytest.mark.slow
def test_pods_grade_with_only_the_capabilities_the_manifest_grants(pods):
    results, done, _local = pods
    assert [d.returncode for d in done] == [0, 1, 1, 0, 0], [d.stderr[-500:] for d in done]  # 1: failed rows
    assert sorted(p.name for p in results.iterdir()) == [str(i) for i in range(5)]


@pytest.mark.slow
def test_collect_gives_the_local_grades(pods, written, tmp_path):
    results, _done, local = pods
    done = autograder("collect", HW, str(written), str(results), "--out", str(tmp_path / "out"))
    assert done.returncode == 1, done.stderr  # not-json and missing fail, with their reasons
    assert rows(tmp_path / "out") == rows(local)
    ours = json.loads((tmp_path / "out" / "results.json").read_text())
    assert ours == json.loads((local / "results.json").read_text())
    assert (tmp_path / "out" / "feedback" / "correct" / f"{HW}.html").is_file()


@pytest.mark.slow
def test_a_missing_and_a_corrupt_pod_result_fail_with_reasons_and_lose_no_grade(pods, written, tmp_path):
    results, _done, local = pods
    copied = shutil.copytree(results, tmp_path / "results")
    plan = json.loads((written / "plan.json").read_text())
    index = {s["student_id"]: s["index"] for s in plan["submissions"]}
    shutil.rmtree(copied / str(index["wrong"]))
    (copied / str(index["correct"]) / ".state" / "correct.json").write_text('{"student_id": "correct", ')
    out = tmp_path / "out"
    done = autograder("collect", HW, str(written), str(copied), "--out", str(out))
    assert done.returncode == 1
    grades = rows(out)
    assert sorted(grades) == sorted(rows(local))
    assert grades["wrong"]["status"] == "failed" and grades["wrong"]["score"] == ""
    assert f"no result from pod {index['wrong']}" in grades["wrong"]["reason"]
    assert "unreadable" in grades["correct"]["reason"] and grades["correct"]["score"] == ""
    assert grades["untouched"] == rows(local)["untouched"]
    assert not (out / ".state" / "wrong.json").exists()  # a collection problem is not stored as a grade

    shutil.rmtree(copied)  # the pod results arrive later, one at a time: nothing collected before is lost
    shutil.copytree(results, copied)
    shutil.rmtree(copied / str(index["untouched"]))
    assert autograder("collect", HW, str(written), str(copied), "--out", str(out)).returncode == 1
    assert rows(out) == rows(local)


def test_the_dockerfile_copies_what_the_repository_has(written):
    for line in (written / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), line


@pytest.mark.slow
def test_grade_one_stores_what_the_batch_stores_for_that_student(pods, subs, tmp_path):
    _results, _done, local = pods
    notebook = subs / "wrong" / f"{HW}.ipynb"
    done = autograder("grade-one", HW, str(notebook), "--out", str(tmp_path / "one"))  # id: the folder name
    assert done.returncode == 0, done.stderr
    assert "wrong: graded" in done.stderr
    state = json.loads((tmp_path / "one" / ".state" / "wrong.json").read_text())
    assert state == json.loads((local / ".state" / "wrong.json").read_text())
    assert (tmp_path / "one" / "feedback" / "wrong" / f"{HW}.html").is_file()
    assert (tmp_path / "one" / "autograded" / "wrong" / HW / f"{HW}.ipynb").is_file()
    refused = autograder_in_process(
        "grade-one", HW, str(tmp_path / "nowhere.ipynb"), "--out", str(tmp_path / "one")
    )
    assert refused.exit_code == 2 and "notebook not found" in refused.stderr
