"""Atomic writes: the user's umask decides the mode, and temp files of killed writers go."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.core.atomic import write_atomic


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process's umask after a test that sets its own."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_users_umask(tmp_path: Path, umask, mask: int, mode: int) -> None:
    # Before: 0600 whatever the umask (mkstemp's mode), so the user's group could not read
    # the store, the journals or an exported CSV.
    os.umask(mask)
    target = tmp_path / "file.json"
    write_atomic(target, b"{}")
    assert stat.S_IMODE(target.stat().st_mode) == mode
    write_atomic(target, b"{}\n")  # a rewrite too
    assert stat.S_IMODE(target.stat().st_mode) == mode


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    return int(child.stdout)


def test_the_next_write_removes_temp_files_of_dead_writers_only(tmp_path: Path) -> None:
    dead = tmp_path / f".2024-01.parquet.{dead_pid()}.0123abcd.tmp"
    live = tmp_path / f".2024-01.parquet.{os.getppid()}.89abcdef.tmp"  # a writer at work
    ours = tmp_path / f".journal.json.{os.getpid()}.00000000.tmp"  # another thread's write
    other = tmp_path / ".notes.tmp"  # not ours at all
    for path in (dead, live, ours, other):
        path.write_bytes(b"partial")
    write_atomic(tmp_path / "2024-02.parquet", b"data")  # any file of the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, ours.name, other.name, "2024-02.parquet"]
    )
