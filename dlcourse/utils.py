"""Explicit seeding (importing :mod:`dlcourse` seeds nothing).

Introduced in the perceptron chapter (``book/01_perceptron``) and used on every page.
"""

from __future__ import annotations

import os
import random
import sys

import numpy as np

__all__ = ["set_seed"]


def set_seed(seed: int = 0) -> np.random.Generator:
    """Seed Python, NumPy and, if Keras is already imported, Keras/TensorFlow; return a NumPy ``Generator``.

    Import Keras before calling this on a Keras page: Keras is seeded through
    ``keras.utils.set_random_seed`` (which also seeds TensorFlow) only when it is already in
    ``sys.modules``, so NumPy-only pages do not pay TensorFlow's import time. With a fixed seed a CPU run
    repeats exactly; on a GPU some kernels stay nondeterministic.
    """
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)
