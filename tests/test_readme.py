"""The documentation is a contract: its command examples run as shown, and each section that
lists behaviours has a test here, named after it, that checks those claims directly.

The documentation is the README (the landing page) and the site's pages under ``docs/``;
``docs_pages`` reads them. (Their Python blocks run as doctests: ``pytest
--doctest-glob='*.md'`` over ``README.md`` and ``docs``.) Many claims are also tested in
depth elsewhere; these tests read the pages themselves where they can, so that the text and
the code cannot drift apart.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from docs_pages import all_transcripts, page, pages, section, transcripts
from helpers import ROOT, run_cli

import cnndsl
from cnndsl import SpecError, check
from cnndsl.formatter import format_text
from cnndsl.layers import ACTIVATIONS, LAYERS
from cnndsl.outputs import RUN_FILES, OutputError, write_atomic
from cnndsl.report import architecture_hash
from cnndsl.settings import Settings, load_settings, parse_bytes, parse_count

README = page("README.md")


# --- the command examples, run as shown ------------------------------------------------


def _shim(folder: Path) -> Path:
    """A ``cnndsl`` on PATH that runs this checkout, unbuffered so stdout and stderr interleave as on a terminal."""
    script = folder / "cnndsl"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -u -m cnndsl "$@"\n')
    script.chmod(0o755)
    return folder


@pytest.mark.parametrize(
    ("path", "block"),
    all_transcripts(),
    ids=[f"{path}: {block.splitlines()[0][:60]}" for path, block in all_transcripts()],
)
def test_command_example_runs_as_shown(tmp_path, path, block):
    """Each command of a console block runs, in a copy of the examples, printing exactly what its page shows."""
    commands = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    shown = [line for line in block.splitlines() if not line.startswith("$ ")]
    work = tmp_path / "work"
    shutil.copytree(ROOT / "examples", work / "examples")
    bin_dir = _shim(tmp_path)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        ["bash", "-c", "\n".join(commands)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert [line.rstrip() for line in result.stdout.splitlines()] == [line.rstrip() for line in shown]


def test_the_pages_have_command_examples():
    blocks = [block for _, block in all_transcripts()]
    assert len(blocks) >= 3 and all(block.startswith("$ ") for block in blocks)
    assert transcripts("README.md") and len(pages()) > 10


# --- one test per section that lists behaviours -----------------------------------------


def test_readme_section_the_notation():
    """docs/notation/index.md, The notation: the table's codes and Keras classes, kernels, repetition, the head rule, defaults, activations."""
    text = section("docs/notation/index.md", "The notation")
    rows = re.findall(r"^\| `([A-Z]+)` \| (\w+|the input) \|", text, re.M)
    assert len(rows) >= 11
    for code, keras_class in rows:
        assert code in LAYERS and (keras_class == "the input" or LAYERS[code].keras_class == keras_class)
    kernels = [
        info.layer.args["kernel"] for info in check("CN(20,(5,5))->BN()->CN(20)->GAP()").layers if info.code == "CN"
    ]
    assert kernels == [(5, 5), (5, 5)]
    assert check("CN(8)->GAP()").layers[0].layer.args["kernel"] == (3, 3)
    assert len(check("(CN(32)->BN())*3->GAP()").layers) == len(check("CN(32)*2->GAP()").layers) + 4
    # The head rule: a last DN(classes) with no activation or softmax is the head; else one is appended.
    for spec, layers in [
        ("FL()->DN(10)", 2),
        ("FL()->DN(10, activation=softmax)", 2),
        ("FL()->DN(10, activation=relu)", 3),
    ]:
        model = check(spec)
        assert len(model.layers) == layers and model.layers[-1].layer.head, spec
    with pytest.raises(SpecError) as head:
        check("CN(8)")
    assert head.value.diagnostics[0].hint == "add FL() or GAP() before the classifier head"
    default = check("FL()")
    assert default.input_shape == (None, 28, 28, 1) and default.output_shape == (None, 10)
    with pytest.raises(SpecError, match="declares input 32x32x3 but the input is 28x28x1") as info:
        check("IN(32,32,3)->GAP()", input_shape=(28, 28, 1))
    assert (info.value.line, info.value.column) == (1, 1)
    for bad in [{"input_shape": (28, 28)}, {"num_classes": 2.5}, {"num_classes": True}, {"num_classes": 1_000_001}]:
        with pytest.raises(ValueError):
            check("FL()", **bad)
    listed = re.search(r"- Activations: .*? by name: (.*?);", text, re.S).group(1)
    assert sorted(re.split(r",\s*|\s+and\s+", listed)) == sorted(ACTIVATIONS)


def test_readme_section_checking_and_summarising(tmp_path):
    """docs/checking.md, Checking and summarising: OK lines, standard input, arguments, blocks-only files, exit codes, no TensorFlow."""
    assert "`-` reads a spec" in section("docs/checking.md", "Checking and summarising")
    ok = run_cli("check", "CN(8)->GAP()")
    assert (ok.returncode, ok.stdout) == (0, "<spec>: OK, 3 layers, 170 parameters, output (None, 10)\n")
    assert run_cli("check", "-q", "CN(8)->GAP()").stdout == ""
    assert run_cli("check", "-", input="CN(8)->GAP()\n").stdout.startswith("<stdin>: OK")
    assert run_cli("check", "CN(0)").returncode == 1
    assert run_cli("check", "--classes", "0", "FL()").returncode == 2
    (tmp_path / "m.cnn").write_text("CN(8)->GAP()\n")
    assert run_cli("check", "m.cnn:", cwd=tmp_path).returncode == 2
    assert run_cli("check", "->FL()").returncode == 1
    (tmp_path / "blocks.cnn").write_text("block stem = CN(8)\n")
    assert "holds no models" in run_cli("check", "blocks.cnn", cwd=tmp_path).stderr
    assert json.loads(run_cli("summary", "--json", "CN(0)").stdout)["errors"][0]["kind"] == "value"
    probe = (
        "import sys\nfrom cnndsl.cli import main\n"
        "main(['check', '-q', 'CN(8)->GAP()']); main(['summary', 'CN(8)->GAP()'])\n"
        "print([m for m in ('tensorflow', 'keras') if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.splitlines()[-1] == "[]"


def test_readme_section_spec_files(tmp_path):
    """docs/spec-files.md, Spec files: the nets.cnn example, FILE:NAME, reserved `block`, Python files however cnndsl is imported."""
    text = section("docs/spec-files.md", "Spec files")
    nets = re.search(r"```\n(# nets.cnn\n.*?)```", text, re.S).group(1)
    (tmp_path / "nets.cnn").write_text(nets)
    result = run_cli("check", "nets.cnn", cwd=tmp_path)
    assert result.returncode == 0 and [line.split(":")[1] for line in result.stdout.splitlines()] == ["small", "wide"]
    assert run_cli("summary", "nets.cnn:wide", cwd=tmp_path).returncode == 0
    (tmp_path / "bad.cnn").write_text("a = b -> FL()\nb = CN(8)\n")
    assert "bad.cnn:1:5" in run_cli("check", "bad.cnn", cwd=tmp_path).stderr
    for imports, call in [("from cnndsl import *", "check"), ("import cnndsl.compiler", "cnndsl.check")]:
        (tmp_path / "app.py").write_text(
            f'{imports}\n{call}("CN(0)->FL()", num_classes=3)\n{call}("FL()", num_classes=0)\n'
        )
        result = run_cli("check", "app.py", cwd=tmp_path)
        assert result.returncode == 1 and "app.py:2:" in result.stderr and "app.py:3:" in result.stderr


def test_readme_section_formatting(tmp_path):
    """docs/spec-files.md, Formatting: in place, --check, --diff (exit 1 on a change), standard input, text that does not parse left untouched, modes kept."""
    path = tmp_path / "m.cnn"
    path.write_text("CN(32,3)->MP(2)->FL()  # keep me\n")
    path.chmod(0o600)
    assert run_cli("fmt", "--check", str(path)).returncode == 1
    assert run_cli("fmt", "--diff", str(path)).returncode == 1
    assert run_cli("fmt", str(path)).returncode == 0
    assert path.read_text() == "CN(32, 3) -> MP(2) -> FL()  # keep me\n" and (path.stat().st_mode & 0o777) == 0o600
    assert run_cli("fmt", "--check", str(path)).returncode == 0 and format_text(path.read_text()) == path.read_text()
    assert run_cli("fmt", "-", input="CN(8,3)->GAP()\n").stdout == "CN(8, 3) -> GAP()\n"
    path.write_text("CN(8,3)->FL()->CN(3)\n")
    assert run_cli("fmt", str(path)).returncode == 0 and path.read_text() == "CN(8, 3) -> FL() -> CN(3)\n"
    path.write_text("CN(8,3)->FL()->\n")
    assert run_cli("fmt", str(path)).returncode == 1 and path.read_text() == "CN(8,3)->FL()->\n"


def test_readme_section_budgets_and_project_settings(tmp_path):
    """docs/checking.md, Budgets, and docs/spec-files.md, Project settings: units, FLOPs, activations, the hash, the toml example, the search."""
    text = section("docs/spec-files.md", "Project settings")
    assert (parse_count("1M"), parse_count("50k"), parse_count("1G")) == (10**6, 50_000, 10**9)
    assert (parse_bytes("2MB"), parse_bytes("512KB"), parse_bytes("1GB")) == (2 * 1024**2, 512 * 1024, 1024**3)
    model = check("CN(8,3)->GAP()")
    summary = json.loads(run_cli("summary", "--json", "CN(8,3)->GAP()").stdout)
    assert summary["flops"] == 2 * model.total_macs
    assert summary["activation_bytes"] == 4 * sum(info.activations for info in model.layers)
    assert architecture_hash(check("CN(8)*2->GAP()")) == architecture_hash(check("CN(8,3) -> CN(8,(3,3))->GAP()"))
    over = run_cli("check", "CN(8,3)->CN(64,3)->FL()", "--max-params", "1k")
    assert over.returncode == 1 and "over the budget of 1,000 (--max-params)" in over.stderr
    toml = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    (tmp_path / "pyproject.toml").write_text(toml)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "pyproject.toml").write_text("[project]\nname = 'sub'\n")
    expected = Settings((32, 32, 3), 100, 10**6, 50 * 10**6, 2 * 1024**2)
    assert load_settings(tmp_path) == expected and load_settings(sub) == expected


def test_readme_section_diagnostics_for_machines():
    """docs/checking.md, Diagnostics for machines: the JSON object's fields, the GitHub annotation, summary --json's errors."""
    text = section("docs/checking.md", "Diagnostics for machines")
    fields = re.search(r"one\s+list of objects \((.*?)\);", text, re.S).group(1)
    named = set(re.findall(r"`(\w+)`", fields))
    records = json.loads(run_cli("check", "--format", "json", "CN(8)->\n CN(0)").stdout)
    assert named <= set(records[0]) and set(records[0]["end"]) == {"line", "column"}
    github = run_cli("check", "--format", "github", "CN(0)").stdout
    assert github.startswith("::error file=<spec>,title=cnndsl value,line=1,col=4,endLine=1,endColumn=5::")
    assert json.loads(run_cli("summary", "--json", "CN(8)->\n CN(0)").stdout)["errors"] == records


def test_readme_section_limits():
    """docs/limits.md, Limits: every cap in the table is the value of the constant it names."""
    rows = re.findall(
        r"^\| [^|]+ \| ([\d,]+)( MiB| characters| levels)? \| `(\w+)\.(\w+)`", section("docs/limits.md", "Limits"), re.M
    )
    assert len(rows) >= 9
    modules = {"syntax": "cnndsl.syntax", "inputs": "cnndsl.inputs", "expand": "cnndsl.passes.expand",
               "lalr": "cnndsl.lalr", "layers": "cnndsl.layers"}  # fmt: skip
    for value, unit, module, name in rows:
        number = int(value.replace(",", "")) * (1024 * 1024 if unit == " MiB" else 1)
        assert getattr(importlib.import_module(modules[module]), name) == number, name


def test_readme_section_odd_text(tmp_path):
    """docs/limits.md, Limits, "Odd text either works or gets a clear message": each bullet, as the CLI shows it."""
    for spec in ["", "  # only a comment\n"]:
        result = run_cli("check", spec)
        assert result.returncode == 1 and result.stderr.startswith("<spec>:1:1: error: the spec is empty")
    assert run_cli("check", "CN(8)\t->\r\n\fGAP()").returncode == 0
    assert run_cli("check", "\ufeffCN(8)->\ufeffGAP()").returncode == 0
    assert run_cli("check", "CN(8)->GAP()  # \u202e anything \x7f").returncode == 0
    rlo = run_cli("check", "CN(8)\u202e")
    assert "unexpected character U+202E RIGHT-TO-LEFT OVERRIDE" in rlo.stderr
    assert "\u202e" not in rlo.stderr.splitlines()[1] and "\\u202e" in rlo.stderr.splitlines()[1]
    (tmp_path / "latin.cnn").write_bytes(b"CN(8)->FL() # caf\xe9")
    assert "not UTF-8 text (byte 17)" in run_cli("check", str(tmp_path / "latin.cnn")).stderr
    assert "is a directory, not a spec file" in run_cli("check", str(tmp_path)).stderr
    assert check("CN(+3)->DP(.5)->DP(5e-1)->GAP()").layers[0].layer.args["filters"] == 3
    for spec in ["CN(-0)", "CN(0x10)", "CN(1_000)"]:
        with pytest.raises(SpecError):
            check(spec)


def test_readme_section_outputs(tmp_path):
    """docs/training.md, Outputs: the files a run directory holds, each written whole or not at all."""
    text = section("docs/training.md", "Outputs")
    listed = set(re.findall(r"`(\w+\.(?:keras|csv|json|png|svg|txt))`", text))
    assert listed == set(RUN_FILES)

    def fail(temp: Path) -> None:
        temp.write_text("half")
        raise OSError(28, "No space left on device")

    (tmp_path / "history.csv").write_text("whole\n")
    with pytest.raises(OutputError, match="No space left on device"):
        write_atomic(tmp_path / "history.csv", fail)
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"] and (
        tmp_path / "history.csv"
    ).read_text() == "whole\n"


def test_readme_section_security(tmp_path):
    """docs/limits.md, Security: what cnndsl reads, what it never executes, where it writes."""
    text = section("docs/limits.md", "Security")
    assert "never imported or run" in text and "allow_pickle=False" in text
    sources = "\n".join(path.read_text() for path in (ROOT / "cnndsl").rglob("*.py"))
    assert "allow_pickle=True" not in sources and "safe_mode=False" not in sources
    (tmp_path / "trap.py").write_text("open('ran', 'w')\nimport cnndsl\ncnndsl.check('CN(8)->FL()')\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert run_cli("check", "trap.py", cwd=tmp_path).returncode == 0
    assert run_cli("summary", "CN(8)->FL()", cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert cnndsl.inputs.MAX_FILE_BYTES == 8 * 1024 * 1024


def test_readme_section_pre_commit(tmp_path):
    """docs/checking.md, pre-commit: the snippet is a valid configuration naming hooks the manifest defines, at a rev of the user's."""
    import yaml

    snippet = re.search(r"```yaml\n(.*?)```", section("docs/checking.md", "pre-commit"), re.S).group(1)
    assert "rev: <a commit SHA or tag of this repository>" in snippet
    filled = snippet.replace("<the URL of this repository>", str(ROOT)).replace(
        "<a commit SHA or tag of this repository>", "0123456789abcdef" * 2 + "01234567"
    )
    (tmp_path / "config.yaml").write_text(filled)
    for command in (
        ["validate-config", str(tmp_path / "config.yaml")],
        ["validate-manifest", ".pre-commit-hooks.yaml"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "pre_commit", *command], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    hooks = {hook["id"] for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    used = {hook["id"] for repo in yaml.safe_load(filled)["repos"] for hook in repo["hooks"]}
    assert used == hooks
