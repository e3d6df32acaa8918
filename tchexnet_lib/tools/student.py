"""The student edition (``make student``) and the instructor edition (``make instructor``).

Two kinds of answer live in a notebook of the series, each by a convention:

- **An exercise** is a markdown cell headed ``### Exercise N.k``, then a code cell tagged
  ``solution``, then a code cell tagged ``exercise-check`` calling
  ``check.exercise_NN_k(answer_NN_k, ...)`` (:mod:`tchexnet_lib.check`).
- **A question to explore** has its worked answer folded in its markdown cell:
  ``<details><summary>Solution</summary> ... </details>`` (:data:`ANSWER_BLOCK`).

The student copy (:func:`student_notebook`, :func:`write_student_edition`:
``outputs/student/``) is safe to hand out as is: each solution keeps its leading ``#`` lines
(the task) and gets one ``NAME = ...  # your answer here`` line per plain name its check is
given that the solution itself binds (the notebook's own objects the check also takes keep
their values); a check given ``...`` prints "not yet answered" instead of raising, so the copy
runs top to bottom. Each folded answer becomes :data:`ANSWER_NOTE`. Outputs are stripped and
the copy's metadata says ``{"tchexnet": {"student": true}}``. :func:`remove_answers` does the
same to an executed notebook and keeps its other outputs (the student edition of the site).

The instructor edition is one Markdown page per notebook (:func:`instructor_page`) with what
the student copy lacks: each question with its worked answer, each exercise with its task,
solution and check; :func:`tchexnet_lib.tools.workshop.write_instructor_edition` writes it to
``outputs/instructor/`` with the workshop's clock.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tchexnet_lib import config, errors, files, notebooks
from tchexnet_lib.tools import runner

__all__ = [
    "ANSWER_BLOCK",
    "ANSWER_LINE",
    "ANSWER_NOTE",
    "CHECK_TAG",
    "EXERCISE_HEADING",
    "Exercise",
    "Question",
    "SOLUTION_TAG",
    "exercise_names",
    "exercises",
    "instructor_page",
    "notebook_title",
    "questions",
    "remove_answers",
    "student_notebook",
    "write_student_edition",
]

#: The tag of an exercise's solution cell, and of the cell that checks its answer.
SOLUTION_TAG = "solution"
CHECK_TAG = "exercise-check"
#: An exercise's heading in its markdown cell: ``### Exercise 4.1``.
EXERCISE_HEADING = re.compile(r"^###\s+Exercise\s+(\d+)\.(\d+)\b", re.M)
#: What stands for a learner's answer in a student copy.
ANSWER_LINE = "{name} = ...  # your answer here"
#: A question's folded worked answer in a markdown cell (its body is group 1). "Answer"
#: is accepted beside "Solution", so that a block written either way never reaches a student.
ANSWER_BLOCK = re.compile(
    r"<details>\s*<summary>\s*(?:Solution|Answer)s?\s*</summary>(.*?)"
    r"</details>",
    re.S | re.I,
)
#: An answer block's opening, to refuse one left unclosed (its answer would survive).
_ANSWER_OPEN = re.compile(r"<summary>\s*(?:Solution|Answer)", re.I)
#: What stands for a folded worked answer in a student copy.
ANSWER_NOTE = "*(The worked answer is in the instructor edition.)*"
#: The series' words for its folded answers, and what a student copy says instead.
_FOLDED = (re.compile(r"\bfolded solutions\b"), "worked answers in the instructor edition")


def exercise_names(check_source: str) -> list[str]:
    """The plain names given to the ``check.exercise_*`` calls of a check cell, in order.

    ``check.exercise_04_1(answer_04_1, head, X["train"], y=y)`` -> ``["answer_04_1", "head",
    "y"]``; an expression that is not a plain name (``X["train"]``) is left out.

    Raises:
        ValueError: the cell is not Python, or calls no ``check.exercise_*``.
    """
    calls = [
        node
        for node in ast.walk(ast.parse(check_source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith("exercise_")
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "check"
    ]
    if not calls:
        raise ValueError("no check.exercise_*(...) call")
    names: list[str] = []
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            if isinstance(arg, ast.Name) and arg.id not in names:
                names.append(arg.id)
    return names


def _python(source: str) -> ast.Module:
    """A code cell's source parsed, its IPython magics (``%...``, ``!...``) blanked."""
    return ast.parse(re.sub(r"^\s*[%!].*$", "", source, flags=re.M))


def _bound(source: str) -> set[str]:
    """Names a code cell binds (assignments, imports, definitions, loop targets)."""
    tree = _python(source)
    names = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    names |= {
        n.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    names |= {
        (a.asname or a.name).split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    }
    return names


def _loaded(source: str) -> set[str]:
    """Names a code cell reads."""
    return {
        n.id
        for n in ast.walk(_python(source))
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }


def _task_lines(source: str) -> list[str]:
    """The leading ``#`` comment lines of a solution cell (blank lines among them dropped)."""
    lines = []
    for line in source.splitlines():
        if line.lstrip().startswith("#"):
            lines.append(line)
        elif line.strip():
            break
    return lines


def _answers(solution: str, check_source: str, where: str) -> list[str]:
    """The names a student copy leaves for the learner: those the check is given that the
    solution binds (the notebook's own objects it also passes keep their values).

    Raises:
        DataError: the check cell has no ``check.exercise_*`` call, or the solution binds
            none of the names it is given.
    """
    try:
        given = exercise_names(check_source)
    except (SyntaxError, ValueError) as error:
        raise errors.DataError(f"{where}: its '{CHECK_TAG}' cell: {error}") from None
    try:
        bound = _bound(solution)
    except SyntaxError as error:
        raise errors.DataError(f"{where}: its '{SOLUTION_TAG}' cell: {error}") from None
    answers = [n for n in given if n in bound]
    if not answers:
        raise errors.DataError(
            f"{where}: the solution binds none of the names its check is "
            f"given ({', '.join(given) or 'none'})"
        )
    return answers


def _exercises(cells: list) -> list[tuple[int, int, int, str]]:
    """``(heading cell, solution cell, check cell, "Exercise N.k")`` for each exercise, checked.

    Raises:
        DataError: a solution cell with no ``### Exercise N.k`` heading above it since the
            previous exercise, or not followed by a code cell tagged :data:`CHECK_TAG`.
    """
    found, heading = [], None
    for index, cell in enumerate(cells):
        if cell.cell_type == "markdown" and EXERCISE_HEADING.search(cell.source):
            heading = index, "Exercise {}.{}".format(*EXERCISE_HEADING.search(cell.source).groups())
        if cell.cell_type != "code" or SOLUTION_TAG not in cell.metadata.get("tags", []):
            continue
        after = next(
            (j for j in range(index + 1, len(cells)) if cells[j].cell_type == "code"), None
        )
        if heading is None:
            raise errors.DataError(
                f"cell {index}: a '{SOLUTION_TAG}' cell with no '### Exercise N.k' heading above it"
            )
        if after is None or CHECK_TAG not in cells[after].metadata.get("tags", []):
            raise errors.DataError(
                f"cell {index} ({heading[1]}): a '{SOLUTION_TAG}' cell must "
                f"be followed by a code cell tagged '{CHECK_TAG}'"
            )
        found.append((heading[0], index, after, heading[1]))
        heading = None
    return found


def _solution_leaks(
    cells: list, exercises: list[tuple[int, int, int, str]], kept: set[str]
) -> list[str]:
    """Cells reading a name only a solution binds (``kept`` aside): a student copy fails there."""
    solutions = {s for _, s, _, _ in exercises}
    checks = {c for _, _, c, _ in exercises}
    elsewhere = set().union(
        *(
            _bound(c.source)
            for i, c in enumerate(cells)
            if c.cell_type == "code" and i not in solutions
        )
    )
    leaks, only_solutions = [], set()
    for index, cell in enumerate(cells):
        if cell.cell_type != "code" or index in checks:
            continue
        if index in solutions:
            only_solutions |= _bound(cell.source) - elsewhere - kept
        elif _loaded(cell.source) & only_solutions:
            names = ", ".join(sorted(_loaded(cell.source) & only_solutions))
            leaks.append(f"cell {index} reads {names}, which only a solution defines")
    return leaks


def _without_answer_blocks(source: str, where: str) -> str:
    """A markdown cell with each folded worked answer replaced by :data:`ANSWER_NOTE`.

    Raises:
        DataError: an answer block left unclosed (no ``</details>``): its answer would stay.
    """
    text = ANSWER_BLOCK.sub(ANSWER_NOTE, source)
    if _ANSWER_OPEN.search(text):
        raise errors.DataError(f"{where}: a folded Solution without its closing </details>")
    return _FOLDED[0].sub(_FOLDED[1], text)


def remove_answers(notebook, name: str = "notebook"):
    """A copy of a notebook without its answers; its other cells and outputs as they were.

    Every cell tagged :data:`SOLUTION_TAG` becomes its leading ``#`` lines (the task), then
    ``NAME = ...  # your answer here`` for each plain name that the next code cell (tagged
    :data:`CHECK_TAG`) passes to ``check.exercise_*`` and that the solution binds: the
    learner's answer, not the notebook's own objects the check also takes. Its tag becomes
    ``answer``; its outputs and its check's (which may quote the answer) are removed. Each
    folded worked answer of a markdown cell (:data:`ANSWER_BLOCK`) becomes
    :data:`ANSWER_NOTE`.

    Raises:
        DataError: an exercise that breaks the convention (no heading, no check cell, a check
            without ``check.exercise_*``, a solution binding none of the checked names), a
            later cell reading a name only a solution defines (the copy would fail there), or
            an answer block left unclosed; named by notebook, cell and exercise.
    """
    result = copy.deepcopy(notebook)
    try:
        exercises = _exercises(result.cells)
        answers = {
            solution: _answers(
                result.cells[solution].source,
                result.cells[check_cell].source,
                f"cell {solution} ({heading})",
            )
            for _, solution, check_cell, heading in exercises
        }
        leaks = _solution_leaks(result.cells, exercises, set().union(*answers.values()))
        if leaks:
            raise errors.DataError("; ".join(leaks))
        for index, cell in enumerate(result.cells):
            if cell.cell_type == "markdown":
                cell.source = _without_answer_blocks(cell.source, f"cell {index}")
    except errors.DataError as error:
        raise errors.DataError(f"{name}: {error}") from None
    for solution, names in answers.items():
        cell = result.cells[solution]
        placeholders = [ANSWER_LINE.format(name=a) for a in names]
        cell.source = "\n".join(_task_lines(cell.source) + placeholders)
        cell.metadata["tags"] = [
            "answer" if t == SOLUTION_TAG else t for t in cell.metadata["tags"]
        ]
    for _, solution, check_cell, _ in exercises:
        for cell in (result.cells[solution], result.cells[check_cell]):
            cell.outputs, cell.execution_count = [], None
    return result


def student_notebook(notebook, name: str = "notebook"):
    """A student copy of a source notebook: :func:`remove_answers`, every output stripped.

    The copy's metadata says ``{"tchexnet": {"student": true}}``.

    Raises:
        DataError: as :func:`remove_answers`.
    """
    student = remove_answers(notebook, name)
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    own = {k: v for k, v in student.metadata.get("tchexnet", {}).items() if k != "run_key"}
    student.metadata["tchexnet"] = {**own, "student": True}
    student.metadata.pop("papermill", None)
    student.metadata.pop("widgets", None)
    return student


# --------------------------------------------------------------------------- instructor edition


@dataclass(frozen=True)
class Question:
    """A question to explore and its folded worked answer.

    Attributes:
        cell: the markdown cell holding it.
        text: the question (and its hint) as the notebook asks it: the numbered item before
            the answer block, else the paragraph before it.
        answer: the block's body (markdown; code in fenced blocks).
    """

    cell: int
    text: str
    answer: str


@dataclass(frozen=True)
class Exercise:
    """An exercise: its ``### Exercise N.k`` heading, task, solution and check (cell sources)."""

    title: str
    task: str
    solution: str
    check: str


def notebook_title(notebook) -> str:
    """The notebook's title: its first ``# `` heading (``05 · CheXNet vs tCheXNet: ...``)."""
    for cell in notebook.cells:
        found = re.search(r"^#\s+(.+)$", cell.source, re.M)
        if cell.cell_type == "markdown" and found:
            return found.group(1).strip()
    return "untitled"


def _question_text(before: str) -> str:
    """The question an answer block answers, from the markdown before it (see :class:`Question`)."""
    lines = before.rstrip().splitlines()
    items = [i for i, line in enumerate(lines) if re.match(r"\d+[.)]\s", line)]
    if items:  # the item's number goes: the page heads it "Question N"
        first, *rest = lines[items[-1] :]
        return "\n".join(
            [re.sub(r"^\d+[.)]\s+", "", first), textwrap.dedent("\n".join(rest))]
        ).strip()
    paragraphs = [p for p in re.split(r"\n\s*\n", before.strip()) if not p.startswith("#")]
    return paragraphs[-1].strip() if paragraphs else ""


def questions(notebook) -> list[Question]:
    """The notebook's questions with a folded worked answer (:data:`ANSWER_BLOCK`), in order."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        start = 0
        for block in ANSWER_BLOCK.finditer(cell.source):
            found.append(
                Question(
                    index,
                    _question_text(cell.source[start : block.start()]),
                    block.group(1).strip(),
                )
            )
            start = block.end()
    return found


def exercises(notebook, name: str = "notebook") -> list[Exercise]:
    """The notebook's exercises, in order (the convention of this module's docstring).

    Raises:
        DataError: an exercise off the convention, named by notebook and cell.
    """
    try:
        found = _exercises(notebook.cells)
    except errors.DataError as error:
        raise errors.DataError(f"{name}: {error}") from None
    result = []
    for heading, solution, check_cell, _ in found:
        text = notebook.cells[heading].source
        line = EXERCISE_HEADING.search(text)
        end = text.find("\n", line.start())
        title = text[line.start() : end if end >= 0 else len(text)].lstrip("#").strip()
        task = text[end:].strip() if end >= 0 else ""
        result.append(
            Exercise(
                title,
                task,
                notebook.cells[solution].source.strip(),
                notebook.cells[check_cell].source.strip(),
            )
        )
    return result


def instructor_page(notebook, name: str = "notebook") -> str:
    """The instructor edition of one notebook (Markdown): what its student copy leaves out.

    Each question to explore with its worked answer, then each exercise with its task, its
    solution and its check, in the notebook's order.

    Raises:
        DataError: an exercise off the convention, named by notebook and cell.
    """
    parts = [
        f"# Instructor edition · {notebook_title(notebook)}",
        "",
        f"What the student copy of `notebooks/{name}.ipynb` (`make student`) leaves out: "
        "the worked answer of each question to explore and the solution of each exercise. "
        "Keep it for yourself, or hand it out after the session.",
        "",
        "## Questions to explore",
        "",
    ]
    asked = questions(notebook)
    for number, question in enumerate(asked, 1):
        parts += [
            f"### Question {number}",
            "",
            question.text,
            "",
            "**Worked answer**",
            "",
            question.answer,
            "",
        ]
    if not asked:
        parts += ["This notebook has no question with a folded answer.", ""]
    parts += ["## Exercises", ""]
    for exercise in exercises(notebook, name):
        parts += [
            f"### {exercise.title}",
            "",
            exercise.task,
            "",
            "**Solution** (the cell tagged `solution`; the student copy keeps its leading "
            "`#` lines and leaves the answer to the learner):",
            "",
            f"```python\n{exercise.solution}\n```",
            "",
            "**Check** (in both editions: it says what is right or names the usual slip):",
            "",
            f"```python\n{exercise.check}\n```",
            "",
        ]
    return "\n".join(parts).rstrip() + "\n"


def write_student_edition(
    out_dir: str | os.PathLike | None = None,
    names: Iterable[str] = notebooks.SERIES,
    source_dir: str | os.PathLike | None = None,
) -> list[Path]:
    """Write the student copy of each notebook (:func:`student_notebook`), atomically.

    Args:
        out_dir: where they go (default ``outputs/student/``).
        names: which notebooks.
        source_dir: their sources (default ``notebooks/``).

    Returns:
        The copies' paths, in order.
    """
    import nbformat  # the notebook format: only for the site and the two editions

    source = Path(source_dir) if source_dir else runner.notebook_dir()
    out = Path(out_dir) if out_dir else config.output_dir("student")
    return [
        files.save_bytes(
            (
                nbformat.writes(
                    student_notebook(nbformat.read(source / f"{name}.ipynb", as_version=4), name)
                )
                + "\n"
            ).encode(),
            out / f"{name}.ipynb",
        )
        for name in names
    ]
