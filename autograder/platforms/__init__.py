"""Grading one upload inside a hosted platform's container (Gradescope, PrairieLearn) with our pipeline.

Both platforms run a script of ours once per submission in a container built from files we ship.
:func:`write_kit` writes those files: the pinned ``requirements.txt``, this project (the ``autograder``
and ``dlcourse`` packages, ``pyproject.toml``), the assignment's source folder (hidden tests included:
never give the bundle to students), the course's ``nbgrader_config.py``, the data files the homework
reads (``[platforms] data`` in ``autograder.toml``) and ``platform.json`` (the assignment's name and the
settings chosen when the bundle was written). :func:`grade_upload` grades a student's upload with
:func:`autograder.api.grade` (the same collection, pipeline, sandbox and verifier as a batch) in a
scratch folder; the platform modules translate the result into the platform's format.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from autograder import api, reports
from autograder.errors import UsageError
from autograder.results import SubmissionResult
from autograder.source import Assignment, load_assignment

PROJECT = Path(__file__).resolve().parents[2]  # the course kit this package is installed from
KIT_FILES = ("requirements.txt", "pyproject.toml", "README.md")
KIT_PACKAGES = ("autograder", "dlcourse")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "feedback")
SETTINGS = "platform.json"
DATA = "data"


@dataclass(frozen=True)
class Settings:
    """What a bundle was written with (``platform.json``)."""

    assignment: str
    hidden_visibility: str = "after_published"
    sandbox_mode: str = "strict"

    @classmethod
    def read(cls, source: Path) -> Settings:
        """The settings in ``source/platform.json``."""
        return cls(**json.loads((source / SETTINGS).read_text(encoding="utf-8")))


def write_kit(
    assignment: str | Path,
    target: Path,
    *,
    root: str | Path | None = None,
    hidden_visibility: str | None = None,
    sandbox_mode: str = "strict",
) -> tuple[Assignment, Settings]:
    """Write everything a platform's image needs to grade ``assignment`` into ``target`` (created).

    Layout: ``kit/`` (installable project), ``solutions/<name>/``, ``nbgrader_config.py``, ``data/``,
    ``platform.json``.

    Raises:
        UsageError: unknown assignment, a data file that is missing, an unknown visibility.
    """
    from autograder.config import VISIBILITIES

    root_path = Path.cwd() if root is None else Path(root)
    loaded = load_assignment(assignment, root=root_path)
    visibility = hidden_visibility or loaded.config.hidden_visibility
    if visibility not in VISIBILITIES:
        raise UsageError(f"--hidden-visibility must be one of {', '.join(VISIBILITIES)}.")
    if sandbox_mode not in ("strict", "warn"):
        raise UsageError("--sandbox must be strict or warn.")
    target.mkdir(parents=True, exist_ok=True)
    kit = target / "kit"
    kit.mkdir(parents=True, exist_ok=True)
    for name in KIT_FILES:
        shutil.copy2(PROJECT / name, kit / name)
    for package in KIT_PACKAGES:
        shutil.copytree(PROJECT / package, kit / package, ignore=SKIP, dirs_exist_ok=True)
    shutil.copytree(loaded.folder, target / "solutions" / loaded.name, ignore=SKIP, dirs_exist_ok=True)
    if (root_path / "nbgrader_config.py").is_file():
        shutil.copy2(root_path / "nbgrader_config.py", target / "nbgrader_config.py")
    (target / DATA).mkdir(exist_ok=True)
    if loaded.config.platform_data:
        data_dir = Path(os.environ.get("DLCOURSE_DATA", ""))
        for name in loaded.config.platform_data:
            source = data_dir / name
            if not source.is_file() or not os.environ.get("DLCOURSE_DATA"):
                raise UsageError(
                    f"data file {name!r} ([platforms] data in autograder.toml) is not in $DLCOURSE_DATA "
                    f"({data_dir}); set DLCOURSE_DATA to the course's data folder."
                )
            (target / DATA / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / DATA / name)
    settings = Settings(loaded.name, visibility, sandbox_mode)
    (target / SETTINGS).write_text(json.dumps(settings.__dict__, indent=1) + "\n", encoding="utf-8")
    return loaded, settings


def grade_upload(
    source: Path, upload: Path, scratch: Path, *, student_id: str = "student"
) -> tuple[Assignment, SubmissionResult]:
    """Grade the notebooks a student uploaded (``upload``, any depth) as a batch of one.

    The platform's script points ``DLCOURSE_DATA`` at the shipped ``data/`` before it starts Python.
    The upload's notebooks are copied into ``scratch/students/<id>/``, so collection picks the one to
    grade exactly as in a batch (the expected name, or the notebook holding the grade ids), and a
    missing or broken notebook becomes a failed result with its reason.

    Raises:
        UsageError: the grader cannot run here (a sandbox that cannot be built in strict mode).
    """
    settings = Settings.read(source)
    folder = scratch / "students" / student_id
    folder.mkdir(parents=True, exist_ok=True)
    if upload.is_dir():
        for notebook in sorted(upload.rglob("*.ipynb")):
            if notebook.is_file() and ".ipynb_checkpoints" not in notebook.parts:
                shutil.copyfile(notebook, folder / notebook.name)
    report = api.grade(
        source / "solutions" / settings.assignment, scratch / "students", out=scratch / "out", root=source,
        sandbox_mode=settings.sandbox_mode,
    )  # fmt: skip
    log = scratch / "out" / reports.ERROR_LOG
    if log.is_file():  # the instructor reads the platform's log of the grading script; students do not
        print(log.read_text(encoding="utf-8", errors="replace"))
    return load_assignment(source / "solutions" / settings.assignment, root=source), report.results[0]


def has_hidden_tests(assignment: Assignment, grade_id: str) -> bool:
    """Whether the instructor's version of a test cell holds more than the released one (hidden tests)."""
    from autograder.source import nb_meta

    master = {nb_meta(c).get("grade_id"): c.source for c in assignment.master.cells}
    release = {nb_meta(c).get("grade_id"): c.source for c in assignment.release.cells}
    return master.get(grade_id) != release.get(grade_id)
