"""The open-session dialog's trading rules: prefilled from config.toml, collapsed to a summary,
checked as typed by the parser `backtest` uses, and the session's once it opens."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Collapsible, Input

from engine.trading_rules import OPTIONS, Costs, OrderSize, TradingRules
from ktrdr_tui.screens.open_session import (
    RULE_FIELDS,
    RuleFields,
    rules_summary,
)
from ktrdr_tui.widgets.results import ResultsPane
from tests.support.app_flows import (
    open_and_play,
    open_dialog,
    rules_opened,
    shows,
    stat_values,
    store_minute_bars,
    tab_to,
)
from tests.support.app_harness import until

BAD_COMMISSION = (
    "commission: expected a rate per share like 0.005 or a percent of the notional below "
    "100% like 0.1%, got 'x'"
)


async def test_rules_typed_in_the_dialog_size_and_cost_the_fills(make_app, tmp_path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        section = dialog.query_one("#rules", Collapsible)
        assert section.title == (
            "Trading rules · 100,000 cash · 100 shares, max 100 · no costs · long only · "
            "confidence ≥ 0.5 · quality ≥ 95%"
        )
        fields = await rules_opened(pilot, dialog)
        await tab_to(pilot, fields.field("size"))
        await pilot.press("1", "0")  # the field's text is selected as it takes the focus
        await tab_to(pilot, fields.field("commission"))
        await pilot.press("1")
        await until(pilot, lambda: "commission 1/share" in section.title, "the summary")
        assert section.title.startswith("Trading rules · 100,000 cash · 10 shares, max 100")
        session = await open_and_play(pilot)

        assert session.rules == TradingRules(size=OrderSize(10), costs=Costs(per_share=1.0))
        fills = session.snapshot().fills
        assert len(fills) > 0
        # Each BUY buys 10 shares (a SELL sells all that is held); each fill pays 1 a share.
        assert set(fills.quantity[fills.action == 1].tolist()) == {10}
        assert fills.commission.tolist() == fills.quantity.astype(float).tolist()
        await pilot.press("4")
        pane = app.query_one(ResultsPane)
        await until(pilot, lambda: pane.statistics is not None, "the results")
        shown = stat_values(str(pane.query_one("#results-statistics").render()))
        assert shown["Commissions"] == f"{fills.quantity.sum():,.2f}"


async def test_a_bad_rule_says_why_under_the_fields_and_does_not_open(make_app, tmp_path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        fields = await rules_opened(pilot, dialog)
        commission = fields.field("commission")
        await tab_to(pilot, commission)
        await pilot.press("x")
        under = fields.query_one(".rules-problem")
        await until(pilot, lambda: shows(under, BAD_COMMISSION), "the line under the fields")
        assert isinstance(commission, Input) and commission.has_class("-invalid")
        await until(pilot, lambda: shows(dialog.query_one("#problem"), BAD_COMMISSION))
        section = dialog.query_one("#rules", Collapsible)
        assert section.title == f"Trading rules · ⚠ {BAD_COMMISSION}"
        await pilot.press("enter")
        await pilot.pause()
        assert app.session is None and app.screen is dialog
        # Fixed, the problem goes and enter opens.
        await pilot.press("backspace", "0", "full_stop", "5")
        await until(pilot, lambda: not under.display, "the problem to go")
        assert not commission.has_class("-invalid")
        await until(pilot, lambda: shows(dialog.query_one("#problem"), "Ready"))
        await pilot.press("enter")
        await until(pilot, lambda: app.session is not None, "the session")
        assert app.session.rules == TradingRules(costs=Costs(per_share=0.5))


async def test_the_fields_start_from_config_toml(make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")
    configured = TradingRules.from_text(
        {"size": "10%", "short": True, "slippage": "2bp", "min_commission": 1, "cash": 25000}
    )
    app = make_app(trading=configured)
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        fields = dialog.query_one(RuleFields)
        assert {option: fields.field(option).value for option in RULE_FIELDS} == {
            "cash": "25000",
            "size": "10%",
            "max_position": "100",
            "min_confidence": "0.5",
            "min_quality": "95",
            "short": True,
            "commission": "0",
            "min_commission": "1",
            "slippage": "2bp",
        }
        assert dialog.query_one("#rules", Collapsible).title == (
            "Trading rules · 25,000 cash · 10% of equity, max 100 · commission 0 (min 1) · "
            "slippage 2bp · shorts allowed · confidence ≥ 0.5 · quality ≥ 95%"
        )
        await pilot.press("enter")
        await until(pilot, lambda: app.session is not None, "the session")
        assert app.session.rules == configured


def test_every_rule_has_a_field() -> None:
    assert list(RULE_FIELDS) != [] and set(RULE_FIELDS) == set(OPTIONS)


def test_the_summary_names_each_form_of_cost() -> None:
    def costs(**texts: object) -> str:
        return rules_summary(TradingRules.from_text(texts)).split(" · ", 2)[2]

    assert costs() == "no costs · long only · confidence ≥ 0.5 · quality ≥ 95%"
    assert costs(commission="0.1%").startswith("commission 0.1% · long only")
    assert costs(commission="0.005", min_commission="1.5", slippage="0.01").startswith(
        "commission 0.005/share (min 1.5) · slippage 0.01 · long only"
    )
    assert rules_summary(TradingRules(cash=1234.5)).startswith("1,234.50 cash")
