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


def flops(model: CheckedModel) -> int:
    """Floating-point operations of one forward pass: two per multiply-accumulate."""
    return FLOPS_PER_MAC * model.total_macs


def activation_bytes(model: CheckedModel) -> int:
    """Bytes of every layer's output for one example, as float32."""
    return BYTES_PER_VALUE * sum(info.activations for info in model.layers)


def check_budgets(model: CheckedModel, settings: Settings) -> list[Diagnostic]:
    """One diagnostic per budget the model exceeds, pointing at the largest contributor."""
    figures = (
        ("parameters", model.total_params, settings.max_params, "--max-params", lambda i: i.params, _count),
        ("FLOPs", flops(model), settings.max_flops, "--max-flops", lambda i: FLOPS_PER_MAC * i.macs, _count),
        ("of activations per example", activation_bytes(model), settings.max_activations, "--max-activations",
         lambda i: BYTES_PER_VALUE * i.activations, format_bytes),
    )  # fmt: skip
    problems = []
    for what, figure, limit, flag, share, show in figures:
        if limit is not None and figure > limit:
            largest = max(model.layers, key=share)
            message = f"{show(figure)} {what}, over the budget of {show(limit)} ({flag})"
            hint = f"the largest share is {_named(largest)} with {show(share(largest))}"
            problems.append(Diagnostic(BUDGET, message, largest.layer.span, hint=hint, code=flag.removeprefix("--")))
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
