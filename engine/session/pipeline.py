"""The session pipeline: stored bars → derived bars → quality → strategies → decisions → fills.

`advance_to(clock)` moves the market clock forward and runs every stage over what completed on
the way, in one batch. The results depend only on the bars, never on how the clock was moved:
one bar at a time, a session at a time, or everything at once give the same signals, decisions
and fills — strategies are chunk-invariant, signals are decided in the order they become known
(the end of their bar, then the order of the strategies), and fills happen at the next bar's open.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.market.timeframes import check_readable, derivable
from engine.session.bars import SessionBars
from engine.session.decisions import Account, RiskManager, RiskRules
from engine.session.logs import SignalLog
from engine.session.quality import QualityLedger
from engine.session.series import BarSeries
from engine.session.strategies import StrategySpec
from engine.session.strategies.base import Strategy

STAGES = ("bars", "strategies", "decisions", "fills")


class SessionSetupError(ValueError):
    """A session that cannot be built from what was asked: the message is for the user."""


@dataclass
class StageStats:
    """Seconds spent in each stage, and what went through."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    signals: int = 0
    approved: int = 0


@dataclass(frozen=True)
class _Run:
    label: str  # the spec in full, as signals name their strategy
    strategy: Strategy
    series: BarSeries


class Pipeline:
    def __init__(
        self, bars: SessionBars, specs: Sequence[StrategySpec], rules: RiskRules | None = None
    ):
        rules = rules or RiskRules()
        self.bars = bars
        timeframes = (bars.timeframe, *derivable(bars.timeframe))
        self.series = {tf: BarSeries(bars, tf) for tf in timeframes}
        self.base = self.series[bars.timeframe]
        runs = []
        for spec in specs:
            timeframe = check_readable(
                spec.timeframe or bars.timeframe, bars.timeframe, spec.name, SessionSetupError
            )
            runs.append(_Run(spec.label, spec.build(), self.series[timeframe]))
        self._runs = tuple(runs)
        self.quality = QualityLedger(bars)
        self.risk = RiskManager(rules)
        self.account = Account(rules.starting_cash)
        self.signals = SignalLog(bars.symbol, [(run.label, run.series.timeframe) for run in runs])
        self.stats = StageStats()
        self._pending: deque[tuple[int, int]] = deque()  # (bar to fill at, action), in order
        self.clock = int(bars.sessions[0].open.value) if bars.sessions else 0
        self.end = int(bars.sessions[-1].close.value) if bars.sessions else 0

    @property
    def processed(self) -> int:
        """Stored bars the clock has passed."""
        return self.base.published

    @property
    def finished(self) -> bool:
        return self.clock >= self.end

    @property
    def equity(self) -> float:
        last = self.processed - 1
        return self.account.equity(float(self.bars.close[last]) if last >= 0 else 0.0)

    def next_bar_end(self) -> int | None:
        """When the next stored bar completes, if any is left."""
        return int(self.bars.end[self.processed]) if self.processed < len(self.bars) else None

    def advance_to(self, clock: int) -> int:
        """Move the market clock to `clock` (ns, never past the last close) and process every
        bar completed by then; return how many signals became known (the log's newest)."""
        clock = min(clock, self.end)
        if clock <= self.clock:
            return 0
        self.clock = clock
        seconds = self.stats.seconds
        started = time.perf_counter()
        new = {tf: series.publish_until(clock) for tf, series in self.series.items()}
        derived = time.perf_counter()
        found = []
        for order, run in enumerate(self._runs):
            lo, hi = new[run.series.timeframe]
            if hi > lo:
                found.append(self._signals_of(order, run, lo, hi))
        evaluated = time.perf_counter()
        signals = self._decide(found) if found else 0
        decided = time.perf_counter()
        self._fill()
        filled = time.perf_counter()
        seconds["bars"] += derived - started
        seconds["strategies"] += evaluated - derived
        seconds["decisions"] += decided - evaluated
        seconds["fills"] += filled - decided
        return signals

    def _signals_of(self, order: int, run: _Run, lo: int, hi: int) -> tuple[np.ndarray, ...]:
        found = run.strategy.update(run.series.close[lo:hi])
        bar = found.index + lo
        known = run.series.end[bar]  # a signal is known when its bar completes
        quality = self.quality.so_far_pct(run.series.session[bar], known)
        return known, np.full(len(bar), order), bar, found.action, found.confidence, quality

    def _decide(self, found: list[tuple[np.ndarray, ...]]) -> int:
        known, order, bar, action, confidence, quality = (
            np.concatenate(c) for c in zip(*found, strict=True)
        )
        sequence = np.lexsort((order, known))  # in the order they become known
        known, order, bar, action, confidence, quality = (
            column[sequence] for column in (known, order, bar, action, confidence, quality)
        )
        fill_at = np.searchsorted(self.bars.timestamps, known, side="left")
        decide, pending, reasons = self.risk.decide, self._pending, []
        for act, conf, pct, at in zip(
            action.tolist(),
            confidence.tolist(),
            quality.tolist(),
            fill_at.tolist(),
            strict=True,
        ):
            reason = decide(act, pct, conf)
            if not reason:
                pending.append((at, act))
            reasons.append(reason)
        time_ns, price = np.empty(len(bar), np.int64), np.empty(len(bar))
        for k, run in enumerate(self._runs):
            mine = order == k
            time_ns[mine] = run.series.timestamps[bar[mine]]
            price[mine] = run.series.close[bar[mine]]
        self.signals.append(time_ns, order, action, price, confidence, reasons)
        self.stats.signals += len(reasons)
        self.stats.approved += reasons.count("")
        return len(reasons)

    def _fill(self) -> None:
        pending, processed = self._pending, self.processed
        due = []
        while pending and pending[0][0] < processed:
            due.append(pending.popleft())
        if due:
            at = np.array([bar for bar, _ in due])
            self.account.fill(
                self.bars.timestamps[at].tolist(),
                [action for _, action in due],
                self.risk.rules.quantity,
                self.bars.open[at].tolist(),
            )
