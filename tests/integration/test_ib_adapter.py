"""The engine's `IBAdapter` against the simulated IB Gateway, with either client library."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import exchange_calendars
import pandas as pd
import pytest

from engine.config import GatewayAddress
from engine.core.cancellation import CancelToken, OperationCancelled
from engine.core.pacing import PacingLedger
from engine.ib.adapter import BarRequest, ContractInfo, IBAdapter
from engine.ib.errors import (
    BadAnswer,
    ClientIdInUse,
    ConnectionLost,
    IBError,
    IBTimeout,
    InvalidRequest,
    NoData,
    NotConnected,
    PacingViolation,
    TransientError,
    UnknownSymbol,
)
from engine.ib.pacing import FAST_PACING
from engine.ib.sim_gateway import SERVER_VERSION, SimulatedGateway
from engine.ib.universe import UNIVERSE
from engine.ib.wire import HANDSHAKE_PREFIX, frame
from engine.market.spans import Duration
from tests.support.fakes import FakeClock

LIBRARIES = ("ib_insync", "ib_async")
XNYS = exchange_calendars.get_calendar("XNYS")
COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]
WEEK = ("2024-03-18", "2024-03-19", "2024-03-20", "2024-03-21", "2024-03-22")

# Every adapter in this module gets a client id of its own unless a test wants a clash.
_client_ids = itertools.count(201)


def close_of(day: str) -> pd.Timestamp:
    return XNYS.session_close(day).tz_convert("UTC")


def request(
    bar_size: str = "1 min",
    end: str | pd.Timestamp = "2024-03-15",
    duration: str = "1 D",
    symbol: str = "AAPL",
) -> BarRequest:
    if isinstance(end, str):
        end = close_of(end)
    return BarRequest(symbol, bar_size, end, Duration.parse(duration))


@pytest.fixture(params=LIBRARIES)
def library(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_adapter(library: str) -> Iterator[Callable[..., IBAdapter]]:
    """`make_adapter(address, client_id=None)` -> an unconnected adapter, closed afterwards."""
    adapters: list[IBAdapter] = []

    def make(address: GatewayAddress, client_id: int | None = None, **options) -> IBAdapter:
        adapter = IBAdapter(
            address,
            next(_client_ids) if client_id is None else client_id,
            library=library,
            **options,
        )
        adapters.append(adapter)
        return adapter

    yield make
    for adapter in adapters:
        adapter.close()


@pytest.fixture
def connected(start_gateway, make_adapter) -> Callable[..., tuple[SimulatedGateway, IBAdapter]]:
    """`connected(pacing=..., **faults)` -> (gateway, an adapter connected to it)."""

    def open_one(**settings: Any) -> tuple[SimulatedGateway, IBAdapter]:
        gateway = start_gateway(**settings)
        adapter = make_adapter(gateway.address)
        adapter.connect()
        return gateway, adapter

    return open_one


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- connecting, contracts, head timestamps ----------------------------------------------------


def test_connect_qualify_and_head_timestamp(connected):
    gateway, adapter = connected()
    assert adapter.connected

    info = adapter.qualify("AAPL")

    assert info == ContractInfo(
        symbol="AAPL",
        con_id=265598,
        exchange="SMART",
        primary_exchange="NASDAQ",
        currency="USD",
        long_name="APPLE INC",
        time_zone="US/Eastern",
    )
    for symbol in ("AAPL", "META"):
        head = adapter.head_timestamp(symbol)
        assert isinstance(head, pd.Timestamp)
        assert str(head.tz) == "UTC"
        assert head == gateway.market.first_session(UNIVERSE[symbol]).open
    assert adapter.head_timestamp("META") == pd.Timestamp("2012-05-18 13:30", tz="UTC")


def test_farm_status_messages_are_logged_at_info_not_raised(
    start_gateway, make_adapter, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="engine.ib.adapter")
    gateway = start_gateway()
    adapter = make_adapter(gateway.address)

    adapter.connect()

    assert adapter.connected
    records = [r for r in caplog.records if r.name == "engine.ib.adapter"]
    for code in (2104, 2106, 2158):
        [record] = [r for r in records if str(code) in r.getMessage()]
        assert record.levelno == logging.INFO
    assert [r.getMessage() for r in records if r.levelno >= logging.WARNING] == []
    # Nothing was left behind for a later request to pick up as its error.
    assert not adapter.historical_bars(request()).empty


def test_client_id_in_use_is_refused_quickly(start_gateway, make_adapter):
    gateway = start_gateway()
    first = make_adapter(gateway.address, client_id=7)
    first.connect()
    second = make_adapter(gateway.address, client_id=7, connect_timeout_s=4.0)

    started = time.monotonic()
    with pytest.raises(ClientIdInUse) as raised:
        second.connect()
    elapsed = time.monotonic() - started

    # Well before the 4 s connect timeout.
    assert elapsed < 2.0, f"took {elapsed:.2f} s"
    assert raised.value.code == 326
    assert not second.connected
    assert first.connected
    assert len(first.historical_bars(request())) == 390


class RefusingGateway:
    """Answers the handshake, refuses the client id (326), then keeps the socket open until the
    client hangs up: a gateway whose close arrives after its error, as over a real network."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(10)
        self.address = GatewayAddress(*self.server.getsockname()[:2])
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        with self.server, self.server.accept()[0] as conn:
            conn.settimeout(10)
            reader = conn.makefile("rb")
            assert reader.read(4) == HANDSHAKE_PREFIX
            self.read_message(reader)  # the client's version range
            conn.sendall(frame(SERVER_VERSION, "20240315 10:00:00 EST"))
            assert self.read_message(reader)[0] == "71"  # startApi
            conn.sendall(frame(4, 2, -1, 326, "Unable to connect as the client id is in use.", ""))
            while conn.recv(4096):  # until the client closes
                pass

    @staticmethod
    def read_message(reader: Any) -> list[str]:
        (length,) = struct.unpack(">I", reader.read(4))
        return reader.read(length).decode().split("\0")


def test_client_id_refusal_before_the_socket_closes(make_adapter):
    gateway = RefusingGateway()
    adapter = make_adapter(gateway.address, connect_timeout_s=4.0)

    started = time.monotonic()
    with pytest.raises(ClientIdInUse):
        adapter.connect()

    assert time.monotonic() - started < 2.0
    assert not adapter.connected
    gateway.thread.join(5)
    assert not gateway.thread.is_alive(), "the adapter never closed its socket"


def test_closed_port_is_not_connected(make_adapter):
    adapter = make_adapter(GatewayAddress("127.0.0.1", free_port()))

    with pytest.raises(NotConnected) as raised:
        adapter.connect()

    assert not isinstance(raised.value, ClientIdInUse)
    assert not adapter.connected


def test_gateway_that_never_finishes_the_handshake_times_out(make_adapter):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        # Listening, never answering: the client's TCP connect succeeds, its handshake waits.
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        adapter = make_adapter(GatewayAddress(*silent.getsockname()[:2]), connect_timeout_s=0.5)

        with pytest.raises(IBTimeout, match="did not finish the handshake"):
            adapter.connect()

    assert not adapter.connected


def test_closing_in_the_middle_of_a_connect_ends_it_and_leaves_no_task(make_adapter):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        adapter = make_adapter(GatewayAddress(*silent.getsockname()[:2]), connect_timeout_s=60)
        raised: list[BaseException] = []

        def connect() -> None:
            try:
                adapter.connect()
            except BaseException as exc:  # what the caller (a load) sees
                raised.append(exc)

        caller = threading.Thread(target=connect)
        caller.start()
        peer, _ = silent.accept()  # its TCP connect is through: the handshake waits
        with peer:
            adapter.close()  # as the app quits
            caller.join(timeout=30)
    assert not caller.is_alive()
    assert [type(exc) for exc in raised] == [OperationCancelled]
    assert asyncio.all_tasks(adapter._loop) == set()  # none left for the collector to close


def test_requests_before_connect_are_not_connected(start_gateway, make_adapter):
    gateway = start_gateway()
    adapter = make_adapter(gateway.address)

    with pytest.raises(NotConnected):
        adapter.historical_bars(request())
    with pytest.raises(NotConnected):
        adapter.qualify("AAPL")
    assert gateway.historical_requests == 0


# -- historical bars ---------------------------------------------------------------------------


def test_historical_bars_frame_schema(connected):
    _, adapter = connected()

    frame = adapter.historical_bars(request("1 min", "2024-11-29"))

    assert list(frame.columns) == COLUMNS
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    for column in COLUMNS[1:]:
        assert frame[column].dtype == "float64", column
    assert len(frame) == 210  # the early close
    assert frame["timestamp"].is_monotonic_increasing
    assert frame["timestamp"].is_unique
    assert frame["timestamp"].iloc[0] == XNYS.session_open("2024-11-29")
    assert frame["timestamp"].iloc[-1] == close_of("2024-11-29") - pd.Timedelta(minutes=1)
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame[["open", "close"]].max(axis=1) <= frame["high"]).all()
    assert (frame["volume"] > 0).all()


def test_same_bars_whatever_the_segmentation(connected):
    _, adapter = connected()

    whole = adapter.historical_bars(request("5 mins", WEEK[-1], "1 W"))
    days = [adapter.historical_bars(request("5 mins", day, "1 D")) for day in WEEK]

    assert [len(day) for day in days] == [78] * 5
    assert len(whole) == 5 * 78
    pd.testing.assert_frame_equal(pd.concat(days).reset_index(drop=True), whole)


def test_daily_bars_are_at_midnight_utc(connected):
    _, adapter = connected()

    frame = adapter.historical_bars(request("1 day", WEEK[-1], "1 W"))

    assert list(frame.columns) == COLUMNS
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    expected = pd.DatetimeIndex([pd.Timestamp(day, tz="UTC") for day in WEEK])
    assert list(frame["timestamp"]) == list(expected)
    assert (frame["timestamp"] == frame["timestamp"].dt.normalize()).all()


# -- typed errors ------------------------------------------------------------------------------


def test_unknown_symbol(connected):
    _, adapter = connected()

    with pytest.raises(UnknownSymbol) as raised:
        adapter.qualify("ZZZZ")
    assert raised.value.code == 200
    with pytest.raises(UnknownSymbol):
        adapter.historical_bars(request(symbol="ZZZZ"))
    assert adapter.connected


def test_invalid_step(connected):
    _, adapter = connected()

    with pytest.raises(InvalidRequest) as raised:
        adapter.historical_bars(request("1 min", duration="2 D"))

    assert raised.value.code == 162
    assert "invalid step" in str(raised.value)
    assert adapter.connected
    assert len(adapter.historical_bars(request("1 min", duration="1 D"))) == 390


@pytest.fixture
def fast_paced(connected) -> tuple[SimulatedGateway, IBAdapter, FakeClock]:
    gateway, adapter = connected(pacing="fast")
    assert gateway.pacing is not None
    assert gateway.pacing.rules == FAST_PACING
    # A clock only the test moves: "fast" pacing's windows are milliseconds long, and a loaded
    # machine must not stretch a burst of requests past them.
    clock = FakeClock()
    gateway.pacing = PacingLedger(FAST_PACING, clock=clock)
    return gateway, adapter, clock


def test_six_requests_for_one_contract_violate_fast_pacing(fast_paced):
    gateway, adapter, clock = fast_paced
    # Six distinct requests (different ends) for one contract, back to back.
    end = close_of("2024-03-15")
    requests = [request("1 min", end - pd.Timedelta(minutes=30 * i), "1800 S") for i in range(7)]

    frames = [adapter.historical_bars(r) for r in requests[:5]]
    with pytest.raises(PacingViolation) as raised:
        adapter.historical_bars(requests[5])

    assert [len(frame) for frame in frames] == [30] * 5
    assert raised.value.code == 162
    assert gateway.historical_requests == 6
    assert adapter.connected
    # The limit is per contract ...
    assert len(adapter.historical_bars(request("1 min", end, "1800 S", symbol="MSFT"))) == 30
    # ... and lifts once the window has passed.
    clock.advance(FAST_PACING.per_contract_window_s + 0.001)
    assert len(adapter.historical_bars(requests[5])) == 30


def test_identical_request_at_once_violates_fast_pacing(fast_paced):
    _, adapter, clock = fast_paced
    same = request("1 min", "2024-03-15", "1800 S")
    first = adapter.historical_bars(same)

    with pytest.raises(PacingViolation) as raised:
        adapter.historical_bars(same)

    assert raised.value.code == 162
    assert "identical" in str(raised.value)
    # Another request for the contract may go ...
    assert len(adapter.historical_bars(request("1 min", "2024-03-14", "1800 S"))) == 30
    # ... and the identical one once its window has passed.
    clock.advance(FAST_PACING.identical_window_s + 0.001)
    pd.testing.assert_frame_equal(adapter.historical_bars(same), first)


def test_pacing_off_allows_twenty_quick_requests(connected):
    gateway, adapter = connected(pacing="off")
    end = close_of("2024-03-15")

    frames = [
        adapter.historical_bars(request("1 min", end - pd.Timedelta(minutes=i), "600 S"))
        for i in range(20)
    ]
    # An identical request right away, too.
    frames.append(adapter.historical_bars(request("1 min", end, "600 S")))

    assert [len(frame) for frame in frames] == [10] * 21
    pd.testing.assert_frame_equal(frames[0], frames[-1])
    assert gateway.historical_requests == 21


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        ({"no_data_every": 1}, NoData),
        ({"transient_error_every": 1}, TransientError),
        ({"pacing_violation_every": 1}, PacingViolation),
    ],
)
def test_injected_faults_come_out_typed(connected, faults: dict[str, int], error: type[IBError]):
    _, adapter = connected(**faults)

    for _ in range(2):
        with pytest.raises(error) as raised:
            adapter.historical_bars(request())
        assert type(raised.value) is error
        assert raised.value.code == 162
    assert adapter.connected


def test_dropped_connection_then_reconnect(connected):
    gateway, adapter = connected(drop_after=1)
    first = adapter.historical_bars(request("5 mins", WEEK[0]))

    with pytest.raises(NotConnected) as raised:
        adapter.historical_bars(request("5 mins", WEEK[1]))

    assert isinstance(raised.value, ConnectionLost)
    assert gateway.historical_requests == 2  # the second one made the gateway drop
    assert not adapter.connected
    with pytest.raises(NotConnected):
        adapter.historical_bars(request("5 mins", WEEK[1]))

    adapter.disconnect()
    adapter.connect()

    assert adapter.connected
    again = adapter.historical_bars(request("5 mins", WEEK[0]))
    pd.testing.assert_frame_equal(again, first)
    assert len(adapter.historical_bars(request("5 mins", WEEK[1]))) == 78


# -- cancellation ------------------------------------------------------------------------------


def test_cancel_returns_within_100_ms_and_cancels_at_the_gateway(connected):
    gateway, adapter = connected(latency_ms=5000)
    adapter.qualify("AAPL")
    token = CancelToken()
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = adapter.historical_bars(request(), token)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            outcome["finished_at"] = time.monotonic()
            finished.set()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    # Wait (bounded) until the gateway holds the request: it answers only after 5 s.
    deadline = time.monotonic() + 5
    while gateway.historical_requests < 1:
        assert time.monotonic() < deadline, "the request never reached the gateway"
        assert not finished.wait(0.005), outcome
    connection = gateway._clients[adapter.client_id]
    assert len(connection.tasks) == 1

    cancelled_at = time.monotonic()
    token.cancel("test")
    assert finished.wait(5), "historical_bars did not return after the cancel"
    worker.join(5)

    assert isinstance(outcome.get("error"), OperationCancelled), outcome
    returned_in = outcome["finished_at"] - cancelled_at
    assert returned_in < 0.1, f"returned {returned_in * 1000:.0f} ms after the cancel"
    # The gateway got cancelHistoricalData: its task for the request is gone long before the
    # 5 s latency would have ended it.
    pause = threading.Event()  # never set: a bounded wait between looks
    deadline = time.monotonic() + 2
    while connection.tasks:
        assert time.monotonic() < deadline, "the gateway still works on the cancelled request"
        pause.wait(0.005)
    assert adapter.connected


# -- answers that arrive but are wrong ---------------------------------------------------------


def test_an_undecodable_answer_fails_its_request_at_once(start_gateway, make_adapter):
    # Before: the client library logged the message and left the request waiting until the
    # adapter's timeout, and the load retried it forever. The short timeout here only turns
    # such a regression into a quick IBTimeout instead of a long wait.
    gateway = start_gateway(malformed_every=2)
    adapter = make_adapter(gateway.address, request_timeout_s=10)
    adapter.connect()
    first = adapter.historical_bars(request(end="2024-03-14"))

    with pytest.raises(BadAnswer) as raised:
        adapter.historical_bars(request(end="2024-03-15"))

    assert "could not be read" in str(raised.value)
    assert adapter.connected  # the connection stays usable
    assert len(first) == len(adapter.historical_bars(request(end="2024-03-13"))) == 390


def test_short_and_bad_price_answers_arrive_as_sent(connected):
    # The adapter hands them on; the load job's checks judge them (test_loading.py).
    _, short = connected(short_every=1)
    assert len(short.historical_bars(request())) == 195
    _, bad = connected(bad_prices_every=1)
    bars = bad.historical_bars(request())
    assert list(bars.index[bars["low"] > bars["high"]]) == [195]
