"""Table cells in the theme's colours: the one place the app's tables get their styles from."""

from __future__ import annotations

from collections.abc import Mapping

from rich.style import Style
from rich.text import Text


def theme_style(variables: Mapping[str, str], name: str, *, bold: bool = False) -> Style:
    """A Rich style in the theme's colour `name` (`success`, `error`, …); dim if it has none."""
    colour = variables.get(name, "") if name else ""
    if not colour.startswith("#"):
        return Style(dim=True, bold=bold)
    return Style(color=colour, bold=bold)


def same_cell(a: object, b: object) -> bool:
    """Equal cells; Rich compares Texts by their text and spans only, not their style."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.style == b.style and a.spans == b.spans
    return a == b
