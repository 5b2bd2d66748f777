"""Shared test set-up: deterministic Hypothesis profiles and a quiet TensorFlow."""

from __future__ import annotations

import gc
import os
import random
import re
import sys
import types
from pathlib import Path

import pytest
from helpers import LONGEST_FIRST, run_cli, small_digits
from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The command line's tables and help are as wide as COLUMNS says, and pytest-xdist starts its
# workers with COLUMNS=80 and LINES=24: the tests run as in a pipe, with no width, unless a test sets one.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

# The language server keeps compiled protocol methods in the user's cache folder: the servers the
# tests start keep theirs in a folder of the test run's own, removed at its end, never the user's.
_CACHE = "CNNDSL_TEST_CACHE_HOME"


def pytest_configure(config):
    if _CACHE not in os.environ:  # the first process of the run (pytest-xdist's workers inherit it)
        import tempfile

        os.environ[_CACHE] = os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="cnndsl-tests-cache-")
        config._cnndsl_cache = os.environ[_CACHE]


def pytest_unconfigure(config):
    folder = getattr(config, "_cnndsl_cache", None)
    if folder is not None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(_CACHE, None)


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


@pytest.fixture(autouse=True)
def same_random_start():
    """Every test starts from the same random state, whatever ran before it in its worker.

    pytest-xdist hands each test file to whichever worker comes free first, so what ran before
    a test differs from run to run, and so would an unseeded draw (a layer's first weights, a
    sample) without this. The frameworks already imported are seeded here; one the test imports
    starts from its own fixed default (torch) or from Python's seed (Keras's initialisers)."""
    random.seed(0)
    if "keras" in sys.modules:  # Python, NumPy, TensorFlow and Keras's global seed generator
        sys.modules["keras"].utils.set_random_seed(0)
    elif "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(0)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)


FRAMEWORKS = re.compile(r"\b(keras|tensorflow|torch|torchvision|jax|onnx|onnxruntime|optuna)\b")


def pytest_collection_modifyitems(items):
    """A doctest that names a framework builds with it: it is ``slow``, as the test files that do are.
    The files of LONGEST_FIRST go first, longest first (the order within each file is kept)."""
    for item in items:
        if isinstance(item, pytest.DoctestItem) and any(FRAMEWORKS.search(e.source) for e in item.dtest.examples):
            item.add_marker(pytest.mark.slow)
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # a stable sort


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> Path:
    """256 training and 256 test digits of the sample, an ``.npz`` to pass as ``--data`` (:func:`helpers.small_digits`)."""
    return small_digits(tmp_path_factory.mktemp("digits") / "digits.npz")


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
