"""The ROC explorer in a real browser: JupyterLab + headless Chromium (``make test-browser``).

Catches what no kernel-side test can: the widget failing to render in the page ("Error
displaying widget" from mismatched ipywidgets / JupyterLab widget-manager versions), and a
slider whose moves never reach the kernel. Runs ``notebooks/05_roc_comparison.ipynb`` (a copy)
when it exists, else a small notebook written here. Excluded from ``make test`` (marker
``browser``); needs ``make browser-deps`` (Debian's chromium) and the ``dev`` extra
(playwright). Screenshots go to ``outputs/browser/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

from tchexnet_lib import config
from tests import browser_support as bs
from tests import tiny_demo

pytestmark = [pytest.mark.browser, pytest.mark.posix]  # process groups, geteuid

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "05_roc_comparison.ipynb"
#: Opening, running all cells (05 runs real computations) and rendering, in ms.
NOTEBOOK_TIMEOUT_MS = 180_000
#: One slider move reaching the kernel and the page redrawn, in ms.
UPDATE_TIMEOUT_MS = 30_000
WIDGET_ERROR = "Error displaying widget"

FALLBACK_CELLS = [
    "import numpy as np\n\nfrom tchexnet_lib import widgets",
    "rng = np.random.default_rng(0)\n"
    "y = np.r_[np.ones(20), np.zeros(180)].astype(int)  # 200 cases, 20 positive\n"
    "a = np.clip(0.35 + 0.30 * y + rng.normal(0, 0.15, y.size), 0, 1)\n"
    "b = np.clip(0.40 + 0.15 * y + rng.normal(0, 0.20, y.size), 0, 1)\n"
    'widgets.roc_explorer(y, {"A": a, "B": b})',
]


def write_fallback_notebook(root: Path) -> str:
    """The stand-in for 05 until it exists: imports, then the explorer on seeded scores."""
    notebook = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        }
    )
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in FALLBACK_CELLS]
    path = root / "notebooks" / "browser_roc_explorer.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path.relative_to(root).as_posix()


@pytest.fixture
def lab(tmp_path, request, monkeypatch):
    """JupyterLab confined to ``tmp_path``; always ended, also when the test fails.

    Its kernels see the tiny demo (``TCHEXNET_DATA_DIR`` / ``TCHEXNET_WEIGHTS_DIR`` pass through
    the server's environment; outputs stay under ``tmp_path``); ``lab.parameters`` are the
    notebook parameters that select it.
    """
    bs.require_tools()
    inputs = tiny_demo.environment(tmp_path, tiny_demo.cache_folder(request.config))
    for variable in ("TCHEXNET_DATA_DIR", "TCHEXNET_WEIGHTS_DIR"):
        monkeypatch.setenv(variable, inputs[variable])
    weights = tiny_demo.prepare()
    server = bs.start_lab(tmp_path)
    server.parameters = tiny_demo.parameters(weights, N_BOOTSTRAP=200)
    try:
        yield server
    finally:
        bs.stop_lab(server)


def test_lab_kernel_is_this_venv(lab):
    spec = lab.api("/api/kernelspecs")
    assert spec["default"] == "python3"
    assert spec["kernelspecs"]["python3"]["spec"]["argv"][0] == sys.executable


def test_roc_explorer_renders_and_its_threshold_slider_updates_the_metrics(lab):
    relpath = (
        bs.stage_notebook(NOTEBOOK, lab.root, lab.parameters)
        if NOTEBOOK.exists()
        else write_fallback_notebook(lab.root)
    )
    shots = config.output_dir("browser")
    (shots / "failure.png").unlink(missing_ok=True)
    with bs.chromium_page() as page:
        try:
            bs.open_notebook(page, lab, relpath, NOTEBOOK_TIMEOUT_MS)
            bs.run_all_cells(page, NOTEBOOK_TIMEOUT_MS)
            explorer = page.locator(".tchexnet-roc-explorer").first
            explorer.locator(".tchexnet-roc-threshold").wait_for(timeout=NOTEBOOK_TIMEOUT_MS)
            bs.wait_all_cells_done(page, NOTEBOOK_TIMEOUT_MS)
            check_explorer(page, explorer, shots)
        except BaseException:
            page.screenshot(path=shots / "failure.png", full_page=True)
            print(lab.log_tail(), "\nbrowser console errors:", page.console_errors[-20:])
            raise
    sessions = lab.api("/api/sessions")
    assert [s["kernel"]["name"] for s in sessions] == ["python3"]


def check_explorer(page, explorer, shots: Path) -> None:
    """The explorer rendered; moving its threshold slider changes what the page shows."""
    assert page.get_by_text(WIDGET_ERROR).count() == 0, f"the page shows {WIDGET_ERROR!r}"
    assert "Traceback (most recent call last)" not in page.locator(".jp-Notebook").inner_text()
    plot = explorer.locator(".tchexnet-roc-plot")
    assert plot.evaluate("img => img.complete && img.naturalWidth > 0"), "the plot is empty"
    slider = explorer.locator(".tchexnet-roc-threshold")
    fix_threshold = explorer.locator(".widget-toggle-button[data-value='fix%20threshold']")
    if "mod-active" not in (fix_threshold.get_attribute("class") or ""):
        fix_threshold.click()  # a notebook may show the explorer in "fix sensitivity" mode
    slider.locator(".noUi-target:not([disabled])").wait_for(timeout=UPDATE_TIMEOUT_MS)
    bs.wait_kernel_state(page, ("idle",), UPDATE_TIMEOUT_MS)
    explorer.screenshot(path=shots / "roc_explorer_before.png")

    before = bs.counts(explorer)
    n_pos, n_neg = before["tp"] + before["fn"], before["fp"] + before["tn"]
    assert n_pos > 0 and n_neg > 0, before
    label = explorer.locator(".tchexnet-roc-threshold + .widget-html")
    label_before, plot_before = label.inner_text(), plot.get_attribute("src")
    handle = slider.locator(".noUi-handle")

    handle.focus()
    for _ in range(5):  # a few steps up: the kernel answers, the label beside the slider follows
        handle.press("ArrowRight")
    page.wait_for_function(
        "([el, old]) => el.innerText !== old",
        arg=[label.element_handle(), label_before],
        timeout=UPDATE_TIMEOUT_MS,
    )

    handle.press("Home")  # the lowest threshold: every case called positive
    wait_for_counts(page, explorer, {"tp": n_pos, "fp": n_neg, "fn": 0, "tn": 0})
    shown = bs.rates(explorer)
    assert (shown["sensitivity"], shown["specificity"]) == ("1.000", "0.000"), shown
    bs.wait_kernel_state(page, ("idle",), UPDATE_TIMEOUT_MS)  # the plot for t = min is sent
    page.wait_for_function(
        "([img, old]) => img.src !== old && img.complete",
        arg=[plot.element_handle(), plot_before],
        timeout=UPDATE_TIMEOUT_MS,
    )
    assert page.get_by_text(WIDGET_ERROR).count() == 0
    explorer.screenshot(path=shots / "roc_explorer_after.png")
    page.screenshot(path=shots / "notebook.png", full_page=True)


def wait_for_counts(page, explorer, expected: dict[str, int]) -> None:
    """Wait until the page's confusion matrix shows ``expected``; fail naming what it shows."""
    script = """([box, want]) => Object.entries(want).every(([k, v]) => {
        const cell = box.querySelector(`.tchexnet-roc-metrics [data-count='${k}']`);
        return cell && cell.innerText.trim().endsWith(' ' + v);
    })"""
    try:
        page.wait_for_function(
            script, arg=[explorer.element_handle(), expected], timeout=UPDATE_TIMEOUT_MS
        )
    except Exception as error:
        raise AssertionError(f"counts shown {bs.counts(explorer)}, expected {expected}") from error
