"""cnndsl emit: each emitted file, run, equals what compile_spec builds."""

from __future__ import annotations

import json

import pytest
from golden_tables import notebook_specs
from helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_strategies import (
    MODERN_SPECS,
    accepted_specs,
    assert_close,
    assert_onnx_equals_keras,
    assert_same_keras_model,
    assert_torch_source_equals_keras,
    graph_specs,
    keras_output,
    randomize,
    run_source,
    sample,
)

from cnndsl import check, compile_spec
from cnndsl.backends import json_ir
from cnndsl.emit import emit
from cnndsl.inputs import read_models
from cnndsl.layers import LAYERS
from cnndsl.report import architecture_hash

pytestmark = pytest.mark.slow

SHAPE = (16, 16, 3)
SPECS = [
    *((text, (28, 28, 1)) for text in notebook_specs().values()),
    "CN(8,3,strides=2,padding=same)->BN()->AP(3,strides=2,padding=same)->CN(4,2,padding=same,activation=exponential)"
    "->MP(3,strides=2,padding=same)->FL()->DN(12,activation=elu)->DP(0.5)",
    "CN(6,(2,3),dilation=2,activation=linear)->ACT(softmax)->DN(5,activation=leaky_relu)->GMP()->DN(4)",
]
GRAPHS = [
    "CN(4,3,padding=same)->ADD(CN(4,3,padding=same)->BN()->CN(4,3,padding=same,bias=false) | ID())"
    "->MUL(ID() | GAP(keepdims=true)->CN(2,1)->CN(4,1,activation=sigmoid))->GAP()",
    "CN(3,3)->CAT(ID() | SC(2,3,padding=same,depth_multiplier=2) | DW(3,padding=same)->BN(center=false))"
    "->ZP(((0,1),(2,0)))->UP(2,interpolation=bilinear)->AP(3,strides=2,padding=same)->MUL(ID() | GAP()->DN(8,activation=sigmoid))->FL()",
]
SPECS = [case if isinstance(case, tuple) else (case, SHAPE) for case in [*SPECS, *GRAPHS]]


def test_every_layer_code_but_in_id_out_and_blocks_declares_how_keras_builds_it():
    missing = [
        code
        for code, kind in LAYERS.items()
        if not kind.keras and not (kind.is_input or kind.is_identity or kind.is_output or kind.block)
    ]
    assert missing == []


@pytest.mark.parametrize(("text", "shape"), SPECS)
def test_the_keras_script_builds_what_compile_spec_builds(text, shape):
    model = check(text, shape)
    assert_same_keras_model(compile_spec(text, shape), run_source(emit(model, "keras").decode())["model"])


def test_the_keras_script_has_the_spec_above_each_layer_and_adds_layers_one_by_one():
    text = emit(check(notebook_specs()["model1"]), "keras").decode()
    assert "# CN(72,(7,7))\nmodel.add(layers.Conv2D(72, (7, 7), activation='relu'))" in text
    assert text.count("model.add(") == 1 + len(check(notebook_specs()["model1"]).layers)  # the input, then each layer
    assert 'if __name__ == "__main__":\n    model.summary()' in text


@pytest.mark.parametrize(("text", "shape"), SPECS)
def test_the_torch_source_computes_what_keras_computes(text, shape):
    pytest.importorskip("torch")
    assert_torch_source_equals_keras(text, shape)


@pytest.mark.parametrize(("text", "shape", "classes"), MODERN_SPECS)
def test_the_torch_source_of_the_modern_codes_computes_what_keras_computes(text, shape, classes):
    pytest.importorskip("torch")
    assert_torch_source_equals_keras(text, shape, classes)


@pytest.mark.parametrize(("text", "shape", "classes"), MODERN_SPECS)
def test_the_keras_script_of_the_modern_codes_builds_what_compile_spec_builds(text, shape, classes):
    emitted = run_source(emit(check(text, shape, classes), "keras").decode())["model"]
    assert_same_keras_model(compile_spec(text, shape, classes), emitted)


def test_the_keras_script_with_layer_scale_and_a_scaled_residual_runs_and_computes_the_same(tmp_path):
    """LS and ADD scale= are layers of cnndsl's own: the script defines them, and runs without cnndsl."""
    import subprocess
    import sys

    text = "CN(4, 3, padding=same) -> ADD(ID() | CN(4, 1) -> LS(0.5), scale=0.2) -> GAP()"
    script = emit(check(text, (8, 8, 3), 5), "keras").decode()
    assert "class LayerScale(keras.layers.Layer)" in script and "class ScaledAdd(keras.layers.Layer)" in script
    path = tmp_path / "model.py"
    path.write_text(script + "\nmodel.save_weights('w.weights.h5')\n", encoding="utf-8")
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    built = compile_spec(text, (8, 8, 3), 5)
    emitted = run_source(script)["model"]
    assert_same_keras_model(built, emitted)
    emitted.load_weights(tmp_path / "w.weights.h5")
    built.set_weights(emitted.get_weights())
    x = sample((8, 8, 3))
    assert_close(keras_output(built, x), keras_output(emitted, x))


@settings(max_examples=15)
@given(accepted_specs())
def test_the_torch_source_of_random_specs_computes_what_keras_computes(case):
    pytest.importorskip("torch")
    assert_torch_source_equals_keras(*case)


@settings(max_examples=8)
@given(graph_specs())
def test_the_torch_source_of_random_graphs_computes_what_keras_computes(case):
    pytest.importorskip("torch")
    assert_torch_source_equals_keras(*case)


@settings(max_examples=8)
@given(graph_specs())
def test_the_keras_script_of_random_graphs_builds_what_compile_spec_builds(case):
    text, shape, classes = case
    emitted = run_source(emit(check(text, shape, classes), "keras").decode())["model"]
    assert_same_keras_model(compile_spec(text, shape, classes), emitted)


@pytest.mark.parametrize(("text", "shape", "classes"), [(*case, 10) for case in SPECS] + MODERN_SPECS)
def test_the_onnx_file_computes_what_keras_computes(text, shape, classes):
    pytest.importorskip("onnxruntime")
    assert_onnx_equals_keras(text, shape, classes)


def test_the_onnx_file_of_an_unknown_input_size_takes_any_size_and_computes_what_keras_computes():
    onnxruntime = pytest.importorskip("onnxruntime")
    from cnndsl.backends.onnx import emit as emit_onnx
    from cnndsl.backends.torch import build, port_weights

    text = "IN(None, None, 3) -> CN(4, 3, padding=same) -> LN() -> CN(5, 3, strides=2) -> CR(1) -> GAP()"
    model, keras_model = check(text), compile_spec(text)
    randomize(keras_model)
    module = build(model)
    port_weights(keras_model, module)
    assert emit_onnx(model)  # a fresh module exports too
    from cnndsl.backends.onnx import export

    session = onnxruntime.InferenceSession(export(module, model))
    for size in ((9, 9), (16, 11)):
        x = sample((*size, 3))
        (out,) = session.run(None, {"input": x.transpose(0, 3, 1, 2).copy()})
        assert_close(keras_output(keras_model, x), out)


# --- the JSON architecture -------------------------------------------------------------


def architecture(text: str, input_shape=None, classes=None) -> dict:
    return json.loads(emit(check(text, input_shape, classes), "json"))


def test_the_json_architecture_has_every_layer_with_all_arguments_inputs_shapes_and_parameters():
    document = architecture("CN(8,5)->MP()->FL()", (12, 12, 1), 3)
    assert (document["format"], document["version"]) == ("cnndsl-architecture", 1)
    assert document["input_shape"] == [12, 12, 1] and document["num_classes"] == 3
    conv, pool, flatten, head = document["layers"]
    assert conv["args"] == {
        "filters": 8, "kernel": [5, 5], "strides": [1, 1], "padding": "valid", "activation": "relu", "dilation": [1, 1],
        "bias": True, "groups": 1,
    }  # fmt: skip
    assert conv["inputs"] == [-1] and pool["inputs"] == [0]
    assert conv["output_shape"] == [None, 8, 8, 8] and conv["trainable_params"] == 208
    assert head["head"] and head["args"]["units"] == 3
    assert document["total_params"] == sum(layer["trainable_params"] for layer in document["layers"])
    assert document["tree"] == [0, 1, 2, 3]


@settings(max_examples=30)
@given(st.one_of(accepted_specs(), graph_specs()))
def test_the_json_architecture_reads_back_as_the_same_architecture(case):
    text, input_shape, classes = case
    spec, read_classes = json_ir.read(architecture(text, input_shape, classes))
    again = check(spec, num_classes=read_classes)
    assert architecture_hash(again) == architecture_hash(check(text, input_shape, classes))


@pytest.mark.parametrize(
    ("task", "text", "classes", "written"),
    [
        ("classify", "CN(4) -> GAP()", None, "CN(4) -> GAP() -> DN(10, activation=softmax)"),
        ("classify", "CN(4) -> GAP() -> DN(3)", 3, "CN(4) -> GAP() -> DN(3, activation=softmax)"),
        ("segment", "CN(4, 3, padding=same) -> CN(3, 1)", 3, "CN(4, padding=same) -> CN(3, 1, activation=softmax)"),
        ("regress", "CN(4) -> GAP() -> DN(3)", 3, "CN(4) -> GAP() -> DN(3, activation=linear)"),
        # the head a segmentation appends hashes in the order it was released with: left for the task to append
        ("segment", "CN(4, 3, padding=same)", None, "CN(4, padding=same)"),
    ],
)
def test_the_json_architecture_reads_back_with_its_head_written(task, text, classes, written):
    source = check(text, None, classes, task=task)
    spec, read_classes = json_ir.read(json.loads(emit(source, "json")))
    assert spec == f"IN(28, 28, 1) -> {written}" and read_classes == source.num_classes
    for again in (check(spec, num_classes=read_classes, task=task), check(spec, task=task)):
        assert architecture_hash(again) == architecture_hash(source), spec
        assert again.num_classes == source.num_classes and again.total_params == source.total_params


def architecture_of(model) -> dict:
    return json.loads(emit(model, "json"))


@pytest.mark.parametrize(
    ("text", "shape", "classes"),
    [*MODERN_SPECS, ("IN(None, None, 4) -> CN(8, 3, groups=2) -> LN() -> NRM(mean=(1, 2, 3, 4, 5, 6, 7, 8), "
                     "variance=(1, 1, 1, 1, 2, 2, 2, 2)) -> GAP(true) -> RS(-1) -> DN(4) -> ACT(softmax)", None, None)],
)  # fmt: skip
def test_the_json_architecture_of_the_modern_codes_keeps_every_argument(text, shape, classes):
    document = architecture(text, shape, classes)
    spec, read_classes = json_ir.read(json.loads(json.dumps(document)))
    again = check(spec, num_classes=read_classes)
    assert architecture_hash(again) == architecture_hash(check(text, shape, classes))
    assert [layer["args"] for layer in architecture(spec, None, read_classes)["layers"]] == [
        layer["args"] for layer in document["layers"]
    ]


def test_the_json_architecture_writes_tuples_as_lists_and_an_unknown_size_as_null():
    text = "IN(None, None, 2) -> NRM(mean=(1, 2), variance=(3, 4)) -> CN(4, 3, groups=2) -> GAP() -> RS(2, -1)"
    document = architecture(text + " -> ADD(ID() | LS(), scale=0.5) -> FL()")
    assert document["input_shape"] == [None, None, 2]
    normalization, conv, _, reshape, scale, add, _, _ = document["layers"]
    assert normalization["args"] == {"mean": [1.0, 2.0], "variance": [3.0, 4.0]}
    assert conv["args"]["groups"] == 2 and conv["output_shape"] == [None, None, None, 4]
    assert reshape["args"] == {"shape": [2, -1]} and scale["args"] == {"init": 1e-06} and add["args"] == {"scale": 0.5}


def test_a_json_file_is_a_spec_for_every_command(tmp_path):
    path = tmp_path / "model.json"
    text = notebook_specs()["model2"]
    path.write_text(json.dumps(architecture(text, (28, 28, 1), 7)))
    (source,) = read_models(str(path))
    assert architecture_hash(source.check()) == architecture_hash(check(text, num_classes=7))
    result = run_cli("summary", str(path))
    assert result.returncode == 0, result.stderr
    assert f"Architecture hash: {architecture_hash(check(text, num_classes=7))}" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON (line 1, column 2"),
        ('{"format": "something else"}', 'not a cnndsl architecture (no "format": "cnndsl-architecture")'),
        ('{"format": "cnndsl-architecture", "version": 99}', "architecture version 99; this cnndsl reads version 1"),
        ('{"format": "cnndsl-architecture", "version": 1, "layers": []}', "malformed architecture (KeyError"),
        ("[" * 100000, "not JSON cnndsl reads (nested too deeply)"),
    ],
)
def test_a_broken_json_file_is_one_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "model.json"
    path.write_text(content)
    result = run_cli("check", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"cnndsl: error: {path}: {message}")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


# --- the command ---------------------------------------------------------------------------


def test_emit_of_a_spec_with_errors_reports_them_and_writes_nothing(tmp_path):
    out = tmp_path / "model.py"
    result = run_cli("emit", "CN(8,99)->FL()", "--to", "torch", "-o", str(out))
    assert result.returncode == 1
    assert "kernel 99x99 needs an input of at least 99x99" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_emit_keeps_an_existing_file_when_the_spec_has_errors(tmp_path):
    out = tmp_path / "model.py"
    out.write_text("precious")
    assert run_cli("emit", "CN(", "--to", "keras", "-o", str(out)).returncode == 1
    assert out.read_text() == "precious"


def test_emit_writes_a_keras_script_that_prints_the_summary_when_run(tmp_path):
    out = tmp_path / "model1.py"
    result = run_cli("emit", notebook_specs()["model1"], "--to", "keras", "-o", str(out))
    assert result.returncode == 0, result.stderr
    run = run_cli_python(out)
    assert run.returncode == 0, run.stderr
    assert "Total params: 240,380" in run.stdout


def run_cli_python(path):
    import subprocess
    import sys

    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)


def test_emit_json_to_stdout_is_the_architecture():
    result = run_cli("emit", "CN(8)->GAP()", "--to", "json", "--classes", "4")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["num_classes"] == 4


def test_emit_onnx_writes_a_file_onnx_reads(tmp_path):
    onnx = pytest.importorskip("onnx")
    out = tmp_path / "model.onnx"
    result = run_cli("emit", "CN(8)->MP()->FL()", "--to", "onnx", "-o", str(out))
    assert result.returncode == 0, result.stderr
    onnx.checker.check_model(onnx.load(str(out)))


def test_emit_to_an_unwritable_place_is_one_line_and_exit_2(tmp_path):
    result = run_cli("emit", "CN(8)->FL()", "--to", "json", "-o", str(tmp_path / "missing" / "x.json"))
    assert result.returncode == 2
    assert result.stderr.startswith("cnndsl: error:") and "Traceback" not in result.stderr


def test_emitting_source_and_json_and_reading_json_never_import_a_framework(tmp_path):
    import subprocess
    import sys

    from helpers import EXAMPLES

    architecture_file = tmp_path / "model1.json"
    code = (
        "import sys, cnndsl.cli\n"
        "for args in (['emit', 'examples/model1.cnn', '--to', 'keras'], ['emit', 'examples/model1.cnn', '--to', 'torch'],"
        f" ['emit', 'examples/model2.cnn', '--to', 'json', '-o', {str(architecture_file)!r}],"
        f" ['check', {str(architecture_file)!r}], ['summary', {str(architecture_file)!r}],"
        f" ['from-keras', {str(tmp_path / 'missing.keras')!r}]):\n"
        "    cnndsl.cli.main(args)\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'torch', 'jax', 'onnx', 'onnxruntime') if m in sys.modules]\n"
        "print('heavy:', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=EXAMPLES.parent, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout
    assert architecture_file.exists() and f"{architecture_file}: OK, 14 layers, 65,358 parameters" in result.stdout


def test_the_torch_source_runs_without_cnndsl(tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "model.py"
    assert run_cli("emit", GRAPHS[1], "--to", "torch", "-o", str(out)).returncode == 0
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, str(out)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Model(\n  (conv2d): Sequential(")


def test_emit_of_a_layer_pytorch_cannot_build_is_located_and_exit_1(tmp_path):
    out = tmp_path / "model.py"
    result = run_cli("emit", "CN(4)->UP(interpolation=bicubic)->GAP()", "--to", "torch", "-o", str(out))
    assert result.returncode == 1 and not out.exists()
    assert "1:8: error: UP(interpolation=bicubic): PyTorch has no bicubic resampling" in result.stderr
