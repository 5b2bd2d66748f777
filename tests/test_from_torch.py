"""Into the notation from PyTorch: ``from_torch``, ``port_weights`` from a module, ``cnndsl from-torch``.

The strongest evidence is differential: a torchvision model, read as notation, built again
from the text by the PyTorch and the Keras backends and given the source's weights,
computes what the source computes. CI holds three models; ``benchmarks/from_torch.py``
runs all 22.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="from_torch needs the torch extra")
from helpers import run_cli  # noqa: E402
from torch import nn  # noqa: E402

from cnndsl import check, compile_spec, from_torch, port_weights  # noqa: E402
from cnndsl.errors import UnsupportedModel  # noqa: E402
from cnndsl.layers import LAYERS, example_text  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def torchvision(torchvision_import):
    """torchvision's classification models (see conftest's ``torchvision_import``)."""
    return torchvision_import.module


def _randomised(model: nn.Module) -> nn.Module:
    """Batch norms with statistics and affine weights away from their starting values, so that each one counts."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                size = module.num_features
                module.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                if module.affine:
                    module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                    module.bias.copy_(torch.rand(size, generator=generator) * 0.4 - 0.2)
    return model.eval()


def _sharpened(model: nn.Module, x) -> None:
    """The last classifier scaled so that the logits spread (std 3): an untrained softmax is nearly uniform,
    and would agree with anything."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)][-1]
    with torch.no_grad():
        factor = 3 / float(model(x).std())
        last.weight.mul_(factor)
        if last.bias is not None:
            last.bias.mul_(factor)


def _counts(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters())
    statistics = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    return trainable, statistics


def _exact(source: nn.Module, input_shape, x) -> str:
    """Read ``source``; assert the counts and both backends' outputs; the text.

    The module ends in a ``Linear``: read as a logits classifier, kept as written, the built model's output is
    the module's logits themselves. The reading's own verification is left out (``verify=False``): this
    compares what it compares, and more (two images, both backends)."""
    spec = from_torch(source, input_shape, verify=False)
    assert spec.task == "logits" and spec.text.endswith(", activation=linear)\n")
    model = check(spec.text, task=spec.task)
    assert (model.trainable_params, model.non_trainable_params) == _counts(source)
    with torch.no_grad():
        expected = source(x).numpy()
        built = compile_spec(spec.text, backend="torch", task=spec.task).eval()
        port_weights(source, built)
        np.testing.assert_allclose(built(x).numpy(), expected, atol=1e-4)
    keras_model = compile_spec(spec.text, task=spec.task)
    port_weights(spec, keras_model)  # the spec's reading: no second trace
    np.testing.assert_allclose(keras_model.predict(x.permute(0, 2, 3, 1).numpy(), verbose=0), expected, atol=1e-4)
    return spec.text


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "densenet121"])
def test_a_torchvision_model_reads_exactly(torchvision, name):
    torch.manual_seed(0)
    source = _randomised(getattr(torchvision.models, name)(weights=None))
    x = torch.randn(2, 3, 224, 224)
    _sharpened(source, x)
    with torch.no_grad():
        assert torch.softmax(source(x), 1).max() > 0.05  # far from uniform: the comparison below means something
    text = _exact(source, (224, 224, 3), x)
    assert check(text, task="logits").num_classes == 1000
    if name in ("resnet18", "densenet121"):  # a 7x7 convolution padded by 3 at stride 2 is no TensorFlow same
        assert "ZP(3)\n    -> CN(64, 7, strides=2, activation=linear, bias=false)" in text
        assert "MP(3, strides=2, pad=1)" in text  # PyTorch's padded max pooling
    if name == "densenet121":  # each layer joins every tensor before it: nested joins, as Keras's DenseNet
        assert "@" not in text and text.count("CAT(\n        ID()\n        | BN(") == 58


@pytest.mark.parametrize(
    "block",
    [
        "torchvision.models.shufflenetv2:InvertedResidual",
        # calls ``shufflenetv2.channel_shuffle(out, 2)``, the function through its module: read whole as SHF too
        "torchvision.models.quantization.shufflenetv2:QuantizableInvertedResidual",
    ],
)
def test_a_shufflenet_block_reads_as_split_and_shuffle(torchvision, block):
    import importlib

    module, _, name = block.partition(":")
    residual = getattr(importlib.import_module(module), name)
    torch.manual_seed(1)
    source = _randomised(
        nn.Sequential(
            nn.Conv2d(3, 8, 3),
            residual(8, 8, 1),
            residual(8, 16, 2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, 5),
        )  # fmt: skip
    )
    x = torch.randn(3, 3, 17, 17)
    _sharpened(source, x)
    text = _exact(source, (17, 17, 3), x)
    assert "SPL(0)" in text and "SPL(1)" in text and "SHF()" in text


@pytest.mark.parametrize(
    "size, side, pooling",
    [(13, 3, "AP(3, strides=2, pad=1, count_pad=true)"), (16, 4, "AP(3, strides=2, pad=1, ceil=true, count_pad=true)")],
)
def test_pytorch_padding_and_pooling_read_exactly(size, side, pooling):
    """Padding TensorFlow's same cannot say, ceil_mode and count_include_pad, a flatten of (C, H, W)."""
    torch.manual_seed(2)
    source = nn.Sequential(
        nn.Conv2d(2, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6, eps=1e-5, momentum=0.1), nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1, groups=6), nn.Hardswish(),
        nn.MaxPool2d(3, 1, padding=1, ceil_mode=True),
        nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=True),
        nn.AvgPool2d(2, 1, ceil_mode=True), nn.Flatten(), nn.Linear(6 * side * side, 7),
    )  # fmt: skip
    source = _randomised(source)
    x = torch.randn(4, 2, size, size)
    _sharpened(source, x)
    text = _exact(source, (size, size, 2), x)
    assert "BN(momentum=0.9, epsilon=1e-05)" in text  # PyTorch's momentum 0.1 is Keras's 0.9
    assert pooling in text  # ceil only where a window overhangs


def test_convnext_block_functional_calls_read(torchvision):
    """Layer scale, stochastic depth, LayerNorm2d and channels-last Linear layers (ConvNeXt's block)."""
    from torchvision.models.convnext import CNBlock, LayerNorm2d

    torch.manual_seed(3)
    source = nn.Sequential(
        nn.Conv2d(3, 8, 2, stride=2), LayerNorm2d(8, eps=1e-6), CNBlock(8, 1e-6, 0.1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(8, 4),
    ).eval()  # fmt: skip
    with torch.no_grad():
        source[2].layer_scale.uniform_(0.5, 1.5)  # a scale that shows
    x = torch.randn(2, 3, 16, 16)
    _sharpened(source, x)
    text = _exact(source, (16, 16, 3), x)
    assert "LS()" in text and "DP(0.1, per_example=true)" in text and "LN(epsilon=1e-06)" in text


# --- what the notation cannot hold: one error, naming the module, its class and the operation -------


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        q = self.query(x).flatten(2)
        weights = torch.softmax(torch.matmul(q.transpose(1, 2), q), -1)
        return torch.matmul(q, weights).reshape(x.shape)


class Gate(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow
            return x
        return -x


class Head(nn.Module):
    def __init__(self, block):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3)
        self.blocks = nn.Sequential(block)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))


@pytest.mark.parametrize(
    "block, expected",
    [
        (SelfAttention(), "module 'blocks.0' (SelfAttention), operation Tensor.flatten: flattening dims 2..-1"),
        (nn.MultiheadAttention(4, 2), "module 'blocks.0' (MultiheadAttention), operation call: has no code"),
        (Gate(), "module 'blocks.0' (Gate): data-dependent control flow"),
        (nn.ELU(alpha=0.5), "module 'blocks.0' (ELU), operation call: ELU(alpha=0.5) differs"),
        (nn.GELU(approximate="tanh"), "module 'blocks.0' (GELU), operation call: GELU(approximate='tanh') differs"),
        (nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular"), "(Conv2d), operation call: padding_mode='circular'"),
    ],
    ids=["attention", "multihead", "control-flow", "elu-alpha", "gelu-tanh", "circular"],
)
def test_what_the_notation_cannot_hold_is_one_error_naming_it(block, expected):
    with pytest.raises(UnsupportedModel) as caught:
        from_torch(Head(block), (8, 8, 3))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_module_that_ends_in_no_classes_is_refused():
    with pytest.raises(UnsupportedModel, match="not one \\(batch, classes\\) tensor"):
        from_torch(nn.Sequential(nn.Conv2d(3, 4, 3)), (8, 8, 3), task="classify")


def test_from_torch_reads_modules_only():
    with pytest.raises(TypeError, match="reads a torch.nn.Module"):
        from_torch("CN(8)", (8, 8, 3))


# --- the command --------------------------------------------------------------------------------------

NETS = """
import torch
from torch import nn


def small():
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 5))


class Gate(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


def gated():
    return nn.Sequential(nn.Conv2d(3, 8, 3), Gate(), nn.Flatten(), nn.Linear(8 * 30 * 30, 5))


class WithAux(nn.Module):
    # a classifier with an auxiliary head that only training calls, as GoogLeNet's

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.aux = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 5))
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.features(x)
        return (self.fc(x), self.aux(x)) if self.training else self.fc(x)


def with_aux():
    return WithAux()


def broken():
    raise RuntimeError("no weights here")


NOT_A_MODULE = 3
"""


@pytest.fixture
def nets(tmp_path, monkeypatch):
    """A folder holding ``tinynets.py``, on the module path as PYTHONPATH puts it for a user: the command runs in
    this process (``nets_env`` is for a ``python -m cnndsl`` process with PYTHONPATH)."""
    (tmp_path / "tinynets.py").write_text(NETS)
    sys.modules.pop("tinynets", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("tinynets", None)


@pytest.fixture
def nets_env(tmp_path):
    """The folder of ``tinynets.py`` and the PYTHONPATH a user sets for it, for a ``python -m cnndsl`` process."""
    (tmp_path / "tinynets.py").write_text(NETS)
    return tmp_path, {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}  # this checkout's cnndsl


def test_from_torch_prints_the_notation(nets_env):
    """As a user runs it: ``python -m cnndsl``, the module found through PYTHONPATH."""
    folder, env = nets_env
    result = run_cli("from-torch", "tinynets:small", "--input-shape", "32,32,3", env=env, cwd=folder, process=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("IN(32, 32, 3) -> ZP() -> CN(8, strides=2) -> GAP() -> DN(5, activation=linear)\n")
    assert check(result.stdout, task="logits").total_params == 8 * 27 + 8 + 8 * 5 + 5
    assert result.stderr == (
        "cnndsl: note: tinynets:small: the model ends in the head of --task logits (a class vector of raw scores, "
        "logits: no softmax): check and train the text with --task logits\n"
    )


def test_from_torch_appends_the_softmax_with_task_classify(nets):
    """--task classify reads a module's logits as a softmax classifier's: the softmax its loss applies is the head."""
    folder = nets
    result = run_cli("from-torch", "tinynets:small", "--input-shape", "32,32,3", "--task", "classify",
                     cwd=folder)  # fmt: skip
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout == ("IN(32, 32, 3) -> ZP() -> CN(8, strides=2) -> GAP() -> DN(5, activation=softmax)\n")
    assert check(result.stdout).total_params == 8 * 27 + 8 + 8 * 5 + 5


def test_from_torch_names_each_module_left_out_with_its_parameters(nets):
    folder = nets
    result = run_cli("from-torch", "tinynets:with_aux", "--input-shape", "8,8,3", "--task", "logits",
                     cwd=folder)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "IN(8, 8, 3) -> CN(8) -> GAP() -> DN(5, activation=linear)\n"
    assert result.stderr.splitlines() == [
        "cnndsl: note: tinynets:with_aux: left out aux (Sequential): 229 parameters, which do not reach the output"
    ]
    plain = run_cli("from-torch", "tinynets:small", "--input-shape", "32,32,3", "--task", "logits",
                    cwd=folder)  # fmt: skip
    assert plain.returncode == 0 and plain.stderr == ""


def test_from_torch_takes_the_task_the_module_ends_in(nets):
    """--task regress keeps the module's linear head; the default reads it as a classifier's logits."""
    folder = nets
    as_regression = run_cli("from-torch", "tinynets:small", "--input-shape", "32,32,3", "--task", "regress",
                            cwd=folder)  # fmt: skip
    assert as_regression.returncode == 0, as_regression.stderr
    assert as_regression.stdout == "IN(32, 32, 3) -> ZP() -> CN(8, strides=2) -> GAP() -> DN(5, activation=linear)\n"
    assert check(as_regression.stdout, task="regress").output_shape == (None, 5)
    unknown = run_cli("from-torch", "tinynets:small", "--task", "track", cwd=folder)
    assert unknown.returncode == 2 and "invalid choice: 'track'" in unknown.stderr


def test_from_torch_writes_the_file_named_and_keeps_it_on_failure(nets):
    folder = nets
    out = folder / "net.cnn"
    result = run_cli("from-torch", "tinynets:small", "-o", str(out), cwd=folder)
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert f"Wrote {out}" in result.stderr
    written = out.read_text()
    assert written.startswith("IN(224, 224, 3) -> ") and written.endswith("\n")
    assert sorted(path.name for path in folder.iterdir() if path.name != "__pycache__") == ["net.cnn", "tinynets.py"]
    failed = run_cli("from-torch", "tinynets:gated", "-o", str(out), cwd=folder)
    assert failed.returncode == 1
    assert failed.stderr.startswith("cnndsl: error: tinynets:gated: module '1' (Gate): data-dependent control flow")
    assert "Traceback" not in failed.stderr
    assert out.read_text() == written  # nothing already written is lost


@pytest.mark.parametrize(
    "target, message",
    [
        ("tinynets", "expected PACKAGE.MODULE:CALLABLE"),
        ("no_such_module:net", "no module named 'no_such_module' on the module path"),
        ("tinynets:missing", "tinynets has no 'missing'"),
        ("tinynets:NOT_A_MODULE", "NOT_A_MODULE is not callable"),
        ("tinynets:broken", "calling broken() failed: RuntimeError: no weights here"),
    ],
)
def test_a_target_that_gives_no_module_is_a_usage_error(nets, target, message):
    folder = nets
    result = run_cli("from-torch", target, cwd=folder)
    assert result.returncode == 2
    assert result.stderr.startswith("cnndsl: error: ") and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1


def test_from_torch_reads_a_torchvision_model_as_a_user_runs_it(torchvision_import):
    result = run_cli("from-torch", "torchvision.models:resnet18", env=torchvision_import.env, process=True)
    assert result.returncode == 0, result.stderr
    model = check(result.stdout, task="logits")
    assert (model.num_classes, model.trainable_params, model.non_trainable_params) == (1000, 11_689_512, 9_600)
    assert result.stdout.endswith("-> DN(1000, activation=linear)\n")
    assert result.stdout.startswith("IN(224, 224, 3)\n    -> ZP(3)\n    -> CN(64, 7, strides=2")


FAKE_TORCHVISION = {
    "torchvision/__init__.py": 'raise RuntimeError("operator torchvision::nms does not exist")\n',
    "torchvision/version.py": "__version__ = '0.99.0+cu999'\n",
    "torchvision-0.99.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: torchvision\nVersion: 0.99.0\n"
    "Requires-Dist: numpy\nRequires-Dist: torch (==9.9.0)\n",
}
"""A torchvision wheel made for another torch: its import stops where its compiled operators fail to register."""


def _fake_torchvision(folder: Path, files: dict[str, str]) -> dict[str, str]:
    for name, text in files.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(text)
    return {"PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}


def test_a_torchvision_built_for_another_torch_is_named_with_the_install_that_fixes_it(tmp_path):
    env = _fake_torchvision(tmp_path, FAKE_TORCHVISION)
    result = run_cli("from-torch", "torchvision.models:resnet18", env=env, cwd=tmp_path, process=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        "cnndsl: error: torchvision.models:resnet18: importing torchvision.models failed: RuntimeError: "
        "operator torchvision::nms does not exist; torchvision 0.99.0 is the CUDA 99.9 build (+cu999), "
        f"made for torch 9.9.0, but torch is {torch.__version__}, "
    )
    assert "torchvision's compiled operators load only into the torch build they were made for" in result.stderr
    assert "Install the pair from one build: pip install torch==9.9.0" in result.stderr
    assert " torchvision==0.99.0" in result.stderr


def test_a_torchvision_that_fails_for_another_reason_keeps_its_own_line(tmp_path):
    """A torchvision made for this torch (its version, no other build said) that fails to import is not a mismatch."""
    public = torch.__version__.partition("+")[0]
    files = {
        "torchvision/__init__.py": 'raise RuntimeError("operator torchvision::nms does not exist")\n',
        "torchvision/version.py": "__version__ = '0.99.0'\n",
        "torchvision-0.99.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: torchvision\nVersion: 0.99.0\n"
        f"Requires-Dist: torch (=={public})\n",
    }
    result = run_cli(
        "from-torch", "torchvision.models:resnet18", env=_fake_torchvision(tmp_path, files), cwd=tmp_path, process=True
    )
    assert result.returncode == 2
    assert result.stderr == (
        "cnndsl: error: torchvision.models:resnet18: importing torchvision.models failed: RuntimeError: "
        "operator torchvision::nms does not exist\n"
    )


def test_the_current_directory_is_not_searched(nets_env):
    folder, _ = nets_env
    result = run_cli("from-torch", "tinynets:small", cwd=folder, process=True)
    assert result.returncode == 2
    assert "no module named 'tinynets' on the module path" in result.stderr
    assert "(the current directory is not searched: PYTHONPATH=. cnndsl from-torch tinynets:small)" in result.stderr


# --- nothing else imports code it is given ------------------------------------------------------------

IMPORTERS = {"import_module", "__import__", "exec", "eval", "run_module", "run_path", "spec_from_file_location",
             "exec_module", "load_module"}  # fmt: skip
BUILTINS = {"exec", "eval", "__import__"}
ALLOWED = {
    ("cnndsl/backends/torch_reader.py", "load_module", "import_module"),  # from-torch: the module the user names
    ("cnndsl/cli/from_torch.py", "cmd_from_torch", "load_module"),
    ("cnndsl/cli/__init__.py", "command_module", "import_module"),  # a command's module, by a fixed table
    ("cnndsl/__init__.py", "__getattr__", "import_module"),  # cnndsl's own modules, by a fixed table
    ("cnndsl/training/records.py", "versions", "import_module"),  # a framework's version, by name
    ("cnndsl/records.py", "_init_for", "exec"),  # a record's __init__ compiled from placeholder names
    # the language server's protocol types: attrs' methods, compiled from attrs' own source as attrs does, or kept
    # from an earlier start in a file only the user may write (the nested function is seen in its outer one too)
    ("cnndsl/lsp/codecache.py", "compile_and_eval", "eval"),
    ("cnndsl/lsp/codecache.py", "kept_attrs_methods", "eval"),
}


def _calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                    if name in BUILTINS and not isinstance(node.func, ast.Name):
                        continue  # module.eval() is a method, not the builtin
                    if name in IMPORTERS:
                        yield function.name, name


def test_nothing_but_from_torch_imports_code_it_is_given():
    found = {
        (path.relative_to(ROOT).as_posix(), function, name)
        for path in sorted((ROOT / "cnndsl").rglob("*.py"))
        for function, name in _calls(path)
    }
    innermost = {(path, function, name) for path, function, name in found if (path, function, name) in ALLOWED}
    assert found - innermost == set(), "a new place imports or runs code: only from-torch may import what it is given"
    assert ("cnndsl/backends/torch_reader.py", "load_module", "import_module") in found


def test_a_flatten_of_channels_first_goes_only_into_a_linear():
    """FL() flattens (H, W, C): only a Linear's weights can be reordered to meet PyTorch's (C, H, W) order."""
    source = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.BatchNorm1d(4 * 6 * 6), nn.Linear(4 * 6 * 6, 3))
    with pytest.raises(UnsupportedModel, match=r"module '2' \(BatchNorm1d\), operation call: a flatten of \(C, H, W\)"):
        from_torch(source, (8, 8, 3))


def test_pytorch_padding_arguments_leave_earlier_specs_hashes_alone():
    """pad=, ceil= and count_pad= are quiet: left out of the canonical form at their defaults."""
    from cnndsl.report import architecture_hash, canonical_form

    earlier = check("CN(8) -> MP(2) -> AP(2) -> FL()")
    assert architecture_hash(earlier) == "ad02ba0d6350"  # its hash before the pooling took PyTorch's padding
    assert architecture_hash(check("CN(8) -> MP(2, pad=0, ceil=false) -> AP(2, count_pad=false) -> FL()")) == (
        architecture_hash(earlier)
    )
    assert "pad=(1,1), ceil=true" in canonical_form(check("MP(3, strides=2, pad=1, ceil=true) -> FL()"))


PYTORCH_CODES = (
    "CN(4, 3) -> MP(3, strides=2, pad=1, ceil=true) -> AP(3, strides=2, pad=1, ceil=true, count_pad=true)"
    " -> CAT(SPL(0) | SPL(1) -> SHF()) -> CN(6, 1) -> SHF(3) -> GAP()"
)


def test_the_pytorch_codes_read_back_from_keras_and_emit_as_scripts():
    """The padded poolings, SPL and SHF are cnndsl's own Keras layers: read back by to_spec, and defined by the
    emitted Keras script (run without cnndsl) and PyTorch script, which compute what compile_spec builds."""
    from cnndsl import to_spec
    from cnndsl.emit import emit
    from cnndsl.report import architecture_hash

    model = check(PYTORCH_CODES, (13, 12, 2), 4)
    built = compile_spec(PYTORCH_CODES, (13, 12, 2), 4)
    assert architecture_hash(check(to_spec(built).text)) == architecture_hash(model)
    x = np.random.default_rng(0).normal(size=(3, 13, 12, 2)).astype("float32")
    expected = built.predict(x, verbose=0)
    namespace = {"__name__": "emitted"}
    exec(compile(emit(model, "keras").decode(), "<emitted keras>", "exec"), namespace)  # noqa: S102
    namespace["model"].set_weights(built.get_weights())
    np.testing.assert_allclose(namespace["model"].predict(x, verbose=0), expected, atol=1e-5)
    source = {"__name__": "emitted"}
    exec(compile(emit(model, "torch").decode(), "<emitted torch>", "exec"), source)  # noqa: S102
    module = next(value for value in source.values() if isinstance(value, nn.Module)).eval()
    from cnndsl.backends.torch import port_weights as from_keras

    from_keras(built, module)
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy(), expected, atol=1e-5)


def test_a_module_ending_in_its_own_softmax_keeps_it_as_the_head():
    source = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3), nn.Softmax(1))
    text = from_torch(source, (8, 8, 3)).text
    assert text.endswith("-> DN(3, activation=softmax)\n") and text.count("softmax") == 1


def test_googlenet_s_auxiliary_classifiers_are_named_as_left_out(torchvision):
    """GoogLeNet (aux_logits=True) has 13.0M parameters; its auxiliary heads, called in training only, are
    said to be left out, with their counts: what is read and what is left out add up to the module's total."""
    source = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    with pytest.warns(UserWarning, match=r"left out .*aux1 \(InceptionAux\): 3,188,968 parameters; aux2 "):
        spec = from_torch(source)
    assert [(d.path, d.cls) for d in spec.dropped] == [("aux1", "InceptionAux"), ("aux2", "InceptionAux")]
    read = check(spec.text, task=spec.task).trainable_params
    assert read + sum(d.params for d in spec.dropped) == sum(p.numel() for p in source.parameters()) == 13_004_888
    plain = from_torch(torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False))
    assert plain.dropped == () and check(plain.text, task=plain.task).trainable_params == read


def test_a_module_ending_in_ten_classes_is_written_with_its_head():
    """The default class count too: the text states it, and checks as the same model with the count or without."""
    source = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    spec = from_torch(source, (8, 8, 3))
    assert spec.text == "IN(8, 8, 3) -> CN(4) -> GAP() -> DN(10, activation=linear)\n" and spec.num_classes == 10
    alone, given = check(spec.text, task=spec.task), check(spec.text, num_classes=spec.num_classes, task=spec.task)
    assert alone == given and alone.total_params == sum(p.numel() for p in source.parameters())


def test_a_setting_out_of_the_notations_bounds_is_an_error_not_a_text_that_fails_to_check():
    source = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Dropout(1.0), nn.Linear(4 * 6 * 6, 3))
    with pytest.raises(
        UnsupportedModel, match="the notation read does not check: DP rate must be at least 0 and below 1"
    ):
        from_torch(source, (8, 8, 3))


def test_port_weights_given_the_spec_reuses_its_reading_without_tracing_again(monkeypatch):
    from cnndsl.backends import torch_reader

    torch.manual_seed(0)
    source = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(256, 5))
    spec = from_torch(source.eval(), (8, 8, 3))
    assert spec.reading.text and spec.reading.model.num_classes == 5
    built = compile_spec(spec.text, backend="torch", task=spec.task).eval()
    monkeypatch.setattr(torch_reader, "_trace", lambda module: pytest.fail("the module is traced again"))
    monkeypatch.setattr(torch_reader, "reading", lambda *a: pytest.fail("the module is read and checked again"))
    with torch.no_grad():
        source[0].weight.mul_(2)  # weights are read when ported, not when read
        port_weights(spec, built)
        x = torch.randn(2, 3, 8, 8)
        np.testing.assert_allclose(built(x).numpy(), source(x).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="read for an input of"):
        port_weights(spec, built, (9, 9, 3))


def test_from_torch_parses_its_text_once_and_lays_it_out_as_fmt_does(monkeypatch):
    """The written text is parsed once; the checked model and the laid-out text both come from that tree."""
    from cnndsl import formatter, syntax
    from cnndsl.formatter import format_text

    parses = []
    for module, name in ((syntax, "parse"), (syntax, "parse_file"), (formatter, "parse_file")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda text, _real=real, **kw: parses.append(text) or _real(text, **kw))
    source = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Flatten(),
                           nn.Linear(4 * 6 * 6, 5))  # fmt: skip
    spec = from_torch(source.eval(), (8, 8, 3))
    assert len(parses) == 1
    monkeypatch.undo()
    assert spec.text == format_text(spec.text) and spec.text.endswith(")\n")


class _Shifted(nn.Conv2d):
    """A convolution that computes something else than its base: never read as ``CN``."""

    def forward(self, x):
        return super().forward(x) + 1.0


class _Renamed(nn.Conv2d):
    """A subclass that keeps its base's ``forward``: read as its base."""


def test_a_subclass_with_its_own_forward_is_not_read_as_its_base_class():
    def net(conv):
        return nn.Sequential(conv(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)).eval()

    assert (
        from_torch(net(_Renamed), (16, 16, 3)).text == "IN(16, 16, 3) -> CN(8) -> GAP() -> DN(10, activation=linear)\n"
    )
    with pytest.raises(UnsupportedModel, match=r"module '0' \(_Shifted\), operation operator.add: arithmetic with a"):
        from_torch(net(_Shifted), (16, 16, 3))


def _example_ended(kind) -> str:
    """The entry's example for an 8x8x4 input, pooled when it leaves an image (the head needs classes)."""
    text = example_text(kind)
    rank = len(check(f"{text} -> FL()", (8, 8, 4), 3).layers[0].output_shape)
    return f"{text} -> GAP()" if rank == 4 else text


def _builds_read_back() -> list[str]:
    """The codes whose example the PyTorch backend builds only of modules the reader reads."""
    from cnndsl.backends.torch import _instantiate, plan
    from cnndsl.backends.torch_reader import _module_entry

    found = []
    for code, kind in LAYERS.items():
        if not kind.torch.modules or kind.torch.build is None:
            continue
        built = _instantiate(plan(check(_example_ended(kind), (8, 8, 4), 3))[0].calls)
        if all(_module_entry(m) is not None for m in built.modules() if not list(m.children())):
            found.append(code)
    return found


@pytest.mark.parametrize("code", _builds_read_back())
def test_each_code_built_of_modules_the_reader_reads_reads_back_as_itself_exactly(code):
    torch.manual_seed(0)
    source = compile_spec(_example_ended(LAYERS[code]), (8, 8, 4), 3, backend="torch").eval()
    with torch.no_grad():
        for parameter in source.parameters():
            parameter.uniform_(-1, 1)
    spec = from_torch(source, (8, 8, 4), verify=False)  # its outputs are compared below, in both backends
    assert code in [info.code for info in check(spec.text).layers], spec.text
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        built = compile_spec(spec.text, backend="torch").eval()
        port_weights(spec, built)
        np.testing.assert_allclose(built(x).numpy(), source(x).numpy(), atol=1e-5)
    keras_model = compile_spec(spec.text)
    port_weights(spec, keras_model)
    expected = source(x).detach().numpy()
    np.testing.assert_allclose(keras_model.predict(x.permute(0, 2, 3, 1).numpy(), verbose=0), expected, atol=1e-5)


def test_the_codes_read_back_include_the_plain_torch_nn_ones():
    assert {"CN", "MP", "AP", "GAP", "BN", "DP", "ZP"} <= set(_builds_read_back())
