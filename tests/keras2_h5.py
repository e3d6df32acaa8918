"""Write weight files in the exact HDF5 layout of Keras 2 ``save_weights``.

The public CheXNet-Keras ``best_weights.h5`` and the paper's tCheXNet checkpoint
were written by Keras 2.x. Installing Keras 2 here (``tf-keras``) would pull a
second TensorFlow, so the tests write that layout with h5py, as Keras 2's
``save_weights_to_hdf5_group`` did: root attributes ``layer_names``, ``backend``,
``keras_version``; one group per layer (weights or not) with a ``weight_names``
attribute; datasets named ``<layer>/<weight>:0`` (the ``/`` makes nested groups).
"""

from __future__ import annotations

import h5py
import numpy as np

#: Keras 2 (keras-applications) names for the layers Keras 3 renamed.
KERAS2_NAMES = {"conv1_conv": "conv1/conv", "conv1_bn": "conv1/bn", "conv1_relu": "conv1/relu"}
_WEIGHT_NAMES = {
    "Conv2D": ["kernel"],
    "Dense": ["kernel", "bias"],
    "BatchNormalization": ["gamma", "beta", "moving_mean", "moving_variance"],
}


def keras2_layer_name(layer, head_names: dict[str, str]) -> str:
    """The name Keras 2.2.4 gave this layer."""
    return head_names.get(layer.name, KERAS2_NAMES.get(layer.name, layer.name))


def write_keras2_weights(model, path, head_names=None, full_model=False, order=None) -> None:
    """Save ``model``'s weights as Keras 2 would.

    Args:
        model: a Keras 3 model whose layers mirror the Keras 2 original.
        path: the ``.h5`` file to write.
        head_names: Keras 3 name → Keras 2 name for auto-named layers (``dense_1``).
        full_model: write a ``model.save`` / ``ModelCheckpoint`` file (weights under
            ``model_weights`` plus a ``model_config`` attribute) instead.
        order: optional permutation of the layers, to write a file whose order differs.
    """
    head_names = head_names or {}
    layers = [model.layers[i] for i in order] if order is not None else list(model.layers)
    with h5py.File(path, "w") as handle:
        if full_model:
            handle.attrs["model_config"] = b'{"class_name": "Model", "config": {}}'
            handle.attrs["keras_version"] = b"2.2.4"
            handle.attrs["backend"] = b"tensorflow"
        root = handle.create_group("model_weights") if full_model else handle
        names = [keras2_layer_name(layer, head_names) for layer in layers]
        root.attrs["layer_names"] = np.array([n.encode("utf8") for n in names])
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.2.4"
        for layer, name in zip(layers, names):
            group = root.create_group(name)
            weight_names = [f"{name}/{w}:0" for w in _WEIGHT_NAMES.get(type(layer).__name__, [])][
                : len(layer.weights)
            ]
            group.attrs["weight_names"] = np.array([w.encode("utf8") for w in weight_names])
            for weight_name, value in zip(weight_names, layer.get_weights()):
                group.create_dataset(weight_name, data=value)
