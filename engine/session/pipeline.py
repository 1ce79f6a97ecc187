"""The session pipeline: stored bars → derived bars → quality → strategies → decisions → fills
→ the equity marked at each bar's close.

`advance_to(clock)` moves the market clock forward and runs every stage over what completed on
the way. The results depend only on the bars, never on how the clock was moved: one bar at a
time, a session at a time, or everything at once give the same signals, decisions and fills.
Signals are decided in the order they become known (the end of their bar, then the order of
the strategies), and approved orders fill at the next bar's open.

Strategies run in one of two ways. One with `on_chunk` (the built-ins) gets all its newly
published bars in one call per advance: its signals cannot depend on the account, so they are
found up front, and a session of such strategies only is vectorised from end to end. One with
`on_bar` alone is called once per bar and may read its position, which fills change. For those
the pipeline steps through the end times of their new bars in order, and at each end time
(1) decides the signals known before it, (2) fills the orders due at an open before it,
(3) calls `on_bar` of every such strategy whose bar ends then, in the session's order, and
(4) decides the signals known then, the batch ones and those just made, in strategy order.
So every decision and every fill lands at the same point of the bars however the clock moved,
and a position is what the fills so far make it. The equity is marked at each bar's close in
columns extended in place (engine.results.EquityMarks) whenever someone looks (`curve()`: a
playing session's every snapshot), in as few and as large batches as the looks allow; the
trades and the statistics are computed only when asked for (`results()`).

A strategy that raises is stopped for the rest of the session: `failures` says which, at
which bar and why (the traceback goes to the log), and the others go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np
import pandas as pd

from engine.market.timeframes import check_readable, derivable
from engine.results import EquityCurve, EquityMarks
from engine.session.bars import SessionBars
from engine.session.decisions import Account, RiskManager
from engine.session.logs import SignalLog
from engine.session.quality import QualityLedger
from engine.session.results import ResultsBook, SessionResults
from engine.session.series import BarSeries
from engine.strategy.base import Bars, Strategy
from engine.strategy.spec import StrategySpec
from engine.trading_rules import TradingRules

log = logging.getLogger(__name__)

STAGES = ("bars", "strategies", "decisions", "fills", "equity")


class SessionSetupError(ValueError):
    """A session that cannot be built from what was asked: the message is for the user."""


@dataclass
class StageStats:
    """Seconds spent in each stage, and what went through. With `on_bar` strategies, the
    decisions and fills made between their bars count as strategies."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    signals: int = 0
    approved: int = 0


@dataclass(frozen=True)
class StrategyFailure:
    """A strategy stopped by an exception; the session went on without it."""

    strategy: str  # its label
    time_ns: int  # the start of the bar it failed at (of a batch's first bar, for on_chunk)
    error: str  # `ZeroDivisionError: division by zero`

    def describe(self) -> str:
        at = pd.Timestamp(self.time_ns, tz="UTC")
        return (
            f"strategy {self.strategy} stopped at the bar of {at:%Y-%m-%d %H:%M} UTC: {self.error}"
        )


@dataclass
class _Run:
    label: str  # the spec in full, as signals name their strategy
    order: int  # its place in the session: ties in time are decided in this order
    strategy: Strategy
    series: BarSeries
    bars: Bars  # the strategy's view of its series, its length moved as bars complete
    extra: tuple[tuple[BarSeries, Bars], ...]  # declared extra timeframes and their views
    batched: bool  # runs on_chunk
    # on_bar only: for each bar of the series, the stored bar an order decided at its end
    # fills at (the first to start at or after it); the orders of those before are due then.
    fill_at: np.ndarray | None = None
    stopped: bool = False


@dataclass(frozen=True)
class _Found:
    """Signals not decided yet, column-wise, in the order they are decided."""

    known: np.ndarray  # when each becomes known: the end of its bar (ns)
    order: np.ndarray  # its strategy's place in the session
    time_ns: np.ndarray  # the start of its bar
    price: np.ndarray  # its bar's close
    session: np.ndarray  # its bar's session
    action: np.ndarray
    confidence: np.ndarray
    note: np.ndarray  # the strategy's reason (object)

    def __len__(self) -> int:
        return len(self.known)

    def tuples(self, fill_at: np.ndarray) -> list[tuple]:
        """Each row in plain numbers, its stored bar to fill at last (`Pipeline._decide_one`'s
        arguments)."""
        return list(zip(*(column.tolist() for column in (*self._columns(), fill_at)), strict=True))

    def _columns(self) -> tuple[np.ndarray, ...]:
        return (
            self.known,
            self.order,
            self.time_ns,
            self.price,
            self.session,
            self.action,
            self.confidence,
            self.note,
        )

    @classmethod
    def join(cls, parts: Sequence[_Found]) -> _Found:
        """All of `parts` (each in order already), in the order they become known, then
        strategy order."""
        parts = [part for part in parts if len(part)]
        if len(parts) <= 1:
            return parts[0] if parts else cls.none()
        columns = tuple(np.concatenate(c) for c in zip(*(p._columns() for p in parts), strict=True))
        sequence = np.lexsort((columns[1], columns[0]))
        return cls(*(column[sequence] for column in columns))

    @classmethod
    def none(cls) -> _Found:
        empty = np.empty(0, np.int64)
        return cls(
            empty,
            empty,
            empty,
            np.empty(0),
            empty,
            np.empty(0, np.int8),
            np.empty(0),
            np.empty(0, object),
        )


class Pipeline:
    def __init__(
        self, bars: SessionBars, specs: Sequence[StrategySpec], rules: TradingRules | None = None
    ):
        self.rules = rules = rules or TradingRules()
        self.bars = bars
        timeframes = (bars.timeframe, *derivable(bars.timeframe))
        self.series = {tf: BarSeries(bars, tf) for tf in timeframes}
        self.base = self.series[bars.timeframe]
        self._runs = tuple(self._run(order, spec) for order, spec in enumerate(specs))
        self.quality = QualityLedger(bars)
        labels = [run.label for run in self._runs]
        self.account = Account(rules, bars, labels)
        self.risk = RiskManager(rules, self.account, bars)
        self.marks = EquityMarks(bars.timestamps, bars.session, bars.close, rules.cash)
        self._marked_fills = 0  # the fills at the bars marked
        self.signals = SignalLog(
            bars.symbol, [(run.label, run.series.timeframe) for run in self._runs]
        )
        self.stats = StageStats()
        self.failures: list[StrategyFailure] = []  # in the order they happened
        # Signals decided one at a time, not logged yet: (time_ns, order, action, price,
        # confidence, reason, note) each.
        self._decided: list[tuple[int, int, int, float, float, str, str]] = []
        self._results: ResultsBook | None = None  # made when first asked for
        self.clock = int(bars.sessions[0].open.value) if bars.sessions else 0
        self.end = int(bars.sessions[-1].close.value) if bars.sessions else 0

    def _run(self, order: int, spec: StrategySpec) -> _Run:
        stored = self.bars.timeframe
        timeframe = check_readable(spec.timeframe or stored, stored, spec.name, SessionSetupError)
        strategy = spec.build()
        extra = []
        for other in strategy.timeframes:
            check_readable(other, stored, spec.name, SessionSetupError)
            extra.append((self.series[other], _view(self.series[other])))
        strategy._extra = {series.timeframe: view for series, view in extra}
        series = self.series[timeframe]
        batched = strategy.batched()
        fill_at = None if batched else np.searchsorted(self.bars.timestamps, series.end, "left")
        return _Run(
            spec.label, order, strategy, series, _view(series), tuple(extra), batched, fill_at
        )

    @property
    def strategies(self) -> tuple[Strategy, ...]:
        """The session's strategy instances, in its order."""
        return tuple(run.strategy for run in self._runs)

    @property
    def processed(self) -> int:
        """Stored bars the clock has passed."""
        return self.base.published

    @property
    def finished(self) -> bool:
        return self.clock >= self.end

    @property
    def last_close(self) -> float:
        """The close of the last stored bar the clock has passed (0 before the first)."""
        last = self.processed - 1
        return float(self.bars.close[last]) if last >= 0 else 0.0

    @property
    def equity(self) -> float:
        return self.account.equity(self.last_close)

    def curve(self) -> EquityCurve:
        """The account at the close of every bar the clock has passed, marking those not
        marked yet. Every fill is at a bar the clock has passed (the due ones have filled) and
        none before the bars marked already."""
        started = time.perf_counter()
        fills, marks = self.account.fills, self.marks
        if len(marks) < self.processed:
            new = fills.view(self._marked_fills)
            marks.mark(self.processed, new.bar, new.size, new.price, new.commission)
            self._marked_fills += len(new)
        self.stats.seconds["equity"] += time.perf_counter() - started
        return marks.curve()

    def results(self) -> SessionResults:
        """The equity curve, the trades and the statistics so far. For the thread that moves
        the clock (a playing session's readers ask `PlaybackSession.results`)."""
        if self._results is None:
            self._results = ResultsBook(self.bars)
        return self._results.results(self.curve(), self.account.fills.view())

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
        before = self.stats.signals
        started = time.perf_counter()
        new = {tf: series.publish_until(clock) for tf, series in self.series.items()}
        derived = time.perf_counter()
        batch = [self._chunk(run, *new[run.series.timeframe]) for run in self._runs if run.batched]
        found = _Found.join([part for part in batch if part is not None])
        steps = self._bar_steps(new)
        if steps is not None:  # on_bar calls, decisions and fills interleave: all "strategies"
            self._interleave(steps, found)
            found = _Found.none()
        evaluated = time.perf_counter()
        self._decide(found)
        decided = time.perf_counter()
        self._fill(self.processed)
        self.account.flush()
        filled = time.perf_counter()
        seconds["bars"] += derived - started
        seconds["strategies"] += evaluated - derived
        seconds["decisions"] += decided - evaluated
        seconds["fills"] += filled - decided
        return self.stats.signals - before

    # -- strategies -----------------------------------------------------------------------

    def _chunk(self, run: _Run, lo: int, hi: int) -> _Found | None:
        """The signals of a batched strategy among its newly published bars lo…hi."""
        if hi <= lo or run.stopped:
            return None
        run.bars._length = hi
        try:
            found = run.strategy._chunk(run.bars, lo)
        except Exception as exc:  # a strategy's bug stops it, not the session
            self._stop(run, lo, exc)
            return None
        return self._found(run, found.index, found.action, found.confidence, found.reason)

    def _bar_steps(
        self, new: dict[str, tuple[int, int]]
    ) -> tuple[Iterable[int], Iterable[int]] | None:
        """The on_bar calls due, (strategy orders, bars), in the order they happen: by the
        end of the bar, then the strategy order."""
        due = []
        for run in self._runs:
            lo, hi = new[run.series.timeframe]
            if not (run.batched or run.stopped or hi <= lo):
                due.append((run, lo, hi))
        if not due:
            return None
        if len(due) == 1:  # one strategy's bars, in order (the common case: no sort)
            run, lo, hi = due[0]
            return repeat(run.order, hi - lo), range(lo, hi)
        ends = np.concatenate([run.series.end[lo:hi] for run, lo, hi in due])
        orders = np.concatenate([np.full(hi - lo, run.order) for run, lo, hi in due])
        bars = np.concatenate([np.arange(lo, hi) for _, lo, hi in due])
        sequence = np.lexsort((orders, ends))
        return orders[sequence].tolist(), bars[sequence].tolist()

    def _interleave(self, steps: tuple[Iterable[int], Iterable[int]], batch: _Found) -> None:
        """Call on_bar strategies bar by bar, deciding and filling between their bars.

        Before each call: the batch signals known before it (before its bar's end, or then
        by a strategy earlier in the session's order) are decided, and the orders due at the
        opens before its bar's end fill. A decision never moves a position (only fills do),
        so deciding each signal as soon as it is made, and the batch ones just before the
        next call, decides them all in the order they become known with the account where
        the fills left it. The decisions are taken in plain numbers, one at a time (a
        signal's arrays would cost more than its decision), and logged together at the end."""
        orders, bars = steps
        stamps = self.bars.timestamps
        waiting = batch.tuples(np.searchsorted(stamps, batch.known, side="left"))
        runs, account, decide = self._runs, self.account, self._decide_one
        pending = self.risk.pending  # (tested here: the call costs more than the test)
        b, count = 0, len(waiting)
        for order, bar in zip(orders, bars, strict=True):
            run = runs[order]
            if b < count:
                now = run.series.end.item(bar)
                while b < count and waiting[b][:2] < (now, order):  # (known, strategy order)
                    decide(*waiting[b])
                    b += 1
            if pending and pending[0][0] < run.fill_at.item(bar):
                self._fill(run.fill_at.item(bar))
            if run.stopped:
                continue
            view = run.bars
            view._length = bar + 1
            if run.extra:
                _show_extra(run, bar)
            try:
                signal = run.strategy._bar(view, account.position)
            except Exception as exc:  # a strategy's bug stops it, not the session
                self._stop(run, bar, exc)
                continue
            if signal is not None:
                series = run.series
                decide(
                    series.end.item(bar),  # known when its bar completes
                    order,
                    series.timestamps.item(bar),
                    series.close.item(bar),
                    series.session.item(bar),
                    signal.action,
                    signal.confidence,
                    signal.reason,
                    run.fill_at.item(bar),
                )
        for row in waiting[b:]:
            decide(*row)
        self._log_decided()

    def _found(
        self,
        run: _Run,
        bar: np.ndarray,
        action: np.ndarray,
        confidence: np.ndarray,
        note: np.ndarray,
    ) -> _Found:
        series = run.series
        return _Found(
            known=series.end[bar],  # a signal is known when its bar completes
            order=np.full(len(bar), run.order),
            time_ns=series.timestamps[bar],
            price=series.close[bar],
            session=series.session[bar],
            action=action,
            confidence=confidence,
            note=note,
        )

    def _stop(self, run: _Run, bar: int, exc: Exception) -> None:
        run.stopped = True
        message = " ".join(str(exc).split())
        failure = StrategyFailure(
            run.label,
            int(run.series.timestamps[bar]),
            f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
        )
        self.failures.append(failure)
        log.error("%s", failure.describe(), exc_info=exc)

    # -- decisions and fills --------------------------------------------------------------

    def _decide(self, found: _Found) -> None:
        """Decide `found`, in its order, and log it."""
        if not len(found):
            return
        quality = self.quality.so_far_pct(found.session, found.known)
        # An approved order fills at the open of the first stored bar after its signal's.
        fill_at = np.searchsorted(self.bars.timestamps, found.known, side="left")
        decide = self.risk.decide
        reasons = [
            decide(act, pct, conf, price, at, order)
            for act, conf, pct, price, at, order in zip(
                found.action.tolist(),
                found.confidence.tolist(),
                quality.tolist(),
                found.price.tolist(),
                fill_at.tolist(),
                found.order.tolist(),
                strict=True,
            )
        ]
        self._log(
            found.time_ns,
            found.order,
            found.action,
            found.price,
            found.confidence,
            reasons,
            found.note.tolist(),
        )

    def _decide_one(
        self,
        known: int,
        order: int,
        time_ns: int,
        price: float,
        session: int,
        action: int,
        confidence: float,
        note: str,
        fill_at: int,
    ) -> None:
        """Decide one signal, as `_decide` would (`fill_at`: the stored bar its order would
        fill at, the first to start at or after `known`); `_log_decided` logs it."""
        quality = self.quality.pct_at(session, known, fill_at)
        reason = self.risk.decide(action, quality, confidence, price, fill_at, order)
        self._decided.append((time_ns, order, action, price, confidence, reason, note))

    def _log_decided(self) -> None:
        if self._decided:
            self._log(*zip(*self._decided, strict=True))
            self._decided = []

    def _log(
        self,
        time_ns: Sequence[int],
        order: Sequence[int],
        action: Sequence[int],
        price: Sequence[float],
        confidence: Sequence[float],
        reasons: Sequence[str],
        notes: Sequence[str],
    ) -> None:
        self.signals.append(time_ns, order, action, price, confidence, reasons, notes)
        self.stats.signals += len(reasons)
        self.stats.approved += reasons.count("")

    def _fill(self, due: int) -> None:
        """Fill the pending orders of the stored bars before `due`."""
        self.risk.fill_until(due)


def _show_extra(run: _Run, bar: int) -> None:
    """Show `run` the bars of its extra timeframes ended by the end of its bar `bar`."""
    now = run.series.end.item(bar)
    for series, view in run.extra:
        view._length = int(np.searchsorted(series.end[: series.published], now, "right"))


def _view(series: BarSeries) -> Bars:
    """A strategy's view of `series`: nothing published yet."""
    return Bars(
        series.timeframe,
        series.timestamps,
        series.open,
        series.high,
        series.low,
        series.close,
        series.volume,
        length=0,
    )
