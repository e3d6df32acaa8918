"""Paths, environment overrides, seeds and small run dataclasses.

Every default here is the paper's value. Nothing happens on import: call
:func:`set_seed` explicitly.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tchexnet_lib import errors

__all__ = [
    "CHEXPERT_SMALL",
    "DATASETS",
    "HOME_VARIABLE",
    "IMAGE_SIZE",
    "PLAIN_PROGRESS",
    "PreprocessConfig",
    "WORK_FOLDER",
    "bundled_dir",
    "checkout_root",
    "chexpert_dir",
    "data_dir",
    "dataset_dir",
    "default_dataset",
    "demo_data_dir",
    "display_path",
    "environment_for_children",
    "find_work_folder",
    "import_tensorflow_quietly",
    "output_dir",
    "progress_bar",
    "project_root",
    "require_dataset",
    "set_seed",
    "weights_dir",
]


#: Folder inside the data directory that holds CheXpert-v1.0-small's CSVs and images.
CHEXPERT_SMALL = "CheXpert-v1.0-small"
#: Input size of CheXNet and tCheXNet (height, width).
IMAGE_SIZE = (224, 224)

_ENV_DATA = "TCHEXNET_DATA_DIR"
_ENV_WEIGHTS = "TCHEXNET_WEIGHTS_DIR"
_ENV_OUTPUT = "TCHEXNET_OUTPUT_DIR"
#: Set (to anything) for text progress bars even in a notebook: an executed copy then keeps
#: each bar's last state ("100%, 413/413"), one stdout line per bar, instead of a widget's
#: first one ("0%").
PLAIN_PROGRESS = "TCHEXNET_PLAIN_PROGRESS"


#: Chooses the working folder (data, weights, outputs) wherever the library is installed.
HOME_VARIABLE = "TCHEXNET_HOME"
#: The working folder's name outside a checkout: found in the current folder or a parent,
#: else made in the current folder.
WORK_FOLDER = "tchexnet-work"
_announced: set[Path] = set()


def checkout_root() -> Path | None:
    """The source checkout this library runs from (``pip install -e .``), or None when it is
    installed from a wheel (e.g. into ``site-packages/``, which may be read-only and shared)."""
    root = Path(__file__).resolve().parent.parent
    is_checkout = (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir()
    return root if is_checkout else None


def find_work_folder(start: str | os.PathLike | None = None) -> Path:
    """The working folder outside a checkout: the nearest ``tchexnet-work/`` in ``start``
    (default: the current folder) or one of its parents, else ``start/tchexnet-work``.

    Searching upwards lets a notebook opened in ``./tchexnet-notebooks/`` use the
    ``./tchexnet-work/`` that ``tchexnet demo`` made beside it.
    """
    start = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / WORK_FOLDER).is_dir():
            return folder / WORK_FOLDER
    return start / WORK_FOLDER


def project_root() -> Path:
    """The folder that holds ``chexpert/``, ``weights/`` and ``outputs/`` by default.

    ``$TCHEXNET_HOME`` when set; else the source checkout (today's layout); else the working
    folder of :func:`find_work_folder`, named once per process (never the install: a
    shared or read-only ``site-packages/`` must not receive a learner's files).
    """
    if os.environ.get(HOME_VARIABLE):
        return Path(os.environ[HOME_VARIABLE]).expanduser().resolve()
    root = checkout_root()
    if root is not None:
        return root
    folder = find_work_folder()
    if folder not in _announced:
        _announced.add(folder)
        stream = sys.stdout if "ipykernel" in sys.modules else sys.stderr
        print(
            f"tchexnet: working folder {folder} (data, weights, outputs; "
            f"${HOME_VARIABLE} chooses another)",
            file=stream,
        )
    return folder


@contextmanager
def environment_for_children(**extra: str) -> Iterator[None]:
    """Set, while the block runs, what the processes it starts must inherit: this process's
    working folder as ``$TCHEXNET_HOME`` (so a kernel or a worker reads and writes the same
    folders, and does not name it again), and ``extra`` variables; restored afterwards."""
    settings = {HOME_VARIABLE: str(project_root()), **extra}
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def _dir_from_env(variable: str, default_name: str) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser() if value else project_root() / default_name


def bundled_dir(name: str) -> Path:
    """A folder the wheel carries beside the library, as a path: ``"series"`` (the notebooks and
    the instructor's page, ``notebooks/`` of a checkout) or ``"demo_weights"`` (the shipped demo
    CheXNet and its manifest, ``weights/demo/`` of a checkout). Read-only: never write there.
    """
    in_checkout = {"series": ("notebooks",), "demo_weights": ("weights", "demo")}
    if name not in in_checkout:
        raise ValueError(f"bundled folder must be one of {sorted(in_checkout)}, got {name!r}")
    root = checkout_root()
    if root is not None:
        return root.joinpath(*in_checkout[name])
    return Path(__file__).resolve().parent / f"_{name}"  # a wheel installs it unpacked


def data_dir() -> Path:
    """Folder that holds ``CheXpert-v1.0-small/`` (``$TCHEXNET_DATA_DIR`` or ``chexpert/``)."""
    return _dir_from_env(_ENV_DATA, "chexpert")


def chexpert_dir() -> Path:
    """The CheXpert-v1.0-small folder: ``train.csv``, ``valid.csv``, ``train/``, ``valid/``."""
    return data_dir() / CHEXPERT_SMALL


#: The datasets a notebook or command can use.
DATASETS: tuple[str, ...] = ("demo", "chexpert")


def demo_data_dir() -> Path:
    """Where the synthetic sets are drawn: ``<data dir>/demo/`` (the demo's CheXpert-v1.0-small
    folder and the ChestX-ray14-shaped source set of its pretraining)."""
    return data_dir() / "demo"


def dataset_dir(dataset: str, root: str | os.PathLike | None = None) -> Path:
    """The CheXpert-v1.0-small folder of ``"chexpert"`` (real) or ``"demo"`` (synthetic).

    ``root``: the folder holding the real ``CheXpert-v1.0-small/`` (a command's
    ``--data-dir``); default :func:`data_dir`.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if dataset == "demo":
        return demo_data_dir() / CHEXPERT_SMALL
    return Path(root).expanduser() / CHEXPERT_SMALL if root else chexpert_dir()


def default_dataset() -> str:
    """``"chexpert"`` when the real train.csv and valid.csv are on disk, else ``"demo"``."""
    real = chexpert_dir()
    return (
        "chexpert" if (real / "train.csv").is_file() and (real / "valid.csv").is_file() else "demo"
    )


def require_dataset(dataset: str, root: str | os.PathLike | None = None) -> Path:
    """The dataset's folder (:func:`dataset_dir`), or a :class:`errors.MissingInputError`
    saying where the data goes."""
    folder = dataset_dir(dataset, root)
    missing = [name for name in ("train.csv", "valid.csv") if not (folder / name).is_file()]
    if not missing:
        return folder
    if dataset == "chexpert":
        raise errors.MissingInputError(
            f"CheXpert not found: {folder} lacks {' and '.join(missing)}; download "
            "CheXpert-v1.0-small (Stanford ML Group, free registration) and unpack it there "
            "(see chexpert/README.md), or use DATASET = 'demo'"
        )
    raise errors.MissingInputError(
        f"demo data not found in {folder}: run `tchexnet demo` (`make demo` in a checkout)"
    )


def weights_dir() -> Path:
    """Folder for weight files (``$TCHEXNET_WEIGHTS_DIR`` or ``weights/``)."""
    return _dir_from_env(_ENV_WEIGHTS, "weights")


def display_path(path: str | os.PathLike) -> str:
    """``path`` as a notebook or a message shows it: never absolute, so an executed notebook
    reads the same on every machine.

    Under the outputs, data or weights folder: ``outputs/…``, ``chexpert/…``, ``weights/…``
    (``$TCHEXNET_OUTPUT_DIR/…`` etc. when the variable moved the folder); elsewhere in the
    project: relative to its root; under the home folder: ``~/…``; anywhere else: ``…/`` and
    the last two parts.
    """
    path = Path(path).expanduser()
    if not path.is_absolute():
        return str(path)
    path = Path(os.path.normpath(path))
    folders = ((_ENV_OUTPUT, "outputs"), (_ENV_DATA, "chexpert"), (_ENV_WEIGHTS, "weights"))
    for variable, default_name in folders:
        root = Path(os.path.normpath(_dir_from_env(variable, default_name)))
        if path.is_relative_to(root):
            label = f"${variable}" if os.environ.get(variable) else default_name
            return str(Path(label) / path.relative_to(root))
    for root, label in ((project_root(), "."), (Path.home(), "~")):
        if path.is_relative_to(root) and root != Path("/"):
            return str(Path(label) / path.relative_to(root))
    return str(Path("…", *path.parts[1:][-2:]))  # parts[0] is the root: never absolute


class _FinalLine:
    """A text bar's stream that writes only the bar's final state, one line.

    Each redraw of a text bar (``"\\r"`` then the state) is one more stream output in an
    executed notebook, so a saved copy would list every state; this keeps the latest and writes
    it when tqdm ends the line (``leave=True``: once, on close): to stdout in a kernel (a plain
    output, not an error-coloured stderr one), to stderr elsewhere (a command's stdout holds
    only its result).
    """

    encoding = "utf-8"  # tqdm draws its unicode blocks

    def __init__(self) -> None:
        self.latest = ""

    def write(self, text: str) -> None:
        *ended, rest = (self.latest + text).split("\n")
        for line in ended:
            self._target().write(line.rsplit("\r", 1)[-1].rstrip() + "\n")
        self.latest = rest.rsplit("\r", 1)[-1]

    def flush(self) -> None:
        self._target().flush()

    @staticmethod
    def _target():
        """stdout when this process is a Jupyter kernel, stderr otherwise."""
        ipython = sys.modules.get("IPython")  # imported already in a kernel; not imported here
        shell = ipython.get_ipython() if ipython else None
        return sys.stdout if getattr(shell, "kernel", None) is not None else sys.stderr


def progress_bar(iterable=None, **options):
    """A tqdm progress bar: a widget in an interactive notebook, text elsewhere.

    Wherever ``$TCHEXNET_PLAIN_PROGRESS`` is set (:func:`tchexnet_lib.notebooks.execute` sets
    it) the bar is text and leaves one line, its final state (:class:`_FinalLine`).
    """
    if os.environ.get(PLAIN_PROGRESS):
        from tqdm.std import tqdm  # imported when a bar is shown, not with the module

        options = {"file": _FinalLine(), "mininterval": 5.0, **options}
    else:
        from tqdm.auto import tqdm  # (the same)
    return tqdm(iterable, **options)


def output_dir(*parts: str) -> Path:
    """Folder for run outputs (``$TCHEXNET_OUTPUT_DIR`` or ``outputs/``), created on demand."""
    path = _dir_from_env(_ENV_OUTPUT, "outputs").joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up notes (oneDNN, CPU features, a failed ``cuInit``
    of the full wheel on a host without a GPU) kept off stderr.

    They are printed before any logging setting applies (``TF_CPP_MIN_LOG_LEVEL`` does not
    hide them) and a notebook shows them in red; they are replayed if the import fails.
    """
    if "tensorflow" in sys.modules:
        return  # imported already: nothing left to print
    import tempfile  # only when TensorFlow is imported

    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # (seconds: imported by the first caller)

            # The full wheel on a host without a GPU logs "failed call to cuInit" when its
            # devices are first listed: list them here, where stderr is captured.
            tensorflow.config.list_physical_devices()
        except ModuleNotFoundError as error:
            if error.name != "tensorflow":
                raise
            raise errors.MissingTensorFlowError() from error
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def set_seed(seed: int = 0, deterministic_ops: bool = True) -> None:
    """Seed Python, NumPy and Keras/TensorFlow, and make TF ops deterministic.

    Args:
        seed: the seed for every generator.
        deterministic_ops: also call ``tf.config.experimental.enable_op_determinism()``;
            needed for bitwise-equal results across processes on CPU.
    """
    random.seed(seed)
    np.random.seed(seed)
    import_tensorflow_quietly()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()


@dataclass(frozen=True)
class PreprocessConfig:
    """How a file becomes a model input; defaults match CheXNet/tCheXNet.

    Attributes:
        size: (height, width) fed to the model.
        interpolation: ``"bilinear"`` (antialiased, like the original's training
            generator) or ``"nearest"`` (the original's hello-world scripts).
        exif_transpose: rotate by the EXIF orientation tag, as a viewer shows the file.
        max_pixels: files with more pixels than this are refused from the header.
        min_side: files smaller than this on either side are refused.
        normalisation: how the backbone wants its inputs scaled (its
            :attr:`~tchexnet_lib.backbones.Backbone.normalisation`; DenseNet-121: ``"torch"``).
    """

    size: tuple[int, int] = IMAGE_SIZE
    interpolation: str = "bilinear"
    exif_transpose: bool = True
    max_pixels: int = 64_000_000
    min_side: int = 32
    normalisation: str = "torch"

    def to_dict(self) -> dict:
        """Plain-JSON form, for manifests and cache keys."""
        return asdict(self)
