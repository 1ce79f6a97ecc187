"""The metrics table as `backtest --metrics` prints it: every stage's numbers, a total and the
counts; at a speed, the overruns; on a narrow console the descriptions give way, not numbers."""

from __future__ import annotations

import io

from rich.console import Console

from engine.session.metrics import STAGE_MEANINGS, STAGES, StageMetrics
from ktrdr_tui.metrics_view import metrics_table, span


def text_of(report, width: int = 100) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(metrics_table(report))
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def a_run(speed: float = 0.0, overruns: int = 0, behind_s: float = 0.0):
    metrics = StageMetrics()
    metrics.batch(
        1_000_000,
        {"bars": 0.25, "derived": 0.125, "quality": 0.05, "strategies": 0.5, "fills": 0.002},
        days=2_564,
    )
    metrics.batch(1_000, {"bars": 0.0004, "strategies": 0.0021, "decisions": 0.0006})
    metrics.add("results", 0.0699)  # 1 s in all
    return metrics.report(speed=speed, overruns=overruns, behind_s=behind_s)


def test_every_stage_with_its_numbers_a_total_and_the_counts() -> None:
    numbers = [
        "bars          0.250   25.0%    0.25     250.0 ms",
        "derived       0.125   12.5%    0.12     125.0 ms",
        "quality       0.050    5.0%    0.05      50.0 ms",
        "history       0.000    0.0%    0.00         0 µs",
        "strategies    0.502   50.2%    0.50     500.0 ms",
        "decisions     0.001    0.1%    0.00       600 µs",
        "fills         0.002    0.2%    0.00       2.0 ms",
        "results       0.070    7.0%    0.07      69.9 ms",
    ]
    assert text_of(a_run()).splitlines() == [
        "Stage       Seconds   Share  µs/bar  Worst batch  What",
        "─" * 95,
        *(f"{row}  {STAGE_MEANINGS[stage]}" for row, stage in zip(numbers, STAGES, strict=True)),
        "",
        "total         1.000  100.0%    1.00",
        "1,001,000 bars in 2 batches · 2,564 trading days · 1,001,000 bars/s",
    ]


def test_at_a_speed_the_overruns_and_the_lag() -> None:
    lines = text_of(a_run(speed=3600, overruns=1, behind_s=12.34)).splitlines()
    assert lines[-2] == "1,001,000 bars in 2 batches · 2,564 trading days · 1,001,000 bars/s"
    assert lines[-1] == "at 3600x: 1 overrun, 12.3 s behind"
    assert "behind" not in text_of(a_run(speed=0, overruns=1, behind_s=3))


def test_a_narrow_console_cuts_the_descriptions_not_the_numbers() -> None:
    lines = text_of(a_run(), width=72).splitlines()
    assert lines[2] == "bars          0.250   25.0%    0.25     250.0 ms  reading and publishi…"
    assert all(len(line) <= 72 for line in lines)


def test_nothing_played_yet() -> None:
    lines = text_of(StageMetrics().report(speed=60)).splitlines()
    assert lines[2].startswith("bars          0.000   0.0%    0.00         0 µs  reading")
    assert lines[-3] == "total         0.000   0.0%    0.00"
    assert lines[-2:] == [
        "0 bars in 0 batches · 0 trading days · 0 bars/s",
        "at 60x: 0 overruns, 0.0 s behind",
    ]


def test_spans_in_the_unit_that_reads_best() -> None:
    assert [span(s) for s in (0.0, 0.00084, 0.0123, 4.561, 1234.5)] == [
        "0 µs",
        "840 µs",
        "12.3 ms",
        "4.56 s",
        "1,234.50 s",
    ]
