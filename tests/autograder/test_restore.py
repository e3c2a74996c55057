"""Are deleted, edited or retyped protected cells restored from the source, and a student's own cells
and pasted answers kept where the student put them?
"""

from __future__ import annotations

import nbformat
from conftest import read_toy

from autograder.source import nb_meta
from autograder.steps.read import check_structure
from autograder.steps.restore import restore


def test_deleted_and_edited_tests_are_restored_from_the_source(toy):
    deleted, notes = restore(read_toy(toy, "deleted-test-cell"), toy)
    assert "cell 'square-test' was missing and was restored" in notes
    edited, notes = restore(read_toy(toy, "edited-test-cell"), toy)
    assert "test cell 'square-test' was edited; the original was restored" in notes
    for nb in (deleted, edited):
        test = next(c for c in nb.cells if nb_meta(c).get("grade_id") == "square-test")
        assert "### BEGIN HIDDEN TESTS" in test.source and test.metadata.nbgrader.points == 2


def test_changed_cell_type_is_noted_and_restored(toy):
    nb = read_toy(toy, "changed-cell-type")
    assert check_structure(nb, toy) == ["cell 'square-test' was changed from code to markdown; restored"]
    restored, _ = restore(nb, toy)
    assert next(c for c in restored.cells if nb_meta(c).get("grade_id") == "square-test").cell_type == "code"


def test_student_cells_stay_where_the_student_put_them(toy):
    restored, notes = restore(read_toy(toy, "scratch-cells"), toy)
    sources = [c.source for c in restored.cells]
    assert notes == []
    assert sources[0] == "My notes"
    square = next(i for i, c in enumerate(restored.cells) if nb_meta(c).get("grade_id") == "square")
    assert sources[square + 1].startswith("square_of_two = square(2)")


def _without_grading_metadata(toy, grade_ids: set[str]) -> nbformat.NotebookNode:
    nb = read_toy(toy, "correct")
    for cell in nb.cells:
        if nb_meta(cell).get("grade_id") in grade_ids:
            del cell.metadata["nbgrader"]
    return nb


def test_an_answer_pasted_into_a_fresh_notebook_is_found_by_its_content(toy):
    """Is an answer cell that lost its nbgrader metadata graded where it belongs, with a note?"""
    restored, notes = restore(_without_grading_metadata(toy, {"square"}), toy)
    square = next(c for c in restored.cells if nb_meta(c).get("grade_id") == "square")
    assert "return x * x" in square.source and "NotImplementedError" not in square.source
    assert sum("return x * x" in c.source for c in restored.cells) == 1  # moved, not duplicated
    assert any("answer cell 'square' had lost its grading information" in n for n in notes)


def test_an_ambiguous_answer_is_not_guessed_and_the_note_says_what_to_do(toy):
    nb = _without_grading_metadata(toy, {"square"})
    loose = next(c for c in nb.cells if "return x * x" in c.source and not nb_meta(c))
    nb.cells.append(nbformat.v4.new_code_cell(loose.source.replace("x * x", "x ** 2")))
    restored, notes = restore(nb, toy)
    square = next(c for c in restored.cells if nb_meta(c).get("grade_id") == "square")
    assert "NotImplementedError" in square.source
    assert any("answer cell 'square' was missing" in n and "submit again" in n for n in notes)


def test_line_endings_and_trailing_spaces_are_not_an_edit(toy):
    nb = read_toy(toy, "correct")
    for cell in nb.cells:
        if nb_meta(cell).get("grade_id") == "square-test":
            cell.source = cell.source.replace("\n", "  \r\n") + "\r\n"
    _restored, notes = restore(nb, toy)
    assert not any("edited" in n for n in notes), notes
