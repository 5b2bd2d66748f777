"""What ``cnndsl run`` writes, and with which permissions, as an attacker would check it.

A run in a fresh home, working directory and temporary directory, under a private
umask: afterwards the working directory holds only ``runs/<run>/``, the home only
Keras's own directory (its ``keras.json`` and dataset cache) and matplotlib's font
cache, the temporary directory nothing; every file and directory the run created
has the modes the umask gives.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnndsl.outputs import RUN_FILES

pytestmark = pytest.mark.slow

SMALL = "CN(4,3)->MP(2)->FL()->DN(16)"
ALLOWED_IN_HOME = (".keras", ".cache/matplotlib", ".config/matplotlib")


def tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def test_a_run_writes_only_its_directory_and_the_frameworks_caches_with_the_users_umask(tmp_path):
    home, work, tmp = tmp_path / "home", tmp_path / "work", tmp_path / "tmp"
    for directory in (home, work, tmp):
        directory.mkdir()
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmp)}
    env.pop("KERAS_HOME", None)
    env.pop("MPLCONFIGDIR", None)
    args = ["run", SMALL, "--data", "sample", "--limit", "128", "--epochs", "1", "--seed", "0"]
    result = subprocess.run(
        [sys.executable, "-m", "cnndsl", *args], capture_output=True, text=True, env=env, cwd=work,
        preexec_fn=lambda: os.umask(0o077), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [run] = (work / "runs").iterdir()
    assert tree(work) == {"runs", f"runs/{run.name}"} | {f"runs/{run.name}/{path.name}" for path in run.iterdir()}
    assert {path.name for path in run.iterdir()} == set(RUN_FILES)
    outside = sorted(name for name in tree(home) if not name.startswith(ALLOWED_IN_HOME))
    assert [name for name in outside if name not in (".cache", ".config")] == []
    assert tree(tmp) == set()
    for path in [work / "runs", run, *run.iterdir()]:
        expected = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == expected, path
