"""Session files: what `backtest --session` runs and the app's dialog saves and opens. Written
and read back whole (a property test), every bad key one line naming the file and the key."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.market.timeframes import TIMEFRAMES
from engine.session.session_file import (
    KEYS,
    SessionFile,
    SessionFileError,
    StrategyEntry,
    read_session_file,
    session_toml,
    sessions_dir,
    toml_rules,
    write_session_file,
)
from engine.trading_rules import OPTIONS, TradingRules
from tests.support.trading_rules import rules as any_rules

EXAMPLE = """\
symbols = ["AAPL", "msft"]
timeframe = "1m"
start = "2024-03-04"
end = 2024-03-15
cash = 50000
size = "10%"
short = true

[[strategy]]
name = "sma_crossover"
fast = 5
slow = 20
timeframe = "5m"

[[strategy]]
name = "rsi"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "session.toml"
    path.write_text(text)
    return path


def test_a_file_reads_to_every_key(tmp_path):
    session = read_session_file(write(tmp_path, EXAMPLE))
    assert session == SessionFile(
        symbols=("AAPL", "MSFT"),  # the store's spelling
        timeframe="1m",
        start="2024-03-04",
        end="2024-03-15",  # a TOML date reads as the text --end takes
        strategies=(
            StrategyEntry("sma_crossover", (("fast", 5), ("slow", 20)), "5m"),
            StrategyEntry("rsi"),
        ),
        rules=(("cash", 50000), ("size", "10%"), ("short", True)),
    )
    assert [entry.spec for entry in session.strategies] == [
        "sma_crossover:fast=5,slow=20,timeframe=5m",
        "rsi",
    ]
    base = TradingRules(max_position=500)  # config.toml's: the file's keys go on top
    assert session.trading_rules(base) == TradingRules.from_text(
        {"cash": 50000, "size": "10%", "short": True, "max_position": 500}
    )


def test_every_key_is_optional(tmp_path):
    assert read_session_file(write(tmp_path, "")) == SessionFile()
    assert read_session_file(write(tmp_path, "min_quality = 80\n")) == SessionFile(
        rules=(("min_quality", 80),)
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "symbol = 'AAPL'\n",
            "symbol: unknown key (a list: symbols = [...]); the keys are symbols",
        ),
        ("max_positions = 5\n", "max_positions: unknown key; the keys are symbols, timeframe"),
        ("symbols = 'AAPL'\n", 'symbols: expected a list of symbols like ["AAPL", "MSFT"]'),
        ("symbols = []\n", "symbols: expected a list of symbols"),
        ("symbols = ['AA PL']\n", "symbols: bad symbol 'AA PL': 1-15 letters"),
        ("symbols = ['AAPL', 'aapl']\n", "symbols: AAPL is listed twice"),
        ("timeframe = '2m'\n", "timeframe: unknown timeframe '2m' (choose from 1m, 5m"),
        ("timeframe = 5\n", 'timeframe: expected a timeframe like "1m"'),
        ("start = 'soon'\n", "start: 'soon' is not a date (YYYY-MM-DD) or an ISO datetime"),
        ("end = 20240315\n", 'end: expected a date like "2024-03-04", got 20240315'),
        ("speed = -1\n", "speed: speed must be 0 (as fast as possible) or at least 0.01"),
        ("speed = 'fast'\n", "speed: expected a number of market seconds per second"),
        ("allow_gaps = 'yes'\n", "allow_gaps: expected true or false, got 'yes'"),
        ("cash = 0\n", "cash: expected an amount above 0 like 100000, got 0"),
        ("size = 'ten'\n", "size: expected shares like 100 or a percent of equity"),
        ("commission = [1]\n", "commission: expected a number, text or true/false, got [1]"),
        ("strategy = 'rsi'\n", "strategy: expected [[strategy]] tables, each with a name"),
        ("[[strategy]]\nfast = 5\n", "[[strategy]] 1: name: expected a strategy name"),
        (
            "[[strategy]]\nname = 'rsi'\n[[strategy]]\nname = 'sma_crossover'\nfast = '5'\n",
            "[[strategy]] 2 (sma_crossover): fast: expected a number or true/false, got '5'",
        ),
        (
            "[[strategy]]\nname = 'rsi'\ntimeframe = '2h'\n",
            "[[strategy]] 1 (rsi): timeframe: unknown timeframe '2h'",
        ),
        ("timeframe = \n", "not valid TOML: Invalid value (at line 1, column 13)"),
        ("symbols = ['AAPL'\n", "not valid TOML:"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_the_key(tmp_path, text, problem):
    path = write(tmp_path, text)
    with pytest.raises(SessionFileError) as raised:
        read_session_file(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {problem}")
    assert "\n" not in message


def test_a_missing_or_unreadable_file_is_one_line(tmp_path):
    with pytest.raises(SessionFileError, match=r"nope\.toml: no such file$"):
        read_session_file(tmp_path / "nope.toml")
    with pytest.raises(SessionFileError, match=r"is a folder, not a session file$"):
        read_session_file(tmp_path)
    path = tmp_path / "binary.toml"
    path.write_bytes(b"symbols = ['\xff']\n")
    with pytest.raises(SessionFileError, match=r"not valid TOML: not UTF-8 \(at byte 12\)$"):
        read_session_file(path)


def test_the_writer_writes_what_a_person_would(tmp_path):
    session = read_session_file(write(tmp_path, EXAMPLE))
    assert session_toml(session) == EXAMPLE.replace('"msft"', '"MSFT"').replace(
        "end = 2024-03-15", 'end = "2024-03-15"'
    )


def test_the_dialogs_rule_texts_are_written_as_toml_values():
    texts = TradingRules.from_text({"size": "10%", "slippage": "2bp", "cash": 2500.5}).texts()
    assert dict(toml_rules(texts)) == {
        "cash": 2500.5,
        "size": "10%",
        "max_position": 100,
        "min_confidence": 0.5,
        "min_quality": 95,
        "commission": 0,
        "min_commission": 0,
        "slippage": "2bp",
        "short": False,
    }


def test_the_folder_is_beside_config_toml(tmp_path):
    config = tmp_path / "elsewhere" / "config.toml"
    assert sessions_dir({"KTRDR_CONFIG": str(config)}) == tmp_path / "elsewhere" / "sessions"


def test_writing_is_atomic_and_replaces_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "sessions" / "mine.toml"
    write_session_file(path, SessionFile(symbols=("AAPL",)))
    import engine.core.atomic as atomic

    def crash(*_):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", crash)
    with pytest.raises(OSError):
        write_session_file(path, SessionFile(symbols=("MSFT",)))
    assert read_session_file(path).symbols == ("AAPL",)  # the old file, whole
    assert [p.name for p in path.parent.iterdir()] == ["mine.toml"]


# -- write, read: the same session ------------------------------------------------------------

names = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True)
parameter_values = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
entries = st.builds(
    StrategyEntry,
    names,
    st.dictionaries(
        names.filter(lambda n: n not in ("name", "timeframe")), parameter_values, max_size=4
    ).map(lambda params: tuple(params.items())),
    st.none() | st.sampled_from(TIMEFRAMES),
)
ZONES = [dt.UTC, dt.timezone(dt.timedelta(hours=-5)), dt.timezone(dt.timedelta(minutes=330))]
dates = st.one_of(st.dates(), st.datetimes(), st.datetimes(timezones=st.sampled_from(ZONES))).map(
    lambda moment: moment.isoformat()
)
# Each rule as a person writes it in TOML: a number, or a text with its unit.
RULE_VALUES = {
    "cash": st.integers(1, 10**9) | st.floats(0.01, 1e9),
    "size": st.integers(1, 10**6) | st.floats(0.001, 100).map(lambda pct: f"{pct!r}%"),
    "max_position": st.integers(1, 10**7),
    "min_confidence": st.floats(0, 1),
    "min_quality": st.integers(0, 100) | st.floats(0, 100),
    "commission": st.floats(0, 10) | st.floats(0, 99).map(lambda pct: f"{pct!r}%"),
    "min_commission": st.floats(0, 100),
    "slippage": st.floats(0, 10) | st.floats(0, 9999).map(lambda bp: f"{bp!r}bp"),
    "short": st.booleans(),
}
sessions = st.builds(
    SessionFile,
    symbols=st.lists(
        st.from_regex(r"[A-Z0-9][A-Z0-9.\-]{0,14}", fullmatch=True), max_size=5, unique=True
    ).map(tuple),
    timeframe=st.none() | st.sampled_from(TIMEFRAMES),
    start=st.none() | dates,
    end=st.none() | dates,
    strategies=st.lists(entries, max_size=4).map(tuple),
    speed=st.none() | st.just(0.0) | st.floats(0.01, 1e9),
    allow_gaps=st.none() | st.booleans(),
    rules=st.fixed_dictionaries({}, optional=RULE_VALUES).map(
        lambda drawn: tuple((option, drawn[option]) for option in OPTIONS if option in drawn)
    ),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(session=sessions)
def test_what_is_written_reads_back_the_same(tmp_path, session):
    path = tmp_path / "roundtrip.toml"
    write_session_file(path, session)
    assert read_session_file(path) == session


@given(any_rules)
def test_the_dialogs_rules_read_back_to_the_same_rules(rules):
    import tomllib

    written = SessionFile(rules=toml_rules(rules.texts()))
    read = SessionFile(rules=tuple(tomllib.loads(session_toml(written)).items()))
    assert read.trading_rules(TradingRules()) == rules


@given(st.text())
def test_any_text_is_written_as_a_toml_string_that_reads_back(text):
    import tomllib

    written = session_toml(SessionFile(rules=(("size", text),)))
    assert tomllib.loads(written) == {"size": text}


def test_every_key_is_named_in_the_contract():
    assert KEYS[:4] == ("symbols", "timeframe", "start", "end")
    assert set(OPTIONS) < set(KEYS) and "strategy" in KEYS
    assert set(RULE_VALUES) == set(OPTIONS)  # the property test writes every rule


def test_reading_stays_import_light():
    """The CLI reads the session file before anything heavy loads: no numpy, no pandas."""
    code = (
        "import sys, engine.session.session_file; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'pandas')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
