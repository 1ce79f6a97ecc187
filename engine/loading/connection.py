"""One connection to the bar source, shared by every load job in the process. When it drops,
the first job to notice reconnects (with backoff, until the gateway is back or the job is
cancelled); the others wait for that and carry on. Its state (connected, or why not and when
the next try comes) is one value any thread reads: the app's header and every waiting job's
status line."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.core.cancellation import CancelToken, OperationCancelled
from engine.core.retry import Backoff, Recovery
from engine.loading.bar_source import BarSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    first_delay_s: float = 1.0  # the first wait after a transient error or a lost connection
    max_delay_s: float = 15.0
    transient_attempts: int = 5  # tries of one request on transient errors before it fails

    def delay_s(self, attempt: int) -> float:
        return Backoff(self.first_delay_s, self.max_delay_s).delay_s(attempt)


@dataclass(frozen=True)
class GatewayStatus:
    """The shared connection as it is now."""

    address: object  # the source's, printable
    client_id: int  # the one in use, or tried next
    connected: bool
    error: str  # why the last attempt failed; "" once connected or before any attempt
    retry_in_s: float | None  # while waiting for the next attempt
    failures: int  # failed attempts since the last connect: a new one is a new line in the CLI

    @property
    def waiting(self) -> str:
        """The line a job shows while it waits for the gateway, counting down."""
        if not self.error:
            return f"connecting to the gateway at {self.address}"
        return f"waiting for gateway at {self.address}, {self._next_try()}"

    def describe(self) -> str:
        """The gateway's state for the app's header: connected, or why not and what next."""
        if self.connected:
            return f"connected (client id {self.client_id})"
        if not self.error:
            return "connecting…"
        return f"disconnected, {self._next_try()}: {self.error}"

    def _next_try(self) -> str:
        if self.retry_in_s is None:
            return "trying again"
        return f"retry in {math.ceil(self.retry_in_s)} s"


class SharedConnection:
    def __init__(
        self,
        source: BarSource,
        retry: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.source = source
        self.retry = retry
        self._clock = clock
        self._lock = threading.Lock()
        self._error = ""
        self._retry_at: float | None = None
        self._failures = 0
        self._listeners: list[Callable[[GatewayStatus], None]] = []
        self._listeners_lock = threading.Lock()

    def status(self) -> GatewayStatus:
        connected = self.source.connected
        retry_at = None if connected else self._retry_at
        return GatewayStatus(
            address=self.source.address,
            client_id=self.source.client_id,
            connected=connected,
            error="" if connected else self._error,
            retry_in_s=None if retry_at is None else max(retry_at - self._clock(), 0.0),
            failures=0 if connected else self._failures,
        )

    def subscribe(self, listener: Callable[[GatewayStatus], None]) -> Callable[[], None]:
        """Call `listener` (on the reconnecting thread; it must be quick) after every failed
        attempt; returns the unsubscribe function."""
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _announce(self) -> None:
        status = self.status()
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(status)

    def connect(self, token: CancelToken) -> None:
        """Connect once, no retry: under the lock, so no job starts a reconnect meanwhile."""
        with self._lock:
            self._attempt(token)

    def ensure_connected(self, token: CancelToken) -> None:
        """Return once connected: retry with backoff until the gateway answers, however long
        that takes (`status()` says why and when the next try comes), or the token is
        cancelled (OperationCancelled)."""
        # Polled rather than blocking on the lock, so that a cancel is not held up by another
        # job's reconnect.
        while not self._lock.acquire(timeout=0.05):
            token.raise_if_cancelled()
        try:
            while not self.source.connected:
                try:
                    self._attempt(token)
                except Exception as exc:
                    if self.source.recovery(exc) is not Recovery.RECONNECT:
                        raise
                    delay = self.retry.delay_s(self._failures)
                    log.info(
                        "gateway attempt %d failed (%s); next in %.1f s", self._failures, exc, delay
                    )
                    self._retry_at = self._clock() + delay
                    self._announce()
                    if token.wait(delay):
                        break
                    self._retry_at = None
        finally:
            self._retry_at = None
            self._lock.release()
        token.raise_if_cancelled()

    def keep_alive(self, token: CancelToken, check_every_s: float = 1.0) -> None:
        """Connect, and reconnect whenever the connection drops, until the token is cancelled:
        the app runs this so that its header tells the gateway's state before a job needs it."""
        try:
            while True:
                self.ensure_connected(token)
                if token.wait(check_every_s):
                    return
        except OperationCancelled:
            return

    def _attempt(self, token: CancelToken) -> None:
        try:
            self.source.connect(token)
        except Exception as exc:
            if self.source.recovery(exc) is Recovery.RECONNECT:
                self._error = str(exc)
                self._failures += 1
            raise
        self._error, self._failures = "", 0
