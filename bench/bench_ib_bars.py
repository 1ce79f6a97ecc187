"""Bars per second from the simulated gateway through the IB client into a DataFrame.

    python -m bench.bench_ib_bars [--year 2023] [--library ib_insync|ib_async]

Fetches a year of AAPL 1-minute bars as one "1 D" request per session (IB's step-size limit)
with no latency and pacing off, and prints, on the same bars:
  - the gateway alone: synthetic bars generated and encoded as TWS messages;
  - the raw client decode: ib_insync's own decoder + wrapper on those messages, no socket;
  - end to end: gateway -> loopback -> client -> DataFrame through IBAdapter, per library,
    first as shipped, then with the client's own 45-messages-per-second throttle lifted (it
    guards a real gateway's 50 msg/s limit and, at ~50 requests/s, is what bounds the rate).
"""

from __future__ import annotations

import argparse
import importlib
import time

import pandas as pd

from engine.ib.adapter import CLIENT_LIBRARIES, BarRequest, IBAdapter
from engine.ib.sim_gateway import GatewaySettings, SimulatedGateway, historical_message
from engine.market.calendar import calendar_for
from engine.market.spans import Duration


def sessions_of(year: int):
    start = pd.Timestamp(f"{year}-01-01", tz="UTC")
    return calendar_for().sessions_between(start, start + pd.DateOffset(years=1))


def gateway_encode(gateway: SimulatedGateway, sessions) -> tuple[list[str], int, float]:
    messages, bars = [], 0
    started = time.perf_counter()
    for req_id, session in enumerate(sessions, start=1):
        start = session.close - pd.Timedelta(days=1)
        arrays = gateway.market.bars("AAPL", 60, start, session.close)
        messages.append(historical_message(req_id, start, session.close, arrays, 60, "2"))
        bars += len(arrays)
    return messages, bars, time.perf_counter() - started


def raw_decode(library: str, messages: list[str]) -> tuple[int, float]:
    module = importlib.import_module(library)
    ib = module.IB()
    decoder = ib.client.decoder
    decoder.serverVersion = 176
    bars = 0
    started = time.perf_counter()
    for req_id, message in enumerate(messages, start=1):
        future = ib.wrapper.startReq(req_id, container=[])
        decoder.interpret(message.split("\0")[:-1])
        bars += len(future.result())
    return bars, time.perf_counter() - started


def end_to_end(library: str, gateway: SimulatedGateway, sessions, client_id: int, throttle: bool):
    adapter = IBAdapter(gateway.address, client_id, library=library)
    adapter.connect()
    adapter.qualify("AAPL")
    if not throttle:
        adapter._ib.client.MaxRequests = 0  # a benchmark-only reach inside the client
    bars = 0
    started = time.perf_counter()
    for session in sessions:
        request = BarRequest("AAPL", "1 min", session.close, Duration(1, "D"))
        bars += len(adapter.historical_bars(request))
    elapsed = time.perf_counter() - started
    adapter.close()
    return bars, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2023)
    parser.add_argument("--library", choices=CLIENT_LIBRARIES, action="append")
    args = parser.parse_args()
    libraries = args.library or [
        name for name in CLIENT_LIBRARIES if importlib.util.find_spec(name)
    ]
    sessions = sessions_of(args.year)
    gateway = SimulatedGateway(GatewaySettings(pacing="off"))
    gateway.start_in_thread()
    print(f"AAPL 1-minute bars, {args.year}: {len(sessions)} sessions, one request each")
    messages, bars, seconds = gateway_encode(SimulatedGateway(), sessions)
    print(f"  {'gateway generate + encode':<36}{bars / seconds:12,.0f} bars/s  ({bars:,} bars)")
    for number, library in enumerate(libraries):
        decoded, seconds = raw_decode(library, messages)
        print(f"  {'raw ' + library + ' decode':<36}{decoded / seconds:12,.0f} bars/s")
        for throttle in (True, False):
            fetched, seconds = end_to_end(
                library, gateway, sessions, client_id=2 * number + throttle, throttle=throttle
            )
            label = "" if throttle else ", no throttle"
            print(
                f"  {'end to end via ' + library + label:<36}{fetched / seconds:12,.0f} bars/s  "
                f"({seconds:.2f} s, {seconds / len(sessions) * 1000:.1f} ms per request)"
            )
    gateway.stop()


if __name__ == "__main__":
    main()
