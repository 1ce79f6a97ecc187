"""Helpers the tests and the benchmarks share: fakes, the app harness, the tmux driver."""
