"""A synthetic, CheXpert-shaped demo dataset: procedural chest radiographs with ground truth.

CheXpert needs a registration and 11 GB; a workshop laptop or a CI runner has
neither. This package draws a deterministic stand-in, so every notebook and
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

Modules, each importing only those above it:

* :mod:`.canvas`: the canvas, noise, blurs, lines and outlines every drawing uses;
* :mod:`.anatomy`: body, lungs, mediastinum, bones, vessels, and the film's exposure;
* :mod:`.findings`: each finding's sign and its mask;
* :mod:`.devices`: tubes, lines, ECG leads, pacemaker, sternal wires, chest tubes;
* :mod:`.render`: :func:`render_case`, one frontal or lateral image and its masks;
* :mod:`.labelling`: :class:`SyntheticSpec`, CheXpert-style labels, the plan of every image;
* :mod:`.writer`: :func:`generate_dataset` (images, CSVs, manifest), masks, the generator version;
* :mod:`.figures`: :func:`contact_sheet`, images with and without a finding, masks outlined.
"""

from tchexnet_lib.synthetic.canvas import DEFAULT_SIZE
from tchexnet_lib.synthetic.figures import contact_sheet, save_contact_sheet
from tchexnet_lib.synthetic.labelling import (
    DEMO_SOURCE,
    DEMO_TARGET,
    JPEG_QUALITY,
    SOURCE_DIR,
    SPLITS,
    SyntheticSpec,
    plan_dataset,
)
from tchexnet_lib.synthetic.render import (
    DEVICE_SIGNS,
    DOMAINS,
    SIGN_ALIASES,
    SIGNS,
    Film,
    render_case,
)
from tchexnet_lib.synthetic.writer import (
    GENERATOR_VERSION,
    IN_PROGRESS_NAME,
    MANIFEST_NAME,
    generate_dataset,
    mask_path,
    read_manifest,
    read_mask,
    redraw,
    spec_of,
    write_redrawn,
)

__all__ = [
    "DEFAULT_SIZE",
    "DEMO_SOURCE",
    "DEMO_TARGET",
    "DEVICE_SIGNS",
    "DOMAINS",
    "Film",
    "GENERATOR_VERSION",
    "IN_PROGRESS_NAME",
    "JPEG_QUALITY",
    "MANIFEST_NAME",
    "SIGNS",
    "SIGN_ALIASES",
    "SOURCE_DIR",
    "SPLITS",
    "SyntheticSpec",
    "contact_sheet",
    "generate_dataset",
    "mask_path",
    "plan_dataset",
    "read_manifest",
    "read_mask",
    "redraw",
    "render_case",
    "save_contact_sheet",
    "spec_of",
    "write_redrawn",
]
