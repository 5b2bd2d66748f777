"""The protocol's message types built from compiled methods kept between starts.

Most of what the language server's start costs is importing ``lsprotocol.types``: it
declares its 576 message types with attrs, which writes each class's methods
(``__init__``, ``__repr__``, ``__eq__``, ...) as Python source and compiles that source
on every import, the same source every time. Python keeps a module's compiled code in
``__pycache__``; :func:`kept_attrs_methods` keeps attrs' compiled methods alike, in one
file under the user's cache folder (``$XDG_CACHE_HOME/cnndsl``, else ``~/.cache/cnndsl``),
named after the interpreter's bytecode tag.

An entry is found by the whole source and file name attrs compiles, and compiled with the
flags attrs compiles with, so it is exactly what compiling would give: a changed library
compiles its new source and never takes another's code. The file is read only when it
belongs to the user and no one else may write to it (it is made so, in a folder only the
user may enter); it is written again, with only what was used, when something had to be
compiled. Anything unexpected (attrs without the function this stands in for, a file that
cannot be read or written, a system without file owners to check, such as Windows) leaves
attrs compiling as it always does.
"""

from __future__ import annotations
import __future__

import inspect
import marshal
import os
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag
PARAMETERS = ("script", "globs", "locs", "filename")
"""The parameters of ``attr._make._compile_and_eval``, which the cache stands in for."""


def cache_file() -> Path:
    """Where the compiled methods are kept: one file per interpreter bytecode tag and optimisation level."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnndsl" / f"lsp-attrs-{sys.implementation.cache_tag}-O{sys.flags.optimize}.marshal"


@contextmanager
def kept_attrs_methods(path: Path | None = None) -> Iterator[dict[str, int]]:
    """While inside, attrs builds classes from the methods compiled in an earlier start.

    Yields counts (``kept``: methods taken from the file, ``compiled``: compiled now), filled as
    classes are built.
    """
    counts = {"kept": 0, "compiled": 0}
    make = _attrs_make()
    original = getattr(make, "_compile_and_eval", None)
    if original is None or _parameters(original) != PARAMETERS or not hasattr(os, "getuid"):
        yield counts
        return
    path = path or cache_file()
    known, used = _read(path), {}
    flags = original.__code__.co_flags & FUTURE_FLAGS

    def compile_and_eval(script, globs, locs=None, filename=""):
        key = f"{filename}\n{script}"
        code = known.get(key)
        if code is None:
            code = compile(script, filename, "exec", flags=flags, dont_inherit=True)
            counts["compiled"] += 1
        else:
            counts["kept"] += 1
        used[key] = code
        eval(code, globs, locs)

    make._compile_and_eval = compile_and_eval
    try:
        yield counts
    finally:
        make._compile_and_eval = original
    if counts["compiled"]:
        _write(path, used)


def _attrs_make():
    try:
        from attr import _make
    except ImportError:
        return None
    return _make


def _parameters(function) -> tuple[str, ...]:
    try:
        return tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return ()


def _read(path: Path) -> dict[str, types.CodeType]:
    """The kept methods, or none where the file is missing, not the user's alone, or not such a file."""
    try:
        with open(path, "rb") as stream:
            info = os.fstat(stream.fileno())
            if info.st_uid != os.getuid() or info.st_mode & 0o022:
                return {}
            found = marshal.load(stream)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {key: code for key, code in found.items() if isinstance(key, str) and isinstance(code, types.CodeType)}


def _write(path: Path, methods: dict[str, types.CodeType]) -> None:
    """Replace the file in one step (a server starting beside this one reads the old file or the new)."""
    import tempfile

    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".lsp-attrs-")
        try:
            with os.fdopen(handle, "wb") as stream:
                marshal.dump(methods, stream)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass
