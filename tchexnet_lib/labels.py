"""Class lists of CheXNet (ChestX-ray14) and CheXpert, and the map between them.

CheXNet's outputs come in ChestX-ray14's order; CheXpert's CSVs name 14
observations of their own. Only the pairs in :data:`CHEXNET_TO_CHEXPERT` mean the
same finding; the others are never compared.
"""

from __future__ import annotations

__all__ = [
    "CHEXNET_CLASSES",
    "CHEXNET_TO_CHEXPERT",
    "CHEXPERT_META_COLUMNS",
    "CHEXPERT_OBSERVATIONS",
    "CHEXPERT_TO_CHEXNET",
    "PAPER_CLASSES",
    "TARGET",
    "chexnet_index",
]


#: CheXNet's 14 outputs, in the order of its final Dense layer.
CHEXNET_CLASSES: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)

#: CheXpert's 14 observation columns, in the CSVs' order.
CHEXPERT_OBSERVATIONS: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)

#: CheXpert's non-label columns, in the CSVs' order.
CHEXPERT_META_COLUMNS: tuple[str, ...] = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA")

#: The six observations of the paper's split recipe (its CSVs keep these, in this order).
PAPER_CLASSES: tuple[str, ...] = (
    "Cardiomegaly",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
)

#: The paper's target.
TARGET = "Pneumothorax"

#: ChestX-ray14 class → CheXpert observation with the same meaning.
CHEXNET_TO_CHEXPERT: dict[str, str] = {
    "Atelectasis": "Atelectasis",
    "Cardiomegaly": "Cardiomegaly",
    "Effusion": "Pleural Effusion",
    "Pneumonia": "Pneumonia",
    "Pneumothorax": "Pneumothorax",
    "Consolidation": "Consolidation",
    "Edema": "Edema",
}

#: CheXpert observation → ChestX-ray14 class (inverse of :data:`CHEXNET_TO_CHEXPERT`).
CHEXPERT_TO_CHEXNET: dict[str, str] = {v: k for k, v in CHEXNET_TO_CHEXPERT.items()}


def chexnet_index(name: str) -> int:
    """Index of a CheXNet output, given its ChestX-ray14 or CheXpert name.

    Raises:
        ValueError: the name has no CheXNet counterpart (e.g. ``"Fracture"``).
    """
    chexnet_name = CHEXPERT_TO_CHEXNET.get(name, name)
    if chexnet_name not in CHEXNET_CLASSES:
        raise ValueError(
            f"{name!r} is not one of CheXNet's outputs and has no CheXpert counterpart; "
            f"comparable names: {sorted(CHEXNET_TO_CHEXPERT) + sorted(CHEXPERT_TO_CHEXNET)}"
        )
    return CHEXNET_CLASSES.index(chexnet_name)
