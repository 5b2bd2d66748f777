"""The ``cnndsl`` command: argument parsing and output only; the work is elsewhere.

Exit codes: 0 success, 1 errors in a spec, 2 a bad command line or unreadable input.

Each command is a module of this package holding its parser and its handler; a command
line imports only its command's module, and each handler imports what it needs when it
runs (JSON, the formatter, the summary, training), so that ``cnndsl check`` starts in
milliseconds. The options several commands share are defined once, in
:mod:`cnndsl.cli.options`.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from cnndsl.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from cnndsl.cli.parsing import CommandParser, Parser
from cnndsl.errors import needs
from cnndsl.inputs import UsageError
from cnndsl.version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

COMMANDS = {
    "check": "check",
    "summary": "summary",
    "draw": "draw",
    "fmt": "fmt",
    "run": "train",
    "compare": "compare",
    "emit": "emit",
    "from-keras": "from_keras",
    "from-torch": "from_torch",
    "from-yolo": "from_yolo",
    "sweep": "sweep",
    "lsp": "lsp",
}
"""Each command and the module of this package holding its parser and handler, in the order
``cnndsl --help`` lists them (``run``'s is ``train``: ``cnndsl.cli.run`` is the console script)."""


def command_module(command: str):
    """The module of a command named in :data:`COMMANDS` (a fixed table: never a name from the user)."""
    return import_module(f"{__name__}.{COMMANDS[command]}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; given a ``command``, with only that command's arguments.

    ``cnndsl check`` then imports and builds its own parser, not every command's: a few
    milliseconds of a start-up that pre-commit hooks and editors pay on every run.
    """
    parser = Parser(
        prog="cnndsl",
        description="Check, summarise and build convolutional networks written in the cnndsl notation.",
        epilog='example: cnndsl summary "CN(32,3)->MP(2)->FL()->DN(128)"',
    )
    parser.add_argument("--version", action="version", version=f"cnndsl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=CommandParser)
    for name in COMMANDS:
        if command is None or name == command:
            command_module(name).add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return _handled(args)
    except UsageError as error:
        print(f"cnndsl: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cnndsl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


COMMAND_EXTRAS = {
    "run": "tensorflow",
    "compare": "tensorflow",
    "from-keras": "tensorflow",
    "from-torch": "torch",
    "sweep": "sweep",
    "lsp": "lsp",
}
"""The extra each command needs whatever its arguments; ``emit --to onnx`` and PNG pictures are in ``_needed``."""
FRAMEWORK_EXTRAS = frozenset({"tensorflow", "jax", "torch", "onnx", "sweep"})


def _handled(args: argparse.Namespace) -> int:
    """Run the command: a missing framework is one line naming the extra, its native logging hidden.

    A module no extra of the command provides is still named by the extra that does
    (``needs(None, ...)``), so that a command added later cannot end in a traceback for it.
    """
    extra, what = _needed(args)
    with needs(None, what), needs(extra, what):
        if extra not in FRAMEWORK_EXTRAS:
            return args.handler(args) or EXIT_OK
        from cnndsl.training.native_logs import quiet_native_logs

        with quiet_native_logs(not args.verbose):
            return args.handler(args) or EXIT_OK


def _needed(args: argparse.Namespace) -> tuple[str | None, str]:
    """The extra this command line needs, if any, and how to name the command in the message."""
    if args.command == "emit" and args.to == "onnx":
        return "onnx", "`cnndsl emit --to onnx`"
    picture = getattr(args, "output" if args.command == "draw" else "svg", None)
    if args.command in ("draw", "summary") and str(picture).lower().endswith(".png"):
        return "draw", f"`cnndsl {args.command}` of a PNG picture"
    return COMMAND_EXTRAS.get(args.command), f"`cnndsl {args.command}`"


def run() -> None:
    """Console-script entry point."""
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `cnndsl summary ... | head`
        sys.stderr.close()
        sys.exit(EXIT_OK)
