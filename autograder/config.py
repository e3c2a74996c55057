"""Per-assignment settings, read from ``autograder.toml`` next to the source notebook (stdlib ``tomllib``).

Every setting has a default here, once. Example (all keys optional)::

    [limits]
    cell_timeout = 300          # seconds one cell may run (Keras homeworks need minutes)
    submission_timeout = 1800   # seconds for the whole notebook
    memory_gb = 8               # address-space limit of each process of the notebook's sandbox
    resident_gb = 2             # resident memory of the whole sandbox (its cgroup, tmpfs included;
                                # default: memory_gb when that is set, else 2)
    verifier_memory_gb = 4      # the same for the process that runs the tests (default: memory_gb)
    verifier_resident_gb = 1    # (default: verifier_memory_gb when that is set, else resident_gb)
    max_notebook_mb = 20        # larger files are refused with a reason
    disk_mb = 512               # the sandbox's working folder and /tmp (RAM-backed), each
    max_processes = 512         # processes and threads of the sandbox's uid (RLIMIT_NPROC)

    [execution]
    preload = ["numpy"]         # imported before the notebook starts (a warm process)
    env = ["DLCOURSE_DATA"]     # environment variables the notebook may see
    fork_server = true          # fork each sandbox from a warm process that imported `preload` and the
                                # tests' set-up modules once per worker (false: a fresh process each)

    [feedback]
    max_output_chars = 10000    # per cell, in feedback and in the executed notebook

    [models]                    # what a Keras model fetched from the student's process may use
    optimizers = ["RMSprop"]    # a key replaces that kind's default list (DEFAULT_MODELS)
    [models.add]
    layers = ["Conv2D"]         # added to the default list

The kinds are ``layers`` (models included), ``activations``, ``losses``, ``optimizers``, ``metrics``,
``initializers``, ``regularizers`` and ``constraints`` (``plaindata.ModelAllowList``).
    [platforms]                 # `autograder gradescope` / `autograder prairielearn`
    hidden_visibility = "after_published"  # Gradescope visibility of tests holding hidden tests
    data = ["mnist.npz"]        # files of $DLCOURSE_DATA the homework reads, shipped with the grader
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from autograder.errors import UsageError
from autograder.sandbox import Limits
from autograder.sandbox.plaindata import MODEL_KINDS, ModelAllowList

CONFIG_NAME = "autograder.toml"
DEFAULT_ENV = (
    "DLCOURSE_DATA",
    "TF_CPP_MIN_LOG_LEVEL",
    "TF_ENABLE_ONEDNN_OPTS",
    "OMP_NUM_THREADS",
    "PYTHONHASHSEED",
    "CUDA_VISIBLE_DEVICES",
)

# What a Keras model fetched from a student may use unless autograder.toml says otherwise: the standard
# pieces of a course on multilayer perceptrons (every homework's solution passes it, see the tests).
DEFAULT_MODELS = ModelAllowList(
    layers=(
        "Sequential", "Functional", "InputLayer", "Dense", "Dropout", "Flatten", "Activation",
        "BatchNormalization", "LayerNormalization", "Reshape", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax",
        "GaussianNoise", "GaussianDropout", "Add", "Concatenate", "Average", "Multiply", "Subtract",
        "Rescaling",
    ),
    activations=(
        "linear", "relu", "sigmoid", "softmax", "tanh", "elu", "selu", "gelu", "leaky_relu", "softplus",
        "softsign", "swish", "silu", "relu6", "hard_sigmoid", "log_softmax",
    ),
    losses=(
        "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
        "mean_squared_error", "mean_absolute_error", "mse", "mae", "huber",
    ),
    optimizers=(
        "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam", "ExponentialDecay",
        "InverseTimeDecay", "PiecewiseConstantDecay", "PolynomialDecay", "CosineDecay",
    ),
    metrics=(
        "accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
        "top_k_categorical_accuracy", "AUC", "Precision", "Recall", "mean_squared_error",
        "mean_absolute_error", "mse", "mae", "binary_crossentropy", "categorical_crossentropy",
        "sparse_categorical_crossentropy",
    ),
    initializers=(
        "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Zeros",
        "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
    ),
    regularizers=("L1", "L2", "L1L2"),
    constraints=("MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm"),
)  # fmt: skip


DEFAULT_RESIDENT_BYTES = 2 * 1024**3  # a sandbox's resident memory unless autograder.toml says otherwise


@dataclass(frozen=True)
class GradingConfig:
    """All settings that shape how one assignment is graded."""

    limits: Limits = field(default_factory=lambda: Limits(resident_bytes=DEFAULT_RESIDENT_BYTES))
    max_notebook_bytes: int = 20 * 1024**2
    preload: tuple[str, ...] = ("numpy",)
    fork_server: bool = True
    env_passthrough: tuple[str, ...] = DEFAULT_ENV
    max_output_chars: int = 10_000
    models: ModelAllowList = DEFAULT_MODELS
    hidden_visibility: str = "after_published"
    platform_data: tuple[str, ...] = ()

    def with_timeout(self, seconds: float | None) -> GradingConfig:
        """The same settings with the per-submission wall-clock limit replaced (cells are capped by it)."""
        if seconds is None:
            return self
        limits = replace(
            self.limits, submission_timeout=seconds, cell_timeout=min(self.limits.cell_timeout, seconds)
        )
        return replace(self, limits=limits)

    def describe(self) -> dict[str, Any]:
        """The settings as plain values (part of each result's fingerprint)."""
        return {
            "cell_timeout": self.limits.cell_timeout,
            "submission_timeout": self.limits.submission_timeout,
            "memory_bytes": self.limits.memory_bytes,
            "resident_bytes": self.limits.resident_bytes,
            "verifier_memory_bytes": self.limits.verifier_memory_bytes,
            "verifier_resident_bytes": self.limits.verifier_resident_bytes,
            "disk_bytes": self.limits.disk_bytes,
            "max_processes": self.limits.max_processes,
            "max_notebook_bytes": self.max_notebook_bytes,
            "preload": list(self.preload),
            "max_output_chars": self.max_output_chars,
            "models": self.models.describe(),
        }


_KNOWN = {
    "limits": {
        "cell_timeout",
        "submission_timeout",
        "memory_gb",
        "resident_gb",
        "verifier_memory_gb",
        "verifier_resident_gb",
        "max_notebook_mb",
        "disk_mb",
        "max_processes",
    },
    "execution": {"preload", "env", "fork_server"},
    "feedback": {"max_output_chars"},
    "models": {*MODEL_KINDS, "add"},
    "platforms": {"hidden_visibility", "data"},
}
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")  # Gradescope's four


def _models(path: Path, table: dict[str, Any]) -> ModelAllowList:
    """The ``[models]`` table over the defaults: a key replaces a kind's list, ``[models.add]`` adds to it."""
    added = table.get("add", {})
    if not isinstance(added, dict) or not set(added) <= set(MODEL_KINDS):
        raise UsageError(f"{path}: [models.add] takes the keys {', '.join(MODEL_KINDS)}.")
    lists = {}
    for kind in MODEL_KINDS:
        names = table.get(kind, getattr(DEFAULT_MODELS, kind))
        extra = added.get(kind, ())
        if not isinstance(names, (list, tuple)) or not isinstance(extra, (list, tuple)):
            raise UsageError(f"{path}: models.{kind} must be a list of Keras names.")
        lists[kind] = tuple(dict.fromkeys((*names, *extra)))
    try:
        return ModelAllowList(**lists)
    except ValueError as error:
        raise UsageError(f"{path}: {error}.") from None


def load_config(folder: Path, *, cell_timeout: float | None = None) -> GradingConfig:
    """Read ``folder/autograder.toml`` (defaults when absent).

    Args:
        folder: the assignment's source folder.
        cell_timeout: the course's own per-cell limit (nbgrader's ``c.Execute.timeout``), used when
            ``autograder.toml`` sets no ``cell_timeout``; the submission limit is raised to it if lower.

    Returns:
        The settings.

    Raises:
        UsageError: the file is not valid TOML or has unknown keys or wrong types.
    """
    path = folder / CONFIG_NAME
    if not path.exists():
        return _with_cell_timeout(GradingConfig(), cell_timeout)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(
            f"{path} is not valid TOML ({error}); fix the file or delete it to use defaults."
        ) from None
    for section, values in data.items():
        if section not in _KNOWN or not isinstance(values, dict):
            raise UsageError(
                f"{path}: unknown section [{section}]; known sections: {', '.join(sorted(_KNOWN))}."
            )
        unknown = set(values) - _KNOWN[section]
        if unknown:
            raise UsageError(
                f"{path}: unknown key(s) {', '.join(sorted(unknown))} in [{section}]; "
                f"known keys: {', '.join(sorted(_KNOWN[section]))}."
            )
    limits_in = data.get("limits", {})
    execution = data.get("execution", {})
    feedback = data.get("feedback", {})
    models = _models(path, data.get("models", {}))
    platforms = data.get("platforms", {})
    gib = lambda key: int(float(limits_in[key]) * 1024**3) if key in limits_in else None  # noqa: E731
    try:
        defaults = GradingConfig()
        # An assignment that sets only memory_gb (written before the two were apart) keeps it as both.
        resident = gib("resident_gb") or gib("memory_gb") or defaults.limits.resident_bytes
        limits = Limits(
            cell_timeout=float(limits_in.get("cell_timeout", defaults.limits.cell_timeout)),
            submission_timeout=float(limits_in.get("submission_timeout", defaults.limits.submission_timeout)),
            memory_bytes=int(
                float(limits_in.get("memory_gb", defaults.limits.memory_bytes / 1024**3)) * 1024**3
            ),
            disk_bytes=int(float(limits_in.get("disk_mb", defaults.limits.disk_bytes / 1024**2)) * 1024**2),
            max_processes=int(limits_in.get("max_processes", defaults.limits.max_processes)),
            resident_bytes=resident,
            verifier_memory_bytes=gib("verifier_memory_gb"),
            verifier_resident_bytes=gib("verifier_resident_gb") or gib("verifier_memory_gb"),
        )
        config = GradingConfig(
            limits=limits,
            max_notebook_bytes=int(
                float(limits_in.get("max_notebook_mb", defaults.max_notebook_bytes / 1024**2)) * 1024**2
            ),
            preload=tuple(str(m) for m in execution.get("preload", defaults.preload)),
            fork_server=execution.get("fork_server", defaults.fork_server),
            env_passthrough=tuple(dict.fromkeys((*DEFAULT_ENV, *(str(v) for v in execution.get("env", ()))))),
            max_output_chars=int(feedback.get("max_output_chars", defaults.max_output_chars)),
            models=models,
            hidden_visibility=str(platforms.get("hidden_visibility", defaults.hidden_visibility)),
            platform_data=tuple(str(f) for f in platforms.get("data", ())),
        )
    except (TypeError, ValueError) as error:
        raise UsageError(f"{path}: a value has the wrong type ({error}); use numbers for limits.") from None
    if not isinstance(config.fork_server, bool):
        raise UsageError(f"{path}: fork_server must be true or false.")
    if config.hidden_visibility not in VISIBILITIES:
        raise UsageError(f"{path}: hidden_visibility must be one of {', '.join(VISIBILITIES)}.")
    if limits.cell_timeout <= 0 or limits.submission_timeout <= 0:
        raise UsageError(f"{path}: time limits must be positive numbers of seconds.")
    return config if "cell_timeout" in limits_in else _with_cell_timeout(config, cell_timeout)


def _with_cell_timeout(config: GradingConfig, seconds: float | None) -> GradingConfig:
    """``config`` with the course's per-cell limit (the submission's limit is at least one cell's)."""
    if seconds is None:
        return config
    submission = config.limits.submission_timeout
    if seconds == float("inf"):  # no per-cell limit: a cell may use the submission's whole time
        return replace(config, limits=replace(config.limits, cell_timeout=submission))
    limits = replace(config.limits, cell_timeout=seconds, submission_timeout=max(submission, seconds))
    return replace(config, limits=limits)
