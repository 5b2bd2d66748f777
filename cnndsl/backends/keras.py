"""The Keras 3 backend: a checked model becomes a built ``keras.Sequential``.

Uses the backend-agnostic ``keras.*`` API only, so KERAS_BACKEND=jax or torch
work as well as TensorFlow. Imported lazily: the checker never loads it.
"""

from __future__ import annotations

import keras

from cnndsl.model import CheckedModel


def build(model: CheckedModel, name: str | None = None) -> keras.Sequential:
    """A built, uncompiled Sequential whose layers mirror the checked model."""
    layers = [info.layer.type.keras(keras, info.layer.args) for info in model.layers]
    return keras.Sequential([keras.Input(shape=model.input_shape[1:]), *layers], name=name)
