"""Augmentation codes: shapes against Keras, the identity in inference, what training does (Keras and PyTorch)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch_strategies import assert_close, keras_output, randomize, sample, torch_output  # noqa: E402

from cnndsl import SpecError, check, compile_spec  # noqa: E402
from cnndsl.backends.torch import port_weights  # noqa: E402
from cnndsl.errors import UnsupportedModel  # noqa: E402

pytestmark = pytest.mark.slow

SHAPE_CASES = [
    ("FLIP()", (9, 12, 3)),
    ("FLIP(vertical)", (9, 12, 1)),
    ("ROT(0.2)", (9, 12, 3)),
    ("ROT(0.5, fill=constant, interpolation=nearest)", (16, 16, 2)),
    ("TRN(0.1, 0.3)", (9, 12, 3)),
    ("TRN(0, 0.5, fill=wrap)", (7, 5, 1)),
    ("ZOOM(0.2)", (9, 12, 3)),
    ("ZOOM(0.1, width=0.4, fill=nearest)", (9, 12, 3)),
    ("RCR(5, 7)", (9, 12, 3)),
    ("RCR(9, 12)", (9, 12, 1)),
    ("RCR(1, 1)", (4, 6, 3)),
    ("CON(0.4)", (9, 12, 3)),
    ("CON(0)", (5, 5, 1)),
]
IDENTITY = ["FLIP()", "FLIP(horizontal)", "ROT(0.3)", "TRN(0.2, 0.2)", "ZOOM(0.3)", "ZOOM(0.2, width=0.1)", "CON(0.5)"]


@pytest.fixture(scope="module")
def keras():
    import keras

    keras.utils.set_random_seed(0)
    return keras


def images(shape, n=6, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape)).astype("float32")


@pytest.mark.parametrize(("code", "shape"), SHAPE_CASES)
def test_every_code_has_keras_shapes_in_training_and_inference(keras, code, shape):
    checked = check(f"IN{shape} -> {code} -> FL()")
    layer = compile_spec(f"IN{shape} -> {code} -> FL()").layers[0]
    assert layer.__class__.__name__ == checked.layers[0].keras_class
    expected = checked.layers[0].output_shape
    assert tuple(layer.compute_output_shape((None, *shape))) == expected
    assert tuple(layer.output.shape) == expected
    x = images(shape)
    for training in (False, True):
        assert tuple(np.asarray(layer(x, training=training)).shape) == (len(x), *expected[1:])
    assert checked.layers[0].params == 0 and layer.count_params() == 0


def test_the_crop_reads_keras_own_random_crop_and_keeps_keras_shape_rule(keras):
    from cnndsl import to_spec

    layers = [keras.layers.RandomCrop(6, 8), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")]
    model = keras.Sequential([keras.Input((10, 12, 3)), *layers])
    # Keras's RandomCrop returns its input uncropped in inference, so this model does not run there (its Dense gets
    # 360 features, not 144): its reading cannot be verified, and is read unverified
    with pytest.raises(UnsupportedModel, match=r"^the model does not run in inference on an input of \(1, 10, 12, 3\)"):
        to_spec(model)
    assert to_spec(model, verify=False).text == "IN(10, 12, 3) -> RCR(6, 8) -> FL() -> DN(3, activation=softmax)"
    assert check("IN(10, 12, 3) -> RCR(6, 8) -> FL()").layers[0].output_shape == model.layers[0].output.shape


def test_a_window_larger_than_the_input_is_a_located_shape_error():
    with pytest.raises(SpecError, match=r"RCR\(12, 5\) takes a 12x5 window, but the input is only 9x12") as error:
        check("IN(9, 12, 3) -> RCR(12, 5) -> FL()")
    assert (error.value.line, error.value.column) == (1, 17)


@pytest.mark.parametrize("code", IDENTITY)
def test_inference_is_the_identity_in_keras_and_in_pytorch(keras, code):
    spec = f"IN(9, 12, 3) -> {code} -> FL()"
    x = images((9, 12, 3))
    layer = compile_spec(spec).layers[0]
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    module = compile_spec(spec, backend="torch")[0].eval()
    nchw = torch.from_numpy(x).permute(0, 3, 1, 2)
    assert torch.equal(module(nchw), nchw)


def test_the_crop_is_the_central_window_in_inference_in_keras_and_in_pytorch(keras):
    x = images((9, 12, 3))
    layer = compile_spec("IN(9, 12, 3) -> RCR(5, 7) -> FL()").layers[0]
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x[:, 2:7, 2:9])
    module = compile_spec("IN(9, 12, 3) -> RCR(5, 7) -> FL()", backend="torch")[0].eval()
    out = module(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(out, x[:, 2:7, 2:9])


def test_a_trained_model_with_augmentation_computes_in_pytorch_what_it_computes_in_keras(keras):
    spec = (
        "IN(12, 12, 3) -> FLIP() -> ROT(0.1) -> TRN(0.1, 0.1) -> ZOOM(0.1) -> CON(0.2) -> RCR(10, 10) -> CN(4) -> FL()"
    )
    keras_model = compile_spec(spec)
    torch_model = compile_spec(spec, backend="torch")
    randomize(keras_model)
    port_weights(keras_model, torch_model)
    x = sample((12, 12, 3))
    assert_close(keras_output(keras_model, x), torch_output(torch_model, x))


# --- what training does ------------------------------------------------------------------


def _keras_train(code: str, x: np.ndarray) -> np.ndarray:
    layer = compile_spec(f"IN{x.shape[1:]} -> {code} -> FL()").layers[0]
    return np.asarray(layer(x, training=True))


def _torch_train(code: str, x: np.ndarray) -> np.ndarray:
    module = compile_spec(f"IN{x.shape[1:]} -> {code} -> FL()", backend="torch")[0].train()
    return module(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("train", [_keras_train, _torch_train], ids=["keras", "torch"])
def test_training_flips_some_images_and_leaves_the_others(keras, train):
    torch.manual_seed(0)
    x = images((5, 6, 1), n=64)
    out = train("FLIP(horizontal)", x)
    flipped = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert (flipped | kept).all() and 10 < flipped.sum() < 54


@pytest.mark.parametrize("train", [_keras_train, _torch_train], ids=["keras", "torch"])
def test_training_stretches_contrast_by_a_factor_from_1_to_1_plus_factor(keras, train):
    torch.manual_seed(0)
    x = images((6, 6, 1), n=200) * 100
    out = train("CON(0.5)", x)
    mean = x.mean(axis=(1, 2), keepdims=True)
    factor = ((out - mean) / (x - mean)).reshape(len(x), -1).mean(axis=1)
    assert factor.min() >= 1 - 1e-3 and factor.max() <= 1.5 + 1e-3 and factor.std() > 0.1


@pytest.mark.parametrize("train", [_keras_train, _torch_train], ids=["keras", "torch"])
def test_training_crops_windows_at_random_places(keras, train):
    torch.manual_seed(0)
    x = np.arange(10 * 12, dtype="float32").reshape(1, 10, 12, 1)
    corners = {tuple(np.argwhere(x[0, ..., 0] == train("RCR(4, 5)", x)[0, 0, 0, 0])[0]) for _ in range(30)}
    assert len(corners) > 5 and all(0 <= r <= 6 and 0 <= c <= 7 for r, c in corners)


@pytest.mark.parametrize("code", ["ROT(0.25)", "TRN(0.3, 0.3)", "ZOOM(0.5)"])
@pytest.mark.parametrize("train", [_keras_train, _torch_train], ids=["keras", "torch"])
def test_training_moves_pixels_and_keeps_them_in_range(keras, train, code):
    torch.manual_seed(0)
    x = images((16, 16, 1), n=8)
    out = train(code, x)
    assert out.shape == x.shape and np.isfinite(out).all()
    assert np.abs(out - x).mean() > 0.05 and out.min() >= -1e-5 and out.max() <= 1 + 1e-5


def test_pytorch_refuses_a_wrap_fill_at_that_layer():
    with pytest.raises(SpecError, match=r"ROT\(0.1, fill=wrap\): PyTorch's grid_sample has no wrap fill") as error:
        compile_spec("IN(8, 8, 1) -> FLIP() -> ROT(0.1, fill=wrap) -> FL()", backend="torch")
    assert (error.value.line, error.value.column) == (1, 26)


def test_augmentation_is_drawn_in_its_own_colour_and_reads_back_from_keras(keras):
    from cnndsl import to_spec
    from cnndsl.backends.svg import COLOURS, draw_spec

    spec = "IN(16, 16, 3) -> FLIP(horizontal) -> ROT(0.1, fill=nearest) -> TRN(0.1, 0.2) -> ZOOM(0.2, width=0.1) -> RCR(12, 12) -> CON(0.3) -> FL()"  # noqa: E501
    svg = draw_spec(spec)
    assert COLOURS["augmentation"] in svg and "RCR(12, 12)" in svg
    assert to_spec(compile_spec(spec)).text == spec + " -> DN(10, activation=softmax)"
