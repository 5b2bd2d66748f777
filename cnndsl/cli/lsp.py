"""``cnndsl lsp``: the language server (stdio), for editors."""

from __future__ import annotations

import argparse

from cnndsl.cli.common import EXIT_OK
from cnndsl.cli.options import add_task_option


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "lsp",
        help="run the language server (stdio), for editors",
        description="Serve the Language Server Protocol over standard input and output: diagnostics, "
        "shapes as inlay hints, hover, completion, formatting, names and quick fixes (needs the lsp extra).",
    )
    add_task_option(parser, "setting")
    parser.set_defaults(handler=cmd_lsp)


def cmd_lsp(args: argparse.Namespace) -> int:
    from cnndsl.lsp.codecache import kept_attrs_methods

    with kept_attrs_methods():  # the protocol's types, their methods compiled in an earlier start
        from cnndsl.lsp.server import main as serve
    serve(args.task)
    return EXIT_OK
