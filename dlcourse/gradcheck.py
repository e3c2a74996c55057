"""Finite-difference gradient checking.

Introduced in the backpropagation chapter (``book/03_backprop``), used again in hw1.

How to read :func:`check_gradient`'s result (the maximum relative error, CS231n's definition):

==================  ==========================================================
max relative error  verdict
==================  ==========================================================
``< 1e-7``          the analytic gradient is right
``1e-7 .. 1e-4``    probably right; kinks (ReLU) or float32 can cause this
``1e-4 .. 1e-2``    suspicious: look for a subtle slip
``> 1e-2``          wrong (a missing factor, a sign, a transposed matrix)
==================  ==========================================================

Check in float64 with ``h`` about ``1e-5``: a smaller step drowns in rounding error, a larger one in
truncation error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["GOOD", "WRONG", "check_gradient", "numerical_gradient", "relative_error"]

#: Below this maximum relative error an analytic gradient is taken as correct.
GOOD = 1e-7
#: Above this maximum relative error an analytic gradient is certainly wrong.
WRONG = 1e-2

_TINY = 1e-300  # keeps 0/0 at 0 without hiding real differences


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Estimate the gradient of a scalar function by centred differences.

    ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h)`` for every index ``i`` of ``x``, in float64.

    Args:
        f: a function of one array returning a scalar (a Python float or a 0-d/1-element array).
        x: the point; any shape. It is not modified: ``f`` receives a perturbed float64 copy.
        h: the step.

    Returns:
        A float64 array shaped like ``x``.
    """
    point = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(point)
    flat = point.reshape(-1)  # a view into ``point``
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + h
        f_plus = _scalar(f(point))
        flat[i] = original - h
        f_minus = _scalar(f(point))
        flat[i] = original
        grad.reshape(-1)[i] = (f_plus - f_minus) / (2.0 * h)
    return grad


def _scalar(value: object) -> float:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1:
        raise ValueError(f"f must return a scalar, got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def relative_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise ``|a - b| / max(|a| + |b|, tiny)``: 0 where both are 0, at most 1."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), _TINY)


def check_gradient(
    f: Callable[[np.ndarray], float],
    grad_f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    h: float = 1e-5,
) -> float:
    """Compare an analytic gradient with centred differences at ``x``.

    Args:
        f: the scalar function.
        grad_f: its claimed gradient, returning an array shaped like ``x``.
        x: the point (not modified).
        h: the finite-difference step.

    Returns:
        The maximum elementwise relative error (see the module docstring for thresholds).

    Raises:
        ValueError: if ``grad_f(x)`` does not have the shape of ``x`` (a transposed gradient of a
            square matrix has the right shape and shows up as a large error instead).
    """
    x = np.asarray(x, dtype=np.float64)
    analytic = np.asarray(grad_f(x.copy()), dtype=np.float64)
    if analytic.shape != x.shape:
        raise ValueError(f"grad_f returned shape {analytic.shape}, expected {x.shape}")
    numeric = numerical_gradient(f, x, h=h)
    return float(np.max(relative_error(analytic, numeric), initial=0.0))
