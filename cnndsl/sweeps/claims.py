"""The claim protocol: one process's part of a study (ask, check, claim, train, tell).

Every trial is asked for with ``study.ask()``; its candidate is decided by the sampler
and checked without building anything. A candidate the checker rejects, or one over a
budget, is told to the study as infeasible through Optuna's constraints (a pruned trial
whose constraint ``buildable`` is 1: TPE learns where the impossible region is) and is
never trained. A candidate whose architecture hash an earlier trial already claimed is
told as that trial's values (or pruned, while that trial is still running) and not
trained again. Only trained trials count towards ``--trials``.

A trial claims its candidate by writing the hash and ``kind=trained`` to the storage,
then reading the study back: of two workers claiming one hash, or claiming the last
place, the trial with the lower number goes on, so no candidate is trained twice and no
more than ``--trials`` are trained. A claim first waits for the trials asked before it to
say what they are; a trial silent for CLAIM_WAIT_S, timed on this worker's own monotonic
clock from when it first saw it, is not waited for: no two machines' clocks are compared.

On an RDB storage every running trial beats (Optuna's heartbeats, timed by the
database's clock); a trial whose worker was killed is failed once its heartbeat is older
than the grace period, and its candidate is queued again for whichever worker asks next.
A worker that has no place left waits while other workers' trials are running, so that
it can take over one whose worker dies.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from contextlib import contextmanager

from cnndsl import interrupts
from cnndsl.search import Verdict
from cnndsl.sweeps import start
from cnndsl.sweeps.plan import DUPLICATE, REJECTED, SURPLUS, TRAINED, Plan

CLAIM_WAIT_S = 10
"""Longest a claim waits for an earlier trial to say what it is (see Worker._await_earlier)."""
MAX_MISSES = 1_000
"""Proposals in a row that are rejected or already trained before a sweep stops looking."""
FEASIBLE = "buildable"
"""The constraint every trial carries: 0 for a candidate the checker accepts, 1 for one it rejects."""


def retry_stale(study, trial) -> None:
    """Optuna's stale-trial callback: queue the candidate of a trained trial whose worker died."""
    if trial.user_attrs.get("kind") == TRAINED:
        study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})


class Worker:
    """One process's part of a study: ask, check, claim, train, tell."""

    def __init__(self, plan: Plan, study, verbose: int, echo, storage=None):
        self.plan, self.study, self.verbose, self.echo = plan, study, verbose, echo
        self.storage = storage
        """The storage as opened (an RDBStorage beats); None where it has no heartbeats."""
        self.beats = storage is not None and getattr(storage, "heartbeat_interval", None) is not None
        self.trained_here = 0
        self.drawn = -math.inf
        """When this worker last drew ``sweep.png`` (``time.monotonic()``)."""
        self.misses = 0
        self.stopped_because: str | None = None
        self.directory = None
        self.told = False
        self._first_seen: dict[int, float] = {}
        self.deadline = None if plan.timeout is None else time.monotonic() + plan.timeout

    def run(self) -> None:
        while self._wanted():
            interrupts.check()
            queued = start.proposal(self.plan, self.study)
            if queued is not None:  # TPE's start, chosen by cost (see start.py)
                place, params = queued
                self.study.enqueue_trial(params, user_attrs={"start": place})
            trial = self.study.ask()
            self.told = False
            self.directory = None
            try:
                with self._beating(trial):
                    self._one(trial)
            except KeyboardInterrupt:
                self._tell_failed(trial, "interrupted")
                raise
            except BaseException:
                self._tell_failed(trial, "failed")
                raise

    # --- how many ------------------------------------------------------------------

    def _wanted(self) -> bool:
        while True:
            self._fail_stale()
            claimed = self._claimed()
            if len(claimed) < self.plan.trials:
                break
            if not (self.beats and self._others_running(claimed)):
                return False
            interrupts.check()  # wait: a running trial whose worker dies gives its place back
            time.sleep(min(1.0, self.storage.heartbeat_interval / 2))
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stopped_because = f"--timeout {self.plan.timeout:g} s passed; no new trial started"
            return False
        if self._exhausted():
            self.stopped_because = "every candidate the checker accepts is trained"
            return False
        if self.misses >= MAX_MISSES:
            self.stopped_because = f"{MAX_MISSES:,} proposals in a row were rejected or already trained"
            return False
        return True

    def _others_running(self, claimed) -> bool:
        from optuna.trial import TrialState

        return any(t.state == TrialState.RUNNING for t in claimed[: self.plan.trials])

    def _exhausted(self) -> bool:
        """Whether every distinct accepted candidate is claimed (known when the census was exact)."""
        known = self.plan.census
        return known is not None and known.exact and len(self._claimed()) >= len(known.hashes)

    def _claimed(self, states=None) -> list:
        """The trials that are (or were) trained, running, complete or stopped by the pruner, by number."""
        from optuna.trial import TrialState

        states = states or (TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED)
        trials = self.study.get_trials(deepcopy=False, states=states)
        return sorted((t for t in trials if t.user_attrs.get("kind") == TRAINED), key=lambda t: t.number)

    # --- heartbeats --------------------------------------------------------------------

    def _fail_stale(self) -> None:
        """Fail the trials whose heartbeat stopped (judged on the database's clock); their candidates are queued."""
        if not self.beats:
            return
        import optuna

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fail_stale_trials is marked experimental
            optuna.storages.fail_stale_trials(self.study)

    @contextmanager
    def _beating(self, trial):
        """Record the trial's heartbeat every interval while it is judged, claimed and trained."""
        if not self.beats:
            yield
            return
        stop = threading.Event()
        trial_id = trial._trial_id  # the storage's id of the trial (Optuna's own heartbeat thread uses it)

        def beat() -> None:
            while True:
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception:  # the storage went away: the main thread will say so
                    return
                if stop.wait(self.storage.heartbeat_interval):
                    return

        self.storage.record_heartbeat(trial_id)
        thread = threading.Thread(target=beat, name=f"cnndsl-heartbeat-{trial.number}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    # --- one trial ---------------------------------------------------------------------

    def _one(self, trial) -> None:
        index = self._decide(trial)
        verdict = self.plan.judge(index)
        trial.set_user_attr("index", str(index))
        if not verdict.accepted:
            self._reject(trial, verdict)
            return
        trial.set_user_attr("hash", verdict.hash)
        trial.set_user_attr("kind", TRAINED)
        self._await_earlier(trial)
        earlier = self._earlier_claim(trial, verdict.hash)
        if earlier is not None:
            self._duplicate(trial, earlier)
            return
        if trial.number not in [t.number for t in self._claimed()[: self.plan.trials]]:
            self._tell(trial, "FAIL", kind=SURPLUS)
            return
        self._train(trial, verdict)

    def _train(self, trial, verdict: Verdict) -> None:
        from cnndsl.sweeps.trials import train

        train(self, trial, verdict)

    def _await_earlier(self, trial) -> None:
        """Wait until each trial asked before this one (by any worker) has said what it is.

        The earliest claim of a candidate trains it, and the first ``--trials`` claims are
        the ones trained; that holds only if every claim sees the claims before it. A trial
        asked earlier may still be judging its candidate; one this worker has seen silent
        for CLAIM_WAIT_S (on its own monotonic clock) belongs to a worker that died.
        """
        from optuna.trial import TrialState

        while True:
            now = time.monotonic()
            running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            silent = [t.number for t in running if t.number < trial.number and "kind" not in t.user_attrs]
            if not any(now - self._first_seen.setdefault(n, now) < CLAIM_WAIT_S for n in silent):
                return
            time.sleep(0.05)

    def _decide(self, trial) -> int:
        if self.plan.grid is not None:
            return int(trial.suggest_categorical("candidate", self.plan.grid))
        return self.plan.space.index_of(lambda key, node, labels: _suggest(trial, key, node, labels))

    def _earlier_claim(self, trial, digest: str):
        for other in self._claimed():
            if other.number < trial.number and other.user_attrs.get("hash") == digest:
                return other
        return None

    def _reject(self, trial, verdict: Verdict) -> None:
        error = verdict.error
        where = f"{error.span.line}:{error.span.column}" if error.span else ""
        trial.set_user_attr("error", {"kind": error.kind, "message": error.message, "at": where})
        trial.set_user_attr("spec", " ".join(verdict.text.split()))
        if self.plan.constraints:
            trial.set_constraint(FEASIBLE, 1.0)
        self._tell(trial, "PRUNED", kind=REJECTED)
        self.misses += 1

    def _duplicate(self, trial, earlier) -> None:
        trial.set_user_attr("duplicate_of", earlier.number)
        if earlier.values is not None and earlier.state.name == "COMPLETE":
            trial.set_user_attr("kind", DUPLICATE)
            self.feasible(trial)
            self._told(trial, list(earlier.values))
        else:
            self._tell(trial, "PRUNED", kind=DUPLICATE)
        self.misses += 1

    def feasible(self, trial) -> None:
        """Mark a trial of an accepted candidate feasible, where the study uses constraints."""
        if self.plan.constraints:
            trial.set_constraint(FEASIBLE, 0.0)

    def _tell(self, trial, state: str, kind: str) -> None:
        from optuna.trial import TrialState

        trial.set_user_attr("kind", kind)
        self._told(trial, state=getattr(TrialState, state))

    def _told(self, trial, *args, **kwargs) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        try:
            self.study.tell(trial, *args, **kwargs)
        except (UpdateFinishedTrialError, ValueError) as error:
            if "finished" not in str(error) and "Cannot tell a FAIL" not in str(error):
                raise
            self.late(trial)
        self.told = True

    def late(self, trial) -> None:
        """Say that another worker failed this trial meanwhile: its heartbeats came too late."""
        self.echo(f"trial {trial.number}: failed by another worker meanwhile (its heartbeat was late); not counted")
        self.told = True

    def _tell_failed(self, trial, why: str) -> None:
        """Leave an interrupted or failed trial as failed: a rerun may train its candidate again."""
        from optuna.trial import TrialState

        if self.told:
            return
        if self.directory is not None:
            self.directory.mark_stale(why)
        try:
            trial.set_user_attr("kind", why)
            self.study.tell(trial, state=TrialState.FAIL)
        except Exception:  # the storage is gone too: the trial stays running there
            pass


def _suggest(trial, key: str, node, labels: tuple[str, ...]) -> int:
    """The sampler's pick at one choice point: an option's number, or a range's offset."""
    from cnndsl import ast

    if isinstance(node, ast.Range):
        low = int(node.low.value)
        return trial.suggest_int(key, low, int(node.high.value)) - low
    return labels.index(trial.suggest_categorical(key, labels))
