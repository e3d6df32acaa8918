"""The demo CheXNet's pretraining (``tchexnet demo pretrain``) and the shipped file's checks.

The shipped recipe takes tens of minutes; here the same command runs a tiny recipe (two
epochs at 48 px on a few dozen synthetic images), is killed after its first epoch and resumes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tchexnet_lib import errors, files, models, shipped, synthetic
from tchexnet_lib.tools import demo, pretrain

TINY = ["--stages", "48:2:1e-3", "--source-patients", "16"]


def _pretrain_command(tmp_path: Path, *extra: str) -> tuple[list[str], dict]:
    env = {
        **os.environ,
        "TCHEXNET_DATA_DIR": str(tmp_path / "data"),
        "TCHEXNET_OUTPUT_DIR": str(tmp_path / "out"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    command = [
        sys.executable,
        "-m",
        "tchexnet_lib.tools.cli",
        "demo",
        "pretrain",
        *TINY,
        "--weights-out",
        str(tmp_path / "w" / "chexnet_demo.weights.h5"),
        "--work-dir",
        str(tmp_path / "work"),
        *extra,
    ]
    return command, env


@pytest.mark.posix
@pytest.mark.slow
def test_pretrain_command_resumes_after_kill_and_writes_a_manifest(tmp_path):
    command, env = _pretrain_command(tmp_path)
    first = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    state = tmp_path / "work" / "state.json"
    deadline = time.monotonic() + 900
    while not state.is_file() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state.is_file(), first.communicate()[0][-3000:]
    first.send_signal(signal.SIGKILL)
    first.wait()
    saved = json.loads(state.read_text())
    assert len(saved["history"]) == 1
    assert [p.name for p in (tmp_path / "work").glob("checkpoint-*.keras")] == [saved["checkpoint"]]
    done = subprocess.run(
        [*command, "--json"], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads(done.stdout)
    weights = Path(manifest["weights"])
    assert [entry["epoch"] for entry in manifest["history"]] == [1, 2]
    assert manifest["sha256"] == files.sha256_file(weights)
    assert manifest["generator"] == synthetic.GENERATOR_VERSION
    assert manifest["config"]["stages"] == [{"size": 48, "epochs": 2, "learning_rate": 0.001}]
    assert manifest["image_size"] == [48, 48] and manifest["machine"]["cpu"]
    assert set(manifest["val_auc"]) == set(models.labels.CHEXNET_CLASSES)
    assert models.read_metadata(weights) == {k: v for k, v in manifest.items() if k != "weights"}
    assert not (tmp_path / "work").exists()  # checkpoints go once the run is complete
    model = models.build_chexnet(weights, input_shape=(48, 48, 3))
    assert model.output.shape[-1] == 14


def test_stage_text_is_parsed_and_checked():
    assert pretrain.Stage.parse("128:6:1e-3") == pretrain.Stage(128, 6, 1e-3)
    for bad in ("128:6", "16:1:1e-3", "64:0:1e-3", "64:1:-1", "a:b:c"):
        with pytest.raises(ValueError, match="stage"):
            pretrain.Stage.parse(bad)
    schedule = pretrain.PretrainConfig().schedule()
    assert [s.size for s in schedule] == [128] * 8 + [224] * 2


def test_shipped_demo_chexnet_matches_its_manifest():
    path = shipped.shipped_weights()
    manifest = models.read_metadata(path)
    assert manifest["sha256"] == files.sha256_file(path)
    assert manifest["generator"] == synthetic.GENERATOR_VERSION
    assert manifest["image_size"] == [224, 224] and manifest["architecture"] == "chexnet"
    assert manifest["key"] == pretrain.PretrainConfig().key()
    assert manifest["command"].startswith(shipped.MANIFEST_COMMAND)
    assert manifest["seconds"] > 0 and manifest["machine"]["cpu"]
    assert path.stat().st_size <= 32 * 2**20
    assert manifest["val_auc"]["Pneumothorax"] >= 0.85  # the sign was learnt in pretraining
    assert demo.demo_weights_path() == path


def _shipped_copy(
    tmp_path: Path, monkeypatch, manifest_change: dict | None = None, corrupt: bool = False
) -> Path:
    real = shipped.shipped_weights_path()
    copy = tmp_path / "weights" / models.DEMO_FILES["chexnet"]
    copy.parent.mkdir(parents=True)
    copy.write_bytes(real.read_bytes()[: 1000 if corrupt else None])
    manifest = {**models.read_metadata(real), **(manifest_change or {})}
    models.metadata_path(copy).write_text(json.dumps(manifest))
    monkeypatch.setattr(shipped, "shipped_weights_path", lambda: copy)
    return copy


def test_a_newer_generator_names_the_command_and_its_time(tmp_path, monkeypatch):
    _shipped_copy(tmp_path, monkeypatch, {"generator": "0.9"})
    with pytest.raises(
        errors.ShippedWeightsError, match=r"generator 0\.9.*tchexnet demo pretrain.*min on"
    ):
        shipped.shipped_weights()


def test_an_altered_shipped_file_is_refused(tmp_path, monkeypatch):
    _shipped_copy(tmp_path, monkeypatch, corrupt=True)
    with pytest.raises(errors.ShippedWeightsError, match="sha256 differs"):
        shipped.shipped_weights()
    models.metadata_path(shipped.shipped_weights_path()).unlink()
    with pytest.raises(errors.ShippedWeightsError, match="missing"):
        shipped.shipped_weights()
