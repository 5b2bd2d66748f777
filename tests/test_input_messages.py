"""Inputs that are not what they look like: a mistyped file name, a notebook, a Python file without
specs, a PyTorch module given to to_spec, and values that start with '-'."""

from __future__ import annotations

import pytest
from helpers import run_cli

import cnndsl


@pytest.mark.parametrize("name", ["model1.cmn", "nets/model1.cnn", "model1.cmn:first", "a.b"])
def test_a_file_name_that_is_no_file_is_no_such_file(tmp_path, name):
    result = run_cli("check", name, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, f"cnndsl: error: {name.partition(':')[0]}: no such file\n")


def test_a_notebook_is_refused_by_name(tmp_path):
    (tmp_path / "nb.ipynb").write_text('{"cells": [], "nbformat": 4}')
    result = run_cli("check", "nb.ipynb", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("cnndsl: error: nb.ipynb: a Jupyter notebook")


def test_a_python_file_without_specs_says_it_found_none(tmp_path):
    (tmp_path / "plain.py").write_text("print('no specs here')\n")
    result = run_cli("check", "plain.py", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("plain.py: no specs found")
    assert run_cli("check", "-q", "plain.py", cwd=tmp_path).stdout == ""
    summary = run_cli("summary", "plain.py", cwd=tmp_path)
    assert summary.returncode == 2 and "plain.py: no specs found" in summary.stderr


def test_to_spec_says_it_reads_keras_models():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"^to_spec reads a Keras model \(keras.Model\); torch\.nn\..*PyTorch module"):
        cnndsl.to_spec(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    with pytest.raises(TypeError, match=r"^to_spec reads a Keras model \(keras.Model\), not builtins.dict$"):
        cnndsl.to_spec({})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "->FL()"], "<spec>:1:1: error:"),
        (["check", "CN(8)->FL()", "--input-shape", "-1,28,1"], "argument --input-shape: expected HEIGHT,WIDTH"),
        (["check", "CN(8)->FL()", "--classes", "-3"], "argument --classes: expected a class count"),
        (["check", "--quiet", "->FL()"], "<spec>:1:1: error:"),
    ],
)
def test_an_argument_starting_with_a_dash_that_cannot_be_a_flag_is_a_value(argv, message):
    result = run_cli(*argv)
    assert result.returncode in (1, 2) and message in result.stderr, result.stderr


def test_the_command_line_parser_overrides_no_private_argparse_method():
    import argparse

    from cnndsl.cli.parsing import CommandParser, Parser

    for parser in (Parser, CommandParser):
        private = [name for name in vars(parser) if name.startswith("_") and not name.startswith("__")]
        assert not [name for name in private if hasattr(argparse.ArgumentParser, name)]
