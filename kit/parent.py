"""A supervised process ends when its supervisor does, however the supervisor ends (scripts/run.py's children).

The supervisor names itself in `HEARTH_PARENT_PID`; the child, first thing, asks Linux for SIGTERM when its
parent dies (`PR_SET_PDEATHSIG`), and ends at once if the parent is already gone. The child asks for itself
rather than the supervisor asking in between fork and exec (`preexec_fn`): Python code in a forked child of a
process whose gRPC threads are running (the supervisor checks its children's health over gRPC) could abort it
with SIGABRT before the exec, and without `preexec_fn` subprocess starts children with vfork, which runs no fork
handlers at all.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

ENV = "HEARTH_PARENT_PID"
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """No-op unless started by a supervisor that set `HEARTH_PARENT_PID` (and on Linux). The variable is taken out
    of the environment, so this process's own children do not measure their parent against it."""
    parent = os.environ.pop(ENV, "")
    if not parent.isdigit() or sys.platform != "linux":
        return
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # the supervisor died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)


__all__ = ["ENV", "die_with_parent"]
