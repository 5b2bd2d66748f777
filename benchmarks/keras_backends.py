"""Seconds per epoch of Model 1 under each of Keras's backends, side by side.

Each run is ``cnndsl run examples/model1.cnn --backend B`` in a fresh process, on the
same data, seed and batch; the backends take turns, round after round, so drift in the
machine's load falls on all of them. The first epoch (graph building, compilation) is
left out; a run's figure is the median of its other epochs' seconds (``history.json``),
and each backend's the median over rounds.

    python benchmarks/keras_backends.py --data sample --limit 2048 --epochs 3 --rounds 2

This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL1 = ROOT / "examples" / "model1.cnn"
BACKENDS = ("tensorflow", "jax", "torch")


def one_run(args: argparse.Namespace, backend: str, output: Path) -> tuple[float, float]:
    """Seconds per epoch (first left out) and test accuracy of one fresh ``cnndsl run``."""
    flags = ["--data", args.data, "--epochs", str(args.epochs), "--seed", "0", "--batch-size", str(args.batch_size)]
    flags += ["--limit", str(args.limit)] if args.limit else []
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [
        sys.executable,
        "-m",
        "cnndsl",
        "run",
        str(MODEL1),
        "--backend",
        backend,
        *flags,
        "--output",
        str(output),
    ]
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{backend}: cnndsl run failed ({done.returncode}): {done.stderr[-800:]}")
    history = json.loads((output / "history.json").read_text())
    accuracy = json.loads((output / "metrics.json").read_text())["test_accuracy"]
    return statistics.median(row["seconds"] for row in history[1:] or history), accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sample")
    parser.add_argument("--limit", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    seconds: dict[str, list[float]] = {backend: [] for backend in BACKENDS}
    try:
        for round_ in range(1, args.rounds + 1):
            for backend in BACKENDS:
                per_epoch, accuracy = one_run(args, backend, work / f"{backend}-{round_}")
                seconds[backend].append(per_epoch)
                print(f"round {round_} {backend:10s} {per_epoch:6.2f} s/epoch  accuracy {accuracy:.4f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(seconds["tensorflow"])
    print(
        f"Model 1, {args.data}, {args.limit or 'all'} images, batch {args.batch_size}, {os.cpu_count()} cores (median)"
    )
    for backend, values in seconds.items():
        print(f"  {backend:10s} {statistics.median(values):6.2f} s/epoch   x{statistics.median(values) / base:.2f}")


if __name__ == "__main__":
    main()
