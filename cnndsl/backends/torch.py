"""The PyTorch backend: a checked model becomes a ``torch.nn.Module`` equal to its Keras model.

Each layer code maps to constructor calls (:class:`Call`, data, so that the
PyTorch source emitter prints the very calls this module builds). Tensors are
channels-first inside; every place where PyTorch and Keras differ (TensorFlow's
``same`` padding, average pooling that does not count padding, batch-norm
momentum, Keras's flatten order, initialisers, Keras's broadcasting in merges)
is handled in the table, and a layer the table cannot express exactly is
refused with a located error. torch is imported only by :func:`build` and
:func:`port_weights`; the table itself needs no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cnndsl.errors import VALUE, Diagnostic, SpecValueError
from cnndsl.model import CheckedModel, LayerInfo

if TYPE_CHECKING:
    import keras
    import torch

__all__ = ["Call", "TABLE", "LayerPlan", "plan", "build", "port_weights", "parameter_counts"]


@dataclass(frozen=True)
class Call:
    """One constructor call as data: ``Call("nn.ReLU")``, ``Call("Conv2d", (1, 8, (3, 3)), (("stride", (2, 2)),))``.

    A name without ``nn.`` is a class of :mod:`cnndsl.backends.torch_modules`.
    """

    name: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()


class Unsupported(Exception):
    """A layer this backend cannot build exactly as Keras does."""


# --- activations ------------------------------------------------------------------

_ACTIVATIONS: dict[str, tuple[str, tuple[tuple[str, Any], ...]]] = {
    "relu": ("nn.ReLU", ()),
    "relu6": ("nn.ReLU6", ()),
    "leaky_relu": ("nn.LeakyReLU", (("negative_slope", 0.2),)),
    "elu": ("nn.ELU", ()),
    "selu": ("nn.SELU", ()),
    "celu": ("nn.CELU", ()),
    "gelu": ("nn.GELU", ()),
    "silu": ("nn.SiLU", ()),
    "swish": ("nn.SiLU", ()),
    "mish": ("nn.Mish", ()),
    "sigmoid": ("nn.Sigmoid", ()),
    "hard_sigmoid": ("nn.Hardsigmoid", ()),
    "hard_silu": ("nn.Hardswish", ()),
    "hard_swish": ("nn.Hardswish", ()),
    "softplus": ("nn.Softplus", ()),
    "softsign": ("nn.Softsign", ()),
    "tanh": ("nn.Tanh", ()),
    "exponential": ("Exponential", ()),
    "hard_tanh": ("nn.Hardtanh", ()),
    "squareplus": ("Squareplus", ()),
    "log_sigmoid": ("nn.LogSigmoid", ()),
    "sparse_plus": ("SparsePlus", ()),
    "tanh_shrink": ("nn.Tanhshrink", ()),
    "soft_shrink": ("nn.Softshrink", (("lambd", 0.5),)),
    "hard_shrink": ("nn.Hardshrink", (("lambd", 0.5),)),
    "sparse_sigmoid": ("SparseSigmoid", ()),
}
"""Keras activation name -> PyTorch module, with Keras's default constants."""

_ON_AXIS = {"softmax": "nn.Softmax", "log_softmax": "nn.LogSoftmax", "sparsemax": "Sparsemax"}
"""Activations over one axis: Keras's last axis is the channel axis, dim 1 channels-first."""


def activation(name: str, rank: int) -> tuple[Call, ...]:
    """The calls for a Keras activation on a tensor of this rank (none for ``linear``)."""
    if name == "linear":
        return ()
    if name in _ON_AXIS:
        return (Call(_ON_AXIS[name], (), (("dim", 1 if rank == 4 else -1),)),)
    if name not in _ACTIVATIONS:
        raise Unsupported(f"no PyTorch module for the activation {name!r}")
    cls, kwargs = _ACTIVATIONS[name]
    return (Call(cls, (), kwargs),)


# --- padding as TensorFlow computes it ------------------------------------------------


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's ``same``: the extra row or column goes after.

    >>> same_pads(28, 3, 2)
    (0, 1)
    >>> same_pads(5, 3, 1)
    (1, 1)
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _window_pads(info: LayerInfo, kernel, strides, dilation=(1, 1)) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) for ``padding=same``, as F.pad orders them; zeros for ``valid``."""
    if info.layer.args["padding"] != "same":
        return (0, 0, 0, 0)
    _, height, width, _ = info.input_shape
    top, bottom = _axis_pads(height, kernel[0], strides[0], dilation[0])
    left, right = _axis_pads(width, kernel[1], strides[1], dilation[1])
    return (left, right, top, bottom)


def _axis_pads(size: int | None, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """One axis's ``same`` padding; a size left unknown (``IN(None, None, 3)``) is fine at stride 1 only.

    At stride 1 the padding is ``(kernel - 1) * dilation`` whatever the size; at a larger
    stride TensorFlow's padding depends on the size, which PyTorch must know when it builds.
    """
    if size is None and stride != 1:
        raise Unsupported(
            f"TensorFlow's same padding at strides {stride} depends on the input's size, unknown here: "
            "give the input_shape (or IN's height and width) to build it with PyTorch"
        )
    return same_pads(stride if size is None else size, kernel, stride, dilation)


def _symmetric(pads: tuple[int, int, int, int]) -> bool:
    return pads[0] == pads[1] and pads[2] == pads[3]


# --- the table: code -> calls ----------------------------------------------------------


def _conv(info: LayerInfo) -> tuple[Call, ...]:
    a = info.layer.args
    return _convolution(info, info.input_shape[-1], a["filters"], groups=a["groups"]) + activation(a["activation"], 4)


def _convolution(
    info: LayerInfo, channels: int, filters: int, groups: int, bias: bool | None = None
) -> tuple[Call, ...]:
    """A padded (TensorFlow ``same``) convolution with Keras's initialisers."""
    a = info.layer.args
    pads = _window_pads(info, a["kernel"], a["strides"], a["dilation"])
    padding = (pads[2], pads[0]) if _symmetric(pads) else (0, 0)
    pad = () if _symmetric(pads) else (Call("nn.ZeroPad2d", (pads,)),)
    kwargs = _kwargs(stride=a["strides"], padding=padding, dilation=a["dilation"], groups=groups)
    use_bias = a["bias"] if bias is None else bias
    if not use_bias:
        kwargs += (("bias", False),)
    cls = "DepthwiseConv2d" if groups == channels and info.code != "CN" else "Conv2d"
    return (*pad, Call(cls, (channels, filters, a["kernel"]), kwargs))


def _conv_transpose(info: LayerInfo) -> tuple[Call, ...]:
    """``ConvTranspose2d`` cropped or padded per axis to Keras's size (TensorFlow crops an odd excess after)."""
    a = info.layer.args
    axes = [_transpose_axis(k, s, a["padding"]) for k, s in zip(a["kernel"], a["strides"])]
    padding, output_padding, after = zip(*axes)
    kwargs = _kwargs(stride=a["strides"], padding=padding)
    if any(output_padding):
        kwargs += (("output_padding", output_padding),)
    if not a["bias"]:
        kwargs += (("bias", False),)
    crop = (Call("Crop2d", ((0, after[0], 0, after[1]),)),) if any(after) else ()
    convolution = Call("ConvTranspose2d", (info.input_shape[-1], a["filters"], a["kernel"]), kwargs)
    return (convolution, *crop, *activation(a["activation"], 4))


def _transpose_axis(kernel: int, stride: int, padding: str) -> tuple[int, int, int]:
    """(padding, output_padding, rows cropped after) making ``(size - 1) * stride + kernel`` Keras's size.

    >>> _transpose_axis(3, 2, "same")  # 2 * size + 1: the odd row is cropped after
    (0, 0, 1)
    >>> _transpose_axis(1, 2, "valid")  # 2 * size - 1, one row of bias only after
    (0, 1, 0)
    """
    excess = kernel - stride  # what the full output has beyond size * stride
    if excess < 0:
        return 0, -excess, 0
    if padding == "valid":
        return 0, 0, 0
    return excess // 2, 0, excess % 2


def _kwargs(**values) -> tuple[tuple[str, Any], ...]:
    """Keyword arguments that differ from PyTorch's defaults, in order."""
    defaults = {"stride": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": 1}
    return tuple((name, value) for name, value in values.items() if defaults.get(name, object()) != value)


def _depthwise(info: LayerInfo) -> tuple[Call, ...]:
    a = info.layer.args
    channels = info.input_shape[-1]
    convolution = _convolution(info, channels, channels * a["depth_multiplier"], groups=channels)
    return convolution + activation(a["activation"], 4)


def _separable(info: LayerInfo) -> tuple[Call, ...]:
    a = info.layer.args
    channels = info.input_shape[-1]
    inner = channels * a["depth_multiplier"]
    depthwise = _convolution(info, channels, inner, groups=channels, bias=False)
    pointwise = Call("Conv2d", (inner, a["filters"], (1, 1)), () if a["bias"] else (("bias", False),))
    return (*depthwise, pointwise, *activation(a["activation"], 4))


def _pool(info: LayerInfo, maximum: bool) -> tuple[Call, ...]:
    a = info.layer.args
    strides = a["strides"]
    if a["pad"] != (0, 0) or a["ceil"] or (not maximum and a["count_pad"]):  # PyTorch's own explicit padding
        kwargs = _kwargs(padding=a["pad"]) + ((("ceil_mode", True),) if a["ceil"] else ())
        if maximum:
            return (Call("nn.MaxPool2d", (a["pool"], strides), kwargs),)
        return (Call("nn.AvgPool2d", (a["pool"], strides), kwargs + (("count_include_pad", a["count_pad"]),)),)
    pads = _window_pads(info, a["pool"], strides)
    if maximum:
        pad = (Call("nn.ConstantPad2d", (pads, float("-inf"))),) if any(pads) else ()
        return (*pad, Call("nn.MaxPool2d", (a["pool"], strides)))
    if not any(pads):
        return (Call("nn.AvgPool2d", (a["pool"], strides)),)
    if _symmetric(pads):
        kwargs = (("padding", (pads[2], pads[0])), ("count_include_pad", False))
        return (Call("nn.AvgPool2d", (a["pool"], strides), kwargs),)
    return (Call("AvgPool2dSame", (a["pool"], strides, pads)),)


def _global_pool(info: LayerInfo, cls: str) -> tuple[Call, ...]:
    keep = info.layer.args["keepdims"]
    return (Call(cls, (1,)),) if keep else (Call(cls, (1,)), Call("nn.Flatten"))


def _dense(info: LayerInfo) -> tuple[Call, ...]:
    a = info.layer.args
    bias = () if a["bias"] else (("bias", False),)
    calls = (Call("Linear", (info.input_shape[-1], a["units"]), bias), *activation(a["activation"], 2))
    return (Call("ChannelsLast", calls),) if len(info.input_shape) == 4 else calls


def _batch_norm(info: LayerInfo) -> tuple[Call, ...]:
    a = info.layer.args
    channels = info.input_shape[-1]
    momentum, epsilon = 1 - a["momentum"], a["epsilon"]
    center, scale = a["center"], a["scale"]
    if center != scale:
        calls = (Call("BatchNorm", (channels, epsilon, momentum, center, scale)),)
    else:
        cls = "nn.BatchNorm2d" if len(info.input_shape) == 4 else "nn.BatchNorm1d"
        kwargs = (("eps", epsilon), ("momentum", round(momentum, 12)))
        calls = (Call(cls, (channels,), kwargs + (() if center else (("affine", False),))),)
    return (Call("ChannelsSecond", calls),) if len(info.input_shape) == 3 else calls


def _torch_dim(axis: int, rank: int) -> int:
    """The PyTorch dim of a Keras axis: 4-D tensors are channels-first inside, others keep Keras's order."""
    axis %= rank
    return {0: 0, 1: 2, 2: 3, 3: 1}[axis] if rank == 4 else axis


def _layer_norm(info: LayerInfo) -> tuple[Call, ...]:
    a, shape = info.layer.args, info.input_shape
    dim = _torch_dim(a["axis"], len(shape))
    return (Call("LayerNorm", (shape[a["axis"]], dim, a["epsilon"], a["center"], a["scale"])),)


def _normalization(info: LayerInfo) -> tuple[Call, ...]:
    a = info.layer.args
    given = () if a["mean"] is None else (a["mean"], a["variance"])
    return (Call("Normalization", (info.input_shape[-1], *given)),)


def _dropout(info: LayerInfo) -> tuple[Call, ...]:
    a = info.layer.args
    return (Call("DropExample" if a["per_example"] else "nn.Dropout", (a["rate"],)),)


def _add(info: LayerInfo) -> tuple[Call, ...]:
    scale = info.layer.args["scale"]
    return (Call("Add"),) if scale == 1 else (Call("ScaledAdd", (scale,)),)


def _cropping(info: LayerInfo) -> tuple[Call, ...]:
    (top, bottom), (left, right) = info.layer.args["crop"]
    return (Call("Crop2d", ((top, bottom, left, right),)),)


def _zero_padding(info: LayerInfo) -> tuple[Call, ...]:
    (top, bottom), (left, right) = info.layer.args["pad"]
    return (Call("nn.ZeroPad2d", ((left, right, top, bottom),)),)


_INTERPOLATIONS = {"nearest": "nearest", "bilinear": "bilinear"}
"""Keras upsampling interpolations PyTorch computes alike (TensorFlow's half-pixel bilinear is align_corners=False)."""


def _upsampling(info: LayerInfo) -> tuple[Call, ...]:
    a = info.layer.args
    mode = _INTERPOLATIONS.get(a["interpolation"])
    if mode is None:
        raise Unsupported(
            f"PyTorch has no {a['interpolation']} resampling that matches Keras's; use nearest or bilinear"
        )
    size = a["size"]
    kwargs = (("scale_factor", tuple(float(s) for s in size)), ("mode", mode))
    return (Call("nn.Upsample", (), kwargs + ((("align_corners", False),) if mode == "bilinear" else ())),)


def _affine(info: LayerInfo) -> tuple[Call, ...]:
    """ROT, TRN and ZOOM: one random affine resampling; PyTorch's grid_sample has no wrap fill."""
    a = info.layer.args
    if a["fill"] == "wrap":
        raise Unsupported("PyTorch's grid_sample has no wrap fill; use reflect, nearest or constant")
    transform = {
        "ROT": ("rotation", a.get("factor")),
        "TRN": ("translation", (a.get("height"), a.get("width"))),
        "ZOOM": ("zoom", (a.get("height"), a.get("width"))),
    }[info.code]
    return (Call("RandomAffine", (), (transform, ("fill", a["fill"]), ("interpolation", a["interpolation"]))),)


def _never(info: LayerInfo) -> tuple[Call, ...]:
    raise Unsupported(f"{info.code} is never a layer (IN declares the input, ID passes it on)")


def _concatenate(info: LayerInfo) -> tuple[Call, ...]:
    rank = len(info.output_shape)
    return (Call("Concatenate", (_torch_dim(info.layer.args["axis"], rank),)),)


TABLE: dict[str, Callable[[LayerInfo], tuple[Call, ...]]] = {
    "CN": _conv,
    "DW": _depthwise,
    "SC": _separable,
    "MP": lambda info: _pool(info, maximum=True),
    "AP": lambda info: _pool(info, maximum=False),
    "GAP": lambda info: _global_pool(info, "nn.AdaptiveAvgPool2d"),
    "GMP": lambda info: _global_pool(info, "nn.AdaptiveMaxPool2d"),
    "DP": _dropout,
    "FL": lambda info: (Call("FlattenNHWC"),),
    "RS": lambda info: (Call("Reshape", (info.layer.args["shape"],)),),
    "DN": _dense,
    "BN": _batch_norm,
    "LN": _layer_norm,
    "LS": lambda info: (Call("LayerScale", (info.input_shape[-1], info.layer.args["init"])),),
    "RSC": lambda info: (Call("Rescale", (info.layer.args["scale"], info.layer.args["offset"])),),
    "NRM": _normalization,
    "ACT": lambda info: activation(info.layer.args["name"], len(info.input_shape)) or (Call("nn.Identity"),),
    "ZP": _zero_padding,
    "CR": _cropping,
    "UP": _upsampling,
    "CT": _conv_transpose,
    "ADD": _add,
    "MUL": lambda info: (Call("Multiply"),),
    "CAT": _concatenate,
    "FLIP": lambda info: (Call("RandomFlip", (info.layer.args["mode"],)),),
    "ROT": _affine,
    "TRN": _affine,
    "ZOOM": _affine,
    "RCR": lambda info: (Call("RandomOrCenterCrop", (info.layer.args["height"], info.layer.args["width"])),),
    "CON": lambda info: (Call("RandomContrast", (info.layer.args["factor"],)),),
    "SPL": lambda info: (Call("ChannelSplit", (info.layer.args["parts"], info.layer.args["index"])),),
    "SHF": lambda info: (Call("ChannelShuffle", (info.layer.args["groups"],)),),
    "IN": lambda info: _never(info),
    "ID": lambda info: _never(info),
}
"""Layer code -> the PyTorch calls that compute what its Keras layer computes."""


# --- the walk ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerPlan:
    """One layer as PyTorch builds it: its Keras name, calls, inputs and spec text."""

    name: str
    calls: tuple[Call, ...]
    inputs: tuple[int, ...]
    text: str


def plan(model: CheckedModel, logits: bool = False) -> list[LayerPlan]:
    """Every layer's calls, in Keras's layer order; SpecValueError naming each layer PyTorch cannot build.

    With ``logits``, the head's softmax is left out: the module ends in logits, as
    ``nn.CrossEntropyLoss`` expects (it applies the softmax itself).
    """
    plans, problems = [], []
    for info in model.layers:
        entry = TABLE.get(info.code)
        try:
            if entry is None:
                raise Unsupported(f"no PyTorch entry for the layer code {info.code}")
            calls = entry(info)
            if logits and info.layer.head:
                calls = _without_softmax(calls)
            calls = calls or (Call("nn.Identity"),)
        except Unsupported as problem:
            message = f"{info.layer.text}: {problem}"
            problems.append(Diagnostic(VALUE, message, info.layer.span, code="torch-unsupported"))
            continue
        plans.append(LayerPlan(info.name, calls, tuple(info.inputs), info.layer.text))
    if problems:
        raise SpecValueError(problems, model.source)
    return plans


def _without_softmax(calls: tuple[Call, ...]) -> tuple[Call, ...]:
    """The head's calls, its closing softmax an identity: the state dict's keys stay those of the softmax module."""
    if calls and calls[-1].name == _ON_AXIS["softmax"]:
        return (*calls[:-1], Call("nn.Identity"))
    return calls


def build(model: CheckedModel, logits: bool = False) -> torch.nn.Module:
    """An ``nn.Sequential`` (straight stack) or a graph module computing what the Keras model computes.

    With ``logits``, the module ends before the head's softmax (see :func:`plan`).
    """
    from collections import OrderedDict

    from torch import nn

    plans = plan(model, logits)
    modules = OrderedDict((p.name, _instantiate(p.calls)) for p in plans)
    if not model.is_graph:
        built = nn.Sequential(modules)
    else:
        from cnndsl.backends.torch_modules import Graph

        built = Graph(modules, [p.inputs for p in plans])
    built.cnndsl_input_shape = model.input_shape[1:]  # what port_weights from a PyTorch source reads
    return built


def _instantiate(calls: tuple[Call, ...]) -> torch.nn.Module:
    from torch import nn

    modules = [_construct(call) for call in calls]
    return modules[0] if len(modules) == 1 else nn.Sequential(*modules)


_WRAPPERS = ("ChannelsLast", "ChannelsSecond")
"""Calls whose arguments are calls: the modules they wrap, to be constructed first."""


def _construct(call: Call) -> torch.nn.Module:
    from torch import nn

    from cnndsl.backends import torch_modules

    if call.name in _WRAPPERS:
        return getattr(torch_modules, call.name)(*(_construct(inner) for inner in call.args))
    owner, _, name = call.name.rpartition(".")
    cls = getattr(nn if owner == "nn" else torch_modules, name)
    return cls(*call.args, **dict(call.kwargs))


# --- weights ----------------------------------------------------------------------------------


def _conv_weight(kernel):
    """Keras (kh, kw, in, out) -> PyTorch (out, in, kh, kw)."""
    return kernel.transpose(3, 2, 0, 1)


def _depthwise_weight(kernel):
    """Keras (kh, kw, in, multiplier) -> PyTorch (in * multiplier, 1, kh, kw), channel c's copies side by side."""
    kh, kw, channels, multiplier = kernel.shape
    return kernel.reshape(kh, kw, channels * multiplier).transpose(2, 0, 1)[:, None]


_PORTS: dict[str, dict[str, tuple[int, str, Callable[[Any], Any]]]] = {
    "Conv2D": {"kernel": (0, "weight", _conv_weight), "bias": (0, "bias", None)},
    "Conv2DTranspose": {"kernel": (0, "weight", _conv_weight), "bias": (0, "bias", None)},
    "DepthwiseConv2D": {"kernel": (0, "weight", _depthwise_weight), "bias": (0, "bias", None)},
    "SeparableConv2D": {
        "depthwise_kernel": (0, "weight", _depthwise_weight), "pointwise_kernel": (1, "weight", _conv_weight), "bias": (1, "bias", None),
    },
    "Dense": {"kernel": (0, "weight", lambda k: k.T), "bias": (0, "bias", None)},
    "BatchNormalization": {
        "gamma": (0, "weight", None), "beta": (0, "bias", None),
        "moving_mean": (0, "running_mean", None), "moving_variance": (0, "running_var", None),
    },
    "LayerNormalization": {"gamma": (0, "weight", None), "beta": (0, "bias", None)},
    "LayerScale": {"gamma": (0, "gamma", None)},
    "Normalization": {"mean": (0, "mean", None), "variance": (0, "variance", None), "count": (0, "count", None)},
}  # fmt: skip
"""Keras class -> its weight names -> (which weighted PyTorch submodule, which tensor, how to lay it out)."""


_WEIGHTED = frozenset({"LayerNorm", "LayerScale", "Normalization"})
"""Classes of torch_modules holding Keras weights, by name: emitted source defines copies of them."""


def port_weights(source: keras.Model | torch.nn.Module, built, input_shape=None) -> None:
    """Copy every weight of a Keras model into the PyTorch module built from the same spec; or of a
    PyTorch module into the module or Keras model built from its notation (``from_torch``).

    From Keras, the i-th Keras layer (input layer aside) is the PyTorch module's i-th child, as
    both follow the checked model's layer order; a layer or weight with no
    counterpart, or a shape that differs, raises ValueError. From PyTorch, see
    :func:`cnndsl.backends.torch_reader.port_weights` (``input_shape`` is for that one).
    """
    import torch

    if isinstance(source, torch.nn.Module):
        from cnndsl.backends.torch_reader import port_weights as from_module

        return from_module(source, built, input_shape)
    keras_model, torch_model = source, built

    layers = [layer for layer in keras_model.layers if type(layer).__name__ != "InputLayer"]
    children = list(torch_model.children())
    if len(layers) != len(children):
        raise ValueError(f"the Keras model has {len(layers)} layers, the PyTorch model {len(children)}")
    with torch.no_grad():
        for layer, module in zip(layers, children):
            if layer.weights:
                _port_layer(layer, module)


def _port_layer(layer, module) -> None:
    from torch import nn

    ports = _PORTS.get(type(layer).__name__)
    if ports is None:
        raise ValueError(f"no way to port the weights of {layer.name} ({type(layer).__name__})")
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.modules.batchnorm._BatchNorm)
    weighted = [m for m in module.modules() if isinstance(m, kinds) or type(m).__name__ in _WEIGHTED]
    for variable in layer.weights:
        _port_one(layer.name, variable, ports, weighted)


def _port_one(name: str, variable, ports: Mapping, weighted: list) -> None:
    import numpy as np
    import torch

    short = variable.name.rpartition("/")[2]
    if short not in ports or ports[short][0] >= len(weighted):
        raise ValueError(f"no PyTorch counterpart for the weight {short!r} of {name}")
    index, attribute, layout = ports[short]
    value = np.asarray(variable.numpy())
    value = layout(value) if layout else value
    target = getattr(weighted[index], attribute)
    if tuple(target.shape) != value.shape:
        raise ValueError(f"{name} {short}: Keras shape {value.shape} does not fit PyTorch's {tuple(target.shape)}")
    target.copy_(torch.from_numpy(value.copy()).to(target.dtype))


def parameter_counts(torch_model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, non-trainable) as Keras counts them.

    Every saved buffer is a Keras non-trainable weight (batch norm's running statistics, an
    adapted normalization's mean, variance and count) but PyTorch's own batch counter;
    a given normalization's constants are not saved, as Keras keeps them out of its weights.
    """
    trainable = sum(p.numel() for p in torch_model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in torch_model.parameters() if not p.requires_grad)
    saved = torch_model.state_dict(keep_vars=True)
    buffers = sum(
        buffer.numel()
        for name, buffer in torch_model.named_buffers()
        if name in saved and not name.endswith("num_batches_tracked")
    )
    return trainable, frozen + buffers
