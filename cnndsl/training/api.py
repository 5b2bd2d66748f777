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

from cnndsl import ast, hooks
from cnndsl.checker import check, parse
from cnndsl.datasets import KNOWN, Dataset, known_shape, load_data, peek_labels
from cnndsl.errors import DataError, SpecError, SpecShapeError, UsageError
from cnndsl.images import ImageFolder
from cnndsl.inputs import Source
from cnndsl.masks import MaskShard
from cnndsl.model import CheckedModel
from cnndsl.outputs import check_output_dir, default_run_dir, make_output_dir
from cnndsl.splits import SELECTION_SPLIT
from cnndsl.tasks import CLASSIFY, Task, task_named
from cnndsl.training import records
from cnndsl.training.recipe import Cluster, Recipe
from cnndsl.training.rundir import EVERYTHING, Keep, RunDirectory
from cnndsl.training.runner import TrainingInterrupted, TrainResult, fit, settled_masks
from cnndsl.training.selection import Selection, choose, requested, resolve

Spec = str | Source | CheckedModel
"""A spec's text, a model read from a file (``cnndsl.inputs.read_models``), or a checked model."""


def check_spec(spec: Spec, input_shape=None, num_classes=None, task=None) -> CheckedModel:
    """Check a spec text or a model from a file (with its file's blocks).

    A checked model is taken as it is where it was checked for this input shape, class count
    and task (a sweep's candidate, checked for the sweep's data); else its text is checked again.
    """
    if isinstance(spec, CheckedModel):
        if _checked_for(spec, input_shape, num_classes, task):
            return spec
        return check(spec.source, input_shape, num_classes, task)
    if isinstance(spec, Source):
        return spec.check(input_shape, num_classes, task=task)
    return check(spec, input_shape, num_classes, task)


def _checked_for(model: CheckedModel, input_shape, num_classes, task) -> bool:
    """Whether a checked model is what checking its text for these settings would give."""
    return (
        (input_shape is None or tuple(model.input_shape[1:]) == tuple(input_shape))
        and (num_classes is None or model.num_classes == num_classes)
        and task_named(task).name == task_named(model.task).name
    )


def spec_text(spec: Spec) -> str:
    """The text that names a spec's run directory."""
    if isinstance(spec, CheckedModel):
        return spec.source
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
    validation_split: float | None = None,
    test_split: float | None = None,
    input_shape: tuple[int, int, int] | None = None,
    cluster: Cluster | None = None,
    output: str | Path | None = None,
    verbose: int | str = "auto",
    quiet: bool = True,
    save: bool = True,
    on_epoch: Callable[[dict], bool] | None = None,
    task: str | Task | None = None,
    keep: Keep = EVERYTHING,
) -> TrainResult:
    """Compile ``spec``, train it with the notebook's recipe on ``data``, evaluate it.

    ``task`` (a name in :data:`cnndsl.tasks.TASKS`) is what the model learns; by default the data's
    labels say (integers per image: classify; integer masks: segment; floats: regress).

    Writes the run's files to ``output`` (default ``runs/<timestamp>-<spec hash>``)
    unless ``save`` is false. ``backend`` is Keras's (tensorflow, jax, torch);
    ``cluster`` says where a ``distribute="data-parallel"`` run's processes meet.
    ``validation_split`` holds out that fraction of the training data to validate on
    after each epoch (None: validate on the test split, as the notebook does). ``data``
    may be a folder of images with a subfolder per class: ``test_split`` is then the
    fraction of its files tested on (without a ``test/`` folder), and the images are
    resized to the spec's ``IN(...)``, else ``input_shape``, else the first image's size.
    ``quiet`` keeps the frameworks' native start-up logging off the terminal.
    ``on_epoch`` sees each finished epoch's history row; returning True stops training
    there (the run is then evaluated and saved as it stands). ``keep`` says which files
    the run directory keeps (``cnndsl.training.rundir``: everything, or a sweep trial's).
    Raises SpecError, DataError, RecipeError, OutputError, or TrainingInterrupted
    (a KeyboardInterrupt) on Ctrl-C.
    """
    recipe = Recipe(
        epochs, batch_size, optimizer, learning_rate, seed, data, limit, distribute, backend,
        validation_split, test_split, input_shape,
    )  # fmt: skip
    task = task_named(task) if task is not None else None
    refuse_several_inputs(spec, task)
    prechecked = precheck(spec, recipe.data, task, shard_of(recipe, cluster), recipe.test_split)
    refuse_several_outputs(prechecked)
    directory = RunDirectory.planned(spec_text(spec), output, keep=keep) if save else None
    dataset = _load_data(recipe, task, declared_input(spec, prechecked), cluster, quiet)
    checked = check_against_data(spec, dataset)
    live = live_plot(_label(spec))
    observe = live.observer(_label(spec), on_epoch) if live else on_epoch
    verbose = 0 if live and verbose == "auto" else verbose  # the plot stands for Keras's progress bar
    result = fit(checked, recipe, dataset, directory, verbose, cluster=cluster, quiet=quiet, on_epoch=observe)
    if live:
        live.finish(result._repr_html_())
    return result


def live_plot(title: str):
    """In a notebook, a plot of the losses redrawn after every epoch; else None.

    The plot is the notebook's (:mod:`cnndsl.notebook`), which gives it to training through
    :mod:`cnndsl.hooks`. IPython is never imported here: outside a kernel that has loaded it,
    nothing changes.
    """
    if "IPython" not in sys.modules:
        return None
    return hooks.plot(title)


def precheck(
    spec: Spec, data: str, task: Task | None = None, shard: tuple[int, int] | None = None,
    test_split: float | None = None,
) -> CheckedModel | None:  # fmt: skip
    """Check the spec before any data is read, against the data's shape where it is known.

    For data given as a path the shape is unknown until it is read, so a shape
    error is left for the check against the data; other errors are raised now. An
    ``.npz`` of masks says its task and image size in its arrays' headers: a model
    whose output is not the masks' size is refused before the arrays are read.

    A data-parallel process (``shard``) looks at the first image of its own shard of a mask
    folder (split by ``test_split``); the folder's mode is the first image's of the whole
    folder, which it does not open, so a shape error that the other mode would not give is
    left for the check once the processes have agreed on the data.
    """
    shape = known_shape(data)
    peeked = KNOWN.get(data) or (peek_labels(data, shard, test_split) if shape is None else None)
    if peeked is not None and (task is None or task == peeked[1]) and peeked[1] != CLASSIFY:
        if shard is not None and data not in KNOWN:
            return _checked_in_either_mode(spec, peeked[0], peeked[1])
        return check_spec(spec, peeked[0], task=peeked[1])
    try:
        return check_spec(spec, *shape, task=task) if shape else check_spec(spec, task=task)
    except SpecShapeError:
        if shape:
            raise
        return None


def _checked_in_either_mode(spec: Spec, shape: tuple[int, int, int], task: Task) -> CheckedModel | None:
    """The spec checked on grayscale or RGB images of this size: a shape error only when both give it."""
    height, width, channels = shape
    try:
        return check_spec(spec, shape, task=task)
    except SpecShapeError as error:
        refused = error
    try:
        check_spec(spec, (height, width, 4 - channels), task=task)
    except SpecShapeError:
        raise refused from None
    return None


def refuse_several_inputs(spec: Spec, task: Task | None = None) -> None:
    """A spec of several inputs (``IN(...) as ir`` after the first) is refused before its check against the data,
    whose shape is one input's; a spec that does not check as written is left to that check to say why."""
    if "IN(" not in spec_text(spec):
        return
    try:
        checked = check_spec(spec, task=task)
    except SpecError:
        return
    refuse_several_outputs(checked)


def refuse_several_outputs(checked: CheckedModel | None) -> None:
    """Training takes a model of one input and one output: one ending in ``OUT(...)``, or one of several
    inputs (``IN(...) as ir`` after the first), is refused before any data is read."""
    if checked is not None and checked.inputs:
        names = ", ".join(checked.input_names)
        raise UsageError(
            f"training a model of several inputs ({names}) is not supported yet: "
            "train a model of one input (one IN(...), first)"
        )
    if checked is not None and checked.outputs:
        names = ", ".join(checked.output_names)
        raise UsageError(
            f"training a model of several outputs ({names}) is not supported yet: "
            "train a model of one output (the spec without OUT(...))"
        )


def check_against_data(spec: Spec, dataset: Dataset | ImageFolder) -> CheckedModel:
    """Check the spec with the data's input shape and class count.

    A spec whose last layer reads as a head for another class count (a written
    ``DN(10)`` on data with 15 classes) is an error at that layer: it would
    silently become a hidden relu layer under an appended ``DN(15)`` head.
    """
    checked = check_spec(spec, dataset.input_shape, dataset.num_classes, dataset.task)
    refuse_several_outputs(checked)
    problem = dataset.task.written_head_problem(checked.layers, dataset.num_classes)
    if problem is not None:
        raise SpecShapeError([problem], checked.source)
    return checked


def run_dir(spec: str, output: str | Path | None, kind: str = "") -> Path:
    """Where a run writes: ``output``, else a new ``runs/<timestamp>-<hash>``; creates nothing."""
    directory = Path(output) if output is not None else default_run_dir(spec, kind)
    check_output_dir(directory)
    return directory


_SHARED: dict[tuple, Dataset | ImageFolder] | None = None
"""Data sets read once for all the runs inside :func:`shared_data` (a sweep's trials)."""


@contextmanager
def shared_data():
    """Within this block every run of one process reads each data set (by name, limit, task, size) once."""
    global _SHARED
    outer, _SHARED = _SHARED, ({} if _SHARED is None else _SHARED)
    try:
        yield
    finally:
        _SHARED = outer


def declared_input(spec: Spec, checked: CheckedModel | None) -> tuple | None:
    """The input size the spec declares with ``IN(...)`` (sizes may be None), else None."""
    if checked is None:
        return None
    if isinstance(spec, Source) and spec.embedded is not None:
        if spec.embedded.input_shape is not None:
            return tuple(spec.embedded.input_shape)
        text, chain = spec.embedded.text, None
    elif isinstance(spec, CheckedModel):
        text, chain = spec.source, None
    else:
        text, chain = (spec.text, spec.chain) if isinstance(spec, Source) else (spec, None)
    elements = (chain if chain is not None else parse(text)).elements
    first = elements[0] if elements else None
    return tuple(checked.input_shape[-3:]) if isinstance(first, ast.Call) and first.code == "IN" else None


def shard_of(recipe: Recipe, cluster: Cluster | None) -> tuple[int, int] | None:
    """A data-parallel process's index and the count of processes; None outside a cluster."""
    if cluster is None or recipe.distribute != "data-parallel":
        return None
    return cluster.process_id, cluster.num_processes


def _load_data(
    recipe: Recipe, task: Task | None = None, declared: tuple | None = None, cluster: Cluster | None = None,
    quiet: bool = True,
) -> Dataset | ImageFolder:  # fmt: skip
    """The recipe's data, telling the user of any fallback (the sample for MNIST).

    An image folder's images take the size the spec declares, else ``--input-shape``'s; in a
    data-parallel cluster each process reads only its shard of an image or mask folder's
    files. A mask folder's processes then meet to agree on what depends on every file (the
    class count: the largest value in any mask).
    Inside :func:`shared_data` a data set read before is reused, without its notices again.
    """
    wanted = declared if declared is not None else recipe.input_shape
    shard = shard_of(recipe, cluster)
    key = (recipe.data, recipe.limit, task, wanted, recipe.test_split, recipe.input_shape, shard)
    if _SHARED is not None and key in _SHARED:
        return _SHARED[key]
    dataset = load_data(recipe.data, recipe.limit, task, input_shape=wanted, test_split=recipe.test_split, shard=shard)
    if recipe.input_shape is not None and not isinstance(dataset, ImageFolder):
        raise DataError(
            f"{recipe.data}: --input-shape sizes an image folder's images; these arrays have their own size"
        )
    if isinstance(dataset, MaskShard):
        print(dataset.notice, file=sys.stderr, flush=True)
        dataset = settled_masks(dataset, recipe, cluster, quiet)
    elif dataset.notice:
        print(dataset.notice, file=sys.stderr, flush=True)
    if _SHARED is not None:
        _SHARED[key] = dataset
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
    class_names: tuple[str, ...] | None = None
    """The classes of data that names them (an image folder)."""
    task: Task = CLASSIFY
    """What the models were trained for: it names the table's test score."""
    selection: Selection | None = None
    """With ``select``: the validation metric, the held-out examples, and the model chosen on them."""

    @property
    def selected(self) -> str | None:
        """The label of the model selected on validation (``select``); None without selection or a score."""
        return self.selection.selected if self.selection is not None else None

    @property
    def table(self) -> str:
        return records.compare_text(self.rows, self.task, self.selection) + records.classes_line(self.class_names)

    def _repr_html_(self) -> str | None:
        """In a notebook: the comparison table (drawn by :mod:`cnndsl.notebook`)."""
        return (self._repr_mimebundle_() or {}).get("text/html")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict | None:
        return hooks.shown("comparison", self)


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
    task: str | Task | None = None,
    select: bool | str = False,
    **recipe: Any,
) -> CompareResult:
    """Train several specs under one recipe and tabulate them as the notebook did.

    ``specs`` are spec texts or ``(label, text)`` pairs; a text is labelled by
    itself, shortened. A spec that fails its check is a ``rejected`` row with its
    error and the others still train. Keyword arguments are ``train``'s recipe
    settings (epochs, batch_size, optimizer, backend, ...). ``on_rejected`` is given
    the rejections (label -> error) once every spec is checked, before any trains.
    ``task`` is ``train``'s: by default the data's labels say.

    ``select`` (True, or a validation metric such as ``"val_loss"``) ranks the models on
    training data held out for validation (``validation_split``, default 0.1; the test
    split is refused) and marks the best in ``selected``, the rows and the table
    (:mod:`cnndsl.training.selection`). Without it, validation is on the test split
    unless ``validation_split`` says otherwise, as the notebook's recipe does.
    """
    task = task_named(task) if task is not None else None
    asked = requested(select, task, recipe.get("validation_split"))
    if asked is not None and recipe.get("validation_split") is None:
        recipe["validation_split"] = SELECTION_SPLIT
    settings = Recipe(data=data, **recipe)
    entries = entries_of(specs)
    errors = _prechecked(entries, data, task, shard_of(settings, cluster), settings.test_split)
    directory = run_dir("\n".join(spec_text(e.spec) for e in entries), output, "compare-") if save else None
    dataset = _load_data(settings, task, cluster=cluster, quiet=quiet)
    choice = resolve(asked, dataset.task) if asked is not None else None
    if choice is not None:
        choice.validation = records.validation_of(settings, dataset)
    writer = cluster is None or cluster.is_writer
    created = records.first_missing(directory) if directory is not None else None
    if directory is not None and writer:
        make_output_dir(directory)
    result = CompareResult(
        [], {}, errors, directory, on_rejected=on_rejected, class_names=dataset.class_names, task=dataset.task
    )
    live = live_plot("compare")
    verbose = 0 if live and verbose == "auto" else verbose
    try:
        _train_each(entries, settings, dataset, result, verbose, quiet, cluster, live)
        if choice is not None:
            _select(result, choice)
    except TrainingInterrupted as stop:
        stop.compared = result
        raise
    finally:
        _finish(result, created, writer)
    if live:
        live.finish(result._repr_html_())
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
        result.files = records.write_compare(
            result.directory, result.rows, result.class_names, result.task, result.selection
        )
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
    return records.short_label(spec.source if isinstance(spec, CheckedModel) else spec)


def _safe_name(label: str) -> bool:
    """Whether a label can name a folder as it is: letters, digits, ``_``, ``-``, ``.``."""
    return bool(label) and label[0] != "." and all(c.isalnum() or c in "_-." for c in label) and label.isascii()


def _prechecked(entries: list[Entry], data: str, task: Task | None = None, *where) -> dict[str, SpecError]:
    errors = {}
    for entry in entries:
        try:
            precheck(entry.spec, data, task, *where)
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


def _train_one(entry: Entry, checked, settings, dataset, result: CompareResult, verbose, quiet, cluster, live) -> None:
    print(f"cnndsl: training {entry.label} ({checked.total_params:,} parameters)", file=sys.stderr, flush=True)
    directory = RunDirectory(result.directory / entry.folder) if result.directory else None
    started = time.perf_counter()
    try:
        observe = live.observer(entry.label) if live else None
        trained = fit(checked, settings, dataset, directory, verbose, cluster=cluster, quiet=quiet, on_epoch=observe)
    except TrainingInterrupted as stop:
        result.rows.append(records.row(entry.label, entry.folder, checked, "interrupted", history=stop.history))
        raise
    result.results[entry.label] = trained
    values = records.row(entry.label, entry.folder, checked, "trained", history=trained.history)
    score = records.compare_score(result.task)[0]  # test_accuracy, test_mean_iou, test_mae
    values[score] = trained.metrics.get(score)
    values.update(
        test_loss=trained.metrics["test_loss"],
        seconds_per_epoch=trained.metrics["seconds_per_epoch"],
        seconds=round(time.perf_counter() - started, 1),
    )
    result.rows.append(values)


def _select(result: CompareResult, choice: Selection) -> None:
    """Each trained row's last validation score, and the best model marked (``selected``)."""
    for values in result.rows:
        history = values["history"]
        values[choice.metric] = history[-1].get(choice.metric) if values["status"] == "trained" and history else None
    result.selection = choose(choice, result.rows)
    for values in result.rows:
        values["selected"] = values["model"] == result.selection.selected
