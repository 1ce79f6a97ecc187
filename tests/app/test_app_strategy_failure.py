"""A strategy that raises during playback: the session plays on with the others, and the
Playback status line says which strategy stopped, at which bar and why."""

from __future__ import annotations

import pandas as pd

from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.session.bars import read_session_bars
from engine.session.playback import PlaybackSession, PlaybackState
from engine.session.request import BacktestRequest
from engine.strategy import Bars, Strategy
from engine.strategy.spec import StrategySpec
from ktrdr_tui.screens.open_session import OpenedSession
from ktrdr_tui.widgets.playback import PlaybackPane
from tests.app.test_app_playback import FIRST, LAST, status, store_minute_bars
from tests.support.app_harness import until


class Fragile(Strategy):
    """Raises at its 100th bar."""

    name = "fragile"

    def on_bar(self, bars: Bars) -> None:
        if len(bars) == 100:
            raise ZeroDivisionError("division by zero")


async def test_the_status_line_names_a_stopped_strategy_and_the_session_plays_on(
    make_app, tmp_path
) -> None:
    store_minute_bars(tmp_path)
    calendar = calendar_for()
    first, last = pd.Timestamp(FIRST), pd.Timestamp(LAST)
    bars = read_session_bars(BarStore(tmp_path, calendar), calendar, "AAPL", "1m", first, last)
    specs = (StrategySpec(Fragile, ()), StrategySpec.parse("sma_crossover"))
    request = BacktestRequest("AAPL", "1m", first, last, specs, speed=0.0)
    session = PlaybackSession(bars, specs, speed=0.0)
    app = make_app()
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.press("2")
        app.query_one(PlaybackPane).adopt(OpenedSession(session, request, calendar.timezone))
        await until(pilot, lambda: app.session is session, "the session")
        await pilot.press("space")
        await until(pilot, lambda: session.snapshot().state is PlaybackState.DONE, "the end")
        snapshot = session.snapshot()
        assert snapshot.bars_processed == len(bars) and snapshot.signals > 0  # the others ran
        line = "strategy fragile stopped at the bar of 2024-03-04 16:09 UTC: ZeroDivisionError"
        await until(pilot, lambda: line in status(app), "the failure on the status line")
