"""Convolutions: ``CN`` (Conv2D), ``DW`` (DepthwiseConv2D), ``SC`` (SeparableConv2D), ``CT`` (Conv2DTranspose)."""

from __future__ import annotations

import functools

from cnndsl.layers.core import (
    _K_ACTIVATION,
    _K_BIAS,
    _K_DILATION,
    _K_KERNEL,
    _K_MULTIPLIER,
    _K_WINDOW,
    ACTIVATIONS,
    MAX_UNITS,
    MAX_WINDOW,
    PADDINGS,
    KerasArg,
    KerasClass,
    LayerType,
    Param,
    Torch,
    Weight,
    _bias,
    _channels_last,
    _pair,
    _prod,
    _times,
    choice,
    count,
    flag,
    size,
)
from cnndsl.layers.pytorch import (
    NN,
    Call,
    Refused,
    Value,
    activation,
    as_spatial,
    int_pair,
    known_size,
    own_tensor,
    read_padding,
    symmetric,
    to_numpy,
    torch_kwargs,
    window_pads,
)
from cnndsl.shapes import (
    Shape,
    ShapeProblem,
    compute_conv_output_shape,
    compute_conv_transpose_output_shape,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


# Conv2D


def _conv_shape(shape: Shape, a: Mapping) -> Shape:
    groups = a.get("groups", 1)
    if groups > 1 and shape[-1] is not None and shape[-1] % groups:
        raise ShapeProblem(
            f"groups={groups} must divide the input's {shape[-1]} channels",
            f"use groups dividing {shape[-1]}, or give the layer before it a channel count divisible by {groups}",
        )
    return (*_conv_sizes(shape[:-1], a["kernel"], a["strides"], a["padding"], a["dilation"]), a["filters"])


@functools.lru_cache(maxsize=1024)
def _conv_sizes(front: Shape, kernel, strides, padding: str, dilation) -> Shape:
    """A convolution's batch and spatial output sizes, which no channel count changes.

    Kept per input size and arguments: a large spec convolves one image size many times.
    Raises ShapeProblem (never kept) as :func:`compute_conv_output_shape` does.
    """
    return compute_conv_output_shape((*front, None), None, kernel, strides, padding, dilation)[:-1]


def _per_group(channels: int | None, groups: int) -> int | None:
    return None if channels is None else channels // groups


def _conv_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    kernel = (*a["kernel"], _per_group(shape[-1], a["groups"]), a["filters"])
    return (Weight("kernel", kernel), *_bias(a["filters"], a))


def _conv_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    return _prod(out_shape[1:]) * _prod(a["kernel"]) * ((in_shape[-1] or 0) // a["groups"])


def _conv_args(a: Mapping) -> str | None:
    """Keras's Conv2D refuses these (its depthwise and separable convolutions take strides with dilation)."""
    if max(a["strides"]) > 1 and max(a["dilation"]) > 1:
        return "strides > 1 cannot be combined with dilation > 1 in CN (Keras refuses it; DW and SC take both)"
    if a["filters"] % a["groups"]:
        message = f"CN groups={a['groups']} must divide its {a['filters']} filters (Keras refuses it)"
        return message, f"filters a multiple of {a['groups']}, or groups dividing {a['filters']}"
    return None


# DepthwiseConv2D, SeparableConv2D


def _depthwise_shape(shape: Shape, a: Mapping) -> Shape:
    front = _conv_sizes(shape[:-1], a["kernel"], a["strides"], a["padding"], a["dilation"])
    return (*front, _times(shape[-1], a["depth_multiplier"]))


def _depthwise_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    kernel = Weight("kernel", (*a["kernel"], shape[-1], a["depth_multiplier"]))
    return (kernel, *_bias(_times(shape[-1], a["depth_multiplier"]), a))


def _depthwise_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    return _prod(out_shape[1:]) * _prod(a["kernel"])


def _separable_shape(shape: Shape, a: Mapping) -> Shape:
    return _conv_shape(shape, a)


def _separable_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    middle = _times(shape[-1], a["depth_multiplier"])
    return (
        Weight("depthwise_kernel", (*a["kernel"], shape[-1], a["depth_multiplier"])),
        Weight("pointwise_kernel", (1, 1, middle, a["filters"])),
        *_bias(a["filters"], a),
    )


def _separable_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    pixels = _prod(out_shape[1:-1])
    middle = (in_shape[-1] or 0) * a["depth_multiplier"]
    return pixels * middle * (_prod(a["kernel"]) + a["filters"])


_CONV_TAIL = (
    Param("strides", size(2), (1, 1)),
    Param("padding", choice(PADDINGS), "valid"),
)


def _conv_rest(multiplier: bool) -> tuple[Param, ...]:
    """The arguments after the kernel that CN, DW and SC share (DW and SC add depth_multiplier)."""
    extra = (Param("depth_multiplier", count(1, MAX_WINDOW), 1),) if multiplier else ()
    return (
        *_CONV_TAIL,
        *extra,
        Param("activation", choice(ACTIVATIONS), "relu"),
        Param("dilation", size(2), (1, 1)),
        Param("bias", flag, True),
    )


# Conv2DTranspose


def _conv_transpose_shape(shape: Shape, a: Mapping) -> Shape:
    return compute_conv_transpose_output_shape(shape, a["filters"], a["kernel"], a["strides"], a["padding"])


def _conv_transpose_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    """Keras's kernel is (kh, kw, filters, input channels): the transpose of a convolution's."""
    return (Weight("kernel", (*a["kernel"], a["filters"], shape[-1])), *_bias(a["filters"], a))


def _conv_transpose_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    """Every input value is multiplied by a whole kernel of every filter."""
    return _prod(in_shape[1:]) * _prod(a["kernel"]) * a["filters"]


def _refuse_conv_transpose(config: Mapping) -> str | None:
    if config.get("output_padding") is not None:
        return f"output_padding={config['output_padding']!r} has no notation"
    if tuple(_pair(config.get("dilation_rate", 1))) != (1, 1):
        return f"dilation_rate={config['dilation_rate']!r} has no notation in CT"
    return _channels_last(config)


# --- PyTorch: built as nn.Conv2d (TensorFlow's padding), ported, read back -----------------


def _build_conv(info) -> tuple[Call, ...]:
    a = info.layer.args
    return _convolution(info, info.input_shape[-1], a["filters"], groups=a["groups"]) + activation(a["activation"], 4)


def _convolution(info, channels: int, filters: int, groups: int, bias: bool | None = None) -> tuple[Call, ...]:
    """A padded (TensorFlow ``same``) convolution with Keras's initialisers."""
    a = info.layer.args
    pads = window_pads(info, a["kernel"], a["strides"], a["dilation"])
    padded = (pads[2], pads[0]) if symmetric(pads) else (0, 0)
    pad = () if symmetric(pads) else (Call("nn.ZeroPad2d", (pads,)),)
    options = torch_kwargs(stride=a["strides"], padding=padded, dilation=a["dilation"], groups=groups)
    use_bias = a["bias"] if bias is None else bias
    if not use_bias:
        options += (("bias", False),)
    cls = "DepthwiseConv2d" if groups == channels and info.code != "CN" else "Conv2d"
    return (*pad, Call(cls, (channels, filters, a["kernel"]), options))


def _build_conv_transpose(info) -> tuple[Call, ...]:
    """``ConvTranspose2d`` cropped or padded per axis to Keras's size (TensorFlow crops an odd excess after)."""
    a = info.layer.args
    axes = [_transpose_axis(k, s, a["padding"]) for k, s in zip(a["kernel"], a["strides"])]
    padded, output_padding, after = zip(*axes)
    options = torch_kwargs(stride=a["strides"], padding=padded)
    if any(output_padding):
        options += (("output_padding", output_padding),)
    if not a["bias"]:
        options += (("bias", False),)
    crop = (Call("Crop2d", ((0, after[0], 0, after[1]),)),) if any(after) else ()
    convolution = Call("ConvTranspose2d", (info.input_shape[-1], a["filters"], a["kernel"]), options)
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


def _build_depthwise(info) -> tuple[Call, ...]:
    a = info.layer.args
    channels = info.input_shape[-1]
    convolution = _convolution(info, channels, channels * a["depth_multiplier"], groups=channels)
    return convolution + activation(a["activation"], 4)


def _build_separable(info) -> tuple[Call, ...]:
    a = info.layer.args
    channels = info.input_shape[-1]
    inner = channels * a["depth_multiplier"]
    depthwise = _convolution(info, channels, inner, groups=channels, bias=False)
    pointwise = Call("Conv2d", (inner, a["filters"], (1, 1)), () if a["bias"] else (("bias", False),))
    return (*depthwise, pointwise, *activation(a["activation"], 4))


def conv_weight(kernel):
    """Keras (kh, kw, in, out) -> PyTorch (out, in, kh, kw)."""
    return kernel.transpose(3, 2, 0, 1)


def _depthwise_weight(kernel):
    """Keras (kh, kw, in, multiplier) -> PyTorch (in * multiplier, 1, kh, kw), channel c's copies side by side."""
    kh, kw, channels, multiplier = kernel.shape
    return kernel.reshape(kh, kw, channels * multiplier).transpose(2, 0, 1)[:, None]


_CONV_PORTS = {"kernel": (0, "weight", conv_weight), "bias": (0, "bias", None)}


def _read_conv(reader, module, x) -> Value:
    if module.padding_mode not in ("zeros", "reflect", "replicate"):
        raise Refused(f"padding_mode={module.padding_mode!r}: the notation pads with zeros, reflect or replicate")
    settings = (module.stride, module.padding, module.dilation, module.groups)
    return _read_convolution(reader, x, module.weight.shape, module.bias is not None, settings,
                             lambda: (module.weight, module.bias), module.padding_mode)  # fmt: skip


def _read_conv_function(reader, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Value:
    """``F.conv2d(x, self.weight, self.bias, ...)`` on a module's own tensors (a Conv2d subclass's own forward)."""
    weight, bias = own_tensor(weight, "weight"), None if bias is None else own_tensor(bias, "bias")
    settings = (stride, padding, dilation, groups)
    return _read_convolution(reader, x, weight.shape, bias is not None, settings, lambda: (weight, bias))


def _read_convolution(reader, x, shape, bias: bool, settings: tuple, tensors, padding_mode: str = "zeros") -> Value:
    """A convolution of a ``(filters, channels / groups, kh, kw)`` weight: CN, DW, or a ZP (of the padding's mode)
    before a valid one."""
    x = as_spatial(x)
    stride, pad, dilation, groups = settings
    kernel, strides, dilation = int_pair(tuple(shape[2:])), int_pair(stride), int_pair(dilation)
    if isinstance(pad, str):
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if pad == "same" and any(total % 2 for total in totals):
            raise Refused("padding='same' with an even kernel pads unevenly as PyTorch does, unlike TensorFlow")
        pad = (0, 0) if pad == "valid" else tuple(total // 2 for total in totals)
    pad = int_pair(pad)
    filters, channels = shape[0], shape[1] * groups
    if channels != x.shape[-1]:
        raise Refused(f"a convolution of {channels} channels gets {x.shape[-1]}")
    depthwise = groups > 1 and groups == channels and filters % channels == 0
    subsample = None
    if max(strides) > 1 and max(dilation) > 1 and not depthwise:  # Keras's Conv2D takes one of the two
        subsample, strides = strides, (1, 1)  # every s-th output of the stride-1 convolution: MP(1, strides=s)
    padded = read_padding(x.shape[1:3], kernel, strides, dilation, pad)
    if padding_mode != "zeros" and pad != (0, 0):  # the edge reflected or replicated: a ZP of that mode
        padded = None
    if padded is None:
        mode = {} if padding_mode == "zeros" else {"mode": padding_mode}
        x = reader.add("ZP", {"pad": tuple((p, p) for p in pad), **mode}, [x], suffix="_pad")
        padded = "valid"
    window = {"kernel": kernel, "strides": strides, "padding": padded, "activation": "linear", "dilation": dilation,
              "bias": bias}  # fmt: skip
    if depthwise:
        args = {**window, "depth_multiplier": filters // channels}
        return reader.add("DW", args, [x], lambda: _depthwise_weights_of(*tensors(), channels))
    x = reader.add("CN", {**window, "filters": filters, "groups": groups}, [x], lambda: _conv_weights_of(*tensors()))
    if subsample is None:
        return x
    return reader.add("MP", {"pool": (1, 1), "strides": subsample, "padding": "valid"}, [x], suffix="_stride")


def _conv_weights_of(weight, bias) -> list:
    """PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out), and the bias."""
    return [to_numpy(weight).transpose(2, 3, 1, 0)] + ([to_numpy(bias)] if bias is not None else [])


def _depthwise_weights_of(weight, bias, channels: int) -> list:
    """PyTorch (in * multiplier, 1, kh, kw) -> Keras (kh, kw, in, multiplier)."""
    weight = to_numpy(weight)[:, 0]
    kh, kw = weight.shape[1:]
    kernel = [weight.transpose(1, 2, 0).reshape(kh, kw, channels, -1)]
    return kernel + ([to_numpy(bias)] if bias is not None else [])


def _read_conv_transpose(reader, module, x, output_size=None) -> Value:
    if module.padding_mode != "zeros":
        raise Refused(f"padding_mode={module.padding_mode!r}: the notation pads with zeros")
    extra = module.output_padding if output_size is None else _output_padding(module, x, output_size)
    settings = (module.stride, module.padding, extra, module.groups, module.dilation)
    return _read_transposed(reader, x, module.weight.shape, module.bias is not None, settings,
                            lambda: (module.weight, module.bias))  # fmt: skip


def _output_padding(module, x, output_size) -> tuple[int, int]:
    """``up(x, output_size=skip.size())``: the rows PyTorch adds after to reach that size, as its own rule."""
    x = as_spatial(x)
    wanted = tuple(output_size)[-2:]
    if not all(known_size(size) for size in wanted):
        raise Refused(f"output_size={tuple(output_size)}: the notation's CT has sizes it knows")
    extra = []
    for given, want, k, s, p, d in zip(x.shape[1:3], wanted, module.kernel_size, module.stride, module.padding,
                                       module.dilation):  # fmt: skip
        extra.append(want - ((given - 1) * s - 2 * p + d * (k - 1) + 1))
        if not 0 <= extra[-1] < max(s, d):
            raise Refused(f"output_size={tuple(output_size)} is no size this transposed convolution gives")
    return tuple(extra)


def _read_conv_transpose_function(reader, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                                  dilation=1) -> Value:  # fmt: skip
    weight, bias = own_tensor(weight, "weight"), None if bias is None else own_tensor(bias, "bias")
    settings = (stride, padding, output_padding, groups, dilation)
    return _read_transposed(reader, x, weight.shape, bias is not None, settings, lambda: (weight, bias))


def _read_transposed(reader, x, shape, bias: bool, settings: tuple, tensors) -> Value:
    """A transposed convolution of a ``(channels, filters, kh, kw)`` weight: CT, cropped (CR) where PyTorch's
    ``padding`` cuts more before than Keras's ``padding=same`` would.

    PyTorch's output is rows ``padding`` to ``padding + (size - 1) * stride + kernel - 2 * padding +
    output_padding`` of the full transposed convolution; CT's are those its build gives (see
    :func:`_transpose_axis`). Where no CT gives PyTorch's rows, CT(valid) gives them all and CR cuts them.
    """
    x = as_spatial(x)
    stride, pad, extra, groups, dilation = settings
    kernel, strides, pad, extra = int_pair(tuple(shape[2:])), int_pair(stride), int_pair(pad), int_pair(extra)
    if groups != 1 or int_pair(dilation) != (1, 1):
        raise Refused(f"groups={groups}, dilation={dilation}: the notation's CT has neither")
    if shape[0] != x.shape[-1]:
        raise Refused(f"a transposed convolution of {shape[0]} channels gets {x.shape[-1]}")
    args = {"filters": shape[1], "kernel": kernel, "strides": strides, "activation": "linear", "bias": bias}

    def weights() -> list:
        weight, bias = tensors()  # PyTorch (in, out, kh, kw) -> Keras (kh, kw, out, in)
        return [to_numpy(weight).transpose(2, 3, 1, 0)] + ([to_numpy(bias)] if bias is not None else [])

    for padding in ("same", "valid"):
        if all(_transposed_rows(k, s, padding) == (p, e - p) for k, s, p, e in zip(kernel, strides, pad, extra)):
            return reader.add("CT", {**args, "padding": padding}, [x], weights)
    cut = [(p, _transposed_rows(k, s, "valid")[1] - (e - p)) for k, s, p, e in zip(kernel, strides, pad, extra)]
    if any(after < 0 for _, after in cut):
        raise Refused(f"output_padding={extra} adds rows after the transposed convolution's own: CT has no such rows")
    x = reader.add("CT", {**args, "padding": "valid"}, [x], weights, suffix="_full")
    return reader.add("CR", {"crop": tuple(cut)}, [x])


def _transposed_rows(kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """(rows cut before, rows added after) the full ``(size - 1) * stride + kernel`` output, as CT builds it.

    >>> _transposed_rows(3, 2, "same")  # size * 2: nothing before, one row cut after
    (0, -1)
    >>> _transposed_rows(4, 2, "same")  # DCGAN's: one row cut on each side
    (1, -1)
    """
    before, output_padding, after = _transpose_axis(kernel, stride, padding)
    return before, output_padding - after - before


CONVOLUTIONS = (
    LayerType(
        "CN", "Conv2D", "2-D convolution",
        params=(Param("filters", count(), scaled="width"), Param("kernel", size(2), (3, 3), inherit=True), *_conv_rest(False),
                Param("groups", count(1, MAX_UNITS), 1)),  # in the canonical form since it came: hashes keep it
        output_shape=_conv_shape, check_args=_conv_args, weights=_conv_weights, macs=_conv_macs, input_rank=4,
        kind="convolution",
        keras=(KerasClass("Conv2D", (
            KerasArg("filters", "filters", positional=True), _K_KERNEL, *_K_WINDOW, _K_ACTIVATION, _K_DILATION,
            _K_BIAS, KerasArg("groups", "groups", 1)), refuse=_channels_last),),
        torch=Torch(_build_conv, ports=_CONV_PORTS, holders=("Conv2d",), modules=((NN + "conv.Conv2d", _read_conv),),
                    functions=(("torch.nn.functional.conv2d", _read_conv_function),)),
        example={"filters": 2},
        note="; `groups` divides the filters and the input's channels",
),
    LayerType(
        "DW", "DepthwiseConv2D", "depthwise 2-D convolution (one filter set per channel)",
        params=(Param("kernel", size(2), (3, 3)), *_conv_rest(True)),
        output_shape=_depthwise_shape, weights=_depthwise_weights, macs=_depthwise_macs,
        input_rank=4, kind="convolution",
        keras=(KerasClass("DepthwiseConv2D", (
            _K_KERNEL, *_K_WINDOW, _K_MULTIPLIER, _K_ACTIVATION, _K_DILATION, _K_BIAS), refuse=_channels_last),),
        torch=Torch(_build_depthwise, ports={"kernel": (0, "weight", _depthwise_weight), "bias": (0, "bias", None)},
                    holders=("Conv2d",), read_by="an nn.Conv2d with one group per channel, by CN's rule"),
        example={},
),
    LayerType(
        "SC", "SeparableConv2D", "depthwise then pointwise 2-D convolution",
        params=(Param("filters", count(), scaled="width"), Param("kernel", size(2), (3, 3)), *_conv_rest(True)),
        output_shape=_separable_shape, weights=_separable_weights, macs=_separable_macs,
        input_rank=4, kind="convolution",
        keras=(KerasClass("SeparableConv2D", (
            KerasArg("filters", "filters", positional=True), _K_KERNEL, *_K_WINDOW, _K_MULTIPLIER, _K_ACTIVATION,
            _K_DILATION, _K_BIAS), refuse=_channels_last),),
        torch=Torch(_build_separable, holders=("Conv2d",), ports={
            "depthwise_kernel": (0, "weight", _depthwise_weight), "pointwise_kernel": (1, "weight", conv_weight),
            "bias": (1, "bias", None)}, unread="a depthwise then a pointwise nn.Conv2d read as DW then CN"),
        example={"filters": 2},
),
    LayerType(
        "CT", "Conv2DTranspose", "2-D transposed convolution (upsampling by strides: padding=same gives size * strides)",
        params=(Param("filters", count(), scaled="width"), Param("kernel", size(2), (3, 3)), *_CONV_TAIL,
                Param("activation", choice(ACTIVATIONS), "relu"), Param("bias", flag, True)),
        output_shape=_conv_transpose_shape, weights=_conv_transpose_weights, macs=_conv_transpose_macs,
        input_rank=4, kind="convolution",
        keras=(KerasClass("Conv2DTranspose", (
            KerasArg("filters", "filters", positional=True), _K_KERNEL, *_K_WINDOW, _K_ACTIVATION, _K_BIAS),
            refuse=_refuse_conv_transpose),),
        torch=Torch(_build_conv_transpose, ports=_CONV_PORTS, holders=("ConvTranspose2d",),
                    modules=((NN + "conv.ConvTranspose2d", _read_conv_transpose),),
                    functions=(("torch.nn.functional.conv_transpose2d", _read_conv_transpose_function),)),
        example={"filters": 2},
        note=": `padding=same` gives size x strides, `valid` (size - 1) x strides + max(kernel, strides), as Keras",
),
)  # fmt: skip
