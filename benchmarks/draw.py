"""How fast ``cnndsl draw`` is: ``python benchmarks/draw.py [--runs N]`` prints the figures.

- Cold: ``cnndsl draw`` of a big spec as a fresh process (SVG, folded and unfolded, and the
  graph style), against a fresh ``python -c pass`` (the interpreter's own start) and
  ``python -c "import cnndsl"``; target: under 0.3 s.
- In process: check + layout + SVG text of the same spec, and the size of the SVG.

The big spec is ``examples/resnet50.cnn`` when it exists, else a long straight stack of
ResNet50's size. Nothing is asserted: the figures are for reading.
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
RESNET50 = ROOT / "examples" / "resnet50.cnn"
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def straight_spec(blocks: int = 58) -> str:
    """A straight stack of about ResNet50's layer count (3 layers per block, 4 stages)."""
    stages = []
    for stage, filters in enumerate((64, 128, 256, 512)):
        first = f"CN({filters}, 3, strides=2, padding=same) -> BN() -> ACT(relu)" if stage else ""
        body = f"(CN({filters}, 3, padding=same) -> BN() -> ACT(relu)) * {blocks // 4}"
        stages.append(" -> ".join(part for part in (first, body) if part))
    return (
        "IN(224, 224, 3) -> CN(64, 7, strides=2, padding=same) -> MP(3, strides=2) -> "
        + " -> ".join(stages)
        + " -> GAP()"
    )


def big_spec(chosen: str | None = None) -> tuple[str, str]:
    """(argument for the command line, description)."""
    if chosen:
        return chosen, chosen
    if RESNET50.exists():
        return str(RESNET50), "examples/resnet50.cnn"
    return straight_spec(), "a straight stack of ResNet50's size (examples/resnet50.cnn not there yet)"


def cold(command: list[str], runs: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds (user + system) of a fresh process.

    CPU time is what the command itself costs; on a busy machine wall time adds waiting.
    """
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, env=ENV, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def in_process(argument: str, runs: int) -> tuple[float, int, int]:
    """Median seconds to check and draw in this process, the layer count and the SVG's bytes."""
    sys.path.insert(0, str(ROOT))
    from cnndsl.backends.svg import draw, source_drawable
    from cnndsl.inputs import read_models

    (source,) = read_models(argument)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        drawable = source_drawable(source, num_classes=1000)
        svg = draw(drawable, title=source.label)
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(drawable.model.layers), len(svg.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (default 7)")
    parser.add_argument("--spec", help="draw this spec file instead (default: examples/resnet50.cnn)")
    options = parser.parse_args()
    runs = options.runs
    argument, described = big_spec(options.spec)
    print(
        f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores; python {platform.python_version()}"
    )
    print(f"spec: {described}\n")
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "model.svg")
        draw = [sys.executable, "-m", "cnndsl", "draw", argument, "--classes", "1000", "-o", out]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            'python -c "import cnndsl"': [sys.executable, "-c", "import cnndsl"],
            "cnndsl draw (boxes, folded)": draw,
            "cnndsl draw --unfold": [*draw, "--unfold"],
            "cnndsl draw --style graph": [*draw, "--style", "graph"],
        }
        medians = {name: cold(command, runs) for name, command in commands.items()}
    wall0, cpu0 = medians["python -c pass"]
    print(f"cold start, median of {runs} runs     wall s   CPU s   CPU minus python -c pass")
    for name, (wall, cpu) in medians.items():
        print(f"  {name:<32} {wall:7.3f} {cpu:7.3f}   {cpu - cpu0:+.3f}")
    print(f"  (load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    seconds, layers, size = in_process(argument, runs)
    print(f"\nin process: check + draw of {layers} layers: {seconds * 1000:.1f} ms; SVG {size / 1024:.1f} KiB")
    print("target: cnndsl draw under 0.3 s cold, without TensorFlow (tests/test_draw.py checks the imports)")


if __name__ == "__main__":
    main()
