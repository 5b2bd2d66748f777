"""The layer table: one entry per layer code, read by every stage.

An entry holds the code, its Keras class, the argument schema (names, kinds,
defaults, bounds), the shape rule, the weight rule, the multiply-accumulate rule
and the Keras constructor. Adding a layer code means adding one entry here.
"""

from __future__ import annotations

import functools
import math

from cnndsl import ast
from cnndsl.records import record
from cnndsl.shapes import (
    Shape,
    ShapeProblem,
    UnknownSize,
    broadcast_shapes,
    compute_conv_output_shape,
    compute_conv_transpose_output_shape,
    compute_pooling_output_shape,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

MAX_UNITS = 1_000_000
"""Largest filter or unit count accepted (a real layer is far below it)."""
MAX_WINDOW = 4096
"""Largest kernel, pool, stride or dilation accepted."""
MAX_INPUT_SIZE = 65536
"""Largest input height, width or channel count accepted."""

ACTIVATIONS = (
    "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "swish", "mish",
    "sigmoid", "hard_sigmoid", "hard_silu", "hard_swish", "softmax", "log_softmax",
    "softplus", "softsign", "tanh", "exponential", "linear", "hard_tanh", "squareplus",
    "log_sigmoid", "sparse_plus", "tanh_shrink", "soft_shrink", "hard_shrink", "sparse_sigmoid",
    "sparsemax",
)  # fmt: skip
"""Every activation Keras 3 knows by name, but ``glu`` (it halves the last axis) and
``threshold`` (it needs two more arguments)."""
PADDINGS = ("valid", "same")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")
MAX_WEIGHT_VALUES = 2**63 - 1
"""Most values one weight tensor may hold: Keras refuses to create a larger one."""


class ArgProblem(Exception):
    """An argument value is not acceptable; carries the node to point at, the diagnostic's code,
    and the word to write instead when one is close (a did-you-mean fix)."""

    def __init__(self, message: str, node: ast.Value | None = None, hint: str | None = None, code: str = "bad-value",
                 replacement: str | None = None):  # fmt: skip
        super().__init__(message)
        self.message, self.node, self.hint = message, node, hint
        self.code, self.replacement = code, replacement


# --- argument kinds: ast value -> Python value --------------------------------------


def _whole(value: ast.Value, what: str, lo: int, hi: float) -> int:
    if not isinstance(value, ast.Number):
        raise ArgProblem(f"{what} must be a whole number, not {_show(value)}", value)
    if isinstance(value.value, float) and not math.isinf(value.value):
        raise ArgProblem(f"{what} must be a whole number, not {value.text}", value)
    if not lo <= value.value <= hi:
        bound = f"at least {lo}" if value.value < lo else f"at most {hi:,}"
        raise ArgProblem(f"{what} must be {bound}, not {_short(value.text)}", value)
    return int(value.value)


def count(lo: int = 1, hi: int = MAX_UNITS) -> Callable[[ast.Value, str], int]:
    """A whole number in [lo, hi]."""
    return lambda value, what: _whole(value, what, lo, hi)


def size(n: int, lo: int = 1, hi: int = MAX_WINDOW) -> Callable[[ast.Value, str], tuple[int, ...]]:
    """``k`` (meaning k repeated n times) or a tuple of n whole numbers."""

    def convert(value: ast.Value, what: str) -> tuple[int, ...]:
        if isinstance(value, ast.Tuple):
            if len(value.items) != n:
                raise ArgProblem(f"{what} needs {n} values, not {len(value.items)}", value)
            return tuple(_whole(item, what, lo, hi) for item in value.items)
        return (_whole(value, what, lo, hi),) * n

    return convert


def fraction(value: ast.Value, what: str) -> float:
    """A number in [0, 1)."""
    if not isinstance(value, ast.Number):
        raise ArgProblem(f"{what} must be a number, not {_show(value)}", value)
    if not 0 <= value.value < 1:
        raise ArgProblem(f"{what} must be at least 0 and below 1, not {_short(value.text)}", value)
    return float(value.value)


def choice(options: tuple[str, ...]) -> Callable[[ast.Value, str], str]:
    """One bare word out of ``options``."""

    def convert(value: ast.Value, what: str) -> str:
        if not isinstance(value, ast.Word) or value.name not in options:
            close = suggest(value.name, options) if isinstance(value, ast.Word) else None
            hint = f"did you mean {close}?" if close else "one of: " + ", ".join(options)
            raise ArgProblem(f"unknown {what} {_show(value)}", value, hint, "unknown-word", close)
        return value.name

    convert.options = options  # the words an editor offers
    return convert


def flag(value: ast.Value, what: str) -> bool:
    """The bare word ``true`` or ``false``."""
    if isinstance(value, ast.Word) and value.name in ("true", "false"):
        return value.name == "true"
    raise ArgProblem(
        f"{what} must be true or false, not {_show(value)}", value, "booleans are the bare words true and false"
    )


flag.options = ("true", "false")


def real(lo: float, hi: float, low_open: bool = False) -> Callable[[ast.Value, str], float]:
    """A number in [lo, hi] (or (lo, hi] when ``low_open``)."""

    def convert(value: ast.Value, what: str) -> float:
        if not isinstance(value, ast.Number):
            raise ArgProblem(f"{what} must be a number, not {_show(value)}", value)
        number = value.value
        if math.isnan(number) or number > hi or number < lo or (low_open and number == lo):
            bound = f"above {lo}" if low_open else f"at least {lo}"
            raise ArgProblem(f"{what} must be {bound} and at most {hi}, not {_short(value.text)}", value)
        return float(number)

    return convert


def integer(lo: int, hi: int) -> Callable[[ast.Value, str], int]:
    """A whole number in [lo, hi], negative ones included."""
    return lambda value, what: _whole(value, what, lo, hi)


def padding_amounts(value: ast.Value, what: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """``p``, ``(ph, pw)`` or ``((top, bottom), (left, right))`` -> ``((top, bottom), (left, right))``.

    As in Keras, each of the two entries may be a number (both sides) or a pair.
    """
    if not isinstance(value, ast.Tuple):
        value = ast.Tuple((value, value), value.span)
    if len(value.items) != 2:
        raise ArgProblem(f"{what} needs p, (ph, pw) or ((top, bottom), (left, right))", value)
    return tuple(size(2, 0, MAX_WINDOW)(item, what) for item in value.items)  # type: ignore[return-value]


def reals(lo: float, hi: float) -> Callable[[ast.Value, str], float | tuple[float, ...]]:
    """A number in [lo, hi], or a tuple of them (one per channel)."""
    one = real(lo, hi)

    def convert(value: ast.Value, what: str) -> float | tuple[float, ...]:
        if isinstance(value, ast.Tuple):
            return tuple(one(item, what) for item in value.items)
        return one(value, what)

    return convert


def target_shape(value: ast.Value, what: str) -> tuple[int, ...]:
    """RS's target: whole numbers from 1 (or one -1, the size left over), at most three of them."""
    items = value.items if isinstance(value, ast.Tuple) else (value,)
    if len(items) > 3:
        raise ArgProblem(f"{what} has {len(items)} sizes; the notation reshapes to at most 3", value)
    sizes = tuple(_whole(item, what, -1, MAX_INPUT_SIZE**2) for item in items)
    for item, size in zip(items, sizes):
        if size == 0:
            raise ArgProblem(f"{what} sizes are whole numbers from 1, or -1 for the size left over, not 0", item)
    if sizes.count(-1) > 1:
        raise ArgProblem(f"{what} may leave one size to -1, not {sizes.count(-1)}", value, "give every other size")
    return sizes


def _show(value: ast.Value) -> str:
    if isinstance(value, ast.Number):
        return _short(value.text)
    if isinstance(value, ast.Word):
        return repr(value.name)
    return "a tuple"


def _short(text: str) -> str:
    return text if len(text) <= 24 else text[:10] + "..." + text[-6:] + f" ({len(text)} characters)"


def suggest(word: str, options) -> str | None:
    """The closest option to a misspelt word, ignoring case, or None."""
    by_upper = {option.upper(): option for option in options}
    if word.upper() in by_upper:
        return by_upper[word.upper()]
    import difflib  # only for a misspelling: not loaded when a spec checks

    close = difflib.get_close_matches(word.upper(), list(by_upper), n=1, cutoff=0.6)
    return by_upper[close[0]] if close else None


# --- the table ----------------------------------------------------------------------

REQUIRED: Any = object()


@record
class Param:
    """One argument of a layer code."""

    name: str
    kind: Callable[[ast.Value, str], Any]
    default: Any = REQUIRED
    inherit: bool = False
    """An omitted value repeats the nearest preceding layer of the same code."""
    shown: str | None = None
    """How the default reads in a signature, when not the value itself."""
    same_as: str | None = None
    """An omitted value takes this other parameter's value (MP's strides: its pool)."""
    literal: bool = False
    """Written exactly as it is (RS's shape ``(1, 1, 8)`` is not the shorthand ``1``)."""
    quiet: bool = False
    """Left out of the canonical form at its default: an argument added to a code later, so that
    every spec written before it keeps its architecture hash."""


@record
class Weight:
    """One weight tensor of a layer, named and shaped as Keras creates it."""

    name: str
    shape: tuple[int, ...]
    trainable: bool = True

    @property
    def size(self) -> int:
        """Values in the tensor; 0 while a size is unknown (after an earlier error)."""
        return 0 if None in self.shape else math.prod(self.shape)


@record
class KerasArg:
    """How one argument of a code reaches a Keras constructor, and comes back from a Keras config.

    ``to_keras(value, input_shape)`` and ``from_keras(config_value)`` convert where the two
    spell a value differently; ``default`` is Keras's own (an emitted call leaves it out, and a
    config without the key reads as it). ``name=None`` is a Keras argument the notation
    derives from the input alone (LayerScale's ``projection_dim``): built, never read.
    """

    name: str | None
    keras: str
    default: Any = REQUIRED
    positional: bool = False
    to_keras: Callable[[Any, Shape], Any] | None = None
    from_keras: Callable[[Any], Any] | None = None


@record
class KerasClass:
    """One Keras class a code is built as: its name, its arguments, and when it applies.

    ``custom`` classes live in :mod:`cnndsl.backends.keras_layers` (saved as ``cnndsl>Name``);
    ``reads`` names other Keras classes that read back as this form (InceptionResNetV2's
    ``CustomScaleLayer``); ``when`` picks the form for a layer's arguments (the first that
    holds is built); ``refuse`` names what in a Keras config the notation cannot write.
    """

    name: str
    args: tuple[KerasArg, ...] = ()
    custom: bool = False
    reads: tuple[str, ...] = ()
    when: Callable[[Mapping], bool] = lambda args: True
    refuse: Callable[[Mapping], str | None] = lambda config: None


def _no_weights(shape: Shape, args: Mapping) -> tuple[Weight, ...]:
    return ()


def _no_macs(in_shape: Shape, out_shape: Shape, args: Mapping) -> int:
    return 0


def _same_shape(shape: Shape, args: Mapping) -> Shape:
    return shape


@record
class LayerType:
    """Everything cnndsl knows about one layer code."""

    code: str
    keras_class: str
    summary: str
    params: tuple[Param, ...] = ()
    output_shape: Callable[[Shape, Mapping], Shape] = _same_shape
    weights: Callable[[Shape, Mapping], tuple[Weight, ...]] = _no_weights
    """The weight tensors for an input shape, in Keras's order (its ``layer.weights``)."""
    macs: Callable[[Shape, Shape, Mapping], int] = _no_macs
    input_rank: int | None = None
    """The rank the input must have (with batch axis), when the layer needs one."""
    collect: str | None = None
    """A parameter that gathers every positional argument (``MP(2,2)`` is a 2x2 pool)."""
    is_input: bool = False
    """A declaration of the input shape, not a layer; allowed only first."""
    is_identity: bool = False
    """``ID()``: passes its input on; no layer."""
    merge: bool = False
    """A merge of branches (``ADD(A | B)``): ``output_shape`` takes the list of branch shapes."""
    kind: str = "other"
    """What pictures colour it as: convolution, pooling, normalization, dense, merge, reshape, other."""
    warn: Callable[[Shape, Mapping], str | None] = lambda shape, args: None
    """A warning about a legal but likely unintended input (a merge gets every branch's shape)."""
    pointwise_warning: bool = False
    """Its warning is withdrawn when its output later meets a spatial layer: ``DN`` on a 4-D tensor
    before more convolutions is a pointwise convolution (ConvNeXt's), not a forgotten ``FL()``."""
    check_args: Callable[[Mapping], str | tuple[str, str] | None] = lambda args: None
    """A problem with a combination of arguments (a message, or a message and a hint), or None."""
    keras: tuple[KerasClass, ...] = ()
    """How Keras builds it (the first form whose ``when`` holds): the Keras builder, the
    Keras-source emitter and the Keras reader all derive from this; empty for IN and ID."""

    @functools.cached_property
    def param_names(self) -> tuple[str, ...]:
        return tuple(param.name for param in self.params)

    @functools.cached_property
    def labels(self) -> dict[str, str]:
        """How messages name each parameter: ``{"kernel": "CN kernel", ...}``."""
        return {param.name: f"{self.code} {param.name}" for param in self.params}

    @functools.cached_property
    def inherited_params(self) -> tuple[str, ...]:
        """The parameters an omitted value repeats from the nearest layer of this code."""
        return tuple(param.name for param in self.params if param.inherit)

    @functools.cached_property
    def inherited_keys(self) -> tuple[tuple[str, str], ...]:
        """``(code, name)`` of each inherited parameter: how the resolver keys what a layer passes on."""
        return tuple((self.code, name) for name in self.inherited_params)

    @functools.cached_property
    def keras_name(self) -> str:
        """Keras's default layer name stem (``Conv2D`` -> ``conv2d``), computed once per code."""
        return snake_case(self.keras_class)

    def keras_form(self, args: Mapping) -> KerasClass:
        """The Keras class this layer is built as, for its resolved arguments."""
        return next(form for form in self.keras if form.when(args))

    def keras_class_for(self, args: Mapping) -> str:
        """The name of the Keras class built for these arguments (``ADD(..., scale=0.2)``: ScaledAdd)."""
        return self.keras_form(args).name if len(self.keras) > 1 else self.keras_class

    def keras_name_for(self, args: Mapping) -> str:
        """Keras's name stem for the class built for these arguments."""
        return snake_case(self.keras_form(args).name) if len(self.keras) > 1 else self.keras_name

    def signature(self) -> str:
        """``CN(filters, kernel, strides=1, ...)`` for messages and docs."""
        parts = [
            p.name if p.default is REQUIRED else f"{p.name}={p.shown or _default_text(p.default)}" for p in self.params
        ]
        return f"{self.code}({', '.join(parts)})"


def snake_case(name: str) -> str:
    """Keras's name stem of a class: ``Conv2D`` -> ``conv2d``, ``LayerScale`` -> ``layer_scale``."""
    import re

    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _default_text(default: Any) -> str:
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, tuple) and len(set(default)) == 1:
        return str(default[0])
    return str(default).replace(" ", "")


def _prod(values) -> int:
    """The product of the known sizes (None is unknown)."""
    return math.prod(values) if None not in values else math.prod(v for v in values if v is not None)


# Conv2D


def _conv_shape(shape: Shape, a: Mapping) -> Shape:
    groups = a.get("groups", 1)
    if groups > 1 and shape[-1] is not None and shape[-1] % groups:
        raise ShapeProblem(
            f"groups={groups} must divide the input's {shape[-1]} channels",
            f"use groups dividing {shape[-1]}, or give the layer before it a channel count divisible by {groups}",
        )
    return (*_conv_sizes(shape[:-1], a["kernel"], a["strides"], a["padding"], a["dilation"]), a["filters"])


@functools.lru_cache(maxsize=1024)
def _conv_sizes(front: Shape, kernel, strides, padding: str, dilation) -> Shape:
    """A convolution's batch and spatial output sizes, which no channel count changes.

    Kept per input size and arguments: a large spec convolves one image size many times.
    Raises ShapeProblem (never kept) as :func:`compute_conv_output_shape` does.
    """
    return compute_conv_output_shape((*front, None), None, kernel, strides, padding, dilation)[:-1]


def _bias(units: int, a: Mapping) -> tuple[Weight, ...]:
    return (Weight("bias", (units,)),) if a.get("bias", True) else ()


def _per_group(channels: int | None, groups: int) -> int | None:
    return None if channels is None else channels // groups


def _conv_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    kernel = (*a["kernel"], _per_group(shape[-1], a["groups"]), a["filters"])
    return (Weight("kernel", kernel), *_bias(a["filters"], a))


def _conv_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    return _prod(out_shape[1:]) * _prod(a["kernel"]) * ((in_shape[-1] or 0) // a["groups"])


def _conv_args(a: Mapping) -> str | None:
    """Keras's Conv2D refuses these (its depthwise and separable convolutions take strides with dilation)."""
    if max(a["strides"]) > 1 and max(a["dilation"]) > 1:
        return "strides > 1 cannot be combined with dilation > 1 in CN (Keras refuses it; DW and SC take both)"
    if a["filters"] % a["groups"]:
        message = f"CN groups={a['groups']} must divide its {a['filters']} filters (Keras refuses it)"
        return message, f"filters a multiple of {a['groups']}, or groups dividing {a['filters']}"
    return None


# DepthwiseConv2D, SeparableConv2D


def _times(size: int | None, factor: int) -> int | None:
    """A size times a factor; unknown (None, after an earlier error) stays unknown."""
    return None if size is None else size * factor


def _depthwise_shape(shape: Shape, a: Mapping) -> Shape:
    front = _conv_sizes(shape[:-1], a["kernel"], a["strides"], a["padding"], a["dilation"])
    return (*front, _times(shape[-1], a["depth_multiplier"]))


def _depthwise_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    kernel = Weight("kernel", (*a["kernel"], shape[-1], a["depth_multiplier"]))
    return (kernel, *_bias(_times(shape[-1], a["depth_multiplier"]), a))


def _depthwise_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    return _prod(out_shape[1:]) * _prod(a["kernel"])


def _separable_shape(shape: Shape, a: Mapping) -> Shape:
    return _conv_shape(shape, a)


def _separable_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    middle = _times(shape[-1], a["depth_multiplier"])
    return (
        Weight("depthwise_kernel", (*a["kernel"], shape[-1], a["depth_multiplier"])),
        Weight("pointwise_kernel", (1, 1, middle, a["filters"])),
        *_bias(a["filters"], a),
    )


def _separable_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    pixels = _prod(out_shape[1:-1])
    middle = (in_shape[-1] or 0) * a["depth_multiplier"]
    return pixels * middle * (_prod(a["kernel"]) + a["filters"])


_CONV_TAIL = (
    Param("strides", size(2), (1, 1)),
    Param("padding", choice(PADDINGS), "valid"),
)


def _conv_rest(multiplier: bool) -> tuple[Param, ...]:
    """The arguments after the kernel that CN, DW and SC share (DW and SC add depth_multiplier)."""
    extra = (Param("depth_multiplier", count(1, MAX_WINDOW), 1),) if multiplier else ()
    return (
        *_CONV_TAIL,
        *extra,
        Param("activation", choice(ACTIVATIONS), "relu"),
        Param("dilation", size(2), (1, 1)),
        Param("bias", flag, True),
    )


# Conv2DTranspose


def _conv_transpose_shape(shape: Shape, a: Mapping) -> Shape:
    return compute_conv_transpose_output_shape(shape, a["filters"], a["kernel"], a["strides"], a["padding"])


def _conv_transpose_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    """Keras's kernel is (kh, kw, filters, input channels): the transpose of a convolution's."""
    return (Weight("kernel", (*a["kernel"], a["filters"], shape[-1])), *_bias(a["filters"], a))


def _conv_transpose_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    """Every input value is multiplied by a whole kernel of every filter."""
    return _prod(in_shape[1:]) * _prod(a["kernel"]) * a["filters"]


def _refuse_conv_transpose(config: Mapping) -> str | None:
    if config.get("output_padding") is not None:
        return f"output_padding={config['output_padding']!r} has no notation"
    if tuple(_pair(config.get("dilation_rate", 1))) != (1, 1):
        return f"dilation_rate={config['dilation_rate']!r} has no notation in CT"
    return _channels_last(config)


# ZeroPadding2D, UpSampling2D


def _zero_padding_shape(shape: Shape, a: Mapping) -> Shape:
    (top, bottom), (left, right) = a["pad"]
    height, width = shape[1], shape[2]
    return (
        shape[0],
        None if height is None else height + top + bottom,
        None if width is None else width + left + right,
        shape[3],
    )


def _up_sampling_shape(shape: Shape, a: Mapping) -> Shape:
    (sh, sw), height, width = a["size"], shape[1], shape[2]
    return (shape[0], None if height is None else height * sh, None if width is None else width * sw, shape[3])


# Pooling


def _pool_shape(shape: Shape, a: Mapping) -> Shape:
    pad, ceil = a.get("pad", (0, 0)), a.get("ceil", False)
    if pad == (0, 0) and not ceil:
        return compute_pooling_output_shape(shape, a["pool"], a["strides"], a["padding"])
    strides = a["strides"] or a["pool"]
    sizes = tuple(
        _padded_pool_size(size, window, stride, amount, ceil)
        for size, window, stride, amount in zip(shape[1:3], a["pool"], strides, pad)
    )
    return (shape[0], *sizes, shape[3])


def _padded_pool_size(size: int | None, window: int, stride: int, pad: int, ceil: bool) -> int | None:
    """PyTorch's pooling size: ``pad`` on both sides; ``ceil`` keeps a last window that overhangs, if it starts
    inside the input or its leading padding."""
    if size is None:
        return None
    if size + 2 * pad < window:
        raise ShapeProblem(
            f"the pool {window} is larger than the {size} rows or columns padded by {pad} on each side",
            "use a smaller pool, or more padding",
        )
    span = size + 2 * pad - window
    out = (-(-span // stride) if ceil else span // stride) + 1
    return out - 1 if ceil and (out - 1) * stride >= size + pad else out


def _pool_args(a: Mapping) -> str | tuple[str, str] | None:
    """pad= and ceil= are PyTorch's explicit padding: with ``valid`` only, at most half the pool (as PyTorch)."""
    pad, ceil = a.get("pad", (0, 0)), a.get("ceil", False)
    if (pad != (0, 0) or ceil) and a["padding"] != "valid":
        return "pad= and ceil= pad explicitly: they go with padding=valid", "leave padding out, or drop pad= and ceil="
    if any(amount > window // 2 for amount, window in zip(pad, a["pool"])):
        return f"pad={pad} is more than half the pool {a['pool']} (PyTorch refuses it)", "pad at most half the pool"
    return None


_POOL_PARAMS = (
    Param("pool", size(2), (2, 2)),
    Param("strides", size(2), None, shown="pool", same_as="pool"),
    Param("padding", choice(PADDINGS), "valid"),
    Param("pad", size(2, 0), (0, 0), shown="0", quiet=True),
    Param("ceil", flag, False, quiet=True),
)
_AVERAGE_POOL_PARAMS = (*_POOL_PARAMS, Param("count_pad", flag, False, quiet=True))


def _global_pool_shape(shape: Shape, a: Mapping) -> Shape:
    return (shape[0], 1, 1, shape[-1]) if a["keepdims"] else (shape[0], shape[-1])


_GLOBAL_POOL_PARAMS = (Param("keepdims", flag, False),)

# Dense


def _dense_shape(shape: Shape, a: Mapping) -> Shape:
    if shape[-1] is None:
        raise UnknownSize(
            f"DN needs a known last axis, but gets {_fmt(shape)}: the input's size is unknown",
            "end the spatial part with GAP() or GMP(), which need no size, instead of FL()",
        )
    return (*shape[:-1], a["units"])


def _dense_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    return (Weight("kernel", (shape[-1], a["units"])), *_bias(a["units"], a))


def _dense_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    return _prod(in_shape[1:]) * a["units"]


def _dense_warn(shape: Shape, a: Mapping) -> str | None:
    if len(shape) <= 2:
        return None
    return f"DN on a {len(shape)}-D tensor {_fmt(shape)} acts on the last axis only; add FL() or GAP() before it to classify the whole image"


def _fmt(shape: Shape) -> str:
    from cnndsl.shapes import format_shape

    return format_shape(shape)


# Flatten, BatchNormalization


def _flatten_shape(shape: Shape, a: Mapping) -> Shape:
    rest = shape[1:]
    return (shape[0], None if None in rest else math.prod(rest))


def _bn_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    channels = (shape[-1],)
    return (
        *((Weight("gamma", channels),) if a["scale"] else ()),
        *((Weight("beta", channels),) if a["center"] else ()),
        Weight("moving_mean", channels, trainable=False),
        Weight("moving_variance", channels, trainable=False),
    )


# Merges: Add and Multiply broadcast as NumPy does; Concatenate joins one axis.


def _elementwise_shape(shapes: list[Shape], a: Mapping) -> Shape:
    """``keras.layers.Add``/``Multiply``: the branches' shapes broadcast together, batch axis aside."""
    out = shapes[0][1:]
    try:
        for shape in shapes[1:]:
            out = broadcast_shapes(out, shape[1:])
    except ShapeProblem as problem:
        if len({len(shape) for shape in shapes}) > 1:
            raise ShapeProblem(problem.message, _ranks_hint(shapes), "merge-ranks") from None
        hint = "give the shortcut a projection such as CN(filters, 1, strides=2) -> BN(), or use padding=same"
        raise ShapeProblem(problem.message, hint) from None
    return (None, *out)


def _ranks_hint(shapes: list[Shape]) -> str:
    """What to do about merge branches of different ranks (a 2-D one beside a 4-D one)."""
    ranks = " and ".join(f"{rank}-D" for rank in sorted({len(shape) for shape in shapes}))
    return f"the branches are {ranks}: end the spatial part (FL() or GAP()) in every branch, or only after the merge"


def _elementwise_warn(shapes: list[Shape], a: Mapping) -> str | None:
    """Broadcasting as Keras does is legal; different ranks or a grown output are almost always a mistake."""
    out = _elementwise_shape(shapes, a)
    listed = " | ".join(_fmt(shape) for shape in shapes)
    if len({len(shape) for shape in shapes}) > 1:
        return f"broadcasts branches of different ranks ({listed}) to {_fmt(out)}"
    if None not in out[1:] and all(None not in s[1:] and _prod(out[1:]) > _prod(s[1:]) for s in shapes):
        return f"broadcasts {listed} to {_fmt(out)}, larger than every branch"
    return None


def _concatenate_shape(shapes: list[Shape], a: Mapping) -> Shape:
    """``keras.layers.Concatenate``: equal ranks, equal sizes on every axis but ``axis``."""
    rank = len(shapes[0])
    if any(len(shape) != rank for shape in shapes):
        hint = f"CAT never broadcasts; {_ranks_hint(shapes)}"
        raise ShapeProblem("CAT needs branches of one rank", hint, "merge-ranks")
    axis = a["axis"] % rank if -rank <= a["axis"] < rank else None
    if axis is None or axis == 0:
        raise ShapeProblem(f"CAT axis={a['axis']} is not an axis of a {rank}-D tensor other than the batch axis")
    out = list(shapes[0])
    for shape in shapes[1:]:
        for index, (mine, theirs) in enumerate(zip(out, shape)):
            if index == axis:
                out[index] = None if mine is None or theirs is None else mine + theirs
            elif mine is not None and theirs is not None and mine != theirs:
                raise ShapeProblem(
                    "CAT needs equal sizes on every axis but the joined one",
                    "CAT joins along one axis: the other sizes must agree (padding=same, or equal poolings)",
                )
            elif mine is None:
                out[index] = theirs
    return tuple(out)


# LayerNormalization, LayerScale, Rescaling, Normalization


def _axis_size(shape: Shape, axis: int) -> int | None:
    """The size of one (non-batch) axis; ShapeProblem when it is not one."""
    rank = len(shape)
    if not -rank <= axis < rank or axis % rank == 0:
        raise ShapeProblem(f"axis={axis} is not an axis of a {rank}-D tensor other than the batch axis")
    return shape[axis]


def _ln_shape(shape: Shape, a: Mapping) -> Shape:
    if _axis_size(shape, a["axis"]) is None and (a["center"] or a["scale"]):
        weights = " and ".join(name for name, kept in (("gamma", a["scale"]), ("beta", a["center"])) if kept)
        raise UnknownSize(
            f"LN axis={a['axis']} normalises an axis whose size is unknown ({_fmt(shape)}), "
            f"but its {weights} need{'s' if ' ' not in weights else ''} that size",
            "normalise over the channels (axis=-1), give IN(...) that size, or use center=false, scale=false",
        )
    return shape


def _ln_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    axis = a["axis"]
    size = (shape[axis] if -len(shape) <= axis < len(shape) else None,)  # a bad axis is the shape rule's error
    return (
        *((Weight("gamma", size),) if a["scale"] else ()),
        *((Weight("beta", size),) if a["center"] else ()),
    )


def _ln_args(a: Mapping) -> str | None:
    if a["axis"] == 0:
        return "LN axis=0 is the batch axis", "normalise over axis=-1 (the channels), 1 (rows) or 2 (columns)"
    return None


def _layer_scale_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    return (Weight("gamma", (shape[-1],)),)


def _channels_of(values, shape: Shape, what: str) -> None:
    """A per-channel tuple must have one value per channel (a number broadcasts)."""
    if isinstance(values, tuple) and shape[-1] is not None and len(values) not in (1, shape[-1]):
        raise ShapeProblem(f"NRM {what} has {len(values)} values for {shape[-1]} channels", "give one per channel")


def _norm_shape(shape: Shape, a: Mapping) -> Shape:
    _channels_of(a["mean"], shape, "mean")
    _channels_of(a["variance"], shape, "variance")
    return shape


def _norm_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    """Adapted (no mean and variance given): Keras keeps mean, variance and count as weights."""
    if a["mean"] is not None:
        return ()
    size = (shape[-1],)
    return (Weight("mean", size, False), Weight("variance", size, False), Weight("count", (), False))


def _norm_args(a: Mapping) -> str | None:
    if (a["mean"] is None) != (a["variance"] is None):
        return "NRM takes mean and variance together", "give both, or neither (then Keras adapts them to the data)"
    if _values_shape(a["mean"]) != _values_shape(a["variance"]):
        return (
            "NRM mean and variance must have the same shape (Keras refuses it)",
            "give both as one number, or both with one value per channel",
        )
    return None


def _values_shape(values) -> tuple[int, ...]:
    """The shape Keras gives a mean or variance: () for a number, (n,) for n values."""
    return (len(values),) if isinstance(values, tuple) else ()


# Reshape, Cropping2D


def _reshape_shape(shape: Shape, a: Mapping) -> Shape:
    target, rest = a["shape"], shape[1:]
    known = None if None in rest else math.prod(rest)
    fixed = math.prod(size for size in target if size != -1)
    if -1 in target:
        if known is not None and known % fixed:
            raise ShapeProblem(f"RS cannot reshape {_fmt(shape)} ({known:,} values) to a multiple of {fixed:,}")
        left = None if known is None else known // fixed
        return (shape[0], *(left if size == -1 else size for size in target))
    if known is not None and known != fixed:
        raise ShapeProblem(
            f"RS cannot reshape {_fmt(shape)} ({known:,} values) to {_fmt((None, *target))} ({fixed:,} values)",
            "the sizes must multiply to the same count; one of them may be -1",
        )
    return (shape[0], *target)


def _cropping_shape(shape: Shape, a: Mapping) -> Shape:
    (top, bottom), (left, right) = a["crop"]
    height, width = shape[1], shape[2]
    for size, cut, what in ((height, top + bottom, "height"), (width, left + right, "width")):
        if size is not None and cut >= size:
            raise ShapeProblem(f"CR crops {cut} of the {what} {size}, leaving nothing", "crop less than the image")
    return (
        shape[0],
        None if height is None else height - top - bottom,
        None if width is None else width - left - right,
        shape[3],
    )


def _crop_amounts(value: ast.Value, what: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """``c``, ``(ch, cw)`` or ``((top, bottom), (left, right))``, as Keras's Cropping2D takes them."""
    try:
        return padding_amounts(value, what)
    except ArgProblem as problem:
        raise ArgProblem(problem.message.replace("p, (ph, pw)", "c, (ch, cw)"), problem.node, problem.hint) from None


# Dropout with a noise shape, the scaled residual


def _per_example(value: bool, shape: Shape) -> tuple | None:
    """Keras's ``noise_shape`` for dropping whole examples: ``(None, 1, 1, 1)`` on a 4-D input."""
    return (None, *(1,) * (len(shape) - 1)) if value else None


def _read_noise_shape(value) -> bool:
    if value is None:
        return False
    if value[0] is None and all(size == 1 for size in value[1:]):
        return True
    raise ValueError(f"noise_shape {tuple(value)}: only None and (None, 1, 1, 1) (per_example=true) have notation")


def _add_shape(shapes: list[Shape], a: Mapping) -> Shape:
    if a["scale"] != 1 and len(shapes) != 2:
        raise ShapeProblem(
            f"ADD scale= adds the second branch, scaled, to the first: it takes 2 branches, not {len(shapes)}"
        )
    return _elementwise_shape(shapes, a)


def _dims(value: ast.Value, what: str) -> tuple[int | None, ...]:
    """``IN(h, w, c)``; height and width may be ``None`` (any size), as Keras's ``Input((None, None, 3))``."""
    if not isinstance(value, ast.Tuple):
        return _bad_dims(value)
    if len(value.items) != 3:
        raise ArgProblem(f"{what} needs 3 values, not {len(value.items)}", value, "IN(height, width, channels)")
    *spatial, channels = value.items
    sizes = [
        None if isinstance(v, ast.Word) and v.name == "None" else _whole(v, what, 1, MAX_INPUT_SIZE) for v in spatial
    ]
    return (*sizes, _whole(channels, what, 1, MAX_INPUT_SIZE))


def _bad_dims(value: ast.Value) -> tuple[int, ...]:
    raise ArgProblem("IN needs three sizes: IN(height, width, channels), height and width may be None", value)


# --- how Keras spells each code (the declarations the Keras builder, emitter and reader share) --------


def _pair(value) -> tuple:
    """Keras's ``3`` or ``[3, 3]`` as the notation's ``(3, 3)``."""
    return tuple(value) if isinstance(value, list | tuple) else (value, value)


def _nested(value):
    """A config's lists as tuples, all the way down."""
    return tuple(_nested(item) for item in value) if isinstance(value, list | tuple) else value


def _read_activation(value) -> str:
    if value is None:
        return "linear"
    if not isinstance(value, str) or value not in ACTIVATIONS:
        raise ValueError(f"the activation {value!r} has no name in the notation")
    return value


def _read_relu(value) -> str:
    if value is None:
        return "relu"
    if value == 6:
        return "relu6"
    raise ValueError(f"max_value={value}: only ReLU() and ReLU(6) have notation (relu, relu6)")


def _read_number(value) -> float:
    if isinstance(value, list | tuple) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} per channel has no notation; the notation scales every channel alike")
    return float(value)


def _read_values(value):
    if value is None:
        return None
    values = tuple(float(v) for v in (value if isinstance(value, list | tuple) else [value]))
    return values[0] if len(values) == 1 else values


def _read_channel_axis(value) -> int:
    axis = value[0] if isinstance(value, list | tuple) and len(value) == 1 else value
    if axis not in (-1, 3):
        raise ValueError(f"axis={value}; the notation normalises the channel axis")
    return -1


def _channels_last(config: Mapping) -> str | None:
    if config.get("data_format") not in (None, "channels_last"):
        return f"data_format {config['data_format']!r}; the notation is channels-last"
    return None


def _unset(*keys_and_values) -> Callable[[Mapping], str | None]:
    """Refuse a config whose ``key`` is not ``value`` (a Keras setting the notation cannot write)."""

    def refuse(config: Mapping) -> str | None:
        for key, value in zip(keys_and_values[::2], keys_and_values[1::2]):
            if config.get(key, value) != value:
                return f"{key}={config[key]!r} has no notation"
        return _channels_last(config)

    return refuse


def _never(args: Mapping) -> bool:
    return False


_K_ACTIVATION = KerasArg("activation", "activation", "linear", from_keras=_read_activation)
_K_BIAS = KerasArg("bias", "use_bias", True)
_K_KERNEL = KerasArg("kernel", "kernel_size", positional=True, from_keras=_pair)
_K_WINDOW = (
    KerasArg("strides", "strides", (1, 1), from_keras=_pair),
    KerasArg("padding", "padding", "valid"),
)
_K_DILATION = KerasArg("dilation", "dilation_rate", (1, 1), from_keras=_pair)
_K_MULTIPLIER = KerasArg("depth_multiplier", "depth_multiplier", 1)
_K_NORM = tuple(KerasArg(name, name, default) for name, default in
                (("epsilon", 0.001), ("center", True), ("scale", True)))  # fmt: skip


def _keras_pool(cls: str) -> tuple[KerasClass, ...]:
    """Keras's pooling class; with pad= or ceil= (PyTorch's explicit padding), cnndsl's ``Padded...`` one."""
    pool = KerasArg("pool", "pool_size", positional=True, from_keras=_pair)
    strides = KerasArg("strides", "strides", None, from_keras=lambda v: None if v is None else _pair(v))
    explicit = (KerasArg("pad", "pad", (0, 0), from_keras=_pair), KerasArg("ceil", "ceil", False))
    if cls == "AveragePooling2D":
        explicit += (KerasArg("count_pad", "count_pad", False),)
    padded = KerasClass(f"Padded{cls}", (pool, strides, *explicit), custom=True,
                        when=lambda a: a["pad"] != (0, 0) or a["ceil"] or a.get("count_pad", False))  # fmt: skip
    return padded, KerasClass(cls, (pool, strides, KerasArg("padding", "padding", "valid")), refuse=_channels_last)


def _keras_global(cls: str) -> tuple[KerasClass, ...]:
    return (KerasClass(cls, (KerasArg("keepdims", "keepdims", False),), refuse=_channels_last),)


# --- augmentation: Keras's random preprocessing layers (active in training, identity in inference) -------

FLIPS = ("horizontal", "vertical", "horizontal_and_vertical")
FILLS = ("reflect", "wrap", "constant", "nearest")
RESAMPLINGS = ("bilinear", "nearest")


def _maybe(kind: Callable[[ast.Value, str], Any]) -> Callable[[ast.Value, str], Any]:
    """``kind``, or the bare word ``None`` (Keras's None: ZOOM's width follows its height)."""

    def convert(value: ast.Value, what: str) -> Any:
        if isinstance(value, ast.Word) and value.name == "None":
            return None
        return kind(value, what)

    return convert


def _random_crop_shape(shape: Shape, a: Mapping) -> Shape:
    height, width = shape[1], shape[2]
    if (height is not None and height < a["height"]) or (width is not None and width < a["width"]):
        raise ShapeProblem(
            f"RCR({a['height']}, {a['width']}) takes a {a['height']}x{a['width']} window, "
            f"but the input is only {'?' if height is None else height}x{'?' if width is None else width}",
            "crop a window no larger than the input",
        )
    return (shape[0], a["height"], a["width"], shape[3])


def _read_symmetric(value) -> float:
    """Keras's factor ``(-f, f)`` (how a single ``f`` is kept) or ``f`` as the notation's ``f``."""
    if isinstance(value, list | tuple):
        if len(value) == 2 and float(value[0]) == -float(value[1]):
            return abs(float(value[1]))
        raise ValueError(f"factor bounds {tuple(value)} have no notation; the notation takes one f for (-f, f)")
    return abs(float(value))


def _read_upper(value) -> float:
    """RandomContrast's factor ``(0, f)`` (how a single ``f`` is kept) as the notation's ``f``."""
    if isinstance(value, list | tuple):
        if len(value) == 2 and float(value[0]) == 0:
            return float(value[1])
        raise ValueError(f"factor bounds {tuple(value)} have no notation; the notation takes one f for (0, f)")
    return float(value)


def _read_optional_factor(value):
    return None if value is None else _read_symmetric(value)


_K_FILL = (
    KerasArg("fill", "fill_mode", "reflect"),
    KerasArg("interpolation", "interpolation", "bilinear"),
)
_FILL_PARAMS = (
    Param("fill", choice(FILLS), "reflect"),
    Param("interpolation", choice(RESAMPLINGS), "bilinear"),
)
_AUGMENT_REFUSE = _unset("fill_value", 0.0)


def _contrast_refusal(config: Mapping) -> str | None:
    value_range = config.get("value_range", (0, 255))
    if tuple(value_range) != (0, 255):
        return f"value_range={tuple(value_range)} has no notation (Keras's default (0, 255) clips the output)"
    return _channels_last(config)


_TABLE = (
    LayerType(
        "CN", "Conv2D", "2-D convolution",
        params=(Param("filters", count()), Param("kernel", size(2), (3, 3), inherit=True), *_conv_rest(False),
                Param("groups", count(1, MAX_UNITS), 1)),  # in the canonical form since it came: hashes keep it
        output_shape=_conv_shape, check_args=_conv_args, weights=_conv_weights, macs=_conv_macs, input_rank=4,
        kind="convolution",
        keras=(KerasClass("Conv2D", (
            KerasArg("filters", "filters", positional=True), _K_KERNEL, *_K_WINDOW, _K_ACTIVATION, _K_DILATION,
            _K_BIAS, KerasArg("groups", "groups", 1)), refuse=_channels_last),),
    ),
    LayerType(
        "DW", "DepthwiseConv2D", "depthwise 2-D convolution (one filter set per channel)",
        params=(Param("kernel", size(2), (3, 3)), *_conv_rest(True)),
        output_shape=_depthwise_shape, weights=_depthwise_weights, macs=_depthwise_macs,
        input_rank=4, kind="convolution",
        keras=(KerasClass("DepthwiseConv2D", (
            _K_KERNEL, *_K_WINDOW, _K_MULTIPLIER, _K_ACTIVATION, _K_DILATION, _K_BIAS), refuse=_channels_last),),
    ),
    LayerType(
        "SC", "SeparableConv2D", "depthwise then pointwise 2-D convolution",
        params=(Param("filters", count()), Param("kernel", size(2), (3, 3)), *_conv_rest(True)),
        output_shape=_separable_shape, weights=_separable_weights, macs=_separable_macs,
        input_rank=4, kind="convolution",
        keras=(KerasClass("SeparableConv2D", (
            KerasArg("filters", "filters", positional=True), _K_KERNEL, *_K_WINDOW, _K_MULTIPLIER, _K_ACTIVATION,
            _K_DILATION, _K_BIAS), refuse=_channels_last),),
    ),
    LayerType("MP", "MaxPooling2D", "2-D max pooling", _POOL_PARAMS, _pool_shape, input_rank=4, collect="pool",
              kind="pooling", keras=_keras_pool("MaxPooling2D"), check_args=_pool_args),
    LayerType("AP", "AveragePooling2D", "2-D average pooling", _AVERAGE_POOL_PARAMS, _pool_shape, input_rank=4,
              collect="pool", kind="pooling", keras=_keras_pool("AveragePooling2D"), check_args=_pool_args),
    LayerType("GAP", "GlobalAveragePooling2D", "average over height and width", _GLOBAL_POOL_PARAMS,
              _global_pool_shape, input_rank=4, kind="pooling", keras=_keras_global("GlobalAveragePooling2D")),
    LayerType("GMP", "GlobalMaxPooling2D", "maximum over height and width", _GLOBAL_POOL_PARAMS,
              _global_pool_shape, input_rank=4, kind="pooling", keras=_keras_global("GlobalMaxPooling2D")),
    LayerType("ZP", "ZeroPadding2D", "pad height and width with zeros",
              (Param("pad", padding_amounts, ((1, 1), (1, 1)), shown="1"),), _zero_padding_shape, input_rank=4,
              kind="reshape",
              keras=(KerasClass("ZeroPadding2D", (KerasArg("pad", "padding", ((1, 1), (1, 1)), from_keras=_nested),),
                                refuse=_channels_last),)),
    LayerType("CR", "Cropping2D", "crop rows and columns off the edges",
              (Param("crop", _crop_amounts),), _cropping_shape, input_rank=4, kind="reshape",
              keras=(KerasClass("Cropping2D", (KerasArg("crop", "cropping", ((0, 0), (0, 0)), from_keras=_nested),),
                                refuse=_channels_last),)),
    LayerType("UP", "UpSampling2D", "repeat rows and columns",
              (Param("size", size(2), (2, 2)), Param("interpolation", choice(INTERPOLATIONS), "nearest")),
              _up_sampling_shape, input_rank=4, kind="reshape",
              keras=(KerasClass("UpSampling2D", (KerasArg("size", "size", (2, 2), from_keras=_pair),
                                                 KerasArg("interpolation", "interpolation", "nearest")),
                                refuse=_channels_last),)),
    LayerType(
        "CT", "Conv2DTranspose", "2-D transposed convolution (upsampling by strides: padding=same gives size * strides)",
        params=(Param("filters", count()), Param("kernel", size(2), (3, 3)), *_CONV_TAIL,
                Param("activation", choice(ACTIVATIONS), "relu"), Param("bias", flag, True)),
        output_shape=_conv_transpose_shape, weights=_conv_transpose_weights, macs=_conv_transpose_macs,
        input_rank=4, kind="convolution",
        keras=(KerasClass("Conv2DTranspose", (
            KerasArg("filters", "filters", positional=True), _K_KERNEL, *_K_WINDOW, _K_ACTIVATION, _K_BIAS),
            refuse=_refuse_conv_transpose),),
    ),
    LayerType("DP", "Dropout", "dropout (per_example=true drops whole examples: drop-connect, stochastic depth)",
              (Param("rate", fraction), Param("per_example", flag, False)),  # hashed since it came
              keras=(KerasClass("Dropout", (
                  KerasArg("rate", "rate", positional=True, from_keras=float),
                  KerasArg("per_example", "noise_shape", None, to_keras=_per_example, from_keras=_read_noise_shape),
              )),)),
    LayerType("FL", "Flatten", "flatten to (batch, features)", (), _flatten_shape, kind="reshape",
              keras=(KerasClass("Flatten", refuse=_channels_last),)),
    LayerType("RS", "Reshape", "reshape to the given sizes (batch axis aside; one may be -1)",
              (Param("shape", target_shape, literal=True),), _reshape_shape, collect="shape", kind="reshape",
              keras=(KerasClass("Reshape", (KerasArg("shape", "target_shape", positional=True, from_keras=_nested),)),)),
    LayerType(
        "DN", "Dense", "fully connected",
        params=(Param("units", count()), Param("activation", choice(ACTIVATIONS), "relu"), Param("bias", flag, True)),
        output_shape=_dense_shape, weights=_dense_weights, macs=_dense_macs, warn=_dense_warn, pointwise_warning=True,
        kind="dense",
        keras=(KerasClass("Dense", (KerasArg("units", "units", positional=True), _K_ACTIVATION, _K_BIAS)),),
    ),
    LayerType(
        "BN", "BatchNormalization", "batch normalization",
        (Param("momentum", real(0, 1), 0.99), Param("epsilon", real(0, 1, low_open=True), 0.001),
         Param("center", flag, True), Param("scale", flag, True)),
        weights=_bn_weights, kind="normalization",
        keras=(KerasClass("BatchNormalization", (KerasArg("momentum", "momentum", 0.99), *_K_NORM),
                          refuse=lambda c: _axis_refusal(c, "axis")),),
    ),
    LayerType(
        "LN", "LayerNormalization", "layer normalization (over the channels, by default)",
        (Param("axis", integer(-3, 3), -1), Param("epsilon", real(0, 1, low_open=True), 0.001),
         Param("center", flag, True), Param("scale", flag, True)),
        _ln_shape, weights=_ln_weights, check_args=_ln_args, kind="normalization",
        keras=(KerasClass("LayerNormalization", (
            KerasArg("axis", "axis", -1, from_keras=lambda v: v[0] if isinstance(v, list | tuple) and len(v) == 1 else v),
            *_K_NORM), refuse=_unset("rms_scaling", False)),),
    ),
    LayerType(
        "LS", "LayerScale", "a learned scale per channel (ConvNeXt's layer scale, gamma)",
        (Param("init", real(-1e6, 1e6), 1e-6, shown="1e-6"),), weights=_layer_scale_weights, kind="normalization",
        keras=(KerasClass("LayerScale", (KerasArg("init", "init_values", positional=True, from_keras=float),
                                         KerasArg(None, "projection_dim", positional=True,
                                                  to_keras=lambda value, shape: shape[-1])),
                          custom=True),),
    ),
    LayerType(
        "RSC", "Rescaling", "inputs * scale + offset (preprocessing: 1/255 scales pixels to [0, 1])",
        (Param("scale", real(-1e9, 1e9)), Param("offset", real(-1e9, 1e9), 0.0)), kind="normalization",
        keras=(KerasClass("Rescaling", (KerasArg("scale", "scale", positional=True, from_keras=_read_number),
                                        KerasArg("offset", "offset", 0.0, from_keras=_read_number))),),
    ),
    LayerType(
        "NRM", "Normalization", "(inputs - mean) / sqrt(variance) per channel; adapted to the data when not given",
        (Param("mean", reals(-1e9, 1e9), None), Param("variance", reals(0, 1e18), None)),
        _norm_shape, weights=_norm_weights, check_args=_norm_args, kind="normalization",
        keras=(KerasClass("Normalization", (
            KerasArg(None, "axis", -1, to_keras=lambda value, shape: -1),
            KerasArg("mean", "mean", None, from_keras=_read_values),
            KerasArg("variance", "variance", None, from_keras=_read_values),
        ), refuse=lambda c: _unset("invert", False)(c) or _axis_refusal(c, "axis")),),
    ),
    LayerType("ACT", "Activation", "activation function", (Param("name", choice(ACTIVATIONS)),),
              keras=(KerasClass("Activation", (KerasArg("name", "activation", positional=True,
                                                        from_keras=_read_activation),)),
                     KerasClass("ReLU", (KerasArg("name", "max_value", None, from_keras=_read_relu),),
                                when=_never, refuse=_unset("negative_slope", 0.0, "threshold", 0.0)))),
    LayerType("ID", "Identity", "the input, unchanged (no layer)", is_identity=True),
    LayerType("ADD", "Add", "sum of the branches (NumPy broadcasting); scale=s adds the second branch times s",
              (Param("scale", real(-1e6, 1e6), 1.0),), _add_shape, warn=_elementwise_warn,  # scale= hashed since it came
              merge=True, kind="merge",
              keras=(KerasClass("ScaledAdd", (KerasArg("scale", "scale", positional=True, from_keras=float),),
                                custom=True, reads=("CustomScaleLayer",), when=lambda a: a["scale"] != 1),
                     KerasClass("Add"))),
    LayerType("MUL", "Multiply", "product of the branches (NumPy broadcasting)", output_shape=_elementwise_shape,
              warn=_elementwise_warn,
              merge=True, kind="merge", keras=(KerasClass("Multiply"),)),
    LayerType("CAT", "Concatenate", "the branches joined along an axis",
              (Param("axis", integer(-MAX_WINDOW, MAX_WINDOW), -1),), _concatenate_shape, merge=True, kind="merge",
              keras=(KerasClass("Concatenate", (KerasArg("axis", "axis", -1),)),)),
    LayerType("FLIP", "RandomFlip", "random flips in training (horizontal, vertical or both); identity in inference",
              (Param("mode", choice(FLIPS), "horizontal_and_vertical"),), input_rank=4, kind="augmentation",
              keras=(KerasClass("RandomFlip", (KerasArg("mode", "mode", "horizontal_and_vertical"),),
                                refuse=_channels_last),)),
    LayerType("ROT", "RandomRotation", "random rotation in training by up to factor x 360 degrees either way; "
              "identity in inference",
              (Param("factor", real(0, 1)), *_FILL_PARAMS), input_rank=4, kind="augmentation",
              keras=(KerasClass("RandomRotation", (
                  KerasArg("factor", "factor", positional=True, from_keras=_read_symmetric), *_K_FILL),
                  refuse=_AUGMENT_REFUSE),)),
    LayerType("TRN", "RandomTranslation", "random shift in training by up to height x H and width x W pixels; "
              "identity in inference",
              (Param("height", real(0, 1)), Param("width", real(0, 1)), *_FILL_PARAMS), input_rank=4,
              kind="augmentation",
              keras=(KerasClass("RandomTranslation", (
                  KerasArg("height", "height_factor", positional=True, from_keras=_read_symmetric),
                  KerasArg("width", "width_factor", positional=True, from_keras=_read_symmetric), *_K_FILL),
                  refuse=_AUGMENT_REFUSE),)),
    LayerType("ZOOM", "RandomZoom", "random zoom in training by up to a fraction height (and width; None keeps "
              "the aspect); identity in inference",
              (Param("height", real(0, 1)), Param("width", _maybe(real(0, 1)), None), *_FILL_PARAMS),
              input_rank=4, kind="augmentation",
              keras=(KerasClass("RandomZoom", (
                  KerasArg("height", "height_factor", positional=True, from_keras=_read_symmetric),
                  KerasArg("width", "width_factor", None, from_keras=_read_optional_factor), *_K_FILL),
                  refuse=_AUGMENT_REFUSE),)),
    LayerType("RCR", "RandomOrCenterCrop", "a random height x width window in training, the central one in inference",
              (Param("height", count(1, MAX_INPUT_SIZE)), Param("width", count(1, MAX_INPUT_SIZE))),
              _random_crop_shape, input_rank=4, kind="augmentation",
              keras=(KerasClass("RandomOrCenterCrop", (KerasArg("height", "height", positional=True),
                                                       KerasArg("width", "width", positional=True)),
                                custom=True, reads=("RandomCrop",), refuse=_channels_last),)),
    LayerType("CON", "RandomContrast", "random contrast in training: (x - mean) x a factor from 1 to 1 + factor; "
              "identity in inference",
              (Param("factor", real(0, 1)),), input_rank=4, kind="augmentation",
              keras=(KerasClass("RandomContrast", (
                  KerasArg("factor", "factor", positional=True, from_keras=_read_upper),),
                  refuse=_contrast_refusal),)),
    LayerType("IN", "InputLayer", "input shape (height, width, channels), height and width may be None; first only",
              (Param("shape", _dims),), collect="shape", is_input=True),
)  # fmt: skip


# Channel split and shuffle (ShuffleNetV2)


def _split_shape(shape: Shape, a: Mapping) -> Shape:
    channels = shape[-1]
    if channels is not None and channels % a["parts"]:
        raise ShapeProblem(
            f"SPL parts={a['parts']} must divide the input's {channels} channels", "split into parts dividing them"
        )
    return (*shape[:-1], None if channels is None else channels // a["parts"])


def _split_args(a: Mapping) -> str | tuple[str, str] | None:
    if a["index"] >= a["parts"]:
        return f"SPL index={a['index']} is not one of its {a['parts']} parts", f"index 0 to {a['parts'] - 1}"
    return None


def _shuffle_shape(shape: Shape, a: Mapping) -> Shape:
    if shape[-1] is not None and shape[-1] % a["groups"]:
        raise ShapeProblem(
            f"SHF groups={a['groups']} must divide the input's {shape[-1]} channels", "use groups dividing them"
        )
    return shape


_TABLE += (
    LayerType("SPL", "ChannelSplit", "one of parts equal groups of the channels (ShuffleNetV2's split, torch.chunk)",
              (Param("index", count(0, MAX_UNITS)), Param("parts", count(1, MAX_WINDOW), 2)), _split_shape,
              input_rank=4, check_args=_split_args, kind="reshape",
              keras=(KerasClass("ChannelSplit", (KerasArg("index", "index", positional=True),
                                                 KerasArg("parts", "parts", 2)), custom=True),)),
    LayerType("SHF", "ChannelShuffle", "the channels of groups interleaved (ShuffleNet's channel shuffle)",
              (Param("groups", count(1, MAX_WINDOW), 2),), _shuffle_shape, input_rank=4, kind="reshape",
              keras=(KerasClass("ChannelShuffle", (KerasArg("groups", "groups", 2),), custom=True),)),
)  # fmt: skip


def _axis_refusal(config: Mapping, key: str) -> str | None:
    try:
        _read_channel_axis(config.get(key, -1))
    except ValueError as problem:
        return str(problem)
    return None


LAYERS: dict[str, LayerType] = {entry.code: entry for entry in _TABLE}
"""Every layer code, by code."""
MERGES = frozenset(code for code, entry in LAYERS.items() if entry.merge)
"""The codes that join branches; the grammar names them too (tests hold the two equal)."""

__all__ = [
    "LAYERS",
    "MERGES",
    "LayerType",
    "Param",
    "KerasArg",
    "KerasClass",
    "ArgProblem",
    "ShapeProblem",
    "Weight",
    "ACTIVATIONS",
    "PADDINGS",
    "suggest",
]
