"""One synthetic radiograph: finding names → signs, a frontal or lateral film and its masks.

:func:`render_case` is the pure function behind every image: the anatomy
(:mod:`.anatomy`), then each sign's drawer (:mod:`.findings`, :mod:`.devices`), then the
exposure. :func:`sign_name` turns a label name (``"Pleural Effusion"``) into a sign name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tchexnet_lib.synthetic.anatomy import (
    Scene,
    adjust_anatomy,
    draw_anatomy,
    expose,
    finish_lungs,
    sample_anatomy,
)
from tchexnet_lib.synthetic.canvas import (
    DEFAULT_SIZE,
    Canvas,
    Shape,
    check_choice,
    check_size,
    fine_noise,
    smoothstep,
    soft_inside,
)
from tchexnet_lib.synthetic.devices import DEVICE_DRAWERS
from tchexnet_lib.synthetic.findings import FINDING_DRAWERS

__all__ = ["DEVICE_SIGNS", "DOMAINS", "Film", "SIGNS", "SIGN_ALIASES", "render_case", "sign_name"]

#: ``"source"``: clean PA films, ChestX-ray14-like; ``"target"``: CheXpert-like (mostly AP).
DOMAINS = ("source", "target")
#: Drawn signs; each present one gets a ``<stem>_<sign>_mask.png``.
SIGNS: tuple[str, ...] = (
    "pneumothorax",
    "chest_tube",
    "cardiomegaly",
    "enlarged_cardiomediastinum",
    "effusion",
    "edema",
    "consolidation",
    "infiltration",
    "atelectasis",
    "nodule",
    "mass",
    "support_devices",
    "emphysema",
    "fibrosis",
    "pleural_thickening",
    "hernia",
    "fracture",
)
#: Label names accepted by :func:`render_case` for a sign (CheXpert and ChestX-ray14 spellings).
SIGN_ALIASES: dict[str, str] = {
    "pleural_effusion": "effusion",
    "lung_lesion": "nodule",
    "pneumonia": "consolidation",
    "lung_opacity": "infiltration",
    "pleural_other": "pleural_thickening",
}
#: The signs that are devices on the film (:func:`render_case` can leave them off).
DEVICE_SIGNS: tuple[str, ...] = tuple(DEVICE_DRAWERS)
#: Every sign's drawer.
_DRAW = {**FINDING_DRAWERS, **DEVICE_DRAWERS}


def sign_name(finding: str) -> str:
    """``"Pneumothorax"`` / ``"Pleural Effusion"`` / ``"effusion"`` → the sign name of mask files.

    Raises:
        ValueError: not a sign name (:data:`SIGNS`) nor a label name (:data:`SIGN_ALIASES`).
    """
    key = str(finding).strip().lower().replace(" ", "_").replace("-", "_")
    key = SIGN_ALIASES.get(key, key)
    if key not in SIGNS:
        raise ValueError(
            f"unknown finding {finding!r}; use one of {', '.join(SIGNS)} "
            f"(or the label names {', '.join(sorted(SIGN_ALIASES))})"
        )
    return key


def _severities(rng: np.random.Generator, findings: dict) -> dict[str, float]:
    """Findings as {sign: severity in (0, 1]}: True → a random severity, False/0 → absent.

    Raises:
        ValueError: an unknown finding name or a value that is not a bool or a number in [0, 1].
    """
    out = {}
    for name, value in findings.items():
        key = sign_name(name)
        if isinstance(value, (bool, np.bool_)):
            severity = rng.uniform(0.05, 1.0) if value else 0.0
        elif (
            isinstance(value, (int, float, np.integer, np.floating)) and 0.0 <= float(value) <= 1.0
        ):
            severity = float(value)
        else:
            raise ValueError(
                f"finding {name!r}: value {value!r} must be a bool or a severity in [0, 1]"
            )
        if severity > 0:
            out[key] = max(out.get(key, 0.0), severity)
    return {sign: out[sign] for sign in SIGNS if sign in out}


def _render_frontal(
    rng, signs, domain, size, projection, hide=(), lungs=False
) -> tuple[np.ndarray, dict]:
    """One frontal (PA or AP) image and the masks of its drawn signs (see :func:`render_case`)."""
    a = sample_anatomy(rng, domain, projection, size)
    sides = {sign: int(rng.choice((-1, 1))) for sign in signs}
    if "chest_tube" in sides and "pneumothorax" in sides:
        sides["chest_tube"] = sides["pneumothorax"]
    adjust_anatomy(a, signs, sides)
    sc = Scene(Canvas(size, a["centre"], a["scale"], a["angle"]), a)
    draw_anatomy(sc, rng)
    masks = {}
    for sign, severity in signs.items():
        devices = sc.devices.copy() if sign in hide else None
        mask = _DRAW[sign](sc, rng, severity, sides[sign])
        if devices is not None:
            sc.devices = devices  # drawn (every random draw made), then taken off the film
        elif mask.any():
            masks[sign] = mask
    if lungs:
        masks["lungs"] = sc.visible > 0.5
    finish_lungs(sc)
    return expose(sc, rng, domain), masks


@dataclass(frozen=True)
class Film:
    """The film a case is drawn on: which domain's look, its size, the view and projection.

    Attributes:
        domain: ``"source"`` (clean PA, ChestX-ray14-like) or ``"target"``
            (CheXpert-like: other exposure curve, more noise, mostly AP).
        size: (height, width) in pixels.
        view: ``"frontal"`` or ``"lateral"`` (a lateral image has no drawn findings).
        projection: ``"PA"`` or ``"AP"``; default: PA for the source domain, AP
            with probability 0.8 for the target domain.
    """

    domain: str = "target"
    size: tuple[int, int] = DEFAULT_SIZE
    view: str = "frontal"
    projection: str | None = None


def render_case(
    rng: np.random.Generator,
    findings: dict[str, bool | float],
    film: Film = Film(),
    hide: tuple[str, ...] = (),
    lungs: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw one synthetic chest radiograph (a pure function of ``rng``'s state).

    Args:
        rng: the generator every random choice comes from.
        findings: sign name (:data:`SIGNS`, or a label name such as
            ``"Pleural Effusion"``) → ``True`` (present, random severity),
            a severity in (0, 1] (e.g. pneumothorax size), or ``False`` / 0 (absent).
        film: the domain, size, view and projection (:class:`Film`).
        hide: device signs (:data:`DEVICE_SIGNS`) drawn with every random draw they make
            and then left off the film: the same image without that device (a twin for an
            ablation), everything else pixel for pixel as with it.
        lungs: also return ``masks["lungs"]``, the lung fields not hidden by the
            mediastinum (frontal views).

    Returns:
        ``(image, masks)``: uint8 array (h, w); bool masks (h, w) of the signs
        present and visible, keyed by sign name (e.g. ``"pneumothorax"``).

    Raises:
        ValueError: an unknown domain, view, projection or finding, or a bad size.
    """
    domain, size, projection = film.domain, check_size(film.size), film.projection
    check_choice(domain, DOMAINS, "domain")
    check_choice(film.view, ("frontal", "lateral"), "view")
    signs = _severities(rng, findings)
    unknown = set(hide) - set(DEVICE_SIGNS)
    if unknown:
        raise ValueError(
            f"hide={sorted(unknown)}: only device signs ({', '.join(DEVICE_SIGNS)}) "
            "can be left off an image"
        )
    if film.view == "lateral":
        return _render_lateral(rng, domain, size), {}
    if projection is None:
        projection = "PA" if domain == "source" or rng.random() < 0.2 else "AP"
    check_choice(projection, ("PA", "AP"), "projection")
    return _render_frontal(rng, signs, domain, size, projection, tuple(hide), lungs)


def _lateral_lung_shape(dome: float) -> Shape:
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
    return Shape.from_outline(x, y, 0.0, 0.1)


def _render_lateral(rng: np.random.Generator, domain: str, size: tuple[int, int]) -> np.ndarray:
    """A simple lateral view: patient facing left; sternum in front, spine behind, heart low in front."""
    h, w = size
    scale = min(h / 2.6, w / 3.1) * rng.uniform(0.95, 1.05)
    cv = Canvas(
        size, (w * rng.uniform(0.46, 0.5), h * 0.47), scale, math.radians(rng.normal(0.0, 2.0))
    )
    sc = Scene(cv, {})
    x, y = cv.x, cv.y
    front = -0.98 - 0.12 * smoothstep((y - 0.5) / 0.6) + 0.45 * smoothstep((-0.95 - y) / 0.35)
    back = 1.18 - 0.25 * smoothstep((-1.0 - y) / 0.3)
    mid, half = (front + back) / 2, (back - front) / 2
    cv.density += 1.1 * np.clip(1.0 - ((x - mid) / half) ** 2, 0.0, 1.0) ** 0.4
    dome = 0.45 + rng.normal(0.0, 0.04)
    lung = _lateral_lung_shape(dome)
    rho, phi = lung.polar(x, y)
    air = soft_inside(rho, lung.radius(phi), cv.units(2.0))
    hx, hy = -0.35 + rng.normal(0.0, 0.02), dome - 0.05
    heart = soft_inside(np.sqrt(((x - hx) / 0.42) ** 2 + ((y - hy) / 0.38) ** 2), 1.0, 0.05)
    cv.density -= 0.5 * air * (1.0 - 0.65 * heart)
    cv.density += 0.02 * air * fine_noise(rng, size) * (1.0 - heart)
    cv.density += 0.12 * np.exp(-(((x - 0.1) / 0.16) ** 2 + ((y + 0.05) / 0.2) ** 2)) * air
    f = (y + 3.0) / 0.18
    f = f - np.floor(f)
    spine_x = 0.7 + 0.06 * (y - 0.1) ** 2
    vertebra = soft_inside(np.abs(x - spine_x), 0.11, 0.02) * soft_inside(
        np.abs(f - 0.45), 0.38, 0.05
    )
    process = soft_inside(np.abs(x - spine_x - 0.24), 0.05, 0.04) * soft_inside(
        np.abs(f - 0.6), 0.3, 0.1
    )
    sternum = soft_inside(np.abs(x + 0.86 - 0.06 * y), 0.03, 0.02)
    sternum *= soft_inside(np.abs(y + 0.35), 0.65, 0.05)
    trachea = soft_inside(np.abs(x + 0.05 - 0.12 * (y + 1.5)), 0.05, 0.03) * soft_inside(
        y, -0.35, 0.05
    )
    cv.density += 0.16 * vertebra + 0.08 * process + 0.18 * sternum - 0.15 * trachea
    return expose(sc, rng, domain)
