"""Honest ETAs: the rate observed in this operation, blended with the rate of earlier
operations of the same kind, and never below a known lower bound (such as the pacing budget
of the requests still to send)."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from engine.config import APP_NAME
from engine.core.atomic import write_atomic

log = logging.getLogger(__name__)

HISTORY_FILE = "eta_history.json"
_HISTORY_VERSION = 1


@dataclass(frozen=True)
class Eta:
    seconds: float | None  # None until there is something honest to say
    rate: float | None  # units per second behind the estimate
    basis: str  # "observed", "history", "blended", "lower-bound" or "none"


def default_history_path() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME)) / HISTORY_FILE


class EtaHistory:
    """Rates of finished operations by kind, as JSON. A corrupt file is logged, ignored and
    replaced on the next save, and a file that cannot be written is logged and left: losing ETA
    hints is harmless, crashing on them is not."""

    def __init__(self, path: Path | None = None, smoothing: float = 0.3):
        self.path = path or default_history_path()
        self._smoothing = smoothing
        self._lock = threading.Lock()
        self._rates: dict[str, dict[str, float]] = self._read()

    def rate(self, kind: str) -> float | None:
        with self._lock:
            entry = self._rates.get(kind)
            return entry["rate"] if entry else None

    def record(self, kind: str, rate: float) -> None:
        if not rate > 0:
            return
        with self._lock:
            entry = self._rates.get(kind)
            if entry:
                rate = (1 - self._smoothing) * entry["rate"] + self._smoothing * rate
                runs = entry["runs"] + 1
            else:
                runs = 1
            self._rates[kind] = {"rate": rate, "runs": runs}
            document = {"version": _HISTORY_VERSION, "kinds": self._rates}
            try:
                write_atomic(self.path, json.dumps(document, indent=1, sort_keys=True).encode())
            except OSError as exc:
                # A hint for the next ETA is not worth failing the work that just finished.
                log.warning("cannot save the ETA history %s: %s", self.path, exc)

    def _read(self) -> dict[str, dict[str, float]]:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable ETA history %s: %s", self.path, exc)
            return {}
        if not isinstance(document, dict) or document.get("version") != _HISTORY_VERSION:
            log.warning("ignoring ETA history %s: unknown layout", self.path)
            return {}
        kinds = document.get("kinds")
        if not isinstance(kinds, dict):
            return {}
        return {
            kind: {"rate": float(entry["rate"]), "runs": int(entry["runs"])}
            for kind, entry in kinds.items()
            if isinstance(entry, dict)
            and _positive_number(entry.get("rate"))
            and _positive_number(entry.get("runs"))
        }


def _positive_number(value: object) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value)) and value > 0
    except OverflowError:  # an integer too large for a float
        return False


class EtaEstimator:
    """ETA for one operation that does `total` units of work.

    The observed rate is the average since the first unit of work, not a recent window: bursty
    work (segments that land in lumps between pacing waits) would make a windowed rate swing.
    Until `full_trust_fraction` of the work is done, the observed rate is blended with the
    history of the same kind of operation, which carries the estimate through a slow start.
    """

    def __init__(
        self,
        kind: str,
        history: EtaHistory | None = None,
        clock: Callable[[], float] = time.monotonic,
        min_elapsed_s: float = 1.0,
        full_trust_fraction: float = 0.25,
    ):
        self.kind = kind
        self._history = history
        self._clock = clock
        self._min_elapsed_s = min_elapsed_s
        self._full_trust_fraction = full_trust_fraction
        self._started_at: float | None = None
        self._start_done = 0.0
        self._done = 0.0

    def update(self, done: float, total: float, lower_bound_s: float = 0.0) -> Eta:
        now = self._clock()
        if self._started_at is None:
            self._started_at, self._start_done = now, done
        self._done = done
        remaining = max(total - done, 0.0)
        if remaining == 0:
            return Eta(0.0, self.observed_rate(now), "observed")
        rate, basis = self._rate(now, done / total if total > 0 else 0.0)
        if rate is None:
            if lower_bound_s > 0:
                return Eta(lower_bound_s, None, "lower-bound")
            return Eta(None, None, "none")
        seconds = remaining / rate
        if lower_bound_s > seconds:
            return Eta(lower_bound_s, rate, "lower-bound")
        return Eta(seconds, rate, basis)

    def observed_rate(self, now: float | None = None) -> float | None:
        if self._started_at is None:
            return None
        elapsed = (self._clock() if now is None else now) - self._started_at
        units = self._done - self._start_done
        if elapsed < self._min_elapsed_s or units <= 0:
            return None
        return units / elapsed

    def finish(self) -> None:
        """Record this operation's rate for the next one of its kind."""
        rate = self.observed_rate()
        if self._history is not None and rate is not None:
            self._history.record(self.kind, rate)

    def _rate(self, now: float, fraction_done: float) -> tuple[float | None, str]:
        observed = self.observed_rate(now)
        past = self._history.rate(self.kind) if self._history is not None else None
        if observed is None:
            return past, "history"
        if past is None:
            return observed, "observed"
        trust = min(fraction_done / self._full_trust_fraction, 1.0)
        if trust >= 1.0:
            return observed, "observed"
        return trust * observed + (1 - trust) * past, "blended"
