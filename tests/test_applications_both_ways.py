"""keras.applications into the notation and back, exact: one constructor per family.

``to_spec`` writes the model; ``check`` gives its total, trainable and non-trainable
counts; ``compile_spec`` takes its weights and computes its outputs within 1e-4. The same
:func:`round_trip` as ``benchmarks/applications.py``, which runs every constructor.
NASNetMobile is the family whose cells each read the two cells before them: it reads only
with named tensors (``as``/``@``).
"""

from __future__ import annotations

import pytest
from helpers import ROOT, load_script

pytestmark = pytest.mark.slow

pytest.importorskip("keras", reason="keras.applications needs the tensorflow extra")

FAMILIES = [
    "ConvNeXtTiny", "DenseNet121", "EfficientNetB0", "EfficientNetV2B0", "InceptionResNetV2", "InceptionV3",
    "MobileNet", "MobileNetV2", "MobileNetV3Small", "NASNetMobile", "ResNet50", "ResNet50V2", "VGG16", "Xception",
]  # fmt: skip
SMALLER = {"ConvNeXtTiny": 64, "VGG16": 64}
"""Families built for 64 x 64 images instead of 224 x 224, where the size is most of the time
(VGG16's flattening head is 12 times smaller): the same layers, the last feature map 2 x 2,
so that the spatial order stays tested. The benchmark runs every constructor at its default size."""
NOT_YET: set[str] = set()
"""Families the notation does not write yet."""


@pytest.fixture(scope="module")
def bench():
    return load_script(ROOT / "benchmarks" / "applications.py", "applications_benchmark")


@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_goes_into_the_notation_and_back_exactly(bench, name):
    row = bench.round_trip(name, size=SMALLER.get(name))
    assert row.error is None, row.error
    assert row.checked == row.keras
    assert row.max_difference <= bench.TOLERANCE and row.feature_difference <= bench.TOLERANCE


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
    """A family is a module of keras.applications (vgg16 and vgg19 are one): a new one in Keras must join the list."""
    import keras

    def family(name: str) -> str:
        return getattr(keras.applications, name).__module__.rsplit(".", 1)[-1].rstrip("0123456789")

    assert {family(name) for name in bench.constructors()} - {family(name) for name in FAMILIES} == NOT_YET


def test_the_table_says_what_differs(bench):
    good = bench.Row("A", (10, 8, 2), (10, 8, 2), 0.0, 0.0)
    wrong = bench.Row("B", (10, 8, 2), (12, 10, 2), 0.0, 0.0)
    broken = bench.Row("C", (10, 8, 2), error="UnsupportedModel: layer 'x' (Foo) has no code in the notation")
    text = bench.table([good, wrong, broken])
    assert "1 of 3 exact" in text and "C: UnsupportedModel: layer 'x'" in text
    assert good.exact and not wrong.exact and not broken.exact
