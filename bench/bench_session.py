"""The backtest engine against its peers, on the same generated bars, in one run.

    python bench/bench_session.py [--years N] [--skip-peers]

Bars: N years (default 5) of deterministic 1m AAPL bars from the simulated gateway's generator.
Prints, each with its goal:
  1. this engine's full pipeline at speed 0 (derived 5m…1h bars, quality, strategies,
     decisions, fills), as `PlaybackSession(speed=0)` plays it: bars per second, median of 3,
     with the peers' SMA crossover alone and with RSI beside it; plus the time to read the
     bars from a Parquet store, and bars per second counting that read;
  2. backtrader and backtesting.py running the same SMA crossover (long-only, 100 shares, buy
     on the fast SMA crossing above the slow one, sell on crossing below) on the same bars, and
     the ratios. They are not dependencies: `pip install backtrader backtesting` to include
     them. Trade counts differ a little, as each fills its own way (next open, or close);
  3. peak RSS of the engine's run alone, in a fresh process (VmHWM);
  4. at speed 3600, the wall time of one 390-minute session against 390 min / 3600 = 6.5 s.
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
from pathlib import Path

import numpy as np
import pandas as pd

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import calendar_for
from engine.market.schema import bars_frame
from engine.market.store import BarStore
from engine.session.bars import NS, SessionBars, read_session_bars
from engine.session.decisions import RiskRules
from engine.session.playback import PlaybackSession
from engine.session.strategies import StrategySpec

FAST, SLOW = 10, 30
SMA = f"sma_crossover:fast={FAST},slow={SLOW}"
RSI = "rsi:period=14,oversold=30,overbought=70"
SHARES = 100
RATE_GOAL = 1_000_000
MEMORY_GOAL_MB = 500
SESSION_GOAL_PCT = 2.0
CALENDAR = calendar_for()
# The peers trade every crossover: so does the engine in the comparison (the confidence check
# would otherwise reject the weak ones), every stage still running.
EVERY_CROSSOVER = RiskRules(min_confidence=0.0)


def generate(years: int) -> SessionBars:
    last = pd.Timestamp("2023-12-29")
    first = pd.Timestamp(f"{last.year - years + 1}-01-01")
    sessions = CALENDAR.sessions_for_dates(first, last)
    generated = SyntheticMarket(CALENDAR).bars("AAPL", 60, sessions[0].open, sessions[-1].close)
    prices = np.vstack(
        [generated.open, generated.high, generated.low, generated.close, generated.volume]
    )
    return SessionBars.from_arrays("AAPL", "1m", sessions, generated.start * NS, prices)


def play(
    bars: SessionBars, specs: list[str], speed: float = 0.0, rules: RiskRules | None = None
) -> tuple[float, PlaybackSession]:
    session = PlaybackSession(bars, [StrategySpec.parse(s) for s in specs], rules, speed=speed)
    started = time.perf_counter()
    session.start(playing=True)
    session.wait()
    elapsed = time.perf_counter() - started
    session.stop()
    return elapsed, session


def engine_rate(
    bars: SessionBars, specs: list[str], rules: RiskRules | None = None
) -> tuple[float, int]:
    times = []
    for _ in range(3):
        elapsed, session = play(bars, specs, rules=rules)
        times.append(elapsed)
    return len(bars) / statistics.median(times), session.snapshot().trades


def store_read_s(bars: SessionBars) -> float:
    with tempfile.TemporaryDirectory() as folder:
        store = BarStore(Path(folder), CALENDAR)
        frame = bars_frame(
            pd.DatetimeIndex(bars.timestamps, tz="UTC"),
            {
                "open": bars.open,
                "high": bars.high,
                "low": bars.low,
                "close": bars.close,
                "volume": bars.volume,
            },
        )
        store.merge("AAPL", "1m", frame)
        first, last = bars.sessions[0].date, bars.sessions[-1].date
        times = []
        for _ in range(3):
            started = time.perf_counter()
            read = read_session_bars(store, CALENDAR, "AAPL", "1m", first, last)
            times.append(time.perf_counter() - started)
        assert len(read) == len(bars)
        return statistics.median(times)


def frame_of(bars: SessionBars) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Open": bars.open,
            "High": bars.high,
            "Low": bars.low,
            "Close": bars.close,
            "Volume": bars.volume,
        },
        index=pd.DatetimeIndex(bars.timestamps).tz_localize("UTC").tz_localize(None),
    )


def backtrader_rate(bars: SessionBars) -> tuple[float, int]:
    import backtrader as bt

    class SmaCross(bt.Strategy):
        def __init__(self) -> None:
            fast, slow = bt.ind.SMA(period=FAST), bt.ind.SMA(period=SLOW)
            self.cross = bt.ind.CrossOver(fast, slow)
            self.trades = 0

        def next(self) -> None:
            if self.cross > 0 and not self.position:
                self.buy(size=SHARES)
                self.trades += 1
            elif self.cross < 0 and self.position:
                self.close()
                self.trades += 1

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame_of(bars)))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(1e9)
    started = time.perf_counter()
    strategy = cerebro.run()[0]
    return len(bars) / (time.perf_counter() - started), strategy.trades


def backtesting_rate(bars: SessionBars) -> tuple[float, int]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    def sma(values, n):
        return pd.Series(values).rolling(n).mean()

    class SmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow) and not self.position:
                self.buy(size=SHARES)
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = Backtest(frame_of(bars), SmaCross, cash=1e9, commission=0.0)
        started = time.perf_counter()
        stats = test.run()
        elapsed = time.perf_counter() - started
    return len(bars) / elapsed, 2 * int(stats["# Trades"])


def peak_rss_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries that over from the parent through
    fork and exec, so a child of this (by then large) benchmark would report the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def engine_only(years: int) -> None:
    """The engine's run alone, for the peak-memory figure (run in a fresh process)."""
    after_imports = peak_rss_mb()
    bars = generate(years)
    play(bars, [SMA, RSI])
    print(json.dumps({"imports_mb": after_imports, "peak_mb": peak_rss_mb()}))


def engine_memory(years: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--years", str(years), "--engine-only"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def one_session_at_3600(bars: SessionBars) -> tuple[float, PlaybackSession]:
    first = bars.sessions[0]
    assert first.minutes == 390, "the first session must be a regular one"
    count = int(np.searchsorted(bars.timestamps, first.close.value))
    prices = np.vstack([bars.open, bars.high, bars.low, bars.close, bars.volume])[:, :count]
    day = SessionBars.from_arrays("AAPL", "1m", [first], bars.timestamps[:count], prices)
    return play(day, [SMA, RSI], speed=3600)


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--engine-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_only:
        engine_only(args.years)
        return
    bars = generate(args.years)
    print(f"bars: {len(bars):,} 1m bars, {len(bars.sessions)} sessions ({args.years} years)\n")

    sma_rate, sma_trades = engine_rate(bars, [SMA], EVERY_CROSSOVER)
    default_rate, _ = engine_rate(bars, [SMA])
    both_rate, _ = engine_rate(bars, [SMA, RSI])
    read_s = store_read_s(bars)
    ok = "ok" if sma_rate >= RATE_GOAL else "MISSED"
    print("1. this engine, speed 0, full pipeline (median of 3)")
    print(
        f"   {SMA + ', every crossover':<52} {sma_rate:>12,.0f} bars/s  goal >= {RATE_GOAL:,}  {ok}"
    )
    print(f"   {SMA + ', default rules':<52} {default_rate:>12,.0f} bars/s")
    print(f"   {SMA + ' + rsi, default rules':<52} {both_rate:>12,.0f} bars/s")
    print(f"   store read of the bars: {read_s * 1000:.0f} ms; sma with the read: "
          f"{len(bars) / (len(bars) / sma_rate + read_s):,.0f} bars/s")  # fmt: skip

    print("\n2. peers, the same SMA crossover on the same bars")
    print(f"   {'ktrdr-tui engine':<20} {sma_rate:>12,.0f} bars/s  {sma_trades:>6} trades")
    peers = [("backtrader", "backtrader", backtrader_rate), ("backtesting.py", "backtesting",
             backtesting_rate)]  # fmt: skip
    for name, module, measure in peers:
        if args.skip_peers:
            continue
        if not installed(module):
            print(f"   {name:<20} not installed (pip install {module})")
            continue
        rate, trades = measure(bars)
        print(
            f"   {name:<20} {rate:>12,.0f} bars/s  {trades:>6} trades   "
            f"engine is {sma_rate / rate:,.0f}x faster"
        )

    memory = engine_memory(args.years)
    ok = "ok" if memory["peak_mb"] < MEMORY_GOAL_MB else "MISSED"
    print(
        f"\n3. peak RSS of the engine's run (sma + rsi): {memory['peak_mb']:.0f} MB "
        f"(imports alone {memory['imports_mb']:.0f} MB)  goal < {MEMORY_GOAL_MB} MB  {ok}"
    )

    elapsed, session = one_session_at_3600(bars)
    target = 390 * 60 / 3600
    off = 100 * (elapsed - target) / target
    snapshot = session.snapshot()
    ok = "ok" if abs(off) <= SESSION_GOAL_PCT else "MISSED"
    print(
        f"\n4. one session at speed 3600: {elapsed:.3f} s against {target:.3f} s, {off:+.2f}% "
        f"(goal within {SESSION_GOAL_PCT:g}%)  {ok}; {snapshot.bars_processed} bars, "
        f"overruns {snapshot.overruns}"
    )


if __name__ == "__main__":
    main()
