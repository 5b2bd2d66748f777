"""A picture of a checked model as shapes: elements, folding and layout.

The same walk as the other backends, boxes instead of layers: the model's tree
(chains, merges with their branches) becomes a tree of picture elements, repeated
blocks fold into one drawn copy marked ``×N``, and a layout places every element on a
vertical axis (a merge's branches side by side, joined at the merge); where a chain goes
on from a named tensor (``@name``), a dashed edge comes round from that tensor's layer,
left of the picture, into a small "from" mark. The result is
a :class:`Picture`: polygons, lines and text on a canvas, which
:mod:`cnndsl.backends.svg` writes as SVG and :mod:`cnndsl.backends.png` paints.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cnndsl.ast import assert_never
from cnndsl.backends.partial import CUT, Drawable, cut
from cnndsl.model import INPUT, CheckedModel, From, Item, LayerInfo, Merge, input_number, is_input
from cnndsl.records import record
from cnndsl.shapes import Shape, format_shape

STYLES = ("boxes", "graph")

# --- colours: one per kind of layer (the layer table says each code's kind) -----------

COLOURS = {
    "input": "#d9d9d9",
    "convolution": "#f2b26b",
    "pooling": "#7fb8e0",
    "normalization": "#b7d98b",
    "dense": "#c9a0dc",
    "merge": "#f28e8e",
    "reshape": "#a8dcd1",
    "augmentation": "#f4c2d7",
    "other": "#e6e0a8",
    "block": "#fff2cc",
}
"""Fill colour per kind, in the legend's order; ``block`` is a named block's use drawn as one box."""

ERROR_COLOUR = "#d62728"
LINE_COLOUR = "#444444"
TEXT_COLOUR = "#222222"
FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
FONT_SIZE = 12
LINE_HEIGHT = 15
CHAR_WIDTH = 0.602
"""Advance of one character in DejaVu Sans Mono, in ems: the layout measures text with it."""
LABEL_CHARS = 40
"""Widest line of a layer's text in a label; longer text wraps at its spaces."""
LABEL_LINES = 3
"""Most lines of a layer's text; what is left after them is cut with an ellipsis."""
ERROR_CHARS = 56
"""Width of the wrapped error message under a failing layer."""


def kind_of(info: LayerInfo) -> str:
    """A layer's colour group, from the layer table; a kind without a colour is an error."""
    kind = info.layer.type.kind
    if kind not in COLOURS:
        raise LookupError(f"the picture backend has no colour for {info.code}'s kind {kind!r}")
    return kind


# --- shapes: what the layout produces and the writers draw ----------------------------


@record
class Poly:
    """A closed polygon."""

    points: tuple[tuple[float, float], ...]
    fill: str
    stroke: str = LINE_COLOUR
    width: float = 1.0
    dash: bool = False


@record
class Line:
    """An open polyline."""

    points: tuple[tuple[float, float], ...]
    stroke: str = LINE_COLOUR
    width: float = 1.2
    dash: bool = False


@record
class Text:
    """One line of text; ``y`` is its baseline."""

    x: float
    y: float
    text: str
    size: float = FONT_SIZE
    anchor: str = "start"
    fill: str = TEXT_COLOUR
    bold: bool = False
    role: str = ""
    """What the line says, for readers of the SVG: spec, shape, params or error."""


@record
class Group:
    """Shapes that belong together (one layer), with attributes for readers of the SVG,
    drawn shifted by (dx, dy): moving a group moves no shape inside it."""

    attrs: tuple[tuple[str, str], ...]
    items: tuple[Any, ...]
    dx: float = 0
    dy: float = 0


Drawn = Poly | Line | Text | Group


def moved(shapes: Iterable[Drawn], dx: float, dy: float) -> list[Drawn]:
    """The shapes shifted by (dx, dy)."""
    return [_move(shape, dx, dy) for shape in shapes]


def _move(shape: Drawn, dx: float, dy: float) -> Drawn:
    if isinstance(shape, Poly):
        points = tuple([(x + dx, y + dy) for x, y in shape.points])
        return Poly(points, shape.fill, shape.stroke, shape.width, shape.dash)
    if isinstance(shape, Line):
        points = tuple([(x + dx, y + dy) for x, y in shape.points])
        return Line(points, shape.stroke, shape.width, shape.dash)
    if isinstance(shape, Text):
        return Text(
            shape.x + dx, shape.y + dy, shape.text, shape.size, shape.anchor, shape.fill, shape.bold, shape.role
        )
    if isinstance(shape, Group):
        return Group(shape.attrs, shape.items, shape.dx + dx, shape.dy + dy)
    raise TypeError(f"not a picture shape: {shape!r}")


@dataclass(frozen=True)
class Picture:
    """Shapes on a canvas of ``width`` x ``height`` pixels, and the picture's title."""

    width: float
    height: float
    shapes: tuple[Drawn, ...]
    title: str


# --- elements: the tree the picture draws ---------------------------------------------


@dataclass(frozen=True)
class Node:
    """One drawn layer, standing for ``indices`` (several when folded)."""

    indices: tuple[int, ...]


@dataclass(frozen=True)
class Fork:
    """A merge: its branches side by side, joined at the merge layer (None when cut short)."""

    layers: tuple[int, ...] | None
    branches: tuple[tuple[Element, ...], ...]


@dataclass(frozen=True)
class Repeat:
    """``body`` drawn once, standing for ``count`` identical copies."""

    body: tuple[Element, ...]
    count: int


@dataclass(frozen=True)
class Tap:
    """``@name``: the chain goes on from the output of layer ``sources[0]`` (INPUT: the input); several when folded."""

    sources: tuple[int, ...]
    name: str | None = None
    """The name the spec wrote at ``@name``; None where it wrote none (a model read from elsewhere)."""


@dataclass(frozen=True)
class Box:
    """A use of the named block ``name`` drawn as one box; ``uses`` holds each use's layers in the
    order they are written (several uses when folded)."""

    name: str
    uses: tuple[tuple[int, ...], ...]


Element = Node | Fork | Repeat | Tap | Box


def elements(
    model: CheckedModel, unfold: bool = False, last: int | None = None, depth: int | None = None, keys=None
) -> tuple[Element, ...]:
    """The model's tree as picture elements, identical neighbours folded unless ``unfold``.

    ``last`` cuts the picture after that layer (a failing spec). Given ``depth``, each use
    of a named block that sits inside ``depth`` other uses is one :class:`Box`. ``keys``:
    the layers' keys (:func:`_layer_keys`) when already known.
    """
    keys = _layer_keys(model, last) if keys is None else keys
    chain = cut(model.items, last) if last is not None else model.items
    if depth is None and any(use.code for use in model.blocks):  # a block code's use is one box at any depth
        depth = NO_DEPTH
    if depth is None or not model.blocks:
        return _chain(chain, keys, unfold)
    return _Grouper(model, depth, keys, unfold, last).folded(chain, 0)


NO_DEPTH = 1 << 30
"""A depth no use sits at: no named block's use is boxed."""


MAX_BOXES = 100
"""Most boxes (layers and blocks) a picture holds at the depth chosen for it (see :func:`fitting_depth`)."""


def fitting_depth(model: CheckedModel, unfold: bool = False, last: int | None = None) -> int | None:
    """The deepest depth at which the picture holds at most MAX_BOXES boxes (0 if none does).

    None for a model without named blocks, or one whose whole picture fits: every layer is drawn.
    ``last``: the failing layer a picture is cut after.
    """
    if not model.blocks:
        return None
    keys = _layer_keys(model, last)
    if count_boxes(elements(model, unfold, last, None, keys)) <= MAX_BOXES:
        return None
    low, high = 0, max(use.depth for use in model.blocks)  # a deeper depth draws more boxes: halve the range
    while low < high:
        middle = (low + high + 1) // 2
        if count_boxes(elements(model, unfold, last, middle, keys)) <= MAX_BOXES:
            low = middle
        else:
            high = middle - 1
    return low


def count_boxes(chain: Sequence[Element]) -> int:
    """The boxes a picture of these elements draws: one per layer or block drawn (a fold draws its body once)."""
    total = 0
    for element in chain:
        if isinstance(element, Node | Box):
            total += 1
        elif isinstance(element, Fork):
            total += sum(count_boxes(branch) for branch in element.branches) + (element.layers is not None)
        elif isinstance(element, Repeat):
            total += count_boxes(element.body)
        elif not isinstance(element, Tap):
            raise TypeError(f"unknown picture element: {element!r}")
    return total


class _Grouper:
    """The model's chains with each use of a named block ``depth`` uses deep drawn as one :class:`Box`.

    A use is the run of items of a chain whose layers all belong to it; a use fewer than
    ``depth`` uses deep is opened, and the uses inside it looked for one level down. So is
    the use that holds a failing layer (``failed``), which is drawn in red as it is.
    """

    def __init__(self, model: CheckedModel, depth: int, keys, unfold: bool, failed: int | None = None):
        self.depth, self.keys, self.unfold, self.failed = depth, keys, unfold, failed
        self.levels: dict[int, dict[int, tuple[frozenset[int], str, bool]]] = {}
        """Per depth, the use each layer belongs to."""
        for use in model.blocks:
            found = (frozenset(use.layers), use.name, use.code)
            self.levels.setdefault(use.depth, {}).update(dict.fromkeys(use.layers, found))

    def folded(self, items: Sequence[Item], level: int) -> tuple[Element, ...]:
        chain = self.chain(items, level)
        if self.unfold:
            return chain
        written = fold(chain, lambda element: _key(element, self.keys, 1))
        return fold(written, lambda element: _key(element, self.keys, 0))

    def chain(self, items: Sequence[Item], level: int) -> tuple[Element, ...]:
        out: list[Element] = []
        i = 0
        while i < len(items):
            use = self._use(_held(items[i]), level)
            if use is None:
                out.append(self.element(items[i], level))
                i += 1
                continue
            end = self._run_end(items, i, use[0])
            run = items[i:end]
            boxed = (level >= self.depth or use[2]) and self.failed not in use[0]
            out += [Box(use[1], (_written_layers(run),))] if boxed else self.chain(run, level + 1)
            i = end
        return tuple(out)

    def _use(self, held: frozenset[int], level: int) -> tuple[frozenset[int], str, bool] | None:
        if not held:
            return None
        use = self.levels.get(level, {}).get(next(iter(held)))
        return use if use is not None and held <= use[0] else None

    def _run_end(self, items: Sequence[Item], start: int, layers: frozenset[int]) -> int:
        """Where the run of items inside one use ends (a tap inside it, between its layers, belongs to it)."""
        end = start + 1
        while end < len(items):
            ahead = end
            while ahead < len(items) and isinstance(items[ahead], From):
                ahead += 1
            if ahead == len(items) or not _held(items[ahead]) <= layers or not _held(items[ahead]):
                return end
            end = ahead + 1
        return end

    def element(self, item: Item, level: int) -> Element:
        match item:
            case int():
                return Node((item,))
            case Merge():
                layers = (item.layer,) if item.layer != CUT else None
                return Fork(layers, tuple(self.folded(branch, level) for branch in item.branches))
            case From():
                return Tap((item.source,), item.name)
            case _:
                assert_never(item)


def _held(item: Item) -> frozenset[int]:
    """The layers an item of the tree holds (a merge: its branches' and its own)."""
    return frozenset(_written_layers((item,)))


def _written_layers(items: Sequence[Item]) -> tuple[int, ...]:
    """The layers of a run of items in the order they are written (a merge's branches before it)."""
    out: list[int] = []
    for item in items:
        match item:
            case int():
                out.append(item)
            case Merge():
                for branch in item.branches:
                    out += _written_layers(branch)
                if item.layer != CUT:
                    out.append(item.layer)
            case From():
                pass
            case _:
                assert_never(item)
    return tuple(out)


def _layer_keys(model: CheckedModel, failed: int | None = None) -> list[tuple[tuple, tuple]]:
    """Per layer, what makes two layers draw alike (code, arguments, shapes), and what
    makes them copies of one written repetition (code, arguments and place in the text,
    whatever their shapes: a dense block's growing channels still fold). A failing layer
    is like no other."""
    keys = []
    for index, info in enumerate(model.layers):
        args = tuple(sorted((k, repr(v)) for k, v in info.layer.args.items()))
        span = info.layer.span
        written = (info.code, args, (span.start, span.end) if span else None)
        alike = (info.code, args, info.input_shapes, info.output_shape)
        keys.append(((index,), (index,)) if index == failed else (alike, written))
    return keys


def _element(item: Item, keys, unfold: bool) -> Element:
    match item:
        case int():
            return Node((item,))
        case Merge():
            layers = (item.layer,) if item.layer != CUT else None
            return Fork(layers, tuple(_chain(branch, keys, unfold) for branch in item.branches))
        case From():
            return Tap((item.source,), item.name)
        case _:
            assert_never(item)


def _chain(items: Sequence[Item], keys, unfold: bool) -> tuple[Element, ...]:
    """A chain's elements; folded unless ``unfold``: first the copies of a written
    repetition (``block * 3``), then whatever else repeats alike."""
    chain = tuple(_element(item, keys, unfold) for item in items)
    if unfold:
        return chain
    written = fold(chain, lambda element: _key(element, keys, 1))
    return fold(written, lambda element: _key(element, keys, 0))


def _key(element: Element, keys, which: int) -> tuple:
    """Equal keys, equal pictures: the element's structure and its layers' keys."""
    if isinstance(element, Node):
        return keys[element.indices[0]][which]
    if isinstance(element, Fork):
        layer = keys[element.layers[0]][which] if element.layers else "cut"
        return (layer, tuple(tuple(_key(e, keys, which) for e in branch) for branch in element.branches))
    if isinstance(element, Repeat):
        return ("repeat", element.count, tuple(_key(e, keys, which) for e in element.body))
    if isinstance(element, Tap):  # copies that go back alike fold: each copy's source is its own
        source = element.sources[0]
        return ("from", element.name, f"input{input_number(source)}" if is_input(source) else keys[source][which])
    if isinstance(element, Box):
        return ("block", element.name, tuple(keys[i][which] for i in element.uses[0]))
    raise TypeError(f"unknown picture element: {element!r}")


MAX_FOLD_SPAN = 24
"""Longest run of elements looked for as a repeated unit."""


def fold(chain: Sequence[Element], key) -> tuple[Element, ...]:
    """Fold consecutive repeats of equal runs: ``a b c b c b c`` -> ``a (b c)×3``.

    At each place the longest stretch covered by repeats wins (the shorter unit on a tie).
    """
    keys = [key(element) for element in chain]
    out: list[Element] = []
    i = 0
    while i < len(chain):
        span, count = _best_repeat(keys, i)
        if count < 2:
            out.append(chain[i])
            i += 1
            continue
        copies = [chain[i + c * span : i + (c + 1) * span] for c in range(count)]
        out.append(Repeat(tuple(_merged(list(parts)) for parts in zip(*copies)), count))
        i += span * count
    return tuple(out)


def _best_repeat(keys: list[tuple], start: int) -> tuple[int, int]:
    best = (1, 1)
    first = keys[start]
    for span in range(1, min(MAX_FOLD_SPAN, (len(keys) - start) // 2) + 1):
        if keys[start + span] != first:
            continue
        unit = keys[start : start + span]
        count = 1
        while keys[start + count * span : start + (count + 1) * span] == unit:
            count += 1
        if count > 1 and span * count > best[0] * best[1]:
            best = (span, count)
    return best


def _merged(copies: list[Element]) -> Element:
    """One element standing for equal copies: their layer indices gathered."""
    first = copies[0]
    if isinstance(first, Node):
        return Node(tuple(i for c in copies for i in c.indices))
    if isinstance(first, Fork):
        layers = None if first.layers is None else tuple(i for c in copies for i in c.layers)
        branches = tuple(
            tuple(_merged([c.branches[b][e] for c in copies]) for e in range(len(first.branches[b])))
            for b in range(len(first.branches))
        )
        return Fork(layers, branches)
    if isinstance(first, Repeat):
        body = tuple(_merged([c.body[e] for c in copies]) for e in range(len(first.body)))
        return Repeat(body, first.count)
    if isinstance(first, Tap):
        return Tap(tuple(i for c in copies for i in c.sources), first.name)
    if isinstance(first, Box):
        return Box(first.name, tuple(use for c in copies for use in c.uses))
    raise TypeError(f"unknown picture element: {first!r}")


# --- layout ---------------------------------------------------------------------------

GAP = 20
"""Vertical space between consecutive elements (an arrow)."""
BRANCH_GAP = 28
"""Horizontal space between a merge's branches."""
FORK_DROP = 10
JOIN_DROP = 20
JOIN_STEP = 5
LABEL_GAP = 12
FRAME_PAD = 8
ARROW = 6


@dataclass
class Block:
    """Placed shapes around a vertical axis at x=0, from y=0 (entry) to ``height`` (exit)."""

    left: float
    right: float
    height: float
    shapes: list[Drawn] = field(default_factory=list)
    label_x: float = 0
    """Where the labels of a chain's layers start (0 for no labels)."""
    entered: bool = True
    """Whether the element before it feeds it (not a tap, nor a merge whose every branch is one)."""


@dataclass(frozen=True)
class Label:
    """One line of a layer's label."""

    text: str
    role: str
    colour: str = TEXT_COLOUR
    bold: bool = False


@dataclass(frozen=True)
class Leaf:
    """How one drawn layer looks: its box and the lines of its label."""

    body: list[Drawn]
    half: float
    """Half the box's width to the left of the axis."""
    reach: float
    """How far the box reaches right of the axis."""
    height: float
    label: list[Label]
    """Lines of text beside the box (none for a graph node, which holds its own)."""
    attrs: tuple[tuple[str, str], ...]


class Layout:
    """Places elements for one style; ``leaf`` makes a layer's box and label."""

    def __init__(self, drawable: Drawable, style: str):
        if style not in STYLES:
            raise ValueError(f"unknown picture style {style!r}; styles: {', '.join(STYLES)}")
        self.drawable, self.style = drawable, style
        self.layers = drawable.model.layers

    # chains ---------------------------------------------------------------------------

    def chain(self, items: Sequence[Element], entry: Leaf | None = None, label_min: float = 0) -> Block:
        """Elements one under the other on the axis, with arrows between them; labels in one
        column (at ``label_min`` or further right), which the first branch of a merge and
        the body of a repeat, on the same axis, share."""
        leaves = [
            self.leaf(e.indices) if isinstance(e, Node) else self.box(e) if isinstance(e, Box) else e for e in items
        ]
        reach = max((p.reach for p in [entry, *leaves] if isinstance(p, Leaf)), default=0)
        label_x = max(reach + LABEL_GAP, label_min)
        parts = ([entry] if entry else []) + [p if isinstance(p, Leaf) else self.element(p, label_x) for p in leaves]
        block = Block(0, 0, 0, label_x=label_x)
        for n, part in enumerate(parts):
            if n and isinstance(part, Block) and not part.entered:  # goes on from a named tensor instead
                block.height += GAP
            elif n:
                block.shapes += _arrow(0, block.height, block.height + GAP, head=isinstance(part, Leaf))
                block.height += GAP
            placed = self.place_leaf(part, label_x) if isinstance(part, Leaf) else part
            block.shapes += moved(placed.shapes, 0, block.height)
            block.left, block.right = max(block.left, placed.left), max(block.right, placed.right)
            block.height += placed.height
        return block

    def element(self, element: Element, label_x: float = 0) -> Leaf | Block:
        if isinstance(element, Node):
            return self.leaf(element.indices)
        if isinstance(element, Fork):
            return self.fork(element, label_x)
        if isinstance(element, Repeat):
            return self.repeat(element, label_x)
        if isinstance(element, Tap):
            return self.tap(element, label_x)
        if isinstance(element, Box):
            return self.box(element)
        raise TypeError(f"unknown picture element: {element!r}")

    def tap(self, tap: Tap, label_x: float = 0) -> Block:
        """A small mark saying which tensor the chain goes on from; :func:`tap_edges` draws the edge into it."""
        source = tap.sources[0]
        if source < INPUT:  # a model's later input: its own box, which the chain goes on from
            placed = self.place_leaf(self.input_leaf(input_number(source)), label_x)
            return Block(placed.left, placed.right, placed.height, placed.shapes, entered=False)
        name = "input" if source == INPUT else self.layers[source].name  # the box the edge comes from
        text = f"from {tap.name or name}"
        width = _text_width(text, FONT_SIZE - 1) + 10
        box = Poly(_rect(-width / 2, 0, width, LINE_HEIGHT + 2), "#ffffff", "#888888", 1, dash=True)
        label = Text(0, LINE_HEIGHT - 2, text, size=FONT_SIZE - 1, anchor="middle", role="from")
        tensor = (("data-tensor", tap.name),) if tap.name else ()
        shapes: list[Drawn] = [Group((("class", "from"), ("data-from", name), *tensor), (box, label))]
        return Block(width / 2, width / 2, LINE_HEIGHT + 2, shapes, entered=False)

    def place_leaf(self, leaf: Leaf, label_x: float) -> Block:
        """The leaf's box on the axis and its label at ``label_x``."""
        lines = leaf.label
        height = max(leaf.height, LINE_HEIGHT * len(lines) + 2)
        top = (height - leaf.height) / 2
        texts = self.label_texts(lines, label_x, max(0, (height - LINE_HEIGHT * len(lines)) / 2))
        shapes = [Group(leaf.attrs, (*moved(leaf.body, 0, top), *texts))]
        width = max((_text_width(line.text) for line in lines), default=0)
        right = label_x + width if lines else leaf.reach
        return Block(leaf.half, right, height, shapes)

    def label_texts(self, lines, x: float, top: float) -> list[Text]:
        return [
            Text(x, top + LINE_HEIGHT * (n + 1) - 3, line.text, fill=line.colour, bold=line.bold, role=line.role)
            for n, line in enumerate(lines)
        ]

    # merges and repeats ---------------------------------------------------------------

    def fork(self, fork: Fork, label_x: float = 0) -> Block:
        """Branches side by side from a fork bus, each with its own arrow into the merge."""
        branches = [
            self.chain(branch, label_min=label_x if n == 0 else 0) if branch else Block(0, 16, 0, label_x=label_x)
            for n, branch in enumerate(fork.branches)
        ]
        axes = _branch_axes(branches)
        top = FORK_DROP + GAP
        bottom = top + max(b.height for b in branches)
        block = Block(
            max(b.left - a for a, b in zip(axes, branches)), max(a + b.right for a, b in zip(axes, branches)), 0
        )
        fed = [axis for axis, branch in zip(axes, fork.branches) if not (branch and isinstance(branch[0], Tap))]
        block.entered = bool(fed)
        if fed:
            block.shapes.append(Line(((0, 0), (0, FORK_DROP), (fed[-1], FORK_DROP))))
        for axis, branch, written in zip(axes, branches, fork.branches):
            if written and isinstance(written[0], Tap):
                block.shapes += moved(branch.shapes, axis, top)
                if top + branch.height < bottom:
                    block.shapes.append(Line(((axis, top + branch.height), (axis, bottom))))
                continue
            block.shapes += _arrow(axis, FORK_DROP, top if branch.height else bottom, head=bool(branch.height))
            block.shapes += moved(branch.shapes, axis, top)
            if branch.height and top + branch.height < bottom:
                block.shapes.append(Line(((axis, top + branch.height), (axis, bottom))))
        if fork.layers is None:
            block.height = bottom
            return block
        return self.join(block, fork, axes, bottom, branches[0].label_x)

    def join(self, block: Block, fork: Fork, axes: list[float], bottom: float, branch_labels: float) -> Block:
        """The merge layer under the branches, one arrow from each branch.

        Branch n turns towards the merge at its own level, lower the further right it
        is, and enters at its own point: no two edges cross.
        """
        merge = self.leaf(fork.layers)
        drop = JOIN_DROP + JOIN_STEP * (len(axes) - 1)
        placed = self.place_leaf(merge, max(merge.reach + LABEL_GAP, branch_labels))
        entry_y = bottom + drop + (placed.height - merge.height) / 2
        spread = min(merge.half * 0.8, 10 * (len(axes) - 1))
        for n, axis in enumerate(axes):
            x = spread * n / (len(axes) - 1) if n else 0
            level = bottom + JOIN_STEP * (n + 1) if n else bottom
            block.shapes.append(Line(((axis, bottom), (axis, level), (x, level), (x, entry_y - 1))))
            block.shapes.append(_head(x, entry_y, (0, 1)))
        block.shapes += moved(placed.shapes, 0, bottom + drop)
        block.left, block.right = max(block.left, placed.left), max(block.right, placed.right)
        block.height = bottom + drop + placed.height
        return block

    def repeat(self, repeat: Repeat, label_x: float = 0) -> Block:
        """The body once, in a dashed frame marked ``×N``."""
        body = self.chain(repeat.body, label_min=label_x)
        head = LINE_HEIGHT + 4
        left, right = body.left + FRAME_PAD, body.right + FRAME_PAD
        height = body.height + head + 2 * FRAME_PAD
        frame = Poly(((-left, 0), (right, 0), (right, height), (-left, height)), "none", "#888888", 1, dash=True)
        mark = Text(-left + 6, LINE_HEIGHT, f"×{repeat.count}", size=FONT_SIZE + 1, bold=True)
        shapes = [frame, mark, Line(((0, 0), (0, head + FRAME_PAD)))]
        shapes += moved(body.shapes, 0, head + FRAME_PAD)
        shapes.append(Line(((0, height - FRAME_PAD), (0, height))))
        return Block(left, right, height, shapes)

    # leaves -------------------------------------------------------------------------

    def leaf(self, indices: tuple[int, ...]) -> Leaf:
        info = self.layers[indices[0]]
        kind = kind_of(info)
        failed = self.drawable.failed in indices
        lines = self.label(info, failed, [self.layers[i] for i in indices])
        named = self._outputs(indices)
        lines += [Label(f"output {name}", "output", bold=True) for name in named]
        attrs = (
            ("class", f"layer {kind}" + (" failed" * failed)),
            ("data-layers", " ".join(self.layers[i].name for i in indices)),
            *((("data-outputs", " ".join(named)),) if named else ()),
        )
        if self.style == "graph":
            return _node_leaf(lines, kind, failed, attrs)
        return _box_leaf(info.output_shape, kind, failed, lines, attrs)

    def _outputs(self, indices: Sequence[int]) -> list[str]:
        """The names of the model's outputs (``OUT(...)``) that are these layers' outputs (INPUT: the input's)."""
        return [output.name for output in self.drawable.model.outputs if output.source in indices]

    def box(self, box: Box) -> Leaf:
        """A use of a named block as one box: its name, input and output shapes, layers and parameters."""
        first, last = box.uses[0], box.uses[-1]
        lines = [Label(f"{box.name} (block)", "spec", bold=True)]
        lines += [Label(text, "shape") for text in self._box_shapes(first, last)]
        counts = [(len(use), sum(self.layers[i].params for i in use)) for use in (first, last)]
        layers = f"{counts[0][0]}" + (f" … {counts[1][0]}" if counts[1][0] != counts[0][0] else "")
        params = f"{counts[0][1]:,}" + (f" … {counts[1][1]:,}" if counts[1][1] != counts[0][1] else "")
        lines.append(Label(f"{layers} layers, {params} params", "params", "#555555"))
        names = " ".join(self.layers[i].name for use in box.uses for i in use)
        attrs = (("class", "block"), ("data-block", box.name), ("data-layers", names))
        if self.style == "graph":
            return _node_leaf(lines, "block", False, attrs)
        leaf = _box_leaf(self.layers[first[-1]].output_shape, "block", False, lines, attrs)
        shadow = moved(leaf.body, 4, -4)  # a stack of layers: a second slab behind the first
        return Leaf([*shadow, *leaf.body], leaf.half, leaf.reach + 4, leaf.height, lines, attrs)

    def _box_shapes(self, first: tuple[int, ...], last: tuple[int, ...]) -> list[str]:
        """``in`` and ``out`` shapes of a block's use (first … last of folded uses that differ)."""

        def both(a: Shape, b: Shape) -> str:
            return format_shape(a) + (f" … {format_shape(b)}" if a != b else "")

        entering = both(self.layers[first[0]].input_shape, self.layers[last[0]].input_shape)
        leaving = both(self.layers[first[-1]].output_shape, self.layers[last[-1]].output_shape)
        return [f"in  {entering}", f"out {leaving}"]

    def input_leaf(self, number: int = 0) -> Leaf:
        """The box of the model's input; of its input ``number`` (from 0) for a model of several."""
        model = self.drawable.model
        inputs = getattr(model, "inputs", ())
        shape = inputs[number].shape if inputs else model.input_shape
        title = f"input {inputs[number].name}" if inputs else "input"
        lines = [Label(title, "spec", bold=True), Label(format_shape(shape), "shape")]
        lines += [Label(f"output {name}", "output", bold=True) for name in self._outputs((INPUT - number,))]
        attrs = (("class", "input"), *((("data-input", inputs[number].name),) if inputs else ()))
        if self.style == "graph":
            return _node_leaf(lines, "input", False, attrs)
        return _box_leaf(shape, "input", False, lines, attrs)

    def label(self, info: LayerInfo, failed: bool, copies: list[LayerInfo]) -> list[Label]:
        """The layer's text, output shape and parameters (first ... last of folded copies that differ)."""
        text = _merge_text(info.layer) if info.layer.type.merge else " ".join(info.layer.text.split())
        if self.style == "graph":
            text = f"{info.name}: {text}"
        colour = ERROR_COLOUR if failed else TEXT_COLOUR
        text += " (head)" if info.layer.head else ""
        lines = [Label(line, "spec", colour, bold=True) for line in _text_lines(text)]
        if failed:
            message = self.drawable.error.message if self.drawable.error else "fails the check"
            return lines + [Label(part, "error", ERROR_COLOUR) for part in _wrap("error: " + message, ERROR_CHARS)]
        last = copies[-1]
        shape = format_shape(info.output_shape)
        if last.output_shape != info.output_shape:
            shape += f" … {format_shape(last.output_shape)}"
        lines.append(Label(shape, "shape"))
        if info.params or last.params:
            params = f"{info.params:,}" + (f" … {last.params:,}" if last.params != info.params else "")
            lines.append(Label(f"{params} params", "params", "#555555"))
        return lines


def _text_lines(text: str) -> list[str]:
    """A layer's text in lines of at most LABEL_CHARS, at most LABEL_LINES of them."""
    lines = _wrap(text, LABEL_CHARS)
    if len(lines) > LABEL_LINES:
        lines = [*lines[: LABEL_LINES - 1], lines[LABEL_LINES - 1][: LABEL_CHARS - 1] + "…"]
    return lines


def _merge_text(layer) -> str:
    """A merge's label: its code and the arguments written (its branches are drawn)."""
    given = [f"{name}={layer.args[name]}" for name in layer.type.param_names if name in layer.given]
    return f"{layer.code}({', '.join(given)})" if given else layer.code


def _branch_axes(branches: list[Block]) -> list[float]:
    """Each branch's axis: the first on the merge's axis, the others to its right."""
    axes = [0.0]
    for before, branch in zip(branches, branches[1:]):
        axes.append(axes[-1] + before.right + BRANCH_GAP + branch.left)
    return axes


def _arrow(x: float, y0: float, y1: float, head: bool = True) -> list[Drawn]:
    """A vertical line from y0 to y1 at x, with an arrowhead at y1 unless ``head`` is false."""
    if not head:
        return [Line(((x, y0), (x, y1)))]
    return [Line(((x, y0), (x, y1 - 1))), _head(x, y1, (0, 1))]


def _head(x: float, y: float, direction: tuple[float, float]) -> Poly:
    """An arrowhead with its tip at (x, y), pointing along ``direction``."""
    dx, dy = direction
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm
    bx, by = x - ux * ARROW, y - uy * ARROW
    px, py = -uy * ARROW * 0.45, ux * ARROW * 0.45
    return Poly(((x, y), (bx + px, by + py), (bx - px, by - py)), LINE_COLOUR, LINE_COLOUR, 0.8)


def _box_leaf(shape: Shape, kind: str, failed: bool, lines, attrs) -> Leaf:
    """A layer as a slab: width follows the spatial size, thickness the channels (log scale)."""
    stroke, width = (ERROR_COLOUR, 2.5) if failed else (LINE_COLOUR, 1.0)
    fill = COLOURS[kind]
    if len(shape) <= 2:  # dense and flatten: a bar
        w = _scale(shape[-1] if len(shape) == 2 else 1)
        body = [Poly(_rect(-w / 2, 0, w, 8), fill, stroke, width)]
        return Leaf(body, w / 2, w / 2, 8, lines, attrs)
    height, across, channels = _spatial(shape)
    w, t = _scale(across), 3 + 4 * math.log2(1 + (channels or 1))
    depth = 0.45 * _scale(height)
    ox, oy = depth * 0.6, depth * 0.45
    front = Poly(_rect(-w / 2, oy, w, t), fill, stroke, width)
    top = Poly(((-w / 2, oy), (-w / 2 + ox, 0), (w / 2 + ox, 0), (w / 2, oy)), _shade(fill, 1.12), stroke, width)
    side = Poly(((w / 2, oy), (w / 2 + ox, 0), (w / 2 + ox, t), (w / 2, oy + t)), _shade(fill, 0.85), stroke, width)
    return Leaf([front, top, side], w / 2, w / 2 + ox, oy + t, lines, attrs)


def _node_leaf(lines, kind: str, failed: bool, attrs) -> Leaf:
    """A layer as a graph node: a box holding its label, centred on the axis."""
    width = max(_text_width(line.text) for line in lines) + 16
    height = LINE_HEIGHT * len(lines) + 8
    stroke, line_width = (ERROR_COLOUR, 2.5) if failed else (LINE_COLOUR, 1.0)
    box = Poly(_rect(-width / 2, 0, width, height), _shade(COLOURS[kind], 1.1), stroke, line_width)
    texts = [
        Text(
            0,
            4 + LINE_HEIGHT * (n + 1) - 3,
            line.text,
            anchor="middle",
            fill=line.colour,
            bold=line.bold,
            role=line.role,
        )
        for n, line in enumerate(lines)
    ]
    return Leaf([box, *texts], width / 2, width / 2, height, [], attrs)


def _spatial(shape: Shape) -> tuple[int, int, int]:
    """(height, width, channels) of a 4-D shape; other ranks fold their middle axes."""
    sizes = [s or 1 for s in shape[1:]]
    if len(sizes) == 3:
        return sizes[0], sizes[1], sizes[2]
    middle = math.prod(sizes[:-1])
    return middle, middle, sizes[-1]


def _scale(size: int | None) -> float:
    return 12 + 15 * math.log2(1 + (size or 1))


def _rect(x: float, y: float, w: float, h: float) -> tuple[tuple[float, float], ...]:
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


@functools.lru_cache(maxsize=64)
def _shade(colour: str, factor: float) -> str:
    """A lighter (factor > 1) or darker shade of a ``#rrggbb`` colour."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(255 - (255 - c) * (2 - factor)) if factor > 1 else round(c * factor) for c in rgb]
    return "#" + "".join(f"{min(255, max(0, c)):02x}" for c in mixed)


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * size * CHAR_WIDTH


def _wrap(text: str, width: int) -> list[str]:
    """Words in lines of at most ``width`` characters (a longer word is cut)."""
    lines: list[str] = []
    for word in text.split():
        while len(word) > width:
            lines.append(word[:width])
            word = word[width:]
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


# --- the whole picture ----------------------------------------------------------------

MARGIN = 16


def picture(
    drawable: Drawable, style: str = "boxes", unfold: bool = False, title: str = "", depth: int | None = None
) -> Picture:
    """Lay out a model (or a failing spec's checked part) as shapes on a canvas.

    ``depth``: uses of named blocks that many uses deep are drawn as one box each
    (0: every use written in the model); None picks :func:`fitting_depth`.
    """
    if depth is not None and depth < 0:
        raise ValueError(f"a picture's depth is 0 or more, not {depth}")
    layout = Layout(drawable, style)
    if depth is None:
        depth = fitting_depth(drawable.model, unfold, drawable.failed)
    items = elements(drawable.model, unfold, drawable.failed, depth)
    body = layout.chain(items, entry=layout.input_leaf())
    edges, lanes = tap_edges(body.shapes, body.left)
    body.shapes += edges
    body.left += lanes
    header = _header(drawable, title)
    kinds = _kinds(drawable.model, _has_box(items))
    legend, legend_height = _legend(kinds)
    top = MARGIN + LINE_HEIGHT * len(header) + 6 + legend_height + 10
    x = MARGIN + body.left
    shapes = [
        Text(MARGIN, MARGIN + LINE_HEIGHT * (n + 1) - 3, line, fill=colour, bold=(n == 0))
        for n, (line, colour) in enumerate(header)
    ]
    shapes += moved(legend, MARGIN, MARGIN + LINE_HEIGHT * len(header) + 6)
    shapes += moved(body.shapes, x, top)
    header_width = max(_text_width(line) for line, _ in header)
    width = max(x + body.right, MARGIN + header_width, MARGIN + _legend_width(kinds)) + MARGIN
    return Picture(math.ceil(width), math.ceil(top + body.height + MARGIN), tuple(shapes), header[0][0])


TAP_LANE = 8
"""Horizontal space between the edges that come round from named tensors."""


def tap_edges(shapes: Sequence[Drawn], left: float) -> tuple[list[Drawn], float]:
    """A dashed edge from each named tensor's layer into every "from" mark that goes on from it.

    Each edge leaves its layer's box on the left, runs down (or up) in a lane of its own left
    of the picture, and enters the mark from above, where no arrow comes in (edges that run
    across at one height would look like one, so each lane turns at its own). Returns the
    edges and the width the lanes add on the left.
    """
    boxes: dict[str, tuple[float, float, float, float]] = {}
    taps = []
    for shape in shapes:
        if not isinstance(shape, Group):
            continue
        attrs, bounds = dict(shape.attrs), _bounds(shape)
        if "data-from" in attrs:
            taps.append((attrs["data-from"], bounds))
        names = ["input"] if attrs.get("class") == "input" else attrs.get("data-layers", "").split()
        for name in names:
            boxes.setdefault(name, bounds)
    edges: list[Drawn] = []
    for lane, (name, (x0, y0, x1, _)) in enumerate((tap for tap in taps if tap[0] in boxes), 1):
        sx, sy0, _, sy1 = boxes[name]
        x, from_y, above, middle = -(left + TAP_LANE * lane), (sy0 + sy1) / 2, y0 - 5 - 5 * (lane % 3), (x0 + x1) / 2
        edges.append(Line(((sx, from_y), (x, from_y), (x, above), (middle, above), (middle, y0 - 1)), dash=True))
        edges.append(_head(middle, y0, (0, 1)))
    return edges, TAP_LANE * (len(edges) // 2) + (4 if edges else 0)


def _bounds(group: Group) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a group's polygons, where the group is drawn."""
    points = [point for shape in group.items if isinstance(shape, Poly) for point in shape.points]
    if not points:
        return group.dx, group.dy, group.dx, group.dy
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return min(xs) + group.dx, min(ys) + group.dy, max(xs) + group.dx, max(ys) + group.dy


def _header(drawable: Drawable, title: str) -> list[tuple[str, str]]:
    model = drawable.model
    name = title or "model"
    if drawable.failed is not None:
        return [(f"{name}: fails the check at layer {drawable.failed + 1}", ERROR_COLOUR)]
    return [
        (name, TEXT_COLOUR),
        (
            f"{len(model.layers)} layers, {model.total_params:,} parameters, {model.inputs_text}{model.outputs_text}",
            "#555555",
        ),
    ]


def _kinds(model: CheckedModel, boxes: bool = False) -> list[str]:
    """The kinds present, in the legend's order (the input first; ``block`` where a block is one box)."""
    present = {"input", *(kind_of(info) for info in model.layers), *(["block"] if boxes else [])}
    return [kind for kind in COLOURS if kind in present]


def _has_box(chain: Sequence[Element]) -> bool:
    for element in chain:
        if isinstance(element, Box):
            return True
        if isinstance(element, Fork) and any(_has_box(branch) for branch in element.branches):
            return True
        if isinstance(element, Repeat) and _has_box(element.body):
            return True
    return False


def _legend(kinds: list[str]) -> tuple[list[Drawn], float]:
    shapes: list[Drawn] = []
    x = 0.0
    for kind in kinds:
        shapes.append(Poly(_rect(x, 2, 12, 12), COLOURS[kind]))
        shapes.append(Text(x + 17, 12, kind, size=FONT_SIZE - 1))
        x += 17 + _text_width(kind, FONT_SIZE - 1) + 14
    return [Group((("class", "legend"),), tuple(shapes))], 16


def _legend_width(kinds: list[str]) -> float:
    return sum(17 + _text_width(kind, FONT_SIZE - 1) + 14 for kind in kinds)
