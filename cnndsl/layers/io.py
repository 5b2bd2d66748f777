"""``IN`` (the input's declaration) and ``ID`` (the input, unchanged): codes that make no layer."""

from __future__ import annotations

from cnndsl.layers.core import (
    InputDims,
    LayerType,
    Param,
    Torch,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass


_NO_LAYER = "never a layer (IN declares the input, ID passes it on)"


NO_LAYERS = (
    LayerType("ID", "Identity", "the input, unchanged (no layer)", is_identity=True,
              torch=Torch(refuse=_NO_LAYER, read_by="nn.Identity and every layout change (permute, contiguous) "
                                                     "read as the input itself"),
              example={},
              note=": the input, unchanged; no layer"),
    LayerType("IN", "InputLayer", "input shape (height, width, channels), height and width may be None; first, or a further "
              "input named later in the model's chain",
              (Param("shape", InputDims()),), collect="shape", is_input=True,
              torch=Torch(refuse=_NO_LAYER, read_by="the traced module's one input, with --input-shape"),
              example={"shape": (8, 8, 4)},
              note=": `IN(height, width, channels)`, first (a further input: `-> IN(64, 64, 1) as ir ->` later in "
                   "the model's chain); `IN(None, None, 3)` takes images of any size"),
)  # fmt: skip
