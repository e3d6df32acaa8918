"""Tests of tchexnet_lib.data on small CheXpert-shaped CSVs written per test."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tchexnet_lib import data, errors, splits
from tchexnet_lib.labels import CHEXPERT_META_COLUMNS, CHEXPERT_OBSERVATIONS, PAPER_CLASSES

HEADER = list(CHEXPERT_META_COLUMNS + CHEXPERT_OBSERVATIONS)
REFERENCE = Path(__file__).resolve().parents[2] / "shared/reference/tchexnet-paper"


def make_row(
    path: str,
    view: str = "Frontal",
    ap_pa: str = "AP",
    sex: str = "Male",
    age: str = "60",
    **labels: str,
) -> dict[str, str]:
    """One CSV row; observations not given are blank. ``Pleural_Effusion`` → ``Pleural Effusion``."""
    row = {"Path": path, "Sex": sex, "Age": age, "Frontal/Lateral": view, "AP/PA": ap_pa}
    row.update({c: "" for c in CHEXPERT_OBSERVATIONS})
    row.update({k.replace("_", " "): v for k, v in labels.items()})
    return row


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    """Write rows as a CheXpert-style CSV (extra keys in a row are ignored)."""
    header = header or HEADER
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=header, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
    return path


def img(
    patient: int, study: int = 1, view: int = 1, kind: str = "frontal", split: str = "valid"
) -> str:
    """A Path cell as CheXpert writes it."""
    return f"CheXpert-v1.0-small/{split}/patient{patient:05d}/study{study}/view{view}_{kind}.jpg"


def valid_like_rows() -> list[dict[str, str]]:
    """Eight rows, four patients, several studies, two laterals, -1 and blanks."""
    return [
        make_row(img(1), Pneumothorax="1.0", Cardiomegaly="-1.0", No_Finding="0.0"),  # line 2
        make_row(img(1, view=2, kind="lateral"), view="Lateral", ap_pa="", Pneumothorax="1.0"),  # 3
        make_row(img(1, study=2), ap_pa="PA", sex="Female", age="0", Pneumothorax="0.0"),  # 4
        make_row(img(2), Edema="1.0", Pneumothorax="-1.0"),  # 5
        make_row(img(2, view=2, kind="lateral"), view="Lateral", ap_pa="", Edema="1.0"),  # 6
        make_row(img(3), sex="Unknown", No_Finding="1.0"),  # 7
        make_row(img(3, study=2), ap_pa="PA", Atelectasis="1.0", Pneumothorax="0.0"),  # 8
        make_row(img(4), age="", Support_Devices="1.0", Pneumothorax="1.0"),  # 9
    ]


@pytest.fixture
def valid_csv(tmp_path: Path) -> Path:
    """valid.csv-like file inside a CheXpert-v1.0-small folder."""
    return write_csv(tmp_path / "CheXpert-v1.0-small" / "valid.csv", valid_like_rows())


def replace_cell(csv_path: Path, line: int, column: str, value: str) -> None:
    """Set one cell of a CSV written by :func:`write_csv` (line numbering as in errors)."""
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    rows[line - 1][rows[0].index(column)] = value
    with open(csv_path, "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


# ------------------------------------------------------------- read_labels


def test_read_labels_schema(valid_csv: Path) -> None:
    df = data.read_labels(valid_csv)
    assert list(df.columns) == HEADER + list(data.ADDED_COLUMNS)
    assert isinstance(df.index, pd.RangeIndex) and len(df) == 8
    assert df["csv_line"].tolist() == list(range(2, 10))
    assert df.attrs["source"] == str(valid_csv)
    for column in CHEXPERT_OBSERVATIONS:
        assert df[column].dtype == np.float64
    assert df.loc[0, "Pneumothorax"] == 1.0 and df.loc[0, "Cardiomegaly"] == -1.0
    assert np.isnan(df.loc[0, "Edema"])  # blank → NaN
    assert df["Age"].dtype == "Int64" and df.loc[2, "Age"] == 0 and pd.isna(df.loc[7, "Age"])
    assert df.loc[0, "patient_id"] == "patient00001"
    assert df.loc[2, "study_id"] == "patient00001/study2"
    root = valid_csv.parent.resolve()
    assert df.loc[0, "image_path"] == str(root / "valid/patient00001/study1/view1_frontal.jpg")


def test_fault_12_label_texts_and_blanks(tmp_path: Path) -> None:
    texts = ["1.0", "0.0", "-1.0", "1", "0", "-1", " 1 ", " -1.0", "", "nan", "NaN"]
    expected = [1, 0, -1, 1, 0, -1, 1, -1, np.nan, np.nan, np.nan]
    rows = [make_row(img(i), Pneumothorax=t) for i, t in enumerate(texts)]
    df = data.read_labels(write_csv(tmp_path / "t.csv", rows))
    np.testing.assert_array_equal(df["Pneumothorax"].to_numpy(), np.array(expected, dtype=float))


def test_fault_13_reordered_columns_selected_by_name(tmp_path: Path, valid_csv: Path) -> None:
    header = list(reversed(HEADER)) + ["Comment"]
    shuffled = data.read_labels(
        write_csv(tmp_path / "r" / "valid.csv", valid_like_rows(), header),
        image_root=valid_csv.parent,
    )
    original = data.read_labels(valid_csv)
    pd.testing.assert_frame_equal(
        shuffled[HEADER + ["image_path"]], original[HEADER + ["image_path"]]
    )
    assert "Comment" in shuffled.columns


def test_only_path_and_view_required(tmp_path: Path) -> None:
    rows = [make_row(img(1)), make_row(img(2), view="Lateral")]
    df = data.read_labels(write_csv(tmp_path / "t.csv", rows, ["Path", "Frontal/Lateral"]))
    assert list(df.columns[:2]) == ["Path", "Frontal/Lateral"] and len(df) == 2


def test_fault_13_missing_columns_named_with_close_match(tmp_path: Path) -> None:
    header = [
        ("pneumothorax" if c == "Pneumothorax" else c) for c in HEADER if c != "Frontal/Lateral"
    ]
    csv_path = write_csv(tmp_path / "valid.csv", [], header)
    with pytest.raises(errors.DataError) as err:
        data.read_labels(csv_path, require=("Frontal/Lateral", "Pneumothorax"))
    message = str(err.value)
    assert message.startswith("valid.csv: missing column(s) 'Frontal/Lateral'")
    assert "'Pneumothorax' (found 'pneumothorax' — renamed?)" in message
    assert "\n" not in message


def test_missing_path_always_required(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "valid.csv", [], ["path", "Frontal/Lateral"])
    with pytest.raises(errors.DataError, match=r"missing column\(s\) 'Path' \(found 'path'"):
        data.read_labels(csv_path, require=())


@pytest.mark.parametrize("index_header", ["", "Unnamed: 0"])
def test_leading_index_column_dropped(tmp_path: Path, index_header: str) -> None:
    rows = [dict(make_row(img(i)), **{index_header: str(i)}) for i in range(3)]
    df = data.read_labels(write_csv(tmp_path / "t.csv", rows, [index_header] + HEADER))
    assert list(df.columns) == HEADER + list(data.ADDED_COLUMNS)


@pytest.mark.parametrize(
    ("column", "value", "allowed"),
    [
        ("Pneumothorax", "yes", "1.0, 0.0, -1.0 or blank"),
        ("Pneumothorax", "2.0", "1.0, 0.0, -1.0 or blank"),
        ("Edema", "1.00", "1.0, 0.0, -1.0 or blank"),
        ("Frontal/Lateral", "frontal", "Frontal, Lateral"),
        ("Frontal/Lateral", "", "Frontal, Lateral"),
        ("AP/PA", "XX", "AP, PA, LL, RL, blank"),
        ("Sex", "M", "Male, Female, Unknown, blank"),
        ("Age", "-3", "an integer ≥ 0 or blank"),
        ("Age", "60.5", "an integer ≥ 0 or blank"),
    ],
)
def test_fault_12_illegal_value_names_line_and_column(
    valid_csv: Path, column: str, value: str, allowed: str
) -> None:
    replace_cell(valid_csv, 5, column, value)
    with pytest.raises(errors.DataError) as err:
        data.read_labels(valid_csv)
    assert str(err.value) == (
        f"valid.csv line 5, column {column!r}: illegal value {value!r} (allowed: {allowed})"
    )


def test_many_illegal_values_name_first_few_and_count(valid_csv: Path) -> None:
    for line in (3, 4, 6, 7, 9):
        replace_cell(valid_csv, line, "Pneumothorax", "yes")
    with pytest.raises(errors.DataError) as err:
        data.read_labels(valid_csv)
    message = str(err.value)
    assert message.startswith("valid.csv line 3, column 'Pneumothorax': illegal value 'yes'")
    assert "line 4 ('yes'), line 6 ('yes'), line 7 ('yes') and 1 more: 5 bad rows in all" in message


def test_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "t.csv", [make_row(img(1)), make_row(img(2), Edema="yes")])
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(lines[:2] + [""] + lines[2:]) + "\n\n")
    with pytest.raises(errors.DataError, match=r"^t\.csv line 4, column 'Edema'"):
        data.read_labels(csv_path)


def test_wrong_field_count_names_line(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "t.csv", [make_row(img(1)), make_row(img(2))])
    csv_path.write_text(csv_path.read_text() + "train/patient00009/study1/v.jpg,Male\n")
    with pytest.raises(
        errors.DataError, match=r"^t\.csv line 4: wrong number of fields: 2 \(the header has 19\)$"
    ):
        data.read_labels(csv_path)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(errors.DataError, match=r"empty\.csv: empty file"):
        data.read_labels(tmp_path / "empty.csv")
    with pytest.raises(errors.DataError, match=r"nope\.csv: file not found"):
        data.read_labels(tmp_path / "nope.csv")
    assert len(data.read_labels(write_csv(tmp_path / "header_only.csv", []))) == 0


def test_duplicate_header_refused(tmp_path: Path) -> None:
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("Path,Frontal/Lateral,Path\n")
    with pytest.raises(errors.DataError, match=r"t\.csv line 1: duplicate column 'Path'"):
        data.read_labels(csv_path)


# ------------------------------------------------------------------- paths


@pytest.mark.parametrize(
    "path_text",
    [
        "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg",
        "CheXpert-v1.0/train/patient00001/study1/view1_frontal.jpg",
        "train/patient00001/study1/view1_frontal.jpg",
        "CheXpert-v1.0-small\\train\\patient00001\\study1\\view1_frontal.jpg",
        "train\\patient00001\\study1\\view1_frontal.jpg",
        " ./train/patient00001//study1/view1_frontal.jpg ",
    ],
)
def test_fault_14_path_forms_resolve_to_same_file(tmp_path: Path, path_text: str) -> None:
    target = tmp_path / "root" / "train/patient00001/study1/view1_frontal.jpg"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    resolved = data.resolve_image_path(path_text, tmp_path / "root")
    assert resolved == target.resolve() and resolved.is_file()
    df = data.read_labels(
        write_csv(tmp_path / "t.csv", [make_row(path_text)]), image_root=tmp_path / "root"
    )
    assert df.loc[0, "image_path"] == str(target.resolve())
    assert (
        df.loc[0, "patient_id"] == "patient00001" and df.loc[0, "study_id"] == "patient00001/study1"
    )


@pytest.mark.parametrize(
    ("path_text", "cause"),
    [
        ("/etc/patient00001/study1/passwd", "absolute image path"),
        ("C:/data/patient00001/study1/v.jpg", "absolute image path"),
        ("C:\\data\\patient00001\\study1\\v.jpg", "absolute image path"),
        ("\\\\server\\share\\patient00001\\study1\\v.jpg", "absolute image path"),
        ("train/../../patient00001/study1/v.jpg", "contains '..'"),
        ("CheXpert-v1.0-small\\..\\patient00001\\study1\\v.jpg", "contains '..'"),
        ("", "empty image path"),
        ("CheXpert-v1.0-small/", "empty image path"),
    ],
)
def test_fault_14_paths_leaving_the_root_refused(
    tmp_path: Path, path_text: str, cause: str
) -> None:
    rows = [make_row(img(1)), make_row(img(2)), make_row(path_text)]
    with pytest.raises(errors.DataError) as err:
        data.read_labels(write_csv(tmp_path / "valid.csv", rows))
    message = str(err.value)
    assert message.startswith("valid.csv line 4, column 'Path': ") and cause in message
    with pytest.raises(errors.DataError) as err:
        data.resolve_image_path(path_text, tmp_path, where="valid.csv line 4")
    assert str(err.value).startswith("valid.csv line 4: ") and cause in str(err.value)


def test_path_without_patient_and_study(tmp_path: Path) -> None:
    rows = [make_row(img(1)), make_row("train/images/v.jpg"), make_row("train/patient1/v.jpg")]
    with pytest.raises(errors.DataError) as err:
        data.read_labels(write_csv(tmp_path / "valid.csv", rows))
    message = str(err.value)
    assert message.startswith("valid.csv line 3, column 'Path': no 'patientNNNNN/studyN/' folders")
    assert message.endswith("; also line 4: 2 bad rows in all")


def test_fault_16_duplicate_paths_name_both_lines(tmp_path: Path) -> None:
    rows = [
        make_row(img(1)),
        make_row(img(2)),
        make_row("valid/patient00001/study1/view1_frontal.jpg"),
    ]
    with pytest.raises(errors.DataError) as err:
        data.read_labels(write_csv(tmp_path / "valid.csv", rows))
    assert str(err.value) == (
        "valid.csv line 4, column 'Path': duplicate image path "
        "'valid/patient00001/study1/view1_frontal.jpg', first at line 2"
    )


# ------------------------------------------------------------------- views


def test_fault_17_view_filters(valid_csv: Path) -> None:
    df = data.read_labels(valid_csv)
    front, side = data.frontal(df), data.lateral(df)
    assert front["csv_line"].tolist() == [2, 4, 5, 7, 8, 9]
    assert side["csv_line"].tolist() == [3, 6]
    assert isinstance(front.index, pd.RangeIndex) and front.index[0] == 0
    assert front.attrs["source"] == str(valid_csv)
    pa = data.select_views(df, frontal_lateral="Frontal", ap_pa="PA")
    assert pa["csv_line"].tolist() == [4, 8]
    assert data.select_views(df, ap_pa=("AP", "PA"))["csv_line"].tolist() == [2, 4, 5, 7, 8, 9]
    assert len(data.select_views(df)) == len(df)
    with pytest.raises(ValueError, match="'Frontal', 'Lateral'"):
        data.select_views(df, frontal_lateral="frontal")


# ------------------------------------------------------ uncertainty policy

LABELS = pd.DataFrame({"Pneumothorax": [1.0, -1.0, 0.0, np.nan], "Edema": [np.nan, 1.0, -1.0, 0.0]})


@pytest.mark.parametrize(
    ("uncertain", "blank", "values", "mask"),
    [
        ("zeros", "zeros", [[1, 0], [0, 1], [0, 0], [0, 0]], [[1, 1], [1, 1], [1, 1], [1, 1]]),
        ("ones", "zeros", [[1, 0], [1, 1], [0, 1], [0, 0]], [[1, 1], [1, 1], [1, 1], [1, 1]]),
        ("ignore", "zeros", [[1, 0], [0, 1], [0, 0], [0, 0]], [[1, 1], [0, 1], [1, 0], [1, 1]]),
        ("zeros", "ignore", [[1, 0], [0, 1], [0, 0], [0, 0]], [[1, 0], [1, 1], [1, 1], [0, 1]]),
        ("ones", "ones", [[1, 1], [1, 1], [0, 1], [1, 0]], [[1, 1], [1, 1], [1, 1], [1, 1]]),
        ("ignore", "ignore", [[1, 0], [0, 1], [0, 0], [0, 0]], [[1, 0], [0, 1], [1, 0], [0, 1]]),
    ],
)
def test_fault_11_uncertainty_policies_leave_no_minus_one(
    uncertain: str, blank: str, values: list, mask: list
) -> None:
    targets = data.to_targets(LABELS, ["Pneumothorax", "Edema"], uncertain=uncertain, blank=blank)
    assert targets.values.dtype == np.float32 and targets.values.shape == (4, 2)
    np.testing.assert_array_equal(targets.values, np.array(values, dtype=np.float32))
    np.testing.assert_array_equal(targets.mask, np.array(mask, dtype=bool))
    assert set(np.unique(targets.values)) <= {0.0, 1.0}
    assert targets.classes == ("Pneumothorax", "Edema")
    assert not targets.values.flags.writeable


def test_to_targets_single_class_and_column(valid_csv: Path) -> None:
    targets = data.to_targets(data.read_labels(valid_csv), "Pneumothorax", uncertain="ignore")
    values, mask = targets.column("Pneumothorax")
    np.testing.assert_array_equal(values, [1, 1, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(mask, [1, 1, 1, 0, 1, 1, 1, 1])
    data.check_binary_labels(values[mask])


def test_to_targets_refuses_bad_policy_and_labels() -> None:
    with pytest.raises(
        ValueError, match=r"'ignore' \(U-Ignore\), 'zeros' \(U-Zeros\), 'ones' \(U-Ones\)"
    ):
        data.to_targets(LABELS, ["Edema"], uncertain="U-Ones")
    with pytest.raises(ValueError, match="blank='nan'"):
        data.to_targets(LABELS, ["Edema"], blank="nan")
    bad = LABELS.assign(Edema=[0.0, 2.0, 1.0, 0.0])
    with pytest.raises(errors.DataError, match=r"labels row 1, column 'Edema': illegal label 2"):
        data.to_targets(bad, ["Pneumothorax", "Edema"])
    with pytest.raises(errors.DataError, match=r"missing column\(s\) 'Fracture'"):
        data.to_targets(LABELS, ["Fracture"])


def test_check_binary_labels() -> None:
    out = data.check_binary_labels([0.0, 1.0, 1.0])
    assert out.dtype == np.int64 and out.tolist() == [0, 1, 1]
    with pytest.raises(errors.DataError) as err:
        data.check_binary_labels(np.array([0, 1, -1, 1, -1]), where="valid Pneumothorax")
    assert str(err.value).startswith(
        "valid Pneumothorax: 2 of 5 label(s) are not 0 or 1 (e.g. -1 at position 2, -1 at position 4)"
    )
    with pytest.raises(
        errors.DataError, match=r"1 of 3 label\(s\) are not 0 or 1 \(e\.g\. nan at position 1\)"
    ):
        data.check_binary_labels([0, np.nan, 1])
    with pytest.raises(errors.DataError, match=r"at position \(1, 0\)"):
        data.check_binary_labels(np.array([[0, 1], [-1, 0]]))
    with pytest.raises(errors.DataError, match="not numeric"):
        data.check_binary_labels(["yes", "no"])


# ---------------------------------------------------------- paper's recipe


def paper_rows() -> list[dict[str, str]]:
    """Rows whose fate under scripts 08-10 is worked out by hand in the comments."""
    return [
        make_row(img(1, split="train")),  # line 2: frontal, all blank → kept, all 0
        make_row(img(2, split="train"), Pneumothorax="1.0"),  # 3: kept, Ptx 1
        make_row(img(3, split="train"), Edema="0.0", Pneumothorax="1.0"),  # 4: explicit 0 → dropped
        make_row(
            img(4, split="train", view=2, kind="lateral"),
            view="Lateral",
            ap_pa="",
            Pneumothorax="1.0",
        ),  # 5: lateral → dropped
        make_row(
            img(5, split="train"), Cardiomegaly="-1.0", Pneumothorax="1.0"
        ),  # 6: kept, Card 0, Ptx 1
        make_row(
            img(6, split="train"), Atelectasis="1.0", Pneumothorax="0.0"
        ),  # 7: explicit 0 → dropped
        make_row(img(7, split="train"), Pneumonia="-1.0"),  # 8: kept, all 0
        make_row(
            img(8, split="train"), Consolidation="1.0", No_Finding="0.0"
        ),  # 9: kept (not a paper class)
        make_row(
            img(9, split="train"), Pneumothorax="-1.0", Edema="1.0"
        ),  # 10: kept, Edema 1, Ptx 0
        make_row(img(10, split="train"), Cardiomegaly="0.0"),  # 11: explicit 0 → dropped
        make_row(img(11, split="train"), ap_pa="PA", Atelectasis="1.0"),  # 12: kept, Atel 1
    ]


def test_paper_split_by_hand(tmp_path: Path) -> None:
    df = data.read_labels(write_csv(tmp_path / "CheXpert-v1.0-small" / "train.csv", paper_rows()))
    train, val = splits.paper_split(df)
    # 7 rows kept: round(7 * 0.8) = round(5.6) = 6 for training, 1 for validation.
    assert train["csv_line"].tolist() == [2, 3, 6, 8, 9, 10]
    assert val["csv_line"].tolist() == [12]
    expected = np.array(
        [
            [0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0],
            [0, 0, 1, 0, 0, 0],
            [0, 1, 0, 0, 0, 0],
        ]
    )
    np.testing.assert_array_equal(train[list(PAPER_CLASSES)].to_numpy(), expected)
    np.testing.assert_array_equal(val[list(PAPER_CLASSES)].to_numpy(), [[0, 0, 0, 0, 1, 0]])
    assert list(train.columns) == list(CHEXPERT_META_COLUMNS + PAPER_CLASSES) + list(
        data.ADDED_COLUMNS
    )
    assert all(train[c].dtype == np.int64 for c in PAPER_CLASSES)
    assert val.loc[0, "AP/PA"] == "PA" and val.loc[0, "patient_id"] == "patient00011"
    assert isinstance(val.index, pd.RangeIndex) and val.index[0] == 0


def test_a_policy_is_one_row_of_the_table(monkeypatch, valid_csv: Path) -> None:
    """Adding a row to data.POLICIES is all it takes: to_targets, its message and the recipe."""
    monkeypatch.setitem(
        data.POLICIES,
        "positive",
        data.UncertaintyPolicy(
            "positive", "U-Positive", 1.0, "counted as positive (a renamed U-Ones)"
        ),
    )
    labels = data.read_labels(valid_csv)
    renamed = data.to_targets(labels, "Pneumothorax", uncertain="positive")
    ones = data.to_targets(labels, "Pneumothorax", uncertain="ones")
    np.testing.assert_array_equal(renamed.values, ones.values)
    with pytest.raises(ValueError, match=r"'positive' \(U-Positive\)"):
        data.to_targets(labels, "Pneumothorax", uncertain="maybe")


def test_paper_recipe_applies_the_policy_to_uncertain_labels(tmp_path: Path) -> None:
    df = data.read_labels(write_csv(tmp_path / "CheXpert-v1.0-small" / "train.csv", paper_rows()))
    raw = splits.paper_select(df.assign(csv_line=df["csv_line"]))  # U-Zeros, the paper's
    kept = df.set_index("csv_line").loc[raw["csv_line"], list(PAPER_CLASSES)].to_numpy()
    uncertain = kept == -1.0
    assert uncertain.any(), "the hand-made rows must hold a -1 among the kept ones"
    for policy, expected in (("zeros", 0), ("ones", 1), ("ignore", data.IGNORED_LABEL)):
        labels = splits.paper_select(df, uncertain=policy)[list(PAPER_CLASSES)].to_numpy()
        assert (labels[uncertain] == expected).all(), policy
        np.testing.assert_array_equal(
            labels[~uncertain], raw[list(PAPER_CLASSES)].to_numpy()[~uncertain]
        )


def original_scripts_08_to_11(csv_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The original scripts' logic on the label columns, as they wrote it with pandas."""
    df = pd.read_csv(csv_path)
    new_df = df[list(CHEXPERT_META_COLUMNS + PAPER_CLASSES)]
    new_df = new_df.loc[new_df["Frontal/Lateral"] == "Frontal"]
    for name in PAPER_CLASSES:
        new_df = new_df.loc[new_df[name] != 0]
    new_df = new_df.copy()
    for name in PAPER_CLASSES:
        new_df[name] = new_df[name].replace(-1, 0).fillna(0).astype("int32")
    n = round(new_df.shape[0] * 0.8)
    return new_df.iloc[:n], new_df.iloc[n:]


def test_paper_split_matches_original_scripts_on_random_labels(tmp_path: Path) -> None:
    rng = random.Random(1)
    rows = [
        make_row(
            img(i, split="train"),
            view=rng.choice(["Frontal", "Frontal", "Lateral"]),
            **{
                c.replace(" ", "_"): rng.choice(["1.0", "-1.0", "", "", "", "0.0"])
                for c in PAPER_CLASSES
            },
        )
        for i in range(300)
    ]
    csv_path = write_csv(tmp_path / "train.csv", rows)
    ours = splits.paper_split(data.read_labels(csv_path))
    theirs = original_scripts_08_to_11(csv_path)
    for mine, original in zip(ours, theirs):
        assert len(mine) > 10
        assert mine["Path"].tolist() == original["Path"].tolist()
        np.testing.assert_array_equal(
            mine[list(PAPER_CLASSES)].to_numpy(), original[list(PAPER_CLASSES)].to_numpy()
        )
        assert mine["csv_line"].tolist() == (original.index + 2).tolist()


def test_paper_split_sizes() -> None:
    assert splits.paper_split_sizes(118_102) == (94_482, 23_620)
    assert [splits.paper_split_sizes(n) for n in (0, 1, 2, 3, 5, 7)] == [
        (0, 0),
        (1, 0),
        (2, 0),
        (2, 1),
        (4, 1),
        (6, 1),
    ]
    for n in range(5000):
        # 0.8 n never ends in .5, so Python's round-half-to-even never decides a size.
        assert abs(n * splits.PAPER_TRAIN_FRACTION % 1 - 0.5) > 0.09
        assert sum(splits.paper_split_sizes(n)) == n


def test_paper_split_errors(valid_csv: Path) -> None:
    df = data.read_labels(valid_csv)
    with pytest.raises(
        errors.DataError, match=r"missing column\(s\) 'Age' needed by the paper's recipe"
    ):
        splits.paper_split(df.drop(columns="Age"))
    with pytest.raises(errors.DataError, match="no row left by the paper's filter"):
        splits.paper_split(df.assign(Edema=0.0))


def test_paper_test_set(valid_csv: Path) -> None:
    df = data.read_labels(valid_csv)
    clean = df.assign(**{c: df[c].fillna(0.0).clip(lower=0.0) for c in PAPER_CLASSES})
    test = splits.paper_test_set(clean)
    assert test["csv_line"].tolist() == [2, 4, 5, 7, 8, 9]
    assert test["Pneumothorax"].tolist() == [1, 0, 0, 0, 0, 1]
    with pytest.raises(
        errors.DataError, match=r"valid\.csv line 2, column 'Cardiomegaly': label -1"
    ):
        splits.paper_test_set(df)


# ----------------------------------------------------------- patient split


def many_patients_rows(
    n_patients: int = 40, positives: tuple[int, ...] = (3, 8, 15, 21, 30, 37)
) -> list:
    """1-3 studies per patient, frontal and lateral; Pneumothorax positive for ``positives``."""
    rows = []
    for p in range(n_patients):
        for study in range(1, 2 + p % 3):
            label = "1.0" if p in positives and study == 1 else background_label(p, study)
            rows.append(make_row(img(p, study, split="train"), Pneumothorax=label))
            rows.append(
                make_row(
                    img(p, study, 2, "lateral", "train"),
                    view="Lateral",
                    ap_pa="",
                    Pneumothorax=label,
                )
            )
    return rows


def background_label(patient: int, study: int) -> str:
    """A deterministic mix of negative, blank and uncertain labels."""
    return ["0.0", "", "-1.0"][(patient + study) % 3]


@pytest.fixture
def many_patients(tmp_path: Path) -> pd.DataFrame:
    """40 patients, 158 rows, 6 patients with a positive Pneumothorax."""
    return data.read_labels(write_csv(tmp_path / "train.csv", many_patients_rows()))


def test_patient_split_no_leakage_and_file_order(many_patients: pd.DataFrame) -> None:
    train, val = splits.patient_split(many_patients, val_fraction=0.25, seed=0)
    assert not set(train["patient_id"]) & set(val["patient_id"])
    assert len(train) + len(val) == len(many_patients)
    assert val["patient_id"].nunique() == 10  # 25% of 40 patients
    for split in (train, val):
        assert split["csv_line"].is_monotonic_increasing
        assert isinstance(split.index, pd.RangeIndex)
    splits.check_no_patient_leakage(train, val)


def test_patient_split_seeded(many_patients: pd.DataFrame) -> None:
    first = splits.patient_split(many_patients, seed=3)[1]["patient_id"].unique().tolist()
    again = splits.patient_split(many_patients, seed=3)[1]["patient_id"].unique().tolist()
    other = splits.patient_split(many_patients, seed=4)[1]["patient_id"].unique().tolist()
    assert first == again and first != other


def test_patient_split_stratified_keeps_positives_in_both(many_patients: pd.DataFrame) -> None:
    for seed in range(5):
        train, val = splits.patient_split(
            many_patients, val_fraction=0.2, seed=seed, stratify_on="Pneumothorax"
        )
        train_pos = set(train.loc[train["Pneumothorax"] == 1.0, "patient_id"])
        val_pos = set(val.loc[val["Pneumothorax"] == 1.0, "patient_id"])
        assert len(val_pos) >= 1 and len(train_pos) >= 4
        assert len(train_pos) + len(val_pos) == 6


def test_patient_split_too_small_stratum(tmp_path: Path) -> None:
    df = data.read_labels(write_csv(tmp_path / "train.csv", many_patients_rows(positives=(5,))))
    df = df.assign(Pneumothorax=df["Pneumothorax"].where(df["patient_id"] == "patient00005", 0.0))
    with pytest.raises(
        errors.DataError,
        match=r"cannot split 40 patient\(s\) \(1 with a positive 'Pneumothorax', 39 without\)",
    ):
        splits.patient_split(df, stratify_on="Pneumothorax")
    with pytest.raises(ValueError, match="val_fraction=1.0 must be between 0 and 1"):
        splits.patient_split(df, val_fraction=1.0)


def test_fault_16_patient_leakage_names_patients(many_patients: pd.DataFrame) -> None:
    # Cutting by row order, as the paper does, puts patient00002's studies on both sides.
    cut = int(many_patients.index[many_patients["study_id"] == "patient00002/study2"][0])
    with pytest.raises(errors.DataError) as err:
        splits.check_no_patient_leakage(many_patients.iloc[:cut], many_patients.iloc[cut:])
    assert str(err.value) == "patient leakage: 1 patient(s) in both 'train' and 'val': patient00002"
    a, b, c = (
        many_patients[many_patients["patient_id"].isin(p)]
        for p in (
            ["patient00001", "patient00002", "patient00003", "patient00004", "patient00005"],
            ["patient00001", "patient00002", "patient00003", "patient00004", "patient00005"],
            ["patient00009"],
        )
    )
    with pytest.raises(errors.DataError) as err:
        splits.check_no_patient_leakage(c, a, b, names=("test", "train"))
    assert str(err.value) == (
        "patient leakage: 5 patient(s) in both 'train' and 'split 2': "
        "patient00001, patient00002, patient00003 and 2 more"
    )
    with pytest.raises(errors.DataError, match="split 'val' has no 'patient_id' column"):
        splits.check_no_patient_leakage(a, b.drop(columns="patient_id"))


# ----------------------------------------------------- writing and summary


def test_write_read_round_trip(tmp_path: Path, valid_csv: Path) -> None:
    df = data.read_labels(valid_csv)
    out = data.write_split_csv(df, tmp_path / "out" / "splits" / "valid.csv")
    assert out == tmp_path / "out" / "splits" / "valid.csv"
    assert out.read_text().splitlines()[0] == ",".join(HEADER)
    # no temporary file left; the image root recorded beside the CSV
    assert sorted(p.name for p in out.parent.iterdir()) == ["valid.csv", "valid.csv.json"]
    back = data.read_labels(out)  # the recorded root: the images are found from anywhere
    assert back.attrs["image_root"] == df.attrs["image_root"] == str(valid_csv.parent)
    pd.testing.assert_frame_equal(
        back.drop(columns="csv_line"), df.drop(columns="csv_line"), check_like=True
    )
    assert out.read_text().splitlines()[1].endswith("AP,0.0,,-1.0,,,,,,,1.0,,,,")


def test_image_root_order(tmp_path: Path, valid_csv: Path, monkeypatch) -> None:
    """Given, else recorded by the split, else CheXpert's own CSV's folder, else the data folder's:
    never the folder another CSV happens to sit in."""
    monkeypatch.setenv("TCHEXNET_DATA_DIR", str(tmp_path / "data"))
    elsewhere = write_csv(tmp_path / "lists" / "valid.csv", valid_like_rows())
    assert data.read_labels(elsewhere).attrs["image_root"] == str(
        tmp_path / "data" / "CheXpert-v1.0-small"
    )
    assert data.read_labels(valid_csv).attrs["image_root"] == str(valid_csv.parent)
    split = data.write_split_csv(data.read_labels(valid_csv), tmp_path / "split" / "valid.csv")
    assert data.read_labels(split).attrs["image_root"] == str(valid_csv.parent)
    given = data.read_labels(split, image_root=tmp_path / "moved")
    assert given.attrs["image_root"] == str(tmp_path / "moved")
    assert given.loc[0, "image_path"].startswith(str((tmp_path / "moved").resolve()))


def test_write_read_round_trip_paper_split(tmp_path: Path) -> None:
    train, _ = splits.paper_split(data.read_labels(write_csv(tmp_path / "train.csv", paper_rows())))
    out = data.write_split_csv(train, tmp_path / "split" / "train.csv")
    assert out.read_text().splitlines()[0] == ",".join(CHEXPERT_META_COLUMNS + PAPER_CLASSES)
    assert out.read_text().splitlines()[2].endswith(",0,0,0,0,0,1")
    back = data.read_labels(out, image_root=tmp_path)
    assert back["Path"].tolist() == train["Path"].tolist()
    np.testing.assert_array_equal(
        back[list(PAPER_CLASSES)].to_numpy(), train[list(PAPER_CLASSES)].to_numpy()
    )
    data.write_split_csv(train.iloc[:2], out)  # overwrite in place
    assert len(data.read_labels(out, image_root=tmp_path)) == 2


def test_write_refuses_unwritable_folder(tmp_path: Path, valid_csv: Path) -> None:
    df = data.read_labels(valid_csv)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(errors.DataError) as err:
        data.write_split_csv(df, blocker / "splits" / "train.csv")
    assert str(err.value).startswith(f"cannot write train.csv: folder {str(blocker / 'splits')!r}")
    with pytest.raises(errors.DataError, match=r"illegal label 2"):
        data.write_split_csv(df.assign(Edema=2.0), tmp_path / "x.csv")


def test_label_summary(valid_csv: Path) -> None:
    summary = data.label_summary(data.read_labels(valid_csv), ["Pneumothorax", "Edema"])
    assert summary.loc[
        "Pneumothorax", ["positive", "negative", "uncertain", "blank", "total"]
    ].tolist() == [3, 2, 1, 2, 8]
    assert summary.loc["Edema", "positive"] == 2 and summary.loc["Edema", "blank"] == 6
    assert summary.loc["Pneumothorax", "prevalence"] == pytest.approx(3 / 8)
    assert list(data.label_summary(data.read_labels(valid_csv)).index) == list(
        CHEXPERT_OBSERVATIONS
    )


# --------------------------------------------------------------- reference


@pytest.mark.reference
def test_fault_17_valid_csv_has_202_frontal_rows() -> None:
    if not (REFERENCE / "valid.csv").exists():
        pytest.skip("needs ../shared/reference (not shipped: CheXpert terms)")
    root = REFERENCE / "images"  # paths are only resolved, never opened
    valid = data.read_labels(REFERENCE / "valid.csv", image_root=root)
    front = data.frontal(valid)
    assert len(valid) == 234 and len(front) == 202
    assert int((front["Pneumothorax"] == 1.0).sum()) == 7
    expected = data.read_labels(REFERENCE / "valid_frontal_6_classes.csv", image_root=root)
    test = splits.paper_test_set(valid)
    assert test["Path"].tolist() == expected["Path"].tolist() == front["Path"].tolist()
    np.testing.assert_array_equal(
        test[list(PAPER_CLASSES)].to_numpy(), expected[list(PAPER_CLASSES)].to_numpy()
    )
    np.testing.assert_array_equal(
        front[list(PAPER_CLASSES)].to_numpy(), expected[list(PAPER_CLASSES)].to_numpy()
    )
