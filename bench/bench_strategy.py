"""A user's per-bar strategy through this engine against the same strategy in backtesting.py,
on the same bars, in one run.

    python -m bench.bench_strategy [--years N] [--profile]

The strategy is what a user writes on the public API (DESIGN.md, "Strategies"): a 20-bar
Donchian breakout on high and low, `on_bar` only (no `on_chunk`), so the session calls it once
per bar. BUY when the close is above the highest high of the 20 bars before; SELL when it is
below their lowest low. backtesting.py (a library here, AGPL: nothing of it is copied) runs the
same rule in its `next()`, long only, 100 shares: buy at the next open when flat, close at the
next open on a SELL; this engine's default trading rules do the same (100 shares, at most 100
held, long only; every signal has confidence 1 and the generated bars are complete).

Bars: N years (default 1: the sessions of 2023, ~98,000 bars) of deterministic 1m AAPL bars
from the simulated gateway's generator, held in memory (bench.common). Prints the bars per
second of each (this engine: building the session and playing it at speed 0 through the whole
pipeline, as `ktrdr-tui backtest` does; backtesting.py: `Backtest(...).run()` on a ready
DataFrame; the median of 5 runs each, taken in rounds of one run a side), their ratio against
the goal (at least 5x backtesting.py's bars per second) and each round's, whether the two
enter at the same bars, and with `--profile` where this engine's time goes (cProfile, one run).
Beside it, the same rule written as many users write it, reading `self.position` at every bar
to signal only what changes the position: what a position read costs (no goal).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.common import minute_bars, peer_frame, play, verdict
from engine.session.bars import SessionBars
from engine.strategy import Bars, Strategy
from engine.strategy.spec import StrategySpec

LOOKBACK = 20
SHARES = 100  # the engine's default order size and position limit
RUNS = 5
RATIO_GOAL = 5.0
PROFILE_LINES = 25


class Donchian(Strategy):
    """Buy a close above the highest high of the `lookback` bars before it; sell a close below
    their lowest low."""

    name = "donchian"
    lookback: int = LOOKBACK

    def on_bar(self, bars: Bars) -> None:  # as DESIGN.md's example writes it
        if len(bars) <= self.lookback:
            return
        close = bars.close[-1]
        if close > bars.high[-self.lookback - 1 : -1].max():
            self.buy(reason="new high")
        elif close < bars.low[-self.lookback - 1 : -1].min():
            self.sell(reason="new low")


class MutedDonchian(Donchian):
    """The same work per bar, no signal: what the session costs apart from its signals."""

    name = "muted_donchian"

    def buy(self, confidence: float = 1.0, reason: str = "") -> None:
        pass

    def sell(self, confidence: float = 1.0, reason: str = "") -> None:
        pass


class HoldingDonchian(Donchian):
    """The same rule signalling only what changes the position (buy when flat, sell when
    long), as backtesting.py's `next()` trades it: it reads `self.position` at every bar."""

    name = "holding_donchian"

    def on_bar(self, bars: Bars) -> None:
        if len(bars) <= self.lookback:
            return
        close, held = bars.close[-1], self.position
        if close > bars.high[-self.lookback - 1 : -1].max():
            if not held:
                self.buy(reason="new high")
        elif close < bars.low[-self.lookback - 1 : -1].min() and held:
            self.sell(reason="new low")


SPEC = StrategySpec(Donchian, (("lookback", LOOKBACK),))
MUTED = StrategySpec(MutedDonchian, SPEC.params)
HOLDING = StrategySpec(HoldingDonchian, SPEC.params)


@dataclass(frozen=True)
class Run:
    seconds: float
    entries: np.ndarray  # int64 ns: the bars whose open bought, in order
    exits: int  # positions closed (at a SELL; one still open at the end is not counted)
    signals: int


def engine_run(bars: SessionBars, spec: StrategySpec = SPEC) -> Run:
    """One run as `ktrdr-tui backtest` makes it: a session whose snapshots carry no chart."""
    played = play(bars, [spec], chart=False)
    fills = played.snapshot.fills
    return Run(
        played.total_s,
        fills.time_ns[fills.action == 1],
        int(np.sum(fills.action == -1)),
        played.snapshot.signals,
    )


def backtesting_run(frame: pd.DataFrame) -> Run:
    os.environ.setdefault("TQDM_DISABLE", "1")  # its progress bar, on stderr, between runs
    from backtesting import Backtest
    from backtesting import Strategy as PeerStrategy

    class PeerDonchian(PeerStrategy):
        lookback = LOOKBACK

        def init(self) -> None:
            self.signals = self.exits = 0

        def next(self) -> None:
            if len(self.data) <= self.lookback:
                return
            close = self.data.Close[-1]
            if close > self.data.High[-self.lookback - 1 : -1].max():
                self.signals += 1
                if not self.position:
                    self.buy(size=SHARES)
            elif close < self.data.Low[-self.lookback - 1 : -1].min():
                self.signals += 1
                if self.position:
                    self.position.close()
                    self.exits += 1

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its warnings on cash and on open trades
        stats = Backtest(frame, PeerDonchian, cash=1e9, finalize_trades=True).run()
    seconds = time.perf_counter() - started
    entered = pd.DatetimeIndex(stats._trades["EntryTime"]).tz_localize("UTC")
    strategy = stats._strategy
    return Run(seconds, entered.asi8, strategy.exits, strategy.signals)


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]


def agreement(ours: np.ndarray, theirs: np.ndarray) -> str:
    if np.array_equal(ours, theirs):
        return f"yes: the same {len(ours):,} entries, bar for bar"
    common = min(len(ours), len(theirs))
    differ = np.flatnonzero(ours[:common] != theirs[:common])
    first = differ[0] if len(differ) else common
    at = [
        pd.Timestamp(side[first], tz="UTC") if first < len(side) else None
        for side in (ours, theirs)
    ]
    return (
        f"NO: {len(ours):,} entries here, {len(theirs):,} in backtesting.py; entry {first + 1} "
        f"differs: {at[0]} here, {at[1]} there"
    )


def breakdown(bars: SessionBars, signals: int, peer_s: float) -> str:
    """Microseconds per bar (the median of RUNS rounds of one run each): the strategy alone,
    called as the session calls it over a growing view of the bars; the session with it muted;
    the session as run. Their differences are the session's own cost per bar and per signal;
    the strategy alone against backtesting.py's `peer_s` bounds the ratio any session reaches."""

    def alone() -> float:
        strategy = SPEC.build()
        view = Bars("1m", bars.timestamps, bars.open, bars.high, bars.low, bars.close, bars.volume)
        strategy._bars = view
        started = time.perf_counter()
        for length in range(1, len(bars) + 1):
            view._length = length  # as the session moves it (no new view per bar)
            strategy.on_bar(view)
            strategy._signal = None
        return time.perf_counter() - started

    rounds = [
        (alone(), engine_run(bars, MUTED).seconds, engine_run(bars).seconds) for _ in range(RUNS)
    ]
    per_bar = 1e6 / len(bars)
    strategy, muted, full = (
        statistics.median(side) * per_bar for side in zip(*rounds, strict=True)
    )
    per_signal = (full - muted) * len(bars) / max(signals, 1)
    return (
        f"  the strategy alone (on_bar, no session)      {strategy:6.2f} us/bar\n"
        f"  the session, the strategy muted (no signal)  {muted:6.2f} us/bar  "
        f"(the session's own: {muted - strategy:.2f} us/bar)\n"
        f"  the session as run                           {full:6.2f} us/bar  "
        f"({per_signal:.1f} us per signal, {signals:,} signals)\n"
        f"  backtesting.py                               {peer_s * per_bar:6.2f} us/bar: "
        f"a session that cost nothing would be {peer_s * per_bar / strategy:.2f}x it"
    )


def profile(bars: SessionBars) -> str:
    """One engine run under cProfile: the functions with the most own time, then the most
    time in all. The session plays in a worker thread, and a profiler sees only the thread
    that enables it: the threads started meanwhile enable it themselves."""
    import threading

    profiler = cProfile.Profile()
    original = threading.Thread.run

    def profiled(self) -> None:
        profiler.enable()
        try:
            original(self)
        finally:
            profiler.disable()

    threading.Thread.run = profiled
    try:
        engine_run(bars)
    finally:
        threading.Thread.run = original
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(PROFILE_LINES)
    stats.sort_stats("cumulative").print_stats(PROFILE_LINES)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=1, help="years of 1m bars (default 1)")
    parser.add_argument(
        "--profile", action="store_true", help="also profile one engine run (cProfile)"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    bars = minute_bars(args.years)
    print(
        f"bars: {len(bars):,} 1m AAPL bars, {len(bars.sessions)} sessions "
        f"{bars.sessions[0].date:%Y-%m-%d} .. {bars.sessions[-1].date:%Y-%m-%d}, generated in "
        f"{time.perf_counter() - started:.1f} s"
    )
    print(f"strategy: {SPEC.label}, on_bar only; long only, {SHARES} shares, next-open fills\n")

    # Round by round, so that this machine's drifts in speed (10-20% over minutes here) fall
    # on both sides alike.
    frame = peer_frame(bars)
    rounds = [
        (engine_run(bars), engine_run(bars, HOLDING), backtesting_run(frame)) for _ in range(RUNS)
    ]
    ours, holding, theirs = (median_run(list(side)) for side in zip(*rounds, strict=True))
    rate, peer_rate = len(bars) / ours.seconds, len(bars) / theirs.seconds
    print(f"{'':<40} {'bars/s':>10}  {'signals':>8}  {'entries':>7}  {'exits':>6}")
    for name, run in (
        ("ktrdr-tui engine (as `backtest` runs)", ours),
        ("  the same reading self.position", holding),
        ("backtesting.py", theirs),
    ):
        print(
            f"{name:<40} {len(bars) / run.seconds:>10,.0f}  {run.signals:>8,}  "
            f"{len(run.entries):>7,}  {run.exits:>6,}"
        )
    ratio = rate / peer_rate
    met = verdict(ratio >= RATIO_GOAL)
    each = ", ".join(f"{peer.seconds / run.seconds:.2f}" for run, _, peer in rounds)
    print(f"\nengine / backtesting.py: {ratio:.2f}x   goal >= {RATIO_GOAL:g}x: {met}")
    print(f"  round by round: {each}")
    print(f"  reading self.position at every bar: {theirs.seconds / holding.seconds:.2f}x")
    print(f"entries agree: {agreement(ours.entries, theirs.entries)}")
    print(f"  reading self.position: {agreement(holding.entries, theirs.entries)}")
    if args.profile:
        print(f"\nwhere the engine's time goes:\n{breakdown(bars, ours.signals, theirs.seconds)}")
        print(f"\nprofile of one engine run (the session's worker thread):\n{profile(bars)}")


if __name__ == "__main__":
    main()
