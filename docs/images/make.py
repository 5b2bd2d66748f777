"""Draw the README's pictures from the example specs: ``python docs/images/make.py``.

``tests/test_draw.py`` draws them again and compares the bytes, so the pictures in the
README always show what ``cnndsl draw`` draws today.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

PICTURES = {
    # file name: (example spec file, style)
    "model1.svg": ("model1.cnn", "boxes"),
    "model2.svg": ("model2.cnn", "boxes"),
    "model3.svg": ("model3.cnn", "boxes"),
    "model3_title.svg": ("model3_title.cnn", "boxes"),
    "model1_graph.svg": ("model1.cnn", "graph"),
}


def pictures() -> dict[str, str]:
    """Each README picture's SVG text, drawn as ``cnndsl draw`` draws it."""
    from cnndsl.backends.svg import draw, source_drawable
    from cnndsl.inputs import read_models

    drawn = {}
    for name, (spec, style) in PICTURES.items():
        (source,) = read_models(str(ROOT / "examples" / spec))
        drawn[name] = draw(source_drawable(source), style, title=source.label)
    return drawn


def main() -> None:
    for name, text in pictures().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print(f"wrote docs/images/{name}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
