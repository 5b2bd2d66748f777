"""Budgets: parameter, FLOP and activation-memory limits a model must stay within."""

from __future__ import annotations

from cnndsl.errors import Diagnostic
from cnndsl.model import CheckedModel, LayerInfo
from cnndsl.settings import Settings

BUDGET = "budget"
BYTES_PER_VALUE = 4
"""Activations are counted as float32."""
FLOPS_PER_MAC = 2
"""A multiply-accumulate is two floating-point operations."""


def flops(model: CheckedModel) -> int | None:
    """Floating-point operations of one forward pass: two per multiply-accumulate; None if a size is unknown."""
    macs = model.total_macs
    return None if macs is None else FLOPS_PER_MAC * macs


def activation_bytes(model: CheckedModel) -> int | None:
    """Bytes of every layer's output for one example, as float32; None if a size is unknown."""
    values = [info.activations for info in model.layers]
    return None if None in values else BYTES_PER_VALUE * sum(values)


def check_budgets(model: CheckedModel, settings: Settings) -> list[Diagnostic]:
    """One diagnostic per budget the model exceeds, pointing at the largest contributor."""
    figures = (
        ("parameters", model.total_params, settings.max_params, "max_params", lambda i: i.params, _count),
        ("FLOPs", flops(model), settings.max_flops, "max_flops", lambda i: FLOPS_PER_MAC * i.macs, _count),
        ("of activations per example", activation_bytes(model), settings.max_activations, "max_activations",
         lambda i: BYTES_PER_VALUE * i.activations, format_bytes),
    )  # fmt: skip
    problems = []
    for what, figure, limit, name, share, show in figures:
        flag = settings.origin(name)
        code = name.replace("_", "-")
        if limit is not None and figure is None:
            message = (
                f"the model's {what.removeprefix('of ')} cannot be counted against {flag}: its input size is unknown"
            )
            hint = "give the input's size: IN(h, w, c) in the spec, or --input-shape H,W,C"
            problems.append(Diagnostic(BUDGET, message, model.layers[0].layer.span, hint=hint, code="budget-unknown"))
        elif limit is not None and figure > limit:
            largest = max(model.layers, key=share)
            message = f"{show(figure)} {what}, over the budget of {show(limit)} ({flag})"
            hint = f"the largest share is {_named(largest)} with {show(share(largest))}"
            problems.append(Diagnostic(BUDGET, message, largest.layer.span, hint=hint, code=code))
    return problems


def _named(info: LayerInfo) -> str:
    """The layer the caret points at, by its text (the appended head as such) and Keras name."""
    text = info.layer.text if _written(info) else f"the appended head {info.layer.text}"
    return f"{text} ({info.name})"


def _written(info: LayerInfo) -> bool:
    """Whether the layer is written in the spec (the appended head has an empty span at the end)."""
    span = info.layer.span
    return span is not None and span.start < span.end


def _count(value: int) -> str:
    return f"{value:,}"


def format_bytes(count: int) -> str:
    """Keras's size display, in powers of 1,024: ``938.98 KB``."""
    size = float(count)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"
