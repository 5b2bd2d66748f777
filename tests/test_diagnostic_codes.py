"""Every diagnostic carries a stable code, and the fixes the pass that found it knows, as edits.

An editor's quick fix and ``check --format json``'s ``fixes`` come from these edits only:
applied to the text, each must give a spec that no longer has the problem.
"""

from __future__ import annotations

import json
import re

import pytest
from docs_pages import section
from helpers import run_cli

from cnndsl import SpecError, check
from cnndsl.errors import CODES, Diagnostic, apply_fix
from cnndsl.specfile import resolve_definitions
from cnndsl.syntax import parse_file


def diagnostics(text: str) -> list[Diagnostic]:
    """What ``cnndsl check`` reports for a spec: its errors, else its warnings."""
    try:
        return list(check(text).warnings)
    except SpecError as error:
        return list(error.diagnostics)


CASES = [
    # (spec, the first diagnostic's code, {fix title: the spec it gives})
    ("CN(8) -> -> FL()", "unexpected-token", {}),
    ("CN(8) -> ", "unexpected-end", {}),
    ("CN(8) $ FL()", "unexpected-character", {}),
    ("", "empty-spec", {}),
    ("(" * 300 + "CN(8)" + ")" * 300, "too-deep", {}),
    ("Cn(8) -> FL()", "unknown-layer", {"Change Cn to CN": "CN(8) -> FL()"}),
    ("CN(8, paddng=same) -> FL()", "unknown-argument", {"Change paddng to padding": "CN(8, padding=same) -> FL()"}),
    ("CN(8, strides=1, strides=2) -> FL()", "repeated-argument", {}),
    ("CN(8) -> FL(1) -> DN(10)", "too-many-arguments", {}),
    ("CN() -> FL()", "missing-argument", {}),
    ("CN(0) -> FL()", "bad-value", {}),
    ("CN(8) -> FL() -> DN(10, activation=rleu)", "unknown-word", {"Change rleu to relu": "CN(8) -> FL() -> DN(10, activation=relu)"}),
    ("CN(8) -> ADD(CN(8) | ID(), 1) -> FL()", "merge-arguments", {}),
    ("CN(8) -> ADD(CN(8)) -> FL()", "merge-branches", {}),
    ("CN(8) -> IN(28, 28, 1) -> FL()", "misplaced-input", {}),
    ("CN(8) -> OUT(ID()) -> FL()", "misplaced-outputs", {}),
    ("CN(8) as a -> GAP() -> OUT(@a | @a)", "output-name", {}),
    ("CN(8) * 0 -> FL()", "bad-repeat", {}),
    ("CN(8) -> stem -> FL()", "unknown-name", {}),
    ("CN(8) -> MP(30) -> FL()", "input-too-small", {"Use padding=same": "CN(8) -> MP(30, padding=same) -> FL()"}),
    ("CN(8, 30) -> FL()", "input-too-small", {"Use padding=same": "CN(8, 30, padding=same) -> FL()"}),
    ("CN(8) -> FL() -> CN(8)", "wrong-rank", {}),
    ("CN(8) -> ADD(CN(8) | ID()) -> GAP()", "merge-shapes", {}),
    ("CN(8) -> FL() -> ADD(ID() | DN(3))", "merge-shapes", {}),
    ("CN(8) -> ADD(FL() | ID()) -> GAP()", "merge-ranks", {}),
    ("CAT(GAP() | ID()) -> FL()", "merge-ranks", {}),
    ("CN(8) -> MP(2)", "head-shape", {"Insert FL() before the classifier head": "CN(8) -> MP(2) -> FL()",
                                      "Insert GAP() before the classifier head": "CN(8) -> MP(2) -> GAP()"}),
    ("CN(8) -> DN(10)", "head-shape", {"Insert FL() before the classifier head": "CN(8) -> FL() -> DN(10)",
                                       "Insert GAP() before the classifier head": "CN(8) -> GAP() -> DN(10)"}),
    ("IN(None, None, 3) -> FL() -> DN(10)", "unknown-size", {}),
    ("CN(8) -> DN(16) -> FL()", "suspicious-layer", {}),
    ("CN(8) -> FL() -> DN(5)", "head-mismatch", {"Make DN(5) the head": "CN(8) -> FL() -> DN(5, activation=softmax)",
                                                "Keep DN(5) hidden": "CN(8) -> FL() -> DN(5, activation=relu)"}),
    ("ADD(FL() | ID()) -> FL()", "merge-broadcast", {}),
    ("CN(8) -> {CN(4) | CN(2)} -> FL()", "search-space", {}),
]  # fmt: skip


@pytest.mark.parametrize("text, code, fixes", CASES, ids=[code for _, code, _ in CASES])
def test_each_kind_of_problem_has_its_code_and_only_fixes_that_fix_it(text, code, fixes):
    first = diagnostics(text)[0]
    assert first.code == code and code in CODES
    assert {fix.title: apply_fix(text, fix) for fix in first.fixes} == fixes
    for fixed in fixes.values():
        assert all(d.code != code for d in diagnostics(fixed)), fixed


def test_a_merge_error_never_offers_an_argument_a_branch_cannot_take():
    text = "IN(28,28,1)->ADD(CN(8,3) | CN(8,5)->DP(0.1))->FL()"
    (problem,) = diagnostics(text)
    assert problem.code == "merge-shapes" and problem.fixes == ()


def test_a_fix_is_offered_only_to_a_layer_with_that_argument():
    text = "CN(8) -> CN(8, 30, padding=valid) -> FL()"  # written: changing it is the user's choice
    (problem,) = diagnostics(text)
    assert problem.code == "input-too-small" and problem.fixes == ()


def test_definition_problems_have_codes():
    text = "a = CN(8) -> FL()\na = CN(4) -> FL()\nblock block = CN(2)\nc = d\nd = CN(1) -> FL()\n"
    codes = [d.code for d in resolve_definitions(parse_file(text)).diagnostics]
    assert codes == ["duplicate-definition", "reserved-word", "used-before-definition"]
    assert all(code in CODES for code in codes)


def test_every_code_is_documented_in_the_docs():
    text = section("docs/checking.md", "Diagnostics for machines")
    documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", text, re.M))
    assert documented == set(CODES)


def test_check_json_carries_the_code_and_the_fixes_as_edits():
    (record,) = json.loads(run_cli("check", "--format", "json", "CN(8) -> CN(8,\n 30)").stdout)
    assert record["code"] == "input-too-small"
    (fix,) = record["fixes"]
    assert fix == {
        "title": "Use padding=same",
        "edits": [{"line": 2, "column": 4, "end_line": 2, "end_column": 4, "text": ", padding=same"}],
    }


def test_fixes_in_a_python_file_point_into_the_python_file(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('import cnndsl\n\ncnndsl.check("Cn(8) -> FL()")\n')
    (record,) = json.loads(run_cli("check", "--format", "json", str(path)).stdout)
    (fix,) = record["fixes"]
    assert fix["edits"] == [{"line": 3, "column": 15, "end_line": 3, "end_column": 17, "text": "CN"}]


def test_an_error_found_in_a_candidate_and_pointed_into_its_space_keeps_its_code_not_its_fixes():
    from helpers import space_of_text

    from cnndsl.search import Judge, census

    for text in ("CN({8,16}) -> MP(30) -> FL()", "CN({8,16}) -> MP(2)"):  # a fix of the candidate's own text
        groups = census(Judge(space_of_text(text))).groups()
        assert groups and all(error.code in ("input-too-small", "head-shape") for _, error, _ in groups)
        assert all(error.fixes == () for _, error, _ in groups)
