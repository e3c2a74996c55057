"""Shared fixtures: where the real course data lives, and a guard that it is never written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    folder = os.environ.get("DLCOURSE_DATA")
    if not folder:
        pytest.fail(
            "DLCOURSE_DATA is not set: point it at the course's shared/data folder "
            "(`make test` does this when ../shared/data exists)."
        )
    return Path(folder)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets folder; the session fails if any test changed it."""
    folder = _data_dir()
    before = _snapshot(folder)
    yield folder
    assert _snapshot(folder) == before, f"{folder} was modified by the tests"
