"""What a reading's verification costs: ``from_torch`` and ``to_spec`` with and without it, side by side.

For each model (torchvision's, ``weights=None``, eval mode; keras.applications', ``weights=None``;
all at 224x224x3), the same model is read ``--repeats`` times each way, the two ways alternating
(and which goes first alternating too, so that neither always meets a warmer cache): ``verify=False``
(the reading alone) and ``verify=True`` (the reading, then the spec built in the source's framework,
given its weights, run against the source on one seeded image and compared layer by layer). The
medians, the time verification adds, and what it compared (layers compared of the layers read, the
largest difference seen relative to its tensor's largest value) are printed as each model finishes,
then as a table.

    python benchmarks/verify.py                            # the four models, 3 repeats
    python benchmarks/verify.py --only resnet18,MobileNetV2 --repeats 5 --markdown

torchvision's compiled detection ops do not load against the CPU build of torch; where its import
fails for that, an empty module stands in for their registrations (classification models use none).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TORCH_MODELS = ("resnet18", "mobilenet_v3_large")
KERAS_MODELS = ("MobileNetV2", "ResNet50")
SIZE = 224


@dataclass
class Row:
    """One model: the reading's times without and with verification, and what the verification compared."""

    name: str
    framework: str
    plain: list[float] = field(default_factory=list)
    verified: list[float] = field(default_factory=list)
    compared: int = 0
    layers: int = 0
    worst: float = 0.0
    error: str | None = None

    @property
    def plain_s(self) -> float:
        return statistics.median(self.plain) if self.plain else float("nan")

    @property
    def verified_s(self) -> float:
        return statistics.median(self.verified) if self.verified else float("nan")

    @property
    def added_s(self) -> float:
        return self.verified_s - self.plain_s


def torchvision():
    """torchvision, with a stand-in for its compiled operators' registrations only where its import fails."""
    try:
        import torchvision
    except RuntimeError as error:  # a torchvision built for another torch: "operator torchvision::nms does not exist"
        if "torchvision::" not in str(error):
            raise
        print(f"note: torchvision's own import failed ({str(error).splitlines()[0]}); an empty module stands in "
              "for its compiled operators' registrations", file=sys.stderr)  # fmt: skip
        name = "torchvision._meta_registrations"
        sys.modules.setdefault(name, types.ModuleType(name))
        import torchvision
    return torchvision


def torch_reader(name: str) -> tuple[Callable[[bool], object], Callable[[object], object]]:
    """(read with or without verification, verify a reading) for a torchvision model."""
    from cnndsl import from_torch
    from cnndsl.backends.torch_reader import graph_of, port_weights
    from cnndsl.backends.verify import verify_torch

    model = getattr(torchvision().models, name)(weights=None).eval()
    return (lambda verify: from_torch(model, (SIZE, SIZE, 3), verify=verify)), (
        lambda spec: verify_torch(spec, graph_of, port_weights)
    )


def keras_reader(name: str) -> tuple[Callable[[bool], object], Callable[[object], object]]:
    """(read with or without verification, verify a reading) for a keras.applications model."""
    import keras

    from cnndsl import to_spec
    from cnndsl.backends import keras_reader as reader
    from cnndsl.backends.verify import verify_keras
    from cnndsl.tasks import CLASSIFY

    model = getattr(keras.applications, name)(weights=None, input_shape=(SIZE, SIZE, 3))

    def verify(spec):
        layers, inbound = reader._flatten(model)
        code_of = lambda layer: reader._node_parts(layer)[0]  # noqa: E731
        return verify_keras(model, layers, inbound, spec.text, (SIZE, SIZE, 3), spec.num_classes, CLASSIFY, code_of)

    return (lambda verify: to_spec(model, verify=verify)), verify


def measure(name: str, framework: str, repeats: int = 3, make=None) -> Row:
    """Read ``name`` ``repeats`` times each way, alternating; an error is kept in the row, never raised."""
    row = Row(name, framework)
    try:
        read, verify = (make or (torch_reader if framework == "torch" else keras_reader))(name)
        read(False)  # warm: the first reading imports and loads what every later one reuses
        for repeat in range(repeats):
            for verified in (False, True) if repeat % 2 == 0 else (True, False):
                gc.collect()
                start = time.perf_counter()
                spec = read(verified)
                (row.verified if verified else row.plain).append(time.perf_counter() - start)
        found = verify(spec)
        row.compared, row.layers, row.worst = found.layers, found.of, found.worst
    except Exception as error:  # a benchmark row reports what went wrong, whatever it is
        row.error = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"[:200]
    return row


HEADER = ("model", "framework", "reading s", "verified s", "added s", "x", "layers compared", "largest rel. diff")


def cells(row: Row) -> tuple[str, ...]:
    if row.error:
        return (row.name, row.framework, "-", "-", "-", "-", "-", row.error)
    return (
        row.name, row.framework, f"{row.plain_s:.2f}", f"{row.verified_s:.2f}", f"{row.added_s:+.2f}",
        f"{row.verified_s / row.plain_s:.1f}", f"{row.compared} of {row.layers}", f"{row.worst:.1e}",
    )  # fmt: skip


def table(rows: list[Row], markdown: bool = False) -> str:
    lines = [HEADER, *(cells(row) for row in rows)]
    if markdown:
        out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        return "\n".join(out + ["| " + " | ".join(line) + " |" for line in lines[1:]])
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", help="comma-separated model names (default: " + ", ".join(TORCH_MODELS + KERAS_MODELS) + ")"
    )
    parser.add_argument("--repeats", type=int, default=3, help="readings each way per model (default: 3)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else [*TORCH_MODELS, *KERAS_MODELS]
    rows = []
    for name in names:
        rows.append(measure(name, "torch" if name[0].islower() else "keras", args.repeats))
        print("  ".join(cells(rows[-1])), flush=True)
    print()
    print(table(rows, markdown=args.markdown))


if __name__ == "__main__":
    main()
