"""Rich display in Jupyter (and any front end of the IPython display protocol).

A checked model displays as its summary table in HTML beside its picture; a failing
spec as its errors with carets and hints, and the picture up to the failing layer;
``%%cnndsl`` checks a cell written as a spec file; ``train`` and ``compare`` show a
plot of the losses, redrawn in place after every epoch. Nothing here imports IPython
when the module is loaded: only the magic and the live plot do, and they run only
inside IPython. Everything else is plain HTML and SVG text.
"""

from __future__ import annotations

import html
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cnndsl import ast
from cnndsl.errors import Diagnostic, SpecError, render
from cnndsl.inputs import Source
from cnndsl.model import CheckedModel
from cnndsl.records import record
from cnndsl.shapes import format_shape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cnndsl.backends.partial import Drawable

CELL_NAME = "<cell>"


def in_notebook() -> bool:
    """Whether this process is an IPython kernel (Jupyter, VS Code, Colab); IPython itself is never imported here."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


# --- a checked model: its table beside its picture ------------------------------------

STYLE = (
    "<style>.cnndsl-table{border-collapse:collapse;font-family:monospace;font-size:12px}"
    ".cnndsl-table th,.cnndsl-table td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}"
    ".cnndsl-table td.n{text-align:right}.cnndsl-error{color:#b00;font-family:monospace}</style>"
)


def _inputs(model) -> str:
    """``Input: (None, 28, 28, 1)``, or each input of a model of several by its name and shape."""
    if not model.inputs:
        return f"Input: {_e(format_shape(model.input_shape))}"
    return "Inputs: " + _e(", ".join(f"{given.name} {format_shape(given.shape)}" for given in model.inputs))


def summary_html(model: CheckedModel, title: str = "") -> str:
    """The summary table: each layer's name, spec text, output shape, parameters and MACs, then the totals and hash."""
    from cnndsl.report import architecture_hash

    rows = "".join(
        "<tr>"
        f"<td>{_e(f'{info.name} ({info.keras_class})')}</td><td>{_e(_spec_text(info))}</td>"
        f"<td>{_e(format_shape(info.output_shape))}</td><td class='n'>{info.params:,}</td>"
        f"<td class='n'>{_count(info.macs)}</td></tr>"
        for info in model.layers
    )
    caption = f"<b>{_e(title)}</b> " if title else ""
    ending = _e(model.outputs_text) if model.outputs else f"Classes: {model.num_classes}"
    totals = [
        f"Total params: {model.total_params:,}",
        f"Trainable params: {model.trainable_params:,}",
        f"Non-trainable params: {model.non_trainable_params:,}",
        f"Multiply-accumulates: {_count(model.total_macs)} per example",
        f"Architecture hash: {architecture_hash(model)}",
    ]
    return (
        f"<table class='cnndsl-table'><caption style='text-align:left'>{caption}"
        f"{_inputs(model)} &nbsp; {ending}</caption>"
        "<thead><tr><th>Layer (type)</th><th>Spec</th><th>Output shape</th><th>Params</th><th>MACs</th></tr></thead>"
        f"<tbody>{rows}</tbody><tfoot><tr><td colspan='5'>{'<br>'.join(_e(t) for t in totals)}</td></tr></tfoot>"
        "</table>"
    )


def _spec_text(info) -> str:
    text = info.code if info.layer.type.merge else " ".join(info.layer.text.split())
    return f"{text} (head)" if info.layer.head else text


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


LONG_TABLE = 40
"""A summary of more layers than this scrolls in a box of its own, beside the picture."""


def side_by_side(*parts: str) -> str:
    """Parts next to each other, wrapping under each other on a narrow page."""
    cells = "".join(f"<div style='flex:0 1 auto;overflow:auto'>{part}</div>" for part in parts if part)
    return (
        f"{STYLE}<div class='cnndsl' style='display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start'>{cells}</div>"
    )


@dataclass
class View:
    """What a notebook shows for one model: a checked model, or a failing spec's errors and partial picture.

    ``text`` and ``name`` are what the errors' positions refer to; ``depth`` is the
    picture's (see :func:`cnndsl.backends.svg.draw`).
    """

    title: str = ""
    model: CheckedModel | None = None
    drawable: Drawable | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    text: str = ""
    name: str = CELL_NAME
    depth: int | None = None
    style: str = "boxes"
    warnings: tuple[Diagnostic, ...] = field(default=())

    @property
    def failed(self) -> bool:
        return self.model is None

    @property
    def svg(self) -> str | None:
        """The picture (the model, or a failing spec up to its error); None when nothing could be drawn."""
        from cnndsl.backends.svg import draw

        target = self.model if self.model is not None else self.drawable
        if target is None:
            return None
        return draw(target, self.style, title=self.title, depth=self.depth)

    def render(self, diagnostics: Sequence[Diagnostic]) -> str:
        """Diagnostics with carets under the text they point into."""
        return render(diagnostics, self.text, self.name)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        svg = self.svg
        if self.model is not None:
            from cnndsl.report import summary_table

            notes = self.render(self.warnings) if self.warnings else ""
            table = summary_html(self.model, self.title)
            if len(self.model.layers) > LONG_TABLE:
                table = f"<div style='max-height:720px;overflow:auto'>{table}</div>"
            body = side_by_side(table, svg or "")
            if notes:
                body = f"<pre class='cnndsl-error'>{_e(notes)}</pre>{body}"
            plain = "\n".join(filter(None, [notes, summary_table(self.model)]))
        else:
            errors = self.render(self.diagnostics)
            heading = f"<b>{_e(self.title)}</b>: " if self.title else ""
            failing = f"{heading}fails the check" if heading else ""
            body = side_by_side(f"{failing}<pre class='cnndsl-error'>{_e(errors)}</pre>", svg or "")
            plain = errors
        bundle = {"text/plain": plain, "text/html": body}
        if svg is not None:
            bundle["image/svg+xml"] = svg
        return bundle

    def _repr_html_(self) -> str:
        return self._repr_mimebundle_()["text/html"]


def model_view(model: CheckedModel, title: str = "", depth: int | None = None, style: str = "boxes") -> View:
    """A checked model as a notebook shows it, its picture at ``depth`` (see :func:`cnndsl.backends.svg.draw`)."""
    return View(title, model=model, text=model.source, depth=depth, style=style, warnings=model.warnings)


def source_view(
    source: Source, input_shape=None, num_classes=None, depth: int | None = None, style="boxes", task=None
) -> View:
    """Check a model read from a spec (a file's definition, a cell's) and say how to show it.

    A model a ``%%cnndsl`` cell defines is checked with the cell's options where none are
    given, and its errors are shown in the cells they point into.
    """
    if not isinstance(source, CellModel):
        return _source_view(source, input_shape, num_classes, depth, style, task)
    input_shape, num_classes, task = source.options(input_shape, num_classes, task)
    return _in_cells(_source_view(source, input_shape, num_classes, depth, style, task), source.cells)


def _source_view(source: Source, input_shape, num_classes, depth, style, task) -> View:
    from cnndsl.backends.partial import source_drawable
    from cnndsl.inputs import SPEC_NAME

    title = source.label if source.name != SPEC_NAME else ""
    try:
        drawable = source_drawable(source, input_shape, num_classes, task=task)
    except SpecError as error:
        return View(title, diagnostics=error.diagnostics, text=source.text, name=source.name, depth=depth, style=style)
    if drawable.failed is None:
        model = drawable.model
        return View(title, model, text=source.text, name=source.name, depth=depth, style=style, warnings=model.warnings)
    return View(
        title, drawable=drawable, diagnostics=drawable.diagnostics, text=source.text, name=source.name,
        depth=depth, style=style,
    )  # fmt: skip


def draw_spec(
    text: str,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    *,
    depth: int | None = None,
    style: str = "boxes",
    title: str = "",
) -> View:
    """A spec as a notebook shows it: its table and picture, or its errors with carets and its picture
    up to the failing layer. Never raises SpecError: the errors are what it shows."""
    from cnndsl.inputs import SPEC_NAME, Source

    view = source_view(Source(SPEC_NAME, text, "model"), input_shape, num_classes, depth, style)
    view.title = title
    return view


# --- training results -----------------------------------------------------------------


def table_html(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='n'>{_e(c)}</td>" if i < len(numeric) and numeric[i] else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"{STYLE}<table class='cnndsl-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def train_result_html(result) -> str:
    """A trained run: its test scores, then one row per epoch."""
    from cnndsl.training.records import score

    metrics = result.metrics
    scores = [
        ("Test accuracy", score(metrics.get("test_accuracy"))),
        ("Test loss", score(metrics.get("test_loss"))),
        ("Parameters", _count(metrics.get("parameters"))),
        ("Seconds/epoch", _number(metrics.get("seconds_per_epoch"))),
        ("Run directory", str(result.directory) if result.directory else "(not saved)"),
    ]
    top = table_html(["", ""], scores)
    keys = [k for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds") if _has(result.history, k)]
    epochs = table_html(keys, [[_number(row.get(k)) for k in keys] for row in result.history], [True] * len(keys))
    return side_by_side(top, epochs)


def train_result_text(result) -> str:
    """A trained run in a line: its test scores, epochs and where it was saved."""
    from cnndsl.training.records import score

    metrics, saved = result.metrics, result.directory or "not saved"
    return (
        f"TrainResult: test accuracy {score(metrics.get('test_accuracy'))}, test loss "
        f"{score(metrics.get('test_loss'))}, {len(result.history)} epoch(s) ({saved})"
    )


def _has(history: Sequence[Mapping], key: str) -> bool:
    return any(key in row for row in history)


def _number(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def compare_html(result) -> str:
    """The comparison table (model, parameters, test accuracy, test loss, seconds per epoch), errors under it.

    A comparison that selected has its validation metric as a column, the selected model marked ``*``.
    """
    from cnndsl.tasks import CLASSIFY
    from cnndsl.training.records import compare_cells, compare_headers, compare_notes

    task, selection = getattr(result, "task", CLASSIFY), getattr(result, "selection", None)
    headers = compare_headers(task, selection)
    cells = [compare_cells(row, task, selection) for row in result.rows]
    table = table_html(headers, cells, (False, *[True] * (len(headers) - 1)))
    notes = compare_notes(result.rows)
    chosen = compare_notes(result.rows, task, selection)[len(notes) :]
    return (
        table
        + (f"<pre class='cnndsl-error'>{_e(chr(10).join(notes))}</pre>" if notes else "")
        + (f"<pre>{_e(chr(10).join(chosen))}</pre>" if chosen else "")
    )


def bundle(kind: str, value) -> dict:
    """The display of a lower module's value (:mod:`cnndsl.hooks`): a checked model, a spec's
    source, a training result or a comparison, as a MIME bundle."""
    if kind == "model":
        return model_view(value)._repr_mimebundle_()
    if kind == "source":
        return source_view(value)._repr_mimebundle_()
    if kind == "train":
        return {"text/plain": train_result_text(value), "text/html": train_result_html(value)}
    if kind == "comparison":
        return {"text/plain": value.table, "text/html": compare_html(value)}
    raise ValueError(f"no display for {kind!r}")


# --- the live plot --------------------------------------------------------------------

PLOT_WIDTH, PLOT_HEIGHT, PLOT_PAD, PLOT_TOP = 360, 220, 40, 46
SERIES_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def curves_svg(curves: Mapping[str, Sequence[Mapping]], title: str = "") -> str:
    """Train and validation loss (and accuracy, where recorded) per epoch, one panel each, as SVG.

    ``curves`` maps a model's label to its history rows; each model has its colour, the
    training curve dashed and the validation curve solid, as the notebook's plt_dynamic drew them.
    """
    from cnndsl.backends.picture import Group, Line, Picture, Poly, Text
    from cnndsl.backends.svg import svg_text

    panels = [("loss", "loss")] + (
        [("accuracy", "accuracy")] if any(_has(h, "accuracy") for h in curves.values()) else []
    )
    shapes: list = []
    for n, (metric, caption) in enumerate(panels):
        x0 = PLOT_PAD + n * (PLOT_WIDTH + 2 * PLOT_PAD)
        shapes.append(_panel(curves, metric, caption, x0, PLOT_TOP, Group, Line, Poly, Text))
    legend_y = PLOT_TOP + PLOT_HEIGHT + 36
    for n, label in enumerate(curves):
        colour = SERIES_COLOURS[n % len(SERIES_COLOURS)]
        y = legend_y + 16 * n
        shapes.append(Line(((PLOT_PAD, y - 4), (PLOT_PAD + 20, y - 4)), colour, 2, dash=True))
        shapes.append(Line(((PLOT_PAD + 26, y - 4), (PLOT_PAD + 46, y - 4)), colour, 2))
        shapes.append(Text(PLOT_PAD + 52, y, f"{label}: train (dashed), validation (solid)", size=11))
    epochs = max((len(h) for h in curves.values()), default=0)
    heading = title or "training"
    shapes.insert(0, Text(PLOT_PAD, 16, f"{heading}: {epochs} epoch(s)", bold=True))
    width = len(panels) * (PLOT_WIDTH + 2 * PLOT_PAD)
    pic = Picture(width, legend_y + 16 * len(curves) + 8, tuple(shapes), heading)
    return svg_text(pic)


def _panel(curves, metric: str, caption: str, x0: float, y0: float, Group, Line, Poly, Text):
    series = {
        (label, key): [(row["epoch"], row[key]) for row in history if isinstance(row.get(key), (int, float))]
        for label, history in curves.items()
        for key in (metric, f"val_{metric}")
    }
    values = [v for points in series.values() for _, v in points if math.isfinite(v)]
    epochs = [e for points in series.values() for e, _ in points]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    last = max(epochs, default=1)

    def at(epoch: float, value: float) -> tuple[float, float]:
        x = x0 + (PLOT_WIDTH * (epoch - 1) / (last - 1) if last > 1 else PLOT_WIDTH / 2)
        return x, y0 + PLOT_HEIGHT * (1 - (value - low) / (high - low))

    box = ((x0, y0), (x0 + PLOT_WIDTH, y0), (x0 + PLOT_WIDTH, y0 + PLOT_HEIGHT), (x0, y0 + PLOT_HEIGHT))
    items = [Poly(box, "#ffffff", "#999999")]
    for fraction in (0.25, 0.5, 0.75):
        y = y0 + PLOT_HEIGHT * fraction
        items.append(Line(((x0, y), (x0 + PLOT_WIDTH, y)), "#e5e5e5", 1))
    items.append(Text(x0, y0 - 6, caption, size=11, bold=True))
    items.append(Text(x0 - 4, y0 + 10, f"{high:.3g}", size=10, anchor="end"))
    items.append(Text(x0 - 4, y0 + PLOT_HEIGHT, f"{low:.3g}", size=10, anchor="end"))
    items.append(Text(x0 + PLOT_WIDTH, y0 + PLOT_HEIGHT + 14, f"epoch {last}", size=10, anchor="end"))
    items.append(Text(x0, y0 + PLOT_HEIGHT + 14, "epoch 1", size=10))
    for n, label in enumerate(curves):
        colour = SERIES_COLOURS[n % len(SERIES_COLOURS)]
        for key, dash in ((metric, True), (f"val_{metric}", False)):
            points = tuple(at(e, v) for e, v in series[(label, key)] if math.isfinite(v))
            attrs = (("class", "curve"), ("data-model", label), ("data-series", key), ("data-epochs", str(len(points))))
            if len(points) == 1:
                (x, y), r = points[0], 2.5
                dot = Poly(((x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)), colour, colour)
                items.append(Group(attrs, (dot,)))
            elif points:
                items.append(Group(attrs, (Line(points, colour, 1.8, dash=dash),)))
    return Group((("class", f"panel {metric}"),), tuple(items))


class LivePlot:
    """One display, redrawn in place after every epoch (``DisplayHandle.update``), then the result's table."""

    def __init__(self, title: str = ""):
        from IPython.display import display

        self.title = title
        self.curves: dict[str, list[dict]] = {}
        self.handle = display(self._bundle(), raw=True, display_id=True)

    def _bundle(self, table: str = "") -> dict:
        svg = curves_svg(self.curves, self.title)
        plain = f"{self.title or 'training'}: {max((len(h) for h in self.curves.values()), default=0)} epoch(s)"
        return {"text/plain": plain, "text/html": side_by_side(svg, table), "image/svg+xml": svg}

    def epoch(self, label: str, row: Mapping) -> None:
        self.curves.setdefault(label, []).append(dict(row))
        self.handle.update(self._bundle(), raw=True)

    def observer(self, label: str, then=None):
        """An ``on_epoch`` callback that plots each epoch, and passes it on to ``then``."""

        def observe(row: dict) -> bool:
            self.epoch(label, row)
            return bool(then(row)) if then is not None else False

        return observe

    def finish(self, table: str) -> None:
        self.handle.update(self._bundle(table), raw=True)


def live_plot(title: str = "") -> LivePlot | None:
    """A live plot when running in a notebook, else None (nothing changes outside one)."""
    return LivePlot(title) if in_notebook() else None


# --- %%cnndsl ---------------------------------------------------------------------------


@record
class Cell:
    """One ``%%cnndsl`` cell read: where its text starts in every cell's text (``offset``
    characters, ``line`` line breaks in), its text and its name (``<cell N>``)."""

    offset: int
    line: int
    text: str
    name: str


@record
class CellModel(Source):
    """A model a ``%%cnndsl`` cell defines, with the cell's options (``--input-shape``,
    ``--classes``, ``--task``, ``--scale``): displaying it, ``check()``, :func:`cnndsl.check`, ``train``
    and ``compare`` check it as the cell did, where they are not told otherwise (training
    data tells its own shape, classes and task). ``cells`` are the cells read up to its
    own, which its errors' positions are rendered against."""

    input_shape: tuple[int, int, int] | None = None
    classes: int | None = None
    task: str | None = None
    cells: tuple[Cell, ...] = ()

    def options(self, input_shape=None, num_classes=None, task=None) -> tuple:
        """The input shape, class count and task to check with: those given, else the cell's."""
        return (
            input_shape if input_shape is not None else self.input_shape,
            num_classes if num_classes is not None else self.classes,
            task if task is not None else self.task,
        )

    def check(
        self, input_shape=None, num_classes=None, default_input_shape=None, task=None, scale=None
    ) -> CheckedModel:
        """Check this model with the cell's options where none are given (at its cell's first scale, or
        ``scale``, where the cell declares scales); raises SpecError."""
        input_shape, num_classes, task = self.options(input_shape, num_classes, task)
        return super().check(input_shape, num_classes, default_input_shape, task, scale=scale)


class CellDefinitions:
    """The definitions of every ``%%cnndsl`` cell run so far, visible by name to later cells.

    Each cell is read as a spec file standing after every cell before it: their text, blanked
    (each character but a line break turned to a space), comes first, so that every position
    in a definition, in characters as in lines, is where it stands in every cell's text joined.
    A model's text is that joined text, so that a block of an earlier cell reads its layers
    where they are written; an error is shown against the cell its position falls in, with
    that cell's own line numbers.
    """

    def __init__(self) -> None:
        self.chains: dict = {}
        self.cells: list[Cell] = []
        self.text = ""
        """Every cell's text read so far, joined by line breaks: what positions point into."""
        self.texts: list[str] = []
        """The text of each cell's models (``text`` as it stood then), to know their errors."""
        self.last: tuple[str, ...] = ()
        """The names the last cell read defined."""

    def read(
        self, text: str, name: str, input_shape=None, classes=None, task=None, scale=None
    ) -> tuple[list[CellModel], tuple[Diagnostic, ...]]:
        """The models a cell defines (a bare spec is one model) with the cell's options, or the errors
        that kept it from being read (``scale`` names one of the cell's own scale lines)."""
        from cnndsl.specfile import resolve_definitions
        from cnndsl.syntax import parse_file

        before = f"{self.text}\n" if self.cells else ""
        cell = Cell(len(before), before.count("\n"), text, name)
        self.cells.append(cell)
        self.text = every = before + text
        self.texts.append(every)
        self.last = ()
        options = {"input_shape": input_shape, "classes": classes, "task": task, "cells": tuple(self.cells)}
        try:
            parsed = parse_file(BLANK.sub(" ", before) + text)
        except SpecError as error:  # about this cell, even where it says "the spec is empty" at the padding
            return [], tuple(d.moved(lambda span: _at_least(span, cell)) for d in error.diagnostics)
        definitions = None if isinstance(parsed, ast.Chain) else resolve_definitions(parsed)
        if scale is not None and (definitions is None or not definitions.scales):
            return [], (_no_scales(scale, cell),)
        if definitions is None:
            return [CellModel(name, every, "model", chain=parsed, blocks=dict(self.chains), **options)], ()
        if definitions.diagnostics:
            return [], definitions.diagnostics
        self.chains.update(definitions.chains)
        self.last = tuple(definitions.chains)
        blocks = dict(self.chains)
        scales = {"scales": definitions.scales, "scale": scale} if definitions.scales else {}  # the cell's own
        return [
            CellModel(name, every, m.name, chain=m.chain, blocks=blocks, named=True, **options, **scales)
            for m in definitions.models
        ], ()

    def holds(self, text: str) -> bool:
        """Whether ``text`` is the text of a model read here (a SpecError's source)."""
        return any(text is mine for mine in self.texts)


def _no_scales(name: str, cell: Cell) -> Diagnostic:
    """``--scale`` on a cell without scale lines of its own: an error at the cell's start."""
    from cnndsl.errors import VALUE

    start = ast.Span(cell.offset, cell.offset, cell.line + 1, 1, cell.line + 1, 1)
    message = f"no scale named {name!r} (--scale): the cell declares no scales"
    hint = "a cell declares its scales on lines such as: scale n(0.50, 0.25, 1024)"
    return Diagnostic(VALUE, message, start, hint=hint, code="unknown-scale")


BLANK = re.compile(r"[^\n]")
"""Every character but a line break: what the cells before a cell are blanked to."""


def render_cells(diagnostics: Sequence[Diagnostic], cells: Sequence[Cell]) -> str:
    """Each diagnostic against the cell its position falls in, in that cell's own lines."""
    parts = []
    for diagnostic in diagnostics:
        span = diagnostic.span
        cell = None if span is None else next((c for c in reversed(cells) if span.start >= c.offset), None)
        if cell is None:
            parts.append(render([diagnostic], "", CELL_NAME))
            continue
        parts.append(render([diagnostic.moved(lambda span, c=cell: _shifted(span, c))], cell.text, cell.name))
    return "\n".join(parts)


def _at_least(span, cell: Cell):
    """A span moved to the start of ``cell`` if it lies before it."""
    if span.start >= cell.offset:
        return span
    start, line = cell.offset, cell.line + 1
    return ast.Span(start, max(span.end, start), line, 1, max(span.end_line, line), 1)


def _shifted(span, cell: Cell):
    """A span in every cell's text, in ``cell``'s own text."""
    from cnndsl.records import replace

    return replace(
        span, start=span.start - cell.offset, end=span.end - cell.offset, line=span.line - cell.line,
        end_line=span.end_line - cell.line,
    )  # fmt: skip


@dataclass
class CellView(View):
    """A view whose errors are rendered against the cells they point into."""

    cells: tuple[Cell, ...] = ()

    def render(self, diagnostics: Sequence[Diagnostic]) -> str:
        if not self.cells:
            return super().render(diagnostics)
        return render_cells(diagnostics, self.cells)


def _in_cells(view: View, cells: Sequence[Cell]) -> CellView:
    return CellView(**{f: getattr(view, f) for f in View.__dataclass_fields__}, cells=tuple(cells))


def magic_parser():
    """``%%cnndsl``'s options: the command line's own (``--input-shape``, ``--classes``, ``--task``,
    ``--scale``, ``--depth``), and the style; each is honoured (:func:`run_cell`)."""
    from cnndsl.cli.options import add_model_options, depth_arg, model_scale_arg
    from cnndsl.cli.parsing import Parser

    class MagicParser(Parser):
        def error(self, message):
            raise MagicUsageError(f"%%cnndsl: error: {message}")

        def exit(self, status=0, message=None):
            raise MagicUsageError(message or "")

    parser = MagicParser(prog="%%cnndsl", description="Check the cell as a spec file; show each model.")
    add_model_options(parser, scale=False)
    parser.add_argument(
        "--scale", type=model_scale_arg, metavar="NAME",
        help="a cell with scale lines: show it at its scale NAME, and its models keep it (default: its first)",
    )  # fmt: skip
    parser.add_argument("--depth", type=depth_arg, metavar="N", help="draw each use of a named block N deep as one box")
    parser.add_argument("--style", choices=["boxes", "graph"], default="boxes", help="the picture's style")
    return parser


class MagicUsageError(Exception):
    """A bad ``%%cnndsl`` option line: shown as one line, no traceback."""


def run_cell(line: str, cell: str, definitions: CellDefinitions, name: str, namespace: dict | None = None) -> list:
    """What ``%%cnndsl`` shows for a cell: one view per model, or the errors; the models go into ``namespace``.

    Every option is the command line's, and each is honoured: the cell is checked for
    ``--input-shape``, ``--classes``, ``--task`` and ``--scale``, and the models it names keep them.
    """
    import shlex

    try:
        args = magic_parser().parse_args(shlex.split(line))
    except MagicUsageError as error:  # --help has printed the help already
        return [Message(str(error))] if str(error) else []
    except ValueError as error:  # shlex: an unclosed quote
        return [Message(f"%%cnndsl: error: {error}")]
    models, problems = definitions.read(cell, name, args.input_shape, args.classes, args.task, args.scale)
    if problems:
        return [CellView(diagnostics=tuple(problems), text=cell, name=name, cells=tuple(definitions.cells))]
    views = []
    for model in models:
        views.append(source_view(model, depth=args.depth, style=args.style))
        if namespace is not None and model.named:
            namespace[model.label] = model
    return views or [Message(f"%%cnndsl: defined {', '.join(definitions.last)} (no model to show)")]


def cell_name(shell) -> str:
    """``<cell N>``, N the ``In [N]`` of the cell running now.

    IPython counts the next cell as soon as one starts (``shell.execution_count``); the
    running cell's own count is its execution result's.
    """
    result = getattr(shell.displayhook, "exec_result", None)
    count = getattr(result, "execution_count", None)
    return f"<cell {count if count is not None else shell.execution_count}>"


@dataclass
class Message:
    """One line of text (a bad option line)."""

    text: str

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": self.text, "text/html": f"<pre class='cnndsl-error'>{_e(self.text)}</pre>"}


def load_ipython_extension(ipython) -> None:
    """``%load_ext cnndsl``: the ``%%cnndsl`` cell magic, and spec errors shown with carets instead of tracebacks."""
    from IPython.core.magic import Magics, cell_magic, magics_class
    from IPython.display import display

    definitions = CellDefinitions()

    @magics_class
    class CnndslMagics(Magics):
        @cell_magic
        def cnndsl(self, line: str, cell: str) -> None:
            """Check the cell as a spec file (definitions, blocks, comments) and show each model.

            Options as on the command line: --input-shape H,W,C, --classes N, --task, --scale NAME, --depth N,
            --style."""
            for view in run_cell(line, cell, definitions, cell_name(self.shell), self.shell.user_ns):
                display(view)

    def show_spec_error(shell, etype, error, tb, tb_offset=None):
        """A SpecError raised in a cell: its errors with carets, no traceback; a cell's model's in its cells."""
        text = error.source or ""
        view = View(diagnostics=error.diagnostics, text=text, name="<spec>")
        display(_in_cells(view, definitions.cells) if definitions.holds(text) else view)

    ipython.register_magics(CnndslMagics)
    ipython.set_custom_exc((SpecError,), show_spec_error)
