"""An interactive ROC explorer for JupyterLab (ipywidgets), and its static twin.

:class:`RocExplorer` holds the logic; its ``widget`` is what a notebook displays::

    explorer = widgets.RocExplorer(y, {"CheXNet": s1, "tCheXNet": s2})
    display(explorer.widget)          # or: display(widgets.roc_explorer(y, scores))

Controls: a model picker (``Dropdown``), ``ToggleButtons`` "fix threshold" / "fix
sensitivity", a **threshold** slider and a **sensitivity** slider. In "fix threshold" mode the
threshold slider sets the threshold and the sensitivity slider (disabled) shows the sensitivity
reached; in "fix sensitivity" mode the sensitivity slider sets a target and the threshold is
derived with :func:`operating.threshold_for_sensitivity` (the highest threshold reaching it),
shown on the disabled threshold slider. So each slider always means what its label says. The
current point is marked on ROC and PR curves (a PNG rendered with matplotlib's Agg canvas into an
``ipywidgets.Image``: it needs no matplotlib backend and renders the same headless and in a
browser) and an ``HTML`` widget beside them shows the confusion matrix and sensitivity,
specificity, PPV, NPV: the one place the widget shows them.

**Slider scale.** The paper's CheXNet scores for Pneumothorax lie between 5e-8 and 3e-6, so a
linear 0-1 slider cannot reach a single one of its operating points. ``scale`` chooses what the
threshold slider moves over:

* ``"linear"``: the threshold itself, over [0, 1] (widened to the scores' range if they leave it);
* ``"log"``: log10 of the threshold, from below the smallest positive score to 0 (scores of
  exactly 0 are then never called positive);
* ``"quantile"``: the fraction of the selected model's scores below the threshold (the share of
  images called negative); the threshold follows the model on a model switch;
* ``"auto"`` (default): ``"log"`` when some model's scores are all below 0.01 and all positive,
  otherwise ``"linear"``.

The slider's own readout is off (its value is a log or a quantile in two of the scales); a label
beside it shows the threshold. For tests and browser automation the threshold slider has the
description ``"threshold"`` and CSS class ``tchexnet-roc-threshold``; the metrics ``HTML`` has
class ``tchexnet-roc-metrics``; the sensitivity slider ``tchexnet-roc-sensitivity``, the plot
``tchexnet-roc-plot``.

Per the house style a notebook shows :func:`static_explorer_figure` (same content, a plain
figure: the curves, then the confusion matrix and the rates drawn once, as the ``HTML`` shows
them) before the widget, so headless runs and rendered copies still show the result.
"""

from __future__ import annotations

import contextlib
import html
import io
import math
from collections.abc import Mapping

import ipywidgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tchexnet_lib import evaluation, operating, plotting

__all__ = [
    "DEFAULT_TARGET_SENSITIVITY",
    "LOG_SCALE_BELOW",
    "MODES",
    "RocExplorer",
    "SCALES",
    "metrics_lines",
    "roc_explorer",
    "static_explorer_figure",
]

MODES: tuple[str, ...] = ("fix threshold", "fix sensitivity")
#: Where the sensitivity slider starts when the explorer starts in "fix threshold" mode.
DEFAULT_TARGET_SENSITIVITY = 0.9
SCALES: tuple[str, ...] = ("auto", "linear", "log", "quantile")
#: Below this maximum score (all scores positive) ``scale="auto"`` chooses the log scale.
LOG_SCALE_BELOW = 0.01
_STEPS = 1000


# --------------------------------------------------------------------------- shared figure


def _check_inputs(y_true: object, scores: Mapping[str, object]) -> tuple[np.ndarray, dict]:
    """Validated labels (both classes present) and float score arrays, names as text."""
    labels, arrays = evaluation.checked_labels_and_scores(y_true, scores)
    n_pos = int(labels.sum())
    if n_pos in (0, labels.size):
        raise ValueError(
            f"the ROC explorer needs both classes; labels have "
            f"n_pos={n_pos}, n_neg={labels.size - n_pos}"
        )
    return labels, {str(name): s for name, s in arrays.items()}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _fraction(num: int, den: int) -> str:
    return f"{num}/{den}" if den else "0/0"


def metrics_lines(state: Mapping) -> list[str]:
    """The explorer's metrics as plain text lines, for a printout (the static figure's title is
    the first).

    Args:
        state: :attr:`RocExplorer.state` (or any dict with operating-point keys).
    """
    s = state
    return [
        f"{s['model']}, threshold {s['threshold']:.3g} ({s['mode']})",
        f"TP {s['tp']}   FP {s['fp']}",
        f"FN {s['fn']}   TN {s['tn']}",
        f"sensitivity {_fmt(s['sensitivity'])} ({_fraction(s['tp'], s['tp'] + s['fn'])})",
        f"specificity {_fmt(s['specificity'])} ({_fraction(s['tn'], s['tn'] + s['fp'])})",
        f"PPV {_fmt(s['ppv'])} ({_fraction(s['tp'], s['tp'] + s['fp'])})",
        f"NPV {_fmt(s['npv'])} ({_fraction(s['tn'], s['tn'] + s['fn'])})",
    ]


def _rate_rows(state: Mapping) -> list[tuple[str, str, str]]:
    """(rate, value, fraction) rows: sensitivity, specificity, PPV, NPV, as both views show them."""
    s = state
    return [
        (label, _fmt(value), _fraction(num, den))
        for label, value, num, den in [
            ("sensitivity", s["sensitivity"], s["tp"], s["tp"] + s["fn"]),
            ("specificity", s["specificity"], s["tn"], s["tn"] + s["fp"]),
            ("PPV", s["ppv"], s["tp"], s["tp"] + s["fp"]),
            ("NPV", s["npv"], s["tn"], s["tn"] + s["fn"]),
        ]
    ]


def _draw_metrics_panel(ax, state: Mapping) -> None:
    """The confusion matrix and the rates, once: what the widget's ``HTML`` shows."""
    ax.axis("off")
    ax.set_title(metrics_lines(state)[0] + "\ncalled +: score ≥ threshold", fontsize=9)
    matrix = ax.table(
        cellText=[
            [f"TP {state['tp']}", f"FP {state['fp']}"],
            [f"FN {state['fn']}", f"TN {state['tn']}"],
        ],
        rowLabels=["called +", "called −"],
        colLabels=["label +", "label −"],
        loc="upper center",
        cellLoc="center",
        bbox=[0.3, 0.62, 0.65, 0.3],
    )
    rates = ax.table(
        cellText=[list(row) for row in _rate_rows(state)],
        loc="upper center",
        cellLoc="center",
        bbox=[0.05, 0.08, 0.9, 0.42],
    )
    for table in (matrix, rates):
        table.auto_set_font_size(False)
        table.set_fontsize(9)


def _explorer_figure(
    y: np.ndarray, arrays: dict, state: Mapping, metrics: bool, figsize: tuple[float, float]
) -> Figure:
    """ROC and PR (all models), current point marked, legends below; the metrics panel if asked."""
    fig = Figure(figsize=figsize, layout="compressed")
    axes = fig.subplots(1, 3 if metrics else 2, width_ratios=(1, 1, 0.8) if metrics else None)
    point = {"current": {state["model"]: state["threshold"]}}
    plotting.roc_figure(y, arrays, operating_points=point, ax=axes[0], legend="below")
    plotting.pr_figure(y, arrays, operating_points=point, ax=axes[1], legend="below")
    if metrics:
        _draw_metrics_panel(axes[2], state)
    legend = max(ax.get_legend().get_window_extent().height for ax in axes[:2]) / fig.dpi
    fig.set_size_inches(figsize[0], figsize[1] + legend)  # the legends' room below the curves
    return fig


def _operating_state(
    y: np.ndarray, scores: np.ndarray, model: str, mode: str, threshold: float, target: float | None
) -> dict:
    """The state dict of :class:`RocExplorer`: counts, rates, threshold, mode, model."""
    if mode == "fix sensitivity":
        threshold = operating.threshold_for_sensitivity(y, scores, target)
    op = operating.operating_point(y, scores, threshold)
    n_pos = int(y.sum())
    return {
        "model": model,
        "mode": mode,
        "target_sensitivity": target if mode == "fix sensitivity" else None,
        "n": int(y.size),
        "n_pos": n_pos,
        "n_neg": int(y.size - n_pos),
        **op,
    }


def static_explorer_figure(
    y: object,
    scores: Mapping[str, object],
    threshold: float = 0.5,
    model: str | None = None,
    target_sensitivity: float | None = None,
) -> Figure:
    """The explorer's content as a static figure: ROC, PR and the confusion matrix.

    Args:
        y: labels 0/1 with both classes, shape (n,).
        scores: model name -> scores of shape (n,).
        threshold: decision threshold (positive: ``score >= threshold``).
        model: the model whose point is marked and counted (default: the first).
        target_sensitivity: if given, the threshold is instead derived from this target
            (as in the widget's "fix sensitivity" mode).

    Returns:
        A three-panel figure: ROC, PR, and the confusion matrix with the rates (once).
    """
    labels, arrays = _check_inputs(y, scores)
    model = next(iter(arrays)) if model is None else model
    if model not in arrays:
        raise ValueError(f"unknown model {model!r}; models: {list(arrays)}")
    mode = "fix threshold" if target_sensitivity is None else "fix sensitivity"
    state = _operating_state(labels, arrays[model], model, mode, threshold, target_sensitivity)
    return _explorer_figure(labels, arrays, state, metrics=True, figsize=(13, 4.6))


# --------------------------------------------------------------------------- slider scale


class _Scale:
    """Maps the threshold slider's value to a threshold and back, for one scale."""

    def __init__(self, kind: str, arrays: dict[str, np.ndarray]) -> None:
        if kind not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {kind!r}")
        values = np.concatenate(list(arrays.values()))
        if kind == "auto":
            tiny = any(s.max() < LOG_SCALE_BELOW for s in arrays.values())
            kind = "log" if tiny and values.min() > 0 else "linear"
        if kind == "log" and not (values > 0).any():
            raise ValueError("scale='log' needs positive scores; use 'linear' or 'quantile'")
        self.kind = kind
        if kind == "linear":
            self.lo, self.hi = min(0.0, float(values.min())), max(1.0, float(values.max()))
            self.step = (self.hi - self.lo) / _STEPS
        elif kind == "log":
            self.lo = math.floor(math.log10(values[values > 0].min()))
            self.hi = max(0, math.ceil(math.log10(values.max())))
            self.step = 0.01
        else:
            self.lo, self.hi, self.step = 0.0, 1.0, 0.001

    def to_threshold(self, value: float, scores: np.ndarray) -> float:
        if self.kind == "log":
            return float(10.0**value)
        if self.kind == "quantile":
            return float(np.quantile(scores, value))
        return float(value)

    def to_slider(self, threshold: float, scores: np.ndarray) -> float:
        if self.kind == "log":
            value = math.log10(threshold) if threshold > 0 else self.lo
        elif self.kind == "quantile":
            value = float(np.mean(scores < threshold))
        else:
            value = threshold
        return float(min(max(value, self.lo), self.hi))


# --------------------------------------------------------------------------- the explorer


class RocExplorer:
    """Interactive operating-point explorer over one or more models' scores on one label set.

    Attributes:
        state: current model, mode, threshold, target_sensitivity (None in "fix threshold"
            mode), n, n_pos, n_neg, tp, fp, fn, tn, sensitivity, specificity, ppv, npv, f1
            (rates None where undefined). Always tp + fn == n_pos and fp + tn == n_neg.
        widget: the ``ipywidgets.VBox`` to display.
        html: the metrics ``ipywidgets.HTML`` (class ``tchexnet-roc-metrics``).
        image: the ``ipywidgets.Image`` holding the rendered PNG (class ``tchexnet-roc-plot``).
        model_picker, mode_buttons, threshold_slider, sensitivity_slider, threshold_label:
            the controls; setting a control's ``value`` fires the same update as a user would.
        scale: the threshold slider's scale actually used ("linear", "log" or "quantile").
        n_renders: how many times the plot was rendered.
    """

    def __init__(
        self,
        y_true: object,
        scores: Mapping[str, object],
        threshold: float = 0.5,
        target_sensitivity: float | None = None,
        scale: str = "auto",
        model: str | None = None,
        render: bool = True,
    ) -> None:
        """Build the explorer; nothing is displayed until ``widget`` is.

        Args:
            y_true: labels 0/1 with both classes, shape (n,).
            scores: model name -> scores of shape (n,), picker order.
            threshold: initial threshold (positive: ``score >= threshold``).
            target_sensitivity: if given, the explorer starts in "fix sensitivity" mode at
                this target, in (0, 1] (as in :func:`static_explorer_figure`); None: it starts
                in "fix threshold" mode, the sensitivity slider at
                :data:`DEFAULT_TARGET_SENSITIVITY`.
            scale: threshold slider scale, see the module docstring.
            model: initially selected model (default: the first).
            render: draw the plot on each update (False: counts and HTML only, for speed).
        """
        self.y, self.scores = _check_inputs(y_true, scores)
        mode = MODES[0] if target_sensitivity is None else MODES[1]
        if target_sensitivity is None:
            target_sensitivity = DEFAULT_TARGET_SENSITIVITY
        if not 0 < target_sensitivity <= 1:
            raise ValueError(f"target_sensitivity must be in (0, 1], got {target_sensitivity}")
        model = next(iter(self.scores)) if model is None else model
        if model not in self.scores:
            raise ValueError(f"unknown model {model!r}; models: {list(self.scores)}")
        self._scale = _Scale(scale, self.scores)
        self.scale = self._scale.kind
        self.render = render
        self.n_renders = 0
        self._threshold = float(threshold)
        self._syncing = False
        self.state: dict = {}
        self._build_controls(model, mode, target_sensitivity)
        self._wire()
        self._apply_mode_enabling()
        self._update()

    # ---- construction

    def _build_controls(self, model: str, mode: str, target: float) -> None:
        w = ipywidgets
        self.model_picker = w.Dropdown(options=list(self.scores), value=model, description="model")
        self.mode_buttons = w.ToggleButtons(options=list(MODES), value=mode)
        sc, scores = self._scale, self.scores[model]
        self.threshold_slider = w.FloatSlider(
            value=sc.to_slider(self._threshold, scores),
            min=sc.lo,
            max=sc.hi,
            step=sc.step,
            description="threshold",
            readout=False,
            continuous_update=False,
            tooltip=f"decision threshold ({self.scale} scale)",
            layout=w.Layout(width="480px"),
        )
        self.threshold_slider.add_class("tchexnet-roc-threshold")
        self.threshold_label = w.HTML()
        self.sensitivity_slider = w.FloatSlider(
            value=target,
            min=0.01,
            max=1.0,
            step=0.01,
            description="sensitivity",
            readout_format=".2f",
            continuous_update=False,
            layout=w.Layout(width="480px"),
        )
        self.sensitivity_slider.add_class("tchexnet-roc-sensitivity")
        self.html = w.HTML()
        self.html.add_class("tchexnet-roc-metrics")
        self.image = w.Image(format="png", layout=w.Layout(width="900px"))
        self.image.add_class("tchexnet-roc-plot")
        self.widget = w.VBox(
            [
                w.HBox([self.model_picker, self.mode_buttons]),
                w.HBox([self.threshold_slider, self.threshold_label]),
                self.sensitivity_slider,
                w.HBox([self.image, self.html]),
            ]
        )
        self.widget.add_class("tchexnet-roc-explorer")

    def _wire(self) -> None:
        self.threshold_slider.observe(self._on_threshold_slider, names="value")
        self.sensitivity_slider.observe(self._on_sensitivity_slider, names="value")
        self.mode_buttons.observe(self._on_mode, names="value")
        self.model_picker.observe(self._on_model, names="value")

    # ---- public API

    @property
    def model(self) -> str:
        """The selected model."""
        return self.model_picker.value

    @property
    def mode(self) -> str:
        """ "fix threshold" or "fix sensitivity"."""
        return self.mode_buttons.value

    def set_threshold(self, threshold: float) -> dict:
        """Switch to "fix threshold" mode at exactly ``threshold``; return the new state."""
        self._threshold = float(threshold)
        with self._sync():
            self.mode_buttons.value = "fix threshold"
            self.threshold_slider.value = self._scale.to_slider(
                self._threshold, self.scores[self.model]
            )
        self._apply_mode_enabling()
        return self._update()

    def set_sensitivity(self, target: float) -> dict:
        """Switch to "fix sensitivity" mode with target ``target`` in (0, 1]; return the state."""
        if not 0 < target <= 1:
            raise ValueError(f"target sensitivity must be in (0, 1], got {target}")
        with self._sync():
            self.mode_buttons.value = "fix sensitivity"
            self.sensitivity_slider.value = float(target)
        self._apply_mode_enabling()
        return self._update()

    def set_mode(self, mode: str) -> dict:
        """Switch mode ("fix threshold" / "fix sensitivity"); return the new state."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode_buttons.value = mode
        return self.state

    def select(self, model: str) -> dict:
        """Select a model; the mode's fixed quantity (threshold or target) is kept."""
        if model not in self.scores:
            raise ValueError(f"unknown model {model!r}; models: {list(self.scores)}")
        self.model_picker.value = model
        return self.state

    # ---- observers

    @contextlib.contextmanager
    def _sync(self):
        """Set controls from code without their observers recomputing the state."""
        self._syncing = True
        try:
            yield
        finally:
            self._syncing = False

    def _on_threshold_slider(self, change: dict) -> None:
        if self._syncing or self.mode != "fix threshold":
            return
        self._threshold = self._scale.to_threshold(change["new"], self.scores[self.model])
        self._update()

    def _on_sensitivity_slider(self, change: dict) -> None:
        if self._syncing or self.mode != "fix sensitivity":
            return
        self._update()

    def _on_mode(self, change: dict) -> None:
        if self._syncing:
            return
        self._apply_mode_enabling()
        self._update()

    def _on_model(self, change: dict) -> None:
        if self._syncing:
            return
        if self.mode == "fix threshold" and self.scale == "quantile":
            self._threshold = self._scale.to_threshold(
                self.threshold_slider.value, self.scores[self.model]
            )
        self._update()

    def _apply_mode_enabling(self) -> None:
        fixed_threshold = self.mode == "fix threshold"
        self.threshold_slider.disabled = not fixed_threshold
        self.sensitivity_slider.disabled = fixed_threshold

    # ---- update

    def _update(self) -> dict:
        """Recompute the state from the controls, then sync the displays."""
        target = self.sensitivity_slider.value if self.mode == "fix sensitivity" else None
        self.state = _operating_state(
            self.y, self.scores[self.model], self.model, self.mode, self._threshold, target
        )
        self._threshold = self.state["threshold"]
        with self._sync():
            scores = self.scores[self.model]
            if self.mode == "fix sensitivity":
                self.threshold_slider.value = self._scale.to_slider(self._threshold, scores)
            elif self.state["sensitivity"] is not None:
                # Rounded down, so switching to "fix sensitivity" keeps (at least) this point.
                reached = math.floor(self.state["sensitivity"] * 100 + 1e-9) / 100
                self.sensitivity_slider.value = max(0.01, reached)
        self.threshold_label.value = (
            f"<code>t = {self._threshold:.4g}</code> <small>({self.scale} scale)</small>"
        )
        self.html.value = self._metrics_html()
        if self.render:
            self._render()
        return self.state

    def _metrics_html(self) -> str:
        s = self.state
        target = (
            ""
            if s["target_sensitivity"] is None
            else f"; target sensitivity ≥ {s['target_sensitivity']:.2f}"
        )
        rows = "".join(
            f"<tr><td>{html.escape(label)}</td><td>{value}</td><td>{fraction}</td></tr>"
            for label, value, fraction in _rate_rows(s)
        )
        return (
            f"<div><b>{html.escape(s['model'])}</b>, threshold "
            f"<code>{s['threshold']:.4g}</code> ({html.escape(s['mode'])}{target})<br>"
            f"n = {s['n']}, {s['n_pos']} positive, {s['n_neg']} negative"
            "<table class='tchexnet-confusion'>"
            "<tr><th></th><th>label +</th><th>label −</th></tr>"
            f"<tr><th>called +</th><td data-count='tp'>TP {s['tp']}</td>"
            f"<td data-count='fp'>FP {s['fp']}</td></tr>"
            f"<tr><th>called −</th><td data-count='fn'>FN {s['fn']}</td>"
            f"<td data-count='tn'>TN {s['tn']}</td></tr></table>"
            f"<table class='tchexnet-rates'>{rows}</table></div>"
        )

    def figure(self) -> Figure:
        """The plot the widget shows now: ROC and PR curves, the current point marked (the
        confusion matrix and rates are in :attr:`html`, not repeated in the plot)."""
        return _explorer_figure(self.y, self.scores, self.state, metrics=False, figsize=(9, 4.4))

    def _render(self) -> None:
        buffer = io.BytesIO()
        FigureCanvasAgg(self.figure()).print_png(buffer)
        self.image.value = buffer.getvalue()
        self.n_renders += 1


def roc_explorer(
    y_true: object, scores: Mapping[str, object], threshold: float = 0.5, **kwargs
) -> ipywidgets.VBox:
    """The ROC explorer widget; see :class:`RocExplorer` (``kwargs`` go to it).

    Returns:
        The ``VBox`` to display; its ``explorer`` attribute is the :class:`RocExplorer`.
    """
    explorer = RocExplorer(y_true, scores, threshold=threshold, **kwargs)
    box = explorer.widget
    box.explorer = explorer
    return box
