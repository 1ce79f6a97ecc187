"""What to do after a failed request, and how long to wait before the next try.

A data source maps each of its errors to one `Recovery` (its retry-policy table); the load job
acts on the recovery alone, the same way whether it was fetching bars or checking a symbol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Recovery(StrEnum):
    RETRY = "retry"  # the source failed this time: the same request again after a backoff
    PACING = "pacing"  # the source refused for pacing: wait its pacing backoff, then again
    RECONNECT = "reconnect"  # the connection is gone: reconnect, then the same request again
    FAIL = "fail"  # no use asking again: this request fails (its segment, or the setup)
    FAIL_JOB = "fail job"  # what was asked cannot be served (an unknown symbol): the job fails


def recovery_for(
    table: Mapping[type[BaseException], Recovery], exc: BaseException
) -> Recovery | None:
    """The table's entry for the most specific class of `exc`; None when it has none: not a
    source's error but a bug, which the caller lets through."""
    for kind in type(exc).__mro__:
        if kind in table:
            return table[kind]
    return None


@dataclass(frozen=True)
class Backoff:
    """The one backoff: `first_s`, doubling with each attempt, never over `max_s`."""

    first_s: float
    max_s: float

    def delay_s(self, attempt: int) -> float:
        """The wait before try `attempt + 1` (attempt counts from 1)."""
        return min(self.first_s * 2 ** (attempt - 1), self.max_s)
