"""The pacing limiter every load job in the process shares: one ledger of the requests sent,
so that jobs for several symbols together still keep within the source's pacing rules."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

from engine.core.cancellation import CancelToken, OperationCancelled
from engine.core.pacing import PacingLedger, PacingRules, PacingWait
from engine.core.retry import Backoff

# The source counts a request when it arrives, a moment after we record it: windows a little
# longer than its own keep the two ledgers from disagreeing at a window's edge.
SAFETY_MARGIN = 1.05
# After a pacing violation from a source whose rules we do not keep (pacing None): a quarter of
# a second, doubling, at most a second.
UNPACED_VIOLATION_BACKOFF = Backoff(0.25, 1.0)


class PacingLimiter:
    """`rules=None` paces nothing (a gateway with pacing off)."""

    def __init__(self, rules: PacingRules | None, clock: Callable[[], float] = time.monotonic):
        self.rules = rules
        self._ledger = (
            PacingLedger(rules.scaled(SAFETY_MARGIN), clock) if rules is not None else None
        )

    def acquire(
        self,
        identity: Hashable,
        contract: Hashable,
        token: CancelToken,
        on_wait: Callable[[PacingWait], None] | None = None,
    ) -> float:
        """Block until the request may go and record it; returns the seconds waited. Another
        job may take the slot we waited for, so the wait repeats until the ledger agrees."""
        waited = 0.0
        while self._ledger is not None:
            wait = self._ledger.try_record(identity, contract)
            if wait.seconds <= 0:
                break
            if on_wait is not None:
                on_wait(wait)
            if token.wait(wait.seconds):
                raise OperationCancelled(token.reason)
            waited += wait.seconds
        return waited

    def budget_s(self, requests: int, contract: Hashable) -> float:
        """The least time the next `requests` requests for `contract` take under the rules."""
        if self._ledger is None or requests <= 0:
            return 0.0
        return self._ledger.budget_s(requests, contract)

    def violation_backoff_s(self, attempt: int) -> float:
        """How long to hold back after the source still reported a pacing violation (another
        client on the same account): the identical-request window, doubling, at most a tenth of
        the main window."""
        rules = self.rules
        if rules is None:
            return UNPACED_VIOLATION_BACKOFF.delay_s(attempt)
        return Backoff(rules.identical_window_s, rules.window_s / 10).delay_s(attempt)
