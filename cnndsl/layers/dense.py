"""``DN``: Keras's Dense, on the last axis."""

from __future__ import annotations

from cnndsl.layers.core import (
    _K_ACTIVATION,
    _K_BIAS,
    ACTIVATIONS,
    KerasArg,
    KerasClass,
    LayerType,
    Param,
    Torch,
    Weight,
    _bias,
    _fmt,
    _prod,
    choice,
    count,
    flag,
)
from cnndsl.layers.pytorch import (
    NN,
    Call,
    Refused,
    Value,
    activation,
    as_tensor,
    own_tensor,
    to_numpy,
)
from cnndsl.shapes import (
    Shape,
    UnknownSize,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


# Dense


def _dense_shape(shape: Shape, a: Mapping) -> Shape:
    if shape[-1] is None:
        raise UnknownSize(
            f"DN needs a known last axis, but gets {_fmt(shape)}: the input's size is unknown",
            "end the spatial part with GAP() or GMP(), which need no size, instead of FL()",
        )
    return (*shape[:-1], a["units"])


def _dense_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    return (Weight("kernel", (shape[-1], a["units"])), *_bias(a["units"], a))


def _dense_macs(in_shape: Shape, out_shape: Shape, a: Mapping) -> int:
    return _prod(in_shape[1:]) * a["units"]


def _dense_warn(shape: Shape, a: Mapping) -> str | None:
    if len(shape) <= 2:
        return None
    return f"DN on a {len(shape)}-D tensor {_fmt(shape)} acts on the last axis only; add FL() or GAP() before it to classify the whole image"


# --- PyTorch ---------------------------------------------------------------------------------


def _build_dense(info) -> tuple[Call, ...]:
    a = info.layer.args
    bias = () if a["bias"] else (("bias", False),)
    calls = (Call("Linear", (info.input_shape[-1], a["units"]), bias), *activation(a["activation"], 2))
    return (Call("ChannelsLast", calls),) if len(info.input_shape) == 4 else calls


def _read_linear(reader, module, x) -> Value:
    return _read_dense(reader, x, module.out_features, module.bias is not None, lambda: (module.weight, module.bias))


def _read_linear_function(reader, x, weight, bias=None) -> Value:
    """``F.linear(x, self.weight, self.bias)`` on a module's own tensors."""
    weight, bias = own_tensor(weight, "weight"), None if bias is None else own_tensor(bias, "bias")
    if len(weight.shape) != 2:
        raise Refused(f"a linear map of a {len(weight.shape)}-D weight")
    return _read_dense(reader, x, weight.shape[0], bias is not None, lambda: (weight, bias))


def _read_dense(reader, x, units: int, bias: bool, tensors) -> Value:
    x = as_tensor(x)
    if len(x.shape) == 4 and not x.last:
        raise Refused("a Linear on (N, C, H, W) acts on the width; the notation's DN acts on the channels")
    flat = x.flat

    def weights() -> list:
        weight, bias = tensors()
        kernel = to_numpy(weight)
        if flat is not None:  # PyTorch flattened (C, H, W); the notation flattens (H, W, C)
            height, width, channels = flat
            kernel = kernel.reshape(-1, channels, height, width).transpose(0, 2, 3, 1).reshape(kernel.shape[0], -1)
        return [kernel.T] + ([to_numpy(bias)] if bias is not None else [])

    args = {"units": units, "activation": "linear", "bias": bias}
    return reader.add("DN", args, [x], weights, last=x.last)


DENSE = (
    LayerType(
        "DN", "Dense", "fully connected",
        params=(Param("units", count(), scaled="width"), Param("activation", choice(ACTIVATIONS), "relu"), Param("bias", flag, True)),
        output_shape=_dense_shape, weights=_dense_weights, macs=_dense_macs, warn=_dense_warn, pointwise_warning=True,
        kind="dense",
        keras=(KerasClass("Dense", (KerasArg("units", "units", positional=True), _K_ACTIVATION, _K_BIAS)),),
        torch=Torch(_build_dense, holders=("Linear",), ports={"kernel": (0, "weight", lambda k: k.T), "bias": (0, "bias", None)},
                    modules=((NN + "linear.Linear", _read_linear),),
                    functions=(("torch.nn.functional.linear", _read_linear_function),)),
        example={"units": 2},
    ),
)  # fmt: skip
