"""Where tCheXNet looks on the demo's images, held against what the generator drew.

The synthetic images come with their truth: the pneumothorax's mask, the chest tube's, the
lung fields (drawn again from the same random draws, :func:`synthetic.redraw`). This module
scores Grad-CAM against them (on all positives and on the detected ones), says where each
map's peak lies, and runs the tube ablation (each image with a tube against its twin drawn
without it). Notebook 06 and the demo's summary use it; nothing happens on import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tchexnet_lib import gradcam, labels, models, pipeline, synthetic

__all__ = [
    "GRADCAM_LAYER",
    "PEAK_SIGNS",
    "detected_with_masks",
    "gradcam_check",
    "gradcam_lines",
    "localisation_of_positives",
    "lung_masks",
    "peak_place_text",
    "peak_places",
    "positives_with_masks",
    "tube_ablation",
    "tube_ablation_text",
]


#: Grad-CAM's layer in the demo's localisation check, chosen by measurement on all 64 test
#: positives (notebook 06 section 3, :func:`gradcam.better_layer`): DenseNet-121's last block
#: ``relu`` (7×7 at 224 px, classic Grad-CAM, the library's default) puts its peak within 15 px
#: of the mask for 92% of them against 89% for the finer ``pool4_relu`` (14×14), with a median
#: mass ratio of 5.6.
GRADCAM_LAYER = "relu"


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
