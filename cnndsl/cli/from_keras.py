"""``cnndsl from-keras``: a saved Keras model (.keras) in the notation."""

from __future__ import annotations

import argparse
import sys

from cnndsl.cli.common import EXIT_SPEC, write_spec
from cnndsl.cli.options import add_reader_options, add_task_option, say_read_task
from cnndsl.inputs import UsageError


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "from-keras",
        help="write a saved Keras model (.keras) in the notation",
        description="Read a .keras model file (safely: a file that needs unsafe loading is refused) and print "
        "its architecture in the canonical notation.",
    )
    parser.add_argument("model", metavar="MODEL.keras", help="a model saved by Keras 3 (model.save)")
    add_reader_options(
        parser, "the input size to write for a model whose input size is unknown (default: IN(None, None, C))"
    )
    add_task_option(parser, "model")
    parser.set_defaults(handler=cmd_from_keras)


def cmd_from_keras(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnndsl.backends.keras_reader import ModelFileError, UnsupportedModel, load, to_spec
    from cnndsl.formatter import format_text

    try:
        spec = to_spec(load(Path(args.model)), input_shape=args.input_shape, task=args.task, verify=args.verify)
    except ModelFileError as error:
        raise UsageError(str(error)) from None
    except UnsupportedModel as error:
        for problem in str(error).splitlines():
            print(f"cnndsl: error: {args.model}: {problem}", file=sys.stderr)
        return EXIT_SPEC
    say_read_task(args, spec.task, args.model)
    text = format_text(spec.text)
    write_spec(text, args.output)
