"""Normalisation: ``BN``, ``LN``, ``GN``, ``LS`` (layer scale), ``RSC`` (rescaling), ``NRM`` (normalization)."""

from __future__ import annotations

from cnndsl.layers.core import (
    _K_NORM,
    MAX_WINDOW,
    KerasArg,
    KerasClass,
    LayerType,
    Param,
    Torch,
    Weight,
    _axis_refusal,
    _fmt,
    _read_number,
    _read_values,
    _unset,
    count,
    flag,
    integer,
    real,
    reals,
)
from cnndsl.layers.pytorch import (
    NN,
    Call,
    Refused,
    Unsupported,
    Value,
    as_tensor,
    own_tensor,
    sizes_text,
    to_numpy,
    torch_dim,
    torch_sizes,
)
from cnndsl.shapes import (
    Shape,
    ShapeProblem,
    UnknownSize,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


# BatchNormalization


def _bn_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    channels = (shape[-1],)
    return (
        *((Weight("gamma", channels),) if a["scale"] else ()),
        *((Weight("beta", channels),) if a["center"] else ()),
        Weight("moving_mean", channels, trainable=False),
        Weight("moving_variance", channels, trainable=False),
    )


# LayerNormalization, LayerScale, Rescaling, Normalization


def _axis_size(shape: Shape, axis: int) -> int | None:
    """The size of one (non-batch) axis; ShapeProblem when it is not one."""
    rank = len(shape)
    if not -rank <= axis < rank or axis % rank == 0:
        raise ShapeProblem(f"axis={axis} is not an axis of a {rank}-D tensor other than the batch axis")
    return shape[axis]


def _ln_shape(shape: Shape, a: Mapping) -> Shape:
    if _axis_size(shape, a["axis"]) is None and (a["center"] or a["scale"]):
        weights = " and ".join(name for name, kept in (("gamma", a["scale"]), ("beta", a["center"])) if kept)
        raise UnknownSize(
            f"LN axis={a['axis']} normalises an axis whose size is unknown ({_fmt(shape)}), "
            f"but its {weights} need{'s' if ' ' not in weights else ''} that size",
            "normalise over the channels (axis=-1), give IN(...) that size, or use center=false, scale=false",
        )
    return shape


def _ln_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    axis = a["axis"]
    size = (shape[axis] if -len(shape) <= axis < len(shape) else None,)  # a bad axis is the shape rule's error
    return (
        *((Weight("gamma", size),) if a["scale"] else ()),
        *((Weight("beta", size),) if a["center"] else ()),
    )


def _ln_args(a: Mapping) -> str | None:
    if a["axis"] == 0:
        return "LN axis=0 is the batch axis", "normalise over axis=-1 (the channels), 1 (rows) or 2 (columns)"
    return None


def _layer_scale_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    return (Weight("gamma", (shape[-1],)),)


def _channels_of(values, shape: Shape, what: str) -> None:
    """A per-channel tuple must have one value per channel (a number broadcasts)."""
    if isinstance(values, tuple) and shape[-1] is not None and len(values) not in (1, shape[-1]):
        raise ShapeProblem(f"NRM {what} has {len(values)} values for {shape[-1]} channels", "give one per channel")


def _norm_shape(shape: Shape, a: Mapping) -> Shape:
    _channels_of(a["mean"], shape, "mean")
    _channels_of(a["variance"], shape, "variance")
    return shape


def _norm_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    """Adapted (no mean and variance given): Keras keeps mean, variance and count as weights."""
    if a["mean"] is not None:
        return ()
    size = (shape[-1],)
    return (Weight("mean", size, False), Weight("variance", size, False), Weight("count", (), False))


def _norm_args(a: Mapping) -> str | None:
    if (a["mean"] is None) != (a["variance"] is None):
        return "NRM takes mean and variance together", "give both, or neither (then Keras adapts them to the data)"
    if _values_shape(a["mean"]) != _values_shape(a["variance"]):
        return (
            "NRM mean and variance must have the same shape (Keras refuses it)",
            "give both as one number, or both with one value per channel",
        )
    return None


def _values_shape(values) -> tuple[int, ...]:
    """The shape Keras gives a mean or variance: () for a number, (n,) for n values."""
    return (len(values),) if isinstance(values, tuple) else ()


# --- PyTorch ---------------------------------------------------------------------------------


def _build_batch_norm(info) -> tuple[Call, ...]:
    a = info.layer.args
    channels = info.input_shape[-1]
    momentum, epsilon = 1 - a["momentum"], a["epsilon"]
    center, scale = a["center"], a["scale"]
    if center != scale:
        calls = (Call("BatchNorm", (channels, epsilon, momentum, center, scale)),)
    else:
        cls = "nn.BatchNorm2d" if len(info.input_shape) == 4 else "nn.BatchNorm1d"
        options = (("eps", epsilon), ("momentum", round(momentum, 12)))
        calls = (Call(cls, (channels,), options + (() if center else (("affine", False),))),)
    return (Call("ChannelsSecond", calls),) if len(info.input_shape) == 3 else calls


def _build_layer_norm(info) -> tuple[Call, ...]:
    a, shape = info.layer.args, info.input_shape
    dim = torch_dim(a["axis"], len(shape))
    return (Call("LayerNorm", (shape[a["axis"]], dim, a["epsilon"], a["center"], a["scale"])),)


def _build_normalization(info) -> tuple[Call, ...]:
    a = info.layer.args
    given = () if a["mean"] is None else (a["mean"], a["variance"])
    return (Call("Normalization", (info.input_shape[-1], *given)),)


def _read_batch_norm(reader, module, x) -> Value:
    if not module.track_running_stats or module.momentum is None:
        raise Refused("a batch norm without running statistics (or momentum=None) has no notation")

    def tensors() -> tuple:  # the module's as they are when ported
        return module.weight, module.bias, module.running_mean, module.running_var

    return _read_batch_normalization(reader, x, module.affine, module.affine, module.momentum, module.eps, tensors)


def _read_batch_norm_function(reader, x, running_mean, running_var, weight=None, bias=None, training=False,
                              momentum=0.1, eps=1e-5) -> Value:  # fmt: skip
    """``F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, m, eps)``: a module's
    own statistics in inference (timm's BatchNormAct2d, then its activation)."""
    if training is not False or running_mean is None or running_var is None:
        raise Refused(
            "a batch norm of the batch's own statistics (training=True, no running statistics) has no notation"
        )
    tensors = [None if t is None else own_tensor(t, what, learned) for t, what, learned in
               ((weight, "scale", True), (bias, "offset", True), (running_mean, "running mean", False),
                (running_var, "running variance", False))]  # fmt: skip
    return _read_batch_normalization(reader, x, weight is not None, bias is not None, momentum, eps, lambda: tensors)


def _read_batch_normalization(reader, x, scale: bool, center: bool, momentum, eps, tensors) -> Value:
    x = as_tensor(x)
    if len(x.shape) == 4 and x.last:
        raise Refused("a batch norm of a tensor held channels last normalises its width")

    def weights() -> list:
        weight, bias, mean, variance = tensors()
        kept = [weight] if scale else []
        return [to_numpy(tensor) for tensor in (*kept, *([bias] if center else []), mean, variance)]

    args = {"momentum": round(1 - float(momentum), 12), "epsilon": float(eps), "center": center, "scale": scale}
    return reader.add("BN", args, [x], weights)


def _read_layer_norm(reader, module, x, channels_first: bool = False) -> Value:
    def tensors() -> tuple:  # the module's as they are when ported
        return module.weight, getattr(module, "bias", None)

    present = (module.weight is not None, getattr(module, "bias", None) is not None)
    return read_layer_normalization(reader, x, tuple(module.normalized_shape), module.eps, present, tensors,
                                    channels_first)  # fmt: skip


def _read_layer_norm_function(reader, x, normalized_shape, weight=None, bias=None, eps=1e-5) -> Value:
    """``F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)`` (timm's LayerNorm2d)."""
    tensors = tuple(None if t is None else own_tensor(t, what) for t, what in ((weight, "scale"), (bias, "offset")))
    present = (weight is not None, bias is not None)
    return read_layer_normalization(reader, x, tuple(normalized_shape), eps, present, lambda: tensors)


def read_layer_normalization(reader, x, normalized, eps, present, tensors, channels_first: bool = False) -> Value:
    """LN over the channels: PyTorch's layer norm of the last dim, that dim being the channels."""
    x = as_tensor(x)
    sizes = torch_sizes(x)
    if len(x.shape) == 4 and x.last == channels_first:
        axis = "the channels" if channels_first else f"the width ({sizes[-1]})"
        raise Refused(
            f"a layer norm of {normalized} on a tensor of {sizes_text(sizes)} held channels "
            f"{'last' if x.last else 'first'} normalises {axis}{' twice' if channels_first else ''}; the notation's "
            "LN normalises the channels: permute(0, 2, 3, 1) before it and permute(0, 3, 1, 2) after"
        )
    if normalized != (x.shape[-1],):
        raise Refused(
            f"a layer norm of the last {len(normalized)} dims {normalized} of {sizes_text(sizes)}; the notation's LN "
            f"normalises one axis, the channels ({x.shape[-1]},)"
        )

    def weights() -> list:
        return [to_numpy(tensor) for tensor in tensors() if tensor is not None]

    args = {"axis": -1, "epsilon": float(eps), "center": present[1], "scale": present[0]}
    return reader.add("LN", args, [x], weights, last=x.last)


def read_layer_scale(reader, tensor, x: Value) -> Value:
    """``x * gamma``, a module's own tensor of one value per channel (ConvNeXt's layer scale): LS."""
    channels = x.shape[-1]
    expected = (channels,) if x.last or len(x.shape) == 2 else (channels, 1, 1)
    shape = tuple(tensor.shape)
    while len(shape) > len(expected) and shape[0] == 1:  # (1, C, 1, 1): broadcast over the batch alike
        shape = shape[1:]
    if shape != expected:
        raise Refused(f"a scale of shape {tuple(tensor.shape)} is not one value per channel {expected}")
    return reader.add("LS", {}, [x], lambda: [to_numpy(tensor).reshape(channels)], last=x.last)


# GroupNormalization: LN's statistics over groups of one axis's values (the channels, by default)


def _gn_shape(shape: Shape, a: Mapping) -> Shape:
    size, groups = _axis_size(shape, a["axis"]), a["groups"]
    if size is None:
        raise UnknownSize(
            f"GN axis={a['axis']} groups an axis whose size is unknown ({_fmt(shape)})",
            "group the channels (axis=-1), or give IN(...) that size",
        )
    if size % groups:
        raise ShapeProblem(
            f"GN groups={groups} must divide the {size} values of axis {a['axis']}", "use groups dividing them"
        )
    return shape


def _gn_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    axis = a["axis"]
    size = (shape[axis] if -len(shape) <= axis < len(shape) else None,)  # a bad axis is the shape rule's error
    return (*((Weight("gamma", size),) if a["scale"] else ()), *((Weight("beta", size),) if a["center"] else ()))


def _gn_args(a: Mapping) -> str | tuple[str, str] | None:
    if a["axis"] == 0:
        return "GN axis=0 is the batch axis", "group over axis=-1 (the channels)"
    return None


def _build_group_norm(info) -> tuple[Call, ...]:
    a, shape = info.layer.args, info.input_shape
    if a["axis"] % len(shape) != len(shape) - 1:
        raise Unsupported(f"nn.GroupNorm groups the channels, not axis={a['axis']}; use axis=-1")
    if a["center"] != a["scale"]:
        raise Unsupported("nn.GroupNorm learns its scale and offset together; give center and scale alike")
    affine = () if a["center"] else (("affine", False),)
    call = Call("nn.GroupNorm", (a["groups"], shape[-1]), (("eps", a["epsilon"]), *affine))
    return (Call("ChannelsSecond", (call,)),) if len(shape) == 3 else (call,)


def _read_group_norm(reader, module, x) -> Value:
    weights = (lambda: [to_numpy(module.weight), to_numpy(module.bias)]) if module.affine else None
    return _read_group_normalization(reader, x, module.num_groups, module.eps, module.affine, weights)


def _read_group_norm_function(reader, x, num_groups, weight=None, bias=None, eps=1e-5) -> Value:
    """``F.group_norm(x, groups, self.weight, self.bias, eps)``: scale and offset both, or neither."""
    if (weight is None) != (bias is None):
        raise Refused("a group norm with a scale but no offset (or the reverse) has no notation")
    tensors = None if weight is None else (own_tensor(weight, "scale"), own_tensor(bias, "offset"))
    weights = None if tensors is None else (lambda: [to_numpy(tensor) for tensor in tensors])
    return _read_group_normalization(reader, x, num_groups, eps, tensors is not None, weights)


def _read_group_normalization(reader, x, groups: int, eps, affine: bool, weights) -> Value:
    x = as_tensor(x)
    if len(x.shape) == 3 or (len(x.shape) == 4 and x.last):
        raise Refused("a group norm of a tensor not held channels first groups another axis than the channels")
    args = {"groups": groups, "epsilon": float(eps), "center": affine, "scale": affine}
    return reader.add("GN", args, [x], weights)


NORMALIZATIONS = (
    LayerType(
        "BN", "BatchNormalization", "batch normalization",
        (Param("momentum", real(0, 1), 0.99), Param("epsilon", real(0, 1, low_open=True), 0.001),
         Param("center", flag, True), Param("scale", flag, True)),
        weights=_bn_weights, kind="normalization",
        keras=(KerasClass("BatchNormalization", (KerasArg("momentum", "momentum", 0.99), *_K_NORM),
                          refuse=lambda c: _axis_refusal(c, "axis")),),
        torch=Torch(_build_batch_norm, holders=("_BatchNorm",), ports={
            "gamma": (0, "weight", None), "beta": (0, "bias", None),
            "moving_mean": (0, "running_mean", None), "moving_variance": (0, "running_var", None)},
            modules=((NN + "batchnorm.BatchNorm2d", _read_batch_norm), (NN + "batchnorm.BatchNorm1d", _read_batch_norm)),
            functions=(("torch.nn.functional.batch_norm", _read_batch_norm_function),)),
        example={},
    ),
    LayerType(
        "LN", "LayerNormalization", "layer normalization (over the channels, by default)",
        (Param("axis", integer(-3, 3), -1), Param("epsilon", real(0, 1, low_open=True), 0.001),
         Param("center", flag, True), Param("scale", flag, True)),
        _ln_shape, weights=_ln_weights, check_args=_ln_args, kind="normalization",
        keras=(KerasClass("LayerNormalization", (
            KerasArg("axis", "axis", -1, from_keras=lambda v: v[0] if isinstance(v, list | tuple) and len(v) == 1 else v),
            *_K_NORM), refuse=_unset("rms_scaling", False)),),
        torch=Torch(_build_layer_norm, holders=("LayerNorm",), ports={"gamma": (0, "weight", None), "beta": (0, "bias", None)},
                    modules=((NN + "normalization.LayerNorm", _read_layer_norm),
                             ("torchvision.models.convnext.LayerNorm2d",
                              lambda reader, module, x: _read_layer_norm(reader, module, x, True))),
                    functions=(("torch.nn.functional.layer_norm", _read_layer_norm_function),)),
        example={},
    ),
    LayerType(
        "LS", "LayerScale", "a learned scale per channel (ConvNeXt's layer scale, gamma)",
        (Param("init", real(-1e6, 1e6), 1e-6, shown="1e-6"),), weights=_layer_scale_weights, kind="normalization",
        keras=(KerasClass("LayerScale", (KerasArg("init", "init_values", positional=True, from_keras=float),
                                         KerasArg(None, "projection_dim", positional=True,
                                                  to_keras=lambda value, shape: shape[-1])),
                          custom=True),),
        torch=Torch(lambda info: (Call("LayerScale", (info.input_shape[-1], info.layer.args["init"])),),
                    holders=("LayerScale",), ports={"gamma": (0, "gamma", None)},
                    read_by="a module's own tensor of one value per channel times a tensor, by MUL's rule"),
        example={},
        note=": a learned scale per channel, ConvNeXt's `gamma` (one weight per channel)",
    ),
    LayerType(
        "RSC", "Rescaling", "inputs * scale + offset (preprocessing: 1/255 scales pixels to [0, 1])",
        (Param("scale", real(-1e9, 1e9)), Param("offset", real(-1e9, 1e9), 0.0)), kind="normalization",
        keras=(KerasClass("Rescaling", (KerasArg("scale", "scale", positional=True, from_keras=_read_number),
                                        KerasArg("offset", "offset", 0.0, from_keras=_read_number))),),
        torch=Torch(lambda info: (Call("Rescale", (info.layer.args["scale"], info.layer.args["offset"])),),
                    unread="arithmetic with constants has no reading yet"),
        example={"scale": 0.5},
        note=": `x * scale + offset`, no weights (`RSC(0.00392)` scales pixels to [0, 1])",
    ),
    LayerType(
        "NRM", "Normalization", "(inputs - mean) / sqrt(variance) per channel; adapted to the data when not given",
        (Param("mean", reals(-1e9, 1e9), None), Param("variance", reals(0, 1e18), None)),
        _norm_shape, weights=_norm_weights, check_args=_norm_args, kind="normalization",
        keras=(KerasClass("Normalization", (
            KerasArg(None, "axis", -1, to_keras=lambda value, shape: -1),
            KerasArg("mean", "mean", None, from_keras=_read_values),
            KerasArg("variance", "variance", None, from_keras=_read_values),
        ), refuse=lambda c: _unset("invert", False)(c) or _axis_refusal(c, "axis")),),
        torch=Torch(_build_normalization, holders=("Normalization",),
                    ports={"mean": (0, "mean", None), "variance": (0, "variance", None), "count": (0, "count", None)},
                    unread="arithmetic with constants has no reading yet"),
        example={},
        note=" per channel (a number or one per channel); `NRM()` adapts to the data: mean, variance and count are "
             "its 2C+1 non-trainable weights, as Keras counts them",
    ),
    LayerType(
        "GN", "GroupNormalization", "group normalization (over groups of the channels, by default)",
        (Param("groups", count(1, MAX_WINDOW), 32), Param("axis", integer(-3, 3), -1),
         Param("epsilon", real(0, 1, low_open=True), 0.001), Param("center", flag, True), Param("scale", flag, True)),
        _gn_shape, weights=_gn_weights, check_args=_gn_args, kind="normalization",
        keras=(KerasClass("GroupNormalization", (KerasArg("groups", "groups", 32), KerasArg("axis", "axis", -1), *_K_NORM),
                          refuse=lambda c: "groups=-1 has no notation: write the channel count" if c.get("groups") == -1
                          else None),),
        torch=Torch(_build_group_norm, holders=("GroupNorm",), ports={"gamma": (0, "weight", None), "beta": (0, "bias", None)},
                    modules=((NN + "normalization.GroupNorm", _read_group_norm),),
                    functions=(("torch.nn.functional.group_norm", _read_group_norm_function),)),
        example={"groups": 2},
        note="; `groups` divides the size of `axis`",
    ),
)  # fmt: skip
