"""How fast a YOLO model file is checked: a cold ``cnndsl check yolo11.yaml --scale x`` beside building it.

Ultralytics' documented way to validate a model file is to build the model and look at its
``model.info()``. Each part below is a fresh process, as a pre-commit hook or an editor runs it:

- ``python -c pass``: the interpreter's floor;
- ``cnndsl check FILE --scale x``: the file read, every channel and repeat resolved at the
  scale, every shape, parameter and MAC computed, without torch;
- ``cnndsl: build in PyTorch``: the same file checked and built as a ``torch.nn.Module``
  (``compile_spec(from_yolo(...), backend="torch")``), torch imported;
- ``Ultralytics: build in PyTorch``: ``DetectionModel(FILE, scale x)`` and its parameter
  count, where Ultralytics is installed (``PYTHONPATH`` may point at a copy).

Rounds alternate the parts' order, so that a busy machine weighs on all alike; each part's
figures print as it finishes, then a table of medians (wall and CPU seconds) and each part's
ratio to the check. Nothing is asserted.

    python benchmarks/yolo_check.py                       # YOLO11x, 5 rounds
    python benchmarks/yolo_check.py --file yolov8 --scale n --rounds 10
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ROOT / "cnndsl" / "data" / "yolo"

TORCH_BUILD = """
import sys, cnndsl
model = cnndsl.compile_spec(cnndsl.from_yolo(sys.argv[1], scale=sys.argv[2]), backend="torch")
print(sum(p.numel() for p in model.parameters()))
"""

ULTRALYTICS_BUILD = """
import os, sys, types
os.environ.setdefault("YOLO_OFFLINE", "1")
try:
    import torchvision
except Exception:  # a torchvision built for another torch: its compiled ops do not register
    for name in [n for n in sys.modules if n.startswith("torchvision")]:
        del sys.modules[name]
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
import yaml
from ultralytics.nn.tasks import DetectionModel
described = yaml.safe_load(open(sys.argv[1]))
described["scale"] = sys.argv[2]
model = DetectionModel(described, verbose=False)
print(sum(p.numel() for p in model.parameters()))
"""


def parts(path: Path, scale: str, ultralytics: bool) -> dict[str, list[str]]:
    found = {
        "python -c pass (the floor)": ["-c", "pass"],
        "cnndsl check (no torch)": ["-m", "cnndsl", "check", str(path), "--scale", scale],
        "cnndsl: build in PyTorch": ["-c", TORCH_BUILD, str(path), scale],
    }
    if ultralytics:
        found["Ultralytics: build in PyTorch"] = ["-c", ULTRALYTICS_BUILD, str(path), scale]
    return found


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall-clock and CPU seconds (user + system) of a fresh process, and its last line of output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {(result.stderr or result.stdout).strip()[-400:]}")
    lines = result.stdout.strip().splitlines()
    return wall, cpu, lines[-1] if lines else ""


def has_ultralytics(env: dict[str, str]) -> bool:
    probe = subprocess.run([sys.executable, "-c", "import importlib.util as u; print(u.find_spec('ultralytics'))"],
                           env=env, capture_output=True, text=True)  # fmt: skip
    return probe.stdout.strip() not in ("", "None")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="yolo11", help="a file of cnndsl/data/yolo/ by stem (default yolo11)")
    parser.add_argument("--scale", default="x", help="the scale (default x)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every part (default 5)")
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)])),
           "TF_CPP_MIN_LOG_LEVEL": "3", "YOLO_CONFIG_DIR": os.environ.get("YOLO_CONFIG_DIR", "/tmp/cnndsl-yolo-config")}  # fmt: skip
    path = FILES / f"{args.file}.yaml"
    table = parts(path, args.scale, has_ultralytics(env))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "cnndsl")], env=env, check=False)
    walls: dict[str, list[float]] = {name: [] for name in table}
    cpus: dict[str, list[float]] = {name: [] for name in table}
    said: dict[str, str] = {}
    names = list(table)
    for round_ in range(args.rounds):
        order = names if round_ % 2 == 0 else list(reversed(names))
        for name in order:
            wall, cpu, last = timed([sys.executable, *table[name]], env)
            walls[name].append(wall)
            cpus[name].append(cpu)
            said[name] = last
            print(f"round {round_ + 1}: {name:<32} {wall:7.3f} s wall {cpu:7.3f} s CPU  | {last[:70]}", flush=True)
    check = statistics.median(walls["cnndsl check (no torch)"])
    print(f"\n{args.file}{args.scale}, medians of {args.rounds} cold processes (Python {sys.version.split()[0]})")
    print("| part | wall s | CPU s | x check | says |\n|---|---:|---:|---:|---|")
    for name in names:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"| {name} | {wall:.3f} | {cpu:.3f} | {wall / check:.1f} | {said[name][:60]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
