"""The PyTorch backend: a checked model becomes a ``torch.nn.Module`` equal to its Keras model.

Each layer code's entry declares its PyTorch build (``LayerType.torch``): constructor
calls as data (:class:`Call`), so that the PyTorch source emitter prints the very calls
this module builds, and how its Keras weights land in the built modules. Tensors are
channels-first inside; every place where PyTorch and Keras differ (TensorFlow's ``same``
padding, average pooling that does not count padding, batch-norm momentum, Keras's
flatten order, initialisers, Keras's broadcasting in merges) is handled in the entries'
builds, and a layer PyTorch cannot express exactly is refused with a located error.
This module walks the model generically; torch is imported only by :func:`build` and
:func:`port_weights`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cnndsl.errors import VALUE, Diagnostic, SpecValueError
from cnndsl.layers import LAYERS, LayerType
from cnndsl.layers.pytorch import ACTIVATION_MODULES, ON_AXIS, Call, Unsupported, activation, same_pads
from cnndsl.model import CheckedModel
from cnndsl.records import record

if TYPE_CHECKING:
    import keras
    import torch

__all__ = ["Call", "TABLE", "LayerPlan", "plan", "build", "port_weights", "parameter_counts", "activation", "same_pads"]

_ACTIVATIONS = ACTIVATION_MODULES
_ON_AXIS = ON_AXIS


def _refusal(entry: LayerType) -> Callable:
    def refuse(info) -> tuple[Call, ...]:
        raise Unsupported(f"{entry.code} is {entry.torch.refuse}")

    return refuse


TABLE: dict[str, Callable[..., tuple[Call, ...]]] = {
    code: entry.torch.build or _refusal(entry) for code, entry in LAYERS.items()
}
"""Layer code -> the PyTorch calls that compute what its Keras layer computes (each entry's declaration)."""


# --- the walk ------------------------------------------------------------------------------


@record
class LayerPlan:
    """One layer as PyTorch builds it: its Keras name, calls, inputs and spec text."""

    name: str
    calls: tuple[Call, ...]
    inputs: tuple[int, ...]
    text: str


def plan(model: CheckedModel, logits: bool = False) -> list[LayerPlan]:
    """Every layer's calls, in Keras's layer order; SpecValueError naming each layer PyTorch cannot build.

    With ``logits``, the head's softmax is left out: the module ends in logits, as
    ``nn.CrossEntropyLoss`` expects (it applies the softmax itself).
    """
    plans, problems = [], []
    for info in model.layers:
        entry = TABLE.get(info.code)
        try:
            if entry is None:
                raise Unsupported(f"no PyTorch entry for the layer code {info.code}")
            calls = entry(info)
            if logits and info.layer.head:
                calls = _without_softmax(calls)
            calls = calls or (Call("nn.Identity"),)
        except Unsupported as problem:
            message = f"{info.layer.text}: {problem}"
            problems.append(Diagnostic(VALUE, message, info.layer.span, code="torch-unsupported"))
            continue
        plans.append(LayerPlan(info.name, calls, tuple(info.inputs), info.layer.text))
    if problems:
        raise SpecValueError(problems, model.source)
    return plans


def _without_softmax(calls: tuple[Call, ...]) -> tuple[Call, ...]:
    """The head's calls, its closing softmax (or a binary or multi-label head's sigmoid, for ``BCEWithLogitsLoss``)
    an identity: the state dict's keys stay those of the softmax module."""
    if calls and calls[-1].name in (_ON_AXIS["softmax"], _ACTIVATIONS["sigmoid"][0]):
        return (*calls[:-1], Call("nn.Identity"))
    return calls


def build(model: CheckedModel, logits: bool = False) -> torch.nn.Module:
    """An ``nn.Sequential`` (straight stack) or a graph module computing what the Keras model computes.

    With ``logits``, the module ends before the head's softmax (see :func:`plan`).
    """
    from collections import OrderedDict

    from torch import nn

    plans = plan(model, logits)
    modules = OrderedDict((p.name, _instantiate(p.calls)) for p in plans)
    if not model.is_graph:
        built = nn.Sequential(modules)
    else:
        from cnndsl.backends.torch_modules import Graph, MultiInputGraph

        kind = MultiInputGraph if model.inputs else Graph
        built = kind(modules, [p.inputs for p in plans], model.output_sources if model.outputs else None)
    built.cnndsl_input_shape = model.input_shape[1:]  # what port_weights from a PyTorch source reads
    built.cnndsl_paths = block_paths(model)
    return built


def block_paths(model: CheckedModel) -> dict[str, str]:
    """Each layer a block code made (``CONV``, ``C2F``, ...), by its name (the built module's): its module path
    inside the block's call (``cv1.conv``, ``m.0.cv2.bn``), as the reference implementation names its modules.
    A built module holds it as ``cnndsl_paths``."""
    return {info.name: info.layer.path for info in model.layers if info.layer.path is not None}


def _instantiate(calls: tuple[Call, ...]) -> torch.nn.Module:
    from torch import nn

    modules = [_construct(call) for call in calls]
    return modules[0] if len(modules) == 1 else nn.Sequential(*modules)


_WRAPPERS = ("ChannelsLast", "ChannelsSecond")
"""Calls whose arguments are calls: the modules they wrap, to be constructed first."""


def _construct(call: Call) -> torch.nn.Module:
    from torch import nn

    from cnndsl.backends import torch_modules

    if call.name in _WRAPPERS:
        return getattr(torch_modules, call.name)(*(_construct(inner) for inner in call.args))
    owner, _, name = call.name.rpartition(".")
    cls = getattr(nn if owner == "nn" else torch_modules, name)
    return cls(*call.args, **dict(call.kwargs))


# --- weights ----------------------------------------------------------------------------------


def _entries_by_keras_class() -> dict[str, LayerType]:
    """Keras class name (each form's, and the classes it reads) -> the entry building it."""
    found = {}
    for entry in LAYERS.values():
        for form in entry.keras:
            for name in (form.name, *form.reads):
                found.setdefault(name, entry)
    return found


_BY_KERAS_CLASS = _entries_by_keras_class()

_PORTS: dict[str, Mapping[str, tuple[int, str, Callable[[Any], Any] | None]]] = {
    name: entry.torch.ports for name, entry in _BY_KERAS_CLASS.items() if entry.torch.ports
}
"""Keras class -> its weight names -> (which weighted PyTorch submodule, which tensor, how to lay it out)."""


def port_weights(source: keras.Model, built: torch.nn.Module) -> None:
    """Copy every weight of a Keras model into the PyTorch module built from the same spec.

    The i-th Keras layer (input layer aside) is the PyTorch module's i-th child, as both
    follow the checked model's layer order; a layer or weight with no counterpart, or a
    shape that differs, raises ValueError. From a PyTorch module (into the model built from
    its notation), port with :func:`cnndsl.port_weights`, which reads the module first.
    """
    import torch

    if isinstance(source, torch.nn.Module) or hasattr(source, "reading"):
        raise TypeError("port_weights here takes a Keras model; port from a PyTorch module with cnndsl.port_weights")
    keras_model, torch_model = source, built

    layers = [layer for layer in keras_model.layers if type(layer).__name__ != "InputLayer"]
    children = list(torch_model.children())
    if len(layers) != len(children):
        raise ValueError(f"the Keras model has {len(layers)} layers, the PyTorch model {len(children)}")
    with torch.no_grad():
        for layer, module in zip(layers, children):
            if layer.weights:
                _port_layer(layer, module)


def _port_layer(layer, module) -> None:
    entry = _BY_KERAS_CLASS.get(type(layer).__name__)
    if entry is None or not entry.torch.ports:
        raise ValueError(f"no way to port the weights of {layer.name} ({type(layer).__name__})")
    port_layer(entry, layer.name, layer.weights, module)


def port_layer(entry: LayerType, name: str, variables, module) -> None:
    """Keras-layout weights (each with ``.name`` and ``.numpy()``) into the module built for ``entry``.

    The holders are the built module's submodules whose class, or a base class, the entry
    names (a copy in emitted source is found by its name as the class itself).
    """
    holders = set(entry.torch.holders)
    weighted = [m for m in module.modules() if holders & {cls.__name__ for cls in type(m).__mro__}]
    for variable in variables:
        _port_one(name, variable, entry.torch.ports or {}, weighted)


def _port_one(name: str, variable, ports: Mapping, weighted: list) -> None:
    import numpy as np
    import torch

    short = variable.name.rpartition("/")[2]
    if short not in ports or ports[short][0] >= len(weighted):
        raise ValueError(f"no PyTorch counterpart for the weight {short!r} of {name}")
    index, attribute, layout = ports[short]
    value = np.asarray(variable.numpy())
    value = layout(value) if layout else value
    target = weighted[index]
    for part in attribute.split("."):  # a head's weights lie deeper: cv2.0.0.conv.weight
        target = getattr(target, part)
    if tuple(target.shape) != value.shape:
        raise ValueError(f"{name} {short}: Keras shape {value.shape} does not fit PyTorch's {tuple(target.shape)}")
    target.copy_(torch.from_numpy(value.copy()).to(target.dtype))


def parameter_counts(torch_model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, non-trainable) as Keras counts them.

    Every saved buffer is a Keras non-trainable weight (batch norm's running statistics, an
    adapted normalization's mean, variance and count) but PyTorch's own batch counter;
    a given normalization's constants are not saved, as Keras keeps them out of its weights.
    """
    trainable = sum(p.numel() for p in torch_model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in torch_model.parameters() if not p.requires_grad)
    saved = torch_model.state_dict(keep_vars=True)
    buffers = sum(
        buffer.numel()
        for name, buffer in torch_model.named_buffers()
        if name in saved and not name.endswith("num_batches_tracked")
    )
    return trainable, frozen + buffers
