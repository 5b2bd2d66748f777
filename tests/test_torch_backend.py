"""The PyTorch backend against Keras: shapes, parameter counts and outputs, number for number."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from golden_tables import notebook_specs  # noqa: E402
from helpers import glorot_bound  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from torch_strategies import (  # noqa: E402
    MODERN_SPECS,
    accepted_specs,
    assert_close,
    assert_equal_to_keras,
    graph_specs,
    keras_output,
    randomize,
    sample,
    torch_output,
)

from cnndsl import LAYERS, SpecError, check, compile_spec  # noqa: E402
from cnndsl.backends.torch import TABLE, parameter_counts, port_weights  # noqa: E402
from cnndsl.layers import example_text  # noqa: E402

pytestmark = pytest.mark.slow


def test_every_layer_code_has_a_pytorch_entry():
    assert set(LAYERS) <= set(TABLE)


def example_spec(entry) -> str:
    """A spec holding the entry's example (for 8x8x4 inputs); a merge's branches two identities (ATT's three)."""
    text = example_text(entry)
    if entry.is_input:
        return f"{text} -> FL()"
    if entry.merge:
        branches = " | ".join(["ID()"] * (3 if entry.code == "ATT" else 2))  # ATT: a query, a key and a value
        text = text.replace("(", f"({branches}" + (", " if entry.example else ""), 1)
    if entry.is_output:  # last only
        return f"GAP() -> {text}"
    return text if entry.ends_model else f"{text} -> FL()"


@pytest.mark.parametrize("code", sorted(LAYERS))
def test_every_entry_declares_its_pytorch_build_reading_ports_and_example(code):
    entry = LAYERS[code]
    declared = entry.torch
    built = declared.build is not None or entry.block is not None  # a block code builds as the codes it expands to
    assert built != (declared.refuse is not None), f"{code}: a PyTorch build, or why there is none"
    assert declared.reads or declared.read_by or declared.unread, f"{code}: what reads back as it, or why nothing"
    assert entry.example is not None, f"{code}: its minimal example arguments"
    assert set(entry.example) <= set(entry.param_names)
    model = check(example_spec(entry), (8, 8, 4), 3)
    for info in model.layers:
        kind = info.layer.type
        shape = [model.input_shape, *info.input_shapes] if kind.sees_input else info.input_shape
        names = {weight.name for weight in kind.weights(shape, info.layer.args)}
        assert all(name in (kind.torch.ports or {}) for name in names), (code, info.code)  # a head's are per level
    if declared.build is not None and not entry.ends_model:  # DETECT: tests/test_detect.py, in Ultralytics' layout
        assert_equal_to_keras(example_spec(entry), (8, 8, 4), 3)


@pytest.mark.parametrize("name", sorted(notebook_specs()))
def test_notebook_models_compute_what_keras_computes(name):
    assert_equal_to_keras(notebook_specs()[name], (28, 28, 1))


@pytest.mark.parametrize(
    "text",
    [
        "CN(8,3,strides=2,padding=same)->BN()->AP(3,strides=2,padding=same)->FL()->DN(12,activation=elu)",
        "CN(4,(2,3),strides=(2,1),padding=same)->MP((3,2),strides=2,padding=same)->AP(2,strides=1,padding=same)->FL()",
        "CN(6,3,dilation=2,padding=same,activation=linear)->ACT(softmax)->DN(5,activation=leaky_relu)->GAP()->DN(4,activation=gelu)",
        "DN(7,activation=log_softmax)->FL()->BN()->DP(0.5)",
        "CN(3,1,activation=exponential)->GMP()->ACT(selu)",
    ],
)
def test_padding_flatten_and_axes_match_keras(text):
    assert_equal_to_keras(text, (11, 9, 3))


def test_a_straight_stack_is_a_sequential_named_as_keras_names_its_layers():
    module = compile_spec("CN(8)->MP()->FL()", (12, 12, 1), backend="torch")
    assert isinstance(module, torch.nn.Sequential)
    assert [name for name, _ in module.named_children()] == ["conv2d", "max_pooling2d", "flatten", "dense"]


def test_initialisers_are_keras_glorot_uniform_and_zero_bias():
    torch.manual_seed(0)
    module = compile_spec("CN(64,5)->FL()->DN(300)", (8, 8, 32), backend="torch")
    conv, dense = module.conv2d[0], module.dense[0]
    limit = glorot_bound(5 * 5 * 32, 5 * 5 * 64)
    largest = float(conv.weight.detach().abs().max())
    assert 0.9 * limit < largest <= limit
    assert float(conv.bias.detach().abs().max()) == 0.0
    assert float(dense.bias.detach().abs().max()) == 0.0


def test_batch_norm_momentum_is_one_minus_keras_momentum():
    module = compile_spec("BN()->FL()", (4, 4, 2), backend="torch")
    assert module.batch_normalization.momentum == pytest.approx(0.01)
    assert module.batch_normalization.eps == pytest.approx(0.001)


def test_an_unknown_backend_is_refused_before_anything_is_built():
    with pytest.raises(ValueError, match="backend"):
        compile_spec("CN(8)", backend="mxnet")


def test_a_spec_with_errors_raises_before_torch_builds():
    with pytest.raises(SpecError):
        compile_spec("CN(8,99)", backend="torch")


@settings(max_examples=30)
@given(accepted_specs())
def test_random_specs_compute_what_keras_computes(case):
    text, input_shape, classes = case
    assert_equal_to_keras(text, input_shape, classes)


def test_every_activation_has_a_pytorch_module():
    from cnndsl.backends.torch import activation
    from cnndsl.layers import ACTIVATIONS

    for name in ACTIVATIONS:
        assert activation(name, 4) or name == "linear"


@pytest.mark.parametrize("name", __import__("cnndsl.layers", fromlist=["ACTIVATIONS"]).ACTIVATIONS)
def test_each_activation_computes_what_keras_computes(name):
    assert_equal_to_keras(f"CN(5,1,activation={name})->ACT({name})->GAP()->DN(6,activation={name})", (3, 4, 2))


@settings(max_examples=25)
@given(graph_specs())
def test_random_graphs_compute_what_keras_computes(case):
    assert_equal_to_keras(*case)


@pytest.mark.parametrize(
    "text",
    [
        "CN(4,3,padding=same)->ADD(CN(4,3,padding=same)->BN()->CN(4,3,padding=same) | ID())->GAP()",
        "CN(4,3)->MUL(ID() | GAP()->DN(2)->DN(4,activation=sigmoid))->FL()",
        "CN(4,3)->CAT(ID() | CN(4,1) | DW(3,padding=same), axis=1)->CAT(ID() | CN(2,1))->GAP()",
        "CN(1,1)->ADD(FL() | ID())->GAP()",
        "CN(3,3)->ZP(((1,2),(0,3)))->UP((2,1),interpolation=bilinear)->SC(5,3,strides=2,padding=same,depth_multiplier=3)->GMP(keepdims=true)->FL()",
    ],
)
def test_merges_broadcasting_and_the_new_codes_match_keras(text):
    assert_equal_to_keras(text, (7, 6, 2))


def test_a_resampling_pytorch_computes_otherwise_is_refused_at_its_layer():
    with pytest.raises(SpecError, match=r"UP\(interpolation=bicubic\): PyTorch has no bicubic resampling"):
        compile_spec("CN(4)->UP(interpolation=bicubic)->GAP()", (8, 8, 1), backend="torch")


def test_every_weight_the_layer_table_names_has_a_place_in_pytorch():
    from cnndsl.backends.torch import _PORTS

    model = check(
        "NRM()->CN(4,bias=false)->DW(padding=same)->SC(3,depth_multiplier=2)->BN(center=false)->LN()->LS()"
        "->CN(6,groups=3)->GAP()->DN(5)",
        (9, 9, 2),
    )
    for info in model.layers:
        names = {weight.name for weight in info.layer.type.weights(info.input_shape, info.layer.args)}
        assert names <= set(_PORTS.get(info.keras_class, {})), info.keras_class


@pytest.mark.parametrize(("text", "input_shape", "classes"), MODERN_SPECS)
def test_the_modern_codes_compute_what_keras_computes(text, input_shape, classes):
    assert_equal_to_keras(text, input_shape, classes)


def test_per_example_dropout_drops_whole_examples_in_training_only():
    module = compile_spec("DP(0.5, per_example=true) -> GAP()", (4, 4, 3), backend="torch")
    dropout, x = module.dropout, torch.ones(64, 3, 4, 4)
    torch.manual_seed(0)
    dropped = dropout.train()(x)
    kept = dropped.flatten(1)
    assert set(kept.min(1).values.tolist()) <= {0.0, 2.0} and (kept.min(1).values == kept.max(1).values).all()
    assert 10 < int((kept[:, 0] == 0).sum()) < 54
    assert torch.equal(dropout.eval()(x), x)


def test_an_adapted_normalization_keeps_mean_variance_and_count_as_saved_buffers():
    module = compile_spec("NRM() -> NRM(mean=1, variance=4) -> GAP()", (4, 4, 3), backend="torch")
    assert set(module.state_dict()) >= {"normalization.mean", "normalization.variance", "normalization.count"}
    assert not any(name.startswith("normalization_1") for name in module.state_dict())
    assert parameter_counts(module) == (40, 7)


def test_an_unknown_input_size_builds_where_padding_needs_no_size():
    module = compile_spec("IN(None, None, 3) -> CN(4, 3, padding=same) -> MP() -> DW(3, padding=same) -> GAP()",
                          backend="torch")  # fmt: skip
    assert module(torch.zeros(2, 3, 13, 7)).shape == (2, 10)
    with pytest.raises(SpecError, match=r"1:22.*strides 2 depends on the input's size.*input_shape"):
        compile_spec("IN(None, None, 3) -> CN(4, 3, strides=2, padding=same) -> GAP()", backend="torch")


def test_an_unknown_input_size_computes_what_keras_computes():
    text = (
        "IN(None, None, 3) -> CN(4, 3, padding=same) -> AP(3, strides=1, padding=same) -> CN(5, 3, strides=2) -> GAP()"
    )
    keras_model, torch_model = compile_spec(text), compile_spec(text, backend="torch")
    randomize(keras_model)
    port_weights(keras_model, torch_model)
    for size in ((9, 9), (12, 7)):
        x = sample((*size, 3))
        assert_close(keras_output(keras_model, x), torch_output(torch_model, x))


def test_grouped_and_depthwise_kernels_start_as_keras_glorot_uniform_bounds_them():
    torch.manual_seed(0)
    module = compile_spec("CN(64, 3, groups=8) -> DW(5) -> GAP()", (12, 12, 32), backend="torch")
    grouped, depthwise = module.conv2d[0], module.depthwise_conv2d[0]
    for conv, fan_in, fan_out in ((grouped, 9 * 4, 9 * 64), (depthwise, 25 * 64, 25 * 1)):
        limit = glorot_bound(fan_in, fan_out)
        assert 0.9 * limit < float(conv.weight.detach().abs().max()) <= limit
