"""Ultralytics' model files: read into the notation, checked at every scale, errors at the entry's line
and column, weights ported by module path, outputs held to golden arrays Ultralytics computed.

The counts are Ultralytics' own: those its files publish (YOLO11n 2,624,080, YOLO11x 56,966,176,
YOLOv8n 3,157,200, ...) and, for the rest, what the installed Ultralytics builds from the
project's files (``benchmarks/yolo.py`` prints them beside cnndsl's). The golden arrays under
``tests/data/yolo/`` are that script's ``--record``: Ultralytics' seeded weights, a seeded
64x64 image and its outputs (raw per-level maps in training mode, decoded predictions in
inference).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ROOT, load_script, run_cli

import cnndsl
from cnndsl.backends.yolo_weights import weights_of
from cnndsl.errors import SpecError
from cnndsl.yolo import read_yolo, written_text

FILES = ROOT / "cnndsl" / "data" / "yolo"
GOLDEN = ROOT / "tests" / "data" / "yolo"

ULTRALYTICS_COUNTS = {  # published: YOLO11n 2,624,080, YOLO11x 56,966,176, YOLOv8n 3,157,200, ...
    "yolov8": {"n": 3_157_200, "s": 11_166_560, "m": 25_902_640, "l": 43_691_520, "x": 68_229_648},
    "yolov8-cls": {"n": 2_719_288, "s": 6_361_736, "m": 17_053_336, "l": 37_480_744, "x": 57_422_840},
    "yolov8-p2": {"n": 3_354_144, "s": 10_884_336, "m": 25_082_496, "l": 42_888_080, "x": 66_637_536},
    "yolov8-p6": {"n": 4_984_352, "s": 17_911_792, "m": 44_887_488, "l": 62_384_016, "x": 97_423_072},
    "yolo11": {"n": 2_624_080, "s": 9_458_752, "m": 20_114_688, "l": 25_372_160, "x": 56_966_176},
    "yolo11-cls": {"n": 2_812_104, "s": 6_724_008, "m": 11_634_216, "l": 14_115_624, "x": 29_637_064},
}
"""Parameters (``sum(p.numel() for p in model.parameters())``) of each file at each scale, as Ultralytics builds them."""


def ultralytics_count(model: cnndsl.CheckedModel) -> int:
    """Parameters as Ultralytics counts them: every weight but batch norm's running statistics (buffers there)."""
    statistics = sum(
        weight.size
        for info in model.layers
        for weight in weights_of(info, model)
        if weight.name.rpartition(".")[2].rpartition("/")[2] in ("moving_mean", "moving_variance")
    )
    return model.total_params - statistics


@pytest.mark.parametrize(
    ("stem", "scale"), [(stem, scale) for stem, counts in ULTRALYTICS_COUNTS.items() for scale in counts]
)
def test_parameters_equal_ultralytics_at_every_scale(stem, scale):
    model = cnndsl.from_yolo(FILES / f"{stem}.yaml", scale=scale).check()
    assert ultralytics_count(model) == ULTRALYTICS_COUNTS[stem][scale]


# --- the reading -----------------------------------------------------------------------------

YOLOV8 = (FILES / "yolov8.yaml").read_text()


def test_reading_names_only_the_layers_taken_later_and_keeps_the_file_s_numbers():
    text = written_text(read_yolo(YOLOV8, "n", "yolov8"))
    assert text.startswith("scale n(0.33, 0.25, 1024)\nscale s(0.33, 0.50, 1024)\n")
    assert "-> C2F(256, n=6, shortcut=true) as l4" in text
    assert "-> CAT(ID() | @l6)" in text
    assert "DETECT(@l15 | @l18 | @l21, classes=80, legacy=true)" in text  # no C3k2: YOLOv8's head
    assert " as l5" not in text  # taken by its successor only


def test_c3k2_at_m_l_x_builds_c3k_through_a_scale_variable_so_one_reading_holds_every_scale():
    text = (FILES / "yolo11.yaml").read_text()
    small, large = read_yolo(text, "s", "yolo11"), read_yolo(text, "l", "yolo11")
    assert [s.name for s in small.scales] == [s.name for s in large.scales] == list("nsmlx")
    written = written_text(small)
    assert written == written_text(large) and not small.notes
    assert written.startswith("scale n(0.50, 0.25, 1024, c3k=false)\nscale s(0.50, 0.50, 1024, c3k=false)\n"
                              "scale m(0.50, 1.00, 512, c3k=true)\n")  # fmt: skip
    assert "C3K2(256, n=2, c3k=c3k, e=0.25)" in written  # written false: Ultralytics' rule per scale name
    assert "C3K2(512, n=2, c3k=true) as l6" in written  # written true: true at every scale
    assert "legacy" not in written and "c3k" not in written_text(read_yolo(YOLOV8, "n", "yolov8"))


@pytest.mark.parametrize("stem", ["yolo11", "yolo11-cls"])
def test_from_yolo_writes_one_file_of_every_yolo11_scale_with_ultralytics_counts(stem, tmp_path):
    from cnndsl.inputs import read_models

    out = tmp_path / f"{stem}.cnn"
    result = run_cli("from-yolo", str(FILES / f"{stem}.yaml"), "-o", str(out))
    assert result.returncode == 0 and "note" not in result.stderr, result.stderr
    model = cnndsl.from_yolo(FILES / f"{stem}.yaml")
    (source,) = read_models(str(out))
    for scale in "nsmlx":  # the YAML read once, and the file it is written as, at every scale
        assert ultralytics_count(model.check(scale=scale)) == ULTRALYTICS_COUNTS[stem][scale]
        assert ultralytics_count(source.check(scale=scale)) == ULTRALYTICS_COUNTS[stem][scale]


def test_classify_reads_as_its_convolution_pooling_and_classes():
    text = written_text(read_yolo((FILES / "yolo11-cls.yaml").read_text(), "n", "yolo11_cls"))
    assert text.rstrip().endswith("-> CONV(1280, scaled=false)\n    -> GAP()\n    -> DN(1000, activation=softmax)")


def error_of(text: str, scale: str | None = None) -> SpecError:
    with pytest.raises(SpecError) as caught:
        read_yolo(text, scale).check()
    return caught.value


def place(text: str, needle: str) -> tuple[int, int]:
    """The 1-based line and column of ``needle`` in ``text``."""
    offset = text.index(needle)
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def test_a_from_index_out_of_range_is_refused_at_its_number():
    text = YOLOV8.replace("[[-1, 12], 1, Concat", "[[-1, 24], 1, Concat")
    error = error_of(text)
    assert (error.line, error.column) == place(text, "24], 1, Concat")
    assert "layer 17 takes from 24, which is not an earlier layer" in error.message


def test_a_module_outside_the_vocabulary_is_refused_at_its_name():
    text = YOLOV8.replace("C2f, [512]] # 12", "C2fCIB, [512]] # 12")
    error = error_of(text)
    assert (error.line, error.column) == place(text, "C2fCIB")
    assert "'C2fCIB' is not a module the notation holds" in error.message


def test_too_many_arguments_are_refused_at_the_first_extra():
    text = YOLOV8.replace("SPPF, [1024, 5]]", "SPPF, [1024, 5, 3, True]]")
    error = error_of(text)
    assert (error.line, error.column) == place(text, "3, True]]")
    assert "SPPF takes at most 2 arguments" in error.message


def test_a_scale_the_file_lacks_is_refused_at_its_scales():
    error = error_of(YOLOV8, "q")
    assert (error.line, error.column) == place(YOLOV8, "scales:")
    assert "no scale 'q'" in error.message


def test_yaml_that_does_not_parse_is_a_syntax_error_with_its_place():
    text = YOLOV8.replace("[-1, 1, Conv, [256, 3, 2]] # 16", "[-1, 1, Conv, [256, 3, 2] # 16")
    error = error_of(text)
    assert error.kind == "syntax" and error.line == place(text, "[[-1, 12]")[0]


def test_a_concat_of_levels_whose_sizes_differ_is_a_shape_error_at_the_concat():
    text = YOLOV8.replace("[[-1, 6], 1, Concat, [1]] # 11", "[[-1, 4], 1, Concat, [1]] # 11")
    error = error_of(text, "n")
    assert error.kind == "shape"
    assert (error.line, error.column) == place(text, "4], 1, Concat, [1]] # 11")  # the layer that does not fit
    assert "(None, 40, 40, 256) | (None, 80, 80, 64)" in error.message


def test_the_cli_points_at_the_entry_with_carets(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(YOLOV8.replace("C2f, [512]] # 12", "C2fCIB, [512]] # 12"))
    line, column = place(path.read_text(), "C2fCIB")
    result = run_cli("check", str(path), "--scale", "n")
    assert result.returncode == 1
    assert f"bad.yaml:{line}:{column}: error: layer 12: 'C2fCIB' is not a module the notation holds" in result.stderr
    assert "^^^^^^" in result.stderr


def test_check_of_a_file_reports_its_parameters_at_the_scale():
    result = run_cli("check", str(FILES / "yolo11.yaml"), "--scale", "n")
    assert result.returncode == 0, result.stderr
    assert "layers, " in result.stdout


def test_from_yolo_writes_a_spec_file_that_checks_to_the_same_model(tmp_path):
    out = tmp_path / "yolov8.cnn"
    result = run_cli("from-yolo", str(FILES / "yolov8.yaml"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    from cnndsl.inputs import read_models

    (source,) = read_models(str(out))
    for scale in ("n", "m", "x"):  # one file holds every scale
        assert ultralytics_count(source.check(scale=scale)) == ULTRALYTICS_COUNTS["yolov8"][scale]


# --- weights and outputs ---------------------------------------------------------------------


def recorded(stem: str, scale: str):
    """The golden arrays of ``benchmarks/yolo.py --record`` and the Ultralytics weights they were computed with.

    The weights are drawn again from their seed by the script's own :func:`seeded_arrays`, for the
    names and shapes Ultralytics' model has (recorded); the detection head's fixed distribution
    weights are recorded as they are.
    """
    np = pytest.importorskip("numpy")
    arrays = np.load(GOLDEN / f"{stem}-{scale}-64.npz")
    script = load_script(ROOT / "benchmarks" / "yolo.py", "yolo_benchmark")
    dims, shapes, at = arrays["dims"].tolist(), {}, 0
    for name, ndim in zip(arrays["names"].tolist(), arrays["ndims"].tolist()):
        shapes[name] = tuple(dims[at : at + ndim])
        at += ndim
    weights = script.seeded_arrays(shapes)
    fixed = [name for name in shapes if "dfl" in name]
    if fixed:
        (name,) = fixed
        weights[name] = arrays["dfl"].astype(np.float32).reshape(shapes[name])
    return arrays, weights


def ultralytics_stand_in(weights: dict, stem: str, scale: str):
    """What ``port_weights`` reads of an Ultralytics model, holding the given weights at Ultralytics' paths.

    An ``nn.Sequential`` of the file's layers carrying ``i`` and ``f``, each a tree of modules down to
    its tensors (``model.23.cv2.0.0.conv.weight``), the classification head named ``Classify``, and the
    file it was built from (``yaml``, with its scale).
    """
    torch = pytest.importorskip("torch")
    import yaml

    described = yaml.safe_load((FILES / f"{stem}.yaml").read_text())
    root = torch.nn.Module()
    for i in range(len(described["backbone"]) + len(described["head"])):  # a layer without weights too
        root.add_module(str(i), torch.nn.Module())
    for key, value in weights.items():
        *path, tensor = key.removeprefix("model.").split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, torch.nn.Module())
            module = getattr(module, part)
        module.register_buffer(tensor, torch.from_numpy(value))
    layers = torch.nn.Sequential(*[getattr(root, str(i)) for i in range(len(list(root.children())))])
    for i, layer in enumerate(layers):
        layer.i, layer.f = i, -1
    if stem.endswith("-cls"):
        layers[-1].__class__ = type("Classify", (torch.nn.Module,), {})
    holder = torch.nn.Module()
    holder.model = layers
    holder.yaml = {**described, "scale": scale}
    return holder


def outputs_of(built, x, backend: str):
    """The build's raw maps (its head alone in training mode) and its predictions in inference, laid out as PyTorch's."""
    np = pytest.importorskip("numpy")
    if backend == "torch":
        torch = pytest.importorskip("torch")
        head = list(built.children())[-1]
        with torch.no_grad():
            built.eval()
            decoded = built(torch.from_numpy(x))
            head.training = True
            raw = built(torch.from_numpy(x))
            built.eval()
        raw = [part.numpy() for part in (raw if isinstance(raw, list | tuple) else [raw])]
        return raw, decoded.numpy()
    import keras

    image = x.transpose(0, 2, 3, 1)
    decoded = np.asarray(built(image, training=False))
    head = built.layers[-1]
    if hasattr(head, "raw"):
        levels = keras.Model(built.input, head.input)(image, training=False)
        raw = [np.moveaxis(np.asarray(part), -1, 1) for part in head.raw(levels)]
    else:
        raw = [decoded]
    return raw, (np.moveaxis(decoded, -1, 1) if decoded.ndim == 3 else decoded)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize(
    ("stem", "scale"), [("yolo11", "n"), ("yolov8", "n"), ("yolo11-cls", "n"), ("yolov8-cls", "n")]
)
def test_ported_weights_compute_ultralytics_outputs(stem, scale, backend):
    np = pytest.importorskip("numpy")
    arrays, weights = recorded(stem, scale)
    spec = cnndsl.from_yolo(FILES / f"{stem}.yaml", scale=scale, input_shape=(64, 64, 3))
    built = cnndsl.compile_spec(spec, backend=backend)
    cnndsl.port_weights(ultralytics_stand_in(weights, stem, scale), built)
    raw, decoded = outputs_of(built, arrays["image"], backend)
    expected = sorted((key for key in arrays.files if key.startswith("raw:")), key=lambda key: int(key[4:]))
    assert len(raw) == len(expected)
    for key, mine in zip(expected, raw):
        np.testing.assert_allclose(mine, arrays[key], atol=1e-4 * max(1.0, float(np.abs(arrays[key]).max())))
    largest = max(1.0, float(np.abs(arrays["decoded"]).max()))
    np.testing.assert_allclose(decoded, arrays["decoded"], atol=1e-4 * largest)


def test_a_fused_or_foreign_model_is_refused_by_name():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="not an Ultralytics model"):
        from cnndsl.backends.yolo_weights import port_yolo

        port_yolo(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3)), torch.nn.Sequential())


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["yolo11", "yolov8"])
def test_a_keras_yolo_with_ultralytics_weights_exports_to_onnx_computing_its_detections(stem):
    """The Keras build given Ultralytics' weights, its weights carried to the PyTorch build, exported to ONNX and
    run by onnxruntime: Ultralytics' detections."""
    np = pytest.importorskip("numpy")
    onnxruntime = pytest.importorskip("onnxruntime")
    from cnndsl.backends.onnx import export
    from cnndsl.backends.torch import port_weights as keras_to_torch

    arrays, weights = recorded(stem, "n")
    spec = cnndsl.from_yolo(FILES / f"{stem}.yaml", scale="n", input_shape=(64, 64, 3))
    keras_model = cnndsl.compile_spec(spec)
    cnndsl.port_weights(ultralytics_stand_in(weights, stem, "n"), keras_model)
    module = cnndsl.compile_spec(spec, backend="torch")
    keras_to_torch(keras_model, module)
    session = onnxruntime.InferenceSession(export(module, spec.check()), providers=["CPUExecutionProvider"])
    (detections,) = session.run(None, {session.get_inputs()[0].name: arrays["image"]})
    largest = max(1.0, float(np.abs(arrays["decoded"]).max()))
    np.testing.assert_allclose(detections, arrays["decoded"], atol=1e-4 * largest)


@pytest.mark.slow
def test_emit_writes_the_onnx_of_a_model_file(tmp_path):
    pytest.importorskip("onnxruntime")
    path, out = tmp_path / "yolov8n.cnn", tmp_path / "yolov8n.onnx"
    written = run_cli(
        "from-yolo", str(FILES / "yolov8.yaml"), "--scale", "n", "--input-shape", "64,64,3", "-o", str(path)
    )
    assert written.returncode == 0, written.stderr
    result = run_cli("emit", str(path), "--to", "onnx", "-o", str(out), "--scale", "n")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 3_000_000 * 4  # every weight, as float32


def test_an_unknown_suffix_is_not_read_as_yaml(tmp_path):
    path = Path(tmp_path / "m.cnn")
    path.write_text("IN(8, 8, 1) -> FL() -> DN(2)")
    assert run_cli("check", str(path)).returncode == 0


def test_a_module_repeated_in_a_row_reads_as_a_repeat_scaled_by_the_depth():
    text = YOLOV8.replace("[-1, 1, Conv, [256, 3, 2]] # 16", "[-1, 3, Conv, [256, 3, 2]] # 16")
    model = read_yolo(text, "n", "yolov8")
    assert "-> CONV(256, 3, 2) * 3" in written_text(model)


def test_a_file_without_scales_rounds_channels_to_eight_and_reads_its_channels():
    text = "nc: 3\nchannels: 1\nbackbone:\n  - [-1, 1, Conv, [12, 3, 2]]\nhead:\n  - [-1, 1, Classify, [nc]]\n"
    model = read_yolo(text)
    assert written_text(model).startswith("scale default(1.00, 1.00, none)\n")
    checked = model.check()
    assert checked.input_shape == (None, 224, 224, 1)  # a classifier: Ultralytics trains it at 224
    first = next(info for info in checked.layers if info.code == "CN")
    assert first.output_shape[-1] == 16  # Ultralytics' make_divisible(12, 8)


def test_summary_and_run_of_a_detector_file():
    result = run_cli("summary", str(FILES / "yolov8.yaml"), "--scale", "n")
    assert result.returncode == 0, result.stderr
    assert "3,157,184" in result.stdout  # trainable: Ultralytics' 3,157,200 less the head's 16 fixed weights
    result = run_cli("run", str(FILES / "yolov8.yaml"), "--scale", "n", "--data", "sample", "--epochs", "1")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "detectors" in result.stderr


def test_aliases_are_refused_and_positions_count_characters():
    error = error_of("a: &x [1]\nb: *x\n")
    assert (error.line, error.column) == (2, 4) and "aliases" in error.message
    text = "# ünïcödé 🚀\nnc: 80\nbackbone:\n  - [-1, 1, Cönv, [64, 3, 2]]\nhead:\n  - [[-1], 1, Detect, [nc]]\n"
    error = error_of(text)
    assert (error.line, error.column) == (4, 13) and "'Cönv'" in error.message


def test_two_inputs_that_a_model_file_cannot_write_are_two_named_inputs_in_the_notation():
    """RGB (three channels) and infrared (one) of one size, each through a backbone of its own, fused per level."""
    from cnndsl.inputs import read_models

    (source,) = read_models(str(ROOT / "examples" / "yolo_rgb_ir.cnn"))
    nano, medium = source.check(scale="n"), source.check(scale="m")
    assert [(given.name, given.shape) for given in nano.inputs] == [
        ("rgb", (None, 640, 640, 3)),
        ("ir", (None, 640, 640, 1)),
    ]
    assert nano.output_shape == (None, 8400, 84)
    firsts = [info for info in nano.layers if info.layer.path == "conv" and info.input_shape[1] == 640]
    assert sorted(info.input_shape[-1] for info in firsts) == [1, 3]  # each backbone reads its own input
    assert nano.total_params < medium.total_params


def test_check_of_a_file_at_another_input_size_and_one_its_levels_do_not_fit():
    result = run_cli("check", str(FILES / "yolo11.yaml"), "--scale", "n", "--input-shape", "320,320,3")
    assert result.returncode == 0, result.stderr
    assert "output (None, 2100, 84)" in result.stdout  # 40x40 + 20x20 + 10x10 anchors
    result = run_cli("check", str(FILES / "yolo11.yaml"), "--scale", "n", "--input-shape", "100,100,3")
    text = (FILES / "yolo11.yaml").read_text()
    line, column = place(text, "6], 1, Concat")
    assert result.returncode == 1 and f"yolo11.yaml:{line}:{column}: error: CAT cannot join" in result.stderr


@pytest.mark.slow
def test_a_keras_yolo_exports_with_keras_own_export_and_serves_its_detections(tmp_path):
    np = pytest.importorskip("numpy")
    tf = pytest.importorskip("tensorflow")
    arrays, weights = recorded("yolov8", "n")
    spec = cnndsl.from_yolo(FILES / "yolov8.yaml", scale="n", input_shape=(64, 64, 3))
    keras_model = cnndsl.compile_spec(spec)
    cnndsl.port_weights(ultralytics_stand_in(weights, "yolov8", "n"), keras_model)
    keras_model.export(str(tmp_path / "saved"), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "saved"))  # held: its function reads the loaded variables
    served = loaded.serve(arrays["image"].transpose(0, 2, 3, 1))
    largest = max(1.0, float(np.abs(arrays["decoded"]).max()))
    np.testing.assert_allclose(np.moveaxis(np.asarray(served), -1, 1), arrays["decoded"], atol=1e-4 * largest)
