"""Reshapes: ``ZP``, ``CR``, ``UP`` (height and width), ``FL``, ``RS``, and the channel split and shuffle ``SPL``, ``SHF``."""

from __future__ import annotations

import math

from cnndsl.layers.core import (
    INTERPOLATIONS,
    MAX_UNITS,
    MAX_WINDOW,
    Amounts,
    KerasArg,
    KerasClass,
    LayerType,
    Param,
    Torch,
    _channels_last,
    _fmt,
    _nested,
    _pair,
    choice,
    count,
    padding_amounts,
    size,
    target_shape,
)
from cnndsl.layers.pytorch import (
    BATCH,
    NN,
    Call,
    Parameter,
    Refused,
    Unsupported,
    Value,
    as_spatial,
    as_tensor,
    sizes_text,
    torch_sizes,
)
from cnndsl.shapes import (
    Shape,
    ShapeProblem,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


# ZeroPadding2D, UpSampling2D


def _zero_padding_shape(shape: Shape, a: Mapping) -> Shape:
    (top, bottom), (left, right) = a["pad"]
    height, width = shape[1], shape[2]
    return (
        shape[0],
        None if height is None else height + top + bottom,
        None if width is None else width + left + right,
        shape[3],
    )


def _up_sampling_shape(shape: Shape, a: Mapping) -> Shape:
    (sh, sw), height, width = a["size"], shape[1], shape[2]
    return (shape[0], None if height is None else height * sh, None if width is None else width * sw, shape[3])


# Flatten


def _flatten_shape(shape: Shape, a: Mapping) -> Shape:
    rest = shape[1:]
    return (shape[0], None if None in rest else math.prod(rest))


# Reshape, Cropping2D


def _reshape_shape(shape: Shape, a: Mapping) -> Shape:
    target, rest = a["shape"], shape[1:]
    known = None if None in rest else math.prod(rest)
    fixed = math.prod(size for size in target if size != -1)
    if -1 in target:
        if known is not None and known % fixed:
            raise ShapeProblem(f"RS cannot reshape {_fmt(shape)} ({known:,} values) to a multiple of {fixed:,}")
        left = None if known is None else known // fixed
        return (shape[0], *(left if size == -1 else size for size in target))
    if known is not None and known != fixed:
        raise ShapeProblem(
            f"RS cannot reshape {_fmt(shape)} ({known:,} values) to {_fmt((None, *target))} ({fixed:,} values)",
            "the sizes must multiply to the same count; one of them may be -1",
        )
    return (shape[0], *target)


def _cropping_shape(shape: Shape, a: Mapping) -> Shape:
    (top, bottom), (left, right) = a["crop"]
    height, width = shape[1], shape[2]
    for extent, cut, what in ((height, top + bottom, "height"), (width, left + right, "width")):
        if extent is not None and cut >= extent:
            raise ShapeProblem(f"CR crops {cut} of the {what} {extent}, leaving nothing", "crop less than the image")
    return (
        shape[0],
        None if height is None else height - top - bottom,
        None if width is None else width - left - right,
        shape[3],
    )


# Channel split and shuffle (ShuffleNetV2)


def _split_shape(shape: Shape, a: Mapping) -> Shape:
    channels = shape[-1]
    if channels is not None and channels % a["parts"]:
        raise ShapeProblem(
            f"SPL parts={a['parts']} must divide the input's {channels} channels", "split into parts dividing them"
        )
    return (*shape[:-1], None if channels is None else channels // a["parts"])


def _split_args(a: Mapping) -> str | tuple[str, str] | None:
    if a["index"] >= a["parts"]:
        return f"SPL index={a['index']} is not one of its {a['parts']} parts", f"index 0 to {a['parts'] - 1}"
    return None


def _shuffle_shape(shape: Shape, a: Mapping) -> Shape:
    if shape[-1] is not None and shape[-1] % a["groups"]:
        raise ShapeProblem(
            f"SHF groups={a['groups']} must divide the input's {shape[-1]} channels", "use groups dividing them"
        )
    return shape


# --- PyTorch ---------------------------------------------------------------------------------


def _build_cropping(info) -> tuple[Call, ...]:
    (top, bottom), (left, right) = info.layer.args["crop"]
    return (Call("Crop2d", ((top, bottom, left, right),)),)


def _build_zero_padding(info) -> tuple[Call, ...]:
    (top, bottom), (left, right) = info.layer.args["pad"]
    return (Call("nn.ZeroPad2d", ((left, right, top, bottom),)),)


_INTERPOLATIONS = {"nearest": "nearest", "bilinear": "bilinear"}
"""Keras upsampling interpolations PyTorch computes alike (TensorFlow's half-pixel bilinear is align_corners=False)."""


def _build_upsampling(info) -> tuple[Call, ...]:
    a = info.layer.args
    mode = _INTERPOLATIONS.get(a["interpolation"])
    if mode is None:
        raise Unsupported(
            f"PyTorch has no {a['interpolation']} resampling that matches Keras's; use nearest or bilinear"
        )
    options = (("scale_factor", tuple(float(s) for s in a["size"])), ("mode", mode))
    return (Call("nn.Upsample", (), options + ((("align_corners", False),) if mode == "bilinear" else ())),)


def _read_zero_pad(reader, module, x) -> Value:
    padding = module.padding
    left, right, top, bottom = padding if len(padding) == 4 else (padding[0],) * 4
    return reader.add("ZP", {"pad": ((top, bottom), (left, right))}, [as_spatial(x)])


def _read_flatten(reader, x, start_dim: int = 1, end_dim: int = -1) -> Value:
    x = as_tensor(x)
    rank = len(x.shape)
    if start_dim != 1 or end_dim % rank != rank - 1:
        raise Refused(f"flattening dims {start_dim}..{end_dim}; the notation flattens all but the batch")
    if rank == 2:
        return x
    height, width, channels = x.shape[1:]
    reordered = not x.last and height * width > 1 and channels > 1
    return reader.add("FL", {}, [x], flat=(height, width, channels) if reordered else None)


def _read_pad(reader, x, pad, mode: str = "constant", value=None) -> Value:
    """``F.pad(x, (left, right, top, bottom))``, the sizes often computed from ``x.shape`` (timm's Conv2dSame): ZP."""
    x = as_spatial(x)
    _pad_mode(mode, value)
    pad = tuple(pad)
    if len(pad) not in (2, 4) or not all(type(p) is int for p in pad):
        raise Refused(f"padding {pad}: the notation pads height and width by sizes it knows")
    left, right, top, bottom = (*pad, 0, 0) if len(pad) == 2 else pad
    if min(pad) < 0:
        raise Refused(f"F.pad({pad}) with a negative size crops; the notation's near code: CR")
    if max(pad) == 0:  # a U-Net's padding to the skip's size where the sizes already agree
        return x
    return reader.add("ZP", {"pad": ((top, bottom), (left, right))}, [x])


def _pad_mode(mode: str, value) -> None:
    """The one place F.pad's mode and value are judged: zeros are ZP's."""
    if mode != "constant":
        raise Refused(f"F.pad(mode={mode!r}): the notation's ZP pads with zeros")
    if value not in (None, 0, 0.0):
        raise Refused(f"F.pad(value={value!r}): the notation's ZP pads with zeros")


def _read_upsample(reader, module, x) -> Value:
    return _read_interpolate(reader, x, module.size, module.scale_factor, module.mode, module.align_corners,
                             module.recompute_scale_factor)  # fmt: skip


def _read_interpolate(reader, x, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                      recompute_scale_factor=None, antialias: bool = False) -> Value:  # fmt: skip
    """``nn.Upsample`` / ``F.interpolate`` by a whole factor, nearest or bilinear (align_corners=False): UP.

    PyTorch's bilinear without aligned corners samples at half pixels, as Keras's (TensorFlow's) does;
    a whole factor given as the output's size is the same factor.
    """
    x = as_spatial(x)
    height, width = x.shape[1:3]
    if size is not None:
        size = (size, size) if type(size) is int else tuple(size)
        if len(size) != 2 or size[0] % height or size[1] % width:
            raise Refused(
                f"resizing ({height}, {width}) to {size}: UP repeats rows and columns a whole number of times"
            )
        factors = (size[0] // height, size[1] // width)
    else:
        scale = scale_factor if isinstance(scale_factor, list | tuple) else (scale_factor, scale_factor)
        if scale_factor is None or len(scale) != 2 or any(float(s) != int(s) or s < 1 for s in scale):
            raise Refused(f"scale_factor={scale_factor!r}: UP repeats rows and columns a whole number of times")
        factors = tuple(int(s) for s in scale)
    if mode not in ("nearest", "bilinear") or antialias:
        raise Refused(f"mode={mode!r}{', antialias=True' if antialias else ''}: UP reads nearest and bilinear (as "
                      "Keras computes them)")  # fmt: skip
    if mode == "bilinear" and align_corners:
        raise Refused("bilinear with align_corners=True: Keras's bilinear samples at half pixels (align_corners=False)")
    return reader.add("UP", {"size": factors, "interpolation": mode}, [x])


def _read_reshape(reader, x, *sizes) -> Value:
    """``x.view(x.size(0), -1)``, ``x.reshape(-1, 400)``, ``y.view(b, c, 1, 1)``: FL, RS, or the tensor itself.

    The batch axis must stay the batch (``x.size(0)``, or a ``-1`` the other sizes fill
    exactly). A reshape is the notation's only where PyTorch's order of the values (C, H, W)
    and the notation's (H, W, C) agree, or where it flattens (``FL``, whose next ``Linear`` is
    reordered when ported).
    """
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], list | tuple) else sizes
    if isinstance(x, Parameter) and all(type(size) is int for size in sizes):  # self.gamma.reshape(1, -1, 1, 1)
        return Parameter(x.tensor.reshape(sizes))
    x = as_tensor(x)
    if not sizes or not all(size is BATCH or type(size) is int for size in sizes):
        raise Refused(f"reshaping to {sizes_text(sizes)}: the notation reshapes to sizes it knows")
    held = torch_sizes(x)[1:]
    count = math.prod(held)
    target = _target_sizes(sizes, count)
    if len(target) == 1:
        return _read_flatten(reader, x) if len(held) > 1 else x
    if target == held:
        return x
    if x.flat or (len(x.shape) == 4 and not x.last and math.prod(x.shape[1:3]) > 1 and x.shape[3] > 1):
        raise Refused(
            f"reshaping {sizes_text((BATCH, *held))} to {sizes_text((BATCH, *target))} reads PyTorch's (C, H, W) "
            "order, the notation's RS its (H, W, C) order; the notation's near code: FL() into a Linear"
        )
    if len(target) == 3 and (target[0] == 1 or target[1] * target[2] == 1):  # (C, H, W) in the same order
        channels, height, width = target
        return reader.add("RS", {"shape": (height, width, channels)}, [x])
    if len(target) == 3 and len(held) == 1:  # a Linear's output made an image: (C, H, W) as PyTorch reads it
        channels, height, width = target
        raise Refused(
            f"reshaping {sizes_text((BATCH, *held))} to {sizes_text((BATCH, *target))} reads the values in "
            f"PyTorch's (C, H, W) order; the notation's near code RS({height}, {width}, {channels}) reads them in "
            "(H, W, C) order"
        )
    return reader.add("RS", {"shape": target}, [x], last=len(target) == 3)  # held as PyTorch holds it


def _target_sizes(sizes: tuple, count: int) -> tuple[int, ...]:
    """The sizes after the batch axis, ``-1`` worked out; Refused where the batch axis would not stay the batch."""
    first, rest = sizes[0], sizes[1:]
    known = math.prod(size for size in rest if size != -1)
    if first is not BATCH and not (first == -1 and -1 not in rest and known == count):
        raise Refused(
            f"reshaping to {sizes_text(sizes)} moves values across the batch axis: keep it the batch "
            "(x.view(x.size(0), ...)), or give the other sizes so that -1 is the batch"
        )
    if (
        any(size is BATCH or size < -1 or size == 0 for size in rest)
        or list(rest).count(-1) > 1
        or (known == 0 or count % known)
    ):
        raise Refused(f"reshaping {count} values to {sizes_text(sizes)}")
    target = tuple(count // known if size == -1 else size for size in rest)
    if math.prod(target) != count:
        raise Refused(f"reshaping {count} values to {sizes_text(sizes)}")
    return target


def _read_squeeze(reader, x, dim=None) -> Value:
    """``pool(x).squeeze()``, ``.squeeze((2, 3))`` of a ``(N, C, 1, 1)`` tensor: FL (the batch axis is never squeezed
    in the notation, which reads every batch size alike)."""
    x = as_tensor(x)
    sizes = torch_sizes(x)
    dims = range(1, len(sizes)) if dim is None else dim if isinstance(dim, list | tuple) else (dim,)
    kept = [size for axis, size in enumerate(sizes) if axis == 0 or axis % len(sizes) not in {d % len(sizes) for d in dims}
            or size != 1]  # fmt: skip
    if x.last or len(sizes) != 4 or len(kept) != 2:
        raise Refused(
            f"squeezing {sizes_text(sizes)} to {sizes_text(kept)}; the notation's near code: FL() flattens "
            "(N, C, 1, 1) to (N, C)"
        )
    return _read_flatten(reader, x)


def _read_flatten_module(reader, module, x) -> Value:
    return _read_flatten(reader, x, module.start_dim, module.end_dim)


def _read_chunk(reader, x, chunks: int, dim: int = 0) -> tuple[Value, ...]:
    """``x.chunk(parts, dim=1)``: each part an SPL (those never used are dropped with the unused layers)."""
    x = as_spatial(x)
    if dim % 4 != 1:
        raise Refused(f"chunks along dim {dim}; the notation splits the channels")
    return tuple(
        reader.add("SPL", {"index": index, "parts": chunks}, [x], suffix=f"_{index}") for index in range(chunks)
    )


def _read_channel_shuffle(reader, x, groups: int) -> Value:
    return reader.add("SHF", {"groups": groups}, [as_spatial(x)])


RESHAPES = (
    LayerType("ZP", "ZeroPadding2D", "pad height and width with zeros",
              (Param("pad", padding_amounts, ((1, 1), (1, 1)), shown="1"),), _zero_padding_shape, input_rank=4,
              kind="reshape",
              keras=(KerasClass("ZeroPadding2D", (KerasArg("pad", "padding", ((1, 1), (1, 1)), from_keras=_nested),),
                                refuse=_channels_last),),
              torch=Torch(_build_zero_padding, modules=((NN + "padding.ZeroPad2d", _read_zero_pad),),
                          functions=(("torch.nn.functional.pad", _read_pad),)),
              example={},
              note=": `p`, `(ph, pw)` or `((top, bottom), (left, right))`"),
    LayerType("CR", "Cropping2D", "crop rows and columns off the edges",
              (Param("crop", Amounts("c")),), _cropping_shape, input_rank=4, kind="reshape",
              keras=(KerasClass("Cropping2D", (KerasArg("crop", "cropping", ((0, 0), (0, 0)), from_keras=_nested),),
                                refuse=_channels_last),),
              torch=Torch(_build_cropping, unread="slicing a tensor has no reading yet"),
              example={"crop": ((1, 1), (1, 1))},
              note=": `c`, `(ch, cw)` or `((top, bottom), (left, right))`, as `ZP` pads"),
    LayerType("UP", "UpSampling2D", "repeat rows and columns",
              (Param("size", size(2), (2, 2)), Param("interpolation", choice(INTERPOLATIONS), "nearest")),
              _up_sampling_shape, input_rank=4, kind="reshape",
              keras=(KerasClass("UpSampling2D", (KerasArg("size", "size", (2, 2), from_keras=_pair),
                                                 KerasArg("interpolation", "interpolation", "nearest")),
                                refuse=_channels_last),),
              torch=Torch(_build_upsampling, modules=((NN + "upsampling.Upsample", _read_upsample),),
                          functions=(("torch.nn.functional.interpolate", _read_interpolate),)),
              example={},
              note="; also bilinear, bicubic, lanczos3, lanczos5"),
    LayerType("FL", "Flatten", "flatten to (batch, features)", (), _flatten_shape, kind="reshape",
              keras=(KerasClass("Flatten", refuse=_channels_last),),
              torch=Torch(lambda info: (Call("FlattenNHWC"),), modules=((NN + "flatten.Flatten", _read_flatten_module),),
                          functions=(("torch.flatten", _read_flatten), ("torch.squeeze", _read_squeeze)),
                          methods=(("flatten", _read_flatten), ("squeeze", _read_squeeze))),
              example={}),
    LayerType("RS", "Reshape", "reshape to the given sizes (batch axis aside; one may be -1)",
              (Param("shape", target_shape, literal=True),), _reshape_shape, collect="shape", kind="reshape",
              keras=(KerasClass("Reshape", (KerasArg("shape", "target_shape", positional=True, from_keras=_nested),)),),
              torch=Torch(lambda info: (Call("Reshape", (info.layer.args["shape"],)),),
                          functions=(("torch.reshape", _read_reshape),),
                          methods=(("view", _read_reshape), ("reshape", _read_reshape))),
              example={"shape": (-1,)},
              note=": `RS(1, 1, 32)`, `RS(-1)`; the same number of values, one size may be -1"),
    LayerType("SPL", "ChannelSplit", "one of parts equal groups of the channels (ShuffleNetV2's split, torch.chunk)",
              (Param("index", count(0, MAX_UNITS)), Param("parts", count(1, MAX_WINDOW), 2)), _split_shape,
              input_rank=4, check_args=_split_args, kind="reshape",
              keras=(KerasClass("ChannelSplit", (KerasArg("index", "index", positional=True),
                                                 KerasArg("parts", "parts", 2)), custom=True),),
              torch=Torch(lambda info: (Call("ChannelSplit", (info.layer.args["parts"], info.layer.args["index"])),),
                          functions=(("torch.chunk", _read_chunk),), methods=(("chunk", _read_chunk),)),
              example={"index": 0},
              note=": the `index`-th of `parts` equal groups of the channels (ShuffleNetV2's split, "
                   "`x.chunk(parts, dim=1)[index]`)"),
    LayerType("SHF", "ChannelShuffle", "the channels of groups interleaved (ShuffleNet's channel shuffle)",
              (Param("groups", count(1, MAX_WINDOW), 2),), _shuffle_shape, input_rank=4, kind="reshape",
              keras=(KerasClass("ChannelShuffle", (KerasArg("groups", "groups", 2),), custom=True),),
              torch=Torch(lambda info: (Call("ChannelShuffle", (info.layer.args["groups"],)),),
                          functions=(("torchvision.models.shufflenetv2.channel_shuffle", _read_channel_shuffle),)),
              example={},
              note=": the channels of `groups` groups interleaved, channel `i` of group `g` to `i * groups + g` "
                   "(ShuffleNet's channel shuffle)"),
)  # fmt: skip
