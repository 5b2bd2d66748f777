"""Train a checked model: Keras's backend, its placement on devices and processes, fit.

Keras 3 runs on TensorFlow, JAX or PyTorch; the backend is chosen here, before
Keras is imported. ``--distribute mirrored`` spreads batches over this machine's
devices (``tf.distribute.MirroredStrategy`` on TensorFlow, Keras's ``DataParallel``
on JAX); ``--distribute data-parallel`` joins processes, on one machine or many,
through Keras's distribution API on JAX.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnndsl import hooks, interrupts
from cnndsl.datasets import Dataset, ShardedDataset, settle_shard
from cnndsl.errors import ClusterError, DataError
from cnndsl.images import ImageFolder
from cnndsl.masks import MaskShard
from cnndsl.model import CheckedModel
from cnndsl.outputs import OutputError, os_reason
from cnndsl.splits import held_out
from cnndsl.tasks import CLASSIFY
from cnndsl.training.native_logs import quiet_native_logs
from cnndsl.training.recipe import BACKENDS, OPTIMIZERS, Cluster, Recipe, RecipeError
from cnndsl.training.records import interrupted_text, make_metrics, save_run, summary_text
from cnndsl.training.rundir import RunDirectory

CPU_DEVICES_ENV = "CNNDSL_CPU_DEVICES"
"""Split the CPU into this many logical devices (to try ``--distribute mirrored`` without GPUs)."""
HEARTBEAT_S = 15
"""Seconds after which a silent process counts as dead and the others stop."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; what was saved so far is named here."""

    def __init__(self, directory: Path | None, epochs: int, checkpoint: Path | None, history: list[dict]):
        super().__init__(f"interrupted after {epochs} epoch(s)")
        self.directory, self.epochs, self.checkpoint, self.history = directory, epochs, checkpoint, history
        self.compared = None
        """In ``compare``, the table so far (a CompareResult)."""


@dataclass
class TrainResult:
    """What ``train`` returns: the trained Keras model, its history and metrics, and where they are."""

    model: Any
    history: list[dict]
    metrics: dict
    directory: Path | None
    files: list[Path] = field(default_factory=list)

    def _repr_html_(self) -> str | None:
        """In a notebook: the test scores and one row per epoch (drawn by :mod:`cnndsl.notebook`)."""
        return (self._repr_mimebundle_() or {}).get("text/html")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict | None:
        return hooks.shown("train", self)


# --- the backend ----------------------------------------------------------------------


def backend_name(recipe: Recipe) -> str:
    """The backend a recipe trains on: ``--backend``, else JAX for data-parallel, else Keras's choice."""
    if recipe.backend:
        return recipe.backend
    if recipe.distribute == "data-parallel":
        return "jax"
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


def select_backend(recipe: Recipe) -> str:
    """Set ``KERAS_BACKEND`` before Keras is imported; a usage error if that is too late or impossible."""
    name = backend_name(recipe)
    if name not in BACKENDS:
        raise RecipeError(
            f"KERAS_BACKEND={name!r} is not a backend cnndsl trains on; choose from {', '.join(BACKENDS)}"
        )
    if recipe.distribute == "mirrored" and name == "torch":
        raise RecipeError("--distribute mirrored needs the tensorflow or jax backend, not torch")
    keras = sys.modules.get("keras")
    if keras is not None and keras.backend.backend() != name:
        raise RecipeError(
            f"Keras was already imported with the {keras.backend.backend()} backend in this process; "
            f"train on {name} in a new process (or set KERAS_BACKEND={name} before importing Keras)"
        )
    missing = [package for package in ("numpy", "keras", name) if not _installed(package)]
    if missing:
        raise RecipeError(f"training on {name} needs the {name} extra: pip install 'cnndsl[{name}]'")
    os.environ["KERAS_BACKEND"] = name
    return name


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a module set to None, or one without a spec
        return False


def seed_everything(backend: str, seed: int | None) -> None:
    """Seed Python, numpy and the backend; deterministic ops where the backend has a switch."""
    import keras

    if seed is None:
        return
    keras.utils.set_random_seed(seed)
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)


# --- placement: devices and processes -------------------------------------------------


@dataclass
class Placement:
    """Where a model trains: a scope to build it in, replicas, processes, and who writes."""

    backend: str
    scope: Callable[[], Any]
    replicas: int = 1
    processes: int = 1
    writer: bool = True
    cluster: Cluster | None = None
    name: str = ""


def place(backend: str, recipe: Recipe, cluster: Cluster | None) -> Placement:
    """Set up the recipe's distribution on its backend."""
    if recipe.distribute == "data-parallel":
        if cluster is None:
            raise RecipeError("--distribute data-parallel needs --coordinator, --num-processes and --process-id")
        return _data_parallel(recipe, cluster)
    if backend == "tensorflow":
        return _tensorflow(recipe)
    if recipe.distribute == "mirrored":
        return _jax_local()
    return Placement(backend, _no_scope)


@contextmanager
def _no_scope():
    yield


def _tensorflow(recipe: Recipe) -> Placement:
    import tensorflow as tf

    _split_cpu(tf)
    if recipe.distribute != "mirrored":
        return Placement("tensorflow", _no_scope)
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    strategy = tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    return Placement("tensorflow", strategy.scope, strategy.num_replicas_in_sync, name="MirroredStrategy")


_split = False


def _split_cpu(tf) -> None:
    """``CNNDSL_CPU_DEVICES=N``: N logical CPU devices, so mirrored training runs without GPUs."""
    global _split
    value = os.environ.get(CPU_DEVICES_ENV, "").strip()
    if not value or _split:
        return
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise RecipeError(f"{CPU_DEVICES_ENV} must be a whole number from 1 to 64, got {value!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    config = [tf.config.LogicalDeviceConfiguration() for _ in range(int(value))]
    try:
        tf.config.set_logical_device_configuration(cpu, config)
    except RuntimeError as error:  # devices already initialised in this process
        raise RecipeError(f"{CPU_DEVICES_ENV}: set it before TensorFlow starts ({error})") from None
    _split = True


def _jax_local() -> Placement:
    """Keras's DataParallel over this process's devices (GPUs, or CPUs split by XLA_FLAGS)."""
    import jax
    import keras

    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.local_devices()))
    return Placement("jax", _no_scope, jax.local_device_count(), name="DataParallel")


def _data_parallel(recipe: Recipe, cluster: Cluster) -> Placement:
    """Join the cluster (process 0 is its coordinator) and replicate the model on every device."""
    join_cluster(recipe, cluster)
    import jax
    import keras

    devices = jax.devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False))
    return Placement("jax", _no_scope, len(devices), cluster.num_processes, cluster.is_writer, cluster, "DataParallel")


def join_cluster(recipe: Recipe, cluster: Cluster) -> None:
    """Meet the cluster's other processes through JAX's distributed runtime, once per process."""
    if recipe.batch_size % cluster.num_processes:
        raise RecipeError(
            f"--batch-size {recipe.batch_size} must divide evenly among --num-processes {cluster.num_processes}"
        )
    jax = sys.modules.get("jax")
    if jax is not None and jax.distributed.is_initialized():
        return
    if not cluster.is_writer:
        reach_coordinator(cluster)
    import jax

    jax.distributed.initialize(
        f"{cluster.host}:{cluster.port}",
        cluster.num_processes,
        cluster.process_id,
        initialization_timeout=cluster.timeout,
        heartbeat_timeout_seconds=HEARTBEAT_S,
        shutdown_timeout_seconds=cluster.timeout,
    )


def reach_coordinator(cluster: Cluster) -> None:
    """Wait until the coordinator accepts connections, or fail after the cluster's timeout."""
    deadline = time.monotonic() + cluster.timeout
    while True:
        try:
            with socket.create_connection((cluster.host, cluster.port), timeout=min(5, cluster.timeout)):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                reason = os_reason(error)
                raise ClusterError(
                    f"process {cluster.process_id} of {cluster.num_processes} could not reach the coordinator at "
                    f"{cluster.coordinator} within {cluster.timeout} s ({reason.lower()}); nothing was written"
                ) from None
        time.sleep(0.5)


def shared_seed(seed: int | None) -> int:
    """The recipe's seed, or process 0's random one: every process must shuffle alike."""
    if seed is not None:
        return seed
    from jax.experimental import multihost_utils

    mine = np.array(np.random.SeedSequence().entropy % (2**32), dtype=np.uint32)
    return int(multihost_utils.broadcast_one_to_all(mine))


def gathered(row):
    """Every process's ``row`` of whole numbers, one under the other: an exchange among the cluster's processes.

    The numbers travel as pairs of 32-bit halves (JAX exchanges 32-bit integers unless told
    otherwise), so a count past 2**31 arrives whole.
    """
    from jax.experimental import multihost_utils

    halves = np.ascontiguousarray(row, dtype="<i8").view("<i4")
    rows = np.asarray(multihost_utils.process_allgather(halves), dtype="<i4")
    return np.ascontiguousarray(rows).view("<i8").reshape(len(rows), -1)


def settled_masks(shard: MaskShard, recipe: Recipe, cluster: Cluster, quiet: bool = True) -> ShardedDataset:
    """A mask folder's shard made this process's data set, once the processes have met.

    Each process says what it read (:meth:`MaskShard.facts`): the folder's mode and size and
    the class count (the largest value in any mask) are settled from every process's say,
    the same in all; then the pixels of each class are counted across the shards for the
    label warnings. Only Keras's backend is chosen here: Keras itself is imported later.
    """
    select_backend(recipe)
    with quiet_native_logs(quiet):
        join_cluster(recipe, cluster)
        dataset = settle_shard(shard, gathered(shard.facts()))
        counts = gathered(dataset.class_counts().ravel())
    return dataset.with_counts(counts.reshape(cluster.num_processes, 2, -1).sum(axis=0))


# --- build, fit, save -----------------------------------------------------------------


def fit(
    checked: CheckedModel,
    recipe: Recipe,
    dataset: Dataset,
    directory: RunDirectory | Path | None,
    verbose: int | str = "auto",
    *,
    cluster: Cluster | None = None,
    quiet: bool = True,
    on_epoch: Callable[[dict], bool] | None = None,
) -> TrainResult:
    """Build, train and evaluate a checked model; the framework half of ``train``.

    ``directory`` is the run's directory (a bare path keeps everything); None saves nothing.
    ``on_epoch`` sees each finished epoch's row; returning True stops training there.
    """
    if isinstance(directory, Path):
        directory = RunDirectory(directory)
    backend = select_backend(recipe)
    with quiet_native_logs(quiet):
        placement = place(backend, recipe, cluster)
        if recipe.distribute:
            _notice(_placement_line(placement))
        seed = shared_seed(recipe.seed) if placement.cluster else recipe.seed
        seed_everything(backend, seed)
        model = _compiled(checked, recipe, placement, dataset.num_classes)
        own, scratch = _writable_dir(directory, placement)
        try:
            return _fit_and_save(model, checked, recipe, dataset, own, placement, verbose, seed, on_epoch)
        finally:
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)


def _placement_line(placement: Placement) -> str:
    processes = f" in {placement.processes} processes" if placement.processes > 1 else ""
    return f"cnndsl: {placement.name} with {placement.replicas} replica(s){processes} on {placement.backend}"


def _notice(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _writable_dir(directory: RunDirectory | None, placement: Placement) -> tuple[RunDirectory | None, Path | None]:
    """The run directory, or for a process other than 0 a scratch directory dropped afterwards.

    Saving a model is a collective step under Keras's distribution: every process
    saves, and only process 0's files are kept.
    """
    if directory is None or placement.writer:
        return directory, None
    scratch = Path(tempfile.mkdtemp(prefix="cnndsl-process-"))
    return RunDirectory(scratch / "run", directory.keep), scratch


def _compiled(checked: CheckedModel, recipe: Recipe, placement: Placement, outputs: int):
    """The Keras model, built and compiled in the placement's scope with its task's loss and metrics."""
    import keras

    from cnndsl.backends.keras import build

    task = checked.task
    with placement.scope():
        model = build(checked)
        kwargs = {} if recipe.learning_rate is None else {"learning_rate": recipe.learning_rate}
        optimizer = getattr(keras.optimizers, OPTIMIZERS[recipe.optimizer])(**kwargs)
        logits = task.outputs_logits(checked)  # a head with no softmax or sigmoid: the loss applies it
        model.compile(loss=task.keras_loss(logits), optimizer=optimizer, metrics=task.keras_metrics(outputs, logits))
    return model


def one_hot(labels, classes: int):
    """Integer labels as the one-hot rows categorical cross-entropy takes (classification's encoding)."""
    return CLASSIFY.encode(labels, classes)


def _inputs(dataset, recipe: Recipe, placement: Placement, seed: int | None) -> tuple[dict, Any, Any]:
    """``fit``'s data: training, validation and test, as arrays, batches of files, or a process's share.

    Labels are encoded as the data's task wants them. Validation is on the test split unless
    ``recipe.validation_split`` holds out training data.
    """
    if isinstance(dataset, ImageFolder):
        return _folder_inputs(dataset, recipe, placement, seed)
    if isinstance(dataset, ShardedDataset):
        return _shard_inputs(dataset, recipe, placement, seed)
    task = dataset.task
    x_train, y_train = dataset.x_train, task.encode(dataset.y_train, dataset.num_classes)
    x_test, y_test = dataset.x_test, task.encode(dataset.y_test, dataset.num_classes)
    x_val, y_val = x_test, y_test
    if recipe.validation_split is not None:
        kept, held = held_out(len(x_train), recipe.validation_split, recipe.seed)
        x_train, y_train, x_val, y_val = x_train[kept], y_train[kept], x_train[held], y_train[held]
    if placement.cluster is None:
        kwargs = {"x": x_train, "y": y_train, "batch_size": recipe.batch_size}
        return kwargs, (x_val, y_val), {"x": x_test, "y": y_test, "batch_size": recipe.batch_size}
    from cnndsl.training.shards import shards

    cluster, batch = placement.cluster, recipe.batch_size
    validation = shards(x_val, y_val, batch, cluster, None)
    test = shards(x_test, y_test, batch, cluster, None)
    return {"x": shards(x_train, y_train, batch, cluster, seed)}, validation, {"x": test}


def _shard_inputs(dataset: ShardedDataset, recipe: Recipe, placement: Placement, seed: int | None):
    """A process's shard of arrays read by their files (a mask folder), in batches of its share.

    Every process takes as many batches as the smallest shard fills; training batches are
    shuffled each epoch from the shared seed and the process's index. ``--validation-split``
    holds out the examples one process would, each process validating on its own of them.
    """
    from cnndsl.training.shards import own_batches

    cluster = placement.cluster
    if cluster is None or dataset.shard != (cluster.process_id, cluster.num_processes):
        where = (
            "outside a cluster" if cluster is None else f"as process {cluster.process_id} of {cluster.num_processes}"
        )
        raise RecipeError(
            f"{dataset.source}: process {dataset.shard[0]} of {dataset.shard[1]}'s shard cannot train {where}"
        )
    task, classes = dataset.task, dataset.num_classes
    x, y = dataset.x_train, task.encode(dataset.y_train, classes)
    x_test, y_test = dataset.x_test, task.encode(dataset.y_test, classes)
    share, count = recipe.batch_size // cluster.num_processes, cluster.num_processes
    every_test = np.arange(dataset.test_count)
    if recipe.validation_split is None:
        kept, held, own = np.arange(dataset.train_count), every_test, slice(None)
        x_val, y_val = x_test, y_test
    else:
        kept, held = held_out(dataset.train_count, recipe.validation_split, recipe.seed)
        own = np.isin(dataset.own_rows("train"), kept)
        x_val, y_val = x[~own], y[~own]
    train = own_batches(x[own], y[own], share, _steps(kept, count, share, dataset), seed, cluster.process_id)
    validation = own_batches(x_val, y_val, share, _steps(held, count, share, dataset))
    test = own_batches(x_test, y_test, share, _steps(every_test, count, share, dataset))
    return {"x": train}, validation, {"x": test}


def _steps(rows: np.ndarray, count: int, share: int, dataset: ShardedDataset) -> int:
    """The batches of ``share`` that every process fills from its part of ``rows`` (the split's examples
    it holds: every ``count``-th from its index on); a DataError when some process fills none."""
    smallest = min(int(np.sum(rows % count == process)) for process in range(count))
    if smallest < share:
        raise DataError(
            f"{dataset.source}: {len(rows):,} image(s) shared by {count} processes fill no batch of {share} "
            f"in each process (--batch-size {share * count}); give a smaller --batch-size or more images"
        )
    return smallest // share


def _folder_inputs(dataset: ImageFolder, recipe: Recipe, placement: Placement, seed: int | None):
    """Batches decoded from an image folder's files as training draws them (``tf.data``).

    In a data-parallel cluster each process reads only its shard of each split's files, in
    batches of its share of ``--batch-size``, every process taking the same steps.
    """
    train, validation = dataset.train, dataset.test
    if recipe.validation_split is not None:
        train, validation = dataset.validation_split(recipe.validation_split, recipe.seed)
    batch, cluster = recipe.batch_size, placement.cluster
    if cluster is None:
        return (
            {"x": dataset.batches(train, batch, seed, shuffle=True), "shuffle": False},
            dataset.batches(validation, batch),
            {"x": dataset.batches(dataset.test, batch)},
        )
    if dataset.shard != (cluster.process_id, cluster.num_processes):
        raise RecipeError(
            f"{dataset.source}: the image folder was not read as process {cluster.process_id} of "
            f"{cluster.num_processes}'s shard (load it with shard=({cluster.process_id}, {cluster.num_processes}))"
        )
    share = batch // cluster.num_processes
    return (
        {"x": dataset.shard_batches(train, share, seed, shuffle=True), "shuffle": False},
        dataset.shard_batches(validation, share),
        {"x": dataset.shard_batches(dataset.test, share)},
    )


def _fit_and_save(model, checked, recipe, dataset, directory, placement, verbose, seed, on_epoch=None) -> TrainResult:
    from cnndsl.callbacks import EpochObserver, RunRecorder

    train, validation, test = _inputs(dataset, recipe, placement, seed)
    if directory is not None:
        directory.make()
    path = directory.path if directory is not None else None
    recorder = RunRecorder(path, checkpoints=directory is not None and directory.keep.checkpoints)
    try:
        observers = [EpochObserver(recorder, on_epoch)] if on_epoch else []
        with interrupts.remembered():  # a Ctrl-C that JAX's gc callback swallows is raised at the next batch
            model.fit(
                **train,
                epochs=recipe.epochs,
                verbose=verbose,
                validation_data=validation,
                callbacks=[recorder, *observers],
            )
            interrupts.check()
            scores = _test_scores(model, recipe, placement, recorder, test)
            interrupts.check()
    except KeyboardInterrupt:
        recorder.end_line(verbose)
        _after_interrupt(checked, recipe, dataset, directory, recorder, placement.backend)
        kept = path if placement.writer else None
        raise TrainingInterrupted(kept, len(recorder.history), recorder.checkpoint, recorder.history) from None
    except Exception as error:
        if placement.cluster is None or isinstance(error, OutputError):
            _discard(directory)
            if isinstance(dataset, ImageFolder) and type(error).__module__.startswith("tensorflow"):
                raise DataError(_unread_image(dataset, error)) from None
            raise
        _after_interrupt(checked, recipe, dataset, directory, recorder, placement.backend, "stopped")
        raise ClusterError(_cluster_stopped(error, recorder, placement)) from None
    except BaseException:
        _discard(directory)
        raise
    metrics = make_metrics(checked, recipe, dataset, recorder, placement, scores)
    files = _saved(directory, model, checked, recipe, dataset, recorder.history, metrics) if directory else []
    if not placement.writer:  # a scratch directory, gone when the run ends
        return TrainResult(model, recorder.history, metrics, None, [])
    return TrainResult(model, recorder.history, metrics, path, files)


def _test_scores(model, recipe: Recipe, placement: Placement, recorder, test: dict) -> dict:
    """The trained model's scores on the test split.

    Where validation was the test split itself (the notebook's recipe, in one process),
    the last epoch's validation scores are those scores: the same weights on the same
    batches, so the test split is not run through the model a second time.
    """
    logs = recorder.logs
    if recipe.validation_split is None and placement.cluster is None and "val_loss" in logs:
        return {name[len("val_") :]: value for name, value in logs.items() if name.startswith("val_")}
    return model.evaluate(**test, verbose=0, return_dict=True)


def _unread_image(dataset: ImageFolder, error: Exception) -> str:
    """One line for an image that could not be read while training (changed since the check): the file
    and the problem when Pillow said them, else TensorFlow's own words, without its traceback."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    ours = [line.split("DataError: ", 1)[1] for line in lines if "DataError: " in line]
    if ours:
        return f"{ours[-1]} (while training)"
    skip = ("[[", "Graph execution", "Detected at", "<stack", "File ", "Traceback")
    told = [line for line in lines if not line.startswith(skip)]
    return f"{dataset.source}: an image could not be read while training ({(told or [type(error).__name__])[-1][:200]})"


def _discard(directory: RunDirectory | None) -> None:
    """Remove what a failed run wrote, and the directories it made if left empty."""
    if directory is not None:
        directory.discard()


def _saved(directory: RunDirectory, *run) -> list[Path]:
    """``save_run`` under the directory's policy, discarding the whole run if a file cannot be written."""
    try:
        return save_run(directory.path, *run, keep=directory.keep)
    except Exception:
        directory.discard()
        raise


def _cluster_stopped(error: Exception, recorder, placement: Placement) -> str:
    """One line for a cluster that stopped mid-run: which process, why, what was kept."""
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
    kept = f"; {len(recorder.history)} finished epoch(s) kept" if recorder.history and placement.writer else ""
    return f"another process of the cluster stopped or stopped answering ({reason}); training stopped{kept}"


def _after_interrupt(checked, recipe, dataset, directory, recorder, backend, how="interrupted") -> None:
    """Leave a summary beside what the epochs saved, or remove what the run made if nothing was."""
    if directory is None:
        return
    if not recorder.history:
        directory.after_interrupt(None)
        return
    note = interrupted_text(recipe, len(recorder.history), recorder.best_epoch, recorder.checkpoint, how)
    directory.after_interrupt(summary_text(checked, recipe, dataset, note, backend))
