"""The app driven as a person drives it, for the pilot and snapshot tests: a week of bars in the
store, the open-session dialog (its strategies' rows, its trading rules), a session opened,
adopted or played to the end; and small readers of what the panes show."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from textual.widget import Widget
from textual.widgets import Collapsible

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.market.timeframes import TIMEFRAME_SECONDS
from engine.session.playback import PlaybackSession, PlaybackState
from engine.trading_rules import TradingRules
from ktrdr_tui.screens.open_session import EMPTY_STORE, OpenSessionScreen, RuleFields, StrategyRow
from ktrdr_tui.widgets.results import LABEL_WIDTH
from tests.support.app_harness import on_screen, until
from tests.support.several_symbols import FIRST, LAST, TIMEOUT_S, adopt

# -- the store and the Playback pane -----------------------------------------------------------


def store_minute_bars(
    data_dir: Path,
    first: str = FIRST,
    last: str = LAST,
    symbol: str = "AAPL",
    timeframe: str = "1m",
) -> int:
    """Deterministic synthetic AAPL 1m bars (or `symbol`'s `timeframe` bars) of the sessions
    first..last, in the store."""
    calendar = calendar_for()
    sessions = calendar.sessions_for_dates(pd.Timestamp(first), pd.Timestamp(last))
    seconds = TIMEFRAME_SECONDS[timeframe]
    bars = SyntheticMarket(calendar).bars(symbol, seconds, sessions[0].open, sessions[-1].close)
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(bars.start, unit="s", utc=True),
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": bars.volume.astype(np.float64),
        }
    )
    return BarStore(data_dir, calendar).merge(symbol, timeframe, frame).bars_total


def status(app) -> str:
    return str(app.query_one("#playback-status").render())


async def open_dialog(pilot) -> OpenSessionScreen:
    app = pilot.app
    await pilot.press("2")
    await pilot.press("o")
    await until(
        pilot,
        lambda: on_screen(app, OpenSessionScreen) and app.screen.query("#problem"),
        "the dialog",
    )
    dialog = app.screen
    await until(
        pilot,
        lambda: (
            "Ready" in str(dialog.query_one("#problem").render())
            or EMPTY_STORE in str(dialog.query_one("#datasets-status").render())
        ),
        "the store to be read",
    )
    return dialog


async def open_session(pilot):
    """`2`, `o`, enter: the first dataset with its proposed range and both strategies."""
    app = pilot.app
    await open_dialog(pilot)
    await pilot.press("enter")
    await until(pilot, lambda: app.session is not None, "the session to open")
    await until(pilot, lambda: not isinstance(app.screen, OpenSessionScreen), "the dialog")
    return app.session


async def adopt_a_week_without_wednesday(pilot, data_dir: Path):
    """The week's session with no bars stored for Wednesday 2024-03-06, opened in the pane
    (as the dialog's open does) and paused at Monday's open."""
    store_minute_bars(data_dir, FIRST, "2024-03-05")
    store_minute_bars(data_dir, "2024-03-07", LAST)
    return await adopt_the_week(pilot, data_dir)


async def adopt_the_week(pilot, data_dir: Path, rules: TradingRules | None = None):
    """The week's stored bars through sma_crossover by `rules`, opened in the pane (as the
    dialog's open does) and paused at Monday's open."""
    from engine.session.bars import read_session_bars

    calendar = calendar_for()
    first, last = pd.Timestamp(FIRST), pd.Timestamp(LAST)
    bars = read_session_bars(BarStore(data_dir, calendar), calendar, "AAPL", "1m", first, last)
    return await adopt(pilot, [bars], rules=rules)


# -- the open-session dialog -------------------------------------------------------------------


def shows(widget, text: str) -> bool:
    return text in str(widget.render())


def under(row: StrategyRow) -> Widget:
    """The line under the row's fields."""
    return row.query_one(".strategy-problem")


async def tab_to(pilot, widget: Widget) -> None:
    """Press tab until `widget` has the focus, as a person would."""
    for _ in range(40):
        if pilot.app.focused is widget:
            return
        await pilot.press("tab")
    raise AssertionError(f"tab never reached {widget}")


async def open_and_play(pilot) -> PlaybackSession:
    app = pilot.app
    await pilot.press("enter")
    await until(pilot, lambda: app.session is not None, "the session")
    session = app.session
    session.set_speed(0)
    session.play()
    ended = (PlaybackState.DONE, PlaybackState.FAILED)
    await until(pilot, lambda: session.snapshot().state in ended, "the end")
    assert session.wait(TIMEOUT_S)
    snapshot = session.snapshot()
    assert (snapshot.state, snapshot.error, snapshot.strategy_failures) == (
        PlaybackState.DONE,
        "",
        (),
    )
    return session


async def rules_opened(pilot, dialog: OpenSessionScreen) -> RuleFields:
    """tab to the section's title and enter, as a person would: its fields show."""
    section = dialog.query_one("#rules", Collapsible)
    assert section.collapsed
    await tab_to(pilot, section.query_one("CollapsibleTitle"))
    await pilot.press("enter")  # opens the section, not the session
    await until(pilot, lambda: not section.collapsed, "the fields")
    assert pilot.app.session is None and pilot.app.screen is dialog
    return dialog.query_one(RuleFields)


# -- the Results pane --------------------------------------------------------------------------


def stat_values(text: str) -> dict[str, str]:
    """The statistics panel's values by label."""
    return {line[:LABEL_WIDTH].strip(): line[LABEL_WIDTH:].strip() for line in text.splitlines()}
