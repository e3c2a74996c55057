"""Does the autograder grade nbgrader's own course and scenario notebooks the way nbgrader does?

Everything here comes from the pinned nbgrader wheel: its documentation course
(``nbgrader/docs/source/user_guide``: ``source/ps1`` with two notebooks and a picture, students
``bitdiddle`` and ``hacker`` under ``submitted/``, and the notebooks nbgrader itself autograded under
``autograded/``) and the scenario notebooks of its test suite (``nbgrader/tests/apps/files``, whose
expected scores are in ``nbgrader/tests/apps/test_nbgrader_autograde.py``). Each course is graded in one
batch, offline, with the sandbox on (``strict``). Where we deliberately differ from nbgrader, the test
says so in its name and README's "Differences from nbgrader" lists it.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import api
from autograder.errors import UsageError
from autograder.sandbox import Limits

nbgrader = pytest.importorskip("nbgrader")
WHEEL = Path(nbgrader.__file__).parent
GUIDE = WHEEL / "docs" / "source" / "user_guide"
FILES = WHEEL / "tests" / "apps" / "files"


def course(root: Path, assignment: str, sources: dict[str, str], students: dict[str, dict[str, str]]) -> None:
    """An nbgrader course folder: ``source/<assignment>/<notebook>.ipynb`` from nbgrader's scenario files,
    and ``submitted/<student>/<assignment>/<notebook>.ipynb`` for the notebooks each student submits."""
    (root / "source" / assignment).mkdir(parents=True)
    for notebook, scenario in sources.items():
        shutil.copyfile(FILES / f"{scenario}.ipynb", root / "source" / assignment / f"{notebook}.ipynb")
    for student, notebooks in students.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        for notebook, scenario in notebooks.items():
            shutil.copyfile(FILES / f"{scenario}.ipynb", folder / f"{notebook}.ipynb")


def grade(root: Path, assignment: str, **options) -> dict:
    """Grade from the course root as ``autograder grade ASSIGNMENT submitted --out graded/ASSIGNMENT``;
    return ``results.json``'s students (one batch for the whole scenario group)."""
    out = root / "graded" / assignment
    api.grade(assignment, root / "submitted", out=out, root=root, **options)
    return json.loads((out / "results.json").read_text(encoding="utf-8"))["students"]


# --- nbgrader's documentation course, graded as it is -------------------------------------------------


def nbgrader_grades(student: str, notebook: str) -> dict[str, float | None]:
    """Per cell, the score nbgrader gave (its own ``determine_grade`` on the notebook it autograded);
    ``None`` for a task cell (graded by a person)."""
    from nbgrader.utils import determine_grade, is_grade, is_task

    nb = nbformat.read(GUIDE / "autograded" / student / "ps1" / f"{notebook}.ipynb", as_version=4)
    return {
        cell.metadata.nbgrader["grade_id"]: determine_grade(cell)[0] if is_grade(cell) else None
        for cell in nb.cells
        if is_grade(cell) or is_task(cell)
    }


@pytest.fixture(scope="module")
def documentation_course(tmp_path_factory):
    """The course as nbgrader ships it, graded with the README's command from its root."""
    root = tmp_path_factory.mktemp("course")
    for folder in ("source", "submitted"):
        shutil.copytree(GUIDE / folder, root / folder)
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "ps1", "submitted", "--out", "graded"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return root, root / "graded", done


@pytest.mark.slow
def test_the_documentation_course_is_graded_as_it_is_one_folder_per_notebook(documentation_course):
    _root, out, done = documentation_course
    assert done.returncode == 0, done.stderr
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        assert [row["student_id"] for row in csv.DictReader(handle)] == ["bitdiddle", "hacker"]
    for notebook in ("problem1", "problem2"):
        for student in ("bitdiddle", "hacker"):
            assert (out / notebook / "feedback" / student / f"{notebook}.html").is_file()
            assert (out / notebook / "autograded" / student / notebook / f"{notebook}.ipynb").is_file()
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["notebooks"] == ["problem1", "problem2"]


@pytest.mark.slow
@pytest.mark.parametrize("student", ["bitdiddle", "hacker"])
@pytest.mark.parametrize("notebook", ["problem1", "problem2"])
def test_every_test_cell_scores_what_nbgrader_gave_it(documentation_course, student, notebook):
    _root, out, _done = documentation_course
    ours = json.loads((out / "results.json").read_text(encoding="utf-8"))["students"][student]
    mine = ours["notebooks"][notebook]
    theirs = nbgrader_grades(student, notebook)
    assert set(mine["cells"]) == set(theirs)
    for grade_id, cell in mine["cells"].items():
        # nbgrader: 0 for an answer left as released, else None (awaiting a person), as ours
        assert cell["points"] == theirs[grade_id], grade_id
    assert mine["score"] == sum(p or 0 for p in theirs.values())


@pytest.mark.slow
def test_a_students_score_is_the_sum_over_notebooks_as_in_nbgraders_grades_csv(documentation_course):
    _root, out, _done = documentation_course
    with open(GUIDE / "grades.csv", newline="", encoding="utf-8") as handle:
        theirs = {row["student_id"]: row for row in csv.DictReader(handle)}
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        ours = {row["student_id"]: row for row in csv.DictReader(handle)}
    for student in ("bitdiddle", "hacker"):
        assert float(ours[student]["score"]) == float(theirs[student]["score"])
        # That grades.csv's max_score (23) predates the shipped notebooks: their graded cells and
        # tasks are worth 13 points, which is what we count (tests, plus answers graded by a person).
        total = float(ours[student]["max_score"]) + float(ours[student]["manual_max"])
        worth = sum(
            float(cell.metadata.nbgrader["points"])
            for notebook in ("problem1", "problem2")
            for cell in nbformat.read(GUIDE / "autograded" / student / "ps1" / f"{notebook}.ipynb", 4).cells
            if cell.metadata.get("nbgrader", {}).get("points") is not None
            and (cell.metadata.nbgrader.get("grade") or cell.metadata.nbgrader.get("task"))
        )
        assert total == worth == 13


@pytest.mark.slow
def test_a_test_that_deletes_a_students_function_reaches_the_students_code(documentation_course):
    """nbgrader's ``del squares`` test: ``sum_of_squares`` must then raise NameError in the student's
    process, and ``squares = orig_squares`` puts it back for the tests after it."""
    _root, out, _done = documentation_course
    ours = json.loads((out / "results.json").read_text(encoding="utf-8"))["students"]
    cells = ours["hacker"]["notebooks"]["problem1"]["cells"]
    assert cells["sum_of_squares_uses_squares"]["passed"] is True
    assert cells["correct_sum_of_squares"]["passed"] is True


def test_the_assignment_has_one_gradebook_holding_its_notebooks_as_nbgraders(documentation_course):
    """OUT/gradebook.db holds assignment ps1 with both notebooks; per cell the automatic score nbgrader
    gave, and per student nbgrader's own total (its ``SubmittedAssignment.score``)."""
    from nbgrader.api import Gradebook

    _root, out, _done = documentation_course
    assert not any(out.glob("*/gradebook.db"))  # no gradebook per notebook
    with open(GUIDE / "grades.csv", newline="", encoding="utf-8") as handle:
        totals = {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        assert sorted(nb.name for nb in gb.find_assignment("ps1").notebooks) == ["problem1", "problem2"]
        for student in ("bitdiddle", "hacker"):
            submission = gb.find_submission("ps1", student)
            assert submission.score == totals[student]
            for notebook in submission.notebooks:
                theirs = nbgrader_grades(student, notebook.name)
                assert {g.name: g.auto_score for g in notebook.grades} == {
                    name: points
                    for name, points in theirs.items()
                    if name in {g.name for g in notebook.grades}
                }


@pytest.fixture
def course_copy(documentation_course, tmp_path):
    """A private copy of the graded documentation course (for commands that change grades)."""
    root, _out, done = documentation_course
    assert done.returncode == 0, done.stderr
    shutil.copytree(root, tmp_path / "course", symlinks=True)
    return tmp_path / "course"


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args], cwd=root, capture_output=True, text=True, timeout=300
    )


def rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {row.get("student_id") or row["ID"]: row for row in csv.DictReader(handle)}


def test_review_export_and_report_work_on_the_whole_assignment(course_copy):
    """A written answer of problem2 graded by hand reaches the summed grades.csv, summary.html and the
    Canvas export (one column: the assignment's total over its notebooks)."""
    done = cli(course_copy, "review", "ps1", "graded", "--student", "hacker", "--cell", "problem2/part-b",
               "--points", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    graded = course_copy / "graded"
    assert rows(graded / "grades.csv")["hacker"]["problem2/part-b (manual)"] == "2"
    done = cli(course_copy, "export", "ps1", "graded")
    assert done.returncode == 0, done.stderr
    canvas = rows(graded / "canvas-ps1.csv")
    assert canvas["hacker"]["ps1"] == "5" and canvas["bitdiddle"]["ps1"] == "1.5"  # 3 + 2; 1.5
    # a grade id only one notebook has needs no prefix; one no notebook has is a usage error
    done = cli(course_copy, "review", "ps1", "graded", "--student", "bitdiddle", "--cell", "part-a",
               "--points", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = cli(course_copy, "review", "ps1", "graded", "--student", "bitdiddle", "--cell", "nope",
               "--points", "1")  # fmt: skip
    assert done.returncode == 2 and "NOTEBOOK/GRADE_ID" in done.stderr
    done = cli(course_copy, "report", "ps1", "graded")
    assert done.returncode == 0, done.stderr
    assert rows(graded / "canvas-ps1.csv")["bitdiddle"]["ps1"] == "2.5"
    assert "bitdiddle" in (graded / "summary.html").read_text(encoding="utf-8")
    page = (graded / "problem2" / "feedback" / "hacker" / "problem2.html").read_text(encoding="utf-8")
    assert "<strong>part-b</strong> (written answer): 2 / 2" in page


@pytest.mark.slow
def test_formgrader_shows_the_assignment_with_its_notebooks_and_its_scores_flow_back(course_copy, tmp_path):
    from conftest import formgrader_server

    graded = course_copy / "graded"
    done = cli(course_copy, "formgrader", "ps1", "graded")
    assert done.returncode == 0, done.stderr
    with formgrader_server(graded, tmp_path) as server:
        assert [a["name"] for a in server.call("/formgrader/api/assignments")] == ["ps1"]
        for notebook in ("problem1", "problem2"):
            listed = server.call(f"/formgrader/api/submitted_notebooks/ps1/{notebook}")
            assert {s["student"] for s in listed} == {"bitdiddle", "hacker"}, notebook
        bitdiddle = {
            s["student"]: s for s in server.call("/formgrader/api/submitted_notebooks/ps1/problem2")
        }["bitdiddle"]
        page = server.call(f"/formgrader/submissions/{bitdiddle['id']}")  # the Manual Grading page
        assert "It computes the fibonnaci sequence." in page and "Not sure." in page  # bitdiddle's answers
        grades = {
            g["name"]: g for g in server.call(f"/formgrader/api/grades?submission_id={bitdiddle['id']}")
        }
        server.call(f"/formgrader/api/grade/{grades['part-b']['id']}", "PUT", {"manual_score": 2})
    done = cli(course_copy, "report", "ps1", "graded")
    assert done.returncode == 0, done.stderr
    assert rows(graded / "grades.csv")["bitdiddle"]["problem2/part-b (manual)"] == "2"
    assert rows(graded / "canvas-ps1.csv")["bitdiddle"]["ps1"] == "3.5"  # 1.5 + 2


# --- nbgrader's scenario notebooks, one batch per group ---------------------------------------------

# Per student: nbgrader's score per test cell and whether manual grading is pending, as
# test_nbgrader_autograde.py asserts (test_grade, test_showtraceback_exploit) and as `nbgrader autograde`
# 0.9.6 grades the grade- and locked-cell-changed notebooks (test cells restored, answers untouched).
BASIC = {
    "unchanged": ("submitted-unchanged", {"foo": 1, "bar": 0}, False),
    "changed": ("submitted-changed", {"foo": 1, "bar": 1}, True),
    "cheat": ("submitted-cheat-attempt", {"foo": 1, "bar": 0}, True),
    "cheat-alternative": ("submitted-cheat-attempt-alternative", {"foo": 1, "bar": 0}, True),
    "grade-cell-changed": ("submitted-grade-cell-changed", {"foo": 1, "bar": 0}, False),
    "locked-cell-changed": ("submitted-locked-cell-changed", {"foo": 1, "bar": 0}, False),
}


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    """One assignment whose notebooks are nbgrader's scenario sources; each student submits their own."""
    root = tmp_path_factory.mktemp("scenarios")
    sources = {
        "basic": "submitted-unchanged",
        "files": "open_relative_file",
        "envvar": "validating-environment-variable",
        "side": "side-effects",
    }
    students = {name: {"basic": scenario} for name, (scenario, _, _) in BASIC.items()}
    students |= {
        "files": {"files": "open_relative_file"},
        "envvar": {"envvar": "validating-environment-variable"},
    }
    students |= {"side": {"side": "side-effects"}}
    course(root, "ps1", sources, students)
    shutil.copyfile(FILES / "data.txt", root / "source" / "ps1" / "data.txt")
    return root, grade(root, "ps1")


@pytest.mark.slow
def test_unchanged_changed_cheating_and_edited_protected_cells_score_as_nbgrader(scenarios):
    _root, students = scenarios
    for student, (_scenario, tests, pending) in BASIC.items():
        basic = students[student]["notebooks"]["basic"]
        assert {g: basic["cells"][g]["points"] for g in tests} == tests, student
        manual = [c for c in basic["cells"].values() if c["manual"]]
        assert any(c["points"] is None for c in manual) == pending, student
        assert basic["max_score"] + sum(c["max"] for c in manual) == 7  # nbgrader's max_score


@pytest.mark.slow
def test_a_missing_notebook_is_a_reason_and_zero_for_that_notebook(scenarios):
    """nbgrader's test_grade_missing_notebook: a notebook not submitted scores 0, the others are graded."""
    _root, students = scenarios
    files = students["files"]
    assert files["status"] == "graded"
    assert files["notebooks"]["basic"]["status"] == "failed"
    assert "notebook missing" in files["notebooks"]["basic"]["reason"]
    assert files["score"] == files["notebooks"]["files"]["score"] == 10
    assert files["max_score"] == 2 + 10 + 1  # the missing notebooks' test points are lost, not left out


@pytest.mark.slow
def test_test_cells_open_the_assignments_files(scenarios):
    """open_relative_file's test reads data.txt beside the notebook (nbgrader's validate passes it)."""
    _root, students = scenarios
    assert students["files"]["notebooks"]["files"]["cells"]["open_file"]["passed"] is True


@pytest.mark.slow
def test_tests_see_nbgrader_execution(scenarios):
    """test_grade_with_validating_envvar: the test fails when NBGRADER_EXECUTION is set; nbgrader: 0."""
    _root, students = scenarios
    assert students["envvar"]["notebooks"]["envvar"]["score"] == 0


@pytest.mark.slow
def test_side_effects_stay_out_of_the_submitted_folder(scenarios):
    """test_side_effects: the notebook writes side-effect.txt; the submission folder is untouched."""
    root, students = scenarios
    assert students["side"]["notebooks"]["side"]["status"] == "graded"
    assert not (root / "submitted" / "side" / "ps1" / "side-effect.txt").exists()


# test_grade_autotest, test_grade_hashed_autotest, test_grade_complex_autotest, test_hidden_tests_autotest
AUTOTESTS = {
    "simple": {"unchanged": 0, "changed": 1},
    "hashed": {"unchanged": 0, "changed": 1},
    "multi": {"unchanged": 0, "changed": 3},
    "hidden": {"unchanged": 0, "changed-wrong": 0, "changed-right": 1},
}


@pytest.fixture(scope="module")
def autotests(tmp_path_factory):
    root = tmp_path_factory.mktemp("autotests")
    students: dict[str, dict[str, str]] = {}
    for notebook, expected in AUTOTESTS.items():
        for student in expected:
            students.setdefault(student, {})[notebook] = f"autotest-{notebook}-{student}"
    course(root, "ps1", {notebook: f"autotest-{notebook}" for notebook in AUTOTESTS}, students)
    shutil.copyfile(FILES / "autotests.yml", root / "autotests.yml")
    return grade(root, "ps1")


@pytest.mark.slow
@pytest.mark.parametrize("notebook", sorted(AUTOTESTS))
def test_autotest_directives_are_expanded_and_graded_as_nbgrader(autotests, notebook):
    expected = AUTOTESTS[notebook]
    assert {s: autotests[s]["notebooks"][notebook]["score"] for s in expected} == expected
    for student in expected:
        reason = autotests[student]["notebooks"][notebook]["reason"]
        if notebook == "hashed":  # its fixtures were released by an nbgrader whose salts were random
            assert "'test_hashed' was edited; the original was restored" in reason
        else:  # the expanded tests are the released ones: nothing reads as edited
            assert "edited" not in reason, reason


# --- time limits, and where we deliberately differ ----------------------------------------------------


def differences_notebook(path: Path) -> None:
    """A source notebook for the differences: a test that writes to stderr, one that passes, a cell that
    never ends, and a test after it."""

    def test(grade_id: str, source: str) -> nbformat.NotebookNode:
        meta = {"grade": True, "solution": False, "locked": True, "points": 1, "grade_id": grade_id}
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {**meta, "schema_version": 3}})

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        test("warns", "import sys\nprint('DeprecationWarning: something', file=sys.stderr)"),
        test("passes", "assert 1 + 1 == 2"),
        nbformat.v4.new_code_cell("while True:\n    pass"),
        test("after", "assert True"),
    ]
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def limits(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    sources = {"loop": "infinite-loop", "timeout": "timeout"}
    course(root, "ps1", sources, {"foo": {"loop": "infinite-loop", "timeout": "timeout"}})
    differences_notebook(root / "source" / "ps1" / "differences.ipynb")
    shutil.copyfile(
        root / "source" / "ps1" / "differences.ipynb",
        root / "submitted" / "foo" / "ps1" / "differences.ipynb",
    )
    # As nbgrader's own test_autograde_timeout configures it; no --timeout of ours.
    (root / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 2\n", encoding="utf-8")
    return root, grade(root, "ps1")["foo"]["notebooks"]


@pytest.mark.slow
def test_an_infinite_loop_is_stopped_and_the_notebook_still_graded(limits):
    """test_infinite_loop (Execute.timeout = 1): nbgrader still writes the autograded notebook."""
    root, notebooks = limits
    assert notebooks["loop"]["status"] == "graded" and "limit" in notebooks["loop"]["reason"]
    assert (root / "graded" / "ps1" / "loop" / "autograded" / "foo" / "loop" / "loop.ipynb").is_file()


@pytest.mark.slow
def test_a_test_slower_than_the_limit_scores_zero_as_nbgrader(limits):
    """test_autograde_timeout: foo() sleeps 5 s; nbgrader with Execute.timeout=2 scores 0."""
    _root, notebooks = limits
    assert notebooks["timeout"]["score"] == 0 and "limit" in notebooks["timeout"]["reason"]


@pytest.mark.slow
def test_difference_stderr_does_not_fail_a_test(limits):
    """nbgrader's determine_grade gives 0 to a test cell with stderr output; we score it by its errors."""
    from nbgrader.utils import determine_grade

    root, notebooks = limits
    assert notebooks["differences"]["cells"]["warns"]["points"] == 1
    executed = nbformat.read(
        root / "graded" / "ps1" / "differences" / "autograded" / "foo" / "differences" / "differences.ipynb",
        4,
    )
    (warns,) = [c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "warns"]
    assert determine_grade(warns)[0] == 0  # what nbgrader would have given the same executed cell


@pytest.mark.slow
def test_difference_a_time_limit_stops_the_notebook_and_cells_before_it_keep_their_points(limits):
    """nbgrader interrupts a cell at its time limit and runs the rest; we stop the notebook there (an
    interrupt can be caught by student code): the tests before keep their points, later ones score 0."""
    _root, notebooks = limits
    cells = notebooks["differences"]["cells"]
    assert cells["passes"]["points"] == 1 and cells["after"]["points"] == 0
    assert "not run" in cells["after"]["message"]


def test_a_too_new_source_is_a_usage_error(tmp_path):
    course(tmp_path, "ps1", {"p1": "too-new"}, {"foo": {"p1": "too-new"}})
    with pytest.raises(UsageError, match="another schema version"):
        grade(tmp_path, "ps1")


def test_the_courses_nbgrader_config_names_the_source_folder(tmp_path):
    """CourseDirectory.source_directory in nbgrader_config.py, read by traitlets' loader, as nbgrader does."""
    from autograder import course as layouts

    (tmp_path / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.source_directory = "instructor"\n', encoding="utf-8"
    )
    shutil.copytree(GUIDE / "source" / "ps1", tmp_path / "instructor" / "ps1")
    shutil.copytree(GUIDE / "submitted", tmp_path / "submitted")
    notebooks, within = layouts.layout("ps1", tmp_path / "submitted", root=tmp_path)
    assert notebooks == ("problem1", "problem2") and within == "ps1"
    assert (
        api.load_assignment("ps1", root=tmp_path, notebook="problem2").folder
        == tmp_path / "instructor" / "ps1"
    )


DEFAULT = Limits()  # our limits when neither autograder.toml nor nbgrader_config.py sets one


@pytest.mark.parametrize(
    ("setting", "toml", "cell", "submission"),
    [
        ("", "", DEFAULT.cell_timeout, DEFAULT.submission_timeout),  # unset: our defaults
        ("c.Execute.timeout = 45", "", 45, DEFAULT.submission_timeout),
        ("c.Execute.timeout = 4000", "", 4000, 4000),  # a cell may run that long, so may the notebook
        # nbgrader's "no limit": a cell may take the submission's whole time
        ("c.Execute.timeout = None", "", DEFAULT.submission_timeout, DEFAULT.submission_timeout),
        ("c.Execute.timeout = -1", "", DEFAULT.submission_timeout, DEFAULT.submission_timeout),
        ("c.Execute.timeout = 45", "[limits]\ncell_timeout = 20\n", 20, DEFAULT.submission_timeout),
    ],
)
def test_the_courses_execute_timeout_is_the_cell_time_limit(tmp_path, setting, toml, cell, submission):
    (tmp_path / "nbgrader_config.py").write_text(f"c = get_config()\n{setting}\n", encoding="utf-8")
    shutil.copytree(GUIDE / "source" / "ps1", tmp_path / "source" / "ps1")
    if toml:
        (tmp_path / "source" / "ps1" / "autograder.toml").write_text(toml, encoding="utf-8")
    limits = api.load_assignment("ps1", root=tmp_path, notebook="problem1").config.limits
    assert (limits.cell_timeout, limits.submission_timeout) == (cell, submission)


def test_an_execute_timeout_that_is_not_a_number_is_a_usage_error(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text('c = get_config()\nc.Execute.timeout = "1m"\n', "utf-8")
    shutil.copytree(GUIDE / "source" / "ps1", tmp_path / "source" / "ps1")
    with pytest.raises(UsageError, match=r"c\.Execute\.timeout must be a number of seconds"):
        api.load_assignment("ps1", root=tmp_path, notebook="problem1")
