"""``cnndsl emit``: a checked model as Keras source, PyTorch source, the JSON architecture or ONNX."""

from __future__ import annotations

import json
import re

from cnndsl.model import CheckedModel

TARGETS = ("keras", "torch", "json", "onnx")
BINARY = frozenset({"onnx"})


LOGITS = frozenset({"torch", "onnx"})
"""The targets that can end in logits instead of the head's softmax."""


def emit(model: CheckedModel, to: str, spec_name: str = "<spec>", logits: bool = False) -> bytes:
    """The emitted file's bytes; SpecValueError for a layer the target cannot express.

    ``logits`` (PyTorch source and ONNX only) leaves the head's softmax out. Only ``onnx``
    imports a framework (torch, to export).
    """
    if logits and to not in LOGITS:
        raise ValueError(f"logits are for --to torch or onnx, not {to}: a Keras model keeps its softmax")
    if to == "keras":
        from cnndsl.backends.keras_source import emit as keras_source

        return keras_source(model, spec_name).encode("utf-8")
    if to == "torch":
        from cnndsl.backends.torch_source import emit as torch_source

        return torch_source(model, spec_name, logits).encode("utf-8")
    if to == "json":
        from cnndsl.backends.json_ir import document

        return (compact_json(document(model)) + "\n").encode("utf-8")
    if to == "onnx":
        from cnndsl.backends.onnx import emit as onnx_file

        return onnx_file(model, logits)
    raise ValueError(f"cannot emit {to!r}: one of {', '.join(TARGETS)}")


_NUMBERS = re.compile(r"\[\s+((?:-?[\d.e+-]+|null)(?:,\s+(?:-?[\d.e+-]+|null))*)\s+\]")


def compact_json(value: object) -> str:
    """JSON indented by two, with lists of numbers (shapes, sizes, inputs) on one line.

    >>> print(compact_json({"shape": [None, 28, 28, 1]}))
    {
      "shape": [null, 28, 28, 1]
    }
    """
    text = json.dumps(value, indent=2)
    return _NUMBERS.sub(lambda match: "[" + ", ".join(n.strip() for n in match.group(1).split(",")) + "]", text)
