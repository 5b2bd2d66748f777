"""Each YOLO block of the notation against the installed Ultralytics module of the same name.

For every case: the block is checked and built in PyTorch from the notation; the Ultralytics
module (batch norm set to epsilon 1e-3 and momentum 0.03, as Ultralytics sets them when it
builds a model) gets random weights and statistics, which are ported into the build by the
paths its checked layers carry; the table gives the parameter counts of both (Ultralytics'
parameters, and the notation's trainable ones), the batch-norm statistics, and the largest
difference between the outputs in eval mode, relative to the largest output (random weights
make a chain of attention blocks' outputs large: float32 rounding is relative to them).

Needs Ultralytics (AGPL-3.0; cnndsl never imports it): run with it on the path, for example
``PYTHONPATH=/path/to/ultralytics-site:. YOLO_OFFLINE=1 python benchmarks/yolo_blocks.py``.
"""

from __future__ import annotations

import math
import os
import sys
import types

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", "/tmp/yolo-config")


def _import_torchvision() -> None:
    """torchvision, stubbing its meta registrations where a build for another torch cannot register them."""
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - a torchvision built for another torch: its detection operators are not used here
        for name in [name for name in sys.modules if name.startswith("torchvision")]:
            del sys.modules[name]
        sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
        import torchvision  # noqa: F401

        print("note: torchvision's meta registrations stubbed (a build for another torch)")


# (notation, input (h, w, c), Ultralytics module name, its arguments after the input channels)
CASES = [
    ("CONV(16, 3, 2)", (17, 17, 8), "Conv", (16, 3, 2)),
    ("CONV(16, 4)", (16, 16, 8), "Conv", (16, 4)),
    ("CONV(16, 3, groups=4, dilation=2)", (16, 16, 8), "Conv", (16, 3, 1, None, 4, 2)),
    ("DWCONV(16, 3, 2)", (16, 16, 8), "DWConv", (16, 3, 2)),
    ("BOTTLENECK(16)", (16, 16, 16), "Bottleneck", (16,)),
    ("BOTTLENECK(24, false, 2, (1, 3), 1.0)", (16, 16, 16), "Bottleneck", (24, False, 2, (1, 3), 1.0)),
    ("C2F(32, n=2)", (16, 16, 16), "C2f", (32, 2)),
    ("C2F(32, n=3, shortcut=true)", (16, 16, 32), "C2f", (32, 3, True)),
    ("C3(32, 2)", (16, 16, 16), "C3", (32, 2)),
    ("C3K(32, 2, kernel=5)", (16, 16, 16), "C3k", (32, 2, True, 1, 0.5, 5)),
    ("C3K2(64, 1, false, 0.25)", (16, 16, 32), "C3k2", (64, 1, False, 0.25)),
    ("C3K2(64, 2, true)", (16, 16, 64), "C3k2", (64, 2, True)),
    ("SPPF(64)", (16, 16, 64), "SPPF", (64,)),
    ("SPPF(32, 3)", (16, 16, 48), "SPPF", (32, 3)),
    ("SPPF(32, 3, activation=linear)", (16, 16, 48), "SPPF", (32, 3)),
    ("PSA(64)", (8, 8, 64), "PSA", (64,)),
    ("C2PSA(128, n=2)", (8, 8, 128), "C2PSA", (128, 2)),
    ("C2PSA(256)", (6, 6, 256), "C2PSA", (256,)),
]


YOLO11N_BACKBONE = (
    "CONV(16, 3, 2) -> CONV(32, 3, 2) -> C3K2(64, 1, false, 0.25) -> CONV(64, 3, 2) -> C3K2(128, 1, false, 0.25)"
    " -> CONV(128, 3, 2) -> C3K2(128, 1, true) -> CONV(256, 3, 2) -> C3K2(256, 1, true) -> SPPF(256, 5)"
    " -> C2PSA(256, 1)"
)
"""YOLO11n's backbone (its first 11 layers) at scale n, channels and repeats as Ultralytics resolves them."""


def _port_by_path(reference, built, prefixes: dict[str, str] | None = None) -> None:
    """Each checked layer's tensors from ``<prefix><path>.<tensor>`` of the reference's state dict."""
    from torch import nn

    state = reference.state_dict()
    modules = dict(built.named_children())
    for name, path in built.cnndsl_paths.items():
        path = (prefixes or {}).get(name, "") + path
        for module in modules[name].modules():
            if isinstance(module, nn.Conv2d | nn.modules.batchnorm._BatchNorm):
                for tensor, value in module.state_dict().items():
                    if value.is_floating_point():
                        value.copy_(state[f"{path}.{tensor}"].reshape(value.shape))


def _randomized(module, seed: int = 0):
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point():
                value = torch.randn(tensor.shape, generator=generator) * 0.5
                tensor.copy_(value.abs() + 0.5 if name.endswith("running_var") else value)
    return module.eval()


def compare(text: str, shape: tuple[int, int, int], name: str, args: tuple) -> tuple:
    import torch
    from torch import nn
    from ultralytics.nn.modules import block, conv

    from cnndsl import check, compile_spec

    reference = getattr(block, name, None) or getattr(conv, name)
    reference = reference(shape[-1], *args)
    if name == "SPPF" and "activation=linear" not in text:  # what Ultralytics' model builder does to a YOLOv8
        reference.cv1.act = conv.Conv.default_act  # or YOLO11 row (the module alone leaves cv1 unactivated)
    for module in reference.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps, module.momentum = 1e-3, 0.03
    reference = _randomized(reference)
    spec = f"{text} -> GAP()"
    model = check(spec, shape)
    made = [info for info in model.layers if info.layer.path is not None]
    built = compile_spec(spec, shape, backend="torch").eval()
    _port_by_path(reference, built)
    caught = []
    getattr(built, made[-1].name).register_forward_hook(lambda module, inputs, output: caught.append(output))
    x = torch.randn(2, shape[2], shape[0], shape[1], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        built(x)
        expected = reference(x)
    same = caught[-1].shape == expected.shape
    difference = (caught[-1] - expected).abs().max().item() / expected.abs().max().item() if same else math.inf
    ultra_params = sum(p.numel() for p in reference.parameters())
    trainable = sum(info.trainable for info in made)
    statistics = sum(info.non_trainable for info in made)
    return text, name, ultra_params, trainable, statistics, tuple(expected.shape), difference


def backbone() -> tuple[int, int, float]:
    """YOLO11n's backbone: Ultralytics' parameters, the notation's, and the outputs' relative difference."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from cnndsl import check, compile_spec

    layers = DetectionModel("yolo11n.yaml", verbose=False).model[:11]
    reference = _randomized(torch.nn.Sequential(*layers))
    shape = (64, 64, 3)
    spec = f"{YOLO11N_BACKBONE} -> GAP()"
    model = check(spec, shape)
    outermost = [use for use in model.blocks if use.code and use.depth == 0]
    prefixes = {model.layers[i].name: f"{k}." for k, use in enumerate(outermost) for i in use.layers}
    built = compile_spec(spec, shape, backend="torch").eval()
    _port_by_path(reference, built, prefixes)
    caught = []
    last = model.layers[max(outermost[-1].layers)].name
    getattr(built, last).register_forward_hook(lambda module, inputs, output: caught.append(output))
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        built(x)
        expected = reference(x)
    difference = (caught[-1] - expected).abs().max().item() / expected.abs().max().item()
    ours = sum(info.trainable for info in model.layers if info.layer.path is not None)
    return sum(p.numel() for p in reference.parameters()), ours, difference


YOLO11_FAMILY = """scale n(0.50, 0.25, 1024)
scale s(0.50, 0.50, 1024)
scale m(0.50, 1.00, 512)
scale l(1.00, 1.00, 512)
scale x(1.00, 1.50, 512)
backbone = IN(64, 64, 3) -> CONV(64, 3, 2) -> CONV(128, 3, 2) -> C3K2(256, n=2, c3k={c3k}, e=0.25) -> CONV(256, 3, 2)
    -> C3K2(512, n=2, c3k={c3k}, e=0.25) -> CONV(512, 3, 2) -> C3K2(512, n=2, c3k=true) -> CONV(1024, 3, 2)
    -> C3K2(1024, n=2, c3k=true) -> SPPF(1024, 5) -> C2PSA(1024, n=2) -> GAP()
"""
"""YOLO11's backbone as its model file writes it, a family of its five scales; Ultralytics' builder sets
c3k on every C3k2 at scales m, l and x, which the file of those scales writes."""


def backbone_scales() -> list[tuple[str, int, int]]:
    """YOLO11's backbone at each scale: Ultralytics' parameters and the notation's."""
    import tempfile
    from pathlib import Path

    from ultralytics.nn.tasks import DetectionModel

    from cnndsl import check
    from cnndsl.inputs import read_models

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for scale in "nsmlx":
            path = Path(folder) / f"yolo11-{scale}.cnn"
            path.write_text(YOLO11_FAMILY.format(c3k="true" if scale in "mlx" else "false"))
            model = check(read_models(str(path))[0], scale=scale)
            ours = sum(info.trainable for info in model.layers if info.layer.path is not None)
            layers = DetectionModel(f"yolo11{scale}.yaml", verbose=False).model[:11]
            rows.append((scale, sum(p.numel() for p in layers.parameters()), ours))
    return rows


def main() -> None:
    _import_torchvision()
    import ultralytics

    print(f"Ultralytics {ultralytics.__version__}")
    rows = [compare(*case) for case in CASES]
    header = ("notation", "Ultralytics", "its params", "cnndsl trainable", "BN statistics", "output", "relative diff")
    table = [header, *[(*row[:5], "x".join(map(str, row[5][1:])), f"{row[6]:.1e}") for row in rows]]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(f"{str(cell):<{width}}" for cell, width in zip(row, widths)))
    wrong = [row[0] for row in rows if row[2] != row[3] or row[6] > 1e-5]
    theirs, ours, difference = backbone()
    print(f"YOLO11n backbone (layers 0-10) on 64x64: Ultralytics {theirs:,} parameters, cnndsl {ours:,}; "
          f"outputs differ by {difference:.1e} of their largest")  # fmt: skip
    if theirs != ours or difference > 1e-5:
        wrong.append("YOLO11n backbone")
    for scale, theirs, ours in backbone_scales():
        print(f"YOLO11{scale} backbone (layers 0-10): Ultralytics {theirs:,} parameters, cnndsl {ours:,}")
        if theirs != ours:
            wrong.append(f"YOLO11{scale} backbone")
    print(
        f"{len(rows) - len(wrong)} of {len(rows)} blocks equal to Ultralytics' (params; outputs within 1e-5 of their largest)"
    )
    if wrong:
        print("differ:", ", ".join(wrong))
        sys.exit(1)


if __name__ == "__main__":
    main()
