"""Emit a standalone Keras script: ``model.add(...)`` per layer, or the functional API for graphs.

The same walk as the Keras backend with another table: code -> the source of the
Keras constructor call, keyword arguments left out where Keras's default says the
same. Each layer's spec text is a comment above it. Executed, the script defines
``model`` exactly as :func:`cnndsl.compile_spec` builds it, and prints its summary
when run as a program. Needs no framework to write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cnndsl.model import INPUT, CheckedModel, LayerInfo

KERAS_DEFAULTS = {
    "strides": (1, 1), "padding": "valid", "dilation_rate": (1, 1), "use_bias": True, "depth_multiplier": 1,
    "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True, "keepdims": False, "axis": -1,
    "interpolation": "nearest", "size": (2, 2), "activation": "linear",
}  # fmt: skip
"""Keras's own defaults for the keywords written below; an argument equal to one is left out."""


def call(cls: str, *args: Any, defaults: Mapping[str, Any] = KERAS_DEFAULTS, **kwargs: Any) -> str:
    """``layers.Conv2D(8, (3, 3), activation='relu')``, keywords at Keras's default left out."""
    parts = [python_value(a) for a in args]
    parts += [f"{k}={python_value(v)}" for k, v in kwargs.items() if defaults.get(k, object()) != v]
    return f"layers.{cls}({', '.join(parts)})"


def python_value(value: Any) -> str:
    """A value as Python source (``float('-inf')`` for infinities)."""
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return f"float({str(value)!r})"
    if isinstance(value, tuple):
        return "(" + ", ".join(python_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _conv(a: Mapping) -> str:
    return call(
        "Conv2D", a["filters"], a["kernel"], strides=a["strides"], padding=a["padding"],
        activation=a["activation"], dilation_rate=a["dilation"], use_bias=a["bias"],
    )  # fmt: skip


def _depthwise(a: Mapping) -> str:
    return call(
        "DepthwiseConv2D", a["kernel"], strides=a["strides"], padding=a["padding"],
        depth_multiplier=a["depth_multiplier"], activation=a["activation"], dilation_rate=a["dilation"],
        use_bias=a["bias"],
    )  # fmt: skip


def _separable(a: Mapping) -> str:
    return call(
        "SeparableConv2D", a["filters"], a["kernel"], strides=a["strides"], padding=a["padding"],
        depth_multiplier=a["depth_multiplier"], activation=a["activation"], dilation_rate=a["dilation"],
        use_bias=a["bias"],
    )  # fmt: skip


def _pool(cls: str) -> Callable[[Mapping], str]:
    def source(a: Mapping) -> str:
        defaults = {**KERAS_DEFAULTS, "strides": a["pool"]}  # Keras's pooling strides default to the pool
        return call(cls, a["pool"], defaults=defaults, strides=a["strides"], padding=a["padding"])

    return source


def _global(cls: str) -> Callable[[Mapping], str]:
    return lambda a: call(cls, keepdims=a["keepdims"])


def _batch_norm(a: Mapping) -> str:
    keys = ("momentum", "epsilon", "center", "scale")
    return call("BatchNormalization", **{k: a[k] for k in keys})


def _upsampling(a: Mapping) -> str:
    return call("UpSampling2D", size=a["size"], interpolation=a["interpolation"])


def _never(a: Mapping) -> str:
    raise ValueError("IN and ID are never layers (IN declares the input, ID passes it on)")


TABLE: dict[str, Callable[[Mapping], str]] = {
    "CN": _conv,
    "DW": _depthwise,
    "SC": _separable,
    "MP": _pool("MaxPooling2D"),
    "AP": _pool("AveragePooling2D"),
    "GAP": _global("GlobalAveragePooling2D"),
    "GMP": _global("GlobalMaxPooling2D"),
    "DP": lambda a: call("Dropout", a["rate"]),
    "FL": lambda a: call("Flatten"),
    "DN": lambda a: call("Dense", a["units"], activation=a["activation"], use_bias=a["bias"]),
    "BN": _batch_norm,
    "ACT": lambda a: call("Activation", a["name"]),
    "ZP": lambda a: call("ZeroPadding2D", padding=a["pad"]),
    "UP": _upsampling,
    "ADD": lambda a: call("Add"),
    "MUL": lambda a: call("Multiply"),
    "CAT": lambda a: call("Concatenate", axis=a["axis"]),
    "IN": _never,
    "ID": _never,
}
"""Layer code -> the source of its Keras constructor call, given the resolved arguments."""


def emit(model: CheckedModel, spec_name: str = "<spec>") -> str:
    """The script's text."""
    shape = python_value(tuple(model.input_shape[1:]))
    head = [
        f'"""The cnndsl spec {spec_name} as a Keras model (written by cnndsl emit --to keras)."""',
        "",
        "import keras",
        "from keras import layers",
        "",
    ]
    body = _functional(model, shape) if model.is_graph else _sequential(model, shape)
    tail = ["", 'if __name__ == "__main__":', "    model.summary()", ""]
    return "\n".join(head + body + tail)


def _comment(info: LayerInfo) -> str:
    text = " ".join(info.layer.text.split())
    return f"# {text}" + ("  (classifier head)" if info.layer.head else "")


def _sequential(model: CheckedModel, shape: str) -> list[str]:
    lines = ["model = keras.Sequential()", f"model.add(keras.Input(shape={shape}))"]
    for info in model.layers:
        lines += [_comment(info), f"model.add({TABLE[info.code](info.layer.args)})"]
    return lines


def _functional(model: CheckedModel, shape: str) -> list[str]:
    lines = [f"inputs = keras.Input(shape={shape})"]
    names = [info.name for info in model.layers]
    for info in model.layers:
        feeds = ["inputs" if i == INPUT else names[i] for i in info.inputs]
        argument = feeds[0] if len(feeds) == 1 else f"[{', '.join(feeds)}]"
        lines += [_comment(info), f"{info.name} = {TABLE[info.code](info.layer.args)}({argument})"]
    lines.append(f"model = keras.Model(inputs, {names[-1]})")
    return lines
