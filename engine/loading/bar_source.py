"""The data-source seam: what a load job needs from wherever bars come from, and the sources
known by name.

A source connects, says where its data begins, fetches the bars of one span, tells the planner
how much one request may ask for, tells the limiter its pacing rules, and maps each of its
errors to a `Recovery` (retry, wait for pacing, reconnect, fail). A new source is one class
satisfying `BarSource` plus one line in `SOURCES` and its name in the `source` setting
(`engine.config.SOURCES`), or none at all when it is handed to the service or a job directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pandas as pd

from engine.config import Config
from engine.core.cancellation import CancelToken
from engine.core.pacing import PacingRules
from engine.core.retry import Recovery
from engine.market.spans import Duration


class BarSource(Protocol):
    name: str  # the journal's `source`: a resumed job fetches from the same kind of source
    label: str  # how status lines and errors name it, after "the" ("Checking AAPL with the …")
    address: object  # where it connects, for the status line ("127.0.0.1:4002")
    client_id: int  # who it connects as, for the status line (0 when that means nothing)
    pacing: PacingRules | None  # the request rules the shared limiter keeps; None paces nothing

    @property
    def connected(self) -> bool: ...

    def connect(self, token: CancelToken) -> None:
        """Connect once (no retry: the shared connection retries with backoff)."""
        ...

    def disconnect(self) -> None: ...

    def close(self) -> None:
        """Disconnect and release whatever the source holds (threads, a gateway)."""
        ...

    def check_symbol(self, symbol: str, token: CancelToken) -> None:
        """Raise (an error the source maps to FAIL_JOB) when the source does not know it."""
        ...

    def head_timestamp(self, symbol: str, token: CancelToken) -> pd.Timestamp:
        """The UTC instant the source's data for `symbol` begins."""
        ...

    def fetch(
        self, symbol: str, timeframe: str, end: pd.Timestamp, span: Duration, token: CancelToken
    ) -> pd.DataFrame:
        """The bars (store schema) that start in the `span` before `end` (UTC)."""
        ...

    def longest_span(self, timeframe: str) -> Duration:
        """The longest span one request may reach back."""
        ...

    def max_bars(self, timeframe: str) -> int:
        """The most bars one request may return."""
        ...

    def recovery(self, exc: BaseException) -> Recovery | None:
        """The source's retry-policy table: what to do after `exc`; None when `exc` is none of
        the source's errors (a bug: it propagates)."""
        ...


# name -> a factory building the source for a config; `engine.source.choose_source` picks the
# name. Imported lazily: a source's client library may be slow to import.
def _ib(config: Config, **options: object) -> BarSource:
    from engine.ib.source import ib_source

    return ib_source(config, **options)


def _sim(config: Config, **options: object) -> BarSource:
    from engine.ib.source import sim_source

    return sim_source(config, **options)


SOURCES: dict[str, Callable[..., BarSource]] = {"sim": _sim, "ib": _ib}


def open_source(name: str, config: Config, **options: object) -> BarSource:
    try:
        make = SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}: one of {', '.join(SOURCES)}") from None
    return make(config, **options)
