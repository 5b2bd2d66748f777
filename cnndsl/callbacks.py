"""The Keras callback that records a run as it trains. Imported lazily (it imports Keras).

After every epoch it times the epoch, appends the epoch's losses to the history,
rewrites ``history.csv`` and ``history.json`` and saves the model when the
validation loss improved (``checkpoint.keras``), each file atomically, so that a
Ctrl-C at any moment leaves the best model so far and the history so far. An
epoch counts as finished once its history is on disk.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import keras

from cnndsl import interrupts
from cnndsl.outputs import CHECKPOINT, clean_number, write_atomic, write_history


class RunRecorder(keras.callbacks.Callback):
    """Epoch times, history files and the best-validation-loss checkpoint of one run."""

    def __init__(self, directory: Path | None, checkpoints: bool = True):
        super().__init__()
        self.directory = directory
        self.checkpoints = checkpoints
        """Whether to save ``checkpoint.keras`` (a sweep trial keeps none unless asked)."""
        self.history: list[dict] = []
        self.logs: dict = {}
        """The last finished epoch's logs as Keras gave them (unrounded)."""
        self.best_val_loss = math.inf
        self.best_epoch: int | None = None
        self._started = 0.0
        self.line_open = False
        """Whether Keras's progress bar has drawn on the epoch's line and not ended it yet."""

    @property
    def checkpoint(self) -> Path | None:
        """The saved best model, once one has been saved."""
        return self.directory / CHECKPOINT if self.directory and self.checkpoints and self.best_epoch else None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()
        self.line_open = False

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.line_open = self.line_open or batch > 0  # the bar drew the batch before (it runs after this)
        interrupts.check()  # a Ctrl-C that a garbage-collection callback swallowed

    def on_train_end(self, logs: dict | None = None) -> None:
        self.line_open = False

    def end_line(self, verbose: int | str) -> None:
        """End the line a progress bar left open when training stopped inside an epoch, so that
        what is said next (``cnndsl: interrupted after ...``) starts a line of its own."""
        if self.line_open and verbose in (1, "auto") and keras.config.is_interactive_logging_enabled():
            sys.stdout.write("\n")
            sys.stdout.flush()
        self.line_open = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Write the epoch's files, then count it: a Ctrl-C between leaves the count at the files."""
        seconds = time.perf_counter() - self._started
        row = {"epoch": epoch + 1, **{key: clean_number(value) for key, value in (logs or {}).items()}}
        row["seconds"] = round(seconds, 3)
        history = [*self.history, row]
        val_loss = row.get("val_loss")
        improved = isinstance(val_loss, float) and val_loss < self.best_val_loss
        if self.directory is not None:
            write_history(self.directory, history)
        self.history = history
        self.logs = dict(logs or {})
        if improved and self.directory is not None and self.checkpoints:
            write_atomic(self.directory / CHECKPOINT, self.model.save)
        if improved:
            self.best_val_loss, self.best_epoch = val_loss, epoch + 1


class EpochObserver(keras.callbacks.Callback):
    """Shows each finished epoch's row (as the history records it) to ``observe``; True stops training."""

    def __init__(self, recorder: RunRecorder, observe):
        super().__init__()
        self.recorder, self.observe = recorder, observe

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.recorder.history and self.observe(dict(self.recorder.history[-1])):
            self.model.stop_training = True
