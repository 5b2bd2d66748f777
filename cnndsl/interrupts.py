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
_depth = 0


def _interrupt(signum, frame) -> None:
    global _pending
    _pending = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def remembered():
    """Remember every Ctrl-C while the block runs (the main thread only; elsewhere a no-op).

    Blocks nest (a sweep's trial trains inside the sweep's block): only the outermost one
    installs the handler and forgets a pending interrupt when it ends.
    """
    global _pending, _depth
    if threading.current_thread() is not threading.main_thread() or _depth:
        _depth += bool(_depth)
        try:
            yield
        finally:
            _depth -= bool(_depth)
        return
    previous = signal.signal(signal.SIGINT, _interrupt)
    _pending, _depth = False, 1
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _pending, _depth = False, 0


def check() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C came and was swallowed where it was raised."""
    global _pending
    if _pending:
        _pending = False
        raise KeyboardInterrupt
