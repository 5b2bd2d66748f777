"""``DP``: dropout, of single values or of whole examples (stochastic depth)."""

from __future__ import annotations

from cnndsl.layers.core import (
    KerasArg,
    KerasClass,
    LayerType,
    Param,
    Torch,
    flag,
    fraction,
)
from cnndsl.layers.pytorch import (
    NN,
    Call,
    Refused,
    Value,
    as_tensor,
)
from cnndsl.shapes import (
    Shape,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass


# Dropout with a noise shape, the scaled residual


def _per_example(value: bool, shape: Shape) -> tuple | None:
    """Keras's ``noise_shape`` for dropping whole examples: ``(None, 1, 1, 1)`` on a 4-D input."""
    return (None, *(1,) * (len(shape) - 1)) if value else None


def _read_noise_shape(value) -> bool:
    if value is None:
        return False
    if value[0] is None and all(size == 1 for size in value[1:]):
        return True
    raise ValueError(f"noise_shape {tuple(value)}: only None and (None, 1, 1, 1) (per_example=true) have notation")


# --- PyTorch ---------------------------------------------------------------------------------


def _build_dropout(info) -> tuple[Call, ...]:
    a = info.layer.args
    return (Call("DropExample" if a["per_example"] else "nn.Dropout", (a["rate"],)),)


def _read_dropout_module(reader, module, x) -> Value:
    x = as_tensor(x)
    return reader.add("DP", {"rate": float(module.p)}, [x], last=x.last, flat=x.flat)


def _read_stochastic_depth(reader, module, x) -> Value:
    x = as_tensor(x)
    if module.mode != "row":
        raise Refused(f"stochastic depth of mode {module.mode!r}; the notation drops whole examples (mode 'row')")
    return reader.add("DP", {"rate": float(module.p), "per_example": True}, [x], last=x.last)


def _read_dropout(reader, x, p: float = 0.5, training: bool = True, inplace: bool = False) -> Value:
    x = as_tensor(x)
    if training is False:
        return x  # never drops: the input, unchanged
    return reader.add("DP", {"rate": float(p)}, [x], last=x.last, flat=x.flat)


DROPOUTS = (
    LayerType("DP", "Dropout", "dropout (per_example=true drops whole examples: drop-connect, stochastic depth)",
              (Param("rate", fraction), Param("per_example", flag, False)),  # hashed since it came
              keras=(KerasClass("Dropout", (
                  KerasArg("rate", "rate", positional=True, from_keras=float),
                  KerasArg("per_example", "noise_shape", None, to_keras=_per_example, from_keras=_read_noise_shape),
              )),),
              torch=Torch(_build_dropout, modules=((NN + "dropout.Dropout", _read_dropout_module),
                                                   ("torchvision.ops.stochastic_depth.StochasticDepth",
                                                    _read_stochastic_depth)),
                          functions=(("torch.nn.functional.dropout", _read_dropout),)),
              example={"rate": 0.1},
              note=", 0 <= rate < 1; `per_example=true` drops whole examples (Keras's `noise_shape=(None, 1, 1, 1)`: "
                   "drop-connect, stochastic depth)"),
)  # fmt: skip
