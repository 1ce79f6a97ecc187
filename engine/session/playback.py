"""The playback session: one worker thread drives the pipeline on a market clock the user
controls — speed, pause, step, seek — from any thread.

Speed 0 runs as fast as the machine goes, a batch of sessions at a time. Speed X plays trading
time: X market seconds per wall second through the trading hours of every session with stored
bars, the clock moving with wall time (every CLOCK_TICK_S at least), not only as bars complete.
Everything else takes no wall time: the clock jumps from one such session's close to the next
one's open, over nights, weekends, holidays and *missing sessions* — trading sessions the store
holds no bars for. The snapshot names a missing session while the clock is in it or in the
session right after it, so the UI shows the gap. A bar lasts its market length and a daily bar
its session, so at 360x a 6.5-hour session's 1d bar completes every 65 s.
None of it changes a result (see `pipeline`): seeking back replays from the start at speed 0.

The worker publishes an immutable `SessionSnapshot` at most every SNAPSHOT_INTERVAL_S and on
every change of state; readers take the latest one without a lock and never slow the engine.
A snapshot carries the account, the equity curve and the fills so far (views, not copies); the
trades and statistics are computed on the reader's thread when it asks (`results`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from engine.results import EquityCurve
from engine.session.bars import NS, SessionBars
from engine.session.history import SessionHistory
from engine.session.logs import FillColumns, Signal, SignalLog
from engine.session.metrics import MetricsReport
from engine.session.pipeline import Pipeline, StrategyFailure
from engine.session.results import ResultsBook, SessionResults
from engine.session.series import BarView
from engine.session.speed import check_speed
from engine.strategy.context import HistoryNeeds
from engine.strategy.spec import StrategySpec
from engine.trading_rules import TradingRules

log = logging.getLogger(__name__)

SNAPSHOT_INTERVAL_S = 0.05
SNAPSHOT_BARS = 120  # bars per timeframe in a snapshot: a screen's width of candles
SNAPSHOT_SIGNALS = 50
# At speed 0 the clock moves by whole sessions: the first advance until this many bars, each
# next one as many as take ADVANCE_S at the pace of the last (`next_chunk`).
CHUNK_BARS = 4096
ADVANCE_S = 0.05
# Timed play moves the clock this often between bars, or once a market second if that is rarer.
CLOCK_TICK_S = 0.1


class PlaybackState(StrEnum):
    PAUSED = "paused"
    PLAYING = "playing"
    DONE = "done"  # the clock reached the last close; seek or restart to play again
    FAILED = "failed"
    STOPPED = "stopped"


def next_chunk(bars: int, seconds: float) -> int:
    """The bars of the next advance at speed 0, after one of `bars` that took `seconds`: as
    many as take ADVANCE_S at that pace, so a control acts within about that however slow
    the strategies, and a fast session pays its per-advance costs seldom; at most 4x as many
    (a quick advance's pace is a rough guess), at least one bar."""
    if seconds <= 0 or bars * ADVANCE_S / seconds >= 4 * bars:
        return 4 * bars
    return max(1, int(bars * ADVANCE_S / seconds))


class WallClock:
    """Wall time for the playback clock. Tests substitute one whose waits pass instantly."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        """Wait up to `seconds` on `condition` (held), or less when a control notifies it."""
        condition.wait(seconds)


@dataclass(frozen=True)
class SessionSnapshot:
    """What the UI shows, as of one instant of the worker. Times are int ns UTC."""

    state: PlaybackState
    speed: float
    clock_ns: int
    session_date: pd.Timestamp | None  # the session the clock is in or last left
    bars_processed: int
    bars_total: int
    day_quality_pct: float  # the current day's quality so far
    quality_pct: float  # every session the clock has passed
    positions: tuple[int, ...]  # signed shares of each symbol, in the session's order
    cash: float
    equity: float  # cash and positions at their last closes
    open_pnl: float  # the open positions' gain at the last closes, net of their entry commission
    return_pct: float  # equity against the starting cash, in %
    signals: int
    approved: int
    recent_signals: tuple[Signal, ...]
    curve: EquityCurve  # the account at each bar's close so far (views of the session's columns)
    symbol_curves: tuple[EquityCurve, ...]  # each symbol's part of it, at its own bars
    fills: FillColumns  # every fill so far: time, side, price, … (views)
    chart_symbol: str  # the symbol whose bars `bars` holds: the first, or the one asked for
    bars: dict[str, BarView]  # the last bars of every timeframe of `chart_symbol`
    overruns: int  # times the pipeline fell more than a bar behind the requested speed
    behind_s: float  # market seconds behind the requested speed, now
    metrics: MetricsReport  # where the time went, per stage; bars, batches, trading days
    generation: int  # increases whenever the results restart (seek back, restart)
    error: str = ""
    # The dates of the sessions without stored bars that the clock is in, or that lie right
    # before the session it is in: timed play skips them, the UI says so while it passes.
    missing_dates: tuple[pd.Timestamp, ...] = ()
    # Strategies stopped by an exception (the others went on), in the order they failed.
    strategy_failures: tuple[StrategyFailure, ...] = ()

    @property
    def clock(self) -> pd.Timestamp:
        return pd.Timestamp(self.clock_ns, tz="UTC")

    @property
    def position(self) -> int:
        """The shares of a one-symbol session (of several: their sum)."""
        return sum(self.positions)

    @property
    def rejected(self) -> int:
        return self.signals - self.approved


@dataclass(frozen=True)
class _Mapping:
    """Market time as a function of wall time, while playing at one speed."""

    wall: float
    market: int  # ns
    speed: float

    def market_at(self, wall: float) -> int:
        return self.market + int((wall - self.wall) * self.speed * NS)

    def wall_at(self, market: int) -> float:
        return self.wall + (market - self.market) / NS / self.speed


@dataclass(frozen=True)
class _Seek:
    target_ns: int


_STEP = "step"
_RESTART = "restart"


class PlaybackSession:
    def __init__(
        self,
        market: SessionBars | Sequence[SessionBars],
        strategies: Sequence[StrategySpec],
        rules: TradingRules | None = None,
        speed: float = 0.0,
        clock: WallClock | None = None,
        on_signals: Callable[[Sequence[Signal]], None] | None = None,
        history: Mapping[tuple[str, HistoryNeeds], SessionHistory] | None = None,
        chart: bool = True,
    ):
        """`chart`: the snapshots carry the bars of every timeframe a chart shows (the app's);
        without, only the stored timeframe's (`backtest` shows progress, not a chart)."""
        self.market = (market,) if isinstance(market, SessionBars) else tuple(market)
        self._specs = tuple(strategies)
        self.rules = rules or TradingRules()
        self._wall = clock or WallClock()
        self._on_signals = on_signals
        self._history = history
        self._charted = chart
        # Checks the specs and the symbols at once.
        self._pipeline = self._new_pipeline()
        first = self.market[0]
        self.symbols = self._pipeline.symbols
        self.timeframe, self.sessions = first.timeframe, first.sessions
        self._opens = first.session_open
        self._closes = first.session_close
        # The sessions that have stored bars: timed play spends wall time on these only.
        self._stored = np.flatnonzero(self._pipeline.present)
        missing = np.setdiff1d(np.arange(len(self.sessions)), self._stored)
        self.missing_opens = self._opens[missing]  # ns, in order: where the gaps are
        self._chart = 0  # the symbol whose bars the snapshots carry
        self._condition = threading.Condition()
        self._commands: deque[object] = deque()
        self._speed = check_speed(speed)
        self._playing = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._overruns = 0
        self._behind_ns = 0
        self._chunk_bars = CHUNK_BARS  # at speed 0, the next advance's (`next_chunk`)
        self._error = ""
        self._published_at = -np.inf
        self._results_lock = threading.Lock()  # readers' only: the worker never takes it
        self._results: tuple[tuple[int, int, int], SessionResults] | None = None
        self._results_book: tuple[int, ResultsBook] | None = None  # of one generation
        self._snapshot = self._build_snapshot(PlaybackState.PAUSED)
        self._settled = threading.Event()  # set while paused, done, failed or stopped

    # -- controls: any thread ---------------------------------------------------------------

    def start(self, playing: bool = False) -> PlaybackSession:
        self._playing = playing
        self._thread = threading.Thread(target=self._run, name="playback", daemon=True)
        self._thread.start()
        return self

    def play(self) -> None:
        self._control(playing=True)

    def pause(self) -> None:
        self._control(playing=False)

    def set_speed(self, speed: float) -> None:
        """X market seconds per wall second; 0 is as fast as possible."""
        self._control(speed=check_speed(speed))

    def step(self) -> None:
        """Pause, then process exactly one more stored bar."""
        self._control(playing=False, command=_STEP)

    def seek(self, when: pd.Timestamp) -> None:
        """Move the clock to `when` (UTC): forward plays through, back replays from the start."""
        self._control(command=_Seek(pd.Timestamp(when).value))

    def restart(self) -> None:
        """Back to the first session's open, paused, results cleared."""
        self._control(playing=False, command=_RESTART)

    def chart(self, symbol: str) -> None:
        """Carry `symbol`'s bars in the snapshots from now on (the first symbol's until
        asked); a resting session publishes a snapshot with them at once."""
        with self._condition:
            self._chart = self.symbols.index(symbol)
            self._condition.notify_all()

    def stop(self, timeout: float | None = 5.0) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the session pauses, finishes, fails or stops; False on timeout."""
        return self._settled.wait(timeout)

    def snapshot(self) -> SessionSnapshot:
        return self._snapshot

    def results(self, snapshot: SessionSnapshot | None = None) -> SessionResults:
        """The results as of `snapshot` (default: the latest): its equity curve, its trades and
        their statistics. Any thread; the work is done on the caller's, when asked: the fills
        since the last call are matched into trades and the statistics computed (a few ms for
        a 5-year 1m run). The same snapshot asked about again gives the same object."""
        snapshot = snapshot or self._snapshot
        key = (snapshot.generation, len(snapshot.curve), len(snapshot.fills))
        with self._results_lock:
            if self._results is not None and self._results[0] == key:
                return self._results[1]
            if self._results_book is None or self._results_book[0] != snapshot.generation:
                self._results_book = (snapshot.generation, ResultsBook(self.market))
            results = self._results_book[1].results(
                snapshot.curve, snapshot.fills, snapshot.symbol_curves
            )
            self._results = (key, results)
            return results

    @property
    def signal_log(self) -> SignalLog:
        """The signals so far. It only grows, from any thread's point of view; seeking back
        or restarting starts a new log, so a reader holding this one knows by its identity."""
        return self._pipeline.signals

    def _control(
        self, playing: bool | None = None, speed: float | None = None, command: object = None
    ) -> None:
        with self._condition:
            if playing is not None:
                self._playing = playing
            if speed is not None:
                self._speed = speed
            if command is not None:
                self._commands.append(command)
            self._settled.clear()
            self._condition.notify_all()

    # -- the worker -------------------------------------------------------------------------

    def _run(self) -> None:
        mapping: _Mapping | None = None  # set while playing at a speed
        try:
            while True:
                with self._condition:
                    while self._idle():
                        mapping = None  # wall time spent at rest moves no market time
                        self._publish(self._resting_state(), force=True)
                        self._settled.set()
                        self._condition.wait()
                    if self._stopped:
                        break
                    command = self._commands.popleft() if self._commands else None
                    speed = self._speed
                if command is not None:
                    self._apply(command)
                    mapping = None
                elif speed == 0:
                    mapping = None
                    self._advance_chunk()
                else:
                    mapping = self._play_at(speed, mapping)
                self._publish(PlaybackState.PLAYING)
        except Exception as exc:  # a bug in a stage must not leave the UI waiting forever
            log.exception("playback failed")
            self._error = f"{type(exc).__name__}: {exc}"
            self._publish(PlaybackState.FAILED, force=True)
            self._settled.set()
            return
        self._publish(PlaybackState.STOPPED, force=True)
        self._settled.set()

    def _idle(self) -> bool:
        if self._stopped or self._commands:
            return False
        return not self._playing or self._pipeline.finished

    def _resting_state(self) -> PlaybackState:
        return PlaybackState.DONE if self._pipeline.finished else PlaybackState.PAUSED

    def _apply(self, command: object) -> None:
        pipeline = self._pipeline
        if command == _STEP:
            self._advance(pipeline.next_bar_end() or pipeline.end)
        elif command == _RESTART:
            self._reset()
        elif isinstance(command, _Seek):
            target = min(max(command.target_ns, self._first_open), pipeline.end)
            if target < pipeline.clock:
                self._reset()
            while self._pipeline.clock < target and not self._stopped:
                self._advance_chunk(target)

    @property
    def _first_open(self) -> int:
        return int(self._opens[0]) if len(self._opens) else 0

    def _reset(self) -> None:
        self._pipeline = self._new_pipeline()
        self._generation += 1
        self._overruns = 0
        self._behind_ns = 0

    def _new_pipeline(self) -> Pipeline:
        return Pipeline(self.market, self._specs, self.rules, self._history, chart=self._charted)

    def _advance_chunk(self, target: int | None = None) -> None:
        """Speed 0: advance to the close of the session holding the `_chunk_bars`-th next bar
        (or to `target` if that is sooner), and size the next advance by this one's pace."""
        pipeline = self._pipeline
        end = pipeline.chunk_end(self._chunk_bars)
        started = self._wall.now()
        self._advance(end if target is None else min(end, target))
        if pipeline.clock == end:  # a whole chunk: its pace says what the next can hold
            self._chunk_bars = next_chunk(self._chunk_bars, self._wall.now() - started)

    def _play_at(self, speed: float, mapping: _Mapping | None) -> _Mapping | None:
        """One step of timed play: advance to the market time that wall time maps to, within
        the current session, then sleep until the next bar is due or the clock's next tick
        (or a control arrives)."""
        pipeline = self._pipeline
        now = self._wall.now()
        stored = self._stored
        at = int(np.searchsorted(self._closes[stored], pipeline.clock, side="right"))
        if at == len(stored):
            self._advance(pipeline.end)  # only closed hours and missing sessions are left
            return mapping
        open_, close = int(self._opens[stored[at]]), int(self._closes[stored[at]])
        if mapping is None or mapping.speed != speed:
            mapping = _Mapping(now, max(pipeline.clock, open_), speed)
        elif mapping.market < open_:
            # The session opens the instant the last one with bars closed: nights, weekends,
            # holidays and missing sessions take no wall time. (The advance below jumps there.)
            mapping = _Mapping(mapping.wall_at(pipeline.clock), open_, speed)
        due = min(pipeline.next_bar_end() or close, close)
        mapped = mapping.market_at(now)
        if now >= mapping.wall_at(due):  # rounding must not keep a due bar waiting
            mapped = max(mapped, due)
        self._advance(min(mapped, close))
        if pipeline.clock >= close:
            return mapping  # on to the next session at once
        due = min(pipeline.next_bar_end() or close, close)
        behind = mapping.market_at(self._wall.now()) - due
        self._behind_ns = max(0, behind)
        if behind > (self.market[0].bar_seconds * NS or close - open_):
            self._overruns += 1
        # Say "playing" before sleeping: at 1x the first bar may be a minute away.
        self._publish(
            PlaybackState.PLAYING, force=self._snapshot.state is not PlaybackState.PLAYING
        )
        # Between bars the clock still moves: a daily bar at 360x is 65 s away.
        tick = max(CLOCK_TICK_S, 1 / speed)
        with self._condition:
            if not self._idle() and not self._commands and self._speed == speed:
                self._wall.wait(self._condition, min(mapping.wall_at(due) - self._wall.now(), tick))
        return mapping

    def _advance(self, target: int) -> None:
        new = self._pipeline.advance_to(target)
        if new and self._on_signals is not None:
            self._on_signals(self._pipeline.signals[-new:])

    # -- snapshots --------------------------------------------------------------------------

    def _publish(self, state: PlaybackState, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._published_at >= SNAPSHOT_INTERVAL_S:
            self._snapshot = self._build_snapshot(state)
            self._published_at = now

    def _build_snapshot(self, state: PlaybackState) -> SessionSnapshot:
        pipeline = self._pipeline
        account, equity = pipeline.account, pipeline.equity
        clock = pipeline.clock
        passed = int(np.searchsorted(self._closes, clock, side="right"))
        current = min(passed, len(self._closes) - 1)
        date = self.sessions[current].date if current >= 0 else None
        entered = int(np.searchsorted(self._opens, clock, side="right")) - 1
        day_quality = 100.0
        if current >= 0 and clock > self._opens[current]:
            day_quality = pipeline.day_quality_pct(current)
        return SessionSnapshot(
            state=state,
            speed=self._speed,
            clock_ns=clock,
            session_date=date,
            bars_processed=pipeline.processed,
            bars_total=pipeline.total,
            day_quality_pct=day_quality,
            quality_pct=pipeline.quality_pct(passed) if passed else day_quality,
            positions=tuple(account.positions),
            cash=account.cash,
            equity=equity,
            open_pnl=account.open_pnl(pipeline.last_closes),
            return_pct=(equity / self.rules.cash - 1) * 100,
            signals=pipeline.stats.signals,
            approved=pipeline.stats.approved,
            recent_signals=tuple(pipeline.signals[-SNAPSHOT_SIGNALS:]),
            curve=pipeline.curve(),
            symbol_curves=pipeline.symbol_curves(),
            fills=account.fills.view(),
            chart_symbol=self.symbols[self._chart],
            bars={
                tf: series.view(SNAPSHOT_BARS)
                for tf, series in pipeline.markets[self._chart].series.items()
            },
            overruns=self._overruns,
            behind_s=self._behind_ns / NS,
            metrics=pipeline.metrics.report(self._speed, self._overruns, self._behind_ns / NS),
            generation=self._generation,
            error=self._error,
            missing_dates=self._missing_around(entered) if entered >= 0 else (),
            strategy_failures=tuple(pipeline.failures),
        )

    def _missing_around(self, index: int) -> tuple[pd.Timestamp, ...]:
        """The dates of the run of sessions without bars that holds session `index`, or that
        ends right before it."""
        stored = self._stored
        at = int(np.searchsorted(stored, index))
        lo = int(stored[at - 1]) + 1 if at else 0
        hi = int(stored[at]) if at < len(stored) else len(self.sessions)
        return tuple(session.date for session in self.sessions[lo:hi])
