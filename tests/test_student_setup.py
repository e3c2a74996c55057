"""Can a student set up the course with one command, without the book build?

A fresh virtual environment gets only the student's install (README, "A student's set-up"): the package
from this repository with the ``validate`` extra, the versions held to ``requirements.txt``. There hw1's
solution runs from top to bottom, ``autograder check`` passes it, and JupyterLab shows nbgrader's student
tools only. pip reads its cache when the packages are there (the course's environment was installed on
this machine); still, installing JupyterLab and nbgrader is most of this module's time: 5-7 minutes in
all, measured on the 2-core machine with other builds running (load average 11-13).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HW1 = ROOT / "solutions" / "hw1_backprop" / "hw1_backprop.ipynb"

# What a checkout holds besides the package (a `pip install git+URL` clones all of it; these are not needed
# to build the wheel and some are large or generated).
_NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "_build", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache",
    "tests", "book", "solutions", "assignments", "bench",
)  # fmt: skip


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=900, **kwargs)


@pytest.fixture(scope="module")
def student_env(tmp_path_factory) -> dict:
    """A fresh virtual environment with only the student's install; returns its paths and set-up time."""
    tmp = tmp_path_factory.mktemp("student")
    source = tmp / "dlcourse-kit"
    shutil.copytree(ROOT, source, ignore=_NOT_COPIED)
    venv = tmp / "env"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    # Nothing from the user's own Jupyter set-up (kernels, config) leaks in.
    env["JUPYTER_CONFIG_DIR"] = str(tmp / "jupyter-config")
    env["JUPYTER_DATA_DIR"] = str(tmp / "jupyter-data")
    start = time.monotonic()
    made = _run([sys.executable, "-m", "venv", str(venv)], env=env)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "requirements.txt")]
    done = _run([*install, f"{source}[validate]"], env=env, cwd=tmp)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"tmp": tmp, "venv": venv, "python": python, "env": env, "seconds": time.monotonic() - start}


def _installed(student_env, name: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is None)"
    return (
        _run(
            [str(student_env["python"]), "-c", probe], env=student_env["env"], cwd=student_env["tmp"]
        ).returncode
        == 0
    )


@pytest.mark.slow
def test_the_student_install_is_the_package_not_the_checkout(student_env):
    print(f"student set-up (venv + pip install): {student_env['seconds']:.0f} s")
    where = _run(
        [str(student_env["python"]), "-c", "import dlcourse, autograder; print(dlcourse.__file__)"],
        env=student_env["env"], cwd=student_env["tmp"],
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(student_env["venv"])
    # hw1 needs NumPy and Matplotlib only: the Keras extra was not asked for, so it is not there.
    assert not _installed(student_env, "tensorflow") and not _installed(student_env, "keras")
    # Held to the course's exact versions (requirements.txt), like the course's own environment.
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.M))
    frozen = _run([str(student_env["python"]), "-m", "pip", "freeze"], env=student_env["env"]).stdout
    versions = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", frozen, re.M))
    for name in ("numpy", "matplotlib", "nbgrader", "nbformat"):
        assert versions.get(name) == pins[name], (
            f"{name}: {versions.get(name)} installed, {pins[name]} pinned"
        )


@pytest.mark.slow
def test_hw1_solution_runs_and_checks_in_the_student_environment(student_env, data_dir):
    folder = student_env["tmp"] / "hw1"
    folder.mkdir()
    notebook = folder / HW1.name
    shutil.copyfile(HW1, notebook)
    env = {**student_env["env"], "DLCOURSE_DATA": str(data_dir)}
    bin_dir = student_env["venv"] / "bin"
    ran = _run(
        [str(bin_dir / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--output", "executed.ipynb",
         "--ExecutePreprocessor.kernel_name=python3", str(notebook)],
        env=env, cwd=folder,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert (folder / "executed.ipynb").is_file()

    checked = _run([str(bin_dir / "autograder"), "check", str(notebook)], env=env, cwd=folder)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    # The solution earns every autograded point (the written answer is graded by hand).
    score = re.search(r"Public tests: (\S+) / (\S+) points", checked.stdout)
    assert score and score.group(1) == score.group(2) and float(score.group(2)) > 0, checked.stdout


@pytest.mark.slow
def test_the_student_jupyterlab_has_no_instructor_tools(student_env):
    bin_dir = student_env["venv"] / "bin"
    lab = _run([str(bin_dir / "jupyter"), "labextension", "list"], env=student_env["env"])
    assert lab.returncode == 0, lab.stderr
    listing = lab.stdout + lab.stderr
    disabled = listing.split("Disabled extensions:")[1] if "Disabled extensions:" in listing else ""
    for plugin in ("formgrader", "create-assignment", "course-list"):
        assert f"@jupyter/nbgrader:{plugin}" in disabled, listing
    for plugin in ("validate-assignment", "assignment-list"):
        assert f"@jupyter/nbgrader:{plugin}" not in disabled, listing

    server = _run([str(bin_dir / "jupyter"), "server", "extension", "list"], env=student_env["env"])
    assert server.returncode == 0, server.stderr
    listing = re.sub(r"\x1b\[[0-9;]*m", "", server.stdout + server.stderr)  # without its colours
    states = dict(re.findall(r"(nbgrader\.server_extensions\.\w+) (enabled|disabled)", listing))
    assert states.get("nbgrader.server_extensions.formgrader") == "disabled", states
    assert states.get("nbgrader.server_extensions.course_list") == "disabled", states
    assert states.get("nbgrader.server_extensions.validate_assignment") == "enabled", states
