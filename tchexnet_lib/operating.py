"""Operating points: thresholds, sensitivity and specificity, PR curves, calibration.

The AUC says how well a model ranks; a clinic uses it at one threshold. Here are the
confusion counts and rates at a threshold (:func:`operating_point`), two ways to choose
one (:func:`youden_threshold`, :func:`threshold_for_sensitivity`), all of them in a table
(:func:`threshold_table`), the precision-recall curve and the calibration curve.

A score is *calibrated* when, among the images scored about p, a share p is positive; only
then does a 0.5 threshold mean "more likely positive than not". :func:`calibration` gives the
reliability table and the Brier score, :func:`expected_calibration_error` one number for the
table, and :func:`fit_platt` a recalibration (Platt scaling) fitted on one split and applied
to another. Inputs are validated once per call (:func:`tchexnet_lib.evaluation.checked_pair`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn import metrics

from tchexnet_lib import evaluation

__all__ = [
    "Calibration",
    "PAPER_TEST_PREVALENCE",
    "Platt",
    "PrCurve",
    "RecalibrationSets",
    "calibration",
    "expected_calibration_error",
    "fit_platt",
    "operating_point",
    "ppv_at_prevalence",
    "pr_curve",
    "recalibration_sets",
    "threshold_for_sensitivity",
    "threshold_table",
    "youden_threshold",
]

#: Pneumothorax's share of the paper's test set: 7 positives in CheXpert's 202 frontal
#: validation images (3.5%). The demo's test set is richer in positives by design.
PAPER_TEST_PREVALENCE = evaluation.PAPER_TEST_POSITIVES / evaluation.PAPER_TEST_IMAGES


def _ratio(num: int, den: int) -> float | None:
    """num / den, or None when den is 0 (an undefined ratio is not NaN)."""
    return num / den if den else None


def ppv_at_prevalence(sensitivity: float, specificity: float, prevalence: float) -> float:
    """The positive predictive value a test of this sensitivity and specificity would have where
    ``prevalence`` of the images are positive (Bayes' rule).

    PPV depends on the prevalence, sensitivity and specificity do not: a threshold chosen on
    the demo's test split (richer in positives by design) calls far more false alarms per true
    positive at CheXpert's 3.5%.
    """
    if not 0 <= prevalence <= 1:
        raise ValueError(f"prevalence must be in [0, 1], got {prevalence}")
    true_positives = sensitivity * prevalence
    called = true_positives + (1 - specificity) * (1 - prevalence)
    return true_positives / called if called else float("nan")


def operating_point(y: object, scores: object, threshold: float) -> dict:
    """Confusion counts and rates at one threshold; positive means ``score >= threshold``.

    Args:
        y: labels 0/1, shape (n,).
        scores: finite scores, shape (n,).
        threshold: decision threshold.

    Returns:
        dict with threshold, tp, fp, tn, fn (ints) and sensitivity, specificity, ppv, npv, f1
        (floats, or None where the denominator is 0).
    """
    labels, s = evaluation.checked_pair(y, scores)
    return _operating_point(labels, s, threshold)


def _operating_point(labels: np.ndarray, s: np.ndarray, threshold: float) -> dict:
    """:func:`operating_point` on validated labels and scores."""
    pred = s >= threshold
    tp = int(np.sum(pred & (labels == 1)))
    fp = int(np.sum(pred & (labels == 0)))
    fn = int(np.sum(~pred & (labels == 1)))
    tn = int(np.sum(~pred & (labels == 0)))
    return {
        "threshold": float(threshold),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def _roc_points(y: object, scores: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score, thresholds decreasing (rule ``>=``).

    The entry check of :func:`youden_threshold` and :func:`threshold_for_sensitivity`: it
    validates ``y`` and ``scores`` and needs both classes.
    """
    labels, s = evaluation.checked_pair(y, scores)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC curve undefined: n_pos={n_pos}, n_neg={n_neg}")
    return metrics.roc_curve(labels, s, drop_intermediate=False)


def youden_threshold(y: object, scores: object) -> float:
    """Threshold maximising Youden's J = sensitivity + specificity - 1 (highest on ties).

    Args:
        y: labels 0/1 with both classes present.
        scores: finite scores, shape (n,).

    Returns:
        A threshold for the rule ``score >= threshold`` (one of the observed scores).
    """
    fpr, tpr, thr = _roc_points(y, scores)
    j = (tpr - fpr)[1:]  # the first point is sklearn's +inf threshold (nothing positive)
    return float(thr[1:][int(np.argmax(j))])


def threshold_for_sensitivity(y: object, scores: object, target: float = 0.9) -> float:
    """The highest threshold whose sensitivity is at least ``target``.

    Args:
        y: labels 0/1 with both classes present.
        scores: finite scores, shape (n,).
        target: required sensitivity in (0, 1].

    Returns:
        A threshold for the rule ``score >= threshold`` (one of the observed scores).
    """
    if not 0 < target <= 1:
        raise ValueError(f"target sensitivity must be in (0, 1], got {target}")
    _, tpr, thr = _roc_points(y, scores)
    return float(thr[int(np.argmax(tpr >= target - 1e-12))])


def threshold_table(
    y: object, scores: object, thresholds: Sequence[float] | None = None
) -> pd.DataFrame:
    """:func:`operating_point` at each threshold, one row each, thresholds ascending.

    Args:
        y: labels 0/1, shape (n,).
        scores: finite scores, shape (n,).
        thresholds: thresholds to tabulate; default every distinct score.

    Returns:
        DataFrame with the keys of :func:`operating_point` as columns; rates are nullable
        floats (<NA> where undefined).
    """
    labels, s = evaluation.checked_pair(y, scores)
    grid = np.unique(s) if thresholds is None else np.sort(np.asarray(thresholds, dtype=float))
    table = pd.DataFrame([_operating_point(labels, s, t) for t in grid])
    rates = ["sensitivity", "specificity", "ppv", "npv", "f1"]
    return table.astype({c: "Float64" for c in rates})


class PrCurve(NamedTuple):
    """Precision-recall curve (scikit-learn's ``precision_recall_curve`` order) and AP."""

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    average_precision: float


def pr_curve(y: object, scores: object) -> PrCurve:
    """Precision-recall curve and average precision (scikit-learn).

    With 7 positives in 202 the chance level of AP is the prevalence (about 0.035), not 0.5.

    Args:
        y: labels 0/1 with at least one positive.
        scores: finite scores, shape (n,).

    Returns:
        :class:`PrCurve`.
    """
    labels, s = evaluation.checked_pair(y, scores)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0:
        raise ValueError(f"precision-recall undefined: n_pos=0 (n_neg={n_neg})")
    precision, recall, thr = metrics.precision_recall_curve(labels, s)
    return PrCurve(precision, recall, thr, float(metrics.average_precision_score(labels, s)))


class Calibration(NamedTuple):
    """Reliability table and Brier score."""

    table: pd.DataFrame
    brier_score: float


def calibration(y: object, scores: object, n_bins: int = 10) -> Calibration:
    """Reliability table on ``n_bins`` equal-width bins of [0, 1], and the Brier score.

    Args:
        y: labels 0/1, shape (n,).
        scores: probabilities in [0, 1], shape (n,).
        n_bins: number of bins; a score equal to 1 falls in the last bin.

    Returns:
        :class:`Calibration`; the table has columns bin_lo, bin_hi, n, n_pos, mean_score,
        observed_rate, one row per bin (empty bins kept, their means <NA>).
    """
    labels, s = evaluation.checked_pair(y, scores)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if s.size and (s.min() < 0 or s.max() > 1):
        raise ValueError(
            f"calibration needs probabilities in [0, 1]; scores span {s.min()}..{s.max()}"
        )
    edges = np.arange(n_bins + 1) / n_bins  # exact 0.6 etc., unlike linspace's 0.6000000000000001
    which = np.clip(np.digitize(s, edges[1:-1], right=False), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        in_bin = which == b
        n = int(in_bin.sum())
        rows.append(
            {
                "bin_lo": edges[b],
                "bin_hi": edges[b + 1],
                "n": n,
                "n_pos": int(labels[in_bin].sum()),
                "mean_score": s[in_bin].mean() if n else None,
                "observed_rate": labels[in_bin].mean() if n else None,
            }
        )
    table = pd.DataFrame(rows).astype({"mean_score": "Float64", "observed_rate": "Float64"})
    return Calibration(table, float(np.mean((s - labels) ** 2)))


def expected_calibration_error(y: object, scores: object, n_bins: int = 10) -> float:
    """Expected calibration error: each bin's |mean score − observed rate|, weighted by the
    bin's share of the images (the bins of :func:`calibration`; empty bins weigh nothing).

    Args:
        y: labels 0/1, shape (n,) with n ≥ 1.
        scores: probabilities in [0, 1], shape (n,).
        n_bins: equal-width bins of [0, 1].

    Returns:
        The ECE in [0, 1]; 0 when every bin's positives match its mean score.
    """
    table = calibration(y, scores, n_bins).table
    filled = table[table["n"] > 0]
    if filled.empty:
        raise ValueError("expected calibration error undefined: no scores")
    gaps = (filled["mean_score"] - filled["observed_rate"]).abs().astype(float)
    return float((filled["n"] * gaps).sum() / filled["n"].sum())


#: Scores are clipped to [ε, 1 − ε] before their logit: a float32 sigmoid can round to 1.0.
_LOGIT_EPS = 1e-7


def _logit(scores: np.ndarray) -> np.ndarray:
    """log(p / (1 − p)) of probabilities clipped away from 0 and 1."""
    return special.logit(np.clip(scores, _LOGIT_EPS, 1 - _LOGIT_EPS))


class Platt(NamedTuple):
    """A fitted Platt scaling: calibrated = sigmoid(slope · logit(score) + intercept).

    A slope below 1 shrinks over-confident scores towards the middle; the intercept moves
    them all towards the prevalence the scaling was fitted at.
    """

    slope: float
    intercept: float
    prevalence: float

    def apply(self, scores: object) -> np.ndarray:
        """The recalibrated probabilities of ``scores`` (probabilities in [0, 1])."""
        s = np.asarray(scores, dtype=float)
        if s.size and (np.nanmin(s) < 0 or np.nanmax(s) > 1 or np.isnan(s).any()):
            raise ValueError("Platt scaling needs probabilities in [0, 1]")
        return special.expit(self.slope * _logit(s) + self.intercept)


def fit_platt(y: object, scores: object) -> Platt:
    """Platt scaling fitted to labels ``y``: the slope and intercept on the scores' logit that
    minimise the log loss, with Platt's (1999) targets (N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2) in
    place of 1 and 0, so that a split the scores separate perfectly still gets a finite fit.

    Fit it on one split (validation) and judge it on another (test): on the split it was
    fitted to, it is calibrated by construction. It changes no ranking (AUC unchanged); it
    carries the prevalence of the split it was fitted on, so at another prevalence its
    probabilities are off again (``Platt.prevalence`` says which).

    Args:
        y: labels 0/1 with both classes present.
        scores: probabilities in [0, 1], shape (n,).

    Returns:
        :class:`Platt`.
    """
    labels, s = evaluation.checked_pair(y, scores)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"Platt scaling needs both classes: n_pos={n_pos}, n_neg={n_neg}")
    if s.min() < 0 or s.max() > 1:
        raise ValueError(
            f"Platt scaling needs probabilities in [0, 1]; scores span {s.min()}..{s.max()}"
        )
    x = _logit(s)
    target = np.where(labels == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def loss_and_gradient(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = params[0] * x + params[1]
        # mean cross-entropy of sigmoid(z) against target, in a form that never overflows
        loss = np.mean(np.logaddexp(0, z) - target * z)
        residual = special.expit(z) - target
        return float(loss), np.array([np.mean(residual * x), np.mean(residual)])

    fit = optimize.minimize(loss_and_gradient, np.array([1.0, 0.0]), jac=True, method="BFGS")
    return Platt(float(fit.x[0]), float(fit.x[1]), n_pos / labels.size)


class RecalibrationSets(NamedTuple):
    """Where a recalibration is fitted and where it is judged (see :func:`recalibration_sets`)."""

    fitted_on: str
    judged_on: str
    y_fit: np.ndarray
    scores_fit: dict[str, np.ndarray]
    judged: np.ndarray


def _counted(where: str, y: np.ndarray) -> str:
    """``where (n images, k positive)``."""
    return f"{where} ({y.size} images, {int(y.sum())} positive)"


def recalibration_sets(
    y_val: object,
    scores_val: Mapping[str, object],
    y_test: object,
    scores_test: Mapping[str, object],
    min_per_class: int = 2,
    seed: int = 0,
) -> RecalibrationSets:
    """The images a recalibration is fitted on, and the test rows it is judged on.

    The validation split when it holds at least ``min_per_class`` positives and negatives
    (all test rows judged); otherwise, as in a quick run on the first rows of each split,
    half of the test split's positives and half of its negatives, drawn with ``seed``, the
    other half judged. ``fitted_on`` and ``judged_on`` say which, in words for a notebook.

    Args:
        y_val, y_test: labels 0/1.
        scores_val, scores_test: model name -> probabilities, aligned with the labels.

    Returns:
        :class:`RecalibrationSets`; ``judged`` is a boolean mask over the test rows.
    """
    val_labels, val_arrays = evaluation.checked_labels_and_scores(y_val, scores_val)
    test_labels, test_arrays = evaluation.checked_labels_and_scores(y_test, scores_test)
    n_pos = int(val_labels.sum())
    if min(n_pos, val_labels.size - n_pos) >= min_per_class:
        return RecalibrationSets(
            _counted("the validation split", val_labels),
            _counted("the test split", test_labels),
            val_labels,
            val_arrays,
            np.ones(test_labels.size, dtype=bool),
        )
    rng = np.random.default_rng(seed)
    fit = np.zeros(test_labels.size, dtype=bool)
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(test_labels == label))
        fit[rows[: rows.size // 2]] = True
    fitted_on = (
        _counted("half of the test split", test_labels[fit]) + ", since the "
        f"validation split has {n_pos} positives and {val_labels.size - n_pos} negatives"
    )
    return RecalibrationSets(
        fitted_on,
        _counted("the other half", test_labels[~fit]),
        test_labels[fit],
        {m: s[fit] for m, s in test_arrays.items()},
        ~fit,
    )
