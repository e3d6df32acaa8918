"""The embedded default: the whole study offline, on synthetic data and demo weights.

Without CheXpert (11 GB, registration) and without the CheXNet-Keras weights, the
study still runs end to end on the same code path as the real data, at the paper's
224×224:

1. :mod:`tchexnet_lib.synthetic` draws a CheXpert-like *target* set (a different
   exposure curve, noise, AP-portable look, more devices, uncertain labels than the
   source set) under ``<data dir>/demo/``.
2. The demo CheXNet is the project's: the real CheXNet architecture pretrained once on
   a synthetic ChestX-ray14 by :mod:`tchexnet_lib.tools.pretrain` and **shipped** in
   ``weights/demo/`` (checked by sha256 and generator version; never retrained here).
3. :func:`run_demo` runs the study's steps (:mod:`tchexnet_lib.pipeline`): the
   paper's split recipe, features once, the tCheXNet head for the paper's 10 epochs,
   CheXNet's zero-shot Pneumothorax output against tCheXNet's on a ~200-image test
   split (ROC AUC, 95% intervals, paired DeLong test), and Grad-CAM's localisation
   against the demo's pneumothorax masks.

This module only supplies the demo's data and weights and runs it; the study's steps
live in :mod:`tchexnet_lib.pipeline`, where the model looks in :mod:`tchexnet_lib.localisation`. Everything said or drawn with these
weights says "demo weights trained on synthetic data": they are not CheXNet and the
images are not radiographs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from tchexnet_lib import (
    config,
    data,
    files,
    labels,
    localisation,
    models,
    pipeline,
    plotting,
    results,
    shipped,
    splits,
    synthetic,
    training,
)
from tchexnet_lib.tools import pretrain

__all__ = [
    "ABLATION_NAME",
    "CUSTOM_CHEXNET",
    "DEMO_TARGET",
    "DEMO_WEIGHTS_NOTE",
    "DemoConfig",
    "DemoResult",
    "ablated_spec",
    "demo_study",
    "demo_weights_path",
    "ensure_demo_data",
    "ensure_demo_weights",
    "head_config",
    "notebook_inputs",
    "notebook_parameters",
    "run_ablation",
    "run_demo",
    "run_in_child",
]


#: The synthetic CheXpert-like set (:data:`synthetic.DEMO_TARGET`).
DEMO_TARGET = synthetic.DEMO_TARGET
#: Said wherever demo weights are used.
DEMO_WEIGHTS_NOTE = "demo weights trained on synthetic data"
#: A demo CheXNet of another recipe than the shipped one (never over the shipped file).
CUSTOM_CHEXNET = "demo/chexnet_demo_custom.weights.h5"


@dataclass(frozen=True)
class DemoConfig:
    """Every knob of the demo.

    Attributes:
        seed: seeds the head and every split.
        pretrain: the demo CheXNet's recipe; the default is the shipped file's, any
            other is pretrained (once, cached in ``<weights dir>/demo/``). The transfer
            runs at the size the weights were last trained at (their manifest's
            ``image_size``: 224 for the shipped file), since DenseNet features at another
            scale are much worse for the head.
        target: the synthetic CheXpert-like set of the transfer.
        head_epochs: epochs of the tCheXNet head (the paper's 10).
        class_weight: the head's class weights ("balanced"; "paper" is the original's defect).
        gradcam_layer: the feature maps of the Grad-CAM check.
    """

    seed: int = 0
    pretrain: pretrain.PretrainConfig = pretrain.PretrainConfig()
    target: synthetic.SyntheticSpec = DEMO_TARGET
    head_epochs: int = 10
    class_weight: str = "balanced"
    gradcam_layer: str = localisation.GRADCAM_LAYER

    @property
    def uses_shipped_weights(self) -> bool:
        """Whether the demo CheXNet is the project's shipped file (the default recipe)."""
        return self.pretrain == pretrain.PretrainConfig()

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return json.loads(json.dumps(asdict(self)))


def ensure_demo_data(cfg: DemoConfig = DemoConfig(), progress: bool = True) -> dict:
    """Draw (or reuse) the target set; returns its manifest."""
    return synthetic.generate_dataset(config.demo_data_dir(), cfg.target, progress=progress)


def demo_weights_path(cfg: DemoConfig = DemoConfig()) -> Path | None:
    """The demo CheXNet of ``cfg``: the shipped file (checked), or a cached one of its recipe.

    Raises:
        ShippedWeightsError: the shipped file is missing, altered or out of date.
    """
    if cfg.uses_shipped_weights:
        return shipped.shipped_weights()
    path = config.weights_dir() / CUSTOM_CHEXNET
    if path.is_file() and models.read_metadata(path).get("key") == cfg.pretrain.key():
        return path
    return None


def ensure_demo_weights(cfg: DemoConfig = DemoConfig(), progress: bool = True) -> Path:
    """The demo CheXNet: the shipped file, or (another recipe, e.g. the tests' tiny one) pretrained once."""
    return demo_weights_path(cfg) or pretrain.pretrain(
        cfg.pretrain,
        config.weights_dir() / CUSTOM_CHEXNET,
        config.output_dir("pretrain-custom"),
        progress=progress,
    )


def demo_study(
    cfg: DemoConfig = DemoConfig(), out_dir: str | Path | None = None, progress: bool = True
) -> pipeline.Study:
    """The study on the demo: its data drawn (or reused), its CheXNet, its head settings."""
    ensure_demo_data(cfg, progress)
    return pipeline.make_study(
        "demo", ensure_demo_weights(cfg, progress), head=head_config(cfg), out_dir=out_dir
    )


def head_config(cfg: DemoConfig) -> training.HeadConfig:
    """The tCheXNet head's settings for the demo: the paper's, with ``cfg``'s epochs, class weights, seed."""
    return training.HeadConfig(epochs=cfg.head_epochs, class_weight=cfg.class_weight, seed=cfg.seed)


@dataclass
class DemoResult:
    """What :func:`run_demo` produced: the study's result (also ``summary.json``), the scored
    test rows and the files written."""

    result: results.StudyResult
    test: pd.DataFrame = field(repr=False)
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def summary(self) -> dict:
        """The result as ``summary.json`` holds it."""
        return self.result.to_json()


def run_demo(
    cfg: DemoConfig = DemoConfig(), out_dir: str | Path | None = None, progress: bool = True
) -> DemoResult:
    """The paper's study on the synthetic target set, end to end.

    Draws or reuses the data, takes the shipped demo CheXNet, then runs the pipeline's
    steps (:mod:`tchexnet_lib.pipeline`): features once, the head for
    ``cfg.head_epochs`` epochs, CheXNet vs tCheXNet on the ~200-image test split, and
    the Grad-CAM check (:func:`localisation.gradcam_check`) on all and on the detected positives.

    Args:
        cfg: the demo settings.
        out_dir: where results go (default ``outputs/demo/``).
        progress: show progress bars.

    Returns:
        A :class:`DemoResult`; ``summary.json`` (with ``image_size``, ``weights_sha256``
        and ``gradcam``), ``predictions.csv``, ``roc.png`` and ``contact_sheet.png`` are
        written under ``out_dir``, and the full demo tCheXNet under ``<weights dir>/demo/``.
    """
    start = time.perf_counter()
    study = demo_study(cfg, out_dir, progress)
    split_features, tables = pipeline.all_features(study, progress)
    result = pipeline.train_transfer_head(study, split_features, tables, progress)
    test = pipeline.test_predictions(study, progress)
    tchexnet = _publish(
        pipeline.save_tchexnet_model(study, result=result),
        config.weights_dir() / models.DEMO_FILES["tchexnet"],
    )
    cam = localisation.gradcam_check(study, test, tchexnet, cfg.gradcam_layer, progress)
    found = results.StudyResult.from_predictions(
        test, study, time.perf_counter() - start, note=DEMO_WEIGHTS_NOTE, gradcam=cam
    )
    paths = _write_outputs(study.out_dir, test, found, study.dataset_dir)
    return DemoResult(
        found, test, {**paths, "tchexnet_weights": tchexnet, "head": result.best_checkpoint}
    )


def _study_and_ablation(
    cfg: DemoConfig, out_dir: str | Path | None, progress: bool, ablation: bool
) -> tuple[DemoResult, results.StudyResult | None]:
    config.import_tensorflow_quietly()  # as the command does: its C++ notes stay off stderr
    result = run_demo(cfg, out_dir, progress)
    if not ablation:
        return result, None
    return result, run_ablation(cfg, progress=progress, head=result.paths["head"])


def run_in_child(
    cfg: DemoConfig = DemoConfig(),
    out_dir: str | Path | None = None,
    progress: bool = True,
    ablation: bool = False,
) -> tuple[DemoResult, results.StudyResult | None]:
    """:func:`run_demo` (then :func:`run_ablation` if asked) in a child process, which exits.

    What ``tchexnet demo`` does before it runs the notebooks: the study's process peaks at
    1.5-1.8 GB (TensorFlow, DenseNet-121 at 224, Grad-CAM) and keeps most of it until it
    exits (freed memory stays with the allocator: ``malloc_trim`` gave back 160 of 330 MB).
    Kept beside each notebook's kernel, it would double what a 2 GB container such as
    mybinder.org counts. The child is started with ``spawn`` (as on macOS and Windows), so
    this process need not import TensorFlow (``tchexnet demo`` does not); it prints to the
    same terminal.

    Returns:
        ``(result, ablation's result or None)``, as the two functions return them; an error
        in the child is raised here.
    """
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with (
        config.environment_for_children(),
        concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool,
    ):
        return pool.submit(_study_and_ablation, cfg, out_dir, progress, ablation).result()


def _publish(saved: Path, path: Path) -> Path:
    """Copy the study's saved tCheXNet (which the notebooks reuse) and its sidecar to ``path``."""
    for source, target in (
        (saved, path),
        (models.metadata_path(saved), models.metadata_path(path)),
    ):
        files.save_bytes(source.read_bytes(), target)
    return path


def _write_outputs(
    out: Path, test: pd.DataFrame, found: results.StudyResult, target_dir: Path
) -> dict:
    scores = {"CheXNet": test["CheXNet"].to_numpy(), "tCheXNet": test["tCheXNet"].to_numpy()}
    figure = plotting.roc_figure(
        test[labels.TARGET].to_numpy(),
        scores,
        title=f"Pneumothorax, synthetic test set ({DEMO_WEIGHTS_NOTE})",
    )
    sheet = synthetic.contact_sheet(Path(target_dir))
    return {
        "summary": files.save_json(found.to_json(), out / "summary.json"),
        "predictions": out / "predictions.csv",
        "roc": plotting.save_figure(figure, out / "roc.png"),
        "contact_sheet": synthetic.save_contact_sheet(sheet, out / "contact_sheet.png"),
    }


def notebook_parameters(cfg: DemoConfig = DemoConfig()) -> dict:
    """The parameters ``tchexnet demo`` runs the series with: the demo, its seed, its CheXNet.

    With the shipped demo CheXNet, ``WEIGHTS`` is left out: the notebooks' ``WEIGHTS = None``
    finds that file, and an executed copy shows no path of this machine.
    """
    parameters = {"DATASET": "demo", "SEED": cfg.seed}
    weights = None if cfg.uses_shipped_weights else demo_weights_path(cfg)
    if weights is not None:  # the weights run_demo used, not a retrain
        parameters["WEIGHTS"] = str(weights)
    return parameters


def notebook_inputs(
    cfg: DemoConfig = DemoConfig(), out_dir: str | Path | None = None
) -> dict | None:
    """What the series reads from a demo run (its data, predictions and weights, by sha256).

    The ``inputs`` of :func:`runner.run_key`: an executed notebook stamped with the key
    of these inputs was made from this demo run's results.

    Args:
        cfg: the demo settings of the run.
        out_dir: its results folder (default ``outputs/demo/``).

    Returns:
        The inputs, or None while the run's ``summary.json``, ``predictions.csv`` or
        tCheXNet weights are missing.
    """
    out = Path(out_dir) if out_dir is not None else config.output_dir("demo")
    tchexnet = config.weights_dir() / models.DEMO_FILES["tchexnet"]
    summary = files.read_json(out / "summary.json")
    if summary is None or not (out / "predictions.csv").is_file() or not tchexnet.is_file():
        return None
    return {
        "target": cfg.target.to_dict(),
        "summary_weights": summary.get("weights_sha256"),
        "predictions": files.sha256_file(out / "predictions.csv"),
        "tchexnet": files.sha256_file(tchexnet),
        "folders": [str(config.data_dir()), str(config.weights_dir()), str(config.output_dir())],
    }


# ------------------------------------------------------------------ the ablation

#: Where the ablated target set is drawn (under the data dir) and its results go (under outputs).
ABLATION_NAME = "demo-ablation"


def ablated_spec(
    spec: synthetic.SyntheticSpec, keep_chest_tubes: bool = False
) -> synthetic.SyntheticSpec:
    """The target set with every label kept but no pneumothorax drawn.

    Args:
        spec: the intact target set.
        keep_chest_tubes: keep the confounder (chest tubes 8× likelier with a
            pneumothorax); by default tubes get the same rate with and without one,
            so nothing in the images is left that tells the label.
    """
    tubes = (
        {}
        if keep_chest_tubes
        else {"chest_tube_with_pneumothorax": spec.chest_tube_without_pneumothorax}
    )
    return dataclasses.replace(spec, draw_pneumothorax=False, **tubes)


def run_ablation(
    cfg: DemoConfig = DemoConfig(),
    keep_chest_tubes: bool = False,
    out_dir: str | Path | None = None,
    progress: bool = True,
    head: str | Path | None = None,
) -> results.StudyResult:
    """The demo's trained models on test images that lost the pneumothorax sign.

    The same demo CheXNet and the same trained tCheXNet head as :func:`run_demo` (trained
    first if needed), scored on the same test patients with the same labels, drawn again
    without the sign (:func:`ablated_spec`). If the demo's AUCs come from the sign, both
    models fall to chance here; with ``keep_chest_tubes=True`` what is left is what the
    chest-tube confounder alone gives them.

    Args:
        cfg: the demo settings (as given to :func:`run_demo`).
        keep_chest_tubes: keep the confounder (:func:`ablated_spec`).
        out_dir: where results go (default ``outputs/demo-ablation/``).
        progress: show progress bars.
        head: the trained head's checkpoint (:func:`run_demo`'s ``paths["head"]``); None:
            the demo study's head, trained or reused now (which reads its feature stores).

    Returns:
        The result (also ``summary.json``, written under ``out_dir``, default
        ``outputs/demo-ablation/``), its ``ablation`` saying what was removed.
    """
    start = time.perf_counter()
    study = demo_study(cfg, progress=progress)
    name = ABLATION_NAME + ("-tubes" if keep_chest_tubes else "")
    spec = ablated_spec(cfg.target, keep_chest_tubes)
    folder = Path(
        synthetic.generate_dataset(
            config.data_dir() / name, spec, progress=progress, splits=("valid",)
        )["dataset_dir"]
    )
    out = Path(out_dir) if out_dir else config.output_dir(name)
    table = splits.paper_test_set(data.read_labels(folder / "valid.csv"))
    trained = (
        pipeline.best_head(study, pipeline.train_transfer_head(study, progress=progress))
        if head is None
        else pipeline.load_head(study, head)
    )
    test = pipeline.score_images(study, table, out / "features" / "test", trained, progress)
    pipeline.save_predictions(test, out / "predictions.csv")
    removed = "the pneumothorax sign" + (
        "" if keep_chest_tubes else " and the chest-tube confounder"
    )
    found = results.StudyResult.from_predictions(
        test,
        study,
        time.perf_counter() - start,
        note=DEMO_WEIGHTS_NOTE,
        ablation=f"test images without {removed}; labels, weights and head kept",
    )
    files.save_json(found.to_json(), out / "summary.json")
    return found
