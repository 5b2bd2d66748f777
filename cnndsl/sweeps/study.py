"""The study driver: open the study (or refuse one made for something else), run this worker, report."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnndsl import interrupts
from cnndsl.errors import StorageError
from cnndsl.inputs import Source, UsageError
from cnndsl.outputs import os_reason
from cnndsl.settings import Settings
from cnndsl.sweeps import storages
from cnndsl.sweeps.board import BEST_SHOWN, _fixed, primary, skipped_trials, write_leaderboard
from cnndsl.sweeps.claims import Worker, retry_stale
from cnndsl.sweeps.plan import Plan, check_pruner, make_plan
from cnndsl.tasks import Task

PRUNE_AFTER_TRIALS, PRUNE_FROM_EPOCH = 2, 2
"""The median pruner compares a trial with at least this many finished ones, from this epoch on."""
HYPERBAND_REDUCTION = 3
"""Hyperband keeps about one trial in this many at each rung."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep; finished trials are in the storage, the leaderboard is written."""

    def __init__(self, rows: list[dict], directory: Path):
        super().__init__("sweep interrupted")
        self.rows, self.directory = rows, directory


def sweep(
    space: str | Source,
    data: str = "mnist",
    *,
    trials: int = 20,
    sampler: str = "tpe",
    storage: str | None = None,
    study: str | None = None,
    objective: str | Sequence[str] | None = None,
    prune_epochs: bool = False,
    pruner: str = "median",
    keep_models: bool = False,
    constraints: bool = True,
    heartbeat: int | None = None,
    timeout: float | None = None,
    output: str | Path | None = None,
    settings: Settings | None = None,
    input_shape: Sequence[int] | None = None,
    verbose: int = 0,
    echo=None,
    task: str | Task | None = None,
    **recipe: Any,
) -> list[dict]:
    """Search ``space`` with Optuna, training each accepted candidate with ``cnndsl.train``.

    ``objective`` is one name or several (``"val_accuracy,params"``: a multi-objective
    study); by default the task's first score. ``task`` (classify, segment, regress; by
    default the data's) sets the head rule, the scores and the objectives (``val_accuracy``,
    ``val_mean_iou``, ``val_loss`` first). ``recipe`` holds ``train``'s settings (epochs,
    batch_size, optimizer, learning_rate, seed, limit, validation_split). Trials validate on
    ``validation_split`` (default 0.1) of the training data, held out, so that no trial is
    selected on its test score; ``validation_split="test"`` validates on the test split as
    ``run`` does. ``prune_epochs`` reports each epoch's validation score to
    Optuna's ``pruner`` (``median`` or ``hyperband``), which stops a trial that falls
    behind. ``keep_models`` keeps every trial's checkpoints and model (otherwise only the
    best trials' models). ``constraints`` tells rejected candidates to the sampler as
    infeasible (False: as plain pruned trials). ``heartbeat`` is the seconds between
    heartbeats on an RDB storage. ``timeout`` is the seconds after which this process
    starts no new trial (the one training then finishes). Returns the leaderboard: one dict per trained
    candidate, best first. Raises SpecError (errors in the space), UsageError (bad
    settings or storage) or SweepInterrupted (Ctrl-C; finished trials stay in the storage).
    """
    plan = make_plan(
        space, data, trials, sampler, storage, study, objective, output, settings, input_shape, recipe, task
    )
    check_pruner(plan, pruner if prune_epochs else None)
    plan.keep_models, plan.constraints = keep_models, constraints
    if heartbeat is not None and (isinstance(heartbeat, bool) or not 1 <= heartbeat <= 3600):
        raise UsageError(f"--heartbeat must be a whole number of seconds from 1 to 3600, got {heartbeat!r}")
    plan.heartbeat = heartbeat
    if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
        raise UsageError(f"--timeout must be a number of seconds above 0, got {timeout!r}")
    plan.timeout = timeout
    return run_plan(plan, verbose, echo or _stderr)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_plan(plan: Plan, verbose: int, echo) -> list[dict]:
    """Open the study and train trials until ``--trials`` are trained (by every worker together)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    scrubber = storages.Scrubber(plan.storage)
    loggers = [logging.getLogger("optuna"), logging.getLogger("sqlalchemy")]
    for logger in loggers:
        logger.addFilter(scrubber)
    with warnings.catch_warnings():
        # heartbeats and constraints are driven here by ask and tell, as Optuna's optimize drives them
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        return _run(plan, verbose, echo, loggers, scrubber)


def _run(plan: Plan, verbose: int, echo, loggers, scrubber) -> list[dict]:
    try:
        for line in plan.log:
            echo(line)
        study, storage = _opened(plan)
        echo(f"study {plan.study_name!r} in {plan.storage.masked}; trials in {plan.directory}/")
        worker = Worker(plan, study, verbose, echo, storage)
        from cnndsl.training.api import shared_data

        try:
            with interrupts.remembered(), shared_data():  # the data is read once for all this worker's trials
                worker.run()
        except KeyboardInterrupt:
            rows = write_leaderboard(plan, study)
            raise SweepInterrupted(rows, plan.directory) from None
        except Exception as error:
            if not _storage_failed(error):
                raise
            raise StorageError(
                f"--storage {plan.storage.masked}: lost it mid-sweep ({storages.one_line(plan.storage.scrub(str(error)))}); "
                "finished trials stay in it, run the same command to resume"
            ) from None
        rows = write_leaderboard(plan, study)
        _print_best(rows, plan, echo, worker)
        return rows
    finally:
        for logger in loggers:
            logger.removeFilter(scrubber)


def _storage_failed(error: BaseException) -> bool:
    """Whether an error came from the storage's database driver (SQLAlchemy) or Optuna's storage layer."""
    module = type(error).__module__ or ""
    return module.startswith(("sqlalchemy", "optuna.storages", "psycopg", "pymysql", "sqlite3"))


def _opened(plan: Plan):
    """The study and its storage, in the sweep directory (made if need be, removed again if the storage fails)."""
    made = not plan.directory.exists()
    _make_directory(plan.directory)
    try:
        return _study(plan)
    except BaseException:
        if made and not any(plan.directory.iterdir()):
            plan.directory.rmdir()
        raise


def _make_directory(directory: Path) -> None:
    from cnndsl.outputs import OutputError

    if directory.exists() and not directory.is_dir():
        raise OutputError(f"{directory}: exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{directory}: cannot create ({os_reason(error)})") from None


def _pruner(plan: Plan):
    """Optuna's median or Hyperband pruner with ``--prune-epochs``; otherwise none (trials always finish)."""
    import optuna

    if plan.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1,
            max_resource=max(1, plan.epochs),
            reduction_factor=HYPERBAND_REDUCTION,
        )  # resources are epochs
    if plan.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=PRUNE_FROM_EPOCH
        )  # steps are epochs, from 1
    return optuna.pruners.NopPruner()


def _sampler(plan: Plan):
    import optuna

    seed = plan.recipe.get("seed")
    if plan.sampler == "grid":

        class Grid(optuna.samplers.GridSampler):
            def after_trial(self, *args) -> None:
                """Nothing: GridSampler's ``study.stop()`` is for ``optimize``; the sweep stops itself."""

        return Grid({"candidate": plan.grid}, seed=seed)
    if plan.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _study(plan: Plan):
    """Create the study, or load it to resume; a study of another space, recipe or objective is refused."""
    import optuna

    heartbeat = None
    if not plan.storage.journal:
        interval = plan.heartbeat or storages.HEARTBEAT_S
        grace = max(2 * interval, storages.GRACE_S * interval // storages.HEARTBEAT_S)
        heartbeat = storages.Heartbeat(interval, grace, retry_stale)
    storage = storages.open_storage(plan.storage, heartbeat=heartbeat)
    objective = ",".join(plan.objectives)
    try:
        study = storages.retried(
            lambda: optuna.create_study(
                study_name=plan.study_name,
                storage=storage,
                sampler=_sampler(plan),
                pruner=_pruner(plan),
                directions=plan.directions,
                load_if_exists=True,
            )
        )
        attrs = study.user_attrs
        directions = [d.name.lower() for d in study.directions]
    except Exception as error:
        raise StorageError(
            f"--storage {plan.storage.masked}: {storages.one_line(plan.storage.scrub(str(error)))}"
        ) from None
    made_for = attrs.get("space")
    if made_for is not None and (made_for, attrs.get("recipe")) != (plan.space.source, plan.recipe):
        raise UsageError(
            f"--study {plan.study_name}: this study was made for another space or recipe; name a new study"
        )
    if directions != plan.directions or attrs.get("objective", objective) != objective:
        was = attrs.get("objective") or " and ".join(directions)
        raise UsageError(f"--study {plan.study_name}: this study optimises {was}, not {objective}; name a new study")
    if made_for is None:  # the space last: a worker that sees it sees the recipe and objective too
        study.set_user_attr("recipe", plan.recipe)
        study.set_user_attr("objective", objective)
        study.set_user_attr("space", plan.space.source)
    return study, (storage if heartbeat is not None else None)


def _print_best(rows: list[dict], plan: Plan, echo, worker: Worker) -> None:
    if worker.stopped_because:
        echo(f"stopped: {worker.stopped_because}")
    echo(f"{len(rows)} trial(s) trained ({worker.trained_here} by this process); best by {plan.objective}:")
    for rank, row in enumerate(rows[:BEST_SHOWN], 1):
        front = "  *front" if len(plan.objectives) > 1 and row.get("pareto") else ""
        echo(
            f"  {rank}. {plan.objective} {_fixed(row[plan.objective]) or 'none'}  "
            f"test {_fixed(row[f'test_{primary(plan.task)}'])}  "
            f"{row['params']:,} params  {row['hash']}  {row['candidate']}{front}"
        )
    skipped = skipped_trials(worker.study, (row["trial"] for row in rows))
    if skipped:
        echo("trial numbers missing from sweep.csv: " + "; ".join(skipped))
    echo(f"Wrote {plan.directory}/: sweep.csv, sweep.md{', sweep.png' if rows else ''} and a folder per trial")
