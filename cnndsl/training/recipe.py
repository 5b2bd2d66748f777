"""How to train: the recipe and its validation, and the cluster a data-parallel run joins.

No framework is imported here: every value is checked before TensorFlow, JAX or
PyTorch starts, so a bad flag costs nothing and leaves nothing behind.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cnndsl.errors import RecipeError

OPTIMIZERS = {
    "adam": "Adam",
    "adamw": "AdamW",
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "adamax": "Adamax",
    "nadam": "Nadam",
    "ftrl": "Ftrl",
    "lion": "Lion",
}
BACKENDS = ("tensorflow", "jax", "torch")
DISTRIBUTE = ("mirrored", "data-parallel")
REMOVED = {"multiworker": "data-parallel"}
"""Strategies that are gone, and what replaces them."""
MAX_EPOCHS = 100_000
MAX_BATCH = 1 << 20
MAX_PROCESSES = 4096


@dataclass(frozen=True)
class Recipe:
    """How to train: the notebook's settings by default."""

    epochs: int = 12
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float | None = None
    seed: int | None = None
    data: str = "mnist"
    limit: int | None = None
    distribute: str | None = None
    backend: str | None = None
    """Keras's backend: tensorflow, jax or torch (None: ``KERAS_BACKEND``, else tensorflow)."""
    validation_split: float | None = None
    """The fraction of the training data held out to validate on after each epoch;
    None validates on the test split, as the notebook's recipe does."""
    test_split: float | None = None
    """For an image folder without ``test/``: the fraction of its files that is the test split (None: 0.2)."""
    input_shape: tuple[int, int, int] | None = None
    """The size images are resized to when the spec has no ``IN(...)`` (None: the first image's)."""

    def __post_init__(self) -> None:
        _in_range("--epochs", self.epochs, 1, MAX_EPOCHS)
        _in_range("--batch-size", self.batch_size, 1, MAX_BATCH)
        if self.limit is not None:
            _in_range("--limit", self.limit, 1, 1 << 40)
        if self.seed is not None:
            _in_range("--seed", self.seed, 0, 2**32 - 1)
        object.__setattr__(self, "optimizer", _optimizer(self.optimizer))
        lr = self.learning_rate
        if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and 0 < lr <= 10):
            raise RecipeError(f"--learning-rate must be a number above 0 and at most 10, got {lr!r}")
        _check_distribute(self.distribute)
        if self.validation_split == "test":  # said outright: validate on the test split
            object.__setattr__(self, "validation_split", None)
        for flag, value in (("--validation-split", self.validation_split), ("--test-split", self.test_split)):
            if value is not None:
                _fraction(flag, value)
        if self.input_shape is not None:
            object.__setattr__(self, "input_shape", _input_shape(self.input_shape))
        if self.backend is not None and self.backend not in BACKENDS:
            raise RecipeError(f"--backend: unknown backend {self.backend!r}; choose from {', '.join(BACKENDS)}")
        if self.distribute == "data-parallel" and self.backend not in (None, "jax"):
            raise RecipeError(f"--distribute data-parallel needs --backend jax, not {self.backend}")


def _in_range(flag: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RecipeError(f"{flag} must be a whole number from {low:,} to {high:,}, got {value!r}")


def _fraction(flag: str, value: object) -> None:
    from cnndsl.splits import check_fraction

    try:
        check_fraction(flag, value)
    except ValueError as error:
        raise RecipeError(str(error)) from None


def _input_shape(value: object) -> tuple[int, int, int]:
    from cnndsl.checker import valid_input_shape

    try:
        return valid_input_shape(value, "--input-shape")
    except ValueError as error:
        raise RecipeError(str(error)) from None


def _optimizer(name: object) -> str:
    """The optimizer's key in any case (``Adam`` is ``adam``, as Keras takes it)."""
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise RecipeError(f"--optimizer: unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    return key  # type: ignore[return-value]


def _check_distribute(distribute: str | None) -> None:
    if distribute in REMOVED:
        raise RecipeError(
            f"--distribute {distribute} is no longer supported (it fails under Keras 3); "
            f"use --distribute {REMOVED[distribute]} --backend jax with --coordinator, --num-processes and --process-id"
        )
    if distribute is not None and distribute not in DISTRIBUTE:
        raise RecipeError(f"--distribute: unknown strategy {distribute!r}; choose from {', '.join(DISTRIBUTE)}")


# --- the cluster of a data-parallel run -----------------------------------------------

CLUSTER_ENV = {
    "coordinator": "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "num_processes": "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "process_id": "KERAS_DISTRIBUTION_PROCESS_ID",
}
"""The environment variables Keras's ``keras.distribution.initialize`` reads, flag by flag."""
CONNECT_TIMEOUT_S = 60
MAX_TIMEOUT_S = 24 * 3600


@dataclass(frozen=True)
class Cluster:
    """Where a data-parallel run's processes meet: process 0 listens at ``coordinator``."""

    coordinator: str
    num_processes: int
    process_id: int
    timeout: int = CONNECT_TIMEOUT_S
    """Seconds to wait for every process to connect."""

    def __post_init__(self) -> None:
        _address(self.coordinator)
        _in_range("--num-processes", self.num_processes, 1, MAX_PROCESSES)
        _in_range("--connect-timeout", self.timeout, 1, MAX_TIMEOUT_S)
        if isinstance(self.process_id, bool) or not isinstance(self.process_id, int):
            raise RecipeError(f"--process-id must be a whole number, got {self.process_id!r}")
        if not 0 <= self.process_id < self.num_processes:
            raise RecipeError(
                f"--process-id {self.process_id} is outside the cluster: "
                f"with --num-processes {self.num_processes} it is 0 to {self.num_processes - 1}"
            )

    @property
    def host(self) -> str:
        return _address(self.coordinator)[0]

    @property
    def port(self) -> int:
        return _address(self.coordinator)[1]

    @property
    def is_writer(self) -> bool:
        """Process 0 writes the run directory; the others write nothing that outlives the run."""
        return self.process_id == 0


def _address(text: object) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); the first of a comma-separated list is the coordinator."""
    first = text.split(",")[0].strip() if isinstance(text, str) else ""
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise RecipeError(f"--coordinator must be HOST:PORT such as 10.0.0.1:7777, got {text!r}")
    return host.strip("[]"), int(port)


def cluster_settings(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout: int | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Cluster:
    """The cluster from the flags, each missing one from Keras's environment variable."""
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    for name, value in list(given.items()):
        if value is None and environ.get(CLUSTER_ENV[name], "").strip():
            given[name] = _from_env(name, environ[CLUSTER_ENV[name]].strip())
    missing = [name for name, value in given.items() if value is None]
    if missing:
        flags = ", ".join(f"--{name.replace('_', '-')} (or {CLUSTER_ENV[name]})" for name in missing)
        raise RecipeError(f"--distribute data-parallel needs {flags}")
    return Cluster(**given, timeout=CONNECT_TIMEOUT_S if timeout is None else timeout)


def _from_env(name: str, value: str) -> str | int:
    if name == "coordinator":
        return value
    if not value.isdigit():
        raise RecipeError(f"{CLUSTER_ENV[name]} must be a whole number, got {value!r}")
    return int(value)
