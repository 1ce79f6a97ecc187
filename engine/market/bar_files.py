"""Read a user's CSV or Parquet OHLCV file into the store's bar schema (`ktrdr-tui import`).
Columns are found by name, timestamps by content (epoch, text with or without an offset, naive
exchange-local or UTC). Rows are never repaired: each one left out is reported with its line
and the reason. The same checks judge the bars IB sends (`bar_problems`)."""

from __future__ import annotations

import csv
import re
import warnings
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.core.errors import first_line
from engine.market.calendar import TradingCalendar, calendar_for
from engine.market.schema import PRICE_COLUMNS, bars_frame
from engine.market.timeframes import TIMEFRAME_SECONDS, check_timeframe

CSV_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
FROM_FILE = "from file"

_NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds
_DAY_NS = 86_400 * 10**9
_SAME_SESSION_NS = _DAY_NS // 2
_CLEAR_STEPS = 3  # a bar spacing is judged only when its step occurs at least this often

# Normalised names (see _normalise), most specific first.
_TIMESTAMP_NAMES = ("timestamp", "datetime", "date_time")
# What an unnamed index becomes when read back: pandas names an empty CSV header field
# "Unnamed: 0"; a Parquet index restored by to_pandas() and reset is "index".
_INDEX_NAMES = ("unnamed_0", "index")
_PRICE_NAMES = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),  # never adj_close: adjusted prices are not what traded
    "volume": ("volume", "vol", "v"),
}
# Text ending in a clock time and an offset or Z: an instant. ([0-9] and [ \t] rather than \d and
# \s keep pandas on pyarrow's regex engine, many times faster on a million rows.)
_OFFSET = r"[0-9]:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?[ \t]*(?:[zZ]|[+-][0-9]{2}(?::?[0-9]{2})?)$"
# IB writes "20240102 09:30:00 US/Eastern": a zone name after the time.
_ZONE_SUFFIX = r"^(?P<when>.*?[0-9])[ \t]+(?P<zone>[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*)$"
_HAS_ZONE_SUFFIX = r"[0-9][ \t]+[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*$"
# All-digit dates: 8, 12 or 14 digits would otherwise pass for epoch numbers of the wrong era.
_DIGIT_DATES = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
_CSV_SEPARATORS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class BadRow:
    line: int  # CSV: 1-based file line, the header being line 1; Parquet: 1-based row number
    reason: str


@dataclass(frozen=True)
class BarFile:
    bars: pd.DataFrame  # engine.market.schema.bars_frame: sorted, unique bar starts (UTC)
    bad_rows: tuple[BadRow, ...]  # rows not imported, by line
    timezone: str  # how naive timestamps were read: "UTC", the exchange's zone, or "from file"
    columns: dict[str, str]  # our column -> the file's column it came from


class BarFileError(Exception):
    """The file cannot be imported at all; the message is one line naming the file."""


def read_bar_file(path: Path, timeframe: str, calendar: TradingCalendar | None = None) -> BarFile:
    """Bars of `timeframe` from a CSV or Parquet file, checked against the exchange calendar
    (XNYS unless given). Raises BarFileError when nothing in the file can be imported."""
    check_timeframe(timeframe)
    calendar = calendar or calendar_for()
    path = Path(path)
    frame, lines, unsplit, columns, sources = _read_table(path)
    unit = "row" if path.suffix.lower() in PARQUET_SUFFIXES else "line"
    stamp_column = _stamp_column(frame, sources)

    stamps, instant, epoch = _parse_timestamps(stamp_column)
    values = {name: _numbers(frame[columns[name]]) for name in PRICE_COLUMNS}
    # An exact repeat of a row (same timestamp, same numbers) says nothing new: drop it quietly.
    key = pd.DataFrame({"timestamp": stamps, **values})
    kept = np.flatnonzero(~(key.duplicated(keep="first").to_numpy() & (stamps != _NAT)))
    stamps, instant, lines = stamps[kept], instant[kept], lines[kept]
    values = {name: column[kept] for name, column in values.items()}
    raw_stamps = _Raw(stamp_column, kept)
    raw_values = {name: _Raw(frame[columns[name]], kept) for name in values}

    reasons = _Reasons(len(stamps))
    parsed = stamps != _NAT
    reasons.add(
        ~parsed,
        lambda rows: [
            "missing timestamp"
            if _blank(raw_stamps[i])
            else f"unparseable timestamp {_show(raw_stamps[i])}"
            for i in rows
        ],
    )
    zone = calendar.timezone
    bar_seconds = TIMEFRAME_SECONDS[timeframe]
    utc, timezone = _to_utc(
        stamps, instant, epoch, parsed, zone, bar_seconds, calendar, reasons, raw_stamps
    )
    mismatch = _spacing_mismatch(utc, timeframe)
    if mismatch:
        raise BarFileError(f"{path}: {mismatch}")
    if bar_seconds == 0:
        utc = _session_dates(utc, instant, zone, reasons, raw_stamps)

    _check_bars(utc, values, raw_stamps, raw_values, lines, unit, timeframe, calendar, reasons)

    good = reasons.ok
    bad = [BadRow(int(lines[i]), reasons.text[i]) for i in np.flatnonzero(~good)]
    bad_rows = tuple(sorted(unsplit + bad, key=lambda row: row.line))
    if not good.any():
        first = f"; first: {unit} {bad_rows[0].line}: {bad_rows[0].reason}" if bad_rows else ""
        raise BarFileError(f"{path}: no valid rows ({len(bad_rows)} rows not imported{first})")
    order = np.argsort(utc[good], kind="stable")
    bars = bars_frame(
        pd.DatetimeIndex(utc[good][order], tz="UTC"),
        {name: column[good][order] for name, column in values.items()},
    )
    report = {"timestamp": " + ".join(str(source) for source in sources)}
    report.update((ours, str(theirs)) for ours, theirs in columns.items())
    return BarFile(bars, bad_rows, timezone, report)


def bar_problems(
    bars: pd.DataFrame, timeframe: str, calendar: TradingCalendar
) -> tuple[BadRow, ...]:
    """What is wrong with bars in the store's schema that did not come from a file (IB's
    answers): the import's checks, each failing row by its 1-based row number."""
    utc = _ns_of(bars)
    values = {name: _numbers(bars[name]) for name in PRICE_COLUMNS}
    # As in a file, an exact repeat is checked once; but an answer that sends a bar twice is
    # not to be trusted either.
    repeat = pd.DataFrame({"timestamp": utc, **values}).duplicated(keep="first").to_numpy()
    kept = np.flatnonzero(~repeat)
    raw_stamps = _Raw(bars["timestamp"], kept)
    raw_values = {name: _Raw(bars[name], kept) for name in PRICE_COLUMNS}
    reasons = _Reasons(len(kept))
    reasons.add(utc[kept] == _NAT, lambda rows: ["missing timestamp"] * len(rows))
    _check_bars(
        utc[kept],
        {name: column[kept] for name, column in values.items()},
        raw_stamps,
        raw_values,
        kept + 1,
        "row",
        timeframe,
        calendar,
        reasons,
    )
    problems = [BadRow(int(kept[i]) + 1, reasons.text[i]) for i in np.flatnonzero(~reasons.ok)]
    stamps = bars["timestamp"]
    problems += [
        BadRow(int(i) + 1, f"bar {_show(stamps.iloc[i])} sent twice")
        for i in np.flatnonzero(repeat)
    ]
    return tuple(sorted(problems, key=lambda row: row.line))


def changed_bars(stored: pd.DataFrame, bars: pd.DataFrame) -> pd.DatetimeIndex:
    """The bar starts both frames hold (store schema, sorted, unique) with different OHLCV:
    the stored bars that merging `bars` would overwrite. New bar starts are no change."""
    stamps = _ns_of(stored)
    _, old, new = np.intersect1d(stamps, _ns_of(bars), assume_unique=True, return_indices=True)
    differ = np.zeros(len(old), dtype=bool)
    for name in PRICE_COLUMNS:
        differ |= stored[name].to_numpy()[old] != bars[name].to_numpy()[new]
    return pd.DatetimeIndex(stamps[old[differ]], tz="UTC")


def _ns_of(bars: pd.DataFrame) -> np.ndarray:
    """A bars frame's timestamps as int64 ns UTC (NaT as _NAT)."""
    return pd.DatetimeIndex(bars["timestamp"]).as_unit("ns").asi8.copy()


class _Raw:
    """The file's value of a kept row, looked up only for the rows a message quotes."""

    def __init__(self, column: pd.Series, kept: np.ndarray):
        self.column = column
        self.kept = kept

    def __getitem__(self, row: int) -> object:
        return self.column.iloc[self.kept[row]]


class _Reasons:
    """The first reason each row fails, in the order the checks run."""

    def __init__(self, rows: int):
        self.text = np.full(rows, None, dtype=object)
        self.ok = np.ones(rows, dtype=bool)

    def add(self, failing: np.ndarray, describe: Callable[[np.ndarray], list[str]]) -> None:
        rows = np.flatnonzero(failing & self.ok)
        if len(rows):
            self.text[rows] = describe(rows)
            self.ok[rows] = False


# --- reading ---------------------------------------------------------------------------------


def _read_table(
    path: Path,
) -> tuple[pd.DataFrame, np.ndarray, list[BadRow], dict[str, str], list[str]]:
    """The file's rows, the line (or row) number of each, CSV lines that could not be split
    into the header's fields, our column -> the file's, and the timestamp's source columns."""
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise BarFileError(
            f"{path}: unknown file type {suffix or '(no suffix)'!r} (use .csv, .txt, .parquet)"
        )
    if not path.is_file():
        raise BarFileError(f"{path}: no such file")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise BarFileError(f"{path}: cannot read ({error.strerror})") from None
    if size == 0:
        raise BarFileError(f"{path}: the file is empty")
    if suffix in PARQUET_SUFFIXES:
        frame = _read_parquet(path)
        columns, sources = _match_columns(list(frame.columns), path)
        return frame, np.arange(1, len(frame) + 1, dtype=np.int64), [], columns, sources
    return _read_csv(path)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise BarFileError(f"{path}: not a readable Parquet file ({first_line(error)})") from None
    frame = table.to_pandas()
    # A frame saved with its DatetimeIndex keeps the timestamps in the index.
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    return frame.reset_index(drop=True)


def _read_csv(
    path: Path,
) -> tuple[pd.DataFrame, np.ndarray, list[BadRow], dict[str, str], list[str]]:
    try:
        with path.open("rb") as file:
            head = file.read(1 << 16)
    except OSError as error:
        raise BarFileError(f"{path}: cannot read ({error.strerror})") from None
    if not head.strip():
        raise BarFileError(f"{path}: the file is empty")
    if b"\x00" in head:
        raise BarFileError(f"{path}: not a text file (it contains binary bytes)")
    top = head.decode("utf-8-sig", errors="replace").splitlines()
    separator = max(_CSV_SEPARATORS, key=top[0].count)
    options: dict[str, Any] = {
        "sep": separator,
        "encoding": "utf-8-sig",
        # Blank lines stay rows (dropped below) so that row positions map to file lines.
        "skip_blank_lines": False,
    }
    header_lines = 1
    yahoo = _yfinance_names(path, top[:3], separator)
    if yahoo:
        options.update(header=None, names=yahoo, skiprows=3)
        header_lines = 3
    skipped: list[BadRow] = []
    try:
        names = list(pd.read_csv(path, nrows=0, **options).columns)
        columns, sources = _match_columns(names, path)
        # Prices parse as numbers in the C parser (text only where a column has junk);
        # timestamps stay text so that "0930" or "20240102" keep their digits. No `usecols`:
        # with it pandas silently drops the extra fields of a line instead of flagging it.
        options["dtype"] = dict.fromkeys(sources, str)
        try:
            frame = pd.read_csv(path, **options)
        except pd.errors.ParserError:
            # Lines with more fields than the header: read again, skipping and reporting them.
            # (Warnings are the only way pandas names those lines; kept off the common path.)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", pd.errors.ParserWarning)
                frame = pd.read_csv(path, on_bad_lines="warn", **options)
            for warning in caught:
                for line, expected, saw in re.findall(
                    r"line (\d+): expected (\d+) fields, saw (\d+)", str(warning.message)
                ):
                    skipped.append(BadRow(int(line), f"expected {expected} fields, saw {saw}"))
    except UnicodeDecodeError as error:
        raise BarFileError(
            f"{path}: not UTF-8 text (undecodable byte at offset {error.start})"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise BarFileError(f"{path}: not a readable CSV file ({first_line(error)})") from None
    skipped_lines = np.array([row.line for row in skipped], dtype=np.int64)
    first = header_lines + 1
    lines = np.arange(first, first + len(frame) + len(skipped_lines), dtype=np.int64)
    lines = lines[~np.isin(lines, skipped_lines)]
    blank = frame.isna().all(axis=1).to_numpy()
    return frame[~blank].reset_index(drop=True), lines[~blank], skipped, columns, sources


def _yfinance_names(path: Path, top: list[str], separator: str) -> list[str] | None:
    """The column names of a file yfinance wrote (`yf.download(...).to_csv()`): three header
    lines, `Price,Close,High,...`, `Ticker,AAPL,AAPL,...` and `Date,,,...` (the index's
    name). None for any other file."""
    if len(top) < 3:
        return None
    price, ticker, index = (next(csv.reader([line], delimiter=separator)) for line in top)
    if (
        _normalise(price[0]) != "price"
        or _normalise(ticker[0]) != "ticker"
        or any(field.strip() for field in index[1:])
    ):
        return None
    tickers = sorted({name.strip() for name in ticker[1:]})
    if len(tickers) > 1:
        raise BarFileError(
            f"{path}: holds {len(tickers)} tickers ({', '.join(tickers)}); download and import "
            "one at a time"
        )
    return [index[0], *price[1:]]


# --- columns ---------------------------------------------------------------------------------


def _normalise(name: object) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _match_columns(names: list[str], path: Path) -> tuple[dict[str, str], list[str]]:
    """Our price columns -> the file's, and the column(s) the timestamp comes from (one, or a
    date and a time)."""
    by_name: dict[str, str] = {}
    for name in names:
        by_name.setdefault(_normalise(name), name)
    found = ", ".join(str(name) for name in names) or "none"
    named = next((by_name[n] for n in _TIMESTAMP_NAMES if n in by_name), None)
    if named is not None:
        sources = [named]
    elif "date" in by_name and "time" in by_name:
        sources = [by_name["date"], by_name["time"]]
    elif "date" in by_name or "time" in by_name:
        sources = [by_name.get("date", by_name.get("time", ""))]
    elif names and _normalise(names[0]) in _INDEX_NAMES:
        # A frame saved with an unnamed DatetimeIndex (backtesting.py's sample files are such).
        sources = [names[0]]
    else:
        raise BarFileError(
            f"{path}: no timestamp column (looked for timestamp, datetime, date time, "
            f"date + time, date, time, an unnamed first column; found: {found})"
        )
    columns: dict[str, str] = {}
    missing = []
    for ours, aliases in _PRICE_NAMES.items():
        theirs = next((by_name[n] for n in aliases if n in by_name), None)
        if theirs is None:
            missing.append(ours)
        else:
            columns[ours] = theirs
    if missing:
        raise BarFileError(f"{path}: no {', '.join(missing)} column (found: {found})")
    return columns, sources


def _stamp_column(frame: pd.DataFrame, sources: list[str]) -> pd.Series:
    if len(sources) == 1:
        return frame[sources[0]]
    return _text(frame[sources[0]]) + " " + _text(frame[sources[1]])


def _text(column: pd.Series) -> pd.Series:
    """Stripped text, empty cells as missing."""
    text = column.astype("str").str.strip()
    return text.mask(text == "")


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value) == ""


def _show(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _numbers(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
    else:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


# --- timestamps ------------------------------------------------------------------------------


def _parse_timestamps(column: pd.Series) -> tuple[np.ndarray, np.ndarray, bool]:
    """(int64 ns with NaT for failures, whether each value is a UTC instant, whether they are
    epoch numbers). Values that are not instants are wall-clock times of an unknown zone."""
    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        values = column.dt.tz_convert("UTC").dt.tz_localize(None)
        return _ns(values), np.ones(len(column), dtype=bool), False
    if pd.api.types.is_datetime64_dtype(dtype):
        return _ns(column), np.zeros(len(column), dtype=bool), False
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return _from_numbers(column.to_numpy())
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return _from_numbers(column.to_numpy("float64", na_value=np.nan))
    text = _text(column)
    sample = text.dropna().head(1000)
    if len(sample) and pd.to_numeric(sample, errors="coerce").notna().mean() > 0.5:
        numbers = pd.to_numeric(text, errors="coerce")
        return _from_numbers(numbers.to_numpy("float64", na_value=np.nan))
    return (*_from_text(text), False)


def _ns(values: pd.Series) -> np.ndarray:
    # Coarser units reach years that nanoseconds cannot hold: those values are no bar starts.
    values = values.where(values.isna() | values.between(pd.Timestamp.min, pd.Timestamp.max))
    return values.to_numpy("datetime64[ns]").view(np.int64).copy()


def _from_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Epoch seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude), or
    all-digit dates such as 20240102."""
    rows = len(values)
    numbers = values.astype("float64")
    finite = np.isfinite(numbers)
    stamps = np.full(rows, _NAT, dtype=np.int64)
    if not finite.any():
        return stamps, np.zeros(rows, dtype=bool), False
    present = numbers[finite]
    integral = bool((present == np.round(present)).all())
    if integral and (present > 0).all():
        digits = np.unique(np.floor(np.log10(present)).astype(np.int64) + 1)
        if len(digits) == 1 and int(digits[0]) in _DIGIT_DATES:
            text = pd.Series(present.astype(np.int64)).astype("str")
            parsed = pd.to_datetime(text, format=_DIGIT_DATES[int(digits[0])], errors="coerce")
            if parsed.notna().all():
                stamps[finite] = _ns(parsed)
                return stamps, np.zeros(rows, dtype=bool), False
    scale = np.median(np.abs(present))
    # Seconds up to the year 5138, then ms, µs and ns: no real bar sits where they overlap.
    ns_per_unit = next(
        (ns for limit, ns in ((1e11, 10**9), (1e14, 10**6), (1e17, 10**3)) if scale < limit),
        1,
    )
    # A stray value far off the column's scale would overflow int64: it is no timestamp.
    fits = finite & (np.abs(np.where(finite, numbers, 0.0)) * ns_per_unit < 9e18)
    if np.issubdtype(values.dtype, np.integer):
        # Integer arithmetic: floats would lose the last digits of a nanosecond epoch.
        stamps[fits] = values[fits].astype(np.int64) * ns_per_unit
    elif integral and np.abs(present).max() < 2**53:
        stamps[fits] = numbers[fits].astype(np.int64) * ns_per_unit
    else:
        # Through whole microseconds, so that float noise cannot move a bar off its minute.
        micros = np.round(numbers[fits] * (ns_per_unit / 1000))
        stamps[fits] = micros.astype(np.int64) * 1000
    return stamps, np.ones(rows, dtype=bool), True


def _from_text(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    rows = len(text)
    instant = text.str.contains(_OFFSET, na=False).to_numpy()
    zones = pd.Series(np.full(rows, None, dtype=object))
    sample = text.dropna().head(1000)
    if sample.str.contains(_HAS_ZONE_SUFFIX).any():
        parts = text.str.extract(_ZONE_SUFFIX)
        named = parts["zone"].map(_zone_or_none)
        has_zone = named.notna().to_numpy()
        text = text.where(~has_zone, parts["when"])
        zones = named
        instant = instant | has_zone
    stamps = _parse_text(text)
    # Offsets were applied by the parser; zone names still need their zone's rules.
    for zone in zones.dropna().unique():
        rows_in_zone = (zones == zone).to_numpy() & (stamps != _NAT)
        local = pd.DatetimeIndex(stamps[rows_in_zone].view("datetime64[ns]"))
        stamps[rows_in_zone] = (
            local.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC").asi8
        )
    return stamps, instant


def _zone_or_none(name: object) -> str | None:
    if not isinstance(name, str) or name.upper() in ("AM", "PM"):
        return None
    if name.upper() in ("Z", "UTC", "GMT"):
        return "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return name


def _parse_text(text: pd.Series) -> np.ndarray:
    """Wall-clock ns (offsets applied when present). ISO 8601 first; otherwise the format pandas
    infers, month-first or day-first, whichever reads more of the rows."""
    wanted = int(text.notna().sum())
    best: pd.Series | None = None
    for options in ({"format": "ISO8601"}, {}, {"dayfirst": True}):
        try:
            if options.get("format"):
                parsed = pd.to_datetime(text, utc=True, errors="coerce", **options)
            else:
                # Global warning filters: touched only when a file is not ISO 8601. "Could not
                # infer format" warns of the per-value fallback, which is what we ask for.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    parsed = pd.to_datetime(text, utc=True, errors="coerce", **options)
        except (ValueError, TypeError, OverflowError):
            continue
        if best is None or parsed.notna().sum() > best.notna().sum():
            best = parsed
        if best.notna().sum() == wanted:
            break
    if best is None:
        return np.full(len(text), _NAT, dtype=np.int64)
    return _ns(best.dt.tz_localize(None))


def _to_utc(
    stamps: np.ndarray,
    instant: np.ndarray,
    epoch: bool,
    parsed: np.ndarray,
    zone: str,
    bar_seconds: int,
    calendar: TradingCalendar,
    reasons: _Reasons,
    raw: _Raw,
) -> tuple[np.ndarray, str]:
    """UTC ns and how naive values were read. Naive intraday values are read in the exchange's
    zone or in UTC, whichever puts more of them on the calendar's bar starts (a tie: the
    exchange's zone)."""
    naive = parsed & ~instant
    if (parsed & instant).any():
        # Some values say where they are; the others cannot be read by analogy.
        reasons.add(
            naive,
            lambda rows: [
                f"timestamp {_show(raw[i])} has no UTC offset, unlike others in the file"
                for i in rows
            ],
        )
        return np.where(instant, stamps, _NAT), "UTC" if epoch else FROM_FILE
    if bar_seconds == 0 or not naive.any():
        # Dates are session dates: stored as midnight UTC of that date.
        return stamps, "UTC"
    local = (
        pd.DatetimeIndex(stamps.view("datetime64[ns]"))
        .tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        .tz_convert("UTC")
        .asi8
    )
    local_hits = int(_placement(local, calendar, bar_seconds)[0].sum())
    utc_hits = int(_placement(stamps, calendar, bar_seconds)[0].sum())
    if utc_hits > local_hits:
        return stamps, "UTC"
    reasons.add(
        parsed & (local == _NAT),
        lambda rows: [
            f"{_show(raw[i])} does not exist or is ambiguous in {zone} (a clock change)"
            for i in rows
        ],
    )
    return local.copy(), zone


def _session_dates(
    utc: np.ndarray, instant: np.ndarray, zone: str, reasons: _Reasons, raw: _Raw
) -> np.ndarray:
    """Daily bars: the session date at midnight UTC. An instant counts when it is midnight in
    UTC or in the exchange's zone; a naive value must be a date or a midnight."""
    valid = utc != _NAT
    at_midnight = valid & (np.where(valid, utc, 0) % _DAY_NS == 0)
    local = (
        pd.DatetimeIndex(np.where(valid, utc, _NAT).view("datetime64[ns]"))
        .tz_localize("UTC")
        .tz_convert(zone)
        .tz_localize(None)
        .asi8
    )
    local_midnight = valid & instant & ~at_midnight & (np.where(valid, local, 0) % _DAY_NS == 0)
    dates = np.where(at_midnight, utc, np.where(local_midnight, local, _NAT))
    reasons.add(
        valid & (dates == _NAT),
        lambda rows: [
            f"{_show(raw[i])} is not a date (daily bars are dated by session, at midnight)"
            for i in rows
        ],
    )
    return dates


# --- checks ----------------------------------------------------------------------------------


def _spacing_mismatch(utc: np.ndarray, timeframe: str) -> str | None:
    """Why the bars are not `timeframe` bars, judged by the steps between them within a
    session; None when they fit or the file has too few steps to tell.

    The most common step is the bar length, not the smallest one: a stray row a minute off a
    5m grid must not make the file a 1m file, and missing bars (nights, weekends, holidays,
    halts, quiet minutes) only add longer steps, so the bar length stays the most common step
    unless most bars are missing. A common step that is a multiple of the bar length is a
    sparse file of the right bars as long as some bars do sit one bar apart."""
    stamps = np.unique(utc[utc != _NAT])
    steps = np.diff(stamps)
    # Under 12 hours apart is within one session: sessions are shorter, nights are longer.
    steps = steps[steps < _SAME_SESSION_NS]
    if len(steps) == 0:
        return None
    values, counts = np.unique(steps, return_counts=True)
    common, seen = int(values[counts.argmax()]), int(counts.max())
    if seen < _CLEAR_STEPS or 2 * seen < len(steps):
        return None  # no step stands out: too few bars, or too sparse, to judge
    bar_ns = TIMEFRAME_SECONDS[timeframe] * 10**9
    if common == bar_ns or (bar_ns and common % bar_ns == 0 and bar_ns in values):
        return None
    fits = [tf for tf, seconds in TIMEFRAME_SECONDS.items() if seconds * 10**9 == common]
    advice = f"import it with --timeframe {fits[0]}" if fits else "no timeframe fits them"
    return (
        f"the bars are {_length(common)} apart (the most common step within a session), "
        f"not {timeframe} bars: {advice}"
    )


def _length(ns: int) -> str:
    seconds = ns / 10**9
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{seconds:g} seconds"


def _check_bars(
    utc: np.ndarray,
    values: dict[str, np.ndarray],
    raw_stamps: _Raw,
    raw_values: dict[str, _Raw],
    lines: np.ndarray,
    unit: str,
    timeframe: str,
    calendar: TradingCalendar,
    reasons: _Reasons,
) -> None:
    """The checks every bar passes, from a file or from IB: its prices, its place on the
    exchange calendar, and one bar per bar start."""
    _check_values(values, raw_values, reasons)
    placed, inside = _placement(utc, calendar, TIMEFRAME_SECONDS[timeframe])
    _explain_placement(utc, placed, inside, raw_stamps, timeframe, calendar, reasons)
    _check_conflicts(utc, placed, lines, raw_stamps, unit, reasons)


def _check_values(values: dict[str, np.ndarray], raw: dict[str, _Raw], reasons: _Reasons) -> None:
    for name in PRICE_COLUMNS:
        column, text = values[name], raw[name]
        reasons.add(
            np.isnan(column),
            lambda rows, name=name, text=text: [
                f"missing {name}" if _blank(text[i]) else f"non-numeric {name} {_show(text[i])}"
                for i in rows
            ],
        )
    for name in ("open", "high", "low", "close"):
        column = values[name]
        reasons.add(
            column <= 0,
            lambda rows, name=name, column=column: [
                f"non-positive {name} {column[i]:g}" for i in rows
            ],
        )
    volume = values["volume"]
    reasons.add(volume < 0, lambda rows: [f"negative volume {volume[i]:g}" for i in rows])
    o, h, low, c = (values[name] for name in ("open", "high", "low", "close"))
    reasons.add(h < low, lambda rows: [f"high {h[i]:g} below low {low[i]:g}" for i in rows])
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    reasons.add(
        h < top,
        lambda rows: [f"high {h[i]:g} below max(open, close) {top[i]:g}" for i in rows],
    )
    reasons.add(
        low > bottom,
        lambda rows: [f"low {low[i]:g} above min(open, close) {bottom[i]:g}" for i in rows],
    )


def _placement(
    utc: np.ndarray, calendar: TradingCalendar, bar_seconds: int
) -> tuple[np.ndarray, np.ndarray]:
    """(on one of the calendar's bar starts, inside a session) for each value."""
    valid = utc != _NAT
    placed = np.zeros(len(utc), dtype=bool)
    inside = np.zeros(len(utc), dtype=bool)
    if not valid.any():
        return placed, inside
    lo, hi = int(utc[valid].min()), int(utc[valid].max())
    sessions = calendar.sessions_of_bars(
        bar_seconds, pd.Timestamp(lo, tz="UTC"), pd.Timestamp(hi, tz="UTC")
    )
    if not sessions:
        return placed, inside
    expected = calendar.bar_starts(sessions, bar_seconds).asi8
    at = np.searchsorted(expected, utc).clip(0, len(expected) - 1)
    placed = valid & (expected[at] == utc)
    if bar_seconds == 0:
        return placed, placed
    opens = np.array([s.open.value for s in sessions], dtype=np.int64)
    closes = np.array([s.close.value for s in sessions], dtype=np.int64)
    session = np.searchsorted(opens, utc, side="right") - 1
    inside = valid & (session >= 0) & (utc < closes[session.clip(0)])
    return placed, inside


def _explain_placement(
    utc: np.ndarray,
    placed: np.ndarray,
    inside: np.ndarray,
    raw: _Raw,
    timeframe: str,
    calendar: TradingCalendar,
    reasons: _Reasons,
) -> None:
    valid = utc != _NAT
    exchange = calendar.exchange

    def when(i: int) -> str:
        return f"{_show(raw[i])} ({pd.Timestamp(int(utc[i]), tz='UTC'):%Y-%m-%d %H:%M} UTC)"

    if TIMEFRAME_SECONDS[timeframe] == 0:
        reasons.add(
            valid & ~placed,
            lambda rows: [
                f"no {exchange} session on {pd.Timestamp(int(utc[i])):%Y-%m-%d (%A)}" for i in rows
            ],
        )
        return
    reasons.add(
        valid & ~inside,
        lambda rows: [f"{when(i)} is outside {exchange} trading sessions" for i in rows],
    )
    reasons.add(
        valid & inside & ~placed,
        lambda rows: [
            f"{when(i)} is not a {timeframe} bar start (bars step {timeframe} from the open)"
            for i in rows
        ],
    )


def _check_conflicts(
    utc: np.ndarray,
    placed: np.ndarray,
    lines: np.ndarray,
    raw: _Raw,
    unit: str,
    reasons: _Reasons,
) -> None:
    """Rows sharing a bar start with different values (exact repeats are gone by now): none
    of them is trusted over the others."""
    stamps = pd.Series(np.where(placed, utc, _NAT))
    clash = placed & stamps.duplicated(keep=False).to_numpy()
    if not clash.any():
        return
    rows = np.flatnonzero(clash)
    groups = pd.Series(lines[rows]).groupby(utc[rows]).agg(list)
    others = groups.reindex(utc[rows]).to_numpy()

    def describe(failing: np.ndarray) -> list[str]:
        text = []
        for i in failing:
            at = int(np.searchsorted(rows, i))
            shared = [str(line) for line in others[at] if line != lines[i]]
            listed = ", ".join(shared[:5]) + (
                f" and {len(shared) - 5} more" if len(shared) > 5 else ""
            )
            text.append(
                f"duplicate timestamp {_show(raw[i])} with different values (also {unit} {listed})"
            )
        return text

    reasons.add(clash, describe)
