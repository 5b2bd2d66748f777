"""Training data: the bundled sample, npz and IDX files, the MNIST fallback, and bad data.

Everything here is numpy only and needs no network: the loaders' failures are
simulated with small files the tests write and with a loader that raises.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from helpers import run_cli

from cnndsl import datasets
from cnndsl.datasets import DataError, load_data, read_idx


def make_arrays(n_train=12, n_test=6, size=28, classes=10, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "y_train": np.arange(n_train, dtype=np.uint8) % classes,
        "x_test": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "y_test": np.arange(n_test, dtype=np.uint8) % classes,
    }


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes, as MNIST's are written."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_dir(directory, arrays, gz=True) -> None:
    directory.mkdir(exist_ok=True)
    for key, names in datasets.IDX_FILES.items():
        data = idx_bytes(arrays[key])
        if gz:
            (directory / f"{names[0]}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / names[0]).write_bytes(data)


# --- the bundled sample ---------------------------------------------------------------


def test_sample_is_8000_and_2000_real_digits_scaled_to_unit_range():
    data = load_data("sample")
    assert data.x_train.shape == (8000, 28, 28, 1) and data.x_test.shape == (2000, 28, 28, 1)
    assert data.x_train.dtype == np.float32 and data.x_train.min() >= 0.0 and data.x_train.max() == 1.0
    assert data.num_classes == 10 and data.input_shape == (28, 28, 1)
    counts = np.bincount(np.concatenate([data.y_train, data.y_test]), minlength=10)
    assert counts.tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]  # the data README's


def test_sample_ships_with_its_provenance():
    readme = datasets.sample_path().with_name("README.md").read_text()
    assert "CC BY-SA 3.0" in readme and "LeCun" in readme


def test_limit_keeps_the_first_training_images_and_every_test_image():
    full, limited = load_data("sample"), load_data("sample", limit=300)
    assert len(limited.x_train) == 300 and len(limited.x_test) == 2000
    assert np.array_equal(limited.x_train, full.x_train[:300])


@pytest.mark.parametrize("limit", [0, -5])
def test_limit_below_one_is_an_error(limit):
    with pytest.raises(DataError, match="--limit must be at least 1"):
        load_data("sample", limit=limit)


# --- npz and IDX files ----------------------------------------------------------------


def test_npz_in_keras_layout_loads_with_classes_and_shape_from_the_data(tmp_path):
    arrays = make_arrays(size=16, classes=3)
    arrays["x_train"] = np.repeat(arrays["x_train"][..., None], 3, axis=-1)
    arrays["x_test"] = np.repeat(arrays["x_test"][..., None], 3, axis=-1)
    np.savez(tmp_path / "d.npz", **arrays)
    data = load_data(str(tmp_path / "d.npz"))
    assert data.input_shape == (16, 16, 3) and data.num_classes == 3
    assert np.allclose(data.x_test * 255, arrays["x_test"])


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_loads_gzipped_or_not(tmp_path, gz):
    arrays = make_arrays()
    write_idx_dir(tmp_path / "idx", arrays, gz=gz)
    data = load_data(str(tmp_path / "idx"))
    assert data.x_train.shape == (12, 28, 28, 1) and data.y_test.tolist() == arrays["y_test"].tolist()
    assert np.allclose(data.x_train[..., 0] * 255, arrays["x_train"])


def test_idx_reader_matches_the_format_byte_for_byte(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a-idx3-ubyte").write_bytes(idx_bytes(array))
    assert np.array_equal(read_idx(tmp_path / "a-idx3-ubyte"), array)


BAD_NPZ = [
    ("wrong keys", {"images": np.zeros((4, 28, 28)), "labels": np.zeros(4)}, "missing x_train, y_train"),
    ("labels short", {**make_arrays(), "y_train": np.zeros(3, np.uint8)}, "y_train has 3 labels for 12 images"),
    ("flat images", {**make_arrays(), "x_train": np.zeros((12, 784), np.uint8)}, "x_train has shape (12, 784)"),
    ("float labels", {**make_arrays(), "y_test": np.zeros(6, np.float32)}, "expected one integer label per image"),
    ("sizes differ", {**make_arrays(), "x_test": np.zeros((6, 20, 20), np.uint8)}, "but x_test images are 20x20x1"),
    ("pixels > 255", {**make_arrays(), "x_test": np.full((6, 28, 28), 300, np.int32)}, "values run from 300 to 300"),
    ("nan pixels", {**make_arrays(), "x_test": np.full((6, 28, 28), np.nan)}, "NaN or infinite"),
    ("one class", {**make_arrays(classes=1)}, "labels give 1 class; a model takes 2 to 1,000,000"),
    ("negative label", {**make_arrays(), "y_train": -np.ones(12, np.int64)}, "negative label"),
]


@pytest.mark.parametrize(("case", "arrays", "message"), BAD_NPZ, ids=[case[0] for case in BAD_NPZ])
def test_bad_npz_is_a_clear_data_error(tmp_path, case, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as info:
        load_data(str(tmp_path / "bad.npz"))
    assert message in str(info.value) and str(tmp_path / "bad.npz") in str(info.value)


def test_missing_and_corrupt_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_data(str(tmp_path / "absent.npz"))
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="not an .npz file"):
        load_data(str(tmp_path / "junk.npz"))
    np.savez(tmp_path / "pickled.npz", **{**make_arrays(), "x_train": np.array([None] * 12, dtype=object)})
    with pytest.raises(DataError, match="not a readable .npz file") as info:
        load_data(str(tmp_path / "pickled.npz"))
    assert "allow_pickle" not in str(info.value) and "unsafe" not in str(info.value)


@pytest.mark.parametrize("content", [b"my notes\n", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'}"])
def test_a_file_that_is_not_an_npz_never_suggests_unsafe_loading(tmp_path, content):
    (tmp_path / "notes.txt").write_bytes(content)
    with pytest.raises(DataError) as info:
        load_data(str(tmp_path / "notes.txt"))
    assert str(info.value) == f"{tmp_path / 'notes.txt'}: not an .npz file (an .npz is a zip archive of numpy arrays)"


def test_a_device_is_not_read_as_data():
    with pytest.raises(DataError, match="/dev/zero: not a regular file"):
        load_data("/dev/zero")


def test_truncated_idx_file_is_a_data_error(tmp_path):
    write_idx_dir(tmp_path / "idx", make_arrays(), gz=False)
    images = tmp_path / "idx" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(
        DataError, match=r"t10k-images-idx3-ubyte: truncated: 4620 bytes where its header promises 4720"
    ):
        load_data(str(tmp_path / "idx"))


def test_truncated_gzip_and_bad_magic_and_missing_file_are_data_errors(tmp_path):
    write_idx_dir(tmp_path / "idx", make_arrays())
    labels = tmp_path / "idx" / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:20])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: cannot read"):
        load_data(str(tmp_path / "idx"))
    labels.write_bytes(gzip.compress(b"\x08\x03\x00\x00 not idx"))
    with pytest.raises(DataError, match="bad magic number"):
        load_data(str(tmp_path / "idx"))
    labels.unlink()
    with pytest.raises(DataError, match="no train-labels-idx1-ubyte"):
        load_data(str(tmp_path / "idx"))


# --- MNIST: Keras's cache, its loader, or the sample ----------------------------------


@pytest.fixture
def empty_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return tmp_path / "keras-home"


def test_mnist_unreachable_falls_back_to_the_sample_with_a_one_line_notice(empty_keras_home, monkeypatch):
    def unreachable(name):
        raise Exception("URL fetch failure on https://example.invalid/mnist.npz: None -- [Errno -2] Name unknown")

    monkeypatch.setattr(datasets, "_download", unreachable)
    data = load_data("mnist")
    assert len(data.x_train) == 8000 and "bundled sample" in data.source
    assert data.notice and "\n" not in data.notice
    assert "cannot be downloaded (URL fetch failure" in data.notice
    assert str(empty_keras_home / "datasets" / "mnist.npz") in data.notice and "--data PATH" in data.notice


def _keras_like_loader(fails: bool):
    """A loader that talks as Keras's does: the URL first, then the progress bar once bytes arrive."""

    def load():
        print("Downloading data from https://example.invalid/mnist.npz")
        if fails:
            raise Exception("URL fetch failure on https://example.invalid/mnist.npz: None -- [Errno 101] unreachable")
        print("\r 8192/11490434 0s 0us/step", end="")
        print("\r11490434/11490434 1s 0us/step")
        return "arrays"

    return load


def test_keras_s_download_line_is_told_only_once_the_download_is_under_way(capsys):
    import io

    out = io.StringIO()
    with pytest.raises(Exception, match="URL fetch failure"):
        datasets.told_once_under_way(_keras_like_loader(fails=True), out)
    assert out.getvalue() == ""  # offline: cnndsl's own notice is the first line the user reads
    assert datasets.told_once_under_way(_keras_like_loader(fails=False), out) == "arrays"
    assert out.getvalue().startswith("Downloading data from https://example.invalid/mnist.npz\n\r 8192/")
    assert out.getvalue().endswith("11490434/11490434 1s 0us/step\n") and capsys.readouterr().out == ""


def test_an_offline_first_run_says_only_cnndsl_s_notice(tmp_path):
    pytest.importorskip("keras")
    refused = "http://127.0.0.1:9"  # no Keras cache and no way out: Keras's loader fails at once
    env = {"KERAS_HOME": str(tmp_path / "keras"), "HTTPS_PROXY": refused, "HTTP_PROXY": refused, "NO_PROXY": ""}
    argv = ["run", "CN(4, 3) -> FL()", "--epochs", "1", "--limit", "64", "--output", str(tmp_path / "run")]
    result = run_cli(*argv, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Downloading data from" not in result.stdout + result.stderr
    assert result.stderr.startswith("cnndsl: MNIST is not in Keras's cache and cannot be downloaded"), result.stderr


def test_mnist_in_keras_cache_is_read_without_downloading(empty_keras_home, monkeypatch):
    (empty_keras_home / "datasets").mkdir(parents=True)
    np.savez(empty_keras_home / "datasets" / "mnist.npz", **make_arrays(n_train=20))
    monkeypatch.setattr(datasets, "_download", lambda name: pytest.fail("downloaded although cached"))
    data = load_data("mnist")
    assert len(data.x_train) == 20 and data.notice is None and data.source.endswith("mnist.npz")


def test_mnist_from_keras_loader_when_the_download_works(empty_keras_home, monkeypatch):
    monkeypatch.setattr(datasets, "_download", lambda name: make_arrays(n_train=30))
    data = load_data("mnist")
    assert len(data.x_train) == 30 and data.notice is None


def test_fashion_mnist_reads_debian_idx_files_when_installed(tmp_path, monkeypatch):
    write_idx_dir(tmp_path / "fashion", make_arrays(n_train=14))
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path / "fashion")
    data = load_data("fashion_mnist")
    assert len(data.x_train) == 14 and data.source == str(tmp_path / "fashion")


def test_fashion_mnist_unavailable_is_a_data_error_naming_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path / "absent")
    monkeypatch.setattr(datasets, "_download", lambda name: (_ for _ in ()).throw(OSError("unreachable")))
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_data("fashion_mnist")


def test_an_idx_header_promising_more_than_the_memory_is_refused_unread(tmp_path):
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">3I", 60_000, 2**31, 2**31)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(1000)))
    with pytest.raises(DataError, match=r"would take [\d,.]+ GB, more than this machine's memory"):
        read_idx(tmp_path / "train-images-idx3-ubyte.gz")


def test_a_gzip_bomb_is_read_no_further_than_its_header_promises(tmp_path):
    data = idx_bytes(np.zeros((10, 28, 28), np.uint8)) + bytes(64 * 1024 * 1024)
    (tmp_path / "bomb-idx3-ubyte.gz").write_bytes(gzip.compress(data, compresslevel=1))
    with pytest.raises(DataError, match="has trailing bytes where its header promises 7856"):
        read_idx(tmp_path / "bomb-idx3-ubyte.gz")


def test_an_npz_larger_than_the_memory_is_refused_before_it_is_unpacked(tmp_path, monkeypatch):
    np.savez_compressed(tmp_path / "big.npz", **make_arrays())
    monkeypatch.setattr(datasets, "memory_bytes", lambda: 10_000)
    with pytest.raises(DataError, match="more than this machine's memory"):
        load_data(str(tmp_path / "big.npz"))


def _label_arrays(y_train, y_test):
    rng = np.random.default_rng(0)
    x = lambda n: rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)  # noqa: E731
    return {
        "x_train": x(len(y_train)),
        "y_train": np.asarray(y_train),
        "x_test": x(len(y_test)),
        "y_test": np.asarray(y_test),
    }


def test_one_hot_labels_are_read_as_the_integers_they_encode():
    integers = np.array([0, 3, 1, 2, 3, 0])
    one_hot = np.eye(5, dtype="float32")[integers]  # what keras.utils.to_categorical(y, 5) gives
    data = datasets.prepare(_label_arrays(one_hot, one_hot[:3]), "x", "x.npz")
    assert data.y_train.tolist() == integers.tolist() and data.y_test.tolist() == integers[:3].tolist()
    assert data.num_classes == 5 and data.y_train.dtype == np.int64
    with pytest.raises(DataError, match="one-hot row"):  # not exactly one-hot
        datasets.prepare(_label_arrays(one_hot * 0.9, one_hot[:3]), "x", "x.npz", task="classify")
    soft = datasets.prepare(_label_arrays(one_hot * 0.9, one_hot[:3]), "x", "x.npz")  # floats: numbers to regress
    assert soft.task == "regress" and soft.num_classes == 5


def test_labels_with_gaps_or_classes_training_never_saw_are_warned_of():
    data = datasets.prepare(_label_arrays([0, 3, 6, 0], [0, 3, 6, 6]), "x", "x.npz")
    assert data.num_classes == 7
    assert data.label_warnings() == [
        "x.npz: no image is labelled 1, 2, 4, 5, yet the labels give 7 classes (0 to 6): "
        "number the classes 0 to N-1 without gaps"
    ]
    unseen = datasets.prepare(_label_arrays([0, 1, 1, 0], [0, 1, 2, 2]), "x", "x.npz").label_warnings()
    assert unseen == [
        "x.npz: 2 test image(s) are labelled 2, a class no training image has (the model cannot learn it)"
    ]
    assert datasets.prepare(_label_arrays([0, 1, 2], [2, 1]), "x", "x.npz").label_warnings() == []


def test_the_one_class_hint_does_not_promise_one_hot_labels():
    from cnndsl import check

    hints = [warning.hint or "" for warning in check("CN(8)->FL()", num_classes=1).warnings]
    assert any("labels 0 and 1" in hint for hint in hints) and not any("one-hot" in hint for hint in hints)
