"""Do the shared plots draw what they say, without changing global state?"""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from dlcourse.plotting import (
    constrained_optimum,
    draw_backprop_graph,
    draw_network,
    draw_perceptron,
    dropout_draw,
    history_dict,
    plot_history,
    plot_penalty_geometry,
    show_images,
    weight_label,
)


class FakeHistory:
    def __init__(self):
        self.history = {"loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.7, 0.8], "accuracy": [0.5, 0.7, 0.9]}


def test_plot_history_draws_training_and_validation_curves():
    fig = plot_history(FakeHistory(), metrics=("loss", "accuracy"))
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 2 and len(acc_ax.lines) == 1
    assert list(loss_ax.lines[1].get_xdata()) == [1, 2, 3]
    assert list(loss_ax.lines[1].get_ydata()) == [1.1, 0.7, 0.8]
    assert loss_ax.get_xlabel() == "epoch"


def test_plot_history_accepts_a_dict_and_names_missing_metrics():
    assert history_dict({"loss": [np.float32(1.0)]}) == {"loss": [1.0]}
    with pytest.raises(KeyError, match="accuracy"):
        plot_history({"loss": [1.0]}, metrics=("accuracy",))
    with pytest.raises(TypeError):
        history_dict([1, 2, 3])


def test_show_images_marks_wrong_predictions():
    images = np.random.default_rng(0).random((5, 784))
    fig = show_images(images, labels=[1, 2, 3, 4, 5], predictions=[1, 2, 0, 4, 5], ncols=3)
    assert len(fig.axes) == 6
    titles = [ax.get_title() for ax in fig.axes[:5]]
    assert titles[2] == "3 → 0"
    assert fig.axes[2].title.get_color() == "crimson" and fig.axes[0].title.get_color() == "black"
    with pytest.raises(ValueError, match="square"):
        show_images(np.ones((2, 10)))


def test_importing_dlcourse_has_no_side_effects():
    code = (
        "import sys, matplotlib\n"
        "snap = lambda: {k: matplotlib.rcParams[k] for k in matplotlib.rcParams if k != 'backend'}\n"
        "before = snap()\n"
        "import dlcourse, dlcourse.datasets, dlcourse.gradcheck, dlcourse.plotting, dlcourse.utils\n"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'keras imported'\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "assert snap() == before, 'rcParams changed'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_set_seed_does_not_import_keras():
    code = (
        "import sys\nfrom dlcourse.utils import set_seed\nset_seed(1)\n"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_set_seed_makes_numpy_and_keras_repeat():
    import keras

    from dlcourse.utils import set_seed

    set_seed(42)
    a = (np.random.rand(3), keras.random.uniform((3,)).numpy())
    set_seed(42)
    b = (np.random.rand(3), keras.random.uniform((3,)).numpy())
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


# --- the network pictures ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def _arrows(fig):
    from matplotlib.patches import FancyArrowPatch

    return [p for ax in fig.axes for p in ax.patches if isinstance(p, FancyArrowPatch)]


def test_perceptron_shows_inputs_weights_bias_and_output():
    texts = _texts(draw_perceptron())
    for label in ("$x_1$", "$x_2$", "$w_1$", "$w_2$", "$b$", "$z$", "$p$", r"$\sigma$"):
        assert label in texts, label
    assert "$z = w_1 x_1 + w_2 x_2 + b$" in texts
    assert len(_arrows(draw_perceptron())) == 4  # x_1, x_2 and 1 to z; z to p


def test_network_labels_every_weight_in_the_books_notation():
    fig = draw_network((2, 3, 1))
    texts = _texts(fig)
    assert {"$X_1$", "$X_2$", "$h_1$", "$h_2$", "$h_3$", "$p$"} <= set(texts)
    first = {f"$w^{{[1]}}_{{{k}{j}}}$" for k in (1, 2) for j in (1, 2, 3)}  # w^[1]_kj: from input k to unit j
    second = {f"$w^{{[2]}}_{{{j}}}$" for j in (1, 2, 3)}  # one output: the index o is dropped
    assert first | second <= set(texts)
    assert len(_arrows(fig)) == 2 * 3 + 3


def test_highlighted_weight_is_drawn_red_and_thick():
    fig = draw_network((2, 3, 1), highlight=[(2, 2, 1)])
    label = next(t for t in fig.axes[0].texts if t.get_text() == "$w^{[2]}_{2}$")
    assert matplotlib.colors.same_color(label.get_color(), "crimson")
    widths = sorted(a.get_linewidth() for a in _arrows(fig))
    assert widths[-1] > 2 * widths[0] and widths[-2] == widths[0]  # exactly one thick arrow
    other = next(t for t in fig.axes[0].texts if t.get_text() == "$w^{[2]}_{1}$")
    assert not matplotlib.colors.same_color(other.get_color(), "crimson")


def test_deeper_networks_name_hidden_layers_and_several_outputs():
    fig = draw_network((3, 2, 2, 2), weight_labels=False)
    texts = set(_texts(fig))
    assert {"$h^{[1]}_1$", "$h^{[2]}_2$", "$p_1$", "$p_2$"} <= texts
    assert not any(t.startswith("$w") for t in texts)
    assert weight_label(3, 1, 2, 2) == "w^{[3]}_{12}"


def test_dropped_units_lose_their_arrows():
    sizes = (4, 5, 5, 1)
    full = len(_arrows(draw_network(sizes, weight_labels=False)))
    assert full == 4 * 5 + 5 * 5 + 5
    fig = draw_network(sizes, weight_labels=False, dropped=[(1, 1), (2, 3)])
    # unit 1 of layer 1: 4 in, 5 out; unit 3 of layer 2: 5 in, 1 out; the arrow between them counted twice
    assert len(_arrows(fig)) == full - (4 + 5) - (5 + 1) + 1
    with pytest.raises(ValueError, match="no unit 7"):
        draw_network(sizes, dropped=[(1, 7)])


def test_dropout_draws_are_seeded_hidden_units_only():
    sizes = (4, 5, 5, 1)
    a, b = dropout_draw(sizes, 0.5, seed=0), dropout_draw(sizes, 0.5, seed=1)
    assert a == dropout_draw(sizes, 0.5, seed=0) and a != b
    assert all(layer in (1, 2) for layer, _ in a + b)
    rates = [len(dropout_draw((2, 50, 1), 0.3, seed=s)) / 50 for s in range(40)]
    assert abs(np.mean(rates) - 0.3) < 0.03


def test_backprop_graph_labels_local_derivatives_and_error_signals():
    fig = draw_backprop_graph()
    texts = _texts(fig)
    for local in ("$X_1$", "$h_j(1-h_j)$", "$w^{[2]}_j$", "$p(1-p)$", "$p-y$"):
        assert local in texts, local
    for node in ("$z^{[1]}_j$", "$h_j$", "$z^{[2]}$", "$p$", "$l$"):
        assert node in texts, node
    assert sum(r"\partial l" in t for t in texts) == 5  # one error signal per backward arrow
    forgotten = next(t for t in fig.axes[0].texts if t.get_text() == "$w^{[2]}_j$" and t.get_bbox_patch())
    assert matplotlib.colors.same_color(forgotten.get_color(), "crimson")


def test_l1_optimum_lands_on_a_corner_l2_optimum_does_not():
    l1 = constrained_optimum((2.0, 0.5), (1.0, 1.5), "l1")
    l2 = constrained_optimum((2.0, 0.5), (1.0, 1.5), "l2")
    assert np.allclose(l1, (1.0, 0.0))
    assert np.isclose(np.linalg.norm(l2), 1.0) and np.all(np.abs(l2) > 0.1)
    with pytest.raises(ValueError):
        constrained_optimum((2.0, 0.5), (1.0, 1.0), "l3")
    fig = plot_penalty_geometry()
    titles = [ax.get_title() for ax in fig.axes]
    assert any("L2" in t for t in titles) and any("L1" in t for t in titles)
    assert any("(1.00,\\ 0.00)" in t for t in _texts(fig))


def test_pictures_write_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for fig in (draw_perceptron(), draw_network(), draw_backprop_graph(), plot_penalty_geometry()):
        fig.canvas.draw()  # render fully, as the book does
    assert list(tmp_path.iterdir()) == []
