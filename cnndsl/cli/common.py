"""What the commands' handlers share: exit codes, the project's settings under the flags,
the one model a command works on, and diagnostics printed with carets."""

from __future__ import annotations

import argparse
import sys

from cnndsl.errors import SpecError, render
from cnndsl.inputs import Source, UsageError, read_models
from cnndsl.settings import Settings, SettingsError, load_settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cnndsl.model import CheckedModel

EXIT_OK, EXIT_SPEC, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def project_settings(args: argparse.Namespace) -> Settings:
    """``[tool.cnndsl]`` of the nearest pyproject.toml, overridden by flags."""
    try:
        loaded = load_settings()
    except SettingsError as error:
        raise UsageError(str(error)) from None
    names = ("classes", "task", "max_params", "max_flops", "max_activations")
    flags = {name: getattr(args, name, None) for name in names}
    return loaded.merged(**flags)


def check_one(source: Source, args: argparse.Namespace, settings: Settings) -> CheckedModel:
    """Check with the flag's input shape, else the spec's IN(...), else the project's setting; at the scale
    of ``--scale``, else the project's, else the file's first (saying so in a note)."""
    source = at_scale(source, getattr(args, "scale", None), settings)
    model = source.check(args.input_shape, settings.classes, settings.input_shape, task=settings.task)
    say_scale(source, model, args)
    return model


def at_scale(source: Source, name, settings: Settings) -> Source:
    """The source with the scale ``name`` (``--scale``: draw's may be a picture's scale, a number, which is
    none) and the project's ``scale`` setting."""
    from cnndsl.records import replace

    setting = (settings.scale, settings.origin("scale")) if settings.scale is not None else None
    return replace(source, scale=name if isinstance(name, str) else None, scale_setting=setting)


def training_scale(source: Source) -> SpecError | None:
    """Before training a family of scales: a note where it trains at its file's first scale, none being
    chosen; the error (unreported) where the scale chosen is not one of the file's."""
    if not source.scales:
        return None
    try:
        chosen = source.chosen_scale()
    except SpecError as error:
        return error
    _say_default(source, chosen)
    return None


def say_scale(source: Source, model: CheckedModel | None, args: argparse.Namespace) -> None:
    """A note where a model was checked at its file's first scale, none being chosen."""
    if not getattr(args, "quiet", False):
        _say_default(source, getattr(model, "scale", None))


def _say_default(source: Source, chosen) -> None:
    """The note that a family is taken at its file's first scale, none being chosen."""
    if chosen is not None and chosen.default:
        print(f"cnndsl: note: {source.title}: {chosen.note()}", file=sys.stderr)


def write_spec(text: str, output: str | None) -> None:
    """A reader's spec: written to ``output`` (atomically, said on stderr), else printed."""
    if output:
        from pathlib import Path

        from cnndsl.outputs import write_text

        write_text(Path(output), text)
        print(f"Wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def report(diagnostics, source: Source) -> None:
    """Diagnostics as text with carets, on stderr."""
    if diagnostics:
        print(render(diagnostics, source.text, source.name), file=sys.stderr)


def one_model(argument: str, command: str, advice: str = "", scale: str | None = None) -> Source:
    """The single model a one-model command works on; FILE:NAME picks one from a file (a YOLO file read for ``scale``)."""
    sources = read_models(argument, scale)
    if not sources:
        raise UsageError(
            f"{argument}: no specs found (no string literal passed to compile_spec, check, parse or train)"
        )
    if len(sources) != 1:
        names = ", ".join(source.label for source in sources)
        raise UsageError(f"{argument}: holds {len(sources)} models ({names}); {command} takes one: FILE:NAME{advice}")
    return sources[0]
