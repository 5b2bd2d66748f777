"""Back to the notation: a Keras model (Sequential or functional) as a canonical spec.

Each Keras layer class maps to a code and its resolved arguments (a table, as
the backends have); a merge's branches are found from the graph: every branch
of a merge starts at the last node that all of them pass through. A layer the
notation lacks, a setting it cannot write, or a graph that is not nested merges
is an :class:`UnsupportedModel` naming the layer and its class.

``.keras`` files are read with Keras's ``safe_mode`` only, after cnndsl has
looked at the file's configuration itself: a layer that would need unsafe loading
(a ``Lambda``) or an object from outside Keras is refused before Keras sees it.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnndsl.errors import ModelFileError, UnsupportedModel
from cnndsl.layers import ACTIVATIONS, MERGES
from cnndsl.passes.resolve import HEAD_CODE
from cnndsl.writer import Joined, Node, Written, write

MAX_MODEL_BYTES = 2 * 1024**3
"""Largest model file opened."""
UNSAFE_CLASSES = frozenset({"Lambda", "TFOpLambda"})
"""Layer classes whose loading runs Python code stored in the file."""


@dataclass(frozen=True)
class KerasSpec:
    """The notation of a Keras model: check ``text`` with ``num_classes`` (the head's units)."""

    text: str
    num_classes: int

    def __str__(self) -> str:
        return self.text


# --- layers -> codes -------------------------------------------------------------------------


def _name(layer) -> str:
    return f"layer {layer.name!r} ({type(layer).__name__})"


def _activation(layer, value: Any) -> str:
    if value is None:
        return "linear"
    if not isinstance(value, str) or value not in ACTIVATIONS:
        raise UnsupportedModel(f"{_name(layer)}: the activation {value!r} has no name in the notation")
    return value


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, list | tuple) else (value, value)


def _channels_last(layer, config: Mapping) -> None:
    if config.get("data_format") not in (None, "channels_last"):
        raise UnsupportedModel(f"{_name(layer)}: data_format {config['data_format']!r}; the notation is channels-last")


def _conv_args(layer, c: Mapping) -> dict:
    _channels_last(layer, c)
    if c.get("groups", 1) != 1:
        raise UnsupportedModel(f"{_name(layer)}: groups={c['groups']} has no notation (use DW for depthwise)")
    return {
        "kernel": _pair(c["kernel_size"]), "strides": _pair(c["strides"]), "padding": c["padding"],
        "activation": _activation(layer, c["activation"]), "dilation": _pair(c["dilation_rate"]),
        "bias": c["use_bias"],
    }  # fmt: skip


def _conv(layer, c: Mapping) -> tuple[str, dict]:
    return "CN", {"filters": c["filters"], **_conv_args(layer, c)}


def _depthwise(layer, c: Mapping) -> tuple[str, dict]:
    return "DW", {**_conv_args(layer, c), "depth_multiplier": c["depth_multiplier"]}


def _separable(layer, c: Mapping) -> tuple[str, dict]:
    return "SC", {"filters": c["filters"], **_conv_args(layer, c), "depth_multiplier": c["depth_multiplier"]}


def _pool(code: str) -> Callable:
    def convert(layer, c: Mapping) -> tuple[str, dict]:
        _channels_last(layer, c)
        pool = _pair(c["pool_size"])
        return code, {"pool": pool, "strides": _pair(c["strides"] or pool), "padding": c["padding"]}

    return convert


def _global(code: str) -> Callable:
    def convert(layer, c: Mapping) -> tuple[str, dict]:
        _channels_last(layer, c)
        return code, {"keepdims": c.get("keepdims", False)}

    return convert


def _dropout(layer, c: Mapping) -> tuple[str, dict]:
    if c.get("noise_shape") is not None:
        raise UnsupportedModel(f"{_name(layer)}: noise_shape has no notation")
    return "DP", {"rate": float(c["rate"])}


def _dense(layer, c: Mapping) -> tuple[str, dict]:
    return "DN", {"units": c["units"], "activation": _activation(layer, c["activation"]), "bias": c["use_bias"]}


def _batch_norm(layer, c: Mapping) -> tuple[str, dict]:
    axis = c.get("axis", -1)
    if axis not in (-1, 3, [-1], [3]):
        raise UnsupportedModel(f"{_name(layer)}: axis={axis}; the notation normalises the channel axis")
    keys = ("momentum", "epsilon", "center", "scale")
    return "BN", {key: c[key] for key in keys}


def _relu(layer, c: Mapping) -> tuple[str, dict]:
    plain = c.get("negative_slope", 0) == 0 and c.get("threshold", 0) == 0
    if plain and c.get("max_value") is None:
        return "ACT", {"name": "relu"}
    if plain and c.get("max_value") == 6:
        return "ACT", {"name": "relu6"}
    raise UnsupportedModel(f"{_name(layer)}: only ReLU() and ReLU(max_value=6) have notation (relu, relu6)")


def _zero_padding(layer, c: Mapping) -> tuple[str, dict]:
    _channels_last(layer, c)
    (top, bottom), (left, right) = c["padding"]
    return "ZP", {"pad": ((top, bottom), (left, right))}


def _upsampling(layer, c: Mapping) -> tuple[str, dict]:
    _channels_last(layer, c)
    return "UP", {"size": _pair(c["size"]), "interpolation": c["interpolation"]}


def _concatenate(layer, c: Mapping) -> tuple[str, dict]:
    return "CAT", {"axis": c["axis"]}


TABLE: dict[str, Callable[[Any, Mapping], tuple[str, dict]]] = {
    "Conv2D": _conv,
    "DepthwiseConv2D": _depthwise,
    "SeparableConv2D": _separable,
    "MaxPooling2D": _pool("MP"),
    "AveragePooling2D": _pool("AP"),
    "GlobalAveragePooling2D": _global("GAP"),
    "GlobalMaxPooling2D": _global("GMP"),
    "Dropout": _dropout,
    "Flatten": lambda layer, c: ("FL", {}),
    "Dense": _dense,
    "BatchNormalization": _batch_norm,
    "Activation": lambda layer, c: ("ACT", {"name": _activation(layer, c["activation"])}),
    "ReLU": _relu,
    "ZeroPadding2D": _zero_padding,
    "UpSampling2D": _upsampling,
    "Add": lambda layer, c: ("ADD", {}),
    "Multiply": lambda layer, c: ("MUL", {}),
    "Concatenate": _concatenate,
}
"""Keras layer class -> (code, resolved arguments)."""


def _node_parts(layer) -> tuple[str, dict]:
    """(code, arguments in the notation's terms)."""
    convert = TABLE.get(type(layer).__name__)
    if convert is None:
        raise UnsupportedModel(f"{_name(layer)} has no code in the notation")
    return convert(layer, layer.get_config())


# --- the graph -> chains and merges ------------------------------------------------------------


def to_spec(model) -> KerasSpec:
    """The canonical notation of a built Keras model; UnsupportedModel for what the notation cannot write."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    shape = _input_shape(model)
    if not layers:
        raise UnsupportedModel("the model has no layers")
    head = layers[-1]
    code, args = _node_parts(head)
    if code != HEAD_CODE or args.get("activation") != "softmax":
        raise UnsupportedModel(f"{_name(head)}: the notation's models end in a softmax Dense classifier head")
    graph = _Graph(model, layers)
    chain = graph.chain(graph.feeds(head)[0], None)
    graph.check_all_used(head)
    return KerasSpec(write(chain, shape, args["units"]), args["units"])


def _input_shape(model) -> tuple[int, ...]:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs or len(inputs) != 1:
        raise UnsupportedModel("the model needs exactly one input (build it, or give it a keras.Input)")
    shape = tuple(inputs[0].shape[1:])
    if len(shape) != 3 or None in shape:
        raise UnsupportedModel(f"the model's input {shape} is not (height, width, channels) with known sizes")
    return shape


class _Graph:
    """Who feeds whom, by layer name; None is the model input."""

    def __init__(self, model, layers):
        self.layers = {layer.name: layer for layer in layers}
        self.inputs = _inbound(model, layers)
        self.used: set[str] = set()
        self._starts: dict[str, str | None] = {}

    def feeds(self, layer) -> list[str | None]:
        return self.inputs[layer.name]

    def chain(self, end: str | None, start: str | None) -> tuple[Node, ...]:
        """The nodes from ``start`` (exclusive) to ``end`` (inclusive)."""
        nodes: list[Node] = []
        while end != start:
            if end is None:
                raise UnsupportedModel(f"a branch does not start where its merge's other branches start ({start!r})")
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
            raise UnsupportedModel(f"{_name(layer)} is reached twice: the graph is not nested merges")
        self.used.add(layer.name)

    def check_all_used(self, head) -> None:
        self.used.add(head.name)
        for name, layer in self.layers.items():
            if name not in self.used:
                raise UnsupportedModel(f"{_name(layer)} does not lie on a chain or merge branch to the output")


def _inbound(model, layers) -> dict[str, list[str | None]]:
    """Each layer's inputs by name, from the model's configuration (None: the model input)."""
    names = {layer.name for layer in layers}
    if type(model).__name__ == "Sequential":
        previous = [None, *(layer.name for layer in layers[:-1])]
        return {layer.name: [before] for layer, before in zip(layers, previous)}
    found = {}
    for entry in model.get_config()["layers"]:
        if entry["name"] in names:
            nodes = entry["inbound_nodes"]
            if len(nodes) != 1:
                raise UnsupportedModel(f"layer {entry['name']!r} ({entry['class_name']}) is used {len(nodes)} times")
            found[entry["name"]] = [h if h in names else None for h in _history(nodes[0]["args"])]
    return found


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
