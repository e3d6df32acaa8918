"""What a test set of 7 positives can show: resampled small test sets and a power curve.

The paper compared CheXNet (AUC 0.642) with tCheXNet (0.708) on 202 images of which 7 were
positive; the paired DeLong test gives p ≈ 0.59. Was the test set too small to show a gain of
that size, even if it were real? Two answers, both from the scores of a larger test set:

- :func:`resampled_comparisons` draws many test sets of the paper's size (7 positives and
  195 negatives, with replacement) from it and runs the paired DeLong test on each: the
  spread of the AUC differences and of the p-values a 7-positive study can report.
- :func:`power_curve` scales DeLong's variance of the AUC difference to other numbers of
  positives (the variance is ``var(v10) / m + var(v01) / n`` in the placements of
  :func:`evaluation.delong_placements`) and gives the power of a two-sided test at level
  ``alpha`` to detect a given gain (by default the paper's +0.066); :func:`positives_for_power`
  inverts it. The variance components come from the scores given: another pair of models
  on other data has other components, so the curve is an estimate for models like these.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from tchexnet_lib import evaluation

__all__ = [
    "PAPER_GAIN",
    "PAPER_NEGATIVES",
    "PAPER_POSITIVES",
    "positives_for_power",
    "power_curve",
    "resampled_comparisons",
]

#: The paper's test set: CheXpert's 202 frontal validation images, 7 with Pneumothorax.
PAPER_POSITIVES = evaluation.PAPER_TEST_POSITIVES
PAPER_NEGATIVES = evaluation.PAPER_TEST_IMAGES - evaluation.PAPER_TEST_POSITIVES
#: The gain the paper reported: tCheXNet's AUC 0.708 minus CheXNet's 0.642.
PAPER_GAIN = round(evaluation.PAPER_AUCS["tCheXNet"] - evaluation.PAPER_AUCS["CheXNet"], 3)


def resampled_comparisons(
    y: object,
    scores_a: object,
    scores_b: object,
    n_pos: int = PAPER_POSITIVES,
    n_neg: int = PAPER_NEGATIVES,
    n_draws: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Many test sets of ``n_pos`` positives and ``n_neg`` negatives drawn (with replacement)
    from one test set; the paired DeLong test of model a against model b on each.

    Returns:
        One row per draw: ``auc_a``, ``auc_b``, ``difference`` (a - b) and ``p`` (two-sided;
        1.0 where the variance is 0 and the AUCs are equal, e.g. both models perfect on the
        draw; NaN where the variance is 0 and they differ).

    Raises:
        ValueError: bad labels or scores, or a class without cases to draw from.
    """
    labels, a, b = (
        evaluation.checked_pair(y, scores_a)[0],
        np.asarray(scores_a, dtype=float),
        np.asarray(scores_b, dtype=float),
    )
    evaluation.checked_pair(labels, b)
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    if not len(positives) or not len(negatives) or min(n_pos, n_neg) < 2:
        raise ValueError(
            f"resampled_comparisons needs positives and negatives to draw from "
            f"(has {len(positives)} and {len(negatives)}) and draws of at least 2 "
            f"of each (asked {n_pos} and {n_neg})"
        )
    rng = np.random.default_rng(seed)
    drawn_labels = np.r_[np.ones(n_pos, dtype=int), np.zeros(n_neg, dtype=int)]
    rows = []
    for _ in range(n_draws):
        rows_drawn = np.r_[rng.choice(positives, n_pos), rng.choice(negatives, n_neg)]
        test = evaluation.delong_test(drawn_labels, a[rows_drawn], b[rows_drawn])
        rows.append(
            {
                "auc_a": test.auc_a,
                "auc_b": test.auc_b,
                "difference": test.diff,
                "p": np.nan if test.p is None else test.p,
            }
        )
    return pd.DataFrame(rows)


def _variance_components(y: object, scores_a: object, scores_b: object) -> tuple[float, float]:
    """var(v10_a - v10_b) and var(v01_a - v01_b): the paired difference's DeLong components."""
    v10, v01 = evaluation.delong_placements(y, np.vstack([scores_a, scores_b]))
    return float(np.var(v10[0] - v10[1], ddof=1)), float(np.var(v01[0] - v01[1], ddof=1))


def power_curve(
    y: object,
    scores_a: object,
    scores_b: object,
    positives: object = (7, 14, 28, 56, 112, 224),
    gain: float = PAPER_GAIN,
    negatives_per_positive: float = PAPER_NEGATIVES / PAPER_POSITIVES,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Power of the paired DeLong test to detect an AUC ``gain`` with ``m`` positives and
    ``m × negatives_per_positive`` negatives, for each ``m`` in ``positives``.

    The standard error at (m, n) is ``sqrt(s10 / m + s01 / n)`` with the components of
    ``scores_a - scores_b``'s placements on ``y``; power = Φ(|gain| / se − z₁₋α/₂)
    (+ the negligible other tail).

    Returns:
        One row per ``m``: ``positives``, ``negatives``, ``standard_error``, ``power``.
    """
    sizes = np.atleast_1d(np.asarray(positives, dtype=int))
    if (sizes < 1).any():
        raise ValueError(f"positives must be at least 1, got {sizes.tolist()}")
    s10, s01 = _variance_components(y, scores_a, scores_b)
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for m in sizes:
        n = max(int(round(m * negatives_per_positive)), 1)
        se = math.sqrt(s10 / m + s01 / n)
        power = (
            1.0
            if se == 0
            else float(stats.norm.cdf(abs(gain) / se - z) + stats.norm.cdf(-abs(gain) / se - z))
        )
        rows.append({"positives": int(m), "negatives": n, "standard_error": se, "power": power})
    return pd.DataFrame(rows)


def positives_for_power(
    y: object,
    scores_a: object,
    scores_b: object,
    gain: float = PAPER_GAIN,
    power: float = 0.8,
    negatives_per_positive: float = PAPER_NEGATIVES / PAPER_POSITIVES,
    alpha: float = 0.05,
) -> int:
    """The positives (with ``negatives_per_positive`` negatives each) at which the test reaches
    ``power`` for ``gain``: the usual sample-size formula (one tail, unrounded negatives), so
    :func:`power_curve` may reach it one positive earlier."""
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if gain == 0:
        raise ValueError("gain must not be 0: no test set has power to detect no difference")
    s10, s01 = _variance_components(y, scores_a, scores_b)
    needed = (abs(gain) / (stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))) ** 2
    # se² = (s10 + s01 / r) / m  ⇒  m = (s10 + s01 / r) / needed, rounded up
    return max(1, math.ceil((s10 + s01 / negatives_per_positive) / needed))
