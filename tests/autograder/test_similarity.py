"""Does the similar-work report find copies through the usual disguises, and only copies?"""

from __future__ import annotations

import csv
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import read_page

from autograder.similarity import Answer, compare, fingerprints, normalized_tokens, render_html

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "similarity"
AUTOGRADER = [sys.executable, "-m", "autograder"]
KEPT = frozenset({"np", "sigmoid"})

ORIGINAL = '''
def forward(X, W1, b1, W2, b2):
    """Forward pass."""
    Z1 = X @ W1 + b1
    H = sigmoid(Z1)
    Z2 = H @ W2 + b2
    return Z1, H, Z2, sigmoid(Z2)


def loss(Y_hat, Y):
    n = Y.shape[0]
    return float(0.5 * np.sum((Y_hat - Y) ** 2) / n)
'''
DISGUISES = {
    "renamed": ORIGINAL.replace("Z1", "pre")
    .replace("H", "act")
    .replace("Y_hat", "guess")
    .replace("n =", "rows =")
    .replace("/ n", "/ rows"),
    "comments-and-spacing": ORIGINAL.replace(
        '"""Forward pass."""', "# the forward pass, layer by layer\n"
    ).replace("Z1 = X @ W1 + b1", "Z1 = X@W1+b1   # hidden"),
    "reordered": ORIGINAL.split("\n\n\n")[1] + "\n\n\n" + ORIGINAL.split("\n\n\n")[0],
    "commuted": ORIGINAL.replace("X @ W1 + b1", "b1 + X @ W1")
    .replace("0.5 * np.sum", "np.sum")
    .replace("/ n)", "* 0.5 / n)"),
}


def _prints(source: str) -> frozenset[int]:
    return fingerprints(normalized_tokens(source, KEPT), k=8, window=3)


@pytest.mark.parametrize("disguise", sorted(DISGUISES))
def test_a_disguise_leaves_the_fingerprints_unchanged(disguise):
    original, disguised = _prints(ORIGINAL), _prints(DISGUISES[disguise])
    if disguise == "commuted":  # 0.5 * s / n and s * 0.5 / n are not the same expression tree
        assert len(original & disguised) >= 0.5 * len(original)
    else:
        assert original == disguised


def test_another_algorithm_shares_little():
    other = ORIGINAL.replace("X @ W1 + b1", "np.einsum('nd,dm->nm', X, W1) + b1").replace(
        "np.sum((Y_hat - Y) ** 2)", "np.linalg.norm(Y_hat - Y) ** 2"
    )
    assert len(_prints(ORIGINAL) & _prints(other)) < 0.7 * len(_prints(ORIGINAL))


def test_the_report_escapes_student_code_and_ids_and_runs_no_script(toy):
    line = "    return x * x  # <img src=x onerror=a()>\n"
    code = ("def square(x):\n    '</pre><script>alert(1)</script>'\n" + line) * 3
    answers = {
        "<b>ann</b>": Answer("<b>ann</b>", (code,), frozenset(range(20))),
        "bob": Answer("bob", (code,), frozenset(range(20))),
    }
    pairs = compare(list(answers.values()), threshold=0.5)
    assert [(p.a, p.b) for p in pairs] == [("<b>ann</b>", "bob")]
    page = render_html(toy, pairs, answers, 0.5)
    soup = BeautifulSoup(page, "html.parser")
    assert soup.find("script") is None and soup.find("img") is None and soup.find("b") is None
    assert "never a verdict" in page and "default-src 'none'" in page


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("similarity_corpus", CORPUS / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    subs = tmp_path_factory.mktemp("similarity") / "subs"
    build.build(subs)
    release = ROOT / "assignments" / "hw1_backprop" / "hw1_backprop.ipynb"
    for blank in ("yan", "zed"):  # untouched releases must not match each other
        (subs / blank).mkdir()
        shutil.copyfile(release, subs / blank / "hw1_backprop.ipynb")
    out = subs.parent / "out"
    graded = subprocess.run(
        [*AUTOGRADER, "grade", "hw1_backprop", str(subs), "--out", str(out), "--workers", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert graded.returncode == 0, graded.stderr[-2000:]
    grades_before = (out / "grades.csv").read_bytes()
    done = subprocess.run(
        [*AUTOGRADER, "similarity", "hw1_backprop", str(out)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return build, out, grades_before


@pytest.mark.slow
def test_every_planted_copy_and_no_independent_pair_is_reported(corpus):
    """Recall on the planted pairs is 1 and no independent pair reaches the default threshold."""
    build, out, _ = corpus
    with open(out / "similarity.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    reported = {frozenset((r["student_a"], r["student_b"])) for r in rows}
    planted = build.planted_pairs()
    assert len(planted) == 5 and reported == planted
    assert all(float(r["similarity"]) >= 0.9 for r in rows)


@pytest.mark.slow
def test_the_report_changes_no_grade_and_reads_offline(corpus, browser):
    _build, out, grades_before = corpus
    assert (out / "grades.csv").read_bytes() == grades_before
    state, console = read_page(browser, out / "similarity.html")
    assert "error" not in state and console == []
    assert [r for r in state["resources"] if not r.startswith("file:")] == []
    page = (out / "similarity.html").read_text(encoding="utf-8")
    assert "never a verdict" in page and page.count("<mark>") > 20
