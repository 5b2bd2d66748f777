"""What the tests share: the checkout's paths, one way to run the command line, loading scripts.

Test modules import from here (``from helpers import run_cli``), not from ``conftest`` or from
one another.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lsprotocol import types as lsp
    from pytest_lsp import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LONGEST_FIRST = (
    "test_distributed.py", "test_sweep.py", "test_native_logs.py", "test_applications.py", "test_sweep_optuna.py",
    "test_notebook.py", "test_run_interrupt.py", "test_from_torch.py", "test_backends.py", "test_playground_page.py",
    "test_emit.py", "test_yolo.py", "test_keras_differential.py", "test_image_folders.py", "test_tasks.py",
    "test_precommit.py", "test_from_keras.py", "test_compare_cli.py", "test_torch_idioms.py",
)  # fmt: skip
"""The test files that take longest (each 18 s or more of a 2-core machine, measured), longest first.

pytest-xdist hands each worker a whole file at a time (``--dist loadfile``), in the order the
files are collected (``--no-loadscope-reorder``): the longest go first, so that the run
does not end with one worker finishing a long file while the other waits. A file not named
here only runs after them, in the usual order."""


def small_digits(path: Path, train: int = 256, test: int = 256) -> Path:
    """The bundled sample's first ``train`` training and ``test`` test digits, written to ``path``
    as an ``.npz`` in Keras's layout (``--data`` reads it as any user's file).

    For a test that trains where what is trained on is not what it tests: a run of a few
    hundred images spends most of its time evaluating the sample's 2,000 test digits, after
    every epoch and at the end."""
    import numpy as np

    from cnndsl.datasets import sample_path

    with np.load(sample_path()) as sample:
        np.savez(
            path, x_train=sample["x_train"][:train], y_train=sample["y_train"][:train],
            x_test=sample["x_test"][:test], y_test=sample["y_test"][:test],
        )  # fmt: skip
    return path


def glorot_bound(fan_in: int, fan_out: int) -> float:
    """The largest magnitude Glorot-uniform can draw, as a float32 weight holds it.

    The limit ``sqrt(6 / (fan_in + fan_out))`` is drawn in float32, so a weight can equal
    the limit rounded to float32, which may lie above the exact limit: 0.05 rounds up to
    0.0500000007."""
    import numpy as np

    return float(np.float32((6 / (fan_in + fan_out)) ** 0.5))


def load_script(path: Path, name: str):
    """A script that is not a package module (a benchmark, docs/images/make.py), loaded as ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def run_cli(
    *args: str,
    input: str | None = None,
    env: dict | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    process: bool = False,
) -> subprocess.CompletedProcess:
    """Run ``cnndsl ARGS`` and return its exit code and output as a CompletedProcess.

    By default the command runs in this process (``cnndsl.cli.main``, with its own standard
    streams, environment and directory, restored afterwards), so that a test does not pay for
    a fresh interpreter importing TensorFlow. ``process=True`` runs ``python -m cnndsl`` as a
    user does: for what only a process shows (the real entry point's exit, signals, what is
    imported at start-up, what native libraries write to descriptor 2, a Keras backend other
    than the one this process imported); ``timeout`` bounds that process.
    """
    if process:
        return subprocess.run(
            [sys.executable, "-m", "cnndsl", *args],
            capture_output=True,
            text=True,
            input=input,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            timeout=timeout,
        )
    started = sorted(set(env or ()) & AT_START)
    if started:
        raise ValueError(f"{', '.join(started)} take effect when a process starts: run_cli(..., process=True)")
    return _in_process([str(arg) for arg in args], input, env, cwd)


AT_START = frozenset({"PYTHONPATH", "KERAS_BACKEND", "XLA_FLAGS", "TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES"})
"""Variables read once as a process starts (or imports a framework): a run in this process would ignore them."""


class _Stream(io.TextIOWrapper):
    """A text stream over bytes (``.buffer`` works), read back as the text written."""

    def __init__(self, text: str = "") -> None:
        super().__init__(io.BytesIO(text.encode()), encoding="utf-8", errors="backslashreplace", write_through=True)

    def text(self) -> str:
        self.flush()
        return self.buffer.getvalue().decode("utf-8", errors="replace")


def _in_process(args: list[str], input: str | None, env: dict | None, cwd: Path | None):
    from cnndsl.cli import main

    out, err = _Stream(), _Stream()
    with _isolated(env, cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        stdin, sys.stdin = sys.stdin, _Stream(input or "")
        try:
            code = main(args)
        except SystemExit as exit:  # argparse's usage errors and --help
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
            if isinstance(exit.code, str):
                print(exit.code, file=sys.stderr)
        finally:
            sys.stdin = stdin
            sys.stdout.flush()
            sys.stderr.flush()
    return subprocess.CompletedProcess(["cnndsl", *args], code, out.text(), err.text())


@contextlib.contextmanager
def _isolated(env: dict | None, cwd: Path | None) -> Iterator[None]:
    """The environment, directory, signal handlers and warning filters, restored afterwards."""
    environ, here = dict(os.environ), os.getcwd()
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    os.environ.update(env or {})
    try:
        if cwd is not None:
            os.chdir(cwd)
        with warnings.catch_warnings():
            yield
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(environ)
        for number, handler in handlers.items():
            signal.signal(number, handler)


def space_of_text(text: str):
    """The search space a text writes."""
    from cnndsl.space import Space
    from cnndsl.syntax import parse

    return Space(parse(text), text)


def record_diagnostics(client: LanguageClient) -> None:
    """Keep every publishDiagnostics the client receives, in order, in ``client.published``.

    (Waiting for "the next notification" can miss one that arrives in the same read as another.)
    """
    from lsprotocol import types as lsp

    client.published = []
    handle = client.protocol._handle_notification

    def recording(method, params):
        if method == lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS:
            client.published.append(params)
        return handle(method, params)

    client.protocol._handle_notification = recording


async def wait_for_diagnostics(client: LanguageClient, uri: str, seen: int) -> list[lsp.Diagnostic]:
    """The first diagnostics published for ``uri`` after the ``seen`` first ones (none in 60 s fails the test)."""
    import asyncio

    async def wait():
        index = seen
        while True:
            while index < len(client.published):
                params = client.published[index]
                index += 1
                if params.uri == uri:
                    return list(params.diagnostics)
            await asyncio.sleep(0.005)

    return await asyncio.wait_for(wait(), timeout=60)


def wait_until(ready, process: subprocess.Popen, seconds: float) -> None:
    """Poll ``ready()`` until it holds, ``process`` ends, or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)


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
