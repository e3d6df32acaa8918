"""Each finding's radiographic sign drawn into a :class:`~.anatomy.Scene`, and its mask.

Every drawer has the signature :data:`~.anatomy.Drawer`, ``(scene, rng, severity, side)``
→ bool mask (h, w); :data:`FINDING_DRAWERS` maps sign names to them. Findings that change
the anatomy itself (heart size, diaphragm) do so in :func:`~.anatomy.adjust_anatomy`;
their drawers only return the mask.
"""

from __future__ import annotations

import math

import numpy as np

from tchexnet_lib.synthetic.anatomy import Drawer, Lung, Scene, draw_segments, tree
from tchexnet_lib.synthetic.canvas import (
    F32,
    TAU,
    Pen,
    Shape,
    smooth3,
    smoothstep,
    soft_inside,
    splat,
    upsample2,
)

__all__ = ["FINDING_DRAWERS"]

#: Density removed where air replaces lung (pneumothorax) / added to the collapsed lung per unit severity.
_PTX_LUCENCY, _PTX_DENSER = 0.06, 0.03


def _waves(rng: np.random.Generator, x, y, wavelength: float, n: int = 6):
    """A smooth lumpy field of unit-ish spread: the sum of n random plane waves."""
    out = np.zeros(x.shape, F32)
    for _ in range(n):
        theta = rng.uniform(0.0, TAU)
        k = TAU / (wavelength * rng.uniform(0.7, 1.4))
        phase = F32(rng.uniform(0, TAU))
        out += np.cos(x * F32(k * math.cos(theta)) + y * F32(k * math.sin(theta)) + phase)
    return out * F32(math.sqrt(2.0 / n))


def _visible(sc: Scene, lung: Lung) -> np.ndarray:
    """Soft mask of the lung in its window, minus what the mediastinum hides."""
    return lung.soft * (1.0 - sc.mediastinum[lung.sl])


def _collapse_table(
    shape: Shape, side: int, rng: np.random.Generator, severity: float
) -> np.ndarray:
    """Radius table of the lung retracted from the apex / lateral wall (pneumothorax)."""
    toward = rng.uniform(0.0, 1.0) ** 1.5  # 0 apical … 1 lateral
    centre = -math.pi / 2 + side * toward * math.pi / 2
    half = 0.75 + 1.0 * severity + rng.uniform(-0.1, 0.1)
    depth = 0.07 + 0.32 * severity
    delta = np.angle(np.exp(1j * (shape.angles() - centre))).astype(F32)
    window = np.maximum(np.cos(np.clip(np.abs(delta) / half, 0.0, 1.0) * (math.pi / 2)), 0.0) ** 0.6
    return shape.table - np.minimum(depth * window, 0.7 * shape.table)


def _draw_pneumothorax(
    sc: Scene, rng: np.random.Generator, severity: float, side: int
) -> np.ndarray:
    """Air between chest wall and retracted lung: no markings, darker, a thin bright pleural line."""
    cv, lung = sc.cv, sc.lungs[side]
    collapsed_radius = lung.shape.radius(lung.phi, _collapse_table(lung.shape, side, rng, severity))
    gap = lung.radius - collapsed_radius
    collapsed = soft_inside(lung.rho, collapsed_radius, cv.units(1.0))
    space = lung.soft * (1.0 - collapsed)
    sc.tissue[lung.sl] *= collapsed
    unhidden = 1.0 - sc.mediastinum[lung.sl]
    cv.density[lung.sl] += (
        _PTX_DENSER * severity * collapsed * lung.soft - _PTX_LUCENCY * space
    ) * unhidden
    offset = (lung.rho - collapsed_radius) / F32(cv.units(1.1))
    line = np.exp(-offset * offset) * smoothstep(gap / F32(cv.units(3.0))) * lung.soft
    cv.density[lung.sl] += 0.3 * line * unhidden
    region = (lung.soft > 0.5) & (lung.rho > collapsed_radius) & (gap > cv.units(1.0))
    return _full_bool(sc, lung.sl, region & (sc.mediastinum[lung.sl] < 0.5))


def _full_bool(sc: Scene, sl: tuple[slice, slice], part: np.ndarray) -> np.ndarray:
    """A window-sized bool mask placed into a False (h, w) mask."""
    out = np.zeros((sc.cv.h, sc.cv.w), bool)
    out[sl] = part
    return out


def _lung_bottom(sc: Scene, side: int) -> float:
    """The lowest point of a lung (its costophrenic angle), patient y."""
    _, y = sc.lungs[side].shape.outline()
    return float(y.max())


def _draw_effusion(sc: Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """Basal fluid: opacity rising laterally in a meniscus, blunting the costophrenic angle."""
    cv, a, lung = sc.cv, sc.a, sc.lungs[side]
    x, y = cv.x[lung.sl], cv.y[lung.sl]
    u = np.clip((side * x - 0.16) / (a["lung_xe"] + a["lung_rx"] - 0.16), 0.0, 1.0)
    level = _lung_bottom(sc, side) - 0.12 - 0.8 * severity
    meniscus = level - (0.06 + 0.2 * severity) * u * u
    opacity = smoothstep((y - meniscus) / 0.12) * _visible(sc, lung)
    sc.tissue[lung.sl] *= 1.0 - opacity
    cv.density[lung.sl] += 0.5 * opacity
    return _full_bool(sc, lung.sl, opacity > 0.5)


def _draw_edema(sc: Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """Bilateral perihilar ('bat-wing') haze, prominent interstitium and Kerley B lines."""
    cv, a = sc.cv, sc.a
    mask = np.zeros((cv.h, cv.w), bool)
    pen = Pen(cv)
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
            pen.stroke(
                s * np.array([edge, edge - rng.uniform(0.05, 0.09)]), np.array([yk, yk]), 0.5
            )
    cv.density += 0.08 * smooth3(pen.image()) * sc.visible
    return mask


def _blob(sc: Scene, rng: np.random.Generator, lung: Lung, centre, radii, lumpy: float):
    """Soft patchy opacity around ``centre`` in a lung window: an ellipse roughened by waves."""
    x, y = sc.cv.x[lung.sl], sc.cv.y[lung.sl]
    dx, dy = (x - centre[0]) / radii[0], (y - centre[1]) / radii[1]
    field = 1.0 - (dx * dx + dy * dy) + lumpy * _waves(rng, x, y, 0.35)
    return smoothstep(field / 0.35) * _visible(sc, lung)


def _draw_consolidation(
    sc: Scene, rng: np.random.Generator, severity: float, side: int
) -> np.ndarray:
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
    segments = tree(
        rng, start_x, np.full(n, centre[1]), angle, np.full(n, 0.5 * radii[0]), np.ones(n), 3
    )
    layers = {True: ([], [], []), False: ([], [], [])}
    draw_segments(cv, segments, layers, 0.8)
    cols, rows, wts = (np.concatenate(a + b) for a, b in zip(layers[True], layers[False]))
    bronchi = smooth3(splat((cv.h, cv.w), cols, rows, wts)[lung.sl])
    cv.density[lung.sl] -= 0.2 * np.minimum(bronchi, 1.0) * opacity
    return _full_bool(sc, lung.sl, opacity > 0.5)


def _draw_infiltration(
    sc: Scene, rng: np.random.Generator, severity: float, side: int
) -> np.ndarray:
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


def _draw_atelectasis(
    sc: Scene, rng: np.random.Generator, severity: float, side: int
) -> np.ndarray:
    """A plate-like band or a wedge pointing to the hilum (the raised hemidiaphragm is in the anatomy)."""
    cv, a, lung = sc.cv, sc.a, sc.lungs[side]
    x, y = cv.x[lung.sl], cv.y[lung.sl]
    if rng.random() < 0.5:
        cx, cy, tilt = side * rng.uniform(0.38, 0.6), rng.uniform(0.15, 0.5), rng.uniform(-0.3, 0.3)
        along = (x - cx) * math.cos(tilt) + (y - cy) * math.sin(tilt)
        across = (y - cy) * math.cos(tilt) - (x - cx) * math.sin(tilt)
        shape = soft_inside(np.abs(across), 0.018 + 0.02 * severity, cv.units(1.5))
        shape *= soft_inside(np.abs(along), 0.14 + 0.1 * severity, 0.05)
        amount = 0.32
    else:
        hx, hy = side * 0.24, a["hilum_y"][side] + 0.05
        direction = math.pi / 2 - side * rng.uniform(0.35, 0.85)
        dx, dy = x - hx, y - hy
        off = np.abs(np.arctan2(dy, dx) - F32(direction))
        shape = soft_inside(np.minimum(off, TAU - off), 0.16 + 0.2 * severity, 0.06)
        shape *= smoothstep((np.sqrt(dx * dx + dy * dy) - 0.05) / 0.12)
        amount = 0.26
    opacity = shape * _visible(sc, lung)
    cv.density[lung.sl] += amount * opacity
    sc.tissue[lung.sl] *= 1.0 - 0.5 * opacity
    return _full_bool(sc, lung.sl, opacity > 0.5)


def _lesion_centre(
    sc: Scene, rng: np.random.Generator, side: int, margin: float
) -> tuple[float, float]:
    """A point well inside the lateral part of a lung (away from the heart)."""
    shape = sc.lungs[side].shape
    outward = math.pi if side < 0 else 0.0
    phi = outward + rng.uniform(-1.3, 1.3)
    reach = float(shape.radius(np.array([phi], F32))[0])
    dist = rng.uniform(0.15, 0.8) * max(reach - margin, 0.05)
    return shape.cx + dist * math.cos(phi), shape.cy + dist * math.sin(phi)


def _draw_round_opacity(
    sc: Scene, rng: np.random.Generator, radius: float, amount: float, side: int, lobulated: float
) -> np.ndarray:
    """A round (optionally lobulated) opacity with a spherical density profile."""
    cv = sc.cv
    cx, cy = _lesion_centre(sc, rng, side, radius)
    sl = cv.box(cx - radius * 1.3, cx + radius * 1.3, cy - radius * 1.3, cy + radius * 1.3)
    dx, dy = cv.x[sl] - cx, cv.y[sl] - cy
    phi = np.arctan2(dy, dx)
    p1, p2 = rng.uniform(0, TAU, 2)
    r = radius * (1.0 + lobulated * (0.6 * np.sin(3 * phi + p1) + 0.4 * np.sin(5 * phi + p2)))
    q = np.sqrt(dx * dx + dy * dy) / r
    profile = np.sqrt(np.clip(1.0 - q * q, 0.0, 1.0)) * soft_inside(q, 1.0, cv.units(1.0) / radius)
    cv.density[sl] += amount * profile
    return _full_bool(sc, sl, q < 1.0)


def _draw_nodule(sc: Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """A small round opacity (about 3-7 px across at 390 × 320)."""
    return _draw_round_opacity(sc, rng, 0.028 + 0.025 * severity, 0.3, side, 0.03)


def _draw_mass(sc: Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """A large lobulated opacity."""
    return _draw_round_opacity(sc, rng, 0.08 + 0.08 * severity, 0.36, side, 0.1)


def _draw_pleural_thickening(
    sc: Scene, rng: np.random.Generator, severity: float, side: int
) -> np.ndarray:
    """A smooth band of pleural density along the lateral chest wall or the apex."""
    lung = sc.lungs[side]
    centre = -math.pi / 2 + side * rng.uniform(0.2, 1.0) * math.pi / 2
    delta = np.abs(np.angle(np.exp(1j * (lung.phi - centre)))).astype(F32)
    thickness = (0.025 + 0.035 * severity) * np.cos(np.clip(delta / 0.9, 0.0, 1.0) * (math.pi / 2))
    band = lung.soft * smoothstep((lung.rho - lung.radius + thickness) / F32(sc.cv.units(1.5)))
    band *= (thickness > sc.cv.units(0.8)) * (1.0 - sc.mediastinum[lung.sl])
    sc.cv.density[lung.sl] += 0.3 * band
    sc.tissue[lung.sl] *= 1.0 - band
    return _full_bool(sc, lung.sl, band > 0.5)


def _draw_hernia(sc: Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """Hiatal hernia: a retrocardiac round opacity with an air-fluid level."""
    cv, a = sc.cv, sc.a
    cx, cy, r = 0.05 + rng.uniform(-0.05, 0.1), a["heart"][1] + 0.1, 0.1 + 0.06 * severity
    sl = cv.box(cx - r, cx + r, cy - r, cy + r)
    dx, dy = (cv.x[sl] - cx) / r, (cv.y[sl] - cy) / r
    disc = soft_inside(np.sqrt(dx * dx + dy * dy), 1.0, cv.units(1.2) / r)
    air = disc * soft_inside(dy, -0.1, cv.units(1.0) / r)
    wall = np.exp(-(((np.sqrt(dx * dx + dy * dy) - 0.95) / 0.06) ** 2))
    cv.density[sl] += 0.1 * disc - 0.22 * air + 0.05 * wall
    return _full_bool(sc, sl, disc > 0.5)


def _draw_fracture(sc: Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
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
    return (sc.cv.x - xc) ** 2 + (sc.cv.y - yc) ** 2 < 0.05**2


def _draw_emphysema(sc: Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """Hyperinflation (in the anatomy), pruned peripheral markings and apical bullae."""
    cv = sc.cv
    mask = np.zeros((cv.h, cv.w), bool)
    for s, lung in sc.lungs.items():
        sc.tissue[lung.sl] *= 1.0 - 0.5 * (lung.rho / lung.radius) ** 2
        mask[lung.sl] |= lung.soft > 0.5
        for _ in range(int(rng.integers(0, 3))):
            cx, cy, r = (
                s * rng.uniform(0.35, 0.7),
                rng.uniform(-0.85, -0.45),
                rng.uniform(0.06, 0.12),
            )
            d = np.sqrt((cv.x[lung.sl] - cx) ** 2 + (cv.y[lung.sl] - cy) ** 2) / r
            inside = soft_inside(d, 1.0, cv.units(1.0) / r) * lung.soft
            sc.tissue[lung.sl] *= 1.0 - inside
            cv.density[lung.sl] += (
                0.05 * np.exp(-(((d - 1.0) / 0.05) ** 2)) - 0.04 * inside
            ) * lung.soft
    return mask


def _draw_fibrosis(sc: Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """A coarse reticular net in the lower, peripheral lungs."""
    cv = sc.cv
    mask = np.zeros((cv.h, cv.w), bool)
    for s, lung in sc.lungs.items():
        x, y = cv.x[lung.sl], cv.y[lung.sl]
        field = _waves(rng, x, y, 0.06, 8)
        net = np.exp(-((field / 0.3) ** 2))
        where = smoothstep((y + 0.1) / 0.5) * smoothstep((s * x - 0.35) / 0.3) * _visible(sc, lung)
        cv.density[lung.sl] += (0.07 + 0.06 * severity) * net * where
        mask[lung.sl] |= (where > 0.4) & (lung.soft > 0.5)
    return mask


def _draw_cardiomegaly(
    sc: Scene, rng: np.random.Generator, severity: float, side: int
) -> np.ndarray:
    """The heart was widened in the anatomy; the mask is the cardiac silhouette."""
    return upsample2(sc.lo_heart, (sc.cv.h, sc.cv.w)) > 0.5


def _draw_enlarged_cardiomediastinum(sc: Scene, rng, severity: float, side: int) -> np.ndarray:
    """The mediastinum was widened in the anatomy; the mask is the upper mediastinum."""
    return (sc.mediastinum > 0.5) & (upsample2(sc.lo_heart, (sc.cv.h, sc.cv.w)) < 0.5)


#: Sign name → its drawer (the device signs are in :data:`~.devices.DEVICE_DRAWERS`).
FINDING_DRAWERS: dict[str, Drawer] = {
    "pneumothorax": _draw_pneumothorax,
    "cardiomegaly": _draw_cardiomegaly,
    "enlarged_cardiomediastinum": _draw_enlarged_cardiomediastinum,
    "effusion": _draw_effusion,
    "edema": _draw_edema,
    "consolidation": _draw_consolidation,
    "infiltration": _draw_infiltration,
    "atelectasis": _draw_atelectasis,
    "nodule": _draw_nodule,
    "mass": _draw_mass,
    "emphysema": _draw_emphysema,
    "fibrosis": _draw_fibrosis,
    "pleural_thickening": _draw_pleural_thickening,
    "hernia": _draw_hernia,
    "fracture": _draw_fracture,
}
