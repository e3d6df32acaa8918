"""The feature store: CheXNet's pooled features (1024-d), computed once per image, on disk.

With a frozen base, Keras 3 runs BatchNormalization in inference mode, so "frozen base + head"
is exactly "cached features + head": the base runs once per image here and the head trains
on the store (:mod:`tchexnet_lib.training`) in seconds per epoch instead of minutes.

Layout of a store folder::

    manifest.json            the key (weights, preprocessing, dtype, rows), the preflight report,
                             the shard plan; once complete, every shard's sha256
    features-00000.npy       rows [0, shard_size) of the kept images, (n, width), allow_pickle=False
    done-00000.json          written after its shard: the shard's sha256 and the store key's hash
    ...

Reliability:

- **Aligned.** :func:`images.preflight` runs first; shard rows are the kept rows in input order;
  ``rows = kept + skipped`` is recorded and checked.
- **Atomic.** Every file is written to a temporary name in the same folder (``.tmp-…``, which
  never matches ``features-*.npy``) and renamed into place. A shard counts only once its
  ``done-*.json`` exists and its sha256 matches: a run killed at any point (``kill -9``
  included) resumes at the first missing shard and never trusts a half-written file.
- **Keyed.** A store made with other weights, preprocessing, dtype, rows (or shard size) is stale:
  it is detected, the reason logged, and recomputed; never silently reused.
- **Sharded across machines.** ``shard=(i, N)`` computes the shard blocks ``k`` with
  ``k % N == i``; :func:`merge` (or :func:`load_features`) refuses a store with missing blocks and
  names them; so does :func:`verify_store`, which computes nothing and also checks that every
  copied shard was computed for this store's key (weights, preprocessing, rows).
- **Streaming.** Only the paths and one shard of features are in memory: memory does not grow with
  the number of images.
- **Batches never straddle shards**, so a resumed or sharded run computes every row in the same
  batch as an uninterrupted run and gives identical features.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tchexnet_lib import backbones, errors, files, images, models, runtime
from tchexnet_lib.config import PreprocessConfig, progress_bar

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = [
    "DTYPES",
    "ExtractionOptions",
    "FORMAT",
    "FeatureStore",
    "MANIFEST",
    "assigned_shards",
    "extract_features",
    "images_per_second",
    "load_features",
    "merge",
    "missing_blocks",
    "parse_shard",
    "verify_store",
]


log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: Version tag of the store layout, part of the key.
FORMAT = "tchexnet-feature-store/1"
MANIFEST = "manifest.json"
#: dtypes a store can hold.
DTYPES: tuple[str, ...] = ("float32", "float16")
_SHARD = "features-{:05d}.npy"
_RECORD = "done-{:05d}.json"


def parse_shard(shard: str | Sequence[int] | None) -> tuple[int, int] | None:
    """``"1/4"`` or ``(1, 4)`` → ``(1, 4)``: machine ``i`` (0-based) of ``N``.

    Raises:
        ValueError: not ``i/N`` with ``0 <= i < N``.
    """
    if shard is None:
        return None
    try:
        i, n = (int(v) for v in (shard.split("/") if isinstance(shard, str) else shard))
    except (TypeError, ValueError):
        raise ValueError(f"shard {shard!r}: expected 'i/N', e.g. '0/4' (i counts from 0)") from None
    if not 0 <= i < n:
        raise ValueError(
            f"shard {shard!r}: expected i/N with 0 <= i < N (i counts from 0), e.g. '0/{max(n, 1)}'"
        )
    return i, n


def assigned_shards(n_shards: int, shard: tuple[int, int] | None) -> list[int]:
    """Shard blocks one machine computes: block ``k`` goes to machine ``k % N``."""
    if shard is None:
        return list(range(n_shards))
    i, n = shard
    return [k for k in range(n_shards) if k % n == i]


@dataclass(frozen=True)
class ExtractionOptions:
    """How a store is filled: what travels together from the command's flags to the forward pass.

    Attributes:
        batch_size: images per forward pass; must divide ``shard_size``.
        shard_size: rows per shard file (part of the store's key).
        dtype: ``"float32"`` or ``"float16"`` (half the disk, ~1e-3 relative rounding; part of
            the key).
        on_error: ``"raise"`` (a bad image stops before any forward pass) or ``"skip"``
            (recorded in the manifest; ``rows = kept + skipped``).
        shard: ``(i, N)`` or ``"i/N"`` (kept as ``(i, N)``): compute only shard blocks
            ``k % N == i``, so N machines can fill one store; :func:`merge` checks that all are
            there.
        devices: device names to mirror the forward pass over
            (:func:`runtime.strategy_for_devices`); None: every GPU, else every CPU. A model
            built outside the strategy's scope is copied into it once.
        num_parallel_calls: images decoded in parallel; None: ``tf.data.AUTOTUNE``.
        on_batch: called with the number of rows of each batch computed (an ETA's clock).

    Raises:
        ValueError: a dtype, error policy, batch or shard size, or shard the store cannot use.
    """

    batch_size: int = 32
    shard_size: int = 1024
    dtype: str = "float32"
    on_error: str = "raise"
    shard: tuple[int, int] | None = None
    devices: tuple[str, ...] | None = None
    num_parallel_calls: int | None = None
    on_batch: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r}: use one of {DTYPES}")
        if self.on_error not in images.ON_ERROR:
            raise ValueError(f"on_error={self.on_error!r}: use one of {images.ON_ERROR}")
        if self.batch_size < 1 or self.shard_size < 1:
            raise ValueError(
                f"batch_size ({self.batch_size}) and shard_size ({self.shard_size}) must be ≥ 1"
            )
        if self.shard_size % self.batch_size:
            raise ValueError(
                f"shard_size ({self.shard_size}) must be a multiple of batch_size "
                f"({self.batch_size}), so that no batch straddles two shards"
            )
        object.__setattr__(self, "shard", parse_shard(self.shard))
        if self.devices is not None:
            object.__setattr__(self, "devices", tuple(self.devices))


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureStore:
    """A feature-store folder and its manifest (see the module docstring for the layout).

    Attributes:
        path: the folder.
        manifest: the parsed ``manifest.json``.
    """

    path: Path
    manifest: dict

    @property
    def complete(self) -> bool:
        """Every shard written and verified (the manifest lists their sha256)."""
        return bool(self.manifest.get("complete"))

    @property
    def n_rows(self) -> int:
        """Number of input rows (``n_kept + n_skipped``)."""
        return int(self.manifest["preflight"]["n_total"])

    @property
    def kept_indices(self) -> np.ndarray:
        """Input rows the features belong to, ascending; feature row ``j`` is input row
        ``kept_indices[j]``."""
        return np.asarray(self.manifest["preflight"]["kept_indices"], dtype=np.int64)

    @property
    def skipped(self) -> list[dict]:
        """``{"index", "path", "reason"}`` for each input row without features."""
        return list(self.manifest["preflight"]["skipped"])

    def missing_shards(self) -> list[str]:
        """File names of the shards not (validly) written yet."""
        return [
            _SHARD.format(k)
            for k in range(len(self.manifest["shards"]))
            if not _shard_is_valid(self.path, self.manifest, k)
        ]

    def load(self) -> np.ndarray:
        """The features, (n_kept, width), in the store's dtype (see :func:`load_features`)."""
        return load_features(self.path)[0]


def _store_key(
    weights_sha256: str,
    weights_source: str,
    config: PreprocessConfig,
    options: ExtractionOptions,
    paths: Sequence[str],
    report: images.PreflightReport,
) -> dict:
    """What the features depend on; any difference makes an existing store stale."""
    key = {
        "format": FORMAT,
        "weights_sha256": weights_sha256,
        "weights_source": weights_source,
        "preprocessing": config.to_dict(),
        "dtype": options.dtype,
        "rows_sha256": files.sha256_lines(paths),
        "n_rows": len(paths),
        "kept_sha256": files.sha256_json(list(report.kept_indices)),
        "shard_size": options.shard_size,
    }
    return json.loads(json.dumps(key))  # as it reads back from the manifest (tuples → lists)


def _stale_reasons(stored: dict | None, key: dict) -> list[str]:
    """Why a stored key differs from ``key``, one short phrase per field."""
    if stored is None:
        return ["its manifest is missing or unreadable"]
    old = stored.get("key", {})
    reasons = []
    for field, value in key.items():
        before = old.get(field)
        if before == value:
            continue
        if isinstance(value, dict) and isinstance(before, dict):
            parts = [
                f"{name} {before.get(name)!r} → {value.get(name)!r}"
                for name in sorted(set(value) | set(before))
                if before.get(name) != value.get(name)
            ]
            reasons.append(f"{field} differs ({', '.join(parts)})")
        else:
            reasons.append(f"{field} differs (stored {str(before)[:70]}, now {str(value)[:70]})")
    return reasons


def _shard_plan(n_kept: int, shard_size: int) -> list[dict]:
    n_shards = math.ceil(n_kept / shard_size)
    return [
        {
            "name": _SHARD.format(k),
            "start": k * shard_size,
            "stop": min((k + 1) * shard_size, n_kept),
        }
        for k in range(n_shards)
    ]


def _shard_problem(folder: Path, manifest: dict, k: int) -> str | None:
    """Why shard ``k`` cannot be used (missing, of another store, corrupt), or None."""
    record = files.read_json(folder / _RECORD.format(k))
    plan = manifest["shards"][k]
    shard = folder / plan["name"]
    if record is None or not shard.is_file():
        return "missing"
    if record.get("key_sha256") != manifest["key_sha256"] or [
        record.get("start"),
        record.get("stop"),
    ] != [plan["start"], plan["stop"]]:
        return "computed for another store (other weights, preprocessing, rows or shard size)"
    if files.sha256_file(shard) != record.get("sha256"):
        return "corrupt (its sha256 differs from its record)"
    return None


def _shard_is_valid(folder: Path, manifest: dict, k: int) -> bool:
    """Shard ``k`` exists, its record matches this store's key, and its sha256 matches."""
    return _shard_problem(folder, manifest, k) is None


def _refuse_unusable(folder: Path, manifest: dict) -> None:
    """Raise :class:`errors.FeatureStoreError` naming every shard not usable, and why."""
    bad = [
        (plan["name"], why)
        for k, plan in enumerate(manifest["shards"])
        if (why := _shard_problem(folder, manifest, k))
    ]
    if bad:
        shown = "; ".join(f"{name} {why}" for name, why in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise errors.FeatureStoreError(
            f"feature store {folder}: {len(bad)} of {len(manifest['shards'])} shard(s) not "
            f"usable: {shown}{more}; copy every machine's shards here, or run the missing "
            "`--shard i/N` again"
        )


def _merged(folder: Path, manifest: dict) -> dict:
    """The store's manifest once every shard (copied from other machines) checks; else raise.

    The manifest found is used when its key is ``manifest``'s; nothing is deleted.
    """
    existing = files.read_json(folder / MANIFEST)
    if existing is not None and existing.get("key_sha256") == manifest["key_sha256"]:
        manifest = existing
    _refuse_unusable(folder, manifest)
    return _finish_if_complete(folder, manifest)


def _remove_shard(folder: Path, k: int) -> None:
    (folder / _SHARD.format(k)).unlink(missing_ok=True)
    (folder / _RECORD.format(k)).unlink(missing_ok=True)


def _clean_temps(folder: Path, shards: Sequence[int]) -> None:
    """Remove leftover temporary files of these shards (from a killed run)."""
    for k in shards:
        for name in (_SHARD.format(k), _RECORD.format(k)):
            for stray in folder.glob(f"{files.TEMPORARY_PREFIX}*-{name}"):
                log.info("removing leftover temporary file %s", stray)
                stray.unlink(missing_ok=True)


def _remove_stale(folder: Path, key_sha: str, mine: Sequence[int]) -> None:
    """Delete shards whose record belongs to another key, and unrecorded shards of mine."""
    for record_path in folder.glob("done-*.json"):
        record = files.read_json(record_path)
        if record is None or record.get("key_sha256") != key_sha:
            shard = folder / record_path.name.replace("done-", "features-").replace(".json", ".npy")
            shard.unlink(missing_ok=True)
            record_path.unlink(missing_ok=True)
    for k in mine:
        if not (folder / _RECORD.format(k)).exists():
            (folder / _SHARD.format(k)).unlink(missing_ok=True)


def _open_store(folder: Path, manifest: dict, mine: Sequence[int]) -> dict:
    """Write the manifest of intent, or detect that the existing store is stale and reset it.

    Returns:
        The manifest in force: the existing one when its key matches, else ``manifest``.
    """
    existing_path = folder / MANIFEST
    existing = files.read_json(existing_path) if existing_path.exists() else None
    if existing is not None and existing.get("key_sha256") == manifest["key_sha256"]:
        return existing
    if existing_path.exists() or any(folder.glob("features-*.npy")):
        reasons = _stale_reasons(existing, manifest["key"])
        log.warning("feature store %s is stale: %s; recomputing it", folder, "; ".join(reasons))
    _remove_stale(folder, manifest["key_sha256"], mine)
    files.save_json(manifest, existing_path)
    return manifest


def _reopen(folder: Path, manifest: dict) -> dict:
    """Mark a finished store unfinished again (its shard hashes are re-derived when complete)."""
    shards = [{k: v for k, v in plan.items() if k != "sha256"} for plan in manifest["shards"]]
    manifest = dict(manifest, complete=False, shards=shards)
    files.save_json(manifest, folder / MANIFEST)
    return manifest


def _finish_if_complete(folder: Path, manifest: dict) -> dict:
    """If every shard is valid, write the final manifest (with each shard's sha256)."""
    if manifest.get("complete"):
        return manifest
    final = dict(manifest, shards=[dict(s) for s in manifest["shards"]])
    widths = set()
    for k, shard in enumerate(final["shards"]):
        if not _shard_is_valid(folder, manifest, k):
            return manifest
        record = files.read_json(folder / _RECORD.format(k))
        shard["sha256"] = record["sha256"]
        widths.add(record["shape"][1])
    if len(widths) != 1:
        raise errors.FeatureStoreError(
            f"{folder}: shards of different feature widths {sorted(widths)}"
        )
    final["complete"], final["n_features"] = True, widths.pop()  # the width found
    files.save_json(final, folder / MANIFEST)
    return final


# ---------------------------------------------------------------------------------------------
# The forward pass, on one device or mirrored over several
# ---------------------------------------------------------------------------------------------


def _cached_forward(model: keras.Model, strategy: tf.distribute.Strategy):
    """:func:`_make_forward` of ``model``'s feature extractor, built once per (model, strategy)."""
    return models.compiled(
        model,
        ("features", strategy),
        lambda: _make_forward(models.feature_extractor(model), strategy),
    )


def _make_forward(extractor: keras.Model, strategy: tf.distribute.Strategy):
    """A compiled forward ``batch → float32 (n, width)`` and how to feed it a dataset."""
    import keras
    import tensorflow as tf

    if strategy.num_replicas_in_sync == 1:
        spec = tf.TensorSpec((None, *extractor.input.shape[1:]), tf.float32)
        forward = tf.function(
            lambda x: tf.cast(extractor(x, training=False), tf.float32), input_signature=[spec]
        )
        return forward, lambda dataset: dataset
    replica = extractor
    if not strategy.extended.variable_created_in_scope(extractor.weights[0].value):
        owner = getattr(extractor.weights[0].value, "_distribute_strategy", None)
        with owner.scope() if owner is not None else contextlib.nullcontext():
            values = extractor.get_weights()  # mirrored elsewhere: read in its own strategy
        with strategy.scope():  # variables must live on every replica
            replica = keras.models.clone_model(extractor)
            replica.set_weights(values)

    @tf.function
    def mirrored(batch):
        out = strategy.run(lambda x: tf.cast(replica(x, training=False), tf.float32), args=(batch,))
        return strategy.gather(out, axis=0)  # replica order = the batch's order

    return mirrored, strategy.experimental_distribute_dataset


def _compute_shards(
    store: FeatureStore,
    pending: dict[int, list[str]],
    model: keras.Model,
    config: PreprocessConfig,
    options: ExtractionOptions,
    progress: bool,
) -> None:
    """Stream the pending shards' images (shard → its kept paths) through the model; write each
    shard as it fills."""
    folder, manifest = store.path, store.manifest
    plans = [manifest["shards"][k] for k in pending]
    paths = [p for shard_paths in pending.values() for p in shard_paths]
    forward, distribute = _cached_forward(model, runtime.strategy_for_devices(options.devices))
    # shard_size is a multiple of batch_size and only the last shard is short, so batches
    # of the concatenated pending shards never straddle a shard boundary.
    dataset = distribute(
        runtime.without_autotune(
            images.make_dataset(
                paths,
                config,
                batch_size=options.batch_size,
                num_parallel_calls=options.num_parallel_calls,
            )
        )
    )
    dtype = manifest["key"]["dtype"]
    buffer: list[np.ndarray] = []
    filled, todo = 0, list(zip(pending, plans))
    with progress_bar(
        total=len(paths), desc="features", unit="row", disable=not progress, smoothing=0.1
    ) as bar:
        for batch in dataset:
            out = forward(batch).numpy()
            buffer.append(out)
            filled += len(out)
            bar.update(len(out))
            if options.on_batch is not None:
                options.on_batch(len(out))
            k, plan = todo[0]
            if filled == plan["stop"] - plan["start"]:
                _write_shard(folder, manifest, k, np.concatenate(buffer).astype(dtype))
                buffer, filled = [], 0
                todo.pop(0)
    if todo:
        raise RuntimeError(f"feature extraction ended early: {len(todo)} shard(s) not filled")


def _write_shard(folder: Path, manifest: dict, k: int, array: np.ndarray) -> None:
    """Shard file first, then its record: a record always points to a complete shard."""
    plan = manifest["shards"][k]
    path = folder / plan["name"]
    files.save_npy(array, path)
    files.save_json(
        {
            "key_sha256": manifest["key_sha256"],
            "start": plan["start"],
            "stop": plan["stop"],
            "shape": list(array.shape),
            "dtype": str(array.dtype),
            "sha256": files.sha256_file(path),
            "host": socket.gethostname(),
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        folder / _RECORD.format(k),
    )


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def _build_manifest(key: dict, report: images.PreflightReport, batch_size: int) -> dict:
    import keras
    import tensorflow as tf

    return {
        "format": FORMAT,
        "key": key,
        "key_sha256": files.sha256_json(key),
        "dtype": key["dtype"],
        "shard_size": key["shard_size"],
        "shards": _shard_plan(report.n_kept, key["shard_size"]),
        "preflight": report.to_dict(),
        "complete": False,
        "provenance": {
            "batch_size": batch_size,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
    }


def _preflight(
    paths: Sequence[PathLike], config: PreprocessConfig, on_error: str, progress: bool
) -> tuple[list[str], images.PreflightReport]:
    """The paths as strings and their :func:`images.preflight` report (some image kept)."""
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("feature store: no paths given")
    report = images.preflight(paths, config, on_error=on_error, progress=progress)
    if report.n_kept == 0:
        raise ValueError(f"feature store: no usable image ({report.summary()})")
    if report.n_skipped:
        log.warning("feature store: %s", report.summary())
    return paths, report


def extract_features(
    model_or_extractor: keras.Model | Callable[[], keras.Model],
    paths: Sequence[PathLike],
    out_dir: PathLike,
    config: PreprocessConfig = PreprocessConfig(),
    options: ExtractionOptions = ExtractionOptions(),
    weights_sha256: str | None = None,
    progress: bool = True,
) -> FeatureStore:
    """Compute (or resume, or reuse) the features of ``paths`` into a store folder.

    Args:
        model_or_extractor: CheXNet, tCheXNet or a :func:`models.feature_extractor`; its
            ``avg_pool`` output is stored. Or a function without arguments that builds
            one, called only if some rows must be computed (a store that is already
            complete then costs no model build); it needs ``weights_sha256``.
        paths: image files, in row order (e.g. a labels CSV's ``image_path`` column).
        out_dir: the store folder (created).
        config: preprocessing, as for :func:`images.load_image`; part of the key.
        options: batch and shard sizes, dtype, bad images, this machine's shard, devices
            (:class:`ExtractionOptions`; its defaults when not given).
        weights_sha256: sha256 of the weight file the model was loaded from (key field);
            default: a digest of the model's weights in memory.
        progress: show a tqdm bar (images/s, ETA).

    Returns:
        The :class:`FeatureStore` (``complete`` is False while other machines' shards are
        missing).

    Raises:
        ValueError: bad arguments, or no usable image.
        ImageError: with ``on_error="raise"``, the first unusable file.
    """
    import keras

    paths, report = _preflight(paths, config, options.on_error, progress)
    build = None if isinstance(model_or_extractor, keras.Model) else model_or_extractor
    if build is None:
        backbones.check_normalisation(model_or_extractor, config.normalisation)  # before any work
    elif not weights_sha256:
        raise ValueError(
            "extract_features: a model-building function needs weights_sha256 "
            "(the store's key cannot be computed without the model)"
        )
    source = "file" if weights_sha256 else "model weights in memory"
    digest = weights_sha256 or models.weights_digest(models.feature_extractor(model_or_extractor))
    key = _store_key(digest, source, config, options, paths, report)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _build_manifest(key, report, options.batch_size)
    mine = assigned_shards(len(manifest["shards"]), options.shard)
    manifest = _open_store(folder, manifest, mine)
    _clean_temps(folder, mine)
    pending = [k for k in mine if not _shard_is_valid(folder, manifest, k)]
    for k in pending:
        _remove_shard(folder, k)
    if pending and manifest.get("complete"):  # a shard vanished from a finished store
        manifest = _reopen(folder, manifest)
    if pending:
        log.info("feature store %s: computing %d of %d shard(s)", folder, len(pending), len(mine))
        if build is not None:
            model_or_extractor = build()
            backbones.check_normalisation(model_or_extractor, config.normalisation)
        shards = [manifest["shards"][k] for k in pending]
        kept = report.kept_paths
        _compute_shards(
            FeatureStore(folder, manifest),
            {k: kept[plan["start"] : plan["stop"]] for k, plan in zip(pending, shards)},
            model_or_extractor,
            config,
            options,
            progress,
        )
    return FeatureStore(folder, _finish_if_complete(folder, manifest))


def verify_store(
    paths: Sequence[PathLike],
    out_dir: PathLike,
    weights_sha256: str,
    config: PreprocessConfig = PreprocessConfig(),
    options: ExtractionOptions = ExtractionOptions(),
    progress: bool = True,
) -> FeatureStore:
    """Check a store whose shards other machines computed (``shard``), and finish it.

    Computes nothing and deletes nothing: every shard must be there (copied from the machines
    that computed them), intact, and computed for the key of these paths, weights,
    preprocessing, dtype and shard size; the images are preflighted to know the kept rows.

    Args:
        paths: image files, in row order, as given to :func:`extract_features`.
        out_dir: the store folder.
        weights_sha256: sha256 of the weight file the features come from.
        config: the preprocessing the features were computed with.
        options: the extraction's options (its ``dtype``, ``shard_size`` and ``on_error``
            count; the shard and devices do not).
        progress: show the preflight's bar.

    Returns:
        The complete :class:`FeatureStore`, its manifest finished.

    Raises:
        ValueError: no path or no usable image.
        FeatureStoreError: shards missing, corrupt or of another key (each named).
    """
    paths, report = _preflight(paths, config, options.on_error, progress)
    key = _store_key(weights_sha256, "file", config, options, paths, report)
    folder = Path(out_dir)
    return FeatureStore(folder, _merged(folder, _build_manifest(key, report, options.batch_size)))


def missing_blocks(
    out_dir: PathLike,
    paths: Sequence[PathLike],
    weights_sha256: str,
    shard_size: int = ExtractionOptions.shard_size,
) -> dict[int, int] | None:
    """The blocks of a store still to compute, read from its manifest without touching an image.

    Args:
        out_dir: the store folder (as given to :func:`extract_features`).
        paths: the image files, in row order.
        weights_sha256: sha256 of the weight file the features come from.
        shard_size: rows per shard (part of the key).

    Returns:
        ``{block: rows}`` for each block not validly written (empty for a complete store), or
        None when the folder holds no store of these rows, weights and shard size: then every
        row is to compute.
    """
    folder = Path(out_dir)
    manifest = files.read_json(folder / MANIFEST) or {}
    key = manifest.get("key", {})
    if [key.get("rows_sha256"), key.get("weights_sha256"), key.get("shard_size")] != [
        files.sha256_lines([os.fspath(p) for p in paths]),
        weights_sha256,
        shard_size,
    ]:
        return None
    return {
        k: shard["stop"] - shard["start"]
        for k, shard in enumerate(manifest["shards"])
        if not _shard_is_valid(folder, manifest, k)
    }


def images_per_second(
    model: keras.Model,
    paths: Sequence[PathLike],
    config: PreprocessConfig = PreprocessConfig(),
    batch_size: int = 16,
) -> float:
    """The feature extractor's speed on this machine, decoding included, timed on ``paths``.

    One batch runs first, untimed (the first call traces the graph); then every image of
    ``paths`` is timed. A few dozen images give the order of magnitude a notebook needs to say
    how long a step will take before it starts.

    Raises:
        ValueError: no path given.
    """
    if not paths:
        raise ValueError("images_per_second: no paths given")
    extractor = models.feature_extractor(model)
    batches = images.make_dataset([os.fspath(p) for p in paths], config, batch_size=batch_size)
    extractor.predict(batches.take(1), verbose=0)
    start = time.perf_counter()
    extractor.predict(batches, verbose=0)
    return len(paths) / (time.perf_counter() - start)


def _read_manifest(folder: Path) -> dict:
    manifest = files.read_json(folder / MANIFEST)
    if manifest is None or manifest.get("format") != FORMAT:
        raise errors.FeatureStoreError(
            f"{folder}: not a feature store ({MANIFEST} missing or unreadable); "
            "create it with features.extract_features or `tchexnet extract`"
        )
    return manifest


def _verify(folder: Path, manifest: dict) -> None:
    """Raise :class:`errors.FeatureStoreError` naming every missing or corrupt shard."""
    bad = []
    for k, plan in enumerate(manifest["shards"]):
        path = folder / plan["name"]
        if manifest.get("complete") and "sha256" in plan:
            ok = path.is_file() and files.sha256_file(path) == plan["sha256"]
        else:
            ok = _shard_is_valid(folder, manifest, k)
        if not ok:
            bad.append(plan["name"])
    if bad:
        n = len(manifest["shards"])
        shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise errors.FeatureStoreError(
            f"feature store {folder} is incomplete: {len(bad)} of {n} shard(s) missing or "
            f"corrupt: {shown}; run the extraction (each `--shard i/N`) again to fill them"
        )


def merge(out_dir: PathLike) -> FeatureStore:
    """Check that every machine's shards are there and finish the manifest.

    Raises:
        FeatureStoreError: not a store, or shards missing (named).
    """
    folder = Path(out_dir)
    manifest = _read_manifest(folder)
    _verify(folder, manifest)
    return FeatureStore(folder, _finish_if_complete(folder, manifest))


def load_features(out_dir: PathLike, verify: bool = True) -> tuple[np.ndarray, dict]:
    """Read a complete store.

    Args:
        out_dir: the store folder.
        verify: check every shard's sha256 first.

    Returns:
        ``(features, manifest)``: features of shape (n_kept, the width found: 1024 for
        DenseNet-121) in the store's dtype, row
        ``j`` for input row ``manifest["preflight"]["kept_indices"][j]``.

    Raises:
        FeatureStoreError: not a store, or a shard missing, corrupt or of the wrong shape
            (named).
    """
    folder = Path(out_dir)
    manifest = _read_manifest(folder)
    if verify:
        _verify(folder, manifest)
    if "n_features" not in manifest:
        raise errors.FeatureStoreError(
            f"{folder}: incomplete store (shards still missing); "
            "finish it with features.extract_features"
        )
    n_kept = manifest["preflight"]["n_kept"]
    out = np.empty((n_kept, manifest["n_features"]), dtype=manifest["dtype"])
    for plan in manifest["shards"]:
        path = folder / plan["name"]
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise errors.FeatureStoreError(f"{path}: unreadable shard ({error})") from error
        want = (plan["stop"] - plan["start"], manifest["n_features"])
        if array.shape != want or str(array.dtype) != manifest["dtype"]:
            raise errors.FeatureStoreError(
                f"{path}: shape {array.shape} {array.dtype}, expected {want} {manifest['dtype']}"
            )
        out[plan["start"] : plan["stop"]] = array
    return out, manifest
