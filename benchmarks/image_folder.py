"""Seconds per epoch on an image folder against the same images as an in-memory .npz, side by side.

The bundled sample's first ``--train`` training digits and ``--test`` test digits are
written once as PNG files (``train/`` and ``test/``, a folder per class) and once as an
``.npz`` holding exactly the same pixels; then ``cnndsl run SPEC`` trains on each in a
fresh process, with the same seed, batch and epochs, the two taking turns round after
round, the ``.npz`` first in odd rounds and the folder first in even ones, so that drift
in the machine's load falls on both. The first epoch (graph building) is left out: a
run's figure is the median of its other epochs' seconds (``history.json``,
each epoch's validation on the test images included), and each kind's the median over
rounds. The folder is read as training goes (decoded, resized and scaled in a ``tf.data``
pipeline); the ``.npz`` is in memory from the start.

    python benchmarks/image_folder.py --train 4096 --test 1000 --epochs 3 --rounds 2

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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPEC = "CN(32,3)->MP(2)->FL()->DN(128)"


def write_data(work: Path, train: int, test: int) -> tuple[Path, Path]:
    """The sample's first images as a folder of PNG files and as an .npz of the very same pixels."""
    from PIL import Image

    with np.load(ROOT / "cnndsl" / "data" / "mnist-10k.npz") as sample:
        arrays = {key: sample[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    arrays = {key: value[: train if key.endswith("train") else test] for key, value in arrays.items()}
    folder = work / "digits"
    for split in ("train", "test"):
        for index, (pixels, label) in enumerate(zip(arrays[f"x_{split}"], arrays[f"y_{split}"])):
            directory = folder / split / str(label)
            directory.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(directory / f"{index:05d}.png")
    npz = work / "digits.npz"
    np.savez(npz, **arrays)
    return folder, npz


def seconds_per_epoch(run: Path) -> float:
    """The median of a run's epoch seconds, the first (graph building) left out."""
    history = json.loads((run / "history.json").read_text())
    return statistics.median(row["seconds"] for row in history[1:] or history)


def one_run(args: argparse.Namespace, data: Path, output: Path) -> tuple[float, float]:
    """Seconds per epoch and test accuracy of one fresh ``cnndsl run`` on ``data``."""
    flags = ["--data", str(data), "--epochs", str(args.epochs), "--seed", "0", "--batch-size", str(args.batch_size)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "cnndsl", "run", args.spec, *flags, "--output", str(output)]
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{data.name}: cnndsl run failed ({done.returncode}): {done.stderr[-800:]}")
    return seconds_per_epoch(output), json.loads((output / "metrics.json").read_text())["test_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=SPEC)
    parser.add_argument("--train", type=int, default=4096)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-folder-"))
    seconds: dict[str, list[float]] = {"npz": [], "folder": []}
    try:
        folder, npz = write_data(work, args.train, args.test)
        for round_ in range(1, args.rounds + 1):
            order = (("npz", npz), ("folder", folder))
            for kind, data in order if round_ % 2 else order[::-1]:  # each side goes first every other round
                per_epoch, accuracy = one_run(args, data, work / f"{kind}-{round_}")
                seconds[kind].append(per_epoch)
                print(f"round {round_} {kind:6s} {per_epoch:6.2f} s/epoch  accuracy {accuracy:.4f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(seconds["npz"])
    print(f"{args.spec}, {args.train} training and {args.test} test images, batch {args.batch_size}, "
          f"{os.cpu_count()} cores (median)")  # fmt: skip
    for kind, values in seconds.items():
        print(f"  {kind:6s} {statistics.median(values):6.2f} s/epoch   x{statistics.median(values) / base:.2f}")


if __name__ == "__main__":
    main()
