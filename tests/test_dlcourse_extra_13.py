"""Do the toy data, the decision-boundary plot and the NumPy MLP of chapters 01-03 behave as the book says?"""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse.gradcheck import GOOD, check_gradient
from dlcourse.numpy_mlp import init_mlp, mlp_gradients, mlp_loss, predict_proba, train_mlp
from dlcourse.toy import make_blobs, make_moons, make_xor, plot_decision_boundary


@pytest.mark.parametrize("make", [make_blobs, make_xor, make_moons])
def test_generators_are_seeded_balanced_and_shaped(make):
    X, y = make(n=101, seed=3)
    X2, y2 = make(n=101, seed=3)
    X3, _ = make(n=101, seed=4)
    assert X.shape == (101, 2) and y.shape == (101,) and X.dtype == np.float64
    assert set(np.unique(y)) == {0, 1}
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert not np.allclose(X, X3)
    if make is not make_xor:  # xor picks corners at random; the others split the classes exactly
        assert abs(int(y.sum()) - 101 // 2) <= 1


def test_xor_without_noise_is_the_truth_table():
    X, y = make_xor(n=50, noise=0.0, seed=0)
    assert set(map(tuple, X)) <= {(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)}
    assert np.array_equal(y, (X[:, 0] != X[:, 1]).astype(int))


def test_blobs_are_centred_where_asked():
    X, y = make_blobs(n=4000, centers=((-2.0, 1.0), (3.0, 0.0)), std=0.5, seed=0)
    assert np.allclose(X[y == 0].mean(axis=0), [-2.0, 1.0], atol=0.05)
    assert np.allclose(X[y == 1].mean(axis=0), [3.0, 0.0], atol=0.05)


def test_moons_lie_on_their_half_circles():
    X, y = make_moons(n=400, noise=0.0, seed=0)
    assert np.allclose(np.hypot(X[y == 0, 0], X[y == 0, 1]), 1.0)
    assert np.all(X[y == 0, 1] >= 0)
    assert np.allclose(np.hypot(X[y == 1, 0] - 1.0, X[y == 1, 1] - 0.5), 1.0)
    assert np.all(X[y == 1, 1] <= 0.5)


def test_plot_decision_boundary_draws_the_half_contour_and_keeps_rcparams():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    before = dict(plt.rcParams)
    X, y = make_blobs(n=40, seed=0)
    ax = plot_decision_boundary(lambda P: 1.0 / (1.0 + np.exp(-P.sum(axis=1))), X, y, title="t")
    assert ax.get_title() == "t"
    assert len(ax.collections) >= 3  # the shading, the 0.5 contour, two scatters
    assert dict(plt.rcParams) == before
    plt.close(ax.figure)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("loss", ["cross_entropy", "squared"])
def test_backprop_matches_finite_differences(activation, loss):
    X, y = make_moons(n=9, seed=1)
    params = init_mlp([2, 5, 3, 1], seed=2)
    for k in params:  # nonzero biases so no bias gradient is trivially zero
        params[k] = params[k] + 0.1
    grads = mlp_gradients(params, X, y, activation, loss)
    for name in params:

        def f(value, name=name):
            return mlp_loss({**params, name: value}, X, y, activation, loss)

        err = check_gradient(f, lambda _v, name=name: grads[name], params[name])
        assert err < (1e-6 if activation == "relu" else GOOD), (name, err)


def test_cross_entropy_is_the_log_loss_of_the_probabilities():
    X, y = make_blobs(n=30, seed=0)
    params = init_mlp([2, 4, 1], seed=0)
    p = predict_proba(params, X, "tanh")
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert np.isclose(mlp_loss(params, X, y, "tanh", "cross_entropy"), expected)


def test_train_mlp_solves_xor_and_a_linear_model_does_not_go_far():
    X, y = make_xor(n=200, noise=0.1, seed=0)
    x_val, y_val = make_xor(n=200, noise=0.1, seed=1)
    params, history = train_mlp(
        X, y, hidden=(4,), activation="tanh", num_epochs=60, lr=0.5, batch_size=20, x_val=x_val, y_val=y_val
    )
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 60 for v in history.values())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.95
    again, _ = train_mlp(X, y, hidden=(4,), activation="tanh", num_epochs=60, lr=0.5, batch_size=20)
    assert all(np.array_equal(params[k], again[k]) for k in params)  # same seed, same run


def test_bad_names_are_rejected_with_the_choices():
    with pytest.raises(ValueError, match="relu"):
        train_mlp(np.zeros((2, 2)), np.zeros(2), activation="softsign")
    with pytest.raises(ValueError, match="cross_entropy"):
        mlp_loss(init_mlp([2, 1]), np.zeros((2, 2)), np.zeros(2), loss="hinge")
    with pytest.raises(ValueError, match="single output"):
        init_mlp([2, 3])
