"""One load at a time per dataset (SYMBOL/TF), across every process on the machine.

A job holds an OS lock (`flock`) on `<data-dir>/locks/<SYMBOL>.<TF>.lock` from the moment it is
queued until it ends. The OS drops the lock when its process ends, however that happens, so a
crash never leaves a dataset locked; a second load of the same dataset, in this process or in
another (the app and a CLI), is refused instead of fetching the same sessions and racing the
first one's writes. The file names its holder, for the refusal, and goes away on release.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class DatasetBusy(Exception):
    """Another job loads the dataset; the message is the one line the user sees."""


class DatasetLock:
    """Held until `release()` (or until the process ends)."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # Unlinked while still held: whoever opened the file meanwhile finds it gone once it
        # gets the lock, and starts again on a new file (see `lock_dataset`).
        self.path.unlink(missing_ok=True)
        os.close(fd)


def lock_dataset(directory: Path, symbol: str, timeframe: str, job_id: str) -> DatasetLock:
    """Lock SYMBOL/TF for `job_id`, or raise DatasetBusy naming the job that holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{symbol}.{timeframe}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 100, 0).decode(errors="replace").split()
            os.close(fd)
            raise DatasetBusy(_busy(symbol, timeframe, holder)) from None
        if _same_file(fd, path):
            break
        os.close(fd)  # a holder released (and removed) it between our open and our lock
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{job_id} {os.getpid()}\n".encode(), 0)
    return DatasetLock(path, fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False


def _busy(symbol: str, timeframe: str, holder: list[str]) -> str:
    if len(holder) != 2:  # the holder has the lock but has not written its name yet
        by = "another job"
    elif holder[1] == str(os.getpid()):
        by = f"job {holder[0]}"
    else:
        by = f"job {holder[0]} (process {holder[1]})"
    return f"{symbol} {timeframe} is already being loaded by {by}: wait for it or cancel it"
