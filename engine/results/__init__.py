"""A run's results (DESIGN.md, "Results"): the equity curve per bar, round-trip trades, the
statistics and their CSVs; trading costs (engine.trading_rules) priced into the fills. Pure
calculators over numpy columns: they read fills and bars and know nothing of sessions, playback
or the app."""

from engine.results.equity import EquityCurve, EquityMarks, Fills, PortfolioMarks, equity_curve
from engine.results.export import equity_csv, trades_csv, write_equity_csv, write_trades_csv
from engine.results.statistics import Statistics, statistics
from engine.results.trades import TradeBook, Trades, round_trips
from engine.trading_rules import Costs

__all__ = [
    "Costs",
    "EquityCurve",
    "EquityMarks",
    "Fills",
    "PortfolioMarks",
    "Statistics",
    "TradeBook",
    "Trades",
    "equity_csv",
    "equity_curve",
    "round_trips",
    "statistics",
    "trades_csv",
    "write_equity_csv",
    "write_trades_csv",
]
