"""IB as a bar source (the `BarSource` protocol of `engine.loading.bar_source`): the real IB
Gateway, or the simulated one started in this process."""

from __future__ import annotations

import logging

import pandas as pd

from engine.config import Config, GatewayAddress
from engine.core.cancellation import CancelToken
from engine.core.pacing import PacingRules
from engine.core.retry import Recovery
from engine.ib import errors
from engine.ib.adapter import BarRequest, IBAdapter
from engine.ib.durations import TIMEFRAME_BAR_SIZES, longest_duration
from engine.ib.errors import ClientIdInUse
from engine.ib.pacing import PACING_MODES, REAL_PACING
from engine.ib.sim_gateway import GatewaySettings, SimulatedGateway
from engine.market.spans import Duration
from engine.source import source_label

log = logging.getLogger(__name__)

MAX_BARS_PER_REQUEST = 2000
# Client ids tried, one after another, while the gateway answers 326 (in use): the app and the
# CLI (or two CLIs) then share one gateway without the user picking ids.
CLIENT_IDS_TRIED = 32
SIM_PACING = "fast"  # the in-process gateway paces like IB, with windows 60 times shorter


class IBSource:
    def __init__(
        self,
        adapter: IBAdapter,
        *,
        name: str = "ib",
        pacing: PacingRules | None = REAL_PACING,
        gateway: SimulatedGateway | None = None,  # in this process: stopped by `close`
    ):
        self.adapter = adapter
        self.name = name
        self.pacing = pacing
        self.gateway = gateway

    @property
    def address(self) -> GatewayAddress:
        return self.adapter.address

    @property
    def label(self) -> str:
        return source_label(self.name, self.address)

    @property
    def client_id(self) -> int:
        return self.adapter.client_id

    @property
    def connected(self) -> bool:
        return self.adapter.connected

    def connect(self, token: CancelToken) -> None:
        """One try; a client id in use (326) moves on to the next id at once."""
        adapter = self.adapter
        first = adapter.client_id
        for _ in range(CLIENT_IDS_TRIED):
            adapter.disconnect()  # what is left of a dropped connection
            try:
                adapter.connect(token)
            except ClientIdInUse:
                log.info("client id %d is in use at %s", adapter.client_id, adapter.address)
                adapter.client_id += 1
                continue
            if adapter.client_id != first:
                log.info("client id %d was in use: connected as %d", first, adapter.client_id)
            return
        adapter.client_id = first
        raise ClientIdInUse(
            f"client ids {first} to {first + CLIENT_IDS_TRIED - 1} are all in use at "
            f"{adapter.address}",
            326,
        )

    def disconnect(self) -> None:
        self.adapter.disconnect()

    def close(self) -> None:
        self.adapter.close()
        if self.gateway is not None:
            self.gateway.stop()

    def check_symbol(self, symbol: str, token: CancelToken) -> None:
        self.adapter.qualify(symbol, token)

    def head_timestamp(self, symbol: str, token: CancelToken) -> pd.Timestamp:
        return self.adapter.head_timestamp(symbol, token)

    def fetch(
        self, symbol: str, timeframe: str, end: pd.Timestamp, span: Duration, token: CancelToken
    ) -> pd.DataFrame:
        request = BarRequest(symbol, TIMEFRAME_BAR_SIZES[timeframe], end, span)
        return self.adapter.historical_bars(request, token)

    # Static: IB's limits hold for every connection (and `RequestLimits.of(IBSource, ...)` reads
    # them without one).
    @staticmethod
    def longest_span(timeframe: str) -> Duration:
        return longest_duration(TIMEFRAME_BAR_SIZES[timeframe])

    @staticmethod
    def max_bars(timeframe: str) -> int:
        return MAX_BARS_PER_REQUEST

    def recovery(self, exc: BaseException) -> Recovery | None:
        return errors.recovery(exc)


def ib_source(
    config: Config,
    *,
    address: GatewayAddress | None = None,
    client_id: int | None = None,
    library: str | None = None,
) -> IBSource:
    """The IB Gateway at `address` (the configured one by default)."""
    adapter = IBAdapter(
        address or config.gateway,
        config.client_id if client_id is None else client_id,
        library=library,
    )
    return IBSource(adapter)


def sim_source(
    config: Config,
    *,
    address: GatewayAddress | None = None,  # unused: the simulated gateway picks a free port
    client_id: int | None = None,
    library: str | None = None,
) -> IBSource:
    """A simulated gateway on a free loopback port, started now and stopped by `close`."""
    gateway = SimulatedGateway(GatewaySettings(pacing=SIM_PACING, now=config.now))
    started_at = gateway.start_in_thread()
    adapter = IBAdapter(
        started_at, config.client_id if client_id is None else client_id, library=library
    )
    return IBSource(adapter, name="sim", pacing=PACING_MODES[SIM_PACING], gateway=gateway)
