"""Each process's share of every global batch, for data-parallel training. Imports Keras.

Global batch ``k`` of an epoch is ``batch_size`` examples of one shuffled order that
every process computes alike from the shared seed; process ``i`` of ``n`` feeds its
``i``-th contiguous ``batch_size / n`` of it, and Keras's DataParallel joins the
shares into the global batch. The mean loss over a batch does not depend on which
process held which example, so the run takes the same steps as one process would.
A last batch too small to share evenly is left out (a different one each epoch when
shuffled).
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
