"""Drawing primitives of the synthetic radiographs: canvas geometry, noise, blurs, lines, outlines.

* :class:`Canvas`: one image being drawn, each pixel's patient coordinates and its density;
* :class:`Pen`: lines and patches collected, then splatted at once;
* :class:`Shape`: a star-shaped outline tabulated by direction (lungs, heart);
* cheap float32 helpers: :func:`smoothstep`, :func:`soft_inside`, :func:`smooth3`,
  :func:`splat`, :func:`upsample2`, :func:`white_noise`, :func:`fine_noise`, :func:`bezier`;
* :func:`check_size` and :func:`check_choice`, the argument checks shared by
  :func:`~tchexnet_lib.synthetic.render.render_case` and the spec.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "Canvas",
    "DEFAULT_SIZE",
    "F32",
    "Pen",
    "Shape",
    "TAU",
    "bezier",
    "check_choice",
    "check_size",
    "fine_noise",
    "smooth3",
    "smoothstep",
    "soft_inside",
    "splat",
    "upsample2",
    "white_noise",
]

TAU = 2.0 * math.pi
_POLAR_BINS = 720
F32 = np.float32
#: CheXpert-v1.0-small's usual image size (height, width).
DEFAULT_SIZE = (320, 390)


@lru_cache(maxsize=8)
def _pixel_axes(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row (h, 1) and column (1, w) pixel-centre coordinates, shared read-only."""
    rows = np.arange(h, dtype=F32)[:, None]
    cols = np.arange(w, dtype=F32)[None, :]
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


class Canvas:
    """One image being drawn: each pixel's patient coordinates and the density so far.

    Patient coordinates: ``x`` toward the image's right (the patient's left), ``y``
    down, unit = half the width of the rib cage, origin on the midline at mid-lung
    height. ``density`` is a radiographic attenuation map: brighter = denser.
    """

    def __init__(
        self, size: tuple[int, int], centre: tuple[float, float], scale: float, angle: float
    ):
        self.h, self.w = size
        self.cx, self.cy, self.scale = float(centre[0]), float(centre[1]), float(scale)
        self.cos, self.sin = math.cos(angle), math.sin(angle)
        rows, cols = _pixel_axes(self.h, self.w)
        dc, dr = cols - F32(self.cx), rows - F32(self.cy)
        self.x = (dc * self.cos + dr * self.sin) / self.scale
        self.y = (dr * self.cos - dc * self.sin) / self.scale
        self.density = np.zeros(size, F32)

    def to_pixels(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Patient coordinates → (column, row) pixel coordinates."""
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        return (
            self.cx + self.scale * (self.cos * x - self.sin * y),
            self.cy + self.scale * (self.sin * x + self.cos * y),
        )

    def window(self, x, y, margin: float = 0.0) -> tuple[slice, slice]:
        """Pixel slices bounding the points (x, y), grown by ``margin`` patient units."""
        cols, rows = self.to_pixels(x, y)
        pad = margin * self.scale + 2
        r0, r1 = (
            int(max(0, math.floor(rows.min() - pad))),
            int(min(self.h, math.ceil(rows.max() + pad))),
        )
        c0, c1 = (
            int(max(0, math.floor(cols.min() - pad))),
            int(min(self.w, math.ceil(cols.max() + pad))),
        )
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

    def box(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice]:
        """Pixel slices bounding the patient-coordinate box [x0, x1] × [y0, y1]."""
        return self.window([x0, x1, x0, x1], [y0, y0, y1, y1])

    def units(self, pixels: float) -> float:
        """A length in pixels expressed in patient units."""
        return pixels / self.scale

    def half(self) -> Canvas:
        """The same view at half resolution: lo pixel i covers pixels 2i and 2i + 1."""
        size = ((self.h + 1) // 2, (self.w + 1) // 2)
        angle = math.atan2(self.sin, self.cos)
        return Canvas(size, ((self.cx - 0.5) / 2, (self.cy - 0.5) / 2), self.scale / 2, angle)


def upsample2(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A half-resolution array back at full resolution (pixel doubling, then smoothing)."""
    return smooth3(_double(a, shape))


def smoothstep(t):
    """0 below 0, 1 above 1, a smooth S between (float32 in, float32 out)."""
    t = np.minimum(np.maximum(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def soft_inside(rho, radius, edge: float):
    """1 inside ``rho < radius``, 0 outside, linear across a band ``edge`` wide."""
    return np.minimum(np.maximum((radius - rho) * (1.0 / edge) + 0.5, 0.0), 1.0)


def splat(shape: tuple[int, int], cols, rows, weights) -> np.ndarray:
    """Sum point weights into their nearest pixels (points off the image are dropped).

    Callers blur the result, so nearest-pixel splatting is smooth enough and 4× cheaper
    than bilinear.
    """
    h, w = shape
    c = np.rint(cols).astype(np.intp)
    r = np.rint(rows).astype(np.intp)
    ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    out = np.bincount(
        r[ok] * w + c[ok], weights=np.broadcast_to(weights, c.shape)[ok], minlength=h * w
    )
    return out.reshape(h, w).astype(F32)


def smooth3(a: np.ndarray) -> np.ndarray:
    """A cheap [1, 2, 1] / 4 blur along both axes (about a Gaussian of sigma 0.7)."""
    out = a + a
    out[1:] += a[:-1]
    out[:-1] += a[1:]
    res = out + out
    res[:, 1:] += out[:, :-1]
    res[:, :-1] += out[:, 1:]
    res *= F32(1.0 / 16.0)
    return res


def white_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Zero-mean, unit-variance uniform noise (several times faster to draw than Gaussian)."""
    noise = rng.random(shape, dtype=F32)
    noise -= 0.5
    noise *= F32(math.sqrt(12.0))
    return noise


def _double(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Each pixel of a half-size array repeated 2 × 2, cropped to ``shape``."""
    h, w = a.shape
    out = np.empty((2 * h, 2 * w), F32)
    for dr in (0, 1):
        for dc in (0, 1):
            out[dr::2, dc::2] = a
    return out[: shape[0], : shape[1]]


def fine_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Noise with a correlation length of about two pixels and unit spread.

    Drawn at half resolution, doubled and smoothed: far cheaper than
    full-resolution Gaussian noise blurred.
    """
    h, w = shape
    half = white_noise(rng, ((h + 1) // 2, (w + 1) // 2))
    return smooth3(_double(half, shape)) * F32(1.6)


def bezier(points: Sequence[tuple[float, float]], n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A Bézier curve of any degree from its control points, as n points (de Casteljau)."""
    t = np.linspace(0.0, 1.0, n)[:, None, None]
    pts = np.asarray(points, np.float64)[None]
    while pts.shape[1] > 1:
        pts = (1 - t) * pts[:, :-1] + t * pts[:, 1:]
    return pts[:, 0, 0], pts[:, 0, 1]


def _resample(cols: np.ndarray, rows: np.ndarray, step: float = 0.5):
    """A pixel polyline resampled every ``step`` pixels; also the unit normals there."""
    seg = np.hypot(np.diff(cols), np.diff(rows))
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, arc[-1], max(2, int(arc[-1] / step) + 1))
    c, r = np.interp(t, arc, cols), np.interp(t, arc, rows)
    dc, dr = np.gradient(c), np.gradient(r)
    norm = np.maximum(np.hypot(dc, dr), 1e-9)
    return c, r, -dr / norm, dc / norm


class Pen:
    """Collects weighted points along lines (and filled patches); :meth:`image` draws them at once.

    One splat for all of a device's lines is much cheaper than one per line.
    """

    def __init__(self, cv: Canvas):
        self.cv = cv
        self.points: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.patches: list[tuple[tuple[slice, slice], np.ndarray]] = []

    def stroke(
        self, x, y, weight: float = 1.0, offsets: Sequence[float] = (0.0,), step: float = 0.5
    ) -> None:
        """A line along the patient-coordinate polyline (x, y); ``offsets`` (pixels) adds parallel copies."""
        c, r, nc, nr = _resample(*self.cv.to_pixels(x, y), step=step)
        for off in offsets:
            self.points.append((c + off * nc, r + off * nr, np.full(c.size, weight * step)))

    def fill(self, sl: tuple[slice, slice], patch: np.ndarray) -> None:
        """Add a window-sized density patch."""
        self.patches.append((sl, patch))

    def image(self) -> np.ndarray:
        """Everything drawn so far as an (h, w) float32 image (unblurred line density)."""
        shape = (self.cv.h, self.cv.w)
        if self.points:
            cols, rows, wts = (np.concatenate(v) for v in zip(*self.points))
            out = splat(shape, cols, rows, wts)
        else:
            out = np.zeros(shape, F32)
        for sl, patch in self.patches:
            out[sl] += patch
        return out


@dataclass(frozen=True)
class Shape:
    """A star-shaped outline: its radius in every direction around a centre (patient units)."""

    cx: float
    cy: float
    table: np.ndarray

    @classmethod
    def from_outline(cls, x, y, cx: float, cy: float) -> Shape:
        """Tabulate the outline points (x, y), which every ray from (cx, cy) must cross once."""
        angle = np.arctan2(np.asarray(y) - cy, np.asarray(x) - cx)
        radius = np.hypot(np.asarray(x) - cx, np.asarray(y) - cy)
        order = np.argsort(angle)
        grid = (np.arange(_POLAR_BINS) + 0.5) * (TAU / _POLAR_BINS) - math.pi
        table = np.interp(grid, angle[order], radius[order], period=TAU).astype(F32)
        return cls(float(cx), float(cy), table)

    def polar(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Distance from the centre and direction (radians) of each point."""
        dx, dy = x - F32(self.cx), y - F32(self.cy)
        return np.hypot(dx, dy), np.arctan2(dy, dx)

    def radius(self, phi, table: np.ndarray | None = None) -> np.ndarray:
        """The outline's radius in directions ``phi`` (linear between table bins)."""
        table = self.table if table is None else table
        pos = (phi + F32(math.pi)) * F32(_POLAR_BINS / TAU) - F32(0.5)
        i0 = np.floor(pos)
        frac = pos - i0
        i0 = i0.astype(np.intp) % _POLAR_BINS
        t0 = table[i0]
        return t0 + (table[(i0 + 1) % _POLAR_BINS] - t0) * frac

    def outline(self, table: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Points of the outline (for windows and strokes)."""
        table = self.table if table is None else table
        grid = (np.arange(_POLAR_BINS) + 0.5) * (TAU / _POLAR_BINS) - math.pi
        return self.cx + table * np.cos(grid), self.cy + table * np.sin(grid)

    def angles(self) -> np.ndarray:
        """The direction of each table bin."""
        return ((np.arange(_POLAR_BINS) + 0.5) * (TAU / _POLAR_BINS) - math.pi).astype(F32)


def check_choice(value: str, allowed: Sequence[str], name: str) -> None:
    """ValueError naming the allowed values unless ``value`` is one of them."""
    if value not in allowed:
        raise ValueError(
            f"{name}={value!r} not understood; use one of {', '.join(map(repr, allowed))}"
        )


def check_size(size) -> tuple[int, int]:
    """(height, width) as ints, each between 64 and 2048."""
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size={size!r} must be (height, width), e.g. {DEFAULT_SIZE}") from None
    if not (64 <= h <= 2048 and 64 <= w <= 2048):
        raise ValueError(f"size={size!r}: height and width must be between 64 and 2048 pixels")
    return h, w
