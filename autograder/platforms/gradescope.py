"""Gradescope: the autograder zip (``autograder gradescope``) and what runs in it for each submission.

Follows Gradescope's autograder specification (gradescope-autograders.readthedocs.io, "Autograder
Specifications"): ``setup.sh`` and ``run_autograder`` at the zip's root, the zip extracted to
``/autograder/source``, the upload in ``/autograder/submission``, the verdict in
``/autograder/results/results.json``. ``run_autograder`` takes its root from ``GRADESCOPE_ROOT``
(default ``/autograder``), so the tests run it end to end in a temporary folder.

``results.json``: a top-level ``score`` (the autograded points), ``execution_time``, ``output`` (notes,
or why a submission could not be graded), ``stdout_visibility: hidden`` (the grader's log is for the
instructor), and one test per graded cell: ``name`` = grade id, ``score``, ``max_score``, ``status``,
``output`` (the message a student may see; never hidden test code) and ``visibility`` (``visible``, or
the instructor's choice for a cell holding hidden tests, default ``after_published``). A written answer
is a test worth 0 of 0 saying it is graded by hand: its points are a manually graded question beside
the autograder score in Gradescope, so the autograder's total is never an incomplete one.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from autograder import reports
from autograder.errors import UsageError
from autograder.platforms import Settings, grade_upload, has_hidden_tests, write_kit
from autograder.results import CellResult, Status, SubmissionResult
from autograder.source import Assignment

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04 base image).
# It installs the pinned environment and the course kit into /autograder/venv.
set -euo pipefail
cd /autograder/source
apt-get update
apt-get install -y --no-install-recommends python3.11 python3.11-venv util-linux
python3.11 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip setuptools
/autograder/venv/bin/pip install -r kit/requirements.txt
/autograder/venv/bin/pip install --no-deps --no-build-isolation ./kit
/autograder/venv/bin/python -c "import autograder.platforms.gradescope"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission/*.ipynb with the course's
# autograder and write /autograder/results/results.json. GRADESCOPE_ROOT replaces /autograder (tests).
set -euo pipefail
ROOT="${GRADESCOPE_ROOT:-/autograder}"
export DLCOURSE_DATA="$ROOT/source/data" TF_ENABLE_ONEDNN_OPTS=0 TF_CPP_MIN_LOG_LEVEL=3
PYTHON="${AUTOGRADER_PYTHON:-/autograder/venv/bin/python}"
exec "$PYTHON" -m autograder.platforms.gradescope "$ROOT"
"""

HAND_GRADED = "Written answer ({points:g} points): graded by hand by your instructor, not part of this score."
NOT_GRADED = "This submission could not be graded: {reason}. Nothing was scored; fix it and submit again."


def write_zip(
    assignment: str | Path,
    out: str | Path,
    *,
    root: str | Path | None = None,
    hidden_visibility: str | None = None,
    sandbox_mode: str = "strict",
) -> Path:
    """Write ``OUT/autograder-<assignment>.zip`` for Gradescope's "Configure Autograder" page.

    Args:
        assignment: the assignment's name (under ``ROOT/solutions``) or its source folder.
        out: the folder to write the zip into (created).
        root: the course root (default: current directory).
        hidden_visibility: Gradescope visibility of tests holding hidden tests (default: the
            ``[platforms] hidden_visibility`` of ``autograder.toml``, else ``after_published``).
        sandbox_mode: ``strict`` refuses to grade where the container cannot build the sandbox; ``warn``
            grades with rlimits and the verifier only (see the README: Gradescope's containers).

    Returns:
        The zip's path.

    Raises:
        UsageError: unknown assignment, missing data file, bad visibility.
    """
    out_path = Path(out)
    out_path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="autograder-gradescope-") as tmp:
        staging = Path(tmp)
        loaded, _settings = write_kit(
            assignment, staging, root=root, hidden_visibility=hidden_visibility, sandbox_mode=sandbox_mode
        )
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            (staging / name).write_text(text, encoding="utf-8")
            (staging / name).chmod(0o755)
        target = out_path / f"autograder-{loaded.name}.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(staging.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(staging).as_posix())
    return target


def _test(cell: CellResult, assignment: Assignment, settings: Settings) -> dict[str, Any]:
    if cell.manual:
        return {
            "name": cell.grade_id, "score": 0.0, "max_score": 0.0, "visibility": "visible",
            "output": HAND_GRADED.format(points=cell.max_points),
        }  # fmt: skip
    hidden = has_hidden_tests(assignment, cell.grade_id)
    return {
        "name": cell.grade_id,
        "score": float(cell.points or 0.0),
        "max_score": float(cell.max_points),
        "status": "passed" if cell.passed else "failed",
        "output": cell.message or ("passed" if cell.passed else "failed"),
        "visibility": settings.hidden_visibility if hidden else "visible",
    }


def results(
    result: SubmissionResult | None, assignment: Assignment | None, settings: Settings, seconds: float
) -> dict[str, Any]:
    """The ``results.json`` payload for one graded (or failed) submission."""
    base = {"execution_time": round(seconds), "stdout_visibility": "hidden", "output_format": "text"}
    if result is None or assignment is None or result.status is Status.FAILED:
        reason = result.reason if result is not None else "the grader could not run"
        return {**base, "score": 0.0, "output": NOT_GRADED.format(reason=reason.rstrip(".")), "tests": []}
    payload: dict[str, Any] = {**base, "score": result.total}
    if result.reason:
        payload["output"] = f"Notes: {result.reason}"
    payload["tests"] = [_test(cell, assignment, settings) for cell in result.cells]
    return payload


def run(root: Path) -> int:
    """Grade ``root/submission`` with the bundle in ``root/source``; write ``root/results/results.json``.

    Returns:
        0 when results were written; 2 when the grader cannot run here (no results: Gradescope then
        reports an autograder failure to the instructor instead of a silent zero).
    """
    source = root / "source"
    settings = Settings.read(source)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="autograder-gs-") as tmp:
        try:
            assignment, result = grade_upload(source, root / "submission", Path(tmp))
        except UsageError as error:
            print(f"autograder: cannot grade here: {error}", file=sys.stderr)
            return 2
    payload = results(result, assignment, settings, time.monotonic() - start)
    reports.write_atomic(root / "results" / "results.json", json.dumps(payload, indent=1) + "\n")
    print(f"{result.student_id}: {result.status} {result.total:g} / {result.max_total:g}")
    return 0


if __name__ == "__main__":
    sys.exit(
        run(Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("GRADESCOPE_ROOT", "/autograder")))
    )
