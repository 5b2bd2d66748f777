"""One search space, searched by cnndsl sweep and by keras-tuner: trial cost, the infeasible region, best models.

The space is the notebook's style of network, where 44% of the candidates cannot be
built (two 7x7 convolutions after two poolings shrink a 28x28 digit to nothing).
keras-tuner writes it with ``hp.Choice``s and finds out by building each trial's model;
cnndsl writes it in the notation and checks each candidate before anything is built.
Three measurements:

1. ``proposals``: how many proposals land in the infeasible region under Optuna's TPE,
   with the rejected candidates told as infeasible through Optuna's constraints and
   without (told as plain pruned trials), over several seeds. No training: each accepted
   candidate is scored by a stand-in (the log of its parameter count, scaled), so that
   only the sampler's handling of the impossible region differs.
2. ``budget``: for each seed, each search gets the same wall-clock budget (no new trial is
   started after it) on the same space, recipe (Adam, batch 128, categorical
   cross-entropy) and data (the bundled sample, validated on its test images), each in a
   fresh process. One configuration is compared, declared before the run (``DECLARED``):
   ``cnndsl sweep`` as a user gets it without flags (TPE with constraints and its start
   weighed by cost). It is compared against keras-tuner's RandomSearch and
   BayesianOptimization, each; two other cnndsl variants (median pruning; TPE's own random
   start) are run and reported beside them, never compared in its place. The order of the
   searches changes from seed to seed (``order``: reversed on odd seeds, rotated every
   two), so that the machine's load falls on all alike. The
   table gives every search's own figures: the median (and range) over seeds of the best
   last-epoch validation accuracy, of the trials trained and of the seconds per trained
   trial, and each seed's best. Every keras-tuner failure is attributed: a shape error
   (the checker rejects the same candidate) or something else, which invalidates that run
   and is reported so. The best score a search saw rewards a lucky draw as much as a good
   candidate (a trial's seed moves every candidate's score), so each search's chosen
   candidate is then retrained ``--retrain`` times with seeds neither search used, and its
   mean is compared too: what the candidate the search found is worth.
3. ``cost``: what a trained trial costs when both train the same models. A space of six
   candidates, all of which can be built, is searched whole by ``cnndsl sweep --sampler
   grid`` and by keras-tuner's ``GridSearch``, each in a fresh process, ``--rounds``
   times, which tool goes first alternating from round to round: seconds per trial,
   candidate by candidate (paired), and each search's wall time per trial (claims,
   leaderboard, keras-tuner's oracle and saving included).

4. ``landscape`` (only with ``--only landscape``): every accepted candidate trained
   ``--repeats`` times with the budget part's recipe, each run kept in
   ``benchmarks/sweep-landscape.jsonl``; then the score by cost quartile, and the best model
   found in ``--budget`` seconds by three orders of training simulated over those runs.

    python benchmarks/sweep.py --seeds 5 --budget 90 --limit 1024 --epochs 2
    python benchmarks/sweep.py --only budget --seeds 10 --budget 60 --limit 512 --epochs 2 --kinds default,cheap-start,random,bayesian
    python benchmarks/sweep.py --only cost --rounds 3 --limit 1024 --epochs 2
    python benchmarks/sweep.py --only landscape --repeats 2 --budget 60 --limit 512 --epochs 2

keras-tuner is the ``bench`` extra: ``pip install -e ".[bench]"``. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "BENCHMARK-RESULT "
SPACE = (
    "CN({20,38,72}, {5,7}) -> CN({20,38}, {5,7}) -> MP(2,2) -> CN({20,38}, {5,7}) * {1..2} -> MP(2,2)"
    " -> DP(0.25) -> FL() -> DN({64,128}) -> DP(0.5) -> DN(10)"
)
CHOICES = {"f1": [20, 38, 72], "k1": [5, 7], "f2": [20, 38], "k2": [5, 7], "f3": [20, 38], "k3": [5, 7],
           "repeat": [1, 2], "units": [64, 128]}  # fmt: skip
"""The same space as keras-tuner's hyperparameters, in the order the notation writes them."""


def keras_model(values: dict):
    """The candidate ``values`` picks, built by hand in Keras (raises where it cannot exist)."""
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input((28, 28, 1))])
    model.add(layers.Conv2D(values["f1"], values["k1"], activation="relu"))
    model.add(layers.Conv2D(values["f2"], values["k2"], activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    for _ in range(values["repeat"]):
        model.add(layers.Conv2D(values["f3"], values["k3"], activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    for layer in (layers.Dropout(0.25), layers.Flatten(), layers.Dense(values["units"], activation="relu"),
                  layers.Dropout(0.5), layers.Dense(10, activation="softmax")):  # fmt: skip
        model.add(layer)
    return model


def notation(values: dict) -> str:
    """The same candidate written in the notation."""
    v = values
    convs = f"CN({v['f3']}, {v['k3']}) * {v['repeat']}" if v["repeat"] > 1 else f"CN({v['f3']}, {v['k3']})"
    return (
        f"CN({v['f1']}, {v['k1']}) -> CN({v['f2']}, {v['k2']}) -> MP(2, 2) -> {convs} -> MP(2, 2)"
        f" -> DP(0.25) -> FL() -> DN({v['units']}) -> DP(0.5) -> DN(10)"
    )


COST_SPACE = (
    "CN({20,38,72}, 5) -> CN({20,38}, 5) -> MP(2,2) -> CN(20, 5) -> MP(2,2)"
    " -> DP(0.25) -> FL() -> DN(64) -> DP(0.5) -> DN(10)"
)
COST_FIXED = {"k1": 5, "k2": 5, "f3": 20, "k3": 5, "repeat": 1, "units": 64}
"""The cost part's space: six candidates, all of which can be built; keras-tuner's, the rest fixed so."""


# --- 1. proposals in the infeasible region, with and without constraints ---------------------


VARIANTS = {
    "TPE, rejected candidates told as infeasible (Optuna constraints)": ("tpe", True),
    "TPE, rejected candidates told as pruned (no constraints)": ("tpe", False),
    "random sampling (reference)": ("random", True),
}


def proposals(seeds: int, trials: int) -> dict[str, list[int]]:
    """Rejected proposals before ``trials`` candidates were accepted, per seed, with and without constraints."""
    from types import SimpleNamespace
    from unittest import mock

    import optuna

    from cnndsl import sweeps
    from cnndsl.training import api

    def stand_in(model, data="mnist", *, output=None, **recipe):
        score = min(1.0, math.log(model.total_params) / 14)
        history = [{"epoch": 1, "val_accuracy": score, "val_loss": 1 - score}]
        return SimpleNamespace(metrics={"test_accuracy": score, "seconds_per_epoch": 0.0}, history=history,
                               directory=Path(output))  # fmt: skip

    counts: dict[str, list[int]] = {}
    for sampler, constraints in VARIANTS.values():
        for seed in range(seeds):
            storage = optuna.storages.InMemoryStorage()
            with mock.patch.object(api, "train", stand_in), \
                    mock.patch.object(sweeps.storages, "open_storage", lambda url, storage=storage, **_: storage):  # fmt: skip
                sweeps.sweep(SPACE, "sample", trials=trials, sampler=sampler, seed=seed, constraints=constraints,
                             output=tempfile.mkdtemp(prefix="bench-tpe-"), study="p", echo=lambda line: None)  # fmt: skip
            kinds = [t.user_attrs.get("kind") for t in optuna.load_study(study_name="p", storage=storage).trials]
            counts.setdefault(f"{sampler}-{constraints}", []).append(kinds.count("rejected"))
    return counts


# --- 2. an equal wall-clock budget, each search in its own process ---------------------------


def child_keras_tuner(args: argparse.Namespace) -> dict:
    """keras-tuner's RandomSearch or BayesianOptimization until the budget; failures kept with their messages."""
    import keras_tuner

    data, y_train, y_test = tuner_data(args)

    def build(hp):
        return compiled({name: hp.Choice(name, values) for name, values in CHOICES.items()})

    kind = {"random": keras_tuner.RandomSearch, "bayesian": keras_tuner.BayesianOptimization}[args.child_kind]
    seconds: dict[str, float] = {}
    last: dict[str, float] = {}

    class Timed(timed(kind, seconds, last)):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if time.perf_counter() - begun >= args.budget:  # start no new trial after the budget
                self.oracle.max_trials = len(self.oracle.trials)

    tuner = Timed(
        build, objective="val_accuracy", max_trials=10_000, seed=args.seed, overwrite=True,
        directory=tempfile.mkdtemp(prefix="bench-kt-"), project_name="space",
        max_consecutive_failed_trials=10_000, max_retries_per_trial=0,
    )  # fmt: skip
    begun = time.perf_counter()
    error = None
    try:
        tuner.search(data.x_train, y_train, epochs=args.epochs, batch_size=128,
                     validation_data=(data.x_test, y_test), verbose=0)  # fmt: skip
    except Exception as exc:  # keras-tuner gave up: reported, and attributed below
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:120]}"
    searched = time.perf_counter() - begun
    trials = list(tuner.oracle.trials.values())
    done = [t for t in trials if t.status == "COMPLETED"]
    failures = [attribute({name: t.hyperparameters.get(name) for name in CHOICES}, t.message or "")
                for t in trials if t.status in ("FAILED", "INVALID")]  # fmt: skip
    # keras-tuner scores a trial by its best epoch; cnndsl by its last: the last epoch is compared, both recorded
    best = max((last[t.trial_id] for t in done if t.trial_id in last), default=None)
    chosen = max((t for t in done if t.trial_id in last), key=lambda t: last[t.trial_id], default=None)
    best_epoch = max((t.metrics.get_last_value("val_accuracy") for t in done), default=None)
    return {
        "trained": len(done), "best": best, "best_epoch": best_epoch, "error": error, "failures": failures,
        "chosen": None if chosen is None else {name: chosen.hyperparameters.get(name) for name in CHOICES},
        "trial_seconds": [seconds[t.trial_id] for t in done if t.trial_id in seconds], "search_seconds": searched,
    }  # fmt: skip


def tuner_data(args: argparse.Namespace):
    """keras-tuner's side: Keras seeded, the sample read, its labels one-hot (the recipe's encoding)."""
    import keras
    import numpy as np

    from cnndsl import load_data

    keras.utils.set_random_seed(args.seed)
    data = load_data("sample", args.limit)
    return data, *(np.eye(10, dtype="float32")[y] for y in (data.y_train, data.y_test))


def compiled(values: dict):
    """The candidate built by hand and compiled with the recipe's optimizer, loss and metric."""
    model = keras_model(values)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def timed(tuner_class, seconds: dict[str, float], last: dict[str, float] | None = None):
    """``tuner_class`` with each trial's ``run_trial`` (building and fitting its model) timed into ``seconds``, and
    its last epoch's validation accuracy kept in ``last`` (keras-tuner itself keeps the best epoch's)."""

    class Timed(tuner_class):
        def run_trial(self, trial, *fit_args, **fit_kwargs):
            started = time.perf_counter()
            try:
                histories = super().run_trial(trial, *fit_args, **fit_kwargs)
            finally:
                seconds[trial.trial_id] = time.perf_counter() - started
            if last is not None:
                history = histories[-1] if isinstance(histories, list) else histories
                last[trial.trial_id] = history.history["val_accuracy"][-1]
            return histories

    return Timed


def attribute(values: dict, message: str) -> str:
    """Why keras-tuner's trial failed: ``shape`` when the checker rejects the same candidate, else the error."""
    from cnndsl import SpecError, check

    try:
        check(notation(values))
    except SpecError:
        return "shape"
    last = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return "other: " + (last[-1][:160] if last else "no message")


def child_cnndsl(args: argparse.Namespace) -> dict:
    """``cnndsl sweep`` as a user gets it (TPE, constraints, the start weighed by cost) until the budget; or one variant:
    with median pruning, or without that start (TPE's own random start)."""
    import keras  # noqa: F401 - imported before the clock starts, as keras-tuner's child imports it
    import optuna

    import cnndsl
    from cnndsl.sweeps import start

    if args.child_kind == "random-start":
        start.proposal = lambda plan, study: None
    if args.child_kind == "cheap-start":
        start.proposal = cheap_start
    output = Path(tempfile.mkdtemp(prefix="bench-cnndsl-")) / "sweep"
    begun = time.perf_counter()
    rows = cnndsl.sweep(
        SPACE, "sample", trials=10_000, sampler="tpe", seed=args.seed, limit=args.limit, epochs=args.epochs,
        batch_size=128, validation_split="test", output=output, study="bench",
        prune_epochs=args.child_kind == "pruned",
        timeout=max(0.001, args.budget - (time.perf_counter() - begun)), echo=lambda line: None,
    )  # fmt: skip
    searched = time.perf_counter() - begun
    study = optuna.load_study(study_name="bench", storage=f"sqlite:///{output / 'sweep.db'}")
    kinds = [(t.user_attrs.get("kind"), t.state.name) for t in study.trials]
    return {
        "trained": sum(kind == "trained" for kind, _ in kinds), "best": max((r["val_accuracy"] for r in rows), default=None),
        "chosen": values_of(rows[0]["hash"]) if rows else None,
        "error": None, "failures": [], "rejected": sum(kind == "rejected" for kind, _ in kinds),
        "pruned": sum(kind == "trained" and state == "PRUNED" for kind, state in kinds),
        "trial_seconds": [t.user_attrs["row"]["seconds"] for t in study.trials if "row" in t.user_attrs],
        "search_seconds": searched,
    }  # fmt: skip


def cheap_start(plan, study):
    """The start before it was weighed by what cost buys: ten candidates from the cheaper half of the accepted ones
    (by MACs), far apart (each next one differing most from its nearest chosen), trained cheapest first."""
    import random

    from cnndsl.sweeps import start

    started = [t for t in study.get_trials(deepcopy=False) if "start" in t.user_attrs]
    if not start.used(plan) or len(started) >= start.STARTUP:
        return None
    census, space = plan.census, plan.space
    ranked = sorted(census.costs, key=lambda digest: (start.cost(*census.costs[digest]), census.hashes[digest]))
    cheap = ranked[: max(start.STARTUP, (len(ranked) + 1) // 2)]
    rng = random.Random(plan.recipe.get("seed"))
    decisions = {digest: space.choices(census.hashes[digest]) for digest in cheap}
    chosen = [rng.choice(cheap)]
    nearest = {digest: start._apart(decisions[digest], decisions[chosen[0]]) for digest in cheap}
    while len(chosen) < min(start.STARTUP, len(cheap)):
        left = [digest for digest in cheap if digest not in chosen]
        far = max(nearest[digest] for digest in left)
        chosen.append(rng.choice([digest for digest in left if nearest[digest] == far]))
        for digest in left:
            nearest[digest] = min(nearest[digest], start._apart(decisions[digest], decisions[chosen[-1]]))
    chosen.sort(key=cheap.index)
    return len(started), start.params_of(space, census.hashes[chosen[len(started)]])


# --- 4. the landscape: every accepted candidate trained, and orders of training it simulated ------


def landscape_part(args: argparse.Namespace) -> None:
    """Train every accepted candidate of the space ``--repeats`` times (seeds 0, 1, ...) with the budget part's
    recipe, in this process, one JSON line each in ``--landscape`` (kept: a rerun reads it back and trains only
    what is missing); then the score by cost quartile, and the best model found in ``--budget`` seconds by
    orders of training simulated over those measurements (random, cheapest first, dearest first)."""
    import random

    from cnndsl import SpecError, check

    path = Path(args.landscape)
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    done = {(tuple(row[name] for name in CHOICES), row["seed"]) for row in rows}
    with path.open("a") as out:
        for combo in itertools.product(*CHOICES.values()):
            values = dict(zip(CHOICES, combo))
            try:
                model = check(notation(values))
            except SpecError:
                continue
            for seed in range(args.repeats):
                if (combo, seed) in done:
                    continue
                row = {**values, "seed": seed, **trained(values, seed, args), "params": model.total_params,
                       "macs": model.total_macs}  # fmt: skip
                out.write(json.dumps(row) + "\n")
                out.flush()
                rows.append(row)
                print(json.dumps(row), flush=True)
    runs: dict[tuple, list[dict]] = {}
    for row in rows:
        runs.setdefault(tuple(row[name] for name in CHOICES), []).append(row)
    ranked = sorted(runs, key=lambda combo: runs[combo][0]["macs"])
    print(
        f"\n| {len(ranked)} accepted candidates, {args.repeats} runs each | val accuracy, mean | best | s per trial |"
    )
    print("|---|---|---|---|")
    for quarter in range(4):
        part = [row for combo in ranked[quarter * len(ranked) // 4 : (quarter + 1) * len(ranked) // 4]
                for row in runs[combo]]  # fmt: skip
        print(f"| MACs quartile {quarter + 1}{NAMED.get(quarter, '')} | {statistics.fmean(r['acc'] for r in part):.3f} "
              f"| {max(r['acc'] for r in part):.3f} | {statistics.fmean(r['s'] for r in part):.2f} |")  # fmt: skip

    def best_found(order: list[tuple], seed: int) -> tuple[float, int]:
        """Train in ``order`` until the budget (each trial a measured run drawn at random, plus OVERHEAD_S)."""
        rng, clock, found = random.Random(seed), 0.0, []
        for combo in order:
            if clock >= args.budget:
                break
            run = rng.choice(runs[combo])
            clock += run["s"] + OVERHEAD_S
            found.append(run["acc"])
        return max(found), len(found)

    orders = {
        "random order": lambda seed: random.Random(seed).sample(ranked, len(ranked)),
        "cheapest first": lambda seed: ranked,
        "dearest first": lambda seed: ranked[::-1],
    }
    print(
        f"\n| {SIMULATED:,} simulated searches of {args.budget:g} s | best val accuracy, mean | median | trials, mean |"
    )
    print("|---|---|---|---|")
    for name, order in orders.items():
        found = [best_found(order(seed), seed) for seed in range(SIMULATED)]
        print(f"| {name} | {statistics.fmean(b for b, _ in found):.3f} | {statistics.median(b for b, _ in found):.3f} "
              f"| {statistics.fmean(n for _, n in found):.1f} |")  # fmt: skip


NAMED = {0: " (cheapest)", 3: " (dearest)"}
OVERHEAD_S = 0.4
"""What a trial costs beside its training in the simulated searches (a sweep's own work, measured about 0.4 s)."""
SIMULATED = 2_000


def trained(values: dict, seed: int, args: argparse.Namespace) -> dict:
    """One candidate trained with the budget part's recipe and seed: its last validation accuracy and seconds."""
    import keras

    data, y_train, y_test = landscape_data(args)
    keras.utils.set_random_seed(seed)
    model = compiled(values)
    started = time.perf_counter()
    history = model.fit(data.x_train, y_train, epochs=args.epochs, batch_size=128,
                        validation_data=(data.x_test, y_test), verbose=0)  # fmt: skip
    return {"acc": history.history["val_accuracy"][-1], "s": time.perf_counter() - started}


def landscape_data(args: argparse.Namespace, loaded: dict = {}):  # noqa: B006 - read once per process
    if not loaded:
        loaded["data"] = tuner_data(args)
    return loaded["data"]


def values_of(digest: str) -> dict:
    """The keras-tuner values of the candidate whose architecture hash is ``digest``."""
    from cnndsl import SpecError, check
    from cnndsl.report import architecture_hash

    for combo in itertools.product(*CHOICES.values()):
        values = dict(zip(CHOICES, combo))
        try:
            if architecture_hash(check(notation(values))) == digest:
                return values
        except SpecError:
            continue
    raise LookupError(f"no candidate of the space has the hash {digest}")


def child_retrain(args: argparse.Namespace) -> dict:
    """Each candidate of ``--candidates`` (JSON values) trained ``--retrain`` times with seeds neither search used
    (RETRAIN_SEED, +1, ...), the budget part's recipe: the mean last-epoch validation accuracy of each."""
    candidates = json.loads(Path(args.candidates).read_text())
    means = {}
    for values in candidates:
        runs = [trained(values, RETRAIN_SEED + r, args)["acc"] for r in range(args.retrain)]
        means[notation(values)] = statistics.fmean(runs)
    return {"means": means}


RETRAIN_SEED = 1_000
"""The first seed of the retraining: above any ``--seeds`` a run uses, so neither search saw these draws."""


def retrained(results: dict[str, list[dict]], args: argparse.Namespace) -> dict[str, float]:
    """Every search's chosen candidates retrained in one fresh process: mean accuracy by the candidate's notation."""
    chosen = {notation(r["chosen"]): r["chosen"] for runs in results.values() for r in runs if r.get("chosen")}
    path = Path(tempfile.mkdtemp(prefix="bench-retrain-")) / "candidates.json"
    path.write_text(json.dumps(list(chosen.values())))
    command = [sys.executable, __file__, "--child", "retrain", "--candidates", str(path), "--retrain",
               str(args.retrain), "--limit", str(args.limit), "--epochs", str(args.epochs)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=_env())
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode or not lines:
        sys.exit(f"retraining failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:200]}")
    return json.loads(lines[-1][len(MARK) :])["means"]


def retrain_table(results: dict[str, list[dict]], means: dict[str, float], args: argparse.Namespace) -> list[str]:
    """Per search: its chosen candidates' retrained accuracy over the seeds, and the declared default's verdicts."""
    scores = {name: [means[notation(r["chosen"])] if valid(r) and r.get("chosen") else None for r in runs]
              for name, runs in results.items()}  # fmt: skip
    lines = [f"| the candidate each search chose, retrained {args.retrain} times (seeds {RETRAIN_SEED}+) "
             "| mean val accuracy, median over seeds (range) | by seed |", "|---|---|---|"]  # fmt: skip
    for name, found in scores.items():
        known = [score for score in found if score is not None]
        by_seed = ", ".join("-" if score is None else f"{score:.4f}" for score in found)
        lines.append(f"| {name} | {spread(known)} | {by_seed} |")
    ours = [score for score in scores[DECLARED] if score is not None]
    for name in (name for name, (child, _) in SEARCHES.items() if child == "keras-tuner" and name in scores):
        theirs = [score for score in scores[name] if score is not None]
        if not ours or not theirs:
            lines.append(f"target (the default's chosen candidates retrain above {name}'s): NOT measured")
            continue
        paired = [(a, b) for a, b in zip(scores[DECLARED], scores[name]) if a is not None and b is not None]
        lines.append(above(f"the default's chosen candidates retrain above {name}'s", ours, theirs, paired))
    return lines


def above(target: str, ours: list[float], theirs: list[float], paired: list[tuple[float, float]]) -> str:
    """A target's line: held when our median is above theirs; with the seeds at which ours was above."""
    held = statistics.median(ours) > statistics.median(theirs)
    return (
        f"target ({target}): {'held' if held else 'NOT held'} ({statistics.median(ours):.4f} against "
        f"{statistics.median(theirs):.4f}; above it in {sum(a > b for a, b in paired)} of {len(paired)} seeds)"
    )


# --- 3. the same candidates trained by both: what a trial costs ------------------------------


def child_cost_keras_tuner(args: argparse.Namespace) -> dict:
    """keras-tuner's GridSearch over the cost space: seconds per trial by candidate, and the search's wall time."""
    import keras_tuner

    data, y_train, y_test = tuner_data(args)

    def build(hp):
        return compiled({"f1": hp.Choice("f1", CHOICES["f1"]), "f2": hp.Choice("f2", CHOICES["f2"]), **COST_FIXED})

    seconds: dict[str, float] = {}
    tuner = timed(keras_tuner.GridSearch, seconds)(
        build, objective="val_accuracy", max_trials=100, seed=args.seed, overwrite=True,
        directory=tempfile.mkdtemp(prefix="bench-kt-"), project_name="cost",
    )  # fmt: skip
    begun = time.perf_counter()
    tuner.search(data.x_train, y_train, epochs=args.epochs, batch_size=128, validation_data=(data.x_test, y_test),
                 verbose=0)  # fmt: skip
    searched = time.perf_counter() - begun
    done = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    values = [{**COST_FIXED, "f1": t.hyperparameters.get("f1"), "f2": t.hyperparameters.get("f2")} for t in done]
    return {"trials": {notation(v): seconds[t.trial_id] for v, t in zip(values, done)}, "search_seconds": searched}


def child_cost_cnndsl(args: argparse.Namespace) -> dict:
    """``cnndsl sweep --sampler grid`` over the cost space: seconds per trial by candidate, and the wall time."""
    import keras  # noqa: F401 - imported before the clock starts, as keras-tuner's child imports it

    import cnndsl

    output = Path(tempfile.mkdtemp(prefix="bench-cnndsl-")) / "sweep"
    begun = time.perf_counter()
    rows = cnndsl.sweep(COST_SPACE, "sample", trials=100, sampler="grid", seed=args.seed, limit=args.limit,
                        epochs=args.epochs, batch_size=128, validation_split="test", output=output, study="cost",
                        echo=lambda line: None)  # fmt: skip
    searched = time.perf_counter() - begun
    return {"trials": {row["candidate"]: row["seconds"] for row in rows}, "search_seconds": searched}


def cost_part(args: argparse.Namespace) -> None:
    """Rounds of both grids, alternating: paired seconds per trial, and each search's wall time per trial."""
    from cnndsl import check

    runs: dict[str, list[dict]] = {"cnndsl": [], "keras-tuner": []}
    for round_ in range(args.rounds):
        for child in list(runs)[:: 1 if round_ % 2 == 0 else -1]:  # which tool goes first alternates by round
            command = [sys.executable, __file__, "--child", child, "--child-kind", "cost", "--seed", str(round_),
                       "--limit", str(args.limit), "--epochs", str(args.epochs)]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, env=_env())
            lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
            if done.returncode or not lines:
                sys.exit(f"{child}: the process failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:200]}")
            result = json.loads(lines[-1][len(MARK) :])
            result["trials"] = {check(text).total_params: s for text, s in result["trials"].items()}  # pairs them
            runs[child].append(result)
            print(f"round {round_} {child}: {json.dumps(result)}", flush=True)
    ours = [s for r in runs["cnndsl"] for s in r["trials"].values()]
    theirs = [s for r in runs["keras-tuner"] for s in r["trials"].values()]
    paired = [
        mine["trials"][params] / other["trials"][params]
        for mine, other in zip(runs["cnndsl"], runs["keras-tuner"])
        for params in mine["trials"]
        if params in other["trials"]
    ]
    walls = {child: [r["search_seconds"] / len(r["trials"]) for r in results] for child, results in runs.items()}
    count = len(runs["cnndsl"][0]["trials"])
    print(f"\n| {args.rounds} rounds of the same {count} candidates, {args.epochs} epochs, {args.limit} sample images "
          "| cnndsl sweep (grid) | keras-tuner (GridSearch) | cnndsl / keras-tuner |")  # fmt: skip
    print("|---|---|---|---|")
    print(f"| s per trial, median (range) | {spread(ours, 2)} | {spread(theirs, 2)} "
          f"| {statistics.median(ours) / statistics.median(theirs):.2f} |")  # fmt: skip
    print(f"| the same candidate in the same round, ratio, median (range) | | | {spread(paired, 2)} |")
    print(f"| search wall s per trial, median (range) | {spread(walls['cnndsl'], 2)} "
          f"| {spread(walls['keras-tuner'], 2)} "
          f"| {statistics.median(walls['cnndsl']) / statistics.median(walls['keras-tuner']):.2f} |")  # fmt: skip
    held = statistics.median(paired) <= 1.0
    print(f"\ntarget (a trained trial costs at most keras-tuner's, same candidates): {'held' if held else 'NOT held'}")


DECLARED = "cnndsl sweep, as `cnndsl sweep` runs by default (TPE + constraints + the start weighed by cost)"
"""The one configuration the targets compare: what a user gets from ``cnndsl sweep`` without flags (the budget
part sets only the recipe both tools share and ``--timeout``). Declared before the run; the other cnndsl
variants are reported beside it and never stand in for it."""
SEARCHES = {
    DECLARED: ("cnndsl", "default"),
    "cnndsl sweep, TPE + constraints + median pruning (--prune-epochs)": ("cnndsl", "pruned"),
    "cnndsl sweep, TPE + constraints, TPE's own random start": ("cnndsl", "random-start"),
    "cnndsl sweep, TPE + constraints, the previous default start: cheap, diverse candidates": ("cnndsl", "cheap-start"),
    "keras-tuner RandomSearch": ("keras-tuner", "random"),
    "keras-tuner BayesianOptimization": ("keras-tuner", "bayesian"),
}


def order(seed: int, names: list[str] | None = None) -> list[str]:
    """The searches in the order seed ``seed`` runs them: an odd seed runs the even seed's order backwards, and
    each pair of seeds rotates it by one. Over any two seeds (0 and 1, 2 and 3) every search's mean position is
    the middle, and over twice as many seeds as searches every search runs in every position twice.

    >>> [order(seed)[0] == list(SEARCHES)[position] for seed, position in ((0, 0), (1, -1), (2, 1), (3, 0))]
    [True, True, True, True]
    """
    names = list(SEARCHES) if names is None else names
    turn = seed // 2 % len(names)
    turned = names[turn:] + names[:turn]
    return turned[::-1] if seed % 2 else turned


def run_child(child: str, kind: str, seed: int, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", child, "--child-kind", kind, "--seed", str(seed),
               "--budget", str(args.budget), "--limit", str(args.limit), "--epochs", str(args.epochs)]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=_env())
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode or not lines:
        return {"trained": 0, "best": None, "failures": [], "trial_seconds": [], "wall": 0.0,
                "error": f"the process failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:160]}"}  # fmt: skip
    return {**json.loads(lines[-1][len(MARK) :]), "wall": time.perf_counter() - started}


def _env() -> dict:
    import os

    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3"}


def valid(result: dict) -> bool:
    """A run counts only if it finished and every failure in it is a shape error."""
    return not result.get("error") and all(why == "shape" for why in result["failures"])


def spread(values: list[float], digits: int = 4) -> str:
    """``median (min-max)`` of the values, or ``-``."""
    if not values:
        return "-"
    form = f"{{:.{digits}f}}"
    return f"{form.format(statistics.median(values))} ({form.format(min(values))}-{form.format(max(values))})"


def budget_table(results: dict[str, list[dict]], args: argparse.Namespace) -> str:
    lines = [f"| {args.seeds} seeds, {args.budget:g} s each, {args.epochs} epochs, {args.limit} sample images "
             "| best val accuracy, median (range) | trials trained | s per trained trial "
             "| search s / trials trained | keras-tuner failures | keras-tuner's own best (its best epoch) "
             "| best by seed |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, runs in results.items():
        good = [r for r in runs if valid(r)]
        failures = [why for r in runs for why in r["failures"]]
        shape = sum(why == "shape" for why in failures)
        others = sorted({why for why in failures if why != "shape"} | {r["error"] for r in runs if r.get("error")})
        failed = f"{shape} shape" + "".join(f"; INVALID RUN: {why}" for why in others) if "keras" in name else "-"
        seconds = [s for r in good for s in r["trial_seconds"]]
        overall = [r["search_seconds"] / r["trained"] for r in good if r["trained"] and "search_seconds" in r]
        by_seed = ", ".join(f"{r['best']:.4f}" if valid(r) and r["best"] is not None else "-" for r in runs)
        own = spread([r["best_epoch"] for r in good if r.get("best_epoch") is not None])
        lines.append(
            f"| {name} | {spread([r['best'] for r in good if r['best'] is not None])} "
            f"| {spread([r['trained'] for r in good], 0)} | {spread(seconds, 1)} | {spread(overall, 1)} | {failed} "
            f"| {own} | {by_seed} |"
        )
    return "\n".join(lines)


def verdicts(results: dict[str, list[dict]]) -> list[str]:
    """The targets, for the declared configuration against each keras-tuner search, one line each."""
    best = {name: [r["best"] for r in runs if valid(r) and r["best"] is not None] for name, runs in results.items()}
    cost = {name: [s for r in runs if valid(r) for s in r["trial_seconds"]] for name, runs in results.items()}
    ours, lines = best[DECLARED], []
    for name in (name for name, (child, _) in SEARCHES.items() if child == "keras-tuner" and name in results):
        theirs = best[name]
        if not ours or not theirs:
            lines.append(f"target (median best above {name}): NOT measured (no valid run)")
            continue
        pairs = [(a["best"], b["best"]) for a, b in zip(results[DECLARED], results[name])
                 if valid(a) and valid(b) and None not in (a["best"], b["best"])]  # fmt: skip
        lines.append(above(f"the default's median best above {name}", ours, theirs, pairs))
        mine, other = statistics.median(cost[DECLARED] or [math.nan]), statistics.median(cost[name] or [math.nan])
        lines.append(
            f"target (a trained trial of the default costs at most {name}'s): "
            f"{'held' if mine <= other else 'NOT held'} (median {mine:.2f} s against {other:.2f} s, "
            f"ratio {mine / other:.2f})"
        )
    return lines


def needs_bench() -> None:
    """Stop unless the ``bench`` extra is installed: keras-tuner fails every trial without tensorboard."""
    import importlib.util

    missing = [name for name in ("keras_tuner", "sklearn", "tensorboard") if importlib.util.find_spec(name) is None]
    if missing:
        sys.exit(f'benchmarks/sweep.py: keras-tuner\'s side needs {", ".join(missing)}: pip install -e ".[bench]"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=120, help="wall-clock seconds per search and seed")
    parser.add_argument("--limit", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--proposals", type=int, default=30, help="accepted candidates per TPE study in part 1")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both grids in the cost part")
    parser.add_argument("--only", choices=["proposals", "budget", "cost", "landscape"])
    parser.add_argument("--repeats", type=int, default=2, help="runs of each candidate in the landscape part")
    parser.add_argument(
        "--landscape",
        default=str(ROOT / "benchmarks" / "sweep-landscape.jsonl"),
        help="the landscape part's measurements (kept; a rerun trains only what is missing)",
    )
    parser.add_argument("--kinds", help="the budget part's searches by kind, comma-separated (default: all): "
                        + ", ".join(kind for _, kind in SEARCHES.values()))  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=["keras-tuner", "cnndsl", "retrain"], help=argparse.SUPPRESS)
    parser.add_argument("--candidates", help=argparse.SUPPRESS)
    parser.add_argument(
        "--retrain",
        type=int,
        default=3,
        help="the budget part retrains each search's chosen candidate this many times (0: not)",
    )
    parser.add_argument("--child-kind", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "retrain":
            print(MARK + json.dumps(child_retrain(args)))
            return
        children = {("keras-tuner", False): child_keras_tuner, ("cnndsl", False): child_cnndsl,
                    ("keras-tuner", True): child_cost_keras_tuner, ("cnndsl", True): child_cost_cnndsl}  # fmt: skip
        print(MARK + json.dumps(children[args.child, args.child_kind == "cost"](args)))
        return
    from cnndsl import __version__

    if args.only == "landscape":  # not in the default run: it trains every accepted candidate
        print(f"space: {SPACE}")
        landscape_part(args)
        return
    if args.only == "cost":
        needs_bench()
        print(f"cost space: {COST_SPACE}")
        cost_part(args)
        return
    print(f"space: {SPACE}")
    print(f"cnndsl {__version__}, python {sys.version.split()[0]}")
    if args.only != "budget":
        counts = proposals(args.seeds, args.proposals)
        print(f"\n| {args.proposals} accepted candidates, {args.seeds} seeds | infeasible proposals, median (range) |")
        print("|---|---|")
        for name, (sampler, constraints) in VARIANTS.items():
            print(f"| {name} | {spread([float(c) for c in counts[f'{sampler}-{constraints}']], 0)} |")
        print(f"raw counts: {json.dumps(counts)}", flush=True)
    if args.only == "proposals":
        return
    needs_bench()
    print(f"compared: {DECLARED} against each keras-tuner search; the other cnndsl variants are only reported")
    kinds = args.kinds.split(",") if args.kinds else [kind for _, kind in SEARCHES.values()]
    names = [name for name, (_, kind) in SEARCHES.items() if kind in kinds]
    if DECLARED not in names or len(names) != len(kinds):
        sys.exit(f"--kinds: name the declared default and known kinds: {', '.join(k for _, k in SEARCHES.values())}")
    print(
        f"order of the searches by seed: {[[names.index(name) for name in order(seed, names)] for seed in range(args.seeds)]}"
    )
    results: dict[str, list[dict]] = {name: [] for name in names}
    for seed in range(args.seeds):
        for name in order(seed, names):
            result = run_child(*SEARCHES[name], seed, args)
            results[name].append(result)
            print(f"seed {seed} {name}: {json.dumps(result)}", flush=True)
    print()
    print(budget_table(results, args))
    print()
    for line in verdicts(results):
        print(line)
    if args.retrain:  # the best score a search saw rewards a lucky draw: what its chosen candidate is worth
        print()
        for line in retrain_table(results, retrained(results, args), args):
            print(line)


if __name__ == "__main__":
    main()
