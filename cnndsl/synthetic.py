"""A segmentation set cnndsl makes itself: discs and squares drawn on noise, with their masks.

``--data shapes`` trains on it: 32x32 grayscale images, each with one to three shapes
of random size, place and brightness on a noisy background, and a mask per image whose
pixels say background (0), disc (1) or square (2). Discs and squares share one
brightness range, so only their form tells them apart. The same seed makes the same
images on every machine (numpy's ``RandomState``); nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

SIZE = 32
TRAIN, TEST = 2000, 400
CLASSES = ("background", "disc", "square")
SEED = 2024


def shapes(train: int = TRAIN, test: int = TEST, size: int = SIZE, seed: int = SEED) -> dict[str, np.ndarray]:
    """``x_train`` (train, size, size) uint8 images, ``y_train`` (train, size, size) uint8 masks, and the test pair.

    >>> arrays = shapes(4, 2, 16)
    >>> arrays["x_train"].shape, arrays["y_test"].shape, sorted(set(arrays["y_train"].ravel()) - {0, 1, 2})
    ((4, 16, 16), (2, 16, 16), [])
    """
    random = np.random.RandomState(seed)
    x, y = _draw(train + test, size, random)
    return {"x_train": x[:train], "y_train": y[:train], "x_test": x[train:], "y_test": y[train:]}


def _draw(count: int, size: int, random: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0:size, 0:size]
    images = np.clip(random.normal(60, 25, (count, size, size)), 0, 255)
    masks = np.zeros((count, size, size), np.uint8)
    for index in range(count):
        for _ in range(random.randint(1, 4)):
            kind = random.randint(1, 3)
            radius = random.uniform(size * 0.1, size * 0.22)
            cy, cx = random.uniform(radius, size - radius, 2)
            if kind == 1:
                inside = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2
            else:
                half = radius * 0.85  # a square of about a disc's area
                inside = (abs(rows - cy) <= half) & (abs(cols - cx) <= half)
            brightness = random.uniform(140, 230)
            images[index][inside] = np.clip(brightness + random.normal(0, 20, int(inside.sum())), 0, 255)
            masks[index][inside] = kind
    return images.astype(np.uint8), masks
