"""examples/resnet_mnist.cnn: a ResNet-20-style network that ``cnndsl run`` trains on digits of the sample."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from helpers import EXAMPLES, run_cli

from cnndsl.inputs import read_models

pytestmark = pytest.mark.slow

SPEC = EXAMPLES / "resnet_mnist.cnn"


def checked():
    (source,) = read_models(str(SPEC))
    return source.check()


def test_it_is_a_resnet_20_under_300k_parameters():
    model = checked()
    convs = Counter(info.layer.args["kernel"] for info in model.layers if info.code == "CN")
    assert convs == {(3, 3): 19, (1, 1): 2}  # 19 3x3 convolutions + the dense head = 20; two projections
    assert sum(info.code == "ADD" for info in model.layers) == 9
    assert sum(info.code == "BN" for info in model.layers) == 21  # one after every convolution
    assert model.is_graph and model.total_params < 300_000
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)


def test_the_benchmarks_row_holds_its_parameter_count():
    from docs_pages import page

    rows = [line for line in page("docs/benchmarks.md").splitlines() if line.startswith("| resnet_mnist |")]
    assert len(rows) == 1 and rows[0].split(" | ")[1] == f"{checked().total_params:,}"


def test_cnndsl_run_trains_it(tmp_path, digits):
    output = tmp_path / "run"
    flags = ["--data", str(digits), "--epochs", "1", "--seed", "0", "--output", str(output)]  # 256 digits
    result = run_cli("run", str(SPEC), *flags, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["total_params"] == checked().total_params
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["epochs"] == 1
