"""The command line on what a new user, or an attacker, hands it: devices, deep Python,
bad keywords, links, private files, blocks without models, arguments that look like flags.

Each test runs ``python -m cnndsl`` in a subprocess and judges it by its exit code and
output, the way a user meets it.
"""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EXAMPLES, run_cli

import cnndsl
from cnndsl.formatter import format_text

MODEL_SPEC = "CN(8, 3) -> MP(2) -> FL() -> DN(32)"


def run_capped(*args: str, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI under a 2 GiB address-space limit: an unbounded read fails fast instead of eating the machine."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))

    return subprocess.run(
        [sys.executable, "-m", "cnndsl", *args],
        capture_output=True,
        text=True,
        input=input,
        cwd=cwd,
        timeout=120,
        preexec_fn=limit,
    )


# --- devices and the size cap ----------------------------------------------------------


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("command", [["check"], ["summary"], ["fmt"], ["fmt", "--check"]])
def test_a_device_is_read_only_up_to_the_cap(device, command):
    result = run_capped(*command, device)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"cnndsl: error: {device}: larger than 8 MB; not a spec file"


def test_standard_input_is_capped_as_a_file_is():
    result = run_capped("check", "-", input="CN(8)->" * (1_300_000))
    assert result.returncode == 2
    assert result.stderr.strip() == "cnndsl: error: <stdin>: larger than 8 MB; not a spec file"


# --- Python files ---------------------------------------------------------------------

BAD_KEYWORDS = """\
import cnndsl

cnndsl.train("CN(8)->FL()", num_classes=0)
cnndsl.check("CN(8)->FL()", input_shape=(0, 0, 0))
cnndsl.check("CN(8)->FL()", input_shape=(28, 28))
cnndsl.check("CN(8)->FL()", num_classes=100_000_000)
cnndsl.check("CN(8)->FL()", num_classes=2.5)
cnndsl.check("CN(8)->FL()", num_classes=True)
cnndsl.check("CN(8)->FL()", num_classes=classes)
cnndsl.check("CN(0)->FL()")
"""


def test_a_bad_keyword_in_python_is_located_at_it_and_the_rest_is_still_checked(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(BAD_KEYWORDS)
    result = run_cli("check", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    located = [line for line in result.stderr.splitlines() if line.startswith(str(path))]
    expected = [
        ("3:41", "num_classes must be a whole number from 1 to 1,000,000, not 0"),
        ("4:41", "input_shape must be (height, width, channels), each a whole number from 1 to 65,536, not (0, 0, 0)"),
        ("5:41", "input_shape must be (height, width, channels), each a whole number from 1 to 65,536, not (28, 28)"),
        ("6:41", "num_classes must be a whole number from 1 to 1,000,000, not 100000000"),
        ("7:41", "num_classes must be a whole number from 1 to 1,000,000, not 2.5"),
        ("8:41", "num_classes must be a whole number from 1 to 1,000,000, not True"),
        ("10:18", "CN filters must be at least 1, not 0"),
    ]
    assert located == [f"{path}:{where}: error: {message}" for where, message in expected]
    assert '6 | cnndsl.check("CN(8)->FL()", num_classes=100_000_000)' in result.stderr
    assert " " * 44 + "^" * len("100_000_000") in result.stderr.splitlines()
    # A keyword that is not a literal is the program's business: the spec is checked with the default.
    assert result.stdout == f"{path}:9: OK, 3 layers, 54,170 parameters, output (None, 10)\n"


@pytest.mark.parametrize(
    "source",
    [
        "x = " + "+".join(["1"] * 100_000) + "\n",  # Python's parser runs out of recursion
        "x = " + "(" * 300 + "1" + ")" * 300 + "\n",
        "import cnndsl\ncnndsl.check('CN(8)->FL()', num_classes=" + "-" * 100_000 + "1)\n",
    ],
    ids=["100,000 terms", "300 parentheses", "100,000 minus signs"],
)
def test_python_too_deep_for_its_parser_is_not_valid_python(tmp_path, source):
    path = tmp_path / "deep.py"
    path.write_text(source)
    result = run_cli("check", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"cnndsl: error: {path}: not valid Python (")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("imports", "call"),
    [
        ("import cnndsl.compiler", "cnndsl.check"),
        ("import cnndsl.compiler", "cnndsl.compiler.check"),
        ("import cnndsl.compiler as comp", "comp.check"),
        ("from cnndsl import *", "check"),
        ("from cnndsl.compiler import *", "compile_spec"),
        ("import cnndsl as c", "c.train"),
        ("from cnndsl import compiler", "compiler.parse"),
        ("from cnndsl.compiler import check as verify", "verify"),
    ],
)
def test_every_way_of_importing_cnndsl_is_followed(tmp_path, imports, call):
    path = tmp_path / "app.py"
    path.write_text(f'{imports}\n\nmodel = {call}("CN(0)->FL()")\n')
    result = run_cli("check", str(path))
    assert result.returncode == 1
    assert f"{path}:3:{len(call) + 14}: error: CN filters must be at least 1, not 0" in result.stderr


@pytest.mark.parametrize(
    "imports", ["import numpy as cnndsl_like", "from mylib import check", "from cnndsl.model import CheckedModel"]
)
def test_calls_that_are_not_cnndsl_are_left_alone(tmp_path, imports):
    path = tmp_path / "app.py"
    path.write_text(f'{imports}\n\ncheck("CN(0)->FL()")\nCheckedModel.parse("CN(0)")\n')
    result = run_cli("check", str(path))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"{path}: no specs found")


def test_python_ok_lines_name_the_line_as_a_position(tmp_path):
    path = tmp_path / "models.py"
    path.write_text('import cnndsl\n\n\ncnndsl.check("CN(8)->FL()")\n')
    result = run_cli("check", str(path))
    assert result.stdout == f"{path}:4: OK, 3 layers, 54,170 parameters, output (None, 10)\n"
    assert run_cli("summary", f"{path}:4").returncode == 0


def test_checking_a_python_file_never_imports_or_runs_it(tmp_path):
    marker = tmp_path / "ran.txt"
    path = tmp_path / "trap.py"
    path.write_text(
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('imported')\n"
        "import cnndsl\n"
        'cnndsl.check("CN(8)->FL()")\n'
        "raise SystemExit(3)\n"
    )
    result = run_cli("check", str(path), cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith(f"{path}:4: OK")
    assert not marker.exists()
    assert not (tmp_path / "__pycache__").exists()


# --- the library's keyword rules (one validator for library, CLI and settings) --------


@pytest.mark.parametrize("classes", [0, -1, 1_000_001, 2.5, True, False, "10", None.__class__])
def test_library_refuses_a_class_count_outside_its_rule(classes):
    with pytest.raises(ValueError, match="num_classes must be a whole number from 1 to 1,000,000"):
        cnndsl.check("CN(8)->FL()", num_classes=classes)


@pytest.mark.parametrize(
    "shape", [(0, 0, 0), (28, 28), (28, 28, 1, 1), (28.0, 28, 1), (True, 28, 1), "281", (65537, 1, 1)]
)
def test_library_refuses_an_input_shape_outside_its_rule(shape):
    with pytest.raises(ValueError, match=r"input_shape must be \(height, width, channels\)"):
        cnndsl.check("CN(8)->FL()", input_shape=shape)


def test_library_takes_numpy_integers_and_the_bounds_themselves():
    import numpy as np

    model = cnndsl.check("FL()", input_shape=(np.int64(1), 1, 65_536), num_classes=np.int32(1_000_000))
    assert model.num_classes == 1_000_000 and model.input_shape == (None, 1, 1, 65_536)
    for shape in ([32, 32, 3], np.array([32, 32, 3]), np.zeros((5, 32, 32, 3)).shape[1:]):
        assert cnndsl.check("FL()", input_shape=shape).input_shape == (None, 32, 32, 3)


def test_compile_spec_refuses_a_bad_class_count_before_keras():
    code = (
        "import sys, cnndsl\n"
        "try:\n    cnndsl.compile_spec('CN(8)->FL()', num_classes=1_000_001)\n"
        "except ValueError as e:\n    print(e, 'tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "num_classes must be a whole number from 1 to 1,000,000, not 1000001 False"


@pytest.mark.parametrize(("setting", "message"), [("classes = 2.5", "classes must be"), ("classes = true", "classes must be"),
                                                  ("input-shape = [28, 28]", "input-shape must be")])  # fmt: skip
def test_settings_follow_the_same_rule(tmp_path, setting, message):
    (tmp_path / "pyproject.toml").write_text(f"[tool.cnndsl]\n{setting}\n")
    result = run_cli("check", "CN(8)->FL()", cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr


# --- fmt: modes, owners, links, errors --------------------------------------------------

MESSY = "CN(8,3)->MP(2)->FL()  # keep me\n"
TIDY = "CN(8, 3) -> MP(2) -> FL()  # keep me\n"


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444, 0o755])
def test_fmt_keeps_the_files_mode(tmp_path, mode):
    path = tmp_path / "private.cnn"
    path.write_text(MESSY)
    path.chmod(mode)
    result = run_cli("fmt", str(path))
    assert result.returncode == 0, result.stderr
    assert path.read_text() == TIDY
    assert stat.S_IMODE(path.stat().st_mode) == mode


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user takes root")
def test_fmt_keeps_the_files_owner(tmp_path):
    path = tmp_path / "theirs.cnn"
    path.write_text(MESSY)
    os.chown(path, 4321, 4321)
    assert run_cli("fmt", str(path)).returncode == 0
    assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4321)
    assert path.read_text() == TIDY


def test_fmt_writes_through_a_symbolic_link(tmp_path):
    target = tmp_path / "real" / "model.cnn"
    target.parent.mkdir()
    target.write_text(MESSY)
    link = tmp_path / "link.cnn"
    link.symlink_to(target)
    assert run_cli("fmt", str(link)).returncode == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == TIDY
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.cnn"]


@pytest.mark.parametrize(
    ("text", "formatted"),
    [
        ("CN(8,3)->FL()->CN(3)\n", "CN(8, 3) -> FL() -> CN(3)\n"),
        ("small = stem->FL()\n", "small = stem -> FL()\n"),
        ("a = CN(8,3)->FL()\nb = CN(0)->FL()\n", "a = CN(8, 3) -> FL()\nb = CN(0) -> FL()\n"),
    ],
)
def test_fmt_lays_out_a_spec_the_checker_rejects_and_says_precisely_so(tmp_path, text, formatted):
    """Formatting never changes meaning: only text that does not parse is left as it is (docs/spec-files.md, Formatting)."""
    path = tmp_path / "broken.cnn"
    path.write_text(text)
    assert run_cli("fmt", "--check", str(path)).returncode == 1
    result = run_cli("fmt", str(path))
    assert result.returncode == 0 and path.read_text() == formatted
    assert run_cli("check", str(path)).returncode == 1
    from docs_pages import section

    documented = " ".join(section("docs/spec-files.md", "Formatting").split())
    assert "a spec the checker rejects is formatted all the same" in documented


def test_fmt_leaves_text_that_does_not_parse_untouched(tmp_path):
    path = tmp_path / "broken.cnn"
    path.write_text("CN(8,3)->FL()->\n")
    for flags in ([], ["--check"], ["--diff"]):
        result = run_cli("fmt", *flags, str(path))
        assert result.returncode == 1 and f"{path}:1:16: error:" in result.stderr
        assert result.stdout == "" and path.read_text() == "CN(8,3)->FL()->\n"


def test_the_examples_are_in_the_canonical_layout():
    every = sorted(str(path) for path in EXAMPLES.glob("*.cnn"))
    assert len(every) >= 4
    result = run_cli("fmt", "--check", *every)
    assert (result.returncode, result.stderr) == (0, "")
    title = (EXAMPLES / "model3_title.cnn").read_text()
    assert format_text(title) == title
    refused = run_cli("check", str(EXAMPLES / "model3_title.cnn"))
    assert refused.returncode == 1 and "gets 2x2" in refused.stderr


# --- standard input ---------------------------------------------------------------------


def test_check_reads_standard_input():
    result = run_cli("check", "-", input="# a model\nCN(8, 3) -> FL()\n")
    assert (result.returncode, result.stdout) == (0, "<stdin>: OK, 3 layers, 54,170 parameters, output (None, 10)\n")
    bad = run_cli("check", "-", input="CN(8)\n-> CN(0)\n")
    assert bad.returncode == 1 and bad.stderr.startswith("<stdin>:2:7: error: CN filters must be at least 1, not 0")
    named = run_cli("check", "-", input="a = CN(8)->FL()\nb = CN(4)->GAP()\n")
    assert named.stdout.splitlines() == [
        "<stdin>:a: OK, 3 layers, 54,170 parameters, output (None, 10)",
        "<stdin>:b: OK, 3 layers, 90, parameters, output (None, 10)".replace("90,", "90"),
    ]


def test_fmt_takes_standard_input_once():
    result = run_cli("fmt", "-", "-", input=MESSY)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "cnndsl: error: '-' (standard input) can be given once\n"


def test_fmt_check_and_diff_on_standard_input_say_what_would_change():
    checked = run_cli("fmt", "--check", "-", input=MESSY)
    assert (checked.returncode, checked.stdout, checked.stderr) == (1, "", "would reformat <stdin>\n")
    diffed = run_cli("fmt", "--diff", "-", input=MESSY)
    assert diffed.returncode == 1 and f"-{MESSY}+{TIDY}" in diffed.stdout
    for flag in ("--check", "--diff"):
        tidy = run_cli("fmt", flag, "-", input=TIDY)
        assert (tidy.returncode, tidy.stdout, tidy.stderr) == (0, "", "")


def test_fmt_diff_exits_1_when_a_file_would_change(tmp_path):
    path = tmp_path / "m.cnn"
    path.write_text(MESSY)
    result = run_cli("fmt", "--diff", str(path))
    assert result.returncode == 1 and result.stdout.startswith(f"--- {path} (original)")
    assert path.read_text() == MESSY


# --- arguments -------------------------------------------------------------------------


def test_a_trailing_colon_is_a_file_error_not_a_spec(tmp_path):
    (tmp_path / "m.cnn").write_text("CN(8)->FL()\n")
    result = run_cli("check", "m.cnn:", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "cnndsl: error: m.cnn:: expected FILE:NAME, a model's name after the ':', not ''\n"
    missing = run_cli("check", "absent.cnn:wide", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (2, "cnndsl: error: absent.cnn: no such file\n")
    (tmp_path / "at 10:30").mkdir()
    (tmp_path / "at 10:30" / "a:b.cnn").write_text("b = CN(8)->FL()\n")
    for argument in ["at 10:30/a:b.cnn", "at 10:30/a:b.cnn:b"]:
        assert run_cli("check", argument, cwd=tmp_path).stdout.startswith("at 10:30/a:b.cnn:b: OK"), argument


def test_a_spec_starting_with_an_arrow_reaches_the_checker():
    result = run_cli("check", "->FL()")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "<spec>:1:1: error: expected a layer such as CN(32), found '->'"


def test_a_negative_input_shape_is_a_value_the_flag_refuses():
    result = run_cli("check", "CN(8)->FL()", "--input-shape", "-1,28,1")
    assert result.returncode == 2
    assert "argument --input-shape: expected HEIGHT,WIDTH,CHANNELS such as 32,32,3" in result.stderr
    assert "'-1,28,1'" in result.stderr and "expected one argument" not in result.stderr


def test_real_flags_still_work_and_unknown_ones_are_refused():
    assert run_cli("check", "-q", "CN(8)->FL()", "--input-shape=32,32,3").returncode == 0
    unknown = run_cli("check", "CN(8)->FL()", "--colour")
    assert unknown.returncode == 2 and "unrecognized arguments: --colour" in unknown.stderr


# --- files that hold no model -----------------------------------------------------------

BLOCKS_ONLY = "block stem = CN(8, 3) -> BN()\nblock head = FL() -> DN(32)\n"


@pytest.mark.parametrize(
    "command",
    [
        ["check"],
        ["summary"],
        ["run", "--epochs", "1", "--data", "sample"],
        ["compare", "--epochs", "1", "--data", "sample"],
    ],
)
def test_a_file_of_blocks_only_holds_no_models(tmp_path, command):
    (tmp_path / "blocks.cnn").write_text(BLOCKS_ONLY)
    result = run_cli(*command, "blocks.cnn", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.endswith(
        "cnndsl: error: blocks.cnn: holds no models, only blocks; a definition without 'block' is a model\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocks.cnn"]


# --- budgets ---------------------------------------------------------------------------


def test_a_budget_caret_and_hint_name_the_same_layer():
    result = run_cli("check", "CN(8, 3) -> CN(512, 3)*4 -> FL()", "--max-params", "0", "--input-shape", "11,11,1")
    lines = result.stderr.splitlines()
    assert lines[1:3] == ["1 | CN(8, 3) -> CN(512, 3)*4 -> FL()", "                ^^^^^^^^^^"]
    assert lines[3] == "  help: the largest share is CN(512, 3) (conv2d_2) with 2,359,808"


def test_a_budget_over_because_of_the_appended_head_points_at_the_end():
    spec = "CN(8, 3) -> FL()"
    result = run_cli("check", spec, "--max-params", "0", "--input-shape", "200,200,1")
    lines = result.stderr.splitlines()
    assert lines[0] == "<spec>:1:17: error: 3,136,410 parameters, over the budget of 0 (--max-params)"
    assert lines[2] == " " * (4 + len(spec)) + "^"
    assert (
        lines[3] == "  help: the largest share is the appended head DN(10, activation=softmax) (dense) with 3,136,330"
    )


# --- diagnostics -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "shown"),
    [("\x00", "\\x00"), ("\u202e", "\\u202e"), ("\x1b", "\\x1b"), ("\u2028", "\\u2028"), ("\ufeff", "\\ufeff")],
)
def test_a_control_or_bidi_character_under_an_error_is_shown_escaped(tmp_path, char, shown):
    path = tmp_path / "odd.cnn"
    path.write_text(f"# {char}\nCN(8) {char} -> CN(0) {char}\n", encoding="utf-8")
    result = run_cli("check", str(path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert char not in result.stderr.replace(lines[0], "")  # only the message may name it
    # A byte-order mark inside a file is whitespace: the error is then CN(0)'s.
    bom = char == "\ufeff"
    carets = " " * len(f"2 | CN(8) {shown} -> CN(") + "^" if bom else " " * 10 + "^" * len(shown)
    assert lines[1:3] == [f"2 | CN(8) {shown} -> CN(0) {shown}", carets]


def test_carets_stay_under_the_span_after_an_escaped_character(tmp_path):
    (tmp_path / "a.cnn").write_text("CN(8)\u202e\x00->CN(0)\n")
    result = run_cli("check", str(tmp_path / "a.cnn"), "CN(8)\x7f")
    lines = result.stderr.splitlines()
    assert lines[1:3] == ["1 | CN(8)\\u202e\\x00->CN(0)", "         ^^^^^^"]
    assert lines[4:6] == ["1 | CN(8)\\x7f", "         ^^^^"]


def test_summary_json_errors_have_the_shape_of_check_json(tmp_path):
    path = tmp_path / "m.cnn"
    path.write_text("CN(8)->\nCN(0)->FL()\n")
    summary = json.loads(run_cli("summary", "--json", str(path)).stdout)["errors"]
    checked = json.loads(run_cli("check", "--format", "json", str(path)).stdout)
    assert summary == checked
    assert summary[0]["file"] == str(path) and summary[0]["end"] == {"line": 2, "column": 5}


# --- what cnndsl writes, and where its settings come from --------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_cnndsl_creates_get_the_users_umask(tmp_path, umask, mode):
    code = (
        f"import os; os.umask({umask})\n"
        "from pathlib import Path\nfrom cnndsl import outputs\n"
        f"outputs.write_text(Path({str(tmp_path / 'new.txt')!r}), 'x')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == mode


def test_a_pyproject_without_a_cnndsl_table_is_passed_over(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.cnndsl]\nclasses = 3\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "pyproject.toml").write_text("[project]\nname = 'sub'\n")
    result = run_cli("summary", "--json", "CN(8)->GAP()", cwd=sub)
    assert json.loads(result.stdout)["output_shape"] == [None, 3]
    (sub / "pyproject.toml").write_text("[project]\nname = 'sub'\n[tool.cnndsl]\nclasses = 5\n")
    nearer = run_cli("summary", "--json", "CN(8)->GAP()", cwd=sub)
    assert json.loads(nearer.stdout)["output_shape"] == [None, 5]


def test_a_usage_error_in_json_has_the_shape_of_every_other_diagnostic(tmp_path):
    records = json.loads(run_cli("check", "--format", "json", "absent.cnn", "CN(0)", cwd=tmp_path).stdout)
    assert [record["kind"] for record in records] == ["usage", "value"]
    assert set(records[0]) == set(records[1])
    assert records[0]["message"] == "absent.cnn: no such file" and records[0]["end"] is None


def test_a_budget_over_in_a_python_file_points_into_the_python_file(tmp_path):
    path = tmp_path / "b.py"
    path.write_text('import cnndsl\n\n\nmodel = cnndsl.check("CN(64)*2->CN(8)->GAP()")\n')
    lines = run_cli("check", str(path), "--max-params", "0").stderr.splitlines()
    assert lines[0] == f"{path}:4:23: error: 42,274 parameters, over the budget of 0 (--max-params)"
    assert lines[1:3] == ['4 | model = cnndsl.check("CN(64)*2->CN(8)->GAP()")', " " * 26 + "^^^^^^"]
    assert lines[3] == "  help: the largest share is CN(64) (conv2d_1) with 36,928"
