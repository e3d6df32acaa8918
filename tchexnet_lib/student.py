"""The student edition of the series (``make student``): solutions removed, checks kept.

An exercise, in a notebook of the series, is a markdown cell headed ``### Exercise N.k``,
then a code cell tagged ``solution``, then a code cell tagged ``exercise-check`` calling
``check.exercise_NN_k(answer_NN_k, ...)`` (:mod:`tchexnet_lib.check`). In the student copy
(:func:`student_notebook`) each solution keeps its leading ``#`` lines (the task) and gets one
``NAME = ...  # your answer here`` line per plain name its check is given that the solution
itself binds (the notebook's own objects the check also takes keep their values); a check given
``...`` prints "not yet answered" instead of raising, so the copy runs top to bottom. Outputs
are stripped and the copy's metadata says ``{"tchexnet": {"student": true}}``.
:func:`write_student_edition` writes the copies under ``outputs/student/``.
"""

from __future__ import annotations

import ast
import copy
import os
import re
from collections.abc import Iterable
from pathlib import Path

from tchexnet_lib import config, errors, files, notebooks

__all__ = ["ANSWER_LINE", "CHECK_TAG", "EXERCISE_HEADING", "SOLUTION_TAG", "exercise_names",
           "student_notebook", "write_student_edition"]

#: The tag of an exercise's solution cell, and of the cell that checks its answer.
SOLUTION_TAG = "solution"
CHECK_TAG = "exercise-check"
#: An exercise's heading in its markdown cell: ``### Exercise 4.1``.
EXERCISE_HEADING = re.compile(r"^###\s+Exercise\s+(\d+)\.(\d+)\b", re.M)
#: What stands for a learner's answer in a student copy.
ANSWER_LINE = "{name} = ...  # your answer here"


def exercise_names(check_source: str) -> list[str]:
    """The plain names given to the ``check.exercise_*`` calls of a check cell, in order.

    ``check.exercise_04_1(answer_04_1, head, X["train"], y=y)`` -> ``["answer_04_1", "head",
    "y"]``; an expression that is not a plain name (``X["train"]``) is left out.

    Raises:
        ValueError: the cell is not Python, or calls no ``check.exercise_*``.
    """
    calls = [node for node in ast.walk(ast.parse(check_source)) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr.startswith("exercise_")
             and isinstance(node.func.value, ast.Name) and node.func.value.id == "check"]
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
    names = {n.id for n in ast.walk(tree)
             if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    names |= {n.name for n in ast.walk(tree)
              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    names |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
              if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    return names


def _loaded(source: str) -> set[str]:
    """Names a code cell reads."""
    return {n.id for n in ast.walk(_python(source))
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


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
        raise errors.DataError(f"{where}: the solution binds none of the names its check is "
                               f"given ({', '.join(given) or 'none'})")
    return answers


def _exercises(cells: list) -> list[tuple[int, int, str]]:
    """``(solution cell, check cell, "Exercise N.k")`` for each exercise, checked.

    Raises:
        DataError: a solution cell with no ``### Exercise N.k`` heading above it since the
            previous exercise, or not followed by a code cell tagged :data:`CHECK_TAG`.
    """
    found, heading = [], None
    for index, cell in enumerate(cells):
        if cell.cell_type == "markdown" and EXERCISE_HEADING.search(cell.source):
            heading = "Exercise {}.{}".format(*EXERCISE_HEADING.search(cell.source).groups())
        if cell.cell_type != "code" or SOLUTION_TAG not in cell.metadata.get("tags", []):
            continue
        after = next((j for j in range(index + 1, len(cells)) if cells[j].cell_type == "code"),
                     None)
        if heading is None:
            raise errors.DataError(f"cell {index}: a '{SOLUTION_TAG}' cell with no "
                                   "'### Exercise N.k' heading above it")
        if after is None or CHECK_TAG not in cells[after].metadata.get("tags", []):
            raise errors.DataError(f"cell {index} ({heading}): a '{SOLUTION_TAG}' cell must be "
                                   f"followed by a code cell tagged '{CHECK_TAG}'")
        found.append((index, after, heading))
        heading = None
    return found


def _solution_leaks(cells: list, exercises: list[tuple[int, int, str]],
                    kept: set[str]) -> list[str]:
    """Cells reading a name only a solution binds (``kept`` aside): a student copy fails there."""
    solutions = {s for s, _, _ in exercises}
    checks = {c for _, c, _ in exercises}
    elsewhere = set().union(*(_bound(c.source) for i, c in enumerate(cells)
                              if c.cell_type == "code" and i not in solutions))
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


def student_notebook(notebook, name: str = "notebook"):
    """A student copy of a source notebook: solutions removed, checks kept, outputs stripped.

    Every cell tagged :data:`SOLUTION_TAG` becomes its leading ``#`` lines (the task), then
    ``NAME = ...  # your answer here`` for each plain name that the next code cell (tagged
    :data:`CHECK_TAG`) passes to ``check.exercise_*`` and that the solution binds: the
    learner's answer, not the notebook's own objects the check also takes. Its tag becomes
    ``answer``. The copy's metadata says ``{"tchexnet": {"student": true}}``.

    Raises:
        DataError: an exercise that breaks the convention (no heading, no check cell, a check
            without ``check.exercise_*``, a solution binding none of the checked names), or a
            later cell reading a name only a solution defines (the copy would fail there);
            named by notebook, cell and exercise.
    """
    student = copy.deepcopy(notebook)
    try:
        exercises = _exercises(student.cells)
        answers = {solution: _answers(student.cells[solution].source,
                                      student.cells[check_cell].source,
                                      f"cell {solution} ({heading})")
                   for solution, check_cell, heading in exercises}
        leaks = _solution_leaks(student.cells, exercises, set().union(*answers.values()))
        if leaks:
            raise errors.DataError("; ".join(leaks))
    except errors.DataError as error:
        raise errors.DataError(f"{name}: {error}") from None
    for solution, names in answers.items():
        cell = student.cells[solution]
        placeholders = [ANSWER_LINE.format(name=a) for a in names]
        cell.source = "\n".join(_task_lines(cell.source) + placeholders)
        cell.metadata["tags"] = ["answer" if t == SOLUTION_TAG else t
                                 for t in cell.metadata["tags"]]
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    own = {k: v for k, v in student.metadata.get("tchexnet", {}).items() if k != "run_key"}
    student.metadata["tchexnet"] = {**own, "student": True}
    student.metadata.pop("papermill", None)
    student.metadata.pop("widgets", None)
    return student


def write_student_edition(out_dir: str | os.PathLike | None = None,
                          names: Iterable[str] = notebooks.SERIES,
                          source_dir: str | os.PathLike | None = None) -> list[Path]:
    """Write the student copy of each notebook (:func:`student_notebook`), atomically.

    Args:
        out_dir: where they go (default ``outputs/student/``).
        names: which notebooks.
        source_dir: their sources (default ``notebooks/``).

    Returns:
        The copies' paths, in order.
    """
    import nbformat  # the notebook format: only for the site and the student edition

    source = Path(source_dir) if source_dir else notebooks.notebook_dir()
    out = Path(out_dir) if out_dir else config.output_dir("student")
    written = []
    for name in names:
        notebook = nbformat.read(source / f"{name}.ipynb", as_version=4)
        text = nbformat.writes(student_notebook(notebook, name)) + "\n"
        with files.atomic_path(out / f"{name}.ipynb") as tmp:
            tmp.write_text(text)
        written.append(out / f"{name}.ipynb")
    return written
