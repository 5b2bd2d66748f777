"""Specs the checker accepts, and the helpers that compare a model in another framework with Keras's.

Built on :mod:`spec_strategies` (the random specs of the Keras differential test):
the frameworks are compared on accepted specs only, on small inputs.
"""

from __future__ import annotations

import functools

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from spec_strategies import specs

from cnndsl import SpecError, check, compile_spec
from cnndsl.layers import LAYERS, example_text

BATCH = 3
TOLERANCE = 1e-4


@st.composite
def accepted_specs(draw) -> tuple[str, tuple[int, int, int], int]:
    """(text, input shape, classes) of a random spec that passes every check."""
    text, _descs, input_shape, classes, _declared = draw(specs(unknown_sizes=False))
    ending = draw(st.sampled_from(["", "->FL()", "->GAP()"]))
    for candidate in (text, text + ending):
        try:
            check(candidate, input_shape, classes)
        except SpecError:
            continue
        return candidate, input_shape, classes
    assume(False)


def randomize(keras_model, seed: int = 0) -> None:
    """Give every Keras weight a random value (variances positive), so that porting is tested on every number."""
    rng = np.random.default_rng(seed)
    for variable in keras_model.weights:
        value = rng.normal(0, 0.5, size=tuple(variable.shape)).astype("float32")
        if "variance" in variable.name:
            value = np.abs(value) + 0.5
        if "int" in str(variable.dtype):
            value = rng.integers(1, 100, size=tuple(variable.shape))
        variable.assign(value)
    for layer in keras_model.layers:
        if type(layer).__name__ == "Normalization" and layer.weights:
            layer.finalize_state()  # as loading weights does: an adapted mean and variance take effect


def sample(input_shape, seed: int = 1) -> np.ndarray:
    """A random batch, channels last as Keras takes it."""
    return np.random.default_rng(seed).normal(size=(BATCH, *input_shape)).astype("float32")


def keras_output(keras_model, x: np.ndarray) -> np.ndarray:
    return np.asarray(keras_model(x, training=False))


def torch_output(torch_model, x: np.ndarray) -> np.ndarray:
    """The module's output on a channels-last batch, in eval mode, back in Keras's layout."""
    import torch

    torch_model.eval()
    with torch.no_grad():
        out = torch_model(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    return out.transpose(0, 2, 3, 1) if out.ndim == 4 else out


def assert_close(expected: np.ndarray, actual: np.ndarray) -> None:
    """Equal shapes, and values within 1e-4 (relative for large values)."""
    assert expected.shape == actual.shape
    np.testing.assert_allclose(actual, expected, rtol=TOLERANCE, atol=TOLERANCE)


MODERN = [
    "CN(4, 3, padding=same) -> CN(6, 3, groups=2, padding=same) -> CN(6, 1, groups=3, bias=false) -> GAP()",
    "LN() -> CN(4, 3) -> LN(epsilon=0.01, center=false) -> LN(axis=1, scale=false) -> LN(axis=2) -> GAP() -> LN()",
    "CN(4, 1) -> LS() -> LS(0.5) -> GAP() -> LS(2)",
    "RSC(0.5, offset=-1) -> NRM() -> NRM(mean=(1, 2), variance=(4, 0.5)) -> NRM(mean=0.5, variance=2) -> GAP()",
    "CN(4, 3) -> RS(-1, 4) -> DN(5) -> BN() -> RS(5, 2, -1) -> CN(3, 1) -> RS(-1) -> NRM() -> LN()",
    "CN(4, 3) -> CR(1) -> CR(((1, 0), (0, 2))) -> GAP()",
    "CN(4, 3) -> DP(0.3, per_example=true) -> GAP() -> DP(0.2, per_example=true)",
    "CN(4, 3, padding=same) -> ADD(ID() | CN(4, 1) -> LS(), scale=0.17) -> ADD(ID() | DW(3, padding=same), scale=-2) -> GAP()",
    "DW(3, strides=2, dilation=2, padding=same) -> SC(5, (3, 2), strides=(2, 1), dilation=(1, 2), padding=same) -> DW(2, strides=2, dilation=2) -> FL()",
    "CN(4, 3) -> MP(3, strides=2, pad=1, ceil=true) -> AP(3, strides=2, pad=1, ceil=true, count_pad=true) -> SPL(1) -> SHF() -> GAP()",
    "CN(6, 2) -> AP(3, strides=1, pad=1) -> MP(2, pad=1) -> CAT(SPL(0, parts=3) | SPL(2, parts=3)) -> SHF(4) -> FL()",
    "CN(4, 3, activation=linear) -> ACT(leaky_relu, slope=0.01) -> PRELU() -> CN(5, 1) -> PRELU(one) -> GAP()",
    "CN(7, 3) -> CAT(SL(0, 3) -> CN(2, 1) | SL(3, 7) -> SL(1, 3)) -> GAP() -> SL(1, 4)",
    "CN(4, 1) -> RSZ(7, 13) -> RSZ(5, 4, interpolation=nearest) -> CAT(ID() | GAP(true) -> RSZ(5, 4)) -> FL()",
    "CN(4, 1) -> ZP(((0, 3), (2, 1)), mode=reflect) -> ZP(2, mode=replicate) -> ZP(1, mode=zeros) -> CN(2, 3) -> FL()",
    "CN(8, 1) -> PXS(2, mode=dcr) -> CN(8, 1) -> PXS(2) -> PXU(2, mode=dcr) -> PXU(2) -> GAP()",
    "CN(12, 3, padding=same) -> MP(2) -> ATT(SL(0, 2, groups=2) | SL(2, 4, groups=2) | SL(4, 6, groups=2) -> DW(3, padding=same), heads=2) -> GAP()",
]
"""Specs using every code and argument of modern CNNs, on an (11, 10, 2) input with 10 classes."""
MODERN_SPECS = [
    *((text, (11, 10, 2), 10) for text in MODERN),
    ("CN(8, 1) -> GAP(keepdims=true) -> CN(3, 1, activation=linear) -> RS(3) -> ACT(softmax)", (11, 10, 2), 3),
]
"""(text, input shape, classes): the modern specs and a head of the model's own (its class count is its own)."""


# --- graphs: merges of all three kinds, ID branches, the codes of modern CNNs ----------------

kernels = st.sampled_from([1, 2, 3])
small_activations = st.sampled_from(["relu", "linear", "sigmoid", "tanh", "relu6", "swish"])


@st.composite
def keep_shape(draw, channels: int) -> str:
    """A layer that keeps (height, width, channels)."""
    k, act = draw(kernels), draw(small_activations)
    bias = draw(st.sampled_from(["", ", bias=false"]))
    options = [
        f"CN({channels}, {k}, padding=same, activation={act}{bias})",
        f"DW({k}, padding=same, activation={act}{bias})",
        f"SC({channels}, {k}, padding=same, activation={act}{bias})",
        draw(st.sampled_from(["BN()", "BN(momentum=0.9, epsilon=0.01)", "BN(center=false)", "BN(scale=false)"])),
        f"ACT({act})",
        "DP(0.5)",
        f"ZP(1)->CN({channels}, 3, activation={act})",
        "AP(3, strides=1, padding=same)",
        f"MP({k}, strides=1, padding=same)",
        draw(st.sampled_from(["LN()", "LN(epsilon=0.01, center=false)", "LN(axis=2, scale=false)", "LN(axis=1)"])),
        draw(st.sampled_from(["LS()", "LS(0.5)", "LS(-2)"])),
        draw(st.sampled_from(["RSC(0.5)", "RSC(2, offset=-1)"])),
        "NRM()",
        f"NRM(mean={channels}, variance=2)",
        f"CN({2 * channels}, {k}, padding=same, groups={channels}) -> CN({channels}, 1, groups={channels})",
        "DP(0.25, per_example=true)",
        f"ZP(((1, 2), (0, 1))) -> CR(((1, 1), (0, 1))) -> CN({channels}, (2, 1), activation={act})",
        *_declared_keeping(channels),
    ]
    return draw(st.sampled_from(options))


@functools.cache
def _declared_keeping(channels: int) -> tuple[str, ...]:
    """Each code's example that PyTorch builds and that keeps (height, width, channels): a code added is drawn."""
    found = []
    for entry in LAYERS.values():
        if entry.merge or entry.torch.build is None or entry.kind == "augmentation" or not entry.keras:
            continue
        try:
            model = check(f"{example_text(entry)} -> GAP()", (8, 8, channels), 2)
        except SpecError:
            continue
        if model.layers[0].output_shape == (None, 8, 8, channels):
            found.append(example_text(entry))
    return tuple(found)


@st.composite
def branch(draw, channels: int, depth: int) -> str:
    """A chain from a merge's input that keeps its shape (empty: ID())."""
    parts = draw(st.lists(keep_shape(channels), min_size=0, max_size=2))
    if depth < 2 and draw(st.integers(0, 3)) == 0:
        parts.append(draw(merge(channels, depth + 1, same_channels=True))[0])
    return " -> ".join(parts) or "ID()"


@st.composite
def merge(draw, channels: int, depth: int = 0, same_channels: bool = False) -> tuple[str, int]:
    """A merge and the channel count after it."""
    kind = draw(st.sampled_from(["ADD", "MUL", "SE", "SE2", "SE3"] + ([] if same_channels else ["CAT"])))
    if kind == "SE":
        squeeze = draw(st.integers(1, 4))
        return f"MUL(ID() | GAP(keepdims=true) -> CN({squeeze}, 1) -> CN({channels}, 1, activation=sigmoid))", channels
    if kind == "SE3":  # EfficientNet's: the squeeze reshaped back to an image
        squeeze = draw(st.integers(1, 4))
        return (
            f"MUL(ID() | GAP() -> RS(1, 1, {channels}) -> CN({squeeze}, 1) -> CN({channels}, 1, activation=sigmoid))",
            channels,
        )
    if kind == "SE2":
        return f"MUL(ID() | GAP() -> DN({draw(st.integers(1, 4))}) -> DN({channels}, activation=sigmoid))", channels
    if kind == "CAT":
        widths = draw(st.lists(st.integers(1, 4), min_size=2, max_size=3))
        branches = [f"CN({w}, {draw(kernels)}, padding=same)" if draw(st.booleans()) else "ID()" for w in widths]
        total = sum(channels if b == "ID()" else w for b, w in zip(branches, widths))
        return f"CAT({' | '.join(branches)})", total
    branches = draw(st.lists(branch(channels, depth), min_size=2, max_size=3))
    if kind == "ADD" and draw(st.booleans()):
        scale = draw(st.sampled_from([0.17, -1.0, 2.0]))
        return f"ADD({' | '.join(branches[:2])}, scale={scale})", channels
    return f"{kind}({' | '.join(branches)})", channels


@st.composite
def graph_specs(draw) -> tuple[str, tuple[int, int, int], int]:
    """(text, input shape, classes) of a random accepted graph spec on a small input."""
    size, channels = draw(st.integers(6, 10)), draw(st.integers(1, 3))
    parts = [f"CN({draw(st.integers(2, 4))}, 3, padding=same)"]
    channels_now = int(parts[0][3])
    sized = [channels_now]  # each part's channels since the last change of size (None: before it)
    for _ in range(draw(st.integers(1, 4))):
        step = draw(st.integers(0, 6))
        if step == 0:
            channels_now *= 2
            parts.append("DW(3, strides=2, padding=same, depth_multiplier=2)")
            sized = [None] * len(sized)
        elif step == 1:
            parts.append(
                f"UP({draw(st.sampled_from(['2', '(1,2)']))}, interpolation={draw(st.sampled_from(['nearest', 'bilinear']))})"
            )
            sized = [None] * len(sized)
        elif step >= 5 and len(parts) > 1 and sized[-2] is not None:
            back = draw(st.sampled_from([i for i, c in enumerate(sized[:-1]) if c is not None]))
            if " as " not in parts[back]:  # a skip over the layers since: a U-Net's, by name
                parts[back] += f" as t{back}"
            parts.append(f"CAT(ID() | @t{back})")
            channels_now += sized[back]
        else:
            text, channels_now = draw(merge(channels_now))
            parts.append(text)
        sized.append(channels_now)
    parts.append(draw(st.sampled_from(["GAP()", "FL()", "GMP()"])))
    text = " -> ".join(parts)
    input_shape, classes = (size, size, channels), draw(st.integers(2, 5))
    check(text, input_shape, classes)  # a strategy that draws a refused spec is a bug in the strategy
    return text, input_shape, classes


def run_source(text: str) -> dict:
    """Execute emitted source as a module that is not the program (no summary printed)."""
    namespace = {"__name__": "emitted"}
    exec(compile(text, "<emitted>", "exec"), namespace)
    return namespace


def keras_layers(model):
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def assert_same_keras_model(built, emitted) -> None:
    """Layer for layer: class, configuration (names aside) and parameter counts."""
    assert type(built).__name__ == type(emitted).__name__
    pairs = list(zip(keras_layers(built), keras_layers(emitted), strict=True))
    for one, other in pairs:
        own = type(one).__module__ == "cnndsl.backends.keras_layers"  # the script defines its own copy
        assert type(one) is type(other) or (own and type(one).__name__ == type(other).__name__)
        assert {**one.get_config(), "name": None} == {**other.get_config(), "name": None}
        assert one.count_params() == other.count_params()
    assert built.input_shape == emitted.input_shape
    assert built.output_shape == emitted.output_shape


def assert_torch_source_equals_keras(text: str, input_shape, classes: int = 10) -> None:
    """The PyTorch source emitted for a spec, run, computes what its Keras model computes."""
    from cnndsl.backends.torch import parameter_counts, port_weights
    from cnndsl.emit import emit

    model = check(text, input_shape, classes)
    keras_model = compile_spec(text, input_shape, classes)
    torch_model = run_source(emit(model, "torch").decode())["model"]
    assert parameter_counts(torch_model) == (model.trainable_params, model.non_trainable_params)
    randomize(keras_model)
    port_weights(keras_model, torch_model)
    x = sample(input_shape)
    assert_close(keras_output(keras_model, x), torch_output(torch_model, x))


def assert_equal_to_keras(text: str, input_shape, classes: int = 10) -> None:
    """The PyTorch module built from a spec computes what its Keras model computes."""
    from cnndsl.backends.torch import parameter_counts, port_weights

    model = check(text, input_shape, classes)
    keras_model = compile_spec(text, input_shape, classes)
    torch_model = compile_spec(text, input_shape, classes, backend="torch")
    assert parameter_counts(torch_model) == (model.trainable_params, model.non_trainable_params)
    randomize(keras_model)
    port_weights(keras_model, torch_model)
    x = sample(input_shape)
    assert_close(keras_output(keras_model, x), torch_output(torch_model, x))


def assert_onnx_equals_keras(text: str, input_shape, classes: int = 10) -> None:
    """The ONNX file exported from a spec's PyTorch module computes what its Keras model computes."""
    import onnxruntime

    from cnndsl.backends.onnx import export
    from cnndsl.backends.torch import build, port_weights

    model = check(text, input_shape, classes)
    keras_model = compile_spec(text, input_shape, classes)
    randomize(keras_model)
    module = build(model)
    port_weights(keras_model, module)
    session = onnxruntime.InferenceSession(export(module, model))
    x = sample(input_shape)
    (out,) = session.run(None, {"input": x.transpose(0, 3, 1, 2).copy()})
    assert_close(keras_output(keras_model, x), out)
