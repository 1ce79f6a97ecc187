"""A simulated IB Gateway: a TWS-protocol server on loopback that stock `ib_insync` and
`ib_async` clients connect to unchanged. It answers the requests a client sends on connect,
contract details, head timestamps and historical bars (from `synthetic.py`), enforces IB's
step-size table and pacing rules, and injects faults for tests.

Server version 176 is the newest both clients accept; at 176 they decode every message used here
identically (historical data ends with message 17 itself; errors carry a trailing
advancedOrderRejectJson field; contract data has no version field).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from engine.clock import Clock, system_clock
from engine.config import GatewayAddress
from engine.core.pacing import PacingLedger
from engine.ib.durations import BAR_SIZES, answer_start, exceeds_step, longest_duration
from engine.ib.pacing import PACING_MODES
from engine.ib.synthetic import DEFAULT_SEED, BarArrays, SyntheticMarket
from engine.ib.universe import UNIVERSE, Instrument
from engine.ib.wire import EXCHANGE_TZ, HANDSHAKE_PREFIX, frame, frame_text, read_message
from engine.market.calendar import calendar_for
from engine.market.spans import Duration

log = logging.getLogger(__name__)

SERVER_VERSION = 176
ACCOUNT = "DU1234567"
HMDS = "Historical Market Data Service error message:"
_VERSION_RANGE = re.compile(r"^v(\d+)\.\.(\d+)")

# Incoming message ids (the client's requests) and outgoing ones (our answers).
START_API, REQ_POSITIONS, REQ_OPEN_ORDERS, REQ_COMPLETED_ORDERS = 71, 61, 5, 99
REQ_ACCOUNT_UPDATES, REQ_ACCOUNT_UPDATES_MULTI, REQ_EXECUTIONS = 6, 76, 7
REQ_CONTRACT_DETAILS, REQ_HEAD_TIMESTAMP, CANCEL_HEAD_TIMESTAMP = 9, 87, 90
REQ_HISTORICAL_DATA, CANCEL_HISTORICAL_DATA = 20, 25
REQ_CURRENT_TIME, REQ_ACCOUNT_SUMMARY = 49, 62
ERROR, NEXT_VALID_ID, MANAGED_ACCOUNTS, CONTRACT_DATA, CONTRACT_DATA_END = 4, 9, 15, 10, 52
HISTORICAL_DATA, HEAD_TIMESTAMP = 17, 88


@dataclass(frozen=True)
class Faults:
    """Deterministic faults: counts refer to historical-data requests since the gateway started."""

    latency_ms: float = 0.0  # before every historical and head-timestamp answer
    drop_after: int | None = None  # close every connection when request N+1 arrives (once)
    pacing_violation_every: int | None = None  # answer every Nth request with a pacing violation
    no_data_every: int | None = None  # answer every Nth request with "no data"
    transient_error_every: int | None = None  # answer every Nth request with a transient error
    # Answers that arrive but are wrong: the client cannot decode them (a price that is no
    # number), they hold only the first half of the bars, or one bar's high is below its low.
    malformed_every: int | None = None
    short_every: int | None = None
    bad_prices_every: int | None = None


@dataclass(frozen=True)
class GatewaySettings:
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port
    seed: int = DEFAULT_SEED
    pacing: str = "real"  # real | fast | off
    faults: Faults = field(default_factory=Faults)
    now: Clock = system_clock  # the gateway's "now": the end of an open-ended request


class SimulatedGateway:
    def __init__(self, settings: GatewaySettings | None = None):
        self.settings = settings or GatewaySettings()
        if self.settings.pacing not in PACING_MODES:
            raise ValueError(f"pacing must be one of {', '.join(PACING_MODES)}")
        rules = PACING_MODES[self.settings.pacing]
        self.pacing = PacingLedger(rules) if rules else None
        self.market = SyntheticMarket(calendar_for("XNYS"), self.settings.seed)
        self.historical_requests = 0
        self._dropped = False
        self._server: asyncio.Server | None = None
        self._clients: dict[int, _Connection] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def now(self) -> pd.Timestamp:
        return pd.Timestamp(self.settings.now())

    @property
    def address(self) -> GatewayAddress:
        if self._server is None:
            raise RuntimeError("the gateway is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return GatewayAddress(host, port)

    async def start(self) -> GatewayAddress:
        self._server = await asyncio.start_server(
            self._serve_client, self.settings.host, self.settings.port
        )
        log.info("simulated IB Gateway listening on %s", self.address)
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._clients.values()):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    def start_in_thread(self) -> GatewayAddress:
        """Run on a loop of its own in a daemon thread (the app's in-process gateway)."""
        started: Future[GatewayAddress] = Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                started.set_result(loop.run_until_complete(self.start()))
            except BaseException as exc:
                started.set_exception(exc)
                return
            loop.run_forever()
            loop.run_until_complete(self.close())
            loop.close()

        self._thread = threading.Thread(target=run, name="ktrdr-sim-gateway", daemon=True)
        self._thread.start()
        return started.result(timeout=30)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def drop_connections(self) -> None:
        """Close every client connection, as a gateway restart would."""
        for connection in list(self._clients.values()):
            connection.close()

    # -- one client ---------------------------------------------------------------------------

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        connection = _Connection(self, reader, writer)
        try:
            await connection.run()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError) as exc:
            log.debug("client connection ended: %r", exc)
        finally:
            connection.close()
            if self._clients.get(connection.client_id) is connection:
                del self._clients[connection.client_id]

    def _count_historical_request(self) -> tuple[int, bool]:
        """The request's number, and whether the connections drop now."""
        self.historical_requests += 1
        drop_after = self.settings.faults.drop_after
        drop = (
            drop_after is not None and not self._dropped and self.historical_requests > drop_after
        )
        self._dropped = self._dropped or drop
        return self.historical_requests, drop


class _Connection:
    def __init__(self, gateway: SimulatedGateway, reader, writer) -> None:
        self.gateway = gateway
        self.reader: asyncio.StreamReader = reader
        self.writer: asyncio.StreamWriter = writer
        self.client_id = -1
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        if not self.writer.is_closing():
            self.writer.close()

    def send(self, *fields: object) -> None:
        if not self.writer.is_closing():
            self.writer.write(frame(*fields))

    def error(self, req_id: int, code: int, text: str) -> None:
        self.send(ERROR, 2, req_id, code, text, "")

    async def run(self) -> None:
        if await self.reader.readexactly(4) != HANDSHAKE_PREFIX:
            raise ValueError("not a TWS API client")
        (versions,) = (await read_message(self.reader)) or [""]
        match = _VERSION_RANGE.match(versions)
        if not match or not int(match.group(1)) <= SERVER_VERSION <= int(match.group(2)):
            raise ValueError(f"unsupported client versions {versions!r}")
        now = self.gateway.now().tz_convert(EXCHANGE_TZ)
        self.send(SERVER_VERSION, now.strftime("%Y%m%d %H:%M:%S ") + "EST")
        while True:
            fields = await read_message(self.reader)
            self.dispatch(int(fields[0]), fields)
            await self.writer.drain()

    def dispatch(self, message: int, f: list[str]) -> None:
        if message == START_API:
            self.start_api(int(f[2]))
        elif message == REQ_POSITIONS:
            self.send(62, 1)
        elif message == REQ_OPEN_ORDERS:
            self.send(53, 1)
        elif message == REQ_COMPLETED_ORDERS:
            self.send(102)
        elif message == REQ_ACCOUNT_UPDATES:
            self.send(54, 1, f[3])
        elif message == REQ_ACCOUNT_UPDATES_MULTI:
            self.send(74, 1, f[2])
        elif message == REQ_EXECUTIONS:
            self.send(55, 1, f[2])
        elif message == REQ_ACCOUNT_SUMMARY:
            self.send(64, 1, f[2])
        elif message == REQ_CURRENT_TIME:
            self.send(49, 1, int(self.gateway.now().timestamp()))
        elif message == REQ_CONTRACT_DETAILS:
            self.contract_details(int(f[2]), f[4], f[5], f[13])
        elif message == REQ_HEAD_TIMESTAMP:
            self.spawn(int(f[1]), self.head_timestamp(int(f[1]), f[3], f[17]))
        elif message == REQ_HISTORICAL_DATA:
            self.spawn(int(f[1]), self.historical_data(int(f[1]), f))
        elif message == CANCEL_HISTORICAL_DATA:
            task = self.tasks.pop(int(f[2]), None)
            if task is not None:
                task.cancel()
        elif message != CANCEL_HEAD_TIMESTAMP:
            log.debug("ignoring message %s from client %s", message, self.client_id)

    def start_api(self, client_id: int) -> None:
        clients = self.gateway._clients
        if client_id in clients:
            self.error(
                -1,
                326,
                "Unable to connect as the client id is already in use. "
                "Retry with a unique client id.",
            )
            self.close()  # as IB does: the error, then the socket closes
            return
        self.client_id = client_id
        clients[client_id] = self
        self.send(MANAGED_ACCOUNTS, 1, ACCOUNT)
        self.send(NEXT_VALID_ID, 1, 1)
        for code, text in [
            (2104, "Market data farm connection is OK:usfarm"),
            (2106, "HMDS data farm connection is OK:ushmds"),
            (2158, "Sec-def data farm connection is OK:secdefnj"),
        ]:
            self.error(-1, code, text)

    def spawn(self, req_id: int, work) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks[req_id] = task
        task.add_done_callback(
            lambda _: self.tasks.pop(req_id, None) if self.tasks.get(req_id) is task else None
        )

    def instrument(
        self, req_id: int, symbol: str, sec_type: str = "STK", currency: str = "USD"
    ) -> Instrument | None:
        instrument = UNIVERSE.get(symbol.upper())
        if instrument is None or sec_type not in ("STK", "") or currency not in ("USD", ""):
            self.error(req_id, 200, "No security definition has been found for the request")
            return None
        return instrument

    def contract_details(self, req_id: int, symbol: str, sec_type: str, currency: str) -> None:
        instrument = self.instrument(req_id, symbol, sec_type, currency)
        if instrument is None:
            return
        calendar = self.gateway.market.calendar
        today = self.gateway.now().normalize().tz_localize(None)
        sessions = calendar.sessions_between(
            pd.Timestamp(today, tz="UTC"), pd.Timestamp(today, tz="UTC") + pd.Timedelta(days=7)
        )
        liquid = ";".join(
            f"{s.open.tz_convert(EXCHANGE_TZ):%Y%m%d:%H%M}-{s.close.tz_convert(EXCHANGE_TZ):%Y%m%d:%H%M}"
            for s in sessions
        )
        self.send(
            CONTRACT_DATA,
            req_id,
            instrument.symbol,
            "STK",
            "",
            0,
            "",
            "SMART",
            "USD",
            instrument.symbol,
            "NMS",
            "NMS",
            instrument.con_id,
            0.01,
            "",
            "LMT,MKT,STP",
            f"SMART,{instrument.primary_exchange}",
            1,
            0,
            instrument.long_name,
            instrument.primary_exchange,
            "",
            "",
            "",
            "",
            EXCHANGE_TZ,
            liquid,
            liquid,
            "",
            "",
            0,
            1,
            "",
            "",
            "26,26",
            "",
            instrument.stock_type,
            1,
            1,
            100,
        )
        self.send(CONTRACT_DATA_END, 1, req_id)

    async def head_timestamp(self, req_id: int, symbol: str, format_date: str) -> None:
        await self.think()
        instrument = self.instrument(req_id, symbol)
        if instrument is None:
            return
        opens_at = self.gateway.market.first_session(instrument).open
        stamp = (
            str(int(opens_at.timestamp()))
            if format_date == "2"
            else opens_at.strftime("%Y%m%d-%H:%M:%S")
        )
        self.send(HEAD_TIMESTAMP, req_id, stamp)

    async def think(self) -> None:
        latency = self.gateway.settings.faults.latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000)

    async def historical_data(self, req_id: int, f: list[str]) -> None:
        gateway = self.gateway
        faults = gateway.settings.faults
        number, drop = gateway._count_historical_request()
        if drop:
            log.info("fault injection: dropping every connection at request %d", number)
            gateway.drop_connections()
            return
        symbol, end_text, bar_size, duration_text, show = f[3], f[15], f[16], f[17], f[19]
        identity = (symbol, end_text, bar_size, duration_text, show, f[18])
        wait = gateway.pacing.try_record(identity, (symbol, show)) if gateway.pacing else None
        await self.think()
        instrument = self.instrument(req_id, symbol)
        if instrument is None:
            return
        now = gateway.now()
        problem = request_problem(end_text, bar_size, duration_text, now)
        if problem:
            self.error(req_id, 162, HMDS + problem)
        elif wait is not None and wait.seconds > 0:
            self.error(req_id, 162, f"{HMDS}pacing violation ({wait.rule})")
        elif _every(faults.pacing_violation_every, number):
            self.error(req_id, 162, f"{HMDS}pacing violation (injected)")
        elif _every(faults.transient_error_every, number):
            self.error(req_id, 162, f"{HMDS}HMDS server disconnect occurred (transient, injected)")
        elif _every(faults.no_data_every, number):
            self.error(req_id, 162, f"{HMDS}HMDS query returned no data: {symbol}@SMART Trades")
        else:
            end = parse_end(end_text, now)
            bar_seconds = BAR_SIZES[bar_size]
            market = gateway.market
            start = answer_start(Duration.parse(duration_text), end, bar_seconds, market.calendar)
            bars = market.bars(instrument.symbol, bar_seconds, start, end)
            if len(bars) == 0:
                self.error(req_id, 162, f"{HMDS}HMDS query returned no data: {symbol}@SMART Trades")
                return
            if _every(faults.short_every, number):
                bars = bars.select(np.arange(len(bars)) < len(bars) // 2)
            elif _every(faults.bad_prices_every, number):
                bars = _low_above_high(bars, len(bars) // 2)
            message = historical_message(req_id, start, end, bars, bar_seconds, f[20])
            if _every(faults.malformed_every, number):
                message = _garbled(message)
            self.writer.write(frame_text(message))


def _low_above_high(bars: BarArrays, row: int) -> BarArrays:
    low = bars.low.copy()
    low[row] = bars.high[row] + 1.0
    return replace(bars, low=low)


def _garbled(message: str) -> str:
    """The message with its first bar's open no number: the client cannot decode it."""
    fields = message.split("\0")
    fields[6] = "n/a"  # after the message id, request id, start, end, bar count and date
    return "\0".join(fields)


def _every(every: int | None, number: int) -> bool:
    return every is not None and every > 0 and number % every == 0


def parse_end(text: str, now: pd.Timestamp) -> pd.Timestamp:
    """endDateTime as clients send it: '' (now), 'YYYYMMDD HH:MM:SS TZ', 'YYYYMMDD-HH:MM:SS'
    (UTC) or 'YYYYMMDD HH:MM:SS' (exchange time)."""
    text = text.strip()
    if not text:
        return now.floor("s")
    if "-" in text:
        end = pd.Timestamp(pd.to_datetime(text, format="%Y%m%d-%H:%M:%S"), tz="UTC")
    else:
        parts = text.split(" ")
        zone = " ".join(parts[2:]) or EXCHANGE_TZ
        moment = pd.to_datetime(" ".join(parts[:2]), format="%Y%m%d %H:%M:%S")
        end = pd.Timestamp(moment).tz_localize(ZoneInfo(zone)).tz_convert("UTC")
    # pandas reads years up to 9999 at a coarser unit; bars are counted in nanoseconds, which
    # end in 2262: a later end is no date the market has.
    try:
        return end.as_unit("ns")
    except pd.errors.OutOfBoundsDatetime:
        raise ValueError(f"end date/time {text!r} is out of range") from None


def request_problem(
    end_text: str, bar_size: str, duration_text: str, now: pd.Timestamp
) -> str | None:
    if bar_size not in BAR_SIZES:
        return f"invalid bar size {bar_size!r}"
    try:
        duration = Duration.parse(duration_text)
        end = parse_end(end_text, now)
    except (ValueError, KeyError) as exc:
        return f"invalid request: {exc}"
    try:
        too_long = exceeds_step(bar_size, duration, end)
    except (ValueError, OverflowError):  # a duration reaching past the dates pandas can hold
        too_long = True
    if too_long:
        return (
            f"invalid step: {duration} of {bar_size} bars exceeds the longest duration "
            f"{longest_duration(bar_size)}"
        )
    return None


def historical_message(
    req_id: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    bars: BarArrays,
    bar_seconds: int,
    format_date: str,
) -> str:
    if bar_seconds == 0:
        dates = pd.to_datetime(bars.start, unit="s").strftime("%Y%m%d")
    elif format_date == "2":
        dates = bars.start.astype(str)
    else:
        local = pd.to_datetime(bars.start, unit="s", utc=True).tz_convert(EXCHANGE_TZ)
        dates = local.strftime("%Y%m%d %H:%M:%S ") + EXCHANGE_TZ
    rows = "".join(
        f"{d}\0{o:.2f}\0{h:.2f}\0{lo:.2f}\0{c:.2f}\0{v:.0f}\0{w:.4f}\0{n}\0"
        for d, o, h, lo, c, v, w, n in zip(
            dates,
            bars.open.tolist(),
            bars.high.tolist(),
            bars.low.tolist(),
            bars.close.tolist(),
            bars.volume.tolist(),
            bars.wap.tolist(),
            bars.count.tolist(),
            strict=True,
        )
    )
    span = f"{start:%Y%m%d %H:%M:%S} UTC\0{end:%Y%m%d %H:%M:%S} UTC\0"
    return f"{HISTORICAL_DATA}\0{req_id}\0{span}{len(bars)}\0{rows}"
