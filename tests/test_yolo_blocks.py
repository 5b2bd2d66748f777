"""The YOLO blocks against reference PyTorch modules built the way Ultralytics builds its own.

Each block is built by the PyTorch backend from the notation; the reference module below
(written here, with Ultralytics' module structure and parameter names: ``cv1.conv.weight``,
``m.0.cv2.bn.running_var``) gets random weights and batch-norm statistics, which are
ported into the build by the paths the checked layers carry. Outputs (eval mode), parameter
counts and convolution MACs must agree; the Keras build must compute what the PyTorch build
computes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch_strategies import assert_equal_to_keras  # noqa: E402

from cnndsl import SpecError, check, compile_spec  # noqa: E402
from cnndsl.backends.torch import block_paths  # noqa: E402
from cnndsl.layers import BLOCK_CODES, LAYERS  # noqa: E402

pytestmark = pytest.mark.slow


# --- the reference modules (Ultralytics' structure and names) --------------------------------


class Conv(nn.Module):
    def __init__(self, c_in, c_out, k=1, s=1, g=1, d=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, (d * (k - 1) + 1) // 2, dilation=d, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c_in, c_out, shortcut=True, g=1, k=(3, 3), e=0.5):
        super().__init__()
        hidden = int(c_out * e)
        self.cv1 = Conv(c_in, hidden, k[0])
        self.cv2 = Conv(hidden, c_out, k[1], g=g)
        self.add = shortcut and c_in == c_out

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    def __init__(self, c_in, c_out, n=1, shortcut=True, g=1, e=0.5, k=(1, 3)):
        super().__init__()
        hidden = int(c_out * e)
        self.cv1, self.cv2 = Conv(c_in, hidden), Conv(c_in, hidden)
        self.cv3 = Conv(2 * hidden, c_out)
        self.m = nn.Sequential(*[Bottleneck(hidden, hidden, shortcut, g, k, 1.0) for _ in range(n)])

    def forward(self, x):
        return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], 1))


class C2f(nn.Module):
    def __init__(self, c_in, c_out, n=1, shortcut=False, g=1, e=0.5, module=None):
        super().__init__()
        self.c = int(c_out * e)
        self.cv1 = Conv(c_in, 2 * self.c)
        self.cv2 = Conv((2 + n) * self.c, c_out)
        make = module or (lambda c: Bottleneck(c, c, shortcut, g, (3, 3), 1.0))
        self.m = nn.ModuleList([make(self.c) for _ in range(n)])

    def forward(self, x):
        parts = list(self.cv1(x).split(self.c, 1))
        for module in self.m:
            parts.append(module(parts[-1]))
        return self.cv2(torch.cat(parts, 1))


class C2(nn.Module):
    """Ultralytics' C2 (YOLOv8-p6's head): cv1 split in halves, n bottlenecks on the first, concatenated with the second."""

    def __init__(self, c_in, c_out, n=1, shortcut=True, g=1, e=0.5):
        super().__init__()
        self.c = int(c_out * e)
        self.cv1 = Conv(c_in, 2 * self.c)
        self.cv2 = Conv(2 * self.c, c_out)
        self.m = nn.Sequential(*(Bottleneck(self.c, self.c, shortcut, g, (3, 3), 1.0) for _ in range(n)))

    def forward(self, x):
        a, b = self.cv1(x).chunk(2, 1)
        return self.cv2(torch.cat((self.m(a), b), 1))


def c3k2(c_in, c_out, n=1, c3k=False, e=0.5, g=1, shortcut=True):
    if c3k:
        return C2f(c_in, c_out, n, shortcut, g, e, lambda c: C3(c, c, 2, shortcut, g, 0.5, (3, 3)))
    return C2f(c_in, c_out, n, shortcut, g, e, lambda c: Bottleneck(c, c, shortcut, g))


class SPPF(nn.Module):
    def __init__(self, c_in, c_out, k=5, act=True):
        super().__init__()
        self.cv1 = Conv(c_in, c_in // 2, act=act)
        self.cv2 = Conv(c_in // 2 * 4, c_out)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Attention(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.heads, self.head = heads, c // heads
        self.key = int(self.head * 0.5)
        self.qkv = Conv(c, c + 2 * self.key * heads, act=False)
        self.proj = Conv(c, c, act=False)
        self.pe = Conv(c, c, 3, g=c, act=False)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = (
            self.qkv(x).view(b, self.heads, 2 * self.key + self.head, h * w).split([self.key, self.key, self.head], 2)
        )
        weights = torch.softmax(q.transpose(-2, -1) @ k * self.key**-0.5, -1)
        out = (v @ weights.transpose(-2, -1)).reshape(b, c, h, w) + self.pe(v.reshape(b, c, h, w))
        return self.proj(out)


class PSABlock(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.attn = Attention(c, heads)
        self.ffn = nn.Sequential(Conv(c, 2 * c), Conv(2 * c, c, act=False))

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.ffn(x)


class C2PSA(nn.Module):
    def __init__(self, c_in, c_out, n=1, e=0.5, single=False):
        super().__init__()
        self.c = int(c_in * e)
        self.cv1, self.cv2 = Conv(c_in, 2 * self.c), Conv(2 * self.c, c_in)
        blocks = [PSABlock(self.c, max(self.c // 64, 1)) for _ in range(n)]
        if single:  # PSA: the block's attention and feed-forward are its own modules
            self.attn, self.ffn = blocks[0].attn, blocks[0].ffn
        else:
            self.m = nn.Sequential(*blocks)
        self.single = single

    def forward(self, x):
        a, b = self.cv1(x).split(self.c, 1)
        if self.single:
            b = b + self.attn(b)
            b = b + self.ffn(b)
        else:
            b = self.m(b)
        return self.cv2(torch.cat([a, b], 1))


# (spec of the block, input shape (h, w, c), the reference module for that input)
CASES = [
    ("CONV(8, 3, 2)", (9, 9, 3), lambda c: Conv(c, 8, 3, 2)),
    ("CONV(6, 4)", (8, 7, 3), lambda c: Conv(c, 6, 4)),
    ("CONV(8, 3, groups=2, dilation=2)", (9, 9, 4), lambda c: Conv(c, 8, 3, 1, 2, 2)),
    ("CONV(5, 1, activation=linear)", (6, 6, 3), lambda c: Conv(c, 5, act=False)),
    ("CONV(6, 2, 2)", (7, 8, 2), lambda c: Conv(c, 6, 2, 2)),
    ("DWCONV(8, 3, 2)", (9, 9, 4), lambda c: Conv(c, 8, 3, 2, g=math.gcd(c, 8))),
    ("DWCONV(6, 5)", (8, 8, 4), lambda c: Conv(c, 6, 5, 1, g=math.gcd(c, 6))),
    ("BOTTLENECK(4)", (8, 8, 4), lambda c: Bottleneck(c, 4)),
    ("BOTTLENECK(6, kernels=(1, 3), e=1.0)", (8, 8, 4), lambda c: Bottleneck(c, 6, k=(1, 3), e=1.0)),
    ("BOTTLENECK(4, false, groups=2, e=1.0)", (8, 8, 4), lambda c: Bottleneck(c, 4, False, 2, e=1.0)),
    ("C2F(8)", (8, 8, 4), lambda c: C2f(c, 8)),
    ("C2F(8, n=2, shortcut=true)", (8, 8, 4), lambda c: C2f(c, 8, 2, True)),
    ("C3(8, 2)", (8, 8, 4), lambda c: C3(c, 8, 2)),
    ("C2(8, n=2)", (8, 8, 4), lambda c: C2(c, 8, 2)),
    ("C2(8, shortcut=false)", (8, 8, 8), lambda c: C2(c, 8, 1, False)),
    ("C3K(8, kernel=5, shortcut=false)", (8, 8, 6), lambda c: C3(c, 8, 1, False, k=(5, 5))),
    ("C3K2(8, n=2)", (8, 8, 4), lambda c: c3k2(c, 8, 2)),
    ("C3K2(8, n=2, c3k=true, e=0.25)", (8, 8, 4), lambda c: c3k2(c, 8, 2, True, 0.25)),
    ("C3K2(16, 1, true)", (8, 8, 16), lambda c: c3k2(c, 16, 1, True)),
    ("SPPF(8)", (8, 8, 8), lambda c: SPPF(c, 8)),
    ("SPPF(6, kernel=3)", (7, 7, 5), lambda c: SPPF(c, 6, 3)),
    ("SPPF(6, activation=linear)", (6, 6, 4), lambda c: SPPF(c, 6, act=False)),
    ("PSA(16)", (5, 6, 16), lambda c: C2PSA(c, 16, single=True)),
    ("C2PSA(16, n=2)", (5, 6, 16), lambda c: C2PSA(c, 16, 2)),
    ("C2PSA(256, e=0.5)", (3, 4, 256), lambda c: C2PSA(c, 256)),
]


def _randomized(module: nn.Module, seed: int = 0) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point():
                value = torch.randn(tensor.shape, generator=generator) * 0.5
                tensor.copy_(value.abs() + 0.5 if name.endswith("running_var") else value)
    return module.eval()


def _port_by_path(reference: nn.Module, built: nn.Module) -> int:
    """Copy each reference tensor ``<path>.<tensor>`` into the built module the checked layer of that path made."""
    state, ported = reference.state_dict(), 0
    modules = dict(built.named_children())
    for name, path in built.cnndsl_paths.items():
        weighted = [m for m in modules[name].modules() if isinstance(m, nn.Conv2d | nn.modules.batchnorm._BatchNorm)]
        for module in weighted:
            for tensor, value in module.state_dict().items():
                if value.is_floating_point():
                    value.copy_(state[f"{path}.{tensor}"].reshape(value.shape))
                    ported += 1
    return ported


def _conv_macs(module: nn.Module, x) -> int:
    """Multiply-accumulates of every convolution in a module, for one example."""
    total = []

    def count(conv, inputs, output):
        total.append(output[0].numel() * conv.in_channels // conv.groups * math.prod(conv.kernel_size))

    hooks = [m.register_forward_hook(count) for m in module.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        module(x[:1])
    for hook in hooks:
        hook.remove()
    return sum(total)


@pytest.mark.parametrize(("block", "shape", "reference"), CASES, ids=[case[0] for case in CASES])
def test_a_block_computes_what_its_reference_module_computes(block, shape, reference):
    text = f"{block} -> GAP()"
    model = check(text, shape)
    made = [info for info in model.layers if info.layer.path is not None]
    built = compile_spec(text, shape, backend="torch").eval()
    ref = _randomized(reference(shape[-1]))
    assert _port_by_path(ref, built) == len(ref.state_dict()) - sum(
        k.endswith("num_batches_tracked") for k in ref.state_dict()
    )
    assert sum(info.params for info in made) == sum(
        p.numel() for k, p in ref.state_dict().items() if "num_batches" not in k
    )
    last = made[-1].name
    caught = []
    getattr(built, last).register_forward_hook(lambda module, inputs, output: caught.append(output))
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(2, shape[2], shape[0], shape[1])).astype("float32"))
    with torch.no_grad():
        built(x)
        expected = ref(x)
    torch.testing.assert_close(caught[-1], expected, rtol=1e-5, atol=1e-5)
    convs = sum(info.macs for info in made if info.code == "CN")
    assert convs == _conv_macs(ref, x)


@pytest.mark.parametrize(("block", "shape"), [(case[0], case[1]) for case in CASES[::2]])
def test_the_keras_build_of_a_block_computes_what_the_pytorch_build_computes(block, shape):
    assert_equal_to_keras(f"{block} -> GAP()", shape)


def test_the_checked_model_holds_the_core_layers_with_their_paths_and_one_use_per_block():
    model = check("C3K2(8, n=1, c3k=true) -> GAP()", (8, 8, 4))
    codes = {info.code for info in model.layers}
    assert not codes & BLOCK_CODES
    paths = [info.layer.path for info in model.layers if info.layer.path]
    assert paths[:4] == ["cv1.conv", "cv1.bn", "cv1.act", "m.0.cv1.conv"]
    assert "m.0.m.0.cv2.bn" in paths and "m.0.m.1.cv1.conv" in paths and paths[-1] == "cv2.act"
    outermost = [use for use in model.blocks if use.depth == 0]
    assert [use.name for use in outermost] == ["C3K2"]
    assert set(outermost[0].layers) == {i for i, info in enumerate(model.layers) if info.layer.path is not None}
    assert len({info.layer.span for info in model.layers if info.layer.path is not None}) == 1
    built = compile_spec("C3K2(8, n=1, c3k=true) -> GAP()", (8, 8, 4), backend="torch")
    assert built.cnndsl_paths == block_paths(model) and built.cnndsl_paths["conv2d"] == "cv1.conv"


def test_a_conv_pads_as_ultralytics_where_tensorflow_same_would_not():
    assert [info.code for info in check("CONV(4, 3, 2) -> GAP()", (9, 9, 3)).layers][:2] == ["ZP", "CN"]
    assert [info.code for info in check("CONV(4, 3) -> GAP()", (9, 9, 3)).layers][:2] == ["CN", "BN"]
    assert check("CONV(4, 4) -> GAP()", (8, 8, 3)).layers[1].output_shape == (None, 9, 9, 4)
    assert check("CONV(4, 3, 2) -> GAP()", (9, 9, 3)).layers[1].output_shape[1:3] == (5, 5)


def test_the_summary_shows_each_layer_as_its_block_call_and_path():
    from cnndsl.report import summary_json, summary_table

    model = check("IN(8, 8, 4) -> SPPF(8) -> GAP()")
    table = summary_table(model)
    assert "SPPF(8) cv1.conv" in table and "SPPF(8) m" in table and "SPPF(8) CAT" in table
    rows = summary_json(model)["layers"]
    assert [row.get("path") for row in rows][:4] == ["cv1.conv", "cv1.bn", "cv1.act", "m"] and "path" not in rows[-1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("IN(8, 8, 4) -> C2F(8, groups=3)", "C2F(8, groups=3), inside the block C2F: "),
        ("IN(8, 8, 1) -> SPPF(4)", "SPPF(4): SPPF's hidden width is the input's channels // 2"),
        ("IN(8, 8, 3) -> CONV(8, 3, 2, dilation=2)", "CONV(8, 3, 2, dilation=2), inside the block CONV: strides"),
        ("IN(8, 8, 4) -> FL() -> C3(8)", "C3(8) needs a 4-D input"),
        ("IN(8, 8, 4) -> C2F(1)", "the hidden width int(filters * e) = int(1 * 0.5) is 0"),
        ("IN(8, 8, 4) -> C2PSA(8)", "C2PSA(8): C2PSA keeps its input's width: its input has 4 channels"),
    ],
)
def test_an_error_inside_a_block_points_at_its_call_and_names_it(text, message):
    with pytest.raises(SpecError) as caught:
        check(text)
    diagnostic = caught.value.diagnostics[0]
    assert message in diagnostic.message
    assert (diagnostic.span.column, diagnostic.span.end_column) == (text.rindex("-> ") + 4, len(text) + 1)


def test_every_block_code_declares_the_scaled_arguments_and_expands_its_example():
    for code in BLOCK_CODES:
        entry = LAYERS[code]
        assert entry.params[0].name == "filters" and entry.params[0].scaled == "width"
        assert all(param.scaled == "depth" for param in entry.params if param.name == "n")
        model = check(f"{code}(8) -> GAP()", (8, 8, 8))
        assert model.layers[0].layer.path is not None


def test_a_picture_draws_each_use_of_a_block_code_as_one_box():
    from cnndsl.backends.picture import Box, elements

    model = check("CONV(8, 3, 2) -> C2F(8) -> C2F(8) -> GAP()", (16, 16, 3))
    boxes = [element for element in elements(model, unfold=True) if isinstance(element, Box)]
    assert [box.name for box in boxes] == ["CONV", "C2F", "C2F"]
    assert [len(box.uses[0]) for box in boxes] == [4, 14, 14]


def test_a_picture_of_a_failing_spec_walks_the_blocks_before_its_error():
    from cnndsl.backends.partial import check_partial
    from cnndsl.syntax import parse

    text = "IN(4, 4, 3) -> CONV(16, 3, 2) -> C2F(8) -> MP(4) -> GAP()"
    drawable = check_partial(parse(text), text)
    codes = [info.code for info in drawable.model.layers]
    assert codes[:4] == ["ZP", "CN", "BN", "ACT"] and codes[-1] == "MP" and "C2F" not in codes
    assert [use.name for use in drawable.model.blocks if use.code and use.depth == 0] == ["CONV", "C2F"]


def test_the_editor_shows_each_block_call_as_one_layer_with_its_totals():
    from cnndsl.lsp.analysis import analyze_spec_file, describe_call
    from cnndsl.settings import Settings
    from cnndsl.syntax import parse

    text = "IN(16, 16, 3) -> CONV(8, 3, 2) -> C2F(8, n=2) -> MP(2) -> GAP()"
    analysis = analyze_spec_file(text, Settings())
    labels = [hint.label for hint in sorted(analysis.hints, key=lambda hint: hint.offset)]
    assert labels[:3] == ["▸ 8×8×8", "▸ 8×8×8", "▸ 4×4×8"]
    model = check(text)
    use = next(use for use in model.blocks if use.name == "C2F")
    c2f = describe_call(parse(text).elements[2], analysis)
    assert "input 8×8×8 → output 8×8×8" in c2f
    assert f"params {sum(model.layers[i].params for i in use.layers):,} " in c2f


def test_block_uses_that_write_more_layers_than_the_limit_stop_at_the_use_that_passes_it(monkeypatch):
    from cnndsl.passes import infer

    monkeypatch.setattr(infer, "MAX_LAYERS", 50)
    with pytest.raises(SpecError, match="the spec expands to more than 50 layers") as caught:
        check("IN(8, 8, 8) -> CONV(8) -> C2F(8, n=3)*20 -> GAP()")
    assert caught.value.diagnostics[0].span.column == 27


def test_a_family_scales_the_blocks_widths_and_repeats_and_the_summaries_say_so(tmp_path):
    from helpers import run_cli

    family = tmp_path / "family.cnn"
    family.write_text(
        "scale n(0.50, 0.25, 1024)\nscale s(0.50, 0.50, 1024)\n"
        "model = IN(32, 32, 3) -> CONV(64, 3, 2) -> C3K2(256, n=2, e=0.25) -> SPPF(1024) -> GAP()\n"
    )
    summary = run_cli("summary", str(family), "--scale", "n")
    assert summary.returncode == 0 and "C3K2(256→64, n=2→1, e=0.25) m.0.cv2.conv" in summary.stdout
    scales = run_cli("summary", str(family), "--scales")
    rows = [line.split() for line in scales.stdout.splitlines()]
    assert ["C3K2(256,", "n=2,", "e=0.25)", "3:49", "64", "128"] in rows
    assert ["SPPF(1024)", "3:75", "256", "512"] in rows


YOLO11_BACKBONE = """scale n(0.50, 0.25, 1024)
scale s(0.50, 0.50, 1024)
scale m(0.50, 1.00, 512)
scale l(1.00, 1.00, 512)
scale x(1.00, 1.50, 512)
backbone = IN(64, 64, 3) -> CONV(64, 3, 2) -> CONV(128, 3, 2) -> C3K2(256, n=2, c3k={c3k}, e=0.25) -> CONV(256, 3, 2)
    -> C3K2(512, n=2, c3k={c3k}, e=0.25) -> CONV(512, 3, 2) -> C3K2(512, n=2, c3k=true) -> CONV(1024, 3, 2)
    -> C3K2(1024, n=2, c3k=true) -> SPPF(1024, 5) -> C2PSA(1024, n=2) -> GAP()
"""


@pytest.mark.parametrize(
    ("scale", "ultralytics"),
    [("n", 1_365_472), ("s", 5_441_984), ("m", 10_352_192), ("l", 12_833_600), ("x", 28_847_328)],
)
def test_the_yolo11_backbone_has_ultralytics_parameters_at_every_scale(tmp_path, scale, ultralytics):
    """The counts benchmarks/yolo_blocks.py measured of Ultralytics' YOLO11 layers 0 to 10 (c3k at m, l, x as its builder sets)."""
    from cnndsl.inputs import read_models

    path = tmp_path / "yolo11.cnn"
    path.write_text(YOLO11_BACKBONE.format(c3k="true" if scale in "mlx" else "false"))
    model = check(read_models(str(path))[0], scale=scale)
    assert sum(info.trainable for info in model.layers if info.layer.path is not None) == ultralytics
