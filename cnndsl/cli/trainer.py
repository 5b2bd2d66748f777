"""What the training commands (run, compare) share: the training package, the data-parallel
cluster from the flags, work supervised for a cluster, and the line an interrupted run prints."""

from __future__ import annotations

import argparse
import sys

from cnndsl.cli.common import EXIT_USAGE
from cnndsl.errors import needs
from cnndsl.inputs import UsageError


def training_package(command: str):
    """The training package; a missing framework is a usage error naming the extra to install."""
    with needs("tensorflow", f"`cnndsl {command}`"):
        import cnndsl.training as training
    return training


def cluster_of(args: argparse.Namespace):
    """The data-parallel cluster from the flags and Keras's environment variables; None otherwise."""
    package = training_package(args.command)
    flags = {"coordinator": args.coordinator, "num_processes": args.num_processes, "process_id": args.process_id}
    if args.distribute != "data-parallel":
        given = [name for name, value in flags.items() if value is not None]
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} needs --distribute data-parallel")
        return None
    package.Recipe(distribute=args.distribute, backend=args.backend)
    return package.cluster_settings(**flags, timeout=args.connect_timeout)


def supervised(args: argparse.Namespace, cluster, work) -> int:
    """Run ``work`` as is, or for a cluster in a child process that reports its failures in one line."""
    if cluster is None:
        return work()
    from cnndsl.training import supervise

    return supervise.supervised(lambda: _exit_code(work), cluster, quiet=not args.verbose)


def _exit_code(work) -> int:
    try:
        return work()
    except UsageError as error:
        print(f"cnndsl: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def print_interrupted(stop) -> None:
    if not stop.history:
        print("cnndsl: interrupted before the first epoch finished; nothing was saved", file=sys.stderr)
        return
    if stop.directory is None:
        print(f"cnndsl: interrupted after {stop.epochs} epoch(s)", file=sys.stderr)
        return
    saved = f"best model so far {stop.checkpoint}, " if stop.checkpoint else ""
    print(
        f"cnndsl: interrupted after {stop.epochs} epoch(s); {saved}history {stop.directory / 'history.csv'}",
        file=sys.stderr,
    )
