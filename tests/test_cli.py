"""The `tchexnet` command on real files made here: images of odd kinds, Keras 2 weights, CSVs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tchexnet_lib import cli, labels

CHEXPERT_HEADER = list(labels.CHEXPERT_META_COLUMNS + labels.CHEXPERT_OBSERVATIONS)


def chest_like(height: int = 320, width: int = 390) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    lungs = np.exp(-(((xx - width * 0.33) / (width * 0.12)) ** 2 + ((yy - height * 0.5) / (height * 0.3)) ** 2))
    lungs += np.exp(-(((xx - width * 0.67) / (width * 0.12)) ** 2 + ((yy - height * 0.5) / (height * 0.3)) ** 2))
    return np.clip(200 - 150 * lungs + 10 * np.sin(yy / 6.0), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory) -> dict[str, Path]:
    """The same radiograph as 8-bit JPEG and PNG, 16-bit PNG, RGB, RGBA, palette; plus a tiny one."""
    folder = tmp_path_factory.mktemp("images")
    gray = chest_like()
    files = {
        "jpeg": folder / "view1_frontal.jpg", "png8": folder / "gray8.png",
        "png16": folder / "gray16.png", "rgb": folder / "rgb.png", "rgba": folder / "rgba.png",
        "palette": folder / "palette.png", "small": folder / "small40.png",
    }
    Image.fromarray(gray).save(files["jpeg"], quality=95)
    Image.fromarray(gray).save(files["png8"])
    Image.fromarray(gray.astype(np.uint16) * 257).save(files["png16"])
    Image.fromarray(np.stack([gray] * 3, -1)).save(files["rgb"])
    Image.fromarray(np.dstack([gray] * 3 + [np.full_like(gray, 255)])).save(files["rgba"])
    Image.fromarray(gray).convert("P").save(files["palette"])
    Image.fromarray(chest_like(40, 48)).save(files["small"])
    return files


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_predict_prints_the_original_hello_world_format(capsys, image_files, keras2_weights):
    code, out, err = run(capsys, "predict", image_files["jpeg"], "--weights", keras2_weights["chexnet"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == str(image_files["jpeg"]) and len(lines) == 15
    for line, name in zip(lines[1:], labels.CHEXNET_CLASSES):
        cls, probability = line.rsplit(" ", 1)
        assert cls == name and 0.0 <= float(probability) <= 1.0
    assert "best_weights.h5" in err  # says loudly which weights


def test_predict_json_on_every_kind_of_image(capsys, image_files, keras2_weights):
    kinds = ["jpeg", "png8", "png16", "rgb", "rgba", "palette", "small"]
    code, out, err = run(capsys, "predict", *(image_files[k] for k in kinds), "--json",
                         "--weights", keras2_weights["chexnet"])
    assert code == 0, err
    rows = json.loads(out)
    assert [r["image"] for r in rows] == [str(image_files[k]) for k in kinds]
    p = {k: np.array(list(r["probabilities"].values())) for k, r in zip(kinds, rows)}
    assert list(rows[0]["probabilities"]) == list(labels.CHEXNET_CLASSES)
    for kind in ("png16", "rgb", "rgba", "palette"):
        np.testing.assert_allclose(p[kind], p["png8"], atol=2e-3, err_msg=kind)
    np.testing.assert_allclose(p["jpeg"], p["png8"], atol=2e-2)


def test_predict_tchexnet_checkpoint(capsys, image_files, keras2_weights):
    code, out, err = run(capsys, "predict", image_files["png8"], "--model", "tchexnet",
                         "--weights", keras2_weights["tchexnet"])
    assert code == 0, err
    path, line = out.splitlines()
    assert path == str(image_files["png8"]) and line.startswith("Pneumothorax ")
    assert 0.0 < float(line.split()[1]) < 1.0


def test_default_weights_come_from_the_weights_folder(capsys, monkeypatch, image_files, keras2_weights):
    monkeypatch.setenv("TCHEXNET_WEIGHTS_DIR", str(keras2_weights["chexnet"].parent))
    code, out, _ = run(capsys, "predict", image_files["png8"])
    assert code == 0 and out.splitlines()[1].startswith("Atelectasis ")


def test_features_text_and_json(capsys, image_files, keras2_weights):
    code, out, _ = run(capsys, "features", image_files["png8"], "--weights", keras2_weights["chexnet"])
    assert code == 0
    path, vector = out.splitlines()[:2]
    assert path == str(image_files["png8"]) and vector.startswith("1024 [")
    code, out, _ = run(capsys, "features", image_files["png8"], image_files["jpeg"], "--json",
                       "--weights", keras2_weights["chexnet"])
    rows = json.loads(out)
    assert len(rows) == 2 and all(len(r["features"]) == 1024 for r in rows)
    assert min(min(r["features"]) for r in rows) >= 0.0  # pooled ReLU outputs


def test_skip_mode_reports_and_keeps_rows_aligned(capsys, tmp_path, image_files, keras2_weights):
    empty, text = tmp_path / "empty.jpg", tmp_path / "page.jpg"
    empty.write_bytes(b"")
    text.write_text("<!DOCTYPE html><html></html>")
    argv = ["predict", image_files["png8"], empty, image_files["rgb"], text, tmp_path / "gone.png",
            image_files["palette"], "--json", "--weights", keras2_weights["chexnet"]]
    code, out, err = run(capsys, *argv, "--on-error", "skip")
    assert code == 0
    assert [r["image"] for r in json.loads(out)] == [
        str(image_files[k]) for k in ("png8", "rgb", "palette")]
    assert "6 files: 3 kept, 3 skipped" in err
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert str(empty) in err and "2 more bad files" in err


def test_errors_are_one_line_without_traceback(tmp_path, image_files):
    """The installed console script: missing weights → exit 2, where to get them, no traceback."""
    script = Path(sys.executable).with_name("tchexnet")
    result = subprocess.run(
        [script, "predict", str(image_files["png8"]), "--weights", str(tmp_path / "best_weights.h5")],
        capture_output=True, text=True)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("tchexnet: error")]
    assert len(errors) == 1 and "CheXNet-Keras" in errors[0] and "put it at" in errors[0]
    assert "Traceback" not in result.stderr


def write_train_csv(path: Path, n_patients: int = 30) -> None:
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CHEXPERT_HEADER)
        for patient in range(1, n_patients + 1):
            for study in range(1, 1 + patient % 3 + 1):
                for view in ("frontal", "lateral")[: 1 + (patient % 4 == 0)]:
                    values = rng.choice(["1.0", "0.0", "-1.0", ""], 14, p=[0.2, 0.1, 0.1, 0.6])
                    writer.writerow([
                        f"CheXpert-v1.0-small/train/patient{patient:05d}/study{study}/view1_{view}.jpg",
                        "Female", 50, view.capitalize(), "AP" if view == "frontal" else "", *values])


@pytest.mark.parametrize("recipe", ["paper", "patient"])
def test_split_writes_csvs_and_counts(capsys, tmp_path, recipe):
    train_csv = tmp_path / "CheXpert-v1.0-small" / "train.csv"
    train_csv.parent.mkdir()
    write_train_csv(train_csv)
    code, out, err = run(capsys, "split", "--csv", train_csv, "--recipe", recipe,
                         "--out", tmp_path / "out", "--json")
    assert code == 0, err
    result = json.loads(out)
    for part in ("train", "val"):
        with open(result[f"{part}_csv"]) as handle:
            assert sum(1 for _ in handle) - 1 == result[part] > 0


def test_split_bad_csv_names_the_row(capsys, tmp_path):
    bad = tmp_path / "train.csv"
    bad.write_text(",".join(CHEXPERT_HEADER) + "\n"
                   + "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Male,60,"
                     "Frontal,AP," + ",".join(["yes"] + [""] * 13) + "\n")
    code, _, err = run(capsys, "split", "--csv", bad)
    assert code == 2 and "line 2" in err and "No Finding" in err and "'yes'" in err


def test_compare_reproduces_the_paper_table(capsys, reference):
    code, out, err = run(
        capsys, "compare", "--labels", reference / "valid_frontal_6_classes.csv",
        "--scores", f"CheXNet={reference / 'chexnet_valid_frontal_pneumothorax_scores.csv'}",
        f"tCheXNet={reference / 'tchexnet_valid_frontal_pneumothorax_scores.csv'}", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["n"], result["positives"]) == (202, 7)
    assert result["models"]["CheXNet"]["auc"] == pytest.approx(0.6418, abs=5e-4)
    assert result["models"]["tCheXNet"]["auc"] == pytest.approx(0.7084, abs=5e-4)
    assert result["delong"][0]["p"] == pytest.approx(0.591, abs=0.01)


def test_compare_on_valid_csv_with_frontal_filter(capsys, reference):
    code, out, _ = run(
        capsys, "compare", "--labels", reference / "valid.csv", "--view", "frontal",
        "--scores", f"tCheXNet={reference / 'tchexnet_valid_frontal_pneumothorax_scores.csv'}")
    assert code == 0 and "n=202, 7 positive" in out and "AUC 0.708" in out
