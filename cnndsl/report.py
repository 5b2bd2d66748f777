"""Human and machine renderings of a checked model: the summary table and JSON."""

from __future__ import annotations

import hashlib
from typing import Any

from cnndsl.ast import assert_never
from cnndsl.budgets import activation_bytes, flops, format_bytes
from cnndsl.errors import Diagnostic, diagnostic_record
from cnndsl.model import INPUT, CheckedModel, From, Item, LayerInfo, Merge, input_number, is_input, taken, tensor_name
from cnndsl.shapes import format_shape

HEADERS = ("Layer (type)", "Output Shape", "Param #", "MACs", "Activations", "Spec")
RIGHT = (False, False, True, True, True, False)
CONNECTED = "Connected to"
INPUT_NAME = "input_layer"
"""What Keras names a model's input, in the "Connected to" column."""


MIN_SHORTENED = 12
"""A shortened text column keeps at least this many characters."""


def summary_table(model: CheckedModel, width: int | None = None) -> str:
    """A table like Keras's ``model.summary()``, with each layer's text in the spec.

    A model with merges gets Keras's "Connected to" column: the layers feeding each one.
    Given ``width`` (a terminal's), the spec texts and then the "Connected to" lists are
    shortened, with "…", until the table fits.
    """
    headers, right = HEADERS, RIGHT
    rows = [_row(info, _scaled_text(model, info) or _block_text(model, info)) for info in model.layers]
    if model.is_graph:
        headers, right = (*HEADERS[:3], CONNECTED, *HEADERS[3:]), (*RIGHT[:3], False, *RIGHT[3:])
        rows = [(*row[:3], _sources(model, info), *row[3:]) for row, info in zip(rows, model.layers)]
    under = None
    if width is not None:
        fitted = _fitted(headers, rows, width)
        if _table_width(headers, fitted) > width:  # still too wide: spec texts (and sources) get lines of their own
            keep = [i for i, header in enumerate(headers) if header not in (HEADERS[-1], CONNECTED)]
            under = [_cut("    " + _under(headers, row), width) for row in rows]
            headers, right = tuple(headers[i] for i in keep), tuple(right[i] for i in keep)
            fitted = [tuple(row[i] for i in keep) for row in rows]
        rows = fitted
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    if width is not None:
        rule = rule[:width]
    lines = [
        f"{_inputs_line(model)}   {_outputs_line(model)}",
        *_scale_line(model),
        rule,
        _line(headers, widths, right),
        rule,
    ]
    for index, row in enumerate(rows):
        lines.append(_line(row, widths, right))
        if under is not None:
            lines.append(under[index])
    lines += [
        rule,
        f"Total params: {model.total_params:,} ({format_bytes(model.total_params * 4)})",
        f"Trainable params: {model.trainable_params:,} ({format_bytes(model.trainable_params * 4)})",
        f"Non-trainable params: {model.non_trainable_params:,} ({format_bytes(model.non_trainable_params * 4)})",
        *_size_dependent(model),
        f"Architecture hash: {architecture_hash(model)}",
    ]
    return "\n".join(lines)


def _inputs_line(model: CheckedModel) -> str:
    """``Input: (None, 28, 28, 1)``, or for a model of several inputs each by its name and shape."""
    if not model.inputs:
        return f"Input: {format_shape(model.input_shape)}"
    return "Inputs: " + ", ".join(f"{given.name} {format_shape(given.shape)}" for given in model.inputs)


def _source_name(model: CheckedModel, source: int) -> str:
    """The name a layer's input goes by in the table: a layer's, or an input's."""
    if not is_input(source):
        return model.layers[source].name
    return model.inputs[input_number(source)].name if model.inputs else INPUT_NAME


def _outputs_line(model: CheckedModel) -> str:
    """The task's line (``Classes: 10``), or for a model ending in ``OUT(...)`` every output, its layer and shape."""
    if not model.outputs:
        return model.task.outputs_line(model.num_classes)
    listed = ", ".join(
        f"{output.name} = {'input' if is_input(output.source) else model.layers[output.source].name} "
        f"{format_shape(shape)}"
        for output, shape in zip(model.outputs, model.output_shapes)
    )
    return f"Outputs: {listed}"


def _fitted(headers: tuple[str, ...], rows: list[tuple[str, ...]], width: int) -> list[tuple[str, ...]]:
    """The rows with their last column, then "Connected to", cut to make the table ``width`` wide."""
    for column in (len(headers) - 1, *([headers.index(CONNECTED)] if CONNECTED in headers else [])):
        excess = _table_width(headers, rows) - width
        if excess <= 0:
            break
        keep = max(len(max((row[column] for row in rows), key=len)) - excess, MIN_SHORTENED, len(headers[column]))
        rows = [(*row[:column], _cut(row[column], keep), *row[column + 1 :]) for row in rows]
    return rows


def _under(headers: tuple[str, ...], row: tuple[str, ...]) -> str:
    """A row's spec text, and in a graph the layers feeding it, for the line under the row."""
    if CONNECTED not in headers:
        return row[-1]
    return f"{row[-1]}  <- {row[headers.index(CONNECTED)]}"


def _table_width(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> int:
    widths = [max(len(cell) for cell in cells) for cells in zip(headers, *rows)]
    return sum(widths) + 2 * (len(widths) - 1)


def _cut(text: str, keep: int) -> str:
    return text if len(text) <= keep else text[: keep - 1] + "…"


def _size_dependent(model: CheckedModel) -> list[str]:
    """The totals that need every size: multiply-accumulates and activations."""
    if model.total_macs is None or activation_bytes(model) is None:
        unknown = "unknown: the input's size is unknown"
        return [f"Multiply-accumulates: {unknown}", f"Activations: {unknown}"]
    return [
        f"Multiply-accumulates: {model.total_macs:,} per example ({flops(model):,} FLOPs)",
        f"Activations: {format_bytes(activation_bytes(model))} per example (float32)",
    ]


def _known(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _scale_line(model: CheckedModel) -> list[str]:
    """``Scale: n (depth 0.5, width 0.25, cap 1024) of n, s, m, l, x``, for a model of a file with scales."""
    chosen = model.scale
    if chosen is None:
        return []
    return [
        f"Scale: {chosen.scaling.describe()} of {', '.join(chosen.family)}; the Spec column says 64→16 where it scaled"
    ]


def _scaled_text(model: CheckedModel, info: LayerInfo) -> str | None:
    """A layer's text with each number its scale changed written ``64→16``; None where none changed."""
    span, chosen = info.layer.span, model.scale
    if chosen is None or span is None or info.layer.type.merge or info.layer.head and span.start == span.end:
        return None
    text, at = info.layer.text, span.start
    changes = [c for c in chosen.changes if span.start <= c.span.start and c.span.end <= span.end]
    if not changes or len(text) != span.end - span.start:
        return None
    parts, last = [], 0
    for change in sorted(changes, key=lambda c: c.span.start):
        start, end = change.span.start - at, change.span.end - at
        parts += [text[last:start], f"{text[start:end]}→{change.value}"]
        last = end
    return " ".join("".join([*parts, text[last:]]).split())


def _row(info: LayerInfo, text: str | None = None) -> tuple[str, ...]:
    text = text or _short_text(info)
    if info.layer.head:
        text = f"{text}  (head)"
    return (
        f"{info.name} ({info.keras_class})",
        format_shape(info.output_shape),
        f"{info.params:,}",
        _known(info.macs),
        _known(info.activations),
        text,
    )


def _short_text(info: LayerInfo) -> str:
    """A layer's text on one line; a merge by its code and branches only (they have rows of their own)."""
    if info.layer.type.merge:
        args = "".join(f", {name}={_arg(info.layer.args[name])}" for name in sorted(info.layer.given))
        return f"{info.code}({' | '.join(['...'] * len(info.inputs))}{args})"
    return " ".join(info.layer.text.split())


def _block_text(model: CheckedModel, info: LayerInfo) -> str | None:
    """A layer a block code made: the block's call as the spec writes it (each number its scale changed
    written ``64→16``), and the layer's path inside it (its code where the layer is the block's own merge
    or slice); None for a layer the spec wrote."""
    span = info.layer.span
    if info.layer.path is None or span is None:
        return None
    call, chosen = model.source[span.start : span.end], getattr(model, "scale", None)
    changes = [c for c in chosen.changes if span.start <= c.span.start and c.span.end <= span.end] if chosen else []
    for change in sorted(changes, key=lambda c: -c.span.start):  # from the end: earlier offsets stay put
        start, end = change.span.start - span.start, change.span.end - span.start
        call = f"{call[:start]}{call[start:end]}→{change.value}{call[end:]}"
    return f"{' '.join(call.split())} {info.layer.path or info.code}"


def _sources(model: CheckedModel, info: LayerInfo) -> str:
    return ", ".join(_source_name(model, source) for source in info.inputs)


def _line(cells, widths, right=RIGHT) -> str:
    padded = [f"{cell:>{width}}" if flush else f"{cell:<{width}}" for cell, width, flush in zip(cells, widths, right)]
    return "  ".join(padded).rstrip()


def summary_json(model: CheckedModel, filename: str = "<spec>") -> dict:
    """The ``cnndsl summary --json`` document."""
    return {
        "layers": [_layer_json(info) for info in model.layers],
        "input_shape": list(model.input_shape),
        **({"inputs": [{"name": i.name, "shape": list(i.shape)} for i in model.inputs]} if model.inputs else {}),
        "output_shape": list(model.output_shape),
        "outputs": _outputs_json(model),
        "total_params": model.total_params,
        "trainable_params": model.trainable_params,
        "non_trainable_params": model.non_trainable_params,
        "macs": model.total_macs,
        "flops": flops(model),
        "activation_bytes": activation_bytes(model),
        "hash": architecture_hash(model),
        "warnings": [diagnostic_record(d, filename) for d in model.warnings],
        **({"scale": _scale_json(model.scale)} if model.scale is not None else {}),
    }


def _scale_json(chosen) -> dict:
    """The scale a model of a file with scales was checked at, and what it changed."""
    from cnndsl.specfile import value_text

    scaling = chosen.scaling
    return {
        "name": scaling.name,
        "depth": scaling.depth,
        "width": scaling.width,
        "cap": scaling.cap,
        "divisor": scaling.divisor,
        "channels": scaling.channels,
        "repeats": scaling.repeats,
        **({"variables": {name: value_text(value) for name, value in scaling.variables}} if scaling.variables else {}),
        "scales": list(chosen.family),
        "changes": [
            {"line": c.span.line, "column": c.span.column, "written": c.written, "value": c.value, "kind": c.kind}
            for c in chosen.changes
        ],
    }


def _outputs_json(model: CheckedModel) -> list[dict]:
    """Each output: its name (``None`` for a model of one output), its layer's index (-1: the input) and shape."""
    names = model.output_names or (None,)
    return [
        {"name": name, "layer": source, "output_shape": list(shape)}
        for name, source, shape in zip(names, model.output_sources, model.output_shapes)
    ]


def _layer_json(info: LayerInfo) -> dict:
    """A layer's row; a layer a block code made also gives its ``path`` in the block (``cv1.conv``)."""
    span = info.layer.span
    path = {} if info.layer.path is None else {"path": info.layer.path}
    return {
        "name": info.name,
        "code": info.code,
        "keras_class": info.keras_class,
        "output_shape": list(info.output_shape),
        "params": info.params,
        "trainable_params": info.trainable,
        "non_trainable_params": info.non_trainable,
        "macs": info.macs,
        "activations": info.activations,
        "text": info.layer.text,
        "head": info.layer.head,
        "inputs": list(info.inputs),
        "line": span.line if span else None,
        "column": span.column if span else None,
        **path,
    }


def errors_json(diagnostics: tuple[Diagnostic, ...], filename: str = "<spec>") -> dict:
    """The ``--json`` document for a spec with errors: each as ``check --format json`` shows it."""
    return {"errors": [diagnostic_record(d, filename) for d in diagnostics]}


def canonical_form(model: CheckedModel) -> str:
    """The architecture with every layer and argument explicit: equal forms, equal models.

    Branches keep their order: it orders CAT's channels and Keras's layer list.

    >>> from cnndsl import check
    >>> canonical_form(check("CN(8)*2->GAP()")) == canonical_form(check("CN(8,3)->CN(8,(3,3))->GAP()->DN(10)"))
    True
    >>> canonical_form(check("MP(2)->GAP()")) == canonical_form(check("MP(2, strides=2)->GAP()"))
    True
    """
    shape = ",".join(str(size) for size in model.input_shape[1:])
    if model.inputs:  # several inputs: each declared by its name first, the layers in Keras's order
        start = INPUT - (len(model.inputs) - 1)
        tree = _keras_order_tree(model.layers, start)
        names = taken(tree, start) | (set(model.output_sources) if model.outputs else set())
        declared = [f"IN({','.join(str(size) for size in given.shape[1:])}) as {given.name}" for given in model.inputs]
        ending = [f"OUT({_outputs_text(model)})"] if model.outputs else []
        return " -> ".join([*declared, *_canonical_items(model, tree, names, start), *ending])
    if model.outputs:  # the layers in Keras's order, then each output by its layer's name and its own
        tree = _keras_order_tree(model.layers)
        names = taken(tree) | set(model.output_sources)
        first = f"IN({shape})" + _named(INPUT, names)
        return " -> ".join([first, *_canonical_items(model, tree, names, INPUT), f"OUT({_outputs_text(model)})"])
    tree = model.items if not taken(model.items) else _graph_tree(model)
    names = taken(tree)
    first = f"IN({shape})" + _named(INPUT, names)
    return " -> ".join([first, *_canonical_items(model, tree, names, INPUT)])


def _outputs_text(model: CheckedModel) -> str:
    """``OUT``'s branches in the canonical form: each output by its tensor's name and its own."""
    return " | ".join(f"@{_tensor(model, output.source)} as {output.name}" for output in model.outputs)


def _tensor(model: CheckedModel, source: int) -> str:
    """The name a tensor goes by in the canonical form: a model of several inputs names its inputs."""
    return model.inputs[input_number(source)].name if model.inputs and is_input(source) else tensor_name(source)


class _NotNested(Exception):
    """The graph is not nested merges."""


def _graph_tree(model: CheckedModel) -> tuple[Item, ...]:
    """One tree for the graph, however the spec wrote it with names: equal graphs, equal forms.

    Nested merges where the graph is nested merges (the tree a spec without names writes),
    else one chain in Keras's order whose merges' branches hold the layers only they use,
    going back to other tensors by :class:`From` (as ``cnndsl from-keras`` writes it).
    """
    layers = model.layers
    try:
        walk = _NestedWalk(layers)
        for index, info in enumerate(layers):  # inputs come first in Keras's order: no deep recursion
            if info.layer.type.merge:
                walk.start(index)
        tree = walk.chain(len(layers) - 1, INPUT)
        if len(walk.used) == len(layers):
            return tree
    except _NotNested:
        pass
    return _keras_order_tree(layers)


class _NestedWalk:
    """Back from the output: each merge's branches start at the last node every one of them passes through."""

    def __init__(self, layers: tuple[LayerInfo, ...]):
        self.layers, self.used = layers, set()
        self._starts: dict[int, int] = {}

    def chain(self, end: int, start: int) -> tuple[Item, ...]:
        items: list[Item] = []
        while end != start:
            if end == INPUT or end in self.used:
                raise _NotNested
            self.used.add(end)
            if self.layers[end].layer.type.merge:
                begin = self.start(end)
                items.append(Merge(end, tuple(self.chain(feed, begin) for feed in self.layers[end].inputs)))
                end = begin
            else:
                items.append(end)
                end = self.layers[end].inputs[0]
        return tuple(reversed(items))

    def start(self, merge: int) -> int:
        if merge not in self._starts:
            spines = [self.spine(feed) for feed in self.layers[merge].inputs]
            common = set.intersection(*(set(spine) for spine in spines[1:]))
            self._starts[merge] = next(node for node in spines[0] if node in common)
        return self._starts[merge]

    def spine(self, node: int) -> list[int]:
        found = []
        while node != INPUT:
            found.append(node)
            node = self.start(node) if self.layers[node].layer.type.merge else self.layers[node].inputs[0]
        return [*found, INPUT]


def _keras_order_tree(layers: tuple[LayerInfo, ...], start: int = INPUT) -> tuple[Item, ...]:
    """The layers in Keras's order as one chain; a merge's branch holds the run of layers only it uses.

    ``start``: the tensor the chain holds before its first layer (a model of several inputs: its last)."""
    uses: dict[int, int] = {}
    for info in layers:
        for source in info.inputs:
            uses[source] = uses.get(source, 0) + 1
    runs: dict[int, list[tuple[int, list[int]]]] = {}
    for index, info in enumerate(layers):
        if info.layer.type.merge:
            runs[index] = [_run(layers, feed, uses) for feed in info.inputs]
    inside = {layer for branches in runs.values() for _, run in branches for layer in run}
    tree: list[Item] = []
    current = start
    for index, info in enumerate(layers):
        if index in inside:
            continue
        if index in runs:
            branches = tuple((*([From(source)] if source != current else []), *run) for source, run in runs[index])
            tree.append(Merge(index, branches))
        else:
            if info.inputs[0] != current:
                tree.append(From(info.inputs[0]))
            tree.append(index)
        current = index
    return tuple(tree)


def _run(layers: tuple[LayerInfo, ...], feed: int, uses: dict[int, int]) -> tuple[int, list[int]]:
    """(where a branch starts, the layers back from ``feed`` that only it uses, in order)."""
    run = []
    while not is_input(feed) and uses[feed] == 1 and not layers[feed].layer.type.merge:
        run.append(feed)
        feed = layers[feed].inputs[0]
    return feed, run[::-1]


def _named(index: int, names: set[int]) -> str:
    """`` as t3`` where a chain goes on from this output (named by its place in Keras's order), else nothing."""
    return f" as {tensor_name(index)}" if index in names else ""


def _canonical_items(model: CheckedModel, items: tuple[Item, ...], names: set[int], current: int) -> list[str]:
    """The items' canonical text; ``current`` is the layer whose output the chain holds when it starts.

    Going back to the tensor the chain holds anyway is left out, so ``ADD(@x | ...)`` right
    after ``... as x`` is the nested merge it means.
    """
    out = []
    for item in items:
        match item:
            case int():
                out.append(_canonical_layer(model.layers[item]) + _named(item, names))
                current = item
            case Merge():
                texts = [" -> ".join(_canonical_items(model, b, names, current)) for b in item.branches]
                merge = model.layers[item.layer]
                args = "".join(f", {k}={_arg(v)}" for k, v in _hashed(merge))
                out.append(f"{merge.code}({' | '.join(text or 'ID()' for text in texts)}{args})")
                out[-1] += _named(item.layer, names)
                current = item.layer
            case From():
                if item.source != current:
                    out.append(f"@{_tensor(model, item.source)}")
                current = item.source
            case _:
                assert_never(item)
    return out


def _canonical_layer(info: LayerInfo) -> str:
    return f"{info.code}({', '.join(f'{k}={_arg(v)}' for k, v in _hashed(info))})"


def _hashed(info: LayerInfo) -> list[tuple[str, Any]]:
    """A layer's arguments in its canonical form: all, but a ``quiet`` one at its default (an argument added
    to a code later, so that every spec written before it keeps its hash); each value in the one spelling
    of those Keras builds alike (``swish`` is ``silu``; ``CAT(..., axis=3)`` of 4-D tensors is ``axis=-1``).

    >>> from cnndsl import check
    >>> architecture_hash(check("CN(8, activation=swish) -> GAP()")) == architecture_hash(check("CN(8, activation=silu) -> GAP()"))
    True
    >>> canonical_form(check("CN(8) -> CAT(ID() | CN(4, padding=same), axis=3) -> GAP()")).count("axis=-1")
    1
    """
    entry, rank = info.layer.type, len(info.input_shape)
    quiet = {param.name: param.default for param in entry.params if param.quiet}
    hashed = ((k, entry.canonical(k, v, rank)) for k, v in info.layer.args.items())
    return [(k, v) for k, v in hashed if k not in quiet or quiet[k] != v]


def _arg(value) -> str:
    if isinstance(value, tuple):
        return "(" + ",".join(_arg(v) for v in value) + ")"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def architecture_hash(model: CheckedModel) -> str:
    """A short stable hash of :func:`canonical_form` (the last model's is kept: a summary and its JSON ask twice)."""
    if _last_hash and _last_hash[0] is model:
        return _last_hash[1]
    digest = hashlib.sha256(canonical_form(model).encode()).hexdigest()[:12]
    _last_hash[:] = [model, digest]
    return digest


_last_hash: list = []
"""The last model hashed and its hash."""


def scale_rows(models: list[CheckedModel], text: str, repeats: dict) -> list[dict]:
    """Each number a family's scales change, once per place it is written, with its value at each scale.

    ``models`` is the same model checked at each scale of its family, in order; ``repeats``
    maps the span of a repetition's count to the repetition's span (the row's label).
    """
    rows: dict = {}
    for index, model in enumerate(models):
        for change in model.scale.changes:
            row = rows.get(change.span)
            if row is None:
                row = rows[change.span] = {
                    "line": change.span.line,
                    "column": change.span.column,
                    "kind": change.kind,
                    "written": change.written,
                    "text": _written_at(model, change, text, repeats),
                    "values": [None] * len(models),
                }
            row["values"][index] = change.value
    return [rows[span] for span in sorted(rows, key=lambda span: span.start)]


def _written_at(model: CheckedModel, change, text: str, repeats: dict) -> str:
    """What a row stands for: the call that writes a width, the repetition that writes a count."""
    if change.span in repeats:
        span = repeats[change.span]
        return " ".join(text[span.start : span.end].split())
    for info in model.layers:
        span = info.layer.span
        if span is not None and span.start <= change.span.start and change.span.end <= span.end:
            written = info.layer.text if info.layer.path is None else text[span.start : span.end]  # a block's call
            return " ".join(written.split())
    return " ".join(text[change.span.start : change.span.end].split())


def scales_table(models: list[CheckedModel], text: str, repeats: dict) -> str:
    """``cnndsl summary --scales``: every number the scales change, a column per scale, and each scale's totals."""
    names = [model.scale.name for model in models]
    rows = scale_rows(models, text, repeats)
    headers = ("Written", "Line:Col", *names)
    cells = [
        (
            f"{row['text']}" + {"depth": " (repeats)", "variable": f" ({row['written']})"}.get(row["kind"], ""),
            f"{row['line']}:{row['column']}",
            *(value if isinstance(value, str) else _known(value) for value in row["values"]),
        )
        for row in rows
    ]
    totals = [
        ("Layers", "", *(f"{len(model.layers):,}" for model in models)),
        ("Total params", "", *(f"{model.total_params:,}" for model in models)),
        ("Multiply-accumulates", "", *(_known(model.total_macs) for model in models)),
    ]
    right = (False, False, *(True for _ in names))
    widths = [max(len(cell) for cell in column) for column in zip(headers, *cells, *totals)]
    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    lines = [
        "Scales: " + ", ".join(model.scale.scaling.describe() for model in models),
        rule,
        _line(headers, widths, right),
        rule,
        *(_line(row, widths, right) for row in cells),
        rule,
        *(_line(row, widths, right) for row in totals),
    ]
    return "\n".join(lines)


def scales_json(models: list[CheckedModel], text: str, repeats: dict) -> dict:
    """The ``cnndsl summary --scales --json`` document."""
    return {
        "scales": [
            {k: v for k, v in _scale_json(model.scale).items() if k not in ("scales", "changes")} for model in models
        ],
        "rows": scale_rows(models, text, repeats),
        "layers": [len(model.layers) for model in models],
        "total_params": [model.total_params for model in models],
        "macs": [model.total_macs for model in models],
    }
