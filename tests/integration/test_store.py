"""The Parquet bar store: one file per period, exact round trips, merges that are idempotent and
order-independent down to the bytes, calendar-based quality, quarantine of bad files, and
writers in threads and processes that never lose each other's bars."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.market.store as store_module
from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import Session
from engine.market.schema import PRICE_COLUMNS, bars_frame
from engine.market.store import (
    BarStore,
    DatasetKey,
    DatasetSummary,
    MergeResult,
    StoreError,
)
from tests.support.bar_fixtures import CAL, bars_for, frame_at, sessions

ROOT = Path(__file__).resolve().parents[2]
PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def stamps_of(frame: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(frame.timestamp).rename(None)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def between(frame: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    keep = np.ones(len(frame), bool)
    if start is not None:
        keep &= frame.timestamp >= utc(start)
    if end is not None:
        keep &= frame.timestamp < utc(end)
    return frame[keep].reset_index(drop=True)


def file_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.parquet"))}


def file_stats(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(directory.glob("*.parquet"))
    }


@pytest.fixture
def store(tmp_path: Path) -> BarStore:
    return BarStore(tmp_path / "data")


JAN_MAR = sessions("2024-01-01", "2024-03-31")


# -- round trips and layout -------------------------------------------------------------------


def test_round_trip_of_synthetic_bars(store: BarStore) -> None:
    market = SyntheticMarket(CAL, seed=7)
    arrays = market.bars("AAPL", 60, utc("2024-01-01"), utc("2024-04-01"))
    written = bars_frame(
        pd.DatetimeIndex(arrays.start * 10**9, tz="UTC"),
        {name: getattr(arrays, name) for name in PRICE_COLUMNS},
    )

    result = store.merge("AAPL", "1m", written)

    assert result == MergeResult(
        len(written), len(written), ("2024-01.parquet", "2024-02.parquet", "2024-03.parquet")
    )
    read = store.read("AAPL", "1m")
    pd.testing.assert_frame_equal(read, written)
    assert str(read.timestamp.dtype) == "datetime64[ns, UTC]"
    assert isinstance(read.index, pd.RangeIndex)
    read.loc[0, "close"] = -1.0  # the frame is the caller's to change
    assert read.close.iloc[0] == -1.0 and store.read("AAPL", "1m").close.iloc[0] > 0
    pd.testing.assert_index_equal(store.timestamps("AAPL", "1m"), stamps_of(written))


def test_empty_store_reads_empty_frames_in_the_schema(store: BarStore) -> None:
    empty = bars_frame(pd.DatetimeIndex([], tz="UTC"), {c: [] for c in PRICE_COLUMNS})

    pd.testing.assert_frame_equal(store.read("AAPL", "1m"), empty)
    assert len(store.timestamps("AAPL", "5m")) == 0
    assert str(store.timestamps("AAPL", "5m").dtype) == "datetime64[ns, UTC]"
    assert store.datasets() == []
    assert not (store.root / "bars").exists()  # reading creates nothing


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-02-01", "2024-03-01"),  # exactly one month
        ("2024-01-31 20:59", "2024-02-01 14:32"),  # across a month boundary, on bar starts
        ("2024-01-31 20:59:30", "2024-02-01 14:31:30"),  # bounds between bar starts
        (None, "2024-01-03"),
        ("2024-03-28 19:58", None),
        ("2023-01-01", "2023-06-01"),  # before any bar
        ("2024-02-10", "2024-02-10"),  # empty range
        ("2024-02-12", "2024-02-10"),  # reversed range
    ],
)
def test_range_reads_are_half_open(store: BarStore, start: str | None, end: str | None) -> None:
    frame = bars_for(JAN_MAR)
    store.merge("SPY", "1m", frame)
    bounds = (None if start is None else utc(start), None if end is None else utc(end))

    read = store.read("SPY", "1m", *bounds)

    pd.testing.assert_frame_equal(read, between(frame, start, end))
    pd.testing.assert_index_equal(store.timestamps("SPY", "1m", *bounds), stamps_of(read))


def test_naive_bounds_are_utc(store: BarStore) -> None:
    frame = bars_for(JAN_MAR)
    store.merge("SPY", "1m", frame)

    naive = store.read("SPY", "1m", pd.Timestamp("2024-02-01 15:00"), pd.Timestamp("2024-02-02"))
    aware = store.read("SPY", "1m", utc("2024-02-01 15:00"), utc("2024-02-02"))

    pd.testing.assert_frame_equal(naive, aware)
    assert naive.timestamp.iloc[0] == utc("2024-02-01 15:00")


def test_range_read_opens_only_the_files_it_needs(
    store: BarStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.merge("SPY", "1m", bars_for(sessions("2023-11-01", "2024-03-31")))
    opened: list[str] = []
    real_open = store_module._open

    def spy(source):
        opened.append(Path(source).name)
        return real_open(source)

    monkeypatch.setattr(store_module, "_open", spy)

    store.read("SPY", "1m", utc("2024-01-15"), utc("2024-02-01"))
    assert opened == ["2024-01.parquet"]
    opened.clear()
    store.timestamps("SPY", "1m", utc("2023-12-31"), utc("2024-02-01 00:00:00.000000001"))
    assert opened == ["2023-12.parquet", "2024-01.parquet", "2024-02.parquet"]


@pytest.mark.parametrize(
    ("timeframe", "bar_seconds", "first", "last", "names"),
    [
        ("1m", 60, "2023-12-20", "2024-02-05", ["2023-12", "2024-01", "2024-02"]),
        ("5m", 300, "2024-01-30", "2024-02-02", ["2024-01", "2024-02"]),
        ("15m", 900, "2024-01-30", "2024-02-02", ["2024-01", "2024-02"]),
        ("30m", 1800, "2024-01-30", "2024-02-02", ["2024-01", "2024-02"]),
        ("1h", 3600, "2023-12-20", "2024-02-05", ["2023", "2024"]),
        ("4h", 14400, "2023-12-20", "2024-02-05", ["2023", "2024"]),
        ("1d", 0, "2022-06-01", "2024-02-05", ["2022", "2023", "2024"]),
    ],
)
def test_one_file_per_period_holding_only_its_bars(
    store: BarStore, timeframe: str, bar_seconds: int, first: str, last: str, names: list[str]
) -> None:
    frame = bars_for(sessions(first, last), bar_seconds)
    store.merge("MSFT", timeframe, frame)
    directory = store.dataset_path("MSFT", timeframe)

    assert directory == store.root / "bars" / "MSFT" / timeframe
    assert sorted(p.name for p in directory.glob("*.parquet")) == [f"{n}.parquet" for n in names]
    for name in names:
        stamps = pq.read_table(directory / f"{name}.parquet").column("timestamp").to_pandas()
        assert all(t.strftime("%Y-%m" if len(name) == 7 else "%Y") == name for t in stamps)
    pd.testing.assert_frame_equal(store.read("MSFT", timeframe), frame)


def test_pyarrow_reads_the_dataset_folder_whole(store: BarStore) -> None:
    frame = bars_for(JAN_MAR)
    store.merge("SPY", "1m", frame)
    directory = store.dataset_path("SPY", "1m")
    (directory / ".2024-04.parquet.crashed.tmp").write_bytes(b"a temp file left by a crash")

    whole = pq.read_table(directory)

    assert (directory / ".lock").exists()
    assert whole.schema.equals(store_module.SCHEMA)
    pd.testing.assert_frame_equal(whole.to_pandas(), frame)
    pd.testing.assert_frame_equal(store.read("SPY", "1m"), frame)
    assert store.quarantined == []  # hidden files are not the store's to judge


def test_files_carry_no_per_write_metadata(store: BarStore) -> None:
    store.merge("SPY", "1m", bars_for(sessions("2024-01-02", "2024-01-05")))
    metadata = pq.read_schema(store.dataset_path("SPY", "1m") / "2024-01.parquet").metadata or {}

    assert b"pandas" not in metadata


def test_symbols_are_stored_upper_case(store: BarStore) -> None:
    store.merge("brk.b", "1d", bars_for(sessions("2024-01-02", "2024-01-05"), 0))

    assert store.dataset_path("brk.b", "1d") == store.root / "bars" / "BRK.B" / "1d"
    assert store.datasets() == [DatasetKey("BRK.B", "1d")]
    assert len(store.read("Brk.B", "1d")) == 4


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "symbol", ["../x", "..", ".", "", "A" * 16, "a/b", "-X", "A B", "ÄPFEL", "x\n", 42]
)
def test_bad_symbols_are_refused(store: BarStore, symbol: object) -> None:
    frame = bars_for(sessions("2024-01-02", "2024-01-02"))
    for call in (
        lambda: store.dataset_path(symbol, "1m"),  # type: ignore[arg-type]
        lambda: store.read(symbol, "1m"),  # type: ignore[arg-type]
        lambda: store.merge(symbol, "1m", frame),  # type: ignore[arg-type]
        lambda: store.summary(symbol, "1m"),  # type: ignore[arg-type]
    ):
        with pytest.raises(StoreError) as error:
            call()
        assert "\n" not in str(error.value)
    assert not store.root.exists()


@pytest.mark.parametrize("timeframe", ["2m", "1M", "1D", "", "../1m", "1w"])
def test_bad_timeframes_are_refused(store: BarStore, timeframe: str) -> None:
    with pytest.raises(StoreError, match="unknown timeframe") as error:
        store.read("SPY", timeframe)
    assert "\n" not in str(error.value)
    with pytest.raises(StoreError):
        store.merge("SPY", timeframe, bars_for(sessions("2024-01-02", "2024-01-02")))


def _naive(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(timestamp=frame.timestamp.dt.tz_localize(None))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_naive, "tz-aware"),
        (lambda f: f.drop(columns="volume"), "volume"),
        (lambda f: f.assign(close=f.close.astype(str)), "numeric"),
        (lambda f: f.assign(timestamp=f.timestamp.where(f.index != 3)), "NaT"),
        (lambda f: f.to_numpy(), "DataFrame"),
    ],
    ids=["naive", "missing-column", "text-prices", "nat", "not-a-frame"],
)
def test_bad_frames_are_refused(store: BarStore, change, message: str) -> None:
    frame = bars_for(sessions("2024-01-02", "2024-01-02"))

    with pytest.raises(StoreError, match=message) as error:
        store.merge("SPY", "1m", change(frame))

    assert "\n" not in str(error.value)
    assert store.read("SPY", "1m").empty


def test_daily_bars_must_sit_at_midnight_utc(store: BarStore) -> None:
    opens = pd.DatetimeIndex([s.open for s in sessions("2024-01-02", "2024-01-05")])

    with pytest.raises(StoreError, match="midnight UTC"):
        store.merge("SPY", "1d", frame_at(opens))


def test_any_timezone_and_unit_give_the_same_files(tmp_path: Path) -> None:
    frame = bars_for(sessions("2024-01-29", "2024-02-02"))
    local = frame.assign(timestamp=frame.timestamp.dt.tz_convert("America/New_York"))
    coarse = frame.assign(timestamp=frame.timestamp.dt.as_unit("s"))
    extra = frame.assign(wap=1.0, count=3)  # columns beyond the six are not stored
    stores = [BarStore(tmp_path / str(i)) for i in range(4)]

    for store, variant in zip(stores, [frame, local, coarse, extra], strict=True):
        store.merge("SPY", "1m", variant)

    reference = file_bytes(stores[0].dataset_path("SPY", "1m"))
    assert len(reference) == 2
    for store in stores[1:]:
        assert file_bytes(store.dataset_path("SPY", "1m")) == reference


# -- merging ----------------------------------------------------------------------------------

POOL = bars_for(sessions("2024-01-29", "2024-02-02"))  # five sessions over two monthly files


@st.composite
def chunks(draw: st.DrawFn) -> list[pd.DataFrame]:
    """Overlapping pieces of POOL, rows shuffled and sometimes repeated inside a piece."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        start = draw(st.integers(0, len(POOL) - 1))
        length = draw(st.integers(1, len(POOL) - start))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        rows = rng.permutation(np.arange(start, start + length))
        if draw(st.booleans()):
            rows = np.concatenate([rows, rng.choice(rows, size=min(len(rows), 50))])
        parts.append(POOL.iloc[rows])
    return parts


@PROPERTY
@given(parts=chunks())
def test_merge_order_does_not_change_a_byte(parts: list[pd.DataFrame]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        piecewise, reverse, at_once = (BarStore(Path(tmp) / n) for n in ("a", "b", "c"))
        for part in parts:
            piecewise.merge("SPY", "1m", part)
        for part in reversed(parts):
            reverse.merge("SPY", "1m", part)
        union = pd.concat(parts)
        at_once.merge("SPY", "1m", union)

        expected = (
            union.drop_duplicates("timestamp").sort_values("timestamp").reset_index(drop=True)
        )
        reference = file_bytes(at_once.dataset_path("SPY", "1m"))
        assert file_bytes(piecewise.dataset_path("SPY", "1m")) == reference
        assert file_bytes(reverse.dataset_path("SPY", "1m")) == reference
        read = piecewise.read("SPY", "1m")
        assert read.timestamp.is_monotonic_increasing and read.timestamp.is_unique
        pd.testing.assert_frame_equal(read, expected)


@PROPERTY
@given(parts=chunks())
def test_merging_the_same_bars_again_touches_nothing(parts: list[pd.DataFrame]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = BarStore(Path(tmp))
        for part in parts:
            store.merge("SPY", "1m", part)
        directory = store.dataset_path("SPY", "1m")
        before, stats = file_bytes(directory), file_stats(directory)
        total = len(store.timestamps("SPY", "1m"))

        for part in parts:
            again = store.merge("SPY", "1m", part.sample(frac=1.0, random_state=1))
            assert again == MergeResult(0, total, ())

        assert file_bytes(directory) == before
        assert file_stats(directory) == stats  # same inode and mtime: never rewritten


def test_merge_counts_new_bars_and_the_total(store: BarStore) -> None:
    first = store.merge("SPY", "1m", POOL.iloc[:1000])
    second = store.merge("SPY", "1m", POOL.iloc[500:1500])

    assert first.bars_added == 1000 and first.bars_total == 1000
    assert second.bars_added == 500 and second.bars_total == 1500


def test_an_empty_merge_changes_nothing(store: BarStore) -> None:
    store.merge("SPY", "1m", POOL)

    assert store.merge("SPY", "1m", POOL.iloc[:0]) == MergeResult(0, len(POOL), ())


def test_the_new_bar_wins_on_conflict(store: BarStore) -> None:
    store.merge("SPY", "1m", POOL)
    revised = frame_at(pd.DatetimeIndex(POOL.timestamp.iloc[100:200]), bump=7.0)
    extra_day = bars_for(sessions("2024-02-05", "2024-02-05"))

    result = store.merge("SPY", "1m", pd.concat([revised, extra_day]))

    assert result.bars_added == len(extra_day)
    assert result.files_written == ("2024-01.parquet", "2024-02.parquet")
    read = store.read("SPY", "1m")
    expected = pd.concat([POOL, extra_day], ignore_index=True)
    expected.loc[100:199, "close"] += 7.0
    pd.testing.assert_frame_equal(read, expected)


def test_within_one_frame_the_last_duplicate_wins(store: BarStore) -> None:
    older = POOL.iloc[:10]
    newer = frame_at(pd.DatetimeIndex(older.timestamp), bump=1.0)

    store.merge("SPY", "1m", pd.concat([older, newer]))

    pd.testing.assert_frame_equal(store.read("SPY", "1m"), newer)


def test_a_tail_update_rewrites_only_the_newest_file(store: BarStore) -> None:
    store.merge("SPY", "1m", bars_for(sessions("2024-01-01", "2024-03-27")))
    directory = store.dataset_path("SPY", "1m")
    before, stats = file_bytes(directory), file_stats(directory)
    tail = bars_for(sessions("2024-03-28", "2024-03-28"))

    result = store.merge("SPY", "1m", tail)

    assert result.files_written == ("2024-03.parquet",)
    assert result.bars_added == len(tail) == 390
    after, stats_after = file_bytes(directory), file_stats(directory)
    for name in ("2024-01.parquet", "2024-02.parquet"):
        assert after[name] == before[name]
        assert stats_after[name] == stats[name]
    assert after["2024-03.parquet"] != before["2024-03.parquet"]
    assert store.read("SPY", "1m").timestamp.iloc[-1] == tail.timestamp.iloc[-1]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(
    store: BarStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.merge("SPY", "1m", bars_for(sessions("2024-01-02", "2024-01-10")))
    directory = store.dataset_path("SPY", "1m")
    before = file_bytes(directory)

    def crash(src: object, dst: object) -> None:
        raise OSError("disk gone at the worst moment")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        store.merge("SPY", "1m", bars_for(sessions("2024-01-11", "2024-01-12")))
    monkeypatch.undo()

    assert file_bytes(directory) == before
    assert sorted(os.listdir(directory)) == [".lock", "2024-01.parquet"]
    assert len(store.read("SPY", "1m")) == 7 * 390
    # The lock was released: the next merge goes through.
    assert store.merge("SPY", "1m", POOL.iloc[:5]).files_written == ("2024-01.parquet",)


# -- summary ----------------------------------------------------------------------------------


def test_summary_of_a_complete_range(store: BarStore) -> None:
    frame = bars_for(JAN_MAR)
    store.merge("SPY", "1m", frame)

    summary = store.summary("SPY", "1m")

    sizes = sum(p.stat().st_size for p in store.dataset_path("SPY", "1m").glob("*.parquet"))
    assert summary == DatasetSummary(
        symbol="SPY",
        timeframe="1m",
        first=utc("2024-01-02 14:30"),
        last=utc("2024-03-28 19:59"),
        bars=len(frame),
        expected=len(frame),
        missing=0,
        quality_pct=100.0,
        files=3,
        size_bytes=sizes,
    )


def test_summary_counts_exactly_the_holes(store: BarStore) -> None:
    frame = bars_for(JAN_MAR)
    rng = np.random.default_rng(5)
    # The first bars of the first session count too: whole sessions are expected.
    day = np.flatnonzero(frame.timestamp.dt.date == pd.Timestamp("2024-02-14").date())
    scattered = rng.choice(np.setdiff1d(np.arange(400, len(frame) - 1), day), 123, replace=False)
    holes = set(range(5)) | set(scattered) | set(day)
    kept = frame.drop(index=sorted(holes))
    store.merge("SPY", "1m", kept)

    summary = store.summary("SPY", "1m")

    assert summary.first == frame.timestamp.iloc[5]
    assert summary.bars == len(kept)
    assert summary.expected == len(frame)
    assert summary.missing == len(holes) == 5 + 123 + 390
    assert summary.quality_pct == pytest.approx(100 * (len(frame) - len(holes)) / len(frame))


def test_summary_ignores_bars_outside_trading_hours(store: BarStore) -> None:
    frame = bars_for(sessions("2024-03-04", "2024-03-05"))
    after_hours = frame_at(pd.DatetimeIndex([utc("2024-03-05 22:00"), utc("2024-03-05 23:00")]))
    store.merge("SPY", "1m", pd.concat([frame, after_hours]))

    summary = store.summary("SPY", "1m")

    assert (summary.bars, summary.expected, summary.missing) == (782, 780, 0)


@pytest.mark.parametrize(
    ("timeframe", "bar_seconds", "expected"), [("1m", 60, 990), ("1h", 3600, 18)]
)
def test_summary_knows_the_early_close(
    store: BarStore, timeframe: str, bar_seconds: int, expected: int
) -> None:
    # Thanksgiving week: closed on the 28th, a 13:00 close on the 29th (210 minutes, 4 hours
    # with the last one cut short).
    frame = bars_for(sessions("2024-11-27", "2024-12-02"), bar_seconds)
    store.merge("SPY", timeframe, frame)
    on_friday = frame.timestamp.dt.date == pd.Timestamp("2024-11-29").date()

    summary = store.summary("SPY", timeframe)

    assert int(on_friday.sum()) == (210 if bar_seconds == 60 else 4)
    assert (summary.bars, summary.expected, summary.missing) == (expected, expected, 0)


def test_summary_of_daily_bars(store: BarStore) -> None:
    frame = bars_for(sessions("2023-06-01", "2024-06-30"), 0)
    kept = frame.drop(index=[10, 200])
    store.merge("SPY", "1d", kept)

    summary = store.summary("SPY", "1d")

    assert summary.first == utc("2023-06-01") and summary.last == utc("2024-06-28")
    assert summary.expected == len(frame)
    assert summary.missing == 2
    assert summary.files == 2


def test_summary_of_an_empty_dataset(store: BarStore) -> None:
    assert store.summary("SPY", "5m") == DatasetSummary(
        "SPY", "5m", None, None, 0, 0, 0, 100.0, 0, 0
    )


# -- quarantine -------------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _flip_a_timestamp_byte(path: Path) -> None:
    column = pq.read_metadata(path).row_group(0).column(0)  # the timestamps
    data = bytearray(path.read_bytes())
    data[column.data_page_offset + column.total_compressed_size // 2] ^= 0x55
    path.write_bytes(bytes(data))


def _not_parquet(path: Path) -> None:
    path.write_text("timestamp,open\n2024-02-01,1\n")


def _wrong_schema(path: Path) -> None:
    table = pa.table({"timestamp": pa.array([1, 2], pa.int64()), "open": [1.0, 2.0]})
    pq.write_table(table, path)


def _unsorted(path: Path) -> None:
    table = pq.read_table(path)
    pq.write_table(table.take(list(range(len(table) - 1, -1, -1))), path)


def _wrong_period(path: Path) -> None:
    pq.write_table(pq.read_table(path.with_name("2024-01.parquet")), path)


def _flip_a_price_byte_silently(path: Path) -> None:
    """Damage a price page so that it still decodes, to a wrong price: only a checksum
    can tell."""
    column = pq.read_metadata(path).row_group(0).column(4)  # close
    start = column.dictionary_page_offset or column.data_page_offset
    original = path.read_bytes()
    clean = pq.read_table(pa.BufferReader(original))
    for offset in range(start + column.total_compressed_size - 1, start, -1):
        data = bytearray(original)
        data[offset] ^= 0x01
        try:
            damaged = pq.read_table(pa.BufferReader(bytes(data)))
        except (OSError, ValueError):
            continue
        if not damaged.equals(clean):
            path.write_bytes(bytes(data))
            return
    pytest.fail("no byte of the close column decodes to a wrong price")


CORRUPTIONS = [
    _truncate,
    _flip_a_timestamp_byte,
    _not_parquet,
    _wrong_schema,
    _unsorted,
    _wrong_period,
]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("operation", ["read", "timestamps", "summary", "merge"])
def test_a_bad_file_is_quarantined_and_the_rest_still_reads(
    store: BarStore, corrupt, operation: str, caplog: pytest.LogCaptureFixture
) -> None:
    frame = bars_for(JAN_MAR)
    store.merge("SPY", "1m", frame)
    bad = store.dataset_path("SPY", "1m") / "2024-02.parquet"
    corrupt(bad)
    others = pd.concat([between(frame, None, "2024-02-01"), between(frame, "2024-03-01", None)])

    with caplog.at_level(logging.WARNING, logger="engine.market.store"):
        if operation == "read":
            pd.testing.assert_frame_equal(store.read("SPY", "1m"), others.reset_index(drop=True))
        elif operation == "timestamps":
            assert len(store.timestamps("SPY", "1m")) == len(others)
        elif operation == "summary":
            summary = store.summary("SPY", "1m")
            assert (summary.bars, summary.files) == (len(others), 2)
            assert summary.missing == len(frame) - len(others)
        else:
            # Merging into the bad period finds it, whatever is wrong with it.
            chunk = between(frame, "2024-02-10", "2024-02-20")
            result = store.merge("SPY", "1m", chunk)
            assert result == MergeResult(len(chunk), len(others) + len(chunk), ("2024-02.parquet",))

    [quarantined] = store.quarantined
    assert quarantined.path == bad
    assert bad.exists() == (operation == "merge")  # a merge rewrites the period at once
    assert quarantined.moved_to.parent == store.root / "quarantine" / "SPY" / "1m"
    assert re.fullmatch(r"2024-02\.parquet\.\d{8}T\d{6}", quarantined.moved_to.name)
    assert quarantined.moved_to.exists()
    assert quarantined.reason and "\n" not in quarantined.reason
    [record] = [r for r in caplog.records if r.name == "engine.market.store"]
    assert record.levelno == logging.WARNING
    assert str(bad) in record.getMessage() and quarantined.reason in record.getMessage()

    rebuilt = store.merge("SPY", "1m", frame)  # a later load brings the bars back
    assert rebuilt.files_written == ("2024-02.parquet",)
    assert rebuilt.bars_total == len(frame)
    pd.testing.assert_frame_equal(store.read("SPY", "1m"), frame)
    assert len(store.quarantined) == 1


def test_a_damaged_price_page_is_caught_by_its_checksum(store: BarStore) -> None:
    frame = bars_for(JAN_MAR)
    store.merge("SPY", "1m", frame)
    bad = store.dataset_path("SPY", "1m") / "2024-02.parquet"
    _flip_a_price_byte_silently(bad)

    assert len(store.timestamps("SPY", "1m")) == len(frame)  # reads only the timestamps
    assert len(store.read("SPY", "1m")) == len(frame) - len(
        between(frame, "2024-02-01", "2024-03-01")
    )

    [quarantined] = store.quarantined
    assert quarantined.path == bad and not bad.exists()


def test_stray_files_are_quarantined_so_pyarrow_can_read_the_folder(store: BarStore) -> None:
    frame = bars_for(sessions("2024-01-02", "2024-01-05"))
    store.merge("SPY", "1m", frame)
    directory = store.dataset_path("SPY", "1m")
    (directory / "notes.txt").write_text("mine")
    (directory / "2024.parquet").write_bytes((directory / "2024-01.parquet").read_bytes())

    pd.testing.assert_frame_equal(store.read("SPY", "1m"), frame)

    assert sorted(q.path.name for q in store.quarantined) == ["2024.parquet", "notes.txt"]
    assert all("not a monthly period file" in q.reason for q in store.quarantined)
    pd.testing.assert_frame_equal(pq.read_table(directory).to_pandas(), frame)


def test_a_file_replaced_while_being_read_is_not_quarantined(
    store: BarStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = bars_for(JAN_MAR)
    store.merge("SPY", "1m", frame)
    real_open = store_module._open
    failed: list[str] = []

    def first_look_fails(source):
        # What a reader sees when a writer swaps the file under it: the first look fails, the
        # look again under the dataset lock finds the new file fine.
        name = Path(source).name if isinstance(source, Path) else ""
        if name == "2024-02.parquet" and not failed:
            failed.append(name)
            raise store_module._CorruptFile("torn read")
        return real_open(source)

    monkeypatch.setattr(store_module, "_open", first_look_fails)

    pd.testing.assert_frame_equal(store.read("SPY", "1m"), frame)
    assert failed == ["2024-02.parquet"]
    assert store.quarantined == []


def test_two_quarantines_of_one_name_keep_both_files(store: BarStore) -> None:
    frame = bars_for(sessions("2024-01-02", "2024-01-05"))
    bad = store.dataset_path("SPY", "1m") / "2024-01.parquet"
    for text in ("first", "second"):
        store.merge("SPY", "1m", frame)
        bad.write_text(text)
        assert store.read("SPY", "1m").empty

    moved = [q.moved_to for q in store.quarantined]
    assert len(set(moved)) == 2
    assert sorted(p.read_text() for p in moved) == ["first", "second"]


# -- datasets and locking ---------------------------------------------------------------------


def test_datasets_lists_only_folders_with_bars(store: BarStore) -> None:
    week = sessions("2024-01-02", "2024-01-05")
    store.merge("MSFT", "5m", bars_for(week, 300))
    store.merge("AAPL", "1d", bars_for(week, 0))
    store.merge("AAPL", "1m", bars_for(week, 60))
    with store.lock("TSLA", "1h"):
        pass  # leaves a folder holding only the lock file
    (store.root / "bars" / "AAPL" / "2m").mkdir()
    (store.root / "bars" / "AAPL" / "2m" / "2024.parquet").write_bytes(b"")

    assert store.datasets() == [
        DatasetKey("AAPL", "1m"),
        DatasetKey("AAPL", "1d"),
        DatasetKey("MSFT", "5m"),
    ]


def test_lock_is_per_dataset_and_reentrant_in_one_thread(store: BarStore) -> None:
    week = bars_for(sessions("2024-01-02", "2024-01-05"))
    with store.lock("AAPL", "1m"):
        store.merge("MSFT", "1m", week)  # another dataset: no deadlock
        store.merge("AAPL", "1m", week)  # the same one, same thread: no deadlock either

    assert len(store.read("AAPL", "1m")) == len(store.read("MSFT", "1m")) == len(week)


def test_a_held_lock_blocks_another_thread(store: BarStore) -> None:
    week = bars_for(sessions("2024-01-02", "2024-01-05"))
    other = BarStore(store.root)  # a second instance shares the lock
    done = threading.Event()

    def merge() -> None:
        other.merge("SPY", "1m", week)
        done.set()

    with store.lock("SPY", "1m"):
        writer = threading.Thread(target=merge)
        writer.start()
        assert not done.wait(0.2)
        assert not store.dataset_path("SPY", "1m").joinpath("2024-01.parquet").exists()
    writer.join()
    assert done.is_set() and len(store.read("SPY", "1m")) == len(week)


def test_a_held_lock_is_visible_to_another_process(store: BarStore) -> None:
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n"
        "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n"
        "    print('locked')\n"
        "else:\n"
        "    print('free')\n"
    )
    lock_file = str(store.dataset_path("SPY", "1m") / ".lock")

    def try_lock() -> str:
        run = subprocess.run([sys.executable, "-c", probe, lock_file], capture_output=True)
        return run.stdout.decode().strip()

    with store.lock("SPY", "1m"):
        assert try_lock() == "locked"
    assert try_lock() == "free"


def test_threads_merging_into_one_dataset_lose_nothing(store: BarStore) -> None:
    days = sessions("2024-01-02", "2024-02-29")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(mine: list[Session]) -> None:
        try:
            start.wait()
            for session in mine:  # interleaved days: both write the same monthly files
                store.merge("SPY", "1m", bars_for([session]))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(days[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    pd.testing.assert_frame_equal(store.read("SPY", "1m"), bars_for(days))


CHILD = """
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from tests.support.bar_fixtures import bars_for, sessions
from engine.market.store import BarStore

store = BarStore(Path(sys.argv[2]))
days = sessions("2024-01-02", "2024-02-29")[int(sys.argv[3])::2]
print("ready", flush=True)
sys.stdin.readline()
for day in days:
    store.merge("SPY", "1m", bars_for([day]))
print("done", flush=True)
"""


def test_processes_merging_into_one_dataset_lose_nothing(store: BarStore) -> None:
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(ROOT), str(store.root), str(parity)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for parity in (0, 1)
    ]
    try:
        for child in children:  # both have imported everything: start them together
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert out.strip() == "done"

    pd.testing.assert_frame_equal(
        store.read("SPY", "1m"), bars_for(sessions("2024-01-02", "2024-02-29"))
    )
