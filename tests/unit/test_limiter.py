"""The shared pacing limiter and its budget (the floor under a load's ETA), on a fake clock."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.cancellation import CancelToken, OperationCancelled
from engine.core.pacing import PacingLedger, PacingRules
from engine.ib.pacing import REAL_PACING
from engine.loading.limiter import SAFETY_MARGIN, PacingLimiter
from engine.loading.request import LoadInputError, load_request
from engine.market.calendar import calendar_for
from tests.support.fakes import FakeClock

RULES = PacingRules(max_requests=4, window_s=10.0, identical_window_s=3.0, per_contract_max=2,
                    per_contract_window_s=1.0)  # fmt: skip


class ClockToken(CancelToken):
    """A token whose waits move the fake clock instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        self.clock.advance(timeout)
        return self.cancelled


def test_budget_counts_every_rule_and_the_requests_already_sent() -> None:
    clock = FakeClock()
    ledger = PacingLedger(RULES, clock)
    assert ledger.budget_s(0, "A") == 0
    assert ledger.budget_s(1, "A") == 0
    # Two per contract per second, four per ten seconds.
    assert ledger.budget_s(2, "A") == 0
    assert ledger.budget_s(3, "A") == pytest.approx(1.0)
    assert ledger.budget_s(5, "A") == pytest.approx(10.0)
    for i in range(4):
        assert ledger.try_record(i, "B").seconds == 0
        clock.advance(0.5)
    # B's requests fill the window for everyone: A's first waits for the oldest to leave.
    assert ledger.budget_s(1, "A") == pytest.approx(10.0 - 2.0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.lists(st.floats(0, 3), max_size=10))
def test_the_budget_is_what_the_limiter_then_waits(requests: int, gaps: list[float]) -> None:
    """Sending `requests` through the limiter at once takes exactly the budget it announced."""
    clock = FakeClock()
    limiter = PacingLimiter(RULES, clock)
    for i, gap in enumerate(gaps):  # some history in the ledger
        limiter.acquire(("old", i), "A", ClockToken(clock))
        clock.advance(gap)
    budget = limiter.budget_s(requests, "A")
    started = clock.now
    token = ClockToken(clock)
    for i in range(requests):
        limiter.acquire(("new", i), "A", token)
    assert clock.now - started == pytest.approx(budget, abs=1e-6)


def test_acquire_reports_each_wait_and_keeps_a_margin_over_ibs_windows() -> None:
    clock = FakeClock()
    limiter = PacingLimiter(RULES, clock)
    token = ClockToken(clock)
    waits = []
    for i in range(5):
        limiter.acquire(i, f"C{i}", token, on_wait=waits.append)
    assert len(waits) == 1 and "4 requests within" in waits[0].rule
    assert token.waits == [pytest.approx(10.0 * SAFETY_MARGIN)]


def test_cancel_interrupts_a_pacing_wait() -> None:
    limiter = PacingLimiter(REAL_PACING)
    token = CancelToken()
    limiter.acquire("same", "A", token)
    threading.Timer(0.05, token.cancel).start()
    with pytest.raises(OperationCancelled):
        limiter.acquire("same", "A", token)  # an identical request: 15 s, cut short


def test_no_rules_never_wait_and_have_no_budget() -> None:
    limiter = PacingLimiter(None)
    token = CancelToken()
    assert all(limiter.acquire("same", "A", token) == 0 for _ in range(100))
    assert limiter.budget_s(1000, "A") == 0


def test_violation_backoff_doubles_up_to_a_tenth_of_the_window() -> None:
    limiter = PacingLimiter(REAL_PACING)
    assert [limiter.violation_backoff_s(n) for n in (1, 2, 3, 4, 5)] == [15, 30, 60, 60, 60]


NOW = pd.Timestamp("2024-06-03 15:00", tz="UTC")  # a Monday, market open


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2024-03-28", "2024-01-02", "end 2024-01-02 is before start 2024-03-28"),
        ("2024-06-03", None, "start 2024-06-03 is in the future"),
        ("2099-01-02", "2099-01-05", "start 2099-01-02 is in the future"),
        ("2024-01-06", "2024-01-07", "no trading session between 2024-01-06 and 2024-01-07"),
        ("1999-12-01", "2000-01-05", "start 1999-12-01 is before 2000-01-01"),
        ("yesterday", None, "start 'yesterday' is not a date"),
    ],
)
def test_bad_ranges_are_one_line_errors(start: str, end: str | None, message: str) -> None:
    with pytest.raises(LoadInputError) as raised:
        load_request(calendar_for(), ["AAPL"], "1m", start, end, now=NOW)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_request_snaps_to_sessions_and_defaults_end_to_the_last_completed_one() -> None:
    request = load_request(
        calendar_for(), ["aapl", "MSFT", "aapl"], "5m", "2024-05-25T10:00:00", now=NOW
    )
    assert request.symbols == ("AAPL", "MSFT")
    assert (request.start, request.end) == ("2024-05-28", "2024-05-31")  # Memorial Day, Friday


@pytest.mark.parametrize(
    ("symbols", "timeframe", "mode", "message"),
    [
        (["../etc"], "1m", "full", "bad symbol"),
        (["AAPL"], "2m", "full", "unknown timeframe '2m'"),
        (["AAPL"], "1m", "sideways", "unknown mode 'sideways'"),
        ([], "1m", "full", "no symbol"),
    ],
)
def test_bad_symbols_timeframes_and_modes(symbols, timeframe, mode, message) -> None:
    with pytest.raises(LoadInputError, match=message):
        load_request(calendar_for(), symbols, timeframe, "2024-01-02", "2024-01-05", mode, now=NOW)
