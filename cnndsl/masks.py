"""Segmentation data as files: a folder of images beside a folder of masks with the same file names.

    DIR/images/a.png   DIR/masks/a.png        (the test split carved from the files)
    DIR/train/images/  DIR/train/masks/  DIR/test/images/  DIR/test/masks/

A mask is an image whose pixel values are the classes (0, 1, 2, ...), one channel (a
grayscale or palette PNG); it has its image's height and width. Images are read in their
own mode made grayscale or RGB (the first image says which), all of one size. Without
``train/`` and ``test/`` the test split is ``--test-split`` (default 0.2) of the files, chosen
by a hash of each name as an image folder's is (:mod:`cnndsl.splits`), the same on every
run. Everything that goes wrong names its file (DataError). Pillow (which matplotlib
brings) is imported here only.

In a data-parallel run each process reads only its shard of the files (:func:`read_shard`):
every ``N``-th image and its mask of each split, as an image folder is shared out. What
depends on the whole folder (the images' mode, their common size, the class count, which
is the largest value in any mask) is settled once the processes have met, from what
each says of its own shard (:meth:`MaskShard.facts`, :meth:`MaskShard.settled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnndsl.errors import DataError
from cnndsl.splits import DEFAULT_TEST_SPLIT, carve_test

IMAGES, MASKS = "images", "masks"
SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
GRAY = ("1", "L", "I", "I;16", "F")
"""The modes an image is read in as grayscale (:func:`_mode`); every other mode is read as RGB."""


def is_mask_folder(path: Path) -> bool:
    """Whether ``path`` is laid out as images beside masks (directly, or under train/ and test/)."""
    return (path / MASKS).is_dir() or (path / "train" / MASKS).is_dir()


def read_mask_folder(path: Path, test_split: float | None = None) -> dict[str, np.ndarray]:
    """The four arrays of a mask folder, in the layout of an ``.npz`` of masks; DataError naming the file.

    Without ``train/`` and ``test/``, ``test_split`` (default 0.2) of the files is the test split.
    """
    if (path / "train" / MASKS).is_dir():
        if test_split is not None:
            raise DataError(
                f"{path}: --test-split carves a test split from the files; this folder has train/ and test/"
            )
        x_train, y_train = _pairs(path / "train")
        x_test, y_test = _pairs(path / "test")
    else:
        names, x, y = _pairs(path, named=True)
        fraction = DEFAULT_TEST_SPLIT if test_split is None else test_split
        train, test = carve_test(names, [0] * len(names), fraction)
        if not test:
            raise DataError(
                f"{path}: {len(names)} image(s) leave no test file at --test-split {fraction:g}; "
                "give more images or a larger fraction"
            )
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def peek(
    path: Path, shard: tuple[int, int] | None = None, test_split: float | None = None
) -> tuple[int, int, int] | None:
    """The first training image's height, width and channels, read from its header; None if unreadable.

    With ``shard`` (a process's index, the count of processes), the first of that process's
    shard of the training files (split by ``test_split``): a process opens no file of another's shard.
    """
    from PIL import Image

    folder = path / "train" if (path / "train" / IMAGES).is_dir() else path
    try:
        if shard is None:
            first = min(_files(folder / IMAGES).items())[1]
        else:
            first = _splits(path, test_split, None)[0][shard[0]][0]
        with Image.open(first) as image:
            return image.height, image.width, 1 if _mode(first) == "L" else 3
    except (DataError, OSError, ValueError, IndexError):
        return None


def _pairs(folder: Path, named: bool = False) -> tuple:
    """The images and masks of ``folder`` as two arrays in name order (first their names, where ``named``)."""
    pairs = _matched(folder)
    first = pairs[0][0]
    mode = _mode(first)
    x = [_read(image, mode) for image, _ in pairs]
    y = [_read(mask, None) for _, mask in pairs]
    for (image_path, mask_path), image, mask in zip(pairs, x, y):
        if image.shape != x[0].shape:
            raise DataError(f"{image_path}: {_size(image)}, but {first} is {_size(x[0])}; images are of one size")
        if mask.shape[:2] != image.shape[:2]:
            raise DataError(f"{mask_path}: the mask is {_size(mask)} but its image is {_size(image)}")
    names = [image.stem for image, _ in pairs]
    return (names, np.stack(x), np.stack(y)) if named else (np.stack(x), np.stack(y))


def _files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(
            f"{folder}: no such folder; a mask folder holds {IMAGES}/ and {MASKS}/ with the same file names"
        )
    found = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in SUFFIXES and p.is_file()}
    if not found:
        raise DataError(f"{folder}: no image files ({', '.join(SUFFIXES)})")
    return found


def _mode(path: Path) -> str:
    """Grayscale or RGB, as the first image is."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return "L" if image.mode in GRAY else "RGB"
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None


def _read(path: Path, mode: str | None) -> np.ndarray:
    """An image in ``mode``, or a mask (``None``): its values as they are, one channel."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            if mode is not None:
                return np.asarray(image.convert(mode))
            if image.mode not in ("1", "L", "P", "I", "I;16"):
                raise DataError(
                    f"{path}: a mask has one channel of classes (a grayscale or palette image), not {image.mode}"
                )
            return np.asarray(image).astype("int64")
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None


def _size(array: np.ndarray) -> str:
    return f"{array.shape[0]}x{array.shape[1]}"


# --- a process's shard -----------------------------------------------------------------

Pair = tuple[Path, Path]
"""An image and its mask."""
SPLITS = ("train", "test")


@dataclass(frozen=True)
class MaskShard:
    """One process's shard of a mask folder, read before the processes meet.

    Its images are held in their own mode made grayscale or RGB; :meth:`settled` turns them
    into the folder's mode once every process's :meth:`facts` are known.
    """

    source: str
    index: int
    count: int
    pairs: tuple[tuple[Pair, ...], tuple[Pair, ...]]
    """This process's training and test files."""
    totals: tuple[int, int]
    """The training and test files of all processes together."""
    images: tuple[list[np.ndarray], list[np.ndarray]]
    masks: tuple[np.ndarray, np.ndarray]
    modes: tuple[tuple[str, ...], tuple[str, ...]]
    """The mode each image was read in, split by split."""
    decided: tuple[str | None, str | None]
    """Each split's mode as one process reads the folder (the mode of the folder's first image by
    name, or of each split's first under ``train/`` and ``test/``): process 0, whose shards
    begin with those images, knows it; the others hold None."""
    firsts: tuple[tuple[Path, ...], tuple[Path, ...]]
    """Every process's first image of each split (every process lists the files alike)."""
    notice: str

    def facts(self) -> np.ndarray:
        """What this process tells the others: each split's mode where it knows it (1 grayscale, 0 RGB,
        -1 unknown), the height and width of its first image of each split, the largest value in its masks."""
        modes = [-1 if mode is None else int(mode == "L") for mode in self.decided]
        sizes = [size for split in self.images for size in split[0].shape[:2]]
        top = max(int(mask.max()) for mask in self.masks)
        return np.array([*modes, *sizes, top], dtype=np.int64)

    def settled(self, facts: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
        """The four arrays in the folder's modes, and the class count; ``facts``: every process's row.

        An image read in another mode than its split's is read again in that mode (the mixed
        folder's rare case). A DataError, the same in every process, where the shards' images
        are not of one size.
        """
        facts = np.asarray(facts, dtype=np.int64).reshape(self.count, -1)
        arrays = {}
        for split, name in enumerate(SPLITS):
            mode = "L" if max(facts[:, split]) == 1 else "RGB"
            self._one_size(facts[:, 2 + 2 * split : 4 + 2 * split], split)
            images = zip(self.images[split], self.modes[split], self.pairs[split])
            arrays[f"x_{name}"] = np.stack(
                [image if read == mode else _read(pair[0], mode) for image, read, pair in images]
            )
            arrays[f"y_{name}"] = self.masks[split]
        return arrays, int(facts[:, -1].max()) + 1

    def _one_size(self, sizes: np.ndarray, split: int) -> None:
        """Every process's first image of a split has the size of process 0's (each checked its own against its first)."""
        for process, size in enumerate(sizes):
            if tuple(size) != tuple(sizes[0]):
                first, theirs = self.firsts[split][0], self.firsts[split][process]
                raise DataError(
                    f"{theirs}: {size[0]}x{size[1]}, but {first} is {sizes[0][0]}x{sizes[0][1]}; images are of one size"
                )


def read_shard(path: Path, test_split: float | None, limit: int | None, shard: tuple[int, int]) -> MaskShard:
    """Process ``shard[0]`` of ``shard[1]``'s shard of a mask folder; DataError naming the file.

    Every process lists the files and splits them alike (``limit`` keeps the first training
    files, as one process would); process ``i`` of ``N`` reads every ``N``-th image and mask of
    each split from the ``i``-th on. A split with fewer files than processes is an error.
    """
    index, count = shard
    every = _splits(path, test_split, limit)
    for name, pairs in zip(SPLITS, every):
        if len(pairs) < count:
            raise DataError(
                f"{path}: {len(pairs)} {name} image(s) cannot be shared by {count} processes; "
                "each needs at least one of each split"
            )
    own = tuple(tuple(pairs[index::count]) for pairs in every)
    images, masks, modes = [], [], []
    for pairs in own:
        read = [_natural(image) for image, _ in pairs]
        values = [_read(mask, None) for _, mask in pairs]
        first = read[0][0]
        for (image, mask), (array, _), mask_values in zip(pairs, read, values):
            if array.shape[:2] != first.shape[:2]:
                raise DataError(f"{image}: {_size(array)}, but {pairs[0][0]} is {_size(first)}; images are of one size")
            if mask_values.shape[:2] != array.shape[:2]:
                raise DataError(f"{mask}: the mask is {_size(mask_values)} but its image is {_size(array)}")
            if mask_values.min() < 0:
                raise DataError(f"{mask}: holds a negative class ({int(mask_values.min())})")
        images.append([array for array, _ in read])
        modes.append(tuple(mode for _, mode in read))
        masks.append(np.stack(values))
    notice = (
        f"cnndsl: process {index} of {count} reads its shard of the files: {len(own[0]):,} of {len(every[0]):,} "
        f"training and {len(own[1]):,} of {len(every[1]):,} test images, each with its mask"
    )
    firsts = tuple(tuple(pairs[i][0] for i in range(count)) for pairs in every)
    return MaskShard(
        str(path), index, count, own, (len(every[0]), len(every[1])), tuple(images), tuple(masks), tuple(modes),
        _decided(path, every, modes) if index == 0 else (None, None), firsts, notice,
    )  # fmt: skip


def _splits(path: Path, test_split: float | None, limit: int | None) -> tuple[list[Pair], list[Pair]]:
    """The training and test (image, mask) pairs in name order, split as :func:`read_mask_folder` splits them."""
    if (path / "train" / MASKS).is_dir():
        if test_split is not None:
            raise DataError(
                f"{path}: --test-split carves a test split from the files; this folder has train/ and test/"
            )
        train, test = _matched(path / "train"), _matched(path / "test")
    else:
        pairs = _matched(path)
        fraction = DEFAULT_TEST_SPLIT if test_split is None else test_split
        train_at, test_at = carve_test([image.stem for image, _ in pairs], [0] * len(pairs), fraction)
        if not test_at:
            raise DataError(
                f"{path}: {len(pairs)} image(s) leave no test file at --test-split {fraction:g}; "
                "give more images or a larger fraction"
            )
        train, test = [pairs[i] for i in train_at], [pairs[i] for i in test_at]
    if limit is not None:
        if limit < 1:
            raise DataError(f"--limit must be at least 1, got {limit}")
        train = train[:limit]
    return train, test


def _matched(folder: Path) -> list[Pair]:
    """A folder's images and their masks, in name order; a file without its partner is a DataError."""
    images, masks = _files(folder / IMAGES), _files(folder / MASKS)
    unmatched = sorted(set(images) ^ set(masks))
    if unmatched:
        alone = images.get(unmatched[0]) or masks[unmatched[0]]
        other = MASKS if unmatched[0] in images else IMAGES
        raise DataError(f"{alone}: no file of that name in {folder / other}/")
    return [(images[name], masks[name]) for name in sorted(images)]


def _decided(path: Path, every, modes) -> tuple[str, str]:
    """Process 0's say on each split's mode: under ``train/`` and ``test/`` each split's first image's;
    else the folder's first image's by name, the first of the split it fell in."""
    if (path / "train" / MASKS).is_dir():
        return modes[0][0], modes[1][0]
    train, test = every
    mode = modes[0][0] if train[0][0].stem < test[0][0].stem else modes[1][0]
    return mode, mode


def _natural(path: Path) -> tuple[np.ndarray, str]:
    """An image in its own mode made grayscale or RGB (opened once), and that mode."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            mode = "L" if image.mode in GRAY else "RGB"
            return np.asarray(image.convert(mode)), mode
    except (OSError, ValueError, SyntaxError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None
