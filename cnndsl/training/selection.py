"""Choosing one model of a comparison (``compare --select``) on held-out validation data.

A comparison that selects validates every model on the same examples held out of the
training data (``SELECTION_SPLIT`` unless ``validation_split`` says another fraction),
ranks the models by a validation metric of the task (its first by default: validation
accuracy, mean IoU, loss) read from each model's last epoch (the model the test split
scores), and names the best. Ties go to fewer parameters, then to the order given. The
test split is never what selects: validating on it is refused. No framework is imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cnndsl.splits import SELECTION_SPLIT
from cnndsl.tasks import TASKS, Task
from cnndsl.training.recipe import RecipeError

TIE_RULE = "ties go to fewer parameters, then to the order given"


@dataclass
class Selection:
    """How a comparison selects (the metric and which way is better), and, once trained, what it chose."""

    metric: str
    """A validation metric of the task, as the history names it: ``val_accuracy``."""
    goal: str
    """``maximize`` or ``minimize``."""
    shown: str
    """The metric in words, without its split: ``accuracy``, ``mean IoU``, ``loss``."""
    validation: dict | None = None
    """Which examples validated (``metrics.json``'s ``validation``): the same for every model."""
    selected: str | None = None
    """The label of the chosen model; None when no model has a validation score."""
    value: float | None = None
    """The chosen model's validation score."""

    @property
    def header(self) -> str:
        """The table's column: ``Val accuracy (held out)``."""
        return f"Val {self.shown} (held out)"

    def notes(self, rows: Sequence[Mapping[str, object]], test_score: tuple[str, str], marker: str = "*") -> list[str]:
        """The lines under the table: which examples validated, and which model was chosen (``marker``) and its test score."""
        held = self.validation or {}
        fraction = f" ({held['fraction']:g}, seed {held['seed']})" if "fraction" in held else ""
        lines = [
            f"Validation: {held.get('images', 0):,} training images held out{fraction}, the same for every model; "
            "the test split is scored once, at the end"
        ]
        better = "highest" if self.goal == "maximize" else "lowest"
        if self.selected is None:
            return [*lines, f"Selected: none (no model has a validation {self.shown})"]
        chosen = next(row for row in rows if row["model"] == self.selected)
        test = chosen.get(test_score[0])
        quoted = f"{test:.4f}" if isinstance(test, (int, float)) else "n/a"
        return [
            *lines,
            f"Selected ({marker}): {self.selected}, the {better} validation {self.shown} ({self.value:.4f}; {TIE_RULE}); "
            f"its {test_score[1][0].lower()}{test_score[1][1:]}, {quoted}, is the score to quote",
        ]


def selectable(task: Task) -> dict[str, str]:
    """The metrics a comparison of this task may select on, and which way: its validation objectives."""
    return {name: goal for name, goal in task.objectives.items() if name.startswith("val_")}


def requested(select: bool | str | None, task: Task | None, validation_split: object) -> str | bool | None:
    """Check ``select`` before any data is read: the metric named (or True for the task's default), else None.

    RecipeError for a metric no task (or not the given task) validates on, and for
    validating on the test split, which is what selecting on validation prevents.
    """
    if select is None or select is False:
        return None
    if select is not True and not isinstance(select, str):
        raise RecipeError(f"--select: True or the name of a validation metric, not {select!r}")
    if validation_split == "test":
        raise RecipeError(
            "--select ranks the models on validation, which must not be the test split they are scored on: "
            f"give --validation-split a fraction (default {SELECTION_SPLIT:g}), not test"
        )
    if isinstance(select, str):
        _metric(select, [task] if task is not None else list(TASKS.values()))
    return select


def resolve(select: str | bool, task: Task) -> Selection:
    """The selection for data of this task: the named metric, or the task's default (its first)."""
    known = selectable(task)
    metric = next(iter(known)) if select is True else _metric(str(select), [task])
    return Selection(metric, known[metric], metric_words(task, metric))


def _metric(name: str, tasks: Sequence[Task]) -> str:
    """``name`` when one of ``tasks`` validates on it, else RecipeError naming the choices."""
    if any(name in selectable(task) for task in tasks):
        return name
    choices = "; ".join(f"{', '.join(selectable(task))} ({task})" for task in tasks)
    why = ": selecting on a test score is what --select prevents" if name.startswith("test_") else ""
    if not name.startswith(("val_", "test_")):  # ``--select A.cnn B.cnn`` reads A.cnn as the metric
        why = " (--select takes the word after it as its metric: give the specs first, or write --select=METRIC)"
    raise RecipeError(f"--select: choose a validation metric, {choices}; not {name!r}{why}")


def metric_words(task: Task, metric: str) -> str:
    """``val_mean_iou`` -> ``mean IoU``, in the words the task's test scores use."""
    name = metric.removeprefix("val_")
    if name not in task.metrics:
        return name.replace("_", " ")
    label = task.score_lines({})[1 + task.metrics.index(name)][0]
    return label.removeprefix("Test ")


def choose(selection: Selection, rows: Sequence[Mapping[str, object]]) -> Selection:
    """Mark the best trained row: by the metric, then fewer parameters, then the order given.

    >>> rows = [{"model": "a", "status": "trained", "parameters": 9, "val_loss": 0.5},
    ...         {"model": "b", "status": "trained", "parameters": 4, "val_loss": 0.5},
    ...         {"model": "c", "status": "rejected", "parameters": None}]
    >>> choose(Selection("val_loss", "minimize", "loss"), rows).selected
    'b'
    """
    sign = -1.0 if selection.goal == "maximize" else 1.0
    ranked = [
        (sign * float(row[selection.metric]), row["parameters"], index, row)
        for index, row in enumerate(rows)
        if row["status"] == "trained" and _finite(row.get(selection.metric))
    ]
    best = min(ranked, key=lambda item: item[:3], default=None)
    if best is not None:
        selection.selected, selection.value = str(best[3]["model"]), float(best[3][selection.metric])
    return selection


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
