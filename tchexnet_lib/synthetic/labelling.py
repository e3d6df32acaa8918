"""What gets drawn and labelled: the spec, CheXpert-style labels and the plan of every image.

:class:`SyntheticSpec` says what to draw; :func:`plan_dataset` turns it into each split's
CSV rows and the :class:`Case` (image) behind each row, deciding per study which
observations have their sign drawn and how the labeler would write them (1.0 / -1.0 / 0.0 /
blank). Nothing is drawn here: a plan is cheap, and every case carries the entropy of its
own random generator.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tchexnet_lib.config import CHEXPERT_SMALL
from tchexnet_lib.labels import CHEXNET_CLASSES, CHEXPERT_META_COLUMNS, CHEXPERT_OBSERVATIONS
from tchexnet_lib.synthetic.canvas import DEFAULT_SIZE, check_choice, check_size
from tchexnet_lib.synthetic.render import DOMAINS

__all__ = [
    "Case",
    "DEMO_SOURCE",
    "DEMO_TARGET",
    "JPEG_QUALITY",
    "SOURCE_DIR",
    "SPLITS",
    "SplitPlan",
    "SyntheticSpec",
    "plan_dataset",
]

#: Fixed JPEG quality: same arrays + same quality → same bytes.
JPEG_QUALITY = 90
#: Folder of the source-domain (ChestX-ray14-like) dataset under the root.
SOURCE_DIR = "ChestXray14-synthetic"
#: The splits of a synthetic set, in file order.
SPLITS = ("train", "valid")


@dataclass(frozen=True)
class SyntheticSpec:
    """What :func:`~.writer.generate_dataset` draws; its JSON form keys the idempotent reuse.

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
        object.__setattr__(self, "image_size", check_size(self.image_size))
        check_choice(self.domain, DOMAINS, "domain")
        for name in ("n_patients_train", "n_patients_valid", "seed", "max_studies", "jpeg_quality"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"SyntheticSpec.{name}={value!r} must be an integer ≥ 0")
        if not isinstance(self.draw_pneumothorax, (bool, np.bool_)):
            raise ValueError(
                f"SyntheticSpec.draw_pneumothorax={self.draw_pneumothorax!r} must be True or False"
            )
        if self.max_studies < 1 or not 1 <= self.jpeg_quality <= 100:
            raise ValueError("SyntheticSpec: max_studies must be ≥ 1 and jpeg_quality in 1..100")
        for name in (
            "lateral_fraction",
            "pneumothorax_prevalence",
            "valid_pneumothorax_prevalence",
            "chest_tube_with_pneumothorax",
            "chest_tube_without_pneumothorax",
        ):
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
#: Per-study probability that each CheXpert observation's sign is drawn (train split).
_TARGET_PRESENT = {
    "Enlarged Cardiomediastinum": 0.05,
    "Cardiomegaly": 0.12,
    "Lung Lesion": 0.05,
    "Edema": 0.14,
    "Consolidation": 0.06,
    "Pneumonia": 0.03,
    "Atelectasis": 0.13,
    "Pleural Effusion": 0.22,
    "Pleural Other": 0.02,
    "Fracture": 0.04,
    "Lung Opacity": 0.08,
}
#: Valid split: radiologist-like labels, a little richer (CheXpert's valid has 33% effusion etc.).
_VALID_PRESENT = {
    **_TARGET_PRESENT,
    "Cardiomegaly": 0.2,
    "Edema": 0.16,
    "Atelectasis": 0.2,
    "Pleural Effusion": 0.25,
    "Consolidation": 0.1,
}
#: Support devices by projection (portable AP films carry most of them).
_DEVICES_PRESENT = {"AP": 0.5, "PA": 0.15}
#: P(label -1.0 | sign drawn) and P(-1.0 | not drawn): the labeler's uncertainty.
_UNCERTAIN_IF_PRESENT = 0.12
_UNCERTAIN_IF_ABSENT = 0.012
#: P(explicit 0.0 | not drawn); otherwise the cell stays blank ("not mentioned"), as in
#: CheXpert. Low enough that the paper's recipe (drop any explicit 0 among its six
#: classes) keeps about 60% of frontal train rows, as on the real train.csv (62%).
_EXPLICIT_NEGATIVE = {
    "Enlarged Cardiomediastinum": 0.08,
    "Cardiomegaly": 0.05,
    "Lung Opacity": 0.03,
    "Lung Lesion": 0.01,
    "Edema": 0.07,
    "Consolidation": 0.09,
    "Pneumonia": 0.01,
    "Atelectasis": 0.01,
    "Pneumothorax": 0.18,
    "Pleural Effusion": 0.12,
    "Pleural Other": 0.005,
    "Fracture": 0.01,
    "Support Devices": 0.03,
}
#: CheXpert observation → the sign drawn for it.
_OBSERVATION_SIGN = {
    "Enlarged Cardiomediastinum": "enlarged_cardiomediastinum",
    "Cardiomegaly": "cardiomegaly",
    "Edema": "edema",
    "Consolidation": "consolidation",
    "Pneumonia": "consolidation",
    "Atelectasis": "atelectasis",
    "Pneumothorax": "pneumothorax",
    "Pleural Effusion": "effusion",
    "Pleural Other": "pleural_thickening",
    "Fracture": "fracture",
    "Lung Opacity": "infiltration",
}
#: Observations that make a study "abnormal" (everything but No Finding and Support Devices).
_PATHOLOGIES = tuple(o for o in CHEXPERT_OBSERVATIONS if o not in ("No Finding", "Support Devices"))
#: ChestX-ray14 class → (per-image prevalence in the source set, sign drawn).
_SOURCE_CLASSES = {
    "Atelectasis": (0.12, "atelectasis"),
    "Cardiomegaly": (0.08, "cardiomegaly"),
    "Effusion": (0.13, "effusion"),
    "Infiltration": (0.12, "infiltration"),
    "Mass": (0.06, "mass"),
    "Nodule": (0.07, "nodule"),
    "Pneumonia": (0.04, "consolidation"),
    "Pneumothorax": (None, "pneumothorax"),
    "Consolidation": (0.07, "consolidation"),
    "Edema": (0.06, "edema"),
    "Emphysema": (0.05, "emphysema"),
    "Fibrosis": (0.04, "fibrosis"),
    "Pleural_Thickening": (0.05, "pleural_thickening"),
    "Hernia": (0.02, "hernia"),
}
#: Source images: unlabeled devices in a few percent (ChestX-ray14 has no device label).
_SOURCE_DEVICES = 0.05
_DOMAIN_CODE = {"source": 1, "target": 2}
_SPLIT_CODE = {"train": 1, "valid": 2}
_IMAGE_STREAM, _LABEL_STREAM = 0, 1


def _rng(spec: SyntheticSpec, split: str, patient: int, study: int, view: int, stream: int):
    """The generator of one (split, patient, study, view): independent of generation order."""
    entropy = [
        spec.seed,
        _DOMAIN_CODE[spec.domain],
        _SPLIT_CODE[split],
        patient,
        study,
        view,
        stream,
    ]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def _chest_tube_rate(spec: SyntheticSpec, pneumothorax: bool) -> float:
    """P(chest tube): higher with a pneumothorax, the confounder real data has too."""
    return (
        spec.chest_tube_with_pneumothorax if pneumothorax else spec.chest_tube_without_pneumothorax
    )


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
    present["Lung Opacity"] |= any(
        present[o] for o in ("Edema", "Consolidation", "Pneumonia", "Atelectasis", "Lung Lesion")
    )
    return present


def _signs_for(rng, present: dict[str, bool]) -> dict[str, bool]:
    """The signs to draw for the present observations."""
    signs = {sign: True for o, sign in _OBSERVATION_SIGN.items() if present[o]}
    if present["Lung Opacity"] and any(
        present[o] for o in ("Edema", "Consolidation", "Pneumonia", "Atelectasis", "Lung Lesion")
    ):
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
    labels = {
        o: _label_text(rng, o, present[o], split)
        for o in CHEXPERT_OBSERVATIONS
        if o != "No Finding"
    }
    abnormal = any(labels[o] in ("1.0", "-1.0") for o in _PATHOLOGIES)
    if split == "valid":
        labels["No Finding"] = "0.0" if abnormal else "1.0"
    else:
        labels["No Finding"] = "" if abnormal else "1.0"
    return {o: labels[o] for o in CHEXPERT_OBSERVATIONS}


@dataclass(frozen=True)
class Case:
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
class SplitPlan:
    """A split's CSV header, rows (dicts of text) and the images behind them."""

    header: list[str]
    rows: list[dict[str, str]]
    cases: list[Case]


def _case(
    spec: SyntheticSpec,
    split: str,
    ids: tuple[int, int, int],
    path: str,
    signs: dict[str, bool],
    view: str,
    projection: str,
) -> Case:
    """A :class:`Case` whose generator is keyed by (seed, domain, split, patient, study, view)."""
    entropy = (spec.seed, _DOMAIN_CODE[spec.domain], _SPLIT_CODE[split], *ids, _IMAGE_STREAM)
    drawn = {s for s, on in signs.items() if on and (spec.draw_pneumothorax or s != "pneumothorax")}
    return Case(
        path,
        entropy,
        tuple(sorted(drawn)),
        spec.domain,
        spec.image_size,
        view,
        projection,
        spec.jpeg_quality,
    )


def _patients(spec: SyntheticSpec):
    """(split, first patient number, count): valid patients are numbered after train's, as in CheXpert."""
    return (
        ("train", 1, spec.n_patients_train),
        ("valid", spec.n_patients_train + 1, spec.n_patients_valid),
    )


def _target_patient(spec: SyntheticSpec, split: str, patient: int, plan: SplitPlan) -> None:
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
        views = [("frontal", 1)] + (
            [("lateral", 2)] if rng.random() < spec.lateral_fraction else []
        )
        for kind, view in views:
            rel = f"{split}/patient{patient:05d}/study{study}/view{view}_{kind}.jpg"
            plan.rows.append(
                {
                    "Path": f"{CHEXPERT_SMALL}/{rel}",
                    "Sex": sex,
                    "Age": str(age),
                    "Frontal/Lateral": kind.title(),
                    "AP/PA": projection if kind == "frontal" else "",
                    **labels,
                }
            )
            plan.cases.append(
                _case(
                    spec,
                    split,
                    (patient, study, view),
                    rel,
                    signs if kind == "frontal" else {},
                    kind,
                    projection,
                )
            )


def _source_patient(spec: SyntheticSpec, split: str, patient: int, plan: SplitPlan) -> None:
    """Rows and cases of one ChestX-ray14-like patient: 1-3 PA images, 14 labels as 0/1."""
    rng = _rng(spec, split, patient, 0, 0, _LABEL_STREAM)
    ptx = spec.valid_pneumothorax_prevalence if split == "valid" else spec.pneumothorax_prevalence
    for k in range(min(3, int(rng.geometric(0.6)))):
        present = {
            c: bool(rng.random() < (ptx if p is None else p))
            for c, (p, _) in _SOURCE_CLASSES.items()
        }
        signs = {_SOURCE_CLASSES[c][1]: True for c, on in present.items() if on}
        signs["chest_tube"] = bool(
            rng.random() < _chest_tube_rate(spec, present["Pneumothorax"]) / 2
        )
        signs["support_devices"] = bool(rng.random() < _SOURCE_DEVICES)
        rel = f"images/{patient:08d}_{k:03d}.jpg"
        plan.rows.append({"Path": rel, **{c: "1" if present[c] else "0" for c in CHEXNET_CLASSES}})
        plan.cases.append(_case(spec, split, (patient, k, 1), rel, signs, "frontal", "PA"))


def plan_dataset(spec: SyntheticSpec) -> dict[str, SplitPlan]:
    """Every split's rows and images, in file order (patient, study, view); nothing is drawn.

    Returns:
        ``{"train": SplitPlan, "valid": SplitPlan}``: each split's CSV header, rows (text
        cells, as written) and the :class:`Case` behind each row.
    """
    if spec.domain == "target":
        header, add = list(CHEXPERT_META_COLUMNS + CHEXPERT_OBSERVATIONS), _target_patient
    else:
        header, add = ["Path", *CHEXNET_CLASSES], _source_patient
    plans = {}
    for split, first, count in _patients(spec):
        plan = SplitPlan(header, [], [])
        for patient in range(first, first + count):
            add(spec, split, patient, plan)
        plans[split] = plan
    return plans
