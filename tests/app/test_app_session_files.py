"""The open-session dialog's symbols and session files, driven by keys: several symbols in one
field, each checked against the store; ctrl+s saves the fields as a session file, ctrl+o opens
one back into them, and `ktrdr-tui backtest --session` runs the saved file to the same results
as the dialog's session."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from textual.widgets import Checkbox, Input, OptionList, Select

from engine.session.logs import signals_csv
from engine.session.session_file import read_session_file, sessions_dir
from ktrdr_tui.screens.open_session import OpenSessionScreen, RuleFields, parse_symbols
from ktrdr_tui.screens.session_files import NO_FILES, SaveSessionScreen, SessionFilesScreen
from tests.support.app_flows import (
    open_and_play,
    open_dialog,
    rules_opened,
    shows,
    store_minute_bars,
    tab_to,
)
from tests.support.app_harness import on_screen, until
from tests.support.cli_run import run
from tests.support.several_symbols import FIRST, LAST


def store_two(data_dir: Path) -> None:
    """AAPL and MSFT 1m bars of the week FIRST..LAST."""
    store_minute_bars(data_dir)
    store_minute_bars(data_dir, symbol="MSFT")


def problem(dialog: OpenSessionScreen) -> str:
    return str(dialog.query_one("#problem").render())


async def type_symbols(pilot, dialog: OpenSessionScreen, text: str) -> None:
    field = dialog.query_one("#symbols", Input)
    await tab_to(pilot, field)
    field.value = ""
    await pilot.press(*text)


async def save_as(pilot, name: str) -> Path:
    """ctrl+s, the name, enter: the file written."""
    app = pilot.app
    await pilot.press("ctrl+s")
    await until(pilot, lambda: on_screen(app, SaveSessionScreen), "the save dialog")
    field = app.screen.query_one("#name", Input)
    field.value = name
    await pilot.press("enter")
    await until(pilot, lambda: on_screen(app, OpenSessionScreen), "the dialog again")
    return sessions_dir() / f"{name}.toml"


async def picker(pilot) -> SessionFilesScreen:
    app = pilot.app
    await pilot.press("ctrl+o")
    await until(pilot, lambda: on_screen(app, SessionFilesScreen), "the picker")
    screen = app.screen
    await until(pilot, lambda: not shows(screen.query_one("#line"), "Reading"), "the list")
    return screen


def fields_of(dialog: OpenSessionScreen) -> dict:
    """Every field a person sets: symbols, range, each row (ticked, values, timeframe) in
    order, each rule."""
    rows = [
        (
            row.strategy.name,
            row.used,
            {p.name: row.field(p.name).value for p in row.strategy.parameters()},
            row.query_one(".timeframe", Select).value,
        )
        for row in dialog.rows
    ]
    rules = dialog.query_one(RuleFields)
    return {
        "timeframe": dialog.choice.timeframe,
        "symbols": dialog.query_one("#symbols", Input).value,
        "range": (dialog.query_one("#start", Input).value, dialog.query_one("#end", Input).value),
        "rows": rows,
        "rules": {o: rules.field(o).value for o in ("cash", "size", "commission", "short")},
    }


def test_the_symbols_field_reads_one_or_several() -> None:
    assert parse_symbols(" aapl, MSFT  spy ") == ("AAPL", "MSFT", "SPY")
    for text, reason in [
        ("", "No symbol"),
        ("AAPL aapl", "AAPL is typed twice"),
        ("AAPL MS$FT", "bad symbol 'MS$FT'"),
    ]:
        try:
            parse_symbols(text)
        except ValueError as exc:
            assert reason in str(exc)
        else:
            raise AssertionError(f"{text!r} was taken")


async def test_several_symbols_are_each_checked_and_open_one_session(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        assert dialog.query_one("#symbols", Input).value == "AAPL"  # the dataset's
        await type_symbols(pilot, dialog, "AAPL MSFT")
        await until(pilot, lambda: "no MSFT 1m bars in the store" in problem(dialog), "why")
        await pilot.press("enter")
        await pilot.pause()
        assert app.session is None and app.screen is dialog
        store_minute_bars(tmp_path / "store", symbol="MSFT")  # loaded meanwhile
        await type_symbols(pilot, dialog, "aapl, msft")
        await until(pilot, lambda: "Ready" in problem(dialog), "the check")
        session = await open_and_play(pilot)
        assert session.symbols == ("AAPL", "MSFT")
        assert {signal.symbol for signal in session.signal_log} == {"AAPL", "MSFT"}


async def test_a_saved_session_opens_back_into_every_field(make_app, tmp_path: Path) -> None:
    store_two(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        await type_symbols(pilot, dialog, "MSFT AAPL")
        dialog.query_one("#start", Input).value = "2024-03-05"
        sma, rsi = dialog.rows
        await tab_to(pilot, rsi.field("period"))
        await pilot.press("ctrl+n")  # a second rsi: period 10 on 5m bars
        copy = dialog.rows[2]
        copy.field("period").value = "10"
        copy.query_one(Select).value = "5m"
        sma.query_one(".use", Checkbox).value = False
        fields = await rules_opened(pilot, dialog)
        fields.field("size").value = "10%"
        fields.field("commission").value = "0.005"
        fields.field("short").value = True
        await until(pilot, lambda: "Ready" in problem(dialog), "the check")
        saved = fields_of(dialog)
        path = await save_as(pilot, "two-rsi")
        assert read_session_file(path).symbols == ("MSFT", "AAPL")
        # Everything changed, then the file opened: every field as it was saved.
        await type_symbols(pilot, dialog, "AAPL")
        dialog.query_one("#end", Input).value = "2024-03-06"
        fields.field("size").value = "200"
        fields.field("short").value = False
        rsi.field("period").value = "3"
        sma.query_one(".use", Checkbox).value = True
        screen = await picker(pilot)
        files = screen.query_one("#files", OptionList)
        assert files.option_count == 1
        assert str(files.get_option_at_index(0).prompt) == (
            f"two-rsi  MSFT AAPL 1m 2024-03-05 → {LAST} · 2 strategies"
        )
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is dialog, "the dialog")
        await until(pilot, lambda: "Ready" in problem(dialog), "the check")
        loaded = fields_of(dialog)
        # The rows in the file's order: the two rsi first, then sma unticked.
        assert [row[:2] for row in loaded["rows"]] == [
            ("rsi", True),
            ("rsi", True),
            ("sma_crossover", False),
        ]
        ticked = [row for row in saved["rows"] if row[1]]
        assert loaded["rows"][:2] == ticked
        assert {k: v for k, v in loaded.items() if k != "rows"} == {
            k: v for k, v in saved.items() if k != "rows"
        }
        assert dialog.session_file(dialog.choice) == read_session_file(path)


async def test_a_saved_session_runs_in_the_cli_to_the_same_results(
    make_app, tmp_path: Path, capsys
) -> None:
    """The issue's round trip: the app saves, `backtest --session` runs it, same results."""
    data_dir = tmp_path / "store"
    store_two(data_dir)
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        await type_symbols(pilot, dialog, "AAPL MSFT")
        dialog.rows[0].field("fast").value = "3"
        dialog.rows[0].query_one(Select).value = "5m"
        fields = await rules_opened(pilot, dialog)
        fields.field("size").value = "10%"
        fields.field("slippage").value = "2bp"
        await until(pilot, lambda: "Ready" in problem(dialog), "the check")
        path = await save_as(pilot, "round-trip")
        await tab_to(pilot, dialog.query_one("#symbols", Input))  # enter there opens
        session = await open_and_play(pilot)
        in_app = (signals_csv(session.signal_log), session.results().statistics.to_json())
    out_csv = tmp_path / "signals.csv"
    code, out, err = run(
        capsys,
        "backtest",
        "--session",
        str(path),
        "--data-dir",
        str(data_dir),
        "--signals-out",
        str(out_csv),
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["symbols"] == ["AAPL", "MSFT"]
    assert report["strategies"][0] == "sma_crossover:fast=3,slow=20,timeframe=5m"
    assert out_csv.read_text() == in_app[0]
    assert len(list(csv.DictReader(io.StringIO(in_app[0])))) == report["signals"] > 0
    statistics = json.loads(json.dumps(in_app[1]))  # as JSON writes them (NaN: null)
    assert {name: report[name] for name in statistics} == statistics


async def test_a_bad_file_is_one_line_in_the_picker_and_changes_nothing(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    folder = sessions_dir()
    folder.mkdir(parents=True)
    (folder / "bad-key.toml").write_text('symbol = "AAPL"\n')
    (folder / "macd.toml").write_text('[[strategy]]\nname = "macd"\n')
    (folder / "daily.toml").write_text('timeframe = "1d"\n')
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        before = fields_of(dialog)
        screen = await picker(pilot)
        files = screen.query_one("#files", OptionList)
        prompts = [str(files.get_option_at_index(i).prompt) for i in range(3)]
        assert prompts == [
            "bad-key  ⚠ cannot be read (enter says why)",
            "daily    1d",
            "macd     1 strategy",
        ]
        line = screen.query_one("#line")
        folder = "~/config/ktrdr-tui/sessions"  # under the (test's) home
        expected = [
            f"{folder}/bad-key.toml: symbol: unknown key (a list: symbols = [...])",
            f"{folder}/daily.toml: no stored 1d bars to play it on: load some in Jobs",
            f"{folder}/macd.toml: [[strategy]] 1: unknown strategy 'macd'",
        ]
        for index, text in enumerate(expected):
            files.highlighted = index
            await pilot.press("enter")
            await until(pilot, lambda text=text: shows(line, text), text)
            assert "\n" not in str(line.render()).strip()
            assert app.screen is screen
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is dialog, "the dialog")
        assert fields_of(dialog) == before


async def test_a_file_of_some_keys_leaves_the_other_fields_be(make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")
    folder = sessions_dir()
    folder.mkdir(parents=True)
    (folder / "cheap.toml").write_text('cash = 5000\n[[strategy]]\nname = "rsi"\nperiod = 10\n')
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        dialog.query_one("#start", Input).value = "2024-03-05"
        dialog.query_one(RuleFields).field("size").value = "7"
        await until(pilot, lambda: "Ready" in problem(dialog), "the check")
        before = fields_of(dialog)
        await picker(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is dialog, "the dialog")
        await until(pilot, lambda: "Ready" in problem(dialog), "the check")
        after = fields_of(dialog)
        assert (after["symbols"], after["range"]) == ("AAPL", ("2024-03-05", LAST))
        # The rules the file leaves out are config.toml's (the defaults here), not the fields'.
        assert after["rules"] == {"cash": "5000", "size": "100", "commission": "0", "short": False}
        assert before["rules"]["size"] == "7"
        assert [(name, used) for name, used, *_ in after["rows"]] == [
            ("rsi", True),
            ("sma_crossover", False),
        ]
        assert after["rows"][0][2]["period"] == "10"


async def test_no_saved_session_says_how_to_make_one(make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        await open_dialog(pilot)
        screen = await picker(pilot)
        assert shows(screen.query_one("#line"), NO_FILES)
        assert not screen.query_one("#files").display


async def test_saving_refuses_what_a_file_cannot_hold(make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        await tab_to(pilot, dialog.rows[0].field("fast"))
        await pilot.press(*"5..9")  # a sweep's range
        await until(pilot, lambda: "Sweep" in problem(dialog), "the sweep")
        await pilot.press("ctrl+s")
        await until(
            pilot, lambda: "Cannot save: a session file holds one backtest" in problem(dialog)
        )
        assert app.screen is dialog
        dialog.rows[0].field("fast").value = "5"
        dialog.query_one("#start", Input).value = "2024-13-01"
        await until(pilot, lambda: "2024-13-01" in problem(dialog), "the check")
        await pilot.press("ctrl+s")
        await until(
            pilot, lambda: "Cannot save: start '2024-13-01' is not a date" in problem(dialog)
        )
        assert app.screen is dialog and not sessions_dir().exists()


async def test_the_save_dialog_checks_the_name_and_says_what_it_replaces(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        await open_dialog(pilot)
        path = await save_as(pilot, "mine")
        assert path.exists() and read_session_file(path).symbols == ("AAPL",)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: on_screen(app, SaveSessionScreen), "the save dialog")
        screen = app.screen
        field, line = screen.query_one("#name", Input), screen.query_one("#where")
        assert field.value == "AAPL-1m"
        field.value = "../escape"
        await until(pilot, lambda: shows(line, "a name of letters, digits"), "the refusal")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        field.value = "mine"
        await until(pilot, lambda: shows(line, "(replaces the file of that name)"), "the line")
        assert shows(line, "Saves ~/config/ktrdr-tui/sessions/mine.toml (replaces")
        await pilot.press("escape")
        await until(pilot, lambda: on_screen(app, OpenSessionScreen), "the dialog")
    assert FIRST in path.read_text()
