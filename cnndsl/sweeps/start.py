"""TPE's start, weighed by cost: candidates the checker accepts, chosen by what their cost has bought so far.

Optuna's TPE proposes its first ``STARTUP`` trials at random, before it has anything to
learn from; under a time budget those trials cost whatever their candidates cost, and in
a space of convolutions one candidate may cost ten times another. The checker knows
every accepted candidate's MACs and parameters before anything is built (the census), so
a TPE sweep long enough for TPE to learn (more than ``STARTUP`` trials) chooses its start
instead, one trial at a time, queued before each ``ask``:

- the first ``SPREAD`` span the costs: one candidate from each of ``SPREAD`` bands of the
  accepted candidates ranked by cost, cheapest band first, each far from the ones before
  it (at as many choice points as it can);
- each next one is drawn by Thompson sampling on what cost has bought: the trained
  trials' scores are fitted to the log of their candidates' cost (a Bayesian straight
  line, the slope's prior centred on nothing), a line is drawn from the fit, and the
  untried candidate it rates highest is proposed, where a candidate must be rated
  ``PRICE`` higher per unit of its log cost's spread to be worth what it costs.

Where cost buys accuracy (more channels learn more in few epochs) the start moves to the
dearer candidates; where it buys nothing it moves to the cheaper ones, which leave room
for more trials. TPE then proposes from what the start scored, over the whole space.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from cnndsl.search import Census
from cnndsl.space import Space
from cnndsl.sweeps.plan import TRAINED, Plan

STARTUP = 10
"""Trials TPE proposes at random before it models the scores (Optuna's ``n_startup_trials``)."""
SPREAD = 3
"""The first start trials: one from each of this many bands of the accepted candidates by cost."""
POOL = 2_000
"""Candidates, at most, among which one is chosen for its distance from the others (drawn with the seed)."""
SLOPE_PRIOR = 0.5
"""The prior's standard deviation of the line's slope: scores' spreads per unit of log cost's spread."""
PRICE = 0.2
"""What one spread of log cost must buy, in spreads of the scores, for a dearer candidate to be preferred."""


def cost(macs: int | None, params: int) -> tuple[int, int]:
    """What a candidate costs to train, to compare: its MACs, then its parameters (MACs unknown: parameters)."""
    return (params if macs is None else macs, params)


@dataclass(frozen=True)
class Seen:
    """A trial the start learns from: its candidate's hash and its score (higher is better), or None while it runs."""

    digest: str
    score: float | None


def used(plan: Plan) -> bool:
    """Whether this sweep chooses TPE's start: TPE, more trials than the start, and a census to choose from."""
    return plan.sampler == "tpe" and plan.trials > STARTUP and plan.census is not None and bool(plan.census.costs)


def next_candidate(
    census: Census, space: Space, seen: Sequence[Seen], place: int, seed: int | None = None
) -> int | None:
    """The number of the candidate for the start's trial ``place``, after the trials ``seen`` (the start's trials
    whose candidates are known, in the order asked); None once every accepted candidate is tried.
    Deterministic for a seed, a place and the same trials."""
    tried = {trial.digest for trial in seen}
    ranked = sorted(census.costs, key=lambda digest: (cost(*census.costs[digest]), census.hashes[digest]))
    untried = [digest for digest in ranked if digest not in tried]
    if not untried:
        return None
    rng = random.Random(f"{seed}:{place}")
    scored = [trial for trial in seen if trial.score is not None and trial.digest in census.costs]
    if place < SPREAD or len(scored) < 2:  # no line to fit yet (other workers' trials may still be training)
        band = place % SPREAD
        chosen = ranked[band * len(ranked) // SPREAD : (band + 1) * len(ranked) // SPREAD]
        candidates = [digest for digest in chosen if digest not in tried] or untried
    else:
        candidates = _rated_highest(census, ranked, untried, scored, rng)
    return census.hashes[_farthest(census, space, candidates, [t.digest for t in seen], rng)]


def _rated_highest(census: Census, ranked: list[str], untried: list[str], scored: list[Seen], rng) -> list[str]:
    """The untried candidates a line drawn from the fit of score to log cost rates highest (ties all kept)."""
    logs = {digest: math.log(max(1, cost(*census.costs[digest])[0])) for digest in ranked}
    centre, spread = statistics.fmean(logs.values()), statistics.pstdev(logs.values()) or 1.0
    xs = [(logs[trial.digest] - centre) / spread for trial in scored]
    ys = [trial.score for trial in scored]
    scale = statistics.pstdev(ys) or 1.0
    ys = [(y - statistics.fmean(ys)) / scale for y in ys]
    slope = _drawn_slope(xs, ys, rng)
    rating = {digest: (slope - PRICE) * (logs[digest] - centre) / spread for digest in untried}
    best = max(rating.values())
    return [digest for digest in untried if rating[digest] >= best - 1e-12]


def _drawn_slope(xs: list[float], ys: list[float], rng) -> float:
    """A slope drawn from the posterior of a line through (xs, ys): unit noise, a flat intercept, N(0, SLOPE_PRIOR²)."""
    n, sx, sxx = len(xs), sum(xs), sum(x * x for x in xs)
    sy, sxy = sum(ys), sum(x * y for x, y in zip(xs, ys))
    a, b, d = n + 1e-6, sx, sxx + 1 / SLOPE_PRIOR**2  # the posterior's precision [[a, b], [b, d]]
    det = a * d - b * b
    mean = (a * sxy - b * sy) / det  # the slope's posterior mean
    return rng.gauss(mean, math.sqrt(a / det))  # its marginal: the covariance's slope entry is a / det


def _farthest(census: Census, space: Space, candidates: list[str], before: list[str], rng) -> str:
    """The candidate whose decisions differ most from its nearest earlier one (ties drawn with ``rng``)."""
    if len(candidates) > POOL:
        candidates = rng.sample(candidates, POOL)
    if not before:
        return rng.choice(candidates)
    earlier = [space.choices(census.hashes[digest]) for digest in before if digest in census.hashes]
    decisions = {digest: space.choices(census.hashes[digest]) for digest in candidates}  # each decoded once
    nearest = {digest: min((_apart(decisions[digest], other) for other in earlier), default=0) for digest in candidates}
    far = max(nearest.values())
    return rng.choice([digest for digest in candidates if nearest[digest] == far])


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


def proposal(plan: Plan, study) -> tuple[int, dict] | None:
    """The next start trial's place and parameters, to queue before the next ``ask``; None when TPE proposes.

    The start goes on while every trial asked so far is a start trial (or a retry of one), until ``STARTUP``
    were asked: a study TPE already proposed in (one made by a shorter sweep, say) is not started again.
    """
    if not used(plan):
        return None
    trials = study.get_trials(deepcopy=False)
    if any("start" not in t.user_attrs and "retry_of" not in t.user_attrs for t in trials):
        return None
    started = [t for t in trials if "start" in t.user_attrs]
    if len(started) >= STARTUP:
        return None
    sign = 1.0 if plan.directions[0] == "maximize" else -1.0
    seen = [
        Seen(t.user_attrs["hash"], sign * t.values[0] if t.state.name == "COMPLETE" and t.values else None)
        for t in started
        if t.user_attrs.get("kind") == TRAINED and "hash" in t.user_attrs
    ]
    index = next_candidate(plan.census, plan.space, seen, len(started), plan.recipe.get("seed"))
    return None if index is None else (len(started), params_of(plan.space, index))
