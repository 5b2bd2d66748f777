"""Specs embedded in Python: string literals passed to cnndsl's entry points.

``cnndsl check train.py`` finds calls such as ``compile_spec("CN(32)->FL()")`` or
``cnndsl.check(SPEC_TEXT_LITERAL, input_shape=(32, 32, 3))`` and checks each literal,
reporting positions in the Python file.
"""

from __future__ import annotations

import ast as pyast
import functools
import gzip
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from cnndsl.ast import Span
from cnndsl.checker import valid_classes, valid_input_shape
from cnndsl.errors import VALUE, Diagnostic
from cnndsl.syntax import span_at

ENTRY_POINTS = frozenset({"compile_spec", "check", "parse", "train"})
"""cnndsl functions whose first argument (or ``spec=``/``text=``) is a spec."""
SPEC_KEYWORDS = ("spec", "text")
KNOWN_DATA = {"mnist": (28, 28, 1), "sample": (28, 28, 1), "fashion_mnist": (28, 28, 1)}
"""The data sets ``train`` knows by name, and their images' shape (``cnndsl.datasets.NAMES``)."""
IDX_IMAGES = ("train-images-idx3-ubyte", "train-images.idx3-ubyte")


@dataclass(frozen=True)
class EmbeddedSpec:
    """One spec literal in a Python file, and how to map its positions back."""

    text: str
    line: int
    offset: int | None
    """Where the spec's first character sits in the file, when positions map exactly."""
    literal: Span
    input_shape: tuple | None
    num_classes: int | None
    problems: tuple[Diagnostic, ...] = ()
    """The call's own ``input_shape=``/``num_classes=`` literals that break the library's rules."""
    input_from: str | None = None
    """For ``train``: where the input shape was read (its data), or why it could not be."""
    input_known: bool = True
    """False for a ``train`` call whose data's shape cannot be had without running it."""

    def locate(self, span: Span | None, source: str) -> Span:
        """A span in the spec -> the same text in the Python file (else the whole literal)."""
        if span is None or self.offset is None:
            return self.literal
        return span_at(source, self.offset + span.start, self.offset + span.end)


def find_specs(source: str, folder: str | None = None) -> list[EmbeddedSpec]:
    """Every spec literal passed to a cnndsl entry point; SyntaxError if not Python.

    A ``train`` call's input shape is its data's, read as ``run`` would read it (a known
    data set's shape, an ``.npz``'s or IDX file's header; a path from the current folder,
    else from ``folder``, the Python file's), without loading the data.
    """
    tree = pyast.parse(source)
    functions, modules = _imports(tree)
    found = []
    for node in pyast.walk(tree):
        if isinstance(node, pyast.Call) and _is_entry_point(node.func, functions, modules):
            literal = _spec_argument(node)
            if literal is not None:
                spec = _embedded(literal, node, source)
                if _entry_name(node.func, functions) == "train":
                    spec = _with_data_shape(spec, node, folder)
                found.append(spec)
    return sorted(found, key=lambda spec: (spec.literal.start, spec.text))


def _entry_name(func: pyast.expr, functions: dict[str, str]) -> str:
    return functions.get(func.id, "") if isinstance(func, pyast.Name) else getattr(func, "attr", "")


def _with_data_shape(spec: EmbeddedSpec, call: pyast.Call, folder: str | None) -> EmbeddedSpec:
    """The spec with its input shape from ``train``'s data, or marked as unknown (and why)."""
    node = next((kw.value for kw in call.keywords if kw.arg == "data"), call.args[1] if len(call.args) > 1 else None)
    if node is None:
        data = "mnist"
    elif isinstance(node, pyast.Constant) and isinstance(node.value, str):
        data = node.value
    else:
        return replace(spec, input_shape=None, input_known=False, input_from="train's data is not a literal")
    shape, where = data_shape(data, folder)
    return replace(spec, input_shape=shape, input_known=shape is not None, input_from=where)


def data_shape(data: str, folder: str | None = None) -> tuple[tuple[int, int, int] | None, str]:
    """``(height, width, channels)`` of ``train``'s data and where it was read, or ``(None, why not)``."""
    if data in KNOWN_DATA:
        return KNOWN_DATA[data], f"input of data={data!r}"
    found = next((p for p in _candidates(data, folder) if p.exists()), None)
    if found is None:
        return None, f"train's data {data!r} is not found here"
    try:
        dims = _idx_dims(found) if found.is_dir() else _npy_dims(found)
        shape = valid_input_shape(dims[1:] + (1,) * (len(dims) == 3))
    except (OSError, ValueError, KeyError, SyntaxError, TypeError, IndexError, zipfile.BadZipFile, EOFError):
        return None, f"the images' shape of train's data {data!r} cannot be read from its header"
    return shape, f"input of data={data!r}, read from its header"


def _candidates(data: str, folder: str | None) -> list[Path]:
    path = Path(data)
    return [path] if path.is_absolute() or folder is None else [path, Path(folder) / path]


def _npy_dims(path: Path) -> tuple[int, ...]:
    """``x_train``'s shape from the header of its ``.npy`` inside the ``.npz`` (no array is read)."""
    with zipfile.ZipFile(path) as archive, archive.open("x_train.npy") as member:
        magic = member.read(8)
        if magic[:6] != b"\x93NUMPY":
            raise ValueError("not a .npy member")
        size = int.from_bytes(member.read(2 if magic[6] == 1 else 4), "little")
        return tuple(pyast.literal_eval(member.read(size).decode("latin1"))["shape"])


def _idx_dims(directory: Path) -> tuple[int, ...]:
    """The training images' shape from the header of an IDX directory's images file."""
    names = [directory / name for stem in IDX_IMAGES for name in (stem, f"{stem}.gz")]
    path = next(p for p in names if p.is_file())
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as stream:
        head = stream.read(4)
        data = stream.read(4 * head[3])
    return tuple(int.from_bytes(data[i : i + 4], "big") for i in range(0, len(data), 4))


def _imports(tree: pyast.AST) -> tuple[dict[str, str], set[str]]:
    """Local names bound to cnndsl's entry points, and to cnndsl or one of its modules.

    ``from cnndsl import check``, ``from cnndsl import *``, ``import cnndsl as c``,
    ``import cnndsl.compiler`` (which binds ``cnndsl``) and ``from cnndsl import compiler``.
    """
    functions: dict[str, str] = {}
    modules = set()
    for node in pyast.walk(tree):
        if isinstance(node, pyast.ImportFrom) and _is_cnndsl(node.module or "") and not node.level:
            for alias in node.names:
                if alias.name == "*":
                    functions |= {name: name for name in ENTRY_POINTS}
                elif alias.name in ENTRY_POINTS:
                    functions[alias.asname or alias.name] = alias.name
                elif alias.name in _submodules():
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, pyast.Import):
            for alias in node.names:
                if _is_cnndsl(alias.name):
                    modules.add(alias.asname or alias.name.split(".")[0])
    return functions, modules


@functools.cache
def _submodules() -> frozenset[str]:
    """The names of cnndsl's own modules and subpackages (``compiler``, ``backends``, ...)."""
    here = Path(__file__).parent
    return frozenset(p.stem for p in here.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file())


def _is_cnndsl(module: str) -> bool:
    return module.split(".")[0] == "cnndsl"


def _is_entry_point(func: pyast.expr, functions: dict[str, str], modules: set[str]) -> bool:
    """``check(...)``, ``cnndsl.check(...)``, ``c.compiler.check(...)``: a name bound to cnndsl."""
    if isinstance(func, pyast.Name):
        return func.id in functions
    if not (isinstance(func, pyast.Attribute) and func.attr in ENTRY_POINTS):
        return False
    owner = func.value
    while isinstance(owner, pyast.Attribute):
        owner = owner.value
    return isinstance(owner, pyast.Name) and owner.id in modules


def _spec_argument(call: pyast.Call) -> pyast.Constant | None:
    candidates = call.args[:1] + [kw.value for kw in call.keywords if kw.arg in SPEC_KEYWORDS]
    for node in candidates:
        if isinstance(node, pyast.Constant) and isinstance(node.value, str):
            return node
    return None


def _embedded(literal: pyast.Constant, call: pyast.Call, source: str) -> EmbeddedSpec:
    start = _char_offset(source, literal.lineno, literal.col_offset)
    end = _char_offset(source, literal.end_lineno, literal.end_col_offset)
    body = _body(source[start:end])
    exact = body is not None and source[start + body[0] : start + body[1]] == literal.value
    problems: list[Diagnostic] = []
    return EmbeddedSpec(
        literal.value,
        literal.lineno,
        start + body[0] if exact else None,
        span_at(source, start, end),
        _keyword(call, "input_shape", valid_input_shape, source, problems),
        _keyword(call, "num_classes", valid_classes, source, problems),
        tuple(problems),
    )


QUOTES = ('"' * 3, "'" * 3, '"', "'")


def _body(segment: str) -> tuple[int, int] | None:
    """Where a single string literal's body starts and ends, inside prefix and quotes."""
    prefix = len(segment) - len(segment.lstrip("rRuUbBfF"))
    for quote in QUOTES:
        if segment.startswith(quote, prefix) and segment.endswith(quote) and len(segment) >= prefix + 2 * len(quote):
            return prefix + len(quote), len(segment) - len(quote)
    return None


def _char_offset(source: str, line: int, byte_column: int) -> int:
    """Python's (line, UTF-8 byte column) -> a character offset into ``source``."""
    lines = source.split("\n")
    before = sum(len(text) + 1 for text in lines[: line - 1])
    return before + len(lines[line - 1].encode("utf-8")[:byte_column].decode("utf-8", errors="ignore"))


def _keyword(call: pyast.Call, name: str, valid: Callable, source: str, problems: list[Diagnostic]):
    """A literal keyword argument's value as the library would take it; None if absent or not a literal.

    A literal the library would refuse (``num_classes=0``) becomes a problem located at it.
    """
    for keyword in call.keywords:
        if keyword.arg == name:
            try:
                return valid(pyast.literal_eval(keyword.value), name)
            except ValueError as error:
                if _is_literal(keyword.value):
                    span = _node_span(keyword.value, source)
                    problems.append(Diagnostic(VALUE, str(error), span, code="bad-call-argument"))
                return None
            except (SyntaxError, TypeError, RecursionError, MemoryError):
                return None
    return None


def _is_literal(node: pyast.expr) -> bool:
    """Whether literal_eval can read the node (a variable or a call is not a literal)."""
    try:
        pyast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        return False
    return True


def _node_span(node: pyast.expr, source: str) -> Span:
    start = _char_offset(source, node.lineno, node.col_offset)
    return span_at(source, start, _char_offset(source, node.end_lineno, node.end_col_offset))
