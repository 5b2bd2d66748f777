"""The heads people write: a head already in the text is never appended twice; logits, sigmoid and log-softmax
heads read as the task they are (logits, binary, multi-label, binary segmentation), and those tasks train."""

from __future__ import annotations

import numpy as np
import pytest

from cnndsl import check

# --- a head in the text is the head, whatever gives the class count --------------------------------------


def _unet(size: int, classes: int):
    """An Oxford Pets U-Net written the way keras-io writes it, narrower and at a small input."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(size, size, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous_block_activation = x
    for filters in [16, 32]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x
    for filters in [32, 16, 8]:
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.UpSampling2D(2)(x)
        residual = layers.UpSampling2D(2)(previous_block_activation)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        x = layers.add([x, residual])
        previous_block_activation = x
    outputs = layers.Conv2D(classes, 3, activation="softmax", padding="same")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.slow
def test_a_unet_read_and_checked_with_its_class_count_has_the_models_own_head_once(cli):
    from cnndsl import compile_spec, to_spec

    model = _unet(64, 3)
    spec = to_spec(model, task="segment")
    assert spec.text.rstrip().endswith("CN(3, 3, padding=same, activation=softmax)") and spec.num_classes == 3
    given = check(spec.text, num_classes=spec.num_classes, task="segment")
    assert given.total_params == check(spec.text, task="segment").total_params == model.count_params()
    assert given.layers[-1].layer.text == "CN(3, 3, padding=same, activation=softmax)"
    assert compile_spec(spec.text, num_classes=3, task="segment").count_params() == model.count_params()
    result = cli("summary", spec.text, "--task", "segment", "--classes", "3")
    assert result.returncode == 0, result.stderr
    assert f"Total params: {model.count_params():,}" in result.stdout


WRITTEN_HEADS = [
    # (task, spec, the count given, the parameters: the written head is the head, nothing appended)
    ("segment", "CN(4, 3, padding=same) -> CN(3, 3, padding=same, activation=softmax)", 3, 112 + 111),
    ("classify", "CN(4) -> GAP() -> DN(5, activation=softmax)", 5, 40 + 25),
    ("regress", "CN(4) -> GAP() -> DN(2, activation=linear)", 2, 40 + 10),
]


@pytest.mark.parametrize(("task", "text", "given", "params"), WRITTEN_HEADS)
def test_a_written_head_of_the_count_given_is_not_followed_by_another(task, text, given, params):
    model = check(text, (8, 8, 1) if task != "segment" else (8, 8, 3), given, task=task)
    assert model.total_params == params and model.layers[-1].layer.head and model.num_classes == given
    assert model.layers[-1].layer.text == text.rsplit("-> ", 1)[1]


def test_a_written_softmax_of_another_width_than_the_count_given_stays_hidden():
    model = check("CN(4, 3, padding=same) -> CN(5, 3, padding=same, activation=softmax)", (8, 8, 3), 3, task="segment")
    assert model.layers[-1].layer.text == "CN(3, 1, activation=softmax)" and not model.layers[-2].layer.head
