"""Do the Gradescope zip and the PrairieLearn grader folder grade a submission end to end, per spec?

Each is written with the CLI, unpacked into a temporary root standing for ``/autograder`` or ``/grade``,
given one submission (solution, wrong, blank, broken), and run with its own script.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import TOY, TOY_SUBMISSIONS, autograder_cli

SCENARIOS = {  # submission -> (autograded score, test verdicts) or None when it cannot be graded
    "correct": (5.0, {"square-test": "passed", "softmax-test": "passed"}),
    "partially-wrong": (2.0, {"square-test": "passed", "softmax-test": "failed"}),
    "untouched": (0.0, {"square-test": "failed", "softmax-test": "failed"}),
    "not-json": None,
}


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "AUTOGRADER_PYTHON": sys.executable, **extra}


@pytest.fixture(scope="module")
def gradescope_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gradescope")
    done = autograder_cli("gradescope", str(TOY), "--out", str(out), "--hidden-visibility", "after_due_date")
    assert done.returncode == 0, done.stderr
    return out / "autograder-toy.zip"


def test_the_zip_has_what_gradescope_expects_at_its_root(gradescope_zip):
    with zipfile.ZipFile(gradescope_zip) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    assert {"setup.sh", "run_autograder", "platform.json", "solutions/toy/toy.ipynb"} <= names
    assert {"kit/requirements.txt", "kit/pyproject.toml", "kit/autograder/cli.py"} <= names
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert not any("__pycache__" in n for n in names)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_run_autograder_writes_results_json_per_the_specification(gradescope_zip, tmp_path, scenario):
    root = tmp_path / "autograder"
    with zipfile.ZipFile(gradescope_zip) as archive:
        archive.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    shutil.copyfile(TOY_SUBMISSIONS / f"{scenario}.ipynb", root / "submission" / "toy.ipynb")
    done = subprocess.run(
        [str(root / "source" / "run_autograder")], env=_env(GRADESCOPE_ROOT=str(root)), capture_output=True,
        text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert isinstance(results["execution_time"], int) and results["stdout_visibility"] == "hidden"
    expected = SCENARIOS[scenario]
    if expected is None:
        assert results["score"] == 0 and results["tests"] == []
        assert results["output"].startswith("This submission could not be graded: not a notebook")
        return
    score, verdicts = expected
    assert results["score"] == score
    tests = {t["name"]: t for t in results["tests"]}
    assert set(tests) == {"square-test", "softmax-test", "explain"}
    for name, status in verdicts.items():
        assert tests[name]["status"] == status
        assert tests[name]["max_score"] == {"square-test": 2.0, "softmax-test": 3.0}[name]
        assert tests[name]["visibility"] == "after_due_date"  # both toy tests hold hidden tests
    assert tests["explain"]["max_score"] == 0 and "graded by hand" in tests["explain"]["output"]
    assert sum(t["score"] for t in results["tests"]) == score
    text = json.dumps(results)
    assert "_big_logits" not in text and "BEGIN HIDDEN" not in text  # hidden test code never leaks
    if scenario == "partially-wrong":
        assert (
            tests["softmax-test"]["output"] == "AssertionError: softmax overflows: subtract the maximum first"
        )


@pytest.fixture(scope="module")
def prairielearn_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prairielearn") / "grader"
    done = autograder_cli("prairielearn", str(TOY), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_the_prairielearn_folder_has_an_image_an_entry_point_and_options(prairielearn_folder):
    folder = prairielearn_folder
    assert (folder / "grade.sh").stat().st_mode & stat.S_IXUSR
    docker = (folder / "Dockerfile").read_text()
    assert "pip install --no-cache-dir -r kit/requirements.txt" in docker and "util-linux" in docker
    options = json.loads((folder / "info.json").read_text())["externalGradingOptions"]
    assert options["entrypoint"] == "/opt/autograder/grade.sh" and options["timeout"] == 30 + 60


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_grade_sh_writes_prairielearn_results(prairielearn_folder, tmp_path, scenario):
    root = tmp_path / "grade"
    (root / "student").mkdir(parents=True)
    shutil.copyfile(TOY_SUBMISSIONS / f"{scenario}.ipynb", root / "student" / "toy.ipynb")
    done = subprocess.run(
        [str(prairielearn_folder / "grade.sh")], env=_env(PRAIRIELEARN_ROOT=str(root)), capture_output=True,
        text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    path = root / "results" / "results.json"
    assert path.stat().st_size <= 1_000_000
    results = json.loads(path.read_text())
    expected = SCENARIOS[scenario]
    if expected is None:
        assert results["gradable"] is False and "not a notebook" in results["message"]
        return
    score, verdicts = expected
    assert results["gradable"] is True and results["score"] == pytest.approx(score / 5)
    tests = {t["name"]: t for t in results["tests"]}
    assert set(tests) == {"square-test", "softmax-test", "explain"}
    for name, status in verdicts.items():
        test = tests[name]
        assert set(test) == {"name", "points", "max_points", "message", "output"}
        assert (test["points"] == test["max_points"]) == (status == "passed")
    assert tests["explain"]["max_points"] == 0 and "graded by hand" in tests["explain"]["message"]
    assert "_big_logits" not in json.dumps(results)


def test_prairielearn_results_stay_under_one_megabyte():
    from autograder.platforms.prairielearn import MAX_BYTES, results
    from autograder.results import CellResult, Status, SubmissionResult

    cells = tuple(CellResult(f"t{i}", 0.0, 1.0, False, message="x" * 50_000) for i in range(60))
    payload = results(SubmissionResult("s", Status.GRADED, cells=cells))
    assert len(json.dumps(payload).encode()) <= MAX_BYTES and payload["gradable"] is True


def test_platform_settings_come_from_autograder_toml_and_are_checked(tmp_path):
    from autograder.config import load_config
    from autograder.errors import UsageError

    (tmp_path / "autograder.toml").write_text('[platforms]\nhidden_visibility = "hidden"\ndata = ["x.npz"]\n')
    config = load_config(tmp_path)
    assert (config.hidden_visibility, config.platform_data) == ("hidden", ("x.npz",))
    (tmp_path / "autograder.toml").write_text('[platforms]\nhidden_visibility = "later"\n')
    with pytest.raises(UsageError, match="hidden_visibility must be one of"):
        load_config(tmp_path)


def test_a_missing_data_file_is_refused_when_the_zip_is_written(tmp_path, monkeypatch):
    from autograder.errors import UsageError
    from autograder.platforms.gradescope import write_zip

    source = tmp_path / "toy"
    shutil.copytree(TOY, source)
    (source / "autograder.toml").write_text('[platforms]\ndata = ["no-such-file.npz"]\n')
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path))
    with pytest.raises(UsageError, match=r"no-such-file\.npz"):
        write_zip(source, tmp_path / "zip", root=tmp_path)
