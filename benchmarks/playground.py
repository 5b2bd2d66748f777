"""The documentation's playground against the command line: ``python benchmarks/playground.py [--runs N]``.

Builds the site (``mkdocs build``, which builds the wheel and vendors Pyodide), serves it on
127.0.0.1 and opens the playground in headless Chromium (Debian's ``chromium``, driven by
Playwright's Python package), every other host unreachable. For the notebook's Model 1 and
ResNet50 (``examples/resnet50.cnn`` at 224x224x3) it times:

- the first result after the page opens, from navigation to the first answer shown, with
  the browser's cache warm (the page opened once before);
- each re-check in the page: ``performance.now()`` around the worker's call of
  ``cnndsl.playground.respond``, the spec edited and checked again ``--runs`` times;
- the same calls in this Python, and ``cnndsl check`` and ``cnndsl summary`` as processes,
  as a user runs them.

The page's re-check is the answer without the picture (check, summary, canonical text), the
picture is timed on its own (the page asks for it after showing the answer); CPython's figures
are the same two calls. Medians are printed as a Markdown table, with the machine's load
average: every figure is wall time, which a busy machine inflates. With psutil, the processor
time the page's renderer used is printed too (opening to the first result; per edit), which
a busy machine does not inflate. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
MODELS = {
    "Model 1": ((ROOT / "examples" / "model1.cnn").read_text("utf-8"), ""),
    "ResNet50": ((ROOT / "examples" / "resnet50.cnn").read_text("utf-8"), "224,224,3"),
}
URI_SAFE = "-_.!~*'()"
"""What JavaScript's ``encodeURIComponent`` leaves as it is, besides letters and digits."""
LOCAL = "127.0.0.1"
WARM_EDITS = 5
"""Edits checked before the timed ones, after the first result."""


def chromium() -> str | None:
    """Debian's Chromium (``CHROMIUM`` names another), or None."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@functools.cache
def hooks():
    """The site's build hooks (``docs/mkdocs_hooks.py``), which pin Pyodide's version."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "docs" / "mkdocs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pyodide_version() -> str:
    return hooks().PYODIDE_VERSION


def pyodide_cached() -> bool:
    """Whether an earlier build kept Pyodide's npm package (a build then needs no npm)."""
    return (hooks().PYODIDE_CACHE / f"pyodide-{pyodide_version()}.tgz").is_file()


def build_site(site: Path) -> Path:
    """``mkdocs build --strict`` of this checkout into ``site``; RuntimeError with its output if it fails."""
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if built.returncode != 0:
        raise RuntimeError(f"mkdocs build failed:\n{built.stdout}{built.stderr}")
    return site


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass


@contextlib.contextmanager
def serve(site: Path) -> Iterator[str]:
    """The built site served on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer((LOCAL, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOCAL}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class Browser:
    """One headless Chromium page, every host but 127.0.0.1 unreachable; it records what the page asked
    for from elsewhere, and every console error and uncaught exception."""

    def __init__(self, playwright, executable: str):
        # No name resolves but the local address, and the page's requests are routed: two walls.
        rules = f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {LOCAL}"
        self.others = _chromium_pids()
        # /dev/shm is small in containers: Chromium's shared memory goes to /tmp instead
        self.browser = playwright.chromium.launch(executable_path=executable, args=[rules, "--disable-dev-shm-usage"])
        self.context = self.browser.new_context()
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _route(self, route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname != LOCAL:
            self.elsewhere.append(url)
            route.abort()
        else:
            route.continue_()

    def open(self, url: str, timeout: float = 120) -> float:
        """Open ``url`` and wait for its first answer; the ms from navigation to it (as the page timed it)."""
        self.page.goto(url)
        self.page.wait_for_function("window.cnndslPlayground && window.cnndslPlayground.first !== null",
                                    timeout=timeout * 1000)  # fmt: skip
        return self.page.evaluate("window.cnndslPlayground.first")

    def settle(self, timeout: float = 60) -> dict:
        """Wait until the page shows the answer to what its editor and fields hold; that answer."""
        self.page.wait_for_function("window.cnndslPlayground.settled()", timeout=timeout * 1000)
        return self.page.evaluate("window.cnndslPlayground.answer")

    def cpu(self) -> float | None:
        """The processor seconds this browser's renderers (the pages and their workers) have used so far
        (None without psutil). The browser process is left out: it also serves the driver's polling."""
        try:
            import psutil
        except ImportError:
            return None
        total = 0.0
        for pid in _chromium_pids() - self.others:
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                if "--type=renderer" in process.cmdline():
                    times = process.cpu_times()
                    total += times.user + times.system
        return total

    def close(self) -> None:
        self.browser.close()


def _chromium_pids() -> set[int]:
    try:
        import psutil
    except ImportError:
        return set()
    return {process.pid for process in psutil.process_iter(["name"]) if "chrom" in (process.info["name"] or "")}


def link(base: str, spec: str, **fields: str) -> str:
    """The playground's address for a spec and its fields, as the page writes it."""
    parts = {"spec": spec, **{key: value for key, value in fields.items() if value}}
    return base + "playground/#" + "&".join(f"{key}={quote(value, safe=URI_SAFE)}" for key, value in parts.items())


def in_page(browser: Browser, base: str, runs: int) -> dict[str, dict[str, float]]:
    """Each model's first result (warm cache), Pyodide's part of it, and median re-check and picture in the page, in ms."""
    found = {}
    for name, (spec, shape) in MODELS.items():
        browser.page.goto("about:blank")
        browser.open(link(base, spec, input=shape))  # the cache warmed
        browser.page.goto("about:blank")
        cpu = browser.cpu()
        first = browser.open(link(base, spec, input=shape))
        first_cpu = None if cpu is None else browser.cpu() - cpu
        browser.settle()
        for run in range(WARM_EDITS):  # the engine compiles the hot code further as it runs: not timed
            browser.page.fill("#pg-spec", spec + " " * (run + 1))
            browser.settle()
        phases = browser.page.evaluate("window.cnndslPlayground.info.phases")
        before = browser.page.evaluate("window.cnndslPlayground.checks.length")
        cpu = browser.cpu()
        for run in range(runs):
            browser.page.fill("#pg-spec", spec + "\n" * (run % 2 + 1))  # an edit, checked again
            browser.settle()
        edit_cpu = None if cpu is None else (browser.cpu() - cpu) / runs
        state = browser.page.evaluate("window.cnndslPlayground")
        found[name] = {
            "first": first, "pyodide": phases["pyodide"], "first cpu": first_cpu, "edit cpu": edit_cpu,
            "check": statistics.median(state["checks"][before:]), "picture": statistics.median(state["pictures"][before:]),
        }  # fmt: skip
    return found


def in_python(runs: int) -> dict[str, dict[str, float]]:
    """Each model's median ``respond`` (without the picture) and ``picture`` here, and ``cnndsl check``
    and ``cnndsl summary`` as processes, in ms."""
    sys.path.insert(0, str(ROOT))
    from cnndsl.playground import picture, respond

    found = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, (spec, shape) in MODELS.items():
        request = json.dumps({"spec": spec, "input": shape or None, "picture": False})
        checks, pictures = [], []
        for _ in range(runs + 1):
            checks.append(_timed(respond, request))
            pictures.append(_timed(picture))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "spec.cnn"
            path.write_text(spec, "utf-8")
            flags = ["--input-shape", shape] if shape else []
            commands = {
                what: [sys.executable, "-m", "cnndsl", what, str(path), *flags] for what in ("check", "summary")
            }
            times = {what: [_timed(_quietly, command, env) for _ in range(max(3, runs // 4))]
                     for what, command in commands.items()}  # fmt: skip
        found[name] = {
            "check": statistics.median(checks[1:]), "picture": statistics.median(pictures[1:]),
            "cli check": statistics.median(times["check"]), "cli summary": statistics.median(times["summary"]),
        }  # fmt: skip
    return found


def _quietly(command: list[str], env: dict) -> None:
    subprocess.run(command, env=env, capture_output=True, check=False)


def _timed(call, *args) -> float:
    started = time.perf_counter()
    call(*args)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="re-checks timed per model (default: 20)")
    args = parser.parse_args()
    executable = chromium()
    if executable is None:
        sys.exit("benchmarks/playground.py needs Chromium: apt-get install chromium (or CHROMIUM=path)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        site = build_site(Path(folder) / "site")
        with serve(site) as base, sync_playwright() as playwright:
            browser = Browser(playwright, executable)
            try:
                page = in_page(browser, base, args.runs)
                version = browser.page.text_content("#pg-version")
            finally:
                browser.close()
    here = in_python(args.runs)
    print(f"{version}; Chromium at {executable}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| model | first result (warm cache) | of it, Pyodide's start | re-check in the page | picture in the page "
          "| re-check in CPython | picture in CPython | `cnndsl check` | `cnndsl summary` |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name in MODELS:
        web, py = page[name], here[name]
        print(f"| {name} | {web['first'] / 1000:.2f} s | {web['pyodide'] / 1000:.2f} s | {web['check']:.1f} ms "
              f"| {web['picture']:.1f} ms | {py['check']:.1f} ms | {py['picture']:.1f} ms | {py['cli check']:.0f} ms "
              f"| {py['cli summary']:.0f} ms |")  # fmt: skip
    if page[next(iter(MODELS))]["first cpu"] is not None:
        print(
            "\nprocessor time of the page's renderer (the page and its worker, all threads), which a busy "
            "machine does not inflate:"
        )
        for name in MODELS:
            web = page[name]
            print(
                f"  {name}: opening to the first result {web['first cpu']:.2f} s; "
                f"an edit, its check and its picture shown {web['edit cpu'] * 1000:.0f} ms"
            )
    if browser.elsewhere:
        print(f"requests to other hosts (blocked): {browser.elsewhere}")


if __name__ == "__main__":
    main()
