"""Does dlcourse.gradcheck accept right gradients and catch the classic backprop slips?"""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse.gradcheck import GOOD, WRONG, check_gradient, numerical_gradient, relative_error


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class TinyNet:
    """1 hidden sigmoid layer, sigmoid output, squared error: the book's chapter-3 network."""

    def __init__(self, seed=0, n=7, d=4, hidden=4):
        rng = np.random.default_rng(seed)
        self.X = rng.normal(size=(n, d))
        self.y = rng.integers(0, 2, size=(n, 1)).astype(float)
        self.W1 = rng.normal(size=(d, hidden))
        self.b1 = rng.normal(size=(1, hidden))
        self.W2 = rng.normal(size=(hidden, 1))
        self.b2 = rng.normal(size=(1, 1))

    def loss(self, W1=None, W2=None):
        W1 = self.W1 if W1 is None else W1
        W2 = self.W2 if W2 is None else W2
        H = sigmoid(self.X @ W1 + self.b1)
        p = sigmoid(H @ W2 + self.b2)
        return 0.5 * np.sum((p - self.y) ** 2)

    def grads(self, W1, slip=None):
        H = sigmoid(self.X @ W1 + self.b1)
        p = sigmoid(H @ self.W2 + self.b2)
        delta2 = (p - self.y) * p * (1 - p)  # dl/dz2 (a summed loss), shape (n, 1)
        if slip == "sign":
            delta2 = -delta2
        w2 = np.ones_like(self.W2) if slip == "missing-w_jo" else self.W2
        delta1 = (delta2 @ w2.T) * H * (1 - H)
        grad = self.X.T @ delta1  # (d, hidden); d == hidden so a transpose keeps the shape
        return grad.T if slip == "transpose" else grad


def test_numerical_gradient_of_a_known_function_any_shape():
    x = np.random.default_rng(1).normal(size=(2, 3, 4))
    x_before = x.copy()
    g = numerical_gradient(lambda a: np.sum(np.sin(a) * a**2), x)
    assert g.shape == x.shape and g.dtype == np.float64
    np.testing.assert_allclose(g, np.cos(x) * x**2 + 2 * x * np.sin(x), rtol=1e-7, atol=1e-9)
    assert np.array_equal(x, x_before), "numerical_gradient mutated its input"


def test_numerical_gradient_works_in_float64_for_float32_input():
    x = np.array([0.3, -1.2], dtype=np.float32)
    g = numerical_gradient(lambda a: np.sum(a**3), x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 3 * x.astype(np.float64) ** 2, rtol=1e-8)


def test_numerical_gradient_rejects_non_scalar_functions():
    with pytest.raises(ValueError, match="scalar"):
        numerical_gradient(lambda a: a * 2, np.ones(3))


def test_relative_error_is_the_cs231n_definition():
    err = relative_error(np.array([1.0, 0.0, -2.0, 3.0]), np.array([1.0, 0.0, 2.0, 1.0]))
    np.testing.assert_allclose(err, [0.0, 0.0, 1.0, 0.5])
    with pytest.raises(ValueError):
        relative_error(np.ones(2), np.ones(3))


def test_correct_backprop_gradient_passes():
    net = TinyNet()
    err = check_gradient(lambda W: net.loss(W1=W), net.grads, net.W1)
    assert err < GOOD


@pytest.mark.parametrize("slip", ["missing-w_jo", "sign", "transpose"])
def test_classic_backprop_slips_are_caught(slip):
    net = TinyNet(seed=3)
    err = check_gradient(lambda W: net.loss(W1=W), lambda W: net.grads(W, slip=slip), net.W1)
    assert err > WRONG, f"{slip}: max relative error {err:.2e} not flagged"


def test_gradient_of_the_wrong_shape_is_reported():
    with pytest.raises(ValueError, match="shape"):
        check_gradient(lambda a: np.sum(a**2), lambda a: (2 * a).ravel(), np.ones((2, 3)))
