"""Markets: the exchange and its trading calendar, the rules for symbols, timeframes and session
dates, and the bar store with its file importer. Knows nothing of IB or of load jobs."""
