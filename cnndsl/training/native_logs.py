"""Keep the frameworks' native start-up logging off the terminal unless asked for.

TensorFlow and JAX log from C++ (absl) straight to file descriptor 2, before and
regardless of Python's logging and ``TF_CPP_MIN_LOG_LEVEL``: lines such as
``I0000 00:00:... cudart_stub.cc:31] Could not find cuda drivers``. While training,
descriptor 2 runs through a pipe that drops those lines and passes everything else
(Python's warnings and errors, cnndsl's own notices) through unchanged.

The command line runs every command that loads a framework inside :func:`quiet_native_logs`;
the library's entry points (``cnndsl.train``, ``compare``, ``sweep``, ``load_data``,
``compile_spec``, the readers) run inside it through :func:`hiding_native_logs`.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

NATIVE_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.+-]+:\d+\]"  # absl / glog: I0000 00:00:17.74 13326 file.cc:31]
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|To enable the following instructions: .* rebuild TensorFlow"
    rb"|\*\*\* Check failure stack trace: \*\*\*|    @ +0x[0-9a-f]+ )"
)


def is_native(line: bytes) -> bool:
    """Whether a line of descriptor 2 is the frameworks' native logging."""
    return NATIVE_LINE.match(line) is not None


@contextmanager
def quiet_native_logs(quiet: bool = True) -> Iterator[None]:
    """Filter native log lines out of descriptor 2 for the duration (nothing if not ``quiet``)."""
    if not quiet:
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    read, write = os.pipe()
    kept = os.dup(2)
    os.dup2(write, 2)
    os.close(write)
    pump = threading.Thread(target=_pump, args=(read, kept), daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(kept, 2)
        pump.join(timeout=5)
        os.close(kept)


def hiding_native_logs(function: Callable) -> Callable:
    """``function`` run inside :func:`quiet_native_logs`, as the command line runs its commands,
    unless it is called with ``quiet=False`` (``train`` and ``compare`` take it)."""

    @functools.wraps(function)
    def hidden(*args, **kwargs):
        with quiet_native_logs(bool(kwargs.get("quiet", True))):
            return function(*args, **kwargs)

    return hidden


def _pump(read: int, out: int) -> None:
    """Copy lines from the pipe to the real descriptor 2, dropping native log lines."""
    with os.fdopen(read, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            _write(out, b"".join(line + b"\n" for line in lines if not is_native(line)))
        if pending and not is_native(pending):
            _write(out, pending)


def _write(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
