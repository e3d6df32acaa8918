"""The embedded default: the whole study offline, on synthetic data and demo weights.

Without CheXpert (11 GB, registration) and without the CheXNet-Keras weights, the
study still runs end to end on the same code path as the real data, at the paper's
224×224:

1. :mod:`tchexnet_lib.synthetic` draws a CheXpert-like *target* set (a different
   exposure curve, noise, AP-portable look, more devices, uncertain labels than the
   source set) under ``<data dir>/demo/``.
2. The demo CheXNet is the project's: the real CheXNet architecture pretrained once on
   a synthetic ChestX-ray14 by :mod:`tchexnet_lib.pretrain` and **shipped** in
   ``weights/demo/`` (checked by sha256 and generator version; never retrained here).
3. :func:`run_demo` runs the study's steps (:mod:`tchexnet_lib.pipeline`): the
   paper's split recipe, features once, the tCheXNet head for the paper's 10 epochs,
   CheXNet's zero-shot Pneumothorax output against tCheXNet's on a ~200-image test
   split (ROC AUC, 95% intervals, paired DeLong test), and Grad-CAM's localisation
   against the demo's pneumothorax masks.

This module only supplies the demo's data and weights and its checks; the study's
steps live in :mod:`tchexnet_lib.pipeline`. Everything said or drawn with these
weights says "demo weights trained on synthetic data": they are not CheXNet and the
images are not radiographs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tchexnet_lib import (
    config,
    data,
    evaluation,
    files,
    gradcam,
    labels,
    models,
    pipeline,
    plotting,
    pretrain,
    splits,
    synthetic,
    training,
)

__all__ = [
    "ABLATION_NAME",
    "CUSTOM_CHEXNET",
    "DEMO_TARGET",
    "DEMO_WEIGHTS_NOTE",
    "DemoConfig",
    "DemoResult",
    "GRADCAM_LAYER",
    "PEAK_SIGNS",
    "ablated_spec",
    "demo_study",
    "demo_weights_path",
    "detected_with_masks",
    "ensure_demo_data",
    "ensure_demo_weights",
    "gradcam_check",
    "gradcam_lines",
    "head_config",
    "localisation_of_positives",
    "lung_masks",
    "notebook_inputs",
    "notebook_parameters",
    "peak_place_text",
    "peak_places",
    "positives_with_masks",
    "run_ablation",
    "run_demo",
    "run_in_child",
    "summary_table",
    "tube_ablation",
    "tube_ablation_text",
]


#: The synthetic CheXpert-like set (:data:`synthetic.DEMO_TARGET`).
DEMO_TARGET = synthetic.DEMO_TARGET
#: Said wherever demo weights are used.
DEMO_WEIGHTS_NOTE = "demo weights trained on synthetic data"
#: A demo CheXNet of another recipe than the shipped one (never over the shipped file).
CUSTOM_CHEXNET = "demo/chexnet_demo_custom.weights.h5"
#: Grad-CAM's layer in the demo's localisation check, chosen by measurement on all 64 test
#: positives (notebook 06 section 3, :func:`gradcam.better_layer`): DenseNet-121's last block
#: ``relu`` (7×7 at 224 px, classic Grad-CAM, the library's default) puts its peak within 15 px
#: of the mask for 92% of them against 89% for the finer ``pool4_relu`` (14×14), with a median
#: mass ratio of 5.6.
GRADCAM_LAYER = "relu"


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
    gradcam_layer: str = GRADCAM_LAYER

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
        return pretrain.shipped_weights()
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
    """What :func:`run_demo` produced (the summary is also ``summary.json``)."""

    summary: dict
    test: pd.DataFrame = field(repr=False)
    paths: dict[str, Path] = field(default_factory=dict)


def run_demo(
    cfg: DemoConfig = DemoConfig(), out_dir: str | Path | None = None, progress: bool = True
) -> DemoResult:
    """The paper's study on the synthetic target set, end to end.

    Draws or reuses the data, takes the shipped demo CheXNet, then runs the pipeline's
    steps (:mod:`tchexnet_lib.pipeline`): features once, the head for
    ``cfg.head_epochs`` epochs, CheXNet vs tCheXNet on the ~200-image test split, and
    the Grad-CAM check (:func:`gradcam_check`) on the detected positives.

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
    summary = {
        **pipeline.summary_json(test, study, time.perf_counter() - start),
        "note": DEMO_WEIGHTS_NOTE,
        "gradcam": gradcam_check(study, test, tchexnet, cfg.gradcam_layer, progress),
    }
    summary["seconds"] = round(time.perf_counter() - start, 1)
    paths = _write_outputs(study.out_dir, test, summary, study.dataset_dir)
    return DemoResult(summary, test, {**paths, "tchexnet_weights": tchexnet})


def _study_and_ablation(
    cfg: DemoConfig, out_dir: str | Path | None, progress: bool, ablation: bool
) -> tuple[DemoResult, dict | None]:
    config.import_tensorflow_quietly()  # as the command does: its C++ notes stay off stderr
    result = run_demo(cfg, out_dir, progress)
    return result, (run_ablation(cfg, progress=progress) if ablation else None)


def run_in_child(
    cfg: DemoConfig = DemoConfig(),
    out_dir: str | Path | None = None,
    progress: bool = True,
    ablation: bool = False,
) -> tuple[DemoResult, dict | None]:
    """:func:`run_demo` (then :func:`run_ablation` if asked) in a child process, which exits.

    What ``tchexnet demo`` does before it runs the notebooks: the study's process peaks at
    1.5-1.8 GB (TensorFlow, DenseNet-121 at 224, Grad-CAM) and keeps most of it until it
    exits (freed memory stays with the allocator: ``malloc_trim`` gave back 160 of 330 MB).
    Kept beside each notebook's kernel, it would double what a 2 GB container such as
    mybinder.org counts. The child is started with ``spawn`` (as on macOS and Windows), so
    this process need not import TensorFlow (``tchexnet demo`` does not); it prints to the
    same terminal.

    Returns:
        ``(result, ablation summary or None)``, as the two functions return them; an error
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


def positives_with_masks(
    study: pipeline.Study, test: pd.DataFrame, threshold: float = gradcam.DETECTION_THRESHOLD
) -> pd.DataFrame:
    """The test positives whose pneumothorax is drawn, with their masks and whether tCheXNet detects them.

    Returns:
        One row per such positive, in the test split's order: ``Path``, ``image_path``,
        ``tCheXNet``, ``detected`` (score >= ``threshold``) and ``mask`` (bool array).
    """
    root = study.dataset_dir.parent
    rows = []
    for path, score in test.loc[test[labels.TARGET] == 1, ["Path", "tCheXNet"]].itertuples(
        index=False
    ):
        mask = synthetic.read_mask(root / path, labels.TARGET)
        if mask is not None and mask.any():
            rows.append(
                {
                    "Path": path,
                    "image_path": root / path,
                    "tCheXNet": float(score),
                    "detected": bool(score >= threshold),
                    "mask": mask,
                }
            )
    return pd.DataFrame(rows, columns=["Path", "image_path", "tCheXNet", "detected", "mask"])


def detected_with_masks(
    study: pipeline.Study, test: pd.DataFrame, threshold: float = gradcam.DETECTION_THRESHOLD
) -> dict[Path, np.ndarray]:
    """Image → pneumothorax mask of the test positives tCheXNet detects (score ≥ ``threshold``)."""
    found = positives_with_masks(study, test, threshold)
    found = found[found["detected"]]
    return dict(zip(found["image_path"], found["mask"]))


def localisation_of_positives(
    model, positives: pd.DataFrame, layer: str
) -> tuple[pd.DataFrame, dict, list[gradcam.CamResult]]:
    """Grad-CAM at ``layer`` of every positive of :func:`positives_with_masks`, scored.

    Returns:
        ``(table, groups, cams)``: :func:`gradcam.localisation_table` indexed by ``Path``
        with a ``detected`` column, :func:`gradcam.localisation_groups` of it, and the maps
        (:func:`gradcam.cams_for_images`, in the table's order).
    """
    cams = gradcam.cams_for_images(list(positives["image_path"]), model, layer_name=layer)
    table = gradcam.localisation_table(
        [c.cam for c in cams], list(positives["mask"]), names=list(positives["Path"])
    )
    table["detected"] = positives["detected"].to_numpy()
    return table, gradcam.localisation_groups(table, table["detected"].to_numpy()), cams


def lung_masks(study: pipeline.Study, paths) -> dict[str, np.ndarray]:
    """The lung fields of demo images (``Path`` → bool mask at the file's size), drawn again.

    The dataset stores no lung masks; its generator draws each image again from the same
    random draws (:func:`synthetic.redraw`) and returns them.
    """
    spec = synthetic.spec_of(study.dataset_dir)
    return {
        path: masks["lungs"]
        for path, (_, masks) in synthetic.redraw(spec, list(paths), lungs=True).items()
    }


#: The drawn signs a Grad-CAM peak is placed against (:func:`peak_places`), in order.
PEAK_SIGNS = ("pneumothorax", "chest_tube", "support_devices")


def peak_places(study: pipeline.Study, paths, cams) -> pd.DataFrame:
    """Where each map's peak lies on its demo image: in the lung fields, near a drawn sign.

    Args:
        study: a demo study (its images' masks and lung fields are read or drawn again).
        paths: the images' ``Path`` values.
        cams: their maps (h, w), e.g. ``CamResult.cam``.

    Returns:
        One row per image (index ``Path``): ``in the lungs`` (the peak strictly inside the
        lung fields, :func:`lung_masks`) and ``near <sign>`` for each of :data:`PEAK_SIGNS`
        (within :data:`gradcam.POINTING_TOLERANCE_PX` of its mask; <NA> where not drawn).
    """
    paths = list(paths)
    lungs, root = lung_masks(study, paths), study.dataset_dir.parent
    rows = []
    for path, cam in zip(paths, cams):
        row = {"Path": path, "in the lungs": gradcam.pointing_game(cam, lungs[path])}
        for sign in PEAK_SIGNS:
            mask = synthetic.read_mask(root / path, sign)
            row[f"near {sign}"] = (
                None
                if mask is None or not mask.any()
                else gradcam.pointing_game(cam, mask, gradcam.POINTING_TOLERANCE_PX)
            )
        rows.append(row)
    table = pd.DataFrame(rows).set_index("Path")
    return table.astype({f"near {sign}": "boolean" for sign in PEAK_SIGNS})


def peak_place_text(place: pd.Series, called_positive: bool = True) -> str:
    """One row of :func:`peak_places` in words, saying what a peak outside the lungs means.

    Args:
        place: the row.
        called_positive: whether the model called the image positive; a negative's map holds
            little evidence, so where its peak lies says little.
    """
    drawn = {
        sign: place[f"near {sign}"] for sign in PEAK_SIGNS if not pd.isna(place[f"near {sign}"])
    }
    near = [sign.replace("_", " ") for sign, hit in drawn.items() if hit]
    within = f"within {gradcam.POINTING_TOLERANCE_PX:.0f} px of the {' and the '.join(near)}"
    missed = "pneumothorax" in drawn and not drawn["pneumothorax"]
    if place["in the lungs"]:
        return (
            "peaks inside the lung fields"
            + (f", {within}" if near else "")
            + (
                f", but not within {gradcam.POINTING_TOLERANCE_PX:.0f} px of the pneumothorax"
                if missed
                else ""
            )
        )
    where = (
        within
        if near
        else (
            "off every drawn sign: on the chest wall, in the band between "
            "torso and arm, or beyond the body"
        )
    )
    if not called_positive:
        return (
            f"peaks outside the lung fields, {where}; called negative, its map holds little "
            "evidence, so its peak says little"
        )
    return (
        f"peaks OUTSIDE the lung fields, {where}: evidence the lungs do not hold, so the "
        "model may be using a shortcut (a device, the body's outline) rather than a "
        "pneumothorax"
    )


def tube_ablation(
    study: pipeline.Study, test: pd.DataFrame, model, folder: str | Path, layer: str = GRADCAM_LAYER
) -> tuple[pd.DataFrame, dict]:
    """tCheXNet on the test images with a chest tube, and on their twins drawn without it.

    Each twin is the same image from the same random draws with the tube left off
    (:func:`synthetic.write_redrawn`, written under ``folder``), so a change of score is the
    tube's doing alone.

    Returns:
        ``(table, results)``: one row per image with a tube (index ``Path``):
        ``Pneumothorax`` (label), ``with tube`` and ``without tube`` (tCheXNet's
        probability), ``change`` (without − with); and ``{"with tube": [CamResult],
        "without tube": [CamResult]}`` at ``layer``, in the table's order.
    """
    root = study.dataset_dir.parent
    has_tube = [synthetic.read_mask(root / path, "chest_tube") is not None for path in test["Path"]]
    rows = test[has_tube]
    twins = synthetic.write_redrawn(
        synthetic.spec_of(study.dataset_dir), list(rows["Path"]), folder, hide=("chest_tube",)
    )
    results = {
        "with tube": gradcam.cams_for_images(
            [root / p for p in rows["Path"]], model, layer_name=layer
        ),
        "without tube": gradcam.cams_for_images(
            [twins[p] for p in rows["Path"]], model, layer_name=layer
        ),
    }
    table = pd.DataFrame(
        {
            labels.TARGET: rows[labels.TARGET].to_numpy(),
            **{kind: [r.probability for r in found] for kind, found in results.items()},
        },
        index=pd.Index(rows["Path"], name="Path"),
    )
    table["change"] = table["without tube"] - table["with tube"]
    return table, results


def tube_ablation_text(
    table: pd.DataFrame, threshold: float = gradcam.DETECTION_THRESHOLD, effect: float = 0.05
) -> list[str]:
    """:func:`tube_ablation`'s table in words, ending with its conclusion.

    Args:
        table: the ablation's table.
        threshold: where an image is called positive.
        effect: the median change of the positives' score, without the tube, that counts as
            the tube's doing.

    Returns:
        One line per label present (median and range of the change, images no longer called
        positive), then ``"Conclusion: …"``.
    """
    lines = []
    for label, name in ((1, "positives"), (0, "negatives")):
        rows = table[table[labels.TARGET] == label]
        if len(rows):
            lost = int(
                ((rows["with tube"] >= threshold) & (rows["without tube"] < threshold)).sum()
            )
            lines.append(
                f"{len(rows)} {name} with a tube: without it tCheXNet's score changes by "
                f"{rows['change'].median():+.3f} (median; {rows['change'].min():+.3f} … "
                f"{rows['change'].max():+.3f}); {lost} called positive with the tube "
                "are not without it"
            )
    change = table.loc[table[labels.TARGET] == 1, "change"].median()
    if np.isnan(change):
        verdict = "no positive has a tube, so the ablation cannot say what the tube adds to one"
    elif change <= -effect:
        verdict = (
            f"removing the tube lowers the positives' score by {-change:.3f} (median), at "
            f"least {effect}: part of tCheXNet's score rests on the tube, a shortcut"
        )
    else:
        verdict = (
            f"the positives' score barely moves without the tube (median {change:+.3f}, "
            f"under {effect}): tCheXNet does not rest on the tube here"
        )
    return lines + [f"Conclusion: {verdict}"]


def _rounded(summary: dict) -> dict:
    """A group's localisation summary as ``summary.json`` stores it."""
    keys = ("pointing_game", "peak_inside", "median_mass_ratio")
    return {
        "n": summary["n"],
        **{key: None if summary.get(key) is None else round(summary[key], 4) for key in keys},
    }


def gradcam_check(
    study: pipeline.Study,
    test: pd.DataFrame,
    tchexnet_weights: Path,
    layer: str = GRADCAM_LAYER,
    progress: bool = True,
) -> dict:
    """Does tCheXNet's Grad-CAM point at the pneumothorax? Scored on all positives and the detected ones.

    Returns:
        ``{"layer", "map_size", "pointing_tolerance_px", "detection_threshold",
        "all_positives", "detected_positives", ...}``: each group ``{"n", "pointing_game",
        "peak_inside", "median_mass_ratio"}`` (:data:`gradcam.POINTING_GAME`: the share of
        maps whose peak lies within 15 px of the mask, Zhang et al. 2016;
        :data:`gradcam.PEAK_INSIDE`: strictly inside; the median of (CAM mass per pixel
        inside the mask) / (per pixel outside), 1 for a uniform map). The older keys
        ``pointing_hit_rate`` (= the detected positives' pointing game),
        ``pointing_hit_rate_strict`` (their peak inside the mask), ``mass_ratio_median`` and
        ``n`` keep their meaning: the detected positives.
    """
    positives = positives_with_masks(study, test)
    model = models.build_model("tchexnet", tchexnet_weights, input_shape=(*study.image_size, 3))
    map_size = [int(d) for d in model.get_layer(layer).output.shape[1:3]]
    empty = {"n": 0, "pointing_game": None, "peak_inside": None, "median_mass_ratio": None}
    groups = {"all positives": empty, "detected positives": empty}
    if len(positives):
        if progress:
            print(
                f"Grad-CAM ({layer}, {map_size[0]}×{map_size[1]} maps) on {len(positives)} "
                "positives"
            )
        groups = {
            name: _rounded(group) if group["n"] else empty
            for name, group in localisation_of_positives(model, positives, layer)[1].items()
        }
    detected = groups["detected positives"]
    return {
        "layer": layer,
        "map_size": map_size,
        "pointing_tolerance_px": gradcam.POINTING_TOLERANCE_PX,
        "detection_threshold": gradcam.DETECTION_THRESHOLD,
        "all_positives": groups["all positives"],
        "detected_positives": detected,
        "pointing_hit_rate": detected["pointing_game"],
        "pointing_hit_rate_strict": detected["peak_inside"],
        "mass_ratio_median": detected["median_mass_ratio"],
        "n": detected["n"],
    }


def gradcam_lines(cam: dict) -> list[str]:
    """The Grad-CAM lines of a summary's ``gradcam`` block (all positives, then the detected)."""
    head = f"Grad-CAM ({cam['layer']}, {cam['map_size'][0]}×{cam['map_size'][1]})"
    if "all_positives" not in cam:  # a summary written before both groups were scored
        group = {
            "n": cam["n"],
            "pointing_game": cam["pointing_hit_rate"],
            "peak_inside": cam["pointing_hit_rate_strict"],
            "median_mass_ratio": cam["mass_ratio_median"],
        }
        return [f"{head} {gradcam.localisation_text(group, 'detected positives')}"]
    threshold = cam.get("detection_threshold", gradcam.DETECTION_THRESHOLD)
    return [
        f"{head} {gradcam.localisation_text(cam['all_positives'], 'all positives')}",
        f"{head} {gradcam.localisation_text(cam['detected_positives'], 'detected positives')}"
        f" (tCheXNet ≥ {threshold:g})",
    ]


def _publish(saved: Path, path: Path) -> Path:
    """Copy the study's saved tCheXNet (which the notebooks reuse) and its sidecar to ``path``."""
    for source, target in (
        (saved, path),
        (models.metadata_path(saved), models.metadata_path(path)),
    ):
        files.save_bytes(source.read_bytes(), target)
    return path


def _write_outputs(out: Path, test: pd.DataFrame, summary: dict, target_dir: Path) -> dict:
    scores = {"CheXNet": test["CheXNet"].to_numpy(), "tCheXNet": test["tCheXNet"].to_numpy()}
    figure = plotting.roc_figure(
        test[labels.TARGET].to_numpy(),
        scores,
        title=f"Pneumothorax, synthetic test set ({DEMO_WEIGHTS_NOTE})",
    )
    sheet = synthetic.contact_sheet(Path(target_dir))
    return {
        "summary": files.save_json(summary, out / "summary.json"),
        "predictions": out / "predictions.csv",
        "roc": plotting.save_figure(figure, out / "roc.png"),
        "contact_sheet": synthetic.save_contact_sheet(sheet, out / "contact_sheet.png"),
    }


def summary_table(summary: dict) -> str:
    """The short table ``make demo`` prints (AUCs worded by :func:`evaluation.format_auc`)."""
    lines = [
        f"Demo ({summary['note']}): Pneumothorax on {summary['n_test']} synthetic test "
        f"images, {summary['positives']} positive, {summary['seconds']:.0f} s"
    ]
    for name, model in summary["models"].items():
        lines.append(f"  {name:<9} AUC {evaluation.format_auc(model)}")
    lines.append(f"  paired DeLong: {pipeline.delong_summary_text(summary['delong'])}")
    cam = summary.get("gradcam")
    if cam:
        lines += [f"  {line}" for line in gradcam_lines(cam)]
    return "\n".join(lines)


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

    The ``inputs`` of :func:`notebooks.run_key`: an executed notebook stamped with the key
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
) -> dict:
    """The demo's trained models on test images that lost the pneumothorax sign.

    The same demo CheXNet and the same trained tCheXNet head as :func:`run_demo` (trained
    first if needed), scored on the same test patients with the same labels, drawn again
    without the sign (:func:`ablated_spec`). If the demo's AUCs come from the sign, both
    models fall to chance here; with ``keep_chest_tubes=True`` what is left is what the
    chest-tube confounder alone gives them.

    Returns:
        The summary (as ``summary.json``, written under ``out_dir``, default
        ``outputs/demo-ablation/``), with ``"ablation"`` saying what was removed.
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
    test = pipeline.score_images(study, table, out / "features" / "test", progress)
    pipeline.save_predictions(test, out / "predictions.csv")
    removed = "the pneumothorax sign" + (
        "" if keep_chest_tubes else " and the chest-tube confounder"
    )
    summary = {
        **pipeline.summary_json(test, study, time.perf_counter() - start),
        "note": DEMO_WEIGHTS_NOTE,
        "ablation": f"test images without {removed}; labels, weights and head kept",
    }
    files.save_json(summary, out / "summary.json")
    return summary
