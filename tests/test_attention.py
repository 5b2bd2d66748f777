"""Attention as CNNs use it, written with small codes: ``SL(start, stop, groups=heads)`` cuts the heads' channels,
``ATT(@q | @k | @v, heads=h)`` is the attention product over positions. Each is held to PyTorch and Keras in shapes,
parameters, MACs and outputs; a PSA block written with them is held to a PyTorch reference of its own."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from torch_strategies import assert_equal_to_keras, assert_onnx_equals_keras

from cnndsl import SpecError, check
from cnndsl.report import architecture_hash

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

pytestmark = pytest.mark.slow


# --- SL groups: the same channels of each group --------------------------------------------------


def test_a_grouped_slice_keeps_the_same_channels_of_each_group_in_both_frameworks():
    model = check("CN(12, 1) -> SL(1, 3, groups=3) -> GAP()", (6, 6, 3), 3)
    assert model.layers[1].output_shape == (None, 6, 6, 6)
    assert_equal_to_keras("CN(12, 1) -> SL(1, 3, groups=3) -> GAP()", (6, 6, 3), 3)
    assert_equal_to_keras("CN(8, 3) -> GAP() -> SL(0, 1, groups=4)", (6, 6, 3), 3)


def test_a_grouped_slice_computes_the_head_split():
    from cnndsl.backends.torch_modules import ChannelSlice

    x = torch.arange(2 * 12 * 2 * 2, dtype=torch.float32).reshape(2, 12, 2, 2)
    heads = x.view(2, 3, 4, 2, 2)  # three heads of four channels
    torch.testing.assert_close(ChannelSlice(1, 3, 1, 3)(x), heads[:, :, 1:3].reshape(2, 6, 2, 2))


def test_groups_one_keeps_the_canonical_text_and_hash():
    plain, grouped = (
        check("CN(8, 1) -> SL(1, 3) -> GAP()", (6, 6, 3)),
        check("CN(8, 1) -> SL(1, 3, groups=1) -> GAP()", (6, 6, 3)),
    )
    assert architecture_hash(plain) == architecture_hash(grouped)
    assert architecture_hash(plain) != architecture_hash(check("CN(8, 1) -> SL(1, 3, groups=2) -> GAP()", (6, 6, 3)))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("CN(10, 1) -> SL(0, 1, groups=4)", r"SL groups=4 must divide the input's 10 channels"),
        ("CN(12, 1) -> SL(1, 4, groups=4)", r"SL\(1, 4, groups=4\) reaches past each group's 3 channels"),
        ("CN(12, 1) -> SL(2, 2, groups=4)", r"SL stop=2 is not after start=2"),
    ],
)
def test_a_grouped_slice_outside_its_groups_is_an_error(spec, message):
    with pytest.raises(SpecError, match=message):
        check(spec + " -> GAP()", (6, 6, 3))


def test_keras_s_grouped_slice_reads_back():
    from cnndsl import compile_spec, to_spec
    from cnndsl.backends.keras_layers import ChannelSlice

    model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(8, 1), ChannelSlice(1, 2, groups=4),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")])  # fmt: skip
    spec = to_spec(model)
    assert "SL(1, 2, groups=4)" in spec.text, spec.text
    built = compile_spec(spec.text)
    built.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(built.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


# --- ATT: the attention product over positions ---------------------------------------------------

QKV = "CN(24, 1) -> ATT(SL(0, 4, groups=2) | SL(4, 8, groups=2) | SL(8, 12, groups=2), heads=2)"


def reference_attention(q, k, v, heads: int):
    """Channels first, written out per head and position: out[:, c_v, i] = sum_j softmax_j(scale <q_i, k_j>) v[:, c_v, j]."""
    batch, channels, height, width = q.shape
    out = torch.empty_like(v.flatten(2))
    dq, dv = channels // heads, v.shape[1] // heads
    for h in range(heads):
        qh, kh = q[:, h * dq : (h + 1) * dq].flatten(2), k[:, h * dq : (h + 1) * dq].flatten(2)
        vh = v[:, h * dv : (h + 1) * dv].flatten(2)
        scores = torch.einsum("bci,bcj->bij", qh, kh) / dq**0.5
        out[:, h * dv : (h + 1) * dv] = torch.einsum("bij,bcj->bci", scores.softmax(-1), vh)
    return out.reshape(v.shape)


@pytest.mark.parametrize("heads", [1, 2, 4])
def test_the_pytorch_module_computes_the_attention_written_out(heads):
    from cnndsl.backends.torch_modules import Attention2D

    torch.manual_seed(heads)
    q, k, v = torch.randn(2, 8, 3, 5), torch.randn(2, 8, 3, 5), torch.randn(2, 12, 3, 5)
    torch.testing.assert_close(Attention2D(heads)(q, k, v), reference_attention(q, k, v, heads))


@pytest.mark.parametrize("heads", [1, 2])
def test_attention_has_the_value_s_shape_and_counts_the_two_products(heads):
    model = check(f"CN(16, 1) -> ATT(SL(0, 4) | SL(4, 8) | SL(8, 16), heads={heads}) -> GAP()", (4, 5, 3), 3)
    att = next(info for info in model.layers if info.code == "ATT")
    assert att.output_shape == (None, 4, 5, 8)
    assert att.macs == 20 * 20 * (4 + 8)
    assert (att.trainable, att.non_trainable) == (0, 0)


def test_attention_computes_in_pytorch_what_keras_computes():
    assert_equal_to_keras(QKV + " -> GAP()", (4, 5, 3), 3)
    assert_equal_to_keras("CN(12, 1) -> ATT(ID() | CN(12, 1) | CN(8, 3, padding=same), heads=4) -> GAP()", (3, 6, 2), 3)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("CN(8, 1) -> ATT(ID() | ID())", r"ATT takes exactly 3 branches \(query \| key \| value\), not 2"),
        ("CN(8, 1) -> ATT(ID() | ID() | ID() | ID())", r"ATT takes exactly 3 branches .*not 4"),
        ("CN(8, 1) -> ATT(ID() | MP(2) | ID())", r"ATT's key has height 3, the query 6"),
        ("CN(8, 1) -> ATT(ID() | ID() | CR(((0, 0), (0, 1))))", r"ATT's value has width 5, the query 6"),
        ("CN(8, 1) -> ATT(ID() | SL(0, 4) | ID())", r"ATT's query has 8 channels and its key 4: they must be equal"),
        ("CN(8, 1) -> ATT(ID() | ID() | ID(), heads=3)", r"ATT heads=3 must divide the query's 8 channels"),
        ("CN(8, 1) -> ATT(SL(0, 4) | SL(0, 4) | SL(0, 6), heads=4)", r"ATT heads=4 must divide the value's 6 channels"),
        ("CN(8, 1) -> GAP() -> ATT(ID() | ID() | ID())", r"ATT attends over height and width"),
    ],
)
def test_attention_s_shape_errors_say_what_disagrees(spec, message):
    with pytest.raises(SpecError, match=message):
        check(spec + " -> FL()", (6, 6, 3))


# --- a PSA block (YOLO11's C2PSA inner block) written with these codes ------------------------------

BN = "BN(momentum=0.97, epsilon=0.001)"
"""Ultralytics' batch norm: eps 1e-3, PyTorch momentum 0.03 (Keras's 0.97)."""


def psa_spec(c: int, heads: int, ratio: float = 0.5) -> str:
    """Position-sensitive attention then a feed-forward, each a residual, on ``c`` channels: the qkv 1x1 conv and its
    BN, the heads' q, k and v cut by grouped slices, the attention plus a depthwise 3x3 on v, the 1x1 projection."""
    head, key = c // heads, int(c // heads * ratio)
    qkv = c + 2 * key * heads
    conv_bn = f"bias=false, activation=linear) -> {BN}"
    attention = (
        f"CN({qkv}, 1, {conv_bn} as qkv -> SL({2 * key}, {2 * key + head}, groups={heads}) as v"
        f" -> ADD(ATT(@qkv -> SL(0, {key}, groups={heads}) | @qkv -> SL({key}, {2 * key}, groups={heads}) | @v,"
        f" heads={heads}) | DW(3, padding=same, {conv_bn}) -> CN({c}, 1, {conv_bn}"
    )
    ffn = f"CN({2 * c}, 1, {conv_bn} -> ACT(silu) -> CN({c}, 1, {conv_bn}"
    return f"ADD(ID() | {attention}) -> ADD(ID() | {ffn})"


class ConvBN(torch.nn.Sequential):
    """A convolution without bias, then a batch norm of eps 1e-3 (an Ultralytics Conv without its activation)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, groups: int = 1):
        super().__init__(torch.nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups, bias=False),
                         torch.nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03))  # fmt: skip


class ReferencePSA(torch.nn.Module):
    """The reference, written from the PSA block's description: one qkv convolution viewed as (heads, 2 key + head,
    positions), attention per head, a depthwise positional convolution on v, a projection; then a feed-forward."""

    def __init__(self, c: int, heads: int, ratio: float = 0.5):
        super().__init__()
        self.heads, self.head, self.key = heads, c // heads, int(c // heads * ratio)
        self.qkv = ConvBN(c, c + 2 * self.key * heads)
        self.pe, self.proj = ConvBN(c, c, 3, groups=c), ConvBN(c, c)
        self.ffn = torch.nn.Sequential(ConvBN(c, 2 * c), torch.nn.SiLU(), ConvBN(2 * c, c))
        self.products = 0

    def attention(self, x):
        batch, c, height, width = x.shape
        n = height * width
        q, k, v = (
            self.qkv(x)
            .view(batch, self.heads, 2 * self.key + self.head, n)
            .split([self.key, self.key, self.head], dim=2)
        )
        weights = torch.softmax(torch.einsum("bhdi,bhdj->bhij", q, k) * self.key**-0.5, dim=-1)
        out = torch.einsum("bhij,bhdj->bhdi", weights, v).reshape(batch, c, height, width)
        self.products = n * n * self.heads * (self.key + self.head)
        return self.proj(out + self.pe(v.reshape(batch, c, height, width)))

    def forward(self, x):
        x = x + self.attention(x)
        return x + self.ffn(x)


def _reference_macs(reference: torch.nn.Module, x) -> int:
    """Every convolution's multiply-accumulates (hooked) and the attention's two products (counted as it runs)."""
    macs = []

    def count(module, inputs, output):
        macs.append(output[0].numel() * module.in_channels // module.groups * math.prod(module.kernel_size))

    hooks = [m.register_forward_hook(count) for m in reference.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        reference(x[:1])
    for hook in hooks:
        hook.remove()
    return sum(macs) + reference[0].products


def _randomized(module: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.uniform_(-0.5, 0.5)
        for norm in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 1.5)
    return module.eval()


def _keras_weights(module: torch.nn.Module) -> list:
    """A convolution's or batch norm's tensors as Keras holds them."""
    if isinstance(module, torch.nn.BatchNorm2d):
        return [t.detach().numpy() for t in (module.weight, module.bias, module.running_mean, module.running_var)]
    layout = (2, 3, 0, 1) if module.groups > 1 else (2, 3, 1, 0)  # depthwise (kh, kw, c, 1); else (kh, kw, in, out)
    kernel = module.weight.detach().permute(*layout).numpy()
    return [kernel] if module.bias is None else [kernel, module.bias.detach().numpy()]


@pytest.mark.parametrize(("c", "heads", "size"), [(16, 2, (6, 7)), (24, 4, (4, 5))])
def test_a_psa_block_written_with_grouped_slices_and_att_computes_the_reference(c, heads, size):
    from cnndsl import compile_spec

    text = psa_spec(c, heads) + " -> CN(5, 1, activation=linear)"
    shape = (*size, c)
    reference = _randomized(torch.nn.Sequential(ReferencePSA(c, heads), torch.nn.Conv2d(c, 5, 1)))
    x = torch.randn(2, c, *size)
    with torch.no_grad():
        expected = reference(x)
    model = check(text, shape, 5, task="segment-logits")
    norms = [m for m in reference.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert model.trainable_params == sum(p.numel() for p in reference.parameters())
    assert model.non_trainable_params == sum(m.running_mean.numel() + m.running_var.numel() for m in norms)
    assert model.total_macs == _reference_macs(reference, x)

    weighted = [m for m in reference.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d))]
    built = compile_spec(text, shape, 5, backend="torch", task="segment-logits").eval()
    ported = [m for m in built.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d))]
    assert [m.weight.shape for m in ported] == [m.weight.shape for m in weighted]
    for mine, theirs in zip(ported, weighted):
        mine.load_state_dict(theirs.state_dict())
    with torch.no_grad():
        np.testing.assert_allclose(built(x).numpy(), expected.numpy(), atol=1e-5)

    keras_model = compile_spec(text, shape, 5, task="segment-logits")
    for layer, module in zip((layer for layer in keras_model.layers if layer.weights), weighted, strict=True):
        layer.set_weights(_keras_weights(module))
    out = keras_model.predict(x.permute(0, 2, 3, 1).numpy(), verbose=0)
    np.testing.assert_allclose(out, expected.permute(0, 2, 3, 1).numpy(), atol=1e-5)


def test_a_keras_model_with_attention_saves_loads_and_reads_back_as_the_spec_it_was_built_from(tmp_path):
    from cnndsl import compile_spec, to_spec

    text = "CN(24, 1) as qkv -> SL(8, 12, groups=2) as v -> ADD(ATT(@qkv -> SL(0, 4, groups=2) | @qkv -> SL(4, 8, groups=2) | @v, heads=2) | DW(3, padding=same)) -> GAP()"
    model = compile_spec(text, (6, 6, 3), 3)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    spec = to_spec(loaded)
    read_att = r"ATT\(@(\w+) -> SL\(0, 4, groups=2\) \| @\1 -> SL\(4, 8, groups=2\) \| ID\(\), heads=2\)"
    assert re.search(read_att, spec.text), spec.text  # the names are Keras's layer names
    read = compile_spec(spec.text)
    read.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(read.predict(x, verbose=0), expected, atol=1e-6)


def test_attention_exports_to_onnx_and_takes_any_size_and_batch():
    pytest.importorskip("onnxruntime")
    from cnndsl import compile_spec

    assert_onnx_equals_keras(QKV + " -> GAP()", (4, 5, 3), 3)
    model = check("IN(None, None, 3) -> " + QKV + " -> GAP()")
    assert next(info for info in model.layers if info.code == "ATT").macs is None  # sizes unknown: MACs unknown
    keras_model = compile_spec("IN(None, None, 3) -> " + QKV + " -> GAP()")
    torch_model = compile_spec("IN(None, None, 3) -> " + QKV + " -> GAP()", backend="torch").eval()
    from cnndsl.backends.torch import port_weights

    port_weights(keras_model, torch_model)
    for size in ((3, 4), (5, 2)):
        x = np.random.default_rng(0).normal(size=(3, *size, 3)).astype("float32")
        with torch.no_grad():
            theirs = torch_model(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
        np.testing.assert_allclose(keras_model.predict(x, verbose=0), theirs, atol=1e-5)
