"""Tie a child process's life to its parent's (Linux PR_SET_PDEATHSIG), for `serve`'s worker child."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel send SIGTERM when the parent dies, even by SIGKILL; exit now if it is already gone.

    The child asks for this itself (no `preexec_fn`, which is unsafe in a threaded parent). Elsewhere than Linux
    the call is skipped, and the parent's orderly stop is what ends the child.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the parent died before the request above took effect: nobody will signal us
        raise SystemExit(f"parent process {parent_pid} is gone; not starting")
