"""Spec files: definitions, blocks, FILE and FILE:NAME, and their errors."""

from __future__ import annotations

import pytest
from helpers import run_cli

from cnndsl import SpecError
from cnndsl.inputs import UsageError, read_models

NETS = """\
# Two networks sharing a stem.
block stem = CN(32, 3) -> BN()

small = stem*2 -> MP(2)
  -> FL() -> DN(128)   # the head is appended
wide = stem -> CN(64) -> GAP()
"""


@pytest.fixture
def nets(tmp_path):
    path = tmp_path / "nets.cnn"
    path.write_text(NETS)
    return path


def test_every_model_of_a_file_is_checked_with_its_blocks_expanded(nets):
    small, wide = read_models(str(nets))
    assert (small.label, wide.label) == ("small", "wide")
    codes = [info.code for info in small.check().layers]
    assert codes == ["CN", "BN", "CN", "BN", "MP", "FL", "DN", "DN"]
    assert wide.check().layers[2].layer.args["kernel"] == (3, 3)


def test_file_colon_name_selects_one_model(nets):
    (wide,) = read_models(f"{nets}:wide")
    assert wide.title == f"{nets}:wide"
    with pytest.raises(UsageError, match="'stem' is a block"):
        read_models(f"{nets}:stem")
    with pytest.raises(UsageError, match=r"no model named 'nope' \(models: small, wide\)"):
        read_models(f"{nets}:nope")


def test_a_bare_spec_file_is_one_model_named_after_the_file(tmp_path):
    path = tmp_path / "lenet.cnn"
    path.write_text("CN(6,5)\n-> MP(2) -> CN(16,5) -> MP(2) -> FL() -> DN(120) -> DN(84)\n")
    (model,) = read_models(str(path))
    assert model.label == "lenet" and model.title == str(path)
    assert model.check().total_params == 44_426


@pytest.mark.parametrize(
    "text, line, column, message",
    [
        ("a = CN(3)->FL()\na = CN(4)->FL()\n", 2, 1, "'a' is already defined on line 1"),
        ("a = b -> FL()\nb = CN(3)\n", 1, 5, "'b' is used before its definition on line 2"),
        ("a = b -> FL()\nb = a\n", 1, 5, "definitions refer to each other in a cycle: a -> b -> a"),
        ("a = a -> FL()\n", 1, 5, "definitions refer to each other in a cycle: a -> a"),
        ("block block = CN(3)\nm = block -> FL()\n", 1, 7, "'block' is a reserved word"),
        ("a = stme -> FL()\nblock stem = CN(3)\n", 1, 5, "unknown name 'stme'"),
        ("a = CN(3) BN()\n", 1, 13, "expected '=', found '('"),
        ("block b = CN(0)\na = b -> FL()\n", 1, 14, "CN filters must be at least 1, not 0"),
    ],
)
def test_definition_errors_have_positions(tmp_path, text, line, column, message):
    path = tmp_path / "bad.cnn"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        for model in read_models(str(path)):
            model.check()
    assert (caught.value.line, caught.value.column) == (line, column)
    assert message in caught.value.message


def test_cli_checks_each_model_and_names_it(nets):
    result = run_cli("check", str(nets))
    assert result.returncode == 0, result.stderr
    assert [line.split(": OK")[0] for line in result.stdout.splitlines()] == [f"{nets}:small", f"{nets}:wide"]


def test_cli_summary_wants_one_model(nets):
    assert run_cli("summary", f"{nets}:small").returncode == 0
    result = run_cli("summary", str(nets))
    assert result.returncode == 2 and "holds 2 models (small, wide)" in result.stderr


def test_a_model_using_a_bad_block_fails_with_the_blocks_position(tmp_path):
    path = tmp_path / "deep.cnn"
    path.write_text("block down = CN(8, 5) -> MP(2)\ndeep = down*3 -> FL()\n")
    result = run_cli("check", str(path))
    assert result.returncode == 1
    assert f"{path}:1:14: error: CN(8, 5): kernel 5x5 needs an input of at least 5x5, but this layer gets 4x4" in (
        result.stderr
    )
