"""A synthetic, CheXpert-shaped demo dataset: procedural chest radiographs with ground truth.

CheXpert needs a registration and 11 GB; a workshop laptop or a CI runner has
neither. This module draws a deterministic stand-in, so every notebook and
command runs offline on the same code path as the real data:

* ``domain="target"`` mirrors CheXpert-v1.0-small: ``train.csv`` / ``valid.csv``
  with the real schema (``Path, Sex, Age, Frontal/Lateral, AP/PA`` + 14
  observations valued 1.0 / 0.0 / -1.0 / blank), ``patientNNNNN/studyN/viewN_*.jpg``
  folders, mostly AP-portable images with devices, a shifted exposure curve,
  more noise and uncertain or blank labels, so :func:`tchexnet_lib.data.read_labels`
  and the paper's split recipe read it unchanged.
* ``domain="source"`` mirrors ChestX-ray14 for pretraining a demo CheXNet:
  clean PA images, ``labels.csv`` with ``Path`` + the 14 ChestX-ray14 classes.

**These are not medical images.** They are drawings that read as chest
radiographs at a glance, made for teaching and testing; no model trained on
them says anything about patients. Each finding is drawn as a caricature of
its radiographic sign, with a ground-truth mask saved beside the image:

* pneumothorax: lung retracted from the chest wall at the apex or lateral edge,
  leaving a dark rim without lung markings, bounded by a thin bright visceral
  pleural line; optionally a chest tube (a confounder: more frequent with it);
* cardiomegaly: a wider heart (cardiothoracic ratio above 0.5);
  enlarged cardiomediastinum: a wider upper mediastinum;
* pleural effusion: basal opacity with a meniscus rising laterally, blunting
  the costophrenic angle and hiding the diaphragm;
* edema: bilateral perihilar haze with interstitial texture and Kerley lines;
* consolidation / pneumonia: dense patchy opacity with air bronchograms;
  infiltration (lung opacity): fainter, ill-defined patches;
* atelectasis: a plate-like band or a wedge toward the hilum, with a raised
  hemidiaphragm (volume loss);
* nodule / mass (lung lesion): a round, slightly lobulated opacity;
* support devices: endotracheal and nasogastric tubes, central line, ECG
  leads, pacemaker, sternal wires, chest tube;
* emphysema: flat low diaphragm, dark lungs with pruned markings, bullae;
  fibrosis: basal reticular net; pleural thickening: a band along the chest
  wall; hernia: a retrocardiac opacity with an air-fluid level; fracture: a
  break in a rib.

Labels (target domain) follow CheXpert's habits: a drawn sign is labelled 1.0,
or -1.0 (uncertain) 12% of the time; an absent one is mostly blank ("not
mentioned"), sometimes an explicit 0.0 and rarely -1.0, so about half of the
uncertain pneumothorax rows have the sign drawn. Explicit zeros are rare enough
that the paper's recipe keeps ~65% of frontal train rows (62% on the real
train.csv) and most pneumothorax positives. Pneumothorax is drawn in ~10% of
train studies (CheXpert: 8.7% positive + 1.4% uncertain) but in ~20% of valid
studies (CheXpert's valid.csv: 3.5%, 7 of 202), so that the ~200-image demo
test set has ~40 positives rather than 7; valid labels are 0.0 / 1.0 only, as
the radiologists' labels of the real valid.csv. Chest tubes appear in 40% of
pneumothorax studies and 5% of the others: a realistic confounder.

Every image is a pure function of a ``np.random.Generator`` derived from
``(seed, domain, split, patient, study, view)``, so a dataset is identical
whatever the order or the number of worker processes. Drawing is vectorised
NumPy (smooth anatomy at half resolution, fine detail at full resolution):
about 15 ms of CPU per 390 × 320 image including JPEG encoding. Nothing happens
on import.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from tchexnet_lib import files
from tchexnet_lib.config import CHEXPERT_SMALL
from tchexnet_lib.labels import CHEXNET_CLASSES, CHEXPERT_META_COLUMNS, CHEXPERT_OBSERVATIONS

#: Bumped whenever a drawing or a label rule changes, so old datasets are regenerated.
GENERATOR_VERSION = "1.1"  # 1.1: a more lucent pneumothorax space, a denser collapsed lung
#: Fixed JPEG quality: same arrays + same quality → same bytes.
JPEG_QUALITY = 90
#: Folder of the source-domain (ChestX-ray14-like) dataset under the root.
SOURCE_DIR = "ChestXray14-synthetic"
#: Written last: its presence (with ``complete: true``) marks a finished dataset.
MANIFEST_NAME = "manifest.json"
#: Written first, removed with the manifest's arrival: an interrupted run leaves it.
IN_PROGRESS_NAME = ".synthetic-in-progress"
#: CheXpert-v1.0-small's usual image size (height, width).
DEFAULT_SIZE = (320, 390)
DOMAINS = ("source", "target")
#: The splits of a synthetic set, in file order.
SPLITS = ("train", "valid")
#: Drawn signs; each present one gets a ``<stem>_<sign>_mask.png``.
SIGNS: tuple[str, ...] = (
    "pneumothorax", "chest_tube", "cardiomegaly", "enlarged_cardiomediastinum", "effusion",
    "edema", "consolidation", "infiltration", "atelectasis", "nodule", "mass",
    "support_devices", "emphysema", "fibrosis", "pleural_thickening", "hernia", "fracture",
)
#: Label names accepted by :func:`render_case` for a sign (CheXpert and ChestX-ray14 spellings).
SIGN_ALIASES: dict[str, str] = {
    "pleural_effusion": "effusion", "lung_lesion": "nodule", "pneumonia": "consolidation",
    "lung_opacity": "infiltration", "pleural_other": "pleural_thickening",
}

_GENERATOR = "tchexnet_lib.synthetic"
_NOT_MEDICAL = "synthetic drawings for teaching and tests; not medical images"
_TAU = 2.0 * math.pi
_POLAR_BINS = 720
_F32 = np.float32
#: Exposure: brightness = 1 - exp(-speed × density), then a gamma (soft shoulder like film).
_FILM_SPEED = 2.0
_RIB_STEPS = 256
#: Density mapped to full brightness (the densest anatomy: mediastinum over spine).
_FULL_DENSITY = 1.35
#: Density removed where air replaces lung (pneumothorax) / added to the collapsed lung per unit severity.
_PTX_LUCENCY, _PTX_DENSER = 0.06, 0.03


# ------------------------------------------------------------------ geometry


@lru_cache(maxsize=8)
def _pixel_axes(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row (h, 1) and column (1, w) pixel-centre coordinates, shared read-only."""
    rows = np.arange(h, dtype=_F32)[:, None]
    cols = np.arange(w, dtype=_F32)[None, :]
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


class _Canvas:
    """One image being drawn: each pixel's patient coordinates and the density so far.

    Patient coordinates: ``x`` toward the image's right (the patient's left), ``y``
    down, unit = half the width of the rib cage, origin on the midline at mid-lung
    height. ``density`` is a radiographic attenuation map: brighter = denser.
    """

    def __init__(self, size: tuple[int, int], centre: tuple[float, float], scale: float, angle: float):
        self.h, self.w = size
        self.cx, self.cy, self.scale = float(centre[0]), float(centre[1]), float(scale)
        self.cos, self.sin = math.cos(angle), math.sin(angle)
        rows, cols = _pixel_axes(self.h, self.w)
        dc, dr = cols - _F32(self.cx), rows - _F32(self.cy)
        self.x = (dc * self.cos + dr * self.sin) / self.scale
        self.y = (dr * self.cos - dc * self.sin) / self.scale
        self.density = np.zeros(size, _F32)

    def to_pixels(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Patient coordinates → (column, row) pixel coordinates."""
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        return (self.cx + self.scale * (self.cos * x - self.sin * y),
                self.cy + self.scale * (self.sin * x + self.cos * y))

    def window(self, x, y, margin: float = 0.0) -> tuple[slice, slice]:
        """Pixel slices bounding the points (x, y), grown by ``margin`` patient units."""
        cols, rows = self.to_pixels(x, y)
        pad = margin * self.scale + 2
        r0, r1 = int(max(0, math.floor(rows.min() - pad))), int(min(self.h, math.ceil(rows.max() + pad)))
        c0, c1 = int(max(0, math.floor(cols.min() - pad))), int(min(self.w, math.ceil(cols.max() + pad)))
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

    def box(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice]:
        """Pixel slices bounding the patient-coordinate box [x0, x1] × [y0, y1]."""
        return self.window([x0, x1, x0, x1], [y0, y0, y1, y1])

    def units(self, pixels: float) -> float:
        """A length in pixels expressed in patient units."""
        return pixels / self.scale

    def half(self) -> "_Canvas":
        """The same view at half resolution: lo pixel i covers pixels 2i and 2i + 1."""
        size = ((self.h + 1) // 2, (self.w + 1) // 2)
        angle = math.atan2(self.sin, self.cos)
        return _Canvas(size, ((self.cx - 0.5) / 2, (self.cy - 0.5) / 2), self.scale / 2, angle)


def _upsample2(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A half-resolution array back at full resolution (pixel doubling, then smoothing)."""
    return _smooth3(_double(a, shape))


def _smoothstep(t):
    """0 below 0, 1 above 1, a smooth S between (float32 in, float32 out)."""
    t = np.minimum(np.maximum(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def _soft_inside(rho, radius, edge: float):
    """1 inside ``rho < radius``, 0 outside, linear across a band ``edge`` wide."""
    return np.minimum(np.maximum((radius - rho) * (1.0 / edge) + 0.5, 0.0), 1.0)


def _splat(shape: tuple[int, int], cols, rows, weights) -> np.ndarray:
    """Sum point weights into their nearest pixels (points off the image are dropped).

    Callers blur the result, so nearest-pixel splatting is smooth enough and 4× cheaper
    than bilinear.
    """
    h, w = shape
    c = np.rint(cols).astype(np.intp)
    r = np.rint(rows).astype(np.intp)
    ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    out = np.bincount(r[ok] * w + c[ok], weights=np.broadcast_to(weights, c.shape)[ok], minlength=h * w)
    return out.reshape(h, w).astype(_F32)


def _smooth3(a: np.ndarray) -> np.ndarray:
    """A cheap [1, 2, 1] / 4 blur along both axes (about a Gaussian of sigma 0.7)."""
    out = a + a
    out[1:] += a[:-1]
    out[:-1] += a[1:]
    res = out + out
    res[:, 1:] += out[:, :-1]
    res[:, :-1] += out[:, 1:]
    res *= _F32(1.0 / 16.0)
    return res


def _white_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Zero-mean, unit-variance uniform noise (several times faster to draw than Gaussian)."""
    noise = rng.random(shape, dtype=_F32)
    noise -= 0.5
    noise *= _F32(math.sqrt(12.0))
    return noise


def _double(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Each pixel of a half-size array repeated 2 × 2, cropped to ``shape``."""
    h, w = a.shape
    out = np.empty((2 * h, 2 * w), _F32)
    for dr in (0, 1):
        for dc in (0, 1):
            out[dr::2, dc::2] = a
    return out[: shape[0], : shape[1]]


def _fine_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Noise with a correlation length of about two pixels and unit spread.

    Drawn at half resolution, doubled and smoothed: far cheaper than
    full-resolution Gaussian noise blurred.
    """
    h, w = shape
    half = _white_noise(rng, ((h + 1) // 2, (w + 1) // 2))
    return _smooth3(_double(half, shape)) * _F32(1.6)


def _bezier(points: Sequence[tuple[float, float]], n: int = 64) -> tuple[np.ndarray, np.ndarray]:
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


class _Pen:
    """Collects weighted points along lines (and filled patches); :meth:`image` draws them at once.

    One splat for all of a device's lines is much cheaper than one per line.
    """

    def __init__(self, cv: _Canvas):
        self.cv = cv
        self.points: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.patches: list[tuple[tuple[slice, slice], np.ndarray]] = []

    def stroke(self, x, y, weight: float = 1.0, offsets: Sequence[float] = (0.0,), step: float = 0.5) -> None:
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
            out = _splat(shape, cols, rows, wts)
        else:
            out = np.zeros(shape, _F32)
        for sl, patch in self.patches:
            out[sl] += patch
        return out


@dataclass(frozen=True)
class _Shape:
    """A star-shaped outline: its radius in every direction around a centre (patient units)."""

    cx: float
    cy: float
    table: np.ndarray

    @classmethod
    def from_outline(cls, x, y, cx: float, cy: float) -> "_Shape":
        """Tabulate the outline points (x, y), which every ray from (cx, cy) must cross once."""
        angle = np.arctan2(np.asarray(y) - cy, np.asarray(x) - cx)
        radius = np.hypot(np.asarray(x) - cx, np.asarray(y) - cy)
        order = np.argsort(angle)
        grid = (np.arange(_POLAR_BINS) + 0.5) * (_TAU / _POLAR_BINS) - math.pi
        table = np.interp(grid, angle[order], radius[order], period=_TAU).astype(_F32)
        return cls(float(cx), float(cy), table)

    def polar(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Distance from the centre and direction (radians) of each point."""
        dx, dy = x - _F32(self.cx), y - _F32(self.cy)
        return np.hypot(dx, dy), np.arctan2(dy, dx)

    def radius(self, phi, table: np.ndarray | None = None) -> np.ndarray:
        """The outline's radius in directions ``phi`` (linear between table bins)."""
        table = self.table if table is None else table
        pos = (phi + _F32(math.pi)) * _F32(_POLAR_BINS / _TAU) - _F32(0.5)
        i0 = np.floor(pos)
        frac = pos - i0
        i0 = i0.astype(np.intp) % _POLAR_BINS
        t0 = table[i0]
        return t0 + (table[(i0 + 1) % _POLAR_BINS] - t0) * frac

    def outline(self, table: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Points of the outline (for windows and strokes)."""
        table = self.table if table is None else table
        grid = (np.arange(_POLAR_BINS) + 0.5) * (_TAU / _POLAR_BINS) - math.pi
        return self.cx + table * np.cos(grid), self.cy + table * np.sin(grid)

    def angles(self) -> np.ndarray:
        """The direction of each table bin."""
        return ((np.arange(_POLAR_BINS) + 0.5) * (_TAU / _POLAR_BINS) - math.pi).astype(_F32)


# ------------------------------------------------------------------ anatomy


def _sample_anatomy(rng: np.random.Generator, domain: str, projection: str,
                    size: tuple[int, int]) -> dict:
    """Patient and positioning parameters of one frontal image (patient units, radians).

    Sides are -1 (the patient's right, image left) and +1 (the patient's left).
    AP-portable images are magnified (heart wider), less inspired and more tilted.
    """
    h, w = size
    ap = projection == "AP"
    inspiration = rng.normal(0.0, 0.035) - (0.05 if ap else 0.0)
    dome = 0.56 + inspiration + rng.normal(0.0, 0.02)
    tilt = float(np.clip(rng.normal(0.0, 1.5 if domain == "source" else 3.0), -7.0, 7.0))
    return {
        "ap": ap,
        "scale": min(h / 2.7, w / 3.2) * rng.uniform(0.9, 1.04),
        "angle": math.radians(tilt),
        "centre": (w * (0.5 + rng.normal(0.0, 0.015)), h * (0.51 + rng.normal(0.0, 0.015))),
        "tissue": rng.uniform(0.92, 1.1),
        "torso": rng.uniform(1.13, 1.24),
        "arm_x": rng.uniform(1.45, 1.6),
        "apex_y": -1.0 + rng.normal(0.0, 0.03),
        "lung_xe": 0.43 + rng.normal(0.0, 0.01),
        "lung_rx": 0.52 * rng.uniform(0.96, 1.04),
        "lung_ye": 0.45 + inspiration,
        "dome_y": {-1: dome, 1: dome + 0.05 + rng.normal(0.0, 0.015)},
        "dome_k": {-1: 1.6, 1: 1.6},
        "heart": [0.12 + rng.normal(0.0, 0.02), 0.5 + 0.5 * inspiration,
                  0.45 * rng.uniform(0.93, 1.07) * (1.1 if ap else 1.0), 0.33, 0.3],
        "mediastinum": 0.15 * rng.uniform(0.92, 1.08) * (1.1 if ap else 1.0),
        "cage": 0.98,
        "rib_y0": -1.17 + rng.normal(0.0, 0.02),
        "rib_s0": 0.15 * rng.uniform(0.95, 1.05),
        "clav_y": (-1.02 if ap else -0.9) + rng.normal(0.0, 0.03),
        "female": bool(rng.random() < 0.45),
        "air": 0.55 * rng.uniform(0.95, 1.05),
        "generations": 6,
        "hilum_y": {-1: 0.03, 1: -0.05},
    }


class _Scene:
    """Layers of one frontal image while it is drawn.

    Attributes:
        cv: the canvas (grid and density).
        lo: a half-resolution canvas for smooth anatomy (body, bones), added to ``cv`` at the end.
        a: anatomy from :func:`_sample_anatomy`.
        lungs: side → :class:`_Lung`.
        mediastinum: soft mask (h, w) of heart + mediastinum (no lung there).
        lo_heart: soft mask of the heart at half size (``lo``).
        visible: soft mask (h, w) of lung not hidden by the mediastinum.
        tissue: (h, w) factor on lung tissue and markings (0 where collapsed or filled).
        markings: (h, w) vessel and parenchyma density, drawn at the end × tissue.
        devices: (h, w) radiopaque device density.
        rib_index: (window, rib number, lateral position) of the posterior ribs on ``lo``.
    """

    def __init__(self, cv: _Canvas, a: dict):
        self.cv, self.a = cv, a
        self.lo = cv.half()
        shape = (cv.h, cv.w)
        self.lungs: dict[int, _Lung] = {}
        self.mediastinum = np.zeros(shape, _F32)
        self.lo_heart = np.zeros((self.lo.h, self.lo.w), _F32)
        self.visible = np.zeros(shape, _F32)
        self.tissue = np.ones(shape, _F32)
        self.markings = np.zeros(shape, _F32)
        self.devices = np.zeros(shape, _F32)
        self.rib_index: tuple | None = None


@dataclass
class _Lung:
    """One lung: its outline and, inside its window, each pixel's polar coordinates."""

    side: int
    shape: _Shape
    sl: tuple[slice, slice]
    rho: np.ndarray
    phi: np.ndarray
    radius: np.ndarray
    soft: np.ndarray


def _lung_outline(a: dict, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Outline of one lung: apex and lateral wall (an ellipse arc), diaphragm dome, medial border."""
    xe, ye, rx = a["lung_xe"], a["lung_ye"], a["lung_rx"]
    ry = ye - a["apex_y"]
    dome_y, k = a["dome_y"][side], a["dome_k"][side]
    alpha = np.linspace(-0.55, 2.8, 300)
    ux, uy = xe + rx * np.sin(alpha), ye - ry * np.cos(alpha)
    below = (alpha > 1.0) & (uy >= dome_y + k * (ux - 0.45) ** 2)
    cut = int(np.argmax(below)) if below.any() else len(alpha) - 1
    dx = np.linspace(ux[cut], 0.16, 80)
    dy = dome_y + k * (dx - 0.45) ** 2
    t = np.linspace(0.0, 1.0, 60)[1:-1]
    mx = 0.16 + (ux[0] - 0.16) * t - 0.02 * np.sin(math.pi * t)
    my = dy[-1] + (uy[0] - dy[-1]) * t
    x = np.concatenate([ux[:cut], dx, mx])
    y = np.concatenate([uy[:cut], dy, my])
    return side * x, y


def _draw_lungs(sc: _Scene) -> None:
    """Both lungs: outlines, soft masks and polar grids, stored in ``sc.lungs``."""
    cv, edge = sc.cv, sc.cv.units(1.2)
    for side in (-1, 1):
        x, y = _lung_outline(sc.a, side)
        shape = _Shape.from_outline(x, y, side * 0.47, 0.1)
        sl = cv.window(x, y, margin=0.02)
        rho, phi = shape.polar(cv.x[sl], cv.y[sl])
        radius = shape.radius(phi)
        sc.lungs[side] = _Lung(side, shape, sl, rho, phi, radius, _soft_inside(rho, radius, edge))


def _draw_body(sc: _Scene) -> None:
    """Soft tissue: torso, neck, shoulders and arms, breasts, a denser abdomen."""
    cv, a = sc.lo, sc.a
    x, y = cv.x, cv.y
    ax = np.abs(x)
    half = a["torso"] * (1.0 + 0.04 * y)
    top = -1.5 + 0.5 * _smoothstep((ax - 0.42) / 0.9)
    torso = np.clip(1.0 - (x / half) ** 2, 0.0, 1.0) ** 0.4
    armpit = -0.3 - 0.55 * _smoothstep((ax - a["torso"]) / 0.4)
    shoulder = _soft_inside(ax, a["arm_x"], 0.1) * _soft_inside(y, armpit, 0.15)
    arm = np.clip(1.0 - ((ax - a["arm_x"] - 0.12) / 0.26) ** 2, 0.0, 1.0) * (0.42 if a["ap"] else 0.0)
    body = np.maximum(np.maximum(torso, 0.75 * shoulder), arm) * _soft_inside(top, y, 0.04)
    cv.density += body * (a["tissue"] + 0.08 * _smoothstep((y - a["dome_y"][1] - 0.1) / 0.4))
    if a["female"]:
        for side in (-1, 1):
            sl = cv.box(side * 0.6 - 0.6, side * 0.6 + 0.6, 0.2, 1.3)
            dx = (cv.x[sl] - side * 0.6) / 0.5
            lower = 0.85 + 0.25 * np.sqrt(np.clip(1.0 - dx * dx, 0.0, 1.0))
            fill = np.exp(-1.5 * dx * dx) * _smoothstep((cv.y[sl] - 0.3) / 0.5)
            cv.density[sl] += 0.05 * fill * _soft_inside(cv.y[sl], lower, 0.04)


def _heart_shape(a: dict) -> _Shape:
    """The cardiac silhouette: a tilted ellipse, apex down and to the patient's left."""
    hx, hy, rx, ry, tilt = a["heart"]
    t = np.linspace(-math.pi, math.pi, 256, endpoint=False)
    ex = rx * np.cos(t) * (1.0 + 0.06 * np.cos(2 * t))
    ey = ry * np.sin(t)
    x = hx + ex * math.cos(tilt) - ey * math.sin(tilt)
    y = hy + ex * math.sin(tilt) + ey * math.cos(tilt)
    return _Shape.from_outline(x, y, hx, hy)


def _draw_mediastinum(sc: _Scene) -> None:
    """Heart, upper mediastinum and aortic knob as one soft 'no lung here' mask (drawn at half size)."""
    cv, a = sc.lo, sc.a
    edge = cv.units(1.0)
    heart = _heart_shape(a)
    hx, hy = heart.outline()
    sl = cv.window(hx, hy)
    rho, phi = heart.polar(cv.x[sl], cv.y[sl])
    lo_heart = np.zeros((cv.h, cv.w), _F32)
    lo_heart[sl] = _soft_inside(rho, heart.radius(phi), edge)
    x, y = cv.x, cv.y
    half = a["mediastinum"] * (1.0 + 0.15 * (y + 1.2))
    band = _soft_inside(np.abs(x - 0.02), half, edge) * _soft_inside(y, _F32(a["heart"][1] + 0.15), 0.1)
    knob_x = 0.12 + 0.6 * (a["mediastinum"] - 0.15)
    knob = _soft_inside(np.sqrt((x - knob_x) ** 2 + (y + 0.4) ** 2), 0.11, edge)
    shape = (sc.cv.h, sc.cv.w)
    sc.lo_heart = lo_heart
    sc.mediastinum = _upsample2(np.maximum(np.maximum(band, knob), lo_heart), shape)
    cv.density += 0.05 * lo_heart * (1.0 - band)


def _draw_air(sc: _Scene) -> None:
    """Lung air (darkness) where the lungs are not hidden by the mediastinum; trachea; stomach."""
    cv, a = sc.cv, sc.a
    for lung in sc.lungs.values():
        visible = lung.soft * (1.0 - sc.mediastinum[lung.sl])
        sc.visible[lung.sl] += visible
        depth = 0.75 + 0.25 * _smoothstep((cv.y[lung.sl] - a["apex_y"]) / 0.55)
        depth *= 1.0 - 0.2 * (lung.rho / lung.radius) ** 6
        cv.density[lung.sl] -= a["air"] * visible * depth
    sl = cv.box(-0.4, 0.4, -1.6, -0.1)
    x, y = cv.x[sl], cv.y[sl]
    carina = -0.3
    trachea = _soft_inside(np.abs(x - 0.01), 0.045, 0.03) * _soft_inside(y, carina, 0.05)
    for side, slope in ((-1, 0.55), (1, 1.1)):
        along = y - carina
        centre = 0.01 + side * slope * along
        trachea = np.maximum(trachea, _soft_inside(np.abs(x - centre), 0.035, 0.02)
                             * _soft_inside(np.abs(along - 0.09), 0.1, 0.02))
    cv.density[sl] -= 0.15 * trachea
    dome = a["dome_y"][1] + a["dome_k"][1] * 0.01
    sl = cv.box(0.3, 0.75, dome + 0.03, dome + 0.3)
    dx, dy = (cv.x[sl] - 0.52) / 0.15, (cv.y[sl] - dome - 0.16) / 0.08
    bubble = np.clip(1.0 - dx * dx - dy * dy, 0.0, 1.0) * _soft_inside(dy, 0.25, 0.1)
    cv.density[sl] -= 0.3 * np.sqrt(bubble)


@lru_cache(maxsize=4)
def _rib_profile(width: float) -> np.ndarray:
    """Brightness across one rib period (256 steps): bright cortical edges, softer middle."""
    t = np.arange(_RIB_STEPS) / (_RIB_STEPS * width)
    core = np.sqrt(np.clip(np.sin(np.minimum(t, 1.0) * math.pi), 0.0, 1.0))
    cortex = np.exp(-(((t - 0.08) / 0.09) ** 2)) + np.exp(-(((t - 0.92) / 0.09) ** 2))
    table = np.where(t < 1.0, 0.65 * core + 0.4 * cortex, 0.0).astype(_F32)
    table.flags.writeable = False
    return table


def _rib_band(z, s0: float, s1: float, count: float, width: float = 0.42):
    """A family of parallel bands at offsets z ≥ 0 whose spacing grows by s1 per rib.

    Returns the band profile (see :func:`_rib_profile`) and each pixel's rib
    number (fractional).
    """
    k = (np.sqrt(np.maximum(z, 0.0) * (2.0 * s1) + s0 * s0) - s0) * (1.0 / s1)
    index = (k * _RIB_STEPS).astype(np.intp) & (_RIB_STEPS - 1)
    return _rib_profile(width)[index] * ((z > 0) & (k < count)), k


def _draw_ribs(sc: _Scene) -> None:
    """Posterior ribs (arched, brighter) and anterior ribs (sloping down medially, fainter)."""
    cv, a = sc.lo, sc.a
    sl = cv.box(-1.3, 1.3, a["rib_y0"] - 0.2, 1.3)
    x, y = cv.x[sl], cv.y[sl]
    u = np.abs(x) / a["cage"]
    lateral = np.maximum(u - 0.8, 0.0)
    arch = -0.8 * u + 0.75 * u * u + 1.2 * lateral * lateral
    post, k = _rib_band(y - a["rib_y0"] - arch, a["rib_s0"], 0.011, 10.6, 0.36)
    post *= _smoothstep((u - 0.05) / 0.08) * _smoothstep((1.06 - u) / 0.08)
    sc.rib_index = (sl, k, u)
    ant, _ = _rib_band(y - a["rib_y0"] - 0.25 - 0.5 * (1.0 - u), a["rib_s0"] * 0.9, 0.012, 6.5, 0.38)
    ant *= _smoothstep((u - 0.32) / 0.12) * _smoothstep((1.08 - u) / 0.06)
    below = _smoothstep((y - a["dome_y"][1] - 0.05) / 0.2)
    cv.density[sl] += (0.13 * post + 0.05 * ant) * (1.0 - 0.6 * below)


def _draw_clavicles(sc: _Scene) -> None:
    """Two S-shaped clavicles rising from the sternal notch toward the shoulders; humeral heads."""
    cv, a = sc.lo, sc.a
    sl = cv.box(-1.25, 1.25, a["clav_y"] - 0.45, a["clav_y"] + 0.15)
    x, y = cv.x[sl], cv.y[sl]
    u = np.abs(x)
    centre = a["clav_y"] - (0.13 if a["ap"] else 0.22) * u + 0.035 * np.sin(math.pi * 1.6 * u)
    half = 0.042 + 0.012 * _smoothstep((0.3 - u) / 0.2)
    d = (y - centre) / half
    profile = np.sqrt(np.clip(1.0 - d * d, 0.0, 1.0)) + 0.5 * np.exp(-((np.abs(d) - 0.85) / 0.18) ** 2)
    profile *= _smoothstep((u - 0.07) / 0.04) * _smoothstep((1.15 - u) / 0.1)
    cv.density[sl] += 0.2 * profile
    for side in (-1, 1):
        ox = side * (a["arm_x"] - 0.14)
        sl = cv.box(ox - 0.2, ox + 0.2, a["clav_y"] - 0.15, a["clav_y"] + (1.0 if a["ap"] else 0.3))
        dx, y = side * (cv.x[sl] - ox), cv.y[sl] - a["clav_y"] - 0.08
        r = np.sqrt(dx * dx + y * y) / 0.17
        head = np.sqrt(np.maximum(1.0 - r * r, 0.0)) + 0.4 * np.exp(-(((r - 0.93) / 0.08) ** 2))
        if a["ap"]:
            shaft = np.sqrt(np.maximum(1.0 - ((dx - 0.04 - 0.03 * y) / 0.07) ** 2, 0.0))
            head = np.maximum(head, 0.6 * shaft * _smoothstep(y / 0.1) * _soft_inside(y, 0.5, 0.4))
        cv.density[sl] += 0.14 * head


def _draw_spine(sc: _Scene) -> None:
    """Thoracic spine: vertebral bodies with end plates, pedicles and spinous processes."""
    cv = sc.lo
    sl = cv.box(-0.16, 0.16, -1.6, 1.6)
    x, y = cv.x[sl], cv.y[sl]
    ax = np.abs(x)
    f = (y + 3.0) / 0.165
    f = f - np.floor(f)
    body = _soft_inside(ax, 0.085, 0.02) * _soft_inside(np.abs(f - 0.42), 0.4, 0.04)
    plates = _soft_inside(ax, 0.085, 0.02) * np.exp(-(((np.abs(f - 0.42) - 0.38) / 0.04) ** 2))
    pedicles = np.exp(-(((ax - 0.062) / 0.016) ** 2 + ((f - 0.3) / 0.12) ** 2))
    process = np.exp(-((x / 0.012) ** 2 + ((f - 0.7) / 0.16) ** 2))
    cv.density[sl] += 0.05 * body + 0.025 * plates + 0.04 * pedicles + 0.03 * process


def _draw_scapulae(sc: _Scene) -> None:
    """Scapulae: triangles whose medial border overlies the lateral upper lung on AP films."""
    cv, a = sc.lo, sc.a
    sl = cv.box(-1.7, 1.7, -1.2, -0.1)
    x, y = np.abs(cv.x[sl]), cv.y[sl]
    medial = (0.8 if a["ap"] else 1.0) + 0.12 * (y + 1.05)
    bottom = -0.25
    lateral = medial + 0.02 + 0.55 * (bottom - y)
    inside = _smoothstep((x - medial) / 0.03) * _smoothstep((lateral - x) / 0.05)
    inside *= _soft_inside(y, bottom, 0.06) * _soft_inside(-y, 1.08, 0.06)
    rim = np.exp(-(((x - medial) / 0.012) ** 2)) * _soft_inside(y, bottom, 0.06) * (y > -1.08)
    cv.density[sl] += 0.06 * inside + 0.05 * rim


def _tree(rng: np.random.Generator, x, y, angle, length, weight, generations: int):
    """Branching segments grown generation by generation from trunks (x, y, angle, length).

    Yields ``(generation, x0, y0, x1, y1, weight)`` arrays; each segment forks in
    two, shorter and fainter, so a tree tapers toward its tips.
    """
    for generation in range(generations):
        angle = angle + rng.normal(0.0, 0.15, angle.size)
        x1, y1 = x + length * np.cos(angle), y + length * np.sin(angle)
        yield generation, x, y, x1, y1, weight
        m = angle.size
        split = rng.uniform(0.35, 0.75, m) * rng.choice((-1.0, 1.0), m)
        share = rng.uniform(0.25, 0.45, m)
        angle = np.concatenate([angle + split * share, angle - split * (1.0 - share)])
        x, y = np.tile(x1, 2), np.tile(y1, 2)
        length = np.tile(length, 2) * rng.uniform(0.68, 0.86, 2 * m)
        weight = np.concatenate([weight * 0.78, weight * 0.62])


def _vessel_segments(rng: np.random.Generator, a: dict, side: int, generations: int):
    """Pulmonary vessels: eleven trunks fanning out from one hilum (see :func:`_tree`)."""
    n = 11
    offsets = np.linspace(-1.5, 1.35, n) + rng.normal(0.0, 0.06, n)
    angle = (math.pi if side < 0 else 0.0) - side * offsets
    x = side * (0.19 + rng.uniform(0.0, 0.05, n))
    y = a["hilum_y"][side] - 0.1 * offsets + rng.normal(0.0, 0.02, n)
    weight = np.where(offsets < 0, 1.0, 0.8)
    return _tree(rng, x, y, angle, rng.uniform(0.12, 0.18, n), weight, generations)


def _segment_points(cv: _Canvas, x0, y0, x1, y1, weight, spacing: float = 0.9):
    """Points every ``spacing`` pixels along segments, each weighted by weight × its length share."""
    c0, r0 = cv.to_pixels(x0, y0)
    c1, r1 = cv.to_pixels(x1, y1)
    length = np.hypot(c1 - c0, r1 - r0)
    n = int(length.max() / spacing) + 2
    t = np.linspace(0.0, 1.0, n)[None, :]
    cols = (c0[:, None] + (c1 - c0)[:, None] * t).ravel()
    rows = (r0[:, None] + (r1 - r0)[:, None] * t).ravel()
    return cols, rows, (weight[:, None] * (1.0 - 0.3 * t) * (length[:, None] / n)).ravel()


def _draw_segments(cv: _Canvas, segments, layers: dict, decay: float) -> None:
    """Collect points of tree segments into ``layers[thick]`` lists (thick = generations 0-1)."""
    for generation, x0, y0, x1, y1, weight in segments:
        cols, rows, wts = _segment_points(cv, x0, y0, x1, y1, weight * decay ** generation)
        for lst, value in zip(layers[generation < 2], (cols, rows, wts)):
            lst.append(value)


def _draw_markings(sc: _Scene, rng: np.random.Generator) -> None:
    """Lung markings into ``sc.markings``: vessels, hilar shadows, parenchymal mottling."""
    cv, a = sc.cv, sc.a
    shape = (cv.h, cv.w)
    layers = {True: ([], [], []), False: ([], [], [])}
    for side in (-1, 1):
        _draw_segments(cv, _vessel_segments(rng, a, side, a["generations"]), layers, 0.85)
    thick, thin = (_splat(shape, *(np.concatenate(v) for v in layers[k])) for k in (True, False))
    sc.markings += _smooth3(0.5 * _smooth3(thick) + 0.7 * thin)
    for side in (-1, 1):
        sl = cv.box(side * 0.22 - 0.2, side * 0.22 + 0.2, -0.25, 0.3)
        d2 = ((cv.x[sl] - side * 0.24) / 0.1) ** 2 + ((cv.y[sl] - a["hilum_y"][side]) / 0.15) ** 2
        sc.markings[sl] += 0.14 * np.exp(-d2)
    sc.markings += 0.05 + 0.03 * _fine_noise(rng, shape)


def _finish_lungs(sc: _Scene) -> None:
    """Add markings × lung tissue and the half-size anatomy to the density (after the findings)."""
    sc.cv.density += sc.markings * sc.visible * sc.tissue + _upsample2(sc.lo.density, (sc.cv.h, sc.cv.w))


def _expose(sc: _Scene, rng: np.random.Generator, domain: str) -> np.ndarray:
    """Density → 8-bit image through the domain's exposure curve (film-like, then gamma) and noise."""
    d = sc.cv.density + sc.devices
    if domain == "source":
        gamma, lift, gain, noise = rng.uniform(2.5, 2.8), 0.0, 1.0, rng.uniform(0.006, 0.012)
    else:
        gamma = math.exp(rng.normal(math.log(2.0), 0.2))
        lift, gain, noise = rng.uniform(0.02, 0.1), rng.uniform(0.8, 0.96), rng.uniform(0.015, 0.03)
    full_scale = 1.0 / (1.0 - math.exp(-_FULL_DENSITY * _FILM_SPEED))
    v = (1.0 - np.exp(np.maximum(d, 0.0) * _F32(-_FILM_SPEED))) * _F32(full_scale)
    v = np.clip(v, 0.0, 1.0) ** _F32(gamma)
    if domain == "source":
        grain = _white_noise(rng, d.shape)
    else:
        grain = _fine_noise(rng, d.shape)
    v = lift + gain * v + _F32(noise) * grain
    return (np.clip(v, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# ------------------------------------------------------------------ findings


def _waves(rng: np.random.Generator, x, y, wavelength: float, n: int = 6):
    """A smooth lumpy field of unit-ish spread: the sum of n random plane waves."""
    out = np.zeros(x.shape, _F32)
    for _ in range(n):
        theta = rng.uniform(0.0, _TAU)
        k = _TAU / (wavelength * rng.uniform(0.7, 1.4))
        phase = _F32(rng.uniform(0, _TAU))
        out += np.cos(x * _F32(k * math.cos(theta)) + y * _F32(k * math.sin(theta)) + phase)
    return out * _F32(math.sqrt(2.0 / n))


def _visible(sc: _Scene, lung: _Lung) -> np.ndarray:
    """Soft mask of the lung in its window, minus what the mediastinum hides."""
    return lung.soft * (1.0 - sc.mediastinum[lung.sl])


def _collapse_table(shape: _Shape, side: int, rng: np.random.Generator, severity: float) -> np.ndarray:
    """Radius table of the lung retracted from the apex / lateral wall (pneumothorax)."""
    toward = rng.uniform(0.0, 1.0) ** 1.5          # 0 apical … 1 lateral
    centre = -math.pi / 2 + side * toward * math.pi / 2
    half = 0.75 + 1.0 * severity + rng.uniform(-0.1, 0.1)
    depth = 0.07 + 0.32 * severity
    delta = np.angle(np.exp(1j * (shape.angles() - centre))).astype(_F32)
    window = np.maximum(np.cos(np.clip(np.abs(delta) / half, 0.0, 1.0) * (math.pi / 2)), 0.0) ** 0.6
    return shape.table - np.minimum(depth * window, 0.7 * shape.table)


def _draw_pneumothorax(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """Air between chest wall and retracted lung: no markings, darker, a thin bright pleural line."""
    cv, lung = sc.cv, sc.lungs[side]
    collapsed_radius = lung.shape.radius(lung.phi, _collapse_table(lung.shape, side, rng, severity))
    gap = lung.radius - collapsed_radius
    collapsed = _soft_inside(lung.rho, collapsed_radius, cv.units(1.0))
    space = lung.soft * (1.0 - collapsed)
    sc.tissue[lung.sl] *= collapsed
    unhidden = 1.0 - sc.mediastinum[lung.sl]
    cv.density[lung.sl] += (_PTX_DENSER * severity * collapsed * lung.soft - _PTX_LUCENCY * space) * unhidden
    offset = (lung.rho - collapsed_radius) / _F32(cv.units(1.1))
    line = np.exp(-offset * offset) * _smoothstep(gap / _F32(cv.units(3.0))) * lung.soft
    cv.density[lung.sl] += 0.3 * line * unhidden
    region = (lung.soft > 0.5) & (lung.rho > collapsed_radius) & (gap > cv.units(1.0))
    return _full_bool(sc, lung.sl, region & (sc.mediastinum[lung.sl] < 0.5))


def _full_bool(sc: _Scene, sl: tuple[slice, slice], part: np.ndarray) -> np.ndarray:
    """A window-sized bool mask placed into a False (h, w) mask."""
    out = np.zeros((sc.cv.h, sc.cv.w), bool)
    out[sl] = part
    return out


def _lung_bottom(sc: _Scene, side: int) -> float:
    """The lowest point of a lung (its costophrenic angle), patient y."""
    _, y = sc.lungs[side].shape.outline()
    return float(y.max())


def _draw_effusion(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """Basal fluid: opacity rising laterally in a meniscus, blunting the costophrenic angle."""
    cv, a, lung = sc.cv, sc.a, sc.lungs[side]
    x, y = cv.x[lung.sl], cv.y[lung.sl]
    u = np.clip((side * x - 0.16) / (a["lung_xe"] + a["lung_rx"] - 0.16), 0.0, 1.0)
    level = _lung_bottom(sc, side) - 0.12 - 0.8 * severity
    meniscus = level - (0.06 + 0.2 * severity) * u * u
    opacity = _smoothstep((y - meniscus) / 0.12) * _visible(sc, lung)
    sc.tissue[lung.sl] *= 1.0 - opacity
    cv.density[lung.sl] += 0.5 * opacity
    return _full_bool(sc, lung.sl, opacity > 0.5)


def _draw_edema(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """Bilateral perihilar ('bat-wing') haze, prominent interstitium and Kerley B lines."""
    cv, a = sc.cv, sc.a
    mask = np.zeros((cv.h, cv.w), bool)
    pen = _Pen(cv)
    for s in (-1, 1):
        lung = sc.lungs[s]
        dx, dy = (s * cv.x[lung.sl] - 0.3) / 0.36, (cv.y[lung.sl] - a["hilum_y"][s] - 0.05) / 0.5
        haze = np.exp(-(dx * dx + dy * dy)) * _visible(sc, lung)
        cv.density[lung.sl] += (0.1 + 0.14 * severity) * haze
        sc.tissue[lung.sl] *= 1.0 + 0.8 * haze
        mask[lung.sl] |= (haze > 0.35) & (lung.soft > 0.5)
        bottom = _lung_bottom(sc, s)
        for _ in range(int(3 + 5 * severity)):
            yk = bottom - rng.uniform(0.12, 0.45)
            edge = a["lung_xe"] + a["lung_rx"] - 0.03
            pen.stroke(s * np.array([edge, edge - rng.uniform(0.05, 0.09)]), np.array([yk, yk]), 0.5)
    cv.density += 0.08 * _smooth3(pen.image()) * sc.visible
    return mask


def _blob(sc: _Scene, rng: np.random.Generator, lung: _Lung, centre, radii, lumpy: float):
    """Soft patchy opacity around ``centre`` in a lung window: an ellipse roughened by waves."""
    x, y = sc.cv.x[lung.sl], sc.cv.y[lung.sl]
    dx, dy = (x - centre[0]) / radii[0], (y - centre[1]) / radii[1]
    field = 1.0 - (dx * dx + dy * dy) + lumpy * _waves(rng, x, y, 0.35)
    return _smoothstep(field / 0.35) * _visible(sc, lung)


def _draw_consolidation(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """Dense lobar/segmental opacity with darker branching air bronchograms inside."""
    cv, lung = sc.cv, sc.lungs[side]
    centre = (side * rng.uniform(0.4, 0.65), rng.uniform(-0.45, 0.4))
    radii = (0.15 + 0.14 * severity, 0.14 + 0.14 * severity)
    opacity = _blob(sc, rng, lung, centre, radii, 0.3)
    cv.density[lung.sl] += 0.42 * opacity
    sc.tissue[lung.sl] *= 1.0 - 0.7 * opacity
    n = 4
    angle = (math.pi if side < 0 else 0.0) + rng.uniform(-1.2, 1.2, n)
    start_x = np.full(n, centre[0] - side * 0.6 * radii[0])
    segments = _tree(rng, start_x, np.full(n, centre[1]), angle, np.full(n, 0.5 * radii[0]), np.ones(n), 3)
    layers = {True: ([], [], []), False: ([], [], [])}
    _draw_segments(cv, segments, layers, 0.8)
    cols, rows, wts = (np.concatenate(a + b) for a, b in zip(layers[True], layers[False]))
    bronchi = _smooth3(_splat((cv.h, cv.w), cols, rows, wts)[lung.sl])
    cv.density[lung.sl] -= 0.2 * np.minimum(bronchi, 1.0) * opacity
    return _full_bool(sc, lung.sl, opacity > 0.5)


def _draw_infiltration(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """Fainter, ill-defined patchy opacities (one to three), no bronchograms."""
    mask = np.zeros((sc.cv.h, sc.cv.w), bool)
    for _ in range(int(rng.integers(1, 4))):
        s = side if rng.random() < 0.7 else -side
        lung = sc.lungs[s]
        centre = (s * rng.uniform(0.35, 0.7), rng.uniform(-0.5, 0.45))
        opacity = _blob(sc, rng, lung, centre, (0.16 + 0.1 * severity, 0.14 + 0.1 * severity), 0.5)
        sc.cv.density[lung.sl] += (0.12 + 0.06 * severity) * opacity
        mask[lung.sl] |= opacity > 0.5
    return mask


def _draw_atelectasis(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """A plate-like band or a wedge pointing to the hilum (the raised hemidiaphragm is in the anatomy)."""
    cv, a, lung = sc.cv, sc.a, sc.lungs[side]
    x, y = cv.x[lung.sl], cv.y[lung.sl]
    if rng.random() < 0.5:
        cx, cy, tilt = side * rng.uniform(0.38, 0.6), rng.uniform(0.15, 0.5), rng.uniform(-0.3, 0.3)
        along = (x - cx) * math.cos(tilt) + (y - cy) * math.sin(tilt)
        across = (y - cy) * math.cos(tilt) - (x - cx) * math.sin(tilt)
        shape = _soft_inside(np.abs(across), 0.018 + 0.02 * severity, cv.units(1.5))
        shape *= _soft_inside(np.abs(along), 0.14 + 0.1 * severity, 0.05)
        amount = 0.32
    else:
        hx, hy = side * 0.24, a["hilum_y"][side] + 0.05
        direction = math.pi / 2 - side * rng.uniform(0.35, 0.85)
        dx, dy = x - hx, y - hy
        off = np.abs(np.arctan2(dy, dx) - _F32(direction))
        shape = _soft_inside(np.minimum(off, _TAU - off), 0.16 + 0.2 * severity, 0.06)
        shape *= _smoothstep((np.sqrt(dx * dx + dy * dy) - 0.05) / 0.12)
        amount = 0.26
    opacity = shape * _visible(sc, lung)
    cv.density[lung.sl] += amount * opacity
    sc.tissue[lung.sl] *= 1.0 - 0.5 * opacity
    return _full_bool(sc, lung.sl, opacity > 0.5)


def _lesion_centre(sc: _Scene, rng: np.random.Generator, side: int, margin: float) -> tuple[float, float]:
    """A point well inside the lateral part of a lung (away from the heart)."""
    shape = sc.lungs[side].shape
    outward = math.pi if side < 0 else 0.0
    phi = outward + rng.uniform(-1.3, 1.3)
    reach = float(shape.radius(np.array([phi], _F32))[0])
    dist = rng.uniform(0.15, 0.8) * max(reach - margin, 0.05)
    return shape.cx + dist * math.cos(phi), shape.cy + dist * math.sin(phi)


def _draw_round_opacity(sc: _Scene, rng: np.random.Generator, radius: float, amount: float,
                        side: int, lobulated: float) -> np.ndarray:
    """A round (optionally lobulated) opacity with a spherical density profile."""
    cv = sc.cv
    cx, cy = _lesion_centre(sc, rng, side, radius)
    sl = cv.box(cx - radius * 1.3, cx + radius * 1.3, cy - radius * 1.3, cy + radius * 1.3)
    dx, dy = cv.x[sl] - cx, cv.y[sl] - cy
    phi = np.arctan2(dy, dx)
    p1, p2 = rng.uniform(0, _TAU, 2)
    r = radius * (1.0 + lobulated * (0.6 * np.sin(3 * phi + p1) + 0.4 * np.sin(5 * phi + p2)))
    q = np.sqrt(dx * dx + dy * dy) / r
    profile = np.sqrt(np.clip(1.0 - q * q, 0.0, 1.0)) * _soft_inside(q, 1.0, cv.units(1.0) / radius)
    cv.density[sl] += amount * profile
    return _full_bool(sc, sl, q < 1.0)


def _draw_nodule(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """A small round opacity (about 3-7 px across at 390 × 320)."""
    return _draw_round_opacity(sc, rng, 0.028 + 0.025 * severity, 0.3, side, 0.03)


def _draw_mass(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """A large lobulated opacity."""
    return _draw_round_opacity(sc, rng, 0.08 + 0.08 * severity, 0.36, side, 0.1)


def _draw_pleural_thickening(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """A smooth band of pleural density along the lateral chest wall or the apex."""
    lung = sc.lungs[side]
    centre = -math.pi / 2 + side * rng.uniform(0.2, 1.0) * math.pi / 2
    delta = np.abs(np.angle(np.exp(1j * (lung.phi - centre)))).astype(_F32)
    thickness = (0.025 + 0.035 * severity) * np.cos(np.clip(delta / 0.9, 0.0, 1.0) * (math.pi / 2))
    band = lung.soft * _smoothstep((lung.rho - lung.radius + thickness) / _F32(sc.cv.units(1.5)))
    band *= (thickness > sc.cv.units(0.8)) * (1.0 - sc.mediastinum[lung.sl])
    sc.cv.density[lung.sl] += 0.3 * band
    sc.tissue[lung.sl] *= 1.0 - band
    return _full_bool(sc, lung.sl, band > 0.5)


def _draw_hernia(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """Hiatal hernia: a retrocardiac round opacity with an air-fluid level."""
    cv, a = sc.cv, sc.a
    cx, cy, r = 0.05 + rng.uniform(-0.05, 0.1), a["heart"][1] + 0.1, 0.1 + 0.06 * severity
    sl = cv.box(cx - r, cx + r, cy - r, cy + r)
    dx, dy = (cv.x[sl] - cx) / r, (cv.y[sl] - cy) / r
    disc = _soft_inside(np.sqrt(dx * dx + dy * dy), 1.0, cv.units(1.2) / r)
    air = disc * _soft_inside(dy, -0.1, cv.units(1.0) / r)
    wall = np.exp(-(((np.sqrt(dx * dx + dy * dy) - 0.95) / 0.06) ** 2))
    cv.density[sl] += 0.1 * disc - 0.22 * air + 0.05 * wall
    return _full_bool(sc, sl, disc > 0.5)


def _draw_fracture(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """A lucent break across one posterior rib (drawn at half size like the ribs)."""
    lo = sc.lo
    sl, k, _ = sc.rib_index
    x0 = side * rng.uniform(0.55, 0.9) * sc.a["cage"]
    target = float(rng.integers(3, 8)) + 0.18
    near = (np.abs(k - target) < 0.25) & (np.abs(lo.x[sl] - x0) < 0.02 + 0.01 * severity)
    near &= np.sign(lo.x[sl]) == side
    lo.density[sl] -= 0.09 * near
    if not near.any():
        return np.zeros((sc.cv.h, sc.cv.w), bool)
    rows, cols = np.nonzero(near)
    yc, xc = float(lo.y[sl][rows, cols].mean()), float(lo.x[sl][rows, cols].mean())
    return (sc.cv.x - xc) ** 2 + (sc.cv.y - yc) ** 2 < 0.05 ** 2


def _draw_emphysema(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """Hyperinflation (in the anatomy), pruned peripheral markings and apical bullae."""
    cv = sc.cv
    mask = np.zeros((cv.h, cv.w), bool)
    for s, lung in sc.lungs.items():
        sc.tissue[lung.sl] *= 1.0 - 0.5 * (lung.rho / lung.radius) ** 2
        mask[lung.sl] |= lung.soft > 0.5
        for _ in range(int(rng.integers(0, 3))):
            cx, cy, r = s * rng.uniform(0.35, 0.7), rng.uniform(-0.85, -0.45), rng.uniform(0.06, 0.12)
            d = np.sqrt((cv.x[lung.sl] - cx) ** 2 + (cv.y[lung.sl] - cy) ** 2) / r
            inside = _soft_inside(d, 1.0, cv.units(1.0) / r) * lung.soft
            sc.tissue[lung.sl] *= 1.0 - inside
            cv.density[lung.sl] += (0.05 * np.exp(-(((d - 1.0) / 0.05) ** 2)) - 0.04 * inside) * lung.soft
    return mask


def _draw_fibrosis(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """A coarse reticular net in the lower, peripheral lungs."""
    cv = sc.cv
    mask = np.zeros((cv.h, cv.w), bool)
    for s, lung in sc.lungs.items():
        x, y = cv.x[lung.sl], cv.y[lung.sl]
        field = _waves(rng, x, y, 0.06, 8)
        net = np.exp(-((field / 0.3) ** 2))
        where = _smoothstep((y + 0.1) / 0.5) * _smoothstep((s * x - 0.35) / 0.3) * _visible(sc, lung)
        cv.density[lung.sl] += (0.07 + 0.06 * severity) * net * where
        mask[lung.sl] |= (where > 0.4) & (lung.soft > 0.5)
    return mask


def _draw_cardiomegaly(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """The heart was widened in the anatomy; the mask is the cardiac silhouette."""
    return _upsample2(sc.lo_heart, (sc.cv.h, sc.cv.w)) > 0.5


def _draw_enlarged_cardiomediastinum(sc: _Scene, rng, severity: float, side: int) -> np.ndarray:
    """The mediastinum was widened in the anatomy; the mask is the upper mediastinum."""
    return (sc.mediastinum > 0.5) & (_upsample2(sc.lo_heart, (sc.cv.h, sc.cv.w)) < 0.5)


# ------------------------------------------------------------------ devices


def _tube(pen: _Pen, points, walls: float, n: int = 80) -> None:
    """A tube along a Bézier curve: two radiopaque walls ``walls`` pixels off the centre line."""
    x, y = _bezier(points, n)
    pen.stroke(x, y, 0.8, offsets=(-walls, walls))


def _endotracheal_tube(sc: _Scene, rng: np.random.Generator, pen: _Pen) -> None:
    """Down the trachea from above the image, tip a few cm above the carina."""
    x0 = rng.normal(0.01, 0.015)
    _tube(pen, [(x0 + 0.06, -2.0), (x0, -1.2), (x0, rng.uniform(-0.78, -0.5))], 2.0)


def _nasogastric_tube(sc: _Scene, rng: np.random.Generator, pen: _Pen) -> None:
    """Down the oesophagus, through the hiatus, curving into the stomach."""
    _tube(pen, [(-0.02, -2.0), (0.04, -0.6), (0.02, 0.7), (0.4, 0.95), (0.6, 1.9)], 0.8, 120)


def _central_line(sc: _Scene, rng: np.random.Generator, pen: _Pen) -> None:
    """A thin catheter from the subclavian / jugular region down the superior vena cava."""
    s = -1 if rng.random() < 0.7 else 1
    points = [(s * 1.0, -1.55), (s * 0.5, -1.05), (-0.05, -0.98), (-0.07, rng.uniform(-0.45, -0.1))]
    _tube(pen, points, 0.6)


def _ecg_leads(sc: _Scene, rng: np.random.Generator, pen: _Pen) -> None:
    """Three to five round electrodes with wires running off the image."""
    t = np.linspace(0.0, _TAU, 48)
    for _ in range(int(rng.integers(3, 6))):
        ex, ey = rng.uniform(-1.0, 1.0), rng.uniform(-1.15, 0.75)
        for r in (0.045, 0.012):
            pen.stroke(ex + r * np.cos(t), ey + r * np.sin(t), 0.9)
        end = (rng.choice((-2.0, 2.0)), rng.uniform(-1.5, 1.5))
        bend = (rng.uniform(-1.2, 1.2), rng.uniform(-1.2, 1.2))
        pen.stroke(*_bezier([(ex, ey), bend, end], 80), 0.6)


def _pacemaker(sc: _Scene, rng: np.random.Generator, pen: _Pen) -> None:
    """A dense generator box under a clavicle with a lead to the right ventricle."""
    cv = sc.cv
    bx, by = rng.choice((-1.0, 1.0)) * rng.uniform(0.6, 0.85), rng.uniform(-0.95, -0.8)
    sl = cv.box(bx - 0.16, bx + 0.16, by - 0.12, by + 0.12)
    edge = cv.units(1.5)
    box = _soft_inside(np.abs(cv.x[sl] - bx), 0.12, edge) * _soft_inside(np.abs(cv.y[sl] - by), 0.08, edge)
    pen.fill(sl, 1.3 * box)
    _tube(pen, [(bx, by), (0.0, -0.8), (-0.08, 0.1), (0.2, 0.6)], 0.7)


def _sternal_wires(sc: _Scene, rng: np.random.Generator, pen: _Pen) -> None:
    """Sternotomy wires: small twisted loops down the midline."""
    t = np.linspace(0.0, _TAU, 32)
    for yk in np.linspace(-0.85, 0.2, int(rng.integers(4, 7))):
        xk = rng.normal(0.02, 0.01)
        pen.stroke(xk + 0.03 * np.cos(t), yk + 0.016 * np.sin(t), 1.2)


_DEVICES = (
    (_endotracheal_tube, 0.45), (_nasogastric_tube, 0.35), (_central_line, 0.5),
    (_ecg_leads, 0.45), (_pacemaker, 0.15), (_sternal_wires, 0.12),
)


def _add_devices(sc: _Scene, pen: _Pen) -> np.ndarray:
    """Add drawn device lines to ``sc.devices``; return their (slightly dilated) mask."""
    layer = _smooth3(pen.image())
    sc.devices += 0.75 * np.minimum(layer, 1.0)
    return _smooth3(layer) > 0.04


def _draw_support_devices(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """One to three of: endotracheal tube, NG tube, central line, ECG leads, pacemaker, wires."""
    pen = _Pen(sc.cv)
    chosen = [draw for draw, p in _DEVICES if rng.random() < p]
    if not chosen:
        chosen = [_DEVICES[int(rng.integers(len(_DEVICES)))][0]]
    for draw in chosen:
        draw(sc, rng, pen)
    return _add_devices(sc, pen)


def _draw_chest_tube(sc: _Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """A thick pleural drain entering laterally and curving up toward the apex."""
    cv = sc.cv
    entry = rng.uniform(0.2, 0.6)
    points = [(side * 1.6, entry + 0.25), (side * 1.0, entry), (side * 0.75, entry - 0.45),
              (side * rng.uniform(0.4, 0.6), rng.uniform(-0.85, -0.6))]
    pen = _Pen(cv)
    x, y = _bezier(points, 100)
    pen.stroke(x, y, 0.9, offsets=(-2.6, 2.6))
    pen.stroke(x[:70], y[:70], 0.7)
    pen.stroke(x[78:], y[78:], 0.7)  # the side hole interrupts the radiopaque stripe
    return _add_devices(sc, pen)


# ------------------------------------------------------------------ rendering


_DRAW = {
    "pneumothorax": _draw_pneumothorax, "chest_tube": _draw_chest_tube,
    "cardiomegaly": _draw_cardiomegaly, "enlarged_cardiomediastinum": _draw_enlarged_cardiomediastinum,
    "effusion": _draw_effusion, "edema": _draw_edema, "consolidation": _draw_consolidation,
    "infiltration": _draw_infiltration, "atelectasis": _draw_atelectasis, "nodule": _draw_nodule,
    "mass": _draw_mass, "support_devices": _draw_support_devices, "emphysema": _draw_emphysema,
    "fibrosis": _draw_fibrosis, "pleural_thickening": _draw_pleural_thickening,
    "hernia": _draw_hernia, "fracture": _draw_fracture,
}


def _adjust_anatomy(a: dict, signs: dict[str, float], sides: dict[str, int]) -> None:
    """Findings that change the anatomy itself: heart size, mediastinum, diaphragm, lung volume."""
    if "cardiomegaly" in signs:
        heart = a["heart"]
        heart[0] += 0.05
        heart[2] *= 1.28 + 0.25 * signs["cardiomegaly"]
        heart[3] *= 1.1
    if "enlarged_cardiomediastinum" in signs:
        a["mediastinum"] *= 1.35 + 0.35 * signs["enlarged_cardiomediastinum"]
    if "atelectasis" in signs:
        a["dome_y"][sides["atelectasis"]] -= 0.05 + 0.08 * signs["atelectasis"]
    for s in (-1, 1):
        if "emphysema" in signs:
            a["dome_y"][s] += 0.1 + 0.06 * signs["emphysema"]
            a["dome_k"][s] *= 0.45
        if "fibrosis" in signs:
            a["dome_y"][s] -= 0.06
    if "emphysema" in signs:
        a["apex_y"] -= 0.04
        a["air"] *= 1.12
        a["generations"] = 5


def _severities(rng: np.random.Generator, findings: dict) -> dict[str, float]:
    """Findings as {sign: severity in (0, 1]}: True → a random severity, False/0 → absent.

    Raises:
        ValueError: an unknown finding name or a value that is not a bool or a number in [0, 1].
    """
    out = {}
    for name, value in findings.items():
        key = str(name).strip().lower().replace(" ", "_").replace("-", "_")
        key = SIGN_ALIASES.get(key, key)
        if key not in _DRAW:
            raise ValueError(f"unknown finding {name!r}; use one of {', '.join(SIGNS)} "
                             f"(or the label names {', '.join(sorted(SIGN_ALIASES))})")
        if isinstance(value, (bool, np.bool_)):
            severity = rng.uniform(0.05, 1.0) if value else 0.0
        elif isinstance(value, (int, float, np.integer, np.floating)) and 0.0 <= float(value) <= 1.0:
            severity = float(value)
        else:
            raise ValueError(f"finding {name!r}: value {value!r} must be a bool or a severity in [0, 1]")
        if severity > 0:
            out[key] = max(out.get(key, 0.0), severity)
    return {sign: out[sign] for sign in SIGNS if sign in out}


def _draw_anatomy(sc: _Scene, rng: np.random.Generator) -> None:
    """Everything a normal frontal film shows, except the lung markings' final blend."""
    for draw in (_draw_body, _draw_lungs, _draw_mediastinum, _draw_air, _draw_ribs,
                 _draw_clavicles, _draw_spine, _draw_scapulae):
        draw(sc)
    _draw_markings(sc, rng)


def _render_frontal(rng, signs, domain, size, projection) -> tuple[np.ndarray, dict]:
    """One frontal (PA or AP) image and the masks of its drawn signs."""
    a = _sample_anatomy(rng, domain, projection, size)
    sides = {sign: int(rng.choice((-1, 1))) for sign in signs}
    if "chest_tube" in sides and "pneumothorax" in sides:
        sides["chest_tube"] = sides["pneumothorax"]
    _adjust_anatomy(a, signs, sides)
    sc = _Scene(_Canvas(size, a["centre"], a["scale"], a["angle"]), a)
    _draw_anatomy(sc, rng)
    masks = {}
    for sign, severity in signs.items():
        mask = _DRAW[sign](sc, rng, severity, sides[sign])
        if mask.any():
            masks[sign] = mask
    _finish_lungs(sc)
    return _expose(sc, rng, domain), masks


def render_case(
    rng: np.random.Generator,
    findings: dict[str, bool | float],
    domain: str = "target",
    size: tuple[int, int] = DEFAULT_SIZE,
    *,
    view: str = "frontal",
    projection: str | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw one synthetic chest radiograph (a pure function of ``rng``'s state).

    Args:
        rng: the generator every random choice comes from.
        findings: sign name (:data:`SIGNS`, or a label name such as
            ``"Pleural Effusion"``) → ``True`` (present, random severity),
            a severity in (0, 1] (e.g. pneumothorax size), or ``False`` / 0 (absent).
        domain: ``"source"`` (clean PA, ChestX-ray14-like) or ``"target"``
            (CheXpert-like: other exposure curve, more noise, mostly AP).
        size: (height, width) in pixels.
        view: ``"frontal"`` or ``"lateral"`` (a lateral image has no drawn findings).
        projection: ``"PA"`` or ``"AP"``; default: PA for the source domain, AP
            with probability 0.8 for the target domain.

    Returns:
        ``(image, masks)``: uint8 array (h, w); bool masks (h, w) of the signs
        present and visible, keyed by sign name (e.g. ``"pneumothorax"``).

    Raises:
        ValueError: an unknown domain, view, projection or finding, or a bad size.
    """
    size = _check_size(size)
    _check_choice(domain, DOMAINS, "domain")
    _check_choice(view, ("frontal", "lateral"), "view")
    signs = _severities(rng, findings)
    if view == "lateral":
        return _render_lateral(rng, domain, size), {}
    if projection is None:
        projection = "PA" if domain == "source" or rng.random() < 0.2 else "AP"
    _check_choice(projection, ("PA", "AP"), "projection")
    return _render_frontal(rng, signs, domain, size, projection)


def _check_choice(value: str, allowed: Sequence[str], name: str) -> None:
    """ValueError naming the allowed values unless ``value`` is one of them."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r} not understood; use one of {', '.join(map(repr, allowed))}")


def _check_size(size) -> tuple[int, int]:
    """(height, width) as ints, each between 64 and 2048."""
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size={size!r} must be (height, width), e.g. {DEFAULT_SIZE}") from None
    if not (64 <= h <= 2048 and 64 <= w <= 2048):
        raise ValueError(f"size={size!r}: height and width must be between 64 and 2048 pixels")
    return h, w


def _lateral_lung_shape(dome: float) -> _Shape:
    """Both lungs superimposed in a lateral view: apex, retrosternal space, domes, posterior sulcus."""
    arc = np.linspace(math.pi * 1.02, math.pi * 1.98, 40)
    top_x, top_y = -0.02 + 0.77 * np.cos(arc), -0.45 - 0.6 * np.abs(np.sin(arc)) ** 0.8
    back_y = np.linspace(-0.45, dome + 0.45, 30)
    back_x = 0.74 + 0.08 * np.sin(np.linspace(0.0, math.pi, 30))
    base_x = np.linspace(0.78, -0.8, 60)
    base_y = dome + 0.5 * ((base_x + 0.2) / 1.0) ** 2 - 0.02
    front_y = np.linspace(base_y[-1], -0.5, 30)
    front_x = -0.8 + 0.06 * np.sin(np.linspace(0.0, math.pi, 30))
    x = np.concatenate([top_x, back_x, base_x, front_x])
    y = np.concatenate([top_y, back_y, base_y, front_y])
    return _Shape.from_outline(x, y, 0.0, 0.1)


def _render_lateral(rng: np.random.Generator, domain: str, size: tuple[int, int]) -> np.ndarray:
    """A simple lateral view: patient facing left; sternum in front, spine behind, heart low in front."""
    h, w = size
    scale = min(h / 2.6, w / 3.1) * rng.uniform(0.95, 1.05)
    cv = _Canvas(size, (w * rng.uniform(0.46, 0.5), h * 0.47), scale, math.radians(rng.normal(0.0, 2.0)))
    sc = _Scene(cv, {})
    x, y = cv.x, cv.y
    front = -0.98 - 0.12 * _smoothstep((y - 0.5) / 0.6) + 0.45 * _smoothstep((-0.95 - y) / 0.35)
    back = 1.18 - 0.25 * _smoothstep((-1.0 - y) / 0.3)
    mid, half = (front + back) / 2, (back - front) / 2
    cv.density += 1.1 * np.clip(1.0 - ((x - mid) / half) ** 2, 0.0, 1.0) ** 0.4
    dome = 0.45 + rng.normal(0.0, 0.04)
    lung = _lateral_lung_shape(dome)
    rho, phi = lung.polar(x, y)
    air = _soft_inside(rho, lung.radius(phi), cv.units(2.0))
    hx, hy = -0.35 + rng.normal(0.0, 0.02), dome - 0.05
    heart = _soft_inside(np.sqrt(((x - hx) / 0.42) ** 2 + ((y - hy) / 0.38) ** 2), 1.0, 0.05)
    cv.density -= 0.5 * air * (1.0 - 0.65 * heart)
    cv.density += 0.02 * air * _fine_noise(rng, size) * (1.0 - heart)
    cv.density += 0.12 * np.exp(-(((x - 0.1) / 0.16) ** 2 + ((y + 0.05) / 0.2) ** 2)) * air
    f = (y + 3.0) / 0.18
    f = f - np.floor(f)
    spine_x = 0.7 + 0.06 * (y - 0.1) ** 2
    vertebra = _soft_inside(np.abs(x - spine_x), 0.11, 0.02) * _soft_inside(np.abs(f - 0.45), 0.38, 0.05)
    process = _soft_inside(np.abs(x - spine_x - 0.24), 0.05, 0.04) * _soft_inside(np.abs(f - 0.6), 0.3, 0.1)
    sternum = _soft_inside(np.abs(x + 0.86 - 0.06 * y), 0.03, 0.02)
    sternum *= _soft_inside(np.abs(y + 0.35), 0.65, 0.05)
    trachea = _soft_inside(np.abs(x + 0.05 - 0.12 * (y + 1.5)), 0.05, 0.03) * _soft_inside(y, -0.35, 0.05)
    cv.density += 0.16 * vertebra + 0.08 * process + 0.18 * sternum - 0.15 * trachea
    return _expose(sc, rng, domain)


# ------------------------------------------------------------------ the spec


@dataclass(frozen=True)
class SyntheticSpec:
    """What :func:`generate_dataset` draws; its JSON form keys the idempotent reuse.

    The defaults give the demo target set: about 1,000 train and 212 valid images
    (200 frontal valid rows, a ~200-image test set with ~20% pneumothorax).

    Attributes:
        n_patients_train: patients in the train split (1-4 studies each).
        n_patients_valid: patients in the valid split (one study each, like CheXpert's).
        seed: root of every random choice.
        domain: ``"target"`` (CheXpert-like) or ``"source"`` (ChestX-ray14-like).
        image_size: (height, width) in pixels; CheXpert-v1.0-small's is (320, 390).
        lateral_fraction: share of studies that also get a lateral view (target only).
        pneumothorax_prevalence: share of train studies with a pneumothorax drawn
            (CheXpert's train.csv: 8.7% positive + 1.4% uncertain).
        valid_pneumothorax_prevalence: the same for valid; higher than CheXpert's
            3.5% (7/202) so that a 200-image demo test set has ~40 positives.
        chest_tube_with_pneumothorax: P(chest tube | pneumothorax drawn): the confounder.
        chest_tube_without_pneumothorax: P(chest tube | no pneumothorax).
        max_studies: most studies per train patient.
        jpeg_quality: JPEG quality of every image.
        draw_pneumothorax: draw the pneumothorax sign where the labels say so; False
            keeps every label but draws no pneumothorax (the ablation that shows a
            model's score comes from the sign: its AUC must fall to chance).
    """

    n_patients_train: int = 550
    n_patients_valid: int = 200
    seed: int = 0
    domain: str = "target"
    image_size: tuple[int, int] = DEFAULT_SIZE
    lateral_fraction: float = 0.06
    pneumothorax_prevalence: float = 0.10
    valid_pneumothorax_prevalence: float = 0.20
    chest_tube_with_pneumothorax: float = 0.4
    chest_tube_without_pneumothorax: float = 0.05
    max_studies: int = 4
    jpeg_quality: int = JPEG_QUALITY
    draw_pneumothorax: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", _check_size(self.image_size))
        _check_choice(self.domain, DOMAINS, "domain")
        for name in ("n_patients_train", "n_patients_valid", "seed", "max_studies", "jpeg_quality"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"SyntheticSpec.{name}={value!r} must be an integer ≥ 0")
        if not isinstance(self.draw_pneumothorax, (bool, np.bool_)):
            raise ValueError(f"SyntheticSpec.draw_pneumothorax={self.draw_pneumothorax!r} must be True or False")
        if self.max_studies < 1 or not 1 <= self.jpeg_quality <= 100:
            raise ValueError("SyntheticSpec: max_studies must be ≥ 1 and jpeg_quality in 1..100")
        for name in ("lateral_fraction", "pneumothorax_prevalence", "valid_pneumothorax_prevalence",
                     "chest_tube_with_pneumothorax", "chest_tube_without_pneumothorax"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"SyntheticSpec.{name}={value!r} must be a probability in [0, 1]")

    def to_dict(self) -> dict:
        """Plain-JSON form (lists, not tuples), as stored in ``manifest.json``."""
        return json.loads(json.dumps(asdict(self)))

    def dataset_dir(self, root: str | os.PathLike) -> Path:
        """Where the dataset of this domain lives under ``root``."""
        return Path(root) / (CHEXPERT_SMALL if self.domain == "target" else SOURCE_DIR)


#: A ChestX-ray14-like pretraining set of about 1,000 images.
DEMO_SOURCE = SyntheticSpec(n_patients_train=500, n_patients_valid=160, seed=1, domain="source")
#: The CheXpert-like set of ``make demo``: ~830 frontal train images (~410-520 kept by the
#: paper's recipe; sized for the first run's budget on a slow CPU: 1,100 patients instead gave
#: the head +0.010 AUC, benchmarks/demo_train_size.py) and a 200-image test set with ~30%
#: pneumothorax (50-65 positives, enough for the paired DeLong test to separate the two models;
#: CheXpert's valid.csv has 3.5%).
DEMO_TARGET = SyntheticSpec(n_patients_train=450, valid_pneumothorax_prevalence=0.3)


# ------------------------------------------------------------------ labels

#: Per-study probability that each CheXpert observation's sign is drawn (train split).
_TARGET_PRESENT = {
    "Enlarged Cardiomediastinum": 0.05, "Cardiomegaly": 0.12, "Lung Lesion": 0.05, "Edema": 0.14,
    "Consolidation": 0.06, "Pneumonia": 0.03, "Atelectasis": 0.13, "Pleural Effusion": 0.22,
    "Pleural Other": 0.02, "Fracture": 0.04, "Lung Opacity": 0.08,
}
#: Valid split: radiologist-like labels, a little richer (CheXpert's valid has 33% effusion etc.).
_VALID_PRESENT = {**_TARGET_PRESENT, "Cardiomegaly": 0.2, "Edema": 0.16, "Atelectasis": 0.2,
                  "Pleural Effusion": 0.25, "Consolidation": 0.1}
#: Support devices by projection (portable AP films carry most of them).
_DEVICES_PRESENT = {"AP": 0.5, "PA": 0.15}
#: P(label -1.0 | sign drawn) and P(-1.0 | not drawn): the labeler's uncertainty.
_UNCERTAIN_IF_PRESENT = 0.12
_UNCERTAIN_IF_ABSENT = 0.012
#: P(explicit 0.0 | not drawn); otherwise the cell stays blank ("not mentioned"), as in
#: CheXpert. Low enough that the paper's recipe (drop any explicit 0 among its six
#: classes) keeps about 60% of frontal train rows, as on the real train.csv (62%).
_EXPLICIT_NEGATIVE = {
    "Enlarged Cardiomediastinum": 0.08, "Cardiomegaly": 0.05, "Lung Opacity": 0.03,
    "Lung Lesion": 0.01, "Edema": 0.07, "Consolidation": 0.09, "Pneumonia": 0.01,
    "Atelectasis": 0.01, "Pneumothorax": 0.18, "Pleural Effusion": 0.12, "Pleural Other": 0.005,
    "Fracture": 0.01, "Support Devices": 0.03,
}
#: CheXpert observation → the sign drawn for it.
_OBSERVATION_SIGN = {
    "Enlarged Cardiomediastinum": "enlarged_cardiomediastinum", "Cardiomegaly": "cardiomegaly",
    "Edema": "edema", "Consolidation": "consolidation", "Pneumonia": "consolidation",
    "Atelectasis": "atelectasis", "Pneumothorax": "pneumothorax", "Pleural Effusion": "effusion",
    "Pleural Other": "pleural_thickening", "Fracture": "fracture", "Lung Opacity": "infiltration",
}
#: Observations that make a study "abnormal" (everything but No Finding and Support Devices).
_PATHOLOGIES = tuple(o for o in CHEXPERT_OBSERVATIONS if o not in ("No Finding", "Support Devices"))
#: ChestX-ray14 class → (per-image prevalence in the source set, sign drawn).
_SOURCE_CLASSES = {
    "Atelectasis": (0.12, "atelectasis"), "Cardiomegaly": (0.08, "cardiomegaly"),
    "Effusion": (0.13, "effusion"), "Infiltration": (0.12, "infiltration"), "Mass": (0.06, "mass"),
    "Nodule": (0.07, "nodule"), "Pneumonia": (0.04, "consolidation"),
    "Pneumothorax": (None, "pneumothorax"), "Consolidation": (0.07, "consolidation"),
    "Edema": (0.06, "edema"), "Emphysema": (0.05, "emphysema"), "Fibrosis": (0.04, "fibrosis"),
    "Pleural_Thickening": (0.05, "pleural_thickening"), "Hernia": (0.02, "hernia"),
}
#: Source images: unlabeled devices in a few percent (ChestX-ray14 has no device label).
_SOURCE_DEVICES = 0.05
_DOMAIN_CODE = {"source": 1, "target": 2}
_SPLIT_CODE = {"train": 1, "valid": 2}
_IMAGE_STREAM, _LABEL_STREAM = 0, 1


def _rng(spec: SyntheticSpec, split: str, patient: int, study: int, view: int, stream: int):
    """The generator of one (split, patient, study, view): independent of generation order."""
    entropy = [spec.seed, _DOMAIN_CODE[spec.domain], _SPLIT_CODE[split], patient, study, view, stream]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def _chest_tube_rate(spec: SyntheticSpec, pneumothorax: bool) -> float:
    """P(chest tube): higher with a pneumothorax, the confounder real data has too."""
    return spec.chest_tube_with_pneumothorax if pneumothorax else spec.chest_tube_without_pneumothorax


def _present_observations(rng, spec: SyntheticSpec, split: str, projection: str) -> dict[str, bool]:
    """Which CheXpert observations have their sign drawn in one study (with a few correlations)."""
    table = _VALID_PRESENT if split == "valid" else _TARGET_PRESENT
    ptx = spec.valid_pneumothorax_prevalence if split == "valid" else spec.pneumothorax_prevalence
    present = {obs: bool(rng.random() < p) for obs, p in table.items()}
    present["Pneumothorax"] = bool(rng.random() < ptx)
    if present["Edema"]:  # congestive failure: effusions and a big heart come together
        present["Pleural Effusion"] |= bool(rng.random() < 0.4)
        present["Cardiomegaly"] |= bool(rng.random() < 0.3)
    present["chest_tube"] = bool(rng.random() < _chest_tube_rate(spec, present["Pneumothorax"]))
    present["devices"] = bool(rng.random() < _DEVICES_PRESENT[projection])
    present["Support Devices"] = present["chest_tube"] or present["devices"]
    present["Lung Opacity"] |= any(present[o] for o in ("Edema", "Consolidation", "Pneumonia",
                                                         "Atelectasis", "Lung Lesion"))
    return present


def _signs_for(rng, present: dict[str, bool]) -> dict[str, bool]:
    """The signs to draw for the present observations."""
    signs = {sign: True for o, sign in _OBSERVATION_SIGN.items() if present[o]}
    if present["Lung Opacity"] and any(present[o] for o in ("Edema", "Consolidation", "Pneumonia",
                                                            "Atelectasis", "Lung Lesion")):
        signs.pop("infiltration", None)  # the opacity is already drawn by its cause
    if present["Lung Lesion"]:
        signs["mass" if rng.random() < 0.4 else "nodule"] = True
    if present["devices"]:
        signs["support_devices"] = True
    if present["chest_tube"]:
        signs["chest_tube"] = True
    return signs


def _label_text(rng, observation: str, present: bool, split: str) -> str:
    """One CSV cell: 1.0 / -1.0 / 0.0 / blank, as CheXpert's labeler (train) or radiologists (valid)."""
    if split == "valid":
        return "1.0" if present else "0.0"
    if present:
        return "-1.0" if rng.random() < _UNCERTAIN_IF_PRESENT else "1.0"
    u = rng.random()
    if u < _UNCERTAIN_IF_ABSENT:
        return "-1.0"
    return "0.0" if u < _UNCERTAIN_IF_ABSENT + _EXPLICIT_NEGATIVE[observation] else ""


def _target_labels(rng, present: dict[str, bool], split: str) -> dict[str, str]:
    """The 14 observation cells of one study, No Finding derived from the others."""
    labels = {o: _label_text(rng, o, present[o], split) for o in CHEXPERT_OBSERVATIONS if o != "No Finding"}
    abnormal = any(labels[o] in ("1.0", "-1.0") for o in _PATHOLOGIES)
    if split == "valid":
        labels["No Finding"] = "0.0" if abnormal else "1.0"
    else:
        labels["No Finding"] = "" if abnormal else "1.0"
    return {o: labels[o] for o in CHEXPERT_OBSERVATIONS}


# ------------------------------------------------------------------ planning


@dataclass(frozen=True)
class _Case:
    """One image to draw and write (picklable, for worker processes)."""

    path: str  # relative to the dataset folder, POSIX
    entropy: tuple[int, ...]
    signs: tuple[str, ...]
    domain: str
    size: tuple[int, int]
    view: str
    projection: str
    quality: int


@dataclass
class _SplitPlan:
    """A split's CSV header, rows (dicts of text) and the images behind them."""

    header: list[str]
    rows: list[dict[str, str]]
    cases: list[_Case]


def _case(spec: SyntheticSpec, split: str, ids: tuple[int, int, int], path: str,
          signs: dict[str, bool], view: str, projection: str) -> _Case:
    """A :class:`_Case` whose generator is keyed by (seed, domain, split, patient, study, view)."""
    entropy = (spec.seed, _DOMAIN_CODE[spec.domain], _SPLIT_CODE[split], *ids, _IMAGE_STREAM)
    drawn = {s for s, on in signs.items() if on and (spec.draw_pneumothorax or s != "pneumothorax")}
    return _Case(path, entropy, tuple(sorted(drawn)), spec.domain,
                 spec.image_size, view, projection, spec.jpeg_quality)


def _patients(spec: SyntheticSpec):
    """(split, first patient number, count): valid patients are numbered after train's, as in CheXpert."""
    return (("train", 1, spec.n_patients_train),
            ("valid", spec.n_patients_train + 1, spec.n_patients_valid))


def _target_patient(spec: SyntheticSpec, split: str, patient: int, plan: _SplitPlan) -> None:
    """Rows and cases of one CheXpert-like patient: sex, age, studies, views, labels."""
    rng = _rng(spec, split, patient, 0, 0, _LABEL_STREAM)
    sex = "Female" if rng.random() < 0.42 else "Male"
    age = int(np.clip(rng.normal(61.0, 17.0), 18, 90))
    n_studies = 1 if split == "valid" else min(spec.max_studies, int(rng.geometric(0.55)))
    for study in range(1, n_studies + 1):
        projection = "AP" if rng.random() < 0.8 else "PA"
        present = _present_observations(rng, spec, split, projection)
        signs = _signs_for(rng, present)
        labels = _target_labels(rng, present, split)
        views = [("frontal", 1)] + ([("lateral", 2)] if rng.random() < spec.lateral_fraction else [])
        for kind, view in views:
            rel = f"{split}/patient{patient:05d}/study{study}/view{view}_{kind}.jpg"
            plan.rows.append({
                "Path": f"{CHEXPERT_SMALL}/{rel}", "Sex": sex, "Age": str(age),
                "Frontal/Lateral": kind.title(), "AP/PA": projection if kind == "frontal" else "", **labels,
            })
            plan.cases.append(_case(spec, split, (patient, study, view), rel,
                                    signs if kind == "frontal" else {}, kind, projection))


def _source_patient(spec: SyntheticSpec, split: str, patient: int, plan: _SplitPlan) -> None:
    """Rows and cases of one ChestX-ray14-like patient: 1-3 PA images, 14 labels as 0/1."""
    rng = _rng(spec, split, patient, 0, 0, _LABEL_STREAM)
    ptx = spec.valid_pneumothorax_prevalence if split == "valid" else spec.pneumothorax_prevalence
    for k in range(min(3, int(rng.geometric(0.6)))):
        present = {c: bool(rng.random() < (ptx if p is None else p)) for c, (p, _) in _SOURCE_CLASSES.items()}
        signs = {_SOURCE_CLASSES[c][1]: True for c, on in present.items() if on}
        signs["chest_tube"] = bool(rng.random() < _chest_tube_rate(spec, present["Pneumothorax"]) / 2)
        signs["support_devices"] = bool(rng.random() < _SOURCE_DEVICES)
        rel = f"images/{patient:08d}_{k:03d}.jpg"
        plan.rows.append({"Path": rel, **{c: "1" if present[c] else "0" for c in CHEXNET_CLASSES}})
        plan.cases.append(_case(spec, split, (patient, k, 1), rel, signs, "frontal", "PA"))


def _plan(spec: SyntheticSpec) -> dict[str, _SplitPlan]:
    """Every split's rows and images, in file order (patient, study, view)."""
    if spec.domain == "target":
        header, add = list(CHEXPERT_META_COLUMNS + CHEXPERT_OBSERVATIONS), _target_patient
    else:
        header, add = ["Path", *CHEXNET_CLASSES], _source_patient
    plans = {}
    for split, first, count in _patients(spec):
        plan = _SplitPlan(header, [], [])
        for patient in range(first, first + count):
            add(spec, split, patient, plan)
        plans[split] = plan
    return plans


# ------------------------------------------------------------------ writing


def _encode(array: np.ndarray, fmt: str, **options) -> bytes:
    """An 8-bit grayscale array as JPEG or PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array, mode="L").save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _write_case(case: _Case, dataset_dir: str) -> tuple[str, tuple[str, ...]]:
    """Draw one case and write its JPEG and mask PNGs; return (path, signs with a mask)."""
    rng = np.random.default_rng(np.random.SeedSequence(list(case.entropy)))
    image, masks = render_case(rng, dict.fromkeys(case.signs, True), case.domain, case.size,
                               view=case.view, projection=case.projection)
    path = Path(dataset_dir, case.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.save_bytes(_encode(image, "JPEG", quality=case.quality), path)
    for sign, mask in masks.items():
        png = _encode(mask.astype(np.uint8) * 255, "PNG", compress_level=1)
        files.save_bytes(png, mask_path(path, sign))
    return case.path, tuple(masks)


def _auto_workers(n_cases: int) -> int:
    """One process for small sets; otherwise one per CPU (at most 8)."""
    return 1 if n_cases < 200 else max(1, min(os.cpu_count() or 1, 8))


def _pool_context():
    """fork where it is safe (fast, no ``__main__`` guard needed); spawn once TensorFlow is loaded.

    Forking a process that runs TensorFlow's thread pools can deadlock the
    children; spawned workers import only this module.
    """
    import multiprocessing
    import sys

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and "tensorflow" not in sys.modules:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_cases(cases: list[_Case], dataset_dir: Path, workers: int, progress: bool) -> dict[str, tuple]:
    """Write every case (in worker processes if ``workers`` > 1); path → signs with a mask."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(cases), desc=f"synthetic {dataset_dir.name}", unit="img")
    results = {}
    if workers <= 1:
        done = (_write_case(case, str(dataset_dir)) for case in cases)
        for path, signs in done:
            results[path] = signs
            if bar is not None:
                bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
            chunk = max(1, min(32, len(cases) // (4 * workers)))
            for path, signs in pool.map(_write_case, cases, [str(dataset_dir)] * len(cases), chunksize=chunk):
                results[path] = signs
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.close()
    return results


def _csv_bytes(header: list[str], rows: list[dict[str, str]]) -> bytes:
    """CSV text as CheXpert writes it: comma separated, ``\\n`` line ends, minimal quoting."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _write_tables(spec: SyntheticSpec, dataset_dir: Path, plans: dict[str, _SplitPlan]) -> dict[str, str]:
    """The CSVs (and, for the source domain, ChestX-ray14's split lists), each atomically."""
    if spec.domain == "target":
        for split, plan in plans.items():
            files.save_bytes(_csv_bytes(plan.header, plan.rows), dataset_dir / f"{split}.csv")
        return {f"{split}_csv": f"{split}.csv" for split in plans}
    rows = plans["train"].rows + plans["valid"].rows
    for split, name in (("train", "train_val_list.txt"), ("valid", "test_list.txt")):
        names = "".join(Path(row["Path"]).name + "\n" for row in plans[split].rows)
        files.save_bytes(names.encode(), dataset_dir / name)
    files.save_bytes(_csv_bytes(plans["train"].header, rows), dataset_dir / "labels.csv")
    return {"labels_csv": "labels.csv", "train_list": "train_val_list.txt", "test_list": "test_list.txt"}


def _label_counts(plan: _SplitPlan) -> dict[str, dict]:
    """Per label column: counts of 1 / 0 / -1 / blank and the positive share (frontal rows)."""
    rows = [r for r in plan.rows if r.get("Frontal/Lateral", "Frontal") == "Frontal"]
    out = {}
    for column in plan.header[5 if "Sex" in plan.header else 1:]:
        values = [r[column] for r in rows]
        counts = {"positive": sum(v in ("1.0", "1") for v in values),
                  "negative": sum(v in ("0.0", "0") for v in values),
                  "uncertain": values.count("-1.0"), "blank": values.count("")}
        counts["prevalence"] = round(counts["positive"] / len(rows), 4) if rows else None
        out[column] = counts
    return out


def _paper_recipe_counts(plan: _SplitPlan) -> dict[str, int]:
    """What the paper's filter keeps of train.csv: frontal rows with no explicit 0 in its six classes."""
    from tchexnet_lib.labels import PAPER_CLASSES

    frontal = [r for r in plan.rows if r["Frontal/Lateral"] == "Frontal"]
    kept = [r for r in frontal if all(r[c] != "0.0" for c in PAPER_CLASSES)]
    return {"frontal": len(frontal), "kept": len(kept),
            "pneumothorax_positive": sum(r["Pneumothorax"] == "1.0" for r in frontal),
            "pneumothorax_positive_kept": sum(r["Pneumothorax"] == "1.0" for r in kept)}


def _manifest(spec, plans, drawn, tables, seconds: float, workers: int) -> dict:
    """The JSON record of a finished dataset (spec, counts, prevalences, timing)."""
    n_images = sum(len(p.cases) for p in plans.values())
    counts, signs = {}, {}
    for split, plan in plans.items():
        frontal = sum(c.view == "frontal" for c in plan.cases)
        patients = {c.entropy[3] for c in plan.cases}
        studies = {c.entropy[3:5] for c in plan.cases}
        counts[split] = {"rows": len(plan.rows), "frontal": frontal, "lateral": len(plan.cases) - frontal,
                         "patients": len(patients), "studies": len(studies)}
        tally: dict[str, int] = {}
        for case in plan.cases:
            for sign in drawn[case.path]:
                tally[sign] = tally.get(sign, 0) + 1
        signs[split] = dict(sorted(tally.items()))
    manifest = {
        "generator": _GENERATOR, "version": GENERATOR_VERSION, "note": _NOT_MEDICAL,
        "complete": True, "spec": spec.to_dict(), "files": tables, "counts": counts,
        "prevalence": {split: _label_counts(plan) for split, plan in plans.items()},
        "signs_drawn": signs, "seconds": round(seconds, 2), "workers": workers,
        "ms_per_image": round(1000.0 * seconds / max(n_images, 1), 2),
    }
    if spec.domain == "target" and "train" in plans:
        manifest["paper_recipe"] = _paper_recipe_counts(plans["train"])
    return manifest


def _check_splits(spec: SyntheticSpec, splits: Sequence[str]) -> tuple[str, ...]:
    """``splits`` in file order; a source set is always drawn whole (its lists need both)."""
    chosen = tuple(split for split in SPLITS if split in splits)
    if not chosen or set(splits) - set(SPLITS):
        raise ValueError(f"splits={tuple(splits)!r}: choose from {SPLITS}")
    if spec.domain == "source" and chosen != SPLITS:
        raise ValueError("a source-domain set is drawn with both splits")
    return chosen


def read_manifest(dataset_dir: str | os.PathLike) -> dict | None:
    """The ``manifest.json`` of a synthetic dataset folder, or None if absent or unreadable."""
    try:
        return json.loads((Path(dataset_dir) / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None


def _is_complete(dataset_dir: Path, spec: SyntheticSpec, manifest: dict | None,
                 splits: tuple[str, ...] = SPLITS) -> bool:
    """A finished dataset of this spec, splits and generator version, with its tables present."""
    return (manifest is not None and manifest.get("complete") is True
            and manifest.get("version") == GENERATOR_VERSION and manifest.get("spec") == spec.to_dict()
            and tuple(manifest.get("splits", SPLITS)) == tuple(splits)
            and not (dataset_dir / IN_PROGRESS_NAME).exists()
            and all((dataset_dir / name).is_file() for name in manifest.get("files", {}).values()))


def _prepare_folder(dataset_dir: Path) -> None:
    """Empty the dataset folder for a fresh run, refusing to touch anything not made here.

    Raises:
        FileExistsError: the folder holds files but no synthetic manifest or
            in-progress marker (real CheXpert data, say).
    """
    if dataset_dir.is_dir() and any(dataset_dir.iterdir()):
        manifest = read_manifest(dataset_dir) or {}
        ours = manifest.get("generator") == _GENERATOR or (dataset_dir / IN_PROGRESS_NAME).is_file()
        if not ours:
            raise FileExistsError(
                f"{dataset_dir} already holds files that this generator did not write (no "
                f"{MANIFEST_NAME}); refusing to overwrite them: pass another root"
            )
        shutil.rmtree(dataset_dir)
    dataset_dir.mkdir(parents=True, exist_ok=True)
    marker = "synthetic dataset being written; incomplete until manifest.json\n"
    (dataset_dir / IN_PROGRESS_NAME).write_text(marker)


def generate_dataset(
    root: str | os.PathLike,
    spec: SyntheticSpec = DEMO_TARGET,
    progress: bool = True,
    *,
    regenerate: bool = False,
    workers: int | None = None,
    splits: Sequence[str] = SPLITS,
) -> dict:
    """Write a synthetic dataset under ``root`` (or reuse a finished one of the same spec).

    Target domain: ``root/CheXpert-v1.0-small/{train,valid}.csv`` and
    ``{train,valid}/patientNNNNN/studyN/viewN_{frontal,lateral}.jpg`` (readable by
    :func:`tchexnet_lib.data.read_labels`). Source domain:
    ``root/ChestXray14-synthetic/labels.csv`` (``Path`` + the 14 ChestX-ray14
    classes as 0/1), ``images/NNNNNNNN_NNN.jpg``, ``train_val_list.txt`` and
    ``test_list.txt``. Each present sign's mask is ``<image stem>_<sign>_mask.png``
    beside its image.

    Images are written first (each through a temporary file), the CSVs next and
    ``manifest.json`` last; until then an in-progress marker says the folder is
    incomplete, so an interrupted run is regenerated, never reused. The output is
    identical whatever ``workers`` is.

    Args:
        root: the data folder (e.g. ``config.data_dir()``).
        spec: what to draw.
        progress: show a progress bar.
        regenerate: draw again even if a finished dataset of this spec exists.
        workers: processes to draw with; default one for small sets, else one per CPU.
        splits: the splits to write (target domain): ``("valid",)`` draws only valid.csv's
            images, the same patients, labels and pixels as in the full set (the
            demo's ablation needs no train images).

    Returns:
        The manifest (spec, counts, label prevalences, signs drawn, seconds) plus
        ``root``, ``dataset_dir`` (absolute paths as text) and ``reused``
        (True if nothing was written).

    Raises:
        FileExistsError: the target folder holds data this generator did not write.
        ValueError: ``workers`` < 1.
    """
    dataset_dir = spec.dataset_dir(root).expanduser().resolve()
    where = {"root": str(dataset_dir.parent), "dataset_dir": str(dataset_dir)}
    splits = _check_splits(spec, splits)
    manifest = read_manifest(dataset_dir)
    if not regenerate and _is_complete(dataset_dir, spec, manifest, splits):
        return {**manifest, **where, "reused": True}
    if workers is not None and workers < 1:
        raise ValueError(f"workers={workers!r} must be ≥ 1 (or None for automatic)")
    start = time.perf_counter()
    plans = {split: plan for split, plan in _plan(spec).items() if split in splits}
    cases = [case for plan in plans.values() for case in plan.cases]
    workers = _auto_workers(len(cases)) if workers is None else int(workers)
    _prepare_folder(dataset_dir)
    drawn = _run_cases(cases, dataset_dir, workers, progress)
    tables = _write_tables(spec, dataset_dir, plans)
    manifest = {**_manifest(spec, plans, drawn, tables, time.perf_counter() - start, workers),
                "splits": list(splits)}
    files.save_json(manifest, dataset_dir / MANIFEST_NAME)
    (dataset_dir / IN_PROGRESS_NAME).unlink()
    return {**manifest, **where, "reused": False}


# ------------------------------------------------------------------ masks


def _sign_name(finding: str) -> str:
    """``"Pneumothorax"`` / ``"Pleural Effusion"`` / ``"effusion"`` → the sign name used in mask files."""
    key = str(finding).strip().lower().replace(" ", "_").replace("-", "_")
    key = SIGN_ALIASES.get(key, key)
    if key not in SIGNS:
        raise ValueError(f"unknown finding {finding!r}; use one of {', '.join(SIGNS)}")
    return key


def mask_path(image_path: str | os.PathLike, finding: str) -> Path:
    """Where the mask of ``finding`` for an image lives: ``<stem>_<sign>_mask.png`` beside it.

    Example: ``.../study1/view1_frontal.jpg``, ``"Pneumothorax"`` →
    ``.../study1/view1_frontal_pneumothorax_mask.png``.
    """
    image_path = Path(image_path)
    return image_path.with_name(f"{image_path.stem}_{_sign_name(finding)}_mask.png")


def read_mask(image_path: str | os.PathLike, finding: str) -> np.ndarray | None:
    """The bool mask (h, w) of ``finding`` for an image, or None if the sign is not drawn there."""
    path = mask_path(image_path, finding)
    if not path.is_file():
        return None
    with Image.open(path) as mask:
        return np.asarray(mask.convert("L")) > 127


# ------------------------------------------------------------------ contact sheet

_POSITIVE = {"1.0", "1", 1, 1.0, True}
_SHEET_CSVS = ("valid.csv", "train.csv", "labels.csv")


def _find_csv(path: Path) -> Path:
    """The labels CSV named by a file, a dataset folder or a data root."""
    if path.is_file():
        return path
    for folder in (path, path / CHEXPERT_SMALL, path / SOURCE_DIR):
        for name in _SHEET_CSVS:
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(f"no synthetic dataset CSV ({', '.join(_SHEET_CSVS)}) in or under {path}")


def _resolve_image(text: str, bases: Sequence[Path]) -> Path:
    """The first existing ``base / text`` (CheXpert paths start one folder above their CSV)."""
    for base in bases:
        if (base / text).is_file():
            return base / text
    return bases[0] / text


def _sheet_records(root_or_rows) -> list[dict]:
    """Rows as dicts with an ``image`` Path, from a CSV/folder path or a DataFrame-like."""
    if isinstance(root_or_rows, (str, os.PathLike)):
        csv_path = _find_csv(Path(root_or_rows))
        with open(csv_path, newline="", encoding="utf-8") as handle:
            records = list(csv.DictReader(handle))
        bases = (csv_path.parent, csv_path.parent.parent)
        for record in records:
            record["image"] = _resolve_image(record["Path"], bases)
        return records
    records = root_or_rows.to_dict("records") if hasattr(root_or_rows, "to_dict") else list(root_or_rows)
    for record in records:
        record["image"] = Path(record.get("image_path") or record["Path"])
    return records


def _pick(records: list[dict], column: str, n: int, seed: int) -> list[dict]:
    """Half positives, half others (frontal only), drawn reproducibly, positives first."""
    frontal = [r for r in records if r.get("Frontal/Lateral", "Frontal") == "Frontal"]
    positive = [r for r in frontal if r.get(column) in _POSITIVE]
    other = [r for r in frontal if r.get(column) not in _POSITIVE]
    rng = np.random.default_rng(seed)
    n_pos = min(len(positive), n // 2)
    n_other = min(len(other), n - n_pos)
    chosen = [positive[i] for i in sorted(rng.choice(len(positive), n_pos, replace=False))]
    return chosen + [other[i] for i in sorted(rng.choice(len(other), n_other, replace=False))]


def _sheet_title(record: dict, column: str) -> str:
    """``patient00012/study1 AP · Pneumothorax 1.0`` (or the file name for source images)."""
    parts = Path(record["image"]).parts
    name = "/".join(parts[-3:-1]) if parts[-3].startswith("patient") else Path(record["image"]).stem
    view = f" {record['AP/PA']}" if record.get("AP/PA") else ""
    value = record.get(column)
    return f"{name}{view}\n{column} {'' if value is None else value}".rstrip()


def contact_sheet(
    root_or_rows,
    n: int = 12,
    *,
    finding: str = "Pneumothorax",
    columns: int = 4,
    seed: int = 0,
    other_masks: bool = False,
):
    """A grid of synthetic images with and without a finding, its mask outlined in red.

    Args:
        root_or_rows: a data root, a dataset folder or a labels CSV (the valid
            split is preferred), or rows (a DataFrame from ``data.read_labels``,
            with ``image_path``; or dicts with ``Path``) and the label column.
        n: images shown; half with the finding (if there are enough), half without.
        finding: the label column, e.g. ``"Pneumothorax"``; its mask is drawn in red.
        columns: images per row.
        seed: which rows are picked.
        other_masks: also outline every other drawn sign's mask, in cyan.

    Returns:
        A ``matplotlib.figure.Figure`` (made without pyplot, so it works headless).

    Raises:
        FileNotFoundError: no labels CSV under the given path.
        ValueError: no frontal row to show, or an unknown finding.
    """
    from matplotlib.figure import Figure

    sign = _sign_name(finding)
    chosen = _pick(_sheet_records(root_or_rows), finding, n, seed)
    if not chosen:
        raise ValueError(f"no frontal row to show for {finding!r}")
    rows = math.ceil(len(chosen) / columns)
    fig = Figure(figsize=(2.6 * columns, 2.45 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, record in zip(axes.flat, chosen):
        with Image.open(record["image"]) as image:
            ax.imshow(np.asarray(image.convert("L")), cmap="gray", vmin=0, vmax=255)
        _outline_masks(ax, record["image"], sign, other_masks)
        ax.set_title(_sheet_title(record, finding), fontsize=7)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(f"Synthetic demo images (not medical images): red = {sign} mask", fontsize=9)
    return fig


def _outline_masks(ax, image_path: Path, sign: str, other_masks: bool) -> None:
    """Contours of the image's masks: ``sign`` in red, others (if asked) in cyan."""
    for other in SIGNS if other_masks else (sign,):
        mask = read_mask(image_path, other)
        if mask is not None:
            ax.contour(mask.astype(np.float32), levels=[0.5], colors="red" if other == sign else "cyan",
                       linewidths=0.8 if other == sign else 0.5)


def save_contact_sheet(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a figure (PNG, PDF, SVG … from the suffix) through a temporary file renamed into place."""
    with files.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    return Path(path)
