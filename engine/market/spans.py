"""How far one request reaches back from its end: a count of seconds, days, weeks, months or
years. Source-neutral: a source says the longest span it serves (IB's step-size table is in
`engine.ib.durations`), the planner cuts requests to fit, and the journal keeps each request's
span as text ("30 D", which is also how IB spells a duration)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

_UNIT_PATTERN = re.compile(r"^\s*(\d+)\s+([SDWMY])\s*$")


@dataclass(frozen=True)
class Duration:
    count: int
    unit: str  # S, D, W, M or Y

    def __str__(self) -> str:
        return f"{self.count} {self.unit}"

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _UNIT_PATTERN.match(text)
        if not match or int(match.group(1)) <= 0:
            raise ValueError(f"invalid duration {text!r}: expected 'N S|D|W|M|Y' with N > 0")
        return cls(int(match.group(1)), match.group(2))

    def start_before(self, end: pd.Timestamp) -> pd.Timestamp:
        """The instant this duration reaches back to from `end` (calendar arithmetic)."""
        offsets = {
            "S": pd.Timedelta(seconds=self.count),
            "D": pd.Timedelta(days=self.count),
            "W": pd.Timedelta(weeks=self.count),
            "M": pd.DateOffset(months=self.count),
            "Y": pd.DateOffset(years=self.count),
        }
        return end - offsets[self.unit]
