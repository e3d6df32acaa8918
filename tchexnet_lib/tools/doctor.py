"""Check a setup before hours of work: software, data, weights, speed and outputs.

``tchexnet doctor`` prints one line per check (the command only formats what this module
finds). Each check is a small function returning a :class:`Check`: its level (``"ok"``,
``"warn"``: worth knowing but no failure, ``"fail"``), what was found, and for a failure the
fix in one sentence. :func:`run_checks` runs them all in order, one at a time, so a caller can
print each line as soon as it is known:

1. **software**: Python, TensorFlow and Keras against the versions ``pyproject.toml`` states
   (read from the installed package's metadata), the CPU and the GPUs TensorFlow sees;
2. **data**: ``train.csv`` and ``valid.csv`` read and checked by :func:`data.read_labels`
   with every CheXpert column required, the paper's split sizes, valid.csv's 234 rows / 202
   frontal / 7 Pneumothorax positives (a warning when they differ: a subset is legitimate),
   a seeded sample of images spread over each file decoded by :mod:`tchexnet_lib.images`, and
   their bit depth (a 16-bit PNG holding 12-bit values would come out nearly black);
3. **weights**: the file (:func:`models.verify_file`), its layout (Keras 2 ``save_weights``
   or Keras 3; a warning for the demo CheXNet, which is not CheXNet), the architecture
   (loaded into DenseNet-121 + 14 outputs by :func:`models.build_chexnet`, checked layer by
   layer, never by name), and its outputs on
   :func:`reference_inputs`: equal to :data:`KNOWN_OUTPUTS` within :data:`TOLERANCE` when the
   file's sha256 is known, otherwise at least not degenerate (untrained or wrongly loaded
   weights give outputs near 0.5 that hardly move between different radiographs);
4. **speed**: :func:`machine.model_bound_images_per_second` and the ETA of the feature
   extraction of ``tchexnet reproduce`` (the paper's train + validation rows and the 202
   frontal test images);
5. **outputs**: the output folder writable, and free disk against the feature stores' size.

Nothing happens on import; TensorFlow is imported by the checks that need it.
"""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tchexnet_lib import (
    backbones,
    config,
    data,
    errors,
    evaluation,
    features,
    files,
    images,
    labels,
    machine,
    models,
    shipped,
    splits,
    synthetic,
)

if TYPE_CHECKING:
    import keras

__all__ = [
    "CHEXPERT_COLUMNS",
    "Check",
    "KNOWN_OUTPUTS",
    "LEVELS",
    "PAPER_IMAGES",
    "PAPER_TRAIN_VAL",
    "PAPER_VALID",
    "REFERENCE_CASES",
    "SECTIONS",
    "TOLERANCE",
    "check_architecture",
    "check_bit_depth",
    "check_cpu",
    "check_disk",
    "check_folder",
    "check_gpu",
    "check_images",
    "check_outputs",
    "check_package",
    "check_python",
    "check_speed",
    "check_train_csv",
    "check_valid_csv",
    "check_weights_file",
    "check_writable",
    "chexpert_folder",
    "data_checks",
    "known_output_entry",
    "reference_inputs",
    "reference_outputs",
    "reproduce_images",
    "run_checks",
    "sample_rows",
    "software_checks",
    "summary",
    "weights_checks",
]

#: The doctor's sections, in the order they run.
SECTIONS: tuple[str, ...] = ("software", "data", "weights", "speed", "outputs")
#: A check's levels: passed, worth knowing (does not fail), failed.
LEVELS: tuple[str, ...] = ("ok", "warn", "fail")
#: Every column of CheXpert's CSVs (all required by the data checks).
CHEXPERT_COLUMNS: tuple[str, ...] = labels.CHEXPERT_META_COLUMNS + labels.CHEXPERT_OBSERVATIONS
#: The real valid.csv: rows, frontal rows, Pneumothorax positives among them.
PAPER_VALID: dict[str, int] = {
    "rows": 234,
    "frontal": evaluation.PAPER_TEST_IMAGES,
    "positives": evaluation.PAPER_TEST_POSITIVES,
}
#: The paper's recipe on the real train.csv: 94,482 train + 23,620 validation rows.
PAPER_TRAIN_VAL = 118_102
#: Images ``tchexnet reproduce`` extracts on the real data: train + validation + test.
PAPER_IMAGES = PAPER_TRAIN_VAL + PAPER_VALID["frontal"]
#: Largest difference allowed from a file's known outputs (probabilities).
TOLERANCE = 1e-4
#: The reference radiographs: (seed, findings) drawn by :func:`synthetic.render_case`.
REFERENCE_CASES: tuple[tuple[int, dict], ...] = (
    (0, {}),
    (1, {"pneumothorax": 0.8}),
    (2, {"cardiomegaly": True, "effusion": True}),
    (3, {"edema": True}),
)
#: Outputs on :func:`reference_inputs` per weight file sha256, from :func:`known_output_entry`.
#: Regenerate an entry with ``python -c "from tchexnet_lib.tools import doctor;
#: print(doctor.known_output_entry('weights/demo/chexnet_demo.weights.h5'))"``.
KNOWN_OUTPUTS: dict[str, dict] = {
    # the shipped demo CheXNet (weights/demo/); rows in REFERENCE_CASES order
    "2105d20e4c47c34c2dfe0aee4c3f775aa87d46cc51f3789ef16ca6971b03d421": {
        "file": "chexnet_demo.weights.h5",
        "size": [224, 224],
        "outputs": [
            [
                0.3220963,
                4.53e-05,
                0.008108,
                0.0628639,
                0.0849238,
                0.0657753,
                0.0128934,
                0.0129572,
                0.0318142,
                0.0289386,
                4e-05,
                0.1905167,
                0.0399012,
                0.0279759,
            ],
            [
                0.01808,
                5.83e-05,
                0.0108119,
                0.0397449,
                0.0371485,
                0.0609501,
                0.0287514,
                0.9869481,
                0.0350187,
                0.0178806,
                0.0015103,
                0.0288246,
                0.0419759,
                0.0130161,
            ],
            [
                0.3350787,
                0.0977637,
                0.8400692,
                0.0401372,
                0.29052,
                0.0611725,
                0.0413122,
                0.0100741,
                0.1978365,
                0.005605,
                0.0003296,
                0.0638535,
                0.0345155,
                0.021983,
            ],
            [
                0.0707272,
                0.0003312,
                0.0048951,
                0.0512028,
                0.0252915,
                0.0504942,
                0.004449,
                0.0243972,
                0.0196431,
                0.9981369,
                0.0002171,
                0.0429244,
                0.054654,
                0.0147534,
            ],
        ],
    }
}
_NEAR_HALF = 0.1  # untrained sigmoid outputs: all within this of 0.5
_FLAT = 0.02  # untrained outputs: no class moves more than this across the reference inputs
_SLOW_ETA = 24 * 3600  # an extraction longer than this gets a warning
_DISK_MARGIN = 2.0  # free space wanted, as a multiple of the feature stores' size
_TWELVE_BITS = 4095
_WEIGHTS_FIX = (
    "use CheXNet's weights: best_weights.h5 from the CheXNet-Keras project "
    "(weights/README.md), or pass --weights"
)


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report.

    Attributes:
        check: the check's name, ``section.what`` (``"data.valid_csv"``).
        level: one of :data:`LEVELS`.
        found: what was found, one line.
        fix: for a failure, the fix in one sentence; for a warning, what to consider.
        data: the numbers behind ``found``, for machines (counts, img/s, seconds, bytes).
    """

    check: str
    level: str
    found: str
    fix: str = ""
    data: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")

    @property
    def ok(self) -> bool:
        """True unless the check failed (a warning is ok)."""
        return self.level != "fail"

    def to_dict(self) -> dict:
        """``{"check", "ok", "level", "found", "fix", "data"}``, plain JSON."""
        return {
            "check": self.check,
            "ok": self.ok,
            "level": self.level,
            "found": self.found,
            "fix": self.fix,
            "data": self.data,
        }


def summary(checks: Sequence[Check]) -> dict:
    """Counts per level and the exit status (1 if any check failed, else 0)."""
    counts = {level: sum(check.level == level for check in checks) for level in LEVELS}
    return {
        "checks": len(checks),
        "passed": counts["ok"],
        "warnings": counts["warn"],
        "failed": counts["fail"],
        "ok": counts["fail"] == 0,
        "exit_status": int(counts["fail"] > 0),
    }


def _duration(seconds: float) -> str:
    """``"3 h 44 min"``, ``"54 min"``, ``"40 s"``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _size(n_bytes: float) -> str:
    """Bytes in MB or GB (powers of 1000, as ``df -H``)."""
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.0f} MB"


# --- 1. software --------------------------------------------------------------------------


def _project_requirements() -> tuple[str | None, list[Requirement]]:
    """The installed project's ``Requires-Python`` and requirements (None, [] if not installed)."""
    try:
        metadata = importlib.metadata.metadata("tchexnet")
    except importlib.metadata.PackageNotFoundError:
        return None, []
    requirements = metadata.get_all("Requires-Dist") or []
    return metadata["Requires-Python"], [Requirement(text) for text in requirements]


def _spec_text(specifiers: str) -> str:
    """``"<3.14,>=3.11"`` → ``">=3.11,<3.14"`` (lower bounds first, as people write them)."""
    return ",".join(sorted((str(s) for s in SpecifierSet(specifiers)), reverse=True))


def check_python(version: str | None = None) -> Check:
    """Python against the project's ``requires-python`` (the versions TensorFlow has wheels for)."""
    version = version or platform.python_version()
    supported, _ = _project_requirements()
    if supported is None:
        return Check(
            "software.python",
            "warn",
            f"{version}; tchexnet is not installed, so its supported range is unknown",
            "install it: make setup (pip install -e .)",
        )
    if SpecifierSet(supported).contains(version, prereleases=True):
        return Check("software.python", "ok", f"{version} (supported: {_spec_text(supported)})")
    return Check(
        "software.python",
        "fail",
        f"{version}, outside the supported {_spec_text(supported)}",
        "use a supported Python: make PYTHON=python3.X setup",
    )


def _locked_versions(name: str) -> set[str]:
    """The versions ``requirements.lock`` gives ``name`` (and its ``-cpu`` twin), in a checkout."""
    root = config.checkout_root()
    lock = root / "requirements.lock" if root else None
    if lock is None or not lock.is_file():
        return set()
    found = (line.split(";")[0].strip() for line in lock.read_text().splitlines())
    return {
        pin.split("==", 1)[1]
        for pin in found
        if "==" in pin and pin.split("==", 1)[0].lower() in {name, f"{name}-cpu"}
    }


def check_package(name: str, version: str) -> Check:
    """An installed package (``tensorflow``, ``keras``) against the project's ranges and lock.

    Keras before 3 fails (the library is Keras 3); outside the declared range warns; inside it,
    a checkout whose ``requirements.lock`` says another version warns too (the tested one).
    """
    _, requirements = _project_requirements()
    ranges = {str(r.specifier) for r in requirements if r.name.startswith(name) and r.specifier}
    where = f"software.{name}"
    if name == "keras" and int(version.split(".")[0]) < 3:
        return Check(
            where,
            "fail",
            f"Keras {version}: this project needs Keras 3",
            "reinstall the locked environment: make setup",
        )
    if not ranges:
        return Check(
            where,
            "warn",
            f"{version}; no requirement found (tchexnet not installed)",
            "install it: make setup",
        )
    if not any(SpecifierSet(spec).contains(version, prereleases=True) for spec in ranges):
        return Check(
            where,
            "warn",
            f"{version}, outside the supported {', '.join(sorted(ranges))}: "
            "results may differ from the project's",
            'reinstall: make setup, or pip install "tchexnet[cpu]"',
        )
    locked = _locked_versions(name)
    if locked and version not in locked:
        return Check(
            where,
            "warn",
            f"{version}, supported; the lock tests {', '.join(sorted(locked))}",
            "the locked environment: make setup",
        )
    return Check(
        where,
        "ok",
        f"{version} (supported: {', '.join(sorted(ranges))}"
        + (", the locked version)" if locked else ")"),
    )


def check_cpu(info: dict) -> Check:
    """The CPU, its cores and vector instructions (AVX-512 hosts run DenseNet ~5× faster)."""
    isa = (
        "ISA unknown"
        if info["avx2"] is None
        else "AVX-512"
        if info["avx512"]
        else "AVX2"
        if info["avx2"]
        else "no AVX2"
    )
    found = f"{info['cpu']}, {info['usable_cores']} usable of {info['cores']} cores, {isa}"
    keys = ("cpu", "cores", "usable_cores", "avx2", "avx512")
    return Check("software.cpu", "ok", found, data={key: info[key] for key in keys})


def check_gpu(info: dict) -> Check:
    """The GPUs TensorFlow sees; a warning when ``nvidia-smi`` lists one TensorFlow does not."""
    gpus = [name for name in info["tf_devices"] if "GPU" in name.upper()]
    if gpus:
        return Check(
            "software.gpu",
            "ok",
            f"TensorFlow sees {', '.join(gpus)} ({info['gpu']})",
            data={"tf_gpus": gpus},
        )
    if info["gpu"]:
        return Check(
            "software.gpu",
            "warn",
            f"nvidia-smi lists {info['gpu']} but TensorFlow sees no GPU",
            "install the GPU build in a fresh clone: make setup TF=gpu",
        )
    return Check("software.gpu", "ok", "none: TensorFlow runs on the CPU", data={"tf_gpus": []})


def software_checks() -> list[Check]:
    """Python, TensorFlow, Keras, CPU and GPU (:func:`machine.machine_info`); a TensorFlow or
    Keras that does not import is a failed check, not a traceback."""
    try:
        config.import_tensorflow_quietly()
        info = machine.machine_info()
    except Exception as error:  # ImportError, a broken CUDA wheel's OSError, ...
        return [
            Check(
                "software.tensorflow",
                "fail",
                f"TensorFlow/Keras do not import: "
                f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
                "reinstall with `make setup` (a fresh .venv; `make setup TF=gpu` on a GPU machine)",
            )
        ]
    return [
        check_python(info["python"]),
        check_package("tensorflow", info["tensorflow"]),
        check_package("keras", info["keras"]),
        check_cpu(info),
        check_gpu(info),
    ]


# --- 2. data ------------------------------------------------------------------------------


def chexpert_folder(data_dir: str | Path | None = None) -> Path:
    """``<data dir>/CheXpert-v1.0-small``; the data dir defaults to :func:`config.data_dir`."""
    return (Path(data_dir) if data_dir else config.data_dir()) / config.CHEXPERT_SMALL


def check_folder(folder: Path) -> Check:
    """The CheXpert-v1.0-small folder exists; says when it holds the synthetic demo data."""
    if not folder.is_dir() and (folder.parent / "train.csv").is_file():
        return Check(
            "data.folder",
            "fail",
            f"{folder}: no such folder; {folder.parent} holds train.csv itself",
            f"name the folder above it: --data-dir {folder.parent.parent}",
        )
    if not folder.is_dir():
        return Check(
            "data.folder",
            "fail",
            f"{folder}: no such folder",
            "unpack CheXpert-v1.0-small (chexpert/README.md) into the data folder, or "
            "pass --data-dir DIR (or set TCHEXNET_DATA_DIR) naming the folder that holds "
            "CheXpert-v1.0-small/",
        )
    manifest = synthetic.read_manifest(folder)
    if manifest is not None:
        return Check(
            "data.folder",
            "warn",
            f"{folder}: the synthetic demo data (generator "
            f"{manifest.get('version')}), not CheXpert",
            "for the paper, point --data-dir at the real CheXpert-v1.0-small's parent folder",
            data={"synthetic": True},
        )
    return Check("data.folder", "ok", str(folder), data={"synthetic": False})


def _read(csv_path: Path, where: str) -> tuple[pd.DataFrame | None, Check | None]:
    """The CSV read with every CheXpert column required, or the failed check saying why."""
    if not csv_path.is_file():
        return None, Check(
            where,
            "fail",
            f"{csv_path.name}: not found in {csv_path.parent}",
            f"unpack CheXpert-v1.0-small completely ({csv_path.name} sits beside "
            "train/ and valid/), or pass --data-dir",
        )
    try:
        return data.read_labels(csv_path, require=CHEXPERT_COLUMNS), None
    except (errors.DataError, OSError, UnicodeDecodeError) as error:
        return None, Check(
            where,
            "fail",
            str(error),
            f"use CheXpert-v1.0-small's {csv_path.name} "
            "as downloaded: every row valid, with its 19 columns (Path, Sex, Age, "
            "Frontal/Lateral, AP/PA and the 14 observations)",
        )


def check_train_csv(folder: Path) -> tuple[Check, pd.DataFrame | None]:
    """train.csv read and checked, and the paper's split sizes (94,482 / 23,620 on the real one).

    Returns:
        The check (its ``data``: rows, frontal, train, val) and the table (None on failure).
    """
    table, failed = _read(folder / "train.csv", "data.train_csv")
    if failed:
        return failed, None
    try:
        train, val = splits.paper_split(table)
    except errors.DataError as error:
        return Check(
            "data.train_csv",
            "fail",
            str(error),
            "use CheXpert-v1.0-small's train.csv as downloaded",
        ), None
    counts = {
        "rows": len(table),
        "frontal": int((table["Frontal/Lateral"] == "Frontal").sum()),
        "train": len(train),
        "val": len(val),
    }
    found = (
        f"{counts['rows']:,} rows ({counts['frontal']:,} frontal); the paper's recipe keeps "
        f"{counts['train']:,} train + {counts['val']:,} validation"
    )
    if counts["train"] + counts["val"] == PAPER_TRAIN_VAL:
        return Check("data.train_csv", "ok", found, data=counts), table
    return Check(
        "data.train_csv",
        "warn",
        f"{found}, not the paper's 94,482 + 23,620",
        "fine for a subset or a quick pass; the paper's numbers need the full train.csv",
        data=counts,
    ), table


def check_valid_csv(folder: Path) -> tuple[Check, pd.DataFrame | None]:
    """valid.csv read and checked; a warning unless it has 234 rows, 202 frontal, 7 positives.

    Returns:
        The check (its ``data``: rows, frontal, positives) and the table (None on failure).
    """
    table, failed = _read(folder / "valid.csv", "data.valid_csv")
    if failed:
        return failed, None
    try:
        test = splits.paper_test_set(table)
    except errors.DataError as error:
        return Check(
            "data.valid_csv",
            "fail",
            str(error),
            "use CheXpert-v1.0-small's valid.csv as downloaded (its labels are 0 or 1)",
        ), None
    counts = {"rows": len(table), "frontal": len(test), "positives": int(test[labels.TARGET].sum())}
    found = (
        f"{counts['rows']} rows, {counts['frontal']} frontal, {counts['positives']} "
        f"{labels.TARGET} positives"
    )
    if counts == PAPER_VALID:
        return Check("data.valid_csv", "ok", f"{found}: the paper's test set", data=counts), table
    return Check(
        "data.valid_csv",
        "warn",
        f"{found}, not the paper's 234 / 202 / 7",
        "fine for a subset or other data, but its AUCs are not comparable with the "
        "paper's (0.642 and 0.708 on the 202 frontal images)",
        data=counts,
    ), table


def sample_rows(n_rows: int, k: int, seed: int = 0) -> list[int]:
    """``k`` row positions spread over ``n_rows``: one random row in each of ``k`` equal blocks."""
    rng = np.random.default_rng(seed)
    blocks = np.array_split(np.arange(n_rows), min(k, n_rows))
    return [int(rng.choice(block)) for block in blocks if len(block)]


def _decode(path: str) -> dict:
    """One sampled image: its bit depth and largest stored value, or the reason it is unusable."""
    try:
        gray = images.read_grayscale(path)
        depth = images.image_info(path)["bit_depth"]
    except errors.ImageError as error:
        return {"path": path, "error": error.reason}
    peak = float(gray.max()) * (257 if depth == 16 else 1)  # read_grayscale scaled 16-bit by 1/257
    return {"path": path, "bit_depth": depth, "max_value": round(peak)}


def check_images(decoded: Sequence[dict], counts: dict[str, int]) -> Check:
    """The sampled images decode (:func:`images.read_grayscale`: header, markers, full decode)."""
    sampled = " and ".join(f"{n} of {name}" for name, n in counts.items())
    bad = [item for item in decoded if "error" in item]
    if not bad:
        return Check(
            "data.images",
            "ok",
            f"{len(decoded)} sampled images decode ({sampled})",
            data={"sampled": len(decoded), "bad": 0},
        )
    first = bad[0]
    found = (
        f"{len(bad)} of {len(decoded)} sampled images unusable; first {first['path']}: "
        f"{first['error']}"
    )
    if all(item["error"] == "file not found" for item in bad):
        fix = (
            "the CSVs' paths do not lead to the images: pass --data-dir naming the folder "
            "that holds CheXpert-v1.0-small/ with its train/ and valid/ folders, or unpack them"
        )
    else:
        fix = (
            "download and unpack CheXpert-v1.0-small again (an interrupted unzip leaves bad files)"
        )
    return Check("data.images", "fail", found, fix, data={"sampled": len(decoded), "bad": len(bad)})


def check_bit_depth(decoded: Sequence[dict]) -> Check:
    """8-bit images pass; deeper ones (16-bit PNG) warn, and fail when their values fit 12 bits.

    The pipeline scales 16-bit gray by 1/257 (full scale 65535 → 255, not clipped), right
    for full-range files; 12-bit data stored in 16 bits (max 4095) would become gray ≤ 16.
    """
    good = [item for item in decoded if "error" not in item]
    counts = Counter(item["bit_depth"] for item in good)
    numbers = {"depths": {str(depth): counts[depth] for depth in sorted(counts)}}
    deep = [item for item in good if item["bit_depth"] > 8]
    if not deep:
        return Check(
            "data.bit_depth",
            "ok",
            f"{len(good)} of {len(good)} sampled images 8-bit, as CheXpert-v1.0-small's JPEGs",
            data=numbers,
        )
    numbers["max_value"] = peak = max(item["max_value"] for item in deep)
    found = f"{len(deep)} of {len(good)} sampled images are 16-bit (largest value {peak})"
    if peak <= _TWELVE_BITS:
        return Check(
            "data.bit_depth",
            "fail",
            f"{found}: 12-bit data in 16-bit files, which the "
            "pipeline's 16→8-bit scaling (÷257) makes nearly black (gray ≤ 16)",
            "convert them to 8-bit over their own range (value × 255 / 4095) first, or "
            "use CheXpert-v1.0-small's 8-bit JPEGs",
            data=numbers,
        )
    return Check(
        "data.bit_depth",
        "warn",
        f"{found}: scaled to 8-bit by ÷257 (not clipped); "
        "CheXpert-v1.0-small and CheXNet's training images are 8-bit",
        "check these files are what you mean to use",
        data=numbers,
    )


def data_checks(
    data_dir: str | Path | None = None, sample: int = 20, seed: int = 0
) -> Iterator[Check]:
    """The folder, train.csv, valid.csv, and ``sample`` images of each CSV decoded (seeded)."""
    folder = chexpert_folder(data_dir)
    yield check_folder(folder)
    if not folder.is_dir():
        return
    tables = {}
    for check_csv, name in ((check_train_csv, "train.csv"), (check_valid_csv, "valid.csv")):
        check, table = check_csv(folder)
        yield check
        if table is not None and len(table):
            tables[name] = table
    if not tables or sample < 1:
        return
    picked = {
        name: table["image_path"].iloc[sample_rows(len(table), sample, seed)].tolist()
        for name, table in tables.items()
    }
    decoded = [_decode(path) for paths in picked.values() for path in paths]
    yield check_images(decoded, {name: len(paths) for name, paths in picked.items()})
    if any("error" not in item for item in decoded):
        yield check_bit_depth(decoded)


# --- 3. weights ---------------------------------------------------------------------------


def reference_inputs(
    size: tuple[int, int] = config.IMAGE_SIZE, normalisation: str = "torch"
) -> np.ndarray:
    """The reference radiographs as model inputs, (4, h, w, 3) float32, made here, never stored.

    One image per :data:`REFERENCE_CASES` entry, drawn by :func:`synthetic.render_case` (PA,
    ChestX-ray14-like: CheXNet's own domain) from its seed, then resized and scaled as every
    input is (:func:`images.resize_gray`, :func:`images.to_model_input`). A normal chest, a
    pneumothorax, cardiomegaly with effusion, edema: a trained CheXNet scores them differently.
    """
    preprocess = config.PreprocessConfig(size=tuple(size), normalisation=normalisation)
    drawn = [
        synthetic.render_case(
            np.random.default_rng(seed), findings, synthetic.Film("source", projection="PA")
        )[0]
        for seed, findings in REFERENCE_CASES
    ]
    return np.stack(
        [
            images.to_model_input(
                images.resize_gray(image.astype(np.float32), preprocess), normalisation
            )
            for image in drawn
        ]
    )


def reference_outputs(model: keras.Model) -> np.ndarray:
    """The model's outputs on :func:`reference_inputs` at its input size, (4, outputs)."""
    size, normalisation = tuple(model.input.shape[1:3]), backbones.of_model(model).normalisation
    inputs = reference_inputs(size, normalisation)
    return models.predict(model, [inputs])


def known_output_entry(weights: str | Path) -> dict:
    """The :data:`KNOWN_OUTPUTS` entry of a CheXNet weight file: ``{sha256: {...}}``.

    Builds the model as the doctor does and records its outputs on the reference inputs
    (rounded to 1e-7), to paste into :data:`KNOWN_OUTPUTS` when a file is added or remade.
    """
    model = models.build_chexnet(weights, input_shape=models.input_shape_for(weights))
    outputs = reference_outputs(model)
    return {
        files.sha256_file(weights): {
            "file": Path(weights).name,
            "size": [int(side) for side in model.input.shape[1:3]],
            "outputs": [[round(float(value), 7) for value in row] for row in outputs],
        }
    }


def check_weights_file(path: Path) -> Check:
    """The file exists, is a Keras weight file (its hash if the registry has one); its layout."""
    try:
        models.verify_file(path)
        archive = path.suffix == ".keras"
        layout, saved = ("keras archive", []) if archive else models.read_saved_layers(path)
        described = models.describe_weights(path)
        trained_by = models.read_metadata(path).get("command")
    except errors.WeightsError as error:
        spec = models.spec_for(path)
        if not path.is_file():
            source = f"get {spec.filename} from the {spec.source}, put it" if spec else "put it"
            return Check(
                "weights.file",
                "fail",
                f"{path}: not found",
                f"{source} at {path} (weights/README.md), or pass --weights",
            )
        return Check(
            "weights.file",
            "fail",
            str(error),
            "download the file again, or pass --weights naming a CheXNet weight file",
        )
    how = {
        "keras2": "Keras 2 save_weights layout, loaded by layer order and checked layer by "
        "layer (never by name)",
        "keras3": "Keras 3 layout, loaded by layer name with every shape checked",
        "keras archive": "Keras 3 .keras archive (safe_mode)",
    }[layout]
    count = f", {len(saved)} layers with weights" if saved else ""
    numbers = {"layout": layout, "sha256": files.sha256_file(path), "demo": False}
    if trained_by == shipped.MANIFEST_COMMAND:
        return Check(
            "weights.file",
            "warn",
            f"{described}; {how}{count}: the demo CheXNet, "
            "pretrained on synthetic images, not CheXNet",
            f"for the paper, put CheXNet's {models.REGISTRY['chexnet'].filename} in "
            "weights/ (weights/README.md)",
            data={**numbers, "demo": True},
        )
    return Check("weights.file", "ok", f"{described}; {how}{count}", data=numbers)


def check_architecture(path: Path) -> tuple[Check, keras.Model | None]:
    """The file loaded into CheXNet (DenseNet-121 + ``Dense(14, sigmoid)``), checked first.

    Returns:
        The check and the loaded model (None when it does not load).
    """
    try:
        model = models.build_chexnet(path, input_shape=models.input_shape_for(path))
    except (errors.WeightsError, ValueError) as error:
        return Check(
            "weights.architecture",
            "fail",
            str(error),
            f"this is not a CheXNet weight file (DenseNet-121 + 14 outputs): {_WEIGHTS_FIX}",
        ), None
    backbone, size = backbones.of_model(model).name, tuple(model.input.shape[1:3])
    found = (
        f"{backbone} + Dense({model.output.shape[-1]}, sigmoid), {model.count_params():,} "
        f"parameters, input {size[0]}×{size[1]}"
    )
    numbers = {"backbone": backbone, "parameters": model.count_params(), "input_size": list(size)}
    if backbone != backbones.DEFAULT:
        return Check(
            "weights.architecture",
            "warn",
            f"{found}: not the paper's DenseNet-121",
            _WEIGHTS_FIX,
            data=numbers,
        ), model
    return Check("weights.architecture", "ok", found, data=numbers), model


def _degenerate(outputs: np.ndarray) -> str | None:
    """Why outputs look untrained (near 0.5, or the same whatever the image), or None."""
    spread = float((outputs.max(axis=0) - outputs.min(axis=0)).max())
    distance = float(np.abs(outputs - 0.5).max())
    if distance < _NEAR_HALF:
        return f"every output within {distance:.3f} of 0.5"
    if spread < _FLAT:
        return f"no output moves more than {spread:.4f} between the reference radiographs"
    return None


def check_outputs(outputs: np.ndarray, sha256: str) -> Check:
    """A weight file's outputs on :func:`reference_inputs` (:func:`reference_outputs`): equal
    to its known ones (:data:`KNOWN_OUTPUTS`, by the file's ``sha256``), or not degenerate."""
    known = KNOWN_OUTPUTS.get(sha256)
    if known is not None:
        difference = float(np.abs(outputs - np.asarray(known["outputs"])).max())
        numbers = {"known": True, "max_difference": difference, "tolerance": TOLERANCE}
        if difference <= TOLERANCE:
            return Check(
                "weights.outputs",
                "ok",
                f"equal to this file's known outputs on "
                f"{len(outputs)} reference radiographs (largest difference "
                f"{difference:.1e} ≤ {TOLERANCE:g})",
                data=numbers,
            )
        return Check(
            "weights.outputs",
            "fail",
            f"differ from this file's known outputs by "
            f"{difference:.2e} (tolerance {TOLERANCE:g}): the file loads but computes "
            "something else",
            "reinstall the pinned environment (make setup): another "
            "TensorFlow/Keras or preprocessing changes the outputs",
            data=numbers,
        )
    why = _degenerate(outputs)
    spread = float((outputs.max(axis=0) - outputs.min(axis=0)).max())
    numbers = {"known": False, "largest_spread": spread}
    note = f"sha256 {sha256[:12]}… has no known outputs here, so that check was not possible"
    if why:
        return Check(
            "weights.outputs",
            "fail",
            f"{note}; the outputs look untrained or wrongly loaded: {why}",
            "these are not trained CheXNet weights (a file saved "
            f"before training, or layers left random by a by-name load): {_WEIGHTS_FIX}",
            data=numbers,
        )
    return Check(
        "weights.outputs",
        "ok",
        f"{note}; the outputs are not degenerate (an output "
        f"moves by up to {spread:.3f} between the {len(outputs)} reference radiographs)",
        data=numbers,
    )


def weights_checks(weights: str | Path | None = None) -> Iterator[Check]:
    """The file, the architecture, the outputs (each only when the one before passed)."""
    path = models.resolve_weights("chexnet", weights)
    check = check_weights_file(path)
    yield check
    if not check.ok:
        return
    check, model = check_architecture(path)
    yield check
    if model is not None:
        yield check_outputs(reference_outputs(model), files.sha256_file(path))


# --- 4. speed, 5. outputs -----------------------------------------------------------------


def reproduce_images(checks: Iterable[Check]) -> tuple[int, str]:
    """Images ``tchexnet reproduce`` would extract, from the data checks' counts when both
    CSVs were read, else the paper's (118,102 train + validation, 202 test)."""
    found = {check.check: check.data for check in checks}
    train, valid = found.get("data.train_csv", {}), found.get("data.valid_csv", {})
    if "train" in train and "frontal" in valid:
        n_images = train["train"] + train["val"] + valid["frontal"]
        return n_images, "train + validation + test, from the CSVs"
    return PAPER_IMAGES, "the paper's 118,102 train + validation and 202 test images"


def check_speed(seconds: float, n_images: int, source: str) -> Check:
    """The model-bound img/s (measured for ``seconds``) and the ETA of reproduce's extraction."""
    if seconds <= 0:
        return Check(
            "speed.reproduce_eta",
            "warn",
            "not measured (--seconds 0)",
            "run without --seconds 0 for the ETA of `tchexnet reproduce`",
        )
    speed = machine.model_bound_images_per_second(seconds=seconds)
    eta = n_images / speed
    found = (
        f"{speed:.1f} img/s model-bound (DenseNet-121 at 224, batch 32, measured "
        f"{seconds:g} s); `tchexnet reproduce` extracts {n_images:,} images ({source}): "
        f"≈ {_duration(eta)}"
    )
    numbers = {"images_per_second": speed, "images": n_images, "eta_seconds": round(eta)}
    if eta > _SLOW_ETA:
        return Check(
            "speed.reproduce_eta",
            "warn",
            found,
            "spread the extraction over machines (reproduce --shard i/N) or use a GPU",
            data=numbers,
        )
    return Check("speed.reproduce_eta", "ok", found, data=numbers)


def check_writable(out: Path) -> Check:
    """The output folder can be made and written (a file written atomically, then deleted)."""
    probe = out / ".tchexnet-doctor-probe"
    try:
        files.save_bytes(b"tchexnet doctor\n", probe)
        probe.unlink()
    except OSError as error:
        return Check(
            "outputs.writable",
            "fail",
            f"{out}: cannot write there ({error.strerror or error}: {error.filename or out})",
            "pass --out naming a folder you can write, or fix this one's permissions",
        )
    return Check("outputs.writable", "ok", f"{out}: writable")


def check_disk(out: Path, n_images: int, feature_width: int, dtype: str = "float32") -> Check:
    """Free disk where ``out`` is (or would be) against the feature stores' size, twice over."""
    existing = next(folder for folder in (out, *out.parents) if folder.exists())
    free = shutil.disk_usage(existing).free
    need = n_images * feature_width * np.dtype(dtype).itemsize
    found = (
        f"{_size(free)} free at {existing}; the feature stores of {n_images:,} images take "
        f"{_size(need)} ({feature_width} × {dtype} each)"
    )
    numbers = {"free_bytes": free, "store_bytes": need}
    if free < need:
        return Check(
            "outputs.disk",
            "fail",
            found,
            "free some space there, or pass --out on "
            "another disk (extract --dtype float16 halves the stores)",
            data=numbers,
        )
    if free < need * _DISK_MARGIN:
        return Check(
            "outputs.disk",
            "warn",
            f"{found}: little room beside them",
            "free some space for runs, predictions and figures",
            data=numbers,
        )
    return Check("outputs.disk", "ok", found, data=numbers)


def _feature_width(weights: str | Path | None) -> int:
    """Feature width of the weights' backbone (DenseNet-121's 1024 when unreadable)."""
    try:
        backbone = models.backbone_for(models.resolve_weights("chexnet", weights))
        return backbones.get(backbone).feature_width
    except (errors.WeightsError, ValueError):
        return backbones.get().feature_width


def run_checks(
    data_dir: str | Path | None = None,
    weights: str | Path | None = None,
    out: str | Path | None = None,
    seconds: float = 10.0,
    sample: int = 20,
    seed: int = 0,
    sections: Sequence[str] = SECTIONS,
) -> Iterator[Check]:
    """The checks of ``sections``, in order, each yielded as soon as it is done.

    Args:
        data_dir: folder holding CheXpert-v1.0-small/ (default :func:`config.data_dir`).
        weights: the CheXNet weight file (default :func:`models.resolve_weights`).
        out: the output folder (default :func:`config.output_dir`).
        seconds: how long to measure the model-bound speed (0: not measured).
        sample: images decoded per CSV.
        seed: seeds the image sample.
        sections: which of :data:`SECTIONS` to run (speed and disk use the data's counts when
            the data section ran, else the paper's).
    """
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown doctor sections {unknown}: use any of {SECTIONS}")
    done: list[Check] = []
    first = {
        "software": software_checks,
        "data": partial(data_checks, data_dir, sample, seed),
        "weights": partial(weights_checks, weights),
    }
    for name, section in first.items():
        for check in section() if name in sections else ():
            done.append(check)
            yield check
    n_images, source = reproduce_images(done)
    if "speed" in sections:
        yield check_speed(seconds, n_images, source)
    if "outputs" in sections:
        out = Path(out) if out else config.output_dir()
        yield check_writable(out)
        dtype = features.ExtractionOptions().dtype
        yield check_disk(out, n_images, _feature_width(weights), dtype)
