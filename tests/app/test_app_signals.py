"""The Signals pane driven by keys, as a person would: a session plays (the Playback pane would
have opened it; here the test sets `app.session` the same way), its signals list live, `f`
follows the newest, `/` filters, `e` exports CSV; a restart clears and refills the table."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text
from textual.widgets import Input

from engine.session.bars import NS
from engine.session.logs import Signal, SignalLog, signals_csv
from engine.session.playback import PlaybackSession, PlaybackState, SessionSnapshot
from engine.strategy.spec import StrategySpec
from ktrdr_tui.formatting import plural
from ktrdr_tui.screens.signal_filter import Choice, SignalFilter, SignalFilterScreen
from ktrdr_tui.widgets.signals import (
    EMPTY_TEXT,
    NO_EXPORT,
    WAITING_TEXT,
    export_path,
)
from ktrdr_tui.widgets.signals_table import (
    COLUMNS,
    SignalsTable,
    exchange_time,
    short_strategy,
    signal_columns,
)
from tests.support.app_flows import open_session, store_minute_bars
from tests.support.app_harness import until
from tests.support.several_symbols import SYMBOLS, TIMEOUT_S, minute_bars
from tests.support.signals_views import (
    SPECS,
    caught_up,
    cursor_on_newest_and_visible,
    new_session,
    pane_of,
    played,
    rows_shown,
)

CSV_HEADER = ["timestamp", "symbol", "timeframe", "strategy", "action", "price"]
CSV_HEADER += ["confidence", "approved", "reason"]


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector).render())


def status(app) -> str:
    return text_of(app, "#signals-status")


def row_signals(app) -> list[Signal]:
    """The signals behind the table's rows, top to bottom."""
    table = pane_of(app).table
    return table.rows(0, table.row_count)


async def listed(pilot, session: PlaybackSession) -> list[Signal]:
    """`session` opened in the app and the Signals pane shown, until it lists every signal."""
    pilot.app.session = session
    await pilot.press("3")
    return await caught_up(pilot, session)


def cell_text(table: SignalsTable, row: int, column: int) -> Text:
    """A cell as the table draws it."""
    return table.cells(row)[column]


def colour_of(text: Text) -> str:
    """The colour of a cell's text, as `#RRGGBB`."""
    style = text.get_style_at_offset(Console(), 0)
    return style.color.triplet.hex.upper()


def notifications(app) -> list[str]:
    # Textual keeps no public list of notifications; its private one is the plain truth.
    return [notification.message for notification in app._notifications]


# -- pure parts ------------------------------------------------------------------------------


def signal(**fields) -> Signal:
    base = dict(
        time_ns=pd.Timestamp("2024-03-04 15:15", tz="UTC").value,
        symbol="AAPL",
        timeframe="1m",
        strategy="rsi:period=14,oversold=30,overbought=70",
        action="BUY",
        price=181.25,
        confidence=0.75,
        approved=True,
        reason="",
    )
    return Signal(**{**base, **fields})


def append_signals(log: SignalLog, signals: list[Signal]) -> SignalLog:
    """`signals` added to `log`, as the session's pipeline adds the ones it decides."""
    log.append(
        np.array([s.time_ns for s in signals]),
        np.array([log.strategies.index(s.strategy) for s in signals]),
        np.array([1 if s.action == "BUY" else -1 for s in signals]),
        np.array([s.price for s in signals]),
        np.array([s.confidence for s in signals]),
        [s.reason for s in signals],
        [s.note for s in signals],
    )
    return log


def test_times_show_in_exchange_time_across_daylight_saving() -> None:
    assert exchange_time(signal()) == "2024-03-04 10:15"  # EST: UTC-5
    summer = pd.Timestamp("2024-03-11 13:30", tz="UTC").value  # the Monday after the switch
    assert exchange_time(signal(time_ns=summer)) == "2024-03-11 09:30"  # EDT: UTC-4
    daily = pd.Timestamp("2024-03-11", tz="UTC").value  # midnight UTC of the session date
    assert exchange_time(signal(time_ns=daily, timeframe="1d")) == "2024-03-11"


def test_a_filter_matches_strategy_part_action_and_decision() -> None:
    rsi_buy = signal()
    sma = "sma_crossover:fast=5,slow=20"
    sma_sell = signal(strategy=sma, action="SELL", approved=False, reason="confidence 0.3 < 0.5")
    everything = [rsi_buy, sma_sell]
    log = append_signals(
        SignalLog([("AAPL", rsi_buy.strategy, "1m"), ("AAPL", sma, "1m")]), everything
    )

    def select(chosen: SignalFilter) -> list[Signal]:
        return log.rows(chosen.indices(log))

    assert not SignalFilter().active
    assert select(SignalFilter()) == everything
    assert select(SignalFilter(strategy=" RSI ")) == [rsi_buy]
    assert select(SignalFilter(strategy="fast=5")) == [sma_sell]
    assert select(SignalFilter(action="SELL")) == [sma_sell]
    assert select(SignalFilter(decision="approved")) == [rsi_buy]
    assert select(SignalFilter(decision="rejected")) == [sma_sell]
    assert select(SignalFilter(strategy="rsi", decision="rejected")) == []
    assert log.rows(SignalFilter(action="SELL").indices(log, 0, 1)) == []  # the rows asked only
    assert SignalFilter("rsi", "BUY", "rejected").describe() == "rsi BUY rejected"
    with pytest.raises(ValueError, match="action"):
        SignalFilter(action="buy")


def test_a_filter_on_a_symbol_takes_it_whole_in_any_case() -> None:
    sma = "sma_crossover:fast=5,slow=20"
    aapl, msft = signal(strategy=sma), signal(strategy=sma, symbol="MSFT", action="SELL")
    log = SignalLog([("AAPL", sma, "1m"), ("MSFT", sma, "1m")])
    log.append(  # the strategy's run on AAPL (0) signals, then its run on MSFT (1)
        np.array([aapl.time_ns, msft.time_ns]),
        np.array([0, 1]),
        np.array([1, -1]),
        np.array([aapl.price, msft.price]),
        np.array([aapl.confidence, msft.confidence]),
        ["", ""],
        ["", ""],
    )
    chosen = SignalFilter(symbol=" msft ")
    assert chosen.symbol == "MSFT" and chosen.active
    assert log.rows(chosen.indices(log)) == [msft]
    assert log.rows(SignalFilter(symbol="MS").indices(log)) == []  # the whole symbol only
    assert log.rows(SignalFilter(strategy="fast=5", symbol="aapl").indices(log)) == [aapl]
    assert SignalFilter("rsi", "BUY", "rejected", "msft").describe() == "MSFT rsi BUY rejected"


def test_the_symbol_column_is_as_wide_as_the_longest_symbol() -> None:
    assert signal_columns(("AAPL", "MSFT")) == COLUMNS
    assert signal_columns(("AAPL", "BRK.B-WI")) == (
        COLUMNS[0],
        ("Symbol", len("BRK.B-WI"), False),
        *COLUMNS[2:],
    )


def test_strategies_show_short_and_distinct() -> None:
    assert short_strategy("sma_crossover:fast=5,slow=20") == "sma_crossover 5,20"
    assert short_strategy("sma_crossover:fast=3,slow=8,timeframe=15m") == "sma_crossover 3,8 15m"
    assert short_strategy("rsi:period=14,oversold=30,overbought=70") == "rsi 14,30,70"
    assert short_strategy("custom") == "custom"


def test_export_names_never_overwrite(tmp_path: Path) -> None:
    now = datetime(2024, 3, 4, 10, 15, 0)
    first = export_path(tmp_path, "AAPL", filtered=False, now=now)
    assert first.name == "signals-AAPL-20240304-101500.csv"
    first.write_text("")
    second = export_path(tmp_path, "AAPL", filtered=False, now=now)
    assert second.name == "signals-AAPL-20240304-101500-2.csv"
    assert export_path(tmp_path, "AAPL", filtered=True, now=now).name.endswith("-filtered.csv")
    assert export_path(tmp_path, "EUR/USD", filtered=False, now=now).parent == tmp_path


# -- the pane --------------------------------------------------------------------------------


async def test_without_a_session_the_pane_says_how_to_open_one(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("3")
        await pilot.pause()
        assert text_of(app, "#signals-hint") == EMPTY_TEXT
        assert rows_shown(app) == 0
        assert app.focused is pane_of(app).table  # the pane's keys apply at once
        await pilot.press("e")  # nothing to export: a dimmed key that says why
        assert app.screen.is_current
        assert [n.message for n in app._notifications] == [NO_EXPORT]


async def test_signals_arrive_live_as_the_session_plays(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        session = new_session()
        app.session = session
        await pilot.press("3")
        await until(pilot, lambda: text_of(app, "#signals-hint") == WAITING_TEXT, "waiting")
        session.play()
        expected = await caught_up(pilot, session)
        assert len(expected) > 100
        assert row_signals(app) == expected
        assert not app.query_one("#signals-hint").display
        approved = sum(s.approved for s in expected)
        assert status(app).startswith(
            f"following · {len(expected):,} signals · {approved:,} approved · "
            f"{len(expected) - approved:,} rejected"
        )
        # The first row, cell by cell; BUY / SELL and the decision in the theme's colours.
        table = pane_of(app).table
        first = expected[0]
        cells = [cell_text(table, 0, column) for column in range(len(COLUMNS))]
        assert [cell.plain.strip() for cell in cells] == [
            exchange_time(first),
            "AAPL",
            short_strategy(first.strategy),
            first.action,
            f"{first.price:,.2f}",
            f"{first.confidence:.2f}",
            "approved" if first.approved else "rejected",
            first.reason,
        ]
        colours = app.theme_variables
        for row, sig in enumerate(expected[:20]):
            wanted = colours["success"] if sig.action == "BUY" else colours["error"]
            assert colour_of(cell_text(table, row, 3)) == wanted.upper()


async def test_a_session_opened_and_played_in_the_playback_pane_lists_here(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        await app.workers.wait_for_complete()
        session = await open_session(pilot)  # 2, o, enter
        await pilot.press("plus", "plus")  # 360x → 3600x → as fast as possible
        await until(pilot, lambda: session.snapshot().speed == 0, "speed 0")
        await pilot.press("space")
        await pilot.press("3")
        expected = await caught_up(pilot, session)
        assert len(expected) > 50
        assert row_signals(app) == expected


async def test_follow_keeps_the_newest_row_in_view_and_f_toggles_it(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        session = new_session()
        app.session = session
        await pilot.press("3")
        session.seek(pd.Timestamp("2024-03-06 12:00", tz="America/New_York"))
        await caught_up(pilot, session)
        assert pane_of(app).following  # on from the start
        await until(pilot, lambda: cursor_on_newest_and_visible(app), "the newest row")
        before = rows_shown(app)

        played(session)  # the rest of the week: the view follows the new rows
        await caught_up(pilot, session)
        assert rows_shown(app) > before + 20
        await until(pilot, lambda: cursor_on_newest_and_visible(app), "the newest row")

        await pilot.press("f")
        assert not pane_of(app).following
        assert status(app).startswith("not following")
        session.restart()
        await until(pilot, lambda: rows_shown(app) == 0, "the table to clear")
        played(session)
        await caught_up(pilot, session)
        assert pane_of(app).table.cursor_row == 0  # left where it was

        await pilot.press("f")
        assert pane_of(app).following
        await until(pilot, lambda: cursor_on_newest_and_visible(app), "the newest row")
        assert status(app).startswith("following")

        await pilot.press("up")  # reading older rows stops following
        assert not pane_of(app).following


async def test_the_highlighted_signal_shows_in_full_under_the_table(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        session = played(new_session())
        expected = await listed(pilot, session)
        last = expected[-1]
        line = text_of(app, "#signals-selected")
        assert line.startswith(f"{exchange_time(last)} ET  {last.action} AAPL 1m")
        assert last.strategy in line


async def test_slash_filters_existing_and_incoming_rows(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        session = new_session()
        app.session = session
        await pilot.press("3")
        session.seek(pd.Timestamp("2024-03-05 16:00", tz="America/New_York"))
        await caught_up(pilot, session)

        await pilot.press("slash")
        dialog = app.screen
        assert isinstance(dialog, SignalFilterScreen)
        await pilot.press(*"rsi", "tab", "tab", "r")
        assert dialog.query_one("#decision", Choice).value == "rejected"
        so_far = list(session.signal_log)
        wanted_so_far = [s for s in so_far if "rsi" in s.strategy and not s.approved]
        assert text_of(dialog, "#matches") == (
            f"{len(wanted_so_far):,} of {len(so_far):,} signals match"
        )
        await pilot.press("enter")
        assert not isinstance(app.screen, SignalFilterScreen)
        assert 0 < rows_shown(app) == len(wanted_so_far)
        assert row_signals(app) == wanted_so_far

        played(session)  # incoming rows go through the filter too
        everything = list(session.signal_log)
        wanted = [s for s in everything if "rsi" in s.strategy and not s.approved]
        await until(pilot, lambda: rows_shown(app) == len(wanted), "the filtered rows")
        assert row_signals(app) == wanted
        assert len(wanted) < len(everything)
        assert f"filter: rsi rejected ({len(wanted):,} match)" in status(app)

        await pilot.press("slash")
        await pilot.press("escape")  # escape keeps the filter
        assert pane_of(app).signal_filter == SignalFilter("rsi", decision="rejected")

        await pilot.press("slash", "ctrl+r", "enter")  # cleared: every signal again
        await until(pilot, lambda: rows_shown(app) == len(everything), "every row")
        assert row_signals(app) == everything
        assert "filter" not in status(app)


async def test_a_session_of_several_symbols_filters_by_symbol_too(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        session = played(new_session([minute_bars(symbol=symbol) for symbol in SYMBOLS]))
        everything = await listed(pilot, session)
        table = pane_of(app).table
        assert {table.cells(row)[1].plain for row in range(table.row_count)} == set(SYMBOLS)

        await pilot.press("slash")
        dialog = app.screen
        assert isinstance(dialog, SignalFilterScreen)
        assert "one of AAPL, MSFT, SPY" in text_of(dialog, "#symbol-help")
        assert dialog.query_one("#matches").region.bottom < 24  # the fourth field fits 80x24
        await pilot.press("tab", "x")  # the symbol field: no symbol starts with X
        assert text_of(dialog, "#matches") == f"0 of {len(everything):,} signals match"
        # The first letters stand for the symbol the field suggests.
        await pilot.press("backspace", *"ms")
        assert dialog.query_one("#symbol", Input).value == "ms"
        msft = [s for s in everything if s.symbol == "MSFT"]
        assert 0 < len(msft) < len(everything)
        assert text_of(dialog, "#matches") == f"{len(msft):,} of {len(everything):,} signals match"
        await pilot.press("enter")
        assert pane_of(app).signal_filter == SignalFilter(symbol="MSFT")
        await until(pilot, lambda: rows_shown(app) == len(msft), "MSFT's rows")
        assert row_signals(app) == msft
        assert f"filter: MSFT ({len(msft):,} match)" in status(app)

        # Another session, of one symbol: no MSFT to filter on, and no symbol field.
        app.session = played(new_session())
        session.stop()
        await caught_up(pilot, app.session)
        assert pane_of(app).signal_filter == SignalFilter()
        await pilot.press("slash")
        assert isinstance(app.screen, SignalFilterScreen)
        assert not app.screen.query("#symbol")


async def test_keys_typed_in_the_filter_are_text_not_app_keys(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        session = played(new_session())
        await listed(pilot, session)
        await pilot.press("slash", *"q1:fast=3", "question_mark", "backspace", "enter")
        assert app.is_running
        assert pane_of(app).signal_filter.strategy == "q1:fast=3"
        assert rows_shown(app) == 0  # no strategy has that in its name


async def test_a_filter_that_matches_nothing_says_so(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        session = played(new_session())
        await listed(pilot, session)
        await pilot.press("slash", *"nothing-like-this", "enter")
        await pilot.pause()
        assert rows_shown(app) == 0
        assert "No signal matches the filter (nothing-like-this)" in text_of(app, "#signals-hint")


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as file:
        return list(csv.reader(file))


async def test_e_exports_every_signal_then_the_filtered_ones(make_app, tmp_path: Path) -> None:
    app = make_app()
    exports = tmp_path / "store" / "exports"
    async with app.run_test() as pilot:
        session = played(new_session())
        expected = await listed(pilot, session)

        await pilot.press("e")
        await until(pilot, lambda: any("Wrote" in m for m in notifications(app)), "export")
        [path] = exports.glob("*.csv")
        assert path.name.startswith("signals-AAPL-") and "filtered" not in path.name
        rows = read_csv(path)
        assert rows[0] == CSV_HEADER
        assert len(rows) == len(expected) + 1
        assert path.read_text() == signals_csv(expected)  # the CLI's exact format
        first = expected[0]
        assert rows[1][:5] == [
            pd.Timestamp(first.time_ns, tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
            "AAPL",
            "1m",
            first.strategy,
            first.action,
        ]
        assert {row[7] for row in rows[1:]} == {"true", "false"}
        told = next(m for m in notifications(app) if "Wrote" in m)
        utc = "Times in the file are UTC (the table shows ET)."
        assert told == f"Wrote all {len(expected):,} signals to {path}. {utc}"
        assert not list(exports.glob(".*.tmp"))  # the atomic write left no temp file

        pane_of(app).set_filter(SignalFilter("sma", "SELL"))
        await pilot.press("e")
        await until(pilot, lambda: len(list(exports.glob("*filtered.csv"))) == 1, "filtered")
        [filtered] = exports.glob("*filtered.csv")
        wanted = [s for s in expected if "sma" in s.strategy and s.action == "SELL"]
        assert filtered.read_text() == signals_csv(wanted)
        await until(pilot, lambda: any("filter: sma SELL" in m for m in notifications(app)), "")
        told = next(m for m in notifications(app) if "filter: sma SELL" in m)
        assert told == (
            f"Wrote {len(wanted):,} of {len(expected):,} signals (filter: sma SELL) to "
            f"{filtered}. {utc}"
        )


async def test_an_export_while_the_session_plays_says_so_far(make_app, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        session = new_session()
        session.set_speed(600.0)  # a market minute per 0.1 s: the week plays for minutes
        session.play()
        app.session = session
        playing = PlaybackState.PLAYING
        await until(pilot, lambda: session.snapshot().state is playing, "playing")
        await pilot.press("3", "e")
        await until(pilot, lambda: any("Wrote" in m for m in notifications(app)), "export")
        [told] = [m for m in notifications(app) if "Wrote" in m]
        assert "signals so far (the session plays on) to " in told
        [path] = (tmp_path / "store" / "exports").glob("*.csv")
        assert read_csv(path)[0] == CSV_HEADER


async def test_an_export_that_cannot_be_written_is_a_notification(make_app, tmp_path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the data dir should be")
    app = make_app(data_dir=blocked)
    async with app.run_test() as pilot:
        session = played(new_session())
        await listed(pilot, session)
        await pilot.press("e")
        await until(pilot, lambda: any("export" in m for m in notifications(app)), "failure")
        [told] = [m for m in notifications(app) if "export" in m]
        assert told.startswith("Could not export the signals: ")
        assert app.is_running
        assert rows_shown(app) > 0


async def test_a_restart_clears_the_table_and_playing_refills_it(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        session = played(new_session())
        expected = await listed(pilot, session)
        first_log = session.signal_log

        session.restart()  # what a seek back does too: the results start over
        await until(pilot, lambda: rows_shown(app) == 0, "the table to clear")
        assert pane_of(app).signals == []
        assert text_of(app, "#signals-hint") == WAITING_TEXT

        played(session)
        again = await caught_up(pilot, session)
        assert again == expected and session.signal_log is not first_log  # a new log
        assert row_signals(app) == again

        session.pause()
        session.seek(pd.Timestamp("2024-03-05 12:00", tz="America/New_York"))  # back
        await until(pilot, lambda: session.snapshot().generation == 2, "the seek")
        part = await caught_up(pilot, session)
        assert 0 < len(part) < len(expected)
        assert row_signals(app) == part


async def test_another_session_replaces_the_rows(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        first = played(new_session())
        app.session = first
        await pilot.press("3")
        await caught_up(pilot, first)
        second = played(new_session(specs=("rsi:period=10,oversold=25,overbought=75",)))
        app.session = second
        first.stop()
        expected = await caught_up(pilot, second)
        assert {s.strategy for s in row_signals(app)} == {"rsi:period=10,oversold=25,overbought=75"}
        assert row_signals(app) == expected
        app.session = None
        await until(pilot, lambda: text_of(app, "#signals-hint") == EMPTY_TEXT, "empty")
        assert rows_shown(app) == 0


async def test_rows_wait_while_the_pane_is_hidden(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        session = played(new_session())
        app.session = session
        pane = pane_of(app)
        await until(pilot, lambda: len(pane.signals) == len(list(session.signal_log)), "read")
        assert rows_shown(app) == 0  # the Jobs pane is shown: no table work
        await pilot.press("3")
        await caught_up(pilot, session)


class LaggingSession(PlaybackSession):
    """A session whose snapshot can stay as it was: it does not tell that results restarted."""

    stale: SessionSnapshot | None = None

    def snapshot(self) -> SessionSnapshot:
        return self.stale or super().snapshot()


async def test_a_new_log_is_noticed_before_the_snapshot_tells(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        specs = [StrategySpec.parse(spec) for spec in SPECS]
        session = played(LaggingSession(minute_bars(), specs).start())
        first = await listed(pilot, session)
        session.stale = session.snapshot()
        session.restart()
        session.seek(pd.Timestamp("2024-03-06 12:00", tz="America/New_York"))
        assert session.wait(TIMEOUT_S)
        assert session.snapshot().generation == 0  # still the old word
        part = list(session.signal_log)
        assert 0 < len(part) < len(first) and part == first[: len(part)]

        def the_new_log_shows() -> bool:
            return pane_of(app).signals == row_signals(app) == part

        await until(pilot, the_new_log_shows, "the new log")


class ControlledSession(PlaybackSession):
    """A session whose log the test fills by hand (never started)."""

    log: SignalLog

    @property
    def signal_log(self) -> SignalLog:
        return self.log


def controlled(log: SignalLog) -> ControlledSession:
    session = ControlledSession(minute_bars(), [StrategySpec.parse(SPECS[0])])
    session.log = log
    return session


def spec_labels() -> list[tuple[str, str, str]]:
    parsed = [StrategySpec.parse(spec) for spec in SPECS]
    return [("AAPL", spec.label, spec.timeframe or "1m") for spec in parsed]


async def test_a_long_log_is_listed_whole_and_built_a_screen_at_a_time(make_app) -> None:
    count = 300_000  # years of a busy session's signals
    log = SignalLog(spec_labels())
    rows = np.arange(count)
    start = pd.Timestamp("2020-01-02 14:30", tz="UTC").value
    reasons = ["", "confidence 0.31 < 0.5"]
    log.append(
        start + rows * 60 * NS,
        rows % 3,
        1 - 2 * (rows % 2),
        100 + rows / 100,
        rows % 100 / 100,
        [reasons[i % 3 == 2] for i in range(count)],
    )
    built: list[int] = []
    read_rows = log.rows
    log.rows = lambda indices: built.append(len(indices)) or read_rows(indices)  # type: ignore[method-assign]
    app = make_app()
    async with app.run_test() as pilot:
        app.session = controlled(log)
        await pilot.press("3")
        await until(pilot, lambda: rows_shown(app) == count, "every row")
        await until(pilot, lambda: cursor_on_newest_and_visible(app), "the newest row")
        table = pane_of(app).table
        assert table.rows(count - 1, count) == [log[count - 1]]
        assert sum(built) < 20 * table.size.height  # what was drawn, not what was read
        approved = count - count // 3
        assert f"{count:,} signals · {approved:,} approved" in status(app)

        await pilot.press("home")  # the oldest row: reading, so no longer following
        assert not pane_of(app).following
        assert table.cursor_row == 0 and round(table.scroll_y) == 0
        await pilot.press("pagedown", "down")
        assert table.cursor_row == table.scrollable_content_region.height
        await pilot.press("end")
        assert cursor_on_newest_and_visible(app)

        await pilot.press("f")
        assert pane_of(app).following
        top = round(table.scroll_y)
        await pilot.click(SignalsTable, offset=(5, 3))  # the third row in view, under the header
        assert table.cursor_row == top + 2 and not pane_of(app).following


async def test_rows_that_arrive_join_below_and_the_cursor_follows_or_stays(make_app) -> None:
    expected = list(played(new_session()).signal_log)
    log = SignalLog(spec_labels())
    session = controlled(log)
    app = make_app()
    async with app.run_test() as pilot:
        app.session = session
        await pilot.press("3")
        pane = pane_of(app)
        # The timer polls too, but not while this test runs without awaiting.
        append_signals(log, expected[:10])
        pane.poll()
        assert row_signals(app) == expected[:10]
        assert pane.table.cursor_row == 9  # following
        append_signals(log, expected[10:150])
        pane.poll()
        assert row_signals(app) == expected[:150]
        assert pane.table.cursor_row == 149
        await pilot.press("f")  # not following: the cursor stays on its signal
        pane.table.move_cursor(40)
        append_signals(log, expected[150:])
        pane.poll()
        assert row_signals(app) == expected
        assert pane.table.cursor_row == 40
        await pilot.pause()
        assert f"{expected[40].strategy}" in text_of(app, "#signals-selected")
        await pilot.press("f")
        assert pane.table.cursor_row == len(expected) - 1


async def test_a_theme_switch_recolours_the_rows(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        session = played(new_session())
        expected = await listed(pilot, session)
        app.theme = "ktrdr-light"
        await pilot.pause()
        await until(pilot, lambda: rows_shown(app) == len(expected), "the rows again")
        table = pane_of(app).table
        buy_row = next(i for i, s in enumerate(expected) if s.action == "BUY")
        assert colour_of(cell_text(table, buy_row, 3)) == app.theme_variables["success"].upper()


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(["signal", "load", "bar"]))
def test_a_count_agrees_with_its_noun(count: int, noun: str) -> None:
    text = plural(count, noun)
    number, word = text.split(" ")
    assert int(number.replace(",", "")) == count
    assert word == (noun if count == 1 else noun + "s")  # never "1 signals"
