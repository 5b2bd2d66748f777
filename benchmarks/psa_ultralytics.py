"""The PSA block written with the notation's codes against Ultralytics' own ``PSABlock``, where it is installed.

For each width and head count, Ultralytics' ``PSABlock(c, attn_ratio=0.5, num_heads=h)`` (its ``Attention``, then
its feed-forward, each a residual) is given random weights and batch-norm statistics (and the batch norms' eps 1e-3
and momentum 0.03, which its model builder sets on every batch norm of a model), and the spec below (a qkv 1x1
convolution and BN, the heads' q, k and v cut by ``SL(..., groups=h)``, ``ATT`` plus a depthwise 3x3 on v, the
projection, then the feed-forward) is built in PyTorch and Keras, given those weights by module path and run on
one seeded batch. Printed: the parameter counts both sides, and the largest difference of each build's output
from Ultralytics' (exit 1 unless the counts are equal and each difference is within 1e-5 of the output's largest
value, float32's rounding).

    PYTHONPATH=/path/to/ultralytics-site python benchmarks/psa_ultralytics.py [--markdown]

Ultralytics is AGPL-3.0 and cnndsl never imports it: only this script does, when the person running it has it.
torchvision's compiled ops do not load against the CPU build of torch; where its import fails for that, an empty
module stands in for their registrations (Ultralytics imports torchvision, and uses none of them here).
"""

from __future__ import annotations

import argparse
import os
import sys
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("YOLO_OFFLINE", "1")

CASES = ((64, 1, 20), (128, 2, 20), (256, 4, 10), (512, 8, 10))
"""(channels, heads, height and width): YOLO11's C2PSA has c / 64 heads on its hidden channels."""
BN = "BN(momentum=0.97, epsilon=0.001)"
CLASSES = 8
PATHS = ("attn.qkv", "attn.pe", "attn.proj", "ffn.0", "ffn.1")
"""Ultralytics' Conv modules in the order the spec builds their convolution and batch norm."""


def psa_spec(c: int, heads: int, ratio: float = 0.5) -> str:
    """The block on ``c`` channels: position-sensitive attention, then the feed-forward, each added to its input."""
    head, key = c // heads, int(c // heads * ratio)
    conv_bn = f"bias=false, activation=linear) -> {BN}"
    attention = (
        f"CN({c + 2 * key * heads}, 1, {conv_bn} as qkv -> SL({2 * key}, {2 * key + head}, groups={heads}) as v"
        f" -> ADD(ATT(@qkv -> SL(0, {key}, groups={heads}) | @qkv -> SL({key}, {2 * key}, groups={heads}) | @v,"
        f" heads={heads}) | DW(3, padding=same, {conv_bn}) -> CN({c}, 1, {conv_bn}"
    )
    ffn = f"CN({2 * c}, 1, {conv_bn} -> ACT(silu) -> CN({c}, 1, {conv_bn}"
    return f"ADD(ID() | {attention}) -> ADD(ID() | {ffn})"


def _import_ultralytics():
    try:
        import torchvision  # noqa: F401
    except RuntimeError:
        for name in [name for name in sys.modules if name.startswith("torchvision")]:
            del sys.modules[name]
        stub = types.ModuleType("torchvision._meta_registrations")
        sys.modules.setdefault("torchvision._meta_registrations", stub)
        print("note: torchvision's compiled ops did not load; an empty module stands in for them", file=sys.stderr)
    from ultralytics.nn.modules.block import PSABlock

    return PSABlock


def _randomized(module):
    import torch

    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.uniform_(-0.5, 0.5)
        for norm in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            norm.eps, norm.momentum = 1e-3, 0.03  # what Ultralytics' model builder sets (its initialize_weights)
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 1.5)
    return module.eval()


def compare(block_class, c: int, heads: int, size: int) -> dict:
    """Ultralytics' block and the spec's two builds on one batch: parameter counts and the largest differences."""
    import numpy as np
    import torch

    from cnndsl import check, compile_spec

    theirs = _randomized(torch.nn.Sequential(block_class(c, attn_ratio=0.5, num_heads=heads, shortcut=True),
                                             torch.nn.Conv2d(c, CLASSES, 1)))  # fmt: skip
    sources = [getattr(theirs[0].get_submodule(path), part) for path in PATHS for part in ("conv", "bn")]
    sources.append(theirs[1])  # a linear 1x1 head on both sides, so that the output is a task's
    text, shape = psa_spec(c, heads) + f" -> CN({CLASSES}, 1, activation=linear)", (size, size, c)
    model = check(text, shape, CLASSES, task="segment-logits")
    built = compile_spec(text, shape, CLASSES, backend="torch", task="segment-logits").eval()
    mine = [m for m in built.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d))]
    for target, source in zip(mine, sources, strict=True):
        target.load_state_dict(source.state_dict())
    x = torch.randn(2, c, size, size)
    with torch.no_grad():
        expected = theirs(x)
        torch_diff = float((built(x) - expected).abs().max())
    keras_model = compile_spec(text, shape, CLASSES, task="segment-logits")
    for layer, source in zip((layer for layer in keras_model.layers if layer.weights), sources, strict=True):
        layer.set_weights(_keras_weights(source))
    out = keras_model.predict(x.permute(0, 2, 3, 1).numpy(), verbose=0)
    expected = expected.permute(0, 2, 3, 1)
    return {
        "block": f"PSABlock({c}, num_heads={heads}) at {size}x{size}",
        "params": sum(p.numel() for p in theirs[0].parameters()),
        "spec params": model.trainable_params - CLASSES * (c + 1),
        "torch": torch_diff,
        "keras": float(np.abs(out - expected.numpy()).max()),
        "scale": float(expected.abs().max()),
    }


def _keras_weights(module) -> list:
    import torch

    if isinstance(module, torch.nn.BatchNorm2d):
        return [t.detach().numpy() for t in (module.weight, module.bias, module.running_mean, module.running_var)]
    layout = (2, 3, 0, 1) if module.groups > 1 else (2, 3, 1, 0)
    kernel = module.weight.detach().permute(*layout).numpy()
    return [kernel] if module.bias is None else [kernel, module.bias.detach().numpy()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    block_class = _import_ultralytics()
    rows = [compare(block_class, *case) for case in CASES]
    header = ("block", "params", "spec params", "max |torch - theirs|", "max |keras - theirs|", "max |theirs|")
    lines = [[row["block"], f"{row['params']:,}", f"{row['spec params']:,}", f"{row['torch']:.1e}",
              f"{row['keras']:.1e}", f"{row['scale']:.2f}"] for row in rows]  # fmt: skip
    if args.markdown:
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        print("\n".join("| " + " | ".join(line) + " |" for line in lines))
    else:
        widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines)]
        for line in (header, *lines):
            print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)))
    exact = all(row["params"] == row["spec params"] and max(row["torch"], row["keras"]) <= 1e-5 * row["scale"]
                for row in rows)  # fmt: skip
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
