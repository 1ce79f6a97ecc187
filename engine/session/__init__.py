"""Backtest sessions: stored bars played through derived bars, quality, strategies, decisions
and fills, on a clock the user can speed up, pause, step and seek without changing a result."""
