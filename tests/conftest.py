"""Shared fixtures: the shared reference folder, and full-size Keras-2-layout weight files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "tchexnet-paper"
KERAS2_HEAD = {"tchexnet_dense_512": "dense_1", "tchexnet_pneumothorax": "dense_2"}


def pytest_collection_modifyitems(config, items):
    """Tests marked ``posix`` kill processes with SIGKILL, set resource limits, signal process
    groups or make symlinks: Windows has none of these, so they are skipped there."""
    if os.name != "nt":
        return
    skip = pytest.mark.skip(reason="POSIX only (SIGKILL, rlimits, process groups, symlinks)")
    for item in items:
        if "posix" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def reference() -> Path:
    """The paper's reference files, read in place (never copied into the project)."""
    if not REFERENCE.is_dir():
        pytest.skip("needs ../shared/reference (not shipped: CheXpert terms)")
    return REFERENCE


@pytest.fixture(scope="session")
def keras2_weights(tmp_path_factory) -> dict[str, Path]:
    """CheXNet and tCheXNet files in the original Keras 2 layout, from seeded random weights.

    Named like the registry's files, in a folder used as the weights directory.
    """
    import keras

    from tchexnet_lib import models
    from tests.keras2_h5 import write_keras2_weights

    folder = tmp_path_factory.mktemp("weights")
    keras.utils.set_random_seed(7)
    chexnet = models.build_chexnet()
    tchexnet = models.attach_tchexnet_head(chexnet)
    head = tchexnet.get_layer(models.TCHEXNET_OUTPUT)
    head.set_weights([np.full((512, 1), 0.05, "float32"), np.zeros(1, "float32")])
    paths = {
        "chexnet": folder / models.REGISTRY["chexnet"].filename,
        "tchexnet": folder / models.REGISTRY["tchexnet-paper"].filename,
    }
    write_keras2_weights(chexnet, paths["chexnet"])
    write_keras2_weights(tchexnet, paths["tchexnet"], head_names=KERAS2_HEAD, full_model=True)
    return paths
