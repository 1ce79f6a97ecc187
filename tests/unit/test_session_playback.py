"""The playback session: results never depend on speed, pauses, steps or seeks — signals, fills,
the equity curve, the trades and their statistics; the clock maps wall time to market time
session by session; controls work from any thread."""

from __future__ import annotations

import functools
import itertools
import threading
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import calendar_for
from engine.session import playback
from engine.session.bars import NS, SessionBars
from engine.session.pipeline import Pipeline, SessionSetupError
from engine.session.playback import PlaybackSession, PlaybackState
from engine.session.results import SessionResults
from engine.strategy.spec import StrategySpec
from engine.trading_rules import TradingRules
from tests.support.fakes import FakeWallClock

SPECS = (
    StrategySpec.parse("sma_crossover:fast=5,slow=20"),
    StrategySpec.parse("rsi:period=14,oversold=30,overbought=70"),
    StrategySpec.parse("sma_crossover:fast=3,slow=8,timeframe=15m"),
)
# Rules whose every part depends on the account as the fills left it: sized on the equity,
# costs, shorts.
COSTLY = TradingRules.from_text(
    {
        "size": "40%",
        "max_position": "1000",
        "commission": "0.1%",
        "min_commission": "1",
        "slippage": "1bp",
        "short": True,
    }
)
SESSION_S = 390 * 60  # a regular session's trading time
SESSION_WALL_S = SESSION_S / 3600  # one regular session at speed 3600


@functools.cache
def minute_bars(first: str, last: str, drop: tuple[int, ...] = ()) -> SessionBars:
    """Deterministic 1m bars of the sessions dated first..last, without the bars at `drop`."""
    calendar = calendar_for()
    sessions = calendar.sessions_for_dates(pd.Timestamp(first), pd.Timestamp(last))
    generated = SyntheticMarket(calendar).bars("AAPL", 60, sessions[0].open, sessions[-1].close)
    keep = np.setdiff1d(np.arange(len(generated)), drop)
    prices = np.vstack(
        [generated.open, generated.high, generated.low, generated.close, generated.volume]
    )
    return SessionBars.from_arrays(
        "AAPL", "1m", sessions, generated.start[keep] * NS, prices[:, keep]
    )


def week() -> SessionBars:
    return minute_bars("2024-03-04", "2024-03-08")


def reference(bars: SessionBars, specs=SPECS, rules: TradingRules | None = None) -> Pipeline:
    pipeline = Pipeline(bars, specs, rules)
    pipeline.advance_to(pipeline.end)
    return pipeline


CURVE_COLUMNS = ("timestamp", "cash", "position", "equity", "drawdown_pct", "exposed")


def outcome(pipeline: Pipeline, results: SessionResults | None = None) -> tuple:
    """Everything a run gives, compared exactly: NaN statistics as JSON's nulls."""
    results = results or pipeline.results()
    curve, trades = results.curve, results.trades
    return (
        list(pipeline.signals),
        list(pipeline.account.fills),
        pipeline.account.cash,
        pipeline.equity,
        {name: getattr(curve, name).tolist() for name in CURVE_COLUMNS},
        {f.name: getattr(trades, f.name).tolist() for f in fields(trades)},
        results.statistics.to_json() if results.statistics else None,
    )


def session_outcome(session: PlaybackSession) -> tuple:
    """The outcome as the session's readers see it: the results of its latest snapshot."""
    return outcome(session._pipeline, session.results())


def run_to_end(session: PlaybackSession) -> None:
    session.play()
    assert session.wait(30)
    assert session.snapshot().state is PlaybackState.DONE


# -- chunk invariance: the property every speed relies on ------------------------------------


@settings(max_examples=25, deadline=None)
@given(instants=st.lists(st.floats(0, 1), max_size=25), costly=st.booleans())
def test_the_pipeline_gives_the_same_results_whatever_the_clock_steps(instants, costly):
    bars = week()
    rules = COSTLY if costly else None
    expected = reference(bars, rules=rules)
    pipeline = Pipeline(bars, SPECS, rules)
    span = pipeline.end - pipeline.clock
    for fraction in sorted(instants):
        pipeline.advance_to(pipeline.clock + int(fraction * (pipeline.end - pipeline.clock)))
        pipeline.curve()  # the equity marked in the batches the steps make
    pipeline.advance_to(pipeline.end)
    assert span > 0 and len(expected.signals) > 20
    assert outcome(pipeline) == outcome(expected)


# -- speeds ----------------------------------------------------------------------------------


def test_speed_zero_plays_everything_and_matches_one_batch():
    bars = week()
    session = PlaybackSession(bars, SPECS).start()
    run_to_end(session)
    snapshot = session.snapshot()
    assert snapshot.bars_processed == snapshot.bars_total == len(bars)
    assert session_outcome(session) == outcome(reference(bars))
    session.stop()


def test_a_session_without_a_chart_gives_the_same_results_with_the_bars_its_strategies_read():
    """As `backtest` plays one: no timeframe derived for a chart, nothing else changed."""
    bars = week()
    session = PlaybackSession(bars, SPECS, chart=False).start()
    run_to_end(session)
    assert session_outcome(session) == outcome(reference(bars))
    assert set(session.snapshot().bars) == {"1m", "15m"}  # the stored and a strategy's
    session.stop()


@given(bars=st.integers(1, 10**7), seconds=st.floats(0.0, 100.0))
def test_the_next_advance_at_speed_zero_fits_its_time_at_the_last_ones_pace(bars, seconds):
    chunk = playback.next_chunk(bars, seconds)
    assert 1 <= chunk <= 4 * bars
    if seconds > 0 and chunk > 1:
        assert chunk * seconds / bars <= playback.ADVANCE_S * (1 + 1e-9)  # fits its time
    if seconds > 0 and chunk < 4 * bars:  # and one bar more would not
        assert (chunk + 1) * seconds / bars > playback.ADVANCE_S * (1 - 1e-9)


class PacedClock(FakeWallClock):
    """Wall time that passes as the session processes bars: `per_bar` seconds each."""

    def __init__(self, per_bar: float) -> None:
        super().__init__()
        self.per_bar = per_bar
        self.session: PlaybackSession | None = None

    def now(self) -> float:
        assert self.session is not None
        return self.t + self.session._pipeline.processed * self.per_bar


@pytest.mark.parametrize("per_bar", [1e-6, 2e-5, 1e-3])
def test_speed_zero_sizes_its_advances_by_the_pace_of_the_strategies(per_bar):
    """A slow session moves in advances that take about ADVANCE_S (whole sessions: one at
    least), a fast one in fewer, larger ones; the results are those of one batch."""
    bars = minute_bars("2024-03-04", "2024-04-12")  # 29 sessions
    clock = PacedClock(per_bar)
    session = clock.session = PlaybackSession(bars, SPECS, clock=clock)
    session.start()
    run_to_end(session)
    batches = session.snapshot().metrics.batches
    per_session = len(bars) // len(bars.sessions)
    fitting = max(1, int(playback.ADVANCE_S / per_bar) // per_session)  # sessions an advance
    first = -(-playback.CHUNK_BARS // per_session)
    left = len(bars.sessions) - first
    if fitting >= first:  # growing by 4x at most: 4096 bars, then the rest
        assert batches == 1 + (left > 0)
    else:
        assert -(-left // (fitting + 1)) + 1 <= batches <= -(-left // fitting) + 1
    assert session_outcome(session) == outcome(reference(bars))
    session.stop()


def test_speed_3600_gives_the_signals_of_speed_zero_at_the_times_the_clock_says():
    bars = minute_bars("2024-03-04", "2024-03-06")
    emitted = []
    wall = FakeWallClock()
    session = PlaybackSession(
        bars,
        SPECS,
        speed=3600,
        clock=wall,
        on_signals=lambda signals: emitted.extend((wall.now(), s) for s in signals),
    ).start(playing=True)
    assert session.wait(30)
    expected = reference(bars)
    assert session_outcome(session) == outcome(expected)
    # Three sessions of 6.5 wall seconds each, back to back: nights take no time.
    assert wall.now() == pytest.approx(3 * SESSION_WALL_S, abs=1e-6)
    # Each signal appears when the clock reaches the end of its bar, not before.
    opens = bars.session_open
    for emitted_at, signal in emitted:
        series = session._pipeline.markets[0].series[signal.timeframe]
        at = int(np.searchsorted(series.timestamps, signal.time_ns))
        session_index = int(series.session[at])
        known = (series.end[at] - opens[session_index]) / NS / 3600
        assert emitted_at == pytest.approx(session_index * SESSION_WALL_S + known, abs=1e-6)
    session.stop()


def test_an_early_close_session_takes_its_own_length_and_holidays_take_none():
    # 2024-11-27 (full), 11-28 Thanksgiving (closed), 11-29 (closes 13:00).
    bars = minute_bars("2024-11-27", "2024-11-29")
    wall = FakeWallClock()
    session = PlaybackSession(bars, SPECS[:1], speed=3600, clock=wall).start(playing=True)
    assert session.wait(30)
    assert wall.now() == pytest.approx((390 + 210) * 60 / 3600, abs=1e-6)
    assert session.snapshot().clock_ns == bars.sessions[-1].close.value
    session.stop()


# -- trading time: closed hours and missing sessions take no wall time ------------------------


def daily_bars(first: str, last: str, drop: tuple[int, ...] = ()) -> SessionBars:
    """Deterministic 1d bars of the sessions dated first..last, without the sessions at `drop`."""
    calendar = calendar_for()
    sessions = calendar.sessions_for_dates(pd.Timestamp(first), pd.Timestamp(last))
    generated = SyntheticMarket(calendar).bars("AAPL", 0, sessions[0].open, sessions[-1].close)
    keep = np.setdiff1d(np.arange(len(generated)), drop)
    prices = np.vstack(
        [generated.open, generated.high, generated.low, generated.close, generated.volume]
    )
    return SessionBars.from_arrays(
        "AAPL", "1d", sessions, generated.start[keep] * NS, prices[:, keep]
    )


def trading_seconds(bars: SessionBars, clock: int) -> float:
    """Market seconds of sessions with stored bars before `clock`: what timed play spends."""
    stored = np.unique(bars.session)
    opens, closes = bars.session_open[stored], bars.session_close[stored]
    return float(np.clip(clock - opens, 0, closes - opens).sum() / NS)


def play_recording(bars: SessionBars, speed: float, specs=SPECS) -> tuple[PlaybackSession, list]:
    """Play `bars` to the end at `speed` on a fake wall clock, recording at every sleep the wall
    time, the market clock, the bars processed and the latest snapshot."""
    seen = []

    class Recording(FakeWallClock):
        def wait(self, condition, seconds: float) -> None:
            pipeline = session._pipeline  # on the worker, before the sleep
            seen.append((self.t, pipeline.clock, pipeline.processed, session.snapshot()))
            super().wait(condition, seconds)

    session = PlaybackSession(bars, specs, speed=speed, clock=Recording())
    session.start(playing=True)
    assert session.wait(30)
    assert session.snapshot().state is PlaybackState.DONE
    return session, seen


@pytest.fixture
def every_snapshot(monkeypatch):
    """Snapshots published at every step of the worker, not at most every 50 ms."""
    monkeypatch.setattr(playback, "SNAPSHOT_INTERVAL_S", 0.0)


def test_a_session_without_bars_takes_no_wall_time_and_is_named_while_passed(every_snapshot):
    # Mon, Tue, Wed stored but Tuesday's bars are missing.
    bars = minute_bars("2024-03-04", "2024-03-06", drop=tuple(range(390, 780)))
    monday, tuesday, wednesday = bars.sessions
    session, seen = play_recording(bars, speed=360)
    # Two stored sessions at 360x: 65 s each, and not a moment for Tuesday.
    assert session._wall.now() == pytest.approx(2 * SESSION_S / 360, abs=1e-6)
    # The clock moves with wall time, at 360x through trading time, and never waits in Tuesday.
    for wall, clock, _, _ in seen:
        assert trading_seconds(bars, clock) / 360 == pytest.approx(wall, abs=1e-6)
        assert not tuesday.open.value <= clock < tuesday.close.value
    # The snapshot names the missing day while the clock is in the session after it.
    named = {snapshot.session_date: snapshot.missing_dates for *_, snapshot in seen}
    assert named == {monday.date: (), wednesday.date: (tuesday.date,)}
    assert session_outcome(session) == outcome(reference(bars))
    assert session.snapshot().quality_pct == pytest.approx(100 * 2 / 3)
    session.stop()


@settings(max_examples=8, deadline=None)
@given(dropped=st.sets(st.integers(0, 2), max_size=3))
def test_wall_time_is_the_trading_time_of_the_stored_sessions_over_the_speed(dropped):
    # Any of Fri 03-01, Mon 03-04 and Tue 03-05 without bars: a weekend in between.
    bars = minute_bars(
        "2024-03-01",
        "2024-03-05",
        drop=tuple(i for d in sorted(dropped) for i in range(d * 390, (d + 1) * 390)),
    )
    session, seen = play_recording(bars, speed=3600)
    assert session._wall.now() == pytest.approx((3 - len(dropped)) * SESSION_WALL_S, abs=1e-6)
    assert session.snapshot().clock_ns == bars.sessions[-1].close.value
    for wall, clock, _, _ in seen:
        assert trading_seconds(bars, clock) / 3600 == pytest.approx(wall, abs=1e-6)
    assert session_outcome(session) == outcome(reference(bars))
    session.stop()


def test_missing_first_and_last_sessions_are_named_and_skipped():
    bars = minute_bars("2024-03-04", "2024-03-06", drop=(*range(390), *range(780, 1170)))
    monday, _, wednesday = bars.sessions
    wall = FakeWallClock()
    session = PlaybackSession(bars, SPECS, speed=360, clock=wall)
    assert session.snapshot().missing_dates == (monday.date,)  # at Monday's open, before play
    session.start(playing=True)
    assert session.wait(30)
    snapshot = session.snapshot()
    assert snapshot.state is PlaybackState.DONE
    assert wall.now() == pytest.approx(SESSION_S / 360, abs=1e-6)
    assert snapshot.clock_ns == wednesday.close.value
    assert snapshot.missing_dates == (wednesday.date,)
    session.stop()


def test_daily_bars_take_a_session_each_and_the_clock_moves_between_them(every_snapshot):
    # Mon..Fri with Wednesday missing, at 360x: a 6.5-hour session is 65 s.
    bars = daily_bars("2024-03-04", "2024-03-08", drop=(2,))
    session, seen = play_recording(bars, speed=360, specs=SPECS[:1])
    per_bar = SESSION_S / 360
    assert session._wall.now() == pytest.approx(4 * per_bar, abs=1e-6)
    # Bar k completes k + 1 sessions in: the first look with k + 1 bars processed.
    completed = {}
    for wall, _, processed, _ in seen:
        completed.setdefault(processed, wall)
    assert [completed[k + 1] for k in range(3)] == pytest.approx(
        [per_bar, 2 * per_bar, 3 * per_bar], abs=1e-6
    )
    # In between, the clock moves every tick rather than sitting at the open for 65 s.
    assert max(b[0] - a[0] for a, b in itertools.pairwise(seen)) <= playback.CLOCK_TICK_S + 1e-9
    for wall, clock, _, _ in seen:
        assert trading_seconds(bars, clock) / 360 == pytest.approx(wall, abs=1e-6)
    thursday = bars.sessions[3].date
    assert {s.missing_dates for *_, s in seen if s.session_date == thursday} == {
        (bars.sessions[2].date,)
    }
    session.stop()


@settings(max_examples=20, deadline=None)
@given(dropped=st.sets(st.integers(0, 7), max_size=8))
def test_the_snapshot_names_the_run_of_missing_sessions_the_clock_is_in_or_just_after(dropped):
    bars = daily_bars("2024-03-04", "2024-03-13", drop=tuple(sorted(dropped)))
    sessions = bars.sessions
    session = PlaybackSession(bars, SPECS[:1]).start()
    for index, day in enumerate(sessions):
        # The run holding this session, else the one right before it.
        start = index if index in dropped else index - 1
        lo = hi = start
        while start in dropped and lo - 1 in dropped:
            lo -= 1
        while hi in dropped:
            hi += 1
        expected = tuple(s.date for s in sessions[lo:hi])
        session.seek(day.open)
        assert session.wait(10)
        assert session.snapshot().missing_dates == expected
    session.stop()


def test_wall_time_spent_paused_moves_no_market_time():
    bars = minute_bars("2024-03-04", "2024-03-04")
    wall = FakeWallClock(on_wait=lambda wall: wall.waits == 50 and session.pause())
    # Named before it starts: the worker may reach its 50th wait before `start` returns.
    session = PlaybackSession(bars, SPECS[:1], speed=60, clock=wall)
    session.start(playing=True)
    assert session.wait(30)
    paused = session.snapshot()
    assert paused.state is PlaybackState.PAUSED and paused.bars_processed > 0
    wall.t += 3600  # an hour at rest
    wall.on_wait = lambda wall: session.pause()  # resume for one step only
    session.play()
    assert session.wait(30)
    assert session.snapshot().clock_ns == paused.clock_ns
    session.stop()


def test_changing_speed_and_pausing_mid_session_changes_nothing():
    bars = minute_bars("2024-03-04", "2024-03-05")
    plan = {40: ("speed", 360.0), 90: ("pause", None), 150: ("speed", 0.0)}

    def act(wall: FakeWallClock) -> None:
        action = plan.get(wall.waits)
        if action == ("pause", None):
            session.pause()
            threading.Thread(target=session.play).start()  # resumed from another thread
        elif action is not None:
            session.set_speed(action[1])

    session = PlaybackSession(bars, SPECS, speed=3600, clock=FakeWallClock(act))
    session.start(playing=True)
    assert session.wait(30)
    while session.snapshot().state is not PlaybackState.DONE:
        assert session.wait(30)
    assert session_outcome(session) == outcome(reference(bars))
    assert session.snapshot().speed == 0.0
    session.stop()


def test_sized_costly_shorting_rules_give_the_same_results_at_every_speed_and_control():
    bars = minute_bars("2024-03-04", "2024-03-05")
    expected = outcome(reference(bars, rules=COSTLY))
    trades = expected[5]
    assert -1 in trades["side"] and 1 in trades["side"] and min(trades["commission"]) >= 1.0
    assert len(set(trades["size"])) > 1  # sized on the equity as the fills left it
    for speed in (0.0, 3600.0):
        session = PlaybackSession(bars, SPECS, COSTLY, speed=speed, clock=FakeWallClock())
        run_to_end(session.start())
        assert session_outcome(session) == expected
        session.stop()
    # Steps, a seek back (a new run), a seek forward, a look at the results midway, then play.
    session = PlaybackSession(bars, SPECS, COSTLY).start()
    for _ in range(30):
        session.step()
    session.seek(bars.sessions[1].open + pd.Timedelta(minutes=77))
    assert session.wait(10)
    midway = session.results()
    assert len(midway.curve) == session.snapshot().bars_processed == 390 + 77
    session.seek(bars.sessions[0].open + pd.Timedelta(minutes=200))
    assert session.wait(10)
    assert session.snapshot().generation == 1 and len(session.results().curve) == 200
    session.set_speed(3600.0)
    run_to_end(session)
    assert session_outcome(session) == expected
    session.stop()


# -- pause, step, seek, restart --------------------------------------------------------------


def test_step_processes_exactly_one_bar_and_crosses_into_the_next_session():
    bars = minute_bars("2024-03-04", "2024-03-05")
    session = PlaybackSession(bars, SPECS).start()
    session.seek(bars.sessions[0].close - pd.Timedelta(minutes=2))
    assert session.wait(10)
    assert session.snapshot().bars_processed == 388
    for expected in (389, 390, 391):
        session.step()
        assert session.wait(10)
        snapshot = session.snapshot()
        assert snapshot.state is PlaybackState.PAUSED
        assert snapshot.bars_processed == expected
        assert snapshot.clock_ns == bars.end[expected - 1]
    assert session.snapshot().session_date == bars.sessions[1].date
    session.stop()


def test_steps_seeks_back_and_forth_and_resume_end_with_the_same_results():
    bars = week()
    session = PlaybackSession(bars, SPECS).start()
    for _ in range(25):
        session.step()
    session.seek(bars.sessions[2].open + pd.Timedelta(minutes=97))
    session.wait(10)
    before = session.snapshot().generation
    session.seek(bars.sessions[1].open + pd.Timedelta(minutes=5))  # back: replays from the start
    session.wait(10)
    snapshot = session.snapshot()
    assert snapshot.generation == before + 1
    assert snapshot.bars_processed == 390 + 5
    assert all(s.time_ns < snapshot.clock_ns for s in session._pipeline.signals)
    session.step()
    run_to_end(session)
    assert session_outcome(session) == outcome(reference(bars))
    session.stop()


def test_restart_goes_back_to_the_first_open_with_results_cleared():
    bars = minute_bars("2024-03-04", "2024-03-05")
    session = PlaybackSession(bars, SPECS).start()
    run_to_end(session)
    session.restart()
    assert session.wait(10)
    snapshot = session.snapshot()
    assert (snapshot.state, snapshot.bars_processed, snapshot.signals) == (
        PlaybackState.PAUSED,
        0,
        0,
    )
    assert snapshot.clock_ns == bars.sessions[0].open.value
    assert snapshot.equity == TradingRules().cash
    run_to_end(session)
    assert session_outcome(session) == outcome(reference(bars))
    session.stop()


def test_controls_hammered_from_other_threads_never_change_a_result():
    bars = week()
    session = PlaybackSession(bars, SPECS).start(playing=True)
    rng = np.random.default_rng(3)
    targets = [
        bars.sessions[0].open + pd.Timedelta(minutes=int(m)) for m in rng.integers(0, 2000, 8)
    ]

    def hammer(seed: int) -> None:
        local = np.random.default_rng(seed)
        for _ in range(30):
            choice = local.integers(0, 5)
            if choice == 0:
                session.pause()
            elif choice == 1:
                session.play()
            elif choice == 2:
                session.step()
            elif choice == 3:
                session.seek(targets[local.integers(0, len(targets))])
            else:
                session.set_speed(0.0)

    threads = [threading.Thread(target=hammer, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_to_end(session)
    assert session_outcome(session) == outcome(reference(bars))
    session.stop()


# -- what the session reports ----------------------------------------------------------------


def test_snapshot_reports_bars_of_every_timeframe_position_and_equity():
    bars = week()
    session = PlaybackSession(bars, SPECS).start()
    run_to_end(session)
    snapshot = session.snapshot()
    pipeline = session._pipeline
    assert set(snapshot.bars) == {"1m", "5m", "15m", "30m", "1h"}
    assert snapshot.bars["1h"].timestamps[-1] == bars.sessions[-1].close.value - 30 * 60 * NS
    assert snapshot.bars["1m"].close[-1] == bars.close[-1]
    assert len(snapshot.bars["1m"]) == 120
    last_close = bars.close[-1]
    assert snapshot.equity == pytest.approx(snapshot.cash + snapshot.position * last_close)
    assert snapshot.return_pct == pytest.approx((snapshot.equity / 100_000 - 1) * 100)
    # The equity curve and the fills so far, as columns.
    assert len(snapshot.curve) == snapshot.bars_processed
    assert snapshot.curve.equity[-1] == snapshot.equity
    assert snapshot.curve.cash[-1] == snapshot.cash
    assert len(snapshot.fills) == len(pipeline.account.fills) > 0
    assert snapshot.fills.price.tolist() == [fill.price for fill in pipeline.account.fills]
    assert np.array_equal(
        snapshot.fills.action, [1 if f.action == "BUY" else -1 for f in pipeline.account.fills]
    )
    # The trades and statistics, computed when asked for: the same object for the same snapshot.
    results = session.results()
    assert session.results() is results and session.results(snapshot) is results
    assert results.statistics.final_equity == snapshot.equity
    open_trades = results.trades.pnl[results.trades.open]
    assert snapshot.open_pnl == pytest.approx(open_trades.sum())
    assert (snapshot.position != 0) == (len(open_trades) > 0)
    assert snapshot.signals == len(pipeline.signals) == snapshot.approved + snapshot.rejected
    assert snapshot.recent_signals[-1] == pipeline.signals[-1]
    assert snapshot.quality_pct == 100.0
    metrics = snapshot.metrics
    assert metrics.bars == snapshot.bars_processed and metrics.batches >= 1
    assert metrics.trading_days == len(bars.sessions)
    assert metrics.stage("strategies").seconds > 0 and metrics.seconds > 0
    session.stop()


def test_approved_signals_fill_at_the_next_bars_open_within_the_position_limit():
    bars = week()
    pipeline = reference(bars, SPECS[:2])
    approved = [s for s in pipeline.signals if s.approved]
    fills = pipeline.account.fills
    assert len(fills) == len(approved) > 5
    for signal, fill in zip(approved, fills, strict=True):
        series = pipeline.markets[0].series[signal.timeframe]
        at = int(np.searchsorted(series.timestamps, signal.time_ns))
        next_bar = int(np.searchsorted(bars.timestamps, series.end[at]))
        assert (fill.action, fill.time_ns, fill.price) == (
            signal.action,
            bars.timestamps[next_bar],
            bars.open[next_bar],
        )
    position = np.cumsum([100 if f.action == "BUY" else -100 for f in fills])
    assert position.min() >= 0 and position.max() <= 100
    limited = [s for s in pipeline.signals if s.reason.startswith("position limit")]
    assert limited, "two strategies on one account must hit the limit"


def test_the_pipeline_falls_behind_and_says_so():
    bars = minute_bars("2024-03-04", "2024-03-04")

    class SlowMachine(FakeWallClock):
        def now(self) -> float:
            self.t += 0.05  # every look at the clock finds 3 market minutes gone
            return self.t

    session = PlaybackSession(bars, SPECS[:1], speed=3600, clock=SlowMachine()).start(playing=True)
    assert session.wait(30)
    snapshot = session.snapshot()
    assert snapshot.overruns > 0
    assert session_outcome(session) == outcome(reference(bars, SPECS[:1]))
    session.stop()


def test_a_failing_listener_fails_the_session_with_its_reason():
    def broken(signals) -> None:
        raise OSError("disk full")

    session = PlaybackSession(week(), SPECS, on_signals=broken).start(playing=True)
    assert session.wait(10)
    snapshot = session.snapshot()
    assert snapshot.state is PlaybackState.FAILED
    assert snapshot.error == "OSError: disk full"
    session.stop()


def test_stop_ends_the_worker():
    session = PlaybackSession(week(), SPECS).start()
    session.stop()
    assert session.snapshot().state is PlaybackState.STOPPED
    assert not session._thread.is_alive()


# 1e-300: the backtest request refused it, the session did not (one rule now)
@pytest.mark.parametrize("speed", [-1.0, float("nan"), float("inf"), 1e-300])
def test_a_bad_speed_is_refused(speed):
    with pytest.raises(ValueError, match=r"speed must be 0 .* at least 0.01"):
        PlaybackSession(week(), SPECS, speed=speed)
    session = PlaybackSession(week(), SPECS)
    with pytest.raises(ValueError, match=r"speed must be 0 .* at least 0.01"):
        session.set_speed(speed)


def test_a_strategy_on_a_timeframe_the_session_cannot_derive_is_refused():
    with pytest.raises(SessionSetupError, match="timeframe 4h cannot be read from 1m bars"):
        Pipeline(week(), [StrategySpec.parse("rsi:timeframe=4h")])


def test_daily_bars_play_session_by_session():
    calendar = calendar_for()
    sessions = calendar.sessions_for_dates(pd.Timestamp("2023-01-03"), pd.Timestamp("2023-12-29"))
    generated = SyntheticMarket(calendar).bars("AAPL", 0, sessions[0].open, sessions[-1].close)
    prices = np.vstack(
        [generated.open, generated.high, generated.low, generated.close, generated.volume]
    )
    bars = SessionBars.from_arrays("AAPL", "1d", sessions, generated.start * NS, prices)
    assert len(bars) == len(sessions) and bars.ignored == 0
    specs = [StrategySpec.parse("sma_crossover:fast=3,slow=10")]
    wall = FakeWallClock()
    session = PlaybackSession(bars, specs, speed=3600 * 24, clock=wall).start(playing=True)
    assert session.wait(30)
    assert session_outcome(session) == outcome(reference(bars, specs))
    assert len(session._pipeline.signals) > 5
    session.stop()


def test_the_snapshot_says_playing_before_the_first_bar_is_due():
    seen = []

    def look(wall: FakeWallClock) -> None:
        seen.append(session.snapshot().state)
        session.pause()  # one look is enough: at 1x the week is 117,000 ticks

    session = PlaybackSession(week(), SPECS, speed=1.0, clock=FakeWallClock(on_wait=look))
    session.start(playing=True)
    assert session.wait(30)
    assert seen[0] is PlaybackState.PLAYING
    session.stop()
