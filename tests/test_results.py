"""A study's result: built once, rendered by one text and one JSON function, read back from
``summary.json`` files of this version and of earlier ones."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tchexnet_lib import evaluation, labels, pipeline, results
from tchexnet_lib.tools import site

#: summary.json's keys before this module (pipeline.summary_json, then the demo's and
#: reproduce's own), and the one it adds.
OLD_KEYS = {
    "dataset",
    "weights",
    "image_size",
    "weights_sha256",
    "n_test",
    "positives",
    "seconds",
    "models",
    "delong",
}
DEMO_KEYS = {"note", "gradcam"}
REPRODUCE_KEYS = {"paper_auc", "recipe", "limit", "run", "outputs"}
NEW_KEYS = {"delong_pairs"}

CAM = {
    "layer": "relu",
    "map_size": [7, 7],
    "detection_threshold": 0.5,
    "all_positives": {
        "n": 6,
        "pointing_game": 0.8333,
        "peak_inside": 0.5,
        "median_mass_ratio": 3.2,
    },
    "detected_positives": {"n": 0, "pointing_game": None, "peak_inside": None},
}


@pytest.fixture
def study(tmp_path) -> pipeline.Study:
    """A study whose weight file is any bytes: the result reads only its identity."""
    weights = tmp_path / "chexnet.weights.h5"
    weights.write_bytes(b"weights")
    return pipeline.Study("demo", tmp_path / "data", weights, (224, 224), tmp_path / "out")


def scored(n: int = 60, positives: int = 12, seed: int = 0, extra: int = 0) -> pd.DataFrame:
    """Test rows with a label and the scores of CheXNet, tCheXNet and ``extra`` more models."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(positives), np.zeros(n - positives)]
    columns = {"CheXNet": 0.5 * y + rng.random(n), "tCheXNet": 1.5 * y + rng.random(n)}
    columns |= {f"M{i}": y * i + rng.random(n) for i in range(extra)}
    return pd.DataFrame({"Path": [f"p{i}.png" for i in range(n)], labels.TARGET: y, **columns})


def test_the_json_keeps_the_old_keys_and_names_the_new_one(study):
    test = scored()
    demo = results.StudyResult.from_predictions(test, study, 12.34, note="n", gradcam=CAM)
    summary = demo.to_json()
    assert set(summary) == OLD_KEYS | DEMO_KEYS | NEW_KEYS
    assert summary["seconds"] == 12.3 and summary["image_size"] == [224, 224]
    assert (summary["dataset"], summary["weights"]) == ("demo", "demo")
    assert summary["weights_sha256"] == study.weights_sha256
    assert list(summary["models"]) == ["CheXNet", "tCheXNet"]
    compared = evaluation.compare_models(test[labels.TARGET], {"CheXNet": test["CheXNet"]})
    assert summary["models"]["CheXNet"] == compared["models"]["CheXNet"]
    paired = evaluation.delong_test(test[labels.TARGET], test["tCheXNet"], test["CheXNet"])
    assert summary["delong"] == {"a": "tCheXNet", "b": "CheXNet", "z": paired.z, "p": paired.p}
    assert summary["delong_pairs"] == [summary["delong"]]
    assert json.loads(json.dumps(summary)) == summary  # plain JSON types
    assert results.StudyResult.from_json(summary) == demo
    run = {"steps": {"split": 1.0}}
    reproduced = results.StudyResult.from_predictions(
        test, study, 1.0, paper_auc={"CheXNet": 0.642}, recipe="paper", limit=None, run=run
    )
    assert (
        set(reproduced.to_json()) == OLD_KEYS | {"paper_auc", "recipe", "limit", "run"} | NEW_KEYS
    )
    assert reproduced.to_json()["limit"] is None  # written with the recipe, as before
    assert set(results.StudyResult.from_json(reproduced.to_json()).to_json()) <= (
        OLD_KEYS | REPRODUCE_KEYS | NEW_KEYS
    )


def test_an_old_summary_reads_back_and_renders_as_before():
    """Written before ``delong`` named its pair (z = CheXNet − tCheXNet), before Grad-CAM's two
    groups, before ``image_size``, ``weights_sha256`` and ``delong_pairs``."""
    old = {
        "dataset": "demo",
        "weights": "demo",
        "n_test": 30,
        "positives": 9,
        "seconds": 12.0,
        "note": "demo weights trained on synthetic data",
        "models": {
            "CheXNet": {"auc": 0.71, "ci95": [0.52, 0.9]},
            "tCheXNet": {"auc": 0.88, "ci95": [0.75, 1.0]},
        },
        "delong": {"z": -2.1, "p": 0.036},
        "gradcam": {
            "layer": "pool4_relu",
            "map_size": [14, 14],
            "n": 41,
            "pointing_hit_rate": 0.9756,
            "pointing_hit_rate_strict": 0.5366,
            "mass_ratio_median": 6.0,
        },
    }
    result = results.StudyResult.from_json(old)
    assert result.text().splitlines() == [
        "Demo (demo weights trained on synthetic data): Pneumothorax on 30 synthetic test "
        "images, 9 positive, 12 s",
        "  CheXNet   AUC 0.710 (95% CI 0.520–0.900) ⚠ only 9 positives",
        "  tCheXNet  AUC 0.880 (95% CI 0.750–1.000) ⚠ only 9 positives; interval clipped at 1.0",
        "  paired DeLong: z = (AUC CheXNet − AUC tCheXNet)/SE = -2.10, p = 0.036",
        "  Grad-CAM (pool4_relu, 14×14) on 41 detected positives: pointing game (peak within "
        "15 px of the mask) 0.98, peak inside the mask 0.54, median mass ratio 6.0",
    ]
    again = result.to_json()
    assert set(again) == set(old) | {"image_size", "weights_sha256"} | NEW_KEYS
    assert again["delong"] == {"a": "CheXNet", "b": "tCheXNet", "z": -2.1, "p": 0.036}
    assert {k: again[k] for k in old if k != "delong"} == {
        k: v for k, v in old.items() if k != "delong"
    }
    assert results.StudyResult.from_json(again).text() == result.text()
    assert result.text() in site.landing_page({}, {}, old, None, {})


def test_three_models_give_three_pairwise_tests_in_text_and_json(study):
    test = scored(extra=1)
    names = ("CheXNet", "tCheXNet", "M0")
    result = results.StudyResult.from_predictions(test, study, 0.0, models=names)
    summary = result.to_json()
    pairs = [(pair["a"], pair["b"]) for pair in summary["delong_pairs"]]
    assert sorted(pairs) == sorted([("M0", "tCheXNet"), ("M0", "CheXNet"), ("tCheXNet", "CheXNet")])
    assert summary["delong"]["a"] == "tCheXNet" and summary["delong"]["b"] == "CheXNet"
    text = result.text().splitlines()
    said = [line for line in text if line.startswith("  paired DeLong: ")]
    assert len(said) == 3 and "(AUC tCheXNet − AUC CheXNet)" in said[0]  # the headline first
    for pair in summary["delong_pairs"]:
        paired = evaluation.delong_test(test[labels.TARGET], test[pair["a"]], test[pair["b"]])
        assert pair["z"] == pytest.approx(paired.z) and pair["p"] == pytest.approx(paired.p)
        assert any(f"(AUC {pair['a']} − AUC {pair['b']})/SE = {pair['z']:.2f}" in s for s in said)
    assert results.StudyResult.from_json(summary) == result
    landing = site.landing_page({}, {}, summary, None, {})
    assert landing.count("paired DeLong: ") == 3
    compared = evaluation.compare_models(test[labels.TARGET], {n: test[n] for n in names})
    plain = results.StudyResult.from_comparison(compared).text().splitlines()
    assert plain[0] == f"Pneumothorax: n={len(test)}, 12 positive"
    assert sum(line.startswith("  paired DeLong: ") for line in plain) == 3


@pytest.mark.parametrize("positives", [1, 0])
def test_an_undefined_z_renders_everywhere(study, positives):
    """A degenerate test set (one positive: no DeLong z; none: no AUC either) renders in the
    demo's text, reproduce's, the site's and the command's compare, and reads back."""
    test = scored(n=20, positives=positives)
    demo = results.StudyResult.from_predictions(test, study, 3.0, note="n", gradcam=CAM)
    assert demo.headline.z is None and demo.headline.p is None
    reproduced = results.StudyResult.from_predictions(
        test, study, 3.0, paper_auc=dict(evaluation.PAPER_AUCS), recipe="paper", limit=20
    )
    compared = evaluation.compare_models(
        test[labels.TARGET], {"A": test["CheXNet"], "B": test["tCheXNet"]}
    )
    texts = [
        demo.text(),
        reproduced.text(),
        results.StudyResult.from_comparison(compared).text(),
        site.landing_page({}, {}, demo.to_json(), None, {}),
        results.StudyResult.from_json(json.loads(json.dumps(reproduced.to_json()))).text(),
    ]
    for text in texts:
        assert "z, p undefined" in text, text
    assert "first 20 rows of each split" in texts[1] and "paper" in texts[1]
    if positives == 0:
        assert "AUC undefined (n_pos=0" in texts[0]
    assert "on 0 detected positives: no maps" in texts[0]
