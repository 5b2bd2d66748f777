"""Models of several inputs: ``IN(...) as rgb -> ... -> IN(...) as ir -> ...`` through every stage.

The notation, the checker's errors (by span), summary, draw, the JSON IR and the canonical form
need no framework; the Keras and PyTorch builds with ported weights, the emitted sources and ONNX
are compared number for number (marked slow).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_cli

from cnndsl import SpecError, check
from cnndsl.formatter import format_text
from cnndsl.model import INPUT
from cnndsl.report import architecture_hash, canonical_form, summary_json, summary_table

TWO = "IN(16, 16, 3) as rgb -> CN(4, 3) as a -> IN(16, 16, 1) as ir -> CN(2, 3) -> CAT(@a | ID()) -> GAP() -> DN(10)"
"""RGB and infrared, each through a convolution of its own, joined."""
THREE = (
    "IN(12, 12, 3) as rgb -> CN(4, 3, padding=same) as a -> IN(12, 12, 1) as ir -> CN(4, 3, padding=same) as b"
    " -> IN(12, 12, 2) as depth -> CN(4, 1) -> ADD(@a | @b | ID()) -> MP(2) -> OUT(ID() as map | GAP() -> DN(3) as k)"
)
"""Three inputs added, and two outputs (one the joined map itself)."""


def error_at(text: str):
    """The first diagnostic of a spec that fails, and the text under its span."""
    with pytest.raises(SpecError) as caught:
        check(text)
    first = caught.value.diagnostics[0]
    return first, text[first.span.start : first.span.end]


# --- the notation and the checker ---------------------------------------------------------


def test_each_in_after_the_first_starts_an_input_named_by_its_as():
    model = check(TWO)
    assert [(given.name, given.shape) for given in model.inputs] == [
        ("rgb", (None, 16, 16, 3)),
        ("ir", (None, 16, 16, 1)),
    ]
    assert model.input_names == ("rgb", "ir") and model.input_shape == (None, 16, 16, 3)
    by_code = {info.code: info for info in model.layers}
    assert sorted(info.input_shape[-1] for info in model.layers if info.code == "CN") == [1, 3]
    assert by_code["CAT"].output_shape == (None, 14, 14, 6)
    feeds = {info.input_shape[-1]: info.inputs for info in model.layers if info.code == "CN"}
    assert feeds == {3: (INPUT,), 1: (INPUT - 1,)}  # the second input is INPUT - 1
    assert TWO[model.inputs[1].span.start : model.inputs[1].span.end] == "IN(16, 16, 1)"


def test_three_inputs_and_two_outputs():
    model = check(THREE)
    assert model.input_names == ("rgb", "ir", "depth") and model.output_names == ("map", "k")
    assert model.output_shapes == ((None, 6, 6, 4), (None, 3))
    assert sorted(source for info in model.layers for source in info.inputs if source < 0) == [-3, -2, -1]


def test_a_model_of_one_input_lists_none_and_keeps_its_text_and_hash():
    one = check("IN(16, 16, 3) as rgb -> CN(4, 3) -> GAP() -> DN(10)")
    plain = check("IN(16, 16, 3) -> CN(4, 3) -> GAP() -> DN(10)")
    assert one.inputs == () and one.input_names == () and one.input_shapes == ((None, 16, 16, 3),)
    assert architecture_hash(one) == architecture_hash(plain) and not one.is_graph
    assert summary_table(one).startswith("Input: (None, 16, 16, 3)   Classes: 10")


@pytest.mark.parametrize(
    ("text", "code", "under"),
    [
        # two inputs of one name: the second's name, pointing at the first
        ("IN(8, 8, 3) as x -> CN(4, 3) as a -> IN(8, 8, 1) as x -> CN(4, 3) -> CAT(@a | ID()) -> GAP()",
         "tensor-name", "x"),
        # a later input no layer reads
        ("IN(8, 8, 3) as rgb -> CN(4, 3) as a -> IN(8, 8, 1) as ir -> @a -> GAP()", "unused-input", "IN(8, 8, 1)"),
        # the first input reaching nothing: a second input right after it
        ("IN(8, 8, 3) as rgb -> IN(8, 8, 1) as ir -> CN(4, 3) -> GAP()", "unused-input", "IN(8, 8, 3)"),
        # a layer the later input cuts off
        ("IN(8, 8, 3) as rgb -> CN(4, 3) -> IN(8, 8, 1) as ir -> GAP()", "lost-output", "CN(4, 3)"),
        # a later input must be named
        ("IN(8, 8, 3) -> CN(4, 3) as a -> IN(8, 8, 1) -> CAT(@a | ID()) -> GAP()", "misplaced-input", "IN(8, 8, 1)"),
        # and written in the model's own chain
        ("IN(8, 8, 3) -> CN(4, 3) as a -> CAT(IN(8, 8, 1) as ir | @a) -> GAP()", "misplaced-input", "IN(8, 8, 1)"),
        # inputs that do not join
        ("IN(8, 8, 3) as rgb -> CN(4, 3) as a -> IN(9, 9, 1) as ir -> CN(4, 3) -> CAT(@a | ID()) -> GAP()",
         "merge-shapes", "ID()"),
    ],
)  # fmt: skip
def test_errors_of_several_inputs_are_under_what_is_wrong(text, code, under):
    first, text_under = error_at(text)
    assert first.code == code and text_under == under, first


def test_two_inputs_of_one_name_say_where_the_first_is():
    first, _ = error_at("IN(8, 8, 3) as x -> CN(4, 3) as a -> IN(8, 8, 1) as x -> CN(4, 3) -> CAT(@a | ID()) -> GAP()")
    assert "defined twice" in first.message and "line 1, column 16" in first.hint


def test_a_block_used_twice_that_opens_an_input_names_two_inputs_alike(tmp_path):
    from cnndsl.inputs import read_models

    path = tmp_path / "twice.cnn"
    path.write_text(
        "block b = IN(8, 8, 1) as x -> CN(4, 3)\n"
        "m = IN(8, 8, 3) -> CN(4, 3) as a -> b -> CAT(@a | ID()) as c -> b -> CAT(@c | ID()) -> GAP()\n"
    )
    (source,) = read_models(str(path))
    with pytest.raises(SpecError) as caught:
        source.check()
    first = caught.value.diagnostics[0]
    assert first.code == "tensor-name" and first.message == "two inputs are named 'x'"
    assert (first.span.line, first.span.column) == (1, 11)
    path.write_text(
        "block b = IN(8, 8, 1) as x -> CN(4, 3)\nm = IN(8, 8, 3) -> CN(4, 3) as a -> b -> CAT(@a | ID()) -> GAP()\n"
    )
    (source,) = read_models(str(path))
    assert source.check().input_names == ("input_1", "x")  # once: a further input, the first unnamed


def test_an_input_may_be_used_again_by_its_name():
    model = check("IN(8, 8, 3) as rgb -> CN(3, 1) as a -> IN(8, 8, 3) as ir -> ADD(@a | @rgb | ID()) -> GAP()")
    (add,) = [info for info in model.layers if info.code == "ADD"]
    assert sorted(add.inputs) == sorted((0 if model.layers[0].code == "CN" else 1, INPUT, INPUT - 1))


# --- what prints it ----------------------------------------------------------------------


def test_the_canonical_form_declares_every_input_and_checks_to_the_same_model():
    model = check(TWO)
    text = canonical_form(model)
    assert text.startswith("IN(16,16,3) as rgb -> IN(16,16,1) as ir -> ")
    again = check(text)
    assert canonical_form(again) == text and architecture_hash(again) == architecture_hash(model)
    assert again.input_names == model.input_names and again.total_params == model.total_params
    renamed = check(TWO.replace("as ir", "as nir"))
    assert architecture_hash(renamed) != architecture_hash(model)  # the inputs' names are the interface
    formatted = format_text(TWO)
    assert architecture_hash(check(formatted)) == architecture_hash(model)


def test_summary_lists_every_input_with_its_shape(tmp_path):
    spec = tmp_path / "two.cnn"
    spec.write_text(TWO + "\n")
    result = run_cli("summary", str(spec))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Inputs: rgb (None, 16, 16, 3), ir (None, 16, 16, 1)   Classes: 10")
    assert any(" ir " in line and line.startswith("conv2d") for line in lines)  # Connected to: the input's name
    checked = run_cli("check", str(spec))
    assert checked.stdout.strip().endswith(
        "OK, 5 layers, 202 parameters, inputs rgb (None, 16, 16, 3), ir (None, 16, 16, 1), output (None, 10)"
    )
    document = summary_json(check(TWO))
    assert document["inputs"] == [
        {"name": "rgb", "shape": [None, 16, 16, 3]},
        {"name": "ir", "shape": [None, 16, 16, 1]},
    ]


def test_draw_draws_a_box_for_every_input(tmp_path):
    for style in ("boxes", "graph"):
        picture = tmp_path / f"three_{style}.svg"
        result = run_cli("draw", THREE, "--style", style, "-o", str(picture))
        assert result.returncode == 0, result.stderr
        svg = picture.read_text()
        assert svg.count('class="input"') == 3
        assert all(f'data-input="{name}"' in svg for name in ("rgb", "ir", "depth"))
        assert "inputs rgb (None, 12, 12, 3), ir (None, 12, 12, 1), depth (None, 12, 12, 2), outputs map" in svg


@pytest.mark.parametrize("text", [TWO, THREE, TWO.replace("as a -> IN", "as a -> @rgb -> CN(2, 1) as b -> IN")])
def test_the_json_ir_lists_the_inputs_and_reads_back_to_the_same_model(text):
    from cnndsl.backends import json_ir
    from cnndsl.emit import emit

    if "as b" in text:  # @b is then lost: use it
        text = text.replace("CAT(@a | ID())", "CAT(@a | @b -> CN(2, 3) | ID())")
    model = check(text)
    spec, classes = json_ir.read(json.loads(emit(model, "json")))
    again = check(spec, num_classes=classes)
    assert architecture_hash(again) == architecture_hash(model)
    assert again.input_names == model.input_names and again.input_shapes == model.input_shapes
    assert again.output_names == model.output_names and again.total_params == model.total_params


def test_the_json_ir_lists_the_inputs(tmp_path):
    path = tmp_path / "two.json"
    assert run_cli("emit", TWO, "--to", "json", "-o", str(path)).returncode == 0
    document = json.loads(path.read_text())
    assert document["inputs"] == [
        {"name": "rgb", "shape": [None, 16, 16, 3]},
        {"name": "ir", "shape": [None, 16, 16, 1]},
    ]
    assert {source for layer in document["layers"] for source in layer["inputs"] if source < 0} == {-1, -2}
    result = run_cli("summary", str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hash"] == architecture_hash(check(TWO)) == document["hash"]


def test_training_refuses_a_model_of_several_inputs_in_one_line_before_reading_data(tmp_path):
    result = run_cli("run", TWO, "--data", "mnist", "--epochs", "1", "--output", str(tmp_path / "r"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "training a model of several inputs (rgb, ir) is not supported yet" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


# --- the frameworks ----------------------------------------------------------------------


def _samples(model) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.standard_normal((2, *given.shape[1:])).astype("float32") for given in model.inputs]


@pytest.mark.slow
@pytest.mark.parametrize("text", [TWO, THREE])
def test_keras_and_pytorch_with_ported_weights_compute_alike_from_every_input(text):
    pytest.importorskip("torch")
    import keras
    import torch
    from torch_strategies import assert_close, randomize

    from cnndsl import compile_spec
    from cnndsl.backends.torch import parameter_counts, port_weights

    keras.backend.clear_session(free_memory=False)  # Keras names layers as the checked model does
    model = check(text)
    keras_model = compile_spec(text)
    assert [tensor.name.split(":")[0] for tensor in keras_model.inputs] == list(model.input_names)
    assert [tuple(tensor.shape) for tensor in keras_model.inputs] == list(model.input_shapes)
    assert keras_model.count_params() == model.total_params
    torch_model = compile_spec(text, backend="torch").eval()
    assert parameter_counts(torch_model) == (model.trainable_params, model.non_trainable_params)
    randomize(keras_model)
    port_weights(keras_model, torch_model)
    xs = _samples(model)
    wants = keras_model(xs, training=False)
    with torch.no_grad():
        got = torch_model(*(torch.from_numpy(x).permute(0, 3, 1, 2) for x in xs))
    wants, got = (wants, got) if model.outputs else ([wants], [got])
    for want, have in zip(wants, got, strict=True):
        have = have.numpy()
        assert_close(np.asarray(want), have.transpose(0, 2, 3, 1) if have.ndim == 4 else have)
    swapped = [xs[1], xs[0], *xs[2:]] if xs[0].shape == xs[1].shape else None
    if swapped is not None:  # each input goes where its name says: swapping them changes the outputs
        assert not np.allclose(np.asarray(keras_model(swapped, training=False)[0]), np.asarray(wants[0]))


@pytest.mark.slow
def test_onnx_has_one_input_per_name_computing_what_keras_computes():
    pytest.importorskip("torch")
    onnxruntime = pytest.importorskip("onnxruntime")
    from torch_strategies import assert_close, randomize

    from cnndsl import compile_spec
    from cnndsl.backends.onnx import export
    from cnndsl.backends.torch import build, port_weights

    model = check(THREE)
    keras_model = compile_spec(THREE)
    randomize(keras_model)
    module = build(model)
    port_weights(keras_model, module)
    session = onnxruntime.InferenceSession(export(module, model))
    assert [i.name for i in session.get_inputs()] == ["rgb", "ir", "depth"]
    assert [o.name for o in session.get_outputs()] == ["map", "k"]
    xs = _samples(model)
    outs = session.run(None, {name: x.transpose(0, 3, 1, 2).copy() for name, x in zip(model.input_names, xs)})
    for want, have in zip(keras_model(xs, training=False), outs, strict=True):
        assert_close(np.asarray(want), have.transpose(0, 2, 3, 1) if have.ndim == 4 else have)


@pytest.mark.slow
def test_the_emitted_keras_and_pytorch_sources_take_every_input():
    pytest.importorskip("torch")
    import torch

    keras_source = run_cli("emit", TWO, "--to", "keras").stdout
    torch_source = run_cli("emit", TWO, "--to", "torch").stdout
    keras_scope: dict = {}
    exec(compile(keras_source, "keras_model.py", "exec"), keras_scope)
    torch_scope: dict = {}
    exec(compile(torch_source, "torch_model.py", "exec"), torch_scope)
    keras_model, torch_model = keras_scope["model"], torch_scope["model"]
    assert [tensor.name.split(":")[0] for tensor in keras_model.inputs] == ["rgb", "ir"]
    assert keras_model.count_params() == check(TWO).total_params
    assert "def forward(self, input_rgb, input_ir):" in torch_source
    with torch.no_grad():
        got = torch_model.eval()(torch.zeros(2, 3, 16, 16), torch.zeros(2, 1, 16, 16))
    assert tuple(got.shape) == (2, 10)


@pytest.mark.slow
def test_the_readers_refuse_a_model_of_several_inputs_and_still_read_a_built_graph_of_one(torchvision_import):
    pytest.importorskip("torch")
    from cnndsl import compile_spec, from_torch
    from cnndsl.backends.keras_reader import to_spec
    from cnndsl.errors import UnsupportedModel

    with pytest.raises(UnsupportedModel, match="exactly one input"):
        to_spec(compile_spec(TWO))
    with pytest.raises(UnsupportedModel):
        from_torch(compile_spec(TWO, backend="torch"), input_shape=(16, 16, 3))
    one = "IN(16, 16, 3) -> CN(4, 3) -> ADD(ID() | CN(4, 3, padding=same)) -> GAP() -> DN(10)"
    read = from_torch(compile_spec(one, backend="torch"), input_shape=(16, 16, 3))
    assert architecture_hash(check(read.text, num_classes=read.num_classes)) == architecture_hash(check(one))


def test_the_notebook_table_and_the_language_server_name_every_input():
    from cnndsl.lsp.analysis import _model_tooltip
    from cnndsl.notebook import summary_html

    model = check(TWO)
    assert "Inputs: rgb (None, 16, 16, 3), ir (None, 16, 16, 1) &nbsp; Classes: 10</caption>" in summary_html(model)
    assert _model_tooltip(model).endswith("; inputs rgb 16×16×3, ir 16×16×1; output 10")
    assert "Input: (None, 16, 16, 3) &nbsp; Classes: 10" in summary_html(check("IN(16, 16, 3) -> CN(4, 3) -> GAP()"))
