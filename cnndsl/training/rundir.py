"""A run's directory and its one owner: planned, made, written, cleaned, discarded.

A full run (``cnndsl run``, each model of ``compare``) and a sweep trial both hold a
:class:`RunDirectory`; its :class:`Keep` policy says what the run leaves there. A
full run keeps everything; a sweep trial keeps what a leaderboard needs (history,
metrics, the spec in ``summary.txt``, its picture), and its saved model only while
it is one of the best (see ``cnndsl.sweeps.trials``) or when asked to keep them all.

The files themselves are written by :mod:`cnndsl.outputs` (atomically), their
contents decided by :mod:`cnndsl.training.records`. No framework is imported here.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from cnndsl.outputs import (
    CHECKPOINT,
    check_output_dir,
    default_run_dir,
    discard_run,
    make_output_dir,
    remove_temporaries,
    write_atomic,
    write_text,
)
from cnndsl.training.records import first_missing, remove_created

MODEL = "model.keras"


@dataclass(frozen=True)
class Keep:
    """What a run directory keeps beside its history, metrics, summary and picture."""

    checkpoints: bool = True
    """``checkpoint.keras``: the best model by validation loss, saved after each epoch that improves it."""
    model: bool = True
    """``model.keras``: the trained model."""
    loss_plot: bool = True
    """``loss.png``: the loss curves."""


EVERYTHING = Keep()
"""A full run: every file."""
LEADERBOARD = Keep(checkpoints=False, model=False, loss_plot=False)
"""A sweep trial: history, metrics, summary (the spec) and picture; the model is saved later if it ranks."""


class RunDirectory:
    """The directory of one run, and everything done to it from first check to last file."""

    def __init__(self, path: Path, keep: Keep = EVERYTHING):
        self.path = Path(path)
        self.keep = keep
        self.created: Path | None = None
        """The outermost directory that making this one created (None: nothing made, or it existed)."""

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    @classmethod
    def planned(cls, text: str, output: str | Path | None, kind: str = "", keep: Keep = EVERYTHING) -> RunDirectory:
        """``output``, else a new ``runs/<timestamp>-<hash of text>``; checked, nothing created (OutputError)."""
        path = Path(output) if output is not None else default_run_dir(text, kind)
        check_output_dir(path)
        return cls(path, keep)

    def make(self) -> Path:
        """Create the (new, or empty) directory, remembering what was created; OutputError."""
        self.created = first_missing(self.path)
        make_output_dir(self.path)
        return self.path

    @property
    def checkpoint(self) -> Path | None:
        """Where the per-epoch checkpoint goes, or None where this run keeps none."""
        return self.path / CHECKPOINT if self.keep.checkpoints else None

    def discard(self) -> None:
        """Remove what a failed run wrote, and the directories it made if left empty."""
        discard_run(self.path)
        remove_created(self.path, self.created)

    def after_interrupt(self, summary: str | None) -> None:
        """After Ctrl-C: drop half-written files; keep the epochs' files with ``summary``, or remove all."""
        remove_temporaries(self.path)
        if summary is None:
            remove_created(self.path, self.created)
            return
        write_text(self.path / "summary.txt", summary)

    def save_model(self, model) -> Path:
        """Save ``model`` as the run's ``model.keras`` (a trial that became one of the best)."""
        return write_atomic(self.path / MODEL, model.save)

    def drop_model(self) -> bool:
        """Remove a saved ``model.keras`` (a trial that is no longer one of the best); whether one was."""
        with suppress(OSError):
            (self.path / MODEL).unlink()
            return True
        return False

    def mark_stale(self, why: str) -> Path | None:
        """Rename an unfinished run ``...-interrupted`` (or ``-failed``), so that it never looks finished."""
        if not self.path.is_dir():
            return None
        target = self.path.with_name(f"{self.path.name}-{why}")
        try:
            self.path.rename(target)
        except OSError:
            return None
        self.path = target
        return target
