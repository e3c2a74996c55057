"""Benchmark: cold build and no-change rebuild of the book.

Copies the tracked files of this checkout into a temporary folder (so the execution cache starts empty),
runs ``make book`` there twice with the project's virtualenv, and prints both wall times.

Usage: ``.venv/bin/python bench/book_build.py`` (takes as long as executing every chapter).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _build(workdir: Path) -> float:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    subprocess.run(
        ["make", "book", f"VENV={ROOT / '.venv'}"],
        cwd=workdir,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> int:
    if not os.environ.get("DLCOURSE_DATA"):
        data = ROOT.parent / "shared" / "data"
        if data.is_dir():
            os.environ["DLCOURSE_DATA"] = str(data)
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    with tempfile.TemporaryDirectory(prefix="book-bench-") as tmp:
        work = Path(tmp) / "repo"
        for name in files:
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, work / name)
        cold = _build(work)
        warm = _build(work)
    print(f"cold build (every page executed): {cold:7.1f} s")
    print(f"no-change rebuild (cached):       {warm:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
