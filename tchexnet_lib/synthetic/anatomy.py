"""The normal chest of a frontal film: body, lungs, mediastinum, bones, vessels and the exposure.

:func:`sample_anatomy` draws a patient's parameters, :func:`adjust_anatomy` lets findings
change them (a big heart, a raised diaphragm), :func:`draw_anatomy` draws them into a
:class:`Scene`, :func:`finish_lungs` blends the lung markings in after the findings, and
:func:`expose` turns the density into an 8-bit image through a film-like curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tchexnet_lib.synthetic.canvas import (
    F32,
    Canvas,
    Shape,
    fine_noise,
    smooth3,
    smoothstep,
    soft_inside,
    splat,
    upsample2,
    white_noise,
)

__all__ = [
    "Drawer",
    "Lung",
    "Scene",
    "adjust_anatomy",
    "draw_anatomy",
    "draw_segments",
    "expose",
    "finish_lungs",
    "sample_anatomy",
    "tree",
]

#: Exposure: brightness = 1 - exp(-speed × density), then a gamma (soft shoulder like film).
_FILM_SPEED = 2.0
_RIB_STEPS = 256
#: Density mapped to full brightness (the densest anatomy: mediastinum over spine).
_FULL_DENSITY = 1.35


def sample_anatomy(
    rng: np.random.Generator, domain: str, projection: str, size: tuple[int, int]
) -> dict:
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
        "heart": [
            0.12 + rng.normal(0.0, 0.02),
            0.5 + 0.5 * inspiration,
            0.45 * rng.uniform(0.93, 1.07) * (1.1 if ap else 1.0),
            0.33,
            0.3,
        ],
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


def adjust_anatomy(a: dict, signs: dict[str, float], sides: dict[str, int]) -> None:
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


class Scene:
    """Layers of one frontal image while it is drawn.

    Attributes:
        cv: the canvas (grid and density).
        lo: a half-resolution canvas for smooth anatomy (body, bones), added to ``cv`` at the end.
        a: anatomy from :func:`sample_anatomy`.
        lungs: side → :class:`Lung`.
        mediastinum: soft mask (h, w) of heart + mediastinum (no lung there).
        lo_heart: soft mask of the heart at half size (``lo``).
        visible: soft mask (h, w) of lung not hidden by the mediastinum.
        tissue: (h, w) factor on lung tissue and markings (0 where collapsed or filled).
        markings: (h, w) vessel and parenchyma density, drawn at the end × tissue.
        devices: (h, w) radiopaque device density.
        rib_index: (window, rib number, lateral position) of the posterior ribs on ``lo``.
    """

    def __init__(self, cv: Canvas, a: dict):
        self.cv, self.a = cv, a
        self.lo = cv.half()
        shape = (cv.h, cv.w)
        self.lungs: dict[int, Lung] = {}
        self.mediastinum = np.zeros(shape, F32)
        self.lo_heart = np.zeros((self.lo.h, self.lo.w), F32)
        self.visible = np.zeros(shape, F32)
        self.tissue = np.ones(shape, F32)
        self.markings = np.zeros(shape, F32)
        self.devices = np.zeros(shape, F32)
        self.rib_index: tuple | None = None


@dataclass
class Lung:
    """One lung: its outline and, inside its window, each pixel's polar coordinates."""

    side: int
    shape: Shape
    sl: tuple[slice, slice]
    rho: np.ndarray
    phi: np.ndarray
    radius: np.ndarray
    soft: np.ndarray


#: A sign's drawer: (scene, rng, severity in (0, 1], side -1 or +1) → the sign's bool mask (h, w).
Drawer = Callable[[Scene, np.random.Generator, float, int], np.ndarray]


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


def _draw_lungs(sc: Scene) -> None:
    """Both lungs: outlines, soft masks and polar grids, stored in ``sc.lungs``."""
    cv, edge = sc.cv, sc.cv.units(1.2)
    for side in (-1, 1):
        x, y = _lung_outline(sc.a, side)
        shape = Shape.from_outline(x, y, side * 0.47, 0.1)
        sl = cv.window(x, y, margin=0.02)
        rho, phi = shape.polar(cv.x[sl], cv.y[sl])
        radius = shape.radius(phi)
        sc.lungs[side] = Lung(side, shape, sl, rho, phi, radius, soft_inside(rho, radius, edge))


def _draw_body(sc: Scene) -> None:
    """Soft tissue: torso, neck, shoulders and arms, breasts, a denser abdomen."""
    cv, a = sc.lo, sc.a
    x, y = cv.x, cv.y
    ax = np.abs(x)
    half = a["torso"] * (1.0 + 0.04 * y)
    top = -1.5 + 0.5 * smoothstep((ax - 0.42) / 0.9)
    torso = np.clip(1.0 - (x / half) ** 2, 0.0, 1.0) ** 0.4
    armpit = -0.3 - 0.55 * smoothstep((ax - a["torso"]) / 0.4)
    shoulder = soft_inside(ax, a["arm_x"], 0.1) * soft_inside(y, armpit, 0.15)
    arm = np.clip(1.0 - ((ax - a["arm_x"] - 0.12) / 0.26) ** 2, 0.0, 1.0) * (
        0.42 if a["ap"] else 0.0
    )
    body = np.maximum(np.maximum(torso, 0.75 * shoulder), arm) * soft_inside(top, y, 0.04)
    cv.density += body * (a["tissue"] + 0.08 * smoothstep((y - a["dome_y"][1] - 0.1) / 0.4))
    if a["female"]:
        for side in (-1, 1):
            sl = cv.box(side * 0.6 - 0.6, side * 0.6 + 0.6, 0.2, 1.3)
            dx = (cv.x[sl] - side * 0.6) / 0.5
            lower = 0.85 + 0.25 * np.sqrt(np.clip(1.0 - dx * dx, 0.0, 1.0))
            fill = np.exp(-1.5 * dx * dx) * smoothstep((cv.y[sl] - 0.3) / 0.5)
            cv.density[sl] += 0.05 * fill * soft_inside(cv.y[sl], lower, 0.04)


def _heart_shape(a: dict) -> Shape:
    """The cardiac silhouette: a tilted ellipse, apex down and to the patient's left."""
    hx, hy, rx, ry, tilt = a["heart"]
    t = np.linspace(-math.pi, math.pi, 256, endpoint=False)
    ex = rx * np.cos(t) * (1.0 + 0.06 * np.cos(2 * t))
    ey = ry * np.sin(t)
    x = hx + ex * math.cos(tilt) - ey * math.sin(tilt)
    y = hy + ex * math.sin(tilt) + ey * math.cos(tilt)
    return Shape.from_outline(x, y, hx, hy)


def _draw_mediastinum(sc: Scene) -> None:
    """Heart, upper mediastinum and aortic knob as one soft 'no lung here' mask (drawn at half size)."""
    cv, a = sc.lo, sc.a
    edge = cv.units(1.0)
    heart = _heart_shape(a)
    hx, hy = heart.outline()
    sl = cv.window(hx, hy)
    rho, phi = heart.polar(cv.x[sl], cv.y[sl])
    lo_heart = np.zeros((cv.h, cv.w), F32)
    lo_heart[sl] = soft_inside(rho, heart.radius(phi), edge)
    x, y = cv.x, cv.y
    half = a["mediastinum"] * (1.0 + 0.15 * (y + 1.2))
    band = soft_inside(np.abs(x - 0.02), half, edge) * soft_inside(
        y, F32(a["heart"][1] + 0.15), 0.1
    )
    knob_x = 0.12 + 0.6 * (a["mediastinum"] - 0.15)
    knob = soft_inside(np.sqrt((x - knob_x) ** 2 + (y + 0.4) ** 2), 0.11, edge)
    shape = (sc.cv.h, sc.cv.w)
    sc.lo_heart = lo_heart
    sc.mediastinum = upsample2(np.maximum(np.maximum(band, knob), lo_heart), shape)
    cv.density += 0.05 * lo_heart * (1.0 - band)


def _draw_air(sc: Scene) -> None:
    """Lung air (darkness) where the lungs are not hidden by the mediastinum; trachea; stomach."""
    cv, a = sc.cv, sc.a
    for lung in sc.lungs.values():
        visible = lung.soft * (1.0 - sc.mediastinum[lung.sl])
        sc.visible[lung.sl] += visible
        depth = 0.75 + 0.25 * smoothstep((cv.y[lung.sl] - a["apex_y"]) / 0.55)
        depth *= 1.0 - 0.2 * (lung.rho / lung.radius) ** 6
        cv.density[lung.sl] -= a["air"] * visible * depth
    sl = cv.box(-0.4, 0.4, -1.6, -0.1)
    x, y = cv.x[sl], cv.y[sl]
    carina = -0.3
    trachea = soft_inside(np.abs(x - 0.01), 0.045, 0.03) * soft_inside(y, carina, 0.05)
    for side, slope in ((-1, 0.55), (1, 1.1)):
        along = y - carina
        centre = 0.01 + side * slope * along
        trachea = np.maximum(
            trachea,
            soft_inside(np.abs(x - centre), 0.035, 0.02)
            * soft_inside(np.abs(along - 0.09), 0.1, 0.02),
        )
    cv.density[sl] -= 0.15 * trachea
    dome = a["dome_y"][1] + a["dome_k"][1] * 0.01
    sl = cv.box(0.3, 0.75, dome + 0.03, dome + 0.3)
    dx, dy = (cv.x[sl] - 0.52) / 0.15, (cv.y[sl] - dome - 0.16) / 0.08
    bubble = np.clip(1.0 - dx * dx - dy * dy, 0.0, 1.0) * soft_inside(dy, 0.25, 0.1)
    cv.density[sl] -= 0.3 * np.sqrt(bubble)


@lru_cache(maxsize=4)
def _rib_profile(width: float) -> np.ndarray:
    """Brightness across one rib period (256 steps): bright cortical edges, softer middle."""
    t = np.arange(_RIB_STEPS) / (_RIB_STEPS * width)
    core = np.sqrt(np.clip(np.sin(np.minimum(t, 1.0) * math.pi), 0.0, 1.0))
    cortex = np.exp(-(((t - 0.08) / 0.09) ** 2)) + np.exp(-(((t - 0.92) / 0.09) ** 2))
    table = np.where(t < 1.0, 0.65 * core + 0.4 * cortex, 0.0).astype(F32)
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


def _draw_ribs(sc: Scene) -> None:
    """Posterior ribs (arched, brighter) and anterior ribs (sloping down medially, fainter)."""
    cv, a = sc.lo, sc.a
    sl = cv.box(-1.3, 1.3, a["rib_y0"] - 0.2, 1.3)
    x, y = cv.x[sl], cv.y[sl]
    u = np.abs(x) / a["cage"]
    lateral = np.maximum(u - 0.8, 0.0)
    arch = -0.8 * u + 0.75 * u * u + 1.2 * lateral * lateral
    post, k = _rib_band(y - a["rib_y0"] - arch, a["rib_s0"], 0.011, 10.6, 0.36)
    post *= smoothstep((u - 0.05) / 0.08) * smoothstep((1.06 - u) / 0.08)
    sc.rib_index = (sl, k, u)
    ant, _ = _rib_band(
        y - a["rib_y0"] - 0.25 - 0.5 * (1.0 - u), a["rib_s0"] * 0.9, 0.012, 6.5, 0.38
    )
    ant *= smoothstep((u - 0.32) / 0.12) * smoothstep((1.08 - u) / 0.06)
    below = smoothstep((y - a["dome_y"][1] - 0.05) / 0.2)
    cv.density[sl] += (0.13 * post + 0.05 * ant) * (1.0 - 0.6 * below)


def _draw_clavicles(sc: Scene) -> None:
    """Two S-shaped clavicles rising from the sternal notch toward the shoulders; humeral heads."""
    cv, a = sc.lo, sc.a
    sl = cv.box(-1.25, 1.25, a["clav_y"] - 0.45, a["clav_y"] + 0.15)
    x, y = cv.x[sl], cv.y[sl]
    u = np.abs(x)
    centre = a["clav_y"] - (0.13 if a["ap"] else 0.22) * u + 0.035 * np.sin(math.pi * 1.6 * u)
    half = 0.042 + 0.012 * smoothstep((0.3 - u) / 0.2)
    d = (y - centre) / half
    profile = np.sqrt(np.clip(1.0 - d * d, 0.0, 1.0)) + 0.5 * np.exp(
        -(((np.abs(d) - 0.85) / 0.18) ** 2)
    )
    profile *= smoothstep((u - 0.07) / 0.04) * smoothstep((1.15 - u) / 0.1)
    cv.density[sl] += 0.2 * profile
    for side in (-1, 1):
        ox = side * (a["arm_x"] - 0.14)
        sl = cv.box(ox - 0.2, ox + 0.2, a["clav_y"] - 0.15, a["clav_y"] + (1.0 if a["ap"] else 0.3))
        dx, y = side * (cv.x[sl] - ox), cv.y[sl] - a["clav_y"] - 0.08
        r = np.sqrt(dx * dx + y * y) / 0.17
        head = np.sqrt(np.maximum(1.0 - r * r, 0.0)) + 0.4 * np.exp(-(((r - 0.93) / 0.08) ** 2))
        if a["ap"]:
            shaft = np.sqrt(np.maximum(1.0 - ((dx - 0.04 - 0.03 * y) / 0.07) ** 2, 0.0))
            head = np.maximum(head, 0.6 * shaft * smoothstep(y / 0.1) * soft_inside(y, 0.5, 0.4))
        cv.density[sl] += 0.14 * head


def _draw_spine(sc: Scene) -> None:
    """Thoracic spine: vertebral bodies with end plates, pedicles and spinous processes."""
    cv = sc.lo
    sl = cv.box(-0.16, 0.16, -1.6, 1.6)
    x, y = cv.x[sl], cv.y[sl]
    ax = np.abs(x)
    f = (y + 3.0) / 0.165
    f = f - np.floor(f)
    body = soft_inside(ax, 0.085, 0.02) * soft_inside(np.abs(f - 0.42), 0.4, 0.04)
    plates = soft_inside(ax, 0.085, 0.02) * np.exp(-(((np.abs(f - 0.42) - 0.38) / 0.04) ** 2))
    pedicles = np.exp(-(((ax - 0.062) / 0.016) ** 2 + ((f - 0.3) / 0.12) ** 2))
    process = np.exp(-((x / 0.012) ** 2 + ((f - 0.7) / 0.16) ** 2))
    cv.density[sl] += 0.05 * body + 0.025 * plates + 0.04 * pedicles + 0.03 * process


def _draw_scapulae(sc: Scene) -> None:
    """Scapulae: triangles whose medial border overlies the lateral upper lung on AP films."""
    cv, a = sc.lo, sc.a
    sl = cv.box(-1.7, 1.7, -1.2, -0.1)
    x, y = np.abs(cv.x[sl]), cv.y[sl]
    medial = (0.8 if a["ap"] else 1.0) + 0.12 * (y + 1.05)
    bottom = -0.25
    lateral = medial + 0.02 + 0.55 * (bottom - y)
    inside = smoothstep((x - medial) / 0.03) * smoothstep((lateral - x) / 0.05)
    inside *= soft_inside(y, bottom, 0.06) * soft_inside(-y, 1.08, 0.06)
    rim = np.exp(-(((x - medial) / 0.012) ** 2)) * soft_inside(y, bottom, 0.06) * (y > -1.08)
    cv.density[sl] += 0.06 * inside + 0.05 * rim


def tree(rng: np.random.Generator, x, y, angle, length, weight, generations: int):
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
    """Pulmonary vessels: eleven trunks fanning out from one hilum (see :func:`tree`)."""
    n = 11
    offsets = np.linspace(-1.5, 1.35, n) + rng.normal(0.0, 0.06, n)
    angle = (math.pi if side < 0 else 0.0) - side * offsets
    x = side * (0.19 + rng.uniform(0.0, 0.05, n))
    y = a["hilum_y"][side] - 0.1 * offsets + rng.normal(0.0, 0.02, n)
    weight = np.where(offsets < 0, 1.0, 0.8)
    return tree(rng, x, y, angle, rng.uniform(0.12, 0.18, n), weight, generations)


def _segment_points(cv: Canvas, x0, y0, x1, y1, weight, spacing: float = 0.9):
    """Points every ``spacing`` pixels along segments, each weighted by weight × its length share."""
    c0, r0 = cv.to_pixels(x0, y0)
    c1, r1 = cv.to_pixels(x1, y1)
    length = np.hypot(c1 - c0, r1 - r0)
    n = int(length.max() / spacing) + 2
    t = np.linspace(0.0, 1.0, n)[None, :]
    cols = (c0[:, None] + (c1 - c0)[:, None] * t).ravel()
    rows = (r0[:, None] + (r1 - r0)[:, None] * t).ravel()
    return cols, rows, (weight[:, None] * (1.0 - 0.3 * t) * (length[:, None] / n)).ravel()


def draw_segments(cv: Canvas, segments, layers: dict, decay: float) -> None:
    """Collect points of tree segments into ``layers[thick]`` lists (thick = generations 0-1)."""
    for generation, x0, y0, x1, y1, weight in segments:
        cols, rows, wts = _segment_points(cv, x0, y0, x1, y1, weight * decay**generation)
        for lst, value in zip(layers[generation < 2], (cols, rows, wts)):
            lst.append(value)


def _draw_markings(sc: Scene, rng: np.random.Generator) -> None:
    """Lung markings into ``sc.markings``: vessels, hilar shadows, parenchymal mottling."""
    cv, a = sc.cv, sc.a
    shape = (cv.h, cv.w)
    layers = {True: ([], [], []), False: ([], [], [])}
    for side in (-1, 1):
        draw_segments(cv, _vessel_segments(rng, a, side, a["generations"]), layers, 0.85)
    thick, thin = (splat(shape, *(np.concatenate(v) for v in layers[k])) for k in (True, False))
    sc.markings += smooth3(0.5 * smooth3(thick) + 0.7 * thin)
    for side in (-1, 1):
        sl = cv.box(side * 0.22 - 0.2, side * 0.22 + 0.2, -0.25, 0.3)
        d2 = ((cv.x[sl] - side * 0.24) / 0.1) ** 2 + ((cv.y[sl] - a["hilum_y"][side]) / 0.15) ** 2
        sc.markings[sl] += 0.14 * np.exp(-d2)
    sc.markings += 0.05 + 0.03 * fine_noise(rng, shape)


def draw_anatomy(sc: Scene, rng: np.random.Generator) -> None:
    """Everything a normal frontal film shows, except the lung markings' final blend."""
    for draw in (
        _draw_body,
        _draw_lungs,
        _draw_mediastinum,
        _draw_air,
        _draw_ribs,
        _draw_clavicles,
        _draw_spine,
        _draw_scapulae,
    ):
        draw(sc)
    _draw_markings(sc, rng)


def finish_lungs(sc: Scene) -> None:
    """Add markings × lung tissue and the half-size anatomy to the density (after the findings)."""
    sc.cv.density += sc.markings * sc.visible * sc.tissue + upsample2(
        sc.lo.density, (sc.cv.h, sc.cv.w)
    )


def expose(sc: Scene, rng: np.random.Generator, domain: str) -> np.ndarray:
    """Density → 8-bit image through the domain's exposure curve (film-like, then gamma) and noise."""
    d = sc.cv.density + sc.devices
    if domain == "source":
        gamma, lift, gain, noise = rng.uniform(2.5, 2.8), 0.0, 1.0, rng.uniform(0.006, 0.012)
    else:
        gamma = math.exp(rng.normal(math.log(2.0), 0.2))
        lift, gain, noise = rng.uniform(0.02, 0.1), rng.uniform(0.8, 0.96), rng.uniform(0.015, 0.03)
    full_scale = 1.0 / (1.0 - math.exp(-_FULL_DENSITY * _FILM_SPEED))
    v = (1.0 - np.exp(np.maximum(d, 0.0) * F32(-_FILM_SPEED))) * F32(full_scale)
    v = np.clip(v, 0.0, 1.0) ** F32(gamma)
    if domain == "source":
        grain = white_noise(rng, d.shape)
    else:
        grain = fine_noise(rng, d.shape)
    v = lift + gain * v + F32(noise) * grain
    return (np.clip(v, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
