"""One IB connection shared by every load job in the process. When it drops, the first job
to notice reconnects (with backoff, until the gateway is back or the job is cancelled); the
others wait for that and carry on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from engine.core.cancellation import CancellationToken, OperationCancelled
from engine.ib.adapter import IBAdapter
from engine.ib.errors import IBError


@dataclass(frozen=True)
class RetryPolicy:
    first_delay_s: float = 1.0  # the first wait after a transient error or a lost connection
    max_delay_s: float = 15.0
    transient_attempts: int = 5  # tries of one segment on transient errors before it fails

    def delay_s(self, attempt: int) -> float:
        return min(self.first_delay_s * 2 ** (attempt - 1), self.max_delay_s)


class SharedConnection:
    def __init__(self, adapter: IBAdapter, retry: RetryPolicy):
        self.adapter = adapter
        self.retry = retry
        self._lock = threading.Lock()

    def connect(self, token: CancellationToken) -> None:
        """Connect once, no retry: under the lock, so no job starts a reconnect meanwhile."""
        with self._lock:
            self.adapter.connect(token)

    def ensure_connected(
        self,
        token: CancellationToken,
        on_failure: Callable[[int, float, IBError], None] | None = None,
    ) -> None:
        # Polled rather than blocking on the lock, so that a cancel is not held up by another
        # job's reconnect.
        while not self._lock.acquire(timeout=0.05):
            token.raise_if_cancelled()
        try:
            if not self.adapter.connected:
                self.adapter.reconnect(
                    token,
                    first_delay_s=self.retry.first_delay_s,
                    max_delay_s=self.retry.max_delay_s,
                    on_failure=on_failure,
                )
        finally:
            self._lock.release()
        if token.cancelled:
            raise OperationCancelled(token.reason)
