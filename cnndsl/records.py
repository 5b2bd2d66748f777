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

_MUTABLE = (list, dict, set)
_NO_DEFAULT = object()


class FrozenRecordError(AttributeError):
    """An assignment to, or deletion of, a record's attribute."""


def record(cls: type) -> type:
    """Make ``cls`` an immutable record of its annotated fields (see the module's docstring)."""
    names, defaults = _fields_of(cls)
    parameters = [name if name not in defaults else f"{name}=_default_{name}" for name in names]
    local = "values"
    while local in names:
        local = f"_{local}"
    source = f"def __init__(self, {', '.join(parameters)}):\n    {local} = self.__dict__\n" + "".join(
        f"    {local}[{name!r}] = {name}\n" for name in names
    )
    namespace = {f"_default_{name}": value for name, value in defaults.items()}
    exec(source, namespace)  # noqa: S102 - the source is built from the class's own field names
    init = namespace["__init__"]
    init.__qualname__, init.__module__ = f"{cls.__qualname__}.__init__", cls.__module__
    cls.__init__ = init
    cls.__eq__, cls.__hash__, cls.__repr__ = _eq, _hash, _repr
    cls.__setattr__, cls.__delattr__ = _refuse_assignment, _refuse_deletion
    cls.__match_args__ = cls.__record_fields__ = names
    cls.__record_defaults__ = defaults
    cls._record_values = staticmethod(attrgetter(*names) if names else lambda value: ())
    return cls


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
