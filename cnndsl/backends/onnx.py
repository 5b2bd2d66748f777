"""Emit an ONNX file through PyTorch's exporter, from the module the PyTorch backend builds.

The graph takes ``input`` of shape (batch, channels, height, width), channels first
as the PyTorch module does, with a free batch size, and gives ``output``. The
weights are the module's (Keras's initialisers), or a Keras model's after
:func:`cnndsl.backends.torch.port_weights`. torch and onnx are imported only here.
"""

from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING

from cnndsl.model import CheckedModel

if TYPE_CHECKING:
    import torch

OPSET = 17


def emit(model: CheckedModel, logits: bool = False) -> bytes:
    """The ONNX file of a freshly initialised model; SpecValueError for a layer PyTorch cannot build."""
    from cnndsl.backends.torch import build

    return export(build(model, logits), model)


def export(module: torch.nn.Module, model: CheckedModel) -> bytes:
    """The ONNX bytes of a PyTorch module built from ``model``, exported in eval mode."""
    import torch

    height, width, channels = model.input_shape[1:]
    example = torch.zeros(1, channels, height, width)
    buffer = io.BytesIO()
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), buffer, dynamo=False, opset_version=OPSET,
            input_names=["input"], output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        )  # fmt: skip
    return buffer.getvalue()
