"""Infer every layer's output shape and parameter counts, as Keras would.

Pure Python: the rules come from the layer table. A size error leaves the
layer's output sizes unknown and inference goes on, so one pass reports every
independent shape error; a rank error ends it, since nothing after can be known.
"""

from __future__ import annotations

from collections import Counter

from cnndsl.ast import Span
from cnndsl.errors import SHAPE, Diagnostic
from cnndsl.model import Layer, LayerInfo
from cnndsl.shapes import Shape, ShapeProblem, format_shape

RANK_WORDS = {4: "a 4-D input (batch, height, width, channels)", 2: "a 2-D input (batch, features)"}


class Inferrer:
    """Walks resolved layers from the input shape, collecting shape diagnostics."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.names: Counter[str] = Counter()
        self.names_given: list[Layer] = []

    def infer(self, layers: list[Layer], input_shape: Shape) -> list[LayerInfo]:
        infos, shape = [], input_shape
        for layer in layers:
            info = self._layer(layer, shape)
            if info is None:
                break
            infos.append(info)
            shape = info.output_shape
        return infos

    def _layer(self, layer: Layer, shape: Shape) -> LayerInfo | None:
        kind = layer.type
        if kind.input_rank is not None and len(shape) != kind.input_rank:
            self._rank_error(layer, shape)
            return None
        out = self._output_shape(layer, shape)
        if not layer.head:
            self._warn(layer, kind.warn(shape, layer.args))
        weights = kind.weights(shape, layer.args)
        trainable = sum(w.size for w in weights if w.trainable)
        frozen = sum(w.size for w in weights if not w.trainable)
        macs = kind.macs(shape, out, layer.args) if None not in out[1:] else 0
        index = len(self.names_given)
        self.names_given.append(layer)
        return LayerInfo(
            layer, self._name(layer), shape, out, trainable or 0, frozen or 0, macs, (index - 1,), (shape,)
        )

    def _output_shape(self, layer: Layer, shape: Shape) -> Shape:
        try:
            return layer.type.output_shape(shape, layer.args)
        except ShapeProblem as problem:
            self._error(f"{_head(layer)}: {problem.message}", layer.span, problem.hint)
            unknown = (shape[0], *[None] * (len(shape) - 2), shape[-1])
            return layer.type.output_shape(unknown, layer.args)

    def _rank_error(self, layer: Layer, shape: Shape) -> None:
        want = RANK_WORDS.get(layer.type.input_rank, f"a {layer.type.input_rank}-D input")
        hint = "convolutions and poolings go before FL(); GAP() also ends the spatial part" if len(shape) < 4 else None
        self._error(f"{_head(layer)} needs {want}, but gets {format_shape(shape)}", layer.span, hint)

    def _name(self, layer: Layer) -> str:
        stem = layer.type.keras_name
        count = self.names[stem]
        self.names[stem] += 1
        return stem if count == 0 else f"{stem}_{count}"

    def _warn(self, layer: Layer, message: str | None) -> None:
        if message:
            self.diagnostics.append(Diagnostic(SHAPE, message, layer.span, severity="warning"))

    def _error(self, message: str, span: Span | None, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(SHAPE, message, span, hint=hint))


def check_head(infos: list[LayerInfo], num_classes: int) -> Diagnostic | None:
    """The model must end in (None, classes): a 4-D tensor at the head is an error."""
    if not infos:
        return None
    last = infos[-1]
    want = (None, num_classes)
    if len(last.output_shape) == 2:
        return None
    message = (
        f"the classifier head {last.layer.text} gets {format_shape(last.input_shape)} and would output "
        f"{format_shape(last.output_shape)}, but the model must end in {format_shape(want)}"
    )
    return Diagnostic(SHAPE, message, last.layer.span, hint="add FL() or GAP() before the classifier head")


def _head(layer: Layer) -> str:
    """How a message names the layer: its text in the spec, short."""
    text = " ".join(layer.text.split())
    return text if len(text) <= 40 else text[:37] + "..."
