"""Reading users' CSV and Parquet bar files: column names, timestamp conventions, every reason a
row is left out (with its line), whole-file errors, and a round-trip property."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from engine.ib.synthetic import SyntheticMarket
from engine.market.bar_files import (
    BarFile,
    BarFileError,
    bar_problems,
    changed_bars,
    read_bar_file,
)
from engine.market.calendar import calendar_for
from engine.market.schema import BAR_COLUMNS, bars_frame
from engine.market.timeframes import TIMEFRAME_SECONDS, TIMEFRAMES

NYSE = calendar_for("XNYS")
MARKET = SyntheticMarket(NYSE)
NEW_YORK = "America/New_York"
HEADER = "timestamp,open,high,low,close,volume"


def store_bars(first: str, last: str, timeframe: str = "1m") -> pd.DataFrame:
    """Synthetic bars of the sessions first..last (inclusive), in the store's schema."""
    seconds = TIMEFRAME_SECONDS[timeframe]
    sessions = NYSE.sessions_for_dates(pd.Timestamp(first), pd.Timestamp(last))
    bars = MARKET.bars("AAPL", seconds, sessions[0].open, sessions[-1].close)
    starts = pd.DatetimeIndex(bars.start * 10**9, tz="UTC")
    return bars_frame(
        starts,
        {
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": bars.volume,
        },
    )


def wall_clock(bars: pd.DataFrame, zone: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> pd.Series:
    return bars["timestamp"].dt.tz_convert(zone).dt.strftime(fmt)


def with_stamps(bars: pd.DataFrame, stamps: object) -> pd.DataFrame:
    return bars.assign(timestamp=stamps)


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_rows(bars: pd.DataFrame, zone: str = NEW_YORK) -> list[str]:
    """Bars as CSV lines with naive wall-clock timestamps of `zone`."""
    stamps = wall_clock(bars, zone)
    return [
        f"{t},{o!r},{h!r},{low!r},{c!r},{v!r}"
        for t, o, h, low, c, v in zip(
            stamps, bars.open, bars.high, bars.low, bars.close, bars.volume, strict=True
        )
    ]


def assert_same_bars(result: BarFile, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        result.bars.reset_index(drop=True), expected.reset_index(drop=True), check_exact=True
    )


def reason_at(result: BarFile, line: int) -> str:
    found = [row.reason for row in result.bad_rows if row.line == line]
    assert len(found) == 1, f"line {line}: {found} in {result.bad_rows}"
    return found[0]


# --- columns ---------------------------------------------------------------------------------


def test_split_date_and_time_short_names_and_adjusted_close_ignored(tmp_path: Path) -> None:
    bars = store_bars("2024-01-02", "2024-01-03")
    frame = pd.DataFrame(
        {
            "Date": wall_clock(bars, NEW_YORK, "%Y-%m-%d"),
            "Time": wall_clock(bars, NEW_YORK, "%H:%M:%S"),
            "O": bars.open,
            "H": bars.high,
            "L": bars.low,
            "C": bars.close,
            "Adj Close": bars.close * 0.97,
            "Vol": bars.volume,
        }
    )
    result = read_bar_file(write_csv(tmp_path / "aapl.csv", frame), "1m")
    assert_same_bars(result, bars)
    assert result.bad_rows == ()
    assert result.timezone == NEW_YORK
    assert result.columns == {
        "timestamp": "Date + Time",
        "open": "O",
        "high": "H",
        "low": "L",
        "close": "C",
        "volume": "Vol",
    }


@pytest.mark.parametrize(
    "names",
    [
        ["Timestamp", "Open", "High", "Low", "Close", "Volume"],
        [" DATETIME ", "OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"],
        ["Date Time", "open", "high", "low", "close", "vol"],
        ["date_time", "o", "h", "l", "c", "v"],
        ["Date", "Open", "High", "Low", "Close", "Volume"],
        ["adj_close", "time", "open", "high", "low", "close", "volume"],
    ],
)
def test_column_names_in_any_case_and_spacing(tmp_path: Path, names: list[str]) -> None:
    bars = store_bars("2024-01-02", "2024-01-02")
    columns = [wall_clock(bars, NEW_YORK), bars.open, bars.high, bars.low, bars.close, bars.volume]
    if names[0] == "adj_close":
        columns.insert(0, bars.close + 1.0)
    frame = pd.DataFrame(dict(zip(names, columns, strict=True)))
    result = read_bar_file(write_csv(tmp_path / "bars.csv", frame), "1m")
    assert_same_bars(result, bars)
    assert result.columns["close"] != "adj_close"
    assert set(result.columns) == set(BAR_COLUMNS)


def test_semicolon_separated_txt(tmp_path: Path) -> None:
    bars = store_bars("2024-01-02", "2024-01-02", "5m")
    path = tmp_path / "bars.txt"
    with_stamps(bars, wall_clock(bars, NEW_YORK)).to_csv(path, index=False, sep=";")
    assert_same_bars(read_bar_file(path, "5m"), bars)


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(("unit", "scale"), [("s", 1), ("ms", 1000)])
def test_epoch_seconds_and_milliseconds(tmp_path: Path, unit: str, scale: int) -> None:
    bars = store_bars("2024-01-02", "2024-01-03", "5m")
    epoch = bars["timestamp"].astype("int64") // 10**9 * scale
    result = read_bar_file(write_csv(tmp_path / f"{unit}.csv", with_stamps(bars, epoch)), "5m")
    assert_same_bars(result, bars)
    assert result.timezone == "UTC"


def test_text_with_offsets_across_a_clock_change(tmp_path: Path) -> None:
    # 2024-03-08 is EST (-05:00), 2024-03-11 EDT (-04:00).
    bars = store_bars("2024-03-08", "2024-03-11", "15m")
    aware = with_stamps(bars, bars["timestamp"].dt.tz_convert(NEW_YORK))
    path = write_csv(tmp_path / "aware.csv", aware)
    assert "-05:00" in path.read_text() and "-04:00" in path.read_text()
    result = read_bar_file(path, "15m")
    assert_same_bars(result, bars)
    assert result.timezone == "from file"


def test_iso_z_and_ib_zone_names(tmp_path: Path) -> None:
    bars = store_bars("2024-07-01", "2024-07-02", "30m")
    zulu = with_stamps(bars, bars["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    result = read_bar_file(write_csv(tmp_path / "z.csv", zulu), "30m")
    assert_same_bars(result, bars)
    assert result.timezone == "from file"
    ib = with_stamps(bars, wall_clock(bars, NEW_YORK, "%Y%m%d %H:%M:%S") + " US/Eastern")
    result = read_bar_file(write_csv(tmp_path / "ib.csv", ib), "30m")
    assert_same_bars(result, bars)
    assert result.timezone == "from file"


@pytest.mark.parametrize("timeframe", ["1m", "5m", "1h", "4h"])
@pytest.mark.parametrize("zone", [NEW_YORK, "UTC"])
def test_naive_timestamps_read_in_the_zone_that_fits_the_sessions(
    tmp_path: Path, timeframe: str, zone: str
) -> None:
    # A winter and a summer session: New York is 5 and then 4 hours behind UTC.
    winter = store_bars("2024-01-02", "2024-01-02", timeframe)
    summer = store_bars("2024-07-01", "2024-07-01", timeframe)
    bars = pd.concat([winter, summer], ignore_index=True)
    frame = with_stamps(bars, wall_clock(bars, zone))
    result = read_bar_file(write_csv(tmp_path / "naive.csv", frame), timeframe)
    assert result.timezone == zone
    assert_same_bars(result, bars)
    assert result.bad_rows == ()


def test_a_tie_between_zones_goes_to_the_exchange(tmp_path: Path) -> None:
    # 09:30 is an hourly bar start read in New York (not in UTC); 16:30 one read in UTC
    # (11:30 in New York), not in New York (after the close).
    path = write_lines(
        tmp_path / "tie.csv",
        [HEADER, "2024-01-02 09:30:00,10,11,9,10,100", "2024-01-02 16:30:00,10,11,9,10,100"],
    )
    result = read_bar_file(path, "1h")
    assert result.timezone == NEW_YORK
    assert list(result.bars["timestamp"]) == [pd.Timestamp("2024-01-02 14:30", tz="UTC")]
    assert "outside XNYS trading sessions" in reason_at(result, 3)


def test_utc_wins_when_more_bars_fit_it(tmp_path: Path) -> None:
    # A UTC file whose first bars happen to be valid New York times too (13:30-15:59 UTC in
    # summer): the rest of the session decides.
    bars = store_bars("2024-07-01", "2024-07-01")
    path = write_csv(tmp_path / "utc.csv", with_stamps(bars, wall_clock(bars, "UTC")))
    result = read_bar_file(path, "1m")
    assert result.timezone == "UTC"
    assert len(result.bars) == 390


# --- daily -----------------------------------------------------------------------------------


def test_daily_dates_are_session_dates_at_midnight_utc(tmp_path: Path) -> None:
    bars = store_bars("2024-01-02", "2024-01-31", "1d")
    assert bars["timestamp"].iloc[0] == pd.Timestamp("2024-01-02", tz="UTC")
    frame = with_stamps(bars, bars["timestamp"].dt.strftime("%Y-%m-%d")).rename(
        columns={"timestamp": "Date"}
    )
    result = read_bar_file(write_csv(tmp_path / "daily.csv", frame), "1d")
    assert_same_bars(result, bars)
    assert result.bad_rows == ()
    assert result.timezone == "UTC"


@pytest.mark.parametrize(
    "fmt",
    [
        "%Y-%m-%d 00:00:00",  # naive midnight
        "%Y%m%d",  # IB's daily format
        "%Y-%m-%dT00:00:00Z",  # midnight UTC
    ],
)
def test_daily_date_spellings(tmp_path: Path, fmt: str) -> None:
    bars = store_bars("2024-03-25", "2024-04-05", "1d")
    frame = with_stamps(bars, bars["timestamp"].dt.strftime(fmt))
    result = read_bar_file(write_csv(tmp_path / "daily.csv", frame), "1d")
    assert_same_bars(result, bars)


def test_daily_midnight_in_new_york_with_an_offset_is_that_session(tmp_path: Path) -> None:
    bars = store_bars("2024-03-04", "2024-03-15", "1d")
    local_midnight = bars["timestamp"].dt.tz_localize(None).dt.tz_localize(NEW_YORK)
    result = read_bar_file(
        write_csv(tmp_path / "daily.csv", with_stamps(bars, local_midnight)), "1d"
    )
    assert_same_bars(result, bars)
    assert result.timezone == "from file"


def test_daily_bad_rows(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "daily.csv",
        [
            "date,open,high,low,close,volume",
            "2024-01-12,10,11,9,10,100",
            "2024-01-15,10,11,9,10,100",  # Martin Luther King Jr. Day
            "2024-01-13,10,11,9,10,100",  # Saturday
            "2024-01-16 16:00:00,10,11,9,10,100",  # a time of day, not a date
            "2024-01-17,10,11,9,10,100",
        ],
    )
    result = read_bar_file(path, "1d")
    assert list(result.bars["timestamp"]) == [
        pd.Timestamp("2024-01-12", tz="UTC"),
        pd.Timestamp("2024-01-17", tz="UTC"),
    ]
    assert reason_at(result, 3) == "no XNYS session on 2024-01-15 (Monday)"
    assert reason_at(result, 4) == "no XNYS session on 2024-01-13 (Saturday)"
    assert "is not a date" in reason_at(result, 5)
    assert len(result.bad_rows) == 3


# --- bad rows --------------------------------------------------------------------------------

# Each bad line, after 390 good ones (lines 2-391 of the file), with the reason expected for it.
BAD_LINES = [
    ("not a time,10,11,9,10,100", "unparseable timestamp 'not a time'"),
    (",10,11,9,10,100", "missing timestamp"),
    ("2024-01-08 09:30:00,10,11,9,,100", "missing close"),
    ("2024-01-08 09:31:00,10,11,9,10,abc", "non-numeric volume 'abc'"),
    ("2024-01-08 09:32:00,10,11,9,10,-5", "negative volume -5"),
    ("2024-01-08 09:33:00,0,11,0.5,10,100", "non-positive open 0"),
    ("2024-01-08 09:34:00,10,11,-1,10,100", "non-positive low -1"),
    ("2024-01-08 09:35:00,10,10.5,9,11,100", "high 10.5 below max(open, close) 11"),
    ("2024-01-08 09:36:00,10,11,10.5,10.2,100", "low 10.5 above min(open, close) 10"),
    ("2024-01-08 09:37:00,10,9,9.5,10,100", "high 9 below low 9.5"),
    ("2024-01-06 10:00:00,10,11,9,10,100", "outside XNYS trading sessions"),  # Saturday
    ("2024-01-08 03:00:00,10,11,9,10,100", "outside XNYS trading sessions"),
    ("2024-01-15 10:00:00,10,11,9,10,100", "outside XNYS trading sessions"),  # MLK day
    ("2024-01-08 16:00:00,10,11,9,10,100", "outside XNYS trading sessions"),  # the close
    ("2024-01-08 10:00:30,10,11,9,10,100", "is not a 1m bar start"),
    ("2024-01-08 09:38:00,10,11,9,10,100,7", "expected 6 fields, saw 7"),
]


def test_each_bad_row_is_reported_with_its_line(tmp_path: Path) -> None:
    good = store_bars("2024-01-05", "2024-01-05")
    lines = [HEADER, *csv_rows(good), *(line for line, _ in BAD_LINES)]
    result = read_bar_file(write_lines(tmp_path / "bad.csv", lines), "1m")
    assert_same_bars(result, good)
    assert result.timezone == NEW_YORK
    assert [row.line for row in result.bad_rows] == list(range(392, 392 + len(BAD_LINES)))
    for (_, expected), row in zip(BAD_LINES, result.bad_rows, strict=True):
        assert expected in row.reason, (row, expected)


def test_a_row_in_an_early_close_afternoon_is_outside_the_session(tmp_path: Path) -> None:
    good = store_bars("2024-11-29", "2024-11-29")  # 09:30-13:00
    lines = [HEADER, *csv_rows(good), "2024-11-29 13:30:00,10,11,9,10,100"]
    result = read_bar_file(write_lines(tmp_path / "early.csv", lines), "1m")
    assert_same_bars(result, good)
    assert "2024-11-29 18:30 UTC) is outside XNYS trading sessions" in reason_at(result, 212)


def test_a_five_minute_bar_off_the_grid(tmp_path: Path) -> None:
    good = store_bars("2024-01-02", "2024-01-02", "5m")
    lines = [HEADER, *csv_rows(good), "2024-01-02 09:32:00,10,11,9,10,100"]
    result = read_bar_file(write_lines(tmp_path / "five.csv", lines), "5m")
    assert_same_bars(result, good)
    assert "is not a 5m bar start" in reason_at(result, 80)
    # The same time is a fine one-minute bar.
    one = read_bar_file(write_lines(tmp_path / "one.csv", [HEADER, lines[-1]]), "1m")
    assert one.bad_rows == ()


def test_blank_lines_are_skipped_and_lines_still_counted(tmp_path: Path) -> None:
    good = store_bars("2024-01-02", "2024-01-02", "1h")
    rows = csv_rows(good)
    lines = [HEADER, rows[0], "", rows[1], "", "", "2024-01-02 10:00:00,1,1,1,1,1", *rows[2:]]
    result = read_bar_file(write_lines(tmp_path / "blank.csv", lines), "1h")
    assert_same_bars(result, good)
    assert [row.line for row in result.bad_rows] == [7]


def test_exact_duplicates_are_dropped_silently(tmp_path: Path) -> None:
    good = store_bars("2024-01-02", "2024-01-02", "15m")
    rows = csv_rows(good)
    lines = [HEADER, *rows[:5], rows[3], *rows[5:], rows[0]]
    result = read_bar_file(write_lines(tmp_path / "dups.csv", lines), "15m")
    assert_same_bars(result, good)
    assert result.bad_rows == ()


def test_conflicting_duplicates_are_all_reported(tmp_path: Path) -> None:
    good = store_bars("2024-01-02", "2024-01-02", "15m")
    rows = csv_rows(good)
    stamp = rows[3].split(",")[0]
    lines = [HEADER, *rows, f"{stamp},10,11,9,10,100"]  # line 5 and the last line disagree
    result = read_bar_file(write_lines(tmp_path / "clash.csv", lines), "15m")
    last = len(lines)
    assert [row.line for row in result.bad_rows] == [5, last]
    assert reason_at(result, 5) == (
        f"duplicate timestamp '{stamp}' with different values (also line {last})"
    )
    assert reason_at(result, last).endswith("(also line 5)")
    assert_same_bars(result, good.drop(index=3))


def test_results_are_sorted_whatever_the_file_order(tmp_path: Path) -> None:
    good = store_bars("2024-01-02", "2024-01-04", "30m")
    rows = csv_rows(good)
    result = read_bar_file(write_lines(tmp_path / "rev.csv", [HEADER, *rows[::-1]]), "30m")
    assert_same_bars(result, good)


def test_bad_rows_are_not_capped(tmp_path: Path) -> None:
    good = store_bars("2024-01-02", "2024-01-02")
    saturday = [f"2024-01-06 10:{m:02d}:00,10,11,9,10,100" for m in range(60)] * 10
    saturday = [line.replace(",100", f",{100 + i}") for i, line in enumerate(saturday)]
    result = read_bar_file(
        write_lines(tmp_path / "many.csv", [HEADER, *csv_rows(good), *saturday]), "1m"
    )
    assert len(result.bad_rows) == 600
    assert len(result.bars) == 390


# --- Parquet ---------------------------------------------------------------------------------


def test_parquet_with_a_timezone_aware_column(tmp_path: Path) -> None:
    bars = store_bars("2024-01-02", "2024-01-03")
    path = tmp_path / "aware.parquet"
    with_stamps(bars, bars["timestamp"].dt.tz_convert(NEW_YORK)).to_parquet(path)
    result = read_bar_file(path, "1m")
    assert_same_bars(result, bars)
    assert result.timezone == "from file"


@pytest.mark.parametrize("zone", [NEW_YORK, "UTC"])
def test_parquet_with_a_naive_column(tmp_path: Path, zone: str) -> None:
    bars = store_bars("2024-01-02", "2024-07-02", "1h")
    naive = bars["timestamp"].dt.tz_convert(zone).dt.tz_localize(None)
    path = tmp_path / "naive.pq"
    with_stamps(bars, naive).to_parquet(path)
    result = read_bar_file(path, "1h")
    assert_same_bars(result, bars)
    assert result.timezone == zone


def test_parquet_with_timestamps_in_the_index_and_epoch_ms(tmp_path: Path) -> None:
    bars = store_bars("2024-01-02", "2024-01-02", "5m")
    indexed = tmp_path / "indexed.parquet"
    bars.set_index("timestamp").to_parquet(indexed)
    assert_same_bars(read_bar_file(indexed, "5m"), bars)
    epoch = tmp_path / "epoch.parquet"
    with_stamps(bars, bars["timestamp"].astype("int64") // 10**6).to_parquet(epoch)
    result = read_bar_file(epoch, "5m")
    assert_same_bars(result, bars)
    assert result.timezone == "UTC"


def test_parquet_bad_rows_count_rows_from_one(tmp_path: Path) -> None:
    bars = store_bars("2024-01-02", "2024-01-02", "30m")
    broken = bars.copy()
    broken.loc[3, "high"] = broken.loc[3, "low"] - 1
    path = tmp_path / "broken.parquet"
    broken.to_parquet(path)
    result = read_bar_file(path, "30m")
    assert [row.line for row in result.bad_rows] == [4]
    assert "high" in result.bad_rows[0].reason
    assert_same_bars(result, bars.drop(index=3))


# --- whole-file errors -----------------------------------------------------------------------


def error_for(path: Path, timeframe: str = "1m") -> str:
    with pytest.raises(BarFileError) as raised:
        read_bar_file(path, timeframe)
    message = str(raised.value)
    assert "\n" not in message
    assert path.name in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in error_for(tmp_path / "nothing.csv")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    assert "empty" in error_for(path)


def test_binary_garbage_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 40)
    assert "not a text file" in error_for(path)


def test_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"{HEADER}\n2024-01-02 09:30:00,10,11,9,10,100 caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in error_for(path)


def test_garbage_named_parquet(tmp_path: Path) -> None:
    path = tmp_path / "garbage.parquet"
    path.write_bytes(b"this is not parquet at all" * 10)
    assert "not a readable Parquet file" in error_for(path)


def test_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "bars.xlsx"
    path.write_bytes(b"PK\x03\x04")
    assert "unknown file type '.xlsx'" in error_for(path)


def test_no_timestamp_column(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "nots.csv", ["when,open,high,low,close,volume", "x,1,1,1,1,1"])
    message = error_for(path)
    assert "no timestamp column" in message and "found: when, open" in message


def test_no_volume_column(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "novol.csv", ["timestamp,open,high,low,close", "2024-01-02 09:30:00,1,1,1,1"]
    )
    assert "no volume column" in error_for(path)


def test_missing_price_columns(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "close.csv", ["timestamp,close,volume", "2024-01-02,1,1"])
    assert "no open, high, low column" in error_for(path, "1d")


def test_no_valid_rows(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "weekend.csv",
        [HEADER, "2024-01-06 10:00:00,10,11,9,10,100", "2024-01-07 10:00:00,10,11,9,10,100"],
    )
    message = error_for(path)
    assert "no valid rows (2 rows not imported; first: line 2:" in message
    assert "outside XNYS trading sessions" in message


def test_header_only(tmp_path: Path) -> None:
    assert "no valid rows (0 rows" in error_for(write_lines(tmp_path / "header.csv", [HEADER]))


# --- size --------------------------------------------------------------------------------
# How fast is measured in bench/bench_store.py; here only that a large file reads whole.


@pytest.mark.slow
def test_a_large_file_reads_whole(tmp_path: Path) -> None:
    # Three years of minute bars (about 290,000 rows) in New York wall-clock time.
    sessions = NYSE.sessions_for_dates(pd.Timestamp("2021-01-04"), pd.Timestamp("2023-12-29"))
    starts = NYSE.bar_starts(sessions, 60)
    prices = np.full(len(starts), 100.0)
    bars = bars_frame(
        starts, {"open": prices, "high": prices, "low": prices, "close": prices, "volume": prices}
    )
    path = write_csv(tmp_path / "big.csv", with_stamps(bars, wall_clock(bars, NEW_YORK)))
    result = read_bar_file(path, "1m")
    assert len(result.bars) == len(bars) > 290_000
    pd.testing.assert_series_equal(result.bars.timestamp, bars.timestamp, check_names=False)


# --- property --------------------------------------------------------------------------------

FIRST_ORDINAL = NYSE.first_session_on_or_after(pd.Timestamp("2012-01-01")).ordinal


def all_bar_starts(stamps: pd.DatetimeIndex, seconds: int) -> bool:
    """Whether every one of these UTC instants is a bar start of the calendar."""
    if stamps.isna().any():
        return False
    sessions = NYSE.sessions_between(
        stamps.min() - pd.Timedelta(days=1), stamps.max() + pd.Timedelta(days=1)
    )
    return bool(stamps.isin(NYSE.bar_starts(sessions, seconds)).all())


@settings(max_examples=60, deadline=None)
@given(
    timeframe=st.sampled_from(TIMEFRAMES),
    convention=st.sampled_from([NEW_YORK, "UTC", "offset"]),
    first=st.integers(min_value=0, max_value=3000),
    count=st.integers(min_value=1, max_value=3),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    density=st.floats(min_value=0.02, max_value=1.0),
    decimals=st.sampled_from([0, 2, 4, None]),
)
@example(  # every other 30m bar of a session, but for its first two
    timeframe="30m",
    convention=NEW_YORK,
    first=0,
    count=1,
    seed=23116747,
    density=0.5,
    decimals=0,
)
def test_valid_bars_read_back_exactly(
    timeframe: str,
    convention: str,
    first: int,
    count: int,
    seed: int,
    density: float,
    decimals: int | None,
) -> None:
    seconds = TIMEFRAME_SECONDS[timeframe]
    rng = np.random.default_rng(seed)
    sessions = [NYSE.session_at(FIRST_ORDINAL + first + i) for i in range(count * 10)]
    starts = NYSE.bar_starts(sessions if seconds == 0 else sessions[:count], seconds)
    keep = rng.random(len(starts)) < density
    # Two bars one bar apart (a session's first two): without them, a sparse file of every
    # other 30m bar is a file of 1h bars, as the reader rightly says (`_spacing_mismatch`).
    keep[:2] = True
    starts = starts[keep]
    n = len(starts)
    opens, closes = rng.uniform(1, 1000, n), rng.uniform(1, 1000, n)
    highs = np.maximum(opens, closes) + rng.exponential(5, n)
    lows = np.minimum(opens, closes) - rng.uniform(0, 1, n) * (np.minimum(opens, closes) - 0.5)
    volumes = rng.integers(0, 10**7, n).astype(float)
    if decimals is not None:
        opens, closes = np.round(opens, decimals), np.round(closes, decimals)
        highs = np.maximum(np.round(highs, decimals), np.maximum(opens, closes))
        lows = np.minimum(np.round(lows, decimals), np.minimum(opens, closes))
        lows = np.where(lows > 0, lows, np.minimum(opens, closes))
    bars = bars_frame(
        starts, {"open": opens, "high": highs, "low": lows, "close": closes, "volume": volumes}
    )

    if seconds == 0:
        stamps = (
            bars["timestamp"].dt.strftime("%Y-%m-%d")
            if convention != "offset"
            else bars["timestamp"].dt.tz_localize(None).dt.tz_localize(NEW_YORK).astype(str)
        )
    elif convention == "offset":
        stamps = bars["timestamp"].dt.tz_convert(NEW_YORK).astype(str)
    else:
        stamps = wall_clock(bars, convention)
        if convention == "UTC":
            # A UTC file all of whose times are also New York bar starts cannot be told from a
            # New York file: the reader takes the exchange's zone then, by design.
            as_new_york = pd.DatetimeIndex(bars["timestamp"].dt.tz_localize(None)).tz_localize(
                NEW_YORK, ambiguous="NaT", nonexistent="NaT"
            )
            assume(not all_bar_starts(as_new_york.tz_convert("UTC"), seconds))
    shuffled = with_stamps(bars, stamps).iloc[rng.permutation(n)]
    with tempfile.TemporaryDirectory() as folder:
        result = read_bar_file(write_csv(Path(folder) / "bars.csv", shuffled), timeframe)
    assert result.bad_rows == ()
    assert_same_bars(result, bars)
    if convention == "offset":
        assert result.timezone == "from file"
    elif seconds:
        assert result.timezone == convention


# --- the file's bar spacing against --timeframe --------------------------------------------


def test_minute_bars_imported_as_five_minute_bars_are_refused(tmp_path: Path) -> None:
    # Before: the 5m grid kept every fifth minute, the rest were "bad rows", and it exited 0.
    bars = store_bars("2024-01-02", "2024-01-03")
    path = write_csv(tmp_path / "minutes.csv", with_stamps(bars, wall_clock(bars, NEW_YORK)))
    message = error_for(path, "5m")
    assert "the bars are 1 minute apart" in message
    assert "not 5m bars: import it with --timeframe 1m" in message


@pytest.mark.parametrize(
    ("file_timeframe", "spacing"), [("5m", "5 minutes"), ("1h", "1 hour"), ("15m", "15 minutes")]
)
def test_coarser_bars_imported_as_minute_bars_are_refused(
    tmp_path: Path, file_timeframe: str, spacing: str
) -> None:
    # Every one of them is a fine 1m bar start: without the spacing they would all be stored.
    bars = store_bars("2024-01-02", "2024-01-04", file_timeframe)
    path = write_csv(tmp_path / "bars.csv", with_stamps(bars, wall_clock(bars, NEW_YORK)))
    message = error_for(path, "1m")
    assert f"the bars are {spacing} apart" in message
    assert f"import it with --timeframe {file_timeframe}" in message


def test_intraday_bars_imported_as_daily_bars_are_refused(tmp_path: Path) -> None:
    bars = store_bars("2024-01-02", "2024-01-02", "30m")
    path = write_csv(tmp_path / "bars.csv", with_stamps(bars, wall_clock(bars, NEW_YORK)))
    assert (
        "30 minutes apart (the most common step within a session), not 1d bars: import it "
        "with --timeframe 30m"
    ) in error_for(path, "1d")


def test_a_spacing_no_timeframe_has_is_named(tmp_path: Path) -> None:
    bars = store_bars("2024-01-02", "2024-01-02")
    two_minutes = bars.iloc[::2]
    path = write_csv(tmp_path / "two.csv", with_stamps(two_minutes, wall_clock(two_minutes, "UTC")))
    assert "the bars are 2 minutes apart" in error_for(path, "1m")
    assert "no timeframe fits them" in error_for(path, "1m")


def test_gaps_and_a_stray_row_do_not_change_the_spacing(tmp_path: Path) -> None:
    # A weekend, a holiday (MLK day, 15 January), a third of the bars missing at random and
    # one row off the grid: the bars are still 5-minute bars.
    bars = store_bars("2024-01-11", "2024-01-17", "5m")
    keep = np.random.default_rng(7).random(len(bars)) > 1 / 3
    sparse = bars[keep].reset_index(drop=True)
    lines = [HEADER, *csv_rows(sparse), "2024-01-16 10:01:00,10,11,9,10,100"]
    result = read_bar_file(write_lines(tmp_path / "gaps.csv", lines), "5m")
    assert_same_bars(result, sparse)
    assert "is not a 5m bar start" in reason_at(result, len(lines))


def test_a_sparse_file_of_the_right_bars_is_read(tmp_path: Path) -> None:
    # Hourly bars at 09:30, 10:30, 12:30 and 14:30: two steps of 2 hours for one of an hour.
    # The common step is a multiple of an hour and one step is an hour: these are 1h bars.
    bars = store_bars("2024-01-02", "2024-01-05", "1h")
    local = bars["timestamp"].dt.tz_convert(NEW_YORK).dt.strftime("%H:%M")
    sparse = bars[local.isin(["09:30", "10:30", "12:30", "14:30"])].reset_index(drop=True)
    path = write_csv(tmp_path / "sparse.csv", with_stamps(sparse, wall_clock(sparse, NEW_YORK)))
    result = read_bar_file(path, "1h")
    assert_same_bars(result, sparse)


def test_too_few_bars_to_judge_are_checked_row_by_row(tmp_path: Path) -> None:
    # Two steps of a minute: no spacing verdict; the rows off the 5m grid are reported.
    lines = [HEADER, *(f"2024-01-02 09:3{m}:00,10,11,9,10,100" for m in (5, 6, 7))]
    result = read_bar_file(write_lines(tmp_path / "few.csv", lines), "5m")
    assert len(result.bars) == 1
    assert [row.line for row in result.bad_rows] == [3, 4]


@settings(max_examples=40, deadline=None)
@given(
    file_timeframe=st.sampled_from([tf for tf in TIMEFRAMES if tf != "1d"]),
    read_as=st.sampled_from(TIMEFRAMES),
    first=st.integers(min_value=0, max_value=3000),
)
def test_bars_of_one_timeframe_are_never_stored_as_another(
    file_timeframe: str, read_as: str, first: int
) -> None:
    assume(file_timeframe != read_as)
    # Five sessions: at least three steps within a session even for 4h bars (two a day, one
    # on an early close), the fewest the spacing is judged on.
    sessions = [NYSE.session_at(FIRST_ORDINAL + first + i) for i in range(5)]
    starts = NYSE.bar_starts(sessions, TIMEFRAME_SECONDS[file_timeframe])
    prices = np.full(len(starts), 10.0)
    bars = bars_frame(
        starts, {"open": prices, "high": prices, "low": prices, "close": prices, "volume": prices}
    )
    with tempfile.TemporaryDirectory() as folder:
        path = write_csv(Path(folder) / "bars.csv", with_stamps(bars, wall_clock(bars, NEW_YORK)))
        message = error_for(path, read_as)
    assert f"import it with --timeframe {file_timeframe}" in message


# --- files other programs write --------------------------------------------------------------


def test_pandas_to_csv_with_a_datetime_index(tmp_path: Path) -> None:
    # df.to_csv() with an unnamed DatetimeIndex: the header's first field is empty.
    bars = store_bars("2024-03-08", "2024-03-11", "15m")
    indexed = bars.set_index("timestamp")
    indexed.index = indexed.index.tz_convert(NEW_YORK).rename(None)
    indexed.columns = ["Open", "High", "Low", "Close", "Volume"]
    path = tmp_path / "pandas.csv"
    indexed.to_csv(path)
    assert path.read_text().startswith(",Open,High,Low,Close,Volume\n2024-03-08 09:30:00-05:00,")
    result = read_bar_file(path, "15m")
    assert_same_bars(result, bars)
    assert result.timezone == "from file"


def test_pandas_to_parquet_with_an_unnamed_datetime_index(tmp_path: Path) -> None:
    bars = store_bars("2024-01-02", "2024-01-02", "5m")
    path = tmp_path / "pandas.parquet"
    bars.set_index("timestamp").rename_axis(None).to_parquet(path)
    assert_same_bars(read_bar_file(path, "5m"), bars)


def test_yfinance_daily_csv_with_its_three_header_lines(tmp_path: Path) -> None:
    bars = store_bars("2024-01-02", "2024-01-10", "1d")
    lines = [
        "Price,Adj Close,Close,High,Low,Open,Volume",
        "Ticker,AAPL,AAPL,AAPL,AAPL,AAPL,AAPL",
        "Date,,,,,,",
        *(
            f"{t:%Y-%m-%d},{c * 0.99!r},{c!r},{h!r},{low!r},{o!r},{v:.0f}"
            for t, o, h, low, c, v in bars.itertuples(index=False)
        ),
        "2024-01-13,1,2,3,1,1,100",  # a Saturday: reported on its own line
    ]
    result = read_bar_file(write_lines(tmp_path / "yf.csv", lines), "1d")
    assert_same_bars(result, bars)
    assert result.columns["timestamp"] == "Date"
    assert result.columns["close"] == "Close"
    assert [row.line for row in result.bad_rows] == [len(lines)]


def test_yfinance_intraday_csv_with_offsets(tmp_path: Path) -> None:
    bars = store_bars("2024-01-02", "2024-01-02", "5m")
    stamps = bars["timestamp"].dt.tz_convert(NEW_YORK).astype(str)
    rows = [
        f"{t},{c!r},{h!r},{low!r},{o!r},{v:.0f}"
        for t, (_, o, h, low, c, v) in zip(stamps, bars.itertuples(index=False), strict=True)
    ]
    header = [
        "Price,Close,High,Low,Open,Volume",
        "Ticker,MSFT,MSFT,MSFT,MSFT,MSFT",
        "Datetime,,,,,",
    ]
    result = read_bar_file(write_lines(tmp_path / "yf.csv", header + rows), "5m")
    assert_same_bars(result, bars)
    assert result.bad_rows == ()


def test_a_yfinance_file_of_several_tickers_is_refused(tmp_path: Path) -> None:
    lines = [
        "Price,Close,Close,High,High,Low,Low,Open,Open,Volume,Volume",
        "Ticker,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT",
        "Date,,,,,,,,,,",
        "2024-01-02,1,2,1,2,1,2,1,2,10,20",
    ]
    message = error_for(write_lines(tmp_path / "two.csv", lines), "1d")
    assert "holds 2 tickers (AAPL, MSFT)" in message


def test_backtesting_py_sample_csv(tmp_path: Path) -> None:
    # The shape of backtesting.py's test/GOOG.csv: an unnamed date column, then OHLCV.
    lines = [
        ",Open,High,Low,Close,Volume",
        "2024-01-02,139.6,140.615,137.74,138.17,20071900",
        "2024-01-03,138.6,141.09,138.43,138.92,18974300",
        "2024-01-04,139.85,140.635,138.01,136.39,18253300",  # close below low: reported
        "2024-01-05,138.352,138.81,136.85,135.73,15433200",  # the same
        "2024-01-08,136.29,140.64,135.51,140.53,17645300",
    ]
    result = read_bar_file(write_lines(tmp_path / "GOOG.csv", lines), "1d")
    assert list(result.bars["timestamp"].dt.strftime("%Y-%m-%d")) == [
        "2024-01-02",
        "2024-01-03",
        "2024-01-08",
    ]
    assert list(result.bars["close"]) == [138.17, 138.92, 140.53]
    assert result.columns["timestamp"] == "Unnamed: 0"
    assert [row.line for row in result.bad_rows] == [4, 5]
    assert "low 138.01 above min(open, close) 136.39" in reason_at(result, 4)


# --- the same checks for bars that come from IB ----------------------------------------------


def test_bar_problems_reports_what_the_import_would_refuse() -> None:
    bars = store_bars("2024-01-02", "2024-01-02").iloc[:8].reset_index(drop=True)
    bars.loc[1, "open"] = np.nan
    bars.loc[2, "close"] = -1.0
    bars.loc[3, ["high", "low"]] = [1.0, 2.0]
    bars.loc[4, "timestamp"] += pd.Timedelta(seconds=30)
    bars.loc[5, "timestamp"] = pd.Timestamp("2024-01-06 15:00", tz="UTC")  # a Saturday
    bars = pd.concat([bars, bars.iloc[[0]]], ignore_index=True)  # the first bar twice
    problems = dict((row.line, row.reason) for row in bar_problems(bars, "1m", NYSE))
    assert sorted(problems) == [2, 3, 4, 5, 6, 9]
    assert problems[2] == "missing open"
    assert problems[3] == "non-positive close -1"
    assert problems[4] == "high 1 below low 2"
    assert "is not a 1m bar start" in problems[5]
    assert "outside XNYS trading sessions" in problems[6]
    assert problems[9] == "bar '2024-01-02 14:30:00+00:00' sent twice"
    assert bar_problems(store_bars("2024-01-02", "2024-01-03", "1d"), "1d", NYSE) == ()


def test_changed_bars_are_stored_bars_the_new_ones_would_overwrite() -> None:
    stored = store_bars("2024-01-02", "2024-01-02", "1h")
    incoming = store_bars("2024-01-02", "2024-01-03", "1h")  # the same day again, then more
    assert len(changed_bars(stored, incoming)) == 0
    incoming.loc[[2, 5], "volume"] += 1
    incoming.loc[9, "close"] += 0.01  # a new bar: added, not changed
    assert list(changed_bars(stored, incoming)) == list(stored["timestamp"].iloc[[2, 5]])
