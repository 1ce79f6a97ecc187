"""The Signals pane with a session's signals listed, for its tests and snapshots: a week of AAPL
1m bars played at speed 0 (the Playback pane would have opened the session; these set
`app.session` the same way), and waits until the table lists them."""

from __future__ import annotations

from collections.abc import Sequence

from engine.session.bars import SessionBars
from engine.session.logs import Signal
from engine.session.playback import PlaybackSession, PlaybackState
from engine.strategy.spec import StrategySpec
from ktrdr_tui.widgets.signals import SignalsPane
from tests.support.app_harness import until
from tests.support.several_symbols import TIMEOUT_S, minute_bars
from tests.support.snapshots import gateway_running

SPECS = (
    "sma_crossover:fast=5,slow=20",
    "rsi:period=14,oversold=30,overbought=70",
    "sma_crossover:fast=3,slow=8,timeframe=15m",
)


def new_session(
    bars: SessionBars | Sequence[SessionBars] | None = None, specs=SPECS
) -> PlaybackSession:
    """A paused speed-0 session of a week of AAPL 1m bars (or `bars`: one symbol's, or several
    symbols'), started (as the Playback pane starts the one it opens)."""
    specs = [StrategySpec.parse(spec) for spec in specs]
    return PlaybackSession(bars or minute_bars(), specs, speed=0.0).start(playing=False)


def played(session: PlaybackSession) -> PlaybackSession:
    session.play()
    assert session.wait(TIMEOUT_S)
    assert session.snapshot().state is PlaybackState.DONE
    return session


def pane_of(app) -> SignalsPane:
    return app.query_one(SignalsPane)


def rows_shown(app) -> int:
    return pane_of(app).table.row_count


async def caught_up(pilot, session: PlaybackSession) -> list[Signal]:
    """Until the table lists every signal of the settled session; returns them."""
    app = pilot.app
    await until(pilot, lambda: session.wait(0), "the session to settle")
    expected = list(session.signal_log)
    await until(pilot, lambda: rows_shown(app) == len(expected), "the rows")
    await until(pilot, lambda: pane_of(app).signals == expected, "the pane's log")
    return expected


def cursor_on_newest_and_visible(app) -> bool:
    table = pane_of(app).table
    last = table.row_count - 1
    if table.cursor_row != last:
        return False
    top = round(table.scroll_y)
    visible_rows = table.scrollable_content_region.height - table.header_height
    return top <= last < top + visible_rows


async def populated(pilot, following: bool = True) -> None:
    """A week of AAPL 1m bars played to the end; the pane shown, following the newest row
    (or, not following, left at the first)."""
    await gateway_running(pilot)
    app = pilot.app
    await pilot.press("3")
    if not following:
        await pilot.press("f")
    session = played(new_session())
    app.session = session  # what the Playback pane does when a session is opened
    await caught_up(pilot, session)
    table = app.query_one(SignalsPane).table
    if following:
        await until(pilot, lambda: cursor_on_newest_and_visible(app), "the newest row")
    # The scrollbar follows the scroll on a later refresh: a busy machine may not be there yet.
    await until(pilot, lambda: table.vertical_scrollbar.position == table.scroll_y, "the scrollbar")
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
