"""PyTorch modules that behave as their Keras layers do, where ``torch.nn`` has none.

Tensors are channels-first inside (``(N, C, H, W)``); each module here restores
a Keras behaviour that the plain ``torch.nn`` module lacks: Keras's initialisers,
flattening in channels-last order, merging with Keras's broadcasting. The
emitted PyTorch source copies the classes it uses from this file, so each class
stands alone: it uses only ``math``, ``torch``, ``nn`` and ``F``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Conv2d(nn.Conv2d):
    """nn.Conv2d initialised as Keras initialises Conv2D: glorot uniform kernel (a group's fans), zero bias."""

    def reset_parameters(self):
        field = self.kernel_size[0] * self.kernel_size[1]
        fan_in, fan_out = self.in_channels // self.groups * field, self.out_channels * field
        limit = math.sqrt(6 / (fan_in + fan_out))
        nn.init.uniform_(self.weight, -limit, limit)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class DepthwiseConv2d(nn.Conv2d):
    """nn.Conv2d with one group per channel, initialised as Keras's DepthwiseConv2D: fans of its (kh, kw, in, multiplier) kernel."""

    def reset_parameters(self):
        field = self.kernel_size[0] * self.kernel_size[1]
        fan_in, fan_out = self.in_channels * field, self.out_channels // self.groups * field
        limit = math.sqrt(6 / (fan_in + fan_out))
        nn.init.uniform_(self.weight, -limit, limit)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d initialised as Keras initialises Conv2DTranspose: glorot uniform kernel, zero bias."""

    def reset_parameters(self):
        field = self.kernel_size[0] * self.kernel_size[1]
        limit = math.sqrt(6 / ((self.in_channels + self.out_channels) * field))
        nn.init.uniform_(self.weight, -limit, limit)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class Linear(nn.Linear):
    """nn.Linear initialised as Keras initialises Dense: glorot uniform kernel, zero bias."""

    def reset_parameters(self):
        nn.init.xavier_uniform_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class BatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNormalization over the channel axis with Keras's center and scale chosen apart."""

    def __init__(self, num_features, eps, momentum, center, scale):
        super().__init__(num_features, eps, momentum, affine=False)
        self.weight = nn.Parameter(torch.ones(num_features)) if scale else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if center else None

    def _check_input_dim(self, input):
        if input.dim() not in (2, 4):
            raise ValueError(f"expected a 2-D or 4-D input, got {input.dim()}-D")


class ChannelsSecond(nn.Module):
    """Apply a module that wants channels at dim 1 (batch norm) to a 3-D tensor, held as Keras holds it: channels last."""

    def __init__(self, *layers):
        super().__init__()
        self.inner = nn.Sequential(*layers)

    def forward(self, x):
        return self.inner(x.permute(0, 2, 1)).permute(0, 2, 1)


def channel_view(x, values):
    """Per-channel values shaped to broadcast over x: dim 1 of a channels-first 4-D tensor, else the last."""
    return values.reshape(1, -1, 1, 1) if x.dim() == 4 else values


class LayerNorm(nn.Module):
    """keras.layers.LayerNormalization over one axis (``dim``, channels-first), center and scale chosen apart."""

    def __init__(self, size, dim, eps, center, scale):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = nn.Parameter(torch.ones(size)) if scale else None
        self.bias = nn.Parameter(torch.zeros(size)) if center else None

    def forward(self, x):
        mean = x.mean(dim=self.dim, keepdim=True)
        variance = ((x - mean) ** 2).mean(dim=self.dim, keepdim=True)
        out = (x - mean) * torch.rsqrt(variance + self.eps)
        shape = [1] * x.dim()
        shape[self.dim] = -1
        if self.weight is not None:
            out = out * self.weight.reshape(shape)
        if self.bias is not None:
            out = out + self.bias.reshape(shape)
        return out


class LayerScale(nn.Module):
    """ConvNeXt's layer scale: ``x * gamma``, one learned value per channel, starting at ``init``."""

    def __init__(self, channels, init):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), float(init)))

    def forward(self, x):
        return x * channel_view(x, self.gamma)


class Rescale(nn.Module):
    """keras.layers.Rescaling: ``x * scale + offset``."""

    def __init__(self, scale, offset):
        super().__init__()
        self.scale, self.offset = scale, offset

    def forward(self, x):
        return x * self.scale + self.offset


class Normalization(nn.Module):
    """keras.layers.Normalization over the channels: ``(x - mean) / max(sqrt(variance), 1e-7)``.

    Given mean and variance are constants; adapted ones (``mean=None``) are buffers, as
    Keras's non-trainable weights mean, variance and count are, to be filled from the data.
    """

    def __init__(self, channels, mean=None, variance=None):
        super().__init__()
        adapted = mean is None
        mean = torch.zeros(channels) if adapted else torch.tensor(mean, dtype=torch.float32)
        variance = torch.ones(channels) if adapted else torch.tensor(variance, dtype=torch.float32)
        self.register_buffer("mean", mean, persistent=adapted)
        self.register_buffer("variance", variance, persistent=adapted)
        if adapted:
            self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    def forward(self, x):
        mean, variance = channel_view(x, self.mean), channel_view(x, self.variance)
        return (x - mean) / torch.clamp(torch.sqrt(variance), min=1e-7)


class DropExample(nn.Module):
    """Dropout of whole examples (Keras's ``noise_shape=(None, 1, 1, 1)``): drop-connect, stochastic depth."""

    def __init__(self, rate):
        super().__init__()
        self.rate = rate

    def forward(self, x):
        if not self.training or self.rate == 0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device) >= self.rate
        return x * keep.to(x.dtype) / (1 - self.rate)


class Reshape(nn.Module):
    """keras.layers.Reshape: the values in Keras's channels-last order, reshaped to ``shape`` (batch aside)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        if x.dim() == 4:
            x = x.permute(0, 2, 3, 1)
        x = x.reshape((x.shape[0],) + self.shape)
        return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


class Crop2d(nn.Module):
    """keras.layers.Cropping2D: ``(top, bottom, left, right)`` rows and columns cut off."""

    def __init__(self, crop):
        super().__init__()
        self.crop = tuple(crop)

    def forward(self, x):
        top, bottom, left, right = self.crop
        return x[:, :, top : x.shape[2] - bottom, left : x.shape[3] - right]


class RandomFlip(nn.Module):
    """keras.layers.RandomFlip: each image flipped at random in training (each axis with probability 1/2)."""

    def __init__(self, mode="horizontal_and_vertical"):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        if not self.training:
            return x
        for axis, name in ((3, "horizontal"), (2, "vertical")):
            if name in self.mode:
                flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.5
                x = torch.where(flip, x.flip(axis), x)
        return x


class RandomAffine(nn.Module):
    """keras.layers.RandomRotation, RandomTranslation and RandomZoom in training (sampled as Keras
    does, resampled by ``grid_sample``); the identity in inference."""

    PADDING = {"reflect": "reflection", "nearest": "border", "constant": "zeros"}

    def __init__(self, rotation=0.0, translation=(0.0, 0.0), zoom=None, fill="reflect", interpolation="bilinear"):
        super().__init__()
        self.rotation, self.translation, self.zoom = rotation, tuple(translation), zoom
        self.fill, self.interpolation = fill, interpolation

    def forward(self, x):
        if not self.training:
            return x
        n, _, height, width = x.shape

        def uniform(bound):
            return (torch.rand(n, device=x.device) * 2 - 1) * bound

        angle = uniform(self.rotation * 2 * math.pi)
        zoom_h, zoom_w = (1.0, 1.0) if self.zoom is None else self.zoom
        scale_y = 1 + uniform(zoom_h)
        scale_x = scale_y if zoom_w is None else 1 + uniform(zoom_w)
        aspect = width / height
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.zeros(n, 2, 3, device=x.device)
        theta[:, 0, 0], theta[:, 0, 1] = cos * scale_x, -sin * scale_y / aspect
        theta[:, 1, 0], theta[:, 1, 1] = sin * scale_x * aspect, cos * scale_y
        theta[:, 0, 2], theta[:, 1, 2] = uniform(2 * self.translation[1]), uniform(2 * self.translation[0])
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        padding = self.PADDING[self.fill]
        return F.grid_sample(x, grid, mode=self.interpolation, padding_mode=padding, align_corners=False)


class RandomOrCenterCrop(nn.Module):
    """cnndsl's RandomOrCenterCrop: a random ``height`` x ``width`` window in training, the central one in eval()."""

    def __init__(self, height, width):
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x):
        rows, columns = x.shape[2] - self.height, x.shape[3] - self.width
        if self.training:
            top, left = int(torch.randint(rows + 1, ())), int(torch.randint(columns + 1, ()))
        else:
            top, left = rows // 2, columns // 2
        return x[:, :, top : top + self.height, left : left + self.width]


class RandomContrast(nn.Module):
    """keras.layers.RandomContrast: ``(x - mean) * f + mean`` per image, f from 1 to 1 + factor, clipped to 0..255."""

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        if not self.training:
            return x
        factor = 1 + torch.rand(x.shape[0], 1, 1, 1, device=x.device) * self.factor
        mean = x.mean(dim=(2, 3), keepdim=True)
        return ((x - mean) * factor + mean).clamp(0, 255)


class FlattenNHWC(nn.Module):
    """Flatten as Keras does on channels-last data, so a Dense after it keeps Keras's weights."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x.flatten(1)


class ChannelsLast(nn.Module):
    """Apply a module to the last Keras axis (the channels) of a channels-first 4-D tensor.

    ``permute`` rather than ``movedim``: ONNX export writes movedim's negative axes as an invalid Transpose.
    """

    def __init__(self, *layers):
        super().__init__()
        self.inner = nn.Sequential(*layers)

    def forward(self, x):
        return self.inner(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class AvgPool2dSame(nn.Module):
    """Average pooling over a window padded as TensorFlow pads (left, right, top, bottom), padding not counted."""

    def __init__(self, kernel_size, stride, pad):
        super().__init__()
        self.kernel_size, self.stride, self.pad = kernel_size, stride, pad

    def forward(self, x):
        total = F.avg_pool2d(F.pad(x, self.pad), self.kernel_size, self.stride)
        ones = F.pad(torch.ones_like(x[:1, :1]), self.pad)
        return total / F.avg_pool2d(ones, self.kernel_size, self.stride)


class ChannelSplit(nn.Module):
    """The ``index``-th of ``parts`` equal groups of the channels (``x.chunk(parts, dim=1)[index]``)."""

    def __init__(self, parts, index):
        super().__init__()
        self.parts, self.index = parts, index

    def forward(self, x):
        return x.chunk(self.parts, dim=1)[self.index]


class ChannelSlice(nn.Module):
    """The channels ``start`` to ``stop - 1`` of ``dim`` (``x[:, start:stop]``); with ``groups``, of each of that many
    equal groups of the channels, in group order (a multi-head split)."""

    def __init__(self, start, stop, dim=1, groups=1):
        super().__init__()
        self.start, self.stop, self.dim, self.groups = start, stop, dim, groups

    def forward(self, x):
        if self.groups == 1:
            return x.narrow(self.dim, self.start, self.stop - self.start)
        dim = self.dim % x.dim()
        heads = x.unflatten(dim, (self.groups, x.shape[dim] // self.groups))
        return heads.narrow(dim + 1, self.start, self.stop - self.start).flatten(dim, dim + 1)


class ResizeNearest(nn.Module):
    """Keras's nearest resizing to ``height`` x ``width``: the pixel nearest each output pixel's centre (half-pixel
    centres, as ``mode="nearest-exact"``), gathered by its row and column, so that it exports to ONNX."""

    def __init__(self, height, width):
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x):
        rows = self._sources(x.shape[2], self.height, x.device)
        columns = self._sources(x.shape[3], self.width, x.device)
        return x.index_select(2, rows).index_select(3, columns)

    @staticmethod
    def _sources(size, out, device):
        scale = torch.tensor(size, dtype=torch.float32) / torch.tensor(out, dtype=torch.float32)
        centres = (torch.arange(out, dtype=torch.float32) + 0.5) * scale
        return centres.floor().long().clamp(max=size - 1).to(device)


class ResizeTo(nn.Module):
    """Keras's resizing of ``x`` to the height and width of ``like`` (``RSZTO(X | Y)``): bilinear with half-pixel
    centres (``align_corners=False``), or nearest as :class:`ResizeNearest` gathers it."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x, like):
        height, width = like.shape[2], like.shape[3]
        if self.mode == "bilinear":
            return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
        return ResizeNearest(height, width)(x)


class DepthToSpace(nn.Module):
    """TensorFlow's ``depth_to_space`` on (N, C r², H, W): channel ``(i r + j) C + c`` to pixel ``(h r + i, w r + j)``
    of channel ``c`` (``nn.PixelShuffle`` orders the channels ``c r² + i r + j``)."""

    def __init__(self, block_size):
        super().__init__()
        self.block_size = block_size

    def forward(self, x):
        r, (n, channels, height, width) = self.block_size, x.shape
        out = channels // (r * r)
        blocks = x.reshape(n, r, r, out, height, width).permute(0, 3, 4, 1, 5, 2)
        return blocks.reshape(n, out, height * r, width * r)


class SpaceToDepth(nn.Module):
    """TensorFlow's ``space_to_depth`` on (N, C, H r, W r), :class:`DepthToSpace`'s inverse."""

    def __init__(self, block_size):
        super().__init__()
        self.block_size = block_size

    def forward(self, x):
        r, (n, channels, height, width) = self.block_size, x.shape
        squares = x.reshape(n, channels, height // r, r, width // r, r).permute(0, 3, 5, 1, 2, 4)
        return squares.reshape(n, r * r * channels, height // r, width // r)


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle: channel ``i`` of group ``g`` goes to ``i * groups + g``."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.reshape(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class Exponential(nn.Module):
    """Keras's ``exponential`` activation."""

    def forward(self, x):
        return torch.exp(x)


class Squareplus(nn.Module):
    """Keras's ``squareplus`` activation, b = 4."""

    def forward(self, x):
        return (x + torch.sqrt(x * x + 4)) / 2


class SparsePlus(nn.Module):
    """Keras's ``sparse_plus`` activation."""

    def forward(self, x):
        return torch.where(x <= -1, torch.zeros_like(x), torch.where(x < 1, (x + 1) ** 2 / 4, x))


class SparseSigmoid(nn.Module):
    """Keras's ``sparse_sigmoid`` activation."""

    def forward(self, x):
        return torch.clamp((x + 1) / 2, 0, 1)


class Sparsemax(nn.Module):
    """Keras's ``sparsemax`` over ``dim``, computed as Keras computes it (its threshold sums the supported cumulative sums)."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        if x.dim() == 4 and self.dim == 1:
            return self._last(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self._last(x)

    def _last(self, x):
        ordered = torch.sort(x, dim=-1, descending=True).values
        cumsum = torch.cumsum(ordered, dim=-1)
        rank = torch.arange(1, x.shape[-1] + 1, dtype=x.dtype, device=x.device)
        support = ordered - (cumsum - 1) / rank > 0
        k = support.to(x.dtype).sum(dim=-1, keepdim=True)
        tau = (torch.where(support, cumsum, torch.zeros_like(cumsum)).sum(dim=-1, keepdim=True) - 1) / k
        return torch.clamp(x - tau, min=0)


def keras_layout(tensors):
    """Channels-first tensors as Keras holds them (channels last), lower ranks expanded at axis 1 as Keras's merges do."""
    tensors = [x.permute(0, 2, 3, 1) if x.dim() == 4 else x for x in tensors]
    rank = max(x.dim() for x in tensors)
    return [x.reshape(x.shape[:1] + (1,) * (rank - x.dim()) + x.shape[1:]) for x in tensors]


def torch_layout(x):
    """A channels-last 4-D result back to channels first."""
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


class Add(nn.Module):
    """keras.layers.Add: the sum of the inputs, broadcast as Keras broadcasts."""

    def forward(self, *xs):
        if all(x.shape == xs[0].shape for x in xs):
            return sum(xs[1:], xs[0])
        first, *rest = keras_layout(xs)
        return torch_layout(sum(rest, first))


class ScaledAdd(nn.Module):
    """InceptionResNetV2's scaled residual: ``xs[0] + scale * xs[1]``, broadcast as Keras broadcasts."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, *xs):
        if xs[0].shape == xs[1].shape:
            return xs[0] + xs[1] * self.scale
        first, second = keras_layout(xs)
        return torch_layout(first + second * self.scale)


class Multiply(nn.Module):
    """keras.layers.Multiply: the elementwise product of the inputs, broadcast as Keras broadcasts."""

    def forward(self, *xs):
        same = all(x.shape == xs[0].shape for x in xs)
        first, *rest = xs if same else keras_layout(xs)
        for x in rest:
            first = first * x
        return first if same else torch_layout(first)


class Concatenate(nn.Module):
    """keras.layers.Concatenate on ``dim``, the channels-first axis of Keras's axis."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, dim=self.dim)


class ConvNormAct(nn.Module):
    """Ultralytics' ``Conv``: a convolution without bias (``same`` padding, odd kernel), batch norm
    (eps 1e-3, momentum 0.03, as Keras's 0.97), SiLU; ``conv``, ``bn``, ``act`` as it names them."""

    def __init__(self, into, out, kernel, groups=1):
        super().__init__()
        self.conv = Conv2d(into, out, kernel, padding=kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class DFL(nn.Module):
    """The distribution's expectation: a softmax over ``bins`` per side, weighted by 0..bins-1 in a fixed 1x1 conv."""

    def __init__(self, bins):
        super().__init__()
        self.bins = bins
        self.conv = nn.Conv2d(bins, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(bins, dtype=torch.float).view(1, bins, 1, 1)

    def forward(self, x):
        batch, _, anchors = x.shape
        spread = x.view(batch, 4, self.bins, anchors).transpose(2, 1).softmax(1)
        return self.conv(spread).view(batch, 4, anchors)


class Detect(nn.Module):
    """YOLO's detection head over feature levels, its modules named as Ultralytics' ``Detect`` names them.

    Training: each level's raw map ``(B, 4 * bins + classes, H, W)``, box logits then class logits.
    Inference: ``(B, 4 + classes, anchors)``, boxes ``(x, y, w, h)`` in input pixels and sigmoid scores.
    """

    def __init__(self, classes, bins, legacy, channels, widths, strides):
        super().__init__()
        c2, c3 = widths
        self.classes, self.bins, self.strides = classes, bins, tuple(strides)
        self.cv2 = nn.ModuleList(
            nn.Sequential(ConvNormAct(x, c2, 3), ConvNormAct(c2, c2, 3), Conv2d(c2, 4 * bins, 1)) for x in channels
        )
        if legacy:
            branches = (nn.Sequential(ConvNormAct(x, c3, 3), ConvNormAct(c3, c3, 3), Conv2d(c3, classes, 1))
                        for x in channels)  # fmt: skip
        else:
            branches = (
                nn.Sequential(
                    nn.Sequential(ConvNormAct(x, x, 3, groups=x), ConvNormAct(x, c3, 1)),
                    nn.Sequential(ConvNormAct(c3, c3, 3, groups=c3), ConvNormAct(c3, c3, 1)),
                    Conv2d(c3, classes, 1),
                )
                for x in channels
            )
        self.cv3 = nn.ModuleList(branches)
        self.dfl = DFL(bins)

    def forward(self, *levels):
        maps = tuple(torch.cat((box(x), score(x)), 1) for x, box, score in zip(levels, self.cv2, self.cv3))
        return maps if self.training else self.decode(maps)

    def decode(self, maps):
        """The levels' raw maps as boxes in input pixels and class scores, ``(B, 4 + classes, anchors)``."""
        flat = torch.cat([m.flatten(2) for m in maps], 2)
        box, score = flat.split((4 * self.bins, self.classes), 1)
        points, scale = [], []
        for m, stride in zip(maps, self.strides):
            height, width = m.shape[2:]
            y, x = torch.meshgrid(torch.arange(height, dtype=m.dtype, device=m.device) + 0.5,
                                  torch.arange(width, dtype=m.dtype, device=m.device) + 0.5, indexing="ij")  # fmt: skip
            points.append(torch.stack((x.flatten(), y.flatten())))
            scale.append(torch.full((1, height * width), float(stride), dtype=m.dtype, device=m.device))
        points, scale = torch.cat(points, 1), torch.cat(scale, 1)
        near, far = self.dfl(box).chunk(2, 1)
        boxes = torch.cat((points + (far - near) / 2, near + far), 1) * scale
        return torch.cat((boxes, score.sigmoid()), 1)


class Graph(nn.Module):
    """Layers wired as Keras's functional model wires them: each reads its inputs' outputs (-1: the model input;
    a model of several inputs takes them in order, -2 its second, -3 its third).

    ``results``: a model of several outputs returns the tuple of these layers' outputs, in order
    (-1: the model input); else the last layer's output.
    """

    def __init__(self, layers, inputs, results=None):
        super().__init__()
        for name, module in layers.items():
            self.add_module(name, module)
        self.inputs = [tuple(feeds) for feeds in inputs]
        self.results = None if results is None else tuple(results)

    def forward(self, x):
        return self.run((x,))

    def run(self, given):
        """The outputs on the inputs ``given``, in order: an index below 0 is an input (-1 the first, -2 the second)."""
        outputs = []
        for module, feeds in zip(self.children(), self.inputs):
            outputs.append(module(*(given[-1 - i] if i < 0 else outputs[i] for i in feeds)))
        if self.results is not None:
            return tuple(given[-1 - i] if i < 0 else outputs[i] for i in self.results)
        return outputs[-1]


class MultiInputGraph(Graph):
    """A :class:`Graph` of several inputs: ``forward`` takes them in order (``IN(...) as ir`` after the first)."""

    def forward(self, *given):
        return self.run(given)


class Attention2D(nn.Module):
    """Attention over positions of a query, a key and a value map, channels first (YOLO's PSA attention): per head
    (the ``heads`` equal channel groups), ``v @ softmax(scale q^T k)^T`` over the positions, row-major."""

    def __init__(self, heads=1):
        super().__init__()
        self.heads = heads

    def forward(self, query, key, value):
        q, k, v = (x.flatten(2).unflatten(1, (self.heads, -1)) for x in (query, key, value))
        scale = (query.shape[1] // self.heads) ** -0.5
        weights = ((q.transpose(-2, -1) @ k) * scale).softmax(dim=-1)
        return (v @ weights.transpose(-2, -1)).reshape_as(value)  # any batch, also exported
