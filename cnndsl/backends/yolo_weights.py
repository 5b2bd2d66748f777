"""Ultralytics' weights into the models built from its model file, by module path.

An Ultralytics model is an ``nn.Sequential`` of the file's layers (``model.{i}``), each
module named as its class names its parts (``cv1.conv``, ``m.0.cv2.bn``, ``cv3.1.2``). The
notation read from the file (:mod:`cnndsl.yolo`) keeps both: every layer of the checked
model stands where its file entry stands (its span), and a layer a block code made carries
its path inside the block (:attr:`cnndsl.model.Layer.path`). So each weight of the build
is found in the Ultralytics model at ``{i}.{path}``: ``model.4.m.0.cv1.conv.weight`` for
the convolution of the first bottleneck of layer 4. A module repeated in a row (``[-1, 3,
Conv, ...]``) is an ``nn.Sequential`` of copies, its ``k``-th copy at ``{i}.{k}.{path}``;
the classification head's convolution is at ``{i}.conv`` and its linear layer at ``{i}.linear``.

Each code's own porting declaration (:class:`cnndsl.layers.core.Torch`'s ``ports``) says
where a Keras weight lies in PyTorch and how its layout differs; the PyTorch tensor is
read back through that declaration into Keras's layout, then set into the Keras model
(``set_weights``) or ported into the PyTorch build as a Keras model's weights are.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cnndsl.model import CheckedModel

__all__ = ["port_yolo", "is_ultralytics", "layer_sources", "weights_of"]


def weights_of(info, model: CheckedModel) -> tuple:
    """A checked layer's weights, as its code declares them for the shapes it takes (a merge: every branch's)."""
    kind = info.layer.type
    if not kind.merge:
        return kind.weights(info.input_shape, info.layer.args)
    seen = [model.input_shape, *info.input_shapes] if getattr(kind, "sees_input", False) else list(info.input_shapes)
    return kind.weights(seen, info.layer.args)


def is_ultralytics(source) -> bool:
    """Whether ``source`` is an Ultralytics model (or its ``nn.Sequential`` of layers): layers carrying ``i`` and ``f``."""
    layers = _layers(source)
    return layers is not None


def _layers(source):
    """The ``nn.Sequential`` of an Ultralytics model's layers, or None."""
    for candidate in (source, getattr(source, "model", None)):
        children = list(candidate.children()) if hasattr(candidate, "children") else []
        if (
            children
            and type(candidate).__name__ == "Sequential"
            and all(hasattr(child, "i") and hasattr(child, "f") for child in children)
        ):
            return candidate
    return None


def layer_sources(model: CheckedModel) -> list[int | None]:
    """Per layer of a checked model read from a model file: the index of the file's layer it stands for."""
    from cnndsl.yolo import read_yolo

    reading = read_yolo(model.source)
    return [None if info.layer.span is None else reading.layer_at(info.layer.span.start) for info in model.layers]


def port_yolo(source, built, model=None) -> None:
    """Copy an Ultralytics model's weights and batch-norm statistics into ``built``.

    ``built`` is what ``compile_spec(cnndsl.from_yolo(path, scale))`` returned (Keras, or PyTorch
    with ``backend="torch"``). ``model`` is what it was built from (``from_yolo``'s result or its
    checked model); by default the Ultralytics model's own file (its ``yaml``, at its scale) is
    read again. ValueError naming the layer where a module or a weight does not correspond (a
    fused model, whose batch norms were folded into its convolutions, is refused so).
    """
    import torch

    layers = _layers(source)
    if layers is None:
        raise ValueError("not an Ultralytics model: its layers are an nn.Sequential whose modules carry i and f")
    model = _checked(source, model)
    indices = layer_sources(model)
    targets = _targets(built, model)
    copies: dict[tuple[int, str], int] = {}
    with torch.no_grad():
        for info, index, target in zip(model.layers, indices, targets):
            kind = info.layer.type
            weights = weights_of(info, model)
            if not weights:
                continue
            if index is None or index >= len(layers):
                raise ValueError(f"{info.name} ({info.code}): no layer of the Ultralytics model stands for it")
            module = _module(layers[index], index, info, copies)
            arrays = [_keras_layout(kind, weight, module, index, info) for weight in weights]
            _set(built, target, info, weights, arrays)


MODEL_KEYS = ("nc", "scales", "depth_multiple", "width_multiple", "channels", "backbone", "head")
"""The keys of an Ultralytics model's ``yaml`` that describe its architecture (the rest are its own records)."""


def _checked(source, model) -> CheckedModel:
    """The checked model the build was made from: given, or read from the Ultralytics model's own file."""
    if model is not None:
        return model.check() if callable(getattr(model, "check", None)) else model
    described = getattr(source, "yaml", None)
    if not isinstance(described, dict):
        raise ValueError("the Ultralytics model carries no yaml to read; pass model=cnndsl.from_yolo(path, scale)")
    import yaml

    from cnndsl.yolo import from_yolo_text

    text = yaml.safe_dump({key: described[key] for key in MODEL_KEYS if key in described}, sort_keys=False)
    return from_yolo_text(text, described.get("scale") or None).check()


def _targets(built, model: CheckedModel) -> list:
    if _is_torch(built):
        targets = list(built.children())
    else:  # the i-th Keras layer (input aside) is the checked model's i-th, as the Keras backend makes them
        targets = [layer for layer in built.layers if type(layer).__name__ != "InputLayer"]
    if len(targets) != len(model.layers):
        raise ValueError(f"the built model has {len(targets)} layers, the notation {len(model.layers)}")
    return targets


def _is_torch(built) -> bool:
    return any(cls.__module__.startswith("torch.") for cls in type(built).__mro__)


def _module(layer, index: int, info, copies: dict):
    """The Ultralytics module a layer's weights are in: the file's layer ``index``, at the layer's path."""
    path = info.layer.path or ""
    kind = type(layer).__name__
    if kind == "Classify":  # its convolution (a CONV's conv and bn) and its linear layer
        path = "linear" if info.code == "DN" else f"conv.{path}" if path else "conv"
    elif kind == "Sequential":  # a module repeated in a row: the k-th copy holds the k-th use's weights
        key = (index, path)
        copy = copies.get(key, 0)
        copies[key] = copy + 1
        path = f"{copy}.{path}" if path else str(copy)
    try:
        return layer.get_submodule(path) if path else layer
    except AttributeError:
        where = f"model.{index}.{path}" if path else f"model.{index}"
        raise ValueError(
            f"{info.name} ({info.code}): the Ultralytics model has no module {where}"
            + (" (a fused model: port before fusing its batch norms)" if path.endswith("bn") else "")
        ) from None


def _keras_layout(kind, weight, module, index: int, info):
    """A weight of the Ultralytics module in Keras's layout, through the code's porting declaration."""
    import numpy as np

    ports = kind.torch.ports or {}
    short = weight.name.rpartition("/")[2]
    if short not in ports:
        raise ValueError(f"{info.name} ({info.code}): no PyTorch counterpart declared for the weight {short!r}")
    _, attribute, layout = ports[short]
    tensor = module
    for part in attribute.split("."):
        tensor = getattr(tensor, part, None)
        if tensor is None:
            raise ValueError(f"{info.name} ({info.code}): model.{index} has no tensor {attribute!r} for {short!r}")
    value = tensor.detach().cpu().numpy()
    shape = tuple(weight.shape)
    if layout is None:
        if value.shape != shape:
            raise ValueError(f"{info.name} {short}: Ultralytics' {value.shape} does not fit {shape}")
        return value.copy()
    places = np.asarray(layout(np.arange(int(np.prod(shape))).reshape(shape)))
    if places.shape != value.shape:
        raise ValueError(f"{info.name} {short}: Ultralytics' {value.shape} does not fit {places.shape}")
    flat = np.empty(places.size, dtype=value.dtype)
    flat[places.ravel()] = value.ravel()
    return flat.reshape(shape)


class _Variable:
    """A weight in Keras's layout, named as the code names it: what a PyTorch build's porting reads."""

    def __init__(self, name: str, value):
        self.name, self.value = name, value

    def numpy(self):
        return self.value


def _set(built, target, info, weights, arrays: list) -> None:
    if not _is_torch(built):
        target.set_weights(arrays)
        return
    from cnndsl.backends.torch import port_layer

    names = [weight.name for weight in weights]
    port_layer(info.layer.type, info.name, [_Variable(name, array) for name, array in zip(names, arrays)], target)
