"""The modern vocabulary's bad input: each a located error with a hint, never a traceback."""

from __future__ import annotations

import pytest
from helpers import run_cli

from cnndsl import check
from cnndsl.errors import SpecError, SpecShapeError, SpecValueError

# spec, error class, column of the span, words of the message, words of the hint
BAD = [
    ("CN(8, groups=3) -> GAP()", SpecValueError, 1, "groups=3 must divide its 8 filters", "multiple of 3"),
    ("IN(32,32,4) -> CN(9,3,groups=3) -> GAP()", SpecShapeError, 16, "must divide the input's 4 channels", "divisible by 3"),
    ("IN(8,8,3) -> RS(5)", SpecShapeError, 14, "192 values) to (None, 5) (5 values)", "may be -1"),
    ("RS(-1,-1)", SpecValueError, 4, "may leave one size to -1, not 2", "every other size"),
    ("IN(8,8,3) -> RS(7, -1)", SpecShapeError, 14, "to a multiple of 7", None),
    ("IN(8,8,3) -> CR(4)", SpecShapeError, 14, "crops 8 of the height 8, leaving nothing", "crop less"),
    ("CR(-1)", SpecValueError, 4, "CR crop must be at least 0", None),
    ("NRM(mean=0.5)", SpecValueError, 1, "mean and variance together", "give both, or neither"),
    ("IN(8,8,3) -> NRM(mean=(1,2), variance=(1,1))", SpecShapeError, 14, "mean has 2 values for 3 channels", "one per channel"),
    ("LN(axis=0) -> GAP()", SpecValueError, 1, "axis=0 is the batch axis", "axis=-1"),
    ("LN(epsilon=0)", SpecValueError, 12, "epsilon must be above 0", None),
    ("DP(0.1, per_example=maybe)", SpecValueError, 21, "per_example must be true or false", "bare words"),
    ("IN(None, None, 3) -> FL() -> DN(10)", SpecShapeError, 30, "DN needs a known last axis", "GAP()"),
    ("IN(None,None,1) -> CN(1) -> LN(axis=1) -> GAP()", SpecShapeError, 29, "gamma and beta need that size", "axis=-1"),
    ("IN(None,None,1) -> LN(axis=2, center=false) -> GAP()", SpecShapeError, 20, "its gamma needs that size",
     "center=false, scale=false"),
    ("IN(None,None,3) -> CN(4) -> ACT(softmax)", SpecShapeError, 29, "own head ACT(softmax)", "RS(classes)"),
    ("RSC()", SpecValueError, 1, "RSC needs its scale", None),
    ("IN(None, 3)", SpecValueError, 4, "IN shape needs 3 values, not 2", "IN(height, width, channels)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "kind", "column", "message", "hint"), BAD, ids=[case[0] for case in BAD])
def test_bad_input_to_a_new_code_is_located(text, kind, column, message, hint):
    with pytest.raises(kind) as caught:
        check(text)
    first = caught.value.diagnostics[0]
    assert (first.span.line, first.span.column) == (1, column)
    assert message in first.message
    assert hint is None or hint in (first.hint or "")


def test_an_unknown_input_size_is_checked_as_keras_builds_it():
    """A convolution of any size passes; only what needs a size is an error, and said once."""
    model = check("IN(None, None, 3) -> CN(8, 50) -> GAP()")
    assert model.layers[0].output_shape == (None, None, None, 8) and model.total_params == 50 * 50 * 3 * 8 + 8 + 90
    with pytest.raises(SpecError) as caught:
        check("IN(None, None, 3) -> CN(8, 3, strides=2) -> FL() -> DN(16) -> DN(4)")
    assert len(caught.value.diagnostics) == 1  # the second DN follows from the first's error


def test_a_size_error_before_an_unknown_size_says_only_the_first():
    with pytest.raises(SpecError) as caught:
        check("IN(8, 8, 1) -> CN(4, 20) -> FL() -> DN(8)")
    assert [d.message.split(":")[0] for d in caught.value.diagnostics] == ["CN(4, 20)"]


def test_the_command_line_says_it_in_one_located_line(tmp_path):
    result = run_cli("check", "IN(32,32,4) -> CN(9,3,groups=3) -> GAP()")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "1:16" in result.stderr and "must divide the input's 4 channels" in result.stderr


def test_a_dense_layer_on_4d_before_more_convolutions_is_not_warned_about():
    """ConvNeXt's pointwise Dense layers are meant; a Dense on 4-D that goes on to FL() is the classic slip."""
    pointwise = "IN(8, 8, 4) -> ADD(ID() | CN(4, 3, padding=same) -> LN() -> DN(16, activation=gelu) -> DN(4)) -> GAP()"
    assert check(pointwise).warnings == ()
    slip = check("CN(8) -> DN(16) -> FL()")
    assert [w.message.split(" acts")[0] for w in slip.warnings] == ["DN on a 4-D tensor (None, 26, 26, 8)"]


def test_a_head_of_its_own_must_agree_with_a_class_count_given():
    with pytest.raises(SpecShapeError) as caught:
        check("IN(8, 8, 3) -> CN(5, 1) -> GAP() -> ACT(softmax)", num_classes=10)
    (error,) = caught.value.diagnostics
    assert error.code == "head-classes" and "outputs (None, 5), but 10 classes are asked for" in error.message
    assert check("IN(8, 8, 3) -> CN(5, 1) -> GAP() -> ACT(softmax)", num_classes=5).num_classes == 5


def test_an_unknown_input_size_reports_unknown_figures_and_refuses_to_guess_a_budget():
    from cnndsl.budgets import activation_bytes, check_budgets, flops
    from cnndsl.report import summary_table
    from cnndsl.settings import Settings

    model = check("IN(None, None, 3) -> CN(8) -> GAP()")
    assert model.total_macs is None and flops(model) is None and activation_bytes(model) is None
    assert "Multiply-accumulates: unknown: the input's size is unknown" in summary_table(model)
    (problem,) = check_budgets(model, Settings(max_flops=10**6))
    assert problem.code == "budget-unknown" and "--max-flops" in problem.message
    assert check_budgets(model, Settings(max_params=10**6)) == []


def test_an_input_shape_given_sizes_an_input_of_unknown_size():
    model = check("IN(None, None, 3) -> CN(8) -> GAP()", input_shape=(32, 32, 3))
    assert model.input_shape == (None, 32, 32, 3) and model.total_macs == 30 * 30 * 27 * 8 + 8 * 10
    with pytest.raises(SpecValueError, match="declares input"):
        check("IN(None, None, 3) -> CN(8) -> GAP()", input_shape=(32, 32, 1))


def test_a_layer_norm_without_weights_normalises_an_axis_of_unknown_size_as_keras_does():
    keras = pytest.importorskip("keras")
    text = "IN(None, None, 2) -> LN(axis=1, center=false, scale=false) -> GAP()"
    layer = keras.layers.LayerNormalization(axis=1, center=False, scale=False)
    layer(keras.Input((None, None, 2)))  # Keras builds it: no weight needs the size
    assert check(text).total_params == 2 * 10 + 10
    with pytest.raises(ValueError, match="fully-defined"):
        keras.layers.LayerNormalization(axis=1)(keras.Input((None, None, 2)))
