"""`strategies`: every strategy the catalog finds, with its parameters, description and origin;
`--new NAME` writes a template strategy into the user's strategies folder.

A file or package that could not be loaded is listed on stderr (one line each) after the
strategies that could, and the exit code is then 2: the user's input needs fixing.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from engine.config import Config
from engine.core.atomic import write_atomic
from engine.strategy.base import Parameter
from engine.strategy.catalog import NAME, Catalog, CatalogEntry, load_catalog, strategies_dir
from engine.strategy.spec import default_spec
from ktrdr_tui.commands import EXIT_OK, EXIT_USAGE, CommandFailed

TEMPLATE = '''\
"""{name}: a strategy to start from, written by `ktrdr-tui strategies --new {name}`.

Run it:  ktrdr-tui backtest SYMBOL --timeframe 1m --start DATE --end DATE --strategy {name}
`ktrdr-tui strategies` lists it with its parameters; README.md, "Write a strategy", has the API.
"""

from engine.strategy import Strategy


class {class_name}(Strategy):
    """Buy a close above the highest high of the last `lookback` bars; sell one below the
    lowest low."""  # the description `ktrdr-tui strategies` and the app show

    name = "{name}"  # the spec's name: `{name}:lookback=20`
    lookback: int = 20  # parameters: annotated class attributes (int, float, bool) with defaults

    def validate(self) -> None:
        # Refuse values that make no sense; the user sees the message.
        if self.lookback < 1:
            raise ValueError(f"lookback must be at least 1, got {{self.lookback}}")

    def on_bar(self, bars) -> None:
        # Once per bar: bars.timestamp/open/high/low/close/volume hold every bar so far, this
        # one last; signal with self.buy() or self.sell() (confidence 0..1, a reason).
        if len(bars) <= self.lookback:
            return
        if bars.close[-1] > bars.high[-self.lookback - 1 : -1].max():
            self.buy(confidence=1.0, reason="new high")
        elif bars.close[-1] < bars.low[-self.lookback - 1 : -1].min():
            self.sell(confidence=1.0, reason="new low")
'''


def strategies(args: argparse.Namespace, config: Config) -> int:
    if args.new is not None:
        return _new(args.new, config, args.json)
    catalog = load_catalog(config.strategy_files)
    if args.json:
        print(json.dumps(_as_json(catalog), indent=1))
    else:
        print(_as_text(catalog))
    for problem in catalog.problems:
        print(f"ktrdr-tui: {problem}", file=sys.stderr)
    return EXIT_USAGE if catalog.problems else EXIT_OK


def _as_json(catalog: Catalog) -> dict[str, object]:
    return {
        "strategies": [
            {
                "name": entry.strategy.name,
                "description": entry.strategy.description(),
                "origin": entry.origin,
                "parameters": [
                    {"name": p.name, "type": p.kind.__name__, "default": p.default}
                    for p in entry.strategy.parameters()
                ],
                "timeframes": list(entry.strategy.timeframes),
                "spec": default_spec(entry.strategy),
            }
            for entry in catalog.entries
        ],
        "problems": list(catalog.problems),
        "folder": str(strategies_dir()),
    }


def _as_text(catalog: Catalog) -> str:
    blocks = [_describe(entry) for entry in catalog.entries]
    blocks.append(
        f"Your own strategies: *.py files in {strategies_dir()} "
        "(ktrdr-tui strategies --new NAME writes one to start from)."
    )
    return "\n\n".join(blocks)


def _describe(entry: CatalogEntry) -> str:
    strategy = entry.strategy
    lines = [f"{strategy.name}  ({entry.origin})"]
    lines += [textwrap.indent(strategy.description() or "(no description)", "    ")]
    lines += [f"    {_parameter(p)}" for p in strategy.parameters()]
    if strategy.timeframes:
        lines.append(f"    also reads: {', '.join(strategy.timeframes)}")
    lines.append(f"    --strategy {default_spec(strategy)}")
    return "\n".join(lines)


def _parameter(parameter: Parameter) -> str:
    return f"{parameter.name:<16} {parameter.kind.__name__:<5} {parameter.show(parameter.default)}"


def _new(name: str, config: Config, as_json: bool) -> int:
    if not NAME.fullmatch(name):
        raise CommandFailed(
            f"--new: a strategy name is a word of letters, digits and _ (starting with a "
            f"letter), got {name!r}",
            EXIT_USAGE,
        )
    catalog = load_catalog(config.strategy_files)
    taken = [entry.origin for entry in catalog.entries if entry.strategy.name == name]
    if taken:
        raise CommandFailed(
            f"--new: a strategy named {name!r} exists already ({taken[0]}); pick another name",
            EXIT_USAGE,
        )
    path = strategies_dir() / f"{name}.py"
    if path.exists():
        raise CommandFailed(f"{path} exists already: edit it, or pick another name")
    class_name = "".join(part.capitalize() for part in name.split("_") if part)
    try:
        write_atomic(path, TEMPLATE.format(name=name, class_name=class_name).encode())
    except OSError as exc:
        raise CommandFailed(f"cannot write {path}: {exc.strerror or exc}") from None
    if as_json:
        print(json.dumps({"name": name, "path": str(path)}))
    else:
        print(path)
        print(
            f"wrote strategy {name!r}: edit it, then run it with --strategy {name}", file=sys.stderr
        )
    return EXIT_OK
