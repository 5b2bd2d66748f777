"""Spec files: named definitions, blocks reused by name, models checked on their own.

    # a comment
    block stem = CN(32,3) -> BN()
    small = stem*2 -> MP(2) -> FL() -> DN(128)
    scale n(0.50, 0.25, 1024)

A definition may use any definition above it. Unknown names, names used before
their definition, cycles and redefinitions are value errors with positions. A name
may look like a layer code (``block up = ...``): a code is a code only before ``(``,
so a bare name is always a definition.

Scale lines declare the file's family of scales (:class:`Scaling`, one per line, in
order); duplicate names and values out of range are value errors at their spans. A scale
line's keywords beyond its own (``divisor``, ``channels``, ``repeats``) are the scale's
variables (``scale m(0.50, 1.00, 512, c3k=true)``): every scale of the family defines the
same ones, and a bare word naming one, as any call's argument, takes the chosen scale's value
(:mod:`cnndsl.passes.scale`).
"""

from __future__ import annotations

from cnndsl import ast
from cnndsl.ast import assert_never
from cnndsl.errors import VALUE, Diagnostic
from cnndsl.records import record


@record
class Model:
    """One model of a file: its name and the chain to check."""

    name: str
    chain: ast.Chain


CHANNEL_ROUNDINGS = ("ceil", "nearest")
"""How a scale rounds a width: Ultralytics' ceiling to the divisor, or timm's nearest multiple."""
REPEAT_ROUNDINGS = ("round", "ceil")
"""How a scale rounds a repeat count: Ultralytics' round, or EfficientNet's ceiling."""
MAX_MULTIPLIER = 64
"""Largest depth or width multiplier a scale may give (the largest real family goes to 2 or so)."""


@record
class Scaling:
    """One scale of a file's family: ``scale n(depth, width, cap, divisor=8, channels=ceil, repeats=round)``."""

    name: str
    depth: float
    width: float
    cap: int | None
    """The most channels a width scales from (``min(c, cap)``); None: no cap (``none``)."""
    divisor: int = 8
    channels: str = "ceil"
    repeats: str = "round"
    span: ast.Span | None = None
    """The scale line, for messages about the scale chosen."""
    variables: tuple[tuple[str, ast.Value], ...] = ()
    """The scale's variables in the order written: ``c3k=true`` is ``("c3k", Word("true"))``."""

    def variable(self, name: str) -> ast.Value | None:
        """The value of the variable ``name`` at this scale; None where the scale has none of that name."""
        return next((value for key, value in self.variables if key == name), None)

    def describe(self) -> str:
        """``n (depth 0.5, width 0.25, cap 1024)``, with the keywords that differ from the defaults."""
        cap = "no cap" if self.cap is None else f"cap {self.cap}"
        extra = "".join(
            f", {name} {value}"
            for name, value, default in (
                ("divisor", self.divisor, 8), ("channels", self.channels, "ceil"), ("repeats", self.repeats, "round"),
            )
            if value != default
        )  # fmt: skip
        extra += "".join(f", {name} {value_text(value)}" for name, value in self.variables)
        return f"{self.name} (depth {self.depth:g}, width {self.width:g}, {cap}{extra})"


def value_text(value: ast.Value) -> str:
    """A value as the notation writes it: ``true``, ``0.5``, ``(3, 3)``."""
    match value:
        case ast.Number():
            return value.text
        case ast.Word():
            return value.name
        case ast.Tuple():
            return f"({', '.join(value_text(item) for item in value.items)})"
        case _:
            assert_never(value)


@record
class Definitions:
    """What a spec file defines: its models in order, every chain by name, its scales, and problems."""

    models: tuple[Model, ...]
    chains: dict[str, ast.Chain]
    diagnostics: tuple[Diagnostic, ...]
    scales: tuple[Scaling, ...] = ()


def resolve_scales(lines: tuple[ast.Scale, ...]) -> tuple[tuple[Scaling, ...], list[Diagnostic]]:
    """The file's scales, in order, and the problems of their lines (duplicates, bad values)."""
    scales: list[Scaling] = []
    problems: list[Diagnostic] = []
    first: dict[str, ast.Scale] = {}
    for line in lines:
        if line.name in first:
            message = f"the scale {line.name!r} is already declared on line {first[line.name].name_span.line}"
            problems.append(_error(message, line.name_span, "duplicate-scale"))
            continue
        first[line.name] = line
        scaling, found = _scaling(line)
        problems += found
        if scaling is not None:
            scales.append(scaling)
    problems += _missing_variables(first)
    return tuple(scales), problems


SETTINGS = ("divisor", "channels", "repeats")
"""A scale line's own keywords; any other keyword is a variable of the scale."""
RESERVED_VARIABLES = ("scaled", "true", "false", "none")
"""Words a variable may not be named: the call's pseudo-keyword and the words every value may be."""


def _missing_variables(first: dict[str, ast.Scale]) -> list[Diagnostic]:
    """Each scale line lacking a variable another scale of the family defines: an error at that line, naming it."""
    declared = {
        name: [arg.name for arg in line.args if arg.name and arg.name not in (*SETTINGS, *RESERVED_VARIABLES)]
        for name, line in first.items()
    }
    every: dict[str, str] = {}
    for name, variables in declared.items():
        for variable in variables:
            every.setdefault(variable, name)
    problems = []
    for name, line in first.items():
        for variable, where in every.items():
            if variable not in declared[name]:
                message = f"the scale {name!r} does not define {variable}=, which the scale {where!r} does"
                hint = "every scale of a family defines the same variables"
                problems.append(Diagnostic(VALUE, message, line.span, hint=hint, code="bad-scale"))
    return problems


SCALE_SIGNATURE = (
    "scale NAME(depth, width, cap, divisor=8, channels=ceil|nearest, repeats=round|ceil, VARIABLE=value, ...)"
)


def _scaling(line: ast.Scale) -> tuple[Scaling | None, list[Diagnostic]]:
    problems: list[Diagnostic] = []
    positional = [arg for arg in line.args if arg.name is None]
    keywords: dict[str, ast.Arg] = {}
    for arg in line.args:
        if arg.name is None:
            continue
        if arg.name in RESERVED_VARIABLES:
            message = f"a scale's variable may not be named {arg.name!r}: every call reads that word itself"
            problems.append(_error(message, arg.span, "bad-scale"))
        elif arg.name in keywords:
            problems.append(_error(f"the scale's {arg.name} is given twice", arg.span, "bad-scale"))
        else:
            keywords[arg.name] = arg
    if len(positional) != 3:
        message = f"a scale takes depth, width and channel cap, {len(positional)} given: {SCALE_SIGNATURE}"
        return None, [*problems, _error(message, line.span, "bad-scale")]
    depth = _multiplier(positional[0].value, "depth", problems)
    width = _multiplier(positional[1].value, "width", problems)
    cap = _cap(positional[2].value, problems)
    divisor = _whole(keywords["divisor"].value, "divisor", problems, 1, 1024) if "divisor" in keywords else 8
    channels = _word(keywords.get("channels"), CHANNEL_ROUNDINGS, "channels", problems)
    repeats = _word(keywords.get("repeats"), REPEAT_ROUNDINGS, "repeats", problems)
    if problems:
        return None, problems
    variables = tuple((name, arg.value) for name, arg in keywords.items() if name not in SETTINGS)
    return Scaling(line.name, depth, width, cap, divisor, channels, repeats, line.span, variables), []


def _multiplier(value: ast.Value, name: str, problems: list[Diagnostic]) -> float:
    number = value.value if isinstance(value, ast.Number) else None
    if number is None or not 0 < number <= MAX_MULTIPLIER:
        message = f"a scale's {name} multiplier must be a number above 0 and at most {MAX_MULTIPLIER}"
        problems.append(_error(message, value.span, "bad-scale"))
        return 1.0
    return float(number)


def _whole(value: ast.Value, name: str, problems: list[Diagnostic], low: int, high: int) -> int:
    number = value.value if isinstance(value, ast.Number) else None
    if not isinstance(number, int) or not low <= number <= high:
        message = f"a scale's {name} must be a whole number from {low:,} to {high:,}"
        problems.append(_error(message, value.span, "bad-scale"))
        return low
    return number


def _cap(value: ast.Value, problems: list[Diagnostic]) -> int | None:
    if isinstance(value, ast.Word) and value.name == "none":
        return None
    if isinstance(value, ast.Number):
        return _whole(value, "channel cap", problems, 1, 10**9)
    problems.append(_error("a scale's channel cap must be a whole number from 1, or none", value.span, "bad-scale"))
    return None


def _word(arg: ast.Arg | None, words: tuple[str, ...], name: str, problems: list[Diagnostic]) -> str:
    if arg is None:
        return words[0]
    if isinstance(arg.value, ast.Word) and arg.value.name in words:
        return arg.value.name
    message = f"a scale's {name} rounding is {' or '.join(words)}"
    problems.append(_error(message, arg.value.span, "bad-scale"))
    return words[0]


def resolve_definitions(spec_file: ast.SpecFile) -> Definitions:
    """Check names across definitions; every definition is visible to those after it."""
    seen: dict[str, ast.Definition] = {}
    scales, problems = resolve_scales(spec_file.scales)
    for definition in spec_file.definitions:
        problems += _name_problems(definition, seen)
        seen.setdefault(definition.name, definition)
    order = {d.name: i for i, d in reversed(list(enumerate(spec_file.definitions)))}
    for index, definition in enumerate(spec_file.definitions):
        problems += _reference_problems(definition, index, seen, order)
    models = tuple(Model(d.name, d.chain) for d in spec_file.definitions if not d.is_block)
    chains = {name: d.chain for name, d in seen.items()}
    return Definitions(models, chains, tuple(problems), scales)


def _name_problems(definition: ast.Definition, seen: dict[str, ast.Definition]) -> list[Diagnostic]:
    if definition.name in seen:
        first = seen[definition.name].name_span.line
        message = f"{definition.name!r} is already defined on line {first}"
        return [_error(message, definition.name_span, "duplicate-definition")]
    if definition.name == "block":
        message = "'block' is a reserved word; give the definition another name"
        return [_error(message, definition.name_span, "reserved-word")]
    return []


def _reference_problems(definition, index: int, everything: dict, order: dict) -> list[Diagnostic]:
    problems = []
    for ref in references(definition.chain):
        if ref.name not in everything:
            continue  # the expander reports unknown names, with a suggestion
        cycle = _cycle(ref.name, definition.name, everything)
        if cycle:
            message = "definitions refer to each other in a cycle: " + " -> ".join(cycle)
            problems.append(_error(message, ref.span, "cycle"))
        elif order[ref.name] >= index:
            line = everything[ref.name].name_span.line
            message = f"{ref.name!r} is used before its definition on line {line}"
            problems.append(_error(message, ref.span, "used-before-definition"))
    return problems


def _cycle(start: str, target: str, everything: dict) -> list[str] | None:
    """The path ``target -> start -> ... -> target`` if ``start`` leads back to ``target``."""
    stack, parents = [start], {start: target}
    while stack:
        name = stack.pop()
        if name == target:
            path = [name]
            while path[-1] != target or len(path) == 1:
                path.append(parents[path[-1]])
            return [*reversed(path)]
        for ref in references(everything[name].chain):
            if ref.name in everything and ref.name not in parents:
                parents[ref.name] = name
                stack.append(ref.name)
    return None


def references(node: ast.Node) -> list[ast.Ref]:
    """Every name a chain uses, in order."""
    return [leaf for leaf in leaves(node) if isinstance(leaf, ast.Ref)]


def leaves(node: ast.Node) -> list[ast.Call | ast.Ref]:
    """The layer calls and names a chain writes, in order (names are not followed)."""
    match node:
        case ast.Ref() | ast.Call():
            return [node]
        case ast.Chain():
            return [leaf for element in node.elements for leaf in leaves(element)]
        case ast.Merge():
            return [leaf for branch in node.branches for leaf in leaves(branch)]
        case ast.Repeat() | ast.Named():
            return leaves(node.body)
        case ast.Tensor():  # a named tensor of this definition: no name of the file
            return []
        case ast.Alternatives():  # a search space's `{A | B}` (cnndsl.space)
            return [leaf for option in node.options for leaf in leaves(option)]
        case _:
            assert_never(node)


def _error(message: str, span: ast.Span, code: str) -> Diagnostic:
    return Diagnostic(VALUE, message, span, code=code)
