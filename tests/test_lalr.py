"""The fast reading (cnndsl.lalr, driving lark's tables) against lark's own parser.

lark's parser and parse tree, converted to the AST, are the reference: the grammar
file is the single source of the syntax. The fast reading must give the very same AST,
spans included, for every text lark accepts, and for every text lark refuses the very
same syntax error (message, span, hint), which it reports without loading lark. Hypothesis feeds both readings valid specs, spec files,
notation-shaped noise and mutations of valid specs.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_strategies import NOTATION_CHARS, PIECES, SEEDS, char_mutated, graph_specs, mutated, specs

from cnndsl import SpecError, lalr, syntax


def reference(text: str, start: str):
    """lark's reading of ``text``, or None if lark refuses it."""
    try:
        return syntax.read_with_lark(text, start)
    except SpecError:
        return None


def lark_diagnostic(text: str, start: str):
    """The diagnostic of lark's own error on ``text``, or None where lark's parser takes it."""
    from lark.exceptions import UnexpectedInput

    try:
        syntax._parser(start).parse(text)
    except UnexpectedInput as error:
        return syntax.failure_diagnostic(syntax.lark_failure(error), text)
    return None


def assert_same_reading(text: str, start: str = "spec") -> object:
    """Both readings agree: the same AST; or, where lark refuses the text, the same
    syntax error (message, span and hint), said by the fast reading without lark.

    Nesting past the limit is refused by both, counted the same way.
    """
    expected = reference(text, start)
    node, failure = syntax._reader(start).run(text, max_depth=syntax.MAX_NESTING)
    assert node == expected, text
    if node is None and failure.kind != "depth":
        assert syntax.failure_diagnostic(failure, text) == lark_diagnostic(text, start), text
    return expected


def test_every_rule_of_the_grammar_has_a_builder():
    for start in ("spec", "file"):
        grammar = syntax.tables(start)
        keys = {lalr._builder_key(rule) for rule in grammar.rules}
        assert keys <= set(lalr.BUILDERS), keys - set(lalr.BUILDERS)
        assert isinstance(syntax._reader(start), lalr.Reader)


def test_a_rule_without_a_builder_is_refused_when_the_reader_is_made():
    grammar = syntax.tables("spec")
    rules = (*grammar.rules, lalr.Rule("layer_group", ("chain",), None))
    with pytest.raises(ValueError, match="no AST builder for the grammar's rule.*layer_group"):
        lalr.Reader(lalr.Grammar(grammar.terminals, grammar.ignore, rules, grammar.states, 0, "spec"), ("LPAR", "RPAR"))


def test_parse_uses_the_fast_reading(monkeypatch):
    def refuse(*args):
        raise AssertionError("lark was asked to read a valid spec")

    monkeypatch.setattr(syntax, "read_with_lark", refuse)
    for seed in SEEDS:
        assert syntax.parse(seed).elements


@pytest.mark.parametrize(
    "text",
    [
        *SEEDS,
        "CN(8, k=(5), (3,), a=relu,) -> (CN(1)->X)*3 # c\n ->\tFL()",
        "\ufeffCN(8)\r\n->\r\nFL()",
        "((((CN(8)))))*2 -> DN((((3))))",
        "CN(+1.5e-3, -.5, 7.) → MP()",
        "CN(8)->block",
        "",
        "   # only a comment",
        "CN(8)->",
        "CN(8)@",
        "CN(8) CN(9)",
        "((CN(8))",
    ],
)
def test_the_readings_agree_on_examples(text):
    assert_same_reading(text)


@pytest.mark.parametrize(
    "text",
    [
        "block stem = CN(32,3) -> BN()\nsmall = stem*2 -> MP(2) -> FL() -> DN(128)\n",
        "a = CN(8, activation=block)\nb = a",
        "block = CN(3)",
        "blockade = CN(3)\nblock_x = blockade",
        "block block = CN(3)",
        "a = CN(8) b = CN(9)",
        "a = CN(8)\n\nblock",
        "scale n(0.5, 0.25, 1024)\nscale s(0.5, 0.5, 1024, divisor=8)\na = CN(64) * 3",
        "a = CN(8)\nscale n(1, 1, 8, channels=nearest)\nb = a",
        "scale = CN(8)\nblock scale2 = scale\nb = scale -> scale2",
        "scale n(1, 1, 8)",
        "scale n = CN(8)",
        "a = CN(8)\nscale",
        "scale n(1 2)",
    ],
)
def test_the_readings_agree_on_spec_files(text):
    assert_same_reading(text, "file")


def test_the_fast_reading_takes_the_deepest_nesting_allowed_and_leaves_deeper_to_lark():
    deep = "(" * (syntax.MAX_NESTING + 1) + "CN(8)" + ")" * (syntax.MAX_NESTING + 1)
    assert syntax._reader("spec").read(deep, max_depth=syntax.MAX_NESTING) is None
    with pytest.raises(SpecError, match="nested deeper than"):
        syntax.parse(deep)
    fits = "(" * (syntax.MAX_NESTING - 1) + "CN(8)" + ")" * (syntax.MAX_NESTING - 1)  # CN's own makes 64
    assert syntax._reader("spec").read(fits, max_depth=syntax.MAX_NESTING) == syntax.read_with_lark(fits)


@settings(max_examples=300)
@given(specs())
def test_the_readings_agree_on_valid_specs(spec):
    text = spec[0]
    assert assert_same_reading(text) is not None


@settings(max_examples=200)
@given(graph_specs())
def test_the_readings_agree_on_graphs(spec):
    assert assert_same_reading(spec[0]) is not None


@settings(max_examples=200)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["a", "b", "stem", "x_1"]), specs()), min_size=1, max_size=4))
def test_the_readings_agree_on_valid_spec_files(definitions):
    text = "\n".join(f"{'block ' * is_block}{name} = {spec[0]}" for is_block, name, spec in definitions)
    assert assert_same_reading(text, "file") is not None


@settings(max_examples=600)
@given(st.lists(st.sampled_from([*PIECES, "block", "a =", "\nb = "]), max_size=40))
def test_the_readings_agree_on_notation_tokens(pieces):
    text = "".join(pieces)
    assert_same_reading(text)
    assert_same_reading(text, "file")


@settings(max_examples=400)
@given(st.text(alphabet=NOTATION_CHARS, max_size=120))
def test_the_readings_agree_on_notation_characters(text):
    assert_same_reading(text)


@settings(max_examples=600)
@given(mutated())
def test_the_readings_agree_on_token_mutations(text):
    assert_same_reading(text)


@settings(max_examples=400)
@given(char_mutated())
def test_the_readings_agree_on_character_mutations(text):
    assert_same_reading(text)


def lark_file_error(text: str):
    """The error parse_file reported when lark read both ways: the reading that got further."""
    as_spec, as_file = lark_diagnostic(text, "spec"), lark_diagnostic(text, "file")
    return as_spec if as_spec.span.start >= as_file.span.start else as_file


@settings(max_examples=400)
@given(st.lists(st.sampled_from([*PIECES, "block", "a =", "\nb = ", "\n", "# c\n"]), max_size=40))
def test_a_spec_files_syntax_error_is_the_one_lark_gives(pieces):
    text = "".join(pieces)
    try:
        syntax.parse_file(text)
    except SpecError as error:
        (diagnostic,) = error.diagnostics
        if not diagnostic.message.startswith("parentheses nested"):
            assert diagnostic == lark_file_error(text)
    else:
        assert reference(text, "spec") is not None or reference(text, "file") is not None


def test_a_syntax_error_is_reported_without_lark(monkeypatch):
    def refuse(*args):
        raise AssertionError("lark was asked")

    monkeypatch.setattr(syntax, "_parser", refuse)
    with pytest.raises(SpecError, match="expected a layer such as CN\\(32\\), found '->'"):
        syntax.parse("CN(8) -> -> FL()")
    with pytest.raises(SpecError, match="unexpected character '\\$'"):
        syntax.parse_file("a = CN(8)\nb = a -> $")


# --- the stored tables ----------------------------------------------------------------


def test_the_stored_tables_are_what_lark_builds_from_the_grammar_now():
    fresh = syntax.tables_source()
    assert fresh == syntax.tables_module().read_text("utf-8"), (
        "cnndsl/grammar_tables.py is stale: regenerate it with "
        "python -c 'from cnndsl.syntax import write_tables; write_tables()'"
    )
    for start in syntax.STARTS:
        assert syntax.stored_tables(start) == lalr.canonical(syntax.tables(start))


@pytest.mark.parametrize("seed", ["0", "1", "12345"])
def test_the_generated_tables_do_not_depend_on_the_hash_seed(seed):
    """lark numbers its states in an order that moves with the hash seed; the stored copy must not."""
    import os
    import subprocess
    import sys

    code = "import sys; from cnndsl import syntax; sys.stdout.write(syntax.tables_source())"
    env = {**os.environ, "PYTHONHASHSEED": seed}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout == syntax.tables_module().read_text("utf-8")


def test_canonical_numbering_keeps_the_automaton():
    """Renumbered states read every text as the original numbering does."""
    grammar = syntax.tables("file")
    original = lalr.Reader(grammar, ("LPAR", "RPAR"))
    renumbered = lalr.Reader(lalr.unpack(lalr.pack(lalr.canonical(grammar))), ("LPAR", "RPAR"))
    for text in [*SEEDS, "block s = CN(8)\nm = s*2 -> FL()", "a = CN(8) b"]:
        assert renumbered.read(text, syntax.MAX_NESTING) == original.read(text, syntax.MAX_NESTING)
