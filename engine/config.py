"""Settings: built-in defaults < config.toml < KTRDR_* variables < command-line flags.

Every value passes through one parser per key, so a bad value from any layer gives the same
one-line error naming the key and where it came from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

from engine.clock import Clock, FixedClock, system_clock
from engine.trading_rules import OPTIONS as TRADING_OPTIONS
from engine.trading_rules import RuleError, TradingRules

APP_NAME = "ktrdr-tui"
# The `source` setting: the names of `engine.loading.bar_source.SOURCES`, and "auto" (which
# `engine.source.choose_source` resolves). Written out here because the settings sit below the
# engine's layers (IB reads them) and cannot import the loading layer; a test keeps the two in step.
SOURCES = ("auto", "sim", "ib")
DEFAULT_THEME = "ktrdr-dark"
MAX_CLIENT_ID = 2**31 - 2  # 32-bit; 2**31 - 1 is the API's "unset" value, sent as no id


class ConfigError(ValueError):
    """A bad setting; the message is one line that names the key."""


@dataclass(frozen=True)
class GatewayAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> GatewayAddress:
        host, sep, port = text.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected HOST:PORT with a port 1-65535, got {text!r}")
        return cls(host.strip("[]"), int(port))


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


@dataclass(frozen=True)
class Config:
    source: str = "auto"
    gateway: GatewayAddress = GatewayAddress("127.0.0.1", 4002)
    client_id: int = 1
    data_dir: Path = field(default_factory=default_data_dir)
    theme: str = DEFAULT_THEME
    now: Clock = system_clock  # what time it is; KTRDR_NOW fixes it (tests, demos)
    # The app's keys by binding id (`"pane.jobs" = "f1"`), as Textual's `App.set_keymap`.
    keymap: Mapping[str, str] = field(default_factory=dict)
    # Strategy files to load besides the strategies folder; relative to config.toml's folder.
    strategy_files: tuple[Path, ...] = ()
    # The trading rules of a backtest: config.toml's keys named as `backtest`'s flags
    # (`max_position = 500`), parsed by engine.trading_rules (file and flags only).
    trading: TradingRules = field(default_factory=TradingRules)


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    explicit = environ.get("KTRDR_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def _source(value: object) -> str:
    if value not in SOURCES:
        raise ValueError(f"expected one of {', '.join(SOURCES)}, got {value!r}")
    return str(value)


def _gateway(value: object) -> GatewayAddress:
    if not isinstance(value, str):
        raise ValueError(f"expected a string HOST:PORT, got {value!r}")
    return GatewayAddress.parse(value)


def _client_id(value: object) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_CLIENT_ID:
        raise ValueError(f"expected a whole number from 0 to {MAX_CLIENT_ID}, got {value!r}")
    return value


def _data_dir(value: object) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a directory path, got {value!r}")
    path = Path(value).expanduser()
    # The folder may not exist yet (it is made on the first write), but what does exist of it
    # must be folders: a file there fails every command later, far from the setting.
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(f"{value!r} is not a directory ({existing} is a file)")
    return path


def _theme(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a theme name, got {value!r}")
    return value.strip()


def _now(value: object) -> Clock:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO date or datetime, got {value!r}")
    return FixedClock.parse(value)


def _keymap(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f'expected a table of binding id = "keys", got {value!r}')
    for binding_id, keys in value.items():
        if not isinstance(keys, str) or not keys.strip():
            raise ValueError(
                f'{binding_id!r}: expected keys such as "f1" or "f1,ctrl+j", got {keys!r}'
            )
    return dict(value)


def _strategy_files(value: object) -> tuple[Path, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f'expected a list of file paths such as ["breakout.py"], got {value!r}')
    return tuple(Path(v.strip()).expanduser() for v in value)


# config.toml key -> (Config field, parser, KTRDR_* variable or None: the file only)
_KEYS: dict[str, tuple[str, Callable[[object], object], str | None]] = {
    "source": ("source", _source, "KTRDR_SOURCE"),
    "gateway": ("gateway", _gateway, "KTRDR_GATEWAY"),
    "client_id": ("client_id", _client_id, "KTRDR_CLIENT_ID"),
    "data_dir": ("data_dir", _data_dir, "KTRDR_DATA_DIR"),
    "theme": ("theme", _theme, "KTRDR_THEME"),
    "now": ("now", _now, "KTRDR_NOW"),
    "keymap": ("keymap", _keymap, None),
    "strategy_files": ("strategy_files", _strategy_files, None),
}


def load_config(
    flags: Mapping[str, object | None] | None = None,
    environ: Mapping[str, str] = os.environ,
    path: Path | None = None,
) -> Config:
    """`flags` maps config keys to command-line values (None where the flag was not given)."""
    named = path is None and bool(environ.get("KTRDR_CONFIG"))
    path = path or config_path(environ)
    changes: dict[str, object] = {}
    trading = TradingRules()
    for key, value in _read_file(path, named).items():
        if key in TRADING_OPTIONS:
            trading = _trading(key, value, trading, f"{path}: ")
        elif key not in _KEYS:
            known = ", ".join((*_KEYS, *TRADING_OPTIONS))
            raise ConfigError(f"{path}: unknown key {key!r} (known keys: {known})")
        else:
            changes[key] = _parse(key, value, f"{path}: {key}")
    for key, (_, _, variable) in _KEYS.items():
        if variable and environ.get(variable):
            changes[key] = _parse(key, environ[variable], variable)
    for key, value in (flags or {}).items():
        if value is not None and key in TRADING_OPTIONS:
            trading = _trading(key, value, trading, "--")
        elif value is not None:
            changes[key] = _parse(key, value, f"--{key.replace('_', '-')}")
    fields = {_KEYS[key][0]: value for key, value in changes.items()}
    return replace(Config(), trading=trading, **fields)


def _trading(key: str, value: object, rules: TradingRules, origin: str) -> TradingRules:
    """`rules` with one option set; `origin` is `PATH: ` for the file, `--` for a flag."""
    try:
        return TradingRules.from_text({key: value}, rules)
    except RuleError as exc:
        raise ConfigError(exc.flag if origin == "--" else f"{origin}{exc}") from None


def _parse(key: str, value: object, origin: str) -> object:
    try:
        return _KEYS[key][1](value)
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def _read_file(path: Path, named: bool) -> dict[str, object]:
    """The settings of config.toml; none when the default file does not exist, but a file
    KTRDR_CONFIG names (`named`) must."""
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        if named:
            raise ConfigError(f"KTRDR_CONFIG: {path}: no such file") from None
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text (at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
