"""Readers for the golden files under tests/golden/."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


@dataclass(frozen=True)
class NotebookTable:
    """A ``model.summary()`` table from the notebook: per-layer rows and totals."""

    classes: list[str]
    shapes: list[tuple]
    params: list[int]
    total: int
    trainable: int
    non_trainable: int


def notebook_table(name: str) -> NotebookTable:
    classes, shapes, params, totals = [], [], [], {}
    for line in (GOLDEN / f"notebook_{name}.tsv").read_text().splitlines():
        if line.startswith("#"):
            continue
        if ":" in line:
            key, value = line.split(":")
            totals[key] = int(value.replace(",", ""))
            continue
        layer, shape, count = line.split("\t")
        classes.append(re.search(r"\((.*)\)", layer).group(1).replace(" ", ""))
        shapes.append(tuple(None if s.strip() == "None" else int(s) for s in shape.strip("()").split(",")))
        params.append(int(count))
    return NotebookTable(
        classes, shapes, params, totals["Total params"], totals["Trainable params"], totals["Non-trainable params"]
    )


def notebook_specs() -> dict[str, str]:
    lines = (GOLDEN / "notebook_specs.txt").read_text().splitlines()
    return dict(line.split("\t") for line in lines if line and not line.startswith("#"))
