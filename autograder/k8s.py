"""Kubernetes: one Indexed Job completion per submission, each pod running ``autograder grade-one``.

An assignment of several notebooks (nbgrader's course layout) has one completion per notebook a student
submitted; each job file names its notebook, and ``autograder collect`` stores the results per notebook
(``OUT/<notebook>/``) with the sums in ``OUT``, as ``grade`` does.

:func:`write_manifests` collects the submissions on the instructor's machine (as ``grade`` does) and writes

* ``jobs/<i>.json`` and ``jobs/<i>.ipynb``: submission *i* (who, LMS identity, the problem found when
  collecting, the fingerprint its result must carry) and its notebook;
* ``job.yaml``: the ConfigMaps that carry ``jobs/`` to the pods (unless ``jobs_pvc``), a NetworkPolicy
  that denies all traffic to and from the grading pods, a ReadWriteMany claim for the results, and the
  Indexed Job (``completions`` = submissions, ``parallelism`` as asked, CPU and memory per pod from
  the assignment's ``autograder.toml`` limits, no service-account token, a per-index retry budget);
* ``Dockerfile``: the grading image (the course kit, the assignment's source, util-linux and libseccomp,
  the data);
* ``plan.json``: what ``autograder collect`` checks pod results against.

**How a pod gets its notebook.** ConfigMaps, chunked: each holds the ``<i>.json``/``<i>.ipynb`` of several
submissions (notebooks as ``binaryData``) up to :data:`CONFIGMAP_BUDGET`, under the API's 1 MiB object
limit, and every pod mounts all of them through one projected volume at ``/jobs`` (a pod template cannot
choose a ConfigMap by index). That suits a course's batch of small notebooks: every kubelet fetches every
chunk, and etcd holds the whole batch while the Job runs. A notebook too large for one ConfigMap, or a batch
of thousands, goes through a volume instead (``jobs_pvc``: copy ``jobs/`` into that claim; it is mounted
read-only at ``/jobs``).

**Where a pod writes.** ``/results/<i>/`` on the results claim: ``.state/<id>.json`` (written last,
atomically), ``feedback/`` and ``autograded/``, exactly what ``grade`` writes for one student. Copy the
claim's content to the instructor's machine (``kubectl cp`` from any pod that mounts it) and run
``autograder collect``.

**What the sandbox needs in a pod.** The sandbox builds namespaces as root (``unshare`` of mount, network,
PID, IPC and UTS namespaces, a fresh ``/proc``, ``pivot_root``) and then drops to an unprivileged uid with
``setpriv``. Measured here by dropping capabilities with ``setpriv --bounding-set`` (root flavour only, as a
container's default seccomp profile refuses user namespaces without ``SYS_ADMIN``): it needs ``SYS_ADMIN``,
``CHOWN``, ``DAC_OVERRIDE``, ``SETUID`` and ``SETGID`` (plus ``KILL`` to signal the sandbox's processes), so
the container drops ``ALL`` and adds those; ``tests/test_k8s.py`` grades with exactly this set.
``SYS_ADMIN`` in a container is a real privilege (mounts, and more syscalls under the runtime's default
seccomp profile, ``RuntimeDefault``, set on the pod and on the container); it is confined to the pod's own
namespaces, student code never holds it, and the sandbox's own system-call filter (``sandbox/syscalls.py``,
stacked on the runtime's profile inside the pod) refuses those calls again before any student code runs;
but the namespace must admit the *privileged* Pod Security level, and on AppArmor nodes the runtime's
default profile forbids ``mount``, hence ``appArmorProfile: Unconfined``. The alternative that avoids
``SYS_ADMIN`` (``hostUsers: false`` with unprivileged user namespaces inside) is not generated: it needs
Kubernetes user namespaces on the nodes and ``procMount: Unmasked``. The NetworkPolicy is a second wall;
the sandbox's own network namespace already has no interface but a down loopback. A container's cgroup
filesystem is usually read-only, so the sandbox's per-submission cgroup falls back to rlimits there; the
pod's own memory and CPU limits bound the whole submission instead (one pod grades one submission).
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from autograder import course
from autograder.collect import collect
from autograder.errors import UsageError
from autograder.executors import job_from_submission
from autograder.pipeline import fingerprint
from autograder.source import load_assignment
from autograder.store import INCOMING_DIR
from autograder.worker import SandboxMode

CONFIGMAP_BUDGET = 900 * 1024  # bytes of data per ConfigMap (base64 included); the API's limit is 1 MiB
CAPABILITIES = ("SYS_ADMIN", "CHOWN", "DAC_OVERRIDE", "SETUID", "SETGID", "KILL")
GRADER_MEMORY = 1024**3  # the grading process itself (nbformat, nbgrader) besides the notebook's limit
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
COURSE_DIR, DATA_DIR = "/course", "/data"
# grade-one exits 1 when it stored a failed result and 2 on a usage error: retrying changes nothing. A pod
# evicted or lost with its node is retried without counting against the index's retries.
POD_FAILURE_POLICY = {
    "rules": [
        {
            "action": "FailIndex",
            "onExitCodes": {"containerName": "grader", "operator": "In", "values": [1, 2]},
        },
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    ]
}


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # plain YAML: no &anchors for repeated label maps
        return True


@dataclass(frozen=True)
class K8sPlan:
    """What :func:`write_manifests` wrote."""

    folder: Path
    name: str
    count: int
    configmaps: int


def dns_name(text: str) -> str:
    """``text`` as a DNS-1123 label (lower case, ``-``), at most 52 characters (room for suffixes)."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return label[:52].rstrip("-") or "autograder"


def _quantity(nbytes: int) -> str:
    return f"{math.ceil(nbytes / 1024**2)}Mi"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _chunks(files: dict[str, bytes], budget: int) -> list[dict[str, bytes]]:
    """Group files (name -> bytes) in index order so each group's base64 fits ``budget``."""
    chunks: list[dict[str, bytes]] = [{}]
    used = 0
    for name, data in files.items():
        size = 4 * math.ceil(len(data) / 3) + len(name) + 8
        if size > budget:
            raise UsageError(
                f"{name} ({len(data) / 1024:.0f} KiB) does not fit in a ConfigMap (at most "
                f"{budget // 1024} KiB each, the API's limit is 1 MiB); pass --jobs-pvc NAME and copy the "
                "written jobs/ folder into that volume."
            )
        if used + size > budget and chunks[-1]:
            chunks.append({})
            used = 0
        chunks[-1][name] = data
        used += size
    return chunks if chunks[-1] else chunks[:-1]


def write_manifests(
    assignment: str | Path,
    submissions: str | Path,
    *,
    image: str,
    out: str | Path,
    parallelism: int = 10,
    cpus: float = 1.0,
    namespace: str | None = None,
    results_pvc: str = "autograder-results",
    results_size_gb: float | None = None,
    jobs_pvc: str | None = None,
    timeout: float | None = None,
    root: str | Path | None = None,
) -> K8sPlan:
    """Write the Kubernetes manifests, the jobs and a Dockerfile to grade every submission as pods.

    Args:
        assignment: the assignment's name (under ``ROOT/solutions``) or its source folder.
        submissions: a folder of student folders, or a Canvas download (zip or folder).
        image: the grading image (built from the written Dockerfile).
        out: the folder to write (created).
        parallelism: pods at once.
        cpus: CPU request and limit per pod.
        namespace: the Kubernetes namespace (default: the current context's).
        results_pvc: the ReadWriteMany claim the pods write results to (a manifest for it is written).
        results_size_gb: its size (default: 2 MB per submission, at least 1 GiB).
        jobs_pvc: a claim holding the ``jobs/`` folder instead of ConfigMaps (large notebooks or batches).
        timeout: wall-clock seconds per submission, overriding ``autograder.toml``.
        root: the course root (default: current directory).

    Returns:
        What was written.

    Raises:
        UsageError: bad arguments, no submissions, a notebook too large for a ConfigMap.
    """
    if parallelism < 1 or cpus <= 0:
        raise UsageError("--parallelism must be at least 1 and --cpus positive.")
    if timeout is not None and timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds.")
    root_path = Path.cwd() if root is None else Path(root)
    notebooks, within = course.layout(assignment, Path(submissions), root=root_path)
    parts = [
        load_assignment(assignment, root=root_path, notebook=nb).with_timeout(timeout) for nb in notebooks
    ]
    loaded, several = parts[0], len(parts) > 1
    title = loaded.folder.name if several else loaded.name
    out_path = Path(out).resolve()
    if out_path == loaded.folder or loaded.folder in out_path.parents:
        raise UsageError(f"--out {out_path} is inside the assignment's source folder; choose another folder.")
    jobs = out_path / "jobs"
    shutil.rmtree(jobs, ignore_errors=True)
    jobs.mkdir(parents=True)
    files: dict[str, bytes] = {}
    index: list[dict[str, Any]] = []
    for part in parts:
        subs = collect(
            Path(submissions),
            part.name,
            staging=out_path / INCOMING_DIR / part.name if several else out_path / INCOMING_DIR,
            max_bytes=part.config.max_notebook_bytes,
            grade_ids=frozenset(s.grade_id for s in part.specs),
            within=within,
        )
        for sub in subs:
            i = len(index)
            job = job_from_submission(sub)
            notebook = job.pop("notebook")
            job["fingerprint"] = fingerprint(sub, part)
            entry = {
                "index": i,
                "student_id": sub.student_id,
                "fingerprint": job["fingerprint"],
                "lms": job["lms"],
            }
            if several:  # the pod grades this notebook of the assignment (grade-one reads it from the job)
                job["source_notebook"] = entry["notebook"] = part.name
            files[f"{i}.json"] = json.dumps(job, indent=1, sort_keys=True).encode()
            if notebook is not None:
                files[f"{i}.ipynb"] = notebook
            index.append(entry)
    if not index:
        raise UsageError(f"no submissions found in {submissions}.")
    for name, data in files.items():
        (jobs / name).write_bytes(data)

    name = dns_name(f"autograder-{title}")
    labels = {"app.kubernetes.io/name": "autograder", "autograder/assignment": dns_name(title)}
    meta = {"labels": labels, **({"namespace": namespace} if namespace else {})}
    docs: list[dict[str, Any]] = []
    sources = []
    if jobs_pvc is None:
        for c, chunk in enumerate(_chunks(files, CONFIGMAP_BUDGET)):
            cm_name = f"{name}-jobs-{c}"
            docs.append({
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm_name, **meta},
                "data": {k: v.decode() for k, v in chunk.items() if k.endswith(".json")},
                "binaryData": {k: _b64(v) for k, v in chunk.items() if k.endswith(".ipynb")},
            })  # fmt: skip
            sources.append({"configMap": {"name": cm_name}})
        jobs_volume = {"name": "jobs", "projected": {"sources": sources}}
    else:
        jobs_volume = {"name": "jobs", "persistentVolumeClaim": {"claimName": jobs_pvc, "readOnly": True}}
    docs.append({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": f"{name}-deny-all", **meta},
        "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress", "Egress"]},
    })  # fmt: skip
    size = results_size_gb if results_size_gb is not None else max(1.0, 2 * len(index) / 1024)
    docs.append({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": results_pvc, **meta},
        "spec": {"accessModes": ["ReadWriteMany"],
                 "resources": {"requests": {"storage": f"{math.ceil(size)}Gi"}}},
    })  # fmt: skip
    docs.append(
        _job(
            name,
            meta,
            labels,
            image,
            loaded,
            title,
            len(index),
            parallelism,
            cpus,
            timeout,
            jobs_volume,
            results_pvc,
        )
    )

    (out_path / "job.yaml").write_text(
        "# Written by `autograder k8s`: `kubectl apply -f job.yaml` (README, Grading at scale).\n"
        + yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=120),
        encoding="utf-8",
    )
    (out_path / "Dockerfile").write_text(dockerfile(title), encoding="utf-8")
    # What collect checks each pod's result against: the source as it was (each notebook's, if several).
    source = (
        {"notebooks": {p.name: p.fingerprint for p in parts}}
        if several
        else {"assignment_fingerprint": loaded.fingerprint}
    )
    plan = {"assignment": title, **source, "timeout": timeout, "job": name, "submissions": index}
    (out_path / "plan.json").write_text(json.dumps(plan, indent=1), encoding="utf-8")
    return K8sPlan(out_path, name, len(index), len(sources))


def _job(
    name: str,
    meta: dict,
    labels: dict,
    image: str,
    loaded: Any,
    assignment: str,
    count: int,
    parallelism: int,
    cpus: float,
    timeout: float | None,
    jobs_volume: dict,
    results_pvc: str,
) -> dict[str, Any]:
    limits = loaded.config.limits
    # The notebook's and the verifier's address spaces bound their memory; the notebook's two RAM-backed
    # tmpfs (workdir, /tmp) count too.
    verifier = limits.verifier_memory_bytes or limits.memory_bytes
    memory = _quantity(limits.memory_bytes + verifier + 2 * limits.disk_bytes + GRADER_MEMORY)
    resources = {"cpu": f"{cpus:g}", "memory": memory}
    args = ["grade-one", assignment, "/jobs/$(INDEX).ipynb", "--meta", "/jobs/$(INDEX).json",
            "--out", "/results/$(INDEX)", "--sandbox", SandboxMode.STRICT.value]  # fmt: skip
    if timeout is not None:
        args += ["--timeout", f"{timeout:g}"]
    container = {
        "name": "grader",
        "image": image,
        "command": ["autograder"],
        "args": args,
        "workingDir": COURSE_DIR,
        "env": [
            {
                "name": "INDEX",
                "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}},
            },
            {"name": "HOME", "value": "/tmp"},
            {"name": "DLCOURSE_DATA", "value": DATA_DIR},
            {"name": "TF_ENABLE_ONEDNN_OPTS", "value": "0"},
            {"name": "TF_CPP_MIN_LOG_LEVEL", "value": "3"},
            {"name": "OMP_NUM_THREADS", "value": str(max(1, math.ceil(cpus)))},
        ],
        "resources": {"requests": dict(resources), "limits": dict(resources)},
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": list(CAPABILITIES)},
            "seccompProfile": {"type": "RuntimeDefault"},
            "appArmorProfile": {"type": "Unconfined"},
        },
        "volumeMounts": [
            {"name": "jobs", "mountPath": "/jobs", "readOnly": True},
            {"name": "results", "mountPath": "/results"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, **meta},
        "spec": {
            "completionMode": "Indexed",
            "completions": count,
            "parallelism": min(parallelism, count),
            "backoffLimitPerIndex": 2,  # a pod lost with its node is retried; a failed grade is a result
            "maxFailedIndexes": count,
            "podReplacementPolicy": "Failed",
            "podFailurePolicy": POD_FAILURE_POLICY,
            "ttlSecondsAfterFinished": 7 * 24 * 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "activeDeadlineSeconds": int(limits.submission_timeout + limits.startup_timeout + 300),
                    "containers": [container],
                    "volumes": [
                        jobs_volume,
                        {"name": "results", "persistentVolumeClaim": {"claimName": results_pvc}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": _quantity(2 * limits.disk_bytes)}},
                    ],
                },
            },
        },
    }


def dockerfile(assignment: str) -> str:
    """The grading image's Dockerfile (build context: the course root; the data as a named context)."""
    return f"""\
# syntax=docker/dockerfile:1
# The grading image for {assignment}, written by `autograder k8s`. Build it from the course root:
#   docker buildx build -f THIS_FILE --build-context data="$DLCOURSE_DATA" -t IMAGE --push .
# It holds the course kit, the assignment's source (hidden tests included: never give this image to
# students) and the course data; the sandbox shows a notebook only the system, Python and {DATA_DIR}.
FROM python:3.11-slim-bookworm
# unshare and setpriv build the sandbox (autograder/sandbox/); libseccomp2 is its system-call filter.
RUN apt-get update && apt-get install -y --no-install-recommends util-linux libseccomp2 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR {COURSE_DIR}
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY pyproject.toml README.md nbgrader_config.py ./
COPY autograder/ autograder/
COPY dlcourse/ dlcourse/
COPY solutions/{assignment}/ solutions/{assignment}/
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e . && python -c "import autograder.cli"
COPY --from=data . {DATA_DIR}/
ENV DLCOURSE_DATA={DATA_DIR} TF_ENABLE_ONEDNN_OPTS=0 TF_CPP_MIN_LOG_LEVEL=3
ENTRYPOINT ["autograder"]
"""
