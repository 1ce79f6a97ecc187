"""Cooperative cancellation: waking blocked workers, callbacks, and the token protocol."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from engine.core.cancellation import CancelToken, OperationCancelled

# Upper bound on waits for things that should happen at once; never what a test measures.
SAFETY_TIMEOUT = 5.0


def test_new_token_is_not_cancelled() -> None:
    token = CancelToken()
    assert token.cancelled is False
    assert token.reason == ""
    token.raise_if_cancelled()  # must not raise: nothing to assert beyond the state above


def test_cancel_wakes_a_thread_blocked_without_timeout() -> None:
    token = CancelToken()
    waiting = threading.Event()
    woken = threading.Event()
    results: list[bool] = []

    def worker() -> None:
        waiting.set()
        results.append(token.wait(None))
        woken.set()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    assert waiting.wait(SAFETY_TIMEOUT)
    assert not woken.is_set()  # still blocked: nothing has cancelled yet

    token.cancel("stop now")

    assert woken.wait(SAFETY_TIMEOUT), "cancel did not wake the waiting thread"
    thread.join(SAFETY_TIMEOUT)
    assert results == [True]
    assert token.cancelled
    assert token.reason == "stop now"


def test_wait_with_timeout_returns_false_when_not_cancelled() -> None:
    token = CancelToken()
    assert token.wait(0.01) is False
    assert token.cancelled is False


def test_wait_returns_true_at_once_when_already_cancelled() -> None:
    token = CancelToken()
    token.cancel()
    # A zero timeout cannot block, so True can only come from the cancelled state.
    assert token.wait(0) is True
    assert token.wait(None) is True


def test_raise_if_cancelled_raises_with_the_reason() -> None:
    token = CancelToken()
    token.cancel("user pressed escape")
    with pytest.raises(OperationCancelled, match="user pressed escape") as info:
        token.raise_if_cancelled()
    assert str(info.value) == "user pressed escape"


def test_default_reason() -> None:
    token = CancelToken()
    token.cancel()
    assert token.reason == "cancelled"


def test_cancel_twice_keeps_the_first_reason() -> None:
    token = CancelToken()
    token.cancel("first")
    token.cancel("second")
    assert token.reason == "first"
    with pytest.raises(OperationCancelled, match=r"^first$"):
        token.raise_if_cancelled()


def test_callbacks_run_exactly_once_even_if_cancelled_again() -> None:
    token = CancelToken()
    calls: list[str] = []
    token.on_cancel(lambda: calls.append("a"))
    token.on_cancel(lambda: calls.append("b"))
    assert calls == []

    token.cancel()
    assert calls == ["a", "b"]

    token.cancel()
    assert calls == ["a", "b"]


def test_callback_registered_after_cancel_runs_immediately() -> None:
    token = CancelToken()
    token.cancel()
    calls: list[str] = []
    unregister = token.on_cancel(lambda: calls.append("late"))
    assert calls == ["late"]
    unregister()  # harmless once it has run
    token.cancel()
    assert calls == ["late"]


def test_unregistered_callback_does_not_run() -> None:
    token = CancelToken()
    calls: list[str] = []
    unregister = token.on_cancel(lambda: calls.append("gone"))
    token.on_cancel(lambda: calls.append("kept"))
    unregister()
    unregister()  # a second unregister is a no-op

    token.cancel()
    assert calls == ["kept"]


def test_raising_callback_is_logged_and_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = CancelToken()
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("listener exploded")

    token.on_cancel(lambda: calls.append("before"))
    token.on_cancel(broken)
    token.on_cancel(lambda: calls.append("after"))

    with caplog.at_level(logging.ERROR, logger="engine.core.cancellation"):
        token.cancel()

    assert calls == ["before", "after"]
    assert token.cancelled
    failures = [r for r in caplog.records if r.name == "engine.core.cancellation"]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    assert failures[0].exc_info is not None
    assert "listener exploded" in str(failures[0].exc_info[1])


def test_raising_callback_registered_late_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = CancelToken()
    token.cancel()

    def broken() -> None:
        raise ValueError("late boom")

    with caplog.at_level(logging.ERROR, logger="engine.core.cancellation"):
        token.on_cancel(broken)

    assert any(r.exc_info is not None and "late boom" in str(r.exc_info[1]) for r in caplog.records)


def test_concurrent_cancel_runs_callbacks_exactly_once() -> None:
    thread_count = 16
    for _ in range(20):  # repeat to give the race several chances to show
        token = CancelToken()
        lock = threading.Lock()
        calls: list[int] = []

        def record(calls: list[int] = calls, lock: threading.Lock = lock) -> None:
            with lock:
                calls.append(1)

        for _ in range(5):
            token.on_cancel(record)
        barrier = threading.Barrier(thread_count)
        reasons = [f"reason-{i}" for i in range(thread_count)]

        def cancel(reason: str, token: CancelToken = token, barrier=barrier) -> None:
            barrier.wait(SAFETY_TIMEOUT)
            token.cancel(reason)

        threads = [threading.Thread(target=cancel, args=(r,)) for r in reasons]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SAFETY_TIMEOUT)
            assert not thread.is_alive()

        assert len(calls) == 5
        assert token.cancelled
        assert token.reason in reasons


def test_registration_racing_with_cancel_runs_each_callback_once() -> None:
    """Whether a callback is registered just before or just after the cancel, it runs once."""
    for _ in range(20):
        token = CancelToken()
        lock = threading.Lock()
        counts = [0] * 50
        barrier = threading.Barrier(2)

        def register(token: CancelToken = token, counts=counts, lock=lock, barrier=barrier) -> None:
            barrier.wait(SAFETY_TIMEOUT)
            for i in range(len(counts)):

                def bump(i: int = i) -> None:
                    with lock:
                        counts[i] += 1

                token.on_cancel(bump)

        thread = threading.Thread(target=register)
        thread.start()
        barrier.wait(SAFETY_TIMEOUT)
        token.cancel()
        thread.join(SAFETY_TIMEOUT)
        assert not thread.is_alive()
        assert counts == [1] * 50


# --- worker code that only knows the token ----------------------------------------------------


def count_units_until_cancelled(
    token: CancelToken,
    max_units: int,
    on_unit: Callable[[int], None] | None = None,
) -> tuple[int, str]:
    """Worker code that only knows the token: do units until told to stop."""
    interrupted: list[bool] = []
    token.on_cancel(lambda: interrupted.append(True))
    done = 0
    try:
        while done < max_units:
            token.raise_if_cancelled()
            done += 1
            if on_unit is not None:
                on_unit(done)
    except OperationCancelled as exc:
        assert interrupted == [True], "the on_cancel callback should have run exactly once"
        return done, str(exc)
    assert interrupted == []
    return done, "finished"


def test_worker_code_stops_when_the_token_is_cancelled() -> None:
    token = CancelToken()

    def cancel_at_four(done: int) -> None:
        if done == 4:
            token.cancel("enough")

    assert count_units_until_cancelled(token, 100, cancel_at_four) == (4, "enough")


def test_worker_code_runs_to_completion_with_an_uncancelled_cancel_token() -> None:
    token = CancelToken()
    assert count_units_until_cancelled(token, 25) == (25, "finished")


def test_worker_code_stops_at_once_with_a_cancelled_cancel_token() -> None:
    token = CancelToken()
    token.cancel("pre-cancelled")
    assert count_units_until_cancelled(token, 25) == (0, "pre-cancelled")
