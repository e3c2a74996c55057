"""The course autograder: grades folders of nbgrader submissions (work in progress)."""

from __future__ import annotations

__version__ = "0.1.0"
