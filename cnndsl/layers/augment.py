"""Augmentation: Keras's random preprocessing layers, active in training and the identity in inference."""

from __future__ import annotations

from cnndsl.layers.core import (
    MAX_INPUT_SIZE,
    KerasArg,
    KerasClass,
    LayerType,
    Maybe,
    Param,
    Torch,
    _channels_last,
    _unset,
    choice,
    count,
    real,
)
from cnndsl.layers.pytorch import (
    Call,
    Unsupported,
)
from cnndsl.shapes import (
    Shape,
    ShapeProblem,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


FLIPS = ("horizontal", "vertical", "horizontal_and_vertical")
FILLS = ("reflect", "wrap", "constant", "nearest")
RESAMPLINGS = ("bilinear", "nearest")


def _random_crop_shape(shape: Shape, a: Mapping) -> Shape:
    height, width = shape[1], shape[2]
    if (height is not None and height < a["height"]) or (width is not None and width < a["width"]):
        raise ShapeProblem(
            f"RCR({a['height']}, {a['width']}) takes a {a['height']}x{a['width']} window, "
            f"but the input is only {'?' if height is None else height}x{'?' if width is None else width}",
            "crop a window no larger than the input",
        )
    return (shape[0], a["height"], a["width"], shape[3])


def _read_symmetric(value) -> float:
    """Keras's factor ``(-f, f)`` (how a single ``f`` is kept) or ``f`` as the notation's ``f``."""
    if isinstance(value, list | tuple):
        if len(value) == 2 and float(value[0]) == -float(value[1]):
            return abs(float(value[1]))
        raise ValueError(f"factor bounds {tuple(value)} have no notation; the notation takes one f for (-f, f)")
    return abs(float(value))


def _read_upper(value) -> float:
    """RandomContrast's factor ``(0, f)`` (how a single ``f`` is kept) as the notation's ``f``."""
    if isinstance(value, list | tuple):
        if len(value) == 2 and float(value[0]) == 0:
            return float(value[1])
        raise ValueError(f"factor bounds {tuple(value)} have no notation; the notation takes one f for (0, f)")
    return float(value)


def _read_optional_factor(value):
    return None if value is None else _read_symmetric(value)


_K_FILL = (
    KerasArg("fill", "fill_mode", "reflect"),
    KerasArg("interpolation", "interpolation", "bilinear"),
)
_FILL_PARAMS = (
    Param("fill", choice(FILLS), "reflect"),
    Param("interpolation", choice(RESAMPLINGS), "bilinear"),
)
_AUGMENT_REFUSE = _unset("fill_value", 0.0)


def _contrast_refusal(config: Mapping) -> str | None:
    value_range = config.get("value_range", (0, 255))
    if tuple(value_range) != (0, 255):
        return f"value_range={tuple(value_range)} has no notation (Keras's default (0, 255) clips the output)"
    return _channels_last(config)


# --- PyTorch ---------------------------------------------------------------------------------


def _build_affine(info) -> tuple[Call, ...]:
    """ROT, TRN and ZOOM: one random affine resampling; PyTorch's grid_sample has no wrap fill."""
    a = info.layer.args
    if a["fill"] == "wrap":
        raise Unsupported("PyTorch's grid_sample has no wrap fill; use reflect, nearest or constant")
    transform = {
        "ROT": ("rotation", a.get("factor")),
        "TRN": ("translation", (a.get("height"), a.get("width"))),
        "ZOOM": ("zoom", (a.get("height"), a.get("width"))),
    }[info.code]
    return (Call("RandomAffine", (), (transform, ("fill", a["fill"]), ("interpolation", a["interpolation"]))),)


_UNREAD = "a random augmentation module is model-specific: no reading"


AUGMENTATIONS = (
    LayerType("FLIP", "RandomFlip", "random flips in training (horizontal, vertical or both); identity in inference",
              (Param("mode", choice(FLIPS), "horizontal_and_vertical"),), input_rank=4, kind="augmentation",
              keras=(KerasClass("RandomFlip", (KerasArg("mode", "mode", "horizontal_and_vertical"),),
                                refuse=_channels_last),),
              torch=Torch(lambda info: (Call("RandomFlip", (info.layer.args["mode"],)),), unread=_UNREAD),
              example={},
              note="; also `horizontal`, `vertical`: each image flipped at random in training"),
    LayerType("ROT", "RandomRotation", "random rotation in training by up to factor x 360 degrees either way; "
              "identity in inference",
              (Param("factor", real(0, 1)), *_FILL_PARAMS), input_rank=4, kind="augmentation",
              keras=(KerasClass("RandomRotation", (
                  KerasArg("factor", "factor", positional=True, from_keras=_read_symmetric), *_K_FILL),
                  refuse=_AUGMENT_REFUSE),),
              torch=Torch(_build_affine, unread=_UNREAD),
              example={"factor": 0.1},
              note=": turned by up to `factor` x 360 degrees either way in training"),
    LayerType("TRN", "RandomTranslation", "random shift in training by up to height x H and width x W pixels; "
              "identity in inference",
              (Param("height", real(0, 1)), Param("width", real(0, 1)), *_FILL_PARAMS), input_rank=4,
              kind="augmentation",
              keras=(KerasClass("RandomTranslation", (
                  KerasArg("height", "height_factor", positional=True, from_keras=_read_symmetric),
                  KerasArg("width", "width_factor", positional=True, from_keras=_read_symmetric), *_K_FILL),
                  refuse=_AUGMENT_REFUSE),),
              torch=Torch(_build_affine, unread=_UNREAD),
              example={"height": 0.1, "width": 0.1},
              note=": shifted by up to those fractions of the size"),
    LayerType("ZOOM", "RandomZoom", "random zoom in training by up to a fraction height (and width; None keeps "
              "the aspect); identity in inference",
              (Param("height", real(0, 1)), Param("width", Maybe(real(0, 1)), None), *_FILL_PARAMS),
              input_rank=4, kind="augmentation",
              keras=(KerasClass("RandomZoom", (
                  KerasArg("height", "height_factor", positional=True, from_keras=_read_symmetric),
                  KerasArg("width", "width_factor", None, from_keras=_read_optional_factor), *_K_FILL),
                  refuse=_AUGMENT_REFUSE),),
              torch=Torch(_build_affine, unread=_UNREAD),
              example={"height": 0.1},
              note=": zoomed in or out by up to the fraction; `width=None` keeps the aspect"),
    LayerType("RCR", "RandomOrCenterCrop", "a random height x width window in training, the central one in inference",
              (Param("height", count(1, MAX_INPUT_SIZE)), Param("width", count(1, MAX_INPUT_SIZE))),
              _random_crop_shape, input_rank=4, kind="augmentation",
              keras=(KerasClass("RandomOrCenterCrop", (KerasArg("height", "height", positional=True),
                                                       KerasArg("width", "width", positional=True)),
                                custom=True, reads=("RandomCrop",), refuse=_channels_last),),
              torch=Torch(lambda info: (Call("RandomOrCenterCrop", (info.layer.args["height"], info.layer.args["width"])),),
                          unread=_UNREAD),
              example={"height": 1, "width": 1},
              note=": a random `height` x `width` window in training, the central one in inference"),
    LayerType("CON", "RandomContrast", "random contrast in training: (x - mean) x a factor from 1 to 1 + factor; "
              "identity in inference",
              (Param("factor", real(0, 1)),), input_rank=4, kind="augmentation",
              keras=(KerasClass("RandomContrast", (
                  KerasArg("factor", "factor", positional=True, from_keras=_read_upper),),
                  refuse=_contrast_refusal),),
              torch=Torch(lambda info: (Call("RandomContrast", (info.layer.args["factor"],)),), unread=_UNREAD),
              example={"factor": 0.1},
              note=": `(x - mean) * f + mean` per image, `f` from 1 to 1 + factor, in training"),
)  # fmt: skip
