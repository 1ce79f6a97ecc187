"""Strategies as users bring them: example strategy files, and packages installed with an
entry point in the `ktrdr_tui.strategies` group."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from engine.strategy.base import Strategy
from engine.strategy.catalog import ENTRY_POINT_GROUP, load_catalog, strategies_dir

EXAMPLES = Path(__file__).parent / "strategy_files"
# breakout.py: DESIGN's Breakout; volume_breakout.py: high, low and volume, an int, a float and
# a bool parameter.
EXAMPLE_FILES = tuple(sorted(EXAMPLES.glob("*.py")))
# A strategy file whose `setup` raises KeyError: 5 with its default window (not among the
# examples: every example must run).
LOOKUP_SOURCE = '''from engine.strategy import Strategy


class Lookup(Strategy):
    """Looks its window up in a table that lacks it."""

    name = "lookup"
    window: int = 5

    def setup(self):
        self.weights = {1: 1.0}[self.window]

    def on_bar(self, bars):
        pass
'''


def in_strategies_dir(file_name: str, source: str) -> Path:
    """`source` written as `file_name` in the user's strategies folder (made if missing)."""
    path = strategies_dir() / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


def discovered_strategies() -> tuple[type[Strategy], ...]:
    """Every strategy the catalog finds, the example files named as `--strategy-file` names
    them: the built-ins, any installed package's, then the examples."""
    return tuple(entry.strategy for entry in load_catalog(named=EXAMPLE_FILES).entries)


def install_package(site: Path, package: str, source: str, entry_points: Mapping[str, str]) -> None:
    """Distribution `package` 1.0 in `site` (a folder to put on sys.path, as pip would): module
    `package` holding `source`, and `entry_points` (name -> `module:attribute`) in the
    strategies group."""
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text(source)
    info = site / f"{package}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    listed = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{listed}")
