"""What time it is. Everything that reads "now" to pick a default (the last completed session,
the new-load dialog's month, the simulated gateway's end of data) takes a `Clock`, so tests and
demos can fix the date: `KTRDR_NOW=2024-03-28T21:00:00Z` pins it for the app and the CLI.

Plain `datetime` rather than pandas: the app reads its settings before pandas is imported."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

Clock = Callable[[], datetime]  # tz-aware UTC


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FixedClock:
    """A clock that always says `at`."""

    at: datetime

    def __call__(self) -> datetime:
        return self.at

    @classmethod
    def parse(cls, text: str) -> FixedClock:
        """An ISO date or datetime; one without a zone is UTC."""
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"expected an ISO date or datetime, got {text!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return cls(moment.astimezone(UTC))
