"""A session of several symbols, one account, in one run.

    python -m bench.bench_symbols [--years N]

Bars: N years (default 5: sessions 2019-01-02 … 2023-12-29) of deterministic 1m bars of AAPL,
MSFT and SPY from the simulated gateway's generator, ~490,000 bars each, held in memory.
Prints, each with its goal (issue 17):

  1. the three symbols in one session at speed 0 with SMA + RSI on every symbol (the full
     pipeline as the app plays it: derived bars, quality, strategies, decisions against one
     cash, fills, the portfolio's equity), `PlaybackSession([aapl, msft, spy], specs)`: bars
     per second of all the symbols together, median of 3, from building the session to done;
     goal at least 2,000,000. Beside it, the same three symbols as three sessions of one, one
     after the other (the engine's own peer: what one account costs), and the stages'
     seconds from the run's metrics report;
  2. the peak RSS of the three-symbol run in a fresh process (VmHWM, reset after generating
     the bars, whose own peak is shown apart); goal under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench.bench_session import RSI, SMA
from bench.common import Played, minute_bars, play, run_peak, verdict

SYMBOLS = ("AAPL", "MSFT", "SPY")
RUNS = 3
RATE_GOAL = 2_000_000
MEMORY_GOAL_MB = 1024


def median_run(market, runs: int = RUNS) -> tuple[float, Played]:
    """Bars per second (median of `runs`, setup included) and the median run."""
    played = sorted((play(market, [SMA, RSI]) for _ in range(runs)), key=lambda p: p.total_s)
    middle = played[len(played) // 2]
    return middle.snapshot.bars_total / middle.total_s, middle


def engine_only(years: int) -> None:
    """The three-symbol run alone, for the peak-memory figure (run in a fresh process)."""
    print(json.dumps(run_peak(years, SYMBOLS, [SMA, RSI])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=5, help="years of 1m bars (default 5)")
    parser.add_argument("--engine-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_only:
        engine_only(args.years)
        return

    started = time.perf_counter()
    market = [minute_bars(args.years, symbol) for symbol in SYMBOLS]
    total = sum(len(bars) for bars in market)
    print(
        f"bars: {total:,} 1m bars of {', '.join(SYMBOLS)} ({len(market[0]):,} each), "
        f"{len(market[0].sessions)} sessions {market[0].sessions[0].date:%Y-%m-%d} .. "
        f"{market[0].sessions[-1].date:%Y-%m-%d}, generated in "
        f"{time.perf_counter() - started:.1f} s\n"
    )

    rate, played = median_run(market)
    alone = [median_run(bars) for bars in market]
    alone_s = sum(p.total_s for _, p in alone)
    snapshot = played.snapshot
    print(f"1. one session of {len(SYMBOLS)} symbols, speed 0, {SMA} + {RSI} on each")
    print(f"   {'':<34} {'bars/s':>11}  {'seconds':>8}  {'signals':>8}  {'fills':>6}")
    print(
        f"   {'three symbols, one account':<34} {rate:>11,.0f}  {played.total_s:>8.2f}  "
        f"{snapshot.signals:>8,}  {len(snapshot.fills):>6,}"
    )
    print(
        f"   {'three sessions of one, in turn':<34} {total / alone_s:>11,.0f}  {alone_s:>8.2f}  "
        f"{sum(p.snapshot.signals for _, p in alone):>8,}  "
        f"{sum(len(p.snapshot.fills) for _, p in alone):>6,}"
    )
    metrics = snapshot.metrics
    stages = ", ".join(f"{s.stage} {s.seconds * 1000:.0f}ms" for s in metrics.stages if s.seconds)
    print(f"   stages: {stages}; {metrics.batches} batches, {metrics.trading_days} trading days")
    print(f"   goal >= {RATE_GOAL:,} bars/s in total: {verdict(rate >= RATE_GOAL)}")

    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_symbols", "--years", str(args.years), "--engine-only"],
        capture_output=True,
        text=True,
        check=True,
    )
    memory = json.loads(result.stdout)
    print("\n2. peak memory of the three-symbol run (fresh process)")
    print(
        f"   after imports {memory['imports_mb']:.0f} MB; generating the bars peaked at "
        f"{memory['generation_peak_mb']:.0f} MB, holding them {memory['bars_mb']:.0f} MB"
    )
    label = "the run's peak" if memory["reset"] else "peak (generation included: no reset)"
    print(f"   {label}: {memory['peak_mb']:.0f} MB")
    print(f"   goal < {MEMORY_GOAL_MB} MB: {verdict(memory['peak_mb'] < MEMORY_GOAL_MB)}")


if __name__ == "__main__":
    main()
