"""Where specs come from: the notation on the command line, a spec file, or FILE:NAME."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from types import MappingProxyType

from cnndsl import ast, hooks
from cnndsl.checker import check_chain
from cnndsl.errors import Diagnostic, SpecError, SpecShapeError, SpecValueError, UsageError
from cnndsl.model import CheckedModel
from cnndsl.passes.scale import Chosen
from cnndsl.passes.scale import choose as choose_scale
from cnndsl.records import record, replace
from cnndsl.specfile import Scaling, resolve_definitions
from cnndsl.syntax import parse, parse_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from cnndsl.embedded import EmbeddedSpec

SPEC_NAME = "<spec>"
STDIN = "-"
STDIN_NAME = "<stdin>"
MAX_FILE_BYTES = 8 * 1024 * 1024
"""Largest spec file read (a real one is a few kilobytes)."""


@record
class Source:
    """One model to compile.

    ``name`` is what diagnostics print before the position (a path, or ``<spec>``),
    ``text`` the whole text positions refer to, and ``label`` the model's short
    name for tables and output folders. A model from a spec file comes parsed,
    with the file's definitions as ``blocks``; a file that could not be read into
    models carries its ``error`` instead.
    """

    name: str
    text: str
    label: str
    chain: ast.Chain | None = None
    blocks: Mapping[str, ast.Chain] = MappingProxyType({})
    error: SpecError | None = None
    named: bool = False
    """Whether the model is one named definition of a file (``FILE:NAME``)."""
    embedded: EmbeddedSpec | None = None
    """A spec literal inside a Python file (``text`` is then the Python file)."""
    num_classes: int | None = None
    """The class count the source itself declares (an architecture file), which wins over the caller's."""
    scales: tuple[Scaling, ...] = ()
    """The family of scales its file declares (``scale n(0.50, 0.25, 1024)`` lines), in order."""
    scale: str | None = None
    """The scale to check it at (``--scale``); None: ``scale_setting``'s, else the file's first."""
    scale_setting: tuple[str, str] | None = None
    """A project's ``scale`` setting and where it is set: it applies to a file that declares scales."""
    task: str | None = None
    """The task the source itself declares (a YOLO model file's head), where the caller names none."""
    input_shape: tuple[int, int, int] | None = None
    """The input the source itself implies, where the caller gives none (a YOLO model file's 640x640 images)."""

    @property
    def title(self) -> str:
        """How output names the model: ``<spec>``, ``FILE`` or ``FILE:NAME``."""
        if self.embedded is not None:
            return f"{self.name}:{self.embedded.line}"
        return f"{self.name}:{self.label}" if self.named else self.name

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict | None:
        """In a notebook: the model's table and picture, or its errors with carets (drawn by :mod:`cnndsl.notebook`)."""
        return hooks.shown("source", self)

    def check(
        self, input_shape=None, num_classes=None, default_input_shape=None, task=None, scale=None
    ) -> CheckedModel:
        """Check this model (see :func:`cnndsl.check`); raises SpecError.

        ``scale`` names the scale of the file's family to check at, over :attr:`scale` (a located
        error where the file has no such scale, or none).
        """
        if self.error is not None:
            raise self.error
        chosen = self.chosen_scale(scale)
        if self.embedded is not None:
            return self._check_embedded(input_shape, num_classes, default_input_shape, task)
        chain = self.chain if self.chain is not None else parse(self.text)
        classes = self.num_classes if self.num_classes is not None else num_classes
        task = task if task is not None else self.task
        input_shape = input_shape if input_shape is not None else self.input_shape
        return check_chain(chain, self.text, input_shape, classes, self.blocks, default_input_shape, task, scale=chosen)

    def chosen_scale(self, scale: str | None = None) -> Chosen | None:
        """The scale this model is checked at: ``scale``, else :attr:`scale`, else the setting's, else the file's
        first; None for a model without scales."""
        scale = scale if scale is not None else self.scale
        if scale is not None:
            return choose_scale(self.scales, scale, self.text)
        if self.scale_setting is not None and self.scales:
            name, origin = self.scale_setting
            return choose_scale(self.scales, name, self.text, origin)
        return choose_scale(self.scales, None, self.text)

    def _check_embedded(self, input_shape, num_classes, default_input_shape, task=None) -> CheckedModel:
        """Check the literal with its call's own keywords; positions point into the Python file."""
        spec = self.embedded
        if spec.problems:
            raise SpecValueError(spec.problems, self.text)
        shape = input_shape if input_shape is not None else spec.input_shape
        classes = spec.num_classes if spec.num_classes is not None else num_classes
        try:
            model = check_chain(parse(spec.text), spec.text, shape, classes, None, default_input_shape, task)
        except SpecError as error:
            raise type(error)(self.relocated(error.diagnostics), self.text) from None
        return replace(model, warnings=tuple(self.relocated(model.warnings)))

    def unknown_input(self, input_shape=None) -> str | None:
        """Why this model's input shape cannot be known without running it (a ``train`` call's data), else None.

        A spec that declares its input with ``IN(...)`` is checked against that.
        """
        spec = self.embedded
        if spec is None or spec.input_known or input_shape is not None:
            return None
        elements = parse(spec.text).elements
        declared = elements and isinstance(elements[0], ast.Call) and elements[0].code == "IN"
        return None if declared else spec.input_from

    def check_values(self, num_classes=None) -> None:
        """Check all that does not depend on the input shape; raises SpecError for the rest.

        As ``train`` does before its data is read: a shape error is left for the data.
        """
        with contextlib.suppress(SpecShapeError):
            self.check(None, num_classes)

    def relocated(self, diagnostics) -> list[Diagnostic]:
        """Diagnostics about the checked model (budgets, warnings), located in this source's text.

        A spec inside a Python file is checked on its own; its positions move into the file.
        """
        spec, text = self.embedded, self.text
        if spec is None:
            return list(diagnostics)
        if spec.offset is None:  # positions do not map exactly (escapes): the whole literal, and no fixes
            return [replace(d, span=spec.locate(d.span, text), fixes=()) for d in diagnostics]
        return [d.moved(lambda span: spec.locate(span, text)) for d in diagnostics]


def read_models(argument: str, scale: str | None = None) -> list[Source]:
    """Every model a command-line argument names: ``FILE``, ``FILE:NAME``, ``-`` or the notation itself.

    ``scale`` is the scale a YOLO model file (``.yaml``) is read for (its first when None).
    """
    if argument == STDIN:
        return _with_models(file_models(STDIN_NAME, read_stdin(), "stdin"), STDIN_NAME)
    path, selected = _split_selector(argument)
    if path is None:
        return [Source(SPEC_NAME, argument, "spec")]
    display = path_text(path)
    stem, suffix = stem_and_suffix(display)
    if suffix in REFUSED_SUFFIXES:
        raise UsageError(f"{display}: {REFUSED_SUFFIXES[suffix]}")
    if suffix == ".py":
        models = python_models(display, read_text(display), stem)
    elif suffix == ".json":
        models = architecture_models(display, read_text(display), stem)
    elif suffix in YOLO_SUFFIXES:
        models = yolo_models(display, read_text(display), stem, scale)
    else:
        models = _with_models(file_models(display, read_text(display), stem), display)
    return models if selected is None else [_select(models, selected, display)]


def _with_models(models: list[Source], display: str) -> list[Source]:
    """The models of a spec file; UsageError for a file of blocks only, which has none to check."""
    if models:
        return models
    raise UsageError(f"{display}: holds no models, only blocks; a definition without 'block' is a model")


def _split_selector(argument: str) -> tuple[str | None, str | None]:
    """``(path, None)`` for a FILE, ``(path, NAME)`` for FILE:NAME, ``(None, None)`` for a spec."""
    if not argument.strip():  # "" is no path, not "."
        return None, None
    if os.path.isfile(argument):  # False for a name no file can have: a long spec, a NUL byte
        return argument, None
    base, _, name = argument.rpartition(":")
    if base and (os.path.isfile(base) or _looks_like_path(base)):
        if name.isidentifier() or name.isdigit():
            return base, name
        raise UsageError(f"{argument}: expected FILE:NAME, a model's name after the ':', not {name!r}")
    if _looks_like_path(argument) or os.path.exists(argument):
        return argument, None
    return None, None


def path_text(path: str) -> str:
    """The path as ``str(pathlib.Path(path))`` writes it: ``./nets//a.cnn`` -> ``nets/a.cnn``.

    Written out for POSIX paths because loading pathlib costs ``cnndsl check`` a tenth of
    its start-up; a test holds it equal to pathlib's.
    """
    if os.name != "posix":  # drives, two kinds of separator: pathlib's own rules
        from pathlib import Path

        return str(Path(path))
    relative = path.lstrip("/")
    root = "" if relative == path else "//" if len(path) - len(relative) == 2 else "/"
    return root + "/".join(part for part in relative.split("/") if part not in ("", ".")) or "."


def stem_and_suffix(path: str) -> tuple[str, str]:
    """``pathlib.Path(path)``'s ``stem`` and ``suffix`` (``a.tar.cnn`` -> ``a.tar``, ``.cnn``)."""
    if os.name != "posix":
        from pathlib import Path

        return Path(path).stem, Path(path).suffix
    text = path_text(path)
    name = "" if text == "." else text.rpartition("/")[2]
    dot = name.rfind(".")
    return (name[:dot], name[dot:]) if 0 < dot < len(name) - 1 else (name, "")


def file_models(display: str, text: str, stem: str) -> list[Source]:
    """The models of a spec file: one bare spec (named after the file), or its definitions."""
    try:
        parsed = parse_file(text)
    except SpecError as error:
        return [Source(display, text, stem, error=error)]
    if isinstance(parsed, ast.Chain):
        return [Source(display, text, stem, chain=parsed)]
    definitions = resolve_definitions(parsed)
    if definitions.diagnostics:
        return [Source(display, text, stem, error=SpecValueError(definitions.diagnostics, text))]
    return [
        Source(display, text, m.name, chain=m.chain, blocks=definitions.chains, named=True, scales=definitions.scales)
        for m in definitions.models
    ]


def python_models(display: str, text: str, stem: str) -> list[Source]:
    """The spec literals a Python file passes to cnndsl, one model each (labelled ``lineN``)."""
    from cnndsl.embedded import find_specs

    try:
        specs = find_specs(text, os.path.dirname(display) or ".")
    except (SyntaxError, ValueError) as error:
        raise UsageError(f"{display}: not valid Python ({getattr(error, 'msg', error)})") from None
    except (RecursionError, MemoryError):
        raise UsageError(f"{display}: not valid Python (too deeply nested for Python's parser)") from None
    return [Source(display, text, f"line{spec.line}", embedded=spec, named=True) for spec in specs]


def architecture_models(display: str, text: str, stem: str) -> list[Source]:
    """The model of an architecture file (``cnndsl emit --to json``), as the spec it describes."""
    import json

    from cnndsl.errors import ArchitectureError

    try:
        spec, classes = hooks.read_architecture(json.loads(text))
    except json.JSONDecodeError as error:
        raise UsageError(f"{display}: not JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    except RecursionError:
        raise UsageError(f"{display}: not JSON cnndsl reads (nested too deeply)") from None
    except ArchitectureError as error:
        raise UsageError(f"{display}: {error}") from None
    return [Source(display, spec, stem, num_classes=classes)]


YOLO_SUFFIXES = (".yaml", ".yml")
"""Ultralytics' model files (:mod:`cnndsl.yolo`)."""


def yolo_models(display: str, text: str, stem: str, scale: str | None = None) -> list[Source]:
    """The model of an Ultralytics model file, read for ``scale``; its positions are the YAML text's."""
    from cnndsl.yolo import read_yolo

    try:
        model = read_yolo(text, scale, stem)
    except SpecError as error:
        return [Source(display, text, stem, error=error)]
    first = model.chain.elements[0]
    if isinstance(first, ast.Call):  # IN(640, 640, 3): the file's input, where --input-shape gives none
        chain, shape = ast.Chain(model.chain.elements[1:], model.chain.span), model.input_shape
    else:  # the input is named (a layer takes it later): kept as written
        chain, shape = model.chain, None
    return [
        Source(display, text, stem, chain=chain, num_classes=model.classes, task=model.task,
               scales=model.scales, scale=scale, input_shape=shape)
    ]  # fmt: skip


def _select(models: list[Source], name: str, display: str) -> Source:
    if len(models) == 1 and models[0].error is not None:
        return models[0]  # the file itself is broken: report that
    for model in models:
        if name in (model.label, model.title.rpartition(":")[2]):
            return model
    names = ", ".join(model.label for model in models) or "none"
    if models and name in models[0].blocks:
        raise UsageError(f"{display}: {name!r} is a block, checked inside the models that use it (models: {names})")
    raise UsageError(f"{display}: no model named {name!r} (models: {names})")


FILE_NAME = re.compile(r"[\w.~+-]*\w\.[A-Za-z]\w*")
"""A name with an extension (``model1.cmn``): never a spec, whose names hold no '.'."""

REFUSED_SUFFIXES = {
    ".ipynb": "a Jupyter notebook, which cnndsl does not read; check its specs from a Python file "
    "(jupyter nbconvert --to script) or a spec file",
}
"""Files that are no spec file nor Python, refused by name rather than read as a spec."""


def _looks_like_path(argument: str) -> bool:
    if any(c in argument for c in "()\n"):
        return False
    return os.sep in argument or FILE_NAME.fullmatch(argument) is not None


def read_text(path: str | os.PathLike) -> str:
    """A spec file's text (UTF-8, a leading byte-order mark dropped), or UsageError.

    At most MAX_FILE_BYTES are read, whatever size the file reports: a device such as
    /dev/zero says 0 and never ends.
    """
    try:
        if os.path.isdir(path):
            raise UsageError(f"{path}: is a directory, not a spec file")
        with open(path, "rb") as handle:
            return decode(handle.read(MAX_FILE_BYTES + 1), str(path))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_stdin() -> str:
    """Standard input's text, by the same rules and cap as a file."""
    return decode(sys.stdin.buffer.read(MAX_FILE_BYTES + 1), STDIN_NAME)


def decode(data: bytes, name: str) -> str:
    """UTF-8 text without a leading byte-order mark; UsageError past the cap or on a bad byte."""
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"{name}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; not a spec file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: not UTF-8 text (byte {exc.start})") from None
