"""Emit an ONNX file through PyTorch's exporter, from the module the PyTorch backend builds.

The graph takes ``input`` of shape (batch, channels, height, width), channels first
as the PyTorch module does, with a free batch size (and a free height and width where
the spec leaves them unknown), and gives ``output`` (a model ending in ``OUT(...)``: one
output per name, in order). The
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

    height, width, _ = model.input_shape[1:]
    module.eval()
    example = _example(module, model)
    free = {0: "batch", **({2: "height"} if height is None else {}), **({3: "width"} if width is None else {})}
    names = list(model.output_names) or ["output"]
    inputs = list(model.input_names) or ["input"]
    examples, axes = (example,), {"input": free}
    if model.inputs:  # several inputs: one per name, each a zero batch of its size (an example size where unknown)
        examples = tuple(
            torch.zeros(1, each.shape[3], *(size or EXAMPLE_SIZES[0] for size in each.shape[1:3]))
            for each in model.inputs
        )
        axes = {
            each.name: {
                0: "batch",
                **{axis + 1: word for axis, word in ((1, "height"), (2, "width")) if each.shape[axis] is None},
            }
            for each in model.inputs
        }
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, examples, buffer, dynamo=False, opset_version=OPSET,
            input_names=inputs, output_names=names,
            dynamic_axes={**axes, **{name: {0: "batch"} for name in names}},
        )  # fmt: skip
    return buffer.getvalue()


EXAMPLE_SIZES = (224, 512, 1024)
"""Sizes tried for a height or width left unknown (``IN(None, None, 3)``): the graph is traced at the
first the module takes, and exported with that axis free."""


def _example(module: torch.nn.Module, model: CheckedModel) -> torch.Tensor:
    """A zero batch of one the module runs on: the input's size, or an example size where it is unknown."""
    import torch

    if model.inputs:  # several inputs: exported at their declared sizes (see :func:`export`)
        return None

    height, width, channels = model.input_shape[1:]
    for size in EXAMPLE_SIZES if None in (height, width) else (None,):
        example = torch.zeros(1, channels, height or size, width or size)
        try:
            with torch.no_grad():
                module(example)
        except RuntimeError:
            continue
        return example
    raise ValueError(f"no input of height and width in {EXAMPLE_SIZES} fits the model; give the input's size")
