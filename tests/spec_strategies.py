"""Hypothesis strategies for random specs, with the Keras layers each one means.

Each generated spec comes with its expansion as :class:`Desc` records (and
:class:`MergeDesc` for merges, whose branches are lists of records again), built
from the notation's documented rules, never from cnndsl's own AST.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from helpers import EXAMPLES
from hypothesis import strategies as st

from cnndsl.compiler import check
from cnndsl.layers import ACTIVATIONS, LAYERS, MERGES, example_text


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


@dataclass
class MergeDesc:
    """A written merge: its code, its branches' expansions (``[]`` for ``ID()``) and CAT's axis."""

    code: str
    branches: list
    args: dict = field(default_factory=dict)


@dataclass
class NameDesc:
    """``... as name``: the tensor the chain holds here is ``name``."""

    name: str


@dataclass
class TakeDesc:
    """``@name``: the chain goes on from the tensor ``name``."""

    name: str


pairs = st.one_of(st.integers(1, 4).map(lambda k: (k, k)), st.tuples(st.integers(1, 4), st.integers(1, 4)))
activations = st.sampled_from(ACTIVATIONS)


@st.composite
def conv(draw) -> Desc:
    args = {"filters": draw(st.integers(1, 6))}
    first = _maybe_keyword(draw, "filters", args["filters"])
    parts = [first]
    if draw(st.booleans()):
        args["kernel"] = draw(pairs)
        # a positional argument never follows a keyword one
        positional = draw(st.booleans()) and "=" not in first
        parts.append(_size(args["kernel"]) if positional else f"kernel={_size(args['kernel'])}")
    _conv_options(draw, args, parts)
    if draw(st.integers(0, 4)) == 0:
        args["groups"] = draw(st.integers(1, 3))
        parts.append(f"groups={args['groups']}")
    return Desc("CN", f"CN({', '.join(parts)})", args)


def _conv_options(draw, args: dict, parts: list, multiplier: bool = False) -> None:
    """The keyword arguments CN, DW and SC share, each drawn now and then."""
    options = [
        ("strides", st.integers(1, 3).map(lambda v: (v, v))),
        ("dilation", st.integers(1, 2).map(lambda v: (v, v))),
    ]
    if multiplier:
        options.append(("depth_multiplier", st.integers(1, 3)))
    for name, strategy in options:
        if draw(st.integers(0, 3)) == 0:
            args[name] = draw(strategy)
            parts.append(f"{name}={args[name][0] if isinstance(args[name], tuple) else args[name]}")
    if draw(st.integers(0, 2)) == 0:
        args["padding"] = draw(st.sampled_from(["valid", "same"]))
        parts.append(f"padding={args['padding']}")
    if draw(st.integers(0, 3)) == 0:
        args["activation"] = draw(activations)
        parts.append(f"activation={args['activation']}")
    if draw(st.integers(0, 4)) == 0:
        args["bias"] = draw(st.booleans())
        parts.append(f"bias={str(args['bias']).lower()}")


@st.composite
def depthwise(draw) -> Desc:
    args, parts = {}, []
    if draw(st.booleans()):
        args["kernel"] = draw(pairs)
        parts.append(_size(args["kernel"]))
    _conv_options(draw, args, parts, multiplier=True)
    return Desc("DW", f"DW({', '.join(parts)})", args)


@st.composite
def separable(draw) -> Desc:
    args = {"filters": draw(st.integers(1, 6))}
    parts = [str(args["filters"])]
    if draw(st.booleans()):
        args["kernel"] = draw(pairs)
        parts.append(f"kernel={_size(args['kernel'])}")
    _conv_options(draw, args, parts, multiplier=True)
    return Desc("SC", f"SC({', '.join(parts)})", args)


@st.composite
def zero_padding(draw) -> Desc:
    form = draw(st.integers(0, 2))
    a, b, c, d = (draw(st.integers(0, 2)) for _ in range(4))
    text, pad = [(f"ZP({a})", a), (f"ZP(({a},{b}))", (a, b)), (f"ZP(pad=(({a},{b}),({c},{d})))", ((a, b), (c, d)))][
        form
    ]
    return Desc("ZP", text, {"pad": pad})


@st.composite
def up_sampling(draw) -> Desc:
    size = draw(pairs.filter(lambda p: max(p) <= 3))
    interpolation = draw(st.sampled_from(["nearest", "bilinear"]))
    return Desc(
        "UP", f"UP({_size(size)}, interpolation={interpolation})", {"size": size, "interpolation": interpolation}
    )


@st.composite
def conv_transpose(draw) -> Desc:
    args = {"filters": draw(st.integers(1, 6))}
    parts = [str(args["filters"])]
    if draw(st.booleans()):
        args["kernel"] = draw(pairs)
        parts.append(_size(args["kernel"]))
    if draw(st.booleans()):
        args["strides"] = draw(pairs.filter(lambda p: max(p) <= 3))
        parts.append(f"strides={_size(args['strides'])}")
    if draw(st.booleans()):
        args["padding"] = draw(st.sampled_from(["valid", "same"]))
        parts.append(f"padding={args['padding']}")
    if draw(st.integers(0, 3)) == 0:
        args["activation"] = draw(activations)
        parts.append(f"activation={args['activation']}")
    if draw(st.integers(0, 4)) == 0:
        args["bias"] = draw(st.booleans())
        parts.append(f"bias={str(args['bias']).lower()}")
    return Desc("CT", f"CT({', '.join(parts)})", args)


@st.composite
def batch_norm(draw) -> Desc:
    args, parts = {}, []
    for name in ("center", "scale"):
        if draw(st.integers(0, 2)) == 0:
            args[name] = draw(st.booleans())
            parts.append(f"{name}={str(args[name]).lower()}")
    if draw(st.integers(0, 3)) == 0:
        args["momentum"], args["epsilon"] = 0.9, 1e-5
        parts += ["momentum=0.9", "epsilon=1e-5"]
    return Desc("BN", f"BN({', '.join(parts)})", args)


@st.composite
def global_pool(draw) -> Desc:
    code = draw(st.sampled_from(["GAP", "GMP"]))
    if draw(st.booleans()):
        keepdims = draw(st.booleans())
        return Desc(code, f"{code}(keepdims={str(keepdims).lower()})", {"keepdims": keepdims})
    return Desc(code, f"{code}()")


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
    args = {"units": units}
    if draw(st.booleans()):
        args["activation"] = draw(activations)
        text += f", activation={args['activation']}"
    if draw(st.integers(0, 4)) == 0:
        args["bias"] = draw(st.booleans())
        text += f", bias={str(args['bias']).lower()}"
    return Desc("DN", f"DN({text})", args)


def _maybe_keyword(draw, name: str, value) -> str:
    """``value`` or ``name=value``: both spellings of an argument."""
    return f"{name}={value}" if draw(st.integers(0, 3)) == 0 else str(value)


@st.composite
def dropout(draw) -> Desc:
    rate = draw(st.sampled_from([0, 0.0, 0.25, 0.5]))
    text, args = _maybe_keyword(draw, "rate", rate), {"rate": float(rate)}
    if draw(st.integers(0, 3)) == 0:
        args["per_example"] = draw(st.booleans())
        text += f", per_example={str(args['per_example']).lower()}"
    return Desc("DP", f"DP({text})", args)


# --- the codes of modern CNNs -----------------------------------------------------------


def _flags(draw, args: dict, parts: list, names: tuple[str, ...]) -> None:
    for name in names:
        if draw(st.integers(0, 2)) == 0:
            args[name] = draw(st.booleans())
            parts.append(f"{name}={str(args[name]).lower()}")


@st.composite
def layer_norm(draw) -> Desc:
    args, parts = {}, []
    if draw(st.integers(0, 2)) == 0:
        args["axis"] = draw(st.sampled_from([-1, 1, 2, 3, -2, -3]))
        parts.append(f"axis={args['axis']}")
    if draw(st.integers(0, 3)) == 0:
        args["epsilon"] = draw(st.sampled_from([1e-6, 0.01]))
        parts.append(f"epsilon={args['epsilon']}")
    _flags(draw, args, parts, ("center", "scale"))
    return Desc("LN", f"LN({', '.join(parts)})", args)


@st.composite
def layer_scale(draw) -> Desc:
    if draw(st.booleans()):
        return Desc("LS", "LS()", {})
    init = draw(st.sampled_from([0.5, 1e-6, -2, 1]))
    return Desc("LS", f"LS({_maybe_keyword(draw, 'init', init)})", {"init": float(init)})


@st.composite
def reshape(draw) -> Desc:
    shape = draw(st.sampled_from([(-1,), (-1, 1), (-1, 2), (1, 1, -1), (2, -1, 1), (-1, 2, 2), (4,), (2, 3, -1)]))
    return Desc("RS", f"RS({', '.join(str(size) for size in shape)})", {"shape": shape})


@st.composite
def cropping(draw) -> Desc:
    form = draw(st.integers(0, 2))
    a, b, c, d = (draw(st.integers(0, 2)) for _ in range(4))
    crop = [a, (a, b), ((a, b), (c, d))][form]
    return Desc("CR", f"CR({crop})".replace(" ", ""), {"crop": crop})


@st.composite
def rescaling(draw) -> Desc:
    scale = draw(st.sampled_from([1 / 255, 2.0, -0.5]))
    if draw(st.booleans()):
        return Desc("RSC", f"RSC({scale})", {"scale": scale})
    offset = draw(st.sampled_from([-1.0, 0.5]))
    return Desc("RSC", f"RSC({scale}, offset={offset})", {"scale": scale, "offset": offset})


@st.composite
def normalization(draw) -> Desc:
    """Adapted (``NRM()``), or given: numbers, or one per channel (of a length that may not fit)."""
    form = draw(st.integers(0, 3))
    if form == 0:
        return Desc("NRM", "NRM()", {})
    numbers = (draw(st.sampled_from([0.5, -1.0])), draw(st.sampled_from([4.0, 0.25])))
    length = draw(st.integers(2, 3))
    tuples = (tuple(float(i) for i in range(length)), tuple(float(i + 1) for i in range(length)))
    if form == 1:
        mean, variance = numbers
    elif form == 2:
        mean, variance = tuples
    else:  # one of each, or lengths apart: Keras refuses both
        mean, variance = draw(
            st.sampled_from([(numbers[0], tuples[1]), (tuples[0], numbers[1]), (tuples[0][:1] + tuples[0], tuples[1])])
        )
    return Desc("NRM", f"NRM(mean={mean}, variance={variance})", {"mean": mean, "variance": variance})


def _not_growing(entry) -> bool:
    """The entry's example leaves no more values than it takes (8x8x4): repeated, it never grows the images."""
    out = check(f"{example_text(entry)} -> FL()", (8, 8, 4)).layers[0].output_shape
    return math.prod(out[1:]) <= 8 * 8 * 4


declared = st.sampled_from(
    [
        Desc(code, example_text(entry), dict(entry.example))
        for code, entry in LAYERS.items()
        if entry.keras and not entry.merge and _not_growing(entry)
    ]
)
"""Every code's example (but those that grow the images): a code added to the layer table is drawn from the start."""
modern = st.one_of(layer_norm(), layer_scale(), reshape(), cropping(), rescaling(), normalization(), declared)
"""One layer of a code modern CNNs brought (LN, LS, RS, CR, RSC, NRM), or any code's example."""


@st.composite
def activation(draw) -> Desc:
    name = draw(activations)
    return Desc("ACT", f"ACT({_maybe_keyword(draw, 'name', name)})", {"name": name})


simple = st.one_of(
    st.sampled_from([Desc("BN", "BN()"), Desc("FL", "FL()"), Desc("GAP", "GAP()"), Desc("GMP", "GMP()")]),
    dropout(),
    activation(),
)
layer = st.one_of(conv(), conv(), pool(), dense(), simple, modern)
graph_layer = st.one_of(
    conv(), conv(), pool(), dense(), simple, depthwise(), separable(), zero_padding(), up_sampling(), conv_transpose(), batch_norm(),
    global_pool(), modern,
)  # fmt: skip
"""Every code and argument; the straight-stack strategy above keeps the original mix."""


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
def specs(draw, unknown_sizes: bool = True):
    """(text, expansion, input shape, classes, declared); a declared input's height and width may be None."""
    input_shape = (draw(st.integers(3, 24)), draw(st.integers(3, 24)), draw(st.integers(1, 3)))
    classes = draw(st.integers(2, 12))
    elements = draw(st.lists(element(), min_size=1, max_size=6))
    declared = draw(st.booleans())
    texts = [text for text, _ in elements]
    if declared and unknown_sizes and draw(st.integers(0, 5)) == 0:
        input_shape = (None, None, input_shape[2])
    if declared:
        texts.insert(0, "IN({},{},{})".format(*input_shape))
    arrow = draw(st.sampled_from(["->", " -> ", "→", "\n-> "]))
    descs = [desc for _, expansion in elements for desc in expansion]
    return arrow.join(texts), descs, input_shape, classes, declared


@st.composite
def ended_specs(draw):
    """:func:`specs`, three times in four ending in FL(), GAP() or GMP(): a stack that ends on a
    4-D tensor is refused (its head's output is not (None, classes)), so without these Keras
    would build one example in twenty-five."""
    text, descs, input_shape, classes, declared = draw(specs())
    tail = draw(st.sampled_from(["", "FL()", "GAP()", "GMP()"]))
    if tail:
        text, descs = f"{text} -> {tail}", [*descs, Desc(tail[:-2], tail)]
    return text, descs, input_shape, classes, declared


# --- graphs ---------------------------------------------------------------------------
#
JOINING = tuple(sorted(code for code in MERGES if code in ("ADD", "CAT", "MUL")))
"""The merges that join any number of alike branches, which random graphs draw (``RSZTO`` takes two, the
second only for its size; its own tests draw it)."""


# Random layers rarely fit a merge, so most branches draw from layers that keep a
# width of C channels and the spatial size (`padding=same`, stride 1); the rest are
# drawn from every code, so that mismatches and broadcasting are generated too.


def _keeping(width: int):
    """Layers that keep (height, width, C): a branch made of them fits any merge."""
    kernel = st.sampled_from([1, 3])
    return st.one_of(
        kernel.map(lambda k: Desc("CN", f"CN({width}, {k}, padding=same)", {"filters": width, "kernel": (k, k), "padding": "same"})),
        kernel.map(lambda k: Desc("DW", f"DW({k}, padding=same)", {"kernel": (k, k), "padding": "same"})),
        kernel.map(lambda k: Desc("SC", f"SC({width}, {k}, padding=same)", {"filters": width, "kernel": (k, k), "padding": "same"})),
        batch_norm(),
        activation(),
        dropout(),
        st.sampled_from(["MP", "AP"]).map(lambda c: Desc(c, f"{c}(3, strides=1, padding=same)", {"pool": (3, 3), "strides": (1, 1), "padding": "same"})),
        st.just(Desc("GAP", "GAP(keepdims=true)", {"keepdims": True})),
        layer_norm().filter(lambda d: d.args.get("axis", -1) in (-1, 3)),
        layer_scale(),
        rescaling(),
        st.just(Desc("NRM", "NRM()", {})),
        st.just(Desc("CN", f"CN({width}, 1, groups={width})", {"filters": width, "kernel": (1, 1), "groups": width})),
        st.just(Desc("DP", "DP(0.25, per_example=true)", {"rate": 0.25, "per_example": True})),
    )  # fmt: skip


def _branch(depth: int, width: int):
    """A merge's branch: ``ID()`` or a short chain (which may hold a nested merge)."""

    @st.composite
    def branch(draw) -> tuple[str, list]:
        if draw(st.integers(0, 3)) == 0:
            return "ID()", []
        parts = draw(st.lists(graph_element(depth + 1, width), min_size=1, max_size=3))
        return " -> ".join(text for text, _ in parts), [node for _, expansion in parts for node in expansion]

    return branch()


def merge(depth: int, width: int):
    @st.composite
    def make(draw) -> tuple[str, list]:
        code = draw(st.sampled_from(JOINING))
        branches = draw(st.lists(_branch(depth, width), min_size=2, max_size=3))
        args, extra = {}, ""
        if code == "CAT" and draw(st.integers(0, 2)) == 0:
            args["axis"] = draw(st.sampled_from([-1, 1, 2, 3, -2]))
            extra = f", axis={args['axis']}"
        if code == "ADD" and draw(st.integers(0, 2)) == 0:
            args["scale"] = draw(st.sampled_from([0.17, -1.0, 0.5]))
            branches, extra = branches[:2], f", scale={args['scale']}"
        text = f"{code}({' | '.join(text for text, _ in branches)}{extra})"
        return text, [MergeDesc(code, [expansion for _, expansion in branches], args)]

    return make()


def graph_element(depth: int = 0, width: int = 4):
    """A layer or a merge (nested at most twice), maybe repeated."""

    @st.composite
    def make(draw) -> tuple[str, list]:
        kind = draw(st.integers(0, 9 if depth < 2 else 6))
        if kind >= 7:
            text, nodes = draw(merge(depth, width))
        else:
            one = draw(graph_layer if kind == 0 else _keeping(width))
            text, nodes = one.text, [one]
        if draw(st.integers(0, 5)) == 0:
            times = draw(st.integers(2, 3))
            return f"{text}*{times}", nodes * times
        return text, nodes

    return make()


def _named(elements: list, width: int):
    """The elements and a merge after them whose branches go back to some of them by name (``as t1``, ``@t1``).

    Only a tensor some branch goes back to is named, the branches all end in the merge, and
    one branch takes the last element's output (by name or as the merge's input), so no name
    is left unused and no layer's output is lost (which Keras would drop, and cnndsl refuses).
    """

    @st.composite
    def make(draw) -> list:
        code = draw(st.sampled_from(JOINING))
        branches = draw(st.lists(_branch(1, width), min_size=2, max_size=3))
        sources = [draw(st.one_of(st.none(), st.integers(0, len(elements) - 1))) for _ in branches]
        if all(source is None for source in sources):
            sources[0] = draw(st.integers(0, len(elements) - 1))
        if None not in sources and len(elements) - 1 not in sources:  # the last element's output would be lost
            sources[draw(st.integers(0, len(sources) - 1))] = None
        texts, expansions = [], []
        for (text, expansion), source in zip(branches, sources):
            if source is None:
                texts.append(text)
                expansions.append(expansion)
                continue
            take = f"@t{source}"
            texts.append(take if text == "ID()" else f"{take} -> {text}")
            expansions.append([TakeDesc(f"t{source}"), *expansion])
        named = []
        for index, (text, expansion) in enumerate(elements):
            if index in sources:
                text, expansion = f"{text} as t{index}", [*expansion, NameDesc(f"t{index}")]
            named.append((text, expansion))
        return [*named, (f"{code}({' | '.join(texts)})", [MergeDesc(code, expansions)])]

    return make()


@st.composite
def graph_specs(draw):
    """Specs with merges of every kind, ID branches and every code; same tuple as :func:`specs`."""
    input_shape = (draw(st.integers(4, 12)), draw(st.integers(4, 12)), draw(st.integers(1, 3)))
    classes = draw(st.integers(2, 6))
    width = draw(st.integers(1, 4))
    stem = Desc("CN", f"CN({width}, 1)", {"filters": width, "kernel": (1, 1)})
    elements = [(stem.text, [stem])] if draw(st.integers(0, 4)) else []
    elements += draw(st.lists(graph_element(0, width), min_size=1, max_size=3))
    if not any(isinstance(node, MergeDesc) for _, nodes in elements for node in nodes):
        elements.append(draw(merge(0, width)))
    if draw(st.integers(0, 2)) == 0:
        elements = draw(_named(elements, width))
    tail = draw(st.sampled_from(["", "GAP()", "GAP()", "FL()", "GMP()", "FL()"]))
    texts = [text for text, _ in elements] + ([tail] if tail else [])
    nodes = [node for _, expansion in elements for node in expansion] + ([Desc(tail[:-2], tail)] if tail else [])
    return " -> ".join(texts), nodes, input_shape, classes, False


# --- mutations of valid specs, and random search spaces -------------------------------------


def _bare_specs(paths) -> list[str]:
    """The example files that hold one bare spec (the others are spec files of definitions)."""
    texts = [path.read_text("utf-8") for path in paths]
    return [text for text in texts if not re.search(r"^\s*(block\s+)?[A-Za-z_]\w*\s*=", text, re.M)]


SEEDS = _bare_specs(sorted(EXAMPLES.glob("*.cnn"))) + [
    "CN(20,(5,5))->BN()->CN(20)->MP(2)->FL()->DN(128)",
    "IN(32,32,3)->(CN(32,3,padding=same)->BN()->ACT(relu))*3->MP(2,2)->GAP()->DN(10)",
    "CN(8, kernel=(3,3), strides=2, padding=same, activation=gelu, dilation=1) → AP(2) → FL() → DP(0.5)",
    "# a comment\r\nCN(16)\t->\tMP(2,strides=1)->GMP()->DN(10, activation=softmax)\r\n",
    "CN(8,padding=same)->ADD(CN(8,3,padding=same)->BN(center=false)|ID())*2->CAT(DW(3)|SC(8,3),axis=-1)->GAP()",
    "ZP(((1,2),(3,0)))->UP(2)->MUL(ID()|GAP(keepdims=true)->CN(1,1,activation=sigmoid,bias=false))->FL()",
]


TOKEN = re.compile(r"->|→|[A-Za-z_][A-Za-z0-9_]*|[+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?|#[^\n]*|\s+|.", re.S)


NOTATION_CHARS = "CNMPADFLBGIT()(),,.*->=#0123456789 \n\t\r_eE+-reluvalidsame\ufeff→@[]'|"


PIECES = [
    "CN", "MP", "AP", "GAP", "GMP", "DP", "FL", "DN", "BN", "ACT", "IN", "(", ")", ",", "->", "→", "*", "=",
    "0", "1", "3", "-1", "0.5", "1e999", "9" * 40, "(3,3)", "relu", "same", "kernel", "strides", "padding",
    "units", "x", " ", "\n", "# c\n", "\t", "\r\n", "\ufeff", "\x00", "\ud800", "\u202e", "\u0301",
    "ADD", "CAT", "MUL", "|", "ID", "DW", "SC", "ZP", "UP", "true", "false", "bias", "keepdims", "axis",
]  # fmt: skip


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


@st.composite
def mutated(draw) -> str:
    """A valid spec with a few tokens deleted, inserted, duplicated or swapped."""
    parts = tokens(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(parts) - 1))
        operation = draw(st.sampled_from(["delete", "insert", "duplicate", "swap", "replace"]))
        if operation == "delete":
            del parts[index]
        elif operation == "insert":
            parts.insert(index, draw(st.sampled_from(PIECES)))
        elif operation == "duplicate":
            parts.insert(index, parts[index])
        elif operation == "swap":
            other = draw(st.integers(0, len(parts) - 1))
            parts[index], parts[other] = parts[other], parts[index]
        else:
            parts[index] = draw(st.sampled_from(PIECES))
        if not parts:
            break
    return "".join(parts)


@st.composite
def char_mutated(draw) -> str:
    """A valid spec with a few characters deleted, inserted or duplicated."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from(NOTATION_CHARS))
        text = draw(st.sampled_from([text[:index] + text[index + 1 :], text[:index] + char + text[index:]]))
    return text


@st.composite
def values(draw, choices: list[str]) -> str:
    picked = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique=True))
    return picked[0] if len(picked) == 1 and draw(st.booleans()) else "{" + ", ".join(picked) + "}"


@st.composite
def layers(draw) -> str:
    kind = draw(st.sampled_from(["CN", "MP", "DP", "BN", "alt", "repeat", "merge"]))
    if kind == "merge":
        inner = draw(st.sampled_from(["CN({4, 8}, 1)", "{ID() | BN()}", "CN(4, {1, 3}, padding=same)"]))
        return f"{draw(st.sampled_from(['ADD', 'CAT']))}(ID() | {inner})"
    if kind == "CN":
        return f"CN({draw(values(['4', '8', '16']))}, {draw(values(['1', '3', '5', '(3, 1)']))})"
    if kind == "MP":
        return f"MP({draw(values(['2', '3', '(2, 1)']))})"
    if kind == "DP":
        return f"DP({draw(values(['0.1', '0.5']))})"
    if kind == "BN":
        return "BN()"
    if kind == "repeat":
        low = draw(st.integers(1, 2))
        return f"CN({draw(values(['4', '8']))}) * {{{low}..{low + draw(st.integers(0, 2))}}}"
    first = draw(st.lists(st.sampled_from(["CN(4)", "MP(2)", "BN()", "CN({4, 8}, 5)"]), min_size=1, max_size=2))
    return "{" + " -> ".join(first) + " | " + draw(st.sampled_from(["CN(8, 7)", "AP(2)", "DP(0.2)"])) + "}"


@st.composite
def spaces(draw) -> str:
    return " -> ".join(draw(st.lists(layers(), min_size=1, max_size=4))) + " -> FL()"
