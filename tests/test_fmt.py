"""cnndsl fmt: canonical layout, comments kept, meaning unchanged, idempotent."""

from __future__ import annotations

import re

import pytest
from helpers import EXAMPLES, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_strategies import graph_specs, specs

from cnndsl import SpecError
from cnndsl.formatter import format_text
from cnndsl.inputs import file_models
from cnndsl.report import summary_json

SEPARATORS = ["->", " -> ", "→", "\n    -> ", "  # a note\n-> ", "\n# on its own line\n->", "->\t", " ->\r\n  "]


@st.composite
def messy_files(draw) -> str:
    """Generated specs with arbitrary spacing and comments, sometimes as a definitions file."""
    text, _descs, _shape, _classes, _declared = draw(st.one_of(specs(), graph_specs()))
    pieces = re.split(r"->|→", text)
    joined = pieces[0] + "".join(draw(st.sampled_from(SEPARATORS)) + piece for piece in pieces[1:])
    if draw(st.booleans()):
        joined = draw(st.sampled_from(["", "# header\n", "# header\n\n"])) + joined
    if draw(st.booleans()):
        joined += draw(st.sampled_from(["  # trailing", "\n# footer\n", "\n"]))
    if draw(st.booleans()) and not joined.lstrip().startswith("IN("):
        joined = f"block part = CN(4, 1)\n\n# the model\nnet = part -> {joined}\n"
    return joined


def _meaning(text: str) -> list:
    """Every model's summary, or every error's kind and message."""
    meanings = []
    for source in file_models("f.cnn", text, "f"):
        try:
            summary = summary_json(source.check())
        except SpecError as error:
            meanings.append([(d.kind, _without_layer_text(d.message)) for d in error.diagnostics])
            continue
        where = ("line", "column", "text")
        summary["layers"] = [{k: v for k, v in layer.items() if k not in where} for layer in summary["layers"]]
        summary["warnings"] = [warning["message"] for warning in summary["warnings"]]
        meanings.append(summary)
    return meanings


def _without_layer_text(message: str) -> str:
    """A message without the layer's source text it may quote (formatting changes that text)."""
    return re.sub(r"^[A-Z]+\(.*?\)?(\.\.\.)?(?=: | needs )", "LAYER", message).replace(" ", "")


def _comments(text: str) -> list[str]:
    return sorted(match.rstrip() for match in re.findall(r"#[^\n\r]*", text))


@settings(max_examples=300)
@given(messy_files())
def test_formatting_keeps_meaning_and_comments_and_is_idempotent(text):
    formatted = format_text(text)
    assert format_text(formatted) == formatted
    assert _meaning(formatted) == _meaning(text)
    assert _comments(formatted) == _comments(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("CN(72,(7,7))->MP(2,2)", "CN(72, (7, 7)) -> MP(2, 2)\n"),
        ("CN(8)→FL()", "CN(8) -> FL()\n"),
        ("(CN(32)->BN())*3->FL()", "(CN(32) -> BN()) * 3 -> FL()\n"),
        ("CN(8, padding = same , )", "CN(8, padding=same)\n"),
        ("CN(8,(5,))", "CN(8, (5,))\n"),
        ("CN(32,3)->MP(2)->FL()  # keep me", "CN(32, 3) -> MP(2) -> FL()  # keep me\n"),
        ("a=CN(3)->FL()\n\n\n\nblock  b =CN(2)", "a = CN(3) -> FL()\n\nblock b = CN(2)\n"),
        ("CN(3)\r\n->FL()\r\n", "CN(3) -> FL()\r\n"),
        (
            "CN(8) # first\n# before the second\n-> CN(16)\n-> FL()",
            "CN(8)  # first\n    # before the second\n    -> CN(16)\n    -> FL()\n",
        ),
    ],
)
def test_canonical_layout(text, expected):
    assert format_text(text) == expected


def test_long_chains_go_one_layer_per_line():
    formatted = format_text((EXAMPLES / "model3.cnn").read_text())
    lines = formatted.splitlines()
    assert lines[1] == "CN(30, (3, 3))" and lines[2] == "    -> BN()"
    assert all(len(line) <= 88 for line in lines)


def test_fmt_cli_check_diff_in_place_and_stdin(tmp_path):
    path = tmp_path / "net.cnn"
    path.write_text("CN(32,3)->FL()\n")
    check = run_cli("fmt", "--check", str(path))
    assert check.returncode == 1 and f"would reformat {path}" in check.stderr
    diff = run_cli("fmt", "--diff", str(path))
    assert diff.returncode == 1 and "-CN(32,3)->FL()" in diff.stdout and "+CN(32, 3) -> FL()" in diff.stdout
    assert path.read_text() == "CN(32,3)->FL()\n"
    assert run_cli("fmt", str(path)).returncode == 0
    assert path.read_text() == "CN(32, 3) -> FL()\n"
    assert run_cli("fmt", "--check", str(path)).returncode == 0
    piped = run_cli("fmt", "-", input="CN(8)->FL() # c\n")
    assert (piped.returncode, piped.stdout) == (0, "CN(8) -> FL()  # c\n")


def test_fmt_leaves_a_file_with_errors_untouched(tmp_path):
    path = tmp_path / "broken.cnn"
    path.write_text("CN(32,3)->\n")
    result = run_cli("fmt", str(path))
    assert result.returncode == 1 and f"{path}:1:11: error:" in result.stderr
    assert path.read_text() == "CN(32,3)->\n"


def test_the_writer_builds_a_tree_that_the_formatter_prints():
    from cnndsl.formatter import layout
    from cnndsl.writer import Joined, Taken, Written, tree, write

    conv = Written("CN", {"filters": 8, "kernel": (3, 5)})
    chain = [conv, Joined("ADD", ((conv,), ()), name="a"), Taken("a"), Written("MP", {"pool": (2, 1)})]
    text = write(chain, (28, 28, 1), input_name="x")
    assert text == "IN(28, 28, 1) as x -> CN(8, (3,5)) -> ADD(CN(8, (3,5)) | ID()) as a -> @a -> MP(2, 1)"
    written = tree(chain, (28, 28, 1), input_name="x")
    assert [type(node).__name__ for node in written.elements] == ["Named", "Call", "Named", "Tensor", "Call"]
    assert format_text(text) == layout(written) + "\n" == format_text(layout(written))
