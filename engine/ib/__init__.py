"""Interactive Brokers: the client adapter, IB's request rules, and the simulated gateway."""
