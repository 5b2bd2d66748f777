"""PNG pictures: the SVG backend's shapes painted with matplotlib's Agg canvas.

matplotlib (the ``draw`` extra) is imported only here, when a PNG is asked for. One
pixel of the picture is ``scale`` pixels of the PNG (2 by default, sharp on today's
screens); the file carries no date or version,
so the same picture gives the same bytes.
"""

from __future__ import annotations

import io

from cnndsl.backends.picture import Drawn, Group, Line, Picture, Poly, Text

DPI = 100
SCALE = 2.0
"""PNG pixels per picture pixel unless told otherwise (``draw --scale``)."""
FONT_FAMILY = "DejaVu Sans Mono"
MAX_PIXELS = 65_000
"""Largest PNG side: matplotlib's Agg canvas takes fewer than 2**16 pixels a side."""


def png_bytes(pic: Picture, scale: float = SCALE) -> bytes:
    """The picture as PNG bytes, ``scale`` pixels per picture pixel; UsageError for a picture too large for one PNG."""
    from cnndsl.inputs import UsageError

    if max(pic.width, pic.height) * scale > MAX_PIXELS:
        raise UsageError(
            f"the picture is {pic.width * scale:,.0f} x {pic.height * scale:,.0f} pixels, more than a PNG can take "
            f"({MAX_PIXELS:,} a side); write .svg, lower --scale, or leave out --unfold"
        )
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError('PNG pictures need matplotlib: pip install "cnndsl[draw]" (or write .svg)') from None
    figure = Figure(figsize=(pic.width / DPI, pic.height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, pic.width)
    axes.set_ylim(pic.height, 0)
    axes.set_axis_off()
    for shape in pic.shapes:
        _paint(axes, shape, 0, 0)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI * scale, facecolor="white", metadata={"Software": None})
    return buffer.getvalue()


def _paint(axes, shape: Drawn, dx: float, dy: float) -> None:
    """Paint one shape, shifted by (dx, dy) (the groups it is in)."""
    from matplotlib.patches import Polygon

    if isinstance(shape, Poly):
        fill = None if shape.fill == "none" else shape.fill
        axes.add_patch(
            Polygon(
                [(x + dx, y + dy) for x, y in shape.points], closed=True, facecolor=fill or "none", edgecolor=shape.stroke,
                linewidth=_points(shape.width), linestyle=(0, (4, 3)) if shape.dash else "solid", joinstyle="round",
            )
        )  # fmt: skip
    elif isinstance(shape, Line):
        xs = [x + dx for x, _ in shape.points]
        ys = [y + dy for _, y in shape.points]
        axes.plot(xs, ys, color=shape.stroke, linewidth=_points(shape.width), solid_capstyle="butt")
    elif isinstance(shape, Text):
        axes.text(
            shape.x + dx, shape.y + dy, shape.text, fontsize=_points(shape.size), family=FONT_FAMILY, color=shape.fill,
            ha={"start": "left", "middle": "center", "end": "right"}[shape.anchor], va="baseline",
            fontweight="bold" if shape.bold else "normal",
        )  # fmt: skip
    elif isinstance(shape, Group):
        for item in shape.items:
            _paint(axes, item, dx + shape.dx, dy + shape.dy)
    else:
        raise TypeError(f"not a picture shape: {shape!r}")


def _points(pixels: float) -> float:
    """Pixels of the SVG as matplotlib's points at this DPI."""
    return pixels * 72 / DPI
