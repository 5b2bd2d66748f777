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
    """``inputs[0] + scale * inputs[1]``: InceptionResNetV2's scaled residual.

    Inputs of different ranks are aligned as Keras's ``Add`` aligns them (the lower-ranked
    one gains axes of size 1 after the batch axis), so that ``ADD(..., scale=s)`` broadcasts
    as ``ADD(...)`` does, never across the batch.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        first, second = merge_aligned(inputs)
        return first + second * self.scale

    def compute_output_shape(self, input_shapes):
        rank = max(len(shape) for shape in input_shapes)
        first, second = ((shape[0], *(1,) * (rank - len(shape)), *shape[1:]) for shape in input_shapes)
        return tuple(b if a == 1 else a if b in (1, None) else b for a, b in zip(first, second))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def merge_aligned(inputs: list) -> list:
    """The inputs of a merge at one rank, the lower-ranked given axes of size 1 after the batch axis, as Keras's
    merge layers align them."""
    rank = max(len(x.shape) for x in inputs)
    aligned = []
    for x in inputs:
        for _ in range(rank - len(x.shape)):
            x = keras.ops.expand_dims(x, axis=1)
        aligned.append(x)
    return aligned


@keras.saving.register_keras_serializable(package="cnndsl")
class ResizeTo(keras.layers.Layer):
    """``inputs[0]`` resized to the height and width of ``inputs[1]``, as Keras's ``Resizing`` resizes (the
    size of an ASPP pooling branch, or a segmentation's logits, brought back to another tensor's)."""

    def __init__(self, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        self.interpolation = interpolation

    def call(self, inputs):
        x, like = inputs
        size = tuple(like.shape[1:3])
        if None in size:
            size = keras.ops.shape(like)[1:3]
        return keras.ops.image.resize(x, size, interpolation=self.interpolation, data_format="channels_last")

    def compute_output_shape(self, input_shapes):
        x, like = input_shapes
        return (x[0], like[1], like[2], x[3])

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


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


def _explicit_pads(x, pool_size, strides, pad, ceil):
    """((top, bottom), (left, right)): ``pad`` on both sides, and for ``ceil`` the rows and columns a last,
    overhanging window reaches past them (PyTorch's ``ceil_mode``)."""
    pads = []
    for size, window, stride, amount in zip(x.shape[1:3], pool_size, strides, pad):
        extra = 0
        if ceil:
            if size is None:
                raise ValueError("ceil=true pooling needs the input's height and width")
            span = size + 2 * amount - window
            out = -(-span // stride) + 1
            out -= (out - 1) * stride >= size + amount
            extra = max((out - 1) * stride + window - size - 2 * amount, 0)
        pads.append((amount, amount + extra))
    return pads


@keras.saving.register_keras_serializable(package="cnndsl")
class PaddedMaxPooling2D(keras.layers.Layer):
    """Max pooling over a window padded by ``pad`` on each side (padding never the maximum), as PyTorch's
    ``MaxPool2d(padding=pad, ceil_mode=ceil)``."""

    def __init__(self, pool_size, strides=None, pad=(0, 0), ceil=False, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides = tuple(pool_size), tuple(strides or pool_size)
        self.pad, self.ceil = tuple(pad), ceil

    def call(self, x):
        (top, bottom), (left, right) = _explicit_pads(x, self.pool_size, self.strides, self.pad, self.ceil)
        padded = keras.ops.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=float("-inf"))
        return keras.ops.max_pool(padded, self.pool_size, self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        return _explicit_pool_shape(input_shape, self.pool_size, self.strides, self.pad, self.ceil)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides, "pad": self.pad,
                "ceil": self.ceil}  # fmt: skip


@keras.saving.register_keras_serializable(package="cnndsl")
class PaddedAveragePooling2D(keras.layers.Layer):
    """Average pooling over a window padded by ``pad`` on each side, as PyTorch's ``AvgPool2d(padding=pad,
    ceil_mode=ceil, count_include_pad=count_pad)``: the padding counts in the mean only with ``count_pad``,
    the rows and columns a ``ceil`` window overhangs never."""

    def __init__(self, pool_size, strides=None, pad=(0, 0), ceil=False, count_pad=False, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides = tuple(pool_size), tuple(strides or pool_size)
        self.pad, self.ceil, self.count_pad = tuple(pad), ceil, count_pad

    def call(self, x):
        (top, bottom), (left, right) = _explicit_pads(x, self.pool_size, self.strides, self.pad, self.ceil)
        (ph, pw), ops = self.pad, keras.ops
        padded = ops.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
        ones = ops.ones((1, x.shape[1], x.shape[2], 1), dtype=x.dtype)
        counted = ops.pad(ones, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=1 if self.count_pad else 0)
        counted = ops.pad(counted, ((0, 0), (0, bottom - ph), (0, right - pw), (0, 0)))
        total = ops.average_pool(padded, self.pool_size, self.strides, padding="valid")
        return total / ops.average_pool(counted, self.pool_size, self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        return _explicit_pool_shape(input_shape, self.pool_size, self.strides, self.pad, self.ceil)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides, "pad": self.pad,
                "ceil": self.ceil, "count_pad": self.count_pad}  # fmt: skip


def _explicit_pool_shape(input_shape, pool_size, strides, pad, ceil):
    sizes = []
    for size, window, stride, amount in zip(input_shape[1:3], pool_size, strides, pad):
        if size is None:
            sizes.append(None)
            continue
        span = size + 2 * amount - window
        out = (-(-span // stride) if ceil else span // stride) + 1
        sizes.append(out - 1 if ceil and (out - 1) * stride >= size + amount else out)
    return (input_shape[0], *sizes, input_shape[3])


@keras.saving.register_keras_serializable(package="cnndsl")
class ChannelSplit(keras.layers.Layer):
    """The ``index``-th of ``parts`` equal groups of the channels: ShuffleNetV2's split."""

    def __init__(self, index, parts=2, **kwargs):
        super().__init__(**kwargs)
        self.index, self.parts = index, parts

    def call(self, x):
        size = x.shape[-1] // self.parts
        return x[..., self.index * size : (self.index + 1) * size]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // self.parts)

    def get_config(self):
        return {**super().get_config(), "index": self.index, "parts": self.parts}


@keras.saving.register_keras_serializable(package="cnndsl")
class Padding2D(keras.layers.Layer):
    """Height and width padded by ``padding`` ((top, bottom), (left, right)) with the edge ``reflect``-ed (its row
    not repeated) or ``replicate``-d, as PyTorch's ``ReflectionPad2d`` and ``ReplicationPad2d``: each padded row and
    column gathered from the one it copies."""

    def __init__(self, padding, mode, **kwargs):
        super().__init__(**kwargs)
        self.padding, self.mode = tuple(tuple(pair) for pair in padding), mode

    def call(self, x):
        for axis, (before, after) in zip((1, 2), self.padding):
            size = x.shape[axis] if x.shape[axis] is not None else keras.ops.shape(x)[axis]
            x = keras.ops.take(x, self._sources(size, before, after), axis=axis)
        return x

    def _sources(self, size, before, after):
        ops = keras.ops
        index = ops.arange(-before, size + after)
        if self.mode == "replicate":
            return ops.clip(index, 0, size - 1)
        return (size - 1) - ops.abs((size - 1) - ops.abs(index))

    def compute_output_shape(self, input_shape):
        sizes = [None if n is None else n + sum(pads) for n, pads in zip(input_shape[1:3], self.padding)]
        return (input_shape[0], *sizes, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "mode": self.mode}


_BLOCK_AXES = {"dcr": (3, 4, 5), "crd": (4, 5, 3)}
"""Where (block row, block column, channel) sit among the six axes of a block-moved NHWC tensor, per mode."""


def _block_sizes(x):
    return [x.shape[axis] if x.shape[axis] is not None else keras.ops.shape(x)[axis] for axis in (1, 2, 3)]


@keras.saving.register_keras_serializable(package="cnndsl")
class DepthToSpace(keras.layers.Layer):
    """Each pixel's ``C r²`` channels spread over an ``r`` x ``r`` square: ``mode="dcr"`` as TensorFlow's
    ``depth_to_space`` (channel ``(i r + j) C + c``), ``"crd"`` as PyTorch's ``pixel_shuffle`` (``c r² + i r + j``)."""

    def __init__(self, block_size, mode="dcr", **kwargs):
        super().__init__(**kwargs)
        self.block_size, self.mode = block_size, mode

    def call(self, x):
        ops, r = keras.ops, self.block_size
        height, width, channels = _block_sizes(x)
        out = channels // (r * r)
        split = (-1, height, width, r, r, out) if self.mode == "dcr" else (-1, height, width, out, r, r)
        row, column, channel = _BLOCK_AXES[self.mode]
        moved = ops.transpose(ops.reshape(x, split), (0, 1, row, 2, column, channel))
        return ops.reshape(moved, (-1, height * r, width * r, out))

    def compute_output_shape(self, input_shape):
        r, (height, width, channels) = self.block_size, input_shape[1:]
        return (input_shape[0], *(None if n is None else n * r for n in (height, width)), channels // (r * r))

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size, "mode": self.mode}


@keras.saving.register_keras_serializable(package="cnndsl")
class SpaceToDepth(keras.layers.Layer):
    """Each ``r`` x ``r`` square of pixels stacked into the channels, :class:`DepthToSpace`'s inverse: ``mode="dcr"``
    as TensorFlow's ``space_to_depth``, ``"crd"`` as PyTorch's ``pixel_unshuffle``."""

    def __init__(self, block_size, mode="dcr", **kwargs):
        super().__init__(**kwargs)
        self.block_size, self.mode = block_size, mode

    def call(self, x):
        ops, r = keras.ops, self.block_size
        height, width, channels = _block_sizes(x)
        squares = ops.reshape(x, (-1, height // r, r, width // r, r, channels))  # (n, h, i, w, j, c)
        order = (0, 1, 3, 2, 4, 5) if self.mode == "dcr" else (0, 1, 3, 5, 2, 4)
        return ops.reshape(ops.transpose(squares, order), (-1, height // r, width // r, channels * r * r))

    def compute_output_shape(self, input_shape):
        r, (height, width, channels) = self.block_size, input_shape[1:]
        return (input_shape[0], *(None if n is None else n // r for n in (height, width)), channels * r * r)

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size, "mode": self.mode}


@keras.saving.register_keras_serializable(package="cnndsl")
class ChannelSlice(keras.layers.Layer):
    """The channels ``start`` to ``stop - 1``: ``x[..., start:stop]`` (an uneven split's part); with ``groups``, the
    channels cut into that many equal groups and channels ``start`` to ``stop - 1`` of each kept, in group order."""

    def __init__(self, start, stop, groups=1, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop, self.groups = start, stop, groups

    def call(self, x):
        if self.groups == 1:
            return x[..., self.start : self.stop]
        size = x.shape[-1] // self.groups
        kept = [g * size + c for g in range(self.groups) for c in range(self.start, self.stop)]
        return keras.ops.take(x, kept, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], (self.stop - self.start) * self.groups)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop, "groups": self.groups}


@keras.saving.register_keras_serializable(package="cnndsl")
class ChannelShuffle(keras.layers.Layer):
    """ShuffleNet's channel shuffle: channel ``i`` of group ``g`` goes to ``i * groups + g``."""

    def __init__(self, groups=2, **kwargs):
        super().__init__(**kwargs)
        self.groups = groups

    def call(self, x):
        ops = keras.ops
        height, width, channels = ops.shape(x)[1], ops.shape(x)[2], x.shape[-1]
        grouped = ops.reshape(x, (-1, height, width, self.groups, channels // self.groups))
        return ops.reshape(ops.transpose(grouped, (0, 1, 2, 4, 3)), (-1, height, width, channels))

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="cnndsl")
class Attention2D(keras.layers.Layer):
    """Attention over positions of a query, a key and a value map (YOLO's PSA): for each of ``heads`` equal channel
    groups, each position's output is the values averaged with weights ``softmax(scale <q, k>)`` over every
    position (row-major), ``scale = (C_q / heads) ** -0.5``; the output has the value's shape."""

    def __init__(self, heads=1, **kwargs):
        super().__init__(**kwargs)
        self.heads = heads

    def call(self, inputs):
        ops = keras.ops
        query, key, value = inputs
        height, width = (query.shape[a] if query.shape[a] is not None else ops.shape(query)[a] for a in (1, 2))
        scale = (query.shape[-1] // self.heads) ** -0.5
        q, k, v = (self._heads(x, height * width) for x in (query, key, value))  # (batch, heads, positions, c)
        weights = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * scale, axis=-1)
        out = ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3))
        return ops.reshape(out, (-1, height, width, value.shape[-1]))

    def _heads(self, x, positions):
        grouped = keras.ops.reshape(x, (-1, positions, self.heads, x.shape[-1] // self.heads))
        return keras.ops.transpose(grouped, (0, 2, 1, 3))

    def compute_output_shape(self, input_shapes):
        query, _, value = input_shapes
        return (query[0], query[1], query[2], value[-1])

    def get_config(self):
        return {**super().get_config(), "heads": self.heads}


@keras.saving.register_keras_serializable(package="cnndsl")
class Detect(keras.layers.Layer):
    """YOLO's detection head (Ultralytics' ``Detect``) over feature levels, each weight named by its path there.

    Called on the levels, it returns the decoded predictions ``(B, anchors, 4 + classes)``: boxes
    ``(x, y, w, h)`` in input pixels around each cell's centre, and sigmoid class scores. ``raw(levels)``
    gives each level's raw map instead, ``(B, H, W, 4 * bins + classes)``, what the head computes in
    training. Batch norm reads its moving statistics (training detectors is not supported yet).
    """

    def __init__(self, classes=80, bins=16, legacy=False, strides=(), **kwargs):
        super().__init__(**kwargs)
        self.classes, self.bins, self.legacy, self.strides = classes, bins, legacy, [int(s) for s in strides]

    def build(self, input_shapes):
        channels = [shape[-1] for shape in input_shapes]
        c2, c3 = max(16, channels[0] // 4, self.bins * 4), max(channels[0], min(self.classes, 100))
        self.box_steps, self.score_steps = [], []
        for i, x in enumerate(channels):
            self.box_steps.append([self._conv_norm(f"cv2.{i}.0", 3, x, c2), self._conv_norm(f"cv2.{i}.1", 3, c2, c2),
                                   self._out_conv(f"cv2.{i}.2", c2, 4 * self.bins)])  # fmt: skip
        for i, x in enumerate(channels):
            if self.legacy:
                steps = [self._conv_norm(f"cv3.{i}.0", 3, x, c3), self._conv_norm(f"cv3.{i}.1", 3, c3, c3)]
            else:
                steps = [self._conv_norm(f"cv3.{i}.0.0", 3, x, x, True), self._conv_norm(f"cv3.{i}.0.1", 1, x, c3),
                         self._conv_norm(f"cv3.{i}.1.0", 3, c3, c3, True), self._conv_norm(f"cv3.{i}.1.1", 1, c3, c3)]  # fmt: skip
            self.score_steps.append([*steps, self._out_conv(f"cv3.{i}.2", c3, self.classes)])
        bins = self.bins
        self.dfl = self.add_weight(name="dfl.conv.kernel", shape=(1, 1, bins, 1), trainable=False,
                                   initializer=lambda shape, dtype=None: keras.ops.reshape(
                                       keras.ops.arange(bins, dtype="float32"), shape))  # fmt: skip

    def _conv_norm(self, path, kernel, into, out, depthwise=False):
        shape = (kernel, kernel, into, 1) if depthwise else (kernel, kernel, into, out)
        weights = [self.add_weight(name=f"{path}.conv.kernel", shape=shape, initializer="glorot_uniform")]
        for name, start, trainable in (("gamma", "ones", True), ("beta", "zeros", True),
                                       ("moving_mean", "zeros", False), ("moving_variance", "ones", False)):  # fmt: skip
            weights.append(self.add_weight(name=f"{path}.bn.{name}", shape=(out,), initializer=start,
                                           trainable=trainable))  # fmt: skip
        return ("depthwise" if depthwise else "conv", weights)

    def _out_conv(self, path, into, out):
        kernel = self.add_weight(name=f"{path}.kernel", shape=(1, 1, into, out), initializer="glorot_uniform")
        return ("out", [kernel, self.add_weight(name=f"{path}.bias", shape=(out,), initializer="zeros")])

    @staticmethod
    def _step(x, step):
        ops = keras.ops
        kind, weights = step
        if kind == "out":
            return ops.conv(x, weights[0], padding="same") + weights[1]
        kernel, gamma, beta, mean, variance = weights
        x = (
            ops.depthwise_conv(x, kernel, padding="same")
            if kind == "depthwise"
            else ops.conv(x, kernel, padding="same")
        )
        x = (x - mean) * ops.rsqrt(variance + 1e-3) * gamma + beta
        return ops.silu(x)

    def raw(self, levels):
        """Each level's raw map, ``(B, H, W, 4 * bins + classes)``: box distribution logits, then class logits."""
        maps = []
        for x, box, score in zip(levels, self.box_steps, self.score_steps):
            b, s = x, x
            for step in box:
                b = self._step(b, step)
            for step in score:
                s = self._step(s, step)
            maps.append(keras.ops.concatenate([b, s], -1))
        return maps

    def call(self, levels):
        return self.decode(self.raw(levels))

    def decode(self, maps):
        """Raw maps as ``(B, anchors, 4 + classes)``: the distributions' expected distances around each cell's
        centre, times the level's stride, as ``(x, y, w, h)``; the class logits' sigmoids."""
        ops = keras.ops
        rows, points, scales = [], [], []
        for m, stride in zip(maps, self.strides):
            height, width = m.shape[1], m.shape[2]
            rows.append(ops.reshape(m, (-1, height * width, m.shape[-1])))
            ys, xs = ops.meshgrid(ops.arange(height, dtype="float32") + 0.5, ops.arange(width, dtype="float32") + 0.5,
                                  indexing="ij")  # fmt: skip
            points.append(ops.stack([ops.reshape(xs, (-1,)), ops.reshape(ys, (-1,))], -1))
            scales.append(ops.full((height * width, 1), float(stride)))
        flat = ops.concatenate(rows, 1)
        anchors, box_width = flat.shape[1], 4 * self.bins
        spread = ops.softmax(ops.reshape(flat[..., :box_width], (-1, anchors, 4, self.bins)), axis=-1)
        distance = ops.squeeze(ops.matmul(spread, ops.reshape(self.dfl, (self.bins, 1))), -1)
        near, far = distance[..., :2], distance[..., 2:]
        boxes = ops.concatenate([ops.concatenate(points, 0) + (far - near) / 2, near + far], -1)
        boxes = boxes * ops.concatenate(scales, 0)
        return ops.concatenate([boxes, ops.sigmoid(flat[..., box_width:])], -1)

    def compute_output_shape(self, input_shapes):
        anchors = sum(shape[1] * shape[2] for shape in input_shapes)
        return (input_shapes[0][0], anchors, 4 + self.classes)

    def get_config(self):
        config = {"classes": self.classes, "bins": self.bins, "legacy": self.legacy, "strides": self.strides}
        return {**super().get_config(), **config}
