"""Ultralytics' model files (``yolo11.yaml``) read into the notation, every position kept.

A model file is YAML: ``nc`` (the class count), ``scales`` (per scale name: depth multiplier,
width multiplier, channel cap), and the layers of ``backbone`` and ``head``, each
``[from, repeats, module, args]``. :func:`read_yolo` reads it, as Ultralytics' own
``parse_model`` builds it, into the tree of one model of the notation:

- the scales table becomes the file's scale lines: the channels and repeats written stay the
  file's, and the chosen scale resolves them as Ultralytics does (clamped to the cap,
  multiplied by the width, rounded up to a multiple of 8; repeats multiplied by the depth);
- each layer becomes the code of its module (``Conv`` -> ``CONV``, ``C3k2`` -> ``C3K2``,
  ``nn.Upsample`` -> ``UP``, ``Concat`` -> ``CAT``, ``Detect`` -> ``DETECT``, ``Classify`` ->
  its convolution, pooling and classifier), a module's ``repeats`` its ``n`` or ``* N``;
- a layer taken by a later one other than its successor is named after its index
  (``as l6``), and that layer takes it with ``@l6``.

Every node's span points into the YAML text, so the checker's errors (a ``Concat`` of
levels whose sizes differ, an argument out of range) are shown at the entry's line and
column, and the reader's own (a ``from`` index out of range, a module outside the
vocabulary, too many arguments, a file that is not a model file) likewise.

Two rules depend on the scale's *name*, as in ``parse_model``: a ``C3k2`` at scale ``m``,
``l`` or ``x`` builds its inner blocks as ``C3k`` (``c3k`` true), and a file with a
``C3k2`` has the current detection head (without one: ``legacy=true``, YOLOv8's). The
first is a scale variable: where the file's scales differ in it, each scale line says
``c3k=true`` or ``c3k=false`` and each ``C3k2`` the file writes without ``c3k`` true
takes it (``c3k=c3k``), so one reading holds every scale of the file.

Only :mod:`yaml` (PyYAML, the ``yolo`` extra) is loaded, and only when a file is read.
"""

from __future__ import annotations

from cnndsl import ast
from cnndsl.errors import SYNTAX, VALUE, Diagnostic, SpecError, SpecSyntaxError, SpecValueError
from cnndsl.layers import LAYERS
from cnndsl.records import record, replace
from cnndsl.specfile import Scaling
from cnndsl.syntax import span_at

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "read_yolo",
    "from_yolo_text",
    "verify_written",
    "YoloModel",
    "scale_line",
    "MODULES",
    "written_text",
    "INPUT_SIZE",
]

INPUT_SIZE = 640
"""The image size Ultralytics builds and trains its detectors at (``imgsz``)."""
CLASSIFY_SIZE = 224
"""The image size Ultralytics trains its classifiers at."""

C3K_SCALES = frozenset({"m", "l", "x"})
"""The scale names at which ``parse_model`` builds a ``C3k2`` with ``c3k`` true."""
C3K = "c3k"
"""The scale variable that says whether a ``C3k2`` builds its blocks as ``C3k`` at a scale."""


def scale_line(scaling: Scaling) -> str:
    """The scale line the notation writes for a row of the file's scales: ``scale n(0.50, 0.25, 1024)``."""
    from cnndsl.specfile import value_text

    cap = "none" if scaling.cap is None else str(scaling.cap)
    variables = "".join(f", {name}={value_text(value)}" for name, value in scaling.variables)
    return f"scale {scaling.name}({_number(scaling.depth)}, {_number(scaling.width)}, {cap}{variables})"


@record
class YoloModel:
    """A model file read: the tree to check, and what the file says about it.

    ``chain`` is the model (``IN(...)`` first), its spans in ``text``; ``scales`` the file's
    scale lines, every one; ``scale`` the scale it was read for (checked at by default);
    ``task`` ``detect`` or ``classify``; ``classes`` the file's ``nc``; ``name`` the model's
    name in the notation; ``notes`` what a reader should be told.
    """

    text: str
    name: str
    chain: ast.Chain
    scales: tuple[Scaling, ...]
    scale: str | None
    task: str
    classes: int
    input_shape: tuple[int, int, int]
    notes: tuple[str, ...] = ()
    entries: tuple[tuple[int, int, int], ...] = ()
    """``(start, end, index)``: where each of the file's layers is written (its ``[from, ...]``), and its index."""

    def layer_at(self, offset: int) -> int | None:
        """The index of the file's layer written where ``offset`` is (a checked layer's span's start), or None."""
        import bisect

        at = bisect.bisect_right(self.entries, (offset, float("inf"))) - 1
        if at >= 0 and self.entries[at][0] <= offset < self.entries[at][1]:
            return self.entries[at][2]
        return None

    def check(self, input_shape=None, num_classes=None, default_input_shape=None, task=None, scale=None):
        """The checked model at the scale it was read for (see :func:`cnndsl.check`); SpecError located in the YAML.

        ``scale`` may name any other scale of the file (one of :attr:`scales`).
        """
        from cnndsl.checker import check_chain
        from cnndsl.passes.scale import choose

        task = task if task is not None else self.task
        chosen = choose(self.scales, scale if scale is not None else self.scale, self.text)
        return check_chain(
            self.chain, self.text, input_shape, self.classes, None, default_input_shape, task, scale=chosen
        )

    @property
    def spec(self) -> str:
        """The model in the notation: its scale lines and its definition (what ``cnndsl from-yolo`` writes)."""
        return written_text(self)


@record
class Module:
    """How one of Ultralytics' modules reads: its code and its arguments after the output channels.

    ``params`` are the notation's names of the file's arguments in their order (the
    output channels first); a name in ``FIXED`` must keep the value given there (anything
    else is not what the code builds). ``repeat`` says the repeats are the block's ``n``
    (Ultralytics' ``repeat_modules``) rather than copies of the module in a row.
    """

    code: str
    params: tuple[str, ...]
    defaults: tuple
    repeat: bool = False


MODULES: dict[str, Module] = {
    "Conv": Module("CONV", ("filters", "kernel", "strides", "padding", "groups", "dilation", "activation"),
                   (None, 1, 1, None, 1, 1, True)),
    "DWConv": Module("DWCONV", ("filters", "kernel", "strides", "dilation", "activation"), (None, 1, 1, 1, True)),
    "Bottleneck": Module("BOTTLENECK", ("filters", "shortcut", "groups", "kernels", "e"),
                         (None, True, 1, (3, 3), 0.5)),
    "C2f": Module("C2F", ("filters", "shortcut", "groups", "e"), (None, False, 1, 0.5), repeat=True),
    "C2": Module("C2", ("filters", "shortcut", "groups", "e"), (None, True, 1, 0.5), repeat=True),
    "C3": Module("C3", ("filters", "shortcut", "groups", "e"), (None, True, 1, 0.5), repeat=True),
    "C3k2": Module("C3K2", ("filters", "c3k", "e", "attn", "groups", "shortcut"),
                   (None, False, 0.5, False, 1, True), repeat=True),
    "SPPF": Module("SPPF", ("filters", "kernel"), (None, 5)),
    "C2PSA": Module("C2PSA", ("filters", "e"), (None, 0.5), repeat=True),
    "PSA": Module("PSA", ("filters", "e"), (None, 0.5)),
    "nn.Upsample": Module("UP", ("size", "scale_factor", "mode"), (None, None, "nearest")),
    "Concat": Module("CAT", ("dimension",), (1,)),
    "Detect": Module("DETECT", ("classes",), (None,)),
    "Classify": Module("CONV", ("classes", "kernel", "strides", "padding", "groups"), (None, 1, 1, None, 1)),
}  # fmt: skip
"""Every module of Ultralytics' files that the notation holds, by the name files write."""

FIXED = {
    "padding": (None, "Ultralytics' automatic padding (leave it out or None)"),
    "attn": (False, "C3k2 without attention blocks (C3k2's attn is a later version's)"),
    "dimension": (1, "a concatenation of channels (dimension 1)"),
    "size": (None, "an upsampling by a factor (size None)"),
}
"""Arguments the notation's code takes only at one value: the value and what it means."""

CLASSIFY_CHANNELS = 1280
"""The channels of Ultralytics' classification head's convolution (EfficientNet-B0's), never scaled."""


class _Problems(Exception):
    """Raised inside the reader with the diagnostics found so far."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics


def read_yolo(
    text: str,
    scale: str | None = None,
    name: str = "yolo",
    input_size: int | Sequence[int] | None = None,
    channels: int | None = None,
) -> YoloModel:
    """Read a model file's text for one scale (the file's first when None); SpecError located in ``text``.

    ``input_size`` is the image's height and width (one number or two; Ultralytics' 640 for a
    detector, 224 for a classifier by default), ``channels`` the input's channels (the file's
    ``channels``, else 3).
    """
    try:
        return _Reader(text, scale, _identifier(name), input_size, channels).read()
    except _Problems as problems:
        raise _error_class(problems.diagnostics)(problems.diagnostics, text) from None


def from_yolo_text(text: str, scale: str | None = None, name: str = "yolo", input_shape=None) -> YoloModel:
    """A model file's text read for ``scale`` and checked there (SpecError located in the YAML).

    ``input_shape`` (height, width, channels) replaces the 640x640 images of the file's channels.
    """
    size, channels = (None, None) if input_shape is None else (tuple(input_shape[:2]), int(input_shape[2]))
    model = read_yolo(text, scale, name, size, channels)
    verify_written(model, model.check())
    return model


def verify_written(model: YoloModel, checked) -> None:
    """The text the model is written as, read back and checked at the same scale, is the same model.

    SpecValueError where it is not (the written text would be another model than the file's): its
    layers' codes, shapes and weights must be those of the tree checked from the file.
    """
    from cnndsl.checker import check_chain
    from cnndsl.passes.scale import choose
    from cnndsl.specfile import resolve_definitions
    from cnndsl.syntax import parse_file

    text = written_text(model)
    definitions = resolve_definitions(parse_file(text))
    (written,) = definitions.models
    chosen = choose(definitions.scales, model.scale, text)
    again = check_chain(written.chain, text, None, model.classes, None, None, model.task, scale=chosen)
    mine = [(i.code, i.output_shape, i.trainable, i.non_trainable) for i in checked.layers]
    theirs = [(i.code, i.output_shape, i.trainable, i.non_trainable) for i in again.layers]
    if mine != theirs:  # a reader never writes another model than the one it read: refused, not written
        message = "the notation written for this file checks to another model than the file's; not written"
        raise SpecValueError([Diagnostic(VALUE, message, model.chain.span, code="bad-value")], model.text)


def _error_class(diagnostics: list[Diagnostic]) -> type[SpecError]:
    return SpecSyntaxError if diagnostics[0].kind == SYNTAX else SpecValueError


def written_text(model: YoloModel) -> str:
    """The model as a spec file: its scale lines, then ``name = chain`` laid out as ``cnndsl fmt`` does."""
    from cnndsl.formatter import layout

    lines = [scale_line(scale) for scale in model.scales]
    body = layout(model.chain)
    first, _, rest = body.partition("\n")
    lines += ["", f"{model.name} = {first}" + (f"\n{rest}" if rest else "")]
    return "\n".join(lines).lstrip("\n") + "\n"


def _identifier(name: str) -> str:
    """A file's stem as a definition's name: ``yolo11-cls`` -> ``yolo11_cls``."""
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name.lower()) or "yolo"
    return cleaned if not cleaned[0].isdigit() else f"m{cleaned}"


def _number(value: float) -> str:
    text = f"{value:.2f}"
    return text if float(text) == value else repr(float(value))


# --- the reader ------------------------------------------------------------------------


class _Reader:
    def __init__(self, text, scale, name, input_size, channels):
        self.text, self.asked, self.name = text, scale, name
        self.input_size, self.channels = input_size, channels
        self.loader = None

    # YAML nodes --------------------------------------------------------------------------

    def span(self, node) -> ast.Span:
        return span_at(self.text, node.start_mark.index, node.end_mark.index)

    def fail(self, message: str, node_or_span, code: str = "bad-value", hint: str | None = None) -> _Problems:
        span = node_or_span if isinstance(node_or_span, ast.Span) else self.span(node_or_span)
        return _Problems([Diagnostic(VALUE, message, span, hint=hint, code=code)])

    def value(self, node):
        """A scalar's or a sequence's Python value, as YAML's safe loader makes it."""
        return self.loader.construct_object(node, deep=True)

    def compose(self):
        try:
            import yaml
        except ModuleNotFoundError:
            from cnndsl.errors import MissingExtra

            raise MissingExtra(
                "reading an Ultralytics model file needs the yolo extra: pip install 'cnndsl[yolo]'", name="yaml"
            ) from None
        self.yaml = yaml
        self.loader = yaml.SafeLoader("")
        fast = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where PyYAML has it: the same nodes and marks
        try:
            for event in yaml.parse(self.text, Loader=fast):
                if isinstance(event, yaml.AliasEvent):  # a model file names no node twice; an alias could loop
                    raise self.fail("a model file's anchors and aliases (*name) are not read", self.span(event))
            root = yaml.compose(self.text, Loader=fast)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            index = mark.index if mark is not None else 0
            span = span_at(self.text, index, index + 1)
            message = f"not a YAML model file: {error.problem or error.context}"
            raise _Problems([Diagnostic(SYNTAX, message, span, code="unexpected-token")]) from None
        except yaml.YAMLError as error:
            raise _Problems([Diagnostic(SYNTAX, f"not a YAML model file: {error}", span_at(self.text, 0, 0),
                                        code="unexpected-token")]) from None  # fmt: skip
        except RecursionError:
            raise _Problems([Diagnostic(SYNTAX, "not a model file: nested too deeply", span_at(self.text, 0, 0),
                                        code="too-deep")]) from None  # fmt: skip
        if not isinstance(root, yaml.MappingNode):
            where = root if root is not None else None
            span = self.span(where) if where is not None else span_at(self.text, 0, len(self.text))
            raise self.fail("a model file is a mapping of nc, scales, backbone and head", span)
        return root

    # the file ----------------------------------------------------------------------------

    def read(self) -> YoloModel:
        root = self.compose()
        keys = {}
        for key, node in root.value:
            word = self.value(key)
            if word in keys:
                raise self.fail(f"{word!r} is given twice", key)
            keys[word] = (key, node)
        for word, (key, _) in keys.items():
            if word not in KNOWN_KEYS:
                known = ", ".join(sorted(KNOWN_KEYS))
                raise self.fail(f"the model file's key {word!r} is not one the notation reads ({known})", key,
                                hint=KEY_HINTS.get(word))  # fmt: skip
        nc = self.classes(keys)
        self.bins = self.options(keys)
        scales = self.scales(keys)
        chosen = self.choose(scales, keys)
        layers = self.layers(keys)
        self.nc = nc
        legacy = not any(entry.module == "C3k2" for entry in layers)
        built = {s.name in C3K_SCALES for s in scales}
        c3k: bool | str = C3K if len(built) > 1 else built == {True}
        if c3k == C3K and not legacy:  # the scales differ: each says its own, as a variable
            scales = [replace(s, variables=((C3K, ast.Word(str(s.name in C3K_SCALES).lower(), s.span)),))
                      for s in scales]  # fmt: skip
            chosen = next(s for s in scales if s.name == chosen.name)
        shape = self.input_shape(keys, CLASSIFY_SIZE if layers[-1].module == "Classify" else INPUT_SIZE)
        chain, task = self.model(layers, shape, legacy, c3k, keys)
        entries = tuple((entry.node.start_mark.index, entry.node.end_mark.index, entry.index) for entry in layers)
        return YoloModel(
            self.text, self.name, chain, tuple(scales), chosen.name if chosen else None, task, nc, shape, (), entries
        )

    def options(self, keys):
        """The file-wide settings the notation reads at their defaults or says: ``reg_max`` (the box distribution's
        bins, DETECT's ``bins`` where not 16), ``end2end`` false, ``activation`` SiLU. Returns the bins, or None."""
        for word, default in (("end2end", False), ("activation", "nn.SiLU()")):
            if word in keys and self.value(keys[word][1]) not in (default, None):
                raise self.fail(f"the model file's {word} {self.value(keys[word][1])!r} is not read yet", keys[word][1],
                                hint=KEY_HINTS[word])  # fmt: skip
        if "reg_max" not in keys:
            return None
        node = keys["reg_max"][1]
        bins = self.value(node)
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise self.fail(f"reg_max is the box distribution's bins, a whole number from 1, not {bins!r}", node)
        return None if bins == 16 else (bins, self.span(node))

    def classes(self, keys) -> int:
        if "nc" not in keys:
            return 80
        key, node = keys["nc"]
        value = self.value(node)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(f"nc is the class count, a whole number from 1, not {value!r}", node)
        return value

    def scales(self, keys) -> list[Scaling]:
        if "scales" not in keys:
            depth = self.multiple(keys, "depth_multiple")
            width = self.multiple(keys, "width_multiple")
            if ("depth_multiple" in keys or "width_multiple" in keys) and (depth, width) != (1.0, 1.0):
                return [Scaling("default", depth, width, None, span=self.span(keys["depth_multiple"][1]
                              if "depth_multiple" in keys else keys["width_multiple"][1]))]  # fmt: skip
            return [Scaling("default", 1.0, 1.0, None, span=span_at(self.text, 0, 0))]
        key, node = keys["scales"]
        if not isinstance(node, self.yaml.MappingNode) or not node.value:
            raise self.fail("scales maps each scale's name to [depth, width, max_channels]", node)
        found = []
        for name_node, row in node.value:
            name = self.value(name_node)
            if not isinstance(name, str) or not name.isidentifier() or name == "block":
                raise self.fail(f"a scale's name is a word (n, s, m, l, x), not {name!r}", name_node)
            values = self.value(row)
            if (
                not isinstance(values, list)
                or len(values) != 3
                or not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values)
                or (isinstance(values[2], float) and not values[2].is_integer())
            ):
                raise self.fail(f"scale {name}: [depth, width, max_channels], three positive numbers", row)
            found.append(Scaling(name, float(values[0]), float(values[1]), int(values[2]), span=self.span(row)))
        return found

    def multiple(self, keys, word) -> float:
        if word not in keys:
            return 1.0
        value = self.value(keys[word][1])
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(f"{word} is a positive number, not {value!r}", keys[word][1])
        return float(value)

    def choose(self, scales: list[Scaling], keys) -> Scaling | None:
        if self.asked is None:
            return scales[0]
        for scale in scales:
            if scale.name == self.asked:
                return scale
        names = ", ".join(s.name for s in scales)
        where = keys["scales"][0] if "scales" in keys else None
        span = self.span(where) if where is not None else span_at(self.text, 0, 0)
        raise self.fail(f"the file has no scale {self.asked!r} (its scales: {names})", span, code="unknown-name")

    def input_shape(self, keys, default: int) -> tuple[int, int, int]:
        channels = self.channels
        if channels is None and "channels" in keys:
            channels = self.value(keys["channels"][1])
            if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
                raise self.fail(f"channels is the input's channel count, not {channels!r}", keys["channels"][1])
        size = default if self.input_size is None else self.input_size
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return (int(height), int(width), int(channels or 3))

    def layers(self, keys) -> list[_Entry]:
        entries = []
        for part in ("backbone", "head"):
            if part not in keys:
                raise self.fail(f"a model file lists its layers under backbone and head; {part} is missing",
                                span_at(self.text, len(self.text), len(self.text)))  # fmt: skip
            key, node = keys[part]
            if not isinstance(node, self.yaml.SequenceNode):
                raise self.fail(f"{part} is a list of layers, each [from, repeats, module, args]", node)
            for item in node.value:
                entries.append(self.entry(item, len(entries)))
        if not entries:
            raise self.fail("the model file lists no layers", keys["backbone"][1])
        return entries

    def entry(self, node, index: int) -> _Entry:
        Seq, Scalar = self.yaml.SequenceNode, self.yaml.ScalarNode
        if not isinstance(node, Seq) or len(node.value) != 4:
            raise self.fail(f"layer {index}: a layer is [from, repeats, module, args]", node)
        source, repeats, module, args = node.value
        froms = self.froms(source, index)
        count = self.value(repeats) if isinstance(repeats, Scalar) else None
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise self.fail(f"layer {index}: repeats is a whole number from 1, not {self.show(repeats)}", repeats,
                            code="bad-repeat")  # fmt: skip
        name = self.value(module) if isinstance(module, Scalar) else None
        if not isinstance(name, str) or name not in MODULES or MODULES[name].code not in LAYERS:
            known = ", ".join(name for name, module in MODULES.items() if module.code in LAYERS)
            raise self.fail(
                f"layer {index}: {self.show(module)} is not a module the notation holds", module, code="unknown-layer",
                hint=f"the modules it reads: {known}",
            )  # fmt: skip
        if not isinstance(args, Seq):
            raise self.fail(f"layer {index}: a layer's arguments are a list ([64, 3, 2])", args)
        return _Entry(index, froms, count, name, tuple(args.value), node, source, repeats, module, args)

    def show(self, node) -> str:
        return repr(self.span(node).text(self.text))

    def froms(self, node, index: int) -> tuple[tuple[int, ast.Span], ...]:
        """The layers a layer takes: absolute indices (-1 for the input), each with its span."""
        Seq, Scalar = self.yaml.SequenceNode, self.yaml.ScalarNode
        items = node.value if isinstance(node, Seq) else [node]
        if isinstance(node, Seq) and not items:
            raise self.fail(f"layer {index}: from names at least one layer", node)
        found = []
        for item in items:
            value = self.value(item) if isinstance(item, Scalar) else None
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(f"layer {index}: from is a layer's index (or -1, the layer before), not {self.show(item)}",
                                item, code="unknown-tensor")  # fmt: skip
            absolute = index + value if value < 0 else value
            if index == 0 and value == -1:
                absolute = -1
            elif not 0 <= absolute < index:
                earlier = "no earlier layer: the first layer takes the input (-1)" if index == 0 else (
                    f"the layers before it are 0 to {index - 1}")  # fmt: skip
                raise self.fail(f"layer {index} takes from {value}, which is not an earlier layer; {earlier}",
                                item, code="unknown-tensor")  # fmt: skip
            found.append((absolute, self.span(item)))
        return tuple(found)

    # the model ---------------------------------------------------------------------------

    def model(self, entries: list[_Entry], shape, legacy: bool, c3k: bool | str, keys):
        """The chain of the whole model, and its task."""
        taken = set()
        for entry in entries:
            if len(entry.froms) == 1 and not entry.merges:
                if entry.froms[0][0] != entry.index - 1:
                    taken.add(entry.froms[0][0])
            else:
                for (source, _), raw in zip(entry.froms, entry.source_values(self)):
                    if raw != -1:
                        taken.add(source)
        last = entries[-1]
        if last.module not in ("Detect", "Classify"):
            raise self.fail(
                f"layer {last.index}: the model's last layer is {last.module}; the notation reads detection (Detect) "
                "and classification (Classify) files", last.module_node, code="bad-value")  # fmt: skip
        for entry in entries[:-1]:
            if entry.module in ("Detect", "Classify"):
                raise self.fail(f"layer {entry.index}: {entry.module} is a model's last layer", entry.module_node)
        where = keys["backbone"][0]
        declared = ast.Call("IN", tuple(ast.Arg(None, _num(size, self.span(where)), self.span(where))
                                         for size in shape), self.span(where))  # fmt: skip
        first = ast.Named(declared, "image", declared.span, declared.span) if -1 in taken else declared
        elements: list[ast.Node] = [first]
        current = -1
        for entry in entries:
            elements += self.layer(entry, current, legacy, c3k)
            if entry.index in taken:
                elements[-1] = ast.Named(elements[-1], f"l{entry.index}", entry.span(self), entry.span(self))
            current = entry.index
        task = "detect" if last.module == "Detect" else "classify"
        span = span_at(self.text, elements[1].span.start, elements[-1].span.end)
        return ast.Chain(tuple(elements), span), task

    def layer(self, entry: _Entry, current: int, legacy: bool, c3k: bool | str) -> list[ast.Node]:
        """The nodes a layer reads as: ``@lN`` where it takes another layer than the last, then its code."""
        module = MODULES[entry.module]
        values = [self.argument(entry, node) for node in entry.args]
        if len(values) > len(module.params):
            extra = entry.args[len(module.params)]
            raise self.fail(
                f"layer {entry.index}: {entry.module} takes at most {len(module.params)} arguments "
                f"({', '.join(module.params)}), not {len(values)}", extra, code="too-many-arguments")  # fmt: skip
        required = 1 if module.defaults and module.defaults[0] is None and entry.module != "nn.Upsample" else 0
        if len(values) < required:
            raise self.fail(f"layer {entry.index}: {entry.module} needs its {module.params[0]} first",
                            entry.args_node, code="missing-argument")  # fmt: skip
        given = {}
        for param, value, node in zip(module.params, values, entry.args):
            if param in FIXED and value != FIXED[param][0]:
                want, meaning = FIXED[param]
                raise self.fail(f"layer {entry.index}: {entry.module}'s {param} {value!r} is not what the notation "
                                f"builds: {meaning}", node, code="bad-value")  # fmt: skip
            given[param] = (value, self.span(node))
        if entry.module == "Concat" or entry.module == "Detect":
            if entry.repeats != 1:
                raise self.fail(f"layer {entry.index}: {entry.module} is not repeated (repeats 1)", entry.repeats_node,
                                code="bad-repeat")  # fmt: skip
            return [self.merge(entry, module, given, legacy)]
        if entry.merges:
            raise self.fail(f"layer {entry.index}: {entry.module} takes one layer, not a list", entry.source_node,
                            code="bad-value")  # fmt: skip
        source, source_span = entry.froms[0]
        nodes: list[ast.Node] = []
        if source != current:
            nodes.append(ast.Tensor("image" if source == -1 else f"l{source}", source_span))
        if entry.module == "Classify":
            nodes += self.classify(entry, given)
            return nodes
        call = self.call(entry, module, given, c3k)
        if entry.repeats > 1 and not module.repeat:
            count = ast.Number(entry.repeats, str(entry.repeats), self.span(entry.repeats_node))
            call = ast.Repeat(call, count, entry.span(self))
        nodes.append(call)
        return nodes

    def argument(self, entry: _Entry, node):
        """An argument's value as ``parse_model`` takes it: ``nc`` is the class count, a string a Python literal."""
        value = self.value(node)
        if isinstance(value, str):
            if value == "nc":
                return self.nc
            import ast as python

            try:
                return python.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return value
        if isinstance(value, list):
            return tuple(value)
        return value

    def call(self, entry: _Entry, module: Module, given: dict, c3k: bool | str) -> ast.Call:
        """The call of a layer; ``c3k`` is what a ``C3k2`` written without ``c3k`` true takes: true at every
        scale, false at every scale, or the scale variable :data:`C3K`."""
        args: dict[str, tuple] = {}
        for param in module.params:
            if param in FIXED or param not in given:
                continue
            value, span = given[param]
            args[param] = (self.notation_value(entry, param, value, span), span)
        if module.repeat:
            args["n"] = (entry.repeats, self.span(entry.repeats_node))
        if entry.module == "C3k2" and c3k and args.get("c3k", (False,))[0] is not True:
            args["c3k"] = (True if c3k is True else C3K, args.get("c3k", (None, entry.call_span(self)))[1])
        if entry.module == "nn.Upsample":
            factor = args.pop("scale_factor", (None, entry.call_span(self)))
            if isinstance(factor[0], float) and factor[0].is_integer():  # 2.0: the whole factor 2
                factor = (int(factor[0]), factor[1])
            mode = args.pop("mode", ("nearest", None))
            if not isinstance(factor[0], int) or isinstance(factor[0], bool) or factor[0] < 1:
                raise self.fail(f"layer {entry.index}: nn.Upsample's scale_factor is a whole number from 1 here, "
                                f"not {factor[0]!r}", factor[1], code="bad-value")  # fmt: skip
            if mode[0] != "nearest":
                raise self.fail(f"layer {entry.index}: the notation reads nn.Upsample's mode 'nearest', not {mode[0]!r}",
                                mode[1], code="unknown-word")  # fmt: skip
            args = {"size": factor}
        order = CALL_ORDER[module.code]
        defaults = dict(zip(module.params, module.defaults)) | {"n": 1}
        if entry.module == "nn.Upsample":
            defaults = {"size": 2}
        arguments = []
        positional = True
        for param in order:
            if param not in args:
                positional = False
                continue
            value, span = args[param]
            if param != order[0] and value == defaults.get(param):
                positional = False
                continue
            positional = positional and param in POSITIONAL.get(module.code, (order[0],))
            arguments.append(ast.Arg(None if positional else param, _value(value, span), span))
        return ast.Call(module.code, tuple(arguments), entry.call_span(self))

    def notation_value(self, entry: _Entry, param: str, value, span: ast.Span):
        if param == "activation":
            if value is True:
                return "silu"
            if value is False:
                return "linear"
            raise self.fail(f"layer {entry.index}: the notation reads act True (SiLU) or False (none), not {value!r}",
                            span, code="unknown-word")  # fmt: skip
        if param == "kernels" and isinstance(value, tuple):
            return value
        return value

    def classify(self, entry: _Entry, given: dict) -> list[ast.Node]:
        """Ultralytics' classification head: a 1x1 (or k) convolution to 1280 channels, average pooling, a linear layer."""
        # three calls of one entry, each at a place of its own (calls written at one place share their binding)
        conv_span, pool_span = self.span(entry.module_node), self.span(entry.args_node)
        end = entry.args_node.end_mark.index
        dense_span = span_at(self.text, end - 1, end)
        classes, classes_span = given.get("classes", (self.nc, dense_span))
        if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
            raise self.fail(f"layer {entry.index}: Classify's first argument is the class count, not {classes!r}",
                            classes_span)  # fmt: skip
        args = [ast.Arg(None, _num(CLASSIFY_CHANNELS, conv_span), conv_span)]
        for param in ("kernel", "strides", "groups"):
            if param in given and given[param][0] != 1:
                value, where = given[param]
                args.append(ast.Arg(param, _value(value, where), where))
        args.append(ast.Arg("scaled", ast.Word("false", conv_span), conv_span))
        conv = ast.Call("CONV", tuple(args), conv_span)
        pool = ast.Call("GAP", (), pool_span)
        dense = ast.Call(
            "DN", (ast.Arg(None, _num(classes, classes_span), classes_span),
                   ast.Arg("activation", ast.Word("softmax", dense_span), dense_span)), dense_span)  # fmt: skip
        return [conv, pool, dense]

    def merge(self, entry: _Entry, module: Module, given: dict, legacy: bool) -> ast.Merge:
        branches = []
        for (source, span), raw in zip(entry.froms, entry.source_values(self)):
            if raw == -1:
                element = ast.Call("ID", (), span)
            else:
                element = ast.Tensor("image" if source == -1 else f"l{source}", span)
            branches.append(ast.Chain((element,), span))
        args = []
        if entry.module == "Detect":
            if len(branches) < 1:
                raise self.fail("Detect takes the levels it detects on", entry.source_node)
            classes, span = given.get("classes", (None, self.span(entry.args_node)))
            if classes is None:
                raise self.fail(f"layer {entry.index}: Detect needs the class count (nc)", entry.args_node,
                                code="missing-argument")  # fmt: skip
            if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
                raise self.fail(f"layer {entry.index}: Detect's class count is a whole number from 1, not {classes!r}",
                                span)  # fmt: skip
            args.append(ast.Arg("classes", _num(classes, span), span))
            if self.bins is not None:
                value, where = self.bins
                args.append(ast.Arg("bins", _num(value, where), where))
            if legacy:
                where = entry.call_span(self)
                args.append(ast.Arg("legacy", ast.Word("true", where), where))
        elif len(branches) < 2:
            raise self.fail(f"layer {entry.index}: Concat joins two layers or more", entry.source_node,
                            code="merge-branches")  # fmt: skip
        return ast.Merge(module.code, tuple(branches), tuple(args), entry.call_span(self))


CALL_ORDER = {
    "CONV": ("filters", "kernel", "strides", "groups", "dilation", "activation"),
    "DWCONV": ("filters", "kernel", "strides", "dilation", "activation"),
    "BOTTLENECK": ("filters", "shortcut", "groups", "kernels", "e"),
    "C2F": ("filters", "n", "shortcut", "groups", "e"),
    "C2": ("filters", "n", "shortcut", "groups", "e"),
    "C3": ("filters", "n", "shortcut", "groups", "e"),
    "C3K2": ("filters", "n", "c3k", "e", "groups", "shortcut"),
    "SPPF": ("filters", "kernel"),
    "C2PSA": ("filters", "n", "e"),
    "PSA": ("filters", "e"),
    "UP": ("size",),
}
"""The order of each code's arguments in the notation (Ultralytics' own, the input channels left out)."""

POSITIONAL = {
    "CONV": ("filters", "kernel", "strides"),
    "DWCONV": ("filters", "kernel", "strides"),
    "SPPF": ("filters", "kernel"),
    "UP": ("size",),
}
"""The leading arguments written by position while none before them is left out."""

KNOWN_KEYS = frozenset({
    "nc", "scales", "backbone", "head", "depth_multiple", "width_multiple", "channels", "reg_max", "end2end",
    "activation",
})  # fmt: skip
KEY_HINTS = {
    "activation": "a file's own activation replaces SiLU in every Conv; the notation reads files that keep SiLU",
    "kpt_shape": "pose models (keypoints) are not read yet",
    "end2end": "end-to-end (NMS-free) heads are not read yet",
}


@record
class _Entry:
    """One layer of the file: its index, the layers it takes, repeats, module and arguments, and their nodes."""

    index: int
    froms: tuple
    repeats: int
    module: str
    args: tuple
    node: object
    source_node: object
    repeats_node: object
    module_node: object
    args_node: object

    @property
    def merges(self) -> bool:
        return self.module in ("Concat", "Detect")

    def span(self, reader: _Reader) -> ast.Span:
        return reader.span(self.node)

    def call_span(self, reader: _Reader) -> ast.Span:
        """From the module's name to the end of its arguments: what a diagnostic about the layer underlines."""
        return span_at(reader.text, self.module_node.start_mark.index, self.args_node.end_mark.index)

    def source_values(self, reader: _Reader) -> list[int]:
        """The from values as written (-1 stays -1), in order."""
        items = self.source_node.value if isinstance(self.source_node.value, list) else [self.source_node]
        return [reader.value(item) for item in items]


def _num(value: int | float, span: ast.Span) -> ast.Number:
    return ast.Number(value, repr(value) if isinstance(value, float) else str(value), span)


def _value(value, span: ast.Span) -> ast.Value:
    if isinstance(value, bool):
        return ast.Word("true" if value else "false", span)
    if isinstance(value, int | float):
        return _num(value, span)
    if isinstance(value, tuple):
        items = [_value(item, span) for item in value]
        if len({repr(item.value) if isinstance(item, ast.Number) else item for item in items}) == 1:
            return items[0]
        return ast.Tuple(tuple(items), span)
    if isinstance(value, str) and value.isidentifier():
        return ast.Word(value, span)
    raise _Problems([Diagnostic(VALUE, f"{value!r} is not a value the notation writes", span, code="bad-value")])
