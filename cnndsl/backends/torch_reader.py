"""Into the notation from PyTorch: an ``nn.Module``, traced with ``torch.fx``, as a canonical spec.

The PyTorch backend run backwards. The module is traced symbolically (never run on
data): ``torch.fx`` records every module call and every function ``forward`` calls
(``torch.cat``, ``+``, ``torch.flatten``, ``x.mean((2, 3))``), modules the tables
below name being leaves, as torchvision's feature extraction keeps them. Each
recorded call reads as a code through three tables (modules by type, functions,
tensor methods) as it is recorded, so that ``forward`` sees the sizes read so far
(``x.view(x.size(0), -1)``, the batch size kept unknown); shapes follow from the layer
table's own shape rules, and the layers go to the Keras reader's graph writer: one
writer for every model read.

Where PyTorch says what Keras does not, the reader writes it exactly: ``padding=1``
at stride 2 is a ``ZP`` before a ``valid`` convolution, a padded or ``ceil_mode``
pooling is ``MP``/``AP`` with ``pad=``, ``ceil=``, ``count_pad=``, batch-norm momentum
``m`` is the notation's ``1 - m``, a flatten of ``(C, H, W)`` is ``FL()`` whose next
dense layer's weights are reordered when they are ported. Anything else (an attention
block, data-dependent control flow, an activation with other constants) is one
:class:`~cnndsl.errors.UnsupportedModel` naming, for each construct refused, the module's
path and class, the operation, and the file and line of the ``forward`` it stands in. torch is imported here only; the package never imports user code, and
``from-torch``'s command imports only the module it is named.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnndsl.backends.keras_reader import KerasSpec, _Folded, write_graph
from cnndsl.backends.verify import postorder
from cnndsl.errors import ModelFileError, UnsupportedModel
from cnndsl.layers import LAYERS, ShapeProblem
from cnndsl.layers.pytorch import BATCH, NN, Batch, Parameter, Refused, Value, as_tensor, torch_sizes, with_extents
from cnndsl.layers.reshape import read_channel_slice
from cnndsl.tasks import CLASSIFY, LOGITS, Task, task_named, task_of_head

__all__ = [
    "from_torch", "port_weights", "read", "reading", "Reading", "TorchSpec", "Dropped", "load_module", "UnsupportedModel",
]  # fmt: skip

_TARGET = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class _Read(_Folded):
    """One layer read from a module: where it came from, and its weights in Keras's layout (for port_weights)."""

    path: str = ""
    weights: Callable[[], list] | None = field(default=None, compare=False)
    stands_for: str | None = None
    """The fx node whose tensor the layer's output is, where that is not the node it is named after; ``""``: none
    (a reshape read before an activation the module applies before it: :func:`_activation_last`)."""


_Value, _Refused, _Parameter = Value, Refused, Parameter
"""A tensor as the notation sees it, a refusal, a module's own tensor (shared with the entries' readings)."""


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dropped:
    """A module left out of the notation: none of its parameters reaches the output.

    GoogLeNet's and Inception v3's auxiliary classifiers are called in training only, so the
    model read (in inference) has none of their parameters.
    """

    path: str
    cls: str
    params: int

    def __str__(self) -> str:
        return f"{self.path} ({self.cls}): {self.params:,} parameters"


def read(
    module, input_shape: Sequence[int], task: Task = CLASSIFY
) -> tuple[list[_Read], dict[str, list[str | None]], int]:
    """The module's layers (the task's head last), who feeds whom, and the class count."""
    return _read(module, input_shape, task)[:3]


def _read(
    module, input_shape: Sequence[int], task: Task | None = CLASSIFY
) -> tuple[list[_Read], dict[str, list[str | None]], int, tuple[Dropped, ...], Task]:
    """:func:`read`'s answer, the modules whose parameters do not reach the output, and the task (None: the
    one the module's head says, :func:`_task_of`)."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise TypeError(
            f"from_torch reads a torch.nn.Module, not {type(module).__module__}.{type(module).__qualname__}"
        )
    shape = tuple(int(size) for size in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape is (height, width, channels), not {tuple(input_shape)}")
    reader = _Reader(module)
    graph, returned, values = _trace(module, reader, shape)
    end = _output(returned)
    result = _value_of(values, end)
    if not isinstance(result, _Value) or result.flat or result.last:
        raise UnsupportedModel("the module's output is not one tensor laid out as the notation's output (batch first)")
    result = _activation_last(reader, result)
    task = task if task is not None else _task_of(reader, result)
    if len(result.shape) != task.output_rank:
        told = "(batch, classes)" if task.output_rank == 2 else "(batch, classes, height, width)"
        raise UnsupportedModel(f"the module's output is not one {told} tensor: {task.ends_in}")
    layers, inbound = _finish(reader, result, task)
    return layers, inbound, result.shape[-1], _dropped(module, graph, end), task


def graph_of(module, input_shape: Sequence[int]):
    """The module's ``torch.fx`` graph as the reader records it for an input of ``input_shape`` (sizes read in
    ``forward`` are numbers in it, the batch :data:`~cnndsl.layers.pytorch.BATCH`): what verification runs."""
    return _trace(module, _Reader(module), tuple(input_shape))[0]


def _output(returned):
    """The fx node of what the module returns: the tensor, or a dictionary's ``'out'``.

    torchvision's segmentation models return ``{'out': ..., 'aux': ...}``; the notation has one
    output, the ``'out'`` entry (or a dictionary's only entry), and what feeds only the others
    is left out (:class:`Dropped`).
    """
    if not isinstance(returned, dict):
        return returned
    if "out" in returned:
        return returned["out"]
    if len(returned) == 1:
        return next(iter(returned.values()))
    keys = ", ".join(repr(key) for key in returned)
    raise UnsupportedModel(f"the module returns a dictionary of {keys}: the notation has one output, its 'out'")


def _dropped(module, graph, end=None) -> tuple[Dropped, ...]:
    """The outermost modules none of whose parameters the output depends on, in the module's order.

    The parameters reached are those of the modules called, and the tensors fetched, on some path
    to the output of the graph traced in inference (``end``: the node read as the output, a
    dictionary's ``'out'``); the rest were written nowhere.
    """
    from torch import fx

    output = end if isinstance(end, fx.Node) else next(node for node in graph.nodes if node.op == "output")
    reached: set[int] = set()
    seen, stack = set(), [output]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.op == "call_module":
            reached.update(id(param) for param in module.get_submodule(node.target).parameters())
        elif node.op == "get_attr":
            reached.add(id(_attribute(module, node.target)))
        stack.extend(node.all_input_nodes)
    dropped: list[Dropped] = []
    for path, sub in module.named_modules():
        params = list(sub.parameters())
        inside = any(path.startswith(f"{outer.path}.") for outer in dropped)
        if path and params and not inside and not any(id(param) in reached for param in params):
            dropped.append(Dropped(path, type(sub).__name__, sum(param.numel() for param in params)))
    return tuple(dropped)


@dataclass(frozen=True)
class Reading:
    """A module read once: its layers (the head last), who feeds whom, the class count, and the spec
    written from them with its checked model. :func:`from_torch` returns it with the text
    (``TorchSpec.reading``), and :func:`port_weights` given that spec ports from it without tracing
    or checking again (each layer's weights are read from the module when ported)."""

    module: Any
    input_shape: tuple[int, int, int]
    layers: list[_Read]
    inbound: dict[str, list[str | None]]
    classes: int
    text: str
    model: Any
    tree: Any = None
    """The text's syntax tree, parsed once: the checked model and the laid-out text both come from it."""
    dropped: tuple[Dropped, ...] = ()
    """The modules left out: none of their parameters reaches the output (:class:`Dropped`)."""
    task: Task = CLASSIFY
    """The task whose head the module ends in: the one asked for, else the one its head says."""


@dataclass(frozen=True)
class TorchSpec(KerasSpec):
    """What :func:`from_torch` returns: :class:`KerasSpec`'s text and class count, and the module's reading."""

    reading: Reading | None = field(default=None, compare=False, repr=False)

    @property
    def dropped(self) -> tuple[Dropped, ...]:
        """The modules the text leaves out, since none of their parameters reaches the output (GoogLeNet's
        auxiliary classifiers): each one's path, class and parameter count."""
        return self.reading.dropped if self.reading is not None else ()


def reading(module, input_shape: Sequence[int], task: Task | None = None) -> Reading:
    """The module traced and read once, its spec written and checked from the tree parsed once.

    ``task`` None: the task the module's head says (:func:`_task_of`)."""
    from cnndsl.checker import check_chain
    from cnndsl.errors import SpecError
    from cnndsl.syntax import parse

    layers, inbound, classes, dropped, task = _read(module, input_shape, task)
    shape = tuple(int(size) for size in input_shape)
    text = write_graph(layers, inbound, shape, classes, task)
    tree = parse(text)
    try:  # what is returned always checks: a setting out of bounds is said here
        model = check_chain(tree, text, task=task)
    except SpecError as error:
        raise UnsupportedModel(f"the notation read does not check: {error.diagnostics[0].message}") from None
    return Reading(module, shape, layers, inbound, classes, text, model, tree, dropped, task)


def from_torch(
    module, input_shape: Sequence[int] = (224, 224, 3), task: str | Task | None = None, verify: bool = True
) -> TorchSpec:
    """The canonical notation of a ``torch.nn.Module`` for an input of ``input_shape`` (height, width, channels).

    Returns what :func:`cnndsl.to_spec` returns: ``.text``, laid out as ``cnndsl fmt`` lays it out,
    and the head's ``.num_classes``; ``.reading``, which :func:`port_weights` reuses when given
    the spec instead of the module; and ``.dropped``, the modules none of whose parameters reaches
    the output (GoogLeNet's auxiliary classifiers), which the text leaves out and a UserWarning names;
    and ``.task``, the task whose head the module ends in. ``task`` (a name in :data:`cnndsl.tasks.TASKS`)
    says which head the module ends in; left out, its last layer says it: a ``Linear``'s logits are the
    logits task's, kept as written (``task="classify"`` appends the softmax ``nn.CrossEntropyLoss``
    applies as the head instead); a linear ``Linear(..., 1)`` is a binary classifier's logit; a sigmoid over
    one unit is binary, over several multi-label; a log-softmax is the logits task's (kept as written);
    any other output (a pooled convolution's scores) is classify's.
    UnsupportedModel (naming the module's path, class and the operation) for what the
    notation cannot write; TypeError for anything but a module. The reading verifies itself
    (:func:`cnndsl.backends.verify.verify_torch`: built, given the weights, run against the module):
    a layer whose output differs is an UnsupportedModel naming it; ``verify=False`` skips that.
    """
    from cnndsl.formatter import layout

    found = reading(module, input_shape, task_named(task) if task is not None else None)
    spec = TorchSpec(layout(found.tree) + "\n", found.classes, found.task.name, reading=found)
    if verify:
        from cnndsl.backends.verify import verify_torch

        verify_torch(spec, graph_of, port_weights)
    if found.dropped:
        import warnings

        left = "; ".join(map(str, found.dropped))
        warnings.warn(f"from_torch left out what does not reach the output: {left}", UserWarning, stacklevel=2)
    return spec


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
        told = f"{target}: no module named {error.name!r} on the module path"
        if error.name == name.partition(".")[0] and os.path.exists(name.replace(".", os.sep) + ".py"):
            told += f" (the current directory is not searched: PYTHONPATH=. cnndsl from-torch {target})"
        raise ModelFileError(told) from None
    except Exception as error:  # the module's own code failed: said in one line
        told = f"{target}: importing {name} failed: {type(error).__name__}: {_first(error)}"
        raise ModelFileError(told + _build_mismatch(error, torch.__version__)) from None
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


def _build_mismatch(error: Exception, torch_version: str) -> str:
    """Why torchvision failed to import when it was built for another torch, and the install that fixes it.

    torchvision's compiled operators (``torchvision::nms``) register only into the torch build
    its wheel was made for; against another build its import stops there. The versions come
    from the installed distributions' own files, never from importing torchvision again.
    "" when the failure is not torchvision's or its build matches torch's.
    """
    import importlib.metadata
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    if "torchvision" not in str(error) and not any("torchvision" in Path(f.filename).parts for f in frames):
        return ""
    try:
        vision = importlib.metadata.distribution("torchvision")
    except importlib.metadata.PackageNotFoundError:
        return ""
    wanted = next((m.group(1) for r in vision.requires or () if (m := _REQUIRES_TORCH.match(r))), None)
    torch_public, _, torch_tag = torch_version.partition("+")
    torch_tag = torch_tag or _torch_build()
    vision_tag = _vision_build(vision)
    if (vision_tag is None or vision_tag == torch_tag) and (wanted is None or wanted == torch_public):
        return ""
    made_for = f", made for torch {wanted}" if wanted else ""
    pair = f"torch=={wanted or torch_public}{{tag}} torchvision=={vision.version.partition('+')[0]}{{tag}}"
    if "+" in torch_version:  # a build from its own index, as torch's is
        install = (
            pair.format(tag=f"+{torch_tag}") + f" --index-url <the index of PyTorch's {_build_kind(torch_tag)} wheels>"
        )
    else:
        install = pair.format(tag="") + " from the index torch came from"
    return (
        f"; torchvision {vision.version} is {_build_name(vision_tag)}{made_for}, but torch is {torch_version}, "
        f"{_build_name(torch_tag)}: torchvision's compiled operators load only into the torch build they were "
        f"made for. Install the pair from one build: pip install {install}"
    )


_REQUIRES_TORCH = re.compile(r"torch\s*\(?\s*==\s*([\w.]+)")


def _torch_build() -> str:
    """The installed torch's build as a wheel's local tag (cpu, cu130, rocm6.4), from its version module."""
    from torch import version

    if version.cuda:
        return "cu" + version.cuda.replace(".", "")
    if version.hip:
        return "rocm" + ".".join(version.hip.split(".")[:2])
    return "cpu"


def _vision_build(vision) -> str | None:
    """torchvision's build (its version module's local tag, such as cu130), read from the file; None if unsaid."""
    try:
        text = Path(vision.locate_file("torchvision/version.py")).read_text()
    except OSError:
        text = ""
    found = re.search(r"__version__\s*=\s*['\"][^'\"+]*\+([\w.]+)['\"]", text)
    return found.group(1) if found else (vision.version.partition("+")[2] or None)


def _build_name(tag: str | None) -> str:
    """A local tag in words: cpu -> the CPU build (+cpu), cu130 -> the CUDA 13.0 build (+cu130)."""
    if tag is None:
        return "a build that does not say which"
    return f"the {_build_kind(tag)} build (+{tag})"


def _build_kind(tag: str) -> str:
    if tag == "cpu":
        return "CPU"
    if re.fullmatch(r"cu\d{3,}", tag):
        return f"CUDA {tag[2:-1]}.{tag[-1]}"
    if tag.startswith("rocm"):
        return f"ROCm {tag[4:]}"
    return f"+{tag}"


class _Unread:
    """What a refused node reads as: whatever is computed from it is left unread (its refusal says why)."""


_UNREAD = _Unread()


class _Stop(Exception):
    """Forward asked a size of what the reader could not read: the trace ends with the refusals so far."""


def _trace(module, reader: _Reader, shape: tuple) -> tuple[Any, Any, dict]:
    """The module's fx graph, each node read as it is recorded, and what its output reads as.

    Reading while tracing lets ``forward`` see static sizes: ``x.shape``, ``x.size(i)``,
    ``x.dim()`` are numbers from the shapes read so far, the batch size :data:`BATCH`, so
    that arithmetic on them, ``max``, ``math.ceil`` and ``if`` on sizes run as plain Python.
    A node the notation cannot say is a refusal naming its file and line; every such node
    is said, in graph order, and what is computed from it is left unread. A failure of the
    trace itself (data-dependent control flow) is one refusal naming the innermost module
    being traced and its line.
    """
    from torch import fx

    stack: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    values: dict[Any, Any] = {}
    problems: list[str] = []
    outcome: list = []

    places: list = []  # where forward asked for an attribute whose node fx records later

    class Proxy(fx.Proxy):
        def __getattr__(self, name: str):
            if name in _SIZE_ATTRIBUTES:
                value = values.get(self.node)
                if value is _UNREAD:
                    raise _Stop(name)
                if isinstance(value, _Parameter):  # a buffer's or a constant's size is its own
                    return _SIZE_ATTRIBUTES[name](tuple(value.tensor.shape))
                if isinstance(value, _Stacked):  # (batch, paths, C, H, W)
                    return _SIZE_ATTRIBUTES[name]((BATCH, len(value.values), *torch_sizes(value.values[0])[1:]))
                return _SIZE_ATTRIBUTES[name](with_extents(torch_sizes(value), value))
            return Attribute(self, name)

    class Attribute(fx.proxy.Attribute):
        def __init__(self, root, attr: str):
            super().__init__(root, attr)
            self.place = _user_frame()

        @property
        def node(self):
            places.append(self.place)
            try:
                return fx.proxy.Attribute.node.fget(self)
            finally:
                places.pop()

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

        def proxy(self, node):
            return Proxy(node, self)

        def create_arg(self, a):
            return a if isinstance(a, Batch) else super().create_arg(a)

        def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
            node = super().create_node(kind, target, args, kwargs, name, type_expr)
            if kind == "output":
                outcome.append(node.args[0])
            elif kind == "placeholder" and values and node.args:  # forward's argument left at its default
                values[node] = node.args[0]
            elif kind == "placeholder" and values:
                told = f"forward takes more than one input ({node.target!r} too)"
                problems.append(f"module '(top)' ({type(module).__name__}): {told}{_defined(module)}")
                values[node] = _UNREAD
            elif kind == "placeholder":
                values[node] = _Value(None, (None, *shape))
            elif any(values.get(feed) is _UNREAD for feed in node.all_input_nodes):
                values[node] = _UNREAD
            elif kind == "call_function" and _on_constants(target, [values[feed] for feed in node.all_input_nodes]):
                values[node] = target(*_value_of(values, node.args), **_value_of(values, node.kwargs))
            else:
                self.reading = True
                try:
                    values[node] = reader.node(node, values)
                except _Refused as problem:
                    problems.append(f"{_where(module, node)}: {problem}{_at(places[-1] if places else _user_frame())}")
                    values[node] = _UNREAD
                finally:
                    self.reading = False
            return node

        def getattr(self, attr, attr_val, parameter_proxy_cache):
            """A module's attribute as it is while the reader reads it, a proxy while forward runs."""
            if self.reading:
                return attr_val
            return super().getattr(attr, attr_val, parameter_proxy_cache)

    was_training = module.training
    module.eval()
    try:
        leaves = _leaf_functions()
        tracer = Tracer(autowrap_functions=tuple(function for _, function in leaves), param_shapes_constant=True)
        # A leaf called through its module (torchvision's quantizable ShuffleNet calls
        # ``shufflenetv2.channel_shuffle``) is met in that module, not in forward's globals: fx wraps the
        # functions it knows in the modules it searches, so those modules are searched too (where this torch's
        # fx keeps that list; elsewhere such a call is traced into, and refused as before).
        searched = getattr(tracer, "_autowrap_search", None)
        if isinstance(searched, list):
            searched += [owner for owner, _ in leaves]
        tracer.reading = False
        graph = tracer.trace(module, concrete_args=_defaults(module))
    except (_Stop, _Refused) as error:  # a size of what was refused, or the batch size used as a number
        if isinstance(error, _Refused):
            path, cls = failed[0] if failed else ("", type(module).__name__)
            problems.append(f"module {path or '(top)'!r} ({cls}): {error}{_at(_frame_of(error))}")
        raise UnsupportedModel("\n".join(problems or [f"a size of what was not read: {error}"])) from None
    except Exception as error:  # fx raises many kinds (TraceError, TypeError, ...) on what it cannot trace
        path, cls = failed[0] if failed else ("", type(module).__name__)
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        kind = "data-dependent control flow" if "control flow" in first else "an operation torch.fx cannot trace"
        raise UnsupportedModel(
            f"module {path or '(top)'!r} ({cls}): {kind} ({first}); the notation cannot hold it{_at(_frame_of(error))}"
        ) from None
    finally:
        module.train(was_training)
    if problems:
        raise UnsupportedModel("\n".join(problems))
    return graph, outcome[0] if outcome else None, values


def _defaults(module) -> dict[str, Any] | None:
    """forward's arguments after the input that have defaults (``targets=None``): traced at those values."""
    import inspect

    try:
        parameters = list(inspect.signature(module.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    found = {p.name: p.default for p in parameters if p.kind in plain and p.default is not inspect.Parameter.empty}
    return found or None


def _on_constants(target, inputs: list) -> bool:
    """A check fx records on a default it traced at (``targets is None``, ``scale == 1.0``), on no tensor."""
    from torch import _assert
    from torch.fx._symbolic_trace import _assert_is_none

    checks = target in (_assert, _assert_is_none) or getattr(target, "__module__", None) == "_operator"
    return checks and not any(isinstance(value, _Value | _Parameter | _Stacked) for value in inputs)


_SIZE_ATTRIBUTES: dict[str, Callable] = {
    "shape": lambda sizes: sizes,
    "ndim": len,
    "size": lambda sizes: lambda dim=None: sizes if dim is None else sizes[dim],
    "dim": lambda sizes: lambda: len(sizes),
    "ndimension": lambda sizes: lambda: len(sizes),
}
"""What forward may ask of a tensor's size while it is traced, answered from the shapes read so far."""


def _user_frame():
    """The innermost frame of the model's own code on the stack now: outside torch and cnndsl."""
    import sys

    frame = sys._getframe(1)
    while frame is not None and _ours(frame.f_code.co_filename):
        frame = frame.f_back
    return None if frame is None else (frame.f_code.co_filename, frame.f_lineno)


def _frame_of(error: BaseException):
    """The innermost frame of the model's own code where ``error`` was raised."""
    import traceback

    frames = [f for f in traceback.extract_tb(error.__traceback__) if not _ours(f.filename)]
    return (frames[-1].filename, frames[-1].lineno) if frames else None


@functools.lru_cache(maxsize=4096)
def _ours(filename: str) -> bool:
    """A file of torch, of cnndsl, or of Python's standard library: never where a model's construct stands."""
    import os

    name = os.path.abspath(filename)
    inside = [root for root in _own_roots() if name.startswith(root + os.sep)]
    return filename.startswith("<") or (
        bool(inside) and os.sep + "site-packages" + os.sep not in name[len(inside[0]) :]
    )


def _own_roots() -> list[str]:
    if not _OWN_ROOTS:
        import os
        import sysconfig

        import torch

        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        _OWN_ROOTS.extend([os.path.dirname(os.path.abspath(torch.__file__)), here, sysconfig.get_paths()["stdlib"]])
    return _OWN_ROOTS


_OWN_ROOTS: list[str] = []


def _at(place) -> str:
    """`` (at model.py:12: x = x.view(4, -1))``: the file, line and text of the model's code, or ""."""
    import linecache
    import os

    if place is None:
        return ""
    filename, line = place
    shown = os.path.relpath(filename) if not os.path.relpath(filename).startswith("..") else filename
    code = linecache.getline(filename, line).strip()
    return f" (at {shown}:{line}{': ' + code if code else ''})"


def _defined(module) -> str:
    """Where the module's forward is defined, as :func:`_at` says it."""
    import inspect

    forward = type(module).forward
    try:
        return _at((inspect.getsourcefile(forward), inspect.getsourcelines(forward)[1]))
    except (OSError, TypeError):
        return ""


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
    if target is getattr and len(node.args) == 2:  # x.foo: the attribute is what forward asked for
        return f"getattr({node.args[0]}, {node.args[1]!r})"
    owner = {"_operator": "operator"}.get(getattr(target, "__module__", None), getattr(target, "__module__", None))
    return f"{owner or 'builtins'}.{getattr(target, '__name__', str(target))}"


def _value_of(values: Mapping, argument):
    """An fx argument with each node replaced by what it reads as (lists, tuples and dictionaries kept:
    ``F.interpolate(x, size=y.shape[-2:])`` passes a node as a keyword's value)."""
    from torch import fx

    if isinstance(argument, fx.Node):
        return values[argument]
    if isinstance(argument, list | tuple):
        return type(argument)(_value_of(values, item) for item in argument)
    if isinstance(argument, dict):
        return {key: _value_of(values, item) for key, item in argument.items()}
    return argument


class _Reader:
    """The layers read so far, each with its inputs; one method per kind of fx node."""

    def __init__(self, module):
        self.module = module
        self.layers: dict[str, _Read] = {}
        self.inbound: dict[str, list[str | None]] = {}
        self.shapes: dict[str | None, tuple] = {}
        """Each layer's output shape, channels last."""
        self.node_name = ""
        self.path = ""
        self.cls = ""
        self.reordered: set[str] = set()

    def node(self, node, values: Mapping):
        self.node_name = node.name
        stack = node.meta.get("nn_module_stack") or {}
        self.path = node.target if node.op == "call_module" else (list(stack.values())[-1][0] if stack else "")
        self.cls = _where(self.module, node).partition("(")[2].partition(")")[0]
        args = _value_of(values, node.args)
        kwargs = _value_of(values, node.kwargs)
        if node.op == "get_attr":
            import torch

            tensor = _attribute(self.module, node.target)
            return _Parameter(tensor, isinstance(tensor, torch.nn.Parameter))
        stacked = _read_stacked(self, node, args, kwargs)
        if stacked is not None:
            return stacked
        if node.op == "call_module":
            module = self.module.get_submodule(node.target)
            entry = _module_entry(module)
            if entry is None:
                raise _Refused(_no_code(type(module).__name__))
            return _called(entry, self, module, *args, **kwargs)
        if node.op == "call_function":
            entry = _function_entry(node.target)
            if entry is None:
                raise _Refused(_no_code(getattr(node.target, "__name__", "")))
            return _called(entry, self, *args, **kwargs)
        if node.op == "call_method":
            entry = _METHODS.get(node.target)
            if entry is None:
                raise _Refused(_no_code(node.target))
            return _called(entry, self, *args, **kwargs)
        raise _Refused(f"an fx node of kind {node.op!r} has no code in the notation")

    def reorder_units(self, value: _Value, order: Sequence[int], consumer: str) -> str | None:
        """Make the ``Linear`` computing ``value`` (through a batch norm, dropout or activation of its units) write
        its units in ``order`` (unit ``i`` is the old ``order[i]``), so that ``consumer``, a reshape of PyTorch's
        (C, H, W) order read as the notation's (H, W, C), gets the same values; None, or why it cannot.

        Every layer on the way must feed only the next (and, at last, ``consumer``): another use would
        see the units reordered. Later uses are refused by :meth:`add`.
        """
        walked, name, nxt = [], value.name, consumer
        while True:
            layer = self.layers.get(name)
            if layer is None:
                return "the values come from no Linear"
            if any(name in inputs for user, inputs in self.inbound.items() if user != nxt):
                return f"the output of {layer.path or name} is used elsewhere too"
            walked.append(name)
            if layer.code == "DN":
                break
            if layer.code not in ("ACT", "BN", "DP") or len(self.inbound[name]) != 1:
                return f"{layer.code} stands between the Linear and the reshape"
            name, nxt = self.inbound[name][0], name
        for name in walked:
            layer = self.layers[name]
            if layer.weights is not None:
                self.layers[name] = dataclasses.replace(layer, weights=_units_in(layer.weights, layer.code, order))
        self.reordered.update(walked)
        return None

    def add(self, code: str, args: Mapping, inputs: Sequence[_Value], weights=None, suffix: str = "", **kept) -> _Value:
        """A layer of ``code`` on ``inputs``: its arguments resolved, its output's shape from the layer table."""
        kind = LAYERS[code]
        if any(value.name in self.reordered for value in inputs):
            raise _Refused(
                "a Linear's output reshaped to (C, H, W) is used again (its units are reordered for the reshape)"
            )
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
        self.shapes[name] = shape
        return _Value(name, shape, **kept)


@dataclass(frozen=True)
class _Stacked:
    """``torch.stack(tensors, dim=1)``: tensors of one shape along a new axis after the batch (SKNet's paths),
    each followed as the tensor it is, until what is computed from them is one tensor again."""

    values: tuple
    made: str = "torch.stack on dim 1"
    """How forward made it, for a refusal: ``torch.stack`` or a view cutting the channels."""


def _stack_uses(stacked) -> str:
    """The refusal for what a stack goes on into: what it may go into instead."""
    made = stacked.made if isinstance(stacked, _Stacked) else "torch.stack on dim 1"
    return (
        f"a stack of tensors ({made}) reads only into sum(1), a sum or product of two stacks, "
        "softmax(dim=1) of two, or a view folding it into the channels"
    )


def _read_stacked(reader: _Reader, node, args, kwargs):
    """SKNet's selective kernel, as the notation says it; None where no stack is involved.

    ``torch.stack(xs, dim=1)`` holds its tensors apart; ``x.view(b, n, c // n, h, w)`` cuts a tensor's channels
    into such a stack (``SL``). On a stack: ``sum(1)`` is ``ADD`` of its tensors, ``a * b`` and ``a + b`` are
    ``MUL`` and ``ADD`` path by path, ``softmax(dim=1)`` of two paths is ``sigmoid(a - b)`` and ``sigmoid(b - a)``
    (``ADD(.., scale=-1)`` then ``ACT(sigmoid)``), and a view to ``(b, n * c, h, w)`` (or ``flatten(1, 2)``) is
    ``CAT`` of its tensors on the channels. Anything else done to a stack is refused, naming these.
    """
    import operator

    import torch

    given = [*args, *kwargs.values()]
    listed = [item for value in given for item in (value if isinstance(value, list | tuple) else (value,))]
    target = node.target
    if node.op == "call_function" and target is torch.stack:
        return _stack(reader, *args, **kwargs)
    if node.op == "call_method" and target in ("view", "reshape") and args and isinstance(args[0], _Value):
        sizes = tuple(args[1][0]) if len(args) == 2 and isinstance(args[1], list | tuple) else tuple(args[1:])
        if len(sizes) == 5:
            return _paths_of_channels(reader, args[0], sizes)
    if not any(isinstance(value, _Stacked) for value in listed):
        return None
    stacked = next(value for value in listed if isinstance(value, _Stacked))
    if node.op == "call_module":
        raise _Refused(_stack_uses(stacked))
    name = target if node.op == "call_method" else getattr(target, "__name__", "")
    first = args[0] if args else None
    if name == "sum" and isinstance(first, _Stacked) and not kwargs.get("keepdim", False):
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        if dim in (1, -4) or dim == (1,):
            values = first.values
            return values[0] if len(values) == 1 else reader.add("ADD", {"scale": 1.0}, list(values), suffix="_paths")
    if target in (operator.mul, operator.add, torch.mul, torch.add, "mul", "add") and len(args) == 2 and not kwargs:
        left, right = args
        if isinstance(left, _Stacked) and isinstance(right, _Stacked) and len(left.values) == len(right.values):
            code = "MUL" if name == "mul" else "ADD"
            extra = {} if code == "MUL" else {"scale": 1.0}
            return _Stacked(tuple(reader.add(code, extra, [a, b], suffix=f"_path{i}")
                                  for i, (a, b) in enumerate(zip(left.values, right.values))))  # fmt: skip
    if name == "softmax" and isinstance(first, _Stacked):
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        if dim in (1, -4) and len(first.values) == 2:
            a, b = first.values
            weights = []
            for i, (mine, other) in enumerate(((a, b), (b, a))):
                difference = reader.add("ADD", {"scale": -1.0}, [mine, other], suffix=f"_less{i}")
                weights.append(reader.add("ACT", {"name": "sigmoid"}, [difference], suffix=f"_path{i}"))
            return _Stacked(tuple(weights))
        if dim in (1, -4):
            raise _Refused(f"softmax over {len(first.values)} stacked tensors: only two have notation "
                           "(the sigmoid of their difference)")  # fmt: skip
    if name in ("view", "reshape", "flatten") and isinstance(first, _Stacked):
        values = first.values
        channels, height, width = torch_sizes(values[0])[1:]
        if name == "flatten":
            folded = tuple(args[1:]) == (1, 2) or (kwargs.get("start_dim"), kwargs.get("end_dim")) == (1, 2)
        else:
            sizes = tuple(args[1]) if len(args) == 2 and isinstance(args[1], list | tuple) else tuple(args[1:])
            folded = len(sizes) == 4 and tuple(sizes[2:]) == (height, width)
            folded = folded and sizes[1] in (len(values) * channels, -1)
            folded = folded and (sizes[0] is BATCH or sizes[0] == -1)
        if folded:
            return reader.add("CAT", {"axis": -1}, list(values), suffix="_paths")
    if name == "transpose" and isinstance(first, _Stacked) and stacked.made != "torch.stack on dim 1":
        raise _Refused(f"{_stack_uses(stacked)}; a view, transpose(1, 2) and view back is a channel shuffle: SHF")
    raise _Refused(_stack_uses(stacked))


def _stack(reader: _Reader, tensors, dim: int = 0):
    values = tuple(as_tensor(value) for value in tensors)
    rank = len(values[0].shape) if values else 0
    if rank != 4 or dim not in (1, -4) or any(v.shape != values[0].shape or v.last or v.flat for v in values):
        raise _Refused(
            f"stacking {len(values)} tensors on dim {dim}: the notation follows a stack of images of one shape "
            "on dim 1 (into sum(1), softmax(dim=1) of two, or a view folding it into the channels: ADD, CAT)"
        )
    return _Stacked(values)


def _paths_of_channels(reader: _Reader, x: _Value, sizes: tuple):
    """``x.view(b, n, c // n, h, w)``: a tensor's channels cut into a stack of ``n`` (SLs)."""
    held = torch_sizes(x) if len(x.shape) == 4 and not x.last and not x.flat else None
    if held is None or not (sizes[0] is BATCH or sizes[0] == -1):
        raise _Refused(f"reshaping to {sizes}: a view to five axes reads only as a 4-D tensor's channels cut in parts")
    channels, height, width = held[1:]
    parts, size = sizes[1], sizes[2]
    if (parts == -1) + (size == -1) > 1 or tuple(sizes[3:]) != (height, width):
        raise _Refused(f"reshaping (batch, {channels}, {height}, {width}) to {sizes}: only the channels are cut")
    parts = channels // size if parts == -1 else parts
    size = channels // parts if size == -1 else size
    if parts * size != channels:
        raise _Refused(f"reshaping {channels} channels to {parts} parts of {size}")
    return _Stacked(tuple(reader.add("SL", {"start": i * size, "stop": (i + 1) * size}, [x], suffix=f"_path{i}")
                          for i in range(parts)), f"x.view(b, {parts}, {size}, h, w)")  # fmt: skip


def _units_in(weights: Callable[[], list], code: str, order: Sequence[int]) -> Callable[[], list]:
    """A layer's weights (Keras's layout) with its output units in ``order``: a Dense's kernel columns and bias,
    a batch norm's every vector."""

    def reordered() -> list:
        arrays = weights()
        if code == "DN":
            return [arrays[0][:, list(order)], *(array[list(order)] for array in arrays[1:])]
        return [array[list(order)] for array in arrays]

    return reordered


def _called(entry: Callable, *args, **kwargs):
    """A reading called with forward's arguments; arguments it does not take are a refusal, not a crash."""
    import inspect

    try:
        signature = inspect.signature(entry)
    except ValueError:  # no signature to check against: the reading itself says what it takes
        return entry(*args, **kwargs)
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        raise _Refused(f"called with arguments the notation's reading does not take ({error})") from None
    return entry(*args, **kwargs)


_NEAR = {
    "unsqueeze": "RS reshapes: x.view(x.size(0), ...)",
    "Unflatten": "RS reshapes: x.view(x.size(0), ...)",
    "stack": "CAT joins an axis the tensors have: torch.cat",
    "transpose": "permute(0, 2, 3, 1) and back, around a layer norm or a Linear",
    "expand_as": "MUL and ADD broadcast as NumPy does: x * y",
    "expand": "MUL and ADD broadcast as NumPy does: x * y",
}
"""What forward calls that has no code, and the notation's near code, where there is one."""


def _no_code(name: str) -> str:
    near = _NEAR.get(name)
    return "has no code in the notation" + (f"; the notation's near code: {near}" if near else "")


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
    for param in LAYERS[code].params:
        if param.same_as is not None and args[param.name] is None:
            args[param.name] = args[param.same_as]
    return args


# --- the finished graph: head, pruning, folding --------------------------------------------------


def _other_head(reader: _Reader, result: _Value, task: Task) -> str:
    """A hint naming the task whose head the module's output is, where that is another task."""
    other = _task_of(reader, result)
    head = reader.layers.get(result.name) if result.name else None
    if other is task or (
        other is CLASSIFY and (head is None or task_of_head(head.code, head.args, result.shape) is None)
    ):
        return ""
    return f"; it ends in the head of the {other.name} task ({other.summary}): read it with --task {other.name}"


_SHAPE_ONLY = frozenset({"FL", "RS"})
"""Codes that move values without changing any: an elementwise activation computes the same before or after them."""
_ALONG_AXIS = frozenset({"softmax", "log_softmax", "sparsemax"})
"""Activations computed along the last axis, not value by value: the same after a reshape only where it keeps
that axis and every other one but the batch is 1."""
_PROBABILITIES = frozenset({"softmax", "log_softmax", "sigmoid", "sparsemax"})
"""Activations that make a head's output: a task appends none after them."""


def _activation_last(reader: _Reader, result: _Value) -> _Value:
    """The output with a head's activation that only reshapes follow read last, where nothing else uses what
    lies between and the activation computes the same after them.

    DCGAN's discriminator ends in ``nn.Sigmoid()`` over ``(N, 1, 1, 1)`` and then ``view(-1, 1)``:
    read as written, the output is a flatten, which no task takes as its head (and the classifier
    would append a softmax over one probability). ``sigmoid`` then ``FL()`` computes the same values
    as ``FL()`` then ``sigmoid``, so the activation is moved after the reshapes, where it is the head
    of the task it says; so is a softmax over ``(N, C, 1, 1)``'s channels before a flatten to
    ``(N, C)``. The other layers' order, and what each computes, is unchanged.
    """
    layers, inbound = reader.layers, reader.inbound
    found = _reshaped_head(reader, result)
    if found is None or len(_users(inbound, found[1].name)) != 1:
        return result
    shaped, activation = found
    name = activation.name
    if activation.args["name"] in _ALONG_AXIS:
        before = reader.shapes.get(name, ())
        if not before or any(size != 1 for size in before[1:-1]) or before[-1] != result.shape[-1]:
            return result
    inbound[shaped[-1]] = inbound[name]  # the first reshape takes what the activation took
    inbound[name] = [result.name]  # and the activation takes the last reshape's output
    for reshape in shaped:  # values the module never holds: verification compares what follows them
        layers[reshape] = dataclasses.replace(layers[reshape], stands_for="")
    layers[name] = dataclasses.replace(layers.pop(name), stands_for=result.name)  # the output, written last
    inbound[name] = inbound.pop(name)
    return _Value(name, result.shape, result.last, result.flat)


def _reshapes(reader: _Reader, result: _Value) -> tuple[list[str], str | None]:
    """The reshapes the output ends in, last first, each used only by the next; and the layer before them."""
    layers, inbound = reader.layers, reader.inbound
    shaped, name = [], result.name
    while (
        name in layers
        and layers[name].code in _SHAPE_ONLY
        and len(inbound[name]) == 1
        and len(_users(inbound, name)) == (0 if name == result.name else 1)
    ):
        shaped.append(name)
        name = inbound[name][0]
    return shaped, name


def _reshaped_head(reader: _Reader, result: _Value) -> tuple[list[str], _Read] | None:
    """The reshapes the output ends in (last first) and the head's activation (a softmax, a sigmoid) before
    them; None where the output is no reshape of one."""
    shaped, name = _reshapes(reader, result)
    layer = reader.layers.get(name) if shaped else None
    if layer is None or layer.code != "ACT" or layer.args["name"] not in _PROBABILITIES:
        return None  # a hidden activation stays where it is written
    return shaped, layer


def _task_of(reader: _Reader, result: _Value) -> Task:
    """The task a module's output says: its last layer's (a sigmoid: binary or multi-label; a ``Linear`` or a
    log-softmax: logits, kept as written); any other output is classify's, which appends the softmax."""
    head = reader.layers.get(result.name) if result.name else None
    task = task_of_head(head.code, head.args, result.shape) if head is not None else None
    return CLASSIFY if task is None else task


def _finish(reader: _Reader, result: _Value, task: Task) -> tuple[list[_Read], dict[str, list[str | None]]]:
    """The layers that reach the output, the task's head last (the logits' softmax), joins nested, activations folded."""
    layers, inbound = dict(reader.layers), {name: list(feeds) for name, feeds in reader.inbound.items()}
    head = layers.get(result.name) if result.name else None
    args = task.head_of_logits(head.code, head.args) if head is not None else None
    if args is not None and (args == head.args or _users(inbound, head.name) == []):  # its users see it unchanged
        layers[head.name] = _replace(head, **args)
        end = head.name
    elif task.logits_activation is None:
        raise UnsupportedModel(
            f"the module's output is not its head: {task.ends_in}{_other_head(reader, result, task)}"
        )
    elif (other := _task_of(reader, result)) not in (CLASSIFY, LOGITS, task):  # a sigmoid's probabilities: no logits
        raise UnsupportedModel(
            f"the module's output is the head of the {other.name} task ({other.summary}), not logits to append "
            f"a {task.logits_activation} to: read it with --task {other.name}"
        )
    elif (reshaped := _reshaped_head(reader, result)) is not None:
        probabilities = reshaped[1].args["name"]
        raise UnsupportedModel(
            f"the module's output is a reshape of a {probabilities}'s output, not logits to append a "
            f"{task.logits_activation} to, and the {probabilities} computes otherwise after the reshape: "
            f"{task.ends_in}"
        )
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
    return dataclasses.replace(layer, args={**layer.args, **args})


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


_ACTIVATED = frozenset(code for code, entry in LAYERS.items() if "activation" in entry.param_names)
"""Codes with an activation argument: a following ACT that is their only user folds into it."""


def _only_named(layer: _Read) -> bool:
    """An ACT that its name says whole (``activation=`` can say it): its other arguments at their defaults."""
    defaults = {param.name: param.default for param in LAYERS["ACT"].params}
    return layer.code == "ACT" and all(value == defaults[key] for key, value in layer.args.items() if key != "name")


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
        if layer.code in _ACTIVATED and layer.args["activation"] == "linear" and _only_named(user):
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


# --- the tables: every entry's readings, and the layout changes that are no code ------------------
# A layer code's readings are declared in its entry (``LayerType.torch``); what remains here is
# what PyTorch has and the notation does not: tensors held channels last, indexing a tuple.


def _permute(reader, x, *dims) -> Value:
    x = as_tensor(x)
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], list | tuple) else dims
    dims = tuple(d % 4 for d in dims)
    if len(x.shape) == 4 and dims == (0, 2, 3, 1) and not x.last:
        return Value(x.name, x.shape, last=True)
    if len(x.shape) == 4 and dims == (0, 3, 1, 2) and x.last:
        return Value(x.name, x.shape, last=False)
    raise Refused(f"permute{dims}: the notation moves only the channels, last and back")


def _permute_module(reader, module, x) -> Value:
    return _permute(reader, x, tuple(module.dims))


def _identity(reader, module_or_x, *rest, **kwargs):
    return rest[0] if rest and not isinstance(module_or_x, _Value) else module_or_x


def _getitem(reader, sequence, index):
    """An item of what forward holds that is no tensor: a tuple or list of tensors, a dict of them."""
    if isinstance(sequence, tuple | list) and isinstance(index, int | slice):
        return sequence[index]
    if isinstance(sequence, Mapping) and index in sequence:
        return sequence[index]
    if isinstance(sequence, Mapping):
        raise Refused(f"the dict has no key {index!r}")
    if isinstance(sequence, Value):
        return read_channel_slice(reader, sequence, index)
    raise Refused("indexing a tensor has no notation")


_LAYOUT_MODULES: dict[str, Callable] = {
    NN + "linear.Identity": _identity,
    "torchvision.ops.misc.Permute": _permute_module,
}
_LAYOUT_FUNCTIONS: dict[str, Callable] = {"torch.permute": _permute, "operator.getitem": _getitem}
_LAYOUT_METHODS: dict[str, Callable] = {"permute": _permute, "contiguous": _identity}


def _readings() -> tuple[dict[str, Callable], dict[str, Callable], dict[str, Callable]]:
    """(modules by qualified class name, functions by qualified name, tensor methods by name) -> their reading."""
    modules, functions, methods = dict(_LAYOUT_MODULES), dict(_LAYOUT_FUNCTIONS), dict(_LAYOUT_METHODS)
    for entry in LAYERS.values():
        modules.update(entry.torch.modules)
        functions.update(entry.torch.functions)
        methods.update(entry.torch.methods)
    return modules, functions, methods


_MODULES, _FUNCTION_NAMES, _METHODS = _readings()
_FUNCTIONS: dict[Any, Callable] = {}
"""torch's and Python's own functions (by the object) -> their reading."""
_LEAF_FUNCTIONS: dict[str, Callable] = {}
"""Functions of model libraries read whole (fx would trace into their arithmetic on sizes), by qualified name."""


def _leaf_functions() -> list[tuple[Any, Callable]]:
    """The functions of :data:`_LEAF_FUNCTIONS` whose modules are imported (this never imports one), each with
    its module."""
    import sys

    found = []
    for qualified in _LEAF_FUNCTIONS:
        owner, _, name = qualified.rpartition(".")
        module = sys.modules.get(owner)
        function = getattr(module, name, None)
        if function is not None:
            found.append((module, function))
    return found


def _function_entry(target) -> Callable | None:
    entry = _FUNCTIONS.get(target)
    if entry is None and callable(target):
        entry = _LEAF_FUNCTIONS.get(f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}")
    return entry


def _module_entry(module) -> Callable | None:
    """The reading of a module, found by its class (or a base class of it whose ``forward`` it keeps);
    None: trace into it. A subclass that computes otherwise (its own ``forward``) is never read as its base."""
    for cls in type(module).__mro__:
        entry = _MODULES.get(f"{cls.__module__}.{cls.__qualname__}")
        if entry is not None:
            return entry if type(module).forward is cls.forward else None
    return None


def _load_tables() -> None:
    """torch's functions by the object (this module imports torch); a model library's by name, never imported."""
    import torch

    roots = {"torch": torch, "operator": operator}
    for qualified, reading in _FUNCTION_NAMES.items():
        root, *path = qualified.split(".")
        if root not in roots:
            _LEAF_FUNCTIONS[qualified] = reading
            continue
        found = roots[root]
        for part in path:
            found = getattr(found, part)
        _FUNCTIONS[found] = reading


_load_tables()


# --- weights ---------------------------------------------------------------------------------------


def port_weights(source, built, input_shape: Sequence[int] | None = None) -> None:
    """Copy a PyTorch module's weights into the model ``compile_spec`` built from its notation;
    or a Keras model's into the PyTorch module built from the same spec
    (:func:`cnndsl.backends.torch.port_weights`).

    ``built`` is the ``torch.nn.Module`` (``backend="torch"``) or the Keras model that
    ``compile_spec(spec.text, task=spec.task)`` returns for ``spec = from_torch(source, input_shape)``; the
    input shape is read from a Keras model, and given with ``input_shape`` for a PyTorch one (else read from
    the module, which records it). ``source`` may be what :func:`from_torch` returned: its reading is
    ported without tracing the module again. ValueError where a layer or a weight does not correspond.
    From an Ultralytics model (``YOLO(...).model``) into the model built from its model file, weights
    port by module path (:func:`cnndsl.backends.yolo_weights.port_yolo`).
    """
    from cnndsl.backends.yolo_weights import is_ultralytics, port_yolo

    if is_ultralytics(source):  # an Ultralytics model, into the model built from its model file: by module path
        return port_yolo(source, built)
    if any(cls.__module__.startswith("keras.") for cls in type(source).__mro__):
        from cnndsl.backends.torch import port_weights as from_keras

        return from_keras(source, built)
    found = getattr(source, "reading", None) if isinstance(source, TorchSpec) else None
    if found is None:
        if input_shape is None:
            input_shape = _built_input_shape(built)
        found = reading(source, input_shape)
    elif input_shape is not None and tuple(input_shape) != found.input_shape:
        raise ValueError(f"the spec was read for an input of {found.input_shape}, not {tuple(input_shape)}")
    layers, inbound, model = found.layers, found.inbound, found.model
    mine = postorder(layers[-1].name, lambda name: inbound[name])
    theirs = postorder(len(model.layers) - 1, lambda index: [i for i in model.layers[index].inputs if i >= 0])
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
    """Keras-layout weights into a module the PyTorch backend built, by its entry's porting declaration."""
    import torch

    from cnndsl.backends.torch import port_layer

    names = [weight.name for weight in info.layer.type.weights(info.input_shape, info.layer.args)]
    if len(names) != len(arrays):
        raise ValueError(f"{info.name}: {len(arrays)} weights for the {len(names)} of {info.code}")
    with torch.no_grad():
        port_layer(info.layer.type, info.name, [_Variable(name, array) for name, array in zip(names, arrays)], module)
