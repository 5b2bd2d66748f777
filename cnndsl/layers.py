"""The layer table: one entry per layer code, read by every stage.

An entry holds the code, its Keras class, the argument schema (names, kinds,
defaults, bounds), the shape rule, the weight rule, the multiply-accumulate rule
and the Keras constructor. Adding a layer code means adding one entry here.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cnndsl import ast
from cnndsl.shapes import Shape, ShapeProblem, compute_conv_output_shape, compute_pooling_output_shape

MAX_UNITS = 1_000_000
"""Largest filter or unit count accepted (a real layer is far below it)."""
MAX_WINDOW = 4096
"""Largest kernel, pool, stride or dilation accepted."""
MAX_INPUT_SIZE = 65536
"""Largest input height, width or channel count accepted."""

ACTIVATIONS = (
    "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "swish", "mish",
    "sigmoid", "hard_sigmoid", "hard_silu", "hard_swish", "softmax", "log_softmax",
    "softplus", "softsign", "tanh", "exponential", "linear",
)  # fmt: skip
PADDINGS = ("valid", "same")


class ArgProblem(Exception):
    """An argument value is not acceptable; carries the node to point at."""

    def __init__(self, message: str, node: ast.Value | None = None, hint: str | None = None):
        super().__init__(message)
        self.message, self.node, self.hint = message, node, hint


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
            raise ArgProblem(f"unknown {what} {_show(value)}", value, hint)
        return value.name

    return convert


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
    close = difflib.get_close_matches(word.upper(), list(by_upper), n=1, cutoff=0.6)
    return by_upper[close[0]] if close else None


# --- the table ----------------------------------------------------------------------

REQUIRED: Any = object()


@dataclass(frozen=True)
class Param:
    """One argument of a layer code."""

    name: str
    kind: Callable[[ast.Value, str], Any]
    default: Any = REQUIRED
    inherit: bool = False
    """An omitted value repeats the nearest preceding layer of the same code."""
    shown: str | None = None
    """How the default reads in a signature, when not the value itself."""


@dataclass(frozen=True)
class Weight:
    """One weight tensor of a layer, named and shaped as Keras creates it."""

    name: str
    shape: tuple[int, ...]
    trainable: bool = True

    @property
    def size(self) -> int:
        """Values in the tensor; 0 while a size is unknown (after an earlier error)."""
        return 0 if None in self.shape else math.prod(self.shape)


def _no_weights(shape: Shape, args: Mapping) -> tuple[Weight, ...]:
    return ()


def _no_macs(in_shape: Shape, out_shape: Shape, args: Mapping) -> int:
    return 0


def _same_shape(shape: Shape, args: Mapping) -> Shape:
    return shape


@dataclass(frozen=True)
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
    keras: Callable[[Any, Mapping], Any] | None = None
    input_rank: int | None = None
    """The rank the input must have (with batch axis), when the layer needs one."""
    collect: str | None = None
    """A parameter that gathers every positional argument (``MP(2,2)`` is a 2x2 pool)."""
    is_input: bool = False
    """A declaration of the input shape, not a layer; allowed only first."""
    warn: Callable[[Shape, Mapping], str | None] = field(default=lambda shape, args: None)
    """A warning about a legal but likely unintended input."""
    check_args: Callable[[Mapping], str | None] = field(default=lambda args: None)
    """A problem with a combination of arguments, or None."""

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
    def keras_name(self) -> str:
        """Keras's default layer name stem (``Conv2D`` -> ``conv2d``), computed once per code."""
        import re

        name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", self.keras_class)
        return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()

    def signature(self) -> str:
        """``CN(filters, kernel, strides=1, ...)`` for messages and docs."""
        parts = [
            p.name if p.default is REQUIRED else f"{p.name}={p.shown or _default_text(p.default)}" for p in self.params
        ]
        return f"{self.code}({', '.join(parts)})"


def _default_text(default: Any) -> str:
    if isinstance(default, tuple) and len(set(default)) == 1:
        return str(default[0])
    return str(default).replace(" ", "")


def _prod(values) -> int:
    """The product of the known sizes (None is unknown)."""
    return math.prod(values) if None not in values else math.prod(v for v in values if v is not None)


# Conv2D


def _conv_shape(shape: Shape, a: Mapping) -> Shape:
    return compute_conv_output_shape(shape, a["filters"], a["kernel"], a["strides"], a["padding"], a["dilation"])


def _conv_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    return (Weight("kernel", (*a["kernel"], shape[-1], a["filters"])), Weight("bias", (a["filters"],)))


def _conv_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    return _prod(out_shape[1:]) * _prod(a["kernel"]) * (in_shape[-1] or 0)


def _conv_keras(keras: Any, a: Mapping) -> Any:
    return keras.layers.Conv2D(
        a["filters"], a["kernel"], strides=a["strides"], padding=a["padding"],
        activation=a["activation"], dilation_rate=a["dilation"],
    )  # fmt: skip


def _conv_args(a: Mapping) -> str | None:
    if max(a["strides"]) > 1 and max(a["dilation"]) > 1:
        return "strides > 1 cannot be combined with dilation > 1 (Keras refuses it)"
    return None


# Pooling


def _pool_shape(shape: Shape, a: Mapping) -> Shape:
    return compute_pooling_output_shape(shape, a["pool"], a["strides"] or a["pool"], a["padding"])


def _pool_keras(cls: str) -> Callable[[Any, Mapping], Any]:
    return lambda keras, a: getattr(keras.layers, cls)(
        a["pool"], strides=a["strides"] or a["pool"], padding=a["padding"]
    )


_POOL_PARAMS = (
    Param("pool", size(2), (2, 2)),
    Param("strides", size(2), None, shown="pool"),
    Param("padding", choice(PADDINGS), "valid"),
)


def _global_pool_shape(shape: Shape, a: Mapping) -> Shape:
    return (shape[0], shape[-1])


# Dense


def _dense_shape(shape: Shape, a: Mapping) -> Shape:
    return (*shape[:-1], a["units"])


def _dense_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    return (Weight("kernel", (shape[-1], a["units"])), Weight("bias", (a["units"],)))


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
        Weight("gamma", channels),
        Weight("beta", channels),
        Weight("moving_mean", channels, trainable=False),
        Weight("moving_variance", channels, trainable=False),
    )


def _dims(value: ast.Value, what: str) -> tuple[int, ...]:
    return size(3, 1, MAX_INPUT_SIZE)(value, what) if isinstance(value, ast.Tuple) else _bad_dims(value)


def _bad_dims(value: ast.Value) -> tuple[int, ...]:
    raise ArgProblem("IN needs three sizes: IN(height, width, channels)", value)


_TABLE = (
    LayerType(
        "CN", "Conv2D", "2-D convolution",
        params=(
            Param("filters", count()),
            Param("kernel", size(2), (3, 3), inherit=True),
            Param("strides", size(2), (1, 1)),
            Param("padding", choice(PADDINGS), "valid"),
            Param("activation", choice(ACTIVATIONS), "relu"),
            Param("dilation", size(2), (1, 1)),
        ),
        output_shape=_conv_shape, check_args=_conv_args, weights=_conv_weights, macs=_conv_macs, keras=_conv_keras, input_rank=4,
    ),
    LayerType("MP", "MaxPooling2D", "2-D max pooling", _POOL_PARAMS, _pool_shape,
              keras=_pool_keras("MaxPooling2D"), input_rank=4, collect="pool"),
    LayerType("AP", "AveragePooling2D", "2-D average pooling", _POOL_PARAMS, _pool_shape,
              keras=_pool_keras("AveragePooling2D"), input_rank=4, collect="pool"),
    LayerType("GAP", "GlobalAveragePooling2D", "average over height and width", (), _global_pool_shape,
              keras=lambda keras, a: keras.layers.GlobalAveragePooling2D(), input_rank=4),
    LayerType("GMP", "GlobalMaxPooling2D", "maximum over height and width", (), _global_pool_shape,
              keras=lambda keras, a: keras.layers.GlobalMaxPooling2D(), input_rank=4),
    LayerType("DP", "Dropout", "dropout", (Param("rate", fraction),),
              keras=lambda keras, a: keras.layers.Dropout(a["rate"])),
    LayerType("FL", "Flatten", "flatten to (batch, features)", (), _flatten_shape,
              keras=lambda keras, a: keras.layers.Flatten()),
    LayerType(
        "DN", "Dense", "fully connected",
        params=(Param("units", count()), Param("activation", choice(ACTIVATIONS), "relu")),
        output_shape=_dense_shape, weights=_dense_weights, macs=_dense_macs,
        keras=lambda keras, a: keras.layers.Dense(a["units"], activation=a["activation"]), warn=_dense_warn,
    ),
    LayerType("BN", "BatchNormalization", "batch normalization", (), weights=_bn_weights,
              keras=lambda keras, a: keras.layers.BatchNormalization()),
    LayerType("ACT", "Activation", "activation function", (Param("name", choice(ACTIVATIONS)),),
              keras=lambda keras, a: keras.layers.Activation(a["name"])),
    LayerType("IN", "InputLayer", "input shape (height, width, channels); first only",
              (Param("shape", _dims),), collect="shape", is_input=True),
)  # fmt: skip

LAYERS: dict[str, LayerType] = {entry.code: entry for entry in _TABLE}
"""Every layer code, by code."""

__all__ = ["LAYERS", "LayerType", "Param", "ArgProblem", "ShapeProblem", "Weight", "ACTIVATIONS", "PADDINGS", "suggest"]
