"""Each process's share of every global batch, for data-parallel training. Imports Keras.

Global batch ``k`` of an epoch is ``batch_size`` examples of one shuffled order that
every process computes alike from the shared seed; process ``i`` of ``n`` feeds its
``i``-th contiguous ``batch_size / n`` of it, and Keras's DataParallel joins the
shares into the global batch. The mean loss over a batch does not depend on which
process held which example, so the run takes the same steps as one process would.
A last batch too small to share evenly is left out (a different one each epoch when
shuffled).

Data read by its files (a mask folder) is shared out by its files instead: each process
holds only its own examples and feeds batches of its share of them (:func:`own_batches`).
"""

from __future__ import annotations

import keras
import numpy as np

from cnndsl.training.recipe import Cluster


class Shards(keras.utils.PyDataset):
    """This process's share of each global batch; reshuffled every epoch when seeded."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, cluster: Cluster, seed: int | None):
        super().__init__()
        self.x, self.y, self.batch, self.seed = x, y, batch_size, seed
        self.share = batch_size // cluster.num_processes
        self.start = cluster.process_id * self.share
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        if self.seed is None:
            return np.arange(len(self.x))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.x))

    def __len__(self) -> int:
        return len(self.x) // self.batch

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        first = index * self.batch + self.start
        rows = self.order[first : first + self.share]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()


def shards(x: np.ndarray, y: np.ndarray, batch_size: int, cluster: Cluster, seed: int | None) -> Shards:
    """This process's shares of ``(x, y)`` in global batches of ``batch_size``."""
    return Shards(x, y, batch_size, cluster, seed)


class OwnBatches(keras.utils.PyDataset):
    """``steps`` batches of ``share`` rows of this process's own examples (its shard of data read by its
    files); reshuffled every epoch from ``seed`` and the process's index when seeded."""

    def __init__(self, x: np.ndarray, y: np.ndarray, share: int, steps: int, seed: int | None, index: int):
        super().__init__()
        self.x, self.y, self.share, self.steps, self.seed, self.index = x, y, share, steps, seed, index
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        if self.seed is None:
            return np.arange(len(self.x))
        return np.random.default_rng([self.seed, self.index, self.epoch]).permutation(len(self.x))

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.order[index * self.share : (index + 1) * self.share]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()


def own_batches(x: np.ndarray, y: np.ndarray, share: int, steps: int, seed: int | None = None, index: int = 0):
    """This process's ``steps`` batches of ``share`` of its own ``(x, y)``; shuffled each epoch when ``seed`` is given."""
    return OwnBatches(x, y, share, steps, seed, index)
