"""Data quality per session day: the bars present against the bars the calendar expects.

Decisions read the quality of a day *so far* — at the instant a signal is known — so a hole
later in the day never rejects an earlier signal, and nothing is looked up ahead of the clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.session.bars import NS, SessionBars


@dataclass(frozen=True)
class Gap:
    """Bars missing from a session: [start, end) in UTC."""

    start: pd.Timestamp
    end: pd.Timestamp


@dataclass(frozen=True)
class DayQuality:
    date: pd.Timestamp  # the session date
    expected: int
    present: int
    gaps: tuple[Gap, ...]  # the missing stretches, in order

    @property
    def quality_pct(self) -> float:
        return 100.0 * self.present / self.expected if self.expected else 100.0


class QualityLedger:
    """Counts for every session of a run, from the bars' timestamps alone."""

    def __init__(self, bars: SessionBars):
        self.bars = bars
        self._opens = bars.session_open
        self._closes = bars.session_close
        sessions = len(bars.sessions)
        self.present = np.bincount(bars.session, minlength=sessions)
        self._first_bar = np.searchsorted(bars.session, np.arange(sessions))
        step = bars.bar_seconds * NS
        if step:
            self.expected = -((self._opens - self._closes) // step)  # ceiling division
        else:
            self.expected = np.ones(sessions, dtype=np.int64)
        self._step = step
        # The same, as plain lists: `pct_at` decides one signal at a time.
        self._first_bars = self._first_bar.tolist()
        self._presents = self.present.tolist()
        self._open_list = self._opens.tolist()
        self._close_list = self._closes.tolist()

    def so_far_pct(self, session: np.ndarray, when: np.ndarray) -> np.ndarray:
        """The quality of each `session` counting the bars that start before `when` (ns)."""
        # Capped at the session's own bars: `when` may lie past its close.
        present = np.minimum(
            np.searchsorted(self.bars.timestamps, when) - self._first_bar[session],
            self.present[session],
        )
        if self._step:
            elapsed = np.minimum(when, self._closes[session]) - self._opens[session]
            expected = -(-elapsed // self._step)
        else:
            expected = np.ones(len(session), dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(expected > 0, 100.0 * present / np.maximum(expected, 1), 100.0)

    def pct_at(self, session: int, when: int, started: int) -> float:
        """`so_far_pct` of one signal in plain numbers, the same float: `started` is how many
        stored bars start before `when` (the caller knows it: the bar its order fills at)."""
        count = started - self._first_bars[session]
        present = self._presents[session]
        if count > present:
            count = present
        step = self._step
        if not step:
            return 100.0 * count
        close = self._close_list[session]
        elapsed = (when if when < close else close) - self._open_list[session]
        expected = -(-elapsed // step)  # ceiling division, as in so_far_pct
        return 100.0 * count / expected if expected > 0 else 100.0

    def day(self, index: int) -> DayQuality:
        """One session's counts and the stretches missing from it."""
        session = self.bars.sessions[index]
        lo = int(self._first_bar[index])
        present = self.bars.timestamps[lo : lo + int(self.present[index])]
        if self._step:
            expected = np.arange(self._opens[index], self._closes[index], self._step)
        else:
            expected = np.array([session.date.value], dtype=np.int64)
        missing = np.setdiff1d(expected, present, assume_unique=True)
        gaps = []
        if len(missing):
            breaks = np.flatnonzero(np.diff(missing) != (self._step or 1)) + 1
            for run in np.split(missing, breaks):
                start = pd.Timestamp(int(run[0]), tz="UTC")
                end = pd.Timestamp(min(int(run[-1]) + self._step, self._closes[index]), tz="UTC")
                if not self._step:
                    start, end = session.open, session.close
                gaps.append(Gap(start, end))
        return DayQuality(session.date, int(self.expected[index]), len(present), tuple(gaps))
