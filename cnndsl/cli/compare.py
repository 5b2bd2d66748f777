"""``cnndsl compare``: train several specs under one recipe and print the comparison table."""

from __future__ import annotations

import argparse

from cnndsl.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_SPEC, report
from cnndsl.cli.options import COMPARE_VALIDATION_HELP, SPEC_HELP, add_task_option, add_train_options, recipe
from cnndsl.cli.trainer import cluster_of, print_interrupted, supervised, training_package
from cnndsl.inputs import Source, read_models


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "compare",
        help="train several specs under one recipe and print the comparison table",
        description="Train each spec as `run` does and print model, parameters, test accuracy, test loss "
        "and seconds per epoch; write compare.csv, compare.md and compare.png. With --select, rank the models "
        "on training data held out for validation and mark the best.",
    )
    parser.add_argument("inputs", nargs="+", metavar="SPEC|FILE", help=SPEC_HELP)
    add_train_options(
        parser,
        "where to write the comparison, a folder per spec in it (default: runs/<timestamp>-compare-<hash of the specs>)",
        COMPARE_VALIDATION_HELP,
    )
    add_task_option(parser, "data")
    parser.add_argument(
        "--select", nargs="?", const=True, metavar="METRIC",
        help="select the best model on a validation metric measured on held-out training data, never on the "
        "test split: val_accuracy or val_loss for a classifier; val_mean_iou, val_pixel_accuracy or val_loss "
        "for a segmentation; val_loss or val_mae for a regression (default: the first; give the specs first, "
        "or write --select=METRIC)",
    )  # fmt: skip
    parser.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    training_package("compare")
    sources = [source for item in args.inputs for source in read_models(item)]
    cluster = cluster_of(args)
    return supervised(args, cluster, lambda: _compare(args, sources, cluster))


def _compare(args: argparse.Namespace, sources: list[Source], cluster) -> int:
    package = training_package("compare")
    labels = [entry.label for entry in package.api.entries_of(sources)]

    def rejected(errors) -> None:
        for label, source in zip(labels, sources):
            if label in errors:
                report(errors[label].diagnostics, source)

    try:
        result = package.compare(
            sources,
            **recipe(args),
            cluster=cluster,
            verbose=1,
            quiet=not args.verbose,
            on_rejected=rejected,
            task=args.task,
            select=False if args.select is None else args.select,
        )
    except package.TrainingInterrupted as stop:
        if stop.compared is not None:
            print(stop.compared.table)
        print_interrupted(stop)
        return EXIT_INTERRUPTED
    print(result.table)
    if result.directory:
        folders = " and a folder per trained model" if any(row["folder"] for row in result.rows) else ""
        print(f"Wrote {result.directory}/: {', '.join(path.name for path in result.files)}{folders}")
    return EXIT_SPEC if result.errors else EXIT_OK
