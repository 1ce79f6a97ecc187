"""The metrics report: totals, means per bar, worst batches and counts against a plain
computation; its JSON; no division by zero before the first bar."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.session.metrics import STAGE_MEANINGS, STAGES, MetricsReport, StageMetrics, StageReport

seconds = st.floats(min_value=0.0, max_value=5.0, allow_nan=False)
# One batch: bars, trading days entered, and the seconds of some of the stages.
batches = st.tuples(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=3),
    st.dictionaries(st.sampled_from(STAGES), seconds),
)
# Work outside a batch: (stage, seconds).
extras = st.tuples(st.sampled_from(STAGES), seconds)


def test_the_stages_in_pipeline_order_each_with_its_meaning() -> None:
    assert STAGES == (
        "bars",
        "derived",
        "quality",
        "history",
        "strategies",
        "decisions",
        "fills",
        "results",
    )
    assert all(STAGE_MEANINGS[stage] for stage in STAGES)


def test_a_small_run_by_hand() -> None:
    metrics = StageMetrics()
    metrics.batch(390, {"bars": 0.002, "strategies": 0.010}, days=1)
    metrics.batch(10, {"bars": 0.001, "strategies": 0.030, "fills": 0.001})
    metrics.add("results", 0.004)

    report = metrics.report(speed=3600, overruns=2, behind_s=1.5)
    assert (report.bars, report.batches, report.trading_days) == (400, 2, 1)
    assert report.seconds == pytest.approx(0.048)
    assert report.bars_per_s == pytest.approx(400 / 0.048)
    assert (report.speed, report.overruns, report.behind_s) == (3600, 2, 1.5)
    strategies = report.stage("strategies")
    assert strategies.seconds == pytest.approx(0.040)
    assert strategies.per_bar_us == pytest.approx(100.0)  # 40 ms over 400 bars
    assert strategies.worst_batch_s == 0.030
    assert strategies.share_pct == pytest.approx(100 * 0.040 / 0.048)
    assert report.stage("results").worst_batch_s == 0.004  # asked for once: one piece of work
    assert report.stage("derived") == StageReport("derived", 0.0, 0.0, 0.0, 0.0)
    assert [stage.stage for stage in report.stages] == list(STAGES)


@given(st.lists(batches, max_size=30), st.lists(extras, max_size=5))
def test_the_report_equals_a_plain_computation(batch_list, extra_list) -> None:
    metrics = StageMetrics()
    for bars, days, spent in batch_list:
        metrics.batch(bars, spent, days=days)
    for stage, spent in extra_list:
        metrics.add(stage, spent)
    report = metrics.report()

    bars = sum(bars for bars, _, _ in batch_list)
    assert report.bars == bars
    assert report.batches == len(batch_list)
    assert report.trading_days == sum(days for _, days, _ in batch_list)
    pieces = {stage: [spent.get(stage, 0.0) for _, _, spent in batch_list] for stage in STAGES}
    for stage, spent in extra_list:
        pieces[stage].append(spent)
    total = sum(sum(values) for values in pieces.values())
    assert report.seconds == pytest.approx(total)
    for stage in STAGES:
        shown, values = report.stage(stage), pieces[stage]
        assert shown.seconds == pytest.approx(sum(values))
        assert shown.worst_batch_s == max(values, default=0.0)
        assert shown.per_bar_us == (pytest.approx(sum(values) / bars * 1e6) if bars else 0.0)
        assert shown.share_pct == (pytest.approx(sum(values) / total * 100) if total else 0.0)
    assert report.bars_per_s == (pytest.approx(bars / total) if total else 0.0)


def test_nothing_processed_is_all_zeros_not_nan() -> None:
    report = StageMetrics().report(speed=60)
    numbers = [report.seconds, report.bars_per_s, report.behind_s]
    numbers += [value for stage in report.stages for value in stage.to_json().values()]
    assert all(value == 0.0 and not math.isnan(value) for value in numbers)
    assert (report.bars, report.batches, report.trading_days) == (0, 0, 0)
    # Batches of no bars (the clock moved between bars): time without a per-bar mean.
    metrics = StageMetrics()
    metrics.batch(0, {"bars": 0.5})
    report = metrics.report()
    assert report.stage("bars").per_bar_us == 0.0 and report.bars_per_s == 0.0
    assert report.stage("bars").share_pct == 100.0
    assert metrics.report() == report  # nothing changed: an equal report


@given(st.lists(batches, max_size=10), st.floats(0, 3600), st.integers(0, 99))
def test_to_json_round_trips(batch_list, speed, overruns) -> None:
    metrics = StageMetrics()
    for bars, days, spent in batch_list:
        metrics.batch(bars, spent, days=days)
    report = metrics.report(speed=speed, overruns=overruns, behind_s=speed / 7)

    data = report.to_json()
    assert json.loads(json.dumps(data)) == data  # plain numbers only
    assert list(data["stages"]) == list(STAGES)
    again = MetricsReport.from_json(json.loads(json.dumps(data)))
    assert again.to_json() == data
    assert again.bars == report.bars and again.trading_days == report.trading_days
    for stage in STAGES:
        assert again.stage(stage).seconds == pytest.approx(report.stage(stage).seconds, abs=1e-6)


def test_json_keys_and_rounding() -> None:
    metrics = StageMetrics()
    metrics.batch(3, {"fills": 1 / 3}, days=1)
    data = metrics.report(speed=0.25, behind_s=2 / 3).to_json()
    assert set(data) == {
        "stages",
        "bars",
        "batches",
        "trading_days",
        "seconds",
        "bars_per_s",
        "speed",
        "overruns",
        "behind_s",
    }
    assert data["stages"]["fills"] == {
        "seconds": 0.333333,
        "per_bar_us": 111111.111,
        "worst_batch_s": 0.333333,
        "share_pct": 100.0,
    }
    assert (data["seconds"], data["bars_per_s"], data["behind_s"]) == (0.333333, 9.0, 0.667)


def test_an_unknown_stage_is_refused() -> None:
    metrics = StageMetrics()
    with pytest.raises(KeyError):
        metrics.batch(1, {"indicators": 0.1})
    with pytest.raises(KeyError):
        metrics.add("equity", 0.1)
    with pytest.raises(KeyError):
        metrics.report().stage("equity")
