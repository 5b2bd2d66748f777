"""What ``cnndsl check`` loads at start: only what checking needs, so that it starts in milliseconds.

The parse tables are stored (cnndsl/grammar_tables.py); lark is never loaded: the fast
reading also says where a text fails and what was expected there. JSON, difflib, the
TOML parser (when no pyproject.toml names cnndsl), the summary and the search machinery
load only for the commands (and texts) that use them; the records are not dataclasses, and only the command being run
has its parser built. Each shortcut is held equal to what it stands for.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnndsl import cli

ROOT = Path(__file__).resolve().parent.parent
NEVER_AT_START = ["lark", "json", "difflib", "tomllib", "hashlib", "cnndsl.report", "cnndsl.search",
                  "cnndsl.embedded", "cnndsl.space", "tensorflow", "keras",
                  "dataclasses", "inspect", "typing", "pathlib", "shutil", "random"]  # fmt: skip
"""Modules ``check`` of good files never loads. The standard library's own are there for their
start-up cost: ``dataclasses`` (with ``inspect``) and ``typing`` cost more than a whole check,
``pathlib`` and ``shutil`` (argparse's way to the terminal's width) a tenth of it."""


def loaded_after(argv: list[str], cwd: Path) -> tuple[int, list[str]]:
    """Run the CLI's main() in a fresh interpreter; its exit code and which watched modules it loaded
    (those the interpreter had already loaded before cnndsl was imported are not counted)."""
    code = (
        "import sys, contextlib, io\n"
        "before = set(sys.modules)\n"  # an editable install's finder loads pathlib at start-up, for any script
        "from cnndsl.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        f"    status = main({argv!r})\n"
        f"print(status, [m for m in {NEVER_AT_START!r} if m in sys.modules and m not in before])\n"
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


def test_a_syntax_error_is_reported_without_lark(project):
    (project / "bad.cnn").write_text("CN(8) -> -> FL()\n")
    status, loaded = loaded_after(["check", "bad.cnn"], project)
    assert status == 1
    assert loaded == []


def test_a_project_setting_loads_the_toml_parser_and_applies(project):
    (project / "pyproject.toml").write_text("[tool.cnndsl]\nmax-params = 1000\n")
    status, loaded = loaded_after(["check", "model1.cnn"], project)
    assert status == 1  # 240,380 parameters, over the budget
    assert loaded == ["tomllib", "typing"]  # typing: the TOML parser's own import


@pytest.mark.parametrize("command", ["check", "fmt"])
def test_a_command_imports_no_other_command_s_module(command, project):
    code = (
        "import sys, contextlib, io\n"
        "from cnndsl.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        f"    main([{command!r}, '--check' if {command!r} == 'fmt' else '-q', 'model1.cnn'])\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('cnndsl.cli.'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project, check=True)
    loaded = set(result.stdout.split())
    assert f"cnndsl.cli.{cli.COMMANDS[command]}" in loaded
    assert not loaded & {f"cnndsl.cli.{module}" for name, module in cli.COMMANDS.items() if name != command}


# --- the shortcuts give what they stand for ---------------------------------------------


def _help(parser, command: str) -> str:
    subcommands = next(action for action in parser._actions if action.dest == "command")
    return subcommands.choices[command].format_help()


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_a_commands_own_parser_is_the_one_the_full_command_line_has(command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    alone, full = cli.build_parser(command), cli.build_parser()
    assert _help(alone, command) == _help(full, command)
    assert list(_subcommands(alone)) == [command] and list(_subcommands(full)) == list(cli.COMMANDS)


def _subcommands(parser):
    return next(action for action in parser._actions if action.dest == "command").choices


@pytest.mark.parametrize("columns", ["40", "100", "0", "not-a-number"])
def test_help_is_wrapped_as_argparse_wraps_it(columns, monkeypatch):
    """Our formatter reads the terminal's width without shutil, and must wrap exactly as argparse does."""
    monkeypatch.setenv("COLUMNS", columns)
    ours = cli.build_parser().format_help()
    argparse_own = cli.build_parser()
    argparse_own.formatter_class = argparse.HelpFormatter
    assert ours == argparse_own.format_help()
    assert "--version" in ours


NAMES = ["a.cnn", "./a.cnn", "nets//a.cnn", "/abs/a.cnn", "//host/a.cnn", "///a.cnn", "a/./b/", "a/../b.cnn",
         ".", "..", "/", "//", "./", "a.", "a.tar.cnn", ".cnn", "x/.cnn", "a..", "...", "a/b.cnn/"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_path_names_are_written_as_pathlib_writes_them(name):
    """``check``'s file names, normalised without pathlib, match ``str(Path(name))``, stem and suffix too."""
    assert_written_as_pathlib_writes(name)


@given(st.text(alphabet="/.a ", min_size=1, max_size=12))
def test_any_path_name_is_written_as_pathlib_writes_it(name):
    assert_written_as_pathlib_writes(name)


def assert_written_as_pathlib_writes(name: str) -> None:
    from cnndsl.inputs import path_text, stem_and_suffix

    assert path_text(name) == str(Path(name))
    assert stem_and_suffix(name) == (Path(name).stem, Path(name).suffix)
