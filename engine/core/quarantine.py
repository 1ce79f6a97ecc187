"""Bad files are moved aside, never deleted and never a crash: the user can look at them, and
the program carries on without them."""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class QuarantinedFile:
    path: Path  # where the file was
    moved_to: Path  # where it is now
    reason: str  # one line

    def describe(self) -> str:
        """The one line every front end shows."""
        return f"{self.path} is unreadable ({self.reason}); moved to {self.moved_to}"


def move_aside(path: Path, folder: Path, reason: str) -> QuarantinedFile | None:
    """Move `path` into `folder` as `<name>.<UTC stamp>` (plus a counter when two bad versions
    of one name come within a second). None if the file is already gone; OSError if it cannot
    be moved."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = folder / f"{path.name}.{stamp}"
    counter = 1
    while target.exists():
        target = folder / f"{path.name}.{stamp}-{counter}"
        counter += 1
    folder.mkdir(parents=True, exist_ok=True)
    try:
        shutil.move(path, target)
    except FileNotFoundError:
        if path.exists():
            raise  # the folder went away under us, not the file
        return None
    return QuarantinedFile(path, target, reason)


class Quarantine:
    """The files one owner (the bar store, a journal folder) moved aside while it ran, for the
    front ends to announce; any thread may move one."""

    def __init__(self, log: logging.Logger):
        self.moved: list[QuarantinedFile] = []
        self._log = log  # the owner's: its records say whose file it was
        self._lock = threading.Lock()

    def move(self, path: Path, folder: Path, reason: str) -> str:
        """Move `path` into `folder`; the one line that says what happened."""
        try:
            moved = move_aside(path, folder, reason)
        except OSError as exc:
            self._log.error("cannot quarantine %s (%s): %s", path, reason, exc)
            return f"{path} is unreadable ({reason}); it cannot be moved aside: {exc}"
        if moved is None:
            return f"{path} is unreadable ({reason}); it is gone"
        with self._lock:
            self.moved.append(moved)
        self._log.warning("quarantined %s -> %s: %s", path, moved.moved_to, reason)
        return moved.describe()
