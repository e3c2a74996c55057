"""Can an instructor grade written answers in nbgrader's own formgrader, and do the scores flow back?

``autograder formgrader`` prepares the output folder; nbgrader's formgrader (a Jupyter server extension)
is started headless on it once, its REST API lists our submission and takes a score and a comment the
way its Manual Grading page sends them; ``autograder report`` then carries them to every output.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import TOY, autograder_cli

JUPYTER = Path(sys.executable).parent / "jupyter"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, port: int, token: str) -> None:
        self.base, self.token = f"http://127.0.0.1:{port}", token

    def call(self, path: str, method: str = "GET", body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"token {self.token}")
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
        return json.loads(text) if text.lstrip().startswith(("[", "{")) else text


@pytest.fixture
def formgrader(toy_out, tmp_path):
    done = autograder_cli("formgrader", str(TOY), str(toy_out))
    assert done.returncode == 0, done.stderr
    assert "jupyter lab" in done.stderr
    if not JUPYTER.exists():
        pytest.skip("jupyter is not installed beside this Python")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "PATH": f"{JUPYTER.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter-config")  # nothing from the user's own setup
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "jupyter-runtime")
    log = open(tmp_path / "server.log", "w")
    process = subprocess.Popen(
        [str(JUPYTER), "server", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={toy_out}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=toy_out, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = Server(port, token)
    try:
        for _ in range(240):
            try:
                server.call("/formgrader/api/status")
                break
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.5)
        else:
            pytest.fail("formgrader did not start: " + (tmp_path / "server.log").read_text()[-3000:])
        if process.poll() is not None:
            pytest.fail("jupyter server exited: " + (tmp_path / "server.log").read_text()[-3000:])
        yield toy_out, server
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_formgrader_lists_our_submission_and_its_scores_reach_the_canvas_export(formgrader):
    out, server = formgrader
    config = (out / "nbgrader_config.py").read_text()
    assert "gradebook.db" in config and str(out) not in config  # relative to the file, never absolute
    assert (out / "source" / "toy" / "toy.ipynb").is_file()
    submissions = {s["student"]: s for s in server.call("/formgrader/api/submitted_notebooks/toy/toy")}
    assert set(submissions) == {"correct", "untouched", "partially-wrong"}  # not-json has no grades
    correct = submissions["correct"]
    assert correct["needs_manual_grade"] is True
    page = server.call(f"/formgrader/submissions/{correct['id']}")  # the Manual Grading page renders it
    assert "explain" in page and "Shifting every logit" in page
    assert "cdnjs" not in page and "../../files/feedback/_static/mathjax/tex-chtml.js" in page
    script = server.call("/files/feedback/_static/mathjax/tex-chtml.js")  # the page's relative address
    assert script == (out / "feedback" / "_static" / "mathjax" / "tex-chtml.js").read_text()
    grades = {g["name"]: g for g in server.call(f"/formgrader/api/grades?submission_id={correct['id']}")}
    server.call(f"/formgrader/api/grade/{grades['explain']['id']}", "PUT", {"manual_score": 1})
    comments = {c["name"]: c for c in server.call(f"/formgrader/api/comments?submission_id={correct['id']}")}
    server.call(f"/formgrader/api/comment/{comments['explain']['id']}", "PUT", {"manual_comment": "Why c?"})

    done = autograder_cli("report", str(TOY), str(out))
    assert done.returncode == 0, done.stderr
    with open(out / "grades.csv", newline="") as handle:
        row = {r["student_id"]: r for r in csv.DictReader(handle)}["correct"]
    assert row["explain (manual)"] == "1"
    with open(out / "canvas-toy.csv", newline="") as handle:
        assert {r["ID"]: r["toy"] for r in csv.DictReader(handle)}["correct"] == "6"
    assert "Why c?" in (out / "feedback" / "correct" / "toy.html").read_text()
