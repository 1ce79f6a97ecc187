"""`ktrdr-tui gateway`: the simulated IB Gateway in the foreground, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys

from engine.clock import Clock
from engine.ib.sim_gateway import Faults, GatewaySettings, SimulatedGateway


class GatewayFailed(Exception):
    pass


def _loopback(host: str) -> bool:
    """Only this machine can reach `host` (a loopback address or `localhost`)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another host name: it may well resolve to a public address


def settings_from(args: argparse.Namespace, now: Clock) -> GatewaySettings:
    return GatewaySettings(
        host=args.host,
        port=args.port,
        seed=args.seed if args.seed is not None else GatewaySettings().seed,
        pacing=args.pacing,
        faults=Faults(
            latency_ms=args.latency_ms,
            drop_after=args.drop_after,
            pacing_violation_every=args.pacing_violation_every,
            no_data_every=args.no_data_every,
            transient_error_every=args.transient_error_every,
            malformed_every=args.malformed_every,
            short_every=args.short_every,
            bad_prices_every=args.bad_prices_every,
        ),
        now=now,
    )


def run(args: argparse.Namespace, now: Clock) -> int:
    settings = settings_from(args, now)
    if not _loopback(settings.host):
        print(
            f"ktrdr-tui: warning: listening on {settings.host}, the gateway is reachable from "
            "the network: anyone who can reach this machine can connect (it has no login)",
            file=sys.stderr,
        )
    gateway = SimulatedGateway(settings)

    async def serve() -> None:
        try:
            address = await gateway.start()
        except OSError as exc:
            reason = (exc.strerror or str(exc)).rsplit(": ", 1)[-1]
            raise GatewayFailed(
                f"cannot listen on {settings.host}:{settings.port}: {reason}"
            ) from None
        print(
            f"simulated IB Gateway on {address} (pacing {settings.pacing}, seed {settings.seed});"
            " Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        await gateway.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        print("simulated IB Gateway stopped", file=sys.stderr)
    return 0
