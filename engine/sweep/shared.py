"""A sweep's bars, read once and handed to its workers as one flat buffer and a plain layout.

`pack` lays a `SessionBars` out as one byte buffer (its columns and its sessions' dates, opens
and closes, 8-byte aligned) and a JSON-able layout (symbol, timeframe, offsets); `unpack` gives
the `SessionBars` back as read-only views of that buffer, without a copy. The local executor
puts the buffer in shared memory, so every worker maps the same pages; the Dask executor
scatters it once to every worker. Either way only bytes and builtin values travel, never an
object of ours (nothing is pickled), and no worker reads the store.
"""

from __future__ import annotations

import hashlib
from multiprocessing import shared_memory
from typing import Any

import numpy as np
import pandas as pd

from engine.market.calendar import Session
from engine.session.bars import SessionBars

Layout = dict[str, Any]  # JSON-able: str, int and lists of them

_BAR_COLUMNS = ("timestamps", "open", "high", "low", "close", "volume", "session", "end")
_SESSION_COLUMNS = ("date", "ordinal", "open", "close")  # int64 ns (date: midnight, naive)


def _columns(bars: SessionBars) -> dict[str, np.ndarray]:
    """What `pack` lays out, in its order: each a contiguous array of 8-byte items."""
    sessions = bars.sessions
    columns = {f"bar_{name}": getattr(bars, name) for name in _BAR_COLUMNS}
    columns |= {
        "session_date": np.array([s.date.value for s in sessions], np.int64),
        "session_ordinal": np.array([s.ordinal for s in sessions], np.int64),
        "session_open": bars.session_open,
        "session_close": bars.session_close,
    }
    return {name: np.ascontiguousarray(column) for name, column in columns.items()}


def _layout(bars: SessionBars, columns: dict[str, np.ndarray]) -> Layout:
    placed, offset = [], 0
    for name, column in columns.items():
        placed.append([name, column.dtype.str, offset, len(column)])
        offset += column.nbytes  # every dtype here is 8 bytes: offsets stay aligned
    return {
        "symbol": bars.symbol,
        "timeframe": bars.timeframe,
        "ignored": bars.ignored,
        "columns": placed,
        "nbytes": offset,
    }


def _copy(columns: dict[str, np.ndarray], layout: Layout, buffer: np.ndarray) -> None:
    for (_, _, start, _), column in zip(layout["columns"], columns.values(), strict=True):
        buffer[start : start + column.nbytes] = column.view(np.uint8)


def _digest(columns: dict[str, np.ndarray]) -> str:
    """The digest of the packed buffer, hashed column by column (the same bytes in the same
    order, with no buffer made)."""
    digest = hashlib.blake2b(digest_size=16)
    for column in columns.values():
        digest.update(column.view(np.uint8))
    return digest.hexdigest()


def pack(bars: SessionBars) -> tuple[Layout, np.ndarray]:
    """The bars as a layout (with their `fingerprint`) and one uint8 buffer."""
    columns = _columns(bars)
    layout = _layout(bars, columns)
    buffer = np.empty(layout["nbytes"], np.uint8)
    _copy(columns, layout, buffer)
    return {**layout, "fingerprint": _digest(columns)}, buffer


def fingerprint(bars: SessionBars) -> str:
    """A digest of the bars: equal for equal bars (a resumed sweep checks it)."""
    return _digest(_columns(bars))


def unpack(layout: Layout, buffer: np.ndarray | memoryview) -> SessionBars:
    """The bars `pack` laid out, as read-only views of `buffer`."""
    raw = np.frombuffer(buffer, np.uint8, count=layout["nbytes"])
    columns = {}
    for name, dtype, start, count in layout["columns"]:
        column = raw[start : start + count * np.dtype(dtype).itemsize].view(dtype)
        column.flags.writeable = False
        columns[name] = column
    sessions = tuple(
        Session(
            pd.Timestamp(date),
            ordinal,
            pd.Timestamp(open_, tz="UTC"),
            pd.Timestamp(close, tz="UTC"),
        )
        for date, ordinal, open_, close in zip(
            *(columns[f"session_{name}"].tolist() for name in _SESSION_COLUMNS), strict=True
        )
    )
    return SessionBars(
        layout["symbol"],
        layout["timeframe"],
        sessions,
        *(columns[f"bar_{name}"] for name in _BAR_COLUMNS),
        ignored=layout["ignored"],
    )


class SharedBars:
    """Bars in a shared-memory block for the life of a sweep: `layout` (with the block's
    name) is what a worker needs to map them. Close it to free the block."""

    def __init__(self, bars: SessionBars):
        columns = _columns(bars)
        layout = _layout(bars, columns)
        self._block = shared_memory.SharedMemory(create=True, size=max(layout["nbytes"], 1))
        _copy(columns, layout, np.frombuffer(self._block.buf, np.uint8, count=layout["nbytes"]))
        self.layout: Layout = {**layout, "shm": self._block.name}

    def close(self) -> None:
        self._block.close()
        self._block.unlink()


class MappedBars:
    """A worker's view of a `SharedBars` block, mapped once; keep it while `bars` is used."""

    def __init__(self, layout: Layout):
        # Python 3.11 registers a block a process maps with the resource tracker; a worker of
        # the pool shares its parent's tracker, so the block stays until the parent unlinks it.
        block = shared_memory.SharedMemory(name=layout["shm"])
        # `bars` first: attributes go in the order they were set, and the block can only be
        # unmapped once no view of it is left.
        self.bars = unpack(layout, block.buf)
        self._block = block
