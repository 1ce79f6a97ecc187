"""Where strategies come from: the built-ins, installed packages (entry points), the
strategies folder beside config.toml, config.toml's `strategy_files` and `--strategy-file`,
each with its origin; what cannot be loaded is one line naming the file or package."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from engine.config import load_config
from engine.strategy.builtins import BUILTINS
from engine.strategy.catalog import (
    BUILT_IN,
    CatalogError,
    load_catalog,
    strategies_dir,
)
from engine.strategy.spec import StrategySpec, StrategySpecError
from tests.support.plugins import EXAMPLES, discovered_strategies, install_package

BREAKOUT = (EXAMPLES / "breakout.py").read_text()
VOLUME_BREAKOUT = (EXAMPLES / "volume_breakout.py").read_text()


def strategy_source(name: str, class_name: str = "Mine", body: str = "lookback: int = 5") -> str:
    return (
        "from engine.strategy import Strategy\n\n\n"
        f"class {class_name}(Strategy):\n"
        f'    """{name}, as a user writes it."""\n\n'
        f"    name = {name!r}\n"
        f"    {body}\n\n"
        "    def on_bar(self, bars):\n"
        "        pass\n"
    )


def write(folder: Path, file_name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    path.write_text(text)
    return path


def origins(catalog) -> dict[str, str]:
    return {entry.strategy.name: entry.origin for entry in catalog.entries}


def test_every_place_with_its_origin_the_built_ins_first(tmp_path, monkeypatch) -> None:
    site = tmp_path / "site"
    install_package(
        site, "acme_origins", strategy_source("momentum"), {"momentum": "acme_origins:Mine"}
    )
    monkeypatch.syspath_prepend(str(site))
    in_folder = write(strategies_dir(), "breakout.py", BREAKOUT)
    from_config = write(tmp_path / "ideas", "volume.py", VOLUME_BREAKOUT)
    named = write(tmp_path, "gap.py", strategy_source("gap"))
    catalog = load_catalog([from_config], [named])
    assert catalog.problems == ()
    assert origins(catalog) == {
        **{cls.name: BUILT_IN for cls in BUILTINS},
        "momentum": "entry point momentum (acme_origins)",
        "breakout": f"file {in_folder}",
        "volume_breakout": f"file {from_config}",
        "gap": f"file {named}",
    }
    assert catalog.entries[0].strategy is BUILTINS[0]
    assert StrategySpec.parse("breakout:lookback=7", catalog).build().lookback == 7


def test_an_entry_point_to_a_module_brings_the_strategies_it_defines(tmp_path, monkeypatch):
    source = (
        "from engine.strategy import Strategy\n"
        "from engine.strategy.builtins import BUILTINS  # imported: not this package's\n\n"
        "class Base(Strategy):\n"
        '    """A base without a name: not a strategy of its own."""\n'
        "    def on_bar(self, bars):\n"
        "        pass\n\n"
        "class Fast(Base):\n"
        "    name = 'fast_one'\n\n"
        "class Slow(Base):\n"
        "    name = 'slow_one'\n"
        "    window: int = 50\n"
    )
    install_package(tmp_path, "acme_module", source, {"all": "acme_module"})
    monkeypatch.syspath_prepend(str(tmp_path))
    catalog = load_catalog()
    plugins = {k: v for k, v in origins(catalog).items() if v != BUILT_IN}
    assert plugins == {
        "fast_one": "entry point all (acme_module)",
        "slow_one": "entry point all (acme_module)",
    }
    assert catalog.problems == ()


def test_a_package_that_cannot_be_loaded_is_one_line_and_the_rest_load(tmp_path, monkeypatch):
    install_package(tmp_path, "acme_broken", "import acme_not_installed\n", {"x": "acme_broken:X"})
    install_package(tmp_path, "acme_wrong", "X = 3\n", {"three": "acme_wrong:X"})
    monkeypatch.syspath_prepend(str(tmp_path))
    write(strategies_dir(), "breakout.py", BREAKOUT)
    catalog = load_catalog()
    assert "breakout" in catalog.names
    assert catalog.problems == (
        "entry point x (acme_broken): cannot load acme_broken:X: "
        "ModuleNotFoundError: No module named 'acme_not_installed'",
        "entry point three (acme_wrong): acme_wrong:X is neither a Strategy subclass nor a "
        "module of them",
    )


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("import acme_nowhere\n", "ModuleNotFoundError: No module named 'acme_nowhere' (line 1)"),
        ("x = 1\ndef broken(:\n", "SyntaxError: invalid syntax (line 2)"),
        ("import sys\nsys.exit(3)\n", "SystemExit: 3 (line 2)"),
        (
            strategy_source("mine", body='lookback: str = "20"'),
            "TypeError: Mine.lookback: a parameter is an int, float or bool",
        ),
        (
            strategy_source("mine", body="timeframe: int = 5"),
            "Mine: `timeframe` is the spec's own key, not a parameter name",
        ),
        (
            strategy_source("my strategy"),
            "Mine: name must be a word of letters, digits and _ (starting with a letter), "
            "got 'my strategy'",
        ),
        (
            strategy_source("mine", body='timeframes = ("2h",)'),
            "Mine: unknown timeframe '2h' in timeframes (choose from 1m, 5m",
        ),
        ("NUMBER = 3\n", "defines no Strategy subclass with a name"),
        (
            strategy_source("mine").replace("    name = 'mine'\n", ""),
            "defines no Strategy subclass with a name (Mine has no `name`)",
        ),
    ],
)
def test_a_file_that_cannot_be_used_is_one_line_naming_it(tmp_path, source, problem) -> None:
    bad = write(strategies_dir(), "bad.py", source)
    write(strategies_dir(), "breakout.py", BREAKOUT)
    catalog = load_catalog()
    assert "breakout" in catalog.names  # the others load
    assert len(catalog.problems) == 1
    assert catalog.problems[0].startswith(f"file {bad}: ")
    assert problem in catalog.problems[0]
    assert "\n" not in catalog.problems[0]
    named = write(tmp_path, "named.py", source)
    with pytest.raises(CatalogError) as caught:  # named on the command line: an error
        load_catalog(named=[named])
    assert str(caught.value).startswith(f"file {named}: ")
    assert problem in str(caught.value)


def test_two_strategies_with_one_name_name_both_places(tmp_path) -> None:
    first = write(strategies_dir(), "breakout.py", BREAKOUT)
    second = write(tmp_path / "elsewhere", "copy.py", BREAKOUT)
    clash = write(tmp_path, "rsi.py", strategy_source(BUILTINS[-1].name))
    catalog = load_catalog(named=[second, clash])
    assert catalog.problems == (
        f"strategy {BUILTINS[-1].name!r} is defined twice: built-in and file {clash}",
        f"strategy 'breakout' is defined twice: file {first} and file {second}",
    )
    with pytest.raises(StrategySpecError) as caught:
        StrategySpec.parse("breakout:lookback=5", catalog)
    assert str(caught.value) == catalog.problems[1]
    assert StrategySpec.parse(BUILTINS[0].name, catalog).strategy is BUILTINS[0]


def test_one_file_in_two_places_is_loaded_once(tmp_path, monkeypatch) -> None:
    config = write(tmp_path / "cfg", "config.toml", 'strategy_files = ["./strategies/b.py"]\n')
    monkeypatch.setenv("KTRDR_CONFIG", str(config))
    path = write(strategies_dir(), "b.py", BREAKOUT)
    assert strategies_dir() == tmp_path / "cfg" / "strategies"
    catalog = load_catalog(load_config().strategy_files, named=[path])
    assert catalog.problems == ()
    assert origins(catalog)["breakout"] == f"file {path}"


def test_config_strategy_files_are_relative_to_the_config_folder(tmp_path, monkeypatch) -> None:
    ideas = write(tmp_path / "cfg" / "ideas", "volume.py", VOLUME_BREAKOUT)
    config = write(
        tmp_path / "cfg", "config.toml", 'strategy_files = ["ideas/volume.py", "gone.py"]\n'
    )
    monkeypatch.setenv("KTRDR_CONFIG", str(config))
    catalog = load_catalog(load_config().strategy_files)
    assert origins(catalog)["volume_breakout"] == f"file {ideas}"
    assert catalog.problems == (f"file {tmp_path / 'cfg' / 'gone.py'}: no such file",)
    with pytest.raises(CatalogError, match=r"nowhere\.py: no such file"):
        load_catalog(named=[tmp_path / "nowhere.py"])


@pytest.mark.parametrize("value", ['"breakout.py"', '[""]', "[3]"])
def test_strategy_files_in_config_must_be_a_list_of_paths(tmp_path, monkeypatch, value) -> None:
    from engine.config import ConfigError

    config = write(tmp_path, "config.toml", f"strategy_files = {value}\n")
    monkeypatch.setenv("KTRDR_CONFIG", str(config))
    with pytest.raises(ConfigError, match="strategy_files: expected a list of file paths"):
        load_config()


def test_helper_and_editor_files_in_the_folder_are_not_strategies() -> None:
    write(strategies_dir(), "_helpers.py", "import acme_nowhere\n")
    write(strategies_dir(), ".#breakout.py", "import acme_nowhere\n")
    write(strategies_dir(), "notes.txt", "not python")
    catalog = load_catalog()
    assert catalog.problems == ()
    assert catalog.names == tuple(cls.name for cls in BUILTINS)


def test_files_run_as_modules_of_their_own_never_replacing_another(tmp_path) -> None:
    # Two files called json.py: neither is the standard library's json, nor each other.
    write(strategies_dir(), "json.py", strategy_source("first_json"))
    write(tmp_path, "json.py", strategy_source("second_json"))
    catalog = load_catalog(named=[tmp_path / "json.py"])
    assert catalog.problems == ()
    first, second = (catalog.strategy(name) for name in ("first_json", "second_json"))
    assert first.__module__ != second.__module__
    assert sys.modules["json"] is json and json.dumps([1]) == "[1]"
    assert sys.modules[first.__module__].__file__ == str(strategies_dir() / "json.py")


def test_the_examples_are_discovered_after_the_built_ins() -> None:
    found = discovered_strategies()
    assert found[: len(BUILTINS)] == BUILTINS
    assert [cls.name for cls in found[len(BUILTINS) :]] == ["breakout", "volume_breakout"]
    volume = found[-1]
    assert [(p.name, p.kind, p.default) for p in volume.parameters()] == [
        ("lookback", int, 20),
        ("volume_factor", float, 1.0),
        ("confirm_sells", bool, False),
    ]
    assert volume.description().startswith("Buy a close above the highest high")


def test_a_backtest_request_finds_plugins_and_checks_the_timeframes_they_read(tmp_path) -> None:
    from engine.market.calendar import calendar_for
    from engine.market.store import BarStore
    from engine.session.request import BacktestInputError, backtest_request

    write(strategies_dir(), "hourly.py", strategy_source("hourly", body='timeframes = ("1h",)'))
    catalog = load_catalog()
    calendar = calendar_for()
    store = BarStore(tmp_path / "data", calendar)

    def request(timeframe: str, spec: str, catalog=catalog):
        return backtest_request(
            store,
            calendar,
            ["AAPL"],
            timeframe,
            "2024-03-04",
            "2024-03-08",
            [spec],
            catalog=catalog,
        )

    with pytest.raises(BacktestInputError) as caught:
        request("1d", "hourly")
    assert str(caught.value) == "hourly: timeframe 1h cannot be read from 1d bars (choose from 1d)"
    assert caught.value.usage
    with pytest.raises(BacktestInputError, match="unknown strategy 'hourly'"):
        request("1m", "hourly", catalog=None)  # the built-ins only
    with pytest.raises(BacktestInputError) as caught:  # found and checked: the store is next
        request("1m", "hourly:timeframe=5m")
    assert "no AAPL 1m bars in the store" in str(caught.value)
