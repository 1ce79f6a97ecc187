"""`ktrdr-tui strategies` (list, `--json`, `--new`) and user strategies in `backtest`: from
`--strategy-file`, from the strategies folder and from an installed package."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.session.bars import read_session_bars
from engine.strategy.builtins import BUILTINS
from engine.strategy.catalog import strategies_dir
from tests.support.bar_fixtures import FIRST, LAST, store_bars
from tests.support.cli_run import backtest, run
from tests.support.plugins import EXAMPLES, LOOKUP_SOURCE, in_strategies_dir, install_package

VOLUME_BREAKOUT = EXAMPLES / "volume_breakout.py"


def expected_volume_breakouts(data_dir: Path, lookback: int = 20) -> list[tuple[int, str]]:
    """(bar start ns, action) of every signal volume_breakout (defaults) gives, computed here
    from the stored bars, whole, without the session."""
    calendar = calendar_for()
    bars = read_session_bars(
        BarStore(data_dir, calendar),
        calendar,
        "AAPL",
        "1m",
        pd.Timestamp(FIRST),
        pd.Timestamp(LAST),
    )
    signals = []
    for t in range(lookback, len(bars)):
        before = slice(t - lookback, t)
        heavy = bars.volume[t] > bars.volume[before].mean()
        if bars.close[t] > bars.high[before].max() and heavy:
            signals.append((int(bars.timestamps[t]), "BUY"))
        elif bars.close[t] < bars.low[before].min():
            signals.append((int(bars.timestamps[t]), "SELL"))
    return signals


def signal_times(rows: list[dict[str, str]], label: str) -> list[tuple[int, str]]:
    return [
        (pd.Timestamp(r["timestamp"]).value, r["action"]) for r in rows if r["strategy"] == label
    ]


# -- strategies -------------------------------------------------------------------------------


def test_strategies_lists_each_with_parameters_description_and_origin(capsys) -> None:
    mine = in_strategies_dir("volume_breakout.py", VOLUME_BREAKOUT.read_text())
    code, out, err = run(capsys, "strategies")
    assert (code, err) == (0, "")
    for cls in BUILTINS:
        assert f"{cls.name}  (built-in)" in out
    block = out[out.index("volume_breakout  (file ") :]
    assert block.startswith(f"volume_breakout  (file {mine})\n")
    assert "    Buy a close above the highest high of the last `lookback` bars" in block
    assert "    lookback         int   20\n" in block
    assert "    volume_factor    float 1\n" in block
    assert "    confirm_sells    bool  false\n" in block
    assert "--strategy volume_breakout:lookback=20,volume_factor=1,confirm_sells=false" in block
    assert f"*.py files in {strategies_dir()}" in out


def test_strategies_json_is_one_object_with_every_origin(capsys, tmp_path, monkeypatch) -> None:
    install_package(
        tmp_path,
        "acme_json",
        (EXAMPLES / "breakout.py").read_text(),
        {"breakout": "acme_json:Breakout"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = run(capsys, "strategies", "--json")
    assert (code, err) == (0, "")
    listing = json.loads(out)
    assert listing["problems"] == [] and listing["folder"] == str(strategies_dir())
    by_name = {s["name"]: s for s in listing["strategies"]}
    assert [s["name"] for s in listing["strategies"]] == [c.name for c in BUILTINS] + ["breakout"]
    assert by_name["breakout"] == {
        "name": "breakout",
        "description": "Buy a close above the highest high of the last `lookback` bars; sell "
        "one below the\nlowest low.",
        "origin": "entry point breakout (acme_json)",
        "parameters": [{"name": "lookback", "type": "int", "default": 20}],
        "timeframes": [],
        "spec": "breakout:lookback=20",
    }
    for cls in BUILTINS:
        shown = by_name[cls.name]
        assert shown["origin"] == "built-in" and shown["description"] == cls.description()
        assert [(p["name"], p["default"]) for p in shown["parameters"]] == [
            (p.name, p.default) for p in cls.parameters()
        ]


def test_strategies_names_a_broken_file_and_a_clash_and_exits_2(capsys, tmp_path) -> None:
    folder = strategies_dir()
    folder.mkdir(parents=True)
    (folder / "broken.py").write_text("from engine.strategy import Strategy\n\nundefined_name\n")
    (folder / "a.py").write_text((EXAMPLES / "breakout.py").read_text())
    (folder / "b.py").write_text((EXAMPLES / "breakout.py").read_text())
    code, out, err = run(capsys, "strategies")
    assert code == 2
    assert err.splitlines() == [
        f"ktrdr-tui: file {folder / 'broken.py'}: cannot load: NameError: name "
        "'undefined_name' is not defined (line 3)",
        f"ktrdr-tui: strategy 'breakout' is defined twice: file {folder / 'a.py'} and file "
        f"{folder / 'b.py'}",
    ]
    assert "Traceback" not in err and f"breakout  (file {folder / 'a.py'})" in out


def test_new_writes_a_template_that_runs(capsys, tmp_path) -> None:
    data_dir = tmp_path / "data"
    store_bars(data_dir)
    code, out, err = run(capsys, "strategies", "--new", "my_breakout")
    path = strategies_dir() / "my_breakout.py"
    assert (code, out) == (0, f"{path}\n")
    assert "class MyBreakout(Strategy):" in path.read_text()
    assert not [p for p in path.parent.iterdir() if p != path]  # no temp file left
    code, out, _ = run(capsys, "strategies", "--json")
    shown = {s["name"]: s for s in json.loads(out)["strategies"]}["my_breakout"]
    assert shown["origin"] == f"file {path}"
    assert shown["parameters"] == [{"name": "lookback", "type": "int", "default": 20}]
    code, out, err, rows = backtest(capsys, data_dir, tmp_path, "--strategy", "my_breakout")
    assert code == 0, err
    assert json.loads(out)["strategies"] == ["my_breakout:lookback=20"]
    assert rows and {r["strategy"] for r in rows} == {"my_breakout:lookback=20"}
    code, _, err, _ = backtest(capsys, data_dir, tmp_path, "--strategy", "my_breakout:lookback=0")
    assert (code, err.strip()) == (2, "ktrdr-tui: my_breakout: lookback must be at least 1, got 0")


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("my_breakout", 1, "my_breakout.py exists already: edit it, or pick another name"),
        (BUILTINS[0].name, 2, f"a strategy named {BUILTINS[0].name!r} exists already (built-in)"),
        ("my-idea", 2, "a strategy name is a word of letters, digits and _"),
        ("2fast", 2, "got '2fast'"),
    ],
)
def test_new_refuses_to_overwrite_or_clash(capsys, name: str, code: int, message: str) -> None:
    mine = in_strategies_dir("my_breakout.py", "# my own work\n")
    result, out, err = run(capsys, "strategies", "--new", name)
    assert (result, out) == (code, "")
    assert message in err and len(err.splitlines()) == 1
    assert mine.read_text() == "# my own work\n"


# -- backtest with user strategies ------------------------------------------------------------


def test_backtest_runs_a_strategy_file_on_high_low_and_volume(capsys, tmp_path) -> None:
    data_dir = tmp_path / "data"
    store_bars(data_dir)
    code, out, err, rows = backtest(
        capsys,
        data_dir,
        tmp_path,
        "--strategy-file",
        str(VOLUME_BREAKOUT),
        "--strategy",
        "volume_breakout",
        "--strategy",
        "sma_crossover",
    )
    assert code == 0, err
    label = "volume_breakout:lookback=20,volume_factor=1,confirm_sells=false"
    assert json.loads(out)["strategies"] == [label, "sma_crossover:fast=5,slow=20"]
    expected = expected_volume_breakouts(data_dir)
    assert {action for _, action in expected} == {"BUY", "SELL"}
    assert signal_times(rows, label) == expected


def test_backtest_runs_a_strategy_from_an_installed_package(capsys, tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    store_bars(data_dir)
    install_package(
        tmp_path / "site",
        "acme_backtest",
        VOLUME_BREAKOUT.read_text(),
        {"volume": "acme_backtest:VolumeBreakout"},
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    code, _, err, rows = backtest(capsys, data_dir, tmp_path, "--strategy", "volume_breakout")
    assert code == 0, err
    label = "volume_breakout:lookback=20,volume_factor=1,confirm_sells=false"
    assert signal_times(rows, label) == expected_volume_breakouts(data_dir)


def test_backtest_refuses_a_strategy_file_it_cannot_load(capsys, tmp_path) -> None:
    data_dir = tmp_path / "data"
    store_bars(data_dir)
    broken = tmp_path / "broken.py"
    broken.write_text("import acme_nowhere\n")
    missing = tmp_path / "missing.py"
    for path, reason in ((broken, "cannot load: ModuleNotFoundError"), (missing, "no such file")):
        code, out, err, rows = backtest(
            capsys, data_dir, tmp_path, "--strategy-file", str(path), "--strategy", "rsi"
        )
        assert (code, out, rows) == (2, "", [])
        assert err.startswith(f"ktrdr-tui: file {path}: {reason}")
        assert len(err.splitlines()) == 1


def test_backtest_says_in_one_line_which_strategy_failed_its_setup(capsys, tmp_path) -> None:
    """A bug in a strategy's `setup`: the run is refused before it starts, the strategy and
    the error named in one line, nothing written."""
    data_dir = tmp_path / "data"
    store_bars(data_dir)
    path = tmp_path / "lookup.py"
    path.write_text(LOOKUP_SOURCE)
    code, out, err, rows = backtest(
        capsys, data_dir, tmp_path, "--strategy-file", str(path), "--strategy", "lookup"
    )
    assert (code, out, rows) == (2, "", [])
    assert err == "ktrdr-tui: lookup: setup failed: KeyError: 5\n"


def test_a_broken_file_in_the_folder_is_a_warning_when_not_asked_for(capsys, tmp_path) -> None:
    data_dir = tmp_path / "data"
    store_bars(data_dir)
    broken = in_strategies_dir("draft.py", "def on_bar(:\n")
    code, out, err, rows = backtest(capsys, data_dir, tmp_path, "--strategy", "rsi")
    assert code == 0
    assert f"ktrdr-tui: warning: file {broken}: cannot load: SyntaxError" in err
    assert rows and json.loads(out)["signals"] == len(rows)
    code, out, err, _ = backtest(capsys, data_dir, tmp_path, "--strategy", "draft")
    assert code == 2 and "unknown strategy 'draft'" in err.splitlines()[-1]


def test_every_signal_of_a_user_strategy_names_its_spec_in_full(capsys, tmp_path) -> None:
    data_dir = tmp_path / "data"
    store_bars(data_dir)
    code, out, err, rows = backtest(
        capsys,
        data_dir,
        tmp_path,
        "--strategy-file",
        str(VOLUME_BREAKOUT),
        "--strategy",
        "volume_breakout:confirm_sells=yes,volume_factor=0.5,timeframe=5m",
    )
    assert code == 0, err
    label = "volume_breakout:lookback=20,volume_factor=0.5,confirm_sells=true,timeframe=5m"
    assert json.loads(out)["strategies"] == [label]
    assert rows and {(r["strategy"], r["timeframe"]) for r in rows} == {(label, "5m")}
    assert np.all(np.diff([pd.Timestamp(r["timestamp"]).value for r in rows]) > 0)


def test_the_readmes_example_strategy_runs_from_the_folder(capsys, tmp_path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Write a strategy") :]
    example = section[section.index("```python\n") + 10 : section.index("```\n", 10)]
    in_strategies_dir("breakout.py", example)
    data_dir = tmp_path / "data"
    store_bars(data_dir)
    code, _out, err, rows = backtest(
        capsys, data_dir, tmp_path, "--strategy", "breakout:lookback=30"
    )
    assert code == 0, err
    assert rows and {r["strategy"] for r in rows} == {"breakout:lookback=30"}
    assert {r["action"] for r in rows} == {"BUY", "SELL"}
    code, _, err, _ = backtest(capsys, data_dir, tmp_path, "--strategy", "breakout:lookback=0")
    assert (code, err.strip()) == (2, "ktrdr-tui: breakout: lookback must be at least 1, got 0")


def test_the_app_refuses_a_strategy_file_it_cannot_load_before_it_starts(
    capsys, tmp_path, monkeypatch
) -> None:
    from ktrdr_tui.app import KtrdrApp

    def never(self) -> None:
        raise AssertionError("the app started")

    monkeypatch.setattr(KtrdrApp, "run", never)
    broken = tmp_path / "broken.py"
    broken.write_text("from engine.strategy import Strategy\n1 / 0\n")
    for path, reason in (
        (broken, "cannot load: ZeroDivisionError: division by zero (line 2)"),
        (tmp_path / "missing.py", "no such file"),
    ):
        code, out, err = run(capsys, "--source", "sim", "--strategy-file", str(path))
        assert (code, out, err) == (2, "", f"ktrdr-tui: file {path}: {reason}\n")
