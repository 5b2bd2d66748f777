"""keras.applications: the families written in the notation are Keras's own models, and back.

For each keras.applications family written by hand in ``examples/`` (VGG16 to Xception, then
EfficientNetB0 to NASNetMobile), Keras's model (``keras.applications.X(weights=None)``) is
built once and read by :func:`round_trip` of ``benchmarks/applications.py`` (which runs every
constructor): ``to_spec`` writes it; ``check`` gives its total, trainable and non-trainable
counts; ``compile_spec`` takes its weights and computes its outputs, and the tensor that feeds
its head, within 1e-4. Beside that round trip: ``cnndsl summary --json`` on the file reports the
figures of the docs' table, and so does Keras's model; the file has the architecture hash of
what ``to_spec`` read (the same layers, in Keras's order, with Keras's arguments), so the model
cnndsl builds from that reading is the one it builds from the file, and it has, weight-bearing
layer by weight-bearing layer, the same multiset of (Keras class, output shape, parameters) as
Keras's model, as the checker's own layer table does. NASNetMobile is the family whose cells
each read the two cells before them: it reads only with named tensors (``as``/``@``).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import pytest
from golden_tables import EVERY
from helpers import EXAMPLES, ROOT, load_script, run_cli

from cnndsl.inputs import read_models
from cnndsl.report import architecture_hash

pytestmark = pytest.mark.slow

pytest.importorskip("keras", reason="keras.applications needs the tensorflow extra")

CLASSES = 1000
WARNED = {"convnext_tiny": {"DN on a 4-D tensor"}}
"""ConvNeXt's pointwise convolutions are, as Keras writes them, Dense layers on every pixel."""
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
def bench():
    return load_script(ROOT / "benchmarks" / "applications.py", "applications_benchmark")


@pytest.fixture(scope="module")
def keras_application(stem, bench) -> dict:
    """Keras's model, built once at the file's size and let go: the round trip's row, and both models' figures.

    "keras" is Keras's model's figures and "built" those of the model ``compile_spec`` built from
    ``to_spec``'s text (None where the round trip stopped before it)."""
    constructor, size, *_ = EVERY[stem]
    seen = {}

    def inspect(model, built) -> None:
        seen["size"] = tuple(model.inputs[0].shape[1:])
        seen["keras"] = figures(model)
        seen["built"] = None if built is None else figures(built)

    # a family whose Keras default input takes any size is built at 224 x 224, the file's size
    row = bench.round_trip(constructor, inspect=inspect)
    assert seen["size"] == (size, size, 3), f"{constructor} was built for {seen['size']}, its file for {size} x {size}"
    return {**seen, "row": row}


@pytest.fixture(scope="module")
def checked(stem):
    """The checker's model of the spec file (one model per file)."""
    size = EVERY[stem][1]
    (source,) = read_models(str(EXAMPLES / f"{stem}.cnn"))
    return source.check(input_shape=(size, size, 3), num_classes=CLASSES)


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


def test_each_family_goes_into_the_notation_and_back_exactly(bench, keras_application):
    row = keras_application["row"]
    assert row.error is None, row.error
    assert row.checked == row.keras
    assert row.max_difference <= bench.TOLERANCE and row.feature_difference <= bench.TOLERANCE


def test_the_summary_reports_the_table(stem, summary):
    _, _, total, non_trainable = EVERY[stem]
    assert (summary["total_params"], summary["non_trainable_params"]) == (total, non_trainable)
    assert summary["output_shape"] == [None, CLASSES]
    assert {warning["message"].split(" (")[0] for warning in summary["warnings"]} <= WARNED.get(stem, set())


def test_keras_applications_reports_the_table(stem, keras_application, summary):
    _, _, total, non_trainable = EVERY[stem]
    theirs = keras_application["keras"]
    assert (theirs["total"], theirs["non_trainable"]) == (total, non_trainable)
    assert theirs["output_shape"] == tuple(summary["output_shape"])


def test_the_checker_has_keras_weight_bearing_layers(checked, keras_application):
    theirs = keras_application["keras"]
    ours = Counter((info.keras_class, info.output_shape, info.params) for info in checked.layers)
    assert +Counter({key: n for key, n in ours.items() if key[0] in WEIGHTED}) == theirs["weighted"]
    assert checked.total_params == theirs["total"]


def test_the_built_model_has_keras_weight_bearing_layers(keras_application):
    built, theirs = keras_application["built"], keras_application["keras"]
    assert built is not None, keras_application["row"].error
    assert built["weighted"] == theirs["weighted"]
    assert (built["total"], built["non_trainable"]) == (theirs["total"], theirs["non_trainable"])
    assert built["output_shape"] == theirs["output_shape"]


def test_the_built_model_has_keras_layer_classes(keras_application):
    """Every class Keras uses appears as often, read as the notation writes it.

    Keras's ReLU() and ReLU(6.0) are ACT(relu) and ACT(relu6), Activations. MobileNetV3's
    hard sigmoid, ``ReLU(6.0)(x + 3.0) * (1.0 / 6.0)``, is one ACT(hard_sigmoid): its ``+``
    and ``*`` are operations, not layers. ConvNeXt adds its residuals with ``inputs + x``,
    an operation, where ADD builds an Add layer; InceptionResNetV2's CustomScaleLayer is
    ADD(..., scale=s), which cnndsl builds as its ScaledAdd (an Add where s is 1).
    """
    built, keras_figures = keras_application["built"], keras_application["keras"]
    assert built is not None, keras_application["row"].error
    theirs, operations, ours = (
        Counter(keras_figures["classes"]),
        Counter(keras_figures["operations"]),
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

    size, spec = EVERY[stem][1], keras_application["row"].spec
    assert spec is not None, keras_application["row"].error
    read = cnndsl.check(as_written(spec), (size, size, 3), CLASSES)
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


def test_a_wrong_weight_shows_in_the_head_input(bench, monkeypatch):
    """The comparison can fail: one weight moved in the model cnndsl builds is caught."""
    import cnndsl

    real = cnndsl.compile_spec

    def off_by_a_little(*args, **kwargs):
        built = real(*args, **kwargs)
        original = built.set_weights
        built.set_weights = lambda weights: original([weights[0] + 0.01, *weights[1:]])
        return built

    monkeypatch.setattr(cnndsl, "compile_spec", off_by_a_little)
    row = bench.round_trip("MobileNetV3Small")
    assert row.error is None and row.checked == row.keras
    assert row.feature_difference > bench.TOLERANCE and not row.exact


def test_every_family_of_keras_applications_is_tested(bench):
    """A family is a module of keras.applications (vgg16 and vgg19 are one): a new one in Keras must
    join the table of examples/ (tests/golden_tables.py) with its file."""
    import keras

    def family(name: str) -> str:
        return getattr(keras.applications, name).__module__.rsplit(".", 1)[-1].rstrip("0123456789")

    written = {family(constructor) for constructor, *_ in EVERY.values()}
    assert {family(name) for name in bench.constructors()} - written == set()


def test_the_table_says_what_differs(bench):
    good = bench.Row("A", (10, 8, 2), (10, 8, 2), 0.0, 0.0)
    wrong = bench.Row("B", (10, 8, 2), (12, 10, 2), 0.0, 0.0)
    broken = bench.Row("C", (10, 8, 2), error="UnsupportedModel: layer 'x' (Foo) has no code in the notation")
    text = bench.table([good, wrong, broken])
    assert "1 of 3 exact" in text and "C: UnsupportedModel: layer 'x'" in text
    assert good.exact and not wrong.exact and not broken.exact
