"""`tchexnet reproduce` on a CheXpert-shaped folder: end to end, kill -9 and resume, shards.

The folder is a small synthetic CheXpert-v1.0-small (train.csv, valid.csv, JPEGs at every
Path) and CheXNet is a random DenseNet-121 at 64×64 with its sidecar, so every run takes
seconds. Every run uses the same options, so every summary must equal the uninterrupted
reference run's (times, devices and paths aside).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tchexnet_lib import config, evaluation, files
from tchexnet_lib.tools import cli, reproduce

ROOT = Path(__file__).resolve().parents[1]
#: 20 train rows in 3 shards, 10 val rows in 2, 12 test rows in 2.
OPTIONS = ["--limit", "20", "--shard-size", "8", "--batch-size", "4"]
N_SHARDS = 7
VOLATILE = ("seconds", "run", "outputs")


@pytest.fixture(scope="module")
def chexpert(tmp_path_factory):
    """(data dir, weights, base folder); $TCHEXNET_DATA_DIR points to an empty folder."""
    import keras

    from tchexnet_lib import models, synthetic

    base = tmp_path_factory.mktemp("reproduce")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TCHEXNET_DATA_DIR", str(base / "no-data-here"))
        patch.setenv("TCHEXNET_OUTPUT_DIR", str(base / "outputs"))
        spec = synthetic.SyntheticSpec(
            n_patients_train=40, n_patients_valid=12, seed=5, pneumothorax_prevalence=0.4
        )
        synthetic.generate_dataset(base / "data", spec, progress=False, workers=1)
        keras.utils.set_random_seed(3)
        chexnet = models.build_chexnet(input_shape=(64, 64, 3))
        weights = models.save_weights_atomic(chexnet, base / "chexnet64.weights.h5")
        models.save_metadata(weights, chexnet, "a random CheXNet at 64 px, for the test")
        yield base / "data", weights, base


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(["reproduce", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stable(summary: dict) -> dict:
    """The summary without what differs between equal runs (times, devices, paths)."""
    return {key: value for key, value in summary.items() if key not in VOLATILE}


@pytest.fixture(scope="module")
def reference(chexpert):
    """The uninterrupted run's summary (run once, in its own process state)."""
    data_dir, weights, base = chexpert
    out = base / "reference"
    assert (
        cli.main(
            [
                "reproduce",
                "--data-dir",
                str(data_dir),
                "--weights",
                str(weights),
                "--out",
                str(out),
                *OPTIONS,
                "--json",
            ]
        )
        == 0
    )
    return out, json.loads((out / "summary.json").read_text())


def test_end_to_end_then_every_step_reused(chexpert, reference, capsys):
    data_dir, weights, _ = chexpert
    out, summary = reference
    assert (summary["dataset"], summary["recipe"], summary["limit"]) == ("chexpert", "paper", 20)
    assert summary["paper_auc"] == evaluation.PAPER_AUCS == {"CheXNet": 0.642, "tCheXNet": 0.708}
    assert summary["n_test"] == 12 and set(summary["models"]) == {"CheXNet", "tCheXNet"}
    assert summary["image_size"] == [64, 64] and summary["run"]["extraction"]["images"] == 42
    for name in (
        "summary.json",
        "predictions.csv",
        "roc.png",
        "split/train.csv",
        "split/test.csv",
        "features/test/manifest.json",
        "head/state.json",
    ):
        assert (out / name).is_file(), name
    assert files.read_json(out / "split" / "train.csv.json")["image_root"] == str(
        (data_dir / config.CHEXPERT_SMALL).resolve()
    )
    # no --data-dir: the run folder's recorded data root, not $TCHEXNET_DATA_DIR
    code, text, err = run(capsys, "--weights", weights, "--out", out, *OPTIONS)
    assert code == 0, err
    assert "devices: " in err and "split: up to date, reused" in err
    assert all(f"features {name}: " in err for name in ("train", "val", "test"))
    assert err.count("complete store reused") == 3
    assert "head: up to date, reused" in err and "predictions: up to date, reused" in err
    assert stable(json.loads((out / "summary.json").read_text())) == stable(summary)
    assert "  CheXNet   0.642  " in text and "paired DeLong: " in text
    code, _, err = run(capsys, "--weights", weights, "--out", out, "--limit", "21")
    assert code == 2 and "holds a run of other settings (limit 20 → 21)" in err


def test_other_weights_are_refused_before_any_work(chexpert, reference, tmp_path, capsys):
    """Same place, other content: the run folder's stores were computed with the first file."""
    from tchexnet_lib import models

    _, weights, _ = chexpert
    other = tmp_path / weights.name
    other.write_bytes(weights.read_bytes() + b"\0")
    shutil.copy(models.metadata_path(weights), models.metadata_path(other))
    code, _, err = run(capsys, "--weights", other, "--out", reference[0], *OPTIONS)
    assert code == 2 and "holds a run of other settings (weights sha256 " in err
    assert "split: " not in err


def test_patient_recipe_keeps_the_paper_rows_and_splits_them_by_patient(chexpert):
    from tchexnet_lib import data, pipeline, splits

    data_dir, weights, base = chexpert
    study = reproduce.open_study(reproduce.RunSettings(data_dir, weights, recipe="patient"))
    assert study.out_dir == base / "outputs" / "chexpert-patient" and study.recipe == "patient"
    assert reproduce.reproduction_dir("paper", 300).name == "chexpert-limit300"
    tables = pipeline.split_tables(study)
    splits.check_no_patient_leakage(tables["train"], tables["val"])
    paper = splits.paper_select(data.read_labels(study.dataset_dir / "train.csv"))
    assert sorted([*tables["train"]["Path"], *tables["val"]["Path"]]) == sorted(paper["Path"])
    assert (tables["val"]["Pneumothorax"] == 1).any() and (
        tables["train"]["Pneumothorax"] == 1
    ).any()


def test_the_notebooks_and_reproduce_share_one_feature_store_per_split(chexpert):
    """A notebook's study on real CheXpert and `tchexnet reproduce` with the same settings use
    one folder: what either extracted, the other reuses (no image goes through the base twice),
    and the notebook's plan says, before starting, what is left and how long it takes."""
    from tchexnet_lib import errors, pipeline

    data_dir, weights, base = chexpert
    options = pipeline.DataOptions(data_dir)
    study = pipeline.make_study("chexpert", weights, limit=15, options=options)
    assert (
        study.out_dir
        == reproduce.reproduction_dir("paper", 15)
        == base / "outputs" / "chexpert-limit15"
    )
    tables = pipeline.split_tables(study)
    chexnet = pipeline.chexnet_loader(study)
    plan = pipeline.extraction_plan(study, tables, chexnet, sample_images=4)
    assert plan.pending == {"train": 15, "val": 10, "test": 12} and plan.timed == 4
    assert plan.images_per_second > 0 and plan.seconds == pytest.approx(37 / plan.images_per_second)
    assert "37 images to extract (train 15, val 10, test 12)" in plan.describe()
    pipeline.features_for(study, "test", tables["test"], chexnet, progress=False)  # notebook 02
    said = []
    run = reproduce.RunSettings(data_dir, weights, limit=15)
    reproduce.reproduce(run, progress=False, say=said.append)
    text = "\n".join(said)
    assert "features test: 12 rows, complete store reused" in text, text
    assert "features train: 15 rows computed" in text
    after = pipeline.extraction_plan(study, pipeline.split_tables(study), chexnet)
    assert after.pending == {"train": 0, "val": 0, "test": 0} and after.seconds == 0
    assert after.describe().endswith("nothing to extract")
    with pytest.raises(errors.LongStepError, match="ALLOW_LONG = True"):
        pipeline.ExtractionPlan({"train": 3000}, 5.0, 32).check(allow_long=False)
    pipeline.ExtractionPlan({"train": 3000}, 5.0, 32).check(allow_long=True)
    pipeline.ExtractionPlan({"train": 1000}, 5.0, 32).check(allow_long=False)  # 200 s: short


def test_data_root_order(chexpert, reference, tmp_path, monkeypatch):
    data_dir, _, _ = chexpert
    monkeypatch.setenv("TCHEXNET_DATA_DIR", str(tmp_path / "env"))
    assert reproduce.data_root(tmp_path / "given", reference[0]) == tmp_path / "given"
    assert reproduce.data_root(None, reference[0]).resolve() == data_dir.resolve()
    assert reproduce.data_root(None, tmp_path / "fresh") == tmp_path / "env"


@pytest.mark.posix
def test_kill_9_mid_extraction_then_resume_gives_the_same_summary(chexpert, reference, capsys):
    data_dir, weights, base = chexpert
    out = base / "killed"
    argv = [
        sys.executable,
        "-m",
        "tchexnet_lib.tools.cli",
        "reproduce",
        "--data-dir",
        str(data_dir),
        "--weights",
        str(weights),
        "--out",
        str(out),
        *OPTIONS,
        "--json",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("features/*/done-*.json")):
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no shard written in 120 s"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    process.stderr.close()
    assert len(list(out.glob("features/*/done-*.json"))) < N_SHARDS  # killed mid-extraction
    assert not (out / "summary.json").exists()
    code, _, err = run(capsys, "--weights", weights, "--out", out, *OPTIONS, "--json")
    assert code == 0, err
    assert "reused from the interrupted run" in err
    assert stable(json.loads((out / "summary.json").read_text())) == stable(reference[1])


def test_shards_from_two_machines_merge_to_the_same_summary(chexpert, reference, capsys):
    data_dir, weights, base = chexpert
    machines = [base / "machine0", base / "machine1"]
    for i, out in enumerate(machines):
        code, text, err = run(
            capsys,
            "--data-dir",
            data_dir,
            "--weights",
            weights,
            "--out",
            out,
            *OPTIONS,
            "--shard",
            f"{i}/2",
        )
        assert code == 0, err
        assert (
            f"shard {i}/2 done" in text
            and f"rsync -a --protect-args HOST:{out / 'features'}/" in text
        )
        assert f"--out {out} --limit 20 --shard-size 8" in text
        assert not (out / "summary.json").exists() and not (out / "head").exists()
    done = {
        out: sorted(p.relative_to(out).as_posix() for p in out.glob("features/*/done-*"))
        for out in machines
    }
    assert done[machines[0]] == [
        "features/test/done-00000.json",
        "features/train/done-00000.json",
        "features/train/done-00002.json",
        "features/val/done-00000.json",
    ]
    shutil.copytree(machines[1] / "features", machines[0] / "features", dirs_exist_ok=True)
    code, _, err = run(capsys, "--weights", weights, "--out", machines[0], *OPTIONS, "--json")
    assert code == 0, err
    assert err.count("from the --shard runs merged") == 3
    assert stable(json.loads((machines[0] / "summary.json").read_text())) == stable(reference[1])


def test_missing_or_mismatched_shards_are_refused(chexpert, capsys):
    data_dir, weights, base = chexpert
    out, other = base / "half", base / "other"
    code, _, err = run(
        capsys,
        "--data-dir",
        data_dir,
        "--weights",
        weights,
        "--out",
        out,
        *OPTIONS,
        "--shard",
        "0/2",
    )
    assert code == 0, err
    code, _, err = run(capsys, "--weights", weights, "--out", out, *OPTIONS, "--shard", "1/3")
    assert code == 2 and "filled by 2 machines" in err and "use i/2" in err
    code, _, err = run(capsys, "--weights", weights, "--out", out, *OPTIONS)
    errors = [line for line in err.splitlines() if line.startswith("tchexnet: error: ")]
    assert code == 2 and len(errors) == 1
    assert f"feature store {out / 'features' / 'train'}: 1 of 3 shard(s) not usable: " in err
    assert "features-00001.npy missing" in err
    # machine 1 ran with another --limit: its train block 1 holds the same images, another key
    options = [*OPTIONS[2:], "--limit", "19", "--shard", "1/2"]
    code, _, err = run(
        capsys, "--data-dir", data_dir, "--weights", weights, "--out", other, *options
    )
    assert code == 0, err
    for name in ("features-00001.npy", "done-00001.json"):
        shutil.copy(other / "features" / "train" / name, out / "features" / "train" / name)
    code, _, err = run(capsys, "--weights", weights, "--out", out, *OPTIONS)
    assert code == 2 and "Traceback" not in err
    assert "features-00001.npy computed for another store (other weights, preprocessing, " in err
    assert not (out / "head").exists()
