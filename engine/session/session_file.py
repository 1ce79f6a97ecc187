"""Session files (DESIGN.md, "Sessions"): a TOML file that holds everything a `backtest` takes,
so a session can be saved (the app's dialog), shared and run again (`backtest --session FILE`).

```toml
symbols = ["AAPL", "MSFT"]
timeframe = "1m"
start = "2024-03-04"
end = "2024-03-15"
cash = 50000            # the trading rules: `backtest`'s long option names, as in config.toml
commission = "0.1%"

[[strategy]]
name = "sma_crossover"  # then its parameters, and the timeframe it reads (default: the session's)
fast = 5
slow = 20
timeframe = "5m"
```

Every key is optional: a file may hold only the rules and strategies, the symbols coming from
the command line. Reading checks what can be checked without the store or the strategy catalog
(types, dates, timeframes, symbols, the trading rules by their own parser); a problem is one line
naming the file and the key (`SessionFileError`). Which strategies exist and what parameters
they take is the catalog's to say, when the session is set up.

The writer is this module's own, not a TOML library: the file holds only strings, numbers,
booleans, a list of strings and one array of tables of scalars, and writing them takes a few
lines; `tomllib` (standard library) reads them back, and a property test checks the two agree.
Import-light: the CLI reads a session file before anything heavy loads.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from engine.config import config_path
from engine.core.atomic import write_atomic
from engine.market.dates import date_text
from engine.market.symbols import check_symbol
from engine.market.timeframes import TIMEFRAMES, check_timeframe
from engine.session.speed import check_speed
from engine.trading_rules import OPTIONS as RULE_OPTIONS
from engine.trading_rules import RuleError, TradingRules

T = TypeVar("T")
U = TypeVar("U")
ParameterValue = bool | int | float
RuleValue = bool | int | float | str

STRATEGY = "strategy"  # the array of tables: [[strategy]]
_STRATEGY_KEYS = ("name", "timeframe")  # a [[strategy]] table's keys that are not parameters
# The top-level keys, in the order they are written.
KEYS = ("symbols", "timeframe", "start", "end", "speed", "allow_gaps", *RULE_OPTIONS, STRATEGY)
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a strategy's or a parameter's name


class SessionFileError(ValueError):
    """A session file that cannot be read or holds a bad key: one line, naming the file and
    the key."""


def sessions_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the app saves session files: `sessions/` beside config.toml."""
    return config_path(environ).parent / "sessions"


@dataclass(frozen=True)
class StrategyEntry:
    """One [[strategy]] table: a strategy by name, the parameters it sets (the others keep
    their defaults) and the timeframe it reads (None: the session's)."""

    name: str
    params: tuple[tuple[str, ParameterValue], ...] = ()
    timeframe: str | None = None

    def texts(self) -> dict[str, str]:
        """Each parameter's value as a spec writes it (`5`, `0.5`, `true`)."""
        return {key: _spec_value(value) for key, value in self.params}

    @property
    def spec(self) -> str:
        """The strategy spec `backtest --strategy` takes: `sma_crossover:fast=5,timeframe=5m`."""
        values = [f"{key}={text}" for key, text in self.texts().items()]
        if self.timeframe:
            values.append(f"timeframe={self.timeframe}")
        return f"{self.name}:{','.join(values)}" if values else self.name


@dataclass(frozen=True)
class SessionFile:
    """What a session file holds; an empty field is a key the file leaves out."""

    symbols: tuple[str, ...] = ()
    timeframe: str | None = None
    start: str | None = None  # as `--start` takes it: YYYY-MM-DD or an ISO datetime
    end: str | None = None
    strategies: tuple[StrategyEntry, ...] = ()
    speed: float | None = None
    allow_gaps: bool | None = None
    # The trading rules it sets, by config.toml key, in `engine.trading_rules.OPTIONS` order,
    # each value as TOML writes it (`100000`, `"10%"`, `true`).
    rules: tuple[tuple[str, RuleValue], ...] = ()

    def trading_rules(self, base: TradingRules) -> TradingRules:
        """`base` (config.toml's rules) with the file's on top."""
        return TradingRules.from_text(dict(self.rules), base)


def toml_rules(texts: Mapping[str, str]) -> tuple[tuple[str, RuleValue], ...]:
    """Rules as the dialog's fields and `TradingRules.texts()` write them, typed as a person
    writes them in TOML: numbers as numbers, `10%` and `2bp` as strings, `short` a boolean."""
    values = []
    for option in RULE_OPTIONS:
        if option not in texts:
            continue
        text = texts[option].strip()
        value: RuleValue = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            for kind in (int, float):
                try:
                    value = kind(text)
                    break
                except ValueError:
                    continue
        values.append((option, value))
    return tuple(values)


# -- reading ----------------------------------------------------------------------------------


def read_session_file(path: Path) -> SessionFile:
    """The session `path` holds, or a SessionFileError naming `path` and the key."""
    try:
        with path.open("rb") as file:
            table = tomllib.load(file)
    except FileNotFoundError:
        raise SessionFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SessionFileError(f"{path}: is a folder, not a session file") from None
    except tomllib.TOMLDecodeError as exc:  # its message ends "(at line 3, column 5)"
        raise SessionFileError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SessionFileError(f"{path}: not valid TOML: not UTF-8 (at byte {exc.start})") from None
    except OSError as exc:
        raise SessionFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return _session(table)
    except _BadKey as exc:
        raise SessionFileError(f"{path}: {exc}") from None


class _BadKey(ValueError):
    """A bad key: `key: problem`."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")


def _session(table: dict[str, object]) -> SessionFile:
    unknown = [key for key in table if key not in KEYS]
    if unknown:
        hint = " (a list: symbols = [...])" if unknown[0] == "symbol" else ""
        raise _BadKey(unknown[0], f"unknown key{hint}; the keys are {', '.join(KEYS)}")
    rules = []
    for option in RULE_OPTIONS:
        if option in table:
            value = table[option]
            if not isinstance(value, bool | int | float | str):
                raise _BadKey(option, f"expected a number, text or true/false, got {value!r}")
            try:
                TradingRules.from_text({option: value})
            except RuleError as exc:
                raise _BadKey(option, exc.problem) from None
            rules.append((option, value))
    return SessionFile(
        symbols=_symbols(table["symbols"]) if "symbols" in table else (),
        timeframe=_timeframe("timeframe", table.get("timeframe")),
        start=_date("start", table.get("start")),
        end=_date("end", table.get("end")),
        strategies=_strategies(table.get(STRATEGY, [])),
        speed=_speed(table.get("speed")),
        allow_gaps=_boolean("allow_gaps", table.get("allow_gaps")),
        rules=tuple(rules),
    )


def _checked(key: str, check: Callable[[T], U], value: T) -> U:
    """`check(value)`, its ValueError a bad `key`."""
    try:
        return check(value)
    except ValueError as exc:
        raise _BadKey(key, str(exc)) from None


def _symbols(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _BadKey("symbols", f'expected a list of symbols like ["AAPL", "MSFT"], got {value!r}')
    symbols: list[str] = []
    for text in value:
        symbol = _checked("symbols", check_symbol, text.strip())
        if symbol in symbols:
            raise _BadKey("symbols", f"{symbol} is listed twice")
        symbols.append(symbol)
    return tuple(symbols)


def _timeframe(key: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _BadKey(
            key, f'expected a timeframe like "1m" ({", ".join(TIMEFRAMES)}), got {value!r}'
        )
    return _checked(key, check_timeframe, value.strip())


def _date(key: str, value: object) -> str | None:
    """A date as text; TOML's own dates (`start = 2024-03-04`) are taken too."""
    if value is None:
        return None
    if isinstance(value, dt.date):  # datetime is a date too
        value = value.isoformat()
    if not isinstance(value, str):
        raise _BadKey(key, f'expected a date like "2024-03-04", got {value!r}')
    _checked(key, date_text, value)
    return value.strip()


def _speed(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _BadKey("speed", f"expected a number of market seconds per second, got {value!r}")
    return _checked("speed", check_speed, value)


def _boolean(key: str, value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise _BadKey(key, f"expected true or false, got {value!r}")
    return value


def _strategies(value: object) -> tuple[StrategyEntry, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _BadKey(STRATEGY, "expected [[strategy]] tables, each with a name")
    return tuple(_strategy(number, table) for number, table in enumerate(value, 1))


def _strategy(number: int, table: dict[str, object]) -> StrategyEntry:
    where = f"[[strategy]] {number}"
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name.strip()):
        raise _BadKey(
            f"{where}: name", f'expected a strategy name like "sma_crossover", got {name!r}'
        )
    where = f"[[strategy]] {number} ({name.strip()})"
    params = []
    for key, value in table.items():
        if key in _STRATEGY_KEYS:
            continue
        if not _NAME.fullmatch(key):
            raise _BadKey(f"{where}: {key!r}", "not a parameter name")
        if not isinstance(value, bool | int | float) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise _BadKey(f"{where}: {key}", f"expected a number or true/false, got {value!r}")
        params.append((key, value))
    timeframe = _timeframe(f"{where}: timeframe", table.get("timeframe"))
    return StrategyEntry(name.strip(), tuple(params), timeframe)


# -- writing ----------------------------------------------------------------------------------


def write_session_file(path: Path, session: SessionFile) -> None:
    """Write `session` to `path` atomically: a crash leaves the old file or the new one."""
    write_atomic(path, session_toml(session).encode())


def session_toml(session: SessionFile) -> str:
    """`session` as the TOML text `read_session_file` reads back to it."""
    top: list[tuple[str, object]] = [
        ("symbols", list(session.symbols) if session.symbols else None),
        ("timeframe", session.timeframe),
        ("start", session.start),
        ("end", session.end),
        ("speed", session.speed),
        ("allow_gaps", session.allow_gaps),
        *session.rules,
    ]
    lines = [f"{_key(key)} = {_value(value)}" for key, value in top if value is not None]
    for entry in session.strategies:
        lines += ["", f"[[{STRATEGY}]]", f"name = {_value(entry.name)}"]
        lines += [f"{_key(key)} = {_value(value)}" for key, value in entry.params]
        if entry.timeframe:
            lines.append(f"timeframe = {_value(entry.timeframe)}")
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # `0.5`, `1e-05`, `5.0`: TOML floats, read back exactly
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"a session file holds no {type(value).__name__}")


def _string(text: str) -> str:
    # JSON's escapes are TOML's basic string escapes (\" \\ \n \uXXXX ...); DEL is the one
    # character TOML wants escaped that JSON leaves as it is.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _spec_value(value: ParameterValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
