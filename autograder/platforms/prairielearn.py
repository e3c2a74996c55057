"""PrairieLearn: an external-grader folder (``autograder prairielearn``) and its entry point.

Follows PrairieLearn's external grading documentation ("External Grading": the container gets the
student's files in ``/grade/student/`` and must write ``/grade/results/results.json``). ``grade.sh``
takes its root from ``PRAIRIELEARN_ROOT`` (default ``/grade``), so the tests run it end to end here.

``results.json``: ``gradable`` (``false``, with a ``message``, when the upload cannot be graded: it
then costs the student no attempt), ``score`` in [0, 1] (autograded points over autograded maximum),
``message``, ``output`` (notes), and ``tests[]`` with ``name`` (grade id), ``points``, ``max_points``,
``message`` and ``output``. A written answer is a test worth 0 of 0 saying it is graded by hand
(PrairieLearn's manual grading adds its points). The file is kept under 1 MB.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from autograder import reports
from autograder.errors import UsageError
from autograder.platforms import grade_upload, write_kit
from autograder.results import Status, SubmissionResult

MAX_BYTES = 1_000_000
MAX_MESSAGE = 20_000
IMAGE_HOME = "/opt/autograder"

GRADE_SH = """\
#!/usr/bin/env bash
# PrairieLearn's entry point: grade /grade/student/ with the course's autograder and write
# /grade/results/results.json. PRAIRIELEARN_ROOT replaces /grade (tests).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="${PRAIRIELEARN_ROOT:-/grade}"
export DLCOURSE_DATA="$HERE/source/data" TF_ENABLE_ONEDNN_OPTS=0 TF_CPP_MIN_LOG_LEVEL=3
PYTHON="${AUTOGRADER_PYTHON:-python}"
exec "$PYTHON" -m autograder.platforms.prairielearn "$HERE/source" "$ROOT"
"""

DOCKERFILE = """\
# The external-grading image for {assignment}, written by `autograder prairielearn`. Build and push it:
#   docker build -t REGISTRY/grader-{assignment} . && docker push REGISTRY/grader-{assignment}
# It holds the assignment's source (hidden tests included): keep the image private.
FROM python:3.11-slim-bookworm
# unshare and setpriv build the sandbox (autograder/sandbox/).
RUN apt-get update && apt-get install -y --no-install-recommends util-linux && rm -rf /var/lib/apt/lists/*
WORKDIR {home}
COPY kit/requirements.txt kit/requirements.txt
RUN pip install --no-cache-dir -r kit/requirements.txt
COPY kit/ kit/
RUN pip install --no-cache-dir --no-deps --no-build-isolation ./kit && python -c "import autograder.cli"
COPY source/ source/
COPY grade.sh grade.sh
RUN chmod 0755 grade.sh
"""

INFO = {
    "gradingMethod": "External",
    "singleVariant": True,
    "externalGradingOptions": {
        "enabled": True,
        "image": "REGISTRY/grader-{assignment}",
        "entrypoint": f"{IMAGE_HOME}/grade.sh",
        "timeout": 600,
    },
}
HAND_GRADED = "Written answer ({points:g} points): graded by hand, not part of this score."


def write_grader(
    assignment: str | Path,
    out: str | Path,
    *,
    root: str | Path | None = None,
    sandbox_mode: str = "strict",
) -> Path:
    """Write the external-grader folder: ``Dockerfile``, ``grade.sh``, ``kit/``, ``source/``, ``info.json``.

    ``info.json`` is the question's ``externalGradingOptions`` to merge into the question's own.

    Returns:
        The folder.

    Raises:
        UsageError: unknown assignment, missing data file.
    """
    out_path = Path(out)
    source = out_path / "source"
    if source.exists():
        shutil.rmtree(source)
    loaded, _settings = write_kit(assignment, source, root=root, sandbox_mode=sandbox_mode)
    shutil.rmtree(out_path / "kit", ignore_errors=True)
    (source / "kit").rename(out_path / "kit")
    (out_path / "Dockerfile").write_text(
        DOCKERFILE.format(assignment=loaded.name, home=IMAGE_HOME), encoding="utf-8"
    )
    (out_path / "grade.sh").write_text(GRADE_SH, encoding="utf-8")
    (out_path / "grade.sh").chmod(0o755)
    info = json.loads(json.dumps(INFO).replace("{assignment}", loaded.name))
    info["externalGradingOptions"]["timeout"] = int(loaded.config.limits.submission_timeout) + 60
    (out_path / "info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out_path


def _cap(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else text[:limit] + "\n[truncated]"


def results(result: SubmissionResult) -> dict[str, Any]:
    """The ``results.json`` payload (at most :data:`MAX_BYTES` once encoded)."""
    if result.status is Status.FAILED:
        reason = _cap(result.reason.rstrip("."))
        return {
            "gradable": False,
            "message": f"This submission could not be graded: {reason}. Fix it and submit again.",
            "tests": [],
        }
    tests = []
    for cell in result.cells:
        if cell.manual:
            text = HAND_GRADED.format(points=cell.max_points)
            tests.append({"name": cell.grade_id, "points": 0, "max_points": 0, "message": text, "output": ""})
        else:
            tests.append(
                {
                    "name": cell.grade_id,
                    "points": float(cell.points or 0.0),
                    "max_points": float(cell.max_points),
                    "message": _cap(cell.message or ("passed" if cell.passed else "failed")),
                    "output": "",
                }
            )
    score = result.total / result.max_total if result.max_total else 0.0
    payload: dict[str, Any] = {
        "gradable": True,
        "score": min(1.0, max(0.0, score)),
        "message": f"Autograded: {result.total:g} / {result.max_total:g} points.",
        "output": _cap(f"Notes: {result.reason}") if result.reason else "",
        "tests": tests,
    }
    while len(json.dumps(payload).encode()) > MAX_BYTES:  # only pathological messages get here
        longest = max(payload["tests"], key=lambda t: len(t["message"]))
        longest["message"] = _cap(longest["message"], len(longest["message"]) // 2)
    return payload


def run(source: Path, root: Path) -> int:
    """Grade ``root/student`` with the bundle in ``source``; write ``root/results/results.json``.

    Returns:
        0 when results were written; 2 when the grader cannot run here (no results written).
    """
    with tempfile.TemporaryDirectory(prefix="autograder-pl-") as tmp:
        try:
            _assignment, result = grade_upload(source, root / "student", Path(tmp))
        except UsageError as error:
            print(f"autograder: cannot grade here: {error}", file=sys.stderr)
            return 2
    reports.write_atomic(root / "results" / "results.json", json.dumps(results(result), indent=1) + "\n")
    print(f"{result.student_id}: {result.status} {result.total:g} / {result.max_total:g}")
    return 0


if __name__ == "__main__":
    sys.exit(
        run(
            Path(sys.argv[1]),
            Path(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("PRAIRIELEARN_ROOT", "/grade")),
        )
    )
