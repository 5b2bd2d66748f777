"""TPE's start: cheap, diverse candidates the checker accepts, queued before the sampler has learnt anything.

Optuna's TPE proposes its first ``STARTUP`` trials at random, before it has anything to
learn from; under a time budget those trials cost whatever their candidates cost, and in
a space of convolutions one candidate may cost ten times another. The checker knows
every accepted candidate's MACs and parameters before anything is built (the census), so
a TPE sweep long enough for TPE to learn (more than ``STARTUP`` trials) queues its start
instead: ``STARTUP`` candidates from the cheaper half of the accepted ones, chosen to
differ from one another at as many choice points as they can, cheapest first. They train
faster, so more trials fit a budget, and TPE then proposes from what they scored.
"""

from __future__ import annotations

import random

from cnndsl.search import Census
from cnndsl.space import Space
from cnndsl.sweeps.plan import Plan

STARTUP = 10
"""Trials TPE proposes at random before it models the scores (Optuna's ``n_startup_trials``)."""
POOL = 2_000
"""Cheap candidates, at most, among which the diverse ones are chosen (drawn with the seed from a larger half)."""


def cost(macs: int | None, params: int) -> tuple[int, int]:
    """What a candidate costs to train, to compare: its MACs, then its parameters (MACs unknown: parameters)."""
    return (params if macs is None else macs, params)


def first_candidates(census: Census, space: Space, count: int, seed: int | None = None) -> list[int]:
    """``count`` candidate numbers from the cheaper half of the accepted ones, far apart, cheapest first.

    The first is drawn with ``seed``; each next one is the candidate whose decisions differ
    most from its nearest already chosen (ties drawn with ``seed``). Deterministic for a seed.
    """
    ranked = sorted(census.costs, key=lambda digest: (cost(*census.costs[digest]), census.hashes[digest]))
    cheap = ranked[: max(count, (len(ranked) + 1) // 2)]
    rng = random.Random(seed)
    if len(cheap) > POOL:
        rank = {digest: number for number, digest in enumerate(cheap)}
        cheap = sorted(rng.sample(cheap, POOL), key=rank.__getitem__)
    decisions = {digest: space.choices(census.hashes[digest]) for digest in cheap}
    chosen = [rng.choice(cheap)] if cheap else []
    nearest = {digest: _apart(decisions[digest], decisions[chosen[0]]) for digest in cheap} if cheap else {}
    while len(chosen) < min(count, len(cheap)):
        left = [digest for digest in cheap if digest not in chosen]
        far = max(nearest[digest] for digest in left)
        chosen.append(rng.choice([digest for digest in left if nearest[digest] == far]))
        for digest in left:
            nearest[digest] = min(nearest[digest], _apart(decisions[digest], decisions[chosen[-1]]))
    return [census.hashes[digest] for digest in sorted(chosen, key=cheap.index)]


def _apart(one: dict[str, int], other: dict[str, int]) -> int:
    """At how many choice points two candidates' decisions differ (a point only one reaches counts)."""
    return sum(one.get(key) != other.get(key) for key in one.keys() | other.keys())


def params_of(space: Space, index: int) -> dict:
    """Candidate ``index`` as the Optuna parameters a trial suggests for it (as ``claims._suggest`` names them)."""
    picks = space.choices(index)
    params: dict = {}

    def decide(key: str, node, labels: tuple[str, ...]) -> int:
        params[key] = labels[picks[key]] if labels else int(node.low.value) + picks[key]
        return picks[key]

    assert space.index_of(decide) == index
    return params


def first_proposals(plan: Plan) -> list[dict]:
    """The parameters of the trials a fresh TPE study starts with; none for another sampler or a short sweep."""
    if plan.sampler != "tpe" or plan.trials <= STARTUP or plan.census is None:
        return []
    chosen = first_candidates(plan.census, plan.space, STARTUP, plan.recipe.get("seed"))
    return [params_of(plan.space, index) for index in chosen]
