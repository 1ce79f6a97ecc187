"""The stock client libraries (`ib_insync` and `ib_async`) against the simulated IB Gateway.

Every test runs its own gateway (pacing off unless the test is about pacing) on a thread of its
own, and drives the client library synchronously on a fresh event loop in the test's thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import ModuleType
from typing import Any

import exchange_calendars
import pandas as pd
import pytest

from engine.core.pacing import PacingLedger
from engine.ib.errors import FARM_STATUS
from engine.ib.pacing import FAST_PACING
from engine.ib.sim_gateway import ACCOUNT, SimulatedGateway
from engine.ib.universe import UNIVERSE
from engine.market.calendar import calendar_for

LIBRARIES = ("ib_insync", "ib_async")
XNYS = exchange_calendars.get_calendar("XNYS")
EASTERN = "America/New_York"

# Every connection in this module gets a client id of its own.
_client_ids = itertools.count(101)


def next_client_id() -> int:
    return next(_client_ids)


@pytest.fixture(params=LIBRARIES)
def lib(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh event loop for the client library's synchronous API in this thread."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.run_until_complete(asyncio.sleep(0))  # let disconnect callbacks run
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def gateway(start_gateway) -> SimulatedGateway:
    return start_gateway()


@pytest.fixture
def make_ib(lib: ModuleType, loop: asyncio.AbstractEventLoop, gateway: SimulatedGateway):
    """`make_ib()` -> a new, unconnected IB with its error events recorded in `ib.errors`."""
    made: list[Any] = []

    def make() -> Any:
        ib = lib.IB()
        ib.errors = []  # (request id, code, text), farm status messages left out

        def record(req_id: int, code: int, text: str, *rest: Any) -> None:
            if code not in FARM_STATUS:
                ib.errors.append((req_id, code, text))

        ib.errorEvent += record
        made.append(ib)
        return ib

    yield make
    for ib in made:
        ib.disconnect()


@pytest.fixture
def connect(make_ib, gateway: SimulatedGateway) -> Callable[[], Any]:
    """`connect()` -> an IB connected to the gateway with a client id of its own."""

    def open_one() -> Any:
        ib = make_ib()
        ib.connect(gateway.address.host, gateway.address.port, clientId=next_client_id())
        return ib

    return open_one


def stock(lib: ModuleType, symbol: str) -> Any:
    return lib.Stock(symbol, "SMART", "USD")


def session_minutes(day: str) -> list[dt.datetime]:
    """The bar starts of one XNYS session: open, open + 1 min, ..., close - 1 min (UTC)."""
    opens, closes = XNYS.session_open(day), XNYS.session_close(day)
    minutes = pd.date_range(opens, closes, freq="1min", inclusive="left", tz="UTC")
    return [stamp.to_pydatetime() for stamp in minutes]


def session_close(day: str) -> dt.datetime:
    return XNYS.session_close(day).tz_convert("UTC").to_pydatetime()


# -- connecting --------------------------------------------------------------------------------


def test_connect_is_quick_and_logs_no_warning(
    lib: ModuleType, make_ib, gateway: SimulatedGateway, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger=lib.__name__)
    ib = make_ib()

    started = time.monotonic()
    ib.connect(gateway.address.host, gateway.address.port, clientId=next_client_id(), timeout=4)
    elapsed = time.monotonic() - started

    assert ib.isConnected()
    assert ib.managedAccounts() == [ACCOUNT]
    # A gateway that leaves one of the start-up requests unanswered makes the client wait for
    # its whole timeout (and log a warning); a complete handshake takes milliseconds.
    assert elapsed < 2.0, f"connect took {elapsed:.2f} s"
    library_records = [r for r in caplog.records if r.name.startswith(lib.__name__ + ".")]
    assert any("Synchronization complete" in r.getMessage() for r in library_records)
    loud = [
        f"{r.name} {r.levelname}: {r.getMessage()}"
        for r in library_records
        if r.levelno >= logging.WARNING
    ]
    assert loud == []


def test_same_client_id_is_refused_while_the_first_stays_connected(
    lib: ModuleType, make_ib, gateway: SimulatedGateway
):
    client_id = next_client_id()
    first = make_ib()
    first.connect(gateway.address.host, gateway.address.port, clientId=client_id)
    second = make_ib()

    with pytest.raises((TimeoutError, ConnectionError)):
        second.connect(gateway.address.host, gateway.address.port, clientId=client_id, timeout=1)

    assert not second.isConnected()
    assert 326 in [code for _, code, _ in second.errors]
    assert first.isConnected()
    assert 326 not in [code for _, code, _ in first.errors]
    # ... and still served.
    [contract] = first.qualifyContracts(stock(lib, "MSFT"))
    assert contract.conId == UNIVERSE["MSFT"].con_id


# -- contracts and head timestamps -------------------------------------------------------------


def test_qualify_fills_the_contract_id(lib: ModuleType, connect):
    ib = connect()
    contract = stock(lib, "AAPL")

    qualified = ib.qualifyContracts(contract)

    assert qualified == [contract]
    assert contract.conId == UNIVERSE["AAPL"].con_id == 265598
    assert contract.primaryExchange == "NASDAQ"
    assert contract.currency == "USD"


def test_head_timestamp_is_a_datetime_at_the_first_session_open(
    lib: ModuleType, connect, gateway: SimulatedGateway
):
    ib = connect()
    contract = stock(lib, "META")
    ib.qualifyContracts(contract)

    head = ib.reqHeadTimeStamp(contract, "TRADES", True, 2)

    assert isinstance(head, dt.datetime)
    assert head.tzinfo is not None
    first = gateway.market.first_session(UNIVERSE["META"])
    assert pd.Timestamp(head) == first.open
    # META's first day, 2012-05-18, at 09:30 New York time.
    assert pd.Timestamp(head).tz_convert(EASTERN) == pd.Timestamp("2012-05-18 09:30", tz=EASTERN)


# -- historical bars ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected_bars"),
    [
        ("2024-03-15", 390),  # a regular Friday
        ("2024-03-11", 390),  # the Monday after the switch to daylight saving time
        ("2024-11-29", 210),  # the day after Thanksgiving: closes at 13:00
    ],
)
def test_minute_bars_are_exactly_the_session_minutes(
    lib: ModuleType, connect, day: str, expected_bars: int
):
    ib = connect()
    contract = stock(lib, "AAPL")
    ib.qualifyContracts(contract)

    bars = ib.reqHistoricalData(
        contract,
        endDateTime=session_close(day),
        durationStr="1 D",
        barSizeSetting="1 min",
        whatToShow="TRADES",
        useRTH=True,
        formatDate=2,
    )

    expected = session_minutes(day)
    assert len(expected) == expected_bars
    assert [bar.date for bar in bars] == expected
    assert pd.Timestamp(bars[0].date).tz_convert(EASTERN).strftime("%H:%M") == "09:30"
    # The same minutes the engine's calendar gives.
    session = calendar_for("XNYS").session_for_date(pd.Timestamp(day))
    assert session is not None
    assert session.minutes == expected_bars
    assert pd.Timestamp(bars[0].date) == session.open
    assert pd.Timestamp(bars[-1].date) == session.close - pd.Timedelta(minutes=1)
    for bar in bars:
        assert bar.low <= min(bar.open, bar.close), bar
        assert max(bar.open, bar.close) <= bar.high, bar
        assert bar.low > 0
        assert bar.volume > 0, bar


def test_early_close_ends_at_one_pm_eastern(lib: ModuleType, connect):
    ib = connect()
    contract = stock(lib, "SPY")
    ib.qualifyContracts(contract)

    bars = ib.reqHistoricalData(
        contract, session_close("2024-11-29"), "1 D", "1 min", "TRADES", True, formatDate=2
    )

    assert len(bars) == 210
    last = pd.Timestamp(bars[-1].date).tz_convert(EASTERN)
    assert last == pd.Timestamp("2024-11-29 12:59", tz=EASTERN)


def test_daily_bars_are_dates_one_per_session(lib: ModuleType, connect):
    ib = connect()
    contract = stock(lib, "IBM")
    ib.qualifyContracts(contract)

    bars = ib.reqHistoricalData(
        contract, session_close("2024-12-31"), "1 Y", "1 day", "TRADES", True, formatDate=2
    )

    dates = [bar.date for bar in bars]
    assert all(type(d) is dt.date for d in dates), dates[:3]
    expected = [s.date() for s in XNYS.sessions_in_range("2024-01-01", "2024-12-31")]
    assert len(expected) == 252
    assert dates == expected
    for bar in bars:
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.volume > 0


def test_daily_bars_agree_with_the_minute_bars(lib: ModuleType, connect):
    ib = connect()
    contract = stock(lib, "MSFT")
    ib.qualifyContracts(contract)
    end = session_close("2024-11-29")

    minutes = ib.reqHistoricalData(contract, end, "1 D", "1 min", "TRADES", True, formatDate=2)
    [daily] = ib.reqHistoricalData(contract, end, "1 D", "1 day", "TRADES", True, formatDate=2)

    assert daily.date == dt.date(2024, 11, 29)
    assert daily.open == minutes[0].open
    assert daily.close == minutes[-1].close
    assert daily.high == max(bar.high for bar in minutes)
    assert daily.low == min(bar.low for bar in minutes)
    assert daily.volume == sum(bar.volume for bar in minutes)


# -- errors ------------------------------------------------------------------------------------


def test_unknown_symbol_gets_error_200(lib: ModuleType, connect):
    ib = connect()
    unknown = stock(lib, "ZZZZ")

    qualified = ib.qualifyContracts(unknown)

    assert qualified in ([], [None])
    assert unknown.conId == 0
    assert 200 in [code for _, code, _ in ib.errors]

    ib.errors.clear()
    bars = ib.reqHistoricalData(
        unknown, session_close("2024-03-15"), "1 D", "1 min", "TRADES", True, formatDate=2
    )

    assert list(bars) == []
    assert [code for _, code, _ in ib.errors] == [200]
    assert ib.errors[0][0] > 0  # the request's id, not -1
    assert ib.isConnected()


def test_invalid_step_gets_error_162(lib: ModuleType, connect):
    ib = connect()
    contract = stock(lib, "AAPL")
    ib.qualifyContracts(contract)

    bars = ib.reqHistoricalData(
        contract, session_close("2024-03-15"), "2 D", "1 min", "TRADES", True, formatDate=2
    )

    assert list(bars) == []
    [(req_id, code, text)] = ib.errors
    assert req_id > 0
    assert code == 162
    assert "invalid step" in text
    assert ib.isConnected()


def test_pacing_violation_in_fast_mode(lib: ModuleType, loop, make_ib, start_gateway):
    gateway = start_gateway(pacing="fast")
    address = gateway.address
    # The per-contract window of `fast` is 33 ms: on a busy machine six requests may take
    # longer than that to arrive. A wide window keeps the test about the rule, not the clock.
    gateway.pacing = PacingLedger(replace(FAST_PACING, per_contract_window_s=30.0))
    ib = make_ib()
    ib.connect(address.host, address.port, clientId=next_client_id())
    contract = stock(lib, "AAPL")
    ib.qualifyContracts(contract)
    ends = [session_close(day) for day in ("2024-03-11", "2024-03-12", "2024-03-13")]
    ends += [session_close(day) for day in ("2024-03-14", "2024-03-15", "2024-03-18")]

    # Six requests for one contract sent together: the gateway allows five per window.
    async def fetch_all() -> list[Any]:
        return await asyncio.gather(
            *(
                ib.reqHistoricalDataAsync(contract, end, "1800 S", "1 min", "TRADES", True, 2)
                for end in ends
            )
        )

    results = loop.run_until_complete(fetch_all())

    assert gateway.historical_requests == 6
    assert sorted(len(bars) for bars in results) == [0, 30, 30, 30, 30, 30]
    [(_, code, text)] = ib.errors
    assert code == 162
    assert "pacing violation" in text


# -- several clients ---------------------------------------------------------------------------


def test_three_clients_at_once_all_get_bars(
    lib: ModuleType, loop, connect, gateway: SimulatedGateway
):
    clients = [connect(), connect(), connect()]
    assert len({ib.client.clientId for ib in clients}) == 3
    assert all(ib.isConnected() for ib in clients)
    end = session_close("2024-03-15")

    async def fetch(ib: Any) -> list[Any]:
        contract = stock(lib, "NVDA")
        await ib.qualifyContractsAsync(contract)
        return await ib.reqHistoricalDataAsync(contract, end, "1 D", "5 mins", "TRADES", True, 2)

    async def fetch_all() -> list[list[Any]]:
        return await asyncio.gather(*(fetch(ib) for ib in clients))

    results = loop.run_until_complete(fetch_all())

    assert gateway.historical_requests == 3
    expected = session_minutes("2024-03-15")[::5]
    for bars in results:
        assert [bar.date for bar in bars] == expected
    # Synthetic bars are deterministic: every client sees the same ones.
    # (BarDataList compares by identity: compare the bars.)
    assert list(results[0]) == list(results[1]) == list(results[2])
    assert all(ib.isConnected() for ib in clients)
