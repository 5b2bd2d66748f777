"""What an editor waits for when it starts ``cnndsl lsp``: ``python benchmarks/lsp_start.py [--runs N] [--old DIR]``.

Each run spawns the server as an editor does (``python -m cnndsl lsp`` over stdio), sends
``initialize``, ``initialized`` and ``didOpen`` of the notebook's Model 1 at once, and times
the answer to ``initialize`` and the first ``publishDiagnostics``, from the spawn. Beside it:
``python -c pass`` (the interpreter's own start) and ``python -c "import lsprotocol.types,
pygls.lsp.server"`` (the protocol libraries' import, which a pygls server pays unless the
protocol types' methods are kept between starts, :mod:`cnndsl.lsp.codecache`).

Every server starts as an installed one does: each tree's modules are compiled to bytecode
first (an install compiles them; a checkout under ``PYTHONDONTWRITEBYTECODE`` never does),
and the libraries' bytecode is looked for. The server is timed twice in each round: with the
methods kept by earlier starts (an editor's usual start), and with an empty cache folder (the
first start after an install or a Python upgrade).

With ``--old DIR`` (another checkout of cnndsl), its server is timed in the same rounds, the
order of all three rotating from round to round, and ratios new/old are printed. Each part is
printed as it finishes; wall time is the editor's wait, CPU time (user + system of the server
process) is what the server itself costs, and stays meaningful on a busy machine. Nothing is
asserted.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
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
SPEC = (ROOT / "examples" / "model1.cnn").read_text("utf-8")


def _message(payload: dict) -> bytes:
    body = json.dumps(payload).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read(stream) -> dict:
    length = 0
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError("the server closed its output before answering")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return json.loads(stream.read(length))


def _env(tree: Path, cache: str | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(tree) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return {**env, "XDG_CACHE_HOME": cache} if cache else env


def compiled(trees: dict[str, Path]) -> None:
    """Each tree's modules compiled as an install compiles them; a note on libraries without bytecode."""
    for tree in trees.values():
        compileall.compile_dir(tree / "cnndsl", quiet=1)
    for name in ("lsprotocol.types", "pygls.lsp.server", "cattrs", "attr"):
        spec = importlib.util.find_spec(name)
        cached = spec and spec.cached and os.path.exists(spec.cached)
        if not cached:
            print(f"note: {name} has no bytecode cache here; its import includes compiling it")


def editor_wait(tree: Path, cache: str | None = None) -> tuple[float, float, float]:
    """(seconds to the initialize answer, seconds to the first diagnostics, server CPU seconds)."""
    uri = (ROOT / "model1.cnn").as_uri()
    messages = (
        _message({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"processId": None, "rootUri": ROOT.as_uri(), "capabilities": {}}})
        + _message({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        + _message({"jsonrpc": "2.0", "method": "textDocument/didOpen",
                    "params": {"textDocument": {"uri": uri, "languageId": "cnndsl", "version": 1, "text": SPEC}}})
    )  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "cnndsl", "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=_env(tree, cache), cwd=tree)  # fmt: skip
    server.stdin.write(messages)
    server.stdin.flush()
    initialized = diagnosed = None
    while diagnosed is None:
        message = _read(server.stdout)
        if message.get("id") == 1:
            initialized = time.perf_counter() - start
        elif message.get("method") == "textDocument/publishDiagnostics":
            diagnosed = time.perf_counter() - start
    server.stdin.write(_message({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
    server.stdin.write(_message({"jsonrpc": "2.0", "method": "exit"}))
    server.stdin.close()
    server.wait(30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return initialized, diagnosed, cpu


def process(command: list[str], tree: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=_env(tree), cwd=tree)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def median(values) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--old", type=Path, help="another checkout of cnndsl, timed side by side")
    options = parser.parse_args()
    trees = {"new": ROOT, **({"old": options.old.resolve()} if options.old else {})}
    print(f"cnndsl lsp start-up, {options.runs} rounds; Python {platform.python_version()}, {os.cpu_count()} CPUs")
    compiled(trees)
    print("\n| part | median wall s | median CPU s |\n|---|---|---|", flush=True)
    floor = [process([sys.executable, "-c", "pass"], ROOT) for _ in range(options.runs)]
    print(f"| python -c pass | {median(w for w, _ in floor):.3f} | {median(c for _, c in floor):.3f} |", flush=True)
    protocol = [process([sys.executable, "-c", "import lsprotocol.types, pygls.lsp.server"], ROOT)
                for _ in range(options.runs)]  # fmt: skip
    print(f"| import lsprotocol.types, pygls.lsp.server | {median(w for w, _ in protocol):.3f} | "
          f"{median(c for _, c in protocol):.3f} |", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as kept:
        editor_wait(ROOT, kept)  # the start that keeps the methods for the others
        variants = {
            "new": (ROOT, kept),
            "new, first start": (ROOT, None),
            **({"old": (trees["old"], kept)} if options.old else {}),
        }
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
        for round_ in range(options.runs):
            names = list(variants)
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                tree, cache = variants[name]
                with tempfile.TemporaryDirectory() as empty:
                    results[name].append(editor_wait(tree, cache or empty))
    print("\n| server | initialize answered, s | first diagnostics, s | server CPU s |\n|---|---|---|---|")
    for name, runs in results.items():
        print(f"| {name} ({variants[name][0]}) | {median(r[0] for r in runs):.3f} | {median(r[1] for r in runs):.3f} | "
              f"{median(r[2] for r in runs):.3f} |", flush=True)  # fmt: skip
    if "old" in results:
        for name in ("new", "new, first start"):
            ratios = [median(r[i] for r in results[name]) / median(r[i] for r in results["old"]) for i in (1, 2)]
            print(f"{name} / old: first diagnostics {ratios[0]:.2f}, server CPU {ratios[1]:.2f}")


if __name__ == "__main__":
    main()
