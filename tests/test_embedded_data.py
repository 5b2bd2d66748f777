"""``cnndsl check`` on a Python file: a ``train`` call's input shape is its data's, never a guess."""

from __future__ import annotations

import gzip
import struct

import pytest
from helpers import run_cli

from cnndsl.embedded import KNOWN_DATA, data_shape

SPEC = "CN(8,30)->FL()"
"""Fits 32x32 images, not MNIST's 28x28."""


@pytest.fixture
def cifar(tmp_path):
    np = pytest.importorskip("numpy")
    x = np.zeros((4, 32, 32, 3), np.uint8)
    np.savez(tmp_path / "cifar.npz", x_train=x, y_train=np.zeros(4, np.uint8), x_test=x, y_test=np.zeros(4, np.uint8))
    return tmp_path


def _check(tmp_path, line: str, *flags: str):
    (tmp_path / "models.py").write_text(f"import cnndsl\n\n{line}\n")
    return run_cli("check", "models.py", *flags, cwd=tmp_path)


def test_an_npz_gives_its_shape_from_its_header(cifar):
    result = _check(cifar, f'cnndsl.train("{SPEC}", data="cifar.npz", epochs=1)')
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "models.py:3: OK, 3 layers, 22,338 parameters, output (None, 10) "
        "(input of data='cifar.npz', read from its header)\n"
    )


def test_the_python_files_folder_is_searched_after_the_current_one(cifar):
    (cifar / "sub").mkdir()
    (cifar / "sub" / "models.py").write_text(f'import cnndsl\ncnndsl.train("{SPEC}", "cifar.npz")\n')
    (cifar / "cifar.npz").rename(cifar / "sub" / "cifar.npz")
    result = run_cli("check", "sub/models.py", cwd=cifar)
    assert result.returncode == 0 and "read from its header" in result.stdout, result.stderr


@pytest.mark.parametrize("data", ['"elsewhere.npz"', "path", "'broken.npz'"])
def test_data_whose_shape_is_unknown_checks_only_what_does_not_depend_on_it(tmp_path, data):
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    result = _check(tmp_path, f'cnndsl.train("{SPEC}", data={data})')
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("models.py:3: no syntax or value errors; shapes not checked (")
    value_error = _check(tmp_path, f'cnndsl.train("CN(0,3)->FL()", data={data})')
    assert value_error.returncode == 1 and "CN filters must be at least 1, not 0" in value_error.stderr


def test_known_data_and_a_declared_input_are_checked_in_full(tmp_path):
    mnist = _check(tmp_path, f'cnndsl.train("{SPEC}")')
    assert mnist.returncode == 1 and "but this layer gets 28x28" in mnist.stderr
    declared = _check(tmp_path, f'cnndsl.train("IN(16,16,1)->{SPEC}", data=path)')
    assert declared.returncode == 1 and "but this layer gets 16x16" in declared.stderr
    flag = _check(tmp_path, f'cnndsl.train("{SPEC}", data=path)', "--input-shape", "32,32,3")
    assert flag.returncode == 0 and "OK, 3 layers" in flag.stdout, flag.stderr


def test_an_idx_directory_gives_its_shape_from_its_images_header(tmp_path):
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as images:
        images.write(bytes([0, 0, 0x08, 3]) + struct.pack(">III", 5, 20, 24))
    assert data_shape(str(tmp_path)) == ((20, 24, 1), f"input of data={str(tmp_path)!r}, read from its header")


def test_the_known_data_sets_are_the_loaders():
    datasets = pytest.importorskip("cnndsl.datasets")
    assert set(KNOWN_DATA) == set(datasets.NAMES)
    assert all(datasets.known_shape(name)[0] == shape for name, shape in KNOWN_DATA.items())
