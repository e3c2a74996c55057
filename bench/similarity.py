"""Benchmark: the similar-work report on a course-sized batch (``autograder similarity``).

Builds ``--students`` graded-looking submissions of hw1 (executed notebooks under ``OUT/autograded/``, no
grading needed) where each student's ten functions are drawn at random from the six independent authors
of ``tests/fixtures/similarity/authors/`` with their variables renamed. That is a worst case for the index:
every function is shared by about a sixth of the class. Prints the wall time of the whole report (reading
the notebooks, fingerprinting, comparing, writing HTML and CSV) and how many pairs it listed.

Usage: ``python bench/similarity.py [--students 1000]`` from the repository root.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "similarity"))

import build  # noqa: E402
import nbformat  # noqa: E402

from autograder.similarity import similarity  # noqa: E402
from autograder.source import load_assignment  # noqa: E402

INDEPENDENT = ("ana", "ben", "cal", "dia", "eli", "fay")


def _functions(path: Path) -> dict[str, str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    return {
        n.name: "\n".join(lines[n.lineno - 1 : n.end_lineno])
        for n in ast.parse(source).body
        if isinstance(n, ast.FunctionDef)
    }


def make_batch(out: Path, students: int, seed: int = 0) -> None:
    """Write ``students`` executed-looking hw1 notebooks under ``out/autograded``."""
    rng = random.Random(seed)
    files = build.students()
    authors = {name: _functions(files[name]) for name in INDEPENDENT}
    release = nbformat.read(build.RELEASE, as_version=4)
    assignment_functions = [
        "sigmoid", "sigmoid_grad", "forward_sums", "forward", "squared_error", "cross_entropy",
        "output_delta", "output_layer_grads", "hidden_layer_grads", "train",
    ]  # fmt: skip
    for number in range(students):
        parts = []
        for name in assignment_functions:
            author = authors[rng.choice(INDEPENDENT)]
            helpers = [text for fname, text in author.items() if fname.startswith("_")]
            parts.extend([*helpers, author[name]])
        text = "import math\n\n\n" + "\n\n\n".join(dict.fromkeys(parts))
        for old in ("total", "out", "value", "residual", "delta1", "back", "local", "cache", "acc", "z"):
            text = re.sub(rf"\b{old}\b", f"{old}_{rng.randrange(1000)}", text)
        student = f"s{number:04d}"
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
            handle.write(text)
        nb = build.notebook(Path(handle.name), release)
        os.unlink(handle.name)
        target = out / "autograded" / student / "hw1_backprop" / "hw1_backprop.ipynb"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(nb), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    args = parser.parse_args()
    assignment = load_assignment("hw1_backprop", root=ROOT)
    with tempfile.TemporaryDirectory(prefix="bench-similarity-") as folder:
        out = Path(folder)
        make_batch(out, args.students)
        load = os.getloadavg()[0]
        start, cpu = time.perf_counter(), time.process_time()
        report = similarity(assignment, out)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"{report.compared} submissions: report in {seconds:.1f} s wall, {cpu:.1f} s CPU (one core; "
        f"{len(report.pairs)} pairs listed at the default threshold); load average before {load:.1f}"
    )


if __name__ == "__main__":
    main()
