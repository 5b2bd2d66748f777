"""Run one process of a data-parallel cluster so that every failure is one clear line.

JAX's distributed runtime ends a process from C++ (an abort, with pages of log)
when it cannot reach the coordinator in time, or when another process of the
cluster stops answering. So the work runs in a forked child whose descriptor 2
passes through this parent: the parent drops native log lines, forwards the rest,
and when the child dies says why in one line, exit 2. The child has its own
process group; the parent passes Ctrl-C on to it once, the child saves what it
has, and if it does not finish within a grace period the parent stops it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import suppress

from cnndsl.training.native_logs import is_native
from cnndsl.training.recipe import Cluster

GRACE_S = 20
"""Seconds a child has to finish after Ctrl-C before it is killed."""
EXIT_USAGE, EXIT_INTERRUPTED = 2, 130
CONNECT_FAILURES = (b"RegisterTask", b"/Connect", b"failed to connect", b"Failed to connect")
PEER_FAILURES = (b"another task died", b"detected fatal errors", b"Gloo", b"eartbeat", b"GRPC", b"grpc_")


def supervised(work: Callable[[], int], cluster: Cluster, quiet: bool = True) -> int:
    """Run ``work`` (returning an exit code) in a child process; report how it ended."""
    sys.stdout.flush()
    sys.stderr.flush()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)  # Ctrl-C reaches the child once, through the parent
        os.close(read)
        os.dup2(write, 2)
        os.close(write)
        _child(work)
    os.close(write)
    log: list[bytes] = []
    pump = threading.Thread(target=_pump, args=(read, log, quiet), daemon=True)
    pump.start()
    status, interrupted = _wait(pid)
    pump.join(timeout=5)
    return _verdict(status, interrupted, b"".join(log), cluster)


def _child(work: Callable[[], int]) -> None:
    """The child's whole life: run the work, flush, and exit with its code (never return)."""
    code = 1
    try:
        code = work()
        if code == 0:
            _leave_cluster()
    except KeyboardInterrupt:
        print("cnndsl: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except Exception:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _leave_cluster() -> None:
    """Meet the other processes at JAX's shutdown barrier, so none is left waiting for this one."""
    jax = sys.modules.get("jax")
    if jax is not None and jax.distributed.is_initialized():
        jax.distributed.shutdown()


def _pump(read: int, log: list[bytes], quiet: bool) -> None:
    """Forward the child's descriptor 2, keeping its native lines aside for the verdict."""
    with os.fdopen(read, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                _forward(line + b"\n", log, quiet)
        if pending:
            _forward(pending, log, quiet)


def _forward(line: bytes, log: list[bytes], quiet: bool) -> None:
    native = not line.startswith(b"cnndsl:") and (
        is_native(line) or any(marker in line for marker in (*CONNECT_FAILURES, *PEER_FAILURES))
    )
    if native:
        log.append(line)
    if not (quiet and native):
        os.write(2, line)


def _wait(pid: int) -> tuple[int, bool]:
    """Wait for the child, passing Ctrl-C on; after it, give the child GRACE_S seconds, then kill it."""
    interrupted_at: list[float] = []

    def interrupt(signum, frame) -> None:
        interrupted_at.append(time.monotonic())
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status, bool(interrupted_at)
            if interrupted_at and time.monotonic() - interrupted_at[0] > GRACE_S:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGINT, previous)


def _verdict(status: int, interrupted: bool, log: bytes, cluster: Cluster) -> int:
    """The exit code, after one line saying why when the child did not end by itself."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if interrupted:
        print("cnndsl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if any(marker in log for marker in CONNECT_FAILURES):
        where = "wait for the other processes" if cluster.is_writer else "reach the coordinator"
        message = (
            f"process {cluster.process_id} of {cluster.num_processes} could not {where} at {cluster.coordinator} "
            f"within {cluster.timeout} s (--connect-timeout); nothing was written"
        )
    else:
        message = _peer_message()
    print(f"cnndsl: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _peer_message() -> str:
    return "another process of the cluster stopped or stopped answering; training stopped"
