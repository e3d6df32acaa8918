"""The demo CheXNet the project ships in ``weights/demo/``: where it lives, and checked.

The file is pretrained once by ``tchexnet demo pretrain`` (:mod:`tchexnet_lib.tools.pretrain`)
and never retrained by a user: :func:`shipped_weights` hands it out after checking its sha256
and the generator version of the images it was trained on against its manifest. The study
(:mod:`tchexnet_lib.pipeline`) finds it here, without importing the pretraining.
"""

from __future__ import annotations

from pathlib import Path

from tchexnet_lib import config, errors, files, models, synthetic

__all__ = ["MANIFEST_COMMAND", "shipped_weights", "shipped_weights_path"]


#: The command that remakes the shipped file (named wherever it is out of date).
MANIFEST_COMMAND = "tchexnet demo pretrain"


def shipped_weights_path() -> Path:
    """Where the project's demo CheXNet lives: ``weights/demo/`` of the checkout, or the copy
    the wheel carries (:func:`config.bundled_dir`)."""
    return config.bundled_dir("demo_weights") / Path(models.DEMO_FILES["chexnet"]).name


def shipped_weights() -> Path:
    """The shipped demo CheXNet, checked: sha256 and generator version match its manifest.

    Raises:
        ShippedWeightsError: one line saying what is wrong, the command that remakes
            the file and how long it took when the project made it.
    """
    path = shipped_weights_path()
    manifest = models.read_metadata(path) if path.is_file() else {}
    remake = _remake_hint(manifest)
    if not manifest:
        raise errors.ShippedWeightsError(
            f"{path}: the demo CheXNet (or its manifest) is missing; {remake}"
        )
    if manifest.get("generator") != synthetic.GENERATOR_VERSION:
        raise errors.ShippedWeightsError(
            f"{path} was pretrained on images of generator {manifest.get('generator')}, this "
            f"checkout draws generator {synthetic.GENERATOR_VERSION}; {remake}"
        )
    if files.sha256_file(path) != manifest.get("sha256"):
        raise errors.ShippedWeightsError(
            f"{path}: sha256 differs from its manifest (altered or truncated); "
            f"restore it with `git checkout -- {path.name}` or {remake}"
        )
    return path


def _remake_hint(manifest: dict) -> str:
    took = manifest.get("seconds")
    where = manifest.get("machine", {}).get("cpu")
    timing = (
        f" (took {took / 60:.0f} min on {where})"
        if took and where
        else " (tens of minutes on a CPU)"
    )
    return f"remake it with `{MANIFEST_COMMAND}`{timing}"
