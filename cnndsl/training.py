"""Train specs with the notebook's recipe: ``train`` for one, ``compare`` for several.

The recipe (Adam, categorical cross-entropy, batch 128, 12 epochs, validation on the
test split each epoch, then one evaluation) is a :class:`Recipe`. Every step that can
fail on bad input runs before TensorFlow is imported, in this order: the recipe's
values, the spec, the output directory, the data, the spec against the data. Only
then is TensorFlow imported, the model built and trained.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cnndsl import __version__
from cnndsl.compiler import check
from cnndsl.datasets import Dataset, known_shape, load_data
from cnndsl.errors import SpecError, SpecShapeError
from cnndsl.inputs import Source, UsageError
from cnndsl.model import CheckedModel
from cnndsl.outputs import (
    CHECKPOINT,
    check_output_dir,
    clean_number,
    compare_text,
    default_run_dir,
    discard_run,
    make_output_dir,
    plot_loss,
    remove_if_empty,
    remove_temporaries,
    write_atomic,
    write_compare,
    write_json,
    write_text,
)
from cnndsl.report import summary_table

OPTIMIZERS = {
    "adam": "Adam",
    "adamw": "AdamW",
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "adamax": "Adamax",
    "nadam": "Nadam",
    "ftrl": "Ftrl",
    "lion": "Lion",
}
DISTRIBUTE = ("mirrored", "multiworker")
MAX_EPOCHS = 100_000
MAX_BATCH = 1 << 20
CPU_DEVICES_ENV = "CNNDSL_CPU_DEVICES"
"""Split the CPU into this many logical devices (to try ``--distribute mirrored`` without GPUs)."""


class RecipeError(UsageError):
    """A training setting out of range: exit code 2."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; what was saved so far is named here."""

    def __init__(self, directory: Path | None, epochs: int, checkpoint: Path | None, history: list[dict]):
        super().__init__(f"interrupted after {epochs} epoch(s)")
        self.directory, self.epochs, self.checkpoint, self.history = directory, epochs, checkpoint, history
        self.compared: CompareResult | None = None
        """In ``compare``, the table so far."""


@dataclass(frozen=True)
class Recipe:
    """How to train: the notebook's settings by default."""

    epochs: int = 12
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float | None = None
    seed: int | None = None
    data: str = "mnist"
    limit: int | None = None
    distribute: str | None = None

    def __post_init__(self) -> None:
        _in_range("--epochs", self.epochs, 1, MAX_EPOCHS)
        _in_range("--batch-size", self.batch_size, 1, MAX_BATCH)
        if self.limit is not None:
            _in_range("--limit", self.limit, 1, 1 << 40)
        if self.seed is not None:
            _in_range("--seed", self.seed, 0, 2**32 - 1)
        if self.optimizer not in OPTIMIZERS:
            raise RecipeError(f"--optimizer: unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        lr = self.learning_rate
        if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and 0 < lr <= 10):
            raise RecipeError(f"--learning-rate must be a number above 0 and at most 10, got {lr!r}")
        if self.distribute is not None and self.distribute not in DISTRIBUTE:
            raise RecipeError(
                f"--distribute: unknown strategy {self.distribute!r}; choose from {', '.join(DISTRIBUTE)}"
            )


def _in_range(flag: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RecipeError(f"{flag} must be a whole number from {low:,} to {high:,}, got {value!r}")


@dataclass
class TrainResult:
    """What ``train`` returns: the trained Keras model, its history and metrics, and where they are."""

    model: Any
    history: list[dict]
    metrics: dict
    directory: Path | None
    files: list[Path] = field(default_factory=list)


# --- the library calls ----------------------------------------------------------------


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
    output: str | Path | None = None,
    verbose: int | str = "auto",
    save: bool = True,
) -> TrainResult:
    """Compile ``spec``, train it with the notebook's recipe on ``data``, evaluate it.

    Writes the run's files to ``output`` (default ``runs/<timestamp>-<spec hash>``)
    unless ``save`` is false. Raises SpecError, DataError, RecipeError, OutputError,
    or TrainingInterrupted (a KeyboardInterrupt) on Ctrl-C.
    """
    recipe = Recipe(epochs, batch_size, optimizer, learning_rate, seed, data, limit, distribute)
    precheck(spec, recipe.data)
    directory = _run_dir(spec_text(spec), output) if save else None
    dataset = _load_data(recipe)
    checked = check_spec(spec, dataset.input_shape, dataset.num_classes)
    return fit(checked, recipe, dataset, directory, verbose)


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


def _run_dir(spec: str, output: str | Path | None, kind: str = "") -> Path:
    directory = Path(output) if output is not None else default_run_dir(spec, kind)
    check_output_dir(directory)
    return directory


def _load_data(recipe: Recipe) -> Dataset:
    """The recipe's data, telling the user of any fallback (the sample for MNIST)."""
    dataset = load_data(recipe.data, recipe.limit)
    if dataset.notice:
        _notice(dataset.notice)
    return dataset


def _notice(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- TensorFlow -----------------------------------------------------------------------


def fit(checked: CheckedModel, recipe: Recipe, dataset: Dataset, directory: Path | None, verbose="auto") -> TrainResult:
    """Build, train and evaluate a checked model; the TensorFlow half of ``train``."""
    tf = setup_tensorflow(recipe.seed)
    strategy = make_strategy(tf, recipe.distribute)
    if recipe.distribute:
        _notice(f"cnndsl: {type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)")
    model = _compiled(checked, recipe, strategy)
    directory, scratch = _writable_dir(directory, strategy)
    try:
        return _fit_and_save(model, checked, recipe, dataset, directory, strategy, verbose)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


_configured = False


def setup_tensorflow(seed: int | None):
    """Import TensorFlow once (quietly), split the CPU if asked, and seed everything."""
    global _configured
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    if not _configured:
        _configured = True
        _split_cpu(tf)
    if seed is not None:
        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
    return tf


def _split_cpu(tf) -> None:
    """``CNNDSL_CPU_DEVICES=N``: N logical CPU devices, so mirrored training runs without GPUs."""
    value = os.environ.get(CPU_DEVICES_ENV, "").strip()
    if not value:
        return
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise RecipeError(f"{CPU_DEVICES_ENV} must be a whole number from 1 to 64, got {value!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    config = [tf.config.LogicalDeviceConfiguration() for _ in range(int(value))]
    try:
        tf.config.set_logical_device_configuration(cpu, config)
    except RuntimeError as error:  # devices already initialised in this process
        raise RecipeError(f"{CPU_DEVICES_ENV}: set it before TensorFlow starts ({error})") from None


def make_strategy(tf, distribute: str | None):
    """The tf.distribute strategy: the default, mirrored over local devices, or multi-worker."""
    if distribute == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    if distribute == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _is_chief(strategy) -> bool:
    """Whether this process writes the outputs (always, except a non-chief worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def _writable_dir(directory: Path | None, strategy) -> tuple[Path | None, Path | None]:
    """The run directory, or for a non-chief worker a scratch directory dropped afterwards."""
    if directory is None or _is_chief(strategy):
        return directory, None
    scratch = Path(tempfile.mkdtemp(prefix="cnndsl-worker-"))
    return scratch, scratch


def _compiled(checked: CheckedModel, recipe: Recipe, strategy):
    """The Keras model, built and compiled inside the strategy's scope."""
    import keras

    from cnndsl.backends.keras import build

    with strategy.scope():
        model = build(checked)
        kwargs = {} if recipe.learning_rate is None else {"learning_rate": recipe.learning_rate}
        optimizer = getattr(keras.optimizers, OPTIMIZERS[recipe.optimizer])(**kwargs)
        model.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


def one_hot(labels, classes: int):
    """Integer labels as the one-hot rows categorical cross-entropy takes."""
    import numpy as np

    return np.eye(classes, dtype="float32")[labels]


def _fit_and_save(model, checked, recipe, dataset, directory, strategy, verbose) -> TrainResult:
    from cnndsl.callbacks import RunRecorder

    if directory is not None:
        make_output_dir(directory)
    recorder = RunRecorder(directory)
    y_train, y_test = one_hot(dataset.y_train, dataset.num_classes), one_hot(dataset.y_test, dataset.num_classes)
    try:
        model.fit(
            dataset.x_train,
            y_train,
            batch_size=recipe.batch_size,
            epochs=recipe.epochs,
            verbose=verbose,
            validation_data=(dataset.x_test, y_test),
            callbacks=[recorder],
        )
        test_loss, test_accuracy = model.evaluate(dataset.x_test, y_test, verbose=0, batch_size=recipe.batch_size)
    except KeyboardInterrupt:
        _after_interrupt(checked, recipe, dataset, directory, recorder)
        raise TrainingInterrupted(directory, len(recorder.history), recorder.checkpoint, recorder.history) from None
    except BaseException:
        if directory is not None:
            discard_run(directory)
        raise
    metrics = make_metrics(checked, recipe, dataset, recorder, strategy, test_loss, test_accuracy)
    files = _saved(directory, model, checked, recipe, dataset, recorder.history, metrics) if directory else []
    return TrainResult(model, recorder.history, metrics, directory, files)


def _saved(directory, *run) -> list[Path]:
    """``save_run``, discarding the whole run if a file cannot be written (a full disk)."""
    try:
        return save_run(directory, *run)
    except Exception:
        discard_run(directory)
        raise


def _after_interrupt(checked, recipe, dataset, directory, recorder) -> None:
    """Leave a summary beside what the epochs saved, or no directory if nothing was."""
    if directory is None:
        return
    remove_temporaries(directory)
    if not recorder.history:
        remove_if_empty(directory)
        return
    note = f"Interrupted after {len(recorder.history)} of {recipe.epochs} epochs; no test evaluation.\n"
    if recorder.checkpoint:
        note += f"Best model so far: {recorder.checkpoint.name} (epoch {recorder.best_epoch}).\n"
    write_text(directory / "summary.txt", summary_text(checked, recipe, dataset, note))


# --- what a run writes ----------------------------------------------------------------


def make_metrics(checked, recipe, dataset, recorder, strategy, test_loss, test_accuracy) -> dict:
    """``metrics.json``: the test scores, the model's size, the recipe and the timings."""
    history = recorder.history
    seconds = [row["seconds"] for row in history]
    return {
        "test_accuracy": clean_number(test_accuracy),
        "test_loss": clean_number(test_loss),
        "total_params": checked.total_params,
        "trainable_params": checked.trainable_params,
        "non_trainable_params": checked.non_trainable_params,
        "epochs": len(history),
        "seconds_per_epoch": round(sum(seconds) / len(seconds), 3) if seconds else None,
        "best_epoch": recorder.best_epoch,
        "best_val_loss": clean_number(recorder.best_val_loss) if recorder.best_epoch else None,
        "data": dataset.describe(),
        "recipe": asdict(recipe),
        "replicas": int(strategy.num_replicas_in_sync),
        "spec": checked.source,
        "versions": _versions(),
    }


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return {
        "cnndsl": __version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
    }


def save_run(directory: Path, model, checked, recipe, dataset, history, metrics) -> list[Path]:
    """The trained model, the loss plot, the summary and the metrics, each written atomically."""
    results = (
        f"Test loss: {metrics['test_loss']}\nTest accuracy: {metrics['test_accuracy']}\n"
        f"Epochs: {metrics['epochs']}, {metrics['seconds_per_epoch']} s per epoch; "
        f"best validation loss {metrics['best_val_loss']} at epoch {metrics['best_epoch']}\n"
    )
    files = [
        write_atomic(directory / "model.keras", model.save),
        plot_loss(directory / "loss.png", history, _first_line(checked.source)),
        write_text(directory / "summary.txt", summary_text(checked, recipe, dataset, results)),
        write_json(directory / "metrics.json", metrics),
    ]
    earlier = [directory / name for name in ("history.csv", "history.json", CHECKPOINT)]
    return [path for path in earlier if path.exists()] + files


def summary_text(checked: CheckedModel, recipe: Recipe, dataset: Dataset, results: str) -> str:
    """``summary.txt``: the spec, its layer table, the recipe, the data and the results."""
    lr = "optimizer default" if recipe.learning_rate is None else f"{recipe.learning_rate:g}"
    return (
        f"Spec:\n{checked.source.strip()}\n\n{summary_table(checked)}\n\n"
        f"Recipe: {recipe.optimizer} (learning rate {lr}), categorical cross-entropy, batch {recipe.batch_size}, "
        f"{recipe.epochs} epochs, seed {recipe.seed}\n"
        f"Data: {dataset.name} from {dataset.source}: {len(dataset.x_train):,} training and "
        f"{len(dataset.x_test):,} test images of {'x'.join(map(str, dataset.input_shape))}, {dataset.num_classes} classes\n\n"
        f"{results}"
    )


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    title = " ".join(lines)
    return title if len(title) <= 80 else title[:77] + "..."


# --- compare --------------------------------------------------------------------------


@dataclass
class CompareResult:
    """One row per model (trained, rejected or interrupted), and the files written."""

    rows: list[dict]
    results: dict[str, TrainResult]
    errors: dict[str, SpecError]
    directory: Path | None
    files: list[Path] = field(default_factory=list)

    @property
    def table(self) -> str:
        return compare_text(self.rows)


def compare(
    specs: Sequence[Spec] | Sequence[tuple[str, Spec]],
    data: str = "mnist",
    *,
    output: str | Path | None = None,
    verbose: int | str = "auto",
    save: bool = True,
    **recipe: Any,
) -> CompareResult:
    """Train several specs under one recipe and tabulate them as the notebook did.

    ``specs`` are spec texts or ``(label, text)`` pairs. A spec that fails its check is
    a ``rejected`` row with its error and the others still train. Keyword arguments
    are ``train``'s recipe settings (epochs, batch_size, optimizer, ...).
    """
    settings = Recipe(data=data, **recipe)
    named = _labelled(specs)
    errors = _prechecked(named, data)
    directory = _run_dir("\n".join(spec_text(spec) for _, spec in named), output, "compare-") if save else None
    dataset = _load_data(settings)
    if directory is not None:
        make_output_dir(directory)
    result = CompareResult([], {}, errors, directory)
    try:
        _train_each(named, settings, dataset, result, verbose)
    except TrainingInterrupted as stop:
        stop.compared = result
        raise
    finally:
        if directory is not None and result.rows:
            result.files = _write_compare(result)
    return result


def _labelled(specs) -> list[tuple[str, str]]:
    """``(label, text)`` for each spec, labels made unique (``spec``, ``spec-2``, ...)."""
    named, seen = [], {}
    for index, item in enumerate(specs, 1):
        label, text = item if isinstance(item, tuple) else (_label(item, index), item)
        seen[label] = seen.get(label, 0) + 1
        named.append((label if seen[label] == 1 else f"{label}-{seen[label]}", text))
    return named


def _label(spec: Spec, index: int) -> str:
    return spec.label if isinstance(spec, Source) else f"model{index}"


def _prechecked(named: list[tuple[str, str]], data: str) -> dict[str, SpecError]:
    errors = {}
    for label, text in named:
        try:
            precheck(text, data)
        except SpecError as error:
            errors[label] = error
    return errors


def _train_each(named, settings: Recipe, dataset: Dataset, result: CompareResult, verbose) -> None:
    for label, text in named:
        if label not in result.errors:
            try:
                checked = check_spec(text, dataset.input_shape, dataset.num_classes)
            except SpecError as error:
                result.errors[label] = error
        if label in result.errors:
            result.rows.append(_rejected_row(label, result.errors[label]))
            continue
        _train_one(label, checked, settings, dataset, result, verbose)


def _train_one(label, checked, settings, dataset, result, verbose) -> None:
    _notice(f"cnndsl: training {label} ({checked.total_params:,} parameters)")
    directory = result.directory / label if result.directory else None
    started = time.perf_counter()
    try:
        trained = fit(checked, settings, dataset, directory, verbose)
    except TrainingInterrupted as stop:
        result.rows.append(_row(label, checked, "interrupted", history=stop.history))
        raise
    result.results[label] = trained
    row = _row(label, checked, "trained", history=trained.history)
    row.update(
        test_accuracy=trained.metrics["test_accuracy"],
        test_loss=trained.metrics["test_loss"],
        seconds_per_epoch=trained.metrics["seconds_per_epoch"],
        seconds=round(time.perf_counter() - started, 1),
    )
    result.rows.append(row)


def _row(label: str, checked: CheckedModel | None, status: str, error: str = "", history=None) -> dict:
    return {
        "model": label,
        "parameters": checked.total_params if checked else None,
        "test_accuracy": None,
        "test_loss": None,
        "seconds_per_epoch": None,
        "status": status,
        "error": error,
        "history": history or [],
    }


def _rejected_row(label: str, error: SpecError) -> dict:
    first = error.diagnostics[0] if error.diagnostics else None
    where = f"{first.span.line}:{first.span.column}: " if first and first.span else ""
    return _row(label, None, "rejected", f"{where}{error.message}")


def _write_compare(result: CompareResult) -> list[Path]:
    curves = {row["model"]: row["history"] for row in result.rows if row["history"]}
    rows = [{k: v for k, v in row.items() if k != "history"} for row in result.rows]
    return write_compare(result.directory, rows, curves)
