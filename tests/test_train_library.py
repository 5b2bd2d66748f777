"""``cnndsl.train`` from Python: what it returns, seeding, and a full disk mid-run."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

import cnndsl
from cnndsl import outputs
from cnndsl.cli import main
from cnndsl.training import Recipe, RecipeError, TrainingInterrupted

pytestmark = pytest.mark.slow

SMALL = "CN(8,3)->MP(2)->FL()->DN(32)"


def test_import_cnndsl_and_the_training_modules_do_not_import_tensorflow():
    code = (
        "import sys, cnndsl, cnndsl.training, cnndsl.datasets, cnndsl.outputs, cnndsl.cli; cnndsl.train; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_train_returns_the_model_history_and_metrics_and_is_seeded():
    first = cnndsl.train(SMALL, data="sample", limit=256, epochs=2, batch_size=64, seed=3, save=False, verbose=0)
    second = cnndsl.train(SMALL, data="sample", limit=256, epochs=2, batch_size=64, seed=3, save=False, verbose=0)
    assert first.model.count_params() == first.metrics["total_params"] == cnndsl.check(SMALL).total_params
    assert [row["epoch"] for row in first.history] == [1, 2] and first.directory is None
    losses = [(row["loss"], row["val_loss"]) for row in first.history]
    assert losses == [(row["loss"], row["val_loss"]) for row in second.history]
    assert first.metrics["test_loss"] == second.metrics["test_loss"]
    assert losses[1][0] < losses[0][0]  # it learns


@pytest.mark.parametrize("validation_split", [None, 0.25])
def test_the_test_scores_are_keras_s_evaluation_of_the_test_split(validation_split):
    # validated on the test split, the last epoch's validation is the test score; held out, the test split is evaluated
    import numpy as np

    result = cnndsl.train(SMALL, data="sample", limit=256, epochs=2, batch_size=64, seed=3, save=False, verbose=0,
                          validation_split=validation_split)  # fmt: skip
    data = cnndsl.load_data("sample", 256)
    scores = result.model.evaluate(data.x_test, np.eye(10)[data.y_test], batch_size=64, verbose=0, return_dict=True)
    assert result.metrics["test_accuracy"] == pytest.approx(scores["accuracy"], abs=1e-6)
    assert result.metrics["test_loss"] == pytest.approx(scores["loss"], abs=1e-6)
    last = result.history[-1]
    same = (last["val_accuracy"], last["val_loss"]) == (result.metrics["test_accuracy"], result.metrics["test_loss"])
    assert same == (validation_split is None)


def test_recipe_rejects_values_out_of_range():
    with pytest.raises(RecipeError, match="--epochs must be a whole number from 1"):
        Recipe(epochs=0)
    with pytest.raises(RecipeError, match="--batch-size"):
        Recipe(batch_size=True)
    with pytest.raises(RecipeError, match="unknown optimizer"):
        Recipe(optimizer="Adam ")
    assert Recipe() == Recipe(12, 128, "adam", None, None, "mnist", None, None, None)  # the notebook's recipe
    assert Recipe(optimizer="Adam").optimizer == Recipe(optimizer="ADAM").optimizer == "adam"  # any case, as Keras


@pytest.mark.parametrize("failing", ["history.csv", "metrics.json"])
def test_a_full_disk_is_a_clear_error_that_leaves_nothing_behind(tmp_path, monkeypatch, capsys, failing):
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "metrics.json").write_text('{"test_accuracy": 0.99}')
    fill = outputs._fill

    def disk_full(temp, data):
        if temp.name.startswith(f".{failing.split('.')[0]}-") and temp.name.endswith(failing.split(".")[1]):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fill(temp, data)

    monkeypatch.setattr(outputs, "_fill", disk_full)
    new = tmp_path / "new"
    args = ["run", SMALL, "--data", "sample", "--limit", "128", "--epochs", "1", "--output", str(new)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"cnndsl: error: {new / failing}: cannot write (No space left on device)" in err
    assert "Traceback" not in err
    assert not new.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["earlier"]
    assert json.loads((earlier / "metrics.json").read_text()) == {"test_accuracy": 0.99}


def test_ctrl_c_inside_a_write_leaves_the_epochs_so_far_and_no_temporary_file(tmp_path, monkeypatch):
    from cnndsl import callbacks

    write_history = callbacks.write_history

    def interrupted(directory, history):
        if len(history) == 2:  # as if Ctrl-C landed inside mkstemp: a temporary no one knows the name of
            (directory / ".history-x8k2.json").write_text("")
            raise KeyboardInterrupt
        write_history(directory, history)

    monkeypatch.setattr(callbacks, "write_history", interrupted)
    out = tmp_path / "run"
    (tmp_path / ".history-keep.json").write_text("not ours")
    with pytest.raises(TrainingInterrupted):
        cnndsl.train(SMALL, data="sample", limit=128, epochs=3, batch_size=64, seed=0, output=out, verbose=0)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["checkpoint.keras", "history.csv", "history.json", "summary.txt"]
    assert len(json.loads((out / "history.json").read_text())) == 1
    assert (tmp_path / ".history-keep.json").read_text() == "not ours"


def test_a_write_that_cannot_start_is_an_output_error_and_leaves_nothing(tmp_path, monkeypatch):
    def no_inodes(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs.tempfile, "mkstemp", no_inodes)
    with pytest.raises(outputs.OutputError, match="cannot write \\(No space left on device\\)"):
        outputs.write_text(tmp_path / "summary.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_output_directory_is_refused_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs.os, "access", lambda path, mode: False)
    with pytest.raises(outputs.OutputError, match="Permission denied"):
        cnndsl.train(SMALL, data="sample", output=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["run", "compare"])
def test_run_and_compare_name_a_read_only_file_system_as_draw_and_emit_do(command, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(outputs.os, "access", lambda path, mode: False)
    monkeypatch.setattr(outputs.os, "statvfs", lambda path: os.statvfs_result((0,) * 8 + (os.ST_RDONLY, 255)))
    assert main([command, SMALL, "--data", "sample", "--epochs", "1", "--output", str(tmp_path / "out")]) == 2
    assert f"cannot write in {tmp_path} ({os.strerror(errno.EROFS)})" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_ctrl_c_after_three_epochs_says_three_and_the_history_holds_three(tmp_path, monkeypatch, capsys):
    from cnndsl import callbacks

    write_history = callbacks.write_history

    def interrupted(directory, history):
        if len(history) == 4:  # Ctrl-C while the fourth epoch's files are being written
            raise KeyboardInterrupt
        write_history(directory, history)

    monkeypatch.setattr(callbacks, "write_history", interrupted)
    out = tmp_path / "run"
    args = [
        "run",
        SMALL,
        "--data",
        "sample",
        "--limit",
        "64",
        "--epochs",
        "6",
        "--batch-size",
        "64",
        "--output",
        str(out),
    ]
    assert main(args) == 130
    assert "cnndsl: interrupted after 3 epoch(s); " in capsys.readouterr().err
    assert len(json.loads((out / "history.json").read_text())) == 3
    assert "Interrupted after 3 of 6 epochs" in (out / "summary.txt").read_text()


def _interrupt_before_the_first_epoch(monkeypatch):
    from cnndsl import callbacks

    def stop(self, logs=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.RunRecorder, "on_train_begin", stop)


def test_ctrl_c_before_the_first_epoch_keeps_a_directory_the_user_made(tmp_path, monkeypatch):
    _interrupt_before_the_first_epoch(monkeypatch)
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(TrainingInterrupted):
        cnndsl.train(SMALL, data="sample", limit=64, epochs=1, output=mine, verbose=0)
    assert mine.is_dir() and list(mine.iterdir()) == []


def test_ctrl_c_before_the_first_epoch_removes_only_the_directories_the_run_made(tmp_path, monkeypatch):
    _interrupt_before_the_first_epoch(monkeypatch)
    with pytest.raises(TrainingInterrupted):
        cnndsl.train(SMALL, data="sample", limit=64, epochs=1, output=tmp_path / "a" / "b" / "run", verbose=0)
    assert list(tmp_path.iterdir()) == []


def _dataset(classes: int):
    import numpy as np

    from cnndsl.datasets import Dataset

    x, y = np.zeros((4, 28, 28, 1), "float32"), np.arange(4) % classes + (classes - 4 if classes > 4 else 0)
    return Dataset("labels", x, y, x, y, classes, "labels.npz")


@pytest.mark.parametrize(
    ("spec", "classes", "error"),
    [
        ("CN(8)->FL()->DN(10)", 15, "DN(10) reads as the head of a 10-class model, but the data has 15 classes"),
        ("CN(8)->FL()->DN(7, activation=softmax)", 15, "reads as the head of a 7-class model"),
        ("CN(8)->FL()->DN(10)", 10, None),  # the head itself
        ("CN(8)->FL()->DN(128)", 15, None),  # a hidden layer, as the notebook writes
        ("CN(8)->FL()->DN(10, activation=relu)", 15, None),  # said to be hidden
    ],
)
def test_a_written_head_for_another_class_count_is_an_error_at_that_layer(spec, classes, error):
    from cnndsl.errors import SpecError
    from cnndsl.training import check_against_data

    if error is None:
        assert check_against_data(spec, _dataset(classes)).num_classes == classes
        return
    with pytest.raises(SpecError) as caught:
        check_against_data(spec, _dataset(classes))
    assert error in caught.value.message and f"write DN({classes}) for the head" in caught.value.message
    assert caught.value.span.column == spec.index("DN") + 1


def test_the_loss_plot_has_whole_epoch_ticks_and_the_whole_spec_as_title(tmp_path, monkeypatch):
    from cnndsl.training.records import plot_title

    figures = []
    monkeypatch.setattr(outputs, "png_bytes", lambda figure: figures.append(figure) or b"")
    history = [{"epoch": e, "loss": 1.0 / e, "val_loss": 1.2 / e} for e in (1, 2, 3)]
    spec = "CN(72,(7,7)) -> CN(38,(7,7)) -> CN(20,(7,7)) -> MP(2,2) -> DP(0.25) -> FL() -> DN(128) -> DP(0.5) -> DN(10)"
    outputs.plot_loss(tmp_path / "loss.png", history, plot_title(f"# Model 1\n{spec}"))
    axes = figures[0].axes[0]
    ticks = [tick for tick in axes.get_xticks() if 1 <= tick <= 3]
    assert ticks and all(float(tick).is_integer() for tick in ticks)
    assert axes.get_title().replace("\n", " ") == spec and "..." not in axes.get_title()


@pytest.mark.parametrize("epochs", [1, 3])
def test_loss_plots_mark_each_epoch_with_a_whole_number_tick(epochs):
    history = [{"epoch": e, "loss": 1.0 / e, "val_loss": 1.2 / e} for e in range(1, epochs + 1)]
    for figure in (outputs.loss_figure(history), outputs.val_losses_figure({"a": history, "b": history})):
        axes = figure.axes[0]
        assert list(axes.get_xticks()) == list(range(1, epochs + 1))
        low, high = axes.get_xlim()
        assert low < 1 and high > epochs
        if epochs == 1:  # a single point draws no line: it must have a marker
            assert all(line.get_marker() not in (None, "None", "", " ") for line in axes.get_lines())


@pytest.mark.parametrize(("epochs", "seed", "words"), [(1, None, "1 epoch, no seed"), (3, 7, "3 epochs, seed 7")])
def test_the_summary_counts_epochs_and_says_when_there_is_no_seed(epochs, seed, words):
    from types import SimpleNamespace

    from cnndsl import check
    from cnndsl.training import Recipe, records

    data = SimpleNamespace(
        name="sample",
        source="x",
        train_count=1,
        test_count=1,
        class_names=None,
        input_shape=(28, 28, 1),
        num_classes=10,
    )
    text = records.summary_text(check(SMALL), Recipe(data="sample", epochs=epochs, seed=seed), data, "")
    assert words in text and "1 epochs" not in text and "seed None" not in text
