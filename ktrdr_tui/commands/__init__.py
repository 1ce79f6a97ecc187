"""Headless subcommands, one module each; `cli.py` imports them only when they run."""
