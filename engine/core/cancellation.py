"""Cooperative cancellation shared by loads, backtests and the IB adapter.

Workers check a token between units of work and block on it instead of sleeping, so a
cancel wakes them at once. Code that waits on something else (a socket, an asyncio future)
registers a callback that interrupts that wait.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class OperationCancelled(Exception):
    """Raised by `raise_if_cancelled` once a token is cancelled."""


class CancelToken:
    """The token a worker is handed and checks; `cancel()` is safe from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self._reason = ""

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> str:
        return self._reason

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._reason = reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            _run_callback(callback)

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise OperationCancelled(self._reason)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._unregister(callback)
        _run_callback(callback)
        return lambda: None

    def _unregister(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


def _run_callback(callback: Callable[[], None]) -> None:
    # A failing listener must not stop the cancel from reaching the others.
    try:
        callback()
    except Exception:
        log.exception("cancel callback %r failed", callback)
