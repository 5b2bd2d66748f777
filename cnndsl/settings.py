"""Per-project settings: ``[tool.cnndsl]`` in the nearest ``pyproject.toml``.

Read the way ruff reads its own: from the current directory upwards, passing over
a pyproject.toml without a ``[tool.cnndsl]`` table. Command-line flags override them.

    [tool.cnndsl]
    input-shape = [32, 32, 3]
    classes = 100
    task = "classify"
    scale = "n"
    max-params = "1M"
    max-flops = "50M"
    max-activations = "2MB"
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Iterator

from cnndsl.checker import valid_classes, valid_input_shape
from cnndsl.errors import SettingsError
from cnndsl.records import fields, record, replace
from cnndsl.tasks import TASKS, Task

COUNT_SUFFIXES = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9}
BYTE_SUFFIXES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


@record
class Settings:
    """Model defaults and budgets; ``None`` means not set."""

    input_shape: tuple[int, int, int] | None = None
    classes: int | None = None
    max_params: int | None = None
    max_flops: int | None = None
    max_activations: int | None = None
    """Bytes of float32 activations per example."""
    task: Task | None = None
    """What models are for (a :class:`cnndsl.tasks.Task`: classify, segment, regress): their head rule and output contract."""
    scale: str | None = None
    """The scale of a spec file's family to check at (``scale n(...)`` lines); a file without scales passes it over."""
    origins: tuple[tuple[str, str], ...] = ()
    """Where set values came from, ``(name, label)``: a flag, or a pyproject.toml's key."""

    def merged(self, **overrides) -> Settings:
        """These settings with every override that is not None applied (each labelled by its flag); a task by its name."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(given.get("task"), str):
            given["task"] = _task(given["task"])
        origins = tuple((k, o) for k, o in self.origins if k not in given) + tuple((k, _flag(k)) for k in given)
        return replace(self, **given, origins=origins)

    def origin(self, name: str) -> str:
        """How to name where setting ``name`` came from: ``--max-params``, or ``max-params in PATH``."""
        return dict(self.origins).get(name, _flag(name))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


_VALUES = tuple(name for name in fields(Settings) if name != "origins")


def _values(settings: Settings) -> tuple:
    return tuple(getattr(settings, name) for name in _VALUES)


def _eq(self: Settings, other: object) -> bool:
    """Settings are equal by their values, wherever each came from."""
    return _values(self) == _values(other) if isinstance(other, Settings) else NotImplemented


Settings.__eq__ = _eq  # type: ignore[method-assign]
Settings.__hash__ = lambda self: hash(_values(self))  # type: ignore[method-assign]
Settings.__repr__ = lambda self: f"Settings({', '.join(f'{n}={getattr(self, n)!r}' for n in _VALUES)})"  # type: ignore[method-assign]


def parse_count(text: str | int) -> int:
    """``1M`` -> 1000000, ``50k`` -> 50000, ``1.5G`` -> 1500000000."""
    return _quantity(text, COUNT_SUFFIXES, "a count such as 1M, 50k or 250000")


def parse_bytes(text: str | int) -> int:
    """``2MB`` -> 2097152 (binary units, as Keras prints sizes), ``512KB``, ``1GB``."""
    return _quantity(text, {**BYTE_SUFFIXES, "": 1}, "a size such as 2MB, 512KB or 1GB", upper=True)


def _quantity(text: str | int, suffixes: dict[str, int], what: str, upper: bool = False) -> int:
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match and upper else (match.group(2) if match else None)
    if not match or unit not in suffixes:
        raise SettingsError(f"expected {what}, not {text!r}")
    value = float(match.group(1)) * suffixes[unit]
    if not math.isfinite(value) or value > 10**18:
        raise SettingsError(f"{text!r} is too large")
    return int(value)


def pyprojects(start: str | os.PathLike) -> Iterator[str]:
    """Every pyproject.toml at or above the folder ``start``, nearest first."""
    folder = os.path.join(os.getcwd(), os.fspath(start))  # absolute, as given (os.path, not pathlib: start-up)
    while True:
        candidate = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(candidate):
            yield candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return
        folder = parent


_MAY_NAME_US = re.compile(r"""(?m)(?:^|[{,])[ \t]*(["']?)cnndsl\1[ \t]*[.=]|\.[ \t]*(["']?)cnndsl\2[ \t]*[.=\]]""")
"""``cnndsl`` written as a TOML key (``[tool.cnndsl]``, ``cnndsl = {...}``, ``tool.cnndsl.x``),
or something like one: a text without it has no ``[tool.cnndsl]``."""


def load_settings(start: str | os.PathLike | None = None) -> Settings:
    """``[tool.cnndsl]`` of the nearest pyproject.toml that has one, or empty settings.

    A pyproject.toml without the table is passed over and the search goes on upwards,
    as ruff's does: a subproject's own pyproject.toml keeps its parent's settings.
    """
    for path in pyprojects(os.getcwd() if start is None else start):
        table = _table(path)
        if table is not None:
            try:
                found = _from_table(table)
            except SettingsError as exc:
                raise SettingsError(f"{path}: [tool.cnndsl] {exc}") from None
            origins = tuple(
                (name, f"{name.replace('_', '-')} in {path}")
                for name in fields(Settings)
                if getattr(found, name) is not None and name != "origins"
            )
            return replace(found, origins=origins)
    return Settings()


def _table(path: str) -> dict | None:
    """The file's ``[tool.cnndsl]`` table, or None when it has none."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (UnicodeDecodeError, OSError) as exc:
        raise SettingsError(f"{path}: cannot read [tool.cnndsl]: {exc}") from None
    if not _MAY_NAME_US.search(text):  # no table of ours: the TOML parser need not even be loaded
        return None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        table = tomllib.loads(text).get("tool", {}).get("cnndsl")
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: cannot read [tool.cnndsl]: {exc}") from None
    if table is not None and not isinstance(table, dict):
        raise SettingsError(f"{path}: [tool.cnndsl] must be a table, not {table!r}")
    return table


_READERS = {
    "input_shape": lambda value: _shape(value),  # defined below
    "classes": lambda value: _classes(value),
    "task": lambda value: _task(value),
    "scale": lambda value: _scale(value),
    "max_params": parse_count,
    "max_flops": parse_count,
    "max_activations": parse_bytes,
}


def _from_table(table: dict) -> Settings:
    known = set(fields(Settings)) - {"origins"}
    values = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            raise SettingsError(
                f"unknown setting {key!r} (known: {', '.join(sorted(k.replace('_', '-') for k in known))})"
            )
        values[name] = _READERS[name](value)
    return Settings(**values)


def _shape(value) -> tuple[int, int, int]:
    if not isinstance(value, list):
        raise SettingsError(f"input-shape must be [height, width, channels], not {value!r}")
    try:
        return valid_input_shape(value, "input-shape")
    except ValueError as error:
        raise SettingsError(str(error)) from None


def _task(value) -> Task:
    if not isinstance(value, str) or value not in TASKS:
        raise SettingsError(f"task must be one of {', '.join(TASKS)}, not {value!r}")
    return TASKS[value]


def _scale(value) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise SettingsError(f'scale must be the name of a scale, such as "n", not {value!r}')
    return value


def _classes(value) -> int:
    try:
        return valid_classes(value, "classes")
    except ValueError as error:
        raise SettingsError(str(error)) from None
