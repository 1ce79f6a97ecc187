"""Where a session's time goes: seconds per stage of the pipeline, per stored bar and in the
worst batch; bars, batches and trading days; at speed > 0, how often and how far the pipeline
fell behind the clock (DESIGN.md, "Sessions": `backtest --metrics`, the Playback pane's `m`).

`StageMetrics` is written by the one thread that moves the session's clock: `batch` once per
advance (a batch), `add` for work done outside one. Its `report` is a frozen `MetricsReport`,
plain numbers that any thread may read. Seconds are of the pipeline's work (perf_counter),
not wall time: `bars_per_s` is how fast the stages go, whatever the speed asked for.

With no bars processed yet, the per-bar means, the shares and the rate are 0.0, never NaN: a
report compares equal to the last one until something changed, and its JSON stays plain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The stages in pipeline order, each with what its seconds pay for.
STAGE_MEANINGS: dict[str, str] = {
    "bars": "reading and publishing the stored bars",
    "derived": "aggregating 5m/1h… from the stored timeframe",
    "quality": "data-quality bookkeeping",
    "history": "historical context for each trading day",
    "strategies": "strategy calls",
    "decisions": "risk decisions on the signals",
    "fills": "simulated fills",
    "results": "equity marks, trades and statistics",
}
STAGES: tuple[str, ...] = tuple(STAGE_MEANINGS)


@dataclass(frozen=True)
class StageReport:
    stage: str
    seconds: float  # in total
    per_bar_us: float  # mean per stored bar processed, in microseconds (0.0 with no bars)
    worst_batch_s: float  # the most this stage took in one batch (an `add` counts as one)
    share_pct: float  # of the seconds of every stage (0.0 when none took any)

    def to_json(self) -> dict[str, float]:
        return {
            "seconds": round(self.seconds, 6),
            "per_bar_us": round(self.per_bar_us, 3),
            "worst_batch_s": round(self.worst_batch_s, 6),
            "share_pct": round(self.share_pct, 2),
        }


@dataclass(frozen=True)
class MetricsReport:
    stages: tuple[StageReport, ...]  # in STAGES order
    bars: int  # stored bars processed
    batches: int  # advances of the clock
    trading_days: int  # trading days the market clock entered (a bar of theirs processed)
    seconds: float  # of every stage together
    bars_per_s: float  # bars / seconds (0.0 when no time was spent)
    speed: float  # the speed asked for (0: as fast as possible)
    overruns: int  # times the pipeline fell more than a bar behind that speed
    behind_s: float  # market seconds behind it, as of the report

    @property
    def per_bar_us(self) -> float:
        """Every stage's mean per stored bar, in microseconds (0.0 with no bars)."""
        return self.seconds / self.bars * 1e6 if self.bars else 0.0

    def stage(self, name: str) -> StageReport:
        """The report of stage `name` (one of STAGES); KeyError for another name."""
        for report in self.stages:
            if report.stage == name:
                return report
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """Plain numbers for `--json`, rounded to what a timer can tell; the stages keyed by
        name, in STAGES order."""
        return {
            "stages": {report.stage: report.to_json() for report in self.stages},
            "bars": self.bars,
            "batches": self.batches,
            "trading_days": self.trading_days,
            "seconds": round(self.seconds, 6),
            "bars_per_s": round(self.bars_per_s, 1),
            "speed": self.speed,
            "overruns": self.overruns,
            "behind_s": round(self.behind_s, 3),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricsReport:
        """The report `to_json` gave (as rounded there): for readers of `--json` output."""
        stages = data["stages"]
        return cls(
            stages=tuple(StageReport(stage=name, **values) for name, values in stages.items()),
            bars=int(data["bars"]),
            batches=int(data["batches"]),
            trading_days=int(data["trading_days"]),
            seconds=float(data["seconds"]),
            bars_per_s=float(data["bars_per_s"]),
            speed=float(data["speed"]),
            overruns=int(data["overruns"]),
            behind_s=float(data["behind_s"]),
        )


class StageMetrics:
    """The running totals of one session, written by the thread that moves its clock; that
    thread also asks for the `report` it hands to others."""

    def __init__(self) -> None:
        self._seconds = dict.fromkeys(STAGES, 0.0)
        self._worst = dict.fromkeys(STAGES, 0.0)
        self.bars = 0
        self.batches = 0
        self.trading_days = 0

    def batch(self, bars: int, seconds: Mapping[str, float], days: int = 0) -> None:
        """One advance of the clock: `bars` stored bars processed (of every symbol), `seconds`
        spent in each stage (a stage left out took none; a name not in STAGES is a KeyError),
        and `days` trading days the market clock entered (those whose first bar of any symbol
        is among these: once a day, however many symbols). Runs once per advance, at speed > 0
        once per bar: only adds and compares."""
        totals, worst = self._seconds, self._worst
        for stage, spent in seconds.items():
            totals[stage] += spent
            if spent > worst[stage]:
                worst[stage] = spent
        self.bars += bars
        self.batches += 1
        self.trading_days += days

    def add(self, stage: str, seconds: float) -> None:
        """Work of `stage` done outside a batch (results computed when asked); it counts in
        the stage's total and, as one piece of work, towards its worst batch."""
        self._seconds[stage] += seconds
        if seconds > self._worst[stage]:
            self._worst[stage] = seconds

    def report(self, speed: float = 0.0, overruns: int = 0, behind_s: float = 0.0) -> MetricsReport:
        """The totals so far, with the playback's speed, overruns and lag (the session knows
        those, not the pipeline)."""
        total = sum(self._seconds.values())
        bars = self.bars
        stages = tuple(
            StageReport(
                stage=stage,
                seconds=spent,
                per_bar_us=spent / bars * 1e6 if bars else 0.0,
                worst_batch_s=self._worst[stage],
                share_pct=spent / total * 100 if total > 0 else 0.0,
            )
            for stage, spent in self._seconds.items()
        )
        return MetricsReport(
            stages=stages,
            bars=bars,
            batches=self.batches,
            trading_days=self.trading_days,
            seconds=total,
            bars_per_s=bars / total if total > 0 else 0.0,
            speed=speed,
            overruns=overruns,
            behind_s=behind_s,
        )
