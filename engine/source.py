"""Which data source a run uses: the real IB Gateway or the simulated one."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from engine.config import Config, GatewayAddress


def source_label(source: str, gateway: GatewayAddress) -> str:
    """How the header, the CLI and a load's status lines name the source `source` (a name of
    `engine.config.SOURCES` other than auto): the IB source's `label`."""
    return "simulated IB Gateway" if source == "sim" else f"IB Gateway at {gateway}"


@dataclass(frozen=True)
class SourceChoice:
    source: str  # a name of `engine.loading.bar_source.SOURCES`
    gateway: GatewayAddress
    reason: str  # one line for the header and the CLI: why this source

    def describe(self) -> str:
        return f"{source_label(self.source, self.gateway)} ({self.reason})"


def gateway_reachable(address: GatewayAddress, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout_s):
            return True
    except OSError:
        return False


def choose_source(config: Config, timeout_s: float = 0.5) -> SourceChoice:
    """`auto` means ib when a gateway answers at the configured address, else sim."""
    if config.source != "auto":
        return SourceChoice(config.source, config.gateway, f"source set to {config.source}")
    if gateway_reachable(config.gateway, timeout_s):
        return SourceChoice("ib", config.gateway, "auto: it answers")
    return SourceChoice("sim", config.gateway, f"auto: nothing answers at {config.gateway}")
