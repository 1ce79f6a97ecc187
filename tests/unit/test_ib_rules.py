"""IB's rules as the engine and the simulated gateway model them: duration strings, the
step-size table, pacing, error classification, and the gateway's request checks."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.pacing import PacingLedger, PacingRules
from engine.ib import wire
from engine.ib.durations import BAR_SIZES, answer_start, exceeds_step, longest_duration
from engine.ib.errors import (
    ClientIdInUse,
    ConnectionLost,
    IBError,
    InvalidRequest,
    NoData,
    NotConnected,
    PacingViolation,
    TransientError,
    UnknownSymbol,
    classify,
)
from engine.ib.pacing import FAST_PACING, PACING_MODES, REAL_PACING
from engine.ib.sim_gateway import (
    HISTORICAL_DATA,
    historical_message,
    parse_end,
    request_problem,
)
from engine.ib.synthetic import BarArrays
from engine.market import exchange
from engine.market.calendar import calendar_for
from engine.market.spans import Duration
from tests.support.fakes import FakeClock

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
END = pd.Timestamp("2024-03-15 21:00", tz="UTC")


# -- duration strings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count", "unit"),
    [("1 D", 1, "D"), ("2 W", 2, "W"), ("30 S", 30, "S"), ("1 M", 1, "M"), ("1 Y", 1, "Y")],
)
def test_duration_parse_accepts_ib_durations(text: str, count: int, unit: str) -> None:
    assert Duration.parse(text) == Duration(count, unit)


@pytest.mark.parametrize("text", ["", "0 D", "1 X", "D 1", "-1 D", "1.5 D", "1", "D", "1 D D"])
def test_duration_parse_rejects_malformed_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        Duration.parse(text)


@PROPERTY
@given(count=st.integers(1, 10**9), unit=st.sampled_from("SDWMY"))
def test_duration_string_round_trips(count: int, unit: str) -> None:
    text = f"{count} {unit}"
    duration = Duration.parse(text)
    assert duration == Duration(count, unit)
    assert str(duration) == text
    assert Duration.parse(str(duration)) == duration


def test_duration_start_before_uses_calendar_arithmetic() -> None:
    end = pd.Timestamp("2024-03-31 20:00", tz="UTC")
    assert Duration.parse("30 S").start_before(end) == end - pd.Timedelta(seconds=30)
    assert Duration.parse("2 D").start_before(end) == pd.Timestamp("2024-03-29 20:00", tz="UTC")
    assert Duration.parse("1 W").start_before(end) == pd.Timestamp("2024-03-24 20:00", tz="UTC")
    # A month before 31 March is the end of February (a leap year).
    assert Duration.parse("1 M").start_before(end) == pd.Timestamp("2024-02-29 20:00", tz="UTC")
    assert Duration.parse("1 Y").start_before(end) == pd.Timestamp("2023-03-31 20:00", tz="UTC")


# -- the step-size table ---------------------------------------------------------------------

STEP_TABLE = {
    "1 min": ("1 D", "2 D"),
    "2 mins": ("2 D", "3 D"),
    "3 mins": ("1 W", "8 D"),
    "5 mins": ("1 W", "8 D"),
    "10 mins": ("1 W", "8 D"),
    "15 mins": ("1 W", "2 W"),
    "20 mins": ("1 W", "8 D"),
    "30 mins": ("1 M", "2 M"),
    "1 hour": ("1 M", "2 M"),
    "4 hours": ("1 M", "5 W"),
    "1 day": ("1 Y", "2 Y"),
}


def test_the_step_table_covers_every_bar_size() -> None:
    assert set(STEP_TABLE) == set(BAR_SIZES)


@pytest.mark.parametrize(("bar_size", "limits"), STEP_TABLE.items())
def test_longest_duration_matches_the_design(bar_size: str, limits: tuple[str, str]) -> None:
    limit, beyond = limits
    assert longest_duration(bar_size) == Duration.parse(limit)
    assert not exceeds_step(bar_size, Duration.parse(limit), END)
    assert exceeds_step(bar_size, Duration.parse(beyond), END)


@pytest.mark.parametrize(
    ("bar_size", "duration", "exceeds"),
    [
        ("1 min", "86400 S", False),
        ("1 min", "86401 S", True),
        ("1 min", "1 W", True),
        ("2 mins", "172800 S", False),
        ("5 mins", "7 D", False),
        ("5 mins", "604801 S", True),
        ("15 mins", "1 M", True),
        ("1 hour", "4 W", False),
        ("1 hour", "1 Y", True),
        ("4 hours", "29 D", False),
        ("1 day", "12 M", False),
        ("1 day", "13 M", True),
        ("1 day", "365 D", False),
        ("1 day", "53 W", True),
    ],
)
def test_exceeds_step_at_and_just_beyond_the_limit(
    bar_size: str, duration: str, exceeds: bool
) -> None:
    assert exceeds_step(bar_size, Duration.parse(duration), END) is exceeds


@PROPERTY
@given(
    bar_size=st.sampled_from(sorted(BAR_SIZES)),
    count=st.integers(1, 500),
    unit=st.sampled_from("SDWMY"),
    end_s=st.integers(
        int(pd.Timestamp("2005-01-01").timestamp()), int(pd.Timestamp("2030-01-01").timestamp())
    ),
)
def test_exceeds_step_is_monotonic_in_the_duration(bar_size, count, unit, end_s) -> None:
    end = pd.Timestamp(end_s, unit="s", tz="UTC")
    shorter, longer = Duration(count, unit), Duration(count + 1, unit)
    if exceeds_step(bar_size, shorter, end):
        assert exceeds_step(bar_size, longer, end)
    # The limit itself never exceeds.
    assert not exceeds_step(bar_size, longest_duration(bar_size), end)


# -- pacing ----------------------------------------------------------------------------------


def ledger(rules: PacingRules = REAL_PACING) -> tuple[PacingLedger, FakeClock]:
    clock = FakeClock()
    return PacingLedger(rules, clock), clock


def fill_sixty(pacing: PacingLedger, clock: FakeClock, step: float) -> list[float]:
    """60 distinct requests on 60 contracts, `step` seconds apart; returns their times."""
    times = []
    for i in range(60):
        wait = pacing.try_record(("request", i), ("contract", i))
        assert wait.seconds == 0 and wait.rule == "", i
        times.append(clock.now)
        clock.advance(step)
    return times


def test_sixty_requests_in_ten_minutes_are_fine_and_the_61st_waits_for_the_oldest() -> None:
    pacing, clock = ledger()
    times = fill_sixty(pacing, clock, step=5.0)  # 60 requests over 295 s
    wait = pacing.try_record(("request", 60), ("contract", 60))
    # now = first + 300: the oldest leaves the 600 s window in 300 s.
    assert wait.seconds == pytest.approx(times[0] + 600 - clock.now)
    assert wait.seconds == pytest.approx(300.0)
    assert wait.rule == "60 requests within 600 s"
    # Just before the oldest leaves: still held, by the remainder.
    clock.advance(299.5)
    assert pacing.try_record(("request", 60), ("contract", 60)).seconds == pytest.approx(0.5)
    clock.advance(0.5)
    assert pacing.try_record(("request", 60), ("contract", 60)).seconds == 0
    # The next one waits for the second oldest.
    wait = pacing.try_record(("request", 61), ("contract", 61))
    assert wait.seconds == pytest.approx(times[1] + 600 - clock.now)
    assert wait.seconds == pytest.approx(5.0)


def test_an_identical_request_waits_for_the_rest_of_15_seconds() -> None:
    pacing, clock = ledger()
    identity, contract = ("AAPL", "", "1 min", "1 D", "TRADES", 1), ("AAPL", "TRADES")
    assert pacing.try_record(identity, contract).seconds == 0
    clock.advance(4.0)
    wait = pacing.try_record(identity, contract)
    assert wait.seconds == pytest.approx(11.0)
    assert wait.rule == "identical request within 15 s"
    clock.advance(10.999)
    assert pacing.try_record(identity, contract).seconds == pytest.approx(0.001)
    clock.now = 1015.0  # exactly 15 s after the first
    assert pacing.try_record(identity, contract).seconds == 0
    # A different identity for the same contract was never held by that rule.
    assert pacing.try_record(("other",), contract).seconds == 0


def test_the_sixth_request_for_one_contract_within_2_seconds_waits() -> None:
    pacing, clock = ledger()
    contract = ("SPY", "TRADES")
    for i in range(5):
        wait = pacing.try_record(("chunk", i), contract)
        assert wait.seconds == 0, f"request {i + 1} for the contract"
        clock.advance(0.25)
    # now = first + 1.25 s: the sixth waits until the first is 2 s old.
    wait = pacing.try_record(("chunk", 5), contract)
    assert wait.seconds == pytest.approx(0.75)
    assert wait.rule == "6 requests for one contract within 2 s"
    # Other contracts are not held.
    assert pacing.try_record(("other chunk",), ("QQQ", "TRADES")).seconds == 0
    clock.advance(0.75)  # exactly 2 s after the first
    assert pacing.try_record(("chunk", 5), contract).seconds == 0


@pytest.mark.parametrize("rules", [REAL_PACING, replace(REAL_PACING, max_requests=2)])
def test_try_record_records_only_when_allowed(rules: PacingRules) -> None:
    pacing, clock = ledger(rules)
    identity, contract = ("x",), ("c",)
    assert pacing.try_record(identity, contract).seconds == 0
    for _ in range(5):
        assert pacing.try_record(identity, contract).rule == "identical request within 15 s"
        clock.advance(1.0)
    if rules.max_requests == 2:
        # The refused requests took no place among the two a window allows.
        assert pacing.try_record(("y",), contract).seconds == 0
        assert pacing.try_record(("z",), contract).rule == "2 requests within 600 s"
    else:
        # Nor did they restart the identical-request window: it ends 15 s after the first.
        clock.now = 1015.0
        assert pacing.try_record(identity, contract).seconds == 0


def test_requests_leave_the_ledger_after_ten_minutes() -> None:
    pacing, clock = ledger()
    fill_sixty(pacing, clock, step=1.0)
    clock.advance(600.0)
    # All sixty have left: sixty more go at once.
    fill_sixty(pacing, clock, step=0.0)


def test_fast_pacing_windows_are_sixty_times_shorter() -> None:
    assert FAST_PACING.max_requests == REAL_PACING.max_requests == 60
    assert FAST_PACING.per_contract_max == REAL_PACING.per_contract_max == 5
    assert FAST_PACING.window_s == pytest.approx(10.0)
    assert FAST_PACING.identical_window_s == pytest.approx(0.25)
    assert FAST_PACING.per_contract_window_s == pytest.approx(2 / 60)
    assert PACING_MODES == {"real": REAL_PACING, "fast": FAST_PACING, "off": None}

    pacing, clock = ledger(FAST_PACING)
    times = fill_sixty(pacing, clock, step=0.05)
    wait = pacing.try_record(("request", 60), ("contract", 60))
    assert wait.seconds == pytest.approx(times[0] + 10.0 - clock.now)
    assert wait.rule == "60 requests within 10 s"
    clock.advance(wait.seconds)
    assert pacing.try_record(("request", 60), ("contract", 60)).seconds == 0

    pacing, clock = ledger(FAST_PACING)
    assert pacing.try_record("same", "c").seconds == 0
    wait = pacing.try_record("same", "c")
    assert wait.seconds == pytest.approx(0.25)
    assert wait.rule == "identical request within 0.25 s"


requests = st.lists(
    st.tuples(
        st.one_of(
            st.just(0.0),
            st.floats(0.0, 3.0, allow_nan=False),
            st.floats(0.0, 700.0, allow_nan=False),
        ),
        st.integers(0, 7),  # which request for the contract (few, so identical ones recur)
        st.integers(0, 2),  # contract (few, so the per-contract rule bites)
    ),
    min_size=10,
    max_size=150,
)


@PROPERTY
@given(
    sequence=requests,
    rules=st.sampled_from([REAL_PACING, FAST_PACING, replace(REAL_PACING, max_requests=8)]),
    many_contracts=st.booleans(),
    unique_requests=st.booleans(),
    burst=st.sampled_from([1.0, 0.001]),  # 0.001: requests come as fast as they are allowed
)
def test_requests_sent_when_the_ledger_allows_never_break_a_rule(
    sequence, rules: PacingRules, many_contracts: bool, unique_requests: bool, burst: float
) -> None:
    pacing, clock = ledger(rules)
    accepted: list[tuple[float, int, int]] = []
    for number, (gap, which, contract) in enumerate(sequence):
        if many_contracts:
            contract = number  # every request on its own contract: the 60-in-10-min rule bites
        if unique_requests:
            which = number  # no identical requests: the per-contract rule bites
        identity = (contract, which)  # as in the gateway, the identity includes the contract
        clock.advance(gap * burst * rules.window_s / 600)
        for _ in range(5):
            wait = pacing.try_record(identity, contract)
            if wait.seconds == 0:
                break
            assert wait.rule
            clock.advance(wait.seconds)
        else:
            pytest.fail(f"still held after waiting {wait}")
        accepted.append((clock.now, identity, contract))

    assert len(accepted) == len(sequence)
    tolerance = 1e-9
    times = np.array([t for t, _, _ in accepted])
    assert np.all(np.diff(times) >= 0)
    # No more than `max_requests` in any window: request i and i + max are a window apart.
    n = rules.max_requests
    assert np.all(times[n:] - times[:-n] >= rules.window_s - tolerance)
    by_identity: dict[object, list[float]] = defaultdict(list)
    by_contract: dict[object, list[float]] = defaultdict(list)
    for t, identity, contract in accepted:
        by_identity[identity].append(t)
        by_contract[contract].append(t)
    for stamps in by_identity.values():
        assert np.all(np.diff(stamps) >= rules.identical_window_s - tolerance)
    k = rules.per_contract_max
    for stamps in map(np.array, by_contract.values()):
        assert np.all(stamps[k:] - stamps[:-k] >= rules.per_contract_window_s - tolerance)


# -- error classification --------------------------------------------------------------------

HMDS = "Historical Market Data Service error message:"


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (200, "No security definition has been found for the request", UnknownSymbol),
        (162, HMDS + "API historical data query cancelled: pacing violation", PacingViolation),
        (162, HMDS + "Pacing Violation (60 requests within 600 s)", PacingViolation),
        (162, HMDS + "HMDS query returned no data: AAPL@SMART Trades", NoData),
        (
            162,
            HMDS + "invalid step: 2 D of 1 min bars exceeds the longest duration 1 D",
            InvalidRequest,
        ),
        (162, HMDS + "Time length exceed max.", InvalidRequest),
        (162, HMDS + "HMDS server disconnect occurred", TransientError),
        (162, HMDS + "API historical data query cancelled: 7", TransientError),
        (321, "Error validating request:-'bP' : cause - Invalid bar size", InvalidRequest),
        (326, "Unable to connect as the client id is already in use.", ClientIdInUse),
        (504, "Not connected", ConnectionLost),
        (1100, "Connectivity between IB and Trader Workstation has been lost.", ConnectionLost),
        (366, "No historical data query found for ticker id:5", TransientError),
    ],
)
def test_classify_maps_codes_and_texts_to_typed_errors(
    code: int, message: str, kind: type[IBError]
) -> None:
    error = classify(code, message)
    assert type(error) is kind
    assert error.code == code
    assert str(error) == message


def test_connection_errors_are_not_connected_errors() -> None:
    for code in (504, 1100, 326):
        assert isinstance(classify(code, "x"), NotConnected)
    for code, text in [(200, "x"), (162, "pacing violation"), (321, "x")]:
        assert not isinstance(classify(code, text), NotConnected)


# -- the gateway's request checks ------------------------------------------------------------


GATEWAY_NOW = pd.Timestamp("2024-03-15 20:30:15.75", tz="UTC")


def test_parse_end_empty_is_now_in_utc() -> None:
    end = parse_end("", GATEWAY_NOW)
    assert str(end.tz) == "UTC"
    assert end == pd.Timestamp("2024-03-15 20:30:15", tz="UTC")
    assert parse_end("   ", GATEWAY_NOW) == end


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("20240102 21:00:00 UTC", "2024-01-02 21:00"),
        ("20240102 16:00:00 US/Eastern", "2024-01-02 21:00"),
        ("20240702 16:00:00 US/Eastern", "2024-07-02 20:00"),  # daylight saving time
        ("20240102 16:00:00 America/New_York", "2024-01-02 21:00"),
        ("20240102-21:00:00", "2024-01-02 21:00"),
        ("20240102 16:00:00", "2024-01-02 21:00"),  # exchange time
        ("20240702 16:00:00", "2024-07-02 20:00"),
        ("  20240102 16:00:00  ", "2024-01-02 21:00"),
    ],
)
def test_parse_end_formats(text: str, utc: str) -> None:
    end = parse_end(text, GATEWAY_NOW)
    assert end == pd.Timestamp(utc, tz="UTC")
    assert str(end.tz) == "UTC"


@pytest.mark.parametrize(
    "text", ["garbage", "2024-01-02", "20240102", "20240132 16:00:00", "20240102 25:00:00"]
)
def test_parse_end_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_end(text, GATEWAY_NOW)


@pytest.mark.parametrize(
    ("end", "bar_size", "duration"),
    [
        ("20240102 21:00:00 UTC", "1 min", "1 D"),
        ("", "1 min", "86400 S"),
        ("", "2 mins", "2 D"),
        ("20240102 16:00:00", "5 mins", "1 W"),
        ("20240102-21:00:00", "1 hour", "1 M"),
        ("", "4 hours", "4 W"),
        ("", "1 day", "1 Y"),
    ],
)
def test_request_problem_accepts_valid_requests(end: str, bar_size: str, duration: str) -> None:
    assert request_problem(end, bar_size, duration, GATEWAY_NOW) is None


@pytest.mark.parametrize(
    ("end", "bar_size", "duration", "expected"),
    [
        ("", "1 min", "2 D", "invalid step"),
        ("20240102 21:00:00 UTC", "5 mins", "8 D", "invalid step"),
        ("", "1 hour", "2 M", "invalid step"),
        ("", "1 day", "2 Y", "invalid step"),
        ("", "7 mins", "1 D", "invalid bar size"),
        ("", "1 minute", "1 D", "invalid bar size"),
        ("", "1 min", "0 D", "invalid"),
        ("", "1 min", "1 X", "invalid"),
        ("garbage", "1 min", "1 D", "invalid"),
        ("20240102 16:00:00 Mars/Olympus", "1 min", "1 D", "invalid"),
    ],
)
def test_request_problem_reports_invalid_requests(
    end: str, bar_size: str, duration: str, expected: str
) -> None:
    problem = request_problem(end, bar_size, duration, GATEWAY_NOW)
    assert problem is not None
    assert expected in problem


@pytest.mark.parametrize(
    ("bar_size", "duration"),
    [
        ("1 min", "99999999999 D"),
        ("1 day", "99999 Y"),
        ("1 hour", "999999 M"),
        ("1 day", "99999999999 Y"),  # an OverflowError rather than a ValueError
    ],
)
def test_request_problem_answers_absurd_durations_instead_of_raising(
    bar_size: str, duration: str
) -> None:
    # A client can send any count; the gateway must answer with an error, not crash the task
    # that serves the request (which would leave the client waiting for an answer forever).
    problem = request_problem("20240102 21:00:00 UTC", bar_size, duration, GATEWAY_NOW)
    assert problem is not None
    assert "invalid" in problem


@pytest.mark.parametrize("end", ["29990101 00:00:00 UTC", "29990101-00:00:00", "22620412 00:00:00"])
def test_an_end_beyond_the_dates_bars_have_is_an_invalid_request(end: str) -> None:
    # pandas reads the year 2999 (at a coarser unit) and the gateway failed later, on bars in
    # nanoseconds, leaving the request unanswered.
    problem = request_problem(end, "1 min", "1 D", GATEWAY_NOW)
    assert problem == f"invalid request: end date/time {end!r} is out of range"


# -- where an answer begins: `D` in trading days for intraday bars ---------------------------

CALENDAR = calendar_for("XNYS")


@pytest.mark.parametrize(
    ("end", "duration", "bar_size", "start"),
    [
        ("2024-03-17 15:00", "1 D", "1 min", "2024-03-15 13:30"),  # Sunday: Friday's session
        ("2024-03-16 03:00", "1 D", "5 mins", "2024-03-15 13:30"),  # Saturday night
        ("2024-03-18 12:00", "1 D", "1 min", "2024-03-15 13:30"),  # Monday before the open
        ("2024-03-20 17:00", "1 D", "1 min", "2024-03-20 13:30"),  # in a session: from its open
        ("2024-04-01 21:00", "2 D", "2 mins", "2024-03-28 13:30"),  # Good Friday is no day
        ("2024-03-17 15:00", "1 W", "1 min", "2024-03-10 15:00"),  # weeks stay calendar weeks
        ("2024-03-17 15:00", "3 D", "1 day", "2024-03-14 15:00"),  # and daily bars count days
    ],
)
def test_answer_start(end: str, duration: str, bar_size: str, start: str) -> None:
    at = answer_start(
        Duration.parse(duration), pd.Timestamp(end, tz="UTC"), BAR_SIZES[bar_size], CALENDAR
    )
    assert at == pd.Timestamp(start, tz="UTC")


@PROPERTY
@given(
    end_s=st.integers(
        int(pd.Timestamp("2001-01-01").timestamp()), int(pd.Timestamp("2025-06-01").timestamp())
    ),
    count=st.integers(1, 30),
    bar_size=st.sampled_from([size for size, seconds in BAR_SIZES.items() if seconds]),
)
def test_intraday_days_are_the_last_sessions_that_opened_before_the_end(
    end_s: int, count: int, bar_size: str
) -> None:
    end = pd.Timestamp(end_s, unit="s", tz="UTC")
    start = answer_start(Duration(count, "D"), end, BAR_SIZES[bar_size], CALENDAR)
    opened = [s for s in CALENDAR.sessions_between(start, end) if s.open < end]
    assert len(opened) == count
    assert opened[0].open == start


@PROPERTY
@given(ordinal=st.integers(10, 6000), count=st.integers(1, 30))
def test_days_from_a_close_cover_the_sessions_of_the_span(ordinal: int, count: int) -> None:
    # A plan's request for `count` sessions ends at the last one's close and asks for the
    # calendar days from the first one's open, rounded up: the sessions IB answers with (the
    # last N that opened before the end) cover every one of them, early closes included.
    first, last = CALENDAR.session_at(ordinal), CALENDAR.session_at(ordinal + count - 1)
    days = math.ceil((last.close - first.open) / pd.Timedelta(days=1))
    start = answer_start(Duration(days, "D"), last.close, 60, CALENDAR)
    assert start <= first.open


def bars_of(starts: list[int]) -> BarArrays:
    n = len(starts)
    return BarArrays(
        np.array(starts, np.int64),
        np.full(n, 10.0),
        np.full(n, 10.5),
        np.full(n, 9.75),
        np.full(n, 10.25),
        np.full(n, 1200.0),
        np.full(n, 10.1667),
        np.full(n, 12, np.int64),
    )


def test_historical_message_fields() -> None:
    start, end = pd.Timestamp("2024-01-02 14:30", tz="UTC"), END
    first = int(pd.Timestamp("2024-01-02 14:30", tz="UTC").timestamp())
    bars = bars_of([first, first + 60])
    fields = historical_message(7, start, end, bars, 60, "1").split("\0")
    assert fields[:5] == [
        str(HISTORICAL_DATA),
        "7",
        "20240102 14:30:00 UTC",
        "20240315 21:00:00 UTC",
        "2",
    ]
    assert fields[5:13] == [
        "20240102 09:30:00 US/Eastern",
        "10.00",
        "10.50",
        "9.75",
        "10.25",
        "1200",
        "10.1667",
        "12",
    ]
    assert fields[13] == "20240102 09:31:00 US/Eastern"
    assert fields[21:] == [""]  # the message ends with a NUL

    epoch = historical_message(7, start, end, bars, 60, "2").split("\0")
    assert epoch[5] == str(first) and epoch[13] == str(first + 60)

    midnight = int(pd.Timestamp("2024-01-02", tz="UTC").timestamp())
    daily = historical_message(8, start, end, bars_of([midnight]), 0, "1").split("\0")
    assert daily[4:6] == ["1", "20240102"]


def test_the_wire_names_the_exchanges_zone_by_ibs_alias() -> None:
    # One zone: the exchange's (`engine.market.exchange`), spelled on the wire as IB spells it.
    assert wire.EXCHANGE_TZ == "US/Eastern"
    for instant in ("2024-01-02 14:30", "2024-07-02 13:30"):  # winter and summer time
        moment = pd.Timestamp(instant, tz="UTC")
        assert moment.tz_convert(wire.EXCHANGE_TZ).utcoffset() == (
            moment.tz_convert(exchange.EXCHANGE_TZ).utcoffset()
        )
