"""Themes as TOML files: the ones shipped in `themes/` and any in the user's config folder.

`ktrdr_tui/themes` links to the top-level `themes/` in a checkout and is a real folder inside
the wheel, so `importlib.resources` finds the files the same way in both.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs
from textual.color import Color, ColorParseError
from textual.theme import Theme

from engine.config import APP_NAME

log = logging.getLogger(__name__)

_COLOR_KEYS = [
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
]
_OTHER_KEYS = {"name", "dark", "luminosity_spread", "text_alpha", "variables"}
_KNOWN_KEYS = set(_COLOR_KEYS) | _OTHER_KEYS


@dataclass(frozen=True)
class ThemeFiles:
    themes: list[Theme]
    problems: list[str]  # one line per skipped file


def shipped_themes_dir() -> Path:
    return Path(str(resources.files("ktrdr_tui") / "themes"))


def user_themes_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "themes"


def load_theme_files(*directories: Path) -> ThemeFiles:
    """Read every `*.toml` in `directories`; a later file of the same name wins."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for directory in directories or (shipped_themes_dir(), user_themes_dir()):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = read_theme(path)
            except ValueError as exc:
                problems.append(f"theme file {path} skipped: {exc}")
                log.warning("theme file %s skipped: %s", path, exc)
                continue
            themes[theme.name] = theme
    return ThemeFiles(list(themes.values()), problems)


def read_theme(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML ({exc})") from None
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise ValueError(f"unknown keys {', '.join(unknown)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("'name' must be a non-empty string")
    if "primary" not in data:
        raise ValueError("'primary' is required")
    for key in _COLOR_KEYS:
        if key in data:
            _check_color(key, data[key])
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(value, str) for value in variables.values()
    ):
        raise ValueError("[variables] must map names to strings")
    if not isinstance(data.get("dark", True), bool):
        raise ValueError("'dark' must be true or false")
    for key in ("luminosity_spread", "text_alpha"):
        if key in data and not isinstance(data[key], int | float):
            raise ValueError(f"'{key}' must be a number")
    fields = {field.name for field in dataclasses.fields(Theme)}
    return Theme(**{key: value for key, value in data.items() if key in fields})


def _check_color(key: str, value: object) -> None:
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be a colour string")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"'{key}' is not a colour: {value!r}") from None
