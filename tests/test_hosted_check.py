"""The hosted-stack check's verdicts (tests/hosted/check_hosted_stack.py, `make test-hosted`).

The check itself builds a 1.5 GB venv and runs the demo twice, so `make test` only tests what
decides its verdicts: reading pins and freezes, the install's guarded packages, the summaries'
comparison at printed precision, and which writes under the venv count.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "hosted" / "check_hosted_stack.py"
spec = importlib.util.spec_from_file_location("check_hosted_stack", SCRIPT)
hosted = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hosted)

COLAB = {
    "tensorflow": "2.20.0",
    "keras": "3.13.2",
    "numpy": "2.1.3",
    "ipywidgets": "7.7.1",
    "pandas": "2.2.3",
}
SUMMARY = {
    "n_test": 204,
    "positives": 17,
    "weights_sha256": "ab" * 32,
    "models": {
        "CheXNet": {"auc": 0.71234, "ci95": [0.60111, 0.82222]},
        "tCheXNet": {"auc": 0.93456, "ci95": [0.88001, 0.98999]},
    },
    "delong": {"z": -3.4567, "p": 0.000546},
    "gradcam": {
        "layer": "pool4_relu",
        "map_size": [14, 14],
        "n": 12,
        "pointing_hit_rate": 0.8333,
        "pointing_hit_rate_strict": 0.5,
        "mass_ratio_median": 3.412,
    },
}


def test_the_constraints_copy_pins_colabs_stack():
    pins = hosted.read_pins(hosted.CONSTRAINTS)
    assert {name: pins[name] for name in hosted.GUARDED} == {
        "tensorflow": "2.20.0",
        "keras": "3.13.2",
        "numpy": "2.1.3",
        "ipywidgets": "7.7.1",
    }
    assert "tensorflow-cpu" not in pins and pins["imageio"] == "2.37.4"  # names normalised


def test_read_pins_names_a_line_that_is_not_a_pin(tmp_path):
    path = tmp_path / "stack.txt"
    path.write_text("# comment\nnumpy==2.1.3\nkeras>=3\n")
    with pytest.raises(hosted.CheckFailed, match=r"stack.txt:3: 'keras>=3'"):
        hosted.read_pins(path)


def test_parse_freeze_reads_pins_and_direct_installs():
    text = "Keras==3.13.2\ntchexnet @ file:///tmp/dist/tchexnet-0.1.0-py3-none-any.whl\n\n"
    assert hosted.parse_freeze(text) == {
        "keras": "3.13.2",
        "tchexnet": "@ file:///tmp/dist/tchexnet-0.1.0-py3-none-any.whl",
    }


def test_an_install_that_leaves_the_runtime_alone_passes():
    after = {**COLAB, "pandas": "2.3.0", "tchexnet": "@ file:///x.whl"}
    rows, failures = hosted.compare_freezes(COLAB, after)
    assert failures == []
    assert [row[3] for row in rows] == ["unchanged"] * 4 + ["absent"]
    assert hosted.other_changes(COLAB, after) == [
        "pandas: 2.2.3 → 2.3.0",
        "tchexnet: - → @ file:///x.whl",
    ]


def test_an_install_that_replaces_numpy_or_adds_tensorflow_cpu_fails_naming_them():
    after = {**COLAB, "numpy": "2.4.6", "tensorflow-cpu": "2.21.0"}
    rows, failures = hosted.compare_freezes(COLAB, after)
    assert failures == ["numpy 2.1.3 → 2.4.6", "tensorflow-cpu added (2.21.0)"]
    assert ["numpy", "2.1.3", "2.4.6", "CHANGED"] in rows


def test_a_guarded_package_missing_before_the_install_fails():
    before = {k: v for k, v in COLAB.items() if k != "ipywidgets"}
    _, failures = hosted.compare_freezes(before, {**before, "ipywidgets": "8.1.9"})
    assert failures == ["ipywidgets - → 8.1.9"]


def test_summaries_equal_at_printed_precision_pass():
    nearby = copy.deepcopy(SUMMARY)
    nearby["models"]["tCheXNet"]["auc"] += 3e-5  # 0.93459: still 0.935
    nearby["delong"]["p"] = 0.0005461
    rows, differ = hosted.compare_summaries(SUMMARY, nearby)
    assert differ == []
    assert ["tCheXNet AUC", "0.935", "0.935", "equal"] in rows


def test_a_summary_differing_in_the_third_decimal_fails_naming_the_number():
    moved = copy.deepcopy(SUMMARY)
    moved["models"]["CheXNet"]["auc"] = 0.7136
    moved["gradcam"]["mass_ratio_median"] = 3.46
    _, differ = hosted.compare_summaries(SUMMARY, moved)
    assert differ == [
        "CheXNet AUC 0.712 (hosted) vs 0.714 (reference)",
        "Grad-CAM mass ratio 3.4 (hosted) vs 3.5 (reference)",
    ]


def test_writes_under_the_venv_count_except_bytecode(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    before = hosted.snapshot(tmp_path)
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-313.pyc").write_bytes(b"\0")
    assert hosted.writes_between(before, hosted.snapshot(tmp_path)) == (
        [],
        ["pkg/__pycache__/a.cpython-313.pyc"],
    )
    (tmp_path / "pkg" / "outputs.json").write_text("{}")
    assert hosted.writes_between(before, hosted.snapshot(tmp_path))[0] == ["pkg/outputs.json"]


def test_read_only_modes_are_restored(tmp_path):
    folder = tmp_path / "site" / "tchexnet_lib"
    folder.mkdir(parents=True)
    (folder / "a.py").write_text("")
    modes = hosted.make_read_only([folder / "a.py"], tmp_path / "site")
    assert not (folder / "a.py").stat().st_mode & 0o222 and not folder.stat().st_mode & 0o222
    hosted.restore_modes(modes)
    assert (folder / "a.py").stat().st_mode & 0o200 and folder.stat().st_mode & 0o200


def test_what_a_run_wrote_under_the_venv_fails_and_is_removed(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.py").write_text("x = 1\n")
    (tmp_path / hosted.STAMP).write_text("{}")
    listing = hosted.snapshot(tmp_path)
    assert hosted.undo_writes(tmp_path, listing) == []
    (tmp_path / "lib" / "tchexnet-work" / "outputs").mkdir(parents=True)
    (tmp_path / "lib" / "tchexnet-work" / "outputs" / "summary.json").write_text("{}")
    failures = hosted.undo_writes(tmp_path, listing)
    assert len(failures) == 1 and "lib/tchexnet-work/outputs/summary.json" in failures[0]
    assert not (tmp_path / "lib" / "tchexnet-work").exists() and (tmp_path / hosted.STAMP).is_file()
    (tmp_path / "lib" / "a.py").write_text(
        "x = 22\n"
    )  # an installed file changed: rebuild next time
    assert hosted.undo_writes(tmp_path, listing) and not (tmp_path / hosted.STAMP).exists()
