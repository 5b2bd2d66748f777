"""Tasks beyond a class vector: the head rule per task, segmentation and regression end to end, --task."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import cnndsl
from cnndsl import SpecError, check
from cnndsl.errors import DataError, Diagnostic, SpecShapeError, UnsupportedModel
from cnndsl.model import Layer
from cnndsl.report import architecture_hash, summary_table
from cnndsl.shapes import format_shape
from cnndsl.synthetic import shapes
from cnndsl.tasks import CLASSIFY, REGRESS, SEGMENT, TASKS, Task, task_named, task_of_labels

# --- the head rule, per task ----------------------------------------------------------------------

HEADS = [
    # (task, spec, classes, the head as checked, output shape)
    ("classify", "CN(4) -> GAP() -> DN(10)", None, "DN(10)", (None, 10)),
    ("classify", "CN(4) -> GAP() -> DN(3)", None, "DN(10, activation=softmax)", (None, 10)),
    ("classify", "CN(4) -> GAP() -> DN(3)", 3, "DN(3)", (None, 3)),
    ("segment", "CN(4, 3, padding=same) -> CN(3, 1)", 3, "CN(3, 1)", (None, 28, 28, 3)),
    ("segment", "CN(4, 3, padding=same) -> CN(3, 1)", None, "CN(3, 1)", (None, 28, 28, 3)),
    ("segment", "CN(4, 3, padding=same) -> CN(3, 3, padding=same)", None, "CN(2, 1, activation=softmax)",
     (None, 28, 28, 2)),
    ("segment", "CN(4, 3, padding=same) -> CN(3, 1, activation=softmax)", None, "CN(3, 1, activation=softmax)",
     (None, 28, 28, 3)),
    ("segment", "CN(4, 3, padding=same)", 5, "CN(5, 1, activation=softmax)", (None, 28, 28, 5)),
    ("segment", "CN(5, 3, padding=same, activation=linear) -> ACT(softmax)", None, "ACT(softmax)", (None, 28, 28, 5)),
    ("regress", "CN(4) -> GAP() -> DN(1)", None, "DN(1)", (None, 1)),
    ("regress", "CN(4) -> GAP() -> DN(3)", 3, "DN(3)", (None, 3)),
    ("regress", "CN(4) -> GAP() -> DN(3)", None, "DN(1, activation=linear)", (None, 1)),
    ("regress", "CN(4) -> GAP() -> DN(2, activation=linear)", None, "DN(2, activation=linear)", (None, 2)),
]  # fmt: skip


@pytest.mark.parametrize(("task", "spec", "classes", "head", "output"), HEADS)
def test_each_task_has_its_head_rule(task, spec, classes, head, output):
    model = check(spec, None, classes, task=task)
    last = model.layers[-1].layer
    assert last.head and last.text == head
    assert model.output_shape == output and model.task == task
    activation = last.args.get("activation", last.args.get("name"))
    assert activation == ("linear" if task == "regress" else "softmax")


HIDDEN_HEADS = [
    # (task, spec, classes, the column of the written layer warned about (None: no warning), the message's words)
    ("classify", "CN(32,3)->MP(2)->FL()->DN(128)->DN(10)->DN(5)", None, 41,
     "DN(5) is not the head: the class count is 10 (the default), so DN(10, activation=softmax) is appended after it "
     "and DN(5) becomes a hidden relu layer"),
    ("classify", "CN(32,3)->MP(2)->FL()->DN(128)->DN(10)->DN(5)", 3, 41, "the class count is 3 (given)"),
    ("classify", "CN(4) -> GAP() -> DN(10)", 15, 19, "DN(10) becomes a hidden relu layer"),
    ("classify", "CN(4) -> GAP() -> DN(5, activation=softmax)", 3, 19, "becomes a hidden softmax layer"),
    ("classify", "CN(4) -> GAP() -> DN(128)", None, None, ""),
    ("classify", "CN(4) -> GAP() -> DN(5, activation=relu)", None, None, ""),
    ("classify", "CN(4) -> GAP() -> DN(5)", 5, None, ""),
    ("segment", "CN(4, 3, padding=same) -> CN(5, 1)", 3, 27,
     "CN(5, 1) is not the head: the class count is 3 (given), so CN(3, 1, activation=softmax) is appended"),
    ("segment", "CN(4, 3, padding=same) -> CN(5, 1)", None, None, ""),
    ("segment", "CN(4, 3, padding=same) -> CN(5, 1, activation=relu)", 3, None, ""),
    ("regress", "CN(4) -> GAP() -> DN(64) -> DN(3)", None, 29,
     "DN(3) is not the head: the output count is 1 (the default), so DN(1, activation=linear) is appended"),
    ("regress", "CN(4) -> GAP() -> DN(2, activation=linear)", 3, 19, "becomes a hidden linear layer"),
    ("regress", "CN(4) -> GAP() -> DN(64)", None, None, ""),
]  # fmt: skip


@pytest.mark.parametrize(("task", "spec", "classes", "column", "words"), HIDDEN_HEADS)
def test_a_written_layer_that_reads_as_a_head_but_is_not_it_is_warned_about_where_it_is_written(
    task, spec, classes, column, words
):
    model = check(spec, None, classes, task=task)
    warnings = [d for d in model.warnings if d.code == "head-mismatch"]
    if column is None:
        assert warnings == []
        return
    (warning,) = warnings
    assert warning.severity == "warning" and (warning.span.line, warning.span.column) == (1, column)
    assert words in warning.message and "--classes" in warning.hint
    assert model.layers[-1].layer.head and not model.layers[-2].layer.head  # the rule itself is unchanged


def test_the_hidden_head_warning_says_what_makes_it_the_head_on_the_command_line(cli):
    result = cli("check", "CN(32,3)->MP(2)->FL()->DN(128)->DN(10)->DN(5)")
    assert result.returncode == 0 and "output (None, 10)" in result.stdout
    assert "<spec>:1:41: warning: DN(5) is not the head" in result.stderr
    assert "help: for 5 classes, pass --classes 5 (num_classes=5) or write DN(5, activation=softmax)" in result.stderr


def test_classification_is_the_default_and_unchanged():
    for spec in ("CN(8) -> MP(2) -> FL() -> DN(10)", "CN(8) -> GAP() -> DN(32)", "FL() -> DN(4, activation=softmax)"):
        plain, named = check(spec), check(spec, task="classify")
        assert plain == named and plain.task == "classify"
        assert [info.layer.text for info in plain.layers] == [info.layer.text for info in named.layers]


def test_an_unknown_task_is_refused_by_name():
    with pytest.raises(ValueError, match="task must be one of classify, segment, regress"):
        check("CN(4) -> GAP()", task="track")
    assert task_named(None) is CLASSIFY
    assert set(TASKS) == {
        "classify",
        "segment",
        "regress",
        "logits",
        "binary",
        "multilabel",
        "binary-segment",
        "segment-logits",
        "detect",
    }


def test_a_segmentation_model_smaller_than_its_masks_is_a_located_shape_error():
    text = "CN(8, 3, padding=same) -> MP(2) -> CN(3, 1)"
    with pytest.raises(SpecShapeError) as caught:
        check(text, (32, 32, 1), 3, task="segment")
    problem = caught.value.diagnostics[0]
    assert problem.code == "mask-size" and (problem.span.line, problem.span.column) == (1, 36)
    assert "(None, 16, 16, 3), 16x16 per image, but the masks are 32x32" in problem.message
    assert "UP(2) or CT(filters, 2, strides=2)" in problem.hint


def test_a_written_head_for_another_class_count_is_an_error_at_it(tmp_path):
    arrays = shapes(16, 4, 16)
    with pytest.raises(SpecShapeError) as caught:
        cnndsl.train("CN(8, 3, padding=same) -> CN(5, 1)", _npz(tmp_path / "m.npz", **arrays), save=False)
    problem = caught.value.diagnostics[0]
    assert problem.code == "head-mismatch" and problem.span.column == 27
    assert "CN(5, 1) reads as the head of a 5-class segmentation, but the masks have 3 classes" in problem.message


def test_a_flat_output_is_no_segmentation():
    with pytest.raises(SpecShapeError, match="needs a 4-D input"):
        check("CN(4) -> GAP()", task="segment")
    with pytest.raises(SpecShapeError, match="the regression head .* must end in \\(None, 1\\)"):
        check("CN(4, 3, padding=same)", task="regress")


def test_the_task_follows_from_the_labels():
    assert task_of_labels(np.zeros(5, "uint8")) is CLASSIFY
    assert task_of_labels(np.eye(3, dtype="float32")) is CLASSIFY  # one-hot rows
    assert task_of_labels(np.zeros((5, 8, 8), "int64")) is SEGMENT
    assert task_of_labels(np.zeros((5, 8, 8, 1), "uint8")) is SEGMENT
    assert task_of_labels(np.linspace(0, 1, 5)) is REGRESS
    assert task_of_labels(np.zeros((5, 2), "float32") + 0.5) is REGRESS


# --- data ----------------------------------------------------------------------------------------


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def segmentation_npz(tmp_path, train=96, test=32, size=16):
    return _npz(tmp_path / "masks.npz", **shapes(train, test, size))


def regression_npz(tmp_path, train=128, test=32):
    random = np.random.RandomState(0)
    x = random.uniform(0, 1, (train + test, 8, 8, 1)).astype("float32")
    y = np.stack([x.mean(axis=(1, 2, 3)), x[:, :4].mean(axis=(1, 2, 3))], axis=1).astype("float32")
    return _npz(tmp_path / "numbers.npz", x_train=x[:train], y_train=y[:train], x_test=x[train:], y_test=y[train:])


def test_masks_and_numbers_load_as_their_task(tmp_path):
    from cnndsl.datasets import load_data

    masks = load_data(segmentation_npz(tmp_path))
    assert masks.task == "segment" and masks.num_classes == 3 and masks.y_train.shape == (96, 16, 16)
    numbers = load_data(regression_npz(tmp_path))
    assert numbers.task == "regress" and numbers.num_classes == 2 and numbers.y_train.dtype == np.float32
    assert load_data("sample", 10).task == "classify"


def test_labels_that_are_not_the_task_s_are_a_data_error(tmp_path):
    from cnndsl.datasets import load_data

    with pytest.raises(DataError, match="segmentation takes one mask of integer classes per image"):
        load_data("sample", 10, task="segment")
    arrays = shapes(8, 4, 16)
    arrays["y_test"] = arrays["y_test"][:, :8]
    with pytest.raises(DataError, match="y_test's masks are 8x16 but the images are 16x16"):
        load_data(_npz(tmp_path / "bad.npz", **arrays))
    with pytest.raises(DataError, match="regression takes one number"):
        load_data(segmentation_npz(tmp_path), task="regress")


def test_the_shapes_set_is_the_same_on_every_call_and_has_three_classes():
    first, second = shapes(20, 5, 16), shapes(20, 5, 16)
    assert all(np.array_equal(first[key], second[key]) for key in first)
    assert set(np.unique(first["y_train"])) == {0, 1, 2}
    shown = first["x_train"][first["y_train"] > 0].mean() - first["x_train"][first["y_train"] == 0].mean()
    assert shown > 50  # shapes stand out from the noise


# --- training end to end ---------------------------------------------------------------------------

SMALL_UNET = (
    "CN(8, 3, padding=same) as e -> MP(2) -> CN(16, 3, padding=same) -> CT(8, 2, strides=2) "
    "-> CAT(ID() | @e) -> CN(8, 3, padding=same) -> CN(3, 1)"
)


@pytest.mark.slow
def test_a_segmentation_model_trains_and_reports_pixel_accuracy_and_mean_iou(tmp_path):
    result = cnndsl.train(
        SMALL_UNET, segmentation_npz(tmp_path), epochs=2, batch_size=32, seed=1, output=tmp_path / "run", verbose=0
    )
    assert result.model.output_shape == (None, 16, 16, 3)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 <= metrics["test_mean_iou"] <= 1 and 0 <= metrics["test_pixel_accuracy"] <= 1
    assert "test_accuracy" not in metrics and metrics["data"]["task"] == "segment"
    with open(tmp_path / "run" / "history.csv") as stream:
        header = next(csv.reader(stream))
    assert {"pixel_accuracy", "mean_iou", "val_pixel_accuracy", "val_mean_iou"} <= set(header)
    summary = (tmp_path / "run" / "summary.txt").read_text()
    assert "per-pixel cross-entropy" in summary and "Test mean IoU: " in summary


@pytest.mark.slow
def test_the_mean_iou_is_keras_s_over_the_argmax_of_the_softmax(tmp_path):
    result = cnndsl.train(
        SMALL_UNET, segmentation_npz(tmp_path), epochs=1, batch_size=32, seed=1, save=False, verbose=0
    )
    data = shapes(96, 32, 16)
    predicted = result.model.predict(data["x_test"][..., None] / 255.0, verbose=0).argmax(-1)
    truth = data["y_test"]
    ious = []
    for k in range(3):
        union = ((predicted == k) | (truth == k)).sum()
        if union:
            ious.append(((predicted == k) & (truth == k)).sum() / union)
    assert result.metrics["test_mean_iou"] == pytest.approx(np.mean(ious), abs=1e-4)


def test_a_spec_smaller_than_the_masks_is_refused_before_the_data_is_read(tmp_path, monkeypatch):
    from cnndsl import datasets

    path = segmentation_npz(tmp_path)
    monkeypatch.setattr(datasets, "read_npz", lambda *a: pytest.fail("the data was read"))
    with pytest.raises(SpecShapeError, match="the masks are 16x16"):
        cnndsl.train("CN(8, 3, padding=same) -> MP(2) -> CN(3, 1)", path, epochs=1, save=False)


@pytest.mark.slow
def test_a_regression_model_trains_on_float_labels_under_mse_and_reports_mae(tmp_path):
    result = cnndsl.train(
        "CN(8, 3) -> GAP() -> DN(16)", regression_npz(tmp_path), epochs=3, batch_size=32, seed=2, save=False,
        verbose=0,
    )  # fmt: skip
    assert result.model.output_shape == (None, 2)
    assert result.model.layers[-1].get_config()["activation"] == "linear"
    assert {"loss", "mae", "val_loss", "val_mae"} <= set(result.history[-1])
    assert result.metrics["test_mae"] is not None and "test_accuracy" not in result.metrics
    assert result.history[-1]["loss"] < result.history[0]["loss"]


@pytest.mark.slow
def test_cnndsl_run_segments_and_regresses(tmp_path, cli):
    masks = cli(
        "run", SMALL_UNET, "--data", segmentation_npz(tmp_path), "--epochs", "1", "--batch-size", "32",
        "--output", str(tmp_path / "seg"), timeout=300,
    )  # fmt: skip
    assert masks.returncode == 0, masks.stderr
    assert "Test pixel accuracy: " in masks.stdout and "Test mean IoU: " in masks.stdout
    assert "mean_iou" in (tmp_path / "seg" / "history.csv").read_text()
    numbers = cli(
        "run", "CN(4, 3) -> GAP()", "--data", regression_npz(tmp_path), "--epochs", "1", "--task", "regress",
        "--output", str(tmp_path / "reg"), timeout=300,
    )  # fmt: skip
    assert numbers.returncode == 0, numbers.stderr
    assert "Test MAE: " in numbers.stdout
    wrong = cli("run", "CN(4, 3) -> GAP()", "--data", regression_npz(tmp_path), "--epochs", "1", "--task", "segment")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr and "segmentation takes one mask" in wrong.stderr


def test_cnndsl_run_reports_the_mask_size_error_at_its_layer(tmp_path, cli):
    result = cli("run", "CN(8, 3, padding=same) -> MP(2) -> CN(3, 1)", "--data", segmentation_npz(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        "<spec>:1:36: error: the model outputs (None, 8, 8, 3)" in result.stderr
        and "the masks are 16x16" in result.stderr
    )


# --- --task on the commands that check ------------------------------------------------------------


def test_check_summary_draw_and_emit_take_task(tmp_path, cli):
    spec = "CN(8, 3, padding=same) -> CN(3, 1)"
    checked = cli("check", "--task", "segment", "--classes", "3", spec)
    assert checked.returncode == 0, checked.stderr
    refused = cli("check", "--task", "segment", "--classes", "3", "CN(8, 3, padding=same) -> MP(2) -> CN(3, 1)")
    assert refused.returncode == 1 and "the masks are 28x28" in refused.stderr
    summary = cli("summary", "--task", "segment", "--classes", "3", spec)
    assert summary.returncode == 0 and "(None, 28, 28, 3)" in summary.stdout and "(head)" in summary.stdout
    regress = cli("summary", "--task", "regress", "CN(8) -> GAP()")
    assert "DN(1, activation=linear)" in regress.stdout
    drawn = cli("draw", "--task", "segment", "--classes", "3", spec, "-o", str(tmp_path / "unet.svg"))
    assert drawn.returncode == 0 and (tmp_path / "unet.svg").stat().st_size > 0
    emitted = cli("emit", "--to", "keras", "--task", "segment", "--classes", "3", spec)
    assert emitted.returncode == 0 and "layers.Conv2D(3, (1, 1), activation='softmax')" in emitted.stdout
    bad = cli("check", "--task", "track", spec)
    assert bad.returncode == 2 and "invalid choice: 'track'" in bad.stderr


def test_the_unet_example_is_a_segmentation_model_of_its_input_size():
    from pathlib import Path

    text = (Path(__file__).parent.parent / "examples" / "unet.cnn").read_text()
    model = check(text, None, 3, task="segment")
    assert model.output_shape == (None, 32, 32, 3)
    assert {"CT", "CAT", "MP"} <= {info.code for info in model.layers}
    with pytest.raises(SpecError):
        check(text)  # not a classifier


@pytest.mark.slow
def test_a_segmentation_model_round_trips_through_keras_and_json():
    pytest.importorskip("keras")
    from cnndsl import compile_spec
    from cnndsl.backends import json_ir
    from cnndsl.backends.keras_reader import to_spec
    from cnndsl.emit import emit

    model = check(SMALL_UNET, (16, 16, 1), 3, task="segment")
    read = to_spec(compile_spec(SMALL_UNET, (16, 16, 1), 3, task="segment"), task="segment")
    assert check(read.text, None, read.num_classes, task="segment").total_params == model.total_params
    text, classes = json_ir.read(json.loads(emit(model, "json")))
    again = check(text, None, classes, task="segment")
    assert again.total_params == model.total_params and again.output_shape == model.output_shape


@pytest.mark.slow
def test_pytorch_computes_what_keras_computes_for_a_segmentation_model():
    pytest.importorskip("torch")
    from torch_strategies import assert_close, keras_output, randomize, sample, torch_output

    from cnndsl import compile_spec
    from cnndsl.backends.torch import port_weights

    keras_model = compile_spec(SMALL_UNET, (8, 8, 2), 3, task="segment")
    torch_model = compile_spec(SMALL_UNET, (8, 8, 2), 3, backend="torch", task="segment")
    randomize(keras_model)
    port_weights(keras_model, torch_model)
    x = sample((8, 8, 2))
    assert_close(keras_output(keras_model, x), torch_output(torch_model, x))


def test_the_task_setting_is_the_default_of_check_and_the_language_server(tmp_path, cli):
    from cnndsl.lsp.analysis import analyze_spec_file
    from cnndsl.settings import Settings

    (tmp_path / "pyproject.toml").write_text('[tool.cnndsl]\ntask = "segment"\nclasses = 3\n')
    spec = "CN(8, 3, padding=same) -> CN(3, 1)"
    checked = cli("check", spec, cwd=tmp_path)
    assert checked.returncode == 0 and "output (None, 28, 28, 3)" in checked.stdout
    overridden = cli("check", "--task", "classify", spec, cwd=tmp_path)
    assert overridden.returncode == 1 and "must end in (None, 3)" in overridden.stderr
    (tmp_path / "pyproject.toml").write_text('[tool.cnndsl]\ntask = "track"\n')
    assert "task must be one of classify, segment, regress" in cli("check", spec, cwd=tmp_path).stderr
    shrunk = "spec = CN(8, 3, padding=same) -> MP(2) -> CN(3, 1)\n"
    segmenting = analyze_spec_file(shrunk, Settings(classes=3, task="segment"))
    assert [d.code for d in segmenting.diagnostics] == ["mask-size"]
    assert analyze_spec_file(shrunk, Settings(classes=3)).diagnostics[0].code == "head-shape"


@pytest.mark.slow
def test_compare_and_sweep_segment_and_name_their_scores(tmp_path, cli):
    pytest.importorskip("optuna")
    data = segmentation_npz(tmp_path, train=64, test=16)
    compared = cnndsl.compare(
        [("unet", SMALL_UNET), ("flat", "CN(4, 3, padding=same) -> CN(3, 1)")], data, epochs=1, batch_size=32,
        output=tmp_path / "compare", verbose=0,
    )  # fmt: skip
    assert compared.task == "segment" and "Test mean IoU" in compared.table
    with open(tmp_path / "compare" / "compare.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["model"] for row in rows] == ["unet", "flat"] and all(0 <= float(r["test_mean_iou"]) <= 1 for r in rows)
    swept = cli(
        "sweep", "CN({4,8}, 3, padding=same) -> CN(3, 1)", "--data", data, "--trials", "1", "--epochs", "1",
        "--sampler", "grid", "--output", str(tmp_path / "sweep"), timeout=300,
    )  # fmt: skip
    assert swept.returncode == 0, swept.stderr
    assert "best by val_mean_iou" in swept.stdout
    with open(tmp_path / "sweep" / "sweep.csv") as stream:
        header = next(csv.reader(stream))
    assert {"val_pixel_accuracy", "val_mean_iou", "test_mean_iou"} <= set(header) and "val_accuracy" not in header
    refused = cli("sweep", "CN(4) -> CN(3, 1)", "--data", data, "--objective", "val_accuracy", "--epochs", "1")
    assert refused.returncode == 2 and "--objective: choose from val_mean_iou" in refused.stderr


# --- masks as files: images/ beside masks/ ---------------------------------------------------------


def mask_folder(root, count=10, size=16, split=False):
    """PNG images and palette-free grayscale masks made from the shapes set."""
    from PIL import Image

    data = shapes(count, 0, size)
    for index, (image, mask) in enumerate(zip(data["x_train"], data["y_train"])):
        part = root / ("test" if split and index % 4 == 0 else "train") if split else root
        (part / "images").mkdir(parents=True, exist_ok=True)
        (part / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(part / "images" / f"im{index:02d}.png")
        Image.fromarray(mask).save(part / "masks" / f"im{index:02d}.png")
    return data


def test_a_folder_of_images_beside_masks_is_a_segmentation_set(tmp_path):
    from cnndsl.datasets import load_data
    from cnndsl.splits import name_order

    made = mask_folder(tmp_path / "flat")
    data = load_data(str(tmp_path / "flat"))
    assert data.task == "segment" and data.num_classes == 3 and data.input_shape == (16, 16, 1)
    assert (len(data.x_train), len(data.x_test)) == (8, 2)  # 0.2 of the files, chosen by name
    names = [f"im{index:02d}" for index in range(10)]  # the stems, which pair an image with its mask
    test = sorted(name_order(names)[:2])
    assert np.array_equal(data.y_test, made["y_train"][test])
    assert np.array_equal(np.round(data.x_test[..., 0] * 255), made["x_train"][test])
    again = load_data(str(tmp_path / "flat"), test_split=0.5)
    assert (len(again.x_train), len(again.x_test)) == (5, 5)
    assert np.array_equal(again.y_test, made["y_train"][sorted(name_order(names)[:5])])
    mask_folder(tmp_path / "split", split=True)
    split = load_data(str(tmp_path / "split"))
    assert (len(split.x_train), len(split.x_test)) == (7, 3)
    with pytest.raises(DataError, match="has train/ and test/"):
        load_data(str(tmp_path / "split"), test_split=0.3)
    mask_folder(tmp_path / "one", count=1)
    with pytest.raises(DataError, match="leave no test file"):
        load_data(str(tmp_path / "one"))


def test_a_mask_folder_s_problems_name_their_file(tmp_path):
    from cnndsl.datasets import load_data

    mask_folder(tmp_path)
    (tmp_path / "masks" / "im03.png").unlink()
    with pytest.raises(DataError, match=r"images/im03.png: no file of that name in .*masks/"):
        load_data(str(tmp_path))
    (tmp_path / "images" / "im03.png").unlink()
    (tmp_path / "masks" / "im05.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"masks/im05.png: not a readable image"):
        load_data(str(tmp_path))


@pytest.mark.slow
def test_a_mask_folder_trains_and_its_size_is_checked_before_it_is_read(tmp_path, monkeypatch):
    from cnndsl import masks

    mask_folder(tmp_path, count=20)
    result = cnndsl.train(SMALL_UNET, str(tmp_path), epochs=1, batch_size=8, seed=0, save=False, verbose=0)
    assert result.metrics["data"]["task"] == "segment" and result.metrics["test_mean_iou"] is not None
    monkeypatch.setattr(masks, "_pairs", lambda *a: pytest.fail("the masks were read"))
    with pytest.raises(SpecShapeError, match="the masks are 16x16"):
        cnndsl.train("CN(8, 3, padding=same) -> MP(2) -> CN(3, 1)", str(tmp_path), epochs=1, save=False)


def test_cnndsl_lsp_task_overrides_the_projects_task_setting(tmp_path):
    pytest.importorskip("pygls")
    from cnndsl.cli import build_parser
    from cnndsl.lsp.server import build_server

    (tmp_path / "pyproject.toml").write_text('[tool.cnndsl]\ntask = "regress"\n')
    document = str(tmp_path / "nets.cnn")
    assert build_server().settings_for(document).task == "regress"
    assert build_server("segment").settings_for(document).task == "segment"
    assert build_parser().parse_args(["lsp", "--task", "segment"]).task == "segment"


@pytest.mark.slow
def test_cnndsl_from_keras_reads_a_saved_segmentation_model_with_its_task(tmp_path, cli):
    pytest.importorskip("keras")
    from cnndsl import compile_spec

    compile_spec(SMALL_UNET, (16, 16, 1), 3, task="segment").save(tmp_path / "unet.keras")
    done = cli("from-keras", str(tmp_path / "unet.keras"), "--task", "segment", timeout=300)
    assert done.returncode == 0, done.stderr
    read = check(done.stdout, None, 3, task="segment")
    assert read.total_params == check(SMALL_UNET, (16, 16, 1), 3, task="segment").total_params
    assert read.output_shape == (None, 16, 16, 3)
    plain = cli("from-keras", str(tmp_path / "unet.keras"), timeout=300)  # the head says the task, and a note says it
    assert plain.returncode == 0 and plain.stdout == done.stdout and "Traceback" not in plain.stderr
    assert plain.stderr.count("\n") == 1 and "the model ends in the head of --task segment" in plain.stderr
    classify = cli("from-keras", str(tmp_path / "unet.keras"), "--task", "classify", timeout=300)  # refused, hinted
    assert classify.returncode == 1 and classify.stdout == "" and "Traceback" not in classify.stderr
    assert classify.stderr.count("\n") == 1 and "read it with --task segment" in classify.stderr
    bad = cli("from-keras", str(tmp_path / "unet.keras"), "--task", "track", timeout=300)
    assert bad.returncode == 2 and "invalid choice: 'track'" in bad.stderr and "Traceback" not in bad.stderr


# --- a new task is one new class ------------------------------------------------------------------


class Score(Task):
    """A task the notation does not ship: one probability per image, a DN(1) under a sigmoid.

    Written here, and nowhere else, to show that the checker and the readers need no other edit.
    """

    name = "score"
    default_outputs = 1
    head_activation = "sigmoid"
    ends_in = "a score ends in a sigmoid over (None, 1)"
    logits_activation = "sigmoid"

    def take_head(self, last, outputs, explicit):
        if last.code != self.head_code or last.args["units"] != outputs:
            return None
        if "activation" not in last.given or last.args["activation"] == "sigmoid":
            args = {**last.args, "activation": "sigmoid"}
            return Layer(last.type, args, last.span, last.text, head=True, given=last.given)
        return None

    def check_output(self, infos, outputs, explicit, input_shape):
        last = infos[-1]
        if len(last.output_shape) == 2:
            return None, outputs
        message = f"a score ends in (None, {outputs}), not {format_shape(last.output_shape)}"
        return Diagnostic("shape", message, last.layer.span, code="head-shape"), outputs

    def outputs_line(self, outputs):
        return f"Outputs: {outputs} (score)"


SCORE = Score()


def test_a_new_task_class_is_checked_by_its_own_head_rule():
    appended = check("CN(4) -> GAP()", (8, 8, 1), task=SCORE)
    head = appended.layers[-1].layer
    assert head.head and head.text == "DN(1, activation=sigmoid)" and appended.output_shape == (None, 1)
    assert appended.task is SCORE and appended.task == "score"
    assert "Outputs: 1 (score)" in summary_table(appended)
    taken = check("CN(4) -> GAP() -> DN(1)", (8, 8, 1), task=SCORE)
    assert taken.layers[-1].layer.text == "DN(1)" and taken.layers[-1].layer.args["activation"] == "sigmoid"
    assert architecture_hash(taken) == architecture_hash(appended)
    with pytest.raises(SpecShapeError, match=r"a score ends in \(None, 1\), not \(None, 6, 6, 1\)"):
        check("CN(4)", (8, 8, 1), task=SCORE)


def test_a_new_task_class_round_trips_through_json(monkeypatch):
    from cnndsl.backends import json_ir
    from cnndsl.emit import emit

    monkeypatch.setitem(TASKS, SCORE.name, SCORE)  # what listing it beside the others in cnndsl.tasks does
    model = check("CN(4) -> GAP()", (8, 8, 1), task=SCORE)
    document = json.loads(emit(model, "json"))
    assert document["task"] == "score"
    text, outputs = json_ir.read(document)
    assert architecture_hash(check(text, None, outputs, task=SCORE)) == architecture_hash(model)


def test_the_readers_ask_a_new_task_class_for_its_head():
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    import torch

    from cnndsl import compile_spec, from_torch
    from cnndsl.backends.keras_reader import to_spec

    model = check("CN(4) -> GAP()", (8, 8, 1), task=SCORE)
    read = to_spec(compile_spec("CN(4) -> GAP()", (8, 8, 1), task=SCORE), task=SCORE)
    assert read.num_classes == 1
    assert architecture_hash(check(read.text, None, read.num_classes, task=SCORE)) == architecture_hash(model)
    with pytest.raises(UnsupportedModel, match="a score ends in a sigmoid"):
        to_spec(compile_spec("CN(4) -> GAP() -> DN(10)", (8, 8, 1)), task=SCORE)
    logits = from_torch(_module(torch, 1), (8, 8, 1), task=SCORE)
    assert logits.num_classes == 1
    assert architecture_hash(check(logits.text, None, 1, task=SCORE)) == architecture_hash(model)
    assert check(logits.text, None, 1, task=SCORE).layers[-1].layer.args["activation"] == "sigmoid"


def _module(torch, outputs: int):
    """Convolution, global average pooling, a Linear to ``outputs`` raw scores."""
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, outputs))


def test_a_regression_module_is_read_with_its_linear_head():
    pytest.importorskip("torch")
    import torch

    from cnndsl import from_torch

    module = _module(torch, 2)
    read = from_torch(module, (8, 8, 1), task="regress")
    model = check(read.text, None, read.num_classes, task="regress")
    assert read.num_classes == 2 and model.layers[-1].layer.args["activation"] == "linear"
    assert model.total_params == sum(p.numel() for p in module.parameters())
    with pytest.raises(UnsupportedModel, match="a regression model ends in a linear DN"):
        from_torch(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()),
                   (8, 8, 1), task="regress")  # fmt: skip


@pytest.mark.parametrize(("task", "last"), [("segment", "CN(3, 1)"), ("regress", "DN(3)"), ("classify", "DN(3)")])
def test_a_model_ending_in_a_block_use_is_drawn_with_the_head_it_is_checked_with(tmp_path, task, last):
    from cnndsl.compiler import check_chain
    from cnndsl.inputs import read_models

    ends = "UP(2)" if task == "segment" else "GAP()"
    (tmp_path / "m.cnn").write_text(f"block out = {ends} -> {last}\nm = CN(4, 3, padding=same) -> MP(2) -> out\n")
    source = read_models(f"{tmp_path / 'm.cnn'}:m")[0]
    checked, drawn = (
        check_chain(source.chain, source.text, (16, 16, 1), 3, source.blocks, None, task, marked)
        for marked in (False, True)
    )
    assert [info.layer.text for info in drawn.layers] == [info.layer.text for info in checked.layers]
    assert drawn.layers[-1].layer.head and drawn.layers[-1].layer.text == last
