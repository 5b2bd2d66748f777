"""Pure shape arithmetic, mirroring ``keras/src/ops/operation_utils.py``.

Shapes are tuples with ``None`` for the batch axis, channels last. A spatial size
that is ``None`` (unknown, after an earlier error) stays ``None``. Sizes that would
be zero or negative raise :class:`ShapeProblem`, as Keras raises ``ValueError``.
"""

from __future__ import annotations

Shape = tuple  # (None, h, w, c) or (None, n)


class ShapeProblem(Exception):
    """A layer cannot take its input; the pass turns this into a located SpecError (``code``: its diagnostic's)."""

    def __init__(self, message: str, hint: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


class UnknownSize(ShapeProblem):
    """A layer needs a size its input leaves unknown (``IN(None, None, 3) -> FL() -> DN(10)``).

    Reported only where the size is unknown by declaration: after an earlier error every
    size may be unknown, and the error that follows from it is not said again.
    """


def conv_output_size(size, kernel: int, stride: int = 1, padding: str = "valid", dilation: int = 1):
    """One spatial output size of a convolution, as Keras computes it.

    >>> conv_output_size(28, 7)
    22
    >>> conv_output_size(28, 3, stride=2, padding="same")
    14
    >>> conv_output_size(2, 5) <= 0
    True
    """
    if size is None:
        return None
    if padding == "same":
        return (size - 1) // stride + 1
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def pooling_output_size(size, pool: int, stride: int, padding: str = "valid"):
    """One spatial output size of a pooling layer, as Keras computes it.

    >>> pooling_output_size(10, 2, 2)
    5
    >>> pooling_output_size(5, 2, 2, padding="same")
    3
    """
    if size is None:
        return None
    if padding == "same":
        return (size - 1) // stride + 1
    return (size - pool) // stride + 1


def compute_conv_output_shape(
    input_shape: Shape, filters: int, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1)
) -> Shape:
    """Output shape of Conv2D, channels last; raises ShapeProblem for sizes <= 0.

    >>> compute_conv_output_shape((None, 28, 28, 1), 72, (7, 7))
    (None, 22, 22, 72)
    """
    batch, *spatial, _channels = input_shape
    out = tuple(
        conv_output_size(s, k, st, padding, d) for s, k, st, d in zip(spatial, kernel_size, strides, dilation_rate)
    )
    if not _positive(out):
        _too_small(spatial, _reach(kernel_size, dilation_rate), "kernel")
    return (batch, *out, filters)


def compute_pooling_output_shape(input_shape: Shape, pool_size, strides=None, padding="valid") -> Shape:
    """Output shape of 2-D pooling, channels last; ``strides`` defaults to ``pool_size``.

    >>> compute_pooling_output_shape((None, 10, 10, 20), (2, 2))
    (None, 5, 5, 20)
    """
    strides = pool_size if strides is None else strides
    batch, *spatial, channels = input_shape
    out = tuple(pooling_output_size(s, p, st, padding) for s, p, st in zip(spatial, pool_size, strides))
    if not _positive(out):
        _too_small(spatial, tuple(pool_size), "pool")
    return (batch, *out, channels)


def conv_transpose_output_size(size, kernel: int, stride: int = 1, padding: str = "valid"):
    """One spatial output size of a transposed convolution, as Keras computes it (no output_padding).

    >>> conv_transpose_output_size(7, 3, stride=2)
    15
    >>> conv_transpose_output_size(7, 3, stride=2, padding="same")
    14
    >>> conv_transpose_output_size(7, 1, stride=2)
    14
    """
    if size is None:
        return None
    if padding == "same":
        return size * stride
    return (size - 1) * stride + max(kernel, stride)


def compute_conv_transpose_output_shape(input_shape: Shape, filters: int, kernel_size, strides=(1, 1),
                                        padding="valid") -> Shape:  # fmt: skip
    """Output shape of Conv2DTranspose, channels last: the sizes a convolution of these arguments shrinks from.

    >>> compute_conv_transpose_output_shape((None, 7, 7, 32), 16, (2, 2), (2, 2))
    (None, 14, 14, 16)
    """
    batch, *spatial, _channels = input_shape
    out = tuple(conv_transpose_output_size(s, k, st, padding) for s, k, st in zip(spatial, kernel_size, strides))
    return (batch, *out, filters)


def broadcast_shapes(shape1: Shape, shape2: Shape) -> Shape:
    """Two shapes (batch axis aside) broadcast as ``keras.layers.Add`` does: NumPy's rule.

    Mirrors ``Merge._compute_elemwise_op_output_shape``: the shorter shape lines
    up with the end of the longer one; sizes must be equal, or one of them 1.

    >>> broadcast_shapes((28, 28, 1), (784,))
    (28, 28, 784)
    >>> broadcast_shapes((7, 7, 32), (1, 1, 32))
    (7, 7, 32)
    """
    if len(shape1) < len(shape2):
        shape1, shape2 = shape2, shape1
    if not shape2:
        return tuple(shape1)
    out = list(shape1[: len(shape1) - len(shape2)])
    for i, j in zip(shape1[len(shape1) - len(shape2) :], shape2):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1 or i == j:
            out.append(i)
        else:
            raise ShapeProblem(f"sizes {i} and {j} cannot be broadcast together")
    return tuple(out)


def _reach(kernel_size, dilation_rate) -> tuple[int, ...]:
    """The input extent one output pixel of a (dilated) kernel covers."""
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation_rate))


def _positive(sizes) -> bool:
    """Every known size above zero (None is unknown)."""
    return all(size is None or size > 0 for size in sizes)


def _too_small(spatial, needed, what: str) -> None:
    raise ShapeProblem(
        f"{what} {format_size(needed)} needs an input of at least {format_size(needed)}, "
        f"but this layer gets {format_size(spatial)}",
        hint="use padding=same, a smaller kernel, or fewer poolings before this layer",
        code="input-too-small",
    )


def format_size(sizes) -> str:
    """``(5, 5)`` -> ``'5x5'``; unknown sizes print as ``?``."""
    return "x".join("?" if s is None else str(s) for s in sizes)


def format_shape(shape: Shape) -> str:
    """Keras's way: ``(None, 22, 22, 72)``."""
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"
