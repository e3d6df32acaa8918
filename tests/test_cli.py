"""The `tchexnet` command on real files made here: images of odd kinds, Keras 2 weights, CSVs."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tchexnet_lib import config, evaluation, features, images, labels, training
from tchexnet_lib.tools import cli

CHEXPERT_HEADER = list(labels.CHEXPERT_META_COLUMNS + labels.CHEXPERT_OBSERVATIONS)


def chest_like(height: int = 320, width: int = 390) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    lungs = np.exp(
        -(((xx - width * 0.33) / (width * 0.12)) ** 2 + ((yy - height * 0.5) / (height * 0.3)) ** 2)
    )
    lungs += np.exp(
        -(((xx - width * 0.67) / (width * 0.12)) ** 2 + ((yy - height * 0.5) / (height * 0.3)) ** 2)
    )
    return np.clip(200 - 150 * lungs + 10 * np.sin(yy / 6.0), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory) -> dict[str, Path]:
    """The same radiograph as 8-bit JPEG and PNG, 16-bit PNG, RGB, RGBA, palette; plus a tiny one."""
    folder = tmp_path_factory.mktemp("images")
    gray = chest_like()
    files = {
        "jpeg": folder / "view1_frontal.jpg",
        "png8": folder / "gray8.png",
        "png16": folder / "gray16.png",
        "rgb": folder / "rgb.png",
        "rgba": folder / "rgba.png",
        "palette": folder / "palette.png",
        "small": folder / "small40.png",
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
    code, out, err = run(
        capsys, "predict", image_files["jpeg"], "--weights", keras2_weights["chexnet"]
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == str(image_files["jpeg"]) and len(lines) == 15
    for line, name in zip(lines[1:], labels.CHEXNET_CLASSES):
        cls, probability = line.rsplit(" ", 1)
        assert cls == name and 0.0 <= float(probability) <= 1.0
    assert "best_weights.h5" in err  # says loudly which weights


def test_predict_json_on_every_kind_of_image(capsys, image_files, keras2_weights):
    kinds = ["jpeg", "png8", "png16", "rgb", "rgba", "palette", "small"]
    code, out, err = run(
        capsys,
        "predict",
        *(image_files[k] for k in kinds),
        "--json",
        "--weights",
        keras2_weights["chexnet"],
    )
    assert code == 0, err
    rows = json.loads(out)
    assert [r["image"] for r in rows] == [str(image_files[k]) for k in kinds]
    p = {k: np.array(list(r["probabilities"].values())) for k, r in zip(kinds, rows)}
    assert list(rows[0]["probabilities"]) == list(labels.CHEXNET_CLASSES)
    for kind in ("png16", "rgb", "rgba", "palette"):
        np.testing.assert_allclose(p[kind], p["png8"], atol=2e-3, err_msg=kind)
    np.testing.assert_allclose(p["jpeg"], p["png8"], atol=2e-2)


def test_predict_tchexnet_checkpoint(capsys, image_files, keras2_weights):
    code, out, err = run(
        capsys,
        "predict",
        image_files["png8"],
        "--model",
        "tchexnet",
        "--weights",
        keras2_weights["tchexnet"],
    )
    assert code == 0, err
    path, line = out.splitlines()
    assert path == str(image_files["png8"]) and line.startswith("Pneumothorax ")
    assert 0.0 < float(line.split()[1]) < 1.0


def test_default_weights_come_from_the_weights_folder(
    capsys, monkeypatch, image_files, keras2_weights
):
    monkeypatch.setenv("TCHEXNET_WEIGHTS_DIR", str(keras2_weights["chexnet"].parent))
    code, out, _ = run(capsys, "predict", image_files["png8"])
    assert code == 0 and out.splitlines()[1].startswith("Atelectasis ")


def test_features_text_and_json(capsys, image_files, keras2_weights):
    code, out, _ = run(
        capsys, "features", image_files["png8"], "--weights", keras2_weights["chexnet"]
    )
    assert code == 0
    path, vector = out.splitlines()[:2]
    assert path == str(image_files["png8"]) and vector.startswith("1024 [")
    code, out, _ = run(
        capsys,
        "features",
        image_files["png8"],
        image_files["jpeg"],
        "--json",
        "--weights",
        keras2_weights["chexnet"],
    )
    rows = json.loads(out)
    assert len(rows) == 2 and all(len(r["features"]) == 1024 for r in rows)
    assert min(min(r["features"]) for r in rows) >= 0.0  # pooled ReLU outputs


def test_skip_mode_reports_and_keeps_rows_aligned(capsys, tmp_path, image_files, keras2_weights):
    empty, text = tmp_path / "empty.jpg", tmp_path / "page.jpg"
    empty.write_bytes(b"")
    text.write_text("<!DOCTYPE html><html></html>")
    argv = [
        "predict",
        image_files["png8"],
        empty,
        image_files["rgb"],
        text,
        tmp_path / "gone.png",
        image_files["palette"],
        "--json",
        "--weights",
        keras2_weights["chexnet"],
    ]
    code, out, err = run(capsys, *argv, "--on-error", "skip")
    assert code == 0
    assert [r["image"] for r in json.loads(out)] == [
        str(image_files[k]) for k in ("png8", "rgb", "palette")
    ]
    assert "6 files: 3 kept, 3 skipped" in err
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert str(empty) in err and "2 more bad files" in err


def test_errors_are_one_line_without_traceback(tmp_path, image_files):
    """The installed console script: missing weights → exit 2, where to get them, no traceback."""
    script = Path(sys.executable).with_name("tchexnet")
    result = subprocess.run(
        [
            script,
            "predict",
            str(image_files["png8"]),
            "--weights",
            str(tmp_path / "best_weights.h5"),
        ],
        capture_output=True,
        text=True,
    )
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
                    writer.writerow(
                        [
                            f"CheXpert-v1.0-small/train/patient{patient:05d}/study{study}/view1_{view}.jpg",
                            "Female",
                            50,
                            view.capitalize(),
                            "AP" if view == "frontal" else "",
                            *values,
                        ]
                    )


@pytest.mark.parametrize("recipe", ["paper", "patient"])
def test_split_writes_csvs_and_counts(capsys, tmp_path, recipe):
    train_csv = tmp_path / "CheXpert-v1.0-small" / "train.csv"
    train_csv.parent.mkdir()
    write_train_csv(train_csv)
    code, out, err = run(
        capsys, "split", "--csv", train_csv, "--recipe", recipe, "--out", tmp_path / "out", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    for part in ("train", "val"):
        with open(result[f"{part}_csv"]) as handle:
            assert sum(1 for _ in handle) - 1 == result[part] > 0


def test_split_applies_the_uncertainty_policy(capsys, tmp_path):
    train_csv = tmp_path / "CheXpert-v1.0-small" / "train.csv"
    train_csv.parent.mkdir()
    write_train_csv(train_csv)
    written = {}
    for policy in ("zeros", "ones", "ignore"):
        code, out, err = run(
            capsys,
            "split",
            "--csv",
            train_csv,
            "--uncertain",
            policy,
            "--out",
            tmp_path / policy,
            "--json",
        )
        assert code == 0, err
        written[policy] = pd.read_csv(json.loads(out)["train_csv"])[list(labels.PAPER_CLASSES)]
    uncertain = written["ignore"] == -1  # U-Ignore keeps them uncertain, as CheXpert spells it
    assert uncertain.to_numpy().any()
    assert (written["ones"][uncertain] == 1).sum().sum() == uncertain.sum().sum()
    assert (written["zeros"][uncertain] == 0).sum().sum() == uncertain.sum().sum()
    assert written["zeros"][~uncertain].equals(written["ones"][~uncertain])


def test_split_bad_csv_names_the_row(capsys, tmp_path):
    bad = tmp_path / "train.csv"
    bad.write_text(
        ",".join(CHEXPERT_HEADER)
        + "\n"
        + "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Male,60,"
        "Frontal,AP," + ",".join(["yes"] + [""] * 13) + "\n"
    )
    code, _, err = run(capsys, "split", "--csv", bad)
    assert code == 2 and "line 2" in err and "No Finding" in err and "'yes'" in err


def test_compare_reproduces_the_paper_table(capsys, reference):
    code, out, err = run(
        capsys,
        "compare",
        "--labels",
        reference / "valid_frontal_6_classes.csv",
        "--scores",
        f"CheXNet={reference / 'chexnet_valid_frontal_pneumothorax_scores.csv'}",
        f"tCheXNet={reference / 'tchexnet_valid_frontal_pneumothorax_scores.csv'}",
        "--json",
    )
    assert code == 0, err
    result = json.loads(out)
    assert (result["n"], result["positives"]) == (202, 7)
    assert result["models"]["CheXNet"]["auc"] == pytest.approx(0.6418, abs=5e-4)
    assert result["models"]["tCheXNet"]["auc"] == pytest.approx(0.7084, abs=5e-4)
    assert result["delong"][0]["p"] == pytest.approx(0.591, abs=0.01)


def test_compare_on_valid_csv_with_frontal_filter(capsys, reference):
    code, out, _ = run(
        capsys,
        "compare",
        "--labels",
        reference / "valid.csv",
        "--view",
        "frontal",
        "--scores",
        f"tCheXNet={reference / 'tchexnet_valid_frontal_pneumothorax_scores.csv'}",
    )
    assert code == 0 and "n=202, 7 positive" in out and "AUC 0.708" in out


def test_docstring_names_every_command():
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    first_sentence = cli.__doc__.split(".\n")[0]
    assert [c for c in sub.choices if c not in first_sentence] == []


def _options(command: str) -> dict[str, argparse.Action]:
    """The options of one sub-command, by destination."""
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices[command]._actions}


def test_choices_and_defaults_come_from_the_library():
    head, preprocess = training.HeadConfig(), config.PreprocessConfig()
    train = _options("train")
    assert {
        k: train[k].default
        for k in ("epochs", "batch_size", "lr", "class_weight", "select_on", "seed", "patience")
    } == {
        "epochs": head.epochs,
        "batch_size": head.batch_size,
        "lr": head.learning_rate,
        "class_weight": head.class_weight,
        "select_on": head.select_on,
        "seed": head.seed,
        "patience": head.early_stopping_patience,
    }
    assert tuple(train["class_weight"].choices) == training.CLASS_WEIGHTS
    assert tuple(train["select_on"].choices) == training.SELECT_ON
    extract = _options("extract")
    assert tuple(extract["dtype"].choices) == features.DTYPES
    assert tuple(extract["on_error"].choices) == images.ON_ERROR
    for command in ("predict", "features", "gradcam"):
        interpolation = _options(command)["interpolation"]
        assert tuple(interpolation.choices) == images.INTERPOLATIONS
        assert interpolation.default == preprocess.interpolation
    split = _options("split")
    assert (split["val_fraction"].default, split["seed"].default) == (0.2, 0)
    assert _options("compare")["target"].default == labels.TARGET
    assert "(default 1000)" in _options("demo")["source_patients"].help


def test_extract_and_reproduce_flags_map_onto_the_extraction_options():
    parser = cli.build_parser()
    extract = ["extract", "--csv", "labels.csv", "--out", "store"]
    assert cli._extraction(parser.parse_args(extract)) == features.ExtractionOptions()
    flags = ["--batch-size", "2", "--shard-size", "6", "--dtype", "float16", "--on-error", "skip"]
    given = cli._extraction(parser.parse_args([*extract, *flags, "--shard", "1/3"]))
    assert given == features.ExtractionOptions(2, 6, "float16", "skip", (1, 3))
    reproduce = parser.parse_args(["reproduce", "--shard-size", "64", "--shard", "0/2"])
    assert cli._extraction(reproduce) == features.ExtractionOptions(shard_size=64, shard=(0, 2))
    with pytest.raises(ValueError, match="multiple of batch_size"):
        cli._extraction(parser.parse_args([*extract, "--batch-size", "3"]))


def write_labels_csv(path: Path, y: np.ndarray) -> None:
    """A CheXpert-style validation CSV whose Pneumothorax column is ``y``."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CHEXPERT_HEADER)
        for i, label in enumerate(y):
            values = [""] * len(labels.CHEXPERT_OBSERVATIONS)
            values[labels.CHEXPERT_OBSERVATIONS.index(labels.TARGET)] = f"{float(label):.1f}"
            writer.writerow(
                [
                    f"CheXpert-v1.0-small/valid/patient{i:05d}/study1/view1_frontal.jpg",
                    "Male",
                    60,
                    "Frontal",
                    "AP",
                    *values,
                ]
            )


@pytest.mark.parametrize("positives", [3, 0])
def test_compare_text_uses_the_library_auc_wording(capsys, tmp_path, positives):
    y = np.r_[np.ones(positives), np.zeros(12 - positives)]
    rng = np.random.default_rng(1)
    scores = {"A": 0.3 * y + rng.uniform(0, 1, 12), "B": rng.uniform(0, 1, 12)}
    write_labels_csv(tmp_path / "valid.csv", y)
    argv = ["compare", "--labels", tmp_path / "valid.csv", "--scores"]
    for name, s in scores.items():
        (tmp_path / f"{name}.txt").write_text("\n".join(map(str, s)) + "\n")
        argv.append(f"{name}={tmp_path / f'{name}.txt'}")
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"Pneumothorax: n=12, {positives} positive"
    models = evaluation.compare_models(y, scores)["models"]
    for line, (name, model) in zip(lines[1:3], models.items()):
        counted = {**model, "n_pos": positives}
        assert line == f"  {name:<9} AUC {evaluation.format_auc(counted, warn=True)}"
    if positives == 0:
        assert lines[1].endswith("AUC undefined (n_pos=0)") and "z, p undefined" in lines[3]
    else:
        assert "(95% CI " in lines[1]
        assert lines[3].startswith("  paired DeLong: z = (AUC A − AUC B)/SE = ")


def test_compare_takes_repeated_flags_refuses_a_repeated_name_and_warns(capsys, tmp_path):
    """Seven positives, one model perfect: both warnings, in the JSON and beside the text."""
    y = np.r_[np.ones(7), np.zeros(40)]
    rng = np.random.default_rng(0)
    write_labels_csv(tmp_path / "valid.csv", y)
    for name, s in {"perfect": y + 0.1 * rng.random(47), "noisy": rng.random(47)}.items():
        (tmp_path / f"{name}.txt").write_text("\n".join(map(str, s)) + "\n")
    flags = [
        "--scores",
        f"perfect={tmp_path / 'perfect.txt'}",
        "--scores",
        f"noisy={tmp_path / 'noisy.txt'}",
    ]
    code, out, err = run(capsys, "compare", "--labels", tmp_path / "valid.csv", *flags, "--json")
    assert code == 0, err
    models = json.loads(out)["models"]
    assert list(models) == ["perfect", "noisy"]  # both flags kept, in order
    assert models["perfect"]["warnings"] == [
        "degenerate: AUC 1.0, zero variance",
        "only 7 positives",
    ]
    assert models["noisy"]["warnings"] == ["only 7 positives"]
    code, out, _ = run(capsys, "compare", "--labels", tmp_path / "valid.csv", *flags)
    assert (
        "1.000 (95% CI 1.000–1.000) ⚠ degenerate: AUC 1.0, zero variance; only 7 positives" in out
    )
    code, _, err = run(
        capsys,
        "compare",
        "--labels",
        tmp_path / "valid.csv",
        *flags,
        "--scores",
        f"noisy={tmp_path / 'perfect.txt'}",
    )
    assert code == 2 and "model 'noisy' given twice" in err


@pytest.mark.slow
def test_split_extract_train_compare_chain_from_any_folder(capsys, tmp_path, monkeypatch):
    """The split's CSVs are written far from the images, and extract, train, predict and compare
    still find them: the split recorded their root (not $TCHEXNET_DATA_DIR, which points
    elsewhere, nor the CSVs' folder). After the data moves, --data-dir says where it is now."""
    from tchexnet_lib import data, models, synthetic

    monkeypatch.setenv("TCHEXNET_DATA_DIR", str(tmp_path / "no-data-here"))

    spec = synthetic.SyntheticSpec(
        n_patients_train=40, n_patients_valid=6, seed=5, pneumothorax_prevalence=0.4
    )
    made = synthetic.generate_dataset(tmp_path / "data", spec, progress=False, workers=1)
    chexnet = models.build_chexnet(input_shape=(64, 64, 3))
    weights = models.save_weights_atomic(chexnet, tmp_path / "chexnet.weights.h5")
    models.save_metadata(weights, chexnet, "a random CheXNet at 64 px, for the test")
    split = tmp_path / "elsewhere" / "split"
    code, _, err = run(
        capsys, "split", "--csv", Path(made["dataset_dir"]) / "train.csv", "--out", split, "--json"
    )
    assert code == 0, err
    extract = [
        "extract",
        "--csv",
        split / "train.csv",
        "--weights",
        weights,
        "--batch-size",
        "8",
        "--shard-size",
        "16",
        "--json",
    ]
    code, out, err = run(capsys, *extract, "--out", tmp_path / "store")
    assert code == 0, err
    assert json.loads(out)["complete"]
    code, out, err = run(
        capsys,
        "train",
        "--features",
        tmp_path / "store",
        "--labels",
        split / "train.csv",
        "--out",
        tmp_path / "run",
        "--epochs",
        "1",
        "--json",
    )
    assert code == 0, err
    assert Path(json.loads(out)["best_checkpoint"]).is_file()
    val = data.read_labels(split / "val.csv")  # the recorded root: the images are found
    code, out, err = run(
        capsys, "predict", *val["image_path"], "--model", "chexnet", "--weights", weights, "--json"
    )
    assert code == 0, err
    scores = [row["probabilities"][labels.TARGET] for row in json.loads(out)]
    pd.DataFrame({"Path": val["Path"], "score": scores}).to_csv(
        tmp_path / "scores.csv", index=False
    )
    code, out, err = run(
        capsys,
        "compare",
        "--labels",
        split / "val.csv",
        "--scores",
        f"CheXNet={tmp_path / 'scores.csv'}",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["n"] == len(val) and set(json.loads(out)["models"]) == {"CheXNet"}
    shutil.move(tmp_path / "data", tmp_path / "moved")
    code, _, err = run(capsys, *extract, "--out", tmp_path / "store2")
    assert code == 2 and "file not found" in err
    code, out, err = run(
        capsys, *extract, "--out", tmp_path / "store2", "--data-dir", tmp_path / "moved"
    )
    assert code == 0, err
