"""The codes of CNNs written outside Keras's core layers: leaky ReLU's slope, PReLU, channel slices, resizing
to a size, reflection and replication padding, depth to space. Each is held to PyTorch and Keras in shapes,
parameters and outputs, and read back from both (the entries' examples are compared by the suites that
iterate over every entry; the specs of :data:`torch_strategies.MODERN` are emitted and exported)."""

from __future__ import annotations

import numpy as np
import pytest
from torch_strategies import assert_equal_to_keras

from cnndsl import SpecError, check, compile_spec, from_torch, to_spec
from cnndsl.backends.torch_reader import port_weights
from cnndsl.emit import emit
from cnndsl.errors import UnsupportedModel
from cnndsl.report import architecture_hash

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
nn, F = torch.nn, torch.nn.functional

pytestmark = pytest.mark.slow


def read_exactly(module, input_shape, contains: str) -> str:
    """The module read (its text holding ``contains``), built in both frameworks with its weights: equal outputs
    (its logits as written where it ends in a ``Linear``; the softmax of its output where classify appends one)."""
    module.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.uniform_(-1, 1)
    spec = from_torch(module, input_shape)
    assert contains in one_line(spec.text), spec.text
    height, width, channels = input_shape
    x = torch.randn(2, channels, height, width)
    with torch.no_grad():
        expected = (torch.softmax(module(x), dim=1) if spec.task == "classify" else module(x)).numpy()
        built = compile_spec(spec.text, backend="torch", task=spec.task).eval()
        port_weights(spec, built)
        np.testing.assert_allclose(built(x).numpy(), expected, atol=1e-5)
    keras_model = compile_spec(spec.text, task=spec.task)
    port_weights(spec, keras_model)
    np.testing.assert_allclose(keras_model.predict(x.permute(0, 2, 3, 1).numpy(), verbose=0), expected, atol=1e-5)
    return spec.text


def keras_read_exactly(layers, input_shape, contains: str) -> str:
    """A Keras model of ``layers`` read by to_spec (its text holding ``contains``): the spec's model computes the same."""
    model = keras.Sequential([keras.Input(input_shape), *layers])
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(-1, 1, w.shape).astype("float32") for w in model.get_weights()])
    spec = to_spec(model)
    assert contains in one_line(spec.text), spec.text
    built = compile_spec(spec.text)
    built.set_weights(model.get_weights())
    x = rng.normal(size=(2, *input_shape)).astype("float32")
    np.testing.assert_allclose(built.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    return spec.text


def one_line(text: str) -> str:
    return " ".join(text.split())


class Pooled(nn.Module):
    """``body``, then a global average and a Linear to three classes."""

    def __init__(self, body, channels: int):
        super().__init__()
        self.body, self.fc = body, nn.Linear(channels, 3)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.body(x), 1), 1))


# --- ACT(leaky_relu, slope=s) --------------------------------------------------------------------


def test_a_leaky_relu_s_slope_is_kept_and_the_default_hashes_as_before():
    assert architecture_hash(check("CN(4) -> ACT(leaky_relu, slope=0.2) -> GAP()", (8, 8, 3))) == architecture_hash(
        check("CN(4) -> ACT(leaky_relu) -> GAP()", (8, 8, 3))
    )
    assert architecture_hash(check("CN(4) -> ACT(leaky_relu, slope=0.01) -> GAP()", (8, 8, 3))) != architecture_hash(
        check("CN(4) -> ACT(leaky_relu) -> GAP()", (8, 8, 3))
    )
    with pytest.raises(SpecError, match="slope= is leaky_relu's negative slope, not relu's"):
        check("ACT(relu, slope=0.1) -> GAP()", (8, 8, 3))


@pytest.mark.parametrize("slope", [0.01, 0.3, 0.2])
def test_a_leaky_relu_of_any_slope_computes_in_pytorch_what_keras_computes(slope):
    assert_equal_to_keras(f"CN(4, 3, activation=linear) -> ACT(leaky_relu, slope={slope}) -> GAP()", (8, 8, 3), 3)


def test_a_leaky_relu_s_slope_is_emitted_as_each_framework_writes_it():
    model = check("CN(4) -> ACT(leaky_relu, slope=0.01) -> ACT(leaky_relu) -> GAP()", (8, 8, 3), 3)
    keras_source = emit(model, "keras").decode()
    assert "layers.LeakyReLU(negative_slope=0.01)" in keras_source and "layers.Activation('leaky_relu')" in keras_source
    torch_source = emit(model, "torch").decode()
    assert "nn.LeakyReLU(negative_slope=0.01)" in torch_source and "nn.LeakyReLU(negative_slope=0.2)" in torch_source


def test_pytorch_s_leaky_relus_read_with_their_slopes():
    class Leaky(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.act = nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.1)

        def forward(self, x):
            return F.leaky_relu(F.leaky_relu(self.act(self.conv(x)), 0.3), negative_slope=0.25)

    text = read_exactly(Pooled(nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.1), nn.LeakyReLU()), 4), (8, 8, 3),
                        "CN(4, activation=linear) -> ACT(leaky_relu, slope=0.1) -> ACT(leaky_relu, slope=0.01)")  # fmt: skip
    assert "activation=leaky_relu" not in text  # a slope of its own never folds into the convolution
    read_exactly(Pooled(Leaky(), 4), (8, 8, 3), "ACT(leaky_relu, slope=0.1) -> ACT(leaky_relu, slope=0.3) "
                 "-> ACT(leaky_relu, slope=0.25)")  # fmt: skip
    read_exactly(
        Pooled(nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2)), 4), (8, 8, 3), "CN(4, activation=leaky_relu)"
    )


def test_keras_s_leaky_relu_layer_reads_with_its_slope():
    layers = [keras.layers.Conv2D(4, 3), keras.layers.LeakyReLU(), keras.layers.LeakyReLU(0.2),
              keras.layers.LeakyReLU(negative_slope=0.05), keras.layers.GlobalAveragePooling2D(),
              keras.layers.Dense(3, activation="softmax")]  # fmt: skip
    keras_read_exactly(
        layers, (8, 8, 3), "ACT(leaky_relu, slope=0.3) -> ACT(leaky_relu) -> ACT(leaky_relu, slope=0.05)"
    )


def test_keras_s_relu_with_a_negative_slope_reads_as_the_leaky_relu_it_computes():
    layers = [keras.layers.Conv2D(4, 3), keras.layers.ReLU(negative_slope=0.1), keras.layers.ReLU(negative_slope=0.0),
              keras.layers.ReLU(6.0), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")]  # fmt: skip
    keras_read_exactly(layers, (8, 8, 3), "ACT(leaky_relu, slope=0.1) -> ACT(relu) -> ACT(relu6)")


def test_keras_s_capped_relu_with_a_negative_slope_is_refused():

    inputs = keras.Input((8, 8, 2))
    x = keras.layers.ReLU(max_value=6.0, negative_slope=0.1, name="capped")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    with pytest.raises(UnsupportedModel, match="layer 'capped' .*negative_slope=0.1 with max_value has no notation"):
        to_spec(keras.Model(inputs, outputs))


# --- a Linear's output made an image (a DCGAN generator's head) --------------------------------------


class DCGANHead(nn.Module):
    """A generator's head as DCGAN-style code writes it: a Linear to 8 x 3 x 3 values viewed as (C, H, W)."""

    def __init__(self, norm: bool, reuse: bool = False):
        super().__init__()
        self.fc = nn.Linear(4 * 4 * 3, 8 * 3 * 3)
        self.norm = nn.BatchNorm1d(8 * 3 * 3) if norm else nn.Identity()
        self.up = nn.ConvTranspose2d(8, 4, 4, 2, 1)
        self.side = nn.Linear(8 * 3 * 3, 4) if reuse else None

    def forward(self, x):
        b = x.size(0)
        y = F.relu(self.norm(self.fc(x.view(b, -1))))
        side = self.side(y) if self.side is not None else None  # the units used in their own order too
        image = self.up(y.view(b, 8, 3, 3))
        return image if side is None else image + side.view(b, 4, 1, 1)


@pytest.mark.parametrize("norm", [False, True])
def test_a_linear_viewed_as_an_image_reads_as_dn_then_rs_with_its_units_reordered(norm):
    module = Pooled(DCGANHead(norm), 4)
    if norm:  # statistics of their own, so that a batch norm left in the old order would differ
        module.body.norm.running_mean.uniform_(-1, 1)
        module.body.norm.running_var.uniform_(0.5, 2)
    body = "DN(72, activation=linear) -> BN(momentum=0.9, epsilon=1e-05) -> ACT(relu)" if norm else "DN(72)"
    read_exactly(module, (4, 4, 3), f"FL() -> {body} -> RS(3, 3, 8) -> CT(4, kernel=4, strides=2")


def test_a_linear_viewed_as_an_image_and_used_again_is_refused():
    with pytest.raises(
        UnsupportedModel, match=r"reads the values in PyTorch's \(C, H, W\) order.*is used elsewhere too"
    ):
        from_torch(Pooled(DCGANHead(False, reuse=True), 4).eval(), (4, 4, 3))


# --- torch.stack: SKNet's selective kernel, and a stack folded into the channels ------------------------


class Selective(nn.Module):
    """SKNet's selective kernel as timm writes it: the paths stacked on dim 1, summed, a softmax over the paths
    of an attention cut from the channels by a view, the paths weighted and summed."""

    def __init__(self, paths: int = 2):
        super().__init__()
        self.paths = nn.ModuleList(nn.Conv2d(4, 4, 3, padding=1 + i, dilation=1 + i) for i in range(paths))
        self.reduce, self.select = nn.Conv2d(4, 2, 1), nn.Conv2d(2, 4 * paths, 1)

    def forward(self, x):
        x = torch.stack([path(x) for path in self.paths], dim=1)
        attention = self.select(F.relu(self.reduce(x.sum(1).mean((2, 3), keepdim=True))))
        b, c, h, w = attention.shape
        attention = torch.softmax(attention.view(b, len(self.paths), c // len(self.paths), h, w), dim=1)
        return torch.sum(x * attention, dim=1)


class Folded(nn.Module):
    """Two paths stacked on a new axis, then a view folding it into the channels: a concatenation."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(4, 3, 1), nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, x):
        stacked = torch.stack((self.a(x), self.b(x)), 1)
        return F.relu(stacked.view(x.size(0), -1, x.size(2), x.size(3)))


def test_sknet_s_selective_kernel_reads_as_slices_sigmoids_of_differences_products_and_sums():
    text = read_exactly(Pooled(nn.Sequential(nn.Conv2d(3, 4, 1), Selective()), 4), (8, 8, 3),
                        "ADD(@view_path0 | ID(), scale=-1.0)")  # fmt: skip
    assert one_line(text).count("ACT(sigmoid)") == 2 and "MUL(" in text and "SL(4, 8)" in text


def test_a_stack_folded_into_the_channels_reads_as_a_concatenation():
    read_exactly(Pooled(nn.Sequential(nn.Conv2d(3, 4, 1), Folded()), 6), (8, 8, 3), "CAT(")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (Selective(3), "softmax over 3 stacked tensors: only two have notation"),
        (
            type("OnDim2", (nn.Module,), {"forward": lambda self, x: torch.stack([x, x], 2).sum(2)})(),
            "stacking 2 tensors on dim 2: the notation follows a stack of images of one shape on dim 1",
        ),
        (
            type("Mean", (nn.Module,), {"forward": lambda self, x: torch.stack([x, x], 1).mean(1)})(),
            "a stack of tensors \\(torch.stack on dim 1\\) reads only into sum\\(1\\)",
        ),
        (  # ShuffleNet's channel shuffle written inline (the quantizable ShuffleNets)
            type(
                "Shuffled", (nn.Module,), {"forward": lambda self, x: x.view(x.size(0), 2, 2, 8, 8).transpose(1, 2)}
            )(),
            "a stack of tensors \\(x.view\\(b, 2, 2, h, w\\)\\) reads only .* is a channel shuffle: SHF",
        ),
    ],
)
def test_a_stack_the_notation_cannot_follow_is_refused_naming_it(body, message):
    with pytest.raises(UnsupportedModel, match=message):
        from_torch(Pooled(nn.Sequential(nn.Conv2d(3, 4, 1), body), 4).eval(), (8, 8, 3))


def test_a_strided_dilated_convolution_reads_as_the_stride_one_convolution_subsampled():
    """Keras's Conv2D takes strides or a dilation, not both: every other output of the stride-1 one is the same."""
    body = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=2, dilation=2), nn.Conv2d(4, 4, 3, stride=2, dilation=2))
    read_exactly(Pooled(body, 4), (13, 12, 3), "CN(4, padding=same, activation=linear, dilation=2) -> MP(1, strides=2)")


# --- PRELU ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("slopes", ["", "one"])
def test_a_prelu_has_keras_s_parameters_and_computes_in_pytorch_what_keras_computes(slopes):
    text = f"CN(4, 3, activation=linear) -> PRELU({slopes}) -> GAP()"
    assert check(text, (8, 8, 3), 3).layers[1].params == (1 if slopes else 4)
    assert_equal_to_keras(text, (8, 8, 3), 3)


def test_pytorch_s_prelu_reads_per_channel_or_one_for_all_with_its_slopes():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.weight = nn.Conv2d(3, 4, 3), nn.Parameter(torch.full((4,), 0.25))

        def forward(self, x):
            return F.prelu(self.conv(x), self.weight)

    body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.PReLU(4), nn.Conv2d(4, 5, 1), nn.PReLU())
    read_exactly(Pooled(body, 5), (8, 8, 3), "CN(4, activation=linear) -> PRELU() -> CN(5, 1, activation=linear) "
                 "-> PRELU(one)")  # fmt: skip
    read_exactly(Pooled(Functional(), 4), (8, 8, 3), "CN(4, activation=linear) -> PRELU()")


def test_keras_s_prelu_reads_when_its_slopes_are_shared_over_height_and_width():
    layers = [keras.layers.Conv2D(4, 3), keras.layers.PReLU(shared_axes=[1, 2]),
              keras.layers.PReLU(shared_axes=[1, 2, 3]), keras.layers.GlobalAveragePooling2D(),
              keras.layers.Dense(3, activation="softmax")]  # fmt: skip
    keras_read_exactly(layers, (8, 8, 3), "CN(4, activation=linear) -> PRELU() -> PRELU(one)")
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.PReLU(), keras.layers.GlobalAveragePooling2D()])
    with pytest.raises(Exception, match=r"shared_axes=None: the notation's PRELU learns a slope per channel"):
        to_spec(model)


# --- SL: channel slices and uneven splits ----------------------------------------------------------


def test_a_channel_slice_checks_its_range_and_computes_in_pytorch_what_keras_computes():
    model = check("CN(8, 3) -> CAT(SL(0, 3) -> CN(4, 1) | SL(3, 8)) -> GAP()", (8, 8, 3), 3)
    assert [info.output_shape for info in model.layers[1:4]] == [(None, 6, 6, 3), (None, 6, 6, 4), (None, 6, 6, 5)]
    with pytest.raises(SpecError, match=r"SL\(2, 9\) reaches past the input's 8 channels"):
        check("CN(8, 3) -> SL(2, 9) -> GAP()", (8, 8, 3))
    with pytest.raises(SpecError, match="SL stop=2 is not after start=2"):
        check("CN(8, 3) -> SL(2, 2) -> GAP()", (8, 8, 3))
    assert_equal_to_keras("CN(8, 3) -> CAT(SL(0, 3) -> CN(4, 1) | SL(3, 8)) -> GAP() -> SL(2, 7)", (8, 8, 3), 3)


class Ghost(nn.Module):
    """GhostNet's module: a primary convolution, cheap depthwise features, both joined and cut to ``out`` channels."""

    def __init__(self, out: int = 6):
        super().__init__()
        self.out = out
        self.primary = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU())
        self.cheap = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.ReLU())

    def forward(self, x):
        x1 = self.primary(x)
        return torch.cat([x1, self.cheap(x1)], dim=1)[:, : self.out, :, :]


class Split(nn.Module):
    """An uneven split (MixNet's kernels per group, CSPNet's partial path), then the parts joined again."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 7, 1)
        self.small, self.large = nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(4, 4, 5, padding=2)

    def forward(self, x):
        a, b = torch.split(self.stem(x), [3, 4], dim=1)
        x = torch.cat([self.small(a), self.large(b)], 1)
        left, right = x.split(4, 1)  # 4 and 3
        parts = x.chunk(3, dim=1)  # 3, 3 and 1
        return torch.cat([right, left[:, 1:], x[:, -2:], parts[0], parts[2]], dim=1)


def test_pytorch_s_channel_slices_splits_and_uneven_chunks_read_as_slices():
    read_exactly(Pooled(Ghost(), 6), (8, 8, 3), "CAT(ID() | DW(padding=same)) -> SL(0, 6)")
    text = read_exactly(Pooled(Split(), 12), (8, 8, 3), "SL(0, 3)")
    for part in ("SL(3, 7)", "SL(4, 7)", "SL(1, 4)", "SL(5, 7)", "SL(6, 7)"):
        assert part in text, text


@pytest.mark.parametrize(
    ("index", "message"),
    [
        ("x[:, 0]", r"indexing a tensor with \[:, 0\]; the notation slices the channels only"),
        ("x[:, :, 1:]", r"indexing a tensor with \[:, :, 1:, :\]; the notation slices the channels only"),
        ("x[:, ::2]", r"the channel slice \[:, ::2, :, :\] is strided"),
    ],
)
def test_indexing_other_than_a_channel_slice_is_refused_naming_it(index, message):
    from cnndsl.backends.torch_reader import UnsupportedModel

    namespace = {"torch": torch, "nn": nn}
    exec(f"def forward(self, x):\n    x = self.conv(x)\n    return {index}", namespace)  # the indexing as written
    body = type("Indexed", (nn.Module,), {"forward": namespace["forward"]})()
    body.conv = nn.Conv2d(3, 4, 1)
    with pytest.raises(UnsupportedModel, match=message):
        from_torch(Pooled(body, 4), (8, 8, 3))


def test_keras_s_channel_slice_reads_back():
    from cnndsl.backends.keras_layers import ChannelSlice

    layers = [keras.layers.Conv2D(6, 3), ChannelSlice(1, 5), keras.layers.GlobalAveragePooling2D(),
              keras.layers.Dense(3, activation="softmax")]  # fmt: skip
    keras_read_exactly(layers, (8, 8, 3), "CN(6, activation=linear) -> SL(1, 5)")


# --- RSZ: resizing to a size -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("RSZ(13, 7)", (8, 8, 3)),  # up and down, half-pixel bilinear in both
        ("RSZ(5, 3)", (11, 10, 3)),
        ("RSZ(13, 7, interpolation=nearest)", (8, 8, 3)),
        ("RSZ(5, 3, interpolation=nearest)", (11, 10, 3)),
    ],
)
def test_a_resizing_computes_in_pytorch_what_keras_computes(text, shape):
    assert check(f"{text} -> FL()", shape, 3).layers[0].output_shape[1:3] == tuple(
        int(n) for n in text[4:].split(")")[0].split(",")[:2]
    )
    assert_equal_to_keras(f"CN(2, 1) -> {text} -> FL()", shape, 3)


class ASPPPooling(nn.Module):
    """DeepLabV3's pooling branch: the image pooled to one pixel, a 1x1 convolution, back to the image's size."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.branch = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 4, 1), nn.ReLU())
        self.up = nn.Upsample(size=(16, 12), mode="nearest")

    def forward(self, x):
        x = self.conv(x)
        pooled = F.interpolate(self.branch(x), size=(8, 6), mode="bilinear", align_corners=False)
        joined = torch.cat([x, pooled], dim=1)
        return F.interpolate(self.up(joined), (5, 7), mode="nearest-exact")


def test_pytorch_s_interpolation_to_a_size_reads_as_a_resizing():
    read_exactly(Pooled(ASPPPooling(), 8), (8, 6, 3), "CAT(ID() | GAP(true) -> CN(4, 1) -> RSZ(8, 6)) "
                 "-> UP() -> RSZ(5, 7, interpolation=nearest)")  # fmt: skip


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("F.interpolate(x, size=(5, 7))", "mode='nearest' to 5x7 differs from Keras's Resizing; nearest-exact"),
        ("F.interpolate(x, size=16, mode='bilinear', align_corners=True)", "align_corners=True: Keras's Resizing"),
        ("F.interpolate(x, size=16, mode='bicubic')", "mode='bicubic' to 16x16 differs"),
    ],
)
def test_an_interpolation_keras_computes_otherwise_is_refused_naming_it(call, message):
    from cnndsl.backends.torch_reader import UnsupportedModel

    namespace = {"torch": torch, "F": F}
    exec(f"def forward(self, x):\n    return {call}", namespace)
    body = type("Resized", (nn.Module,), {"forward": namespace["forward"]})()
    with pytest.raises(UnsupportedModel, match=message):
        from_torch(Pooled(body, 3), (8, 8, 3))


def test_keras_s_resizing_reads_back():
    layers = [keras.layers.Conv2D(4, 1), keras.layers.Resizing(5, 7), keras.layers.Resizing(9, 9, "nearest"),
              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")]  # fmt: skip
    keras_read_exactly(layers, (8, 8, 3), "-> RSZ(5, 7) -> RSZ(9, 9, interpolation=nearest)")
    with pytest.raises(Exception, match="crop_to_aspect_ratio=True has no notation"):
        to_spec(keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Resizing(4, 6, crop_to_aspect_ratio=True)]))


# --- RSZTO: resizing to another tensor's size ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("CN(2, 1) as a -> MP(2) -> CN(3, 1) -> RSZTO(ID() | @a)", (9, 7, 3)),  # up, to an odd size
        ("CN(2, 1) as a -> MP(2) -> CN(3, 1) -> RSZTO(ID() | @a, interpolation=nearest)", (9, 7, 3)),
        ("CN(2, 1) as a -> RSZTO(@a | MP(3) -> CN(1, 1))", (11, 10, 3)),  # down, to the second branch's size
        ("CN(2, 1) as a -> GAP(true) -> RSZTO(ID() | @a) -> CAT(ID() | @a)", (8, 6, 3)),  # an ASPP pooling branch
    ],
)
def test_a_resizing_to_another_tensor_s_size_computes_in_pytorch_what_keras_computes(text, shape):
    assert_equal_to_keras(f"{text} -> FL()", shape, 3)


def test_a_resizing_to_another_tensor_s_size_is_keras_s_resizing_to_that_size():
    """RSZTO(X | Y) computes what RSZ to Y's size computes, in Keras: the same weights give the same outputs."""
    to = compile_spec("CN(2, 1) as a -> MP(2) -> CN(3, 1) -> RSZTO(ID() | @a) -> FL()", (9, 7, 3), 3)
    fixed = compile_spec("CN(2, 1) -> MP(2) -> CN(3, 1) -> RSZ(9, 7) -> FL()", (9, 7, 3), 3)
    rng = np.random.default_rng(0)
    to.set_weights([rng.uniform(-1, 1, w.shape).astype("float32") for w in to.get_weights()])
    fixed.set_weights(to.get_weights())
    x = rng.normal(size=(2, 9, 7, 3)).astype("float32")
    np.testing.assert_allclose(to.predict(x, verbose=0), fixed.predict(x, verbose=0), atol=1e-6)


def test_a_resizing_to_another_tensor_s_size_checks_its_branches():
    model = check("CN(2, 1) as a -> MP(2) -> CN(5, 1) -> RSZTO(ID() | @a) -> FL()", (9, 7, 3), 3)
    assert model.layers[3].output_shape == (None, 9, 7, 5) and model.layers[3].params == 0
    with pytest.raises(SpecError, match="RSZTO resizes its first branch to the second's height and width: it takes 2"):
        check("CN(2, 1) as a -> RSZTO(ID() | @a | @a) -> FL()", (8, 8, 3), 3)
    with pytest.raises(SpecError, match="RSZTO resizes images"):
        check("CN(2, 1) as a -> GAP() -> RSZTO(ID() | @a) -> FL()", (8, 8, 3), 3)


def test_the_docs_resize_to_another_tensor_s_size_with_a_spec_that_checks():
    from docs_pages import section

    part = section("docs/notation/graphs.md", "Resizing to another tensor's size")
    block = part[part.index("\n    IN(") : part.index("\n\n", part.index("\n    IN(") + 1)]
    model = check(" ".join(block.split()), task="segment")
    assert [info.code for info in model.layers].count("RSZTO") == 2
    assert model.layers[-2].output_shape == (None, 64, 64, 4)


def test_a_resizing_to_another_tensor_s_size_is_emitted_and_reads_back_from_keras():
    text = "CN(2, 1) as a -> MP(2) -> CN(3, 1) -> RSZTO(ID() | @a, interpolation=nearest) -> GAP()"
    model = check(text, (8, 8, 3), 3)
    assert "ResizeTo(interpolation='nearest')" in emit(model, "keras").decode()
    assert "ResizeTo('nearest')" in emit(model, "torch").decode()
    built = compile_spec(text, (8, 8, 3), 3)
    assert "RSZTO(MP() -> CN(3, 1) | ID(), interpolation=nearest)" in one_line(to_spec(built).text)


class SizedLike(nn.Module):
    """A segmentation net as torchvision writes its resizes: an ASPP pooling branch back to its input's size
    (``f.shape[-2:]``) and the logits back to the image's (``x.shape[-2:]``, taken first)."""

    def __init__(self, mode="bilinear"):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 8, 3, 2, 1), nn.Conv2d(8, 8, 3, 2, 1)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 4, 1), nn.ReLU())
        self.head = nn.Conv2d(12, 5, 1)
        self.mode = mode

    def forward(self, x):
        input_shape = x.shape[-2:]
        f = self.b(F.relu(self.a(x)))
        size = f.shape[-2:]
        pooled = F.interpolate(self.pool(f), size=size, mode="bilinear", align_corners=False)
        y = self.head(torch.cat([f, pooled], 1))
        return F.interpolate(y, size=input_shape, mode=self.mode)


@pytest.mark.parametrize("mode", ["bilinear", "nearest-exact"])
def test_pytorch_s_interpolation_to_another_tensor_s_size_reads_as_rszto_exact_at_every_input_size(mode):
    module = SizedLike(mode).eval()
    spec = from_torch(module, (20, 18, 3), task="segment")
    text = one_line(spec.text)
    assert "CAT(ID() | RSZTO(GAP(true) -> CN(4, 1) | ID()))" in text and "RSZ(" not in text, text
    interpolation = "" if mode == "bilinear" else ", interpolation=nearest"
    assert f"| ID(){interpolation}) -> ACT(softmax)" in text.replace(" )", ")"), text
    for height, width in ((20, 18), (27, 33)):  # the size read at, and another: the resizes follow the tensors
        sized = spec.text.replace("IN(20, 18, 3)", f"IN({height}, {width}, 3)")
        built = compile_spec(sized, backend="torch", task=spec.task).eval()
        port_weights(spec, built)  # the weights read at the first size: the same tensors at any size
        x = torch.randn(2, 3, height, width)
        with torch.no_grad():
            np.testing.assert_allclose(built(x).numpy(), torch.softmax(module(x), dim=1).numpy(), atol=1e-5)


def test_a_nearest_interpolation_to_another_tensor_s_size_reads_as_the_size_read_or_is_refused():
    """PyTorch's legacy nearest is Keras's only at a whole factor: that size as read (UP), else refused."""
    with pytest.raises(UnsupportedModel, match="mode='nearest' to 20x18 differs from Keras's Resizing; nearest-exact"):
        from_torch(SizedLike("nearest").eval(), (20, 18, 3), task="segment")
    text = one_line(from_torch(SizedLike("nearest").eval(), (20, 20, 3), task="segment").text)
    assert "UP(size=4)" in text and text.count("RSZTO(") == 1, text


# --- ZP(mode=reflect | replicate) ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_reflection_and_replication_padding_compute_in_pytorch_what_keras_computes(mode):
    text = f"CN(3, 1) -> ZP(((0, 3), (2, 1)), mode={mode}) -> ZP(1, mode={mode}) -> FL()"
    assert check(text, (5, 4, 2), 3).layers[1].output_shape == (None, 8, 7, 3)
    assert_equal_to_keras(text, (5, 4, 2), 3)


def test_padding_modes_pad_as_numpy_does_at_any_input_size_and_zeros_hash_as_before():
    from cnndsl.backends.keras_layers import Padding2D

    pads = [Padding2D(((2, 1), (0, 3)), "reflect"), Padding2D(((2, 2), (2, 2)), "replicate")]
    model = keras.Sequential([keras.Input((None, None, 2)), *pads])  # the sizes known only when it runs
    x = np.random.default_rng(0).normal(size=(1, 5, 4, 2)).astype("float32")
    expected = np.pad(np.pad(x, ((0, 0), (2, 1), (0, 3), (0, 0)), "reflect"), ((0, 0), (2, 2), (2, 2), (0, 0)), "edge")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected)
    assert architecture_hash(check("ZP(2, mode=zeros) -> GAP()", (8, 8, 3))) == architecture_hash(
        check("ZP(2) -> GAP()", (8, 8, 3))
    )
    with pytest.raises(SpecError, match="ZP reflects 4 rows or columns of the width 4"):
        check("ZP((1, 4), mode=reflect) -> GAP()", (5, 4, 2))


class Padded(nn.Module):
    """Padding as model code writes it: modules of each mode, and F.pad of each."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.reflect, self.replicate, self.zero = (
            nn.ReflectionPad2d(1),
            nn.ReplicationPad2d((0, 2, 1, 0)),
            nn.ZeroPad2d(1),
        )

    def forward(self, x):
        x = self.zero(self.replicate(self.reflect(self.conv(x))))
        x = F.pad(x, (1, 0, 2, 1), mode="reflect")
        x = F.pad(x, [2, 2, 0, 0], mode="replicate")
        return F.pad(x, (0, 1, 1, 0))


def test_pytorch_s_padding_modules_and_f_pad_read_with_their_modes():
    read_exactly(Pooled(Padded(), 4), (8, 8, 3), "ZP(mode=reflect) -> ZP(((1, 0), (0, 2)), mode=replicate) -> ZP() "
                 "-> ZP(((2, 1), (1, 0)), mode=reflect) -> ZP((0, 2), mode=replicate) -> ZP(((1, 0), (0, 1)))")  # fmt: skip


def test_a_convolution_s_own_reflect_or_replicate_padding_reads_as_a_padding_of_that_mode():
    body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
                         nn.Conv2d(4, 5, 3, stride=2, padding=(2, 1), padding_mode="replicate"),
                         nn.Conv2d(5, 5, 1, padding_mode="reflect"))  # fmt: skip
    read_exactly(Pooled(body, 5), (8, 8, 3), "ZP(mode=reflect) -> CN(4, activation=linear) -> "
                 "ZP((2, 1), mode=replicate) -> CN(5, strides=2, activation=linear) -> CN(5, 1, activation=linear)")  # fmt: skip


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("F.pad(x, (1, 1, 1, 1), value=1.0)", "F.pad with the constant 1.0: the notation pads with zeros"),
        ("F.pad(x, (1, 1, 1, 1), mode='circular')", "F.pad mode='circular' has no notation"),
        ("F.pad(x, (1, 1, 1, 1, 1, 1))", r"F.pad\(1, 1, 1, 1, 1, 1\) pads the channels or the batch"),
        ("F.pad(x, (1, -1))", r"padding by \(1, -1, 0, 0\): a negative pad crops"),
    ],
)
def test_a_padding_the_notation_cannot_write_is_refused_naming_it(call, message):
    from cnndsl.backends.torch_reader import UnsupportedModel

    namespace = {"torch": torch, "F": F}
    exec(f"def forward(self, x):\n    return {call}", namespace)
    body = type("Padded", (nn.Module,), {"forward": namespace["forward"]})()
    with pytest.raises(UnsupportedModel, match=message):
        from_torch(Pooled(body, 3), (8, 8, 3))


def test_keras_s_padding_of_each_mode_reads_back():
    from cnndsl.backends.keras_layers import Padding2D

    layers = [keras.layers.Conv2D(4, 1), Padding2D(((1, 2), (0, 1)), "reflect"), Padding2D(((1, 1), (1, 1)), "replicate"),
              keras.layers.ZeroPadding2D(1), keras.layers.GlobalAveragePooling2D(),
              keras.layers.Dense(3, activation="softmax")]  # fmt: skip
    keras_read_exactly(layers, (8, 8, 3), "ZP(((1,2),(0,1)), mode=reflect) -> ZP(mode=replicate) -> ZP() -> GAP()")


# --- PXS, PXU: pixel shuffle (depth to space) and back-----------------------------------------------------


@pytest.mark.parametrize("mode", ["dcr", "crd"])
def test_depth_to_space_and_back_compute_in_pytorch_what_keras_computes(mode):
    text = f"CN(12, 1) -> PXS(2, mode={mode}) -> CN(9, 1) -> PXS(3, mode={mode}) -> PXU(2, mode={mode}) -> FL()"
    shapes = [info.output_shape for info in check(text, (2, 2, 3), 3).layers[1:5]]
    assert shapes == [(None, 4, 4, 3), (None, 4, 4, 9), (None, 12, 12, 1), (None, 6, 6, 4)]
    assert_equal_to_keras(text, (2, 2, 3), 3)


def test_dcr_is_tensorflow_s_order_and_crd_pytorch_s():
    import tensorflow as tf

    from cnndsl.backends.keras_layers import DepthToSpace, SpaceToDepth

    x = np.random.default_rng(0).normal(size=(2, 3, 5, 12)).astype("float32")
    np.testing.assert_array_equal(DepthToSpace(2)(x).numpy(), tf.nn.depth_to_space(x, 2).numpy())
    np.testing.assert_array_equal(SpaceToDepth(3)(x[:, :3, :3]).numpy(), tf.nn.space_to_depth(x[:, :3, :3], 3).numpy())
    shuffled = F.pixel_shuffle(torch.from_numpy(x).permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(DepthToSpace(2, "crd")(x).numpy(), shuffled)
    assert not np.array_equal(DepthToSpace(2, "dcr")(x).numpy(), shuffled)
    with pytest.raises(SpecError, match=r"PXS\(2\) needs channels divisible by 4, not 6"):
        check("CN(6, 1) -> PXS(2) -> GAP()", (4, 4, 3))


def test_pytorch_s_pixel_shuffle_and_unshuffle_read_in_pytorch_s_order():
    class Shuffled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.shuffle, self.unshuffle = nn.Conv2d(3, 8, 1), nn.PixelShuffle(2), nn.PixelUnshuffle(2)

        def forward(self, x):
            return F.pixel_unshuffle(F.pixel_shuffle(self.unshuffle(self.shuffle(self.conv(x))), 2), 2)

    read_exactly(Pooled(Shuffled(), 8), (4, 6, 3), "PXS(2) -> PXU(2) -> PXS(2) -> PXU(2)")  # fmt: skip


def test_keras_s_depth_to_space_reads_back():
    from cnndsl.backends.keras_layers import DepthToSpace, SpaceToDepth

    layers = [keras.layers.Conv2D(8, 1), DepthToSpace(2), SpaceToDepth(2, "crd"), keras.layers.GlobalAveragePooling2D(),
              keras.layers.Dense(3, activation="softmax")]  # fmt: skip
    keras_read_exactly(layers, (4, 4, 3), "PXS(2, mode=dcr) -> PXU(2)")


def test_an_interpolation_by_a_scale_is_left_to_up_s_reading():
    from cnndsl.backends.torch_reader import UnsupportedModel
    from cnndsl.layers import LAYERS

    class Scaled(nn.Module):
        def forward(self, x):
            return F.interpolate(x, scale_factor=2, mode="nearest")

    if dict(LAYERS["UP"].torch.functions).get("torch.nn.functional.interpolate") is None:
        with pytest.raises(UnsupportedModel, match="RSZ resizes to a size, and UP's scaling has no reading"):
            from_torch(Pooled(Scaled(), 3), (8, 8, 3))
    else:
        read_exactly(Pooled(Scaled(), 3), (8, 8, 3), "UP(")
