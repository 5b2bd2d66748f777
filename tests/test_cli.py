"""The command line, run as a user runs it: output, exit codes, no TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from golden_tables import notebook_table
from helpers import EXAMPLES, run_cli

MODEL1 = "CN(72,(7,7))->CN(38,(7,7))->CN(20,(7,7))->MP(2,2)->DP(0.25)->FL()->DN(128)->DP(0.5)->DN(10)"


def test_check_prints_one_ok_line_per_input():
    result = run_cli("check", MODEL1, str(EXAMPLES / "model2.cnn"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "<spec>: OK, 9 layers, 240,380 parameters, output (None, 10)",
        f"{EXAMPLES / 'model2.cnn'}: OK, 14 layers, 65,358 parameters, output (None, 10)",
    ]


def test_check_quiet_prints_nothing_for_good_specs():
    result = run_cli("check", "-q", MODEL1)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_check_reports_the_model3_title_failure_with_position_and_carets():
    result = run_cli("check", str(EXAMPLES / "model3_title.cnn"))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"{EXAMPLES / 'model3_title.cnn'}:16:8: error: CN(150): kernel 5x5 needs an input of at least 5x5, "
        "but this layer gets 2x2"
    )
    assert lines[1] == "16 |     -> CN(150)"
    assert lines[2] == " " * 12 + "^^^^^^^"
    assert "Traceback" not in result.stderr


def test_check_reports_every_error_of_a_spec_and_goes_on_to_the_next_input():
    result = run_cli("check", "CN(0)->CNN(3)", MODEL1)
    assert result.returncode == 1
    assert result.stderr.count("<spec>:1:") == 2
    assert "did you mean CN?" in result.stderr
    assert result.stdout.startswith("<spec>: OK")


def test_warnings_are_printed_but_do_not_fail():
    result = run_cli("check", "CN(8)->DN(4)->FL()")
    assert result.returncode == 0
    assert "<spec>:1:8: warning: DN on a 4-D tensor" in result.stderr


def test_summary_table_matches_the_notebook():
    result = run_cli("summary", str(EXAMPLES / "model1.cnn"))
    assert result.returncode == 0, result.stderr
    table = notebook_table("model1")
    rows = [line for line in result.stdout.splitlines() if "(None" in line and not line.startswith("Input")]
    assert len(rows) == len(table.params)
    for row, shape, params in zip(rows, table.shapes, table.params):
        assert str(shape) in row and f"{params:,}" in row
    assert "Total params: 240,380" in result.stdout
    assert "Non-trainable params: 0" in result.stdout
    assert "CN(72, (7, 7))" in rows[0] and "(head)" in rows[-1]


def test_summary_json():
    result = run_cli("summary", "--json", str(EXAMPLES / "model2.cnn"))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    table = notebook_table("model2")
    assert (document["total_params"], document["trainable_params"], document["non_trainable_params"]) == (
        65_358,
        65_178,
        180,
    )
    assert document["output_shape"] == [None, 10]
    layers = document["layers"]
    written = [c for i, c in enumerate(table.classes) if i != len(table.classes) - 2]  # the title has no DP(0.5)
    assert [layer["keras_class"] for layer in layers] == written
    assert {key: layers[0][key] for key in ("code", "keras_class", "output_shape", "params")} == {
        "code": "CN",
        "keras_class": "Conv2D",
        "output_shape": [None, 24, 24, 20],
        "params": 520,
    }
    assert sum(layer["params"] for layer in layers) == 65_358


def test_summary_json_errors():
    result = run_cli("summary", "--json", "CN(0)->\n  FL()->CN(3)")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document == {
        "errors": [
            {
                "file": "<spec>",
                "kind": "value",
                "code": "bad-value",
                "severity": "error",
                "message": "CN filters must be at least 1, not 0",
                "hint": None,
                "fixes": [],
                "line": 1,
                "column": 4,
                "end_line": 1,
                "end_column": 5,
                "end": {"line": 1, "column": 5},
            }
        ]
    }


def test_input_shape_and_classes_flags():
    result = run_cli("summary", "--json", "--input-shape", "32,32,3", "--classes", "100", "CN(8)->GAP()")
    document = json.loads(result.stdout)
    assert document["layers"][0]["output_shape"] == [None, 30, 30, 8]
    assert document["output_shape"] == [None, 100]


@pytest.mark.parametrize(
    "args, message",
    [
        (["check"], "the following arguments are required"),
        (["frobnicate"], "invalid choice"),
        (["check", "--input-shape", "32,32", "CN(8)"], "expected HEIGHT,WIDTH,CHANNELS"),
        (["check", "--classes", "zero", "CN(8)"], "expected a class count"),
        (["check", "missing.cnn"], "missing.cnn: no such file"),
        (["check", "examples"], "examples: is a directory"),
        (["summary", "--bogus", "CN(8)"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2_without_traceback(args, message):
    result = run_cli(*args, cwd=EXAMPLES.parent)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [[], ["check"], ["summary"]])
def test_help_on_every_command(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0 and "usage: cnndsl" in result.stdout


def test_the_checker_path_never_imports_tensorflow_or_keras():
    code = (
        "import sys, cnndsl, cnndsl.cli\n"
        f"cnndsl.check({MODEL1!r})\n"
        "for args in (['check', '-q', 'examples/model1.cnn'], ['summary', 'examples/model2.cnn'],"
        " ['summary', '--json', 'examples/model3_title.cnn']):\n"
        "    cnndsl.cli.main(args)\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'torch', 'jax') if m in sys.modules]\n"
        "print('heavy:', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=EXAMPLES.parent, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout


def test_summary_json_warnings_have_the_shape_of_every_json_diagnostic():
    result = run_cli("summary", "--json", "CN(8) -> DN(4) -> FL()")
    (warning,) = json.loads(result.stdout)["warnings"]
    assert warning["file"] == "<spec>" and warning["end"] == {"line": 1, "column": 15}
    assert set(warning) == set(json.loads(run_cli("check", "--format", "json", "CN(0)->FL()").stdout)[0])


@pytest.mark.parametrize("columns", ["70", "80", "100"])
def test_summary_of_a_graph_fits_the_terminal_and_keeps_every_spec_text(columns):
    spec = "IN(28,28,1)->ADD(CN(8,3,padding=same) | CN(8,5,padding=same)->DP(0.1))->FL()->DN(10)"
    result = run_cli("summary", spec, env={"COLUMNS": columns})
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= int(columns)
    if columns != "100":  # too narrow to shorten: each text is whole, on a line of its own
        for text in ("CN(8,3,padding=same)", "CN(8,5,padding=same)", "DP(0.1)", "DN(10)"):
            assert text in result.stdout
    wide = run_cli("summary", spec, env={"COLUMNS": "300"}).stdout
    assert max(len(line) for line in wide.splitlines()) > 100  # room enough: the table as it always was


def test_a_double_dash_ends_the_options_and_is_not_read_as_a_spec():
    summary = run_cli("summary", "--", "CN(8)->GAP()")
    assert summary.returncode == 0 and "Total params" in summary.stdout
    checked = run_cli("check", "CN(8)->GAP()", "--", "->FL()")
    assert checked.returncode == 1 and "'--'" not in checked.stderr and "->FL()" in checked.stderr
