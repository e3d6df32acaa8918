"""Honest statistics for a binary finding: ROC AUC with intervals, DeLong, model comparisons.

The paper's test set has 202 images and only 7 Pneumothorax positives, so every AUC here
comes with an interval and every comparison with a paired test. Three rules hold throughout:

* Labels must be exactly 0/1. An uncertain ``-1`` that leaked through, or a NaN, is an error
  naming the bad values, never a silent AUC (scikit-learn's ``roc_auc_score`` given labels
  {-1, 0} treats 0 as the positive class without a warning).
* A set with one class has no AUC. It is reported as *undefined* with its counts, never as
  NaN, 0 or 1.
* Ties count one half (Mann-Whitney), computed through midranks.

References:
    DeLong, DeLong & Clarke-Pearson (1988). Comparing the areas under two or more correlated
    receiver operating characteristic curves: a nonparametric approach. Biometrics 44:837-845.
    Sun & Xu (2014). Fast implementation of DeLong's algorithm for comparing the areas under
    correlated receiver operating characteristic curves. IEEE Signal Processing Letters
    21(11):1389-1393.
    Efron & Tibshirani (1993). An Introduction to the Bootstrap, ch. 13-14 (percentile, BCa).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "AucResult",
    "BootstrapDiff",
    "BootstrapMethod",
    "CiMethod",
    "DelongResult",
    "FEW_POSITIVES",
    "PAPER_AUCS",
    "PAPER_TEST_IMAGES",
    "PAPER_TEST_POSITIVES",
    "auc_warnings",
    "checked_labels_and_scores",
    "checked_pair",
    "compare_models",
    "delong_covariance",
    "delong_placements",
    "delong_test",
    "delong_text",
    "format_auc",
    "format_subgroups",
    "mann_whitney_auc",
    "paired_bootstrap_diff",
    "roc_auc",
    "subgroup_aucs",
]

CiMethod = Literal["delong", "bootstrap"]
BootstrapMethod = Literal["percentile", "bca"]

#: Upper bound on values held by one vectorised bootstrap batch (resamples x cases).
_BOOTSTRAP_BATCH_VALUES = 20_000_000
#: ``format_auc(..., warn=True)`` flags an AUC resting on fewer positives than this.
FEW_POSITIVES = 10
#: The paper's test set: CheXpert valid.csv's 202 frontal images, 7 with Pneumothorax (the
#: one place these facts live; ``operating``, ``power`` and ``doctor`` derive theirs from it).
PAPER_TEST_IMAGES = 202
PAPER_TEST_POSITIVES = 7
#: The tCheXNet paper's published Pneumothorax ROC AUCs on CheXpert's 202 frontal validation
#: images (7 positives); its score files re-scored give 0.6418 and 0.7084, DeLong p ≈ 0.59.
PAPER_AUCS: dict[str, float] = {"CheXNet": 0.642, "tCheXNet": 0.708}


# --------------------------------------------------------------------------- validation


def _validate_labels(y: object, where: str = "labels") -> np.ndarray:
    """Return binary labels as an int8 array, or raise.

    Args:
        y: 1-D labels; bools, ints or floats equal to 0 or 1.
        where: what to call the labels in error messages.

    Returns:
        ``np.ndarray`` of dtype int8, shape (n,).

    Raises:
        ValueError: for labels that are not 1-D or not all 0/1 (e.g. an uncertain -1, NaN);
            the message gives the count and the distinct bad values.
    """
    try:
        arr = np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: labels must be numbers 0/1 ({exc})") from exc
    if arr.ndim != 1:
        raise ValueError(f"{where}: labels must be 1-D, got shape {arr.shape}")
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        values = sorted({float(v) for v in arr[bad]}, key=lambda v: (math.isnan(v), v))
        raise ValueError(
            f"{where}: {int(bad.sum())} of {arr.size} labels are not 0/1 "
            f"(distinct bad values: {values}); map uncertain (-1) and blank labels with an "
            "explicit policy first - never a silent AUC"
        )
    return arr.astype(np.int8)


def _validate_scores(scores: object, n: int, where: str = "scores") -> np.ndarray:
    """Return scores as a finite float64 array of length ``n``, or raise ``ValueError``.

    Args:
        scores: 1-D scores, higher meaning more likely positive.
        n: the number of labels they must line up with.
        where: what to call the scores in error messages.

    Returns:
        ``np.ndarray`` of dtype float64, shape (n,).
    """
    try:
        arr = np.asarray(scores, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: scores must be numbers ({exc})") from exc
    if arr.ndim != 1:
        raise ValueError(f"{where}: scores must be 1-D, got shape {arr.shape}")
    if arr.size != n:
        raise ValueError(f"{where}: {arr.size} scores but {n} labels; they must line up row by row")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{where}: {int(bad.sum())} scores are not finite (first at index {first})"
        )
    return arr


def checked_pair(y: object, scores: object, where: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    """Labels (int8, 0/1) and one model's scores (float64, finite, as many), validated once.

    Raises:
        ValueError: labels not all 0/1, or scores of another length or not finite.
    """
    labels = _validate_labels(y)
    return labels, _validate_scores(scores, labels.size, where)


def checked_labels_and_scores(
    y: object, scores: Mapping[str, object]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Validate labels and several models' scores on them, once, before any metric.

    The entry check of :func:`compare_models`, the figures of :mod:`tchexnet_lib.plotting` and
    the ROC explorer: every later step can trust the arrays it returns.

    Args:
        y: labels 0/1, shape (n,).
        scores: model name -> scores of shape (n,), in the order to report.

    Returns:
        (labels as int8, {name: float64 scores}) in the order of ``scores``.

    Raises:
        ValueError: labels not all 0/1, no model, or a model's scores of another length or not
            finite (the message names the model).
    """
    labels = _validate_labels(y)
    if not scores:
        raise ValueError("scores is empty: give at least one {model name: scores}")
    arrays = {
        name: _validate_scores(s, labels.size, f"scores[{name!r}]") for name, s in scores.items()
    }
    return labels, arrays


def _checked_paired(
    y: object, a: object, b: object, names: tuple[str, str], what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two models' scores for a paired comparison, >= 2 cases per class."""
    labels = _validate_labels(y)
    first, second = (_validate_scores(s, labels.size, name) for s, name in zip((a, b), names))
    _require_two_per_class(labels, what)
    return labels, first, second


def _check_ci(ci: object) -> None:
    """Raise unless ``ci`` names an interval method (or is None)."""
    if ci not in ("delong", "bootstrap", None):
        raise ValueError(f"ci must be 'delong', 'bootstrap' or None, got {ci!r}")


def _counts_text(n_pos: int, n_neg: int) -> str:
    """Name the empty class of a one-class set, e.g. ``"n_pos=0"``."""
    return f"n_pos={n_pos}" if n_pos == 0 else f"n_neg={n_neg}"


def _require_two_per_class(labels: np.ndarray, what: str) -> tuple[int, int]:
    """(n_pos, n_neg) of validated labels; ``ValueError`` when a class has fewer than 2 cases."""
    n_pos, n_neg = _class_counts(labels)
    if n_pos < 2 or n_neg < 2:
        raise ValueError(f"{what} needs >= 2 cases per class (n_pos={n_pos}, n_neg={n_neg})")
    return n_pos, n_neg


# --------------------------------------------------------------------------- AUC


@dataclass(frozen=True)
class AucResult:
    """An ROC AUC with its interval and the counts behind it.

    Attributes:
        auc: the AUC, or None when one class is absent (``defined`` is False).
        ci95: (lower, upper) interval at ``level``, or None (no interval asked for, or
            undefined: DeLong needs at least 2 cases per class).
        n, n_pos, n_neg: cases, positives, negatives.
        method: "delong", "bootstrap-percentile", "bootstrap-bca" or "none".
        defined: False when the set has a single class.
        level: confidence level of ``ci95`` (0.95 unless ``alpha`` was changed).
    """

    auc: float | None
    ci95: tuple[float, float] | None
    n: int
    n_pos: int
    n_neg: int
    method: str
    defined: bool
    level: float = 0.95

    def __str__(self) -> str:
        """:func:`format_auc` with the counts.

        For example ``0.642 (95% CI 0.374–0.910, n=202, 7 positive)``.
        """
        return format_auc(self, counts=True)


class _AucFacts(NamedTuple):
    """What :func:`format_auc` reads, from an :class:`AucResult` or its JSON form."""

    auc: float | None
    ci95: tuple[float, float] | None
    level: float
    n: int | None
    n_pos: int | None
    n_neg: int | None
    ci_asked: bool
    undefined: str | None  # why there is no AUC ("n_pos=0, n_neg=202"); None when defined


def _auc_facts(result: AucResult | Mapping[str, Any]) -> _AucFacts:
    """Read an :class:`AucResult` or a ``{"auc": ..., "ci95": ...}`` mapping alike."""
    fields = asdict(result) if isinstance(result, AucResult) else result
    if not isinstance(fields, Mapping):
        raise TypeError(f"format_auc: expected an AucResult or a mapping, got {type(result)}")
    auc, ci95 = fields.get("auc"), fields.get("ci95")
    n_pos, n_neg = fields.get("n_pos"), fields.get("n_neg")
    undefined = None
    if auc is None:
        both = n_pos is not None and n_neg is not None
        undefined = f"n_pos={n_pos}, n_neg={n_neg}" if both else fields.get("undefined") or ""
    return _AucFacts(
        auc=None if auc is None else float(auc),
        ci95=None if ci95 is None else (float(ci95[0]), float(ci95[1])),
        level=float(fields.get("level", 0.95)),
        n=fields.get("n"),
        n_pos=n_pos,
        n_neg=n_neg,
        ci_asked=fields.get("method") != "none",
        undefined=undefined,
    )


def _auc_warnings(facts: _AucFacts) -> list[str]:
    """Why a defined AUC deserves caution: degenerate, few positives, an interval at a bound."""
    notes = []
    if facts.auc in (0.0, 1.0):
        notes.append(f"degenerate: AUC {facts.auc:.1f}, zero variance")
    if facts.n_pos is not None and facts.n_pos < FEW_POSITIVES:
        notes.append(f"only {facts.n_pos} positive{'' if facts.n_pos == 1 else 's'}")
    if facts.ci95 is not None and facts.auc not in (0.0, 1.0):
        notes += [
            f"interval clipped at {bound:.1f}"
            for bound, at in ((0.0, facts.ci95[0] <= 0.0), (1.0, facts.ci95[1] >= 1.0))
            if at
        ]
    return notes


def auc_warnings(result: AucResult | Mapping[str, Any]) -> list[str]:
    """Why an AUC deserves caution, one phrase each: ``"degenerate: AUC 1.0, zero variance"``
    (exactly 0 or 1: DeLong's interval collapses to a point), ``"only 7 positives"`` (fewer than
    :data:`FEW_POSITIVES`, where the count is known), ``"interval clipped at 1.0"`` (or 0.0:
    DeLong's plain-scale interval ran past the bound and was cut there, so its width
    understates the uncertainty; a bootstrap interval reaching it is flagged alike). Empty
    for an undefined AUC."""
    facts = _auc_facts(result)
    return [] if facts.undefined is not None else _auc_warnings(facts)


def format_auc(
    result: AucResult | Mapping[str, Any],
    *,
    digits: int = 3,
    counts: bool = False,
    warn: bool = False,
) -> str:
    """The one text of an AUC and its interval (printouts, legends, the CLI, the demo).

    Args:
        result: an :class:`AucResult`, or the JSON form of a model in :func:`compare_models`:
            ``{"auc": float | None, "ci95": [lo, hi] | None}`` with an optional ``"undefined"``
            reason (``"n_pos=0"``); optional keys named as :class:`AucResult`'s attributes
            (``n``, ``n_pos``, ``n_neg``, ``level``, ``method``) add what they add there
            (without ``"level"`` the interval is a 95% one).
        digits: decimals of the AUC and of both interval bounds.
        counts: add ``n=202, 7 positive`` (where the counts are known).
        warn: append `` ⚠ ...`` with :func:`auc_warnings`: a degenerate AUC (exactly 0 or 1),
            one resting on fewer than :data:`FEW_POSITIVES` positives (where the count is
            known), an interval clipped at 0 or 1.

    Returns:
        For example (``counts=True`` in brackets)::

            0.642 (95% CI 0.374–0.910)          [0.642 (95% CI 0.374–0.910, n=202, 7 positive)]
            0.667 (no CI)                       [0.667 (n=4, 1 positive; no CI)]
            0.642                               an interval not asked for (method "none")
            undefined (n_pos=0, n_neg=202)      one class only; "undefined (n_pos=0)" from JSON
            1.000 (95% CI 1.000–1.000) ⚠ degenerate: AUC 1.0, zero variance; only 7 positives

        "no CI" means an interval was asked for but cannot be computed (fewer than 2 cases in
        a class).
    """
    facts = _auc_facts(result)
    if facts.undefined is not None:
        return f"undefined ({facts.undefined})" if facts.undefined else "undefined"
    inside = []
    if facts.ci95 is not None:
        lo, hi = facts.ci95
        inside.append(f"{facts.level * 100:g}% CI {lo:.{digits}f}\u2013{hi:.{digits}f}")
    if counts and facts.n is not None and facts.n_pos is not None:
        inside.append(f"n={facts.n}, {facts.n_pos} positive")
    text = ", ".join(inside)
    if facts.ci95 is None and facts.ci_asked:
        text = f"{text}; no CI" if text else "no CI"
    out = f"{facts.auc:.{digits}f}" + (f" ({text})" if text else "")
    notes = _auc_warnings(facts) if warn else []
    return out + (" \u26a0 " + "; ".join(notes) if notes else "")


def mann_whitney_auc(pos: np.ndarray, neg: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """AUC as the Mann-Whitney probability P(pos > neg) + 0.5 P(pos = neg), via midranks.

    Vectorised along ``axis`` so ``scipy.stats.bootstrap`` can call it on a batch of
    resamples. O(N log N) per row rather than O(n_pos * n_neg).

    Args:
        pos: scores of positive cases, shape (..., n_pos).
        neg: scores of negative cases, shape (..., n_neg).
        axis: the case axis.

    Returns:
        The AUC (a float for 1-D input, an array over the other axes otherwise).
    """
    pos = np.moveaxis(np.asarray(pos, dtype=float), axis, -1)
    neg = np.moveaxis(np.asarray(neg, dtype=float), axis, -1)
    m, n = pos.shape[-1], neg.shape[-1]
    lead = np.broadcast_shapes(pos.shape[:-1], neg.shape[:-1])
    pos, neg = np.broadcast_to(pos, lead + (m,)), np.broadcast_to(neg, lead + (n,))
    ranks = stats.rankdata(np.concatenate([pos, neg], axis=-1), axis=-1)
    auc = (ranks[..., :m].sum(axis=-1) - m * (m + 1) / 2) / (m * n)
    return float(auc) if np.ndim(auc) == 0 else auc


def _class_counts(labels: np.ndarray) -> tuple[int, int]:
    """Return (n_pos, n_neg) of validated labels."""
    n_pos = int(labels.sum())
    return n_pos, int(labels.size - n_pos)


def _delong_ci(auc: float, var: float, alpha: float) -> tuple[float, float]:
    """Wald interval AUC +/- z * SE on the plain (not logit) scale, clipped to [0, 1]."""
    half = stats.norm.ppf(1 - alpha / 2) * math.sqrt(max(var, 0.0))
    return float(max(0.0, auc - half)), float(min(1.0, auc + half))


def _bootstrap_ci(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    alpha: float,
    n_resamples: int,
    seed: int,
    method: BootstrapMethod,
) -> tuple[float, float]:
    """Run ``scipy.stats.bootstrap`` with independent samples (hence stratified) and a seed.

    Each sample in ``data`` is resampled on its own, so passing positives and negatives as two
    samples is exactly a stratified bootstrap: every resample keeps both classes at their
    original sizes. A BCa interval that comes out NaN (degenerate bootstrap distribution, e.g.
    perfect separation) is an error rather than a silent NaN.
    """
    n_cases = sum(d.shape[-1] for d in data)
    batch = max(1, min(n_resamples, _BOOTSTRAP_BATCH_VALUES // max(n_cases, 1)))
    res = stats.bootstrap(
        data,
        statistic,
        n_resamples=n_resamples,
        batch=batch,
        vectorized=True,
        confidence_level=1 - alpha,
        method=method,
        rng=np.random.default_rng(seed),
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(
            f"bootstrap ({method}) interval is undefined: the bootstrap distribution is "
            "degenerate (e.g. perfect separation); use method='percentile' or ci='delong'"
        )
    return lo, hi


def roc_auc(
    y: object,
    scores: object,
    ci: CiMethod | None = "delong",
    alpha: float = 0.05,
    n_resamples: int = 2000,
    seed: int = 0,
    bootstrap_method: BootstrapMethod = "percentile",
) -> AucResult:
    """ROC AUC of ``scores`` against binary ``y``, with a confidence interval.

    Args:
        y: labels 0/1, shape (n,). Anything else (an uncertain -1, NaN) raises ``ValueError``.
        scores: finite scores, shape (n,), higher = more likely positive.
        ci: "delong" (DeLong 1988 variance, AUC +/- z*SE on the plain scale, clipped to
            [0, 1]), "bootstrap" (stratified: positives and negatives resampled separately,
            via ``scipy.stats.bootstrap``) or None. Either needs >= 2 cases per class;
            with fewer the AUC is reported without an interval (``ci95`` None).
        alpha: 1 - confidence level.
        n_resamples: bootstrap resamples.
        seed: seeds ``np.random.default_rng`` for the bootstrap.
        bootstrap_method: "percentile" or "bca" (bias-corrected and accelerated).

    Returns:
        An :class:`AucResult`; ``defined`` is False (AUC None) when a class is absent.
    """
    _check_ci(ci)
    labels, s = checked_pair(y, scores)
    return _roc_auc(labels, s, ci, alpha, n_resamples, seed, bootstrap_method)


def _roc_auc(
    labels: np.ndarray,
    s: np.ndarray,
    ci: CiMethod | None = "delong",
    alpha: float = 0.05,
    n_resamples: int = 2000,
    seed: int = 0,
    bootstrap_method: BootstrapMethod = "percentile",
) -> AucResult:
    """:func:`roc_auc` on validated labels and scores (and a valid ``ci``)."""
    n_pos, n_neg = _class_counts(labels)
    level = 1 - alpha
    if n_pos == 0 or n_neg == 0:
        return AucResult(None, None, labels.size, n_pos, n_neg, "none", False, level)
    pos, neg = s[labels == 1], s[labels == 0]
    auc = float(mann_whitney_auc(pos, neg))
    method = {"delong": "delong", "bootstrap": f"bootstrap-{bootstrap_method}", None: "none"}[ci]
    interval = None
    if ci == "delong" and n_pos >= 2 and n_neg >= 2:
        _, cov = _delong_covariance(labels, s[np.newaxis])
        interval = _delong_ci(auc, float(cov[0, 0]), alpha)
    elif ci == "bootstrap" and n_pos >= 2 and n_neg >= 2:
        interval = _bootstrap_ci(
            (pos, neg), mann_whitney_auc, alpha, n_resamples, seed, bootstrap_method
        )
    return AucResult(auc, interval, labels.size, n_pos, n_neg, method, True, level)


# --------------------------------------------------------------------------- DeLong


@dataclass(frozen=True)
class DelongResult:
    """Paired two-sided DeLong test of AUC(a) - AUC(b) on the same cases.

    Attributes:
        auc_a, auc_b: the two AUCs.
        diff: auc_a - auc_b.
        z: diff / SE(diff); None when SE is 0 and the AUCs differ (z undefined).
        p: two-sided p-value; 1.0 when SE is 0 and the AUCs are equal; None with z None.
        ci95_diff: diff +/- z_{1-alpha/2} * SE, clipped to [-1, 1].
    """

    auc_a: float
    auc_b: float
    diff: float
    z: float | None
    p: float | None
    ci95_diff: tuple[float, float]


def delong_text(a: str, b: str, z: float | None, p: float | None) -> str:
    """A paired DeLong result worded the same in every output, its sign stated.

    Args:
        a, b: the models, in the order of the test (``delong_test(y, a, b)``: z > 0 when
            a's AUC is the higher).
        z, p: the test's statistic and p-value (None: undefined).

    Returns:
        e.g. ``"z = (AUC tCheXNet − AUC CheXNet)/SE = 3.25, p = 0.0012"``.
    """
    if z is None or p is None:
        return (
            f"z = (AUC {a} − AUC {b})/SE: z, p undefined (a class with fewer than 2 "
            "cases, or zero variance)"
        )
    return f"z = (AUC {a} − AUC {b})/SE = {z:.2f}, p = {p:.2g}"


def _midranks(x: np.ndarray) -> np.ndarray:
    """Midranks (average ranks of ties, 1-based) along the last axis."""
    return stats.rankdata(x, axis=-1)


def delong_covariance(y: object, scores_matrix: object) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix, by Sun & Xu's (2014) fast midrank algorithm.

    With m positives and n negatives, the structural components are
    V10_i = (Z_i - X_i) / n for positive i and V01_j = 1 - (Z_{m+j} - Y_j) / m for negative j,
    where Z, X, Y are midranks among all cases, positives only and negatives only. Then
    S = cov(V10) / m + cov(V01) / n (sample covariances, ddof=1), as in DeLong et al. (1988).

    Args:
        y: labels 0/1, shape (n_cases,).
        scores_matrix: shape (k, n_cases) for k models on the same cases, or (n_cases,).

    Returns:
        (aucs of shape (k,), covariance of shape (k, k)).

    Raises:
        ValueError: bad labels/scores, or fewer than 2 cases in a class (variance undefined).
    """
    labels = _validate_labels(y)
    mat = np.atleast_2d(np.asarray(scores_matrix, dtype=float))
    if mat.ndim != 2:
        raise ValueError(f"scores_matrix must be (k, n_cases), got shape {mat.shape}")
    for i, row in enumerate(mat):
        _validate_scores(row, labels.size, f"scores_matrix[{i}]")
    _require_two_per_class(labels, "DeLong variance")
    return _delong_covariance(labels, mat)


def delong_placements(y: object, scores_matrix: object) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components ("placements") of k models on the same cases.

    ``v10[:, i]``: the share of negatives positive i outscores (ties count one half);
    ``v01[:, j]``: the share of positives that outscore negative j. Each model's AUC is the
    mean of either; the AUC's variance is ``var(v10) / m + var(v01) / n``, which is how
    :mod:`tchexnet_lib.power` scales a test set's variance to other numbers of cases.

    Returns:
        (v10 of shape (k, m), v01 of shape (k, n)) for m positives and n negatives.
    """
    labels = _validate_labels(y)
    mat = np.atleast_2d(np.asarray(scores_matrix, dtype=float))
    for i, row in enumerate(mat):
        _validate_scores(row, labels.size, f"scores_matrix[{i}]")
    _require_two_per_class(labels, "DeLong placements")
    return _delong_placements(labels, mat)


def _delong_placements(labels: np.ndarray, mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`delong_placements` on validated labels (>= 2 per class) and a (k, n) matrix."""
    n_pos, n_neg = _class_counts(labels)
    pos, neg = mat[:, labels == 1], mat[:, labels == 0]
    z = _midranks(np.concatenate([pos, neg], axis=1))
    v10 = (z[:, :n_pos] - _midranks(pos)) / n_neg
    v01 = 1.0 - (z[:, n_pos:] - _midranks(neg)) / n_pos
    return v10, v01


def _delong_covariance(labels: np.ndarray, mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`delong_covariance` on validated labels (>= 2 per class) and a (k, n) matrix."""
    v10, v01 = _delong_placements(labels, mat)
    aucs = v10.mean(axis=1)
    cov = np.atleast_2d(np.cov(v10)) / v10.shape[1] + np.atleast_2d(np.cov(v01)) / v01.shape[1]
    return aucs, cov


def delong_test(y: object, scores_a: object, scores_b: object, alpha: float = 0.05) -> DelongResult:
    """Two-sided paired DeLong test that two models' AUCs on the same cases are equal.

    Args:
        y: labels 0/1, shape (n,).
        scores_a, scores_b: each model's scores, shape (n,), same case order as ``y``.
        alpha: 1 - confidence level of ``ci95_diff``.

    Returns:
        A :class:`DelongResult` with diff = AUC(a) - AUC(b).

    Raises:
        ValueError: bad inputs, or fewer than 2 cases in a class.
    """
    labels, a, b = _checked_paired(
        y, scores_a, scores_b, ("scores_a", "scores_b"), "DeLong variance"
    )
    return _delong_test(labels, a, b, alpha)


def _delong_test(
    labels: np.ndarray, a: np.ndarray, b: np.ndarray, alpha: float = 0.05
) -> DelongResult:
    """:func:`delong_test` on validated labels (>= 2 per class) and scores."""
    aucs, cov = _delong_covariance(labels, np.vstack([a, b]))
    diff = float(aucs[0] - aucs[1])
    var = max(float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]), 0.0)
    half = stats.norm.ppf(1 - alpha / 2) * math.sqrt(var)
    interval = (float(max(-1.0, diff - half)), float(min(1.0, diff + half)))
    if var > 0:
        z = diff / math.sqrt(var)
        p = float(2 * stats.norm.sf(abs(z)))
    else:
        z, p = (0.0, 1.0) if diff == 0 else (None, None)
    return DelongResult(float(aucs[0]), float(aucs[1]), diff, z, p, interval)


@dataclass(frozen=True)
class BootstrapDiff:
    """A difference of AUCs, AUC(a) - AUC(b), with a stratified paired bootstrap interval.

    Attributes:
        auc_a, auc_b, diff: point estimates on all cases.
        ci95: (lower, upper) at ``level``.
        n_resamples, method, level: how the interval was made.
    """

    auc_a: float
    auc_b: float
    diff: float
    ci95: tuple[float, float]
    n_resamples: int
    method: str
    level: float = 0.95


def paired_bootstrap_diff(
    y: object,
    a: object,
    b: object,
    n_resamples: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    method: BootstrapMethod = "percentile",
) -> BootstrapDiff:
    """AUC(a) - AUC(b) with a stratified, paired bootstrap interval.

    Case indices are resampled within each class (so both classes are always present), and
    the same indices are used for both models (so the pairing is kept).

    Args:
        y: labels 0/1, shape (n,).
        a, b: each model's scores, shape (n,).
        n_resamples: bootstrap resamples.
        seed: seeds ``np.random.default_rng``.
        alpha: 1 - confidence level.
        method: "percentile" or "bca".

    Returns:
        A :class:`BootstrapDiff`.

    Raises:
        ValueError: bad inputs, or fewer than 2 cases in a class.
    """
    labels, sa, sb = _checked_paired(y, a, b, ("a", "b"), "the bootstrap")
    pos_idx, neg_idx = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)

    def statistic(pi: np.ndarray, ni: np.ndarray, axis: int = -1) -> np.ndarray:
        pi, ni = np.asarray(pi).astype(np.intp), np.asarray(ni).astype(np.intp)
        return mann_whitney_auc(sa[pi], sa[ni], axis) - mann_whitney_auc(sb[pi], sb[ni], axis)

    auc_a = float(mann_whitney_auc(sa[pos_idx], sa[neg_idx]))
    auc_b = float(mann_whitney_auc(sb[pos_idx], sb[neg_idx]))
    interval = _bootstrap_ci((pos_idx, neg_idx), statistic, alpha, n_resamples, seed, method)
    return BootstrapDiff(
        auc_a, auc_b, auc_a - auc_b, interval, n_resamples, f"bootstrap-{method}", 1 - alpha
    )


# --------------------------------------------------------------------------- comparison


def _json_model(result: AucResult) -> dict:
    """One model's entry of the ``compare`` JSON contract."""
    if not result.defined:
        return {"auc": None, "ci95": None, "undefined": _counts_text(result.n_pos, result.n_neg)}
    ci95 = None if result.ci95 is None else [float(result.ci95[0]), float(result.ci95[1])]
    notes = auc_warnings(result)
    return {"auc": float(result.auc), "ci95": ci95, **({"warnings": notes} if notes else {})}


def _json_delong(labels: np.ndarray, arrays: Mapping[str, np.ndarray]) -> list[dict]:
    """The pairs of the ``compare`` JSON contract; z and p None where undefined."""
    n_pos, n_neg = _class_counts(labels)
    pairs = []
    for name_a, name_b in itertools.combinations(arrays, 2):
        z = p = None
        if n_pos >= 2 and n_neg >= 2:
            res = _delong_test(labels, arrays[name_a], arrays[name_b])
            z, p = res.z, res.p
        pairs.append({"a": name_a, "b": name_b, "z": z, "p": p})
    return pairs


def compare_models(
    y: object,
    scores: Mapping[str, object],
    ci: CiMethod | None = "delong",
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict:
    """Every model's AUC with interval, and a paired DeLong test for every pair.

    Args:
        y: labels 0/1, shape (n,).
        scores: model name -> scores of shape (n,), in the order to report.
        ci: interval for each AUC ("delong", "bootstrap" or None); pairs are always DeLong.
        n_resamples, seed: for ``ci="bootstrap"``.

    Returns:
        The ``tchexnet compare --json`` contract, plain Python types only::

            {"n": int, "positives": int,
             "models": {NAME: {"auc": float, "ci95": [lo, hi]}},  # + "warnings": [...]
             "delong": [{"a": NAME, "b": NAME, "z": float, "p": float}, ...]}

        Pairs in insertion order (itertools.combinations). An undefined AUC reads
        ``{"auc": None, "ci95": None, "undefined": "n_pos=0"}`` and its pairs have z, p None.
        A model whose AUC deserves caution (:func:`auc_warnings`: exactly 0 or 1, fewer than
        :data:`FEW_POSITIVES` positives, an interval clipped at 0 or 1) also has
        ``"warnings": ["only 7 positives", ...]``.

    Raises:
        ValueError: labels not all 0/1, no model, or scores that do not line up or are not
            finite (see :func:`checked_labels_and_scores`); an unknown ``ci``.
    """
    _check_ci(ci)
    labels, arrays = checked_labels_and_scores(y, scores)
    results = {
        name: _roc_auc(labels, s, ci=ci, n_resamples=n_resamples, seed=seed)
        for name, s in arrays.items()
    }
    return {
        "n": int(labels.size),
        "positives": int(labels.sum()),
        "models": {name: _json_model(r) for name, r in results.items()},
        "delong": _json_delong(labels, arrays),
    }


def _grouping_keys(df: pd.DataFrame, name: str, grouping: object) -> pd.Series:
    """Resolve one ``by`` entry of :func:`subgroup_aucs` to a Series on ``df``'s index."""
    keys = grouping(df) if callable(grouping) else grouping
    if not isinstance(keys, pd.Series):
        keys = pd.Series(np.asarray(keys), index=df.index) if len(keys) == len(df) else None
    if keys is None or not keys.index.equals(df.index):
        raise ValueError(f"subgroup {name!r}: grouping must line up with df's rows (same index)")
    return keys


#: Columns of :func:`subgroup_aucs`, in order.
_SUBGROUP_COLUMNS = [
    "subgroup",
    "value",
    "n",
    "n_pos",
    "auc",
    "ci_lo",
    "ci_hi",
    "defined",
    "warning",
]


def subgroup_aucs(
    df: pd.DataFrame,
    y_col: str,
    score_col: str,
    by: Mapping[str, pd.Series | Callable[[pd.DataFrame], pd.Series]],
    ci: CiMethod | None = "delong",
) -> pd.DataFrame:
    """AUC within each value of each grouping; one-class groups kept as undefined rows.

    Args:
        df: one row per case.
        y_col: column of 0/1 labels.
        score_col: column of scores.
        by: subgroup name -> a Series aligned with ``df`` (same index) or a callable
            ``df -> Series``; missing values form their own group.
        ci: interval method passed to :func:`roc_auc`.

    Returns:
        DataFrame with columns subgroup, value, n, n_pos, auc, ci_lo, ci_hi, defined,
        warning; auc/ci_lo/ci_hi are nullable floats (<NA> where undefined); warning is
        :func:`auc_warnings` joined by "; " ("only 4 positives; interval clipped at 1.0"),
        "" for a row with none and for an undefined one. :func:`format_subgroups` words the
        table for display.
    """
    _check_ci(ci)
    labels, s = checked_pair(df[y_col], df[score_col], score_col)
    rows = []
    for name, grouping in by.items():
        keys = _grouping_keys(df, name, grouping)
        for value, idx in keys.groupby(keys, dropna=False, sort=True).indices.items():
            r = _roc_auc(labels[idx], s[idx], ci=ci)
            lo, hi = r.ci95 if r.ci95 is not None else (None, None)
            rows.append(
                {
                    "subgroup": name,
                    "value": value,
                    "n": r.n,
                    "n_pos": r.n_pos,
                    "auc": r.auc,
                    "ci_lo": lo,
                    "ci_hi": hi,
                    "defined": r.defined,
                    "warning": "; ".join(auc_warnings(r)),
                }
            )
    out = pd.DataFrame(rows, columns=_SUBGROUP_COLUMNS)
    return out.astype({"auc": "Float64", "ci_lo": "Float64", "ci_hi": "Float64"})


def _subgroup_auc_text(row: pd.Series, digits: int) -> tuple[str, str]:
    """(AUC, interval) of one :func:`subgroup_aucs` row as text ("undefined", "—" if absent)."""
    if pd.isna(row["auc"]):
        return "undefined", "\u2014"
    if pd.isna(row["ci_lo"]) or pd.isna(row["ci_hi"]):
        return f"{row['auc']:.{digits}f}", "\u2014"
    return f"{row['auc']:.{digits}f}", f"{row['ci_lo']:.{digits}f}\u2013{row['ci_hi']:.{digits}f}"


def format_subgroups(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A :func:`subgroup_aucs` table worded for display: text only, no raw floats.

    Args:
        table: :func:`subgroup_aucs` output, possibly with extra leading columns (e.g. a
            ``model`` column from ``pd.concat(...).reset_index(level=0)``), kept as text.
        digits: decimals of the AUC and of the interval's bounds.

    Returns:
        DataFrame of strings, the same rows and index, columns: the extra ones, subgroup,
        value ("(missing)" for the group of missing values), n, positives, AUC
        ("undefined" for one class), "95% CI" ("0.512–0.873", "—" when absent), warning
        ("⚠ only 4 positives; interval clipped at 1.0" or "").
    """
    missing = [c for c in _SUBGROUP_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}; pass evaluation.subgroup_aucs(...)")
    texts = [_subgroup_auc_text(row, digits) for _, row in table.iterrows()]
    extra = [c for c in table.columns if c not in _SUBGROUP_COLUMNS]
    keys = table[extra + ["subgroup", "value"]].astype(object)
    out = keys.where(keys.notna(), "(missing)").astype(str)
    out["n"] = table["n"].astype(int).astype(str)
    out["positives"] = table["n_pos"].astype(int).astype(str)
    out["AUC"] = [auc for auc, _ in texts]
    out["95% CI"] = [interval for _, interval in texts]
    out["warning"] = ["\u26a0 " + w if w else "" for w in table["warning"]]
    return out
