"""What the shell looks like, pane by pane, in each shipped theme."""

from __future__ import annotations

import pytest

from tests.conftest import TERMINAL_SIZE
from tests.support.snapshots import THEMES, gateway_running


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize(
    "keys", [["1"], ["2"], ["3"], ["question_mark"]], ids=["jobs", "playback", "signals", "help"]
)
def test_shell(snap_compare, make_app, theme: str, keys: list[str]) -> None:
    assert snap_compare(
        make_app(theme), press=keys, terminal_size=TERMINAL_SIZE, run_before=gateway_running
    )
