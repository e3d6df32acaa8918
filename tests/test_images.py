"""Tests for tchexnet_lib.images on real files written here (no mocks)."""

from __future__ import annotations

import pickle
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tchexnet_lib import errors, images
from tchexnet_lib.config import PreprocessConfig

SMALL = PreprocessConfig(size=(64, 64))
SMALL_NEAREST = PreprocessConfig(size=(64, 64), interpolation="nearest")
WIDTH, HEIGHT = 390, 320  # like the reference CheXpert-v1.0-small file
REFERENCE_JPG = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "reference"
    / "tchexnet-paper"
    / "view1_frontal.jpg"
)


def _gray_pixels() -> np.ndarray:
    """A structured 8-bit image: two gradients, a dark disc, a bright bar; values 0..255."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    gray = xx * 255.0 / (WIDTH - 1) * 0.6 + yy * 255.0 / (HEIGHT - 1) * 0.4
    gray[(yy - 150) ** 2 + (xx - 160) ** 2 < 60**2] = 0
    gray[250:270, 40:280] = 255
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming width×height, a tiny IDAT, and IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + _png_chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    return _gray_pixels()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, gray: np.ndarray) -> dict[str, Path]:
    """The same pixels in every storage variant the module must read."""
    root = tmp_path_factory.mktemp("images")
    l_image = Image.fromarray(gray)
    out = {
        name: root / name
        for name in (
            "l.jpg",
            "l.png",
            "i16.png",
            "rgb.png",
            "rgba.png",
            "p.png",
            "la.png",
            "cmyk.jpg",
            "cmyk.tif",
            "one_bit.png",
            "i32.tif",
            "f.tif",
            "exif6.jpg",
        )
    }
    l_image.save(out["l.jpg"], quality=95)
    l_image.save(out["l.png"])
    Image.fromarray(gray.astype(np.uint16) * 257).save(out["i16.png"])
    rgb = l_image.convert("RGB")
    rgb.save(out["rgb.png"])
    rgb.convert("RGBA").save(out["rgba.png"])
    palette = Image.new("P", (WIDTH, HEIGHT))
    palette.putpalette([v for i in range(256) for v in (i, i, i)])  # index i holds gray i
    palette.frombytes(gray.tobytes())
    palette.save(out["p.png"])
    alpha = Image.fromarray(np.tile(np.arange(WIDTH, dtype=np.uint8), (HEIGHT, 1)))
    Image.merge("LA", (l_image, alpha)).save(out["la.png"])  # varying alpha: must be ignored
    rgb.convert("CMYK").save(out["cmyk.jpg"], quality=95)
    rgb.convert("CMYK").save(out["cmyk.tif"])
    l_image.point(lambda v: 255 if v > 127 else 0).convert("1", dither=Image.Dither.NONE).save(
        out["one_bit.png"]
    )
    Image.fromarray(gray.astype(np.int32) * 257).save(out["i32.tif"])
    Image.fromarray(gray.astype(np.float32) * 2 - 100).save(out["f.tif"])  # out of range
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    l_image.save(out["exif6.jpg"], quality=95, exif=exif.tobytes())
    return out


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, files: dict[str, Path]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    out = {
        "missing": root / "missing.png",
        "empty": root / "empty.jpg",
        "truncated": root / "truncated.jpg",
        "truncated_png": root / "truncated.png",
        "html": root / "page.jpg",
        "dicom": root / "scan.img",
        "tiny": root / "tiny.png",
        "huge": root / "huge.png",
        "corrupt": root / "corrupt.png",
    }
    out["empty"].write_bytes(b"")
    jpeg = files["l.jpg"].read_bytes()
    out["truncated"].write_bytes(jpeg[: len(jpeg) // 2])
    png_bytes = files["l.png"].read_bytes()
    out["truncated_png"].write_bytes(png_bytes[: len(png_bytes) // 2])
    out["html"].write_text("<!DOCTYPE html>\n<html><body>403 Forbidden</body></html>\n")
    out["dicom"].write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI" * 20)
    Image.fromarray(np.full((20, 20), 128, np.uint8)).save(out["tiny"])
    out["huge"].write_bytes(_png_header_only(40000, 40000))
    png = bytearray(files["l.png"].read_bytes())
    start = png.index(b"IDAT") + 200
    png[start : start + 200] = bytes(b ^ 0x5A for b in png[start : start + 200])
    out["corrupt"].write_bytes(bytes(png))  # IEND intact: only a full decode finds it
    return out


# --- decoding ---------------------------------------------------------------------------------


def test_import_is_cheap() -> None:
    code = (
        "import sys, tchexnet_lib.images; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'skimage', 'tqdm') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_l_png_reads_exactly(files: dict[str, Path], gray: np.ndarray) -> None:
    out = images.read_grayscale(files["l.png"])
    assert out.dtype == np.float32 and out.shape == (HEIGHT, WIDTH)
    np.testing.assert_array_equal(out, gray)


@pytest.mark.parametrize("name", ["rgb.png", "rgba.png", "p.png", "la.png", "cmyk.tif", "i32.tif"])
def test_fault_08_rgba_palette_la_equal_gray(files: dict[str, Path], name: str) -> None:
    reference = images.read_grayscale(files["l.png"])
    np.testing.assert_array_equal(images.read_grayscale(files[name]), reference)


def test_16bit_png_is_scaled_not_clipped(files: dict[str, Path], gray: np.ndarray) -> None:
    assert Image.open(files["i16.png"]).mode == "I;16"
    out = images.read_grayscale(files["i16.png"])
    np.testing.assert_allclose(out, gray, atol=1e-4, rtol=0)
    # What the module avoids: Pillow's convert("L") clips 16-bit data to white.
    assert np.asarray(Image.open(files["i16.png"]).convert("L")).mean() > gray.mean() + 50


def test_fault_08_16bit_and_8bit_give_same_model_input(files: dict[str, Path]) -> None:
    eight = images.load_image(files["l.png"], SMALL)
    sixteen = images.load_image(files["i16.png"], SMALL)
    np.testing.assert_allclose(sixteen, eight, atol=2e-3, rtol=0)


@pytest.mark.parametrize("name", ["l.jpg", "cmyk.jpg"])
def test_jpeg_variants_close_to_l_png(files: dict[str, Path], gray: np.ndarray, name: str) -> None:
    diff = np.abs(images.read_grayscale(files[name]) - gray)
    assert diff.mean() < 0.5 and diff.max() <= 12


def test_one_bit_png_is_0_or_255(files: dict[str, Path], gray: np.ndarray) -> None:
    out = images.read_grayscale(files["one_bit.png"])
    np.testing.assert_array_equal(out, np.where(gray > 127, 255.0, 0.0))


def test_float_image_is_clipped(files: dict[str, Path], gray: np.ndarray) -> None:
    out = images.read_grayscale(files["f.tif"])
    np.testing.assert_array_equal(out, np.clip(gray.astype(np.float32) * 2 - 100, 0, 255))


def test_ycbcr_mode_goes_through_luma(gray: np.ndarray) -> None:
    ycbcr = Image.fromarray(gray).convert("RGB").convert("YCbCr")
    assert np.abs(images._pixels_to_gray(ycbcr) - gray).max() <= 2


def test_unsupported_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported image mode 'HSV'"):
        images._pixels_to_gray(Image.new("HSV", (40, 40)))


def test_fault_08_exif_orientation_policy(files: dict[str, Path]) -> None:
    as_stored = images.read_grayscale(files["exif6.jpg"], PreprocessConfig(exif_transpose=False))
    as_shown = images.read_grayscale(files["exif6.jpg"], PreprocessConfig(exif_transpose=True))
    assert as_stored.shape == (HEIGHT, WIDTH)
    assert as_shown.shape == (WIDTH, HEIGHT)
    np.testing.assert_array_equal(as_shown, np.rot90(as_stored, k=-1))  # 90° clockwise
    info = images.image_info(files["exif6.jpg"])
    assert info["exif_orientation"] == 6 and info["has_exif_orientation"]
    assert images.image_info(files["l.png"])["has_exif_orientation"] is False


def test_image_info(files: dict[str, Path]) -> None:
    info = images.image_info(files["i16.png"])
    assert (info["format"], info["mode"], info["size"], info["bit_depth"]) == (
        "PNG",
        "I;16",
        (WIDTH, HEIGHT),
        16,
    )
    assert images.image_info(files["l.jpg"])["bit_depth"] == 8


# --- resizing and normalisation ---------------------------------------------------------------


def test_resize_honours_height_width_order(files: dict[str, Path]) -> None:
    gray = images.read_grayscale(files["l.png"])
    assert images.resize_gray(gray, PreprocessConfig(size=(48, 64))).shape == (48, 64)
    assert images.load_image(files["l.png"], PreprocessConfig(size=(48, 64))).shape == (48, 64, 3)


def test_bilinear_antialiases_and_nearest_aliases() -> None:
    checkerboard = (np.indices((256, 256)).sum(axis=0) % 2 * 255).astype(np.float32)
    smooth = images.resize_gray(checkerboard, SMALL)
    aliased = images.resize_gray(checkerboard, SMALL_NEAREST)
    assert smooth.dtype == np.float32
    np.testing.assert_allclose(smooth, 127.5, atol=1.0)
    assert set(np.unique(aliased)) <= {0.0, 255.0}


def test_unknown_interpolation(gray: np.ndarray) -> None:
    with pytest.raises(ValueError, match="interpolation='bicubic'"):
        images.resize_gray(gray.astype(np.float32), PreprocessConfig(interpolation="bicubic"))


def test_to_model_input_is_densenet_preprocess_input() -> None:
    from keras.applications.densenet import preprocess_input

    gray = np.linspace(0, 255, 16 * 16, dtype=np.float32).reshape(16, 16)
    out = images.to_model_input(gray)
    rgb = np.repeat(gray[..., None], 3, -1)
    expected = (rgb / 255 - np.array(images.IMAGENET_MEAN)) / np.array(images.IMAGENET_STD)
    assert out.shape == (16, 16, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, preprocess_input(rgb.copy()))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_array_equal(gray, np.linspace(0, 255, 256, dtype=np.float32).reshape(16, 16))


def test_nearest_and_bilinear_differ_and_both_valid(files: dict[str, Path]) -> None:
    bilinear = images.load_image(files["l.png"], SMALL)
    nearest = images.load_image(files["l.png"], SMALL_NEAREST)
    assert not np.array_equal(bilinear, nearest)
    images.check_model_input(bilinear)
    images.check_model_input(nearest)


# --- range check ------------------------------------------------------------------------------


def test_check_model_input_accepts_load_image(files: dict[str, Path]) -> None:
    x = images.load_image(files["l.jpg"], SMALL)
    images.check_model_input(x)
    images.check_model_input(np.stack([x, x]))
    lo, hi = images.MODEL_INPUT_RANGE
    black_white = images.to_model_input(np.array([[0.0, 255.0]], np.float32))
    assert black_white.min() == pytest.approx(lo, abs=1e-5)
    assert black_white.max() == pytest.approx(hi, abs=1e-5)


def test_check_model_input_accepts_tf_tensor(files: dict[str, Path]) -> None:
    import tensorflow as tf

    images.check_model_input(tf.constant(images.load_image(files["l.png"], SMALL)[None]))


def test_fault_06_missing_normalisation_rejected(files: dict[str, Path]) -> None:
    raw = np.repeat(images.read_grayscale(files["l.png"])[..., None], 3, -1)
    message = r"missing normalisation: values up to 255\.0; call images.to_model_input"
    with pytest.raises(ValueError, match=message):
        images.check_model_input(raw, where="batch 0")


def test_fault_06_unnormalised_0_1_rejected(files: dict[str, Path]) -> None:
    unit = np.repeat(images.read_grayscale(files["l.png"])[..., None], 3, -1) / 255.0
    with pytest.raises(ValueError, match="channels are identical"):
        images.check_model_input(unit)


def test_check_model_input_rejects_bad_shapes_and_nan() -> None:
    with pytest.raises(ValueError, match=r"\(h, w, 3\)"):
        images.check_model_input(np.zeros((8, 8)))
    nan = np.zeros((8, 8, 3), np.float32)
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        images.check_model_input(nan)


def test_fault_06_double_scaling_rejected(files: dict[str, Path]) -> None:
    x = images.paper_training_input(files["l.jpg"], size=(64, 64))
    assert x.shape == (64, 64, 3) and x.dtype == np.float32
    assert x.max() < -1.78  # every pixel within 1/255 of black after normalisation
    with pytest.raises(ValueError, match="scaled by 1/255 twice"):
        images.check_model_input(x)


# --- bad files --------------------------------------------------------------------------------


def test_check_image_file_returns_width_height(files: dict[str, Path]) -> None:
    assert images.check_image_file(files["l.jpg"]) == (WIDTH, HEIGHT)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing", "file not found"),
        ("empty", r"empty file \(0 bytes\)"),
        ("truncated", r"truncated JPEG \(no end-of-image marker\)"),
        ("truncated_png", r"truncated PNG \(no IEND chunk\)"),
        ("html", r"not an image \(starts with '<!DOCTYPE html"),
        ("dicom", r"DICOM file: convert it to PNG or JPEG first \(e\.g\. with pydicom\)"),
        ("tiny", "too small \\(20×20 px, need ≥ 32\\)"),
        ("huge", r"too large \(1,600,000,000 px, limit 64,000,000\)"),
    ],
)
def test_fault_07_bad_files_are_named_with_reason(
    bad_files: dict[str, Path], name: str, reason: str
) -> None:
    path = bad_files[name]
    for check in (images.check_image_file, images.read_grayscale, images.load_image):
        with pytest.raises(errors.ImageError, match=reason) as info:
            check(path)
        assert info.value.path == str(path)
        assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_fault_07_truncated_jpeg_passes_pillow_verify_not_ours(bad_files: dict[str, Path]) -> None:
    with Image.open(bad_files["truncated"]) as image:
        image.verify()  # Pillow's own check is fooled; ours is not (previous test)


def test_fault_07_dicom_is_refused(tmp_path: Path, files: dict[str, Path]) -> None:
    path = tmp_path / "scan.dcm"
    path.write_bytes(files["l.png"].read_bytes())
    with pytest.raises(errors.ImageError, match="DICOM file"):
        images.check_image_file(path)


def test_fault_09_decompression_bomb_refused_from_header(bad_files: dict[str, Path]) -> None:
    limit, filters = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    start = time.perf_counter()
    with pytest.raises(errors.ImageError, match="too large"):
        images.check_image_file(bad_files["huge"])
    assert time.perf_counter() - start < 1.0
    assert Image.MAX_IMAGE_PIXELS == limit and warnings.filters == filters


def test_our_limit_applies_below_pillows(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(_png_header_only(9000, 8000))  # 72 M px: Pillow only warns
    message = r"too large \(9000×8000 = 72,000,000 px, limit 64,000,000\)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(errors.ImageError, match=message):
            images.check_image_file(path)
    assert not caught  # Pillow's DecompressionBombWarning was handled, not shown
    assert images.check_image_file(path, PreprocessConfig(max_pixels=80_000_000)) == (9000, 8000)


def test_corrupt_data_fails_at_decode_naming_file(bad_files: dict[str, Path]) -> None:
    path = bad_files["corrupt"]
    assert images.check_image_file(path) == (WIDTH, HEIGHT)  # header and IEND are intact
    with pytest.raises(errors.ImageError, match="cannot decode image") as info:
        images.read_grayscale(path)
    assert info.value.path == str(path)


def test_image_error_pickles() -> None:
    error = pickle.loads(pickle.dumps(errors.ImageError("a.png", "too small")))
    assert (error.path, error.reason, str(error)) == ("a.png", "too small", "a.png: too small")


# --- preflight --------------------------------------------------------------------------------


@pytest.fixture
def six_paths(files: dict[str, Path], bad_files: dict[str, Path]) -> list[Path]:
    return [
        files["l.jpg"],
        bad_files["html"],
        files["l.png"],
        bad_files["missing"],
        bad_files["tiny"],
        files["p.png"],
    ]


def test_fault_10_preflight_names_first_bad_and_count(six_paths: list[Path]) -> None:
    with pytest.raises(errors.ImageError, match=r"not an image .*\(and 2 more bad files\)") as info:
        images.preflight(six_paths)
    assert info.value.path == str(six_paths[1])


def test_fault_10_skip_mode_reconciles_and_aligns(six_paths: list[Path]) -> None:
    report = images.preflight(six_paths, SMALL, on_error="skip")
    assert (report.n_total, report.n_kept, report.n_skipped) == (6, 3, 3)
    assert report.kept_indices == (0, 2, 5)
    assert report.kept_paths == tuple(str(six_paths[i]) for i in (0, 2, 5))
    assert [(i, p) for i, p, _ in report.skipped] == [(i, str(six_paths[i])) for i in (1, 3, 4)]
    assert report.skipped[1][2] == "file not found"
    assert report.summary() == (
        "6 files: 3 kept, 3 skipped (1 file not found, 1 not an image, 1 too small)"
    )
    assert report.to_dict()["n_skipped"] == 3


def test_preflight_all_good_and_bad_arguments(files: dict[str, Path]) -> None:
    report = images.preflight([files["l.png"], files["l.jpg"]], progress=False)
    assert report.summary() == "2 files: 2 kept, 0 skipped"
    with pytest.raises(ValueError, match="on_error='ignore'"):
        images.preflight([files["l.png"]], on_error="ignore")
    with pytest.raises(ValueError, match="does not reconcile"):
        images.PreflightReport(n_total=3, kept_indices=(0,), kept_paths=("a",), skipped=())


# --- tf.data: the one preprocessing path ------------------------------------------------------


@pytest.fixture(scope="module")
def five_paths(files: dict[str, Path]) -> list[Path]:
    return [files[name] for name in ("l.jpg", "i16.png", "exif6.jpg", "one_bit.png", "cmyk.jpg")]


def test_dataset_equals_load_image(five_paths: list[Path]) -> None:
    config = PreprocessConfig(size=(48, 64))
    batches = [x.numpy() for x in images.make_dataset(five_paths, config, batch_size=2)]
    assert [b.shape for b in batches] == [(2, 48, 64, 3), (2, 48, 64, 3), (1, 48, 64, 3)]
    single = np.stack([images.load_image(p, config) for p in five_paths])
    # Identical, not just close: training and inference share one preprocessing path.
    np.testing.assert_array_equal(np.concatenate(batches), single)
    images.check_model_input(np.concatenate(batches), where="dataset")


def test_dataset_labels_stay_aligned(five_paths: list[Path]) -> None:
    labels = np.array([0.0, 1.0, 0.0, 1.0, 1.0], np.float32)
    ds = images.make_dataset(five_paths, SMALL, batch_size=3, num_parallel_calls=4, labels=labels)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    np.testing.assert_array_equal(np.concatenate(ys), labels)
    singles = np.stack([images.load_image(p, SMALL) for p in five_paths])
    np.testing.assert_array_equal(np.concatenate(xs), singles)


def test_dataset_rejects_misaligned_labels(five_paths: list[Path]) -> None:
    with pytest.raises(ValueError, match="4 labels for 5 paths"):
        images.make_dataset(five_paths, labels=np.zeros(4))
    with pytest.raises(ValueError, match="no paths"):
        images.make_dataset([])


def test_dataset_error_names_the_file(files: dict[str, Path], bad_files: dict[str, Path]) -> None:
    import tensorflow as tf

    ds = images.make_dataset([files["l.png"], bad_files["truncated"]], SMALL, batch_size=1)
    with pytest.raises(tf.errors.OpError, match=str(bad_files["truncated"])):
        for _ in ds:
            pass


# --- reference image --------------------------------------------------------------------------


@pytest.mark.reference
def test_reference_chexpert_image() -> None:
    if not REFERENCE_JPG.exists():
        pytest.skip("needs ../shared/reference (not shipped: CheXpert terms)")
    assert images.check_image_file(REFERENCE_JPG) == (390, 320)  # width, height
    assert images.image_info(REFERENCE_JPG)["mode"] == "L"
    gray = images.read_grayscale(REFERENCE_JPG)
    assert gray.shape == (320, 390) and 0 <= gray.min() < gray.max() <= 255
    x = images.load_image(REFERENCE_JPG)
    assert x.shape == (224, 224, 3) and x.dtype == np.float32
    images.check_model_input(x, where=str(REFERENCE_JPG))
