"""Back to the notation: a Keras model (Sequential or functional) as a canonical spec.

Each Keras layer class maps to a code and its resolved arguments (a table, as
the backends have); a merge's branches are found from the graph: every branch
of a merge starts at the last node that all of them pass through. A graph that
is not nested merges (a layer's output used by two merges that are not one's
branches: NASNet's cells, a U-Net's long skips) is written with named tensors,
``as name`` and ``@name``. A layer the notation lacks, or a setting it cannot
write, is an :class:`UnsupportedModel` naming the layer and its class.

``.keras`` files are read with Keras's ``safe_mode`` only, after cnndsl has
looked at the file's configuration itself: a layer that would need unsafe loading
(a ``Lambda``) or an object from outside Keras is refused before Keras sees it.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnndsl.errors import ModelFileError, UnsupportedModel
from cnndsl.layers import LAYERS, MERGES, KerasClass, LayerType
from cnndsl.tasks import CLASSIFY, READ_ORDER, REGRESS, Task, task_named, task_of_head
from cnndsl.writer import Joined, Node, Taken, Written, write

MAX_MODEL_BYTES = 2 * 1024**3
"""Largest model file opened."""
UNSAFE_CLASSES = frozenset({"Lambda", "TFOpLambda"})
"""Layer classes whose loading runs Python code stored in the file."""


@dataclass(frozen=True)
class KerasSpec:
    """The notation of a Keras model: check ``text`` with ``num_classes`` (the head's units) and ``task``
    (the task whose head the model ends in: ``check(spec.text, num_classes=spec.num_classes, task=spec.task)``)."""

    text: str
    num_classes: int
    task: str = "classify"

    def __str__(self) -> str:
        return self.text


# --- layers -> codes: the layer table's Keras declarations, read backwards ---------------------


def _name(layer) -> str:
    return f"layer {layer.name!r} ({_class_name(layer)})"


def _class_name(layer) -> str:
    return layer.class_name if isinstance(layer, _Folded) else type(layer).__name__


def _reading_table() -> dict[str, tuple[LayerType, KerasClass]]:
    """Keras class name -> the code and the declared form it reads as (a form's ``reads`` too)."""
    table: dict[str, tuple[LayerType, KerasClass]] = {}
    for kind in LAYERS.values():
        for form in kind.keras:
            for name in (form.name, *form.reads):
                table.setdefault(name, (kind, form))
    return table


TABLE = _reading_table()
"""Keras layer class -> (layer type, Keras form): every class some code's declaration names."""


@dataclass(frozen=True)
class _Folded:
    """Keras operations the notation writes as one layer (MobileNetV3's ``relu6(x + 3) * (1/6)``)."""

    name: str
    class_name: str
    code: str
    args: Mapping[str, Any]


def _node_parts(layer) -> tuple[str, dict]:
    """(code, arguments in the notation's terms), as the code's Keras declaration reads the layer's config."""
    if isinstance(layer, _Folded):
        return layer.code, dict(layer.args)
    entry = TABLE.get(type(layer).__name__)
    if entry is None:
        raise UnsupportedModel(f"{_name(layer)} has no code in the notation")
    kind, form = entry
    config = layer.get_config()
    problem = form.refuse(config)
    if problem:
        raise UnsupportedModel(f"{_name(layer)}: {problem}")
    args: dict[str, Any] = dict(form.fixed)
    for declared in form.args:
        if declared.name is None:
            continue
        value = config.get(declared.keras, declared.default)
        try:
            args[declared.name] = value if declared.from_keras is None else declared.from_keras(value)
        except (ValueError, TypeError) as error:
            raise UnsupportedModel(f"{_name(layer)}: {error}") from None
    if form.combine is not None:
        try:
            args = form.combine(args)
        except ValueError as error:
            raise UnsupportedModel(f"{_name(layer)}: {error}") from None
    for param in kind.params:  # what this Keras form does not hold: the notation's own default
        if param.name not in args or (param.same_as and args[param.name] is None):
            args[param.name] = args[param.same_as] if param.same_as else param.default
    return kind.code, args


# --- the graph -> chains and merges ------------------------------------------------------------


def to_spec(
    model, input_shape: tuple[int, int, int] | None = None, task: str | Task | None = None, verify: bool = True
) -> KerasSpec:
    """The canonical notation of a built Keras model; UnsupportedModel for what the notation cannot write.

    Every layer the notation cannot write is named, in the order of ``model.layers``. The
    head is written (``DN(10, activation=softmax)``, or a softmax of the model's own), so the
    text states its class count, unless the task appends it in another order than a written
    one's (a segmentation's or a regression's default head: :meth:`Task.writes_head`).
    ``input_shape`` gives the sizes of an input whose size the model leaves unknown; ``task``
    (a name in :data:`cnndsl.tasks.TASKS`) says which head the model ends in. Left out, the head
    says it (:func:`cnndsl.tasks.task_of_head`): a softmax classifies, ``Dense(1, sigmoid)`` is
    binary, a sigmoid over several units multi-label, a linear ``Dense(k)`` or a log-softmax a
    classifier's logits, a per-pixel softmax or sigmoid segmentation; ``.task`` says which.
    TypeError for anything but a Keras model. The reading verifies itself
    (:func:`cnndsl.backends.verify.verify_keras`: built, given the weights, run against the model): a
    layer whose output differs is an UnsupportedModel naming it; ``verify=False`` skips that.
    """
    task = task_named(task) if task is not None else None
    _require_keras_model(model)
    shape = _input_shape(model, input_shape)
    layers, inbound = _flatten(model)
    if not layers:
        raise UnsupportedModel("the model has no layers")
    _refuse_unsupported(layers)
    task, classes = _classes(model, layers[-1], task)
    text = write_graph(layers, inbound, shape, classes, task)
    if verify:
        from cnndsl.backends.verify import verify_keras

        verify_keras(model, layers, inbound, text, shape, classes, task, lambda layer: _node_parts(layer)[0])
    return KerasSpec(text, classes, task.name)


def write_graph(
    layers: list, inbound: Mapping[str, list[str | None]], shape, classes: int, task: Task = CLASSIFY
) -> str:
    """The canonical text of layers (each read by :func:`_node_parts`; the head last) and who feeds whom.

    Nested merges are written as nested merges, any other graph with named tensors. The
    PyTorch reader writes through this too: one writer for every model read. ``task``
    (classify by default) says which head the model ends in.
    """
    head = layers[-1]
    graph = _Graph(layers, inbound)
    implied = not task.writes_head(*_node_parts(head))
    try:
        chain = graph.chain(graph.feeds(head)[0] if implied else head.name, None)
        graph.check_all_used(head)
        input_name = None
    except _NotNested:
        chain, input_name = _Graph(layers, inbound).named_chain(head, implied)
    return write(chain, shape, classes, input_name=input_name, task=task)


def _require_keras_model(model) -> None:
    """TypeError, said plainly, for a PyTorch module or anything else that is not a Keras model."""
    modules = [cls.__module__.partition(".")[0] for cls in type(model).__mro__]
    if "keras" in modules or "tf_keras" in modules:
        return
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if "torch" in modules:
        raise TypeError(
            f"to_spec reads a Keras model (keras.Model); {kind} is a PyTorch module, which cnndsl cannot read"
        )
    raise TypeError(f"to_spec reads a Keras model (keras.Model), not {kind}")


def _refuse_unsupported(layers) -> None:
    """One UnsupportedModel naming every layer that has no notation, one a line."""
    problems = []
    for layer in layers:
        try:
            _node_parts(layer)
        except UnsupportedModel as problem:
            problems.append(str(problem))
    if problems:
        raise UnsupportedModel("\n".join(problems))


def _classes(model, head, task: Task | None) -> tuple[Task, int]:
    """The task (given, else the one whose head the model ends in) and the class count of its head: a Dense
    classifier, or an Activation (a head of its own)."""
    code, args = _node_parts(head)
    output = tuple(model.outputs[0].shape) if len(getattr(model, "outputs", None) or ()) == 1 else ()
    if task is None:
        task = task_of_head(code, args, output)
        if task is None:
            raise UnsupportedModel(f"{_name(head)}: it ends in no task's head; {CLASSIFY.ends_in}")
    try:
        return task, task.read_outputs(code, args, output)
    except ValueError as problem:
        raise UnsupportedModel(f"{_name(head)}: {problem}{_other_task(code, args, output, task)}") from None


def _other_task(code: str, args, output: tuple, task: Task) -> str:
    """A hint naming the tasks whose head the model does end in, if one does."""
    others = []
    for other in (*READ_ORDER, REGRESS):  # the likeliest first; numbers last
        if other is not task:
            try:
                other.read_outputs(code, args, output)
            except ValueError:
                continue
            others.append(f"--task {other.name} ({other.summary})")
    if not others:
        return ""
    return f"; it ends in the head of another task: read it with {' or '.join(others)}"


_HARD_SIGMOID = (("Add", 3.0), ("ReLU", 6.0), ("Multiply", 1 / 6))
"""MobileNetV3's ``hard_sigmoid``, ``ReLU(6.0)(x + 3.0) * (1.0 / 6.0)``: the notation's ``ACT(hard_sigmoid)``."""
_TENSOR_MERGES = {"Add": "ADD", "Multiply": "MUL"}
"""Keras operations on two tensors (``x + y``) that read as a merge."""


def _flatten(model) -> tuple[list, dict[str, list[str | None]]]:
    """The model's layers in Keras's order, nested models opened in place, and each one's inputs by name.

    None stands for the model's input. Keras operations on tensors (``x + y``, ``x + 3.0``)
    become stand-in layers: a merge, or the activation a pattern of them spells (only
    MobileNetV3's hard sigmoid); any other operation is UnsupportedModel naming it.
    """
    if type(model).__name__ == "Sequential":
        return _opened_sequential(model, None)[:2]
    entries = {entry["name"]: entry for entry in model.get_config()["layers"]}
    objects = {layer.name: layer for layer in model.layers}
    outputs: dict[str, str | None] = {}  # a node's name -> the layer whose output it is, once opened
    layers: list = []
    inbound: dict[str, list[str | None]] = {}
    skipped: set[str] = set()
    patterns = {steps[0]: steps for name in entries if (steps := _hard_sigmoid_steps(name, entries))}
    for name, entry in entries.items():
        nodes = entry["inbound_nodes"]
        if len(nodes) > 1:
            raise UnsupportedModel(f"layer {name!r} ({entry['class_name']}) is used {len(nodes)} times")
        sources = [outputs.get(source, source) for source in _history(nodes[0]["args"])] if nodes else []
        if entry["class_name"] == "InputLayer":
            outputs[name] = None
        elif name in skipped:
            continue
        elif name in patterns:
            steps = patterns[name]
            skipped.update(steps[1:])  # the three nodes fold into one, named for the last
            layers.append(_Folded(steps[-1], "hard sigmoid: ReLU(6)(x + 3) * (1/6)", "ACT", {"name": "hard_sigmoid"}))
            inbound[steps[-1]] = sources
            outputs[name] = outputs[steps[1]] = outputs[steps[2]] = steps[-1]
        elif _is_operation(entry):
            layers.append(_operation(name, entry))
            inbound[name] = sources
            outputs[name] = name
        else:
            inner, inner_inbound, outputs[name] = _opened(objects[name], sources)
            layers += inner
            inbound.update(inner_inbound)
    return layers, inbound


def _is_operation(entry: Mapping) -> bool:
    return str(entry.get("module", "")).startswith("keras.src.ops")


def _operation(name: str, entry: Mapping) -> _Folded:
    args = entry["inbound_nodes"][0]["args"] if entry["inbound_nodes"] else []
    code = _TENSOR_MERGES.get(entry["class_name"])
    if code is None or len(_history(args)) != len(args) or len(args) < 2:
        constant = " with a constant" if code else ""
        raise UnsupportedModel(
            f"operation {name!r} ({entry['class_name']}){constant} on tensors has no code in the notation"
        )
    return _Folded(name, f"{entry['class_name']} of tensors", code, {"scale": 1.0} if code == "ADD" else {})


def _opened(layer, sources: list) -> tuple[list, dict[str, list[str | None]], str | None]:
    """A layer with its inputs, or a nested Sequential opened into its layers; and the name of its output."""
    if type(layer).__name__ != "Sequential":
        return [layer], {layer.name: sources}, layer.name
    if len(sources) != 1:
        raise UnsupportedModel(f"{_name(layer)} takes {len(sources)} inputs")
    return _opened_sequential(layer, sources[0])


def _opened_sequential(model, source: str | None) -> tuple[list, dict[str, list[str | None]], str | None]:
    layers: list = []
    inbound: dict[str, list[str | None]] = {}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        inner, inner_inbound, source = _opened(layer, [source])
        layers += inner
        inbound.update(inner_inbound)
    return layers, inbound, source


def _hard_sigmoid_steps(name: str, entries: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(add, relu, multiply) when ``name`` ends the hard-sigmoid pattern, else None."""
    found, current = [], name
    for class_name, constant in reversed(_HARD_SIGMOID):
        entry = entries.get(current)
        if entry is None or entry["class_name"] != class_name or len(entry["inbound_nodes"]) != 1:
            return None
        args = entry["inbound_nodes"][0]["args"]
        if class_name == "ReLU":
            config = entry["config"]
            if config.get("max_value") != constant or config.get("negative_slope", 0) or config.get("threshold", 0):
                return None
        elif len(args) != 2 or not isinstance(args[1], int | float) or abs(args[1] - constant) > 1e-12:
            return None
        found.append(current)
        sources = _history(args)
        if len(sources) != 1:
            return None
        current = sources[0]
    return tuple(reversed(found))  # type: ignore[return-value]


def _input_shape(model, given: tuple[int, int, int] | None = None) -> tuple[int | None, ...]:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs or len(inputs) != 1:
        raise UnsupportedModel("the model needs exactly one input (build it, or give it a keras.Input)")
    shape = tuple(inputs[0].shape[1:])
    if len(shape) != 3 or shape[2] is None:
        raise UnsupportedModel(f"the model's input {shape} is not (height, width, channels) with known channels")
    if given is None:
        return shape
    if any(mine is not None and mine != theirs for mine, theirs in zip(shape, given)):
        raise UnsupportedModel(f"the input shape {tuple(given)} differs from the model's input {shape}")
    return tuple(given)


class _NotNested(UnsupportedModel):
    """The graph is not nested merges: it is written with named tensors instead."""


_HERE = object()
"""A branch that starts from the tensor the chain holds (no ``@name`` before it)."""


class _Graph:
    """Who feeds whom, by layer name; None is the model input."""

    def __init__(self, layers, inbound: Mapping[str, list[str | None]]):
        self.layers = {layer.name: layer for layer in layers}
        self.inputs = inbound
        self.used: set[str] = set()
        self._starts: dict[str, str | None] = {}

    def feeds(self, layer) -> list[str | None]:
        return self.inputs[layer.name]

    def chain(self, end: str | None, start: str | None) -> tuple[Node, ...]:
        """The nodes from ``start`` (exclusive) to ``end`` (inclusive)."""
        nodes: list[Node] = []
        while end != start:
            if end is None:
                raise _NotNested(f"a branch does not start where its merge's other branches start ({start!r})")
            layer = self.layers[end]
            self._use(layer)
            code, args = _node_parts(layer)
            if code in MERGES:
                branch_start = self.start(end)
                branches = tuple(self.chain(feed, branch_start) for feed in self.inputs[end])
                nodes.append(Joined(code, branches, args))
                end = branch_start
            else:
                nodes.append(Written(code, args))
                end = self._single(layer)
        return tuple(reversed(nodes))

    def start(self, merge: str) -> str | None:
        """Where a merge's branches start: the first node on every branch's way back to the input."""
        if merge not in self._starts:
            spines = [self.spine(feed) for feed in self.inputs[merge]]
            common = set.intersection(*(set(spine) for spine in spines[1:])) if len(spines) > 1 else set()
            self._starts[merge] = next((node for node in spines[0] if node in common), None)
        return self._starts[merge]

    def spine(self, node: str | None) -> list[str | None]:
        """The nodes every path back from ``node`` to the input passes through, nearest first."""
        found = []
        while node is not None:
            found.append(node)
            layer = self.layers[node]
            node = self.start(node) if len(self.inputs[node]) > 1 else self._single(layer)
        return [*found, None]

    def _single(self, layer) -> str | None:
        feeds = self.inputs[layer.name]
        if len(feeds) != 1:
            raise UnsupportedModel(
                f"{_name(layer)} takes {len(feeds)} inputs; only Add, Multiply and Concatenate merge"
            )
        return feeds[0]

    def _use(self, layer) -> None:
        if layer.name in self.used:
            raise _NotNested(f"{_name(layer)} is reached twice: the graph is not nested merges")
        self.used.add(layer.name)

    def check_all_used(self, head) -> None:
        self.used.add(head.name)
        for name, layer in self.layers.items():
            if name not in self.used:
                raise _NotNested(f"{_name(layer)} does not lie on a chain or merge branch to the output")

    # --- any graph of layers and merges: named tensors ---

    def named_chain(self, head, implied: bool) -> tuple[tuple[Node, ...], str | None]:
        """The model as one chain in Keras's order, going back to named tensors where a layer's input is
        not the tensor before it; and the input's name, if a chain goes back to it.

        A merge's branch holds the layers that only it uses, back to where it starts: a layer
        whose output something else uses too, another merge, or the input.
        """
        order = [name for name in self.layers if not (implied and name == head.name)]
        branches = self._branches(order)
        inside = {name for runs in branches.values() for _, run in runs for name in run}
        steps: list[tuple[str, Any]] = []
        current: str | None = None
        for name in order:
            if name in inside:
                continue
            if name in branches:
                runs = [(_HERE if source == current else source, run) for source, run in branches[name]]
                steps.append((name, runs))
            else:
                source = self._single(self.layers[name])
                if source != current:
                    steps.append(("", source))
                steps.append((name, None))
            current = name
        if implied and self.feeds(head)[0] != current:
            steps.append(("", self.feeds(head)[0]))
        return self._nodes(steps)

    def _branches(self, order: list[str]) -> dict[str, list[tuple[str | None, list[str]]]]:
        """Each merge's branches: (where it starts, the layers only it uses, in order)."""
        consumers: dict[str | None, int] = {}
        for name in order:
            for feed in self.inputs[name]:
                consumers[feed] = consumers.get(feed, 0) + 1
        branches = {}
        for name in order:
            if _node_parts(self.layers[name])[0] not in MERGES:
                continue
            runs = []
            for feed in self.inputs[name]:
                run = []
                while feed is not None and consumers[feed] == 1 and len(self.inputs[feed]) == 1:
                    if _node_parts(self.layers[feed])[0] in MERGES:
                        break
                    run.append(feed)
                    feed = self.inputs[feed][0]
                runs.append((feed, run[::-1]))
            branches[name] = runs
        return branches

    def _nodes(self, steps: list[tuple[str, Any]]) -> tuple[tuple[Node, ...], str | None]:
        """The steps as nodes to write, every tensor gone back to named after its layer."""
        taken = {source for name, source in steps if not name}
        taken |= {source for name, runs in steps if name and runs for source, _ in runs if source is not _HERE}
        names = _tensor_names(taken)
        nodes: list[Node] = []
        for name, payload in steps:
            if not name:
                nodes.append(Taken(names[payload]))
            elif payload is None:
                nodes.append(Written(*_node_parts(self.layers[name]), names.get(name)))
            else:
                branches = tuple(
                    (() if source is _HERE else (Taken(names[source]),))
                    + tuple(Written(*_node_parts(self.layers[layer])) for layer in run)
                    for source, run in payload
                )
                code, args = _node_parts(self.layers[name])
                nodes.append(Joined(code, branches, args, names.get(name)))
        return tuple(nodes), names.get(None)


def _tensor_names(layers: set[str | None]) -> dict[str | None, str]:
    """A name in the notation for each layer's output (None: the input): its Keras name where that is one."""
    names: dict[str | None, str] = {}
    for layer in sorted(layers, key=lambda name: (name is not None, name or "")):
        stem = "input" if layer is None else re.sub(r"[^A-Za-z0-9_]", "_", layer)
        stem = stem if re.match(r"[A-Za-z_]", stem) and stem not in ("as", "block") else f"t_{stem}"
        name, count = stem, 1
        while name in names.values():
            name, count = f"{stem}_{count}", count + 1
        names[layer] = name
    return names


def _history(value: Any) -> list[str]:
    """The names of the layers whose tensors a node's arguments hold, in order."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return [value["config"]["keras_history"][0]]
    if isinstance(value, list | tuple):
        return [name for item in value for name in _history(item)]
    return []


# --- files -------------------------------------------------------------------------------


def load(path: Path):
    """A ``.keras`` model file, loaded with Keras's safe mode after cnndsl has vetted its configuration."""
    _vetted_config(path)
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many kinds for a file it cannot read
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{path}: Keras cannot load it ({first})") from None


def _vetted_config(path: Path) -> Any:
    """The file's config.json, read without Keras; ModelFileError if anything in it needs unsafe loading."""
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: not a .keras file (cnndsl reads models saved by Keras 3's model.save)")
    try:
        if path.is_dir() or path.stat().st_size > MAX_MODEL_BYTES:
            raise ModelFileError(f"{path}: not a .keras model file")
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError):
        raise ModelFileError(f"{path}: not a .keras model file (a zip holding config.json)") from None
    except OSError as error:
        raise ModelFileError(f"{path}: cannot read: {error.strerror or error}") from None
    _vet(config, path)
    return config


def _vet(value: Any, path: Path) -> None:
    """Refuse a Lambda-like layer, or an object whose module is not Keras's, naming it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            _vet_object(item, path)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _vet_object(item: Mapping, path: Path) -> None:
    cls, module = item.get("class_name"), item.get("module")
    name = (item.get("config") or {}).get("name") if isinstance(item.get("config"), dict) else None
    if cls in UNSAFE_CLASSES:
        raise ModelFileError(
            f"{path}: layer {name!r} ({cls}) holds Python code that only unsafe loading would run; cnndsl never loads it"
        )
    registered = item.get("registered_name")
    if isinstance(registered, str) and ">" in registered:
        raise ModelFileError(f"{path}: {registered!r} is a custom object; cnndsl loads Keras layers only")
    if isinstance(module, str) and module != "builtins" and module.split(".")[0] != "keras":
        raise ModelFileError(f"{path}: {cls!r} from module {module!r} is not Keras's; cnndsl loads Keras layers only")
