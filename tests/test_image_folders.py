"""Image folders as training data: listing, reading, splits, bad data, and training on them."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli
from PIL import Image

from cnndsl.datasets import load_data
from cnndsl.errors import DataError
from cnndsl.images import ImageFolder, list_images, load_folder, read_image
from cnndsl.splits import carve_test, held_out

CLASSES = ("circle", "square", "stripes")
SUFFIXES = (".png", ".jpg", ".bmp", ".gif")
MODES = ("L", "RGB", "P", "RGBA", "1", "LA")


def drawing(label: int, size: int, rng) -> np.ndarray:
    """A distinguishable picture of class ``label`` on noise: a disc, a frame, or stripes."""
    y, x = np.mgrid[:size, :size] / size
    if label == 0:
        shape = (x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.09
    elif label == 1:
        shape = (abs(x - 0.5) < 0.35) & (abs(y - 0.5) < 0.35) & ~((abs(x - 0.5) < 0.2) & (abs(y - 0.5) < 0.2))
    else:
        shape = np.floor(x * 6) % 2 == 0
    return (shape * 190 + rng.integers(0, 60, shape.shape)).astype(np.uint8)


def make_folder(root: Path, per_class: int = 30, classes=CLASSES, seed: int = 0, sizes=(20, 40)) -> Path:
    """A folder per class of small images of mixed sizes, formats and colour modes."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = Image.fromarray(drawing(label % 3, int(rng.integers(*sizes)), rng)).convert(MODES[i % len(MODES)])
            suffix = SUFFIXES[i % len(SUFFIXES)]
            if suffix in (".jpg", ".bmp") and image.mode not in ("L", "RGB"):
                image = image.convert("RGB")
            image.save(root / name / f"{i:03d}{suffix}")
    return root


@pytest.fixture
def folder(tmp_path) -> Path:
    return make_folder(tmp_path / "shapes")


# --- listing and reading --------------------------------------------------------------


def test_classes_are_the_sorted_folder_names_and_labels_their_index(tmp_path):
    root = make_folder(tmp_path / "d", per_class=2, classes=("zebra", "ant", "moth"))
    (root / "ant" / "nested").mkdir()
    Image.new("L", (5, 5)).save(root / "ant" / "nested" / "deep.png")
    listing = list_images(root)
    assert listing.class_names == ("ant", "moth", "zebra")
    labels = {path.relative_to(root).as_posix(): label for path, label in listing.pairs}
    assert labels["ant/nested/deep.png"] == 0 and labels["moth/000.png"] == 1 and labels["zebra/001.jpg"] == 2
    assert len(listing.pairs) == 7


def test_files_that_are_not_images_are_skipped_and_counted_hidden_ones_ignored(folder, capsys):
    (folder / "circle" / "README.txt").write_text("notes")
    (folder / "square" / "Thumbs.db").write_bytes(b"\0" * 10)
    (folder / "square" / ".DS_Store").write_bytes(b"\0" * 10)
    (folder / ".cache").mkdir()
    dataset = load_data(str(folder))
    assert dataset.class_names == CLASSES
    assert dataset.train_count + dataset.test_count == 90
    assert "skipped 2 file(s) that are not PNG, JPEG, BMP or GIF images (.db, .txt)" in dataset.notice


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_any_mode_is_read_in_the_models_channels_resized_and_scaled(tmp_path, mode, channels):
    pixels = np.tile(np.linspace(0, 255, 12, dtype=np.uint8), (9, 1))
    image = Image.fromarray(pixels).convert("RGB").convert(mode) if mode != "I;16" else None
    if mode == "I;16":
        image = Image.fromarray(pixels.astype(np.uint16) * 257)
    suffix = ".jpg" if mode == "CMYK" else ".png"
    path = tmp_path / f"x{suffix}"
    image.save(path)
    array = read_image(path, (6, 8, channels))
    assert array.shape == (6, 8, channels) and array.dtype == np.float32
    assert array.min() >= 0 and array.max() <= 1
    gray = array[..., 0] if channels == 1 else array[..., :3].mean(axis=-1)
    if mode != "1":  # a gradient stays one, left to right, whatever the mode
        assert gray[:, 0].mean() < 0.2 and gray[:, -1].mean() > 0.8


def test_read_image_matches_pillow_bilinear_resize_exactly(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    expected = np.asarray(Image.fromarray(pixels).resize((11, 7), Image.Resampling.BILINEAR), np.float32) / 255
    np.testing.assert_array_equal(read_image(tmp_path / "x.png", (7, 11, 3)), expected)


# --- sizes and splits -----------------------------------------------------------------


def test_without_a_size_the_first_image_gives_it_and_the_console_says_so(folder):
    dataset = load_data(str(folder))
    first = Image.open(folder / "circle" / "000.png")
    assert dataset.input_shape == (first.height, first.width, 1)
    assert f"the size of the first image ({folder / 'circle' / '000.png'})" in dataset.notice


def test_a_size_given_wins_and_none_is_filled_from_the_first_image(folder):
    assert load_data(str(folder), input_shape=(16, 12, 3)).input_shape == (16, 12, 3)
    assert load_data(str(folder), input_shape=(None, None, 3)).input_shape[2] == 3


def test_the_test_split_is_the_same_files_every_run_and_a_fraction_of_each_class(folder):
    first, second = load_folder(folder), load_folder(folder)
    assert first.test == second.test and first.train == second.train
    assert len(first.test) == 18 and {label for _, label in first.test} == {0, 1, 2}
    assert not {path for path, _ in first.test} & {path for path, _ in first.train}
    assert len(load_folder(folder, test_split=0.5).test) == 45
    kept = {path.name for path, _ in first.test}  # a new file leaves the other files where they were
    Image.new("L", (9, 9)).save(folder / "circle" / "zzz.png")
    assert {p.name for p, _ in load_folder(folder).test if p.name != "zzz.png"} >= kept - {"zzz.png"}


def test_carving_never_leaves_a_class_without_training_images():
    train, test = carve_test(["a/1", "b/1", "b/2"], [0, 1, 1], 0.9)
    assert train == [0, 2] and test == [1]


def test_a_train_and_test_layout_is_used_as_given(tmp_path):
    make_folder(tmp_path / "d" / "train", per_class=4)
    make_folder(tmp_path / "d" / "test", per_class=2, classes=("square", "stripes"))
    dataset = load_folder(tmp_path / "d")
    assert dataset.class_names == CLASSES and len(dataset.train) == 12 and len(dataset.test) == 4
    assert {label for _, label in dataset.test} == {1, 2}  # labelled by train/'s classes
    with pytest.raises(DataError, match="holds its own test/ folder"):
        load_folder(tmp_path / "d", test_split=0.3)
    make_folder(tmp_path / "d" / "test", per_class=1, classes=("owl",))
    with pytest.raises(DataError, match=r"test/owl: a class that the training images do not have"):
        load_folder(tmp_path / "d")


def test_the_validation_split_is_deterministic_with_the_seed_and_disjoint_from_test(folder):
    dataset = load_folder(folder)
    train, held = dataset.validation_split(0.25, 7)
    again = dataset.validation_split(0.25, 7)
    assert (train, held) == again and len(held) == 18 and len(train) == 54
    assert set(train) | set(held) == set(dataset.train) and not set(train) & set(held)
    assert not set(held) & set(dataset.test)
    assert dataset.validation_split(0.25, 8)[1] != held


def test_held_out_indices_are_a_seeded_partition():
    kept, held = held_out(100, 0.1, 3)
    assert len(held) == 10 and sorted([*kept, *held]) == list(range(100))
    assert held.tolist() == held_out(100, 0.1, 3)[1].tolist() != held_out(100, 0.1, 4)[1].tolist()


# --- bad data: one line naming the file, exit 2 ---------------------------------------


def _bad(root: Path, case: str) -> str:
    """Make ``root`` a folder with one problem; return what the message must name."""
    make_folder(root, per_class=3, classes=("a", "b"))
    if case == "empty class":
        (root / "c").mkdir()
        return f"{root / 'c'}: no images in this class folder"
    if case == "single class":
        for path in (root / "b").iterdir():
            path.unlink()
        (root / "b").rmdir()
        return f"{root}: only one class folder (a)"
    if case == "corrupt":
        (root / "b" / "001.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        return f"{root / 'b' / '001.png'}: corrupt or truncated image"
    if case == "truncated png":
        data = (root / "a" / "000.png").read_bytes()
        (root / "a" / "000.png").write_bytes(data[: len(data) // 2])
        return f"{root / 'a' / '000.png'}: corrupt or truncated image"
    if case == "truncated jpeg":
        data = (root / "b" / "001.jpg").read_bytes()
        (root / "b" / "001.jpg").write_bytes(data[: len(data) // 2])
        return f"{root / 'b' / '001.jpg'}: corrupt or truncated image"
    if case == "text named png":
        (root / "a" / "notes.png").write_text("hello")
        return f"{root / 'a' / 'notes.png'}: not an image"
    if case == "tiff named png":
        Image.new("RGB", (4, 4)).save(root / "a" / "scan.png", format="TIFF")
        return f"{root / 'a' / 'scan.png'}: a TIFF image; image folders hold PNG, JPEG, BMP or GIF files"
    if case == "folder loop":
        (root / "b" / "up").symlink_to("..")
        return "symbolic link loop (it leads back to a folder above it)"
    if case == "link to itself":
        (root / "a" / "self.png").symlink_to("self.png")
        return f"{root / 'a' / 'self.png'}: symbolic link loop"
    if case == "broken link":
        (root / "a" / "gone.png").symlink_to("nowhere.png")
        return f"{root / 'a' / 'gone.png'}: broken symbolic link"
    if case == "fifo":
        os.mkfifo(root / "a" / "pipe.png")
        return f"{root / 'a' / 'pipe.png'}: not a regular file"
    raise AssertionError(case)


BAD = ["empty class", "single class", "corrupt", "truncated png", "truncated jpeg", "text named png",
       "tiff named png", "folder loop", "link to itself", "broken link", "fifo"]  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_bad_data_is_one_line_naming_the_file_and_exit_2(tmp_path, case):
    expected = _bad(tmp_path / "d", case)
    result = run_cli("run", "FL()", "--data", str(tmp_path / "d"), "--output", str(tmp_path / "run"), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("cnndsl: error: ") and expected in result.stderr
    assert not (tmp_path / "run").exists()


def test_an_unreadable_image_is_one_line_naming_it(tmp_path):
    """Unreadable for the user running: as root, a forked child that drops to nobody reads the folder."""
    root = Path(tempfile.mkdtemp(dir=tmp_path if os.geteuid() else "/tmp"))
    os.chmod(root, 0o755)
    make_folder(root / "d", per_class=2, classes=("a", "b"))
    os.chmod(root / "d" / "b" / "001.jpg", 0)
    message = _in_unprivileged_child(lambda: load_data(str(root / "d"))) if os.geteuid() == 0 else None
    if message is None:
        with pytest.raises(DataError) as error:
            load_data(str(root / "d"))
        message = str(error.value)
    assert message == f"{root / 'd' / 'b' / '001.jpg'}: cannot read (Permission denied)"


def _in_unprivileged_child(work) -> str:
    """Run ``work`` in a forked child as user nobody; the DataError's message it raised."""
    import PIL.Image  # noqa: F401  (loaded before the fork: nobody may not read site-packages)

    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.close(reader)
        try:
            os.setgid(65534)
            os.setuid(65534)
            work()
            text = "no error"
        except DataError as error:
            text = str(error)
        except BaseException as error:
            text = f"{type(error).__name__}: {error}"
        os.write(writer, text.encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as stream:
        text = stream.read()
    os.waitpid(pid, 0)
    return text


# --- training on a folder -------------------------------------------------------------


@pytest.mark.slow
def test_three_epochs_on_a_folder_beat_90_percent_and_the_run_names_the_classes(folder, tmp_path):
    import cnndsl

    spec = "IN(24,24,1)->CN(8,3)->MP(2)->CN(16,3)->MP(2)->FL()->DN(32)"
    result = cnndsl.train(spec, data=str(folder), epochs=3, batch_size=8, seed=1, output=tmp_path / "run")
    assert result.metrics["test_accuracy"] > 0.9
    data = result.metrics["data"]
    assert data["class_names"] == list(CLASSES) and data["num_classes"] == 3 and data["input_shape"] == [24, 24, 1]
    assert (data["train_images"], data["test_images"]) == (72, 18)
    assert result.metrics["validation"] == {"split": "test", "images": 18}
    summary = (tmp_path / "run" / "summary.txt").read_text()
    assert "3 classes (circle, square, stripes)" in summary
    assert "Validation: on the test split after each epoch, as the notebook's recipe does" in summary
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["data"]["class_names"] == list(CLASSES)


@pytest.mark.slow
def test_a_held_out_validation_split_is_recorded_and_the_test_split_scored_once(folder, tmp_path):
    import cnndsl

    result = cnndsl.train(
        "CN(4,3)->MP(2)->FL()", data=str(folder), epochs=1, batch_size=16, seed=3,
        validation_split=0.25, input_shape=(16, 16, 3), output=tmp_path / "run",
    )  # fmt: skip
    assert result.metrics["validation"] == {"split": "held-out", "fraction": 0.25, "seed": 3, "images": 18}
    assert result.metrics["data"]["input_shape"] == [16, 16, 3]
    assert "18 training images (0.25) held out with seed 3" in (tmp_path / "run" / "summary.txt").read_text()


@pytest.mark.slow
def test_the_validation_data_of_arrays_is_held_out_of_training_never_the_test_split():
    from cnndsl.training.recipe import Recipe
    from cnndsl.training.runner import Placement, _inputs

    dataset = load_data("sample", 200)
    recipe = Recipe(data="sample", seed=5, validation_split=0.1)
    train, (x_val, _), test = _inputs(dataset, recipe, Placement("tensorflow", None), 5)
    kept, held = held_out(200, 0.1, 5)
    np.testing.assert_array_equal(x_val, dataset.x_train[held])
    np.testing.assert_array_equal(train["x"], dataset.x_train[kept])
    assert test["x"] is dataset.x_test and len(x_val) == 20 and len(train["x"]) == 180


@pytest.mark.slow
def test_cnndsl_run_trains_on_a_folder_and_says_where_the_size_came_from(folder, tmp_path):
    result = run_cli(
        "run", "CN(4,3)->MP(2)->FL()", "--data", str(folder), "--epochs", "1", "--validation-split", "0.2",
        "--seed", "0", "--output", str(tmp_path / "run"), timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "the size of the first image" in result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["validation"]["split"] == "held-out" and metrics["recipe"]["validation_split"] == 0.2


def test_an_image_folder_is_an_image_folder_dataset_and_arrays_stay_arrays(folder):
    assert isinstance(load_data(str(folder)), ImageFolder)
    with pytest.raises(DataError, match="--test-split carves a test split from an image folder"):
        load_data("sample", test_split=0.3)


@pytest.mark.slow
def test_compare_names_the_classes_under_its_table(folder, tmp_path):
    import cnndsl

    result = cnndsl.compare(["CN(4,3)->MP(2)->FL()", "FL()"], data=str(folder), epochs=1, output=tmp_path / "cmp")
    assert result.table.endswith("\nClasses: circle, square, stripes")
    assert (tmp_path / "cmp" / "compare.md").read_text().endswith("\n\nClasses: circle, square, stripes\n")


@pytest.mark.parametrize(("given", "used"), [(None, 0.1), (0.3, 0.3), ("test", "test")])
def test_a_sweep_validates_on_held_out_training_data_unless_told_otherwise(tmp_path, given, used):
    from cnndsl.sweeps import make_plan
    from cnndsl.training.recipe import Recipe

    recipe = {"epochs": 1, "validation_split": given}
    plan = make_plan("CN({4,8},3)->FL()", "sample", 2, "grid", None, None, "val_accuracy", tmp_path, None, None, recipe)
    assert plan.recipe["validation_split"] == used
    assert Recipe(**{k: v for k, v in plan.recipe.items()}).validation_split == (None if used == "test" else used)


# --- streamed, not loaded whole -------------------------------------------------------

MEMORY_SCRIPT = """
import resource, sys
limit, whole = int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
import numpy as np
try:
    np.ones(whole, dtype=np.uint8)
    print("the whole folder fits")
except MemoryError:
    print("the whole folder does not fit")
import cnndsl
result = cnndsl.train("IN(256,256,3)->CN(4,3,strides=4)->GAP()", data=sys.argv[1], epochs=1, batch_size=16,
                      save=False, verbose=0)
print(result.metrics["data"]["train_images"], "trained")
"""


@pytest.mark.slow
def test_a_folder_larger_than_the_memory_the_process_may_have_trains(tmp_path):
    """1,600 images of 256x256x3 decode to 1.26 GB of float32 pixels; the process may have 1.1 GB of data."""
    import subprocess
    import sys

    from PIL import ImageDraw

    count, size = 1600, 256
    for label, name in enumerate(("disc", "box")):
        (tmp_path / "big" / name).mkdir(parents=True)
        for i in range(count // 2):
            image = Image.new("RGB", (size, size), (i % 256, 80, 160))
            r = size // 4 + i % (size // 8)
            box = (size // 2 - r, size // 2 - r, size // 2 + r, size // 2 + r)
            (ImageDraw.Draw(image).ellipse if label == 0 else ImageDraw.Draw(image).rectangle)(box, fill=(250,) * 3)
            image.save(tmp_path / "big" / name / f"{i:05d}.png")
    limit, whole = 1100 * 2**20, count * size * size * 3 * 4
    assert whole > limit
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "big"), str(limit), str(whole)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["the whole folder does not fit", "1280 trained"]


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [(24, 25), (20, 40)], ids=["one size", "mixed sizes"])
def test_pngs_and_jpegs_go_through_tensorflows_decoder_with_pillows_pixels(tmp_path, sizes):
    from cnndsl.images import pipeline

    root = tmp_path / "d"
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(4):
            image = Image.fromarray(
                drawing(label, int(np.random.default_rng(i).integers(*sizes)), np.random.default_rng(i))
            )
            image.convert(("L", "RGB")[i % 2]).save(root / name / f"{i}.png")
    dataset = load_folder(root, (24, 24, 3))
    assert dataset.native and dataset.resized == (sizes != (24, 25))
    pairs = dataset.train + dataset.test
    ((native, labels),) = pipeline(pairs, (24, 24, 3), 3, 64, native=True, resized=dataset.resized)
    ((pillow, same),) = pipeline(pairs, (24, 24, 3), 3, 64, native=False)
    np.testing.assert_array_equal(labels, same)
    if dataset.resized:  # two antialiased bilinear resizes: close, not equal
        assert np.abs(native.numpy() - pillow.numpy()).mean() < 0.02
    else:
        np.testing.assert_array_equal(native.numpy(), pillow.numpy())
    (root / "circle" / "odd.gif").write_bytes((root / "circle" / "0.png").read_bytes())
    Image.open(root / "circle" / "0.png").save(root / "circle" / "odd.gif")
    assert not load_folder(root, (24, 24, 3)).native


def test_an_input_shape_for_arrays_is_an_error_naming_what_it_is_for(tmp_path):
    import cnndsl

    with pytest.raises(DataError, match="--input-shape sizes an image folder's images"):
        cnndsl.train("FL()", data="sample", input_shape=(28, 28, 1), output=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["png", "gif"], ids=["tensorflow's decoder", "pillow"])
def test_an_image_spoilt_after_the_check_is_one_data_error_and_nothing_is_kept(tmp_path, kind):
    from cnndsl.training.api import check_against_data
    from cnndsl.training.recipe import Recipe
    from cnndsl.training.runner import fit

    root = tmp_path / "d"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (8, 8), 60 * i).save(root / name / f"{i}.{kind}")
    dataset = load_data(str(root))
    (root / "b" / f"1.{kind}").write_bytes(b"spoilt")
    checked = check_against_data("FL()", dataset)
    with pytest.raises(DataError) as error:
        fit(checked, Recipe(data=str(root), epochs=1, batch_size=2), dataset, tmp_path / "run", verbose=0)
    expected = {
        "png": f"{root}: an image could not be read while training (Unknown image file format.",
        "gif": f"{root / 'b' / '1.gif'}: not an image (corrupt, or not a PNG, JPEG, BMP or GIF file) (while training)",
    }
    assert str(error.value).startswith(expected[kind]) and "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()
