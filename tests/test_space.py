"""Search spaces: parsing, counting, numbering and writing out candidates, and their errors.

Counting and numbering are held to a brute-force expansion written here independently
(every combination listed with itertools.product), on tables of small spaces and on
random ones.
"""

from __future__ import annotations

import itertools
import random

import pytest
from helpers import space_of_text
from hypothesis import given, settings
from spec_strategies import spaces

from cnndsl import SpecError, SpecValueError, ast, check
from cnndsl.formatter import chain as chain_text
from cnndsl.inputs import file_models
from cnndsl.report import architecture_hash
from cnndsl.search import Judge, census, space_of
from cnndsl.space import Space, candidate_text, first_choice
from cnndsl.syntax import parse, read_with_lark

# --- brute force: every candidate listed, in the documented order -------------------------


def brute(node, blocks) -> list:
    """Every form of ``node``: choices concatenate their options' forms, products multiply."""
    if isinstance(node, ast.Choice | ast.Alternatives):
        return [form for option in node.options for form in brute(option, blocks)]
    if isinstance(node, ast.Range):
        return [ast.Number(v, str(v), node.span) for v in range(int(node.low.value), int(node.high.value) + 1)]
    if isinstance(node, ast.Ref):
        return brute(blocks[node.name], blocks) if node.name in blocks else [node]
    if isinstance(node, ast.Chain):
        return [ast.Chain(tuple(_flat(parts)), node.span) for parts in _product(node.elements, blocks)]
    if isinstance(node, ast.Call):
        forms = _product([arg.value for arg in node.args], blocks)
        return [
            ast.Call(node.code, tuple(ast.Arg(a.name, v, a.span) for a, v in zip(node.args, values)), node.span)
            for values in forms
        ]
    if isinstance(node, ast.Merge):
        n = len(node.branches)
        return [
            ast.Merge(node.code, tuple(_as_chain(b) for b in parts[:n]),
                      tuple(ast.Arg(a.name, v, a.span) for a, v in zip(node.args, parts[n:])), node.span)
            for parts in _product([*node.branches, *(arg.value for arg in node.args)], blocks)
        ]  # fmt: skip
    if isinstance(node, ast.Repeat):
        out = []
        for body, count in _product([node.body, node.count], blocks):
            if isinstance(node.count, ast.Choice | ast.Range) and count.value == 1:
                out.append(body)
            else:
                out.append(ast.Repeat(body.elements[0] if _one(body) else body, count, node.span))
        return out
    if isinstance(node, ast.Tuple):
        return [ast.Tuple(tuple(items), node.span) for items in _product(node.items, blocks)]
    return [node]


def _product(parts, blocks):
    return list(itertools.product(*(brute(part, blocks) for part in parts)))


def _flat(parts):
    for part in parts:
        yield from (part.elements if isinstance(part, ast.Chain) else (part,))


def _as_chain(node):
    return node if isinstance(node, ast.Chain) else ast.Chain((node,), node.span)


def _one(node) -> bool:
    return isinstance(node, ast.Chain) and len(node.elements) == 1


def texts_by_brute_force(space: Space) -> list[str]:
    return [
        chain_text(c if isinstance(c, ast.Chain) else ast.Chain((c,), c.span)) for c in brute(space.chain, space.blocks)
    ]


def texts_by_number(space: Space) -> list[str]:
    return [chain_text(space.candidate(i)) for i in range(space.count)]


def space(text: str) -> Space:
    return Space(parse(text), text)


SMALL_SPACES = [
    ("CN({32,64})->FL()", 2),
    ("CN({32,64}, {3,5})->DP({0.25, 0.5})->FL()", 8),
    ("CN(32)*{2..4}->FL()", 3),
    ("(CN({8,16})->BN())*{1..3}->FL()", 6),
    ("MP({2,(2,1)})->FL()", 2),
    ("CN(8, activation={relu,gelu})->FL()", 2),
    ("{CN(8) | CN({4,8})->BN() | MP(2)}->FL()", 4),
    ("CN(8)->{CN({4,8})*{1..2} | {MP(2) | AP({2,3})}}->FL()", 7),
    ("CN(8, ({3,5}, {1..3}))->FL()", 6),
    ("MP({2, ({1..2}, 1)})->FL()", 3),
    ("CN(8)->FL()", 1),
    ("CN(8)->(CN(4) -> BN()) * {1, 3}->FL()", 2),
    ("ADD({CN(8, 3, padding=same) | CN(8, {1,5}, padding=same)} | ID())*{1..2}->FL()", 6),
    ("CN(8)->CAT(ID() | CN({4,8}, 1), axis={-1, 3})->FL()", 4),
    ("CN({7})->FL()", 1),
    (
        "CN(8, groups={1,2})->LN(epsilon={0.001, 0.01})->ADD(ID() | LS({1e-6, 0.5}), scale={1, 0.2})->RS({-1, (2, -1)})",
        32,
    ),
]


@pytest.mark.parametrize(("text", "count"), SMALL_SPACES)
def test_counting_and_numbering_match_the_brute_force_expansion(text, count):
    found = space(text)
    expected = texts_by_brute_force(found)
    assert found.count == len(expected) == count
    assert texts_by_number(found) == expected


def test_blocks_are_written_out_where_they_are_used_each_with_its_own_choices():
    text = "block stem = CN({8,16}) -> BN()\nnet = stem -> {stem | MP(2)} -> FL()\n"
    (source,) = file_models("nets.cnn", text, "nets")
    found = space_of(source)
    assert found.count == 2 * (2 + 1)
    expected = texts_by_brute_force(found)
    assert texts_by_number(found) == expected
    assert "CN(8) -> BN() -> CN(16) -> BN() -> FL()" in expected


def test_a_space_of_ten_to_the_thirty_is_counted_and_numbered_without_enumerating():
    text = "->".join(["CN({1..1000000}, 1, padding=same)"] * 5) + "->FL()"
    found = space(text)
    assert found.count == 10**30
    last = found.candidate(10**30 - 1)
    assert chain_text(last).startswith("CN(1000000, 1, padding=same) -> CN(1000000")
    assert "CN(1, 1" in chain_text(found.candidate(0))


def test_every_candidate_is_an_ordinary_spec_in_canonical_form_with_spans_in_the_space():
    text = "CN({32,64},(5,5))->MP({2,(2,1)})->FL()"
    found = space(text)
    candidate = found.candidate(3)
    assert candidate_text(candidate) == "CN(64, (5, 5)) -> MP((2, 1)) -> FL()"
    assert check(candidate_text(candidate)).total_params > 0
    number = candidate.elements[0].args[0].value
    assert text[number.span.start : number.span.end] == "64"


def test_the_decisions_of_a_sampler_name_a_candidate_number():
    found = space("CN({8,16})->{MP(2) | CN(4)*{1..3}}->FL()")
    picks = {"1:4": 1, "1:13": 1, "1:28": 2}  # 16, the second alternative, a count of 3

    index = found.index_of(lambda key, node, labels: picks[key])
    assert chain_text(found.candidate(index)) == "CN(16) -> CN(4) * 3 -> FL()"


def test_both_readings_give_the_same_space():
    text = "CN({32,64}, {3,5})->CN(32)*{2..4}->(CN(64)->BN())*{1..3}->MP({2,(2,1)})->{a | CN(8)->BN()}->FL()"
    assert parse(text) == read_with_lark(text, "spec")


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("CN({})->FL()", 5, "expected '(', '{', a name or a number, found '}'"),
        ("CN({32..})->FL()", 9, "expected a number, found '}'"),
        ("CN({3..1})->FL()", 4, "the range {3..1} is empty: it starts above its end"),
        ("CN({1.5..3})->FL()", 5, "a range takes whole numbers, not 1.5"),
        ("CN(8)->{CN(4)}->FL()", 14, "expected '|', found '}'"),
        ("CN(8)|CN(4)", 6, "expected the end of the spec, found '|'"),
    ],
)
def test_errors_in_a_space_are_located(text, column, message):
    with pytest.raises(SpecError) as caught:
        space_of_text(text)
    assert (caught.value.line, caught.value.column) == (1, column)
    assert message in caught.value.message


def test_a_choice_of_mixed_kinds_rejects_the_option_that_cannot_be_at_its_place():
    text = "CN({32, relu, (3,3)})->FL()"
    result = census(Judge(space_of_text(text)))
    assert (result.total, result.accepted) == (3, 1)
    spans = sorted(text[d.span.start : d.span.end] for d in result.errors())
    assert spans == ["(3,3)", "relu"]


def test_check_refuses_a_space_as_one_model_pointing_at_the_first_brace():
    with pytest.raises(SpecValueError) as caught:
        check("CN(8)->CN({8,16})->FL()")
    assert caught.value.column == 11 and "search space" in caught.value.message
    assert first_choice(parse("CN(8)->FL()")) is None


def test_census_is_exact_up_to_the_limit_and_an_estimate_above_it():
    text = "CN({8,16},(5,5))->MP(2)->CN(8,(5,5))*{1..3}->FL()"
    exact = census(Judge(space_of_text(text)))
    assert exact.exact and (exact.total, exact.accepted) == (6, 4)  # 28 -> 24 -> 12 -> 8 -> 4 -> 0
    ((count, error, _),) = exact.groups()
    assert count == 2 and error.kind == "shape" and error.span.column == 26
    estimate = census(Judge(space_of_text(text)), limit=5, samples=300, seed=1)
    assert not estimate.exact and estimate.examined == 300
    assert abs(estimate.accepted_estimate - 4) <= 1


# --- random spaces ---------------------------------------------------------------------------


@settings(max_examples=60)
@given(spaces())
def test_random_spaces_count_and_number_as_the_brute_force_expansion(text):
    found = space_of_text(text)
    expected = texts_by_brute_force(found)
    assert found.count == len(expected)
    assert texts_by_number(found) == expected
    rng = random.Random(0)
    for index in (found.sample(rng) for _ in range(5)):
        assert parse(candidate_text(found.candidate(index))) is not None
        assert_placed_as_parsed(found.candidate(index))


def assert_placed_as_parsed(candidate: ast.Chain) -> None:
    """A candidate's canonical text is its printing formatted, and the candidate placed in that text
    (or in its one-line printing) is the tree the parser reads from it, spans and all."""
    from cnndsl.formatter import format_text, placed

    text = candidate_text(candidate)
    assert text == format_text(chain_text(candidate)).rstrip("\n")
    assert placed(candidate, text) == parse(text)
    assert placed(candidate, chain_text(candidate)) == parse(chain_text(candidate))


@pytest.mark.parametrize("name", ["resnet50", "inception_v3", "unet", "efficientnet_b0", "model1"])
def test_a_long_candidate_laid_out_over_lines_is_placed_where_the_parser_reads_it(name):
    from helpers import ROOT

    from cnndsl.syntax import parse_file

    parsed = parse_file((ROOT / "examples" / f"{name}.cnn").read_text())
    chains = [parsed] if isinstance(parsed, ast.Chain) else [definition.chain for definition in parsed.definitions]
    assert any("\n" in candidate_text(chain) for chain in chains) or name == "model1"
    for chain in chains:
        assert_placed_as_parsed(chain)


def test_a_tree_placed_in_a_text_that_is_not_its_printing_is_refused():
    from cnndsl.formatter import placed

    with pytest.raises(ValueError, match="not the tree's printing"):
        placed(parse("CN(8, 3) -> FL()"), "CN(8, 5) -> FL()")


@settings(max_examples=40)
@given(spaces())
def test_fmt_keeps_a_space_and_a_second_run_changes_nothing(text):
    from cnndsl.formatter import format_text

    once = format_text(text)
    assert format_text(once) == once
    assert texts_by_number(space_of_text(once)) == texts_by_number(space_of_text(text))


NOTEBOOK_SPACE = (
    "CN({20,38,72},{5,7}) -> CN({20,38},{5,7}) -> MP(2,2) -> CN({20,38},{5,7})*{1..2} -> MP(2,2) -> DP(0.25)"
    " -> FL() -> DN({64,128}) -> DP(0.5) -> DN(10)"
)


def test_the_verdict_on_each_candidate_is_the_checkers_on_its_own_text():
    """Calls written alike (``CN({20,38},{5,7})`` twice) take their own values in one candidate."""
    found = space_of_text(NOTEBOOK_SPACE)
    judge = Judge(found)
    accepted = 0
    for index in range(found.count):
        verdict = judge(index)
        try:
            model = check(verdict.text)
        except SpecError as error:
            written = NOTEBOOK_SPACE[verdict.error.span.start : verdict.error.span.end]
            assert written in ("CN({20,38},{5,7})", "MP(2,2)")  # the place in the space's text
            own = error.diagnostics[0].message.split(": ", 1)[1]
            assert not verdict.accepted and verdict.error.message == f"{written}: {own}"
        else:
            assert verdict.accepted and verdict.hash == architecture_hash(model)
            accepted += 1
    assert (found.count, accepted) == (384, 216)


MODERN_SPACE = "IN(8, 8, 6) -> CN({8, 12}, 1, groups={1, 2, 4}) -> RS({-1, (16, -1), (7, -1)}) -> NRM() -> FL()"


def test_a_space_over_the_new_arguments_judges_each_candidate_as_check_does():
    """groups=4 does not divide 6 channels, and 7 does not divide 512 or 768 values: each a located refusal."""
    found = space_of_text(MODERN_SPACE)
    judge = Judge(found)
    verdicts = [judge(index) for index in range(found.count)]
    for verdict in verdicts:
        try:
            model = check(verdict.text)
        except SpecError as error:
            assert (
                not verdict.accepted
                and verdict.error.message.split(": ", 1)[1] == error.diagnostics[0].message.split(": ", 1)[1]
            )
        else:
            assert verdict.accepted and verdict.hash == architecture_hash(model)
    assert (found.count, sum(v.accepted for v in verdicts)) == (18, 8)
