"""The paper on real CheXpert in one resumable command: ``tchexnet reproduce``.

:func:`reproduce` chains the study's steps (:mod:`tchexnet_lib.pipeline`) on
CheXpert-v1.0-small. Each step's output is written atomically and keyed, so a rerun (after
``kill -9`` at any point too) skips what is done, says so, and resumes the rest:

1. **split** (``split/``): train and val from train.csv by the paper's recipe or by patient
   (:data:`splits.RECIPES`), test = the frontal rows of valid.csv (202); each CSV records
   its image root.
2. **features** (``features/<split>/``): one feature store per split, shard by shard
   (:mod:`tchexnet_lib.features`), over every GPU found (``tf.distribute``), with an ETA
   measured on the first batches. With ``shard=(i, N)`` this machine computes only its
   blocks of every store and stops; a later run without it, over a folder holding every
   machine's shards, merges them, refusing any missing or mismatched shard (named).
3. **head** (``head/``): tCheXNet's head on the train features, validated on val, resumed
   epoch by epoch.
4. **predictions** (``predictions.csv``): CheXNet's zero-shot and tCheXNet's Pneumothorax
   scores on the test rows.
5. **comparison**: AUCs with 95% intervals, the paired DeLong test, ``roc.png`` and
   ``summary.json`` (the demo's shape, plus the paper's published AUCs,
   :data:`evaluation.PAPER_AUCS`).

The data root (the folder holding ``CheXpert-v1.0-small/``) is ``data_dir``, else the one
the run folder recorded (its ``study.json``), else ``$TCHEXNET_DATA_DIR``, else
``chexpert/``. A run folder holds one run: other settings (weights, limit, recipe) are
refused rather than mixed with it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tchexnet_lib import (
    config,
    data,
    evaluation,
    features,
    files,
    labels,
    machine,
    pipeline,
    plotting,
    results,
    runtime,
    training,
)

__all__ = [
    "ETA_AFTER_SECONDS",
    "ExtractionClock",
    "RunSettings",
    "SHARDS_FILE",
    "SPLIT_KEY",
    "data_root",
    "describe_devices",
    "features_step",
    "finish_command",
    "head_step",
    "open_study",
    "predictions_step",
    "reproduce",
    "reproduction_dir",
    "shard_text",
    "split_step",
]

#: In ``features/``: how many machines fill the stores (``{"n": N}``), written by ``--shard`` runs.
SHARDS_FILE = "shards.json"
#: In ``split/``: what the split CSVs were made from (written after them: their commit point).
SPLIT_KEY = "key.json"
#: The ETA is said once the extraction has run this long after its first batch.
ETA_AFTER_SECONDS = 10.0

Say = Callable[[str], None]


def reproduction_dir(recipe: str = "paper", limit: int | None = None) -> Path:
    """``outputs/chexpert/``, the notebooks' folder for real CheXpert
    (:func:`pipeline.study_dir`): one run folder, hence one feature store per split, for
    both, so neither recomputes the other's extraction. ``-patient`` and ``-limitN`` are added
    for the other recipe and a quick pass, so they never meet the full run's folder."""
    return pipeline.study_dir("chexpert", recipe=recipe, limit=limit)


@dataclass(frozen=True)
class RunSettings:
    """Which run :func:`reproduce` makes: its data, weights, folder, rows and split recipe.

    Attributes:
        data_dir: the folder holding ``CheXpert-v1.0-small/`` (default: :func:`data_root`).
        weights: the CheXNet weight file (default: the registry's ``best_weights.h5``).
        out_dir: the run folder (default: :func:`reproduction_dir`).
        limit: the first N rows of each split only (a quick pass).
        recipe: ``"paper"`` (row order) or ``"patient"`` (:func:`splits.patient_recipe`).
    """

    data_dir: str | Path | None = None
    weights: str | Path | None = None
    out_dir: str | Path | None = None
    limit: int | None = None
    recipe: str = "paper"


def data_root(data_dir: str | Path | None = None, out_dir: str | Path | None = None) -> Path:
    """The folder holding ``CheXpert-v1.0-small/``: ``data_dir``, else the one the run folder
    ``out_dir`` recorded in its ``study.json``, else :func:`config.data_dir`
    (``$TCHEXNET_DATA_DIR`` or ``chexpert/``)."""
    if data_dir:
        return Path(data_dir).expanduser()
    saved = files.read_json(Path(out_dir) / pipeline.STUDY_FILE) if out_dir else None
    if saved and saved.get("dataset") == "chexpert" and saved.get("dataset_dir"):
        return Path(saved["dataset_dir"]).parent
    return config.data_dir()


def open_study(run: RunSettings = RunSettings()) -> pipeline.Study:
    """The run's study on real CheXpert, saved as ``study.json`` once checked against the
    one its folder already holds.

    Raises:
        ValueError: ``limit`` < 1, or the folder holds a run of other settings (named).
        MissingInputError: no train.csv / valid.csv, or no weight file (says where they go).
    """
    if run.limit is not None and run.limit < 1:
        raise ValueError(f"limit {run.limit}: must be ≥ 1")
    out = Path(run.out_dir) if run.out_dir else reproduction_dir(run.recipe, run.limit)
    study = pipeline.make_study(
        "chexpert",
        run.weights,
        limit=run.limit,
        out_dir=out,
        options=pipeline.DataOptions(data_root(run.data_dir, out), recipe=run.recipe),
        save=False,
    )
    differ = _other_settings(study)
    if differ:
        raise ValueError(
            f"{out} holds a run of other settings ({'; '.join(differ)}): "
            "use another --out, or move that folder away"
        )
    study.save()
    return study


def _other_settings(study: pipeline.Study) -> list[str]:
    """How the run already in ``study.out_dir`` differs from ``study``: its settings (the data's
    and weights' places aside) and its weights' content (its train store's key)."""
    saved = files.read_json(study.out_dir / pipeline.STUDY_FILE) or {}
    differ = [
        f"{name} {saved.get(name)!r} → {value!r}"
        for name, value in study.to_dict().items()
        if saved and name not in ("dataset_dir", "out_dir", "weights") and saved.get(name) != value
    ]
    store = files.read_json(pipeline.feature_store_dir(study, "train") / features.MANIFEST) or {}
    stored = store.get("key", {}).get("weights_sha256")
    if stored not in (None, study.weights_sha256):
        differ.append(f"weights sha256 {stored[:12]}… → {study.weights_sha256[:12]}…")
    return differ


def describe_devices() -> dict:
    """What the extraction runs on: TensorFlow's devices, how they are used, the GPUs' and CPU's names."""
    used = runtime.default_devices()
    replicas = runtime.strategy_for_devices(used).num_replicas_in_sync
    return {
        "devices": used,
        "strategy": f"MirroredStrategy, {replicas} replicas" if replicas > 1 else "one device",
        "gpus": machine.gpu_names(),
        "cpu": machine.cpu_model(),
    }


# ------------------------------------------------------------------ 1. split


def _split_key(study: pipeline.Study) -> dict:
    """What the split CSVs depend on: the data's CSVs (by content), recipe, policy, seed, limit."""
    return {
        "train_csv": files.sha256_file(study.dataset_dir / "train.csv"),
        "valid_csv": files.sha256_file(study.dataset_dir / "valid.csv"),
        "image_root": str(study.dataset_dir),
        "recipe": study.recipe,
        "policy": study.policy,
        "seed": study.head.seed,
        "limit": study.limit,
    }


def split_step(study: pipeline.Study, say: Say = print) -> dict[str, pd.DataFrame]:
    """Write (or reuse) ``split/{train,val,test}.csv`` and read them back: every later step
    reads the same rows whether they were just written or reused."""
    folder = study.out_dir / "split"
    csvs = {name: folder / f"{name}.csv" for name in pipeline.SPLITS}
    key = _split_key(study)
    done = (files.read_json(folder / SPLIT_KEY) or {}).get("key") == key and all(
        path.is_file() for path in csvs.values()
    )
    if not done:
        (folder / SPLIT_KEY).unlink(missing_ok=True)  # its CSVs are about to change: uncommit
        for name, table in pipeline.split_tables(study).items():
            data.write_split_csv(table, csvs[name])
        files.save_json({"key": key}, folder / SPLIT_KEY)
    tables = {
        name: data.read_labels(path, image_root=study.dataset_dir, require=("Path", labels.TARGET))
        for name, path in csvs.items()
    }
    counts = ", ".join(f"{len(table):,} {name}" for name, table in tables.items())
    say(
        f"split: {'up to date, reused' if done else 'written'} ({study.recipe} recipe): "
        f"{counts} rows in {folder}"
    )
    return tables


# ------------------------------------------------------------------ 2. features


class ExtractionClock:
    """Images/s of the extraction, measured from its first batches, and the ETA said once.

    The first batch includes tracing the model's graph, so the clock starts after it.

    Args:
        pending: images this run has to compute, every split together.
        say: where the ETA line goes.
        after_seconds: how long to measure before saying it.
    """

    def __init__(self, pending: int, say: Say = print, after_seconds: float = ETA_AFTER_SECONDS):
        self.pending, self.say, self.after_seconds = pending, say, after_seconds
        self.images, self.started, self.first, self.said = 0, None, 0, False
        self.began = time.perf_counter()

    def update(self, n: int) -> None:
        """Count a batch of ``n`` images (:attr:`features.ExtractionOptions.on_batch`)."""
        from tqdm.auto import tqdm

        now = time.perf_counter()
        self.images += n
        if self.started is None:
            self.started, self.first = now, self.images
            return
        elapsed = now - self.started
        if not self.said and elapsed >= self.after_seconds:
            rate = (self.images - self.first) / elapsed
            left = max(self.pending - self.images, 0)
            eta = pipeline.duration_text(left / rate)
            with tqdm.external_write_mode():  # off the progress bar's line, which is redrawn
                self.say(
                    f"ETA: {rate:.1f} img/s measured on {self.images - self.first:,} "
                    f"images after the first batch: about {eta} for "
                    f"the {left:,} images left"
                )
            self.said = True

    def summary(self) -> dict:
        """Images computed, seconds since the clock was made, and their ratio."""
        seconds = time.perf_counter() - self.began
        return {
            "images": self.images,
            "seconds": round(seconds, 1),
            "images_per_second": round(self.images / seconds, 2) if self.images else None,
        }


def _blocks(
    study: pipeline.Study, name: str, paths: list[str], options: features.ExtractionOptions
) -> tuple[dict[int, int], int]:
    """This run's blocks of a store (block → rows) and how many rows of them are still to compute
    (the store's completed blocks are read from its manifest when it is this store's)."""
    n, size = len(paths), options.shard_size
    sizes = {
        k: min(size, n - k * size)
        for k in features.assigned_shards(math.ceil(n / size), options.shard)
    }
    missing = features.missing_blocks(
        pipeline.feature_store_dir(study, name), paths, study.weights_sha256, size
    )
    if missing is None:
        return sizes, sum(sizes.values())
    return sizes, sum(size for k, size in sizes.items() if k in missing)


def _merging(study: pipeline.Study, shard: tuple[int, int] | None) -> bool:
    """Whether this run merges the shards of ``--shard`` runs (which record how many there are).

    Raises:
        ValueError: a ``--shard i/N`` whose N differs from the one the folder recorded.
    """
    path = study.out_dir / "features" / SHARDS_FILE
    recorded = (files.read_json(path) or {}).get("n")
    if shard is None:
        return recorded is not None
    if recorded not in (None, shard[1]):
        raise ValueError(
            f"{path.parent} is filled by {recorded} machines (its {SHARDS_FILE}); "
            f"--shard {shard[0]}/{shard[1]} does not fit: use i/{recorded}"
        )
    files.save_json({"n": shard[1]}, path)
    return False


def features_step(
    study: pipeline.Study,
    tables: dict[str, pd.DataFrame],
    chexnet,
    options: features.ExtractionOptions = features.ExtractionOptions(),
    progress: bool = True,
    say: Say = print,
) -> tuple[dict[str, features.FeatureStore], dict]:
    """Every split's feature store: computed, resumed, reused, or (after ``--shard`` runs) merged
    (:func:`features.verify_store`: nothing computed, every shard checked).

    Args:
        study: the run's study.
        tables: the split step's rows.
        chexnet: a :func:`pipeline.chexnet_loader` (CheXNet is built only if a store needs it).
        options: the extraction's (:class:`features.ExtractionOptions`); with ``shard``
            ``(i, N)``, only this machine's blocks of each store.
        progress: tqdm bars (preflight and features, per split).
        say: where each split's line and the ETA go.

    Returns:
        ``({split: FeatureStore}, the clock's summary)``.
    """
    merging = _merging(study, options.shard)
    plans = {
        name: _blocks(study, name, table["image_path"].tolist(), options)
        for name, table in tables.items()
    }
    clock = ExtractionClock(0 if merging else sum(p for _, p in plans.values()), say)
    timed = dataclasses.replace(options, on_batch=clock.update)
    stores = {}
    for name, table in tables.items():
        built: list[str] = []
        if merging:
            store = features.verify_store(
                table["image_path"].tolist(),
                pipeline.feature_store_dir(study, name),
                study.weights_sha256,
                study.preprocess,
                options,
                progress,
            )
        else:
            loader = functools.partial(_build, chexnet, built)
            store = pipeline.feature_store(study, name, table, loader, progress, timed)
        say(_store_line(name, store, plans[name], bool(built), options.shard, merging))
        stores[name] = store
    return stores, clock.summary()


def _build(chexnet, built: list[str]):
    """CheXNet from the shared loader, noting that this store needed it."""
    built.append("built")
    return chexnet()


def _store_line(
    name: str,
    store: features.FeatureStore,
    plan: tuple[dict[int, int], int],
    built: bool,
    shard: tuple[int, int] | None,
    merging: bool,
) -> str:
    """One line per store: what this run did with it."""
    sizes, pending = plan
    rows = f"features {name}: {store.n_rows:,} rows"
    if merging:
        return f"{rows}, {len(store.manifest['shards'])} shard(s) from the --shard runs merged"
    if shard is not None:
        blocks = f"blocks {', '.join(map(str, sizes)) or 'none'} of {len(store.manifest['shards'])}"
        return f"{rows}, this machine's {blocks} {'computed' if built else 'already there'}"
    if not built:
        return f"{rows}, complete store reused ({store.path})"
    reused = sum(sizes.values()) - pending
    return f"{rows} computed" + (f" ({reused:,} reused from the interrupted run)" if reused else "")


# ------------------------------------------------------------------ 3-5. head, predictions, comparison


def head_step(
    study: pipeline.Study,
    split_features: dict,
    tables: dict,
    progress: bool = True,
    say: Say = print,
) -> training.TrainResult:
    """The tCheXNet head (:func:`pipeline.train_transfer_head`), trained, resumed or reused."""
    state = study.out_dir / "head" / training.STATE
    before = files.sha256_file(state) if state.is_file() else None
    result = pipeline.train_transfer_head(study, split_features, tables, progress)
    epochs = len(result.history)
    best = (
        "no best epoch"
        if result.best_epoch is None
        else f"best epoch {result.best_epoch}, {study.head.select_on} {result.best_value:.4f}"
    )
    done = "up to date, reused" if before == files.sha256_file(state) else "trained"
    say(f"head: {done} ({epochs} epochs, {best}) in {result.out_dir}")
    return result


def predictions_step(
    study: pipeline.Study,
    split_features: dict,
    tables: dict,
    chexnet,
    progress: bool = True,
    say: Say = print,
) -> pd.DataFrame:
    """CheXNet's and tCheXNet's scores on the test rows: ``predictions.csv``, reused when its
    key (study, weights, rows) matches."""
    test = pipeline.saved_predictions(study, tables["test"])
    done = test is not None
    if not done:
        test = pipeline.test_predictions(study, progress, split_features, tables, chexnet)
    say(
        f"predictions: {'up to date, reused' if done else 'written'} ({len(test)} test rows) "
        f"in {study.out_dir / 'predictions.csv'}"
    )
    return test


def _write_outputs(
    study: pipeline.Study, test: pd.DataFrame, found: results.StudyResult
) -> results.StudyResult:
    """``roc.png`` and ``summary.json`` (atomically); returns the result with every output's
    path."""
    scores = {name: test[name].to_numpy() for name in ("CheXNet", "tCheXNet")}
    figure = plotting.roc_figure(
        pipeline.target_labels(test),
        scores,
        title=f"Pneumothorax, {len(test)} CheXpert test images",
    )
    paths = {
        "summary": study.out_dir / "summary.json",
        "predictions": study.out_dir / "predictions.csv",
        "roc": plotting.save_figure(figure, study.out_dir / "roc.png"),
        "split": study.out_dir / "split",
        "features": study.out_dir / "features",
        "head": study.out_dir / "head",
    }
    found = dataclasses.replace(found, outputs={name: str(path) for name, path in paths.items()})
    files.save_json(found.to_json(), paths["summary"])
    return found


def reproduce(
    run: RunSettings = RunSettings(),
    extraction: features.ExtractionOptions = features.ExtractionOptions(),
    progress: bool = True,
    say: Say = print,
) -> dict:
    """The paper's study on real CheXpert, end to end and resumable (see the module docstring).

    Args:
        run: the data, weights, run folder, row limit and split recipe (:class:`RunSettings`).
        extraction: batch and shard sizes (the shard size keys the stores), and ``shard``
            (``"i/N"``): compute only this machine's blocks of every feature store, then stop.
        progress: tqdm bars.
        say: where each step's line goes (the CLI: stderr).

    Returns:
        The summary (also ``summary.json``): :meth:`results.StudyResult.to_json`, with
        ``paper_auc``, ``recipe``, ``limit``, ``run`` (devices, extraction speed, seconds per
        step) and ``outputs``. With ``shard``: ``{"shard", "out", "stores", "copy", "next"}``:
        what this machine holds, what to copy where and the command that finishes.
    """
    start = time.perf_counter()
    study = open_study(run)
    say(study.describe())
    devices = describe_devices()
    say(
        f"devices: {', '.join(devices['devices'])} ({devices['strategy']}"
        f"{'; ' + ', '.join(devices['gpus']) if devices['gpus'] else ''}; CPU {devices['cpu']})"
    )
    steps: dict[str, float] = {}
    tables = _timed(steps, "split", split_step, study, say)
    chexnet = pipeline.chexnet_loader(study)
    stores, speed = _timed(
        steps, "features", features_step, study, tables, chexnet, extraction, progress, say
    )
    if extraction.shard is not None:
        return _shard_result(study, stores, extraction)
    split_features = {name: store.load() for name, store in stores.items()}
    _timed(steps, "head", head_step, study, split_features, tables, progress, say)
    test = _timed(
        steps,
        "predictions",
        predictions_step,
        study,
        split_features,
        tables,
        chexnet,
        progress,
        say,
    )
    found = results.StudyResult.from_predictions(
        test,
        study,
        time.perf_counter() - start,
        paper_auc=dict(evaluation.PAPER_AUCS),
        recipe=study.recipe,
        limit=study.limit,
        run={**devices, "extraction": speed, "steps": steps},
    )
    return _write_outputs(study, test, found).to_json()


def _timed(seconds: dict[str, float], name: str, step: Callable, *args, **kwargs):
    """``step(*args, **kwargs)``, its wall time recorded in ``seconds[name]``."""
    began = time.perf_counter()
    result = step(*args, **kwargs)
    seconds[name] = round(time.perf_counter() - began, 1)
    return result


def finish_command(
    study: pipeline.Study, extraction: features.ExtractionOptions = features.ExtractionOptions()
) -> str:
    """The command that merges every machine's shards and finishes the run (this machine's paths;
    the extraction's sizes where they are not the defaults)."""
    parts = [
        "tchexnet",
        "reproduce",
        "--data-dir",
        str(study.dataset_dir.parent),
        "--weights",
        str(study.weights),
        "--out",
        str(study.out_dir),
    ]
    parts += ["--limit", str(study.limit)] if study.limit else []
    parts += ["--recipe", study.recipe] if study.recipe != "paper" else []
    default = features.ExtractionOptions()
    for flag, name in (("--shard-size", "shard_size"), ("--batch-size", "batch_size")):
        value = getattr(extraction, name)
        parts += [flag, str(value)] if value != getattr(default, name) else []
    return shlex.join(parts)


def _shard_result(
    study: pipeline.Study, stores: dict, extraction: features.ExtractionOptions
) -> dict:
    folder, shard = study.out_dir / "features", extraction.shard
    return {
        "shard": f"{shard[0]}/{shard[1]}",
        "out": str(study.out_dir),
        "stores": {
            name: {
                "rows": store.n_rows,
                "shards": len(store.manifest["shards"]),
                "missing": len(store.missing_shards()),
            }
            for name, store in stores.items()
        },
        "copy": shlex.join(["rsync", "-a", "--protect-args", f"HOST:{folder}/", f"{folder}/"]),
        "next": finish_command(study, extraction),
    }


def shard_text(result: dict) -> str:
    """What a ``--shard`` run prints: what it did, what to copy where, the command that finishes."""
    stores = ", ".join(
        f"{name} {s['shards'] - s['missing']} of {s['shards']}"
        for name, s in result["stores"].items()
    )
    return (
        f"shard {result['shard']} done. Shards now in {result['out']}/features: {stores}.\n"
        f"When every machine is done, copy each one's features/ into one run folder, e.g.\n"
        f"  {result['copy']}\n"
        f"then run there (without --shard) to merge them and finish:\n  {result['next']}"
    )
