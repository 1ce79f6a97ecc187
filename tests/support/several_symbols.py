"""Sessions of several symbols for the app's tests: a week of a symbol's synthetic 1m bars (no
store needed), a session of them opened in the Playback pane as its dialog opens one, and the
results of three symbols' daily run played to the end."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import calendar_for
from engine.session.bars import NS, SessionBars
from engine.session.playback import PlaybackSession, PlaybackState
from engine.session.request import BacktestRequest
from engine.session.results import SessionResults
from engine.strategy.spec import StrategySpec
from engine.trading_rules import TradingRules
from tests.support.app_harness import until
from tests.support.results import SCRIPTED, session_of

FIRST, LAST = "2024-03-04", "2024-03-08"  # one week
SYMBOLS = ("AAPL", "MSFT", "SPY")
# Cash for 100 shares of each at once: the synthetic SPY trades near 4,700, MSFT near 1,600.
CASH_FOR_ALL = TradingRules.from_text({"cash": "1000000"})
TIMEOUT_S = 20


@functools.cache
def minute_bars(first: str = FIRST, last: str = LAST, symbol: str = "AAPL") -> SessionBars:
    """Deterministic synthetic 1m bars of `symbol` of the sessions dated first..last."""
    calendar = calendar_for()
    sessions = calendar.sessions_for_dates(pd.Timestamp(first), pd.Timestamp(last))
    bars = SyntheticMarket(calendar).bars(symbol, 60, sessions[0].open, sessions[-1].close)
    prices = np.vstack([bars.open, bars.high, bars.low, bars.close, bars.volume])
    return SessionBars.from_arrays(symbol, "1m", sessions, bars.start * NS, prices)


async def adopt(
    pilot,
    market: Sequence[SessionBars],
    specs: Sequence[str] = ("sma_crossover",),
    rules: TradingRules | None = None,
    speed: float = 360.0,
) -> PlaybackSession:
    """A session of `market` (one SessionBars per symbol) through `specs`, opened in the
    Playback pane as its dialog's open does: shown, paused at the first open."""
    from ktrdr_tui.screens.open_session import OpenedSession
    from ktrdr_tui.widgets.playback import PlaybackPane

    first = market[0]
    parsed = tuple(StrategySpec.parse(spec) for spec in specs)
    request = BacktestRequest(
        symbols=tuple(bars.symbol for bars in market),
        timeframe=first.timeframe,
        first=first.sessions[0].date,
        last=first.sessions[-1].date,
        strategies=parsed,
        speed=speed,
    )
    session = PlaybackSession(market, parsed, rules, speed=speed)
    await pilot.press("2")
    pane = pilot.app.query_one(PlaybackPane)
    pane.adopt(OpenedSession(session, request, calendar_for().timezone))
    await until(pilot, lambda: pilot.app.session is session, "the session")
    return session


def charted(app, market: Sequence[SessionBars]) -> str:
    """The symbol of `market` whose bars the Playback chart draws, found by their prices (each
    symbol's differ); "" with none drawn."""
    from ktrdr_tui.widgets.candle_chart import CandleChart

    data = app.query_one(CandleChart).data
    if data is None:
        return ""
    for bars in market:
        at = np.minimum(np.searchsorted(bars.timestamps, data.timestamps), len(bars) - 1)
        if np.array_equal(bars.timestamps[at], data.timestamps) and np.array_equal(
            bars.close[at], data.close
        ):
            return bars.symbol
    return "?"


def three_symbols_played() -> SessionResults:
    """Three symbols' daily bars from 2024-01-02, each along its own wave and traded on cue
    (tests/support/results.py's Scripted), played to the end: every trade closed but SPY's
    last; MSFT a loss, SPY never traded until late."""
    x = np.arange(40, dtype=float)
    waves = {
        "AAPL": (100 + 0.3 * x + 6 * np.sin(x / 5), "..B.......S....B.........S"),
        "MSFT": (300 - 0.8 * x + 9 * np.sin(x / 4), ".....B.......S..B....S"),
        "SPY": (450 + 0.5 * x + 3 * np.sin(x / 7), "..............................B"),
    }
    market = [
        session_of(np.r_[close[0], close[:-1]], close, script, symbol)
        for symbol, (close, script) in waves.items()
    ]
    session = PlaybackSession(market, [SCRIPTED], speed=0.0).start(playing=True)
    try:
        assert session.wait(TIMEOUT_S)
        assert session.snapshot().state is PlaybackState.DONE
        return session.results()
    finally:
        session.stop()
