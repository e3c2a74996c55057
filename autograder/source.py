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
import enum
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from nbformat import NotebookNode

from autograder.config import GradingConfig, load_config
from autograder.errors import UsageError

if TYPE_CHECKING:
    from traitlets.config import Config

_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


class CellRole(enum.StrEnum):
    """What an nbgrader cell is for, as grading treats it."""

    TEST = "test"  # autograded: its tests decide its points
    MANUAL = "manual"  # graded by a person (a written answer or a task)
    ANSWER = "answer"  # the student's ungraded solution cell
    PROTECTED = "protected"  # read-only: restored from the source


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
    role: CellRole
    points: float
    checksum: str

    @property
    def restored(self) -> bool:
        """Whether the source version replaces whatever the student's notebook holds."""
        return self.role in (CellRole.TEST, CellRole.PROTECTED)


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

    def with_timeout(self, timeout: float | None) -> Assignment:
        """This assignment with a run's ``--timeout`` (seconds per submission) applied to its limits."""
        return replace(self, config=self.config.with_timeout(timeout))


def nb_meta(cell: NotebookNode) -> dict:
    """The cell's ``nbgrader`` metadata ({} when it has none or it is not a dict)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def course_directories(root: Path) -> tuple[str, str]:
    """The course's ``(source, submitted)`` folder names, as nbgrader's ``CourseDirectory`` reads them.

    ``ROOT/nbgrader_config.py`` is loaded by traitlets' own loader (nbgrader's defaults: ``source``,
    ``submitted``).
    """
    from nbgrader.coursedir import CourseDirectory

    directory = CourseDirectory(config=_nbgrader_config(root))
    return directory.source_directory, directory.submitted_directory


def notebooks_in(folder: Path) -> tuple[str, ...]:
    """The names (without ``.ipynb``) of an assignment folder's notebooks, sorted."""
    return tuple(sorted(p.stem for p in folder.glob("*.ipynb") if p.is_file() and not p.name.startswith(".")))


def resolve_folder(assignment: str | Path, *, root: Path | None = None) -> Path:
    """Find an assignment's source folder: a path to it, or a name under the course's source folder.

    A name is looked up under ``ROOT/solutions`` (this course's layout) and under the source folder the
    course's ``nbgrader_config.py`` names (``CourseDirectory.source_directory``, nbgrader's default
    ``source``). The folder must hold at least one notebook.

    Raises:
        UsageError: no such folder, or no notebook in it.
    """
    root = Path.cwd() if root is None else root
    candidate = Path(assignment)
    if candidate.is_dir():
        folders = [candidate]
    else:
        try:
            source_directory = course_directories(root)[0]
        except Exception as error:  # a broken nbgrader_config.py is the instructor's to fix
            raise UsageError(f"cannot load {root / 'nbgrader_config.py'}: {error}") from None
        names = dict.fromkeys(["solutions", source_directory])
        folders = [root / name / str(assignment) for name in names]
    for folder in folders:
        if folder.is_dir() and notebooks_in(folder):
            return folder.resolve()
    looked = " or ".join(str(f) for f in folders)
    raise UsageError(
        f"no source notebook for assignment {assignment!r}: expected a folder holding notebooks at {looked}. "
        "Pass the assignment's name (run from the course root, where solutions/ or nbgrader's source/ is) "
        "or the path to its source folder."
    )


def _nbgrader_config(root: Path) -> Config:
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    path = root / "nbgrader_config.py"
    if not path.exists():
        return Config()
    return PyFileConfigLoader(path.name, path=str(root)).load_config()


def execute_timeout(root: Path) -> float | None:
    """The course's per-cell time limit, ``c.Execute.timeout`` in ``nbgrader_config.py`` (None: unset).

    nbgrader's "no limit" (``None`` or a value of 0 or less) is no per-cell limit of ours either: the
    cell may run as long as the submission's limit allows.

    Raises:
        UsageError: the value is not a number.
    """
    execute = _nbgrader_config(root).get("Execute", {})
    if "timeout" not in execute:
        return None
    value = execute["timeout"]
    if value is None:
        return float("inf")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(
            f"{root / 'nbgrader_config.py'}: c.Execute.timeout must be a number of seconds, not {value!r}."
        )
    return float(value) if value > 0 else float("inf")


def _preprocess(nb: NotebookNode, steps: list, config: Config) -> NotebookNode:
    resources: dict = {"nbgrader": {}}
    for step in steps:
        nb, resources = step(config=config).preprocess(nb, resources)
    return nb


AUTOTEST = "AUTOTEST"


def _instantiate_tests(source: NotebookNode, folder: Path, root: Path, config: Config) -> NotebookNode:
    """Expand AUTOTEST directives with nbgrader's own ``InstantiateTests``, as ``generate_assignment`` does.

    nbgrader runs the instructor's source notebook in a Jupyter kernel to learn each tested value's type,
    then writes the tests ``autotests.yml`` describes (the assignment folder's, else the course root's).
    The kernel is the instructor's environment running the instructor's notebook, in the source folder;
    no student code is involved. Notebooks without a directive start no kernel.
    """
    from nbgrader import preprocessors as pp

    if not any(c.cell_type == "code" and AUTOTEST in c.source for c in source.cells):
        return source
    spec = next((p for p in (folder / "autotests.yml", root / "autotests.yml") if p.is_file()), None)
    if spec is None:
        raise UsageError(
            f"the source notebooks in {folder} use AUTOTEST directives but there is no autotests.yml in "
            f"{folder} or {root}; nbgrader's documentation describes the file."
        )
    from traitlets.config import Config

    merged = Config(config)
    merged.InstantiateTests.autotest_filename = str(spec.resolve())
    resources: dict = {"nbgrader": {}, "metadata": {"path": str(folder)}}
    try:
        nb, _ = pp.InstantiateTests(config=merged).preprocess(copy.deepcopy(source), resources)
    except (ValueError, KeyError, RuntimeError) as error:
        raise UsageError(f"nbgrader could not expand the AUTOTEST directives in {folder}: {error}") from None
    return nb


def build_master_and_release(
    source: NotebookNode, *, root: Path, folder: Path | None = None
) -> tuple[NotebookNode, NotebookNode]:
    """Run nbgrader's generate_assignment preprocessors in memory (same order, no database).

    AUTOTEST directives are expanded first (nbgrader's ``InstantiateTests``, see :func:`_instantiate_tests`),
    so the tests graded are the ones nbgrader releases and grades.

    Returns:
        ``(master, release)``: with and without hidden tests.
    """
    from nbgrader import preprocessors as pp

    config = _nbgrader_config(root)
    expanded = _instantiate_tests(source, root if folder is None else folder, root, config)
    master = _preprocess(
        copy.deepcopy(expanded),
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
            role = CellRole.TEST
        elif grade or task:
            role = CellRole.MANUAL
        elif solution:
            role = CellRole.ANSWER
        else:
            role = CellRole.PROTECTED
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


def load_assignment(
    assignment: str | Path, *, root: Path | None = None, notebook: str | None = None
) -> Assignment:
    """Load and prepare one of an assignment's source notebooks and its settings.

    Args:
        assignment: the assignment's name (under ``ROOT/solutions`` or the course's nbgrader source
            folder), its source folder, or the path to one of its notebooks.
        root: the course root (default: the current directory).
        notebook: which notebook (its name without ``.ipynb``) when the folder holds several.

    Returns:
        The assignment, named after the notebook.

    Raises:
        UsageError: missing or invalid source notebook or configuration.
    """
    root = Path.cwd() if root is None else Path(root)
    candidate = Path(assignment)
    if notebook is None and candidate.suffix == ".ipynb" and candidate.is_file():
        candidate, notebook = candidate.parent, candidate.stem
    folder = resolve_folder(candidate if candidate.is_dir() else assignment, root=root)
    names = notebooks_in(folder)
    if notebook is None and folder.name in names:
        notebook = folder.name  # this course's layout: solutions/hw1/hw1.ipynb
    elif notebook is None:
        if len(names) > 1:
            raise UsageError(
                f"{folder} holds several notebooks ({', '.join(names)}); pass the path to one of them."
            )
        notebook = names[0]
    path = folder / f"{notebook}.ipynb"
    if notebook not in names:
        raise UsageError(f"no source notebook {path}; {folder} holds {', '.join(names)}.")
    try:
        source = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read the source notebook {path}: {error}") from None
    from nbgrader.nbgraderformat import ValidationError as NbgraderValidationError
    from nbgrader.nbgraderformat.common import SchemaMismatchError

    try:
        master, release = build_master_and_release(source, root=root, folder=folder)
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
    config = load_config(folder, cell_timeout=execute_timeout(root))
    digest = hashlib.sha256(
        json.dumps({"master": master, "config": config.describe()}, sort_keys=True, default=str).encode()
    ).hexdigest()
    return Assignment(
        name=notebook,
        folder=folder,
        master=master,
        release=release,
        specs=specs,
        hidden_lines=_hidden_lines(master, release),
        config=config,
        fingerprint=digest,
    )
