"""Immutable records: what ``@dataclass(frozen=True)`` gives, without loading ``dataclasses``.

``cnndsl check`` starts as a fresh process every time an editor saves or a pre-commit hook
runs. ``dataclasses`` loads ``inspect`` and ``typing``, and builds each class's methods
through several ``exec`` calls: together more start-up time than checking a notebook model
takes. The syntax tree, the layer table, the checked model and the diagnostics are records
instead.

A record is a class whose annotated names are its fields, in order; a field given a value
in the class body has it as its default. The decorator adds:

- ``__init__``, which fills the instance's dict directly (a frozen dataclass's sets each
  field through ``object.__setattr__``, 2.5 times slower; a large spec builds a node or
  span per token);
- ``__eq__`` and ``__hash__`` over the fields, for instances of the same class only;
- ``__repr__`` as a dataclass writes it, and ``__match_args__`` for ``match``;
- refusal of assignment and deletion (``FrozenRecordError``).

``functools.cached_property`` works on a record (it writes the instance's dict itself).
``replace`` and ``fields`` stand for their ``dataclasses`` namesakes.

>>> @record
... class Point:
...     x: int
...     y: int = 0
>>> Point(1)
Point(x=1, y=0)
>>> replace(Point(1), y=2) == Point(1, 2), fields(Point)
(True, ('x', 'y'))
>>> Point(1).x = 3
Traceback (most recent call last):
...
cnndsl.records.FrozenRecordError: cannot assign to field 'x' of a Point
"""

from __future__ import annotations

from operator import attrgetter
from types import CodeType, FunctionType

_MUTABLE = (list, dict, set)
_NO_DEFAULT = object()


class FrozenRecordError(AttributeError):
    """An assignment to, or deletion of, a record's attribute."""


def record(cls: type) -> type:
    """Make ``cls`` an immutable record of its annotated fields (see the module's docstring)."""
    names, defaults = _fields_of(cls)
    init = _init_for(names, cls.__qualname__)
    init.__defaults__ = tuple(defaults[name] for name in names if name in defaults) or None
    init.__module__ = cls.__module__
    cls.__init__ = init
    cls.__eq__, cls.__hash__, cls.__repr__ = _eq, _hash, _repr
    cls.__setattr__, cls.__delattr__ = _refuse_assignment, _refuse_deletion
    cls.__match_args__ = cls.__record_fields__ = names
    cls.__record_defaults__ = defaults
    cls._record_values = staticmethod(attrgetter(*names) if names else lambda value: ())
    return cls


_TEMPLATES: dict[int, CodeType] = {}
"""The compiled ``__init__`` of each field count, its names placeholders (``_f0``, ``_f1``, ...)."""


def _init_for(names: tuple[str, ...], qualname: str):
    """``def __init__(self, a, b): values = self.__dict__; values['a'] = a; values['b'] = b`` for ``names``.

    One template is compiled per field count and its names swapped in (``CodeType.replace``):
    compiling a function for each record class was most of what defining the classes cost.

    >>> init = _init_for(("x", "values"), "P")
    >>> init.__code__.co_varnames, init.__qualname__
    (('self', 'x', 'values', '_values'), 'P.__init__')
    """
    template = _TEMPLATES.get(len(names))
    if template is None:
        fields = [f"_f{index}" for index in range(len(names))]
        source = (
            f"def __init__(self{''.join(', ' + field for field in fields)}):\n    _local = self.__dict__\n"
            + "".join(f"    _local[{field!r}] = {field}\n" for field in fields)
        )
        namespace: dict = {}
        exec(source, namespace)  # noqa: S102 - the source is built from placeholders, never from user text
        template = _TEMPLATES[len(names)] = namespace["__init__"].__code__
    local = "values"
    while local in names:
        local = f"_{local}"
    placeholders = {f"_f{index}": name for index, name in enumerate(names)}
    code = template.replace(
        co_varnames=("self", *names, local),
        co_consts=tuple(placeholders.get(value, value) if isinstance(value, str) else value
                        for value in template.co_consts),
        co_qualname=f"{qualname}.__init__",
    )  # fmt: skip
    function = FunctionType(code, {})
    function.__qualname__ = f"{qualname}.__init__"
    return function


# One __eq__, __hash__ and __repr__ for every record: generating them per class (as
# dataclasses does) costs more at start-up than they save while checking.


def _eq(self, other):
    if other.__class__ is self.__class__:
        return self._record_values(self) == other._record_values(other)
    return NotImplemented


def _hash(self) -> int:
    return hash(self._record_values(self))


def _repr(self) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_fields__)
    return f"{type(self).__qualname__}({shown})"


def _fields_of(cls: type) -> tuple[tuple[str, ...], dict]:
    """The field names, inherited ones first, and the defaults of those that have one."""
    names: list[str] = []
    defaults: dict = {}
    for base in reversed(cls.__mro__[1:]):
        for name in getattr(base, "__record_fields__", ()):
            if name not in names:
                names.append(name)
        defaults.update(getattr(base, "__record_defaults__", {}))
    for name in cls.__dict__.get("__annotations__", {}):
        if name not in names:
            names.append(name)
        default = cls.__dict__.get(name, _NO_DEFAULT)
        if default is not _NO_DEFAULT:
            if isinstance(default, _MUTABLE):
                raise ValueError(f"{cls.__name__}.{name}: a mutable default would be shared by every instance")
            defaults[name] = default
        else:
            defaults.pop(name, None)
    seen_default = None
    for name in names:
        if name in defaults:
            seen_default = name
        elif seen_default is not None:
            raise TypeError(f"{cls.__name__}: field {name!r} without a default follows {seen_default!r}, which has one")
    return tuple(names), defaults


def _refuse_assignment(self, name: str, value: object) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r} of a {type(self).__name__}")


def _refuse_deletion(self, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r} of a {type(self).__name__}")


def fields(record_or_class) -> tuple[str, ...]:
    """A record's field names, in order."""
    try:
        return record_or_class.__record_fields__
    except AttributeError:
        raise TypeError(f"{record_or_class!r} is not a record") from None


def replace(value, /, **changes):
    """A copy of the record ``value`` with ``changes`` applied, as ``dataclasses.replace``."""
    names = fields(value)
    unknown = changes.keys() - set(names)
    if unknown:
        raise TypeError(f"{type(value).__name__} has no field {sorted(unknown)[0]!r}")
    return type(value)(**{name: changes[name] if name in changes else getattr(value, name) for name in names})
