"""Training: the tCheXNet head on cached features (the paper's transfer step), and fine-tuning.

With the base frozen, tCheXNet is "features (1024-d) → Dense 512 relu → Dense 1 sigmoid"; the
features come from the store (:mod:`tchexnet_lib.features`), so ten epochs of the paper take
seconds instead of re-running DenseNet-121 on every image every epoch. The head is built by
:func:`models.build_head` (re-exported here as :func:`build_head`), the one builder that also
makes the head of a whole tCheXNet.

The paper's recipe (:class:`HeadConfig` defaults): Adam(1e-3), binary cross-entropy, batch 16,
10 epochs. A fine-tune's settings are a :class:`FineTuneConfig`; the names the two share
(``learning_rate``, ``batch_size``, ``epochs``, ``class_weight``, ``select_on``,
``early_stopping_patience``, ``seed``) mean the same in both. Its class weights were inverted (``w0 = n0/n``, ``w1 = n1/n``: positives DOWN-weighted
about 7× on CheXpert); ``class_weight="paper"`` reproduces that defect, the default "balanced"
(``w_c = n / (2 n_c)``) fixes it.

Every run writes into one folder::

    checkpoints/head_{epoch:03d}_{val_loss:.5f}.weights.h5   per epoch (the original's names)
    checkpoints/head_{epoch:03d}.optimizer.npz               Adam's state, for exact resume
    history.csv      one row per finished epoch       state.json   the truth: epochs, best score
    head_best.weights.h5   the best checkpoint so far   head_config.json  the run's settings

Reliability:

- Every file goes through a temporary file renamed into place; ``state.json`` is written last and
  is the commit point of an epoch.
- **Resume**: a run killed at any moment (``kill -9`` during an epoch or a checkpoint write)
  restarts from its last committed epoch with the weights *and* the optimizer state, and each
  epoch's shuffle comes from ``(seed, epoch)``: the final weights equal an uninterrupted run's,
  bit for bit. An unreadable checkpoint is logged by name and the previous epoch is used.
- **Never worse**: the best score lives in ``state.json``; a rerun in the same folder starts from
  it, so ``head_best.weights.h5`` is only ever replaced by a better model (Keras'
  ``ModelCheckpoint`` forgets it across restarts). A folder holding a run validated on other data
  is refused rather than compared.
- **Determinism**: :func:`config.set_seed` with op determinism: the same seed gives bitwise-equal
  weights in separate processes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tchexnet_lib import backbones, data, errors, evaluation, files, images, models, runtime
from tchexnet_lib.config import PreprocessConfig, set_seed

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = [
    "CHECKPOINTS",
    "CLASS_WEIGHTS",
    "FineTuneConfig",
    "HISTORY",
    "HeadConfig",
    "SELECT_ON",
    "STATE",
    "TrainResult",
    "attach_head",
    "build_head",
    "class_weights",
    "fine_tune",
    "save_tchexnet",
    "set_fine_tune_trainable",
    "train_head",
]


log = logging.getLogger(__name__)

PathLike = str | os.PathLike

CLASS_WEIGHTS: tuple[str, ...] = ("balanced", "paper", "none")
SELECT_ON: tuple[str, ...] = ("val_loss", "val_auc")
STATE = "state.json"
HISTORY = "history.csv"
CHECKPOINTS = "checkpoints"
_EPSILON = 1e-7  # Keras' clipping in binary cross-entropy
_HISTORY_COLUMNS = ["epoch", "loss", "val_loss", "val_auc", "checkpoint", "seconds"]


# ---------------------------------------------------------------------------------------------
# Configuration and class weights
# ---------------------------------------------------------------------------------------------


def _check_schedule(config: HeadConfig | FineTuneConfig) -> None:
    """The checks of the settings a head's training and a fine-tune share."""
    if config.class_weight not in CLASS_WEIGHTS:
        raise ValueError(f"class_weight={config.class_weight!r}: use one of {CLASS_WEIGHTS}")
    if config.select_on not in SELECT_ON:
        raise ValueError(f"select_on={config.select_on!r}: use one of {SELECT_ON}")
    if min(config.batch_size, config.epochs) < 1 or config.learning_rate <= 0:
        raise ValueError("batch_size and epochs must be ≥ 1 and learning_rate > 0")
    if config.early_stopping_patience is not None and config.early_stopping_patience < 1:
        raise ValueError("early_stopping_patience must be None or ≥ 1")


@dataclass(frozen=True)
class HeadConfig(models.HeadArchitecture):
    """How the head is made and trained; defaults are the paper's, except the class weights'
    defect. The head's architecture (``hidden``, ``dropout``) is a
    :class:`models.HeadArchitecture`, which this extends.

    Attributes:
        hidden: units of the hidden Dense layer (the paper: 512).
        dropout: rate of a Dropout before the output layer (the paper: 0, none).
        learning_rate: Adam's learning rate.
        loss: only "binary_crossentropy" (the paper's).
        batch_size: rows per step.
        epochs: epochs to train (resuming continues up to this many).
        class_weight: "balanced" (``n / (2 n_c)``), "paper" (the original's inverted
            ``n_c / n``, positives down-weighted) or "none".
        select_on: the best checkpoint has the lowest "val_loss" or the highest "val_auc".
        early_stopping_patience: stop after this many epochs without a better score in this
            run; None trains every epoch.
        seed: seeds the initial weights and each epoch's shuffle.
    """

    learning_rate: float = 1e-3
    loss: str = "binary_crossentropy"
    batch_size: int = 16
    epochs: int = 10
    class_weight: str = "balanced"
    select_on: str = "val_loss"
    early_stopping_patience: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_schedule(self)
        if self.loss != "binary_crossentropy":
            raise ValueError(f"loss={self.loss!r}: only 'binary_crossentropy' is supported")


@dataclass(frozen=True)
class FineTuneConfig:
    """How a tCheXNet is fine-tuned end to end on images (:func:`fine_tune`).

    Attributes:
        unfreeze: layers whose name starts with this are trained, besides the head; None: the
            backbone's ``fine_tune_prefix`` (DenseNet-121: ``"conv5_"``, the last dense block).
        learning_rate: Adam's learning rate (small: the base is already trained).
        batch_size, epochs, class_weight, select_on, early_stopping_patience, seed: as in
            :class:`HeadConfig`.
        augment: a seeded small shift and contrast change per batch (:func:`_augment`).
        preprocess: the images' preprocessing (:func:`images.make_dataset`).
    """

    unfreeze: str | None = None
    learning_rate: float = 1e-5
    batch_size: int = 16
    epochs: int = 1
    class_weight: str = "balanced"
    select_on: str = "val_loss"
    early_stopping_patience: int | None = None
    seed: int = 0
    augment: bool = False
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)

    def __post_init__(self) -> None:
        _check_schedule(self)

    def to_dict(self) -> dict:
        """Plain-JSON form (saved in ``finetune_config.json``)."""
        return asdict(self)


def class_weights(labels: Any, mode: str = "balanced") -> dict[int, float]:
    """Weights of class 0 and class 1 for the loss.

    Args:
        labels: 0/1 labels (a -1 or NaN raises).
        mode: "balanced": ``w_c = n / (2 n_c)`` (each class carries half the loss);
            "paper": ``w_c = n_c / n``, the original's inverted weights (a documented defect:
            with 12% positives the positives get 0.12, the negatives 0.88); "none": 1 and 1.

    Returns:
        ``{0: w0, 1: w1}``.

    Raises:
        ValueError: unknown mode, or "balanced" with a class absent.
    """
    y = data.check_binary_labels(labels, "class_weights labels").ravel()
    n, n1 = y.size, int(y.sum())
    n0 = n - n1
    if mode == "none":
        return {0: 1.0, 1: 1.0}
    if mode == "paper":
        return {0: n0 / n, 1: n1 / n}
    if mode == "balanced":
        if n0 == 0 or n1 == 0:
            raise ValueError(f"balanced class weights need both classes (n0={n0}, n1={n1})")
        return {0: n / (2 * n0), 1: n / (2 * n1)}
    raise ValueError(f"class weight mode {mode!r}: use one of {CLASS_WEIGHTS}")


#: The head alone, ``build_head(n_features, config)``: :func:`models.build_head` (one builder
#: for the head trained here and the head of a whole tCheXNet).
build_head = models.build_head


def _pair(value: Any, where: str) -> tuple[Any, Any]:
    """``(inputs, labels)`` unpacked, or a TypeError saying what to pass."""
    if not isinstance(value, tuple) or len(value) != 2:
        raise TypeError(
            f"{where}: pass a tuple (inputs, labels), e.g. (features, labels); "
            f"got {type(value).__name__}"
        )
    return value


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _bce(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary cross-entropy, clipped like Keras'."""
    p = np.clip(np.asarray(p, np.float64).ravel(), _EPSILON, 1 - _EPSILON)
    y = np.asarray(y, np.float64).ravel()
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    result = evaluation.roc_auc(np.asarray(y).ravel(), np.asarray(p, np.float64).ravel(), ci=None)
    return float(result.auc) if result.defined else float("nan")


def _sample_weights(y: np.ndarray, mode: str) -> np.ndarray:
    weights = class_weights(y, mode)
    return np.where(y.ravel() == 1, weights[1], weights[0]).astype(np.float32)


def _save_optimizer(optimizer: keras.optimizers.Optimizer, path: Path) -> None:
    arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)}
    arrays["paths"] = np.array([v.path for v in optimizer.variables])
    files.atomic_write(path, lambda handle: np.savez(handle, **arrays))


def _load_optimizer(optimizer: keras.optimizers.Optimizer, path: Path, sha256: str) -> None:
    """Restore Adam's variables; ValueError naming the file if it does not fit."""
    if not path.is_file() or files.sha256_file(path) != sha256:
        raise errors.CheckpointError(
            f"{path}: optimizer state missing or corrupt (sha256 mismatch)"
        )
    try:
        with np.load(path, allow_pickle=False) as stored:
            values = [stored[f"v{i}"] for i in range(len(optimizer.variables))]
    except (OSError, KeyError, ValueError) as error:
        raise errors.CheckpointError(f"{path}: unreadable optimizer state ({error})") from error
    for variable, value in zip(optimizer.variables, values):
        if tuple(variable.shape) != value.shape:
            raise errors.CheckpointError(
                f"{path}: optimizer variable {variable.path} has shape "
                f"{value.shape}, expected {tuple(variable.shape)}"
            )
        variable.assign(value)


# ---------------------------------------------------------------------------------------------
# The epoch loop shared by the head and fine-tuning: checkpoints, state, resume, best
# ---------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        model: the model with the last epoch's weights.
        history: one row per epoch of this run (epoch, loss, val_loss, val_auc, checkpoint,
            seconds), epochs counted from 1.
        best_epoch: epoch of the best checkpoint (possibly of an earlier run in the folder).
        best_value: its score (``select_on``).
        best_checkpoint: the copy of the best checkpoint (``<prefix>_best.weights.h5``).
        out_dir: the run folder.
        paths: ``history``, ``state``, ``config`` files and the ``checkpoints`` folder.
        stopped_early: early stopping ended the run.
    """

    model: Any = field(repr=False)
    history: pd.DataFrame
    best_epoch: int | None
    best_value: float | None
    best_checkpoint: Path | None
    out_dir: Path
    paths: dict[str, Path]
    stopped_early: bool = False


@dataclass
class _Run:
    """One run folder: its identity, its settings (epochs, selection, early stopping) and its
    model/optimizer."""

    out_dir: Path
    prefix: str
    run_key: dict
    val_key: str
    config: HeadConfig | FineTuneConfig
    model: Any
    optimizer: Any

    @property
    def select_on(self) -> str:
        return self.config.select_on

    @property
    def best_path(self) -> Path:
        return self.out_dir / f"{self.prefix}_best.weights.h5"

    def checkpoint(self, name: str) -> Path:
        return self.out_dir / CHECKPOINTS / name


def _score(row: dict, select_on: str) -> float:
    """Higher is better: -val_loss or val_auc; NaN never wins."""
    value = row[select_on]
    return -value if select_on == "val_loss" else value


def _is_better(row: dict, best: dict | None, select_on: str) -> bool:
    new = _score(row, select_on)
    if math.isnan(new):
        return False
    return best is None or new > _score(best, select_on)


def _new_state(run: _Run, best: dict | None) -> dict:
    return {
        "run_key": run.run_key,
        "run_sha256": files.sha256_json(run.run_key),
        "val_key": run.val_key,
        "select_on": run.select_on,
        "last_epoch": 0,
        "epochs": {},
        "history": [],
        "best": best,
        "stopped_early": False,
    }


def _sync_best(run: _Run, state: dict) -> None:
    """Make ``<prefix>_best.weights.h5`` match the state's best (repairs a kill after commit)."""
    best = state.get("best")
    if not best or (run.best_path.is_file() and files.sha256_file(run.best_path) == best["sha256"]):
        return
    source = run.checkpoint(best["checkpoint"])
    if source.is_file() and files.sha256_file(source) == best["sha256"]:
        files.save_bytes(source.read_bytes(), run.best_path)
    else:
        log.error(
            "best checkpoint %s is missing or corrupt and %s does not match it",
            source,
            run.best_path,
        )


def _open_state(run: _Run, resume: bool) -> tuple[dict, bool]:
    """The state to continue with, and whether it is a run to resume.

    Raises:
        ValueError: the folder holds a run validated on other data or selected on another
            score (its best could not be compared), or an unreadable state.json.
    """
    path = run.out_dir / STATE
    if not path.exists():
        return _new_state(run, None), False
    try:
        old = json.loads(path.read_text())
    except ValueError as error:
        raise errors.CheckpointError(
            f"{path}: unreadable ({error}); move the folder away or use another out_dir"
        ) from error
    if old.get("val_key") != run.val_key or old.get("select_on") != run.select_on:
        raise ValueError(
            f"{run.out_dir} holds a {run.prefix} run validated on other data or selected on "
            f"{old.get('select_on')!r}: its best checkpoint cannot be compared with this run's; "
            "use another out_dir"
        )
    _sync_best(run, old)
    if resume and old.get("run_sha256") == files.sha256_json(run.run_key):
        return old, True
    log.info(
        "%s: starting a new %s run; the folder's best (%s = %s, epoch %s) is kept and only "
        "replaced by a better one",
        run.out_dir,
        run.prefix,
        run.select_on,
        (old.get("best") or {}).get(run.select_on),
        (old.get("best") or {}).get("epoch"),
    )
    for entry in old.get("epochs", {}).values():
        for name in (entry["weights"], entry["optimizer"]):
            run.checkpoint(name).unlink(missing_ok=True)
    return _new_state(run, old.get("best")), False


def _truncate(state: dict, epoch: int) -> None:
    state["epochs"] = {e: v for e, v in state["epochs"].items() if int(e) <= epoch}
    state["history"] = [row for row in state["history"] if row["epoch"] <= epoch]
    state["last_epoch"] = epoch
    state["stopped_early"] = False


def _restore(run: _Run, state: dict, reset: Callable[[], None]) -> int:
    """Load the last readable committed epoch (weights and optimizer); return it (0: none)."""
    for epoch in sorted((int(e) for e in state["epochs"]), reverse=True):
        entry = state["epochs"][str(epoch)]
        try:
            models.load_weights(
                run.model, run.checkpoint(entry["weights"]), expected_sha256=entry["weights_sha256"]
            )
            _load_optimizer(
                run.optimizer, run.checkpoint(entry["optimizer"]), entry["optimizer_sha256"]
            )
        except (ValueError, OSError, KeyError) as error:  # errors.WeightsError is a ValueError
            log.error(
                "cannot resume from epoch %d: %s; falling back to the epoch before", epoch, error
            )
            continue
        _truncate(state, epoch)
        log.info("%s: resuming after epoch %d", run.out_dir, epoch)
        return epoch
    reset()
    _truncate(state, 0)
    return 0


def _write_history(run: _Run, rows: list[dict]) -> Path:
    path = run.out_dir / HISTORY
    text = pd.DataFrame(rows, columns=_HISTORY_COLUMNS).to_csv(index=False).encode()
    files.save_bytes(text, path)
    return path


def _commit_epoch(run: _Run, state: dict, row: dict) -> None:
    """Checkpoint, optimizer, history, then state.json (the commit), then the best copy."""
    epoch = row["epoch"]
    weights = f"{run.prefix}_{epoch:03d}_{row['val_loss']:.5f}.weights.h5"
    optimizer = f"{run.prefix}_{epoch:03d}.optimizer.npz"
    models.save_weights_atomic(run.model, run.checkpoint(weights))
    _save_optimizer(run.optimizer, run.checkpoint(optimizer))
    row = dict(row, checkpoint=weights)
    state["epochs"][str(epoch)] = {
        "weights": weights,
        "weights_sha256": files.sha256_file(run.checkpoint(weights)),
        "optimizer": optimizer,
        "optimizer_sha256": files.sha256_file(run.checkpoint(optimizer)),
    }
    state["history"].append(row)
    state["last_epoch"] = epoch
    improved = _is_better(row, state["best"], run.select_on)
    if improved:
        state["best"] = dict(row, sha256=state["epochs"][str(epoch)]["weights_sha256"])
    _write_history(run, state["history"])
    files.save_json(state, run.out_dir / STATE)
    if improved:
        files.save_bytes(run.checkpoint(weights).read_bytes(), run.best_path)


def _should_stop(run: _Run, state: dict) -> bool:
    patience = run.config.early_stopping_patience
    if patience is None or not state["history"]:
        return False
    scores = [_score(row, run.select_on) for row in state["history"]]
    best_index = int(np.nanargmax(scores)) if not np.all(np.isnan(scores)) else 0
    return len(scores) - 1 - best_index >= patience


def _remove_temporaries(run: _Run) -> None:
    """Delete temporary files a killed run left (one run per folder at a time)."""
    for folder in (run.out_dir, run.out_dir / CHECKPOINTS):
        for stray in folder.glob(f"{files.TEMPORARY_PREFIX}*"):
            log.info("removing leftover temporary file %s", stray)
            stray.unlink(missing_ok=True)


def _run_epochs(
    run: _Run,
    resume: bool,
    fit_epoch: Callable[[int], float],
    validate: Callable[[], tuple[float, float]],
) -> TrainResult:
    """Train epoch by epoch with checkpoints, exact resume and never-worse best selection."""
    (run.out_dir / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
    _remove_temporaries(run)
    initial = ([w.numpy() for w in run.model.weights], [v.numpy() for v in run.optimizer.variables])

    def reset() -> None:
        for variable, value in zip(run.model.weights, initial[0]):
            variable.assign(value)
        for variable, value in zip(run.optimizer.variables, initial[1]):
            variable.assign(value)

    state, resuming = _open_state(run, resume)
    start = _restore(run, state, reset) if resuming else 0
    _write_history(run, state["history"])
    for epoch in range(start + 1, run.config.epochs + 1):
        if _should_stop(run, state):
            state["stopped_early"] = True
            files.save_json(state, run.out_dir / STATE)
            log.info("%s: early stopping before epoch %d", run.out_dir, epoch)
            break
        began = time.perf_counter()
        loss = fit_epoch(epoch)
        val_loss, val_auc = validate()
        _commit_epoch(
            run,
            state,
            {
                "epoch": epoch,
                "loss": loss,
                "val_loss": val_loss,
                "val_auc": val_auc,
                "seconds": time.perf_counter() - began,
            },
        )
    return _result(run, state)


def _result(run: _Run, state: dict) -> TrainResult:
    best = state.get("best")
    return TrainResult(
        model=run.model,
        history=pd.DataFrame(state["history"], columns=_HISTORY_COLUMNS),
        best_epoch=best["epoch"] if best else None,
        best_value=best[run.select_on] if best else None,
        best_checkpoint=run.best_path if best and run.best_path.is_file() else None,
        out_dir=run.out_dir,
        paths={
            "history": run.out_dir / HISTORY,
            "state": run.out_dir / STATE,
            "config": run.out_dir / f"{run.prefix}_config.json",
            "checkpoints": run.out_dir / CHECKPOINTS,
        },
        stopped_early=bool(state.get("stopped_early")),
    )


def _compile(model: keras.Model, learning_rate: float) -> keras.optimizers.Optimizer:
    """Adam + binary cross-entropy, no XLA (bitwise determinism), optimizer built now."""
    import keras

    optimizer = keras.optimizers.Adam(learning_rate)
    model.compile(optimizer=optimizer, loss="binary_crossentropy", jit_compile=False)
    optimizer.build(model.trainable_variables)
    return optimizer


# ---------------------------------------------------------------------------------------------
# The head on cached features
# ---------------------------------------------------------------------------------------------


def _check_features(x: Any, y: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)
    y = data.check_binary_labels(np.asarray(y).reshape(-1), f"{where} labels").astype(np.float32)
    if x.ndim != 2 or len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"{where}: features {x.shape} and labels {y.shape} do not line up "
            "(need (n, n_features) and (n,), n ≥ 1)"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{where}: features contain NaN or infinite values")
    return x, y


def train_head(
    train: tuple[Any, Any],
    val: tuple[Any, Any],
    out_dir: PathLike,
    config: HeadConfig = HeadConfig(),
    resume: bool = True,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
) -> TrainResult:
    """Train the tCheXNet head on cached features, resumably, keeping the best checkpoint.

    Args:
        train: ``(features, labels)``: (n, width) features (float16 stores are cast to
            float32) and (n,) labels 0/1; a -1 or NaN raises (never reaches the loss).
        val: ``(features, labels)`` of the validation rows, (m, width) and (m,).
        out_dir: the run folder (see the module docstring).
        config: see :class:`HeadConfig`.
        resume: continue a run of the same data and settings found in ``out_dir`` from its
            last committed epoch; False starts afresh (the folder's best is still kept).
        callbacks: Keras callbacks passed to ``fit`` (epochs counted from 0 there).

    Returns:
        A :class:`TrainResult`.

    Raises:
        DataError: labels other than 0/1.
        ValueError: misaligned arrays, or ``out_dir`` holding a run on other validation data.
    """
    import keras

    x_train, y_train = _check_features(*_pair(train, "train_head train"), "train")
    x_val, y_val = _check_features(*_pair(val, "train_head val"), "validation")
    if x_val.shape[1] != x_train.shape[1]:
        raise ValueError(
            f"train features have {x_train.shape[1]} columns, validation {x_val.shape[1]}"
        )
    weights = _sample_weights(y_train, config.class_weight)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(config.seed)
    model = models.build_head(x_train.shape[1], config)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    optimizer.build(model.trainable_variables)
    settings = {
        k: v for k, v in config.to_dict().items() if k not in ("epochs", "early_stopping_patience")
    }
    val_key = files.sha256_json({"kind": "head", "val": files.sha256_arrays(x_val, y_val)})
    run = _Run(
        out,
        "head",
        {
            "kind": "head",
            "settings": settings,
            "train": files.sha256_arrays(x_train, y_train),
            "val": val_key,
        },
        val_key,
        config,
        model,
        optimizer,
    )
    files.save_json(config.to_dict(), out / "head_config.json")

    step = _head_train_step(model, optimizer)
    for callback in callbacks or []:
        callback.set_model(model)

    def fit_epoch(epoch: int) -> float:
        order = np.random.default_rng([config.seed, epoch]).permutation(len(x_train))
        batches = (
            (x_train[rows], y_train[rows, None], weights[rows])
            for rows in np.split(order, range(config.batch_size, len(order), config.batch_size))
        )
        return _head_epoch(step, batches, epoch, callbacks or [])

    def validate() -> tuple[float, float]:
        p = np.concatenate(
            [model(x_val[i : i + 8192], training=False).numpy() for i in range(0, len(x_val), 8192)]
        )
        return _bce(y_val, p), _auc(y_val, p)

    return _run_epochs(run, resume, fit_epoch, validate)


def _head_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer):
    """One compiled Adam step on weighted binary cross-entropy, as ``fit`` computes it
    (``sum(w · loss) / batch size``), traced once: per-epoch overhead stays near zero."""
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.BinaryCrossentropy(reduction="sum_over_batch_size")
    n_features = model.input.shape[-1]

    @tf.function(
        jit_compile=False,
        input_signature=[
            tf.TensorSpec((None, n_features), tf.float32),
            tf.TensorSpec((None, 1), tf.float32),
            tf.TensorSpec((None,), tf.float32),
        ],
    )
    def step(x, y, w):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True), sample_weight=w)
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step


def _head_epoch(step, batches, epoch: int, callbacks) -> float:
    """One epoch over ``batches`` of (x, y, w); returns the size-weighted mean batch loss.

    Keras callbacks get ``on_epoch_begin``, ``on_train_batch_end`` and ``on_epoch_end`` (epochs
    counted from 0, as in ``fit``).
    """
    for callback in callbacks:
        callback.on_epoch_begin(epoch - 1)
    losses, rows = [], 0
    for batch, (x, y, w) in enumerate(batches):
        losses.append(step(x, y, w) * len(x))  # no sync per step
        rows += len(x)
        for callback in callbacks:
            callback.on_train_batch_end(batch, {"loss": float(losses[-1]) / len(x)})
    mean = float(np.sum([float(loss) for loss in losses])) / rows
    for callback in callbacks:
        callback.on_epoch_end(epoch - 1, {"loss": mean})
    return mean


# ---------------------------------------------------------------------------------------------
# Whole models: head onto CheXNet, save, fine-tune
# ---------------------------------------------------------------------------------------------


def attach_head(
    chexnet_model_or_weights: keras.Model | PathLike,
    head_weights: keras.Model | PathLike,
    input_shape: tuple[int, int, int] | None = None,
    head: models.HeadArchitecture | None = None,
) -> keras.Model:
    """tCheXNet from a CheXNet and a trained head: predictions equal "features → head".

    Args:
        chexnet_model_or_weights: a CheXNet model (its layers are shared and frozen) or its
            weight file.
        head_weights: a head from :func:`build_head` / :func:`train_head`, or its
            ``.weights.h5`` file (e.g. ``head_best.weights.h5``).
        input_shape: used when building CheXNet from a file (default: its sidecar's size).
        head: the architecture of a head given as a file: the :class:`HeadConfig` it was
            trained with (default the paper's head). A head model brings its own.

    Returns:
        The tCheXNet ``keras.Model``: the frozen base and the same head
        (:func:`models.attach_tchexnet_head`).
    """
    import keras

    chexnet = (
        chexnet_model_or_weights
        if isinstance(chexnet_model_or_weights, keras.Model)
        else models.build_chexnet(
            chexnet_model_or_weights,
            input_shape=input_shape or models.input_shape_for(chexnet_model_or_weights),
            backbone=models.backbone_for(chexnet_model_or_weights),
        )
    )
    if isinstance(head_weights, keras.Model):
        trained = head_weights
    else:
        width = models.feature_extractor(chexnet).output.shape[-1]
        trained = models.build_head(width, head or models.HeadArchitecture())
        try:
            models.load_weights(trained, head_weights)
        except errors.WeightsError as error:
            raise errors.WeightsError(
                f"{error}; a head trained with another HeadConfig attaches with "
                "attach_head(..., head=that_config)"
            ) from error
    model = models.attach_tchexnet_head(chexnet, head=models.head_architecture(trained))
    for layer in trained.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())
    return model


def save_tchexnet(model: keras.Model, path: PathLike) -> Path:
    """Save a whole tCheXNet atomically: ``.weights.h5`` (for ``models.build_tchexnet(path)``
    and ``tchexnet predict --model tchexnet --weights path``) or ``.keras`` (architecture too).

    A ``.weights.h5`` file gets its sidecar (:func:`models.metadata_path`) with the model's input
    size and its head's architecture, so the command builds the same model and preprocesses at
    the size it was trained at.

    Raises:
        ValueError: another suffix.
    """
    path = Path(path)
    if path.name.endswith(".weights.h5"):
        models.save_weights_atomic(model, path)
        models.save_metadata(path, model, "tCheXNet saved by training.save_tchexnet")
        return path
    if path.suffix != ".keras":
        raise ValueError(f"{path}: save a tCheXNet as .weights.h5 or .keras")
    with files.atomic_path(path) as tmp:
        model.save(tmp)
    return path


def set_fine_tune_trainable(model: keras.Model, unfreeze_prefix: str | None = None) -> list[str]:
    """Unfreeze the layers named ``unfreeze_prefix*`` and the head; keep BatchNorm frozen.

    ``unfreeze_prefix``: default the backbone's ``fine_tune_prefix`` (DenseNet-121: ``"conv5_"``).

    A frozen BatchNormalization runs in inference mode in Keras 3: its statistics stay
    CheXNet's, which small fine-tuning batches could not estimate well.

    Returns:
        Names of the trainable layers that hold weights.
    """
    import keras

    prefix = unfreeze_prefix or backbones.of_model(model).fine_tune_prefix
    head = set(models.head_layer_names(model))
    for layer in model.layers:
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        in_block = layer.name.startswith(prefix) and not is_bn
        layer.trainable = layer.name in head or in_block
    return [layer.name for layer in model.layers if layer.trainable and layer.weights]


def _augment(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """A small seeded shift (up to 4% per side, reflected border) and contrast change.

    Stateless random ops seeded by (seed, epoch, batch): a resumed epoch sees the same batches.
    No flips: a mirrored chest X-ray puts the heart on the wrong side.
    """
    import tensorflow as tf

    shape = tf.shape(x)
    pad = max(1, int(x.shape[1]) // 25)
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    x = tf.image.stateless_random_crop(padded, shape, seed=seed)
    return tf.image.stateless_random_contrast(x, 0.9, 1.1, seed=seed + 1)


def _fine_tune_dataset(
    paths: list[str], y: np.ndarray, w: np.ndarray, config: FineTuneConfig, epoch: int
) -> tf.data.Dataset:
    """Batches of (images, labels, sample weights) in the given order, augmented if asked."""
    import tensorflow as tf

    labels = np.stack([y, w], axis=1).astype(np.float32)
    ds = images.make_dataset(paths, config.preprocess, batch_size=config.batch_size, labels=labels)
    ds = runtime.without_autotune(ds.map(lambda x, yw: (x, yw[:, :1], yw[:, 1])))
    if config.augment:
        seed = tf.constant(config.seed * 100_003 + epoch, tf.int64)
        ds = ds.enumerate().map(lambda i, b: (_augment(b[0], tf.stack([seed, i])), *b[1:]))
    return ds


def _checked_images(
    paths: Sequence[PathLike], labels: Any, where: str
) -> tuple[list[str], np.ndarray]:
    paths = [os.fspath(p) for p in paths]
    y = data.check_binary_labels(np.asarray(labels).ravel(), f"{where} labels")
    if len(y) != len(paths) or not paths:
        raise ValueError(f"fine_tune: {len(paths)} {where} images but {len(y)} labels")
    return paths, y


def _mirrored_copy(model: keras.Model, learning_rate: float, strategy: tf.distribute.Strategy):
    """The model to train (a copy under ``strategy`` when it has several replicas), compiled."""
    import keras

    working = model
    with strategy.scope():
        if strategy.num_replicas_in_sync > 1:
            working = keras.models.clone_model(model)
            working.set_weights(model.get_weights())
        optimizer = _compile(working, learning_rate)
    return working, optimizer


def fine_tune(
    model: keras.Model,
    train: tuple[Sequence[PathLike], Any],
    val: tuple[Sequence[PathLike], Any],
    out_dir: PathLike,
    config: FineTuneConfig = FineTuneConfig(),
    resume: bool = True,
    strategy: tf.distribute.Strategy | None = None,
) -> TrainResult:
    """Fine-tune a tCheXNet end to end on images: the last dense block and the head.

    Images go through :func:`images.make_dataset` (the one preprocessing path); BatchNorm
    stays in inference mode; checkpoints, resume and never-worse selection work as in
    :func:`train_head` (prefix ``finetune``). With several devices the model is mirrored
    (:func:`runtime.strategy_for_devices`).

    Args:
        model: a tCheXNet (e.g. from :func:`attach_head`); trained in place.
        train: ``(image paths, labels)``: the training images and their 0/1 labels.
        val: ``(image paths, labels)`` of the validation images.
        out_dir: the run folder.
        config: see :class:`FineTuneConfig` (which layers, learning rate, epochs,
            preprocessing…).
        resume: continue a matching run in ``out_dir``.
        strategy: a ``tf.distribute`` strategy; default :func:`runtime.strategy_for_devices`.

    Returns:
        A :class:`TrainResult` whose ``model`` is the fine-tuned model.
    """
    if model.output.shape[-1] != 1:
        raise ValueError("fine_tune expects a tCheXNet (one output); build it with attach_head")
    train_paths, y_train = _checked_images(*_pair(train, "fine_tune train"), "train")
    val_paths, y_val = _checked_images(*_pair(val, "fine_tune val"), "validation")
    backbones.check_normalisation(model, config.preprocess.normalisation)
    images.preflight(train_paths + val_paths, config.preprocess, on_error="raise", progress=False)
    weights = _sample_weights(y_train, config.class_weight)
    set_seed(config.seed)
    unfreeze = config.unfreeze or backbones.of_model(model).fine_tune_prefix
    settings = {
        **{
            k: v
            for k, v in config.to_dict().items()
            if k not in ("epochs", "early_stopping_patience")
        },
        "unfreeze": unfreeze,
        "initial_weights": models.weights_digest(model),
    }
    set_fine_tune_trainable(model, unfreeze)
    strategy = strategy or runtime.strategy_for_devices()
    working, optimizer = _mirrored_copy(model, config.learning_rate, strategy)
    val_key = files.sha256_json(
        {
            "kind": "finetune",
            "val": files.sha256_lines(val_paths),
            "labels": files.sha256_arrays(y_val),
            "preprocess": config.preprocess.to_dict(),
        }
    )
    run = _Run(
        Path(out_dir),
        "finetune",
        {
            "kind": "finetune",
            "settings": settings,
            "val": val_key,
            "train": files.sha256_lines(train_paths),
            "labels": files.sha256_arrays(y_train),
        },
        val_key,
        config,
        working,
        optimizer,
    )
    run.out_dir.mkdir(parents=True, exist_ok=True)
    files.save_json(settings, run.out_dir / "finetune_config.json")

    def fit_epoch(epoch: int) -> float:
        order = np.random.default_rng([config.seed, epoch]).permutation(len(train_paths))
        ds = _fine_tune_dataset(
            [train_paths[i] for i in order], y_train[order], weights[order], config, epoch
        )
        history = working.fit(ds, initial_epoch=epoch - 1, epochs=epoch, shuffle=False, verbose=0)
        return float(history.history["loss"][-1])

    def validate() -> tuple[float, float]:
        ds = images.make_dataset(val_paths, config.preprocess, batch_size=config.batch_size)
        p = working.predict(runtime.without_autotune(ds), verbose=0)
        return _bce(y_val, p), _auc(y_val, p)

    result = _run_epochs(run, resume, fit_epoch, validate)
    if working is not model:
        model.set_weights(working.get_weights())
        result.model = model
    return result
