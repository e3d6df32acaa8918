"""The student edition (``make student``): solutions removed, checks kept, runs top to bottom.

A small synthetic notebook follows the exercise convention of the series with the real
:mod:`tchexnet_lib.check`: executed as written, its check accepts the solution; its student
copy, executed top to bottom in a real kernel, says "not yet answered" and raises nothing.
The series' own notebooks are transformed too.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

from tchexnet_lib import cli, errors, notebooks, student

SETUP = ("import pandas as pd\n\nfrom tchexnet_lib import check\n\n"
         "selected = pd.DataFrame({'patient_id': ['p1', 'p1', 'p2', 'p3', 'p3', 'p3']})")
SOLUTION = ("# Count the cut positions at which the rows on either side are the same patient.\n"
            "#\n# Hint: shift the column by one.\n"
            "patients = selected['patient_id'].to_numpy()\n"
            "answer_01_1 = int((patients[1:] == patients[:-1]).sum())")
CHECK = "check.exercise_01_1(answer_01_1, selected)"


def exercise_notebook(solution: str = SOLUTION, check: str = CHECK, heading: str = "### Exercise 1.1: leaks",
                      after: str = "print('done')") -> nbformat.NotebookNode:
    """Setup, an exercise (heading, solution, check, each with an output), then one more cell."""
    cells = [
        nbformat.v4.new_markdown_cell("# 01 · A lesson"),
        nbformat.v4.new_code_cell(SETUP, execution_count=1),
        nbformat.v4.new_markdown_cell(heading + "\n\nCount them; put the count in `answer_01_1`."),
        nbformat.v4.new_code_cell(solution, metadata={"tags": [student.SOLUTION_TAG]},
                                  execution_count=2),
        nbformat.v4.new_code_cell(check, metadata={"tags": [student.CHECK_TAG]}, execution_count=3,
                                  outputs=[nbformat.v4.new_output("stream", text="✓ right\n")]),
        nbformat.v4.new_code_cell(after, execution_count=4),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": notebooks.KERNEL, "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata["tchexnet"] = {"run_key": "k"}
    return notebook


def stdout(notebook) -> str:
    return "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code"
                   for o in c.outputs)


def test_names_given_to_a_check_are_read_from_its_call():
    assert student.exercise_names("check.exercise_04_1(answer_04_1, head, X['train'], y=y)") == [
        "answer_04_1", "head", "y"]
    assert student.exercise_names("ok = check.exercise_05_1(a, b)\ncheck.exercise_05_2(c, a)") == [
        "a", "b", "c"]
    with pytest.raises(ValueError, match="no check.exercise"):
        student.exercise_names("print(answer)")


def test_the_student_copy_keeps_the_task_and_the_check_and_drops_the_solution():
    source = exercise_notebook()
    copy = student.student_notebook(source, "01_lesson")
    answer, check = copy.cells[3], copy.cells[4]
    assert answer.source == ("# Count the cut positions at which the rows on either side are the "
                             "same patient.\n#\n# Hint: shift the column by one.\n"
                             "answer_01_1 = ...  # your answer here")
    assert "selected = ..." not in answer.source  # the notebook's own object keeps its value
    assert answer.metadata["tags"] == ["answer"] and check.source == CHECK
    assert all(c.outputs == [] and c.execution_count is None
               for c in copy.cells if c.cell_type == "code")
    assert copy.metadata["tchexnet"] == {"student": True}
    assert source.cells[3].source == SOLUTION and source.cells[4].outputs  # the source is untouched


def test_the_original_passes_its_check_and_the_student_copy_runs_top_to_bottom(tmp_path):
    """Both executed in a real kernel with the real check module; no cell may raise."""
    original = exercise_notebook()
    NotebookClient(original, timeout=120, kernel_name=notebooks.KERNEL,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert "✓ Exercise 1.1" in stdout(original)
    copy = student.student_notebook(exercise_notebook(), "01_lesson")
    NotebookClient(copy, timeout=120, kernel_name=notebooks.KERNEL,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = stdout(copy)
    assert "Exercise 1.1: not yet answered" in text and "done" in text
    assert not any(o.output_type == "error" for c in copy.cells if c.cell_type == "code"
                   for o in c.outputs)


@pytest.mark.parametrize("change, message", [
    ({"heading": "### Something else"}, "no '### Exercise N.k' heading"),
    ({"check": "print(answer_01_1)"}, "no check.exercise"),
    ({"check": "check.exercise_01_1(selected)"}, "binds none of the names its check is given"),
    ({"after": "print(patients)"}, "cell 5 reads patients, which only a solution defines"),
])
def test_an_exercise_off_the_convention_is_refused_naming_the_cell(change, message):
    with pytest.raises(errors.DataError, match=message) as caught:
        student.student_notebook(exercise_notebook(**change), "01_lesson")
    assert str(caught.value).startswith("01_lesson: cell ")


def test_a_solution_not_followed_by_its_check_is_refused():
    notebook = exercise_notebook()
    notebook.cells[4].metadata["tags"] = []
    with pytest.raises(errors.DataError, match=r"cell 3 \(Exercise 1.1\): a 'solution' cell must "
                                               "be followed by a code cell tagged 'exercise-check'"):
        student.student_notebook(notebook, "01_lesson")


def test_the_series_student_edition(tmp_path, capsys):
    """Every notebook of the series: each solution replaced, checks and other cells as they were."""
    assert cli.main(["student", "--out", str(tmp_path), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)["notebooks"]
    assert [f"{n}.ipynb" for n in notebooks.SERIES] == [p.rsplit("/", 1)[1] for p in written]
    for name in notebooks.SERIES:
        source = nbformat.read(notebooks.notebook_path(name), as_version=4)
        copy = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
        assert copy.metadata["tchexnet"]["student"] is True and len(copy.cells) == len(source.cells)
        for before, after in zip(source.cells, copy.cells):
            if student.SOLUTION_TAG in before.metadata.get("tags", []):
                code = [line for line in after.source.splitlines() if not line.startswith("#")]
                assert code and all(line.endswith("= ...  # your answer here") for line in code)
            else:
                assert after.source == before.source
