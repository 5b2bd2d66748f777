"""``cnndsl run`` as a user runs it: outputs, the MNIST fallback, and every bad input.

The training runs are tiny (a small spec, 256 to 512 images of the bundled sample,
one epoch); the bad-input runs fail before TensorFlow is imported.
"""

from __future__ import annotations

import json
import re
import socket

import numpy as np
import pytest
from helpers import run_cli

from cnndsl import check
from cnndsl.outputs import RUN_FILES

pytestmark = pytest.mark.slow

SMALL = "CN(16,3)->MP(2)->FL()->DN(64)"
RUN_DIR = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{8}$")
OUTPUTS = set(RUN_FILES)
"""What a finished run leaves: every file the outputs module names."""


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One end-to-end run on the bundled sample, in a fresh directory, with the default output."""
    cwd = tmp_path_factory.mktemp("run")
    result = run_cli("run", SMALL, "--data", "sample", "--limit", "512", "--epochs", "1", "--seed", "0", cwd=cwd)
    assert result.returncode == 0, result.stderr
    [directory] = list((cwd / "runs").iterdir())
    return result, directory


def test_run_writes_every_output_in_a_timestamped_directory(finished_run):
    result, directory = finished_run
    assert RUN_DIR.match(directory.name)
    assert {path.name for path in directory.iterdir()} == OUTPUTS
    assert (directory / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert SMALL in (directory / "summary.txt").read_text()
    assert f"Wrote runs/{directory.name}/: " in result.stdout
    assert "4/4" in result.stdout and "val_loss" in result.stdout  # Keras's own progress bar, 512 / 128 steps


def test_run_metrics_agree_with_the_history_and_beat_chance(finished_run):
    result, directory = finished_run
    metrics = json.loads((directory / "metrics.json").read_text())
    history = json.loads((directory / "history.json").read_text())
    csv_lines = (directory / "history.csv").read_text().splitlines()
    assert metrics["epochs"] == len(history) == len(csv_lines) - 1 == 1
    assert csv_lines[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy,seconds")
    last = history[-1]
    assert metrics["test_loss"] == pytest.approx(last["val_loss"], abs=1e-4)
    assert metrics["test_accuracy"] == pytest.approx(last["val_accuracy"], abs=1e-4)
    assert metrics["seconds_per_epoch"] == pytest.approx(last["seconds"], abs=1e-3)
    assert metrics["best_epoch"] == 1 and metrics["best_val_loss"] == last["val_loss"]
    assert metrics["total_params"] == check(SMALL).total_params
    assert metrics["data"]["name"] == "sample" and metrics["data"]["train_images"] == 512
    assert metrics["test_accuracy"] > 0.2  # chance is 0.1
    assert f"Test accuracy: {metrics['test_accuracy']:.4f}\n" in result.stdout  # one format: four decimals
    assert f"Test accuracy: {metrics['test_accuracy']:.4f}\n" in (directory / "summary.txt").read_text()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_run_without_network_falls_back_to_the_sample_with_one_notice(tmp_path):
    proxy = f"http://127.0.0.1:{_closed_port()}"  # nothing listens: every download is refused
    env = {"KERAS_HOME": str(tmp_path / "keras"), "HTTPS_PROXY": proxy, "https_proxy": proxy}
    env |= {"HTTP_PROXY": proxy, "http_proxy": proxy, "NO_PROXY": "", "no_proxy": ""}
    result = run_cli("run", SMALL, "--limit", "256", "--epochs", "1", "--output", str(tmp_path / "out"), env=env)
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if line.startswith("cnndsl:")]
    assert len(notices) == 1 and "training on the bundled 10,000-digit sample" in notices[0]
    assert "mnist.npz" in notices[0] and "--data PATH" in notices[0]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "bundled sample" in metrics["data"]["source"] and metrics["data"]["test_images"] == 2000


# --- bad input: a clear message, a non-zero exit, nothing written ---------------------

BAD_FLAGS = [
    (["--limit", "0"], "--limit must be a whole number from 1"),
    (["--epochs", "0"], "--epochs must be a whole number from 1"),
    (["--batch-size", "-1"], "--batch-size must be a whole number from 1"),
    (["--batch-size", "1000000000"], "--batch-size must be a whole number from 1 to 1,048,576"),
    (["--optimizer", "adamm"], "unknown optimizer 'adamm'"),
    (["--learning-rate", "nan"], "--learning-rate must be a number above 0"),
    (["--learning-rate", "-0.1"], "--learning-rate must be a number above 0"),
    (["--seed", "-3"], "--seed must be a whole number from 0"),
    (["--epochs", "two"], "invalid int value: 'two'"),
    (["--distribute", "tpu"], "--distribute: unknown strategy 'tpu'; choose from mirrored, data-parallel"),
    (["--distribute", "multiworker"], "--distribute multiworker is no longer supported"),
    (["--distribute", "data-parallel"], "needs --coordinator (or KERAS_DISTRIBUTION_JOB_ADDRESSES)"),
    (["--distribute", "data-parallel", "--backend", "torch"], "--distribute data-parallel needs --backend jax"),
    (["--coordinator", "h:1"], "--coordinator needs --distribute data-parallel"),
    (["--backend", "theano"], "invalid choice: 'theano'"),
    (["--distribute", "mirrored", "--backend", "torch"], "--distribute mirrored needs the tensorflow or jax backend"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS, ids=[" ".join(flags) for flags, _ in BAD_FLAGS])
def test_bad_flags_are_usage_errors_and_write_nothing(tmp_path, flags, message):
    result = run_cli("run", SMALL, "--data", "sample", *flags, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_spec_errors_are_reported_before_the_data_is_read(tmp_path):
    result = run_cli("run", "CN(8->FL()", "--data", str(tmp_path / "absent.npz"), cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("<spec>:1:5: error: ")
    assert "absent.npz" not in result.stderr and list(tmp_path.iterdir()) == []


def test_shape_errors_for_named_data_are_reported_before_the_data_is_read(tmp_path):
    env = {"KERAS_HOME": str(tmp_path / "keras"), "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    result = run_cli("run", "CN(8)->FL()->CN(3)", cwd=tmp_path, env=env)  # --data mnist, not cached
    assert result.returncode == 1
    assert result.stderr.startswith("<spec>:1:14: error: CN(3) needs a 4-D input")
    assert "MNIST" not in result.stderr and list(tmp_path.iterdir()) == []


def test_a_spec_whose_input_disagrees_with_the_data_is_an_error_before_training(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (8, 20, 20)), "y_train": np.arange(8) % 4}
    np.savez(tmp_path / "d.npz", **arrays, x_test=arrays["x_train"], y_test=arrays["y_train"])
    result = run_cli("run", "IN(28,28,1)->CN(8)->FL()", "--data", str(tmp_path / "d.npz"), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "<spec>:1:1: error: the spec declares input 28x28x1 but the input is 20x20x1" in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [("absent.npz", "absent.npz: no such file or directory"), ("keys.npz", "missing x_train, y_train, x_test, y_test")],
)
def test_bad_data_is_a_usage_error_and_writes_nothing(tmp_path, data, message):
    np.savez(tmp_path / "keys.npz", images=np.zeros((2, 28, 28)))
    result = run_cli("run", SMALL, "--data", str(tmp_path / data), cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_an_existing_run_is_never_overwritten(tmp_path):
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "metrics.json").write_text('{"test_accuracy": 0.99}')
    result = run_cli("run", SMALL, "--data", "sample", "--output", str(earlier))
    assert result.returncode == 2 and "already exists and is not empty" in result.stderr
    assert [p.name for p in earlier.iterdir()] == ["metrics.json"]
    assert (earlier / "metrics.json").read_text() == '{"test_accuracy": 0.99}'


def test_an_output_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = run_cli("run", SMALL, "--data", "sample", "--output", str(tmp_path / "a-file" / "run"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "which is a file" in result.stderr


def test_an_unknown_flag_shows_the_commands_own_usage(tmp_path):
    result = run_cli("run", SMALL, "--classes", "3", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.startswith("usage: cnndsl run ")
        and "cnndsl run: error: unrecognized arguments: --classes 3" in result.stderr
    )


def test_the_frameworks_native_start_up_lines_are_kept_off_the_terminal(finished_run):
    result, _ = finished_run
    native = [line for line in result.stderr.splitlines() if line[:1] in "IWEF" and line[1:5].isdigit()]
    assert native == [] and "absl::InitializeLog" not in result.stderr
