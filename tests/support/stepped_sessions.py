"""Sessions run with the market clock moved in steps (any steps: `STEPS` draws them), what a
run gives, and a strategy's on_bar form (its on_chunk hidden): the speed properties' parts."""

from __future__ import annotations

from hypothesis import strategies as st

from engine.session.bars import NS, SessionBars
from engine.session.pipeline import Pipeline
from engine.strategy import Strategy
from engine.strategy.spec import StrategySpec
from engine.trading_rules import TradingRules

STEPS = st.lists(
    st.one_of(
        st.just("bar"),
        st.floats(0.0, 0.2),
        st.integers(1, 3 * 3600),  # market seconds: inside bars, across bins and closes
    ),
    max_size=40,
)


def on_bar_form(spec: StrategySpec) -> StrategySpec:
    """The same strategy with on_chunk hidden: the session calls its on_bar bar by bar."""
    strategy = spec.strategy
    per_bar = type(
        f"{strategy.__name__}OnBar",
        (strategy,),
        {"on_chunk": Strategy.on_chunk, "__doc__": strategy.__doc__},
    )
    return StrategySpec(per_bar, spec.params, spec.timeframe)


def outcome(pipeline: Pipeline) -> tuple:
    return (
        list(pipeline.signals),  # every field, the strategy's note too
        list(pipeline.account.fills),
        pipeline.account.cash,
        pipeline.account.position,
        list(pipeline.failures),
    )


def run_in_steps(bars: SessionBars, specs, steps, rules: TradingRules | None = None) -> Pipeline:
    """The session with the clock moved by `steps`: "bar" to the next bar's end, a fraction
    of what is left, or a number of market seconds; then to the end."""
    pipeline = Pipeline(bars, specs, rules)
    for step in steps:
        if step == "bar":
            target = pipeline.next_bar_end() or pipeline.end
        elif isinstance(step, float):
            target = pipeline.clock + int(step * (pipeline.end - pipeline.clock))
        else:
            target = pipeline.clock + step * NS
        pipeline.advance_to(target)
    pipeline.advance_to(pipeline.end)
    return pipeline
