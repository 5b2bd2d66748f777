"""Expand repetition and block references: a tree of layer calls and merges.

The result is a chain: a list of items, each an ``ast.Call`` or an :class:`Expanded`
merge whose branches are chains again, a named tensor's :class:`Mark` (``as x``)
and :class:`Take` (``@x``), or (when a picture asks for them) the :class:`Enter` and
:class:`Leave` around each use of a named block. Sizes are computed before anything is expanded, so
``CN(8)*1000000000`` is refused in microseconds instead of exhausting memory.

Names are local to one definition. A block's names are its own, and each use of the
block has its own copies of them; each copy of a repetition, too, has its own names,
and sees the names written before it around it. So a block that names its mid-block
tensor can be used any number of times.
"""

from __future__ import annotations

from collections.abc import Mapping

from cnndsl import ast
from cnndsl.ast import assert_never
from cnndsl.errors import VALUE, Diagnostic, Edit, Fix
from cnndsl.layers import LAYERS, MERGES, suggest
from cnndsl.layers.core import borrowed_hint
from cnndsl.records import record

MAX_LAYERS = 100_000
"""Most layers a spec may expand to (the largest real networks have a few thousand)."""
MAX_BLOCK_DEPTH = 64
"""Deepest chain of blocks referring to blocks (a real spec uses two or three)."""
MAX_MARKED_DEPTH = 4
"""Deepest block use a marked expansion marks (a picture draws the uses below it layer by layer)."""


@record
class Expanded:
    """A merge with its branches expanded; the same object stands for every copy a repeat makes."""

    merge: ast.Merge
    branches: tuple[list[Item], ...]
    names: tuple[str, ...] = ()
    """``OUT``'s output names, one per branch (see :func:`output_name`); empty for other merges."""


@record
class Mark:
    """``... as name``: the tensor at this point of the chain is the one ``key`` stands for."""

    key: int


@record
class Take:
    """``@name``: the chain goes on from the tensor ``key`` stands for."""

    key: int
    span: ast.Span
    name: str = ""


@record
class Enter:
    """The start of one use of the named block ``name`` (pictures can draw a use as one box)."""

    name: str


@record
class Leave:
    """The end of the innermost block use entered."""


LEAVE = Leave()

Item = ast.Call | Expanded | Mark | Take | Enter | Leave


@record
class Tensor:
    """One definition of a name (a repetition's copies each make one): where, and whether ``@`` used it."""

    name: str
    span: ast.Span
    used: bool = False


class _Scope:
    """The names one body defines: a model, a block's use, a repetition's copy."""

    __slots__ = ("names", "parent", "block", "root")

    def __init__(self, parent: _Scope | None, block: str | None = None, root: ast.Chain | None = None):
        self.names: dict[str, int] = {}
        self.parent = parent
        self.block = block if parent is None else parent.block
        self.root = root if parent is None else parent.root
        """The definition's chain the body is written in: the model's, or the block's."""

    def find(self, name: str) -> int | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def visible(self) -> list[str]:
        names, scope = [], self
        while scope is not None:
            names += scope.names
            scope = scope.parent
        return names


class Expander:
    """Flattens one chain; ``blocks`` maps names to the chains they stand for."""

    def __init__(self, blocks: Mapping[str, ast.Chain] | None = None, marked: bool = False):
        self.blocks = dict(blocks or {})
        self._marks = MAX_MARKED_DEPTH if marked else 0
        """How many more levels of block uses get an Enter and a Leave (only pictures need them)."""
        self.diagnostics: list[Diagnostic] = []
        self._sizes: dict[str, int] = {}
        self._sizing: list[str] = []
        self._outermost: ast.Ref | None = None
        """The reference in the chain being checked that the current nesting of blocks started from."""
        self.tensors: list[Tensor] = []
        """Every named tensor made, by key (:class:`Mark`, :class:`Take`)."""
        self._scope = _Scope(None)
        self._said: set[tuple[str, ast.Span]] = set()

    def expand(self, chain: ast.Chain) -> list[Item]:
        total = self._size(chain)
        if total > MAX_LAYERS:
            message = f"the spec expands to {total:,} layers; the limit is {MAX_LAYERS:,}"
            self._error(message, chain.span, code="too-many-layers")
        if self.diagnostics:
            return []
        items: list[Item] = []
        self._scope = _Scope(None, root=chain)
        self._emit(chain, items)
        self._unused()
        return items

    def _size(self, node: ast.Node) -> int:
        match node:
            case ast.Call():
                return 1
            case ast.Merge():
                return 1 + sum(self._size(branch) for branch in node.branches)
            case ast.Chain():
                return sum(self._size(element) for element in node.elements)
            case ast.Ref():
                return self._block_size(node)
            case ast.Repeat():
                return self._repeat_size(node)
            case ast.Named():
                return self._size(node.body)
            case ast.Tensor():
                return 0
            case _:
                assert_never(node)

    def _block_size(self, ref: ast.Ref) -> int:
        """A block's size, computed once per name; cycles and deep chains are errors."""
        if ref.name in self._sizes:
            return self._sizes[ref.name]
        block = self._block(ref)
        if block is None:
            return 0
        if ref.name in self._sizing:
            path = " -> ".join([*self._sizing[-5:], ref.name])
            self._error(f"{ref.name!r} refers to itself ({path})", ref.span, code="self-reference")
            return 0
        if len(self._sizing) >= MAX_BLOCK_DEPTH:
            outer = self._outermost or ref
            path = " -> ".join([*self._sizing[:3], "...", *self._sizing[-2:], ref.name])
            message = (
                f"blocks nested too deep: {outer.name!r} uses blocks more than {MAX_BLOCK_DEPTH} levels deep ({path})"
            )
            hint = f"the limit is passed where {self._sizing[-1]!r} uses {ref.name!r}"
            self._error(message, outer.span, hint, code="blocks-too-deep")
            return 0
        if not self._sizing:
            self._outermost = ref
        self._sizing.append(ref.name)
        self._sizes[ref.name] = self._size(block)
        self._sizing.pop()
        return self._sizes[ref.name]

    def _repeat_size(self, node: ast.Repeat) -> int:
        times = _repeat_count(node.count)
        if isinstance(times, str):
            self._error(times, node.count.span, code="bad-repeat")
            return 0
        total = times * self._size(node.body)
        if total > MAX_LAYERS:
            message = f"this repetition expands to {total:,} layers; the limit is {MAX_LAYERS:,}"
            self._error(message, node.span, code="too-many-layers")
            return 0
        return total

    def _block(self, ref: ast.Ref) -> ast.Chain | None:
        if ref.name in self.blocks:
            return self.blocks[ref.name]
        if ref.name.upper() in LAYERS:
            close = ref.name.upper()
            hint = (
                f"a merge takes branches: {close}(A | B)"
                if close in MERGES
                else f"a layer takes parentheses: {close}()"
            )
        else:
            close = suggest(ref.name, [*LAYERS, *self.blocks])
            hint = f"did you mean {close}?" if close else None
        fixes = _name_fixes(ref, close)
        if close not in self.blocks:  # a Keras or PyTorch class name: say which code it is
            hint, fixes = borrowed_hint(ref.name, LAYERS, span=ref.span) or (hint, fixes)
        self._error(f"unknown name {ref.name!r}", ref.span, hint, code="unknown-name", fixes=fixes)
        return None

    def _emit(self, node: ast.Node, out: list[Item]) -> None:
        match node:
            case ast.Call():
                out.append(node)
            case ast.Merge():
                branches = tuple(self._emitted(branch) for branch in node.branches)
                names = self._outputs(node) if LAYERS[node.code].is_output else ()
                out.append(Expanded(node, branches, names))
            case ast.Chain():
                for element in node.elements:
                    self._emit(element, out)
            case ast.Ref():
                self._use(node, out)
            case ast.Repeat():
                start, named = len(out), len(self.tensors)
                self._scoped(node.body, out, _Scope(self._scope))
                if len(self.tensors) == named:  # copies of the same objects: no names to keep apart
                    out.extend(out[start:] * (int(node.count.value) - 1))
                else:
                    for _ in range(int(node.count.value) - 1):
                        self._scoped(node.body, out, _Scope(self._scope))
            case ast.Named():
                self._emit(node.body, out)
                self._define(node, out)
            case ast.Tensor():
                key = self._lookup(node)
                if key is not None:
                    out.append(Take(key, node.span, node.name))
            case _:
                assert_never(node)

    def _use(self, ref: ast.Ref, out: list[Item]) -> None:
        """A block's layers, between an Enter and a Leave where uses are marked."""
        block, marked = self.blocks[ref.name], self._marks > 0
        if marked:
            out.append(Enter(ref.name))
            self._marks -= 1
        self._scoped(block, out, _Scope(None, ref.name, block))
        if marked:
            self._marks += 1
            out.append(LEAVE)

    def _scoped(self, node: ast.Node, out: list[Item], scope: _Scope) -> None:
        outer, self._scope = self._scope, scope
        self._emit(node, out)
        self._scope = outer

    # --- named tensors ---

    def _outputs(self, node: ast.Merge) -> tuple[str, ...]:
        """``OUT``'s output names; a name that names an output is used. Two outputs of one name are an error."""
        names: dict[str, ast.Span] = {}
        for index, branch in enumerate(node.branches, 1):
            name, span = output_name(branch, index)
            last = branch.elements[-1]
            if isinstance(last, ast.Named):
                key = self._scope.find(last.name)
                if key is not None:
                    tensor = self.tensors[key]
                    self.tensors[key] = Tensor(tensor.name, tensor.span, used=True)
            if name in names:
                first = names[name]
                hint = (
                    f"the first output named {name!r} is on line {first.line}, column {first.column}; "
                    f"name one of them apart ({'ID() as other' if isinstance(last, ast.Tensor) else '... as other'})"
                )
                self._error(f"two outputs are named {name!r}", span, hint, code="output-name")
            names.setdefault(name, span)
        return tuple(names) if len(names) == len(node.branches) else ()

    def _define(self, node: ast.Named, out: list[Item]) -> None:
        if node.name == "block":
            self._error("'block' is a reserved word; give the tensor another name", node.name_span, code="tensor-name")
            return
        earlier = self._scope.find(node.name)
        if earlier is not None:
            first = self.tensors[earlier].span
            hint = f"it is first defined on line {first.line}, column {first.column}; give this tensor another name"
            self._error(f"the name {node.name!r} is defined twice", node.name_span, hint, code="tensor-name")
            return
        self._scope.names[node.name] = len(self.tensors)
        names_input = isinstance(node.body, ast.Call) and node.body.code == "IN"  # an input's name: never unused
        self.tensors.append(Tensor(node.name, node.name_span, used=names_input))
        out.append(Mark(len(self.tensors) - 1))

    def _lookup(self, node: ast.Tensor) -> int | None:
        """The key of the tensor ``@name`` means here, or None with an error saying why there is none."""
        key = self._scope.find(node.name)
        if key is not None:
            tensor = self.tensors[key]
            self.tensors[key] = Tensor(tensor.name, tensor.span, used=True)
            return key
        message, hint = self._undefined(node)
        self._error(message, node.span, hint, code="unknown-tensor")
        return None

    def _undefined(self, node: ast.Tensor) -> tuple[str, str | None]:
        """Why ``@name`` names no tensor here: later in the text, in a repetition, another definition, or nowhere."""
        name, root = node.name, self._scope.root
        here = [named for named in _names(root) if named.name == name] if root is not None else []
        if any(named.span.start >= node.span.end for named in here):
            hint = f"'@{name}' goes back to a tensor named earlier in the text: move '... as {name}' before it"
            return f"the tensor {name!r} is used before it is defined", hint
        if here:
            hint = "each copy of a repetition, and each use of a block, has its own names; name the tensor outside it"
            return f"the tensor {name!r} is named inside a repetition or block, and is not seen here", hint
        owners = [owner for owner, chain in self.blocks.items() if any(n.name == name for n in _names(chain))]
        if owners:
            hint = "names are local to one definition: name the tensor in the definition that uses it"
            return f"the tensor {name!r} is defined in {owners[0]!r}, not here", hint
        close = suggest(name, self._scope.visible())
        if close:
            return f"no tensor is named {name!r}", f"did you mean @{close}?"
        return f"no tensor is named {name!r}", f"name a tensor first: CN(32) as {name}, then use it with @{name}"

    def _unused(self) -> None:
        """A name never used is a dangling tensor: an error, once per place it is written."""
        seen: set[int] = set()
        used = {tensor.span.start for tensor in self.tensors if tensor.used}
        for tensor in self.tensors:
            if tensor.used or tensor.span.start in used or tensor.span.start in seen:
                continue
            seen.add(tensor.span.start)
            hint = f"use it with @{tensor.name} (a merge's branch: ADD(@{tensor.name} | ...)), or remove 'as {tensor.name}'"
            self._error(f"the tensor {tensor.name!r} is named but never used", tensor.span, hint, code="unused-tensor")

    def _emitted(self, node: ast.Node) -> list[Item]:
        items: list[Item] = []
        self._emit(node, items)
        return items

    def _error(self, message: str, span: ast.Span, hint: str | None = None, code: str | None = None, fixes=()) -> None:
        if (message, span) not in self._said:  # a repetition's copies meet the same mistake
            self._said.add((message, span))
            self.diagnostics.append(Diagnostic(VALUE, message, span, hint=hint, code=code, fixes=fixes))


def _name_fixes(ref: ast.Ref, close: str | None) -> tuple[Fix, ...]:
    """An unknown name close to a block's name (or a layer's code) becomes that block (or layer)."""
    if close is None or close in MERGES:
        return ()
    new = f"{close}()" if close in LAYERS else close
    return (Fix(f"Change {ref.name} to {new}", (Edit(ref.span, new),)),)


def _names(node: ast.Node) -> list[ast.Named]:
    """Every ``as name`` a chain writes (blocks are not followed)."""
    match node:
        case ast.Named():
            return [node, *_names(node.body)]
        case ast.Chain():
            return [named for element in node.elements for named in _names(element)]
        case ast.Merge():
            return [named for branch in node.branches for named in _names(branch)]
        case ast.Repeat():
            return _names(node.body)
        case ast.Call() | ast.Ref() | ast.Tensor():
            return []
        case _:
            assert_never(node)


def output_name(branch: ast.Chain, index: int) -> tuple[str, ast.Span]:
    """An ``OUT`` branch's output name and where it is written: the branch's last ``as name``, else the
    ``@name`` the branch consists of, else ``out_<index>`` (1-based) at the branch."""
    last = branch.elements[-1]
    if isinstance(last, ast.Named):
        return last.name, last.name_span
    if len(branch.elements) == 1 and isinstance(last, ast.Tensor):
        return last.name, last.span
    return f"out_{index}", branch.span


def _repeat_count(count: ast.Number) -> int | str:
    """The repetition count, or the message saying why it is not one."""
    if isinstance(count.value, float) and count.value != float("inf"):
        return f"a repetition count must be a whole number, not {count.text}"
    if count.value < 1:
        return f"a repetition count must be at least 1, not {count.text}"
    if count.value == float("inf"):
        return f"a repetition count must be at most {MAX_LAYERS:,}, not {count.text[:12]}..."
    return int(count.value)
