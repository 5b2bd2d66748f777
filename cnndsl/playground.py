"""The documentation site's playground: one request in, one JSON answer out.

The page (``docs/playground.md``) runs this module in the browser, through Pyodide, in a
web worker. It calls what the command line calls (``cnndsl check``'s diagnostics with
carets, ``cnndsl summary``'s table, ``cnndsl draw``'s picture, ``cnndsl fmt``'s text) and
returns plain JSON, so that the page only shows what it is given; a hover is the language
server's (:mod:`cnndsl.lsp.analysis`). It imports nothing
outside the package's core: no framework, no NumPy.

>>> import json
>>> answer = json.loads(respond(json.dumps({"spec": "CN(8) -> GAP()", "input": "32,32,3"})))
>>> answer["ok"], answer["total_params"], answer["canonical"]
(True, 314, 'CN(8) -> GAP()\\n')
>>> answer = json.loads(respond(json.dumps({"spec": "CN(8) ->"})))
>>> answer["ok"], answer["diagnostics"].splitlines()[0]
(False, '<spec>:1:9: error: expected a layer such as CN(32), found the end of the spec')
"""

from __future__ import annotations

import json
import time
from argparse import ArgumentTypeError
from typing import Any

from cnndsl.backends.partial import Drawable, source_drawable
from cnndsl.cli.options import classes_arg, input_shape_arg
from cnndsl.errors import USAGE, Diagnostic, SpecError, render
from cnndsl.formatter import format_text
from cnndsl.inputs import Source, file_models
from cnndsl.records import replace
from cnndsl.report import architecture_hash, summary_table
from cnndsl.settings import Settings
from cnndsl.shapes import format_shape
from cnndsl.tasks import TASKS, task_named
from cnndsl.version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cnndsl.lsp.analysis import Analysis

NAME = "<spec>"
"""What diagnostics name the editor's text, as ``cnndsl check`` names a spec given on its command line."""

FIELDS = ("spec", "input", "classes", "task", "scale", "picture")
"""A request's fields; every one but ``spec`` may be missing or null."""

_analyses: dict[str, Analysis] = {}
"""The language server's analysis of the last text hovered, by its text and fields."""
_waiting: list[tuple[Drawable, str, bool, str]] = []
"""The picture still to draw of the last answer given without it (``picture`` false): :func:`draw`'s arguments."""


class RequestError(ValueError):
    """A request's field the checker cannot take (an input shape of two sizes, a task of no name)."""


def respond(request: str) -> str:
    """The JSON answer to one JSON request (see :func:`answer`).

    The page asks without the picture (``"picture": false``), shows the answer, then asks
    :func:`picture` for it: the text answers sooner, and typing on starts the next check.
    """
    try:
        fields = json.loads(request)
    except (ValueError, RecursionError):
        fields = None
    if not isinstance(fields, dict):
        return json.dumps(_refused("the request is not a JSON object"))
    return json.dumps(answer(**{key: fields.get(key) for key in FIELDS}))


def answer(
    spec: Any, input: Any = None, classes: Any = None, task: Any = None, scale: Any = None, picture: Any = True
) -> dict:
    """Everything the page shows for one spec (or spec file) and its settings.

    ``ok``; ``diagnostics``, rendered with carets as ``cnndsl check`` prints them, and
    ``problems``, the same as ``check --format json`` lists them; for the model shown (a
    file's last model), ``summary`` (``cnndsl summary``'s table), ``total_params``,
    ``output_shape`` and ``hash``; ``svg``, ``cnndsl draw``'s picture (a failing spec drawn
    up to its first shape error; None with ``picture`` false, :func:`picture` draws it);
    ``canonical``, what ``cnndsl fmt`` writes; ``ms``, the time the answer took in this process.
    """
    started = time.perf_counter()
    _waiting.clear()
    try:
        result = _answer(_text(spec), _settings(input, classes, task, scale))
    except RequestError as error:
        result = _refused(str(error))
    drawn = result.pop("drawn", None)
    if drawn is not None and picture is False:
        _waiting.append(drawn)
    elif drawn is not None:
        result["svg"] = _draw(*drawn)
    result["ms"] = round((time.perf_counter() - started) * 1000, 3)
    return result


def picture() -> str:
    """The picture of the last answer given without it, as JSON (``svg``: None when there is none)."""
    started = time.perf_counter()
    svg = _draw(*_waiting.pop()) if _waiting else None
    return json.dumps({"svg": svg, "ms": round((time.perf_counter() - started) * 1000, 3)})


def _draw(*arguments) -> str:
    """``cnndsl draw``'s SVG (the drawing code loads on first use: the first answer needs none of it)."""
    from cnndsl.backends.svg import draw

    return draw(*arguments)


def hover(request: str) -> str:
    """What the language server's hover shows at a character ``offset`` of the spec, with the same
    fields as :func:`respond`'s request: JSON ``{"text": Markdown or None, "start", "end"}``.

    The document's analysis is kept for the next hover of the same text and fields.
    """
    try:
        fields = json.loads(request)
        spec, offset = _text(fields["spec"]), fields["offset"]
        settings = _settings(*(fields.get(key) for key in FIELDS[1:5]))
    except (ValueError, RecursionError, KeyError, TypeError, AttributeError, RequestError):
        return json.dumps({"text": None})
    from cnndsl.lsp.analysis import analyze_spec_file, hover_at

    key = json.dumps([spec, *(settings.get(name) for name in ("input_shape", "num_classes", "task", "scale"))])
    if key not in _analyses:
        _analyses.clear()
        task = task_named(settings["task"]) if settings["task"] else None
        found = Settings(
            input_shape=settings["input_shape"], classes=settings["num_classes"], task=task, scale=settings["scale"]
        )
        _analyses[key] = analyze_spec_file(spec, found, "spec")
    found = hover_at(_analyses[key], offset) if isinstance(offset, int) else None
    text, start, end = found if found is not None else (None, None, None)
    return json.dumps({"text": text, "start": start, "end": end})


def info() -> str:
    """What the page needs before its first request, as JSON: the version and the task names."""
    return json.dumps({"version": __version__, "tasks": list(TASKS), "scales": True})


def _text(spec: Any) -> str:
    if not isinstance(spec, str):
        raise RequestError("the spec must be text")
    return spec


def _settings(input: Any, classes: Any, task: Any, scale: Any) -> dict:
    """The check's keyword arguments from the page's fields (text, as the command line's flags take
    them), each refused with the command line's own message."""
    settings: dict[str, Any] = {"input_shape": None, "num_classes": None, "task": None}
    try:
        if _given(input):
            settings["input_shape"] = input_shape_arg(_field(input, "input"))
        if _given(classes):
            settings["num_classes"] = classes_arg(_field(classes, "classes"))
        if _given(task):
            settings["task"] = task_named(_field(task, "task")).name
    except (ArgumentTypeError, ValueError) as error:
        raise RequestError(str(error)) from None
    settings["scale"] = _field(scale, "scale") if _given(scale) else None
    return settings


def _given(field: Any) -> bool:
    return field is not None and field != ""


def _field(field: Any, name: str) -> str:
    if not isinstance(field, str):
        raise RequestError(f"the {name} field must be text")
    return field.strip()


def _answer(text: str, settings: dict) -> dict:
    result: dict[str, Any] = {"ok": False, "summary": None, "svg": None, "total_params": None}
    result["canonical"] = _canonical(text)
    sources = [replace(source, scale=settings["scale"]) for source in file_models(NAME, text, "spec")]
    shown = sources[-1] if sources else None
    found: list[Diagnostic] = []
    for source in sources[:-1]:  # a file's other models: checked, as `cnndsl check` checks each
        try:
            found += source.check(**_check_arguments(settings)).warnings
        except SpecError as error:
            found += error.diagnostics
    if shown is None:
        found.append(Diagnostic(USAGE, "no model to check: the text defines blocks only"))
    else:
        found += _show(shown, settings, result)
    result["ok"] = shown is not None and not any(d.severity == "error" for d in found)
    result["diagnostics"] = render(found, text, NAME) if found else ""
    result["problems"] = [d.as_dict() for d in found]
    return result


def _check_arguments(settings: dict) -> dict:
    return {"input_shape": settings["input_shape"], "num_classes": settings["num_classes"], **_rest(settings)}


def _rest(settings: dict) -> dict:
    return {key: value for key, value in settings.items() if key not in ("input_shape", "num_classes", "scale")}


def _show(source: Source, settings: dict, result: dict) -> list[Diagnostic]:
    """Check and draw the model shown; its diagnostics (warnings included)."""
    try:
        drawable = source_drawable(source, settings["input_shape"], settings["num_classes"], **_rest(settings))
    except SpecError as error:
        return list(error.diagnostics)
    result["drawn"] = (drawable, "boxes", False, source.label)
    if drawable.failed is not None:
        return list(drawable.diagnostics)
    _describe(drawable, result)
    return list(drawable.model.warnings)


def _describe(drawable: Drawable, result: dict) -> None:
    model = drawable.model
    result["summary"] = summary_table(model)
    result["total_params"] = model.total_params
    result["output_shape"] = format_shape(model.output_shape)
    result["hash"] = architecture_hash(model)
    result["layers"] = len(model.layers)


def _canonical(text: str) -> str | None:
    """What ``cnndsl fmt`` writes for the text; None when it does not read."""
    try:
        return format_text(text)
    except SpecError:
        return None


def _refused(message: str) -> dict:
    return {
        "ok": False,
        "diagnostics": f"cnndsl: error: {message}",
        "problems": [Diagnostic(USAGE, message).as_dict()],
        "summary": None,
        "svg": None,
        "canonical": None,
        "total_params": None,
    }
