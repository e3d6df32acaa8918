"""The embedded default: the whole study offline, on synthetic data and demo weights.

Without CheXpert (11 GB, registration) and without the CheXNet-Keras weights, the
study still runs end to end on the same code path as the real data:

1. :mod:`tchexnet_lib.synthetic` draws a ChestX-ray14-like *source* set (14 labels)
   and a CheXpert-like *target* set (a different exposure curve, noise, AP-portable
   look, more devices, uncertain labels) under ``<data dir>/demo/``.
2. :func:`pretrain_demo_chexnet` trains the real CheXNet architecture (DenseNet-121 +
   ``Dense(14, sigmoid, name="predictions")``, same layer names) from scratch on the
   source set: the stand-in for the CheXNet-Keras weights. **Reduced cost**:
   :data:`DEMO_IMAGE_SIZE` inputs instead of 224×224 and about 1,270 images
   (pneumothorax over-represented, 30% instead of ChestX-ray14's 5%, so a few epochs
   learn its sign), for about six minutes on two CPU cores. Cached in
   ``weights/demo/`` with a manifest, reused on the next run. The transfer runs at
   the same size, as the paper's does (224 both ways): features of a DenseNet
   applied at another scale than it was trained at are much worse for the head
   (measured with generator 1.0: test AUC 0.69 at 128 px vs 0.82 at 64 px for
   weights pretrained at 64; one ``image_size`` now sets both).
3. :func:`run_demo` runs the paper's transfer on the target set: the paper's split
   recipe, features once (:mod:`tchexnet_lib.features`), the tCheXNet head for the
   paper's 10 epochs (:mod:`tchexnet_lib.training`), and CheXNet's zero-shot
   Pneumothorax output against tCheXNet's on a ~200-image test split, by ROC AUC
   with 95% intervals and a paired DeLong test.

Everything said or drawn with these weights says "demo weights trained on synthetic
data": they are not CheXNet and the images are not radiographs.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tchexnet_lib import config, data, evaluation, labels, models, synthetic

#: Input size (height, width) of the demo CheXNet's pretraining and of the transfer.
DEMO_IMAGE_SIZE = (64, 64)
#: The synthetic ChestX-ray14-like pretraining set: pneumothorax over-represented.
DEMO_SOURCE = dataclasses.replace(synthetic.DEMO_SOURCE, n_patients_train=800,
                                  pneumothorax_prevalence=0.3)
#: The synthetic CheXpert-like set: ~2,000 frontal train images, ~200 test images.
DEMO_TARGET = dataclasses.replace(synthetic.DEMO_TARGET, n_patients_train=1100)
#: Said wherever demo weights are used.
DEMO_WEIGHTS_NOTE = "demo weights trained on synthetic data"


@dataclass(frozen=True)
class DemoConfig:
    """Every knob of the demo; the manifest of the cached weights records it.

    Attributes:
        seed: seeds pretraining, the head and every split.
        image_size: model input (height, width) of the pretraining and of the transfer
            (the same: features of a DenseNet applied at another scale are much worse).
        source: the synthetic ChestX-ray14-like pretraining set.
        target: the synthetic CheXpert-like set of the transfer.
        pretrain_epochs: epochs of CheXNet pretraining on the source set.
        pretrain_batch_size: images per pretraining step.
        pretrain_learning_rate: Adam's learning rate for pretraining.
        head_epochs: epochs of the tCheXNet head (the paper's 10).
        class_weight: the head's class weights ("balanced"; "paper" is the original's defect).
    """

    seed: int = 0
    image_size: tuple[int, int] = DEMO_IMAGE_SIZE
    source: synthetic.SyntheticSpec = DEMO_SOURCE
    target: synthetic.SyntheticSpec = DEMO_TARGET
    pretrain_epochs: int = 10
    pretrain_batch_size: int = 16
    pretrain_learning_rate: float = 1e-3
    head_epochs: int = 10
    class_weight: str = "balanced"

    def pretrain_preprocess(self) -> config.PreprocessConfig:
        """The preprocessing of the pretraining's inputs (the transfer's too)."""
        return config.PreprocessConfig(size=tuple(self.image_size))

    def pretrain_key(self) -> dict:
        """What the cached demo weights depend on (a different key retrains them)."""
        return {"seed": self.seed, "image_size": list(self.image_size),
                "generator": synthetic.GENERATOR_VERSION, "source": self.source.to_dict(),
                "epochs": self.pretrain_epochs, "batch_size": self.pretrain_batch_size,
                "learning_rate": self.pretrain_learning_rate}

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return json.loads(json.dumps(asdict(self)))


def demo_data_root() -> Path:
    """Where the synthetic sets live: ``<data dir>/demo/``."""
    return config.data_dir() / "demo"


def demo_weights_dir() -> Path:
    """Where the demo CheXNet weights and their manifest live: ``<weights dir>/demo/``."""
    return config.weights_dir() / "demo"


def ensure_demo_data(cfg: DemoConfig = DemoConfig(), progress: bool = True) -> dict[str, dict]:
    """Draw (or reuse) the source and target sets; returns their manifests by domain."""
    root = demo_data_root()
    return {spec.domain: synthetic.generate_dataset(root, spec, progress=progress)
            for spec in (cfg.source, cfg.target)}


def read_source_labels(dataset_dir: str | Path) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """The synthetic ChestX-ray14 set's train/validation images and 14-class labels.

    Returns:
        (train paths, train labels (n, 14), validation paths, validation labels), the
        labels in :data:`labels.CHEXNET_CLASSES` order; the split follows the set's
        ``train_val_list.txt`` / ``test_list.txt`` as ChestX-ray14 does.
    """
    dataset_dir = Path(dataset_dir)
    table = pd.read_csv(dataset_dir / "labels.csv")
    y = data.check_binary_labels(table[list(labels.CHEXNET_CLASSES)].to_numpy(), "source labels")
    names = table["Path"].map(lambda p: Path(p).name)
    test = set((dataset_dir / "test_list.txt").read_text().split())
    in_test = names.isin(test).to_numpy()
    paths = np.array([str(dataset_dir / p) for p in table["Path"]])
    return (paths[~in_test].tolist(), y[~in_test].astype("float32"),
            paths[in_test].tolist(), y[in_test].astype("float32"))


def demo_weights_path(cfg: DemoConfig = DemoConfig()) -> Path | None:
    """The cached demo CheXNet file if it exists and was trained with ``cfg``'s settings."""
    path = config.weights_dir() / models.DEMO_FILES["chexnet"]
    if path.is_file() and models.read_metadata(path).get("key") == cfg.pretrain_key():
        return path
    return None


def _source_auc(model, paths: list[str], y: np.ndarray, preprocess) -> dict[str, float | None]:
    from tchexnet_lib import images

    scores = models.predict(model, images.make_dataset(paths, preprocess, batch_size=64))
    result = {}
    for index, name in enumerate(labels.CHEXNET_CLASSES):
        auc = evaluation.roc_auc(y[:, index], scores[:, index], ci=None)
        result[name] = None if auc.auc is None else round(float(auc.auc), 4)
    return result


def pretrain_demo_chexnet(cfg: DemoConfig = DemoConfig(), progress: bool = True) -> Path:
    """Train the demo CheXNet on the synthetic source set and cache it in ``weights/demo/``.

    The real CheXNet architecture at ``cfg.image_size``, from scratch (no ImageNet
    download here), Adam and binary cross-entropy on the 14 labels, images streamed
    through :func:`images.make_dataset` (decoded once into an on-disk tf.data cache).
    The weights are written atomically with a sidecar manifest (settings, source data,
    per-class validation AUC, seconds).

    Returns:
        The weight file (``weights/demo/chexnet_demo.weights.h5``).
    """
    import keras

    start = time.perf_counter()
    source_dir = ensure_demo_data(cfg, progress)["source"]["dataset_dir"]
    train_paths, y_train, val_paths, y_val = read_source_labels(source_dir)
    config.set_seed(cfg.seed)
    model = models.build_chexnet(input_shape=(*cfg.image_size, 3))
    model.compile(optimizer=keras.optimizers.Adam(cfg.pretrain_learning_rate),
                  loss="binary_crossentropy")
    out = demo_weights_dir()
    out.mkdir(parents=True, exist_ok=True)
    cache = out / ".pretrain-cache"
    dataset = _cached_training_stream(train_paths, y_train, cfg, cache)
    steps = -(-len(train_paths) // cfg.pretrain_batch_size)
    model.fit(dataset, epochs=cfg.pretrain_epochs, steps_per_epoch=steps, shuffle=False,
              verbose=2 if progress else 0)
    shutil.rmtree(cache, ignore_errors=True)  # decoded images: ~60 MB, not needed any more
    path = models.save_weights_atomic(model, config.weights_dir() / models.DEMO_FILES["chexnet"])
    manifest = {
        "key": cfg.pretrain_key(), "description": DEMO_WEIGHTS_NOTE, "architecture": "chexnet",
        "image_size": list(cfg.image_size),
        "source_dir": source_dir, "n_train": len(train_paths), "n_val": len(val_paths),
        "val_auc": _source_auc(model, val_paths, y_val, cfg.pretrain_preprocess()),
        "seconds": round(time.perf_counter() - start, 1), "sha256": models.sha256sum(path),
    }
    config.save_json(manifest, models.metadata_path(path))
    return path


def _cached_training_stream(paths: list[str], y: np.ndarray, cfg: DemoConfig, cache_dir: Path):
    """Shuffled batches of (image, labels); images decoded once into a tf.data file cache."""
    import tensorflow as tf

    from tchexnet_lib import images

    shutil.rmtree(cache_dir, ignore_errors=True)  # a cache of an interrupted run is partial
    cache_dir.mkdir(parents=True)
    decoded = images.make_dataset(paths, cfg.pretrain_preprocess(), batch_size=64, labels=y).unbatch()
    return (decoded.cache(str(cache_dir / "images"))
            .shuffle(len(paths), seed=cfg.seed, reshuffle_each_iteration=True)
            .batch(cfg.pretrain_batch_size).repeat().prefetch(tf.data.AUTOTUNE))


def ensure_demo_weights(cfg: DemoConfig = DemoConfig(), progress: bool = True) -> Path:
    """The demo CheXNet weights: reused when cached with the same settings, else trained."""
    return demo_weights_path(cfg) or pretrain_demo_chexnet(cfg, progress)


def head_config(cfg: DemoConfig):
    """The tCheXNet head's settings for the demo: the paper's, with ``cfg``'s epochs, class weights, seed."""
    from tchexnet_lib import training

    return training.HeadConfig(epochs=cfg.head_epochs, class_weight=cfg.class_weight, seed=cfg.seed)


@dataclass
class DemoResult:
    """What :func:`run_demo` produced (the summary is also ``summary.json``)."""

    summary: dict
    test: pd.DataFrame = field(repr=False)
    paths: dict[str, Path] = field(default_factory=dict)


def run_demo(cfg: DemoConfig = DemoConfig(), out_dir: str | Path | None = None,
             progress: bool = True) -> DemoResult:
    """The paper's study on the synthetic target set, end to end.

    Draws or reuses the data, pretrains or reuses the demo CheXNet, then runs the
    pipeline's steps (:mod:`tchexnet_lib.pipeline`): features once, the head for
    ``cfg.head_epochs`` epochs, CheXNet vs tCheXNet on the ~200-image test split.

    Args:
        cfg: the demo settings.
        out_dir: where results go (default ``outputs/demo/``).
        progress: show progress bars.

    Returns:
        A :class:`DemoResult`; ``summary.json``, ``predictions.csv``, ``roc.png`` and
        ``contact_sheet.png`` are written under ``out_dir``, and the full demo
        tCheXNet under ``weights/demo/``.
    """
    from tchexnet_lib import pipeline

    start = time.perf_counter()
    manifests = ensure_demo_data(cfg, progress)
    study = pipeline.make_study("demo", ensure_demo_weights(cfg, progress), head=head_config(cfg),
                                out_dir=out_dir)
    features, tables = pipeline.all_features(study, progress)
    result = pipeline.train_transfer_head(study, features, tables, progress)
    test = pipeline.test_predictions(study, progress)
    tchexnet = _publish(pipeline.save_tchexnet_model(study, result=result),
                        config.weights_dir() / models.DEMO_FILES["tchexnet"])
    summary = {**pipeline.summary_json(test, study, time.perf_counter() - start),
               "note": DEMO_WEIGHTS_NOTE}
    paths = _write_outputs(study.out_dir, test, summary, manifests["target"]["dataset_dir"])
    return DemoResult(summary, test, {**paths, "tchexnet_weights": tchexnet})


def _publish(saved: Path, path: Path) -> Path:
    """Copy the study's saved tCheXNet (which the notebooks reuse) and its sidecar to ``path``."""
    for source, target in ((saved, path), (models.metadata_path(saved), models.metadata_path(path))):
        with config.atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    return path


def _write_outputs(out: Path, test: pd.DataFrame, summary: dict, target_dir: str) -> dict:
    from tchexnet_lib import plotting

    scores = {"CheXNet": test["CheXNet"].to_numpy(), "tCheXNet": test["tCheXNet"].to_numpy()}
    figure = plotting.roc_figure(test[labels.TARGET].to_numpy(), scores,
                                 title=f"Pneumothorax, synthetic test set ({DEMO_WEIGHTS_NOTE})")
    sheet = synthetic.contact_sheet(Path(target_dir))
    return {"summary": config.save_json(summary, out / "summary.json"),
            "predictions": out / "predictions.csv",
            "roc": plotting.save_figure(figure, out / "roc.png"),
            "contact_sheet": synthetic.save_contact_sheet(sheet, out / "contact_sheet.png")}


def summary_table(summary: dict) -> str:
    """The short table ``make demo`` prints."""
    lines = [f"Demo ({summary['note']}): Pneumothorax on {summary['n_test']} synthetic test "
             f"images, {summary['positives']} positive, {summary['seconds']:.0f} s"]
    for name, model in summary["models"].items():
        lo, hi = model["ci95"]
        lines.append(f"  {name:<9} AUC {model['auc']:.3f}  (95% CI {lo:.3f}–{hi:.3f})")
    lines.append(f"  paired DeLong: z = {summary['delong']['z']:.2f}, p = {summary['delong']['p']:.3g}")
    return "\n".join(lines)


# ------------------------------------------------------------------ the ablation

#: Where the ablated target set is drawn (under the data dir) and its results go (under outputs).
ABLATION_NAME = "demo-ablation"


def ablated_spec(spec: synthetic.SyntheticSpec, keep_chest_tubes: bool = False) -> synthetic.SyntheticSpec:
    """The target set with every label kept but no pneumothorax drawn.

    Args:
        spec: the intact target set.
        keep_chest_tubes: keep the confounder (chest tubes 8× likelier with a
            pneumothorax); by default tubes get the same rate with and without one,
            so nothing in the images is left that tells the label.
    """
    tubes = {} if keep_chest_tubes else {"chest_tube_with_pneumothorax": spec.chest_tube_without_pneumothorax}
    return dataclasses.replace(spec, draw_pneumothorax=False, **tubes)


def run_ablation(cfg: DemoConfig = DemoConfig(), keep_chest_tubes: bool = False,
                 out_dir: str | Path | None = None, progress: bool = True) -> dict:
    """The demo's transfer on a target set whose images lost the pneumothorax sign.

    Same demo CheXNet, same labels, same recipe, head and test split as
    :func:`run_demo`; only the images differ (:func:`ablated_spec`). If the demo's
    AUC comes from the sign, both models fall to chance here; with
    ``keep_chest_tubes=True`` what is left is what the confounder alone gives.

    Returns:
        The summary (as ``summary.json``, written under ``out_dir``, default
        ``outputs/demo-ablation/``), with ``"ablation"`` saying what was removed.
    """
    from tchexnet_lib import pipeline

    start = time.perf_counter()
    spec = ablated_spec(cfg.target, keep_chest_tubes)
    name = ABLATION_NAME + ("-tubes" if keep_chest_tubes else "")
    manifest = synthetic.generate_dataset(config.data_dir() / name, spec, progress=progress)
    weights = ensure_demo_weights(cfg, progress)
    study = pipeline.Study(
        "demo", Path(manifest["dataset_dir"]), weights, models.input_shape_for(weights)[:2],
        Path(out_dir) if out_dir else config.output_dir(name), head_config(cfg))
    test = pipeline.test_predictions(study, progress)
    removed = "the pneumothorax sign" + ("" if keep_chest_tubes else " and the chest-tube confounder")
    summary = {**pipeline.summary_json(test, study, time.perf_counter() - start),
               "note": DEMO_WEIGHTS_NOTE, "ablation": f"images without {removed}; labels kept"}
    config.save_json(summary, study.out_dir / "summary.json")
    return summary
