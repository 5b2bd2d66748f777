"""``cnndsl sweep``: train the candidates of a search space as the trials of an Optuna study.

Optuna is the engine: its samplers propose, its storage (a SQLite file by default, any
Optuna storage URL otherwise) holds the study, so that several processes on several
machines work through one study together, and a stopped sweep resumes. One job per
module:

- :mod:`~cnndsl.sweeps.storages`: storage URLs, their passwords masked; opening a storage
  with retries and heartbeats; a missing database driver named with its pip command;
- :mod:`~cnndsl.sweeps.plan`: the flags, the space and its census, the study's name;
- :mod:`~cnndsl.sweeps.start`: TPE's first proposals, candidates the checker accepts,
  spread over the MACs it counted and then chosen by what cost has bought;
- :mod:`~cnndsl.sweeps.claims`: the claim protocol (ask, check, claim, tell), constraints
  for rejected candidates, heartbeats and dead workers;
- :mod:`~cnndsl.sweeps.trials`: training one trial, what its directory keeps, its row;
- :mod:`~cnndsl.sweeps.board`: the leaderboard, its Pareto front and plot;
- :mod:`~cnndsl.sweeps.study`: the study driver that ties them together (``sweep``).
"""

from __future__ import annotations

from cnndsl.sweeps import start, trials
from cnndsl.sweeps.board import (
    BEST_SHOWN,
    FIELDS,
    SKIPPED_WHY,
    leaderboard,
    pareto_front,
    plot_pareto,
    skipped_trials,
    sweep_markdown,
    write_leaderboard,
)
from cnndsl.sweeps.claims import (
    CLAIM_WAIT_S,
    DUPLICATE,
    MAX_MISSES,
    REJECTED,
    SURPLUS,
    TRAINED,
    Worker,
)
from cnndsl.sweeps.plan import (
    OBJECTIVES,
    PRUNERS,
    SAMPLERS,
    VALIDATION_SPLIT,
    Plan,
    make_plan,
    objectives_of,
    parse_objectives,
    score_fields,
    trial_seed,
)
from cnndsl.sweeps.storages import (
    PASSWORD_ENV,
    StorageURL,
    mask,
    open_storage,
    storage_url,
)
from cnndsl.sweeps.storages import Scrubber as _Scrubber
from cnndsl.sweeps.study import PRUNE_AFTER_TRIALS, PRUNE_FROM_EPOCH, SweepInterrupted, run_plan, sweep
from cnndsl.training.rundir import RunDirectory


def mark_stale(directory, why: str):
    """Rename an unfinished trial's folder ``...-interrupted`` (or ``-failed``); its new path, or None."""
    return RunDirectory(directory).mark_stale(why) if directory is not None else None


__all__ = [
    "BEST_SHOWN", "CLAIM_WAIT_S", "DUPLICATE", "FIELDS", "MAX_MISSES", "OBJECTIVES", "PASSWORD_ENV",
    "PRUNERS", "PRUNE_AFTER_TRIALS", "PRUNE_FROM_EPOCH", "REJECTED", "SAMPLERS", "SKIPPED_WHY", "SURPLUS",
    "TRAINED", "VALIDATION_SPLIT", "Plan", "StorageURL", "SweepInterrupted", "Worker", "_Scrubber",
    "leaderboard", "make_plan", "mark_stale", "mask", "objectives_of", "open_storage", "pareto_front",
    "parse_objectives", "plot_pareto", "run_plan", "score_fields", "skipped_trials", "storage_url", "sweep",
    "start", "sweep_markdown", "trial_seed", "trials", "write_leaderboard",
]  # fmt: skip
