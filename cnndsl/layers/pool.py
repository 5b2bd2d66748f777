"""Pooling: ``MP`` and ``AP`` (windows), ``GAP`` and ``GMP`` (over height and width)."""

from __future__ import annotations

from cnndsl.layers.core import (
    PADDINGS,
    KerasArg,
    KerasClass,
    LayerType,
    Param,
    Torch,
    _channels_last,
    _pair,
    choice,
    flag,
    size,
)
from cnndsl.layers.pytorch import (
    NN,
    Call,
    Refused,
    Value,
    as_spatial,
    int_pair,
    read_padding,
    symmetric,
    torch_kwargs,
    window_pads,
)
from cnndsl.shapes import (
    Shape,
    ShapeProblem,
    compute_pooling_output_shape,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


# Pooling


def _pool_shape(shape: Shape, a: Mapping) -> Shape:
    pad, ceil = a.get("pad", (0, 0)), a.get("ceil", False)
    if pad == (0, 0) and not ceil:
        return compute_pooling_output_shape(shape, a["pool"], a["strides"], a["padding"])
    strides = a["strides"] or a["pool"]
    sizes = tuple(
        _padded_pool_size(size, window, stride, amount, ceil)
        for size, window, stride, amount in zip(shape[1:3], a["pool"], strides, pad)
    )
    return (shape[0], *sizes, shape[3])


def _padded_pool_size(size: int | None, window: int, stride: int, pad: int, ceil: bool) -> int | None:
    """PyTorch's pooling size: ``pad`` on both sides; ``ceil`` keeps a last window that overhangs, if it starts
    inside the input or its leading padding."""
    if size is None:
        return None
    if size + 2 * pad < window:
        raise ShapeProblem(
            f"the pool {window} is larger than the {size} rows or columns padded by {pad} on each side",
            "use a smaller pool, or more padding",
        )
    span = size + 2 * pad - window
    out = (-(-span // stride) if ceil else span // stride) + 1
    return out - 1 if ceil and (out - 1) * stride >= size + pad else out


def _pool_args(a: Mapping) -> str | tuple[str, str] | None:
    """pad= and ceil= are PyTorch's explicit padding: with ``valid`` only, at most half the pool (as PyTorch)."""
    pad, ceil = a.get("pad", (0, 0)), a.get("ceil", False)
    if (pad != (0, 0) or ceil) and a["padding"] != "valid":
        return "pad= and ceil= pad explicitly: they go with padding=valid", "leave padding out, or drop pad= and ceil="
    if any(amount > window // 2 for amount, window in zip(pad, a["pool"])):
        return f"pad={pad} is more than half the pool {a['pool']} (PyTorch refuses it)", "pad at most half the pool"
    return None


_POOL_PARAMS = (
    Param("pool", size(2), (2, 2)),
    Param("strides", size(2), None, shown="pool", same_as="pool"),
    Param("padding", choice(PADDINGS), "valid"),
    Param("pad", size(2, 0), (0, 0), shown="0", quiet=True),
    Param("ceil", flag, False, quiet=True),
)
_AVERAGE_POOL_PARAMS = (*_POOL_PARAMS, Param("count_pad", flag, False, quiet=True))


def _global_pool_shape(shape: Shape, a: Mapping) -> Shape:
    return (shape[0], 1, 1, shape[-1]) if a["keepdims"] else (shape[0], shape[-1])


_GLOBAL_POOL_PARAMS = (Param("keepdims", flag, False),)


def _keras_pool(cls: str) -> tuple[KerasClass, ...]:
    """Keras's pooling class; with pad= or ceil= (PyTorch's explicit padding), cnndsl's ``Padded...`` one."""
    pool = KerasArg("pool", "pool_size", positional=True, from_keras=_pair)
    strides = KerasArg("strides", "strides", None, from_keras=lambda v: None if v is None else _pair(v))
    explicit = (KerasArg("pad", "pad", (0, 0), from_keras=_pair), KerasArg("ceil", "ceil", False))
    if cls == "AveragePooling2D":
        explicit += (KerasArg("count_pad", "count_pad", False),)
    padded = KerasClass(f"Padded{cls}", (pool, strides, *explicit), custom=True,
                        when=lambda a: a["pad"] != (0, 0) or a["ceil"] or a.get("count_pad", False))  # fmt: skip
    return padded, KerasClass(cls, (pool, strides, KerasArg("padding", "padding", "valid")), refuse=_channels_last)


def _keras_global(cls: str) -> tuple[KerasClass, ...]:
    return (KerasClass(cls, (KerasArg("keepdims", "keepdims", False),), refuse=_channels_last),)


# --- PyTorch ---------------------------------------------------------------------------------


def _build_pool(info, maximum: bool) -> tuple[Call, ...]:
    a = info.layer.args
    strides = a["strides"]
    if a["pad"] != (0, 0) or a["ceil"] or (not maximum and a["count_pad"]):  # PyTorch's own explicit padding
        options = torch_kwargs(padding=a["pad"]) + ((("ceil_mode", True),) if a["ceil"] else ())
        if maximum:
            return (Call("nn.MaxPool2d", (a["pool"], strides), options),)
        return (Call("nn.AvgPool2d", (a["pool"], strides), options + (("count_include_pad", a["count_pad"]),)),)
    pads = window_pads(info, a["pool"], strides)
    if maximum:
        pad = (Call("nn.ConstantPad2d", (pads, float("-inf"))),) if any(pads) else ()
        return (*pad, Call("nn.MaxPool2d", (a["pool"], strides)))
    if not any(pads):
        return (Call("nn.AvgPool2d", (a["pool"], strides)),)
    if symmetric(pads):
        options = (("padding", (pads[2], pads[0])), ("count_include_pad", False))
        return (Call("nn.AvgPool2d", (a["pool"], strides), options),)
    return (Call("AvgPool2dSame", (a["pool"], strides, pads)),)


def _build_global_pool(cls: str) -> Callable:
    def build(info) -> tuple[Call, ...]:
        keep = info.layer.args["keepdims"]
        return (Call(cls, (1,)),) if keep else (Call(cls, (1,)), Call("nn.Flatten"))

    return build


def _read_pool_module(reader, module, x) -> Value:
    maximum = type(module).__name__.startswith("Max")
    if maximum and (int_pair(module.dilation) != (1, 1) or module.return_indices):
        raise Refused("dilation or return_indices has no notation")
    if not maximum and module.divisor_override:
        raise Refused("divisor_override has no notation")
    count_pad = None if maximum else module.count_include_pad
    return _pooling(reader, x, maximum, module.kernel_size, module.stride, module.padding, module.ceil_mode, count_pad)


def _pooling(reader, x, maximum: bool, kernel, stride, pad, ceil: bool, count_pad) -> Value:
    """MP or AP of PyTorch's arguments: ``valid``, ``same`` where TensorFlow pads the same, else ``pad=``/``ceil=``."""
    x = as_spatial(x)
    pool = int_pair(kernel)
    strides = int_pair(stride) if stride not in (None, [], ()) else pool
    pad = int_pair(pad)
    code = "MP" if maximum else "AP"
    size = x.shape[1:3]
    floor = tuple(_padded(n, k, s, p, False) for n, k, s, p in zip(size, pool, strides, pad))
    if ceil and floor == tuple(_padded(n, k, s, p, True) for n, k, s, p in zip(size, pool, strides, pad)):
        ceil = False  # no window overhangs: floor and ceiling agree
    args: dict[str, Any] = {"pool": pool, "strides": strides}
    counted = bool(count_pad) and pad != (0, 0)
    if pad == (0, 0) and not ceil:
        pass
    elif not ceil and not counted and read_padding(size, pool, strides, (1, 1), pad) == "same":
        args["padding"] = "same"
    else:
        args.update(pad=pad, ceil=ceil)
        if not maximum:
            args["count_pad"] = counted
    return reader.add(code, args, [x])


def _padded(size, window, stride, pad, ceil) -> int:
    span = size + 2 * pad - window
    out = (-(-span // stride) if ceil else span // stride) + 1
    return out - 1 if ceil and (out - 1) * stride >= size + pad else out


def _adaptive(reader, x, output_size, maximum: bool = False) -> Value:
    """Adaptive pooling to (1, 1) is GAP/GMP; to a size that divides the input, a plain pooling (or nothing)."""
    x = as_spatial(x)
    target = int_pair(output_size) if not isinstance(output_size, list | tuple) or None not in output_size else None
    if target is None:
        raise Refused(f"adaptive pooling to {output_size} keeps a size of the input; the notation pools to sizes")
    if target == (1, 1):
        return reader.add("GMP" if maximum else "GAP", {"keepdims": True}, [x])
    size = x.shape[1:3]
    if any(n % t for n, t in zip(size, target)):
        raise Refused(f"adaptive pooling of {size[0]}x{size[1]} to {target}: windows of unequal sizes have no notation")
    if tuple(size) == target:
        return x  # pooling a size to itself: the input, unchanged
    pool = tuple(n // t for n, t in zip(size, target))
    return reader.add("MP" if maximum else "AP", {"pool": pool, "strides": pool}, [x])


def _read_adaptive_module(maximum: bool) -> Callable:
    def read(reader, module, x) -> Value:
        return _adaptive(reader, x, module.output_size, maximum)

    return read


def _read_adaptive_function(maximum: bool) -> Callable:
    def read(reader, x, output_size, *rest, **options) -> Value:
        return _adaptive(reader, x, output_size, maximum)

    return read


def _read_pool_function(maximum: bool) -> Callable:
    names = ("input", "kernel_size", "stride", "padding", *(("dilation",) if maximum else ()), "ceil_mode",
             "count_include_pad" if not maximum else "return_indices", "divisor_override")  # fmt: skip

    def read(reader, *args, **options) -> Value:
        bound = {**dict(zip(names, args)), **options}
        if (maximum and (int_pair(bound.get("dilation", 1)) != (1, 1) or bound.get("return_indices"))) or bound.get(
            "divisor_override"
        ):
            raise Refused("dilation, return_indices or divisor_override has no notation")
        count_pad = None if maximum else bound.get("count_include_pad", True)
        return _pooling(reader, bound["input"], maximum, bound["kernel_size"], bound.get("stride"),
                        bound.get("padding", 0), bool(bound.get("ceil_mode", False)), count_pad)  # fmt: skip

    return read


def _read_mean(reader, x, dim=None, keepdim: bool = False, **options) -> Value:
    x = as_spatial(x)
    dims = {d % 4 for d in (dim if isinstance(dim, list | tuple) else [dim])} if dim is not None else None
    if dims != {2, 3} or options.get("dtype") is not None:
        raise Refused(f"a mean over dims {dim}; the notation averages over height and width (GAP)")
    return reader.add("GAP", {"keepdims": bool(keepdim)}, [x])


_F = "torch.nn.functional."


POOLINGS = (
    LayerType("MP", "MaxPooling2D", "2-D max pooling", _POOL_PARAMS, _pool_shape, input_rank=4, collect="pool",
              kind="pooling", keras=_keras_pool("MaxPooling2D"), check_args=_pool_args,
              torch=Torch(lambda info: _build_pool(info, maximum=True),
                          modules=((NN + "pooling.MaxPool2d", _read_pool_module),),
                          functions=((_F + "max_pool2d", _read_pool_function(True)),)),
              example={"pool": (2, 2)},
              note="; `MP(2,2)` is a 2x2 pool; PyTorch's explicit padding: `pad=0` on each side (at most half the pool, "
                   "never the maximum) and `ceil=false` (`ceil_mode`), with `valid`"),
    LayerType("AP", "AveragePooling2D", "2-D average pooling", _AVERAGE_POOL_PARAMS, _pool_shape, input_rank=4,
              collect="pool", kind="pooling", keras=_keras_pool("AveragePooling2D"), check_args=_pool_args,
              torch=Torch(lambda info: _build_pool(info, maximum=False),
                          modules=((NN + "pooling.AvgPool2d", _read_pool_module),),
                          functions=((_F + "avg_pool2d", _read_pool_function(False)),)),
              example={"pool": (2, 2)},
              note="; as `MP`, and `count_pad=false` (PyTorch's `count_include_pad`: the `pad=` counts in the mean)"),
    LayerType("GAP", "GlobalAveragePooling2D", "average over height and width", _GLOBAL_POOL_PARAMS,
              _global_pool_shape, input_rank=4, kind="pooling", keras=_keras_global("GlobalAveragePooling2D"),
              torch=Torch(_build_global_pool("nn.AdaptiveAvgPool2d"),
                          modules=((NN + "pooling.AdaptiveAvgPool2d", _read_adaptive_module(False)),),
                          functions=((_F + "adaptive_avg_pool2d", _read_adaptive_function(False)),
                                     ("torch.mean", _read_mean)),
                          methods=(("mean", _read_mean),)),
              example={}),
    LayerType("GMP", "GlobalMaxPooling2D", "maximum over height and width", _GLOBAL_POOL_PARAMS,
              _global_pool_shape, input_rank=4, kind="pooling", keras=_keras_global("GlobalMaxPooling2D"),
              torch=Torch(_build_global_pool("nn.AdaptiveMaxPool2d"),
                          modules=((NN + "pooling.AdaptiveMaxPool2d", _read_adaptive_module(True)),),
                          functions=((_F + "adaptive_max_pool2d", _read_adaptive_function(True)),)),
              example={}),
)  # fmt: skip
