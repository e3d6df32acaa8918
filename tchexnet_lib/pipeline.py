"""The study's steps, each reusing what the step before it wrote.

The notebooks run these one per lesson; :func:`tchexnet_lib.tools.demo.run_demo` and
``make demo`` run them all. Every step writes under ``outputs/<dataset>/`` and
reads the previous step's output through a loader, recomputing it (with a
message) when it is absent or stale:

``split_tables`` (the paper's recipe, or by patient) → ``features_for`` (the feature
store, one per split, :func:`feature_store`) → ``train_transfer_head`` (the tCheXNet head on cached features) →
``test_predictions`` (CheXNet's zero-shot Pneumothorax output and tCheXNet's on
the test split) → :meth:`tchexnet_lib.results.StudyResult.from_predictions` (the comparison,
``summary.json``).
``score_images`` scores any other table of images with the study's CheXNet and a trained
head (the demo's ablation does).

A :class:`Study` says everything those steps depend on (data, weights, backbone, input
size, uncertainty policy, head settings, row limit); :func:`make_study` writes it as
``study.json`` beside the outputs and :func:`load_study` reads it back.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tchexnet_lib import (
    backbones,
    config,
    data,
    errors,
    features,
    files,
    labels,
    models,
    shipped,
    splits,
    synthetic,
    training,
)

__all__ = [
    "DataOptions",
    "ExtractionPlan",
    "LONG_STEP_SECONDS",
    "PREDICTIONS_KEY",
    "SPLITS",
    "STUDY_FILE",
    "Study",
    "all_features",
    "best_head",
    "chexnet_loader",
    "chexnet_scores_from_features",
    "duration_text",
    "extraction_plan",
    "feature_store",
    "feature_store_dir",
    "features_for",
    "labelled_rows",
    "load_chexnet",
    "load_head",
    "load_predictions",
    "load_study",
    "make_study",
    "require_json",
    "save_predictions",
    "save_tchexnet_model",
    "saved_predictions",
    "score_images",
    "split_tables",
    "study_dir",
    "target_labels",
    "test_predictions",
    "train_transfer_head",
    "with_scores",
]

SPLITS: tuple[str, ...] = ("train", "val", "test")
#: The study's settings, written beside its outputs.
STUDY_FILE = "study.json"
#: What ``predictions.csv`` was computed for (:func:`load_predictions` compares it).
PREDICTIONS_KEY = "predictions.key.json"


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
        backbone: the network under CheXNet's head (:mod:`tchexnet_lib.backbones`);
            the weight file's, DenseNet-121 for CheXNet.
        policy: what uncertain (-1) training labels become (:data:`data.POLICIES`;
            the paper's ``"zeros"``).
        recipe: how train.csv becomes train and val (:data:`splits.RECIPES`): the paper's
            row order (``"paper"``) or :func:`splits.patient_recipe` (``"patient"``).
    """

    dataset: str
    dataset_dir: Path
    weights: Path
    image_size: tuple[int, int]
    out_dir: Path
    head: training.HeadConfig = field(default_factory=training.HeadConfig)
    limit: int | None = None
    backbone: str = backbones.DEFAULT
    policy: str = data.PAPER_POLICY
    recipe: str = "paper"

    def __post_init__(self) -> None:
        backbones.get(self.backbone)  # ValueErrors name the known ones
        data.uncertainty_policy(self.policy)
        if self.recipe not in splits.RECIPES:
            raise ValueError(f"recipe={self.recipe!r}: use one of {splits.RECIPES}")

    @property
    def preprocess(self) -> config.PreprocessConfig:
        """The preprocessing of every model input in this study."""
        return config.PreprocessConfig(
            size=tuple(self.image_size), normalisation=backbones.get(self.backbone).normalisation
        )

    def to_dict(self) -> dict:
        """Plain-JSON form (``study.json``)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return json.loads(json.dumps({**fields, "head": self.head.to_dict()}, default=str))

    def save(self) -> Path:
        """Write ``study.json`` into :attr:`out_dir` (atomically); returns its path."""
        return files.save_json(self.to_dict(), self.out_dir / STUDY_FILE)

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
        return (
            f"dataset: {self.dataset} — {data_note}: {config.display_path(self.dataset_dir)}\n"
            f"{models.describe_weights(self.weights)}\n"
            f"backbone: {self.backbone}; input size: {self.image_size[0]}×{self.image_size[1]}; "
            f"uncertain training labels: {data.uncertainty_policy(self.policy).label}; "
            f"split: {self.recipe} recipe\n"
            f"outputs: {config.display_path(self.out_dir)}"
        )


@dataclass(frozen=True)
class DataOptions:
    """How a study reads its data: where real CheXpert is, and what its labels and splits become.

    Attributes:
        data_dir: the folder holding real ``CheXpert-v1.0-small/`` (default
            :func:`config.data_dir`).
        policy: the uncertainty policy of the training labels (default U-Zeros, the paper's;
            :attr:`Study.policy`).
        recipe: ``"paper"`` or ``"patient"`` (:attr:`Study.recipe`).
    """

    data_dir: str | Path | None = None
    policy: str = data.PAPER_POLICY
    recipe: str = "paper"


def make_study(
    dataset: str | None = None,
    weights: str | Path | None = None,
    head: training.HeadConfig | None = None,
    limit: int | None = None,
    out_dir: str | Path | None = None,
    options: DataOptions = DataOptions(),
    save: bool = True,
) -> Study:
    """Resolve a study's data and weights, failing with one line saying what is missing.

    Args:
        dataset: ``"demo"``, ``"chexpert"`` or None (real CheXpert when on disk, else demo).
        weights: a CheXNet weight file; None takes the registry's ``best_weights.h5``
            for real data, the shipped demo CheXNet (checked) for the demo.
        head: a :class:`tchexnet_lib.training.HeadConfig` (default: the paper's).
        limit: first N rows of each split only.
        out_dir: default :func:`study_dir` (``outputs/<dataset>/`` for the paper's
            settings).
        options: where real CheXpert is, the uncertainty policy and the split recipe
            (:class:`DataOptions`; the paper's by default).
        save: write ``study.json`` (a caller that first compares it with the folder's says no).

    The backbone and input size are the weight file's (its sidecar; DenseNet-121 at 224
    without one). The study is saved as ``study.json`` in ``out_dir``.

    Raises:
        MissingInputError: data or weights not on disk (says where they go).
    """
    dataset = dataset or config.default_dataset()
    if dataset == "demo" and weights is None:
        synthetic.generate_dataset(config.demo_data_dir(), synthetic.DEMO_TARGET)
        weights = shipped.shipped_weights()
    folder = config.require_dataset(dataset, options.data_dir)
    path = models.resolve_weights("chexnet", weights)
    if not path.is_file():
        raise errors.MissingInputError(models.missing_file_message(path))
    study = Study(
        dataset,
        folder,
        path,
        models.input_shape_for(path)[:2],
        Path(out_dir) if out_dir else study_dir(dataset, options.policy, options.recipe, limit),
        head or training.HeadConfig(),
        limit,
        models.backbone_for(path),
        options.policy,
        options.recipe,
    )
    if save:
        study.save()
    return study


def study_dir(
    dataset: str, policy: str = data.PAPER_POLICY, recipe: str = "paper", limit: int | None = None
) -> Path:
    """A study's folder: ``outputs/<dataset>/`` for the paper's settings, with ``-<policy>``,
    ``-<recipe>`` and ``-limit<N>`` added for another uncertainty policy, the patient recipe and
    a row limit (their labels or rows differ, so their feature stores, heads and predictions do).

    The notebooks (:func:`make_study`) and ``tchexnet reproduce`` both use it: on real CheXpert
    they share one folder per setting, hence one feature store per split, and neither
    recomputes the other's hours of extraction; a quick pass with a limit never overwrites the
    full run's stores.
    """
    suffix = "" if policy == data.PAPER_POLICY else f"-{policy}"
    suffix += "" if recipe == "paper" else f"-{recipe}"
    suffix += f"-limit{limit}" if limit else ""
    return config.output_dir(dataset + suffix)


def load_study(out_dir: str | Path) -> Study:
    """The study whose outputs are in ``out_dir``, from its ``study.json``.

    Raises:
        MissingInputError: no ``study.json`` there.
    """
    saved = files.read_json(Path(out_dir) / STUDY_FILE)
    if saved is None:
        raise errors.MissingInputError(
            f"{Path(out_dir) / STUDY_FILE}: no study saved there (pipeline.make_study writes it)"
        )
    paths = {name: Path(saved[name]) for name in ("dataset_dir", "weights", "out_dir")}
    return Study(
        **{
            **saved,
            **paths,
            "image_size": tuple(saved["image_size"]),
            "head": training.HeadConfig(**saved["head"]),
        }
    )


def split_tables(study: Study) -> dict[str, pd.DataFrame]:
    """Train/val from train.csv by the study's recipe (the paper's: 80/20 by row order; or by
    patient, seeded by the head's seed), test = the frontal rows of valid.csv."""
    table = data.read_labels(study.dataset_dir / "train.csv")
    if study.recipe == "paper":
        train, val = splits.paper_split(table, study.policy)
    else:
        train, val = splits.patient_recipe(table, study.policy, seed=study.head.seed)
    test = splits.paper_test_set(data.read_labels(study.dataset_dir / "valid.csv"))
    tables = {"train": train, "val": val, "test": test}
    if study.limit:
        tables = {
            name: table.iloc[: study.limit].reset_index(drop=True) for name, table in tables.items()
        }
    return tables


def load_chexnet(study: Study):
    """The study's CheXNet at its input size, weights checked and loaded."""
    return models.build_chexnet(
        study.weights, input_shape=(*study.image_size, 3), backbone=study.backbone
    )


def chexnet_loader(study: Study):
    """A function that builds the study's CheXNet on its first call and returns it on every call.

    Steps whose feature stores are complete never call it: reading cached features costs
    no model build (about 2 s for DenseNet-121 and its weight file).
    """
    return functools.cache(functools.partial(load_chexnet, study))


def feature_store_dir(study: Study, split: str) -> Path:
    """Where a split's feature store lives: ``<out_dir>/features/<split>/``."""
    return study.out_dir / "features" / split


def feature_store(
    study: Study,
    split: str,
    table: pd.DataFrame | None = None,
    model=None,
    progress: bool = True,
    options: features.ExtractionOptions = features.ExtractionOptions(),
) -> features.FeatureStore:
    """A split's feature store in :func:`feature_store_dir`: extracted, resumed or reused.

    The store is keyed by the weights' sha256, the preprocessing and the rows, so a
    change of any of them recomputes it (see :mod:`tchexnet_lib.features`). ``model``:
    CheXNet, or a :func:`chexnet_loader` (built only if the store must be computed).
    ``options``: how the store is filled (:class:`features.ExtractionOptions`: batch and shard
    sizes, this machine's shard, an ``on_batch`` clock...).
    """
    table = split_tables(study)[split] if table is None else table
    return features.extract_features(
        model or chexnet_loader(study),
        table["image_path"].tolist(),
        feature_store_dir(study, split),
        study.preprocess,
        options,
        study.weights_sha256,
        progress,
    )


#: A step of a notebook estimated to take longer than this (seconds) stops before it starts,
#: unless the notebook's ``ALLOW_LONG`` parameter says to go on.
LONG_STEP_SECONDS = 300.0


def duration_text(seconds: float) -> str:
    """``3 h 44 min``, ``12 min``, ``40 s``."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return f"{round(seconds / 60)} min" if seconds >= 90 else f"{round(seconds)} s"


@dataclass(frozen=True)
class ExtractionPlan:
    """What filling a study's feature stores still costs, said before any extraction starts.

    Attributes:
        pending: rows still to compute, per split (0 for a complete, current store).
        images_per_second: the extractor's speed measured here (None when nothing is pending:
            then nothing was timed).
        timed: how many images were timed.
    """

    pending: dict[str, int]
    images_per_second: float | None = None
    timed: int = 0

    @property
    def seconds(self) -> float:
        """The estimated time of the extraction (0 when nothing is pending)."""
        total = sum(self.pending.values())
        return total / self.images_per_second if total and self.images_per_second else 0.0

    def describe(self) -> str:
        """One line: what is left per split and how long it will take here."""
        total = sum(self.pending.values())
        if not total:
            return "feature stores: every split's store is complete; nothing to extract"
        parts = ", ".join(f"{name} {n:,}" for name, n in self.pending.items())
        return (
            f"feature stores: {total:,} images to extract ({parts}) at "
            f"{self.images_per_second:.1f} img/s measured on {self.timed} images here: "
            f"about {duration_text(self.seconds)}, plus the first batch's tracing"
        )

    def check(self, allow_long: bool, limit_seconds: float = LONG_STEP_SECONDS) -> None:
        """Go on (return) if the extraction is short enough or ``allow_long``; else stop.

        Raises:
            LongStepError: estimated over ``limit_seconds`` and not allowed; the message says
                how long, and which parameters let it go on or shorten it.
        """
        if allow_long or self.seconds <= limit_seconds:
            return
        raise errors.LongStepError(
            f"{self.describe()}. That is more than {duration_text(limit_seconds)}: stopped "
            "before starting. Set ALLOW_LONG = True in the parameters cell to go on (the stores are "
            "resumable: an interrupted run continues where it stopped), or LIMIT = 500 for a "
            "quick pass; `tchexnet reproduce` fills the same stores from a terminal"
        )


def extraction_plan(
    study: Study,
    tables: dict[str, pd.DataFrame],
    chexnet=None,
    sample_images: int = 32,
    options: features.ExtractionOptions = features.ExtractionOptions(),
) -> ExtractionPlan:
    """How many images each split's store still needs and, if any, how fast this machine is.

    Reads the stores' manifests only; when some rows are pending, times the feature extractor
    on the first ``sample_images`` of them (:func:`features.images_per_second`).

    Args:
        study: the study.
        tables: its split tables (:func:`split_tables`).
        chexnet: CheXNet, or a :func:`chexnet_loader` (built only if something is pending).
        sample_images: images timed.
        options: the extraction's options (its ``shard_size`` keys the stores).
    """
    pending, first = {}, []
    for name, table in tables.items():
        paths = table["image_path"].tolist()
        missing = features.missing_blocks(
            feature_store_dir(study, name), paths, study.weights_sha256, options.shard_size
        )
        pending[name] = len(paths) if missing is None else sum(missing.values())
        first += paths[: sample_images - len(first)] if pending[name] else []
    if not first:
        return ExtractionPlan(pending)
    model = chexnet() if callable(chexnet) and not hasattr(chexnet, "layers") else chexnet
    model = model or load_chexnet(study)
    rate = features.images_per_second(model, first, study.preprocess)
    return ExtractionPlan(pending, rate, len(first))


def features_for(
    study: Study,
    split: str,
    table: pd.DataFrame | None = None,
    model=None,
    progress: bool = True,
    options: features.ExtractionOptions = features.ExtractionOptions(),
) -> np.ndarray:
    """A split's CheXNet features (1024-d), from its store (:func:`feature_store`)."""
    return feature_store(study, split, table, model, progress, options).load()


def all_features(
    study: Study,
    progress: bool = True,
    chexnet=None,
    options: features.ExtractionOptions = features.ExtractionOptions(),
) -> tuple[dict, dict]:
    """Features and tables of every split; at most one CheXNet built for all of them.

    ``chexnet``: a :func:`chexnet_loader` to share with later steps (default: a new one);
    ``options``: how the stores are filled (:class:`features.ExtractionOptions`).
    """
    tables = split_tables(study)
    chexnet = chexnet or chexnet_loader(study)
    return {
        name: features_for(study, name, tables[name], chexnet, progress, options) for name in SPLITS
    }, tables


def target_labels(table: pd.DataFrame) -> np.ndarray:
    """The Pneumothorax column as 0/1 (the recipe already applied the uncertainty policy)."""
    return data.check_binary_labels(table[labels.TARGET].to_numpy(), labels.TARGET)


def labelled_rows(split_features: np.ndarray, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Features and 0/1 targets of the rows whose label the policy kept (U-Ignore drops some)."""
    kept = (table[labels.TARGET] != data.IGNORED_LABEL).to_numpy()
    return split_features[kept], target_labels(table[kept])


def train_transfer_head(
    study: Study, features: dict | None = None, tables: dict | None = None, progress: bool = True
):
    """The tCheXNet head on the train split's features, validated on the val split.

    Resumes or reuses a run in ``outputs/<dataset>/head/`` (see
    :func:`tchexnet_lib.training.train_head`). Returns its ``TrainResult``.
    """
    if features is None or tables is None:
        features, tables = all_features(study, progress)
    return training.train_head(
        labelled_rows(features["train"], tables["train"]),
        labelled_rows(features["val"], tables["val"]),
        study.out_dir / "head",
        study.head,
    )


def load_head(study: Study, checkpoint: str | Path):
    """The study's tCheXNet head (its backbone's width, its head settings) with the weights of a
    trained checkpoint (:attr:`training.TrainResult.best_checkpoint`)."""
    head = training.build_head(backbones.get(study.backbone).feature_width, study.head)
    head.load_weights(checkpoint)
    return head


def best_head(study: Study, result=None):
    """The trained head with its best checkpoint loaded (trains it first if needed)."""
    result = result or train_transfer_head(study)
    return load_head(study, result.best_checkpoint)


def chexnet_scores_from_features(chexnet, feature_rows: np.ndarray, finding: str) -> np.ndarray:
    """CheXNet's output for ``finding``, computed from its own cached features.

    CheXNet is base → ``predictions``, so applying that layer to cached features equals
    running the whole model on the images (tested).
    """
    head = chexnet.get_layer(models.CHEXNET_HEAD)
    return np.asarray(head(feature_rows.astype("float32")))[:, labels.chexnet_index(finding)]


def test_predictions(
    study: Study,
    progress: bool = True,
    split_features: dict | None = None,
    tables: dict | None = None,
    chexnet=None,
) -> pd.DataFrame:
    """Test rows with CheXNet's zero-shot and tCheXNet's Pneumothorax scores.

    ``split_features`` and ``tables``: every split's features and rows when the caller has
    them (:func:`all_features` otherwise); ``chexnet``: a :func:`chexnet_loader` to share.

    Returns:
        The test table plus ``CheXNet`` and ``tCheXNet`` columns; also written to
        ``outputs/<dataset>/predictions.csv``.
    """
    chexnet = chexnet or chexnet_loader(study)
    if split_features is None or tables is None:
        split_features, tables = all_features(study, progress, chexnet)
    head = best_head(study, train_transfer_head(study, split_features, tables, progress))
    test = with_scores(tables["test"], split_features["test"], chexnet, head)
    save_predictions(test, study.out_dir / "predictions.csv")
    files.save_json({"key": _predictions_key(study, test)}, study.out_dir / PREDICTIONS_KEY)
    return test


def score_images(
    study: Study, table: pd.DataFrame, store_dir: Path, head, progress: bool = True
) -> pd.DataFrame:
    """Any table of images (``image_path``) scored by the study's CheXNet and a trained head.

    Its features go to a store in ``store_dir`` (reused when current); nothing else of the
    study is read (neither its split CSVs nor their stores). The demo's ablation scores its
    redrawn test images this way.

    Args:
        study: the study (its CheXNet and preprocessing).
        table: the images, an ``image_path`` column.
        store_dir: the feature store of these images.
        head: the trained tCheXNet head (:func:`best_head`, :func:`load_head`).
        progress: the extraction's bars.
    """
    chexnet = chexnet_loader(study)
    store = features.extract_features(
        chexnet,
        table["image_path"].tolist(),
        store_dir,
        study.preprocess,
        weights_sha256=study.weights_sha256,
        progress=progress,
    )
    return with_scores(table, store.load(), chexnet, head)


def with_scores(table: pd.DataFrame, feature_rows: np.ndarray, chexnet, head) -> pd.DataFrame:
    """``table`` plus CheXNet's zero-shot (``CheXNet``) and tCheXNet's (``tCheXNet``) Pneumothorax scores.

    Args:
        table: rows aligned with ``feature_rows``.
        feature_rows: (n, width) CheXNet features of those rows.
        chexnet: a :func:`chexnet_loader` (or a function returning CheXNet).
        head: the trained tCheXNet head (:func:`best_head`).
    """
    return table.assign(
        CheXNet=chexnet_scores_from_features(chexnet(), feature_rows, labels.TARGET),
        tCheXNet=models.predict(head, _row_blocks(feature_rows))[:, 0],
    )


def _row_blocks(rows: np.ndarray, size: int = 4096):
    """``rows`` in blocks of ``size``: a compiled forward over them never builds a tf.data
    pipeline (Keras's array adapter under op determinism logs an ``E0000`` line)."""
    return (rows[start : start + size] for start in range(0, len(rows), size))


def save_predictions(test: pd.DataFrame, path: Path) -> Path:
    """Path, label and scores, atomically."""
    return files.save_table(test[["Path", labels.TARGET, "CheXNet", "tCheXNet"]], path)


def _predictions_key(study: Study, test: pd.DataFrame) -> str:
    """What test predictions depend on: the study (weights' content included) and the rows."""
    return files.sha256_json(
        {
            "study": study.to_dict(),
            "weights_sha256": study.weights_sha256,
            "rows": files.sha256_lines(test["Path"]),
        }
    )


def load_predictions(study: Study, test: pd.DataFrame | None = None) -> pd.DataFrame:
    """Predictions written by :func:`test_predictions` for this study, else computed now.

    Computed (with a message) when ``predictions.csv`` is absent, or was written for other
    rows (another ``limit``), other weights, head settings or uncertainty policy. ``test``:
    the study's test split when the caller already has it (read from valid.csv otherwise).
    """
    path = study.out_dir / "predictions.csv"
    if not path.is_file():
        print(f"{config.display_path(path)} not found: computing the test predictions now")
        return test_predictions(study)
    saved = saved_predictions(study, split_tables(study)["test"] if test is None else test)
    if saved is not None:
        return saved
    print(
        f"{path} was computed for another study (other rows, weights, head or policy): "
        "computing the test predictions again"
    )
    return test_predictions(study)


def saved_predictions(study: Study, test: pd.DataFrame) -> pd.DataFrame | None:
    """``predictions.csv`` if :func:`test_predictions` wrote it for this study and these test
    rows (its key matches), else None."""
    path = study.out_dir / "predictions.csv"
    saved = files.read_json(study.out_dir / PREDICTIONS_KEY) or {}
    if path.is_file() and saved.get("key") == _predictions_key(study, test):
        return pd.read_csv(path)
    return None


def save_tchexnet_model(study: Study, path: Path | None = None, result=None) -> Path:
    """The full tCheXNet (CheXNet's base + the best head) as one weight file with metadata.

    The sidecar records the sha256 of the base weights, of the head checkpoint and of the
    file itself; a file whose three still match is reused, not rebuilt and rewritten.
    """
    result = result or train_transfer_head(study)
    path = Path(path or study.out_dir / "tchexnet.weights.h5")
    sources = {
        "base_sha256": study.weights_sha256,
        "head_sha256": files.sha256_file(result.best_checkpoint),
    }
    if _saved_from(path, sources):
        return path
    model = training.attach_head(load_chexnet(study), result.best_checkpoint, head=study.head)
    path = training.save_tchexnet(model, path)
    base_note = models.read_metadata(study.weights).get("description")
    description = f"tCheXNet trained here on {study.dataset} data, base from {study.weights.name}"
    models.save_metadata(
        path, model, description + (f" ({base_note})" if base_note else ""), **sources
    )
    return path


def _saved_from(path: Path, sources: dict[str, str]) -> bool:
    """Whether ``path`` is a tCheXNet file saved from these base and head weights, intact."""
    if not path.is_file():
        return False
    metadata = models.read_metadata(path)
    return all(metadata.get(key) == value for key, value in sources.items()) and metadata.get(
        "sha256"
    ) == files.sha256_file(path)


def require_json(path: str | Path) -> dict:
    """A JSON output of an earlier step, which must be there (unlike :func:`files.read_json`,
    which returns None for a missing or unreadable file).

    Raises:
        MissingInputError: the file is missing, unreadable or not a JSON object (named).
    """
    saved = files.read_json(path)
    if saved is None:
        raise errors.MissingInputError(
            f"{path}: missing, unreadable or not a JSON object; run the step that writes it first"
        )
    return saved
