"""The Keras 3 backend: a checked model becomes a built Keras model.

A straight stack becomes a ``keras.Sequential`` (the notebook's models stay exactly
as they were); a model with merges becomes a functional ``keras.Model``, its layers
made in the order of the text so that Keras gives them the names the checker
reports. Uses the backend-agnostic ``keras.*`` API only, so KERAS_BACKEND=jax or
torch work as well as TensorFlow. Imported lazily: the checker never loads it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import keras

from cnndsl.ast import assert_never
from cnndsl.model import INPUT, CheckedModel, LayerInfo, Merge


def _conv(a: Mapping) -> keras.Layer:
    return keras.layers.Conv2D(
        a["filters"], a["kernel"], strides=a["strides"], padding=a["padding"], activation=a["activation"],
        dilation_rate=a["dilation"], use_bias=a["bias"],
    )  # fmt: skip


def _depthwise(a: Mapping) -> keras.Layer:
    return keras.layers.DepthwiseConv2D(
        a["kernel"], strides=a["strides"], padding=a["padding"], depth_multiplier=a["depth_multiplier"],
        activation=a["activation"], dilation_rate=a["dilation"], use_bias=a["bias"],
    )  # fmt: skip


def _separable(a: Mapping) -> keras.Layer:
    return keras.layers.SeparableConv2D(
        a["filters"], a["kernel"], strides=a["strides"], padding=a["padding"], depth_multiplier=a["depth_multiplier"],
        activation=a["activation"], dilation_rate=a["dilation"], use_bias=a["bias"],
    )  # fmt: skip


def _batch_norm(a: Mapping) -> keras.Layer:
    return keras.layers.BatchNormalization(
        momentum=a["momentum"], epsilon=a["epsilon"], center=a["center"], scale=a["scale"]
    )


def _pool(cls: str) -> Callable[[Mapping], keras.Layer]:
    return lambda a: getattr(keras.layers, cls)(a["pool"], strides=a["strides"], padding=a["padding"])


LAYERS: dict[str, Callable[[Mapping], keras.Layer]] = {
    "CN": _conv,
    "DW": _depthwise,
    "SC": _separable,
    "MP": _pool("MaxPooling2D"),
    "AP": _pool("AveragePooling2D"),
    "GAP": lambda a: keras.layers.GlobalAveragePooling2D(keepdims=a["keepdims"]),
    "GMP": lambda a: keras.layers.GlobalMaxPooling2D(keepdims=a["keepdims"]),
    "ZP": lambda a: keras.layers.ZeroPadding2D(a["pad"]),
    "UP": lambda a: keras.layers.UpSampling2D(a["size"], interpolation=a["interpolation"]),
    "DP": lambda a: keras.layers.Dropout(a["rate"]),
    "FL": lambda a: keras.layers.Flatten(),
    "DN": lambda a: keras.layers.Dense(a["units"], activation=a["activation"], use_bias=a["bias"]),
    "BN": _batch_norm,
    "ACT": lambda a: keras.layers.Activation(a["name"]),
    "ADD": lambda a: keras.layers.Add(),
    "MUL": lambda a: keras.layers.Multiply(),
    "CAT": lambda a: keras.layers.Concatenate(axis=a["axis"]),
}
"""Layer code -> Keras layer, given the resolved arguments. ``ID`` and ``IN`` make no layer."""
NOT_LAYERS = frozenset({"ID", "IN"})


def make_layer(info: LayerInfo) -> keras.Layer:
    """The Keras layer for one checked layer."""
    return LAYERS[info.code](info.layer.args)


def build(model: CheckedModel, name: str | None = None) -> keras.Model:
    """A built, uncompiled Keras model whose layers mirror the checked model."""
    with _deep_enough(len(model.layers)):
        if not model.is_graph:
            layers = [make_layer(info) for info in model.layers]
            return keras.Sequential([keras.Input(shape=model.input_shape[1:]), *layers], name=name)
        inputs = keras.Input(shape=model.input_shape[1:])
        made: dict[int, Any] = {}
        outputs = _chain(model, model.items, inputs, made)
        return keras.Model(inputs, outputs, name=name)


def _chain(model: CheckedModel, items, tensor, made: dict[int, Any]):
    """Make and call the layers of a chain in the order of the text (Keras names them in that order)."""
    for item in items:
        match item:
            case int():
                tensor = _call(model, item, [tensor], made)
            case Merge():
                branches = [_chain(model, branch, tensor, made) for branch in item.branches]
                tensor = _call(model, item.layer, branches, made)
            case _:
                assert_never(item)
    return tensor


def _call(model: CheckedModel, index: int, tensors: list, made: dict[int, Any]):
    info = model.layers[index]
    layer = make_layer(info)
    made[index] = layer
    return layer(tensors if info.layer.type.merge else tensors[0])


@contextlib.contextmanager
def _deep_enough(layers: int) -> Iterator[None]:
    """Keras walks a model's graph recursively: allow a recursion as deep as the model is long."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 20 * layers + 1000))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


__all__ = ["build", "make_layer", "LAYERS", "NOT_LAYERS", "INPUT"]
