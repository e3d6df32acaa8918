"""CheXNet and tCheXNet as flat Keras 3 functional models, and their weight files.

Both models share one DenseNet-121 base (``keras.applications.DenseNet121``,
``include_top=False, pooling="avg"``, 224×224×3 inputs, 1024-d features):

* **CheXNet**: base → ``Dense(14, sigmoid, name="predictions")``, outputs in
  :data:`tchexnet_lib.labels.CHEXNET_CLASSES` order; 7,051,854 parameters.
* **tCheXNet**: the same base, frozen → ``Dense(512, relu)`` → ``Dense(1, sigmoid)``
  (Pneumothorax); 120 convolutions + 2 dense layers ("122 layers"), 7,562,817 parameters.

The tCheXNet head has one builder, :func:`head_layers`, read from a :class:`HeadArchitecture`
(the paper's by default): the head alone on cached features (:func:`build_head`, what
:mod:`~tchexnet_lib.training` trains), the head on a base (:func:`attach_tchexnet_head`,
:func:`build_tchexnet`) and a saved tCheXNet reloaded (its sidecar records the head's
architecture, :func:`head_for`) all go through it.

The layer order is the original Keras 2 code's, so the original files load by
topology. Loading never matches by name: Keras 2 called the first layers
``conv1/conv`` and ``conv1/bn`` where Keras 3 says ``conv1_conv`` and ``conv1_bn``,
and a by-name load silently leaves them random. Instead every file is read and
compared with the model first (layer count, order, shapes); any mismatch is one
:class:`errors.WeightsError` naming the file and the first difference.

Inputs are prepared by :func:`tchexnet_lib.images.load_image` (for DenseNet-121 Keras'
``densenet.preprocess_input``, 'torch' mode). The base is a row of
:data:`tchexnet_lib.backbones.BACKBONES` (DenseNet-121 unless a weight file's sidecar names
another); its feature width is the row's (1024 for DenseNet-121).
"""

from __future__ import annotations

import json
import os
import warnings
import weakref
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import h5py
import numpy as np

from tchexnet_lib import backbones, config, errors, files, labels

if TYPE_CHECKING:
    import keras

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "CHEXNET_HEAD",
    "DEFAULT_WEIGHTS",
    "DEMO_FILES",
    "HIDDEN_UNITS",
    "HeadArchitecture",
    "REGISTRY",
    "SavedLayer",
    "TCHEXNET_DROPOUT",
    "TCHEXNET_HIDDEN",
    "TCHEXNET_OUTPUT",
    "WeightsSpec",
    "attach_tchexnet_head",
    "backbone_for",
    "build_base",
    "build_chexnet",
    "build_head",
    "build_model",
    "build_tchexnet",
    "compiled",
    "describe_weights",
    "expected_layers",
    "feature_extractor",
    "head_architecture",
    "head_for",
    "head_layer_names",
    "head_layers",
    "input_shape_for",
    "load_model_file",
    "load_weights",
    "metadata_path",
    "missing_file_message",
    "output_names",
    "predict",
    "read_metadata",
    "read_saved_layers",
    "registry_path",
    "resolve_weights",
    "save_metadata",
    "save_weights_atomic",
    "spec_for",
    "verify_file",
    "weights_digest",
]


Architecture = Literal["chexnet", "tchexnet"]
ARCHITECTURES: tuple[str, ...] = ("chexnet", "tchexnet")

#: Names of the layers this project gives the heads (the original's were auto-named). The
#: hidden layer keeps its name whatever its width: saved Keras 3 files are read by layer name.
CHEXNET_HEAD = "predictions"
TCHEXNET_HIDDEN = "tchexnet_dense_512"
TCHEXNET_DROPOUT = "tchexnet_dropout"
TCHEXNET_OUTPUT = "tchexnet_pneumothorax"
HIDDEN_UNITS = 512


@dataclass(frozen=True)
class HeadArchitecture:
    """What the tCheXNet head is made of; the defaults are the paper's head.

    :func:`head_layers` reads every field; a saved tCheXNet records them all in its sidecar
    (``"head"``). ``training.HeadConfig`` extends it with how the head is trained.

    Attributes:
        hidden: units of the hidden ``Dense`` layer, relu (the paper: 512).
        dropout: rate of a ``Dropout`` between the hidden and the output layer, active only in
            training; 0 (the paper's: "noDropOut") adds no layer.
    """

    hidden: int = HIDDEN_UNITS
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.hidden < 1:
            raise ValueError(f"hidden={self.hidden}: the hidden layer needs ≥ 1 unit")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout={self.dropout}: a rate in [0, 1) (0: no dropout)")

    def to_dict(self) -> dict:
        """Plain-JSON form (every field, a subclass's too)."""
        return asdict(self)


@dataclass(frozen=True)
class WeightsSpec:
    """One expected weight file: where it comes from and what it holds.

    Attributes:
        key: registry key (``"chexnet"``, ``"tchexnet-paper"``).
        filename: file name expected under the weights folder.
        architecture: the model it fits.
        source: where to get it.
        sha256: the file's hash, or ``None`` when the public file's hash is not
            known to this project (architecture is verified instead).
    """

    key: str
    filename: str
    architecture: Architecture
    source: str
    sha256: str | None = None


#: The weight files this project knows. See ``weights/README.md``.
REGISTRY: dict[str, WeightsSpec] = {
    "chexnet": WeightsSpec(
        key="chexnet",
        filename="best_weights.h5",
        architecture="chexnet",
        source="CheXNet-Keras project (brucechou1983/CheXNet-Keras on GitHub), release files: "
        "best_weights.h5, written by Keras 2 save_weights",
    ),
    "tchexnet-paper": WeightsSpec(
        key="tchexnet-paper",
        filename="94482_23620_keras_cw_noDropOut_chexpert_pretrained_chexnet_512_1_001_0.54064.h5",
        architecture="tchexnet",
        source="tCheXNet repository (deepMD-io/tCheXNet on GitHub), saved_models/: the paper's "
        "epoch-1 checkpoint, written by Keras 2 ModelCheckpoint",
    ),
}

#: Default registry key per architecture.
DEFAULT_WEIGHTS: dict[str, str] = {"chexnet": "chexnet", "tchexnet": "tchexnet-paper"}


def build_base(
    input_shape: tuple[int, int, int] = (*config.IMAGE_SIZE, 3),
    imagenet: bool = False,
    backbone: str | None = None,
) -> keras.Model:
    """The backbone without its top, global-average pooled (DenseNet-121: 1024 features).

    Args:
        input_shape: (height, width, 3). Weights do not depend on it.
        imagenet: start from Keras' ImageNet weights (downloads them); leave False
            when a CheXNet file will be loaded (no download that is then overwritten).
        backbone: a name in :data:`tchexnet_lib.backbones.BACKBONES` (default DenseNet-121).

    Returns:
        A model from images (n, h, w, 3) to features (n, width), output layer the
        backbone's ``feature_layer`` (``avg_pool``).
    """
    spec = backbones.get(backbone)
    spec.check_input_shape(input_shape)
    return spec.build(tuple(input_shape), imagenet)


def build_chexnet(
    weights: str | os.PathLike | None = None,
    input_shape: tuple[int, int, int] = (*config.IMAGE_SIZE, 3),
    imagenet: bool = False,
    backbone: str | None = None,
) -> keras.Model:
    """CheXNet: DenseNet-121 + ``Dense(14, sigmoid, name="predictions")``, flat.

    Args:
        weights: a CheXNet weight file to load (Keras 2 ``.h5``, Keras 3
            ``.weights.h5`` or ``.keras``); ``None`` leaves the model untrained.
        input_shape: (height, width, 3).
        imagenet: initialise the base from ImageNet (ignored when ``weights`` is given).
        backbone: the base (:mod:`tchexnet_lib.backbones`); default the weight file's
            (its sidecar's ``backbone``), DenseNet-121 without one.

    Returns:
        Model from (n, h, w, 3) preprocessed images to (n, 14) probabilities in
        :data:`labels.CHEXNET_CLASSES` order.
    """
    keras = errors.import_keras()

    base = build_base(
        input_shape,
        imagenet=imagenet and weights is None,
        backbone=backbone or backbone_for(weights),
    )
    outputs = keras.layers.Dense(
        len(labels.CHEXNET_CLASSES), activation="sigmoid", name=CHEXNET_HEAD
    )(base.output)
    model = keras.Model(base.input, outputs, name="chexnet")
    if weights is not None:
        load_weights(model, weights)
    return model


def head_layers(
    features: keras.KerasTensor, config: HeadArchitecture = HeadArchitecture()
) -> keras.KerasTensor:
    """The tCheXNet head on ``features``: Dense(hidden, relu) [→ Dropout] → Dense(1, sigmoid).

    The one place the head's layers are made (the head alone, on a base, reloaded). They are
    float32 whatever the global mixed-precision policy: the head is tiny, and its results stay
    bitwise reproducible and equal on features and on images.

    Args:
        features: the pooled features, (n, width).
        config: the head's architecture (a ``training.HeadConfig`` is one).

    Returns:
        The Pneumothorax probability, (n, 1).
    """
    keras = errors.import_keras()

    x = keras.layers.Dense(config.hidden, activation="relu", name=TCHEXNET_HIDDEN, dtype="float32")(
        features
    )
    if config.dropout:
        x = keras.layers.Dropout(config.dropout, name=TCHEXNET_DROPOUT, dtype="float32")(x)
    return keras.layers.Dense(1, activation="sigmoid", name=TCHEXNET_OUTPUT, dtype="float32")(x)


def build_head(
    n_features: int | None = None, config: HeadArchitecture = HeadArchitecture()
) -> keras.Model:
    """The head alone, trained on cached features: Input(n_features) → :func:`head_layers`.

    ``n_features``: the backbone's feature width (default DenseNet-121's, 1024). Its layers
    are named as on a whole tCheXNet, so ``training.attach_head`` copies them by name.
    """
    keras = errors.import_keras()

    inputs = keras.Input((n_features or backbones.get().feature_width,), name="features")
    return keras.Model(inputs, head_layers(inputs, config), name="tchexnet_head")


def head_architecture(model: keras.Model) -> HeadArchitecture:
    """The architecture of the head in ``model`` (a tCheXNet or a head alone), read from its
    layers: what a saved tCheXNet's sidecar records, inverse of :func:`head_layers`."""
    dropout = [layer.rate for layer in model.layers if layer.name == TCHEXNET_DROPOUT]
    hidden = model.get_layer(TCHEXNET_HIDDEN).units
    return HeadArchitecture(hidden=int(hidden), dropout=float(dropout[0]) if dropout else 0.0)


def head_layer_names(model: keras.Model) -> list[str]:
    """The layers after the backbone's feature layer: CheXNet's ``predictions``, or tCheXNet's
    head (:func:`head_layers`), in order."""
    names = [layer.name for layer in model.layers]
    return names[names.index(backbones.of_model(model).feature_layer) + 1 :]


def attach_tchexnet_head(
    chexnet_or_base: keras.Model, freeze_base: bool = True, head: HeadArchitecture | None = None
) -> keras.Model:
    """tCheXNet from a CheXNet (or a bare base): its pooled features → :func:`head_layers`.

    The new model shares the given model's layers (as the original code did), so
    its layer order is the base's followed by the head's.

    Args:
        chexnet_or_base: a model on a backbone of :data:`tchexnet_lib.backbones.BACKBONES`.
        freeze_base: mark every base layer non-trainable (the paper's recipe). A
            frozen BatchNormalization runs in inference mode in Keras 3, so the
            frozen base is a fixed feature extractor.
        head: the head's architecture (default the paper's).
    """
    keras = errors.import_keras()

    features = chexnet_or_base.get_layer(backbones.of_model(chexnet_or_base).feature_layer).output
    output = head_layers(features, head or HeadArchitecture())
    model = keras.Model(chexnet_or_base.input, output, name="tchexnet")
    in_head = set(head_layer_names(model))
    for layer in model.layers:
        layer.trainable = layer.name in in_head or not freeze_base
    return model


def build_tchexnet(
    weights: str | os.PathLike | None = None,
    chexnet_weights: str | os.PathLike | None = None,
    input_shape: tuple[int, int, int] = (*config.IMAGE_SIZE, 3),
    backbone: str | None = None,
    head: HeadArchitecture | None = None,
) -> keras.Model:
    """tCheXNet: CheXNet's frozen base + the head (the paper's: Dense(512, relu), Dense(1, sigmoid)).

    Args:
        weights: a full tCheXNet weight file (base and head), e.g. the paper's
            checkpoint. Takes precedence over ``chexnet_weights``.
        chexnet_weights: a CheXNet file to initialise the base from before
            training a new head (the paper's transfer step).
        input_shape: (height, width, 3).
        backbone: the base; default the weight file's (its sidecar), DenseNet-121 without one.
        head: the head's architecture; default the weight file's (its sidecar's ``head``), the
            paper's without one.

    Returns:
        Model from (n, h, w, 3) preprocessed images to (n, 1) Pneumothorax probabilities.
    """
    backbone = backbone or backbone_for(weights or chexnet_weights)
    chexnet = build_chexnet(
        weights=None if weights else chexnet_weights, input_shape=input_shape, backbone=backbone
    )
    model = attach_tchexnet_head(chexnet, head=head or head_for(weights))
    if weights is not None:
        load_weights(model, weights)
    return model


def build_model(
    architecture: Architecture,
    weights: str | os.PathLike | None = None,
    input_shape: tuple[int, int, int] = (*config.IMAGE_SIZE, 3),
    backbone: str | None = None,
) -> keras.Model:
    """Build ``"chexnet"`` or ``"tchexnet"`` and load ``weights`` into it.

    ``backbone``: default the weight file's (its sidecar's), DenseNet-121 without one.
    """
    if architecture == "chexnet":
        return build_chexnet(weights, input_shape=input_shape, backbone=backbone)
    if architecture == "tchexnet":
        return build_tchexnet(weights, input_shape=input_shape, backbone=backbone)
    raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")


def feature_extractor(model: keras.Model) -> keras.Model:
    """The base of a CheXNet or tCheXNet: images → its backbone's features (1024-d ``avg_pool``)."""
    keras = errors.import_keras()

    layer = model.get_layer(backbones.of_model(model).feature_layer)
    return keras.Model(model.input, layer.output, name="features")


def output_names(model: keras.Model) -> tuple[str, ...]:
    """Class names of a model's outputs: CheXNet's 14, or ``("Pneumothorax",)``."""
    width = model.output.shape[-1]
    if width == len(labels.CHEXNET_CLASSES):
        return labels.CHEXNET_CLASSES
    if width == 1:
        return (labels.TARGET,)
    raise ValueError(f"model {model.name!r} has {width} outputs; expected 14 or 1")


# --- weight files -------------------------------------------------------------------------


def registry_path(key: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """Where the registry's file ``key`` is expected (``weights/<filename>``)."""
    if key not in REGISTRY:
        raise ValueError(f"unknown weights {key!r}; known: {sorted(REGISTRY)}")
    return Path(weights_dir or config.weights_dir()) / REGISTRY[key].filename


def spec_for(path: str | os.PathLike) -> WeightsSpec | None:
    """The registry entry whose file name is ``path``'s, if any."""
    name = Path(path).name
    return next((spec for spec in REGISTRY.values() if spec.filename == name), None)


def missing_file_message(path: Path) -> str:
    """What to say when a weight file is absent: where to get it and where to put it."""
    spec = spec_for(path)
    where = f"put it at {path}" if spec else "check the path"
    source = f"; get {spec.filename} from the {spec.source}" if spec else ""
    return f"{path}: weights file not found{source}; {where} (see weights/README.md)"


def verify_file(path: str | os.PathLike, expected_sha256: str | None = None) -> Path:
    """Check a weight file exists, is HDF5 or a ``.keras`` zip, and matches its hash.

    Args:
        path: the file.
        expected_sha256: hash to insist on; by default the registry's, if it has one.

    Raises:
        WeightsError: missing, empty, not HDF5, or a hash mismatch (message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise errors.WeightsError(missing_file_message(path))
    if path.stat().st_size == 0:
        raise errors.WeightsError(f"{path}: weights file is empty (0 bytes); download it again")
    if path.suffix != ".keras" and not h5py.is_hdf5(path):
        raise errors.WeightsError(
            f"{path}: not an HDF5 file (first bytes {path.read_bytes()[:16]!r}); "
            "a weights file saved by Keras is HDF5 (.h5, .weights.h5) or a .keras archive"
        )
    spec = spec_for(path)
    expected = expected_sha256 or (spec.sha256 if spec else None)
    if expected and (actual := files.sha256_file(path)) != expected.lower():
        raise errors.WeightsError(f"{path}: sha256 {actual} differs from the expected {expected}")
    return path


@dataclass(frozen=True)
class SavedLayer:
    """A layer with weights as stored in (or expected from) a file."""

    name: str
    shapes: tuple[tuple[int, ...], ...]


def _decode(values) -> list[str]:
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _h5_attribute_list(group: h5py.Group, name: str) -> list[str]:
    """A string-list attribute, joined across Keras 2's chunks (``name0``, ``name1``…)."""
    if name in group.attrs:
        return _decode(group.attrs[name])
    chunks, index = [], 0
    while f"{name}{index}" in group.attrs:
        chunks.extend(_decode(group.attrs[f"{name}{index}"]))
        index += 1
    return chunks


def _is_keras2_layout(handle: h5py.File) -> bool:
    root = handle["model_weights"] if "model_weights" in handle else handle
    return bool(_h5_attribute_list(root, "layer_names"))


def _keras2_layers(handle: h5py.File) -> list[SavedLayer]:
    """Layers with weights in a Keras 2 ``save_weights`` / ``model.save`` HDF5 file, in order."""
    root = handle["model_weights"] if "model_weights" in handle else handle
    saved = []
    for name in _h5_attribute_list(root, "layer_names"):
        weight_names = _h5_attribute_list(root[name], "weight_names")
        if weight_names:
            shapes = tuple(tuple(root[name][w].shape) for w in weight_names)
            saved.append(SavedLayer(name, shapes))
    return saved


def _keras3_layers(handle: h5py.File) -> list[SavedLayer]:
    """Layers with weights in a Keras 3 ``.weights.h5`` file (order is not meaningful)."""
    saved = []
    for group in handle.get("layers", {}).values():
        variables = group.get("vars")
        if variables is not None and len(variables):
            shapes = tuple(tuple(variables[k].shape) for k in sorted(variables, key=int))
            saved.append(SavedLayer(str(variables.attrs.get("name", group.name)), shapes))
    return saved


def expected_layers(model: keras.Model) -> list[SavedLayer]:
    """The model's layers with weights, in the order a topological load assigns them."""
    return [
        SavedLayer(layer.name, tuple(tuple(w.shape) for w in layer.weights))
        for layer in model.layers
        if layer.weights
    ]


def _keras2_name(name: str) -> str:
    return name.replace("/", "_")


def _describe(layer: SavedLayer) -> str:
    return f"'{layer.name}' {', '.join(str(s) for s in layer.shapes)}"


def _compare_in_order(path: Path, saved: list[SavedLayer], model: keras.Model) -> None:
    """Raise on the first layer where a topological load would put weights in the wrong place.

    Base layers must match by (Keras-2-normalised) name and shape; head ``Dense``
    layers were auto-named by Keras 2 (``dense_1``), so only their shapes must match.
    """
    expected = expected_layers(model)
    nested = [s for s in saved if len(s.shapes) > 8]
    if nested:
        raise errors.WeightsError(
            f"{path}: layer '{nested[0].name}' holds {len(nested[0].shapes)} weights: the file "
            "stores a nested model; this project loads flat CheXNet/tCheXNet files only"
        )
    head = set(head_layer_names(model))
    for index, (got, want) in enumerate(zip(saved, expected)):
        same_name = _keras2_name(got.name) == want.name or want.name in head
        if not same_name or got.shapes != want.shapes:
            raise errors.WeightsError(
                f"{path}: does not fit {model.name}: weighted layer #{index} is "
                f"{_describe(got)} in the file but {_describe(want)} in the model"
            )
    if len(saved) != len(expected):
        _raise_count_mismatch(path, saved, expected, model.name)


def _raise_count_mismatch(path: Path, saved: list, expected: list, model_name: str) -> None:
    longer, shorter, what = (
        (saved, expected, "extra") if len(saved) > len(expected) else (expected, saved, "missing")
    )
    names = ", ".join(f"'{layer.name}'" for layer in longer[len(shorter) :][:3])
    raise errors.WeightsError(
        f"{path}: does not fit {model_name}: the file has {len(saved)} layers with weights, "
        f"the model {len(expected)} ({what} in the file: {names})"
    )


def _compare_by_name(path: Path, saved: list[SavedLayer], model: keras.Model) -> None:
    """Keras 3 files store layers by name: every model layer must be there with its shapes."""
    stored = {layer.name: layer for layer in saved}
    for want in expected_layers(model):
        got = stored.pop(want.name, None)
        if got is None:
            raise errors.WeightsError(
                f"{path}: does not fit {model.name}: layer '{want.name}' is missing"
            )
        if got.shapes != want.shapes:
            raise errors.WeightsError(
                f"{path}: does not fit {model.name}: layer {_describe(got)} in the file, "
                f"{_describe(want)} in the model"
            )
    if stored:
        raise errors.WeightsError(
            f"{path}: does not fit {model.name}: extra layers in the file: {sorted(stored)[:3]}"
        )


def read_saved_layers(path: str | os.PathLike) -> tuple[str, list[SavedLayer]]:
    """Read a weight file's layout without loading it.

    Returns:
        (``"keras2"`` or ``"keras3"``, the layers with weights and their shapes).

    Raises:
        WeightsError: the file is not a readable Keras weight file (truncated, empty).
    """
    path = Path(path)
    try:
        with h5py.File(path, "r") as handle:
            if _is_keras2_layout(handle):
                return "keras2", _keras2_layers(handle)
            if "layers" in handle:
                return "keras3", _keras3_layers(handle)
    except (OSError, KeyError, ValueError) as error:
        raise errors.WeightsError(
            f"{path}: unreadable HDF5, truncated or corrupt ({error})"
        ) from error
    raise errors.WeightsError(
        f"{path}: HDF5 file but not a Keras weight file (no layer_names, no layers)"
    )


def load_weights(
    model: keras.Model, path: str | os.PathLike, expected_sha256: str | None = None
) -> Path:
    """Load a CheXNet/tCheXNet weight file into ``model``, checked, never by name.

    Accepts the original Keras 2 files (``save_weights`` or ``ModelCheckpoint``
    ``.h5``, loaded by topology), and this project's Keras 3 ``.weights.h5`` and
    ``.keras`` files. The file's layout is compared with the model before loading.

    Args:
        model: a model from :func:`build_chexnet` / :func:`build_tchexnet`.
        path: the weight file.
        expected_sha256: insist on this hash (default: the registry's, if known).

    Returns:
        The path loaded.

    Raises:
        WeightsError: missing, not HDF5, truncated, hash mismatch, a Keras 2 file
            named ``*.weights.h5``, or any architecture mismatch (names the first one).
    """
    path = verify_file(path, expected_sha256)
    if path.suffix == ".keras":
        return _load_from_keras_archive(model, path)
    layout, saved = read_saved_layers(path)
    if layout == "keras2":
        if path.name.endswith(".weights.h5"):
            raise errors.WeightsError(
                f"{path}: a Keras 2 save_weights file named *.weights.h5, which Keras 3 reserves "
                "for its own format; rename it to end in .h5"
            )
        _compare_in_order(path, saved, model)
    else:
        if not path.name.endswith(".weights.h5"):
            raise errors.WeightsError(
                f"{path}: a Keras 3 weights file; rename it to end in .weights.h5"
            )
        _compare_by_name(path, saved, model)
    _load_checked(model, path)
    return path


def _load_checked(model: keras.Model, path: Path) -> None:
    """Run Keras' own loader once the layout is known to fit (its warnings would only repeat it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.load_weights(path)
    except (OSError, ValueError, KeyError) as error:
        raise errors.WeightsError(
            f"{path}: could not be read to the end, truncated or corrupt ({error})"
        ) from error


def _load_from_keras_archive(model: keras.Model, path: Path) -> Path:
    other = load_model_file(path)
    _compare_by_name(path, expected_layers(other), model)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(other.get_layer(layer.name).get_weights())
    return path


def load_model_file(path: str | os.PathLike) -> keras.Model:
    """Load a whole ``.keras`` model saved by this project, with Keras ``safe_mode``.

    Raises:
        WeightsError: the file is missing, not a ``.keras`` archive (a Keras 2
            weights-only ``.h5`` holds no architecture: build the model with
            :func:`build_model` and use :func:`load_weights`), or unreadable.
    """
    keras = errors.import_keras()

    path = Path(path)
    if not path.is_file():
        raise errors.WeightsError(missing_file_message(path))
    if path.suffix != ".keras":
        raise errors.WeightsError(
            f"{path}: not a .keras model file; for weight files build the model "
            "(models.build_model) and call models.load_weights"
        )
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types for a bad archive
        raise errors.WeightsError(
            f"{path}: unreadable .keras file ({type(error).__name__}: {error})"
        ) from error


def weights_digest(model: keras.Model) -> str:
    """sha256 over a model's weight values, names and shapes (for models not loaded from a file)."""
    names = [f"{variable.path}:{tuple(variable.shape)}" for variable in model.weights]
    return files.sha256_json(
        {"names": names, "values": files.sha256_arrays(*[v.numpy() for v in model.weights])}
    )


def save_weights_atomic(model: keras.Model, path: str | os.PathLike) -> Path:
    """``model.save_weights`` through a temporary file renamed into place (Keras writes in place)."""
    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise ValueError(f"{path}: Keras 3 weight files must end in .weights.h5")
    with files.atomic_path(path) as tmp:
        model.save_weights(tmp)
    return path


#: Files written by ``make demo`` (``weights/demo/``), used when the real ones are absent.
DEMO_FILES: dict[str, str] = {
    "chexnet": "demo/chexnet_demo.weights.h5",
    "tchexnet": "demo/tchexnet_demo.weights.h5",
}


def metadata_path(path: str | os.PathLike) -> Path:
    """The JSON sidecar a weight file may carry: ``<file>.json`` (input size, description)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def read_metadata(path: str | os.PathLike) -> dict:
    """A weight file's sidecar metadata, or ``{}`` when it has none."""
    sidecar = metadata_path(path)
    if not sidecar.is_file():
        return {}
    try:
        return json.loads(sidecar.read_text())
    except (OSError, ValueError) as error:
        raise errors.WeightsError(f"{sidecar}: unreadable weights metadata ({error})") from error


def save_metadata(
    path: str | os.PathLike, model: keras.Model, description: str, **fields: object
) -> Path:
    """Write the sidecar of a weight file this project saved (every writer calls this).

    Its core fields: ``architecture`` (chexnet or tchexnet), ``backbone``, ``image_size``
    (the model's input size), for a tCheXNet its ``head`` (:class:`HeadArchitecture`, read
    from the model: loading rebuilds the same head), ``description`` and the ``sha256`` of the
    weight file; ``fields`` add to them or replace them (e.g. the ``image_size`` of a model
    built with an open input size).

    Returns:
        The sidecar's path (:func:`metadata_path`).
    """
    architecture = "chexnet" if model.output.shape[-1] > 1 else "tchexnet"
    head = {"head": head_architecture(model).to_dict()} if architecture == "tchexnet" else {}
    metadata = {
        "architecture": architecture,
        "backbone": backbones.of_model(model).name,
        "image_size": [int(side) for side in model.input.shape[1:3] if side is not None],
        **head,
        "description": description,
        "sha256": files.sha256_file(path),
        **fields,
    }
    return files.save_json(metadata, metadata_path(path))


def backbone_for(path: str | os.PathLike | None) -> str:
    """The backbone a weight file was saved from (its sidecar's ``backbone``; else DenseNet-121)."""
    return (read_metadata(path).get("backbone") if path else None) or backbones.DEFAULT


def head_for(path: str | os.PathLike | None) -> HeadArchitecture:
    """The head a tCheXNet weight file was saved with: its sidecar's ``head``, else the paper's
    (the original files, and this project's saved before the sidecar recorded it).

    Raises:
        WeightsError: the sidecar's head is not one this version builds (naming the sidecar).
    """
    saved = (read_metadata(path).get("head") if path else None) or {}
    known = {field.name for field in fields(HeadArchitecture)}
    try:
        if set(saved) - known:
            raise ValueError(f"unknown settings {sorted(set(saved) - known)}")
        return HeadArchitecture(**saved)
    except (TypeError, ValueError) as error:
        raise errors.WeightsError(
            f"{metadata_path(path)}: head {saved} is not one this version builds ({error})"
        ) from error


def input_shape_for(path: str | os.PathLike | None) -> tuple[int, int, int]:
    """The input shape a weight file was trained at: its sidecar's ``image_size``, else its
    backbone's native size (224 for DenseNet-121)."""
    size = read_metadata(path).get("image_size") if path else None
    return (*(tuple(size) if size else backbones.get(backbone_for(path)).native_size), 3)


def resolve_weights(architecture: Architecture, weights: str | os.PathLike | None = None) -> Path:
    """The weight file to use.

    ``weights`` if given; else the registry's file for the model (``weights/``); else,
    when that is absent and ``make demo`` has run, the demo weights trained on
    synthetic data. Otherwise the registry's path, whose loading then explains
    where to get the file.
    """
    if weights is not None:
        return Path(weights)
    real = registry_path(DEFAULT_WEIGHTS[architecture])
    demo = config.weights_dir() / DEMO_FILES[architecture]
    return demo if not real.is_file() and demo.is_file() else real


def describe_weights(path: str | os.PathLike) -> str:
    """One line saying which weights are in use, for notebooks and the CLI."""
    spec = spec_for(path)
    note = read_metadata(path).get("description") if Path(path).is_file() else None
    origin = note or (
        f"registry '{spec.key}': {spec.source.split(':')[0]}" if spec else "user file"
    )
    return f"weights: {config.display_path(path)} ({origin})"


# Traced functions per model: tracing DenseNet-121 takes seconds, and a notebook runs one model
# on several row sets. Weakly keyed, so they go with their model.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled(model: keras.Model, key: Hashable, build: Callable[[], object]) -> object:
    """``build()`` once per (``model``, ``key``), then the same object while the model lives.

    The cache for every traced ``tf.function`` of the library (inference, feature extraction,
    Grad-CAM), so none is retraced. ``build`` must not capture ``model`` itself (use
    :func:`weakref.ref`), or the entry would keep its own key alive.
    """
    per_model = _COMPILED.setdefault(model, {})
    if key not in per_model:
        per_model[key] = build()
    return per_model[key]


def _compiled_forward(model: keras.Model):
    """One traced inference function per model, reused across calls (no retracing)."""
    import tensorflow as tf

    ref = weakref.ref(model)
    return compiled(
        model,
        "predict",
        lambda: tf.function(lambda x: ref()(x, training=False), reduce_retracing=True),
    )


def predict(model: keras.Model, batches) -> np.ndarray:
    """Outputs for a stream of preprocessed image batches (compiled graph-mode forward).

    Args:
        model: CheXNet, tCheXNet or a :func:`feature_extractor`.
        batches: an iterable of (n, h, w, 3) arrays, e.g. ``images.make_dataset``.

    Returns:
        (N, outputs) float32 array, rows in input order.
    """
    forward = _compiled_forward(model)
    outputs = [forward(batch).numpy() for batch in batches]
    width = model.output.shape[-1]
    return np.concatenate(outputs) if outputs else np.zeros((0, width), np.float32)
