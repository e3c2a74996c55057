"""Do the homeworks hold together, and does the autograder grade them as we intend?

For every homework (``solutions/<hw>/<hw>.ipynb`` -> ``assignments/<hw>/<hw>.ipynb``):

- the committed student notebook is what ``autograder release`` (nbgrader's ``generate_assignment``)
  generates now, with no outputs, solutions or hidden tests;
- the points table in the notebook's introduction matches the cells' nbgrader metadata;
- graded with ``python -m autograder grade`` (one run per homework, all submissions in it, a session
  fixture), the solution scores full autograded marks, the untouched student notebook scores zero without
  failing, and each wrong submission in ``tests/fixtures/submissions/<hw>/`` loses exactly the cells it
  should, with the helpful message;
- nbgrader still agrees: ``nbgrader validate`` passes the hw1 source, plain ``nbgrader autograde`` gives
  hw1's submissions the autograder's per-cell scores, and nbgrader's own scoring rule (which also zeroes a
  test that writes to stderr) applied to every notebook the autograder executed gives the same scores.
  The Keras homeworks are not run through nbgrader (minutes of training per submission).
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.source import load_assignment, nb_meta

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "submissions"
HOMEWORKS = ("hw1_backprop", "hw2_mnist", "hw3_imdb")
KERAS_HOMEWORKS = ("hw2_mnist", "hw3_imdb")

#: Student ids of the two submissions every homework is graded on besides its fixtures.
SOLUTION, UNTOUCHED = "the-solution", "untouched"

#: Seconds the whole grading run of one homework may take before the test gives up (the autograder's own
#: per-cell and per-submission limits come from ``solutions/<hw>/autograder.toml``).
RUN_TIMEOUT = 3600


@dataclass(frozen=True)
class Expected:
    """The cells a wrong submission must fail, each with a fragment of the message it must show.

    ``points_lost`` is the autograded total those cells are worth, stated here so that a change of points or
    of the failing cells shows up as a deliberate edit.
    """

    failing: dict[str, str]
    points_lost: float = 0.0


#: homework -> scenario (fixture file stem) -> expected outcome. Every other autograded cell passes.
EXPECTED: dict[str, dict[str, Expected]] = {
    "hw1_backprop": {
        "missing-w-jo": Expected({"hidden-layer-grads": "missing w_jo factor", "training": "w_jo"}, 8),
        "forgot-activation-derivative": Expected(
            {
                "hidden-layer-grads": "forgot the derivative of the hidden activation",
                "training": "sigmoid_grad(Z1)",
            },
            8,
        ),
        # dW2 of shape (1, m) is broadcast in the update: W2 becomes (m, m) without an error.
        "transposed-gradient": Expected(
            {"output-layer-grads": "dW2 is transposed", "training": "silently broadcast"}, 7
        ),
        "naive-sigmoid": Expected({}),
        # Each of the three functions is wrong alone (their product trains correctly): each message names 1/n.
        "per-example-delta": Expected(
            {
                "output-delta": "the 1/n of the average lives in delta2",
                "output-layer-grads": "dW2 is n = 5 times too small",
                "hidden-layer-grads": "dW1 is n = 6 times too small",
            },
            9,
        ),
        # A wrong loss costs the loss only: output-delta compares with the reference losses.
        "squared-error-without-half": Expected({"losses": "keep the factor 1/2"}, 2),
        # Zero-size arrays (np.allclose of empty arrays is True): caught by the shape checks.
        "empty-arrays": Expected({"forward-sums": "returned shapes (0,) and (0,)"}, 2),
        # The book's code (dlcourse.numpy_mlp) in the answer cells: full marks.
        "book-code": Expected({}),
    },
    "hw2_mnist": {
        "sparse-loss": Expected({"compile-settings": "use categorical_crossentropy", "test-accuracy": ""}, 9),
        # Without softmax `model` is not the specified network: its accuracy is not even looked at.
        "wrong-activation": Expected(
            {"architecture": "the output layer must use softmax", "test-accuracy": "the network of Part 2"},
            10,
        ),
        # The same settings spelled as Keras objects: full marks.
        "keras-objects": Expected({}),
        # The public test images stored in the weights, never trained (it scores 1.0 on the test set).
        "memorized-test-set": Expected({"test-accuracy": "the network of Part 2"}, 6),
        # fit called twice: the last History says 3 epochs, the optimizer took 5 epochs of batches.
        "fit-twice": Expected({"test-accuracy": "call fit once"}, 6),
        # The validation images trained on too: the optimizer's step count shows it.
        "validation-in-training": Expected({"test-accuracy": "which includes the validation images"}, 6),
        # The test images as the validation set: the split is not the training set's.
        "test-set-as-validation": Expected({"validation-split": "no test image"}, 2),
    },
    "hw3_imdb": {
        "float64-vectorizer": Expected({"vectorize": "store float32 values"}, 4),
        "baseline-not-compiled": Expected(
            {"baseline-model": "build_baseline must also compile the model", "best-model": ""}, 7
        ),
        # Chooses on val_loss, which includes the L2 penalty (the test's own runs tell it apart).
        "val-loss-selection": Expected({"best-model": "choose on val_bce"}, 4),
        # One more epoch after the chosen ones: the optimizer's step count shows it.
        "trained-again": Expected({"best-model": "call fit once, on x_train"}, 4),
        # The first 10,000 test reviews as the validation set.
        "test-set-as-validation": Expected({"validation-split": "no test review"}, 2),
    },
}

#: hw1 cells whose answers the ``book-code`` fixture writes with the book's code, and the graded cells that
#: test the same quantities.
BOOK_CODE_CELLS = {
    "sigmoid-answer": ("sigmoid", "sigmoid-grad"),
    "forward-matrix-answer": ("forward-matrix",),
    "backprop-answer": ("output-delta", "output-layer-grads", "hidden-layer-grads"),
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


def _env() -> dict[str, str]:
    """This environment with the venv's bin folder first on PATH (nbgrader's gradebook runs ``alembic``)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _solved(homework: str) -> nbformat.NotebookNode:
    """The released notebook with the source's answers typed in: what a perfect student hands in.

    (The source notebook itself would also score full marks, but the autograder rightly reports each of
    its test cells as "edited" since they hold the hidden tests.)
    """
    release = load_assignment(homework, root=ROOT).release
    source = _notebook("solutions", homework)
    answers = {nb_meta(c).get("grade_id"): c.source for c in source.cells if nb_meta(c).get("solution")}
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if nb_meta(cell).get("solution") and nb_meta(cell).get("grade_id") in answers:
            cell.source = answers[nb_meta(cell)["grade_id"]]
    return nb


def _write_submissions(folder: Path, homework: str) -> list[str]:
    """One folder per student (solution, untouched, every fixture) with ``<hw>.ipynb``; the student ids."""
    name = f"{homework}.ipynb"
    for student in (SOLUTION, UNTOUCHED, *EXPECTED[homework]):
        (folder / student).mkdir(parents=True)
    nbformat.write(_solved(homework), folder / SOLUTION / name)
    shutil.copyfile(ROOT / "assignments" / homework / name, folder / UNTOUCHED / name)
    for scenario in EXPECTED[homework]:
        shutil.copyfile(factory.path(homework, scenario), folder / scenario / name)
    return [SOLUTION, UNTOUCHED, *EXPECTED[homework]]


@dataclass(frozen=True)
class GradedHomework:
    """What one ``autograder grade`` run over all submissions of a homework wrote."""

    submissions: Path  # the student folders that were graded
    out: Path  # the run's --out folder
    rows: dict[str, dict[str, str]]  # student -> grades.csv row
    #: student -> grade_id -> the results.json cell (points, max, passed, message, manual)
    cells: dict[str, dict[str, dict]]

    def executed(self, student: str) -> nbformat.NotebookNode:
        """The notebook the autograder executed for ``student`` (hidden tests and outputs included)."""
        homework = self.out.name
        return nbformat.read(self.out / "autograded" / student / homework / f"{homework}.ipynb", as_version=4)


def _grade_all(folder: Path, homework: str) -> GradedHomework:
    subs, out = folder / "submissions", folder / homework
    students = _write_submissions(subs, homework)
    command = ["grade", homework, str(subs), "--out", str(out), "--workers", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "autograder", *command],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"autograder grade {homework} failed:\n{done.stdout}\n{done.stderr}"
    with (out / "grades.csv").open(newline="", encoding="utf-8") as file:
        rows = {row["student_id"]: row for row in csv.DictReader(file)}
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))["students"]
    assert sorted(rows) == sorted(results) == sorted(students)
    return GradedHomework(subs, out, rows, {student: results[student]["cells"] for student in students})


_graded: dict[str, GradedHomework] = {}


@pytest.fixture(scope="session")
def graded(tmp_path_factory, data_dir):
    """Grade a homework's submissions once per session: ``graded(hw) -> GradedHomework``."""

    def grade(homework: str) -> GradedHomework:
        if homework not in _graded:
            _graded[homework] = _grade_all(tmp_path_factory.mktemp(f"grading-{homework}"), homework)
        return _graded[homework]

    return grade


def _autograded_max(homework: str) -> float:
    return sum(
        points for points, by_hand in _graded_cells(_notebook("solutions", homework)).values() if not by_hand
    )


# ------------------------------------------------------------------------------- cheap structural tests
def test_every_solution_folder_is_a_known_homework():
    found = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    assert found == sorted(HOMEWORKS)


@pytest.mark.parametrize("homework", HOMEWORKS)
def test_committed_student_notebook_is_what_autograder_release_generates_now(homework, tmp_path):
    (tmp_path / "solutions").mkdir()
    shutil.copytree(ROOT / "solutions" / homework, tmp_path / "solutions" / homework)
    shutil.copyfile(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "release", homework],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    fresh = (tmp_path / "assignments" / homework / f"{homework}.ipynb").read_bytes()
    committed = (ROOT / "assignments" / homework / f"{homework}.ipynb").read_bytes()
    assert committed == fresh, f"assignments/{homework} is out of date: run `make assignments` and commit it"
    assert sorted(p.name for p in (tmp_path / "assignments" / homework).iterdir()) == [f"{homework}.ipynb"]
    assert not list(tmp_path.rglob("gradebook.db")), "releasing must not create a gradebook"


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


# ----------------------------------------------------------------------------- grading with the autograder
@pytest.mark.slow
@pytest.mark.parametrize("homework", HOMEWORKS)
def test_solution_scores_full_autograded_marks(homework, graded):
    result = graded(homework)
    row, cells = result.rows[SOLUTION], result.cells[SOLUTION]
    assert (row["status"], row["reason"]) == ("graded", ""), row["reason"]
    assert float(row["score"]) == float(row["max_score"]) == _autograded_max(homework)
    for grade_id, (points, by_hand) in _graded_cells(_notebook("solutions", homework)).items():
        cell = cells[grade_id]
        assert cell["max"] == points
        if by_hand:
            assert (cell["points"], cell["message"]) == (None, "awaiting review"), grade_id
            assert row[f"{grade_id} (manual)"] == "awaiting review"
        else:
            assert cell["points"] == points and cell["passed"], f"{grade_id}: {cell['message']}"


@pytest.mark.slow
@pytest.mark.parametrize("homework", HOMEWORKS)
def test_untouched_student_notebook_scores_zero(homework, graded):
    result = graded(homework)
    row, cells = result.rows[UNTOUCHED], result.cells[UNTOUCHED]
    assert row["status"] == "graded", row["reason"]
    assert (float(row["score"]), float(row["max_score"])) == (0.0, _autograded_max(homework))
    assert set(cells) == set(_graded_cells(_notebook("solutions", homework)))
    assert {gid: cell["points"] for gid, cell in cells.items()} == dict.fromkeys(cells, 0.0)
    assert row["manual_pending"] == "0", "an unanswered question needs no grader"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("homework", "scenario"), [(hw, scenario) for hw, scenarios in EXPECTED.items() for scenario in scenarios]
)
def test_wrong_submission_loses_exactly_the_right_cells_with_a_helpful_message(homework, scenario, graded):
    result = graded(homework)
    row, cells = result.rows[scenario], result.cells[scenario]
    expected = EXPECTED[homework][scenario]
    assert row["status"] == "graded", row["reason"]
    autograded = {gid: cell for gid, cell in cells.items() if not cell["manual"]}
    failed = {gid for gid, cell in autograded.items() if cell["points"] < cell["max"]}
    assert failed == set(expected.failing), {gid: autograded[gid]["message"] for gid in failed}
    for grade_id, fragment in expected.failing.items():
        assert autograded[grade_id]["points"] == 0 and autograded[grade_id]["passed"] is False
        assert fragment in autograded[grade_id]["message"], autograded[grade_id]["message"]
    lost = sum(autograded[gid]["max"] for gid in expected.failing)
    assert lost == expected.points_lost, (
        f"the failing cells are worth {lost} points, not {expected.points_lost}"
    )
    assert float(row["score"]) == _autograded_max(homework) - lost


@pytest.mark.slow
def test_hw1_answered_with_the_books_code_gets_full_points_for_those_quantities(graded):
    """Is reusing the book's code ever penalized by a convention (weight layout, where the 1/n lives)?

    The ``book-code`` submission answers hw1's sigmoid, forward pass and backpropagation cells with
    ``dlcourse.numpy_mlp``, the implementation ``book/03_backprop`` derives and checks; every test of those
    quantities, hidden ones included, must give it full points.
    """
    submission = nbformat.read(factory.path("hw1_backprop", "book-code"), as_version=4)
    answers = {nb_meta(c).get("grade_id"): c.source for c in submission.cells if nb_meta(c).get("solution")}
    for answer_cell in BOOK_CODE_CELLS:
        assert "dlcourse" in answers[answer_cell] and "np." not in answers[answer_cell], answer_cell
    cells = graded("hw1_backprop").cells["book-code"]
    for graded_ids in BOOK_CODE_CELLS.values():
        for grade_id in graded_ids:
            assert cells[grade_id]["points"] == cells[grade_id]["max"], (grade_id, cells[grade_id]["message"])


# ------------------------------------------------------------------------------------- nbgrader agrees
def test_hw1_source_passes_nbgrader_validate(tmp_path):
    notebook = tmp_path / "hw1_backprop.ipynb"
    shutil.copyfile(ROOT / "solutions" / "hw1_backprop" / notebook.name, notebook)
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", "validate", str(notebook)],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Success! Your notebook passes all the tests." in done.stdout, done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("homework", HOMEWORKS)
def test_nbgrader_scoring_rule_gives_every_executed_notebook_the_same_scores(homework, graded):
    """nbgrader's ``determine_grade`` on each notebook the autograder ran agrees with its scores.

    nbgrader zeroes a test cell that writes to stderr (a TensorFlow or NumPy warning), the autograder does
    not; so this is what a student would see pressing nbgrader's Validate, or an instructor grading with
    ``nbgrader autograde``, without running the notebooks through nbgrader once more. (The autograder
    records what Python writes to stderr; a kernel would also forward C-level writes, which TensorFlow
    makes only below ``TF_CPP_MIN_LOG_LEVEL=3``.)
    """
    from nbgrader.utils import determine_grade

    result = graded(homework)
    for student, cells in result.cells.items():
        by_nbgrader = {}
        for cell in result.executed(student).cells:
            grade_id = nb_meta(cell).get("grade_id")
            if grade_id in cells and not cells[grade_id]["manual"]:
                by_nbgrader[grade_id] = float(determine_grade(cell)[0])
        ours = {gid: cell["points"] for gid, cell in cells.items() if not cell["manual"]}
        assert by_nbgrader == ours, student


@pytest.mark.slow
def test_plain_nbgrader_autograde_gives_hw1_the_autograders_scores(graded, tmp_path):
    """The same hw1 submissions graded by ``nbgrader autograde`` in a temporary course: same cell scores."""
    from nbgrader.api import Gradebook

    homework = "hw1_backprop"
    result = graded(homework)
    (tmp_path / "source").mkdir()
    shutil.copytree(ROOT / "solutions" / homework, tmp_path / "source" / homework)
    shutil.copytree(result.submissions, tmp_path / "submitted")
    for student in result.cells:
        (tmp_path / "submitted" / student / homework).mkdir()
        (tmp_path / "submitted" / student / f"{homework}.ipynb").rename(
            tmp_path / "submitted" / student / homework / f"{homework}.ipynb"
        )
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(tmp_path)!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(tmp_path / 'gradebook.db')!r}\n"
    )
    for command in (["generate_assignment", homework, "--force"], ["autograde", homework, "--force"]):
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", *command],
            cwd=tmp_path, env=_env(), capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"nbgrader {command[0]} failed:\n{done.stdout}\n{done.stderr}"

    saved_path = os.environ.get("PATH", "")
    os.environ["PATH"] = _env()["PATH"]  # the gradebook runs ``alembic`` when it opens
    try:
        with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
            nbgrader_scores = {
                student: {
                    grade.name: None if grade.needs_manual_grade else float(grade.score)
                    for grade in gradebook.find_submission_notebook(homework, homework, student).grades
                }
                for student in result.cells
            }
    finally:
        os.environ["PATH"] = saved_path
    ours = {
        student: {gid: cell["points"] for gid, cell in cells.items()}
        for student, cells in result.cells.items()
    }
    assert nbgrader_scores == ours


def _names(source: str) -> tuple[set[str], set[str]]:
    """The names a cell binds (assignments, definitions, imports) and the names it reads."""
    import ast

    bound, read = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else read).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return bound, read


@pytest.mark.parametrize("homework", KERAS_HOMEWORKS)
def test_no_test_cell_reads_a_name_another_test_cell_binds(homework):
    """Does every test cell stand alone? A name another test cell binds may be missing (that cell failed
    before binding it) or stand in for the student's value of the same name (the verifier looks a name
    up in the student's notebook only when no test cell bound it)."""
    tests = {
        nb_meta(c)["grade_id"]: _names(c.source)
        for c in _notebook("solutions", homework).cells
        if c.cell_type == "code" and nb_meta(c).get("grade") and not nb_meta(c).get("solution")
    }
    shared = {}
    for grade_id, (bound, read) in tests.items():
        others = set().union(*(b for other, (b, _) in tests.items() if other != grade_id))
        if (read - bound) & others:
            shared[grade_id] = sorted((read - bound) & others)
    assert not shared, f"test cells reading names other test cells bind: {shared}"
