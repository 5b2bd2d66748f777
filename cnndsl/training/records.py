"""What a run leaves on disk and what ``compare`` tabulates: metrics, summary, rows.

The files themselves are written by :mod:`cnndsl.outputs` (atomically); this module
decides what they hold. No framework is imported at module level.
"""

from __future__ import annotations

import platform
import textwrap
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path

from cnndsl.datasets import Dataset
from cnndsl.errors import SpecError
from cnndsl.model import CheckedModel
from cnndsl.outputs import (
    CHECKPOINT,
    PICTURE,
    clean_number,
    plot_loss,
    plot_val_losses,
    write_atomic,
    write_csv,
    write_json,
    write_text,
)
from cnndsl.report import summary_table
from cnndsl.splits import VALIDATION_SEED, held_out
from cnndsl.tasks import CLASSIFY, Task
from cnndsl.training.recipe import Recipe
from cnndsl.version import __version__

SCORE = "{:.4f}"
"""Test accuracy and loss as printed everywhere: four decimals."""


def score(value: object) -> str:
    """A test score as printed: ``0.8300``; ``n/a`` where there is none (NaN)."""
    return SCORE.format(value) if isinstance(value, (int, float)) else "n/a"


# --- run directories ------------------------------------------------------------------


def first_missing(path: Path) -> Path | None:
    """The outermost directory of ``path`` that does not exist yet: what making it creates."""
    path = path.absolute()
    missing = None
    while not path.exists() and path != path.parent:
        missing, path = path, path.parent
    return missing


def remove_created(path: Path, created: Path | None) -> None:
    """Remove ``path`` and its parents up to ``created``, each only if empty.

    ``created`` is what :func:`first_missing` said before the run made ``path``:
    a directory the user made (an empty ``--output``) is never removed.
    """
    if created is None:
        return
    path, created = path.absolute(), created.absolute()
    while path == created or created in path.parents:
        with suppress(OSError):
            path.rmdir()
        if path == created:
            return
        path = path.parent


# --- metrics.json and summary.txt -----------------------------------------------------


def make_metrics(checked: CheckedModel, recipe: Recipe, dataset: Dataset, recorder, run, scores) -> dict:
    """``metrics.json``: the test scores, the model's size, the recipe and the timings."""
    history = recorder.history
    seconds = [row["seconds"] for row in history]
    named = {f"test_{name}": clean_number(scores.get(name)) for name in checked.task.metrics}
    return {
        **named,
        "test_loss": clean_number(scores.get("loss")),
        "total_params": checked.total_params,
        "trainable_params": checked.trainable_params,
        "non_trainable_params": checked.non_trainable_params,
        "epochs": len(history),
        "seconds_per_epoch": round(sum(seconds) / len(seconds), 3) if seconds else None,
        "best_epoch": recorder.best_epoch,
        "best_val_loss": clean_number(recorder.best_val_loss) if recorder.best_epoch else None,
        "data": dataset.describe(),
        "validation": validation_of(recipe, dataset),
        "recipe": asdict(recipe),
        "backend": run.backend,
        "replicas": run.replicas,
        "processes": run.processes,
        "spec": checked.source,
        "versions": versions(run.backend),
    }


def validation_of(recipe: Recipe, dataset) -> dict:
    """Which examples validated after each epoch (``metrics.json``'s ``validation``)."""
    if recipe.validation_split is None:
        return {"split": "test", "images": dataset.test_count}
    held = len(held_out(dataset.train_count, recipe.validation_split, recipe.seed)[1])
    seed = VALIDATION_SEED if recipe.seed is None else recipe.seed
    return {"split": "held-out", "fraction": recipe.validation_split, "seed": seed, "images": held}


def validation_text(recipe: Recipe, dataset) -> str:
    """The summary's line on validation: the notebook's test split, or training data held out."""
    if recipe.validation_split is None:
        return (
            "Validation: on the test split after each epoch, as the notebook's recipe does "
            "(--validation-split F holds out training data instead)"
        )
    held = validation_of(recipe, dataset)
    return (
        f"Validation: {held['images']:,} training images ({recipe.validation_split:g}) held out with seed "
        f"{held['seed']}; the test split is scored once, at the end"
    )


def versions(backend: str) -> dict:
    """The versions that made a run: cnndsl, Keras, the backend's framework, Python."""
    import importlib

    import keras

    framework = importlib.import_module(backend)
    return {
        "cnndsl": __version__,
        "keras": keras.__version__,
        backend: framework.__version__,
        "python": platform.python_version(),
    }


def results_text(metrics: Mapping[str, object], task: Task = CLASSIFY) -> str:
    """The results part of ``summary.txt``, scores in the one number format."""
    scores = "".join(f"{label}: {score(value)}\n" for label, value in task.score_lines(metrics))
    return (
        f"{scores}"
        f"Epochs: {metrics['epochs']}, {metrics['seconds_per_epoch']} s per epoch; "
        f"best validation loss {score(metrics['best_val_loss'])} at epoch {metrics['best_epoch']}\n"
    )


def interrupted_text(
    recipe: Recipe, epochs: int, best_epoch: int | None, checkpoint: Path | None, how="interrupted"
) -> str:
    """The results part of ``summary.txt`` for a run that did not finish."""
    note = f"{how.capitalize()} after {epochs} of {_plural(recipe.epochs, 'epoch')}; no test evaluation.\n"
    if checkpoint:
        note += f"Best model so far: {checkpoint.name} (epoch {best_epoch}).\n"
    return note


def _plural(n: int, noun: str) -> str:
    """``1 epoch``, ``3 epochs``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _seed(seed: int | None) -> str:
    return "no seed (each run differs)" if seed is None else f"seed {seed}"


def summary_text(checked: CheckedModel, recipe: Recipe, dataset: Dataset, results: str, backend: str = "") -> str:
    """``summary.txt``: the spec, its layer table, the recipe, the data and the results."""
    lr = "optimizer default" if recipe.learning_rate is None else f"{recipe.learning_rate:g}"
    on = f", Keras on {backend}" if backend else ""
    return (
        f"Spec:\n{checked.source.strip()}\n\n{summary_table(checked)}\n\n"
        f"Recipe: {recipe.optimizer} (learning rate {lr}), {checked.task.loss_text}, batch {recipe.batch_size}, "
        f"{_plural(recipe.epochs, 'epoch')}, {_seed(recipe.seed)}{on}\n"
        f"Data: {dataset.name} from {dataset.source}: {dataset.train_count:,} training and "
        f"{dataset.test_count:,} test images of {'x'.join(map(str, dataset.input_shape))}, "
        f"{dataset.num_classes} classes{_class_names(dataset)}\n{validation_text(recipe, dataset)}\n\n"
        f"{results}"
    )


def _class_names(dataset) -> str:
    """`` (cat, dog)`` for data whose classes have names; nothing for numbered ones."""
    return f" ({', '.join(dataset.class_names)})" if dataset.class_names else ""


def save_run(directory: Path, model, checked, recipe, dataset, history, metrics, keep=None) -> list[Path]:
    """The trained model, the loss plot, the summary and the metrics, each written atomically.

    ``keep`` (a ``rundir.Keep``) may leave out the model and the loss plot; None keeps both.
    """
    from cnndsl.backends.svg import write_svg

    title = plot_title(checked.source)
    files = [write_atomic(directory / "model.keras", model.save)] if keep is None or keep.model else []
    files.append(write_svg(checked, directory / PICTURE, title=title))
    if keep is None or keep.loss_plot:
        files.append(plot_loss(directory / "loss.png", history, title))
    files += [
        write_text(
            directory / "summary.txt",
            summary_text(checked, recipe, dataset, results_text(metrics, checked.task), metrics["backend"]),
        ),
        write_json(directory / "metrics.json", metrics),
    ]
    earlier = [directory / name for name in ("history.csv", "history.json", CHECKPOINT)]
    return [path for path in earlier if path.exists()] + files


TITLE_WIDTH, TITLE_LINES = 90, 4


def plot_title(text: str) -> str:
    """The spec without comments, wrapped to the plot's width; cut only past four lines."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    wrapped = textwrap.wrap(" ".join(lines), TITLE_WIDTH, break_on_hyphens=False)
    if len(wrapped) > TITLE_LINES:
        wrapped = [*wrapped[: TITLE_LINES - 1], wrapped[TITLE_LINES - 1][: TITLE_WIDTH - 3] + "..."]
    return "\n".join(wrapped)


# --- compare: rows and tables ---------------------------------------------------------

COMPARE_FIELDS = ("model", "parameters", "test_accuracy", "test_loss", "seconds_per_epoch", "status", "folder", "error")
COMPARE_HEADERS = ("Model", "Parameters", "Test accuracy", "Test loss", "Seconds/epoch")


def compare_score(task: Task) -> tuple[str, str]:
    """The test score a comparison of this task shows: ``("test_accuracy", "Test accuracy")``, or mean IoU, MAE."""
    return f"test_{task.metrics[-1]}", task.score_lines({})[-1][0]


def _compare_fields(task: Task, selection=None) -> tuple[str, ...]:
    fields = (*COMPARE_FIELDS[:2], compare_score(task)[0], *COMPARE_FIELDS[3:])
    if selection is None:
        return fields
    return (*fields[:2], selection.metric, *fields[2:6], "selected", *fields[6:])


def compare_headers(task: Task, selection=None) -> tuple[str, ...]:
    """The table's columns; a comparison that selects adds the validation metric it selects on."""
    headers = (*COMPARE_HEADERS[:2], compare_score(task)[1], *COMPARE_HEADERS[3:])
    return headers if selection is None else (*headers[:2], selection.header, *headers[2:])


LABEL_WIDTH = 40


def short_label(text: str) -> str:
    """A spec's text on one line, shortened for a table's first column."""
    line = " ".join(text.split())
    return line if len(line) <= LABEL_WIDTH else line[: LABEL_WIDTH - 3] + "..."


def row(label: str, folder: str, checked: CheckedModel | None, status: str, error: str = "", history=None) -> dict:
    return {
        "model": label,
        "parameters": checked.total_params if checked else None,
        "test_accuracy": None,
        "test_loss": None,
        "seconds_per_epoch": None,
        "status": status,
        "folder": folder if status != "rejected" else "",
        "error": error,
        "history": history or [],
    }


def rejected_row(label: str, folder: str, error: SpecError) -> dict:
    first = error.diagnostics[0] if error.diagnostics else None
    where = f"{first.span.line}:{first.span.column}: " if first and first.span else ""
    return row(label, folder, None, "rejected", f"{where}{error.message}")


def compare_cells(values: Mapping[str, object], task: Task = CLASSIFY, selection=None) -> list[str]:
    """One table row as text: a model that did not train shows its status; the selected one is marked ``*``."""
    extra = [""] if selection is not None else []
    if values["status"] != "trained":
        return [str(values["model"]), _count(values.get("parameters")), str(values["status"]), "", "", *extra]
    cells = [
        str(values["model"]),
        _count(values["parameters"]),
        score(values.get(compare_score(task)[0])),
        score(values["test_loss"]),
        f"{values['seconds_per_epoch']:.1f}",
    ]
    if selection is None:
        return cells
    marked = f"* {cells[0]}" if values.get("selected") else cells[0]
    return [marked, cells[1], score(values.get(selection.metric)), *cells[2:]]


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else ""


def compare_notes(
    rows: Sequence[Mapping[str, object]], task: Task = CLASSIFY, selection=None, marker: str = "*"
) -> list[str]:
    """One line per model with an error, to print under the table; then what validated and what was selected."""
    errors = [f"{values['model']}: {values['status']}: {values['error']}" for values in rows if values.get("error")]
    return errors + (selection.notes(rows, compare_score(task), marker) if selection is not None else [])


def compare_text(rows: Sequence[Mapping[str, object]], task: Task = CLASSIFY, selection=None) -> str:
    """The notebook's table, as a box of text for the terminal, errors on lines below it.

    A comparison that selects (``selection``, :mod:`cnndsl.training.selection`) has the
    validation metric as a column, the selected model marked ``*``, and lines saying
    which examples validated and which model was selected.
    """
    headers = compare_headers(task, selection)
    cells = [list(headers)] + [compare_cells(values, task, selection) for values in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(line, widths)) for line in cells]
    body = [f"| {line} |" for line in lines]
    return "\n".join([rule, body[0], rule, *body[1:], rule, *compare_notes(rows, task, selection)])


def compare_markdown(rows: Sequence[Mapping[str, object]], task: Task = CLASSIFY, selection=None) -> str:
    """The same table in Markdown (``compare.md``), errors (and a selection's lines) as a list under it.

    A trained model's name links to the picture in its run folder; the selected one is bold.
    """
    headers = compare_headers(task, selection)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for values in rows:
        cells = [cell.replace("|", "\\|").replace("\n", " ") for cell in compare_cells(values, task, selection)]
        name = str(values["model"]).replace("|", "\\|").replace("\n", " ")
        if values["status"] == "trained" and values.get("folder"):
            cells[0] = f"[{name}]({values['folder']}/{PICTURE})"
        if values.get("selected"):
            cells[0] = f"**{cells[0] if values.get('folder') else name}** (selected)"
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {note}" for note in compare_notes(rows, task, selection, "bold")]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def classes_line(class_names: Sequence[str] | None) -> str:
    """The line under a comparison naming the data's classes, for data that names them."""
    return f"\nClasses: {', '.join(class_names)}" if class_names else ""


def write_compare(
    directory: Path, rows: Sequence[Mapping[str, object]], class_names=None, task: Task = CLASSIFY, selection=None
) -> list[Path]:
    """``compare.csv``, ``compare.md``, and ``compare.png`` when some model has a curve."""
    curves = {values["model"]: values["history"] for values in rows if values["history"]}
    table = [{key: value for key, value in values.items() if key != "history"} for values in rows]
    files = [
        write_csv(directory / "compare.csv", table, _compare_fields(task, selection)),
        write_text(
            directory / "compare.md",
            compare_markdown(table, task, selection) + (classes_line(class_names) + "\n" if class_names else ""),
        ),
    ]
    if curves:
        files.append(plot_val_losses(directory / "compare.png", curves))
    return files
