"""Where strategies come from: the built-ins, installed packages (the `ktrdr_tui.strategies`
entry-point group), every `*.py` in the user's strategies folder, the files `strategy_files` in
config.toml lists and the files named on the command line (`--strategy-file`).

Each strategy keeps its origin, which `ktrdr-tui strategies` shows and every error names. A
file or package that cannot be loaded is a one-line problem naming it; the catalog goes on
without it, except for a file named on the command line, which is an error. Two strategies
with one name are a problem too, and the name then finds neither.

Files are executed as modules under a name derived from their path, so two files with one
name, or a file named like an installed module, never replace each other in `sys.modules`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

from engine.config import config_path
from engine.market.timeframes import TIMEFRAMES
from engine.strategy.base import Strategy

ENTRY_POINT_GROUP = "ktrdr_tui.strategies"
BUILT_IN = "built-in"
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # what a spec can name: no `:`, `,`, `=` or space
_MODULE_PREFIX = "ktrdr_strategy_file_"


class CatalogError(ValueError):
    """A strategy file or package that cannot be used; the message is one line naming it."""


@dataclass(frozen=True)
class CatalogEntry:
    strategy: type[Strategy]
    origin: str  # "built-in", "entry point NAME (package)" or "file PATH"


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]
    # One line per file or package skipped, and per name defined more than once.
    problems: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(entry.strategy.name for entry in self.entries))

    def strategy(self, name: str) -> type[Strategy]:
        """The strategy called `name`, or a ValueError with the user's one line."""
        found = [entry for entry in self.entries if entry.strategy.name == name]
        if not found:
            raise ValueError(f"unknown strategy {name!r} (choose from {', '.join(self.names)})")
        if len(found) > 1:
            raise ValueError(_defined_twice(found))
        return found[0].strategy


def strategies_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The user's strategies folder: `strategies/` beside config.toml."""
    return config_path(environ).parent / "strategies"


@cache
def builtin_catalog() -> Catalog:
    from engine.strategy.builtins import BUILTINS  # the built-ins import their indicators

    return Catalog(tuple(CatalogEntry(cls, BUILT_IN) for cls in BUILTINS))


def load_catalog(files: Sequence[Path] = (), named: Sequence[Path] = ()) -> Catalog:
    """Every strategy: the built-ins, the entry points, the `*.py` in the user's strategies
    folder, `files` (config.toml's `strategy_files`; relative to the config file's folder)
    and `named` (`--strategy-file`; a CatalogError when one fails). A file listed in several
    places is loaded once."""
    entries = list(builtin_catalog().entries)
    problems: list[str] = []
    for found in _entry_points():
        try:
            entries += _from_entry_point(found)
        except CatalogError as exc:
            problems.append(str(exc))
    folder = strategies_dir()
    try:
        in_folder = sorted(p for p in folder.glob("*.py") if not p.name.startswith(("_", ".")))
    except OSError as exc:
        in_folder = []
        problems.append(f"{folder}: cannot list the strategies folder: {exc.strerror or exc}")
    config_dir = config_path().parent
    loaded: dict[Path, list[CatalogEntry] | CatalogError] = {}
    sources = [
        *((path, False) for path in in_folder),
        *((config_dir / path.expanduser(), False) for path in files),
        *((path, True) for path in named),
    ]
    for path, strict in sources:
        path = Path(os.path.abspath(path.expanduser()))
        if path not in loaded:
            try:
                loaded[path] = _from_file(path)
                entries += loaded[path]
            except CatalogError as exc:
                loaded[path] = exc
                problems.append(str(exc))
        result = loaded[path]
        if strict and isinstance(result, CatalogError):
            raise result
    entries = _distinct(entries)
    by_name: dict[str, list[CatalogEntry]] = {}
    for entry in entries:
        by_name.setdefault(entry.strategy.name, []).append(entry)
    problems += [_defined_twice(same) for same in by_name.values() if len(same) > 1]
    return Catalog(tuple(entries), tuple(problems))


# -- entry points -----------------------------------------------------------------------------


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """The group's entry points, by package then name: the same order on every machine."""
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return sorted(found, key=lambda ep: (ep.dist.name if ep.dist else ep.module, ep.name))


def _from_entry_point(found: importlib.metadata.EntryPoint) -> list[CatalogEntry]:
    package = found.dist.name if found.dist is not None else found.module
    origin = f"entry point {found.name} ({package})"
    try:
        loaded = found.load()
    except Exception as exc:  # a broken package must not take the others down
        raise CatalogError(f"{origin}: cannot load {found.value}: {_one_line(exc)}") from None
    if isinstance(loaded, ModuleType):
        classes = _defined_in(loaded, origin)
    elif isinstance(loaded, type) and issubclass(loaded, Strategy):
        classes = [loaded]
    else:
        raise CatalogError(
            f"{origin}: {found.value} is neither a Strategy subclass nor a module of them"
        )
    return [_checked(cls, origin) for cls in classes]


# -- files ------------------------------------------------------------------------------------


def _from_file(path: Path) -> list[CatalogEntry]:
    origin = f"file {path}"
    if not path.is_file():
        raise CatalogError(f"{origin}: no such file")
    module = _execute(path, origin)
    return [_checked(cls, origin) for cls in _defined_in(module, origin)]


def _execute(path: Path, origin: str) -> ModuleType:
    # A name from the path: unique per file, and no installed module is called like this.
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    name = f"{_MODULE_PREFIX}{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CatalogError(f"{origin}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    # In sys.modules while it runs: the annotations of its classes resolve in its namespace.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # SystemExit: a file that calls sys.exit()
        del sys.modules[name]
        raise CatalogError(f"{origin}: cannot load: {_one_line(exc, path)}") from None
    return module


def _defined_in(module: ModuleType, origin: str) -> list[type[Strategy]]:
    """The Strategy subclasses with a name that `module` defines (not those it imports)."""
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Strategy)
        and value is not Strategy
        and value.__module__ == module.__name__
    ]
    named = [cls for cls in classes if getattr(cls, "name", None) is not None]
    if not named:
        unnamed = f" ({classes[0].__name__} has no `name`)" if classes else ""
        raise CatalogError(f"{origin}: defines no Strategy subclass with a name{unnamed}")
    return named


# -- checks -----------------------------------------------------------------------------------


def _checked(cls: type[Strategy], origin: str) -> CatalogEntry:
    """The entry, if the class can be named in a spec and read from a session."""
    where = f"{origin}: {cls.__name__}"
    if not isinstance(cls.name, str) or not NAME.fullmatch(cls.name):
        raise CatalogError(
            f"{where}: name must be a word of letters, digits and _ (starting with a letter), "
            f"got {cls.name!r}"
        )
    if any(parameter.name == "timeframe" for parameter in cls.parameters()):
        raise CatalogError(f"{where}: `timeframe` is the spec's own key, not a parameter name")
    unknown = [tf for tf in cls.timeframes if tf not in TIMEFRAMES]
    if unknown:
        raise CatalogError(
            f"{where}: unknown timeframe {unknown[0]!r} in timeframes "
            f"(choose from {', '.join(TIMEFRAMES)})"
        )
    return CatalogEntry(cls, origin)


def _distinct(entries: list[CatalogEntry]) -> list[CatalogEntry]:
    """One entry per class: a package can reach one class through two entry points."""
    seen: set[type[Strategy]] = set()
    distinct = []
    for entry in entries:
        if entry.strategy not in seen:
            seen.add(entry.strategy)
            distinct.append(entry)
    return distinct


def _defined_twice(same: list[CatalogEntry]) -> str:
    places = [entry.origin for entry in same]
    times = "twice" if len(places) == 2 else f"{len(places)} times"
    listing = ", ".join(places[:-1]) + f" and {places[-1]}"
    return f"strategy {same[0].strategy.name!r} is defined {times}: {listing}"


def _one_line(exc: BaseException, path: Path | None = None) -> str:
    """`TypeError: message (line 12)`: the exception and, for a file, its line that raised."""
    if isinstance(exc, SyntaxError):
        message, line = exc.msg, exc.lineno
    else:
        message = str(exc)
        frames = traceback.extract_tb(exc.__traceback__)
        line = next((f.lineno for f in reversed(frames) if path and f.filename == str(path)), None)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    text = " ".join(text.split())  # one line whatever the message holds
    return f"{text} (line {line})" if line else text
