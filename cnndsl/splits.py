"""Which examples test and which validate: the two splits, each drawn the same way every run.

The test split of a folder without ``test/`` is carved from its files by their names
(a hash of each file's path inside the folder, class by class), so the same files are
the test split on every run whatever the seed. The validation split is drawn from the
training examples with the recipe's seed (0 when none is given), so a run with the same
seed validates on the same examples. numpy only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cnndsl.errors import DataError

DEFAULT_TEST_SPLIT = 0.2
VALIDATION_SEED = 0
"""The seed of the validation split when the recipe gives none."""
SELECTION_SPLIT = 0.1
"""The fraction of the training data held out by default where a model is selected on validation
(``sweep``, ``compare --select``): no model is selected on the test split it is scored on."""


def check_fraction(flag: str, value: object) -> float:
    """A fraction strictly between 0 and 1, else ValueError naming ``flag``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{flag} must be a fraction above 0 and below 1, such as 0.2, got {value!r}")
    return float(value)


def name_order(names: Sequence[str]) -> list[int]:
    """The indices of ``names`` sorted by a hash of each name: a fixed shuffle that needs no seed."""
    keys = [hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest() for name in names]
    return sorted(range(len(names)), key=lambda i: (keys[i], names[i]))


def carve_test(names: Sequence[str], labels: Sequence[int], fraction: float) -> tuple[list[int], list[int]]:
    """Training and test indices: ``fraction`` of each class, chosen by name, is the test split.

    Every class keeps at least one training example.

    >>> carve_test(["a/1", "a/2", "a/3", "a/4", "b/1", "b/2"], [0, 0, 0, 0, 1, 1], 0.5)
    ([1, 2, 5], [0, 3, 4])
    """
    train, test = [], []
    for label in sorted(set(labels)):
        members = [i for i in range(len(names)) if labels[i] == label]
        ordered = [members[i] for i in name_order([names[m] for m in members])]
        count = min(round(len(ordered) * fraction), len(ordered) - 1)
        test += ordered[:count]
        train += ordered[count:]
    return sorted(train), sorted(test)


def held_out(count: int, fraction: float, seed: int | None):
    """Training and validation indices of ``count`` examples: ``fraction`` held out, drawn with ``seed``.

    At least one example is held out and at least one is kept.

    >>> [part.tolist() for part in held_out(5, 0.4, 0)]
    [[0, 1, 3], [2, 4]]
    """
    import numpy as np

    if count < 2:
        raise DataError(f"--validation-split needs at least 2 training examples, got {count}")
    size = min(max(round(count * fraction), 1), count - 1)
    order = np.random.default_rng(VALIDATION_SEED if seed is None else seed).permutation(count)
    return np.sort(order[size:]), np.sort(order[:size])
