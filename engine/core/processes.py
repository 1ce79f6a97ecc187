"""Whether a process still runs: what tells a file left by a killed process from one that a
live process (another terminal) is still working on."""

from __future__ import annotations

import os

PID_MAX = 2**31 - 1  # pid_t is a C int


def pid_alive(pid: int) -> bool:
    """True if a process with this id exists (whoever owns it). Ids that no process can have
    (0, negative, beyond pid_t) are not alive: os.kill would signal a whole group, or fail."""
    if not 0 < pid <= PID_MAX:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def alive_elsewhere(pid: int) -> bool:
    """True if another process with this id runs: a file this very process id left before a
    restart counts as a dead process's."""
    return pid != os.getpid() and pid_alive(pid)
