"""The pipeline, end to end: text -> AST -> passes -> checked model -> Keras or PyTorch.

Checking is :mod:`cnndsl.checker`'s (its names are here too); ``compile_spec`` imports
a framework only after the spec has passed every check.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnndsl.checker import check, check_chain, parse, valid_classes, valid_input_shape
from cnndsl.tasks import Task

TYPE_CHECKING = False
if TYPE_CHECKING:
    import keras
    import torch

__all__ = ["parse", "check", "check_chain", "compile_spec", "valid_input_shape", "valid_classes"]


def compile_spec(
    text: str,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    backend: str = "keras",
    logits: bool = False,
    task: str | Task | None = None,
    scale: str | None = None,
) -> keras.Model | torch.nn.Module:
    """Check a spec, then build it: an uncompiled Keras model, or with ``backend="torch"`` a ``torch.nn.Module``.

    ``logits=True`` (torch only) leaves the head's softmax out, for ``nn.CrossEntropyLoss`` (a binary or
    multi-label head's sigmoid, for ``nn.BCEWithLogitsLoss``). ``scale`` names the scale of a spec file's
    family to build (:func:`cnndsl.check`).
    Raises SpecError before Keras (or torch) is imported or anything is built.
    """
    if backend not in ("keras", "torch"):
        raise ValueError(f"backend must be 'keras' or 'torch', not {backend!r}")
    if logits and backend != "torch":
        raise ValueError("logits=True is for backend='torch'; a Keras model keeps its softmax")
    model = check(text, input_shape, num_classes, task, scale=scale)
    from cnndsl.errors import needs

    if backend == "torch":
        with needs("torch", 'compile_spec(backend="torch")'):
            from cnndsl.backends.torch import build as build_torch

            return build_torch(model, logits)
    with needs("tensorflow", "compile_spec()"):
        from cnndsl.backends.keras import build

        return build(model)
