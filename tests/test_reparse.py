"""Re-reading after an edit (cnndsl.reparse) gives exactly what reading the whole new text gives."""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from spec_strategies import graph_specs, specs

from cnndsl import ast
from cnndsl.errors import SpecError
from cnndsl.reparse import edited_region, reparse_file
from cnndsl.syntax import MAX_NESTING, parse_file


def whole(text: str):
    """``parse_file(text)``, or None where it refuses the text."""
    try:
        return parse_file(text)
    except SpecError:
        return None


def calls(node) -> list[ast.Call]:
    match node:
        case ast.SpecFile(definitions):
            return [call for d in definitions for call in calls(d.chain)]
        case ast.Chain(elements):
            return [call for element in elements for call in calls(element)]
        case ast.Merge(branches=branches):
            return [call for branch in branches for call in calls(branch)]
        case ast.Repeat(body=body):
            return calls(body)
        case ast.Call():
            return [node]
        case _:
            return []


@st.composite
def spec_files(draw) -> str:
    """A bare spec, or definitions laid out over lines with comments, as people write them."""
    one = draw(st.one_of(specs(), graph_specs()))[0]
    if draw(st.booleans()):
        return one
    block = draw(st.one_of(specs(), graph_specs()))[0].replace(" -> ", "\n    -> ")
    model = one.replace(" -> ", draw(st.sampled_from(["\n    -> ", " -> ", "  # a comment (\n  -> "])))
    return f"# a file\nblock stem = {block}\n\nnet = stem -> {model}\nsmall = {model}  # ( in a comment\n"


TYPED = st.text(alphabet="0123456789,()=.-+ \n#abCN_", max_size=3)


@st.composite
def edits(draw) -> tuple[str, str]:
    """A file and the same file after one edit: most inside a layer call, some anywhere."""
    text = draw(spec_files())
    inside = calls(parse_file(text))
    if inside and draw(st.integers(0, 4)):
        call = draw(st.sampled_from(inside))
        start = draw(st.integers(call.span.start, call.span.end))
    else:
        start = draw(st.integers(0, len(text)))
    removed = draw(st.integers(0, min(3, len(text) - start)))
    return text, text[:start] + draw(TYPED) + text[start + removed :]


@settings(max_examples=300)
@given(edits())
def test_an_edit_reads_as_the_whole_new_text_reads(edit):
    old, new = edit
    again = reparse_file(old, parse_file(old), new)
    event("read alone" if again is not None else "left to the whole reading")
    assert again is None or again == whole(new)


KEYSTROKES = [
    ("CN(20, (5, 5))", "CN(30, (5, 5))"),  # a digit replaced
    ("CN(20, (5, 5))", "CN(200, (5, 5))"),  # one typed
    ("CN(20, (5, 5))", "CN(2, (5, 5))"),  # one deleted
    ("CN(20, (5, 5))", "CN(20, (5, 5), padding=same)"),  # an argument added
    ("CN(20, (5, 5))", "CN(20,\n       (5, 5))"),  # a line broken
    ("BN()", "BN(momentum=0.9)"),
]


@pytest.mark.parametrize(("before", "after"), KEYSTROKES)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_keystroke_in_a_call_is_read_again_alone_and_reads_as_the_whole_text(before, after, where):
    lines = ["CN(8) -> BN()", "CN(20, (5, 5))", "BN()", "MP(2)", "FL() -> DN(10)"]
    index = {"first": 1, "middle": 2, "last": 3}[where] if before != "BN()" else 2
    lines[index] = before
    old = "block stem = CN(4)\n\nnet = stem\n" + "".join(
        f"    -> {line}  # layer {i}\n" for i, line in enumerate(lines)
    )
    new = old.replace(f"-> {before}  # layer {index}", f"-> {after}  # layer {index}")
    assert new != old
    again = reparse_file(old, parse_file(old), new)
    assert again is not None, "the fast path was not taken"
    assert again == parse_file(new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("CN(8) -> FL()", "CN(8) -> FL() -> DN(3)"),  # outside any call
        ("CN(8) -> FL()", "DN(8) -> FL()"),  # the code's first letter
        ("CN(8) -> FL()", "CN(8 -> FL()"),  # the call no longer closes
        ("CN(8) -> FL()", "CN(8) -> F(L()"),  # no longer one call
        ("AD(8) -> FL()", "ADD(8) -> FL()"),  # now a merge (of no chain)
        ("CN(8) -> FL()", "CN({8,16}) -> FL()"),  # a search space
    ],
)
def test_edits_it_cannot_read_alone_are_left_to_the_whole_reading(old, new):
    assert reparse_file(old, parse_file(old), new) is None


def test_a_call_nested_to_the_limit_is_refused_as_the_whole_reading_refuses_it():
    depth = MAX_NESTING - 1  # the call's own parenthesis is the last level allowed
    old = "ADD(" * depth + "CN(8)" + " | ID())" * depth
    new = old.replace("CN(8)", "CN((8))")  # one level more
    assert whole(old) is not None
    assert reparse_file(old, parse_file(old), new) == whole(new)  # None on both sides, or the same tree


def test_the_edited_region_is_what_changed():
    assert edited_region("CN(20)", "CN(30)") == (3, 4, 4)
    assert edited_region("CN(20)", "CN(200)") == (5, 5, 6)
    assert edited_region("aaa", "aa") == (2, 3, 2)
    assert edited_region("", "x") == (0, 0, 1)
    assert edited_region("same", "same") == (4, 4, 4)


@pytest.mark.parametrize(("before", "after"), [*KEYSTROKES, ("CN(20, (5, 5))", "CN(20, (5, 5), paddng=same)")])
def test_the_language_servers_analysis_after_an_edit_is_the_fresh_analysis_of_the_new_text(before, after):
    from cnndsl.lsp.analysis import analyze_spec_file
    from cnndsl.settings import Settings

    old = "block stem = CN(4)\n\nnet = stem\n    -> CN(8)\n    -> " + before + "\n    -> MP(2) -> FL() -> DN(10)\n"
    new = old.replace(before, after)
    previous = analyze_spec_file(old, Settings(), "net")
    edited, fresh = analyze_spec_file(new, Settings(), "net", previous), analyze_spec_file(new, Settings(), "net")
    assert edited.tree == fresh.tree is not None
    assert (edited.diagnostics, edited.hints, edited.fixes) == (fresh.diagnostics, fresh.hints, fresh.fixes)
    assert edited.hints if "paddng" not in after else edited.diagnostics and edited.fixes


def test_edits_through_a_syntax_error_are_read_from_the_last_text_that_read(monkeypatch):
    from cnndsl.lsp import analysis
    from cnndsl.settings import Settings

    old = "net = CN(8)\n    -> CN(20, (5, 5))\n    -> MP(2) -> FL() -> DN(10)\n"
    broken = old.replace("(5, 5))", "(5, 5)")  # a ')' deleted: mid-edit
    mended = old.replace("CN(20, (5, 5))", "CN(32, (5, 5))")  # typed back, with another change
    first = analysis.analyze_spec_file(old, Settings(), "net")
    second = analysis.analyze_spec_file(broken, Settings(), "net", first)
    assert second.tree is None and second.diagnostics and second.last_read == (old, first.tree)
    fresh = analysis.analyze_spec_file(mended, Settings(), "net")

    def whole_reading(text):
        raise AssertionError("the whole text was read again")

    monkeypatch.setattr(analysis, "parse_file", whole_reading)
    third = analysis.analyze_spec_file(mended, Settings(), "net", second)
    assert third.tree == fresh.tree and third.last_read == (mended, fresh.tree)
    assert (third.diagnostics, third.hints) == (fresh.diagnostics, fresh.hints) and third.hints
