"""cnndsl: a compiler for the short notation of convolutional networks.

>>> from cnndsl import check
>>> check("CN(72,(7,7))->CN(38,(7,7))->CN(20,(7,7))->MP(2,2)->DP(0.25)->FL()->DN(128)->DP(0.5)->DN(10)").total_params
240380

``import cnndsl`` never imports TensorFlow or Keras; only ``compile_spec`` (and
training) do, after the spec has passed every check.
"""

from __future__ import annotations

import os
import sys

if sys.argv[:1] == ["-m"] and sys.path and sys.path[0] == os.getcwd():
    # `python -m cnndsl` (sys.argv[0] is "-m" while the package is imported) put the current
    # directory first on the module path. It is dropped before anything else is imported,
    # so that a file in the folder being checked (a `dataclasses.py` or `json.py` planted
    # next to the specs) is never imported in place of a module cnndsl loads: cnndsl reads
    # and parses the files it checks, and runs none of them.
    del sys.path[0]

from cnndsl import hooks as _hooks
from cnndsl.checker import check, parse
from cnndsl.compiler import compile_spec
from cnndsl.errors import Diagnostic, SpecError, SpecShapeError, SpecSyntaxError, SpecValueError
from cnndsl.layers import LAYERS
from cnndsl.model import CheckedModel
from cnndsl.version import __version__ as __version__

__all__ = [
    "parse", "check", "compile_spec", "CheckedModel", "LAYERS",
    "SpecError", "SpecSyntaxError", "SpecValueError", "SpecShapeError", "Diagnostic", "draw_spec", "from_yolo",
]  # fmt: skip


def _hiding_native_logs(function):
    """``function`` run with the frameworks' native start-up logging hidden, as the lazy entry
    points run (:func:`cnndsl.training.native_logs.hiding_native_logs`, loaded on the first call)."""

    def hidden(*args, **kwargs):
        try:
            from cnndsl.training.native_logs import hiding_native_logs
        except ImportError:  # a core-only install: no framework to hide, and the call names the extra it needs
            return function(*args, **kwargs)
        return hiding_native_logs(function)(*args, **kwargs)

    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(hidden, attribute, getattr(function, attribute))
    hidden.__wrapped__ = function
    return hidden


compile_spec = _hiding_native_logs(compile_spec)


def draw_spec(text: str, input_shape=None, num_classes=None, **options):
    """A spec as a notebook shows it: its summary table beside its picture, or its errors with carets
    and its picture up to the failing layer (see :func:`cnndsl.notebook.draw_spec`)."""
    from cnndsl.notebook import draw_spec

    return draw_spec(text, input_shape, num_classes, **options)


def from_yolo(path, scale: str | None = None, input_shape=None):
    """An Ultralytics model file (``yolo11.yaml``) read for one scale and checked: a model that
    ``check``, ``compile_spec`` (Keras and PyTorch) and ``summary`` take, whose ``.spec`` is its
    notation (scale lines and one model). See :mod:`cnndsl.yolo`; SpecError located in the YAML.
    """
    from cnndsl.inputs import read_text, stem_and_suffix
    from cnndsl.yolo import from_yolo_text

    path = os.fspath(path)
    return from_yolo_text(read_text(path), scale, stem_and_suffix(path)[0], input_shape)


def load_ipython_extension(ipython) -> None:
    """``%load_ext cnndsl``: the ``%%cnndsl`` cell magic (:mod:`cnndsl.notebook`, loaded only then)."""
    from cnndsl.notebook import load_ipython_extension

    load_ipython_extension(ipython)


def _display(kind: str, value: object) -> dict:
    """A value's rich display, drawn by :mod:`cnndsl.notebook` (loaded on the first display)."""
    from cnndsl.notebook import bundle

    return bundle(kind, value)


def _live_plot(title: str):
    """Training's live plot in a notebook (:mod:`cnndsl.notebook`); None outside one."""
    from cnndsl.notebook import live_plot

    return live_plot(title)


def _read_architecture(data) -> tuple[str, int]:
    """An architecture file's spec and classes (:mod:`cnndsl.backends.json_ir`, loaded only then)."""
    from cnndsl.backends.json_ir import read

    return read(data)


_hooks.display, _hooks.live_plot, _hooks.read_architecture = _display, _live_plot, _read_architecture
"""The faces' services that lower modules ask for (:mod:`cnndsl.hooks`)."""

_LAZY = {
    "train": ("cnndsl.training", "tensorflow"), "compare": ("cnndsl.training", "tensorflow"),
    "load_data": ("cnndsl.datasets", "tensorflow"), "port_weights": ("cnndsl.backends.torch_reader", "torch"),
    "to_spec": ("cnndsl.backends.keras_reader", "tensorflow"), "sweep": ("cnndsl.sweeps", "sweep"),
    "from_torch": ("cnndsl.backends.torch_reader", "torch"),
}  # fmt: skip
"""Each function that loads on first use: its module, and the extra it needs."""
__all__ += list(_LAZY)


def __getattr__(name: str):
    """``train``, ``compare``, ``sweep``, ``load_data``, ``port_weights``, ``to_spec`` and ``from_torch`` load on first use.

    ``import cnndsl`` stays light; a framework missing when one is loaded or called is a
    :class:`~cnndsl.errors.MissingExtra` naming the extra to install. Each runs with the
    frameworks' native start-up logging hidden, as the command line runs
    (:func:`cnndsl.training.native_logs.hiding_native_logs`; ``quiet=False`` shows it).
    """
    if name not in _LAZY:
        raise AttributeError(f"module 'cnndsl' has no attribute {name!r}")
    import functools
    import importlib

    from cnndsl.errors import needs

    module, extra = _LAZY[name]
    with needs(extra, f"cnndsl.{name}()"):
        from cnndsl.training.native_logs import hiding_native_logs

        function = hiding_native_logs(getattr(importlib.import_module(module), name))
    wrapped = functools.wraps(function)(needs(extra, f"cnndsl.{name}()")(function))
    globals()[name] = wrapped
    return wrapped
