"""The test suite's own contract: one command line runner with two modes that agree, the quick
subset the README names, and parallel runs that CI's command gets."""

from __future__ import annotations

import os
import re
import sys

import pytest
from docs_pages import section
from helpers import EXAMPLES, LONGEST_FIRST, ROOT, run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PYTEST = PYPROJECT["tool"]["pytest"]["ini_options"]


@pytest.mark.parametrize(
    "args",
    [
        ("check", str(EXAMPLES / "model3_title.cnn")),
        ("summary", "CN(8,3)->MP(2)->FL()->DN(10)"),
        ("fmt", "-", "--check"),
        ("check", "--no-such-option"),
        ("emit", "CN(8,3)->FL()->DN(10)", "--to", "json"),
        ("draw", "CN(8,3)->FL()", "-o", "-"),
    ],
    ids=["error", "summary", "stdin", "usage", "emit", "draw-refused"],
)
def test_the_command_line_in_this_process_is_the_command_line_of_a_process(args):
    given = "CN(8,3)->FL()\n" if "-" in args else None
    inside = run_cli(*args, input=given)
    outside = run_cli(*args, input=given, process=True)
    assert (inside.returncode, inside.stdout, inside.stderr) == (outside.returncode, outside.stdout, outside.stderr)


def test_a_run_in_this_process_leaves_its_environment_and_directory_as_they_were(tmp_path, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    (tmp_path / "m.cnn").write_text("CN(8,3)->FL()\n")
    before = os.getcwd()
    result = run_cli("check", "m.cnn", cwd=tmp_path, env={"COLUMNS": "40"})
    assert result.returncode == 0, result.stderr
    assert os.getcwd() == before and "COLUMNS" not in os.environ


def test_what_only_a_new_process_reads_is_refused_in_this_process():
    with pytest.raises(ValueError, match="process=True"):
        run_cli("check", "CN(8)", env={"KERAS_BACKEND": "jax"})


def test_the_readme_names_the_quick_subset_and_its_marker_is_registered():
    quick = section("README.md", "Quick start")
    assert '`pytest -m "not slow"`' in quick
    assert any(marker.startswith("slow:") for marker in PYTEST["markers"])
    assert "--strict-markers" in PYTEST["addopts"]


def test_the_tests_run_in_parallel_with_what_the_dev_extra_installs():
    assert re.search(r"(^| )-n (auto|\d+)( |$)", PYTEST["addopts"])
    assert any(
        requirement.startswith("pytest-xdist") for requirement in PYPROJECT["project"]["optional-dependencies"]["dev"]
    )


def test_the_longest_files_go_first_and_each_is_a_file_of_the_suite():
    assert "--no-loadscope-reorder" in PYTEST["addopts"] and "--dist loadfile" in PYTEST["addopts"]
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
    assert all((ROOT / "tests" / name).is_file() for name in LONGEST_FIRST)


def test_the_contributing_guide_states_both_times():
    tests = section("docs/contributing.md", "The tests")
    full, quick = tests.split('`pytest -m "not slow"`', 1)
    assert re.search(r"\d+ minutes on an idle two-core machine", full)
    assert re.search(r"^[^.:]*\d+ (seconds|minutes)", quick)
