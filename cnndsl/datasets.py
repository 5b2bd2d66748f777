"""Training data: find it, read it, check it, and turn it into what the recipe trains on.

``load_data(name_or_path)`` understands ``mnist`` (Keras's file, else the bundled
sample with a notice), ``sample`` (the bundled 10,000 digits), ``fashion_mnist``
(Debian's IDX files, else Keras's loader), an ``.npz`` in Keras's layout, a
directory of the four IDX files, and a folder of images with a subfolder per class
(:mod:`cnndsl.images`, read while training). Everything here is numpy only: no TensorFlow.
Any problem with the data is a :class:`DataError` whose message names the file.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import socket
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

from cnndsl.checker import valid_input_shape
from cnndsl.errors import DataError
from cnndsl.images import ImageFolder, is_image_folder
from cnndsl.shapes import format_size
from cnndsl.tasks import CLASSIFY, SEGMENT, Task, task_named, task_of_labels
from cnndsl.tasks import _class_count as class_count  # segmentation's rules for masks, applied to a shard
from cnndsl.tasks import _masks as segment_masks

NAMES = ("mnist", "sample", "fashion_mnist")
KEYS = ("x_train", "y_train", "x_test", "y_test")
DOWNLOAD_TIMEOUT_S = 20.0
"""Seconds without an answer before a download counts as failed."""
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package puts its IDX files."""
SAMPLE_SOURCE = "the bundled sample (cnndsl/data/mnist-10k.npz)"
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class Dataset:
    """Images ``(n, height, width, channels)`` scaled to [0, 1] and integer labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str
    """Where the arrays came from, for summaries (a path or a loader)."""
    notice: str | None = None
    """A one-line note for the user, such as a fallback to the sample."""
    task: Task = CLASSIFY
    """What the labels are for (a :class:`cnndsl.tasks.Task`): class labels, masks or numbers; ``num_classes`` counts the outputs."""

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def train_count(self) -> int:
        return len(self.x_train)

    @property
    def test_count(self) -> int:
        return len(self.x_test)

    class_names = None
    """Arrays number their classes; an image folder names them."""

    def limited(self, limit: int | None) -> Dataset:
        """The same data with only the first ``limit`` training images."""
        if limit is None:
            return self
        if limit < 1:
            raise DataError(f"--limit must be at least 1, got {limit}")
        return replace(self, x_train=self.x_train[:limit], y_train=self.y_train[:limit])

    def label_warnings(self) -> list[str]:
        """What in the labels is likely a mistake: classes no image has, test classes training never saw."""
        return self.task.label_warnings(self.y_train, self.y_test, self.num_classes, self.source)

    def describe(self) -> dict:
        """The data's JSON description for ``metrics.json``."""
        return {
            "name": self.name,
            "source": self.source,
            "train_images": int(len(self.x_train)),
            "test_images": int(len(self.x_test)),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            **({"task": self.task.name} if self.task != CLASSIFY else {}),
        }


@dataclass(frozen=True)
class ShardedDataset(Dataset):
    """A data-parallel process's shard of data read by its files (a mask folder), with the whole's counts.

    Its arrays are this process's shard; its class count and label warnings are the whole
    data's, agreed by the processes (:func:`settle_shard`, :func:`with_counts`).
    """

    shard: tuple[int, int] = (0, 1)
    """This process's index and the count of processes."""
    totals: tuple[int, int] = (0, 0)
    """The training and test examples of all processes together."""
    warnings: tuple[str, ...] = ()

    @property
    def train_count(self) -> int:
        return self.totals[0]

    @property
    def test_count(self) -> int:
        return self.totals[1]

    def limited(self, limit: int | None) -> ShardedDataset:
        return self  # the files were limited before they were shared out

    def label_warnings(self) -> list[str]:
        return list(self.warnings)

    def describe(self) -> dict:
        return {**super().describe(), "train_images": self.totals[0], "test_images": self.totals[1]}

    def own_rows(self, split: str) -> np.ndarray:
        """The indices, among all processes' examples of ``split`` (train or test), of this process's rows."""
        index, count = self.shard
        return np.arange(index, self.totals[split == "test"], count)

    def class_counts(self) -> np.ndarray:
        """How many training and test pixels of this shard hold each class: a ``(2, classes)`` table."""
        return np.stack([np.bincount(y.ravel(), minlength=self.num_classes) for y in (self.y_train, self.y_test)])

    def with_counts(self, counts: np.ndarray) -> ShardedDataset:
        """The same shard with the label warnings the whole data's ``counts`` (every shard's summed) give."""
        train, test = np.asarray(counts)
        seen, tested = np.flatnonzero(train), np.flatnonzero(test)
        unseen = np.setdiff1d(tested, seen)
        # the task's own warnings, from stand-ins: each class once, and one value per test pixel of a class
        # training never saw (that warning counts them)
        stand_in = np.concatenate([np.intersect1d(tested, seen), np.repeat(unseen, test[unseen])])
        warnings = self.task.label_warnings(seen, stand_in, self.num_classes, self.source)
        return replace(self, warnings=tuple(warnings))


def settle_shard(shard, facts: np.ndarray) -> ShardedDataset:
    """A mask folder's shard (:class:`cnndsl.masks.MaskShard`) as this process's data set, once every
    process's ``facts`` are known: the folder's image mode and size, and the class count of all the masks."""
    arrays, classes = shard.settled(facts)
    x_train, x_test = _images(arrays, "x_train", shard.source), _images(arrays, "x_test", shard.source)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"{shard.source}: x_train images are {_hwc(x_train)} but x_test images are {_hwc(x_test)}")
    try:
        valid_input_shape(x_train.shape[1:], "the images' height, width and channels")
    except ValueError as error:
        raise DataError(f"{shard.source}: {error}") from None
    y_train = segment_masks(arrays, "y_train", x_train, shard.source)
    y_test = segment_masks(arrays, "y_test", x_test, shard.source)
    return ShardedDataset(
        shard.source, x_train, y_train, x_test, y_test, class_count(classes, shard.source), shard.source,
        shard.notice, SEGMENT, (shard.index, shard.count), shard.totals,
    )  # fmt: skip


def known_shape(data: str) -> tuple[tuple[int, int, int], int] | None:
    """The input shape and class count of a named data set, known without reading it."""
    return ((28, 28, 1), 10) if data in NAMES else None


def load_data(
    data: str = "mnist",
    limit: int | None = None,
    task: str | Task | None = None,
    *,
    input_shape: Sequence[int | None] | None = None,
    test_split: float | None = None,
    shard: tuple[int, int] | None = None,
) -> Dataset | ImageFolder:
    """Read, check and prepare ``data`` (a name in NAMES or a path); raises DataError.

    ``task`` (a name in :data:`cnndsl.tasks.TASKS`) says what the labels must be; by default the labels say.
    A folder with a subfolder per class is an :class:`~cnndsl.images.ImageFolder` (classification),
    its images resized to ``input_shape`` (a size left None is the first image's) and its
    test split carved from the files (``test_split``, default 0.2) unless it has a
    ``test/`` folder; other data has its own test arrays. ``shard`` (a data-parallel process's
    index, the count of processes) has an image folder check only that process's shard of its files,
    and a mask folder read only that shard: a :class:`cnndsl.masks.MaskShard`, which becomes the data
    set once the processes have met (:func:`settle_shard`).
    """
    task = task_named(task) if task is not None else None
    if data not in NAMES and _is_class_folder(Path(data)):
        from cnndsl.images import load_folder

        if task is not None and not task.takes_class_folders:
            raise DataError(f"{data}: a folder of a folder per class is classification data, not --task {task}")
        folder = load_folder(Path(data), input_shape, test_split, limit=limit, shard=shard).limited(limit)
        if task is not None:
            task.folder_outputs(folder.class_names, folder.source)  # DataError where the task cannot take them
            folder = replace(folder, task=task)
        return folder
    if shard is not None and _is_mask_folder(Path(data)):
        from cnndsl import masks

        if task is not None and task != SEGMENT:
            raise DataError(f"{data}: a folder of images beside masks is segmentation data, not --task {task}")
        return masks.read_shard(Path(data), test_split, limit, shard)
    if test_split is not None and not _is_mask_folder(Path(data)):
        raise DataError(f"{data}: --test-split carves a test split from an image folder; this data has its own")
    if data == "mnist":
        arrays, source, notice = _mnist()
    elif data == "sample":
        arrays, source, notice = _sample(), SAMPLE_SOURCE, None
    elif data == "fashion_mnist":
        arrays, source, notice = _fashion_mnist()
    elif data == SHAPES:
        arrays, source, notice = _shapes(), SHAPES_SOURCE, None
    else:
        arrays, source, notice = _from_path(Path(data), test_split), data, None
    dataset = prepare(arrays, data, source, task)
    return replace(dataset, notice=notice).limited(limit)


# --- named data sets ------------------------------------------------------------------


def sample_path() -> Path:
    """The bundled 10,000-digit sample inside the installed package."""
    return Path(str(resources.files("cnndsl.data") / "mnist-10k.npz"))


def _sample() -> dict[str, np.ndarray]:
    return read_npz(sample_path())


def keras_cache(filename: str) -> Path:
    """Where Keras keeps a downloaded data set (``$KERAS_HOME/datasets``, else ``~/.keras``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / filename


def _mnist() -> tuple[dict[str, np.ndarray], str, str | None]:
    """Keras's ``mnist.npz`` from its cache or its loader, else the bundled sample."""
    cached = keras_cache("mnist.npz")
    if cached.is_file():
        return read_npz(cached), str(cached), None
    try:
        arrays = _download("mnist")
    except Exception as error:  # any failure to fetch means: train offline on the sample
        notice = (
            f"cnndsl: MNIST is not in Keras's cache and cannot be downloaded ({_reason(error)}); "
            f"training on the bundled 10,000-digit sample instead. For the full set, put Keras's "
            f"mnist.npz at {cached} or pass --data PATH."
        )
        return _sample(), SAMPLE_SOURCE, notice
    return arrays, str(cached), None


def _fashion_mnist() -> tuple[dict[str, np.ndarray], str, str | None]:
    """Debian's IDX files when installed, else Keras's loader."""
    if FASHION_MNIST_DIR.is_dir():
        return read_idx_dir(FASHION_MNIST_DIR), str(FASHION_MNIST_DIR), None
    try:
        return _download("fashion_mnist"), "keras.datasets.fashion_mnist", None
    except Exception as error:
        raise DataError(
            f"fashion_mnist: not installed at {FASHION_MNIST_DIR} and cannot be downloaded ({_reason(error)}); "
            "install Debian's dataset-fashion-mnist package or pass --data PATH"
        ) from None


def _download(name: str) -> dict[str, np.ndarray]:
    """Keras's own loader for ``name``, failing fast when the network does not answer."""
    import keras

    loader = getattr(keras.datasets, name).load_data
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        (x_train, y_train), (x_test, y_test) = told_once_under_way(loader, sys.stderr)
    finally:
        socket.setdefaulttimeout(previous)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def told_once_under_way(loader, out):
    """``loader()``, what it prints sent to ``out`` once the download is under way.

    Keras says "Downloading data from URL" before it connects: offline, that line would
    stand before cnndsl's own notice of the fallback. It is held back until the loader
    prints more (its progress bar: bytes arrive) or returns, and dropped if it fails.
    """
    held = _HeldBack(out)
    with contextlib.redirect_stdout(held):
        result = loader()
    held.release()
    return result


class _HeldBack(io.TextIOBase):
    """A stream that holds its first line, and passes it on with whatever follows it, or once released."""

    def __init__(self, out) -> None:
        self.out, self.held, self.passing = out, "", False

    def write(self, text: str) -> int:
        if self.passing:
            return self.out.write(text)
        self.held += text
        if self.held.partition("\n")[2]:
            self.release()
        return len(text)

    def release(self) -> None:
        if not self.passing:
            self.passing = True
            self.out.write(self.held)

    def flush(self) -> None:
        if self.passing:
            self.out.flush()


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[-1][:160] if text else type(error).__name__


# --- files ----------------------------------------------------------------------------


def _is_mask_folder(path: Path) -> bool:
    from cnndsl import masks

    return path.is_dir() and masks.is_mask_folder(path)


def _from_path(path: Path, test_split: float | None = None) -> dict[str, np.ndarray]:
    if path.is_dir():
        from cnndsl import masks

        return masks.read_mask_folder(path, test_split) if masks.is_mask_folder(path) else read_idx_dir(path)
    if not path.exists():
        names = ", ".join(NAMES)
        raise DataError(
            f"{path}: no such file or directory (--data takes {names}, an .npz, an IDX directory or an image folder)"
        )
    return read_npz(path)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The four arrays of an ``.npz`` in Keras's layout; raises DataError.

    Never loads pickled objects (``allow_pickle`` stays off), and never suggests it.
    """
    try:
        if not path.is_file():
            reason = "not a regular file" if path.exists() else "no such file"
            raise DataError(f"{path}: {reason}; expected an .npz holding {', '.join(KEYS)}")
        if not zipfile.is_zipfile(path):
            raise DataError(f"{path}: not an .npz file (an .npz is a zip archive of numpy arrays)")
        _fits_in_memory(_unpacked_size(path), path)
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in KEYS if key not in archive.files]
            if missing:
                found = ", ".join(archive.files) or "none"
                raise DataError(f"{path}: missing {', '.join(missing)} (found {found}); expected {', '.join(KEYS)}")
            return {key: archive[key] for key in KEYS}
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable .npz file ({_npz_reason(error)})") from None
    except MemoryError:
        raise DataError(f"{path}: does not fit in memory") from None


def _unpacked_size(path: Path) -> int:
    """The bytes the four arrays take once unpacked, as the archive declares (and zipfile holds it to)."""
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist() if info.filename.removesuffix(".npy") in KEYS)


def _npz_reason(error: Exception) -> str:
    """Why numpy could not read the file, without numpy's advice to load pickles unsafely."""
    if "pickle" in str(error):
        return "it holds Python objects, which are never loaded; an .npz for cnndsl holds numeric arrays"
    return _reason(error)


IDX_FILES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def read_idx_dir(directory: Path) -> dict[str, np.ndarray]:
    """The four MNIST IDX files of a directory, gzipped or not; raises DataError."""
    return {key: read_idx(_find_idx(directory, names)) for key, names in IDX_FILES.items()}


def _has_idx(directory: Path) -> bool:
    """Whether a directory holds any of the IDX files (it is then read as an IDX directory)."""
    names = [name for pair in IDX_FILES.values() for name in pair]
    return any((directory / name).is_file() or (directory / f"{name}.gz").is_file() for name in names)


def _find_idx(directory: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise DataError(
        f"{directory}: no {names[0]} (or .gz) file; an IDX directory needs the four MNIST files, an image folder a subfolder per class"
    )


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (MNIST's format: magic, sizes, then the values); raises DataError.

    The header is read first and no more than the size it promises is read after it, so
    a gzip bomb or a device never fills the memory.
    """
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as stream:
            head = stream.read(4)
            ndim = head[3] if len(head) == 4 else 0
            head += stream.read(4 * ndim)
            expected = _idx_size(head, path)
            _fits_in_memory(expected, path)
            return _parse_idx(head + stream.read(expected - len(head) + 1), path)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot read ({_reason(error)})") from None


def _idx_size(head: bytes, path: Path) -> int:
    """The file size an IDX header promises; DataError for a bad magic number or a short header."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in IDX_TYPES or head[3] == 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim, dtype = head[3], np.dtype(IDX_TYPES[head[2]])
    if len(head) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    shape = np.frombuffer(head, ">u4", ndim, 4)
    return 4 + 4 * ndim + math.prod(int(s) for s in shape) * dtype.itemsize


def _fits_in_memory(size: int, path: Path) -> None:
    """DataError when data would need more bytes than this machine has memory."""
    if size > memory_bytes():
        raise DataError(f"{path}: would take {size / 1024**3:,.1f} GB, more than this machine's memory")


def memory_bytes() -> int | float:
    """This machine's physical memory (unbounded where the system cannot say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return math.inf


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    expected = _idx_size(raw, path)
    if len(raw) != expected:
        state = f"truncated: {len(raw)} bytes" if len(raw) < expected else "has trailing bytes"
        raise DataError(f"{path}: {state} where its header promises {expected}")
    ndim, dtype = raw[3], np.dtype(IDX_TYPES[raw[2]])
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", ndim, 4))
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(shape)


# --- checks and preparation -----------------------------------------------------------


def prepare(arrays: dict[str, np.ndarray], name: str, source: str, task: str | Task | None = None) -> Dataset:
    """Check the four arrays and turn them into the recipe's inputs: [0, 1] floats, NHWC.

    The labels are the task's (``task``, else the one the training labels imply).
    """
    x_train, x_test = _images(arrays, "x_train", source), _images(arrays, "x_test", source)
    kind = task_named(task) if task is not None else task_of_labels(arrays["y_train"])
    y_train, y_test, classes = kind.labels(arrays, x_train, x_test, source)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"{source}: x_train images are {_hwc(x_train)} but x_test images are {_hwc(x_test)}")
    try:
        valid_input_shape(x_train.shape[1:], "the images' height, width and channels")
    except ValueError as error:
        raise DataError(f"{source}: {error}") from None
    return Dataset(name, x_train, y_train, x_test, y_test, classes, source, task=kind)


def _images(arrays: dict[str, np.ndarray], key: str, source: str) -> np.ndarray:
    x = np.asarray(arrays[key])
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or min(x.shape) < 1:
        raise DataError(f"{source}: {key} has shape {x.shape}; expected (images, height, width[, channels])")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{source}: {key} holds {x.dtype} values; expected pixel numbers")
    return scale_pixels(x, key, source)


def scale_pixels(x: np.ndarray, key: str, source: str) -> np.ndarray:
    """float32 pixels in [0, 1]: 0..255 values are divided by 255, as the notebook does."""
    x = x.astype("float32")
    if not np.isfinite(x).all():
        raise DataError(f"{source}: {key} holds NaN or infinite values")
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 255:
        raise DataError(f"{source}: {key} values run from {low:g} to {high:g}; expected pixels in 0..255 or 0..1")
    if high > 1:
        x /= 255.0
    return x


def _hwc(x: np.ndarray) -> str:
    return format_size(x.shape[1:])


# --- a look at an .npz's headers, before its arrays are read -------------------------------


def peek_labels(
    data: str, shard: tuple[int, int] | None = None, test_split: float | None = None
) -> tuple[tuple[int, int, int], Task] | None:
    """The image shape and the task an ``.npz``'s headers imply, reading no array; None where they cannot say.

    Integer masks ``(n, H, W)`` imply segmentation, floating-point labels regression
    (a float array may still hold one-hot rows, so its task is said once read). A mask
    folder's first training image says its shape; with ``shard``, the first of that
    process's shard (split by ``test_split``).
    """
    path = Path(data)
    if path.is_dir():
        from cnndsl import masks

        shape = masks.peek(path, shard, test_split) if masks.is_mask_folder(path) else None
        return (shape, SEGMENT) if shape else None
    try:
        if not (path.is_file() and zipfile.is_zipfile(path)):
            return None
        with zipfile.ZipFile(path) as archive:
            x_shape, _ = _npy_header(archive, "x_train")
            y_shape, y_dtype = _npy_header(archive, "y_train")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    if len(x_shape) not in (3, 4):
        return None
    shape = (*x_shape[1:3], x_shape[3] if len(x_shape) == 4 else 1)
    whole = np.issubdtype(y_dtype, np.integer) or np.issubdtype(y_dtype, np.bool_)
    masks = whole and (len(y_shape) == 3 or (len(y_shape) == 4 and y_shape[-1] == 1))
    return shape, SEGMENT if masks else CLASSIFY


def _npy_header(archive: zipfile.ZipFile, key: str) -> tuple[tuple[int, ...], np.dtype]:
    with archive.open(f"{key}.npy") as stream:
        version = np.lib.format.read_magic(stream)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(stream)
    return tuple(shape), dtype


# --- made here: the segmentation set --------------------------------------------------------

SHAPES = "shapes"
SHAPES_SOURCE = "cnndsl's shapes (discs and squares on noise, made with a fixed seed)"
KNOWN = {SHAPES: ((32, 32, 1), SEGMENT)}
"""Data sets made here: their image shape and task, known before they are made."""


def _shapes() -> dict[str, np.ndarray]:
    from cnndsl.synthetic import shapes

    return shapes()


def _is_class_folder(path: Path) -> bool:
    """A folder of a folder per class of images: not IDX files, not images beside their masks."""
    from cnndsl import masks

    return is_image_folder(path) and not _has_idx(path) and not masks.is_mask_folder(path)
