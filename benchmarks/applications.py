"""Every keras.applications constructor into the notation and back, exact: a table.

For each constructor (``weights=None``; one whose input size is unknown is built with
``input_shape=(224, 224, 3)``): ``spec = cnndsl.to_spec(model, verify=False)`` (the comparison
below is the reading's own verification, and more: two images, and the head's input);
``cnndsl.check(spec.text, input_shape, spec.num_classes)`` must have the model's total,
trainable and non-trainable counts; ``cnndsl.compile_spec(spec.text, ...)`` must take
``model.get_weights()`` with ``set_weights`` and compute the model's outputs on random
images (inference mode) within 1e-4. An untrained 1000-class model's softmax is nearly
uniform whatever its weights, so the tensor that feeds the head (the logits of a head of
its own, else the pooled features) is compared too, relative to its largest value: a
wrong weight anywhere shows there. Beside each row: Keras's build time, and the times of
``to_spec``, ``check`` and ``compile_spec``.

    python benchmarks/applications.py                 # all 40 constructors
    python benchmarks/applications.py --only ResNet50,ConvNeXtTiny --markdown

This is a benchmark, not a test (tests/test_applications.py holds one constructor
per family, the one ``examples/`` writes, with the same :func:`round_trip`).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TOLERANCE = 1e-4
UNKNOWN_SIZE = (224, 224, 3)
"""The input size given to a constructor whose default input size is unknown (MobileNetV3)."""


@dataclass
class Row:
    """One constructor's round trip: Keras's figures, the checker's, the output difference, the times."""

    name: str
    keras: tuple[int, int, int] = (0, 0, 0)
    """total, trainable, non-trainable."""
    checked: tuple[int, int, int] | None = None
    max_difference: float | None = None
    """Of the outputs (probabilities)."""
    feature_difference: float | None = None
    """Of the head's input, relative to its largest absolute value."""
    build_s: float = 0.0
    to_spec_s: float = 0.0
    check_s: float = 0.0
    compile_s: float = 0.0
    layers: int = 0
    spec: str | None = None
    """The text ``to_spec`` wrote."""
    error: str | None = None

    @property
    def exact(self) -> bool:
        return (
            self.error is None
            and self.checked == self.keras
            and self.max_difference is not None
            and self.max_difference <= TOLERANCE
            and self.feature_difference is not None
            and self.feature_difference <= TOLERANCE
        )


def constructors() -> list[str]:
    """The names of every keras.applications model constructor, sorted."""
    import keras

    return sorted(
        name for name in dir(keras.applications) if name[0].isupper() and callable(getattr(keras.applications, name))
    )


def build_application(name: str, size: int | None = None):
    """``keras.applications.NAME(weights=None)``, with a size when the default input size is unknown.

    ``size``: build it for ``size`` x ``size`` images instead (untrained, any size from the
    constructor's smallest makes the same layers; a flattening head gets fewer weights).
    """
    import keras

    constructor = getattr(keras.applications, name)
    if size is not None:
        return constructor(weights=None, input_shape=(size, size, 3))
    model = constructor(weights=None)
    if None in tuple(model.inputs[0].shape[1:3]):
        keras.backend.clear_session()
        model = constructor(weights=None, input_shape=UNKNOWN_SIZE)
    return model


def _counts(model) -> tuple[int, int, int]:
    import math

    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    frozen = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    return trainable + frozen, trainable, frozen


def round_trip(name: str, images: int = 2, seed: int = 0, size: int | None = None, inspect=None) -> Row:
    """The whole round trip of one constructor (for ``size`` x ``size`` images if given).

    An error is kept in the row, never raised. ``inspect(model, built)``, if given, sees
    Keras's model and the one ``compile_spec`` built from its text (None where the round
    trip stopped before it) before they are let go: a test reads both without building them again.
    """
    import keras
    import numpy as np

    import cnndsl

    row = Row(name)
    keras.backend.clear_session()
    start = time.perf_counter()
    model = build_application(name, size)
    row.build_s = time.perf_counter() - start
    row.keras = _counts(model)
    built = None
    try:
        start = time.perf_counter()
        spec = cnndsl.to_spec(model, verify=False)  # what verification compares, this compares below, and more
        row.to_spec_s = time.perf_counter() - start
        row.spec = spec.text
        shape = tuple(model.inputs[0].shape[1:])
        start = time.perf_counter()
        checked = cnndsl.check(spec.text, shape, spec.num_classes)
        row.check_s = time.perf_counter() - start
        row.checked = (checked.total_params, checked.trainable_params, checked.non_trainable_params)
        row.layers = len(checked.layers)
        start = time.perf_counter()
        built = cnndsl.compile_spec(spec.text, shape, spec.num_classes)
        row.compile_s = time.perf_counter() - start
        built.set_weights(model.get_weights())
        x = np.random.default_rng(seed).uniform(0, 1, (images, *shape)).astype("float32")
        (theirs, their_features), (ours, our_features) = (
            outputs_and_head_input(model, x),
            outputs_and_head_input(built, x),
        )
        row.max_difference = float(np.max(np.abs(theirs - ours)))
        largest = max(float(np.max(np.abs(their_features))), 1e-30)
        row.feature_difference = float(np.max(np.abs(their_features - our_features)) / largest)
    except Exception as error:  # a benchmark row reports what went wrong, whatever it is
        row.error = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:160]
    try:
        if inspect is not None:
            inspect(model, built)
    finally:
        del model, built
        keras.backend.clear_session()
    return row


def outputs_and_head_input(model, x):
    """The model's outputs and the tensor that feeds its last layer, for the images ``x``, from one pass."""
    import keras
    import numpy as np

    both = keras.Model(model.inputs[0], [model.outputs[0], model.layers[-1].input])
    return tuple(np.asarray(tensor) for tensor in both(x, training=False))


HEADER = ("constructor", "parameters", "non-trainable", "layers", "counts", "outputs |diff|", "head input |diff|",
          "Keras build s", "to_spec s", "check s", "compile_spec s")  # fmt: skip


def cells(row: Row) -> tuple[str, ...]:
    counts = "exact" if row.checked == row.keras else ("-" if row.checked is None else f"{row.checked[0]:,}")
    difference = "-" if row.max_difference is None else f"{row.max_difference:.1e}"
    relative = "-" if row.feature_difference is None else f"{row.feature_difference:.1e}"
    return (
        row.name, f"{row.keras[0]:,}", f"{row.keras[2]:,}", str(row.layers), counts, difference, relative,
        f"{row.build_s:.2f}", f"{row.to_spec_s:.3f}", f"{row.check_s:.3f}", f"{row.compile_s:.2f}",
    )  # fmt: skip


def table(rows: list[Row], markdown: bool = False) -> str:
    lines = [HEADER, *(cells(row) for row in rows)]
    if markdown:
        out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        out += ["| " + " | ".join(line) + " |" for line in lines[1:]]
    else:
        widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
        out = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in lines]
    out += [
        f"{sum(row.exact for row in rows)} of {len(rows)} exact (counts equal; outputs, and the head's input "
        f"relative to its size, within {TOLERANCE:g})"
    ]
    out += [f"{row.name}: {row.error}" for row in rows if row.error]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated constructor names (default: all)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else constructors()
    rows = []
    for name in names:
        rows.append(round_trip(name))
        print(" ".join(cells(rows[-1])), flush=True)
    print()
    print(table(rows, markdown=args.markdown))


if __name__ == "__main__":
    main()
