"""One search space, two searches: keras-tuner's RandomSearch against ``cnndsl sweep --sampler random``.

The space is the notebook's style of network, where about a third of the candidates
cannot be built (two 7x7 convolutions after two poolings shrink a 28x28 digit to
nothing). keras-tuner writes it with ``hp.Choice``s and finds out by building each
trial's model; cnndsl writes it in the notation and checks each candidate before
anything is built. Both get the same trial budget, recipe (Adam, batch 128) and data
(the bundled sample), each in a fresh process; the table gives trials trained, trials
wasted on models that cannot be built, wall time and the best validation accuracy.
keras-tuner is also run with its defaults, which give up after three failed trials in a row.

    python benchmarks/sweep.py --trials 10 --limit 1024 --epochs 2

keras-tuner is the ``bench`` extra: ``pip install -e ".[bench]"``. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import csv
import json
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


# --- the two searches, each in its own process -------------------------------------------------


def child_keras_tuner(args: argparse.Namespace) -> dict:
    """RandomSearch over ``hp.Choice``s; a model that cannot be built fails its trial."""
    import keras_tuner
    import numpy as np

    from cnndsl import load_data

    data = load_data("sample", args.limit)
    y_train, y_test = (np.eye(10, dtype="float32")[y] for y in (data.y_train, data.y_test))

    def build(hp):
        model = keras_model({name: hp.Choice(name, values) for name, values in CHOICES.items()})
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    limits = {} if args.defaults else {"max_consecutive_failed_trials": args.trials, "max_retries_per_trial": 0}
    tuner = keras_tuner.RandomSearch(
        build, objective="val_accuracy", max_trials=args.trials, seed=args.seed, overwrite=True,
        directory=tempfile.mkdtemp(prefix="bench-kt-"), project_name="space", **limits,
    )  # fmt: skip
    error = None
    try:
        tuner.search(data.x_train, y_train, epochs=args.epochs, batch_size=128,
                     validation_data=(data.x_test, y_test), verbose=0)  # fmt: skip
    except Exception as exc:  # keras-tuner gives up: that is what is measured
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
    trials = list(tuner.oracle.trials.values())
    done = [t for t in trials if t.status == "COMPLETED"]
    best = max((t.metrics.get_best_value("val_accuracy") for t in done), default=None)
    failed = sum(t.status in ("FAILED", "INVALID") for t in trials)
    return {"trained": len(done), "wasted": failed, "rejected_early": 0, "best": best, "error": error}


def child_cnndsl(args: argparse.Namespace) -> dict:
    """``cnndsl sweep --sampler random``: rejected candidates are never built."""
    import optuna

    from cnndsl.cli import main

    output = Path(tempfile.mkdtemp(prefix="bench-cnndsl-")) / "sweep"
    flags = ["--sampler", "random", "--trials", str(args.trials), "--data", "sample", "--limit", str(args.limit),
             "--epochs", str(args.epochs), "--seed", str(args.seed), "--output", str(output), "--study", "bench"]  # fmt: skip
    status = main(["sweep", SPACE, *flags])
    if status:
        raise SystemExit(f"cnndsl sweep failed with exit code {status}")
    rows = list(csv.DictReader((output / "sweep.csv").open()))
    study = optuna.load_study(study_name="bench", storage=f"sqlite:///{output / 'sweep.db'}")
    kinds = [t.user_attrs.get("kind") for t in study.trials]
    best = max(float(row["val_accuracy"]) for row in rows)
    return {"trained": len(rows), "wasted": 0, "rejected_early": kinds.count("rejected"),
            "duplicates": kinds.count("duplicate"), "best": best, "error": None}  # fmt: skip


def run_child(kind: str, args: argparse.Namespace, defaults: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--trials", str(args.trials), "--limit", str(args.limit),
               "--epochs", str(args.epochs), "--seed", str(args.seed)] + (["--defaults"] if defaults else [])  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=_env())
    seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode or not lines:
        raise SystemExit(f"{kind} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return {**json.loads(lines[-1][len(MARK) :]), "seconds": seconds}


def _env() -> dict:
    import os

    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3"}


def table(results: dict[str, dict], args: argparse.Namespace) -> str:
    tuner, sweep = results["keras-tuner"], results["cnndsl"]
    rows = [
        ("trials trained", tuner["trained"], sweep["trained"]),
        ("trials wasted on models that cannot be built", tuner["wasted"], sweep["wasted"]),
        ("candidates refused by the checker, never built", "-", sweep["rejected_early"]),
        ("wall time, s (fresh process, TensorFlow import included)", f"{tuner['seconds']:.1f}", f"{sweep['seconds']:.1f}"),
        ("seconds per trained trial", _per(tuner), _per(sweep)),
        ("best validation accuracy", _acc(tuner["best"]), _acc(sweep["best"])),
    ]  # fmt: skip
    lines = [f"| {args.trials} trials, {args.epochs} epoch(s), {args.limit} sample images | keras-tuner RandomSearch "
             "| cnndsl sweep --sampler random |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {name} | {a} | {b} |" for name, a, b in rows]
    defaults = results.get("keras-tuner-defaults")
    if defaults:
        outcome = defaults["error"] or "finished"
        lines.append(f"\nkeras-tuner with its defaults: {defaults['trained']} trained, {defaults['wasted']} failed, "
                     f"then {outcome}")  # fmt: skip
    return "\n".join(lines)


def _per(result: dict) -> str:
    return f"{result['seconds'] / result['trained']:.1f}" if result["trained"] else "-"


def _acc(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--limit", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=["keras-tuner", "cnndsl"])
    parser.add_argument("--defaults", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child = child_keras_tuner if args.child == "keras-tuner" else child_cnndsl
        print(MARK + json.dumps(child(args)))
        return
    from cnndsl import __version__

    print(f"space: {SPACE}")
    print(f"cnndsl {__version__}, python {sys.version.split()[0]}")
    results = {"keras-tuner": run_child("keras-tuner", args), "cnndsl": run_child("cnndsl", args)}
    results["keras-tuner-defaults"] = run_child("keras-tuner", args, defaults=True)
    print(table(results, args))


if __name__ == "__main__":
    main()
