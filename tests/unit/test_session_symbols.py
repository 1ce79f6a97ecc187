"""Sessions of several symbols (DESIGN.md, "Sessions"): every strategy on every symbol, one
account. Each symbol's signals equal its own session's where the cash never binds; the
portfolio's equity is its cash plus every position at its symbol's last close; and the results
are the same however the clock moves, at every speed, across pauses, steps and seeks."""

from __future__ import annotations

import functools
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import calendar_for
from engine.session.bars import NS, SessionBars
from engine.session.pipeline import Pipeline, SessionSetupError
from engine.session.playback import PlaybackSession, PlaybackState
from engine.session.results import SessionResults
from engine.strategy import Strategy
from engine.strategy.spec import StrategySpec
from engine.trading_rules import TradingRules
from tests.support.fakes import FakeWallClock

SYMBOLS = ("AAPL", "MSFT", "SPY")
SPECS = (
    StrategySpec.parse("sma_crossover:fast=5,slow=20"),
    StrategySpec.parse("rsi:period=14,oversold=30,overbought=70"),
    StrategySpec.parse("sma_crossover:fast=3,slow=8,timeframe=15m"),
)
# Every part of a decision depends on the one account: sized on the equity, costs, shorts,
# and little enough cash that one symbol's position leaves none for another's.
SHARED = TradingRules.from_text(
    {
        "cash": "20000",
        "size": "40%",
        "max_position": "1000",
        "commission": "0.1%",
        "min_commission": "1",
        "slippage": "1bp",
        "short": True,
    }
)
CURVE_COLUMNS = ("timestamp", "cash", "position", "equity", "drawdown_pct", "exposed")


@functools.cache
def minute_bars(symbol: str, drop: tuple[int, ...] = ()) -> SessionBars:
    """A week of `symbol`'s deterministic 1m bars, without the bars at `drop`."""
    calendar = calendar_for()
    sessions = calendar.sessions_for_dates(pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-08"))
    generated = SyntheticMarket(calendar).bars(symbol, 60, sessions[0].open, sessions[-1].close)
    keep = np.setdiff1d(np.arange(len(generated)), drop)
    prices = np.vstack(
        [generated.open, generated.high, generated.low, generated.close, generated.volume]
    )
    return SessionBars.from_arrays(
        symbol, "1m", sessions, generated.start[keep] * NS, prices[:, keep]
    )


def market() -> list[SessionBars]:
    """Three symbols; MSFT lacks most of Tuesday and SPY an hour of Thursday, so their bars do
    not line up with AAPL's everywhere."""
    return [
        minute_bars("AAPL"),
        minute_bars("MSFT", tuple(range(400, 700))),
        minute_bars("SPY", tuple(range(1200, 1260))),
    ]


def finished(bars, specs=SPECS, rules: TradingRules | None = None) -> Pipeline:
    pipeline = Pipeline(bars, specs, rules)
    pipeline.advance_to(pipeline.end)
    return pipeline


def outcome(pipeline: Pipeline, results: SessionResults | None = None) -> tuple:
    """Everything a run gives, compared exactly."""
    results = results or pipeline.results()
    curve, trades = results.curve, results.trades
    return (
        list(pipeline.signals),
        list(pipeline.account.fills),
        pipeline.account.cash,
        {name: getattr(curve, name).tolist() for name in CURVE_COLUMNS},
        {f.name: getattr(trades, f.name).tolist() for f in fields(trades)},
        results.statistics.to_json() if results.statistics else None,
        [share.to_json() for share in results.by_symbol],
    )


def test_each_symbols_signals_equal_its_own_session_when_the_cash_never_binds():
    rich = TradingRules(cash=10_000_000)
    together = finished(market(), rules=rich)
    assert together.symbols == SYMBOLS
    for bars in market():
        alone = finished(bars, rules=rich)
        mine = [s for s in together.signals if s.symbol == bars.symbol]
        assert mine == list(alone.signals) and len(mine) > 20
        fills = [f for f in together.account.fills if f.symbol == bars.symbol]
        assert fills == list(alone.account.fills)
        share = next(s for s in together.results().by_symbol if s.symbol == bars.symbol)
        assert share.trades == len(alone.results().trades)
        assert share.pnl == pytest.approx(float(alone.results().trades.pnl.sum()))


def test_the_portfolio_equity_is_the_cash_plus_every_position_at_its_last_close():
    pipeline = finished(market(), rules=SHARED)
    curve = pipeline.results().curve
    fills = pipeline.account.fills.view()
    value = np.zeros(len(curve))
    for index, bars in enumerate(pipeline.markets):
        mine = fills.of_symbol(index)
        # Shares held at each instant: every fill at a bar that started at or before it.
        held = np.cumsum(mine.size)[np.searchsorted(mine.time_ns, curve.timestamp, "right") - 1]
        held[np.searchsorted(mine.time_ns, curve.timestamp, "right") == 0] = 0
        last = np.searchsorted(bars.bars.timestamps, curve.timestamp, "right") - 1
        close = np.where(last >= 0, bars.bars.close[np.maximum(last, 0)], 0.0)
        value += held * close
    assert len(fills.symbol) > 20 and set(fills.symbol.tolist()) == {0, 1, 2}
    # Every instant any symbol has a bar, once.
    union = np.unique(np.concatenate([bars.timestamps for bars in market()]))
    assert curve.timestamp.tolist() == union.tolist()
    np.testing.assert_allclose(curve.equity, curve.cash + value, rtol=0, atol=1e-6)
    assert curve.equity[-1] == pytest.approx(pipeline.equity)
    shares = pipeline.results().by_symbol
    total_pnl = sum(share.pnl for share in shares)
    costs_at_exit = 0.0  # open trades are marked at the last close before any exit cost
    assert total_pnl == pytest.approx(pipeline.equity - SHARED.cash - costs_at_exit, abs=1e-6)


def test_one_account_a_symbols_position_takes_the_cash_another_would_need():
    class BuyEveryBar(Strategy):
        """Buys at every bar."""

        name = "buy_every_bar"

        def on_bar(self, bars) -> None:
            self.buy(reason="always")

    rules = TradingRules.from_text({"cash": "20000", "size": "10", "max_position": "10"})
    pipeline = finished(market()[:2], [StrategySpec(BuyEveryBar, ())], rules)
    first_two = pipeline.signals[:2]
    # Both symbols' first bars end at the same instant: AAPL is decided first and takes the
    # cash for its 10 shares; MSFT's 10 shares then cost more than what is left.
    assert [s.symbol for s in first_two] == ["AAPL", "MSFT"]
    assert first_two[0].approved
    assert not first_two[1].approved and first_two[1].reason.startswith("cash: ")
    alone = finished(market()[1], [StrategySpec(BuyEveryBar, ())], rules)
    assert alone.signals[0].approved  # alone, MSFT's account has the cash


@settings(max_examples=20, deadline=None)
@given(instants=st.lists(st.floats(0, 1), max_size=20))
def test_the_results_are_the_same_whatever_the_clock_steps(instants):
    expected = finished(market(), rules=SHARED)
    pipeline = Pipeline(market(), SPECS, SHARED)
    for fraction in sorted(instants):
        pipeline.advance_to(pipeline.clock + int(fraction * (pipeline.end - pipeline.clock)))
        pipeline.curve()  # the equity marked in the batches the steps make
    pipeline.advance_to(pipeline.end)
    assert outcome(pipeline) == outcome(expected)


def played(speed: float) -> tuple:
    session = PlaybackSession(market(), SPECS, SHARED, speed=speed, clock=FakeWallClock())
    session.start(playing=True)
    assert session.wait(60)
    assert session.snapshot().state is PlaybackState.DONE
    session.stop()
    return outcome(session._pipeline, session.results())


def test_speed_0_and_3600_and_pauses_steps_and_seeks_give_the_same_results():
    expected = outcome(finished(market(), rules=SHARED))
    assert played(0) == expected
    assert played(3600) == expected
    steps = iter(range(40))

    def meddle(clock: FakeWallClock) -> None:
        """Inside the worker's sleeps: step, seek back, seek forward, pause."""
        n = next(steps, None)
        if n in (3, 4, 5):
            session.step()
        elif n == 8:
            session.seek(pd.Timestamp("2024-03-05 15:00", tz="UTC"))  # back: replays
        elif n == 12:
            session.seek(pd.Timestamp("2024-03-07 16:00", tz="UTC"))
        elif n == 15:
            session.pause()

    session = PlaybackSession(market(), SPECS, SHARED, speed=3600, clock=FakeWallClock(meddle))
    session.start(playing=True)
    for _ in range(10):  # each step and the pause leave it paused: play on
        assert session.wait(60)
        if session.snapshot().state is PlaybackState.DONE:
            break
        session.play()
    assert session.snapshot().state is PlaybackState.DONE
    assert next(steps, 40) > 15  # every meddling happened
    session.stop()
    assert outcome(session._pipeline, session.results()) == expected


def test_a_snapshot_carries_each_symbols_position_and_the_chart_symbol_asked_for():
    session = PlaybackSession(market(), SPECS, SHARED).start()
    session.play()
    assert session.wait(30)
    snapshot = session.snapshot()
    assert snapshot.positions == tuple(session._pipeline.account.positions)
    assert snapshot.chart_symbol == "AAPL"
    assert snapshot.bars["1m"].close[-1] == market()[0].close[-1]
    session.chart("SPY")
    assert session.wait(5)
    assert _eventually(lambda: session.snapshot().chart_symbol == "SPY")
    assert session.snapshot().bars["1m"].close[-1] == market()[2].close[-1]
    assert session.snapshot().bars_total == sum(len(bars) for bars in market())
    session.stop()


def _eventually(condition) -> bool:
    """The worker publishes the new snapshot right after it wakes: wait on its condition."""
    import threading

    done = threading.Event()
    for _ in range(1000):
        if condition():
            return True
        done.wait(0.005)
    return condition()


def test_a_failing_strategy_names_its_symbol_and_the_others_go_on():
    class FailsOnMsft(Strategy):
        """Fails on MSFT's 10th bar."""

        name = "fails_on_msft"

        def on_bar(self, bars) -> None:
            if len(bars) == 10 and bars.close[0] == market()[1].close[0]:
                raise RuntimeError("no MSFT today")

    rich = TradingRules(cash=10_000_000)
    pipeline = finished(market(), [StrategySpec(FailsOnMsft, ()), *SPECS[:1]], rich)
    (failure,) = pipeline.failures
    assert failure.symbol == "MSFT"
    assert failure.describe().startswith("strategy fails_on_msft on MSFT stopped at the bar of")
    alone = finished(market()[1], SPECS[:1], rich)
    assert [s for s in pipeline.signals if s.symbol == "MSFT"] == list(alone.signals)


def test_symbols_that_do_not_share_a_clock_are_refused():
    aapl, msft, _ = market()
    with pytest.raises(SessionSetupError, match="AAPL given more than once"):
        Pipeline([aapl, aapl], SPECS)
    other_week = SessionBars.from_arrays(
        "MSFT", "1m", list(msft.sessions[:3]), msft.timestamps, np.vstack([msft.close] * 5)
    )
    with pytest.raises(SessionSetupError, match="does not cover the sessions"):
        Pipeline([aapl, other_week], SPECS)
