"""The assignment's source of truth: ``solutions/ASSIGNMENT/ASSIGNMENT.ipynb`` seen through nbgrader.

:func:`load_assignment` runs nbgrader's own ``generate_assignment`` preprocessors in memory to get

* the *master* notebook: solutions cleared, hidden tests kept, checksums computed (what nbgrader's
  ``SaveCells`` stores in its gradebook and restores protected cells from), and
* the *release* notebook: the master with hidden tests and mark schemes cleared (what students get).

From them it derives one :class:`CellSpec` per nbgrader cell and the set of hidden test lines that must
never reach a student.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.config import GradingConfig, load_config
from autograder.errors import UsageError

_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


@dataclass(frozen=True)
class CellSpec:
    """What the source says about one nbgrader cell.

    Attributes:
        grade_id: the cell's id.
        cell_type: ``code`` or ``markdown``.
        role: ``test`` (autograded), ``manual`` (graded by a person), ``answer`` (ungraded solution cell)
            or ``protected`` (read-only, restored from the source).
        points: points available (0 for cells that are not graded).
        checksum: nbgrader's checksum of the released cell (an unchanged answer earns nothing).
    """

    grade_id: str
    cell_type: str
    role: str
    points: float
    checksum: str

    @property
    def restored(self) -> bool:
        """Whether the source version replaces whatever the student's notebook holds."""
        return self.role in ("test", "protected")


@dataclass(frozen=True)
class Assignment:
    """A loaded assignment, ready to grade submissions against."""

    name: str
    folder: Path
    master: NotebookNode
    release: NotebookNode
    specs: tuple[CellSpec, ...]
    hidden_lines: tuple[str, ...]
    config: GradingConfig
    fingerprint: str

    def spec(self, grade_id: str) -> CellSpec | None:
        """The spec of ``grade_id``, if the source has that cell."""
        return next((s for s in self.specs if s.grade_id == grade_id), None)


def nb_meta(cell: NotebookNode) -> dict:
    """The cell's ``nbgrader`` metadata ({} when it has none or it is not a dict)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def resolve_folder(assignment: str | Path, *, root: Path | None = None) -> Path:
    """Find an assignment's source folder: a path to it, or a name under ``ROOT/solutions``.

    Raises:
        UsageError: no such folder or notebook.
    """
    root = Path.cwd() if root is None else root
    candidate = Path(assignment)
    folder = candidate if candidate.is_dir() else root / "solutions" / str(assignment)
    notebook = folder / f"{folder.name}.ipynb"
    if not notebook.is_file():
        raise UsageError(
            f"no source notebook for assignment {assignment!r}: expected {notebook}. Pass the assignment's "
            "name (run from the course root, where solutions/ is) or the path to its source folder."
        )
    return folder.resolve()


def _nbgrader_config(root: Path):
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    path = root / "nbgrader_config.py"
    if not path.exists():
        return Config()
    return PyFileConfigLoader(path.name, path=str(root)).load_config()


def _preprocess(nb: NotebookNode, steps: list, config) -> NotebookNode:
    resources: dict = {"nbgrader": {}}
    for step in steps:
        nb, resources = step(config=config).preprocess(nb, resources)
    return nb


def build_master_and_release(source: NotebookNode, *, root: Path) -> tuple[NotebookNode, NotebookNode]:
    """Run nbgrader's generate_assignment preprocessors in memory (same order, no database).

    Returns:
        ``(master, release)``: with and without hidden tests.
    """
    from nbgrader import preprocessors as pp

    config = _nbgrader_config(root)
    master = _preprocess(
        copy.deepcopy(source),
        [pp.LockCells, pp.ClearSolutions, pp.ClearOutput, pp.CheckCellMetadata, pp.ComputeChecksums],
        config,
    )
    release = _preprocess(
        copy.deepcopy(master),
        [pp.ClearHiddenTests, pp.ClearMarkScheme, pp.ComputeChecksums, pp.CheckCellMetadata],
        config,
    )
    return master, release


def cell_specs(release: NotebookNode) -> tuple[CellSpec, ...]:
    """One spec per nbgrader cell of a released (or student) notebook, in order."""
    specs = []
    for cell in release.cells:
        meta = nb_meta(cell)
        if "grade_id" not in meta:
            continue
        grade, solution, task = bool(meta.get("grade")), bool(meta.get("solution")), bool(meta.get("task"))
        if grade and not solution and cell.cell_type == "code":
            role = "test"
        elif grade or task:
            role = "manual"
        elif solution:
            role = "answer"
        else:
            role = "protected"
        points = float(meta.get("points", 0) or 0) if (grade or task) else 0.0
        specs.append(CellSpec(meta["grade_id"], cell.cell_type, role, points, str(meta.get("checksum", ""))))
    return tuple(specs)


def _hidden_lines(master: NotebookNode, release: NotebookNode) -> tuple[str, ...]:
    released = {nb_meta(c).get("grade_id"): c.source for c in release.cells}
    hidden: list[str] = []
    for cell in master.cells:
        grade_id = nb_meta(cell).get("grade_id")
        if grade_id is None or cell.source == released.get(grade_id):
            continue
        public = {line.strip() for line in released.get(grade_id, "").splitlines()}
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped and stripped not in public and not stripped.startswith(_MARKERS):
                hidden.append(stripped)
    return tuple(dict.fromkeys(hidden))


def load_assignment(assignment: str | Path, *, root: Path | None = None) -> Assignment:
    """Load and prepare an assignment's source notebook and settings.

    Args:
        assignment: the assignment's name (under ``ROOT/solutions``) or its source folder.
        root: the course root (default: the current directory).

    Returns:
        The assignment.

    Raises:
        UsageError: missing or invalid source notebook or configuration.
    """
    root = Path.cwd() if root is None else Path(root)
    folder = resolve_folder(assignment, root=root)
    path = folder / f"{folder.name}.ipynb"
    try:
        source = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read the source notebook {path}: {error}") from None
    from nbgrader.nbgraderformat import ValidationError as NbgraderValidationError
    from nbgrader.nbgraderformat.common import SchemaMismatchError

    try:
        master, release = build_master_and_release(source, root=root)
    except SchemaMismatchError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(
            f"the source notebook {path} has nbgrader metadata of another schema version ({first}); this "
            "grader reads the schema of the pinned nbgrader: `nbgrader update` upgrades an older notebook"
        ) from None
    except NbgraderValidationError as error:
        raise UsageError(f"the source notebook {path} has invalid nbgrader metadata: {error}") from None
    specs = cell_specs(release)
    ids = [s.grade_id for s in specs]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise UsageError(f"the source notebook {path} repeats grade ids {duplicated}; make them unique.")
    config = load_config(folder)
    digest = hashlib.sha256(
        json.dumps({"master": master, "config": config.describe()}, sort_keys=True, default=str).encode()
    ).hexdigest()
    return Assignment(
        name=folder.name,
        folder=folder,
        master=master,
        release=release,
        specs=specs,
        hidden_lines=_hidden_lines(master, release),
        config=config,
        fingerprint=digest,
    )
