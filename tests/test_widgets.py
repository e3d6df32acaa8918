"""The ROC explorer, driven headless through its widgets' values (observers fire as in use)."""

from __future__ import annotations

import ipywidgets
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from tchexnet_lib import evaluation, labels, operating, score_files, widgets


@pytest.fixture(scope="module")
def toy() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """30 cases, 6 positive, two models with different rankings."""
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(6), np.zeros(24)].astype(int)
    return y, {
        "good": np.clip(0.35 * y + rng.uniform(0, 0.65, 30), 0, 1),
        "poor": rng.uniform(0, 1, 30),
    }


def assert_reconciles(state: dict) -> None:
    assert state["tp"] + state["fn"] == state["n_pos"]
    assert state["fp"] + state["tn"] == state["n_neg"]
    assert state["n_pos"] + state["n_neg"] == state["n"]


def assert_html_shows(explorer: widgets.RocExplorer) -> None:
    s = explorer.state
    for key in ("tp", "fp", "fn", "tn"):
        assert f"data-count='{key}'>{key.upper()} {s[key]}<" in explorer.html.value
    assert f"{s['threshold']:.4g}" in explorer.html.value


def test_widget_tree_and_stable_hooks_for_browser_tests(toy):
    y, scores = toy
    box = widgets.roc_explorer(y, scores, threshold=0.5)
    assert isinstance(box, ipywidgets.VBox)
    explorer = box.explorer
    assert explorer.threshold_slider.description == "threshold"
    assert "tchexnet-roc-threshold" in explorer.threshold_slider._dom_classes
    assert "tchexnet-roc-metrics" in explorer.html._dom_classes
    assert isinstance(explorer.mode_buttons, ipywidgets.ToggleButtons)
    assert explorer.mode_buttons.options == ("fix threshold", "fix sensitivity")
    assert explorer.image.value[:4] == b"\x89PNG" and explorer.n_renders == 1
    assert explorer.scale == "linear"
    assert explorer.state["threshold"] == 0.5
    assert_reconciles(explorer.state)
    assert_html_shows(explorer)


def test_moving_the_threshold_slider_updates_counts_html_and_plot(toy):
    y, scores = toy
    explorer = widgets.RocExplorer(y, scores, threshold=0.9)
    high = dict(explorer.state)
    png = explorer.image.value
    explorer.threshold_slider.value = 0.2  # what a user's drag does: observers fire
    low = explorer.state
    assert low["threshold"] == pytest.approx(0.2)
    assert low["tp"] + low["fp"] > high["tp"] + high["fp"]
    assert low == {
        **low,
        **{
            k: v
            for k, v in operating.operating_point(y, scores["good"], 0.2).items()
            if k != "threshold"
        },
    }
    assert_reconciles(low)
    assert_html_shows(explorer)
    assert explorer.image.value != png and explorer.n_renders == 2
    # the disabled sensitivity slider follows the sensitivity reached (rounded down)
    assert explorer.sensitivity_slider.disabled and not explorer.threshold_slider.disabled
    assert explorer.sensitivity_slider.value <= low["sensitivity"]


def test_fix_sensitivity_mode_derives_the_threshold(toy):
    y, scores = toy
    explorer = widgets.RocExplorer(y, scores, threshold=0.99, render=False)
    assert explorer.state["sensitivity"] == 0
    explorer.mode_buttons.value = "fix sensitivity"
    explorer.sensitivity_slider.value = 0.9
    s = explorer.state
    assert s["mode"] == "fix sensitivity" and s["target_sensitivity"] == 0.9
    assert s["sensitivity"] >= 0.9
    assert s["threshold"] == operating.threshold_for_sensitivity(y, scores["good"], 0.9)
    assert explorer.threshold_slider.disabled and not explorer.sensitivity_slider.disabled
    assert explorer.threshold_slider.value == pytest.approx(s["threshold"], abs=1e-3)
    assert_reconciles(s)
    assert_html_shows(explorer)
    assert "target sensitivity ≥ 0.90" in explorer.html.value
    # moving the (disabled) threshold slider from code does not override the target
    explorer.threshold_slider.value = 0.99
    assert explorer.state["threshold"] == s["threshold"]
    # back to fixing the threshold: the operating point is kept
    explorer.set_mode("fix threshold")
    assert explorer.state["threshold"] == s["threshold"]
    assert explorer.state["tp"] == s["tp"]


def test_switching_models_updates_the_state(toy):
    y, scores = toy
    explorer = widgets.RocExplorer(y, scores, threshold=0.5, render=False)
    explorer.model_picker.value = "poor"
    s = explorer.state
    assert s["model"] == "poor" and s["threshold"] == 0.5
    expected = operating.operating_point(y, scores["poor"], 0.5)
    counts = ("tp", "fp", "fn", "tn")
    assert tuple(s[k] for k in counts) == tuple(expected[k] for k in counts)
    assert "<b>poor</b>" in explorer.html.value
    explorer.set_sensitivity(0.5)
    explorer.select("good")
    assert explorer.state["threshold"] == operating.threshold_for_sensitivity(
        y, scores["good"], 0.5
    )
    assert_reconciles(explorer.state)


def test_set_threshold_is_exact_and_leaves_sensitivity_mode(toy):
    y, scores = toy
    explorer = widgets.RocExplorer(y, scores, target_sensitivity=0.8, render=False)
    assert explorer.state["mode"] == "fix sensitivity" and explorer.state["sensitivity"] >= 0.8
    t = float(np.sort(scores["good"])[10])
    state = explorer.set_threshold(t)
    assert state["mode"] == "fix threshold" and state["threshold"] == t
    assert state["tp"] + state["fp"] == 20  # 20 scores are >= the 11th smallest


def test_quantile_scale_moves_through_the_data(toy):
    y, scores = toy
    explorer = widgets.RocExplorer(y, scores, scale="quantile", render=False)
    explorer.threshold_slider.value = 0.5
    called_positive = explorer.state["tp"] + explorer.state["fp"]
    assert called_positive == 15
    explorer.select("poor")  # the quantile is kept, so the threshold follows the model
    assert explorer.state["threshold"] == pytest.approx(np.quantile(scores["poor"], 0.5))


def test_bad_arguments_are_clear_errors(toy):
    y, scores = toy
    with pytest.raises(ValueError, match=r"target_sensitivity must be in \(0, 1\]"):
        widgets.RocExplorer(y, scores, target_sensitivity=1.5, render=False)
    with pytest.raises(ValueError, match="mode must be"):
        widgets.RocExplorer(y, scores, render=False).set_mode("fix specificity")
    with pytest.raises(ValueError, match="unknown model"):
        widgets.RocExplorer(y, scores, model="other", render=False)
    with pytest.raises(ValueError, match="both classes"):
        widgets.RocExplorer(np.zeros(30), scores, render=False)
    with pytest.raises(ValueError, match="scale must be"):
        widgets.RocExplorer(y, scores, scale="sqrt", render=False)
    with pytest.raises(ValueError, match="not 0/1"):
        widgets.RocExplorer(np.r_[y[:-1], -1], scores, render=False)
    with pytest.raises(ValueError, match=r"scores\['poor'\]: 29 scores but 30 labels"):
        widgets.RocExplorer(y, {**scores, "poor": scores["poor"][1:]}, render=False)
    with pytest.raises(ValueError, match="scores is empty"):
        widgets.RocExplorer(y, {}, render=False)
    explorer = widgets.RocExplorer(y, scores, render=False)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        explorer.set_sensitivity(0)


def test_inputs_are_checked_without_computing_an_auc(toy, monkeypatch):
    def no_auc(*args, **kwargs):
        raise AssertionError("an AUC was computed only to check the inputs")

    monkeypatch.setattr(evaluation, "roc_auc", no_auc)
    y, scores = toy
    explorer = widgets.RocExplorer(y, {1: scores["good"], "poor": scores["poor"]}, render=False)
    assert list(explorer.scores) == ["1", "poor"]  # model names as text, for the picker
    assert explorer.y.dtype == np.int8


def figure_texts(fig: Figure) -> list[str]:
    """Every text drawn in a figure: titles, labels, legends, free text and table cells."""
    cells = [
        cell.get_text()
        for ax in fig.axes
        for table in ax.tables
        for cell in table.get_celld().values()
    ]
    return [t.get_text() for t in fig.findobj(Text) + cells]


def test_static_figure_shows_the_confusion_matrix_once(toy):
    y, scores = toy
    fig = widgets.static_explorer_figure(y, scores, threshold=0.4, model="poor")
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    op = operating.operating_point(y, scores["poor"], 0.4)
    panel = fig.axes[2]
    matrix, rates = [
        [c.get_text().get_text() for c in table.get_celld().values()] for table in panel.tables
    ]
    assert f"TP {op['tp']}" in matrix and f"TN {op['tn']}" in matrix
    assert "sensitivity" in rates and f"{op['sensitivity']:.3f}" in rates
    assert f"{op['tp']}/{op['tp'] + op['fn']}" in rates
    texts = figure_texts(fig)
    for count in ("TP", "FP", "FN", "TN"):
        assert sum(t.startswith(f"{count} ") for t in texts) == 1, count
    assert texts.count("sensitivity") == 1  # the rates table's row (the ROC axis says more)
    assert len(panel.texts) == 0  # no second, monospace copy
    assert "poor, threshold 0.4 (fix threshold)" in panel.get_title()
    fig = widgets.static_explorer_figure(y, scores, target_sensitivity=0.9)
    assert "fix sensitivity" in fig.axes[2].get_title()


def test_the_widget_shows_the_confusion_matrix_once_in_its_html(toy):
    y, scores = toy
    explorer = widgets.RocExplorer(y, scores, threshold=0.4, render=False)
    fig = explorer.figure()
    assert len(fig.axes) == 2 and not any(ax.tables for ax in fig.axes)
    assert not any(t.startswith(("TP ", "TN ")) or t == "sensitivity" for t in figure_texts(fig))
    assert explorer.html.value.count("<table class='tchexnet-confusion'>") == 1
    assert explorer.html.value.count("data-count='tp'") == 1
    assert explorer.html.value.count("<table class='tchexnet-rates'>") == 1
    FigureCanvasAgg(fig).draw()  # legends below the curves, not on them
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend().get_window_extent(renderer)
        assert not legend.overlaps(ax.get_window_extent(renderer))
        assert not legend.overlaps(ax.xaxis.get_tightbbox(renderer))
        assert legend.y0 >= fig.bbox.y0


def test_tiny_scores_get_a_log_slider_that_reaches_every_operating_point(reference):
    y = pd.read_csv(reference / "valid_frontal_6_classes.csv")[labels.TARGET].to_numpy()
    scores = {
        name: score_files.read_scores(
            reference / f"{name.lower()}_valid_frontal_pneumothorax_scores.csv", len(y)
        )
        for name in ("CheXNet", "tCheXNet")
    }
    explorer = widgets.RocExplorer(y, scores, render=False)
    assert explorer.scale == "log"  # CheXNet's scores are all below 3.1e-6
    slider = explorer.threshold_slider
    seen = set()
    for value in np.arange(slider.min, slider.max + 1e-9, slider.step):
        slider.value = float(value)
        assert_reconciles(explorer.state)
        seen.add(explorer.state["tp"])
    assert seen == set(range(8))  # every sensitivity k/7 is reachable
    linear = widgets.RocExplorer(y, scores, scale="linear", render=False)
    linear.threshold_slider.value = linear.threshold_slider.step  # the smallest step above 0
    assert linear.state["tp"] + linear.state["fp"] == 0  # a linear slider skips all of them
    explorer.set_mode("fix sensitivity")
    explorer.sensitivity_slider.value = 0.9
    assert explorer.state["sensitivity"] == 1.0 and explorer.state["tp"] == 7
    explorer.select("tCheXNet")
    assert explorer.state["tp"] == 7 and explorer.state["fp"] == 148
    assert_html_shows(explorer)
