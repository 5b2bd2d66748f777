"""Seconds per epoch of Model 1 on one process against two data-parallel processes.

Every run is ``cnndsl run examples/model1.cnn --backend jax`` on the same data, seed and
global batch, in fresh processes: one process free to use every core, one process
pinned to one core (``taskset``), and two processes over localhost, each pinned to its
own core. The first epoch (compilation) is left out; the figure is the median of the
other epochs' seconds, from ``history.json``.

    python benchmarks/distributed.py --data sample --limit 2048 --epochs 3

This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL1 = ROOT / "examples" / "model1.cnn"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def command(args: argparse.Namespace, output: Path, core: int | None, *cluster: str) -> list[str]:
    pin = ["taskset", "-c", str(core)] if core is not None else []
    flags = ["--data", args.data, "--epochs", str(args.epochs), "--seed", "0", "--batch-size", str(args.batch_size)]
    flags += ["--limit", str(args.limit)] if args.limit else []
    return [
        *pin,
        sys.executable,
        "-m",
        "cnndsl",
        "run",
        str(MODEL1),
        "--backend",
        "jax",
        *flags,
        "--output",
        str(output),
        *cluster,
    ]


def seconds_per_epoch(output: Path) -> float:
    history = json.loads((output / "history.json").read_text())
    return statistics.median(row["seconds"] for row in history[1:] or history)


def run(commands: list[list[str]]) -> None:
    """Start every command at once and wait for all of them."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    processes = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in commands]
    for process in processes:
        _, err = process.communicate()
        if process.returncode:
            raise SystemExit(f"a run failed ({process.returncode}): {err.decode()[-800:]}")


def measure(args: argparse.Namespace, work: Path) -> dict[str, float]:
    results = {}
    for name, core in (("1 process, every core", None), ("1 process, 1 core", 0)):
        output = work / name.replace(" ", "").replace(",", "-")
        run([command(args, output, core)])
        results[name] = seconds_per_epoch(output)
    port, output = free_port(), work / "two"
    flags = ["--distribute", "data-parallel", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    run(
        [
            command(args, output, 0, *flags, "--process-id", "0"),
            command(args, work / "unused", 1, *flags, "--process-id", "1"),
        ]
    )
    results["2 processes, 1 core each"] = seconds_per_epoch(output)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sample")
    parser.add_argument("--limit", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is needed to pin each process to a core")
    work = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    try:
        results = measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = results["1 process, every core"]
    print(f"Model 1, {args.data}, {args.limit or 'all'} images, batch {args.batch_size}, JAX on {os.cpu_count()} cores")
    for name, seconds in results.items():
        print(f"  {name:26s} {seconds:7.2f} s/epoch   x{seconds / base:.2f}")


if __name__ == "__main__":
    main()
