"""A tiny demo for tests that run the notebooks (papermill or JupyterLab): data, weights, folders.

About 80 synthetic train images and 30 test images at 64×64, and a demo CheXNet pretrained here
for one epoch by the same code as the shipped one (:func:`tchexnet_lib.tools.pretrain.pretrain`,
another recipe, so it is written beside the shipped file, never over it): the real code path end
to end in minutes. Everything lives under one folder reached through ``TCHEXNET_DATA_DIR``,
``TCHEXNET_WEIGHTS_DIR`` and ``TCHEXNET_OUTPUT_DIR``; notebook kernels inherit them. Always inject
``WEIGHTS`` (see :func:`parameters`): with ``WEIGHTS = None`` a notebook on the demo uses the
shipped demo CheXNet at 224×224 on the full demo data.
"""

from __future__ import annotations

from pathlib import Path

from tchexnet_lib import config, files, synthetic
from tchexnet_lib.tools import demo, pretrain

CONFIG = demo.DemoConfig(
    pretrain=pretrain.PretrainConfig(
        source=synthetic.SyntheticSpec(
            n_patients_train=30, n_patients_valid=10, domain="source", seed=1
        ),
        stages=(pretrain.Stage(64, 1, 1e-3),),
        eval_size=64,
    ),
    target=synthetic.SyntheticSpec(n_patients_train=40, n_patients_valid=30),
    head_epochs=2,
)


def environment(base: Path, inputs: Path | None = None) -> dict[str, str]:
    """The three folder variables: outputs under ``base``, data and weights under ``inputs``.

    ``inputs`` defaults to ``base``; pass a cache folder (pytest's ``config.cache.mkdir``) to
    draw and pretrain once across test runs (:func:`prepare` reuses them when their settings
    match, and redoes them when they do not).
    """
    inputs = base if inputs is None else inputs
    return {
        "TCHEXNET_DATA_DIR": str(inputs / "data"),
        "TCHEXNET_WEIGHTS_DIR": str(inputs / "weights"),
        "TCHEXNET_OUTPUT_DIR": str(base / "outputs"),
    }


def cache_folder(pytest_config) -> Path | None:
    """pytest's cache folder for the tiny demo's inputs, or None with ``-p no:cacheprovider``."""
    cache = getattr(pytest_config, "cache", None)
    return None if cache is None else Path(cache.mkdir("tchexnet-tiny-demo"))


def prepare() -> Path:
    """Draw the tiny data and pretrain the tiny weights where the environment says (reused).

    Test processes running side by side (pytest-xdist) take turns: the first draws and
    pretrains under a file lock, the others then reuse what it wrote.

    Returns:
        The tiny demo CheXNet weight file.
    """
    folder = config.weights_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with files.exclusive_lock(
        folder / ".tiny-demo.lock", "the tiny demo's preparation", say=lambda message: None
    ):
        demo.ensure_demo_data(CONFIG, progress=False)
        return demo.ensure_demo_weights(CONFIG, progress=False)


def parameters(weights: Path, **overrides) -> dict:
    """Notebook parameters for the tiny demo: demo data, these weights, a 40-row limit, 2 epochs."""
    return {"DATASET": "demo", "WEIGHTS": str(weights), "LIMIT": 40, "HEAD_EPOCHS": 2, **overrides}
