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


@keras.saving.register_keras_serializable(package="cnndsl")
class RandomOrCenterCrop(keras.layers.Layer):
    """A random ``height`` x ``width`` window of the images in training, the central window in inference.

    Keras's own ``RandomCrop`` passes the whole image on in inference, so a model's shapes
    would differ between training and inference; this one crops the same size in both.
    """

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width, self.seed = height, width, seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, images, training=None):
        rows, columns = images.shape[1] - self.height, images.shape[2] - self.width
        if training:
            top = keras.ops.cast(keras.random.uniform((), 0, rows + 1, seed=self.seed_generator), "int32")
            left = keras.ops.cast(keras.random.uniform((), 0, columns + 1, seed=self.seed_generator), "int32")
            top, left = keras.ops.minimum(top, rows), keras.ops.minimum(left, columns)
        else:
            top, left = rows // 2, columns // 2
        images = keras.ops.take(images, top + keras.ops.arange(self.height), axis=1)
        return keras.ops.take(images, left + keras.ops.arange(self.width), axis=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "seed": self.seed}
