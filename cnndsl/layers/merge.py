"""Merges of branches: ``ADD`` (and the scaled residual), ``MUL``, ``CAT``, ``ATT``, the attention product of a
query, a key and a value over positions; ``OUT``, the model's outputs."""

from __future__ import annotations

from cnndsl.layers.core import (
    MAX_WINDOW,
    KerasArg,
    KerasClass,
    LayerType,
    Param,
    Torch,
    _fmt,
    _prod,
    count,
    integer,
    real,
)
from cnndsl.layers.norm import read_layer_scale
from cnndsl.layers.pytorch import (
    Call,
    Parameter,
    Refused,
    Value,
    as_tensor,
    own_tensor,
    torch_dim,
)
from cnndsl.shapes import (
    Shape,
    ShapeProblem,
    broadcast_shapes,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


# Merges: Add and Multiply broadcast as NumPy does; Concatenate joins one axis.


def _elementwise_shape(shapes: list[Shape], a: Mapping) -> Shape:
    """``keras.layers.Add``/``Multiply``: the branches' shapes broadcast together, batch axis aside."""
    out = shapes[0][1:]
    try:
        for shape in shapes[1:]:
            out = broadcast_shapes(out, shape[1:])
    except ShapeProblem as problem:
        if len({len(shape) for shape in shapes}) > 1:
            raise ShapeProblem(problem.message, _ranks_hint(shapes), "merge-ranks") from None
        hint = "give the shortcut a projection such as CN(filters, 1, strides=2) -> BN(), or use padding=same"
        raise ShapeProblem(problem.message, hint) from None
    return (None, *out)


def _ranks_hint(shapes: list[Shape]) -> str:
    """What to do about merge branches of different ranks (a 2-D one beside a 4-D one)."""
    ranks = " and ".join(f"{rank}-D" for rank in sorted({len(shape) for shape in shapes}))
    return f"the branches are {ranks}: end the spatial part (FL() or GAP()) in every branch, or only after the merge"


def _elementwise_warn(shapes: list[Shape], a: Mapping) -> str | None:
    """Broadcasting as Keras does is legal; different ranks or a grown output are almost always a mistake."""
    out = _elementwise_shape(shapes, a)
    listed = " | ".join(_fmt(shape) for shape in shapes)
    if len({len(shape) for shape in shapes}) > 1:
        return f"broadcasts branches of different ranks ({listed}) to {_fmt(out)}"
    if None not in out[1:] and all(None not in s[1:] and _prod(out[1:]) > _prod(s[1:]) for s in shapes):
        return f"broadcasts {listed} to {_fmt(out)}, larger than every branch"
    return None


def _concatenate_shape(shapes: list[Shape], a: Mapping) -> Shape:
    """``keras.layers.Concatenate``: equal ranks, equal sizes on every axis but ``axis``."""
    rank = len(shapes[0])
    if any(len(shape) != rank for shape in shapes):
        hint = f"CAT never broadcasts; {_ranks_hint(shapes)}"
        raise ShapeProblem("CAT needs branches of one rank", hint, "merge-ranks")
    axis = a["axis"] % rank if -rank <= a["axis"] < rank else None
    if axis is None or axis == 0:
        raise ShapeProblem(f"CAT axis={a['axis']} is not an axis of a {rank}-D tensor other than the batch axis")
    out = list(shapes[0])
    for shape in shapes[1:]:
        for index, (mine, theirs) in enumerate(zip(out, shape)):
            if index == axis:
                out[index] = None if mine is None or theirs is None else mine + theirs
            elif mine is not None and theirs is not None and mine != theirs:
                raise ShapeProblem(
                    "CAT needs equal sizes on every axis but the joined one",
                    "CAT joins along one axis: the other sizes must agree (padding=same, or equal poolings)",
                )
            elif mine is None:
                out[index] = theirs
    return tuple(out)


def _add_shape(shapes: list[Shape], a: Mapping) -> Shape:
    if a["scale"] != 1 and len(shapes) != 2:
        raise ShapeProblem(
            f"ADD scale= adds the second branch, scaled, to the first: it takes 2 branches, not {len(shapes)}"
        )
    return _elementwise_shape(shapes, a)


# Attention over positions (YOLO's PSA): query, key and value maps, heads of consecutive channel groups


def _attention_shape(shapes: list[Shape], a: Mapping) -> Shape:
    """``ATT(@q | @k | @v, heads=h)``: three maps of one height and width, C_q == C_k, heads dividing C_q and C_v;
    the output is the value's shape."""
    if len(shapes) != 3:
        raise ShapeProblem(
            f"ATT takes exactly 3 branches (query | key | value), not {len(shapes)}", "ATT(@q | @k | @v, heads=h)"
        )
    if any(len(shape) != 4 for shape in shapes):
        raise ShapeProblem("ATT attends over height and width: every branch must be (H, W, C)", _ranks_hint(shapes))
    query, key, value = shapes
    for name, shape in (("key", key), ("value", value)):
        for axis, what in ((1, "height"), (2, "width")):
            if None not in (shape[axis], query[axis]) and shape[axis] != query[axis]:
                raise ShapeProblem(
                    f"ATT's {name} has {what} {shape[axis]}, the query {query[axis]}",
                    "query, key and value are maps of the same positions",
                )
    if None not in (query[3], key[3]) and query[3] != key[3]:
        raise ShapeProblem(
            f"ATT's query has {query[3]} channels and its key {key[3]}: they must be equal",
            "the product of a query and a key is over their channels",
        )
    heads = a["heads"]
    for name, shape in (("query", query), ("value", value)):
        if shape[3] is not None and shape[3] % heads:
            raise ShapeProblem(
                f"ATT heads={heads} must divide the {name}'s {shape[3]} channels", "use heads dividing them"
            )
    height, width = (next((s[axis] for s in shapes if s[axis] is not None), None) for axis in (1, 2))
    return (None, height, width, value[3])


def _attention_macs(shapes: list[Shape], out: Shape, a: Mapping) -> int | None:
    """The two products: every query position with every key position over the query's channels, then the weights
    with the values over the value's channels."""
    if len(shapes) != 3 or any(None in shape[1:] for shape in shapes):
        return None
    positions = shapes[0][1] * shapes[0][2]
    return positions * positions * (shapes[0][3] + shapes[2][3])


# --- PyTorch ---------------------------------------------------------------------------------


def _outputs_shape(shapes: list[Shape], a: Mapping) -> Shape:
    """``OUT``'s branches stay apart: what it "outputs" is its first branch's tensor (each is one output)."""
    return shapes[0]


def _build_add(info) -> tuple[Call, ...]:
    scale = info.layer.args["scale"]
    return (Call("Add"),) if scale == 1 else (Call("ScaledAdd", (scale,)),)


def _build_concatenate(info) -> tuple[Call, ...]:
    rank = len(info.output_shape)
    return (Call("Concatenate", (torch_dim(info.layer.args["axis"], rank),)),)


def _build_attention(info) -> tuple[Call, ...]:
    return (Call("Attention2D", (info.layer.args["heads"],)),)


def _read_merge(code: str) -> Callable:
    def read(reader, first, second, *rest, **options) -> Value:
        if rest or options.get("alpha", 1) != 1:
            raise Refused("a scaled sum has no notation here")
        if code == "MUL" and isinstance(first, Parameter) != isinstance(second, Parameter):
            scale, x = (first, second) if isinstance(first, Parameter) else (second, first)
            return read_layer_scale(reader, own_tensor(scale, "scale"), x)
        identity = 0 if code == "ADD" else 1  # x + 0 and x * 1 are x (MobileOne's ``identity_out = 0`` added)
        for kept, other in ((first, second), (second, first)):
            if isinstance(kept, Value) and _number(other) and other == identity:
                return kept
        if not isinstance(first, Value) or not isinstance(second, Value):
            raise Refused("arithmetic with a constant has no notation")
        if first.last != second.last or len(first.shape) != len(second.shape) or first.flat or second.flat:
            raise Refused("the two tensors are laid out differently; the notation merges alike tensors")
        args = {"scale": 1.0} if code == "ADD" else {}
        return reader.add(code, args, [first, second], last=first.last)

    return read


def _number(value) -> bool:
    """A Python number written in forward (never a tensor, nor a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_cat(reader, tensors, dim: int = 0) -> Value:
    values = [as_tensor(value) for value in tensors]
    rank = len(values[0].shape)
    if any(len(v.shape) != rank or v.last != values[0].last or v.flat for v in values):
        raise Refused("tensors of different layouts; the notation joins alike tensors")
    if rank == 4 and not values[0].last:
        axis = {1: -1, 2: 1, 3: 2}.get(dim % 4)
    else:
        axis = -1 if dim % rank == rank - 1 else dim % rank
    if axis is None or axis == 0:
        raise Refused(f"joining dim {dim}: the notation joins channels, height or width")
    if len(values) == 1:
        return values[0]
    return reader.add("CAT", {"axis": axis}, values, last=values[0].last)


def _arithmetic(code: str, *names: str) -> tuple[tuple[str, Callable], ...]:
    return tuple((name, _read_merge(code)) for name in names)


MERGE_LAYERS = (
    LayerType("ADD", "Add", "sum of the branches (NumPy broadcasting); scale=s adds the second branch times s",
              (Param("scale", real(-1e6, 1e6), 1.0),), _add_shape, warn=_elementwise_warn,  # scale= hashed since it came
              merge=True, kind="merge",
              keras=(KerasClass("ScaledAdd", (KerasArg("scale", "scale", positional=True, from_keras=float),),
                                custom=True, reads=("CustomScaleLayer",), when=lambda a: a["scale"] != 1),
                     KerasClass("Add")),
              torch=Torch(_build_add, functions=_arithmetic("ADD", "operator.add", "torch.add", "operator.iadd"),
                          methods=_arithmetic("ADD", "add", "add_")),
              example={},
              note=": `ADD(A | B | ...)`, the branches summed; `ADD(A | B, scale=s)` is `A + s * B` "
                   "(InceptionResNetV2's scaled residual)"),
    LayerType("MUL", "Multiply", "product of the branches (NumPy broadcasting)", output_shape=_elementwise_shape,
              warn=_elementwise_warn,
              merge=True, kind="merge", keras=(KerasClass("Multiply"),),
              torch=Torch(lambda info: (Call("Multiply"),),
                          functions=_arithmetic("MUL", "operator.mul", "torch.mul", "operator.imul"),
                          methods=_arithmetic("MUL", "mul", "mul_")),
              example={},
              note=": `MUL(A | B | ...)`, the branches multiplied elementwise"),
    LayerType("CAT", "Concatenate", "the branches joined along an axis",
              (Param("axis", integer(-MAX_WINDOW, MAX_WINDOW), -1),), _concatenate_shape, merge=True, kind="merge",
              keras=(KerasClass("Concatenate", (KerasArg("axis", "axis", -1),)),),
              torch=Torch(_build_concatenate, functions=(("torch.cat", _read_cat), ("torch.concat", _read_cat))),
              example={},
              note=": `CAT(A | B | ..., axis=-1)`, the branches joined on the channel axis"),
    LayerType("ATT", "Attention2D",
              "attention over positions: softmax(scale q k^T) v per head, of a query, a key and a value map",
              (Param("heads", count(1, MAX_WINDOW), 1),), _attention_shape, macs=_attention_macs,
              merge=True, kind="merge",
              keras=(KerasClass("Attention2D", (KerasArg("heads", "heads", 1),), custom=True),),
              torch=Torch(_build_attention,
                          unread="matrix products of reshaped tensors and a softmax; the reader reads layers, "
                                 "not an attention written out"),
              example={},
              note=": `ATT(@q | @k | @v, heads=h)`, for each head (the h-th of `heads` equal channel groups of "
                   "each map) and each position, the values averaged with weights softmax(scale <q, k>) over "
                   "every position, scale = (C_q / heads)^-0.5; the value's shape (YOLO's PSA attention)"),
    LayerType("OUT", "Model", "the model's outputs, one per branch (no layer); last in the model's chain",
              output_shape=_outputs_shape, merge=True, min_branches=1, is_output=True, kind="merge",
              torch=Torch(refuse="the model's outputs are no layer: the module returns its branches' tensors",
                          unread="the PyTorch reader reads a module of one output"),
              example={},
              note=": `OUT(A | @x | ID() as name)`, last only: the model's outputs, one per branch, named by the "
                   "branch's last `as name`, else its `@name`, else `out_1`, `out_2`, ..."),
)  # fmt: skip
