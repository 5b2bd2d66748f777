"""What ``cnndsl check`` loads at start: only what checking needs, so that it starts in milliseconds.

The parse tables are stored (cnndsl/grammar_tables.py); lark is loaded only to report
a text the fast reading refuses. JSON, difflib, the TOML parser (when no pyproject.toml
names cnndsl), the summary and the search machinery load only for the commands (and
texts) that use them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEVER_AT_START = ["lark", "json", "difflib", "tomllib", "hashlib", "cnndsl.report", "cnndsl.search",
                  "cnndsl.embedded", "tensorflow", "keras"]  # fmt: skip


def loaded_after(argv: list[str], cwd: Path) -> tuple[int, list[str]]:
    """Run the CLI's main() in a fresh interpreter; its exit code and which watched modules it loaded."""
    code = (
        "import sys, contextlib, io\n"
        "from cnndsl.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        f"    status = main({argv!r})\n"
        f"print(status, [m for m in {NEVER_AT_START!r} if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, check=True)
    status, modules = result.stdout.split(" ", 1)
    return int(status), json.loads(modules.replace("'", '"'))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("model1.cnn", "model2.cnn", "model3.cnn"):
        shutil.copy(ROOT / "examples" / name, tmp_path / name)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "cnndsl-user"\ndependencies = ["cnndsl"]\n')
    return tmp_path


def test_checking_good_files_loads_neither_lark_nor_the_other_commands(project):
    status, loaded = loaded_after(["check", "model1.cnn", "model2.cnn", "model3.cnn"], project)
    assert status == 0
    assert loaded == []


def test_a_spec_file_with_definitions_is_read_without_lark(project):
    (project / "nets.cnn").write_text("block stem = CN(8) -> BN()\nsmall = stem * 2 -> FL()\n")
    assert loaded_after(["check", "nets.cnn"], project) == (0, [])


def test_lark_is_loaded_to_report_a_syntax_error(project):
    (project / "bad.cnn").write_text("CN(8) -> -> FL()\n")
    status, loaded = loaded_after(["check", "bad.cnn"], project)
    assert status == 1
    assert "lark" in loaded


def test_a_project_setting_loads_the_toml_parser_and_applies(project):
    (project / "pyproject.toml").write_text("[tool.cnndsl]\nmax-params = 1000\n")
    status, loaded = loaded_after(["check", "model1.cnn"], project)
    assert status == 1  # 240,380 parameters, over the budget
    assert loaded == ["tomllib"]
