"""Hypothesis strategies for random specs, with the Keras layers each one means.

Each generated spec comes with its expansion as :class:`Desc` records, built from the
notation's documented rules, never from cnndsl's own AST.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from cnndsl.layers import ACTIVATIONS


@dataclass
class Desc:
    """One written layer: its text and what it means for Keras."""

    code: str
    text: str
    args: dict = field(default_factory=dict)


def _size(value) -> str:
    return (
        str(value[0])
        if isinstance(value, tuple) and value[0] == value[1] and len(set(value)) == 1
        else str(value).replace(" ", "")
    )


pairs = st.one_of(st.integers(1, 4).map(lambda k: (k, k)), st.tuples(st.integers(1, 4), st.integers(1, 4)))
activations = st.sampled_from(ACTIVATIONS)


@st.composite
def conv(draw) -> Desc:
    args = {"filters": draw(st.integers(1, 6))}
    parts = [_maybe_keyword(draw, "filters", args["filters"])]
    if draw(st.booleans()):
        args["kernel"] = draw(pairs)
        parts.append(_size(args["kernel"]) if draw(st.booleans()) else f"kernel={_size(args['kernel'])}")
    for name, strategy in (("strides", st.integers(1, 3)), ("dilation", st.integers(1, 2))):
        if draw(st.integers(0, 3)) == 0:
            args[name] = (draw(strategy),) * 2
            parts.append(f"{name}={args[name][0]}")
    if draw(st.integers(0, 2)) == 0:
        args["padding"] = draw(st.sampled_from(["valid", "same"]))
        parts.append(f"padding={args['padding']}")
    if draw(st.integers(0, 3)) == 0:
        args["activation"] = draw(activations)
        parts.append(f"activation={args['activation']}")
    return Desc("CN", f"CN({', '.join(parts)})", args)


@st.composite
def pool(draw) -> Desc:
    code = draw(st.sampled_from(["MP", "AP"]))
    pool_size = draw(pairs)
    form = draw(st.integers(0, 2))
    text = [_size(pool_size), f"{pool_size[0]},{pool_size[1]}", f"pool={pool_size}".replace(" ", "")][form]
    args = {"pool": pool_size}
    if draw(st.integers(0, 2)) == 0:
        args["strides"] = (draw(st.integers(1, 3)),) * 2
        text += f", strides={args['strides'][0]}"
    if draw(st.integers(0, 2)) == 0:
        args["padding"] = draw(st.sampled_from(["valid", "same"]))
        text += f", padding={args['padding']}"
    return Desc(code, f"{code}({text})", args)


@st.composite
def dense(draw) -> Desc:
    units = draw(st.integers(1, 12))
    text = _maybe_keyword(draw, "units", units)
    if draw(st.booleans()):
        activation = draw(activations)
        return Desc("DN", f"DN({text}, activation={activation})", {"units": units, "activation": activation})
    return Desc("DN", f"DN({text})", {"units": units})


def _maybe_keyword(draw, name: str, value) -> str:
    """``value`` or ``name=value``: both spellings of an argument."""
    return f"{name}={value}" if draw(st.integers(0, 3)) == 0 else str(value)


@st.composite
def dropout(draw) -> Desc:
    rate = draw(st.sampled_from([0, 0.0, 0.25, 0.5]))
    return Desc("DP", f"DP({_maybe_keyword(draw, 'rate', rate)})", {"rate": float(rate)})


@st.composite
def activation(draw) -> Desc:
    name = draw(activations)
    return Desc("ACT", f"ACT({_maybe_keyword(draw, 'name', name)})", {"name": name})


simple = st.one_of(
    st.sampled_from([Desc("BN", "BN()"), Desc("FL", "FL()"), Desc("GAP", "GAP()"), Desc("GMP", "GMP()")]),
    dropout(),
    activation(),
)
layer = st.one_of(conv(), conv(), pool(), dense(), simple)


@st.composite
def element(draw) -> tuple[str, list[Desc]]:
    """A layer, or a repeated layer or group: its text and its expansion."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        body = draw(st.lists(layer, min_size=1, max_size=3))
        times = draw(st.integers(1, 3))
        return f"({' -> '.join(d.text for d in body)})*{times}", body * times
    if kind == 1:
        one = draw(layer)
        times = draw(st.integers(1, 3))
        return f"{one.text}*{times}", [one] * times
    one = draw(layer)
    return one.text, [one]


@st.composite
def specs(draw):
    input_shape = (draw(st.integers(3, 24)), draw(st.integers(3, 24)), draw(st.integers(1, 3)))
    classes = draw(st.integers(2, 12))
    elements = draw(st.lists(element(), min_size=1, max_size=6))
    declared = draw(st.booleans())
    texts = [text for text, _ in elements]
    if declared:
        texts.insert(0, "IN({},{},{})".format(*input_shape))
    arrow = draw(st.sampled_from(["->", " -> ", "→", "\n-> "]))
    descs = [desc for _, expansion in elements for desc in expansion]
    return arrow.join(texts), descs, input_shape, classes, declared
