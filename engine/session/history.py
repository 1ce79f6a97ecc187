"""Each trading day's historical context (engine.strategy.context), computed once per run from
the sessions before the day only: the store for the sessions before the run's first, the run's
own bars for the days after.

The window of a day is the N exchange sessions before it (calendar sessions, not sessions with
bars): a session of the window with nothing stored is left out of the averages and makes the
day's context incomplete, which the decisions report as a data-quality reason."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from engine.market.calendar import Session, TradingCalendar
from engine.market.store import BarStore
from engine.session.bars import NS, SessionBars, read_session_bars
from engine.strategy.context import DayContext, HistoryNeeds


@dataclass(frozen=True)
class _Values:
    """The context values of a run's sessions, one row per session."""

    previous_close: np.ndarray
    avg_volume: np.ndarray
    by_minute: np.ndarray  # (sessions, slots), read-only
    high: np.ndarray
    low: np.ndarray
    sessions: np.ndarray  # sessions of the window with bars
    complete: np.ndarray  # bool


class SessionHistory:
    """The context of every session of a run, by session index (as `SessionBars.session`)."""

    def __init__(
        self,
        needs: HistoryNeeds,
        sessions: tuple[Session, ...],
        bar_seconds: int,
        values: _Values,
    ):
        self.needs = needs
        self.sessions = sessions
        self.bar_seconds = bar_seconds
        self._values = values
        self.complete = values.complete  # bool per session of the run
        self.seconds = 0.0  # what reading and computing it took (`read_history` sets it)
        # A bar belongs to the first session ending after its start (daily bars sit at the
        # session's midnight UTC: it "ends" a day later).
        if bar_seconds == 0:
            self._starts = np.array([s.date.value for s in sessions], dtype=np.int64)
            self._ends = self._starts + 86_400 * NS
        else:
            self._starts = np.array([s.open.value for s in sessions], dtype=np.int64)
            self._ends = np.array([s.close.value for s in sessions], dtype=np.int64)
        self._contexts: list[DayContext | None] = [None] * len(sessions)
        self._current = (0, 0, -1)  # (start, end, index) of the day last asked for

    def __len__(self) -> int:
        return len(self.sessions)

    def context(self, index: int) -> DayContext:
        """The context of session `index` of the run (made once, then shared)."""
        found = self._contexts[index]
        if found is None:
            found = self._contexts[index] = self._make(index)
        return found

    def day_of(self, time_ns: int) -> int:
        """The index of the session a bar starting at `time_ns` belongs to."""
        index = int(np.searchsorted(self._ends, time_ns, side="right"))
        if index == len(self._ends) or time_ns < self._starts[index]:
            when = pd.Timestamp(time_ns, tz="UTC")
            raise ValueError(f"no session of the run holds a bar starting {when}")
        return index

    def context_at(self, time_ns: int) -> DayContext:
        """The context of the day of the bar starting at `time_ns`: one comparison while the
        bars stay in the same session (a strategy asks at every bar)."""
        start, end, index = self._current
        if not start <= time_ns < end:
            index = self.day_of(time_ns)
            self._current = (int(self._starts[index]), int(self._ends[index]), index)
        return self.context(index)

    def missing_reason(self, index: int) -> str:
        """Empty when session `index` has its full history, else why not (for the signals log)."""
        if self.complete[index]:
            return ""
        had = int(self._values.sessions[index])
        day = self.sessions[index].date.date().isoformat()
        return f"history: {had} of {self.needs.sessions} sessions before {day}"

    def _make(self, index: int) -> DayContext:
        values = self._values
        return DayContext(
            date=self.sessions[index].date.date(),
            open_ns=int(self._starts[index]),
            bar_seconds=self.bar_seconds,
            previous_close=float(values.previous_close[index]),
            avg_volume=float(values.avg_volume[index]),
            avg_volume_by_minute=values.by_minute[index],  # a read-only row view
            high=float(values.high[index]),
            low=float(values.low[index]),
            sessions=int(values.sessions[index]),
            complete=bool(values.complete[index]),
        )


def read_history(
    store: BarStore, calendar: TradingCalendar, bars: SessionBars, needs: HistoryNeeds
) -> SessionHistory:
    """The context of every session of `bars`: the sessions before the first one are read
    from the store (as many as `needs` reaches back), the later ones are `bars` itself. A
    symbol with nothing stored before gives incomplete contexts, not an error."""
    started = time.perf_counter()
    sessions = bars.sessions
    if not sessions:
        return SessionHistory(needs, sessions, bars.bar_seconds, _values(needs, _Days.none(0, 1)))
    first = sessions[0].ordinal
    before = max(0, first - needs.sessions)  # no session before the calendar's first
    earlier = (
        read_session_bars(
            store,
            calendar,
            bars.symbol,
            bars.timeframe,
            calendar.session_at(before).date,
            calendar.session_at(first - 1).date,
        )
        if before < first
        else None
    )
    prior = earlier.sessions if earlier is not None else ()
    slots = max(calendar.expected_per_session([*prior, *sessions], bars.bar_seconds))
    parts = [_Days.none(needs.sessions - len(prior), slots)]  # the window is always full length
    if earlier is not None:
        parts.append(_Days.of(earlier, calendar, slots))
    parts.append(_Days.of(bars, calendar, slots))
    history = SessionHistory(needs, sessions, bars.bar_seconds, _values(needs, _Days.join(parts)))
    history.seconds = time.perf_counter() - started
    return history


def _values(needs: HistoryNeeds, days: _Days) -> _Values:
    """The context values of the days after the first `needs.sessions` of `days`, each from
    the windows of sessions just before it."""
    window = needs.sessions
    target = np.arange(window, len(days.has))  # the run's sessions in `days`
    count = _window_sums(days.has, needs.days, target)
    volume = _window_sums(days.volume, needs.days, target)
    by_slot = _window_sums(days.slot_volume, needs.days, target)
    slot_count = _window_sums(days.slot_open, needs.days, target)
    extremes = needs.extremes
    if len(target):
        windows = target - extremes  # the extremes windows [j - extremes, j) start here
        high = sliding_window_view(days.high, extremes)[windows].max(axis=1)
        low = sliding_window_view(days.low, extremes)[windows].min(axis=1)
    else:
        high = low = np.empty(0)
    # The latest session with bars before each day, if inside its `days` window.
    latest = np.maximum.accumulate(np.where(days.has, np.arange(len(days.has)), -1))
    last = latest[target - 1] if len(target) else np.empty(0, np.int64)
    sessions = _window_sums(days.has, window, target)
    by_minute = _mean(by_slot, slot_count)
    by_minute.flags.writeable = False  # the strategies share rows of it
    return _Values(
        previous_close=np.where(last >= target - needs.days, days.close[last], np.nan),
        avg_volume=_mean(volume, count),
        by_minute=by_minute,
        high=np.where(np.isfinite(high), high, np.nan),
        low=np.where(np.isfinite(low), low, np.nan),
        sessions=sessions.astype(np.int64),
        complete=sessions == window,
    )


def _window_sums(values: np.ndarray, length: int, target: np.ndarray) -> np.ndarray:
    """For each index j of `target`, the sum of `values[j - length : j]` (along the first axis)."""
    totals = np.zeros((len(values) + 1, *values.shape[1:]))
    np.cumsum(values, axis=0, out=totals[1:])
    return totals[target] - totals[target - length]


def _mean(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    mean = np.full(total.shape, np.nan)
    np.divide(total, count, out=mean, where=count > 0)
    return mean


@dataclass(frozen=True)
class _Days:
    """Per-session figures of a run of sessions' bars."""

    has: np.ndarray  # bool: the session has bars
    volume: np.ndarray
    high: np.ndarray  # -inf without bars
    low: np.ndarray  # +inf without bars
    close: np.ndarray  # the last bar's; NaN without bars
    slot_volume: np.ndarray  # (sessions, slots): volume per bar slot from the open
    slot_open: np.ndarray  # (sessions, slots) bool: the session has bars and is open then

    @classmethod
    def of(cls, bars: SessionBars, calendar: TradingCalendar, slots: int) -> _Days:
        count = len(bars.sessions)
        session = bars.session
        # Each session's bars are one run (the bars are in time order): where the runs start.
        starts = np.flatnonzero(np.diff(session, prepend=-1))
        held = session[starts]
        high, low, close = np.full(count, -np.inf), np.full(count, np.inf), np.full(count, np.nan)
        if len(session):
            high[held] = np.maximum.reduceat(bars.high, starts)
            low[held] = np.minimum.reduceat(bars.low, starts)
            close[held] = bars.close[np.append(starts[1:], len(session)) - 1]
        step = bars.bar_seconds * NS
        if step:
            slot = (bars.timestamps - bars.session_open[session]) // step
        else:
            slot = np.zeros_like(session)  # daily bars: one slot
        slot_volume = np.bincount(session * slots + slot, bars.volume, count * slots)
        has = np.zeros(count, bool)
        has[held] = True
        expected = np.array(calendar.expected_per_session(bars.sessions, bars.bar_seconds))
        slot_open = has[:, None] & (np.arange(slots) < expected.reshape(-1, 1))
        return cls(
            has,
            np.bincount(session, bars.volume, count),
            high,
            low,
            close,
            slot_volume.reshape(count, slots),
            slot_open,
        )

    @classmethod
    def none(cls, count: int, slots: int) -> _Days:
        """`count` sessions without bars."""
        return cls(
            np.zeros(count, bool),
            np.zeros(count),
            np.full(count, -np.inf),
            np.full(count, np.inf),
            np.full(count, np.nan),
            np.zeros((count, slots)),
            np.zeros((count, slots), bool),
        )

    @classmethod
    def join(cls, parts: list[_Days]) -> _Days:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))
