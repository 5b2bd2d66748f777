"""Keras models back to the notation: to_spec and cnndsl from-keras, safe with model files."""

from __future__ import annotations

import json
import re
import zipfile

import pytest
from golden_tables import notebook_specs
from helpers import run_cli
from hypothesis import given, settings
from torch_strategies import accepted_specs, graph_specs

from cnndsl import check, compile_spec, to_spec
from cnndsl.backends.keras_reader import UnsupportedModel
from cnndsl.layers import LAYERS, example_text
from cnndsl.report import architecture_hash

keras = pytest.importorskip("keras")

pytestmark = pytest.mark.slow


KERAS_NAMES = {"swish": "silu", "hard_swish": "hard_silu"}
"""Activations Keras stores under another name (the same function): from-keras writes Keras's name."""


def keras_names(text: str) -> str:
    for alias, name in KERAS_NAMES.items():
        text = re.sub(rf"\b{alias}\b", name, text)
    return text


def same_architecture(text: str, input_shape, classes: int) -> None:
    spec = to_spec(compile_spec(text, input_shape, classes))
    assert spec.num_classes == classes
    source = architecture_hash(check(keras_names(text), input_shape, classes))
    again = check(spec.text, num_classes=spec.num_classes)
    assert architecture_hash(again) == source, spec.text
    alone = check(spec.text)  # the text states its class count: the head is written
    assert architecture_hash(alone) == source and alone.num_classes == classes, spec.text


@pytest.mark.parametrize("name", sorted(notebook_specs()))
def test_the_notebook_models_come_back_as_themselves(name):
    same_architecture(notebook_specs()[name], (28, 28, 1), 10)


def test_the_spec_is_canonical_defaults_left_out_and_the_head_written():
    spec = to_spec(compile_spec(notebook_specs()["model1"]))
    assert spec.text == (
        "IN(28, 28, 1) -> CN(72, 7) -> CN(38) -> CN(20) -> MP() -> DP(0.25) -> FL() -> DN(128) -> DP(0.5)"
        " -> DN(10, activation=softmax)"
    )


def test_a_model_ending_in_the_default_head_is_written_with_it_and_checks_as_the_same_model():
    """A Sequential ending in Dense(10, softmax) reads as a model with its classifier, not without one."""
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.Flatten(), keras.layers.Dropout(0.5),
         keras.layers.Dense(10, activation="softmax")]
    )  # fmt: skip
    spec = to_spec(model)
    assert spec.text == "IN(28, 28, 1) -> CN(8) -> FL() -> DP(0.5) -> DN(10, activation=softmax)"
    for checked in (check(spec.text), check(spec.text, num_classes=spec.num_classes)):
        assert checked.total_params == model.count_params() and len(checked.layers) == len(model.layers)


def test_branches_are_found_from_the_graph():
    text = "CN(4,3,padding=same)->ADD(CN(4,3,padding=same)->BN()->CN(4,3,padding=same) | ID())->MUL(ID() | GAP(keepdims=true)->CN(2,1)->CN(4,1,activation=sigmoid))->GAP()"
    spec = to_spec(compile_spec(text, (8, 8, 1)))
    assert "ADD(CN(4, padding=same) -> BN() -> CN(4, padding=same) | ID())" in spec.text
    same_architecture(text, (8, 8, 1), 10)


@settings(max_examples=25)
@given(accepted_specs())
def test_random_specs_come_back_with_the_same_hash(case):
    same_architecture(*case)


@settings(max_examples=25)
@given(graph_specs())
def test_random_graphs_come_back_with_the_same_hash(case):
    same_architecture(*case)


def test_relu6_layers_read_as_the_relu6_activation():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.ReLU(6.0)(keras.layers.Conv2D(4, 3)(inputs))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    assert to_spec(keras.Model(inputs, outputs)).text == (
        "IN(8, 8, 1) -> CN(4, activation=linear) -> ACT(relu6) -> FL() -> DN(3, activation=softmax)"
    )


# Keras warns that rms_scaling=True is deprecated as it makes the layer: these tests make one to see it refused.
RMS_DEPRECATED = pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`:UserWarning")


@RMS_DEPRECATED
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda x: keras.layers.SpatialDropout2D(0.1, name="t")(x), "layer 't' (SpatialDropout2D) has no code"),
        (
            lambda x: keras.layers.LayerNormalization(rms_scaling=True, name="norm")(x),
            "layer 'norm' (LayerNormalization): rms_scaling=True has no notation",
        ),
        (
            lambda x: keras.layers.Conv2D(4, 1, data_format="channels_first", name="c")(x),
            "layer 'c' (Conv2D): data_format",
        ),
        (
            lambda x: keras.layers.Dropout(0.1, noise_shape=(None, 1, 1, 4), name="d")(x),
            "layer 'd' (Dropout): noise_shape",
        ),
        (
            lambda x: keras.layers.ReLU(max_value=4.0, name="r")(x),
            "layer 'r' (ReLU): max_value=4.0: only ReLU() and ReLU(6)",
        ),
    ],
)
def test_a_layer_the_notation_lacks_is_named_with_its_class(make, message):
    inputs = keras.Input((8, 8, 2))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(make(inputs)))
    with pytest.raises(UnsupportedModel, match=message.replace("(", r"\(").replace(")", r"\)")):
        to_spec(keras.Model(inputs, outputs))


def test_a_graph_that_is_not_nested_merges_is_written_with_named_tensors():
    inputs = keras.Input((8, 8, 2))
    a = keras.layers.Conv2D(2, 1, name="a")(inputs)
    b = keras.layers.Conv2D(2, 1, name="b")(a)
    first = keras.layers.Add(name="first")([a, b])
    crossing = keras.layers.Add(name="crossing")([first, b])  # b feeds two merges at different levels
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(crossing))
    model = keras.Model(inputs, outputs)
    spec = to_spec(model)
    assert spec.text == (
        "IN(8, 8, 2) -> CN(2, 1, activation=linear) as a -> CN(2, activation=linear) as b"
        " -> ADD(@a | ID()) -> ADD(ID() | @b) -> FL() -> DN(3, activation=softmax)"
    )
    assert check(spec.text, (8, 8, 2), spec.num_classes).total_params == model.count_params()


def test_a_model_without_a_softmax_head_is_refused_as_a_classifier_and_read_as_its_logits():
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    with pytest.raises(UnsupportedModel, match="end in a softmax.*read it with --task logits"):
        to_spec(model, task="classify")
    read = to_spec(model)  # the head says the task: a classifier's logits, kept as written
    assert read.task == "logits" and read.text.endswith("-> DN(3, activation=linear)")


@pytest.mark.parametrize(
    ("application", "total", "frozen"),
    [
        ("ResNet50", 25_636_712, 53_120),
        ("MobileNetV2", 3_538_984, 34_112),
    ],
)
def test_keras_applications_read_as_specs_with_their_exact_parameter_counts(application, total, frozen):
    """Read with verification, as ``to_spec`` reads by default (every family, VGG16 and DenseNet121 among them, is
    read and compared output for output in ``tests/test_applications.py``)."""
    model = getattr(keras.applications, application)(weights=None)
    spec = to_spec(model)
    checked = check(spec.text, num_classes=spec.num_classes)
    assert (
        (checked.total_params, checked.non_trainable_params)
        == (total, frozen)
        == (
            model.count_params(),
            sum(int(w.numpy().size) for w in model.non_trainable_weights),
        )
    )
    assert checked.output_shape == model.output_shape


# --- the command and model files ---------------------------------------------------------------


def test_from_keras_prints_the_spec_of_a_saved_model(tmp_path):
    path = tmp_path / "model.keras"
    model = compile_spec(notebook_specs()["model2"], num_classes=7)
    model.save(path)
    result = run_cli("from-keras", str(path))
    assert result.returncode == 0, result.stderr
    assert " ".join(result.stdout.split()).startswith("IN(28, 28, 1) -> CN(20, 5) -> BN()")
    assert " ".join(result.stdout.split()).endswith("DN(7, activation=softmax)")
    spec_file = tmp_path / "model.cnn"
    spec_file.write_text(result.stdout)
    summary = run_cli("summary", str(spec_file), "--json")  # no --classes: the spec says 7
    assert json.loads(summary.stdout)["total_params"] == model.count_params()
    expected = architecture_hash(check(notebook_specs()["model2"], num_classes=7))
    assert json.loads(summary.stdout)["hash"] == expected


def test_from_keras_names_every_layer_it_cannot_write_one_a_line(tmp_path):
    path = tmp_path / "model.keras"
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.SpatialDropout2D(0.1, name="up")(inputs)
    x = keras.layers.Conv2D(4, 3, data_format="channels_first", name="first")(x)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(inputs, outputs).save(path)
    result = run_cli("from-keras", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("cnndsl: ")]
    assert len(lines) == 2 and "'up' (SpatialDropout2D)" in lines[0] and "'first' (Conv2D)" in lines[1]


def test_from_keras_writes_a_given_size_for_an_input_of_unknown_size(tmp_path):
    path = tmp_path / "model.keras"
    inputs = keras.Input((None, None, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)).save(path)
    unknown = run_cli("from-keras", str(path))
    assert unknown.returncode == 0 and unknown.stdout.startswith("IN(None, None, 3)")
    sized = run_cli("from-keras", str(path), "--input-shape", "32,32,3")
    assert sized.returncode == 0 and sized.stdout.startswith("IN(32, 32, 3)")
    wrong = run_cli("from-keras", str(path), "--input-shape", "32,32,1")
    assert wrong.returncode == 1 and "differs from the model's input" in wrong.stderr


def test_a_lambda_layer_is_refused_by_name_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "trap.keras"
    inputs = keras.Input((4, 4, 1))
    code = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")  # a function Keras can store
    trap = keras.layers.Lambda(code, name="trap")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(trap))
    keras.Model(inputs, outputs).save(path)
    marker.unlink()  # building the model ran it once; loading must not
    result = run_cli("from-keras", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"cnndsl: error: {path}: layer 'trap' (Lambda) holds Python code that only unsafe loading would run; "
        "cnndsl never loads it"
    )
    assert not marker.exists() and result.stdout == ""


def test_an_object_from_outside_keras_is_refused_before_keras_reads_the_file(tmp_path):
    path = tmp_path / "odd.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", '{"module": "os", "class_name": "system", "config": {"name": "x"}}')
    result = run_cli("from-keras", str(path))
    assert result.returncode == 2
    assert "'system' from module 'os' is not Keras's" in result.stderr


def test_a_custom_object_is_refused_before_keras_reads_the_file(tmp_path):
    path = tmp_path / "custom.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", '{"class_name": "Thing", "registered_name": "pkg>Thing", "config": {}}')
    result = run_cli("from-keras", str(path))
    assert result.returncode == 2
    assert result.stderr == f"cnndsl: error: {path}: 'pkg>Thing' is a custom object; cnndsl loads Keras layers only\n"


@pytest.mark.parametrize("name", ["model.h5", "model.zip", "model"])
def test_only_keras_files_are_opened(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"anything")
    result = run_cli("from-keras", str(path))
    assert result.returncode == 2
    assert "not a .keras file" in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"not a zip at all", "not a .keras model file (a zip holding config.json)"),
        (b"PK\x03\x04broken", "not a .keras model file (a zip holding config.json)"),
    ],
)
def test_a_missing_or_corrupt_file_is_one_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "model.keras"
    if content is not None:
        path.write_bytes(content)
    result = run_cli("from-keras", str(path))
    assert result.returncode == 2
    assert result.stderr == f"cnndsl: error: {path}: {message}\n"


def test_a_zip_that_is_not_a_keras_model_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", '{"class_name": "Nothing", "config": {}}')
    result = run_cli("from-keras", str(path))
    assert result.returncode == 2
    assert last_line(result.stderr).startswith(f"cnndsl: error: {path}: Keras cannot load it (")
    assert "Traceback" not in result.stderr


def test_a_model_the_notation_cannot_write_is_exit_1_naming_the_layer(tmp_path):
    path = tmp_path / "model.keras"
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.GaussianNoise(0.1, name="noise")(inputs)
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))).save(path)
    result = run_cli("from-keras", str(path))
    assert result.returncode == 1
    assert (
        last_line(result.stderr) == f"cnndsl: error: {path}: layer 'noise' (GaussianNoise) has no code in the notation"
    )
    assert "Traceback" not in result.stderr


def last_line(stderr: str) -> str:
    """cnndsl's own line: TensorFlow may log its start-up before it."""
    return stderr.strip().splitlines()[-1]


def test_every_keras_class_of_the_layer_table_reads_back():
    from cnndsl.backends.keras_reader import TABLE
    from cnndsl.layers import LAYERS

    missing = [
        code
        for code, kind in LAYERS.items()
        if not (kind.is_input or kind.is_identity or kind.is_output or kind.block) and kind.keras_class not in TABLE
    ]
    assert missing == []


# --- the modern vocabulary, read from Keras ----------------------------------------------------


def _same_outputs(model, text: str, classes: int, shape) -> float:
    """The largest difference between a Keras model and the one built from its spec, given its weights."""
    import numpy as np

    built = compile_spec(text, shape, classes)
    built.set_weights(model.get_weights())
    x = np.random.default_rng(0).uniform(0, 1, (2, *shape)).astype("float32")
    return float(np.max(np.abs(np.asarray(model(x, training=False)) - np.asarray(built(x, training=False)))))


def test_every_new_code_reads_from_keras_and_builds_the_same_model():
    inputs = keras.Input((16, 16, 4))
    x = keras.layers.Rescaling(1 / 255, offset=-0.5)(inputs)
    x = keras.layers.Normalization(mean=[0.1, 0.2, 0.3, 0.4], variance=[1.0, 2.0, 3.0, 4.0])(x)
    x = keras.layers.Conv2D(8, 3, groups=2, padding="same")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6)(x)
    x = keras.layers.Cropping2D(((1, 0), (2, 1)))(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, dilation_rate=2, padding="same")(x)
    x = keras.layers.Dropout(0.2, noise_shape=(None, 1, 1, 1))(x)
    y = keras.layers.Dense(8)(x)  # a Dense on 4-D, as ConvNeXt's pointwise convolutions
    x = x + y
    x = keras.layers.Reshape((-1, 8))(x)
    x = keras.layers.Reshape((8, 7, 8))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    spec = to_spec(model)
    for code in ("RSC(", "NRM(", "groups=2", "LN(", "CR(", "per_example=true", "ADD(", "RS(-1, 8)", "RS(8, 7, 8)"):
        assert code in spec.text
    checked = check(spec.text)  # the text says its input and its 3 classes
    assert (checked.total_params, checked.num_classes) == (model.count_params(), 3)
    assert _same_outputs(model, spec.text, 3, (16, 16, 4)) <= 1e-5


def test_an_adapted_normalization_counts_its_mean_variance_and_count_as_keras_does():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Normalization()(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    checked = check(to_spec(model).text)
    frozen = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    assert (checked.non_trainable_params, checked.total_params) == (frozen, model.count_params()) == (7, 15)


def test_mobilenet_v3s_hard_sigmoid_reads_as_the_activation_it_is():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 1)(inputs)
    gate = keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    x = keras.layers.Multiply()([x, gate])
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    spec = to_spec(model)
    assert "MUL(ID() | ACT(hard_sigmoid))" in spec.text
    assert _same_outputs(model, spec.text, 2, (8, 8, 3)) <= 1e-6


def test_other_arithmetic_on_tensors_is_named_as_having_no_notation():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 1, name="c")(inputs) * 2.0
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    with pytest.raises(
        UnsupportedModel, match=r"operation 'multiply\w*' \(Multiply\) with a constant on tensors has no code"
    ):
        to_spec(keras.Model(inputs, outputs))


def test_a_nested_sequential_is_opened_in_place():
    stem = keras.Sequential([keras.layers.Conv2D(4, 2, strides=2), keras.layers.LayerNormalization()], name="stem")
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(stem(inputs)))
    model = keras.Model(inputs, outputs)
    spec = to_spec(model)
    assert spec.text.startswith("IN(8, 8, 3) -> CN(4, 2, strides=2, activation=linear) -> LN()")
    assert _same_outputs(model, spec.text, 2, (8, 8, 3)) <= 1e-6


def test_a_head_of_its_own_is_written_and_read_back():
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.GlobalAveragePooling2D(keepdims=True)(inputs)
    x = keras.layers.Conv2D(5, 1, padding="same")(x)
    outputs = keras.layers.Activation("softmax")(keras.layers.Reshape((5,))(x))
    model = keras.Model(inputs, outputs)
    spec = to_spec(model)
    assert spec.text.endswith("RS(5) -> ACT(softmax)") and spec.num_classes == 5
    assert check(spec.text).total_params == model.count_params() == 20


def test_a_written_spec_states_its_class_count():
    """A 3-class model's spec checks as 3 classes with no --classes (it used to say 10 and count a wrong head)."""
    model = compile_spec("IN(28, 28, 1) -> CN(8, 3) -> MP(2) -> FL() -> DN(16)", num_classes=3)
    spec = to_spec(model)
    assert spec.text.endswith("DN(16) -> DN(3, activation=softmax)")
    checked = check(spec.text)
    assert (checked.num_classes, checked.total_params, checked.output_shape) == (3, model.count_params(), (None, 3))


@RMS_DEPRECATED
def test_every_layer_without_notation_is_named_in_graph_order():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.SpatialDropout2D(0.1, name="first")(inputs)
    x = keras.layers.Conv2D(4, 3, data_format="channels_first", name="second")(x)
    x = keras.layers.LayerNormalization(rms_scaling=True, name="fourth")(x)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    with pytest.raises(UnsupportedModel) as caught:
        to_spec(keras.Model(inputs, outputs))
    lines = str(caught.value).splitlines()
    assert [line.split("'")[1] for line in lines] == ["first", "second", "fourth"]


def test_an_unknown_input_size_is_written_as_none():
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Dense(2, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    )
    spec = to_spec(keras.Model(inputs, outputs))
    assert spec.text.startswith("IN(None, None, 3) -> CN(4, activation=linear)")
    assert check(spec.text).layers[0].output_shape == (None, None, None, 4)


def test_an_inherited_kernel_is_left_out_only_right_after_a_layer_of_its_code():
    """The 1x1 after a merge whose last convolution was a 1x1 is written 1, not left to an inheritance out of sight."""
    text = (
        "IN(8, 8, 4) -> ADD(ID() | CN(2, 3, padding=same) -> CN(4, 1, activation=linear)) -> BN() -> CN(8, 1) -> GAP()"
    )
    spec = to_spec(compile_spec(text))
    assert "BN() -> CN(8, 1)" in spec.text
    assert "CN(2, padding=same) -> CN(4, 1, activation=linear)" in spec.text
    assert architecture_hash(check(spec.text)) == architecture_hash(check(text))
    assert to_spec(compile_spec("CN(8, 5) -> CN(4) -> GAP()")).text == (
        "IN(28, 28, 1) -> CN(8, 5) -> CN(4) -> GAP() -> DN(10, activation=softmax)"
    )


def _example_ended(kind) -> str:
    """The entry's example for an 8x8x4 input, pooled when it leaves an image (the head needs classes)."""
    text = example_text(kind)
    rank = len(check(f"{text} -> FL()", (8, 8, 4), 3).layers[0].output_shape)
    return f"{text} -> GAP()" if rank == 4 else text


@pytest.mark.parametrize("code", sorted(code for code, kind in LAYERS.items() if kind.keras and not kind.merge))
def test_each_code_s_example_reads_back_from_keras_as_the_same_architecture(code):
    text = f"IN(8, 8, 4) -> {_example_ended(LAYERS[code])}"
    spec = to_spec(compile_spec(text))
    assert architecture_hash(check(spec.text)) == architecture_hash(check(text)), spec.text
