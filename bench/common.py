"""What the benchmarks share: the verdict words, the generated bars and a timed playback."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import calendar_for
from engine.session.bars import NS, SessionBars
from engine.session.playback import PlaybackSession, PlaybackState, SessionSnapshot
from engine.strategy.spec import StrategySpec
from engine.trading_rules import TradingRules

LAST_SESSION = pd.Timestamp("2023-12-29")  # the generated bars end here, whatever the date


def verdict(ok: bool) -> str:
    """A goal's outcome, in the words every benchmark uses."""
    return "met" if ok else "NOT met"


def minute_bars(years: int, symbol: str = "AAPL") -> SessionBars:
    """`years` calendar years of deterministic 1m bars of `symbol`, up to LAST_SESSION, from
    the simulated gateway's generator, held in memory (one year: ~98,000 bars)."""
    calendar = calendar_for()
    first = pd.Timestamp(f"{LAST_SESSION.year - years + 1}-01-01")
    sessions = calendar.sessions_for_dates(first, LAST_SESSION)
    generated = SyntheticMarket(calendar).bars(symbol, 60, sessions[0].open, sessions[-1].close)
    prices = np.vstack(
        [generated.open, generated.high, generated.low, generated.close, generated.volume]
    )
    return SessionBars.from_arrays(symbol, "1m", sessions, generated.start * NS, prices)


def peer_frame(bars: SessionBars) -> pd.DataFrame:
    """The bars as backtesting.py and backtrader take them: OHLCV columns, naive UTC index."""
    return pd.DataFrame(
        {
            "Open": bars.open,
            "High": bars.high,
            "Low": bars.low,
            "Close": bars.close,
            "Volume": bars.volume,
        },
        index=pd.DatetimeIndex(bars.timestamps).tz_localize("UTC").tz_localize(None),
    )


@dataclass(frozen=True)
class Played:
    setup_s: float  # building the session (the pipeline lays out every timeframe)
    run_s: float  # start(playing=True) to wait() returning
    snapshot: SessionSnapshot

    @property
    def total_s(self) -> float:
        return self.setup_s + self.run_s


def play(
    bars: SessionBars | Sequence[SessionBars],
    specs: Sequence[str | StrategySpec],
    speed: float = 0.0,
    rules: TradingRules | None = None,
) -> Played:
    """The bars through the strategies (specs as `backtest` takes them, or built), as the app
    plays them: `PlaybackSession(...).start(playing=True)`, then `wait()`."""
    strategies = [s if isinstance(s, StrategySpec) else StrategySpec.parse(s) for s in specs]
    started = time.perf_counter()
    session = PlaybackSession(bars, strategies, rules, speed=speed)
    built = time.perf_counter()
    session.start(playing=True)
    session.wait()
    done = time.perf_counter()
    snapshot = session.snapshot()
    session.stop()
    assert snapshot.state == PlaybackState.DONE, (snapshot.state, snapshot.error)
    assert snapshot.bars_processed == snapshot.bars_total
    return Played(built - started, done - built, snapshot)
