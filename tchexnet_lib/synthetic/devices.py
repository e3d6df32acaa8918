"""Radiopaque devices: tubes, lines, ECG leads, a pacemaker, sternal wires and chest tubes.

Each device is drawn with a :class:`~.canvas.Pen` and added to the scene's device layer;
:data:`DEVICE_DRAWERS` maps the two device signs (``support_devices``, ``chest_tube``) to
their drawers (see :data:`~.anatomy.Drawer`).
"""

from __future__ import annotations

import numpy as np

from tchexnet_lib.synthetic.anatomy import Drawer, Scene
from tchexnet_lib.synthetic.canvas import TAU, Pen, bezier, smooth3, soft_inside

__all__ = ["DEVICE_DRAWERS"]


def _tube(pen: Pen, points, walls: float, n: int = 80) -> None:
    """A tube along a Bézier curve: two radiopaque walls ``walls`` pixels off the centre line."""
    x, y = bezier(points, n)
    pen.stroke(x, y, 0.8, offsets=(-walls, walls))


def _endotracheal_tube(sc: Scene, rng: np.random.Generator, pen: Pen) -> None:
    """Down the trachea from above the image, tip a few cm above the carina."""
    x0 = rng.normal(0.01, 0.015)
    _tube(pen, [(x0 + 0.06, -2.0), (x0, -1.2), (x0, rng.uniform(-0.78, -0.5))], 2.0)


def _nasogastric_tube(sc: Scene, rng: np.random.Generator, pen: Pen) -> None:
    """Down the oesophagus, through the hiatus, curving into the stomach."""
    _tube(pen, [(-0.02, -2.0), (0.04, -0.6), (0.02, 0.7), (0.4, 0.95), (0.6, 1.9)], 0.8, 120)


def _central_line(sc: Scene, rng: np.random.Generator, pen: Pen) -> None:
    """A thin catheter from the subclavian / jugular region down the superior vena cava."""
    s = -1 if rng.random() < 0.7 else 1
    points = [(s * 1.0, -1.55), (s * 0.5, -1.05), (-0.05, -0.98), (-0.07, rng.uniform(-0.45, -0.1))]
    _tube(pen, points, 0.6)


def _ecg_leads(sc: Scene, rng: np.random.Generator, pen: Pen) -> None:
    """Three to five round electrodes with wires running off the image."""
    t = np.linspace(0.0, TAU, 48)
    for _ in range(int(rng.integers(3, 6))):
        ex, ey = rng.uniform(-1.0, 1.0), rng.uniform(-1.15, 0.75)
        for r in (0.045, 0.012):
            pen.stroke(ex + r * np.cos(t), ey + r * np.sin(t), 0.9)
        end = (rng.choice((-2.0, 2.0)), rng.uniform(-1.5, 1.5))
        bend = (rng.uniform(-1.2, 1.2), rng.uniform(-1.2, 1.2))
        pen.stroke(*bezier([(ex, ey), bend, end], 80), 0.6)


def _pacemaker(sc: Scene, rng: np.random.Generator, pen: Pen) -> None:
    """A dense generator box under a clavicle with a lead to the right ventricle."""
    cv = sc.cv
    bx, by = rng.choice((-1.0, 1.0)) * rng.uniform(0.6, 0.85), rng.uniform(-0.95, -0.8)
    sl = cv.box(bx - 0.16, bx + 0.16, by - 0.12, by + 0.12)
    edge = cv.units(1.5)
    box = soft_inside(np.abs(cv.x[sl] - bx), 0.12, edge) * soft_inside(
        np.abs(cv.y[sl] - by), 0.08, edge
    )
    pen.fill(sl, 1.3 * box)
    _tube(pen, [(bx, by), (0.0, -0.8), (-0.08, 0.1), (0.2, 0.6)], 0.7)


def _sternal_wires(sc: Scene, rng: np.random.Generator, pen: Pen) -> None:
    """Sternotomy wires: small twisted loops down the midline."""
    t = np.linspace(0.0, TAU, 32)
    for yk in np.linspace(-0.85, 0.2, int(rng.integers(4, 7))):
        xk = rng.normal(0.02, 0.01)
        pen.stroke(xk + 0.03 * np.cos(t), yk + 0.016 * np.sin(t), 1.2)


_DEVICES = (
    (_endotracheal_tube, 0.45),
    (_nasogastric_tube, 0.35),
    (_central_line, 0.5),
    (_ecg_leads, 0.45),
    (_pacemaker, 0.15),
    (_sternal_wires, 0.12),
)


def _add_devices(sc: Scene, pen: Pen) -> np.ndarray:
    """Add drawn device lines to ``sc.devices``; return their (slightly dilated) mask."""
    layer = smooth3(pen.image())
    sc.devices += 0.75 * np.minimum(layer, 1.0)
    return smooth3(layer) > 0.04


def _draw_support_devices(
    sc: Scene, rng: np.random.Generator, severity: float, side: int
) -> np.ndarray:
    """One to three of: endotracheal tube, NG tube, central line, ECG leads, pacemaker, wires."""
    pen = Pen(sc.cv)
    chosen = [draw for draw, p in _DEVICES if rng.random() < p]
    if not chosen:
        chosen = [_DEVICES[int(rng.integers(len(_DEVICES)))][0]]
    for draw in chosen:
        draw(sc, rng, pen)
    return _add_devices(sc, pen)


def _draw_chest_tube(sc: Scene, rng: np.random.Generator, severity: float, side: int) -> np.ndarray:
    """A thick pleural drain entering laterally and curving up toward the apex."""
    cv = sc.cv
    entry = rng.uniform(0.2, 0.6)
    points = [
        (side * 1.6, entry + 0.25),
        (side * 1.0, entry),
        (side * 0.75, entry - 0.45),
        (side * rng.uniform(0.4, 0.6), rng.uniform(-0.85, -0.6)),
    ]
    pen = Pen(cv)
    x, y = bezier(points, 100)
    pen.stroke(x, y, 0.9, offsets=(-2.6, 2.6))
    pen.stroke(x[:70], y[:70], 0.7)
    pen.stroke(x[78:], y[78:], 0.7)  # the side hole interrupts the radiopaque stripe
    return _add_devices(sc, pen)


#: Device sign name → its drawer.
DEVICE_DRAWERS: dict[str, Drawer] = {
    "support_devices": _draw_support_devices,
    "chest_tube": _draw_chest_tube,
}
