"""Into the notation from PyTorch: an ``nn.Module``, traced with ``torch.fx``, as a canonical spec.

The PyTorch backend run backwards. The module is traced symbolically (never run on
data): ``torch.fx`` records every module call and every function ``forward`` calls
(``torch.cat``, ``+``, ``torch.flatten``, ``x.mean((2, 3))``), modules the tables
below name being leaves, as torchvision's feature extraction keeps them. Each
recorded call reads as a code through three tables (modules by type, functions,
tensor methods), shapes follow from the layer table's own shape rules, and the
layers go to the Keras reader's graph writer: one writer for every model read.

Where PyTorch says what Keras does not, the reader writes it exactly: ``padding=1``
at stride 2 is a ``ZP`` before a ``valid`` convolution, a padded or ``ceil_mode``
pooling is ``MP``/``AP`` with ``pad=``, ``ceil=``, ``count_pad=``, batch-norm momentum
``m`` is the notation's ``1 - m``, a flatten of ``(C, H, W)`` is ``FL()`` whose next
dense layer's weights are reordered when they are ported. Anything else (an attention
block, data-dependent control flow, an activation with other constants) is one
:class:`~cnndsl.errors.UnsupportedModel` naming the module's path and class and the
operation. torch is imported here only; the package never imports user code, and
``from-torch``'s command imports only the module it is named.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cnndsl.backends.keras_reader import KerasSpec, _Folded, write_graph
from cnndsl.errors import ModelFileError, UnsupportedModel
from cnndsl.layers import LAYERS, ShapeProblem
from cnndsl.tasks import CLASSIFY, Task, task_named

__all__ = ["from_torch", "port_weights", "read", "load_module", "UnsupportedModel"]

_TARGET = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class _Read(_Folded):
    """One layer read from a module: where it came from, and its weights in Keras's layout (for port_weights)."""

    path: str = ""
    weights: Callable[[], list] | None = field(default=None, compare=False)


@dataclass
class _Value:
    """A tensor as the notation sees it: the layer it comes from (None: the input) and its channels-last shape.

    ``last``: a 4-D tensor PyTorch holds channels last (after ``permute(0, 2, 3, 1)``);
    ``flat``: a 2-D tensor flattened in PyTorch's (C, H, W) order, from this (H, W, C).
    """

    name: str | None
    shape: tuple
    last: bool = False
    flat: tuple | None = None


class _Refused(Exception):
    """What a node does that the notation cannot say (the reader adds the module path and class)."""


# --- reading ----------------------------------------------------------------------------------


def read(
    module, input_shape: Sequence[int], task: Task = CLASSIFY
) -> tuple[list[_Read], dict[str, list[str | None]], int]:
    """The module's layers (the task's head last), who feeds whom, and the class count."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise TypeError(
            f"from_torch reads a torch.nn.Module, not {type(module).__module__}.{type(module).__qualname__}"
        )
    shape = tuple(int(size) for size in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape is (height, width, channels), not {tuple(input_shape)}")
    graph = _trace(module)
    reader = _Reader(module)
    values: dict[Any, Any] = {}
    result = None
    for node in graph.nodes:
        if node.op == "placeholder":
            if values:
                raise UnsupportedModel(f"{_where(module, node)}: forward takes more than one input")
            values[node] = _Value(None, (None, *shape))
            continue
        if node.op == "output":
            result = _value_of(values, node.args[0])
            break
        try:
            values[node] = reader.node(node, values)
        except _Refused as problem:
            raise UnsupportedModel(f"{_where(module, node)}: {problem}") from None
    if not isinstance(result, _Value) or len(result.shape) != 2 or result.flat:
        raise UnsupportedModel("the module's output is not one (batch, classes) tensor: the notation ends in classes")
    layers, inbound = _finish(reader, result, task)
    return layers, inbound, result.shape[1]


def from_torch(module, input_shape: Sequence[int] = (224, 224, 3), task: str | Task | None = None) -> KerasSpec:
    """The canonical notation of a ``torch.nn.Module`` for an input of ``input_shape`` (height, width, channels).

    Returns what :func:`cnndsl.to_spec` returns: ``.text``, laid out as ``cnndsl fmt`` lays it out,
    and the head's ``.num_classes``. The module's logits become the notation's softmax head;
    ``task`` (classify, segment, regress) says which head the module ends in.
    UnsupportedModel (naming the module's path, class and the operation) for what the
    notation cannot write; TypeError for anything but a module.
    """
    from cnndsl.compiler import check
    from cnndsl.errors import SpecError
    from cnndsl.formatter import format_text

    task = task_named(task)
    layers, inbound, classes = read(module, input_shape, task)
    text = write_graph(layers, inbound, tuple(input_shape), classes, task)
    try:
        check(text, task=task)  # what is returned always checks: a setting out of the notation's bounds is said here
    except SpecError as error:
        raise UnsupportedModel(f"the notation read does not check: {error.diagnostics[0].message}") from None
    return KerasSpec(format_text(text), classes)


def load_module(target: str):
    """``PACKAGE.MODULE:CALLABLE``: import the module, call the callable with no arguments, return the module.

    The only place cnndsl imports code it is given: importing a module runs its code. The
    module is found on Python's module path (installed packages, ``PYTHONPATH``); the current
    directory is not searched. ModelFileError, one line, for anything that does not give an
    ``nn.Module``.
    """
    import importlib

    import torch

    if not _TARGET.fullmatch(target):
        raise ModelFileError(f"{target!r}: expected PACKAGE.MODULE:CALLABLE, such as torchvision.models:resnet18")
    name, _, attribute = target.partition(":")
    try:
        found = importlib.import_module(name)
    except ModuleNotFoundError as error:
        raise ModelFileError(f"{target}: no module named {error.name!r} on the module path") from None
    except Exception as error:  # the module's own code failed: said in one line
        raise ModelFileError(f"{target}: importing {name} failed: {type(error).__name__}: {_first(error)}") from None
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ModelFileError(f"{target}: {name} has no {attribute!r}")
        found = getattr(found, part)
    if not callable(found):
        raise ModelFileError(f"{target}: {attribute} is not callable")
    try:
        module = found()
    except Exception as error:  # the callable's own code failed
        raise ModelFileError(
            f"{target}: calling {attribute}() failed: {type(error).__name__}: {_first(error)}"
        ) from None
    if not isinstance(module, torch.nn.Module):
        raise ModelFileError(f"{target}: {attribute}() returned a {type(module).__name__}, not a torch.nn.Module")
    return module


def _first(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def _trace(module):
    """The module's fx graph; a failure inside a module names the innermost module being traced."""
    from torch import fx

    stack: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return _module_entry(m) is not None or super().is_leaf_module(m, qualname)

        def call_module(self, m, forward, args, kwargs):
            stack.append((self.path_of_module(m), type(m).__name__))
            try:
                return super().call_module(m, forward, args, kwargs)
            except Exception:
                if not failed:
                    failed.append(stack[-1])
                raise
            finally:
                stack.pop()

    was_training = module.training
    module.eval()
    try:
        return Tracer(autowrap_functions=tuple(_leaf_functions())).trace(module)
    except Exception as error:  # fx raises many kinds (TraceError, TypeError, ...) on what it cannot trace
        path, cls = failed[0] if failed else ("", type(module).__name__)
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        kind = "data-dependent control flow" if "control flow" in first else "an operation torch.fx cannot trace"
        raise UnsupportedModel(
            f"module {path or '(top)'!r} ({cls}): {kind} ({first}); the notation cannot hold it"
        ) from None
    finally:
        module.train(was_training)


def _where(module, node) -> str:
    """``module 'layer1.0.conv1' (Conv2d), operation ...``: where a node comes from."""
    stack = node.meta.get("nn_module_stack") or {}
    if node.op == "call_module":
        path, cls = node.target, type(module.get_submodule(node.target)).__name__
    elif stack:
        path, owner = list(stack.values())[-1]
        cls = getattr(owner, "__name__", str(owner))
    else:
        path, cls = "", type(module).__name__
    return f"module {path or '(top)'!r} ({cls}), operation {_operation(node)}"


def _operation(node) -> str:
    if node.op == "call_module":
        return "call"
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    if node.op == "get_attr":
        return f"attribute {node.target}"
    target = node.target
    return f"{getattr(target, '__module__', None) or 'builtins'}.{getattr(target, '__name__', str(target))}"


def _value_of(values: Mapping, argument):
    """An fx argument with each node replaced by what it reads as (lists and tuples kept)."""
    from torch import fx

    if isinstance(argument, fx.Node):
        return values[argument]
    if isinstance(argument, list | tuple):
        return type(argument)(_value_of(values, item) for item in argument)
    return argument


class _Reader:
    """The layers read so far, each with its inputs; one method per kind of fx node."""

    def __init__(self, module):
        self.module = module
        self.layers: dict[str, _Read] = {}
        self.inbound: dict[str, list[str | None]] = {}
        self.shapes: dict[str | None, tuple] = {}
        self.node_name = ""
        self.path = ""
        self.cls = ""

    def node(self, node, values: Mapping):
        self.node_name = node.name
        stack = node.meta.get("nn_module_stack") or {}
        self.path = node.target if node.op == "call_module" else (list(stack.values())[-1][0] if stack else "")
        self.cls = _where(self.module, node).partition("(")[2].partition(")")[0]
        args = _value_of(values, node.args)
        kwargs = _value_of(values, node.kwargs)
        if node.op == "get_attr":
            return _Parameter(_attribute(self.module, node.target))
        if node.op == "call_module":
            module = self.module.get_submodule(node.target)
            entry = _module_entry(module)
            if entry is None:
                raise _Refused("has no code in the notation")
            return entry(self, module, *args, **kwargs)
        if node.op == "call_function":
            entry = _function_entry(node.target)
            if entry is None:
                raise _Refused("has no code in the notation")
            return entry(self, *args, **kwargs)
        if node.op == "call_method":
            entry = _METHODS.get(node.target)
            if entry is None:
                raise _Refused("has no code in the notation")
            return entry(self, *args, **kwargs)
        raise _Refused(f"an fx node of kind {node.op!r} has no code in the notation")

    def add(self, code: str, args: Mapping, inputs: Sequence[_Value], weights=None, suffix: str = "", **kept) -> _Value:
        """A layer of ``code`` on ``inputs``: its arguments resolved, its output's shape from the layer table."""
        kind = LAYERS[code]
        if code not in ("DN", "ACT", "DP") and any(value.flat for value in inputs):
            raise _Refused("a flatten of (C, H, W) goes on only into a Linear (FL() flattens (H, W, C))")
        full = _resolved(code, args)
        name = self.node_name + suffix
        shapes = [value.shape for value in inputs]
        if kind.input_rank is not None and len(shapes[0]) != kind.input_rank:
            raise _Refused(f"{code} needs a {kind.input_rank}-D input, not {len(shapes[0])}-D")
        problem = kind.check_args(full)
        try:
            if problem:
                raise ShapeProblem(problem if isinstance(problem, str) else problem[0])
            shape = kind.output_shape(shapes if kind.merge else shapes[0], full)
        except ShapeProblem as error:
            raise _Refused(f"{code}: {error.message}") from None
        self.layers[name] = _Read(name, self.cls or code, code, full, self.path, weights)
        self.inbound[name] = [value.name for value in inputs]
        return _Value(name, shape, **kept)


@dataclass(frozen=True)
class _Parameter:
    """A module's own tensor used in forward (ConvNeXt's layer scale)."""

    tensor: Any


def _attribute(module, target: str):
    owner, _, name = target.rpartition(".")
    return getattr(module.get_submodule(owner) if owner else module, name)


def _resolved(code: str, given: Mapping) -> dict:
    """Every argument of ``code``: the given ones, the rest the notation's defaults."""
    args = {}
    for param in LAYERS[code].params:
        if param.name in given:
            args[param.name] = given[param.name]
        elif param.same_as is not None:
            args[param.name] = given.get(param.same_as)
        else:
            args[param.name] = param.default
    if code in ("MP", "AP") and args["strides"] is None:
        args["strides"] = args["pool"]
    return args


# --- the finished graph: head, pruning, folding --------------------------------------------------


def _finish(reader: _Reader, result: _Value, task: Task) -> tuple[list[_Read], dict[str, list[str | None]]]:
    """The layers that reach the output, the task's head last (the logits' softmax), joins nested, activations folded."""
    layers, inbound = dict(reader.layers), {name: list(feeds) for name, feeds in reader.inbound.items()}
    head = layers.get(result.name) if result.name else None
    args = task.head_of_logits(head.code, head.args) if head is not None else None
    if args is not None and (args == head.args or _users(inbound, head.name) == []):  # its users see it unchanged
        layers[head.name] = _replace(head, **args)
        end = head.name
    elif task.logits_activation is None:
        raise UnsupportedModel(f"the module's output is not its head: {task.ends_in}")
    else:
        activation = task.logits_activation
        end = f"{reader.node_name}_{activation}"
        layers[end] = _Read(end, f"{activation} of the logits", "ACT", {"name": activation})
        inbound[end] = [result.name]
    _nest_joins(layers, inbound)
    end = _fold(layers, inbound, end)
    order = [name for name in layers if name in _reaching(inbound, end)]
    order.remove(end)
    return [layers[name] for name in [*order, end]], {name: inbound[name] for name in [*order, end]}


def _replace(layer: _Read, **args) -> _Read:
    return _Read(layer.name, layer.class_name, layer.code, {**layer.args, **args}, layer.path, layer.weights)


def _users(inbound: Mapping[str, list], name: str | None) -> list[str]:
    return [user for user, feeds in inbound.items() for feed in feeds if feed == name]


def _reaching(inbound: Mapping[str, list], end: str) -> set[str]:
    seen, stack = set(), [end]
    while stack:
        name = stack.pop()
        if name is None or name in seen:
            continue
        seen.add(name)
        stack.extend(inbound[name])
    return seen


def _nest_joins(layers: dict[str, _Read], inbound: dict[str, list]) -> None:
    """``torch.cat([x0, ..., xk])`` where ``torch.cat([x0, ..., xk-1])`` was joined before is that join and ``xk``
    (DenseNet's layers each join every tensor before them): the same channels, written as nested joins."""
    joined: dict[tuple, str] = {}
    for name, layer in layers.items():
        if layer.code != "CAT":
            continue
        feeds = tuple(inbound[name])
        earlier = joined.get((layer.args["axis"], feeds[:-1])) if len(feeds) > 2 else None
        if earlier is not None:
            inbound[name] = [earlier, feeds[-1]]
        joined[(layer.args["axis"], feeds)] = name


_ACTIVATED = frozenset({"CN", "DW", "SC", "DN"})
"""Codes with an activation argument: a following ACT that is their only user folds into it."""


def _fold(layers: dict[str, _Read], inbound: dict[str, list], end: str) -> str:
    """``CN(..., activation=linear) -> ACT(relu)`` is ``CN(...)``; ``GAP(keepdims=true) -> FL()`` is ``GAP()``; the head's name after."""
    for name in list(layers):
        layer = layers.get(name)
        if layer is None or name == end:
            continue
        users = _users(inbound, name)
        if len(users) != 1 or users[0] not in layers:
            continue
        user = layers[users[0]]
        if layer.code in _ACTIVATED and layer.args["activation"] == "linear" and user.code == "ACT":
            layers[name] = _replace(layer, activation=user.args["name"])
        elif layer.code == "GAP" and layer.args["keepdims"] and user.code == "FL":
            layers[name] = _replace(layer, keepdims=False)
        else:
            continue
        for other, feeds in inbound.items():
            inbound[other] = [name if feed == user.name else feed for feed in feeds]
        del layers[user.name], inbound[user.name]
        if user.name == end:  # a module's own softmax after its Linear: DN(classes, activation=softmax)
            end = name
    return end


# --- the module table -----------------------------------------------------------------------------


def _tensor(value, what: str = "the input") -> _Value:
    if not isinstance(value, _Value):
        raise _Refused(f"{what} is not a tensor the notation follows ({type(value).__name__})")
    return value


def _spatial(reader: _Reader, value: _Value) -> _Value:
    """A 4-D tensor PyTorch holds channels first (a convolution's or pooling's input)."""
    value = _tensor(value)
    if len(value.shape) != 4 or value.last:
        raise _Refused(f"expects (N, C, H, W), not a {len(value.shape)}-D tensor held channels last")
    return value


def _pair(value) -> tuple[int, int]:
    return tuple(int(v) for v in value) if isinstance(value, list | tuple) else (int(value), int(value))


def _same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    from cnndsl.backends.torch import same_pads

    return same_pads(size, kernel, stride, dilation)


def _conv(reader: _Reader, module, x) -> _Value:
    x = _spatial(reader, x)
    if module.padding_mode != "zeros":
        raise _Refused(f"padding_mode={module.padding_mode!r}: the notation pads with zeros")
    kernel, strides, dilation = _pair(module.kernel_size), _pair(module.stride), _pair(module.dilation)
    pad = module.padding
    if isinstance(pad, str):
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if pad == "same" and any(total % 2 for total in totals):
            raise _Refused("padding='same' with an even kernel pads unevenly as PyTorch does, unlike TensorFlow")
        pad = (0, 0) if pad == "valid" else tuple(total // 2 for total in totals)
    pad = _pair(pad)
    channels, groups, filters = module.in_channels, module.groups, module.out_channels
    bias = module.bias is not None
    padding = _padding(x.shape[1:3], kernel, strides, dilation, pad)
    if padding is None:
        x = reader.add("ZP", {"pad": tuple((p, p) for p in pad)}, [x], suffix="_pad")
        padding = "valid"
    window = {"kernel": kernel, "strides": strides, "padding": padding, "activation": "linear", "dilation": dilation,
              "bias": bias}  # fmt: skip
    if groups > 1 and groups == channels and filters % channels == 0:
        args = {**window, "depth_multiplier": filters // channels}
        return reader.add("DW", args, [x], lambda: _depthwise_weights(module))
    return reader.add("CN", {**window, "filters": filters, "groups": groups}, [x], lambda: _conv_weights(module))


def _padding(size: tuple, kernel, strides, dilation, pad) -> str | None:
    """``valid``, ``same`` where TensorFlow's same pads exactly ``pad`` on each side; None: a ZP is needed."""
    if pad == (0, 0):
        return "valid"
    if all(_same_pads(n, k, s, d) == (p, p) for n, k, s, d, p in zip(size, kernel, strides, dilation, pad)):
        return "same"
    return None


def _numpy(tensor):
    return tensor.detach().cpu().numpy()


def _conv_weights(module) -> list:
    """PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out), and the bias."""
    kernel = [_numpy(module.weight).transpose(2, 3, 1, 0)]
    return kernel + ([_numpy(module.bias)] if module.bias is not None else [])


def _depthwise_weights(module) -> list:
    """PyTorch (in * multiplier, 1, kh, kw) -> Keras (kh, kw, in, multiplier)."""
    weight = _numpy(module.weight)[:, 0]
    kh, kw = weight.shape[1:]
    kernel = [weight.transpose(1, 2, 0).reshape(kh, kw, module.in_channels, -1)]
    return kernel + ([_numpy(module.bias)] if module.bias is not None else [])


def _linear(reader: _Reader, module, x) -> _Value:
    x = _tensor(x)
    if len(x.shape) == 4 and not x.last:
        raise _Refused("a Linear on (N, C, H, W) acts on the width; the notation's DN acts on the channels")
    flat = x.flat

    def weights() -> list:
        kernel = _numpy(module.weight)
        if flat is not None:  # PyTorch flattened (C, H, W); the notation flattens (H, W, C)
            height, width, channels = flat
            kernel = kernel.reshape(-1, channels, height, width).transpose(0, 2, 3, 1).reshape(kernel.shape[0], -1)
        return [kernel.T] + ([_numpy(module.bias)] if module.bias is not None else [])

    args = {"units": module.out_features, "activation": "linear", "bias": module.bias is not None}
    return reader.add("DN", args, [x], weights, last=x.last)


def _batch_norm(reader: _Reader, module, x) -> _Value:
    x = _tensor(x)
    if len(x.shape) == 4 and x.last:
        raise _Refused("a batch norm of a tensor held channels last normalises its width")
    if not module.track_running_stats or module.momentum is None:
        raise _Refused("a batch norm without running statistics (or momentum=None) has no notation")
    affine = module.affine

    def weights() -> list:
        scale = [_numpy(module.weight), _numpy(module.bias)] if affine else []
        return scale + [_numpy(module.running_mean), _numpy(module.running_var)]

    args = {"momentum": round(1 - module.momentum, 12), "epsilon": float(module.eps), "center": affine, "scale": affine}
    return reader.add("BN", args, [x], weights)


def _layer_norm(reader: _Reader, module, x, channels_first: bool = False) -> _Value:
    x = _tensor(x)
    size = x.shape[-1]
    if tuple(module.normalized_shape) != (size,) or (len(x.shape) == 4 and x.last == channels_first):
        raise _Refused(f"normalises {tuple(module.normalized_shape)}; the notation's LN normalises the channels")
    weight, bias = module.weight, getattr(module, "bias", None)

    def weights() -> list:
        return [_numpy(tensor) for tensor in (weight, bias) if tensor is not None]

    args = {"axis": -1, "epsilon": float(module.eps), "center": bias is not None, "scale": weight is not None}
    return reader.add("LN", args, [x], weights, last=x.last)


def _pool_module(reader: _Reader, module, x) -> _Value:
    maximum = type(module).__name__.startswith("Max")
    if maximum and (_pair(module.dilation) != (1, 1) or module.return_indices):
        raise _Refused("dilation or return_indices has no notation")
    if not maximum and module.divisor_override:
        raise _Refused("divisor_override has no notation")
    count = None if maximum else module.count_include_pad
    return _pooling(reader, x, maximum, module.kernel_size, module.stride, module.padding, module.ceil_mode, count)


def _pooling(reader: _Reader, x, maximum: bool, kernel, stride, padding, ceil: bool, count_pad) -> _Value:
    """MP or AP of PyTorch's arguments: ``valid``, ``same`` where TensorFlow pads the same, else ``pad=``/``ceil=``."""
    x = _spatial(reader, x)
    pool = _pair(kernel)
    strides = _pair(stride) if stride not in (None, [], ()) else pool
    pad = _pair(padding)
    code = "MP" if maximum else "AP"
    size = x.shape[1:3]
    floor = tuple(_padded(n, k, s, p, False) for n, k, s, p in zip(size, pool, strides, pad))
    if ceil and floor == tuple(_padded(n, k, s, p, True) for n, k, s, p in zip(size, pool, strides, pad)):
        ceil = False  # no window overhangs: floor and ceiling agree
    args: dict[str, Any] = {"pool": pool, "strides": strides}
    counted = bool(count_pad) and pad != (0, 0)
    if pad == (0, 0) and not ceil:
        pass
    elif not ceil and not counted and _padding(size, pool, strides, (1, 1), pad) == "same":
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


def _adaptive(reader: _Reader, x, output_size, maximum: bool = False) -> _Value:
    """Adaptive pooling to (1, 1) is GAP/GMP; to a size that divides the input, a plain pooling (or nothing)."""
    x = _spatial(reader, x)
    target = _pair(output_size) if not isinstance(output_size, list | tuple) or None not in output_size else None
    if target is None:
        raise _Refused(f"adaptive pooling to {output_size} keeps a size of the input; the notation pools to sizes")
    if target == (1, 1):
        return reader.add("GMP" if maximum else "GAP", {"keepdims": True}, [x])
    size = x.shape[1:3]
    if any(n % t for n, t in zip(size, target)):
        raise _Refused(
            f"adaptive pooling of {size[0]}x{size[1]} to {target}: windows of unequal sizes have no notation"
        )
    if tuple(size) == target:
        return x  # pooling a size to itself: the input, unchanged
    pool = tuple(n // t for n, t in zip(size, target))
    return reader.add("MP" if maximum else "AP", {"pool": pool, "strides": pool}, [x])


def _act(name: str) -> Callable:
    def read_activation(reader: _Reader, x, *args, **kwargs) -> _Value:
        return reader.add("ACT", {"name": name}, [_tensor(x)], last=_tensor(x).last, flat=_tensor(x).flat)

    return read_activation


def _activation_module(reader: _Reader, module, x) -> _Value:
    name = _activation_name(module)
    if name in ("softmax", "log_softmax"):
        x = _tensor(x)
        if module.dim not in (1, -1) or (len(x.shape) == 4 and x.last != (module.dim == -1)):
            raise _Refused(f"{type(module).__name__}(dim={module.dim}) is not over the channels")
    return _act(name)(reader, x)


def _activation_name(module) -> str:
    """The notation's activation for a PyTorch activation module: the PyTorch backend's table, read backwards.

    The module must equal the one the backend builds (its constants: a LeakyReLU's slope,
    GELU's approximation); ``inplace`` aside.
    """
    from cnndsl.backends import torch as backend

    cls = type(module).__name__
    for name, (built, kwargs) in backend._ACTIVATIONS.items():
        if built == f"nn.{cls}":
            if _settings(module) != _settings(type(module)(**dict(kwargs))):
                raise _Refused(f"{cls}({module.extra_repr()}) differs from the notation's {name} ({dict(kwargs)})")
            return name
    for name, built in backend._ON_AXIS.items():
        if built == f"nn.{cls}":
            return name
    raise _Refused("has no code in the notation")


def _settings(module) -> str:
    return ", ".join(part for part in module.extra_repr().split(", ") if not part.startswith("inplace"))


def _dropout(reader: _Reader, module, x) -> _Value:
    x = _tensor(x)
    return reader.add("DP", {"rate": float(module.p)}, [x], last=x.last, flat=x.flat)


def _stochastic_depth(reader: _Reader, module, x) -> _Value:
    x = _tensor(x)
    if module.mode != "row":
        raise _Refused(f"stochastic depth of mode {module.mode!r}; the notation drops whole examples (mode 'row')")
    return reader.add("DP", {"rate": float(module.p), "per_example": True}, [x], last=x.last)


def _flatten(reader: _Reader, x, start_dim: int = 1, end_dim: int = -1) -> _Value:
    x = _tensor(x)
    rank = len(x.shape)
    if start_dim != 1 or end_dim % rank != rank - 1:
        raise _Refused(f"flattening dims {start_dim}..{end_dim}; the notation flattens all but the batch")
    if rank == 2:
        return x
    height, width, channels = x.shape[1:]
    reordered = not x.last and height * width > 1 and channels > 1
    return reader.add("FL", {}, [x], flat=(height, width, channels) if reordered else None)


def _flatten_module(reader: _Reader, module, x) -> _Value:
    return _flatten(reader, x, module.start_dim, module.end_dim)


def _permute(reader: _Reader, x, *dims) -> _Value:
    x = _tensor(x)
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], list | tuple) else dims
    dims = tuple(d % 4 for d in dims)
    if len(x.shape) == 4 and dims == (0, 2, 3, 1) and not x.last:
        return _Value(x.name, x.shape, last=True)
    if len(x.shape) == 4 and dims == (0, 3, 1, 2) and x.last:
        return _Value(x.name, x.shape, last=False)
    raise _Refused(f"permute{dims}: the notation moves only the channels, last and back")


def _permute_module(reader: _Reader, module, x) -> _Value:
    return _permute(reader, x, tuple(module.dims))


def _identity(reader: _Reader, module_or_x, *rest, **kwargs):
    return rest[0] if rest and not isinstance(module_or_x, _Value) else module_or_x


def _mean(reader: _Reader, x, dim=None, keepdim: bool = False, **kwargs) -> _Value:
    x = _spatial(reader, x)
    dims = {d % 4 for d in (dim if isinstance(dim, list | tuple) else [dim])} if dim is not None else None
    if dims != {2, 3} or kwargs.get("dtype") is not None:
        raise _Refused(f"a mean over dims {dim}; the notation averages over height and width (GAP)")
    return reader.add("GAP", {"keepdims": bool(keepdim)}, [x])


def _merge(code: str) -> Callable:
    def read_merge(reader: _Reader, first, second, *rest, **kwargs) -> _Value:
        if rest or kwargs.get("alpha", 1) != 1:
            raise _Refused("a scaled sum has no notation here")
        if code == "MUL" and isinstance(first, _Parameter) != isinstance(second, _Parameter):
            scale, x = (first, second) if isinstance(first, _Parameter) else (second, first)
            return _layer_scale(reader, scale.tensor, x)
        if not isinstance(first, _Value) or not isinstance(second, _Value):
            raise _Refused("arithmetic with a constant has no notation")
        if first.last != second.last or len(first.shape) != len(second.shape) or first.flat or second.flat:
            raise _Refused("the two tensors are laid out differently; the notation merges alike tensors")
        args = {"scale": 1.0} if code == "ADD" else {}
        return reader.add(code, args, [first, second], last=first.last)

    return read_merge


def _layer_scale(reader: _Reader, tensor, x: _Value) -> _Value:
    channels = x.shape[-1]
    expected = (channels,) if x.last or len(x.shape) == 2 else (channels, 1, 1)
    if tuple(tensor.shape) != expected:
        raise _Refused(f"a scale of shape {tuple(tensor.shape)} is not one value per channel {expected}")
    return reader.add("LS", {}, [x], lambda: [_numpy(tensor).reshape(channels)], last=x.last)


def _cat(reader: _Reader, tensors, dim: int = 0) -> _Value:
    values = [_tensor(value) for value in tensors]
    rank = len(values[0].shape)
    if any(len(v.shape) != rank or v.last != values[0].last or v.flat for v in values):
        raise _Refused("tensors of different layouts; the notation joins alike tensors")
    if rank == 4 and not values[0].last:
        axis = {1: -1, 2: 1, 3: 2}.get(dim % 4)
    else:
        axis = -1 if dim % rank == rank - 1 else dim % rank
    if axis is None or axis == 0:
        raise _Refused(f"joining dim {dim}: the notation joins channels, height or width")
    if len(values) == 1:
        return values[0]
    return reader.add("CAT", {"axis": axis}, values, last=values[0].last)


def _f_pool(maximum: bool) -> Callable:
    names = ("input", "kernel_size", "stride", "padding", *(("dilation",) if maximum else ()), "ceil_mode",
             "count_include_pad" if not maximum else "return_indices", "divisor_override")  # fmt: skip

    def read_pool(reader: _Reader, *args, **kwargs) -> _Value:
        bound = {**dict(zip(names, args)), **kwargs}
        if (maximum and (_pair(bound.get("dilation", 1)) != (1, 1) or bound.get("return_indices"))) or bound.get(
            "divisor_override"
        ):
            raise _Refused("dilation, return_indices or divisor_override has no notation")
        count = None if maximum else bound.get("count_include_pad", True)
        return _pooling(reader, bound["input"], maximum, bound["kernel_size"], bound.get("stride"),
                        bound.get("padding", 0), bool(bound.get("ceil_mode", False)), count)  # fmt: skip

    return read_pool


def _chunk(reader: _Reader, x, chunks: int, dim: int = 0) -> tuple[_Value, ...]:
    """``x.chunk(parts, dim=1)``: each part an SPL (those never used are dropped with the unused layers)."""
    x = _spatial(reader, x)
    if dim % 4 != 1:
        raise _Refused(f"chunks along dim {dim}; the notation splits the channels")
    return tuple(
        reader.add("SPL", {"index": index, "parts": chunks}, [x], suffix=f"_{index}") for index in range(chunks)
    )


def _getitem(reader: _Reader, sequence, index):
    if isinstance(sequence, tuple | list) and isinstance(index, int):
        return sequence[index]
    raise _Refused("indexing a tensor has no notation")


def _channel_shuffle(reader: _Reader, x, groups: int) -> _Value:
    return reader.add("SHF", {"groups": groups}, [_spatial(reader, x)])


def _f_dropout(reader: _Reader, x, p: float = 0.5, training: bool = True, inplace: bool = False) -> _Value:
    x = _tensor(x)
    if training is False:
        return x  # never drops: the input, unchanged
    return reader.add("DP", {"rate": float(p)}, [x], last=x.last, flat=x.flat)


def _f_gelu(reader: _Reader, x, approximate: str = "none") -> _Value:
    if approximate != "none":
        raise _Refused(f"GELU(approximate={approximate!r}); the notation's gelu is the exact one")
    return _act("gelu")(reader, x)


def _f_adaptive(maximum: bool) -> Callable:
    def read_adaptive(reader: _Reader, x, output_size, *rest, **kwargs) -> _Value:
        return _adaptive(reader, x, output_size, maximum)

    return read_adaptive


_LEAF_FUNCTIONS: dict[str, Callable] = {"torchvision.models.shufflenetv2.channel_shuffle": _channel_shuffle}
"""Functions of model libraries read whole (fx would trace into their arithmetic on sizes), by qualified name."""


def _leaf_functions() -> list:
    """The functions of :data:`_LEAF_FUNCTIONS` whose modules are imported (this never imports one)."""
    import sys

    found = []
    for qualified in _LEAF_FUNCTIONS:
        owner, _, name = qualified.rpartition(".")
        function = getattr(sys.modules.get(owner), name, None)
        if function is not None:
            found.append(function)
    return found


def _function_entry(target) -> Callable | None:
    entry = _FUNCTIONS.get(target)
    if entry is None and callable(target):
        entry = _LEAF_FUNCTIONS.get(f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}")
    return entry


def _module_entry(module) -> Callable | None:
    """The reading of a module, found by its class (or a base class of it); None: trace into it."""
    for cls in type(module).__mro__:
        entry = _MODULES.get(f"{cls.__module__}.{cls.__qualname__}")
        if entry is not None:
            return entry
    return None


def _activation_modules() -> dict[str, Callable]:
    """Every activation module the PyTorch backend builds: read back by the same table."""
    from cnndsl.backends import torch as backend

    classes = {built for built, _ in backend._ACTIVATIONS.values()} | set(backend._ON_AXIS.values())
    modules = {}
    for built in classes:
        if built.startswith("nn."):
            import torch.nn

            cls = getattr(torch.nn, built[3:])
            modules[f"{cls.__module__}.{cls.__qualname__}"] = _activation_module
    return modules


_NN = "torch.nn.modules."
_MODULES: dict[str, Callable] = {
    _NN + "conv.Conv2d": _conv,
    _NN + "linear.Linear": _linear,
    _NN + "linear.Identity": _identity,
    _NN + "batchnorm.BatchNorm2d": _batch_norm,
    _NN + "batchnorm.BatchNorm1d": _batch_norm,
    _NN + "normalization.LayerNorm": _layer_norm,
    _NN + "pooling.MaxPool2d": _pool_module,
    _NN + "pooling.AvgPool2d": _pool_module,
    _NN + "pooling.AdaptiveAvgPool2d": lambda reader, module, x: _adaptive(reader, x, module.output_size),
    _NN + "pooling.AdaptiveMaxPool2d": lambda reader, module, x: _adaptive(reader, x, module.output_size, True),
    _NN + "dropout.Dropout": _dropout,
    _NN + "flatten.Flatten": _flatten_module,
    _NN + "padding.ZeroPad2d": lambda reader, module, x: _zero_pad(reader, module.padding, x),
    "torchvision.models.convnext.LayerNorm2d": lambda reader, module, x: _layer_norm(reader, module, x, True),
    "torchvision.ops.stochastic_depth.StochasticDepth": _stochastic_depth,
    "torchvision.ops.misc.Permute": _permute_module,
}
"""PyTorch module class (qualified name) -> its reading; activation modules are added from the backend's table."""


def _zero_pad(reader: _Reader, padding, x) -> _Value:
    left, right, top, bottom = padding if len(padding) == 4 else (padding[0],) * 4
    return reader.add("ZP", {"pad": ((top, bottom), (left, right))}, [_spatial(reader, x)])


def _functions() -> dict[Any, Callable]:
    import torch
    import torch.nn.functional as F

    table: dict[Any, Callable] = {
        operator.add: _merge("ADD"), torch.add: _merge("ADD"), operator.iadd: _merge("ADD"),
        operator.mul: _merge("MUL"), torch.mul: _merge("MUL"), operator.imul: _merge("MUL"),
        torch.cat: _cat, torch.concat: _cat, torch.flatten: _flatten, torch.mean: _mean,
        F.max_pool2d: _f_pool(True), F.avg_pool2d: _f_pool(False), F.dropout: _f_dropout,
        F.adaptive_avg_pool2d: _f_adaptive(False), F.adaptive_max_pool2d: _f_adaptive(True),
        F.gelu: _f_gelu, torch.permute: _permute, operator.getitem: _getitem, torch.chunk: _chunk,
    }  # fmt: skip
    for name, functions in _ACTIVATION_FUNCTIONS.items():
        for function in functions:
            table[function] = _act(name)
    return table


_ACTIVATION_FUNCTIONS: dict[str, tuple] = {}
_FUNCTIONS: dict[Any, Callable] = {}
_METHODS: dict[str, Callable] = {
    "chunk": _chunk, "flatten": _flatten, "mean": _mean, "permute": _permute, "contiguous": _identity,
    "relu": _act("relu"), "sigmoid": _act("sigmoid"), "tanh": _act("tanh"),
    "add": _merge("ADD"), "add_": _merge("ADD"), "mul": _merge("MUL"), "mul_": _merge("MUL"),
}  # fmt: skip
"""Tensor method name -> its reading."""


def _load_tables() -> None:
    """The tables that name torch's own objects, filled when torch is imported (this module imports it)."""
    import torch
    import torch.nn.functional as F

    _ACTIVATION_FUNCTIONS.update({
        "relu": (F.relu, torch.relu, F.relu_), "relu6": (F.relu6,), "sigmoid": (torch.sigmoid, F.sigmoid),
        "tanh": (torch.tanh, F.tanh), "silu": (F.silu,), "hard_silu": (F.hardswish,),
        "hard_sigmoid": (F.hardsigmoid,), "elu": (), "softplus": (),
    })  # fmt: skip
    _FUNCTIONS.update(_functions())
    _MODULES.update(_activation_modules())


_load_tables()


# --- weights ---------------------------------------------------------------------------------------


def port_weights(source, built, input_shape: Sequence[int] | None = None) -> None:
    """Copy a PyTorch module's weights into the model ``compile_spec`` built from its notation.

    ``built`` is the ``torch.nn.Module`` (``backend="torch"``) or the Keras model that
    ``compile_spec(from_torch(source, input_shape).text)`` returns; the input shape is read
    from a Keras model, and given with ``input_shape`` for a PyTorch one (else read from the
    module, which records it). ValueError where a layer or a weight does not correspond.
    """
    from cnndsl.compiler import check

    if input_shape is None:
        input_shape = _built_input_shape(built)
    layers, inbound, classes = read(source, input_shape)
    model = check(write_graph(layers, inbound, tuple(input_shape), classes))
    mine = _postorder(layers[-1].name, lambda name: inbound[name])
    theirs = _postorder(len(model.layers) - 1, lambda index: [i for i in model.layers[index].inputs if i >= 0])
    by_name = {layer.name: layer for layer in layers}
    if len(mine) != len(theirs):
        raise ValueError(f"the source reads as {len(mine)} layers, the built model has {len(theirs)}")
    if _is_torch(built):
        targets = list(built.children())
    else:  # the i-th Keras layer (input aside) is the checked model's i-th, as the Keras backend makes them
        targets = [layer for layer in built.layers if type(layer).__name__ != "InputLayer"]
    if len(targets) != len(model.layers):
        raise ValueError(f"the built model has {len(targets)} layers, the notation {len(model.layers)}")
    for name, index in zip(mine, theirs):
        layer, info = by_name[name], model.layers[index]
        if layer.code != info.code:
            raise ValueError(f"{info.name}: the built layer is {info.code}, the source's {name} {layer.code}")
        if layer.weights is None:
            continue
        arrays = layer.weights()
        if _is_torch(built):
            _to_torch(info, arrays, targets[index])
        else:
            targets[index].set_weights(arrays)


def _postorder(end, inputs: Callable) -> list:
    """Every node from the inputs to ``end``, each after its inputs in order: the same for two equal graphs."""
    order, seen, stack = [], set(), [(end, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        stack.extend((feed, False) for feed in reversed(inputs(node)) if feed is not None and feed not in seen)
    return order


def _is_torch(built) -> bool:
    return any(cls.__module__.startswith("torch.") for cls in type(built).__mro__)


def _built_input_shape(built) -> tuple[int, int, int]:
    shape = getattr(built, "cnndsl_input_shape", None)
    if shape is None and not _is_torch(built) and getattr(built, "inputs", None):
        shape = tuple(built.inputs[0].shape[1:])
    if shape is None or None in shape:
        raise ValueError("give input_shape: the built model does not say its input's size")
    return tuple(shape)


class _Variable:
    """One weight in Keras's layout, named as Keras names it: what the PyTorch backend's porting reads."""

    def __init__(self, name: str, value):
        self.name, self.value = name, value

    def numpy(self):
        return self.value


def _to_torch(info, arrays: list, module) -> None:
    """Keras-layout weights into a module the PyTorch backend built, by its own porting table."""
    from cnndsl.backends import torch as backend

    names = [weight.name for weight in info.layer.type.weights(info.input_shape, info.layer.args)]

    class Layer:
        name = info.name
        weights = [_Variable(name, array) for name, array in zip(names, arrays)]

    Layer.__name__ = info.keras_class
    layer = Layer()
    if len(names) != len(arrays):
        raise ValueError(f"{info.name}: {len(arrays)} weights for the {len(names)} of {info.code}")
    import torch

    with torch.no_grad():
        backend._port_layer(layer, module)
