"""The static site (``make site``): pages from executed notebooks, widgets drawn static, offline.

Widgets are real ipywidgets (the ROC explorer included) whose state is saved as nbclient saves
it in an executed notebook; the site is built by the real MkDocs on small executed notebooks
written here, stamped with the keys :func:`runner.run_key` gives them. The browser test
(``tests/test_site_browser.py``) builds it from the tiny demo's executed series instead.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import ipywidgets
import nbformat
import numpy as np
import pytest
from ipywidgets.embed import embed_data
from PIL import Image

from tchexnet_lib import config, errors, files, models, notebooks, results, widgets
from tchexnet_lib.tools import cli, demo, site, student

PARAMETERS = {"DATASET": "demo", "LIMIT": 40}
ROOT = Path(__file__).resolve().parent.parent
#: The checkout's own pages, which a site built from it publishes: the README and docs/*.md.
PROJECT_PAGES = {"about.html", *(f"docs/{p.stem}.html" for p in (ROOT / "docs").glob("*.md"))}
INPUTS = {"predictions": "0" * 64}
SUMMARY = {
    "note": "demo weights trained on synthetic data",
    "n_test": 30,
    "positives": 9,
    "seconds": 12.0,
    "delong": {"z": -2.1, "p": 0.036},
    "models": {
        "CheXNet": {"auc": 0.71, "ci95": [0.52, 0.90]},
        "tCheXNet": {"auc": 0.88, "ci95": [0.75, 1.0]},
    },
}


def saved_state(*views) -> tuple[dict, list[str]]:
    """What an executed notebook's metadata holds for these widgets, and their model ids."""
    data = embed_data(views=list(views), drop_defaults=False)
    return data["manager_state"], [spec["model_id"] for spec in data["view_specs"]]


def png_bytes(size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((*size[::-1], 3), 90, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- widgets


def test_a_finished_progress_bar_is_drawn_as_it_ended():
    bar = ipywidgets.HBox(
        [
            ipywidgets.HTML("preflight: 100%"),
            ipywidgets.FloatProgress(value=413, max=413),
            ipywidgets.HTML("413/413"),
        ]
    )
    state, (model_id,) = saved_state(bar)
    drawn = site.static_widget_html(model_id, state["state"])
    assert "preflight: 100%" in drawn and "413/413" in drawn
    assert '<progress class="tchexnet-static-widget" value="413.0" max="413.0">' in drawn
    assert "Static page" not in drawn  # nothing to run live: no note
    assert site.static_widget_html("not-a-model", state["state"]) is None


def test_the_roc_explorer_becomes_its_static_twin_with_a_note():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(20), np.zeros(80)].astype(int)
    scores = {
        "A": np.clip(0.4 + 0.3 * y + rng.normal(0, 0.15, y.size), 0, 1),
        "B": np.clip(0.4 + 0.1 * y + rng.normal(0, 0.2, y.size), 0, 1),
    }
    explorer = widgets.roc_explorer(y, scores, threshold=0.5, model="A")
    state, (model_id,) = saved_state(explorer)
    drawn = site.static_widget_html(model_id, state["state"])
    assert site.WIDGET_NOTES["tchexnet-roc-explorer"] in drawn
    assert "tchexnet-roc-explorer" in drawn and "tchexnet-roc-metrics" in drawn
    png = drawn.split('src="data:image/png;base64,')[1].split('"')[0]
    assert Image.open(io.BytesIO(base64.b64decode(png))).size[0] > 100  # the figure
    assert "sensitivity" in drawn and "TP" in drawn.upper()  # the threshold table
    assert "model <b>A</b>" in drawn  # the picker's choice, as text


# --------------------------------------------------------------------------- pages


def executed_notebook(
    name: str,
    widget: ipywidgets.Widget | None = None,
    references: tuple[str, ...] = (),
    exercise: bool = False,
) -> nbformat.NotebookNode:
    """A small executed copy of ``name``: title, parameters, outputs, a link, references; with
    ``exercise``, a question with its folded answer and an exercise, solved and checked."""
    number = name[:2]
    root = config.project_root()
    cells = [
        nbformat.v4.new_markdown_cell(
            f"# {number} · Lesson {number}\n\nIt teaches {number}. "
            "More.\n\nSee [the next](04_transfer_training.ipynb#top) "
            "and [the weights](../weights/README.md)."
        ),
        nbformat.v4.new_code_cell("LIMIT = None  # rows", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            f'# Parameters\nWEIGHTS = "{root}/weights/demo/w.h5"\nLIMIT = 40\n',
            metadata={"tags": ["injected-parameters"]},
        ),
        nbformat.v4.new_code_cell(
            "figure",
            outputs=[
                nbformat.v4.new_output(
                    "display_data",
                    data={
                        "image/png": base64.b64encode(png_bytes()).decode(),
                        "text/plain": "<Figure>",
                    },
                )
            ],
        ),
        nbformat.v4.new_code_cell(
            "print(path)",
            outputs=[
                nbformat.v4.new_output(
                    "stream",
                    name="stdout",
                    text=f"saved: {config.output_dir()}/notebooks/demo/x.csv\n",
                )
            ],
        ),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    if widget is not None:
        state, (model_id,) = saved_state(widget)
        cells.append(
            nbformat.v4.new_code_cell(
                "explorer",
                outputs=[
                    nbformat.v4.new_output(
                        "execute_result",
                        execution_count=1,
                        data={
                            "application/vnd.jupyter.widget-view+json": {
                                "model_id": model_id,
                                "version_major": 2,
                                "version_minor": 0,
                            },
                            "text/plain": "VBox(children=...)",
                        },
                    )
                ],
            )
        )
        notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    if exercise:
        cells += [
            nbformat.v4.new_markdown_cell(
                "## Exercises\n\n1. Why sorted?\n\n<details><summary>Solution</summary>\n\n"
                "Because the labeller wrote them by patient.\n\n</details>"
            ),
            nbformat.v4.new_markdown_cell("### Exercise 1.1: count\n\nCount the leaks."),
            nbformat.v4.new_code_cell(
                "# Count the leaks.\nanswer_01_1 = 4 + 37", metadata={"tags": ["solution"]}
            ),
            nbformat.v4.new_code_cell(
                "check.exercise_01_1(answer_01_1)",
                metadata={"tags": ["exercise-check"]},
                outputs=[
                    nbformat.v4.new_output(
                        "stream", name="stdout", text="✓ Exercise 1.1: right — 41 cut positions\n"
                    )
                ],
            ),
        ]
    if references:
        cells.append(
            nbformat.v4.new_markdown_cell(
                "## References\n\n"
                + "\n".join(f"- {entry}" for entry in references)
                + "\n\n## Next\n\n- not a reference"
            )
        )
    return notebook


def test_a_page_has_static_widgets_relative_paths_and_the_run_yourself_box():
    explorer = widgets.roc_explorer(
        np.r_[np.ones(5), np.zeros(15)].astype(int), {"A": np.linspace(0, 1, 20)}
    )
    executed = executed_notebook("05_roc_comparison", explorer)
    executed.metadata["papermill"] = {"input_path": "/elsewhere/tchexnet/notebooks/05.ipynb"}
    executed.cells[4].outputs[0]["text"] += "read: /elsewhere/tchexnet/outputs/demo/p.csv\n"
    pages = {"04_transfer_training.ipynb": "04_transfer_training.html"}
    page = site.site_notebook(executed, "05_roc_comparison", pages)
    assert "widgets" not in page.metadata and "widgets" in executed.metadata  # a copy
    data = page.cells[-1].outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" not in data
    assert "static twin" in data["text/html"]
    box = page.cells[1].source
    assert "make lab" in box and "notebooks/05_roc_comparison.ipynb" in box
    assert "LIMIT = None  # rows" in box  # the parameters cell
    assert "-p WEIGHTS weights/demo/w.h5 -p LIMIT 40" in box  # how this page ran (shell-quoted)
    text = json.dumps(page)
    assert str(config.project_root()) not in text and str(config.output_dir()) not in text
    assert page.cells[5].outputs[0]["text"] == (
        "saved: outputs/notebooks/demo/x.csv\nread: outputs/demo/p.csv\n"
    )  # executed elsewhere
    title = page.cells[0].source
    assert "[the next](04_transfer_training.html#top)" in title
    assert "the weights (`../weights/README.md` in the repository)" in title
    stale = site.site_notebook(executed, "05_roc_comparison", pages, state="stale")
    assert "Not current" in stale.cells[1].source and "Not current" not in box


def test_references_are_collected_once_with_the_notebooks_citing_them():
    series = {
        "01_data_exploration": executed_notebook(
            "01_data_exploration",
            references=("Irvin J et al. CheXpert. AAAI 2019.", "Rajpurkar P et al. CheXNet. 2017."),
        ),
        "05_roc_comparison": executed_notebook(
            "05_roc_comparison",
            references=("DeLong ER et al. Biometrics 1988.", "Irvin J et al. CheXpert. AAAI 2019."),
        ),
    }
    found = site.collect_references(series)
    assert found == [
        ("Irvin J et al. CheXpert. AAAI 2019.", ["01_data_exploration", "05_roc_comparison"]),
        ("Rajpurkar P et al. CheXNet. 2017.", ["01_data_exploration"]),
        ("DeLong ER et al. Biometrics 1988.", ["05_roc_comparison"]),
    ]
    titles = {name: site.notebook_title(nb) for name, nb in series.items()}
    page = site.references_page(found, titles)
    assert page.count("\n1. ") == 3 and "[01](01_data_exploration.ipynb), [05]" in page
    assert "No notebook" in site.references_page([], titles)


def test_the_landing_page_has_the_commands_the_series_and_the_demo_results():
    titles = {"01_data_exploration": "01 · Data", "02_chexnet_inference": "02 · Inference"}
    overviews = {"01_data_exploration": "It teaches 01.", "02_chexnet_inference": "a | b."}
    page = site.landing_page(
        titles, overviews, SUMMARY, "figures/contact_sheet.png", {"References": "references.md"}
    )
    assert "make demo" in page and "make lab" in page and "For whom" in page
    assert "| [01 · Data](01_data_exploration.ipynb) | It teaches 01. |" in page
    # StudyResult.text; a summary without "a", "b" was written as CheXNet − tCheXNet
    assert "paired DeLong: z = (AUC CheXNet − AUC tCheXNet)/SE = -2.10, p = 0.036" in page
    assert "](figures/contact_sheet.png)" in page and "[References](references.md)" in page
    assert "has not been run" in site.landing_page(titles, overviews, None, None, {})
    assert "hand out the student edition instead" in page and "Student edition" not in page
    handed_out = site.landing_page(titles, overviews, None, None, {}, student_edition=True)
    assert "**Student edition**" in handed_out and "every solution" not in handed_out


def test_the_project_pages_are_staged_with_links_for_where_they_land(tmp_path):
    project, staged = tmp_path / "checkout", tmp_path / "staged"
    (project / "docs").mkdir(parents=True)
    staged.mkdir()
    (project / "README.md").write_text(
        "# p\n\n![sheet](docs/s.jpg) [01](notebooks/01_a.ipynb) [guide](notebooks/README.md)"
        "\n\n| [b](docs/b.md) | [a](docs/a.md#x) |\n"
    )
    (project / "docs" / "a.md").write_text(
        "# Page `a`\n\n[back](../README.md#p) [b](b.md) ![s](s.jpg) [01](../notebooks/01_a.ipynb)"
        " [the lock](../requirements.lock) [`tests/x.txt`](../tests/x.txt)\n"
    )
    (project / "docs" / "b.md").write_text("no heading\n")
    (project / "docs" / "s.jpg").write_bytes(b"jpeg")
    series = {"notebooks/01_a.ipynb": "01_a.ipynb"}  # the student edition: no instructor page
    nav = site._stage_project(staged, project, series)
    assert nav == [{"About": "about.md"}, {"Docs": [{"b": "docs/b.md"}, {"Page a": "docs/a.md"}]}]
    assert (staged / "about.md").read_text() == (
        "# p\n\n![sheet](docs/s.jpg) [01](01_a.ipynb) guide (`notebooks/README.md` in the "
        "repository)\n\n| [b](docs/b.md) | [a](docs/a.md#x) |\n"
    )
    assert (staged / "docs" / "a.md").read_text() == (
        "# Page `a`\n\n[back](../about.md#p) [b](b.md) ![s](s.jpg) [01](../01_a.ipynb)"
        " the lock (`requirements.lock` in the repository) `tests/x.txt`\n"
    )
    assert (staged / "docs" / "s.jpg").read_bytes() == b"jpeg"
    assert site._stage_project(tmp_path / "empty", tmp_path / "bare", series) == []


# --------------------------------------------------------------------------- the build


def stamp(path, key: str | None) -> None:
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["tchexnet"] = {"run_key": key}
    nbformat.write(notebook, path)


@pytest.fixture
def series(tmp_path, monkeypatch):
    """Executed copies of the six notebooks (stamped current), a demo summary and contact sheet."""
    monkeypatch.setenv("TCHEXNET_OUTPUT_DIR", str(tmp_path / "outputs"))
    folder = config.output_dir("notebooks")
    explorer = widgets.roc_explorer(
        np.r_[np.ones(5), np.zeros(15)].astype(int), {"A": np.linspace(0, 1, 20)}
    )
    expected = site.expected_keys(PARAMETERS, INPUTS)
    for name in notebooks.SERIES:
        widget = explorer if name == "05_roc_comparison" else None
        nbformat.write(
            executed_notebook(
                name,
                widget,
                references=("DeLong ER 1988.",),
                exercise=name == "01_data_exploration",
            ),
            folder / f"{name}.ipynb",
        )
        stamp(folder / f"{name}.ipynb", expected[name])
    results = config.output_dir("demo")
    (results / "summary.json").write_text(json.dumps(SUMMARY))
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(results / "contact_sheet.png")
    instructor = tmp_path / "README.md"
    instructor.write_text(
        "# For instructors\n\nStart with [01](01_data_exploration.ipynb); "
        "the [Makefile](../Makefile).\n\n![The demo](../docs/sheet.jpg)\n"
    )
    return {"folder": folder, "expected": expected, "instructor": instructor}


@pytest.mark.slow
def test_the_site_builds_offline_from_current_copies(series):
    result = site.build_site(
        expected=series["expected"], sources=site.SiteSources(instructor=series["instructor"])
    )
    assert result.folder == config.output_dir("site") and result.index.is_file()
    assert set(result.states.values()) == {"current"}
    names = {page.relative_to(result.folder).as_posix() for page in result.pages}
    assert names == {
        "index.html",
        "instructor.html",
        "references.html",
        *(f"{n}.html" for n in notebooks.SERIES),
        *PROJECT_PAGES,
    }
    assert site.site_problems(result.folder) == []
    landing = result.index.read_text()
    assert "paired DeLong" in landing and "figures/contact_sheet.png" in landing
    assert 'href="05_roc_comparison.html"' in landing and 'href="instructor.html"' in landing
    page = (result.folder / "05_roc_comparison.html").read_text()
    assert "static twin" in page and "widget-state+json" not in page and "Run it yourself" in page
    assert "https://" not in "".join(line for line in page.splitlines() if "<script" in line)
    assert 'href="04_transfer_training.html#top"' in page
    assert "DeLong ER 1988." in (result.folder / "references.html").read_text()
    instructor = (result.folder / "instructor.html").read_text()
    assert 'href="01_data_exploration.html"' in instructor
    assert "The demo (<code>../docs/sheet.jpg</code> in the repository)" in instructor
    shown = page_text(result.folder / "01_data_exploration.html")  # every answer, as executed
    assert "answer_01_1 = 4 + 37" in shown and "right — 41 cut positions" in shown
    assert "Because the labeller wrote them by patient." in shown
    assert "hand out the student edition instead" in page_text(result.index)


def page_text(path) -> str:
    """A page's text as a reader sees it: tags (syntax highlighting's spans) removed."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


@pytest.mark.slow
def test_the_student_site_has_no_answer_and_no_instructor_page(series):
    result = site.build_site(
        expected=series["expected"],
        sources=site.SiteSources(instructor=series["instructor"]),
        student_edition=True,
    )
    assert result.folder == config.output_dir("site-student")
    assert {page.relative_to(result.folder).as_posix() for page in result.pages} == {
        "index.html",
        "references.html",
        *(f"{n}.html" for n in notebooks.SERIES),
        *PROJECT_PAGES,
    }
    assert site.site_problems(result.folder) == []
    shown = page_text(result.folder / "01_data_exploration.html")
    assert "answer_01_1 = ...  # your answer here" in shown and "4 + 37" not in shown
    assert "right — 41" not in shown and "Because the labeller" not in shown
    assert student.ANSWER_NOTE.strip("*") in shown and "Count the leaks." in shown
    assert "saved: outputs/notebooks/demo/x.csv" in shown  # the other outputs stay
    assert "Student edition" in page_text(result.index)
    assert not (config.output_dir("site") / "index.html").exists()  # the full site untouched


@pytest.mark.slow
def test_the_site_publishes_the_readme_and_the_docs_pages_with_their_links(series, tmp_path):
    result = site.build_site(
        expected=series["expected"], sources=site.SiteSources(instructor=series["instructor"])
    )
    assert result.docs == result.folder / "docs" and site.site_problems(result.folder) == []
    docs = sorted((ROOT / "docs").glob("*.md"))
    assert len(docs) >= 10 and all((result.docs / f"{p.stem}.html").is_file() for p in docs)
    about = (result.folder / "about.html").read_text()
    assert 'href="docs/results.html"' in about and 'href="01_data_exploration.html"' in about
    assert 'src="docs/demo_contact_sheet.jpg"' in about and 'href="instructor.html"' in about
    assert 'href="about.html"' in result.index.read_text()
    results = (result.docs / "results.html").read_text()
    assert (
        'src="demo_contact_sheet.jpg"' in results
        and (result.docs / "demo_contact_sheet.jpg").is_file()
    )
    assert 'href="../instructor.html"' in (result.docs / "notebooks.html").read_text()
    install = (result.docs / "install.html").read_text()
    assert 'href="../about.html#in-colab-kaggle-or-binder"' in install
    assert "Benchmarks" in page_text(result.docs / "benchmarks.html")
    hosted = page_text(result.docs / "hosted.html")  # a file the site does not carry: its name
    assert "tests/hosted/colab-2026-08.txt" in hosted and "../tests/hosted" not in hosted

    wheel = tmp_path / "installed"  # like an installed wheel: no README.md, no docs/
    wheel.mkdir()
    bare = site.build_site(
        expected=series["expected"],
        out_dir=tmp_path / "bare",
        sources=site.SiteSources(project=wheel),
    )
    assert bare.docs is None and not (bare.folder / "about.html").exists()
    assert site.site_problems(bare.folder) == [] and "about.html" not in bare.index.read_text()


def test_copies_that_are_missing_or_not_current_stop_the_build_unless_accepted(series):
    stamp(series["folder"] / "03_feature_extraction.ipynb", "an older key")
    (series["folder"] / "06_where_the_model_looks.ipynb").unlink()
    state = site.series_state(series["folder"], series["expected"])
    assert state["01_data_exploration"] == "current"
    assert (state["03_feature_extraction"], state["06_where_the_model_looks"]) == (
        "stale",
        "missing",
    )
    with pytest.raises(
        errors.MissingInputError,
        match=r"03_feature_extraction \(stale\), "
        r"06_where_the_model_looks \(missing\); run `make demo`",
    ):
        site.build_site(expected=series["expected"])
    assert not (config.output_dir() / "site" / "index.html").exists()
    assert set(site.series_state(series["folder"], None).values()) == {"stale", "missing"}
    with pytest.raises(errors.MissingInputError, match="executed notebooks not current"):
        site.build_site(notebook_dir=series["folder"].parent / "nothing", require_current=False)


@pytest.mark.slow
def test_the_command_builds_what_it_may_and_says_what_is_stale(series, capsys):
    assert cli.main(["site"]) == cli.EXIT_ERROR  # stamped with other parameters than the demo's
    assert "run `make demo`" in capsys.readouterr().err
    assert cli.main(["site", "--allow-stale", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["notebooks"].values()) == {"stale"} and report["index"].endswith("index.html")
    assert report["docs"] == str(config.output_dir("site") / "docs")  # from this checkout
    page = (config.output_dir("site") / "04_transfer_training.html").read_text()
    assert "Not current" in page


def test_the_demo_inputs_a_current_copy_depends_on(tmp_path, monkeypatch):
    """None until the demo has run; then its predictions' and weights' digests, as `make demo` stamps."""
    monkeypatch.setenv("TCHEXNET_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("TCHEXNET_WEIGHTS_DIR", str(tmp_path / "weights"))
    assert demo.notebook_inputs() is None
    assert site.expected_keys(PARAMETERS, None) is None
    results = config.output_dir("demo")
    files.save_json({"weights_sha256": "abc"}, results / "summary.json")
    (results / "predictions.csv").write_text("Path,CheXNet,tCheXNet\n")
    assert demo.notebook_inputs() is None  # no tCheXNet weights yet
    files.save_bytes(b"weights", config.weights_dir() / models.DEMO_FILES["tchexnet"])
    inputs = demo.notebook_inputs()
    assert inputs["summary_weights"] == "abc"
    assert inputs["predictions"] == files.sha256_file(results / "predictions.csv")
    assert inputs["tchexnet"] == files.sha256_file(
        config.weights_dir() / models.DEMO_FILES["tchexnet"]
    )
    before = site.expected_keys(PARAMETERS, inputs)
    (results / "predictions.csv").write_text("Path,CheXNet,tCheXNet\nx,0.1,0.2\n")
    after = site.expected_keys(PARAMETERS, demo.notebook_inputs())
    assert set(before) == set(notebooks.SERIES) and all(before[n] != after[n] for n in before)


def test_site_problems_names_what_would_break_offline(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes())
    (tmp_path / "index.html").write_text(
        '<link rel="stylesheet" href="https://cdn.example/x.css"><script src="//cdn.example/y.js">'
        '</script><img src="a.png"><img src="missing.png"><a href="https://example.org">ok</a>'
        '<a href="#top">ok</a><a href="/abs.html">x</a><img src="data:image/png;base64,AA==">'
    )
    problems = site.site_problems(tmp_path)
    assert len(problems) == 4, problems
    assert sum("fetches from the network" in p for p in problems) == 2
    assert any("missing.png" in p and "missing file" in p for p in problems)
    assert any("absolute path" in p for p in problems)


def test_the_summary_table_words_the_headline_numbers_once():
    """One DeLong sign (stated), one name per Grad-CAM score, the positives counted beside them;
    a summary written before both groups and the DeLong names existed still reads right."""
    cam = {
        "layer": "relu",
        "map_size": [7, 7],
        "detection_threshold": 0.5,
        "all_positives": {
            "n": 64,
            "pointing_game": 0.9219,
            "peak_inside": 0.1875,
            "median_mass_ratio": 5.6467,
        },
        "detected_positives": {
            "n": 41,
            "pointing_game": 1.0,
            "peak_inside": 0.1463,
            "median_mass_ratio": 5.7507,
        },
    }
    summary = {
        **SUMMARY,
        "delong": {"a": "tCheXNet", "b": "CheXNet", "z": 3.2472, "p": 0.00117},
        "gradcam": cam,
    }
    table = results.StudyResult.from_json(summary).text()
    assert "paired DeLong: z = (AUC tCheXNet − AUC CheXNet)/SE = 3.25, p = 0.0012" in table
    assert (
        "Grad-CAM (relu, 7×7) on all 64 positives: pointing game (peak within 15 px of the "
        "mask) 0.92, peak inside the mask 0.19, median mass ratio 5.6"
    ) in table
    assert "on 41 detected positives: pointing game (peak within 15 px of the mask) 1.00" in table
    old = {
        **SUMMARY,
        "gradcam": {
            "layer": "pool4_relu",
            "map_size": [14, 14],
            "n": 41,
            "pointing_hit_rate": 0.9756,
            "pointing_hit_rate_strict": 0.5366,
            "mass_ratio_median": 6.0,
        },
    }
    assert (
        "Grad-CAM (pool4_relu, 14×14) on 41 detected positives: pointing game (peak within "
        "15 px of the mask) 0.98, peak inside the mask 0.54, median mass ratio 6.0"
    ) in results.StudyResult.from_json(old).text()
