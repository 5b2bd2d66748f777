"""What a training run leaves on disk: its directory, atomic files, plots and tables.

Every file is written to a temporary name in its directory and renamed into place, so
a reader (or a Ctrl-C, or a full disk) never sees half a file. Numpy and matplotlib's
Agg canvas only: no TensorFlow, and no global pyplot state.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import math
import os
import stat
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from cnndsl.errors import OutputError

RUNS_DIR = Path("runs")
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
"""Permissions of written files: what ``open`` would give them (mkstemp makes them private)."""


# --- run directories ------------------------------------------------------------------


def os_reason(error: OSError) -> str:
    """The system's own words for an OSError ("Read-only file system"), the one wording every command uses."""
    return error.strerror or str(error) or type(error).__name__


def unwritable_reason(directory: Path) -> str:
    """Why ``directory`` cannot be written in, in the words an OSError would use."""
    try:
        read_only = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        read_only = False
    return os.strerror(errno.EROFS if read_only else errno.EACCES)


def default_run_dir(spec: str, kind: str = "", root: Path = RUNS_DIR) -> Path:
    """``runs/<timestamp>-<short hash of the spec>``, with a suffix if that exists."""
    digest = hashlib.sha1(spec.encode("utf-8")).hexdigest()[:8]
    stem = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}{digest}"
    path, n = stem, 1
    while path.exists():
        n += 1
        path = stem.with_name(f"{stem.name}-{n}")
    return path


def check_output_dir(path: Path) -> None:
    """Fail early if ``path`` cannot become a fresh run directory; creates nothing."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        raise OutputError(f"{path}: already exists and is not empty; runs are never overwritten")
    parent = _existing_ancestor(path)
    if not parent.is_dir():
        raise OutputError(f"{path}: cannot create a directory under {parent}, which is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write in {parent} ({unwritable_reason(parent)})")


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def make_output_dir(path: Path) -> Path:
    """Create the (new, or empty) run directory; raises OutputError."""
    check_output_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{path}: cannot create ({os_reason(error)})") from None
    return path


CHECKPOINT = "checkpoint.keras"
"""The best model by validation loss, saved after each epoch that improves it."""
PICTURE = "model.svg"
"""The model's picture in a run directory (``cnndsl draw``'s boxes)."""
RUN_FILES = (
    "checkpoint.keras",
    "model.keras",
    PICTURE,
    "history.csv",
    "history.json",
    "loss.png",
    "summary.txt",
    "metrics.json",
)


def discard_run(path: Path) -> None:
    """Remove what a failed run wrote: only its own files (the directory is the caller's to judge)."""
    for name in RUN_FILES:
        with _quietly():
            (path / name).unlink()
    remove_temporaries(path)


def _quietly() -> suppress:
    return suppress(OSError)


# --- atomic files ---------------------------------------------------------------------


def write_atomic(path: Path, write: Callable[[Path], None], like: os.stat_result | None = None) -> Path:
    """Have ``write(temp)`` fill a temporary file next to ``path``, then rename it into place.

    A new file gets the permissions ``open`` would give it (the user's umask); with
    ``like`` (the stat of the file being replaced) it keeps that file's mode and, where
    the system allows, its owner and group.
    """
    temp = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
        temp = Path(name)
        os.close(fd)
        write(temp)
        _take_over(temp, like)
        os.replace(temp, path)
    except OSError as error:
        raise OutputError(f"{path}: cannot write ({os_reason(error)})") from None
    finally:
        if temp is not None:
            with _quietly():
                temp.unlink()
    return path


def _take_over(temp: Path, like: os.stat_result | None) -> None:
    """Give the temporary file the mode (and owner) it should end with."""
    if like is None:
        os.chmod(temp, FILE_MODE)
        return
    for owner in ((like.st_uid, like.st_gid), (-1, like.st_gid)):
        with _quietly():  # another user's file: only root may give it back to its owner
            os.chown(temp, *owner)
            break
    os.chmod(temp, stat.S_IMODE(like.st_mode))


def rewrite_text(path: Path, text: str) -> Path:
    """Replace an existing file's text atomically, keeping its mode and owner.

    Through a symbolic link the link's target is rewritten, as editors do: the link stays.
    """
    target = Path(os.path.realpath(path))
    try:
        like = target.stat()
    except OSError as error:
        raise OutputError(f"{path}: cannot write ({os_reason(error)})") from None
    return write_atomic(target, lambda temp: _fill(temp, text.encode("utf-8")), like)


def remove_temporaries(directory: Path) -> None:
    """Remove the temporary files of :func:`write_atomic` that an interruption left behind.

    Ctrl-C can land inside ``tempfile.mkstemp``, after the file exists and before its
    name is known; only names of the run's own files' temporaries are touched.
    """
    for name in RUN_FILES:
        for temp in directory.glob(f".{Path(name).stem}-*{Path(name).suffix}"):
            with _quietly():
                temp.unlink()


def write_bytes(path: Path, data: bytes) -> Path:
    return write_atomic(path, lambda temp: _fill(temp, data))


def _fill(temp: Path, data: bytes) -> None:
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, value: object) -> Path:
    return write_text(path, json.dumps(value, indent=2, allow_nan=False, default=_json_default) + "\n")


def _json_default(value: object) -> object:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_csv(path: Path, rows: Sequence[Mapping[str, object]], fields: Sequence[str]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buffer.getvalue())


def clean_number(value: object) -> object:
    """A float rounded for files, or None where it is NaN or infinite (JSON has neither)."""
    if isinstance(value, float) or hasattr(value, "item"):
        value = float(value)  # type: ignore[arg-type]
        return round(value, 6) if math.isfinite(value) else None
    return value


# --- history --------------------------------------------------------------------------

HISTORY_FIELDS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")


def write_history(directory: Path, history: Sequence[Mapping[str, object]]) -> None:
    """``history.csv`` and ``history.json``: one row per finished epoch."""
    fields = list(HISTORY_FIELDS) + sorted({k for row in history for k in row} - set(HISTORY_FIELDS))
    write_csv(directory / "history.csv", history, fields)
    write_json(directory / "history.json", list(history))


# --- plots ----------------------------------------------------------------------------


def new_figure():
    """An empty matplotlib figure of the size every plot cnndsl writes has, drawn without a display."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def plot_loss(path: Path, history: Sequence[Mapping[str, object]], title: str = "") -> Path:
    """Train and validation cross-entropy per epoch, as the notebook plotted them."""
    return write_bytes(path, png_bytes(loss_figure(history, title)))


def loss_figure(history: Sequence[Mapping[str, object]], title: str = ""):
    """The figure of :func:`plot_loss`; a single epoch is drawn as points, since a line needs two."""
    figure = new_figure()
    axes = figure.add_subplot()
    epochs = [row["epoch"] for row in history]
    marker = "o" if len(epochs) == 1 else None
    axes.plot(epochs, [row.get("val_loss") for row in history], "b", marker=marker, label="Validation Loss")
    axes.plot(epochs, [row.get("loss") for row in history], "r", marker=marker, label="Train Loss")
    _decorate(axes, title, epochs)
    return figure


def plot_val_losses(path: Path, curves: Mapping[str, Sequence[Mapping[str, object]]]) -> Path:
    """Every model's validation loss per epoch on one chart (``compare.png``)."""
    return write_bytes(path, png_bytes(val_losses_figure(curves)))


def val_losses_figure(curves: Mapping[str, Sequence[Mapping[str, object]]]):
    """The figure of :func:`plot_val_losses`."""
    figure = new_figure()
    axes = figure.add_subplot()
    epochs = []
    for label, history in curves.items():
        epochs += [row["epoch"] for row in history]
        axes.plot([row["epoch"] for row in history], [row.get("val_loss") for row in history], marker="o", label=label)
    _decorate(axes, "Validation loss", epochs)
    return figure


MAX_EPOCH_TICKS = 12
"""Up to this many epochs, each has its tick; beyond, matplotlib picks whole numbers."""


def _decorate(axes, title: str, epochs: Sequence[object] = ()) -> None:
    """Labels, whole-number epoch ticks, the title (smaller when it wraps), a legend if anything is drawn."""
    axes.set_xlabel("epoch")
    axes.set_ylabel("Categorical Crossentropy Loss")
    _epoch_ticks(axes, sorted({int(epoch) for epoch in epochs}))
    if title:
        axes.set_title(title, fontsize="medium" if "\n" in title else "large")
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    axes.grid(True)
    axes.figure.tight_layout()


def _epoch_ticks(axes, epochs: list[int]) -> None:
    """Whole-number ticks only: matplotlib's own would be fractions around a lone epoch."""
    from matplotlib.ticker import MaxNLocator

    if len(epochs) == 1:
        axes.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)
    if 0 < len(epochs) <= MAX_EPOCH_TICKS:
        axes.set_xticks(epochs)
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
