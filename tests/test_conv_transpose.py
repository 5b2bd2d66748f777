"""CT, the transposed convolution: shapes and parameters against Keras, outputs against PyTorch, round trips."""

from __future__ import annotations

import pytest
from helpers import glorot_bound

from cnndsl import SpecError, check

keras = pytest.importorskip("keras")

pytestmark = pytest.mark.slow

CASES = [
    {"spec": "CT(8, 3)", "input": (7, 7, 2), "keras": dict(filters=8, kernel_size=3)},
    {"spec": "CT(8, 3, strides=2)", "input": (7, 5, 2), "keras": dict(filters=8, kernel_size=3, strides=2)},
    {"spec": "CT(4, 3, strides=2, padding=same)", "input": (7, 5, 3),
     "keras": dict(filters=4, kernel_size=3, strides=2, padding="same")},
    {"spec": "CT(4, 1, strides=3)", "input": (4, 4, 1), "keras": dict(filters=4, kernel_size=1, strides=3)},
    {"spec": "CT(4, 1, strides=3, padding=same)", "input": (4, 4, 1),
     "keras": dict(filters=4, kernel_size=1, strides=3, padding="same")},
    {"spec": "CT(5, (2, 4), strides=(2, 3), bias=false)", "input": (3, 6, 2),
     "keras": dict(filters=5, kernel_size=(2, 4), strides=(2, 3), use_bias=False)},
    {"spec": "CT(2, (5, 2), strides=(1, 2), padding=same, activation=linear)", "input": (6, 6, 4),
     "keras": dict(filters=2, kernel_size=(5, 2), strides=(1, 2), padding="same", activation="linear")},
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case["spec"] for case in CASES])
def test_shape_parameters_and_macs_are_keras_own(case):
    model = check(f"{case['spec']} -> GAP()", case["input"])
    layer = keras.layers.Conv2DTranspose(**case["keras"])
    keras.Sequential([keras.Input(case["input"]), layer])
    info = model.layers[0]
    assert info.output_shape == tuple(layer.output.shape)
    assert info.params == layer.count_params()
    assert [w.shape for w in info.layer.type.weights(info.input_shape, info.layer.args)] == [
        tuple(w.shape) for w in layer.weights
    ]
    height, width, channels = case["input"]
    assert info.macs == height * width * channels * layer.kernel_size[0] * layer.kernel_size[1] * layer.filters


def test_the_keras_backend_builds_conv2dtranspose_with_the_arguments_written():
    built = keras_model("CT(4, (3, 2), strides=2, padding=same, activation=tanh, bias=false) -> GAP()", (5, 5, 1))
    config = built.layers[0].get_config()
    assert type(built.layers[0]).__name__ == "Conv2DTranspose"
    assert (tuple(config["kernel_size"]), tuple(config["strides"])) == ((3, 2), (2, 2))
    assert (config["padding"], config["activation"], config["use_bias"]) == ("same", "tanh", False)


def keras_model(text, input_shape):
    from cnndsl import compile_spec

    keras.backend.clear_session()
    return compile_spec(text, input_shape)


def test_a_keras_model_with_conv2dtranspose_reads_back_as_ct():
    from cnndsl.backends.keras_reader import to_spec

    text = "CN(8, 3, padding=same) -> CT(4, 2, strides=2, activation=linear, bias=false) -> GAP()"
    read = to_spec(keras_model(text, (6, 6, 1)))
    assert "CT(4, kernel=2, strides=2, activation=linear, bias=false)" in str(read)
    assert check(str(read)).total_params == check(text, (6, 6, 1)).total_params


def test_what_the_notation_cannot_write_is_refused_by_name():
    from cnndsl.backends.keras_reader import to_spec
    from cnndsl.errors import UnsupportedModel

    for extra in ({"output_padding": 1, "strides": 2}, {"dilation_rate": 2}):
        keras.backend.clear_session()
        model = keras.Sequential(
            [keras.Input((6, 6, 1)), keras.layers.Conv2DTranspose(2, 3, **extra), keras.layers.GlobalAveragePooling2D(),
             keras.layers.Dense(10, activation="softmax")]
        )  # fmt: skip
        with pytest.raises(UnsupportedModel, match="has no notation"):
            to_spec(model)


def test_a_ct_on_a_flat_tensor_is_a_located_error():
    with pytest.raises(SpecError) as error:
        check("FL() -> CT(4, 3)")
    assert error.value.diagnostics[0].span.column == 9


# --- PyTorch ------------------------------------------------------------------------------

PARITY = [
    ("CT(4, 3, strides=2, padding=same) -> GAP()", (5, 6, 2)),
    ("CT(4, (3, 2), strides=(2, 3), padding=same, activation=linear) -> CT(3, (1, 4), strides=(3, 2)) -> FL()", (5, 4, 2)),
    ("CT(4, 4, strides=2, padding=same, bias=false) -> CT(2, 5, strides=2, padding=same) -> CT(2, 2, strides=3, padding=same) -> FL()", (3, 3, 1)),
    ("CT(3, 3) -> CT(2, 1, strides=2, padding=same) -> FL()", (4, 4, 3)),
    ("CN(4, 3, padding=same) as a -> MP(2) -> CT(4, 2, strides=2) -> CAT(ID() | @a) -> CN(3, 1) -> GAP()", (6, 6, 1)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "input_shape"), PARITY)
def test_pytorch_computes_what_keras_computes(text, input_shape):
    pytest.importorskip("torch")
    from torch_strategies import assert_close, keras_output, randomize, sample, torch_output

    from cnndsl import compile_spec
    from cnndsl.backends.torch import parameter_counts, port_weights

    model = check(text, input_shape)
    keras_built = keras_model(text, input_shape)
    torch_built = compile_spec(text, input_shape, backend="torch")
    assert parameter_counts(torch_built) == (model.trainable_params, model.non_trainable_params)
    randomize(keras_built)
    port_weights(keras_built, torch_built)
    x = sample(input_shape)
    assert_close(keras_output(keras_built, x), torch_output(torch_built, x))


def test_pytorch_starts_ct_as_keras_glorot_uniform_bounds_it():
    torch = pytest.importorskip("torch")
    from cnndsl import compile_spec

    torch.manual_seed(0)
    module = compile_spec("CT(64, 3, strides=2) -> GAP()", (8, 8, 32), backend="torch")
    conv = module.conv2d_transpose[0]
    limit = glorot_bound(9 * 32, 9 * 64)
    assert 0.9 * limit < float(conv.weight.detach().abs().max()) <= limit
    assert float(conv.bias.detach().abs().max()) == 0.0


@pytest.mark.parametrize("to", ["keras", "torch"])
def test_emitted_source_builds_ct(to):
    from cnndsl.emit import emit

    source = emit(check("CT(4, 3, strides=2, padding=same) -> GAP()", (5, 5, 1)), to).decode()
    assert ("Conv2DTranspose" if to == "keras" else "ConvTranspose2d") in source
    compile(source, "<emitted>", "exec")


UNET = (
    "CN(4, 3, padding=same) as e -> MP(2) -> CN(8, 3, padding=same) -> CT(4, 3, strides=2, padding=same) "
    "-> CAT(ID() | @e) -> CN(3, 1)"
)


def test_the_emitted_pytorch_source_and_onnx_file_of_a_u_net_compute_what_keras_computes():
    pytest.importorskip("torch")
    onnxruntime = pytest.importorskip("onnxruntime")
    from torch_strategies import assert_close, keras_output, randomize, run_source, sample, torch_output

    from cnndsl import compile_spec
    from cnndsl.backends.onnx import export
    from cnndsl.backends.torch import build, port_weights
    from cnndsl.emit import emit

    model = check(UNET, (6, 6, 2), 3, task="segment")
    keras.backend.clear_session()
    keras_built = compile_spec(UNET, (6, 6, 2), 3, task="segment")
    randomize(keras_built)
    x = sample((6, 6, 2))
    expected = keras_output(keras_built, x)
    emitted = run_source(emit(model, "torch").decode())["model"]
    port_weights(keras_built, emitted)
    assert_close(expected, torch_output(emitted, x))
    module = build(model)
    port_weights(keras_built, module)
    (out,) = onnxruntime.InferenceSession(export(module, model)).run(None, {"input": x.transpose(0, 3, 1, 2).copy()})
    assert_close(expected, out.transpose(0, 2, 3, 1))  # PyTorch's and ONNX's layout is channels-first
