"""The layer table: one entry per layer code, read by every stage.

An entry (:class:`LayerType`) holds the code, the argument schema (names, kinds,
defaults, bounds), the shape rule, the weight rule, the multiply-accumulate rule, its
Keras declaration and its PyTorch declaration, and its minimal example. The entries live
in one module per family (convolutions, pooling, reshapes, normalisation, ...);
adding a code means adding one entry to its family. Nothing here imports a framework.
"""

from __future__ import annotations

from cnndsl.layers.activation import ACTIVATION_LAYERS
from cnndsl.layers.augment import AUGMENTATIONS
from cnndsl.layers.conv import CONVOLUTIONS
from cnndsl.layers.core import (
    ACTIVATIONS,
    INTERPOLATIONS,
    MAX_INPUT_SIZE,
    MAX_UNITS,
    MAX_WEIGHT_VALUES,
    MAX_WINDOW,
    PADDINGS,
    REQUIRED,
    ArgProblem,
    KerasArg,
    KerasClass,
    LayerType,
    Param,
    Torch,
    Weight,
    _default_text,
    choice,
    count,
    example_text,
    flag,
    fraction,
    integer,
    real,
    reals,
    size,
    snake_case,
    suggest,
)
from cnndsl.layers.dense import DENSE
from cnndsl.layers.detect import DETECT_LAYERS
from cnndsl.layers.dropout import DROPOUTS
from cnndsl.layers.io import NO_LAYERS
from cnndsl.layers.merge import MERGE_LAYERS
from cnndsl.layers.norm import NORMALIZATIONS
from cnndsl.layers.pool import POOLINGS
from cnndsl.layers.reshape import RESHAPES
from cnndsl.layers.yolo import YOLO_BLOCKS
from cnndsl.shapes import ShapeProblem

FAMILIES = (
    CONVOLUTIONS, POOLINGS, RESHAPES, DROPOUTS, DENSE, NORMALIZATIONS, ACTIVATION_LAYERS, MERGE_LAYERS,
    DETECT_LAYERS, AUGMENTATIONS, YOLO_BLOCKS, NO_LAYERS,
)  # fmt: skip
"""Every family's entries, in the order the reference lists them."""

LAYERS: dict[str, LayerType] = {entry.code: entry for family in FAMILIES for entry in family}
"""Every layer code, by code."""
MERGES = frozenset(code for code, entry in LAYERS.items() if entry.merge)
BLOCK_CODES = frozenset(code for code, entry in LAYERS.items() if entry.block is not None)
"""The codes defined as blocks of other codes (the YOLO blocks): the checker expands them, so no
backend, emitter or reader meets them."""
"""The codes that join branches; the grammar names them too (tests hold the two equal)."""

__all__ = [
    "LAYERS",
    "MERGES",
    "BLOCK_CODES",
    "LayerType",
    "Param",
    "KerasArg",
    "KerasClass",
    "Torch",
    "ArgProblem",
    "ShapeProblem",
    "Weight",
    "ACTIVATIONS",
    "INTERPOLATIONS",
    "PADDINGS",
    "REQUIRED",
    "MAX_INPUT_SIZE",
    "MAX_UNITS",
    "MAX_WEIGHT_VALUES",
    "MAX_WINDOW",
    "suggest",
    "snake_case",
    "example_text",
    "choice",
    "count",
    "flag",
    "fraction",
    "integer",
    "real",
    "reals",
    "size",
    "_default_text",
]
