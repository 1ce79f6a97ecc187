"""Deterministic synthetic bars for the simulated gateway.

Every bar is a pure function of (symbol, bar size, bar start, seed): a session's one-minute path
depends only on the symbol, the session and the seed, and longer bars aggregate those minutes
(aligned to the session open; daily bars cover the whole session). So any split of a span into
requests, in any order, yields the same bars, and daily bars agree with the minute bars.

Prices follow a random walk: session-to-session levels from one seeded stream per symbol,
joined inside each session by a bridge of one-minute steps; volume follows the intraday U shape.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.ib.universe import UNIVERSE, Instrument
from engine.market.calendar import Session, TradingCalendar

DEFAULT_SEED = 20240101
_DAILY_DRIFT = 0.0003
_DAILY_VOLATILITY = 0.018
_OVERNIGHT_GAP = 0.004


@dataclass(frozen=True)
class BarArrays:
    """Bars as columns; `start` is the bar start in epoch seconds (daily: session midnight UTC)."""

    start: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    wap: np.ndarray
    count: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    def select(self, mask: np.ndarray) -> BarArrays:
        return BarArrays(*(column[mask] for column in self._columns()))

    def _columns(self) -> tuple[np.ndarray, ...]:
        return (
            self.start,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.wap,
            self.count,
        )

    @classmethod
    def concat(cls, parts: list[BarArrays]) -> BarArrays:
        if not parts:
            empty = np.empty(0)
            return cls(
                np.empty(0, np.int64),
                empty,
                empty,
                empty,
                empty,
                empty,
                empty,
                np.empty(0, np.int64),
            )
        return cls(
            *(
                np.concatenate(columns)
                for columns in zip(*(p._columns() for p in parts), strict=True)
            )
        )


def _symbol_key(symbol: str) -> int:
    return zlib.crc32(symbol.encode())


class SyntheticMarket:
    def __init__(self, calendar: TradingCalendar, seed: int = DEFAULT_SEED):
        self.calendar = calendar
        self.seed = seed

    def first_session(self, instrument: Instrument) -> Session:
        first = max(pd.Timestamp(instrument.first_date), self.calendar.first_session)
        return self.calendar.first_session_on_or_after(first)

    def bars(
        self, symbol: str, bar_seconds: int, start: pd.Timestamp, end: pd.Timestamp
    ) -> BarArrays:
        """Bars of `bar_seconds` (0 = daily) whose start lies in [start, end), UTC instants;
        a daily bar counts as starting at its session's open (its label is midnight UTC)."""
        instrument = UNIVERSE[symbol]
        first_ordinal = self.first_session(instrument).ordinal
        parts = []
        for session in self.calendar.sessions_between(start, end):
            if session.ordinal < first_ordinal:
                continue
            bars = self._session_bars(symbol, session.ordinal, bar_seconds)
            # In nanoseconds: bounds need not fall on whole seconds.
            when = session.open.value if bar_seconds == 0 else bars.start * 10**9
            keep = (when >= start.value) & (when < end.value)
            parts.append(bars.select(np.broadcast_to(keep, bars.start.shape)))
        return BarArrays.concat(parts)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one market per gateway, bounded cache
    def _session_bars(self, symbol: str, ordinal: int, bar_seconds: int) -> BarArrays:
        minutes = self._minute_bars(symbol, ordinal)
        if bar_seconds == 60:
            return minutes
        if bar_seconds == 0:
            label = self.calendar.session_at(ordinal).date.value // 10**9
            starts = np.zeros(1, np.intp)
            bar_starts = np.array([label], np.int64)
        else:
            per_bar = bar_seconds // 60
            starts = np.arange(0, len(minutes), per_bar)
            bar_starts = minutes.start[starts]
        volume = np.add.reduceat(minutes.volume, starts)
        return BarArrays(
            bar_starts,
            minutes.open[starts],
            np.maximum.reduceat(minutes.high, starts),
            np.minimum.reduceat(minutes.low, starts),
            minutes.close[np.append(starts[1:], len(minutes)) - 1],
            volume,
            np.round(np.add.reduceat(minutes.wap * minutes.volume, starts) / volume, 4),
            np.add.reduceat(minutes.count, starts),
        )

    @functools.lru_cache(maxsize=1024)  # noqa: B019
    def _minute_bars(self, symbol: str, ordinal: int) -> BarArrays:
        session = self.calendar.session_at(ordinal)
        n = session.minutes
        levels = self._session_levels(symbol)
        rng = np.random.default_rng([self.seed, _symbol_key(symbol), ordinal])
        day_open = levels[ordinal] + rng.normal(0.0, _OVERNIGHT_GAP)
        day_close = levels[ordinal + 1]
        steps = rng.normal(0.0, _DAILY_VOLATILITY / np.sqrt(390), n)
        walk = np.concatenate([[0.0], np.cumsum(steps)])
        # A bridge: the walk starts at the session's open and ends at the next level.
        path = day_open + walk - np.linspace(0.0, 1.0, n + 1) * (walk[-1] - (day_close - day_open))
        prices = np.exp(path)
        opens, closes = np.round(prices[:-1], 2), np.round(prices[1:], 2)
        wiggle = np.abs(rng.normal(0.0, _DAILY_VOLATILITY / np.sqrt(390) / 2, (2, n)))
        highs = np.maximum(
            np.round(np.maximum(opens, closes) * (1 + wiggle[0]), 2), np.maximum(opens, closes)
        )
        lows = np.minimum(
            np.round(np.minimum(opens, closes) * (1 - wiggle[1]), 2), np.minimum(opens, closes)
        )
        lows = np.maximum(lows, 0.01)
        position = np.linspace(-1.0, 1.0, n)
        profile = 1.0 + 2.0 * position**2  # busy open and close, quiet lunch
        shares = UNIVERSE[symbol].daily_volume / 390 / profile.mean() * profile
        volume = np.maximum(np.round(shares * rng.lognormal(0.0, 0.35, n)), 1.0)
        open_s = session.open.value // 10**9
        return BarArrays(
            open_s + 60 * np.arange(n, dtype=np.int64),
            opens,
            highs,
            lows,
            closes,
            volume,
            np.round((highs + lows + closes) / 3, 4),
            np.maximum(volume // 100, 1).astype(np.int64),
        )

    @functools.lru_cache(maxsize=64)  # noqa: B019
    def _session_levels(self, symbol: str) -> np.ndarray:
        """Log price level at each session's open, plus one past the last session."""
        sessions = self.calendar.last_session_ordinal + 2
        rng = np.random.default_rng([self.seed, _symbol_key(symbol), 0xDA7])
        returns = rng.normal(_DAILY_DRIFT, _DAILY_VOLATILITY, sessions)
        returns[0] = 0.0
        return np.log(UNIVERSE[symbol].base_price) + np.cumsum(returns)
