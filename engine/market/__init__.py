"""Markets: the trading calendar (and, later, the bar store and segment planner)."""
