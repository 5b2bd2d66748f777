"""What the entries' PyTorch declarations are written with; no torch import.

A build is a tuple of :class:`Call` (a constructor call as data: the PyTorch backend
constructs it, the PyTorch source emitter prints it); a reader's rule gets the reader, the
module (for a module) and :class:`Value` s, and calls ``reader.add(code, args, inputs)``.
Tensors are channels-first inside PyTorch: every place where PyTorch and Keras differ
(TensorFlow's ``same`` padding, Keras's activation constants) has its function here.
"""

from __future__ import annotations

from cnndsl.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@record
class Call:
    """One constructor call as data: ``Call("nn.ReLU")``, ``Call("Conv2d", (1, 8, (3, 3)), (("stride", (2, 2)),))``.

    A name without ``nn.`` is a class of :mod:`cnndsl.backends.torch_modules`.
    """

    name: str
    args: tuple = ()
    kwargs: tuple = ()


class Unsupported(Exception):
    """A layer PyTorch cannot build exactly as Keras does."""


class Refused(Exception):
    """What a PyTorch node does that the notation cannot say (the reader adds the module path and class)."""


@record
class Value:
    """A tensor as the notation sees it: the layer it comes from (None: the input) and its channels-last shape.

    ``last``: a 4-D tensor PyTorch holds channels last (after ``permute(0, 2, 3, 1)``);
    ``flat``: a 2-D tensor flattened in PyTorch's (C, H, W) order, from this (H, W, C).
    """

    name: str | None
    shape: tuple
    last: bool = False
    flat: tuple | None = None


@record
class Parameter:
    """A module's own tensor used in forward (ConvNeXt's layer scale)."""

    tensor: Any
    learned: bool = True
    """A parameter the module learns; False: a buffer it keeps fixed (a blur pool's filter, running statistics)."""


# --- activations ------------------------------------------------------------------

ACTIVATION_MODULES: dict[str, tuple[str, tuple[tuple[str, Any], ...]]] = {
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

ON_AXIS = {"softmax": "nn.Softmax", "log_softmax": "nn.LogSoftmax", "sparsemax": "Sparsemax"}
"""Activations over one axis: Keras's last axis is the channel axis, dim 1 channels-first."""


def activation(name: str, rank: int) -> tuple[Call, ...]:
    """The calls for a Keras activation on a tensor of this rank (none for ``linear``)."""
    if name == "linear":
        return ()
    if name in ON_AXIS:
        return (Call(ON_AXIS[name], (), (("dim", 1 if rank == 4 else -1),)),)
    if name not in ACTIVATION_MODULES:
        raise Unsupported(f"no PyTorch module for the activation {name!r}")
    cls, kwargs = ACTIVATION_MODULES[name]
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


def window_pads(info, kernel, strides, dilation=(1, 1)) -> tuple[int, int, int, int]:
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


def symmetric(pads: tuple[int, int, int, int]) -> bool:
    return pads[0] == pads[1] and pads[2] == pads[3]


def torch_kwargs(**values) -> tuple[tuple[str, Any], ...]:
    """Keyword arguments that differ from PyTorch's defaults, in order."""
    defaults = {"stride": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": 1}
    return tuple((name, value) for name, value in values.items() if defaults.get(name, object()) != value)


def torch_dim(axis: int, rank: int) -> int:
    """The PyTorch dim of a Keras axis: 4-D tensors are channels-first inside, others keep Keras's order."""
    axis %= rank
    return {0: 0, 1: 2, 2: 3, 3: 1}[axis] if rank == 4 else axis


# --- reading ------------------------------------------------------------------------------


def as_tensor(value, what: str = "the input") -> Value:
    if isinstance(value, Parameter):
        raise Refused(
            f"{what} is a constant tensor (a module's own, or made in forward), not one the input flows through"
        )
    if not isinstance(value, Value):
        raise Refused(f"{what} is not a tensor the notation follows ({type(value).__name__})")
    return value


def as_spatial(value) -> Value:
    """A 4-D tensor PyTorch holds channels first (a convolution's or pooling's input)."""
    value = as_tensor(value)
    if len(value.shape) != 4 or value.last:
        raise Refused(f"expects (N, C, H, W), not a {len(value.shape)}-D tensor held channels last")
    return value


def int_pair(value) -> tuple[int, int]:
    return tuple(int(v) for v in value) if isinstance(value, list | tuple) else (int(value), int(value))


def whole_numbers(value, what: str) -> tuple[int, ...]:
    """A size or a sequence of sizes as whole numbers; Refused for anything else (a tensor, a size left unknown)."""
    items = tuple(value) if isinstance(value, list | tuple) else (value,)
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        raise Refused(f"{what} {value!r} is not whole numbers the reader knows")
    return items


def to_numpy(tensor):
    return tensor.detach().cpu().numpy()


def read_padding(size: tuple, kernel, strides, dilation, pad) -> str | None:
    """``valid``, ``same`` where TensorFlow's same pads exactly ``pad`` on each side; None: a ZP is needed."""
    if pad == (0, 0):
        return "valid"
    if all(same_pads(n, k, s, d) == (p, p) for n, k, s, d, p in zip(size, kernel, strides, dilation, pad)):
        return "same"
    return None


NN = "torch.nn.modules."
"""Where torch.nn's module classes live, as their qualified names start."""


# --- sizes, as forward sees them -----------------------------------------------------------


class Extent(int):
    """A height or width as forward reads it (``y.shape[-2:]``, ``y.size(2)``): the number, and the tensor
    (``of``) and the notation's axis (``axis``: 1 height, 2 width) it is the size of, so that a resizing to
    it reads as a resizing to that tensor's size (``RSZTO``). Arithmetic on it gives plain numbers."""

    def __new__(cls, value: int, of: Value, axis: int):
        made = super().__new__(cls, value)
        made.of, made.axis = of, axis
        return made


def known_size(size) -> bool:
    """A whole number the reader knows: an ``int``, or an :class:`Extent` read from a tensor's shape."""
    return type(size) in (int, Extent)


def with_extents(sizes: tuple, value: Value) -> tuple:
    """``torch_sizes(value)`` with the height and width of a 4-D tensor held channels first as :class:`Extent`."""
    if len(sizes) != 4 or value.last:
        return sizes
    return (*sizes[:2], Extent(sizes[2], value, 1), Extent(sizes[3], value, 2))


class Batch(int):
    """The batch size while a module is traced: ``x.size(0)``, unknown, kept as it is.

    It survives only what leaves it the batch (``b * 1``, ``b + 0``); a reshape given it
    keeps the batch axis. Anything else computed from it (``b * 2``, ``b > 1``) is refused:
    the notation's layers never depend on the batch size. An ``int`` only so that torch's
    functions take it in their size arguments (``torch.reshape(x, (b, -1))``) and hand it on.
    """

    def __repr__(self) -> str:
        return "batch"

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        if isinstance(other, int) and other is not self:  # `if x.size(0) == 1:` chooses by the batch size
            self._as_number()
        return other is self

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def _kept(self, other, neutral: int, operation: str):
        if type(other) is int and other == neutral:
            return self
        raise Refused(f"the batch size {operation} {other!r}: the notation's layers never depend on the batch size")

    def __mul__(self, other):
        return self._kept(other, 1, "*")

    def __rmul__(self, other):
        return self._kept(other, 1, "*")

    def __floordiv__(self, other):
        return self._kept(other, 1, "//")

    def __add__(self, other):
        return self._kept(other, 0, "+")

    def __radd__(self, other):
        return self._kept(other, 0, "+")

    def __sub__(self, other):
        return self._kept(other, 0, "-")

    def _as_number(self, *args):
        raise Refused("the batch size used as a number: the notation's layers never depend on the batch size")

    __index__ = __int__ = __float__ = __truediv__ = __rtruediv__ = __rsub__ = __rfloordiv__ = _as_number
    __mod__ = __pow__ = __lt__ = __le__ = __gt__ = __ge__ = __neg__ = _as_number


BATCH = Batch(2)
"""Two as a number: a graph the reader recorded runs on a batch of two (as a reading's verification runs it),
where a batch of one would let ``x.squeeze()`` take the batch axis too."""


def torch_sizes(value) -> tuple:
    """``x.size()`` of a tensor the reader follows, in PyTorch's order: the batch, then (C, H, W) for a 4-D
    tensor held channels first, else the notation's own order."""
    value = as_tensor(value, "a size's tensor")
    shape = value.shape
    sizes = (shape[3], shape[1], shape[2]) if len(shape) == 4 and not value.last else shape[1:]
    if None in sizes:
        raise Refused(f"a size of {shape} is unknown while reading: give the input's size")
    return (BATCH, *sizes)


def sizes_text(sizes) -> str:
    """Sizes as forward wrote them: ``(x.size(0), 16, -1)`` is ``(batch, 16, -1)``."""
    return "(" + ", ".join(map(repr, sizes)) + ")"


def own_tensor(value, what: str, learned: bool = True):
    """A module's own tensor given to a function (``F.conv2d(x, self.weight)``): the tensor, whose values are ported.

    ``learned``: the notation's layer learns it, so the module must too: a fixed tensor (a buffer, such as a blur
    pool's filter) read as a layer's weights would be trained where the module keeps it, and counted as a
    parameter the module does not have."""
    if not isinstance(value, Parameter):
        raise Refused(f"the {what} is computed in forward, not a module's own tensor: the notation ports only those")
    if learned and not value.learned:
        raise Refused(
            f"the {what} is a fixed tensor of the module (a buffer, not a parameter), which the notation's layer "
            "would learn"
        )
    return value.tensor
