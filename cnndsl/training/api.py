"""The library calls: ``train`` one spec, ``compare`` several, under the notebook's recipe.

Every step that can fail on bad input runs before any framework is imported, in this
order: the recipe's values, the spec, the output directory, the data, the spec
against the data. Only then is Keras imported (on the chosen backend), the model
built and trained.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnndsl.compiler import check
from cnndsl.datasets import Dataset, known_shape, load_data
from cnndsl.errors import Diagnostic, SpecError, SpecShapeError
from cnndsl.inputs import Source
from cnndsl.model import DEFAULT_CLASSES, CheckedModel
from cnndsl.outputs import check_output_dir, default_run_dir, make_output_dir
from cnndsl.training import records
from cnndsl.training.recipe import Cluster, Recipe
from cnndsl.training.rundir import EVERYTHING, Keep, RunDirectory
from cnndsl.training.runner import TrainingInterrupted, TrainResult, fit

Spec = str | Source
"""A spec's text, or a model read from a file (``cnndsl.inputs.read_models``)."""


def check_spec(spec: Spec, input_shape=None, num_classes=None) -> CheckedModel:
    """Check a spec text or a model from a file (with its file's blocks)."""
    if isinstance(spec, Source):
        return spec.check(input_shape, num_classes)
    return check(spec, input_shape, num_classes)


def spec_text(spec: Spec) -> str:
    """The text that names a spec's run directory."""
    return f"{spec.text}\n{spec.label}" if isinstance(spec, Source) else spec


def train(
    spec: Spec,
    data: str = "mnist",
    *,
    epochs: int = 12,
    batch_size: int = 128,
    optimizer: str = "adam",
    learning_rate: float | None = None,
    seed: int | None = None,
    limit: int | None = None,
    distribute: str | None = None,
    backend: str | None = None,
    cluster: Cluster | None = None,
    output: str | Path | None = None,
    verbose: int | str = "auto",
    quiet: bool = True,
    save: bool = True,
    on_epoch: Callable[[dict], bool] | None = None,
    keep: Keep = EVERYTHING,
) -> TrainResult:
    """Compile ``spec``, train it with the notebook's recipe on ``data``, evaluate it.

    Writes the run's files to ``output`` (default ``runs/<timestamp>-<spec hash>``)
    unless ``save`` is false. ``backend`` is Keras's (tensorflow, jax, torch);
    ``cluster`` says where a ``distribute="data-parallel"`` run's processes meet.
    ``quiet`` keeps the frameworks' native start-up logging off the terminal.
    ``on_epoch`` sees each finished epoch's history row; returning True stops training
    there (the run is then evaluated and saved as it stands). ``keep`` says which files
    the run directory keeps (``cnndsl.training.rundir``: everything, or a sweep trial's).
    Raises SpecError, DataError, RecipeError, OutputError, or TrainingInterrupted
    (a KeyboardInterrupt) on Ctrl-C.
    """
    recipe = Recipe(epochs, batch_size, optimizer, learning_rate, seed, data, limit, distribute, backend)
    precheck(spec, recipe.data)
    directory = RunDirectory.planned(spec_text(spec), output, keep=keep) if save else None
    dataset = _load_data(recipe)
    checked = check_against_data(spec, dataset)
    return fit(checked, recipe, dataset, directory, verbose, cluster=cluster, quiet=quiet, on_epoch=on_epoch)


def precheck(spec: Spec, data: str) -> CheckedModel | None:
    """Check the spec before any data is read, against the data's shape where it is known.

    For data given as a path the shape is unknown until it is read, so a shape
    error is left for the check against the data; other errors are raised now.
    """
    shape = known_shape(data)
    try:
        return check_spec(spec, *shape) if shape else check_spec(spec)
    except SpecShapeError:
        if shape:
            raise
        return None


def check_against_data(spec: Spec, dataset: Dataset) -> CheckedModel:
    """Check the spec with the data's input shape and class count.

    A spec whose last layer reads as a head for another class count (a written
    ``DN(10)`` on data with 15 classes) is an error at that layer: it would
    silently become a hidden relu layer under an appended ``DN(15)`` head.
    """
    checked = check_spec(spec, dataset.input_shape, dataset.num_classes)
    written = checked.layers[-2].layer if len(checked.layers) > 1 and not checked.layers[-1].layer.given else None
    if written is not None and _reads_as_head(written, dataset.num_classes):
        units = written.args["units"]
        message = (
            f"{written.text} reads as the head of a {units}-class model, but the data has {dataset.num_classes} "
            f"classes; write DN({dataset.num_classes}) for the head, or give DN({units}) an activation "
            "to keep it as a hidden layer"
        )
        raise SpecShapeError([Diagnostic("shape", message, written.span, code="head-mismatch")], checked.source)
    return checked


def _reads_as_head(layer, classes: int) -> bool:
    """A written DN whose units are the default class count, or which says softmax, and that is not the head."""
    if layer.code != "DN" or layer.args["units"] == classes:
        return False
    softmax = layer.args.get("activation") == "softmax" and "activation" in layer.given
    return softmax or ("activation" not in layer.given and layer.args["units"] == DEFAULT_CLASSES)


def run_dir(spec: str, output: str | Path | None, kind: str = "") -> Path:
    """Where a run writes: ``output``, else a new ``runs/<timestamp>-<hash>``; creates nothing."""
    directory = Path(output) if output is not None else default_run_dir(spec, kind)
    check_output_dir(directory)
    return directory


_SHARED: dict[tuple, Dataset] | None = None
"""Data sets read once for all the runs inside :func:`shared_data` (a sweep's trials)."""


@contextmanager
def shared_data():
    """Within this block every run of one process reads each data set (by name and limit) once."""
    global _SHARED
    outer, _SHARED = _SHARED, ({} if _SHARED is None else _SHARED)
    try:
        yield
    finally:
        _SHARED = outer


def _load_data(recipe: Recipe) -> Dataset:
    """The recipe's data, telling the user of any fallback (the sample for MNIST)."""
    key = (recipe.data, recipe.limit)
    if _SHARED is not None and key in _SHARED:
        return _SHARED[key]
    dataset = load_data(recipe.data, recipe.limit)
    if _SHARED is not None:
        _SHARED[key] = dataset
    if dataset.notice:
        print(dataset.notice, file=sys.stderr, flush=True)
    for warning in dataset.label_warnings():
        print(f"cnndsl: warning: {warning}", file=sys.stderr, flush=True)
    return dataset


# --- compare --------------------------------------------------------------------------


@dataclass
class CompareResult:
    """One row per model (trained, rejected or interrupted), and the files written."""

    rows: list[dict]
    results: dict[str, TrainResult]
    errors: dict[str, SpecError]
    directory: Path | None
    files: list[Path] = field(default_factory=list)
    on_rejected: Callable[[dict[str, SpecError]], None] | None = field(default=None, repr=False)

    @property
    def table(self) -> str:
        return records.compare_text(self.rows)


@dataclass(frozen=True)
class Entry:
    """One model of a comparison: its label in the table, its run folder, its spec."""

    label: str
    folder: str
    spec: Spec


def compare(
    specs: Sequence[Spec] | Sequence[tuple[str, Spec]],
    data: str = "mnist",
    *,
    output: str | Path | None = None,
    verbose: int | str = "auto",
    quiet: bool = True,
    save: bool = True,
    cluster: Cluster | None = None,
    on_rejected: Callable[[dict[str, SpecError]], None] | None = None,
    **recipe: Any,
) -> CompareResult:
    """Train several specs under one recipe and tabulate them as the notebook did.

    ``specs`` are spec texts or ``(label, text)`` pairs; a text is labelled by
    itself, shortened. A spec that fails its check is a ``rejected`` row with its
    error and the others still train. Keyword arguments are ``train``'s recipe
    settings (epochs, batch_size, optimizer, backend, ...). ``on_rejected`` is given
    the rejections (label -> error) once every spec is checked, before any trains.
    """
    settings = Recipe(data=data, **recipe)
    entries = entries_of(specs)
    errors = _prechecked(entries, data)
    directory = run_dir("\n".join(spec_text(e.spec) for e in entries), output, "compare-") if save else None
    dataset = _load_data(settings)
    writer = cluster is None or cluster.is_writer
    created = records.first_missing(directory) if directory is not None else None
    if directory is not None and writer:
        make_output_dir(directory)
    result = CompareResult([], {}, errors, directory, on_rejected=on_rejected)
    try:
        _train_each(entries, settings, dataset, result, verbose, quiet, cluster)
    except TrainingInterrupted as stop:
        stop.compared = result
        raise
    finally:
        _finish(result, created, writer)
    return result


def _finish(result: CompareResult, created: Path | None, writer: bool) -> None:
    """Write the table so far; a directory the comparison made and left empty goes.

    In a data-parallel cluster only process 0 writes; the others' models were saved
    to scratch directories (saving is a collective step) that are gone already.
    """
    if not writer:
        result.directory = None
    if result.directory is None:
        return
    if result.rows:
        result.files = records.write_compare(result.directory, result.rows)
    else:
        records.remove_created(result.directory, created)


def entries_of(specs) -> list[Entry]:
    """Label and folder for each spec, both made unique (``name``, ``name-2``, ...)."""
    entries, labels, folders = [], {}, {}
    for index, item in enumerate(specs, 1):
        label, spec = item if isinstance(item, tuple) else (_label(item), item)
        folder = label if _safe_name(label) else f"model{index}"
        entries.append(Entry(_unique(label, labels), _unique(folder, folders), spec))
    return entries


def _unique(name: str, seen: dict[str, int]) -> str:
    seen[name] = seen.get(name, 0) + 1
    return name if seen[name] == 1 else f"{name}-{seen[name]}"


def _label(spec: Spec) -> str:
    """A model from a file by its name; a spec written out by its (shortened) text."""
    if isinstance(spec, Source):
        return spec.label if spec.name != "<spec>" else records.short_label(spec.text)
    return records.short_label(spec)


def _safe_name(label: str) -> bool:
    """Whether a label can name a folder as it is: letters, digits, ``_``, ``-``, ``.``."""
    return bool(label) and label[0] != "." and all(c.isalnum() or c in "_-." for c in label) and label.isascii()


def _prechecked(entries: list[Entry], data: str) -> dict[str, SpecError]:
    errors = {}
    for entry in entries:
        try:
            precheck(entry.spec, data)
        except SpecError as error:
            errors[entry.label] = error
    return errors


def _train_each(entries: list[Entry], settings: Recipe, dataset: Dataset, result: CompareResult, *run) -> None:
    """Check every spec against the data first, so that a rejection is known before any training starts."""
    checked = {}
    for entry in entries:
        if entry.label not in result.errors:
            try:
                checked[entry.label] = check_against_data(entry.spec, dataset)
            except SpecError as error:
                result.errors[entry.label] = error
    if result.errors and result.on_rejected is not None:
        result.on_rejected(result.errors)
    for entry in entries:
        if entry.label in result.errors:
            result.rows.append(records.rejected_row(entry.label, entry.folder, result.errors[entry.label]))
        else:
            _train_one(entry, checked[entry.label], settings, dataset, result, *run)


def _train_one(entry: Entry, checked, settings, dataset, result: CompareResult, verbose, quiet, cluster) -> None:
    print(f"cnndsl: training {entry.label} ({checked.total_params:,} parameters)", file=sys.stderr, flush=True)
    directory = RunDirectory(result.directory / entry.folder) if result.directory else None
    started = time.perf_counter()
    try:
        trained = fit(checked, settings, dataset, directory, verbose, cluster=cluster, quiet=quiet)
    except TrainingInterrupted as stop:
        result.rows.append(records.row(entry.label, entry.folder, checked, "interrupted", history=stop.history))
        raise
    result.results[entry.label] = trained
    values = records.row(entry.label, entry.folder, checked, "trained", history=trained.history)
    values.update(
        test_accuracy=trained.metrics["test_accuracy"],
        test_loss=trained.metrics["test_loss"],
        seconds_per_epoch=trained.metrics["seconds_per_epoch"],
        seconds=round(time.perf_counter() - started, 1),
    )
    result.rows.append(values)
