"""What a symbol may be: one rule for the store's folder names and every front end's input.
Import-light."""

from __future__ import annotations

import re

# Upper case after `check_symbol`; never a path separator or `..`, so a symbol is a safe folder.
SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,14}")


def check_symbol(symbol: str, error: type[Exception] = ValueError) -> str:
    """`symbol` in upper case, or `error` with the one line every front end shows."""
    if not isinstance(symbol, str) or not SYMBOL.fullmatch(symbol.upper()):
        raise error(
            f"bad symbol {symbol!r}: 1-15 letters, digits, '.' or '-', starting with a letter "
            "or digit"
        )
    return symbol.upper()
