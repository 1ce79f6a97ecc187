"""The trading rules' one parser (DESIGN.md, "Results"): every form the flags, config.toml and
the app's dialog write, the one-line error for each bad value naming the option, the text each
rule shows reading back to it, and config.toml's keys under the flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given

from engine.config import ConfigError, load_config
from engine.trading_rules import OPTIONS, Costs, OrderSize, RuleError, TradingRules
from tests.support.trading_rules import rules

DEFAULTS = TradingRules()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, DEFAULTS),
        ({"cash": "250000"}, TradingRules(cash=250_000.0)),
        ({"cash": 2500}, TradingRules(cash=2500.0)),  # TOML writes numbers as numbers
        ({"size": "50"}, TradingRules(size=OrderSize(50))),
        ({"size": 50}, TradingRules(size=OrderSize(50))),
        ({"size": " 10% "}, TradingRules(size=OrderSize(percent=10.0))),
        ({"max-position": "500"}, TradingRules(max_position=500)),  # as a flag names it
        ({"max_position": 500}, TradingRules(max_position=500)),  # as config.toml does
        ({"min_confidence": "0"}, TradingRules(min_confidence=0.0)),
        ({"min_quality": "90"}, TradingRules(min_quality=90.0)),
        ({"min_quality": "90%"}, TradingRules(min_quality=90.0)),
        ({"commission": "0.005"}, TradingRules(costs=Costs(per_share=0.005))),
        ({"commission": 0.005}, TradingRules(costs=Costs(per_share=0.005))),
        ({"commission": "0.1%"}, TradingRules(costs=Costs(pct_of_notional=0.1))),
        ({"min_commission": "1.0"}, TradingRules(costs=Costs(min_commission=1.0))),
        ({"slippage": "0.01"}, TradingRules(costs=Costs(slippage=0.01))),
        ({"slippage": "2bp"}, TradingRules(costs=Costs(slippage_bp=2.0))),
        ({"slippage": "2 BPS"}, TradingRules(costs=Costs(slippage_bp=2.0))),
        ({"short": True}, TradingRules(short=True)),
        ({"short": "yes"}, TradingRules(short=True)),
        ({"short": "false"}, DEFAULTS),
        ({"size": None, "cash": None}, DEFAULTS),  # not given
        (
            {"commission": "0.1%", "min-commission": "1", "slippage": "2bp"},
            TradingRules(costs=Costs(pct_of_notional=0.1, min_commission=1.0, slippage_bp=2.0)),
        ),
    ],
)
def test_every_form_reads_as_its_rule(values, expected):
    assert TradingRules.from_text(values) == expected


def test_the_defaults_are_the_sessions_rules_before_they_could_be_set():
    assert DEFAULTS.texts() == {
        "cash": "100000",
        "size": "100",
        "max_position": "100",
        "min_confidence": "0.5",
        "min_quality": "95",
        "commission": "0",
        "min_commission": "0",
        "slippage": "0",
        "short": "false",
    }
    assert DEFAULTS.costs.free


def test_options_given_later_change_only_themselves():
    base = TradingRules.from_text({"commission": "0.1%", "slippage": "2bp", "size": "10%"})
    changed = TradingRules.from_text({"commission": "0.005", "max_position": "1000"}, base)
    assert changed.costs == Costs(per_share=0.005, slippage_bp=2.0)  # the new form replaces
    assert (changed.size, changed.max_position) == (OrderSize(percent=10.0), 1000)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("cash", "lots", "cash: expected an amount above 0 like 100000, got 'lots'"),
        ("cash", "0", "cash: expected an amount above 0 like 100000, got 0"),
        ("cash", "-5", "cash: expected an amount above 0 like 100000, got '-5'"),
        ("cash", "inf", "cash: expected an amount above 0 like 100000, got 'inf'"),
        ("size", "10x", "size: expected shares like 100 or a percent of equity up to 100%"),
        ("size", "2.5", "size: expected shares like 100 or a percent of equity up to 100%"),
        ("size", "0", "size: expected shares like 100 or a percent of equity up to 100% like 10%"),
        ("size", "0%", "size: expected shares like 100 or a percent of equity up to 100% like"),
        ("size", "150%", "size: expected shares like 100 or a percent of equity up to 100% like"),
        ("size", True, "size: expected shares"),
        ("max_position", "0", "max_position: expected a whole number of shares, at least 1"),
        ("max-position", "1.5", "max_position: expected a whole number of shares"),
        ("min_confidence", "1.5", "min_confidence: expected a number from 0 to 1 like 0.5"),
        ("min_confidence", "nan", "min_confidence: expected a number from 0 to 1"),
        ("min_quality", "101", "min_quality: expected a percent from 0 to 100 like 95, got 101"),
        ("commission", "abc", "commission: expected a rate per share like 0.005 or a percent"),
        ("commission", "2bp", "commission: expected a rate per share like 0.005 or a percent"),
        ("commission", "-0.005", "commission: expected a rate per share"),
        ("commission", "100%", "commission: expected a rate per share like 0.005 or a percent"),
        ("min_commission", "1.0%", "min_commission: expected an amount like 1.0, 0 or more"),
        ("slippage", "0.1%", "slippage: expected price units like 0.01 or basis points"),
        ("slippage", "10000bp", "slippage: expected price units like 0.01 or basis points below"),
        ("short", "maybe", "short: expected true or false, got 'maybe'"),
        ("short", 1, "short: expected true or false, got 1"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_option(option, value, message):
    with pytest.raises(RuleError) as raised:
        TradingRules.from_text({option: value})
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)
    assert raised.value.flag.startswith(f"--{raised.value.option.replace('_', '-')}: expected ")


def test_an_unknown_option_is_named():
    with pytest.raises(ValueError, match=r"unknown trading rule 'sizes' \(known: cash, size"):
        TradingRules.from_text({"sizes": "100"})


@given(rules)
def test_the_text_of_any_rules_reads_back_to_them(rules):
    texts = rules.texts()
    assert set(texts) == set(OPTIONS)
    assert TradingRules.from_text(texts) == rules


# -- config.toml and flags ---------------------------------------------------------------------


def write_config(home: Path, text: str) -> Path:
    path = home / "config" / "ktrdr-tui" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_config_toml_keys_set_the_rules_and_flags_win(isolated_user_dirs: Path):
    write_config(
        isolated_user_dirs,
        'cash = 50000\nsize = "10%"\nmax_position = 2000\ncommission = "0.1%"\nshort = true\n',
    )
    from_file = load_config().trading
    assert from_file == TradingRules(
        cash=50_000.0,
        size=OrderSize(percent=10.0),
        max_position=2000,
        costs=Costs(pct_of_notional=0.1),
        short=True,
    )
    flags = load_config({"size": "200", "slippage": "2bp", "short": False, "cash": None}).trading
    assert flags == TradingRules(
        cash=50_000.0,
        size=OrderSize(200),
        max_position=2000,
        costs=Costs(pct_of_notional=0.1, slippage_bp=2.0),
    )


def test_a_bad_rule_in_the_file_names_the_file_and_key(isolated_user_dirs: Path):
    path = write_config(isolated_user_dirs, 'size = "ten"\n')
    with pytest.raises(ConfigError) as raised:
        load_config()
    assert str(raised.value) == (
        f"{path}: size: expected shares like 100 or a percent of equity up to 100% like 10%, "
        "got 'ten'"
    )


def test_a_bad_rule_flag_names_the_flag():
    with pytest.raises(ConfigError) as raised:
        load_config({"min_commission": "-1"})
    assert str(raised.value) == "--min-commission: expected an amount like 1.0, 0 or more, got '-1'"


def test_unknown_keys_list_the_rules_too(isolated_user_dirs: Path):
    write_config(isolated_user_dirs, "max_positions = 5\n")
    with pytest.raises(
        ConfigError, match=r"unknown key 'max_positions' \(known keys: .*cash, size"
    ):
        load_config()


def test_the_settings_stay_import_light():
    """config.toml is read before every command, `--help` included: no numpy, no pandas."""
    code = (
        "import sys, engine.config; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'pandas')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
