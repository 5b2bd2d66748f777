"""cnndsl's reading of Ultralytics' model files against Ultralytics itself: counts, outputs, golden arrays.

For every covered file (the project's own, ``cnndsl/data/yolo/``) and every scale, Ultralytics
builds the model from the same file, and cnndsl reads the file and checks it at that scale:

- ``counts``: Ultralytics' parameter count (``sum(p.numel())``) beside the checked model's
  (trainable + non-trainable, batch-norm statistics aside, as Ultralytics counts);
- ``outputs``: Ultralytics' weights (seeded, random, with batch-norm statistics made up) ported
  into the PyTorch and the Keras builds (``cnndsl.port_weights``), then one seeded image run
  through all three: the raw per-level maps in training mode and the decoded predictions in
  inference (a classifier's probabilities), the largest absolute difference of each;
- ``--record``: the golden arrays the tests hold both backends to: for YOLO11n and YOLOv8n (and
  the classifiers), a 64x64 image of seed 0, Ultralytics' weights of seed 0, its outputs, saved
  with the weights under ``tests/data/yolo/`` (``.npz``).

A table is printed as it goes. Ultralytics is AGPL-3.0 and never a dependency of cnndsl: this
script imports it only when the person running it has installed it (or points ``PYTHONPATH`` at a
copy); without it, the script says so and stops.

    python benchmarks/yolo.py                         # counts for every file and scale
    python benchmarks/yolo.py --outputs --size 64     # and outputs, ported, both backends
    python benchmarks/yolo.py --record                # write the golden arrays of tests/data/yolo/
    python benchmarks/yolo.py --no-counts --keras-yolo yolo11:n --size 640   # a Keras YOLO, exported

torchvision's compiled detection ops do not load against the CPU build of torch; where its import
fails for that, an empty module stands in for their registrations (Ultralytics imports torchvision
but these models use none of them), and a note says so.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

ROOT = Path(__file__).resolve().parent.parent
FILES = ROOT / "cnndsl" / "data" / "yolo"
GOLDEN = ROOT / "tests" / "data" / "yolo"
COVERED = ("yolov8", "yolov8-cls", "yolov8-p2", "yolov8-p6", "yolo11", "yolo11-cls")
SCALES = ("n", "s", "m", "l", "x")
RECORDED = (("yolo11", "n"), ("yolov8", "n"), ("yolo11-cls", "n"), ("yolov8-cls", "n"))
TOLERANCE = 1e-4


def import_ultralytics():
    """Ultralytics, or None where it is not installed (torchvision's registrations stood in where they fail)."""
    try:
        import torchvision  # noqa: F401
    except ModuleNotFoundError:
        pass
    except Exception:  # a torchvision built for another torch: its compiled ops do not register
        for name in [name for name in sys.modules if name.startswith("torchvision")]:
            del sys.modules[name]
        sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
        print("note: torchvision's compiled ops do not load here; an empty module stands in for their registrations")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "cnndsl-yolo-config"))
    try:
        import ultralytics  # noqa: F401
        from ultralytics.nn import tasks
    except ModuleNotFoundError:
        return None
    return tasks


def ultralytics_model(tasks, stem: str, scale: str, channels: int = 3):
    """Ultralytics' model built from the project's file at ``scale`` (its own rules, its own parse_model)."""
    import yaml

    described = yaml.safe_load((FILES / f"{stem}.yaml").read_text())
    described["scale"] = scale
    kind = tasks.ClassificationModel if stem.endswith("-cls") else tasks.DetectionModel
    return kind(described, ch=channels, verbose=False)


def ultralytics_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def cnndsl_model(stem: str, scale: str, size: int | None = None):
    import cnndsl

    shape = None if size is None else (size, size, 3)
    return cnndsl.from_yolo(FILES / f"{stem}.yaml", scale=scale, input_shape=shape)


def cnndsl_count(spec) -> int:
    """Parameters as Ultralytics counts them: every weight but batch norm's running statistics."""
    from cnndsl.backends.yolo_weights import weights_of

    checked = spec.check()
    statistics = sum(
        w.size for info in checked.layers for w in weights_of(info, checked)
        if w.name.rpartition(".")[2].rpartition("/")[2] in ("moving_mean", "moving_variance")
    )  # fmt: skip
    return checked.total_params - statistics


def seeded_arrays(shapes: dict, seed: int = 0) -> dict:
    """Weights and batch-norm statistics drawn from a seed, for the named tensors of the given shapes, in order.

    numpy's default generator (PCG64) draws the same numbers on every version; the tests draw the
    weights of the golden arrays' models with this function, so that the arrays need not hold them.
    A running variance is drawn from [0.5, 1.5); the detection head's fixed distribution weights
    (``dfl``) and integer counters are left out.
    """
    import numpy as np

    generator = np.random.default_rng(seed)
    drawn = {}
    for name, shape in shapes.items():
        if "dfl" in name or name.endswith("num_batches_tracked"):
            continue
        if name.endswith("running_var"):
            drawn[name] = (generator.random(shape) + 0.5).astype(np.float32)
        else:
            drawn[name] = (generator.standard_normal(shape) * 0.1).astype(np.float32)
    return drawn


def seeded(model, seed: int = 0) -> None:
    """The model's weights and batch-norm statistics replaced by :func:`seeded_arrays`' (every weight matters)."""
    import torch

    state = model.state_dict()
    drawn = seeded_arrays({name: tuple(tensor.shape) for name, tensor in state.items()}, seed)
    with torch.no_grad():
        for name, value in drawn.items():
            state[name].copy_(torch.from_numpy(value))


def image(size: int, seed: int = 0, channels: int = 3):
    import numpy as np

    return np.random.default_rng(seed + 1).random((1, channels, size, size), dtype=np.float32)


def counts(tasks, stems, scales) -> list[tuple]:
    rows = []
    print(f"{'file':<12}{'scale':>6}{'Ultralytics':>14}{'cnndsl':>14}{'check s':>9}  verdict")
    for stem in stems:
        for scale in scales:
            theirs = ultralytics_count(ultralytics_model(tasks, stem, scale))
            start = time.perf_counter()
            try:
                mine = cnndsl_count(cnndsl_model(stem, scale))
                verdict = "equal" if mine == theirs else f"DIFFERS by {mine - theirs:+,}"
            except Exception as error:  # what cnndsl says of the file, on the table
                mine, verdict = None, f"error: {str(error).splitlines()[0]}"
            took = time.perf_counter() - start
            shown = "-" if mine is None else f"{mine:,}"
            print(f"{stem:<12}{scale:>6}{theirs:>14,}{shown:>14}{took:>9.2f}  {verdict}", flush=True)
            rows.append((stem, scale, theirs, mine, verdict))
    return rows


def ultralytics_outputs(model, x):
    """Ultralytics' raw per-level maps (training mode) and decoded predictions (inference), as numpy."""
    import torch

    with torch.no_grad():
        model.eval()
        decoded = model(torch.from_numpy(x))
        _head(model).training = True  # the head as it trains (itself only: batch norm on its running statistics)
        raw = model(torch.from_numpy(x))
        model.eval()
    if isinstance(raw, dict):  # boxes and scores of every anchor, and the levels' features: back to per-level maps
        raw = _levels(raw)
    elif (
        isinstance(raw, torch.Tensor) and raw.ndim == 2
    ):  # a classifier trains on logits; its build gives probabilities
        raw = raw.softmax(1)
    return _numpy(raw), _numpy(decoded[0] if isinstance(decoded, tuple | list) else decoded)


def _head(model):
    """The module whose training mode gives the raw maps: the last layer (Ultralytics' Detect, cnndsl's build's)."""
    children = list(model.model.children()) if hasattr(model, "model") else list(model.children())
    return children[-1]


def _levels(raw: dict):
    """Ultralytics' training output (``boxes`` and ``scores`` of all anchors, ``feats`` per level) as per-level
    maps of box distributions then class scores, (batch, 4 * bins + classes, height, width)."""
    import torch

    maps, start = [], 0
    for feature in raw["feats"]:
        batch, _, height, width = feature.shape
        end = start + height * width
        both = torch.cat([raw["boxes"][..., start:end], raw["scores"][..., start:end]], 1)
        maps.append(both.reshape(batch, -1, height, width))
        start = end
    return maps


def _numpy(value):
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    if isinstance(value, dict):  # a head that returns its parts by name
        return {key: _numpy(part) for key, part in value.items()}
    return [_numpy(part) for part in value]


def cnndsl_outputs(spec, source, x, backend: str):
    """The build's raw maps (training mode) and decoded predictions (inference) with Ultralytics' weights."""
    import cnndsl

    built = cnndsl.compile_spec(spec, backend=backend)
    cnndsl.port_weights(source, built)
    if backend == "torch":
        import torch

        with torch.no_grad():
            built.eval()
            decoded = _numpy(built(torch.from_numpy(x)))
            _head(built).training = True
            raw = _numpy(built(torch.from_numpy(x)))
            built.eval()
        return raw, decoded
    image_last = x.transpose(0, 2, 3, 1)
    decoded = built(image_last, training=False)
    return _keras_raw(built, image_last, decoded), _keras_numpy(decoded)


def _keras_raw(built, image, decoded):
    """The Keras build's raw maps: its detection head's ``raw`` of the levels it takes (a classifier: its output)."""
    import keras

    head = built.layers[-1]
    if not hasattr(head, "raw"):
        return _keras_numpy(decoded)
    levels = keras.Model(built.input, head.input)(image, training=False)
    return _keras_numpy(head.raw(levels if isinstance(levels, list | tuple) else [levels]))


def _keras_numpy(value):
    import numpy as np

    if isinstance(value, list | tuple):
        return [_keras_numpy(part) for part in value]
    return np.asarray(value)


def difference(theirs, mine, backend: str) -> float:
    """The largest absolute difference, a Keras output laid out as PyTorch's first."""
    import numpy as np

    theirs_list = _flat(theirs)
    mine_list = _flat(mine)
    if len(theirs_list) != len(mine_list):
        return float("inf")
    worst = 0.0
    for a, b in zip(theirs_list, mine_list):
        b = np.asarray(b)
        if backend == "keras" and b.ndim >= 3:
            b = np.moveaxis(b, -1, 1)  # channels last: (B, H, W, C) or (B, anchors, 4 + classes)
        if a.shape != b.shape:
            return float("inf")
        worst = max(worst, float(np.max(np.abs(a - b))))
    return worst


def _flat(value) -> list:
    if isinstance(value, dict):
        return [part for key in sorted(value) for part in _flat(value[key])]
    if isinstance(value, list | tuple):
        return [part for item in value for part in _flat(item)]
    return [value]


def outputs(tasks, stems, scales, size: int, backends) -> None:
    print(f"\n{'file':<12}{'scale':>6}{'backend':>9}{'raw maps':>12}{'decoded':>12}  verdict (size {size})")
    for stem in stems:
        for scale in scales:
            source = ultralytics_model(tasks, stem, scale)
            seeded(source)
            x = image(size)
            theirs_raw, theirs_decoded = ultralytics_outputs(source, x)
            spec = cnndsl_model(stem, scale, size)
            for backend in backends:
                try:
                    raw, decoded = cnndsl_outputs(spec, source, x, backend)
                    a, b = difference(theirs_raw, raw, backend), difference(theirs_decoded, decoded, backend)
                    within = a <= TOLERANCE * max(1.0, _scale_of(theirs_raw)) and b <= TOLERANCE * max(
                        1.0, _scale_of(theirs_decoded)
                    )
                    verdict = "equal" if within else "DIFFERS"
                    print(f"{stem:<12}{scale:>6}{backend:>9}{a:>12.2e}{b:>12.2e}  {verdict}", flush=True)
                except Exception as error:
                    print(f"{stem:<12}{scale:>6}{backend:>9}{'-':>12}{'-':>12}  error: {str(error).splitlines()[0]}")


def _scale_of(value) -> float:
    import numpy as np

    return max(float(np.max(np.abs(part))) for part in _flat(value))


def record(tasks, size: int) -> None:
    """The golden arrays: Ultralytics' weights (state dict), a seeded image, its outputs, per recorded model."""
    import numpy as np

    GOLDEN.mkdir(parents=True, exist_ok=True)
    for stem, scale in RECORDED:
        model = ultralytics_model(tasks, stem, scale)
        seeded(model)
        x = image(size)
        raw, decoded = ultralytics_outputs(model, x)
        state = {
            name: tensor for name, tensor in model.state_dict().items() if not name.endswith("num_batches_tracked")
        }
        arrays = {
            "names": np.array(list(state)),
            "ndims": np.array([tensor.ndim for tensor in state.values()]),
            "dims": np.array([size for tensor in state.values() for size in tensor.shape]),
            "dfl": np.concatenate([tensor.numpy().ravel() for name, tensor in state.items() if "dfl" in name] or [[]]),
            "image": x,
        }
        for i, part in enumerate(_flat(raw)):
            arrays[f"raw:{i}"] = part
        arrays["decoded"] = _flat(decoded)[0]
        path = GOLDEN / f"{stem}-{scale}-{size}.npz"
        np.savez_compressed(path, **arrays)
        print(
            f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.0f} KB, {ultralytics_count(model):,} parameters)"
        )


def keras_yolo(tasks, stem: str, scale: str, size: int) -> None:
    """A Keras YOLO: the file read, built in Keras, Ultralytics' weights ported; its detections against
    Ultralytics'; then exported: ONNX (through the PyTorch build given the Keras weights, run by
    onnxruntime) and Keras's own ``model.export`` (a TensorFlow SavedModel, run again)."""
    import tempfile

    import numpy as np

    import cnndsl
    from cnndsl.backends.onnx import export
    from cnndsl.backends.torch import port_weights as keras_to_torch

    print(f"\nKeras {stem}{scale} at {size}x{size}, Ultralytics' weights (seeded) ported")
    source = ultralytics_model(tasks, stem, scale)
    seeded(source)
    x = image(size)
    _, theirs = ultralytics_outputs(source, x)
    largest = max(1.0, float(np.abs(theirs).max()))
    spec = cnndsl.from_yolo(FILES / f"{stem}.yaml", scale=scale, input_shape=(size, size, 3))
    start = time.perf_counter()
    built = cnndsl.compile_spec(spec)
    cnndsl.port_weights(source, built)
    mine = np.moveaxis(np.asarray(built(x.transpose(0, 2, 3, 1), training=False)), -1, 1)
    worst = float(np.max(np.abs(mine - theirs)))
    print(f"  Keras build: {len(built.layers)} layers, {built.count_params():,} weights, {time.perf_counter() - start:.1f} s;"
          f" detections differ by {worst:.2e} at most ({worst / largest:.1e} of the largest), "
          f"{'equal' if worst <= TOLERANCE * largest else 'DIFFERS'}")  # fmt: skip
    module = cnndsl.compile_spec(spec, backend="torch")
    keras_to_torch(built, module)
    onnx_bytes = export(module, spec.check())
    try:
        import onnxruntime

        session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        (ran,) = session.run(None, {session.get_inputs()[0].name: x})
        worst = float(np.max(np.abs(ran - theirs)))
        print(f"  ONNX ({len(onnx_bytes) / 1e6:.1f} MB, the Keras weights): onnxruntime's detections differ by "
              f"{worst:.2e}, {'equal' if worst <= TOLERANCE * largest else 'DIFFERS'}")  # fmt: skip
    except ModuleNotFoundError:
        print("  ONNX written; onnxruntime is not installed to run it")
    with tempfile.TemporaryDirectory() as folder:
        try:
            built.export(folder, format="tf_saved_model", verbose=False)
            import tensorflow as tf

            served = tf.saved_model.load(folder)
            ran = np.moveaxis(np.asarray(served.serve(x.transpose(0, 2, 3, 1))), -1, 1)
            worst = float(np.max(np.abs(ran - theirs)))
            print(f"  Keras model.export (SavedModel): served detections differ by {worst:.2e}, "
                  f"{'equal' if worst <= TOLERANCE * largest else 'DIFFERS'}")  # fmt: skip
        except Exception as error:  # what this stack's Keras says, on the table
            print(f"  Keras model.export: fails here: {type(error).__name__}: {str(error).splitlines()[0][:160]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="files to compare, by stem (default: every covered file)")
    parser.add_argument("--scales", default=",".join(SCALES), help="scales to compare (default: n,s,m,l,x)")
    parser.add_argument("--outputs", action="store_true", help="compare outputs too, with weights ported")
    parser.add_argument("--backends", default="torch,keras", help="builds whose outputs to compare")
    parser.add_argument("--size", type=int, default=64, help="the image's height and width for outputs (default 64)")
    parser.add_argument("--no-counts", dest="counts", action="store_false", help="skip the parameter counts")
    parser.add_argument("--record", action="store_true", help="write the golden arrays of tests/data/yolo/")
    parser.add_argument("--keras-yolo", metavar="FILE:SCALE", help="a Keras YOLO built, ported, compared, exported "
                        "(yolo11:n)")  # fmt: skip
    args = parser.parse_args(argv)
    tasks = import_ultralytics()
    if tasks is None:
        print("Ultralytics is not installed: this benchmark compares against it (pip install ultralytics)")
        return 2
    sys.path.insert(0, str(ROOT))
    stems = args.only.split(",") if args.only else list(COVERED)
    scales = args.scales.split(",")
    if args.counts:
        counts(tasks, stems, scales)
    if args.outputs:
        outputs(tasks, stems, scales, args.size, args.backends.split(","))
    if args.record:
        record(tasks, args.size)
    if args.keras_yolo:
        stem, _, scale = args.keras_yolo.partition(":")
        keras_yolo(tasks, stem, scale or "n", args.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
