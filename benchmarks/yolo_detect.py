"""DETECT against Ultralytics' own ``Detect`` head: parameters and outputs, a table.

For each head (YOLO11's and YOLOv8's at every scale's P3/P4/P5 widths, and a small one of 3
classes and 8 bins), Ultralytics' ``Detect`` is made with random weights and batch-norm
statistics (and the batch-norm settings a ``DetectionModel`` gives it), and the notation's ``DETECT`` over levels of the same channels is checked and
built: its PyTorch module takes Ultralytics' state dict as it is (the same module paths), its
Keras layer takes each weight by the same path. On random levels of a 256x256 input (strides 8,
16, 32), the table compares the parameter counts (Ultralytics', the checker's trainable weights
plus the DFL's bins) and the largest differences of the outputs relative to their largest value:
inference (PyTorch and Keras, decoded boxes and scores) and training (PyTorch's raw maps against
Ultralytics' boxes and scores).

Needs Ultralytics installed (AGPL-3.0; cnndsl never imports it), for instance:

    PYTHONPATH=/path/to/ultralytics-site:. YOLO_OFFLINE=1 python benchmarks/yolo_detect.py
"""

from __future__ import annotations

import os
import sys
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("YOLO_OFFLINE", "1")

HEADS = (
    # name, level channels, classes, bins, legacy (YOLOv8's class branch)
    ("YOLO11n", (64, 128, 256), 80, 16, False),
    ("YOLO11s", (128, 256, 512), 80, 16, False),
    ("YOLO11m", (256, 512, 512), 80, 16, False),
    ("YOLO11l", (256, 512, 512), 80, 16, False),
    ("YOLO11x", (384, 768, 768), 80, 16, False),
    ("YOLOv8n", (64, 128, 256), 80, 16, True),
    ("YOLOv8s", (128, 256, 512), 80, 16, True),
    ("YOLOv8m", (192, 384, 576), 80, 16, True),
    ("YOLOv8l", (256, 512, 512), 80, 16, True),
    ("YOLOv8x", (320, 640, 640), 80, 16, True),
    ("small", (16, 24, 32), 3, 8, False),
)
SIZE, STRIDES = 256, (8, 16, 32)


def import_ultralytics():
    """Ultralytics' Detect; torchvision's meta registrations stubbed where this torch lacks them (as the tests do)."""
    try:
        import torchvision  # noqa: F401
    except Exception:
        for name in [name for name in sys.modules if name.startswith("torchvision")]:
            del sys.modules[name]
        sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
        print("note: torchvision's meta registrations stubbed (its build does not match this torch)", file=sys.stderr)
    from ultralytics.nn.modules.head import Detect

    return Detect


def initialize_weights(module) -> None:
    from ultralytics.utils.torch_utils import initialize_weights as settings

    settings(module)


def spec_text(channels, classes: int, bins: int, legacy: bool) -> str:
    c3, c4, c5 = channels
    return (f"IN({SIZE}, {SIZE}, 3) -> CN({c3}, 8, strides=8, padding=same) as p3 -> CN({c4}, 2, strides=2, padding=same)"
            f" as p4 -> CN({c5}, 2, strides=2, padding=same) -> DETECT(@p3 | @p4 | ID(), classes={classes}, bins={bins},"
            f" legacy={str(legacy).lower()})")  # fmt: skip


def randomise(module, seed: int) -> None:
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.startswith("dfl") or not tensor.is_floating_point():
                continue
            values = torch.rand(tensor.shape, generator=generator)
            tensor.copy_(0.5 + values if name.endswith("running_var") else (values - 0.5) * 0.2)


def keras_from_state(layer, state) -> None:
    """Each Keras weight of the head from the PyTorch tensor of the same path."""
    names = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var",
             "kernel": "weight", "bias": "bias"}  # fmt: skip
    for variable in layer.weights:
        path, _, tensor = variable.name.rpartition(".")
        value = state[f"{path}.{names[tensor]}"].numpy()
        if tensor == "kernel":
            depthwise = value.shape[1] == 1 and variable.shape[-1] == 1 and value.shape[0] > 1
            value = value.transpose(2, 3, 0, 1) if depthwise else value.transpose(2, 3, 1, 0)
        variable.assign(value)


def compare(Detect, name, channels, classes, bins, legacy, seed) -> dict:
    import numpy as np
    import torch

    from cnndsl.backends import keras as keras_backend
    from cnndsl.backends import torch as torch_backend
    from cnndsl.checker import check

    kind = type("LegacyDetect", (Detect,), {"legacy": True}) if legacy else Detect
    theirs = kind(nc=classes, reg_max=bins, ch=channels)
    theirs.stride = torch.tensor(STRIDES, dtype=torch.float)
    initialize_weights(theirs)  # batch norm's eps 1e-3 and momentum 0.03, as a DetectionModel sets them
    randomise(theirs, seed)
    model = check(spec_text(channels, classes, bins, legacy))
    head = model.layers[-1]
    ours = torch_backend.build(model).detect
    ours.load_state_dict(theirs.state_dict())  # strict: the same paths, the same shapes
    layer = keras_backend.build(model).layers[-1]
    keras_from_state(layer, theirs.state_dict())

    generator = torch.Generator().manual_seed(seed + 1)
    levels = [torch.rand(2, c, SIZE // s, SIZE // s, generator=generator) for c, s in zip(channels, STRIDES)]
    with torch.no_grad():
        theirs.eval(), ours.eval()
        want = theirs(levels)[0].numpy()
        got = ours(*levels).numpy()
        keras_got = np.asarray(layer([level.numpy().transpose(0, 2, 3, 1) for level in levels])).transpose(0, 2, 1)
        theirs.train(), ours.train()
        raw = theirs(levels)
        maps = ours(*levels)
        flat = torch.cat([m.flatten(2) for m in maps], 2)
        raw_want = torch.cat((raw["boxes"], raw["scores"]), 1).numpy()
    scale, raw_scale = np.abs(want).max(), np.abs(raw_want).max()
    return {
        "head": name,
        "ultralytics": sum(p.numel() for p in theirs.parameters()),
        "cnndsl": head.trainable + bins,
        "module": sum(p.numel() for p in ours.parameters()),
        "anchors": want.shape[2],
        "torch": float(np.abs(got - want).max() / scale),
        "keras": float(np.abs(keras_got - want).max() / scale),
        "train": float(np.abs(flat.numpy() - raw_want).max() / raw_scale),
    }


def main() -> int:
    Detect = import_ultralytics()
    import ultralytics

    print(f"Ultralytics {ultralytics.__version__}; input {SIZE}x{SIZE}, strides {STRIDES}, batch 2\n")
    print("| head | Ultralytics params | cnndsl params | PyTorch module params | anchors | inference, PyTorch | "
          "inference, Keras | training maps, PyTorch |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for seed, (name, channels, classes, bins, legacy) in enumerate(HEADS):
        row = compare(Detect, name, channels, classes, bins, legacy, seed)
        exact = row["ultralytics"] == row["cnndsl"] == row["module"]
        worst = max(worst, row["torch"], row["keras"], row["train"], 0.0 if exact else float("inf"))
        print(f"| {row['head']} | {row['ultralytics']:,} | {row['cnndsl']:,} | {row['module']:,} | {row['anchors']:,} "
              f"| {row['torch']:.1e} | {row['keras']:.1e} | {row['train']:.1e} |")  # fmt: skip
    print(f"\nlargest relative difference {worst:.1e} (tolerance 1e-4)")
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
