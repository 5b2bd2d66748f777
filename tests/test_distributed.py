"""``--distribute data-parallel``: real processes over localhost, as a user starts them.

Two processes train a small spec for 2 epochs on the sample; their losses, process 0's
run directory and the final weights (against one process with the same global batch
and seed) are compared. Then the failures: a coordinator that never answers, a process
id outside the cluster, and a process stopped in the middle.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli, wait_until

from cnndsl.errors import DataError
from cnndsl.outputs import RUN_FILES

pytestmark = pytest.mark.slow

SMALL = "CN(8,3)->MP(2)->FL()->DN(32)"
OUTPUTS = set(RUN_FILES)
"""What a finished run leaves: every file the outputs module names."""
RECIPE = ["--data", "sample", "--limit", "256", "--epochs", "2", "--batch-size", "64", "--seed", "0"]
EPOCH_END = re.compile(r"- loss: ([\d.]+) - val_accuracy: ([\d.]+) - val_loss: ([\d.]+)")
EPOCH_END_SEGMENT = re.compile(r"- loss: ([\d.]+) .*- val_loss: ([\d.]+)")
WEIGHT_TOLERANCE = 1e-5
"""Largest difference allowed between two-process and one-process weights (float32 sums in another order)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cluster_flags(port: int, processes: int, process: int, *more: str) -> list[str]:
    return ["--distribute", "data-parallel", "--coordinator", f"127.0.0.1:{port}", "--num-processes", str(processes),
            "--process-id", str(process), *more]  # fmt: skip


def start(tmp_path: Path, name: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), **(env or {})}
    with open(tmp_path / f"{name}.out", "w") as out, open(tmp_path / f"{name}.err", "w") as err:
        return subprocess.Popen([sys.executable, "-m", "cnndsl", *args], stdout=out, stderr=err, env=env, cwd=tmp_path)


def finish(process: subprocess.Popen, timeout: float = 300) -> int:
    try:
        return process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()


def epochs_written(directory: Path) -> int:
    """How many epochs ``history.json`` holds (it is replaced whole, never half-written)."""
    path = directory / "history.json"
    return len(json.loads(path.read_text())) if path.exists() else 0


def weights(path: Path) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(path).get_weights()


@pytest.fixture(scope="module")
def cluster_runs(tmp_path_factory):
    """Two processes, then one process, each a data-parallel run of the same recipe."""
    tmp = tmp_path_factory.mktemp("cluster")
    (tmp / "tmp").mkdir()
    port = free_port()
    both = [start(tmp, f"p{i}", "run", SMALL, *RECIPE, *cluster_flags(port, 2, i), "--output", str(tmp / f"two{i}"))
            for i in (0, 1)]  # fmt: skip
    codes = [finish(process) for process in both]
    single = start(
        tmp, "single", "run", SMALL, *RECIPE, *cluster_flags(free_port(), 1, 0), "--output", str(tmp / "one")
    )
    codes.append(finish(single))
    return tmp, codes


def test_two_processes_train_in_step_and_process_0_writes_the_run(cluster_runs):
    tmp, codes = cluster_runs
    errors = {name: (tmp / f"{name}.err").read_text() for name in ("p0", "p1", "single")}
    assert codes == [0, 0, 0], errors
    losses = [EPOCH_END.findall((tmp / f"p{i}.out").read_text()) for i in (0, 1)]
    assert len(losses[0]) == 2 and losses[0] == losses[1]  # every epoch's losses, as each process printed them
    assert "cnndsl: DataParallel with 2 replica(s) in 2 processes on jax" in errors["p0"]
    assert all("Traceback" not in text and "I0000" not in text for text in errors.values())
    assert {path.name for path in (tmp / "two0").iterdir()} == OUTPUTS
    assert not (tmp / "two1").exists() and list((tmp / "tmp").iterdir()) == []  # process 1 leaves nothing
    metrics = json.loads((tmp / "two0" / "metrics.json").read_text())
    assert (metrics["processes"], metrics["replicas"], metrics["backend"]) == (2, 2, "jax")
    assert "Wrote" in (tmp / "p0.out").read_text() and "Wrote" not in (tmp / "p1.out").read_text()


def test_two_processes_end_with_the_weights_of_one_process_with_the_same_global_batch(cluster_runs):
    tmp, _ = cluster_runs
    two, one = weights(tmp / "two0" / "model.keras"), weights(tmp / "one" / "model.keras")
    assert [w.shape for w in two] == [w.shape for w in one]
    assert max(float(np.abs(a - b).max()) for a, b in zip(two, one)) <= WEIGHT_TOLERANCE
    first = json.loads((tmp / "one" / "history.json").read_text())
    assert first[0]["loss"] != json.loads((tmp / "two0" / "history.json").read_text())[-1]["loss"]  # it trained


OPENED = """
import os

from PIL import Image

_open = Image.open


def _recorded(fp, *args, **kwargs):
    with open(os.environ["CNNDSL_TEST_OPENED"], "a") as log:
        log.write(f"{fp}\\n")
    return _open(fp, *args, **kwargs)


Image.open = _recorded
"""
"""A ``sitecustomize`` that records every image file a process opens (checked or decoded, by Pillow)."""


def image_folder(root: Path, per_class: int = 15) -> set[str]:
    """Two classes of 8x8 grayscale BMP files (decoded by Pillow, so every read is recorded); their paths."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, low in (("dark", 0), ("light", 128)):
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(low, low + 128, (8, 8), dtype=np.uint8)
            Image.fromarray(pixels, "L").save(root / label / f"{index:02}.bmp")
    return {str(path) for path in root.rglob("*.bmp")}


def test_two_processes_train_on_an_image_folder_each_reading_only_its_shard(tmp_path):
    (tmp_path / "tmp").mkdir()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(OPENED)
    files = image_folder(tmp_path / "images")
    port = free_port()
    recipe = ["--data", str(tmp_path / "images"), "--input-shape", "8,8,1", "--epochs", "2", "--batch-size", "4",
              "--seed", "0"]  # fmt: skip
    path = os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])
    both = [start(tmp_path, f"p{i}", "run", "CN(4,3)->FL()", *recipe, *cluster_flags(port, 2, i),
                  "--output", str(tmp_path / f"two{i}"),
                  env={"PYTHONPATH": path, "CNNDSL_TEST_OPENED": str(tmp_path / f"opened{i}")})
            for i in (0, 1)]  # fmt: skip
    codes = [finish(process) for process in both]
    errors = [(tmp_path / f"p{i}.err").read_text() for i in (0, 1)]
    assert codes == [0, 0], errors
    assert {path.name for path in (tmp_path / "two0").iterdir()} == OUTPUTS and not (tmp_path / "two1").exists()
    metrics = json.loads((tmp_path / "two0" / "metrics.json").read_text())
    assert (metrics["processes"], metrics["backend"]) == (2, "jax")
    assert metrics["data"]["train_images"] + metrics["data"]["test_images"] == len(files) == 30  # the whole folder
    losses = [EPOCH_END.findall((tmp_path / f"p{i}.out").read_text()) for i in (0, 1)]
    assert len(losses[0]) == 2 and losses[0] == losses[1]
    opened = [set((tmp_path / f"opened{i}").read_text().split()) for i in (0, 1)]
    assert opened[0] | opened[1] == files and not opened[0] & opened[1]  # every file in exactly one shard
    assert abs(len(opened[0]) - len(opened[1])) <= 2  # near-equal: one file at most in each split
    for i in (0, 1):
        told = re.search(r"process (\d) of 2 reads its shard of the files: (\d+) of (\d+) training and (\d+) of (\d+)",
                         errors[i])  # fmt: skip
        assert told and int(told[1]) == i and int(told[2]) + int(told[4]) == len(opened[i]), errors[i]


def mask_folder(root: Path, count: int = 20, top: str = "im13") -> set[str]:
    """8x8 grayscale images beside masks of classes 0 and 1, but for one mask (``top``) that also holds a 3."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for part in ("images", "masks"):
        (root / part).mkdir(parents=True)
    for index in range(count):
        name = f"im{index:02}"
        mask = rng.integers(0, 2, (8, 8), dtype=np.uint8)
        mask[0, 0] = 3 if name == top else mask[0, 0]
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), "L").save(root / "images" / f"{name}.png")
        Image.fromarray(mask, "L").save(root / "masks" / f"{name}.png")
    return {str(path) for path in root.rglob("*.png")}


def test_two_processes_train_on_a_mask_folder_each_reading_only_its_shard_and_agree_on_the_classes(tmp_path):
    (tmp_path / "tmp").mkdir()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(OPENED)
    files = mask_folder(tmp_path / "masked")
    port = free_port()
    recipe = ["--data", str(tmp_path / "masked"), "--epochs", "2", "--batch-size", "4", "--seed", "0"]
    path = os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])
    both = [start(tmp_path, f"p{i}", "run", "CN(4,3,padding=same)", *recipe, *cluster_flags(port, 2, i),
                  "--output", str(tmp_path / f"two{i}"),
                  env={"PYTHONPATH": path, "CNNDSL_TEST_OPENED": str(tmp_path / f"opened{i}")})
            for i in (0, 1)]  # fmt: skip
    codes = [finish(process) for process in both]
    errors = [(tmp_path / f"p{i}.err").read_text() for i in (0, 1)]
    assert codes == [0, 0], errors
    assert {path.name for path in (tmp_path / "two0").iterdir()} == OUTPUTS and not (tmp_path / "two1").exists()
    metrics = json.loads((tmp_path / "two0" / "metrics.json").read_text())
    assert (metrics["processes"], metrics["data"]["task"]) == (2, "segment")
    assert metrics["data"]["train_images"] + metrics["data"]["test_images"] == 20  # the whole folder
    assert metrics["data"]["num_classes"] == 4  # the largest value in any mask, 3, though one process never saw it
    losses = [EPOCH_END_SEGMENT.findall((tmp_path / f"p{i}.out").read_text()) for i in (0, 1)]
    assert len(losses[0]) == 2 and losses[0] == losses[1], losses
    opened = [set((tmp_path / f"opened{i}").read_text().split()) for i in (0, 1)]
    assert opened[0] | opened[1] == files and not opened[0] & opened[1]  # every file in exactly one shard
    assert abs(len(opened[0]) - len(opened[1])) <= 4  # near-equal: one image and its mask at most in each split
    assert sum(str(tmp_path / "masked" / "masks" / "im13.png") in files for files in opened) == 1
    for i in (0, 1):
        told = re.search(r"process (\d) of 2 reads its shard of the files: (\d+) of (\d+) training and (\d+) of (\d+)",
                         errors[i])  # fmt: skip
        assert told and int(told[1]) == i and 2 * (int(told[2]) + int(told[4])) == len(opened[i]), errors[i]


def test_the_shards_of_a_mask_folder_settle_into_the_arrays_one_process_reads(tmp_path):
    """Every process's shard, settled with all their facts as the exchange gives them, holds exactly
    one process's rows (its own), in the folder's mode (one colour image among grayscale ones is read
    again as grayscale), with the whole folder's class count and label warnings."""
    from PIL import Image

    from cnndsl.datasets import load_data, settle_shard

    mask_folder(tmp_path / "masked", count=13, top="im07")
    Image.new("RGB", (8, 8), (200, 10, 90)).save(tmp_path / "masked" / "images" / "im05.png")
    whole = load_data(str(tmp_path / "masked"))
    assert whole.num_classes == 4 and whole.label_warnings()  # no pixel is labelled 2
    for count in (2, 3):
        shards = [load_data(str(tmp_path / "masked"), shard=(i, count)) for i in range(count)]
        facts = np.stack([shard.facts() for shard in shards])
        settled = [settle_shard(shard, facts) for shard in shards]
        counts = sum(dataset.class_counts() for dataset in settled)
        settled = [dataset.with_counts(counts) for dataset in settled]
        assert {dataset.num_classes for dataset in settled} == {4}
        assert all(dataset.label_warnings() == whole.label_warnings() for dataset in settled)
        assert all(dataset.describe() == whole.describe() for dataset in settled)
        for split in ("train", "test"):
            rows = [dataset.own_rows(split) for dataset in settled]
            assert sorted(np.concatenate(rows).tolist()) == list(range(len(getattr(whole, f"x_{split}"))))
            for name in (f"x_{split}", f"y_{split}"):
                assert all(np.array_equal(getattr(d, name), getattr(whole, name)[r]) for d, r in zip(settled, rows))
    with pytest.raises(DataError, match="cannot be shared by 3 processes"):
        load_data(str(tmp_path / "masked"), shard=(0, 3), test_split=0.1)


@pytest.mark.parametrize("validation_split", [None, 0.3])
def test_the_shards_of_a_mask_folder_train_and_validate_on_what_one_process_would_in_equal_steps(
    tmp_path, validation_split
):
    from cnndsl.datasets import load_data, settle_shard
    from cnndsl.splits import held_out
    from cnndsl.training.recipe import Cluster, Recipe
    from cnndsl.training.runner import Placement, _inputs

    mask_folder(tmp_path / "masked", count=30)
    whole = load_data(str(tmp_path / "masked"))
    shards = [load_data(str(tmp_path / "masked"), shard=(i, 3)) for i in range(3)]
    facts = np.stack([shard.facts() for shard in shards])
    recipe = Recipe(batch_size=6, seed=0, validation_split=validation_split)
    fed = []
    for index, shard in enumerate(shards):
        cluster = Cluster("127.0.0.1:7777", 3, index)
        placement = Placement("jax", lambda: None, 3, 3, index == 0, cluster)
        train, validation, test = _inputs(settle_shard(shard, facts), recipe, placement, 0)
        fed.append([np.concatenate([x for x, _ in (split[i] for i in range(len(split)))]) for split in
                    (train["x"], validation, test["x"])])  # fmt: skip
        assert [len(split) for split in (train["x"], validation, test["x"])] == [len(f) // 2 for f in fed[-1]]
    kept, held = (np.arange(len(whole.x_train)), None) if validation_split is None else held_out(24, 0.3, 0)
    parts = {"train": whole.x_train[kept], "validation": whole.x_test if held is None else whole.x_train[held],
             "test": whole.x_test}  # fmt: skip
    for at, name in enumerate(parts):
        rows = [set(map(bytes, (image for image in process[at]))) for process in fed]
        assert not (rows[0] & rows[1] or rows[1] & rows[2] or rows[0] & rows[2])  # no image fed twice
        assert set().union(*rows) <= set(map(bytes, parts[name]))  # only the split's own images
        assert len({len(process[at]) for process in fed}) == 1  # every process the same steps


@pytest.mark.parametrize("validation_split", [None, 0.3])
def test_the_shards_of_an_image_folder_hold_every_file_once_and_take_the_same_steps(tmp_path, validation_split):
    from cnndsl.images import load_folder, shard

    image_folder(tmp_path / "images")
    shards = [load_folder(tmp_path / "images", (8, 8, 1), shard=(i, 3), limit=20) for i in range(3)]
    whole = load_folder(tmp_path / "images", (8, 8, 1)).limited(20)
    assert all((s.train, s.test) == (whole.train, whole.test) for s in shards)  # every process lists alike
    assert (len(whole.train), len(whole.test)) == (20, 6)
    train, validation = whole.train, whole.test
    if validation_split is not None:
        train, validation = whole.validation_split(validation_split, 0)
    for split in (train, validation):
        parts = [shard(split, i, 3) for i in range(3)]
        assert sorted(pair for part in parts for pair in part) == sorted(split)  # each file in exactly one shard
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        steps = [len(list(s.shard_batches(split, 2))) for s in shards]
        assert steps == [len(split) // 3 // 2] * 3 and steps[0] > 0


def test_an_unreachable_coordinator_is_one_line_and_exit_2_within_the_timeout(tmp_path):
    started = time.monotonic()
    flags = cluster_flags(free_port(), 2, 1, "--connect-timeout", "3")
    result = run_cli("run", SMALL, *RECIPE, *flags, cwd=tmp_path, env={"TMPDIR": str(tmp_path)}, process=True)
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"cnndsl: error: process 1 of 2 could not reach the coordinator at {flags[3]} within 3 s "
        "(connection refused); nothing was written"
    ]
    assert elapsed < 3 + 20  # the timeout, and the interpreter's start
    assert list(tmp_path.iterdir()) == []


def test_a_coordinator_whose_processes_never_come_is_one_line_and_exit_2(tmp_path):
    flags = cluster_flags(free_port(), 2, 0, "--connect-timeout", "3")
    result = run_cli(
        "run", SMALL, *RECIPE, *flags, cwd=tmp_path, env={"TMPDIR": str(tmp_path)}, timeout=120, process=True
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"cnndsl: error: process 0 of 2 could not wait for the other processes at {flags[3]} within 3 s "
        "(--connect-timeout); nothing was written"
    )
    assert "Traceback" not in result.stderr and "Check failure" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (["--num-processes", "2", "--process-id", "2"], {}, "--process-id 2 is outside the cluster: with --num-processes 2 it is 0 to 1"),
        (["--num-processes", "2", "--process-id", "-1"], {}, "--process-id -1 is outside the cluster"),
        (["--num-processes", "2"], {"KERAS_DISTRIBUTION_PROCESS_ID": "5"}, "--process-id 5 is outside the cluster"),
        (["--num-processes", "0", "--process-id", "0"], {}, "--num-processes must be a whole number from 1"),
        (["--process-id", "0"], {"KERAS_DISTRIBUTION_NUM_PROCESSES": "two"}, "KERAS_DISTRIBUTION_NUM_PROCESSES must be a whole number"),
    ],
)  # fmt: skip
def test_a_bad_cluster_is_a_usage_error_before_anything_starts(tmp_path, flags, env, message):
    args = ["run", SMALL, "--data", "sample", "--distribute", "data-parallel", "--coordinator", "127.0.0.1:9", *flags]
    result = run_cli(*args, cwd=tmp_path, env=env, process=True)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and "DataParallel" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_cluster_comes_from_keras_environment_variables(tmp_path):
    env = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "127.0.0.1:1", "KERAS_DISTRIBUTION_NUM_PROCESSES": "3"}
    result = run_cli(
        "run", SMALL, "--distribute", "data-parallel", "--process-id", "3", cwd=tmp_path, env=env, process=True
    )
    assert result.returncode == 2 and "--process-id 3 is outside the cluster: with --num-processes 3" in result.stderr


def test_ctrl_c_in_one_process_stops_the_other_and_process_0_keeps_its_epochs(tmp_path):
    (tmp_path / "tmp").mkdir()
    port = free_port()
    recipe = ["--data", "sample", "--limit", "1024", "--epochs", "500", "--batch-size", "64", "--seed", "0"]
    out = tmp_path / "run"
    zero = start(tmp_path, "p0", "run", SMALL, *recipe, *cluster_flags(port, 2, 0), "--output", str(out))
    one = start(tmp_path, "p1", "run", SMALL, *recipe, *cluster_flags(port, 2, 1))
    try:
        # Two finished epochs, not one: process 0 writes the history as soon as its first epoch ends,
        # while process 1 may still be finishing its own. Epoch 2's steps need both processes, so once
        # process 0 has finished it, process 1 has certainly counted epoch 1.
        wait_until(lambda: epochs_written(out) >= 2, zero, 240)
        assert epochs_written(out) >= 2, (tmp_path / "p0.err").read_text()
        one.send_signal(signal.SIGINT)
        stopped = time.monotonic()
        codes = finish(one, 60), finish(zero, 60)
        assert time.monotonic() - stopped < 60
    finally:
        for process in (zero, one):
            if process.poll() is None:
                process.kill()
    errors = [(tmp_path / f"p{i}.err").read_text().splitlines() for i in (0, 1)]
    assert codes == (130, 2), errors
    assert errors[1][-1].startswith("cnndsl: interrupted after ") and "/tmp" not in errors[1][-1]
    assert errors[0][-1].startswith("cnndsl: error: another process of the cluster stopped")
    assert errors[0][-1].endswith("finished epoch(s) kept")
    history = json.loads((out / "history.json").read_text())
    assert len(history) >= 1 and f"Stopped after {len(history)} of 500 epochs" in (out / "summary.txt").read_text()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_compare_trains_each_model_across_two_processes_and_process_0_writes_the_table(tmp_path):
    (tmp_path / "tmp").mkdir()
    port, out = free_port(), tmp_path / "cmp"
    specs = ["MP(4)->FL()->DN(16)", "CN(8->FL()", "MP(2)->FL()"]
    recipe = [
        "--data",
        "sample",
        "--limit",
        "128",
        "--epochs",
        "1",
        "--batch-size",
        "64",
    ]  # no seed: process 0's is shared
    both = [start(tmp_path, f"p{i}", "compare", *specs, *recipe, *cluster_flags(port, 2, i), "--output", str(out))
            for i in (0, 1)]  # fmt: skip
    codes = [finish(process) for process in both]
    errors = [(tmp_path / f"p{i}.err").read_text() for i in (0, 1)]
    assert codes == [1, 1], errors  # a spec was rejected, in both
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.md", "compare.png", "model1", "model3"]
    tables = [[line.split(" | ")[:4] for line in (tmp_path / f"p{i}.out").read_text().splitlines() if line.startswith("| ")]
              for i in (0, 1)]  # fmt: skip
    assert tables[0] == tables[1] and len(tables[0]) == 4  # the same scores in both processes (times differ)
    assert list((tmp_path / "tmp").iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == [
        "cmp", "p0.err", "p0.out", "p1.err", "p1.out", "tmp",
    ]  # fmt: skip


def test_a_flag_wins_over_keras_environment_variable_and_the_first_address_is_the_coordinator():
    from cnndsl.training import cluster_settings

    env = {"KERAS_DISTRIBUTION_PROCESS_ID": "5", "KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:7777,10.0.0.2:7777"}
    cluster = cluster_settings(None, 2, 1, environ=env)
    assert (cluster.process_id, cluster.host, cluster.port, cluster.is_writer) == (1, "10.0.0.1", 7777, False)
    assert cluster_settings("h:1", None, None, environ={**env, "KERAS_DISTRIBUTION_NUM_PROCESSES": "8"}).process_id == 5


def test_verbose_turns_the_frameworks_start_up_logging_back_on(monkeypatch):
    import cnndsl.training
    from cnndsl.cli import main

    seen = []
    monkeypatch.setattr(cnndsl.training, "train", lambda *args, **kwargs: seen.append(kwargs["quiet"]) or 1 / 0)
    for flags in ([], ["--verbose"]):
        with pytest.raises(ZeroDivisionError):
            main(["run", "FL()", *flags])
    assert seen == [True, False]
