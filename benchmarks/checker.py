"""How fast and how lean the checker is: ``python benchmarks/checker.py`` prints one table, part by part.

- Cold start: ``cnndsl check`` (the console script when installed) on the notebook's
  models as a fresh process, in a user's project folder (a pyproject.toml without, then
  with, a ``[tool.cnndsl]`` table), against the interpreter's floor (``python -c pass``)
  and against a fresh process that imports Keras and builds the same models by hand to
  reach the same verdicts (which build, with how many parameters; which Keras refuses).
  Bytecode is cached first, as an installed package has it.
- Throughput: in-process parse + check of notebook-style specs of 10 to 10,000 layers,
  in microseconds per layer, beside lark's lex-only speed on the same text: the floor the
  parser sets. Then the same for specs whose every layer is written differently, where
  the resolver can reuse no binding.
- The fourteen keras.applications goldens (examples/*.cnn): each file's in-process parse +
  check, and ``cnndsl check`` of all fourteen as a fresh process against a fresh process that
  imports Keras and builds the fourteen keras.applications models.
- Peak memory of checking the largest spec.
- Keystroke latency of the language server: its handlers, called directly, re-check a
  1,000-layer spec file after a one-character edit, publish the diagnostics and answer
  the editor's inlay-hint request (each message serialized to JSON as the server sends it).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [ROOT / "examples" / name for name in ("model1.cnn", "model2.cnn", "model3.cnn", "model3_title.cnn")]
SIZES = (10, 100, 1_000, 10_000)
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # measure with bytecode cached, as an installed package runs
ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="cnndsl-bench-pycache-")

# --- the Keras baseline: the notebook's models written by hand ------------------------------


def keras_models(layers) -> dict[str, list]:
    """The four example files as Keras layer lists (softmax head as cnndsl appends it)."""
    conv, bn, mp, dp, fl, dn = (
        layers.Conv2D, layers.BatchNormalization, layers.MaxPooling2D, layers.Dropout, layers.Flatten, layers.Dense,
    )  # fmt: skip

    def model3(k: int) -> list:
        convs = [conv(30, k, activation="relu"), bn(), conv(30, k, activation="relu"), bn()]
        convs += [conv(50, k, activation="relu"), bn(), conv(50, k, activation="relu"), bn()]
        convs += [conv(100, k, activation="relu"), bn(), conv(100, k, activation="relu"), mp(2), bn()]
        return [*convs, conv(150, k, activation="relu"), mp(2), dp(0.25), fl(), dn(120, activation="relu")]

    return {
        "model1.cnn": [
            conv(72, 7, activation="relu"), conv(38, 7, activation="relu"), conv(20, 7, activation="relu"),
            mp(2), dp(0.25), fl(), dn(128, activation="relu"), dp(0.5), dn(10, activation="softmax"),
        ],
        "model2.cnn": [
            conv(20, 5, activation="relu"), bn(), conv(20, 5, activation="relu"), bn(),
            conv(40, 5, activation="relu"), bn(), conv(10, 5, activation="relu"), bn(),
            conv(10, 5, activation="relu"), mp(2), dp(0.25), fl(), dn(128, activation="relu"),
            dn(10, activation="softmax"),
        ],
        "model3.cnn": [*model3(3), dp(0.5), dn(10, activation="softmax")],
        "model3_title.cnn": [*model3(5), dn(10, activation="softmax")],
    }  # fmt: skip


def keras_verdicts() -> None:
    """Run in a fresh process: build each model with Keras and print its verdict."""
    import keras

    for name, stack in keras_models(keras.layers).items():
        try:
            model = keras.Sequential([keras.Input((28, 28, 1)), *stack])
            print(f"{name}: OK {model.count_params()}")
        except ValueError:
            print(f"{name}: error")


def cnndsl_verdicts(output: str) -> dict[str, str]:
    """``{file: "OK <params>" | "error"}`` from ``cnndsl check`` output."""
    verdicts = {}
    for match in re.finditer(r"^(\S+?\.cnn): OK, \d+ layers, ([\d,]+) parameters", output, re.M):
        verdicts[Path(match[1]).name] = f"OK {match[2].replace(',', '')}"
    for match in re.finditer(r"^(\S+?\.cnn):\d+:\d+: error:", output, re.M):
        verdicts[Path(match[1]).name] = "error"
    return verdicts


def parse_verdicts(output: str) -> dict[str, str]:
    """``{file: verdict}`` from the Keras baseline's output."""
    return dict(line.split(": ", 1) for line in output.splitlines() if re.match(r"\S+\.cnn: (OK \d+|error)$", line))


def timed(command: list[str], cwd: Path = ROOT) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=cwd)
    return time.perf_counter() - start, result.stdout + result.stderr


def cnndsl_command(python: str) -> list[str]:
    """``cnndsl``, as a user runs it: the environment's console script, else ``python -m cnndsl``."""
    script = Path(python).parent / ("cnndsl.exe" if os.name == "nt" else "cnndsl")
    return [str(script)] if script.is_file() else [python, "-m", "cnndsl"]


PROJECT = (
    '[project]\nname = "user-project"\ndependencies = ["cnndsl", "tensorflow"]\n\n[tool.ruff]\nline-length = 100\n'
)
SETTINGS = "[tool.cnndsl]\ninput-shape = [28, 28, 1]\nclasses = 10\n"
"""A project's pyproject.toml, and a [tool.cnndsl] table (the defaults: verdicts unchanged) to add to it."""


def projects(folder: Path) -> dict[str, Path]:
    """Two copies of a user's project with the example files: without and with a [tool.cnndsl] table."""
    made = {}
    for name, text in (("no settings", PROJECT), ("settings", PROJECT + "\n" + SETTINGS)):
        made[name] = folder / name.replace(" ", "-")
        made[name].mkdir()
        (made[name] / "pyproject.toml").write_text(text, "utf-8")
        for path in EXAMPLES:
            (made[name] / path.name).write_text(path.read_text("utf-8"), "utf-8")
        broken = EXAMPLES[0].read_text("utf-8").replace(")", "", 1)  # model 1 with a ')' missing
        (made[name] / BROKEN).write_text(broken, "utf-8")
    return made


BROKEN = "model1_broken.cnn"
"""The first example file with its first ')' deleted: a syntax error, reported without lark."""


def cold_start(runs: int, python: str = sys.executable) -> dict:
    """Alternate the fresh processes ``runs`` times (cnndsl ``runs`` x 5); medians, ratios, agreement.

    ``cnndsl check`` runs in a user's project folder holding the example files, once with
    a pyproject.toml that has no ``[tool.cnndsl]`` table and once with one (which loads
    the TOML parser). ``python`` is the environment whose cnndsl, and whose floor, is timed.
    """
    files = [path.name for path in EXAMPLES]
    theirs = [sys.executable, str(Path(__file__).resolve()), "--keras-baseline"]
    floor = [python, "-c", "pass"]
    times: dict[str, list[float]] = {"cnndsl": [], "settings": [], "broken": [], "keras": [], "floor": []}
    with tempfile.TemporaryDirectory(prefix="cnndsl-bench-") as folder:
        made = projects(Path(folder))
        ours = [*cnndsl_command(python), "check", *files]
        timed(ours, made["no settings"])  # writes the bytecode cache
        for index in range(runs * 5):
            seconds, our_output = timed(ours, made["no settings"])
            times["cnndsl"].append(seconds)
            seconds, settings_output = timed(ours, made["settings"])
            times["settings"].append(seconds)
            seconds, broken_output = timed([*ours[: -len(files)], BROKEN], made["no settings"])
            times["broken"].append(seconds)
            times["floor"].append(timed(floor)[0])
            if index % 5 == 0:
                seconds, their_output = timed(theirs)
                times["keras"].append(seconds)
    our_verdicts, their_verdicts = cnndsl_verdicts(our_output), parse_verdicts(their_output)
    return {
        "command": " ".join(Path(part).name if part == ours[0] else part for part in ours[: -len(files)]),
        "cnndsl": statistics.median(times["cnndsl"]),
        "cnndsl_range": (min(times["cnndsl"]), max(times["cnndsl"])),
        "settings": statistics.median(times["settings"]),
        "broken": statistics.median(times["broken"]),
        "broken_reported": f"{BROKEN}:" in broken_output and "error: expected" in broken_output,
        "floor": statistics.median(times["floor"]),
        "keras": statistics.median(times["keras"]),
        "agree": our_verdicts == their_verdicts == cnndsl_verdicts(settings_output)
        and len(our_verdicts) == len(EXAMPLES),
        "verdicts": our_verdicts,
        "keras_verdicts": their_verdicts,
    }


# --- throughput and memory -----------------------------------------------------------------


def notebook_spec(layers: int) -> str:
    """``layers`` layers in the notebook's style, kept valid at any depth by padding=same."""
    body = ["CN(20,(5,5),padding=same)"]
    pattern = ["BN()", "CN(20,padding=same)", "BN()", "CN(40,padding=same)", "DP(0.25)", "CN(10,padding=same)"]
    while len(body) < layers - 2:
        body.append(pattern[len(body) % len(pattern)])
    return " -> ".join([*body, "GAP()", "DN(128)"])


def distinct_spec(layers: int) -> str:
    """``layers`` layers no two of which are written alike, so no binding is reused."""
    body = [f"CN({8 + i // 2},padding=same)" if i % 2 else f"DP(0.{i:06d})" for i in range(1, layers - 2)]
    return " -> ".join(["CN(20,(5,5),padding=same)", *body, "GAP()", "DN(128)"])


MODERN_BLOCK = ("CN({c},3,groups=4,padding=same)", "LN()", "DN({c4},activation=gelu)", "DN({c})", "LS()")
"""A ConvNeXt-like block in the modern vocabulary: grouped convolution, layer norm, Dense on 4-D, layer scale."""


def modern_spec(layers: int) -> str:
    """``layers`` layers of the modern vocabulary (and the appended head): preprocessing, ConvNeXt-like blocks, reshapes."""
    head = ["IN(32,32,3)", "RSC(0.00392)", "NRM(mean=0.5,variance=0.25)", "CN(16,3,padding=same)"]
    body: list[str] = []
    while len(body) < layers - 8:
        channels = 16 + 4 * (len(body) // len(MODERN_BLOCK) % 4)
        body += [part.format(c=channels, c4=4 * channels) for part in MODERN_BLOCK]
    body = [*body[: layers - 8], "CN(16,1,activation=linear)"]  # back to 16 channels for RS(16)
    return " -> ".join([*head, *body, "CR(1)", "DP(0.1,per_example=true)", "GAP()", "RS(16)"])


def best_of_interleaved(first, second, repeats: int) -> tuple[float, float]:
    """The fastest of ``repeats`` timings of each, taken in turn so both see the same machine."""
    timings: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for function, times in zip((first, second), timings):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
    return min(timings[0]), min(timings[1])


def throughput(sizes=SIZES, spec=notebook_spec) -> list[dict]:
    from cnndsl import check
    from cnndsl.syntax import _parser

    lexer = _parser("spec")
    check("CN(8)->FL()")  # build the parser once, as a warm process has
    rows = []
    for layers in sizes:
        text = spec(layers)
        repeats = max(5, 20_000 // layers)
        model = check(text)
        assert len(model.layers) == layers + 1, "the spec must check as written (plus its head)"
        checking, lexing = best_of_interleaved(
            lambda text=text: check(text), lambda text=text: sum(1 for _ in lexer.lex(text)), repeats
        )
        rows.append({"layers": layers, "chars": len(text), "check": checking, "lex": lexing})
    return rows


def growth(smaller: dict, larger: dict) -> str:
    """How checking time grows with size: the exponent k in time ~ layers**k (1 is linear)."""
    times, sizes = larger["check"] / smaller["check"], larger["layers"] / smaller["layers"]
    exponent = math.log(times) / math.log(sizes)
    return (
        f"{smaller['layers']:,} -> {larger['layers']:,} layers: check time x{times:.1f} for x{sizes:.0f} layers, "
        f"growth exponent {exponent:.2f} (1.00 is linear)"
    )


# The peak RSS of this process in bytes: VmHWM, which starts afresh at exec (ru_maxrss
# keeps the parent's peak across fork and exec, so a child of a big process looks big).
PRINT_PEAK_RSS = (
    "import re, resource; from pathlib import Path; status = Path('/proc/self/status'); "
    "hwm = re.search(r'VmHWM:\\s+(\\d+)', status.read_text()) if status.exists() else None; "
    "print(int(hwm[1] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024)"
)


def peak_memory(layers: int) -> dict:
    """tracemalloc's peak while checking, and the checking process's maximum RSS."""
    from cnndsl import check

    text = notebook_spec(layers)
    check(text)
    gc.collect()
    tracemalloc.start()
    check(text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = {}
    for label, code in {
        "import": "import cnndsl",
        "check": f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
        f"from checker import notebook_spec; import cnndsl; cnndsl.check(notebook_spec({layers}))",
    }.items():
        result = subprocess.run([sys.executable, "-c", f"{code}; {PRINT_PEAK_RSS}"], capture_output=True, text=True)
        rss[label] = int(result.stdout.split()[-1])
    return {"tracemalloc": peak, "rss": rss["check"], "rss_import": rss["import"]}


# --- the keras.applications goldens ------------------------------------------------------------

# spec file: (keras.applications constructor, input size)
GOLDENS = {
    "vgg16.cnn": ("VGG16", 224),
    "resnet50.cnn": ("ResNet50", 224),
    "mobilenet_v2.cnn": ("MobileNetV2", 224),
    "densenet121.cnn": ("DenseNet121", 224),
    "inception_v3.cnn": ("InceptionV3", 299),
    "xception.cnn": ("Xception", 299),
    "efficientnet_b0.cnn": ("EfficientNetB0", 224),
    "efficientnet_v2_s.cnn": ("EfficientNetV2S", 384),
    "convnext_tiny.cnn": ("ConvNeXtTiny", 224),
    "mobilenet_v3_small.cnn": ("MobileNetV3Small", 224),
    "mobilenet.cnn": ("MobileNet", 224),
    "inception_resnet_v2.cnn": ("InceptionResNetV2", 299),
    "resnet50_v2.cnn": ("ResNet50V2", 224),
    "nasnet_mobile.cnn": ("NASNetMobile", 224),
}
GOLDEN_CLASSES = 1000
# The fresh process that reaches the same verdicts with Keras: import it, build the fourteen.
CONSTRUCTORS = {name: constructor for name, (constructor, _) in GOLDENS.items()}
KERAS_APPLICATIONS = (
    "import keras\n"
    f"for name, constructor in {CONSTRUCTORS!r}.items():\n"
    "    print(f'{name}: OK {getattr(keras.applications, constructor)(weights=None).count_params()}')"
)


def golden_check_times(repeats: int = 15) -> dict[str, dict]:
    """In-process parse + check of each golden file (text already read): median and layers."""
    from cnndsl.inputs import file_models

    rows = {}
    for name, (_, size) in GOLDENS.items():
        text = (ROOT / "examples" / name).read_text()

        def run(text=text, name=name, size=size):
            (source,) = file_models(name, text, Path(name).stem)
            return source.check(input_shape=(size, size, 3), num_classes=GOLDEN_CLASSES)

        model = run()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        rows[name] = {"median": statistics.median(times), "layers": len(model.layers), "params": model.total_params}
    return rows


def golden_cold_start(runs: int) -> dict:
    """``cnndsl check`` of the golden files against importing Keras and building their models, alternated."""
    files = [f"examples/{name}" for name in GOLDENS]
    ours = [sys.executable, "-m", "cnndsl", "check", "--classes", str(GOLDEN_CLASSES), *files]
    theirs = [sys.executable, "-c", KERAS_APPLICATIONS]
    times: dict[str, list[float]] = {"cnndsl": [], "keras": []}
    for _ in range(runs):
        seconds, our_output = timed(ours)
        times["cnndsl"].append(seconds)
        seconds, their_output = timed(theirs)
        times["keras"].append(seconds)
    ours_found, theirs_found = golden_verdicts(our_output), parse_verdicts(their_output)
    return {
        "cnndsl": statistics.median(times["cnndsl"]),
        "keras": statistics.median(times["keras"]),
        "agree": ours_found == theirs_found and len(ours_found) == len(GOLDENS),
        "verdicts": ours_found,
        "keras_verdicts": theirs_found,
    }


def golden_verdicts(output: str) -> dict[str, str]:
    """``{file: "OK <params>"}`` from ``cnndsl check`` output on files of one named model each."""
    found = re.finditer(r"^(\S+?\.cnn)(?::\w+)?: OK, \d+ layers, ([\d,]+) parameters", output, re.M)
    return {Path(match[1]).name: f"OK {match[2].replace(',', '')}" for match in found}


def goldens_report(runs: int) -> list[str]:
    """The section on the keras.applications goldens: in-process check times, cold start."""
    lines = [
        "",
        "keras.applications goldens, in process: parse + check of the file (median of 15; target: ResNet50 < 20 ms)",
        f"{'file':<20}{'layers':>8}{'parameters':>14}{'check ms':>11}{'us/layer':>10}",
    ]
    for name, row in golden_check_times().items():
        lines.append(
            f"{name:<20}{row['layers']:>8,}{row['params']:>14,}{row['median'] * 1e3:>11.2f}"
            f"{row['median'] / row['layers'] * 1e6:>10.1f}"
        )
    cold = golden_cold_start(runs)
    lines += [
        "",
        f"{f'cold start (fresh process, the {len(GOLDENS)} goldens)':<52}{'median':>12}",
        f"{f'  cnndsl check ({len(GOLDENS)} files)':<52}{cold['cnndsl']:>11.3f}s",
        f"{f'  import keras + build the {len(GOLDENS)} keras.applications':<52}{cold['keras']:>11.3f}s",
        f"{'  ratio (target >= 50x)':<52}{cold['keras'] / cold['cnndsl']:>11.1f}x",
        f"{'  same parameter counts':<52}{'yes' if cold['agree'] else 'NO':>12}",
        f"  ({runs} alternated runs each)",
    ]
    if not cold["agree"]:
        lines.append(f"  cnndsl {cold['verdicts']}; keras {cold['keras_verdicts']}")
    return lines


# --- keystroke latency of the language server ---------------------------------------------------

KEYSTROKE_LAYERS = 1_000


def keystroke_file(layers: int = KEYSTROKE_LAYERS) -> str:
    """A spec file: a block and a model of ``layers`` layers, one layer per line (as ``cnndsl fmt`` lays it out)."""
    lines = notebook_spec(layers).split(" -> ")
    return "block stem = CN(20, (5, 5), padding=same) -> BN()\n\nnet = stem\n" + "".join(
        f"    -> {layer}\n" for layer in lines[2:]
    )


def keystroke(edits: int, visible: int | None = None, typing: bool = False, breaking: bool = False) -> dict:
    """Median milliseconds from a one-character edit to diagnostics published and inlay hints answered.

    Hints are asked for the whole file, or for the ``visible`` lines around the edit (as editors ask).
    The edit replaces a convolution's first digit (``CN(20`` <-> ``CN(30``), or with ``typing``
    types a digit after it and deletes it again (``CN(20`` <-> ``CN(200``): every later
    position moves. With ``breaking``, it deletes the call's closing parenthesis and types
    it again: every other edit leaves a syntax error mid-file (hints up to it).
    """
    import json

    from lsprotocol import types as lsp
    from pygls.workspace import Workspace

    from cnndsl.lsp import server

    ls = server.build_server()
    ls.protocol._workspace = Workspace(None, lsp.TextDocumentSyncKind.Incremental)  # what initialize sets up
    sent: list[str] = []
    ls.text_document_publish_diagnostics = lambda params: sent.append(
        json.dumps(ls.protocol._converter.unstructure(params))
    )
    text = keystroke_file()
    uri = "file:///bench/net.cnn"
    ls.workspace.put_text_document(lsp.TextDocumentItem(uri, "cnndsl", 1, text))
    server.did_open(ls, lsp.DidOpenTextDocumentParams(ls.workspace.get_text_document(uri)))
    rows = text.split("\n")
    line = next(i for i in range(len(rows) // 2, len(rows)) if "-> CN(" in rows[i])  # a convolution mid-file
    column = rows[line].index("(") + 1  # the first digit of its filters
    shown = (0, text.count("\n") + 1) if visible is None else (line - visible // 2, line + visible // 2)
    asked = lsp.Range(lsp.Position(shown[0], 0), lsp.Position(shown[1], 0))
    times, hints = [], 0
    for version in range(2, edits + 2):
        if breaking:  # CN(20, padding=same) -> CN(20, padding=same -> CN(20, padding=same)
            close = rows[line].index(")")
            typed = version % 2 == 1
            replaced = lsp.Range(lsp.Position(line, close), lsp.Position(line, close + (0 if typed else 1)))
            change = lsp.TextDocumentContentChangePartial(replaced, ")" if typed else "")
        elif typing:  # CN(20 -> CN(200 -> CN(20: valid either way
            typed = version % 2 == 0
            end = column + (1 if typed else 2)
            replaced = lsp.Range(lsp.Position(line, column + 1), lsp.Position(line, end))
            change = lsp.TextDocumentContentChangePartial(replaced, "0" if typed else "")
        else:  # CN(20 <-> CN(30
            digit = "3" if version % 2 else "2"
            replaced = lsp.Range(lsp.Position(line, column), lsp.Position(line, column + 1))
            change = lsp.TextDocumentContentChangePartial(replaced, digit)
        identifier = lsp.VersionedTextDocumentIdentifier(version=version, uri=uri)
        start = time.perf_counter()
        ls.workspace.update_text_document(identifier, change)
        server.did_change(ls, lsp.DidChangeTextDocumentParams(identifier, [change]))
        answer = server.inlay_hints(ls, lsp.InlayHintParams(lsp.TextDocumentIdentifier(uri), asked))
        sent.append(json.dumps(ls.protocol._converter.unstructure(answer)))
        times.append(time.perf_counter() - start)
        hints = len(answer)
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "hints": hints,
            "diagnostics": sent[-2], "edits": edits,
            "odd": statistics.median(times[1::2]), "even": statistics.median(times[::2])}  # fmt: skip


def keystroke_report(edits: int) -> list[str]:
    lines = [
        f"language server keystroke, {KEYSTROKE_LAYERS:,}-layer spec file (target < 30 ms): one-character edit ->",
        "  re-check, publish diagnostics, answer inlay hints (JSON-serialized), handlers called in process",
    ]
    for visible, typing, label in (
        (None, False, "digit replaced, hints for the whole file"),
        (60, False, "digit replaced, hints for 60 visible lines"),
        (None, True, "digit typed/deleted, whole file"),
        (60, True, "digit typed/deleted, 60 visible lines"),
    ):
        result = keystroke(edits, visible, typing)
        lines.append(
            f"  {label + ':':<44} median {result['median'] * 1e3:.1f} ms (min {result['min'] * 1e3:.1f}, "
            f"max {result['max'] * 1e3:.1f}) over {result['edits']} edits; {result['hints']:,} hints per answer"
        )
    for visible, label in ((None, "whole file"), (60, "60 visible lines")):
        result = keystroke(edits, visible, breaking=True)  # versions 2, 4, ... delete the ')'
        title = "')' deleted (a syntax error), " + label + ":"
        lines.append(
            f"  {title:<44} median {result['even'] * 1e3:.1f} ms; "
            f"typed again: median {result['odd'] * 1e3:.1f} ms (over {result['edits']} edits, half each)"
        )
    return lines


# --- the table -----------------------------------------------------------------------------


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def header() -> list[str]:
    versions = ", ".join(f"{name} {version(name)}" for name in ("cnndsl", "lark", "keras", "tensorflow"))
    return [
        f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores "
        f"({len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'} usable)",
        f"python {platform.python_version()}, {versions}",
    ]


def report(runs: int, python: str = sys.executable, shown=None) -> str:
    """Every part of the table; ``shown`` (say ``print``) is given each part as soon as it is measured."""
    lines: list[str] = []

    def part(new: list[str]) -> None:
        lines.extend(new)
        if shown is not None:
            shown("\n".join(new))

    part(header())
    cold = cold_start(runs, python)
    part(
        [
            "",
            f"{'cold start (fresh process, 4 example files)':<52}{'median':>12}",
            f"{'  python -c pass (the floor)':<52}{cold['floor'] * 1e3:>10.1f}ms",
            f"{'  cnndsl check (target <= 60 ms)':<52}{cold['cnndsl'] * 1e3:>10.1f}ms",
            f"{'  cnndsl check, with a [tool.cnndsl] table':<52}{cold['settings'] * 1e3:>10.1f}ms",
            f"{'  cnndsl check of model 1 with a syntax error':<52}{cold['broken'] * 1e3:>10.1f}ms"
            + ("" if cold["broken_reported"] else "  (NOT REPORTED)"),
            f"{'  import keras + build the same models':<52}{cold['keras'] * 1e3:>10.0f}ms",
            f"{'  cnndsl check / floor':<52}{cold['cnndsl'] / cold['floor']:>11.1f}x",
            f"{'  keras / cnndsl check (target >= 60x)':<52}{cold['keras'] / cold['cnndsl']:>11.1f}x",
            f"{'  keras / cnndsl check, with the table':<52}{cold['keras'] / cold['settings']:>11.1f}x",
            f"{'  same verdicts':<52}{'yes' if cold['agree'] else 'NO':>12}",
            f"  ({runs * 5} alternated runs of cnndsl and the floor, {runs} of keras; `{cold['command']}` "
            f"({Path(python).parent.parent}) in a "
            f"project folder; cnndsl from {cold['cnndsl_range'][0] * 1e3:.0f} to {cold['cnndsl_range'][1] * 1e3:.0f} ms; "
            f"verdicts {cold['verdicts']})",
        ]
        + ([f"  keras verdicts: {cold['keras_verdicts']}"] if not cold["agree"] else [])
    )
    for title, spec in (
        ("notebook style, CN(20,(5,5))->BN()->...", notebook_spec),
        ("every layer written differently (no binding reused)", distinct_spec),
        ("the modern vocabulary (RSC, NRM, grouped CN, LN, DN on 4-D, LS, drop-connect, CR, RS)", modern_spec),
    ):
        table = [
            "",
            f"throughput, in process: parse + check against lark's lex-only floor (target: ratio >= 0.5); {title}",
            f"{'layers':>8}{'chars':>10}{'check ms':>11}{'us/layer':>10}{'lex ms':>9}{'us/layer':>10}{'ratio':>8}",
        ]
        rows = throughput(spec=spec)
        for row in rows:
            n = row["layers"]
            table.append(
                f"{n:>8,}{row['chars']:>10,}{row['check'] * 1e3:>11.2f}{row['check'] / n * 1e6:>10.1f}"
                f"{row['lex'] * 1e3:>9.2f}{row['lex'] / n * 1e6:>10.1f}{row['lex'] / row['check']:>8.2f}"
            )
        part([*table, f"  {growth(rows[-2], rows[-1])}"])
    part(goldens_report(runs))
    part(["", *keystroke_report(runs * 20)])
    memory = peak_memory(SIZES[-1])
    mib = 1024 * 1024
    part(
        [
            "",
            f"peak memory, checking {SIZES[-1]:,} layers:",
            f"  tracemalloc peak {memory['tracemalloc'] / mib:.1f} MiB; process max RSS {memory['rss'] / mib:.1f} MiB "
            f"({memory['rss_import'] / mib:.1f} MiB after import cnndsl)",
        ]
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold-start runs of each process (default: 5)")
    parser.add_argument(
        "--python", default=sys.executable, metavar="PATH",
        help="the Python environment whose `cnndsl check` and `python -c pass` the cold start times "
        "(default: this one): one with cnndsl installed as users install it, not editable, whose finder "
        "loads pathlib into every interpreter's start",
    )  # fmt: skip
    parser.add_argument("--keras-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keras_baseline:
        keras_verdicts()
        return
    report(args.runs, args.python, shown=lambda text: print(text, flush=True))


if __name__ == "__main__":
    main()
