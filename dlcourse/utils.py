"""Explicit seeding (importing :mod:`dlcourse` seeds nothing).

Introduced in the Keras workflow chapter (``book/04_keras``).
"""

from __future__ import annotations

import importlib.util
import os
import random

import numpy as np

__all__ = ["set_seed"]


def set_seed(seed: int = 0) -> np.random.Generator:
    """Seed Python, NumPy and (if already installed) Keras/TensorFlow; return a NumPy ``Generator``.

    Keras is seeded through ``keras.utils.set_random_seed``, which also seeds TensorFlow. With a fixed
    seed a CPU run repeats exactly; on a GPU some kernels stay nondeterministic.
    """
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if importlib.util.find_spec("keras") is not None:
        import keras

        keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)
