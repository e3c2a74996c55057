"""Do the shared plots draw what they say, without changing global state?"""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from dlcourse.plotting import history_dict, plot_history, show_images


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
