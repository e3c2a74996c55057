"""Seeded 2-D toy problems and a decision-boundary plot.

Introduced in the perceptron chapter (``book/01_perceptron``) and used again in ``book/02_mlp`` and
``book/03_backprop``. Every generator takes an explicit ``seed`` and returns ``(X, y)`` with ``X`` of
shape ``(n, 2)`` (float64) and ``y`` of shape ``(n,)`` holding the labels 0 and 1 (int64).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["make_blobs", "make_moons", "make_xor", "plot_decision_boundary"]


def make_blobs(
    n: int = 200,
    centers: tuple[tuple[float, float], tuple[float, float]] = ((-1.0, -1.0), (1.0, 1.0)),
    std: float = 0.6,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two isotropic Gaussian blobs: class 0 around ``centers[0]``, class 1 around ``centers[1]``.

    Args:
        n: the number of points; the first ``n // 2`` are drawn from class 0, the rest from class 1,
            then all are shuffled.
        centers: the two means.
        std: the standard deviation of each coordinate.
        seed: the random seed.

    Returns:
        ``(X, y)``.
    """
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], [n // 2, n - n // 2]).astype(np.int64)
    means = np.asarray(centers, dtype=np.float64)[y]
    X = means + std * rng.normal(size=(n, 2))
    order = rng.permutation(n)
    return X[order], y[order]


def make_xor(n: int = 200, noise: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points scattered around the four corners of the unit square, labelled ``x1 XOR x2``.

    Args:
        n: the number of points (corners are chosen uniformly at random).
        noise: the standard deviation of the Gaussian noise added to each corner; ``0`` gives the
            four exact corners repeated.
        seed: the random seed.

    Returns:
        ``(X, y)``; ``y`` is the XOR of the corner each point was drawn around.
    """
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n, 2))
    y = (corners[:, 0] ^ corners[:, 1]).astype(np.int64)
    X = corners.astype(np.float64) + noise * rng.normal(size=(n, 2))
    return X, y


def make_moons(n: int = 200, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (the shape of scikit-learn's ``make_moons``).

    Class 0 lies on the upper half of the unit circle, class 1 on a lower half circle shifted to
    ``(1, 0.5)``; Gaussian noise of standard deviation ``noise`` is added to both coordinates.

    Args:
        n: the number of points (``n // 2`` in class 0).
        noise: the noise standard deviation.
        seed: the random seed.

    Returns:
        ``(X, y)``, shuffled.
    """
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t0 = rng.uniform(0.0, np.pi, size=n0)
    t1 = rng.uniform(0.0, np.pi, size=n - n0)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    X = np.vstack([upper, lower]) + noise * rng.normal(size=(n, 2))
    y = np.repeat([0, 1], [n0, n - n0]).astype(np.int64)
    order = rng.permutation(n)
    return X[order], y[order]


def plot_decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    ax: Any = None,
    title: str | None = None,
    resolution: int = 200,
    margin: float = 0.5,
) -> Axes:
    """Shade a classifier's probability of class 1 over the plane, draw its 0.5 contour and the data.

    Args:
        predict: maps an array of points of shape ``(k, 2)`` to probabilities of class 1, shape ``(k,)``
            (or ``(k, 1)``).
        X: the points to draw, shape ``(n, 2)``.
        y: their labels (0 or 1).
        ax: a matplotlib axes to draw on; a new figure is created when ``None``.
        title: an optional axes title.
        resolution: grid points per axis.
        margin: how far the grid extends beyond the data.

    Returns:
        The matplotlib axes.
    """
    import matplotlib.pyplot as plt

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).reshape(-1)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3.6))
    lo = X.min(axis=0) - margin
    hi = X.max(axis=0) + margin
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    proba = np.asarray(predict(grid), dtype=np.float64).reshape(g1.shape)
    ax.contourf(g1, g2, proba, levels=np.linspace(0.0, 1.0, 11), cmap="RdBu_r", alpha=0.35)
    if proba.min() < 0.5 < proba.max():
        ax.contour(g1, g2, proba, levels=[0.5], colors="k", linewidths=1.5)
    for label, marker, color in ((0, "o", "tab:blue"), (1, "^", "tab:red")):
        mask = y == label
        ax.scatter(X[mask, 0], X[mask, 1], s=18, marker=marker, c=color, edgecolors="k", linewidths=0.4)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return ax
