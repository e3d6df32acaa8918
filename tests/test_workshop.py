"""The workshop's clock: minutes per section from the words and the measured running times."""

from __future__ import annotations

import re

import nbformat
import pytest

from tchexnet_lib import notebooks
from tchexnet_lib.tools import runner, student, workshop

PROSE = " ".join(["word"] * 200)  # one minute at 200 words/min


def lesson() -> nbformat.NotebookNode:
    """A title, a Setup, a section, an optional one, questions, an exercise, a Next."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [
        md(f"# 01 · A lesson\n\n{PROSE}"),
        md("## Setup"),
        code("import numpy as np"),
        md(f"## 1. Counting\n\n{PROSE}\n\n```python\nnot = counted\n```"),
        code("\n".join(["pass"] * 100)),  # one minute at 100 words/min
        md(f"## 2. Optional: more\n\n{PROSE}"),
        md(
            f"## Exercises\n\n1. Why?\n\n<details><summary>Solution</summary>\n\n{PROSE}\n\n"
            "</details>"
        ),
        md("### Exercise 1.1: count\n\nCount."),
        code("# Count.\nanswer_01_1 = 3", metadata={"tags": [student.SOLUTION_TAG]}),
        code("check.exercise_01_1(answer_01_1)", metadata={"tags": [student.CHECK_TAG]}),
        md("## Next"),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def executed(notebook, seconds: dict[int, float], total: float) -> nbformat.NotebookNode:
    """The notebook as papermill leaves it: each cell's duration, the run's."""
    copy = nbformat.from_dict(nbformat.reads(nbformat.writes(notebook), as_version=4))
    for index, cell in enumerate(copy.cells):
        cell.metadata["papermill"] = {"duration": seconds.get(index, 0.0)}
    copy.metadata["papermill"] = {"duration": total}
    return copy


def test_sections_count_the_student_copy_s_words_and_the_measured_seconds():
    source = lesson()
    sections = workshop.notebook_sections(source, "01_lesson", executed(source, {4: 60.0}, 90.0))
    assert [(s.title, s.kind) for s in sections] == [
        ("01 · A lesson", "read"),
        ("Setup", "run only"),
        ("1. Counting", "read"),
        ("2. Optional: more", "optional"),
        ("Exercises", "optional"),
        ("Exercise 1.1: count", "exercise"),
        ("Next", "run only"),
    ]
    title, setup, counting, _, questions, exercise, _ = sections
    assert title.run_seconds == 30.0  # the kernel's start: the run's time beyond its cells'
    assert counting.prose_words == 203 and counting.code_words == 100  # fenced code not read
    assert counting.minutes == pytest.approx(203 / 200 + 1 + 1)
    assert questions.prose_words == 4 + len(student.ANSWER_NOTE.split())  # the answer is gone
    assert exercise.exercises == 1 and exercise.code_words == 9 + 1  # the student copy's cells
    assert exercise.minutes == pytest.approx(workshop.EXERCISE_MINUTES + 5 / 200 + 10 / 100)
    assert setup.room_minutes == 0.0 and setup.minutes > 0  # run, not read, in the room


def test_the_clock_adds_up_the_room_and_says_whether_it_fits_the_slot():
    source = lesson()
    sections = workshop.notebook_sections(source, "01_lesson", executed(source, {4: 60.0}, 90.0))
    room = sum(s.room_minutes for s in sections if s.kind != "exercise")
    assert room == pytest.approx(205 / 200 + 0.5 + 203 / 200 + 1 + 1)  # title, start; 1.
    page = workshop.timing_markdown(sections, slot_minutes=60)
    assert f"| 01_lesson | {room:.1f} | Exercise 1.1 {sections[5].minutes:.1f} | " in page
    assert "(60-minute slot): it fits." in page
    every = room + sections[5].minutes
    assert (
        f"{room:.1f} min; with every exercise {every:.1f} min (10-minute slot): "
        f"{10 - room:.1f} min are left for exercises" in workshop.timing_markdown(sections, 10)
    )
    assert (
        "reading and running alone exceed it by 2 min: leave sections for later too (the "
        "longest: 01_lesson 1. Counting 3.0; 01_lesson 01 · A lesson 1.5)"
    ) in workshop.timing_markdown(sections, slot_minutes=3)
    unmeasured = workshop.timing_markdown(workshop.notebook_sections(source, "01_lesson"))
    assert "running time is missing (run `make demo`)" in unmeasured


def test_the_instructor_page_plans_every_exercise_with_commands_that_exist():
    """notebooks/README.md follows the notebooks: each exercise is placed in its plan (in the
    room or later), and each `make` target it names exists."""
    root = runner.notebook_dir()
    page = (root / "README.md").read_text()
    missing = [
        f"{name}: {exercise.title.split(':')[0]}"
        for name in notebooks.SERIES
        for exercise in student.exercises(nbformat.read(root / f"{name}.ipynb", as_version=4), name)
        if exercise.title.split(":")[0] not in page
    ]
    assert missing == [], "the instructor's page does not place these exercises"
    targets = set(re.findall(r"^([\w-]+):", (root.parent / "Makefile").read_text(), re.M))
    named = set(re.findall(r"`make ([\w-]+)", page))
    assert named and named <= targets, named - targets
