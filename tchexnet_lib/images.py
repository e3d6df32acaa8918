"""One path from an image file to a model input, shared by inference, features and training.

The pipeline, one small function per step::

    check_image_file ─► read_grayscale ─► resize_gray ─► to_model_input   (= load_image)
    preflight (every file, before tf.data) ─► make_dataset (tf.data over load_image)

:func:`load_image` is *the* preprocessing: the CLI, the feature store and training all call it
(training through :func:`make_dataset`, which maps the very same function), so the network never
sees differently scaled pixels at training and at inference time. The original tCheXNet did:
its training generator scaled by 1/255 twice; :func:`paper_training_input` reproduces that defect
for teaching and :func:`check_model_input` catches it.

Policies:

- **Decoder.** Pillow, not ``tf.image.decode_*``: TensorFlow's decode errors do not name the file,
  it has no decompression-bomb guard and it ignores EXIF orientation and 16-bit scaling.
- **Untrusted files.** :func:`check_image_file` reads only the header: it refuses DICOM, non-images,
  tiny images and images over ``config.max_pixels`` before any pixel is decoded, and catches
  truncated JPEG/PNG files (which Pillow's ``verify()`` accepts) from their missing end markers.
- **Orientation.** With ``config.exif_transpose`` (the default) the EXIF orientation tag is applied:
  the model sees what an image viewer shows. CheXpert's JPEGs carry no such tag, so this only
  matters for user-supplied photos of films and re-exported files.
- **Gray levels.** Everything becomes one float32 channel in [0, 255]: 8-bit gray as is; 16-bit
  gray divided by 257 (Pillow's ``convert("L")`` clips 16-bit data instead of scaling it); colour
  and palette images through ITU-R 601 luma exactly as Pillow's ``convert("L")`` computes it, so a
  gray image stored as RGB, palette or gray gives identical values. **Alpha is ignored** (not
  composited onto a background): radiographs have no meaningful transparency.
- **Resizing.** Pillow's bilinear filter on float data; it antialiases when shrinking, like the
  ``skimage.transform.resize`` of the original training generator. ``interpolation="nearest"``
  reproduces the original hello-world scripts (Keras ``load_img(target_size=...)``).
- **Normalisation.** Gray is replicated to 3 channels, then scaled as the backbone expects
  (``PreprocessConfig.normalisation``): for DenseNet-121 exactly
  ``keras.applications.densenet.preprocess_input`` ("torch" mode: /255, ImageNet mean and std).

Importing this module is cheap: TensorFlow, Keras, scikit-image and tqdm are imported inside the
functions that need them.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tchexnet_lib import errors
from tchexnet_lib.config import PreprocessConfig, progress_bar

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INTERPOLATIONS",
    "MODEL_INPUT_RANGE",
    "ON_ERROR",
    "PreflightReport",
    "check_image_file",
    "check_model_input",
    "image_info",
    "load_image",
    "make_dataset",
    "paper_training_input",
    "preflight",
    "read_grayscale",
    "resize_gray",
    "to_model_input",
]

PathLike = str | os.PathLike

#: Names of ``PreprocessConfig.interpolation``: antialiased bilinear, or nearest neighbour.
INTERPOLATIONS: tuple[str, ...] = ("bilinear", "nearest")
#: What :func:`preflight` does with a bad file: stop the run ("raise") or report it ("skip").
ON_ERROR: tuple[str, ...] = ("raise", "skip")

#: ImageNet statistics used by ``keras.applications.densenet.preprocess_input`` (RGB order).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Smallest and largest value any channel of a correctly preprocessed image can take.
MODEL_INPUT_RANGE = (
    (0.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0],  # ≈ -2.118: black, red channel
    (1.0 - IMAGENET_MEAN[2]) / IMAGENET_STD[2],  # ≈ 2.640: white, blue channel
)
_RANGE_SLACK = 1e-3
# A correctly normalised image that is not all black has some value above this; an image scaled
# by 1/255 twice has every value in [0, 1/255] before normalisation, so all below ≈ -1.787.
_TWICE_SCALED_MAX = -1.7

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
# Modes that go through RGB and then Pillow's luma; "1" becomes 0/255.
_VIA_RGB_MODES = frozenset({"1", "P", "PA", "RGB", "RGBA", "RGBX", "LA", "CMYK", "YCbCr"})
_BIT_DEPTHS = {"1": 1, "I": 32, "F": 32}
_JPEG_FORMATS = frozenset({"JPEG", "MPO"})  # MPO: camera JPEGs holding several frames
_JPEG_EOI = b"\xff\xd9"
_PNG_IEND = b"IEND\xaeB`\x82"  # chunk type + its fixed CRC: cannot be mistaken for data
_TAIL_BYTES = 1024  # end markers are looked for here, so trailing padding is tolerated
_DICOM_REASON = "DICOM file: convert it to PNG or JPEG first (e.g. with pydicom)"
_EXIF_ORIENTATION = 0x0112
_PROGRESS_MIN_FILES = 200

# warnings.catch_warnings() swaps process-wide state; tf.data opens files from several threads.
_WARNINGS_LOCK = threading.Lock()


def _read_head_and_tail(path: PathLike) -> tuple[bytes, bytes, int]:
    """Return the first 132 bytes, the last ``_TAIL_BYTES`` bytes and the size of a file."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(132)
        fh.seek(max(0, size - _TAIL_BYTES))
        tail = fh.read()
    return head, tail, size


def _not_an_image_reason(head: bytes) -> str:
    """Describe what a file Pillow cannot identify starts with (HTML error pages are common)."""
    text = head[:64].decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    first_line = text.splitlines()[0][:20] if text else ""
    if first_line and first_line.isprintable() and "\ufffd" not in first_line:
        return f"not an image (starts with {first_line!r})"
    return f"not an image (unknown format, starts with bytes {head[:8].hex(' ')})"


def _bomb_reason(exc: Exception, config: PreprocessConfig) -> str:
    """Reason for a file Pillow refused as a bomb (its message holds the pixel count)."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = f"{int(match.group(1)):,} px" if match else "more pixels than Pillow opens"
    return f"too large ({pixels}, limit {config.max_pixels:,})"


@contextmanager
def _open_image(path: PathLike, config: PreprocessConfig) -> Iterator[Image.Image]:
    """Open an image lazily (header only) and turn Pillow's refusals into :class:`errors.ImageError`.

    Pillow's own bomb warning is silenced locally (our ``config.max_pixels`` decides), and its
    bomb error becomes an errors.ImageError; ``Image.MAX_IMAGE_PIXELS`` is never changed.
    """
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise errors.ImageError(path, _bomb_reason(exc, config)) from exc
    except FileNotFoundError as exc:
        raise errors.ImageError(path, "file not found") from exc
    except UnidentifiedImageError as exc:
        head, _, _ = _read_head_and_tail(path)
        raise errors.ImageError(path, _not_an_image_reason(head)) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise errors.ImageError(path, f"cannot read image header: {exc}") from exc
    with image:
        yield image


def _check_size(path: PathLike, width: int, height: int, config: PreprocessConfig) -> None:
    """Raise :class:`errors.ImageError` when the header size is outside ``config``'s limits."""
    if min(width, height) < config.min_side:
        raise errors.ImageError(path, f"too small ({width}×{height} px, need ≥ {config.min_side})")
    if width * height > config.max_pixels:
        raise errors.ImageError(
            path,
            f"too large ({width}×{height} = {width * height:,} px, limit {config.max_pixels:,})",
        )


def _check_end_marker(path: PathLike, image_format: str | None, tail: bytes) -> None:
    """Raise :class:`errors.ImageError` for a JPEG or PNG that lacks its end marker (truncated).

    Pillow's ``verify()`` accepts a truncated JPEG; only a full decode would fail. Searching
    the last KiB rather than the last two bytes tolerates padding written after the marker.
    """
    if image_format in _JPEG_FORMATS and _JPEG_EOI not in tail:
        raise errors.ImageError(path, "truncated JPEG (no end-of-image marker)")
    if image_format == "PNG" and _PNG_IEND not in tail:
        raise errors.ImageError(path, "truncated PNG (no IEND chunk)")


def check_image_file(
    path: PathLike, config: PreprocessConfig = PreprocessConfig()
) -> tuple[int, int]:
    """Check a file cheaply, from its header, before any pixel is decoded.

    Runs in bounded time and memory whatever the header claims (e.g. 40000×40000).
    The truncation check looks for the JPEG/PNG end marker only: corrupt data with an intact
    end is found by :func:`read_grayscale`'s full decode, and a JPEG whose data stops early
    at an end marker is decoded by libjpeg with the rest filled in (nothing can detect that).

    Args:
        path: the image file.
        config: supplies ``min_side`` and ``max_pixels``.

    Returns:
        ``(width, height)`` from the header, before any EXIF rotation.

    Raises:
        ImageError: missing or unreadable file, empty file, DICOM, not an image, too small,
            too large, or a truncated JPEG/PNG. The message names the file and the cause.
    """
    try:
        head, tail, size = _read_head_and_tail(path)
    except FileNotFoundError as exc:
        raise errors.ImageError(path, "file not found") from exc
    except IsADirectoryError as exc:
        raise errors.ImageError(path, "is a directory, not an image file") from exc
    except OSError as exc:
        raise errors.ImageError(path, f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise errors.ImageError(path, "empty file (0 bytes)")
    if head[128:132] == b"DICM" or Path(path).suffix.lower() == ".dcm":
        raise errors.ImageError(path, _DICOM_REASON)
    with _open_image(path, config) as image:
        width, height = image.size
        image_format = image.format
    _check_size(path, width, height, config)
    _check_end_marker(path, image_format, tail)
    return width, height


# ---------------------------------------------------------------------------------------------
# Decode, resize, normalise
# ---------------------------------------------------------------------------------------------


def _pixels_to_gray(image: Image.Image) -> np.ndarray:
    """Turn a decoded Pillow image of any supported mode into float32 gray in [0, 255].

    Raises:
        ValueError: for a mode with no defined gray conversion (e.g. "HSV", "LAB").
    """
    mode = image.mode
    if mode == "L":
        return np.array(image, dtype=np.float32)
    if mode in _SIXTEEN_BIT_MODES:
        # 16-bit full scale 65535 maps to 255; "I" (32-bit) may hold values outside 16 bits.
        return np.clip(np.array(image, dtype=np.float32) / 257.0, 0.0, 255.0)
    if mode == "F":
        return np.clip(np.array(image, dtype=np.float32), 0.0, 255.0)
    if mode in _VIA_RGB_MODES:
        rgb = image if mode == "RGB" else image.convert("RGB")  # drops alpha
        # Pillow's integer luma (R*299 + G*587 + B*114)/1000 maps gray (v, v, v) to exactly v.
        return np.array(rgb.convert("L"), dtype=np.float32)
    raise ValueError(f"unsupported image mode {mode!r}")


def read_grayscale(path: PathLike, config: PreprocessConfig = PreprocessConfig()) -> np.ndarray:
    """Check and decode an image file to one gray channel.

    Args:
        path: the image file (anything Pillow reads; CheXpert files are 8-bit gray JPEGs).
        config: supplies the header limits and ``exif_transpose``.

    Returns:
        float32 array of shape (height, width) with values in [0, 255], after the EXIF
        rotation when ``config.exif_transpose``. See the module docstring for each mode.

    Raises:
        ImageError: any problem :func:`check_image_file` finds, a decode failure (e.g. corrupt
            data) or an unsupported mode; the message names the file.
    """
    check_image_file(path, config)
    with _open_image(path, config) as image:
        try:
            image.load()  # the full decode: lazily opened images fail only here
            if config.exif_transpose:
                image = ImageOps.exif_transpose(image)
            return _pixels_to_gray(image)
        except errors.ImageError:
            raise
        except Exception as exc:  # Pillow's decoders raise many types on bad data
            raise errors.ImageError(
                path, f"cannot decode image: {type(exc).__name__}: {exc}"
            ) from exc


def _resample_filter(interpolation: str) -> int:
    """Map ``PreprocessConfig.interpolation`` to Pillow's filter constant."""
    filters = {"bilinear": Image.BILINEAR, "nearest": Image.NEAREST}
    if interpolation not in filters:
        raise ValueError(
            f"interpolation={interpolation!r} is not supported; use one of {sorted(filters)}"
        )
    return filters[interpolation]


def resize_gray(gray: np.ndarray, config: PreprocessConfig = PreprocessConfig()) -> np.ndarray:
    """Resize one gray channel to ``config.size``.

    Args:
        gray: float array of shape (h, w), values in [0, 255].
        config: ``size`` is (height, width); ``interpolation`` is "bilinear" (antialiased when
            shrinking, like the original training generator) or "nearest" (like the original
            hello-world scripts' ``load_img(target_size=...)``).

    Returns:
        float32 array of shape ``config.size``.

    Raises:
        ValueError: ``gray`` is not 2-D, or the interpolation name is unknown.
    """
    if np.ndim(gray) != 2:
        raise ValueError(f"resize_gray expects a 2-D (h, w) array, got shape {np.shape(gray)}")
    resample = _resample_filter(config.interpolation)
    height, width = config.size
    image = Image.fromarray(np.ascontiguousarray(gray, dtype=np.float32))  # mode "F"
    return np.array(image.resize((width, height), resample), dtype=np.float32)  # PIL: (w, h)


def to_model_input(gray_resized: np.ndarray, normalisation: str = "torch") -> np.ndarray:
    """Replicate gray to RGB and normalise exactly as the backbone expects.

    Args:
        gray_resized: float array of shape (h, w), values in [0, 255].
        normalisation: ``"torch"`` (DenseNet-121, CheXNet: /255, minus ImageNet mean, over
            ImageNet std, per channel; ``keras.applications.densenet.preprocess_input``) or
            ``"tf"`` (to [-1, 1]), as ``keras.applications.imagenet_utils.preprocess_input``.

    Returns:
        float32 array of shape (h, w, 3).

    Raises:
        ValueError: the input is not 2-D.
    """
    from keras.applications.imagenet_utils import preprocess_input

    if np.ndim(gray_resized) != 2:
        raise ValueError(f"to_model_input expects a 2-D (h, w) array, got {np.shape(gray_resized)}")
    # A fresh array: preprocess_input normalises float32 input in place.
    rgb = np.repeat(np.asarray(gray_resized, dtype=np.float32)[..., None], 3, axis=-1)
    return np.asarray(preprocess_input(rgb, mode=normalisation), dtype=np.float32)


def load_image(path: PathLike, config: PreprocessConfig = PreprocessConfig()) -> np.ndarray:
    """The one preprocessing path: file → checked → gray → resized → normalised.

    Used unchanged by inference, feature extraction and training (:func:`make_dataset`).

    Args:
        path: the image file.
        config: how to preprocess; the defaults are CheXNet's.

    Returns:
        float32 array of shape (*config.size, 3), within :data:`MODEL_INPUT_RANGE`.

    Raises:
        ImageError: the file is unusable; the message names it.
    """
    return to_model_input(resize_gray(read_grayscale(path, config), config), config.normalisation)


# ---------------------------------------------------------------------------------------------
# Range check and the paper's defect
# ---------------------------------------------------------------------------------------------


def _as_batch(batch: Any, where: str) -> np.ndarray:
    """Return ``batch`` as a float (n, h, w, 3) array (tf tensors included)."""
    x = np.asarray(batch, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3 or x.shape[0] == 0:
        raise ValueError(f"{where}: expected (h, w, 3) or (n, h, w, 3) with n ≥ 1, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{where}: contains NaN or infinite values")
    return x


def check_model_input(batch: Any, where: str = "model input") -> None:
    """Check that images look like :func:`to_model_input` output; catch scaling mistakes.

    For DenseNet-121's ``"torch"`` normalisation (CheXNet's), the one the lessons teach.

    Checks, in order: every value within :data:`MODEL_INPUT_RANGE` (±1e-3), which catches
    0..255 data; the three channels are not identical, which catches replicated gray that was
    never normalised (e.g. 0..1 data: normalisation shifts each channel differently, so it
    never leaves two channels equal); and not every image has its maximum below -1.7, which is
    what scaling by 1/255 twice (the original tCheXNet training bug) gives.

    Args:
        batch: (h, w, 3) or (n, h, w, 3), numpy array or TensorFlow tensor.
        where: names the data in the error message.

    Raises:
        ValueError: with the symptom and the likely fix.
    """
    x = _as_batch(batch, where)
    low, high = float(x.min()), float(x.max())
    lower, upper = MODEL_INPUT_RANGE
    if high > upper + _RANGE_SLACK:
        raise ValueError(
            f"{where}: missing normalisation: values up to {high:.1f}; call "
            f"images.to_model_input (a model input is at most {upper:.3f})"
        )
    if low < lower - _RANGE_SLACK:
        raise ValueError(
            f"{where}: values down to {low:.3f}, below {lower:.3f}: not normalised by "
            "images.to_model_input"
        )
    if np.array_equal(x[..., 0], x[..., 1]) and np.array_equal(x[..., 1], x[..., 2]):
        raise ValueError(
            f"{where}: missing normalisation: the 3 channels are identical (values in "
            f"[{low:.3f}, {high:.3f}]); call images.to_model_input"
        )
    if np.all(x.reshape(len(x), -1).max(axis=1) < _TWICE_SCALED_MAX):
        raise ValueError(
            f"{where}: every image has its maximum below {_TWICE_SCALED_MAX} (max {high:.3f}): "
            "looks scaled by 1/255 twice (the original tCheXNet training bug) — or the image "
            "is entirely black"
        )


def paper_training_input(path: PathLike, size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """The original tCheXNet training generator's preprocessing, kept as a documented DEFECT.

    ``skimage.transform.resize`` returns floats in [0, 1]; ``preprocess_input`` then divides by
    255 again, so the network was trained on near-constant images (every value ≈ the ImageNet
    mean over std) while inference fed it properly scaled ones. For teaching only: never train
    on this. :func:`check_model_input` raises on its output.

    Args:
        path: the image file (header-checked first, as every file here is).
        size: (height, width).

    Returns:
        float32 array of shape (*size, 3), scaled by 1/255 twice.
    """
    from keras.applications.densenet import preprocess_input
    from skimage.transform import resize

    config = PreprocessConfig()
    check_image_file(path, config)
    with _open_image(path, config) as image:
        arr = np.asarray(image.convert("RGB"))
    resized = resize(arr, size)  # uint8 in, float64 in [0, 1] out
    return np.asarray(preprocess_input(resized), dtype=np.float32)  # divides by 255 again


# ---------------------------------------------------------------------------------------------
# Preflight
# ---------------------------------------------------------------------------------------------


def _reason_category(reason: str) -> str:
    """Short category of a reason for summaries: "too small (20×20 px…)" → "too small"."""
    return re.split(r"[(:]", reason, maxsplit=1)[0].strip() or reason


@dataclass(frozen=True)
class PreflightReport:
    """What :func:`preflight` kept and skipped; ``n_total == n_kept + n_skipped`` always.

    Attributes:
        n_total: number of paths checked.
        kept_indices: positions (in the input order) of the usable files, ascending.
        kept_paths: those files, as strings, aligned with ``kept_indices``.
        skipped: ``(index, path, reason)`` for each unusable file, ascending by index.
    """

    n_total: int
    kept_indices: tuple[int, ...]
    kept_paths: tuple[str, ...]
    skipped: tuple[tuple[int, str, str], ...]

    def __post_init__(self) -> None:
        if len(self.kept_indices) != len(self.kept_paths):
            raise ValueError("kept_indices and kept_paths differ in length")
        if self.n_total != self.n_kept + self.n_skipped:
            raise ValueError(
                f"report does not reconcile: {self.n_total} files != "
                f"{self.n_kept} kept + {self.n_skipped} skipped"
            )

    @property
    def n_kept(self) -> int:
        """Number of usable files."""
        return len(self.kept_indices)

    @property
    def n_skipped(self) -> int:
        """Number of unusable files."""
        return len(self.skipped)

    def summary(self) -> str:
        """One line, e.g. ``"6 files: 3 kept, 3 skipped (2 not an image, 1 too small)"``."""
        text = f"{self.n_total} files: {self.n_kept} kept, {self.n_skipped} skipped"
        if not self.skipped:
            return text
        counts = Counter(_reason_category(reason) for _, _, reason in self.skipped)
        return text + " (" + ", ".join(f"{n} {c}" for c, n in sorted(counts.items())) + ")"

    def to_dict(self) -> dict:
        """Plain-JSON form (for ``files.save_json``)."""
        return {
            "n_total": self.n_total,
            "n_kept": self.n_kept,
            "n_skipped": self.n_skipped,
            "kept_indices": list(self.kept_indices),
            "skipped": [{"index": i, "path": p, "reason": r} for i, p, r in self.skipped],
        }


def preflight(
    paths: Iterable[PathLike],
    config: PreprocessConfig = PreprocessConfig(),
    on_error: str = "raise",
    progress: bool = True,
) -> PreflightReport:
    """Run :func:`check_image_file` on every path before any tf.data pipeline touches them.

    TensorFlow's decode errors do not name the file, and ``ignore_errors()`` drops elements
    silently so outputs stop lining up with CSV rows: bad files are found here instead.

    Args:
        paths: image files, in the order the labels use.
        config: header limits.
        on_error: "raise": after checking all files, raise for the first bad one (naming how
            many more are bad); "skip": report the bad ones and keep the rest.
        progress: show a tqdm bar (only for 200 files or more).

    Returns:
        A :class:`PreflightReport` (with nothing skipped in "raise" mode).

    Raises:
        ValueError: unknown ``on_error``.
        ImageError: in "raise" mode, for the first bad file.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error={on_error!r}: use 'raise' or 'skip'")
    paths = [os.fspath(p) for p in paths]
    kept: list[int] = []
    bad: list[tuple[int, errors.ImageError]] = []
    bar = progress_bar(
        paths,
        desc="preflight",
        unit="file",
        disable=not progress or len(paths) < _PROGRESS_MIN_FILES,
    )
    for index, path in enumerate(bar):
        try:
            check_image_file(path, config)
            kept.append(index)
        except errors.ImageError as exc:
            bad.append((index, exc))
    if bad and on_error == "raise":
        first = bad[0][1]
        more = f" (and {len(bad) - 1} more bad files)" if len(bad) > 1 else ""
        raise errors.ImageError(first.path, first.reason + more) from first
    return PreflightReport(
        n_total=len(paths),
        kept_indices=tuple(kept),
        kept_paths=tuple(paths[i] for i in kept),
        skipped=tuple((i, paths[i], exc.reason) for i, exc in bad),
    )


# ---------------------------------------------------------------------------------------------
# tf.data
# ---------------------------------------------------------------------------------------------


def _load_for_tf(path: bytes | str, config: PreprocessConfig) -> np.ndarray:
    """:func:`load_image` for ``tf.numpy_function``, whose error text must name the file."""
    path = path.decode() if isinstance(path, bytes) else str(path)
    try:
        return load_image(path, config)
    except errors.ImageError:
        raise  # its message already starts with the path
    except Exception as exc:  # anything else would reach TF without the path
        raise errors.ImageError(path, f"{type(exc).__name__}: {exc}") from exc


def make_dataset(
    paths: Sequence[PathLike],
    config: PreprocessConfig = PreprocessConfig(),
    batch_size: int = 16,
    num_parallel_calls: int | None = None,
    labels: np.ndarray | Sequence | None = None,
) -> tf.data.Dataset:
    """Stream batches of :func:`load_image` outputs, in order; run :func:`preflight` first.

    Only the paths are held in memory; images are decoded in parallel (order kept by
    ``deterministic=True``) and prefetched. There is no ``ignore_errors()``: a bad file stops
    the iteration with an error naming it, rather than silently misaligning labels.

    Args:
        paths: image files.
        config: preprocessing, as for :func:`load_image`.
        batch_size: images per batch; the last batch may be smaller.
        num_parallel_calls: decode parallelism; None means ``tf.data.AUTOTUNE``.
        labels: optional array aligned with ``paths`` (first axis); then elements are (x, y).

    Returns:
        A ``tf.data.Dataset`` of float32 ``x`` with shape (batch, *config.size, 3), or of
        ``(x, y)`` with ``y`` of shape (batch, *labels.shape[1:]).

    Raises:
        ValueError: empty ``paths``, ``labels`` of another length, batch_size < 1, or an
            unknown interpolation.
    """
    import tensorflow as tf

    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("make_dataset: no paths given")
    if batch_size < 1:
        raise ValueError(f"make_dataset: batch_size must be ≥ 1, got {batch_size}")
    _resample_filter(config.interpolation)  # fail now, not inside the first batch
    shape = (*config.size, 3)

    def load_numpy(path: bytes) -> np.ndarray:
        return _load_for_tf(path, config)

    def load(path: tf.Tensor) -> tf.Tensor:
        x = tf.numpy_function(load_numpy, [path], tf.float32, stateful=False)
        x.set_shape(shape)  # numpy_function's output shape is unknown to TF
        return x

    def load_with_label(path: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return load(path), y

    if labels is None:
        ds = tf.data.Dataset.from_tensor_slices(paths)
        mapper = load
    else:
        labels = np.asarray(labels)
        if len(labels) != len(paths):
            raise ValueError(f"make_dataset: {len(labels)} labels for {len(paths)} paths")
        # Paths and labels sliced together: alignment holds by construction.
        ds = tf.data.Dataset.from_tensor_slices((paths, labels))
        mapper = load_with_label
    parallel = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls
    ds = ds.map(mapper, num_parallel_calls=parallel, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------------------------
# Notebook helper
# ---------------------------------------------------------------------------------------------


def image_info(path: PathLike) -> dict:
    """Describe an image file from its header, without decoding pixels (for notebooks).

    Args:
        path: the image file.

    Returns:
        ``{"path", "format", "mode", "size": (width, height), "bit_depth",
        "exif_orientation": int or None, "has_exif_orientation": bool}``; an orientation other
        than 1 means :func:`read_grayscale` rotates or flips the image.

    Raises:
        ImageError: the file cannot be opened as an image.
    """
    with _open_image(path, PreprocessConfig()) as image:
        orientation = image.getexif().get(_EXIF_ORIENTATION)
        mode = image.mode
        return {
            "path": os.fspath(path),
            "format": image.format,
            "mode": mode,
            "size": image.size,
            "bit_depth": 16 if mode.startswith("I;16") else _BIT_DEPTHS.get(mode, 8),
            "exif_orientation": orientation,
            "has_exif_orientation": orientation not in (None, 1),
        }
