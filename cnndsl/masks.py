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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnndsl.errors import DataError
from cnndsl.splits import DEFAULT_TEST_SPLIT, carve_test

IMAGES, MASKS = "images", "masks"
SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


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


def peek(path: Path) -> tuple[int, int, int] | None:
    """The first training image's height, width and channels, read from its header; None if unreadable."""
    from PIL import Image

    folder = path / "train" if (path / "train" / IMAGES).is_dir() else path
    try:
        first = min(_files(folder / IMAGES).items())[1]
        with Image.open(first) as image:
            return image.height, image.width, 1 if _mode(first) == "L" else 3
    except (DataError, OSError, ValueError):
        return None


def _pairs(folder: Path, named: bool = False) -> tuple:
    """The images and masks of ``folder`` as two arrays in name order (first their names, where ``named``)."""
    images, masks = _files(folder / IMAGES), _files(folder / MASKS)
    unmatched = sorted(set(images) ^ set(masks))
    if unmatched:
        alone = images.get(unmatched[0]) or masks[unmatched[0]]
        other = MASKS if unmatched[0] in images else IMAGES
        raise DataError(f"{alone}: no file of that name in {folder / other}/")
    names = sorted(images)
    mode = _mode(images[names[0]])
    x = [_read(images[name], mode) for name in names]
    y = [_read(masks[name], None) for name in names]
    for name, image, mask in zip(names, x, y):
        if image.shape != x[0].shape:
            raise DataError(
                f"{images[name]}: {_size(image)}, but {images[names[0]]} is {_size(x[0])}; images are of one size"
            )
        if mask.shape[:2] != image.shape[:2]:
            raise DataError(f"{masks[name]}: the mask is {_size(mask)} but its image is {_size(image)}")
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
            return "L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB"
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
