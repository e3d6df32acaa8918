"""The demo CheXNet: pretrained once by the project on a synthetic ChestX-ray14, and shipped.

Without the CheXNet-Keras weights, the demo still needs a CheXNet: the real
architecture (DenseNet-121 + ``Dense(14, sigmoid, name="predictions")``) trained on
:mod:`tchexnet_lib.synthetic`'s ChestX-ray14-like *source* set. Training it costs tens
of minutes on a CPU, and its numbers would differ from host to host (float reductions
differ by CPU), so the project trains it **once** with :func:`pretrain`
(``tchexnet demo pretrain``) and ships the file under ``weights/demo/`` with a manifest
(sha256, generator version, the full config, command, wall time, machine, per-finding
source AUCs). :func:`tchexnet_lib.shipped.shipped_weights` hands it out after checking both the sha256 and
the generator version; nothing else ever pretrains the default demo.

The recipe is **progressive resizing** (fast.ai's trick for training at a large size
cheaply): most epochs at a low input size, the last ones at the paper's 224×224, so
the shipped weights are used at 224 like the real ones. The network is built with
an unspecified input size (DenseNet-121 + global average pooling accepts any size
from 32 px), so one model, its optimizer state and its BatchNorm statistics carry
through the stages. One checkpoint (model + optimizer, a ``.keras`` file written
atomically) and one state file naming it per epoch make an interrupted run resume at the last
complete epoch, with the same per-epoch shuffles as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tchexnet_lib import (
    config,
    data,
    evaluation,
    files,
    images,
    labels,
    machine,
    models,
    shipped,
    synthetic,
)

__all__ = [
    "DEMO_SOURCE",
    "PretrainConfig",
    "Stage",
    "pretrain",
    "read_source_labels",
    "save_model_weights",
    "source_aucs",
]

#: The synthetic ChestX-ray14-like pretraining set (~1,600 train, ~320 validation images):
#: pneumothorax over-represented (30% instead of ChestX-ray14's 5%) so its sign is learnt.
DEMO_SOURCE = dataclasses.replace(
    synthetic.DEMO_SOURCE, n_patients_train=1000, n_patients_valid=200, pneumothorax_prevalence=0.3
)
_STATE = "state.json"


@dataclass(frozen=True)
class Stage:
    """Epochs at one input size and learning rate.

    Attributes:
        size: input height and width in pixels (≥ 32).
        epochs: epochs at this size.
        learning_rate: Adam's learning rate during these epochs.
    """

    size: int
    epochs: int
    learning_rate: float

    @classmethod
    def parse(cls, text: str) -> Stage:
        """``"SIZE:EPOCHS:LR"``, e.g. ``"128:6:1e-3"`` (the command line's form)."""
        try:
            size, epochs, rate = text.split(":")
            stage = cls(int(size), int(epochs), float(rate))
        except ValueError:
            raise ValueError(f"stage {text!r}: expected SIZE:EPOCHS:LR, e.g. 128:6:1e-3") from None
        if stage.size < 32 or stage.epochs < 1 or not stage.learning_rate > 0:
            raise ValueError(f"stage {text!r}: size ≥ 32, epochs ≥ 1 and a positive rate needed")
        return stage


#: The shipped recipe: 8 epochs at 128 px (the last two at a lower rate), then 2 at 224 px.
DEFAULT_STAGES = (Stage(128, 6, 1e-3), Stage(128, 2, 3e-4), Stage(224, 2, 1e-4))


@dataclass(frozen=True)
class PretrainConfig:
    """Everything the demo CheXNet's pretraining depends on (its manifest records it).

    Attributes:
        seed: seeds the initial weights and every epoch's shuffle.
        source: the synthetic ChestX-ray14-like set.
        stages: the progressive-resizing schedule, in order.
        batch_size: images per step.
        eval_size: input size of the per-epoch validation AUCs (the size it is used at).
    """

    seed: int = 0
    source: synthetic.SyntheticSpec = DEMO_SOURCE
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    batch_size: int = 16
    eval_size: int = 224

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("PretrainConfig.stages: at least one stage is needed")
        if self.source.domain != "source":
            raise ValueError("PretrainConfig.source must be a domain='source' SyntheticSpec")

    def schedule(self) -> list[Stage]:
        """One entry per epoch: its size and learning rate (``epochs`` = 1)."""
        return [Stage(s.size, 1, s.learning_rate) for s in self.stages for _ in range(s.epochs)]

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return json.loads(json.dumps(asdict(self)))

    def key(self) -> dict:
        """What the weights depend on: the config and the generator that drew the images."""
        return {"generator": synthetic.GENERATOR_VERSION, "config": self.to_dict()}


def read_source_labels(
    dataset_dir: str | Path,
) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """The synthetic ChestX-ray14 set's train/validation images and 14-class labels.

    Returns:
        (train paths, train labels (n, 14), validation paths, validation labels), the
        labels in :data:`labels.CHEXNET_CLASSES` order; the split follows the set's
        ``train_val_list.txt`` / ``test_list.txt`` as ChestX-ray14 does.
    """
    dataset_dir = Path(dataset_dir)
    table = pd.read_csv(dataset_dir / "labels.csv")
    y = data.check_binary_labels(table[list(labels.CHEXNET_CLASSES)].to_numpy(), "source labels")
    in_test = (
        table["Path"]
        .map(lambda p: Path(p).name)
        .isin(set((dataset_dir / "test_list.txt").read_text().split()))
        .to_numpy()
    )
    paths = np.array([str(dataset_dir / p) for p in table["Path"]])
    return (
        paths[~in_test].tolist(),
        y[~in_test].astype("float32"),
        paths[in_test].tolist(),
        y[in_test].astype("float32"),
    )


def source_aucs(model, paths: list[str], y: np.ndarray, size: int) -> dict[str, float | None]:
    """Per-finding ROC AUC of ``model`` on source images at ``size`` px (None: one class only)."""
    preprocess = config.PreprocessConfig(size=(size, size))
    scores = models.predict(model, images.make_dataset(paths, preprocess, batch_size=32))
    result = {}
    for index, name in enumerate(labels.CHEXNET_CLASSES):
        auc = evaluation.roc_auc(y[:, index], scores[:, index], ci=None)
        result[name] = None if auc.auc is None else round(float(auc.auc), 4)
    return result


def _mean_auc(aucs: dict[str, float | None]) -> float:
    return round(float(np.mean([v for v in aucs.values() if v is not None])), 4)


def _fresh_model(cfg: PretrainConfig):
    import keras

    config.set_seed(cfg.seed)
    model = models.build_chexnet(input_shape=(None, None, 3))
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.stages[0].learning_rate), loss="binary_crossentropy"
    )
    return model


def _resume(work_dir: Path, cfg: PretrainConfig, progress: bool):
    """(model, history) from the last complete epoch in ``work_dir``, or a fresh start."""
    import keras

    state_file = work_dir / _STATE
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    checkpoint = work_dir / state.get("checkpoint", "none")
    if state.get("key") == cfg.key() and checkpoint.is_file():
        if progress:
            print(f"resuming the pretraining after epoch {len(state['history'])} ({work_dir})")
        config.set_seed(cfg.seed + len(state["history"]))
        return keras.saving.load_model(checkpoint, safe_mode=True), state["history"]
    return _fresh_model(cfg), []


class _StreamCache:
    """One decoded-image cache per input size (a tf.data file cache, rebuilt each process)."""

    def __init__(self, paths: list[str], y: np.ndarray, folder: Path) -> None:
        self.paths, self.y, self.folder, self.cached = paths, y, folder, {}

    def epoch(self, size: int, seed: int, batch_size: int):
        """This epoch's batches at ``size``: shuffled with ``seed`` (so a resume repeats them)."""
        import tensorflow as tf

        if size not in self.cached:
            folder = self.folder / f"cache-{size}"
            shutil.rmtree(folder, ignore_errors=True)  # a cache of an interrupted run is partial
            folder.mkdir(parents=True)
            decoded = images.make_dataset(
                self.paths, config.PreprocessConfig(size=(size, size)), batch_size=64, labels=self.y
            ).unbatch()
            self.cached[size] = decoded.cache(str(folder / "images"))
        steps = -(-len(self.paths) // batch_size)
        return (
            self.cached[size]
            .shuffle(len(self.paths), seed=seed, reshuffle_each_iteration=False)
            .batch(batch_size)
            .apply(tf.data.experimental.assert_cardinality(steps))
            .prefetch(tf.data.AUTOTUNE)
        )


def _save_epoch(model, work_dir: Path, cfg: PretrainConfig, history: list[dict]) -> None:
    """This epoch's checkpoint (model + optimizer), then the state naming it, then the older one goes.

    Each write is atomic and the state names its own checkpoint, so a kill at any point
    leaves a state and the checkpoint it names, of the same epoch.
    """
    name = f"checkpoint-epoch{len(history):03d}.keras"
    with files.atomic_path(work_dir / name) as tmp:
        model.save(tmp)
    files.save_json({"key": cfg.key(), "history": history, "checkpoint": name}, work_dir / _STATE)
    for old in work_dir.glob("checkpoint-epoch*.keras"):
        if old.name != name:
            old.unlink()


def pretrain(
    cfg: PretrainConfig = PretrainConfig(),
    out: str | Path | None = None,
    work_dir: str | Path | None = None,
    progress: bool = True,
    command: str | None = None,
) -> Path:
    """Pretrain the demo CheXNet on the synthetic source set; write the weights and manifest.

    Args:
        cfg: the recipe (default: the shipped one).
        out: the weight file (default: the shipped :func:`shipped.shipped_weights_path`, in a checkout
            only).
        work_dir: checkpoints and image caches (default ``outputs/pretrain/``); an
            interrupted run with the same ``cfg`` resumes from here.
        progress: Keras progress bars and one line per epoch.
        command: recorded in the manifest (default: this process's command line).

    Returns:
        The weight file; its sidecar ``<file>.json`` is the manifest.
    """
    start = time.perf_counter()
    if out is None and config.checkout_root() is None:
        raise ValueError(
            "the shipped demo CheXNet is part of the installed package, which is "
            "never written: pass an output file (--weights-out)"
        )
    out = Path(out) if out else shipped.shipped_weights_path()
    work_dir = Path(work_dir) if work_dir else config.output_dir("pretrain")
    work_dir.mkdir(parents=True, exist_ok=True)
    source = synthetic.generate_dataset(config.demo_data_dir(), cfg.source, progress=progress)
    train_paths, y_train, val_paths, y_val = read_source_labels(source["dataset_dir"])
    model, history = _resume(work_dir, cfg, progress)
    stream = _StreamCache(train_paths, y_train, work_dir)
    schedule = cfg.schedule()
    for epoch in range(len(history), len(schedule)):
        history.append(_run_epoch(model, stream, cfg, epoch, (val_paths, y_val), progress))
        _save_epoch(model, work_dir, cfg, history)
    path = save_model_weights(model, out, cfg.eval_size)
    final = source_aucs(model, val_paths, y_val, cfg.eval_size)
    manifest = _manifest(cfg, path, source, (len(train_paths), len(val_paths)), history, final)
    run = {
        "command": command or shlex.join(["tchexnet", *sys.argv[1:]]),
        "seconds": round(time.perf_counter() - start, 1),
    }
    models.save_metadata(path, model, **manifest, **run)
    shutil.rmtree(work_dir, ignore_errors=True)  # the run is complete: checkpoints and caches go
    return path


def save_model_weights(trained, path: str | Path, size: int) -> Path:
    """The trained CheXNet's weights alone (no optimizer state: a third of the size), atomically.

    Keras 3 ``save_weights`` of a compiled model also stores Adam's two moments per weight
    (85 MB instead of 28 MB); a fresh, uncompiled CheXNet at ``size`` holding the same weights
    stores only them, exactly.
    """
    bare = models.build_chexnet(input_shape=(size, size, 3))
    bare.set_weights(trained.get_weights())
    return models.save_weights_atomic(bare, path)


def _run_epoch(
    model,
    stream: _StreamCache,
    cfg: PretrainConfig,
    epoch: int,
    validation: tuple[list[str], np.ndarray],
    progress: bool,
) -> dict:
    """One epoch at its stage's size and rate, then the validation AUCs at ``eval_size``."""
    stage = cfg.schedule()[epoch]
    if progress:
        print(
            f"epoch {epoch + 1}/{len(cfg.schedule())}: {stage.size}×{stage.size} px, "
            f"learning rate {stage.learning_rate:g}",
            flush=True,
        )
    model.optimizer.learning_rate.assign(stage.learning_rate)
    tick = time.perf_counter()
    fitted = model.fit(
        stream.epoch(stage.size, cfg.seed + epoch, cfg.batch_size),
        epochs=1,
        shuffle=False,
        verbose=1 if progress else 0,
    )
    seconds = time.perf_counter() - tick
    aucs = source_aucs(model, *validation, cfg.eval_size)
    record = {
        "epoch": epoch + 1,
        "size": stage.size,
        "learning_rate": stage.learning_rate,
        "loss": round(float(fitted.history["loss"][-1]), 5),
        "seconds": round(seconds, 1),
        "val_mean_auc": _mean_auc(aucs),
        "val_pneumothorax_auc": aucs[labels.TARGET],
    }
    if progress:
        print(
            f"  loss {record['loss']:.4f}, {seconds:.0f} s; validation at {cfg.eval_size} px: "
            f"mean AUC {record['val_mean_auc']:.3f}, Pneumothorax {record['val_pneumothorax_auc']}",
            flush=True,
        )
    return record


def _host_speed(history: list[dict]) -> float | None:
    """The host's model-bound img/s (the yardstick of quoted times), for runs long enough to quote."""
    trained = sum(entry["seconds"] for entry in history)
    return machine.model_bound_images_per_second(seconds=4.0) if trained >= 300 else None


def _manifest(
    cfg: PretrainConfig,
    path: Path,
    source: dict,
    counts: tuple[int, int],
    history: list[dict],
    final: dict,
) -> dict:
    """The weight file's manifest: what was trained, on what, how well (the run's command and
    wall time are added by :func:`pretrain`)."""
    return {
        "description": "demo weights trained on synthetic data",
        "image_size": [cfg.eval_size, cfg.eval_size],
        "key": cfg.key(),
        "generator": synthetic.GENERATOR_VERSION,
        "config": cfg.to_dict(),
        "train_seconds": round(sum(entry["seconds"] for entry in history), 1),
        "machine": {**machine.machine_info(), "model_bound_img_s": _host_speed(history)},
        "source_images": {
            "train": counts[0],
            "val": counts[1],
            "drawing_seconds": source.get("seconds"),
        },
        "val_auc": final,
        "val_mean_auc": _mean_auc(final),
        "history": history,
        "size_bytes": path.stat().st_size,
    }
