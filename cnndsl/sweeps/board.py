"""The leaderboard: ``sweep.csv``, ``sweep.md`` and ``sweep.png``, rewritten after every trained trial.

Rows are the trained trials of the whole study (every worker's), best first by the
first objective. The ``pareto`` column marks Optuna's own Pareto front
(``study.best_trials``) in a study of several objectives, and the trials no other beats
on both the objective and the parameter count in a study of one. The plot draws the
trials on the first two objectives (the objective and the parameter count for one),
the front joined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from cnndsl.search import budget_words
from cnndsl.sweeps.plan import DUPLICATE, OBJECTIVES, REJECTED, SURPLUS, TRAINED, Plan, objectives_of, score_fields
from cnndsl.tasks import CLASSIFY, Task

BEST_SHOWN = 5
FIELDS = ("trial", "candidate", "hash", "params", "macs", "val_accuracy", "val_loss", "test_accuracy",
          "seconds_per_epoch", "seconds", "seed", "pareto", "directory")  # fmt: skip
LABELS = {"val_accuracy": "validation accuracy", "val_loss": "validation loss", "test_accuracy": "test accuracy",
          "params": "parameters", "macs": "MACs", "seconds_per_epoch": "seconds per epoch"}  # fmt: skip


def fields(task: Task) -> tuple[str, ...]:
    """``sweep.csv``'s columns: FIELDS for a classifier, the task's scores in place of accuracy's otherwise."""
    return (*FIELDS[:5], *score_fields(task), *FIELDS[8:])


def label(name: str) -> str:
    """An objective as an axis names it: ``validation mean IoU``."""
    if name in LABELS:
        return LABELS[name]
    split, _, metric = name.partition("_")
    shown = metric.replace("_", " ").replace("iou", "IoU").replace("mae", "MAE")
    return f"{'validation' if split == 'val' else 'test'} {shown}"


def primary(task: Task) -> str:
    """The score a leaderboard shows: accuracy, mean IoU, MAE."""
    return task.metrics[-1]


SKIPPED_WHY = {
    REJECTED: "rejected by the checker or a budget (never trained; told to Optuna as infeasible)",
    DUPLICATE: "the same architecture as a trained trial",
    SURPLUS: "asked for after the last trial was handed out",
    "pruned": "trained, then stopped by the pruner (counted among the trials)",
    "lost": "its worker stopped answering (no heartbeat); the candidate was queued for another worker",
    "interrupted": "interrupted (its folder, if any, ends in -interrupted; the candidate may train again)",
    "failed": "failed (its folder, if any, ends in -failed)",
    "unfinished": "not finished (still training elsewhere, or its process stopped)",
}


def leaderboard(plan: Plan, study) -> list[dict]:
    """Every trained trial of the study (all workers'), best first."""
    from optuna.trial import TrialState

    rows = [
        dict(t.user_attrs["row"])
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.user_attrs.get("kind") == TRAINED and "row" in t.user_attrs
    ]
    return sorted(rows, key=lambda row: _rank_key(row, plan.objective, plan.task))


def _rank_key(row: dict, objective: str, task: Task = CLASSIFY) -> tuple:
    """Best first by ``objective``; a trial without a value ranks last whichever way the study optimises."""
    value = row.get(objective)
    if value is None or value != value:
        return (1, 0.0, row["trial"])
    sign = 1 if objectives_of(task)[objective] == "minimize" else -1
    return (0, sign * value, row["trial"])


def front_numbers(plan: Plan, study, rows: Sequence[Mapping]) -> set[int]:
    """The trial numbers on the Pareto front: Optuna's ``best_trials`` for several objectives."""
    if len(plan.objectives) > 1:
        shown = {row["trial"] for row in rows}
        return {t.number for t in study.best_trials if t.number in shown}
    return {row["trial"] for row in pareto_front(rows, (plan.objective, "params"), objectives_of(plan.task))}


def best_numbers(plan: Plan, study, rows: Sequence[Mapping], count: int) -> set[int]:
    """The first ``count`` rows by the first objective and the front: the trials whose models are kept."""
    return {row["trial"] for row in rows[:count]} | front_numbers(plan, study, rows)


def write_leaderboard(plan: Plan, study, plot: bool = True) -> list[dict]:
    """``sweep.csv``, ``sweep.md`` and (where ``plot``) ``sweep.png`` in the sweep directory; the rows."""
    from cnndsl.outputs import write_csv, write_text

    rows = leaderboard(plan, study)
    front = front_numbers(plan, study, rows) if rows else set()
    for row in rows:
        row["pareto"] = int(row["trial"] in front)
    write_csv(plan.directory / "sweep.csv", rows, fields(plan.task))
    write_text(plan.directory / "sweep.md", sweep_markdown(plan, study, rows))
    if rows and plot:
        axes = plan.objectives[:2] if len(plan.objectives) > 1 else (plan.objective, "params")
        plot_pareto(plan.directory / "sweep.png", rows, axes, objectives_of(plan.task))
    return rows


def sweep_markdown(plan: Plan, study, rows: list[dict]) -> str:
    """The leaderboard as Markdown, with the study, storage (password masked) and rejections."""
    pruning = f"; {plan.pruner} pruning" if plan.pruner else ""
    score = primary(plan.task)
    shown = score.replace("_", " ").replace("iou", "IoU").replace("mae", "MAE")
    lines = [
        f"# Sweep {plan.study_name}",
        "",
        f"Storage: `{plan.storage.masked}`; sampler {plan.sampler}; objective {', '.join(plan.objectives)}"
        f"{pruning}; {len(rows)} of {plan.trials} trials trained. Pareto front: *.",
        "",
        f"| # | trial | candidate | hash | params | MACs | val {shown} | test {shown} | s/epoch | seed | front |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rank, row in enumerate(rows, 1):
        cells = [
            str(rank), str(row["trial"]), f"`{row['candidate']}`", row["hash"], f"{row['params']:,}",
            f"{row['macs']:,}", _fixed(row[f"val_{score}"]), _fixed(row[f"test_{score}"]),
            _fixed(row["seconds_per_epoch"], 1), "" if row.get("seed") is None else str(row["seed"]),
            "*" if row.get("pareto") else "",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    skipped = skipped_trials(study, (row["trial"] for row in rows))
    if skipped:
        lines += ["", "Trial numbers not in the table:", ""] + [f"- {line}" for line in skipped]
    rejected = _rejections(study)
    if rejected:
        lines += ["", "Proposals the checker rejected (never trained):", ""]
        lines += [f"- {count:,} x {at}: {message}" for (message, at), count in rejected]
    return "\n".join(lines) + "\n"


def _kind(trial) -> str:
    """Why a trial is not on the board, from its kind and state."""
    kind = trial.user_attrs.get("kind") or "unfinished"
    state = getattr(getattr(trial, "state", None), "name", "")
    if kind == TRAINED and state == "PRUNED":
        return "pruned"
    if kind == TRAINED and state == "FAIL":
        return "lost"
    return kind


def skipped_trials(study, shown: Iterable[int]) -> list[str]:
    """Why the trial numbers missing from the leaderboard are missing: one line per reason."""
    shown = set(shown)
    by_kind: dict[str, list[int]] = {}
    for trial in study.get_trials(deepcopy=False):
        if trial.number not in shown:
            by_kind.setdefault(_kind(trial), []).append(trial.number)
    ordered = sorted(by_kind.items(), key=lambda item: item[1][0])
    return [
        f"trial{'s' * (len(numbers) > 1)} {_numbers(numbers)}: {SKIPPED_WHY.get(kind, kind)}"
        for kind, numbers in ordered
    ]


def _numbers(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in sorted(numbers)[:12])
    return shown + (f" and {len(numbers) - 12} more" if len(numbers) > 12 else "")


def _fixed(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _rejections(study) -> list[tuple[tuple[str, str], int]]:
    counts: dict[tuple[str, str], int] = {}
    for trial in study.get_trials(deepcopy=False):
        error = trial.user_attrs.get("error")
        if trial.user_attrs.get("kind") == REJECTED and error:
            key = (budget_words(error["message"]), error["at"])
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])


def pareto_front(
    rows: Sequence[Mapping], axes: Sequence[str] = ("val_accuracy", "params"), directions: Mapping = OBJECTIVES
) -> list[Mapping]:
    """The rows no other row beats on both ``axes`` (each the way the study would optimise it, as ``directions``
    says: a classifier's by default), in order of the second."""
    first, second = axes
    up = [1 if directions[name] == "maximize" else -1 for name in axes]
    scored = [row for row in rows if row.get(first) is not None and row.get(second) is not None]
    front, best = [], None
    for row in sorted(scored, key=lambda r: (-up[1] * r[second], -up[0] * r[first])):
        value = up[0] * row[first]
        if best is None or value > best:
            front.append(row)
            best = value
    return front


def plot_pareto(
    path: Path,
    rows: Sequence[Mapping],
    axes: Sequence[str] = ("val_accuracy", "params"),
    directions: Mapping = OBJECTIVES,
) -> Path:
    """The trained trials on two objectives (the second across), the Pareto front marked and joined."""
    from cnndsl.outputs import new_figure, png_bytes, write_bytes

    y, x = axes
    figure = new_figure()
    plot = figure.add_subplot()
    plot.scatter([r[x] for r in rows], [r[y] for r in rows], color="tab:blue", label="trial")
    marked = [r for r in rows if r.get("pareto")] or pareto_front(rows, axes, directions)
    marked = sorted((r for r in marked if r.get(x) is not None and r.get(y) is not None), key=lambda r: r[x])
    plot.plot([r[x] for r in marked], [r[y] for r in marked], "o-", color="tab:red", label="Pareto front")
    if x in ("params", "macs"):
        plot.set_xscale("log")
    plot.set_xlabel(label(x))
    plot.set_ylabel(label(y))
    plot.set_title(f"Sweep: {label(y)} against {label(x)} ({len(rows)} trials)")
    plot.grid(True)
    plot.legend()
    return write_bytes(path, png_bytes(figure))
