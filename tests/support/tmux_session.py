"""Drive `ktrdr-tui` in a real terminal (tmux) the way a person does: start it, send keys, read
the screen. Used by the tmux check in tests/ and by bench/bench_app.py."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path


class TmuxApp:
    """One `ktrdr-tui` in a detached tmux session of a fixed size, on a tmux server of its own
    (a private socket), so that nothing else using tmux on the machine can disturb it."""

    def __init__(self, args: list[str], env: dict[str, str], width: int = 120, height: int = 35):
        if shutil.which("tmux") is None:
            raise RuntimeError("tmux is not installed")
        self.name = f"ktrdr-{uuid.uuid4().hex[:8]}"
        self._tmux = ["tmux", "-L", self.name]
        executable = Path(sys.executable).with_name("ktrdr-tui")
        command = shlex.join([str(executable), *args])
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        self.started = time.perf_counter()
        subprocess.run(
            [
                *self._tmux,
                "new-session",
                "-d",
                "-s",
                self.name,
                "-x",
                str(width),
                "-y",
                str(height),
                f"env {exports} {command}",
            ],
            check=True,
            env={**os.environ, "TERM": "xterm-256color"},
        )

    def screen(self) -> str:
        result = subprocess.run(
            [*self._tmux, "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run([*self._tmux, "send-keys", "-t", self.name, key], check=True)

    def type(self, text: str) -> None:
        subprocess.run([*self._tmux, "send-keys", "-t", self.name, "-l", text], check=True)

    def wait_for(
        self, condition: str | Callable[[str], bool], timeout: float = 20.0, poll: float = 0.01
    ) -> str:
        """The screen once it shows `condition` (text, or a test on the screen's text)."""
        check = condition if callable(condition) else (lambda screen: condition in screen)
        deadline = time.perf_counter() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.perf_counter() > deadline:
                raise TimeoutError(f"screen never showed {condition!r}; it shows:\n{screen}")
            time.sleep(poll)  # polling a terminal: there is no event to wait on

    def close(self) -> None:
        subprocess.run([*self._tmux, "kill-server"], check=False, capture_output=True)
