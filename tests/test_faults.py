"""The fault catalogue (issue #7): every known failure is a clear error or a reconciled skip.

Each case has at least one test named ``test_fault_NN_...``; most live beside the
module they guard (``tests/test_models.py``, ``test_images.py``, ``test_data.py``,
``test_evaluation.py``, ``test_features.py``, ``test_training.py``,
``test_notebooks.py``), the rest here. ``test_every_case_has_a_test`` keeps the
catalogue complete; the table of ``docs/faults.md`` lists them (checked below).
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from tchexnet_lib import config, errors, features, labels, models

TESTS = Path(__file__).resolve().parent
N_CASES = 24


def test_every_case_has_a_test():
    names = set()
    for path in TESTS.glob("test_*.py"):
        names |= {int(n) for n in re.findall(r"def test_fault_(\d\d)_", path.read_text())}
    assert sorted(names) == list(range(1, N_CASES + 1)), set(range(1, N_CASES + 1)) - names


def test_the_faults_page_lists_every_case_once():
    page = (TESTS.parent / "docs" / "faults.md").read_text()
    rows = [int(n) for n in re.findall(r"^\| (\d+) \|", page, flags=re.MULTILINE)]
    assert rows == list(range(1, N_CASES + 1))
    assert f"all {N_CASES} exist" in page


def test_fault_04_partial_loading_is_not_offered():
    """No by-name, no skip-mismatch: the loaders have no such switch to turn on."""
    for function in (
        models.load_weights,
        models.build_chexnet,
        models.build_tchexnet,
        models.build_model,
    ):
        parameters = inspect.signature(function).parameters
        assert not {"by_name", "skip_mismatch"} & set(parameters), function.__name__
    source = inspect.getsource(models)
    assert "by_name=True" not in source and "skip_mismatch=True" not in source
    with pytest.raises(TypeError):
        models.load_weights(None, "w.h5", by_name=True)


def test_fault_22_keras_archive_with_code_is_refused(tmp_path):
    """Keras ``safe_mode``: a .keras file carrying a Lambda (arbitrary code) is not run."""
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(keras.layers.Dense(2)(inputs))
    path = tmp_path / "with_code.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(errors.WeightsError, match="with_code.keras.*(safe_mode|Lambda)"):
        models.load_model_file(path)


def test_fault_22_pickled_feature_shard_is_refused(tmp_path):
    """Feature shards load with ``allow_pickle=False``: an object array is an error, not code."""
    from PIL import Image

    paths = []
    for i in range(2):
        paths.append(tmp_path / f"view{i}_frontal.png")
        Image.fromarray(np.full((48, 48), 60 * (i + 1), np.uint8)).save(paths[-1])
    model = models.build_chexnet(input_shape=(32, 32, 3))
    store = features.extract_features(
        model, paths, tmp_path / "store", config.PreprocessConfig(size=(32, 32)), progress=False
    )
    shard = next(store.path.glob("features-*.npy"))
    np.save(shard, np.array([{"not": "features"}] * 2, dtype=object), allow_pickle=True)
    with pytest.raises(errors.FeatureStoreError, match=f"{shard.name}.*(pickle|[Oo]bject)"):
        features.load_features(store.path, verify=False)
    with pytest.raises(errors.FeatureStoreError, match=shard.name):
        features.load_features(store.path)  # the shard's sha256 no longer matches either


def write_train_csv(path: Path, n: int = 12) -> None:
    """A small CheXpert-shaped train.csv with rows the paper's recipe keeps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(labels.CHEXPERT_META_COLUMNS + labels.CHEXPERT_OBSERVATIONS)
        for i in range(1, n + 1):
            writer.writerow(
                [
                    f"CheXpert-v1.0-small/train/patient{i:05d}/study1/view1_frontal.jpg",
                    "Male",
                    40 + i,
                    "Frontal",
                    "AP",
                ]
                + ["1.0" if i % 3 == 0 else ""] * 14
            )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fault_23_output_folder_that_cannot_be_created(tmp_path, capsys):
    """A file where the output folder should be (root ignores permission bits, not this)."""
    from tchexnet_lib.tools import cli

    train_csv = tmp_path / "CheXpert-v1.0-small" / "train.csv"
    write_train_csv(train_csv)
    before = sha256(train_csv)
    blocker = tmp_path / "outputs"
    blocker.write_text("a file, not a folder")
    code = cli.main(["split", "--csv", str(train_csv), "--out", str(blocker / "split")])
    err = capsys.readouterr().err
    assert code == 2 and str(blocker) in err and err.count("\n") == 1
    assert sha256(train_csv) == before


DISK_FULL = textwrap.dedent("""
    import resource, signal, sys
    from tchexnet_lib.tools import cli
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (400, 400))
    sys.exit(cli.main(sys.argv[1:]))
""")


@pytest.mark.posix
def test_fault_23_disk_full_while_writing_outputs(tmp_path):
    """Writes past a file-size limit fail like a full disk: one error naming the folder,
    the input untouched, no temporary file left behind."""
    train_csv = tmp_path / "CheXpert-v1.0-small" / "train.csv"
    write_train_csv(train_csv, n=40)
    before = sha256(train_csv)
    out = tmp_path / "split"
    result = subprocess.run(
        [sys.executable, "-c", DISK_FULL, "split", "--csv", str(train_csv), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("tchexnet: error")]
    assert len(errors) == 1 and str(out) in errors[0], result.stderr
    assert sha256(train_csv) == before
    assert not [p for p in out.rglob("*") if p.name.startswith(".")], list(out.rglob("*"))
    assert not (out / "train.csv").exists()  # never a partial CSV
