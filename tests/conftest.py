"""Shared fixtures: where the real course data lives (and a guard that it is never written), a headless
browser, the toy assignment of the grader's tests and a graded batch of it."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    folder = os.environ.get("DLCOURSE_DATA")
    if not folder:
        pytest.fail(
            "DLCOURSE_DATA is not set: point it at the course's shared/data folder "
            "(`make test` does this when ../shared/data exists)."
        )
    return Path(folder)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets folder; the session fails if any test changed it."""
    folder = _data_dir()
    before = _snapshot(folder)
    yield folder
    assert _snapshot(folder) == before, f"{folder} was modified by the tests"


# --- a headless browser with networking off (the book's pages, feedback pages) -------------------------

_CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_DRIVER = shutil.which("chromedriver")

PAGE_STATE = """
const done = arguments[arguments.length - 1];
const ready = (window.MathJax && MathJax.startup && MathJax.startup.promise)
  ? MathJax.startup.promise : Promise.resolve();
ready.then(() => {
  const imgs = Array.from(document.images);
  done({
    mathjax: !!(window.MathJax && MathJax.version),
    typeset: document.querySelectorAll('mjx-container').length,
    mathErrors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
    rawMath: (document.querySelector('article') || document.body).innerText
               .match(/\\\\\\(|\\\\\\)|\\\\\\[|\\\\\\]|\\$\\$/g) || [],
    brokenImages: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
    images: imgs.length,
    resources: performance.getEntriesByType('resource').map(e => e.name),
  });
}).catch(e => done({error: String(e)}));
"""


def read_page(driver, path: Path) -> tuple[dict, list[str]]:
    """Open ``path`` and return what :data:`PAGE_STATE` reports, plus the console's errors."""
    driver.get(path.resolve().as_uri())
    state = driver.execute_async_script(PAGE_STATE)
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    return state, errors


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (_CHROMIUM and _DRIVER):
        if os.environ.get("DLCOURSE_REQUIRE_BROWSER"):
            pytest.fail("Chromium/chromedriver not found but DLCOURSE_REQUIRE_BROWSER is set")
        pytest.skip("headless Chromium not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        # Networking off: every http(s) request goes to a proxy nobody listens on, and names don't resolve.
        "--proxy-server=http://127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--allow-file-access-from-files",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(_DRIVER))
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# --- the toy assignment (tests/fixtures/autograder, made by its build.py) and its scenario submissions --

TOY_FIXTURES = ROOT / "tests" / "fixtures" / "autograder"
TOY = TOY_FIXTURES / "source" / "toy"
TOY_SUBMISSIONS = TOY_FIXTURES / "submissions"
TOY_STUDENTS = ("correct", "untouched", "partially-wrong", "not-json")


@pytest.fixture(scope="session")
def toy():
    """The toy assignment as the grader loads it (source and release notebooks, grade ids, hidden lines)."""
    from autograder.source import load_assignment

    return load_assignment(TOY)


def toy_students(folder: Path, scenarios: Iterable[str]) -> Path:
    """``folder/<scenario>/toy.ipynb`` for each scenario of ``TOY_SUBMISSIONS``: a submissions folder."""
    for scenario in scenarios:
        (folder / scenario).mkdir(parents=True)
        shutil.copyfile(TOY_SUBMISSIONS / f"{scenario}.ipynb", folder / scenario / "toy.ipynb")
    return folder


# --- a small graded batch of the toy assignment (correct, untouched, partially wrong, not JSON) ---------


def autograder_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 240):
    """Run ``python -m autograder ARGS`` and return the completed process (text output)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True,
        timeout=timeout, env=env,
    )  # fmt: skip


def autograder_in_process(*args: str):
    """Run ``autograder ARGS`` in this process through click's test runner; for usage errors and exit codes
    (a real process is needed only where signals, a kill or the sandbox's start-up matter)."""
    from click.testing import CliRunner

    from autograder import cli

    return CliRunner().invoke(cli.main, list(args))


@pytest.fixture(scope="session")
def toy_batch(tmp_path_factory) -> Path:
    """A graded output folder of four toy submissions; copy it before changing anything in it."""
    subs = toy_students(tmp_path_factory.mktemp("toy-subs"), TOY_STUDENTS)
    out = tmp_path_factory.mktemp("toy-graded") / "out"
    done = autograder_cli("grade", str(TOY), str(subs), "--out", str(out))
    assert done.returncode == 1, done.stderr  # not-json fails
    return out


@pytest.fixture
def toy_out(toy_batch, tmp_path) -> Path:
    """A private copy of :func:`toy_batch`'s output folder."""
    target = tmp_path / "out"
    shutil.copytree(toy_batch, target)
    return target


@pytest.fixture(params=["fresh process", "fork server"])
def start(request):
    """``sandbox.start``, and the same sandbox forked by a fork server (one per call, closed after the test):
    each isolation and protocol test runs both ways a grader starts a sandbox. Where namespaces are
    missing (a test that says so) a fork server cannot exist and both ways start a fresh process."""
    from autograder import sandbox

    if request.param == "fresh process":
        yield sandbox.start
        return
    servers = []

    def forked(**kwargs):
        isolation = kwargs.get("isolation", sandbox.Isolation())
        if sandbox.resolve(isolation) is None:
            return sandbox.start(**kwargs)
        server = sandbox.ForkServer(
            preload=kwargs.get("preload", ()),
            isolation=isolation,
            env_passthrough=kwargs.get("env_passthrough", ()),
            nbgrader_execution=kwargs.get("nbgrader_execution", "autograde"),
            threads=kwargs.get("threads"),
        )
        servers.append(server)
        return sandbox.start(**kwargs, fork_server=server)

    yield forked
    for server in servers:
        server.close()


def read_toy(toy, scenario: str):
    """The fixture submission ``scenario`` as the grader reads it (a notebook node)."""
    from autograder.steps.read import read_notebook

    return read_notebook(TOY_SUBMISSIONS / f"{scenario}.ipynb", max_bytes=toy.config.max_notebook_bytes)[0]


def run_toy(toy, scenario: str, **limits):
    """``scenario`` restored, then run in a student's and a verifier's sandbox: ``(executed, execution)``."""
    from autograder import sandbox
    from autograder.steps.execute import execute
    from autograder.steps.restore import restore

    nb, _ = restore(read_toy(toy, scenario), toy)
    lim = sandbox.Limits(**{"cell_timeout": 5.0, "submission_timeout": 20.0, **limits})
    student, verifier = (
        sandbox.start(limits=lim, preload=("numpy",), role=role) for role in ("student", "verifier")
    )
    return execute(nb, toy, student, verifier)


# --- nbgrader's formgrader, started headless on a prepared output folder ------------------------------


class FormgraderServer:
    """A Jupyter server with nbgrader's formgrader on a course folder; :meth:`call` is its REST API."""

    def __init__(self, port: int, token: str) -> None:
        self.base, self.token = f"http://127.0.0.1:{port}", token

    def call(self, path: str, method: str = "GET", body: dict | None = None):
        import json
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"token {self.token}")
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
        return json.loads(text) if text.lstrip().startswith(("[", "{")) else text


@contextlib.contextmanager
def formgrader_server(course: Path, scratch: Path):
    """Start ``jupyter server`` on ``course`` (a folder ``autograder formgrader`` prepared) and yield a
    :class:`FormgraderServer` once formgrader answers; nothing is read from the user's Jupyter setup."""
    import secrets
    import socket
    import subprocess
    import sys
    import time

    jupyter = Path(sys.executable).parent / "jupyter"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    env = {**os.environ, "PATH": f"{jupyter.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["JUPYTER_CONFIG_DIR"] = str(scratch / "jupyter-config")
    env["JUPYTER_RUNTIME_DIR"] = str(scratch / "jupyter-runtime")
    log_path = scratch / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(jupyter), "server", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
             *(["--allow-root"] if os.geteuid() == 0 else [])],
            cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        server = FormgraderServer(port, token)
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
                pytest.fail("formgrader did not start: " + log_path.read_text()[-3000:])
            if process.poll() is not None:
                pytest.fail("jupyter server exited: " + log_path.read_text()[-3000:])
            yield server
        finally:
            process.terminate()
            process.wait(timeout=30)
