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
the pipeline steps through the end times of their new bars in order, calling `on_bar` of every
such strategy whose bar ends then, in the session's order. Decisions wait: when a strategy
reads its position, the signals known before its bar's end (the batch ones and those made so
far) are decided and the orders due at an open before it fill; the rest are decided after the
loop, with the batch ones, in arrays. Signals are always decided in the order they became
known, and a position is what the fills so far make it, so every decision and every fill lands
at the same point of the bars however the clock moved.

The equity is marked at each bar's close in columns extended in place (engine.results.
EquityMarks) whenever someone looks (`curve()`: a playing session's every snapshot), in as few
and as large batches as the looks allow; the trades and the statistics are computed only when
asked for (`results()`).

A session may hold several symbols: every strategy runs on every symbol, each run with its
own instance (its own state), and one account trades them all. The symbols' bars sit on one
market clock, so an advance publishes each symbol's bars complete by then, and the signals of
every symbol are decided in one sequence — by the time they become known, then the session's
order of runs (symbol by symbol, each symbol's strategies in order) — against the one cash.
Positions, fills, the position limit and the data quality are per symbol; a symbol's bar never
waits for another's.

A strategy that raises is stopped for the rest of the session: `failures` says which, on
which symbol, at which bar and why (the traceback goes to the log), and the others go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat

import numpy as np
import pandas as pd

from engine.market.timeframes import check_readable, derivable
from engine.results import EquityCurve, EquityMarks, PortfolioMarks
from engine.session.bars import SessionBars
from engine.session.decisions import Account, RiskManager
from engine.session.history import SessionHistory
from engine.session.logs import SignalLog
from engine.session.metrics import StageMetrics
from engine.session.quality import QualityLedger
from engine.session.results import ResultsBook, SessionResults
from engine.session.series import BarSeries
from engine.strategy.base import Bars, Strategy
from engine.strategy.context import HistoryNeeds
from engine.strategy.spec import StrategySpec
from engine.trading_rules import TradingRules

log = logging.getLogger(__name__)


class SessionSetupError(ValueError):
    """A session that cannot be built from what was asked: the message is for the user."""


@dataclass
class SignalCounts:
    """The signals decided so far, and how many of them were approved."""

    signals: int = 0
    approved: int = 0


@dataclass(frozen=True)
class StrategyFailure:
    """A strategy stopped by an exception; the session went on without it."""

    strategy: str  # its label
    time_ns: int  # the start of the bar it failed at (of a batch's first bar, for on_chunk)
    error: str  # `ZeroDivisionError: division by zero`
    symbol: str = ""  # the symbol it ran on, in a session of several ("" in one of one)

    def describe(self) -> str:
        at = pd.Timestamp(self.time_ns, tz="UTC")
        on = f" on {self.symbol}" if self.symbol else ""
        return (
            f"strategy {self.strategy}{on} stopped at the bar of {at:%Y-%m-%d %H:%M} UTC: "
            f"{self.error}"
        )


@dataclass
class Market:
    """One symbol of a session: its stored bars and what the stages keep of them."""

    index: int  # its place in the session
    bars: SessionBars
    series: dict[str, BarSeries]  # the stored timeframe and those derived from it
    quality: QualityLedger
    marks: EquityMarks  # its cash flows and position at each of its bars' closes

    @property
    def base(self) -> BarSeries:
        return self.series[self.bars.timeframe]

    def derive(self, timeframe: str) -> BarSeries:
        """The series of `timeframe`, laid out on first use (before the clock moves)."""
        series = self.series.get(timeframe)
        if series is None:
            series = self.series[timeframe] = BarSeries(self.bars, timeframe)
        return series

    @property
    def processed(self) -> int:
        """Its stored bars the clock has passed."""
        return self.base.published


@dataclass
class _Run:
    label: str  # the spec in full, as signals name their strategy
    order: int  # its place in the session: ties in time are decided in this order
    market: Market  # the symbol it runs on
    strategy: Strategy
    series: BarSeries
    bars: Bars  # the strategy's view of its series, its length moved as bars complete
    extra: tuple[tuple[BarSeries, Bars], ...]  # declared extra timeframes and their views
    batched: bool  # runs on_chunk
    history: SessionHistory | None = None  # the context it declared it reads
    stopped: bool = False

    def fill_at(self, bar: int) -> int:
        """The stored bar an order decided at the end of its bar `bar` fills at: the first to
        start at or after that end (the orders of those before are due then)."""
        return int(self.market.bars.timestamps.searchsorted(self.series.end.item(bar), "left"))


@dataclass(frozen=True)
class _Found:
    """Signals not decided yet, column-wise, in the order they are decided."""

    known: np.ndarray  # when each becomes known: the end of its bar (ns)
    order: np.ndarray  # its run's place in the session
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

    def since(self, row: int) -> _Found:
        """Its rows from `row` on."""
        return _Found(*(column[row:] for column in self._columns()))

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


@dataclass
class _Undecided:
    """The signals of one advance's on_bar loop not decided yet: the batch ones, known up
    front, and those on_bar makes as the loop goes; each in the order they become known, the
    first `decided_*` of each decided already."""

    batch: _Found
    # (run order, bar, action, confidence, reason) each
    made: list[tuple[int, int, int, float, str]] = field(default_factory=list)
    decided_batch: int = 0
    decided_made: int = 0
    settled: bool = False  # every on_bar strategy's position is up to date (`Pipeline._settle`)
    _rows: list[tuple] | None = field(default=None, init=False)

    def batch_rows(self, fill_at: Callable[[_Found], np.ndarray]) -> list[tuple]:
        """The batch signals as `Pipeline._decide_one`'s arguments, `fill_at` giving the
        stored bar each one's order would fill at (made on first use: most loops decide none
        one by one)."""
        if self._rows is None:
            self._rows = self.batch.tuples(fill_at(self.batch))
        return self._rows


class Pipeline:
    def __init__(
        self,
        market: SessionBars | Sequence[SessionBars],
        specs: Sequence[StrategySpec],
        rules: TradingRules | None = None,
        history: Mapping[tuple[str, HistoryNeeds], SessionHistory] | None = None,
        chart: bool = True,
        log: bool = True,
    ):
        """`market`: the stored bars of the session's symbol, or of each of its symbols (one
        timeframe, one range of sessions); `history`: the historical context of each symbol
        for each `HistoryNeeds` the strategies declare (engine.session.history);
        `chart`: derive every timeframe the stored one gives, as the app's chart shows them
        (otherwise only those the strategies read); `log`: keep every signal in the log, as
        the app and a backtest's outputs show them (otherwise only count them). A sweep's
        backtest, run for its statistics alone, needs neither."""
        self.rules = rules = rules or TradingRules()
        self._log_signals = log
        self._history = history or {}
        market = (market,) if isinstance(market, SessionBars) else tuple(market)
        _check_market(market)
        self.markets = tuple(self._market(index, bars, chart) for index, bars in enumerate(market))
        first = market[0]
        self.timeframe, self.sessions = first.timeframe, first.sessions
        self._specs = len(specs)
        self._runs = tuple(
            self._run(market, spec, k) for market in self.markets for k, spec in enumerate(specs)
        )
        self._settlers = [
            (run.strategy, partial(self._settle, run)) for run in self._runs if not run.batched
        ]
        self.account = Account(rules, market, [spec.label for spec in specs])
        self.risk = RiskManager(rules, self.account, market)
        self._portfolio = (
            PortfolioMarks(
                [m.bars.timestamps for m in self.markets],
                [m.bars.session for m in self.markets],
                rules.cash,
            )
            if len(market) > 1
            else None
        )
        self._marked_fills = 0  # the fills at the bars marked
        self.signals = SignalLog(
            [(run.market.bars.symbol, run.label, run.series.timeframe) for run in self._runs]
        )
        self.stats = SignalCounts()
        # Where the time goes (engine.session.metrics). The decisions and fills made for an
        # `on_bar` strategy reading its position count as strategies.
        self.metrics = StageMetrics()
        self.metrics.add("history", sum(h.seconds for h in self._history.values()))
        self.failures: list[StrategyFailure] = []  # in the order they happened
        # Signals decided one at a time, not logged yet: (time_ns, order, action, price,
        # confidence, reason, note) each.
        self._decided: list[tuple[int, int, int, float, float, str, str]] = []
        self._undecided: _Undecided | None = None  # within an on_bar loop
        self._results: ResultsBook | None = None  # made when first asked for
        self.clock = int(self.sessions[0].open.value) if self.sessions else 0
        self.end = int(self.sessions[-1].close.value) if self.sessions else 0
        # The opens of the sessions with bars of any symbol: the trading days the clock enters.
        self._day_opens = first.session_open[self.present > 0]
        self._days = 0

    def _market(self, index: int, bars: SessionBars, chart: bool) -> Market:
        timeframes = (bars.timeframe, *(derivable(bars.timeframe) if chart else ()))
        return Market(
            index,
            bars,
            {tf: BarSeries(bars, tf) for tf in timeframes},
            QualityLedger(bars),
            EquityMarks(bars.timestamps, bars.session, bars.close, self.rules.cash),
        )

    def _run(self, market: Market, spec: StrategySpec, k: int) -> _Run:
        """Strategy `spec`, the `k`-th of the session's, on the symbol of `market`."""
        stored = market.bars.timeframe
        timeframe = check_readable(spec.timeframe or stored, stored, spec.name, SessionSetupError)
        strategy = spec.build()
        extra = []
        for other in strategy.timeframes:
            check_readable(other, stored, spec.name, SessionSetupError)
            extra.append((market.derive(other), _view(market.derive(other))))
        strategy._extra = {series.timeframe: view for series, view in extra}
        history = None
        if strategy.history is not None:
            history = self._history.get((market.bars.symbol, strategy.history))
            if history is None:
                raise SessionSetupError(
                    f"{spec.name} reads the historical context, which this session does not "
                    "provide (a backtest or the app's sessions do)"
                )
            strategy._history = history
        series = market.derive(timeframe)
        batched = strategy.batched()
        order = market.index * self._specs + k
        strategy._bars = view = _view(series)  # the one view its calls are given
        return _Run(
            spec.label,
            order,
            market,
            strategy,
            series,
            view,
            tuple(extra),
            batched,
            history,
        )

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(m.bars.symbol for m in self.markets)

    @property
    def strategies(self) -> tuple[Strategy, ...]:
        """The session's strategy instances, in its order (every strategy on the first
        symbol, then on the next, …)."""
        return tuple(run.strategy for run in self._runs)

    @property
    def processed(self) -> int:
        """Stored bars the clock has passed, of every symbol."""
        return sum(m.processed for m in self.markets)

    @property
    def total(self) -> int:
        """Stored bars of every symbol."""
        return sum(len(m.bars) for m in self.markets)

    @property
    def finished(self) -> bool:
        return self.clock >= self.end

    @property
    def last_closes(self) -> list[float]:
        """Each symbol's close of the last stored bar the clock has passed (0 before the
        first)."""
        return [float(m.bars.close[m.processed - 1]) if m.processed else 0.0 for m in self.markets]

    @property
    def equity(self) -> float:
        return self.account.equity(self.last_closes)

    @property
    def present(self) -> np.ndarray:
        """Per session, the stored bars of every symbol."""
        return sum(m.quality.present for m in self.markets)

    def quality_pct(self, sessions: int) -> float:
        """The quality of the first `sessions` sessions, every symbol's bars together."""
        expected = sum(int(m.quality.expected[:sessions].sum()) for m in self.markets)
        present = sum(int(m.quality.present[:sessions].sum()) for m in self.markets)
        return 100.0 * present / expected if expected else 100.0

    def day_quality_pct(self, session: int) -> float:
        """The quality of session `session` so far, the mean of the symbols'."""
        at, clock = np.array([session]), np.array([self.clock])
        return float(np.mean([m.quality.so_far_pct(at, clock)[0] for m in self.markets]))

    def curve(self) -> EquityCurve:
        """The account at the close of every bar the clock has passed, marking those not
        marked yet (in a session of several symbols, at every close of any of them). Every
        fill is at a bar the clock has passed (the due ones have filled) and none before the
        bars marked already."""
        started = time.perf_counter()
        new = self.account.fills.view(self._marked_fills)
        for market in self.markets:
            if len(market.marks) < market.processed or len(new):
                fills = new.of_symbol(market.index)
                market.marks.mark(
                    market.processed, fills.bar, fills.size, fills.price, fills.commission
                )
        self._marked_fills += len(new)
        parts = [m.marks.curve() for m in self.markets]
        if self._portfolio is not None:
            self._portfolio.mark(parts)
        self.metrics.add("results", time.perf_counter() - started)
        return parts[0] if self._portfolio is None else self._portfolio.curve()

    def symbol_curves(self) -> tuple[EquityCurve, ...]:
        """Each symbol's part of the account at its bars' closes so far, as of the last
        `curve()`: its starting cash, plus its cash flows, plus its position's value."""
        return tuple(m.marks.curve() for m in self.markets)

    def results(self) -> SessionResults:
        """The equity curve, the trades and the statistics so far. For the thread that moves
        the clock (a playing session's readers ask `PlaybackSession.results`)."""
        if self._results is None:
            self._results = ResultsBook([m.bars for m in self.markets])
        curve = self.curve()
        return self._results.results(curve, self.account.fills.view(), self.symbol_curves())

    def next_bar_end(self) -> int | None:
        """When the next stored bar of any symbol completes, if any is left."""
        ends = [int(m.bars.end[m.processed]) for m in self.markets if m.processed < len(m.bars)]
        return min(ends) if ends else None

    def chunk_end(self, bars: int) -> int:
        """The close of the session that holds the `bars`-th next stored bar of the first
        symbol with bars left."""
        for market in self.markets:
            left = len(market.bars) - market.processed
            if left > 0:
                last = market.processed + min(bars, left) - 1
                return int(market.bars.session_close[market.bars.session[last]])
        return self.end

    def advance_to(self, clock: int) -> int:
        """Move the market clock to `clock` (ns, never past the last close) and process every
        bar completed by then; return how many signals became known (the log's newest)."""
        clock = min(clock, self.end)
        if clock <= self.clock:
            return 0
        self.clock = clock
        before, processed = self.stats.signals, self.processed
        started = time.perf_counter()
        new = {(m.index, m.bars.timeframe): m.base.publish_until(clock) for m in self.markets}
        published = time.perf_counter()
        for market in self.markets:
            for timeframe, series in market.series.items():
                if series is not market.base:
                    new[market.index, timeframe] = series.publish_until(clock)
        derived = time.perf_counter()
        batch = [self._chunk(run, *new[_key(run)]) for run in self._runs if run.batched]
        found = _Found.join([part for part in batch if part is not None])
        steps = self._bar_steps(new)
        if steps is not None:  # what on_bar makes joins the batch's, to be decided with it
            found = self._interleave(steps, found)
        evaluated = time.perf_counter()
        quality = self._quality(found)
        assessed = time.perf_counter()
        self._decide(found, quality)
        decided = time.perf_counter()
        self.risk.fill_until([m.processed for m in self.markets])
        self.account.flush()
        filled = time.perf_counter()
        days = int(np.searchsorted(self._day_opens, clock, side="left"))
        self.metrics.batch(
            self.processed - processed,
            {
                "bars": published - started,
                "derived": derived - published,
                "strategies": evaluated - derived,
                "quality": assessed - evaluated,
                "decisions": decided - assessed,
                "fills": filled - decided,
            },
            days - self._days,
        )
        self._days = days
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
        self, new: dict[tuple[int, str], tuple[int, int]]
    ) -> tuple[Iterable[int], Iterable[int]] | None:
        """The on_bar calls due, (run orders, bars), in the order they happen: by the end of
        the bar, then the run order."""
        due = []
        for run in self._runs:
            lo, hi = new[_key(run)]
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

    def _interleave(self, steps: tuple[Iterable[int], Iterable[int]], batch: _Found) -> _Found:
        """Call on_bar strategies bar by bar; the signals left to decide, `batch`'s and those
        made, in the order they became known.

        Nothing is decided between the calls unless a strategy reads its position: then
        (`_settle`) the signals known before its bar's end are decided and the orders
        due at the opens before it fill, one by one. A decision never moves a position (only
        fills do), and a position is all a strategy sees of the account, so deciding the rest
        after the loop, in arrays, decides every signal in the same order with the account
        where the same fills left it as deciding each as soon as it is known."""
        orders, bars = steps
        self._undecided = undecided = _Undecided(batch)
        made, unsettle = undecided.made, self._unsettle
        unsettle()  # the last advance's decisions and fills
        # What each call needs of its run, looked up once (per bar, lookups add up). A call
        # leaves its signal, if any, in the strategy's `_signal` (`Strategy.buy`).
        calls = [(run.bars, _caller(run), run.strategy) for run in self._runs]
        try:
            for order, bar in zip(orders, bars, strict=True):
                view, call, strategy = calls[order]
                view._length = bar + 1
                try:
                    call(view)
                except Exception as exc:  # a strategy's bug stops it, not the session
                    strategy._signal = None  # what it signalled before raising is dropped
                    self._stop(self._runs[order], bar, exc)
                    calls[order] = (view, _stopped, strategy)
                    continue
                signal = strategy._signal
                if signal is not None:
                    strategy._signal = None
                    made.append((order, bar, *signal))
                    if undecided.settled:
                        unsettle()
        finally:
            self._undecided = None
        self._log_decided()
        return self._undecided_rest(undecided)

    def _unsettle(self) -> None:
        """Make the on_bar strategies settle before they read a position: something may have
        moved it (a signal made, a batch to decide, an order to fill)."""
        for strategy, settle in self._settlers:
            strategy._settle = settle
        if self._undecided is not None:
            self._undecided.settled = False

    def _settle(self, run: _Run) -> None:
        """Bring the position of `run`'s strategy up to the bar its view ends at: within an
        on_bar loop, decide the signals known before that bar's end, one by one in the order
        they became known, and fill the orders due at the opens before it. Once nothing is
        left to decide or fill, no position can move before the next signal: every on_bar
        strategy reads its own from then on."""
        undecided = self._undecided
        if undecided is not None:
            bar = len(run.bars) - 1
            now = run.series.end.item(bar)
            # Every signal made so far is known before now: the calls go in that order.
            newly = undecided.made[undecided.decided_made :]
            for order, made_at, action, confidence, reason in newly:
                row = self._made_row(self._runs[order], made_at, action, confidence, reason)
                self._decide_batch_before(undecided, row[:2])
                self._decide_one(*row)
            undecided.decided_made = len(undecided.made)
            self._decide_batch_before(undecided, (now, run.order))
            self.risk.fill_before(now, run.market.index, run.fill_at(bar))
            batch = undecided.batch_rows(self._fill_at)
            if undecided.decided_batch < len(batch) or any(self.risk.pendings):
                run.strategy._position = self.account.positions[run.market.index]
                return
        positions = self.account.positions
        for other in self._runs:
            if not other.batched:
                other.strategy._settle = None
                other.strategy._position = positions[other.market.index]
        if undecided is not None:
            undecided.settled = True

    def _decide_batch_before(self, undecided: _Undecided, known: tuple[int, int]) -> None:
        """Decide the batch signals not decided yet that became known before `known` (the
        end of a bar, then a run order)."""
        batch = undecided.batch_rows(self._fill_at)
        while undecided.decided_batch < len(batch) and batch[undecided.decided_batch][:2] < known:
            self._decide_one(*batch[undecided.decided_batch])
            undecided.decided_batch += 1

    def _made_row(self, run: _Run, bar: int, action: int, confidence: float, reason: str) -> tuple:
        """The `_decide_one` arguments of the signal `run` made at its bar `bar`."""
        series = run.series
        return (
            series.end.item(bar),  # known when its bar completes
            run.order,
            series.timestamps.item(bar),
            series.close.item(bar),
            series.session.item(bar),
            action,
            confidence,
            reason,
            run.fill_at(bar),
        )

    def _undecided_rest(self, undecided: _Undecided) -> _Found:
        """The signals `_settle` did not decide, in the order they became known."""
        parts = [undecided.batch.since(undecided.decided_batch)]
        made = undecided.made[undecided.decided_made :]
        if made:
            count = len(made)
            order, bar, action, confidence, reason = zip(*made, strict=True)
            orders = np.fromiter(order, np.int64, count)
            columns = (
                np.fromiter(bar, np.int64, count),
                np.fromiter(action, np.int8, count),
                np.fromiter(confidence, np.float64, count),
                np.array(reason, object),
            )
            for k in np.unique(orders).tolist():
                rows = orders == k
                parts.append(self._found(self._runs[k], *(column[rows] for column in columns)))
        return _Found.join(parts)

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
            run.market.bars.symbol if len(self.markets) > 1 else "",
        )
        self.failures.append(failure)
        log.error("%s", failure.describe(), exc_info=exc)

    # -- decisions and fills --------------------------------------------------------------

    def _fill_at(self, found: _Found) -> np.ndarray:
        """For each signal of `found`, the stored bar of its symbol its order would fill at:
        the first to start at or after the signal is known."""
        if len(self.markets) == 1:
            return np.searchsorted(self.markets[0].bars.timestamps, found.known, side="left")
        symbol = found.order // self._specs
        fill_at = np.empty(len(found), np.int64)
        for market in self.markets:
            rows = symbol == market.index
            fill_at[rows] = np.searchsorted(market.bars.timestamps, found.known[rows], "left")
        return fill_at

    def _quality(self, found: _Found) -> np.ndarray:
        """The data quality of each signal's day so far, of its symbol."""
        if len(self.markets) == 1:
            return self.markets[0].quality.so_far_pct(found.session, found.known)
        symbol = found.order // self._specs
        quality = np.empty(len(found))
        for market in self.markets:
            rows = symbol == market.index
            quality[rows] = market.quality.so_far_pct(found.session[rows], found.known[rows])
        return quality

    def _decide(self, found: _Found, quality: np.ndarray) -> None:
        """Decide `found`, in its order, with its days' `quality`, and log it."""
        if not len(found):
            return
        symbol = found.order // self._specs
        # An approved order fills at the open of the first stored bar after its signal's.
        fill_at = self._fill_at(found)
        reasons = self.risk.decide_all(
            found.action,
            quality,
            found.confidence,
            found.price,
            fill_at,
            found.order % self._specs,
            symbol,
            found.known,
            self._lacking_history(found),
        )
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
        fill at, the first of its symbol's to start at or after `known`); `_log_decided` logs
        it."""
        symbol, spec = divmod(order, self._specs)
        quality = self.markets[symbol].quality.pct_at(session, known, fill_at)
        history = self._runs[order].history
        lacking = history.missing_reason(session) if history is not None else ""
        reason = lacking or self.risk.decide(
            action, quality, confidence, price, fill_at, spec, symbol, known
        )
        self._decided.append((time_ns, order, action, price, confidence, reason, note))

    def _lacking_history(self, found: _Found) -> list[str]:
        """For each signal of `found`, why it is rejected for its strategy's historical
        context: "" when the strategy has all it declared, or declared none. A data-quality
        reason, like a day's missing bars, checked before anything else."""
        reasons = [""] * len(found)
        for run in self._runs:
            if run.history is not None:
                for row in np.flatnonzero(found.order == run.order).tolist():
                    reasons[row] = run.history.missing_reason(int(found.session[row]))
        return reasons

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
        if self._log_signals:
            self.signals.append(time_ns, order, action, price, confidence, reasons, notes)
        self.stats.signals += len(reasons)
        self.stats.approved += reasons.count("")


def _key(run: _Run) -> tuple[int, str]:
    return run.market.index, run.series.timeframe


def _check_market(market: tuple[SessionBars, ...]) -> None:
    """Several symbols share one clock: one timeframe, one run of sessions, each once."""
    if not market:
        raise SessionSetupError("a session needs at least one symbol")
    first = market[0]
    symbols = [bars.symbol for bars in market]
    for bars in market[1:]:
        if bars.timeframe != first.timeframe or bars.sessions != first.sessions:
            raise SessionSetupError(
                f"{bars.symbol} {bars.timeframe} does not cover the sessions of "
                f"{first.symbol} {first.timeframe}: a session's symbols share one range"
            )
    doubled = sorted({s for s in symbols if symbols.count(s) > 1})
    if doubled:
        raise SessionSetupError(f"{', '.join(doubled)} given more than once")


def _caller(run: _Run) -> Callable[[Bars], None]:
    """What the on_bar loop calls for `run` with its view at a bar: its strategy's `on_bar`,
    showing it the bars of its extra timeframes ended by then first if it declared any."""
    call = run.strategy.on_bar
    if not run.extra:
        return call

    def with_extra(bars: Bars) -> None:
        now = run.series.end.item(len(bars) - 1)
        for series, view in run.extra:
            view._length = int(np.searchsorted(series.end[: series.published], now, "right"))
        call(bars)

    return with_extra


def _stopped(bars: Bars) -> None:
    """What the on_bar loop calls for a strategy stopped in it."""


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
