"""Pictures of a checked model as SVG, written here from the checker's shapes alone.

``cnndsl draw`` and ``summary --svg`` come here: :func:`draw` gives the SVG text of a
model (or of a failing spec, drawn up to its first shape error), :func:`write_svg`
writes ``.svg`` or ``.png`` (through :mod:`cnndsl.backends.png`). No TensorFlow, no
Graphviz: text stays text, and the same model always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cnndsl.backends.partial import Drawable, check_partial, source_drawable
from cnndsl.backends.picture import (
    COLOURS,
    FONT,
    FONT_SIZE,
    STYLES,
    TEXT_COLOUR,
    Drawn,
    Group,
    Line,
    Picture,
    Poly,
    Text,
    kind_of,
    picture,
)
from cnndsl.model import CheckedModel

__all__ = [
    "draw", "draw_spec", "write_svg", "svg_text", "check_picture_path",
    "check_partial", "source_drawable", "Drawable", "COLOURS", "STYLES", "kind_of",
]  # fmt: skip

# --- SVG ------------------------------------------------------------------------------


def svg_text(pic: Picture) -> str:
    """The picture as an SVG document (deterministic: same picture, same text)."""
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(pic.width)}" height="{_num(pic.height)}" '
        f'viewBox="0 0 {_num(pic.width)} {_num(pic.height)}" font-family={quoteattr(FONT)} font-size="{FONT_SIZE}">'
    )
    body = [f"<title>{escape(pic.title)}</title>", '<rect width="100%" height="100%" fill="#ffffff"/>']
    body += [_svg(shape, "") for shape in pic.shapes]
    return "\n".join(['<?xml version="1.0" encoding="UTF-8"?>', head, *body, "</svg>", ""])


def _svg(shape: Drawn, indent: str) -> str:
    if isinstance(shape, Poly):
        dash = ' stroke-dasharray="4 3"' if shape.dash else ""
        return (
            f'{indent}<polygon points="{_points(shape.points)}" fill="{shape.fill}" stroke="{shape.stroke}" '
            f'stroke-width="{_num(shape.width)}" stroke-linejoin="round"{dash}/>'
        )
    if isinstance(shape, Line):
        dash = ' stroke-dasharray="4 3"' if shape.dash else ""
        return (
            f'{indent}<polyline points="{_points(shape.points)}" fill="none" stroke="{shape.stroke}" '
            f'stroke-width="{_num(shape.width)}"{dash}/>'
        )
    if isinstance(shape, Text):
        return _svg_text(shape, indent)
    if isinstance(shape, Group):
        attrs = "".join(f" {name}={quoteattr(value)}" for name, value in shape.attrs)
        if shape.dx or shape.dy:
            attrs += f' transform="translate({_num(shape.dx)},{_num(shape.dy)})"'
        inner = "\n".join(_svg(item, indent + "  ") for item in shape.items)
        return f"{indent}<g{attrs}>\n{inner}\n{indent}</g>"
    raise TypeError(f"not a picture shape: {shape!r}")


def _svg_text(text: Text, indent: str) -> str:
    attrs = f'x="{_num(text.x)}" y="{_num(text.y)}"'
    if text.role:
        attrs += f' class="{text.role}"'
    if text.anchor != "start":
        attrs += f' text-anchor="{text.anchor}"'
    if text.size != FONT_SIZE:
        attrs += f' font-size="{_num(text.size)}"'
    if text.fill != TEXT_COLOUR:
        attrs += f' fill="{text.fill}"'
    if text.bold:
        attrs += ' font-weight="bold"'
    return f'{indent}<text {attrs} xml:space="preserve">{escape(text.text)}</text>'


_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def escape(text: str) -> str:
    """Text for an XML element or a double-quoted attribute: markup escaped, and any
    character XML cannot hold (a NUL or lone surrogate from a comment) as U+FFFD."""
    if not (text.isascii() and text.isprintable()):
        text = "".join(c if _xml_char(ord(c)) else "\ufffd" for c in text)
    return text.translate(_ESCAPES)


def _xml_char(code: int) -> bool:
    """Whether XML 1.0 allows the character (its ``Char`` production)."""
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def quoteattr(text: str) -> str:
    return f'"{escape(text)}"'


def _points(points) -> str:
    return " ".join(f"{_num(x)},{_num(y)}" for x, y in points)


def _num(value: float) -> str:
    """A coordinate with at most one decimal, written the same way every time."""
    rounded = round(value, 1)
    whole = int(rounded)
    return str(whole) if rounded == whole else repr(rounded)


# --- the library's entry points -------------------------------------------------------


def draw(
    model: CheckedModel | Drawable,
    style: str = "boxes",
    unfold: bool = False,
    title: str = "",
    depth: int | None = None,
) -> str:
    """The SVG text of a checked model (or of a failing spec's :class:`Drawable`).

    ``depth``: each use of a named block that sits inside ``depth`` other uses is drawn as
    one box (0: every use the model writes); None picks the deepest depth that fits
    (:func:`cnndsl.backends.picture.fitting_depth`).
    """
    from cnndsl.checker import paused_gc

    drawable = model if isinstance(model, Drawable) else Drawable(model)
    with paused_gc():  # many small objects, none in cycles
        return svg_text(picture(drawable, style, unfold, title, depth))


def draw_spec(
    text: str,
    style: str = "boxes",
    unfold: bool = False,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    title: str = "",
    depth: int | None = None,
) -> str:
    """The SVG text of a spec, drawn up to its first shape error if it fails the check.

    Raises SpecError when the spec cannot be read at all (syntax or value errors).
    """
    from cnndsl.syntax import parse

    drawable = check_partial(parse(text), text, input_shape, num_classes)
    return draw(drawable, style, unfold, title, depth)


PICTURE_SUFFIXES = (".svg", ".png")


def check_picture_path(name: str) -> Path:
    """The path a picture may be written to: .svg or .png, a new or regular file (UsageError otherwise)."""
    from cnndsl.inputs import UsageError

    path = Path(name)
    if path.suffix.lower() not in PICTURE_SUFFIXES:
        raise UsageError(f"{name}: a picture is written as .svg or .png")
    if path.is_symlink():
        raise UsageError(f"{name}: is a symbolic link; write the picture to a plain file")
    if path.exists() and not path.is_file():
        raise UsageError(f"{name}: exists and is not a regular file")
    return path


def write_svg(
    model: CheckedModel | Drawable,
    path: str | Path,
    style: str = "boxes",
    unfold: bool = False,
    title: str = "",
    scale: float | None = None,
    depth: int | None = None,
) -> Path:
    """Write the picture of ``model`` to ``path`` (.svg, or .png through matplotlib, ``scale`` pixels a pixel)."""
    path = Path(path)
    from cnndsl.checker import paused_gc

    drawable = model if isinstance(model, Drawable) else Drawable(model)
    with paused_gc():  # many small objects, none in cycles
        pic = picture(drawable, style, unfold, title, depth)
    if path.suffix.lower() == ".png":
        from cnndsl.backends.png import png_bytes

        data = png_bytes(pic) if scale is None else png_bytes(pic, scale)
    else:
        data = svg_text(pic).encode("utf-8")
    from cnndsl.outputs import write_bytes

    write_bytes(path, data)
    return path
