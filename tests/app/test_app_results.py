"""The Results pane driven by keys, as a person would. Most tests give the pane a run's
engine.results objects as its poll does (`ResultsPane.show_results`): a synthetic daily run
with a long, a short and a still-open long trade; the last ones play a session opened in
Playback and read what the pane polled from it."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import astuple, replace
from pathlib import Path

import numpy as np
import pandas as pd
from rich.style import Style
from textual.app import App, ComposeResult
from textual.widgets import TabbedContent

from engine.clock import FixedClock
from engine.config import Config
from engine.results import (
    Costs,
    Statistics,
    equity_csv,
    equity_curve,
    round_trips,
    trades_csv,
)
from engine.results.export import EQUITY_COLUMNS, TRADE_COLUMNS
from engine.session.playback import PlaybackSession, PlaybackState
from engine.session.results import SymbolResults
from ktrdr_tui.engine_handle import EngineHandle
from ktrdr_tui.formatting import STATISTICS
from ktrdr_tui.messages import SessionOpened
from ktrdr_tui.widgets.candle_chart import CandleChart
from ktrdr_tui.widgets.equity_chart import EquityChart
from ktrdr_tui.widgets.results import (
    EMPTY_TEXT,
    NO_EXPORT,
    WAITING_TEXT,
    ResultsPane,
    by_symbol_text,
    statistics_text,
)
from ktrdr_tui.widgets.trades_table import TradesTable, held
from tests.conftest import PINNED_NOW
from tests.support.app_flows import open_session, stat_values, store_minute_bars
from tests.support.app_harness import until
from tests.support.results import (
    BARS,
    ORDERS,
    SCRIPTED,
    daily_stamps,
    fills_at_open,
    sample_run,
    session_of,
)
from tests.support.several_symbols import (
    CASH_FOR_ALL,
    SYMBOLS,
    TIMEOUT_S,
    adopt,
    charted,
    minute_bars,
    three_symbols_played,
)


def pane_of(app: App) -> ResultsPane:
    return app.query_one(ResultsPane)


def shown_text(app: App, selector: str) -> str:
    return str(pane_of(app).query_one(selector).render())


def notifications(app: App) -> list[str]:
    # Textual keeps no public list of notifications; its private one is the plain truth.
    return [notification.message for notification in app._notifications]


class ResultsApp(App[None]):
    """The pane alone, with the messages it posts up recorded."""

    def __init__(self, data_dir: Path):
        super().__init__()
        config = Config(source="sim", data_dir=data_dir, now=FixedClock.parse(PINNED_NOW))
        self.engine = EngineHandle(config, self.post_message)
        self.chosen: list[TradesTable.TradeChosen] = []

    def compose(self) -> ComposeResult:
        yield ResultsPane(self.engine)

    def on_trades_table_trade_chosen(self, message: TradesTable.TradeChosen) -> None:
        self.chosen.append(message)


async def test_with_no_session_the_pane_says_how_to_get_results_and_e_says_why_not(
    make_app,
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        pane = pane_of(app)
        # At once, before the pane's Show event could correct it (the two raced: the hidden
        # trade list could win, a key typed right after `4` then finding no pane keys).
        app.action_show_pane("results")
        assert app.screen.focused is pane  # no trade list to focus: the pane's keys still act
        await pilot.press("3", "4")
        assert app.screen.focused is pane
        assert pane.has_class("-empty")
        assert shown_text(app, "#results-hint") == EMPTY_TEXT
        await pilot.press("e")
        await until(pilot, lambda: NO_EXPORT in notifications(app), "the reason")
        assert not (app.config.data_dir / "exports").exists()


async def test_shown_results_list_the_statistics_chart_and_trades(make_app) -> None:
    run = sample_run()
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("4")
        pane = pane_of(app)
        pane.show_results(*run.shown())
        await pilot.pause()
        assert not pane.has_class("-empty")
        assert app.screen.focused is pane.query_one(TradesTable)
        stats = shown_text(app, "#results-statistics").splitlines()
        assert [line.split("  ")[0] for line in stats] == [label for _, label, _ in STATISTICS]
        assert stats[0].split()[-1] == f"{run.stats.return_pct:+.2f}%"
        assert stats[11].split()[-1] == "3"  # trades
        assert stats[-2].split()[-1] == f"{run.stats.final_equity:,.2f}"
        assert pane.query_one(EquityChart).data is run.curve
        table = pane.query_one(TradesTable)
        assert table.row_count == 3
        assert [cell.plain for cell in table.cells(2)] == [
            "long",
            "100",
            "2024-02-11",  # daily bars: dates
            f"{run.trades.entry_price[2]:,.2f}",
            "2024-03-01",  # the last bar
            f"{run.close[-1]:,.2f}",  # an open trade is marked at the last close
            f"{run.trades.pnl[2]:+,.2f}",
            f"{run.trades.return_pct[2]:+.2f}%",
            "19d",
            "open",
        ]
        assert table.cells(1)[0].plain == "short"
        selected = shown_text(app, "#results-selected")
        assert selected.startswith("long 100 AAPL · 2024-01-05 → 2024-01-17 (12d)")
        # One symbol: no Symbol column, no breakdown by symbol.
        assert table.columns[0][0] == "Side"
        assert pane.query_one("#results-symbols").styles.display == "none"


def test_each_symbols_share_lines_up_under_its_header() -> None:
    shares = (
        SymbolResults("AAPL", 2, 50.0, 191.9, 0.0, 0.1919, 17.69, 50.0),
        SymbolResults("MSFT", 2, 0.0, -2083.38, 0.0, -2.0834, -11.36, 37.5),
        SymbolResults("SPY", 0, math.nan, 0.0, 0.0, 0.0, math.nan, 0.0),  # no trade, no bar yet
    )
    text = by_symbol_text(shares, {"success": "#00ff00", "error": "#ff0000"})
    header, aapl, msft, spy = text.plain.splitlines()
    assert header == "Symbol  Trades  Win rate           P&L    Return  Buy & hold  Exposure"
    assert aapl.split() == ["AAPL", "2", "50.00%", "+191.90", "+0.19%", "+17.69%", "50.00%"]
    assert msft.split() == ["MSFT", "2", "0.00%", "-2,083.38", "-2.08%", "-11.36%", "37.50%"]
    assert spy.split() == ["SPY", "0", "—", "+0.00", "+0.00%", "—", "0.00%"]
    assert len({len(line) for line in (header, aapl, msft, spy)}) == 1  # the columns line up
    # Gains and losses in the theme's colours.
    colours = {
        text.plain[span.start : span.end].strip(): span.style.color.triplet.hex
        for span in text.spans
        if isinstance(span.style, Style) and span.style.color is not None
    }
    assert colours["+191.90"] == colours["+17.69%"] == "#00ff00"
    assert colours["-2,083.38"] == colours["-11.36%"] == "#ff0000"
    # A longer symbol widens its column, and the rest stay in line.
    long = by_symbol_text((replace(shares[0], symbol="BRK.B-WI"), shares[1]), {})
    assert len({len(line) for line in long.plain.splitlines()}) == 1
    assert long.plain.splitlines()[1].startswith("BRK.B-WI  ")


async def test_a_session_of_several_symbols_shows_each_ones_share_and_trades(
    tmp_path: Path,
) -> None:
    results = three_symbols_played()
    app = ResultsApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = pane_of(app)
        pane.show_results(results.curve, results.trades, results.statistics, results.by_symbol)
        await pilot.pause()
        assert pane.query_one("#results-symbols").styles.display == "block"
        lines = shown_text(app, "#results-by-symbol").splitlines()
        assert lines == by_symbol_text(results.by_symbol, {}).plain.splitlines()
        assert [line.split()[0] for line in lines] == ["Symbol", *SYMBOLS]
        table = pane.query_one(TradesTable)
        assert [label for label, _, _ in table.columns][:3] == ["Symbol", "Side", "Size"]
        symbols = [table.cells(row)[0].plain for row in range(table.row_count)]
        assert symbols == results.trades.symbol.tolist() and set(symbols) == set(SYMBOLS)
        await pilot.press("down")
        assert shown_text(app, "#results-selected").startswith(f"long 100 {symbols[1]} · ")
        # The whole pane's statistics are the portfolio's.
        assert stat_values(shown_text(app, "#results-statistics"))["Trades"] == str(
            len(results.trades)
        )


async def test_statistics_undefined_for_a_run_without_trades_show_a_dash(make_app) -> None:
    run = sample_run(orders=[])
    assert math.isnan(run.stats.win_rate_pct) and math.isnan(run.stats.profit_factor)
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("4")
        pane_of(app).show_results(*run.shown())
        await pilot.pause()
        lines = stat_values(shown_text(app, "#results-statistics"))
        assert lines["Win rate"] == lines["Profit factor"] == lines["SQN"] == "—"
        assert lines["Trades"] == "0"
        assert lines["Return"] == "+0.00%"


def test_statistics_text_formats_each_kind_and_dims_what_is_undefined() -> None:
    stats = replace(
        sample_run().stats,
        sharpe=1.23456,
        cagr_pct=math.inf,  # a run of minutes
        max_drawdown_duration_days=41.0,
        commissions=1234.5,
    )
    text = statistics_text(stats, {"success": "#00ff00", "error": "#ff0000"})
    values = stat_values(text.plain)
    assert values["Sharpe ratio"] == "1.23"
    assert values["CAGR"] == "—"
    assert values["Max. DD duration"] == "41.0 days"
    assert values["Commissions"] == "1,234.50"
    assert values["Exposure time"] == f"{stats.exposure_pct:.2f}%"
    assert set(stat_values(statistics_text(None, {}).plain).values()) == {"—"}


def test_a_trade_is_held_for_days_hours_or_minutes() -> None:
    minute = 60 * 10**9
    assert held(45 * minute) == "45m"
    assert held(185 * minute) == "3h 05m"
    assert held((2 * 24 * 60 + 4 * 60 + 30) * minute) == "2d 4h"
    assert held(53 * 24 * 60 * minute) == "53d"


async def test_enter_on_a_trade_posts_its_entry_time(tmp_path: Path) -> None:
    run = sample_run()
    app = ResultsApp(tmp_path)
    async with app.run_test() as pilot:
        pane_of(app).show_results(*run.shown())
        await pilot.pause()
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.chosen, "the trade chosen")
        [chosen] = app.chosen
        assert chosen.entry_time == int(run.trades.entry_time[1]) == int(daily_stamps(BARS)[20])
        assert chosen.symbol == "AAPL"


async def test_intraday_trades_show_exchange_times(tmp_path: Path) -> None:
    start = pd.Timestamp("2024-03-05 14:30", tz="UTC").value  # 09:30 in New York
    stamps = start + 60 * 10**9 * np.arange(BARS, dtype=np.int64)
    run = sample_run()
    trades = round_trips(fills_at_open(ORDERS, run.close, Costs()), stamps, run.close, "AAPL")
    curve = equity_curve(stamps, np.zeros(BARS), run.close, fills_at_open(ORDERS, run.close), 1e5)
    app = ResultsApp(tmp_path)
    async with app.run_test() as pilot:
        pane_of(app).show_results(curve, trades, None)
        await pilot.pause()
        table = pane_of(app).query_one(TradesTable)
        assert [label for label, _, _ in table.columns][2:5] == ["Entry (ET)", "Price", "Exit (ET)"]
        cells = [cell.plain for cell in table.cells(0)]
        assert cells[2] == "2024-03-05 09:33" and cells[4] == "2024-03-05 09:45"
        assert cells[8] == "12m"
        assert shown_text(app, "#results-selected").startswith(
            "long 100 AAPL · 2024-03-05 09:33 → 2024-03-05 09:45 ET (12m)"
        )
        # No statistics yet: every one a dash.
        assert set(stat_values(shown_text(app, "#results-statistics")).values()) == {"—"}


async def test_new_trades_keep_the_cursor_where_it_was(tmp_path: Path) -> None:
    app = ResultsApp(tmp_path)
    async with app.run_test() as pilot:
        pane = pane_of(app)
        pane.show_results(*sample_run(bars=35, orders=ORDERS[:4]).shown())
        await pilot.pause()
        await pilot.press("down")
        table = pane.query_one(TradesTable)
        assert table.cursor_row == 1
        pane.show_results(*sample_run().shown())  # the run played on: a third trade
        await pilot.pause()
        assert table.row_count == 3 and table.cursor_row == 1
        assert shown_text(app, "#results-selected").startswith("short 100 AAPL")


async def test_another_session_forgets_the_last_ones_results(tmp_path: Path) -> None:
    app = ResultsApp(tmp_path)
    async with app.run_test() as pilot:
        pane = pane_of(app)
        pane.show_results(*sample_run().shown())
        await pilot.pause()
        assert not pane.has_class("-empty")
        # Another session, not played yet: the pane polls it and finds no bar played.
        session = PlaybackSession(session_of([10.0] * 3, [10.0] * 3, ""), [SCRIPTED])
        app.engine.session = session
        pane.post_message(SessionOpened(session))  # as the app hands it on
        await until(pilot, lambda: pane.has_class("-empty"), "the empty state")
        assert shown_text(app, "#results-hint") == WAITING_TEXT
        assert pane.curve is None and pane.query_one(TradesTable).row_count == 0


async def test_e_exports_the_trades_and_the_equity_as_csv(make_app) -> None:
    run = sample_run()
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("4")
        pane_of(app).show_results(*run.shown())
        await pilot.pause()
        await pilot.press("e")
        await until(pilot, lambda: any("Wrote" in n for n in notifications(app)), "the export")
        exports = app.config.data_dir / "exports"
        trades_file = exports / "trades-AAPL-20240315-220000.csv"
        equity_file = exports / "equity-AAPL-20240315-220000.csv"
        assert sorted(exports.iterdir()) == [equity_file, trades_file]
        said = next(n for n in notifications(app) if "Wrote" in n)
        assert f"3 trades to {trades_file}" in said and f"60 bars to {equity_file}" in said

        trades = list(csv.DictReader(io.StringIO(trades_file.read_text())))
        assert tuple(trades[0]) == TRADE_COLUMNS
        assert [(t["side"], t["size"], t["open"]) for t in trades] == [
            ("long", "100", "false"),
            ("short", "100", "false"),
            ("long", "100", "true"),
        ]
        assert trades[1]["entry_time"] == "2024-01-22T00:00:00Z"
        assert float(trades[0]["pnl"]) == round(float(run.trades.pnl[0]), 4)
        assert trades_file.read_text() == trades_csv(run.trades)

        equity = list(csv.DictReader(io.StringIO(equity_file.read_text())))
        assert tuple(equity[0]) == EQUITY_COLUMNS
        assert len(equity) == BARS
        assert float(equity[-1]["equity"]) == round(run.stats.final_equity, 4)
        assert equity_file.read_text() == equity_csv(run.curve)

        # Again: new files beside the first ones, never over them.
        await pilot.press("e")
        await until(pilot, lambda: len(list(exports.iterdir())) == 4, "the second export")
        assert (exports / "trades-AAPL-20240315-220000-2.csv").exists()


async def test_a_failed_export_is_told_and_the_app_goes_on(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("4")
        pane_of(app).show_results(*sample_run().shown())
        (app.config.data_dir).mkdir(parents=True, exist_ok=True)
        (app.config.data_dir / "exports").write_text("a file where the folder would be")
        await pilot.press("e")
        await until(
            pilot,
            lambda: any(n.startswith("Cannot export the results") for n in notifications(app)),
            "the failure",
        )
        assert app.is_running


async def test_the_chart_redraws_only_for_new_data(tmp_path: Path) -> None:
    early, later = sample_run(bars=30, orders=ORDERS[:2]), sample_run()
    app = ResultsApp(tmp_path)
    async with app.run_test() as pilot:
        pane = pane_of(app)
        chart = pane.query_one(EquityChart)
        pane.show_results(*early.shown())
        await until(pilot, lambda: chart.data is early.curve, "the first curve")
        drawn = chart.updates
        # Polled again with nothing new: the same curve, or the same one built again.
        pane.show_results(*early.shown())
        again = sample_run(bars=30, orders=ORDERS[:2])
        assert again.curve is not early.curve
        pane.show_results(*again.shown())
        await pilot.pause()
        assert not chart._has_pending  # nothing waits for the redraw cap either
        assert chart.updates == drawn and chart.data is early.curve
        pane.show_results(*later.shown())
        await until(pilot, lambda: chart.data is later.curve, "the new curve")
        assert chart.updates == drawn + 1


async def test_help_and_the_palette_know_the_results_pane(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        keys = {b.key: b.tooltip for b in dict(app.help_sections())["Results"] if b.tooltip}
        assert keys == {
            "e": "export the trades and the equity as CSV",
            "enter": "show the trade on the Playback chart",
        }
        await pilot.press("ctrl+p", *"results pane", "enter")
        await until(
            pilot,
            lambda: (
                app.query_one(TabbedContent).active == "results"
                and app.screen.focused is pane_of(app)
            ),
            "the pane shown and focused",
        )


# -- the pane polling a session played in Playback ----------------------------------------------


def same_statistics(a: Statistics | None, b: Statistics | None) -> bool:
    """Equal, value for value (an undefined one, NaN, equals NaN)."""
    if a is None or b is None:
        return a is b
    return bool(np.array_equal(astuple(a), astuple(b), equal_nan=True))


async def polled(pilot, session: PlaybackSession) -> Statistics:
    """Until the pane shows the statistics of the session's latest snapshot, the session at
    rest; those statistics."""
    pane = pane_of(pilot.app)
    assert session.wait(TIMEOUT_S)
    expected = session.results().statistics
    await until(pilot, lambda: same_statistics(pane.statistics, expected), "the pane's poll")
    assert pane.statistics is not None
    return pane.statistics


async def played_to_the_end(pilot) -> PlaybackSession:
    """A week of AAPL 1m bars opened in Playback and played at max speed to the end."""
    session = await open_session(pilot)
    await pilot.press("plus", "plus")  # 360x → 3600x → max
    await until(pilot, lambda: session.snapshot().speed == 0, "max speed")
    await pilot.press("space")
    await until(pilot, lambda: session.snapshot().state is PlaybackState.DONE, "the end")
    return session


async def test_playing_a_session_fills_the_pane(make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        session = await played_to_the_end(pilot)
        await pilot.press("4")
        stats = await polled(pilot, session)
        results = session.results()
        pane = pane_of(app)
        assert stats.trades == len(results.trades) > 0
        assert not pane.has_class("-empty")
        assert pane.query_one(TradesTable).row_count == len(results.trades)
        await until(pilot, lambda: pane.query_one(EquityChart).data is results.curve, "the curve")
        shown = stat_values(shown_text(app, "#results-statistics"))
        assert shown == stat_values(statistics_text(results.statistics, {}).plain)
        assert shown["Final equity"] == f"{session.snapshot().equity:,.2f}"
        # Restarted, the pane waits for bars again.
        await pilot.press("2", "home")
        await until(pilot, lambda: session.snapshot().bars_processed == 0, "the restart")
        await pilot.press("4")
        await until(pilot, lambda: pane.has_class("-empty"), "the empty pane")
        assert shown_text(app, "#results-hint") == WAITING_TEXT


async def test_enter_on_a_trade_shows_its_entry_on_the_playback_chart(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        session = await played_to_the_end(pilot)
        await pilot.press("4")
        await polled(pilot, session)
        entry = int(pane_of(app).trades.entry_time[1])
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.query_one(TabbedContent).active == "playback", "Playback")
        bars = session.market[0]
        chart = app.query_one(CandleChart)
        # The clock a third of the chart's width past the entry bar, the session paused.
        at = int(np.searchsorted(bars.timestamps, entry))
        target = int(bars.end[at + chart.content_size.width // 3])
        await until(pilot, lambda: session.snapshot().clock_ns == target, "the seek")
        assert session.wait(TIMEOUT_S)
        assert session.snapshot().state is PlaybackState.PAUSED
        await until(
            pilot,
            lambda: chart.data is not None and entry in chart.data.timestamps.tolist(),
            "the chart at the entry",
        )
        # The entry's fill is on its bar: a buy (the session is long only).
        grid = chart.grid()
        column = grid.columns[chart.data.timestamps.tolist().index(entry)]
        assert "B" in grid.column(column)
        assert app.focused is not None and app.query_one("#playback-pane") in (
            app.focused.ancestors_with_self
        )


async def test_the_results_at_max_speed_equal_a_paused_stepped_resumed_runs(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        session = await played_to_the_end(pilot)
        await pilot.press("4")
        at_max = await polled(pilot, session)
        assert at_max.trades > 0

        # Again from the start: played at 3600x a while with the pane shown, paused, stepped.
        await pilot.press("2", "home", "minus")
        await until(pilot, lambda: session.snapshot().bars_processed == 0, "the restart")
        await until(pilot, lambda: session.snapshot().speed == 3600, "3600x")
        await pilot.press("space", "4")
        await until(
            pilot,
            lambda: pane_of(app).statistics not in (None, at_max),
            "the results of the run playing",
        )
        await pilot.press("2", "space")
        await until(pilot, lambda: session.snapshot().state is PlaybackState.PAUSED, "pause")
        await pilot.press("full_stop", "full_stop", "full_stop", "4")
        partial = await polled(pilot, session)  # once more at rest: the paused run's
        assert partial.trades <= at_max.trades
        assert not same_statistics(partial, at_max)
        # Resumed at max speed to the end: the same results as the run straight through.
        await pilot.press("2", "plus", "plus", "space")
        await until(pilot, lambda: session.snapshot().state is PlaybackState.DONE, "the end")
        await pilot.press("4")
        assert same_statistics(await polled(pilot, session), at_max)


async def test_enter_on_a_trade_of_another_symbol_charts_that_symbol(make_app) -> None:
    market = [minute_bars(symbol=symbol) for symbol in SYMBOLS]
    app = make_app()
    async with app.run_test() as pilot:
        session = await adopt(pilot, market, rules=CASH_FOR_ALL, speed=0.0)
        await pilot.press("space")
        await until(pilot, lambda: session.snapshot().state is PlaybackState.DONE, "the end")
        await pilot.press("4")
        await polled(pilot, session)
        pane = pane_of(app)
        assert pane.by_symbol == session.results().by_symbol
        assert [share.symbol for share in pane.by_symbol] == list(SYMBOLS)
        trades = pane.trades
        row = trades.symbol.tolist().index("MSFT")
        assert row > 0 and trades.symbol[0] != "MSFT"  # the first trade is another symbol's
        await pilot.press(*["down"] * row, "enter")
        await until(pilot, lambda: app.query_one(TabbedContent).active == "playback", "Playback")
        await until(pilot, lambda: session.snapshot().chart_symbol == "MSFT", "MSFT charted")
        assert session.wait(TIMEOUT_S)
        entry = int(trades.entry_time[row])
        chart = app.query_one(CandleChart)
        await until(
            pilot,
            lambda: chart.data is not None and entry in chart.data.timestamps.tolist(),
            "the chart at the entry",
        )
        assert charted(app, market) == "MSFT"
        assert str(app.query_one("#playback-status").render()).startswith("MSFT 1m 2/3   ")
