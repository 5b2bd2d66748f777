"""A Keras or PyTorch class name written where a code belongs: the hint names the code and maps
the arguments, and a fix rewrites the call where the arguments map one to one."""

from __future__ import annotations

import pytest

from cnndsl.checker import check
from cnndsl.errors import SpecError, apply_fix
from cnndsl.layers import LAYERS
from cnndsl.layers.core import borrowed_names


def first_problem(text: str):
    with pytest.raises(SpecError) as caught:
        check(text)
    return caught.value.diagnostics[0]


CASES = [
    # (spec, the hint, {fix title: the spec it gives})
    ("Conv2D(8) -> FL()", "Keras's Conv2D is CN here: Conv2D(filters, kernel_size) -> CN(filters, kernel)",
     {"Change Conv2D to CN": "CN(8) -> FL()"}),
    ("Conv2D(8, 3, dilation_rate=2) -> FL()", "; dilation_rate= is dilation=",
     {"Change Conv2D to CN": "CN(8, 3, dilation=2) -> FL()"}),
    ("Conv2d(3, 8, 3) -> FL()", "PyTorch's Conv2d is CN here: Conv2d(in, filters, kernel) -> CN(filters, kernel)", {}),
    ("conv2d(8, 3) -> FL()", "Keras's Conv2D is CN here", {"Change conv2d to CN": "CN(8, 3) -> FL()"}),
    ("CN(8) -> Dropout(0.5) -> FL()", "Keras's Dropout is DP here: Dropout(rate) -> DP(rate)",
     {"Change Dropout to DP": "CN(8) -> DP(0.5) -> FL()"}),
    ("CN(8) -> FL() -> Dense(10, use_bias=false)", "Keras's Dense is DN here: Dense(units) -> DN(units); use_bias= is bias=",
     {"Change Dense to DN": "CN(8) -> FL() -> DN(10, bias=false)"}),
    ("CN(8) -> FL() -> Linear(10, 4)", "PyTorch's Linear is DN here: Linear(in, units) -> DN(units)", {}),
    ("CN(8) -> Flatten() -> DN(4)", "Keras's Flatten is FL here: Flatten() -> FL()",
     {"Change Flatten to FL": "CN(8) -> FL() -> DN(4)"}),
    ("CN(8) -> MaxPooling2D(2) -> FL()", "Keras's MaxPooling2D is MP here: MaxPooling2D(pool_size) -> MP(pool)",
     {"Change MaxPooling2D to MP": "CN(8) -> MP(2) -> FL()"}),
    ("CN(8) -> MaxPooling2D(2, 2) -> FL()", "MaxPooling2D(pool_size) -> MP(pool)", {}),  # MP(2, 2) is a 2x2 pool
    ("CN(8) -> MaxPool2d(2, 2) -> FL()", "PyTorch's MaxPool2d is MP here: MaxPool2d(pool, strides) -> MP(pool, strides=strides)", {}),
    ("CN(8) -> BatchNormalization() -> FL()", "Keras's BatchNormalization is BN here",
     {"Change BatchNormalization to BN": "CN(8) -> BN() -> FL()"}),
    ("CN(8) -> BatchNorm2d(8) -> FL()", "PyTorch's BatchNorm2d is BN here: BatchNorm2d(in) -> BN()", {}),
    ("CN(8) -> GroupNorm(4, 8) -> FL()", "PyTorch's GroupNorm is GN here: GroupNorm(groups, in) -> GN(groups)", {}),
    ("CN(8) -> GroupNormalization(groups=4) -> FL()", "Keras's GroupNormalization is GN here",
     {"Change GroupNormalization to GN": "CN(8) -> GN(groups=4) -> FL()"}),
    ("CN(8) -> ReLU() -> FL()", "ReLU is an activation here: ACT(relu)",
     {"Change ReLU to ACT(relu)": "CN(8) -> ACT(relu) -> FL()"}),
    ("CN(8) -> LeakyReLU() -> FL()", "Keras's LeakyReLU is an activation here: ACT(leaky_relu, slope=0.3); "
     "PyTorch's LeakyReLU is ACT(leaky_relu, slope=0.01)",
     {"Change LeakyReLU to ACT(leaky_relu, slope=0.3)": "CN(8) -> ACT(leaky_relu, slope=0.3) -> FL()",
      "Change LeakyReLU to ACT(leaky_relu, slope=0.01)": "CN(8) -> ACT(leaky_relu, slope=0.01) -> FL()"}),
    # the slope as written, by position or by either framework's keyword; inplace= is PyTorch's word
    ("CN(8) -> LeakyReLU(0.1) -> FL()", "LeakyReLU(0.1) is an activation here: ACT(leaky_relu, slope=0.1)",
     {"Change LeakyReLU to ACT(leaky_relu, slope=0.1)": "CN(8) -> ACT(leaky_relu, slope=0.1) -> FL()"}),
    ("CN(8) -> LeakyReLU(negative_slope=0.05) -> FL()", "is an activation here: ACT(leaky_relu, slope=0.05)",
     {"Change LeakyReLU to ACT(leaky_relu, slope=0.05)": "CN(8) -> ACT(leaky_relu, slope=0.05) -> FL()"}),
    ("CN(8) -> LeakyReLU(inplace=true) -> FL()", "PyTorch's LeakyReLU is an activation here: ACT(leaky_relu, slope=0.01)",
     {"Change LeakyReLU to ACT(leaky_relu, slope=0.01)": "CN(8) -> ACT(leaky_relu, slope=0.01) -> FL()"}),
    ("CN(8) -> LeakyReLU -> FL()", "PyTorch's LeakyReLU is ACT(leaky_relu, slope=0.01)",
     {"Change LeakyReLU to ACT(leaky_relu, slope=0.3)": "CN(8) -> ACT(leaky_relu, slope=0.3) -> FL()",
      "Change LeakyReLU to ACT(leaky_relu, slope=0.01)": "CN(8) -> ACT(leaky_relu, slope=0.01) -> FL()"}),
    ("CN(8) -> swish() -> FL()", "swish is an activation here: ACT(swish)",
     {"Change swish to ACT(swish)": "CN(8) -> ACT(swish) -> FL()"}),
    ("CN(8) -> GlobalAveragePooling2D() -> DN(4)", "Keras's GlobalAveragePooling2D is GAP here",
     {"Change GlobalAveragePooling2D to GAP": "CN(8) -> GAP() -> DN(4)"}),
    ("CN(8) -> Identity() -> FL()", "Keras's Identity is ID here: ID()", {"Change Identity to ID": "CN(8) -> ID() -> FL()"}),
    ("CN(8) -> AdaptiveAvgPool2d() -> DN(4)", "PyTorch's AdaptiveAvgPool2d is GAP here: GAP()",
     {"Change AdaptiveAvgPool2d to GAP": "CN(8) -> GAP() -> DN(4)"}),
    ("CN(8) -> AdaptiveAvgPool2d(1) -> DN(4)", "PyTorch's AdaptiveAvgPool2d is GAP here: GAP()", {}),
    # bare names (no parentheses): a fix only where the code needs no argument
    ("CN(8) -> Flatten", "Keras's Flatten is FL here", {"Change Flatten to FL()": "CN(8) -> FL()"}),
    ("CN(8) -> SiLU -> FL()", "PyTorch's SiLU is an activation here: ACT(silu)",
     {"Change SiLU to ACT(silu)": "CN(8) -> ACT(silu) -> FL()"}),
    ("CN(8) -> FL() -> Dense", "Keras's Dense is DN here: Dense(units) -> DN(units)", {}),
    # a misspelt class name: the closest name, codes and classes together
    ("CN(8) -> Dropot(0.5) -> FL()", "Keras's Dropout is DP here", {"Change Dropot to DP": "CN(8) -> DP(0.5) -> FL()"}),
]  # fmt: skip


@pytest.mark.parametrize("text, hint, fixes", CASES, ids=[case[0] for case in CASES])
def test_a_framework_class_name_is_answered_with_its_code(text, hint, fixes):
    problem = first_problem(text)
    assert problem.code in ("unknown-layer", "unknown-name")
    assert hint in problem.hint
    assert {fix.title: apply_fix(text, fix) for fix in problem.fixes} == fixes
    for fixed in fixes.values():
        check(fixed)  # every fix gives a spec that checks


@pytest.mark.slow
def test_the_slopes_the_hint_names_are_the_frameworks_own():
    """The hint's slopes are what Keras's ``LeakyReLU()`` and PyTorch's ``nn.LeakyReLU()`` compute."""
    import inspect

    import keras
    import torch

    assert inspect.signature(keras.layers.LeakyReLU).parameters["negative_slope"].default == 0.3
    x = torch.tensor([-1.0])
    assert torch.nn.LeakyReLU()(x).item() == pytest.approx(-0.01)


def test_codes_in_another_case_and_misspelt_codes_keep_their_suggestion():
    assert first_problem("cn(3)").hint == "did you mean CN?"
    assert first_problem("CNN(3)").hint == "did you mean CN?"


def test_the_table_holds_every_declared_keras_class_and_pytorch_module():
    table = borrowed_names(LAYERS.values())
    for entry in LAYERS.values():
        for form in entry.keras:
            assert entry.code in {reading.code for reading in table[form.name.upper()]}
        for qualified, _ in entry.torch.modules:
            assert entry.code in {reading.code for reading in table[qualified.rsplit(".", 1)[-1].upper()]}
