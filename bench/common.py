"""What the benchmarks share: the verdict words, the generated bars and a timed playback."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
    chart: bool = True,
) -> Played:
    """The bars through the strategies (specs as `backtest` takes them, or built), as the app
    plays them (`chart=False`: as `backtest` does): `PlaybackSession(...).start(playing=True)`,
    then `wait()`."""
    strategies = [s if isinstance(s, StrategySpec) else StrategySpec.parse(s) for s in specs]
    started = time.perf_counter()
    session = PlaybackSession(bars, strategies, rules, speed=speed, chart=chart)
    built = time.perf_counter()
    session.start(playing=True)
    session.wait()
    done = time.perf_counter()
    snapshot = session.snapshot()
    session.stop()
    assert snapshot.state == PlaybackState.DONE, (snapshot.state, snapshot.error)
    assert snapshot.bars_processed == snapshot.bars_total
    return Played(built - started, done - built, snapshot)


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident memory. Not ru_maxrss: Linux
    carries that over from the parent through fork and exec, so a child of this (by then large)
    benchmark would report the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> bool:
    """Set VmHWM back to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run_peak(years: int, symbols: Sequence[str], specs: Sequence[str]) -> dict[str, float]:
    """The memory of one run of `specs` over `years` of each symbol's bars, for a fresh
    process to measure: after imports, the peak of generating the bars (the simulated
    gateway's work, not the session's, kept apart when the kernel lets the peak be reset;
    otherwise the run's peak includes it), holding them, and the run's peak."""
    figures: dict[str, float] = {"imports_mb": rss_mb()}
    market = [minute_bars(years, symbol) for symbol in symbols]
    figures["generation_peak_mb"] = rss_mb()
    figures["bars_mb"] = rss_mb("VmRSS")
    figures["reset"] = reset_peak_rss()
    play(market, specs)
    figures["peak_mb"] = rss_mb()
    return figures
