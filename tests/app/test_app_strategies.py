"""The open-session dialog lists every strategy the catalog finds, the user's too (from the
strategies folder, an installed package or the app's `--strategy-file`), each with a field per
parameter, its defaults filled in, checked as typed; several at once, copies of one with their
own values and timeframe; and runs them. A file that cannot be loaded is a line in the dialog,
never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widget import Widget
from textual.widgets import Checkbox, Input, OptionList, Select

from engine.session.playback import PlaybackSession
from engine.strategy.builtins import BUILTINS
from engine.strategy.catalog import BUILT_IN, CatalogEntry, builtin_catalog, strategies_dir
from ktrdr_tui.cli import app_config, build_parser
from ktrdr_tui.screens import open_session
from ktrdr_tui.screens.open_session import (
    NO_STRATEGY,
    STRATEGIES_HINT,
    StrategyRow,
    dataset_choices,
)
from tests.support.app_flows import (
    open_and_play,
    open_dialog,
    shows,
    store_minute_bars,
    tab_to,
    under,
)
from tests.support.app_harness import until
from tests.support.plugins import EXAMPLES, LOOKUP_SOURCE, in_strategies_dir, install_package
from tests.support.several_symbols import FIRST, LAST

VOLUME_BREAKOUT = EXAMPLES / "volume_breakout.py"  # high, low and volume; int, float, bool
BUILTIN_SPECS = ("sma_crossover:fast=5,slow=20", "rsi:period=14,oversold=30,overbought=70")


def values(row: StrategyRow) -> dict[str, str | bool]:
    return {p.name: row.field(p.name).value for p in row.strategy.parameters()}


async def run_alone(pilot, dialog, row: StrategyRow) -> PlaybackSession:
    """Untick every other row, open (enter), play at full speed to the end: the session."""
    for other in dialog.rows:
        other.query_one(".use", Checkbox).value = other is row
    await until(pilot, lambda: shows(dialog.query_one("#problem"), "Ready"), "the check")
    return await open_and_play(pilot)


def signalled(session: PlaybackSession) -> set[str]:
    """The strategies (labels) that signalled."""
    return {signal.strategy for signal in session.signal_log}


async def test_the_dialog_lists_and_runs_a_strategy_from_the_folder(make_app, tmp_path) -> None:
    store_minute_bars(tmp_path / "store")
    mine = in_strategies_dir("volume_breakout.py", VOLUME_BREAKOUT.read_text())
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        assert [row.strategy.name for row in dialog.rows] == [
            *(cls.name for cls in BUILTINS),
            "volume_breakout",
        ]
        row = dialog.rows[-1]
        # A field per parameter, typed by its annotation, the defaults filled in.
        assert values(row) == {"lookback": "20", "volume_factor": "1", "confirm_sells": False}
        assert isinstance(row.field("lookback"), Input)
        assert isinstance(row.field("confirm_sells"), Checkbox)
        about = dialog.query_one("#strategy-about")
        assert shows(about, STRATEGIES_HINT)
        await tab_to(pilot, row.field("lookback"))
        await until(pilot, lambda: shows(about, f"volume_breakout (file {mine}): Buy a close"))
        # Checked as typed: a whole-number field takes no letter; an empty one says why under
        # the row, and so does the strategy's own rule, once the check has asked it.
        await pilot.press("x")
        assert row.field("lookback").value == "20"
        await pilot.press("backspace")
        empty = "volume_breakout: lookback must be a whole number, got ''"
        await until(pilot, lambda: shows(under(row), empty), "the field's problem")
        await pilot.press("1", "0")
        await until(pilot, lambda: not under(row).display, "the problem to go")
        await pilot.press("tab", "minus", "1")
        negative = "volume_breakout: volume_factor must be 0 or more, got -1"
        await until(pilot, lambda: shows(under(row), negative), "the strategy's rule")
        await until(pilot, lambda: shows(dialog.query_one("#problem"), negative))
        await pilot.press("backspace", "backspace", "1", "full_stop", "5", "tab", "space")
        assert values(row) == {"lookback": "10", "volume_factor": "1.5", "confirm_sells": True}
        await until(pilot, lambda: not under(row).display, "the problem to go")
        session = await run_alone(pilot, dialog, row)
        label = "volume_breakout:lookback=10,volume_factor=1.5,confirm_sells=true"
        assert session.signal_log.strategies == (label,)
        assert signalled(session) == {label}


async def test_a_file_that_cannot_be_loaded_is_said_and_the_others_listed(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    folder = strategies_dir()
    folder.mkdir(parents=True)
    (folder / "draft.py").write_text("from engine.strategy import Strategy\nundefined_name\n")
    (folder / "breakout.py").write_text((EXAMPLES / "breakout.py").read_text())
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        problems = dialog.query_one("#strategy-problems")
        assert problems.display
        assert shows(
            problems,
            f"Skipped: file {folder / 'draft.py'}: cannot load: NameError: name "
            "'undefined_name' is not defined (line 2)",
        )
        assert [row.strategy.name for row in dialog.rows][-1] == "breakout"
        assert values(dialog.rows[-1]) == {"lookback": "20"}
        assert shows(dialog.query_one("#problem"), "Ready")


async def test_the_dialog_lists_and_runs_a_strategy_of_an_installed_package(
    make_app, tmp_path: Path, monkeypatch
) -> None:
    store_minute_bars(tmp_path / "store")
    install_package(
        tmp_path / "site",
        "acme_dialog",
        VOLUME_BREAKOUT.read_text(),
        {"volume_breakout": "acme_dialog:VolumeBreakout"},
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        row = dialog.rows[-1]
        assert values(row) == {"lookback": "20", "volume_factor": "1", "confirm_sells": False}
        await tab_to(pilot, row.field("lookback"))
        about = dialog.query_one("#strategy-about")
        origin = "volume_breakout (entry point volume_breakout (acme_dialog))"
        await until(pilot, lambda: shows(about, origin))
        assert not dialog.query_one("#strategy-problems").display
        session = await run_alone(pilot, dialog, row)
        assert signalled(session) == {
            "volume_breakout:lookback=20,volume_factor=1,confirm_sells=false"
        }


async def test_the_app_offers_and_runs_a_strategy_file_named_on_its_command_line(
    make_app, tmp_path: Path, monkeypatch
) -> None:
    store_minute_bars(tmp_path / "store")
    (tmp_path / "mine.py").write_text(VOLUME_BREAKOUT.read_text())
    monkeypatch.chdir(tmp_path)  # a path relative to where the app starts
    config = app_config(build_parser().parse_args(["--strategy-file", "mine.py"]))
    assert config.strategy_files == (tmp_path / "mine.py",)
    app = make_app(strategy_files=config.strategy_files)
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        row = dialog.rows[-1]
        await tab_to(pilot, row.field("lookback"))
        about = dialog.query_one("#strategy-about")
        await until(pilot, lambda: shows(about, f"volume_breakout (file {tmp_path / 'mine.py'})"))
        session = await run_alone(pilot, dialog, row)
        assert signalled(session) == {
            "volume_breakout:lookback=20,volume_factor=1,confirm_sells=false"
        }


async def test_copies_of_a_strategy_run_side_by_side_with_their_own_values_and_timeframe(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        sma = dialog.rows[0]
        await tab_to(pilot, sma.field("fast"))
        await pilot.press("ctrl+n")
        assert [row.strategy.name for row in dialog.rows] == ["sma_crossover"] * 2 + ["rsi"]
        copy = dialog.rows[1]
        assert app.focused is copy.field("fast")
        assert values(copy) == values(sma) == {"fast": "5", "slow": "20"}
        # The same spec twice says so: one must differ.
        twice = "sma_crossover:fast=5,slow=20 is ticked twice: change a value or the timeframe"
        await until(pilot, lambda: shows(dialog.query_one("#problem"), twice))
        await pilot.press("1", "0", "tab", "3", "0")
        # The timeframe from the keyboard: back to the copy's choice, open it, one down, pick.
        await pilot.press("shift+tab", "shift+tab")
        assert isinstance(app.focused, Select)
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: copy.timeframe == "5m", "the copy's timeframe")
        assert sma.timeframe is None  # the session's own
        await until(pilot, lambda: shows(dialog.query_one("#problem"), "Ready"), "the check")
        session = await open_and_play(pilot)
        copied = "sma_crossover:fast=10,slow=30,timeframe=5m"
        assert session.signal_log.strategies == (BUILTIN_SPECS[0], copied, BUILTIN_SPECS[1])
        assert {BUILTIN_SPECS[0], copied} <= signalled(session)


async def test_ctrl_r_removes_a_copy_and_every_strategy_keeps_a_row(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        said = lambda: [n.message for n in app._notifications]  # noqa: E731
        await pilot.press("ctrl+n")  # on the datasets: no strategy to copy
        assert "Move to a strategy (tab) to add a copy of it." in said()
        rsi = dialog.rows[1]
        await tab_to(pilot, rsi.field("oversold"))
        await pilot.press("ctrl+n", "ctrl+n")
        assert [row.strategy.name for row in dialog.rows] == ["sma_crossover"] + ["rsi"] * 3
        last = dialog.rows[-1]
        assert app.focused is last.field("period")
        await pilot.press("ctrl+r")
        assert dialog.rows == [dialog.rows[0], rsi, dialog.rows[2]] and last not in dialog.rows
        assert app.focused is dialog.rows[2].field("period")  # the copy before it
        await pilot.press("ctrl+r")
        assert dialog.rows[1:] == [rsi] and app.focused is rsi.field("period")
        await pilot.press("ctrl+r")
        assert dialog.rows[1:] == [rsi]
        assert "rsi keeps one row: untick it (space) to leave it out." in said()


async def test_the_check_reads_only_the_rows_whose_fields_are_all_in(
    make_app, tmp_path: Path
) -> None:
    """ctrl+n mounts a row and ctrl+r removes one while the check's timer runs beside them:
    a row whose fields are not in yet, or are going, is not one of the dialog's rows (the
    check once read a copy before its checkbox was in, and the app died of it)."""
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        sma, rsi = dialog.rows
        copy = StrategyRow(CatalogEntry(sma.strategy, BUILT_IN), "strategy-copy", builtin_catalog())
        mounting = dialog.query_one("#strategies").mount(copy)
        assert copy in dialog.query(StrategyRow) and not copy.query(".use")  # composed later
        assert dialog.rows == [sma, rsi]
        assert not dialog.sweeping  # reads every row's checkbox
        await mounting
        assert dialog.rows == [sma, rsi, copy] and copy.used
        removing = copy.remove()
        assert dialog.rows == [sma, rsi]
        await removing
        assert copy not in dialog.query(StrategyRow) and not dialog.sweeping


async def test_the_store_is_read_once_every_strategy_row_is_in_with_its_timeframe_list(
    make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dialog's thread reads the catalog, then the store, whose first dataset it proposes
    and checks: it goes on to the store only once every strategy's row is in, the list of
    its timeframes too (hidden until a dataset says which). The check once read a row before
    its checkbox was in, the thread died of it, and the dialog said "Reading the store…" for
    ever; or it read a list mounted with the first dataset before it was in, and said
    "timeframe Select.NULL cannot be read"."""
    store_minute_bars(tmp_path / "store")
    app = make_app()
    when_read: list[list[tuple[bool, bool]]] = []

    def choices(store, calendar):
        rows = app.screen.query(StrategyRow)
        when_read.append([(row.is_mounted, bool(row.query(".timeframe"))) for row in rows])
        return dataset_choices(store, calendar)

    monkeypatch.setattr(open_session, "dataset_choices", choices)
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        assert when_read == [[(True, True)] * len(BUILTINS)] and len(dialog.rows) == len(BUILTINS)
        for row in dialog.rows:
            timeframes = row.query_one(".timeframe", Select)
            assert timeframes.display and timeframes.value == "1m" and row.timeframe is None


async def test_the_strategy_says_how_its_values_go_together_under_its_row(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        sma, rsi = dialog.rows
        problem = dialog.query_one("#problem")
        await tab_to(pilot, sma.field("fast"))
        await pilot.press("3", "0")
        reason = "sma_crossover: fast (30) must be less than slow (20)"
        await until(pilot, lambda: shows(under(sma), reason), "the strategy's reason")
        assert shows(problem, reason) and not under(rsi).display
        await pilot.press("enter")  # refused, with the reason
        await until(pilot, lambda: shows(problem, reason), "the refusal")
        assert app.session is None
        await pilot.press("backspace", "backspace", "5")
        await until(pilot, lambda: not under(sma).display, "the reason to go")
        await until(pilot, lambda: shows(problem, "Ready"), "the check")
        for row in (sma, rsi):
            row.query_one(".use", Checkbox).value = False
        await until(pilot, lambda: shows(problem, NO_STRATEGY), "no strategy")


async def test_a_strategy_whose_setup_raises_is_named_under_its_row_and_can_be_left_out(
    make_app, tmp_path: Path
) -> None:
    """A bug in a user's `setup` is a line under its row (the check never dies with it)."""
    store_minute_bars(tmp_path / "store")
    in_strategies_dir("lookup.py", LOOKUP_SOURCE)
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("2", "o")
        await until(pilot, lambda: len(getattr(app.screen, "rows", ())) == 3, "the rows")
        dialog = app.screen
        row = dialog.rows[-1]
        reason = "lookup: setup failed: KeyError: 5"
        await until(pilot, lambda: shows(under(row), reason), "the strategy's error")
        assert shows(dialog.query_one("#problem"), reason)
        row.query_one(".use", Checkbox).value = False
        await until(pilot, lambda: shows(dialog.query_one("#problem"), "Ready"), "the check")


async def test_the_timeframes_offered_are_those_the_dataset_publishes(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    store_minute_bars(tmp_path / "store", symbol="MSFT", timeframe="5m")
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        sma, rsi = dialog.rows

        async def offered(row: StrategyRow) -> list[str]:
            """The choices the row's list shows when opened from the keyboard."""
            await tab_to(pilot, row.query_one(Select))
            await pilot.press("down")
            await until(pilot, lambda: isinstance(app.focused, OptionList), "the open list")
            overlay = app.focused
            choices = [
                str(overlay.get_option_at_index(i).prompt) for i in range(overlay.option_count)
            ]
            await pilot.press("escape")
            return choices

        assert await offered(sma) == ["1m", "5m", "15m", "30m", "1h"]
        sma.query_one(Select).value = "30m"
        rsi.query_one(Select).value = "5m"
        datasets = dialog.query_one("#datasets", OptionList)
        datasets.highlighted = 1  # MSFT 5m
        await until(pilot, lambda: rsi.timeframe is None, "rsi back on the session's bars")
        assert await offered(rsi) == ["5m", "15m", "30m", "1h"]
        assert sma.timeframe == "30m"  # still offered: kept
        await until(pilot, lambda: shows(dialog.query_one("#problem"), "Ready"), "the check")
        start, end, specs = dialog.fields()
        assert (start, end) == (FIRST, LAST)  # MSFT's range
        assert [spec.label for spec in specs] == [
            "sma_crossover:fast=5,slow=20,timeframe=30m",
            BUILTIN_SPECS[1],
        ]


async def test_at_80x24_a_long_list_scrolls_and_the_buttons_stay_in_view(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    in_strategies_dir("volume_breakout.py", VOLUME_BREAKOUT.read_text())
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        await tab_to(pilot, dialog.rows[0].field("fast"))
        for _ in range(5):
            await pilot.press("ctrl+n")
        assert len(dialog.rows) == 8
        screen = dialog.region

        def in_view(widget: Widget) -> bool:
            return screen.contains_region(widget.region)

        body = dialog.query_one("#dialog")
        assert body.max_scroll_y > 0  # more than fits: it scrolls
        last = dialog.rows[-1].field("confirm_sells")
        await tab_to(pilot, last)
        await pilot.pause()
        assert body.scroll_y > 0 and in_view(last)
        for widget in ("#open", "#cancel", "#strategy-about", "#problem"):
            assert in_view(dialog.query_one(widget)), widget
        assert shows(dialog.query_one("#strategy-about"), "volume_breakout (file")
