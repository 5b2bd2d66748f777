"""``cnndsl compare``: train several specs under one recipe and print the comparison table."""

from __future__ import annotations

import argparse

from cnndsl.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_SPEC, at_scale, project_settings, report, training_scale
from cnndsl.cli.options import (
    COMPARE_VALIDATION_HELP,
    SPEC_HELP,
    add_task_option,
    add_train_options,
    recipe,
    scale_names_arg,
)
from cnndsl.cli.trainer import cluster_of, print_interrupted, supervised, training_package
from cnndsl.inputs import Source, UsageError, read_models


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
        "--scale", type=scale_names_arg, metavar="NAME[,NAME...]",
        help="train each of these scales of every spec file that declares scales (its scale lines), a row each "
        "labelled MODEL-NAME; an input without scales is trained once (default: the scale setting, else each "
        "file's first)",
    )  # fmt: skip
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
    models = _at_scales(args, project_settings(args))
    for model in models:
        training_scale(_source(model))  # a scale the file lacks is its row's error, as the check rejects it
    cluster = cluster_of(args)
    return supervised(args, cluster, lambda: _compare(args, models, cluster))


def _at_scales(args: argparse.Namespace, settings) -> list[Source | tuple[str, Source]]:
    """Each input's models: a spec file's family once per scale ``--scale`` names, labelled ``net-n``,
    ``net-s``, else at the project's scale setting or the file's first; a model without scales once."""
    names, models = args.scale or (None,), []
    for item in args.inputs:
        for name in names:
            read = read_models(item, name)  # a YOLO model file is read for its scale
            if not any(source.scales for source in read):
                models += read  # the same at every scale: once
                break
            for source in read:
                source = at_scale(source, name, settings) if source.scales else source
                models.append(source if name is None else (f"{source.label}-{name}", source))
    if args.scale is not None and not any(_source(model).scales for model in models):
        raise UsageError(
            f"--scale {','.join(args.scale)}: no input declares scales (a spec file's scale lines, such as "
            "scale n(0.50, 0.25, 1024))"
        )
    return models


def _source(model: Source | tuple[str, Source]) -> Source:
    return model[1] if isinstance(model, tuple) else model


def _compare(args: argparse.Namespace, models: list[Source | tuple[str, Source]], cluster) -> int:
    package = training_package("compare")
    labels = [entry.label for entry in package.api.entries_of(models)]

    def rejected(errors) -> None:
        for label, model in zip(labels, models):
            if label in errors:
                report(errors[label].diagnostics, _source(model))

    try:
        result = package.compare(
            models,
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
