"""``cnndsl sweep``: train the candidates of a search space as the trials of an Optuna study.

Optuna is the engine: its samplers propose, its storage (a SQLite file by default,
any Optuna storage URL otherwise) holds the study, so that several processes on
several machines work through one study together, and a stopped sweep resumes.

How the checker and Optuna meet. Every trial is asked for with ``study.ask()``; its
candidate is decided by the sampler (``grid``: one categorical parameter over the
numbers of the distinct candidates the checker accepts, worked out before the study
starts; ``random`` and ``tpe``: one parameter per choice point reached, so that TPE
learns which values work). The candidate is then checked, without building
anything: a candidate the checker rejects, or one over a budget, is told to the study
as *pruned* with its error (TPE counts a pruned trial as a poor one and learns to
avoid it) and is never trained. A candidate whose architecture hash an earlier trial
already claimed is told as that trial's value (or pruned, while that trial is still
running) and not trained again. Only trained trials count towards ``--trials``.

A trial claims its candidate by writing the hash and ``kind=trained`` to the storage,
then reading the study back: of two workers claiming one hash, or claiming the last
slot, the trial with the lower number goes on, so no candidate is trained twice and
no more than ``--trials`` are trained.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cnndsl import interrupts
from cnndsl.errors import StorageError, raise_errors
from cnndsl.inputs import SPEC_NAME, Source, UsageError
from cnndsl.outputs import RUNS_DIR, os_reason
from cnndsl.search import EXACT_LIMIT, Census, Judge, Verdict, budget_words, census, describe, rejection_lines, space_of
from cnndsl.settings import Settings
from cnndsl.space import Space
from cnndsl.syntax import parse
from cnndsl.tasks import CLASSIFY, TASKS, task_named

SAMPLERS = ("grid", "random", "tpe")
VALIDATION_SPLIT = 0.1
"""The fraction of the training data a trial validates on unless ``validation_split`` says otherwise."""
OBJECTIVES = dict(CLASSIFY.objectives)
"""A classifier's objectives; each task has its own (``objectives_of``)."""
PASSWORD_ENV = "CNNDSL_STORAGE_PASSWORD"
"""A storage password taken from the environment, so that it need not be on a command line."""
CLAIM_WAIT_S = 10
"""Longest a claim waits for an earlier trial to say what it is (see Worker._await_earlier)."""
MAX_MISSES = 1_000
"""Proposals in a row that are rejected or already trained before a sweep stops looking."""
BEST_SHOWN = 5
TRAINED, REJECTED, DUPLICATE, SURPLUS = "trained", "rejected", "duplicate", "surplus"


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep; finished trials are in the storage, the leaderboard is written."""

    def __init__(self, rows: list[dict], directory: Path):
        super().__init__("sweep interrupted")
        self.rows, self.directory = rows, directory


# --- storage URLs and their passwords ---------------------------------------------------


_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:@/]*)(?::(?P<password>[^@/]*))?@")


@dataclass(frozen=True)
class StorageURL:
    """An Optuna storage URL with its password kept apart from every text shown."""

    url: str
    """The URL to connect with (the password from the environment put in)."""
    password: str | None

    @property
    def masked(self) -> str:
        """The URL as cnndsl shows it: ``postgresql://user:***@host/db``."""
        return mask(self.url, self.password)

    def scrub(self, text: str) -> str:
        """``text`` with the password (as written, and URL-encoded) replaced by ``***``."""
        return mask(text, self.password)


def storage_url(url: str, environ: Mapping[str, str] | None = None) -> StorageURL:
    """The URL to use: a user without a password takes ``$CNNDSL_STORAGE_PASSWORD``."""
    environ = os.environ if environ is None else environ
    match = _USERINFO.match(url)
    if match is None:
        return StorageURL(url, None)
    password = match.group("password")
    if password is None and environ.get(PASSWORD_ENV):
        password = quote(environ[PASSWORD_ENV], safe="")
        url = f"{match.group('scheme')}{match.group('user')}:{password}@{url[match.end() :]}"
    return StorageURL(url, password or None)


def mask(text: str, password: str | None) -> str:
    """Every occurrence of ``password`` in ``text`` (also decoded) replaced by ``***``."""
    if not password:
        return text
    from urllib.parse import unquote

    for form in {password, unquote(password), quote(unquote(password), safe="")}:
        if form:
            text = text.replace(form, "***")
    return text


class _Scrubber(logging.Filter):
    """Masks the password in whatever Optuna (and SQLAlchemy) log while the sweep runs."""

    def __init__(self, url: StorageURL):
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.url.scrub(record.getMessage()), None
        return True


RACES = ("already exists", "database is locked", "UNIQUE constraint failed", "Duplicate entry", "duplicate key")
"""What a storage says when another worker is creating its tables at the same moment."""


def open_storage(url: StorageURL, attempts: int = 5):
    """An Optuna storage for ``url`` (``journal:PATH`` is Optuna's journal file); StorageError."""
    import optuna

    def make():
        if url.url.startswith("journal:"):
            path = url.url.removeprefix("journal:").removeprefix("//")
            return optuna.storages.journal.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
        return optuna.storages.RDBStorage(url.url)

    try:
        return _retried(make, attempts)
    except Exception as error:  # any driver's error: shown as one line, without the password
        raise StorageError(f"--storage {url.masked}: cannot open it: {_one_line(url.scrub(str(error)))}") from None


def _one_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "unknown error")
    return line if len(line) <= 300 else line[:297] + "..."


# --- the sweep --------------------------------------------------------------------------


@dataclass
class Plan:
    """Everything a sweep needs before its first trial."""

    space: Space
    judge: Judge
    census: Census | None
    grid: list[int] | None
    sampler: str
    objective: str
    trials: int
    recipe: dict
    directory: Path
    study_name: str
    storage: StorageURL
    name: str = SPEC_NAME
    prune: bool = False
    """Report every epoch's validation score, so that Optuna's median pruner may stop a trial."""
    task: str = "classify"
    """What the candidates are trained for: it names the scores (``val_mean_iou``) and the objectives."""
    log: list[str] = field(default_factory=list)


def sweep(
    space: str | Source,
    data: str = "mnist",
    *,
    trials: int = 20,
    sampler: str = "tpe",
    storage: str | None = None,
    study: str | None = None,
    objective: str | None = None,
    prune_epochs: bool = False,
    output: str | Path | None = None,
    settings: Settings | None = None,
    input_shape: Sequence[int] | None = None,
    verbose: int = 0,
    echo=None,
    task: str | None = None,
    **recipe: Any,
) -> list[dict]:
    """Search ``space`` with Optuna, training each accepted candidate with ``cnndsl.train``.

    ``recipe`` holds ``train``'s settings (epochs, batch_size, optimizer, learning_rate,
    seed, limit, validation_split). Trials validate on ``validation_split`` (default 0.1)
    of the training data, held out, so that no trial is selected on its test score;
    ``validation_split="test"`` validates on the test split as ``run`` does. ``task`` (classify,
    segment, regress; by default the data's) sets the head rule, the scores and the objectives:
    ``objective`` defaults to the task's first (``val_accuracy``, ``val_mean_iou``, ``val_loss``).
    ``prune_epochs`` reports each epoch's validation score to Optuna's
    median pruner, which stops a trial that falls behind the others' at the same epoch.
    Returns the leaderboard: one dict per trained candidate, best first.
    Raises SpecError (errors in the space), UsageError (bad settings or storage) or
    SweepInterrupted (Ctrl-C; finished trials stay in the storage).
    """
    plan = make_plan(
        space, data, trials, sampler, storage, study, objective, output, settings, input_shape, recipe, task
    )
    plan.prune = prune_epochs
    return run_plan(plan, verbose, echo or _stderr)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def make_plan(
    space, data, trials, sampler, storage, study, objective, output, settings, input_shape, recipe, task=None
) -> Plan:
    """Check the flags and the space, and work out the study's name, directory and storage."""
    if sampler not in SAMPLERS:
        raise UsageError(f"--sampler: choose from {', '.join(SAMPLERS)}, not {sampler!r}")
    task = task or (settings.task if settings else None)
    if task is not None and task not in TASKS:
        raise UsageError(f"--task: choose from {', '.join(TASKS)}, not {task!r}")
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= 1_000_000:
        raise UsageError(f"--trials must be a whole number from 1 to 1,000,000, got {trials!r}")
    source = space if isinstance(space, Source) else Source(SPEC_NAME, space, "spec")
    parsed = _space(source)
    shape, classes, task = _data_shape(data, recipe.get("limit"), input_shape, task, recipe.get("test_split"))
    objectives = objectives_of(task)
    objective = objective or next(iter(objectives))
    if objective not in objectives:
        raise UsageError(f"--objective: choose from {', '.join(objectives)} ({task}), not {objective!r}")
    judge = Judge(parsed, shape, classes, settings or Settings(), task)
    recipe = {"data": data, **recipe, "validation_split": _validation(recipe.get("validation_split"))}
    recipe.update({"task": task} if task != "classify" else {})
    if input_shape is not None:
        recipe["input_shape"] = list(input_shape)
    name = study or "sweep-" + hashlib.sha1(f"{source.text}\n{sorted(recipe.items())}".encode()).hexdigest()[:8]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}", name):
        raise UsageError(f"--study: a name of letters, digits, '_', '-' and '.', not {name!r}")
    directory = Path(output) if output is not None else RUNS_DIR / name
    url = storage_url(storage or f"sqlite:///{(directory / 'sweep.db').as_posix()}")
    plan = Plan(parsed, judge, None, None, sampler, objective, trials, recipe, directory, name, url, source.title)
    plan.task = task
    _count_candidates(plan)
    return plan


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
    data: str, limit, input_shape, task=None, test_split=None
) -> tuple[Sequence[int] | None, int | None, str]:
    """The input shape, class count and task of the data, which every candidate is checked against."""
    from cnndsl.datasets import known_shape, load_data

    known = known_shape(data)
    if known is None or task not in (None, "classify"):
        dataset = load_data(data, limit, task, input_shape=input_shape, test_split=test_split)
        known, task = (dataset.input_shape, dataset.num_classes), dataset.task
    return tuple(input_shape) if input_shape is not None else known[0], known[1], task or "classify"


def objectives_of(task: str) -> dict[str, str]:
    """What a sweep of this task may optimise, and which way (classification's: OBJECTIVES)."""
    return dict(task_named(task).objectives)


def score_fields(task: str) -> tuple[str, ...]:
    """The leaderboard's score columns: ``val_accuracy, val_loss, test_accuracy`` for a classifier."""
    metrics = task_named(task).metrics
    return (*(f"val_{m}" for m in metrics), "val_loss", *(f"test_{m}" for m in metrics))


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


# --- running the study ----------------------------------------------------------------


def run_plan(plan: Plan, verbose: int, echo) -> list[dict]:
    """Open the study and train trials until ``--trials`` are trained (by every worker together)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    scrubber = _Scrubber(plan.storage)
    loggers = [logging.getLogger("optuna"), logging.getLogger("sqlalchemy")]
    for logger in loggers:
        logger.addFilter(scrubber)
    try:
        for line in plan.log:
            echo(line)
        study = _opened(plan)
        echo(f"study {plan.study_name!r} in {plan.storage.masked}; trials in {plan.directory}/")
        worker = Worker(plan, study, verbose, echo)
        try:
            with interrupts.remembered():
                worker.run()
        except KeyboardInterrupt:
            rows = write_leaderboard(plan, study)
            raise SweepInterrupted(rows, plan.directory) from None
        rows = write_leaderboard(plan, study)
        _print_best(rows, plan, echo, worker)
        return rows
    finally:
        for logger in loggers:
            logger.removeFilter(scrubber)


def _opened(plan: Plan):
    """The study, in the sweep directory (made if need be, and removed again if the storage fails)."""
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


PRUNE_AFTER_TRIALS, PRUNE_FROM_EPOCH = 2, 2
"""The median pruner compares a trial with at least this many finished ones, from this epoch on."""


def _pruner(plan: Plan):
    """Optuna's median pruner with ``--prune-epochs``; otherwise none (trials always finish)."""
    import optuna

    if not plan.prune:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=PRUNE_FROM_EPOCH
    )  # steps are epochs, from 1


def _study(plan: Plan):
    """Create the study, or load it to resume; a study of another space or recipe is refused."""
    import optuna

    storage = open_storage(plan.storage)
    try:
        study = _retried(
            lambda: optuna.create_study(
                study_name=plan.study_name,
                storage=storage,
                sampler=_sampler(plan),
                pruner=_pruner(plan),
                direction=objectives_of(plan.task)[plan.objective],
                load_if_exists=True,
            )
        )
        made_for = study.user_attrs.get("space")
        if made_for is None:
            study.set_user_attr("space", plan.space.source)
            study.set_user_attr("recipe", plan.recipe)
            study.set_user_attr("objective", plan.objective)
    except Exception as error:
        raise StorageError(f"--storage {plan.storage.masked}: {_one_line(plan.storage.scrub(str(error)))}") from None
    if made_for is not None and (made_for, study.user_attrs.get("recipe")) != (plan.space.source, plan.recipe):
        raise UsageError(
            f"--study {plan.study_name}: this study was made for another space or recipe; name a new study"
        )
    if study.user_attrs.get("objective", plan.objective) != plan.objective:
        raise UsageError(f"--study {plan.study_name}: this study optimises {study.user_attrs['objective']}")
    return study


def _retried(make, attempts: int = 5):
    """``make()``, tried again while another worker is creating the same tables or study."""
    for attempt in range(attempts):
        try:
            return make()
        except Exception as error:
            if attempt + 1 == attempts or not any(race in str(error) for race in RACES):
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


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


class Worker:
    """One process's part of a study: ask, check, claim, train, tell."""

    def __init__(self, plan: Plan, study, verbose: int, echo):
        self.plan, self.study, self.verbose, self.echo = plan, study, verbose, echo
        self.trained_here = 0
        self.misses = 0
        self.stopped_because: str | None = None

    def run(self) -> None:
        while self._wanted():
            interrupts.check()
            trial = self.study.ask()
            self.told = False
            self.directory: Path | None = None
            try:
                self._one(trial)
            except KeyboardInterrupt:
                self._tell_failed(trial, "interrupted")
                raise
            except BaseException:
                self._tell_failed(trial, "failed")
                raise

    def _wanted(self) -> bool:
        if len(self._claimed()) >= self.plan.trials:
            return False
        if self._exhausted():
            self.stopped_because = "every candidate the checker accepts is trained"
            return False
        if self.misses >= MAX_MISSES:
            self.stopped_because = f"{MAX_MISSES:,} proposals in a row were rejected or already trained"
            return False
        return True

    def _exhausted(self) -> bool:
        """Whether every distinct accepted candidate is claimed (known when the census was exact)."""
        known = self.plan.census
        return known is not None and known.exact and len(self._claimed()) >= len(known.hashes)

    def _claimed(self, states=None) -> list:
        """The trials that are (or were) trained, running, complete or stopped by the pruner, by number."""
        from optuna.trial import TrialState

        states = states or (TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED)
        trials = self.study.get_trials(deepcopy=False, states=states)
        return sorted((t for t in trials if t.user_attrs.get("kind") == TRAINED), key=lambda t: t.number)

    def _one(self, trial) -> None:
        index = self._decide(trial)
        verdict = self.plan.judge(index)
        trial.set_user_attr("index", str(index))
        if not verdict.accepted:
            self._reject(trial, verdict)
            return
        trial.set_user_attr("hash", verdict.hash)
        trial.set_user_attr("kind", TRAINED)
        self._await_earlier(trial)
        earlier = self._earlier_claim(trial, verdict.hash)
        if earlier is not None:
            self._duplicate(trial, earlier)
            return
        if trial.number not in [t.number for t in self._claimed()[: self.plan.trials]]:
            self._tell(trial, "FAIL", kind=SURPLUS)
            return
        self._train(trial, verdict)

    def _await_earlier(self, trial) -> None:
        """Wait until each trial asked before this one (by any worker) has said what it is.

        The earliest claim of a candidate trains it, and the first ``--trials`` claims are
        the ones trained; that holds only if every claim sees the claims before it. A trial
        asked earlier may still be judging its candidate; one silent for CLAIM_WAIT_S
        belongs to a worker that died, and is not waited for.
        """
        from datetime import datetime, timedelta

        from optuna.trial import TrialState

        while True:
            recent = datetime.now() - timedelta(seconds=CLAIM_WAIT_S)
            running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if not any(
                t.number < trial.number and "kind" not in t.user_attrs and t.datetime_start > recent for t in running
            ):
                return
            time.sleep(0.05)

    def _decide(self, trial) -> int:
        if self.plan.grid is not None:
            return int(trial.suggest_categorical("candidate", self.plan.grid))
        return self.plan.space.index_of(lambda key, node, labels: _suggest(trial, key, node, labels))

    def _earlier_claim(self, trial, digest: str):
        for other in self._claimed():
            if other.number < trial.number and other.user_attrs.get("hash") == digest:
                return other
        return None

    def _reject(self, trial, verdict: Verdict) -> None:
        error = verdict.error
        where = f"{error.span.line}:{error.span.column}" if error.span else ""
        trial.set_user_attr("error", {"kind": error.kind, "message": error.message, "at": where})
        self._tell(trial, "PRUNED", kind=REJECTED)
        self.misses += 1

    def _duplicate(self, trial, earlier) -> None:
        trial.set_user_attr("duplicate_of", earlier.number)
        if earlier.value is not None:
            trial.set_user_attr("kind", DUPLICATE)
            self._told(trial, earlier.value)
        else:
            self._tell(trial, "PRUNED", kind=DUPLICATE)
        self.misses += 1

    def _tell(self, trial, state: str, kind: str) -> None:
        from optuna.trial import TrialState

        trial.set_user_attr("kind", kind)
        self._told(trial, state=getattr(TrialState, state))

    def _told(self, trial, *args, **kwargs) -> None:
        self.study.tell(trial, *args, **kwargs)
        self.told = True

    def _tell_failed(self, trial, why: str) -> None:
        """Leave an interrupted or failed trial as failed: a rerun may train its candidate again."""
        from optuna.trial import TrialState

        if self.told:
            return
        mark_stale(getattr(self, "directory", None), why)
        try:
            trial.set_user_attr("kind", why)
            self.study.tell(trial, state=TrialState.FAIL)
        except Exception:  # the storage is gone too: the trial stays running there
            pass

    def _train(self, trial, verdict: Verdict) -> None:
        import cnndsl

        plan = self.plan
        text = verdict.text
        directory = plan.directory / f"trial-{trial.number:04d}-{verdict.hash}"
        self.directory = directory
        self.echo(f"trial {trial.number}: {_one_line_spec(text)} ({verdict.model.total_params:,} parameters)")
        started = time.perf_counter()
        pruned: list[int] = []
        observe = _epoch_reporter(trial, plan, pruned) if plan.prune else None
        result = cnndsl.train(text, output=directory, verbose=self.verbose, on_epoch=observe, **plan.recipe)
        row = _row(trial.number, text, verdict, result, time.perf_counter() - started, plan.task)
        trial.set_user_attr("row", row)
        if pruned:  # still a trained candidate (kind TRAINED, counted among the N): only its state differs
            from optuna.trial import TrialState

            trial.set_user_attr("pruned_at_epoch", pruned[0])
            self._told(trial, state=TrialState.PRUNED)
            self.echo(f"trial {trial.number}: pruned after epoch {pruned[0]}: behind the median of the others")
            self.trained_here += 1
            write_leaderboard(plan, self.study)
            return
        self._told(trial, row[plan.objective])
        self.trained_here += 1
        self.misses = 0
        self.echo(f"trial {trial.number}: {plan.objective} {row[plan.objective]:.4f} ({row['seconds']:.1f} s)")
        write_leaderboard(plan, self.study)


def mark_stale(directory: Path | None, why: str) -> Path | None:
    """Rename an unfinished trial's folder ``...-interrupted`` (or ``-failed``), so that it never looks trained."""
    if directory is None or not directory.is_dir():
        return None
    target = directory.with_name(f"{directory.name}-{why}")
    try:
        directory.rename(target)
    except OSError:
        return None
    return target


SKIPPED_WHY = {
    REJECTED: "rejected by the checker or a budget (never trained)",
    DUPLICATE: "the same architecture as a trained trial",
    SURPLUS: "asked for after the last trial was handed out",
    "interrupted": "interrupted (its folder, if any, ends in -interrupted; the candidate may train again)",
    "failed": "failed (its folder, if any, ends in -failed)",
    "unfinished": "not finished (still training elsewhere, or its process stopped)",
}


def skipped_trials(study, shown: Iterable[int]) -> list[str]:
    """Why the trial numbers missing from the leaderboard are missing: one line per reason."""
    shown = set(shown)
    by_kind: dict[str, list[int]] = {}
    for trial in study.get_trials(deepcopy=False):
        if trial.number not in shown:
            kind = trial.user_attrs.get("kind") or "unfinished"
            by_kind.setdefault(kind, []).append(trial.number)
    ordered = sorted(by_kind.items(), key=lambda item: item[1][0])
    return [
        f"trial{'s' * (len(numbers) > 1)} {_numbers(numbers)}: {SKIPPED_WHY.get(kind, kind)}"
        for kind, numbers in ordered
    ]


def _numbers(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in sorted(numbers)[:12])
    return shown + (f" and {len(numbers) - 12} more" if len(numbers) > 12 else "")


def _epoch_reporter(trial, plan: Plan, pruned: list[int]):
    """Each epoch's validation score to the trial; True (stop) once the pruner says so."""
    primary = f"val_{task_named(plan.task).metrics[-1]}"
    metric = plan.objective if plan.objective.startswith("val_") else primary  # test scores come only at the end

    def observe(row: dict) -> bool:
        value = row.get(metric)
        if value is None:
            return False
        trial.report(float(value), row["epoch"])
        if trial.should_prune():
            pruned.append(row["epoch"])
            return True
        return False

    return observe


def _suggest(trial, key: str, node, labels: tuple[str, ...]) -> int:
    """The sampler's pick at one choice point: an option's number, or a range's offset."""
    from cnndsl import ast

    if isinstance(node, ast.Range):
        low = int(node.low.value)
        return trial.suggest_int(key, low, int(node.high.value)) - low
    return labels.index(trial.suggest_categorical(key, labels))


def _one_line_spec(text: str) -> str:
    return " ".join(text.split())


def _row(number: int, text: str, verdict: Verdict, result, seconds: float, task: str = "classify") -> dict:
    last = result.history[-1] if result.history else {}
    metrics = result.metrics
    scores = {key: _number((metrics if key.startswith("test_") else last).get(key)) for key in score_fields(task)}
    return {
        "trial": number,
        "candidate": _one_line_spec(text),
        "hash": verdict.hash,
        "params": verdict.model.total_params,
        "macs": verdict.model.total_macs,
        **scores,
        "seconds_per_epoch": _number(metrics.get("seconds_per_epoch")),
        "seconds": round(seconds, 1),
        "directory": str(result.directory) if result.directory else "",
    }


def _number(value) -> float | None:
    return None if value is None else round(float(value), 6)


# --- the leaderboard --------------------------------------------------------------------

FIELDS = ("trial", "candidate", "hash", "params", "macs", "val_accuracy", "val_loss", "test_accuracy",
          "seconds_per_epoch", "seconds", "directory")  # fmt: skip


def leaderboard(plan: Plan, study) -> list[dict]:
    """Every trained trial of the study (all workers'), best first."""
    from optuna.trial import TrialState

    rows = [
        dict(t.user_attrs["row"])
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.user_attrs.get("kind") == TRAINED and "row" in t.user_attrs
    ]
    return sorted(rows, key=lambda row: _rank_key(row, plan.objective, plan.task))


def _rank_key(row: dict, objective: str, task: str = "classify") -> tuple:
    """Best first by ``objective``; a trial without a value ranks last whichever way the study optimises."""
    value = row.get(objective)
    if value is None or value != value:
        return (1, 0.0, row["trial"])
    sign = 1 if objectives_of(task)[objective] == "minimize" else -1
    return (0, sign * value, row["trial"])


def write_leaderboard(plan: Plan, study) -> list[dict]:
    """``sweep.csv``, ``sweep.md`` and ``sweep.png`` in the sweep directory; the rows."""
    from cnndsl.outputs import write_csv, write_text

    rows = leaderboard(plan, study)
    fields = FIELDS if plan.task == "classify" else (*FIELDS[:5], *score_fields(plan.task), *FIELDS[8:])
    write_csv(plan.directory / "sweep.csv", rows, fields)
    write_text(plan.directory / "sweep.md", sweep_markdown(plan, study, rows))
    if rows:
        plot_pareto(plan.directory / "sweep.png", rows, plan.task)
    return rows


def sweep_markdown(plan: Plan, study, rows: list[dict]) -> str:
    """The leaderboard as Markdown, with the study, storage (password masked) and rejections."""
    primary = _primary(plan.task)
    shown = primary.replace("_", " ").replace("iou", "IoU").replace("mae", "MAE")
    lines = [
        f"# Sweep {plan.study_name}",
        "",
        f"Storage: `{plan.storage.masked}`; sampler {plan.sampler}; objective {plan.objective}; "
        f"{len(rows)} of {plan.trials} trials trained.",
        "",
        f"| # | trial | candidate | hash | params | MACs | val {shown} | test {shown} | s/epoch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rank, row in enumerate(rows, 1):
        cells = [
            str(rank), str(row["trial"]), f"`{row['candidate']}`", row["hash"], f"{row['params']:,}",
            f"{row['macs']:,}", _fixed(row[f"val_{primary}"]), _fixed(row[f"test_{primary}"]),
            _fixed(row["seconds_per_epoch"], 1),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    skipped = skipped_trials(study, (row["trial"] for row in rows))
    if skipped:
        lines += ["", "Trial numbers not in the table:", ""] + [f"- {line}" for line in skipped]
    rejected = _rejections(study)
    if rejected:
        lines += ["", "Proposals the checker rejected (never trained):", ""]
        lines += [f"- {count:,} x {at}: {message}" for (message, at), count in rejected]
    return "\n".join(lines) + "\n"


def _fixed(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _rejections(study) -> list[tuple[tuple[str, str], int]]:
    counts: dict[tuple[str, str], int] = {}
    for trial in study.get_trials(deepcopy=False):
        error = trial.user_attrs.get("error")
        if trial.user_attrs.get("kind") == REJECTED and error:
            key = (budget_words(error["message"]), error["at"])
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])


def _primary(task: str) -> str:
    """The score a leaderboard shows and its picture plots: accuracy, mean IoU, MAE."""
    return task_named(task).metrics[-1]


def pareto_front(rows: Sequence[Mapping], key: str = "val_accuracy", lower: bool = False) -> list[Mapping]:
    """The rows no other row beats on both ``key`` (higher, or ``lower``) and parameters (fewer)."""
    sign = -1 if lower else 1
    front, best = [], -math.inf
    for row in sorted(rows, key=lambda r: (r["params"], -sign * (r[key] or 0))):
        score = sign * (row[key] or 0)
        if score > best:
            front.append(row)
            best = score
    return front


def plot_pareto(path: Path, rows: Sequence[Mapping], task: str = "classify") -> Path:
    """The validation score against parameters, one point per trained candidate, the front marked."""
    from cnndsl.outputs import new_figure, png_bytes, write_bytes

    primary = _primary(task)
    key, label = f"val_{primary}", "validation " + primary.replace("_", " ")
    lower = objectives_of(task).get(key) == "minimize"
    figure = new_figure()
    axes = figure.add_subplot()
    axes.scatter([r["params"] for r in rows], [r[key] for r in rows], color="tab:blue", label="trial")
    front = pareto_front(rows, key, lower)
    axes.plot([r["params"] for r in front], [r[key] for r in front], "o-", color="tab:red",
              label="Pareto front")  # fmt: skip
    axes.set_xscale("log")
    axes.set_xlabel("parameters")
    axes.set_ylabel(label)
    axes.set_title(f"Sweep: {label} against size ({len(rows)} trials)")
    axes.grid(True)
    axes.legend()
    return write_bytes(path, png_bytes(figure))


def _print_best(rows: list[dict], plan: Plan, echo, worker: Worker) -> None:
    if worker.stopped_because:
        echo(f"stopped: {worker.stopped_because}")
    echo(f"{len(rows)} trial(s) trained ({worker.trained_here} by this process); best by {plan.objective}:")
    for rank, row in enumerate(rows[:BEST_SHOWN], 1):
        echo(
            f"  {rank}. {plan.objective} {_fixed(row[plan.objective]) or 'none'}  "
            f"test {_fixed(row[f'test_{_primary(plan.task)}'])}  "
            f"{row['params']:,} params  {row['hash']}  {row['candidate']}"
        )
    skipped = skipped_trials(worker.study, (row["trial"] for row in rows))
    if skipped:
        echo("trial numbers missing from sweep.csv: " + "; ".join(skipped))
    echo(f"Wrote {plan.directory}/: sweep.csv, sweep.md{', sweep.png' if rows else ''} and a folder per trial")
