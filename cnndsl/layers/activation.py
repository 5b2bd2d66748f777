"""``ACT``: an activation by its Keras name; the same names are every ``activation=``."""

from __future__ import annotations

from cnndsl.layers.core import (
    ACTIVATIONS,
    KerasArg,
    KerasClass,
    LayerType,
    Param,
    Torch,
    Weight,
    _channels_last,
    _never,
    _read_activation,
    _read_relu,
    _unset,
    choice,
    real,
)
from cnndsl.layers.pytorch import (
    ACTIVATION_MODULES,
    NN,
    ON_AXIS,
    Call,
    Refused,
    Value,
    activation,
    as_spatial,
    as_tensor,
    own_tensor,
    to_numpy,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from cnndsl.shapes import Shape


# --- PyTorch ---------------------------------------------------------------------------------


LEAKY_SLOPE = 0.2
"""The negative slope of the notation's ``leaky_relu``: Keras's activation function's (its ``LeakyReLU`` layer's is 0.3)."""


def _build_activation(info) -> tuple[Call, ...]:
    a = info.layer.args
    if a["name"] == "leaky_relu" and a.get("slope", LEAKY_SLOPE) != LEAKY_SLOPE:
        return (Call("nn.LeakyReLU", (), (("negative_slope", a["slope"]),)),)
    return activation(a["name"], len(info.input_shape)) or (Call("nn.Identity"),)


def _slope_args(a) -> str | tuple[str, str] | None:
    if a.get("slope", LEAKY_SLOPE) != LEAKY_SLOPE and a["name"] != "leaky_relu":
        return f"ACT slope= is leaky_relu's negative slope, not {a['name']}'s", "leave slope out, or use leaky_relu"
    return None


def _relu_slope(args: dict) -> dict:
    """Keras's ``ReLU(negative_slope=s)``, ``s`` not 0 and no ``max_value``: the leaky ReLU of slope ``s``."""
    slope = args.pop("slope")
    if slope == 0.0:
        return args
    if args["name"] != "relu":
        raise ValueError(f"negative_slope={slope!r} with max_value has no notation (a leaky ReLU is not capped)")
    return {**args, "name": "leaky_relu", "slope": slope}


def _leaky(a) -> bool:
    """The form of a leaky ReLU whose slope is not the activation function's: Keras's ``LeakyReLU`` layer."""
    return a["name"] == "leaky_relu" and a.get("slope", LEAKY_SLOPE) != LEAKY_SLOPE


TORCH_LEAKY_SLOPE = 0.01
"""PyTorch's ``nn.LeakyReLU`` and ``F.leaky_relu`` slope by 0.01 unless given."""


def read_leaky_relu(reader, x, negative_slope: float = TORCH_LEAKY_SLOPE, inplace: bool = False) -> Value:
    """``F.leaky_relu(x, slope)`` (PyTorch's default slope 0.01): ``ACT(leaky_relu, slope=...)``."""
    x = as_tensor(x)
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, int | float):
        raise Refused(f"a leaky ReLU's slope {negative_slope!r} is not a number the reader knows")
    return reader.add("ACT", {"name": "leaky_relu", "slope": float(negative_slope)}, [x], last=x.last, flat=x.flat)


def read_activation(name: str) -> Callable:
    """The reading of a function or method computing the activation ``name``."""

    def read(reader, x, *args, **options) -> Value:
        return reader.add("ACT", {"name": name}, [as_tensor(x)], last=as_tensor(x).last, flat=as_tensor(x).flat)

    return read


def _read_activation_module(reader, module, x) -> Value:
    if type(module).__name__ == "LeakyReLU":
        return read_leaky_relu(reader, x, module.negative_slope)
    name = _activation_name(module)
    if name in ("softmax", "log_softmax"):
        x = as_tensor(x)
        if module.dim not in (1, -1) or (len(x.shape) == 4 and x.last != (module.dim == -1)):
            raise Refused(f"{type(module).__name__}(dim={module.dim}) is not over the channels")
    return read_activation(name)(reader, x)


def _read_on_axis(name: str) -> Callable:
    """``F.softmax(x, dim=1)``, ``F.log_softmax(x, 1)``, ``torch.softmax``: the activation over the channels only."""

    def read(reader, x, dim=None, *rest, **options) -> Value:
        x = as_tensor(x)
        dim = options.get("dim", dim)
        if dim not in (1, -1) or (len(x.shape) == 4 and x.last != (dim == -1)):
            raise Refused(f"{name}(dim={dim}) is not over the channels")
        return read_activation(name)(reader, x)

    return read


_ON_AXIS_FUNCTIONS = {
    "softmax": ("torch.softmax", "torch.nn.functional.softmax"),
    "log_softmax": ("torch.log_softmax", "torch.nn.functional.log_softmax"),
}
"""Activation over the channels -> the torch functions computing it (a classifier's head, as its authors write it)."""


def _activation_name(module) -> str:
    """The notation's activation for a PyTorch activation module: the build's table, read backwards.

    The module must equal the one the backend builds (its constants: a LeakyReLU's slope,
    GELU's approximation); ``inplace`` aside.
    """
    cls = type(module).__name__
    for name, (built, options) in ACTIVATION_MODULES.items():
        if built == f"nn.{cls}":
            if _settings(module) != _settings(type(module)(**dict(options))):
                raise Refused(f"{cls}({module.extra_repr()}) differs from the notation's {name} ({dict(options)})")
            return name
    for name, built in ON_AXIS.items():
        if built == f"nn.{cls}":
            return name
    raise Refused("has no code in the notation")


def _settings(module) -> str:
    return ", ".join(part for part in module.extra_repr().split(", ") if not part.startswith("inplace"))


def _read_gelu(reader, x, approximate: str = "none") -> Value:
    if approximate != "none":
        raise Refused(f"GELU(approximate={approximate!r}); the notation's gelu is the exact one")
    return read_activation("gelu")(reader, x)


def _activation_modules() -> tuple[tuple[str, Callable], ...]:
    """Every torch.nn activation module the build makes, read back by the same table."""
    built = {cls for cls, _ in ACTIVATION_MODULES.values()} | set(ON_AXIS.values())
    names = sorted(cls[3:] for cls in built if cls.startswith("nn."))
    return tuple(
        (f"{NN}activation.{name}", _read_activation_module) for name in names
    )  # torch.nn keeps them in one file


_ACTIVATION_FUNCTIONS = {
    "relu": ("torch.nn.functional.relu", "torch.relu", "torch.nn.functional.relu_"),
    "relu6": ("torch.nn.functional.relu6",), "sigmoid": ("torch.sigmoid", "torch.nn.functional.sigmoid"),
    "tanh": ("torch.tanh", "torch.nn.functional.tanh"), "silu": ("torch.nn.functional.silu",),
    "hard_silu": ("torch.nn.functional.hardswish",), "hard_sigmoid": ("torch.nn.functional.hardsigmoid",),
}  # fmt: skip
"""Activation name -> the torch functions computing it, by qualified name."""


# PReLU: a learned negative slope per channel (or one for all), shared over height and width


def _prelu_weights(shape: Shape, a: Mapping) -> tuple[Weight, ...]:
    return (Weight("alpha", (1, 1, shape[-1] if a["slopes"] == "channel" else 1)),)


PRELU_SLOPES = ("channel", "one")
"""PRELU's slopes: one per channel (Keras's ``shared_axes=[1, 2]``), or one for all (``[1, 2, 3]``)."""


def _shared_axes(slopes: str, shape: Shape) -> list[int]:
    return [1, 2] if slopes == "channel" else [1, 2, 3]


def _read_shared_axes(value) -> str:
    axes = sorted(value) if isinstance(value, list | tuple) else value
    if axes in ([1, 2], [1, 2, 3]):
        return "channel" if axes == [1, 2] else "one"
    raise ValueError(
        f"shared_axes={value}: the notation's PRELU learns a slope per channel (shared_axes=[1, 2]) "
        "or one for all (shared_axes=[1, 2, 3])"
    )


def _prelu_refusal(config: Mapping) -> str | None:
    for key in ("alpha_regularizer", "alpha_constraint"):
        if config.get(key) is not None:
            return f"{key} has no notation"
    return _channels_last(config)


def _build_prelu(info) -> tuple[Call, ...]:
    slopes = info.input_shape[-1] if info.layer.args["slopes"] == "channel" else 1
    return (Call("nn.PReLU", (), (("num_parameters", slopes), ("init", 0.0))),)  # Keras starts the slopes at 0


def _read_prelu(reader, x, weight) -> Value:
    """``nn.PReLU(C)`` / ``F.prelu(x, self.weight)``: one slope per channel, or one for all (``nn.PReLU()``)."""
    x = as_spatial(x)
    channels = x.shape[-1]
    if weight.numel() not in (1, channels) or weight.dim() != 1:
        raise Refused(f"PReLU slopes of shape {tuple(weight.shape)}: one per channel ({channels}) or one for all")
    slopes = "channel" if weight.numel() == channels and channels != 1 else "one"
    return reader.add("PRELU", {"slopes": slopes}, [x], lambda: [to_numpy(weight).reshape(1, 1, -1)])


def _read_prelu_module(reader, module, x) -> Value:
    return _read_prelu(reader, x, module.weight)


def _read_prelu_function(reader, x, weight) -> Value:
    return _read_prelu(reader, x, own_tensor(weight, "slopes' tensor"))


ACTIVATION_LAYERS = (
    LayerType("ACT", "Activation", "activation function",
              (Param("name", choice(ACTIVATIONS)), Param("slope", real(0, 1e6), LEAKY_SLOPE, quiet=True)),
              check_args=_slope_args,
              keras=(KerasClass("LeakyReLU", (KerasArg("slope", "negative_slope", 0.3, from_keras=float),),
                                fixed=(("name", "leaky_relu"),), when=_leaky),
                     KerasClass("Activation", (KerasArg("name", "activation", positional=True,
                                                        from_keras=_read_activation),)),
                     KerasClass("ReLU", (KerasArg("name", "max_value", None, from_keras=_read_relu),
                                         KerasArg("slope", "negative_slope", 0.0, from_keras=float)),
                                when=_never, refuse=_unset("threshold", 0.0), combine=_relu_slope)),
              torch=Torch(_build_activation, modules=_activation_modules(),
                          functions=(*((function, read_activation(name)) for name, functions in _ACTIVATION_FUNCTIONS.items()
                                       for function in functions), ("torch.nn.functional.gelu", _read_gelu),
                                     *((function, _read_on_axis(name)) for name, functions in _ON_AXIS_FUNCTIONS.items()
                                       for function in functions),
                                     ("torch.nn.functional.leaky_relu", read_leaky_relu)),
                          methods=tuple((name, read_activation(name)) for name in ("relu", "sigmoid", "tanh")),
                          constants=((f"{NN}activation.LeakyReLU", (("slope", TORCH_LEAKY_SLOPE),)),)),
              example={"name": "relu"},
              note="; `ACT(leaky_relu, slope=s)`: a leaky ReLU of negative slope `s` (0.2 unless given)"),
    LayerType("PRELU", "PReLU", "a leaky ReLU whose negative slopes are learned, one per channel (or one for all)",
              (Param("slopes", choice(PRELU_SLOPES), "channel"),), weights=_prelu_weights, input_rank=4,
              keras=(KerasClass("PReLU", (KerasArg("slopes", "shared_axes", None, to_keras=_shared_axes,
                                                   from_keras=_read_shared_axes),), refuse=_prelu_refusal),),
              torch=Torch(_build_prelu, holders=("PReLU",), ports={"alpha": (0, "weight", lambda a: a.reshape(-1))},
                          modules=((f"{NN}activation.PReLU", _read_prelu_module),),
                          functions=(("torch.nn.functional.prelu", _read_prelu_function),)),
              example={},
              note=": `x` where positive, `alpha * x` elsewhere, `alpha` learned per channel (shared over height and "
                   "width, Keras's `shared_axes=[1, 2]`); `PRELU(one)`: one `alpha` for all (`nn.PReLU()`)"),
)  # fmt: skip
