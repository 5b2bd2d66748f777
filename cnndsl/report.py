"""Human and machine renderings of a checked model: the summary table and JSON."""

from __future__ import annotations

import hashlib

from cnndsl.budgets import activation_bytes, flops, format_bytes
from cnndsl.errors import Diagnostic
from cnndsl.model import CheckedModel, LayerInfo
from cnndsl.shapes import format_shape

HEADERS = ("Layer (type)", "Output Shape", "Param #", "MACs", "Activations", "Spec")
RIGHT = (False, False, True, True, True, False)


def summary_table(model: CheckedModel) -> str:
    """A table like Keras's ``model.summary()``, with each layer's text in the spec."""
    rows = [_row(info) for info in model.layers]
    widths = [max(len(cell) for cell in column) for column in zip(HEADERS, *rows)]
    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    lines = [
        f"Input: {format_shape(model.input_shape)}   Classes: {model.num_classes}",
        rule,
        _line(HEADERS, widths),
        rule,
    ]
    lines += [_line(row, widths) for row in rows]
    lines += [
        rule,
        f"Total params: {model.total_params:,} ({format_bytes(model.total_params * 4)})",
        f"Trainable params: {model.trainable_params:,} ({format_bytes(model.trainable_params * 4)})",
        f"Non-trainable params: {model.non_trainable_params:,} ({format_bytes(model.non_trainable_params * 4)})",
        f"Multiply-accumulates: {model.total_macs:,} per example ({flops(model):,} FLOPs)",
        f"Activations: {format_bytes(activation_bytes(model))} per example (float32)",
        f"Architecture hash: {architecture_hash(model)}",
    ]
    return "\n".join(lines)


def _row(info: LayerInfo) -> tuple[str, ...]:
    text = " ".join(info.layer.text.split())
    if info.layer.head:
        text = f"{text}  (head)"
    return (
        f"{info.name} ({info.keras_class})",
        format_shape(info.output_shape),
        f"{info.params:,}",
        f"{info.macs:,}",
        f"{info.activations:,}",
        text,
    )


def _line(cells, widths) -> str:
    padded = [f"{cell:>{width}}" if right else f"{cell:<{width}}" for cell, width, right in zip(cells, widths, RIGHT)]
    return "  ".join(padded).rstrip()


def summary_json(model: CheckedModel) -> dict:
    """The ``cnndsl summary --json`` document."""
    return {
        "layers": [_layer_json(info) for info in model.layers],
        "input_shape": list(model.input_shape),
        "output_shape": list(model.output_shape),
        "total_params": model.total_params,
        "trainable_params": model.trainable_params,
        "non_trainable_params": model.non_trainable_params,
        "macs": model.total_macs,
        "flops": flops(model),
        "activation_bytes": activation_bytes(model),
        "hash": architecture_hash(model),
        "warnings": [d.as_dict() for d in model.warnings],
    }


def _layer_json(info: LayerInfo) -> dict:
    span = info.layer.span
    return {
        "name": info.name,
        "code": info.code,
        "keras_class": info.keras_class,
        "output_shape": list(info.output_shape),
        "params": info.params,
        "trainable_params": info.trainable,
        "non_trainable_params": info.non_trainable,
        "macs": info.macs,
        "activations": info.activations,
        "text": info.layer.text,
        "head": info.layer.head,
        "line": span.line if span else None,
        "column": span.column if span else None,
    }


def errors_json(diagnostics: tuple[Diagnostic, ...]) -> dict:
    """The ``--json`` document for a spec with errors."""
    return {"errors": [d.as_dict() for d in diagnostics]}


def canonical_form(model: CheckedModel) -> str:
    """The architecture with every layer and argument explicit: equal forms, equal models.

    >>> from cnndsl import check
    >>> canonical_form(check("CN(8)*2->GAP()")) == canonical_form(check("CN(8,3)->CN(8,(3,3))->GAP()->DN(10)"))
    True
    """
    shape = ",".join(str(size) for size in model.input_shape[1:])
    layers = [
        f"{info.code}({', '.join(f'{k}={_arg(v)}' for k, v in info.layer.args.items())})" for info in model.layers
    ]
    return " -> ".join([f"IN({shape})", *layers])


def _arg(value) -> str:
    return "(" + ",".join(str(v) for v in value) + ")" if isinstance(value, tuple) else str(value)


def architecture_hash(model: CheckedModel) -> str:
    """A short stable hash of :func:`canonical_form`."""
    return hashlib.sha256(canonical_form(model).encode()).hexdigest()[:12]
