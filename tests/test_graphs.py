"""Graphs in the notation: merges, ID(), the new codes, and what every stage makes of them."""

from __future__ import annotations

import json
import re

import pytest
from helpers import run_cli

from cnndsl import SpecError, SpecShapeError, SpecSyntaxError, SpecValueError, check, parse
from cnndsl.inputs import file_models
from cnndsl.layers import ACTIVATIONS, LAYERS, MERGES
from cnndsl.model import INPUT, Merge
from cnndsl.report import architecture_hash, summary_json, summary_table
from cnndsl.syntax import grammar_text

RESIDUAL = "CN(8, 3, padding=same) -> ADD(CN(8, 3, padding=same) -> BN() -> CN(8, 3, padding=same) | ID()) -> GAP()"
SE = "CN(32, 3) -> MUL(ID() | GAP(keepdims=true) -> CN(8, 1) -> CN(32, 1, activation=sigmoid)) -> GAP()"
DENSE = "CN(8, 1) -> CAT(ID() | BN() -> CN(4, 3, padding=same)) * 3 -> GAP()"


# --- shapes and parameters, as Keras computes them (tests/test_keras_differential.py checks Keras) ---


@pytest.mark.parametrize(
    "text, shapes, total",
    [
        (RESIDUAL, [(None, 28, 28, 8)] * 5 + [(None, 8), (None, 10)], 80 + 584 + 32 + 584 + 90),
        (SE, [(None, 26, 26, 32), (None, 1, 1, 32), (None, 1, 1, 8), (None, 1, 1, 32), (None, 26, 26, 32),
              (None, 32), (None, 10)], 320 + 264 + 288 + 330),
        (DENSE, None, None),
    ],
)  # fmt: skip
def test_the_documented_examples_check(text, shapes, total):
    model = check(text)
    if shapes is not None:
        assert [info.output_shape for info in model.layers] == shapes
        assert model.total_params == total
    assert model.is_graph and not model.warnings


def test_dense_block_channels_grow_by_concatenation():
    model = check(DENSE)
    cats = [info for info in model.layers if info.code == "CAT"]
    assert [info.output_shape[-1] for info in cats] == [12, 16, 20]


def test_keras_order_inputs_and_tree():
    model = check("CN(8,1) -> ADD(CN(8,3,padding=same) -> BN() | CN(8,1) -> BN()) -> GAP()")
    names = [info.name for info in model.layers]
    # Keras lists deeper layers first; equal depths in the order a walk back from the output meets them
    assert names == [
        "conv2d", "conv2d_1", "conv2d_2", "batch_normalization", "batch_normalization_1", "add",
        "global_average_pooling2d", "dense",
    ]  # fmt: skip
    add = model.layers[names.index("add")]
    assert [model.layers[i].name for i in add.inputs] == ["batch_normalization", "batch_normalization_1"]
    assert model.layers[0].inputs == (INPUT,)
    merge = model.items[1]
    assert isinstance(merge, Merge) and model.layers[merge.layer].code == "ADD"
    assert [[model.layers[i].name for i in branch] for branch in merge.branches] == [
        ["conv2d_1", "batch_normalization"],
        ["conv2d_2", "batch_normalization_1"],
    ]


def test_an_id_branch_is_no_layer_and_feeds_the_merge_its_input():
    model = check("CN(4, 1) -> ADD(ID() | ID()) -> FL()")
    add = next(info for info in model.layers if info.code == "ADD")
    assert add.inputs == (0, 0) and len(model.layers) == 4
    assert check("ID() -> CN(4, 1) -> ID() -> FL()").total_params == check("CN(4, 1) -> FL()").total_params


def test_kernel_inheritance_follows_the_text_across_branches():
    model = check("CN(8, 5, padding=same) -> ADD(CN(8, padding=same) | CN(8, 1) -> CN(8, padding=same)) -> GAP()")
    kernels = {info.name: info.layer.args["kernel"] for info in model.layers if info.code == "CN"}
    # the third CN repeats the 1x1 written just before it in the text, in its own branch
    assert kernels == {"conv2d": (5, 5), "conv2d_1": (5, 5), "conv2d_2": (1, 1), "conv2d_3": (1, 1)}


SHAPE_CASES = [
        ("CN(8, 3, strides=2, padding=same)", (None, 14, 14, 8), 80),
        ("CN(8, 3, dilation=2)", (None, 24, 24, 8), 80),
        ("MP(2)", (None, 14, 14, 1), 0),
        ("MP(3, strides=2, padding=same)", (None, 14, 14, 1), 0),
        ("AP((2, 1))", (None, 14, 28, 1), 0),
        ("GAP()", (None, 1), 0),
        ("GMP()", (None, 1), 0),
        ("DP(0.5)", (None, 28, 28, 1), 0),
        ("FL()", (None, 784), 0),
        ("DN(4)", (None, 28, 28, 4), 8),
        ("BN()", (None, 28, 28, 1), 4),
        ("ACT(gelu)", (None, 28, 28, 1), 0),
        ("ID()", None, 0),
        ("IN(28, 28, 1)", None, 0),
        ("ADD(ID() | ID())", (None, 28, 28, 1), 0),
        ("MUL(ID() | GAP(keepdims=true))", (None, 28, 28, 1), 0),
        ("CAT(ID() | ID())", (None, 28, 28, 2), 0),
        ("DW(3)", (None, 26, 26, 1), 10),
        ("DW(3, depth_multiplier=4, bias=false)", (None, 26, 26, 4), 36),
        ("SC(16, 3, padding=same)", (None, 28, 28, 16), 9 + 16 + 16),
        ("SC(16, 3, depth_multiplier=2, bias=false)", (None, 26, 26, 16), 18 + 32),
        ("ZP(1)", (None, 30, 30, 1), 0),
        ("ZP((1, 2))", (None, 30, 32, 1), 0),
        ("ZP(((1, 2), (3, 0)))", (None, 31, 31, 1), 0),
        ("UP(2)", (None, 56, 56, 1), 0),
        ("UP((2, 3), interpolation=bilinear)", (None, 56, 84, 1), 0),
        ("CT(8, 3, strides=2, padding=same)", (None, 56, 56, 8), 9 * 8 + 8),
        ("CT(4, (1, 2), strides=(3, 2), bias=false)", (None, 84, 56, 4), 8),
        ("CN(8, 3, bias=false)", (None, 26, 26, 8), 72),
        ("BN(center=false)", (None, 28, 28, 1), 3),
        ("BN(scale=false, center=false, momentum=0.9, epsilon=1e-5)", (None, 28, 28, 1), 2),
        ("GAP(keepdims=true)", (None, 1, 1, 1), 0),
        ("GMP(keepdims=true)", (None, 1, 1, 1), 0),
        ("CN(8, 3, groups=1)", (None, 26, 26, 8), 80),
        ("DW(3, strides=2, dilation=2)", (None, 12, 12, 1), 10),
        ("LN()", (None, 28, 28, 1), 2),
        ("LN(axis=1, center=false)", (None, 28, 28, 1), 28),
        ("LS()", (None, 28, 28, 1), 1),
        ("RS(784)", (None, 784), 0),
        ("RS(4, -1)", (None, 4, 196), 0),
        ("CR(1)", (None, 26, 26, 1), 0),
        ("CR(((0, 1), (2, 3)))", (None, 27, 23, 1), 0),
        ("RSC(0.00392, offset=-1)", (None, 28, 28, 1), 0),
        ("NRM()", (None, 28, 28, 1), 3),
        ("NRM(mean=0.5, variance=0.25)", (None, 28, 28, 1), 0),
        ("DP(0.2, per_example=true)", (None, 28, 28, 1), 0),
        ("ADD(ID() | ID(), scale=0.17)", (None, 28, 28, 1), 0),
        ("FLIP(horizontal)", (None, 28, 28, 1), 0),
        ("ROT(0.1, fill=constant)", (None, 28, 28, 1), 0),
        ("TRN(0.1, 0.2)", (None, 28, 28, 1), 0),
        ("ZOOM(0.2, width=None)", (None, 28, 28, 1), 0),
        ("RCR(20, 24)", (None, 20, 24, 1), 0),
        ("CON(0.5)", (None, 28, 28, 1), 0),
        ("MP(3, strides=2, pad=1)", (None, 14, 14, 1), 0),
        ("MP(3, strides=2, ceil=true)", (None, 14, 14, 1), 0),
        ("AP(3, strides=2, pad=1, ceil=true, count_pad=true)", (None, 15, 15, 1), 0),
        ("SPL(0, parts=1)", (None, 28, 28, 1), 0),
        ("SHF(1)", (None, 28, 28, 1), 0),
]  # fmt: skip


@pytest.mark.parametrize("text, shape, params", SHAPE_CASES)
def test_shape_and_parameters_of_every_code(text, shape, params):
    model = check(f"{text} -> FL()")
    if shape is None:  # no layer: the FL() comes first
        assert model.layers[0].code == "FL"
        return
    made = model.layers[-3] if model.is_graph else model.layers[0]
    assert made.output_shape == shape
    assert made.params == params


def test_every_code_has_shape_cases():
    """A code without a case here is held to Keras's own shape and parameters by its entry's example
    (tests/test_keras_differential.py); every code has one or the other."""
    cased = {re.match(r"[A-Z]+", text).group() for text, _, _ in SHAPE_CASES}
    assert cased <= set(LAYERS)
    uncased = set(LAYERS) - cased - {code for code, entry in LAYERS.items() if entry.is_output}  # tests/test_outputs.py
    unheld = [code for code in uncased if LAYERS[code].example is None or not LAYERS[code].keras]
    assert [code for code in unheld if not LAYERS[code].block] == []  # blocks: tests/test_yolo_blocks.py


# --- merges that do not fit ---------------------------------------------------------------


def test_a_mismatched_residual_points_at_the_disagreeing_branch_and_names_every_shape():
    text = "CN(8) -> ADD(CN(8) | ID()) -> GAP()"
    with pytest.raises(SpecShapeError) as caught:
        check(text)
    error = caught.value.diagnostics[0]
    assert (error.span.start, error.span.end) == (text.index("ID()"), text.index("ID()") + 4)
    assert "(None, 24, 24, 8) | (None, 26, 26, 8)" in error.message
    assert "projection" in error.hint


def test_a_merge_of_different_ranks_is_one_error_with_a_hint_about_ranks():
    text = "CN(8)->ADD(FL()|ID())->GAP()"
    with pytest.raises(SpecShapeError) as caught:
        check(text)
    (error,) = caught.value.diagnostics  # GAP() gets what the merge would give: unknown, so no error of its own
    assert error.span.start == text.index("ID()") and "(None, 5408) | (None, 26, 26, 8)" in error.message
    assert "projection" not in error.hint and "2-D" in error.hint and "4-D" in error.hint
    with pytest.raises(SpecShapeError) as caught:
        check("CAT(GAP() | ID()) -> CN(4) -> FL()")
    (error,) = caught.value.diagnostics
    assert "rank" in error.message and "2-D" in error.hint


def test_after_a_merge_that_failed_only_independent_errors_are_reported():
    with pytest.raises(SpecShapeError) as caught:  # channels disagree: what the ADD gives is unknown
        check("CN(8) -> ADD(CN(8) | CN(16)) -> ADD(ID() | CN(16)) -> GAP()")
    assert len(caught.value.diagnostics) == 1
    text = "CN(8) -> ADD(CN(8) | ID()) -> FL() -> CN(4)"  # sizes disagree: the rank is still known
    with pytest.raises(SpecShapeError) as caught:
        check(text)
    assert [d.span.start for d in caught.value.diagnostics] == [text.index("ID()"), text.index("CN(4)")]
    with pytest.raises(SpecShapeError) as caught:  # CAT's channels add up whatever the sizes
        check("CAT(CN(4, 3) | CN(6, 1)) -> ADD(ID() | CN(10, 1)) -> GAP()")
    assert len(caught.value.diagnostics) == 1


def test_cat_needs_equal_sizes_but_on_its_axis_and_never_broadcasts():
    assert check("CAT(CN(4, 1) | CN(6, 1)) -> GAP()").layers[2].output_shape == (None, 28, 28, 10)
    assert check("CAT(CN(4, 1) | CN(4, 1), axis=1) -> GAP()").layers[2].output_shape == (None, 56, 28, 4)
    with pytest.raises(SpecShapeError, match="equal sizes on every axis"):
        check("CAT(CN(4, 3) | CN(4, 1)) -> GAP()")
    with pytest.raises(SpecShapeError, match="one rank"):
        check("CAT(GAP() | ID()) -> FL()")
    with pytest.raises(SpecShapeError, match="axis=0"):
        check("CAT(ID() | ID(), axis=0) -> FL()")
    with pytest.raises(SpecShapeError, match="equal sizes"):
        check("CAT(ID() | GAP(keepdims=true)) -> FL()")


def test_broadcasting_as_keras_does_with_a_warning_where_it_is_likely_a_mistake():
    model = check("ADD(FL() | ID()) -> FL()")
    assert model.layers[1].output_shape == (None, 28, 28, 784)
    assert "different ranks" in model.warnings[0].message
    se = check("CN(32, 3) -> MUL(ID() | GAP() -> DN(8) -> DN(32, activation=sigmoid)) -> GAP()")
    assert se.layers[4].output_shape == (None, 26, 26, 32) and "different ranks" in se.warnings[0].message
    grown = check("CN(4, 1) -> ADD(GAP(keepdims=true) | CN(1, 1)) -> GAP()")
    assert grown.layers[3].output_shape == (None, 28, 28, 4) and "larger than every branch" in grown.warnings[0].message
    assert not check(SE).warnings


def test_errors_in_every_branch_are_reported_each_at_its_place():
    text = "ADD(CN(0) -> FL() -> CN(8) | DN(-1) | MP(50)) -> FL()"
    with pytest.raises(SpecError) as caught:
        check(text)
    starts = sorted(d.span.start for d in caught.value.diagnostics)
    assert starts == [text.index("0)"), text.index("-1")]
    with pytest.raises(SpecShapeError) as caught:
        check("ADD(FL() -> CN(8) | MP(50)) -> FL()")
    assert len(caught.value.diagnostics) == 2


@pytest.mark.parametrize(
    "text, kind, column, message",
    [
        ("ADD(CN(8))", SpecValueError, 1, "ADD needs at least 2 branches, separated by '|'"),
        ("CAT()", SpecValueError, 1, "CAT needs at least 2 branches"),
        ("CN(8) | CN(8)", SpecSyntaxError, 7, "found '|'"),
        ("ADD(CN(8) | ) -> FL()", SpecSyntaxError, 13, "expected a layer such as CN(32), found ')'"),
        ("ADD(CN(8) | | ID())", SpecSyntaxError, 13, "found '|'"),
        ("ID(3) -> FL()", SpecValueError, 4, "ID takes no arguments"),
        ("ADD(ID() | ID(), 3) -> FL()", SpecValueError, 18, "ADD takes its arguments by name: ADD(scale=1.0)"),
        ("CAT(ID() | ID(), 3) -> FL()", SpecValueError, 18, "CAT takes its arguments by name"),
        ("CAT(ID() | ID(), axs=1) -> FL()", SpecValueError, 18, "CAT has no argument 'axs'"),
        ("CN(8, bias=maybe) -> FL()", SpecValueError, 12, "CN bias must be true or false, not 'maybe'"),
        ("ZP(((1,2),(3,4,5))) -> FL()", SpecValueError, 11, "ZP pad needs 2 values, not 3"),
        ("ZP(-1) -> FL()", SpecValueError, 4, "ZP pad must be at least 0"),
        ("UP(2, interpolation=cubic) -> FL()", SpecValueError, 21, "unknown UP interpolation 'cubic'"),
        ("BN(momentum=2) -> FL()", SpecValueError, 13, "BN momentum must be at least 0 and at most 1"),
        ("BN(epsilon=0) -> FL()", SpecValueError, 12, "BN epsilon must be above 0"),
        ("add(ID() | ID())", SpecSyntaxError, 7, "found '('"),
        ("ADD -> FL()", SpecSyntaxError, 5, "expected '('"),
        ("IN(8,8,1) -> ADD(IN(8,8,1) | ID()) -> FL()", SpecValueError, 18, "IN(...) declares the input shape"),
        ("ADD(" * 70 + "ID()|ID()" + ")" * 70, SpecSyntaxError, 4 * 64 + 4, "parentheses nested deeper than 64 levels"),
    ],
)
def test_bad_graph_input_gets_a_located_error(text, kind, column, message):
    with pytest.raises(kind) as caught:
        check(text)
    assert (caught.value.line, caught.value.column) == (1, column)
    assert message in caught.value.message


def test_zero_padding_takes_a_number_where_a_pair_may_go_as_keras_does():
    # (3) is 3, as in Python: Keras pads 3 columns on each side, and so does the notation
    assert check("ZP(((1,2),(3))) -> FL()").layers[0].output_shape == (None, 31, 34, 1)


def test_merges_repeat_and_nest_and_blocks_hold_them():
    text = "block res = ADD(CN(8, 3, padding=same) -> BN() | ID())\nnet = CN(8, 1) -> res * 3 -> MUL(ID() | res) -> GAP()\n"
    [source] = file_models("nets.cnn", text, "nets")
    model = source.check()
    assert sum(info.code == "ADD" for info in model.layers) == 4
    inline = (
        "CN(8,1)->"
        + "ADD(CN(8,3,padding=same)->BN()|ID())->" * 3
        + "MUL(ID()|ADD(CN(8,3,padding=same)->BN()|ID()))->GAP()"
    )
    assert architecture_hash(model) == architecture_hash(check(inline))


def test_definitions_may_be_named_like_codes_since_a_code_is_a_code_only_before_a_parenthesis():
    text = "block up = CN(8, 1)\nblock dw = BN()\nnet = up -> dw -> UP(2) -> DW(3) -> FL()\n"
    [source] = file_models("nets.cnn", text, "nets")
    assert [info.code for info in source.check().layers] == ["CN", "BN", "UP", "DW", "FL", "DN"]


def test_the_grammar_names_exactly_the_merges_of_the_layer_table():
    named = set(re.findall(r'^([A-Z]+): "([A-Z]+)"$', grammar_text(), re.M))
    assert {word for name, word in named if name == word} - {"BLOCK"} == MERGES


def test_every_activation_keras_has_by_name_is_in_the_notation():
    keras = pytest.importorskip("keras", reason="comparing with Keras's list needs the tensorflow extra")
    from keras.src.activations import ALL_OBJECTS_DICT

    # glu halves the last axis and threshold needs two more arguments: neither works as Activation(name)
    assert set(ALL_OBJECTS_DICT) - {"glu", "threshold"} == set(ACTIVATIONS)
    assert keras.activations.get("glu") is not None


# --- summary, JSON, hash --------------------------------------------------------------------


def test_summary_shows_what_feeds_each_layer_of_a_graph():
    table = summary_table(check(RESIDUAL))
    header = next(line for line in table.splitlines() if line.startswith("Layer (type)"))
    assert "Connected to" in header
    add_line = next(line for line in table.splitlines() if line.startswith("add (Add)"))
    assert "batch_normalization, conv2d" not in add_line and "conv2d_2, conv2d" in add_line
    assert "ADD(... | ...)" in add_line
    assert "Connected to" not in summary_table(check("CN(8)->FL()"))


def test_summary_json_lists_the_inputs_of_every_layer():
    document = summary_json(check(RESIDUAL))
    by_name = {layer["name"]: layer for layer in document["layers"]}
    assert by_name["conv2d"]["inputs"] == [INPUT]
    names = [layer["name"] for layer in document["layers"]]
    assert [names[i] for i in by_name["add"]["inputs"]] == ["conv2d_2", "conv2d"]
    result = run_cli("summary", "--json", RESIDUAL)
    assert result.returncode == 0 and json.loads(result.stdout)["total_params"] == check(RESIDUAL).total_params


def test_the_hash_counts_branch_order_and_every_branch():
    a = architecture_hash(check("CAT(CN(4, 1) | CN(6, 1)) -> GAP()"))
    b = architecture_hash(check("CAT(CN(6, 1) | CN(4, 1)) -> GAP()"))
    c = architecture_hash(check("CAT(CN(4,1)|CN(6,(1,1)))->GAP()->DN(10)"))
    assert a != b and a == c
    assert architecture_hash(check("ADD(ID() | CN(1, 1)) -> FL()")) != architecture_hash(
        check("ADD(ID() | CN(1, 1, bias=false)) -> FL()")
    )


def test_budgets_macs_and_activations_count_every_branch():
    one = check("CN(8, 1) -> GAP()")
    two = check("ADD(CN(8, 1) | CN(8, 1)) -> GAP()")
    assert two.layers[0].macs + two.layers[1].macs == 2 * one.layers[0].macs
    assert sum(info.activations for info in two.layers) > sum(info.activations for info in one.layers)
    result = run_cli("check", "--max-params", "100", "ADD(CN(8, 1) | CN(64, 1) -> CN(8, 1)) -> GAP()")
    assert result.returncode == 1 and "the largest share is CN(8, 1) (conv2d_2) with 520" in result.stderr


def test_check_and_github_diagnostics_take_graph_specs(tmp_path):
    spec = tmp_path / "res.cnn"
    spec.write_text("net = CN(8) -> ADD(CN(8) | ID()) -> GAP()\n")
    result = run_cli("check", "--format", "github", str(spec))
    assert result.returncode == 1 and "title=cnndsl shape,line=1,col=28" in result.stdout


def test_the_notation_page_lists_every_code_of_the_layer_table_with_its_keras_class():
    from docs_pages import page

    text = page("docs/notation/index.md")
    rows = dict(re.findall(r"^\| `([A-Z][A-Z0-9]*)` \| ([\w ]+?) \|", text, re.M))
    expected = {code: kind.keras_class for code, kind in LAYERS.items() if not kind.is_input}
    assert {code: rows.get(code) for code in expected} == expected
    assert set(rows) | {"IN"} == set(LAYERS) and "| `IN` | the input |" in text


def test_parse_keeps_merges_in_the_tree():
    chain = parse("ADD(CN(8) | ID(), ) * 2")
    repeat = chain.elements[0]
    assert repeat.body.code == "ADD" and len(repeat.body.branches) == 2


# --- what the checker accepts, Keras builds ----------------------------------------------


@pytest.mark.slow
def test_deep_specs_past_pythons_recursion_limit_build():
    """Keras walks a model's graph recursively; the backend lets it recurse as deep as the model."""
    pytest.importorskip("keras", reason="building needs the tensorflow extra")
    from cnndsl import compile_spec

    assert len(compile_spec("DP(0.1)*2000 -> GAP()").layers) == 2002
    graph = compile_spec("CN(4, 1) -> ADD(DP(0.1)*1200 | ID()) -> GAP()")
    assert len(graph.layers) == 1 + 1 + 1200 + 1 + 1 + 1  # input, conv, dropouts, add, pooling, head


@pytest.mark.slow
def test_run_trains_a_graph_spec(tmp_path):
    result = run_cli(
        "run", "CN(4, 3, padding=same) -> ADD(CN(4, 3, padding=same) -> BN() | ID()) -> GAP()",
        "--data", "sample", "--limit", "128", "--epochs", "1", "--seed", "0", "--output", str(tmp_path / "run"),
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (
        metrics["total_params"]
        == check("CN(4,3,padding=same)->ADD(CN(4,3,padding=same)->BN()|ID())->GAP()").total_params
    )
