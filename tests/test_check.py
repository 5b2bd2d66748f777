"""Shape and parameter inference: the notebook's golden tables and table-driven cases."""

from __future__ import annotations

import pytest
from golden_tables import notebook_specs, notebook_table

from cnndsl import SpecError, SpecShapeError, SpecValueError, check

NOTEBOOK = notebook_specs()


@pytest.mark.parametrize("name", sorted(NOTEBOOK))
def test_notebook_models_match_the_notebook_summaries(name):
    model = check(NOTEBOOK[name])
    table = notebook_table(name)
    assert [info.keras_class for info in model.layers] == table.classes
    assert [info.output_shape for info in model.layers] == table.shapes
    assert [info.params for info in model.layers] == table.params
    assert (model.total_params, model.trainable_params, model.non_trainable_params) == (
        table.total,
        table.trainable,
        table.non_trainable,
    )


def test_model2_as_its_title_writes_it():
    spec = "CN(20,(5,5))->BN()->CN(20)->BN()->CN(40)->BN()->CN(10)->BN()->CN(10)->MP(2,2)->DP(0.25)->FL()->DN(128)"
    model = check(spec)
    assert (model.total_params, model.trainable_params, model.non_trainable_params) == (65_358, 65_178, 180)
    assert model.layers[-1].layer.head and model.layers[-1].layer.args == {
        "units": 10,
        "activation": "softmax",
        "bias": True,
    }


MODEL3_TITLE = (
    "CN(30,(5,5))->BN()->CN(30)->BN()->CN(50)->BN()->CN(50)->BN()->CN(100)->BN()->CN(100)"
    "->MP(2,2)->BN()->CN(150)->MP(2,2)->DP(0.25)->FL()->DN(120)"
)


def test_model3_title_fails_at_cn150_needing_5x5_and_getting_2x2():
    with pytest.raises(SpecShapeError) as caught:
        check(MODEL3_TITLE)
    error = caught.value
    assert MODEL3_TITLE[error.span.start : error.span.end] == "CN(150)"
    assert (error.line, error.column) == (1, MODEL3_TITLE.index("CN(150)") + 1)
    assert "at least 5x5" in error.message and "gets 2x2" in error.message
    assert len(error.diagnostics) == 1


# --- table-driven shape cases, Keras's conv_test.py style --------------------------------

SHAPE_CASES = [
    {"spec": "CN(8,3)", "input": (28, 28, 1), "shape": (None, 26, 26, 8), "params": 80},
    {"spec": "CN(8,3,padding=same)", "input": (28, 28, 1), "shape": (None, 28, 28, 8), "params": 80},
    {"spec": "CN(8,3,strides=2)", "input": (28, 28, 1), "shape": (None, 13, 13, 8), "params": 80},
    {"spec": "CN(8,3,strides=2,padding=same)", "input": (28, 28, 1), "shape": (None, 14, 14, 8), "params": 80},
    {"spec": "CN(8,3,dilation=2)", "input": (28, 28, 1), "shape": (None, 24, 24, 8), "params": 80},
    {"spec": "CN(8,(3,5))", "input": (10, 12, 3), "shape": (None, 8, 8, 8), "params": 368},
    {"spec": "CN(8,(3,5),strides=(1,2))", "input": (10, 12, 3), "shape": (None, 8, 4, 8), "params": 368},
    {"spec": "CN(4,7)", "input": (7, 7, 2), "shape": (None, 1, 1, 4), "params": 396},
    {"spec": "MP(2)", "input": (9, 9, 3), "shape": (None, 4, 4, 3), "params": 0},
    {"spec": "MP(2,2)", "input": (10, 10, 3), "shape": (None, 5, 5, 3), "params": 0},
    {"spec": "MP(2,3)", "input": (10, 10, 3), "shape": (None, 5, 3, 3), "params": 0},
    {"spec": "MP((2,3))", "input": (10, 10, 3), "shape": (None, 5, 3, 3), "params": 0},
    {"spec": "MP(3,strides=1)", "input": (10, 10, 3), "shape": (None, 8, 8, 3), "params": 0},
    {"spec": "MP(2,padding=same)", "input": (9, 9, 3), "shape": (None, 5, 5, 3), "params": 0},
    {"spec": "AP(3,strides=2)", "input": (9, 9, 3), "shape": (None, 4, 4, 3), "params": 0},
    {"spec": "GAP()", "input": (9, 9, 3), "shape": (None, 3), "params": 0},
    {"spec": "GMP()", "input": (9, 9, 5), "shape": (None, 5), "params": 0},
    {"spec": "FL()", "input": (4, 5, 6), "shape": (None, 120), "params": 0},
    {"spec": "BN()", "input": (4, 5, 6), "shape": (None, 4, 5, 6), "params": 24},
    {"spec": "DP(0.5)", "input": (4, 5, 6), "shape": (None, 4, 5, 6), "params": 0},
    {"spec": "ACT(tanh)", "input": (4, 5, 6), "shape": (None, 4, 5, 6), "params": 0},
    {"spec": "DN(7)", "input": (4, 5, 6), "shape": (None, 4, 5, 7), "params": 49},
    {"spec": "FL()->DN(7)", "input": (4, 5, 6), "shape": (None, 7), "params": 847},
]


@pytest.mark.parametrize("case", SHAPE_CASES, ids=[case["spec"] for case in SHAPE_CASES])
def test_shape_cases(case):
    written = _written_layers(case["spec"], case["input"])
    assert written[-1].output_shape == case["shape"]
    assert sum(info.params for info in written) == case["params"]


def _written_layers(spec: str, input_shape):
    """The layers a spec writes, checked with FL() and a head after them."""
    model = check(spec + "->FL()->DN(3)", input_shape=input_shape, num_classes=3)
    return model.layers[: spec.count("->") + 1]


def test_batch_norm_splits_trainable_and_not():
    model = check("CN(6,3)->BN()->FL()", input_shape=(8, 8, 1))
    bn = model.layers[1]
    assert (bn.trainable, bn.non_trainable) == (12, 12)


# --- defaults resolved in context ----------------------------------------------------------


@pytest.mark.parametrize(
    "spec, kernels",
    [
        ("CN(4)->CN(4)->FL()", [(3, 3), (3, 3)]),
        ("CN(4,(5,5))->BN()->CN(4)->CN(4,1)->CN(4)->FL()", [(5, 5), (5, 5), (1, 1), (1, 1)]),
        ("CN(4,(2,3))->MP(2)->CN(4)->FL()", [(2, 3), (2, 3)]),
        ("(CN(4)->CN(4,kernel=2))*2->FL()", [(3, 3), (2, 2), (2, 2), (2, 2)]),
        # the second CN(4,5) reuses the first's binding and must still pass its kernel on
        ("CN(4,2)->CN(4,5)->CN(4,2)->CN(4,5)->CN(4)->FL()", [(2, 2), (5, 5), (2, 2), (5, 5), (5, 5)]),
    ],
)
def test_an_omitted_kernel_repeats_the_nearest_preceding_cn(spec, kernels):
    model = check(spec, input_shape=(32, 32, 1))
    assert [info.layer.args["kernel"] for info in model.layers if info.code == "CN"] == kernels


@pytest.mark.parametrize(
    "spec, codes",
    [
        ("(CN(4)->BN())*3->FL()", ["CN", "BN"] * 3 + ["FL", "DN"]),
        ("CN(4)*2->FL()", ["CN", "CN", "FL", "DN"]),
        ("((CN(4)*2)->MP(2))*2->FL()", ["CN", "CN", "MP"] * 2 + ["FL", "DN"]),
    ],
)
def test_repetition_expands_in_place(spec, codes):
    assert [info.code for info in check(spec, input_shape=(40, 40, 1)).layers] == codes


@pytest.mark.parametrize(
    "spec, head_text, count",
    [
        ("FL()->DN(10)", "DN(10)", 2),
        ("FL()->DN(10, activation=softmax)", "DN(10, activation=softmax)", 2),
        ("FL()->DN(10, activation=relu)", "DN(10, activation=softmax)", 3),
        ("FL()->DN(128)", "DN(10, activation=softmax)", 3),
        ("GAP()", "DN(10, activation=softmax)", 2),
    ],
)
def test_the_classifier_head(spec, head_text, count):
    model = check(spec, input_shape=(8, 8, 3))
    head = model.layers[-1]
    assert head.layer.head and head.layer.text == head_text
    assert head.layer.args["activation"] == "softmax"
    assert len(model.layers) == count and model.output_shape == (None, 10)


def test_classes_and_input_shape_come_from_arguments_or_in():
    assert check("CN(4)->FL()", num_classes=100).output_shape == (None, 100)
    assert check("CN(4)->GAP()", input_shape=(32, 32, 3)).layers[0].output_shape == (None, 30, 30, 4)
    assert check("IN(32,32,3)->CN(4)->GAP()").layers[0].output_shape == (None, 30, 30, 4)
    assert check("IN(32,32,3)->CN(4)->GAP()", input_shape=(32, 32, 3)).input_shape == (None, 32, 32, 3)


def test_in_disagreeing_with_the_given_input_shape_is_a_value_error():
    with pytest.raises(SpecValueError, match="declares input 32x32x3 but the input is 28x28x1"):
        check("IN(32,32,3)->CN(4)->GAP()", input_shape=(28, 28, 1))


def test_dense_on_a_4d_tensor_is_accepted_with_a_warning():
    """A DN on 4-D whose output meets no spatial layer after it (FL() here): likely a forgotten FL()."""
    model = check("CN(4)->DN(8)->FL()")
    assert model.layers[1].output_shape == (None, 26, 26, 8)
    (warning,) = model.warnings
    assert warning.severity == "warning" and "acts on the last axis" in warning.message
    assert (warning.span.line, warning.span.column) == (1, 8)


def test_a_4d_tensor_at_the_head_is_a_shape_error_suggesting_fl_or_gap():
    with pytest.raises(SpecShapeError) as caught:
        check("CN(4)->MP(2)")
    assert "must end in (None, 10)" in caught.value.message
    assert "FL()" in caught.value.diagnostics[0].hint and "GAP()" in caught.value.diagnostics[0].hint


def test_every_independent_error_is_reported_at_once():
    with pytest.raises(SpecError) as caught:
        check("CN(0)->CNN(3)->DP(1.5)->CN(4, stride=2)")
    assert [d.message for d in caught.value.diagnostics] == [
        "CN filters must be at least 1, not 0",
        "unknown layer code 'CNN'",
        "DP rate must be at least 0 and below 1, not 1.5",
        "CN has no argument 'stride'",
    ]


def test_layers_written_alike_report_each_error_at_its_own_place():
    with pytest.raises(SpecError) as caught:
        check("CN(0) -> CN(0)\n-> DP(2) -> DP(2)")
    spans = [(d.span.line, d.span.column) for d in caught.value.diagnostics]
    assert spans == [(1, 4), (1, 13), (2, 7), (2, 16)]


def test_shape_errors_after_a_size_error_are_still_found():
    with pytest.raises(SpecShapeError) as caught:
        check("CN(4,(30,30))->BN()->FL()->CN(4)")
    messages = [d.message for d in caught.value.diagnostics]
    assert len(messages) == 2
    assert "kernel 30x30" in messages[0] and "needs a 4-D input" in messages[1]


def test_macs_and_activations_per_layer():
    model = check("CN(8,3)->FL()->DN(10)", input_shape=(10, 10, 2))
    conv, _flat, dense = model.layers
    assert conv.macs == 8 * 8 * 8 * 3 * 3 * 2
    assert dense.macs == 8 * 8 * 8 * 10
    assert conv.activations == 8 * 8 * 8


def test_a_warning_does_not_hide_the_head_check():
    with pytest.raises(SpecShapeError, match="must end in"):
        check("DN(1)", input_shape=(3, 3, 1), num_classes=2)
