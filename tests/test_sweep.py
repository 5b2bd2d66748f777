"""``cnndsl sweep``: what is trained, what never is, storage URLs and their passwords.

In-process tests replace training (``cnndsl.training.api.train``) with a recorder (and the
storage with Optuna's in-memory one) to hold the sweep's choices without TensorFlow; the others train real
tiny models on the bundled sample, in process or as ``cnndsl sweep`` processes.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import later_claim_yields, run_cli, wait_until
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_strategies import spaces

import cnndsl
from cnndsl import check, sweeps
from cnndsl.budgets import check_budgets
from cnndsl.report import architecture_hash
from cnndsl.settings import Settings
from cnndsl.space import Space
from cnndsl.syntax import parse
from cnndsl.tasks import CLASSIFY
from cnndsl.training import api as training_api

optuna = pytest.importorskip("optuna")

pytestmark = pytest.mark.slow

SECRET = "s3cret-Pw"
TINY = ["--data", "sample", "--limit", "256", "--epochs", "1", "--batch-size", "128"]


class Recorder:
    """Stands in for training a trial's checked model: records each spec and scores it by its size."""

    def __init__(self):
        self.specs: list[str] = []

    def __call__(self, model, data="mnist", *, output=None, verbose=0, **recipe):
        self.specs.append(model.source)
        score = 1 / (1 + check(model.source).total_params % 97)
        history = [{"epoch": 1, "val_accuracy": score, "val_loss": 1 - score}]
        return SimpleNamespace(metrics={"test_accuracy": score, "seconds_per_epoch": 0.01}, history=history,
                               directory=Path(output))  # fmt: skip


@pytest.fixture
def in_memory(monkeypatch):
    return fakes(monkeypatch)


def fakes(monkeypatch) -> Recorder:
    """A recorder for train and Optuna's in-memory storage; returns the recorder."""
    recorder = Recorder()
    monkeypatch.setattr(training_api, "train", recorder)
    storage = optuna.storages.InMemoryStorage()
    monkeypatch.setattr(sweeps.storages, "open_storage", lambda url, **_: storage)
    return recorder


def quiet(line: str) -> None:
    pass


# --- what is trained ----------------------------------------------------------------------


@settings(max_examples=25)
@given(spaces(), st.sampled_from(["random", "tpe", "grid"]), st.sampled_from([None, 2_000, 20_000]))
def test_every_candidate_a_sweep_trains_passes_the_checker_and_the_budget(text, sampler, budget):
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as folder:
        recorder = fakes(patch)
        limits = Settings(max_params=budget)
        rows = cnndsl.sweeps.sweep(text, "sample", trials=4, sampler=sampler, output=folder, settings=limits,
                                   echo=quiet, epochs=1, seed=0)  # fmt: skip
    hashes = []
    for spec in recorder.specs:
        model = check(spec)
        assert not check_budgets(model, limits), spec
        hashes.append(architecture_hash(model))
    assert len(set(hashes)) == len(hashes) == len(rows) <= 4


def test_a_candidate_draws_its_own_seed_from_the_sweeps_seed_and_its_hash():
    seeds = {sweeps.trial_seed(seed, digest) for seed in (0, 1) for digest in ("ab12cd34", "ab12cd35")}
    assert len(seeds) == 4 and all(0 <= seed < 2**31 for seed in seeds)
    assert sweeps.trial_seed(0, "ab12cd34") == sweeps.trial_seed(0, "ab12cd34")
    assert sweeps.trial_seed(None, "ab12cd34") is None  # an unseeded sweep stays unseeded


@pytest.mark.parametrize("seed", [0, None])
def test_each_trial_trains_with_its_candidates_seed_and_the_board_shows_it(tmp_path, monkeypatch, seed):
    recipes: list[dict] = []
    recorder = fakes(monkeypatch)
    monkeypatch.setattr(
        training_api, "train", lambda model, data, **kw: recipes.append(kw) or recorder(model, data, **kw)
    )
    rows = sweeps.sweep("CN({4, 8, 16}, 3)->FL()", "sample", trials=3, sampler="grid", output=tmp_path, echo=quiet,
                        epochs=1, seed=seed)  # fmt: skip
    assert len(rows) == len(recipes) == 3
    by_hash = {architecture_hash(check(spec)): recipe["seed"] for spec, recipe in zip(recorder.specs, recipes)}
    assert {row["hash"]: row["seed"] for row in rows} == by_hash
    assert all(row["seed"] == sweeps.trial_seed(seed, row["hash"]) for row in rows)
    assert len(set(by_hash.values())) == (3 if seed is not None else 1)
    table = (tmp_path / "sweep.md").read_text()
    shown = [line.split("|")[10].strip() for line in table.splitlines() if line.startswith("| 1 ")]
    assert shown == ["" if seed is None else str(rows[0]["seed"])]
    assert (tmp_path / "sweep.csv").read_text().splitlines()[0].split(",")[-3:] == ["seed", "pareto", "directory"]


def test_a_trial_is_trained_again_by_train_with_the_seed_on_the_board(tmp_path):
    pytest.importorskip("keras", reason="training needs the tensorflow extra")
    recipe = {"limit": 256, "epochs": 1, "batch_size": 64, "validation_split": "test"}
    rows = cnndsl.sweep("CN({4, 8}, 3)->MP(2)->FL()", "sample", trials=2, sampler="grid", output=tmp_path / "s",
                        echo=quiet, seed=0, **recipe)  # fmt: skip
    assert len(rows) == 2 and rows[0]["seed"] != rows[1]["seed"]
    for row in rows:
        again = cnndsl.train(row["candidate"], data="sample", seed=row["seed"], save=False, **recipe)
        assert again.history[-1]["val_accuracy"] == pytest.approx(row["val_accuracy"], abs=1e-6), row


def test_duplicates_are_trained_once_and_a_space_runs_out(in_memory, tmp_path):
    rows = sweeps.sweep("CN(8, {3, (3, 3), (3,3)})->FL()", "sample", trials=5, sampler="random", output=tmp_path,
                        echo=quiet, epochs=1)  # fmt: skip
    assert len(in_memory.specs) == len(rows) == 1


def test_rejected_candidates_are_told_as_pruned_and_not_counted(in_memory, tmp_path):
    text = "CN({8,150},(5,5))->MP(2)->CN({4,8},(5,5))*{1..3}->FL()"
    rows = sweeps.sweep(text, "sample", trials=3, sampler="tpe", output=tmp_path, echo=quiet, epochs=1, seed=1,
                        study="t")  # fmt: skip
    assert len(rows) == 3 and len(in_memory.specs) == 3
    study = optuna.load_study(study_name="t", storage=sweeps.storages.open_storage(None))
    kinds = [t.user_attrs.get("kind") for t in study.trials]
    assert kinds.count("trained") == 3
    for trial in study.trials:
        if trial.user_attrs.get("kind") == "rejected":
            assert trial.state == optuna.trial.TrialState.PRUNED and trial.user_attrs["error"]["at"]
    scores = [row["val_accuracy"] for row in rows]
    assert scores == sorted(scores, reverse=True)  # best first
    markdown = (tmp_path / "sweep.md").read_text()
    assert markdown.count("`CN(") == 3 and (tmp_path / "sweep.png").stat().st_size > 0


def test_a_sweep_stops_after_a_run_of_proposals_it_cannot_train(in_memory, tmp_path, monkeypatch):
    monkeypatch.setattr(sweeps.claims, "MAX_MISSES", 7)
    lines: list[str] = []
    rows = sweeps.sweep("CN({1..200000}, 30)->FL()", "sample", trials=3, sampler="random", output=tmp_path,
                        echo=lines.append, epochs=1)  # fmt: skip
    assert rows == [] and not in_memory.specs
    assert "stopped: 7 proposals in a row were rejected or already trained" in lines
    assert any("an estimate from 1,000 candidates drawn at random" in line for line in lines)


def test_no_rejected_or_over_budget_candidate_reaches_keras(monkeypatch, tmp_path):
    import cnndsl.backends.keras as backend

    built, real = [], backend.build
    monkeypatch.setattr(backend, "build", lambda model: built.append(model) or real(model))
    text = "CN({8,150},(5,5))->MP(2)->CN({4,16},(5,5))*{1..3}->FL()"
    limits = Settings(max_params=30_000)
    rows = sweeps.sweep(text, "sample", trials=2, sampler="random", output=tmp_path, settings=limits, echo=quiet,
                        epochs=1, limit=256, seed=0)  # fmt: skip
    assert len(built) == len(rows) == 2
    for model in built:
        assert model.total_params <= 30_000 and not check_budgets(model, limits)
    assert {architecture_hash(model) for model in built} == {row["hash"] for row in rows}


# --- TPE's start, weighed by cost -------------------------------------------------------------

BENCH_SPACE = (
    "CN({20,38,72}, {5,7}) -> CN({20,38}, {5,7}) -> MP(2,2) -> CN({20,38}, {5,7}) * {1..2} -> MP(2,2)"
    " -> DP(0.25) -> FL() -> DN({64,128}) -> DP(0.5) -> DN(10)"
)
"""The sweep benchmark's space: 384 candidates, 216 accepted, whose MACs span more than ten to one."""


@settings(max_examples=40)
@given(spaces())
def test_a_candidates_choices_are_the_decisions_that_pick_it(text):
    space = Space(parse(text), text)
    for index in range(min(space.count, 200)):
        picks = space.choices(index)
        assert space.index_of(lambda key, node, labels, picks=picks: picks.pop(key)) == index
        assert not picks  # every decision was asked for, and none other


def test_the_choices_of_alternatives_ranges_and_repeats_pick_their_candidate():
    text = "{CN({4,8}) -> BN() | MP({2,3}) -> CN(4, {1..3})} -> CN(8) * {1..2} -> FL()"
    space = Space(parse(text), text)
    assert space.count == (2 + 2 * 3) * 2
    for index in range(space.count):
        assert space.index_of(lambda key, node, labels, i=index: space.choices(i)[key]) == index
    assert len({tuple(space.choices(i).items()) for i in range(space.count)}) == space.count


class Tied(Recorder):
    """Every candidate scores alike: what TPE proposes first is then the start alone."""

    def __call__(self, model, data="mnist", *, output=None, verbose=0, **recipe):
        self.specs.append(model.source)
        history = [{"epoch": 1, "val_accuracy": 0.5, "val_loss": 0.5}]
        return SimpleNamespace(metrics={"test_accuracy": 0.5, "seconds_per_epoch": 0.01}, history=history,
                               directory=Path(output))  # fmt: skip


class ByCost(Recorder):
    """Scores a candidate by the log of its MACs, rising or falling: what cost buys, without noise."""

    def __init__(self, rising: bool):
        super().__init__()
        self.rising = rising

    def __call__(self, model, data="mnist", *, output=None, verbose=0, **recipe):
        self.specs.append(model.source)
        size = math.log(check(model.source).total_macs) / 20
        score = size if self.rising else 1 - size
        history = [{"epoch": 1, "val_accuracy": score, "val_loss": 1 - score}]
        return SimpleNamespace(metrics={"test_accuracy": score, "seconds_per_epoch": 0.01}, history=history,
                               directory=Path(output))  # fmt: skip


def tpe_start(tmp_path, trials: int, seed: int, recorder: Recorder, **options) -> list[str]:
    """The specs a TPE sweep of the benchmark's space trains, in order, scored by ``recorder``."""
    with pytest.MonkeyPatch.context() as patch:
        fakes(patch)
        patch.setattr(training_api, "train", recorder)
        sweeps.sweep(BENCH_SPACE, "sample", trials=trials, sampler="tpe", output=tmp_path / f"s{seed}-{trials}",
                     echo=quiet, epochs=1, seed=seed, **options)  # fmt: skip
    return recorder.specs


def cost_of(spec: str) -> tuple[int, int]:
    model = check(spec)
    return (model.total_macs, model.total_params)


def bench_costs() -> list[tuple[int, int]]:
    from cnndsl.search import Judge, census

    found = census(Judge(Space(parse(BENCH_SPACE), BENCH_SPACE), (28, 28, 1), 10))
    return sorted(sweeps.start.cost(*cost) for cost in found.costs.values())


@pytest.mark.parametrize(
    ("objective", "rising", "dearer"),
    [
        ("val_accuracy", True, True),
        ("val_accuracy", False, False),
        ("val_loss", True, True),
        ("val_loss", False, False),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_a_tpe_sweep_starts_across_the_costs_then_goes_where_cost_pays(tmp_path, seed, objective, rising, dearer):
    costs = bench_costs()
    thirds = [costs[len(costs) * band // 3] for band in (1, 2)]
    median = costs[(len(costs) - 1) // 2]
    specs = tpe_start(tmp_path, 12, seed, ByCost(rising), objective=objective)
    first = specs[: sweeps.start.STARTUP]
    assert len(specs) == 12 and len(set(first)) == len(first) == 10
    spread = [cost_of(spec) for spec in first[: sweeps.start.SPREAD]]
    assert spread[0] < thirds[0] <= spread[1] < thirds[1] <= spread[2], spread  # one from each third, cheapest first
    learnt = [cost_of(spec) for spec in first[sweeps.start.SPREAD :]]
    assert all((cost > median) == dearer for cost in learnt), (median, learnt)
    again = tpe_start(tmp_path / "again", 12, seed, ByCost(rising), objective=objective)
    assert again[: sweeps.start.STARTUP] == first  # the same seed and scores, the same start


def test_where_cost_buys_nothing_the_start_keeps_to_the_cheaper_candidates(tmp_path):
    costs = bench_costs()
    median = costs[(len(costs) - 1) // 2]
    specs = tpe_start(tmp_path, 11, 0, Tied())
    learnt = [cost_of(spec) for spec in specs[sweeps.start.SPREAD : sweeps.start.STARTUP]]
    assert sum(cost <= median for cost in learnt) > len(learnt) / 2, (median, learnt)  # the price of cost


def test_the_drawn_slope_follows_the_data_and_the_prior():
    import random
    import statistics

    from cnndsl.sweeps.start import SLOPE_PRIOR, _drawn_slope

    rng = random.Random(0)
    xs = [x / 10 for x in range(-20, 21)]
    draws = [_drawn_slope(xs, [0.8 * x for x in xs], rng) for _ in range(2_000)]
    assert 0.7 < statistics.fmean(draws) < 0.8  # the data's slope, shrunk a little towards the prior's 0
    flat = [_drawn_slope([0.0, 0.0], [1.0, -1.0], rng) for _ in range(4_000)]  # no spread in x: the prior alone
    assert abs(statistics.fmean(flat)) < 0.03 and abs(statistics.pstdev(flat) - SLOPE_PRIOR) < 0.03


def test_random_sampling_short_tpe_sweeps_and_a_study_tpe_already_proposed_in_start_as_optuna_does(
    monkeypatch, tmp_path
):
    from cnndsl.sweeps.plan import make_plan

    plans = {
        (sampler, trials): make_plan(
            BENCH_SPACE, "sample", trials, sampler, None, None, None, tmp_path, None, None, {"seed": 0}
        )  # fmt: skip
        for sampler, trials in (("tpe", 11), ("tpe", 10), ("random", 50), ("grid", 50))
    }
    assert [sweeps.start.used(plan) for plan in plans.values()] == [True, False, False, False]
    fakes(monkeypatch)
    options = {"sampler": "tpe", "output": tmp_path / "s", "echo": quiet, "epochs": 1, "seed": 0, "study": "s"}
    sweeps.sweep(BENCH_SPACE, "sample", trials=4, **options)
    sweeps.sweep(BENCH_SPACE, "sample", trials=14, **options)  # resumed: TPE proposed its first four
    trials = optuna.load_study(study_name="s", storage=sweeps.storages.open_storage(None)).trials
    assert len([t for t in trials if t.user_attrs.get("kind") == "trained"]) == 14
    assert not any("start" in t.user_attrs for t in trials)


# --- storage URLs and passwords ------------------------------------------------------------


def test_a_password_is_taken_from_the_environment_and_always_masked():
    url = sweeps.storage_url("postgresql://alice@db.example:5432/optuna", {"CNNDSL_STORAGE_PASSWORD": "p@ss:w/rd"})
    assert url.url == "postgresql://alice:p%40ss%3Aw%2Frd@db.example:5432/optuna"
    assert url.masked == "postgresql://alice:***@db.example:5432/optuna"
    assert url.scrub("failed for p@ss:w/rd and p%40ss%3Aw%2Frd") == "failed for *** and ***"
    written = sweeps.storage_url(f"mysql://bob:{SECRET}@host/db", {"CNNDSL_STORAGE_PASSWORD": "other"})
    assert written.password == SECRET and written.masked == "mysql://bob:***@host/db"


def test_the_password_is_in_nothing_a_sweep_prints_or_writes(in_memory, tmp_path):
    lines: list[str] = []
    url = f"postgresql://alice:{SECRET}@db.example/optuna"
    sweeps.sweep("CN({4,8})->FL()", "sample", trials=2, sampler="random", storage=url, output=tmp_path,
                 echo=lines.append, epochs=1)  # fmt: skip
    assert any("postgresql://alice:***@db.example/optuna" in line for line in lines)
    assert "postgresql://alice:***@db.example/optuna" in (tmp_path / "sweep.md").read_text()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert not any(SECRET in line for line in lines)


def test_optunas_log_lines_pass_through_the_mask():
    import logging

    url = sweeps.storage_url(f"postgresql://alice:{SECRET}@db/optuna")
    record = logging.LogRecord("optuna", logging.WARNING, __file__, 1, "lost %s", (url.url,), None)
    assert sweeps._Scrubber(url).filter(record) and record.getMessage() == "lost postgresql://alice:***@db/optuna"


@pytest.mark.parametrize(
    ("storage", "env"),
    [
        (f"postgresql+pg8000://alice:{SECRET}@127.0.0.1:1/optuna", {}),
        ("postgresql+pg8000://alice@127.0.0.1:1/optuna", {"CNNDSL_STORAGE_PASSWORD": SECRET}),
        (f"postgresql://alice:{SECRET}@127.0.0.1:1/optuna", {}),
        ("nonsense", {}),
    ],
)
def test_a_bad_storage_url_is_one_line_without_the_password(storage, env, tmp_path):
    out = tmp_path / "sweep"
    result = run_cli("sweep", "CN({4,8})->FL()", "--storage", storage, "--output", str(out), *TINY, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("cnndsl: error: --storage ")
    assert SECRET not in result.stderr + result.stdout and "Traceback" not in result.stderr
    assert not out.exists()


# --- bad spaces ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("space", "where"),
    [("CN({})->FL()", "<spec>:1:5:"), ("CN({32..})->FL()", "<spec>:1:9:"), ("CN({3..1})->FL()", "<spec>:1:4:"),
     ("CN({32, relu})->FL()", "<spec>:1:9:")],
)  # fmt: skip
def test_a_bad_space_is_a_located_error_before_anything_trains(space, where, tmp_path):
    result = run_cli("sweep", space, "--output", str(tmp_path / "s"), *TINY)
    assert result.returncode == 1 and result.stderr.startswith(where), result.stderr
    assert not (tmp_path / "s").exists()


def test_check_counts_a_space_and_its_accepted_candidates(tmp_path):
    result = run_cli("check", "CN({8,150},(5,5))->MP(2)->CN({4,8},(5,5))*{1..3}->FL()")
    assert result.returncode == 0, result.stderr
    assert "a search space of 12 candidates; the checker accepts 8" in result.stdout  # not 3 of CN(..,(5,5))
    assert "4 of 12 candidates cannot be built" in result.stdout and "<spec>:1:27:" in result.stdout
    example = "CN({32,64}, {3,5}) -> MP(2) -> CN({64,150}, 5) * {1..3} -> {GAP() | FL() -> DN({64,128})}"
    result = run_cli("check", example)
    assert result.returncode == 0 and result.stdout.splitlines()[:3] == [
        "<spec>: a search space of 72 candidates; the checker accepts 60",
        "12 of 72 candidates cannot be built or are over budget:",
        "  12 x <spec>:1:32: rejected: CN({64,150}, 5): kernel 5x5 needs an input of at least 5x5, "
        "but this layer gets 4x4",
    ]
    assert run_cli("check", "CN({32, relu})->FL()").returncode == 1
    refused = run_cli("summary", example)
    assert refused.returncode == 1 and "braces make this spec a search space, not one model" in refused.stderr
    huge = "->".join(["CN({1..1000000}, 1, padding=same)"] * 5) + "->FL()"
    result = run_cli("check", huge)
    assert result.returncode == 0 and "1,000,000,000,000,000,000,000,000,000,000 candidates" in result.stdout
    assert "an estimate from 1,000 candidates drawn at random" in result.stdout
    path = tmp_path / "nets.cnn"
    path.write_text("block stem = CN({8,16}, 3)\nnet = stem -> {MP(2) | ID_NOT_A_BLOCK} -> FL()\nplain = CN(8)->FL()\n")
    result = run_cli("check", str(path))
    assert result.returncode == 1 and "unknown name 'ID_NOT_A_BLOCK'" in result.stderr
    assert "nets.cnn:net: a search space of 4 candidates; the checker accepts 2" in result.stdout
    assert "nets.cnn:plain: OK" in result.stdout


# --- processes: two workers, Ctrl-C and resume -----------------------------------------------

SPACE = "CN({4,8}, 3)->MP({2,9})->FL()"


def _trained(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("trial-*") if (p / "metrics.json").exists())


def _training(folder: Path) -> list[Path]:
    """Trial directories whose training has begun (history written) but not finished."""
    return [p for p in folder.glob("trial-*") if (p / "history.csv").exists() and not (p / "metrics.json").exists()]


def _rows(folder: Path) -> int:
    """Trained trials in the leaderboard (sweep.csv is written after each trial is told)."""
    path = folder / "sweep.csv"
    return path.read_text().count("\n") - 1 if path.exists() else 0


def _start(args: list[str], folder: Path, name: str):
    out = open(folder / f"{name}.out", "w+")  # noqa: SIM115 - closed by the caller
    process = subprocess.Popen([sys.executable, "-m", "cnndsl", "sweep", *args], stdout=out, stderr=subprocess.STDOUT)
    return process, out


def test_a_claim_waits_for_a_trial_asked_before_it_and_yields_to_its_claim(tmp_path):
    """Worker B's trial was asked after A's, but B claims the candidate while A is still judging
    it: B must wait for A to say what it is, and leave the candidate to A."""
    later_claim_yields(tmp_path)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_processes_finish_one_study_together_training_each_candidate_once(kind, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}" if kind == "sqlite" else f"journal:{tmp_path / 'shared.log'}"
    args = [SPACE, "--trials", "4", "--sampler", "random", "--storage", storage, "--study", "shared", *TINY]
    workers = [_start([*args, "--output", str(tmp_path / f"w{n}")], tmp_path, f"w{n}") for n in (1, 2)]
    for process, out in workers:
        assert process.wait(timeout=400) == 0, (out.seek(0), out.read())[1]
        out.close()
    dirs = _trained(tmp_path / "w1") + _trained(tmp_path / "w2")
    hashes = [path.name.rsplit("-", 1)[1] for path in dirs]
    assert len(hashes) == len(set(hashes)) == 4
    study = optuna.load_study(study_name="shared", storage=sweeps.open_storage(sweeps.storage_url(storage)))
    done = [t for t in study.trials if t.user_attrs.get("kind") == "trained"]
    assert len(done) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in done)


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes_without_retraining(tmp_path):
    folder = tmp_path / "sweep"
    args = [SPACE, "--trials", "3", "--sampler", "random", "--output", str(folder), "--seed", "0",
            "--data", "sample", "--limit", "256", "--epochs", "30"]  # fmt: skip
    process, out = _start(args, tmp_path, "first")
    try:
        wait_until(lambda: _rows(folder) and _training(folder), process, 300)
        assert _rows(folder) and _training(folder), "no trial finished and another started before the deadline"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 130
    finally:
        if process.poll() is None:
            process.kill()
    out.seek(0)
    text = out.read()
    out.close()
    assert "Traceback" not in text and "run the same command to resume" in text
    first = _trained(folder)
    assert (folder / "sweep.csv").read_text().count("\n") == len(first) + 1
    result = run_cli("sweep", *args, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    hashes = [path.name.rsplit("-", 1)[1] for path in _trained(folder)]
    assert len(hashes) == len(set(hashes)) == 3
    assert set(first) <= set(_trained(folder))
    assert "3 trial(s) trained" in result.stdout
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{folder / 'sweep.db'}")
    interrupted = [t for t in study.trials if t.user_attrs.get("kind") == "interrupted"]
    assert len(interrupted) == 1 and interrupted[0].state == optuna.trial.TrialState.FAIL


# --- --prune-epochs: Optuna's median pruner stops a trial that falls behind -------------------


class Fading:
    """Stands in for training a trial's checked model over three epochs: each later trial scores worse at every epoch."""

    def __init__(self):
        self.epochs_run: list[int] = []

    def __call__(self, spec, data="mnist", *, output=None, verbose=0, on_epoch=None, **recipe):
        base = 0.9 - 0.1 * len(self.epochs_run)
        history = []
        for epoch in (1, 2, 3):
            history.append({"epoch": epoch, "val_accuracy": base + 0.01 * epoch, "val_loss": 1 - base})
            if on_epoch is not None and on_epoch(history[-1]):
                break
        self.epochs_run.append(len(history))
        return SimpleNamespace(metrics={"test_accuracy": base, "seconds_per_epoch": 0.01}, history=history,
                               directory=Path(output))  # fmt: skip


@pytest.mark.parametrize("prune", [True, False])
def test_prune_epochs_stops_trials_that_fall_behind_and_still_counts_them(monkeypatch, tmp_path, prune):
    fading = Fading()
    monkeypatch.setattr(training_api, "train", fading)
    storage = optuna.storages.InMemoryStorage()
    monkeypatch.setattr(sweeps.storages, "open_storage", lambda url, **_: storage)
    space = "CN({2, 4, 8, 16}, 3) -> GAP()"
    rows = cnndsl.sweep(space, "sample", trials=4, sampler="grid", prune_epochs=prune, output=tmp_path, echo=quiet)
    study = optuna.load_study(study_name=optuna.get_all_study_names(storage)[0], storage=storage)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    if not prune:
        assert fading.epochs_run == [3, 3, 3, 3] and not pruned and len(rows) == 4
        return
    # the first two set the median; the later, weaker ones stop at the first epoch the pruner may act on
    assert fading.epochs_run == [3, 3, 2, 2]
    assert [t.user_attrs["pruned_at_epoch"] for t in pruned] == [sweeps.PRUNE_FROM_EPOCH] * 2
    assert all(len(t.intermediate_values) == 2 for t in pruned)
    assert len(rows) == 2 and len(fading.epochs_run) == 4  # pruned trials count among the four, off the board


def test_a_trial_that_reached_its_last_epoch_completes_and_is_never_pruned(monkeypatch, tmp_path):
    # with 2 epochs the median pruner could act only at the last one, where stopping saves nothing
    fading = Fading()
    monkeypatch.setattr(training_api, "train", fading)
    storage = optuna.storages.InMemoryStorage()
    monkeypatch.setattr(sweeps.storages, "open_storage", lambda url, **_: storage)
    rows = cnndsl.sweep("CN({2, 4, 8, 16}, 3) -> GAP()", "sample", trials=4, sampler="grid", prune_epochs=True,
                        epochs=sweeps.PRUNE_FROM_EPOCH, output=tmp_path, echo=quiet)  # fmt: skip
    study = optuna.load_study(study_name=optuna.get_all_study_names(storage)[0], storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 4 and len(rows) == 4
    assert all(len(t.intermediate_values) >= sweeps.PRUNE_FROM_EPOCH for t in study.trials)


def test_train_stops_where_on_epoch_says(tmp_path):
    pytest.importorskip("keras", reason="training needs the tensorflow extra")
    seen = []
    result = cnndsl.train(
        "CN(4, 3) -> GAP()", data="sample", limit=128, epochs=3, seed=0, save=False,
        on_epoch=lambda row: seen.append(row["epoch"]) or row["epoch"] == 1,
    )  # fmt: skip
    assert seen == [1] and len(result.history) == 1 and result.metrics["epochs"] == 1


@pytest.mark.parametrize("objective", ["val_loss", "val_accuracy"])
def test_a_trial_without_a_score_ranks_last_whichever_way_the_study_goes(objective):
    plan = SimpleNamespace(objective=objective, task=CLASSIFY)
    rows = [{"trial": 0, objective: None}, {"trial": 1, objective: 0.5}, {"trial": 2, objective: 0.25}]
    study = SimpleNamespace(
        get_trials=lambda **_: [SimpleNamespace(user_attrs={"kind": sweeps.TRAINED, "row": r}) for r in rows]
    )
    ranked = [row["trial"] for row in sweeps.leaderboard(plan, study)]
    assert ranked == ([2, 1, 0] if objective == "val_loss" else [1, 2, 0])


def test_the_help_of_sweep_and_compare_says_where_they_write_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = sweeps.make_plan("CN({4,8})->FL()", "sample", 1, "grid", None, None, "val_accuracy", None,
                            None, None, {"limit": 64})  # fmt: skip
    assert plan.directory == Path("runs") / plan.study_name and plan.study_name.startswith("sweep-")
    sweep_help = " ".join(run_cli("sweep", "--help").stdout.split())
    assert "(default: runs/<study name>)" in sweep_help and "(default: sweep-<hash" in sweep_help
    compare_help = " ".join(run_cli("compare", "--help").stdout.split())
    assert "runs/<timestamp>-<spec hash>" not in compare_help and "runs/<timestamp>-compare-" in compare_help


def test_an_interrupted_trials_folder_is_marked_and_skipped_numbers_are_explained(tmp_path):
    folder = tmp_path / "trial-0001-abc"
    folder.mkdir()
    (folder / "history.csv").write_text("epoch\n1\n")
    marked = sweeps.mark_stale(folder, "interrupted")
    assert marked == tmp_path / "trial-0001-abc-interrupted" and (marked / "history.csv").exists()
    assert not folder.exists() and sweeps.mark_stale(tmp_path / "absent", "interrupted") is None
    kinds = {0: sweeps.TRAINED, 1: "interrupted", 2: sweeps.REJECTED, 3: sweeps.REJECTED, 4: sweeps.TRAINED}
    trials = [SimpleNamespace(number=n, user_attrs={"kind": kind}) for n, kind in kinds.items()]
    study = SimpleNamespace(get_trials=lambda **_: trials)
    lines = sweeps.skipped_trials(study, [0, 4])
    assert lines[0].startswith("trial 1: interrupted (its folder, if any, ends in -interrupted")
    assert lines[1].startswith("trials 2, 3: rejected by the checker") and len(lines) == 2


def test_a_trial_s_checked_model_is_trained_as_it_is_where_it_was_checked_for_the_data():
    from cnndsl.training.api import check_spec

    model = check("CN(8, 3) -> FL()", (28, 28, 1), 10)
    assert check_spec(model, (28, 28, 1), 10, "classify") is model
    assert check_spec(model) is model
    other = check_spec(model, (32, 32, 3), 5)  # checked for other data: its text is checked again
    assert other is not model and other.input_shape == (None, 32, 32, 3) and other.num_classes == 5
    assert other == check(model.source, (32, 32, 3), 5)
