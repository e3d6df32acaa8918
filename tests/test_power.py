"""What a 7-positive test set can show (tchexnet_lib.power): resampled test sets, power curves."""

from __future__ import annotations

import numpy as np
import pytest

from tchexnet_lib import evaluation, power


@pytest.fixture(scope="module")
def two_models():
    """Labels and two correlated models' scores: model a better than b by about 0.05 AUC."""
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(60), np.zeros(300)].astype(int)
    shared = rng.normal(size=y.size)
    a = shared + 1.6 * y + 0.5 * rng.normal(size=y.size)
    b = shared + 1.2 * y + 0.5 * rng.normal(size=y.size)
    return y, a, b


def test_resampled_test_sets_have_the_papers_size_and_spread(two_models):
    y, a, b = two_models
    draws = power.resampled_comparisons(y, a, b, n_draws=200, seed=1)
    assert list(draws.columns) == ["auc_a", "auc_b", "difference", "p"] and len(draws) == 200
    assert np.allclose(draws["difference"], draws["auc_a"] - draws["auc_b"])
    whole = evaluation.delong_test(y, a, b)
    assert abs(draws["difference"].median() - whole.diff) < 0.03  # centred on the whole set's
    assert draws["difference"].std() > (whole.ci95_diff[1] - whole.diff) / 1.96  # wider than all
    same = power.resampled_comparisons(y, a, b, n_draws=200, seed=1)
    assert same.equals(draws)  # seeded


def test_power_grows_with_positives_and_matches_the_variance_it_scales(two_models):
    y, a, b = two_models
    curve = power.power_curve(y, a, b, positives=(7, 60, 600), negatives_per_positive=5)
    assert list(curve["positives"]) == [7, 60, 600] and list(curve["negatives"]) == [35, 300, 3000]
    assert curve["power"].is_monotonic_increasing and curve["power"].iloc[-1] > 0.99
    # at the data's own size the standard error is DeLong's of the difference
    whole = evaluation.delong_test(y, a, b)
    se_whole = (whole.ci95_diff[1] - whole.diff) / 1.959964
    assert curve.loc[1, "standard_error"] == pytest.approx(se_whole, rel=1e-6)


def test_positives_for_power_inverts_the_curve(two_models):
    y, a, b = two_models
    needed = power.positives_for_power(y, a, b, gain=0.05, power=0.8, negatives_per_positive=5)
    curve = power.power_curve(
        y, a, b, positives=(needed - 1, needed), gain=0.05, negatives_per_positive=5
    )
    assert curve["power"].iloc[1] >= 0.8 - 1e-3 and curve["power"].iloc[0] < 0.8 + 1e-3
    with pytest.raises(ValueError, match="power"):
        power.positives_for_power(y, a, b, power=1.0)


def test_the_papers_figures():
    assert (power.PAPER_POSITIVES, power.PAPER_NEGATIVES) == (7, 195)
    assert power.PAPER_GAIN == pytest.approx(0.066)
