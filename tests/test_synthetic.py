"""Tests of tchexnet_lib.synthetic: the CheXpert-shaped demo dataset and its drawings.

Tiny specs keep the whole file to a few seconds; the module-scoped fixtures
generate each dataset once.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from tchexnet_lib import data, splits, synthetic
from tchexnet_lib.config import CHEXPERT_SMALL
from tchexnet_lib.labels import CHEXNET_CLASSES, CHEXPERT_META_COLUMNS, CHEXPERT_OBSERVATIONS
from tchexnet_lib.synthetic import devices, findings

TINY = synthetic.SyntheticSpec(
    n_patients_train=24,
    n_patients_valid=14,
    seed=5,
    lateral_fraction=0.3,
    pneumothorax_prevalence=0.3,
    valid_pneumothorax_prevalence=0.3,
)
TINY_SOURCE = synthetic.SyntheticSpec(
    n_patients_train=8, n_patients_valid=4, seed=2, domain="source"
)
LABEL_TEXT = {"1.0", "0.0", "-1.0", ""}


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> dict:
    """The tiny target dataset, drawn in one process."""
    return synthetic.generate_dataset(
        tmp_path_factory.mktemp("target"), TINY, progress=False, workers=1
    )


@pytest.fixture(scope="module")
def target_again(tmp_path_factory) -> dict:
    """The same spec drawn again elsewhere, by two worker processes."""
    return synthetic.generate_dataset(
        tmp_path_factory.mktemp("again"), TINY, progress=False, workers=2
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> dict:
    return synthetic.generate_dataset(
        tmp_path_factory.mktemp("source"), TINY_SOURCE, progress=False
    )


def raw_rows(csv_path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


def images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.jpg"))


# ------------------------------------------------------------------ schema


def test_target_csvs_pass_the_real_reader_and_the_paper_recipe(target):
    folder = Path(target["dataset_dir"])
    assert folder.name == CHEXPERT_SMALL
    train = data.read_labels(folder / "train.csv")
    valid = data.read_labels(folder / "valid.csv")
    assert train["image_path"].map(lambda p: Path(p).is_file()).all()
    paper_train, paper_val = splits.paper_split(train)
    assert len(paper_train) > 0 and len(paper_val) > 0
    assert paper_train["Pneumothorax"].sum() > 0
    test = splits.paper_test_set(valid)  # refuses anything but 0/1 on frontal rows
    assert len(test) == TINY.n_patients_valid and 0 < test["Pneumothorax"].sum() < len(test)
    recipe = target["paper_recipe"]
    assert recipe["kept"] == len(paper_train) + len(paper_val)
    assert 0.4 < recipe["kept"] / recipe["frontal"] < 0.9


def test_target_csvs_use_chexpert_columns_and_spellings(target):
    folder = Path(target["dataset_dir"])
    for name in ("train.csv", "valid.csv"):
        header, rows = raw_rows(folder / name)
        assert header == list(CHEXPERT_META_COLUMNS + CHEXPERT_OBSERVATIONS)
        cells = {row[c] for row in rows for c in CHEXPERT_OBSERVATIONS}
        assert cells <= LABEL_TEXT, cells - LABEL_TEXT
        assert all(row["Path"].startswith(f"{CHEXPERT_SMALL}/{name[:-4]}/patient") for row in rows)
        assert (folder / name).read_bytes().count(b"\r") == 0
    _, train_rows = raw_rows(folder / "train.csv")
    train_cells = [row[c] for row in train_rows for c in CHEXPERT_OBSERVATIONS]
    assert train_cells.count("") > len(train_cells) / 2  # mostly blank, like CheXpert
    assert "-1.0" in train_cells
    _, valid_rows = raw_rows(folder / "valid.csv")
    assert {row[c] for row in valid_rows for c in CHEXPERT_OBSERVATIONS} <= {"1.0", "0.0"}


def test_patients_studies_and_views(target):
    folder = Path(target["dataset_dir"])
    train = data.read_labels(folder / "train.csv")
    valid = data.read_labels(folder / "valid.csv")
    studies = train.groupby("patient_id")["study_id"].nunique()
    assert (studies > 1).any()
    laterals = data.lateral(train)
    assert len(laterals) > 0 and (laterals["AP/PA"] == "").all()
    assert set(data.frontal(train)["AP/PA"]) <= {"AP", "PA"} and "AP" in set(train["AP/PA"])
    assert valid.groupby("patient_id")["study_id"].nunique().max() == 1
    splits.check_no_patient_leakage(train, valid)
    assert target["counts"]["train"]["lateral"] == len(laterals)


def test_source_domain_has_the_chexnet_columns(source):
    folder = Path(source["dataset_dir"])
    assert folder.name == synthetic.SOURCE_DIR
    header, rows = raw_rows(folder / "labels.csv")
    assert header == ["Path", *CHEXNET_CLASSES]
    assert {row[c] for row in rows for c in CHEXNET_CLASSES} <= {"0", "1"}
    assert all((folder / row["Path"]).is_file() for row in rows)
    lists = ("train_val_list.txt", "test_list.txt")
    listed = [name for lst in lists for name in (folder / lst).read_text().split()]
    assert sorted(listed) == sorted(Path(row["Path"]).name for row in rows)
    with Image.open(folder / rows[0]["Path"]) as image:
        assert image.mode == "L" and image.size == (390, 320) and image.format == "JPEG"
    table = data.read_table(folder / "labels.csv")
    assert list(table.columns) == header and table.to_dict("records") == rows


# ------------------------------------------------------------------ determinism, masks


def test_same_spec_same_bytes_and_pixels_whatever_the_workers(target, target_again):
    a, b = Path(target["dataset_dir"]), Path(target_again["dataset_dir"])
    for name in ("train.csv", "valid.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.*") if p.suffix in (".jpg", ".png"))
    files_b = sorted(p.relative_to(b) for p in b.rglob("*.*") if p.suffix in (".jpg", ".png"))
    assert files_a == files_b
    for rel in files_a:
        with Image.open(a / rel) as x, Image.open(b / rel) as y:
            assert np.array_equal(np.asarray(x), np.asarray(y)), rel


def test_masks_follow_the_pneumothorax_labels(target):
    folder = Path(target["dataset_dir"])
    positives = 0
    for name in ("train.csv", "valid.csv"):
        for row in data.read_labels(folder / name).to_dict("records"):
            mask = synthetic.read_mask(row["image_path"], "Pneumothorax")
            frontal, value = row["Frontal/Lateral"] == "Frontal", row["Pneumothorax"]
            if frontal and value == 1.0:
                positives += 1
                assert mask is not None and mask.any() and mask.shape == (320, 390), row["Path"]
            elif not frontal or value == 0.0 or np.isnan(value):
                assert mask is None, row["Path"]
    assert positives > 3


def test_pneumothorax_has_no_lung_texture_and_a_darker_rim():
    """Inside the mask the high-pass texture is weaker than in the mirrored (contralateral) lung."""
    ratios, darker = [], []
    for i in range(16):
        domain = "target" if i % 2 else "source"
        image, masks = synthetic.render_case(
            np.random.default_rng(100 + i), {"pneumothorax": True}, synthetic.Film(domain)
        )
        mask = masks["pneumothorax"]
        f = image.astype(np.float32)
        high = f - ndimage.gaussian_filter(f, 1.5)
        inside = ndimage.binary_erosion(mask, iterations=3)
        mirror = ndimage.binary_erosion(mask[:, ::-1] & ~mask, iterations=3)
        if inside.sum() < 50 or mirror.sum() < 50:
            continue
        ratios.append(high[inside].std() / high[mirror].std())
        darker.append(f[inside].mean() < f[mirror].mean())
    assert len(ratios) >= 10
    assert np.median(ratios) < 0.9 and np.mean(np.array(ratios) < 1.0) >= 0.75
    assert np.mean(darker) >= 0.9


def test_ablation_keeps_every_label_but_draws_no_pneumothorax(target, tmp_path):
    """draw_pneumothorax=False (the demo's control): same labels, no pneumothorax mask or sign.

    With the chest tubes kept the CSVs are the same bytes; with the tube rate evened out only
    Support Devices (a tube is a device) may change.
    """
    from tchexnet_lib.tools import demo

    spec = demo.ablated_spec(TINY)
    assert spec.chest_tube_with_pneumothorax == spec.chest_tube_without_pneumothorax
    with_tubes = demo.ablated_spec(TINY, keep_chest_tubes=True)
    assert with_tubes.chest_tube_with_pneumothorax == 0.4 and not with_tubes.draw_pneumothorax
    plans = (synthetic.plan_dataset(with_tubes), synthetic.plan_dataset(TINY))
    assert plans[0]["train"].rows == plans[1]["train"].rows
    ablated = synthetic.generate_dataset(tmp_path, spec, progress=False, workers=1)
    intact_dir, ablated_dir = Path(target["dataset_dir"]), Path(ablated["dataset_dir"])
    for name in ("train.csv", "valid.csv"):
        intact, without = (
            data.read_labels(d / name).drop(columns="Support Devices")
            for d in (intact_dir, ablated_dir)
        )
        assert intact.drop(columns="image_path").equals(without.drop(columns="image_path")), name
    assert not list(ablated_dir.rglob("*pneumothorax*.png"))
    assert list(intact_dir.rglob("*pneumothorax*.png"))
    assert "pneumothorax" not in ablated["signs_drawn"]["train"]
    assert target["signs_drawn"]["train"]["pneumothorax"] > 0
    with pytest.raises(ValueError, match="draw_pneumothorax"):
        synthetic.SyntheticSpec(draw_pneumothorax="no")


def test_chest_tubes_are_a_confounder_of_pneumothorax():
    plans = synthetic.plan_dataset(synthetic.SyntheticSpec())
    cases = [c for c in plans["train"].cases if c.view == "frontal"]
    with_ptx = [("chest_tube" in c.signs) for c in cases if "pneumothorax" in c.signs]
    without = [("chest_tube" in c.signs) for c in cases if "pneumothorax" not in c.signs]
    assert np.mean(with_ptx) > 3 * np.mean(without) > 0


def test_default_spec_prevalences():
    plans = synthetic.plan_dataset(synthetic.SyntheticSpec())
    frontal = [r for r in plans["train"].rows if r["Frontal/Lateral"] == "Frontal"]
    assert 0.06 < np.mean([r["Pneumothorax"] == "1.0" for r in frontal]) < 0.14
    valid = [r for r in plans["valid"].rows if r["Frontal/Lateral"] == "Frontal"]
    assert (
        len(valid) == 200 and 0.15 <= np.mean([r["Pneumothorax"] == "1.0" for r in valid]) <= 0.25
    )
    assert 0.02 < np.mean([r["Frontal/Lateral"] == "Lateral" for r in plans["train"].rows]) < 0.1
    assert 900 < sum(len(p.rows) for p in plans.values()) < 1500


# ------------------------------------------------------------------ reuse and safety


def test_second_call_reuses_without_writing(tmp_path):
    spec = synthetic.SyntheticSpec(n_patients_train=3, n_patients_valid=2, seed=9)
    first = synthetic.generate_dataset(tmp_path, spec, progress=False)
    folder = Path(first["dataset_dir"])
    files = sorted(folder.rglob("*"))
    stamps = {p: p.stat().st_mtime_ns for p in files}
    second = synthetic.generate_dataset(tmp_path, spec, progress=False)
    assert first["reused"] is False and second["reused"] is True
    assert sorted(folder.rglob("*")) == files
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    manifest = json.loads((folder / synthetic.MANIFEST_NAME).read_text())
    assert manifest["spec"] == spec.to_dict() and manifest["complete"] is True
    assert manifest["counts"]["valid"]["frontal"] == 2 and manifest["seconds"] >= 0


def test_interrupted_or_different_runs_are_regenerated(tmp_path):
    spec = synthetic.SyntheticSpec(n_patients_train=2, n_patients_valid=1, seed=1)
    folder = Path(synthetic.generate_dataset(tmp_path, spec, progress=False)["dataset_dir"])
    (folder / synthetic.IN_PROGRESS_NAME).write_text("killed")
    assert synthetic.generate_dataset(tmp_path, spec, progress=False)["reused"] is False
    assert not (folder / synthetic.IN_PROGRESS_NAME).exists()
    bigger = synthetic.SyntheticSpec(n_patients_train=3, n_patients_valid=1, seed=1)
    assert (
        synthetic.generate_dataset(tmp_path, bigger, progress=False)["counts"]["train"]["patients"]
        == 3
    )


def test_refuses_to_overwrite_data_it_did_not_write(tmp_path):
    real = tmp_path / CHEXPERT_SMALL
    real.mkdir()
    (real / "train.csv").write_text("Path\n")
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        synthetic.generate_dataset(
            tmp_path, synthetic.SyntheticSpec(n_patients_train=1, n_patients_valid=1)
        )
    assert (real / "train.csv").read_text() == "Path\n"


# ------------------------------------------------------------------ render_case, masks, spec


def test_render_case_is_a_pure_function_of_its_generator():
    findings = {
        "Pneumothorax": 0.6,
        "Pleural Effusion": True,
        "support_devices": True,
        "nodule": False,
    }
    a, masks_a = synthetic.render_case(np.random.default_rng(3), findings, synthetic.Film())
    b, masks_b = synthetic.render_case(np.random.default_rng(3), findings, synthetic.Film())
    assert a.dtype == np.uint8 and a.shape == (320, 390) and np.array_equal(a, b)
    assert set(masks_a) == set(masks_b) == {"pneumothorax", "effusion", "support_devices"}
    for sign, mask in masks_a.items():
        assert mask.dtype == bool and mask.shape == a.shape and np.array_equal(mask, masks_b[sign])
    lateral, none = synthetic.render_case(
        np.random.default_rng(3), {}, synthetic.Film("source", (200, 160), view="lateral")
    )
    assert lateral.shape == (200, 160) and none == {}


def test_importing_the_package_leaves_pandas_and_matplotlib_out():
    """Spawned worker processes import the package: it must stay light (data, plotting: lazily)."""
    code = (
        "import sys, tchexnet_lib.synthetic\n"
        "print(sorted(m for m in ('pandas', 'matplotlib', 'tensorflow') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_every_sign_has_one_drawer():
    drawers = [*findings.FINDING_DRAWERS, *devices.DEVICE_DRAWERS]
    assert sorted(drawers) == sorted(synthetic.SIGNS)


def test_render_case_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown finding 'Pneumonitis'"):
        synthetic.render_case(rng, {"Pneumonitis": True})
    with pytest.raises(ValueError, match="severity"):
        synthetic.render_case(rng, {"pneumothorax": 2.0})
    with pytest.raises(ValueError, match="domain='chexpert'"):
        synthetic.render_case(rng, {}, synthetic.Film("chexpert"))


def test_mask_paths_and_missing_masks(tmp_path):
    image = tmp_path / "study1" / "view1_frontal.jpg"
    expected = tmp_path / "study1" / "view1_frontal_pneumothorax_mask.png"
    assert synthetic.mask_path(image, "Pneumothorax") == expected
    assert synthetic.mask_path(image, "Pleural Effusion").name == "view1_frontal_effusion_mask.png"
    assert synthetic.read_mask(image, "pneumothorax") is None


def test_spec_checks_and_round_trips():
    assert json.loads(json.dumps(TINY.to_dict())) == TINY.to_dict()
    assert TINY.to_dict()["image_size"] == [320, 390]
    with pytest.raises(ValueError, match="domain"):
        synthetic.SyntheticSpec(domain="both")
    with pytest.raises(ValueError, match="probability"):
        synthetic.SyntheticSpec(pneumothorax_prevalence=1.5)
    with pytest.raises(ValueError, match="size"):
        synthetic.SyntheticSpec(image_size=(10, 10))


# ------------------------------------------------------------------ contact sheet


def test_contact_sheet_returns_a_figure_and_saves_a_png(target, tmp_path):
    from matplotlib.figure import Figure

    fig = synthetic.contact_sheet(target["root"], n=6, columns=3)
    assert isinstance(fig, Figure) and len([ax for ax in fig.axes if ax.images]) == 6
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert sum("Pneumothorax 1.0" in t for t in titles) == 3
    path = synthetic.save_contact_sheet(fig, tmp_path / "sheet.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 300
    rows = data.read_labels(Path(target["dataset_dir"]) / "valid.csv")
    assert isinstance(synthetic.contact_sheet(rows, n=4, other_masks=True), Figure)
    with pytest.raises(ValueError, match="suffix"):
        synthetic.save_contact_sheet(fig, tmp_path / "sheet")


def test_contact_sheet_of_a_source_set(source):
    fig = synthetic.contact_sheet(source["root"], n=4, columns=2, finding="Effusion")
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert len(titles) == 4
    assert {t.split("\n")[1] for t in titles} <= {"Effusion 0", "Effusion 1"}


def test_a_valid_only_set_has_the_full_sets_rows_and_pixels(target, tmp_path):
    """splits=("valid",) (the ablation's test images): the same valid.csv and images, no train."""
    valid_only = synthetic.generate_dataset(
        tmp_path, TINY, progress=False, workers=1, splits=("valid",)
    )
    full_dir, only_dir = Path(target["dataset_dir"]), Path(valid_only["dataset_dir"])
    assert (only_dir / "valid.csv").read_bytes() == (full_dir / "valid.csv").read_bytes()
    assert not (only_dir / "train.csv").exists() and not (only_dir / "train").exists()
    for image in images_under(only_dir / "valid"):
        assert image.read_bytes() == (full_dir / image.relative_to(only_dir)).read_bytes()
    assert valid_only["splits"] == ["valid"] and "train" not in valid_only["counts"]
    assert synthetic.generate_dataset(tmp_path, TINY, progress=False, splits=("valid",))["reused"]
    with pytest.raises(ValueError, match="splits"):
        synthetic.generate_dataset(tmp_path, TINY, splits=("test",))
    with pytest.raises(ValueError, match="both splits"):
        synthetic.generate_dataset(tmp_path, TINY_SOURCE, splits=("valid",))


# ------------------------------------------------------------------ redrawn twins


def test_redraw_gives_the_written_image_and_a_twin_without_its_tube(target, tmp_path):
    """A redrawn image equals the file byte for byte; its no-tube twin differs only along the tube."""
    folder = Path(target["dataset_dir"])
    spec = synthetic.spec_of(folder)
    assert spec == TINY
    tubes = [p for p in images_under(folder) if synthetic.read_mask(p, "chest_tube") is not None]
    assert tubes, "the tiny set draws no chest tube: pick another seed"
    relative = [p.relative_to(folder.parent).as_posix() for p in tubes[:2]]
    same = synthetic.write_redrawn(spec, relative, tmp_path / "same")
    assert all(same[r].read_bytes() == (folder.parent / r).read_bytes() for r in relative)
    redrawn = synthetic.redraw(spec, relative, hide=("chest_tube",), lungs=True)
    for r, path in zip(relative, tubes):
        image, masks = redrawn[r]
        assert "chest_tube" not in masks and 0.05 < masks["lungs"].mean() < 0.6
        stored = np.asarray(Image.open(path).convert("L")).astype(int)
        band = ndimage.binary_dilation(synthetic.read_mask(path, "chest_tube"), iterations=12)
        difference = np.abs(stored - image)
        assert difference[band].mean() > 3 * max(difference[~band].mean(), 0.1)
        assert difference[~band].max() <= 12  # JPEG blocks the tube touched, nothing else
    with pytest.raises(ValueError, match="not an image of the synthetic dataset"):
        synthetic.redraw(spec, ["CheXpert-v1.0-small/valid/patient99999/study1/view1_frontal.jpg"])
    with pytest.raises(ValueError, match="only device signs"):
        synthetic.render_case(
            np.random.default_rng(0), {"pneumothorax": True}, hide=("pneumothorax",)
        )
