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


# keras.applications families written in examples/, by file stem: (keras.applications constructor,
# input size, total parameters, non-trainable); benchmarks/checker.py times the GOLDENS
GOLDENS = {
    "vgg16": ("VGG16", 224, 138_357_544, 0),
    "resnet50": ("ResNet50", 224, 25_636_712, 53_120),
    "mobilenet_v2": ("MobileNetV2", 224, 3_538_984, 34_112),
    "densenet121": ("DenseNet121", 224, 8_062_504, 83_648),
    "inception_v3": ("InceptionV3", 299, 23_851_784, 34_432),
    "xception": ("Xception", 299, 22_910_480, 54_528),
}
# the families whose codes came later (grouped convolutions, layer normalisation and scale,
# preprocessing layers, drop-connect, scaled residuals, heads of their own)
LATER = {
    "efficientnet_b0": ("EfficientNetB0", 224, 5_330_571, 42_023),
    "efficientnet_v2_s": ("EfficientNetV2S", 384, 21_612_360, 153_872),
    "convnext_tiny": ("ConvNeXtTiny", 224, 28_589_128, 0),
    "mobilenet_v3_small": ("MobileNetV3Small", 224, 2_554_968, 12_112),
    "mobilenet": ("MobileNet", 224, 4_253_864, 21_888),
    "inception_resnet_v2": ("InceptionResNetV2", 299, 55_873_736, 60_544),
    "resnet50_v2": ("ResNet50V2", 224, 25_613_800, 45_440),
    "nasnet_mobile": ("NASNetMobile", 224, 5_326_716, 36_738),
}
EVERY = {**GOLDENS, **LATER}
