"""Ctrl-C that cannot be lost: an interrupt is remembered as well as raised.

Python raises KeyboardInterrupt at the next bytecode, wherever that runs; when it runs in
a garbage-collection callback (JAX registers one), the exception is printed as "ignored"
and dropped, and a sweep went on to train every trial. Inside :func:`remembered` the
SIGINT handler also notes the interrupt, and :func:`check` raises it again at the next
safe point (a training batch, an epoch, a trial).
"""

from __future__ import annotations

import contextlib
import signal
import threading

_pending = False


def _interrupt(signum, frame) -> None:
    global _pending
    _pending = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def remembered():
    """Remember every Ctrl-C while the block runs (the main thread only; elsewhere a no-op).

    Blocks nest (a sweep's trial trains inside the sweep's block): an inner block finds the
    handler installed and leaves it, and what is pending, to the outermost one.
    """
    global _pending
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is _interrupt:
        yield
        return
    previous = signal.signal(signal.SIGINT, _interrupt)
    _pending = False
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _pending = False


def check() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C came and was swallowed where it was raised."""
    global _pending
    if _pending:
        _pending = False
        raise KeyboardInterrupt
