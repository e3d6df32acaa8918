"""tchexnet_lib.files: atomic writes leave the old file or the new one, and digests keep their keys."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from tchexnet_lib import files


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = files.save_json({"a": 1}, tmp_path / "sub" / "x.json")
    with pytest.raises(RuntimeError), files.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_temporary_names_keep_the_suffix_and_hide_from_globs(tmp_path):
    tmp = files.temporary_path(tmp_path / "features-00001.npy")
    assert tmp.suffix == ".npy" and tmp.name.startswith(files.TEMPORARY_PREFIX)
    assert not tmp.match("features-*.npy")


def test_array_digests_keep_the_key_format_stored_runs_were_written_under():
    """Run folders (head, fine-tune) compare these digests: a new format would orphan them."""
    array = np.arange(3, dtype=np.int64)
    expected = hashlib.sha256(b"(3,)int64" + array.tobytes()).hexdigest()
    assert files.sha256_arrays(array) == expected
    assert (
        files.sha256_json({"b": 1, "a": [2]}) == hashlib.sha256(b'{"a": [2], "b": 1}').hexdigest()
    )
    assert files.sha256_lines(["x", "y"]) == hashlib.sha256(b"x\ny").hexdigest()


def test_tables_and_arrays_round_trip(tmp_path):
    table = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    pd.testing.assert_frame_equal(pd.read_csv(files.save_table(table, tmp_path / "t.csv")), table)
    array = np.random.default_rng(0).random((4, 3), dtype=np.float32)
    np.testing.assert_array_equal(np.load(files.save_npy(array, tmp_path / "a.npy")), array)
    assert files.read_json(tmp_path / "missing.json") is None
    stored = (tmp_path / "a.npy").read_bytes()
    assert files.sha256_file(tmp_path / "a.npy") == hashlib.sha256(stored).hexdigest()
