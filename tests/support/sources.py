"""Bar sources for tests that run their own simulated gateway (`start_gateway`)."""

from __future__ import annotations

from engine.config import GatewayAddress
from engine.core.pacing import PacingRules
from engine.ib.adapter import IBAdapter
from engine.ib.source import IBSource


def gateway_source(
    address: GatewayAddress,
    client_id: int = 1,
    pacing: PacingRules | None = None,
    library: str | None = None,
) -> IBSource:
    """The IB source of a simulated gateway the test started (so named `sim`, as the journals
    of its loads say), keeping `pacing` (None: none, as the gateway's pacing is off unless the
    test gives it rules)."""
    return IBSource(IBAdapter(address, client_id, library=library), name="sim", pacing=pacing)
