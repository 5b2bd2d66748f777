"""Draw the documentation's pictures from the example specs: ``python docs/images/make.py``.

``tests/test_draw.py`` draws them again and compares the bytes, so the pictures in the
README and the docs always show what ``cnndsl draw`` draws today.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

RESIDUAL = (
    "CN(16, 3, padding=same) -> BN() -> ACT(relu)"
    " -> (ADD(CN(16, 3, padding=same) -> BN() -> ACT(relu) -> CN(16, 3, padding=same) -> BN() | ID()) -> ACT(relu)) * 3"
    " -> ADD(CN(32, 3, strides=2, padding=same) -> BN() | CN(32, 1, strides=2) -> BN()) -> GAP() -> DN(10)"
)
INCEPTION = (
    "CN(32, 3) -> CAT(CN(16, 1) | CN(8, 1) -> CN(16, 3, padding=same) | CN(8, 1) -> CN(16, 5, padding=same)"
    " | MP(3, strides=1, padding=same) -> CN(16, 1))"
    " -> MUL(ID() | GAP(keepdims=true) -> CN(8, 1) -> CN(64, 1, activation=sigmoid)) -> GAP() -> DN(10)"
)

PICTURES = {
    # file name: (an example file under examples/, or a spec; style[; classes])
    "model1.svg": ("model1.cnn", "boxes"),
    "model2.svg": ("model2.cnn", "boxes"),
    "model3.svg": ("model3.cnn", "boxes"),
    "model3_title.svg": ("model3_title.cnn", "boxes"),
    "model1_graph.svg": ("model1.cnn", "graph"),
    "residual.svg": (RESIDUAL, "boxes"),
    "inception.svg": (INCEPTION, "boxes"),
    "inception_graph.svg": (INCEPTION, "graph"),
    "resnet50.svg": ("resnet50.cnn", "boxes", 1000),
}


def pictures() -> dict[str, str]:
    """Each picture's SVG text, drawn as ``cnndsl draw`` draws it."""
    from cnndsl.backends.svg import draw, source_drawable
    from cnndsl.inputs import read_models

    drawn = {}
    for name, (spec, style, *classes) in PICTURES.items():
        example = spec.endswith(".cnn")
        (source,) = read_models(str(ROOT / "examples" / spec) if example else spec)
        title = source.label if example else name.split("_")[0].removesuffix(".svg")
        drawn[name] = draw(source_drawable(source, num_classes=classes[0] if classes else None), style, title=title)
    return drawn


def main() -> None:
    for name, text in pictures().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote docs/images/{name}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
