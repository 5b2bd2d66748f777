"""``cnndsl sweep``: train the candidates of a search space as the trials of an Optuna study."""

from __future__ import annotations

import argparse
import sys

from cnndsl.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_SPEC, one_model, project_settings, report
from cnndsl.cli.options import (
    SELECT_VALIDATION_HELP,
    add_budget_options,
    add_spec_argument,
    add_task_option,
    add_train_options,
    recipe,
)
from cnndsl.errors import SpecError


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "sweep",
        help="train the candidates of a search space as the trials of an Optuna study",
        description="Search a space written with braces ({32,64}, {2..4}, {A | B}): candidates the checker "
        "rejects or over a budget are never trained; the others train as `run` does, one run directory each. "
        "Writes sweep.csv, sweep.md and sweep.png; the same command resumes a stopped sweep.",
    )
    add_spec_argument(parser, "a space in the notation, or a file", metavar="SPACE|FILE")
    add_train_options(
        parser, "the sweep's folder, a folder per trial in it (default: runs/<study name>)", SELECT_VALIDATION_HELP
    )
    add = parser.add_argument
    add("--trials", type=int, default=20, metavar="N", help="candidates to train, all workers together (default: 20)")
    add("--sampler", choices=["grid", "random", "tpe"], default="tpe", help="Optuna's sampler (default: tpe)")
    add("--storage", metavar="URL", help="an Optuna storage URL, or journal:PATH (default: SQLite in the sweep folder)")
    add("--study", metavar="NAME", help="the study's name (default: sweep-<hash of the space and recipe>)")
    add("--objective", default=None, metavar="NAME[,NAME...]",
        help="what the study optimises: val_accuracy, val_loss or test_accuracy for a classifier; val_mean_iou, "
        "val_pixel_accuracy or test_mean_iou for a segmentation; val_mae or test_mae for a regression; "
        "params, macs, seconds_per_epoch; several, separated by commas, make a multi-objective study "
        "(default: val_accuracy, val_mean_iou, val_loss)")  # fmt: skip
    add_task_option(parser, "data")
    add("--prune-epochs", action="store_true",
        help="report each epoch's validation score; Optuna's pruner stops trials that fall behind")  # fmt: skip
    add("--pruner", choices=["median", "hyperband"], default="median",
        help="with --prune-epochs: Optuna's median or Hyperband pruner (default: median)")  # fmt: skip
    add("--keep-models", action="store_true",
        help="every trial keeps its checkpoints and saved model (default: only the best trials' models)")  # fmt: skip
    add("--heartbeat", type=int, metavar="SECONDS",
        help="on a database storage, seconds between a running trial's heartbeats; one silent for six of them "
        "is failed and its candidate trained by another worker (default: 10)")  # fmt: skip
    add("--timeout", type=float, metavar="SECONDS",
        help="start no new trial after this many seconds (the one training finishes; default: no limit)")  # fmt: skip
    add_budget_options(parser)
    parser.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from cnndsl.sweeps import SweepInterrupted, sweep

    source = one_model(args.input, "sweep")
    kept = {key: value for key, value in recipe(args).items() if key not in ("data", "output")}
    options = {key: getattr(args, key) for key in ("trials", "sampler", "storage", "study", "objective", "output")}
    options.update(prune_epochs=args.prune_epochs, pruner=args.pruner, keep_models=args.keep_models)
    options.update(heartbeat=args.heartbeat, timeout=args.timeout, task=args.task)
    try:
        sweep(source, args.data, **options, settings=project_settings(args), echo=print, **kept)
    except SpecError as error:
        report(error.diagnostics, source)
        return EXIT_SPEC
    except SweepInterrupted as stop:
        print(
            f"cnndsl: sweep interrupted; its {len(stop.rows)} trained trial(s) stay in the study and "
            f"{stop.directory}/sweep.csv; run the same command to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return EXIT_OK
