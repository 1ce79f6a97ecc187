"""The backtest engine against its peers, on the same generated bars, in one run.

    python -m bench.bench_session [--years N] [--skip-peers]

Bars: N years (default 5: sessions 2019-01-02 … 2023-12-29, ~490,000 bars) of deterministic 1m
AAPL bars from the simulated gateway's generator, held in memory. Prints, each with its goal:

  1. this engine's full pipeline at speed 0 (derived 5m…1h bars, quality, strategies,
     decisions, fills) as the app plays it, `PlaybackSession(bars, specs, speed=0)
     .start(playing=True)` then `wait()`: bars per second, median of 3, from building the
     session to done. With the peers' SMA crossover alone (every crossover traded, as the peers
     do; and with the default risk rules) and with RSI beside it. Then the time to read the
     same bars from a Parquet `BarStore` (written once to a temporary one), apart, and bars per
     second counting that read;
  2. backtrader and backtesting.py running the same SMA crossover (10/30 on the 1m close,
     long-only, 100 shares: buy at the next open when the fast SMA crosses above the slow one,
     close when it crosses below) on the same bars: bars per second of their run (median of 3
     for backtesting.py; backtrader, slow, once), their orders, and engine/peer ratios. They
     are not dependencies: `pip install backtrader backtesting` to include them;
  3. peak RSS of the engine's run alone (SMA + RSI over all the bars), in a fresh process so
     that nothing the peers allocated counts: after imports, with the bars generated (whose
     own peak is shown apart), and the peak during the run (VmHWM, reset after generating);
  4. at speed 3600, with the real wall clock, the wall time of one regular session (390
     minutes) from play to the close, against 390 min / 3600 = 6.5 s; overruns and behind_s.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import Played, minute_bars, peer_frame, play, run_peak, verdict
from engine.market.calendar import calendar_for
from engine.market.schema import bars_frame
from engine.market.store import BarStore
from engine.session.bars import SessionBars, read_session_bars
from engine.trading_rules import TradingRules

FAST, SLOW = 10, 30
SMA = f"sma_crossover:fast={FAST},slow={SLOW}"
RSI = "rsi:period=14,oversold=30,overbought=70"
SHARES = 100
RUNS = 3
RATE_GOAL = 1_000_000
BOTH_GOAL = 3_000_000  # issue 14: the built-ins got faster
MEMORY_GOAL_MB = 500
SESSION_GOAL_PCT = 2.0
CALENDAR = calendar_for()
# The peers trade every crossover; so does the engine in the comparison (its confidence check
# would otherwise reject the weak ones), every stage still running.
EVERY_CROSSOVER = TradingRules(min_confidence=0.0)
FILL_NOTE = (
    "   Orders may differ a little: each has its own rules. All three fill at the next open;\n"
    "   the engine and backtesting.py take a strict cross (a < b, then a > b), backtrader's\n"
    "   CrossOver also one through bars where the SMAs are equal; and each sums its SMAs its\n"
    "   own way, so a near-tie can round to a cross in one and not in another."
)


# -- the bars ---------------------------------------------------------------------------------


def first_session_only(bars: SessionBars) -> SessionBars:
    first = bars.sessions[0]
    assert first.minutes == 390, "the first session must be a regular one"
    count = int(np.searchsorted(bars.timestamps, first.close.value))
    prices = np.vstack([bars.open, bars.high, bars.low, bars.close, bars.volume])[:, :count]
    return SessionBars.from_arrays("AAPL", "1m", [first], bars.timestamps[:count], prices)


# -- 1. the engine at speed 0 -----------------------------------------------------------------


@dataclass(frozen=True)
class EngineRate:
    label: str
    rate: float  # bars per second, setup included, median run
    played: Played  # the median run


def engine_rate(
    bars: SessionBars, label: str, specs: list[str], rules: TradingRules | None = None
) -> EngineRate:
    runs = sorted((play(bars, specs, rules=rules) for _ in range(RUNS)), key=lambda p: p.total_s)
    median = runs[len(runs) // 2]
    return EngineRate(label, len(bars) / median.total_s, median)


def store_read_s(bars: SessionBars) -> float:
    """Median seconds to read the bars back from a Parquet store, as a session opens them."""
    with tempfile.TemporaryDirectory() as folder:
        store = BarStore(Path(folder), CALENDAR)
        columns = {
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": bars.volume,
        }
        store.merge("AAPL", "1m", bars_frame(pd.DatetimeIndex(bars.timestamps, tz="UTC"), columns))
        first, last = bars.sessions[0].date, bars.sessions[-1].date
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            read = read_session_bars(store, CALENDAR, "AAPL", "1m", first, last)
            times.append(time.perf_counter() - started)
            assert len(read) == len(bars) and np.array_equal(read.close, bars.close)
        return statistics.median(times)


# -- 2. the peers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerRate:
    rate: float  # bars per second of the run, median
    orders: int  # buys and closes placed
    runs: int


def backtrader_run(frame: pd.DataFrame) -> int:
    import backtrader as bt

    class SmaCross(bt.Strategy):
        def __init__(self) -> None:
            fast, slow = bt.ind.SMA(period=FAST), bt.ind.SMA(period=SLOW)
            self.cross = bt.ind.CrossOver(fast, slow)
            self.orders = 0

        def next(self) -> None:
            if self.cross > 0 and not self.position:
                self.buy(size=SHARES)
                self.orders += 1
            elif self.cross < 0 and self.position:
                self.close()
                self.orders += 1

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(1e9)
    return cerebro.run()[0].orders


def backtesting_run(frame: pd.DataFrame) -> int:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    def sma(values: np.ndarray, n: int) -> pd.Series:
        return pd.Series(values).rolling(n).mean()

    class SmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)
            self.placed = 0

        def next(self) -> None:
            if crossover(self.fast, self.slow) and not self.position:
                self.buy(size=SHARES)
                self.placed += 1
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()
                self.placed += 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(frame, SmaCross, cash=1e9, commission=0.0).run()
    return stats._strategy.placed


PEERS = [
    # name, module, pip package, run, runs
    ("backtrader", "backtrader", "backtrader", backtrader_run, 1),
    ("backtesting.py", "backtesting", "backtesting", backtesting_run, RUNS),
]


def peer_rate(bars: SessionBars, run, runs: int) -> PeerRate:
    """The peer's own run on a ready DataFrame (building it is not timed): setup and run."""
    frame = peer_frame(bars)
    times, orders = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        orders = run(frame)
        times.append(time.perf_counter() - started)
    return PeerRate(len(bars) / statistics.median(times), orders, runs)


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# -- 3. memory --------------------------------------------------------------------------------


def engine_only(years: int) -> None:
    """The engine's run alone, for the peak-memory figure (run in a fresh process)."""
    print(json.dumps(run_peak(years, ("AAPL",), [SMA, RSI])))


def engine_memory(years: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--years", str(years), "--engine-only"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


# -- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=5, help="years of 1m bars (default 5)")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--engine-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_only:
        engine_only(args.years)
        return

    started = time.perf_counter()
    bars = minute_bars(args.years)
    print(
        f"bars: {len(bars):,} 1m AAPL bars, {len(bars.sessions)} sessions "
        f"{bars.sessions[0].date:%Y-%m-%d} .. {bars.sessions[-1].date:%Y-%m-%d} "
        f"({args.years} years), generated in {time.perf_counter() - started:.1f} s\n"
    )

    sma = engine_rate(bars, "sma, every crossover", [SMA], EVERY_CROSSOVER)
    default = engine_rate(bars, "sma, default rules", [SMA])
    both = engine_rate(bars, "sma + rsi, default rules", [SMA, RSI])
    read_s = store_read_s(bars)
    print(f"1. this engine, speed 0, full pipeline, PlaybackSession (median of {RUNS})")
    print(f"   sma = {SMA}, rsi = {RSI}")
    print(f"   {'':<40} {'bars/s':>11}  {'setup':>7}  {'run':>7}  {'fills':>6}")
    for e in (sma, default, both):
        p = e.played
        print(
            f"   {e.label:<40} {e.rate:>11,.0f}  {p.setup_s * 1000:>5.0f}ms  "
            f"{p.run_s * 1000:>5.0f}ms  {len(p.snapshot.fills):>6}"
        )
    stages = ", ".join(
        f"{stage.stage} {stage.seconds * 1000:.0f}ms"
        for stage in both.played.snapshot.metrics.stages
    )
    print(f"   stages of sma + rsi: {stages}")
    print(
        f"   goal >= {RATE_GOAL:,} bars/s (sma, every crossover): {verdict(sma.rate >= RATE_GOAL)}"
    )
    print(
        f"   goal >= {BOTH_GOAL:,} bars/s (sma + rsi, default rules): "
        f"{verdict(both.rate >= BOTH_GOAL)}"
    )
    print(f"   read of the bars from a Parquet BarStore: {read_s * 1000:.0f} ms (median of {RUNS})")
    for e in (sma, both):
        with_read = len(bars) / (e.played.total_s + read_s)
        print(f"   {e.label + ', read included':<40} {with_read:>11,.0f} bars/s")

    print("\n2. peers, the same SMA crossover on the same bars")
    print(f"   {'':<20} {'bars/s':>11}  {'orders':>6}  {'runs':>4}  engine/peer")
    fills = len(sma.played.snapshot.fills)
    print(f"   {'ktrdr-tui engine':<20} {sma.rate:>11,.0f}  {fills:>6}  {RUNS:>4}")
    for name, module, package, run, runs in PEERS:
        if args.skip_peers:
            print(f"   {name:<20} skipped (--skip-peers)")
            continue
        if not installed(module):
            print(f"   {name:<20} not installed (pip install {package})")
            continue
        peer = peer_rate(bars, run, runs)
        print(
            f"   {name:<20} {peer.rate:>11,.0f}  {peer.orders:>6}  {peer.runs:>4}  "
            f"{sma.rate / peer.rate:>10,.1f}x"
        )
    print(FILL_NOTE)

    memory = engine_memory(args.years)
    memory_ok = memory["peak_mb"] < MEMORY_GOAL_MB
    print("\n3. peak RSS of the engine's run (sma + rsi, speed 0), in a fresh process")
    print(
        f"   after imports {memory['imports_mb']:.0f} MB; bars generated and held "
        f"{memory['bars_mb']:.0f} MB (generating them peaked at "
        f"{memory['generation_peak_mb']:.0f} MB{'' if memory['reset'] else ', counted below'})"
    )
    print(
        f"   peak during the run, bars and imports included: {memory['peak_mb']:.0f} MB  "
        f"goal < {MEMORY_GOAL_MB} MB: {verdict(memory_ok)}"
    )

    day = first_session_only(bars)
    timed = play(day, [SMA, RSI], speed=3600)
    target = 390 * 60 / 3600
    off = 100 * (timed.run_s - target) / target
    session_ok = abs(off) <= SESSION_GOAL_PCT
    snap = timed.snapshot
    print(
        f"\n4. one regular session ({day.sessions[0].date:%Y-%m-%d}, {len(day)} bars) "
        "at speed 3600, real wall clock"
    )
    print(
        f"   play to close {timed.run_s:.3f} s against {target:.3f} s: {off:+.2f}%  "
        f"goal within {SESSION_GOAL_PCT:g}%: {verdict(session_ok)}"
    )
    print(f"   overruns {snap.overruns}, behind_s {snap.behind_s:.3f}")

    print("\ngoals")
    rate_ok = sma.rate >= RATE_GOAL
    rows = [
        ("engine bars/s, speed 0 (sma)", f"{sma.rate:,.0f}", f">= {RATE_GOAL:,}", rate_ok),
        (
            "peak RSS of the engine run",
            f"{memory['peak_mb']:.0f} MB",
            f"< {MEMORY_GOAL_MB} MB",
            memory_ok,
        ),
        (
            "one session at 3600x vs 6.5 s",
            f"{off:+.2f}%",
            f"within {SESSION_GOAL_PCT:g}%",
            session_ok,
        ),
    ]
    for name, figure, goal, ok in rows:
        print(f"   {name:<32} {figure:>14}   goal {goal:<14} {verdict(ok)}")


if __name__ == "__main__":
    main()
