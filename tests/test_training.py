"""The tCheXNet head on cached features: defaults, class weights, checkpoints, resume, attach."""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tchexnet_lib import errors, features, files, models, training
from tchexnet_lib.config import PreprocessConfig
from tchexnet_lib.tools import cli

ROOT = Path(__file__).resolve().parent.parent
SHAPE = (64, 64, 3)
CFG = PreprocessConfig(size=SHAPE[:2])
EPOCHS = 4


def learnable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features whose first columns carry the label (so a trained head beats an untrained one)."""
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n) < 0.3).astype(np.int64)
    x = rng.normal(size=(n, 1024)).astype(np.float32)
    x[:, :16] += y[:, None]
    return x, y


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict]:
    (x, y), (xv, yv) = learnable(96, 0), learnable(48, 1)
    path = tmp_path_factory.mktemp("data") / "head.npz"
    np.savez(path, x=x, y=y, xv=xv, yv=yv)
    return path, {"x": x, "y": y, "xv": xv, "yv": yv}


def train(d: dict, out: Path, **kwargs) -> training.TrainResult:
    config = training.HeadConfig(**({"epochs": EPOCHS} | kwargs))
    return training.train_head((d["x"], d["y"]), (d["xv"], d["yv"]), out, config)


def head_weights(path: Path) -> list[np.ndarray]:
    head = training.build_head()
    models.load_weights(head, path)
    return head.get_weights()


def final_weights(run_dir: Path) -> list[np.ndarray]:
    state = json.loads((run_dir / training.STATE).read_text())
    name = state["epochs"][str(state["last_epoch"])]["weights"]
    return head_weights(run_dir / training.CHECKPOINTS / name)


def assert_same_weights(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b) == 4
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, dataset) -> Path:
    out = tmp_path_factory.mktemp("run") / "uninterrupted"
    train(dataset[1], out)
    return out


# ---------------------------------------------------------------------------------------------


def test_paper_defaults():
    config = training.HeadConfig()
    assert (config.hidden, config.learning_rate, config.loss, config.batch_size, config.epochs) == (
        512,
        1e-3,
        "binary_crossentropy",
        16,
        10,
    )
    assert config.class_weight == "balanced" and config.select_on == "val_loss"
    assert config.early_stopping_patience is None and config.seed == 0 and config.dropout == 0
    head = training.build_head()
    assert [layer.name for layer in head.layers[1:]] == [
        models.TCHEXNET_HIDDEN,
        models.TCHEXNET_OUTPUT,
    ]
    assert head.count_params() == 1024 * 512 + 512 + 512 + 1
    with pytest.raises(ValueError, match="class_weight"):
        training.HeadConfig(class_weight="inverse")


def test_class_weights_balanced_and_the_papers_inverted_ones():
    y = np.array([1] * 12 + [0] * 88)
    balanced = training.class_weights(y, "balanced")
    assert balanced == pytest.approx({0: 100 / 176, 1: 100 / 24})
    assert balanced[1] / balanced[0] == pytest.approx(88 / 12)  # positives UP-weighted
    paper = training.class_weights(y, "paper")
    assert paper == pytest.approx({0: 0.88, 1: 0.12})  # the original's defect: DOWN-weighted
    assert training.class_weights(y, "none") == {0: 1.0, 1: 1.0}
    with pytest.raises(ValueError, match="both classes"):
        training.class_weights(np.zeros(5), "balanced")


def test_fault_11_uncertain_labels_never_reach_the_loss(dataset, tmp_path):
    d = dataset[1]
    bad = d["y"].copy()
    bad[5] = -1
    with pytest.raises(errors.DataError, match="-1 at position 5"):
        training.train_head((d["x"], bad), (d["xv"], d["yv"]), tmp_path)
    with pytest.raises(errors.DataError, match="validation labels"):
        training.train_head((d["x"], d["y"]), (d["xv"], np.full(len(d["yv"]), np.nan)), tmp_path)
    with pytest.raises(ValueError, match="do not line up"):
        training.train_head((d["x"][:-1], d["y"]), (d["xv"], d["yv"]), tmp_path)
    with pytest.raises(TypeError, match=r"train_head val: pass a tuple \(inputs, labels\)"):
        training.train_head((d["x"], d["y"]), d["xv"], tmp_path)


def test_checkpoints_history_state_and_best(uninterrupted):
    state = json.loads((uninterrupted / training.STATE).read_text())
    history = (uninterrupted / training.HISTORY).read_text().splitlines()
    assert len(history) == 1 + EPOCHS and state["last_epoch"] == EPOCHS
    rows = state["history"]
    for row in rows:
        assert row["checkpoint"] == f"head_{row['epoch']:03d}_{row['val_loss']:.5f}.weights.h5"
        assert (uninterrupted / training.CHECKPOINTS / row["checkpoint"]).is_file()
    best = min(rows, key=lambda row: row["val_loss"])
    assert state["best"]["epoch"] == best["epoch"]
    best_file = uninterrupted / "head_best.weights.h5"
    assert files.sha256_file(best_file) == files.sha256_file(
        uninterrupted / training.CHECKPOINTS / best["checkpoint"]
    )
    assert not list(uninterrupted.rglob(".tmp-*"))


def test_fault_20_rerun_never_replaces_a_better_best(uninterrupted, dataset, tmp_path, caplog):
    out = tmp_path / "run"
    shutil.copytree(uninterrupted, out)
    best_before = files.sha256_file(out / "head_best.weights.h5")
    state_before = json.loads((out / training.STATE).read_text())["best"]
    with caplog.at_level(logging.INFO, logger="tchexnet_lib.training"):
        result = train(dataset[1], out, learning_rate=1e-9, epochs=1)  # a much worse run
    assert "starting a new head run" in caplog.text
    assert result.history["val_loss"].iloc[0] > state_before["val_loss"]
    assert files.sha256_file(out / "head_best.weights.h5") == best_before
    assert result.best_epoch == state_before["epoch"]
    assert result.best_value == pytest.approx(state_before["val_loss"])


def test_folder_of_a_run_on_other_validation_data_is_refused(uninterrupted, dataset, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(uninterrupted, out)
    d = dataset[1]
    with pytest.raises(ValueError, match="validated on other data"):
        training.train_head(
            (d["x"], d["y"]), (d["xv"][:-1], d["yv"][:-1]), out, training.HeadConfig(epochs=1)
        )


def test_fault_20_unreadable_checkpoint_falls_back_to_the_previous_epoch(dataset, tmp_path, caplog):
    d = dataset[1]
    out = tmp_path / "run"
    reference = train(d, tmp_path / "reference")
    train(d, out, epochs=3)
    last = json.loads((out / training.STATE).read_text())["epochs"]["3"]["weights"]
    broken = out / training.CHECKPOINTS / last
    broken.write_bytes(broken.read_bytes()[:200])
    with caplog.at_level(logging.INFO, logger="tchexnet_lib.training"):
        result = train(d, out)
    assert last in caplog.text and "falling back" in caplog.text
    assert "resuming after epoch 2" in caplog.text
    assert result.history["epoch"].tolist() == [1, 2, 3, 4]
    assert_same_weights(final_weights(out), [w.numpy() for w in reference.model.weights])


def test_early_stopping(dataset, tmp_path):
    result = train(
        dataset[1], tmp_path / "run", epochs=12, early_stopping_patience=1, learning_rate=0.05
    )
    assert result.stopped_early and len(result.history) < 12


# ------------------------------------------------------------------ separate processes

TRAIN_SCRIPT = """
import os, signal, sys
import numpy as np
import keras
from tchexnet_lib import models, training

data_file, out, mode = sys.argv[1:4]
d = np.load(data_file)


class KillDuringEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 2 and batch == 2:  # the third epoch, half done
            os.kill(os.getpid(), signal.SIGKILL)


if mode == "kill-write":  # dies while writing the second epoch's checkpoint
    original, calls = models.save_weights_atomic, []

    def dies_mid_write(model, path):
        calls.append(path)
        if len(calls) == 2:
            tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
            model.save_weights(tmp)
            tmp.write_bytes(tmp.read_bytes()[:500])
            os.kill(os.getpid(), signal.SIGKILL)
        return original(model, path)

    models.save_weights_atomic = dies_mid_write
callbacks = [KillDuringEpoch()] if mode == "kill-epoch" else []
training.train_head((d["x"], d["y"]), (d["xv"], d["yv"]), out, training.HeadConfig(epochs=4),
                    callbacks=callbacks)
"""


def start(data_file: Path, out: Path, mode: str) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(TRAIN_SCRIPT), str(data_file), str(out), mode],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def processes(tmp_path_factory, dataset) -> dict[str, tuple[Path, int, str]]:
    """Four training processes, run two at a time: two uninterrupted, two killed with -9."""
    folder = tmp_path_factory.mktemp("processes")
    results = {}
    for pair in (("first", "second"), ("kill-epoch", "kill-write")):
        running = {name: start(dataset[0], folder / name, name) for name in pair}
        for name, process in running.items():
            try:
                _, stderr = process.communicate(timeout=180)
            except subprocess.TimeoutExpired:
                process.kill()
                _, stderr = process.communicate()
            results[name] = (folder / name, process.returncode, stderr[-3000:])
    return results


@pytest.mark.slow
def test_fault_21_same_seed_gives_bitwise_equal_weights_in_two_processes(processes):
    (first, code1, err1), (second, code2, err2) = processes["first"], processes["second"]
    assert code1 == 0 and code2 == 0, err1 + err2
    assert_same_weights(final_weights(first), final_weights(second))


@pytest.mark.posix
@pytest.mark.slow
@pytest.mark.parametrize("mode, committed", [("kill-epoch", 2), ("kill-write", 1)])
def test_fault_20_resume_after_kill_9_equals_an_uninterrupted_run(
    processes, dataset, mode, committed, caplog
):
    out, code, stderr = processes[mode]
    assert code == -signal.SIGKILL, stderr
    assert json.loads((out / training.STATE).read_text())["last_epoch"] == committed
    if mode == "kill-write":
        assert list((out / training.CHECKPOINTS).glob(".tmp-*")), "a half-written temp file"
    with caplog.at_level(logging.INFO, logger="tchexnet_lib.training"):
        result = train(dataset[1], out)
    assert f"resuming after epoch {committed}" in caplog.text
    assert result.history["epoch"].tolist() == [1, 2, 3, 4]
    assert not list(out.rglob(".tmp-*"))
    first, code1, _ = processes["first"]
    assert code1 == 0
    assert_same_weights(final_weights(out), final_weights(first))


# ------------------------------------------------------------------ whole models


@pytest.fixture(scope="module")
def chexpert(tmp_path_factory) -> tuple[Path, list[str]]:
    """A CheXpert-shaped CSV with 12 small JPEGs; Pneumothorax 1, 0 or -1."""
    root = tmp_path_factory.mktemp("chexpert") / "CheXpert-v1.0-small"
    rng = np.random.default_rng(0)
    lines, paths = ["Path,Sex,Age,Frontal/Lateral,AP/PA,Pneumothorax"], []
    for i in range(12):
        relative = f"train/patient{i:05d}/study1/view1_frontal.jpg"
        (root / relative).parent.mkdir(parents=True)
        pixels = np.clip(rng.normal(100 + 10 * i, 40, (80, 72)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / relative, quality=90)
        label = ["1.0", "0.0", "0.0", "-1.0"][i % 4]
        lines.append(f"CheXpert-v1.0-small/{relative},Female,60,Frontal,PA,{label}")
        paths.append(str(root / relative))
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return root / "train.csv", paths


@pytest.fixture(scope="module")
def chexnet():
    import keras

    keras.utils.set_random_seed(5)
    return models.build_chexnet(input_shape=SHAPE)


@pytest.fixture(scope="module")
def store(tmp_path_factory, chexnet, chexpert) -> Path:
    out = tmp_path_factory.mktemp("store") / "store"
    features.extract_features(
        chexnet,
        chexpert[1],
        out,
        CFG,
        features.ExtractionOptions(batch_size=4, shard_size=8),
        progress=False,
    )
    return out


def spread_head(feats: np.ndarray) -> object:
    """A head whose outputs on ``feats`` vary (so an equality test could fail)."""
    head = training.build_head()
    rng = np.random.default_rng(0)
    hidden = head.get_layer(models.TCHEXNET_HIDDEN)
    kernel = rng.normal(0, 1 / np.sqrt(feats.std() * 1024 + 1e-12), (1024, 512))
    hidden.set_weights([kernel.astype(np.float32), np.zeros(512, np.float32)])
    h = np.maximum(feats @ kernel, 0)
    out_kernel = rng.normal(size=(512, 1))
    logits = h @ out_kernel
    out_kernel /= logits.std() + 1e-12
    bias = -(logits.mean() / (logits.std() + 1e-12))
    head.get_layer(models.TCHEXNET_OUTPUT).set_weights(
        [out_kernel.astype(np.float32), np.array([bias], np.float32)]
    )
    return head


def test_attached_tchexnet_equals_features_then_head(chexnet, chexpert, store, tmp_path, capsys):
    feats, _ = features.load_features(store)
    head = spread_head(feats)
    expected = head.predict(feats, verbose=0)[:, 0]
    assert expected.std() > 0.05
    model = training.attach_head(chexnet, head)
    path = training.save_tchexnet(model, tmp_path / "tchexnet.weights.h5")
    # The weights' sidecar says they work at 64×64: the command builds and preprocesses at it.
    files.save_json({"image_size": list(SHAPE[:2])}, models.metadata_path(path))
    argv = ["predict", *chexpert[1], "--model", "tchexnet", "--weights", str(path), "--json"]
    assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [row["image"] for row in printed] == chexpert[1]
    np.testing.assert_allclose(
        [row["probabilities"]["Pneumothorax"] for row in printed], expected, atol=1e-5, rtol=0
    )


def test_a_head_of_other_settings_is_saved_and_reloaded_as_trained(
    chexnet, chexpert, store, tmp_path, capsys
):
    """A head trained with hidden=256 and dropout attaches, saves as a whole tCheXNet, and
    reloads from its file alone (a fresh build, as `tchexnet predict` makes it) to the head's
    outputs on the same images' features."""
    feats, _ = features.load_features(store)
    y = np.array([1, 0] * 6)
    config = training.HeadConfig(hidden=256, dropout=0.4, epochs=2, batch_size=4)
    run = training.train_head((feats[:8], y[:8]), (feats[8:], y[8:]), tmp_path / "head", config)
    head = training.build_head(feats.shape[1], config)
    head.load_weights(run.best_checkpoint)
    assert head.get_layer(models.TCHEXNET_DROPOUT).rate == 0.4
    expected = head.predict(feats, verbose=0)[:, 0]
    assert expected.std() > 1e-4, "the outputs must vary, or the equality could not fail"
    with pytest.raises(errors.WeightsError, match=r"\(1024, 256\).*attach_head\(\.\.\., head="):
        training.attach_head(chexnet, run.best_checkpoint)  # the paper's head does not fit it
    model = training.attach_head(chexnet, run.best_checkpoint, head=config)
    path = training.save_tchexnet(model, tmp_path / "tchexnet.weights.h5")
    assert models.read_metadata(path)["head"] == {"hidden": 256, "dropout": 0.4}
    reloaded = models.build_model("tchexnet", path, input_shape=models.input_shape_for(path))
    assert models.head_architecture(reloaded) == models.HeadArchitecture(256, 0.4)
    argv = ["predict", *chexpert[1], "--model", "tchexnet", "--weights", str(path), "--json"]
    assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(
        [row["probabilities"]["Pneumothorax"] for row in printed], expected, atol=1e-5, rtol=0
    )


def test_no_function_of_training_takes_8_parameters():
    """Settings travel in HeadConfig / FineTuneConfig, data in (inputs, labels) pairs."""
    crowded = {
        name: len(inspect.signature(function).parameters)
        for name, function in vars(training).items()
        if inspect.isfunction(function) and function.__module__ == training.__name__
    }
    assert "fine_tune" in crowded and {name: n for name, n in crowded.items() if n >= 8} == {}


def test_save_tchexnet_keras_archive(chexnet, store, tmp_path):
    feats, _ = features.load_features(store)
    model = training.attach_head(chexnet, spread_head(feats))
    path = training.save_tchexnet(model, tmp_path / "tchexnet.keras")
    assert not list(tmp_path.glob(".tmp-*"))
    loaded = models.load_model_file(path)
    x = np.random.default_rng(0).uniform(-2, 2.5, (2, *SHAPE)).astype(np.float32)
    np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), atol=1e-6)
    with pytest.raises(ValueError, match=".weights.h5 or .keras"):
        training.save_tchexnet(model, tmp_path / "model.h5")


def test_cli_train_checks_alignment_with_the_store(chexpert, store, tmp_path, capsys):
    csv_path, _ = chexpert
    argv = [
        "train",
        "--features",
        str(store),
        "--labels",
        str(csv_path),
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--json",
    ]
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["train"] + result["val"] == 12 and result["best_epoch"] in (1, 2)
    assert Path(result["best_checkpoint"]).is_file()
    shuffled = tmp_path / "train.csv"
    lines = csv_path.read_text().splitlines()
    shuffled.write_text("\n".join([lines[0], *lines[:0:-1]]) + "\n")
    argv[argv.index(str(csv_path))] = str(shuffled)
    argv += ["--data-dir", str(csv_path.parent.parent)]  # the same images, in another order
    assert cli.main(argv) == 2
    assert "do not line up with the feature store" in capsys.readouterr().err


@pytest.mark.slow
def test_fine_tune_one_epoch_last_block_only(chexnet, chexpert, tmp_path):
    import keras

    _, paths = chexpert
    keras.utils.set_random_seed(7)
    model = training.attach_head(models.build_chexnet(input_shape=SHAPE), training.build_head())
    before = {
        layer.name: [w.copy() for w in layer.get_weights()]
        for layer in model.layers
        if layer.weights
    }
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    result = training.fine_tune(
        model,
        (paths[:8], y),
        (paths[8:], [1, 0, 1, 0]),
        tmp_path / "ft",
        training.FineTuneConfig(epochs=1, batch_size=4, preprocess=CFG),
    )
    assert result.history["epoch"].tolist() == [1] and result.best_checkpoint.is_file()
    changed = {
        name
        for name, weights in before.items()
        if any(
            not np.array_equal(a, b) for a, b in zip(weights, model.get_layer(name).get_weights())
        )
    }
    assert changed and all(n.startswith("conv5_") or n.startswith("tchexnet_") for n in changed)
    assert any(n.startswith("conv5_") for n in changed)
    assert not any(
        layer.trainable
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    with pytest.raises(errors.DataError):
        training.fine_tune(model, (paths[:2], [1, -1]), (paths[8:], [1, 0, 1, 0]), tmp_path / "x")
