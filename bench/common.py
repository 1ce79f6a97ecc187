"""What every benchmark prints the same way."""


def verdict(ok: bool) -> str:
    """A goal's outcome, in the words every benchmark uses."""
    return "met" if ok else "NOT met"
