"""Strategy specs (`name:key=value,...`): typed by the strategy's parameters, written out in
full by `label`, which parses back to the same spec; one-line errors for the user."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.market.timeframes import TIMEFRAMES
from engine.strategy.base import Parameter, Strategy
from engine.strategy.catalog import Catalog, CatalogEntry
from engine.strategy.spec import StrategySpec, StrategySpecError, default_spec


class Mixed(Strategy):
    """A parameter of every type."""

    name = "mixed"
    count: int = 3
    ratio: float = 0.5
    strict: bool = False

    def validate(self) -> None:
        if self.count < 0:
            raise ValueError(f"count must be 0 or more, got {self.count}")

    def on_bar(self, bars) -> None:
        pass


class Plain(Strategy):
    """No parameters at all."""

    name = "plain"

    def on_bar(self, bars) -> None:
        pass


class BrokenSetup(Strategy):
    """`setup` raises what a bug raises, for some windows."""

    name = "broken_setup"
    window: int = 5

    def setup(self) -> None:
        self.table = {1: "one"}[self.window]

    def on_bar(self, bars) -> None:
        pass


CATALOG = Catalog(
    (CatalogEntry(Mixed, "test"), CatalogEntry(Plain, "test"), CatalogEntry(BrokenSetup, "test"))
)
finite = st.floats(allow_nan=False, allow_infinity=False)


@given(
    count=st.integers(min_value=0, max_value=10**12),
    ratio=finite,
    strict=st.booleans(),
    timeframe=st.none() | st.sampled_from(TIMEFRAMES),
)
def test_the_label_parses_back_to_the_same_spec(count, ratio, strict, timeframe) -> None:
    spec = StrategySpec(Mixed, (("count", count), ("ratio", ratio), ("strict", strict)), timeframe)
    again = StrategySpec.parse(spec.label, CATALOG)
    assert again == spec
    assert [type(value) for _, value in again.params] == [int, float, bool]
    assert again.label == spec.label


@given(
    strict=st.sampled_from(["true", "TRUE", " yes ", "On", "1", "false", "No", "off", "0"]),
    count=st.integers(min_value=0, max_value=999),
    spaced=st.booleans(),
)
def test_values_are_read_by_their_type_in_any_order(strict, count, spaced) -> None:
    gap = " " if spaced else ""
    text = f"mixed:{gap}strict={strict},{gap}count = {count}{gap}"
    spec = StrategySpec.parse(text, CATALOG)
    expected = strict.strip().lower() in ("true", "yes", "on", "1")
    assert spec.params == (("count", count), ("ratio", 0.5), ("strict", expected))
    assert spec.label == f"mixed:count={count},ratio=0.5,strict={str(expected).lower()}"


def test_a_bare_name_takes_the_defaults() -> None:
    assert StrategySpec.parse("mixed", CATALOG).params == (
        ("count", 3),
        ("ratio", 0.5),
        ("strict", False),
    )
    assert default_spec(Mixed) == "mixed:count=3,ratio=0.5,strict=false"
    assert StrategySpec.parse("plain", CATALOG).label == "plain"
    assert StrategySpec.parse("plain:timeframe=5m", CATALOG).label == "plain:timeframe=5m"
    built = StrategySpec.parse("mixed:count=7", CATALOG).build()
    assert isinstance(built, Mixed) and (built.count, built.ratio) == (7, 0.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("macd", "unknown strategy 'macd' (choose from mixed, plain, broken_setup)"),
        ("mixed:length=3", "mixed: unknown parameter 'length' (parameters: count, ratio, strict,"),
        ("mixed:count=2.5", "mixed: count must be a whole number, got '2.5'"),
        ("mixed:ratio=half", "mixed: ratio must be a number, got 'half'"),
        ("mixed:ratio=nan", "mixed: ratio must be a finite number, got 'nan'"),
        ("mixed:ratio=-inf", "mixed: ratio must be a finite number, got '-inf'"),
        ("mixed:strict=maybe", "mixed: strict must be true or false, got 'maybe'"),
        ("mixed:count=1,count=2", "mixed: count is given twice"),
        ("mixed:count", "expected key=value, got 'count'"),
        ("mixed:=3", "expected key=value, got '=3'"),
        ("mixed:count=-1", "mixed: count must be 0 or more, got -1"),
    ],
)
def test_bad_specs_say_what_is_wrong_in_one_line(text: str, message: str) -> None:
    with pytest.raises(StrategySpecError) as caught:
        StrategySpec.parse(text, CATALOG)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_setup_that_raises_is_one_line_naming_the_strategy_and_its_traceback_is_logged(
    caplog,
) -> None:
    """A bug in a user's `setup` (not a ValueError: not a refusal of the values) is said like
    a bad value, so the app's dialog and `backtest` show it rather than a bare exception."""
    assert StrategySpec.parse("broken_setup:window=1", CATALOG).build().table == "one"
    with pytest.raises(StrategySpecError) as caught:
        StrategySpec.parse("broken_setup", CATALOG)
    assert str(caught.value) == "broken_setup: setup failed: KeyError: 5"
    (record,) = [r for r in caplog.records if r.name == "engine.strategy.spec"]
    assert record.exc_info is not None and record.exc_info[0] is KeyError


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e999"])
def test_a_parameter_reads_only_finite_numbers(text: str) -> None:
    """The app's fields read values with the parameter alone, no spec around them."""
    with pytest.raises(ValueError, match=f"^ratio must be a finite number, got '{text}'$"):
        Parameter("ratio", float, 0.5).parse(text)


def test_a_name_defined_twice_is_refused_naming_both_places() -> None:
    class Other(Mixed):
        name = "mixed"

    catalog = Catalog((*CATALOG.entries, CatalogEntry(Other, "file /x/mixed.py")))
    with pytest.raises(StrategySpecError, match="'mixed' is defined twice: test and file /x/mixed"):
        StrategySpec.parse("mixed", catalog)
    assert StrategySpec.parse("plain", catalog).strategy is Plain
