"""The series as a static website (``make site``) and as a student edition (``make student``).

**The website.** :func:`build_site` turns the executed series of ``make demo``
(``outputs/notebooks/``) into static HTML under ``outputs/site/``, ``index.html`` at its root:
a landing page (what the series teaches and for whom, the commands, the demo's results and
its contact sheet), one page per notebook with its figures and outputs, the instructor's page
(``notebooks/README.md``, when present), the references collected from the notebooks'
``## References`` sections, and on every notebook page a "run it yourself" box naming
``make lab`` and the notebook's parameters. From a checkout it also publishes the project's
README (an "About" page) and ``docs/*.md`` (a "Docs" section); an installed wheel has
neither, and its site goes without them. The generator is MkDocs with the Material theme
and mkdocs-jupyter (the ``site`` extra), chosen by measurement (``docs/site-generator.md``):
it builds with no network, in seconds, and its pages load with no console error from
``file://`` as from a server. Nothing is executed: :func:`series_state` compares each
executed copy's stamp with :func:`runner.run_key`, and a copy that is missing or not
current stops the build (run ``make demo``, which executes only those) unless the caller
accepts it, in which case its page says so.

A static page has no kernel, so no widget can run there. Each widget output is replaced by
a snapshot drawn from the widget state the executed copy saved (:func:`static_widget_html`):
a finished progress bar, or the ROC explorer's static twin (its figure and threshold table at
the notebook's starting threshold) under a note saying how to run it live. The site fetches
nothing from the network: :func:`site_problems` refuses a script or stylesheet with a URL,
an image or a link to a file the site lacks.

The pages show every solution and worked answer, as the notebooks have them: the edition for
learners on their own and for instructors. ``build_site(student_edition=True)`` (``tchexnet site
--student``, ``outputs/site-student/``) builds the pages a workshop may hand out instead:
each executed notebook without its answers (:func:`student.remove_answers`: solutions and
their checks' outputs removed, folded answers replaced by a note, every other output kept),
and no instructor's page. The student edition of the notebooks themselves, and the
instructor edition, are :mod:`tchexnet_lib.tools.student`.
"""

from __future__ import annotations

import ast
import base64
import copy
import html
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tchexnet_lib import config, errors, files, notebooks, results
from tchexnet_lib.tools import runner, student
from tchexnet_lib.tools.student import notebook_title

__all__ = [
    "SiteResult",
    "SiteSources",
    "WIDGET_NOTES",
    "build_site",
    "collect_references",
    "expected_keys",
    "landing_page",
    "mkdocs_config",
    "notebook_title",
    "references_page",
    "run_yourself_box",
    "series_state",
    "site_notebook",
    "site_problems",
    "static_widget_html",
]

#: The note above a widget's snapshot, by the widget's CSS class (any other widget with
#: controls gets :data:`_LIVE_NOTE`).
WIDGET_NOTES: dict[str, str] = {
    "tchexnet-roc-explorer": (
        "The live ROC explorer needs a running kernel, which a static page does not have. "
        "What stands here is its static twin: the figure and the threshold table at the "
        "threshold the notebook starts it at. To move the threshold, run the notebook "
        "yourself (<code>make lab</code>)."
    )
}
_LIVE_NOTE = (
    "A snapshot of an interactive widget: it runs live when you run the notebook "
    "yourself (<code>make lab</code>)."
)
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_INTRO = """\
A JupyterLab tutorial series that reproduces, explains and questions **tCheXNet**
(*Detecting Pneumothorax on Chest X-Ray Images using Deep Transfer Learning*): CheXNet, a
DenseNet-121 trained on ChestX-ray14's 14 findings, transferred to CheXpert by freezing its
base and training a new head for Pneumothorax, then compared with CheXNet by ROC with
intervals and a paired test. Six notebooks, in order: the data and the paper's split,
CheXNet's inference, the feature store, the transfer, the comparison, and where the model
looks (Grad-CAM).

**For whom**: learners working step by step; instructors running a workshop on CPU laptops;
researchers reproducing the paper's numbers on the real CheXpert. The pages below are the
series as `make demo` executed it, offline, on synthetic CheXpert-shaped drawings with demo
weights: the numbers are about drawings, not radiographs. **Not for clinical use.**
"""


# --------------------------------------------------------------------------- current or not


def expected_keys(parameters: Mapping, inputs: Mapping | None) -> dict[str, str] | None:
    """The :func:`runner.run_key` each notebook of the series has when run with these.

    Returns:
        Notebook name -> key, or None when ``inputs`` is None (the results it reads are
        missing, so no executed copy can be current).
    """
    if inputs is None:
        return None
    return {name: runner.run_key(name, parameters, inputs) for name in notebooks.SERIES}


def series_state(
    folder: str | os.PathLike,
    expected: Mapping[str, str] | None,
    names: Iterable[str] = notebooks.SERIES,
) -> dict[str, str]:
    """Whether each executed copy in ``folder`` is ``"current"``, ``"stale"`` or ``"missing"``.

    Args:
        folder: the executed copies (``outputs/notebooks/``).
        expected: :func:`expected_keys`; None: every present copy is ``"stale"``.
        names: the notebooks.
    """
    state = {}
    for name in names:
        path = Path(folder) / f"{name}.ipynb"
        key = runner.executed_key(path) if path.is_file() else None
        current = expected is not None and key is not None and key == expected.get(name)
        state[name] = "current" if current else "stale" if path.is_file() else "missing"
    return state


# --------------------------------------------------------------------------- widgets


def _buffer(model: Mapping, attribute: str) -> bytes | None:
    """A binary attribute (an image's ``value``) from a saved widget model's buffers."""
    for buffer in model.get("buffers", []):
        if buffer.get("path") == [attribute] and buffer.get("encoding") == "base64":
            return base64.b64decode(buffer["data"])
    return None


def _control(state: Mapping, value: str) -> str:
    """A control (slider, picker) as text: its description and, where shown, its value."""
    label = html.escape(str(state.get("description") or ""))
    shown = f" <b>{html.escape(value)}</b>" if value else ""
    return f'<span class="tchexnet-static-control">{label}{shown}</span>'


def _chosen(state: Mapping) -> str:
    """The selected option of a Dropdown, ToggleButtons or RadioButtons model."""
    options, index = state.get("_options_labels") or [], state.get("index")
    return str(options[index]) if isinstance(index, int) and 0 <= index < len(options) else ""


def _render(model_id: str, models: Mapping) -> str:
    """One saved widget model (and its children) as static HTML."""
    model = models.get(model_id.removeprefix("IPY_MODEL_"))
    if model is None:
        return ""
    name, state = model.get("model_name", ""), model.get("state", {})
    classes = " ".join(["tchexnet-static-widget", *state.get("_dom_classes", [])])
    if name in {"HBoxModel", "VBoxModel", "BoxModel", "GridBoxModel"}:
        direction = "column" if name == "VBoxModel" else "row"
        inner = "".join(_render(child, models) for child in state.get("children", []))
        return (
            f'<div class="{html.escape(classes)}" style="display:flex;flex-direction:'
            f'{direction};flex-wrap:wrap;gap:0.5em;align-items:flex-start">{inner}</div>'
        )
    if name in {"HTMLModel", "HTMLMathModel"}:
        return f'<div class="{html.escape(classes)}">{state.get("value", "")}</div>'
    if name == "LabelModel":
        text = html.escape(str(state.get("value", "")))
        return f'<span class="{html.escape(classes)}">{text}</span>'
    if name == "ImageModel":
        data = _buffer(model, "value")
        if not data:
            return ""
        width = f' width="{html.escape(str(state["width"]))}"' if state.get("width") else ""
        source = f"data:image/{state.get('format', 'png')};base64,{base64.b64encode(data).decode()}"
        return f'<img class="{html.escape(classes)}" src="{source}" alt="widget image"{width}>'
    if name in {"FloatProgressModel", "IntProgressModel"}:
        return (
            f'<progress class="{html.escape(classes)}" value="{state.get("value", 0)}" '
            f'max="{state.get("max", 100)}"></progress>'
        )
    if name in {"DropdownModel", "ToggleButtonsModel", "RadioButtonsModel", "SelectModel"}:
        return _control(state, _chosen(state))
    if name.endswith("SliderModel"):
        value = state.get("value")
        readout = state.get("readout", True) and isinstance(value, (int, float))
        return _control(state, f"{value:.{_digits(state)}f}" if readout else "")
    return ""


def _digits(state: Mapping) -> int:
    """Decimals of a slider's readout format (``".2f"`` -> 2)."""
    found = re.search(r"\.(\d+)f", str(state.get("readout_format", "")))
    return int(found.group(1)) if found else 2


def static_widget_html(model_id: str, widget_state: Mapping) -> str | None:
    """A displayed widget drawn from the state an executed notebook saved, as static HTML.

    Boxes, HTML, labels, images and progress bars are drawn as they were when the notebook
    finished (a tqdm bar at 100%); a control (slider, picker) becomes its label and value.
    A widget with controls gets a note above it: :data:`WIDGET_NOTES` by its CSS class
    (the ROC explorer's static twin), else a general one.

    Args:
        model_id: the displayed model (a ``widget-view+json`` output's ``model_id``).
        widget_state: the notebook's ``metadata.widgets[...widget-state+json]["state"]``.

    Returns:
        The HTML, or None when the state does not hold that model.
    """
    model = widget_state.get(model_id)
    if model is None:
        return None
    body = _render(model_id, widget_state)
    controls = [
        m
        for m in _descendants(model_id, widget_state)
        if m.get("model_name", "").endswith(
            ("SliderModel", "DropdownModel", "ToggleButtonsModel", "RadioButtonsModel")
        )
    ]
    if not controls:
        return body
    classes = model.get("state", {}).get("_dom_classes", [])
    note = next((WIDGET_NOTES[c] for c in classes if c in WIDGET_NOTES), _LIVE_NOTE)
    return (
        f'<div class="admonition note tchexnet-static-twin"><p class="admonition-title">'
        f"Static page</p><p>{note}</p></div>{body}"
    )


def _descendants(model_id: str, models: Mapping) -> list[Mapping]:
    """A model and every model below it (children of boxes)."""
    model = models.get(model_id.removeprefix("IPY_MODEL_"))
    if model is None:
        return []
    below = [
        m
        for child in model.get("state", {}).get("children", []) or []
        for m in _descendants(child, models)
    ]
    return [model, *below]


# --------------------------------------------------------------------------- notebook pages


def _folders(executed=None) -> list[tuple[str, str]]:
    """(absolute folder, what a reader should see instead), longest first.

    The project's folders as configured here, and the root the notebook was executed in
    (papermill records the notebook's path), when that was another checkout.
    """
    root = str(config.project_root())
    pairs = {
        f"{config.output_dir()}": "outputs",
        f"{config.data_dir()}": "chexpert",
        f"{config.weights_dir()}": "weights",
        root: ".",
    }
    source = executed.metadata.get("papermill", {}).get("input_path") if executed else None
    if source and Path(source).is_absolute():
        pairs.setdefault(str(Path(source).parent.parent), ".")
    named = [(f"{folder}/", f"{name}/") for folder, name in pairs.items()]
    return sorted(named, key=lambda pair: -len(pair[0]))


def _relative(text: str, folders: list[tuple[str, str]]) -> str:
    """``text`` with the project's absolute folders written relative (``outputs/...``)."""
    for folder, name in folders:
        text = text.replace(folder, "" if name == "./" else name)
    return text


def _relative_outputs(cell, folders: list[tuple[str, str]]) -> None:
    """Rewrite absolute folders in a code cell's source and text outputs, in place."""
    cell.source = _relative(cell.source, folders)
    for output in cell.get("outputs", []):
        if isinstance(output.get("text"), str):
            output["text"] = _relative(output["text"], folders)
        for mime in ("text/plain", "text/html", "text/markdown"):
            if isinstance(output.get("data", {}).get(mime), str):
                output["data"][mime] = _relative(output["data"][mime], folders)


_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def _rewrite_links(markdown: str, pages: Mapping[str, str], base: str | None = None) -> str:
    """Links to the series' files pointed at their pages; other relative links made plain text.

    ``pages`` maps a file name (``04_transfer_training.ipynb``, ``README.md``) to its page.
    With ``base``, the markdown's folder in the repository (``docs``, ``.``), it maps a
    repository path (``notebooks/04_transfer_training.ipynb``, ``docs/demo_contact_sheet.jpg``)
    to the page or file as linked from the page being written, images included.
    A link with a scheme or to an anchor is kept; a relative link or image to a repository
    file the site does not carry becomes its text, naming the file.
    """

    def replace(match: re.Match) -> str:
        image, text, target = match.groups()
        if urlsplit(target).scheme or target.startswith("#"):
            return match.group(0)
        path, _, anchor = target.partition("#")
        if base is None:
            page = None if image else pages.get(Path(path).name)
        else:
            path = posixpath.normpath(posixpath.join(base, unquote(path)))
            page = pages.get(path)
        if page is None:
            named = "" if path in text else f" (`{path}` in the repository)"
            return f"{text or 'a figure'}{named}"
        return f"{image}[{text}]({page}{'#' + anchor if anchor else ''})"

    return _LINK.sub(replace, markdown)


def _papermill_flag(name: str, value: str) -> str:
    """``-p NAME VALUE`` (``-y`` for a value papermill cannot take as text), shell-quoted."""
    name = name.strip()
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        parsed = value.strip()
    if isinstance(parsed, (str, int, float, bool)):
        return f"-p {shlex.quote(name)} {shlex.quote(str(parsed))}"
    return f"-y {shlex.quote(f'{name}: {json.dumps(parsed)}')}"


def run_yourself_box(name: str, executed, state: str = "current") -> str:
    """The "run it yourself" box of a notebook's page (HTML): ``make lab``, its parameters.

    Args:
        name: the notebook (``05_roc_comparison``).
        executed: its executed copy (the cell tagged ``parameters`` and papermill's
            ``injected-parameters``).
        state: from :func:`series_state`; anything but ``"current"`` adds a warning.
    """

    def tagged(tag: str) -> str:
        return next((c.source for c in executed.cells if tag in c.metadata.get("tags", [])), "")

    injected = [
        line
        for line in tagged("injected-parameters").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    ran = " · ".join(f"<code>{html.escape(line.strip())}</code>" for line in injected)
    flags = " ".join(_papermill_flag(*line.split("=", 1)) for line in injected if "=" in line)
    warning = (
        ""
        if state == "current"
        else (
            f"<p><b>Not current</b> ({state}): the notebook, the library or the demo's results "
            f"changed since this copy was executed; <code>make demo</code> executes it again.</p>"
        )
    )
    return "\n".join(
        [
            '<div class="admonition tip tchexnet-run-yourself">',
            '<p class="admonition-title">Run it yourself</p>',
            f"<p><code>make lab</code> opens JupyterLab in the project's environment; open "
            f"<code>notebooks/{name}.ipynb</code> and run all cells (<code>make demo</code> first "
            "computes what it reads). Its knobs are the cell tagged <code>parameters</code>: "
            "edit them there, or inject them headless with papermill.</p>",
            f"<pre><code>{html.escape(tagged('parameters'))}</code></pre>",
            f"<p>This page was executed headless by <code>make demo</code> with {ran or 'the defaults'}"
            f":</p><pre><code>papermill notebooks/{name}.ipynb outputs/notebooks/{name}.ipynb "
            f"{html.escape(flags)}</code></pre>",
            warning,
            "</div>",
        ]
    )


def site_notebook(executed, name: str, pages: Mapping[str, str], state: str = "current"):
    """The page version of an executed notebook (a copy; ``executed`` is left as it is).

    Widget outputs become their static snapshots (:func:`static_widget_html`) and the saved
    widget state is dropped (a page would otherwise load a widget manager from the
    network); absolute project folders are written relative; links to the series' files
    point at their pages (``pages``, see :func:`_rewrite_links`); the "run it yourself"
    box follows the title.
    """
    import nbformat  # the notebook format: only for the site and the student edition

    page = copy.deepcopy(executed)
    saved = page.metadata.pop("widgets", {}).get(_WIDGET_STATE, {}).get("state", {})
    folders = _folders(executed)
    for cell in page.cells:
        if cell.cell_type == "markdown":
            cell.source = _rewrite_links(cell.source, pages)
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            view = output.get("data", {}).pop(_WIDGET_VIEW, None)
            drawn = static_widget_html(view.get("model_id", ""), saved) if view else None
            if drawn:
                output["data"]["text/html"] = drawn
        _relative_outputs(cell, folders)
    box = nbformat.v4.new_markdown_cell(run_yourself_box(name, page, state))
    page.cells.insert(1 if page.cells else 0, box)
    return page


# --------------------------------------------------------------------------- other pages


def collect_references(series: Mapping[str, object]) -> list[tuple[str, list[str]]]:
    """The entries of every notebook's ``## References`` section, each once, in first-seen order.

    Args:
        series: notebook name -> notebook.

    Returns:
        ``[(entry, [names of the notebooks citing it]), ...]``: an entry is a list item
        (``- ...`` or ``1. ...``, continuation lines joined) of the markdown under a
        ``## References`` heading, up to the next ``## `` heading.
    """
    found: dict[str, list[str]] = {}
    for name, notebook in series.items():
        inside = False
        for cell in notebook.cells:
            if cell.cell_type != "markdown":
                continue
            for entry, heading in _reference_items(cell.source):
                if heading is not None:
                    inside = heading
                elif inside and name not in found.setdefault(entry, []):
                    found[entry].append(name)
    return list(found.items())


def _reference_items(markdown: str) -> list[tuple[str, bool | None]]:
    """``(entry, None)`` per list item and ``("", inside_references)`` per ``##`` heading."""
    items: list[tuple[str, bool | None]] = []
    current: list[str] = []

    def close() -> None:
        if current:
            items.append((" ".join(current), None))
            current.clear()

    for line in markdown.splitlines():
        heading = re.match(r"^##\s+(.*)$", line)
        item = re.match(r"^\s*(?:[-*]|\d+\.)\s+(.*)$", line)
        if heading:
            close()
            items.append(("", heading.group(1).strip().lower() == "references"))
        elif item:
            close()
            current.append(item.group(1).strip())
        elif line.strip() and current:
            current.append(line.strip())
        else:
            close()
    close()
    return items


def references_page(references: list[tuple[str, list[str]]], titles: Mapping[str, str]) -> str:
    """The references page (markdown): each entry once, with the notebooks that cite it."""
    lines = ["# References", ""]
    if not references:
        return "\n".join(lines + ["No notebook of the series has a `## References` section yet."])
    lines.append("Collected from the `## References` section of each notebook.")
    lines.append("")
    for entry, names in references:
        cited = ", ".join(f"[{titles[n].split(' ·')[0]}]({n}.ipynb)" for n in names)
        lines.append(f"1. {entry} <small>(cited in {cited})</small>")
    return "\n".join(lines) + "\n"


def landing_page(
    titles: Mapping[str, str],
    overviews: Mapping[str, str],
    summary: dict | None,
    contact_sheet: str | None,
    extra_pages: Mapping[str, str],
    student_edition: bool = False,
) -> str:
    """The landing page (markdown): what the series teaches, for whom, the commands, results.

    Args:
        titles, overviews: per notebook, its title and the first sentence of its overview.
        summary: the demo's ``summary.json`` (None: not run yet).
        contact_sheet: the contact sheet's path within the site, if copied there.
        extra_pages: page title -> file (the instructor's page, the references, the About
            page).
        student_edition: the pages are the student edition (no answer): said at the top.
    """
    rows = [f"| [{titles[n]}]({n}.ipynb) | {overviews[n]} |" for n in titles]
    edition = (
        "**Student edition**: the exercises' solutions and the questions' worked answers are "
        "left out (your instructor has them); every other output is as `make demo` "
        "executed it."
        if student_edition
        else "These pages show every solution and worked answer (folded under the questions). "
        "For a workshop, hand out the student edition instead: `make student` (the "
        "notebooks, `outputs/student/`) or `tchexnet site --student` (these pages without "
        "answers, `outputs/site-student/`); `make instructor` writes the answers, one page "
        "per notebook, to `outputs/instructor/`."
    )
    parts = [
        "# tchexnet: CheXNet → tCheXNet, a tutorial series",
        "",
        _INTRO,
        edition,
        "",
        "## Two commands",
        "",
        "```bash\nmake demo   # the whole study offline on synthetic data; executes the notebooks\n"
        "make lab    # JupyterLab: run and change the notebooks yourself\n```",
        "",
        "`make site` rebuilds these pages from what `make demo` executed; `make student` "
        "writes the student edition (exercise solutions and worked answers removed, checks "
        "kept) to `outputs/student/`.",
        "",
        "## The series",
        "",
        "| notebook | what it teaches |",
        "|---|---|",
        *rows,
        "",
        *[f"- [{title}]({page})" for title, page in extra_pages.items()],
        "",
        "## The demo's results",
        "",
    ]
    if summary is None:
        parts.append("The demo has not been run: `make demo` writes `outputs/demo/summary.json`.")
    else:
        parts.append(f"```text\n{results.StudyResult.from_json(summary).text()}\n```")
    if contact_sheet:
        parts += [
            "",
            f"![Synthetic demo images, pneumothorax masks in red]({contact_sheet})",
            "",
            "*Synthetic demo images (drawings, not radiographs), pneumothorax masks in red.*",
        ]
    return "\n".join(parts) + "\n"


def _overview(notebook) -> str:
    """The first sentence of the paragraph after a notebook's title."""
    text = notebook.cells[0].source if notebook.cells else ""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip() and not p.startswith("#")]
    first = " ".join(paragraphs[0].split()) if paragraphs else ""
    return re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0].replace("|", "\\|")


def mkdocs_config(nav: list, docs_dir: str) -> dict:
    """The MkDocs configuration: Material without web fonts or search, notebooks not executed.

    No web font (Material fetches Google's otherwise), no search (its worker cannot start
    from ``file://``), no require.js; ``use_directory_urls: false`` so pages are
    ``name.html`` files that open from disk; strict link validation.
    """
    return {
        "site_name": "tchexnet: the tutorial series",
        "docs_dir": docs_dir,
        "use_directory_urls": False,
        "theme": {"name": "material", "font": False, "features": ["navigation.footer"]},
        "plugins": [
            {
                "mkdocs-jupyter": {
                    "execute": False,
                    "include_requirejs": False,
                    "include_source": False,
                    "cache": False,
                    "ignore_h1_titles": True,
                }
            }
        ],
        "markdown_extensions": ["tables", "admonition", "toc"],
        "extra": {"generator": False},
        "validation": {
            "links": {"not_found": "warn", "absolute_links": "warn", "unrecognized_links": "warn"}
        },
        "nav": nav,
    }


# --------------------------------------------------------------------------- the build


@dataclass
class SiteResult:
    """What :func:`build_site` made: the site's folder, its pages, each notebook's state, and
    the site's folder of the project's ``docs/`` pages (None: no ``docs/`` was found, as
    from an installed wheel)."""

    folder: Path
    pages: list[Path] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)
    docs: Path | None = None

    @property
    def index(self) -> Path:
        """The landing page."""
        return self.folder / "index.html"


#: The images a page of ``docs/`` may show, copied into the site beside it.
_IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".svg")


def _first_heading(markdown: str, default: str) -> str:
    """A markdown page's title: its first ``# `` heading, else ``default``."""
    found = re.search(r"^# (.+)$", markdown, re.MULTILINE)
    return found.group(1).strip().replace("`", "") if found else default


def _reading_order(folder: Path, readme: str) -> list[Path]:
    """The pages of ``folder`` (``docs/*.md``) in the order of the README's last link to each
    (its table of the documentation), those it does not link after them by name."""
    found = sorted(folder.glob("*.md")) if folder.is_dir() else []
    linked = {p: readme.rfind(f"](docs/{p.name}") for p in found}
    return sorted(found, key=lambda p: (linked[p] < 0, linked[p], p.name))


def _stage_project(docs: Path, project: Path, series: Mapping[str, str]) -> list:
    """The project's README (as ``about.md``) and ``docs/*.md`` (under ``docs/``) as pages.

    Their links to each other, to their images and to the series (``series``: repository
    path -> page source, ``notebooks/01_data_exploration.ipynb`` -> ``01_...ipynb``) are
    rewritten for where each page lands; a link to any other file becomes its name.

    Returns:
        The nav entries: ``{"About": "about.md"}`` and ``{"Docs": [...]}``, each only when
        its source exists.
    """
    folder = project / "docs"
    readme = (project / "README.md").read_text() if (project / "README.md").is_file() else ""
    sources = _reading_order(folder, readme)
    images = [p for p in sorted(folder.glob("*")) if p.suffix.lower() in _IMAGES] if sources else []
    placed = {f"docs/{p.name}": f"docs/{p.name}" for p in [*sources, *images]}
    if readme:
        placed["README.md"] = "about.md"
    targets = {**series, **placed}
    if sources:
        (docs / "docs").mkdir()
    for image in images:
        shutil.copyfile(image, docs / "docs" / image.name)
    titles = {}
    for repo_path, page in placed.items():
        if not page.endswith(".md"):
            continue
        here = posixpath.dirname(page) or "."
        relative = {k: posixpath.relpath(v, here) for k, v in targets.items()}
        text = (project / repo_path).read_text()
        base = posixpath.dirname(repo_path) or "."
        (docs / page).write_text(_rewrite_links(text, relative, base))
        titles[page] = _first_heading(text, Path(page).stem)
    nav = [{"About": "about.md"}] if "README.md" in placed else []
    listed = [{titles[page]: page} for page in titles if page.startswith("docs/")]
    return nav + ([{"Docs": listed}] if listed else [])


def _stage(
    source: Path,
    docs: Path,
    states: Mapping[str, str],
    demo_dir: Path,
    instructor: Path | None,
    project: Path | None = None,
) -> list:
    """Write the MkDocs sources (pages, notebooks, figures) under ``docs``; return the nav.

    ``instructor`` None: the student edition (no instructor's page, no answer on any page).
    ``project``: the checkout whose README and ``docs/`` become pages (:func:`_stage_project`).
    """
    import nbformat  # the notebook format: only for the site and the student edition

    executed = {
        n: nbformat.read(source / f"{n}.ipynb", as_version=4)
        for n in notebooks.SERIES
        if states[n] != "missing"
    }
    titles = {n: notebook_title(nb) for n, nb in executed.items()}
    pages = {f"{n}.ipynb": f"{n}.html" for n in executed}
    extra = {}
    if instructor is not None and instructor.is_file():
        pages["README.md"] = "instructor.html"
        own = {f"{n}.ipynb": f"{n}.ipynb" for n in executed}
        (docs / "instructor.md").write_text(_rewrite_links(instructor.read_text(), own))
        extra["Instructor's guide"] = "instructor.md"
    for name, notebook in executed.items():
        if instructor is None:
            notebook = student.remove_answers(notebook, name)
        nbformat.write(site_notebook(notebook, name, pages, states[name]), docs / f"{name}.ipynb")
    references = collect_references(executed)
    (docs / "references.md").write_text(references_page(references, titles))
    extra["References"] = "references.md"
    series = {f"notebooks/{n}.ipynb": f"{n}.ipynb" for n in executed}
    if "README.md" in pages:
        series["notebooks/README.md"] = "instructor.md"
    project_nav = _stage_project(docs, project, series) if project else []
    about = {"About the project": "about.md"} if (docs / "about.md").is_file() else {}
    sheet = demo_dir / "contact_sheet.png"
    if sheet.is_file():
        (docs / "figures").mkdir(exist_ok=True)
        shutil.copyfile(sheet, docs / "figures" / "contact_sheet.png")
    summary = files.read_json(demo_dir / "summary.json")
    overviews = {n: _overview(nb) for n, nb in executed.items()}
    (docs / "index.md").write_text(
        landing_page(
            titles,
            overviews,
            summary if summary and "models" in summary else None,
            "figures/contact_sheet.png" if sheet.is_file() else None,
            {**extra, **about},
            student_edition=instructor is None,
        )
    )
    return [
        {"Home": "index.md"},
        *({titles[n]: f"{n}.ipynb"} for n in executed),
        *({title: page} for title, page in extra.items()),
        *project_nav,
    ]


@dataclass(frozen=True)
class SiteSources:
    """What a site publishes beside the executed notebooks (each None: its default).

    Attributes:
        demo_dir: the demo's results (``summary.json``, ``contact_sheet.png``; default
            ``outputs/demo/``).
        instructor: the instructor's page (default ``notebooks/README.md``; used if present).
        project: the checkout whose ``README.md`` (the "About" page) and ``docs/*.md`` (the
            "Docs" section) the site publishes (default: the checkout this library runs
            from). An installed wheel has neither: the site is built without them
            (:attr:`SiteResult.docs` is None).
    """

    demo_dir: str | os.PathLike | None = None
    instructor: str | os.PathLike | None = None
    project: str | os.PathLike | None = None


def build_site(
    notebook_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    expected: Mapping[str, str] | None = None,
    require_current: bool = True,
    student_edition: bool = False,
    sources: SiteSources = SiteSources(),
) -> SiteResult:
    """Build the static site from the executed series; nothing is executed.

    Args:
        notebook_dir: the executed copies (default ``outputs/notebooks/``).
        out_dir: the site (default ``outputs/site/``, ``outputs/site-student/`` for the
            student edition), replaced whole once the new one is built and checked (an old
            site stays until then).
        expected: :func:`expected_keys` of the run that made the copies.
        require_current: refuse copies that are missing or not current; False builds from
            what is there, each such page saying so (a missing copy has no page).
        student_edition: the pages without answers (:func:`student.remove_answers`) and
            without the instructor's page: safe to hand out.
        sources: the demo's results, the instructor's page and the project's pages
            (:class:`SiteSources`).

    Returns:
        A :class:`SiteResult`.

    Raises:
        MissingInputError: a copy missing or not current (``make demo`` makes it), no
            executed copy at all, or the ``site`` extra not installed.
        DataError: the student edition of a notebook off the exercise convention.
    """
    source = Path(notebook_dir) if notebook_dir else config.output_dir("notebooks")
    out = (
        Path(out_dir)
        if out_dir
        else config.output_dir("site-student" if student_edition else "site")
    )
    states = series_state(source, expected)
    behind = {n: s for n, s in states.items() if s != "current"}
    if all(s == "missing" for s in states.values()) or (require_current and behind):
        listed = ", ".join(f"{n} ({s})" for n, s in behind.items())
        raise errors.MissingInputError(
            f"{source}: executed notebooks not current: {listed}; "
            "run `make demo` (it executes only those)"
        )
    _require_generator()
    work = out.parent / f".{out.name}.build"
    shutil.rmtree(work, ignore_errors=True)
    (work / "docs").mkdir(parents=True)
    try:
        nav = _stage(
            source,
            work / "docs",
            states,
            Path(sources.demo_dir) if sources.demo_dir else config.output_dir("demo"),
            None
            if student_edition
            else Path(sources.instructor)
            if sources.instructor
            else runner.notebook_dir() / "README.md",
            Path(sources.project) if sources.project else config.checkout_root(),
        )
        built = _run_mkdocs(work, nav)
        problems = site_problems(built)
        if problems:
            raise RuntimeError(f"the site built in {built} is broken: " + "; ".join(problems[:10]))
        _replace_folder(built, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pages = sorted(out.glob("*.html")) + sorted(out.glob("docs/*.html"))
    published = out / "docs"
    return SiteResult(out, pages, states, published if published.is_dir() else None)


def _require_generator() -> None:
    """Fail with one line when MkDocs and its plugins (the ``site`` extra) are not installed."""
    import importlib.util

    missing = [
        m for m in ("mkdocs", "mkdocs_jupyter", "material") if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise errors.MissingInputError(
            f"the site needs {', '.join(missing)}: run `make setup` "
            "(it installs the `site` extra of pyproject.toml)"
        )


def _run_mkdocs(work: Path, nav: list) -> Path:
    """``mkdocs build --strict`` in ``work``; returns the built folder."""
    import yaml  # PyYAML comes with MkDocs: only for the site

    (work / "mkdocs.yml").write_text(
        yaml.safe_dump(mkdocs_config(nav, "docs"), sort_keys=False, allow_unicode=True)
    )
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "-f",
            "mkdocs.yml",
            "-d",
            "html",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"mkdocs build failed:\n{result.stdout}{result.stderr}")
    built = work / "html"
    (built / "404.html").unlink(missing_ok=True)  # server-root paths; hosts show their own
    for leftover in ("sitemap.xml", "sitemap.xml.gz"):
        (built / leftover).unlink(missing_ok=True)
    return built


def _replace_folder(new: Path, target: Path) -> None:
    """Move ``new`` onto ``target``: the old folder is kept aside until the new one is in place."""
    old = target.parent / f".{target.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


class _Refs(HTMLParser):
    """Collects what an HTML page loads and links to: (tag, attribute, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        values = dict(attrs)
        for attribute in ("src", "href"):
            if values.get(attribute) is not None:
                rel = values.get("rel") or ""
                self.refs.append((f"{tag}{'.' + rel if rel else ''}", attribute, values[attribute]))


def site_problems(folder: str | os.PathLike) -> list[str]:
    """What would break the site offline: each as ``page: problem``; empty when sound.

    A script, stylesheet, image or font fetched from the network; an absolute path; an
    internal link, image or script whose file the site lacks. Links to other sites (``<a>``)
    are allowed: a reader follows them on purpose.
    """
    folder = Path(folder)
    problems = []
    for page in sorted(folder.rglob("*.html")):
        parser = _Refs()
        parser.feed(page.read_text(errors="replace"))
        for tag, attribute, value in parser.refs:
            parts = urlsplit(value)
            where = f"{page.relative_to(folder)}: <{tag} {attribute}={value[:80]!r}>"
            local = not parts.path and not parts.netloc  # an anchor on the page
            if local or parts.scheme in {"data", "mailto", "javascript"}:
                continue
            if parts.scheme or parts.netloc:
                if tag.split(".")[0] != "a":
                    problems.append(f"{where} fetches from the network")
                continue
            if parts.path.startswith("/"):
                problems.append(f"{where} is an absolute path")
            elif not (target := (page.parent / unquote(parts.path)).resolve()).exists():
                problems.append(f"{where} points to a missing file")
            elif not target.is_relative_to(folder.resolve()):
                problems.append(f"{where} points outside the site")
    return problems
