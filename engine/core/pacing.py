"""Pacing: a source's rules for how many requests may go how fast, and a ledger of recent requests
that says how long until the next may go. Source-neutral; a source gives the values (IB's are in
`engine.ib.pacing`). The simulated gateway enforces the rules with a ledger; the loader's shared
limiter waits on one."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class PacingRules:
    """A source's request rules; its values are the source's (IB's: `engine.ib.pacing`)."""

    max_requests: int  # at most this many requests ...
    window_s: float  # ... in any window of this length
    identical_window_s: float  # an identical request within this long violates
    per_contract_max: int  # more than this many for one contract ...
    per_contract_window_s: float  # ... within this long violate

    def scaled(self, factor: float) -> PacingRules:
        return replace(
            self,
            window_s=self.window_s * factor,
            identical_window_s=self.identical_window_s * factor,
            per_contract_window_s=self.per_contract_window_s * factor,
        )


@dataclass(frozen=True)
class PacingWait:
    seconds: float  # 0 when the request may go now
    rule: str  # which rule holds it back ("" when none)


class PacingLedger:
    """Thread-safe record of the requests sent recently."""

    def __init__(self, rules: PacingRules, clock: Callable[[], float] = time.monotonic):
        self.rules = rules
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: deque[tuple[float, Hashable, Hashable]] = deque()

    def try_record(self, identity: Hashable, contract: Hashable) -> PacingWait:
        """Record the request (`identity`: every parameter; `contract`: the contract and what
        to show) if it breaks none of the rules now; else return the wait, recording nothing."""
        with self._lock:
            now = self._clock()
            wait = self._wait(now, identity, contract)
            if wait.seconds == 0:
                self._sent.append((now, identity, contract))
            return wait

    def budget_s(self, requests: int, contract: Hashable) -> float:
        """The least time from now until `requests` more distinct requests for `contract` have
        all been sent without breaking a rule: the pacing floor under a load's ETA."""
        rules = self.rules
        with self._lock:
            now = self._clock()
            self._prune(now)
            every = [t for t, _, _ in self._sent]
            mine = [t for t, _, c in self._sent if c == contract]
        at = now
        for _ in range(requests):
            if len(every) >= rules.max_requests:
                at = max(at, every[-rules.max_requests] + rules.window_s)
            if len(mine) >= rules.per_contract_max:
                at = max(at, mine[-rules.per_contract_max] + rules.per_contract_window_s)
            every.append(at)
            mine.append(at)
        return at - now

    def _wait(self, now: float, identity: Hashable, contract: Hashable) -> PacingWait:
        rules = self.rules
        self._prune(now)
        waits = [PacingWait(0.0, "")]
        if len(self._sent) >= rules.max_requests:
            oldest = self._sent[len(self._sent) - rules.max_requests][0]
            waits.append(
                PacingWait(
                    oldest + rules.window_s - now,
                    f"{rules.max_requests} requests within {rules.window_s:g} s",
                )
            )
        same = [t for t, ident, _ in self._sent if ident == identity]
        if same:
            waits.append(
                PacingWait(
                    same[-1] + rules.identical_window_s - now,
                    f"identical request within {rules.identical_window_s:g} s",
                )
            )
        recent = [
            t for t, _, c in self._sent if c == contract and t > now - rules.per_contract_window_s
        ]
        if len(recent) >= rules.per_contract_max:
            oldest = recent[len(recent) - rules.per_contract_max]
            waits.append(
                PacingWait(
                    oldest + rules.per_contract_window_s - now,
                    f"{rules.per_contract_max + 1} requests for one contract "
                    f"within {rules.per_contract_window_s:g} s",
                )
            )
        worst = max(waits, key=lambda wait: wait.seconds)
        return worst if worst.seconds > 0 else PacingWait(0.0, "")

    def _prune(self, now: float) -> None:
        horizon = now - max(
            self.rules.window_s, self.rules.identical_window_s, self.rules.per_contract_window_s
        )
        while self._sent and self._sent[0][0] <= horizon:
            self._sent.popleft()
