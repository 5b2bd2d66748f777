"""``cnndsl summary``: per-layer output shapes and parameters, without TensorFlow."""

from __future__ import annotations

import argparse
import contextlib
import sys

from cnndsl.cli.common import EXIT_OK, EXIT_SPEC, check_one, one_model, project_settings, report
from cnndsl.cli.options import add_model_options, add_spec_argument
from cnndsl.errors import SpecError


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "summary",
        help="per-layer output shapes and parameters, without TensorFlow",
        description="Print a table like Keras's model.summary(), computed without TensorFlow.",
    )
    add_spec_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--svg", metavar="FILE", help="also draw the layer graph into FILE (as draw does)")
    parser.add_argument(
        "--scales", action="store_true",
        help="a file with scales: every width and repeat count the scales change, a column per scale, "
        "with each scale's parameters and multiply-accumulates",
    )  # fmt: skip
    add_model_options(parser)
    parser.set_defaults(handler=cmd_summary)


def cmd_summary(args: argparse.Namespace) -> int:
    import json

    from cnndsl.report import errors_json, summary_json, summary_table

    source = one_model(args.input, "summary", scale=getattr(args, "scale", None))
    if args.scales:
        return _scales(source, args)
    if args.svg:
        from cnndsl.cli.draw import write_picture

        with contextlib.suppress(SpecError):  # the summary below reports it
            write_picture(source, args, args.svg, "graph", unfold=False)
    try:
        model = check_one(source, args, project_settings(args))
    except SpecError as error:
        if args.json:
            print(json.dumps(errors_json(error.diagnostics, source.name), indent=2))
        else:
            report(error.diagnostics, source)
        return EXIT_SPEC
    if args.json:
        print(json.dumps(summary_json(model, source.name), indent=2))
    else:
        report(model.warnings, source)
        print(summary_table(model, _terminal_width()))
    return EXIT_OK


def _terminal_width() -> int | None:
    """COLUMNS, else the terminal's width; None (no limit) when printing to a file or pipe."""
    import os

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else None
    except (AttributeError, ValueError, OSError):
        return None


def _scales(source, args: argparse.Namespace) -> int:
    """``summary --scales``: the model at every scale of its file's family, side by side."""
    import json

    from cnndsl.cli.common import at_scale
    from cnndsl.inputs import UsageError
    from cnndsl.passes.scale import repetitions
    from cnndsl.report import errors_json, scales_json, scales_table

    if source.error is None and not source.scales:
        raise UsageError(f"{source.title}: --scales needs a file with scale lines, such as: scale n(0.50, 0.25, 1024)")
    settings = project_settings(args)
    try:
        if source.error is not None:
            raise source.error
        models = [
            at_scale(source, getattr(args, "scale", None), settings).check(
                args.input_shape, settings.classes, settings.input_shape, task=settings.task, scale=scaling.name
            )
            for scaling in source.scales
        ]
    except SpecError as error:
        if args.json:
            print(json.dumps(errors_json(error.diagnostics, source.name), indent=2))
        else:
            report(error.diagnostics, source)
        return EXIT_SPEC
    repeats = repetitions([source.chain, *source.blocks.values()])
    if args.json:
        print(json.dumps(scales_json(models, source.text, repeats), indent=2))
    else:
        print(scales_table(models, source.text, repeats))
    return EXIT_OK
