"""``cnndsl run``: train a spec with the notebook's recipe and evaluate it."""

from __future__ import annotations

import argparse

from cnndsl.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SPEC,
    at_scale,
    one_model,
    project_settings,
    report,
    training_scale,
)
from cnndsl.cli.options import add_scale_option, add_spec_argument, add_task_option, add_train_options, recipe
from cnndsl.cli.trainer import cluster_of, print_interrupted, supervised, training_package
from cnndsl.errors import SpecError
from cnndsl.inputs import Source, UsageError
from cnndsl.tasks import task_named


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "run",
        help="train a spec with the notebook's recipe and evaluate it",
        description="Train a spec on MNIST (or --data) with Adam, batch 128, 12 epochs; save the model, "
        "history, loss plot and metrics.",
    )
    add_spec_argument(parser)
    add_train_options(parser)
    add_task_option(parser, "data")
    add_scale_option(parser)
    parser.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    training_package("run")
    source = one_model(args.input, "run", " (use compare for several)", scale=getattr(args, "scale", None))
    source = at_scale(source, args.scale, project_settings(args))  # a spec without scales: the check says so
    _refuse_untrained_task(args, source)
    error = training_scale(source)
    if error is not None:
        report(error.diagnostics, source)
        return EXIT_SPEC
    cluster = cluster_of(args)
    return supervised(args, cluster, lambda: _run(args, source, cluster))


def _refuse_untrained_task(args: argparse.Namespace, source: Source) -> None:
    """One line, before any data is loaded, for a model whose task cnndsl cannot train yet (a detector)."""
    from cnndsl.checker import check

    try:
        task = check(source, task=args.task).task
    except SpecError:  # training reports the spec's errors as it always has
        return
    if task.untrained is not None:
        raise UsageError(f"{source.label}: {task.untrained}; check, summary, draw and emit take it")


def _run(args: argparse.Namespace, source: Source, cluster) -> int:
    package = training_package("run")
    try:
        result = package.train(
            source, **recipe(args), cluster=cluster, verbose=1, quiet=not args.verbose, task=args.task
        )
    except SpecError as error:
        report(error.diagnostics, source)
        return EXIT_SPEC
    except package.TrainingInterrupted as stop:
        print_interrupted(stop)
        return EXIT_INTERRUPTED
    task = task_named(result.metrics.get("data", {}).get("task", "classify"))
    print("\n".join(f"{label}: {_score(value)}" for label, value in task.score_lines(result.metrics)))
    if result.directory is not None:
        print(f"Wrote {result.directory}/: {', '.join(path.name for path in result.files)}")
    return EXIT_OK


def _score(value) -> str:
    from cnndsl.training.records import score

    return score(value)
