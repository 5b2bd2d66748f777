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
    (:mod:`cnndsl.lsp.codecache`), and Python's cyclic garbage collector waits until the
    first diagnostics are out: the start makes some 100,000 objects the collector tracks,
    nearly all of them living as long as the server, and collecting among them as they are
    made is about a hundred passes over more and more of them. Then one collection frees
    what the start left (the classes attrs replaced by their slotted versions), what lives on
    is frozen (never examined again), and collection goes on as usual (:func:`_settled`).
    """
    import gc

    from cnndsl.lsp.codecache import kept_attrs_methods

    gc.disable()
    try:
        with kept_attrs_methods():
            from cnndsl.lsp import server
        ls = server.ready(args.task)
    except BaseException:
        gc.enable()
        raise
    ls.after_first_diagnostics = _settled
    ls.start_io()
    return EXIT_OK


def _settled() -> None:
    """Free the start's garbage, freeze what lives on, and collect as usual from now on."""
    import gc

    gc.collect()
    gc.freeze()
    gc.enable()
