"""Keras's three backends: the same run on JAX and PyTorch, and the errors of choosing one.

TensorFlow is the backend of every other training test; here one tiny run per other
backend shows the same recipe and outputs, and each way of asking for a backend that
cannot be had is one clear line (exit 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import run_cli

from cnndsl.outputs import RUN_FILES

pytestmark = pytest.mark.slow

SMALL = "CN(8,3)->MP(2)->FL()->DN(32)"
OUTPUTS = set(RUN_FILES)
"""What a finished run leaves: every file the outputs module names."""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_run_on_another_backend_writes_the_same_outputs(tmp_path, backend):
    out = tmp_path / "run"
    flags = ["--data", "sample", "--limit", "256", "--epochs", "2", "--batch-size", "64", "--seed", "0"]
    result = run_cli("run", SMALL, *flags, "--backend", backend, "--output", str(out), timeout=300, process=True)
    assert result.returncode == 0, result.stderr
    assert {path.name for path in out.iterdir()} == OUTPUTS
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == metrics["recipe"]["backend"] == backend and backend in metrics["versions"]
    assert metrics["epochs"] == 2 and metrics["test_accuracy"] > 0.15  # chance is 0.1
    history = json.loads((out / "history.json").read_text())
    assert history[1]["loss"] < history[0]["loss"]  # it learns
    assert f"Keras on {backend}" in (out / "summary.txt").read_text()
    assert "Traceback" not in result.stderr and "I0000" not in result.stderr


def _python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def test_keras_already_imported_with_another_backend_is_a_usage_error():
    code = (
        "import keras, cnndsl\n"
        "try:\n    cnndsl.train('FL()', data='sample', limit=64, epochs=1, backend='jax', save=False)\n"
        "except cnndsl.training.RecipeError as error:\n    print(error)\n"
    )
    result = _python(code, {"KERAS_BACKEND": "tensorflow"})
    assert result.stdout.strip() == (
        "Keras was already imported with the tensorflow backend in this process; "
        "train on jax in a new process (or set KERAS_BACKEND=jax before importing Keras)"
    ), result.stderr


def test_a_backend_whose_package_is_missing_names_its_extra(tmp_path):
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['jax'] = None  # as if not installed\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = run_cli("run", SMALL, "--data", "sample", "--backend", "jax", cwd=tmp_path, env=env, process=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "cnndsl: error: training on jax needs the jax extra: pip install 'cnndsl[jax]'"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sitecustomize.py"]


@pytest.mark.parametrize("command", ["run", "compare"])
def test_training_with_only_the_core_package_names_the_tensorflow_extra(tmp_path, command):
    """The pre-commit hook's environment: lark only, no numpy (simulated by a failing import)."""
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['numpy'] = None  # as if not installed\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = run_cli(command, SMALL, "--data", "sample", cwd=tmp_path, env=env, process=True)
    assert result.returncode == 2
    assert (
        result.stderr
        == f"cnndsl: error: `cnndsl {command}` needs the tensorflow extra: pip install 'cnndsl[tensorflow]'\n"
    )
    assert run_cli("check", SMALL, env=env, process=True).returncode == 0  # checking needs none of it
