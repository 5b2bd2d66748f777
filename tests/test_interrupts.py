"""A Ctrl-C swallowed where it was raised (a garbage-collection callback) is raised again at the next safe point."""

from __future__ import annotations

import gc
import os
import signal

import pytest

from cnndsl import interrupts


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_swallowed_by_a_gc_callback_is_raised_at_the_next_check():
    def callback(phase, info):  # Python prints and drops what a gc callback raises, as JAX's does
        if phase == "start":
            os.kill(os.getpid(), signal.SIGINT)

    with interrupts.remembered():
        gc.callbacks.append(callback)
        try:
            gc.collect()  # the interrupt is raised inside the callback, and lost there
        finally:
            gc.callbacks.remove(callback)
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
        interrupts.check()  # said once


def test_outside_the_block_nothing_is_remembered_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGINT)
    with interrupts.remembered():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before
    interrupts.check()


def test_a_nested_block_keeps_the_outer_handler_and_what_is_pending():
    with interrupts.remembered():
        outer = signal.getsignal(signal.SIGINT)
        with interrupts.remembered():  # a trial's training inside a sweep
            assert signal.getsignal(signal.SIGINT) is outer
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is outer
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()  # still pending after the inner block ended
