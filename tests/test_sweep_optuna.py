"""``cnndsl sweep`` as Optuna means it: constraints, several objectives, Hyperband, dead workers, storages.

In-process tests replace training (``cnndsl.training.api.train``) with a recorder (and the
storage with Optuna's in-memory one); the others train tiny models on the bundled sample, in process or as
``cnndsl sweep`` processes, on SQLite and on a throwaway PostgreSQL server.
"""

from __future__ import annotations

import datetime
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import later_claim_yields, run_cli, wait_until

import cnndsl
from cnndsl import check, sweeps
from cnndsl.errors import StorageError
from cnndsl.inputs import UsageError
from cnndsl.training import api as training_api

optuna = pytest.importorskip("optuna")

pytestmark = pytest.mark.slow

TINY = ["--data", "sample", "--limit", "256", "--batch-size", "128"]
SPACE = "CN({8,150},(5,5))->MP(2)->CN({4,8},(5,5))*{1..3}->FL()"
"""12 candidates, 4 of which cannot be built (three 5x5 convolutions after a pooling)."""


class Recorder:
    """Stands in for training a trial's checked model: scores each spec by its size, records the keyword arguments."""

    def __init__(self):
        self.specs: list[str] = []
        self.kwargs: list[dict] = []

    def __call__(self, model, data="mnist", *, output=None, verbose=0, on_epoch=None, **recipe):
        self.specs.append(model.source)
        self.kwargs.append(recipe)
        score = 1 / (1 + check(model.source).total_params % 97)
        history = [{"epoch": 1, "val_accuracy": score, "val_loss": 1 - score}]
        return SimpleNamespace(metrics={"test_accuracy": score, "seconds_per_epoch": 0.01}, history=history,
                               directory=Path(output))  # fmt: skip


def fakes(monkeypatch, recorder=None):
    recorder = recorder or Recorder()
    monkeypatch.setattr(training_api, "train", recorder)
    storage = optuna.storages.InMemoryStorage()
    monkeypatch.setattr(sweeps.storages, "open_storage", lambda url, **_: storage)
    return recorder, storage


def quiet(line: str) -> None:
    pass


def load(storage, name: str):
    return optuna.load_study(study_name=name, storage=storage)


# --- constraints and user attributes ---------------------------------------------------------


def test_rejected_candidates_are_infeasible_by_optunas_constraints_and_never_trained(monkeypatch, tmp_path):
    recorder, storage = fakes(monkeypatch)
    rows = sweeps.sweep(SPACE, "sample", trials=4, sampler="tpe", output=tmp_path, echo=quiet, seed=3, study="c")
    study = load(storage, "c")
    rejected = [t for t in study.trials if t.user_attrs.get("kind") == "rejected"]
    trained = [t for t in study.trials if t.user_attrs.get("kind") == "trained"]
    assert len(trained) == len(rows) == len(recorder.specs) == 4 and rejected
    for trial in rejected:
        assert trial.constraints == {"buildable": 1.0} and trial.state == optuna.trial.TrialState.PRUNED
        assert trial.user_attrs["error"]["at"] and trial.user_attrs["spec"].startswith("CN(")
    for trial in trained:
        assert trial.constraints == {"buildable": 0.0}
        model = check(trial.user_attrs["spec"])
        assert (trial.user_attrs["params"], trial.user_attrs["macs"]) == (model.total_params, model.total_macs)
        assert trial.user_attrs["hash"] == trial.user_attrs["row"]["hash"]
    assert {check(spec).total_params for spec in recorder.specs} == {t.user_attrs["params"] for t in trained}
    assert all(kwargs["keep"] == cnndsl.training.rundir.LEADERBOARD for kwargs in recorder.kwargs)


def test_without_constraints_rejections_are_plain_pruned_trials(monkeypatch, tmp_path):
    _, storage = fakes(monkeypatch)
    sweeps.sweep(SPACE, "sample", trials=3, sampler="random", output=tmp_path, echo=quiet, seed=0, study="n",
                 constraints=False)  # fmt: skip
    assert all(not t.constraints for t in load(storage, "n").trials)


# --- several objectives -----------------------------------------------------------------------


def test_two_objectives_make_a_multi_objective_study_whose_front_the_board_marks(monkeypatch, tmp_path):
    _, storage = fakes(monkeypatch)
    rows = sweeps.sweep(SPACE, "sample", trials=5, sampler="tpe", objective="val_accuracy,params",
                        output=tmp_path, echo=quiet, seed=0, study="mo")  # fmt: skip
    study = load(storage, "mo")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    for trial in study.trials:
        if trial.user_attrs.get("kind") == "trained":
            row = trial.user_attrs["row"]
            assert trial.values == [row["val_accuracy"], row["params"]]
    front = {t.number for t in study.best_trials}
    assert {row["trial"] for row in rows if row["pareto"]} == front and front
    text = (tmp_path / "sweep.csv").read_text().splitlines()
    assert text[0].split(",")[-2:] == ["pareto", "directory"] and len(text) == 6
    for name in ("params", "macs", "val_accuracy", "val_loss", "seconds_per_epoch"):
        assert name in text[0].split(",")
    assert "objective val_accuracy, params" in (tmp_path / "sweep.md").read_text()
    assert (tmp_path / "sweep.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("objective", "message"),
    [("accuracy", "choose from val_accuracy"), ("val_accuracy,val_accuracy", "'val_accuracy' is named twice"),
     ("val_accuracy,", "name one or more")],
)  # fmt: skip
def test_a_bad_objective_is_one_line_and_exit_2(objective, message, tmp_path):
    result = run_cli("sweep", "CN({4,8})->FL()", "--objective", objective, "--output", str(tmp_path / "s"), *TINY)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "s").exists()


def test_a_study_made_for_other_objectives_is_refused_and_left_as_it_was(monkeypatch, tmp_path):
    _, storage = fakes(monkeypatch)
    sweeps.sweep("CN({4,8})->FL()", "sample", trials=1, sampler="random", output=tmp_path, echo=quiet, study="s")
    before = [(t.number, t.state, t.values) for t in load(storage, "s").trials]
    for objective in ("val_accuracy,params", "val_loss", "params"):
        with pytest.raises(UsageError, match="this study optimises val_accuracy, not "):
            sweeps.sweep("CN({4,8})->FL()", "sample", trials=2, sampler="random", output=tmp_path, echo=quiet,
                         study="s", objective=objective)  # fmt: skip
    after = load(storage, "s")
    assert [(t.number, t.state, t.values) for t in after.trials] == before
    assert after.user_attrs["objective"] == "val_accuracy"


def test_a_study_of_other_directions_is_refused_on_the_command_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    optuna.create_study(study_name="other", storage=url, directions=["minimize", "minimize"])
    result = run_cli("sweep", "CN({4,8})->FL()", "--storage", url, "--study", "other", "--output",
                     str(tmp_path / "s"), *TINY)  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "this study optimises minimize and minimize, not val_accuracy" in result.stderr
    assert not load(url, "other").trials and not load(url, "other").user_attrs


def test_pruning_a_multi_objective_study_is_refused(monkeypatch, tmp_path):
    fakes(monkeypatch)
    with pytest.raises(UsageError, match="one objective only"):
        sweeps.sweep("CN({4,8})->FL()", "sample", objective="val_accuracy,macs", prune_epochs=True, output=tmp_path)


# --- Hyperband --------------------------------------------------------------------------------


class Fading:
    """Stands in for training a trial's checked model over nine epochs: each later trial scores worse at every epoch."""

    def __init__(self):
        self.epochs_run: list[int] = []

    def __call__(self, spec, data="mnist", *, output=None, verbose=0, on_epoch=None, **recipe):
        base = 0.9 - 0.05 * len(self.epochs_run)
        history = []
        for epoch in range(1, recipe["epochs"] + 1):
            history.append({"epoch": epoch, "val_accuracy": base + 0.001 * epoch, "val_loss": 1 - base})
            if on_epoch is not None and on_epoch(history[-1]):
                break
        self.epochs_run.append(len(history))
        return SimpleNamespace(metrics={"test_accuracy": base, "seconds_per_epoch": 0.01}, history=history,
                               directory=Path(output))  # fmt: skip


def test_hyperband_stops_weaker_trials_early_and_still_counts_them(monkeypatch, tmp_path):
    fading = Fading()
    _, storage = fakes(monkeypatch, fading)
    space = "CN({2, 4, 8, 16, 32, 64}, 3) -> GAP()"
    rows = sweeps.sweep(space, "sample", trials=6, sampler="grid", prune_epochs=True, pruner="hyperband",
                        epochs=9, output=tmp_path, echo=quiet, study="hb")  # fmt: skip
    study = load(storage, "hb")
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and len(fading.epochs_run) == 6 and min(fading.epochs_run) < 9
    assert all(t.user_attrs["kind"] == "trained" for t in pruned)
    epochs = sorted(t.user_attrs["pruned_at_epoch"] for t in pruned)
    assert epochs[0] < sweeps.PRUNE_FROM_EPOCH  # the median pruner never stops a trial this early
    assert sorted(n for n in fading.epochs_run if n < 9) == [e for e in epochs if e < 9]
    assert len(rows) == 6 - len(pruned)
    markdown = (tmp_path / "sweep.md").read_text()
    assert "hyperband pruning" in markdown and "stopped by the pruner" in markdown


# --- claims that trust no clock ---------------------------------------------------------------


def test_a_claim_waits_for_an_earlier_trial_from_a_machine_whose_clock_is_minutes_behind(tmp_path, monkeypatch):
    """Worker A, on a machine whose clock is 5 minutes behind, asked the earlier trial and is still
    judging it: worker B must wait for it all the same, and leave the candidate to A."""
    import optuna.storages._in_memory as in_memory

    class Behind(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.now(tz) - datetime.timedelta(minutes=5)

    def ask_behind(study):
        with monkeypatch.context() as patch:
            patch.setattr(in_memory, "datetime", Behind)
            return study.ask()  # worker A's trial, stamped by a clock 5 minutes behind

    study, first = later_claim_yields(tmp_path, ask_behind, pause=1.0)
    assert datetime.datetime.now() - study.trials[first.number].datetime_start > datetime.timedelta(minutes=4)


def test_a_silent_earlier_trial_is_given_up_on_this_workers_own_clock(tmp_path, monkeypatch):
    plan = sweeps.make_plan("CN({4,8})->FL()", "sample", 2, "grid", None, "dead", "val_accuracy", tmp_path,
                            None, None, {"limit": 64})  # fmt: skip
    monkeypatch.setattr(sweeps.claims, "CLAIM_WAIT_S", 0.5)
    study = optuna.create_study()
    worker = sweeps.Worker(plan, study, 0, quiet)
    trained = []
    worker._train = lambda trial, verdict: trained.append(trial.number)
    worker._decide = lambda trial: 0
    study.ask()  # a worker that died before judging its trial
    second = study.ask()
    started = time.monotonic()
    worker._one(second)
    assert trained == [second.number] and 0.5 <= time.monotonic() - started < 10


# --- processes: a worker killed outright, two workers on PostgreSQL ---------------------------


def _start(args: list[str], folder: Path, name: str):
    out = open(folder / f"{name}.out", "w+")  # noqa: SIM115 - closed by the caller
    process = subprocess.Popen([sys.executable, "-m", "cnndsl", "sweep", *args], stdout=out, stderr=subprocess.STDOUT)
    return process, out


def _finish(process, out, timeout=400) -> str:
    try:
        code = process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    out.seek(0)
    text = out.read()
    out.close()
    assert code == 0, text
    return text


def test_a_worker_killed_outright_has_its_trial_failed_and_its_candidate_trained_by_another(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    args = ["CN({4,8}, 3)->MP({2,9})->FL()", "--trials", "1", "--sampler", "random", "--seed", "0", "--storage",
            storage, "--study", "k", "--heartbeat", "1", "--epochs", "40", *TINY]  # fmt: skip
    doomed, out = _start([*args, "--output", str(tmp_path / "a")], tmp_path, "a")
    try:
        wait_until(lambda: any((tmp_path / "a").glob("trial-*/history.csv")), doomed, 300)
        assert any((tmp_path / "a").glob("trial-*/history.csv")), "the first worker never started training"
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
    finally:
        if doomed.poll() is None:
            doomed.kill()
        out.close()
    killed = load(storage, "k").trials[0]
    assert killed.state == optuna.trial.TrialState.RUNNING and killed.user_attrs["kind"] == "trained"
    survivor, out = _start([*args, "--output", str(tmp_path / "b")], tmp_path, "b")
    text = _finish(survivor, out)
    study = load(storage, "k")
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 1 and done[0].user_attrs["hash"] == killed.user_attrs["hash"]
    assert done[0].user_attrs["retry_of"] == 0 and done[0].params == killed.params
    assert "1 trial(s) trained (1 by this process)" in text
    assert "its worker stopped answering (no heartbeat)" in (tmp_path / "b" / "sweep.md").read_text()


def _postgres_binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL server on 127.0.0.1 in a temporary directory; its URL (no password: trust)."""
    pytest.importorskip("psycopg", reason="PostgreSQL storage needs the psycopg driver (the dev extra)")
    binaries = _postgres_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's initdb and pg_ctl are missing: .ci/run installs Debian's postgresql package")
        pytest.skip("PostgreSQL's server binaries are not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="cnndsl-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the postgres user
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = root / "data"
    run = lambda *command: subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=120)  # noqa: E731
    run(str(binaries / "initdb"), "-D", str(data), "-U", "cnndsl", "-A", "trust", "--no-sync")
    options = f"-h 127.0.0.1 -p {port} -k {root} -F"
    run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        yield f"postgresql://cnndsl@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_finish_one_study_together_on_postgresql(postgres, tmp_path):
    args = ["CN({4,8}, 3)->MP({2,9})->FL()", "--trials", "4", "--sampler", "random", "--storage", postgres,
            "--study", "pg", "--epochs", "1", *TINY]  # fmt: skip
    workers = [_start([*args, "--output", str(tmp_path / f"w{n}")], tmp_path, f"w{n}") for n in (1, 2)]
    for process, out in workers:
        _finish(process, out)
    study = load(postgres, "pg")
    done = [t for t in study.trials if t.user_attrs.get("kind") == "trained"]
    assert len(done) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in done)
    assert len({t.user_attrs["hash"] for t in done}) == 4
    folders = list((tmp_path / "w1").glob("trial-*")) + list((tmp_path / "w2").glob("trial-*"))
    assert len(folders) == 4 and all((folder / "metrics.json").exists() for folder in folders)


# --- storages: a missing driver, a storage lost mid-sweep -------------------------------------


def test_a_missing_database_driver_is_named_with_its_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    url = sweeps.storage_url("postgresql://alice:s3cret@127.0.0.1:1/optuna")
    with pytest.raises(StorageError) as caught:
        sweeps.storages.open_storage(url)
    message = str(caught.value)
    assert message == (
        "--storage postgresql://alice:***@127.0.0.1:1/optuna: the database driver module 'psycopg' is not "
        "installed: pip install 'psycopg[binary]'"
    )


def test_a_storage_lost_mid_sweep_stops_the_worker_with_one_line(monkeypatch, tmp_path):
    import sqlalchemy

    recorder, _ = fakes(monkeypatch)

    def lost(spec, *args, **kwargs):
        if recorder.specs:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return recorder(spec, *args, **kwargs)

    monkeypatch.setattr(training_api, "train", lost)
    with pytest.raises(StorageError, match="lost it mid-sweep .*server closed the connection.*run the same command"):
        sweeps.sweep("CN({4,8,16})->FL()", "sample", trials=3, sampler="grid", output=tmp_path, echo=quiet)
    assert len(recorder.specs) == 1 and (tmp_path / "sweep.csv").read_text().count("\n") == 2


# --- what a trial keeps ---------------------------------------------------------------------


def test_trials_keep_no_checkpoints_and_only_the_best_trials_models(tmp_path, monkeypatch):
    pytest.importorskip("keras", reason="training needs the tensorflow extra")
    monkeypatch.setattr(sweeps.trials, "BEST_KEPT", 1)
    rows = sweeps.sweep("CN({2,4,8}, 3) -> MP(2) -> FL()", "sample", trials=3, sampler="grid", output=tmp_path / "a",
                        echo=quiet, epochs=2, limit=128, seed=0, objective="val_loss")  # fmt: skip
    best = {rows[0]["trial"]} | {row["trial"] for row in rows if row["pareto"]}
    for row in rows:
        folder = Path(row["directory"])
        assert sorted(p.name for p in folder.iterdir() if p.name != "model.keras") == [
            "history.csv", "history.json", "metrics.json", "model.svg", "summary.txt"]  # fmt: skip
        assert (folder / "model.keras").exists() == (row["trial"] in best), row
    kept = sweeps.sweep("CN({2,4}, 3) -> MP(2) -> FL()", "sample", trials=2, sampler="grid", output=tmp_path / "b",
                        echo=quiet, epochs=2, limit=128, seed=0, keep_models=True)  # fmt: skip
    for row in kept:
        folder = Path(row["directory"])
        assert {"checkpoint.keras", "model.keras", "loss.png"} <= {p.name for p in folder.iterdir()}


def test_timeout_starts_no_trial_after_it_and_says_so(monkeypatch, tmp_path):
    recorder = Recorder()

    def slow(spec, *args, **kwargs):
        time.sleep(0.5)
        return recorder(spec, *args, **kwargs)

    fakes(monkeypatch, slow)
    lines: list[str] = []
    rows = sweeps.sweep("CN({4,8,16})->FL()", "sample", trials=3, sampler="grid", output=tmp_path, echo=lines.append,
                        timeout=0.3)  # fmt: skip
    assert len(rows) == len(recorder.specs) == 1
    assert "stopped: --timeout 0.3 s passed; no new trial started" in lines
    with pytest.raises(UsageError, match="--timeout must be"):
        sweeps.sweep("CN({4,8})->FL()", "sample", output=tmp_path, timeout=0)


def test_ctrl_c_in_a_multi_objective_sweep_resumes_without_training_anything_twice(monkeypatch, tmp_path):
    recorder, storage = fakes(monkeypatch)

    def stopped(spec, *args, **kwargs):
        if len(recorder.specs) == 2:
            raise KeyboardInterrupt
        return recorder(spec, *args, **kwargs)

    monkeypatch.setattr(training_api, "train", stopped)
    space, options = "CN({2,4,8,16})->FL()", {"objective": "val_accuracy,macs", "output": tmp_path, "echo": quiet}
    with pytest.raises(sweeps.SweepInterrupted) as caught:
        sweeps.sweep(space, "sample", trials=4, sampler="grid", study="r", **options)
    assert len(caught.value.rows) == 2 and (tmp_path / "sweep.csv").read_text().count("\n") == 3
    monkeypatch.setattr(training_api, "train", recorder)
    rows = sweeps.sweep(space, "sample", trials=4, sampler="grid", study="r", **options)
    assert len(rows) == 4 and len(recorder.specs) == len(set(recorder.specs)) == 4
    study = load(storage, "r")
    assert [t.user_attrs["kind"] for t in study.trials].count("interrupted") == 1
    assert all(len(t.values) == 2 for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)


def test_a_trial_failed_by_another_worker_while_it_trained_is_not_counted_and_the_sweep_goes_on(monkeypatch, tmp_path):
    recorder, storage = fakes(monkeypatch)

    def overtaken(spec, *args, **kwargs):
        result = recorder(spec, *args, **kwargs)
        if len(recorder.specs) == 1:  # as fail_stale_trials in another worker would, on a late heartbeat
            study = load(storage, "late")
            for trial in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
                storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        return result

    monkeypatch.setattr(training_api, "train", overtaken)
    lines: list[str] = []
    rows = sweeps.sweep("CN({4,8})->FL()", "sample", trials=1, sampler="grid", study="late", output=tmp_path,
                        echo=lines.append)  # fmt: skip
    assert "trial 0: failed by another worker meanwhile (its heartbeat was late); not counted" in lines
    assert len(rows) == 1 and rows[0]["trial"] == 1 and len(recorder.specs) == 2
