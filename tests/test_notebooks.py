"""The tutorial series, executed: every notebook in order on a tiny demo, and its helpers.

The slow tests run ``notebooks/0N_*.ipynb`` with papermill through :mod:`tchexnet_lib.notebooks`
(a kernel per notebook, inheriting the ``TCHEXNET_*_DIR`` variables set here) on a tiny demo
(:mod:`tests.tiny_demo`), in series order, each reading what the one before wrote, and check the
files each must write and the values in them. Two more runs check that missing data or weights
stop a notebook with one line saying where they go, not a traceback. The fast tests cover the
runner's and the lessons' helpers.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from tchexnet_lib import config, errors, files, localisation, notebooks, plotting, results
from tchexnet_lib.tools import cli, runner
from tests import tiny_demo
from tests.conftest import REFERENCE

DEMO = "demo"
#: The tiny demo's study folder: its LIMIT names it (pipeline.study_dir), so a quick pass
#: never overwrites a full run's feature stores.
STUDY = f"{DEMO}-limit{tiny_demo.parameters(Path())['LIMIT']}"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, request):
    """The tiny demo; the environment points there for the module.

    Outputs go to a fresh folder; the data and weights are drawn and pretrained once into
    pytest's cache (reused while their settings match; a fresh folder without the cache).
    """
    base = tmp_path_factory.mktemp("notebook-series")
    inputs = tiny_demo.cache_folder(request.config)
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in tiny_demo.environment(base, inputs).items():
            patch.setenv(variable, value)
        patch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
        weights = tiny_demo.prepare()
        yield {
            "data": Path(config.data_dir()),
            "weights": weights,
            "out": base / "outputs",
            "executed": base / "executed",
        }


def outputs(tiny, notebook: str) -> Path:
    return tiny["out"] / "notebooks" / DEMO / notebook


def run(tiny, name: str, **overrides) -> nbformat.NotebookNode:
    """Execute one notebook on the tiny demo; return the executed copy, checked error-free."""
    parameters = tiny_demo.parameters(tiny["weights"], **overrides)
    path = runner.execute(name, parameters, out_dir=tiny["executed"], timeout=600)
    assert path == tiny["executed"] / f"{name}.ipynb"
    assert runner.error_outputs(path) == []
    executed = nbformat.read(path, as_version=4)
    text = all_text(executed)
    assert "DEMO DATA: synthetic drawings" in text, "the notebook must say it runs on the demo"
    assert "Traceback" not in text
    for pattern in (TF_LOG_LINE, ABSOLUTE_PATH):
        found = pattern.search(text)
        assert not found, text[max(found.start() - 200, 0) : found.end() + 100]
    assert_exercises_pass(executed)
    return executed


#: TensorFlow's C++ log lines ("E0000 00:00:17… node_def_util.cc: …"): none may reach a lesson.
TF_LOG_LINE = re.compile(r"^[EWF]\d{4} \d\d:\d\d:\S+ +\d+ \S+\.cc:\d+\]", re.MULTILINE)
#: An absolute path in an output: executed notebooks read the same on every machine.
ABSOLUTE_PATH = re.compile(r"(?<![\w.$~])/(tmp|work|root|home|usr|var|private)/")


def assert_exercises_pass(executed) -> None:
    """Every exercise check of the executed copy accepted its solution (a ✓ line)."""
    for cell in executed.cells:
        if "exercise-check" in cell.metadata.get("tags", []):
            said = "".join(o.get("text", "") for o in cell.get("outputs", []))
            assert said.startswith("✓ Exercise"), f"{cell.source}: {said or 'no output'}"


def all_text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def assert_files(folder: Path, names) -> None:
    missing = [name for name in names if not (folder / name).is_file()]
    assert not missing, f"{folder}: missing {missing}"
    empty = [name for name in names if (folder / name).stat().st_size == 0]
    assert not empty, f"{folder}: empty {empty}"


# --------------------------------------------------------------------------- the series


slow = pytest.mark.slow


@slow
def test_01_data_exploration(tiny):
    executed = run(tiny, "01_data_exploration")
    folder = outputs(tiny, "01_data_exploration")
    assert_files(
        folder,
        [
            "label_summary.csv",
            "split_overview.csv",
            "paper_train.csv",
            "paper_val.csv",
            "label_summary.png",
            "splits.png",
            "test_images.png",
        ],
    )
    summary = pd.read_csv(folder / "label_summary.csv", index_col=0)
    assert len(summary) == 14 and (summary["total"] == summary.iloc[:, :4].sum(axis=1)).all()
    overview = pd.read_csv(folder / "split_overview.csv", index_col=0)
    assert list(overview.index) == ["train", "val", "test"]
    written = pd.read_csv(folder / "paper_train.csv")
    assert len(written) == overview.loc["train", "rows"]
    text = all_text(executed)
    assert "patient split train" in text and "the drawn air space covers" in text
    assert "a design choice of the demo: valid.csv is drawn with 20% pneumothorax" in text


@slow
def test_02_chexnet_inference(tiny):
    executed = run(tiny, "02_chexnet_inference")
    folder = outputs(tiny, "02_chexnet_inference")
    assert_files(
        folder,
        [
            "probabilities.csv",
            "chexnet_test_scores.csv",
            "preprocessing.png",
            "probabilities.png",
            "chexnet_roc.png",
        ],
    )
    probabilities = pd.read_csv(folder / "probabilities.csv", index_col=0)
    assert len(probabilities) == 14 and probabilities["probability"].between(0, 1).all()
    scores = pd.read_csv(folder / "chexnet_test_scores.csv")
    assert len(scores) == 30 and set(scores["Pneumothorax"]) <= {0, 1}
    assert json.loads((tiny["out"] / STUDY / "features" / "test" / "manifest.json").read_text())[
        "complete"
    ]
    text = all_text(executed)
    assert "check_model_input refuses it" in text and "7,051,854 parameters" in text
    assert "at CheXNet's Youden threshold on this split" in text  # the hello-world, read again


@slow
def test_03_feature_extraction(tiny):
    executed = run(tiny, "03_feature_extraction", TIMING_IMAGES=8)
    for split in ("train", "val", "test"):
        manifest = json.loads(
            (tiny["out"] / STUDY / "features" / split / "manifest.json").read_text()
        )
        assert manifest["complete"] and manifest["n_features"] == 1024
    folder = outputs(tiny, "03_feature_extraction")
    assert_files(folder, ["features_pca.png", "neighbours.csv", "neighbours.png", "timing.json"])
    timing = json.loads((folder / "timing.json").read_text())
    assert timing["store_images_per_s"] > 0
    assert timing["original_hours"] == pytest.approx(timing["epochs"] * timing["store_hours"])
    text = all_text(executed)
    assert "training=True vs training=False: max |difference| = 0.0" in text
    assert "feature stores: " in text  # the plan, said before any extraction


@slow
def test_04_transfer_training(tiny):
    executed = run(tiny, "04_transfer_training")
    study_dir = tiny["out"] / STUDY
    history = pd.read_csv(study_dir / "head" / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    assert len(list((study_dir / "head" / "checkpoints").glob("head_00[12]_*.weights.h5"))) == 2
    assert_files(
        study_dir,
        [
            "head/head_best.weights.h5",
            "head/state.json",
            "tchexnet.weights.h5",
            "tchexnet.weights.h5.json",
            "predictions.csv",
        ],
    )
    predictions = pd.read_csv(study_dir / "predictions.csv")
    assert list(predictions.columns) == ["Path", "Pneumothorax", "CheXNet", "tCheXNet"]
    assert len(predictions) == 30 and predictions["tCheXNet"].between(0, 1).all()
    assert_files(
        outputs(tiny, "04_transfer_training"), ["class_weights.csv", "learning_curves.png"]
    )
    text = all_text(executed)
    assert "120 Conv2D + 2 Dense = 122 layers" in text and "7,562,817 parameters" in text
    assert "FINE_TUNE = False: skipped" in text
    assert "feature stores: " in text  # the plan: complete after 03, else said before extracting
    assert (
        "times what one confident mistake adds" in text
        and "question 3 of the Exercises below" in text
    )


@slow
def test_05_roc_comparison(tiny):
    paper = {"PAPER_SCORES_DIR": str(REFERENCE)} if REFERENCE.is_dir() else {}
    executed = run(tiny, "05_roc_comparison", N_BOOTSTRAP=200, N_DRAWS=100, **paper)
    folder = outputs(tiny, "05_roc_comparison")
    assert_files(
        folder,
        [
            "metrics.json",
            "operating_points.csv",
            "subgroup_aucs.csv",
            "roc.png",
            "pr.png",
            "operating_points.png",
            "explorer_static.png",
            "calibration.csv",
            "calibration.png",
            "calibration_platt.png",
        ],
    )
    calibration = pd.read_csv(folder / "calibration.csv")
    assert list(calibration["model"]) == ["CheXNet", "tCheXNet"]
    assert (
        calibration[["ECE before", "ECE after", "Brier before", "Brier after"]]
        .stack()
        .between(0, 1)
        .all()
    )
    text = all_text(executed)
    assert "One question: how often does a test set of 7 positives show p < 0.05?" in text
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["n"] == 30 and set(metrics["models"]) == {"CheXNet", "tCheXNet"}
    subgroups = pd.read_csv(folder / "subgroup_aucs.csv")
    assert set(subgroups["subgroup"]) == {"AP/PA", "Support Devices", "Sex", "age band"}
    if paper:  # the paper's own scores: 7 positives of 202, p ≈ 0.59
        published = json.loads((folder / "paper_metrics.json").read_text())
        assert (published["n"], published["positives"]) == (202, 7)
        assert math.isclose(published["delong"][0]["p"], 0.59, abs_tol=0.01)
    widgets_shown = [
        k
        for k, cell in enumerate(executed.cells)
        for output in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    ]
    assert widgets_shown and "roc_explorer(" in executed.cells[widgets_shown[-1]].source


@slow
def test_06_where_the_model_looks(tiny):
    executed = run(tiny, "06_where_the_model_looks")
    folder = outputs(tiny, "06_where_the_model_looks")
    assert_files(
        folder,
        ["gradcam_cases.png", "auc_by_devices.csv", "localisation.csv", "cam_mass_by_sign.csv"],
    )
    located = pd.read_csv(folder / "localisation.csv", index_col=0)
    assert len(located) >= 1 and located["iou"].between(0, 1).all()
    text = all_text(executed)
    assert "pointing game (peak within 15 px of the mask)" in text and "on all " in text
    assert "Conclusion: " in text  # the chest-tube ablation decides, in words
    assert_files(folder, ["localisation_by_layer.csv", "tube_ablation.csv"])


#: A paired DeLong z as every output must word it: which model minus which, then the value.
DELONG_Z = re.compile(r"z = \(AUC (\S+) − AUC (\S+)\)/SE = (-?\d+\.\d+)")


def executed_text(tiny, name: str, **overrides) -> str:
    """The outputs of the executed copy of ``name`` (executed now if an earlier test did not)."""
    path = tiny["executed"] / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4) if path.is_file() else run(tiny, name, **overrides)
    return all_text(notebook)


@slow
def test_the_headline_numbers_agree_in_every_output(tiny):
    """summary.json, the command's text (``tchexnet demo``), the site's landing page and the
    executed 05 and 06 give one DeLong z, its sign stated as tCheXNet minus CheXNet, and one set
    of Grad-CAM scores under one name each (the pointing game within 15 px, the peak inside the
    mask), each beside the number of positives it rests on, for all positives and the detected."""
    from tchexnet_lib import gradcam, pipeline, training
    from tchexnet_lib.tools import demo, site

    study = pipeline.make_study(
        DEMO, tiny["weights"], limit=40, head=training.HeadConfig(epochs=2, seed=0)
    )
    test = notebooks.scored_test_table(study)  # what 05 and 06 read
    result = results.StudyResult.from_predictions(
        test,
        study,
        0.0,
        note=demo.DEMO_WEIGHTS_NOTE,
        gradcam=localisation.gradcam_check(
            study, test, study.out_dir / "tchexnet.weights.h5", progress=False
        ),
    )
    summary = result.to_json()
    outputs = {
        "the command's text": result.text(),
        "the site's landing page": site.landing_page({}, {}, summary, None, {}),
        "05": executed_text(tiny, "05_roc_comparison", N_BOOTSTRAP=200, N_DRAWS=100),
        "06": executed_text(tiny, "06_where_the_model_looks"),
    }
    delong = summary["delong"]
    assert (delong["a"], delong["b"]) == ("tCheXNet", "CheXNet"), delong
    expected_z = ("tCheXNet", "CheXNet", f"{delong['z']:.2f}")
    cam = summary["gradcam"]
    assert (
        cam["layer"] == localisation.GRADCAM_LAYER
        and cam["pointing_hit_rate"] == cam["detected_positives"]["pointing_game"]
    )  # the old key keeps its meaning
    lines = [
        gradcam.localisation_text(cam[key], group)
        for key, group in (
            ("all_positives", "all positives"),
            ("detected_positives", "detected positives"),
        )
    ]
    wrong = []
    for where in ("the command's text", "the site's landing page", "05"):
        said = DELONG_Z.findall(outputs[where])  # 05 may also test the paper's own scores
        if expected_z not in said or any(z[:2] != expected_z[:2] for z in said):
            wrong.append(
                f"{where}: DeLong {said or 'not worded as z = (AUC a − AUC b)/SE = …'}, "
                f"summary.json {expected_z}"
            )
    for where in ("the command's text", "the site's landing page", "06"):
        wrong += [f"{where} lacks {line!r}" for line in lines if line not in outputs[where]]
    assert not wrong, "\n".join(wrong)


@pytest.mark.posix
@slow
@pytest.mark.parametrize("case", ["no data", "no weights"])
def test_fault_24_missing_inputs_stop_with_one_line(tiny, tmp_path, monkeypatch, case):
    """DATASET = "chexpert" without CheXpert, or without CheXNet weights: one line, no traceback."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if case == "no weights":  # CheXpert present (the tiny demo's target set), weights absent
        (data_dir / config.CHEXPERT_SMALL).symlink_to(tiny["data"] / DEMO / config.CHEXPERT_SMALL)
    monkeypatch.setenv("TCHEXNET_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TCHEXNET_WEIGHTS_DIR", str(tmp_path / "weights"))
    with pytest.raises(errors.NotebookError) as raised:
        runner.execute("02_chexnet_inference", {"DATASET": "chexpert"}, out_dir=tmp_path)
    message = str(raised.value)
    assert message.startswith("notebook 02_chexnet_inference failed at cell")
    assert "MissingInputError" in message and len(message.splitlines()) == 1
    failed = tmp_path / "02_chexnet_inference.failed.ipynb"
    assert str(failed) in message and not (tmp_path / "02_chexnet_inference.ipynb").exists()
    [error] = runner.error_outputs(failed)
    assert len(error["traceback"]) == 1 and "Traceback" not in error["traceback"][0]
    if case == "no data":
        assert f"{data_dir / config.CHEXPERT_SMALL} lacks train.csv" in error["evalue"]
        assert "chexpert/README.md" in error["evalue"]
    else:
        assert (
            f"{tmp_path / 'weights' / 'best_weights.h5'}: weights file not found" in error["evalue"]
        )
        assert "weights/README.md" in error["evalue"]


# --------------------------------------------------------------------------- fast: helpers


def test_series_and_unknown_names():
    assert [runner.notebook_path(n).name for n in notebooks.SERIES] == [
        f"{n}.ipynb" for n in notebooks.SERIES
    ]
    assert (
        runner.notebook_path("05_roc_comparison.ipynb")
        == runner.notebook_dir() / "05_roc_comparison.ipynb"
    )
    with pytest.raises(ValueError, match="unknown notebook '07_x'"):
        runner.execute("07_x")


def test_notebook_error_renders_as_one_line_in_jupyter():
    error = errors.NotebookError("notebook 01 failed at cell [3]: X: y (executed copy: p)")
    assert error._render_traceback_() == [f"NotebookError: {error}"]


def test_save_table_is_atomic_and_readable(tmp_path):
    table = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    path = files.save_table(table, tmp_path / "sub" / "t.csv")
    pd.testing.assert_frame_equal(pd.read_csv(path), table)
    assert [p.name for p in path.parent.iterdir()] == ["t.csv"]


def test_paper_scores_skipped_with_a_message(tmp_path, capsys):
    assert notebooks.load_paper_scores(None) is None
    assert "PAPER_SCORES_DIR = None" in capsys.readouterr().out
    assert notebooks.load_paper_scores(tmp_path) is None
    said = capsys.readouterr().out
    assert "chexnet_valid_frontal_pneumothorax_scores.csv" in said and "skipped" in said


def write_paper_folder(folder: Path, n_scores: int = 4) -> None:
    rows = [
        "Path,Sex,Age,Frontal/Lateral,AP/PA,Cardiomegaly,Edema,Consolidation,Pneumonia,"
        "Atelectasis,Pneumothorax"
    ]
    for k, y in enumerate([1, 0, 1, 0]):
        rows.append(
            f"CheXpert-v1.0-small/valid/patient{k:05d}/study1/view1_frontal.jpg,"
            f"Male,50,Frontal,AP,0,0,0,0,0,{y}"
        )
    (folder / "valid_frontal_6_classes.csv").write_text("\n".join(rows) + "\n")
    for name, values in (("CheXNet", [0.9, 0.1, 0.2, 0.3]), ("tCheXNet", [0.6, 0.4, 0.7, 0.5])):
        text = "\n".join(str(v) for v in values[:n_scores]) + "\n"
        (folder / notebooks.PAPER_SCORE_FILES[name]).write_text(text)


def test_paper_scores_line_up_with_their_labels(tmp_path):
    write_paper_folder(tmp_path)
    paper = notebooks.load_paper_scores(tmp_path)
    assert list(paper.y) == [1, 0, 1, 0]
    np.testing.assert_allclose(paper.scores["CheXNet"], [0.9, 0.1, 0.2, 0.3])
    assert "Support Devices" not in paper.table.columns  # no valid.csv in the folder


def test_paper_scores_of_another_length_are_refused(tmp_path):
    write_paper_folder(tmp_path, n_scores=3)
    with pytest.raises(ValueError, match="3 scores but 4 labelled rows"):
        notebooks.load_paper_scores(tmp_path)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/reference")
def test_the_papers_published_scores():
    paper = notebooks.load_paper_scores(REFERENCE)
    assert len(paper.table) == 202 and int(paper.y.sum()) == 7
    assert paper.table["Support Devices"].notna().all()  # joined from valid.csv


def test_cam_mass_by_sign(tmp_path):
    image = tmp_path / "view1_frontal.jpg"
    tube = np.zeros((40, 40), np.uint8)
    tube[:, 20] = 255  # a one-pixel line, widened into a band
    from PIL import Image

    Image.fromarray(tube).save(tmp_path / "view1_frontal_chest_tube_mask.png")
    cam = np.zeros((20, 20), np.float32)
    cam[:, 10] = 1.0
    table = notebooks.cam_mass_by_sign({"a": cam}, {"a": image}, bands={"chest_tube": 2})
    assert table.loc["a", "chest_tube mass"] == 1.0
    assert 0 < table.loc["a", "chest_tube area"] < 0.5
    assert np.isnan(table.loc["a", "pneumothorax mass"])  # not drawn on this image


def test_setup_report_says_what_is_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("TCHEXNET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TCHEXNET_WEIGHTS_DIR", str(tmp_path))
    report = notebooks.setup_report().splitlines()
    assert report[0].startswith("python ") and "keras " in report[0]
    assert "NOT found" in report[1] and "DEMO" in report[1]
    assert "NOT found" in report[2] and "best_weights.h5" in report[2]


def test_demo_command_accepts_no_notebooks():
    args = cli.build_parser().parse_args(["demo", "--no-notebooks"])
    assert args.no_notebooks is True
    assert cli.build_parser().parse_args(["demo"]).no_notebooks is False


# --------------------------------------------------------------------------- fast: figures


def test_image_grid_takes_files_and_arrays(tmp_path):
    from PIL import Image

    path = tmp_path / "x.png"
    Image.fromarray(np.full((40, 50), 128, np.uint8)).save(path)
    fig = plotting.image_grid(
        [path, np.zeros((8, 8)), np.random.default_rng(0).normal(size=(8, 8, 3))],
        ["file", "gray", "model input"],
        columns=2,
        title="t",
    )
    axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in axes] == ["file", "gray", "model input"]
    assert len(fig.axes) == 4  # 2 × 2, the last one blank
    with pytest.raises(ValueError, match="2 titles for 1 images"):
        plotting.image_grid([path], ["a", "b"])
    with pytest.raises(ValueError, match="expected a file"):
        plotting.image_grid([np.zeros((2, 2, 2, 2))])


def test_label_summary_figure_stacks_shares_to_one():
    summary = pd.DataFrame(
        {
            "positive": [1, 2],
            "negative": [3, 0],
            "uncertain": [0, 1],
            "blank": [0, 1],
            "total": [4, 4],
        },
        index=["A", "B"],
    )
    fig = plotting.label_summary_figure(summary)
    widths = np.array(
        [[bar.get_width() for bar in container] for container in fig.axes[0].containers]
    )
    np.testing.assert_allclose(widths.sum(axis=0), [1.0, 1.0])
    with pytest.raises(ValueError, match="label_summary"):
        plotting.label_summary_figure(summary.drop(columns="blank"))


@pytest.mark.parametrize("flags", [[], ["--no-notebooks"], ["--json"], ["--rerun-notebooks"]])
def test_demo_command_runs_the_series_on_the_demo_it_computed(monkeypatch, tmp_path, flags):
    from tchexnet_lib.tools import demo

    weights = tmp_path / "chexnet_demo.weights.h5"
    paths = {
        "predictions": tmp_path / "predictions.csv",
        "tchexnet_weights": tmp_path / "t.weights.h5",
    }
    for path in paths.values():
        path.write_text(path.name)
    found = results.StudyResult(0, 0, {}, note="n")
    result = demo.DemoResult(found, pd.DataFrame(), {"roc": tmp_path / "roc.png", **paths})
    monkeypatch.setattr(demo, "run_in_child", lambda cfg, out, progress, ablation: (result, None))
    monkeypatch.setattr(demo, "demo_weights_path", lambda cfg: weights)
    monkeypatch.setattr(
        demo,
        "notebook_inputs",
        lambda cfg, out: {  # what the series read
            "predictions": files.sha256_file(out / "predictions.csv")
        },
    )
    calls = []
    monkeypatch.setattr(
        runner,
        "execute_series",
        lambda parameters, **options: (
            calls.append((parameters, options["inputs"])) or [tmp_path / "01.ipynb"]
        ),
    )
    cli.cmd_demo(cli.build_parser().parse_args(["demo", "--seed", "3", *flags]))
    expected = {"DATASET": "demo", "SEED": 3}  # the shipped CheXNet: WEIGHTS = None finds it
    if "--no-notebooks" in flags:
        assert calls == []
        return
    [(parameters, inputs)] = calls
    assert parameters == expected
    assert (inputs is None) == ("--rerun-notebooks" in flags)
    if inputs is not None:
        assert inputs["predictions"] == files.sha256_file(paths["predictions"])


def test_series_reuses_executed_copies_only_while_everything_they_read_is_unchanged(
    monkeypatch, tmp_path
):
    """A make-like rerun: same source, parameters, library and inputs → reused; a change reruns
    that notebook and every one after it (they read what it wrote)."""
    ran = []

    def fake_execute(name, parameters, out, timeout):
        ran.append(name)
        path = Path(out) / f"{name}.ipynb"
        path.write_text(json.dumps({"metadata": {}, "cells": []}))
        return path

    monkeypatch.setattr(runner, "execute", fake_execute)
    names = notebooks.SERIES[:3]
    series = lambda inputs: runner.execute_series(
        {"DATASET": "demo"}, names, tmp_path, inputs=inputs
    )
    series({"predictions": "a"})
    assert ran == list(names)
    reused = []
    runner.execute_series(
        {"DATASET": "demo"},
        names,
        tmp_path,
        inputs={"predictions": "a"},
        on_done=lambda name, path, again: reused.append(again),
    )
    assert ran == list(names) and reused == [True, True, True]
    series({"predictions": "b"})
    assert ran == list(names) * 2
    (tmp_path / f"{names[1]}.ipynb").write_text(
        json.dumps({"metadata": {}, "cells": []})
    )  # unstamped
    series({"predictions": "b"})
    assert ran[6:] == list(names[1:])
    runner.execute_series({"DATASET": "demo"}, names, tmp_path, inputs=None)
    assert ran[8:] == list(names)
