"""Speed of the Parquet bar store on ten years of one-minute bars (goal: the whole history as a
DataFrame in under 100 ms).

    python -m bench.bench_store

Builds ~1,000,000 1m bars in a temporary store (building them is not timed), then prints the
first and the median of several runs of each operation a load or a playback makes, and plain
`pq.read_table(<dataset>).to_pandas()` on the same files as the peer.

Each result is dropped before the next run, as a playback that reads a dataset once would,
except in the "kept alive" row: there every read lands in memory the process never used, and
the reference row shows what first touching that much memory costs on this machine alone.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from engine.market.bar_files import read_bar_file
from engine.market.calendar import calendar_for
from engine.market.schema import bars_frame
from engine.market.store import BarStore

RUNS = 5
SYMBOL = "BENCH"
FIRST_DAY = "2014-01-01"
TARGET_BARS = 1_000_000


def minute_bars(timestamps: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    """A random walk in cents with a lognormal volume: compresses like real bars do."""
    rng = np.random.default_rng(seed)
    n = len(timestamps)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.0008, n))), 2)
    opens = np.round(np.concatenate([[close[0]], close[:-1]]), 2)
    wiggle = np.round(np.abs(rng.normal(0, 0.02, (2, n))), 2)
    return bars_frame(
        timestamps,
        {
            "open": opens,
            "high": np.maximum(opens, close) + wiggle[0],
            "low": np.minimum(opens, close) - wiggle[1],
            "close": close,
            "volume": np.round(rng.lognormal(8, 0.8, n)),
        },
    )


def timed(call: Callable[[], object], runs: int = RUNS) -> tuple[float, float]:
    """(first run, median of `runs`) in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times[0], statistics.median(times)


def main() -> None:
    calendar = calendar_for()
    sessions = calendar.sessions_for_dates(pd.Timestamp(FIRST_DAY), pd.Timestamp("2030-12-31"))
    counts = np.cumsum([s.minutes for s in sessions])
    # Ten years and a bit; the sessions after them feed the tail merges.
    history = sessions[: int(np.searchsorted(counts, TARGET_BARS)) + 1]
    tail_sessions = sessions[len(history) : len(history) + RUNS]
    everything = minute_bars(calendar.bar_starts(history + tail_sessions, 60), seed=1)
    stored = everything.iloc[: int(counts[len(history) - 1])]
    tails = [
        everything[(everything.timestamp >= s.open) & (everything.timestamp < s.close)]
        for s in tail_sessions
    ]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        result = BarStore(root).merge(SYMBOL, "1m", stored)
        build_ms = (time.perf_counter() - start) * 1000

        store = BarStore(root)  # a fresh instance: nothing warm but the OS page cache
        path = store.dataset_path(SYMBOL, "1m")
        first_day = stored.timestamp.iloc[0].date()
        last_day = stored.timestamp.iloc[-1].date()
        size_mb = sum(f.stat().st_size for f in path.glob("*.parquet")) / 1e6
        print(
            f"bar store: {len(stored):,} 1m bars, {first_day} to {last_day}, "
            f"{len(result.files_written)} monthly files, {size_mb:.1f} MB"
        )
        print(f"  (initial merge of all bars: {build_ms:,.0f} ms)")

        rows: list[tuple[str, tuple[float, float]]] = []
        rows.append(("read() all bars -> DataFrame", timed(lambda: store.read(SYMBOL, "1m"))))
        kept: list[object] = []
        rows.append(
            (
                "read() all bars, every result kept alive",
                timed(lambda: kept.append(store.read(SYMBOL, "1m"))),
            )
        )
        frame_bytes = int(store.read(SYMBOL, "1m").memory_usage(index=False).sum())
        rows.append(
            (
                f"  reference: fill {frame_bytes / 1e6:.0f} MB of new memory",
                timed(lambda: kept.append(np.ones(frame_bytes // 8))),
            )
        )
        kept.clear()
        rows.append(("timestamps() all bars", timed(lambda: store.timestamps(SYMBOL, "1m"))))
        month = (pd.Timestamp("2019-06-01", tz="UTC"), pd.Timestamp("2019-07-01", tz="UTC"))
        rows.append(("read() one month (2019-06)", timed(lambda: store.read(SYMBOL, "1m", *month))))
        rows.append(("summary()", timed(lambda: store.summary(SYMBOL, "1m"))))
        pending = list(tails)

        def tail_merge() -> None:
            session = pending.pop(0)
            merged = store.merge(SYMBOL, "1m", session)
            assert merged.files_written == (f"{session.timestamp.iloc[0]:%Y-%m}.parquet",)

        rows.append(("merge() one new session at the tail", timed(tail_merge)))
        rows.append(
            (
                "peer: pq.read_table(dataset).to_pandas()",
                timed(lambda: pq.read_table(path).to_pandas()),
            )
        )
        assert len(store.read(SYMBOL, "1m")) == len(stored) + sum(len(t) for t in tails)
        csv = root / "bars.csv"
        stored.to_csv(csv, index=False)
        rows.append(
            (
                "read_bar_file() the bars as CSV (`import`)",
                timed(lambda: read_bar_file(csv, "1m"), runs=3),
            )
        )
        rows.append(("peer: pd.read_csv(same file)", timed(lambda: pd.read_csv(csv), runs=3)))

        width = max(len(name) for name, _ in rows)
        print(f"first run and median of {RUNS} runs")
        for name, (first, median) in rows:
            print(f"  {name:<{width}}  first {first:7.1f} ms   median {median:7.1f} ms")


if __name__ == "__main__":
    main()
