"""What an editor shows for one document: diagnostics, shapes, names and fixes.

Pure Python and protocol-free (the language server turns it into LSP messages): a
document's text goes through the checker as ``cnndsl check`` would take it, and the
checked models are walked beside the text so that every layer, block use and
repetition gets its output shape at its place. Positions are character offsets
into the text. Nothing here imports, runs or evaluates a user's code: Python files
are only parsed (:mod:`cnndsl.embedded`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cnndsl import ast
from cnndsl.ast import assert_never
from cnndsl.budgets import check_budgets
from cnndsl.checker import check_chain
from cnndsl.errors import Diagnostic, Edit, SpecError
from cnndsl.layers import LAYERS
from cnndsl.model import CheckedModel, From, LayerInfo, Merge
from cnndsl.passes.scale import choose as choose_scale
from cnndsl.reparse import placed, reparse_file
from cnndsl.settings import Settings
from cnndsl.specfile import leaves, references, resolve_definitions
from cnndsl.syntax import BLANKS, MAX_NESTING, MAX_SPEC_CHARS, parse_file, read_fast, span_at

SHAPE_MARK = "▸"


@dataclass(frozen=True)
class Hint:
    """A label shown after ``offset``: an output shape, or a model's parameter count."""

    offset: int
    label: str
    tooltip: str | None = None


@dataclass(frozen=True)
class Fix:
    """A quick fix for one diagnostic: its edits, as the pass that found the problem made them."""

    diagnostic: Diagnostic
    title: str
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class TensorName:
    """One place a definition writes a tensor's name: where ``as name`` names it, or an ``@name`` use."""

    name: str
    span: ast.Span
    """The name alone (without ``@`` or ``as``)."""
    named: ast.Named | None = None
    """The ``... as name`` this place is (None for an ``@name`` use)."""


@dataclass
class Analysis:
    """Everything the server answers from, for one version of one document."""

    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    hints: list[Hint] = field(default_factory=list)
    definitions: list[ast.Definition] = field(default_factory=list)
    """The definitions that parsed (all of them when the file parses)."""
    chain: ast.Chain | None = None
    """A bare spec's chain (a file without definitions)."""
    models: dict[str, CheckedModel] = field(default_factory=dict)
    """Checked models by name (a bare spec: the file's stem)."""
    layers: dict[int, LayerInfo] = field(default_factory=dict)
    """A call's start offset -> the first layer it became."""
    blocks: dict[str, ast.Chain] = field(default_factory=dict)
    """Every definition's chain by name, as models use them."""
    fixes: list[Fix] = field(default_factory=list)
    tree: ast.SpecFile | ast.Chain | None = None
    """The whole text as read (None when it does not read)."""
    last_read: tuple[str, ast.SpecFile | ast.Chain] | None = None
    """The document's latest text that read, with its tree: where the next edit is read from
    (through a syntax error mid-edit, the text before it)."""
    scale: object = None
    """The scale of the file's family its models are checked at (:class:`cnndsl.passes.scale.Chosen`), if any."""
    scaled: dict[int, object] = field(default_factory=dict)
    """A written number's start offset -> what the scale made of it (:class:`cnndsl.passes.scale.Change`)."""

    @property
    def chains(self) -> list[ast.Chain]:
        return [self.chain] if self.chain is not None else [d.chain for d in self.definitions]

    def calls(self) -> list[ast.Call]:
        """Every layer call written in the document, in order."""
        return [call for chain in self.chains for call in _calls(chain)]

    def merges(self) -> list[ast.Merge]:
        """Every merge written in the document, in order (an outer merge before the merges of its branches)."""
        return [merge for chain in self.chains for merge in _merges(chain)]

    def layer_at(self, offset: int) -> ast.Call | ast.Merge | None:
        """The innermost layer call or merge written at ``offset`` (a call inside a merge's branch wins)."""
        found = [node for node in (*self.calls(), *self.merges()) if node.span.start <= offset < node.span.end]
        return min(found, key=lambda node: node.span.end - node.span.start, default=None)

    def tensor_names(self, offset: int) -> list[TensorName] | None:
        """The tensor name at ``offset`` (``as s3`` or ``@s3``) and every other place its definition writes it,
        in order; None when no tensor name is there. A tensor name belongs to the definition that names it."""
        for chain in self.chains:
            written = _tensor_names(chain)
            here = next((item for item in written if item.span.start <= offset <= item.span.end), None)
            if here is not None:
                return [item for item in written if item.name == here.name]
        return None

    def names(self) -> list[tuple[str, ast.Span, bool]]:
        """Every definition name and block use: (name, span, is the definition)."""
        found = [(d.name, d.name_span, True) for d in self.definitions]
        found += [(ref.name, ref.span, False) for chain in self.chains for ref in references(chain)]
        return sorted(found, key=lambda item: item[1].start)

    def name_at(self, offset: int) -> tuple[str, ast.Span, bool] | None:
        """The definition name or block use written at ``offset``, as :meth:`names` gives it."""
        return next((item for item in self.names() if item[1].start <= offset <= item[1].end), None)

    def definition(self, name: str) -> ast.Definition | None:
        return next((d for d in self.definitions if d.name == name), None)

    def expansion(self, name: str) -> list[ast.Call | ast.Merge] | None:
        """The layers a definition expands to, in written order; None past MAX_SHOWN_LAYERS or on a bad name."""
        definition = self.definition(name)
        if definition is None:
            return None
        calls: list = []
        try:
            _walk(definition.chain, self.blocks, calls, [], own=False, limit=MAX_SHOWN_LAYERS)
        except (KeyError, RecursionError, OverflowError):
            return None
        return calls


# --- analysing a document ---------------------------------------------------------------


def analyze_spec_file(text: str, settings: Settings, stem: str = "spec", previous: Analysis | None = None) -> Analysis:
    """A ``.cnn`` file: a bare spec or named definitions, checked as ``cnndsl check`` checks it.

    Given the ``previous`` analysis of the same document, the edits since its last text that
    read, when they fall inside one layer call, re-read that call only (:mod:`cnndsl.reparse`);
    the models are checked whole.
    """
    analysis = Analysis(text, last_read=previous.last_read if previous is not None else None)
    parsed = None if analysis.last_read is None else reparse_file(*analysis.last_read, text)
    try:
        parsed = parsed if parsed is not None else parse_file(text)
    except SpecError as error:
        found = _partial_starts(text)  # None past the limits: the error alone
        if found is not None:
            error = _own_error(text, error, *found)
        analysis.diagnostics += error.diagnostics
        if found is not None:
            _analyze_partial(analysis, error, settings, stem, found[0])
        return analysis
    analysis.tree, analysis.last_read = parsed, (text, parsed)
    if isinstance(parsed, ast.Chain):
        analysis.chain = parsed
        _check_model(analysis, stem, parsed, {}, settings, report=True)
    else:
        _analyze_definitions(analysis, parsed, settings, report=True)
    analysis.fixes = quick_fixes(analysis.diagnostics)
    return analysis


def analyze_python(text: str, settings: Settings, display: str = "<python>") -> Analysis:
    """A Python file: the spec literals passed to cnndsl, each checked with its call's keywords.

    The file is parsed with Python's ``ast`` module only: nothing in it is imported or run.
    A file that is not valid Python (mid-edit) has no spec diagnostics.
    """
    from cnndsl.inputs import UsageError, python_models

    analysis = Analysis(text)
    try:
        sources = python_models(display, text, "python")
    except UsageError:
        return analysis
    for source in sources:
        try:
            model = source.check(None, settings.classes, settings.input_shape, settings.task)
        except SpecError as error:
            analysis.diagnostics += error.diagnostics
            continue
        analysis.diagnostics += [*model.warnings, *source.relocated(check_budgets(model, settings))]
    analysis.fixes = quick_fixes(analysis.diagnostics)
    return analysis


def _analyze_definitions(analysis: Analysis, spec_file: ast.SpecFile, settings: Settings, report: bool) -> None:
    analysis.definitions = list(spec_file.definitions)
    resolved = resolve_definitions(spec_file)
    problems = list(resolved.diagnostics)
    analysis.blocks = dict(resolved.chains)
    try:
        name = settings.scale if resolved.scales and settings.scale is not None else None
        origin = settings.origin("scale") if name is not None else None
        analysis.scale = choose_scale(resolved.scales, name, analysis.text, origin)
    except SpecError as error:  # the setting names a scale the file lacks: said once, the models checked as written
        problems += error.diagnostics
    for definition in spec_file.definitions:
        if not definition.is_block:
            _check_model(analysis, definition.name, definition.chain, resolved.chains, settings, report, problems)
    if report:
        analysis.diagnostics[:0] = problems


def _check_model(analysis, name, chain, blocks, settings: Settings, report: bool, problems=()) -> None:
    """Check one model; record its diagnostics (unless one overlaps a name problem) and hints."""
    try:
        model = check_chain(chain, analysis.text, None, settings.classes, blocks, settings.input_shape, settings.task,
                            scale=analysis.scale)  # fmt: skip
    except SpecError as error:
        if report:
            analysis.diagnostics += [d for d in error.diagnostics if not _overlaps_any(d, problems)]
        _place_unfinished_hints(analysis, chain, blocks, settings)
        return
    except (KeyError, RecursionError):  # a block the name checks already refused
        return
    analysis.models.setdefault(name, model)
    if model.scale is not None:
        for change in model.scale.changes:
            analysis.scaled.setdefault(change.span.start, change)
    if report:
        analysis.diagnostics += [*model.warnings, *check_budgets(model, settings)]
    _place_hints(analysis, chain, blocks, model)


def _place_unfinished_hints(analysis: Analysis, chain: ast.Chain, blocks, settings: Settings) -> None:
    """Shapes for a model being written, which does not end in a classifier yet (``CN(8)->CN(8)``).

    Checked as if it ended in ``FL()``: the shapes of the layers written are the same,
    and a model with any other error gets no hints.
    """
    end = chain.span.end
    flatten = ast.Call("FL", (), ast.Span(end, end, chain.span.end_line, chain.span.end_column,
                                           chain.span.end_line, chain.span.end_column))  # fmt: skip
    try:
        model = check_chain(ast.Chain((*chain.elements, flatten), chain.span), analysis.text, None,
                            settings.classes, blocks, settings.input_shape, scale=analysis.scale)  # fmt: skip
    except (SpecError, KeyError, RecursionError):
        return
    _place_hints(analysis, chain, blocks, model, totals=False)


def _overlaps_any(diagnostic: Diagnostic, problems) -> bool:
    span = diagnostic.span
    return span is not None and any(p.span and p.span.start <= span.start < max(p.span.end, p.span.start + 1)
                                    for p in problems)  # fmt: skip


# --- a file that does not parse: hints for what does ------------------------------------

MAX_PARTIAL_DEFINITIONS = 500
"""Most definitions read one by one for hints while the file has a syntax error."""
_HEADER = re.compile(r"[ \t]*(?:block[ \t]+)?[A-Za-z_][A-Za-z0-9_]*[ \t]*=")


def _partial_starts(text: str) -> tuple[list[int], list[int]] | None:
    """Where the definitions of a file that does not parse start, and which of those starts are
    recoveries (:func:`definition_starts`); None past the limits on the work a hostile text can ask."""
    if len(text) > MAX_SPEC_CHARS:  # refused as a whole: nothing to show
        return None
    found = _scan_starts(text, recover=True)
    if len(found) > MAX_PARTIAL_DEFINITIONS:  # each is read on its own
        return None
    ends = [start for start, _ in found[1:]] + [len(text)]
    kept = [(start, inside) for (start, inside), end in zip(found, ends)
            if not inside or isinstance(read_fast(text[start:end], "file"), ast.SpecFile)]  # fmt: skip
    return [start for start, _ in kept], [start for start, inside in kept if inside]


def _own_error(text: str, error: SpecError, starts: list[int], recovered: list[int]) -> SpecError:
    """The error of the definition left open before a recovery (``b = CN(32, ``), when the file's
    reading ran past it into the next definition and failed there; else the file's error."""
    at = error.span.start if error.span is not None else -1
    resumed = next((start for start in recovered if start <= at), None)
    if resumed is None:
        return error
    opened = max((start for start in starts if start < resumed), default=None)
    if opened is None:  # layers before the first definition: the file's own error
        return error
    try:
        parse_file(text[opened:resumed])
    except SpecError as own:
        moved = [d.moved(lambda span: span_at(text, opened + span.start, opened + span.end)) for d in own.diagnostics]
        return type(own)(moved, text)
    return error


def _analyze_partial(analysis: Analysis, error: SpecError, settings: Settings, stem: str, starts: list[int]) -> None:
    """Mid-edit: hints for the definitions that still parse on their own, and for the part before
    the error of the one that does not (or of a bare spec).

    Each part is read by the fast reading alone: a part that fails needs no message (the
    file's error is already reported).
    """
    text = analysis.text
    try:
        if starts:
            definitions = []
            at = error.span.start if error.span is not None else -1
            for start, end in zip(starts, [*starts[1:], len(text)]):
                # the definition the error is in: as far as the element before it, else (the
                # error is where an earlier definition's unclosed parenthesis surfaced) whole
                part = _parsed_part(text, start, at, cut=True) if start <= at < end else []
                definitions += part or _parsed_part(text, start, end)
            if definitions:
                _analyze_definitions(analysis, ast.SpecFile(tuple(definitions)), settings, report=False)
        elif error.span is not None:
            prefix = _prefix_before(text, error.span.start)
            if prefix is not None:
                analysis.chain = prefix
                _check_model(analysis, stem, prefix, {}, settings, report=False)
    except SpecError:
        return


def definition_starts(text: str) -> list[int]:
    """Offsets of lines that start a definition (``name =`` outside any parenthesis)."""
    return [start for start, _ in _scan_starts(text, recover=False)]


def _scan_starts(text: str, recover: bool) -> list[tuple[int, bool]]:
    """Lines that start a definition, each with whether it is inside a parenthesis left open above.

    With ``recover``, a line beginning at its first column with ``name =`` or ``block name =``
    starts a definition even there (a definition above was left unfinished), and the parentheses
    are counted afresh from it; an indented ``padding=same`` continues the call it is in.
    """
    starts, depth, line_start = [], 0, True
    for match in re.finditer(r"#[^\n]*|[()\n]|[^()#\n]+", text):
        piece = match.group()
        if piece == "\n":
            line_start = True
            continue
        if line_start and _HEADER.match(piece) and (depth == 0 or (recover and piece[0] not in BLANKS)):
            starts.append((match.start(), depth > 0))
            depth = 0
        line_start = False
        depth = max(0, depth + (piece == "(") - (piece == ")"))
    return starts


def _parsed_part(text: str, start: int, end: int, cut: bool = False) -> list[ast.Definition]:
    """The definition in ``text[start:end]`` (``start`` begins a line), read on its own and placed
    where it stands, or nothing; with ``cut``, the definition as far as the chain element before ``end``."""
    part = text[start:end]
    parsed = _prefix_before(part, len(part), "file") if cut else read_fast(part, "file")
    if not isinstance(parsed, ast.SpecFile):
        return []
    return list(placed(parsed, start, text.count("\n", 0, start) + 1).definitions)


def _prefix_before(text: str, offset: int, start: str = "spec") -> ast.Chain | ast.SpecFile | None:
    """The text cut before the chain element holding ``offset``, read as ``start``, if that part reads."""
    depth, cut = 0, None
    for match in re.finditer(r"#[^\n]*|[()]|->|→", text[:offset]):
        piece = match.group()
        if piece in ("(", ")"):
            depth += 1 if piece == "(" else -1
        elif piece[0] != "#" and depth == 0:
            cut = match.start()
    if cut is None or not text[:cut].strip(BLANKS):
        return None
    return read_fast(text[:cut], start)


# --- walking a model beside its text ------------------------------------------------------


def _calls(node: ast.Node) -> list[ast.Call]:
    """The calls written in a chain (blocks are not followed)."""
    return [leaf for leaf in leaves(node) if isinstance(leaf, ast.Call)]


def _merges(node: ast.Node) -> list[ast.Merge]:
    """The merges written in a chain, outer ones first (blocks are not followed)."""
    match node:
        case ast.Merge():
            return [node, *(merge for branch in node.branches for merge in _merges(branch))]
        case ast.Chain():
            return [merge for element in node.elements for merge in _merges(element)]
        case ast.Repeat() | ast.Named():
            return _merges(node.body)
        case ast.Alternatives():
            return [merge for option in node.options for merge in _merges(option)]
        case ast.Call() | ast.Ref() | ast.Tensor():
            return []
        case _:
            assert_never(node)


def _tensor_names(node: ast.Node) -> list[TensorName]:
    """Every ``as name`` and ``@name`` a chain writes, in written order."""
    match node:
        case ast.Named():
            return [*_tensor_names(node.body), TensorName(node.name, node.name_span, node)]
        case ast.Tensor():
            end = node.span.end
            start = end - len(node.name)
            return [TensorName(node.name, _sub_span(node.span, start, end))]
        case ast.Chain():
            return [name for element in node.elements for name in _tensor_names(element)]
        case ast.Merge():
            return [name for branch in node.branches for name in _tensor_names(branch)]
        case ast.Repeat():
            return _tensor_names(node.body)
        case ast.Alternatives():
            return [name for option in node.options for name in _tensor_names(option)]
        case ast.Call() | ast.Ref():
            return []
        case _:
            assert_never(node)


def _sub_span(span: ast.Span, start: int, end: int) -> ast.Span:
    """The part of a one-line span from offset ``start`` to ``end``."""
    return ast.Span(start, end, span.end_line, span.end_column - (span.end - start), span.end_line, span.end_column)


MAX_SHOWN_LAYERS = 10_000
"""Most layers a hover expands a definition to (a checked model has at most expand.MAX_LAYERS)."""


def _walk(node: ast.Node, blocks, calls: list, ends: list[tuple[int, int]], own: bool, limit: int = 10**9) -> None:
    """The nodes that become layers, in written order (a merge after its branches), as the checker expands them.

    After each repetition and block use of the model's own text, ``ends`` notes how many came before.
    OverflowError past ``limit`` layers.
    """
    if len(calls) > limit:
        raise OverflowError(f"more than {limit:,} layers")
    if isinstance(node, ast.Call):
        kind = LAYERS.get(node.code)
        if kind is None or not (kind.is_input or kind.is_identity):
            calls.append(node)
    elif isinstance(node, ast.Merge):
        for branch in node.branches:
            _walk(branch, blocks, calls, ends, own, limit)
        kind = LAYERS.get(node.code)
        if kind is None or not kind.is_output:  # OUT makes no layer: its branches are the outputs
            calls.append(node)
    elif isinstance(node, ast.Chain):
        for element in node.elements:
            _walk(element, blocks, calls, ends, own, limit)
    elif isinstance(node, ast.Repeat):
        start = len(calls)
        _walk(node.body, blocks, calls, ends, own, limit)
        if start + (len(calls) - start) * node.count.value > limit:
            raise OverflowError(f"more than {limit:,} layers")
        calls.extend(calls[start:] * (int(node.count.value) - 1))
        if own:
            ends.append((node.span.end, len(calls)))
    elif isinstance(node, ast.Ref):
        _walk(blocks[node.name], blocks, calls, ends, False, limit)
        if own:
            ends.append((node.span.end, len(calls)))
    elif isinstance(node, ast.Named):
        _walk(node.body, blocks, calls, ends, own, limit)
    elif isinstance(node, ast.Tensor):  # a named tensor again: no layer
        pass
    elif isinstance(node, ast.Alternatives):  # a search space: no one model to expand to
        raise KeyError("a search space's alternatives")
    else:
        raise TypeError(f"unknown node {type(node).__name__}")


def _place_hints(analysis: Analysis, chain: ast.Chain, blocks, model: CheckedModel, totals: bool = True) -> None:
    """Output shapes after each layer (its first use), repetition and block use; parameters at the end."""
    calls: list[ast.Call | ast.Merge] = []
    ends: list[tuple[int, int]] = []
    _walk(chain, blocks, calls, ends, own=True)
    written = _block_uses_as_one(model, _written_order(model.items))
    placed = {hint.offset for hint in analysis.hints}
    for call, info in zip(calls, written):
        if call.span.start not in analysis.layers:
            analysis.layers[call.span.start] = info
            if call.span.end not in placed:
                placed.add(call.span.end)
                analysis.hints.append(Hint(call.span.end, shape_label(info.output_shape)))
    for offset, count in ends:
        if 0 < count <= len(written) and offset not in placed:
            placed.add(offset)
            analysis.hints.append(Hint(offset, shape_label(written[count - 1].output_shape)))
    if totals:
        analysis.hints.append(Hint(chain.span.end, f"{model.total_params:,} params", _model_tooltip(model)))


def _block_uses_as_one(model: CheckedModel, order: list[int]) -> list[LayerInfo]:
    """The layers in written order, each use of a block code (``C2F(64)``, one call in the text) as one:
    its first layer's input, its last layer's output, its totals."""
    outermost: dict[int, tuple[int, ...]] = {}
    for use in model.blocks:
        if use.code:
            for index in use.layers:
                if len(use.layers) > len(outermost.get(index, ())):
                    outermost[index] = use.layers
    if not outermost:
        return [model.layers[index] for index in order]
    position = {index: n for n, index in enumerate(order)}
    written: list[LayerInfo] = []
    current: tuple[int, ...] | None = None
    for index in order:
        use = outermost.get(index)
        if use is not None and use == current:
            continue
        current = use
        if use is None:
            written.append(model.layers[index])
            continue
        first, last = model.layers[index], model.layers[max(use, key=lambda i: position.get(i, -1))]
        infos = [model.layers[i] for i in use]
        macs = [info.macs for info in infos]
        written.append(
            LayerInfo(
                last.layer,
                last.name,
                first.input_shape,
                last.output_shape,
                sum(info.trainable for info in infos),
                sum(info.non_trainable for info in infos),
                None if None in macs else sum(macs),
                first.inputs,
                (first.input_shape,),
            )  # fmt: skip
        )
    return written


def _written_order(items) -> list[int]:
    """Layer indices in the order the text writes them: a merge's branches, then the merge."""
    order: list[int] = []
    for item in items:
        if isinstance(item, int):
            order.append(item)
        elif isinstance(item, Merge):
            for branch in item.branches:
                order += _written_order(branch)
            order.append(item.layer)
        elif isinstance(item, From):  # goes back to a layer already written
            pass
        else:
            raise TypeError(f"unknown item {type(item).__name__}")
    return order


def hover_at(analysis: Analysis, offset: int) -> tuple[str, int, int] | None:
    """What a hover at ``offset`` shows (Markdown) and the span it is about: a tensor name, a layer
    call or merge, or a definition name; None where there is nothing to say."""
    tensors = analysis.tensor_names(offset)
    call = analysis.layer_at(offset)
    if tensors is not None:
        here = next(place for place in tensors if place.span.start <= offset <= place.span.end)
        text, start, end = describe_tensor(tensors, analysis), here.span.start, here.span.end
    elif call is not None and (call.code in LAYERS or call.span.start in analysis.layers):
        text, start, end = describe_call(call, analysis), call.span.start, call.span.end
    else:
        found = analysis.name_at(offset)
        if found is None:
            return None
        name, span, _ = found
        text, start, end = describe_name(name, analysis), span.start, span.end
    return None if text is None else (text, start, end)


def shape_label(shape) -> str:
    """``(None, 24, 24, 20)`` -> ``▸ 24×24×20``."""
    return f"{SHAPE_MARK} " + "×".join("?" if size is None else str(size) for size in shape[1:])


def _outputs_text(model: CheckedModel) -> str:
    """``output 10``, or ``outputs p3 14×14×8, p4 7×7×16`` for a model ending in ``OUT(...)``; a model
    of several inputs says them first (``inputs rgb 64×64×3, ir 64×64×1; output 10``)."""
    given = "".join(f"{i.name} {_shape_text(i.shape)}, " for i in model.inputs)
    given = f"inputs {given[:-2]}; " if given else ""
    if not model.outputs:
        return f"{given}output {_shape_text(model.output_shape)}"
    return (
        given + "outputs " + ", ".join(f"{o.name} {_shape_text(s)}" for o, s in zip(model.outputs, model.output_shapes))
    )


def _model_tooltip(model: CheckedModel) -> str:
    ending = _outputs_text(model) if model.outputs or model.inputs else f"head {model.layers[-1].layer.text}"
    return (
        f"{len(model.layers)} layers, {model.total_params:,} params "
        f"({model.trainable_params:,} trainable, {model.non_trainable_params:,} non-trainable); {ending}"
    )


# --- quick fixes --------------------------------------------------------------------------


def quick_fixes(diagnostics: list[Diagnostic]) -> list[Fix]:
    """The fixes the checker attached to each diagnostic where it found the problem, each once."""
    seen: set[tuple] = set()  # a repeated layer reports its error, and its fix, once per copy
    fixes = []
    for diagnostic in diagnostics:
        for fix in diagnostic.fixes:
            if diagnostic.span is not None and (fix.title, fix.edits) not in seen:
                seen.add((fix.title, fix.edits))
                fixes.append(Fix(diagnostic, fix.title, fix.edits))
    return fixes


# --- hover --------------------------------------------------------------------------------


def describe_call(call: ast.Call | ast.Merge, analysis: Analysis) -> str | None:
    """A layer's (or a merge's) signature with the values it took (defaults marked), shapes, parameters and MACs."""
    kind = LAYERS.get(call.code)
    info = analysis.layers.get(call.span.start)
    if kind is None:
        return None
    lines = [f"**{kind.code}** · {kind.keras_class}: {kind.summary}", "", f"`{kind.signature()}`"]
    if kind.is_input or kind.is_identity or kind.is_output:
        return "\n".join(lines)
    if info is None:
        return "\n".join([*lines, "", "_not checked: see the diagnostics_"])
    if kind.block is not None:  # the use as a whole: its layers are the codes it expands to
        return "\n".join([
            f"**{kind.code}** · {kind.summary}", "", lines[2], "",
            f"input {_shape_text(info.input_shape)} → output {_shape_text(info.output_shape)}",
            f"params {info.params:,} (trainable {info.trainable:,}, non-trainable {info.non_trainable:,}) · "
            f"MACs {'unknown' if info.macs is None else format(info.macs, ',')}",
            "a block of other codes: `cnndsl summary` lists its layers",
            *_scaled_line(call, analysis),
        ])  # fmt: skip
    layer = info.layer
    lines[0] = f"**{kind.code}** · {info.keras_class}: {kind.summary}"  # the class its arguments build
    taken = ", ".join(f"{name}={_value_text(value)}{_origin(kind, name, layer)}" for name, value in layer.args.items())
    lines[2] = f"`{kind.code}({taken})`"
    if isinstance(call, ast.Merge):
        branches = " | ".join(_shape_text(shape) for shape in info.input_shapes)
        flow = f"{len(info.input_shapes)} branches {branches} → output {_shape_text(info.output_shape)}"
    else:
        flow = f"input {_shape_text(info.input_shape)} → output {_shape_text(info.output_shape)}"
    lines += [
        "",
        flow,
        f"params {info.params:,} (trainable {info.trainable:,}, non-trainable {info.non_trainable:,}) · "
        f"MACs {'unknown' if info.macs is None else format(info.macs, ',')}",
        f"Keras name `{info.name}` (first use)",
    ]
    return "\n".join([*lines, *_scaled_line(call, analysis)])


def _scaled_line(call: ast.Call | ast.Merge, analysis: Analysis) -> list[str]:
    """``64 -> 16, c3k -> false at scale n (...)``: what the scale made of the call's numbers and variables."""
    changes = [c for start, c in analysis.scaled.items() if call.span.start <= start < call.span.end]
    if not changes or analysis.scale is None:
        return []
    scaled = ", ".join(f"{c.written} -> {c.value}" for c in sorted(changes, key=lambda c: c.span.start))
    return [f"{scaled} at scale {analysis.scale.scaling.describe()}"]


def describe_tensor(names: list[TensorName], analysis: Analysis) -> str:
    """A tensor name: where it is named, its shape there (when checked), and how often ``@name`` uses it."""
    named = next((place for place in names if place.named is not None), None)
    uses = sum(1 for place in names if place.named is None)
    lines = [f"**tensor {names[0].name}**"]
    if named is None:
        return "\n".join(
            [*lines, "not named in this definition: write `... as " + names[0].name + "` before `@` uses it"]
        )
    lines.append(f"the output of `{named.named.body.span.text(analysis.text)[:80]}`")
    calls: list = []
    try:
        _walk(named.named.body, analysis.blocks, calls, [], own=False, limit=MAX_SHOWN_LAYERS)
    except (KeyError, RecursionError, OverflowError):
        calls = []
    info = analysis.layers.get(calls[-1].span.start) if calls else None
    if info is not None:
        lines.append(f"shape {_shape_text(info.output_shape)}")
    lines.append(f"used {uses:,} time{'s' if uses != 1 else ''} as `@{names[0].name}`")
    return "\n".join(lines)


def describe_name(name: str, analysis: Analysis) -> str | None:
    """A definition: its text, what it expands to, and (a model) its parameters."""
    definition = analysis.definition(name)
    if definition is None:
        return None
    calls = analysis.expansion(name)
    from cnndsl.formatter import element
    from cnndsl.space import first_choice

    if calls is None and first_choice(definition.chain, analysis.blocks) is not None:
        expands = "is a search space: `cnndsl check` counts its candidates, `cnndsl sweep` trains them"
    elif calls is None:
        expands = f"expands to more than {MAX_SHOWN_LAYERS:,} layers, or uses a name that is not defined above"
    else:
        shown = " -> ".join(element(call) for call in calls[:12]) + (" -> …" if len(calls) > 12 else "")
        expands = f"expands to {len(calls):,} layers: `{shown}`"
    lines = [
        f"**{'block' if definition.is_block else 'model'} {name}**",
        "```cnndsl",
        definition.span.text(analysis.text),
        "```",
        expands,
    ]
    model = analysis.models.get(name)
    if model is not None:
        lines.append(
            f"{model.total_params:,} params ({model.trainable_params:,} trainable, "
            f"{model.non_trainable_params:,} non-trainable); {_outputs_text(model)}"
        )
    return "\n".join(lines)


def _origin(kind, name: str, layer) -> str:
    """How a layer got an argument it did not write: `` (default)`` or `` (inherited)``."""
    if name in layer.given:
        return ""
    param = next(p for p in kind.params if p.name == name)
    return " (inherited)" if param.inherit and layer.args[name] != param.default else " (default)"


def _value_text(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


def _shape_text(shape) -> str:
    return shape_label(shape).removeprefix(f"{SHAPE_MARK} ")


# --- completion context -------------------------------------------------------------------


NEAR = 200
"""How far back from the cursor completion looks for a layer's code or a keyword."""
_LAST_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*$")
_LAST_KEYWORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*[A-Za-z_0-9]*$")


def call_context(text: str, offset: int) -> tuple[str, str | None, set[str], int] | None:
    """Inside a layer's parentheses at ``offset``: (code, keyword whose value is being written, keywords
    given, positional arguments written before the one at the cursor).

    None outside every call. Read from the text itself, so that it works mid-edit.
    """
    opened: list[int] = []
    for match in re.finditer(r"#[^\n]*|[()]", text[:offset]):
        if match.group() == "(":
            opened.append(match.start())
        elif match.group() == ")" and opened:
            opened.pop()
    for start in opened[-MAX_NESTING:]:  # the outermost parenthesis after a name is the call's
        name = _LAST_NAME.search(text[max(0, start - NEAR) : start])  # near the cursor only: no quadratic search
        if name:
            inside = text[start + 1 : offset]
            given = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*=", inside))
            keyword = _LAST_KEYWORD.search(inside[-NEAR:])
            return name.group(1), keyword.group(1) if keyword else None, given, _positional_count(inside)
    return None


def _positional_count(inside: str) -> int:
    """How many arguments before the last comma are positional (``5`` and ``(3, 3)``, not ``padding=same``)."""
    done = _top_level_pieces(inside)[:-1]
    return sum(1 for piece in done if piece.strip(BLANKS) and not _KEYWORD_START.match(piece))


_KEYWORD_START = re.compile(r"[ \t\r\n]*[A-Za-z_][A-Za-z0-9_]*[ \t]*=")


def _top_level_pieces(inside: str) -> list[str]:
    """A call's argument text split at the commas outside nested parentheses (tuples)."""
    pieces, depth, start = [], 0, 0
    for match in re.finditer(r"#[^\n]*|[(),]", inside):
        mark = match.group()
        if mark == "(" or mark == ")":
            depth += 1 if mark == "(" else -1
        elif mark == "," and depth == 0:
            pieces.append(inside[start : match.start()])
            start = match.end()
    return [*pieces, inside[start:]]


_AT = re.compile(r"@[A-Za-z0-9_]*$")
_AS = re.compile(r"(?<![A-Za-z0-9_])as[ \t\r\n]+([A-Za-z_][A-Za-z0-9_]*)")


def tensor_context(text: str, offset: int) -> list[str] | None:
    """Right after ``@`` (a name begun or not): the tensors the definition at ``offset`` names before it.

    None elsewhere. Read from the text itself, so that it works mid-edit.
    """
    if not _AT.search(text[max(0, offset - NEAR) : offset]):
        return None
    start = max([s for s in definition_starts(text) if s <= offset], default=0)
    written = re.sub(r"#[^\n]*", "", text[start:offset])
    return list(dict.fromkeys(_AS.findall(written)))


# --- formatting and renaming --------------------------------------------------------------


def formatted(text: str) -> str | None:
    """``cnndsl fmt``'s layout of the text, or None if it does not parse."""
    from cnndsl.formatter import format_text

    try:
        return format_text(text)
    except SpecError:
        return None


def formatted_range(text: str, start: int, end: int) -> tuple[int, int, str] | None:
    """The definitions touching ``[start, end]``, formatted: (from, to, new text); the whole text for a bare spec."""
    new = formatted(text)
    if new is None:
        return None
    old_parsed, new_parsed = parse_file(text), parse_file(new)
    if isinstance(old_parsed, ast.Chain) or isinstance(new_parsed, ast.Chain):
        return 0, len(text), new
    pairs = list(zip(old_parsed.definitions, new_parsed.definitions))
    touched = [i for i, (old, _) in enumerate(pairs) if old.span.start <= end and old.span.end >= start]
    if not touched:
        return None
    first, last = touched[0], touched[-1]
    old_from, old_to = pairs[first][0].span.start, pairs[last][0].span.end
    new_from, new_to = pairs[first][1].span.start, pairs[last][1].span.end
    return old_from, old_to, new[new_from:new_to]


def tensor_rename_problem(new_name: str, names: list[TensorName], analysis: Analysis) -> str | None:
    """Why a tensor name cannot become ``new_name`` in its definition, or None."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", new_name):
        return f"{new_name!r} is not a name: letters, digits and _, not starting with a digit"
    for chain in analysis.chains:
        written = _tensor_names(chain)
        if any(place.span == names[0].span for place in written) and any(p.name == new_name for p in written):
            return f"{new_name!r} already names a tensor in this definition"
    return None


def rename_problem(new_name: str, analysis: Analysis) -> str | None:
    """Why a definition cannot take ``new_name``, or None."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", new_name) or new_name == "block":
        return f"{new_name!r} is not a name: letters, digits and _, not starting with a digit, not 'block'"
    if new_name.upper() in LAYERS:
        return f"{new_name!r} is a layer code; give the definition another name"
    if analysis.definition(new_name) is not None:
        return f"{new_name!r} is already defined"
    return None
