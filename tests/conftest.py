"""Shared test set-up: deterministic Hypothesis profiles and a quiet TensorFlow."""

from __future__ import annotations

import gc
import importlib.util
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# "ci" (the default) is derandomized with no deadline, so runs never flake;
# HYPOTHESIS_PROFILE=dev explores new examples each run.
settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# A full garbage collection scans every object the process holds: with TensorFlow, torch and
# Optuna imported that is a second or so, and Keras's clear_session runs one each call. What
# is alive once the tests are collected, and again between test files, is frozen (moved out
# of the collector's sight, as gc.freeze documents), so a collection looks only at what the
# running test file made; garbage is collected first, so nothing is kept that was not alive.
def pytest_collection_finish(session):
    _freeze()


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    try:
        return (yield)
    finally:
        if nextitem is not None and nextitem.path != item.path:
            _freeze()


def _freeze() -> None:
    gc.collect()
    gc.freeze()


ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def load_script(path: Path, name: str):
    """A script that is not a package module (a benchmark, docs/images/make.py), loaded as ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def run_cli(
    *args: str, input: str | None = None, env: dict | None = None, cwd: Path | None = None, timeout: float = 120
):
    """Run ``python -m cnndsl ARGS`` as a user would; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "cnndsl", *args],
        capture_output=True,
        text=True,
        input=input,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


def wait_until(ready, process: subprocess.Popen, seconds: float) -> None:
    """Poll ``ready()`` until it holds, ``process`` ends, or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.fixture
def cli():
    return run_cli


TORCHVISION_STAND_IN = "torchvision._meta_registrations"


@pytest.fixture(scope="session")
def torchvision_import(tmp_path_factory):
    """torchvision, and the environment in which ``python -m cnndsl`` imports it as this process does.

    A torchvision wheel built for another torch build than the installed torch (a CUDA
    torchvision beside a CPU torch) cannot register its compiled detection operators (nms,
    roi_align), so ``import torchvision`` stops at their meta registrations with ``operator
    torchvision::nms does not exist``; ``cnndsl from-torch`` then says so and names the install
    that fixes it. Only where that happens, an empty module stands in for that one module, in
    this process and (through a ``sitecustomize`` on ``PYTHONPATH``) in the commands the tests
    start: no classification model uses those operators. Where torchvision imports, nothing
    stands in. This is the only stand-in, and it never reaches the package.
    """
    pytest.importorskip("torch", reason="torchvision needs torch")
    env: dict[str, str] = {}
    try:
        import torchvision
    except ModuleNotFoundError:
        pytest.skip("torchvision is not installed")
    except RuntimeError as error:
        if "torchvision::" not in str(error):
            raise
        sys.modules[TORCHVISION_STAND_IN] = types.ModuleType(TORCHVISION_STAND_IN)
        import torchvision

        folder = tmp_path_factory.mktemp("stand_in")
        (folder / "sitecustomize.py").write_text(
            f"import sys, types\nsys.modules[{TORCHVISION_STAND_IN!r}] = types.ModuleType({TORCHVISION_STAND_IN!r})\n"
        )
        env["PYTHONPATH"] = os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])
    return types.SimpleNamespace(module=torchvision, env=env)


def later_claim_yields(tmp_path: Path, ask_first=None, pause: float = 0.5):
    """Worker B claims the candidate of a trial asked after worker A's, while A is still judging it:
    B must wait for A to say what its trial is, and then leave the candidate to A.

    ``ask_first(study)`` asks A's trial (default ``study.ask()``). Returns the study and A's trial.
    """
    import threading

    import optuna

    from cnndsl import sweeps

    plan = sweeps.make_plan("CN({4,8})->FL()", "sample", 2, "grid", None, "race", "val_accuracy", tmp_path,
                            None, None, {"limit": 64})  # fmt: skip
    study = optuna.create_study()
    worker = sweeps.Worker(plan, study, 0, lambda line: None)
    trained = []
    worker._train = lambda trial, verdict: trained.append(trial.number)
    worker._decide = lambda trial: 0
    first = ask_first(study) if ask_first else study.ask()  # worker A's trial, still judging its candidate
    first.set_user_attr("index", "0")
    second = study.ask()
    claiming = threading.Thread(target=worker._one, args=(second,))
    claiming.start()
    time.sleep(pause)
    assert claiming.is_alive(), "the later claim did not wait for the earlier trial"
    first.set_user_attr("hash", plan.judge(0).hash)
    first.set_user_attr("kind", sweeps.TRAINED)
    claiming.join(timeout=30)
    assert not claiming.is_alive() and trained == []
    assert study.trials[second.number].user_attrs.get("duplicate_of") == first.number
    return study, first
