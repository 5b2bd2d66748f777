"""Emit a standalone Keras script: ``model.add(...)`` per layer, or the functional API for graphs.

The same walk as the Keras backend with another table: code -> the source of the
Keras constructor call, keyword arguments left out where Keras's default says the
same. Each layer's spec text is a comment above it. Executed, the script defines
``model`` exactly as :func:`cnndsl.compile_spec` builds it, and prints its summary
when run as a program. Needs no framework to write.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cnndsl.model import CheckedModel, LayerInfo, input_number, is_input


def call(cls: str, positional: list, keywords: Mapping[str, Any], prefix: str = "layers.") -> str:
    """``layers.Conv2D(8, (3, 3), activation='relu')``."""
    parts = [python_value(a) for a in positional] + [f"{k}={python_value(v)}" for k, v in keywords.items()]
    return f"{prefix}{cls}({', '.join(parts)})"


def python_value(value: Any) -> str:
    """A value as Python source (``float('-inf')`` for infinities)."""
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return f"float({str(value)!r})"
    if isinstance(value, tuple):
        return "(" + ", ".join(python_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def layer_source(info: LayerInfo) -> str:
    """The source of one layer's Keras constructor call, from its code's declaration.

    Keywords equal to Keras's own default are left out (pooling strides equal to the pool too).
    """
    args = info.layer.args
    form = info.layer.type.keras_form(args)
    positional, keywords = [], {}
    for declared in form.args:
        value = None if declared.name is None else args[declared.name]
        if declared.to_keras is not None:
            value = declared.to_keras(value, info.argument_shape)
        if declared.positional:
            positional.append(value)
        elif value != declared.default and not (declared.keras == "strides" and value == args.get("pool")):
            keywords[declared.keras] = value
    return call(form.name, positional, keywords, prefix="" if form.custom else "layers.")


def custom_classes(model: CheckedModel) -> list[str]:
    """The names of :mod:`cnndsl.backends.keras_layers` classes the model uses, in order of first use."""
    names = [info.layer.type.keras_form(info.layer.args) for info in model.layers]
    return list(dict.fromkeys(form.name for form in names if form.custom))


def _custom_source(names: list[str]) -> list[str]:
    """The definitions of the custom layers, copied from their module (which this does not import)."""
    if not names:
        return []
    text = (Path(__file__).parent / "keras_layers.py").read_text(encoding="utf-8")
    body = text.split(_MARKER, 1)[1].strip("\n")
    return ["", "", body, "", ""]


_MARKER = "# --- layers (copied verbatim into emitted scripts) ---"


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
    head += _custom_source(custom_classes(model))
    body = _functional(model, shape) if model.is_graph else _sequential(model, shape)
    tail = ["", 'if __name__ == "__main__":', "    model.summary()", ""]
    return "\n".join(head + body + tail)


def _comment(info: LayerInfo) -> str:
    text = " ".join(info.layer.text.split())
    return f"# {text}" + ("  (classifier head)" if info.layer.head else "")


def _sequential(model: CheckedModel, shape: str) -> list[str]:
    lines = ["model = keras.Sequential()", f"model.add(keras.Input(shape={shape}))"]
    for info in model.layers:
        lines += [_comment(info), f"model.add({layer_source(info)})"]
    return lines


def input_variables(model: CheckedModel) -> list[str]:
    """The variable each input is held in by an emitted script: ``inputs``, or ``input_rgb``, ... for several."""
    return [f"input_{given.name}" for given in model.inputs] or ["inputs"]


def _functional(model: CheckedModel, shape: str) -> list[str]:
    given = input_variables(model)
    if model.inputs:  # several inputs: one keras.Input each, named
        lines = [
            f"{variable} = keras.Input(shape={python_value(tuple(each.shape[1:]))}, name={each.name!r})"
            for variable, each in zip(given, model.inputs)
        ]
        inputs = f"[{', '.join(given)}]"
    else:
        lines, inputs = [f"inputs = keras.Input(shape={shape})"], "inputs"
    names = [info.name for info in model.layers]

    def name(i: int) -> str:
        return given[input_number(i)] if is_input(i) else names[i]

    for info in model.layers:
        feeds = [name(i) for i in info.inputs]
        argument = feeds[0] if len(feeds) == 1 else f"[{', '.join(feeds)}]"
        lines += [_comment(info), f"{info.name} = {layer_source(info)}({argument})"]
    if not model.outputs:
        lines.append(f"model = keras.Model({inputs}, {names[-1]})")
        return lines
    outputs = ", ".join(name(source) for source in model.output_sources)
    lines.append(f"model = keras.Model({inputs}, [{outputs}])")
    lines.append(f"model.output_names = {list(model.output_names)!r}  # the spec's names of its outputs, in order")
    return lines
