"""Reshapes: ``ZP``, ``CR``, ``UP`` (height and width), ``FL``, ``RS``, and the channel split and shuffle ``SPL``, ``SHF``."""

from __future__ import annotations

import math

from cnndsl.layers.core import (
    INTERPOLATIONS,
    MAX_INPUT_SIZE,
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
    _unset,
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
    Extent,
    Parameter,
    Refused,
    Unsupported,
    Value,
    as_spatial,
    as_tensor,
    known_size,
    sizes_text,
    torch_sizes,
    whole_numbers,
)
from cnndsl.shapes import (
    Shape,
    ShapeProblem,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


# ZeroPadding2D, UpSampling2D


PAD_MODES = ("zeros", "reflect", "replicate")
"""ZP's modes: zeros (Keras's ZeroPadding2D), the edge reflected (not repeated) or replicated, as PyTorch's
``ReflectionPad2d`` and ``ReplicationPad2d`` (NumPy's ``reflect`` and ``edge``)."""


def _zero_padding_shape(shape: Shape, a: Mapping) -> Shape:
    (top, bottom), (left, right) = a["pad"]
    height, width = shape[1], shape[2]
    if a.get("mode") == "reflect":
        for extent, pads, what in ((height, (top, bottom), "height"), (width, (left, right), "width")):
            if extent is not None and max(pads) >= extent:
                raise ShapeProblem(
                    f"ZP reflects {max(pads)} rows or columns of the {what} {extent}: reflection pads less than the size",
                    "pad less, or use mode=replicate",
                )
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


def _slice_shape(shape: Shape, a: Mapping) -> Shape:
    channels, groups = shape[-1], a.get("groups", 1)
    if groups == 1:
        if channels is not None and a["stop"] > channels:
            raise ShapeProblem(
                f"SL({a['start']}, {a['stop']}) reaches past the input's {channels} channels",
                f"stop at most {channels}",
            )
        return (*shape[:-1], a["stop"] - a["start"])
    if channels is not None and channels % groups:
        raise ShapeProblem(
            f"SL groups={groups} must divide the input's {channels} channels", "use groups dividing them"
        )
    if channels is not None and a["stop"] > channels // groups:
        raise ShapeProblem(
            f"SL({a['start']}, {a['stop']}, groups={groups}) reaches past each group's {channels // groups} channels",
            f"start and stop count within a group: stop at most {channels // groups}",
        )
    return (*shape[:-1], (a["stop"] - a["start"]) * groups)


def _slice_args(a: Mapping) -> str | tuple[str, str] | None:
    if a["stop"] <= a["start"]:
        return (
            f"SL stop={a['stop']} is not after start={a['start']}",
            "SL(start, stop) keeps channels start to stop - 1",
        )
    return None


def _build_slice(info) -> tuple[Call, ...]:
    a = info.layer.args
    dim = 1 if len(info.input_shape) == 4 else -1
    groups = a.get("groups", 1)
    return (Call("ChannelSlice", (a["start"], a["stop"], dim) + ((groups,) if groups != 1 else ())),)


# Depth to space and back (pixel shuffle): DCR is TensorFlow's order, CRD PyTorch's (ONNX's names for the two)

BLOCK_ORDERS = ("dcr", "crd")
"""How a block's pixels sit in the channels: ``dcr``, the block position outer and the channel inner (TensorFlow's
``depth_to_space``, channel ``(i * r + j) * C + c``); ``crd``, the channel outer (PyTorch's ``pixel_shuffle``,
channel ``c * r * r + i * r + j``)."""


def _depth_to_space_shape(shape: Shape, a: Mapping) -> Shape:
    block, channels = a["block"], shape[3]
    if channels is not None and channels % (block * block):
        raise ShapeProblem(
            f"PXS({block}) needs channels divisible by {block * block}, not {channels}",
            f"give the layer before it a multiple of {block * block} channels",
        )
    height, width = (None if n is None else n * block for n in shape[1:3])
    return (shape[0], height, width, None if channels is None else channels // (block * block))


def _space_to_depth_shape(shape: Shape, a: Mapping) -> Shape:
    block = a["block"]
    for extent, what in zip(shape[1:3], ("height", "width")):
        if extent is not None and extent % block:
            raise ShapeProblem(f"PXU({block}) needs a {what} divisible by {block}, not {extent}")
    height, width = (None if n is None else n // block for n in shape[1:3])
    return (shape[0], height, width, None if shape[3] is None else shape[3] * block * block)


def _build_block_move(torch_class: str, own: str):
    def build(info) -> tuple[Call, ...]:
        a = info.layer.args
        if a["mode"] == "crd":
            return (Call(torch_class, (a["block"],)),)
        return (Call(own, (a["block"],)),)

    return build


def _read_pixel_shuffle(code: str):
    def read(reader, x, factor: int) -> Value:
        (block,) = whole_numbers(factor, "the factor")
        return reader.add(code, {"block": block, "mode": "crd"}, [as_spatial(x)])

    return read


def _read_pixel_shuffle_module(code: str):
    def read(reader, module, x) -> Value:
        factor = module.upscale_factor if code == "PXS" else module.downscale_factor
        return _read_pixel_shuffle(code)(reader, x, factor)

    return read


def _read_tensorflow_order_module(code: str):
    """timm's ``SpaceToDepth`` and ``DepthToSpace`` (TResNet's stem): a ``view``, a ``permute`` and a ``view`` that
    move each block of pixels in TensorFlow's order, ``mode=dcr``; the block is the module's ``bs``."""

    def read(reader, module, x) -> Value:
        (block,) = whole_numbers(module.bs, "the block size")
        return reader.add(code, {"block": block, "mode": "dcr"}, [as_spatial(x)])

    return read


TIMM_BLOCK_MOVES = "timm.layers.space_to_depth."
"""Where timm keeps its space-to-depth modules."""


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


_PAD_MODULES = {"zeros": "nn.ZeroPad2d", "reflect": "nn.ReflectionPad2d", "replicate": "nn.ReplicationPad2d"}


def _build_zero_padding(info) -> tuple[Call, ...]:
    (top, bottom), (left, right) = info.layer.args["pad"]
    return (Call(_PAD_MODULES[info.layer.args.get("mode", "zeros")], ((left, right, top, bottom),)),)


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


_RESIZE_MODES = {"bilinear": "bilinear", "nearest": "nearest-exact"}
"""RSZ's interpolations PyTorch computes as Keras's Resizing does: half-pixel centres both (TensorFlow's nearest
is PyTorch's ``nearest-exact``; its bilinear is ``align_corners=False``)."""


def _build_resize(info) -> tuple[Call, ...]:
    a = info.layer.args
    mode = _RESIZE_MODES.get(a["interpolation"])
    if mode is None:
        raise Unsupported(f"PyTorch has no {a['interpolation']} resizing that matches Keras's; use bilinear or nearest")
    if mode == "nearest-exact":
        return (Call("ResizeNearest", (a["height"], a["width"])),)
    options = (("size", (a["height"], a["width"])), ("mode", mode), ("align_corners", False))
    return (Call("nn.Upsample", (), options),)


def _resize_to_shape(shapes: list[Shape], a: Mapping) -> Shape:
    """``RSZTO(X | Y)``: X's channels at Y's height and width."""
    if len(shapes) != 2:
        raise ShapeProblem(
            f"RSZTO resizes its first branch to the second's height and width: it takes 2 branches, not {len(shapes)}"
        )
    x, like = shapes
    if len(x) != 4 or len(like) != 4:
        raise ShapeProblem(
            f"RSZTO resizes images: its branches are {_fmt(x)} and {_fmt(like)}, not (height, width, channels) both",
            "resize before FL() or GAP()",
        )
    return (None, like[1], like[2], x[3])


def _build_resize_to(info) -> tuple[Call, ...]:
    mode = _RESIZE_MODES.get(info.layer.args["interpolation"])
    if mode is None:
        raise Unsupported(
            f"PyTorch has no {info.layer.args['interpolation']} resizing that matches Keras's; use bilinear or nearest"
        )
    return (Call("ResizeTo", (info.layer.args["interpolation"],)),)


def read_resize(reader, x, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Value:  # fmt: skip
    """``F.interpolate(x, size=(h, w), mode=...)``: RSZ to that size, where PyTorch computes what Keras's Resizing
    does (bilinear without corners aligned, nearest-exact; nearest where it is the same, a whole upscaling)."""
    if size is None:  # a scale: UP's reading, where UP's entry declares one
        scaled = _up_reading("torch.nn.functional.interpolate", dict(_up_entry().torch.functions))
        return scaled(reader, x, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)
    x = as_spatial(x)
    sizes = whole_numbers(size, "the size")
    height, width = sizes * 2 if len(sizes) == 1 else sizes
    if align_corners or antialias:
        raise Refused(f"{'align_corners' if align_corners else 'antialias'}=True: Keras's Resizing has neither")
    like = _sized_like(sizes)
    found = {"bilinear": "bilinear", "nearest-exact": "nearest"}.get(mode)
    if like is not None and like.name != x.name and found is not None:  # y.shape[-2:]: RSZTO, exact at every size
        return reader.add("RSZTO", {"interpolation": found}, [x, like])
    # otherwise the size as read (PyTorch's nearest is Keras's only at a whole factor: UP, exact at this size)
    whole = all(out % n == 0 for out, n in zip((height, width), x.shape[1:3]))
    if whole and mode in ("nearest", "bilinear") and tuple(x.shape[1:3]) != (1, 1):
        # a whole factor is UP, the code that says it (a U-Net's decoder); a pooled pixel spread back to the
        # image's size (the ASPP pooling branch) stays a resizing to that size
        scaled = _up_reading("torch.nn.functional.interpolate", dict(_up_entry().torch.functions))
        return scaled(reader, x, (height, width), None, mode, align_corners, recompute_scale_factor, antialias)
    if mode == "nearest" and whole:
        mode = "nearest-exact"  # floor(i / s) and floor((i + 0.5) / s) agree at a whole factor s
    found = next((name for name, theirs in _RESIZE_MODES.items() if theirs == mode), None)
    if found is None:
        hint = "; nearest-exact resizes as Keras does" if mode == "nearest" else ""
        raise Refused(f"interpolating with mode={mode!r} to {height}x{width} differs from Keras's Resizing{hint}")
    return reader.add("RSZ", {"height": height, "width": width, "interpolation": found}, [x])


def _sized_like(sizes: tuple):
    """The tensor whose height and width ``sizes`` are, read from its shape (``y.shape[-2:]``); None otherwise."""
    if len(sizes) != 2 or not all(isinstance(size, Extent) for size in sizes):
        return None
    height, width = sizes
    if height.of is not width.of or (height.axis, width.axis) != (1, 2):
        return None
    return height.of


def _up_entry() -> LayerType:
    """UP's entry, in the table below."""
    return next(entry for entry in RESHAPES if entry.code == "UP")


def _up_reading(name: str, readings: dict):
    """UP's own reading of ``name`` (an interpolation by a scale); a refusal where UP declares none."""
    reading = readings.get(name)
    if reading is None or reading in (read_resize, _read_upsample):

        def reading(reader, *args, **kwargs):
            raise Refused("interpolating by scale_factor: RSZ resizes to a size, and UP's scaling has no reading")

    return reading


def _read_upsample(reader, module, x) -> Value:
    if module.size is None:  # a scale: UP's reading, where UP's entry declares one
        return _up_reading(f"{NN}upsampling.Upsample", dict(_up_entry().torch.modules))(reader, module, x)
    return read_resize(reader, x, module.size, module.scale_factor, module.mode, module.align_corners,
                       module.recompute_scale_factor)  # fmt: skip


def _read_zero_pad(reader, module, x) -> Value:
    """``nn.ZeroPad2d``, ``nn.ReflectionPad2d``, ``nn.ReplicationPad2d``: ZP of that mode."""
    mode = {"ZeroPad2d": "zeros", "ReflectionPad2d": "reflect", "ReplicationPad2d": "replicate"}[type(module).__name__]
    padding = module.padding
    return _read_pads(reader, x, tuple(padding) if len(padding) == 4 else (padding[0],) * 4, mode)


def _read_pads(reader, x, pads: tuple, mode: str) -> Value:
    left, right, top, bottom = whole_numbers(pads, "the padding")
    if min(left, right, top, bottom) < 0:
        raise Refused(f"padding by {pads}: a negative pad crops (CR crops)")
    args = {"pad": ((top, bottom), (left, right))}
    return reader.add("ZP", {**args, "mode": mode} if mode != "zeros" else args, [as_spatial(x)])


_PAD_FUNCTION_MODES = {"constant": "zeros", "reflect": "reflect", "replicate": "replicate"}
"""F.pad's modes -> ZP's."""


def read_pad(reader, x, pad, mode: str = "constant", value=None) -> Value:
    """``F.pad(x, (left, right, top, bottom), mode=...)``: ZP of that mode; constant padding with zeros only,
    height and width only (a pad of the channels or the batch has no notation)."""
    x = as_spatial(x)
    pads = whole_numbers(pad, "F.pad's sizes")
    if len(pads) % 2 or len(pads) > 8:
        raise Refused(f"F.pad with {len(pads)} sizes; it takes two per padded dim")
    if any(pads[4:]):
        raise Refused(f"F.pad{pads} pads the channels or the batch; the notation pads height and width")
    if mode not in _PAD_FUNCTION_MODES:
        raise Refused(f"F.pad mode={mode!r} has no notation; zeros (constant), reflect and replicate do")
    if mode != "constant" and len(pads) != 4:
        raise Refused(f"F.pad mode={mode!r} with {len(pads)} sizes; PyTorch pads a 4-D tensor so with 4")
    if mode == "constant" and value not in (None, 0, 0.0):
        raise Refused(f"F.pad with the constant {value}: the notation pads with zeros")
    if not any(pads):  # a U-Net's padding to the skip's size where the sizes already agree
        return x
    return _read_pads(reader, x, (*pads[:4], 0, 0)[:4] if len(pads) >= 4 else (*pads, 0, 0), _PAD_FUNCTION_MODES[mode])


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


def _read_upsampling(reader, module, x) -> Value:
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
        size = (size, size) if known_size(size) else tuple(size)
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
    if isinstance(x, Parameter) and all(known_size(size) for size in sizes):  # self.gamma.reshape(1, -1, 1, 1)
        return Parameter(x.tensor.reshape(sizes), x.learned)
    x = as_tensor(x)
    if not sizes or not all(size is BATCH or known_size(size) for size in sizes):
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
        shaped = reader.add("RS", {"shape": (height, width, channels)}, [x])
        order = [
            c * height * width + h * width + w for h in range(height) for w in range(width) for c in range(channels)
        ]
        problem = reader.reorder_units(x, order, shaped.name)  # the Linear writes its units in (H, W, C) order
        if problem is None:
            return shaped
        raise Refused(
            f"reshaping {sizes_text((BATCH, *held))} to {sizes_text((BATCH, *target))} reads the values in "
            f"PyTorch's (C, H, W) order; the notation's near code RS({height}, {width}, {channels}) reads them in "
            f"(H, W, C) order, exact only when a Linear's units can be reordered for it, and {problem}"
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
    """``x.chunk(parts, dim=1)``: each part an SPL (those never used are dropped with the unused layers); parts of
    unequal sizes (channels that ``parts`` does not divide), each an SL."""
    x = as_spatial(x)
    if dim % 4 != 1:
        raise Refused(f"chunks along dim {dim}; the notation splits the channels")
    channels = x.shape[-1]
    if channels % chunks:
        part = -(-channels // chunks)
        return _read_sections(reader, x, [min(part, channels - start) for start in range(0, channels, part)])
    return tuple(
        reader.add("SPL", {"index": index, "parts": chunks}, [x], suffix=f"_{index}") for index in range(chunks)
    )


def _channel_dim(x: Value) -> int:
    """The PyTorch dim of the notation's channel axis (the last): 1 of a 4-D tensor held channels first."""
    return 1 if len(x.shape) == 4 and not x.last else len(x.shape) - 1


def _read_split(reader, x, sizes, dim: int = 0) -> tuple[Value, ...]:
    """``torch.split(x, [a, b], dim=1)`` (``x.split(...)``): each part an SL; equal parts, each an SPL."""
    x = as_tensor(x)
    if dim % len(x.shape) != _channel_dim(x):
        raise Refused(f"splitting dim {dim}; the notation splits the channels")
    channels = x.shape[-1]
    if isinstance(sizes, int) and sizes > 0:
        sizes = [min(sizes, channels - start) for start in range(0, channels, sizes)]
    sizes = list(whole_numbers(sizes, "the split sizes"))
    if sum(sizes) != channels:
        raise Refused(f"split sizes {sizes} do not add up to the {channels} channels")
    if len(set(sizes)) == 1 and len(x.shape) == 4:
        return _read_chunk(reader, x, len(sizes), _channel_dim(x))
    return _read_sections(reader, x, sizes)


def _read_sections(reader, x: Value, sizes: list[int]) -> tuple[Value, ...]:
    parts, start = [], 0
    for index, part in enumerate(sizes):
        parts.append(_slice(reader, x, start, start + part, f"_{index}"))
        start += part
    return tuple(parts)


def _slice(reader, x: Value, start: int, stop: int, suffix: str = "") -> Value:
    if (start, stop) == (0, x.shape[-1]):
        return x  # every channel: the tensor itself
    return reader.add("SL", {"start": start, "stop": stop}, [x], suffix=suffix, last=x.last)


def read_channel_slice(reader, x: Value, index) -> Value:
    """``x[:, a:b]`` (``x[:, :c]``, ``x[:, c:]``, ``x[..., a:b]`` of a tensor held channels last): SL; every other
    axis must be taken whole."""
    index = index if isinstance(index, tuple) else (index,)
    if index.count(Ellipsis) > 1 or any(item is not Ellipsis and not isinstance(item, slice) for item in index):
        raise Refused(f"indexing a tensor with {_index_text(index)}; the notation slices the channels only")
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (len(x.shape) - len(index) + 1) + index[at + 1 :]
    index += (slice(None),) * (len(x.shape) - len(index))
    channel = _channel_dim(x)
    for dim, item in enumerate(index):
        if dim != channel and item != slice(None):
            raise Refused(f"indexing a tensor with {_index_text(index)}; the notation slices the channels only")
    start, stop, step = index[channel].indices(x.shape[-1])
    if step != 1 or stop <= start:
        raise Refused(f"the channel slice {_index_text(index)} is {'strided' if step != 1 else 'empty'}")
    return _slice(reader, x, start, stop)


def _index_text(index: tuple) -> str:
    def one(item) -> str:
        if item is Ellipsis:
            return "..."
        if not isinstance(item, slice):
            return repr(item)
        text = f"{'' if item.start is None else item.start}:{'' if item.stop is None else item.stop}"
        return text + (f":{item.step}" if item.step is not None else "")

    return f"[{', '.join(map(one, index))}]"


def _read_channel_shuffle(reader, x, groups: int) -> Value:
    return reader.add("SHF", {"groups": groups}, [as_spatial(x)])


RESHAPES = (
    LayerType("ZP", "ZeroPadding2D", "pad height and width with zeros (or the edges reflected or replicated)",
              (Param("pad", padding_amounts, ((1, 1), (1, 1)), shown="1"),
               Param("mode", choice(PAD_MODES), "zeros", quiet=True)), _zero_padding_shape, input_rank=4,
              kind="reshape",
              keras=(KerasClass("Padding2D", (KerasArg("pad", "padding", positional=True, from_keras=_nested),
                                              KerasArg("mode", "mode", positional=True)),
                                custom=True, when=lambda a: a.get("mode", "zeros") != "zeros"),
                     KerasClass("ZeroPadding2D", (KerasArg("pad", "padding", ((1, 1), (1, 1)), from_keras=_nested),),
                                refuse=_channels_last)),
              torch=Torch(_build_zero_padding, modules=tuple((NN + f"padding.{name}", _read_zero_pad)
                                                             for name in ("ZeroPad2d", "ReflectionPad2d",
                                                                          "ReplicationPad2d")),
                          functions=(("torch.nn.functional.pad", read_pad),)),
              example={},
              note=": `p`, `(ph, pw)` or `((top, bottom), (left, right))`; `mode=reflect` reflects the edge "
                   "(`nn.ReflectionPad2d`), `mode=replicate` repeats it (`nn.ReplicationPad2d`)"),
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
              torch=Torch(_build_upsampling, modules=((NN + "upsampling.Upsample", _read_upsampling),),
                          functions=(("torch.nn.functional.interpolate", _read_interpolate),)),
              example={},
              note="; also bilinear, bicubic, lanczos3, lanczos5"),
    LayerType("RSZ", "Resizing", "resize height and width to a given size (bilinear, or another interpolation)",
              (Param("height", count(1, MAX_INPUT_SIZE)), Param("width", count(1, MAX_INPUT_SIZE)),
               Param("interpolation", choice(INTERPOLATIONS), "bilinear")),
              lambda shape, a: (shape[0], a["height"], a["width"], shape[3]), input_rank=4, kind="reshape",
              keras=(KerasClass("Resizing", (KerasArg("height", "height", positional=True),
                                             KerasArg("width", "width", positional=True),
                                             KerasArg("interpolation", "interpolation", "bilinear")),
                                refuse=_unset("crop_to_aspect_ratio", False, "pad_to_aspect_ratio", False,
                                              "antialias", False)),),
              torch=Torch(_build_resize, modules=((NN + "upsampling.Upsample", _read_upsample),),
                          functions=(("torch.nn.functional.interpolate", read_resize),)),
              example={"height": 4, "width": 6},
              note=": to `height` x `width` (an ASPP pooling branch back to the image's size, FCN's "
                   "final resize, `F.interpolate(x, size=(h, w))`); also nearest, bicubic, lanczos3, lanczos5"),
    LayerType("RSZTO", "ResizeTo", "resize the first branch to the second branch's height and width",
              (Param("interpolation", choice(INTERPOLATIONS), "bilinear"),), _resize_to_shape, merge=True,
              kind="reshape",
              keras=(KerasClass("ResizeTo", (KerasArg("interpolation", "interpolation", "bilinear"),), custom=True),),
              torch=Torch(_build_resize_to,
                          read_by="F.interpolate(x, size=y.shape[-2:]) (a size read from another tensor), by RSZ's rule"),
              example={},
              note=": `RSZTO(X | @y)`, X resized to the size of the tensor `y` (an ASPP pooling branch back to its "
                   "input's size, FCN's final resize to the image's); also nearest, bicubic, lanczos3, lanczos5"),
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
    LayerType("SL", "ChannelSlice", "the channels from start to stop - 1 (a slice x[:, start:stop], an uneven split)",
              (Param("start", count(0, MAX_UNITS)), Param("stop", count(1, MAX_UNITS)),
               Param("groups", count(1, MAX_WINDOW), 1, quiet=True)), _slice_shape,
              check_args=_slice_args, kind="reshape",
              keras=(KerasClass("ChannelSlice", (KerasArg("start", "start", positional=True),
                                                 KerasArg("stop", "stop", positional=True),
                                                 KerasArg("groups", "groups", 1)), custom=True),),
              torch=Torch(_build_slice,
                          functions=(("torch.split", _read_split),), methods=(("split", _read_split),),
                          read_by="x[:, start:stop] (a tensor's getitem), torch.split, torch.chunk"),
              example={"start": 1, "stop": 3},
              note=": the channels `start` to `stop - 1` (`x[:, start:stop]`); "
                   "`CAT(SL(0, 3) -> ... | SL(3, 8) -> ...)` is an uneven split (`torch.split(x, [3, 5], 1)`); "
                   "`groups=g` cuts the channels into `g` equal groups and keeps channels `start` to `stop - 1` "
                   "of each, in group order (a multi-head split: `SL(0, 16, groups=heads)`)"),
    LayerType("PXS", "DepthToSpace", "pixel shuffle: each pixel's channels spread over a block x block square",
              (Param("block", count(2, MAX_WINDOW)), Param("mode", choice(BLOCK_ORDERS), "crd")),
              _depth_to_space_shape, input_rank=4, kind="reshape",
              keras=(KerasClass("DepthToSpace", (KerasArg("block", "block_size", positional=True),
                                                 KerasArg("mode", "mode", "dcr")), custom=True),),
              torch=Torch(_build_block_move("nn.PixelShuffle", "DepthToSpace"),
                          modules=((NN + "pixelshuffle.PixelShuffle", _read_pixel_shuffle_module("PXS")),
                                   (TIMM_BLOCK_MOVES + "DepthToSpace", _read_tensorflow_order_module("PXS"))),
                          functions=(("torch.nn.functional.pixel_shuffle", _read_pixel_shuffle("PXS")),)),
              example={"block": 2},
              note=": `(H, W, C r²)` to `(H r, W r, C)` in PyTorch's `PixelShuffle(r)` order; `mode=dcr` in "
                   "TensorFlow's `depth_to_space` order (ONNX's DepthToSpace modes)"),
    LayerType("PXU", "SpaceToDepth", "pixel unshuffle: each block x block square of pixels stacked into channels",
              (Param("block", count(2, MAX_WINDOW)), Param("mode", choice(BLOCK_ORDERS), "crd")),
              _space_to_depth_shape, input_rank=4, kind="reshape",
              keras=(KerasClass("SpaceToDepth", (KerasArg("block", "block_size", positional=True),
                                                 KerasArg("mode", "mode", "dcr")), custom=True),),
              torch=Torch(_build_block_move("nn.PixelUnshuffle", "SpaceToDepth"),
                          modules=((NN + "pixelshuffle.PixelUnshuffle", _read_pixel_shuffle_module("PXU")),
                                   (TIMM_BLOCK_MOVES + "SpaceToDepth", _read_tensorflow_order_module("PXU"))),
                          functions=(("torch.nn.functional.pixel_unshuffle", _read_pixel_shuffle("PXU")),)),
              example={"block": 2},
              note=": `(H r, W r, C)` to `(H, W, C r²)`, `PXS`'s inverse, PyTorch's `PixelUnshuffle(r)`; "
                   "`mode=dcr` is TensorFlow's `space_to_depth`"),
    LayerType("SHF", "ChannelShuffle", "the channels of groups interleaved (ShuffleNet's channel shuffle)",
              (Param("groups", count(1, MAX_WINDOW), 2),), _shuffle_shape, input_rank=4, kind="reshape",
              keras=(KerasClass("ChannelShuffle", (KerasArg("groups", "groups", 2),), custom=True),),
              torch=Torch(lambda info: (Call("ChannelShuffle", (info.layer.args["groups"],)),),
                          functions=(("torchvision.models.shufflenetv2.channel_shuffle", _read_channel_shuffle),)),
              example={},
              note=": the channels of `groups` groups interleaved, channel `i` of group `g` to `i * groups + g` "
                   "(ShuffleNet's channel shuffle)"),
)  # fmt: skip
