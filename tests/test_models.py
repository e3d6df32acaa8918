"""CheXNet / tCheXNet architecture and weight files (Keras 2 originals and Keras 3)."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from tchexnet_lib import backbones, errors, files, labels, models
from tests.conftest import KERAS2_HEAD
from tests.keras2_h5 import write_keras2_weights

SHAPE = (64, 64, 3)  # weights do not depend on the input size; small inputs keep tests fast


def randomise_batchnorm(model: keras.Model, seed: int) -> None:
    """Give every BatchNorm non-trivial statistics, so a layer left unloaded shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.8, 1.2, n),
                    rng.normal(0, 0.1, n),
                    rng.normal(0, 0.1, n),
                    rng.uniform(0.8, 1.2, n),
                ]
            )


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return np.random.default_rng(0).uniform(-2.1, 2.6, (4, *SHAPE)).astype("float32")


@pytest.fixture(scope="module")
def source_chexnet() -> keras.Model:
    keras.utils.set_random_seed(1)
    model = models.build_chexnet(input_shape=SHAPE)
    randomise_batchnorm(model, 1)
    return model


@pytest.fixture(scope="module")
def source_tchexnet(inputs) -> keras.Model:
    keras.utils.set_random_seed(2)
    model = models.attach_tchexnet_head(models.build_chexnet(input_shape=SHAPE))
    randomise_batchnorm(model, 2)
    # Centre and spread the logits on the test inputs, so a wrong load shows in the outputs.
    hidden = keras.Model(model.input, model.get_layer(models.TCHEXNET_HIDDEN).output)
    kernel = np.random.default_rng(2).normal(size=(models.HIDDEN_UNITS, 1)).astype("float32")
    logits = hidden.predict(inputs, verbose=0) @ kernel
    kernel /= logits.std() + 1e-12
    model.get_layer(models.TCHEXNET_OUTPUT).set_weights(
        [kernel, -(logits.mean(0) / (logits.std() + 1e-12))]
    )
    return model


@pytest.fixture(scope="module")
def chexnet_keras2_file(tmp_path_factory, source_chexnet) -> str:
    path = tmp_path_factory.mktemp("w") / "best_weights.h5"
    write_keras2_weights(source_chexnet, path)
    return str(path)


def assert_golden(model: keras.Model, source: keras.Model, inputs: np.ndarray) -> None:
    expected = source.predict(inputs, verbose=0)
    assert expected.std() > 1e-3, "the golden outputs must vary, or the test could not fail"
    np.testing.assert_allclose(model.predict(inputs, verbose=0), expected, atol=1e-5, rtol=0)


def test_parameter_counts_match_the_paper():
    assert models.build_chexnet().count_params() == 7_051_854
    tchexnet = models.build_tchexnet()
    assert tchexnet.count_params() == 7_562_817
    kinds = [type(layer).__name__ for layer in tchexnet.layers]
    assert kinds.count("Conv2D") == 120 and kinds.count("Dense") == 2  # "122 layers"
    assert all(not layer.trainable for layer in tchexnet.layers[:-2])
    assert tchexnet.layers[-1].trainable and tchexnet.output.shape[-1] == 1


def test_one_head_builder_for_every_backbone_and_its_architecture_read_back(tmp_path):
    head = models.HeadArchitecture(hidden=8, dropout=0.5)
    other = models.build_chexnet(input_shape=SHAPE, backbone="mobilenet_v2")
    tchexnet = models.attach_tchexnet_head(other, head=head)
    alone = models.build_head(backbones.get("mobilenet_v2").feature_width, head)
    names = [models.TCHEXNET_HIDDEN, models.TCHEXNET_DROPOUT, models.TCHEXNET_OUTPUT]
    assert models.head_layer_names(tchexnet) == names == [layer.name for layer in alone.layers[1:]]
    assert [layer.name for layer in tchexnet.layers if layer.trainable] == names
    assert models.head_architecture(tchexnet) == models.head_architecture(alone) == head
    assert models.head_for(None) == models.HeadArchitecture()  # the paper's: 512, no dropout
    path = tmp_path / "t.weights.h5"
    files.save_json({"head": {"hidden": 8, "layers": 2}}, models.metadata_path(path))
    with pytest.raises(errors.WeightsError, match=r"t.weights.h5.json: head .*\['layers'\]"):
        models.head_for(path)
    with pytest.raises(ValueError, match="dropout=1"):
        models.HeadArchitecture(dropout=1)


def test_models_are_flat_with_keras_layer_names():
    model = models.build_chexnet(input_shape=SHAPE)
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    assert model.layers[-1].name == "predictions" and model.output.shape[-1] == 14
    assert models.output_names(model) == labels.CHEXNET_CLASSES
    assert models.feature_extractor(model).output.shape[-1] == backbones.get().feature_width == 1024


def test_bad_input_shape_says_how_to_fix():
    with pytest.raises(ValueError, match="3 channels"):
        models.build_chexnet(input_shape=(224, 224, 1))
    with pytest.raises(ValueError, match="at least 32"):
        models.build_chexnet(input_shape=(16, 16, 3))


def test_keras2_chexnet_file_reproduces_outputs(chexnet_keras2_file, source_chexnet, inputs):
    with h5py.File(chexnet_keras2_file) as handle:  # the genuine Keras 2 names are in the file
        assert "conv1/conv" in handle and handle.attrs["keras_version"] == "2.2.4"
    model = models.build_chexnet(chexnet_keras2_file, input_shape=SHAPE)
    assert_golden(model, source_chexnet, inputs)


def test_fault_04_by_name_load_fails_the_golden_test(chexnet_keras2_file, source_chexnet, inputs):
    """Proves the golden test can fail: by name, Keras 3 skips conv1/conv and conv1/bn."""
    model = models.build_chexnet(input_shape=SHAPE)
    model.load_weights(chexnet_keras2_file, by_name=True)
    with pytest.raises(AssertionError):
        assert_golden(model, source_chexnet, inputs)


def test_paper_tchexnet_checkpoint_loads(tmp_path, source_tchexnet, inputs):
    """The original ModelCheckpoint wrote whole models (weights under model_weights)."""
    path = tmp_path / "94482_23620_tchexnet_001_0.54064.h5"
    write_keras2_weights(source_tchexnet, path, head_names=KERAS2_HEAD, full_model=True)
    assert_golden(models.build_tchexnet(path, input_shape=SHAPE), source_tchexnet, inputs)


def test_tchexnet_base_from_chexnet_file(chexnet_keras2_file, source_chexnet, inputs):
    model = models.build_tchexnet(chexnet_weights=chexnet_keras2_file, input_shape=SHAPE)
    features = models.feature_extractor(model).predict(inputs, verbose=0)
    expected = models.feature_extractor(source_chexnet).predict(inputs, verbose=0)
    np.testing.assert_allclose(features, expected, atol=1e-5)


def test_keras3_weights_and_keras_archive_round_trip(tmp_path, source_tchexnet, inputs):
    weights = models.save_weights_atomic(source_tchexnet, tmp_path / "t.weights.h5")
    assert_golden(models.build_tchexnet(weights, input_shape=SHAPE), source_tchexnet, inputs)
    archive = tmp_path / "t.keras"
    source_tchexnet.save(archive)
    assert_golden(models.build_tchexnet(archive, input_shape=SHAPE), source_tchexnet, inputs)
    assert_golden(models.load_model_file(archive), source_tchexnet, inputs)
    assert not list(tmp_path.glob(".tmp-*"))


# --- bad weight files: each is one WeightsError naming the file and the cause ---------------


def test_fault_01_missing_weights_say_where_to_get_and_put_them(tmp_path):
    path = tmp_path / "best_weights.h5"
    with pytest.raises(errors.WeightsError, match="not found.*CheXNet-Keras.*put it at"):
        models.build_chexnet(path, input_shape=SHAPE)


@pytest.mark.parametrize(
    "content, message", [(b"", "empty"), (b"<html>404 Not Found</html>", "not an HDF5 file")]
)
def test_fault_01_empty_or_non_hdf5_weights(tmp_path, content, message):
    path = tmp_path / "w.h5"
    path.write_bytes(content)
    with pytest.raises(errors.WeightsError, match=message) as error:
        models.build_chexnet(path, input_shape=SHAPE)
    assert str(path) in str(error.value)


def test_fault_01_truncated_weights(tmp_path, chexnet_keras2_file):
    data = open(chexnet_keras2_file, "rb").read()
    path = tmp_path / "best_weights.h5"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(errors.WeightsError, match="truncated or corrupt"):
        models.build_chexnet(path, input_shape=SHAPE)


def test_fault_01_sha256_mismatch(chexnet_keras2_file):
    with pytest.raises(errors.WeightsError, match="sha256 .* differs from the expected 00ff"):
        models.load_weights(models.build_chexnet(input_shape=SHAPE), chexnet_keras2_file, "00ff")
    digest = files.sha256_file(chexnet_keras2_file)
    models.load_weights(models.build_chexnet(input_shape=SHAPE), chexnet_keras2_file, digest)


def test_fault_02_keras2_file_named_like_keras3(tmp_path, chexnet_keras2_file):
    path = tmp_path / "best.weights.h5"
    path.write_bytes(open(chexnet_keras2_file, "rb").read())
    with pytest.raises(errors.WeightsError, match="Keras 2 save_weights file named"):
        models.build_chexnet(path, input_shape=SHAPE)


def test_fault_02_keras2_weights_given_to_load_model(chexnet_keras2_file):
    with pytest.raises(errors.WeightsError, match="not a .keras model file"):
        models.load_model_file(chexnet_keras2_file)


def test_fault_03_wrong_head_width(tmp_path):
    other = models.build_chexnet(input_shape=SHAPE)
    x = keras.layers.Dense(256, activation="relu")(other.get_layer("avg_pool").output)
    wide = keras.Model(other.input, keras.layers.Dense(1, activation="sigmoid")(x))
    path = tmp_path / "t.h5"
    write_keras2_weights(wide, path)
    with pytest.raises(errors.WeightsError, match=r"#241 .*\(1024, 256\).*\(1024, 512\)"):
        models.build_tchexnet(path, input_shape=SHAPE)


def test_fault_03_missing_layers_are_named(chexnet_keras2_file):
    with pytest.raises(errors.WeightsError, match="'predictions'.*'tchexnet_dense_512'"):
        models.build_tchexnet(chexnet_keras2_file, input_shape=SHAPE)


def test_fault_03_extra_layers(tmp_path, source_chexnet):
    extra = keras.layers.Dense(1, name="extra_dense")(source_chexnet.output)
    path = tmp_path / "c.h5"
    write_keras2_weights(keras.Model(source_chexnet.input, extra), path)
    with pytest.raises(errors.WeightsError, match="243 layers .* model 242 .*extra.*'extra_dense'"):
        models.build_chexnet(path, input_shape=SHAPE)


def test_fault_05_layer_order_differs_names_first_layer(tmp_path, source_chexnet):
    order = list(range(len(source_chexnet.layers)))
    i, j = (
        order.index(source_chexnet.layers.index(source_chexnet.get_layer(n)))
        for n in ("conv2_block1_1_bn", "conv2_block1_2_conv")
    )
    order[i], order[j] = order[j], order[i]
    path = tmp_path / "w.h5"
    write_keras2_weights(source_chexnet, path, order=order)
    with pytest.raises(
        errors.WeightsError, match="#4 is 'conv2_block1_2_conv'.*'conv2_block1_1_bn'"
    ):
        models.build_chexnet(path, input_shape=SHAPE)


def test_fault_03_nested_base(tmp_path, source_chexnet):
    base = models.build_base(SHAPE)
    nested = keras.Model(base.input, keras.layers.Dense(14, name="predictions")(base.output))
    outer_input = keras.Input(SHAPE)
    outer = keras.Model(outer_input, nested(outer_input))
    path = tmp_path / "nested.h5"
    with h5py.File(path, "w") as handle:  # Keras 2 stored a nested model as one layer group
        handle.attrs["layer_names"] = np.array([b"input_1", b"model_1"])
        handle.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        group = handle.create_group("model_1")
        names = [f"w{k}:0" for k in range(len(outer.weights))]
        group.attrs["weight_names"] = np.array([n.encode() for n in names])
        for name, value in zip(names, outer.get_weights()):
            group.create_dataset(name, data=value)
    with pytest.raises(errors.WeightsError, match="nested model"):
        models.build_chexnet(path, input_shape=SHAPE)


def test_fault_03_keras3_file_missing_a_layer(tmp_path):
    path = models.save_weights_atomic(
        models.build_chexnet(input_shape=SHAPE), tmp_path / "c.weights.h5"
    )
    with pytest.raises(errors.WeightsError, match="'tchexnet_dense_512' is missing"):
        models.build_tchexnet(path, input_shape=SHAPE)


def test_compiled_functions_are_reused_and_go_with_their_model():
    import gc
    import weakref

    model = models.build_chexnet(input_shape=(32, 32, 3))
    batch = np.zeros((2, 32, 32, 3), np.float32)
    first = models.predict(model, [batch])
    assert models._compiled_forward(model) is models._compiled_forward(model)
    np.testing.assert_array_equal(models.predict(model, [batch]), first)
    assert model in models._COMPILED
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None  # the cache held no strong reference to its key
