"""The keras.applications families written in the notation are the same models as Keras's own.

For each of ``examples/{vgg16,resnet50,mobilenet_v2,densenet121,inception_v3,xception}.cnn``:
``cnndsl summary --json`` reports the figures of the README's table, and so does
``keras.applications.X(weights=None)`` built live; and the model cnndsl builds from the
file (and the checker's own layer table) has, weight-bearing layer by weight-bearing
layer, the same multiset of (Keras class, output shape, parameters) as Keras's model.
Each Keras model is built once, reduced to these figures, and let go.
"""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
from conftest import EXAMPLES, ROOT, run_cli

from cnndsl.inputs import read_models

CLASSES = 1000
# file stem: (keras.applications constructor, input size, total parameters, non-trainable)
GOLDENS = {
    "vgg16": ("VGG16", 224, 138_357_544, 0),
    "resnet50": ("ResNet50", 224, 25_636_712, 53_120),
    "mobilenet_v2": ("MobileNetV2", 224, 3_538_984, 34_112),
    "densenet121": ("DenseNet121", 224, 8_062_504, 83_648),
    "inception_v3": ("InceptionV3", 299, 23_851_784, 34_432),
    "xception": ("Xception", 299, 22_910_480, 54_528),
}
WEIGHTED = {"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "BatchNormalization", "Dense"}


def figures(model) -> dict:
    """A built Keras model's totals, output shape and weight-bearing layers, as plain values."""
    return {
        "total": model.count_params(),
        "non_trainable": sum(math.prod(weight.shape) for weight in model.non_trainable_weights),
        "output_shape": tuple(model.output_shape),
        "weighted": Counter(
            (type(layer).__name__, tuple(layer.output.shape), layer.count_params())
            for layer in model.layers
            if type(layer).__name__ in WEIGHTED
        ),
        "classes": Counter(type(layer).__name__ for layer in model.layers if type(layer).__name__ != "InputLayer"),
    }


@pytest.fixture(scope="module", params=list(GOLDENS))
def stem(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def keras_application(stem) -> dict:
    """``keras.applications.X(weights=None)``, built live and reduced to its figures."""
    import keras

    model = getattr(keras.applications, GOLDENS[stem][0])(weights=None)
    result = figures(model)
    del model
    keras.backend.clear_session()
    return result


@pytest.fixture(scope="module")
def checked(stem):
    """The checker's model of the spec file (one model per file)."""
    size = GOLDENS[stem][1]
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
    size = GOLDENS[stem][1]
    result = run_cli(
        "summary", "--json", "--input-shape", f"{size},{size},3", "--classes", str(CLASSES),
        f"examples/{stem}.cnn", cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_the_summary_reports_the_table(stem, summary):
    _, _, total, non_trainable = GOLDENS[stem]
    assert (summary["total_params"], summary["non_trainable_params"]) == (total, non_trainable)
    assert summary["output_shape"] == [None, CLASSES]
    assert summary["warnings"] == []


def test_keras_applications_reports_the_table(stem, keras_application, summary):
    _, _, total, non_trainable = GOLDENS[stem]
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
    """Every class Keras uses appears as often (Keras's ReLU(6.0) is written ACT(relu6), an Activation)."""
    theirs, ours = keras_application["classes"], built["classes"]
    relu6 = theirs.pop("ReLU", 0)
    ours["Activation"] -= relu6
    assert +ours == +theirs


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("### keras.applications in the notation")
    return text[start : text.index("\n## ", start)]


def test_the_readme_table_is_what_the_summary_reports(stem, summary):
    constructor, size, _, _ = GOLDENS[stem]
    row = (
        f"| {constructor} | `examples/{stem}.cnn` | {size}x{size}x3 "
        f"| {summary['total_params']:,} | {summary['non_trainable_params']:,} |"
    )
    assert row in readme_section().splitlines()


def test_the_readme_excerpt_is_resnet50_as_written():
    excerpt = readme_section().split("```\n")[1]
    assert excerpt.startswith("block conv3_first = ADD(") and "ID()" in excerpt
    assert excerpt in (EXAMPLES / "resnet50.cnn").read_text()


def test_the_files_are_in_the_canonical_layout():
    files = [f"examples/{stem}.cnn" for stem in GOLDENS] + ["examples/resnet_mnist.cnn"]
    result = run_cli("fmt", "--check", *files, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
