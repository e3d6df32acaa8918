"""The study's steps, each reusing what the step before it wrote.

The notebooks run these one per lesson; :func:`tchexnet_lib.demo.run_demo` and
``make demo`` run them all. Every step writes under ``outputs/<dataset>/`` and
reads the previous step's output through a loader, recomputing it (with a
message) when it is absent or stale:

``split_tables`` (the paper's recipe) → ``features_for`` (the feature store, one
per split) → ``train_transfer_head`` (the tCheXNet head on cached features) →
``test_predictions`` (CheXNet's zero-shot Pneumothorax output and tCheXNet's on
the test split) → :mod:`tchexnet_lib.evaluation`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tchexnet_lib import (config, data, errors, evaluation, features, files, labels, models,
                          pretrain, synthetic, training)

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Study:
    """Which data, which weights, where outputs go, and the head's settings.

    Attributes:
        dataset: ``"demo"`` (synthetic) or ``"chexpert"`` (real CheXpert-v1.0-small).
        dataset_dir: the CheXpert-v1.0-small folder (train.csv, valid.csv).
        weights: the CheXNet weight file.
        image_size: model input (height, width); the weights' own (224 for CheXNet).
        out_dir: this study's outputs (``outputs/<dataset>/``).
        head: the head's training settings (the paper's by default).
        limit: use only the first N rows of each split (quick runs); None uses all.
    """

    dataset: str
    dataset_dir: Path
    weights: Path
    image_size: tuple[int, int]
    out_dir: Path
    head: training.HeadConfig = field(default_factory=training.HeadConfig)
    limit: int | None = None

    @property
    def preprocess(self) -> config.PreprocessConfig:
        """The preprocessing of every model input in this study."""
        return config.PreprocessConfig(size=tuple(self.image_size))

    @property
    def is_demo(self) -> bool:
        return self.dataset == "demo"

    @functools.cached_property
    def weights_sha256(self) -> str:
        """sha256 of the CheXNet weight file, hashed once per study (it keys every feature store)."""
        return files.sha256_file(self.weights)

    def describe(self) -> str:
        """Which data and weights are in use, said loudly (notebooks print it in Setup)."""
        data_note = "DEMO data (synthetic, not radiographs)" if self.is_demo else "real CheXpert"
        return (f"dataset: {self.dataset} — {data_note}: {self.dataset_dir}\n"
                f"{models.describe_weights(self.weights)}\n"
                f"input size: {self.image_size[0]}×{self.image_size[1]}; outputs: {self.out_dir}")


def make_study(dataset: str | None = None, weights: str | Path | None = None,
               head=None, limit: int | None = None, out_dir: str | Path | None = None) -> Study:
    """Resolve a study's data and weights, failing with one line saying what is missing.

    Args:
        dataset: ``"demo"``, ``"chexpert"`` or None (real CheXpert when on disk, else demo).
        weights: a CheXNet weight file; None takes the registry's ``best_weights.h5``
            for real data, the shipped demo CheXNet (checked) for the demo.
        head: a :class:`tchexnet_lib.training.HeadConfig` (default: the paper's).
        limit: first N rows of each split only.
        out_dir: default ``outputs/<dataset>/``.

    Raises:
        MissingInputError: data or weights not on disk (says where they go).
    """
    dataset = dataset or config.default_dataset()
    if dataset == "demo" and weights is None:
        synthetic.generate_dataset(config.data_dir() / "demo", synthetic.DEMO_TARGET)
        weights = pretrain.shipped_weights()
    folder = config.require_dataset(dataset)
    path = models.resolve_weights("chexnet", weights)
    if not path.is_file():
        raise errors.MissingInputError(models.missing_file_message(path))
    return Study(dataset, folder, path, models.input_shape_for(path)[:2],
                 Path(out_dir) if out_dir else config.output_dir(dataset),
                 head or training.HeadConfig(), limit)


def split_tables(study: Study) -> dict[str, pd.DataFrame]:
    """The paper's recipe: train/val from train.csv (80/20 by row order), test = frontal valid.csv."""
    train, val = data.paper_split(data.read_labels(study.dataset_dir / "train.csv"))
    test = data.paper_test_set(data.read_labels(study.dataset_dir / "valid.csv"))
    tables = {"train": train, "val": val, "test": test}
    if study.limit:
        tables = {name: table.iloc[: study.limit].reset_index(drop=True)
                  for name, table in tables.items()}
    return tables


def load_chexnet(study: Study):
    """The study's CheXNet at its input size, weights checked and loaded."""
    return models.build_chexnet(study.weights, input_shape=(*study.image_size, 3))


def chexnet_loader(study: Study):
    """A function that builds the study's CheXNet on its first call and returns it on every call.

    Steps whose feature stores are complete never call it: reading cached features costs
    no model build (about 2 s for DenseNet-121 and its weight file).
    """
    return functools.cache(functools.partial(load_chexnet, study))


def features_for(study: Study, split: str, table: pd.DataFrame | None = None,
                 model=None, progress: bool = True) -> np.ndarray:
    """A split's 1024-d CheXNet features, from its store (extracted once, then reused).

    The store is keyed by the weights' sha256, the preprocessing and the rows, so a
    change of any of them recomputes it (see :mod:`tchexnet_lib.features`). ``model``:
    CheXNet, or a :func:`chexnet_loader` (built only if the store must be computed).
    """
    table = split_tables(study)[split] if table is None else table
    store = features.extract_features(
        model or chexnet_loader(study), table["image_path"].tolist(), study.out_dir / "features" / split,
        study.preprocess, weights_sha256=study.weights_sha256, progress=progress)
    return store.load()


def all_features(study: Study, progress: bool = True, chexnet=None) -> tuple[dict, dict]:
    """Features and tables of every split; at most one CheXNet built for all of them.

    ``chexnet``: a :func:`chexnet_loader` to share with later steps (default: a new one).
    """
    tables = split_tables(study)
    chexnet = chexnet or chexnet_loader(study)
    return {name: features_for(study, name, tables[name], chexnet, progress) for name in SPLITS}, tables


def target_labels(table: pd.DataFrame) -> np.ndarray:
    """The Pneumothorax column as 0/1 (the recipe already mapped −1 and blanks to 0)."""
    return data.check_binary_labels(table[labels.TARGET].to_numpy(), labels.TARGET)


def train_transfer_head(study: Study, features: dict | None = None, tables: dict | None = None,
                        progress: bool = True):
    """The tCheXNet head on the train split's features, validated on the val split.

    Resumes or reuses a run in ``outputs/<dataset>/head/`` (see
    :func:`tchexnet_lib.training.train_head`). Returns its ``TrainResult``.
    """
    if features is None or tables is None:
        features, tables = all_features(study, progress)
    return training.train_head(
        features["train"], target_labels(tables["train"]), features["val"],
        target_labels(tables["val"]), study.out_dir / "head", study.head)


def best_head(study: Study, result=None):
    """The trained head with its best checkpoint loaded (trains it first if needed)."""
    result = result or train_transfer_head(study)
    head = training.build_head(config=study.head)
    head.load_weights(result.best_checkpoint)
    return head


def chexnet_scores_from_features(chexnet, feature_rows: np.ndarray, finding: str) -> np.ndarray:
    """CheXNet's output for ``finding``, computed from its own 1024-d features.

    CheXNet is base → ``predictions``, so applying that layer to cached features equals
    running the whole model on the images (tested).
    """
    head = chexnet.get_layer(models.CHEXNET_HEAD)
    return np.asarray(head(feature_rows.astype("float32")))[:, labels.chexnet_index(finding)]


def test_predictions(study: Study, progress: bool = True) -> pd.DataFrame:
    """Test rows with CheXNet's zero-shot and tCheXNet's Pneumothorax scores.

    Returns:
        The test table plus ``CheXNet`` and ``tCheXNet`` columns; also written to
        ``outputs/<dataset>/predictions.csv``.
    """
    chexnet = chexnet_loader(study)
    split_features, tables = all_features(study, progress, chexnet)
    head = best_head(study, train_transfer_head(study, split_features, tables, progress))
    test = with_scores(tables["test"], split_features["test"], chexnet, head)
    save_predictions(test, study.out_dir / "predictions.csv")
    return test


def with_scores(table: pd.DataFrame, feature_rows: np.ndarray, chexnet, head) -> pd.DataFrame:
    """``table`` plus CheXNet's zero-shot (``CheXNet``) and tCheXNet's (``tCheXNet``) Pneumothorax scores.

    Args:
        table: rows aligned with ``feature_rows``.
        feature_rows: (n, 1024) CheXNet features of those rows.
        chexnet: a :func:`chexnet_loader` (or a function returning CheXNet).
        head: the trained tCheXNet head (:func:`best_head`).
    """
    return table.assign(
        CheXNet=chexnet_scores_from_features(chexnet(), feature_rows, labels.TARGET),
        tCheXNet=head.predict(feature_rows, verbose=0)[:, 0])


def save_predictions(test: pd.DataFrame, path: Path) -> Path:
    """Path, label and scores, atomically."""
    return files.save_table(test[["Path", labels.TARGET, "CheXNet", "tCheXNet"]], path)


def load_predictions(study: Study) -> pd.DataFrame:
    """Predictions written by :func:`test_predictions`, or computed now (with a message)."""
    path = study.out_dir / "predictions.csv"
    if path.is_file():
        return pd.read_csv(path)
    print(f"{path} not found: computing the test predictions now")
    return test_predictions(study)


def save_tchexnet_model(study: Study, path: Path | None = None, result=None) -> Path:
    """The full tCheXNet (CheXNet's base + the best head) as one weight file with metadata.

    The sidecar records the sha256 of the base weights, of the head checkpoint and of the
    file itself; a file whose three still match is reused, not rebuilt and rewritten.
    """
    result = result or train_transfer_head(study)
    path = Path(path or study.out_dir / "tchexnet.weights.h5")
    sources = {"base_sha256": study.weights_sha256,
               "head_sha256": files.sha256_file(result.best_checkpoint)}
    if _saved_from(path, sources):
        return path
    model = training.attach_head(load_chexnet(study), result.best_checkpoint)
    path = training.save_tchexnet(model, path)
    base_note = models.read_metadata(study.weights).get("description")
    description = f"tCheXNet trained here on {study.dataset} data, base from {study.weights.name}"
    metadata = {"image_size": list(study.image_size), "architecture": "tchexnet",
                "description": description + (f" ({base_note})" if base_note else ""),
                **sources, "sha256": files.sha256_file(path)}
    files.save_json(metadata, models.metadata_path(path))
    return path


def _saved_from(path: Path, sources: dict[str, str]) -> bool:
    """Whether ``path`` is a tCheXNet file saved from these base and head weights, intact."""
    if not path.is_file():
        return False
    metadata = models.read_metadata(path)
    return (all(metadata.get(key) == value for key, value in sources.items())
            and metadata.get("sha256") == files.sha256_file(path))


def summary_json(test: pd.DataFrame, study: Study, seconds: float) -> dict:
    """The study's result in the form ``outputs/demo/summary.json`` uses."""
    compared = evaluation.compare_models(
        target_labels(test), {"CheXNet": test["CheXNet"], "tCheXNet": test["tCheXNet"]})
    pair = compared["delong"][0]
    return {"dataset": study.dataset, "weights": "demo" if study.is_demo else str(study.weights),
            "image_size": list(study.image_size), "weights_sha256": study.weights_sha256,
            "n_test": compared["n"], "positives": compared["positives"],
            "seconds": round(seconds, 1), "models": compared["models"],
            "delong": {"z": pair["z"], "p": pair["p"]}}


def read_json(path: Path) -> dict:
    """A JSON output of an earlier step."""
    return json.loads(Path(path).read_text())
