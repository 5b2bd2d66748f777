"""Checking: text -> AST -> passes -> checked model.

``parse`` and ``check`` never import a framework; building the checked model
(``compile_spec``) is :mod:`cnndsl.compiler`'s.
"""

from __future__ import annotations

import contextlib
import gc
import operator
from collections.abc import Iterator, Mapping, Sequence

from cnndsl import ast
from cnndsl.errors import SHAPE, VALUE, Diagnostic, SpecError, raise_errors
from cnndsl.layers import MAX_INPUT_SIZE, MAX_UNITS
from cnndsl.model import DEFAULT_CLASSES, DEFAULT_INPUT_SHAPE, CheckedModel, Input, Layer
from cnndsl.passes.expand import MAX_LAYERS, Expander
from cnndsl.passes.infer import Inferrer
from cnndsl.passes.resolve import Opened, Resolver, attach_head
from cnndsl.passes.scale import Chosen, Scaler, head_calls
from cnndsl.passes.scale import choose as choose_scale
from cnndsl.records import record, replace
from cnndsl.shapes import format_size
from cnndsl.syntax import parse, span_at
from cnndsl.tasks import Task, task_for

__all__ = ["parse", "check", "check_chain", "check_partial", "Partial", "valid_input_shape", "valid_classes"]


def check(
    text: str,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    task: str | Task | None = None,
    scale: str | None = None,
) -> CheckedModel:
    """Parse and check a spec; return its layer table or raise SpecError.

    ``input_shape`` (height, width, channels) defaults to the spec's ``IN(...)``,
    else 28x28x1; ``num_classes`` defaults to 10 (the task's default: 2 classes to
    ``task="segment"``, 1 output to ``"regress"``). ``task`` (``classify``, ``segment``,
    ``regress``) sets the head rule and the shape the model must end in. Never imports TensorFlow.
    ``text`` may also be a model read from a file or a notebook cell (:class:`cnndsl.inputs.Source`),
    checked with its file's blocks and its cell's options. ``scale`` names the scale of a file's
    family to check at (``scale n(0.50, 0.25, 1024)`` lines); a file with scales is checked at its
    first by default. A spec without scales given a ``scale`` is a value error.
    """
    if not isinstance(text, str) and callable(getattr(text, "check", None)):
        if scale is None:  # a model read before scales came takes no scale keyword
            return text.check(input_shape, num_classes, task=task)
        return text.check(input_shape, num_classes, task=task, scale=scale)
    with paused_gc():
        chosen = choose_scale((), scale, text)
        return _check_chain(parse(text), text, input_shape, num_classes, task=task, scale=chosen)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Hold off the cycle collector while a spec is checked.

    Checking allocates one object per token and node, none of them in cycles; the
    collector's passes over that growing heap took half the time of a large spec.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_chain(
    chain: ast.Chain,
    source: str,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    blocks: Mapping[str, ast.Chain] | None = None,
    default_input_shape: Sequence[int] | None = None,
    task: str | Task | None = None,
    marked: bool = False,
    scale: Chosen | None = None,
) -> CheckedModel:
    """Run the passes over a parsed chain.

    ``blocks`` resolves named references; ``default_input_shape`` (a project's
    setting) applies when neither ``input_shape`` nor the spec's ``IN(...)`` says.
    ``marked``: record each use of a block (``CheckedModel.blocks``), for pictures.
    ``scale``: the scale of the file's family to check at (:func:`cnndsl.passes.scale.choose`).
    """
    with paused_gc():
        return _check_chain(
            chain, source, input_shape, num_classes, blocks, default_input_shape, task, marked, scale=scale
        )


@record
class Partial:
    """What a check that failed on shapes alone leaves: inference's work up to its errors.

    ``resolved`` are the items inference walked (the task's head included), ``shape`` and
    ``classes`` the input and class count in force, ``inferrer`` the inference that ran
    (its ``built`` layers, in the order it built them), ``error`` what the check raised.
    """

    resolved: list
    shape: tuple
    classes: int
    inferrer: Inferrer
    error: SpecError


def check_partial(
    chain: ast.Chain,
    source: str,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    blocks: Mapping[str, ast.Chain] | None = None,
    default_input_shape: Sequence[int] | None = None,
    task: str | Task | None = None,
    marked: bool = False,
    inferrer: Inferrer | None = None,
    scale: Chosen | None = None,
) -> CheckedModel | Partial:
    """Check a parsed chain once: the checked model, or where only shapes fail, the :class:`Partial` work.

    A picture of a failing spec is drawn from it. ``inferrer`` is the inference to run
    (one that records more as it goes); a syntax, value or budget error raises SpecError.
    """
    with paused_gc():
        return _check_chain(
            chain,
            source,
            input_shape,
            num_classes,
            blocks,
            default_input_shape,
            task,
            marked,
            inferrer,
            partial=True,
            scale=scale,
        )


def _check_chain(
    chain, source, input_shape, num_classes, blocks=None, default_input_shape=None, task=None, marked=False,
    inferrer=None, partial=False, scale=None,
) -> CheckedModel | Partial:  # fmt: skip
    task = task_for(task, chain)
    resolved, shape, classes, scale = _resolved_at_scale(
        chain, source, input_shape, num_classes, blocks, default_input_shape, task, marked, scale
    )
    first_name, declared = _first_input(resolved, source)
    inferrer = inferrer if inferrer is not None else Inferrer()
    first = Input(first_name, (None, *shape), declared) if first_name else None
    infos, tree = inferrer.infer(resolved, (None, *shape), first)
    failed = any(d.severity == "error" for d in inferrer.diagnostics)
    explicit = num_classes is not None
    asked = classes
    several = bool(inferrer.outputs)  # OUT(...): each output's shape is the spec's, no task's output contract
    unchecked = failed or several
    head, classes = (None, classes) if unchecked else task.check_output(infos, classes, explicit, (None, *shape))
    hidden = None if failed or head or several else task.hidden_head(infos, classes, explicit)
    found = [problem for problem in (head, hidden) if problem]
    diagnostics = [*inferrer.diagnostics, *found, *_layer_count(infos, chain)]
    if not partial:
        raise_errors(diagnostics, source)
    else:
        try:
            raise_errors(diagnostics, source)
        except SpecError as error:
            if any(d.kind != SHAPE for d in error.diagnostics if d.severity == "error"):
                raise
            return Partial(resolved, shape, asked, inferrer, error)
    warnings = tuple(d for d in diagnostics if d.severity == "warning")
    graph = tree if inferrer.merged else None
    return CheckedModel(
        tuple(infos), (None, *shape), classes, source, warnings, graph, tuple(inferrer.uses), task=task, scale=scale,
        outputs=tuple(inferrer.outputs), inputs=(first, *inferrer.inputs) if inferrer.inputs and first else (),
    )  # fmt: skip


def _resolved_at_scale(chain, source, input_shape, num_classes, blocks, default_input_shape, task, marked, scale):
    """:func:`resolved_chain` at ``scale`` (None: as written), and the scale with what it changed.

    The task's head keeps its numbers: a last layer written as the head is left as written (with
    the layer that gives a softmax of the model's own its count), and where the task appends a
    head after it instead, it is scaled like the rest.
    """
    if scale is None:
        return (*resolved_chain(chain, source, input_shape, num_classes, blocks, default_input_shape, task, marked),
                None)  # fmt: skip

    def at(keep: tuple[ast.Call, ...]):
        scaler = Scaler(scale.scaling, keep)
        scaled, scaled_blocks = scaler.chain(chain), scaler.blocks(blocks or {}, chain)
        raise_errors(scaler.diagnostics, source)
        alone = frozenset(call.span for call in keep)
        resolved = resolved_chain(
            scaled, source, input_shape, num_classes, scaled_blocks, default_input_shape, task, marked, alone=alone
        )
        return resolved, scaler

    head = head_calls(chain)
    (resolved, shape, classes), scaler = at(head[:1])
    if head and not _head_at(resolved, head[0].span):  # the task appends a head: the last layer scales too
        (resolved, shape, classes), scaler = at(())
    elif len(head) > 1:  # a head of the model's own: the layer that gives its count keeps its numbers too
        (resolved, shape, classes), scaler = at(head)
    return resolved, shape, classes, replace(scale, changes=tuple(scaler.changes))


def _head_at(resolved: list, span: ast.Span) -> bool:
    """Whether the task took the layer written at ``span`` as its head."""
    return any(isinstance(item, Layer) and item.head and item.span == span for item in resolved)


def resolved_chain(
    chain,
    source,
    input_shape,
    num_classes,
    blocks=None,
    default_input_shape=None,
    task=None,
    marked=False,
    alone=frozenset(),
):
    """The passes before inference: ``(resolved items with the task's head, input shape, classes)``.

    Raises a located SpecError for a space, an undefined name or a value error.
    """
    if "{" in source:  # braces: maybe a search space, which cnndsl.space knows (loaded only then)
        from cnndsl.space import refuse_space

        refuse_space(chain, source, blocks)
    expander = Expander(blocks, marked)
    items = expander.expand(chain)
    raise_errors(expander.diagnostics, source)
    resolver = Resolver(source, alone, tuple(tensor.name for tensor in expander.tensors))
    resolved = resolver.resolve(items)
    task = task_for(task, chain)
    shape, classes, problems = _settings(resolver, input_shape, num_classes, default_input_shape, task)
    raise_errors([*resolver.diagnostics, *problems], source)
    end = span_at(source, chain.span.end, chain.span.end)
    if any(isinstance(item, Opened) for item in resolved):  # several inputs: the first's name and place
        resolved = [FirstInput(resolver.input_name or "input_1", resolver.declared_input), *resolved]
    return attach_head(task, resolved, classes, end, explicit=num_classes is not None), shape, classes


@record
class FirstInput:
    """Before the resolved items of a model of several inputs: its first input's name, and its ``IN(...)``
    (shape and span) where the spec wrote one."""

    name: str
    declared: tuple | None


def _first_input(resolved: list, source: str) -> tuple[str | None, ast.Span | None]:
    """A model of several inputs: its first input's name and ``IN(...)`` (taken off the front of ``resolved``)."""
    if resolved and isinstance(resolved[0], FirstInput):
        first = resolved.pop(0)
        return first.name, first.declared[1] if first.declared else None
    return None, None


def _layer_count(infos, chain: ast.Chain) -> list[Diagnostic]:
    """The layer limit counts the model as built: the classifier head included."""
    if len(infos) <= MAX_LAYERS:
        return []
    message = f"the model has {len(infos):,} layers with its classifier head; the limit is {MAX_LAYERS:,}"
    return [Diagnostic(VALUE, message, chain.span, code="too-many-layers")]


def _settings(
    resolver: Resolver, input_shape, num_classes, default_input_shape=None, task: Task | None = None
) -> tuple[tuple[int, ...], int, list[Diagnostic]]:
    """The input shape and class count in force, and any conflict between sources."""
    problems = []
    declared = resolver.declared_input
    shape = valid_input_shape(input_shape) if input_shape is not None else None
    if declared and shape is not None and not _fits(declared[0], shape):
        message = f"the spec declares input {format_size(declared[0])} but the input is {format_size(shape)}"
        problems.append(Diagnostic(VALUE, message, declared[1], code="input-conflict"))
    shape = shape or (declared[0] if declared else tuple(default_input_shape or DEFAULT_INPUT_SHAPE))
    default = DEFAULT_CLASSES if task is None else task.default_outputs
    classes = default if num_classes is None else valid_classes(num_classes)
    return shape, classes, problems


def _fits(declared: tuple, given: tuple) -> bool:
    """A given input shape agrees with ``IN(...)`` where the spec gives a size (``None`` takes any)."""
    return all(mine is None or mine == theirs for mine, theirs in zip(declared, given))


def valid_classes(value: object, name: str = "num_classes") -> int:
    """A class count from 1 to MAX_UNITS (an int, not a bool or a float), else ValueError.

    The one rule for ``num_classes=``, ``--classes`` and the ``classes`` setting.
    """
    number = _whole(value)
    if number is None or not 1 <= number <= MAX_UNITS:
        raise ValueError(f"{name} must be a whole number from 1 to {MAX_UNITS:,}, not {value!r}")
    return number


def valid_input_shape(value: object, name: str = "input_shape") -> tuple[int, int, int]:
    """(height, width, channels), each a whole number from 1 to MAX_INPUT_SIZE, else ValueError.

    The one rule for ``input_shape=``, ``--input-shape`` and the ``input-shape`` setting.
    """
    sizes = () if isinstance(value, (str, bytes)) else _sizes(value)
    numbers = tuple(_whole(size) for size in sizes)
    if len(numbers) != 3 or not all(n is not None and 1 <= n <= MAX_INPUT_SIZE for n in numbers):
        raise ValueError(
            f"{name} must be (height, width, channels), each a whole number from 1 to {MAX_INPUT_SIZE:,}, not {value!r}"
        )
    return numbers  # type: ignore[return-value]


def _sizes(value: object) -> tuple:
    """The items of a sequence (a tuple, a list, a numpy array), else ()."""
    try:
        return tuple(value)  # type: ignore[arg-type]
    except TypeError:
        return ()


def _whole(value: object) -> int | None:
    """An integer (numpy's included) as an int; None for bools, floats and anything else."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None
