"""The Keras layers the notation needs that ``keras.layers`` lacks, saved as ``cnndsl>Name``.

Each is the layer keras.applications defines for itself (ConvNeXt's ``LayerScale``,
InceptionResNetV2's ``CustomScaleLayer``), with the same arguments and weights, so that a
model read from keras.applications takes its weights unchanged. The Keras-source emitter
copies the text below the marker into the scripts it writes, so an emitted script defines
them exactly as this module does. Imported only by the Keras backend.
"""

from __future__ import annotations

import keras

# --- layers (copied verbatim into emitted scripts) ---


@keras.saving.register_keras_serializable(package="cnndsl")
class LayerScale(keras.layers.Layer):
    """``x * gamma``: a learned scale per channel, ``gamma`` starting at ``init_values`` (ConvNeXt's)."""

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values, self.projection_dim = init_values, projection_dim

    def build(self, input_shape):
        initializer = keras.initializers.Constant(self.init_values)
        self.gamma = self.add_weight(shape=(self.projection_dim,), initializer=initializer, name="gamma")

    def call(self, x):
        return x * self.gamma

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}


@keras.saving.register_keras_serializable(package="cnndsl")
class ScaledAdd(keras.layers.Layer):
    """``inputs[0] + scale * inputs[1]``: InceptionResNetV2's scaled residual."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
