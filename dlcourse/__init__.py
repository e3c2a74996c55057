"""Small helpers shared by the book and the assignments.

Each helper grows out of a book page that introduces it (see each function's docstring for the page).
Importing the package has no side effects: it does not import Keras, seed anything or touch plotting
styles. Submodules:

- :mod:`dlcourse.datasets` -- the course's only way to get data (MNIST, IMDb), offline-first.
- :mod:`dlcourse.gradcheck` -- finite-difference gradient checking.
- :mod:`dlcourse.numpy_mlp` -- a small NumPy multilayer perceptron with backpropagation (chapters 02-03).
- :mod:`dlcourse.plotting` -- training curves and image grids.
- :mod:`dlcourse.text` -- multi-hot encoding of word-index sequences, dense or sparse (chapters 06-07).
- :mod:`dlcourse.toy` -- seeded 2-D toy data and decision-boundary plots (chapters 01-03).
- :mod:`dlcourse.utils` -- explicit seeding.
"""

from __future__ import annotations

__all__ = ["datasets", "gradcheck", "numpy_mlp", "plotting", "text", "toy", "utils"]
__version__ = "0.1.0"
