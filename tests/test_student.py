"""The student edition (``make student``): solutions removed, checks kept, runs top to bottom.

A small synthetic notebook follows the exercise convention of the series with the real
:mod:`tchexnet_lib.check`: executed as written, its check accepts the solution; its student
copy, executed top to bottom in a real kernel, says "not yet answered" and raises nothing.
The series' own notebooks are transformed too.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from nbclient import NotebookClient

from tchexnet_lib import errors, notebooks
from tchexnet_lib.tools import cli, runner, student

SETUP = (
    "import pandas as pd\n\nfrom tchexnet_lib import check\n\n"
    "selected = pd.DataFrame({'patient_id': ['p1', 'p1', 'p2', 'p3', 'p3', 'p3']})"
)
SOLUTION = (
    "# Count the cut positions at which the rows on either side are the same patient.\n"
    "#\n# Hint: shift the column by one.\n"
    "patients = selected['patient_id'].to_numpy()\n"
    "answer_01_1 = int((patients[1:] == patients[:-1]).sum())"
)
CHECK = "check.exercise_01_1(answer_01_1, selected)"


def exercise_notebook(
    solution: str = SOLUTION,
    check: str = CHECK,
    heading: str = "### Exercise 1.1: leaks",
    after: str = "print('done')",
) -> nbformat.NotebookNode:
    """Setup, an exercise (heading, solution, check, each with an output), then one more cell."""
    cells = [
        nbformat.v4.new_markdown_cell("# 01 · A lesson"),
        nbformat.v4.new_code_cell(SETUP, execution_count=1),
        nbformat.v4.new_markdown_cell(heading + "\n\nCount them; put the count in `answer_01_1`."),
        nbformat.v4.new_code_cell(
            solution, metadata={"tags": [student.SOLUTION_TAG]}, execution_count=2
        ),
        nbformat.v4.new_code_cell(
            check,
            metadata={"tags": [student.CHECK_TAG]},
            execution_count=3,
            outputs=[nbformat.v4.new_output("stream", text="✓ right\n")],
        ),
        nbformat.v4.new_code_cell(after, execution_count=4),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": runner.KERNEL,
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["tchexnet"] = {"run_key": "k"}
    return notebook


def stdout(notebook) -> str:
    return "".join(
        o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs
    )


def test_names_given_to_a_check_are_read_from_its_call():
    assert student.exercise_names("check.exercise_04_1(answer_04_1, head, X['train'], y=y)") == [
        "answer_04_1",
        "head",
        "y",
    ]
    assert student.exercise_names("ok = check.exercise_05_1(a, b)\ncheck.exercise_05_2(c, a)") == [
        "a",
        "b",
        "c",
    ]
    with pytest.raises(ValueError, match="no check.exercise"):
        student.exercise_names("print(answer)")


def test_the_student_copy_keeps_the_task_and_the_check_and_drops_the_solution():
    source = exercise_notebook()
    copy = student.student_notebook(source, "01_lesson")
    answer, check = copy.cells[3], copy.cells[4]
    assert answer.source == (
        "# Count the cut positions at which the rows on either side are the "
        "same patient.\n#\n# Hint: shift the column by one.\n"
        "answer_01_1 = ...  # your answer here"
    )
    assert "selected = ..." not in answer.source  # the notebook's own object keeps its value
    assert answer.metadata["tags"] == ["answer"] and check.source == CHECK
    assert all(
        c.outputs == [] and c.execution_count is None for c in copy.cells if c.cell_type == "code"
    )
    assert copy.metadata["tchexnet"] == {"student": True}
    assert source.cells[3].source == SOLUTION and source.cells[4].outputs  # the source is untouched


def test_the_original_passes_its_check_and_the_student_copy_runs_top_to_bottom(tmp_path):
    """Both executed in a real kernel with the real check module; no cell may raise."""
    original = exercise_notebook()
    NotebookClient(
        original,
        timeout=120,
        kernel_name=runner.KERNEL,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    assert "✓ Exercise 1.1" in stdout(original)
    copy = student.student_notebook(exercise_notebook(), "01_lesson")
    NotebookClient(
        copy,
        timeout=120,
        kernel_name=runner.KERNEL,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    text = stdout(copy)
    assert "Exercise 1.1: not yet answered" in text and "done" in text
    assert not any(
        o.output_type == "error" for c in copy.cells if c.cell_type == "code" for o in c.outputs
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"heading": "### Something else"}, "no '### Exercise N.k' heading"),
        ({"check": "print(answer_01_1)"}, "no check.exercise"),
        ({"check": "check.exercise_01_1(selected)"}, "binds none of the names its check is given"),
        ({"after": "print(patients)"}, "cell 5 reads patients, which only a solution defines"),
    ],
)
def test_an_exercise_off_the_convention_is_refused_naming_the_cell(change, message):
    with pytest.raises(errors.DataError, match=message) as caught:
        student.student_notebook(exercise_notebook(**change), "01_lesson")
    assert str(caught.value).startswith("01_lesson: cell ")


def test_a_solution_not_followed_by_its_check_is_refused():
    notebook = exercise_notebook()
    notebook.cells[4].metadata["tags"] = []
    with pytest.raises(
        errors.DataError,
        match=r"cell 3 \(Exercise 1.1\): a 'solution' cell must "
        "be followed by a code cell tagged 'exercise-check'",
    ):
        student.student_notebook(notebook, "01_lesson")


def test_the_series_student_edition(tmp_path, capsys):
    """Every notebook of the series: each solution replaced, each folded answer removed, checks
    and other cells as they were."""
    assert cli.main(["student", "--out", str(tmp_path), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)["notebooks"]
    assert [f"{n}.ipynb" for n in notebooks.SERIES] == [p.rsplit("/", 1)[1] for p in written]
    for name in notebooks.SERIES:
        source = nbformat.read(runner.notebook_path(name), as_version=4)
        copy = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
        assert copy.metadata["tchexnet"]["student"] is True and len(copy.cells) == len(source.cells)
        for before, after in zip(source.cells, copy.cells):
            if student.SOLUTION_TAG in before.metadata.get("tags", []):
                code = [line for line in after.source.splitlines() if not line.startswith("#")]
                assert code and all(line.endswith("= ...  # your answer here") for line in code)
            elif before.cell_type == "markdown" and SOLUTION_BLOCK.search(before.source):
                kept = SOLUTION_BLOCK.sub("\0", before.source).split("\0")  # the text around
                assert all(
                    piece.replace("folded solutions", "worked answers in the instructor edition")
                    in after.source
                    for piece in kept
                )
            else:
                assert after.source == before.source


# ------------------------------------------------------------------ no answer in the student copies

#: A question's worked answer, folded, found independently of the library's own pattern.
SOLUTION_BLOCK = re.compile(
    r"<details>\s*<summary>\s*(?:Solution|Answer)s?\s*</summary>(.*?)"
    r"</details>",
    re.S | re.I,
)


def answer_texts(notebook) -> tuple[set[str], set[str]]:
    """A source notebook's answers: (code lines, prose sentences).

    The code lines of every cell tagged ``solution`` (its leading ``#`` task lines aside) and
    of every folded Solution block; the prose sentences of those blocks. A line that the
    notebook also has outside its answers is no answer (``fig``, an import), so it is left out.
    """
    lines, sentences, elsewhere = set(), set(), set()
    for cell in notebook.cells:
        if student.SOLUTION_TAG in cell.metadata.get("tags", []):
            code = cell.source.splitlines()
            task = len(student._task_lines(cell.source))
            lines |= {line.strip() for line in code[task:] if line.strip()}
            continue
        if cell.cell_type == "markdown":
            for block in SOLUTION_BLOCK.findall(cell.source):
                for line in block.splitlines():
                    if line.strip() and not line.strip().startswith("```"):
                        lines.add(line.strip())
                prose = re.sub(r"```.*?```", " ", block, flags=re.S)
                sentences |= {
                    s.strip() for s in re.split(r"(?<=[.!?:;])\s+", prose) if len(s.strip()) >= 20
                }
        outside = SOLUTION_BLOCK.sub("", cell.source)
        elsewhere |= {line.strip() for line in outside.splitlines()}
    return lines - elsewhere, {s for s in sentences if s not in elsewhere}


def test_answer_texts_are_found_in_a_notebook():
    notebook = exercise_notebook()
    notebook.cells[2].source += (
        "\n\n1. Why?\n\n<details><summary>Solution</summary>\n\n```python\n"
        "print(selected.shape)\n```\n\nBecause the file is sorted by patient.\n\n</details>"
    )
    lines, sentences = answer_texts(notebook)
    assert "answer_01_1 = int((patients[1:] == patients[:-1]).sum())" in lines
    assert "print(selected.shape)" in lines and "# Hint: shift the column by one." not in lines
    assert sentences == {"Because the file is sorted by patient."}


def test_the_student_edition_holds_no_answer(tmp_path):
    """Safe to hand out as is: no solution cell, no folded Solution, no line or sentence of
    either (taken from the source notebooks, so the test follows them when they change)."""
    assert cli.main(["student", "--out", str(tmp_path)]) == 0
    found = []
    for name in notebooks.SERIES:
        source = nbformat.read(runner.notebook_path(name), as_version=4)
        lines, sentences = answer_texts(source)
        assert lines, f"{name}: no answer found in the source (the conventions changed?)"
        copy = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
        text = "\n".join(cell.source for cell in copy.cells)
        copy_lines = {line.strip() for line in text.splitlines()}
        found += [
            f"{name}: cell {i} is tagged solution"
            for i, cell in enumerate(copy.cells)
            if student.SOLUTION_TAG in cell.metadata.get("tags", [])
        ]
        found += [f"{name}: a folded Solution" for _ in SOLUTION_BLOCK.finditer(text)]
        found += [f"{name}: the answer line {line!r}" for line in sorted(lines & copy_lines)]
        found += [f"{name}: the answer sentence {s!r}" for s in sorted(sentences) if s in text]
    assert not found, "\n".join(found)


QUESTION = (
    "## Exercises\n\nFirst questions to explore, with hints and folded solutions.\n\n"
    "1. How many patients?\n\n   *Hint*: `nunique`.\n\n<details><summary>Solution</summary>"
    "\n\n```python\nselected['patient_id'].nunique()\n```\n\nThree: p1, p2 and p3.\n\n"
    "</details>\n\n2. Sorted?\n\n<details>\n<summary>Answer</summary>\nYes, by patient."
    "\n</details>"
)


def question_notebook() -> nbformat.NotebookNode:
    """:func:`exercise_notebook` with two questions to explore, folded answers, before it."""
    notebook = exercise_notebook()
    notebook.cells.insert(2, nbformat.v4.new_markdown_cell(QUESTION))
    return notebook


def test_the_student_copy_folds_no_worked_answer_and_says_where_it_is():
    copy = student.student_notebook(question_notebook(), "01_lesson")
    text = copy.cells[2].source
    assert "<details>" not in text and "Three: p1" not in text and "Yes, by patient" not in text
    assert text.count(student.ANSWER_NOTE) == 2 and "*Hint*: `nunique`." in text
    assert "with hints and worked answers in the instructor edition." in text
    assert answer_texts(question_notebook())[1] <= {"Three: p1, p2 and p3.", "Yes, by patient."}


def test_an_answer_block_left_open_is_refused():
    notebook = question_notebook()
    notebook.cells[2].source = "1. Why?\n\n<details><summary>Solution</summary>\n\nBecause."
    with pytest.raises(
        errors.DataError,
        match=r"01_lesson: cell 2: a folded Solution without "
        "its closing </details>",
    ):
        student.student_notebook(notebook, "01_lesson")


def test_removing_answers_from_an_executed_copy_keeps_the_other_outputs():
    """The site's student edition: the solution's and its check's outputs go, the rest stay."""
    notebook = question_notebook()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text=f"out {cell.execution_count}\n")]
    result = student.remove_answers(notebook, "01_lesson")
    outputs = [c.outputs for c in result.cells if c.cell_type == "code"]
    assert [len(o) for o in outputs] == [1, 0, 0, 1]
    assert "student" not in result.metadata.get("tchexnet", {})


def test_the_instructor_page_has_each_question_with_its_answer_and_each_solution():
    page = student.instructor_page(question_notebook(), "01_lesson")
    assert page.startswith("# Instructor edition · 01 · A lesson\n")
    assert "### Question 1\n\nHow many patients?\n\n*Hint*: `nunique`.\n\n**Worked answer**" in page
    assert "Three: p1, p2 and p3." in page and "### Question 2\n\nSorted?" in page
    assert "Yes, by patient." in page and "### Exercise 1.1: leaks\n\nCount them" in page
    assert f"```python\n{SOLUTION}\n```" in page and f"```python\n{CHECK}\n```" in page


def test_the_series_instructor_edition_holds_every_answer(tmp_path, capsys):
    """Every answer the student edition leaves out is in the instructor edition."""
    assert cli.main(["instructor", "--out", str(tmp_path), "--json"]) == 0
    written = [p.rsplit("/", 1)[1] for p in json.loads(capsys.readouterr().out)["pages"]]
    assert written == ["README.md", *(f"{n}.md" for n in notebooks.SERIES), "timing.md"]
    index = (tmp_path / "README.md").read_text()
    for name in notebooks.SERIES:
        page = (tmp_path / f"{name}.md").read_text()
        lines, sentences = answer_texts(nbformat.read(runner.notebook_path(name), as_version=4))
        assert {line for line in lines if line not in page} == set(), name
        assert {s for s in sentences if s not in page} == set(), name
        assert f"[{name}]({name}.md)" in index
