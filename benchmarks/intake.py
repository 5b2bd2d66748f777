"""Models as their authors wrote them, read into the notation: exact, refused, or wrong.

Each model of the corpus is read (``cnndsl.from_torch`` for a ``torch.nn.Module``,
``cnndsl.to_spec`` for a Keras model) and given one verdict:

- **exact**: the reader returned a spec, and the spec, built in the source's own framework
  with the source's weights ported, has the source's parameter count and computes the
  source's outputs on a seeded random input (batch norms given random statistics first)
  within 1e-4 of their largest value;
- **refused**: the reader raised ``UnsupportedModel``; its first line is the reason;
- **wrong**: the reader returned a spec that does not compute what the source computes
  (another output, another parameter count, weights that do not port);
- **crashed**: the reader raised anything else (a bug in the reader: it should refuse).

The comparison is this benchmark's own: a reader's self-verification, where it has one, is
switched off (``verify=False``), so that a wrong reading shows here as wrong.

The corpus, built from installed libraries (no model code is copied here):

- **torchvision**: every builder of ``torchvision.models`` that makes a CNN for images
  (classification, quantizable classifiers with ``quantize=False``, and the segmentation
  models, read with the segment task), ``weights=None``, 10 classes, at 64x64 (96x96 for
  the Inception models, 224x224 for AlexNet, whose features are pooled to 6x6). Left out: the vision transformers (``vit_*``, ``swin_*``, ``maxvit_t``:
  attention, not convolution), the video models (5-D input), the optical flow models (two
  inputs) and the detection models (a list of images in, a list of boxes out): none of them
  is a CNN from one image to one tensor, which is what the notation writes. Builders over
  60 million parameters are skipped to keep the run affordable.
- **timm**: one or two small models of each CNN family, ``pretrained=False``, 10 classes.
- **keras.applications**: every constructor, ``weights=None``, 10 classes, at 96x96.
- **tutorials**: models written here in the idiom of public tutorials and examples
  (:mod:`intake_models`), each labelled with the example whose style it follows.

    python benchmarks/intake.py                          # the whole corpus, about 20 minutes
    python benchmarks/intake.py --only resnet --limit 4  # names containing "resnet", the first 4
    python benchmarks/intake.py --markdown docs/interop/intake.md   # the page's table, rewritten

torchvision's compiled detection operators do not load against a CPU build of torch built
apart from it; where ``import torchvision`` fails so, an empty module stands in for their
registrations (none of these models uses them), and a note says so.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import signal
import sys
import time
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

TOLERANCE = 1e-4
"""Outputs agree within this, relative to their largest absolute value."""
SECONDS = 120
"""A model still being read or compared after this long is given up (verdict ``timeout``)."""
MAX_PARAMS = 60_000_000
VERDICTS = ("exact", "refused", "wrong", "crashed", "timeout")
"""A model skipped (over :data:`MAX_PARAMS`) counts in none of them."""


@dataclass(frozen=True)
class Case:
    """One model of the corpus: where it comes from, how to build it, the input it is read for."""

    source: str
    name: str
    build: Callable[[], object]
    shape: tuple[int, int, int] = (64, 64, 3)
    task: str | None = None
    output: str | None = None
    """The key of the model's output that the notation's model computes, when the model returns a dict."""
    note: str = ""


@dataclass
class Row:
    case: Case
    verdict: str = ""
    reason: str = ""
    params: int = 0
    seconds: float = 0.0
    dropped: list[str] = field(default_factory=list)


# --- the sources ----------------------------------------------------------------------------


def torchvision():
    """torchvision, with the stand-in for its detection operators only where the real import fails."""
    try:
        import torchvision
    except RuntimeError as error:
        if "does not exist" not in str(error):
            raise
        for name in [name for name in sys.modules if name.startswith("torchvision")]:
            del sys.modules[name]
        stand_in = "torchvision._meta_registrations"
        sys.modules.setdefault(stand_in, types.ModuleType(stand_in))
        import torchvision

        print(f"note: torchvision's compiled operators do not load ({str(error).splitlines()[0]}); "
              "an empty module stands in for their registrations", file=sys.stderr)  # fmt: skip
    return torchvision


NOT_CNN = re.compile(r"^(vit_|swin|maxvit|mvit|mc3|r3d|r2plus1d|s3d|raft|fasterrcnn|fcos|keypointrcnn|"
                     r"maskrcnn|retinanet|ssd)")  # fmt: skip
SEGMENTATION = ("fcn_", "deeplabv3_", "lraspp_")
SHAPES = {"alexnet": (224, 224, 3)}
"""AlexNet pools its features to 6x6 whatever their size: at 224x224 they are 6x6 already."""


def torchvision_cases() -> list[Case]:
    vision = torchvision()
    cases = []
    for name in vision.models.list_models():
        if NOT_CNN.match(name):
            continue
        builder = vision.models.get_model_builder(name)
        kwargs: dict = {"weights": None, "num_classes": 10}
        task = output = None
        shape = SHAPES.get(name, (96, 96, 3) if "inception" in name else (64, 64, 3))
        if name.startswith(SEGMENTATION):
            kwargs.update(weights_backbone=None)
            task, output = "segment", "out"
        if name.startswith("quantized_"):
            kwargs.update(quantize=False)
        if name in ("googlenet", "inception_v3", "quantized_googlenet", "quantized_inception_v3"):
            kwargs.update(init_weights=False)
        cases.append(Case("torchvision", name, _call(builder, **kwargs), shape, task, output))
    return cases


TIMM = (
    "resnet10t", "resnet18", "resnet26d", "resnext26ts", "seresnet18", "ecaresnet26t", "skresnet18",
    "res2net50_26w_4s", "res2next50", "resnetv2_50", "resnetrs50", "gernet_s", "regnetx_002", "regnety_002",
    "regnetz_005", "efficientnet_b0", "efficientnet_lite0", "efficientnet_es", "efficientnetv2_rw_t",
    "tf_efficientnetv2_b0", "tf_efficientnet_b0", "mobilenetv2_050", "mobilenetv3_small_050",
    "mobilenetv3_large_100", "tf_mobilenetv3_small_075", "mobilenetv4_conv_small", "mnasnet_050",
    "semnasnet_050", "spnasnet_100", "fbnetc_100", "fbnetv3_b", "tinynet_e", "hardcorenas_a", "lcnet_050",
    "mixnet_s", "rexnet_100", "ghostnet_050", "ghostnetv2_100", "repghostnet_050", "cspresnet50", "cspdarknet53",
    "cs3darknet_s", "darknet17", "dpn48b", "densenet121", "ese_vovnet19b_dw", "vovnet39a", "dla34", "dla46_c",
    "hrnet_w18_small", "selecsls42b", "tresnet_m", "convnext_atto", "convnext_atto_ols", "nf_resnet26",
    "dm_nfnet_f0", "repvgg_a0", "mobileone_s0", "inception_v3", "xception41", "vgg11", "hgnetv2_b0",
    "starnet_s050", "inception_next_atto",
)  # fmt: skip


def timm_cases() -> list[Case]:
    torchvision()
    import timm

    def build(name):
        return lambda: timm.create_model(name, pretrained=False, num_classes=10)

    return [Case("timm", name, build(name), (96, 96, 3) if "inception" in name else (64, 64, 3)) for name in TIMM]


def keras_cases() -> list[Case]:
    import keras

    names = sorted(name for name in dir(keras.applications) if name[0].isupper())

    def build(name):
        return lambda: getattr(keras.applications, name)(weights=None, input_shape=(96, 96, 3), classes=10)

    return [Case("keras.applications", name, build(name), (96, 96, 3)) for name in names]


def tutorial_cases() -> list[Case]:
    import importlib.util

    found = importlib.util.spec_from_file_location("intake_models", Path(__file__).with_name("intake_models.py"))
    intake_models = importlib.util.module_from_spec(found)
    found.loader.exec_module(intake_models)
    return [
        Case("tutorials", name, build, shape, task, note=style)
        for name, (build, shape, task, style) in intake_models.MODELS.items()
    ]


SOURCES = {"tutorials": tutorial_cases, "torchvision": torchvision_cases, "timm": timm_cases,
           "keras": keras_cases}  # fmt: skip


def _call(builder, **kwargs):
    return lambda: builder(**kwargs)


# --- one model --------------------------------------------------------------------------------


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def measure(case: Case, seconds: int = SECONDS) -> Row:
    """One model's verdict, never raising: its build, reading and comparison within ``seconds``."""
    row = Row(case)
    start = time.perf_counter()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        size = _meta_params(case)
        if size > MAX_PARAMS:
            row.verdict, row.params = "skipped", size
            row.reason = f"{size:,} parameters: over the benchmark's {MAX_PARAMS:,}"
            return row
        model = case.build()
        if _is_keras(model):
            _keras(case, model, row)
        else:
            _torch(case, model, row)
    except _Timeout:
        row.verdict, row.reason = "timeout", f"not done in {seconds} s"
    except Exception as error:  # a row says what failed, and the run goes on
        if not row.verdict:
            row.verdict, row.reason = "crashed", _line(error)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    row.seconds = time.perf_counter() - start
    return row


def _meta_params(case: Case) -> int:
    """A PyTorch model's parameter count, built on the meta device (no memory, no initialisation); 0 if unknown."""
    if case.source not in ("torchvision", "timm"):
        return 0
    import torch

    try:
        with torch.device("meta"):
            return sum(p.numel() for p in case.build().parameters())
    except Exception:  # counted when built instead
        return 0


def _line(error: Exception) -> str:
    text = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {text}"[:240]


def _is_keras(model) -> bool:
    return any(cls.__module__.startswith("keras") for cls in type(model).__mro__)


def _unverified(reader: Callable) -> dict:
    """``verify=False`` where the reader takes it: this benchmark compares on its own."""
    return {"verify": False} if "verify" in inspect.signature(reader).parameters else {}


def _read(row: Row, reader: Callable, *args, **kwargs):
    """The reader's spec, or None with the row's verdict set."""
    from cnndsl.errors import UnsupportedModel

    try:
        return reader(*args, **kwargs, **_unverified(reader))
    except UnsupportedModel as error:
        row.verdict, row.reason = "refused", (str(error).strip().splitlines() or [""])[0]
    except Exception as error:  # the reader should have refused: a bug, said as such
        row.verdict, row.reason = "crashed", _line(error)
    return None


def _difference(theirs, ours) -> float:
    import numpy as np

    theirs, ours = np.asarray(theirs, dtype="float64"), np.asarray(ours, dtype="float64")
    if theirs.shape != ours.shape:
        return float("inf")
    return float(np.abs(theirs - ours).max() / max(float(np.abs(theirs).max()), 1e-12))


def _torch(case: Case, model, row: Row) -> None:
    import warnings

    import torch

    import cnndsl

    model = model.eval()
    row.params = sum(p.numel() for p in model.parameters())
    if row.params > MAX_PARAMS:
        row.verdict, row.reason = "skipped", f"{row.params:,} parameters: over the benchmark's {MAX_PARAMS:,}"
        return
    height, width, channels = case.shape
    generator = torch.Generator().manual_seed(0)
    _random_statistics(model, generator)
    x = torch.randn(2, channels, height, width, generator=generator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = _read(row, cnndsl.from_torch, model, case.shape, task=case.task)
    if spec is None:
        return
    row.dropped = [str(dropped) for dropped in getattr(spec, "dropped", ())]
    task = getattr(spec, "task", None) or case.task  # the task the reading says its head is (or the one given)
    try:
        checked = cnndsl.check(spec.text, task=task)
        reached = row.params - sum(d.params for d in getattr(spec, "dropped", ()))
        if checked.trainable_params != reached:
            row.verdict, row.reason = "wrong", f"{checked.trainable_params:,} parameters, the model {reached:,}"
            return
        with torch.no_grad():
            theirs = model(x)
            if isinstance(theirs, dict):
                theirs = theirs[case.output]
            differences = []
            for logits in (True, False):
                built = cnndsl.compile_spec(spec.text, backend="torch", logits=logits, task=task).eval()
                cnndsl.port_weights(spec, built)
                ours = built(x)
                differences.append(_difference(theirs, ours))
                if ours.min() > 0:  # probabilities: a model ending in log_softmax gives their logarithm
                    differences.append(_difference(theirs, torch.log(ours)))
    except Exception as error:  # a spec returned that does not build or port is a wrong reading
        row.verdict, row.reason = "wrong", f"the spec does not build or port: {_line(error)}"
        return
    _judge(row, min(differences))


def _random_statistics(model, generator) -> None:
    import torch
    from torch import nn

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
                n = module.num_features
                module.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                if module.affine:
                    module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                    module.bias.copy_(torch.rand(n, generator=generator) * 0.4 - 0.2)


def _judge(row: Row, difference: float) -> None:
    if difference <= TOLERANCE:
        row.verdict = "exact"
    else:
        row.verdict, row.reason = "wrong", f"outputs differ by {difference:.2g} of their largest value"


def _keras(case: Case, model, row: Row) -> None:
    import keras
    import numpy as np

    import cnndsl

    row.params = int(model.count_params())
    if row.params > MAX_PARAMS:
        row.verdict, row.reason = "skipped", f"{row.params:,} parameters: over the benchmark's {MAX_PARAMS:,}"
        return
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            given = {"gamma": rng.uniform(0.5, 1.5, n), "beta": rng.uniform(-0.2, 0.2, n),
                     "moving_mean": rng.uniform(-0.5, 0.5, n), "moving_variance": rng.uniform(0.5, 1.5, n)}  # fmt: skip
            for weight in layer.weights:
                weight.assign(given[weight.name.split("/")[-1]].astype("float32"))
    x = rng.uniform(0, 1, (2, *case.shape)).astype("float32")
    spec = _read(row, cnndsl.to_spec, model, task=case.task)
    if spec is None:
        return
    task = getattr(spec, "task", None) or case.task  # the task the reading says its head is (or the one given)
    try:
        checked = cnndsl.check(spec.text, None, spec.num_classes, task)
        if checked.total_params != row.params:
            row.verdict, row.reason = "wrong", f"{checked.total_params:,} parameters, the model {row.params:,}"
            return
        built = cnndsl.compile_spec(spec.text, None, spec.num_classes, task=task)
        built.set_weights(model.get_weights())
        theirs, ours = np.asarray(model(x, training=False)), np.asarray(built(x, training=False))
        difference = _difference(theirs, ours)
        if difference <= TOLERANCE and len(model.layers) > 1 and len(built.layers) > 1:  # a softmax hides much
            inner = keras.Model(model.inputs[0], model.layers[-1].input)(x, training=False)
            built_inner = keras.Model(built.inputs[0], built.layers[-1].input)(x, training=False)
            difference = max(difference, _difference(inner, built_inner))
    except Exception as error:  # a spec returned that does not build or take the weights is a wrong reading
        row.verdict, row.reason = "wrong", f"the spec does not build or take the weights: {_line(error)}"
        return
    finally:
        keras.backend.clear_session()
    _judge(row, difference)


# --- the report -------------------------------------------------------------------------------


def construct(reason: str) -> str:
    """A refusal's construct: the reason without the module's path, sizes, or the file and line."""
    text = re.sub(r"^module '[^']*' \(([^)]*)\), operation call", r"\1", reason)
    text = re.sub(r"^module '[^']*' \([^)]*\), ", "", text)
    text = re.sub(r"^layer '[^']*' ", "", text)
    text = re.sub(r"\S+\.py:\d+:?\s*", "", text)
    text = re.sub(r"\b\d+(\.\d+)?(e-?\d+)?\b", "N", text)
    return text[:160]


def histogram(rows: list[Row]) -> list[tuple[str, int, list[str]]]:
    """(construct, how many models, which) for each refusal, crash and wrong reading; the most common first."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        if row.verdict in ("refused", "crashed", "wrong"):
            groups.setdefault(f"{row.verdict}: {construct(row.reason)}", []).append(row.case.name)
    return sorted(((key, len(names), names) for key, names in groups.items()), key=lambda item: -item[1])


def totals(rows: list[Row]) -> str:
    skipped = sum(row.verdict == "skipped" for row in rows)
    rows = [row for row in rows if row.verdict != "skipped"]
    parts = []
    for verdict in VERDICTS:
        count = sum(row.verdict == verdict for row in rows)
        if count or verdict in ("exact", "refused", "wrong"):
            parts.append(f"{count} {verdict} ({100 * count / max(len(rows), 1):.0f}%)")
    return f"{len(rows)} models: " + ", ".join(parts) + (f"; {skipped} skipped for their size" if skipped else "")


def markdown(rows: list[Row]) -> str:
    lines = ["| source | model | input | parameters | verdict | reason |", "|---|---|---|---|---|---|"]
    for row in rows:
        shape = "x".join(map(str, row.case.shape))
        reason = row.reason.replace("|", "\\|")
        lines.append(f"| {row.case.source} | `{row.case.name}` | {shape} | {row.params:,} | {row.verdict} | {reason} |")
    lines += ["", totals(rows) + ".", ""]
    for source in dict.fromkeys(row.case.source for row in rows):
        mine = [row for row in rows if row.case.source == source]
        lines.append(f"- {source}: {totals(mine)}")
    return "\n".join(lines) + "\n"


START, END = "<!-- intake table -->\n", "<!-- /intake table -->\n"


def write_table(path: str, table: str) -> None:
    """The table into ``path``: between the page's markers where it has them (docs/interop/intake.md), else alone."""
    page = Path(path)
    text = page.read_text("utf-8") if page.exists() else ""
    if START in text and END in text:
        before, _, rest = text.partition(START)
        text = before + START + "\n" + table + "\n" + END + rest.partition(END)[2]
    else:
        text = table
    page.write_text(text, "utf-8")


def report(rows: list[Row]) -> str:
    lines = ["", totals(rows)]
    for source in dict.fromkeys(row.case.source for row in rows):
        lines.append(f"  {source}: {totals([row for row in rows if row.case.source == source])}")
    lines += ["", "What is refused, wrong or crashed, by construct:"]
    reasons = {row.case.name: row.reason for row in rows}
    for key, count, names in histogram(rows):
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        lines.append(f"  {count:3d}  {key}  [{shown}]")
        classes = Counter(found[0] for name in names if (found := OWNER.findall(reasons[name])))
        if len(classes) > 1:
            lines.append("         in " + ", ".join(f"{cls} ({n})" for cls, n in classes.most_common()))
    return "\n".join(lines)


OWNER = re.compile(r"^module '[^']*' \(([^)]*)\)")
"""The class of the module a refusal names: one construct (``builtins.getattr``) is met in many."""


def cases(sources: list[str], only: str | None, limit: int | None) -> list[Case]:
    found = []
    for source in sources:
        found += [case for case in SOURCES[source]() if not only or any(p in case.name for p in only.split(","))]
    return found[:limit] if limit else found


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", default=",".join(SOURCES), help=f"comma-separated, of {', '.join(SOURCES)}")
    parser.add_argument("--only", help="comma-separated parts of model names: only the models whose name has one")
    parser.add_argument("--limit", type=int, help="only the first N models")
    parser.add_argument("--seconds", type=int, default=SECONDS, help="give a model up after this long")
    parser.add_argument("--markdown", metavar="FILE", help="write the table as Markdown to FILE")
    options = parser.parse_args(argv)
    rows = []
    for case in cases(options.sources.split(","), options.only, options.limit):
        row = measure(case, options.seconds)
        rows.append(row)
        reason = f"  {row.reason}" if row.reason else ""
        print(f"{row.verdict:8s} {case.source:18s} {case.name:32s} {row.seconds:6.1f}s{reason}", flush=True)
    print(report(rows))
    if options.markdown:
        write_table(options.markdown, markdown(rows))
    return rows


if __name__ == "__main__":
    main()
