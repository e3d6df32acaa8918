"""The instructor edition (``make instructor``) and the workshop's clock in it.

:func:`write_instructor_edition` writes ``outputs/instructor/``: one page per notebook
(:func:`student.instructor_page`: each question's worked answer, each exercise's solution),
an index, and ``timing.md``, the workshop's clock: minutes per section of each notebook,
computed from the notebooks.

A section is what a learner meets between two headings: the title and overview, each
``## `` section, and each ``### Exercise N.k`` with its cells (:mod:`tchexnet_lib.tools.student`'s
convention). Its time is

- **reading**: the words of its markdown as the student copy has them (worked answers
  removed, fenced code and HTML tags left out) at :data:`PROSE_WORDS_PER_MINUTE`, and the
  words of its code cells at :data:`CODE_WORDS_PER_MINUTE`;
- **running**: the measured duration of its cells in an executed copy of ``tchexnet demo``
  (papermill records each cell's, matched to the source by cell id); the kernel's start and
  papermill's own time go to the first section;
- **an exercise**: :data:`EXERCISE_MINUTES` for each coding exercise (writing the answer
  with its hint, running its check).

Each section is of one kind (:data:`KINDS`): ``read`` in the room; ``run only`` (Setup,
Parameters, Save outputs, References, Next: the same in every notebook, run and skimmed,
their reading time not counted); ``exercise`` (a coding exercise: read and written);
``optional`` (the questions to explore, whose worked answers are in the instructor edition,
and any section headed "Optional": left for later in a short session, not counted).
:func:`timing_table` computes the rows, :func:`timing_markdown` the page ``make instructor``
writes (``outputs/instructor/timing.md``): per notebook what the room needs without its
exercises, what each exercise adds, and the series against the slot.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tchexnet_lib import config, files, notebooks
from tchexnet_lib.tools import runner, student

__all__ = [
    "CODE_WORDS_PER_MINUTE",
    "EXERCISE_MINUTES",
    "KINDS",
    "PROSE_WORDS_PER_MINUTE",
    "RUN_ONLY",
    "Section",
    "notebook_sections",
    "timing_markdown",
    "timing_table",
    "write_instructor_edition",
]

#: Reading pace of prose, words per minute (a careful, technical read).
PROSE_WORDS_PER_MINUTE = 200
#: Reading pace of code: half the prose pace.
CODE_WORDS_PER_MINUTE = 100
#: Minutes for one coding exercise: reading its hint, writing the answer, running the check.
EXERCISE_MINUTES = 8
#: The kinds of section, in the order of the module docstring.
KINDS = ("read", "run only", "exercise", "optional")
#: Sections run and skimmed in the room (the same in every notebook).
RUN_ONLY = ("Setup", "Parameters", "Save outputs", "References", "Next")
#: The heading of a notebook's questions to explore, and of its optional sections.
_QUESTIONS = re.compile(r"^##\s+Exercises\b", re.M)
_OPTIONAL = re.compile(r"\boptional\b", re.I)
_HEADING = re.compile(r"^(##|###)\s+(.+)$", re.M)


@dataclass(frozen=True)
class Section:
    """One section of a notebook and its minutes (see the module docstring).

    Attributes:
        notebook: the notebook (``04_transfer_training``).
        title: the section's heading (the notebook's title for what precedes the first ``##``).
        prose_words, code_words: what a learner reads.
        exercises: coding exercises in it.
        run_seconds: its cells' measured time, None when no executed copy was given.
        kind: one of :data:`KINDS`.
    """

    notebook: str
    title: str
    prose_words: int
    code_words: int
    exercises: int
    run_seconds: float | None
    kind: str

    @property
    def reading_minutes(self) -> float:
        """Prose and code at their paces."""
        return self.prose_words / PROSE_WORDS_PER_MINUTE + self.code_words / CODE_WORDS_PER_MINUTE

    @property
    def minutes(self) -> float:
        """Reading, exercises and running: all it takes."""
        return (
            self.reading_minutes
            + self.exercises * EXERCISE_MINUTES
            + (self.run_seconds or 0.0) / 60
        )

    @property
    def room_minutes(self) -> float:
        """What it takes in the room: ``run only`` its running, ``optional`` nothing."""
        if self.kind == "optional":
            return 0.0
        return self.minutes if self.kind != "run only" else (self.run_seconds or 0.0) / 60


def _kind(title: str, exercises: int) -> str:
    """A section's kind (:data:`KINDS`) from its heading and its exercises."""
    if exercises:
        return "exercise"
    if _OPTIONAL.search(title) or _QUESTIONS.match(f"## {title}"):
        return "optional"
    return "run only" if title in RUN_ONLY else "read"


def _prose_words(markdown: str) -> int:
    """Words of a markdown cell as read: fenced code and HTML tags left out."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    return len(re.sub(r"<[^>]+>", " ", text).split())


def _starts(cell) -> str | None:
    """The title of the section a markdown cell starts (``##``, ``### Exercise``), else None."""
    if cell.cell_type != "markdown":
        return None
    found = _HEADING.search(cell.source)
    if not found or (found.group(1) == "###" and not student.EXERCISE_HEADING.search(cell.source)):
        return None
    return found.group(2).strip()


def notebook_sections(source, name: str, executed=None) -> list[Section]:
    """The sections of one notebook with their words, exercises and measured time.

    Args:
        source: the notebook as in ``notebooks/`` (read with nbformat).
        name: its name.
        executed: its executed copy (papermill's cell durations), or None.

    Raises:
        DataError: an exercise off the convention (:func:`student.remove_answers`).
    """
    read = student.remove_answers(source, name)
    durations = {}
    if executed is not None:
        durations = {
            c.get("id"): c.metadata.get("papermill", {}).get("duration") or 0.0
            for c in executed.cells
        }
    groups: list[list[int]] = [[]]
    titles = [student.notebook_title(source)]
    for index, cell in enumerate(read.cells):
        if _starts(cell) and groups[-1]:
            groups.append([])
            titles.append(_starts(cell))
        groups[-1].append(index)
    sections = []
    for title, indices in zip(titles, groups):
        cells = [read.cells[i] for i in indices]
        run = None
        if executed is not None:
            run = sum(durations.get(source.cells[i].get("id"), 0.0) for i in indices)
        exercises = sum(
            student.SOLUTION_TAG in source.cells[i].metadata.get("tags", []) for i in indices
        )
        sections.append(
            Section(
                name,
                title,
                sum(_prose_words(c.source) for c in cells if c.cell_type == "markdown"),
                sum(len(c.source.split()) for c in cells if c.cell_type == "code"),
                exercises,
                run,
                _kind(title, exercises),
            )
        )
    if executed is not None and sections:
        total = executed.metadata.get("papermill", {}).get("duration") or 0.0
        overhead = max(0.0, total - sum(s.run_seconds for s in sections))
        sections[0] = dataclasses.replace(
            sections[0], run_seconds=sections[0].run_seconds + overhead
        )
    return sections


def timing_table(
    names: Iterable[str] = notebooks.SERIES,
    source_dir: str | os.PathLike | None = None,
    executed_dir: str | os.PathLike | None = None,
) -> list[Section]:
    """Every section of the series (:func:`notebook_sections`), in order.

    Args:
        names: which notebooks.
        source_dir: their sources (default ``notebooks/``).
        executed_dir: executed copies (default ``outputs/notebooks/``); a notebook without
            one gets no running time.
    """
    import nbformat  # the notebook format: only for the site and the two editions

    source = Path(source_dir) if source_dir else runner.notebook_dir()
    ran = Path(executed_dir) if executed_dir else config.output_dir("notebooks")
    sections = []
    for name in names:
        executed = ran / f"{name}.ipynb"
        sections += notebook_sections(
            nbformat.read(source / f"{name}.ipynb", as_version=4),
            name,
            nbformat.read(executed, as_version=4) if executed.is_file() else None,
        )
    return sections


def _verdict(sections: list[Section], slot_minutes: int) -> str:
    """The series against the slot, and what to leave for later when it does not fit."""
    base = sum(s.room_minutes for s in sections if s.kind != "exercise")
    exercises = sum(s.minutes for s in sections if s.kind == "exercise")
    head = (
        f"Read and run: {_minutes(base)} min; with every exercise "
        f"{_minutes(base + exercises)} min ({slot_minutes}-minute slot): "
    )
    if base + exercises <= slot_minutes:
        return head + "it fits."
    if base <= slot_minutes:
        return head + (
            f"{_minutes(slot_minutes - base)} min are left for exercises; choose "
            "those to do in the room, leave the others for later."
        )
    longest = sorted((s for s in sections if s.kind == "read"), key=lambda s: -s.minutes)[:3]
    return head + (
        f"reading and running alone exceed it by {math.ceil(base - slot_minutes)} "
        "min: leave sections for later too (the longest: "
        + "; ".join(f"{s.notebook} {s.title} {_minutes(s.minutes)}" for s in longest)
        + ")."
    )


def _minutes(value: float) -> str:
    return f"{value:.1f}"


def timing_markdown(sections: list[Section], slot_minutes: int = 90) -> str:
    """The timing page: the series against the slot, then each notebook's sections.

    Args:
        sections: :func:`timing_table`.
        slot_minutes: the workshop's length.
    """
    measured = all(s.run_seconds is not None for s in sections)
    names = list(dict.fromkeys(s.notebook for s in sections))
    parts = [
        "# The workshop's clock",
        "",
        f"Reading at {PROSE_WORDS_PER_MINUTE} words/min for prose and {CODE_WORDS_PER_MINUTE} "
        f"for code (the student copies' words: no worked answer), {EXERCISE_MINUTES} min per "
        "coding exercise, and each section's cells as measured in the executed copies of "
        "`tchexnet demo` (`outputs/notebooks/`; the kernel's start counts in the first "
        "section)."
        + (
            ""
            if measured
            else " Some notebooks have no executed copy: their "
            "running time is missing (run `make demo`)."
        ),
        f"In the room: the sections to read, the running of {', '.join(RUN_ONLY)} (skimmed, "
        "their reading not counted), the exercises chosen; the questions to explore and "
        'sections headed "Optional" are left for later.',
        "",
        "| notebook | read and run (min) | each exercise (min) | optional (min) |",
        "|---|---|---|---|",
    ]
    for name in names:
        rows = [s for s in sections if s.notebook == name]
        base = sum(s.room_minutes for s in rows if s.kind != "exercise")
        each = ", ".join(
            f"{s.title.split(':')[0]} {_minutes(s.minutes)}" for s in rows if s.kind == "exercise"
        )
        later = sum(s.minutes for s in rows if s.kind == "optional")
        parts.append(f"| {name} | {_minutes(base)} | {each or '—'} | {_minutes(later)} |")
    parts += ["", _verdict(sections, slot_minutes), ""]
    for name in names:
        parts += [
            f"## {name}",
            "",
            "| section | words (prose + code) | run (s) | minutes | kind |",
            "|---|---|---|---|---|",
        ]
        parts += [
            f"| {s.title.replace('|', '/')} | {s.prose_words} + {s.code_words} | "
            f"{'—' if s.run_seconds is None else f'{s.run_seconds:.0f}'} | "
            f"{_minutes(s.minutes)} | {s.kind} |"
            for s in sections
            if s.notebook == name
        ]
        parts.append("")
    return "\n".join(parts)


def _index_page(pages: list[tuple[str, int, int]]) -> str:
    """The instructor edition's README: one line per notebook with its page and its counts."""
    rows = [f"| [{name}]({name}.md) | {asked} | {solved} |" for name, asked, solved in pages]
    return (
        "\n".join(
            [
                "# Instructor edition",
                "",
                "The worked answers of the questions to explore and the solutions of the exercises, "
                "one page per notebook: what the student edition (`make student`, "
                "`outputs/student/`) leaves out. Written by `make instructor` (`tchexnet instructor`) "
                "from the notebooks, so it follows them when they change.",
                "",
                "| notebook | questions | exercises |",
                "|---|---|---|",
                *rows,
                "",
                "[The workshop's clock](timing.md): minutes per section of each notebook, from its "
                "words and the executed copies' measured times.",
            ]
        )
        + "\n"
    )


def write_instructor_edition(
    out_dir: str | os.PathLike | None = None,
    names: Iterable[str] = notebooks.SERIES,
    source_dir: str | os.PathLike | None = None,
    executed_dir: str | os.PathLike | None = None,
    slot_minutes: int = 90,
) -> list[Path]:
    """Write the instructor edition: :func:`student.instructor_page` per notebook, the
    workshop's clock (``timing.md``, :func:`timing_markdown`) and ``README.md``.

    Args:
        out_dir: where they go (default ``outputs/instructor/``).
        names: which notebooks.
        source_dir: their sources (default ``notebooks/``).
        executed_dir: their executed copies, for the clock's running times (default
            ``outputs/notebooks/``).
        slot_minutes: the workshop's length, for the clock.

    Returns:
        The index (``README.md``), each notebook's page (``NN_name.md``) in order, then
        ``timing.md``.
    """
    import nbformat  # the notebook format: only for the site and the two editions

    source = Path(source_dir) if source_dir else runner.notebook_dir()
    out = Path(out_dir) if out_dir else config.output_dir("instructor")
    written, counts = [], []
    for name in names:
        notebook = nbformat.read(source / f"{name}.ipynb", as_version=4)
        page = student.instructor_page(notebook, name)
        written.append(files.save_bytes(page.encode(), out / f"{name}.md"))
        counts.append(
            (name, len(student.questions(notebook)), len(student.exercises(notebook, name)))
        )
    clock = timing_markdown(
        timing_table([c[0] for c in counts], source, executed_dir), slot_minutes
    )
    return [
        files.save_bytes(_index_page(counts).encode(), out / "README.md"),
        *written,
        files.save_bytes(clock.encode(), out / "timing.md"),
    ]
