"""The CLI in child processes, as after a crash or a reboot: their environment, and a child
that is killed at its Nth atomic write.

The kill is the crash of the crash tests, deterministic where a SIGKILL at a random moment hits
wherever the child happens to be.

The child dies with the temp file written and synced but not yet renamed over the target, the
last instant before the write takes effect: the old file is intact and a temp file is left
behind, as after a power cut. N = 0 runs the CLI to its end and prints how many atomic writes
it made (on stderr, last line), so a test can aim at each one of them. The in-process simulated
gateway runs with pacing off: the child's timing never decides what happens.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PINNED_NOW

WRITES_PREFIX = "atomic writes: "  # the last line of a child that was not killed

_CHILD = """\
import os, signal, sys
import engine.core.atomic as atomic
import engine.ib.source as ib_source

ib_source.SIM_PACING = "off"
kill_at = int(sys.argv[1])
writes = 0


class DyingOs:
    # `os` as engine.core.atomic sees it, except that the Nth replace never happens.
    def __getattr__(self, name):
        return getattr(os, name)

    def replace(self, source, target):
        global writes
        writes += 1
        if writes == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace(source, target)


atomic.os = DyingOs()
from ktrdr_tui.cli import main

code = main(sys.argv[2:])
print(f"atomic writes: {writes}", file=sys.stderr)  # WRITES_PREFIX
sys.exit(code)
"""


def run_killed_at(
    write: int, env: dict[str, str], *argv: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`ktrdr-tui ARGV` in a child killed (SIGKILL) at atomic write number `write` (from 1);
    0 never kills."""
    return subprocess.run(
        [sys.executable, "-c", _CHILD, str(write), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def writes_made(result: subprocess.CompletedProcess[str]) -> int:
    """How many atomic writes a child run with `write=0` made."""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(WRITES_PREFIX), result.stderr
    return int(last.removeprefix(WRITES_PREFIX))


def child_env(home: Path, data: Path) -> dict[str, str]:
    """The environment conftest gives in-process tests (a module-scoped fixture runs before
    conftest's): own user folders, no KTRDR_* but the data dir and the pinned clock."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KTRDR_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_STATE_HOME=str(home / "state"),
        KTRDR_DATA_DIR=str(data),
        KTRDR_NOW=PINNED_NOW,
    )
    return env
