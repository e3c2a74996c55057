"""Plots that more than one page needs: training curves and image grids.

Introduced in the Keras workflow and MNIST chapters (``book/04_keras``, ``book/05_mnist``). Nothing
here changes global matplotlib state: every function draws on the axes it is given or creates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["history_dict", "plot_history", "show_images"]


def history_dict(history: Any) -> dict[str, list[float]]:
    """Return the metric -> per-epoch values mapping of a Keras ``History`` or a plain dict."""
    data = getattr(history, "history", history)
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a keras History or a dict of lists, got {type(history).__name__}")
    return {str(k): [float(v) for v in values] for k, values in data.items()}


def plot_history(
    history: Any,
    metrics: Sequence[str] = ("loss",),
    axes: Sequence[Any] | None = None,
    title: str | None = None,
):
    """Plot training and validation curves, one panel per metric, epochs numbered from 1.

    Args:
        history: a Keras ``History`` (``model.fit``'s result) or a dict such as ``history.history``.
        metrics: names like ``"loss"`` or ``"accuracy"``; ``"val_<name>"`` is added when present.
        axes: existing matplotlib axes, one per metric; new ones are created when ``None``.
        title: an optional figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    data = history_dict(history)
    missing = [m for m in metrics if m not in data]
    if missing:
        raise KeyError(f"metrics {missing} not in history (it has {sorted(data)})")
    if axes is None:
        fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
        axes = list(axes[0])
    else:
        axes = list(axes)
        fig = axes[0].figure
    for ax, metric in zip(axes, metrics, strict=True):
        epochs = np.arange(1, len(data[metric]) + 1)
        ax.plot(epochs, data[metric], "o-", ms=3, label=f"training {metric}")
        if f"val_{metric}" in data:
            ax.plot(epochs, data[f"val_{metric}"], "s-", ms=3, label=f"validation {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_images(
    images: np.ndarray,
    labels: Sequence[Any] | None = None,
    predictions: Sequence[Any] | None = None,
    ncols: int = 8,
    cmap: str = "gray_r",
    size: float = 1.2,
):
    """Show a grid of images with optional labels (and predictions, red where they differ).

    Args:
        images: an array of shape (n, height, width) or (n, height*width) for square images.
        labels: the true label of each image, written above it.
        predictions: a predicted label per image; shown as ``label -> prediction``.
        ncols: images per row.
        cmap: the colormap.
        size: inches per image.

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.ndim == 2:
        side = round(float(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"cannot reshape rows of length {images.shape[1]} into square images")
        images = images.reshape(len(images), side, side)
    n = len(images)
    if n == 0:
        raise ValueError("no images to show")
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap=cmap)
        parts = []
        if labels is not None:
            parts.append(str(labels[i]))
        if predictions is not None:
            parts.append(str(predictions[i]))
        wrong = predictions is not None and labels is not None and labels[i] != predictions[i]
        ax.set_title(" → ".join(parts), fontsize=9, color="crimson" if wrong else "black")
    fig.tight_layout()
    return fig
