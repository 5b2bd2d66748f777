"""A sweep's plan: the flags checked, the space parsed and counted, the study named, before any trial."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cnndsl.errors import raise_errors
from cnndsl.inputs import SPEC_NAME, Source, UsageError
from cnndsl.outputs import RUNS_DIR
from cnndsl.search import EXACT_LIMIT, Census, Judge, census, describe, rejection_lines, space_of
from cnndsl.settings import Settings
from cnndsl.space import Space
from cnndsl.splits import SELECTION_SPLIT
from cnndsl.sweeps.storages import StorageURL, storage_url
from cnndsl.syntax import parse
from cnndsl.tasks import CLASSIFY, TASKS, Task

SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("median", "hyperband")
VALIDATION_SPLIT = SELECTION_SPLIT
"""The fraction of the training data a trial validates on unless ``validation_split`` says otherwise."""
COSTS = {"params": "minimize", "macs": "minimize", "seconds_per_epoch": "minimize"}
"""What a study of any task may optimise beside its scores: the candidate's size and speed."""
OBJECTIVES = {**CLASSIFY.objectives, **COSTS}
"""What a classifier's study may optimise (a leaderboard row's fields), and which way; each task has its own
(``objectives_of``)."""

TRAINED, REJECTED, DUPLICATE, SURPLUS = "trained", "rejected", "duplicate", "surplus"
"""What a trial is (its user attribute ``kind``), as the claims set it and the board reads it."""


@dataclass
class Plan:
    """Everything a sweep needs before its first trial."""

    space: Space
    judge: Judge
    census: Census | None
    grid: list[int] | None
    sampler: str
    objectives: tuple[str, ...]
    trials: int
    recipe: dict
    directory: Path
    study_name: str
    storage: StorageURL
    name: str = SPEC_NAME
    pruner: str | None = None
    """``median`` or ``hyperband``: report every epoch's validation score so that Optuna's pruner may stop a trial."""
    keep_models: bool = False
    """Every trained trial keeps its checkpoints and saved model (otherwise only the best trials' models)."""
    constraints: bool = True
    """Tell rejected candidates to the sampler through Optuna's constraints (False: as plain pruned trials)."""
    heartbeat: int | None = None
    """Seconds between heartbeats on an RDB storage (None: the default)."""
    timeout: float | None = None
    """Seconds after which this worker starts no new trial (None: no limit)."""
    task: Task = CLASSIFY
    """What the candidates are trained for: it names the scores (``val_mean_iou``) and the objectives."""
    log: list[str] = field(default_factory=list)

    @property
    def objective(self) -> str:
        """The first objective: the one the leaderboard is sorted by and pruning watches."""
        return self.objectives[0]

    @property
    def directions(self) -> list[str]:
        directions = objectives_of(self.task)
        return [directions[name] for name in self.objectives]

    @property
    def prune(self) -> bool:
        return self.pruner is not None

    def trial_recipe(self, digest: str) -> dict:
        """``train``'s settings for the candidate whose architecture hash is ``digest``: the sweep's, with the
        candidate's own seed (``trial_seed``)."""
        return {**self.recipe, "seed": trial_seed(self.recipe.get("seed"), digest)}

    @property
    def epochs(self) -> int:
        """The epochs each trial trains (the recipe's, else the notebook's 12)."""
        from cnndsl.training.recipe import Recipe

        return int(self.recipe.get("epochs", Recipe.epochs))


def trial_seed(seed: int | None, digest: str) -> int | None:
    """The seed a candidate trains with in a sweep seeded with ``seed``: drawn from the sweep's seed and the
    candidate's architecture hash (None for an unseeded sweep: every trial draws afresh).

    Each candidate gets its own draw (weights, data order), so that one unlucky draw does not
    weigh on every trial of a sweep; the same candidate always gets the same one, whichever
    trial or worker trains it, so ``cnndsl run --seed`` with the leaderboard's seed trains it
    again.
    """
    if seed is None:
        return None
    drawn = hashlib.blake2b(f"{seed}:{digest}".encode(), digest_size=4).digest()
    return int.from_bytes(drawn, "big") & 0x7FFFFFFF


def objectives_of(task: Task) -> dict[str, str]:
    """What a sweep of this task may optimise, and which way: its scores, then size and speed
    (a classifier's: ``OBJECTIVES``)."""
    return {**task.objectives, **COSTS}


def score_fields(task: Task) -> tuple[str, ...]:
    """The leaderboard's score columns: ``val_accuracy, val_loss, test_accuracy`` for a classifier."""
    metrics = task.metrics
    return (*(f"val_{m}" for m in metrics), "val_loss", *(f"test_{m}" for m in metrics))


def parse_objectives(text: str | Sequence[str] | None, task: Task = CLASSIFY) -> tuple[str, ...]:
    """``val_accuracy,params`` as a tuple of the task's known, distinct objectives; UsageError otherwise.

    None is the task's first score (``val_accuracy``, ``val_mean_iou``, ``val_loss``).
    """
    known = objectives_of(task)
    if text is None:
        return (next(iter(known)),)
    names = [name.strip() for name in text.split(",")] if isinstance(text, str) else [str(n) for n in text]
    if not names or any(not name for name in names):
        raise UsageError(f"--objective: name one or more of {', '.join(known)} ({task}), separated by commas")
    for name in names:
        if name not in known:
            raise UsageError(f"--objective: choose from {', '.join(known)} ({task}), not {name!r}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"--objective: {repeated[0]!r} is named twice")
    return tuple(names)


def make_plan(
    space, data, trials, sampler, storage, study, objective, output, settings, input_shape, recipe, task=None
) -> Plan:
    """Check the flags and the space, and work out the study's name, directory and storage."""
    if sampler not in SAMPLERS:
        raise UsageError(f"--sampler: choose from {', '.join(SAMPLERS)}, not {sampler!r}")
    task = task or (settings.task if settings else None)
    if isinstance(task, str):  # the sweep's entry: a task's name becomes the task
        if task not in TASKS:
            raise UsageError(f"--task: choose from {', '.join(TASKS)}, not {task!r}")
        task = TASKS[task]
    if task is not None:  # a bad objective is told before the data is read, where the task is known
        parse_objectives(objective, task)
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= 1_000_000:
        raise UsageError(f"--trials must be a whole number from 1 to 1,000,000, got {trials!r}")
    source = space if isinstance(space, Source) else Source(SPEC_NAME, space, "spec")
    parsed = _space(source)
    shape, classes, task = _data_shape(data, recipe.get("limit"), input_shape, task, recipe.get("test_split"))
    objectives = parse_objectives(objective, task)
    judge = Judge(parsed, shape, classes, settings or Settings(), task)
    recipe = {"data": data, **recipe, "validation_split": _validation(recipe.get("validation_split"))}
    recipe.update({"task": task.name} if task != CLASSIFY else {})
    if input_shape is not None:
        recipe["input_shape"] = list(input_shape)
    name = study or "sweep-" + hashlib.sha1(f"{source.text}\n{sorted(recipe.items())}".encode()).hexdigest()[:8]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}", name):
        raise UsageError(f"--study: a name of letters, digits, '_', '-' and '.', not {name!r}")
    directory = Path(output) if output is not None else RUNS_DIR / name
    url = storage_url(storage or f"sqlite:///{(directory / 'sweep.db').as_posix()}")
    plan = Plan(parsed, judge, None, None, sampler, objectives, trials, recipe, directory, name, url, source.title)
    plan.task = task
    _count_candidates(plan)
    return plan


def check_pruner(plan: Plan, pruner: str | None) -> None:
    """``--pruner``: median or hyperband, on a study of one objective (Optuna prunes no other)."""
    if pruner is None:
        return
    if pruner not in PRUNERS:
        raise UsageError(f"--pruner: choose from {', '.join(PRUNERS)}, not {pruner!r}")
    if len(plan.objectives) > 1:
        raise UsageError("--prune-epochs: Optuna prunes studies of one objective only, not of several")
    plan.pruner = pruner


def _validation(split: float | str | None) -> float | str:
    """A sweep selects on validation, so by default validates on held-out training data, never on the test split."""
    return VALIDATION_SPLIT if split is None else split


def _space(source: Source) -> Space:
    """The space a source stands for (a spec without braces is a space of one)."""
    if source.error is not None:
        raise source.error
    found = space_of(source)
    if found is not None:
        return found
    chain = source.chain if source.chain is not None else parse(source.text)
    return Space(chain, source.text, source.blocks)


def _data_shape(
    data: str, limit, input_shape, task: Task | None = None, test_split=None
) -> tuple[Sequence[int] | None, int | None, Task]:
    """The input shape, class count and task of the data, which every candidate is checked against."""
    from cnndsl.datasets import known_shape, load_data

    known = known_shape(data)
    if known is None or (task is not None and task != CLASSIFY):
        dataset = load_data(data, limit, task, input_shape=input_shape, test_split=test_split)
        known, task = (dataset.input_shape, dataset.num_classes), dataset.task
    return tuple(input_shape) if input_shape is not None else known[0], known[1], task or CLASSIFY


def _count_candidates(plan: Plan) -> None:
    """The census; errors in the space itself stop the sweep; grid gets the accepted candidates."""
    space = plan.space
    if plan.sampler == "grid" and space.count > EXACT_LIMIT:
        raise UsageError(f"--sampler grid: the space holds {space.count:,} candidates, more than {EXACT_LIMIT:,}")
    plan.census = census(plan.judge)
    errors = plan.census.errors()
    raise_errors(errors, space.source)
    plan.log += describe(plan.census, plan.name)
    plan.log += rejection_lines(plan.census.groups(), plan.name, plan.census.total, plan.census.exact)
    if plan.sampler == "grid":  # the census of a grid's space is exact: every candidate, in order
        plan.grid = list(plan.census.hashes.values())
