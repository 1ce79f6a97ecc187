"""A strategy that raises during playback: the session plays on with the others, and the
Playback status line and the signal log say which strategy stopped, at which bar and why."""

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
from ktrdr_tui.widgets.signals import SignalsPane
from tests.support.app_flows import status, store_minute_bars
from tests.support.app_harness import until
from tests.support.several_symbols import FIRST, LAST


class Fragile(Strategy):
    """Raises at its 100th bar."""

    name = "fragile"

    def on_bar(self, bars: Bars) -> None:
        if len(bars) == 100:
            raise ZeroDivisionError("division by zero")


def fragile_session(data_dir) -> OpenedSession:
    """A week of AAPL 1m bars through `fragile` and `sma_crossover`, set up, not started."""
    store_minute_bars(data_dir)
    calendar = calendar_for()
    first, last = pd.Timestamp(FIRST), pd.Timestamp(LAST)
    bars = read_session_bars(BarStore(data_dir, calendar), calendar, "AAPL", "1m", first, last)
    specs = (StrategySpec(Fragile, ()), StrategySpec.parse("sma_crossover"))
    request = BacktestRequest(("AAPL",), "1m", first, last, specs, speed=0.0)
    return OpenedSession(PlaybackSession(bars, specs, speed=0.0), request, calendar.timezone)


async def played_to_the_end(pilot, opened: OpenedSession) -> None:
    app, session = pilot.app, opened.session
    await pilot.press("2")
    app.query_one(PlaybackPane).adopt(opened)
    await until(pilot, lambda: app.session is session, "the session")
    await pilot.press("space")
    await until(pilot, lambda: session.snapshot().state is PlaybackState.DONE, "the end")
    snapshot = session.snapshot()
    assert snapshot.bars_processed == len(session.market[0]) and snapshot.signals > 0  # others ran


async def test_the_status_line_names_a_stopped_strategy_and_the_session_plays_on(
    make_app, tmp_path
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 30)) as pilot:
        await played_to_the_end(pilot, fragile_session(tmp_path))
        line = "strategy fragile stopped at the bar of 2024-03-04 16:09 UTC: ZeroDivisionError"
        await until(pilot, lambda: line in status(app), "the failure on the status line")


async def test_the_signal_log_has_a_line_for_a_stopped_strategy(make_app, tmp_path) -> None:
    app = make_app()
    async with app.run_test(size=(160, 30)) as pilot:
        opened = fragile_session(tmp_path)
        await played_to_the_end(pilot, opened)
        await pilot.press("3")
        pane = app.query_one(SignalsPane)
        failures = pane.query_one("#signals-failures")
        # The 100th bar of Monday, in the table's exchange time; sma_crossover's signals listed.
        line = (
            "2024-03-04 11:09 ET  stopped fragile: ZeroDivisionError: division by zero "
            "(no more signals from it; the others go on)"
        )
        await until(pilot, lambda: line in str(failures.render()), "the failure in the log")
        assert failures.display and failures.region.height == 1
        await until(pilot, lambda: pane.table.row_count == opened.session.snapshot().signals)
        assert {signal.strategy for signal in pane.signals} == {"sma_crossover:fast=5,slow=20"}
        # Back to the start: the failure has not happened in the new run yet.
        await pilot.press("2", "home")
        await until(pilot, lambda: not failures.display, "the line to go")
