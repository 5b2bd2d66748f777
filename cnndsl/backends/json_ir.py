"""The resolved architecture as JSON: every layer with all its arguments, inputs, shapes and parameters.

``cnndsl emit --to json`` writes it; a ``.json`` file given where a spec is
expected is read back with :func:`read`, which writes the notation again from the
layers' codes, arguments and tree (shapes and counts are outputs, recomputed by
the checker), so the round trip keeps the architecture hash. No framework needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnndsl.ast import assert_never
from cnndsl.errors import ArchitectureError
from cnndsl.model import INPUT, CheckedModel, From, Item, Merge, tensor_name
from cnndsl.tasks import CLASSIFY, Task, task_named
from cnndsl.writer import Joined, Node, Taken, Written, write

FORMAT = "cnndsl-architecture"
VERSION = 1


def document(model: CheckedModel) -> dict:
    """The JSON document of a checked model (docs/interop/emit.md describes every field)."""
    from cnndsl.report import architecture_hash

    task = {"task": model.task.name} if model.task != CLASSIFY else {}  # a classifier's: as it always was
    return {
        "format": FORMAT,
        "version": VERSION,
        **task,
        "input_shape": list(model.input_shape[1:]),
        "num_classes": model.num_classes,
        "output_shape": list(model.output_shape),
        "total_params": model.total_params,
        "trainable_params": model.trainable_params,
        "non_trainable_params": model.non_trainable_params,
        "hash": architecture_hash(model),
        "layers": [_layer(info) for info in model.layers],
        "tree": [_item(item) for item in model.items],
        **_outputs(model),
        **_inputs(model),
    }


def _inputs(model: CheckedModel) -> dict:
    """A model of several inputs: each input's name and shape (with the batch axis), in order; a layer's
    ``inputs`` and the tree's ``from`` say -1 for the first, -2 for the second, and so on."""
    if not model.inputs:
        return {}
    return {"inputs": [{"name": given.name, "shape": list(given.shape)} for given in model.inputs]}


def _outputs(model: CheckedModel) -> dict:
    """A model ending in ``OUT(...)``: each output's name and layer index (-1: the input), in order."""
    if not model.outputs:
        return {}
    return {"outputs": [{"name": output.name, "layer": output.source} for output in model.outputs]}


def _layer(info) -> dict:
    return {
        "name": info.name,
        "code": info.code,
        "keras_class": info.keras_class,
        "args": {name: _plain(value) for name, value in info.layer.args.items()},
        "inputs": list(info.inputs),
        "input_shapes": [list(shape) for shape in info.input_shapes],
        "output_shape": list(info.output_shape),
        "trainable_params": info.trainable,
        "non_trainable_params": info.non_trainable,
        "head": info.layer.head,
        "text": info.layer.text,
    }


def _plain(value: Any) -> Any:
    return [_plain(item) for item in value] if isinstance(value, tuple) else value


def _item(item: Item) -> Any:
    match item:
        case int():
            return item
        case Merge():
            return {"merge": item.layer, "branches": [[_item(i) for i in branch] for branch in item.branches]}
        case From():
            return {"from": item.source}
        case _:
            assert_never(item)


# --- reading it back ----------------------------------------------------------------------


def read(data: Any) -> tuple[str, int]:
    """(spec text declaring its input, class count) of an architecture document; ArchitectureError if it is none."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ArchitectureError(f'not a cnndsl architecture (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise ArchitectureError(f"architecture version {data.get('version')!r}; this cnndsl reads version {VERSION}")
    try:
        layers, shape, classes = data["layers"], tuple(data["input_shape"]), int(data["num_classes"])
        task = task_named(data.get("task"))
        outputs = data.get("outputs") or []
        head = [] if outputs else [i for i, layer in enumerate(layers) if _appended_head(layer, task)]
        names = _taken(data["tree"]) | {int(output["layer"]) for output in outputs}
        inputs = _inputs_read(data.get("inputs") or [])
        if inputs:  # several: the first's shape, and each later one declared where the tree first goes on from it
            shape = tuple(inputs[0][1])
        nodes = [_node(item, layers, set(head), names, inputs, set()) for item in data["tree"]]
        named = inputs[0][0] if inputs else tensor_name(INPUT) if INPUT in names else None
        chain = [node for node in nodes if node is not None]
        if outputs:  # each output goes on from its layer's tensor, named by an ID() after it
            branches = tuple(
                (Taken(_source_name(int(output["layer"]), inputs)), Written("ID", {}, _output_name(output["name"])))
                for output in outputs
            )
            chain.append(Joined("OUT", branches))
        return write(chain, shape, classes, input_name=named, task=task), classes
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as error:
        raise ArchitectureError(f"malformed architecture ({type(error).__name__}: {error})") from None


def _output_name(name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"output name {name!r}")
    return name


def _taken(items: list) -> set[int]:
    """The layers whose output a ``{"from": i}`` item goes on from."""
    found: set[int] = set()
    for item in items:
        if isinstance(item, dict) and "from" in item:
            found.add(int(item["from"]))
        elif isinstance(item, dict):
            for branch in item["branches"]:
                found |= _taken(branch)
    return found


def _appended_head(layer: Mapping, task: Task) -> bool:
    """A head left out of the written spec, for the task to append again: one that written would hash as
    another model (:meth:`Task.writes_head`). Every other head is written, so that the text states the
    output count."""
    return bool(layer.get("head")) and not task.writes_head(_code(layer), _args(layer), ordered=True)


def _inputs_read(inputs: Any) -> list[tuple[str, tuple]]:
    """Each input's name and shape (height, width, channels) of a model of several; empty for one."""
    if not isinstance(inputs, list):
        raise TypeError("inputs must be a list")
    read = [(_output_name(given["name"]), tuple(given["shape"])[1:]) for given in inputs]
    if read and (len(read) < 2 or len({name for name, _ in read}) != len(read)):
        raise ValueError("inputs must be two or more, of names apart")
    return read


def _source_name(source: int, inputs: list[tuple[str, tuple]]) -> str:
    """The name a chain goes on from a layer's output or an input by."""
    return inputs[INPUT - source][0] if inputs and source <= INPUT else tensor_name(source)


def _node(
    item: Any, layers: list, head: set[int], names: set[int], inputs: list | None = None, opened: set | None = None
) -> Node | None:
    """The node of one tree item; a model of several inputs declares each later input (``IN(...) as ir``)
    where the tree first goes on from it (``opened``: those declared so far), and goes on from it by name after."""
    inputs = inputs or []
    if isinstance(item, dict) and "from" in item:
        source = int(item["from"])
        if inputs and source < INPUT and source not in opened:
            if INPUT - source >= len(inputs):
                raise IndexError(f"input {source} of {len(inputs)}")
            opened.add(source)
            name, shape = inputs[INPUT - source]
            return Written("IN", {"shape": shape}, name)
        return Taken(_source_name(source, inputs))
    if isinstance(item, dict):
        merge = layers[item["merge"]]
        nodes = ((_node(i, layers, head, names, inputs, opened) for i in branch) for branch in item["branches"])
        branches = tuple(tuple(n for n in branch if n) for branch in nodes)
        return Joined(_code(merge), branches, _args(merge), _name(item["merge"], names))
    if not isinstance(item, int) or isinstance(item, bool):
        raise TypeError(f"tree item {item!r} is neither a layer index nor a merge")
    return None if item in head else Written(_code(layers[item]), _args(layers[item]), _name(item, names))


def _name(index: int, names: set[int]) -> str | None:
    return tensor_name(index) if index in names else None


def _code(layer: Mapping) -> str:
    code = layer["code"]
    if not isinstance(code, str) or not code.isidentifier():
        raise ValueError(f"layer code {code!r}")
    return code


def _args(layer: Mapping) -> dict:
    args = layer.get("args", {})
    if not isinstance(args, dict):
        raise TypeError("layer args must be an object")
    return {str(name): _tuples(value) for name, value in args.items()}


def _tuples(value: Any) -> Any:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value
