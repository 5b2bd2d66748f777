"""The figures of the documentation's PyTorch backend page (docs/interop/torch.md).

Prints, for the notebook's three models with random Keras weights ported into PyTorch,
the largest difference from Keras's outputs of the PyTorch module and of its ONNX file
(onnxruntime) on 32 random inputs; and for four keras.applications models, the time
``to_spec`` takes and the parameter counts its spec checks to, beside Keras's.

    PYTHONPATH=. python benchmarks/backends.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from golden_tables import notebook_specs  # noqa: E402
from torch_strategies import keras_output, randomize, torch_output  # noqa: E402

from cnndsl import check, compile_spec, to_spec  # noqa: E402
from cnndsl.backends.onnx import export  # noqa: E402
from cnndsl.backends.torch import build, port_weights  # noqa: E402

APPLICATIONS = ("VGG16", "ResNet50", "MobileNetV2", "DenseNet121")


def differences() -> None:
    import onnxruntime

    print("model   max |keras - torch|   max |keras - onnxruntime|")
    for name, text in sorted(notebook_specs().items()):
        model, keras_model = check(text), compile_spec(text)
        randomize(keras_model)
        module = build(model)
        port_weights(keras_model, module)
        x = np.random.default_rng(1).normal(size=(32, 28, 28, 1)).astype("float32")
        expected = keras_output(keras_model, x)
        session = onnxruntime.InferenceSession(export(module, model))
        (onnx_out,) = session.run(None, {"input": x.transpose(0, 3, 1, 2).copy()})
        torch_diff, onnx_diff = np.abs(expected - torch_output(module, x)).max(), np.abs(expected - onnx_out).max()
        print(f"{name}  {torch_diff:.1e}  {onnx_diff:.1e}")


def applications() -> None:
    import keras

    print("model        to_spec   total (spec / keras)   non-trainable (spec)")
    for name in APPLICATIONS:
        model = getattr(keras.applications, name)(weights=None)
        start = time.perf_counter()
        spec = to_spec(model)
        took = time.perf_counter() - start
        checked = check(spec.text, num_classes=spec.num_classes)
        print(
            f"{name:<12} {took * 1000:5.0f} ms  {checked.total_params:,} / {model.count_params():,}  {checked.non_trainable_params:,}"
        )


if __name__ == "__main__":
    differences()
    applications()
