"""Two source trees' cold start side by side: ``python benchmarks/cold_check.py OLD NEW [--rounds 20]``.

Each part is a fresh process run with one tree on PYTHONPATH: ``python -c pass`` (the
interpreter's floor), then ``cnndsl check``, ``cnndsl fmt --check`` and ``cnndsl summary``
of ``examples/model1.cnn`` (as ``python -m cnndsl``). Every round runs both trees, the
first tree alternating from round to round, so that a busy machine weighs on both alike.
Both trees read the same copy of the example in the same empty folder, and bytecode is
cached first (in a folder of its own: neither tree is written to), as an installed
package has it. Each part prints its figures as it finishes, then a table of medians and
the ratio new/old; the outputs of the two trees are compared. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = "model1.cnn"
PARTS = {
    "python -c pass (the floor)": ["-c", "pass"],
    "cnndsl check": ["-m", "cnndsl", "check", MODEL],
    "cnndsl fmt --check": ["-m", "cnndsl", "fmt", "--check", MODEL],
    "cnndsl summary": ["-m", "cnndsl", "summary", MODEL],
}
"""Each part's arguments to the interpreter, run in a folder holding a copy of the example."""


def environment(tree: Path, cache: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONPYCACHEPREFIX": str(cache), "COLUMNS": "120"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, tuple]:
    """Wall-clock and CPU seconds (user + system) of a fresh process, and what it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, (result.returncode, result.stdout, result.stderr)


def part(name: str, python: str, envs: dict[str, dict], cwd: Path, rounds: int) -> dict:
    """``rounds`` alternated runs of one part in each tree: medians of wall and CPU seconds, and the outputs."""
    command = [python, *PARTS[name]]
    walls: dict[str, list[float]] = {tree: [] for tree in envs}
    cpus: dict[str, list[float]] = {tree: [] for tree in envs}
    outputs = {tree: timed(command, env, cwd)[2] for tree, env in envs.items()}  # caches the bytecode
    for index in range(rounds):
        order = list(envs) if index % 2 == 0 else list(reversed(envs))
        for tree in order:
            wall, cpu, _ = timed(command, envs[tree], cwd)
            walls[tree].append(wall)
            cpus[tree].append(cpu)
    return {
        "wall": {tree: statistics.median(times) for tree, times in walls.items()},
        "cpu": {tree: statistics.median(times) for tree, times in cpus.items()},
        "range": {tree: (min(times), max(times)) for tree, times in walls.items()},
        "same": outputs["old"] == outputs["new"],
        "status": outputs["new"][0],
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.1f}"


def print_part(name: str, figures: dict) -> None:
    wall, cpu, spread = figures["wall"], figures["cpu"], figures["range"]
    print(
        f"  {name:<28} wall old {ms(wall['old'])} ms new {ms(wall['new'])} ms ({wall['new'] / wall['old']:.3f}x); "
        f"CPU old {ms(cpu['old'])} new {ms(cpu['new'])} ({cpu['new'] / cpu['old']:.3f}x); "
        f"ranges {ms(spread['old'][0]).strip()}-{ms(spread['old'][1]).strip()} / "
        f"{ms(spread['new'][0]).strip()}-{ms(spread['new'][1]).strip()} ms; "
        f"exit {figures['status']}, same output: {'yes' if figures['same'] else 'NO'}",
        flush=True,
    )


def print_table(results: dict[str, dict], rounds: int) -> None:
    print(f"\ncold start, median of {rounds} alternated rounds")
    print(f"  {'':<40} {'wall ms: old':>12} {'new':>7} {'new/old':>8} {'CPU ms: old':>12} {'new':>7} {'new/old':>8}")
    floor = results["python -c pass (the floor)"]
    for name, figures in results.items():
        wall, cpu = figures["wall"], figures["cpu"]
        print(
            f"  {name:<40} {ms(wall['old']):>12} {ms(wall['new']):>7} {wall['new'] / wall['old']:8.3f}"
            f" {ms(cpu['old']):>12} {ms(cpu['new']):>7} {cpu['new'] / cpu['old']:8.3f}"
        )
    for name, figures in results.items():
        if name != "python -c pass (the floor)":
            old = figures["wall"]["old"] - floor["wall"]["old"]
            new = figures["wall"]["new"] - floor["wall"]["new"]
            print(f"  {name + ', minus the floor':<40} {ms(old):>12} {ms(new):>7} {new / old:8.3f}")
    same = all(figures["same"] for figures in results.values())
    print(f"  same output (exit code, stdout, stderr) in every part: {'yes' if same else 'NO'}")
    print(f"  (load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="the source tree to compare against (such as a checkout of main)")
    parser.add_argument("new", type=Path, help="the source tree being measured")
    parser.add_argument("--rounds", type=int, default=20, help="alternated rounds of each part (default 20)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter (default: this one)")
    options = parser.parse_args()
    trees = {"old": options.old.resolve(), "new": options.new.resolve()}
    print(
        f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores; python {platform.python_version()}"
    )
    print(
        f"old: {trees['old']}\nnew: {trees['new']}\n{options.rounds} rounds, the first tree alternating\n", flush=True
    )
    with tempfile.TemporaryDirectory(prefix="cnndsl-cold-") as folder:
        cwd, cache = Path(folder) / "project", Path(folder) / "pycache"
        cwd.mkdir()
        (cwd / MODEL).write_text((ROOT / "examples" / MODEL).read_text("utf-8"), "utf-8")
        envs = {tree: environment(path, cache / tree) for tree, path in trees.items()}
        results = {}
        for name in PARTS:
            results[name] = part(name, options.python, envs, cwd, options.rounds)
            print_part(name, results[name])
    print_table(results, options.rounds)


if __name__ == "__main__":
    main()
