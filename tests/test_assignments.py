"""Do the homeworks hold together, and does nbgrader grade them as we intend?

For every homework (``solutions/<hw>/<hw>.ipynb`` -> ``assignments/<hw>/<hw>.ipynb``):

- the committed student notebook is what nbgrader generates now, with no outputs, solutions or hidden tests;
- the points table in the notebook's introduction matches the cells' nbgrader metadata;
- graded with nbgrader itself (``generate_assignment`` then ``autograde`` in a temporary course), the
  solution scores full marks, the untouched student notebook scores zero, and each wrong submission in
  ``tests/fixtures/submissions/<hw>/`` loses exactly the cells it should, with the helpful message.

All submissions of one homework are graded in a single ``nbgrader autograde`` run (a session fixture), so
each Keras homework is trained once per submission and no more.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "submissions"
HOMEWORKS = ("hw1_backprop", "hw2_mnist", "hw3_imdb")
KERAS_HOMEWORKS = ("hw2_mnist", "hw3_imdb")

#: Student ids of the two submissions every homework is graded on besides its fixtures.
SOLUTION, UNTOUCHED = "the-solution", "untouched"

#: Seconds a single cell may run when grading (nbgrader's default, 30 s, is too short for Keras).
CELL_TIMEOUT = 600


@dataclass(frozen=True)
class Expected:
    """The cells a wrong submission must fail, each with a fragment of the message it must show."""

    failing: dict[str, str]


#: homework -> scenario (fixture file stem) -> expected outcome. Every other autograded cell passes.
EXPECTED: dict[str, dict[str, Expected]] = {
    "hw1_backprop": {
        "missing-w-oj": Expected({"hidden-layer-grads": "missing w_oj factor", "training": "accuracy"}),
        "forgot-activation-derivative": Expected(
            {"hidden-layer-grads": "forgot the derivative of the hidden activation", "training": "accuracy"}
        ),
        "transposed-gradient": Expected({"output-layer-grads": "dW2 is transposed", "training": ""}),
        "naive-sigmoid": Expected({}),
    },
    "hw2_mnist": {
        "sparse-loss": Expected({"compile-settings": "use categorical_crossentropy", "test-accuracy": ""}),
        # Without softmax the outputs are not probabilities and training goes nowhere (accuracy ~0.27).
        "wrong-activation": Expected(
            {"architecture": "the output layer must use softmax", "test-accuracy": "is below 0.97"}
        ),
    },
    "hw3_imdb": {
        "float64-vectorizer": Expected({"vectorize": "return float32"}),
        "baseline-not-compiled": Expected(
            {"baseline-model": "build_baseline must also compile the model", "best-model": ""}
        ),
    },
}


def _load_factory():
    spec = importlib.util.spec_from_file_location("make_submissions", FIXTURES / "make_submissions.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_submissions", module)
    spec.loader.exec_module(module)
    return module


factory = _load_factory()


# --------------------------------------------------------------------------------------------- helpers
def _notebook(folder: str, homework: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / folder / homework / f"{homework}.ipynb", as_version=4)


def _nbgrader_meta(cell) -> dict:
    return dict(cell.metadata.get("nbgrader", {}))


def _graded_cells(nb: nbformat.NotebookNode) -> dict[str, tuple[float, bool]]:
    """grade_id -> (points, graded by hand) for every cell that carries points."""
    cells = {}
    for cell in nb.cells:
        meta = _nbgrader_meta(cell)
        if meta.get("grade"):
            cells[meta["grade_id"]] = (float(meta["points"]), bool(meta.get("solution")))
    return cells


def _comparable(nb: nbformat.NotebookNode) -> list[tuple]:
    """What must agree between two generated student notebooks (outputs and counts are volatile)."""
    return [(cell.cell_type, cell.get("id"), cell.source, _nbgrader_meta(cell)) for cell in nb.cells]


def _path_with_venv() -> str:
    """PATH with this interpreter's bin folder first: nbgrader's gradebook runs the ``alembic`` command."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


@contextlib.contextmanager
def _venv_on_path():
    saved = os.environ.get("PATH", "")
    os.environ["PATH"] = _path_with_venv()
    try:
        yield
    finally:
        os.environ["PATH"] = saved


def _run_nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": _path_with_venv(), "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _make_course(folder: Path, homework: str) -> Path:
    """A temporary nbgrader course holding only ``homework``'s source, with its gradebook inside it."""
    (folder / "source").mkdir(parents=True)
    shutil.copytree(ROOT / "solutions" / homework, folder / "source" / homework)
    (folder / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(folder)!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(folder / 'gradebook.db')!r}\n"
        f"c.Execute.timeout = {CELL_TIMEOUT}\n"
    )
    _run_nbgrader(folder, "generate_assignment", homework, "--force")
    return folder


@dataclass(frozen=True)
class CellGrade:
    """One graded cell of one submission, as nbgrader's gradebook and autograded notebook record it."""

    score: float
    max_score: float
    needs_manual_grade: bool
    error: str  # the error name, message and traceback tail shown under the cell ('' if none)


@dataclass(frozen=True)
class GradedHomework:
    """The results of one nbgrader autograde run over all submissions of a homework."""

    course: Path
    grades: dict[str, dict[str, CellGrade]]  # student -> grade_id -> grade


def _cell_errors(notebook: Path) -> dict[str, str]:
    nb = nbformat.read(notebook, as_version=4)
    errors = {}
    for cell in nb.cells:
        grade_id = _nbgrader_meta(cell).get("grade_id")
        if cell.cell_type != "code" or grade_id is None:
            continue
        texts = []
        for output in cell.outputs:
            if output.output_type == "error":
                texts.append(f"{output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                texts.append(f"stderr: {output.text}")
        errors[grade_id] = "\n".join(texts)
    return errors


def _grade_all(folder: Path, homework: str) -> GradedHomework:
    from nbgrader.api import Gradebook

    course = _make_course(folder, homework)
    notebook_name = f"{homework}.ipynb"
    submissions = {
        SOLUTION: ROOT / "solutions" / homework / notebook_name,
        UNTOUCHED: course / "release" / homework / notebook_name,
    }
    for scenario in EXPECTED[homework]:
        submissions[scenario] = factory.path(homework, scenario)
    for student, notebook in submissions.items():
        target = course / "submitted" / student / homework
        target.mkdir(parents=True)
        shutil.copy(notebook, target / notebook_name)

    _run_nbgrader(course, "autograde", homework, "--force")

    grades: dict[str, dict[str, CellGrade]] = {}
    with _venv_on_path(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in submissions:
            errors = _cell_errors(course / "autograded" / student / homework / notebook_name)
            record = gradebook.find_submission_notebook(homework, homework, student)
            grades[student] = {
                grade.name: CellGrade(
                    score=float(grade.score),
                    max_score=float(grade.max_score),
                    needs_manual_grade=bool(grade.needs_manual_grade),
                    error=errors.get(grade.name, ""),
                )
                for grade in record.grades
            }
    return GradedHomework(course=course, grades=grades)


_graded: dict[str, GradedHomework] = {}


@pytest.fixture(scope="session")
def graded(tmp_path_factory, data_dir):
    """Grade a homework's submissions once per session: ``graded(hw) -> GradedHomework``."""

    def grade(homework: str) -> GradedHomework:
        if homework not in _graded:
            _graded[homework] = _grade_all(tmp_path_factory.mktemp(f"course-{homework}"), homework)
        return _graded[homework]

    return grade


def _homework_params():
    return [pytest.param(hw, marks=pytest.mark.slow) if hw in KERAS_HOMEWORKS else hw for hw in HOMEWORKS]


# ------------------------------------------------------------------------------- cheap structural tests
def test_every_solution_folder_is_a_known_homework():
    found = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    assert found == sorted(HOMEWORKS)


@pytest.mark.parametrize("homework", HOMEWORKS)
def test_committed_student_notebook_is_what_nbgrader_generates_now(homework, tmp_path):
    course = _make_course(tmp_path, homework)
    fresh = nbformat.read(course / "release" / homework / f"{homework}.ipynb", as_version=4)
    committed = _notebook("assignments", homework)
    assert _comparable(committed) == _comparable(fresh), (
        f"assignments/{homework} is out of date: run `make assignments` and commit the result"
    )
    assert committed.metadata.get("kernelspec") == fresh.metadata.get("kernelspec")


@pytest.mark.parametrize("homework", HOMEWORKS)
def test_student_notebook_has_no_outputs_solutions_or_hidden_tests(homework):
    nb = _notebook("assignments", homework)
    for cell in nb.cells:
        assert "BEGIN SOLUTION" not in cell.source and "END SOLUTION" not in cell.source
        assert "HIDDEN TESTS" not in cell.source
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {cell.get('id')} has outputs"
    answers = [c for c in nb.cells if _nbgrader_meta(c).get("solution") and c.cell_type == "code"]
    assert answers and all("raise NotImplementedError()" in c.source for c in answers)


@pytest.mark.parametrize("homework", HOMEWORKS)
def test_source_notebook_has_solutions_hidden_tests_and_readable_grade_ids(homework):
    nb = _notebook("solutions", homework)
    ids = [_nbgrader_meta(c)["grade_id"] for c in nb.cells if _nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", grade_id) for grade_id in ids), ids
    for cell in nb.cells:
        meta = _nbgrader_meta(cell)
        assert not any(out for out in cell.get("outputs", [])), "the source notebook must not keep outputs"
        if meta.get("solution") and cell.cell_type == "code":
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, meta["grade_id"]
    autograded_tests = [c for c in nb.cells if _nbgrader_meta(c).get("grade") and c.cell_type == "code"]
    hidden = [c for c in autograded_tests if "### BEGIN HIDDEN TESTS" in c.source]
    assert len(hidden) >= len(autograded_tests) - 1, "every test cell but at most one has hidden tests"


@pytest.mark.parametrize("homework", HOMEWORKS)
def test_points_table_and_total_match_the_metadata(homework):
    nb = _notebook("solutions", homework)
    cells = _graded_cells(nb)
    intro = nb.cells[0].source
    table = {
        gid: float(points) for gid, points in re.findall(r"\|\s*`([a-z0-9-]+)`\s*\|\s*(\d+)\s*\|", intro)
    }
    assert table == {gid: points for gid, (points, _) in cells.items()}
    total = sum(points for points, _ in cells.values())
    manual = sum(points for points, by_hand in cells.values() if by_hand)
    stated = re.search(r"\*\*Total: (\d+) points\*\*(?: \((\d+) autograded, (\d+) graded by hand\))?", intro)
    assert stated, "the introduction must state the total as '**Total: N points**'"
    assert float(stated.group(1)) == total
    if manual:
        assert stated.group(2) is not None, "say how many points are graded by hand"
        assert (float(stated.group(2)), float(stated.group(3))) == (total - manual, manual)


@pytest.mark.parametrize("homework", HOMEWORKS)
def test_fixtures_are_what_the_factory_builds(homework):
    for scenario in EXPECTED[homework]:
        committed = nbformat.read(factory.path(homework, scenario), as_version=4)
        assert _comparable(committed) == _comparable(factory.build(homework, scenario)), (
            f"{homework}/{scenario}.ipynb is stale: run tests/fixtures/submissions/make_submissions.py"
        )
    on_disk = sorted(p.stem for p in (FIXTURES / homework).glob("*.ipynb"))
    assert on_disk == sorted(EXPECTED[homework]), "every fixture needs an expectation here"


@pytest.mark.parametrize("homework", HOMEWORKS)
def test_book_page_links_the_student_notebook_and_states_its_points(homework):
    page = (ROOT / "book" / "08_assignments.md").read_text(encoding="utf-8")
    assert f"<../assignments/{homework}/{homework}.ipynb>`" in page, "the page needs a {download} link"
    cells = _graded_cells(_notebook("solutions", homework))
    total = sum(points for points, _ in cells.values())
    manual = sum(points for points, by_hand in cells.values() if by_hand)
    number = HOMEWORKS.index(homework) + 1
    row = re.search(rf"^\| {number}\. [^|]+\|[^|]+\| (\d+) \(([^)]*)\) \|", page, re.MULTILINE)
    assert row, f"no row for homework {number} in the page's table"
    assert float(row.group(1)) == total
    stated = f"{total - manual:g} autograded, {manual:g} by hand" if manual else "all autograded"
    assert row.group(2) == stated


def test_hw1_source_passes_nbgrader_validate(tmp_path, data_dir):
    course = _make_course(tmp_path, "hw1_backprop")
    result = _run_nbgrader(course, "validate", str(course / "source" / "hw1_backprop" / "hw1_backprop.ipynb"))
    assert "Success! Your notebook passes all the tests." in result.stdout, result.stdout


# ----------------------------------------------------------------------------- grading with nbgrader
@pytest.mark.parametrize("homework", _homework_params())
def test_solution_scores_full_marks(homework, graded):
    grades = graded(homework).grades[SOLUTION]
    for grade_id, (points, by_hand) in _graded_cells(_notebook("solutions", homework)).items():
        grade = grades[grade_id]
        assert grade.max_score == points
        if by_hand:
            assert grade.needs_manual_grade, f"{grade_id}: a written answer must wait for the grader"
        else:
            assert grade.score == points, f"{grade_id}: {grade.score}/{points}\n{grade.error}"


@pytest.mark.parametrize("homework", _homework_params())
def test_untouched_student_notebook_scores_zero(homework, graded):
    grades = graded(homework).grades[UNTOUCHED]
    assert set(grades) == set(_graded_cells(_notebook("solutions", homework)))
    assert {gid: g.score for gid, g in grades.items()} == dict.fromkeys(grades, 0.0)
    assert not any(g.needs_manual_grade for g in grades.values()), "an unanswered question needs no grader"


@pytest.mark.parametrize(
    ("homework", "scenario"),
    [
        pytest.param(hw, scenario, marks=[pytest.mark.slow] if hw in KERAS_HOMEWORKS else [])
        for hw, scenarios in EXPECTED.items()
        for scenario in scenarios
    ],
)
def test_wrong_submission_loses_exactly_the_right_cells_with_a_helpful_message(homework, scenario, graded):
    grades = graded(homework).grades[scenario]
    expected = EXPECTED[homework][scenario]
    cells = _graded_cells(_notebook("solutions", homework))
    failed = {gid for gid, g in grades.items() if not cells[gid][1] and g.score < g.max_score}
    assert failed == set(expected.failing), {gid: grades[gid].error[-300:] for gid in failed}
    for grade_id, fragment in expected.failing.items():
        assert grades[grade_id].score == 0
        assert fragment in grades[grade_id].error, grades[grade_id].error
    for grade_id, grade in grades.items():
        if grade_id not in expected.failing and not cells[grade_id][1]:
            assert grade.score == grade.max_score
            assert "stderr" not in grade.error


@pytest.mark.slow
@pytest.mark.parametrize("homework", KERAS_HOMEWORKS)
def test_keras_solution_passes_the_validator(homework, graded):
    """nbgrader's Validator, applied to the solution notebook that autograde just executed.

    ``nbgrader validate`` would train the model once more; here the Validator checks the executed notebook
    (its preprocessors minus ``Execute``), which is what it would have checked after executing it.
    """
    from nbgrader.preprocessors import CheckCellMetadata
    from nbgrader.validator import Validator

    autograded = graded(homework).course / "autograded"
    validator = Validator()
    validator.preprocessors = [CheckCellMetadata]
    assert validator.validate(str(autograded / SOLUTION / homework / f"{homework}.ipynb")) == {}
    # The same check does see failures: the untouched notebook fails every graded cell.
    failed = validator.validate(str(autograded / UNTOUCHED / homework / f"{homework}.ipynb"))["failed"]
    assert len(failed) == len(_graded_cells(_notebook("solutions", homework)))
