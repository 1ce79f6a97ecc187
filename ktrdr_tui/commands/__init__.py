"""Headless subcommands, one module each; `cli.py` imports them only when they run."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


class CommandFailed(Exception):
    """A command could not do its work; the message is the one line the user sees."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code
