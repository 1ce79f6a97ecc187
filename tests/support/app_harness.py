"""Driving a running app in tests and benches: wait for a condition against a deadline (never
a fixed sleep standing in for an event), and slow the in-process gateway down."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace


def on_screen(app, screen: type | str) -> bool:
    """`app` shows a screen of that type (or class name) whose widgets are in: a screen is
    pushed before its compose runs, and a query into it at once may find nothing."""
    shown = app.screen
    name = screen if isinstance(screen, str) else screen.__name__
    return type(shown).__name__ == name and shown.is_mounted


async def until(
    pilot,
    condition: Callable[[], object],
    what: str = "the condition",
    timeout: float = 30.0,
    poll: float = 0.02,
) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(poll)


def set_latency(app, ms: float) -> None:
    """Slow the in-process gateway's answers, so a load is still running when a key lands."""
    gateway = app.loads.bar_source.gateway
    faults = replace(gateway.settings.faults, latency_ms=ms)
    gateway.settings = replace(gateway.settings, faults=faults)
