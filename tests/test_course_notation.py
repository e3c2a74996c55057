"""Does the course speak one notation (the table in the introduction's Conventions)?

What a machine can check: the table is there and fixes the weight layout and where the 1/n of the mean
lives; no page, homework or helper uses a notation the table retired; and the book's reference
implementation (``dlcourse.numpy_mlp``) computes the quantities the table defines. That hw1 grades the
book's code as correct is checked by grading it (``book-code`` in ``tests/test_assignments.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from dlcourse.gradcheck import check_gradient
from dlcourse.numpy_mlp import hidden_delta, init_mlp, layer_gradients, mlp_gradients, output_delta

ROOT = Path(__file__).resolve().parents[1]

#: Notations the table retired, each with what replaced it.
RETIRED = {
    r"w_\{oj\}|w_oj|w_\{ij\}|w_\{ji\}": "w^{[l]}_{kj}: first index where the weight comes from (W1[k, j])",
    r"W1\[i, j\] is w_ji": "W1[k, j] is w_kj",
    r"\\delta_o|\\delta_h|\\delta\^\{\(": "delta^{[l]} with the layer in square brackets",
    r"W\^\{\(l\)\}|W_1\b|W_2\b|W_3\b": "\\mathbf{W}^{[l]}",
    r"probability \$p\$ \(the\s+\*rate|Bernoulli\(1-p\)": "the dropout rate is \\rho; p is a probability",
    r"\\mathbf\{A\}\^\{\[1\]\} = \\mathbf\{X\}": "Z^{[1]} is the pre-activation, A^{[1]} the activation",
}


def _texts() -> dict[str, str]:
    """Every page, every homework source cell and every dlcourse module, by a readable name."""
    texts = {
        str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in sorted((ROOT / "book").glob("*.md"))
    }
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for number, cell in enumerate(nbformat.read(path, as_version=4).cells):
            texts[f"{path.relative_to(ROOT)} cell {number}"] = cell.source
    texts.update(
        {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in (ROOT / "dlcourse").glob("*.py")}
    )
    return texts


def test_the_introduction_has_the_notation_table():
    intro = (ROOT / "book" / "00_intro.md").read_text(encoding="utf-8")
    conventions = intro.split("## Conventions", 1)[1].split("\n## ", 1)[0]
    for needed in ("`W1[k, j]`", r"\partial L / \partial \mathbf{Z}^{[l]}", "the $1/n$ lives in", r"$\rho$"):
        assert needed in conventions, f"the Conventions table must state {needed}"


@pytest.mark.parametrize(("pattern", "replacement"), RETIRED.items())
def test_no_page_homework_or_helper_uses_a_retired_notation(pattern, replacement):
    found = [name for name, text in _texts().items() if re.search(pattern, text)]
    assert not found, f"{pattern} is retired (use {replacement}); found in {found}"


def test_numpy_mlp_delta_is_the_gradient_of_the_mean_loss_with_the_1_over_n_inside():
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(7, 3)), rng.integers(0, 2, size=(7, 3)).astype(float)
    p = 1 / (1 + np.exp(-z))
    mean_losses = {
        "cross_entropy": lambda v: (
            -np.sum(y * np.log(1 / (1 + np.exp(-v))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-v)))) / len(v)
        ),
        "squared": lambda v: 0.5 * np.sum((1 / (1 + np.exp(-v)) - y) ** 2) / len(v),
    }
    for loss, mean_loss in mean_losses.items():
        assert check_gradient(mean_loss, lambda v, loss=loss: output_delta(v, y, loss), z) < 1e-7, loss
    assert np.allclose(output_delta(z, y), (p - y) / 7)


def test_numpy_mlp_weight_gradients_are_sums_over_examples_in_the_keras_layout():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(9, 3)), rng.integers(0, 2, size=9)
    params = init_mlp([3, 5, 1], seed=2)
    assert params["W1"].shape == (3, 5), "W1[k, j]: one row per input, as a Keras Dense kernel"
    Z1 = X @ params["W1"] + params["b1"]
    H = np.tanh(Z1)
    delta2 = output_delta(H @ params["W2"] + params["b2"], y.reshape(-1, 1))
    dW2, db2 = layer_gradients(H, delta2)
    assert np.allclose(dW2, H.T @ delta2) and np.allclose(db2, delta2.sum(axis=0))
    delta1 = hidden_delta(delta2, params["W2"], Z1, activation="tanh")
    grads = mlp_gradients(params, X, y, activation="tanh")
    assert np.allclose(grads["W1"], X.T @ delta1) and np.allclose(grads["W2"], dW2)
