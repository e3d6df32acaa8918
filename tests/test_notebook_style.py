"""House style of the tutorial series (STYLE.md, "A notebook, top to bottom"), read with nbformat.

Fast: nothing is executed. Every notebook of ``tchexnet_lib.notebooks.SERIES`` must exist and
follow the anatomy: title and overview, Setup, one ``parameters`` cell, numbered sections, Save
outputs, Summary, Exercises, Next; stored without outputs; no path hacks, no personal paths, no
giant cells; a static figure before every widget.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tchexnet_lib import notebooks
from tchexnet_lib.tools import hosted, runner

ROOT = Path(__file__).resolve().parents[1]

NAMES = notebooks.SERIES
ORDERED_HEADINGS = (
    "## Setup",
    "## Parameters",
    "## Save outputs",
    "## Summary",
    "## Exercises",
    "## Next",
)
MAX_CODE_LINES = 15
ABSOLUTE_PATHS = ("/work", "/root", "/home", "/tmp", "C:\\")
NUMBERED = re.compile(r"^## (\d+)\. \S", re.MULTILINE)


def read(name: str):
    return nbformat.read(runner.notebook_path(name), as_version=4)


def headings(nb) -> list[str]:
    return [
        line.strip()
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("## ")
    ]


def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_the_series_is_complete_and_nothing_else_is_there():
    found = sorted(p.stem for p in runner.notebook_dir().glob("*.ipynb"))
    assert found == sorted(NAMES)
    assert [name[:2] for name in NAMES] == [f"{k:02d}" for k in range(1, len(NAMES) + 1)]


@pytest.mark.parametrize("name", NAMES)
def test_title_overview_learn_and_prerequisites(name):
    first = read(name).cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith(f"# {name[:2]} · "), first.source[:40]
    assert "What you will learn" in first.source and "Prerequisites" in first.source
    overview = first.source.split("\n\n")[1]
    assert len(overview.split()) >= 20, "two or three sentences of overview after the title"


@pytest.mark.parametrize("name", NAMES)
def test_headings_in_order_with_numbered_sections_between(name):
    found = headings(read(name))
    positions = []
    for heading in ORDERED_HEADINGS:
        assert heading in found, f"{name}: no {heading!r}"
        positions.append(found.index(heading))
    assert positions == sorted(positions), f"{name}: headings out of order: {found}"
    numbered = [h for h in found if NUMBERED.match(h)]
    numbers = [int(NUMBERED.match(h).group(1)) for h in numbered]
    assert numbers and numbers == list(range(1, len(numbers) + 1)), numbered
    first, last = found.index(numbered[0]), found.index(numbered[-1])
    assert positions[1] < first and last < positions[2], (
        "numbered sections sit between Parameters and Save outputs"
    )


@pytest.mark.parametrize("name", NAMES)
def test_one_parameters_cell_with_the_common_knobs(name):
    nb = read(name)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    source = tagged[0].source
    for knob in (
        "DATASET = None",
        "WEIGHTS = None",
        "LIMIT = None",
        "HEAD_EPOCHS = 10",
        "SEED = 0",
    ):
        assert knob in source, f"{name}: parameters cell lacks {knob!r}"
    index = nb.cells.index(tagged[0])
    assert nb.cells[index - 1].source.startswith("## Parameters")


@pytest.mark.parametrize("name", NAMES)
def test_setup_cell_imports_everything_and_seeds(name):
    nb = read(name)
    setup = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Setup"))
    cell = nb.cells[setup + 2]  # after the hosted install cell
    assert cell.cell_type == "code" and "config.set_seed(" in cell.source
    assert "from tchexnet_lib import" in cell.source
    for other in code_cells(nb):
        if other is not cell and hosted.INSTALL_TAG not in other.metadata.get("tags", []):
            assert not re.search(r"^\s*(import|from \S+ import)\s", other.source, re.MULTILINE), (
                f"{name}: an import outside the Setup cell:\n{other.source}"
            )
    study = [c for c in code_cells(nb) if "pipeline.make_study(" in c.source]
    assert len(study) == 1 and "print(study.describe())" in study[0].source


@pytest.mark.parametrize("name", NAMES)
def test_the_first_code_cell_installs_the_project_where_it_is_missing(name):
    """Colab, Kaggle, Binder: the first code cell (right after ## Setup) is the hosted install,
    built from pyproject's Repository URL, and the title cell links the three hosts."""
    nb = read(name)
    first = code_cells(nb)[0]
    assert first.metadata.get("tags") == [hosted.INSTALL_TAG]
    assert first.source == hosted.install_cell_source()
    assert first.source.count("%pip install") == 1 and "tchexnet{extra} @ git+" in first.source
    setup = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Setup"))
    assert nb.cells[setup + 1] is first
    assert hosted.badges_markdown(name) in nb.cells[0].source


def test_the_links_are_built_from_the_one_repository_setting():
    import tomllib

    url = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    assert hosted.repository_url() == url.rstrip("/")
    links = hosted.open_links("05_roc_comparison")
    owner_name = url.removeprefix("https://github.com/")
    assert links["Colab"].endswith(
        f"github/{owner_name}/blob/main/notebooks/05_roc_comparison.ipynb"
    )
    assert links["Binder"] == (
        f"https://mybinder.org/v2/gh/{owner_name}/main?labpath=notebooks%2F05_roc_comparison.ipynb"
    )
    assert "src=https%3A%2F%2Fgithub.com%2F" in links["Kaggle"]


@pytest.mark.parametrize("name", NAMES)
def test_stored_without_outputs(name):
    nb = read(name)
    for cell in code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NAMES)
def test_no_path_hacks_no_absolute_paths(name):
    for cell in read(name).cells:
        assert "sys.path" not in cell.source
        assert not re.search(r"^\s*from \S+ import \*", cell.source, re.MULTILINE)
        for prefix in ABSOLUTE_PATHS:
            assert prefix not in cell.source, f"{name}: {prefix!r} in\n{cell.source}"


@pytest.mark.parametrize("name", NAMES)
def test_code_cells_are_short_and_define_no_long_functions(name):
    """Functions live in the library; only an exercise's solution may define one (the learner
    writes a function the check runs on inputs of its own), within the same line limit."""
    for cell in code_cells(read(name)):
        lines = [line for line in cell.source.splitlines() if line.strip()]
        assert len(lines) <= MAX_CODE_LINES, f"{name}: {len(lines)} lines:\n{cell.source}"
        if "solution" not in cell.metadata.get("tags", []):
            assert not re.search(r"^\s*(def|class) ", cell.source, re.MULTILINE), cell.source


@pytest.mark.parametrize("name", NAMES)
def test_every_widget_follows_a_static_figure(name):
    sources = [c.source for c in code_cells(read(name))]
    for k, source in enumerate(sources):
        if "roc_explorer(" in source:
            assert any("static_explorer_figure(" in s for s in sources[:k]), (
                f"{name}: roc_explorer without a static figure before it"
            )


@pytest.mark.parametrize("name", NAMES)
def test_two_to_four_exercises_with_hints_and_hidden_solutions(name):
    cell = next(c for c in read(name).cells if c.source.startswith("## Exercises"))
    questions = re.findall(r"^\d+\. ", cell.source, re.MULTILINE)
    assert 2 <= len(questions) <= 4
    assert cell.source.count("*Hint*") == len(questions)
    assert cell.source.count("<details>") == len(questions)


@pytest.mark.parametrize("name", NAMES)
def test_next_links_the_following_notebook(name):
    cell = next(c for c in read(name).cells if c.source.startswith("## Next"))
    index = NAMES.index(name)
    following = NAMES[index + 1] if index + 1 < len(NAMES) else NAMES[0]
    assert f"({following}.ipynb)" in cell.source


def test_the_roc_explorer_is_the_last_widget_of_notebook_05():
    """The browser test finds the explorer by its classes after running all cells."""
    sources = [c.source for c in code_cells(read("05_roc_comparison"))]
    index = max(k for k, s in enumerate(sources) if "roc_explorer(" in s)
    assert not any("widgets." in s or "ipywidgets" in s for s in sources[index + 1 :])


#: The notebooks whose key step is done by hand beside the library call ("open the hood").
HOOD = (
    "01_data_exploration",
    "04_transfer_training",
    "05_roc_comparison",
    "06_where_the_model_looks",
)


@pytest.mark.parametrize("name", HOOD)
def test_the_hood_is_opened_and_checked_against_the_library(name):
    """A cell computes the key step by hand; the cell tagged open-the-hood asserts it equals
    the library's result (the executed series proves the asserts hold)."""
    nb = read(name)
    tagged = [i for i, c in enumerate(nb.cells) if "open-the-hood" in c.metadata.get("tags", [])]
    assert tagged, f"{name}: no cell tagged open-the-hood"
    for i in tagged:
        check, by_hand, text = nb.cells[i], nb.cells[i - 1], nb.cells[i - 2]
        assert check.cell_type == by_hand.cell_type == "code" and text.cell_type == "markdown"
        assert text.source.startswith("### Under the hood")
        assert re.search(r"^assert ", check.source, re.MULTILINE), check.source
        assert re.search(r"\b(evaluation|training|gradcam|splits|pipeline)\.", check.source)


EXERCISE = re.compile(r"^### Exercise (\d)\.(\d): \S")


@pytest.mark.parametrize("name", NAMES)
def test_coding_exercises_end_with_their_check(name):
    """At least one exercise per notebook where the learner writes code: a task ("### Exercise
    N.k: ..."), a cell tagged ``solution`` that assigns ``answer_0N_k``, then a cell tagged
    ``exercise-check`` calling ``check.exercise_0N_k(answer_0N_k, ...)``, a function of
    :mod:`tchexnet_lib.check` (the student edition keeps the check, blanks the solution)."""
    from tchexnet_lib import check

    nb = read(name)
    tasks = [
        i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and EXERCISE.match(c.source)
    ]
    assert tasks, f"{name}: no coding exercise"
    for i in tasks:
        number, k = EXERCISE.match(nb.cells[i].source).groups()
        assert number == str(int(name[:2])), nb.cells[i].source[:40]
        answer, function = f"answer_{name[:2]}_{k}", f"exercise_{name[:2]}_{k}"
        following = nb.cells[i + 1 :]
        solution = next(c for c in following if "solution" in c.metadata.get("tags", []))
        checking = following[following.index(solution) + 1]
        assert re.search(rf"^{answer} = ", solution.source, re.MULTILINE), solution.source
        assert solution.source.startswith("#"), "the solution opens with the task as a comment"
        assert "exercise-check" in checking.metadata.get("tags", [])
        assert checking.source.startswith(f"check.{function}({answer}"), checking.source
        assert callable(getattr(check, function))
        assert nb.cells.index(solution) < next(
            j for j, c in enumerate(nb.cells) if c.source.startswith("## Next")
        )


@pytest.mark.parametrize("name", NAMES)
def test_references_before_next(name):
    found = headings(read(name))
    assert "## References" in found and found.index("## References") == found.index("## Next") - 1


def test_the_readme_opens_every_notebook_in_colab_kaggle_and_binder():
    readme = (ROOT / "README.md").read_text()
    for name in NAMES:
        row = (
            f"| `{name}` | "
            + " · ".join(f"[{host}]({url})" for host, url in hosted.open_links(name).items())
            + " |"
        )
        assert row in readme, f"README: no up-to-date links row for {name}"
