"""The parser: table-driven AST cases, and errors with line, column and text."""

from __future__ import annotations

import pytest

from cnndsl import SpecError, SpecShapeError, SpecSyntaxError, SpecValueError, check, parse
from cnndsl import ast as A


def _codes(node) -> list:
    """A compact picture of an AST: calls as (code, args), repeats as [body, n]."""
    if isinstance(node, A.Chain):
        return [_codes(element) for element in node.elements]
    if isinstance(node, A.Repeat):
        return ["*", _codes(node.body), node.count.value]
    if isinstance(node, A.Ref):
        return ["ref", node.name]
    return (node.code, tuple((arg.name, _value(arg.value)) for arg in node.args))


def _value(value):
    if isinstance(value, A.Tuple):
        return tuple(_value(item) for item in value.items)
    return value.name if isinstance(value, A.Word) else value.value


PARSE_CASES = [
    ("FL()", [("FL", ())]),
    ("CN(72,(7,7))", [("CN", ((None, 72), (None, (7, 7))))]),
    ("CN(72, (7, 7)) -> MP(2, 2)", [("CN", ((None, 72), (None, (7, 7)))), ("MP", ((None, 2), (None, 2)))]),
    ("CN(8)→BN()", [("CN", ((None, 8),)), ("BN", ())]),
    ("DP(0.25)", [("DP", ((None, 0.25),))]),
    ("DP(.5)", [("DP", ((None, 0.5),))]),
    ("DN(10, activation=softmax)", [("DN", ((None, 10), ("activation", "softmax")))]),
    ("CN(8, kernel=(3,5), padding=same,)", [("CN", ((None, 8), ("kernel", (3, 5)), ("padding", "same")))]),
    ("CN(8,(5))", [("CN", ((None, 8), (None, 5)))]),
    ("CN(8,(5,))", [("CN", ((None, 8), (None, (5,))))]),
    ("CN(-3)", [("CN", ((None, -3),))]),
    ("DP(1e-1)", [("DP", ((None, 0.1),))]),
    ("CN(32)*2", [["*", ("CN", ((None, 32),)), 2]]),
    ("(CN(32)->BN())*3", [["*", [("CN", ((None, 32),)), ("BN", ())], 3]]),
    ("((CN(8)*2)->MP(2))*2", [["*", [["*", ("CN", ((None, 8),)), 2], ("MP", ((None, 2),))], 2]]),
    ("(FL())", [("FL", ())]),
    ("stem -> FL()", [["ref", "stem"], ("FL", ())]),
    ("CN(8) # a comment\n-> # another\n FL()", [("CN", ((None, 8),)), ("FL", ())]),
    ("\ufeffCN(8)\r\n->\tFL()\r\n", [("CN", ((None, 8),)), ("FL", ())]),
]


@pytest.mark.parametrize("text, expected", PARSE_CASES, ids=[case[0] for case in PARSE_CASES])
def test_parse(text, expected):
    assert _codes(parse(text)) == expected


def test_every_node_carries_its_span():
    text = "CN(72,(7,7))\n  -> MP(2, 2)"
    chain = parse(text)
    conv, pool = chain.elements
    assert (conv.span.line, conv.span.column, conv.span.end_column) == (1, 1, 13)
    assert (pool.span.line, pool.span.column) == (2, 6)
    assert pool.span.text(text) == "MP(2, 2)"
    assert conv.args[1].value.span.text(text) == "(7,7)"
    assert pool.code_span.text(text) == "MP"


# --- errors: kind, line, column, text ------------------------------------------------------

ERROR_CASES = [
    # syntax
    ("CN(3,", SpecSyntaxError, 1, 6, "expected '(', ')', a name or a number, found the end of the spec"),
    ("CN(3)->", SpecSyntaxError, 1, 8, "expected a layer such as CN(32), found the end of the spec"),
    ("", SpecSyntaxError, 1, 1, "the spec is empty"),
    ("CN(3) BN()", SpecSyntaxError, 1, 7, "expected ')', '*', ',', '->', 'as' or '|', found a name 'BN'"),
    ("CN(3)$", SpecSyntaxError, 1, 6, "unexpected character '$'"),
    ("CN(3)\n->\n  MP(2))", SpecSyntaxError, 3, 8, "found ')'"),
    ("CN(3)-FL()", SpecSyntaxError, 1, 6, "unexpected character '-'"),
    ("CN(3)\u00a0->FL()", SpecSyntaxError, 1, 6, "unexpected character U+00A0 NO-BREAK SPACE"),
    ("CN(3)->[FL()]", SpecSyntaxError, 1, 8, "unexpected character '['"),
    ("CN(a=)", SpecSyntaxError, 1, 6, "found ')'"),
    # values
    ("CN(0)", SpecValueError, 1, 4, "CN filters must be at least 1, not 0"),
    ("CN(-3)", SpecValueError, 1, 4, "CN filters must be at least 1, not -3"),
    ("CN(2.5)", SpecValueError, 1, 4, "CN filters must be a whole number, not 2.5"),
    ("CN(relu)", SpecValueError, 1, 4, "CN filters must be a whole number, not 'relu'"),
    ("DP(1.5)", SpecValueError, 1, 4, "DP rate must be at least 0 and below 1, not 1.5"),
    ("DP(1)", SpecValueError, 1, 4, "DP rate must be at least 0 and below 1, not 1"),
    ("DP(-0.1)", SpecValueError, 1, 4, "DP rate must be at least 0 and below 1, not -0.1"),
    ("CN(8,(0,3))", SpecValueError, 1, 7, "CN kernel must be at least 1, not 0"),
    ("CN(8,(3,3,3))", SpecValueError, 1, 6, "CN kernel needs 2 values, not 3"),
    ("CN(8, stride=2)", SpecValueError, 1, 7, "CN has no argument 'stride'"),
    ("CN(8, strides=2, strides=1)", SpecValueError, 1, 18, "CN strides is given twice"),
    ("CN(8, 3, kernel=3)", SpecValueError, 1, 10, "CN kernel is given twice"),
    ("CN(8,3,1,valid,relu,1,true,1,9)", SpecValueError, 1, 30, "too many arguments: CN takes CN(filters, kernel=3"),
    ("FL(1)", SpecValueError, 1, 4, "too many arguments: FL takes no arguments: FL()"),
    ("CN()", SpecValueError, 1, 1, "CN needs its filters: CN(filters, kernel=3, strides=1"),
    ("DN()", SpecValueError, 1, 1, "DN needs its units: DN(units, activation=relu, bias=true)"),
    ("CNN(3)", SpecValueError, 1, 1, "unknown layer code 'CNN'"),
    ("CN(8, padding=sme)", SpecValueError, 1, 15, "unknown CN padding 'sme'"),
    ("DN(8, activation=rleu)", SpecValueError, 1, 18, "unknown DN activation 'rleu'"),
    ("CN(8, strides=2, dilation=2)", SpecValueError, 1, 1, "strides > 1 cannot be combined with dilation > 1"),
    ("CN(8)*0", SpecValueError, 1, 7, "a repetition count must be at least 1, not 0"),
    ("CN(8)*1.5", SpecValueError, 1, 7, "a repetition count must be a whole number, not 1.5"),
    ("CN(8)->IN(28,28,1)", SpecValueError, 1, 8, "IN(...) declares the input shape and must come first"),
    ("IN(28,28)", SpecValueError, 1, 4, "IN shape needs 3 values, not 2"),
    ("fl()->FL()", SpecValueError, 1, 1, "unknown layer code 'fl'"),
    ("stem->FL()", SpecValueError, 1, 1, "unknown name 'stem'"),
    # shapes
    ("CN(8,(29,29))", SpecShapeError, 1, 1, "kernel 29x29 needs an input of at least 29x29, but this layer gets 28x28"),
    ("MP(2)*5->FL()", SpecShapeError, 1, 1, "pool 2x2 needs an input of at least 2x2, but this layer gets 1x1"),
    (
        "CN(8)->FL()->CN(8)",
        SpecShapeError,
        1,
        14,
        "CN(8) needs a 4-D input (batch, height, width, channels), but gets (None, 5408)",
    ),
    ("FL()->MP(2)", SpecShapeError, 1, 7, "MP(2) needs a 4-D input"),
    ("FL()->GAP()", SpecShapeError, 1, 7, "GAP() needs a 4-D input"),
    ("CN(8)", SpecShapeError, 1, 6, "the classifier head DN(10, activation=softmax) gets (None, 26, 26, 8)"),
]


@pytest.mark.parametrize("text, kind, line, column, message", ERROR_CASES, ids=[case[0] for case in ERROR_CASES])
def test_errors_carry_kind_position_and_text(text, kind, line, column, message):
    with pytest.raises(kind) as caught:
        check(text)
    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert message in error.message


@pytest.mark.parametrize(
    "text, hint",
    [
        ("CNN(3)", "did you mean CN?"),
        ("cn(3)", "did you mean CN?"),
        ("CN(8, stride=2)", "did you mean strides=?"),
        ("CN(8, kernel_size=3)", "did you mean kernel=?"),
        ("MP(pool_size=2)", "did you mean pool=?"),
        ("CN(8, padding=sme)", "did you mean same?"),
        ("fl->FL()", "a layer takes parentheses: FL()"),
        ("CN(3)-FL()", "layers are joined by '->' (or '→')"),
        ("CN(3) BN()", "layers are joined by '->'"),
    ],
)
def test_unknown_words_get_a_suggestion(text, hint):
    with pytest.raises(SpecError) as caught:
        check(text)
    assert caught.value.diagnostics[0].hint == hint


@pytest.mark.parametrize("text", ["CN(3", "CN(3)->)", "CN(3,,)", "(CN(3)", "->", "CN(3)**2", "=", "CN(3)->FL()x"])
def test_lark_names_never_reach_the_user(text):
    with pytest.raises(SpecSyntaxError) as caught:
        check(text)
    rendered = caught.value.render()
    for internal in ("__ANON", "RPAR", "LPAR", "$END", "NUMBER", "COMMA", "Token(", "Tree("):
        assert internal not in rendered


def test_the_renderer_prints_file_line_column_source_and_carets():
    text = "CN(20,(5,5))\n\t-> CN(0)"
    with pytest.raises(SpecError) as caught:
        check(text)
    assert caught.value.render("model.cnn").splitlines() == [
        "model.cnn:2:8: error: CN filters must be at least 1, not 0",
        "2 | \t-> CN(0)",
        "    \t      ^",
    ]
