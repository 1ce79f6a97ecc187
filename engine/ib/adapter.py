"""The one door between the engine and IB.

The client library (`ib_async` when installed, else `ib_insync`) lives on its own asyncio loop
in its own thread; worker threads call the blocking methods here, which hand coroutines to that
loop and wait on them together with the caller's cancellation token, so a cancel returns at once
and tells the gateway to stop. Errors come out typed (`engine.ib.errors`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from engine.config import GatewayAddress
from engine.core.cancellation import CancelToken, OperationCancelled
from engine.ib.errors import (
    CONNECTIVITY_RESTORED,
    FARM_STATUS,
    BadAnswer,
    ClientIdInUse,
    ConnectionLost,
    IBError,
    IBTimeout,
    NotConnected,
    UnknownSymbol,
    classify,
)
from engine.market.schema import bars_frame
from engine.market.spans import Duration

log = logging.getLogger(__name__)

CLIENT_LIBRARIES = ("ib_async", "ib_insync")
# Codes the client libraries treat as warnings: they do not end a request.
_WARNINGS = frozenset({110, 165, 202, 399, 404, 434, 492, 10167})
_HISTORICAL_DATA = 17  # the id of the message that carries historical bars


def default_library() -> str:
    return next(name for name in CLIENT_LIBRARIES if importlib.util.find_spec(name))


@dataclass(frozen=True)
class ContractInfo:
    symbol: str
    con_id: int
    exchange: str
    primary_exchange: str
    currency: str
    long_name: str
    time_zone: str


@dataclass(frozen=True)
class BarRequest:
    """One historical-data request: the bars that start in the `duration` before `end` (for
    intraday bars IB counts `N D` as the last N sessions; see `durations.answer_start`)."""

    symbol: str
    bar_size: str  # IB barSizeSetting, e.g. "1 min"
    end: pd.Timestamp  # UTC
    duration: Duration
    what_to_show: str = "TRADES"
    use_rth: bool = True

    @property
    def end_text(self) -> str:
        return self.end.tz_convert("UTC").strftime("%Y%m%d %H:%M:%S UTC")


class IBAdapter:
    def __init__(
        self,
        address: GatewayAddress,
        client_id: int,
        library: str | None = None,
        connect_timeout_s: float = 4.0,
        request_timeout_s: float = 120.0,
    ):
        self.address = address
        self.client_id = client_id
        self.library = library or default_library()
        if self.library not in CLIENT_LIBRARIES:
            raise ValueError(f"client library must be one of {', '.join(CLIENT_LIBRARIES)}")
        self.connect_timeout_s = connect_timeout_s
        self.request_timeout_s = request_timeout_s
        self._module: Any = None
        self._ib: Any = None
        self._contracts: dict[str, Any] = {}  # qualified contracts by symbol
        self._long_names: dict[int, str] = {}
        self._time_zones: dict[int, str] = {}
        self._errors: dict[int, IBError] = {}
        self._client_id_refused: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="ktrdr-ib", daemon=True)
        self._thread.start()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    # -- connection ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ib is not None and self._ib.isConnected()

    def connect(self, token: CancelToken | None = None) -> None:
        self._call(self._connect, token, timeout_s=self.connect_timeout_s + 5)

    def disconnect(self) -> None:
        if self._loop.is_running():
            self._call(self._disconnect, None, timeout_s=5)

    def close(self) -> None:
        """Disconnect and stop the client's thread, ending first what still runs on it (a
        connect under way when the app quits): a task left on a closed loop is closed by the
        collector instead, in the middle of its own cleanup, which then fails unseen."""
        if self._thread.is_alive():
            # Before disconnecting: once its connection is gone, ib_async's wait for the
            # handshake does not always end when cancelled.
            with contextlib.suppress(IBTimeout):  # one that will not end is left to the collector
                self._call(_end_pending_tasks, None, timeout_s=5)
            self.disconnect()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()  # now, not whenever the collector gets to it

    # -- requests -----------------------------------------------------------------------------

    def qualify(self, symbol: str, token: CancelToken | None = None) -> ContractInfo:
        contract = self._call(lambda: self._qualify(symbol), token)
        return ContractInfo(
            contract.symbol,
            contract.conId,
            contract.exchange,
            contract.primaryExchange,
            contract.currency,
            self._long_names.get(contract.conId, ""),
            self._time_zones.get(contract.conId, ""),
        )

    def head_timestamp(
        self, symbol: str, token: CancelToken | None = None, what_to_show: str = "TRADES"
    ) -> pd.Timestamp:
        value = self._call(lambda: self._head_timestamp(symbol, what_to_show), token)
        return pd.Timestamp(value).tz_convert("UTC")

    def historical_bars(
        self, request: BarRequest, token: CancelToken | None = None
    ) -> pd.DataFrame:
        """One segment's bars in the store's schema (daily bars at midnight UTC)."""
        bars = self._call(lambda: self._historical(request), token)
        return _to_frame(bars)

    # -- on the client's loop -----------------------------------------------------------------

    def _call(
        self,
        make: Callable[[], Coroutine[Any, Any, Any]],
        token: CancelToken | None,
        timeout_s: float | None = None,
    ) -> Any:
        token = token or CancelToken()
        token.raise_if_cancelled()
        future = asyncio.run_coroutine_threadsafe(make(), self._loop)
        # Cancelling the concurrent future cancels the task on the client's loop.
        unregister = token.on_cancel(future.cancel)
        try:
            return future.result(timeout_s or self.request_timeout_s)
        except concurrent.futures.CancelledError:
            raise OperationCancelled(token.reason) from None
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise IBTimeout(f"no answer from {self.address} in time") from None
        finally:
            unregister()

    async def _connect(self) -> None:
        if self.connected:
            return
        if self._module is None:
            self._module = importlib.import_module(self.library)  # lazily: it is slow to import
        ib = self._ib = self._module.IB()
        ib.errorEvent += self._on_error
        self._guard_historical(ib)
        self._client_id_refused = asyncio.Event()
        connect = asyncio.ensure_future(
            ib.connectAsync(
                self.address.host,
                self.address.port,
                clientId=self.client_id,
                timeout=self.connect_timeout_s,
                readonly=True,
            )
        )
        refused = asyncio.ensure_future(self._client_id_refused.wait())
        try:
            await asyncio.wait({connect, refused}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            connect.cancel()  # a cancelled connect must not go on, or linger, on its own
            raise
        finally:
            refused.cancel()
        if not connect.done():
            connect.cancel()
            # The socket may still be open but not ready; IB.disconnect() would raise on it.
            ib.errorEvent -= self._on_error
            ib.client.disconnect()
            self._ib = None
            raise ClientIdInUse(
                f"client id {self.client_id} is in use at {self.address}: choose another "
                "with --client-id",
                326,
            )
        try:
            connect.result()
        except TimeoutError:  # before OSError: TimeoutError is one of its subclasses
            raise IBTimeout(
                f"the IB Gateway at {self.address} did not finish the handshake"
            ) from None
        except OSError as exc:
            # "connection refused", not "[Errno 111] Connect call failed ('127.0.0.1', 4002)":
            # the header and the job's row already name the address.
            why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise NotConnected(f"no IB Gateway at {self.address} ({why})") from None
        log.info(
            "connected to %s with client id %d (%s)", self.address, self.client_id, self.library
        )

    async def _disconnect(self) -> None:
        if self._ib is not None:
            self._ib.errorEvent -= self._on_error
            self._ib.disconnect()
            self._ib = None
        self._contracts.clear()

    def _guard_historical(self, ib: Any) -> None:
        """The client library logs a historical-data message it cannot decode and leaves its
        request waiting for an end that never comes; this ends the request with BadAnswer."""
        handlers = ib.client.decoder.handlers
        decode = handlers[_HISTORICAL_DATA]

        def guarded(fields: list[str]) -> None:
            try:
                decode(fields)
            except Exception as exc:
                try:
                    req_id = int(fields[1])
                except (IndexError, ValueError):
                    raise exc from None  # no request to end: the library logs it
                log.warning("IB sent an undecodable answer to request %d: %r", req_id, exc)
                self._errors[req_id] = BadAnswer(
                    f"IB's answer could not be read ({type(exc).__name__}: {exc})"
                )
                # How ib_insync and ib_async themselves end a request (private in both).
                ib.wrapper._endReq(req_id)

        handlers[_HISTORICAL_DATA] = guarded

    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None) -> None:
        if code in FARM_STATUS or code in CONNECTIVITY_RESTORED:
            log.info("IB %d: %s", code, message)
        elif code == 326 and self._client_id_refused is not None:
            self._client_id_refused.set()
        elif req_id >= 0 and code not in _WARNINGS:
            self._errors[req_id] = classify(code, message)
        else:
            log.warning("IB %d (request %d): %s", code, req_id, message)

    def _require_ib(self) -> Any:
        if not self.connected:
            raise NotConnected(f"not connected to the IB Gateway at {self.address}")
        return self._ib

    async def _request(
        self,
        contract: Any,
        send: Callable[[int], None],
        cancel: Callable[[int], None] | None = None,
    ) -> Any:
        """Send one request and await its end; errors for its id come out typed.

        Not the library's public `reqHistoricalDataAsync` & co. (with `RaiseRequestErrors`):
        when the task awaiting them is cancelled they neither return the request id nor send
        `cancelHistoricalData` (they do so only on their own timeout), so a cancel would leave
        the gateway working on the request and pacing counting it; and their RequestError
        carries no answer the guard found unreadable (`_guard_historical`). The test
        `test_cancel_returns_within_100_ms_and_cancels_at_the_gateway` holds us to both."""
        ib = self._require_ib()
        req_id = ib.client.getReqId()
        future = ib.wrapper.startReq(req_id, contract)
        send(req_id)
        try:
            result = await future
        except asyncio.CancelledError:
            if cancel is not None and self.connected:
                cancel(req_id)  # the gateway stops working on it
            raise
        except ConnectionError:
            raise ConnectionLost(f"lost the connection to {self.address}") from None
        finally:
            error = self._errors.pop(req_id, None)
        if error is not None:
            raise error
        return result

    async def _qualify(self, symbol: str) -> Any:
        ib = self._require_ib()
        if symbol in self._contracts:
            return self._contracts[symbol]
        contract = self._module.Stock(symbol, "SMART", "USD")
        try:
            details = await self._request(
                contract, lambda req_id: ib.client.reqContractDetails(req_id, contract)
            )
        except UnknownSymbol:
            details = []
        if not details:
            raise UnknownSymbol(f"unknown symbol {symbol!r}: IB has no US stock of that name", 200)
        found = details[0].contract
        self._long_names[found.conId] = details[0].longName
        self._time_zones[found.conId] = details[0].timeZoneId
        self._contracts[symbol] = found
        return found

    async def _head_timestamp(self, symbol: str, what_to_show: str) -> datetime:
        ib = self._require_ib()
        contract = await self._qualify(symbol)
        value = await self._request(
            contract,
            lambda req_id: ib.client.reqHeadTimeStamp(req_id, contract, what_to_show, 1, 2),
        )
        if not isinstance(value, datetime):
            raise IBError(f"unexpected head timestamp {value!r} for {symbol}")
        return value

    async def _historical(self, request: BarRequest) -> list[Any]:
        ib = self._require_ib()
        contract = await self._qualify(request.symbol)
        return await self._request(
            contract,
            lambda req_id: ib.client.reqHistoricalData(
                req_id,
                contract,
                request.end_text,
                str(request.duration),
                request.bar_size,
                request.what_to_show,
                int(request.use_rth),
                2,  # dates as epoch seconds: unambiguous UTC
                False,
                [],
            ),
            cancel=ib.client.cancelHistoricalData,
        )


async def _end_pending_tasks() -> None:
    """Cancel every other task of this loop and wait until each has ended."""
    this = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not this]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _to_frame(bars: list[Any]) -> pd.DataFrame:
    dates = [bar.date for bar in bars]
    if dates and not isinstance(dates[0], datetime) and isinstance(dates[0], date):
        timestamps = pd.DatetimeIndex(pd.to_datetime(dates)).tz_localize("UTC")
    else:
        timestamps = pd.DatetimeIndex(pd.to_datetime(dates, utc=True))
    return bars_frame(
        timestamps,
        {
            "open": [bar.open for bar in bars],
            "high": [bar.high for bar in bars],
            "low": [bar.low for bar in bars],
            "close": [bar.close for bar in bars],
            "volume": [bar.volume for bar in bars],
        },
    )
