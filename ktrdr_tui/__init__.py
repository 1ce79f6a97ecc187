"""ktrdr-tui: the Textual app over the headless `engine` package."""

__version__ = "0.1.0"
