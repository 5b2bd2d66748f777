"""Budgets, [tool.cnndsl] settings, machine-readable diagnostics and specs in Python."""

from __future__ import annotations

import json

import pytest
from helpers import EXAMPLES, run_cli

from cnndsl import check
from cnndsl.budgets import activation_bytes, check_budgets, flops
from cnndsl.report import architecture_hash
from cnndsl.settings import Settings, SettingsError, parse_bytes, parse_count

MODEL1 = EXAMPLES / "model1.cnn"


@pytest.mark.parametrize(
    "text, value", [("1M", 10**6), ("50k", 50_000), ("1.5G", 1_500_000_000), ("250000", 250_000), ("2K", 2000)]
)
def test_counts(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text, value", [("2MB", 2 * 1024**2), ("512KB", 512 * 1024), ("1gb", 1024**3), ("64", 64)])
def test_sizes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "M", "1Q", "-5", "1e9", "9" * 40 + "G"])
def test_bad_quantities(text):
    with pytest.raises(SettingsError):
        parse_count(text)


def test_figures_of_model1():
    model = check(MODEL1.read_text())
    # Conv MACs: out_h*out_w*filters*kh*kw*cin for each of the three convolutions, plus the dense layers.
    convs = 22 * 22 * 72 * 49 * 1 + 16 * 16 * 38 * 49 * 72 + 10 * 10 * 20 * 49 * 38
    assert model.total_macs == convs + 500 * 128 + 128 * 10
    assert flops(model) == 2 * model.total_macs
    values = 22 * 22 * 72 + 16 * 16 * 38 + 10 * 10 * 20 + 2 * 5 * 5 * 20 + 500 + 2 * 128 + 10
    assert activation_bytes(model) == 4 * values


def test_each_budget_names_the_figure_and_the_limit():
    model = check(MODEL1.read_text())
    problems = check_budgets(model, Settings(max_params=100_000, max_flops=10**6, max_activations=1024))
    assert [p.message for p in problems] == [
        "240,380 parameters, over the budget of 100,000 (--max-params)",
        f"{flops(model):,} FLOPs, over the budget of 1,000,000 (--max-flops)",
        f"{activation_bytes(model) / 1024:.2f} KB of activations per example, over the budget of 1.00 KB (--max-activations)",
    ]
    assert problems[0].hint == "the largest share is CN(38, (7, 7)) (conv2d_1) with 134,102"
    assert all(p.kind == "budget" and p.span is not None for p in problems)
    assert check_budgets(model, Settings(max_params=240_380)) == []


def test_check_cli_budgets_exit_1_with_positions():
    result = run_cli("check", str(MODEL1), "--max-params", "200k")
    assert result.returncode == 1
    assert f"{MODEL1}:3:8: error: 240,380 parameters, over the budget of 200,000 (--max-params)" in result.stderr
    assert run_cli("check", str(MODEL1), "--max-params", "1M", "--max-flops", "1G").returncode == 0


def test_pyproject_settings_apply_and_flags_override(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.cnndsl]\ninput-shape = [32, 32, 3]\nclasses = 100\nmax-params = "50k"\n'
    )
    spec = "CN(8)->GAP()"
    document = json.loads(run_cli("summary", "--json", spec, cwd=tmp_path).stdout)
    assert document["layers"][0]["output_shape"] == [None, 30, 30, 8]
    assert document["output_shape"] == [None, 100]
    assert run_cli("check", "CN(64)->FL()", cwd=tmp_path).returncode == 1
    assert run_cli("check", "CN(64)->FL()", "--max-params", "10M", cwd=tmp_path).returncode == 0
    overridden = json.loads(run_cli("summary", "--json", "--classes", "7", spec, cwd=tmp_path).stdout)
    assert overridden["output_shape"] == [None, 7]
    declared = json.loads(run_cli("summary", "--json", "IN(28,28,1)->" + spec, cwd=tmp_path).stdout)
    assert declared["layers"][0]["output_shape"] == [None, 26, 26, 8]


def test_a_bad_setting_is_a_usage_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.cnndsl]\nmax-param = "1M"\n')
    result = run_cli("check", "CN(8)->FL()", cwd=tmp_path)
    assert result.returncode == 2 and "unknown setting 'max-param'" in result.stderr


def test_json_and_github_formats():
    bad = str(EXAMPLES / "model3_title.cnn")
    records = json.loads(run_cli("check", "--format", "json", bad, str(MODEL1)).stdout)
    assert len(records) == 1
    record = records[0]
    assert {k: record[k] for k in ("file", "line", "column", "kind")} == {
        "file": bad,
        "line": 16,
        "column": 8,
        "kind": "shape",
    }
    assert record["end"] == {"line": 16, "column": 15} and "gets 2x2" in record["message"]
    github = run_cli("check", "--format", "github", bad)
    assert github.returncode == 1
    assert github.stdout.startswith(
        f"::error file={bad},title=cnndsl shape,line=16,col=8,endLine=16,endColumn=15::CN(150)"
    )


PYTHON = '''\
import cnndsl
from cnndsl import compile_spec as build

model = build("CN(32, 3)->BN()->CN(0)->FL()", input_shape=(32, 32, 3))
fine = cnndsl.check(
    """CN(8)
    -> FL() -> DN(5)""", num_classes=5)
unrelated = other.check("CN(0)")
'''


def test_specs_embedded_in_python_are_checked_at_their_python_position(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(PYTHON)
    result = run_cli("check", str(path))
    assert result.returncode == 1
    assert f"{path}:4:36: error: CN filters must be at least 1, not 0" in result.stderr
    assert '4 | model = build("CN(32, 3)->BN()->CN(0)->FL()", input_shape=(32, 32, 3))' in result.stderr
    assert f"{path}:6: OK, 3 layers" in result.stdout
    assert result.stdout.count("OK") == 1


def test_summary_prints_a_hash_shared_by_equal_architectures():
    same = [check("CN(8)*2->GAP()"), check("CN(8, 3) -> CN(8, kernel=(3, 3)) -> GAP() -> DN(10)")]
    assert architecture_hash(same[0]) == architecture_hash(same[1])
    assert architecture_hash(check("CN(8)*2->GAP()", num_classes=9)) != architecture_hash(same[0])
    result = run_cli("summary", "CN(8)*2->GAP()")
    assert f"Architecture hash: {architecture_hash(same[0])}" in result.stdout
    assert "Multiply-accumulates:" in result.stdout and "MACs" in result.stdout.splitlines()[2]


TOML_NAMING_US = [
    "[tool.cnndsl]\nclasses = 3", '[ tool . "cnndsl" ]\nclasses = 3', "[tool]\n  cnndsl = {classes = 3}",
    "tool.cnndsl.classes = 3", "tool = { cnndsl = {classes = 3} }", "[tool.cnndsl.x]\ny = 1",
    "[tool.'cnndsl']\nclasses = 3", "tool = { a = 1, cnndsl = { classes = 3 } }",
]  # fmt: skip
TOML_NOT_NAMING_US = [
    '[project]\nname = "cnndsl"', 'dependencies = ["cnndsl"]', 'x = ["a", "cnndsl", "cnndsl.passes"]',
    'description = "cnndsl: a compiler"', "[tool.ruff]\nline-length = 120",
]  # fmt: skip


@pytest.mark.parametrize("text", TOML_NAMING_US + TOML_NOT_NAMING_US)
def test_the_quick_look_for_a_cnndsl_table_never_misses_one(text, tmp_path):
    """A pyproject.toml is parsed only when it may hold [tool.cnndsl]; the look must never miss one."""
    import tomllib

    from cnndsl import settings

    names_us = "cnndsl" in tomllib.loads(text).get("tool", {})
    assert bool(settings._MAY_NAME_US.search(text)) == names_us
    if "[tool.cnndsl.x]" not in text:  # that one is an unknown setting, an error: see above
        (tmp_path / "pyproject.toml").write_text(text)
        assert (settings.load_settings(tmp_path).classes == 3) == names_us


def test_candidates_over_one_budget_at_one_place_are_one_group():
    result = run_cli("check", "CN({8..40}) -> MP(2) -> FL() -> DN({16..48})", "--max-params", "60k")
    assert "933 of 1,089 candidates cannot be built or are over budget" in result.stdout + result.stderr
    text = result.stdout + result.stderr
    assert "  933 x <spec>:1:33: rejected: parameters over the budget of 60,000 (--max-params)" in text
    assert "more, with" not in text


@pytest.mark.parametrize(
    ("flags", "label"), [([], "max-params in {pyproject}"), (["--max-params", "50k"], "--max-params")]
)
def test_a_budget_is_labelled_by_where_it_was_set(tmp_path, flags, label):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.cnndsl]\nmax-params = "60k"\n')
    result = run_cli("check", "CN(8)->FL()->DN(64)", *flags, cwd=tmp_path)
    assert result.returncode == 1
    assert f"({label.format(pyproject=pyproject)})" in result.stderr
