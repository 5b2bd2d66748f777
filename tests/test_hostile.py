"""Hostile input: whatever the text, the checker ends in a model or a located SpecError.

The checker runs in pre-commit hooks and CI on text anyone can write, so no input may
crash it with another exception, and the CLI may exit only with 0, 1 or 2 and never
print a traceback. Hypothesis feeds it arbitrary text, notation-shaped noise and
mutations of valid specs.
"""

from __future__ import annotations

import pytest
from helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_strategies import NOTATION_CHARS, PIECES, SEEDS, char_mutated, mutated

from cnndsl import CheckedModel, SpecError, check
from cnndsl.errors import render


def assert_located(text: str) -> CheckedModel | SpecError:
    """Check ``text``: a model, or a SpecError whose every span lies in the text, and renders."""
    try:
        return check(text)
    except SpecError as error:
        assert error.span is not None, f"no position for {error.message!r}"
        for diagnostic in error.diagnostics:
            assert_span_in(text, diagnostic.span)
        assert error.render("t.cnn").startswith(f"t.cnn:{error.line}:{error.column}: ")
        return error


def assert_span_in(text: str, span) -> None:
    assert span is not None
    assert 0 <= span.start <= span.end <= len(text)
    line = text.count("\n", 0, span.start) + 1
    column = span.start - (text.rfind("\n", 0, span.start) + 1) + 1
    assert (span.line, span.column) == (line, column), (span, text[:80])


# --- arbitrary text ------------------------------------------------------------------------


@settings(max_examples=600)
@given(st.text(max_size=200))
def test_any_text_is_a_model_or_a_located_error(text):
    assert_located(text)


@settings(max_examples=600)
@given(st.text(alphabet=NOTATION_CHARS, max_size=120))
def test_notation_characters_are_a_model_or_a_located_error(text):
    assert_located(text)


@settings(max_examples=800)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_notation_tokens_are_a_model_or_a_located_error(pieces):
    assert_located("".join(pieces))


# --- grammar-aware mutations of valid specs ------------------------------------------------


def test_the_seeds_are_valid():
    for seed in SEEDS:
        if "title" not in seed:  # model 3 as titled is the notebook's shape error
            task = "segment" if "for segmentation" in seed else None  # examples/unet.cnn
            assert isinstance(check(seed, task=task), CheckedModel), seed


@settings(max_examples=1000)
@given(mutated())
def test_token_mutations_are_a_model_or_a_located_error(text):
    assert_located(text)


@settings(max_examples=600)
@given(char_mutated())
def test_character_mutations_are_a_model_or_a_located_error(text):
    assert_located(text)


@settings(max_examples=300)
@given(mutated(), st.integers(1, 65536), st.integers(1, 65536), st.integers(1, 65536), st.integers(1, 10**6))
def test_any_input_shape_and_classes_are_a_model_or_a_located_error(text, h, w, c, classes):
    try:
        check(text, input_shape=(h, w, c), num_classes=classes)
    except SpecError as error:
        for diagnostic in error.diagnostics:
            assert_span_in(text, diagnostic.span)


@settings(max_examples=300)
@given(mutated())
def test_rendering_every_error_never_fails(text):
    outcome = assert_located(text)
    if isinstance(outcome, SpecError):
        lines = render(outcome.diagnostics, text, "<spec>").splitlines()
        assert len(lines) >= len(outcome.diagnostics)


# --- the command line ----------------------------------------------------------------------

HOSTILE_ARGS = [
    "",
    "   ",
    "->",
    "CN(8)*1000000000",
    "((CN(8)*1000)*1000)*1000",
    "CN(" + "9" * 400 + ")",
    "IN(1000000000,1000000000,1)->FL()",
    "(" * 200 + "CN(8)" + ")" * 200,
    "CN(8)\u202e->FL()",
    "CN(8)\u0301",
    "\ufeffCN(8)->FL()",
    "CN(8)\r\n->\tFL()",
    "CN(1e999)",
    "CN(0x10)->FL()",
    "CN(1_000)->FL()",
    "CN(-0)->FL()",
    "DP(nan)",
    "CN(8)" + "->" * 2000,
    "@" * 5000,
]


@pytest.fixture
def hostile_files(tmp_path):
    files = {
        "empty.cnn": b"",
        "bom.cnn": b"\xef\xbb\xbfCN(8)->FL()\r\n",
        "nul.cnn": b"CN(8)\x00->FL()",
        "latin1.cnn": b"CN(8) # caf\xe9\n->FL()",
        "surrogate.cnn": b"CN(8) # \xed\xa0\x80",
        "tabs.cnn": b"CN(8)\n\t->\tFL()\t->\tCN(3)",
        "garbage.cnn": bytes(range(256)) * 64,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "folder.cnn").mkdir()
    return tmp_path


def assert_clean_exit(result) -> None:
    assert result.returncode in (0, 1, 2), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_survives_hostile_specs():
    result = run_cli("check", "--", *HOSTILE_ARGS)
    assert_clean_exit(result)
    assert result.returncode == 1
    assert result.stderr.count("error:") >= len(HOSTILE_ARGS) - 4


def test_cli_survives_hostile_files(hostile_files):
    paths = sorted(str(path) for path in hostile_files.iterdir())
    result = run_cli("check", *paths)
    assert_clean_exit(result)
    assert result.returncode == 2  # the directory and the files that are not UTF-8
    assert "folder.cnn: is a directory, not a spec file" in result.stderr
    assert "latin1.cnn: not UTF-8 text (byte 11)" in result.stderr
    assert "empty.cnn:1:1: error: the spec is empty" in result.stderr
    assert "bom.cnn: OK, 3 layers" in result.stdout


@pytest.mark.parametrize("spec", ["CN(8)*1000000000", "(" * 100, "\ufeff", "CN(8)->FL()\x7f"])
@pytest.mark.parametrize("command", [["summary"], ["summary", "--json"]])
def test_cli_summary_refuses_hostile_specs_cleanly(command, spec):
    result = run_cli(*command, "--", spec)
    assert_clean_exit(result)
    assert result.returncode == 1


def test_cli_caret_stays_under_the_span_after_tabs(hostile_files):
    result = run_cli("check", str(hostile_files / "tabs.cnn"))
    assert result.returncode == 1
    source, carets = result.stderr.splitlines()[1:3]
    assert source == "2 | \t->\tFL()\t->\tCN(3)"
    assert carets == "    \t  \t    \t  \t^^^^^"
