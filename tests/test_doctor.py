"""`tchexnet doctor` on a CheXpert-shaped folder drawn here, the shipped demo CheXNet and
Keras-2-layout weight files: it passes where the setup is sound and fails (✗, exit status 1,
the fix) where it is not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tchexnet_lib import data, files, labels, shipped, splits, synthetic
from tchexnet_lib.tools import cli, doctor
from tests import tiny_demo


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A CheXpert-shaped folder: the tiny demo's synthetic train.csv, valid.csv and JPEGs."""
    root = tmp_path_factory.mktemp("data")
    synthetic.generate_dataset(root, tiny_demo.CONFIG.target, progress=False)
    return root


@pytest.fixture()
def variant(data_dir, tmp_path) -> Path:
    """A copy of the CheXpert-shaped folder to break."""
    return Path(shutil.copytree(data_dir, tmp_path / "data"))


def run(capsys, *argv) -> tuple[int, str, dict[str, str]]:
    """Exit status, stdout, and each check's line keyed by its name."""
    code = cli.main(["doctor", *map(str, argv)])
    out = capsys.readouterr().out
    lines = {line.split()[1]: line for line in out.splitlines()[:-1]}
    return code, out, lines


def run_json(capsys, *argv) -> tuple[int, dict]:
    code = cli.main(["doctor", "--json", *map(str, argv)])
    return code, json.loads(capsys.readouterr().out)


def failed(lines: dict[str, str]) -> set[str]:
    return {name for name, line in lines.items() if line.startswith("✗")}


def small(folder: Path) -> Path:
    return folder / "CheXpert-v1.0-small"


def rewrite_csv(csv_path: Path, edit) -> None:
    """Read a CSV as text (blanks kept), apply ``edit``, write it back."""
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    files.save_table(edit(table), csv_path)


# --- the whole setup ----------------------------------------------------------------------


def test_doctor_passes_on_a_sound_setup(capsys, tmp_path, data_dir):
    code, out, lines = run(
        capsys,
        "--data-dir",
        data_dir,
        "--weights",
        shipped.shipped_weights_path(),
        "--out",
        tmp_path / "out",
        "--seconds",
        0.01,
        "--sample",
        5,
    )
    assert code == 0, out
    assert list(lines) == [
        "software.python",
        "software.tensorflow",
        "software.keras",
        "software.cpu",
        "software.gpu",
        "data.folder",
        "data.train_csv",
        "data.valid_csv",
        "data.images",
        "data.bit_depth",
        "weights.file",
        "weights.architecture",
        "weights.outputs",
        "speed.reproduce_eta",
        "outputs.writable",
        "outputs.disk",
    ]
    assert failed(lines) == set() and out.splitlines()[-1].endswith(", 0 failed")
    # (software.gpu warns on a GPU host whose TensorFlow is the CPU build)
    warned = {name for name, line in lines.items() if line.startswith("!")} - {"software.gpu"}
    # the demo's data and weights, not CheXpert's and CheXNet's
    assert warned == {"data.folder", "data.train_csv", "data.valid_csv", "weights.file"}
    assert "synthetic demo data" in lines["data.folder"]
    assert "not the paper's 234 / 202 / 7" in lines["data.valid_csv"]
    assert "10 sampled images decode (5 of train.csv and 5 of valid.csv)" in lines["data.images"]
    assert "Keras 3 layout" in lines["weights.file"] and "not CheXNet" in lines["weights.file"]
    assert "densenet121 + Dense(14, sigmoid), 7,051,854 parameters" in lines["weights.architecture"]
    assert "equal to this file's known outputs" in lines["weights.outputs"]
    folder = small(data_dir)
    train, val = splits.paper_split(data.read_labels(folder / "train.csv"))
    test = splits.paper_test_set(data.read_labels(folder / "valid.csv"))
    assert f"extracts {len(train) + len(val) + len(test):,} images" in lines["speed.reproduce_eta"]
    assert "img/s model-bound" in lines["speed.reproduce_eta"]
    assert not list((tmp_path / "out").iterdir())  # the probe file is gone


def test_json_form_and_counts(capsys, tmp_path, data_dir):
    code, report = run_json(
        capsys,
        "--data-dir",
        data_dir,
        "--out",
        tmp_path / "out",
        "--only",
        "software",
        "data",
        "outputs",
    )
    assert code == 0
    checks = {check["check"]: check for check in report["checks"]}
    assert all(
        set(check) == {"check", "ok", "level", "found", "fix", "data"} for check in report["checks"]
    )
    assert report["summary"] == {
        "checks": 12,
        "passed": 9,
        "warnings": 3,
        "failed": 0,
        "ok": True,
        "exit_status": 0,
    }
    valid = data.read_labels(small(data_dir) / "valid.csv")
    test = splits.paper_test_set(valid)
    assert checks["data.valid_csv"]["data"] == {
        "rows": len(valid),
        "frontal": len(test),
        "positives": int(test[labels.TARGET].sum()),
    }
    assert checks["data.bit_depth"]["data"] == {"depths": {"8": 40}}
    assert checks["outputs.disk"]["level"] == "ok"


# --- data ---------------------------------------------------------------------------------


def test_missing_valid_csv_fails_with_the_fix(capsys, variant):
    (small(variant) / "valid.csv").unlink()
    code, report = run_json(capsys, "--data-dir", variant, "--only", "data")
    checks = {check["check"]: check for check in report["checks"]}
    assert code == 1 and report["summary"]["failed"] == 1
    assert checks["data.valid_csv"]["found"] == f"valid.csv: not found in {small(variant)}"
    assert "unpack CheXpert-v1.0-small completely" in checks["data.valid_csv"]["fix"]
    assert checks["data.images"]["ok"]  # train.csv's images are still sampled


def test_the_chexpert_folder_itself_as_data_dir_says_to_name_its_parent(capsys, data_dir):
    code, _, lines = run(capsys, "--data-dir", small(data_dir), "--only", "data")
    assert code == 1 and list(lines) == ["data.folder"]
    assert lines["data.folder"].endswith(f"fix: name the folder above it: --data-dir {data_dir}")


def test_a_csv_missing_a_column_fails(capsys, variant):
    rewrite_csv(small(variant) / "train.csv", lambda table: table.drop(columns=labels.TARGET))
    code, _, lines = run(capsys, "--data-dir", variant, "--only", "data")
    assert code == 1 and failed(lines) == {"data.train_csv"}
    assert "train.csv: missing column(s) 'Pneumothorax'" in lines["data.train_csv"]
    assert "fix: use CheXpert-v1.0-small's train.csv as downloaded" in lines["data.train_csv"]


def test_an_undecodable_image_fails(capsys, variant):
    image = data.read_labels(small(variant) / "valid.csv")["image_path"].iloc[3]
    Path(image).write_bytes(Path(image).read_bytes()[:2000])  # truncated mid-scan
    code, _, lines = run(capsys, "--data-dir", variant, "--only", "data", "--sample", 1000)
    assert code == 1 and failed(lines) == {"data.images"}
    assert "1 of " in lines["data.images"] and f"{image}: truncated" in lines["data.images"]
    assert "fix: download and unpack CheXpert-v1.0-small again" in lines["data.images"]


def test_images_not_where_the_csv_says_fail_with_the_data_dir_fix(capsys, variant):
    shutil.rmtree(small(variant) / "valid")
    code, _, lines = run(capsys, "--data-dir", variant, "--only", "data", "--sample", 3)
    assert code == 1 and failed(lines) == {"data.images"}
    assert "3 of 6 sampled images unusable" in lines["data.images"]
    assert "fix: the CSVs' paths do not lead to the images: pass --data-dir" in lines["data.images"]


def as_sixteen_bit(folder: Path, scale: int) -> Path:
    """The first valid image saved again as a 16-bit PNG (gray × ``scale``), valid.csv pointing
    at it; returns the PNG."""
    table = data.read_labels(small(folder) / "valid.csv")
    jpeg = Path(table["image_path"].iloc[0])
    png = jpeg.with_suffix(".png")
    gray = np.asarray(Image.open(jpeg).convert("L"), dtype=np.uint16)
    Image.fromarray(gray * scale).save(png)
    rewrite_csv(
        small(folder) / "valid.csv",
        lambda t: t.replace(
            {"Path": {t["Path"].iloc[0]: t["Path"].iloc[0].replace(".jpg", ".png")}}
        ),
    )
    return png


def test_a_full_range_16_bit_png_warns(capsys, variant):
    """A 16-bit PNG using the full range is scaled right (÷257): a warning, exit status 0."""
    png = as_sixteen_bit(variant, 257)
    assert Image.open(png).mode == "I;16"
    code, _, lines = run(capsys, "--data-dir", variant, "--only", "data", "--sample", 1000)
    assert code == 0 and lines["data.bit_depth"].startswith("!")
    assert "1 of " in lines["data.bit_depth"] and "are 16-bit" in lines["data.bit_depth"]


def test_12_bit_data_in_a_16_bit_png_fails(capsys, variant):
    """12-bit values (max 4095) would come out nearly black: a ✗, with the conversion to do."""
    as_sixteen_bit(variant, 16)
    code, _, lines = run(capsys, "--data-dir", variant, "--only", "data", "--sample", 1000)
    assert code == 1 and failed(lines) == {"data.bit_depth"}
    assert "12-bit data in 16-bit files" in lines["data.bit_depth"]
    assert "fix: convert them to 8-bit over their own range" in lines["data.bit_depth"]


def test_the_real_valid_csv_is_the_papers_test_set(reference, tmp_path):
    folder = tmp_path / "CheXpert-v1.0-small"
    folder.mkdir()
    shutil.copy(reference / "valid.csv", folder / "valid.csv")
    check, _ = doctor.check_valid_csv(folder)
    assert check.level == "ok" and check.data == doctor.PAPER_VALID


def test_the_sample_is_spread_over_the_file_and_seeded():
    rows = doctor.sample_rows(1000, 20, seed=0)
    assert [row // 50 for row in rows] == list(range(20))  # one row in each block of 50
    assert rows == doctor.sample_rows(1000, 20, seed=0) != doctor.sample_rows(1000, 20, seed=1)
    assert doctor.sample_rows(3, 20) == [0, 1, 2]


# --- weights ------------------------------------------------------------------------------


def test_random_weights_fail_as_untrained(capsys, keras2_weights):
    """Weights of the right architecture that were never trained: the outputs give them away."""
    code, _, lines = run(capsys, "--weights", keras2_weights["chexnet"], "--only", "weights")
    assert code == 1 and failed(lines) == {"weights.outputs"}
    assert lines["weights.file"].startswith("✓ weights.file")
    assert "Keras 2 save_weights layout" in lines["weights.file"]
    assert "look untrained or wrongly loaded" in lines["weights.outputs"]
    assert "fix: these are not trained CheXNet weights" in lines["weights.outputs"]


def test_a_file_with_shuffled_layers_fails(capsys, tmp_path, keras2_weights):
    path = tmp_path / "best_weights.h5"
    shutil.copy(keras2_weights["chexnet"], path)
    with h5py.File(path, "r+") as handle:
        names = handle.attrs["layer_names"]
        handle.attrs["layer_names"] = np.random.default_rng(0).permutation(names)
    code, _, lines = run(capsys, "--weights", path, "--only", "weights")
    assert code == 1 and failed(lines) == {"weights.architecture"}
    assert "does not fit chexnet" in lines["weights.architecture"]
    assert "fix: this is not a CheXNet weight file" in lines["weights.architecture"]


def test_a_tchexnet_file_is_not_chexnet(capsys, keras2_weights):
    code, _, lines = run(capsys, "--weights", keras2_weights["tchexnet"], "--only", "weights")
    assert code == 1 and failed(lines) == {"weights.architecture"}
    assert "does not fit chexnet" in lines["weights.architecture"]


def test_known_outputs_are_compared_within_the_tolerance(monkeypatch, keras2_weights):
    """An entry made by known_output_entry (how the table's are made) passes; off by 3e-4 fails."""
    entry = doctor.known_output_entry(keras2_weights["chexnet"])
    ((sha, known),) = entry.items()
    assert sha == files.sha256_file(keras2_weights["chexnet"]) and known["size"] == [224, 224]
    outputs = np.asarray(known["outputs"])
    assert outputs.shape == (len(doctor.REFERENCE_CASES), len(labels.CHEXNET_CLASSES))
    assert doctor.check_outputs(outputs, sha).level == "fail"  # unknown here, and degenerate
    monkeypatch.setitem(doctor.KNOWN_OUTPUTS, sha, known)
    assert doctor.check_outputs(outputs, sha).level == "ok"
    check = doctor.check_outputs(outputs + 3 * doctor.TOLERANCE, sha)
    assert check.level == "fail" and "known outputs by 3.00e-04" in check.found


def test_missing_weights_say_where_to_get_them(capsys, tmp_path):
    code, _, lines = run(capsys, "--weights", tmp_path / "best_weights.h5", "--only", "weights")
    assert code == 1 and list(lines) == ["weights.file"]
    assert "fix: get best_weights.h5 from the CheXNet-Keras project" in lines["weights.file"]


# --- software, outputs --------------------------------------------------------------------


def test_versions_outside_the_supported_range():
    assert doctor.check_python("3.10.4").level == "fail"
    assert doctor.check_python("3.12.1").level == "ok"
    assert doctor.check_package("keras", "2.15.0").level == "fail"
    assert doctor.check_package("tensorflow", "2.20.0").level == "warn"
    info = {"tf_devices": ["/device:CPU:0"], "gpu": "NVIDIA H200"}
    assert "make setup TF=gpu" in doctor.check_gpu(info).fix


def test_an_unwritable_output_folder_fails(capsys, tmp_path):
    blocker = tmp_path / "outputs"
    blocker.write_text("a file, not a folder")
    code, _, lines = run(capsys, "--out", blocker / "run", "--only", "outputs")
    assert code == 1 and failed(lines) == {"outputs.writable"}
    assert f"{blocker / 'run'}: cannot write there" in lines["outputs.writable"]
    assert "fix: pass --out naming a folder you can write" in lines["outputs.writable"]


def test_too_little_disk_fails(tmp_path):
    check = doctor.check_disk(tmp_path, 10**12, 1024)
    assert check.level == "fail" and "take 4096000.0 GB" in check.found
    assert check.data["store_bytes"] == 10**12 * 1024 * 4
    assert "--dtype float16 halves" in check.fix
