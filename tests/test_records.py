"""Records (cnndsl.records) behave as the frozen dataclasses they replace, held against dataclasses itself."""

from __future__ import annotations

import copy
import dataclasses
import functools
import pickle

import pytest

from cnndsl import ast, check
from cnndsl.errors import Diagnostic
from cnndsl.records import FrozenRecordError, fields, record, replace


@record
class Point:
    x: int
    y: int = 0
    label: str | None = None


@dataclasses.dataclass(frozen=True)
class DataPoint:
    x: int
    y: int = 0
    label: str | None = None


@record
class Other:
    x: int
    y: int = 0
    label: str | None = None


CASES = [(1,), (1, 2), (1, 2, "a"), (0, -3, None)]


@pytest.mark.parametrize("values", CASES)
def test_construction_repr_and_fields_are_a_frozen_dataclasss(values):
    ours, theirs = Point(*values), DataPoint(*values)
    assert repr(ours).removeprefix("Point") == repr(theirs).removeprefix("DataPoint")
    assert fields(Point) == tuple(f.name for f in dataclasses.fields(DataPoint)) == Point.__match_args__
    assert Point(**vars(ours)) == ours
    assert vars(ours) == dataclasses.asdict(theirs)


def test_equality_and_hashing_are_by_fields_and_within_one_class():
    assert Point(1, 2) == Point(1, 2) and hash(Point(1, 2)) == hash(Point(1, 2))
    assert Point(1, 2) != Point(1, 3) and Point(1, 2) != Point(1, 2, "a")
    assert Point(1, 2) != Other(1, 2)  # the same fields and values, another class
    assert Point(1) != (1, 0, None) and Point(1).__eq__(object()) is NotImplemented
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_a_record_refuses_assignment_and_deletion_as_a_frozen_dataclass_does():
    point = Point(1)
    with pytest.raises(FrozenRecordError, match="cannot assign to field 'x' of a Point"):
        point.x = 2
    with pytest.raises(AttributeError):
        point.z = 2
    with pytest.raises(FrozenRecordError):
        del point.y
    assert point == Point(1)
    assert issubclass(FrozenRecordError, AttributeError)


def test_replace_is_dataclasses_replace():
    assert replace(Point(1, 2), label="b") == Point(1, 2, "b")
    assert dataclasses.replace(DataPoint(1, 2), label="b") == DataPoint(1, 2, "b")
    with pytest.raises(TypeError, match="no field 'z'"):
        replace(Point(1), z=3)
    with pytest.raises(TypeError, match="not a record"):
        replace(DataPoint(1), y=3)


def test_match_takes_positional_patterns():
    match Point(1, 2):
        case Point(1, y):
            assert y == 2
        case _:
            pytest.fail("Point(1, y) did not match")


def test_defaults_follow_the_rules_of_dataclasses():
    with pytest.raises(TypeError, match="'y' without a default follows 'x'"):

        @record
        class Wrong:
            x: int = 0
            y: int

    with pytest.raises(ValueError, match="mutable default"):

        @record
        class Shared:
            items: list = []  # noqa: RUF012


def test_inherited_fields_come_first_and_a_subclass_may_add_more():
    @record
    class Labelled(Point):
        colour: str = "red"

    assert fields(Labelled) == ("x", "y", "label", "colour")
    assert Labelled(1, colour="blue") == Labelled(1, 0, None, "blue") != Point(1)


def test_a_field_may_be_named_as_the_generated_code_names_its_locals():
    @record
    class Awkward:
        values: tuple
        self_: int = 0

    assert Awkward((1,)).values == (1,)


def test_cached_property_pickle_and_copy_work_on_records():
    @record
    class Box:
        width: int

        @functools.cached_property
        def area(self) -> int:
            return self.width * self.width

    box = Box(3)
    assert box.area == 9 and box == Box(3)  # the cached value is no field
    for again in (pickle.loads(pickle.dumps(Point(1, 2, "a"))), copy.deepcopy(Point(1, 2, "a"))):
        assert again == Point(1, 2, "a")


def test_the_syntax_tree_checked_models_and_diagnostics_are_records():
    model = check("CN(8)->FL()")
    again = check("CN(8)->FL()")
    assert model == again and model is not again
    assert replace(model, warnings=(Diagnostic("shape", "note"),)).warnings[0].message == "note"
    span = ast.Span(0, 1, 1, 1, 1, 2)
    assert fields(ast.Span) == ("start", "end", "line", "column", "end_line", "end_column")
    with pytest.raises(FrozenRecordError):
        span.start = 3
