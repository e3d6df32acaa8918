"""The study's steps (tchexnet_lib.pipeline) on the tiny demo: what each step reuses.

Features come from complete stores without building CheXNet, and the saved tCheXNet is reused
while its base and head are unchanged. The tiny demo's data and weights come from pytest's
cache (tests/tiny_demo.py).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from tchexnet_lib import backbones, errors, features, files, models, pipeline, results, training
from tchexnet_lib.config import PreprocessConfig
from tests import tiny_demo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("pipeline")
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in tiny_demo.environment(
            base, tiny_demo.cache_folder(request.config)
        ).items():
            patch.setenv(variable, value)
        weights = tiny_demo.prepare()
        yield pipeline.make_study(
            "demo", weights, limit=40, head=training.HeadConfig(epochs=2, seed=0)
        )


def test_complete_feature_stores_are_read_without_building_chexnet(study, monkeypatch):
    first, tables = pipeline.all_features(study, progress=False)
    builds = []
    real = pipeline.load_chexnet
    monkeypatch.setattr(pipeline, "load_chexnet", lambda s: builds.append(s) or real(s))
    again, _ = pipeline.all_features(study, progress=False)
    assert builds == []
    for split in pipeline.SPLITS:
        assert (again[split] == first[split]).all() and len(again[split]) == len(tables[split])
    test = pipeline.test_predictions(study, progress=False)
    assert len(builds) == 1  # CheXNet's own Pneumothorax output needs its last layer
    assert test["CheXNet"].between(0, 1).all() and test["tCheXNet"].between(0, 1).all()


def test_saved_tchexnet_is_reused_until_its_head_changes(study):
    path = pipeline.save_tchexnet_model(study)
    metadata = models.read_metadata(path)
    assert metadata["base_sha256"] == files.sha256_file(study.weights)
    assert metadata["sha256"] == files.sha256_file(path)
    stamp = os.stat(path).st_mtime_ns
    assert pipeline.save_tchexnet_model(study) == path and os.stat(path).st_mtime_ns == stamp
    result = pipeline.train_transfer_head(study, progress=False)
    head = training.build_head()
    head.load_weights(result.best_checkpoint)
    head.layers[-1].bias.assign([0.5])
    other = study.out_dir / "other_head.weights.h5"
    head.save_weights(other)
    result.best_checkpoint = other
    pipeline.save_tchexnet_model(study, result=result)
    assert os.stat(path).st_mtime_ns != stamp
    assert models.read_metadata(path)["head_sha256"] == files.sha256_file(other)


def test_score_images_uses_the_head_it_is_given(study, tmp_path, monkeypatch):
    """Scoring other images reads neither the split CSVs nor the study's stores: their features
    come from their own store, the head is the one given."""
    split_features, tables = pipeline.all_features(study, progress=False)
    result = pipeline.train_transfer_head(study, split_features, tables, progress=False)
    head = pipeline.load_head(study, result.best_checkpoint)
    expected = pipeline.with_scores(
        tables["test"], split_features["test"], pipeline.chexnet_loader(study), head
    )
    stores = study.out_dir / "features"
    moved = stores.rename(tmp_path / "features-away")  # the study's stores: gone while it scores

    def no_csv(_study):
        raise AssertionError("score_images read the study's split CSVs")

    monkeypatch.setattr(pipeline, "split_tables", no_csv)
    try:
        scored = pipeline.score_images(
            study, tables["test"], tmp_path / "store", head, progress=False
        )
        assert not stores.exists()
    finally:
        moved.rename(stores)
    assert (tmp_path / "store" / features.MANIFEST).is_file()
    for name in ("CheXNet", "tCheXNet"):
        np.testing.assert_allclose(scored[name], expected[name], atol=1e-6)
    assert scored["tCheXNet"].std() > 0  # scores that vary: the comparison could fail


def test_require_json_raises_where_files_read_json_returns_none(tmp_path):
    path = tmp_path / "state.json"
    assert files.read_json(path) is None
    with pytest.raises(errors.MissingInputError, match="state.json: missing"):
        pipeline.require_json(path)
    path.write_text("[1, 2]")  # JSON, but not an object
    with pytest.raises(errors.MissingInputError, match="not a JSON object"):
        pipeline.require_json(path)
    files.save_json({"epoch": 3}, path)
    assert pipeline.require_json(path) == files.read_json(path) == {"epoch": 3}


def test_study_json_round_trips(study):
    saved = pipeline.load_study(study.out_dir)
    assert saved == study
    assert saved.backbone == "densenet121" and saved.policy == "zeros"


def test_the_study_runs_on_a_second_backbone(study, tmp_path):
    """split → features → head → compare on MobileNetV2 (random weights, 64 px, 1280-d features).

    Nothing in the steps names DenseNet: the backbone comes from the weight file's sidecar,
    and the store records the width it found. U-Ignore leaves uncertain training labels out.
    """
    chexnet = models.build_chexnet(input_shape=(64, 64, 3), backbone="mobilenet_v2")
    weights = models.save_weights_atomic(chexnet, tmp_path / "mobilenet_chexnet.weights.h5")
    models.save_metadata(weights, chexnet, "random MobileNetV2 CheXNet for the test")
    other = pipeline.make_study(
        "demo",
        weights,
        limit=40,
        out_dir=tmp_path / "study",
        head=training.HeadConfig(epochs=1, seed=0, hidden=32, dropout=0.2),
        options=pipeline.DataOptions(policy="ignore"),
    )
    assert (other.backbone, other.image_size, other.preprocess.normalisation) == (
        "mobilenet_v2",
        (64, 64),
        "tf",
    )
    split_features, tables = pipeline.all_features(other, progress=False)
    assert {split_features[name].shape[1] for name in pipeline.SPLITS} == {1280}
    manifest = files.read_json(other.out_dir / "features" / "train" / "manifest.json")
    assert manifest["n_features"] == 1280
    test = pipeline.test_predictions(other, progress=False)
    summary = results.StudyResult.from_predictions(test, other, seconds=0.0)
    assert set(summary.models) == {"CheXNet", "tCheXNet"} and summary.n_test == len(test)
    assert pipeline.best_head(other).input.shape[-1] == 1280
    assert pipeline.load_study(other.out_dir).policy == "ignore"
    assert pipeline.study_dir("demo", "ignore").name == "demo-ignore"
    saved = pipeline.save_tchexnet_model(other)  # its sidecar names the backbone and the head
    reloaded = models.build_model("tchexnet", saved, input_shape=models.input_shape_for(saved))
    assert backbones.of_model(reloaded).name == "mobilenet_v2"
    assert models.head_architecture(reloaded) == models.HeadArchitecture(hidden=32, dropout=0.2)
    image = tables["test"]["image_path"].tolist()[:2]
    with pytest.raises(ValueError, match="normalisation 'torch' does not fit .* mobilenet_v2"):
        features.extract_features(
            chexnet, image, tmp_path / "wrong", PreprocessConfig(size=(64, 64))
        )
    with pytest.raises(ValueError, match="unknown backbone 'resnet'.*densenet121"):
        dataclasses.replace(other, backbone="resnet")


def test_study_dir_names_every_setting_that_changes_rows_or_labels(monkeypatch, tmp_path):
    """One folder per setting: a quick pass (limit) never overwrites the full run's stores, and
    `tchexnet reproduce` uses the notebooks' folder for the same settings."""
    from tchexnet_lib.tools import reproduce

    monkeypatch.setenv("TCHEXNET_OUTPUT_DIR", str(tmp_path))
    assert pipeline.study_dir("chexpert") == tmp_path / "chexpert"
    assert (
        pipeline.study_dir("chexpert", "ones", "patient", 300)
        == tmp_path / "chexpert-ones-patient-limit300"
    )
    assert reproduce.reproduction_dir() == pipeline.study_dir("chexpert")
    assert reproduce.reproduction_dir("patient", 20) == tmp_path / "chexpert-patient-limit20"
