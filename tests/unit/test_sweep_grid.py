"""Sweep grids (DESIGN.md, "Sweeps"): ranges and lists in a strategy spec, the candidates they
make, and the combinations a strategy refuses, skipped and counted."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.strategy.catalog import load_catalog
from engine.sweep.grid import (
    MAX_BACKTESTS,
    GridError,
    expand,
    parse_grid,
    parse_rule_values,
)
from engine.trading_rules import TradingRules
from tests.support.plugins import EXAMPLES, LOOKUP_SOURCE

WHOLE = st.integers(-1000, 1000)
# Decimal texts as a user types them: up to 3 places, and what float() makes of them.
NUMBER = st.decimals(-500, 500, places=3, allow_nan=False, allow_infinity=False)


def written(values) -> str:
    return "|".join(str(v) for v in values)


@given(
    periods=st.lists(st.integers(2, 200), min_size=1, max_size=5, unique=True),
    oversold=st.lists(NUMBER, min_size=1, max_size=4, unique=True),
    overbought=st.lists(NUMBER, min_size=1, max_size=4, unique=True),
)
def test_a_grid_reads_as_written_and_writes_back_to_the_same_grid(periods, oversold, overbought):
    text = f"rsi:period={written(periods)},oversold={written(oversold)},overbought=" + written(
        overbought
    )
    grid = parse_grid(text)
    assert grid.axes == (
        ("period", tuple(periods)),
        ("oversold", tuple(dict.fromkeys(float(v) for v in oversold))),  # 1.0 and 1.00: one
        ("overbought", tuple(dict.fromkeys(float(v) for v in overbought))),
    )
    assert parse_grid(grid.text()) == grid
    assert grid.size == len(periods) * len(grid.axes[1][1]) * len(grid.axes[2][1])


@given(low=WHOLE, span=st.integers(0, 300), step=st.integers(1, 50))
def test_a_whole_number_range_is_inclusive_in_steps(low, span, step):
    high = low + span
    values = parse_grid(f"sma_crossover:fast={low}..{high}/{step}").axes[0][1]
    assert values == tuple(range(low, high + 1, step))
    assert values[0] == low and all(low <= v <= high for v in values)
    assert len(values) == span // step + 1


@given(low=NUMBER, count=st.integers(1, 60), step=st.decimals("0.001", "50", places=3))
def test_a_number_range_steps_in_decimal_and_stays_within_its_bounds(low, count, step):
    high = low + step * (count - 1) + step / 2  # not on a step: the last value stays below
    values = parse_grid(f"rsi:oversold={low}..{high}/{step}").axes[1][1]
    assert values == tuple(dict.fromkeys(float(low + i * step) for i in range(count)))
    assert all(float(low) <= v <= float(high) for v in values)


def test_a_decimal_step_lands_on_the_values_written():
    assert parse_grid("rsi:oversold=0.1..0.3/0.1").axes[1][1] == (0.1, 0.2, 0.3)
    assert parse_grid("rsi:oversold=20..30/2.5").axes[1][1] == (20.0, 22.5, 25.0, 27.5, 30.0)


def test_lists_mix_ranges_and_values_each_value_once_defaults_fill_the_rest():
    grid = parse_grid("sma_crossover:fast=5..20/5|7|10")
    assert grid.axes == (("fast", (5, 10, 15, 20, 7)), ("slow", (20,)))  # slow: its default
    assert parse_grid("sma_crossover").size == 1


def test_true_false_lists_and_timeframe_lists():
    catalog = load_catalog(named=[EXAMPLES / "volume_breakout.py"])
    grid = parse_grid(
        "volume_breakout:lookback=10|20,confirm_sells=true|false,timeframe=5m|15m", catalog
    )
    assert dict(grid.axes)["confirm_sells"] == (True, False)
    assert grid.timeframes == ("5m", "15m")
    assert grid.size == 8
    assert {spec.timeframe for spec in grid.candidates()} == {"5m", "15m"}
    assert parse_grid(grid.text(), catalog) == grid
    with pytest.raises(GridError, match="takes a list"):
        parse_grid("volume_breakout:confirm_sells=false..true", catalog)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("sma_crossover:fast=5..x/5", "fast=5..x/5: 'x' is not a whole number"),
        ("sma_crossover:fast=20..5", "the range is empty (20 is above 5)"),
        ("sma_crossover:fast=5..20/0", "fast=5..20/0: the step must be above 0"),
        ("sma_crossover:fast=5..20/-5", "the step must be above 0"),
        ("rsi:oversold=20..30", "oversold=20..30: a range of numbers needs a step"),
        ("rsi:oversold=20..y/1", "'y' is not a number"),
        ("sma_crossover:fast=5||6", "fast=5||6: an empty value in the list"),
        ("sma_crossover:fast=five", "fast must be a whole number, got 'five'"),
        ("sma_crossover:fast", "expected key=values, got 'fast'"),
        ("sma_crossover:speed=1", "unknown parameter 'speed'"),
        ("sma_crossover:fast=1,fast=2", "fast is given twice"),
        ("momentum:fast=1", "unknown strategy 'momentum'"),
        ("rsi:oversold=nan", "must be a finite number"),
        (f"sma_crossover:fast=1..{MAX_BACKTESTS + 1}", f"at most {MAX_BACKTESTS:,}"),
        ("sma_crossover:fast=1..2000,slow=1..2000", "4,000,000 combinations"),
    ],
)
def test_a_bad_grid_is_one_line_naming_the_bad_part(text, names):
    with pytest.raises(GridError) as raised:
        parse_grid(text)
    message = str(raised.value)
    assert names in message
    assert "\n" not in message


@given(
    fasts=st.lists(st.integers(-3, 60), min_size=1, max_size=8, unique=True),
    slows=st.lists(st.integers(1, 60), min_size=1, max_size=8, unique=True),
    periods=st.lists(st.integers(0, 30), min_size=1, max_size=4, unique=True),
)
def test_candidates_are_the_product_and_the_refused_ones_are_counted(fasts, slows, periods):
    sma = parse_grid(f"sma_crossover:fast={written(fasts)},slow={written(slows)}")
    rsi = parse_grid(f"rsi:period={written(periods)}")
    expansion = expand([sma, rsi])
    # Refused by the strategies' own checks: fast >= 1 and fast < slow; period >= 2.
    sma_ok = [(f, s) for f, s in itertools.product(fasts, slows) if 1 <= f < s]
    rsi_ok = [p for p in periods if p >= 2]
    assert len(expansion.candidates) == len(sma_ok) * len(rsi_ok)
    assert expansion.refused == sma.size * rsi.size - len(expansion.candidates)
    assert [
        (dict(c.specs[0].params)["fast"], dict(c.specs[0].params)["slow"], c.specs[1].params[0][1])
        for c in expansion.candidates
    ] == [(f, s, p) for (f, s), p in itertools.product(sma_ok, rsi_ok)]


def test_values_a_strategys_setup_fails_on_are_refused_not_fatal(tmp_path) -> None:
    """A bug in a user's `setup` for some values skips those combinations (its traceback in
    the log), as a refusal does; the others run."""
    path = tmp_path / "lookup.py"
    path.write_text(LOOKUP_SOURCE)
    catalog = load_catalog(named=[path])
    expansion = expand([parse_grid("lookup:window=1|5", catalog)])
    assert [dict(c.specs[0].params)["window"] for c in expansion.candidates] == [1]
    assert expansion.refused == 1


def test_rule_lists_multiply_and_a_set_the_rules_refuse_is_counted():
    assert parse_rule_values("commission", "0.005| 0.1% |0.005") == ("0.005", "0.1%")
    with pytest.raises(GridError, match=re.escape("--commission: '0.005|': an empty value")):
        parse_rule_values("commission", "0.005|")
    grid = parse_grid("sma_crossover:fast=5|10,slow=30")
    rules = {"commission": ("0.005", "0.1%"), "cash": ("100000", "-1")}
    expansion = expand([grid], rules, lambda texts: TradingRules.from_text(dict(texts)))
    assert len(expansion.candidates) == 2 * 2  # cash -1 refused with each commission
    assert expansion.refused == 2 * 2
    assert {c.rules for c in expansion.candidates} == {
        (("commission", "0.005"), ("cash", "100000")),
        (("commission", "0.1%"), ("cash", "100000")),
    }


def test_the_whole_sweep_is_capped():
    grid = parse_grid("sma_crossover:fast=1..1000,slow=1001..2000")
    assert grid.size == MAX_BACKTESTS  # one grid may reach the cap
    with pytest.raises(GridError, match="the sweep has 2,000,000 combinations"):
        expand([grid], {"commission": ("0", "0.005")})
