"""``cnndsl compare --select``: the best model on held-out training data, never on the test split."""

from __future__ import annotations

import csv
import json
import math

import pytest
from helpers import run_cli

from cnndsl.datasets import load_data
from cnndsl.errors import RecipeError
from cnndsl.splits import SELECTION_SPLIT, held_out
from cnndsl.tasks import CLASSIFY, REGRESS, SEGMENT
from cnndsl.training import compare
from cnndsl.training.selection import Selection, choose, resolve

SPECS = ["MP(4)->FL()->DN(16)", "CN(8,3)->MP(2)->FL()->DN(32)", "MP(2)->CN(4,3)->GAP()"]
"""The best on validation is neither the first given, nor the last, nor the smallest."""
FLAGS = ["--data", "sample", "--limit", "256", "--epochs", "2", "--seed", "3"]


@pytest.fixture(scope="module")
def selected(tmp_path_factory):
    """One comparison that selects, run as a user runs it: its output and files."""
    out = tmp_path_factory.mktemp("select") / "cmp"
    result = run_cli("compare", *SPECS, *FLAGS, "--select", "--output", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((out / "compare.csv").open()))
    runs = {row["model"]: _run(out / row["folder"]) for row in rows}
    return result, out, rows, runs


def _run(folder):
    return json.loads((folder / "metrics.json").read_text()), json.loads((folder / "history.json").read_text())


def _best(rows, runs, metric="val_accuracy", sign=-1):
    """The model the rule picks from each run's own record: best last-epoch score, fewer parameters, order given."""
    keyed = [(sign * runs[r["model"]][1][-1][metric], int(r["parameters"]), i, r["model"]) for i, r in enumerate(rows)]
    return min(keyed)[3]


@pytest.mark.slow
def test_select_marks_the_model_with_the_best_held_out_validation_accuracy(selected):
    result, out, rows, runs = selected
    best = _best(rows, runs)
    assert best == SPECS[1]  # the seed makes it so: a rule that took the first, last or smallest would fail
    assert [row["selected"] for row in rows] == [str(row["model"] == best) for row in rows]
    for row in rows:  # the column is each model's last epoch, as its history recorded it
        assert float(row["val_accuracy"]) == pytest.approx(runs[row["model"]][1][-1]["val_accuracy"], abs=1e-6)
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [cell.strip() for cell in table[0].strip("| ").split(" | ")] == [
        "Model", "Parameters", "Val accuracy (held out)", "Test accuracy", "Test loss", "Seconds/epoch",
    ]  # fmt: skip
    assert [line for line in table[1:] if line.startswith("| * ")] == [
        next(line for line in table[1:] if line.startswith(f"| * {best} "))
    ]
    quoted = f"{runs[best][0]['test_accuracy']:.4f}"
    assert f"Selected (*): {best}, the highest validation accuracy" in result.stdout
    assert f"its test accuracy, {quoted}, is the score to quote" in result.stdout
    assert "Traceback" not in result.stderr


def test_compare_md_marks_the_selected_model_and_says_which_split_validated(selected):
    _, out, rows, runs = selected
    best = next(row for row in rows if row["selected"] == "True")
    markdown = (out / "compare.md").read_text()
    assert markdown.startswith("| Model | Parameters | Val accuracy (held out) | Test accuracy |")
    assert f"| **[{best['model']}]({best['folder']}/model.svg)** (selected) |" in markdown
    assert markdown.count("(selected)") == 1
    held = runs[best["model"]][0]["validation"]["images"]
    assert f"- Validation: {held:,} training images held out (0.1, seed 3), the same for every model" in markdown


@pytest.mark.slow
def test_every_model_validated_on_the_same_held_out_training_images(selected):
    _, _, rows, runs = selected
    data = load_data("sample", 256)
    train, held = held_out(data.train_count, SELECTION_SPLIT, 3)
    for metrics, _ in runs.values():
        assert metrics["validation"] == {"split": "held-out", "fraction": 0.1, "seed": 3, "images": len(held)}
    assert not set(train.tolist()) & set(held.tolist())
    test_images = {image.tobytes() for image in data.x_test}
    assert not any(data.x_train[i].tobytes() in test_images for i in held)  # none of them is a test image


@pytest.mark.slow
def test_the_selected_models_validation_score_is_its_accuracy_on_the_held_out_images(selected):
    import keras

    _, out, rows, runs = selected
    best = next(row for row in rows if row["selected"] == "True")
    data = load_data("sample", 256)
    _, held = held_out(data.train_count, SELECTION_SPLIT, 3)
    model = keras.saving.load_model(out / best["folder"] / "model.keras")
    predicted = model.predict(data.x_train[held], verbose=0).argmax(axis=1)
    accuracy = float((predicted == data.y_train[held]).mean())
    assert accuracy == pytest.approx(float(best["val_accuracy"]), abs=1e-6)
    tested = float((model.predict(data.x_test, verbose=0).argmax(axis=1) == data.y_test).mean())
    assert tested == pytest.approx(runs[best["model"]][0]["test_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_select_from_python_by_a_named_metric_goes_the_metrics_way():
    specs = [("wide", "MP(2)->FL()->DN(16)"), ("narrow", "MP(4)->FL()->DN(16)"), ("bad", "CN(8->FL()")]
    result = compare(specs, data="sample", limit=128, epochs=1, seed=0, save=False, verbose=0, select="val_loss")
    losses = {label: trained.history[-1]["val_loss"] for label, trained in result.results.items()}
    assert result.selected == min(losses, key=losses.get)
    assert (result.selection.metric, result.selection.goal) == ("val_loss", "minimize")
    assert [row["selected"] for row in result.rows] == [row["model"] == result.selected for row in result.rows]
    assert result.rows[2]["status"] == "rejected" and result.rows[2]["val_loss"] is None
    for trained in result.results.values():
        assert trained.metrics["validation"]["split"] == "held-out"
    assert "Val loss (held out)" in result.table and f"| * {result.selected} " in result.table
    assert "the lowest validation loss" in result.table and "bad: rejected: 1:5:" in result.table
    html = result._repr_html_()
    assert "Val loss (held out)" in html and f"* {result.selected}" in html and "the score to quote" in html


@pytest.mark.slow
def test_without_select_compare_keeps_the_notebooks_recipe():
    result = compare([("tiny", "MP(4)->FL()->DN(16)")], data="sample", limit=128, epochs=1, save=False, verbose=0)
    assert result.selection is None and result.selected is None
    assert result.results["tiny"].metrics["validation"] == {"split": "test", "images": 2000}
    assert "selected" not in result.rows[0] and "val_accuracy" not in result.rows[0]
    assert "held out" not in result.table and "Selected" not in result.table and "* tiny" not in result.table


# --- refusals: one line, exit 2, nothing written --------------------------------------


@pytest.mark.parametrize(
    "flags, said",
    [
        (["--select", "--validation-split", "test"], "must not be the test split they are scored on"),
        (["--validation-split", "test", "--select=val_loss"], "must not be the test split they are scored on"),
        (["--select=val_bogus"], "choose a validation metric, val_accuracy, val_loss (classify);"),
        (["--select=test_accuracy"], "selecting on a test score is what --select prevents"),
        (
            ["--select=val_mean_iou"],
            "choose a validation metric, val_accuracy, val_loss (classify); not 'val_mean_iou'",
        ),
    ],
)
def test_select_refuses_the_test_split_and_unknown_metrics(flags, said, tmp_path):
    out = tmp_path / "cmp"
    result = run_cli("compare", *SPECS[:2], "--data", "sample", "--epochs", "1", *flags, "--output", str(out))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()] and said in result.stderr
    assert result.stderr.startswith("cnndsl: error: --select") and "Traceback" not in result.stderr
    assert not out.exists() and "training" not in result.stderr


def test_select_before_the_specs_says_how_to_write_it():
    result = run_cli("compare", "--select", *SPECS[:2], "--data", "sample")
    assert result.returncode == 2 and "give the specs first, or write --select=METRIC" in result.stderr


@pytest.mark.parametrize(
    "select, validation_split, said",
    [
        (True, "test", "must not be the test split"),
        ("val_bogus", None, "not 'val_bogus'"),
        ("val_mae", None, "(classify); not 'val_mae'"),
        (3, None, "True or the name of a validation metric"),
    ],
)
def test_select_from_python_raises_the_recipes_error(select, validation_split, said, tmp_path):
    with pytest.raises(RecipeError, match=".*") as caught:
        compare(
            [SPECS[1]], data="sample", epochs=1, select=select, validation_split=validation_split, output=tmp_path / "c"
        )
    assert said in str(caught.value) and not (tmp_path / "c").exists()


# --- the rule, table-driven -----------------------------------------------------------


def _rows(*triples):
    return [{"model": m, "status": "trained", "parameters": p, "val_accuracy": v} for m, p, v in triples]


@pytest.mark.parametrize(
    "rows, expected",
    [
        (_rows(("a", 10, 0.5), ("b", 10, 0.7), ("c", 5, 0.6)), "b"),  # the highest score
        (_rows(("a", 10, 0.7), ("b", 5, 0.7), ("c", 5, 0.6)), "b"),  # a tie: fewer parameters
        (_rows(("a", 5, 0.7), ("b", 5, 0.7)), "a"),  # still a tie: the order given
        (_rows(("a", 5, math.nan), ("b", 9, 0.1)), "b"),  # no score is no candidate
        (_rows(("a", 5, None)) + [{"model": "r", "status": "rejected", "parameters": None}], None),
    ],
)
def test_the_selection_rule(rows, expected):
    assert choose(Selection("val_accuracy", "maximize", "accuracy"), rows).selected == expected


def test_each_task_selects_on_its_own_validation_score_by_default():
    assert [(s.metric, s.goal, s.header) for s in (resolve(True, t) for t in (CLASSIFY, SEGMENT, REGRESS))] == [
        ("val_accuracy", "maximize", "Val accuracy (held out)"),
        ("val_mean_iou", "maximize", "Val mean IoU (held out)"),
        ("val_loss", "minimize", "Val loss (held out)"),
    ]
    assert resolve("val_mae", REGRESS).shown == "MAE" and resolve("val_pixel_accuracy", SEGMENT).goal == "maximize"


@pytest.mark.slow
def test_a_segmentation_is_selected_on_its_held_out_mean_iou():
    specs = [("thin", "CN(2,3,padding=same)"), ("wide", "CN(6,3,padding=same)->CN(4,3,padding=same)")]
    result = compare(specs, data="shapes", limit=64, epochs=1, seed=0, save=False, verbose=0, select=True)
    scores = {label: trained.history[-1]["val_mean_iou"] for label, trained in result.results.items()}
    ranked = sorted(scores, key=lambda label: (-scores[label], result.results[label].metrics["total_params"]))
    assert result.task == "segment" and result.selection.metric == "val_mean_iou"
    assert result.selected == ranked[0]
    assert "Val mean IoU (held out)" in result.table and "the highest validation mean IoU" in result.table
    assert "its test mean IoU" in result.table
