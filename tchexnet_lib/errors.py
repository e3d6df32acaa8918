"""Errors about the user's files (data, images, weights, feature stores, notebooks), not about code.

Every one is a :class:`OneLineError`: its message is one line naming the file (and the row,
column or layer) and the cause. In Jupyter it shows as that line instead of a traceback, and
the ``tchexnet`` command prints it as ``tchexnet: error: <message>`` with exit status 2.
Each also derives from the built-in error it refines (``ValueError``, ``FileNotFoundError``,
``RuntimeError``), so ``except ValueError`` still catches it.
"""

from __future__ import annotations

import os

__all__ = [
    "CheckpointError",
    "DataError",
    "FeatureStoreError",
    "ImageError",
    "LongStepError",
    "MissingInputError",
    "MissingTensorFlowError",
    "NotebookError",
    "OneLineError",
    "ShippedWeightsError",
    "WeightsError",
    "import_keras",
]


class OneLineError(Exception):
    """Base of errors about the user's files: shown as their one-line message.

    IPython calls ``_render_traceback_`` when it has one: the message already names the
    file and the cause, and the fix is in the file, not in the notebook.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class MissingInputError(OneLineError, FileNotFoundError):
    """Data or weights that are not on disk; the message says what and where to put it."""


class MissingTensorFlowError(OneLineError, ImportError):
    """No TensorFlow in this environment: the project leaves its choice to an extra.

    TensorFlow is not a base requirement (as for Keras 3), so that installing the project into
    Colab, Kaggle or a GPU environment keeps the TensorFlow that is there.
    """

    def __init__(self, cause: BaseException | None = None) -> None:
        found = f" ({cause})" if cause else ""
        super().__init__(
            f'TensorFlow is not installed{found}: pip install "tchexnet[cpu]" (or '
            '"tchexnet[gpu]" for a GPU), or `make setup` in a checkout'
        )


def import_keras():
    """``import keras``, or :class:`MissingTensorFlowError` naming the extra to install.

    Keras 3 imports its backend on import; without TensorFlow that fails deep inside it.
    """
    try:
        import keras
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] != "tensorflow":
            raise
        raise MissingTensorFlowError(error) from error
    return keras


class ShippedWeightsError(MissingInputError):
    """The shipped demo CheXNet is missing, altered, or older than the image generator."""


class DataError(OneLineError, ValueError):
    """A CSV, path or label array that cannot be used as it is.

    The message is one line naming the file, the line (header = line 1), the
    column and the cause, e.g. ``train.csv line 18, column 'Pneumothorax':
    illegal value 'yes' (allowed: 1.0, 0.0, -1.0 or blank)``.
    """


class ImageError(OneLineError, ValueError):
    """An image file that cannot be used, with the file and the cause.

    Attributes:
        path: the file, as given.
        reason: what is wrong with it, one line.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = " ".join(str(reason).split())  # one line, whatever Pillow said
        super().__init__(f"{self.path}: {self.reason}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # The default would call ImageError(message) when unpickled (multiprocessing).
        return (type(self), (self.path, self.reason))


class WeightsError(OneLineError, ValueError):
    """A weight file that cannot be loaded as asked; the message names the file and why."""


class FeatureStoreError(OneLineError, ValueError):
    """A feature store that cannot be used as asked (incomplete, corrupt, not a store)."""


class CheckpointError(OneLineError, ValueError):
    """A training run's folder that cannot be resumed (its state or a checkpoint is unreadable)."""


class NotebookError(OneLineError, RuntimeError):
    """A notebook failed: names the notebook, the cell, the error and the executed copy."""


class LongStepError(OneLineError, RuntimeError):
    """A notebook step estimated to run longer than it may without being asked to (it says how
    long, measured on this machine, and which parameter lets it go on)."""
