"""The ``cnndsl`` command: argument parsing and output only; the work is elsewhere.

Exit codes: 0 success, 1 errors in a spec, 2 a bad command line or unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from cnndsl import __version__
from cnndsl.errors import SpecError, render
from cnndsl.inputs import Source, UsageError, read_models
from cnndsl.model import CheckedModel
from cnndsl.report import errors_json, summary_json, summary_table
from cnndsl.shapes import format_shape

EXIT_OK, EXIT_SPEC, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def input_shape_arg(text: str) -> tuple[int, int, int]:
    """``32,32,3`` or ``32x32x3`` -> (32, 32, 3)."""
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(part) for part in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1 or max(shape) > 65536:
        raise argparse.ArgumentTypeError(f"expected HEIGHT,WIDTH,CHANNELS such as 32,32,3, not {text!r}")
    return shape  # type: ignore[return-value]


def classes_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"expected a class count from 1 to 1,000,000, not {text!r}")
    return value


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-shape",
        type=input_shape_arg,
        metavar="H,W,C",
        help="input height, width and channels (default: the spec's IN(...), else 28,28,1)",
    )
    parser.add_argument("--classes", type=classes_arg, metavar="N", help="number of classes (default: 10)")


def _check_one(source: Source, args: argparse.Namespace) -> CheckedModel:
    return source.check(args.input_shape, args.classes)


def _report(error: SpecError, source: Source) -> None:
    print(render(error.diagnostics, source.text, source.name), file=sys.stderr)


def _warn(model: CheckedModel, source: Source) -> None:
    if model.warnings:
        print(render(model.warnings, source.text, source.name), file=sys.stderr)


# --- commands -------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for item in args.inputs:
        try:
            sources = read_models(item)
        except UsageError as error:
            print(f"cnndsl: error: {error}", file=sys.stderr)
            status = max(status, EXIT_USAGE)
            continue
        for source in sources:
            status = max(status, _check_and_report(source, args))
    return status


def _check_and_report(source: Source, args: argparse.Namespace) -> int:
    try:
        model = _check_one(source, args)
    except SpecError as error:
        _report(error, source)
        return EXIT_SPEC
    _warn(model, source)
    if not args.quiet:
        print(
            f"{source.name}: OK, {len(model.layers)} layers, {model.total_params:,} parameters, "
            f"output {format_shape(model.output_shape)}"
        )
    return EXIT_OK


def cmd_summary(args: argparse.Namespace) -> int:
    sources = read_models(args.input)
    if len(sources) != 1:
        raise UsageError(f"{args.input}: holds {len(sources)} models; summary takes one (FILE:NAME)")
    source = sources[0]
    try:
        model = _check_one(source, args)
    except SpecError as error:
        if args.json:
            print(json.dumps(errors_json(error.diagnostics), indent=2))
        else:
            _report(error, source)
        return EXIT_SPEC
    if args.json:
        print(json.dumps(summary_json(model), indent=2))
    else:
        _warn(model, source)
        print(summary_table(model))
    return EXIT_OK


# --- parser ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnndsl",
        description="Check, summarise and build convolutional networks written in the cnndsl notation.",
        epilog='example: cnndsl summary "CN(32,3)->MP(2)->FL()->DN(128)"',
    )
    parser.add_argument("--version", action="version", version=f"cnndsl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check_parser = commands.add_parser(
        "check",
        help="report errors in specs, without TensorFlow",
        description="Check specs for syntax, value and shape errors.",
    )
    check_parser.add_argument("inputs", nargs="+", metavar="SPEC|FILE", help="a spec in the notation, or a file")
    check_parser.add_argument("-q", "--quiet", action="store_true", help="print nothing for specs that pass")
    _add_model_options(check_parser)
    check_parser.set_defaults(handler=cmd_check)

    summary_parser = commands.add_parser(
        "summary",
        help="per-layer output shapes and parameters, without TensorFlow",
        description="Print a table like Keras's model.summary(), computed without TensorFlow.",
    )
    summary_parser.add_argument("input", metavar="SPEC|FILE", help="a spec in the notation, or a file")
    summary_parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_model_options(summary_parser)
    summary_parser.set_defaults(handler=cmd_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"cnndsl: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cnndsl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> None:
    """Console-script entry point."""
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `cnndsl summary ... | head`
        sys.stderr.close()
        sys.exit(EXIT_OK)


if __name__ == "__main__":
    run()
