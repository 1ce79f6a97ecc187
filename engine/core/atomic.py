"""Atomic file replacement: a crash at any instant leaves the old file or the new one.

The data goes to a temp file next to the target, which then replaces it. The temp file is
created like any file the user's programs create (mode 0666 less the umask; mkstemp's 0600
hid the store from the user's group), and its name carries the writer's process id: a temp
file of a process that is gone was left by a kill, and the next write in its folder removes it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

from engine.core.processes import pid_alive

# .<target name>.<pid>.<random hex>.tmp: hidden, so a Parquet dataset folder still reads whole.
_TEMP_NAME = re.compile(r"\..+\.(\d+)\.[0-9a-f]{8}\.tmp")


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path.parent)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _remove_orphans(directory: Path) -> None:
    """Remove the temp files in `directory` that processes no longer running left behind;
    another live process's temp file is its write in progress and stays."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name) if entry.name.endswith(".tmp") else None
        if match is None:
            continue
        if pid_alive(int(match[1])):
            continue  # our own or another live writer's write in progress
        with contextlib.suppress(OSError):  # gone already, or not ours: harmless where it is
            os.unlink(entry.path)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
