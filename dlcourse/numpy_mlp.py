"""A small multilayer perceptron for binary classification, in NumPy, trained by minibatch SGD.

``book/02_mlp`` uses it as a black box to train networks end to end; ``book/03_backprop`` derives the
backward pass that :func:`mlp_gradients` implements and writes it again from scratch. The notation is the
book's (``book/00_intro``, Conventions). Parameters live in a dict with the book's names
``W1, b1, W2, b2, ...``: ``W<l>`` is the matrix W^[l] of shape ``(units in, units out)``, so ``W1[k, j]`` is
the weight from input k to hidden unit j (a Keras ``Dense`` kernel's layout), and ``b<l>`` has shape
``(units out,)``. A batch ``X`` of shape ``(n, d)`` flows as ``Z1 = X @ W1 + b1`` (pre-activations Z^[1]),
``A1 = phi(Z1)`` (activations A^[1], the H of a one-hidden-layer network), and so on up to the output
logits. The output layer has one unit with a sigmoid; the losses are averaged over the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "hidden_delta",
    "init_mlp",
    "layer_gradients",
    "mlp_forward",
    "mlp_gradients",
    "mlp_loss",
    "output_delta",
    "predict_proba",
    "sigmoid",
    "train_mlp",
]

Params = dict[str, np.ndarray]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic sigmoid ``1 / (1 + exp(-z))``, elementwise, without overflow for large ``|z|``."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))


def _sigmoid_grad(z: np.ndarray) -> np.ndarray:
    s = sigmoid(z)
    return s * (1.0 - s)


def _tanh_grad(z: np.ndarray) -> np.ndarray:
    return 1.0 - np.tanh(z) ** 2


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _relu_grad(z: np.ndarray) -> np.ndarray:
    return (z > 0).astype(z.dtype)


#: name -> (activation, its derivative), both elementwise.
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "sigmoid": (sigmoid, _sigmoid_grad),
    "tanh": (np.tanh, _tanh_grad),
    "relu": (_relu, _relu_grad),
}
_LOSSES = ("cross_entropy", "squared")


def _num_layers(params: Params) -> int:
    return sum(1 for k in params if k.startswith("W"))


def _check(activation: str, loss: str | None = None) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    if loss is not None and loss not in _LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {list(_LOSSES)}")


def init_mlp(sizes: Sequence[int], seed: int = 0) -> Params:
    """Random weights ``N(0, 1/fan_in)`` and zero biases for layer sizes ``(d, hidden..., 1)``.

    Args:
        sizes: units per layer, inputs first, the single output unit last.
        seed: the random seed.

    Returns:
        ``{"W1": ..., "b1": ..., "W2": ..., ...}``.
    """
    if len(sizes) < 2 or sizes[-1] != 1:
        raise ValueError(f"sizes must run from the input width to a single output unit, got {sizes}")
    rng = np.random.default_rng(seed)
    params: Params = {}
    for layer, (fan_in, fan_out) in enumerate(pairwise(sizes), start=1):
        params[f"W{layer}"] = rng.normal(scale=1.0 / np.sqrt(fan_in), size=(fan_in, fan_out))
        params[f"b{layer}"] = np.zeros(fan_out)
    return params


def mlp_forward(
    params: Params, X: np.ndarray, activation: str = "sigmoid"
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Run the forward pass.

    Args:
        params: the weights (see :func:`init_mlp`).
        X: inputs of shape ``(n, d)``.
        activation: the hidden layers' activation: ``"sigmoid"``, ``"tanh"`` or ``"relu"``.

    Returns:
        ``(z_out, Z, A)``: the output logits of shape ``(n, 1)``; the pre-activations ``Z[0] = Z^[1], ...``
        of every hidden layer; the activations ``A[0] = X, A[1] = A^[1], ...`` (what each layer receives).
    """
    _check(activation)
    phi, _ = ACTIVATIONS[activation]
    A = [np.asarray(X, dtype=np.float64)]
    Z: list[np.ndarray] = []
    num_layers = _num_layers(params)
    for layer in range(1, num_layers):
        Z.append(A[-1] @ params[f"W{layer}"] + params[f"b{layer}"])
        A.append(phi(Z[-1]))
    z_out = A[-1] @ params[f"W{num_layers}"] + params[f"b{num_layers}"]
    return z_out, Z, A


def predict_proba(params: Params, X: np.ndarray, activation: str = "sigmoid") -> np.ndarray:
    """The probability of class 1 for each row of ``X``, shape ``(n,)``."""
    z_out, _, _ = mlp_forward(params, X, activation)
    return sigmoid(z_out).reshape(-1)


def mlp_loss(
    params: Params, X: np.ndarray, y: np.ndarray, activation: str = "sigmoid", loss: str = "cross_entropy"
) -> float:
    """The mean loss over the batch: cross-entropy (log-loss) or squared error ``(p - y)**2 / 2``."""
    _check(activation, loss)
    z_out, _, _ = mlp_forward(params, X, activation)
    z = z_out.reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if loss == "cross_entropy":
        # -[y log p + (1-y) log(1-p)] with p = sigmoid(z), written stably as log(1 + e^z) - y z.
        return float(np.mean(np.logaddexp(0.0, z) - y * z))
    return float(np.mean(0.5 * (sigmoid(z) - y) ** 2))


def output_delta(z: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> np.ndarray:
    """The output error signal: delta = dL/dZ of the mean loss L over the n rows, for sigmoid outputs.

    The 1/n of the average lives here (the book's convention): row i is ``(p_i - y_i) / n`` for the
    cross-entropy and ``(p_i - y_i) p_i (1 - p_i) / n`` for the squared error, with ``p = sigmoid(z)``.

    Args:
        z: the output logits, shape ``(n, K)``.
        y: the targets, same shape.
        loss: ``"cross_entropy"`` or ``"squared"``.
    """
    if loss not in _LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {list(_LOSSES)}")
    z = np.asarray(z, dtype=np.float64)
    p = sigmoid(z)
    error = p - np.asarray(y, dtype=np.float64)
    n = z.shape[0]
    return error / n if loss == "cross_entropy" else error * p * (1.0 - p) / n


def hidden_delta(
    delta_above: np.ndarray, W_above: np.ndarray, z: np.ndarray, activation: str = "sigmoid"
) -> np.ndarray:
    """One step down: ``delta = (delta_above @ W_above.T) * phi'(z)``, the error signal of a hidden layer.

    Args:
        delta_above: the error signal of the layer above, shape ``(n, units above)``.
        W_above: the weights into the layer above, shape ``(units here, units above)``.
        z: this layer's pre-activations, shape ``(n, units here)``.
        activation: this layer's activation.
    """
    _check(activation)
    _, phi_grad = ACTIVATIONS[activation]
    return (delta_above @ W_above.T) * phi_grad(z)


def layer_gradients(A_in: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A layer's ``(dW, db)`` from what came in and its error signal: ``A_in.T @ delta`` and the column sums.

    Plain sums over the examples, since ``delta`` already holds the 1/n of the mean loss.
    """
    return A_in.T @ delta, delta.sum(axis=0)


def mlp_gradients(
    params: Params, X: np.ndarray, y: np.ndarray, activation: str = "sigmoid", loss: str = "cross_entropy"
) -> Params:
    """Backpropagation: the gradient of :func:`mlp_loss` with respect to every parameter.

    With ``delta`` the gradient of the mean loss with respect to a layer's pre-activations (so it holds the
    1/n), the output delta is :func:`output_delta`; going down, a hidden layer's delta is
    :func:`hidden_delta`, ``(delta_above @ W_above.T) * phi'(Z)``; each layer's ``W`` and ``b`` get
    :func:`layer_gradients`, ``A_in.T @ delta`` and the column sums of ``delta``.

    Returns:
        A dict shaped like ``params``.
    """
    _check(activation, loss)
    z_out, Z, A = mlp_forward(params, X, activation)
    delta = output_delta(z_out, np.asarray(y, dtype=np.float64).reshape(-1, 1), loss)
    grads: Params = {}
    for layer in range(_num_layers(params), 0, -1):
        grads[f"W{layer}"], grads[f"b{layer}"] = layer_gradients(A[layer - 1], delta)
        if layer > 1:
            delta = hidden_delta(delta, params[f"W{layer}"], Z[layer - 2], activation)
    return {k: grads[k] for k in params}


def _accuracy(params: Params, X: np.ndarray, y: np.ndarray, activation: str) -> float:
    y_hat = (predict_proba(params, X, activation) >= 0.5).astype(np.int64)
    return float(np.mean(y_hat == np.asarray(y).reshape(-1)))


def train_mlp(
    X: np.ndarray,
    y: np.ndarray,
    hidden: Sequence[int] = (8,),
    activation: str = "tanh",
    loss: str = "cross_entropy",
    num_epochs: int = 100,
    lr: float = 0.5,
    batch_size: int = 32,
    seed: int = 0,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    params: Params | None = None,
) -> tuple[Params, dict[str, list[float]]]:
    """Train an MLP by minibatch stochastic gradient descent.

    Args:
        X: training inputs, shape ``(n, d)``.
        y: training labels (0 or 1), shape ``(n,)``.
        hidden: units per hidden layer, e.g. ``(8,)`` or ``(16, 16)``.
        activation: the hidden layers' activation.
        loss: ``"cross_entropy"`` or ``"squared"``.
        num_epochs: passes over the training data.
        lr: the learning rate.
        batch_size: examples per gradient step (the data is reshuffled every epoch).
        seed: seeds the initial weights and the shuffling.
        x_val: optional validation inputs.
        y_val: optional validation labels.
        params: optional starting weights (copied); ``hidden`` and ``seed``'s initialisation are then unused.

    Returns:
        ``(params, history)``; ``history`` maps ``"loss"``, ``"accuracy"`` (and ``"val_loss"``,
        ``"val_accuracy"`` when validation data is given) to one value per epoch, measured after it.
    """
    _check(activation, loss)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).reshape(-1)
    if params is None:
        params = init_mlp([X.shape[1], *hidden, 1], seed=seed)
    else:
        params = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    rng = np.random.default_rng(seed + 1)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    if x_val is not None and y_val is not None:
        history.update(val_loss=[], val_accuracy=[])
    for _ in range(num_epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            batch = order[start : start + batch_size]
            grads = mlp_gradients(params, X[batch], y[batch], activation, loss)
            for k in params:
                params[k] -= lr * grads[k]
        history["loss"].append(mlp_loss(params, X, y, activation, loss))
        history["accuracy"].append(_accuracy(params, X, y, activation))
        if x_val is not None and y_val is not None:
            history["val_loss"].append(mlp_loss(params, x_val, y_val, activation, loss))
            history["val_accuracy"].append(_accuracy(params, x_val, y_val, activation))
    return params, history
