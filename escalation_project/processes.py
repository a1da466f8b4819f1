"""Child processes that never outlive the process that started them."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# Resolved once here, not in the forked child: between fork and exec only
# async-signal-safe work is safe, and a library lookup is not.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A preexec_fn: the child gets SIGTERM when its parent dies, even by kill -9.

    The kernel sends it when the *thread* that forked the child exits, so
    start such children from the main thread.
    """

    def setup() -> None:
        if _prctl is None:
            return  # no parent-death signal outside Linux; a clean stop still works
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return setup
