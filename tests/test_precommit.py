"""The pre-commit hooks, used from a throwaway repository the way a project uses them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import ROOT

pytestmark = pytest.mark.slow


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _pre_commit(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    command = [sys.executable, "-m", "pre_commit", *args]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, env=env, timeout=600)


def _snapshot(folder: Path) -> str:
    """The checkout as it is now (its files that git tracks or would, edits included), committed in a
    repository of its own at ``folder`` that a project's config can name: returns the commit."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the checkout is left out
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    _git(folder, "init", "-q")
    _git(folder, "add", "-A")
    _git(folder, "-c", "user.email=dev@example.com", "-c", "user.name=Dev", "commit", "-q", "-m", "snapshot")
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=folder, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_the_hooks_install_only_the_core_package():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {hook["id"] for hook in hooks} == {"cnndsl-check", "cnndsl-check-python", "cnndsl-fmt"}
    assert all(hook["language"] == "python" and "additional_dependencies" not in hook for hook in hooks)


def test_a_bad_spec_is_blocked_with_its_diagnostic_and_a_good_one_passes(tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "Dev")
    (repo / "good.cnn").write_text("CN(32, 3) -> MP(2) -> FL() -> DN(128)\n")
    (repo / "bad.cnn").write_text(
        "# the notebook's third model as titled\n" + (ROOT / "examples/model3_title.cnn").read_text()
    )
    hooks = tmp_path / "cnndsl"
    config = {
        "repos": [
            {"repo": str(hooks), "rev": _snapshot(hooks), "hooks": [{"id": "cnndsl-check"}, {"id": "cnndsl-fmt"}]}
        ]
    }
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    _git(repo, "add", ".")
    home = tmp_path / "cache"  # the hooks' environment is made on the first run and used by the others

    good = _pre_commit(repo, home, "run", "--files", "good.cnn")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "cnndsl check" in good.stdout and "Failed" not in good.stdout and good.stdout.count("Passed") == 2

    bad = _pre_commit(repo, home, "run", "cnndsl-check", "--files", "good.cnn", "bad.cnn")
    assert bad.returncode == 1
    assert "Failed" in bad.stdout
    assert (
        "bad.cnn:17:8: error: CN(150): kernel 5x5 needs an input of at least 5x5, but this layer gets 2x2" in bad.stdout
    )
    assert "good.cnn" not in bad.stdout.split("Failed", 1)[1]

    messy = repo / "messy.cnn"
    messy.write_text("CN(32,3)->MP(2)->FL()  # keep me\n")
    _git(repo, "add", "messy.cnn")
    fmt = _pre_commit(repo, home, "run", "cnndsl-fmt", "--files", "messy.cnn")
    assert fmt.returncode == 1 and "files were modified by this hook" in fmt.stdout
    assert messy.read_text() == "CN(32, 3) -> MP(2) -> FL()  # keep me\n"
