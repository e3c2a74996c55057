"""Plots that more than one page needs: training curves, image grids and pictures of networks.

Training curves and image grids were introduced in the Keras workflow and MNIST chapters (``book/04_keras``,
``book/05_mnist``); each network picture names the page that draws it. Nothing here changes global
matplotlib state: every function draws on the axes it is given or creates. The pictures are made of
matplotlib patches and text only (no image files), so they render when a page executes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

__all__ = [
    "constrained_optimum",
    "draw_backprop_graph",
    "draw_network",
    "draw_perceptron",
    "dropout_draw",
    "history_dict",
    "network_labels",
    "plot_history",
    "plot_penalty_geometry",
    "show_images",
    "weight_label",
]


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
) -> Figure:
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
        fig, grid = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
        panels = list(grid[0])
    else:
        panels = list(axes)
        fig = panels[0].figure
    for ax, metric in zip(panels, metrics, strict=True):
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
) -> Figure:
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


# --- network pictures ------------------------------------------------------------------------------
# Drawn with plain matplotlib patches and text so that a page renders them when it executes: there are
# no image files. Every label is written in the book's notation (``book/00_intro``, Conventions).

_NODE_RADIUS = 0.22
_HIGHLIGHT = "crimson"
_BACKWARD = "#b35806"  # error signals: a dark orange, readable on white and distinct from black


def _new_axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax.figure, ax


def _node(ax, xy, label, *, dropped=False, color="black", fill="white", fontsize=11, radius=_NODE_RADIUS):
    from matplotlib.patches import Circle

    style = {"ls": (0, (2, 2)), "ec": "0.6", "fc": "0.95"} if dropped else {"ec": color, "fc": fill}
    ax.add_patch(Circle(xy, radius, lw=1.4, zorder=3, **style))
    ax.text(
        *xy, label, ha="center", va="center", fontsize=fontsize, zorder=4, color="0.6" if dropped else "black"
    )
    if dropped:
        r = radius * 0.75
        ax.plot([xy[0] - r, xy[0] + r], [xy[1] - r, xy[1] + r], color="0.45", lw=1.2, zorder=5)
        ax.plot([xy[0] - r, xy[0] + r], [xy[1] + r, xy[1] - r], color="0.45", lw=1.2, zorder=5)


def _arrow(
    ax,
    start,
    end,
    *,
    color="black",
    lw=1.0,
    rad=0.0,
    label=None,
    at=0.5,
    offset=(0.0, 0.0),
    radius=_NODE_RADIUS,
    **text,
):
    """An arrow between two node centres, clipped at their circles, labelled at fraction ``at``."""
    from matplotlib.patches import Circle, FancyArrowPatch

    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=10,
            patchA=Circle(start, radius, transform=ax.transData),
            patchB=Circle(end, radius, transform=ax.transData),
            shrinkA=1,
            shrinkB=1,
            connectionstyle=f"arc3,rad={rad}",
            color=color,
            lw=lw,
            zorder=2,
        )
    )
    if label is not None:
        x = start[0] + at * (end[0] - start[0]) + offset[0]
        y = start[1] + at * (end[1] - start[1]) + offset[1]
        box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9}
        ax.text(x, y, label, ha="center", va="center", color=color, zorder=6, bbox=box, **text)


def _column(n: int, x: float, spacing: float) -> list[tuple[float, float]]:
    top = (n - 1) * spacing / 2
    return [(x, top - i * spacing) for i in range(n)]


def draw_perceptron(ax: Any = None, input_names: Sequence[str] = ("x_1", "x_2")) -> Figure:
    """Draw one unit: inputs, weights, the bias, ``z = w^T x + b``, the sigmoid and ``p``.

    Used in ``book/01_perceptron`` (the unit of the chapter, labelled as in its formulas
    ``z = w_1 x_1 + w_2 x_2 + b`` and ``p = sigma(z)``).

    Args:
        ax: matplotlib axes to draw on; new ones are created when ``None``.
        input_names: TeX names of the inputs (without dollars); one weight ``w_k`` per input.

    Returns:
        The matplotlib ``Figure``.
    """
    fig, ax = _new_axes(ax, (6.2, 2.8))
    d = len(input_names)
    inputs = _column(d, 0.0, 1.0)
    bias = (0.0, inputs[-1][1] - 1.0)
    z_node, p_node = (2.6, bias[1] / 2 + inputs[0][1] / 2), (4.2, bias[1] / 2 + inputs[0][1] / 2)
    for k, (xy, name) in enumerate(zip(inputs, input_names, strict=True), start=1):
        _node(ax, xy, f"${name}$")
        _arrow(ax, xy, z_node, label=f"$w_{k}$", at=0.45, fontsize=11)
    _node(ax, bias, "$1$", fill="0.92")
    _arrow(ax, bias, z_node, label="$b$", at=0.45, fontsize=11)
    _node(ax, z_node, "$z$")
    _arrow(ax, z_node, p_node, label=r"$\sigma$", at=0.5, offset=(0.0, 0.22), fontsize=11)
    _node(ax, p_node, "$p$")
    terms = " + ".join(f"w_{k} {name}" for k, name in enumerate(input_names, start=1))
    ax.text(z_node[0], z_node[1] - 0.45, f"$z = {terms} + b$", ha="center", va="top", fontsize=10)
    ax.text(p_node[0], p_node[1] - 0.45, r"$p = \sigma(z)$", ha="center", va="top", fontsize=10)
    ax.set_xlim(-0.5, 5.2)
    ax.set_ylim(bias[1] - 0.6, inputs[0][1] + 0.5)
    return fig


def network_labels(sizes: Sequence[int], input_name: str = "X") -> list[list[str]]:
    """The TeX label of every unit of a dense network with layer sizes ``sizes`` (inputs first).

    Inputs are ``X_k`` (``input_name``), the hidden units of a one-hidden-layer network ``h_j`` and of a
    deeper one ``h^{[l]}_j``, and a single output ``p`` (several outputs: ``p_o``). Used by
    :func:`draw_network`.
    """
    if len(sizes) < 2:
        raise ValueError("a network needs at least an input and an output layer")
    labels = [[f"{input_name}_{k}" for k in range(1, sizes[0] + 1)]]
    hidden = sizes[1:-1]
    for layer, n in enumerate(hidden, start=1):
        labels.append([f"h_{j}" if len(hidden) == 1 else f"h^{{[{layer}]}}_{j}" for j in range(1, n + 1)])
    labels.append(["p"] if sizes[-1] == 1 else [f"p_{o}" for o in range(1, sizes[-1] + 1)])
    return labels


def weight_label(layer: int, k: int, j: int, units_out: int) -> str:
    """TeX for the weight from unit ``k`` below to unit ``j`` of ``layer`` (both from 1): ``w^{[l]}_{kj}``.

    With one output unit the output index is dropped, as in the book: ``w^{[2]}_j``.
    """
    sub = f"{k}" if units_out == 1 else f"{k}{j}"
    return f"w^{{[{layer}]}}_{{{sub}}}"


def draw_network(
    sizes: Sequence[int] = (2, 3, 1),
    ax: Any = None,
    *,
    weight_labels: bool = True,
    highlight: Sequence[tuple[int, int, int]] = (),
    dropped: Sequence[tuple[int, int]] = (),
    input_name: str = "X",
    title: str | None = None,
) -> Figure:
    """Draw a dense network: one column of units per layer, an arrow per weight ``w^{[l]}_{kj}``.

    Used in ``book/02_mlp`` and ``book/03_backprop`` (the one-hidden-layer network of their formulas, with
    the output weight ``w^{[2]}_j`` highlighted where chapter 3 shows the slip of a slide that forgot it)
    and in ``book/07_regularization`` (dropout: units removed).

    Args:
        sizes: units per layer, inputs first, e.g. ``(2, 3, 1)``.
        ax: matplotlib axes to draw on; new ones are created when ``None``.
        weight_labels: write ``w^{[l]}_{kj}`` on every arrow (readable for small networks only).
        highlight: weights ``(layer, k, j)`` (1-based, ``layer`` >= 1) drawn thick in red, with their label.
        dropped: units ``(layer, j)`` (layer 0 = inputs) removed: drawn crossed out, their arrows left out.
        input_name: the letter of the inputs (``X`` as in chapters 2-3, ``x`` as in chapter 1).
        title: an optional axes title.

    Returns:
        The matplotlib ``Figure``.
    """
    labels = network_labels(sizes, input_name)
    dropped_set = {(int(layer), int(j)) for layer, j in dropped}
    for layer, j in dropped_set:
        if not (0 <= layer < len(sizes) and 1 <= j <= sizes[layer]):
            raise ValueError(f"no unit {j} in layer {layer} of a network of sizes {tuple(sizes)}")
    highlight_set = {tuple(int(v) for v in h) for h in highlight}
    gap = 2.4 if weight_labels else 1.6
    spacing = 1.0 if weight_labels else 0.7
    fig, ax = _new_axes(ax, (1.9 * len(sizes) + 0.8, 0.75 * max(sizes) + 0.9))
    # Smaller layers are spread out over the height of the largest (at most 1.5 times the spacing).
    columns = [
        _column(n, layer * gap, spacing * min(1.5, (max(sizes) - 1) / (n - 1)) if n > 1 else spacing)
        for layer, n in enumerate(sizes)
    ]
    for layer in range(1, len(sizes)):
        for k, start in enumerate(columns[layer - 1], start=1):
            for j, end in enumerate(columns[layer], start=1):
                if (layer - 1, k) in dropped_set or (layer, j) in dropped_set:
                    continue
                hot = (layer, k, j) in highlight_set
                label = f"${weight_label(layer, k, j, sizes[layer])}$" if weight_labels or hot else None
                # Labels sit near where the arrows fan out (the side with more arrows per unit).
                at = 0.28 if sizes[layer] >= sizes[layer - 1] else 0.62
                _arrow(
                    ax,
                    start,
                    end,
                    color=_HIGHLIGHT if hot else "0.25",
                    lw=2.6 if hot else 0.9,
                    label=label,
                    at=at,
                    fontsize=9 if not hot else 10,
                )
    for layer, column in enumerate(columns):
        for j, xy in enumerate(column, start=1):
            name = labels[layer][j - 1]
            _node(ax, xy, f"${name}$", dropped=(layer, j) in dropped_set, fontsize=8 if "[" in name else 10)
    names = ["inputs"] + ["hidden"] * (len(sizes) - 2) + ["output"]
    top = max(c[0][1] for c in columns) + 0.55
    for layer, name in enumerate(names):
        ax.text(layer * gap, top, name, ha="center", va="bottom", fontsize=9, color="0.3")
    ax.set_xlim(-0.5, (len(sizes) - 1) * gap + 0.5)
    ax.set_ylim(-top - 0.1, top + 0.45)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def dropout_draw(sizes: Sequence[int], rate: float, seed: int) -> list[tuple[int, int]]:
    """The hidden units ``(layer, j)`` one dropout draw removes: each with probability ``rate``, seeded.

    Dropout acts on hidden layers only (as in ``book/07_regularization``); used with :func:`draw_network`.
    """
    rng = np.random.default_rng(seed)
    hidden = range(1, len(sizes) - 1)
    return [(layer, j) for layer in hidden for j in range(1, sizes[layer] + 1) if rng.random() < rate]


def draw_backprop_graph(ax=None):
    """Draw the computational graph of one hidden weight's gradient in ``book/03_backprop``.

    Forward values flow left to right along the chain
    ``w^{[1]}_{1j} -> z^{[1]}_j -> h_j -> z^{[2]} -> p -> l``, with ``w^{[2]}_j`` entering ``z^{[2]}`` from
    above; each forward arrow carries the local derivative that the backward pass multiplies by, and the
    orange arrows underneath carry the error signals
    ``dl/d(.)`` back from the loss. The link ``z^{[2]} -> h_j``, whose local derivative ``w^{[2]}_j`` a
    slide forgot, is highlighted.

    Returns:
        The matplotlib ``Figure``.
    """
    fig, ax = _new_axes(ax, (10.5, 4.2))
    names = ["w^{[1]}_{1j}", "z^{[1]}_j", "h_j", "z^{[2]}", "p", "l"]
    local = [r"X_1", r"h_j(1-h_j)", r"w^{[2]}_j", r"p(1-p)", r"p-y"]
    signals = [
        r"\frac{\partial l}{\partial w^{[1]}_{1j}}",
        r"\frac{\partial l}{\partial z^{[1]}_j}",
        r"\frac{\partial l}{\partial h_j}",
        r"\frac{\partial l}{\partial z^{[2]}}",
        r"\frac{\partial l}{\partial p}",
    ]
    gap = 1.9
    chain = [(i * gap, 0.0) for i in range(len(names))]
    for i, (xy, name) in enumerate(zip(chain, names, strict=True)):
        _node(
            ax,
            xy,
            f"${name}$",
            fontsize=9 if "[" in name else 11,
            fill="0.92" if i == 0 else "white",
            radius=0.27,
        )
    for i in range(len(names) - 1):
        hot = local[i] == r"w^{[2]}_j"
        _arrow(
            ax,
            chain[i],
            chain[i + 1],
            color=_HIGHLIGHT if hot else "black",
            lw=2.4 if hot else 1.2,
            label=f"${local[i]}$",
            offset=(0.0, 0.3),
            radius=0.27,
            fontsize=10,
        )
        _arrow(
            ax,
            chain[i + 1],
            chain[i],
            color=_BACKWARD,
            lw=1.2,
            rad=-0.55,
            label=f"${signals[i]}$",
            offset=(0.0, -0.78),
            radius=0.27,
            fontsize=14,
        )
    w2 = (chain[3][0] - 0.9, 1.25)
    _node(ax, w2, "$w^{[2]}_j$", fontsize=9, fill="0.92", radius=0.27)
    _arrow(ax, w2, chain[3], label="$h_j$", at=0.5, offset=(-0.25, 0.0), radius=0.27, fontsize=10)
    ax.text(
        0.0,
        1.35,
        "forward: values, left to right;\nlabel = local derivative of the arrow",
        fontsize=9,
        va="center",
    )
    ax.text(
        0.0,
        -1.55,
        "backward: error signals, right to left (each = the one to its right times the local derivative)",
        fontsize=9,
        color=_BACKWARD,
        va="center",
    )
    ax.set_xlim(-0.5, chain[-1][0] + 0.5)
    ax.set_ylim(-1.85, 1.75)
    return fig


def constrained_optimum(
    center: Sequence[float], curvature: Sequence[float], penalty: str, radius: float = 1.0, grid: int = 20001
) -> np.ndarray:
    """The minimum of a quadratic loss on the boundary of an L1 ball (diamond) or L2 ball (disc).

    The loss is ``sum_k curvature[k] * (w_k - center[k])**2``; when ``center`` lies outside the ball, the
    constrained minimum is on its boundary, found here on a fine grid of boundary points. Used by
    :func:`plot_penalty_geometry` (``book/07_regularization``).
    """
    if penalty not in ("l1", "l2"):
        raise ValueError(f"penalty must be 'l1' or 'l2', not {penalty!r}")
    t = np.linspace(0.0, 2 * np.pi, grid, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    if penalty == "l1":
        norm = np.abs(c) + np.abs(s)
        c, s = c / norm, s / norm
    w = radius * np.column_stack([c, s])
    loss = np.sum(np.asarray(curvature) * (w - np.asarray(center)) ** 2, axis=1)
    return w[np.argmin(loss)]


def plot_penalty_geometry(
    center: Sequence[float] = (2.0, 0.5),
    curvature: Sequence[float] = (1.0, 1.5),
    radius: float = 1.0,
    axes: Sequence[Any] | None = None,
) -> Figure:
    """Loss contours with the L2 disc and the L1 diamond, and where the constrained optimum lands.

    Used in ``book/07_regularization`` beside the measured weight histograms: the contours of a
    quadratic loss first touch the diamond at a corner, where one weight is exactly zero, and the disc
    at a point where both weights are non-zero.

    Args:
        center: the unconstrained minimum of the loss, outside the constraint regions.
        curvature: the loss's curvature along each weight (unequal: elliptical contours).
        radius: the size of both constraint regions.
        axes: two existing axes (L2, L1); new ones are created when ``None``.

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Polygon

    panels = list(plt.subplots(1, 2, figsize=(9, 4.2))[1] if axes is None else axes)
    fig = panels[0].figure
    lim = 2.4
    g = np.linspace(-lim, lim, 301)
    W1, W2 = np.meshgrid(g, g)
    loss = curvature[0] * (W1 - center[0]) ** 2 + curvature[1] * (W2 - center[1]) ** 2
    for ax, penalty in zip(panels, ("l2", "l1"), strict=True):
        best = constrained_optimum(center, curvature, penalty, radius)
        level = curvature[0] * (best[0] - center[0]) ** 2 + curvature[1] * (best[1] - center[1]) ** 2
        ax.contour(
            W1, W2, loss, levels=level * np.array([0.25, 0.5, 1.0, 1.6, 2.4]), colors="0.45", linewidths=0.8
        )
        ax.contour(W1, W2, loss, levels=[level], colors="C0", linewidths=1.6)
        if penalty == "l2":
            region: Patch = Circle((0, 0), radius, fc="C1", ec="C1", alpha=0.35, lw=1.5)
            name = r"L2: disc $w_1^2 + w_2^2 \leq t^2$"
        else:
            r = radius
            region = Polygon(
                [(r, 0), (0, r), (-r, 0), (0, -r)], closed=True, fc="C2", ec="C2", alpha=0.35, lw=1.5
            )
            name = r"L1: diamond $|w_1| + |w_2| \leq t$"
        ax.add_patch(region)
        ax.plot(*center, "k+", ms=10, mew=2)
        ax.annotate(
            "minimum of the loss",
            center,
            xytext=(center[0] - 1.6, center[1] + 1.2),
            fontsize=8,
            arrowprops={"arrowstyle": "->", "lw": 0.8},
        )
        ax.plot(*best, "o", color=_HIGHLIGHT, ms=7)
        ax.annotate(
            f"constrained optimum\n$w = ({best[0]:.2f},\\ {best[1]:.2f})$",
            best,
            xytext=(best[0] - 0.4, best[1] - 1.7),
            fontsize=8,
            color=_HIGHLIGHT,
            arrowprops={"arrowstyle": "->", "lw": 0.8, "color": _HIGHLIGHT},
        )
        ax.axhline(0, color="0.7", lw=0.6)
        ax.axvline(0, color="0.7", lw=0.6)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel("$w_1$")
        ax.set_ylabel("$w_2$")
        ax.set_title(name, fontsize=10)
    fig.tight_layout()
    return fig
