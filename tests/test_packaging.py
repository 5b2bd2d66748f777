"""The built wheel, installed into a fresh environment without TensorFlow, checks specs."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from helpers import EXAMPLES, ROOT

pytestmark = pytest.mark.slow


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)


def _offline(tmp_path: Path) -> dict[str, str]:
    """pip without an index or a folder of wheels, as on a machine without a network."""
    (tmp_path / "no-wheels").mkdir()
    return {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path / "no-wheels")}


def test_wheel_installs_without_tensorflow_and_checks_an_example(tmp_path: Path):
    dist, offline = tmp_path / "dist", _offline(tmp_path)
    # --no-isolation: the dev extra's setuptools builds it, so no network is needed
    built = _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, ROOT, env=offline)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("cnndsl-*.whl")
    assert "cnndsl/grammar/cnndsl.lark" in zipfile.ZipFile(wheel).namelist()

    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    installed = _run(
        bin_dir / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q", wheel, env=offline
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    good = _run(bin_dir / "cnndsl", "check", EXAMPLES / "model1.cnn", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert "OK, 9 layers, 240,380 parameters" in good.stdout
    bad = _run(bin_dir / "cnndsl", "check", EXAMPLES / "model3_title.cnn", cwd=tmp_path)
    assert bad.returncode == 1 and "gets 2x2" in bad.stderr

    probe = "import importlib.util as u; print([m for m in ('tensorflow', 'keras', 'lark') if u.find_spec(m)])"
    assert _run(bin_dir / "python", "-c", probe).stdout.strip() == "[]"
