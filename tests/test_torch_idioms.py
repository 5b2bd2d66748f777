"""PyTorch written as people write it, read into the notation exactly or refused at its line.

Each module here is written the way model code writes it (a CIFAR net flattening with
``x.view(x.size(0), -1)``, a ``Conv2d`` subclass calling ``F.conv2d`` on its own weight,
timm's layers used through timm itself) and read differentially: the text is built again by
the PyTorch and the Keras backends, the source's weights ported, and the outputs compared.
A refusal names the construct, the module and the file and line of the forward it stands in.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="from_torch needs the torch extra")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from cnndsl import compile_spec, from_torch, port_weights  # noqa: E402
from cnndsl.errors import UnsupportedModel  # noqa: E402

pytestmark = pytest.mark.slow

HERE = "test_torch_idioms.py"
ROOT = Path(__file__).resolve().parent.parent


def _randomised(model: nn.Module) -> nn.Module:
    """Every parameter and batch-norm statistic away from its starting value, so that each one counts."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.rand(parameter.shape, generator=generator) - 0.5)
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(torch.rand(module.num_features, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model.eval()


def _exact(source: nn.Module, input_shape: tuple[int, int, int], keras: bool = True) -> str:
    """The source's text, after checking that both backends' builds of it compute what the source computes (its
    logits as written where it ends in a ``Linear``; the softmax of its output where classify appends one)."""
    source = _randomised(source)
    height, width, channels = input_shape
    x = torch.randn(2, channels, height, width, generator=torch.Generator().manual_seed(1))
    spec = from_torch(source, input_shape)
    with torch.no_grad():
        expected = (torch.softmax(source(x), 1) if spec.task == "classify" else source(x)).numpy()
        built = compile_spec(spec.text, backend="torch", task=spec.task).eval()
        port_weights(spec, built)
        np.testing.assert_allclose(built(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    if keras:
        model = compile_spec(spec.text, task=spec.task)
        port_weights(spec, model)
        np.testing.assert_allclose(
            model.predict(x.permute(0, 2, 3, 1).numpy(), verbose=0), expected, rtol=1e-5, atol=1e-5
        )
    return spec.text


def _codes(text: str) -> list[str]:
    return re.findall(r"\b([A-Z]{2,4})\(", text)


# --- flattens and reshapes with sizes computed in forward -------------------------------------------


class CifarNet(nn.Module):
    """The PyTorch tutorial's CIFAR-10 classifier, flattening the way most code does."""

    def __init__(self, flatten):
        super().__init__()
        self.flatten = flatten
        self.conv1, self.pool, self.conv2 = nn.Conv2d(3, 6, 5), nn.MaxPool2d(2, 2), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = self.flatten(x)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


FLATTENS = {
    "view-size": lambda x: x.view(x.size(0), -1),
    "reshape-minus-one": lambda x: x.reshape(-1, 16 * 5 * 5),
    "view-shape": lambda x: x.view(x.shape[0], x.shape[1] * x.shape[2] * x.shape[3]),
    "torch-reshape": lambda x: torch.reshape(x, (x.size(0), -1)),
    "unpacked": lambda x: x.view(*x.shape[:1], -1),
    "flatten-method": lambda x: x.flatten(1),
    "dims": lambda x: x.view(x.size(0), -1) if x.dim() == 4 else x,
}


@pytest.mark.parametrize("flatten", FLATTENS.values(), ids=FLATTENS.keys())
def test_a_cifar_net_flattening_with_sizes_computed_in_forward_reads_as_fl(flatten):
    text = _exact(CifarNet(flatten), (32, 32, 3), keras=flatten is FLATTENS["view-size"])
    assert _codes(text) == ["IN", "CN", "MP", "CN", "MP", "FL", "DN", "DN", "DN"]


class Squeeze(nn.Module):
    """A squeeze-and-excitation block as it is usually written: the gate reshaped with ``view(b, c, 1, 1)``."""

    def __init__(self, channels):
        super().__init__()
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Sequential(nn.Linear(channels, 4), nn.ReLU(),
                                                                     nn.Linear(4, channels), nn.Sigmoid())  # fmt: skip

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y


def test_a_squeeze_and_excitation_gate_reshaped_by_view_reads_as_rs():
    source = nn.Sequential(nn.Conv2d(3, 8, 3), Squeeze(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    text = _exact(source, (16, 16, 3))
    assert "RS(1, 1, 8)" in text and "MUL(" in text


class Squeezed(nn.Module):
    def __init__(self, squeeze):
        super().__init__()
        self.conv, self.pool, self.fc, self.squeeze = (
            nn.Conv2d(3, 8, 3),
            nn.AdaptiveAvgPool2d(1),
            nn.Linear(8, 3),
            squeeze,
        )

    def forward(self, x):
        return self.fc(self.squeeze(self.pool(self.conv(x))))


def test_a_pooled_tensor_squeezed_reads_as_gap_and_one_axis_squeezed_is_refused():
    assert _codes(_exact(Squeezed(lambda x: x.squeeze()), (8, 8, 3), keras=False)) == ["IN", "CN", "GAP", "DN"]
    assert _codes(_exact(Squeezed(lambda x: torch.squeeze(x, (2, 3))), (8, 8, 3), keras=False))[2] == "GAP"
    with pytest.raises(UnsupportedModel, match=r"squeezing \(batch, 8, 1, 1\) to \(batch, 8, 1\); the notation's near"):
        from_torch(Squeezed(lambda x: x.squeeze(-1).squeeze(-1)), (8, 8, 3))


# --- a head's activation before the last reshape ---------------------------------------------------------


class ActivatedThenReshaped(nn.Module):
    """A convolution over the whole map, its head's activation, then a reshape to (batch, outputs): DCGAN's
    discriminator's ``nn.Sigmoid()`` then ``view(-1, 1)``, a fully convolutional classifier's softmax then flatten."""

    def __init__(self, outputs, activation, reshape, kernel=8):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1, bias=False), nn.LeakyReLU(0.2))
        self.last, self.activation, self.reshape = nn.Conv2d(8, outputs, kernel // 2), activation, reshape

    def forward(self, x):
        return self.reshape(self.activation(self.last(self.features(x))))


HEADS_BEFORE_RESHAPES = {
    "dcgan": (1, nn.Sigmoid(), lambda x: x.view(-1, 1), "binary", "FL() -> ACT(sigmoid)"),
    "multi-label": (5, nn.Sigmoid(), lambda x: x.flatten(1), "multilabel", "FL() -> ACT(sigmoid)"),
    "softmax": (4, nn.Softmax(1), lambda x: x.view(x.size(0), -1), "classify", "FL() -> ACT(softmax)"),
    "log-softmax": (4, nn.LogSoftmax(1), lambda x: x.flatten(1), "logits", "FL() -> ACT(log_softmax)"),
}


@pytest.mark.parametrize("case", HEADS_BEFORE_RESHAPES.values(), ids=HEADS_BEFORE_RESHAPES.keys())
def test_a_head_s_activation_before_the_last_reshape_is_read_last_as_the_head_it_is(case):
    """Read as written the output would be a flatten: no task's head, and a classifier would append a softmax
    over probabilities. The activation computes the same after the reshape, and is read there."""
    outputs, activation, reshape, task, ending = case
    source = _randomised(ActivatedThenReshaped(outputs, activation, reshape))
    spec = from_torch(source, (8, 8, 3))
    assert spec.task == task and " -> ".join(spec.text.strip().split("\n    -> ")).endswith(ending), spec.text
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = source(x).numpy()
        built = compile_spec(spec.text, backend="torch", task=task).eval()
        port_weights(spec, built)
        np.testing.assert_allclose(built(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    model = compile_spec(spec.text, task=task)
    port_weights(spec, model)
    keras_out = model.predict(x.permute(0, 2, 3, 1).numpy(), verbose=0)
    np.testing.assert_allclose(keras_out, expected, rtol=1e-5, atol=1e-6)


def test_a_softmax_over_positions_reshaped_after_is_refused_not_given_a_second_softmax():
    """A softmax over each position's channels, then every position flattened: the same values reshaped are not a
    softmax over the classes, and appending one would compute another model."""
    per_position = ActivatedThenReshaped(4, nn.Softmax(1), lambda x: x.permute(0, 2, 3, 1).flatten(1), kernel=4)
    with pytest.raises(UnsupportedModel, match=r"the module's output is a reshape of a softmax's output, not logits"):
        from_torch(per_position, (8, 8, 3))


# --- functional calls on a module's own tensors --------------------------------------------------------


class FunctionalConv(nn.Conv2d):
    """A user's Conv2d whose forward calls F.conv2d on its own weight (as weight-standardised convs are written)."""

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Functional(nn.Module):
    """A module that keeps its own tensors and calls torch.nn.functional on them."""

    def __init__(self):
        super().__init__()
        self.conv = FunctionalConv(3, 8, 3, stride=2, padding=1)
        self.scale, self.shift = nn.Parameter(torch.ones(8)), nn.Parameter(torch.zeros(8))
        self.register_buffer("mean", torch.zeros(8))
        self.register_buffer("var", torch.ones(8))
        self.gamma, self.beta = nn.Parameter(torch.ones(8)), nn.Parameter(torch.zeros(8))
        self.group_scale, self.group_shift = nn.Parameter(torch.ones(8)), nn.Parameter(torch.zeros(8))
        self.layer_scale = nn.Parameter(torch.ones(8))
        self.weight, self.bias = nn.Parameter(torch.zeros(5, 8)), nn.Parameter(torch.zeros(5))

    def forward(self, x):
        x = self.conv(x)
        x = F.batch_norm(x, self.mean, self.var, self.scale, self.shift, False, 0.1, 1e-5)
        x = F.layer_norm(x.permute(0, 2, 3, 1), (8,), self.gamma, self.beta, 1e-6).permute(0, 3, 1, 2)
        x = F.group_norm(x, 2, self.group_scale, self.group_shift, 1e-5)
        x = x.mul(self.layer_scale.reshape(1, -1, 1, 1))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.linear(x, self.weight, self.bias)


def test_functional_calls_on_a_module_s_own_tensors_read_as_the_codes_they_compute():
    text = _exact(Functional(), (16, 16, 3))
    assert _codes(text) == ["IN", "ZP", "CN", "BN", "LN", "GN", "LS", "GAP", "DN"]  # padding=1 at stride 2: not same


class PlusOne(nn.Conv2d):
    """A convolution that adds a constant: computes what no code computes."""

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding) + 1


def test_a_convolution_that_adds_a_constant_is_refused_at_its_line():
    source = nn.Sequential(PlusOne(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(UnsupportedModel) as caught:
        from_torch(source, (8, 8, 3))
    message = str(caught.value)
    assert "module '0' (PlusOne), operation operator.add: arithmetic with a constant" in message
    assert (
        f"{HERE}:" in message and "return F.conv2d(x, self.weight, self.bias, self.stride, self.padding) + 1" in message
    )


class Reparameterisable(nn.Module):
    """In the style of MobileOne's and RepVGG's blocks: the identity branch starts as the number 0 and is a batch
    norm only where the shapes allow, then every branch is added to it; a gate that starts as 1 is multiplied."""

    def __init__(self, channels_in, channels_out):
        super().__init__()
        self.identity = nn.BatchNorm2d(channels_in) if channels_in == channels_out else None
        self.branches = nn.ModuleList(nn.Conv2d(channels_in, channels_out, 3, padding=1) for _ in range(2))

    def forward(self, x):
        identity_out = 0
        if self.identity is not None:
            identity_out = self.identity(x)
        out = identity_out
        for branch in self.branches:
            out += branch(x)
        gate = 1
        return F.relu(out * gate)


def test_a_sum_started_from_the_number_0_and_a_product_by_1_read_as_the_tensors_they_are():
    source = nn.Sequential(Reparameterisable(3, 4), Reparameterisable(4, 4), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                           nn.Linear(4, 2))  # fmt: skip
    codes = _codes(_exact(source, (8, 8, 3)))
    assert codes == ["IN", "ADD", "CN", "CN", "ACT", "ADD", "ADD", "BN", "CN", "CN", "ACT", "GAP", "DN"]


class Blurred(nn.Module):
    """An anti-aliased downsampling in the style of a blur pool: a fixed binomial filter, kept as a buffer,
    applied depthwise at stride 2; and, with ``scaled``, a fixed per-channel scale kept as a buffer too."""

    def __init__(self, channels=4, scaled=False):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        taps = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("filt", (taps[:, None] * taps[None, :] / 16).repeat(channels, 1, 1, 1), persistent=False)
        self.register_buffer("gain", torch.full((1, channels, 1, 1), 0.5))
        self.scaled, self.fc = scaled, nn.Linear(channels, 2)

    def forward(self, x):
        x = self.conv(x)
        x = x * self.gain if self.scaled else F.conv2d(x, self.filt, stride=2, groups=x.shape[1])
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize("scaled, what", [(False, "weight"), (True, "scale")])
def test_a_fixed_tensor_read_as_a_layer_s_weights_is_refused(scaled, what):
    """The notation's DW and LS learn their weights: a buffer read as them would be trained where the module
    keeps it fixed, and counted as parameters the module does not have."""
    with pytest.raises(UnsupportedModel, match=f"the {what} is a fixed tensor of the module \\(a buffer, not a param"):
        from_torch(Blurred(scaled=scaled), (8, 8, 3))


class Twice(nn.Module):
    """One convolution applied twice: its weights are shared, which the notation's layers never are."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(4, 4, 3, padding=1), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.conv(F.relu(self.conv(x))).mean((2, 3)))


def test_a_reading_that_learns_other_values_than_the_module_is_refused_though_it_computes_the_same():
    spec = from_torch(Twice(), (8, 8, 4), verify=False)  # two CN(4, 3): the same outputs, twice the parameters
    assert _codes(spec.text).count("CN") == 2
    with pytest.raises(
        UnsupportedModel,
        match=r"the notation read learns 306 values, but the module.s parameters that reach its output are 158",
    ):
        from_torch(Twice(), (8, 8, 4))


# --- timm's layers, through timm itself ------------------------------------------------------------------


@pytest.fixture(scope="module")
def timm(torchvision_import):
    """timm (which imports torchvision: see conftest's ``torchvision_import``)."""
    import timm

    return timm


@pytest.mark.parametrize("size", [31, 32], ids=["odd", "even"])
def test_timm_s_conv2d_same_batch_norm_act_and_layer_norm_2d_come_in_exactly(timm, size):
    from timm.layers import BatchNormAct2d, Conv2dSame, LayerNorm2d

    source = nn.Sequential(Conv2dSame(3, 8, 3, stride=2), BatchNormAct2d(8, act_layer=nn.SiLU), LayerNorm2d(8),
                           Conv2dSame(8, 8, 4, groups=8), BatchNormAct2d(8, act_layer=nn.Hardswish),
                           nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))  # fmt: skip
    text = _exact(source, (size, size, 3))
    assert "ACT(silu)" in text and "ACT(hard_silu)" in text and "LN(epsilon=1e-06)" in text
    assert text.count("ZP(") == 2  # TensorFlow's same padding, computed from x.shape in forward


def test_timm_s_conv2d_same_at_224_pads_as_tensorflow_does(timm):
    """The first stride-2 layer of a tf_ EfficientNet: 112x112, never PyTorch's 111x111."""
    from timm.layers import Conv2dSame

    from cnndsl import check

    source = nn.Sequential(Conv2dSame(3, 4, 3, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    text = _exact(source, (224, 224, 3), keras=False)
    assert check(text).layers[1].output_shape == (None, 112, 112, 4)


def test_a_timm_model_of_those_layers_comes_in_exactly(timm):
    """tf_ MobileNetV3: Conv2dSame and BatchNormAct2d throughout, built by timm."""
    text = _exact(timm.create_model("tf_mobilenetv3_small_minimal_100", num_classes=4), (32, 32, 3), keras=False)
    assert "ZP(((0, 1), (0, 1)))" in text and "ACT(relu)" in text


def test_timm_s_space_to_depth_and_depth_to_space_read_in_tensorflow_s_order(timm):
    """TResNet's stem: timm's SpaceToDepth (a view, a permute, a view) moves each 4x4 block of pixels into the
    channels in TensorFlow's order, PXU(4, mode=dcr); its DepthToSpace is PXS(r, mode=dcr)."""
    from timm.layers.space_to_depth import DepthToSpace, SpaceToDepth

    source = nn.Sequential(SpaceToDepth(4), nn.Conv2d(48, 32, 3, padding=1), DepthToSpace(2), nn.AdaptiveAvgPool2d(1),
                           nn.Flatten(), nn.Linear(8, 3))  # fmt: skip
    text = _exact(source, (16, 16, 3))
    assert "PXU(4, mode=dcr)" in text and "PXS(2, mode=dcr)" in text


# --- the command ----------------------------------------------------------------------------------------

REFUSING = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4 * 6 * 6, 2)

    def forward(self, x):
        x = self.conv(x).cumsum(1)
        y = self.conv(torch.zeros(1, 3, 8, 8)).view(-1)
        return self.fc(x.view(x.size(0), -1)) + y[:2]


def net():
    return Net()
"""


def test_from_torch_says_each_refusal_at_its_line_and_writes_nothing(tmp_path):
    from helpers import run_cli

    (tmp_path / "refusing.py").write_text(REFUSING)
    out = tmp_path / "net.cnn"
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}  # this checkout's cnndsl
    result = run_cli("from-torch", "refusing:net", "--input-shape", "8,8,3", "-o", str(out), env=env, cwd=tmp_path,
                     process=True)  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        "cnndsl: error: refusing:net: module '(top)' (Net), operation Tensor.cumsum: has no code"
    )
    assert lines[0].endswith("(at refusing.py:12: x = self.conv(x).cumsum(1))")
    assert len(lines) == 2 and "module 'conv' (Conv2d), operation call: the input is a constant tensor" in lines[1]
    assert lines[1].endswith("(at refusing.py:13: y = self.conv(torch.zeros(1, 3, 8, 8)).view(-1))")
    assert "Traceback" not in result.stderr and not out.exists()


# --- transposed convolutions and upsampling ------------------------------------------------------------


TRANSPOSED = {
    "k2s2": (nn.ConvTranspose2d(4, 3, 2, stride=2), ["CT"]),
    "k4s2p1": (nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1), ["CT"]),
    "k3s2p1op1": (nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), ["CT", "CR"]),
    "k3s1p1": (nn.ConvTranspose2d(4, 3, 3, padding=1, bias=False), ["CT"]),
    "nearest": (nn.Upsample(scale_factor=2), ["UP"]),
    "bilinear": (nn.Upsample(scale_factor=(2, 3), mode="bilinear"), ["UP"]),
}


@pytest.mark.parametrize("layer, codes", TRANSPOSED.values(), ids=TRANSPOSED.keys())
def test_transposed_convolutions_and_upsampling_read_as_ct_and_up(layer, codes):
    source = nn.Sequential(nn.Conv2d(3, 4, 3), layer, nn.Flatten(), nn.LazyLinear(3))
    source(torch.zeros(1, 3, 7, 7))
    text = _exact(source, (7, 7, 3))
    assert [code for code in _codes(text) if code in ("CT", "CR", "UP")] == codes


class Decoder(nn.Module):
    """A U-Net step as milesial's Pytorch-UNet writes it: upsample, pad to the skip's size, join."""

    def __init__(self):
        super().__init__()
        self.down, self.pool = nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2)
        self.mid = nn.Conv2d(4, 4, 3, padding=1)
        self.fuse = nn.Conv2d(8, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        skip = F.relu(self.down(x))
        low = F.relu(self.mid(self.pool(skip)))
        up = F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False)
        dy, dx = skip.size()[2] - up.size()[2], skip.size()[3] - up.size()[3]
        up = F.pad(up, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        x = self.fuse(torch.cat([skip, up], dim=1))
        return self.head(x.mean((2, 3)))


class Sized(nn.Module):
    """A transposed convolution told the skip's size, as some U-Nets call it."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        y = self.up(self.down(x), output_size=x.size())
        return self.head(torch.cat([x, y], 1).mean((2, 3)))


def test_a_transposed_convolution_told_its_output_size_reads_exactly():
    text = _exact(Sized(), (8, 8, 3))
    assert "CT(3, strides=2, activation=linear)" in text and "CR(((1, 0), (1, 0)))" in text


class PoolingBranch(nn.Module):
    """DeepLabV3's image pooling: pooled to 1x1, then resized to the size of the tensor it came from."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)
        self.pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 4, 1), nn.ReLU())
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        x = self.conv(x)
        size = x.shape[-2:]
        pooled = F.interpolate(self.pooling(x), size=size, mode="bilinear", align_corners=False)
        return self.head(torch.cat([x, pooled], dim=1).mean((2, 3)))


def test_a_pooled_pixel_resized_to_the_size_read_from_x_shape_reads_as_a_resizing_to_it():
    assert "CAT(ID() | RSZTO(GAP(true) -> CN(4, 1) | ID()))" in _exact(PoolingBranch(), (15, 15, 3))


class Decoded(nn.Module):
    """A decoder step that doubles its input by interpolating to twice the size it reads from x.shape."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        x = self.conv(x)
        x = F.interpolate(x, size=(x.shape[2] * 2, x.shape[3] * 2), mode="bilinear", align_corners=False)
        return self.head(x.mean((2, 3)))


def test_a_resize_to_a_whole_factor_of_the_size_read_from_x_shape_reads_as_up():
    assert "UP(interpolation=bilinear)" in _exact(Decoded(), (15, 15, 3))


def test_a_unet_step_padding_to_the_skip_s_size_reads_exactly():
    text = _exact(Decoder(), (15, 15, 3))
    assert "UP(interpolation=bilinear)" in text and "ZP(((0, 1), (0, 1)))" in text and "CAT(" in text
    assert "ZP(" not in _exact(Decoder(), (16, 16, 3), keras=False)  # the sizes agree: F.pad pads nothing


# --- refusals: the construct, the module, the file and line ---------------------------------------------


class Batchwise(nn.Module):
    def forward(self, x):
        return x.view(4, -1)


class BatchTimesTwo(nn.Module):
    def forward(self, x):
        return x.view(x.size(0) * 2, -1)


class BatchBranch(nn.Module):
    def forward(self, x):
        if x.size(0) == 1:
            return x
        return -x


class Unflattened(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4 * 6 * 6, 2 * 3 * 3)

    def forward(self, x):  # a product of the Linear's units, not the units themselves, viewed as an image
        y = self.fc(x.flatten(1))
        return (y * y).view(x.size(0), 2, 3, 3)


class Attribute(nn.Module):
    def forward(self, x):
        return x.foo


class TwoInputs(nn.Module):
    def forward(self, x, y):
        return x + y


class Gate(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


class Aligned(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class WidthNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(6)

    def forward(self, x):
        return self.norm(x)


REFUSED = {
    "across-the-batch": (Batchwise(), r"operation Tensor.view: reshaping to \(4, -1\) moves values across the batch",
                         "return x.view(4, -1)"),
    "batch-arithmetic": (BatchTimesTwo(), r"the batch size \* 2: the notation's layers never depend on the batch size",
                         "return x.view(x.size(0) * 2, -1)"),
    "batch-branch": (BatchBranch(), r"\(BatchBranch\): the batch size used as a number", "if x.size(0) == 1:"),
    "unflatten": (Unflattened(), r"reshaping \(batch, 18\) to \(batch, 2, 3, 3\) reads the values in PyTorch's "
                  r"\(C, H, W\) order; the notation's near code RS\(3, 3, 2\)",
                  "return (y * y).view(x.size(0), 2, 3, 3)"),
    "getattr": (Attribute(), r"operation getattr\(\w+, 'foo'\): has no code", "return x.foo"),
    "control-flow": (Gate(), r"\(Gate\): data-dependent control flow", "if x.sum() > 0:"),
    "align-corners": (Aligned(), "align_corners=True: Keras's bilinear samples at half pixels",
                      'return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)'),
    "width-norm": (WidthNorm(), r"a layer norm of \(6,\) on a tensor of \(batch, 4, 6, 6\) held channels first "
                   r"normalises the width \(6\)", "return self.norm(x)"),
}  # fmt: skip


@pytest.mark.parametrize("block, said, line", REFUSED.values(), ids=REFUSED.keys())
def test_a_refusal_names_the_construct_its_module_and_its_line(block, said, line):
    source = nn.Sequential(nn.Conv2d(3, 4, 3), block)
    with pytest.raises(UnsupportedModel) as caught:
        from_torch(source, (8, 8, 3))
    message = str(caught.value)
    assert re.search(said, message), message
    assert re.search(rf"\(at \S*{HERE}:\d+: {re.escape(line)}\)", message), message
    assert "\n" not in message


def test_a_module_of_two_inputs_is_refused_at_its_forward():
    with pytest.raises(UnsupportedModel) as caught:
        from_torch(TwoInputs(), (8, 8, 3))
    message = str(caught.value)
    assert "module '(top)' (TwoInputs): forward takes more than one input ('y' too)" in message
    assert re.search(rf"\(at \S*{HERE}:\d+: def forward\(self, x, y\):\)", message), message


class WithTargets(nn.Module):
    """A classifier whose forward also takes what training gives it, as many repositories write one."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

    def forward(self, x, targets=None, temperature: float = 1.0):
        logits = self.fc(self.conv(x).mean((2, 3)))
        if targets is not None:
            return F.cross_entropy(logits, targets)
        return logits / temperature if temperature != 1.0 else logits


def test_forward_s_other_arguments_are_read_at_their_defaults():
    assert _codes(_exact(WithTargets(), (8, 8, 3), keras=False)) == ["IN", "CN", "GAP", "DN"]


class TwoProblems(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = torch.sigmoid(self.conv(x)).cumsum(1)
        return self.fc(x.logsumexp((2, 3)))


def test_every_construct_refused_is_said_in_graph_order_once():
    """What is computed from a refused node is not refused again: one line per construct."""
    with pytest.raises(UnsupportedModel) as caught:
        from_torch(TwoProblems(), (8, 8, 3))
    lines = str(caught.value).splitlines()
    assert len(lines) == 1 and "Tensor.cumsum" in lines[0]

    class Both(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.fc = nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3), nn.Linear(8, 2)

        def forward(self, x):
            left = self.a(x).cumsum(1)
            right = self.b(x).cummax(1)
            return self.fc(torch.cat([left, right], 1).mean((2, 3)))

    with pytest.raises(UnsupportedModel) as caught:
        from_torch(Both(), (8, 8, 3))
    lines = str(caught.value).splitlines()
    assert [re.search(r"operation (Tensor\.\w+)", line).group(1) for line in lines] == [
        "Tensor.cumsum",
        "Tensor.cummax",
    ]
    assert all(f"{HERE}:" in line for line in lines)
