"""The filter that keeps the frameworks' native (absl) log lines off descriptor 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import run_cli

from cnndsl.training.native_logs import is_native

pytestmark = pytest.mark.slow

NATIVE = [
    b"I0000 00:00:1795632067.745454   13326 cudart_stub.cc:31] Could not find cuda drivers on your machine.",
    b"E0000 00:00:1795632076.929142   13326 cuda_platform.cc:52] failed call to cuInit: INTERNAL",
    b"W1125 18:36:07.308230    7472 coordination_service.cc:1520] Shutdown barrier has failed:",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
]
KEPT = [
    b"cnndsl: training on the bundled 10,000-digit sample",
    b"Traceback (most recent call last):",
    b"I0000 is not a log line without its time and file",
    b"UserWarning: something Python said",
]


@pytest.mark.parametrize(("line", "native"), [(line, True) for line in NATIVE] + [(line, False) for line in KEPT])
def test_native_lines_are_told_from_the_rest(line, native):
    assert is_native(line) is native


@pytest.mark.parametrize(("quiet", "shown"), [(True, False), (False, True)])
def test_the_filter_drops_native_lines_written_to_descriptor_2_and_passes_the_rest(quiet, shown):
    code = (
        "import os, sys\nfrom cnndsl.training.native_logs import quiet_native_logs\n"
        f"with quiet_native_logs({quiet}):\n"
        f"    os.write(2, {NATIVE[0]!r} + b'\\n')\n"
        "    print('cnndsl: kept', file=sys.stderr)\n"
        "print('after', file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = result.stderr.splitlines()
    assert lines[-2:] == ["cnndsl: kept", "after"] and (NATIVE[0].decode() in lines) is shown


def _offline(tmp_path) -> dict[str, str]:
    """No Keras cache and no way out: Keras's loaders fail at once (and import Keras first)."""
    refused = "http://127.0.0.1:9"
    return {"KERAS_HOME": str(tmp_path / "keras"), "HTTPS_PROXY": refused, "HTTP_PROXY": refused, "NO_PROXY": ""}


def _native(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if is_native(line.encode())]


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "CN(4, 3) -> FL()", "--data", "fashion_mnist"],  # Keras's loader, then a data error
        ["run", "CN(4, 3) -> FL()", "--epochs", "1", "--limit", "64", "--batch-size", "64"],  # mnist: the sample
    ],
    ids=["fashion_mnist", "mnist"],
)
def test_run_hides_the_start_up_logging_of_the_data_loaders(tmp_path, argv):
    pytest.importorskip("keras")
    result = run_cli(
        *argv, "--output", str(tmp_path / "run"), cwd=tmp_path, env=_offline(tmp_path), timeout=300, process=True
    )
    assert "Traceback" not in result.stderr and not _native(result.stderr), result.stderr


def test_from_keras_hides_the_start_up_logging_unless_verbose(tmp_path):
    keras = pytest.importorskip("keras")
    path = tmp_path / "m.keras"
    keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(2, 3),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    ).save(path)
    quiet = run_cli("from-keras", str(path), cwd=tmp_path, env={"KERAS_BACKEND": "tensorflow"}, process=True)
    assert quiet.returncode == 0 and quiet.stdout.startswith("IN(8, 8, 1)"), quiet.stderr
    assert not _native(quiet.stderr), quiet.stderr
    verbose = run_cli("from-keras", str(path), "--verbose", cwd=tmp_path)  # the same reading, in this process
    assert verbose.returncode == 0 and verbose.stdout == quiet.stdout


SMALL_RUN = "epochs=1, limit=64, batch_size=64, save=False, verbose=0"
LIBRARY_CALLS = {
    "train": f"cnndsl.train('CN(4, 3) -> FL()', {SMALL_RUN})",
    "compare": f"cnndsl.compare(['CN(4, 3) -> FL()'], {SMALL_RUN})",
    "sweep": "cnndsl.sweep('CN({2, 4}, 3) -> FL()', trials=1, epochs=1, limit=64, batch_size=64, output='sweep')",
    "load_data": "cnndsl.load_data('mnist')",
    "compile_spec": "cnndsl.compile_spec('CN(4, 3) -> FL()')",
}
"""Each library entry point that loads TensorFlow, on MNIST where it reads data (offline: the sample)."""


def _library(tmp_path, call: str) -> subprocess.CompletedProcess:
    """``import cnndsl`` and one call in a fresh process, as a user's script runs: TensorFlow's
    own log level left unset, and offline."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"} | _offline(tmp_path)
    code = f"import cnndsl\n{call}\nprint('done')\n"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )


@pytest.mark.parametrize("name", LIBRARY_CALLS)
def test_library_entry_points_hide_the_start_up_logging_as_the_command_line_does(tmp_path, name):
    pytest.importorskip("keras")
    result = _library(tmp_path, LIBRARY_CALLS[name])
    assert result.stdout.endswith("done\n") and "Traceback" not in result.stderr, result.stderr
    assert not _native(result.stderr) and "oneDNN" not in result.stderr, result.stderr


def test_a_library_call_shows_the_start_up_logging_when_asked(tmp_path):
    pytest.importorskip("keras")
    result = _library(tmp_path, f"cnndsl.train('CN(4, 3) -> FL()', quiet=False, {SMALL_RUN})")
    assert result.stdout.endswith("done\n") and _native(result.stderr), result.stderr
