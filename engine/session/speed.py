"""How fast a session may play: one rule for the CLI, the app and the session. Import-light."""

from __future__ import annotations

MIN_SPEED = 0.01  # slower, a session takes weeks and wall times leave the clock's range


def check_speed(speed: float, error: type[Exception] = ValueError) -> float:
    """Market seconds per wall second: 0 (as fast as possible) or at least MIN_SPEED."""
    if not (speed == 0 or MIN_SPEED <= speed < float("inf")):
        raise error(
            f"speed must be 0 (as fast as possible) or at least {MIN_SPEED:g} market seconds "
            f"per second, got {speed:g}"
        )
    return float(speed)
