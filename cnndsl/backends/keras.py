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
from collections.abc import Iterator, Mapping
from typing import Any

import keras

from cnndsl.ast import assert_never
from cnndsl.layers import KerasClass
from cnndsl.model import INPUT, CheckedModel, From, LayerInfo, Merge
from cnndsl.shapes import Shape

NOT_LAYERS = frozenset({"ID", "IN"})
"""Codes that make no layer: ``IN`` declares the input, ``ID`` passes it on."""


def keras_arguments(form: KerasClass, args: Mapping, input_shape: Shape) -> tuple[list, dict]:
    """The positional and keyword arguments of a Keras constructor, from a layer's resolved arguments."""
    positional, keywords = [], {}
    for declared in form.args:
        value = None if declared.name is None else args[declared.name]
        if declared.to_keras is not None:
            value = declared.to_keras(value, input_shape)
        if declared.positional:
            positional.append(value)
        else:
            keywords[declared.keras] = value
    return positional, keywords


def keras_class(form: KerasClass) -> type:
    """The class a declaration names: ``keras.layers.Conv2D``, or one of :mod:`cnndsl.backends.keras_layers`."""
    if form.custom:
        from cnndsl.backends import keras_layers

        return getattr(keras_layers, form.name)
    return getattr(keras.layers, form.name)


def make_layer(info: LayerInfo) -> keras.Layer:
    """The Keras layer for one checked layer, as its code's declaration in the layer table says."""
    form = info.layer.type.keras_form(info.layer.args)
    positional, keywords = keras_arguments(form, info.layer.args, info.argument_shape)
    return keras_class(form)(*positional, **keywords)


def build(model: CheckedModel, name: str | None = None) -> keras.Model:
    """A built, uncompiled Keras model whose layers mirror the checked model."""
    with _deep_enough(len(model.layers)):
        if not model.is_graph:
            layers = [make_layer(info) for info in model.layers]
            return keras.Sequential([keras.Input(shape=model.input_shape[1:]), *layers], name=name)
        if model.inputs:  # several inputs: one keras.Input each, named, in the order written
            given = [keras.Input(shape=each.shape[1:], name=each.name) for each in model.inputs]
            inputs: Any = given
        else:
            inputs = given = [keras.Input(shape=model.input_shape[1:])]
            inputs = given[0]
        made: dict[int, Any] = {INPUT - number: tensor for number, tensor in enumerate(given)}
        outputs = _chain(model, model.items, given[0], made)
        if not model.outputs:
            return keras.Model(inputs, outputs, name=name)
        built = keras.Model(inputs, [made[source] for source in model.output_sources], name=name)
        built.output_names = list(model.output_names)  # what compile's loss and metric dicts are keyed by
        return built


def _chain(model: CheckedModel, items, tensor, made: dict[int, Any]):
    """Make and call the layers of a chain in the order of the text (Keras names them in that order).

    ``made`` holds each layer's output tensor by index, for a chain that goes on from one (``@name``).
    """
    for item in items:
        match item:
            case int():
                tensor = _call(model, item, [tensor], made)
            case Merge():
                branches = [_chain(model, branch, tensor, made) for branch in item.branches]
                tensor = _call(model, item.layer, branches, made)
            case From():
                tensor = made[item.source]
            case _:
                assert_never(item)
    return tensor


def _call(model: CheckedModel, index: int, tensors: list, made: dict[int, Any]):
    info = model.layers[index]
    layer = make_layer(info)
    made[index] = out = layer(tensors if info.layer.type.merge else tensors[0])
    return out


@contextlib.contextmanager
def _deep_enough(layers: int) -> Iterator[None]:
    """Keras walks a model's graph recursively: allow a recursion as deep as the model is long."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 20 * layers + 1000))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


__all__ = ["build", "make_layer", "keras_arguments", "keras_class", "NOT_LAYERS", "INPUT"]
