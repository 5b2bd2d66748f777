"""The detection head: ``DETECT``, a merge of feature levels into decoded boxes and class scores.

``DETECT(@p3 | @p4 | @p5, classes=80, bins=16, legacy=false)`` computes what Ultralytics'
``Detect`` head computes. Each level gets a box branch (two 3x3 convolutions with batch norm
and SiLU, then a 1x1 convolution to ``4 * bins`` distribution logits) and a class branch
(YOLO11's: a depthwise 3x3 and a 1x1 convolution, twice; ``legacy=true``, YOLOv8's: two 3x3
convolutions), then a 1x1 convolution to ``classes`` logits. In inference the head decodes:
each side's distance is the expectation of a softmax over ``bins`` (a fixed 1x1 convolution,
DFL), the boxes are ``(x, y, w, h)`` in input pixels around anchor points at the cells'
centres, the scores are sigmoids, and the levels are concatenated: ``(anchors, 4 + classes)``.
Each weight is named by its path in Ultralytics' module (``cv2.0.0.conv.kernel``).
"""

from __future__ import annotations

from cnndsl.layers.core import KerasArg, KerasClass, LayerType, Param, Torch, Weight, count, flag
from cnndsl.layers.pytorch import Call
from cnndsl.shapes import Shape, ShapeProblem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def detect_widths(first: int, classes: int, bins: int) -> tuple[int, int]:
    """The box and class branches' widths, from the first level's channels, as Ultralytics derives them.

    >>> detect_widths(64, 80, 16)
    (64, 80)
    >>> detect_widths(256, 80, 16)
    (64, 256)
    """
    return max(16, first // 4, bins * 4), max(first, min(classes, 100))


def detect_strides(image: Shape, levels: list[Shape]) -> tuple[int, ...]:
    """Each level's stride: the input's size over the level's, a whole number equal on both axes."""
    if None in image[1:3]:
        raise ShapeProblem(
            "DETECT needs an input of known size: its strides are the input's size over each level's",
            "give IN its height and width",
        )
    strides = []
    for index, level in enumerate(levels, 1):
        if len(level) != 4:
            raise ShapeProblem(
                f"DETECT level {index} is {len(level) - 1}-D; each level is a (height, width, channels) map"
            )
        if None in level[1:]:
            raise ShapeProblem(f"DETECT level {index} has a size nobody knows")
        ratios = {image[axis] / level[axis] for axis in (1, 2)}
        if len(ratios) != 1 or not float(next(iter(ratios))).is_integer():
            raise ShapeProblem(
                f"DETECT level {index} is {level[1]}x{level[2]} on a {image[1]}x{image[2]} input: its stride "
                "(the input's size over the level's) must be one whole number on both axes",
                "give every level a size that divides the input's (strided convolutions and poolings of 2)",
            )
        strides.append(int(next(iter(ratios))))
    return tuple(strides)


def _shape(shapes: list[Shape], a: Mapping) -> Shape:
    image, *levels = shapes
    if not levels:
        raise ShapeProblem("DETECT needs at least one level: DETECT(@p3 | @p4 | @p5)")
    detect_strides(image, levels)
    anchors = sum(level[1] * level[2] for level in levels)
    return (None, anchors, 4 + a["classes"])


def _conv_bn(path: str, kernel: int, into: int, out: int, depthwise: bool = False) -> tuple[Weight, ...]:
    """Ultralytics' ``Conv``: a convolution without bias, batch norm (its statistics not trainable), SiLU."""
    shape = (kernel, kernel, into, 1) if depthwise else (kernel, kernel, into, out)
    return (
        Weight(f"{path}.conv.kernel", shape),
        Weight(f"{path}.bn.gamma", (out,)),
        Weight(f"{path}.bn.beta", (out,)),
        Weight(f"{path}.bn.moving_mean", (out,), False),
        Weight(f"{path}.bn.moving_variance", (out,), False),
    )


def _out_conv(path: str, into: int, out: int) -> tuple[Weight, ...]:
    return Weight(f"{path}.kernel", (1, 1, into, out)), Weight(f"{path}.bias", (out,))


def _weights(shapes: list[Shape], a: Mapping) -> tuple[Weight, ...]:
    channels = [level[-1] for level in shapes[1:]]
    if not channels or None in channels:
        return ()
    c2, c3 = detect_widths(channels[0], a["classes"], a["bins"])
    weights: list[Weight] = []
    for i, x in enumerate(channels):
        weights += [*_conv_bn(f"cv2.{i}.0", 3, x, c2), *_conv_bn(f"cv2.{i}.1", 3, c2, c2),
                    *_out_conv(f"cv2.{i}.2", c2, 4 * a["bins"])]  # fmt: skip
    for i, x in enumerate(channels):
        if a["legacy"]:
            weights += [*_conv_bn(f"cv3.{i}.0", 3, x, c3), *_conv_bn(f"cv3.{i}.1", 3, c3, c3)]
        else:
            weights += [*_conv_bn(f"cv3.{i}.0.0", 3, x, x, depthwise=True), *_conv_bn(f"cv3.{i}.0.1", 1, x, c3),
                        *_conv_bn(f"cv3.{i}.1.0", 3, c3, c3, depthwise=True), *_conv_bn(f"cv3.{i}.1.1", 1, c3, c3)]  # fmt: skip
        weights += _out_conv(f"cv3.{i}.2", c3, a["classes"])
    weights.append(Weight("dfl.conv.kernel", (1, 1, a["bins"], 1), False))
    return (*(w for w in weights if w.trainable), *(w for w in weights if not w.trainable))  # Keras's order


def _macs(shapes: list[Shape], out: Shape, a: Mapping) -> int:
    """The convolutions' multiply-accumulates as CN and DW count them, and the DFL's (4 x bins per anchor)."""
    levels = shapes[1:]
    c2, c3 = detect_widths(levels[0][-1], a["classes"], a["bins"])
    total = 0
    for level in levels:
        cells, x = level[1] * level[2], level[-1]
        box = 9 * x * c2 + 9 * c2 * c2 + c2 * 4 * a["bins"]
        score = 9 * x * c3 + 9 * c3 * c3 if a["legacy"] else 9 * x + x * c3 + 9 * c3 + c3 * c3
        total += cells * (box + score + c3 * a["classes"] + 4 * a["bins"])
    return total


def _keras_strides(value, shapes) -> list[int]:
    image, *levels = shapes
    return list(detect_strides(image, list(levels)))


def _build_detect(info) -> tuple[Call, ...]:
    a = info.layer.args
    channels = tuple(shape[-1] for shape in info.input_shapes)
    strides = detect_strides(info.image, list(info.input_shapes))
    widths = detect_widths(channels[0], a["classes"], a["bins"])
    return (Call("Detect", (a["classes"], a["bins"], a["legacy"], channels, widths, strides)),)


def _detect_port(name: str):
    """Where a Keras weight of the head lands in the PyTorch module: its Ultralytics path, PyTorch's layout."""
    path, _, tensor = name.rpartition(".")
    if tensor == "kernel":
        depthwise = path.startswith("cv3.") and path.endswith(".0.conv") and path.count(".") == 4
        layout = _depthwise_kernel if depthwise else _kernel
        return 0, f"{path}.weight", layout
    attribute = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var",
                 "bias": "bias"}[tensor]  # fmt: skip
    return 0, f"{path}.{attribute}", None


def _kernel(value):
    return value.transpose(3, 2, 0, 1)


def _depthwise_kernel(value):
    return value.transpose(2, 3, 0, 1)


class _DetectPorts(dict):
    """Every weight of the head by its Keras name: they are as many as the levels make them."""

    def __contains__(self, name) -> bool:
        try:
            _detect_port(name)
        except (KeyError, ValueError):
            return False
        return name.startswith(("cv2.", "cv3.", "dfl."))

    def __getitem__(self, name):
        return _detect_port(name)

    def __bool__(self) -> bool:
        return True


DETECT_LAYERS = (
    LayerType("DETECT", "Detect", "YOLO's detection head over feature levels: decoded boxes (xywh, input pixels) "
              "and class scores per anchor",
              (Param("classes", count(1, 100_000), 80), Param("bins", count(1, 1024), 16),
               Param("legacy", flag, False)),
              _shape, weights=_weights, macs=_macs, merge=True, min_branches=1, sees_input=True, ends_model=True, kind="merge",
              keras=(KerasClass("Detect", (KerasArg("classes", "classes", 80), KerasArg("bins", "bins", 16),
                                           KerasArg("legacy", "legacy", False),
                                           KerasArg(None, "strides", to_keras=_keras_strides)), custom=True),),
              torch=Torch(_build_detect, ports=_DetectPorts(), holders=("Detect",),
                          unread="a detection head is read from its model file, not traced"),
              example={"classes": 3},
              note=": `DETECT(@p3 | @p4 | @p5, classes=80, bins=16, legacy=false)`, Ultralytics' Detect head; "
                   "output (anchors, 4 + classes)"),
)  # fmt: skip
"""The detection heads."""
