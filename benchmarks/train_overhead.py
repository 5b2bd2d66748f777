"""Does cnndsl add anything to training? Model 1 via ``cnndsl run`` against hand-written Keras.

Each run is a fresh process that trains the notebook's Model 1 on the same data, with
the same epochs, batch size and seed, and reports the wall time of ``model.fit`` (so
cnndsl's per-epoch checkpoint and history writes count against it) and its own peak
resident memory. The two kinds of run alternate, so drift in the machine's load falls
on both. Prints every run, then the median ratios cnndsl / Keras.

    python benchmarks/train_overhead.py --data sample --limit 2048 --epochs 2 --repeats 3

Target: within 3% on time and 5% on memory. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL1 = ROOT / "examples" / "model1.cnn"
MARK = "BENCHMARK-RESULT "


def timed_fit(record: dict) -> None:
    """Wrap ``keras.Model.fit`` so that its wall time lands in ``record``."""
    import keras

    fit = keras.Model.fit

    def wrapper(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return fit(self, *args, **kwargs)
        finally:
            record["fit_seconds"] = time.perf_counter() - started

    keras.Model.fit = wrapper


def child_cnndsl(args: argparse.Namespace, record: dict) -> None:
    """``cnndsl run examples/model1.cnn`` in this process."""
    from cnndsl.cli import main

    output = Path(tempfile.mkdtemp(prefix="bench-cnndsl-")) / "run"
    flags = ["--data", args.data, "--epochs", str(args.epochs), "--seed", str(args.seed), "--output", str(output)]
    flags += ["--batch-size", str(args.batch_size)] + (["--limit", str(args.limit)] if args.limit else [])
    status = main(["run", str(MODEL1), *flags])
    if status:
        raise SystemExit(f"cnndsl run failed with exit code {status}")
    record["test_accuracy"] = json.loads((output / "metrics.json").read_text())["test_accuracy"]


def child_keras(args: argparse.Namespace, record: dict) -> None:
    """The notebook's own code for Model 1, on the same file."""
    import keras
    import numpy as np
    import tensorflow as tf
    from keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D

    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    with np.load(data_file(args.data)) as f:
        x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    x_train = x_train.reshape(x_train.shape[0], 28, 28, 1).astype("float32") / 255
    x_test = x_test.reshape(x_test.shape[0], 28, 28, 1).astype("float32") / 255
    y_train, y_test = keras.utils.to_categorical(y_train, 10), keras.utils.to_categorical(y_test, 10)

    model = keras.Sequential()
    model.add(keras.Input(shape=(28, 28, 1)))
    model.add(Conv2D(72, kernel_size=(7, 7), activation="relu"))
    model.add(Conv2D(38, (7, 7), activation="relu"))
    model.add(Conv2D(20, (7, 7), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(128, activation="relu"))
    model.add(Dropout(0.5))
    model.add(Dense(10, activation="softmax"))
    model.compile(loss=keras.losses.categorical_crossentropy, optimizer="adam", metrics=["accuracy"])
    model.fit(
        x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=1, validation_data=(x_test, y_test)
    )
    record["test_accuracy"] = float(model.evaluate(x_test, y_test, verbose=0)[1])


def data_file(data: str) -> Path:
    """The .npz both sides read: the bundled sample or a file given as --data."""
    from cnndsl.datasets import sample_path

    return sample_path() if data == "sample" else Path(data)


def run_child(args: argparse.Namespace) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    record: dict = {}
    timed_fit(record)
    (child_cnndsl if args.child == "cnndsl" else child_keras)(args, record)
    record["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(MARK + json.dumps(record), flush=True)


def measure(kind: str, args: argparse.Namespace) -> dict:
    """One run in a fresh process; its fit time per epoch and peak memory."""
    flags = ["--child", kind, "--data", args.data, "--epochs", str(args.epochs), "--seed", str(args.seed)]
    flags += ["--batch-size", str(args.batch_size), "--limit", str(args.limit or 0)]
    done = subprocess.run([sys.executable, __file__, *flags], capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode or not lines:
        sys.exit(f"{kind} run failed:\n{done.stderr[-3000:]}")
    record = json.loads(lines[-1][len(MARK) :])
    record["seconds_per_epoch"] = record["fit_seconds"] / args.epochs
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="sample", help="sample (default) or an .npz in Keras's layout")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind, alternating")
    parser.add_argument("--limit", type=int, default=0, help="first N training images (0: all)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=["cnndsl", "keras"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    report(args, run_all(args))


def run_all(args: argparse.Namespace) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {"keras": [], "cnndsl": []}
    for repeat in range(args.repeats):
        order = ("keras", "cnndsl") if repeat % 2 == 0 else ("cnndsl", "keras")
        for kind in order:
            record = measure(kind, args)
            runs[kind].append(record)
            print(
                f"run {repeat + 1} {kind:6}  {record['seconds_per_epoch']:7.2f} s/epoch  {record['peak_mb']:7.0f} MB  "
                f"accuracy {record['test_accuracy']:.4f}",
                flush=True,
            )
    return runs


def report(args: argparse.Namespace, runs: dict[str, list[dict]]) -> None:
    def median(kind: str, key: str) -> float:
        return statistics.median(record[key] for record in runs[kind])

    time_ratio = median("cnndsl", "seconds_per_epoch") / median("keras", "seconds_per_epoch")
    memory_ratio = median("cnndsl", "peak_mb") / median("keras", "peak_mb")
    print()
    print("| | hand-written Keras | cnndsl run | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| seconds per epoch (median) | {median('keras', 'seconds_per_epoch'):.2f} | "
        f"{median('cnndsl', 'seconds_per_epoch'):.2f} | {time_ratio:.3f} | <= 1.03 |"
    )
    print(
        f"| peak memory, MB (median) | {median('keras', 'peak_mb'):.0f} | {median('cnndsl', 'peak_mb'):.0f} | "
        f"{memory_ratio:.3f} | <= 1.05 |"
    )
    verdict = "within" if time_ratio <= 1.03 and memory_ratio <= 1.05 else "OUTSIDE"
    print(f"\n{verdict} target: time x{time_ratio:.3f}, memory x{memory_ratio:.3f} ({args.repeats} runs each)")


if __name__ == "__main__":
    main()
