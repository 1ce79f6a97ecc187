"""The Playback pane driven by keys, as a person would: open stored bars, play, change speed,
pause, step, go to a date, restart; the status line and the chart's marks; and the dialogs'
checks."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from textual.widgets import Checkbox

from engine.market.calendar import calendar_for
from engine.session.playback import PlaybackState
from engine.trading_rules import TradingRules
from ktrdr_tui.screens.go_to_date import GoToDateScreen, SeekError, seek_target
from ktrdr_tui.screens.open_session import EMPTY_STORE, OpenSessionScreen
from ktrdr_tui.widgets.candle_chart import CandleChart
from ktrdr_tui.widgets.playback import (
    EMPTY,
    NO_SESSION,
    ONE_SYMBOL,
    PlaybackPane,
    fit,
    gap_text,
)
from ktrdr_tui.widgets.speed_slider import SPEED_STOPS, SpeedSlider, TrackLayout
from tests.support.app_flows import (
    adopt_a_week_without_wednesday,
    adopt_the_week,
    open_dialog,
    open_session,
    status,
    store_minute_bars,
)
from tests.support.app_harness import on_screen, until
from tests.support.several_symbols import (
    CASH_FOR_ALL,
    FIRST,
    LAST,
    SYMBOLS,
    TIMEOUT_S,
    adopt,
    charted,
    minute_bars,
)


def snapshot_of(app):
    return app.session.snapshot()


async def test_the_empty_pane_says_how_to_open_a_session(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("2")
        await pilot.pause()
        assert status(app) == EMPTY
        # Session keys do nothing without a session: dimmed, and each press says why.
        pane = app.query_one(PlaybackPane)
        assert pane.check_action("toggle_play", ()) is None
        await pilot.press("space", "full_stop", "home", "t", "g", "s")
        assert app.session is None
        assert not isinstance(app.screen, GoToDateScreen)
        said = [n.message for n in app._notifications]
        assert said == [NO_SESSION] * 6
        # The speed can be chosen before opening.
        await pilot.press("plus")
        assert app.query_one(SpeedSlider).speed == 3600


async def test_showing_the_pane_puts_the_focus_in_it(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("2")
        pane = app.query_one(PlaybackPane)
        await until(
            pilot,
            lambda: app.focused is not None and pane in app.focused.ancestors_with_self,
            "focus",
        )


async def test_an_empty_store_says_where_to_load_bars(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        assert EMPTY_STORE in str(dialog.query_one("#datasets-status").render())
        await pilot.press("enter")  # nothing to open
        await pilot.pause()
        assert app.screen is dialog
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, OpenSessionScreen), "close")
        assert app.session is None


async def test_the_dialog_lists_datasets_and_proposes_their_last_sessions(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store", "2024-01-02", "2024-03-08")
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        options = dialog.query_one("#datasets")
        assert options.option_count == 1
        prompt = str(options.get_option_at_index(0).prompt)
        assert "AAPL" in prompt and "1m" in prompt and "2024-01-02 → 2024-03-08" in prompt
        start, end, specs = dialog.fields()
        assert (start, end) == ("2024-02-09", "2024-03-08")  # 20 sessions (Feb 19 closed)
        assert [spec.label for spec in specs] == [
            "sma_crossover:fast=5,slow=20",
            "rsi:period=14,oversold=30,overbought=70",
        ]


async def test_the_dialog_shows_why_it_cannot_open(make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        problem = dialog.query_one("#problem")
        sma, rsi = dialog.rows
        sma.field("fast").value = "30"
        await until(pilot, lambda: "fast (30)" in str(problem.render()), "the reason")
        sma.field("fast").value = "5"
        dialog.query_one("#end").value = "2024-03-15"
        await until(pilot, lambda: "ktrdr-tui load AAPL" in str(problem.render()), "reason")
        await pilot.press("enter")
        await until(pilot, lambda: "only, not all of" in str(problem.render()), "refusal")
        assert app.session is None and app.screen is dialog
        # Unticking both strategies is a problem too.
        dialog.query_one("#end").value = LAST
        for row in (sma, rsi):
            row.query_one(".use", Checkbox).value = False
        await until(pilot, lambda: "No strategy ticked" in str(problem.render()), "no strategy")


async def test_keys_drive_the_session(make_app, tmp_path: Path) -> None:
    total = store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        session = await open_session(pilot)
        snapshot = snapshot_of(app)
        assert snapshot.state is PlaybackState.PAUSED
        assert snapshot.bars_processed == 0 and snapshot.bars_total == total
        assert snapshot.speed == 360
        await until(pilot, lambda: "space to play" in status(app), "the hint")

        # space plays: the clock moves at 360x (a bar every 1/6 s).
        await pilot.press("space")
        await until(pilot, lambda: snapshot_of(app).bars_processed >= 2, "bars to play")
        assert snapshot_of(app).state is PlaybackState.PLAYING
        await until(pilot, lambda: "▶ playing 360x" in status(app), "the status line")

        # + is the next stop, with the focus on the pane or on the slider.
        app.query_one(PlaybackPane).focus()
        await pilot.press("plus")
        await until(pilot, lambda: snapshot_of(app).speed == 3600, "3600x")
        assert app.query_one(SpeedSlider).speed == 3600
        app.query_one(SpeedSlider).focus()
        await pilot.press("minus")
        await until(pilot, lambda: snapshot_of(app).speed == 360, "360x")

        # space pauses.
        await pilot.press("space")
        await until(pilot, lambda: snapshot_of(app).state is PlaybackState.PAUSED, "pause")
        assert session.wait(TIMEOUT_S)
        paused_at = snapshot_of(app).bars_processed

        # . steps exactly one bar.
        await pilot.press("full_stop")
        await until(pilot, lambda: snapshot_of(app).bars_processed != paused_at, "a step")
        assert session.wait(TIMEOUT_S)
        assert snapshot_of(app).bars_processed == paused_at + 1
        assert snapshot_of(app).state is PlaybackState.PAUSED

        # g + a time seeks there (exchange time).
        await pilot.press("g")
        await until(pilot, lambda: on_screen(app, GoToDateScreen), "go-to dialog")
        await pilot.press(*"2024-03-06 10:00")
        await pilot.press("enter")
        target = pd.Timestamp("2024-03-06 10:00", tz="America/New_York")
        await until(pilot, lambda: snapshot_of(app).clock_ns == target.value, "the seek")
        # Two whole sessions and 30 minutes of the third.
        assert snapshot_of(app).bars_processed == 2 * 390 + 30
        await until(pilot, lambda: "Wed 2024-03-06 10:00:00 EST" in status(app), "clock")

        # home restarts: back to the first open, nothing processed.
        generation = snapshot_of(app).generation
        await pilot.press("home")
        await until(pilot, lambda: snapshot_of(app).generation > generation, "restart")
        assert session.wait(TIMEOUT_S)
        snapshot = snapshot_of(app)
        assert snapshot.bars_processed == 0 and snapshot.signals == 0
        assert snapshot.state is PlaybackState.PAUSED


async def test_signals_arrive_at_max_speed_and_show_on_the_chart(make_app, tmp_path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        session = await open_session(pilot)
        await pilot.press("plus", "plus")  # 360x → 3600x → max
        await until(pilot, lambda: snapshot_of(app).speed == 0, "max speed")
        await pilot.press("space")
        await until(pilot, lambda: snapshot_of(app).state is PlaybackState.DONE, "the end")
        assert session.wait(TIMEOUT_S)
        snapshot = snapshot_of(app)
        assert snapshot.signals > 0 and snapshot.bars_processed == snapshot.bars_total
        await until(pilot, lambda: "■ done max" in status(app), "the status line")
        chart = app.query_one(CandleChart)
        await until(pilot, lambda: chart.grid() is not None, "the chart")
        drawn = "".join(chart.grid().rows())
        assert "┃" in drawn
        assert "▲" in drawn or "▼" in drawn
        # The fills from the first bar charted on, each a letter on its bar.
        fills, first = snapshot.fills, int(chart.data.timestamps[0])
        assert [fill.time_ns for fill in chart.data.fills] == [
            t for t in fills.time_ns.tolist() if t >= first
        ]
        assert chart.data.fills and ("B" in drawn or "S" in drawn)
        # space at the end says what to do rather than nothing.
        await pilot.press("space")
        await pilot.pause()
        assert any("home restarts" in n.message for n in app._notifications)


async def test_a_missing_session_is_skipped_at_once_and_shown_as_a_gap(make_app, tmp_path) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        session = await adopt_a_week_without_wednesday(pilot, tmp_path / "store")
        tuesday_late = pd.Timestamp("2024-03-05 15:55", tz=ZONE)
        session.seek(tuesday_late)
        await until(pilot, lambda: snapshot_of(app).clock_ns == tuesday_late.value, "the seek")
        assert "gap:" not in status(app)
        # At 360x Tuesday's last 5 minutes take under a second, and Wednesday none (not 65 s).
        await pilot.press("space")
        await until(pilot, lambda: "Thu 2024-03-07" in status(app), "Thursday", timeout=10)
        assert "gap: 2024-03-06 missing" in status(app)
        await pilot.press("space")
        assert session.wait(TIMEOUT_S)
        # The chart shows the gap right after Tuesday's last bar.
        wednesday_open = session.market[0].sessions[2].open.value
        chart = app.query_one(CandleChart)
        await until(pilot, lambda: chart.data is not None and chart.data.gaps, "the gap")
        assert chart.data.gaps == (wednesday_open,)
        grid = chart.grid()
        tuesday_last = int(np.searchsorted(chart.data.timestamps, wednesday_open)) - 1
        assert grid.gap_columns == [grid.columns[tuesday_last] + 1]
        assert set(grid.column(grid.gap_columns[0])[:-1]) == {"┊"}


async def test_the_status_line_shows_the_account(make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:  # room for all of it
        session = await open_session(pilot)
        session.seek(pd.Timestamp("2024-03-06 11:45", tz=ZONE))
        assert session.wait(TIMEOUT_S)
        snapshot = session.snapshot()
        assert snapshot.position != 0 and snapshot.open_pnl != 0  # a trade open
        account = (
            f"position {snapshot.position:,}  cash {snapshot.cash:,.2f}  "
            f"equity {snapshot.equity:,.2f}  return {snapshot.return_pct:+.2f}%  "
            f"open P&L {snapshot.open_pnl:+,.2f}  "
            f"signals {snapshot.signals:,} ({snapshot.approved:,} approved)"
        )
        await until(pilot, lambda: status(app).splitlines()[-1] == account, "the account")
        assert f"bars {snapshot.bars_processed:,}/{snapshot.bars_total:,}" in status(app)


async def test_a_narrow_status_line_keeps_what_tells_most(make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test(size=(70, 24)) as pilot:
        session = await open_session(pilot)
        session.seek(pd.Timestamp("2024-03-06 11:45", tz=ZONE))
        assert session.wait(TIMEOUT_S)
        snapshot = session.snapshot()
        pane = app.query_one(PlaybackPane)
        await until(pilot, lambda: pane._snapshot is snapshot, "a poll")
        await pilot.pause()
        first, account = status(app).splitlines()
        width = app.query_one("#playback-status").content_size.width
        assert len(first) <= width and len(account) <= width
        assert first.startswith("AAPL 1m   Wed 2024-03-06 11:45:00 EST   ⏸ paused 360x")
        assert "bars" not in first and "signals" not in account  # the counts go first
        assert account.startswith(f"position {snapshot.position:,}  equity")  # then the cash
        assert f"return {snapshot.return_pct:+.2f}%" in account


async def test_the_day_quality_warns_below_the_sessions_own_minimum(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:  # room for every part of the line
        session = await adopt_the_week(pilot, tmp_path / "store", TradingRules(min_quality=80))
        pane = app.query_one(PlaybackPane)

        def quality_style(day_quality_pct: float) -> str:
            snapshot = replace(session.snapshot(), day_quality_pct=day_quality_pct)
            text = pane.status_text(session, snapshot)
            start = text.plain.index("day quality")
            return next(span.style for span in text.spans if span.start <= start < span.end)

        assert quality_style(90.0) == "$text-muted"  # not below 80: no signal is rejected
        assert quality_style(79.0) == "$warning"


PARTS = st.lists(
    st.tuples(st.integers(0, 3), st.text(alphabet="ab ", min_size=1, max_size=12)), max_size=8
)


@given(PARTS, st.integers(0, 60))
def test_fit_leaves_out_the_highest_ranks_first(parts, width: int) -> None:
    numbered = [(rank, [(f"{i}", ""), (text, "")]) for i, (rank, text) in enumerate(parts)]
    pieces = fit(numbered, width)
    kept = [int(number) for number, _ in pieces[::2]]
    assert kept == sorted(kept)  # in order
    dropped = set(range(len(parts))) - set(kept)
    assert all(parts[i][0] for i in dropped)  # rank 0 always stays
    length = sum(len(text) for text, _ in pieces)
    if not width:
        assert not dropped
    elif length > width:
        assert all(parts[i][0] == 0 for i in kept)  # too long only with rank 0 alone left
    for gone in dropped:  # nothing left out that tells more than, or as much as and
        for stays in kept:  # comes before, a part kept
            assert parts[gone][0] > parts[stays][0] or (
                parts[gone][0] == parts[stays][0] and gone > stays
            )


def test_the_gap_names_one_missing_session_or_the_whole_run() -> None:
    days = [pd.Timestamp(day) for day in ("2024-03-12", "2024-03-13", "2024-03-14")]
    assert gap_text(days[:1]) == "gap: 2024-03-12 missing"
    assert gap_text(days) == "gap: 2024-03-12 … 2024-03-14 missing (3 sessions)"


async def test_t_cycles_the_chart_timeframe(make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        session = await open_session(pilot)
        session.seek(pd.Timestamp("2024-03-05 15:00", tz="UTC"))
        assert session.wait(TIMEOUT_S)
        pane = app.query_one(PlaybackPane)
        await until(pilot, lambda: pane._snapshot is session.snapshot(), "a poll")
        seen = []
        for _ in range(5):
            await pilot.press("t")
            seen.append(pane.chart_timeframe(session.snapshot()))
        assert seen == ["5m", "15m", "30m", "1h", "1m"]
        await pilot.press("t")
        await until(pilot, lambda: "chart 5m" in status(app), "the status line")


async def test_s_cycles_the_charted_symbol_of_a_session_of_several(make_app) -> None:
    market = [minute_bars(symbol=symbol) for symbol in SYMBOLS]
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        session = await adopt(pilot, market, rules=CASH_FOR_ALL)
        session.seek(pd.Timestamp("2024-03-05 11:45", tz=ZONE))
        assert session.wait(TIMEOUT_S)
        assert len(set(session.snapshot().positions)) > 1  # the account line tells them apart

        async def charting(place: int, symbol: str) -> None:
            shown = f"{symbol} 1m {place}/3   "  # the symbol charted, which of how many
            await until(pilot, lambda: status(app).startswith(shown), shown)
            await until(pilot, lambda: charted(app, market) == symbol, f"{symbol}'s chart")
            held = session.snapshot().positions[place - 1]
            assert status(app).splitlines()[1].startswith(f"{symbol} {held:,}  cash ")

        await charting(1, "AAPL")
        for place, symbol in [(2, "MSFT"), (3, "SPY"), (1, "AAPL")]:
            await pilot.press("s")
            await charting(place, symbol)
        assert not app._notifications


async def test_s_in_a_session_of_one_symbol_says_so(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        session = await adopt(pilot, [minute_bars()])
        await pilot.press("full_stop")
        await until(pilot, lambda: status(app).startswith("AAPL 1m   "), "the status line")
        await pilot.press("s")
        await until(pilot, lambda: app._notifications, "a notification")
        assert [n.message for n in app._notifications] == [ONE_SYMBOL]
        assert session.snapshot().chart_symbol == "AAPL"


async def test_a_click_on_the_slider_sets_the_speed(make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        await open_session(pilot)
        slider = app.query_one(SpeedSlider)
        ticks = TrackLayout.for_width(slider.content_size.width).ticks
        await pilot.click(SpeedSlider, offset=(ticks[SPEED_STOPS.index(60)], 0))
        await until(pilot, lambda: snapshot_of(app).speed == 60, "60x")


async def test_opening_another_session_stops_the_first(make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        first = await open_session(pilot)
        await pilot.press("o")
        await until(pilot, lambda: on_screen(app, OpenSessionScreen), "the dialog")
        dialog = app.screen
        await until(pilot, lambda: "Ready" in str(dialog.query_one("#problem").render()), "ok")
        await pilot.press("enter")
        await until(pilot, lambda: app.session is not first, "the second session")
        assert first.snapshot().state is PlaybackState.STOPPED
        assert app.session.snapshot().state is PlaybackState.PAUSED


async def test_a_failed_session_is_told_not_a_crash(make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        session = await open_session(pilot)

        def broken(target: int) -> None:
            raise RuntimeError("a stage broke")

        session._advance = broken  # the worker's one way into the pipeline
        await pilot.press("space")
        await until(pilot, lambda: snapshot_of(app).state is PlaybackState.FAILED, "failure")
        await until(pilot, lambda: "a stage broke" in status(app), "the status line")
        await until(
            pilot,
            lambda: any("a stage broke" in n.message for n in app._notifications),
            "the notification",
        )
        await pilot.press("space")  # still no crash
        await pilot.pause()
        assert app.is_running


async def test_the_status_line_warns_when_the_session_cannot_keep_up(make_app, tmp_path) -> None:
    from dataclasses import replace

    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        session = await open_session(pilot)
        pane = app.query_one(PlaybackPane)
        calm = replace(session.snapshot(), state=PlaybackState.PLAYING, speed=3600.0)
        assert pane.overrun_warning(session, calm) == ""
        behind = replace(calm, overruns=calm.overruns + 1, behind_s=300.0)
        assert pane.overrun_warning(session, behind) == "⚠ can't keep up at 3600x"
        caught_up = replace(behind, behind_s=0.0)
        assert pane.overrun_warning(session, caught_up) == "⚠ can't keep up at 3600x"  # a while
        pane._warned_at -= 10  # the last overrun long ago, and not behind: no warning
        assert pane.overrun_warning(session, caught_up) == ""
        # Far behind warns even without a new overrun.
        assert pane.overrun_warning(session, replace(caught_up, behind_s=600.0)) != ""
        assert pane.overrun_warning(session, replace(caught_up, speed=0.0)) == ""


# -- go to date -------------------------------------------------------------------------------

ZONE = "America/New_York"


@pytest.fixture(scope="module")
def week():
    return calendar_for().sessions_for_dates(pd.Timestamp(FIRST), pd.Timestamp(LAST))


def test_a_date_goes_to_its_session_open(week) -> None:
    when, text = seek_target("2024-03-06", week, ZONE)
    assert when == pd.Timestamp("2024-03-06 09:30", tz=ZONE)
    assert text == "→ Wed 2024-03-06 09:30 EST (session open)"


def test_a_datetime_is_exchange_time(week) -> None:
    when, _ = seek_target("2024-03-06 10:15", week, ZONE)
    assert when == pd.Timestamp("2024-03-06 15:15", tz="UTC")
    when, _ = seek_target("2024-03-06T15:15Z", week, ZONE)
    assert when == pd.Timestamp("2024-03-06 15:15", tz="UTC")


def test_a_bare_time_is_on_the_current_session(week) -> None:
    when, _ = seek_target("11:00", week, ZONE, current=pd.Timestamp("2024-03-07"))
    assert when == pd.Timestamp("2024-03-07 11:00", tz=ZONE)


def test_a_closed_day_goes_to_the_next_open() -> None:
    sessions = calendar_for().sessions_for_dates(pd.Timestamp("2024-03-01"), pd.Timestamp(LAST))
    when, text = seek_target("2024-03-02", sessions, ZONE)  # a Saturday
    assert when == pd.Timestamp("2024-03-04 09:30", tz=ZONE)
    assert "next session's open" in text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "type a date"),
        ("soon", "not a date or time"),
        ("2024-02-01", "outside this playback (2024-03-04 … 2024-03-08)"),
        ("2024-03-11", "outside this playback"),
        ("2024-03-08 17:00", "outside this playback"),
    ],
)
def test_what_is_not_in_the_playback_is_refused(week, text: str, reason: str) -> None:
    with pytest.raises(SeekError, match=re.escape(reason)):
        seek_target(text, week, ZONE)
