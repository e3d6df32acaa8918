"""The feature store: alignment, manifest key, stale detection, resume after kill -9, shards."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tchexnet_lib import errors, features, files, images, models, runtime
from tchexnet_lib.config import PreprocessConfig
from tchexnet_lib.tools import cli

SHAPE = (64, 64, 3)
CFG = PreprocessConfig(size=SHAPE[:2])
N_IMAGES = 40
BATCH, SHARD = 4, 8  # 40 rows → 5 shards
ROOT = Path(__file__).resolve().parent.parent


def _xray(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A gray image with structure (gradient, a bright blob, noise), 8-bit."""
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
    blob = 120 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (0.15 * width) ** 2))
    image = 40 + 80 * xx / width + blob + rng.normal(0, 8, (height, width))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image_paths(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(N_IMAGES):
        path = folder / f"img{i:02d}.jpg"
        Image.fromarray(_xray(rng, 78 + i % 5, 64 + i % 7)).save(path, quality=92)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def model_and_weights(tmp_path_factory: pytest.TempPathFactory):
    """A random CheXNet at 64×64 and its weight file (random weights: fast, and enough here)."""
    import keras

    keras.utils.set_random_seed(3)
    model = models.build_chexnet(input_shape=SHAPE)
    path = models.save_weights_atomic(model, tmp_path_factory.mktemp("w") / "chexnet.weights.h5")
    return model, (path, files.sha256_file(path))


@pytest.fixture(scope="module")
def weights(model_and_weights) -> tuple[Path, str]:
    return model_and_weights[1]


@pytest.fixture(scope="module")
def model(model_and_weights):
    return model_and_weights[0]


def extract(model, paths, out, weights_sha, config=CFG, **options) -> features.FeatureStore:
    """``extract_features`` with the test's batch and shard sizes unless ``options`` say others."""
    chosen = features.ExtractionOptions(**({"batch_size": BATCH, "shard_size": SHARD} | options))
    return features.extract_features(model, paths, out, config, chosen, weights_sha, False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, model, weights, image_paths) -> tuple[Path, np.ndarray]:
    out = tmp_path_factory.mktemp("ref") / "store"
    store = extract(model, image_paths, out, weights[1])
    assert store.complete
    return out, features.load_features(out)[0]


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".tmp-*"))


def copy_store(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


# ---------------------------------------------------------------------------------------------


def test_rows_align_with_the_images(model, image_paths, reference):
    out, feats = reference
    assert feats.shape == (N_IMAGES, 1024) and feats.dtype == np.float32
    assert feats.std() > 1e-3, "features must vary, or alignment could not be tested"
    extractor = models.feature_extractor(model)
    for index in (0, 9, N_IMAGES - 1):  # first shard, a middle shard, the last row
        direct = extractor(images.load_image(image_paths[index], CFG)[None], training=False)
        np.testing.assert_allclose(feats[index], np.asarray(direct)[0], atol=1e-5, rtol=0)
    assert not np.allclose(feats[0], feats[1])


def test_manifest_holds_the_key_and_shard_hashes(reference, weights, image_paths):
    out, _ = reference
    manifest = json.loads((out / features.MANIFEST).read_text())
    key = manifest["key"]
    assert key["weights_sha256"] == weights[1] and key["weights_source"] == "file"
    assert key["preprocessing"] == json.loads(json.dumps(CFG.to_dict()))
    assert key["dtype"] == "float32" and key["shard_size"] == SHARD
    assert key["rows_sha256"] == files.sha256_lines(image_paths)
    assert manifest["complete"] is True
    names = [shard["name"] for shard in manifest["shards"]]
    assert names == [f"features-{k:05d}.npy" for k in range(5)]
    assert sorted(p.name for p in out.glob("features-*.npy")) == names
    for shard in manifest["shards"]:
        assert files.sha256_file(out / shard["name"]) == shard["sha256"]
    preflight = manifest["preflight"]
    assert preflight["n_total"] == preflight["n_kept"] + preflight["n_skipped"] == N_IMAGES
    assert temporaries(out) == []


def test_reuse_computes_nothing(model, weights, image_paths, reference, tmp_path, caplog):
    out = copy_store(reference[0], tmp_path / "store")
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with caplog.at_level(logging.INFO, logger="tchexnet_lib.features"):
        store = extract(model, image_paths, out, weights[1])
    assert store.complete and "computing" not in caplog.text and "stale" not in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


@pytest.mark.parametrize("change", ["weights", "preprocessing", "dtype", "rows"])
def test_fault_19_stale_store_is_detected_and_recomputed(
    model, weights, image_paths, reference, tmp_path, caplog, change
):
    out = copy_store(reference[0], tmp_path / "store")
    old_key = json.loads((out / features.MANIFEST).read_text())["key_sha256"]
    kwargs, paths, field = {}, image_paths, change
    if change == "weights":
        kwargs["weights_sha256"] = "0" * 64
        field = "weights_sha256"
    elif change == "preprocessing":
        kwargs["config"] = PreprocessConfig(size=SHAPE[:2], interpolation="nearest")
    elif change == "dtype":
        kwargs["dtype"] = "float16"
    else:
        paths = image_paths[::-1]
        field = "rows_sha256"
    with caplog.at_level(logging.INFO, logger="tchexnet_lib.features"):
        store = extract(model, paths, out, kwargs.pop("weights_sha256", weights[1]), **kwargs)
    assert f"is stale: {field} differs" in caplog.text or f"; {field} differs" in caplog.text
    assert "computing 5 of 5 shard(s)" in caplog.text
    assert store.complete and store.manifest["key_sha256"] != old_key
    for record in out.glob("done-*.json"):
        assert json.loads(record.read_text())["key_sha256"] == store.manifest["key_sha256"]
    feats, manifest = features.load_features(out)
    ref = reference[1]
    if change == "dtype":
        assert feats.dtype == np.float16 and manifest["dtype"] == "float16"
        np.testing.assert_allclose(feats.astype(np.float32), ref, rtol=2e-3, atol=1e-4)
    elif change == "rows":
        np.testing.assert_allclose(feats, ref[::-1], atol=1e-5, rtol=0)
    elif change == "preprocessing":
        assert np.abs(feats - ref).max() > 1e-4  # nearest resizing gives other features
    else:
        np.testing.assert_array_equal(feats, ref)
    assert temporaries(out) == []


def test_skip_report_reconciles(model, weights, image_paths, reference, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    truncated = bad / "truncated.jpg"
    raw = Path(image_paths[0]).read_bytes()
    truncated.write_bytes(raw[: len(raw) * 2 // 3])
    (bad / "page.jpg").write_text("<html>not found</html>")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(bad / "tiny.png")
    paths = [
        image_paths[0],
        str(truncated),
        image_paths[1],
        str(bad / "page.jpg"),
        str(bad / "tiny.png"),
        image_paths[2],
    ]
    with pytest.raises(errors.ImageError, match="truncated.jpg.*2 more bad files"):
        extract(model, paths, tmp_path / "raise", weights[1])
    store = extract(model, paths, tmp_path / "skip", weights[1], on_error="skip")
    report = store.manifest["preflight"]
    assert (report["n_total"], report["n_kept"], report["n_skipped"]) == (6, 3, 3)
    assert report["kept_indices"] == [0, 2, 5] and store.kept_indices.tolist() == [0, 2, 5]
    assert [row["index"] for row in store.skipped] == [1, 3, 4]
    assert "truncated" in store.skipped[0]["reason"]
    assert "not an image" in store.skipped[1]["reason"]
    np.testing.assert_allclose(store.load(), reference[1][:3], atol=1e-5, rtol=0)


KILL_SCRIPT = """
import os, signal, sys
from tchexnet_lib import features, files, models
from tchexnet_lib.config import PreprocessConfig

weights, out, paths_file = sys.argv[1:4]
original, calls = files.save_npy, []

def dies_while_writing_the_third_shard(array, path):
    calls.append(path)
    if len(calls) == 3:  # half a temporary file on disk, then kill -9
        files.temporary_path(path).write_bytes(b"\\x93NUMPY" + bytes(1000))
        os.kill(os.getpid(), signal.SIGKILL)
    original(array, path)

files.save_npy = dies_while_writing_the_third_shard
model = models.build_chexnet(weights, input_shape=(64, 64, 3))
features.extract_features(model, open(paths_file).read().split(), out,
                          PreprocessConfig(size=(64, 64)),
                          features.ExtractionOptions(batch_size=4, shard_size=8),
                          weights_sha256=files.sha256_file(weights), progress=False)
"""


def start_script(script: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: int = 180) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out, err


@pytest.fixture(scope="module")
def subprocesses(tmp_path_factory, weights, image_paths) -> dict:
    """Both subprocess scenarios, started together (each spends seconds importing and tracing)."""
    folder = tmp_path_factory.mktemp("subprocesses")
    all_paths, some_paths = folder / "all.txt", folder / "some.txt"
    all_paths.write_text("\n".join(image_paths))
    some_paths.write_text("\n".join(image_paths[:16]))
    runs = {
        "kill": (
            folder / "killed",
            start_script(KILL_SCRIPT, str(weights[0]), str(folder / "killed"), str(all_paths)),
        ),
        "two_devices": (
            folder / "two",
            start_script(TWO_DEVICES_SCRIPT, str(weights[0]), str(folder / "two"), str(some_paths)),
        ),
    }
    yield runs
    for _, process in runs.values():
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.posix
@pytest.mark.slow
def test_fault_18_kill_9_mid_extraction_then_resume(
    model, weights, image_paths, reference, subprocesses, caplog
):
    out, process = subprocesses["kill"]
    returncode, _, stderr = finish(process)
    assert returncode == -9, stderr[-2000:]
    assert sorted(p.name for p in out.glob("features-*.npy")) == [
        "features-00000.npy",
        "features-00001.npy",
    ]
    assert len(temporaries(out)) == 1  # the half-written third shard
    with pytest.raises(errors.FeatureStoreError, match="3 of 5 shard.*features-00002.npy"):
        features.load_features(out)
    with caplog.at_level(logging.INFO, logger="tchexnet_lib.features"):
        store = extract(model, image_paths, out, weights[1])
    assert "computing 3 of 5 shard(s)" in caplog.text
    assert store.complete and temporaries(out) == []
    np.testing.assert_array_equal(features.load_features(out)[0], reference[1])


def test_fault_18_corrupt_shard_is_refused_then_recomputed(
    model, weights, image_paths, reference, tmp_path, caplog
):
    out = copy_store(reference[0], tmp_path / "store")
    shard = out / "features-00003.npy"
    raw = bytearray(shard.read_bytes())
    raw[-10] ^= 0xFF
    shard.write_bytes(bytes(raw))
    with pytest.raises(errors.FeatureStoreError, match="1 of 5 .*features-00003.npy"):
        features.load_features(out)
    with caplog.at_level(logging.INFO, logger="tchexnet_lib.features"):
        extract(model, image_paths, out, weights[1])
    assert "computing 1 of 5 shard(s)" in caplog.text
    np.testing.assert_array_equal(features.load_features(out)[0], reference[1])


def test_shards_across_machines_then_merge(model, weights, image_paths, reference, tmp_path):
    out = tmp_path / "store"
    first = extract(model, image_paths, out, weights[1], shard="0/2")
    assert not first.complete
    assert first.missing_shards() == ["features-00001.npy", "features-00003.npy"]
    with pytest.raises(errors.FeatureStoreError, match="features-00001.npy, features-00003.npy"):
        features.merge(out)
    second = extract(model, image_paths, out, weights[1], shard=(1, 2))
    assert second.complete
    merged = features.merge(out)
    assert merged.complete
    np.testing.assert_array_equal(features.load_features(out)[0], reference[1])


def test_verify_store_checks_copied_shards_and_computes_nothing(
    model, weights, image_paths, reference, tmp_path
):
    """The merge of other machines' shards: nothing computed or deleted; a missing shard, or one
    of another key, is named; once every shard is copied the store is finished."""
    out = tmp_path / "store"
    extract(model, image_paths, out, weights[1], shard="1/2")  # this machine: blocks 1 and 3
    options = features.ExtractionOptions(batch_size=BATCH, shard_size=SHARD)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(errors.FeatureStoreError, match="3 of 5 shard.*features-00000.npy missing"):
        features.verify_store(image_paths, out, weights[1], CFG, options, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    for k in (0, 2, 4):  # the other machine's shards, copied here
        for name in (f"features-{k:05d}.npy", f"done-{k:05d}.json"):
            shutil.copy(reference[0] / name, out / name)
    with pytest.raises(errors.FeatureStoreError, match="5 of 5 .*computed for another store"):
        features.verify_store(image_paths, out, "0" * 64, CFG, options, progress=False)
    store = features.verify_store(image_paths, out, weights[1], CFG, options, progress=False)
    assert store.complete and store.missing_shards() == []
    np.testing.assert_array_equal(store.load(), reference[1])


def test_extraction_options_travel_together(model, weights, image_paths, tmp_path):
    options = features.ExtractionOptions(shard="1/2", devices=["/CPU:0"])
    assert options.shard == (1, 2) and options.devices == ("/CPU:0",)
    assert options == features.ExtractionOptions(shard=(1, 2), devices=("/CPU:0",))
    for bad, match in [
        ({"on_error": "ignore"}, "on_error='ignore'"),
        ({"batch_size": 3, "shard_size": 8}, "multiple of batch_size"),
        ({"dtype": "int8"}, "dtype='int8'"),
        ({"shard": "2/2"}, "i/N"),
    ]:
        with pytest.raises(ValueError, match=match):
            features.ExtractionOptions(**bad)
    batches: list[int] = []
    store = extract(
        model,
        image_paths[:16],  # 2 shards of 8 rows: this machine's is block 1
        tmp_path / "store",
        weights[1],
        shard="1/2",
        devices=["/CPU:0"],
        on_batch=batches.append,
    )
    assert batches == [BATCH, BATCH] and store.missing_shards() == ["features-00000.npy"]


def test_arguments_are_checked(model, weights, image_paths, tmp_path):
    with pytest.raises(ValueError, match="i/N"):
        features.parse_shard("2/2")
    with pytest.raises(ValueError, match="multiple of batch_size"):
        extract(model, image_paths, tmp_path / "s", weights[1], batch_size=3)
    with pytest.raises(ValueError, match="dtype"):
        extract(model, image_paths, tmp_path / "s", weights[1], dtype="int8")
    with pytest.raises(errors.FeatureStoreError, match="not a feature store"):
        features.load_features(tmp_path)
    assert features.assigned_shards(7, (1, 3)) == [1, 4]


TWO_DEVICES_SCRIPT = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tchexnet_lib import features, files, models, runtime
from tchexnet_lib.config import PreprocessConfig

weights, out, paths_file = sys.argv[1:4]
strategy = runtime.strategy_for_devices()
print("replicas", strategy.num_replicas_in_sync, type(strategy).__name__)
model = models.build_chexnet(weights, input_shape=(64, 64, 3))  # outside: copied into it
features.extract_features(model, open(paths_file).read().split(), out,
                          PreprocessConfig(size=(64, 64)),
                          features.ExtractionOptions(batch_size=4, shard_size=8),
                          weights_sha256=files.sha256_file(weights), progress=False)
"""


@pytest.mark.slow
def test_two_logical_devices_match_one(reference, subprocesses):
    out, process = subprocesses["two_devices"]
    returncode, stdout, stderr = finish(process)
    assert returncode == 0, stderr[-3000:]
    assert "replicas 2 MirroredStrategy" in stdout
    feats, _ = features.load_features(out)
    np.testing.assert_allclose(feats, reference[1][:16], atol=1e-5, rtol=0)


def test_one_device_gives_the_default_strategy():
    import tensorflow as tf

    assert runtime.strategy_for_devices(["/CPU:0"]) is tf.distribute.get_strategy()


def _chexpert_csv(tmp_path: Path, image_paths: list[str]) -> Path:
    root = tmp_path / "CheXpert-v1.0-small"
    lines = ["Path,Sex,Age,Frontal/Lateral,AP/PA,Pneumothorax"]
    for i, source in enumerate(image_paths):
        relative = f"train/patient{i:05d}/study1/view1_frontal.jpg"
        (root / relative).parent.mkdir(parents=True)
        shutil.copy(source, root / relative)
        lines.append(f"CheXpert-v1.0-small/{relative},Male,50,Frontal,AP,{[1.0, 0.0, ''][i % 3]}")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return root / "train.csv"


@pytest.mark.slow
def test_cli_extract(weights, image_paths, tmp_path, capsys):
    csv_path = _chexpert_csv(tmp_path, image_paths[:6])
    out = tmp_path / "store"
    argv = [
        "extract",
        "--csv",
        str(csv_path),
        "--weights",
        str(weights[0]),
        "--out",
        str(out),
        "--limit",
        "4",
        "--batch-size",
        "2",
        "--shard-size",
        "2",
        "--json",
    ]
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 4 and result["kept"] == 4 and result["complete"]
    feats, manifest = features.load_features(out)
    assert feats.shape == (4, 1024) and manifest["key"]["weights_sha256"] == weights[1]
    assert manifest["key"]["preprocessing"]["size"] == [224, 224]
    assert cli.main(argv[:-1] + ["--shard", "3/2"]) == 2
    assert "i/N" in capsys.readouterr().err
