"""DETECT, YOLO's detection head: shapes, parameters and MACs by hand, and its outputs in training and
inference against a reference of Ultralytics' ``Detect`` written here, through PyTorch, Keras and ONNX."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import run_cli

from cnndsl import check
from cnndsl.errors import SpecError

LEVELS = (
    "IN(64, 64, 3) -> CN(8, 3, strides=2, padding=same) -> CN(16, 3, strides=2, padding=same) as p3"
    " -> CN(24, 3, strides=2, padding=same) as p4 -> CN(32, 3, strides=2, padding=same)"
)
"""Three levels of unequal channels, 16x16, 8x8 and 4x4 on a 64x64 input: strides 4, 8, 16."""


def spec(**head: object) -> str:
    args = "".join(f", {name}={str(value).lower()}" for name, value in head.items())
    return f"{LEVELS} -> DETECT(@p3 | @p4 | ID(){args})"


# --- the rule by hand --------------------------------------------------------------------------------


def ultralytics_count(channels: tuple[int, ...], classes: int = 80, bins: int = 16, legacy: bool = False) -> int:
    """Parameters as Ultralytics counts them (weights, batch norm's scale and shift, biases, the DFL's bins),
    each branch written out layer by layer from its rule."""
    c2, c3 = max(16, channels[0] // 4, bins * 4), max(channels[0], min(classes, 100))
    norm = 2  # weight and bias; the running statistics are buffers
    total = bins  # the DFL's fixed 1x1 convolution
    for x in channels:
        total += 9 * x * c2 + norm * c2 + 9 * c2 * c2 + norm * c2 + c2 * 4 * bins + 4 * bins
        if legacy:
            total += 9 * x * c3 + norm * c3 + 9 * c3 * c3 + norm * c3
        else:
            total += 9 * x + norm * x + x * c3 + norm * c3 + 9 * c3 + norm * c3 + c3 * c3 + norm * c3
        total += c3 * classes + classes
    return total


def test_the_published_heads_are_counted_by_the_rule():
    # YOLO11n's and YOLOv8n's heads, over P3/P4/P5 of 64, 128 and 256 channels, as Ultralytics prints them
    assert ultralytics_count((64, 128, 256)) == 464_912
    assert ultralytics_count((64, 128, 256), legacy=True) == 897_664


@pytest.mark.parametrize("legacy", [False, True])
def test_the_yolo_n_head_checks_to_the_published_count(legacy):
    text = ("IN(640, 640, 64) -> CN(64, 3, strides=8, padding=same) as p3 -> CN(128, 3, strides=2, padding=same) as p4"
            f" -> CN(256, 3, strides=2, padding=same) -> DETECT(@p3 | @p4 | ID(), legacy={str(legacy).lower()})")  # fmt: skip
    head = check(text).layers[-1]
    assert head.trainable + 16 == (897_664 if legacy else 464_912)  # Ultralytics counts the DFL's fixed bins too
    # Keras also counts batch norm's moving mean and variance: the channels of every Conv's norm, twice
    box = 3 * (64 + 64)
    score = 3 * (80 + 80) if legacy else (64 + 128 + 256) + 3 * (80 + 80 + 80)
    assert head.non_trainable == 2 * (box + score) + 16
    assert head.output_shape == (None, 80 * 80 + 40 * 40 + 20 * 20, 84)


def test_shape_and_count_of_a_small_head():
    model = check(spec(classes=5, bins=4))
    head = model.layers[-1]
    assert model.task == "detect" and head.code == "DETECT"
    assert head.output_shape == model.output_shape == (None, 16 * 16 + 8 * 8 + 4 * 4, 4 + 5)
    assert head.trainable + 4 == ultralytics_count((16, 24, 32), classes=5, bins=4)
    assert model.num_classes == 5


def conv_macs(cells: int, into: int, out: int, kernel: int, groups: int = 1) -> int:
    return cells * out * kernel * kernel * into // groups


@pytest.mark.parametrize("legacy", [False, True])
def test_macs_by_hand(legacy):
    head = check(spec(classes=5, bins=4, legacy=legacy)).layers[-1]
    c2, c3, total = 16, 16, 0
    for side, x in ((16, 16), (8, 24), (4, 32)):
        cells = side * side
        total += conv_macs(cells, x, c2, 3) + conv_macs(cells, c2, c2, 3) + conv_macs(cells, c2, 16, 1)
        if legacy:
            total += conv_macs(cells, x, c3, 3) + conv_macs(cells, c3, c3, 3)
        else:
            total += conv_macs(cells, x, x, 3, x) + conv_macs(cells, x, c3, 1)
            total += conv_macs(cells, c3, c3, 3, c3) + conv_macs(cells, c3, c3, 1)
        total += conv_macs(cells, c3, 5, 1) + cells * 4 * 4  # the class logits; the DFL's expectation
    assert head.macs == total


# --- errors ------------------------------------------------------------------------------------------

BAD = [
    ("IN(30, 32, 3) -> CN(8, 3, strides=4, padding=same) -> DETECT(ID())", 55, "must be one whole number"),
    ("IN(32, 48, 3) -> CN(8, 3, strides=(2, 4), padding=same) -> DETECT(ID())", 60, "must be one whole number"),
    ("IN(None, None, 3) -> CN(8, 3, strides=2) -> DETECT(ID())", 45, "needs an input of known size"),
    ("IN(16, 16, 3) -> CN(8, 3) -> FL() -> DETECT(ID())", 38, "each level is a (height, width, channels) map"),
    ("IN(16, 16, 3) -> DETECT()", 18, "DETECT needs at least 1 branch"),
    ("IN(16, 16, 3) -> DETECT(ID(), classes=0)", 39, "classes must be at least 1"),
    ("IN(16, 16, 3) -> DETECT(ID(), legacy=yes)", 38, "legacy must be true or false"),
    ("IN(16, 16, 3) -> CN(8, 3, padding=same) -> DETECT(ID()) -> FL()", 44, "ends the model: nothing may follow it"),
    ("IN(16, 16, 3) -> CN(8, 3, padding=same) -> GAP()", 44, "a detector ends in DETECT(...)"),
]


@pytest.mark.parametrize(("text", "column", "words"), BAD)
def test_a_bad_head_is_a_located_error(text, column, words):
    with pytest.raises(SpecError) as raised:
        check(text, task=None if "DETECT" in text else "detect")
    first = raised.value.diagnostics[0]
    assert words in first.message and first.span.column == column, (first.message, first.span.column)


def test_unequal_channels_and_one_level_are_fine():
    one = check("IN(32, 32, 3) -> CN(8, 3, strides=2, padding=same) -> DETECT(ID(), classes=2)")
    assert one.output_shape == (None, 256, 6)


# --- the command line --------------------------------------------------------------------------------


def test_check_summary_and_run_on_a_detector(tmp_path):
    path = tmp_path / "tiny.cnn"
    path.write_text(spec(classes=5, bins=4) + "\n")
    checked = run_cli("check", str(path))
    assert checked.returncode == 0 and "output (None, 336, 9)" in checked.stdout
    summary = run_cli("summary", str(path))
    assert "Classes: 5 (detection" in summary.stdout and "detect (Detect)" in summary.stdout
    run = run_cli("run", str(path), "--epochs", "1")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "training detectors is not supported yet" in run.stderr


# --- outputs against a reference of Ultralytics' Detect ------------------------------------------------


def reference_head(nc: int, reg_max: int, legacy: bool, ch: tuple[int, ...], stride: tuple[int, ...]):
    """Ultralytics' ``Detect`` as its forward reads, its attributes named as it names them (written here, not imported)."""
    import torch
    from torch import nn

    class Conv(nn.Module):
        def __init__(self, c1, c2, k=1, g=1):
            super().__init__()
            self.conv = nn.Conv2d(c1, c2, k, 1, k // 2, groups=g, bias=False)
            self.bn = nn.BatchNorm2d(c2, eps=0.001, momentum=0.03)
            self.act = nn.SiLU()

        def forward(self, x):
            return self.act(self.bn(self.conv(x)))

    class DFL(nn.Module):
        def __init__(self, c1):
            super().__init__()
            self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
            self.conv.weight.data[:] = nn.Parameter(torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1))
            self.c1 = c1

        def forward(self, x):
            b, _, a = x.shape
            return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)

    class Detect(nn.Module):
        def __init__(self):
            super().__init__()
            self.nc, self.nl, self.reg_max, self.no = nc, len(ch), reg_max, nc + 4 * reg_max
            self.stride = torch.tensor(stride, dtype=torch.float)
            c2, c3 = max((16, ch[0] // 4, reg_max * 4)), max(ch[0], min(nc, 100))
            self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
                                     for x in ch)  # fmt: skip
            if legacy:
                self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1))
                                         for x in ch)  # fmt: skip
            else:
                self.cv3 = nn.ModuleList(
                    nn.Sequential(nn.Sequential(Conv(x, x, 3, g=math.gcd(x, x)), Conv(x, c3, 1)),
                                  nn.Sequential(Conv(c3, c3, 3, g=c3), Conv(c3, c3, 1)), nn.Conv2d(c3, nc, 1))
                    for x in ch
                )  # fmt: skip
            self.dfl = DFL(reg_max)

        def forward(self, x):
            x = [torch.cat((self.cv2[i](x[i]), self.cv3[i](x[i])), 1) for i in range(self.nl)]
            if self.training:
                return x
            anchor_points, stride_tensor = [], []
            for xi, s in zip(x, self.stride):
                _, _, h, w = xi.shape
                sx, sy = torch.arange(w) + 0.5, torch.arange(h) + 0.5
                sy, sx = torch.meshgrid(sy, sx, indexing="ij")
                anchor_points.append(torch.stack((sx, sy), -1).view(-1, 2))
                stride_tensor.append(torch.full((h * w, 1), float(s)))
            anchors, strides = torch.cat(anchor_points).transpose(0, 1), torch.cat(stride_tensor).transpose(0, 1)
            x_cat = torch.cat([xi.view(x[0].shape[0], self.no, -1) for xi in x], 2)
            box, cls = x_cat.split((self.reg_max * 4, self.nc), 1)
            lt, rb = self.dfl(box).chunk(2, 1)
            x1y1, x2y2 = anchors.unsqueeze(0) - lt, anchors.unsqueeze(0) + rb
            dbox = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
            return torch.cat((dbox, cls.sigmoid()), 1)

    return Detect()


def randomised(module, seed: int = 0):
    """Every weight and batch-norm statistic drawn at random, so that no layout slip hides behind ones and zeros."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.startswith("dfl") or not tensor.is_floating_point():
                continue
            values = torch.rand(tensor.shape, generator=generator)
            tensor.copy_(0.5 + values if name.endswith("running_var") else (values - 0.5) * 0.6)
    return module


@pytest.mark.slow
@pytest.mark.parametrize(("legacy", "bins"), [(False, 16), (True, 4)])
def test_pytorch_keras_and_the_reference_compute_the_same_head(legacy, bins):
    import keras
    import torch

    from cnndsl.backends import keras as keras_backend
    from cnndsl.backends import torch as torch_backend

    model = check(spec(classes=5, bins=bins, legacy=legacy))
    built = keras_backend.build(model)
    layer = built.layers[-1]
    assert [w.name for w in layer.weights] == [w.name for w in model.layers[-1].layer.type.weights(
        [model.input_shape, *model.layers[-1].input_shapes], model.layers[-1].layer.args)]  # fmt: skip
    assert built.count_params() == model.total_params

    reference = randomised(reference_head(5, bins, legacy, (16, 24, 32), (4, 8, 16))).eval()
    module = torch_backend.build(model).eval()
    assert sorted(module.detect.state_dict()) == sorted(reference.state_dict())
    assert sum(p.numel() for p in module.detect.parameters()) == ultralytics_count((16, 24, 32), 5, bins, legacy)
    module.detect.load_state_dict(reference.state_dict())
    for variable in layer.weights:  # PyTorch's weights into Keras by path, the porter's map run backwards
        path, _, tensor = variable.name.rpartition(".")
        source = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var",
                  "kernel": "weight", "bias": "bias"}[tensor]  # fmt: skip
        value = reference.state_dict()[f"{path}.{source}"].numpy()
        if tensor == "kernel":
            value = (
                value.transpose(2, 3, 0, 1)
                if variable.shape[-1] == 1 and value.shape[1] == 1
                else value.transpose(2, 3, 1, 0)
            )
        variable.assign(value)
    torch_backend.port_weights(built, module)  # and back: every Keras weight lands where it came from
    for name, tensor in module.detect.state_dict().items():
        assert torch.equal(tensor, reference.state_dict()[name]), name

    x = np.random.default_rng(1).random((2, 64, 64, 3), dtype=np.float32)
    levels = keras.Model(built.inputs, layer.input)([x])  # the model takes a list of one input
    levels_first = [torch.from_numpy(np.array(level).transpose(0, 3, 1, 2)) for level in levels]
    with torch.no_grad():
        expected = reference(levels_first).numpy()
        whole = module(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
        head = module.detect(*levels_first).numpy()
        norms = [m for m in reference.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        reference.train()  # training: the raw maps; Keras's read the moving statistics
        raw_moving = [m.numpy() for m in reference.apply(lambda m: m.eval() if m in norms else None)(levels_first)]
        reference.train(), module.train()  # and PyTorch's, batch norm on the batch's statistics as Ultralytics trains
        raw_expected = [m.numpy() for m in reference(levels_first)]
        raw = [m.numpy() for m in module.detect(*levels_first)]
    decoded = np.asarray(built(x))
    scale = np.abs(expected).max()
    assert expected.shape == (2, 4 + 5, 336) and scale > 10  # boxes in pixels
    np.testing.assert_allclose(head, expected, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(whole, expected, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(decoded.transpose(0, 2, 1), expected, rtol=1e-4, atol=1e-4 * scale)
    keras_raw = [np.asarray(m).transpose(0, 3, 1, 2) for m in layer.raw(levels)]
    for got_torch, want, got_keras, want_moving in zip(raw, raw_expected, keras_raw, raw_moving):
        assert want.shape[1] == 4 * bins + 5 and not np.allclose(want, want_moving)
        np.testing.assert_allclose(got_torch, want, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got_keras, want_moving, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_the_onnx_export_computes_the_decoded_output():
    import onnxruntime
    import torch

    from cnndsl.backends import onnx
    from cnndsl.backends import torch as torch_backend

    model = check(spec(classes=3, bins=8))
    module = randomised(torch_backend.build(model)).eval()
    data = onnx.export(module, model)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).random((2, 3, 64, 64), dtype=np.float32)
    (got,) = session.run(None, {"input": x})
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    assert got.shape == (2, 4 + 3, 336)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.slow
def test_the_keras_layer_saves_and_loads(tmp_path):
    import keras

    from cnndsl.backends import keras as keras_backend

    built = keras_backend.build(check(spec(classes=2, bins=4)))
    path = tmp_path / "detector.keras"
    built.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(3).random((1, 64, 64, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(built(x)), rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_the_emitted_sources_build_the_head():
    import torch

    from cnndsl.backends import keras_source, torch_source
    from cnndsl.backends import torch as torch_backend

    model = check(spec(classes=5, bins=4))
    assert "Detect(classes=5, bins=4, strides=[4, 8, 16])" in keras_source.emit(model)
    namespace: dict = {"__name__": "emitted"}
    exec(compile(torch_source.emit(model), "emitted.py", "exec"), namespace)
    emitted = namespace["model"].eval()
    built = randomised(torch_backend.build(model)).eval()
    emitted.load_state_dict(built.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(emitted(x), built(x), rtol=1e-5, atol=1e-4)
