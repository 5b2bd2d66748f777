"""The caps that stand between hostile input and exhausted time or memory.

Each cap is tested at its edge: the largest accepted value passes, the next is refused
with a located error (or exit code 2 on the command line), never by running out of
anything. Odd but harmless text (tabs, CRLF, a byte-order mark) simply works.
"""

from __future__ import annotations

import re

import pytest
from helpers import run_cli

from cnndsl import SpecError, SpecShapeError, SpecSyntaxError, SpecValueError, check, parse
from cnndsl.inputs import MAX_FILE_BYTES, UsageError, file_models, read_models, read_text
from cnndsl.lalr import MAX_NUMBER_DIGITS
from cnndsl.layers import MAX_INPUT_SIZE, MAX_UNITS, MAX_WINDOW
from cnndsl.passes.expand import MAX_BLOCK_DEPTH, MAX_LAYERS, Expander
from cnndsl.syntax import MAX_NESTING, MAX_SPEC_CHARS


def nested(depth: int) -> str:
    return "(" * depth + "CN(8)" + ")" * depth + "->FL()"


def error_of(text: str, **kwargs) -> SpecError:
    with pytest.raises(SpecError) as caught:
        check(text, **kwargs)
    return caught.value


# --- refused with a located error ----------------------------------------------------------

REFUSED = [
    # (spec, error class, line, column, message fragment)
    ("CN(8)*1000000000", SpecValueError, 1, 1, "expands to 1,000,000,000 layers; the limit is 100,000"),
    ("((CN(8)*1000)*1000)*1000", SpecValueError, 1, 2, "expands to 1,000,000 layers; the limit is 100,000"),
    ("CN(8)*" + "9" * 500, SpecValueError, 1, 7, "a repetition count must be at most 100,000"),
    ("CN(8)*1e999", SpecValueError, 1, 7, "a repetition count must be at most 100,000"),
    ("(CN(8)*1000->BN()*1000)*100", SpecValueError, 1, 1, "expands to 200,000 layers"),
    ("CN(" + "9" * 400 + ")", SpecValueError, 1, 4, "CN filters must be at most 1,000,000, not 9999999999...999999"),
    ("CN(1e999)", SpecValueError, 1, 4, "CN filters must be at most 1,000,000, not 1e999"),
    ("CN(-0)", SpecValueError, 1, 4, "CN filters must be at least 1, not -0"),
    (f"CN({MAX_UNITS + 1})", SpecValueError, 1, 4, "CN filters must be at most 1,000,000"),
    (f"FL()->DN({MAX_UNITS + 1})", SpecValueError, 1, 10, "DN units must be at most 1,000,000"),
    (f"CN(8,{MAX_WINDOW + 1})", SpecValueError, 1, 6, "CN kernel must be at most 4,096"),
    (f"MP(2,strides={MAX_WINDOW + 1})", SpecValueError, 1, 14, "MP strides must be at most 4,096"),
    ("IN(1000000000,1000000000,1)->FL()", SpecValueError, 1, 4, "IN shape must be at most 65,536, not 1000000000"),
    (f"IN(1,1,{MAX_INPUT_SIZE + 1})->FL()", SpecValueError, 1, 8, "IN shape must be at most 65,536"),
    ("IN(0,28,1)->FL()", SpecValueError, 1, 4, "IN shape must be at least 1, not 0"),
    ("DP(1e-999999)->DP(" + "9" * 400 + ".5)", SpecValueError, 1, 19, "DP rate must be at least 0 and below 1"),
    ("DP(nan)", SpecValueError, 1, 4, "DP rate must be a number, not 'nan'"),
    ("CN(0x10)", SpecSyntaxError, 1, 5, "found a name 'x10'"),
    ("CN(1_000)", SpecSyntaxError, 1, 5, "found a name '_000'"),
    (nested(MAX_NESTING + 1), SpecSyntaxError, 1, MAX_NESTING + 1, "parentheses nested deeper than 64 levels"),
    (nested(MAX_NESTING), SpecSyntaxError, 1, MAX_NESTING + 3, "parentheses nested deeper than 64 levels"),
    ("CN(8," + "(" * 100 + "3" + ")" * 100 + ")", SpecSyntaxError, 1, 69, "nested deeper than 64"),
    ("(" * 100_000, SpecSyntaxError, 1, 65, "nested deeper than 64"),
    ("(" * 1_000_000, SpecSyntaxError, 1, MAX_SPEC_CHARS + 1, "the spec is longer than 262,144 characters"),
    ("", SpecSyntaxError, 1, 1, "the spec is empty"),
    (" \t\r\n\ufeff ", SpecSyntaxError, 1, 1, "the spec is empty"),
    ("# only a comment\n# and another", SpecSyntaxError, 1, 1, "the spec is empty"),
    ("CN(8)\x00->FL()", SpecSyntaxError, 1, 6, "unexpected character U+0000"),
    ("CN(8)\ud800", SpecSyntaxError, 1, 6, "unexpected character U+D800"),
    ("CN(8)\u202e->FL()", SpecSyntaxError, 1, 6, "unexpected character U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("CN(8)\u0301", SpecSyntaxError, 1, 6, "unexpected character U+0301 COMBINING ACUTE ACCENT"),
    ("$" * MAX_SPEC_CHARS, SpecSyntaxError, 1, 1, "unexpected character '$'"),
    ("CN(8)->" * 150_000 + "FL()", SpecSyntaxError, 1, 1 + MAX_SPEC_CHARS, "the spec is longer than"),
    ("BN()\n" * 250_000, SpecSyntaxError, 1 + MAX_SPEC_CHARS // 5, 5, "the spec is longer than"),
]


@pytest.mark.parametrize("text, kind, line, column, message", REFUSED, ids=lambda v: repr(v)[:40])
def test_hostile_spec_is_refused_with_a_position(text, kind, line, column, message):
    error = error_of(text)
    assert isinstance(error, kind)
    assert (error.line, error.column) == (line, column)
    assert message in error.message


# --- works ---------------------------------------------------------------------------------

WORKS = [
    # (spec, layers including the head)
    (nested(MAX_NESTING - 1), 3),
    ("CN(8)*" + "1" * MAX_NUMBER_DIGITS + "0" * 0 + "->FL()", None),
    ("\ufeffCN(8)->FL()", 3),
    ("CN(8)\ufeff->\ufeffFL()", 3),
    ("CN(8)\r\n->FL()\r\n", 3),
    ("CN(8)\r->\fFL()", 3),
    ("\tCN(8)\t->\tFL()\t", 3),
    ("CN(8) → FL() → DN(32)", 4),
    ("CN(8)->FL() # ((((((( " + "(" * 200 + " ünïcødé ﷽ \u202e", 3),
    ("CN(+3)->DP(-0)->DP(0.)->DP(.5)->DP(5e-1)->FL()", 7),
    (f"IN({MAX_INPUT_SIZE},{MAX_INPUT_SIZE},{MAX_INPUT_SIZE})->GAP()->DN({MAX_UNITS})", 3),
    (f"IN(64,64,1)->CN({MAX_UNITS},{MAX_WINDOW},padding=same,strides={MAX_WINDOW})->GAP()", 3),
]


@pytest.mark.parametrize("text, layers", WORKS, ids=lambda v: repr(v)[:40])
def test_odd_but_valid_spec_works(text, layers):
    if layers is None:  # a count of MAX_NUMBER_DIGITS digits is read exactly, then capped
        assert "a repetition count must be at most" not in error_of(text).message
        return
    assert len(check(text).layers) == layers


def test_a_big_input_gives_exact_big_numbers():
    model = check("IN(65536,65536,65536)->FL()->DN(1000)->DN(1000000)")
    assert model.layers[0].output_shape == (None, 65536**3)
    assert model.total_params == (65536**3 + 1) * 10**3 + (10**3 + 1) * 10**6 + (10**6 + 1) * 10


def test_a_weight_tensor_keras_cannot_create_is_refused_at_its_layer():
    text = "IN(65536,65536,65536)->FL()->DN(1000000)"
    with pytest.raises(SpecShapeError) as caught:
        check(text)
    error = caught.value.diagnostics[0]
    assert (error.span.start, error.span.end) == (text.index("DN"), len(text))
    assert "kernel would hold 281,474,976,710,656,000,000 values" in error.message and "2^63 - 1" in error.message


def test_the_layer_cap_counts_the_appended_head():
    with pytest.raises(SpecValueError, match="100,001 layers with its classifier head"):
        check(f"CN(8,1,padding=same)*{MAX_LAYERS - 1} -> GAP()")
    assert len(check(f"BN()*{MAX_LAYERS - 2} -> GAP()").layers) == MAX_LAYERS


def test_layer_cap_is_exact():
    assert len(Expander().expand(parse(f"BN()*{MAX_LAYERS}"))) == MAX_LAYERS
    assert len(Expander().expand(parse(f"(BN()*10)*{MAX_LAYERS // 10}"))) == MAX_LAYERS
    expander = Expander()
    assert expander.expand(parse(f"BN()*{MAX_LAYERS}->BN()")) == []
    assert "expands to 100,001 layers" in expander.diagnostics[0].message


def test_deep_repetition_nest_is_refused_before_expanding():
    text = "(" * 60 + "BN()" + "*2)" * 60
    error = error_of(text)
    assert "the limit is 100,000" in error.message
    assert error.column <= 60


def test_a_wrong_number_in_every_layer_reports_every_layer():
    error = error_of("CN(0)->" * 1000 + "FL()")
    assert len(error.diagnostics) == 1000
    assert error.diagnostics[-1].span.column == 1 + 7 * 999 + 3


def test_library_input_shape_and_classes_are_bounded():
    with pytest.raises(
        ValueError, match=r"input_shape must be \(height, width, channels\), each a whole number from 1 to 65,536"
    ):
        check("FL()", input_shape=(10**9, 10**9, 1))
    with pytest.raises(ValueError, match="num_classes must be a whole number from 1 to 1,000,000"):
        check("FL()", num_classes=0)


# --- spec files: blocks --------------------------------------------------------------------


def file_error(text: str) -> SpecError:
    sources = file_models("f.cnn", text, "f")
    with pytest.raises(SpecError) as caught:
        for source in sources:
            source.check()
    return caught.value


def test_blocks_doubling_each_level_are_refused_at_once():
    lines = ["block b0 = BN()"] + [f"block b{i} = b{i - 1} -> b{i - 1}" for i in range(1, 60)]
    error = file_error("\n".join([*lines, "m = b59 -> FL()"]))
    assert "layers; the limit is 100,000" in error.message


def test_blocks_nested_past_the_depth_cap_are_refused():
    depth = MAX_BLOCK_DEPTH + 10
    lines = ["block b0 = BN()"] + [f"block b{i} = b{i - 1}" for i in range(1, depth)]
    error = file_error("\n".join([*lines, f"m = b{depth - 1} -> FL()"]))
    assert (
        f"blocks nested too deep: 'b{depth - 1}' uses blocks more than {MAX_BLOCK_DEPTH} levels deep" in error.message
    )
    # the error points at the model's own use of the outermost block, on the model's line
    assert (error.line, error.column) == (depth + 1, 5)
    assert (
        error.diagnostics[0].hint
        == f"the limit is passed where 'b{depth - MAX_BLOCK_DEPTH}' uses 'b{depth - MAX_BLOCK_DEPTH - 1}'"
    )


def test_blocks_at_the_depth_cap_work():
    lines = ["block b0 = BN()"] + [f"block b{i} = b{i - 1}" for i in range(1, MAX_BLOCK_DEPTH)]
    (source,) = file_models("f.cnn", "\n".join([*lines, f"m = b{MAX_BLOCK_DEPTH - 1} -> FL()"]), "f")
    assert len(source.check().layers) == 3


# --- files and command-line arguments ------------------------------------------------------


def test_file_cap(tmp_path):
    big = tmp_path / "big.cnn"
    with big.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(UsageError, match="larger than 8 MB; not a spec file"):
        read_text(big)
    at_cap = tmp_path / "at_cap.cnn"
    at_cap.write_bytes(b"CN(8)->FL()" + b" " * (MAX_FILE_BYTES - 11))
    assert read_text(at_cap).startswith("CN(8)")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"CN(8) # caf\xe9", "not UTF-8 text (byte 11)"),
        (b"\xff\xfeC\x00N\x00", "not UTF-8 text (byte 0)"),
        (b"CN(8) # \xed\xa0\x80", "not UTF-8 text (byte 8)"),
    ],
)
def test_file_that_is_not_utf8_is_a_usage_error(tmp_path, data, message):
    path = tmp_path / "bad.cnn"
    path.write_bytes(data)
    with pytest.raises(UsageError, match=re.escape(message)):
        read_models(str(path))


def test_a_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="is a directory, not a spec file"):
        read_models(str(tmp_path))


def test_file_with_a_byte_order_mark_and_crlf_works(tmp_path):
    path = tmp_path / "bom.cnn"
    path.write_bytes(b"\xef\xbb\xbf# model\r\nCN(8)\r\n-> FL()\r\n")
    (source,) = read_models(str(path))
    assert len(source.check().layers) == 3


@pytest.mark.parametrize("argument", ["", "   ", "CN(" + "9" * 400 + ")", "CN(8)->" + "BN()->" * 100 + "FL()"])
def test_argument_that_no_file_can_have_is_the_notation(argument):
    (source,) = read_models(argument)
    assert source.name == "<spec>"


@pytest.mark.parametrize(
    "options, code",
    [
        (["--input-shape", "65536,65536,65536"], 0),
        (["--input-shape", "65537,1,1"], 2),
        (["--input-shape", "0,28,1"], 2),
        (["--input-shape", "1e9,1e9,1"], 2),
        (["--input-shape", "9" * 5000 + ",1,1"], 2),
        (["--classes", "1000000"], 0),
        (["--classes", "1000001"], 2),
        (["--classes", "-0"], 2),
    ],
)
def test_cli_bounds_model_options(options, code):
    result = run_cli("check", "-q", "GAP()", *options)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr


def test_errors_on_a_long_line_show_a_window_with_the_carets_under_the_span():
    error = error_of("CN(0)->" * 5000 + "FL()")
    rendered = error.render().splitlines()
    assert len(rendered) == 3 * 5000
    for source, carets in [rendered[1:3], rendered[-2:]]:
        assert len(source) <= 4 + 3 + 120 + 3
        assert source[carets.index("^")] == "0"
