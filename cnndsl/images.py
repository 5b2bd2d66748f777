"""Image folders: a folder per class of PNG, JPEG, BMP or GIF files, streamed while training.

``list_images(folder)`` lists the (image path, label) pairs and the class names of a
folder laid out as ``keras.utils.image_dataset_from_directory`` reads it (one subfolder
per class, searched to any depth); ``read_image(path, shape)`` decodes one image into a
model's input (converted to its channels, resized, scaled to [0, 1]); ``load_folder``
checks every image once and makes the :class:`ImageFolder` that training reads in
batches through ``tf.data``, never holding more than a few batches in memory. In a
data-parallel run each process checks and reads only its shard of the files
(:func:`shard`).

Files without an image suffix (a README, ``Thumbs.db``) are skipped and counted; hidden
files and folders (``.DS_Store``, ``.ipynb_checkpoints``) are ignored. Everything else
that cannot be used is a :class:`DataError` naming the file: an empty class folder, a
single class, a corrupt, truncated or unreadable image, a file that is not the image its
suffix says, a broken symbolic link or a symbolic link loop. Pillow is imported only to
read images, TensorFlow only to build the pipeline.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cnndsl.errors import DataError
from cnndsl.shapes import format_size
from cnndsl.splits import DEFAULT_TEST_SPLIT, carve_test, held_out, name_order
from cnndsl.tasks import CLASSIFY, Task

SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif"})
"""The files an image folder reads, by suffix (any case), as Keras's own folder reader."""
FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "BMP": "BMP", "DIB": "BMP", "GIF": "GIF"}
"""Pillow's format names of the files read, and the name each is known by."""
KINDS = "PNG, JPEG, BMP or GIF"
CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}
"""The model's channels and the image mode each is read in: grayscale, RGB, RGB with alpha."""
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F"} | {m for m in ("I;16", "I;16B", "I;16L", "I;16N")})
ALPHA_MODES = frozenset({"RGBA", "RGBa", "PA"})
RESAMPLE = ("bilinear", "nearest")
NATIVE_MODES = {"PNG": frozenset({"L", "LA", "RGB", "RGBA", "P", "PA"}), "JPEG": frozenset({"L", "RGB"})}
"""The 8-bit PNG and JPEG files that ``tf.io.decode_image`` decodes to the pixels Pillow gives (a grey
level from colour may differ by one): a folder of only these is decoded by TensorFlow, in parallel."""

Pair = tuple[Path, int]


@dataclass(frozen=True)
class Listing:
    """What a class folder holds: (image path, label) pairs, sorted, and the class names."""

    pairs: tuple[Pair, ...]
    class_names: tuple[str, ...]
    skipped: tuple[Path, ...] = ()
    """Files that are not images by their suffix, left out."""


# --- listing --------------------------------------------------------------------------


def is_image_folder(path: Path) -> bool:
    """Whether ``path`` is a folder with at least one visible subfolder (an IDX folder has none)."""
    try:
        return path.is_dir() and any(not e.name.startswith(".") and _is_dir(Path(e.path)) for e in os.scandir(path))
    except OSError:
        return False


def has_train_and_test(path: Path) -> bool:
    """Whether a folder holds its own ``train/`` and ``test/`` folders, each a folder per class."""
    return _is_dir(path / "train") and _is_dir(path / "test")


def list_images(folder: Path, classes: Sequence[str] | None = None) -> Listing:
    """The images of ``folder`` (a subfolder per class) with their labels; raises DataError.

    Class names are the subfolders' names, sorted, and a label is a class's index among
    them. ``classes`` gives the names instead (a ``test/`` folder is labelled by
    ``train/``'s classes): each subfolder must then be one of them.
    """
    entries = _entries(folder)
    names = [name for name, kind in entries if kind == "dir"]
    loose = [folder / name for name, kind in entries if kind == "file"]
    if classes is None:
        _enough_classes(folder, names)
        classes = names
    for name in names:
        if name not in classes:
            raise DataError(f"{folder / name}: a class that the training images do not have ({_names(classes)})")
    pairs, skipped = [], list(loose)
    for name in names:
        found: list[Path] = []
        _walk(folder / name, frozenset(), found, skipped)
        if not found:
            raise DataError(f"{folder / name}: no images in this class folder (it needs {KINDS} files)")
        pairs += [(path, classes.index(name)) for path in found]
    return Listing(tuple(pairs), tuple(classes), tuple(skipped))


def _enough_classes(folder: Path, names: list[str]) -> None:
    if not names:
        raise DataError(f"{folder}: no class folders; put the images of each class in a folder named after it")
    if len(names) == 1:
        raise DataError(
            f"{folder}: only one class folder ({names[0]}); a classifier needs at least 2, one folder per class"
        )


def _names(classes: Sequence[str], shown: int = 8) -> str:
    text = ", ".join(classes[:shown])
    return text + (f" and {len(classes) - shown} more" if len(classes) > shown else "")


def _entries(folder: Path) -> list[tuple[str, str]]:
    """The visible entries of a folder, sorted, each with its kind (``dir`` or ``file``)."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if not entry.name.startswith("."))
    except OSError as error:
        raise DataError(f"{folder}: cannot read this folder ({_reason(error)})") from None
    return [(name, "dir" if _is_dir(folder / name) else "file") for name in names]


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder, following symbolic links; a link loop is a DataError."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise DataError(f"{path}: symbolic link loop (the link leads back to itself)") from None
        return False


def _walk(folder: Path, above: frozenset, found: list[Path], skipped: list[Path]) -> None:
    """Every image under ``folder`` (sorted, to any depth, following links); a link back up is an error."""
    info = os.stat(folder)
    key = (info.st_dev, info.st_ino)
    if key in above:
        raise DataError(f"{folder}: symbolic link loop (it leads back to a folder above it)")
    for name, kind in _entries(folder):
        path = folder / name
        if kind == "dir":
            _walk(path, above | {key}, found, skipped)
        elif path.suffix.lower() in SUFFIXES:
            found.append(_image_file(path))
        else:
            skipped.append(path)


def _image_file(path: Path) -> Path:
    """An image's path once it is known to be a regular file (a link to one counts)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        what = "broken symbolic link" if path.is_symlink() else "cannot read"
        raise DataError(f"{path}: {what} ({_reason(error)})") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{path}: not a regular file, so not an image")
    return path


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).strip().splitlines()
    return text[-1][:160] if text else type(error).__name__


# --- reading one image ----------------------------------------------------------------


@contextmanager
def opened(path: Path | str):
    """A Pillow image of ``path``, checked to be one of the four formats; DataError otherwise.

    Any failure while the image is in use (decoding a truncated file) is a DataError too.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.format not in FORMATS:
                raise DataError(f"{path}: a {image.format} image; image folders hold {KINDS} files")
            yield image
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image (corrupt, or not a {KINDS} file)") from None
    except Image.DecompressionBombError as error:
        raise DataError(f"{path}: too large to decode ({_reason(error)})") from None
    except PermissionError as error:
        raise DataError(f"{path}: cannot read ({_reason(error)})") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, MemoryError) as error:
        raise DataError(f"{path}: corrupt or truncated image ({_reason(error)})") from None


def channels_of(mode: str) -> int:
    """The channels an image of Pillow's ``mode`` has: 1 (grayscale) or 3 (colour; alpha is dropped)."""
    return 1 if mode in GRAY_MODES else 3


def inspect_image(path: Path | str) -> tuple[int, int, int]:
    """Height, width and channels of an image, after decoding all of it; raises DataError."""
    return _inspected(path)[:3]  # type: ignore[return-value]


def _inspected(path: Path | str) -> tuple[int, int, int, bool]:
    """Height, width, channels, and whether TensorFlow's own decoder reads the file as Pillow does."""
    with opened(path) as image:
        image.load()
        native = FORMATS[image.format] in ("PNG", "JPEG") and image.mode in NATIVE_MODES[FORMATS[image.format]]
        return image.height, image.width, channels_of(image.mode), native


def read_image(path: Path | str, shape: Sequence[int], resample: str = "bilinear") -> np.ndarray:
    """One image as a model's input: ``shape`` (height, width, channels) float32 in [0, 1].

    The image is converted to the channels (1: grayscale, 3: RGB, 4: RGBA) and resized
    (``bilinear``, or ``nearest`` for label masks, whose values must stay as they are).
    """
    from PIL import Image

    height, width, channels = shape
    with opened(path) as image:
        converted = _converted(image, channels)
        if converted.size != (width, height):
            method = Image.Resampling.NEAREST if resample == "nearest" else Image.Resampling.BILINEAR
            converted = converted.resize((width, height), method)
        array = np.asarray(converted, dtype=np.float32)
    return (array[..., np.newaxis] if array.ndim == 2 else array) / np.float32(255)


def _converted(image, channels: int):
    """The image in the mode of ``channels``; 16- and 32-bit grayscale scaled to 8 bits."""
    from PIL import Image

    if image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I") else max(float(values.max()), 1.0)
        image = Image.fromarray(np.clip(values / top * 255, 0, 255).astype(np.uint8), "L")
    elif image.mode == "P" or (image.mode in ALPHA_MODES and channels != 4):
        image = image.convert("RGBA")
    return image.convert(CHANNELS[channels])


# --- a folder as a data set -----------------------------------------------------------


@dataclass(frozen=True)
class ImageFolder:
    """A folder of images by class, split into training and test files, read as it trains."""

    name: str
    train: tuple[Pair, ...]
    test: tuple[Pair, ...]
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]
    source: str
    test_from: str
    """Where the test split comes from: the folder's ``test/``, or carved from the files."""
    notice: str | None = None
    native: bool = False
    """Every image is a PNG or JPEG that TensorFlow's decoder reads (the faster pipeline)."""
    resized: bool = True
    """Some image is not of the input's size."""
    task: Task = CLASSIFY
    """A folder of a folder per class is classification data (``cnndsl.tasks``): classify's, or a task that
    takes class folders too (binary: two classes, labelled 0 and 1 in name order)."""
    shard: tuple[int, int] | None = None
    """In a data-parallel run, this process's index and the count of processes: it reads only its shard."""

    @property
    def num_classes(self) -> int:
        """The model's output count: a unit per class (binary classification: one)."""
        return self.task.folder_outputs(self.class_names, self.source)

    @property
    def train_count(self) -> int:
        return len(self.train)

    @property
    def test_count(self) -> int:
        return len(self.test)

    def limited(self, limit: int | None) -> ImageFolder:
        """The same folder with ``limit`` training images, a fixed choice across the classes."""
        if limit is None:
            return self
        return replace(self, train=_limited(self.train, limit))

    def label_warnings(self) -> list[str]:
        """Classes that ``--limit`` left without a training image."""
        seen = {label for _, label in self.train}
        missing = [name for label, name in enumerate(self.class_names) if label not in seen]
        return [f"{self.source}: no training image of class {_names(missing)} (the model cannot learn it)"] * bool(
            missing
        )

    def describe(self) -> dict:
        """The data's JSON description for ``metrics.json``."""
        return {
            "name": self.name,
            "source": self.source,
            "train_images": self.train_count,
            "test_images": self.test_count,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "test_split": self.test_from,
            **({"task": self.task.name} if self.task != CLASSIFY else {}),
        }

    def validation_split(self, fraction: float, seed: int | None) -> tuple[tuple[Pair, ...], tuple[Pair, ...]]:
        """The training files and those held out to validate on (see :func:`cnndsl.splits.held_out`)."""
        kept, held = held_out(len(self.train), fraction, seed)
        return tuple(self.train[i] for i in kept), tuple(self.train[i] for i in held)

    def batches(self, pairs: Sequence[Pair], batch_size: int, seed: int | None = None, shuffle: bool = False,
                steps: int | None = None):  # fmt: skip
        """A ``tf.data`` pipeline of (images, one-hot labels) batches read from the files as they are needed."""
        native = self.native and self.input_shape[2] in (1, 3)
        return pipeline(pairs, self.input_shape, self.num_classes, batch_size, seed, shuffle, native, self.resized,
                        steps, one_hot=self.task.one_hot)  # fmt: skip

    def shard_batches(self, pairs: Sequence[Pair], share: int, seed: int | None = None, shuffle: bool = False):
        """This process's batches of ``share`` images from its shard of ``pairs`` (a data-parallel run).

        Every process takes as many batches as the smallest shard fills, so that all take the
        same steps; the files left over are left out (others each epoch, when shuffled).
        Shuffled with the shared seed and the process's index. DataError when a shard fills no batch.
        """
        index, count = self.shard or (0, 1)
        steps = len(pairs) // count // share
        if steps == 0:
            raise DataError(
                f"{self.source}: {len(pairs):,} image(s) shared by {count} processes fill no batch of {share} "
                f"in each process (--batch-size {share * count}); give a smaller --batch-size or more images"
            )
        own = shard(pairs, index, count)
        return self.batches(own, share, None if seed is None else seed + index, shuffle, steps)


def pipeline(pairs: Sequence[Pair], shape, classes: int, batch_size: int, seed=None, shuffle=False, native=False,
             resized=True, steps: int | None = None, one_hot: bool = True):  # fmt: skip
    """Batches decoded, resized and scaled as they are drawn, several at once; the files shuffled each epoch.

    ``native``: TensorFlow's decoder and antialiased bilinear resize (when some image is
    not of the input's size: ``resized``), in parallel outside Python, the pixels scaled a
    batch at a time; else Pillow (:func:`read_images`), a batch of files per call.
    ``steps``: only that many whole batches (a data-parallel process's share of the steps).
    ``one_hot``: the labels as one-hot rows of ``classes``; else as one 0/1 column (binary classification).
    """
    import tensorflow as tf

    paths = tf.constant([str(path) for path, _ in pairs])
    labels = tf.constant([label for _, label in pairs], dtype=tf.int32)
    files = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle:
        files = files.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    height, width, channels = shape

    def decode(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        image.set_shape((None, None, channels))
        if resized:
            image = tf.image.resize(image, (height, width), method="bilinear", antialias=True)
        return tf.ensure_shape(image, shape), label

    def encoded(batch_labels):
        return tf.one_hot(batch_labels, classes) if one_hot else tf.cast(batch_labels, tf.float32)[:, None]

    def scale(images, batch_labels):
        return tf.clip_by_value(tf.cast(images, tf.float32) / 255.0, 0.0, 1.0), encoded(batch_labels)

    def load(batch_paths, batch_labels):
        images = tf.numpy_function(lambda ps: read_images(ps, shape), [batch_paths], tf.float32, stateful=False)
        images.set_shape((None, *shape))
        return images, encoded(batch_labels)

    whole = steps is not None
    if native:
        batches = files.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, whole).map(scale)
    else:
        batches = files.batch(batch_size, whole).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return (batches.take(steps) if whole else batches).prefetch(tf.data.AUTOTUNE)


def read_images(paths: Sequence[bytes | str], shape: Sequence[int]) -> np.ndarray:
    """Several images as one ``(n, height, width, channels)`` array (see :func:`read_image`)."""
    out = np.empty((len(paths), *shape), dtype=np.float32)
    for index, path in enumerate(paths):
        out[index] = read_image(path.decode() if isinstance(path, bytes) else path, shape)
    return out


def load_folder(
    folder: Path,
    input_shape: Sequence[int | None] | None = None,
    test_split: float | None = None,
    name: str | None = None,
    *,
    limit: int | None = None,
    shard: tuple[int, int] | None = None,
) -> ImageFolder:
    """Read a folder's layout, check every image once, and choose the input size; raises DataError.

    ``input_shape`` is the model's (``IN(...)`` or ``--input-shape``); a size it leaves
    ``None``, or all of it when it is None, is the first image's. ``shard`` (this process's
    index, the count of processes) checks only this process's shard of the files, after
    ``limit`` chose the training files as one process would.
    """
    if has_train_and_test(folder):
        if test_split is not None:
            raise DataError(f"{folder}: holds its own test/ folder; --test-split carves a test split from a folder without one")  # fmt: skip
        train = list_images(folder / "train")
        test = list_images(folder / "test", train.class_names)
        pairs, test_pairs, test_from = train.pairs, test.pairs, f"{folder / 'test'}"
        skipped = train.skipped + test.skipped
    else:
        listing = list_images(folder)
        fraction = DEFAULT_TEST_SPLIT if test_split is None else test_split
        names = [str(path.relative_to(folder)) for path, _ in listing.pairs]
        train_at, test_at = carve_test(names, [label for _, label in listing.pairs], fraction)
        pairs, test_pairs = tuple(listing.pairs[i] for i in train_at), tuple(listing.pairs[i] for i in test_at)
        test_from, skipped, train = f"{fraction:g} of each class's files, chosen by name", listing.skipped, listing
    shape, notices = _input_size(pairs[0][0], input_shape)
    read = (*pairs, *test_pairs)
    if shard is not None:
        pairs = _limited(pairs, limit)
        read, notice = _own_shard(pairs, test_pairs, shard)
        notices.append(notice)
    found = [_inspected(path) for path, _ in read]
    native, resized = all(info[3] for info in found), any(info[:2] != shape[:2] for info in found)
    if skipped:
        kinds = ", ".join(sorted({path.suffix.lower() or path.name for path in skipped}))
        notices.insert(0, f"cnndsl: skipped {len(skipped):,} file(s) that are not {KINDS} images ({kinds})")
    return ImageFolder(
        name or str(folder),
        pairs,
        test_pairs,
        train.class_names,
        shape,
        str(folder),
        test_from,
        "\n".join(notices) or None,
        native,
        resized,
        shard=shard,
    )


def _limited(pairs: tuple[Pair, ...], limit: int | None) -> tuple[Pair, ...]:
    """``limit`` training files, a fixed choice across the classes (by a hash of each name)."""
    if limit is None:
        return pairs
    if limit < 1:
        raise DataError(f"--limit must be at least 1, got {limit}")
    chosen = sorted(name_order([str(path) for path, _ in pairs])[:limit])
    return tuple(pairs[i] for i in chosen)


def shard(pairs: Sequence[Pair], index: int, count: int) -> tuple[Pair, ...]:
    """Process ``index`` of ``count``'s shard of a split's files: every ``count``-th, from its index on.

    Every file is in exactly one shard, and the shards differ by at most one file.

    >>> files = [(Path(name), 0) for name in "abcde"]
    >>> [[path.name for path, _ in shard(files, index, 2)] for index in (0, 1)]
    [['a', 'c', 'e'], ['b', 'd']]
    """
    return tuple(pairs[index::count])


def _own_shard(train: tuple[Pair, ...], test: tuple[Pair, ...], where: tuple[int, int]) -> tuple[list[Pair], str]:
    """This process's files of both splits, and the line that says how many."""
    index, count = where
    mine, theirs = shard(train, index, count), shard(test, index, count)
    return [*mine, *theirs], (
        f"cnndsl: process {index} of {count} reads its shard of the files: {len(mine):,} of {len(train):,} training "
        f"and {len(theirs):,} of {len(test):,} test images"
    )


def _input_size(first: Path, wanted: Sequence[int | None] | None) -> tuple[tuple[int, int, int], list[str]]:
    """The model's input size: ``wanted`` where it says, else the first image's; a notice when guessed."""
    wanted = tuple(wanted) if wanted is not None else (None, None, None)
    notices = []
    if None in wanted:
        found = inspect_image(first)
        shape = tuple(w if w is not None else f for w, f in zip(wanted, found))
        notices.append(
            f"cnndsl: images resized to {format_size(shape)}, the size of the first image ({first}); "
            "write IN(height, width, channels) or pass --input-shape for another"
        )
    else:
        shape = wanted
    if shape[2] not in CHANNELS:
        raise DataError(
            f"the model's input has {shape[2]} channels; images are read with 1 (grayscale), 3 (RGB) or 4 (RGBA)"
        )
    return shape, notices  # type: ignore[return-value]
