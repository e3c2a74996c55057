"""A small multilayer perceptron for binary classification, in NumPy, trained by minibatch SGD.

``book/02_mlp`` uses it as a black box to train networks end to end; ``book/03_backprop`` derives the
backward pass that :func:`mlp_gradients` implements and writes it again from scratch. Parameters live in a
dict with the book's names ``W1, b1, W2, b2, ...``: ``W<l>`` has shape ``(units in, units out)`` and
``b<l>`` shape ``(units out,)``, so a batch ``X`` of shape ``(n, d)`` flows as ``H = phi(X @ W1 + b1)``.
The output layer has one unit with a sigmoid; the losses are averaged over the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "init_mlp",
    "mlp_forward",
    "mlp_gradients",
    "mlp_loss",
    "predict_proba",
    "train_mlp",
]

Params = dict[str, np.ndarray]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _sigmoid_grad(z: np.ndarray) -> np.ndarray:
    s = _sigmoid(z)
    return s * (1.0 - s)


def _tanh_grad(z: np.ndarray) -> np.ndarray:
    return 1.0 - np.tanh(z) ** 2


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _relu_grad(z: np.ndarray) -> np.ndarray:
    return (z > 0).astype(z.dtype)


#: name -> (activation, its derivative), both elementwise.
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "sigmoid": (_sigmoid, _sigmoid_grad),
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
        ``(o, Z, A)``: the output logits of shape ``(n, 1)``; the pre-activations ``Z[l]`` of every
        hidden layer; the layer outputs ``A[0] = X, A[1], ...`` (what each layer receives).
    """
    _check(activation)
    phi, _ = ACTIVATIONS[activation]
    A = [np.asarray(X, dtype=np.float64)]
    Z: list[np.ndarray] = []
    num_layers = _num_layers(params)
    for layer in range(1, num_layers):
        Z.append(A[-1] @ params[f"W{layer}"] + params[f"b{layer}"])
        A.append(phi(Z[-1]))
    o = A[-1] @ params[f"W{num_layers}"] + params[f"b{num_layers}"]
    return o, Z, A


def predict_proba(params: Params, X: np.ndarray, activation: str = "sigmoid") -> np.ndarray:
    """The probability of class 1 for each row of ``X``, shape ``(n,)``."""
    o, _, _ = mlp_forward(params, X, activation)
    return _sigmoid(o).reshape(-1)


def mlp_loss(
    params: Params, X: np.ndarray, y: np.ndarray, activation: str = "sigmoid", loss: str = "cross_entropy"
) -> float:
    """The mean loss over the batch: cross-entropy (log-loss) or squared error ``(p - y)**2 / 2``."""
    _check(activation, loss)
    o, _, _ = mlp_forward(params, X, activation)
    o = o.reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if loss == "cross_entropy":
        # -[y log p + (1-y) log(1-p)] with p = sigmoid(o), written stably as log(1 + e^o) - y o.
        return float(np.mean(np.logaddexp(0.0, o) - y * o))
    return float(np.mean(0.5 * (_sigmoid(o) - y) ** 2))


def mlp_gradients(
    params: Params, X: np.ndarray, y: np.ndarray, activation: str = "sigmoid", loss: str = "cross_entropy"
) -> Params:
    """Backpropagation: the gradient of :func:`mlp_loss` with respect to every parameter.

    With ``delta`` the gradient of the summed loss with respect to a layer's pre-activation, the output
    delta is ``p - y`` (cross-entropy) or ``(p - y) p (1 - p)`` (squared error); going down, a hidden
    layer's delta is ``(delta_above @ W_above.T) * phi'(Z)``; each ``W`` gets ``A_below.T @ delta / n``
    and each ``b`` the column means of ``delta``.

    Returns:
        A dict shaped like ``params``.
    """
    _check(activation, loss)
    _, phi_grad = ACTIVATIONS[activation]
    o, Z, A = mlp_forward(params, X, activation)
    n = o.shape[0]
    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    p = _sigmoid(o)
    delta = p - y if loss == "cross_entropy" else (p - y) * p * (1.0 - p)
    grads: Params = {}
    for layer in range(_num_layers(params), 0, -1):
        grads[f"W{layer}"] = A[layer - 1].T @ delta / n
        grads[f"b{layer}"] = delta.mean(axis=0)
        if layer > 1:
            delta = (delta @ params[f"W{layer}"].T) * phi_grad(Z[layer - 2])
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
