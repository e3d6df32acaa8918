"""The backbones a study can transfer from, as one table: everything that depends on the network.

A :class:`Backbone` says how to build the convolutional base (pooled to a feature vector),
how its inputs are normalised, which layer gives the features and how wide they are, which
layer Grad-CAM reads, which layers a fine-tune unfreezes and the input size it was made for.
:mod:`~tchexnet_lib.models`, :mod:`~tchexnet_lib.images`, :mod:`~tchexnet_lib.features`,
:mod:`~tchexnet_lib.training` and :mod:`~tchexnet_lib.gradcam` read it from here; nothing else
names a DenseNet layer.

``densenet121`` is CheXNet's (the paper's). ``mobilenet_v2`` is a small second entry (2.3 M
parameters at width 1.0; 0.35 here) that shows the code is not tied to DenseNet: the tests
run the whole study on it at 64 px with random weights. No CheXNet weights exist for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tchexnet_lib import errors

if TYPE_CHECKING:
    import keras

__all__ = [
    "BACKBONES",
    "Backbone",
    "DEFAULT",
    "NORMALISATIONS",
    "check_normalisation",
    "get",
    "names",
    "of_model",
]

#: How a backbone wants its [0, 255] RGB inputs scaled (``keras.applications.imagenet_utils``
#: modes): ``"torch"``: /255, minus ImageNet mean, over its std; ``"tf"``: to [-1, 1].
NORMALISATIONS: tuple[str, ...] = ("torch", "tf")


@dataclass(frozen=True)
class Backbone:
    """One network a study can use as its (frozen) feature extractor.

    Attributes:
        name: the key in :data:`BACKBONES` (recorded in weight sidecars and ``study.json``).
        build: ``build(input_shape, imagenet)`` → a Keras model from images to pooled
            features whose last layer is ``feature_layer``.
        normalisation: one of :data:`NORMALISATIONS`.
        feature_layer: the pooled-feature layer (the head's input).
        feature_width: its width (1024 for DenseNet-121).
        gradcam_layer: the feature maps Grad-CAM reads by default (the last convolutional
            block's activations, as in Selvaraju et al.).
        fine_tune_prefix: layers whose names start with this are unfrozen by a fine-tune.
        native_size: the (height, width) the network was designed and pretrained at.
        min_side: the smallest input side it accepts.
    """

    name: str
    build: Callable[[tuple[int, int, int], bool], keras.Model]
    normalisation: str
    feature_layer: str
    feature_width: int
    gradcam_layer: str
    fine_tune_prefix: str
    native_size: tuple[int, int] = (224, 224)
    min_side: int = 32

    def __post_init__(self) -> None:
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(
                f"backbone {self.name!r}: normalisation must be one of "
                f"{NORMALISATIONS}, got {self.normalisation!r}"
            )

    def check_input_shape(self, input_shape: tuple[int | None, int | None, int]) -> None:
        """Raise ValueError unless ``input_shape`` is (height, width, 3) and big enough."""
        if len(input_shape) != 3 or input_shape[2] != 3:
            raise ValueError(
                f"input_shape must be (height, width, 3), got {input_shape}: "
                "grayscale X-rays are replicated to 3 channels by images.load_image"
            )
        if any(side is not None and side < self.min_side for side in input_shape[:2]):
            raise ValueError(
                f"input_shape {input_shape}: {self.name} needs at least "
                f"{self.min_side}×{self.min_side} inputs"
            )


def _densenet121(input_shape: tuple[int, int, int], imagenet: bool) -> keras.Model:
    keras = errors.import_keras()

    return keras.applications.DenseNet121(
        include_top=False,
        pooling="avg",
        weights="imagenet" if imagenet else None,
        input_shape=input_shape,
    )


def _mobilenet_v2(input_shape: tuple[int, int, int], imagenet: bool) -> keras.Model:
    keras = errors.import_keras()

    base = keras.applications.MobileNetV2(
        include_top=False,
        alpha=0.35,
        input_shape=input_shape,
        weights="imagenet" if imagenet else None,
    )
    # Its own pooling="avg" layer gets an automatic name; the table needs a fixed one.
    pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(base.output)
    return keras.Model(base.input, pooled, name="mobilenet_v2")


#: Every backbone, by name.
BACKBONES: dict[str, Backbone] = {
    backbone.name: backbone
    for backbone in (
        Backbone(
            "densenet121",
            _densenet121,
            normalisation="torch",
            feature_layer="avg_pool",
            feature_width=1024,
            gradcam_layer="relu",
            fine_tune_prefix="conv5_",
        ),
        Backbone(
            "mobilenet_v2",
            _mobilenet_v2,
            normalisation="tf",
            feature_layer="avg_pool",
            feature_width=1280,
            gradcam_layer="out_relu",
            fine_tune_prefix="block_16_",
        ),
    )
}
#: CheXNet's backbone, the paper's.
DEFAULT = "densenet121"


def names() -> tuple[str, ...]:
    """The backbones' names, default first."""
    return (DEFAULT, *sorted(set(BACKBONES) - {DEFAULT}))


def get(name: str | None = None) -> Backbone:
    """The backbone called ``name`` (None: :data:`DEFAULT`); ValueError listing the known ones."""
    try:
        return BACKBONES[name or DEFAULT]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}: use one of {names()}") from None


def of_model(model: keras.Model) -> Backbone:
    """The backbone a CheXNet, tCheXNet or feature extractor was built on.

    Recognised by its layers: the backbone's feature and Grad-CAM layers are present and
    the feature layer is as wide as the table says.

    Raises:
        ValueError: no backbone in the table matches (naming the model).
    """
    layer_names = {layer.name for layer in model.layers}
    for backbone in BACKBONES.values():
        if {backbone.feature_layer, backbone.gradcam_layer} <= layer_names:
            width = model.get_layer(backbone.feature_layer).output.shape[-1]
            if width == backbone.feature_width:
                return backbone
    raise ValueError(
        f"model {model.name!r} is built on none of the backbones {names()} "
        "(no layer pair and feature width of theirs matches)"
    )


def check_normalisation(model: keras.Model, normalisation: str) -> None:
    """Raise ValueError unless inputs scaled by ``normalisation`` are what ``model`` expects.

    A MobileNetV2 fed DenseNet-scaled images (or the reverse) would run and give features
    of nothing; this stops it before any image is read.
    """
    expected = of_model(model).normalisation
    if normalisation != expected:
        raise ValueError(
            f"preprocessing normalisation {normalisation!r} does not fit the model's "
            f"backbone {of_model(model).name} ({expected!r}): use "
            f"PreprocessConfig(normalisation={expected!r})"
        )
