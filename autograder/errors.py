"""Errors, at the bottom of the package: nothing here imports from the rest of ``autograder``.

Two kinds matter. :class:`UsageError` means the instructor asked for something that cannot work (a missing
assignment, a bad ``autograder.toml``); the CLI prints its message, which says how to fix it, and exits 2.
:class:`SubmissionError` means one submission cannot be graded; the pipeline turns it into a ``failed``
result carrying the reason, and the batch goes on.
"""

from __future__ import annotations


class AutograderError(Exception):
    """Base class of the errors the autograder raises on purpose."""


class UsageError(AutograderError):
    """The command or its configuration cannot work; the message says how to fix it (exit code 2)."""


class SubmissionError(AutograderError):
    """One submission cannot be graded; ``reason`` is recorded in its result."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
