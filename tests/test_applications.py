"""The keras.applications families written in the notation are the same models as Keras's own.

For each keras.applications family written by hand in ``examples/`` (VGG16 to Xception, then
EfficientNetB0 to NASNetMobile): ``cnndsl summary --json`` reports the figures of the README's
table, and so does ``keras.applications.X(weights=None)`` built live; the model cnndsl
builds from the file (and the checker's own layer table) has, weight-bearing layer by
weight-bearing layer, the same multiset of (Keras class, output shape, parameters) as
Keras's model; and the file has the architecture hash of what ``cnndsl.to_spec`` reads
from Keras's model: the same layers, in Keras's order, with Keras's arguments. Each Keras
model is built once, reduced to these figures, and let go.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import pytest
from golden_tables import EVERY
from helpers import EXAMPLES, ROOT, run_cli

from cnndsl.inputs import read_models
from cnndsl.report import architecture_hash

pytestmark = pytest.mark.slow

CLASSES = 1000
WARNED = {"convnext_tiny": {"DN on a 4-D tensor"}}
"""ConvNeXt's pointwise convolutions are, as Keras writes them, Dense layers on every pixel."""
ANY_SIZE = {"mobilenet_v3_small"}
"""Families whose Keras default input takes any size: built at the file's size, as the file declares."""
WEIGHTED = {
    "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "BatchNormalization", "Dense",
    "LayerNormalization", "LayerScale", "Normalization",
}  # fmt: skip


def layers_of(model) -> list:
    """A Keras model's layers, a nested model's (ConvNeXt's Sequential stem and downsampling) opened in place."""
    import keras

    return [
        inner for layer in model.layers for inner in (layers_of(layer) if isinstance(layer, keras.Model) else [layer])
    ]


def figures(model) -> dict:
    """A built Keras model's totals, output shape, layers and operations, as plain values."""
    import keras

    layers = layers_of(model)
    return {
        "total": model.count_params(),
        "non_trainable": sum(math.prod(weight.shape) for weight in model.non_trainable_weights),
        "output_shape": tuple(model.output_shape),
        "weighted": Counter(
            (type(layer).__name__, tuple(layer.output.shape), layer.count_params())
            for layer in layers
            if type(layer).__name__ in WEIGHTED
        ),
        "classes": Counter(type(layer).__name__ for layer in layers if type(layer).__name__ != "InputLayer"),
        "operations": Counter(  # a Sequential (a straight stack) has layers only
            type(op).__name__ for op in getattr(model, "operations", []) if not isinstance(op, keras.layers.Layer)
        ),
        "hard_sigmoids": sum(
            isinstance(layer, keras.layers.Activation) and layer.activation.__name__ == "hard_sigmoid"
            for layer in layers
        ),
    }


@pytest.fixture(scope="module", params=list(EVERY))
def stem(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def keras_application(stem) -> dict:
    """``keras.applications.X(weights=None)``, built live and reduced to its figures and ``to_spec``'s text."""
    import keras

    import cnndsl

    constructor, size, *_ = EVERY[stem]
    given = {"input_shape": (size, size, 3)} if stem in ANY_SIZE else {}
    model = getattr(keras.applications, constructor)(weights=None, **given)
    # verify=False: each family's reading is compared output for output (with the head's input) in
    # tests/test_applications_both_ways.py, which is what verification does, and more
    result = {**figures(model), "spec": cnndsl.to_spec(model, verify=False).text}
    del model
    keras.backend.clear_session()
    return result


@pytest.fixture(scope="module")
def checked(stem):
    """The checker's model of the spec file (one model per file)."""
    size = EVERY[stem][1]
    (source,) = read_models(str(EXAMPLES / f"{stem}.cnn"))
    return source.check(input_shape=(size, size, 3), num_classes=CLASSES)


@pytest.fixture(scope="module")
def built(checked) -> dict:
    """The Keras model cnndsl builds from the spec file, reduced to its figures."""
    import keras

    from cnndsl.backends.keras import build

    model = build(checked)
    result = figures(model)
    del model
    keras.backend.clear_session()
    return result


@pytest.fixture(scope="module")
def summary(stem) -> dict:
    """``cnndsl summary --json`` on the file, as a user runs it."""
    size = EVERY[stem][1]
    result = run_cli(
        "summary", "--json", "--input-shape", f"{size},{size},3", "--classes", str(CLASSES),
        f"examples/{stem}.cnn", cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_the_summary_reports_the_table(stem, summary):
    _, _, total, non_trainable = EVERY[stem]
    assert (summary["total_params"], summary["non_trainable_params"]) == (total, non_trainable)
    assert summary["output_shape"] == [None, CLASSES]
    assert {warning["message"].split(" (")[0] for warning in summary["warnings"]} <= WARNED.get(stem, set())


def test_keras_applications_reports_the_table(stem, keras_application, summary):
    _, _, total, non_trainable = EVERY[stem]
    assert (keras_application["total"], keras_application["non_trainable"]) == (total, non_trainable)
    assert keras_application["output_shape"] == tuple(summary["output_shape"])


def test_the_checker_has_keras_weight_bearing_layers(checked, keras_application):
    ours = Counter((info.keras_class, info.output_shape, info.params) for info in checked.layers)
    assert +Counter({key: n for key, n in ours.items() if key[0] in WEIGHTED}) == keras_application["weighted"]
    assert checked.total_params == keras_application["total"]


def test_the_built_model_has_keras_weight_bearing_layers(built, keras_application):
    assert built["weighted"] == keras_application["weighted"]
    assert (built["total"], built["non_trainable"]) == (keras_application["total"], keras_application["non_trainable"])
    assert built["output_shape"] == keras_application["output_shape"]


def test_the_built_model_has_keras_layer_classes(built, keras_application):
    """Every class Keras uses appears as often, read as the notation writes it.

    Keras's ReLU() and ReLU(6.0) are ACT(relu) and ACT(relu6), Activations. MobileNetV3's
    hard sigmoid, ``ReLU(6.0)(x + 3.0) * (1.0 / 6.0)``, is one ACT(hard_sigmoid): its ``+``
    and ``*`` are operations, not layers. ConvNeXt adds its residuals with ``inputs + x``,
    an operation, where ADD builds an Add layer; InceptionResNetV2's CustomScaleLayer is
    ADD(..., scale=s), which cnndsl builds as its ScaledAdd (an Add where s is 1).
    """
    theirs, operations, ours = (
        Counter(keras_application["classes"]),
        Counter(keras_application["operations"]),
        Counter(built["classes"]),
    )
    theirs["Activation"] += theirs.pop("ReLU", 0)
    operations.subtract({"Add": built["hard_sigmoids"], "Multiply": built["hard_sigmoids"]})
    theirs["Add"] += theirs.pop("CustomScaleLayer", 0) + operations.pop("Add", 0)
    ours["Add"] += ours.pop("ScaledAdd", 0)
    assert nonzero(operations) == {}
    assert nonzero(ours) == nonzero(theirs)


def nonzero(counts: Counter) -> dict:
    return {key: n for key, n in counts.items() if n}


def as_written(spec: str) -> str:
    """``to_spec``'s text as a person writes it: CAT on the channels, decimals at 15 digits.

    keras.applications concatenates on ``axis=3``, on a 4-D tensor the notation's default
    ``axis=-1``. Keras computes EfficientNet's drop-connect rates as ``0.2 * b / blocks``
    and ConvNeXt's variances as ``(0.229 * 255) ** 2``; some carry a rounding error in the
    17th digit (0.07500000000000001, 3409.9760250000004) where a person writes 0.075 and
    3409.976025: read at 15 significant digits, the most a double holds exactly, they agree.
    """
    spec = re.sub(r",\s*axis=3(?=\s*\))", "", spec)
    return re.sub(r"\d+\.\d+(?:e[-+]?\d+)?", lambda number: repr(float(f"{float(number.group()):.15g}")), spec)


def test_as_written_reads_only_the_axis_and_the_rounding_errors():
    spec = (
        "CAT(ID() | CN(8), axis=3) -> CAT(ID() | ID(), axis=1) -> DP(0.07500000000000001) -> RSC(0.00392156862745098)"
    )
    assert as_written(spec) == "CAT(ID() | CN(8)) -> CAT(ID() | ID(), axis=1) -> DP(0.075) -> RSC(0.00392156862745098)"


def test_the_file_is_what_to_spec_reads_from_keras(stem, checked, keras_application):
    """Layer for layer, in Keras's order, argument for argument (:func:`as_written`): one architecture hash."""
    import cnndsl

    size = EVERY[stem][1]
    read = cnndsl.check(as_written(keras_application["spec"]), (size, size, 3), CLASSES)
    assert architecture_hash(checked) == architecture_hash(read)


def readme_section() -> str:
    from docs_pages import section

    return section("docs/notation/applications.md", "keras.applications in the notation")


def test_the_readme_table_is_what_the_summary_reports(stem, summary):
    constructor, size, _, _ = EVERY[stem]
    row = (
        f"| {constructor} | `examples/{stem}.cnn` | {size}x{size}x3 "
        f"| {summary['total_params']:,} | {summary['non_trainable_params']:,} |"
    )
    assert row in readme_section().splitlines()


def test_the_readme_excerpt_is_resnet50_as_written():
    excerpt = readme_section().split("```\n")[1]
    assert excerpt.startswith("block conv3_first = ADD(") and "ID()" in excerpt
    assert excerpt in (EXAMPLES / "resnet50.cnn").read_text()


def test_the_readme_excerpt_is_a_nasnet_mobile_cell_as_written():
    (excerpt,) = [block for block in readme_section().split("```\n")[1::2] if "as cell_6" in block]
    assert excerpt.startswith("    # cell_6 reads") and excerpt.endswith("as cell_6\n")
    assert excerpt in (EXAMPLES / "nasnet_mobile.cnn").read_text()


def test_the_files_are_in_the_canonical_layout():
    files = [f"examples/{stem}.cnn" for stem in EVERY] + ["examples/resnet_mnist.cnn"]
    result = run_cli("fmt", "--check", *files, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
