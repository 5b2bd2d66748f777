"""The heads people write: a head already in the text is never appended twice; logits, sigmoid and log-softmax
heads read as the task they are (logits, binary, multi-label, binary segmentation), and those tasks train."""

from __future__ import annotations

import numpy as np
import pytest

from cnndsl import check

# --- a head in the text is the head, whatever gives the class count --------------------------------------


def _unet(size: int, classes: int):
    """An Oxford Pets U-Net written the way keras-io writes it, narrower and at a small input."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(size, size, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous_block_activation = x
    for filters in [16, 32]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x
    for filters in [32, 16, 8]:
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.UpSampling2D(2)(x)
        residual = layers.UpSampling2D(2)(previous_block_activation)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        x = layers.add([x, residual])
        previous_block_activation = x
    outputs = layers.Conv2D(classes, 3, activation="softmax", padding="same")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.slow
def test_a_unet_read_and_checked_with_its_class_count_has_the_models_own_head_once(cli):
    from cnndsl import compile_spec, to_spec

    model = _unet(64, 3)
    spec = to_spec(model, task="segment")
    assert spec.text.rstrip().endswith("CN(3, 3, padding=same, activation=softmax)") and spec.num_classes == 3
    given = check(spec.text, num_classes=spec.num_classes, task="segment")
    assert given.total_params == check(spec.text, task="segment").total_params == model.count_params()
    assert given.layers[-1].layer.text == "CN(3, 3, padding=same, activation=softmax)"
    assert compile_spec(spec.text, num_classes=3, task="segment").count_params() == model.count_params()
    result = cli("summary", spec.text, "--task", "segment", "--classes", "3")
    assert result.returncode == 0, result.stderr
    assert f"Total params: {model.count_params():,}" in result.stdout


WRITTEN_HEADS = [
    # (task, spec, the count given, the parameters: the written head is the head, nothing appended)
    ("segment", "CN(4, 3, padding=same) -> CN(3, 3, padding=same, activation=softmax)", 3, 112 + 111),
    ("classify", "CN(4) -> GAP() -> DN(5, activation=softmax)", 5, 40 + 25),
    ("regress", "CN(4) -> GAP() -> DN(2, activation=linear)", 2, 40 + 10),
]


@pytest.mark.parametrize(("task", "text", "given", "params"), WRITTEN_HEADS)
def test_a_written_head_of_the_count_given_is_not_followed_by_another(task, text, given, params):
    model = check(text, (8, 8, 1) if task != "segment" else (8, 8, 3), given, task=task)
    assert model.total_params == params and model.layers[-1].layer.head and model.num_classes == given
    assert model.layers[-1].layer.text == text.rsplit("-> ", 1)[1]


def test_a_written_softmax_of_another_width_than_the_count_given_stays_hidden():
    model = check("CN(4, 3, padding=same) -> CN(5, 3, padding=same, activation=softmax)", (8, 8, 3), 3, task="segment")
    assert model.layers[-1].layer.text == "CN(3, 1, activation=softmax)" and not model.layers[-2].layer.head


# --- heads read as the task they are: Keras -----------------------------------------------------------


def _keras_head(kind: str):
    """A small Keras model ending in a head people write: (model, the task it reads as, its output count)."""
    import keras
    from keras import layers

    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    if kind == "mask":  # a per-pixel sigmoid: binary segmentation
        return keras.Model(inputs, layers.Conv2D(1, 1, activation="sigmoid")(x)), "binary-segment", 1
    if kind == "pixel logits":  # keras-io's DeepLabV3+ ends so, trained from logits
        return keras.Model(inputs, layers.Conv2D(3, 1, padding="same")(x)), "segment-logits", 3
    x = layers.GlobalAveragePooling2D()(x)
    heads = {
        "logits": (layers.Dense(5), "logits", 5),
        "log_softmax": (layers.Dense(5, activation="log_softmax"), "logits", 5),
        "binary": (layers.Dense(1, activation="sigmoid"), "binary", 1),
        "binary logit": (layers.Dense(1), "binary", 1),
        "multilabel": (layers.Dense(4, activation="sigmoid"), "multilabel", 4),
        "softmax": (layers.Dense(5, activation="softmax"), "classify", 5),
    }
    head, task, outputs = heads[kind]
    return keras.Model(inputs, head(x)), task, outputs


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind", ["logits", "log_softmax", "binary", "binary logit", "multilabel", "softmax", "mask", "pixel logits"]
)
def test_a_keras_head_reads_as_its_task_and_builds_back_the_same_outputs(kind):
    import keras

    from cnndsl import compile_spec, to_spec

    keras.utils.set_random_seed(0)
    model, task, outputs = _keras_head(kind)
    spec = to_spec(model)
    assert (spec.task, spec.num_classes) == (task, outputs)
    checked = check(spec.text, num_classes=spec.num_classes, task=spec.task)
    assert checked.total_params == model.count_params() and checked.output_shape == model.outputs[0].shape
    built = compile_spec(spec.text, num_classes=spec.num_classes, task=spec.task)
    built.set_weights(model.get_weights())
    x = np.random.RandomState(1).rand(3, 8, 8, 3).astype("float32")
    np.testing.assert_allclose(built(x).numpy(), model(x).numpy(), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "hint"), [("binary", "--task binary"), ("logits", "--task logits"),
                                            ("multilabel", "--task multilabel"), ("mask", "--task binary-segment"),
                                            ("pixel logits", "--task segment-logits")])  # fmt: skip
def test_a_keras_head_of_another_task_than_the_one_asked_is_refused_naming_its_task(kind, hint):
    from cnndsl import to_spec
    from cnndsl.errors import UnsupportedModel

    model, _, _ = _keras_head(kind)
    with pytest.raises(UnsupportedModel, match=f"read it with {hint}"):
        to_spec(model, task="classify" if kind not in ("mask", "pixel logits") else "segment")


# --- heads read as the task they are: PyTorch ---------------------------------------------------------


def _torch_head(tail, units: int):
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, units)
            self.tail = tail

        def forward(self, x):
            x = torch.relu(self.conv(x)).mean((2, 3))
            x = self.fc(x)
            return x if self.tail is None else self.tail(x)

    return Net().eval()


TORCH_HEADS = [
    # (the module's last step, units, task asked, the task read, the head as written)
    (None, 5, None, "logits", "DN(5, activation=linear)"),
    (None, 5, "logits", "logits", "DN(5, activation=linear)"),
    (None, 1, None, "binary", "DN(1, activation=linear)"),
    ("sigmoid", 1, None, "binary", "DN(1, activation=sigmoid)"),
    ("sigmoid", 4, None, "multilabel", "DN(4, activation=sigmoid)"),
    ("log_softmax", 5, None, "logits", "DN(5, activation=log_softmax)"),
    ("F.log_softmax", 5, None, "logits", "DN(5, activation=log_softmax)"),
    ("torch.sigmoid", 3, "multilabel", "multilabel", "DN(3, activation=sigmoid)"),
]


def _tail(name):
    import torch
    from torch import nn

    return {
        None: None,
        "sigmoid": nn.Sigmoid(),
        "log_softmax": nn.LogSoftmax(dim=1),
        "F.log_softmax": lambda x: torch.nn.functional.log_softmax(x, dim=1),
        "torch.sigmoid": torch.sigmoid,
    }[name]


@pytest.mark.slow
@pytest.mark.parametrize(("tail", "units", "asked", "task", "head"), TORCH_HEADS)
def test_a_pytorch_head_reads_as_its_task_kept_as_written_and_ports_to_the_same_outputs(tail, units, asked, task, head):
    torch = pytest.importorskip("torch")
    from cnndsl import compile_spec, from_torch, port_weights

    torch.manual_seed(0)
    module = _torch_head(_tail(tail), units)
    spec = from_torch(module, (8, 8, 3), task=asked)
    assert spec.task == task and spec.text.rstrip().endswith(head) and "softmax)" not in spec.text.replace(head, "")
    built = compile_spec(spec.text, num_classes=spec.num_classes, task=spec.task)
    port_weights(spec, built)
    x = torch.rand(3, 3, 8, 8)
    with torch.no_grad():
        expected = module(x).numpy()
    np.testing.assert_allclose(built(x.permute(0, 2, 3, 1).numpy()).numpy(), expected, atol=1e-5)
    back = compile_spec(spec.text, num_classes=spec.num_classes, task=spec.task, backend="torch").eval()
    port_weights(built, back)
    with torch.no_grad():
        np.testing.assert_allclose(back(x).numpy(), expected, atol=1e-5)


@pytest.mark.slow
def test_a_pytorch_sigmoid_is_never_read_as_logits_to_append_a_softmax_to():
    pytest.importorskip("torch")
    from cnndsl import from_torch
    from cnndsl.errors import UnsupportedModel

    with pytest.raises(UnsupportedModel, match="head of the binary task .* read it with --task binary"):
        from_torch(_torch_head(_tail("sigmoid"), 1), (8, 8, 3), task="classify")
    default = from_torch(_torch_head(None, 5), (8, 8, 3))  # a Linear's logits: kept as written
    assert default.task == "logits" and default.text.rstrip().endswith("DN(5, activation=linear)")
    asked = from_torch(_torch_head(None, 5), (8, 8, 3), task="classify")  # the softmax its loss applies, appended
    assert asked.task == "classify" and asked.text.rstrip().endswith("DN(5, activation=softmax)")


# --- the tasks train ------------------------------------------------------------------------------------


def _two_class_folder(root, classes=("cat", "dog"), each=12):
    from PIL import Image

    random = np.random.RandomState(0)
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(each):
            pixels = random.rand(16, 16, 3) * 60 + 40 + 140 * index  # dark cats, bright dogs
            Image.fromarray(pixels.astype("uint8")).save(root / name / f"{i}.png")
    return root


@pytest.mark.slow
def test_cnndsl_run_trains_a_binary_classifier_on_a_folder_of_two_classes(tmp_path, cli):
    import json

    from cnndsl.datasets import load_data

    folder = _two_class_folder(tmp_path / "pets")
    data = load_data(str(folder), task="binary")
    assert data.num_classes == 1 and data.class_names == ("cat", "dog")
    images, labels = next(iter(data.batches(data.train, 64)))
    assert labels.shape == (len(data.train), 1) and labels.dtype.name == "float32"
    np.testing.assert_array_equal(labels.numpy()[:, 0], [label for _, label in data.train])  # cat 0, dog 1
    done = cli("run", "CN(4) -> GAP()", "--data", str(folder), "--task", "binary", "--epochs", "1",
               "--output", str(tmp_path / "run"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Test accuracy:" in done.stdout and "Test AUC:" in done.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 <= metrics["test_auc"] <= 1 and metrics["data"]["task"] == "binary"
    assert "DN(1, activation=sigmoid)" in (tmp_path / "run" / "summary.txt").read_text()
    three = _two_class_folder(tmp_path / "three", ("a", "b", "c"), 4)
    refused = cli("run", "CN(4) -> GAP()", "--data", str(three), "--task", "binary", "--epochs", "1")
    assert (
        refused.returncode == 2 and "binary classification takes a folder of 2 class folders, not 3" in refused.stderr
    )


def _npz(path, y, masks=False):
    random = np.random.RandomState(0)
    x = random.rand(len(y), 8, 8, 1).astype("float32")
    if masks:
        y = (x[..., 0] > 0.5).astype("uint8")
    np.savez(path, x_train=x[:24], y_train=y[:24], x_test=x[24:], y_test=y[24:])
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("spec", "task", "labels", "scores"),
    [
        ("CN(4) -> GAP()", None, "multi-hot", ("test_accuracy", "test_auc")),
        ("CN(4) -> GAP() -> DN(3, activation=linear)", "multilabel", "multi-hot", ("test_accuracy", "test_auc")),
        ("CN(4) -> GAP()", "logits", "classes", ("test_accuracy",)),
        ("CN(4, 3, padding=same)", "binary-segment", "masks", ("test_pixel_accuracy", "test_mean_iou")),
        ("CN(4, 3, padding=same) -> CN(2, 1)", "segment-logits", "masks", ("test_pixel_accuracy", "test_mean_iou")),
    ],
)
def test_the_new_tasks_train_from_an_npz(tmp_path, spec, task, labels, scores):
    import json

    import cnndsl

    random = np.random.RandomState(1)
    y = {"multi-hot": (random.rand(32, 3) > 0.5).astype("int64"), "classes": random.randint(0, 3, 32),
         "masks": np.zeros(32)}[labels]  # fmt: skip
    data = _npz(tmp_path / "data.npz", y, masks=labels == "masks")
    result = cnndsl.train(spec, data, epochs=1, output=tmp_path / "run", task=task)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["task"] == (task or "multilabel")
    assert all(0 <= metrics[score] <= 1 for score in scores) and np.isfinite(metrics["test_loss"])
    assert result.metrics["test_loss"] == metrics["test_loss"]


def test_a_head_that_outputs_logits_trains_with_a_loss_from_logits():
    pytest.importorskip("keras")
    from cnndsl.tasks import BINARY, LOGITS, MULTILABEL, SEGMENT_LOGITS, task_of_labels

    linear = check("CN(4) -> GAP() -> DN(1, activation=linear)", (8, 8, 1), task="binary")
    sigmoid = check("CN(4) -> GAP()", (8, 8, 1), task="binary")
    assert BINARY.outputs_logits(linear) and not BINARY.outputs_logits(sigmoid)
    assert (
        BINARY.keras_loss(True).get_config()["from_logits"] and not BINARY.keras_loss(False).get_config()["from_logits"]
    )
    assert LOGITS.keras_loss().get_config()["from_logits"] and SEGMENT_LOGITS.keras_loss().get_config()["from_logits"]
    assert [metric.threshold for metric in BINARY.keras_metrics(1, True)[:1]] == [0.0]
    assert task_of_labels(np.array([[1, 0, 1], [0, 0, 1]])) is MULTILABEL
    assert task_of_labels(np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])).name == "regress"  # float rows stay numbers


@pytest.mark.parametrize(
    ("task", "text"),
    [
        ("logits", "CN(4) -> GAP()"),
        ("logits", "CN(4) -> GAP() -> DN(6, activation=log_softmax)"),
        ("binary", "CN(4) -> GAP()"),
        ("binary", "CN(4) -> GAP() -> DN(1, activation=linear)"),
        ("multilabel", "CN(4) -> GAP() -> DN(3, activation=sigmoid)"),
        ("binary-segment", "CN(4, 3, padding=same)"),
        ("binary-segment", "CN(4, 3, padding=same) -> CN(1, 3, padding=same, activation=sigmoid)"),
        ("segment-logits", "CN(4, 3, padding=same)"),
        ("segment-logits", "CN(4, 3, padding=same) -> CN(3, 1)"),
    ],
)
def test_a_json_architecture_of_a_new_task_reads_back_as_the_same_model(task, text):
    from cnndsl.backends import json_ir
    from cnndsl.report import architecture_hash

    model = check(text, (8, 8, 1), task=task)
    read, outputs = json_ir.read(json_ir.document(model))
    again = check(read, num_classes=outputs, task=task)
    assert architecture_hash(again) == architecture_hash(model) and again.total_params == model.total_params
    assert again.layers[-1].layer.text == read.rstrip().rsplit("-> ", 1)[1]  # the head is written, once


@pytest.mark.slow
def test_cnndsl_from_keras_names_the_task_the_head_says(tmp_path, cli):
    model, _, _ = _keras_head("binary")
    model.save(tmp_path / "binary.keras")
    done = cli("from-keras", str(tmp_path / "binary.keras"))
    assert done.returncode == 0 and done.stdout.rstrip().endswith("DN(1, activation=sigmoid)"), done.stderr
    assert "the model ends in the head of --task binary" in done.stderr and done.stderr.count("\n") == 1
    checked = cli("check", done.stdout, "--task", "binary")
    assert checked.returncode == 0 and f"{model.count_params()} parameters, output (None, 1)" in checked.stdout
    asked = cli("from-keras", str(tmp_path / "binary.keras"), "--task", "binary")
    assert asked.returncode == 0 and asked.stdout == done.stdout and asked.stderr == ""


@pytest.mark.slow
def test_a_sigmoid_heads_torch_module_with_logits_ends_in_its_logit_and_reads_back_as_it():
    torch = pytest.importorskip("torch")
    from cnndsl import compile_spec, from_torch, port_weights

    text = "IN(8, 8, 1) -> CN(4) -> GAP()"
    default = compile_spec(text, task="binary", backend="torch").eval()
    logits = compile_spec(text, task="binary", backend="torch", logits=True).eval()
    logits.load_state_dict(default.state_dict())
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(torch.sigmoid(logits(x)), default(x))
    read = from_torch(logits, (8, 8, 1))  # a last Linear(n, 1): a binary classifier's logit
    assert read.task == "binary" and read.text.rstrip().endswith("DN(1, activation=linear)")
    built = compile_spec(read.text, task=read.task)
    port_weights(read, built)
    with torch.no_grad():
        np.testing.assert_allclose(built(x.permute(0, 2, 3, 1).numpy()).numpy(), logits(x).numpy(), atol=1e-5)


def test_a_notebook_cell_with_a_class_count_keeps_its_written_head_once():
    from cnndsl.notebook import CellDefinitions, run_cell

    cell = "u = CN(4, 3, padding=same) -> CN(3, 3, padding=same, activation=softmax)"
    (view,) = run_cell("--task segment --classes 3 --input-shape 16,16,3", cell, CellDefinitions(), "<cell 1>", {})
    assert not view.failed and view.model.total_params == 112 + 111
    assert view.model.layers[-1].layer.text == "CN(3, 3, padding=same, activation=softmax)"
    (binary,) = run_cell("--task binary --input-shape 16,16,3", "b = CN(4) -> GAP()", CellDefinitions(), "<cell 2>", {})
    assert binary.model.task == "binary" and binary.model.output_shape == (None, 1)


@pytest.mark.parametrize(
    ("task", "text", "line"),
    [
        ("logits", "CN(4) -> GAP()", "Classes: 10 (logits)"),
        ("binary", "CN(4) -> GAP()", "Outputs: 1 probability (binary classification)"),
        ("multilabel", "CN(4) -> GAP() -> DN(3, activation=sigmoid)", "Labels: 3 (multi-label)"),
        ("binary-segment", "CN(4, 3, padding=same)", "Outputs: 1 probability per pixel (binary segmentation)"),
        ("segment-logits", "CN(4, 3, padding=same)", "Classes: 2 per pixel (segmentation, logits)"),
    ],
)
def test_a_summary_says_what_a_new_tasks_model_outputs(cli, task, text, line):
    done = cli("summary", text, "--task", task, "--input-shape", "8,8,1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"Input: (None, 8, 8, 1)   {line}"
