"""A run's results (DESIGN.md, "Results"): trading costs, the equity curve per bar, round-trip
trades, the statistics and their CSVs. Pure calculators over numpy columns: they read fills and
bars and know nothing of sessions, playback or the app."""

from engine.results.costs import Costs
from engine.results.equity import EquityCurve, Fills, equity_curve
from engine.results.export import equity_csv, trades_csv, write_equity_csv, write_trades_csv
from engine.results.statistics import Statistics, statistics
from engine.results.trades import Trades, round_trips

__all__ = [
    "Costs",
    "EquityCurve",
    "Fills",
    "Statistics",
    "Trades",
    "equity_csv",
    "equity_curve",
    "round_trips",
    "statistics",
    "trades_csv",
    "write_equity_csv",
    "write_trades_csv",
]
