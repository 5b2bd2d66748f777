"""Training one claimed trial: its run directory, its epochs reported to the pruner, its row and values.

A trial's run directory keeps what the leaderboard needs (history, metrics, the spec in
``summary.txt``, its picture). Its checkpoints are kept only with ``--keep-models``; its
saved model only while it is one of the best BEST_KEPT trials or on the Pareto front (a
model that falls out of them is deleted), or with ``--keep-models``.
"""

from __future__ import annotations

import time
from pathlib import Path

from cnndsl.search import Verdict
from cnndsl.tasks import CLASSIFY, Task
from cnndsl.training.rundir import EVERYTHING, LEADERBOARD, RunDirectory

BEST_KEPT = 3
"""Trials (by the first objective) whose saved model a sweep keeps, beside those on the Pareto front."""
PLOT_EVERY = 30.0
"""Seconds between redrawings of ``sweep.png`` after a trial (``sweep.csv`` and ``sweep.md`` are rewritten
after every trial; the picture is drawn again when the worker stops)."""


def train(worker, trial, verdict: Verdict) -> None:
    """Train a claimed trial, tell the study its values (or that the pruner stopped it), rewrite the board."""
    from cnndsl.sweeps.board import best_numbers
    from cnndsl.training.api import train as train_model

    plan = worker.plan
    text = verdict.text
    directory = RunDirectory(plan.directory / f"trial-{trial.number:04d}-{verdict.hash}")
    worker.directory = directory
    describe(trial, verdict)
    worker.echo(f"trial {trial.number}: {one_line_spec(text)} ({verdict.model.total_params:,} parameters)")
    started = time.perf_counter()
    pruned: list[int] = []
    observe = _epoch_reporter(trial, plan, pruned) if plan.prune else None
    keep = EVERYTHING if plan.keep_models else LEADERBOARD
    recipe = plan.trial_recipe(verdict.hash)
    result = train_model(
        verdict.model, output=directory.path, verbose=worker.verbose, on_epoch=observe, keep=keep, **recipe
    )
    row = make_row(trial.number, text, verdict, result, time.perf_counter() - started, plan.task, recipe["seed"])
    from optuna.exceptions import UpdateFinishedTrialError

    try:
        trial.set_user_attr("row", row)
        worker.feasible(trial)
    except UpdateFinishedTrialError:
        worker.late(trial)
        return
    if pruned:  # still a trained candidate (kind TRAINED, counted among the N): only its state differs
        from optuna.trial import TrialState

        trial.set_user_attr("pruned_at_epoch", pruned[0])
        worker._told(trial, state=TrialState.PRUNED)
        worker.echo(f"trial {trial.number}: pruned after epoch {pruned[0]} by the {plan.pruner} pruner")
        worker.trained_here += 1
        _rewrite_board(worker)
        return
    values = [row[name] for name in plan.objectives]
    missing = [name for name, value in zip(plan.objectives, values) if value is None]
    if missing:
        worker.echo(f"trial {trial.number}: failed: the run recorded no {missing[0]}")
        worker._tell(trial, "FAIL", kind="failed")
        return
    worker._told(trial, values)
    worker.trained_here += 1
    worker.misses = 0
    scores = ", ".join(f"{name} {_shown(row[name])}" for name in plan.objectives)
    worker.echo(f"trial {trial.number}: {scores} ({row['seconds']:.1f} s)")
    if not plan.keep_models:
        _keep_best_models(plan, worker.study, trial.number, directory, getattr(result, "model", None), best_numbers)
    _rewrite_board(worker)


def _rewrite_board(worker) -> None:
    """The leaderboard after a trial; its picture only every PLOT_EVERY seconds (drawing costs more than a row)."""
    from cnndsl.sweeps.board import write_leaderboard

    now = time.monotonic()
    plot = now - worker.drawn >= PLOT_EVERY
    if plot:
        worker.drawn = now
    write_leaderboard(worker.plan, worker.study, plot=plot)


def describe(trial, verdict: Verdict) -> None:
    """What the trial is, as user attributes that ``optuna-dashboard`` on the same storage shows."""
    trial.set_user_attr("spec", one_line_spec(verdict.text))
    trial.set_user_attr("params", verdict.model.total_params)
    trial.set_user_attr("macs", verdict.model.total_macs)


def _keep_best_models(plan, study, number: int, directory: RunDirectory, model, best_numbers) -> None:
    """Save this trial's model if it is one of the best; delete the saved models of trials no longer so."""
    from cnndsl.sweeps.board import leaderboard

    rows = leaderboard(plan, study)
    best = best_numbers(plan, study, rows, BEST_KEPT)
    if number in best and model is not None:
        directory.save_model(model)
    for row in rows:
        folder = row.get("directory")
        if row["trial"] not in best and folder and Path(folder).is_dir():
            RunDirectory(Path(folder)).drop_model()


def _shown(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.4f}"


def _epoch_reporter(trial, plan, pruned: list[int]):
    """Each epoch's validation score to the trial; True (stop) once the pruner says so."""
    primary = f"val_{plan.task.metrics[-1]}"
    metric = plan.objective if plan.objective.startswith("val_") else primary  # test scores come only at the end

    def observe(row: dict) -> bool:
        value = row.get(metric)
        if value is None:
            return False
        trial.report(float(value), row["epoch"])
        if row["epoch"] >= plan.epochs:  # trained to the end: there is nothing left to save, so it completes
            return False
        if trial.should_prune():
            pruned.append(row["epoch"])
            return True
        return False

    return observe


def one_line_spec(text: str) -> str:
    return " ".join(text.split())


def make_row(
    number: int, text: str, verdict: Verdict, result, seconds: float, task: Task = CLASSIFY, seed: int | None = None
) -> dict:
    """The leaderboard's row of a trained trial: its candidate, size, scores, every objective and the seed it
    trained with (None: unseeded)."""
    from cnndsl.sweeps.plan import score_fields

    last = result.history[-1] if result.history else {}
    metrics = result.metrics
    scores = {key: _number((metrics if key.startswith("test_") else last).get(key)) for key in score_fields(task)}
    return {
        "trial": number,
        "candidate": one_line_spec(text),
        "hash": verdict.hash,
        "params": verdict.model.total_params,
        "macs": verdict.model.total_macs,
        **scores,
        "seconds_per_epoch": _number(metrics.get("seconds_per_epoch")),
        "seconds": round(seconds, 1),
        "seed": seed,
        "directory": str(result.directory) if result.directory else "",
    }


def _number(value) -> float | None:
    return None if value is None else round(float(value), 6)
