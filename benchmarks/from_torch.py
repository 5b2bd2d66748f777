"""torchvision's classification models into the notation, exact: a table.

For each model (``weights=None``, eval mode, input 224x224x3; ``inception_v3`` 299x299x3,
``googlenet`` and ``inception_v3`` without auxiliary heads), its batch norms given random
statistics and affine weights, and its last layer scaled so that its logits spread (an
untrained 1000-class softmax is nearly uniform whatever the weights, and would agree with
anything): ``spec = cnndsl.from_torch(model, shape, task="classify", verify=False)`` (the
softmax ``nn.CrossEntropyLoss`` applies appended as the head; read by default, the text ends in the
logits as written, which ``logits=True`` below builds; what follows is the reading's own
verification, and more); ``cnndsl.check(spec.text)`` must count
the module's parameters as trainable and its batch norms' running means and variances as
non-trainable; the PyTorch module and the Keras model ``compile_spec`` builds from the text,
given the source's weights with ``cnndsl.port_weights``, must compute ``softmax(model(x))``
on two random images within 1e-4 (Keras channels last); and the PyTorch module built with
``logits=True`` the model's logits, within 1e-4 of their largest value. Beside each row: the
times of ``from_torch``, ``check``, and each backend's build and port.

    python benchmarks/from_torch.py                       # all 22 models
    python benchmarks/from_torch.py --only resnet18,alexnet --markdown

torchvision's compiled detection ops do not load against the CPU build of torch; an empty
module stands in for their registrations (the classification models use none of them).
This is a benchmark, not a test: tests/test_from_torch.py holds three of the models.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import types
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TOLERANCE = 1e-4
MODELS = (
    "alexnet", "vgg11_bn", "vgg16", "resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "densenet121",
    "squeezenet1_0", "squeezenet1_1", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "mnasnet1_0",
    "shufflenet_v2_x1_0", "efficientnet_b0", "efficientnet_v2_s", "regnet_x_400mf", "regnet_y_400mf",
    "convnext_tiny", "googlenet", "inception_v3",
)  # fmt: skip
WITHOUT_AUX = {"googlenet": {"aux_logits": False, "init_weights": False},
               "inception_v3": {"aux_logits": False, "init_weights": False}}  # fmt: skip


@dataclass
class Row:
    name: str
    params: int = 0
    statistics: int = 0
    layers: int = 0
    counts: bool = False
    torch_diff: float = float("nan")
    keras_diff: float = float("nan")
    logits_diff: float = float("nan")
    times: tuple[float, ...] = ()
    problem: str = ""

    @property
    def exact(self) -> bool:
        diffs = (self.torch_diff, self.keras_diff, self.logits_diff)
        return self.counts and not self.problem and all(diff <= TOLERANCE for diff in diffs)


def torchvision():
    name = "torchvision._meta_registrations"
    sys.modules.setdefault(name, types.ModuleType(name))
    import torchvision

    return torchvision


def prepared(name: str):
    """The model in eval mode, batch norms randomised and logits spread, and two random images."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = getattr(torchvision().models, name)(weights=None, **WITHOUT_AUX.get(name, {})).eval()
    generator = torch.Generator().manual_seed(0)
    size = 299 if name == "inception_v3" else 224
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                if module.affine:
                    module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                    module.bias.copy_(torch.rand(n, generator=generator) * 0.4 - 0.2)
        x = torch.randn(2, 3, size, size, generator=generator)
        last = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)][-1]
        factor = 3 / float(model(x).std())
        last.weight.mul_(factor)
        if last.bias is not None:
            last.bias.mul_(factor)
    return model, x, (size, size, 3)


def measure(name: str) -> Row:
    import keras
    import numpy as np
    import torch

    from cnndsl import check, compile_spec, from_torch, port_weights

    row = Row(name)
    model, x, shape = prepared(name)
    row.params = sum(p.numel() for p in model.parameters())
    row.statistics = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    try:
        start = time.perf_counter()
        spec = from_torch(model, shape, task="classify", verify=False)
        read = time.perf_counter() - start
        checked = check(spec.text)
        checking = time.perf_counter() - start - read
        row.layers = len(checked.layers)
        row.counts = (checked.trainable_params, checked.non_trainable_params) == (row.params, row.statistics)
        with torch.no_grad():
            logits = model(x)
            expected = torch.softmax(logits, 1).numpy()
            start = time.perf_counter()
            built = compile_spec(spec.text, backend="torch").eval()
            port_weights(model, built)
            torch_build = time.perf_counter() - start
            row.torch_diff = float(np.abs(built(x).numpy() - expected).max())
            raw = compile_spec(spec.text, backend="torch", logits=True).eval()
            port_weights(model, raw)
            scale = float(logits.abs().max())
            row.logits_diff = float((raw(x) - logits).abs().max()) / scale
        keras.backend.clear_session()
        start = time.perf_counter()
        keras_model = compile_spec(spec.text)
        port_weights(model, keras_model)
        keras_build = time.perf_counter() - start
        outputs = keras_model.predict(x.permute(0, 2, 3, 1).numpy(), verbose=0)
        row.keras_diff = float(np.abs(outputs - expected).max())
        row.times = (read, checking, torch_build, keras_build)
    except Exception as error:  # a benchmark row says what failed, and the table goes on
        row.problem = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return row


HEADER = ("model", "parameters", "non-trainable", "layers", "counts", "softmax diff, torch",
          "softmax diff, Keras", "logits diff / max", "from_torch s", "check s", "torch build+port s",
          "Keras build+port s")  # fmt: skip


def cells(row: Row) -> list[str]:
    if row.problem:
        return [row.name, f"{row.params:,}", f"{row.statistics:,}", "", row.problem, "", "", "", "", "", "", ""]
    return [
        row.name, f"{row.params:,}", f"{row.statistics:,}", str(row.layers), "exact" if row.counts else "DIFFER",
        f"{row.torch_diff:.1e}", f"{row.keras_diff:.1e}", f"{row.logits_diff:.1e}", *(f"{t:.2f}" for t in row.times),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated model names (default: all 22)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    options = parser.parse_args()
    names = options.only.split(",") if options.only else MODELS
    rows = []
    if options.markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "---|" * len(HEADER))
    for name in names:
        row = measure(name)
        rows.append(row)
        line = cells(row)
        print("| " + " | ".join(line) + " |" if options.markdown else "  ".join(line), flush=True)
    exact = sum(row.exact for row in rows)
    print(f"\n{exact} of {len(rows)} exact (counts equal; softmax within {TOLERANCE} in both backends, logits "
          f"within {TOLERANCE} of their largest value).")  # fmt: skip


if __name__ == "__main__":
    main()
