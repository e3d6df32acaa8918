"""Grad-CAM maps and localisation scores, on small random-weight models and hand-made masks."""

from __future__ import annotations

import contextlib
import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from matplotlib.figure import Figure
from PIL import Image

from tchexnet_lib import camplots, gradcam, images, models
from tchexnet_lib.tools import cli

SHAPE = (96, 96, 3)  # DenseNet-121's last block is 3×3 here (7×7 at 224)
CELL = 32  # one cell of that 3×3 grid, in pixels
PNEUMOTHORAX = 7


@pytest.fixture(scope="module")
def chexnet() -> keras.Model:
    keras.utils.set_random_seed(0)
    return models.build_chexnet(input_shape=SHAPE)


@pytest.fixture(scope="module")
def tchexnet(chexnet) -> keras.Model:
    return models.attach_tchexnet_head(chexnet)


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    rng = np.random.default_rng(1)
    grays = rng.uniform(0, 255, (3, *SHAPE[:2])).astype(np.float32)
    return np.stack([images.to_model_input(g) for g in grays])


@contextlib.contextmanager
def head_weights(model: keras.Model, layer: str, weights: list[np.ndarray]):
    """Temporarily give ``layer`` the given weights (the model fixture is shared)."""
    saved = model.get_layer(layer).get_weights()
    model.get_layer(layer).set_weights(weights)
    try:
        yield
    finally:
        model.get_layer(layer).set_weights(saved)


def bright_square_case() -> tuple[np.ndarray, np.ndarray]:
    """A dark image with a bright square in the top-right cell, and its mask.

    Top-right rather than a corner on the diagonal, so a transposed or flipped map misses it.
    """
    gray = np.full(SHAPE[:2], 30, np.float32)
    gray[:CELL, -CELL:] = 220
    mask = np.zeros(SHAPE[:2], bool)
    mask[:CELL, -CELL:] = True
    return images.to_model_input(gray)[None], mask


def region_probe(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Unit vector from the mean final-block features outside the square to those inside it.

    A head scoring along it responds to what the network sees in the square, so Grad-CAM for
    that output must put its mass there; the opposite head must put it elsewhere.
    """
    maps = keras.Model(model.input, model.get_layer("relu").output)(x).numpy()[0]
    inside = maps[0, 2]
    outside = np.delete(maps.reshape(9, -1), 2, axis=0).mean(axis=0)
    direction = inside - outside
    return (direction / np.linalg.norm(direction)).astype(np.float32)


# --------------------------------------------------------------------------- maps


def test_maps_have_input_size_lie_in_unit_range_and_are_finite(chexnet, tchexnet, batch):
    for model, output in ((chexnet, "Pneumothorax"), (tchexnet, None)):
        cams = gradcam.grad_cam(model, batch, output)
        assert cams.shape == (3, *SHAPE[:2]) and cams.dtype == np.float32
        assert np.all(np.isfinite(cams)) and cams.min() >= 0
        assert np.allclose(cams.max(axis=(1, 2)), 1.0)
    assert gradcam.grad_cam(chexnet, batch[0]).shape == (1, *SHAPE[:2])


def test_the_map_depends_on_the_chosen_output(chexnet, batch):
    effusion = gradcam.grad_cam(chexnet, batch, "Effusion")
    pneumothorax = gradcam.grad_cam(chexnet, batch, PNEUMOTHORAX)
    assert np.abs(effusion - pneumothorax).max() > 0.1
    # a CheXpert name and the index name the same output
    np.testing.assert_array_equal(gradcam.grad_cam(chexnet, batch, "Pleural Effusion"), effusion)
    np.testing.assert_array_equal(gradcam.grad_cam(chexnet, batch), pneumothorax)


def test_matches_class_activation_mapping_computed_by_hand(chexnet, batch):
    """Before the head, CheXNet is global average pooling, so Grad-CAM of the logit equals CAM
    (Selvaraju et al. 2017, section 3.1): ReLU(sum_k w_k A^k) with w the head's column."""
    maps = keras.Model(chexnet.input, chexnet.get_layer("relu").output)(batch).numpy()
    kernel = chexnet.get_layer("predictions").get_weights()[0][:, PNEUMOTHORAX]
    low = np.maximum(np.einsum("nhwc,c->nhw", maps, kernel), 0)
    up = tf.image.resize(low[..., None], SHAPE[:2], method="bilinear").numpy()[..., 0]
    expected = up / up.max(axis=(1, 2), keepdims=True)
    cams, probabilities = gradcam.grad_cam_with_probabilities(chexnet, batch, PNEUMOTHORAX)
    np.testing.assert_allclose(cams, expected, atol=2e-4)
    predicted = chexnet(batch, training=False).numpy()[:, PNEUMOTHORAX]
    np.testing.assert_allclose(probabilities, predicted, rtol=1e-4)


def test_no_positive_evidence_gives_an_all_zero_map_not_nan(chexnet, batch):
    kernel, bias = chexnet.get_layer("predictions").get_weights()
    kernel[:, PNEUMOTHORAX] = 0.0
    with head_weights(chexnet, "predictions", [kernel, bias]):
        cams = gradcam.grad_cam(chexnet, batch, PNEUMOTHORAX)
    assert np.all(cams == 0) and not np.isnan(cams).any()


def test_bad_outputs_and_layers_are_clear_errors(chexnet, tchexnet, batch):
    with pytest.raises(ValueError, match="one output"):
        gradcam.grad_cam(tchexnet, batch, "Effusion")
    with pytest.raises(ValueError, match="out of range"):
        gradcam.grad_cam(chexnet, batch, 14)
    with pytest.raises(ValueError, match="no CheXNet counterpart|not one of"):
        gradcam.grad_cam(chexnet, batch, "Fracture")
    with pytest.raises(ValueError, match="no layer 'conv9'.*conv5_block16"):
        gradcam.grad_cam(chexnet, batch, layer_name="conv9")
    with pytest.raises(ValueError, match="feature maps"):
        gradcam.grad_cam(chexnet, batch, layer_name="avg_pool")
    with pytest.raises(ValueError, match="image_batch"):
        gradcam.grad_cam(chexnet, batch[:, :64, :64])


# --------------------------------------------------------------------------- localisation


def test_localises_the_region_a_chexnet_output_responds_to(chexnet):
    x, mask = bright_square_case()
    probe = region_probe(chexnet, x)
    kernel, bias = chexnet.get_layer("predictions").get_weights()
    kernel[:, PNEUMOTHORAX], kernel[:, 0] = probe, -probe
    with head_weights(chexnet, "predictions", [kernel, np.zeros_like(bias)]):
        towards = gradcam.grad_cam(chexnet, x, PNEUMOTHORAX)[0]
        away = gradcam.grad_cam(chexnet, x, 0)[0]
    uniform = mask.mean()  # 1/9: what a uniform map puts inside
    assert gradcam.mass_inside(towards, mask) > 3 * uniform
    assert gradcam.pointing_game(towards, mask)
    assert gradcam.cam_iou(towards, mask) > 0.3
    # the opposite head looks elsewhere: the same scores must then fail
    assert gradcam.mass_inside(away, mask) < uniform
    assert not gradcam.pointing_game(away, mask)


def test_localises_through_tchexnets_hidden_layer(chexnet, tchexnet):
    x, mask = bright_square_case()
    probe = region_probe(chexnet, x)
    pooled = keras.Model(chexnet.input, chexnet.get_layer("avg_pool").output)(x).numpy()[0]
    hidden = np.zeros((1024, 512), np.float32)
    hidden[:, 0] = probe
    hidden_bias = np.zeros(512, np.float32)
    hidden_bias[0] = 1.0 - float(pooled @ probe)  # keep the ReLU unit active on this image
    with (
        head_weights(tchexnet, models.TCHEXNET_HIDDEN, [hidden, hidden_bias]),
        head_weights(
            tchexnet,
            models.TCHEXNET_OUTPUT,
            [np.full((512, 1), 1.0, np.float32), np.zeros(1, np.float32)],
        ),
    ):
        cam = gradcam.grad_cam(tchexnet, x)[0]
    assert gradcam.mass_inside(cam, mask) > 3 * mask.mean()
    assert gradcam.pointing_game(cam, mask)


def test_scores_on_hand_made_maps():
    cam = np.zeros((4, 4))
    cam[0, 3] = 1.0
    cam[0, 2] = 0.5
    cam[3, 0] = 0.25
    mask = np.zeros((4, 4), bool)
    mask[0, 2:] = True
    assert gradcam.pointing_game(cam, mask)
    assert not gradcam.pointing_game(cam, ~mask)
    assert gradcam.cam_iou(cam, mask, threshold=0.5) == 1.0
    assert gradcam.cam_iou(cam, mask, threshold=0.75) == 0.5
    assert gradcam.mass_inside(cam, mask) == pytest.approx(1.5 / 1.75)
    assert gradcam.mass_inside(np.ones((4, 4)), mask) == pytest.approx(2 / 16)
    zero = np.zeros((4, 4))
    assert not gradcam.pointing_game(zero, mask)
    assert gradcam.cam_iou(zero, mask) == 0.0
    assert gradcam.mass_inside(zero, mask) is None
    with pytest.raises(ValueError, match="mask is empty"):
        gradcam.mass_inside(cam, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="non-negative"):
        gradcam.mass_inside(-cam, mask)


def test_masks_are_resized_to_the_map_with_nearest_neighbour():
    big = np.kron(np.array([[0, 1], [0, 0]]), np.ones((50, 50)))  # top-right quarter
    small = gradcam.resize_mask(big, (4, 4))
    assert small.dtype == bool and small.sum() == 4 and small[:2, 2:].all()
    cam = np.zeros((4, 4))
    cam[1, 3] = 1
    assert gradcam.pointing_game(cam, big)
    assert gradcam.cam_iou(cam, big) == 0.25


def test_localisation_table_and_summary():
    cam_hit = np.zeros((4, 4))
    cam_hit[0, 0] = 1
    cam_miss = np.zeros((4, 4))
    cam_miss[3, 3] = 1
    mask = np.zeros((4, 4), bool)
    mask[:2, :2] = True
    table = gradcam.localisation_table(
        [cam_hit, cam_miss, np.zeros((4, 4))], [mask] * 3, names=["a", "b", "c"]
    )
    assert list(table.index) == ["a", "b", "c"]
    assert list(table["hit"]) == [True, False, False]
    assert table.loc["a", "iou"] == 0.25 and table.loc["b", "iou"] == 0.0
    assert table["mass_inside"].isna().tolist() == [False, False, True]
    assert table["mask_fraction"].tolist() == [0.25] * 3
    summary = gradcam.localisation_summary(table)
    assert summary["hits"] == 1 and summary["hit_rate"] == pytest.approx(1 / 3)
    assert summary["mean_iou"] == pytest.approx(0.25 / 3)
    assert summary["mean_mass_inside"] == 0.5  # over the two maps that have mass
    assert table["mass_ratio"].isna().tolist() == [False, False, True]
    assert table.loc["a", "mass_ratio"] == float("inf") and table.loc["b", "mass_ratio"] == 0.0
    assert summary["median_mass_ratio"] == float("inf")
    with pytest.raises(ValueError, match="pair up"):
        gradcam.localisation_table([cam_hit], [mask, mask])


# --------------------------------------------------------------------------- figures and CLI


def test_overlay_blends_in_unit_range():
    gray = np.linspace(0, 255, 64 * 80).reshape(64, 80)
    cam = np.zeros((8, 10))
    cam[0, 0] = 1
    rgb = camplots.overlay(gray, cam, alpha=0.4)
    assert rgb.shape == (64, 80, 3) and rgb.dtype == np.float32
    assert rgb.min() >= 0 and rgb.max() <= 1
    plain = camplots.overlay(gray, cam, alpha=0.0)
    np.testing.assert_allclose(plain[..., 0], gray / 255, atol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        camplots.overlay(gray, cam, alpha=2)


@pytest.fixture(scope="module")
def xray_and_mask(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cam")
    gray = np.full((120, 100), 40, np.uint8)
    gray[:40, 60:] = 230
    mask = np.zeros((120, 100), np.uint8)
    mask[:40, 60:] = 255
    Image.fromarray(gray).save(folder / "view1_frontal.png")
    Image.fromarray(mask).save(folder / "view1_frontal_pneumothorax_mask.png")
    return folder / "view1_frontal.png", folder / "view1_frontal_pneumothorax_mask.png"


def test_gradcam_figure_from_files_with_mask(chexnet, xray_and_mask):
    image_path, mask_path = xray_and_mask
    result = gradcam.cam_for_image(image_path, chexnet, "Pneumothorax")
    assert result.cam.shape == result.gray.shape == SHAPE[:2]
    assert result.output == "Pneumothorax" and 0 <= result.probability <= 1
    mask = gradcam.load_mask(mask_path, result.cam.shape)
    assert mask.shape == SHAPE[:2] and mask.mean() == pytest.approx(1 / 3 * 0.4, abs=0.02)
    fig = camplots.gradcam_figure(image_path, chexnet, output="Pneumothorax", mask=mask_path)
    assert isinstance(fig, Figure) and len(fig.axes) == 3  # image, overlay, colorbar
    assert "pointing game" in fig.axes[1].get_title() and "uniform" in fig.axes[1].get_title()
    assert len(fig.axes[1].collections) >= 1  # the mask contour
    assert fig.axes[2].get_ylabel() == "Grad-CAM (1 = this map's maximum)"


def test_batched_cams_equal_one_call_per_image(chexnet, xray_and_mask, tmp_path):
    image_path, _ = xray_and_mask
    flipped = tmp_path / "flipped.png"
    Image.open(image_path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(flipped)
    paths = [image_path, flipped, image_path]
    batched = gradcam.cams_for_images(paths, chexnet, "Pneumothorax", batch_size=2)
    assert [r.path for r in batched] == [str(p) for p in paths]
    for path, result in zip(paths, batched):
        alone = gradcam.cam_for_image(path, chexnet, "Pneumothorax")
        np.testing.assert_allclose(result.cam, alone.cam, atol=1e-4)
        assert result.probability == pytest.approx(alone.probability, abs=1e-5)
        assert result.peak == pytest.approx(alone.peak, rel=1e-4)
    assert not np.allclose(batched[0].cam, batched[1].cam)
    assert gradcam.cams_for_images([], chexnet) == []


def test_results_keep_the_raw_peak_of_the_map(chexnet, xray_and_mask):
    """``cam * peak`` is the map before normalisation: CAM of the logit, computed by hand, over
    the h×w cells (Grad-CAM's channel weight is the gradient's spatial mean, kernel / (h·w))."""
    image_path, _ = xray_and_mask
    result = gradcam.cam_for_image(image_path, chexnet, "Pneumothorax")
    x = images.to_model_input(result.gray)[None]
    maps = keras.Model(chexnet.input, chexnet.get_layer("relu").output)(x).numpy()
    kernel = chexnet.get_layer("predictions").get_weights()[0][:, PNEUMOTHORAX]
    low = np.maximum(np.einsum("nhwc,c->nhw", maps, kernel), 0) / (maps.shape[1] * maps.shape[2])
    raw = tf.image.resize(low[..., None], SHAPE[:2], method="bilinear").numpy()[0, ..., 0]
    assert result.peak == pytest.approx(raw.max(), rel=1e-3) and result.peak > 0
    np.testing.assert_allclose(result.cam * result.peak, raw, atol=2e-4 * raw.max())
    built = gradcam.CamResult("x.png", result.gray, result.cam, 0.5, "Pneumothorax", 7)
    assert built.peak is None  # results built by hand still construct


def hand_results() -> dict[str, gradcam.CamResult]:
    """Two maps of one shape, raw peaks 4 and 2: the second has half the evidence."""
    gray = np.full((48, 48), 90, np.float32)
    hot, half = np.zeros((48, 48), np.float32), np.zeros((48, 48), np.float32)
    hot[:16, -16:] = 1.0
    half[-16:, :16] = 1.0
    return {
        "true positive": gradcam.CamResult("tp.png", gray, hot, 0.91, "Pneumothorax", 0, 4.0),
        "false negative": gradcam.CamResult("fn.png", gray, half, 0.0213, "Pneumothorax", 0, 2.0),
    }


def test_cam_grid_draws_every_map_on_the_hottest_maps_scale():
    results = hand_results()
    mask = np.zeros((48, 48), bool)
    mask[:16, -16:] = True
    fig = camplots.cam_grid_figure(results, masks={"true positive": mask})
    image_axes = [ax for ax in fig.axes if ax.get_images()]
    assert len(image_axes) == 4 and len(fig.axes) == 5  # 2 rows × (image, overlay), 1 colorbar
    colorbar = next(ax for ax in fig.axes if ax not in image_axes)
    assert colorbar.get_ylabel() == "Grad-CAM, shared scale (1 = the hottest map shown)"
    titles = [ax.get_title() for ax in image_axes]
    assert titles[0] == "true positive, p = 0.91" and titles[2] == "false negative, p = 0.02"
    assert titles[1].startswith(
        "peak 1.00 of the hottest map\npointing game yes, peak inside yes\n"
    )
    assert titles[3] == "peak 0.50 of the hottest map"
    # the half-peak map is drawn at half intensity: its overlay equals the overlay of cam × 0.5
    drawn = image_axes[3].get_images()[0].get_array()
    half = camplots.overlay(results["false negative"].gray, results["false negative"].cam * 0.5)
    np.testing.assert_allclose(drawn, half, atol=1e-6)
    assert not np.allclose(drawn, camplots.overlay(half[..., 0], results["false negative"].cam))


def test_cam_grid_on_own_scales_and_its_errors():
    results = hand_results()
    fig = camplots.cam_grid_figure(results, shared_scale=False, title="each on its own")
    overlays = [ax for ax in fig.axes if ax.get_images()][1::2]
    assert all(ax.get_title() == "scaled to its own maximum" for ax in overlays)
    np.testing.assert_allclose(
        overlays[1].get_images()[0].get_array(),
        camplots.overlay(results["false negative"].gray, results["false negative"].cam),
        atol=1e-6,
    )
    assert fig.get_suptitle() == "each on its own"
    by_hand = {"case": results["true positive"]._replace(peak=None)}
    with pytest.raises(ValueError, match="no raw peak"):
        camplots.cam_grid_figure(by_hand)
    assert isinstance(camplots.cam_grid_figure(by_hand, shared_scale=False), Figure)
    with pytest.raises(ValueError, match="no results"):
        camplots.cam_grid_figure({})


def test_cam_grid_of_real_maps_from_files(chexnet, xray_and_mask, tmp_path):
    image_path, mask_path = xray_and_mask
    flipped = tmp_path / "flipped.png"
    Image.open(image_path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(flipped)
    results = dict(
        zip(
            ("original", "flipped"),
            gradcam.cams_for_images([image_path, flipped], chexnet, "Pneumothorax"),
        )
    )
    fig = camplots.cam_grid_figure(results, masks={"original": mask_path, "flipped": None})
    top = max(r.peak for r in results.values())
    overlays = [ax for ax in fig.axes if ax.get_images()][1::2]
    for ax, result in zip(overlays, results.values()):
        assert ax.get_title().startswith(f"peak {result.peak / top:.2f} of the hottest map")
    assert "pointing game" in overlays[0].get_title()
    assert "pointing game" not in overlays[1].get_title()


def test_gradcam_command_writes_the_figure(tmp_path, capsys, tchexnet, xray_and_mask):
    image_path, mask_path = xray_and_mask
    weights = models.save_weights_atomic(tchexnet, tmp_path / "tchexnet.weights.h5")
    out = tmp_path / "figs" / "cam.png"
    code = cli.main(
        [
            "gradcam",
            str(image_path),
            "--model",
            "tchexnet",
            "--weights",
            str(weights),
            "--out",
            str(out),
            "--mask",
            str(mask_path),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["output"] == "Pneumothorax" and 0 <= report["probability"] <= 1
    assert set(report["localisation"]) == {
        "hit",
        "hit_tolerant",
        "iou",
        "mass_inside",
        "mask_fraction",
        "mass_ratio",
    }
    assert out.read_bytes()[:4] == b"\x89PNG" and report["figure"] == str(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["cam.png"]
    code = cli.main(
        [
            "gradcam",
            str(image_path),
            "--model",
            "tchexnet",
            "--weights",
            str(weights),
            "--output",
            "Effusion",
            "--out",
            str(out),
        ]
    )
    assert code == 2 and "one output" in capsys.readouterr().err


def test_localisation_table_is_a_dataframe_of_floats():
    table = gradcam.localisation_table([np.eye(3)], [np.eye(3)])
    assert isinstance(table, pd.DataFrame) and table.loc[0, "mass_inside"] == 1.0


def test_one_name_per_score_and_both_groups_of_positives():
    """The pointing game is the tolerant score, the peak inside the mask the strict one."""
    mask = np.zeros((40, 40), bool)
    mask[:10, :10] = True
    inside, border, far = np.zeros((3, 40, 40))
    inside[5, 5] = border[15, 5] = far[35, 35] = 1.0  # border: 6 px from the mask
    table = gradcam.localisation_table([inside, border, far], [mask] * 3, names=["a", "b", "c"])
    summary = gradcam.localisation_summary(table)
    assert summary["pointing_game"] == pytest.approx(2 / 3) == summary["hit_rate_tolerant"]
    assert summary["peak_inside"] == pytest.approx(1 / 3) == summary["hit_rate"]
    groups = gradcam.localisation_groups(table, [False, True, False])
    assert (
        groups["all positives"]["n"] == 3 and groups["detected positives"]["pointing_game"] == 1.0
    )
    assert gradcam.localisation_groups(table, [False] * 3)["detected positives"] == {"n": 0}
    text = gradcam.localisation_text(groups["all positives"], "all positives")
    assert text.startswith(
        "on all 3 positives: pointing game (peak within 15 px of the mask) 0.67, "
        "peak inside the mask 0.33, median mass ratio"
    )
    assert (
        gradcam.localisation_text({"n": 0}, "detected positives")
        == "on 0 detected positives: no maps"
    )
    assert gradcam.peak_position(border) == (15, 5)


def test_better_layer_goes_by_the_pointing_game_then_the_mass_ratio():
    table = pd.DataFrame(
        {"n": [24, 24], "pointing_game": [0.875, 0.875], "median_mass_ratio": [5.5, 4.4]},
        index=["relu", "pool4_relu"],
    )
    chosen, reason = gradcam.better_layer(table)
    assert chosen == "relu" and "ties" in reason and "relu 5.5, pool4_relu 4.4" in reason
    table.loc["pool4_relu", "pointing_game"] = 0.95  # two images more: no tie
    table["peak_inside"] = [0.19, 0.45]
    chosen, reason = gradcam.better_layer(table)
    assert chosen == "pool4_relu" and "wins" in reason
    assert "peak inside the mask: relu 0.19, pool4_relu 0.45" in reason
    assert "median mass ratio: relu 5.5, pool4_relu 4.4" in reason
    with pytest.raises(ValueError, match="no layers"):
        gradcam.better_layer(table.iloc[:0])
