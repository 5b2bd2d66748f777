"""The sweep benchmark's space: keras-tuner's version and the notation's are the same space.

Every candidate written with keras-tuner's hyperparameters is built by Keras exactly when
the checker accepts the same candidate written in the notation, with the same parameter
count; the space holds 384 candidates, of which 168 cannot be built.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

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


def run(best: float | None, seconds: float = 3.0, failures=()) -> dict:
    """One search's result as a child process reports it."""
    return {"trained": 4, "best": best, "error": None, "failures": list(failures), "trial_seconds": [seconds] * 4,
            "search_seconds": 60.0}  # fmt: skip


def test_the_targets_compare_the_declared_default_alone_against_each_keras_tuner_search(bench):
    results = {name: [run(0.9), run(0.9)] for name in bench.SEARCHES}  # every other variant above keras-tuner
    results[bench.DECLARED] = [run(0.5, seconds=2.0), run(0.7, seconds=2.0)]
    results["keras-tuner RandomSearch"] = [run(0.55), run(0.65)]
    results["keras-tuner BayesianOptimization"] = [run(0.4), run(0.8, failures=["other: ImportError"])]
    lines = bench.verdicts(results)
    assert len(lines) == 4 and all(bench.DECLARED not in line for line in lines)
    assert lines[0].startswith("target (the default's median best above keras-tuner RandomSearch): NOT held")
    assert "(0.6000 against 0.6000; above it in 1 of 2 seeds)" in lines[0]
    assert lines[1].endswith("held (median 2.00 s against 3.00 s, ratio 0.67)")
    assert "BayesianOptimization): held (0.6000 against 0.4000; above it in 1 of 1 seeds)" in lines[2]  # one valid run
    table = bench.budget_table(results, SimpleNamespace(seeds=2, budget=60, epochs=2, limit=512)).splitlines()
    assert len(table) == 2 + len(bench.SEARCHES)  # a row of its own for every variant
    assert table[2].startswith(f"| {bench.DECLARED} | 0.6000 (0.5000-0.7000) |") and table[2].endswith(
        "| 0.5000, 0.7000 |"
    )
    assert "INVALID RUN: other: ImportError" in table[-1] and table[-1].endswith("| 0.4000, - |")


def test_the_order_of_the_searches_gives_each_every_position_and_pairs_of_seeds_the_same_mean():
    bench = load_script(ROOT / "benchmarks" / "sweep.py", "sweep_benchmark_order")
    count = len(bench.SEARCHES)
    positions = {name: [] for name in bench.SEARCHES}
    for seed in range(2 * count):
        assert sorted(bench.order(seed)) == sorted(bench.SEARCHES)
        for position, name in enumerate(bench.order(seed)):
            positions[name].append(position)
    for taken in positions.values():
        assert sorted(taken) == sorted(list(range(count)) * 2)
        assert all(taken[i] + taken[i + 1] == count - 1 for i in range(0, len(taken), 2))  # each pair: the middle


def test_the_proposals_part_scores_by_its_stand_in_and_never_trains(bench, monkeypatch):
    from cnndsl.training import api

    def trained(*args, **kwargs):
        raise AssertionError("the proposals part trained a model")

    monkeypatch.setattr(api, "train", trained)
    counts = bench.proposals(1, 11)
    assert set(counts) == {f"{sampler}-{constraints}" for sampler, constraints in bench.VARIANTS.values()}
    assert counts["tpe-True"][0] < counts["random-True"][0]  # the start proposes no refused candidate


def test_the_landscape_part_trains_only_what_is_missing_and_simulates_orders_of_training(bench, tmp_path, capsys):
    import json
    import math

    rows = []
    for combo in itertools.product(*bench.CHOICES.values()):
        values = dict(zip(bench.CHOICES, combo))
        try:
            model = check(bench.notation(values))
        except SpecError:
            continue
        for seed in (0, 1):  # scores rise with cost, and so does the time
            rows.append({**values, "seed": seed, "acc": math.log(model.total_macs) / 20, "s": model.total_macs / 1e7,
                         "params": model.total_params, "macs": model.total_macs})  # fmt: skip
    assert len(rows) == 2 * 216
    missing = rows.pop(5)
    path = tmp_path / "landscape.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    asked = []

    def trained(values, seed, args):
        asked.append((values, seed))
        return {"acc": missing["acc"], "s": missing["s"]}

    bench_trained, bench.trained = bench.trained, trained
    try:
        args = SimpleNamespace(landscape=str(path), repeats=2, budget=60, epochs=2, limit=512)
        bench.landscape_part(args)
    finally:
        bench.trained = bench_trained
    assert asked == [({name: missing[name] for name in bench.CHOICES}, missing["seed"])]
    assert len(path.read_text().splitlines()) == 2 * 216  # the missing run written, nothing else
    printed = capsys.readouterr().out
    means = {line.split(" | ")[0][2:]: float(line.split(" | ")[1]) for line in printed.splitlines()
             if line.startswith(("| random order", "| cheapest first", "| dearest first"))}  # fmt: skip
    assert means["cheapest first"] < means["random order"] < means["dearest first"]
    quartiles = [float(line.split(" | ")[1]) for line in printed.splitlines() if line.startswith("| MACs quartile")]
    assert len(quartiles) == 4 and quartiles == sorted(quartiles)


def test_the_retrained_table_scores_each_search_by_the_candidate_it_chose(bench):
    chosen = [
        dict(zip(bench.CHOICES, combo)) for combo in itertools.islice(itertools.product(*bench.CHOICES.values()), 3)
    ]
    results = {name: [] for name in bench.SEARCHES if name == bench.DECLARED or "keras-tuner" in name}
    for seed in range(2):
        results[bench.DECLARED].append({**run(0.3), "chosen": chosen[0]})
        results["keras-tuner RandomSearch"].append({**run(0.9), "chosen": chosen[1 + seed]})
        results["keras-tuner BayesianOptimization"].append({**run(0.9, failures=["other: x"]), "chosen": chosen[2]})
    means = {bench.notation(chosen[0]): 0.6, bench.notation(chosen[1]): 0.5, bench.notation(chosen[2]): 0.7}
    lines = bench.retrain_table(results, means, SimpleNamespace(retrain=3))
    assert lines[2].startswith(f"| {bench.DECLARED} | 0.6000 (0.6000-0.6000) | 0.6000, 0.6000 |")
    assert lines[3].endswith("| 0.6000 (0.5000-0.7000) | 0.5000, 0.7000 |")
    assert lines[4].endswith("| - | -, - |")  # invalid runs are not scored
    assert lines[5].startswith(
        "target (the default's chosen candidates retrain above keras-tuner RandomSearch's): NOT held"
    )
    assert "(0.6000 against 0.6000; above it in 1 of 2 seeds)" in lines[5]
    assert lines[6].endswith("BayesianOptimization's): NOT measured")


def test_a_cnndsl_row_is_mapped_back_to_keras_tuners_values(bench):
    from cnndsl.report import architecture_hash

    values = dict(zip(bench.CHOICES, (38, 7, 20, 5, 38, 5, 1, 128)))
    assert bench.values_of(architecture_hash(check(bench.notation(values)))) == values
    with pytest.raises(LookupError):
        bench.values_of("0" * 12)
