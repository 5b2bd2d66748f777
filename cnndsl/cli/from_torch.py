"""``cnndsl from-torch``: a PyTorch module in the notation (imports and runs the named module's code)."""

from __future__ import annotations

import argparse
import sys
import warnings

from cnndsl.cli.common import EXIT_OK, EXIT_SPEC, write_spec
from cnndsl.cli.options import add_reader_options, add_task_option, say_read_task
from cnndsl.inputs import UsageError


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "from-torch",
        help="write a PyTorch module in the notation (imports and runs the named module's code)",
        description="Import PACKAGE.MODULE, call CALLABLE with no arguments, and print the nn.Module it returns "
        "in the canonical notation. Importing a module runs its code: name only code you trust.",
    )
    parser.add_argument("target", metavar="PACKAGE.MODULE:CALLABLE", help="such as torchvision.models:resnet18")
    add_reader_options(parser, "the input's size (default: 224,224,3)")
    add_task_option(parser, "model")
    parser.set_defaults(handler=cmd_from_torch)


def cmd_from_torch(args: argparse.Namespace) -> int:
    """Import the named callable (the one place cnndsl imports code it is given), call it, and read its module."""

    from cnndsl.backends.torch_reader import UnsupportedModel, from_torch, load_module
    from cnndsl.errors import ModelFileError

    try:
        module = load_module(args.target)
    except ModelFileError as error:
        raise UsageError(str(error)) from None
    try:
        with warnings.catch_warnings():  # what is left out is said below, one line per module
            warnings.filterwarnings("ignore", "from_torch left out", UserWarning)
            spec = from_torch(module, args.input_shape or (224, 224, 3), task=args.task, verify=args.verify)
    except UnsupportedModel as error:
        for problem in str(error).splitlines():
            print(f"cnndsl: error: {args.target}: {problem}", file=sys.stderr)
        return EXIT_SPEC
    say_read_task(args, spec.task, args.target)
    for dropped in spec.dropped:
        print(f"cnndsl: note: {args.target}: left out {dropped}, which do not reach the output", file=sys.stderr)
    write_spec(spec.text, args.output)
    return EXIT_OK
