"""The TWS API framing: a 4-byte big-endian length, then NUL-terminated text fields; and how the
wire names the exchange's time zone."""

from __future__ import annotations

import asyncio
import struct

from engine.market import exchange

# IB names zones by their old aliases: the exchange's zone (`engine.market.exchange`) as the wire
# spells it in contract details, trading hours and bar times ("20240102 09:30:00 US/Eastern").
IB_ZONE_NAMES = {"America/New_York": "US/Eastern"}
EXCHANGE_TZ = IB_ZONE_NAMES[exchange.EXCHANGE_TZ]
HANDSHAKE_PREFIX = b"API\0"
MAX_MESSAGE = 16 * 1024 * 1024


def frame(*fields: object) -> bytes:
    body = "".join(f"{field}\0" for field in fields).encode()
    return struct.pack(">I", len(body)) + body


def frame_text(body: str) -> bytes:
    """Frame fields already joined with their NULs (for large messages built in one go)."""
    data = body.encode()
    return struct.pack(">I", len(data)) + data


async def read_message(reader: asyncio.StreamReader) -> list[str]:
    (length,) = struct.unpack(">I", await reader.readexactly(4))
    if not 0 < length <= MAX_MESSAGE:
        raise ValueError(f"bad message length {length}")
    fields = (await reader.readexactly(length)).decode(errors="replace").split("\0")
    if fields[-1] == "":
        fields.pop()
    return fields
