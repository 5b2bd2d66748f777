"""A reading checks itself: the spec read, built in the source's own framework, computes what the source computes.

Both readers end here before they return a spec. The checked model of the text is built
by the source's framework (the PyTorch backend for a module, the Keras backend for a
Keras model), given the source's weights (batch norms' running statistics included) by
the same porting that :func:`cnndsl.port_weights` does, and both run in inference on one
seeded random input (values drawn from a standard normal; a batch of two for a module, at
which the graph the reader recorded runs and a ``squeeze()`` keeps the batch axis; of one
for a Keras model). Every layer's
output is compared with the source's tensor it stands for, in graph order; the first
layer whose output differs, beyond :data:`RTOL` of the source tensor's largest absolute
value (plus :data:`ATOL`), is an :class:`~cnndsl.errors.UnsupportedModel` naming it and
the size of the difference. A layer the source computes no tensor for (the ``ZP`` a
padded convolution reads as) is compared through the layers after it; the model's output
always is.

Which tensor of the source a layer stands for: in PyTorch the torch.fx node the layer is
named after (a reading names its layers after the nodes they come from), or a node after
it that the reading folded into it (``CN(..., activation=relu)`` is the convolution and
its ReLU), held channels first or last, flattened in either order; in Keras the layer of
the same name (a nested ``Sequential``'s layers by running it layer by layer). A module
whose output is logits is read with the task's head on them (``softmax(logits)``): the
last layer is compared with the head applied to the module's output, unless the module
applies it itself.

torch and keras are imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import math
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnndsl.errors import UnsupportedModel
from cnndsl.layers.pytorch import BATCH

__all__ = ["RTOL", "ATOL", "SEED", "Difference", "Verified", "verify_torch", "verify_keras"]

RTOL = 1e-4
"""The difference allowed, as a fraction of the largest absolute value of the source's tensor (float32 sums)."""
ATOL = 1e-7
"""The difference allowed besides, for a tensor that is (nearly) all zeros."""
SEED = 0
"""The seed of the input both models run on."""


@dataclass(frozen=True)
class Difference:
    """How far a built layer's output is from the source's tensor: the largest absolute difference, the source's scale."""

    largest: float
    scale: float

    @property
    def relative(self) -> float:
        return self.largest / self.scale if self.scale > 0 else (0.0 if self.largest == 0 else float("inf"))

    @property
    def within(self) -> bool:
        return self.largest <= RTOL * self.scale + ATOL

    def __str__(self) -> str:
        if self.largest == float("inf"):
            return "in its shape, or the source has no tensor it stands for"
        return (
            f"by up to {self.largest:.3g} ({self.relative:.2g} of the source's largest value, {self.scale:.3g}; "
            f"allowed: {RTOL:g} of it)"
        )


@dataclass(frozen=True)
class Verified:
    """What a verification compared: how many layers, and the largest relative difference seen (at which layer)."""

    layers: int
    """Layers compared (a layer the source computes no tensor for is compared through the layers after it)."""
    of: int
    """Layers in the notation read."""
    worst: float
    at: str


# --- shared --------------------------------------------------------------------------------------


def _difference(built, source) -> Difference:
    """Of two arrays of one shape (numpy, or torch on the CPU), in float32: the difference of two close float32
    numbers is exact."""
    import numpy as np

    built, source = np.asarray(built, dtype=np.float32), np.asarray(source, dtype=np.float32)
    largest = float(np.max(np.abs(built - source))) if built.size else 0.0
    scale = float(np.max(np.abs(source))) if source.size else 0.0
    if not (np.isfinite(largest) and np.isfinite(scale)):
        largest = 0.0 if np.array_equal(built, source, equal_nan=True) else float("inf")
        scale = scale if np.isfinite(scale) else 0.0
    return Difference(largest, scale)


def postorder(end, inputs: Callable) -> list:
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


def _pairs(names: Sequence[str], inbound: Mapping[str, list], model) -> dict[int, str]:
    """The checked model's layer index -> the name of the source's layer it was read from (both graphs walked alike)."""
    mine = postorder(names[-1], lambda name: inbound[name])
    theirs = postorder(len(model.layers) - 1, lambda index: [i for i in model.layers[index].inputs if i >= 0])
    if len(mine) != len(theirs) or len(theirs) != len(model.layers):
        raise UnsupportedModel(
            f"the notation read checks as {len(model.layers)} layers, but the source reads as {len(mine)}: "
            "the reading is not the model"
        )
    return dict(zip(theirs, mine))


class _First:
    """The first layer whose output differs, and the largest relative difference of those that agree."""

    def __init__(self):
        self.problem: str | None = None
        self.compared = 0
        self.worst, self.at = 0.0, ""

    def add(self, where: str, difference: Difference | None) -> None:
        if difference is None or self.problem is not None:
            return
        self.compared += 1
        if not difference.within:
            self.problem = f"{where}: its output differs from the source's {difference}"
        elif difference.relative > self.worst:
            self.worst, self.at = difference.relative, where

    def result(self, what: str, of: int) -> Verified:
        if self.problem is not None:
            raise UnsupportedModel(
                f"{self.problem}. The notation read does not compute what the {what} computes (verified on a seeded "
                f"random input); nothing is written"
            )
        return Verified(self.compared, of, self.worst, self.at)


@contextlib.contextmanager
def _running(what: str, shape) -> Iterator[None]:
    """A model that fails to run on the seeded input: its reading cannot be verified, said in one line."""
    try:
        yield
    except Exception as error:  # the frameworks raise many kinds for a model that does not run
        first = (str(error).strip().splitlines() or [""])[0]
        raise UnsupportedModel(
            f"{what} does not run in inference on an input of {tuple(shape)} ({type(error).__name__}: {first}), "
            "so the reading cannot be verified (verify=False, --no-verify, reads it unverified)"
        ) from None


# --- PyTorch -------------------------------------------------------------------------------------


def verify_torch(spec, trace: Callable, port: Callable, seed: int = SEED) -> Verified:
    """A :func:`~cnndsl.backends.torch_reader.from_torch` reading against its module; UnsupportedModel if it differs.

    ``spec`` is the ``TorchSpec`` the reading made (its ``.reading``); ``trace(module, input_shape)`` gives the
    ``torch.fx`` graph the reader read, ``port(spec, built)`` ports the module's weights into the
    module built from the spec (the reader's ``graph_of`` and ``port_weights``). The checked model is
    built with the PyTorch backend, given the module's weights, and both run in eval mode on one
    seeded input.
    """
    import torch

    from cnndsl.backends.torch import build

    found = spec.reading
    module = found.module
    _same_count(found.model.trainable_params, module, found.dropped)
    try:
        built = build(found.model).eval()
        port(spec, built)
    except ValueError as error:
        raise UnsupportedModel(f"the module's weights do not port into the notation read: {error}") from None
    graph = trace(module, found.input_shape)
    nodes = {node.name: node for node in graph.nodes}
    names = [layer.name for layer in found.layers]
    layers = {layer.name: layer for layer in found.layers}
    pairs = _pairs(names, found.inbound, found.model)
    sources = {name: _torch_sources(layers[name], nodes, set(names)) for name in names}
    height, width, channels = found.input_shape
    parameter = next(iter(module.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((BATCH.real, channels, height, width), generator=generator)  # the batch the graph was read at
    wanted = {node.partition("[")[0] for chain in sources.values() for node in chain} | _ends(graph)
    values = _run_source(module, graph, x.to(device, dtype), wanted)
    first = _First()
    end = len(found.model.layers) - 1
    flattened: set[tuple] = set()  # the (N, C, H, W) shapes flattened so far: a 2-D tensor may hold one, as (C, H, W)
    for info in found.model.layers:  # a Linear's units viewed as an image: written in (H, W, C) order for the RS
        if info.layer.code == "RS" and len(info.input_shape) == 2 and len(info.output_shape) == 4:
            flattened.add((BATCH.real, info.output_shape[3], *info.output_shape[1:3]))

    def compare(index: int, inputs, output) -> None:
        name = pairs[index]
        if inputs and getattr(inputs[0], "dim", lambda: 0)() == 4 and getattr(output, "dim", lambda: 0)() == 2:
            flattened.add(tuple(inputs[0].shape))
        if index == end:
            return
        layer, info = layers[name], found.model.layers[index]
        where = f"{_torch_where(layer)}, read as {info.layer.text}"
        first.add(where, _torch_difference(output, flattened, [values[n] for n in sources[name] if n in values]))

    hooks = [
        child.register_forward_hook(lambda _, inputs, output, index=index: compare(index, inputs, output))
        for index, child in enumerate(built.children())
    ]
    try:
        with torch.no_grad(), _running("the notation read", x.shape):
            output = built(x)
    finally:
        for hook in hooks:
            hook.remove()
    last = layers[pairs[end]]
    first.add(
        f"{_torch_where(last)}, read as {found.model.layers[end].layer.text} (the model's output)",
        _final_difference(output, found, pairs, sources, values, nodes),
    )
    return first.result("module", len(found.model.layers))


def _same_count(learned: int, module, dropped) -> None:
    """The notation read learns as many values as the module's parameters that reach its output, or it is refused:
    outputs alike on one input do not show a fixed tensor read as a layer's weights, or one tensor used twice."""
    reaching = sum(parameter.numel() for parameter in module.parameters()) - sum(d.params for d in dropped)
    if learned != reaching:
        raise UnsupportedModel(
            f"the notation read learns {learned:,} values, but the module's parameters that reach its output are "
            f"{reaching:,}: the reading is not the model; nothing is written"
        )


def _torch_where(layer) -> str:
    path = getattr(layer, "path", "")
    return f"module {path or '(top)'!r} ({layer.class_name}), node {layer.name!r}"


def _torch_sources(layer, nodes: Mapping, names: set[str]) -> list[str]:
    """The nodes whose tensors a layer's output may stand for.

    Those are the fx node the layer is named after (or stands for) and every node after it that no
    layer is named after (an activation folded into the layer, a flatten, a permute, a tuple's item),
    up to the next layers: the tensor the source holds where the layer's output goes on. A layer
    named ``node_k`` of a node that gives a tuple stands for its item ``k`` (a split's parts); where a name could be read
    both ways (a split's ``chunk_1``, another split's node ``chunk_1``), the node in the layer's own
    module is meant.
    """
    name = getattr(layer, "stands_for", None)
    if name == "":  # a tensor the source never holds
        return []
    name = name or layer.name
    base, _, index = name.rpartition("_")
    meanings = [(nodes[name], None)] if name in nodes else []
    if index.isdigit() and base in nodes:
        meanings.append((nodes[base], int(index)))
    own = [(node, item) for node, item in meanings if _path(node) == getattr(layer, "path", "")]
    found: list[str] = []
    for node, item in own or meanings:
        found += [name for name in _following(node, item, names) if name not in found]
    return found


def _path(node) -> str:
    """The module path a node is read with, as the reader gives its layers."""
    if node.op == "call_module":
        return node.target
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else ""


def _following(node, item: int | None, names: set[str]) -> list[str]:
    """The node (or its item), and the nodes after it up to the next named layers."""
    if item is None:
        found, stack = [node.name], [node]
    else:  # from the item's own getitem on
        taken = [user for user in node.users if user.target is operator.getitem and user.args[1:] == (item,)]
        found, stack = [f"{node.name}[{item}]", *(user.name for user in taken)], taken
    while stack:
        for user in stack.pop().users:
            if user.op == "output" or user.name in names or user.name in found:
                continue
            found.append(user.name)
            stack.append(user)
    return found


def _ends(graph) -> set[str]:
    """The nodes that give the module's output, and the ones before them (whether the module ends in its own softmax)."""
    output = next(node for node in graph.nodes if node.op == "output")
    found, frontier = set(), list(output.all_input_nodes)
    for _ in range(4):
        found.update(node.name for node in frontier)
        frontier = [feed for node in frontier for feed in node.all_input_nodes]
    return found


def _run_source(module, graph, x, wanted: set[str]) -> dict[str, Any]:
    """The tensors of the wanted nodes, the module run by its fx graph (eval mode); and its own forward's output."""
    import torch
    from torch import fx

    values: dict[str, Any] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, node):
            value = super().run_node(node)
            if node.name in wanted:
                values[node.name] = _cpu(value)
                if isinstance(value, tuple | list):
                    values.update({f"{node.name}[{i}]": _cpu(item) for i, item in enumerate(value)})
            return value

    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), _running("the module", x.shape):
            traced = Recorder(module, graph=graph).run(x)
            own = module(x)
    finally:
        module.train(was_training)
    difference = _largest_of_leaves(_cpu(own), _cpu(traced))
    if difference is None or not difference.within:
        told = "returns another structure" if difference is None else f"differs {difference}"
        raise UnsupportedModel(
            f"the module's forward computes otherwise than torch.fx traced it (its output {told}); "
            "the reading would not be the module"
        )
    return values


def _cpu(value):
    import torch

    if isinstance(value, torch.Tensor):
        # a copy: a later in-place operation (ReLU(inplace=True)) would change the tensor held
        return value.detach().to("cpu", torch.float32 if value.is_floating_point() else value.dtype, copy=True)
    if isinstance(value, tuple | list):
        return type(value)(_cpu(item) for item in value)
    if isinstance(value, dict):
        return {key: _cpu(item) for key, item in value.items()}
    return value


def _largest_of_leaves(first, second) -> Difference | None:
    """The largest difference over the tensors of two equal structures (tuples, lists, dicts); None if they differ."""
    import torch

    if isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor):
        return _difference(first.numpy(), second.numpy()) if first.shape == second.shape else None
    if isinstance(first, dict) and isinstance(second, dict) and first.keys() == second.keys():
        pairs = [(first[key], second[key]) for key in first]
    elif isinstance(first, tuple | list) and isinstance(second, tuple | list) and len(first) == len(second):
        pairs = list(zip(first, second))
    else:
        return Difference(0.0, 0.0) if type(first) is type(second) and first == second else None
    found = [_largest_of_leaves(a, b) for a, b in pairs]
    if any(item is None for item in found):
        return None
    return max(found, key=lambda d: d.largest - RTOL * d.scale, default=Difference(0.0, 0.0))


def _aligned(output, flattened, source) -> list:
    """The source's tensor in the built layer's layout: as it is, channels last to first, flattened (C, H, W) to
    (H, W, C) for a shape flattened before, or size-1 axes dropped; every form whose shape is the built output's."""
    import torch

    if not isinstance(source, torch.Tensor) or not source.is_floating_point():
        return []
    shape = tuple(output.shape)
    found = []
    if tuple(source.shape) == shape:
        found.append(source)
    if source.dim() == 4 and tuple(source.permute(0, 3, 1, 2).shape) == shape:
        found.append(source.permute(0, 3, 1, 2))
    for flat in flattened if output.dim() == 2 else ():
        if source.numel() == output.numel() == math.prod(flat):
            found.append(source.reshape(flat).permute(0, 2, 3, 1).reshape(shape))
    squeezed = [size for size in source.shape if size != 1]
    if not found and source.numel() == output.numel() and squeezed == [size for size in shape if size != 1]:
        found.append(source.reshape(shape))
    return found


def _torch_difference(output, flattened, sources: list) -> Difference | None:
    """The smallest difference of a built layer's output from the tensors it may stand for; None: none comparable."""
    import torch

    if not isinstance(output, torch.Tensor):
        return None
    built = output.detach().to("cpu", torch.float32)
    found = [
        _difference(built.numpy(), form.numpy()) for source in sources for form in _aligned(built, flattened, source)
    ]
    return min(found, key=lambda d: d.largest - RTOL * d.scale, default=None)


def _final_difference(output, found, pairs, sources, values, nodes) -> Difference:
    """The model's output against the source's: the tensor the last layer stands for, or the task's head on it
    where the source ends in logits (not in that activation of its own)."""
    import torch

    end = len(found.model.layers) - 1
    name = pairs[end]
    chain = sources[name]
    if not chain:  # the head the reader appended on the logits: the layer feeding it stands for them
        feeding = found.inbound[name][0]
        chain = sources.get(feeding, []) if feeding is not None else []
    outputs = next(node for node in nodes.values() if node.op == "output").all_input_nodes
    ending = [n for n in chain if n in values and nodes.get(n.partition("[")[0]) in outputs]
    if not ending:
        return Difference(float("inf"), 0.0)
    built = output.detach().to("cpu", torch.float32)
    activation = _head_activation(found.model.layers[end])
    candidates = []
    for source_name in ending:
        source = values[source_name]
        candidates += _aligned(built, (), source)
        if activation is not None and not _applies(activation, source, values, nodes, source_name):
            candidates += _aligned(built, (), activation(source))
    found_differences = [_difference(built.numpy(), form.numpy()) for form in candidates]
    return min(found_differences, key=lambda d: d.largest - RTOL * d.scale, default=Difference(float("inf"), 0.0))


def _head_activation(info) -> Callable | None:
    """The activation a head puts on logits (softmax over the channels, a sigmoid), as a function; None for any other."""
    import torch

    args = info.layer.args
    name = args.get("name") if info.code == "ACT" else args.get("activation")
    return {"softmax": lambda t: torch.softmax(t, 1), "sigmoid": torch.sigmoid}.get(name)


def _applies(activation: Callable, source, values, nodes, name: str) -> bool:
    """Whether the source computes ``activation`` itself to give ``source``: of a tensor a few nodes before it."""
    node = nodes.get(name.partition("[")[0])
    seen, frontier = set(), [node] if node is not None else []
    for _ in range(4):
        for before in frontier:
            value = values.get(before.name)  # a reshape may follow the activation (a flatten of (N, C, 1, 1))
            same = before.name not in seen and getattr(value, "dim", lambda: 0)() >= 2
            if (
                same
                and value.numel() == source.numel()
                and _difference(activation(value).reshape(source.shape).numpy(), source.numpy()).within
            ):
                return True
            seen.add(before.name)
        frontier = [feed for before in frontier for feed in before.all_input_nodes]
    return False


# --- Keras -------------------------------------------------------------------------------------


def verify_keras(
    model,
    layers: Sequence,
    inbound: Mapping[str, list],
    text: str,
    shape,
    classes: int,
    task,
    code_of: Callable,
    seed: int = SEED,
) -> Verified:
    """A :func:`~cnndsl.backends.keras_reader.to_spec` reading against its Keras model; UnsupportedModel if it differs.

    ``layers`` and ``inbound`` are the reading (the model's layers, nested ``Sequential`` models opened,
    and who feeds whom); ``text`` the spec written of them for an input of ``shape``, ``classes`` the
    head's outputs; ``code_of(layer)`` the code a layer reads as. The text is checked as :class:`~cnndsl.backends.keras_reader.KerasSpec` says
    (with ``num_classes``), built by the Keras backend, given each layer's weights, and both run on one
    seeded input in inference.
    """
    import numpy as np

    from cnndsl.backends.keras import build

    checked, size = _checked(text, shape, classes, task)
    names = [layer.name for layer in layers]
    by_name = {layer.name: layer for layer in layers}
    pairs = _pairs(names, inbound, checked)
    built = build(checked)
    targets = [layer for layer in built.layers if type(layer).__name__ != "InputLayer"]
    for index, name in pairs.items():
        _port_keras(by_name[name], targets[index], checked.layers[index], code_of)
    x = np.random.default_rng(seed).standard_normal((1, *size)).astype("float32")
    with _running("the model", x.shape):
        theirs, output = _keras_values(model, x)
    with _running("the notation read", x.shape):
        mine = _keras_outputs(built, targets, x)
    first = _First()
    for index, name in sorted(pairs.items()):
        layer = by_name[name]
        where = f"layer {name!r} ({_keras_class(layer)}), read as {checked.layers[index].layer.text}"
        if index == len(targets) - 1:
            first.add(f"{where} (the model's output)", _same_shape(mine[index], output, strict=True))
        else:
            first.add(where, _same_shape(mine[index], theirs.get(name), strict=False))
    return first.result("model", len(checked.layers))


def _keras_class(layer) -> str:
    return getattr(layer, "class_name", None) or type(layer).__name__


def _checked(text: str, shape, classes: int, task):
    """The text checked as a user checks it (its class count given), at a size each input of unknown size takes."""
    from cnndsl.checker import check
    from cnndsl.errors import SpecError

    problem = None
    for side in (32, 64, 128, 224) if None in tuple(shape[:2]) else (None,):
        size = tuple(side if size is None else int(size) for size in shape)
        try:
            return check(text, size if side is not None else None, classes, task), size
        except SpecError as error:
            problem = error.diagnostics[0].message
    raise UnsupportedModel(f"the notation read does not check: {problem}")


def _port_keras(layer, target, info, code_of: Callable) -> None:
    """The source layer's weights into the built one (a Keras operation has none); UnsupportedModel naming it
    where they do not fit."""
    code = code_of(layer)
    if code != info.code:
        raise UnsupportedModel(
            f"layer {layer.name!r} ({_keras_class(layer)}) reads as {code}, but is built as {info.code}"
        )
    weights = layer.get_weights() if hasattr(layer, "get_weights") else []
    try:
        target.set_weights(weights)
    except ValueError as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise UnsupportedModel(
            f"layer {layer.name!r} ({_keras_class(layer)}): its weights do not fit {info.layer.text} ({first})"
        ) from None


def _keras_values(model, x) -> tuple[dict[str, Any], Any]:
    """Each layer's output by name (a nested Sequential's layers run one by one from its input), and the model's."""
    import keras
    import numpy as np

    values: dict[str, Any] = {}
    if type(model).__name__ == "Sequential":
        output = _run_sequential(model, x, values)
        return values, output
    operations = [op for op in model.operations if type(op).__name__ != "InputLayer"]
    nested = [op for op in operations if type(op).__name__ == "Sequential"]
    tensors = [op.output for op in operations] + [op.input for op in nested] + [model.outputs[0]]
    found = keras.Model(model.inputs[0], tensors)(x, training=False)
    for op, value in zip(operations, found):
        values[op.name] = np.asarray(value)
    for op, value in zip(nested, found[len(operations) :]):
        _run_sequential(op, value, values)
    return values, np.asarray(found[-1])


def _run_sequential(model, x, values: dict) -> Any:
    import numpy as np

    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        x = _run_sequential(layer, x, values) if type(layer).__name__ == "Sequential" else layer(x, training=False)
        values[layer.name] = np.asarray(x)
    return np.asarray(x)


def _keras_outputs(built, targets: list, x) -> list:
    import keras
    import numpy as np

    found = keras.Model(built.inputs[0], [layer.output for layer in targets])(x, training=False)
    return [np.asarray(value) for value in (found if isinstance(found, list | tuple) else [found])]


def _same_shape(built, source, strict: bool) -> Difference | None:
    """Their difference; for arrays of other shapes, none (a layer passed over) or, ``strict``, an infinite one."""
    if source is None or tuple(built.shape) != tuple(source.shape):
        return Difference(float("inf"), 0.0) if strict else None
    return _difference(built, source)
