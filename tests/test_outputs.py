"""Models of several outputs: ``... -> OUT(@p3 | @p4 | ID() as p5)`` through every stage.

The notation, the checker's errors (by span), the head rule, summary, draw, the JSON IR and the
formatter need no framework; the Keras and PyTorch builds with ported weights, the emitted sources
and ONNX are compared number for number (marked slow).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_cli
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from spec_strategies import graph_specs

from cnndsl import SpecError, check
from cnndsl.formatter import format_text
from cnndsl.model import INPUT
from cnndsl.report import architecture_hash, summary_json

LEVELS = "CN(4, 3) as p3 -> MP(2) -> CN(6, 3, padding=same) as p4 -> MP(2) -> CN(8, 1) -> OUT(@p3 | @p4 | ID() as p5)"
AUX = "CN(4, 3) as f -> MP(2) -> CN(6, 3) -> GAP() -> OUT(DN(10) as logits | @f -> GAP() -> DN(10) as aux)"
SHAPE = (16, 16, 3)


def error_at(text: str, task: str | None = None):
    """The first diagnostic of a spec that fails, and the text under its span."""
    with pytest.raises(SpecError) as caught:
        check(text, SHAPE, task=task)
    first = caught.value.diagnostics[0]
    return first, text[first.span.start : first.span.end]


# --- the notation and the checker ---------------------------------------------------------


def test_each_branch_is_an_output_named_by_its_as_its_at_name_or_its_place():
    model = check(LEVELS, SHAPE)
    assert model.output_names == ("p3", "p4", "p5")
    assert model.output_shapes == ((None, 14, 14, 4), (None, 7, 7, 6), (None, 3, 3, 8))
    assert [model.layers[s].code for s in model.output_sources] == ["CN", "CN", "CN"]
    assert model.output_shape == model.output_shapes[0]
    unnamed = check("CN(4, 3) -> OUT(CN(2, 1) | CN(3, 1) -> GAP() | ID())", SHAPE)
    assert unnamed.output_names == ("out_1", "out_2", "out_3")
    assert unnamed.output_shapes == ((None, 14, 14, 2), (None, 3), (None, 14, 14, 4))
    one = check("CN(4, 3) -> GAP() -> OUT(DN(3) as scores)", SHAPE)
    assert one.output_names == ("scores",) and one.is_graph


def test_a_model_of_one_output_has_no_named_outputs_and_keeps_its_hash():
    model = check("CN(4, 3) -> GAP()", SHAPE)
    assert model.outputs == () and model.output_sources == (len(model.layers) - 1,)
    assert "outputs" not in json.loads(run_cli("emit", "CN(4, 3) -> GAP()", "--to", "json").stdout)


def test_layers_are_in_keras_order_walking_from_each_output_in_turn():
    model = check("CN(8, 3) -> OUT(CN(2, 1) | CN(4, 1) -> CN(4, 1))", SHAPE)
    # Keras orders by depth from the outputs (deepest first), then by a walk from each output in turn
    assert [info.layer.text for info in model.layers] == ["CN(8, 3)", "CN(4, 1)", "CN(2, 1)", "CN(4, 1)"]
    assert model.output_sources == (2, 3)


@pytest.mark.parametrize(
    "text, code, under",
    [
        ("CN(4, 3) -> OUT(ID()) -> GAP()", "misplaced-outputs", "OUT(ID())"),
        ("CN(4, 3) -> ADD(OUT(ID()) | ID()) -> GAP()", "misplaced-outputs", "OUT(ID())"),
        ("CN(4, 3) -> GAP() -> OUT(ID()) * 2", "misplaced-outputs", "OUT(ID())"),
        ("CN(4, 3) as a -> GAP() -> OUT(ID()) -> @a", "misplaced-outputs", "OUT(ID())"),
        ("CN(4, 3) as a -> GAP() -> OUT(@a | DN(2) -> DN(3) as a)", "tensor-name", "a"),
        ("CN(4, 3) -> GAP() -> OUT(DN(2) as s | DN(3) as s)", "tensor-name", "s"),
        ("CN(4, 3) -> GAP() -> OUT(DN(2) | DN(3) | ID() as out_1)", "output-name", "out_1"),
        ("CN(4, 3) -> GAP() -> OUT(ID(), axis=1)", "unknown-argument", "axis=1"),
        ("CN(4, 3) -> GAP() -> OUT(DN(2) -> @q)", "unknown-tensor", "@q"),
        ("CN(4, 3) as a -> GAP() -> OUT(ID() | @a -> CN(2, 1) -> @a)", "lost-output", "CN(2, 1)"),
    ],
)
def test_a_misplaced_or_misnamed_out_is_an_error_under_what_is_wrong(text, code, under):
    first, written = error_at(text)
    assert first.code == code, first
    assert written == under


def test_two_outputs_of_one_name_say_where_the_first_is():
    first, written = error_at("CN(4, 3) as a -> GAP() -> OUT(@a | ID() as b | @a)")
    assert (first.code, written) == ("output-name", "@a")
    assert first.span.start == len("CN(4, 3) as a -> GAP() -> OUT(@a | ID() as b | ")
    assert "column 31" in first.hint


def test_out_without_branches_says_what_it_needs():
    first, written = error_at("CN(4, 3) -> GAP() -> OUT()")
    assert first.code == "merge-branches" and written == "OUT()"
    assert "at least 1 branch" in first.message


def test_the_task_head_rule_takes_each_branch_last_layer_that_reads_as_its_head():
    model = check(AUX, SHAPE)
    heads = [(info.layer.text, info.layer.args.get("activation")) for info in model.layers if info.layer.head]
    assert heads == [("DN(10)", "softmax"), ("DN(10)", "softmax")]
    assert [model.layers[s].layer.head for s in model.output_sources] == [True, True]
    assert len(model.layers) == 7  # no head appended
    features = check(LEVELS, SHAPE)
    assert not any(info.layer.head for info in features.layers)
    assert features.layers[features.output_sources[2]].layer.args["activation"] == "relu"  # as written


def test_a_segmentation_model_with_out_and_aux_gets_both_per_pixel_heads():
    text = "CN(4, 3, padding=same) as f -> CN(4, 3, padding=same) -> OUT(CN(2, 1) as out | @f -> CN(2, 1) as aux)"
    model = check(text, SHAPE, task="segment")
    assert model.output_names == ("out", "aux")
    assert all(model.layers[s].layer.head for s in model.output_sources)
    assert model.output_shapes == ((None, 16, 16, 2), (None, 16, 16, 2))


def test_an_output_may_be_the_input_itself():
    model = check("OUT(ID() as image | CN(2, 3) -> GAP() as scores)", SHAPE)
    assert model.output_sources[0] == INPUT and model.output_shapes[0] == (None, *SHAPE)


def test_output_names_are_part_of_the_architecture_hash():
    renamed = LEVELS.replace("ID() as p5", "ID() as p6")
    assert architecture_hash(check(LEVELS, SHAPE)) != architecture_hash(check(renamed, SHAPE))
    written_apart = (
        "CN(4, 3) as p3 -> MP(2) -> CN(6, 3, padding=same) as p4 -> MP(2) -> CN(8, 1) as p5 -> OUT(@p3 | @p4 | @p5)"
    )
    assert architecture_hash(check(LEVELS, SHAPE)) == architecture_hash(check(written_apart, SHAPE))


ENDS = {
    4: ["ID()", "GAP()", "CN(2, 1)", "MP(1) -> FL() -> DN(3)", "CN(3, 1, padding=same) -> GAP() -> DN(2)"],
    2: ["ID()", "DN(3)", "DN(2) -> DN(4, activation=softmax)"],
}
"""Branches that fit a model's last tensor, by its rank."""


@st.composite
def output_specs(draw):
    """A graph spec (merges of every kind, named tensors) ending in OUT of one to three branches."""
    text, _, input_shape, classes, _ = draw(graph_specs())
    try:
        rank = len(check(f"{text} -> OUT(ID())", input_shape, classes).output_shape)
    except SpecError:  # a drawn graph the checker refuses (its own tests say why)
        assume(False)
    branches = draw(st.lists(st.sampled_from(ENDS[rank]), min_size=1, max_size=3))
    named = [f"({b}) as o{i}" if b != "ID()" and draw(st.booleans()) else b for i, b in enumerate(branches)]
    return f"{text} -> OUT({' | '.join(named)})", input_shape, classes


@settings(max_examples=40)
@given(output_specs())
def test_a_graph_ending_in_out_round_trips_through_fmt_and_the_json_ir(case):
    from cnndsl.backends import json_ir
    from cnndsl.emit import emit

    text, input_shape, classes = case
    model = check(text, input_shape, classes)
    assert len(model.outputs) == text.count(" | ", text.index("-> OUT(")) + 1
    assert all(model.layers[s] for s in model.output_sources if s != INPUT)
    formatted = format_text(f"IN({', '.join(map(str, input_shape))}) -> {text}")
    assert architecture_hash(check(formatted, num_classes=classes)) == architecture_hash(model)
    spec, read_classes = json_ir.read(json.loads(emit(model, "json")))
    again = check(spec, num_classes=read_classes)
    assert architecture_hash(again) == architecture_hash(model)
    assert again.output_names == model.output_names and again.output_shapes == model.output_shapes


# --- what prints it ----------------------------------------------------------------------


def test_fmt_lays_out_out_as_any_merge_and_its_text_checks_to_the_same_model():
    text = "IN(16,16,3)  ->" + LEVELS.replace(" -> ", "->")
    formatted = format_text(text)
    assert formatted.splitlines()[-1].strip() == "-> OUT(@p3 | @p4 | ID() as p5)"
    assert format_text(formatted) == formatted
    assert architecture_hash(check(formatted)) == architecture_hash(check(text))


def test_summary_lists_every_output_with_its_layer_and_shape(tmp_path):
    spec = tmp_path / "levels.cnn"
    spec.write_text(f"IN(16, 16, 3) -> {LEVELS}\n")
    result = run_cli("summary", str(spec))
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.endswith(
        "Outputs: p3 = conv2d (None, 14, 14, 4), p4 = conv2d_1 (None, 7, 7, 6), p5 = conv2d_2 (None, 3, 3, 8)"
    )
    checked = run_cli("check", str(spec))
    assert checked.stdout.strip().endswith(
        "OK, 5 layers, 390 parameters, outputs p3 (None, 14, 14, 4), p4 (None, 7, 7, 6), p5 (None, 3, 3, 8)"
    )
    outputs = summary_json(check(LEVELS, SHAPE))["outputs"]
    assert [(o["name"], o["output_shape"]) for o in outputs] == [
        ("p3", [None, 14, 14, 4]), ("p4", [None, 7, 7, 6]), ("p5", [None, 3, 3, 8]),
    ]  # fmt: skip


def test_the_notebook_table_names_every_output():
    from cnndsl.notebook import summary_html

    assert "outputs logits (None, 10), aux (None, 10)</caption>" in summary_html(check(AUX, SHAPE))
    assert "Classes: 10</caption>" in summary_html(check("CN(4, 3) -> GAP()", SHAPE))


def test_training_refuses_a_model_of_several_outputs_in_one_line_before_reading_data(tmp_path):
    result = run_cli(
        "run", f"IN(28, 28, 1) -> {AUX}", "--data", "mnist", "--epochs", "1", "--output", str(tmp_path / "r")
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "training a model of several outputs (logits, aux) is not supported yet" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_draw_marks_every_output_and_lists_them_in_its_header(tmp_path):
    picture = tmp_path / "aux.svg"
    result = run_cli("draw", AUX, "--input-shape", "16,16,3", "-o", str(picture))
    assert result.returncode == 0, result.stderr
    svg = picture.read_text()
    assert svg.count('class="output"') == 2
    assert 'data-outputs="logits"' in svg and 'data-outputs="aux"' in svg
    assert "outputs logits (None, 10), aux (None, 10)" in svg


def test_the_json_ir_lists_the_outputs_and_reads_back_to_the_same_model(tmp_path):
    path = tmp_path / "levels.json"
    assert run_cli("emit", f"IN(16, 16, 3) -> {AUX}", "--to", "json", "-o", str(path)).returncode == 0
    document = json.loads(path.read_text())
    model = check(AUX, SHAPE)
    assert document["outputs"] == [{"name": "logits", "layer": model.output_sources[0]},
                                   {"name": "aux", "layer": model.output_sources[1]}]  # fmt: skip
    result = run_cli("summary", str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hash"] == architecture_hash(model) == document["hash"]


def test_the_language_server_hints_a_model_of_several_outputs_and_says_a_misplaced_out():
    from cnndsl.lsp import analysis as an
    from cnndsl.settings import Settings

    text = f"net = {AUX}\n"
    analysis = an.analyze_spec_file(text, Settings())
    assert analysis.diagnostics == []
    assert "outputs logits 10, aux 10" in analysis.hints[-1].tooltip
    shapes = [hint.label for hint in analysis.hints[:-1]]
    assert shapes.count("▸ 10") == 2 and len(shapes) == 7
    bad = "net = CN(8, 3) as a -> OUT(@a) -> GAP()\n"
    (diagnostic,) = an.analyze_spec_file(bad, Settings()).diagnostics
    assert diagnostic.code == "misplaced-outputs" and bad[diagnostic.span.start : diagnostic.span.end] == "OUT(@a)"


# --- the frameworks ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("text", [LEVELS, AUX, "OUT(ID() as image | CN(2, 3) -> GAP() as scores)"])
def test_keras_and_pytorch_with_ported_weights_compute_every_output_alike(text):
    pytest.importorskip("torch")
    import keras
    from torch_strategies import assert_close, randomize, sample

    from cnndsl import compile_spec
    from cnndsl.backends.torch import parameter_counts, port_weights

    keras.backend.clear_session(free_memory=False)  # Keras names layers as the checked model does
    model = check(text, SHAPE)
    keras_model = compile_spec(text, SHAPE)
    assert list(keras_model.output_names) == list(model.output_names)
    assert [layer.name for layer in keras_model.layers[1:]] == [info.name for info in model.layers]
    assert keras_model.count_params() == model.total_params
    torch_model = compile_spec(text, SHAPE, backend="torch")
    assert parameter_counts(torch_model) == (model.trainable_params, model.non_trainable_params)
    randomize(keras_model)
    port_weights(keras_model, torch_model)
    x = sample(SHAPE)
    expected = keras_model(x, training=False)
    assert isinstance(expected, list | tuple) and len(expected) == len(model.outputs)
    import torch

    torch_model.eval()
    with torch.no_grad():
        got = torch_model(torch.from_numpy(x).permute(0, 3, 1, 2))
    assert isinstance(got, tuple) and len(got) == len(model.outputs)
    for want, have, shape in zip(expected, got, model.output_shapes):
        have = have.numpy()
        have = have.transpose(0, 2, 3, 1) if have.ndim == 4 else have
        assert have.shape[1:] == shape[1:]
        assert_close(np.asarray(want), have)


@pytest.mark.slow
@settings(max_examples=8)
@given(output_specs())
def test_keras_and_pytorch_compute_every_output_of_drawn_graphs_alike(case):
    pytest.importorskip("torch")
    import keras
    import torch
    from torch_strategies import assert_close, randomize, sample

    from cnndsl import compile_spec
    from cnndsl.backends.torch import port_weights

    text, input_shape, classes = case
    keras.backend.clear_session(free_memory=False)
    keras_model = compile_spec(text, input_shape, classes)
    torch_model = compile_spec(text, input_shape, classes, backend="torch").eval()
    randomize(keras_model)
    port_weights(keras_model, torch_model)
    x = sample(input_shape)
    with torch.no_grad():
        got = torch_model(torch.from_numpy(x).permute(0, 3, 1, 2))
    wants = keras_model(x, training=False)
    wants = wants if len(got) > 1 else [wants]  # Keras gives a model of one output its tensor, not a list
    for want, have in zip(wants, got, strict=True):
        have = have.numpy()
        assert_close(np.asarray(want), have.transpose(0, 2, 3, 1) if have.ndim == 4 else have)


@pytest.mark.slow
def test_onnx_has_one_output_per_name_computing_what_keras_computes():
    pytest.importorskip("torch")
    onnxruntime = pytest.importorskip("onnxruntime")
    from torch_strategies import assert_close, randomize, sample

    from cnndsl import compile_spec
    from cnndsl.backends.onnx import export
    from cnndsl.backends.torch import build, port_weights

    model = check(LEVELS, SHAPE)
    keras_model = compile_spec(LEVELS, SHAPE)
    randomize(keras_model)
    module = build(model)
    port_weights(keras_model, module)
    session = onnxruntime.InferenceSession(export(module, model))
    assert [o.name for o in session.get_outputs()] == ["p3", "p4", "p5"]
    x = sample(SHAPE)
    outs = session.run(None, {"input": x.transpose(0, 3, 1, 2).copy()})
    for want, have in zip(keras_model(x, training=False), outs):
        assert_close(np.asarray(want), have.transpose(0, 2, 3, 1))


@pytest.mark.slow
def test_the_emitted_keras_and_pytorch_sources_return_every_output(tmp_path):
    pytest.importorskip("torch")
    import torch

    keras_source = run_cli("emit", f"IN(16, 16, 3) -> {AUX}", "--to", "keras").stdout
    torch_source = run_cli("emit", f"IN(16, 16, 3) -> {AUX}", "--to", "torch").stdout
    keras_scope: dict = {}
    exec(compile(keras_source, "keras_model.py", "exec"), keras_scope)
    torch_scope: dict = {}
    exec(compile(torch_source, "torch_model.py", "exec"), torch_scope)
    keras_model, torch_model = keras_scope["model"], torch_scope["model"]
    assert keras_model.output_names == ["logits", "aux"]
    assert [tuple(o.shape) for o in keras_model.outputs] == [(None, 10), (None, 10)]
    with torch.no_grad():
        got = torch_model.eval()(torch.zeros(2, 3, 16, 16))
    assert isinstance(got, tuple) and [tuple(t.shape) for t in got] == [(2, 10), (2, 10)]
    np.testing.assert_allclose(got[0].sum(dim=1).numpy(), 1.0, rtol=1e-5)  # each a softmax head
