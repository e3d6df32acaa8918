"""Evaluation figures: legends carry the numbers, files are written atomically, no global state."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tchexnet_lib import data, evaluation, labels, operating, plotting, score_files
from tchexnet_lib.tools import cli

CI_LEGEND = re.compile(r"^(\S+) AUC (\d\.\d{3}) \(95% CI (\d\.\d{3})\u2013(\d\.\d{3})\)$")


@pytest.fixture(scope="module")
def toy() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """40 cases, 8 positive; model A separates better than model B."""
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(8), np.zeros(32)].astype(int)
    return y, {"A": np.clip(0.3 * y + rng.uniform(0, 0.7, 40), 0, 1), "B": rng.uniform(0, 1, 40)}


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def drawn_extents(fig: Figure, ax) -> tuple:
    """(legend, axes, x axis with its labels (None if it has none), figure) after an Agg draw."""
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    return (
        ax.get_legend().get_window_extent(renderer),
        ax.get_window_extent(renderer),
        ax.xaxis.get_tightbbox(renderer),
        fig.bbox,
    )


def assert_legend_outside(fig: Figure, ax) -> None:
    """The legend covers neither the axes nor its x label, and lies inside the figure."""
    legend, axes, x_axis, figure = drawn_extents(fig, ax)
    assert not legend.overlaps(axes), (legend, axes)
    assert x_axis is None or not legend.overlaps(x_axis), (legend, x_axis)
    assert (
        figure.x0 <= legend.x0
        and legend.x1 <= figure.x1 + 0.5
        and figure.y0 <= legend.y0
        and legend.y1 <= figure.y1 + 0.5
    ), (legend, figure)


SEVEN_ENTRIES = {"Youden": "youden", "t = 0.5": 0.5}  # 2 models + chance + 2 × 2 points


def test_a_seven_entry_legend_never_covers_the_curves(toy):
    y, scores = toy
    fig = plotting.roc_figure(y, scores, operating_points=SEVEN_ENTRIES)
    assert len(legend_texts(fig.axes[0])) == 7
    assert fig.get_size_inches()[0] > 5.0 + 2  # grown by the legend's width
    assert_legend_outside(fig, fig.axes[0])
    below = plotting.roc_figure(y, scores, operating_points=SEVEN_ENTRIES, legend="below")
    assert below.get_size_inches()[1] > 5.0 + 1  # grown by the legend's height
    assert_legend_outside(below, below.axes[0])
    pr = plotting.pr_figure(y, scores, operating_points=SEVEN_ENTRIES)
    assert_legend_outside(pr, pr.axes[0])
    calibration = plotting.calibration_figure(y, scores)
    assert_legend_outside(calibration, calibration.axes[0])
    with pytest.raises(ValueError, match="where="):
        plotting.legend_outside(fig.axes[0], "inside")


def texts_outside(fig: Figure, path) -> list[str]:
    """Every text but the tick labels (titles, axis labels, legend) that, once the figure is
    saved (as a file is: no tight bounding box), lies partly outside it, with its extent."""
    plotting.save_figure(fig, path)
    FigureCanvasAgg(fig).draw()  # the same layout as the file's, at the figure's dpi
    renderer = fig.canvas.get_renderer()
    ticks = {id(t) for ax in fig.axes for t in [*ax.get_xticklabels(), *ax.get_yticklabels()]}
    texts = [
        t
        for t in fig.findobj(matplotlib.text.Text)  # tick labels beyond the limits
        if t.get_visible() and t.get_text() and id(t) not in ticks
    ]  # are not drawn
    return [
        f"{t.get_text()!r}: {t.get_window_extent(renderer)}"
        for t in texts
        if not fig.bbox.padded(0.5).contains(*t.get_window_extent(renderer).min)
        or not fig.bbox.padded(0.5).contains(*t.get_window_extent(renderer).max)
    ]


@pytest.mark.parametrize("legend", plotting.LEGEND_PLACES)
@pytest.mark.parametrize(
    "title",
    [
        "Pneumothorax, synthetic test set (demo weights trained on synthetic data)",  # the demo's
        "A title far longer than the figure is wide, as a caller may give one: " * 3,
    ],
)
def test_a_long_title_stays_inside_the_saved_figure(toy, tmp_path, legend, title):
    """The demo's ROC title was cut at the left ("eumothorax, ...") once its legend moved
    right of the axes: centred over the axes, it ran past the figure's left edge."""
    y, scores = toy
    for figure in (plotting.roc_figure, plotting.pr_figure):
        fig = figure(y, scores, title=title, legend=legend)
        assert texts_outside(fig, tmp_path / "figure.png") == []
        shown = fig.axes[0].get_title(loc="left")
        assert " ".join(shown.split()) == " ".join(title.split())  # wrapped, not shortened


def test_label_summary_legend_sits_below_the_x_label():
    rows = pd.DataFrame(
        {
            "Path": ["a", "b", "c"],
            "Sex": "Male",
            "Age": 50,
            "Frontal/Lateral": "Frontal",
            "AP/PA": "AP",
            **{name: [1.0, -1.0, np.nan] for name in labels.CHEXPERT_OBSERVATIONS},
        }
    )
    fig = plotting.label_summary_figure(data.label_summary(rows))
    assert_legend_outside(fig, fig.axes[0])


def test_roc_legend_states_auc_and_delong_interval(toy):
    y, scores = toy
    fig = plotting.roc_figure(y, scores)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    texts = legend_texts(fig.axes[0])
    for name, s in scores.items():
        result = evaluation.roc_auc(y, s)
        line = next(t for t in texts if t.startswith(f"{name} AUC"))
        match = CI_LEGEND.match(line)
        assert match, line
        assert float(match[2]) == pytest.approx(result.auc, abs=5e-4)
        assert (float(match[3]), float(match[4])) == pytest.approx(result.ci95, abs=5e-4)
        assert line == f"{name} AUC {evaluation.format_auc(result)}"
    assert "chance (AUC 0.5)" in texts
    # one curve per model plus the diagonal
    assert len(fig.axes[0].get_lines()) == 3


def test_roc_without_interval_and_into_given_axes(toy):
    y, scores = toy
    outer = Figure()
    ax = outer.add_subplot()
    fig = plotting.roc_figure(y, scores, ci=None, ax=ax)
    assert fig is outer
    assert any(re.fullmatch(r"A AUC \d\.\d{3}", t) for t in legend_texts(ax))


def test_roc_operating_points_are_on_the_curves(toy):
    y, scores = toy
    fig = plotting.roc_figure(
        y, scores, operating_points={"Youden": "youden", "t = 0.5": 0.5, "chosen": {"B": 0.7}}
    )
    texts = legend_texts(fig.axes[0])
    point_labels = [t for t in texts if ":" in t]
    assert len(point_labels) == 2 + 2 + 1
    op = operating.operating_point(y, scores["B"], 0.7)
    marker = next(
        line for line in fig.axes[0].get_lines() if line.get_label().startswith("chosen: B")
    )
    assert marker.get_xdata()[0] == pytest.approx(1 - op["specificity"])
    assert marker.get_ydata()[0] == pytest.approx(op["sensitivity"])
    youden = operating.youden_threshold(y, scores["A"])
    assert any(t.startswith(f"Youden: A t={youden:.3g}") for t in point_labels)


def test_roc_bad_operating_point_and_bad_labels_are_errors(toy):
    y, scores = toy
    with pytest.raises(ValueError, match="unknown models"):
        plotting.roc_figure(y, scores, operating_points={"x": {"C": 0.5}})
    with pytest.raises(ValueError, match="'youden'"):
        plotting.roc_figure(y, scores, operating_points={"x": "best"})
    with pytest.raises(ValueError, match="not 0/1"):
        plotting.roc_figure(np.r_[y[:-1], -1], scores)
    with pytest.raises(ValueError, match=r"scores\['A'\]: 39 scores but 40 labels"):
        plotting.pr_figure(y, {**scores, "A": scores["A"][1:]})
    with pytest.raises(ValueError, match="scores is empty"):
        plotting.calibration_figure(y, {})


def test_figures_validate_without_dummy_metrics(toy, monkeypatch):
    def no_dummy(*args, **kwargs):
        raise AssertionError("an operating point was computed though none was asked for")

    monkeypatch.setattr(operating, "operating_point", no_dummy)
    y, scores = toy
    for figure in (plotting.roc_figure, plotting.pr_figure, plotting.calibration_figure):
        assert isinstance(figure(y, scores), Figure)


def test_one_class_set_is_labelled_undefined_not_drawn():
    y = np.zeros(10, int)
    s = {"A": np.linspace(0, 1, 10)}
    fig = plotting.roc_figure(y, s)
    assert "A AUC undefined (n_pos=0, n_neg=10)" in legend_texts(fig.axes[0])
    assert "A AP undefined (n_pos=0)" in legend_texts(plotting.pr_figure(y, s).axes[0])


def test_pr_legend_has_average_precision_and_prevalence(toy):
    y, scores = toy
    fig = plotting.pr_figure(y, scores, operating_points={"t": 0.5})
    texts = legend_texts(fig.axes[0])
    ap = operating.pr_curve(y, scores["A"]).average_precision
    assert f"A AP {ap:.3f}" in texts
    assert "prevalence 0.200 (chance AP)" in texts


def test_calibration_figure_reports_brier(toy):
    y, scores = toy
    fig = plotting.calibration_figure(y, scores)
    assert len(fig.axes) == 2
    brier = operating.calibration(y, scores["B"]).brier_score
    ece = operating.expected_calibration_error(y, scores["B"])
    assert f"B Brier {brier:.4f}, ECE {ece:.3f}" in legend_texts(fig.axes[0])
    with pytest.raises(ValueError, match="probabilities"):
        plotting.calibration_figure(y, {"logits": scores["A"] * 10 - 5})


def test_threshold_table_figure_and_styler(toy):
    y, scores = toy
    table = operating.threshold_table(y, scores["A"])
    fig = plotting.threshold_table_figure(table, max_rows=10)
    assert isinstance(fig, Figure)
    assert f"(10 of {len(table)} rows" in fig.axes[0].get_title()
    html = plotting.style_threshold_table(table).to_html()
    assert "sensitivity" in html and "—" in html  # npv undefined where all are called positive


def test_save_figure_is_atomic_and_creates_folders(tmp_path, toy):
    y, scores = toy
    target = tmp_path / "deep" / "er" / "roc.png"
    assert plotting.save_figure(plotting.roc_figure(y, scores), target) == target
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in target.parent.iterdir()] == ["roc.png"]
    svg = plotting.save_figure(plotting.pr_figure(y, scores), tmp_path / "pr.svg")
    assert svg.read_text().lstrip().startswith("<?xml")


def test_failed_save_keeps_the_old_file_and_leaves_no_temp(tmp_path, toy):
    y, scores = toy
    target = tmp_path / "roc.png"
    target.write_bytes(b"previous result")
    fig = plotting.roc_figure(y, scores)

    def broken_savefig(path, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    fig.savefig = broken_savefig
    with pytest.raises(OSError, match="disk full"):
        plotting.save_figure(fig, target)
    assert target.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["roc.png"]
    with pytest.raises(ValueError, match="suffix"):
        plotting.save_figure(fig, tmp_path / "roc")


def test_importing_the_figure_modules_changes_no_global_state():
    code = (
        "import sys, matplotlib\n"
        # dict.__getitem__: RcParams' own lookup of 'backend' would resolve (and change) it
        "def snapshot(): return {k: dict.__getitem__(matplotlib.rcParams, k)\n"
        "                        for k in matplotlib.rcParams}\n"
        "before = snapshot()\n"
        "import tchexnet_lib.plotting, tchexnet_lib.widgets, tchexnet_lib.gradcam\n"
        "assert snapshot() == before, 'rcParams changed on import'\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "import numpy as np\n"
        "fig = tchexnet_lib.plotting.roc_figure([0, 1, 0, 1], {'m': np.arange(4.0)})\n"
        "assert snapshot() == before, 'rcParams changed by a figure'\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported by a figure'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_set_style_changes_rcparams_only_when_called():
    with matplotlib.rc_context():
        matplotlib.rcParams["axes.grid"] = False
        plotting.set_style()
        assert matplotlib.rcParams["axes.grid"] is True


def learning_history() -> pd.DataFrame:
    """A jumpy validation loss under a steady AUC, as 04 showed."""
    return pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4, 5],
            "loss": [0.9, 0.7, 0.6, 0.5, 0.45],
            "val_loss": [1.08, 0.18, 0.59, 0.17, 0.46],
            "val_auc": [0.90, 0.93, 0.95, 0.92, 0.94],
        }
    )


def test_learning_curves_put_weighted_and_unweighted_losses_on_separate_axes():
    fig = plotting.learning_curves_figure(learning_history(), title="head", class_weight="balanced")
    train, val, auc = fig.axes
    assert train.get_title() == "Training loss (class-weighted, balanced)"
    assert val.get_title() == "Validation loss (unweighted)"
    assert auc.get_title() == "Validation AUC"
    assert fig.get_suptitle() == "head\nkept: epoch 4 (★), chosen on the lowest validation loss"
    for ax in (train, val, auc):  # the kept epoch is marked on every panel
        assert any(list(line.get_xdata()) == [4, 4] for line in ax.get_lines())
    star = [line for line in val.get_lines() if line.get_marker() == "*"]
    assert len(star) == 1 and (star[0].get_xdata()[0], star[0].get_ydata()[0]) == (4, 0.17)
    by_auc = plotting.learning_curves_figure(learning_history(), select_on="val_auc")
    assert "epoch 3 (★), chosen on the highest validation AUC" in by_auc.get_suptitle()
    assert [line.get_marker() for line in by_auc.axes[2].get_lines()].count("*") == 1
    unweighted = plotting.learning_curves_figure(learning_history(), class_weight="none")
    assert unweighted.axes[0].get_title() == "Training loss (unweighted)"
    earlier = plotting.learning_curves_figure(learning_history().iloc[2:], best=2)
    assert "kept: epoch 2" in earlier.get_suptitle()  # kept by an earlier run: no star


def test_learning_curves_mark_the_best_epoch_and_an_undefined_auc():
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "loss": [0.7, 0.6, 0.5],
            "val_loss": [0.65, 0.6, 0.62],
            "val_auc": [np.nan] * 3,
        }
    )
    fig = plotting.learning_curves_figure(history)
    assert "epoch 2" in fig.get_suptitle()
    assert "undefined" in fig.axes[2].texts[0].get_text()
    assert plotting.best_epoch(history, "val_auc") is None
    assert (
        "no epoch kept"
        in plotting.learning_curves_figure(history, select_on="val_auc").get_suptitle()
    )
    with pytest.raises(ValueError, match="history needs"):
        plotting.learning_curves_figure(history.iloc[:0])
    with pytest.raises(ValueError, match="select_on"):
        plotting.learning_curves_figure(history, select_on="loss")


def test_paper_scores_legend_reproduces_the_published_intervals(reference):
    table = pd.read_csv(reference / "valid_frontal_6_classes.csv")
    y = table[labels.TARGET].to_numpy()
    scores = {
        name: score_files.read_scores(
            reference / f"{name.lower()}_valid_frontal_pneumothorax_scores.csv", len(y)
        )
        for name in ("CheXNet", "tCheXNet")
    }
    texts = legend_texts(plotting.roc_figure(y, scores).axes[0])
    # the paper's 0.37-0.91 and 0.53-0.88, one more digit
    assert "CheXNet AUC 0.642 (95% CI 0.374\u20130.910)" in texts
    assert "tCheXNet AUC 0.708 (95% CI 0.534\u20130.883)" in texts


def test_compare_command_writes_roc_and_pr_figures(tmp_path, capsys, toy):
    y, scores = toy
    header = list(labels.CHEXPERT_META_COLUMNS + labels.CHEXPERT_OBSERVATIONS)
    rows = []
    for i, label in enumerate(y):
        row = dict.fromkeys(header, "")
        row.update(
            {
                "Path": f"CheXpert-v1.0-small/valid/patient{i:05d}/study1/view1_frontal.jpg",
                "Sex": "Male",
                "Age": "60",
                "Frontal/Lateral": "Frontal",
                "AP/PA": "AP",
                "Pneumothorax": f"{float(label):.1f}",
            }
        )
        rows.append(row)
    csv_path = tmp_path / "valid.csv"
    pd.DataFrame(rows, columns=header).to_csv(csv_path, index=False)
    score_args = []
    for name, s in scores.items():
        (tmp_path / f"{name}.txt").write_text("\n".join(f"{v:.8f}" for v in s) + "\n")
        score_args.append(f"{name}={tmp_path / f'{name}.txt'}")
    out = tmp_path / "out"
    code = cli.main(
        ["compare", "--labels", str(csv_path), "--scores", *score_args, "--out", str(out), "--json"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["positives"] == 8
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "pr.png", "roc.png"]
    for name in ("roc.png", "pr.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
