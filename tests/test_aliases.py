"""The architecture hash reads every spelling Keras builds as the same layer as one: an
activation's alias, an axis counted from the front or the back, a default written or left out."""

from __future__ import annotations

import pytest

from cnndsl import check
from cnndsl.layers import LAYERS, REQUIRED, _default_text, example_text
from cnndsl.layers.core import ACTIVATION_ALIASES, Maybe
from cnndsl.report import architecture_hash, canonical_form


def same_hash(a: str, b: str, input_shape=None) -> bool:
    return architecture_hash(check(a, input_shape)) == architecture_hash(check(b, input_shape))


ALIKE = [
    ("CN(8) -> ACT(swish) -> FL()", "CN(8) -> ACT(silu) -> FL()"),
    ("CN(8, activation=swish) -> GAP() -> DN(16, activation=hard_swish)",
     "CN(8, activation=silu) -> GAP() -> DN(16, activation=hard_silu)"),
    ("CN(8) -> ACT(hard_swish) -> GAP()", "CN(8) -> ACT(hard_silu) -> GAP()"),
    ("CN(8) -> CAT(ID() | CN(4, padding=same), axis=3) -> GAP()", "CN(8) -> CAT(ID() | CN(4, padding=same)) -> GAP()"),
    ("CN(8) -> CAT(ID() | CN(4, padding=same), axis=3) -> GAP()",
     "CN(8) -> CAT(ID() | CN(4, padding=same), axis=-1) -> GAP()"),
    ("CN(8) -> GAP() -> CAT(ID() | DN(4), axis=1)", "CN(8) -> GAP() -> CAT(ID() | DN(4))"),
    ("CN(8) -> CAT(ID() | ID(), axis=1) -> GAP()", "CN(8) -> CAT(ID() | ID(), axis=-3) -> GAP()"),
    ("CN(8) -> LN(axis=3) -> GAP()", "CN(8) -> LN() -> GAP()"),
    ("CN(8) -> LN(axis=2) -> GAP()", "CN(8) -> LN(axis=-2) -> GAP()"),
    ("CN(8) -> GAP() -> LN(axis=1)", "CN(8) -> GAP() -> LN()"),
    ("CN(8) -> GN(groups=2, axis=3) -> GAP()", "CN(8) -> GN(groups=2) -> GAP()"),
]  # fmt: skip


@pytest.mark.parametrize("a, b", ALIKE, ids=[a for a, _ in ALIKE])
def test_aliases_hash_alike(a, b):
    assert same_hash(a, b)


DIFFERENT = [
    ("CN(8) -> CAT(ID() | ID(), axis=1) -> GAP()", "CN(8) -> CAT(ID() | ID()) -> GAP()"),  # height, not channels
    ("CN(8) -> LN(axis=1) -> GAP()", "CN(8) -> LN() -> GAP()"),
    ("CN(8) -> ACT(silu) -> GAP()", "CN(8) -> ACT(hard_silu) -> GAP()"),
    ("CN(8) -> ACT(gelu) -> GAP()", "CN(8) -> ACT(silu) -> GAP()"),
]


@pytest.mark.parametrize("a, b", DIFFERENT, ids=[a for a, _ in DIFFERENT])
def test_other_values_still_hash_apart(a, b):
    assert not same_hash(a, b)


def test_the_canonical_form_writes_the_name_keras_defines_the_function_by():
    form = canonical_form(check("CN(8, activation=swish) -> ACT(hard_swish) -> CAT(ID() | ID(), axis=3) -> GAP()"))
    assert "activation=silu" in form and "ACT(name=hard_silu)" in form and "axis=-1" in form
    assert "swish" not in form and "axis=3" not in form


def test_the_alias_table_is_keras_s_own():
    keras = pytest.importorskip("keras")
    from cnndsl.layers import ACTIVATIONS

    by_function: dict[object, list[str]] = {}
    for name in ACTIVATIONS:
        by_function.setdefault(keras.activations.get(name), []).append(name)
    found = {}
    for function, names in by_function.items():
        for name in names:
            if name != function.__name__:
                found[name] = function.__name__
    assert found == ACTIVATION_ALIASES


def _with_default(text: str, name: str, value: str) -> str:
    """``text``'s first call with ``name=value`` added."""
    end = text.index(")")
    return f"{text[:end]}{'' if text[end - 1] == '(' else ', '}{name}={value}{text[end:]}"


def _defaults():
    for code, entry in sorted(LAYERS.items()):
        if entry.example is None or entry.is_input or entry.is_identity or entry.merge:
            continue
        for param in entry.params:
            unwritable = param.default is None and not isinstance(param.kind, Maybe)  # NRM's mean: adapted, not written
            if (
                param.name not in entry.example
                and param.default is not REQUIRED
                and param.same_as is None
                and not unwritable
            ):
                yield code, param.name, _default_text(param.default) if param.default is not None else "None"


@pytest.mark.parametrize("code, name, value", list(_defaults()), ids=lambda v: str(v))
def test_a_default_written_or_left_out_hashes_alike(code, name, value):
    text = example_text(LAYERS[code])
    rank = len(check(f"{text} -> FL()", (8, 8, 4), 3).layers[0].output_shape)
    ended = " -> GAP()" if rank == 4 else ""
    assert same_hash(f"{text}{ended}", f"{_with_default(text, name, value)}{ended}", (8, 8, 4))


@pytest.mark.parametrize("code", sorted(code for code, entry in LAYERS.items() if entry.merge and not entry.is_output))
def test_a_merge_s_defaults_written_or_left_out_hash_alike(code):
    entry = LAYERS[code]
    written = ", ".join(f"{param.name}={_default_text(param.default)}" for param in entry.params
                        if param.default is not REQUIRED)  # fmt: skip
    if entry.ends_model:  # a detection head ends the model, over levels of whole strides
        levels = f"IN(8, 8, 4) -> {code}(ID() | MP(2)"
        assert same_hash(f"{levels})", f"{levels}{', ' + written if written else ''})")
        return
    branches = "ID() | CN(8, padding=same)" + (" | ID()" if code == "ATT" else "")  # ATT: query, key and value
    merged = f"CN(8) -> {code}({branches}{', ' + written if written else ''}) -> GAP()"
    assert same_hash(f"CN(8) -> {code}({branches}) -> GAP()", merged)
