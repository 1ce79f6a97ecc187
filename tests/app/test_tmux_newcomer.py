"""The newcomer's path, in a real terminal, as a person does it: start `ktrdr-tui` on its
embedded simulated gateway, load a month of AAPL 1-minute bars with `n AAPL enter`, open a
playback session on them with both strategies, play it at full speed, read the signals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.tmux_session import TmuxApp

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]


@pytest.fixture
def terminal(tmp_path: Path):
    env = {"HOME": str(tmp_path), "KTRDR_DATA_DIR": str(tmp_path / "data"), "KTRDR_SOURCE": "sim"}
    app = TmuxApp([], env, width=120, height=35)
    yield app
    app.close()


def test_load_play_and_read_signals_from_the_keyboard(terminal: TmuxApp) -> None:
    terminal.wait_for("simulated IB Gateway")
    terminal.wait_for("running", timeout=30)
    terminal.keys("n")
    terminal.wait_for("New load")
    terminal.type("AAPL")
    terminal.keys("Enter")
    screen = terminal.wait_for(lambda s: "AAPL" in s and " done " in s, timeout=60)
    assert "100%" in screen

    terminal.keys("2")
    terminal.wait_for("No session open")
    terminal.keys("o")
    terminal.wait_for("Ready: enter opens")
    terminal.keys("Enter")
    terminal.wait_for("space to play", timeout=30)
    terminal.keys("+")  # 3600x
    terminal.wait_for("3600x —")
    terminal.keys("+")  # max
    terminal.wait_for("max")
    terminal.keys("Space")
    screen = terminal.wait_for(lambda s: "done" in s and "signals" in s, timeout=60)

    terminal.keys("3")
    screen = terminal.wait_for(lambda s: "BUY" in s or "SELL" in s, timeout=30)
    assert "sma_crossover" in screen or "rsi" in screen
    terminal.keys("q")
