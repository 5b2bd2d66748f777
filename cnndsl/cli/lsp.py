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
    """Start the server as fast as it can: what an editor waits for before its first diagnostics.

    The protocol's types are built from the methods compiled in an earlier start
    (:mod:`cnndsl.lsp.codecache`), and the cyclic garbage collector is off while the server is
    built: the start makes some 50,000 objects the collector tracks, all living as long as the
    server, so collecting among them only costs time. They are then frozen (never examined
    by a collection again) and collection is on for the session.
    """
    import gc

    from cnndsl.lsp.codecache import kept_attrs_methods

    gc.disable()
    try:
        with kept_attrs_methods():
            from cnndsl.lsp import server
        ls = server.ready(args.task)
    finally:
        gc.enable()
    gc.freeze()
    ls.start_io()
    return EXIT_OK
