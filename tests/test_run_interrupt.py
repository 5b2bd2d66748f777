"""Ctrl-C and distribution: a real ``cnndsl run`` process, interrupted or mirrored."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from helpers import run_cli, wait_until

pytestmark = pytest.mark.slow

SMALL = "CN(8,3)->MP(2)->FL()->DN(32)"


def test_sigint_keeps_a_loadable_checkpoint_and_the_history(tmp_path):
    out = tmp_path / "run"
    args = ["run", SMALL, "--data", "sample", "--limit", "512", "--epochs", "500", "--seed", "0", "--output", str(out)]
    with open(tmp_path / "stdout", "w") as stdout, open(tmp_path / "stderr", "w+") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "cnndsl", *args], stdout=stdout, stderr=stderr)
        try:
            # the epoch's history is written first, then its checkpoint: wait for both (a loaded machine is slow)
            wait_until(lambda: (out / "history.json").exists() and (out / "checkpoint.keras").exists(), process, 180)
            assert (out / "checkpoint.keras").exists(), "no checkpoint before the deadline"
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 130
        finally:
            if process.poll() is None:
                process.kill()
        stderr.seek(0)
        err = stderr.read()
    assert "Traceback" not in err
    assert "interrupted after" in err and str(out / "checkpoint.keras") in err and str(out / "history.csv") in err
    history = json.loads((out / "history.json").read_text())
    assert 1 <= len(history) < 500 and "Interrupted after" in (out / "summary.txt").read_text()
    assert not (out / "model.keras").exists() and not [p for p in out.iterdir() if p.name.startswith(".")]
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    model = keras.saving.load_model(out / "checkpoint.keras")
    assert model.count_params() == 43_706


def test_mirrored_strategy_trains_on_two_logical_cpus(tmp_path):
    out = tmp_path / "run"
    args = ["--data", "sample", "--limit", "256", "--epochs", "1", "--distribute", "mirrored", "--output", str(out)]
    result = run_cli("run", SMALL, *args, env={"CNNDSL_CPU_DEVICES": "2"}, process=True)
    assert result.returncode == 0, result.stderr
    assert "cnndsl: MirroredStrategy with 2 replica(s)" in result.stderr
    assert json.loads((out / "metrics.json").read_text())["replicas"] == 2


def test_mirrored_on_jax_trains_over_two_local_devices(tmp_path):
    out = tmp_path / "run"
    args = ["--data", "sample", "--limit", "256", "--epochs", "1", "--backend", "jax", "--distribute", "mirrored"]
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = run_cli("run", SMALL, *args, "--output", str(out), env=env, timeout=300, process=True)
    assert result.returncode == 0, result.stderr
    assert "cnndsl: DataParallel with 2 replica(s) on jax" in result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["replicas"], metrics["processes"], metrics["backend"]) == (2, 1, "jax")


def test_a_bad_cpu_device_count_is_a_usage_error(tmp_path):
    args = ["--data", "sample", "--limit", "64", "--epochs", "1", "--output", str(tmp_path / "run")]
    result = run_cli("run", SMALL, *args, env={"CNNDSL_CPU_DEVICES": "many"})
    assert result.returncode == 2 and "CNNDSL_CPU_DEVICES must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_an_interrupt_inside_an_epoch_is_told_on_a_line_of_its_own(tmp_path):
    """stdout and stderr to one place, as on a terminal: the progress bar's line ends before cnndsl speaks."""
    out, log = tmp_path / "run", tmp_path / "output"
    args = ["run", SMALL, "--data", "sample", "--batch-size", "8", "--epochs", "500", "--output", str(out)]

    def inside_second_epoch() -> bool:
        text = log.read_text(errors="replace")
        return "Epoch 2/500" in text and not text.endswith("\n") and text.rpartition("Epoch 2/500\n")[2] != ""

    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "cnndsl", *args], stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_until(inside_second_epoch, process, 180)
            assert inside_second_epoch(), log.read_text(errors="replace")[-2000:]
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 130
        finally:
            if process.poll() is None:
                process.kill()
    lines = log.read_text(errors="replace").split("\n")
    (told,) = [n for n, line in enumerate(lines) if "interrupted after" in line]
    assert lines[told].startswith("cnndsl: interrupted after "), lines[told - 1 : told + 1]
    assert lines[told - 1].strip(), lines[told - 2 : told + 1]  # the bar's own line, no blank line between
