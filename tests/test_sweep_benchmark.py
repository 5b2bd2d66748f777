"""The sweep benchmark's space: keras-tuner's version and the notation's are the same space.

Every candidate written with keras-tuner's hyperparameters is built by Keras exactly when
the checker accepts the same candidate written in the notation, with the same parameter
count; the space holds 384 candidates, of which 168 cannot be built.
"""

from __future__ import annotations

import itertools

import pytest
from helpers import ROOT, load_script

from cnndsl import SpecError, check
from cnndsl.search import Judge, census
from cnndsl.space import Space
from cnndsl.syntax import parse

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench():
    return load_script(ROOT / "benchmarks" / "sweep.py", "sweep_benchmark")


def test_the_space_holds_384_candidates_and_168_cannot_be_built(bench):
    result = census(Judge(Space(parse(bench.SPACE), bench.SPACE)))
    assert (result.total, result.accepted) == (384, 216)
    assert result.total == len(list(itertools.product(*bench.CHOICES.values())))


def test_keras_builds_a_candidate_exactly_when_the_checker_accepts_it(bench):
    pytest.importorskip("keras")
    combos = list(itertools.product(*bench.CHOICES.values()))
    for combo in combos[::7]:  # 55 of the 384, spread over the space (7 is prime to every choice size)
        values = dict(zip(bench.CHOICES, combo))
        try:
            expected = check(bench.notation(values)).total_params
        except SpecError:
            expected = None
        try:
            built = bench.keras_model(values).count_params()
        except ValueError:
            built = None
        assert built == expected, values


def test_the_cost_space_is_keras_tuners_grid_and_every_candidate_can_be_built(bench):
    pytest.importorskip("keras")
    grid = [{**bench.COST_FIXED, "f1": f1, "f2": f2} for f1 in bench.CHOICES["f1"] for f2 in bench.CHOICES["f2"]]
    written = census(Judge(Space(parse(bench.COST_SPACE), bench.COST_SPACE)))
    assert (written.total, written.accepted) == (len(grid), len(grid)) == (6, 6)
    params = [check(bench.notation(values)).total_params for values in grid]
    assert params == [bench.keras_model(values).count_params() for values in grid]
    assert len(set(params)) == 6  # the cost part pairs the two tools' trials by parameter count
