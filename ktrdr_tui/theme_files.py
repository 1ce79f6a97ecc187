"""Themes as TOML files: the ones shipped in `themes/` and any in the user's config folder.

`ktrdr_tui/themes` links to the top-level `themes/` in a checkout and is a real folder inside
the wheel, so `importlib.resources` finds the files the same way in both.

A theme is checked whole when its file is read: its colours, numbers and [variables] must make
the colours Textual derives and parse where Textual's CSS uses them, so a theme that would stop
the app is reported and skipped instead. The theme picked in the command palette is written to
`config.toml`, so the next start opens with it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs
from textual.color import Color, ColorParseError
from textual.css.stylesheet import Stylesheet
from textual.theme import BUILTIN_THEMES, Theme

from engine.config import APP_NAME
from engine.core.atomic import write_atomic

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
_FRACTIONS = ("luminosity_spread", "text_alpha")  # numbers between 0 and 1
# The design variables Textual derives from a theme: the names its widgets' CSS may use.
_DESIGN_VARIABLES = BUILTIN_THEMES["textual-dark"].to_color_system().generate()


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
    for key in _FRACTIONS:
        value = data.get(key, 0.0)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"'{key}' must be a number")
        if not (math.isfinite(value) and 0 <= value <= 1):
            raise ValueError(f"'{key}' must be between 0 and 1, got {value}")
    fields = {field.name for field in dataclasses.fields(Theme)}
    theme = Theme(**{key: value for key, value in data.items() if key in fields})
    _check_variables(theme)
    return theme


def _check_variables(theme: Theme) -> None:
    """The variables Textual derives from the theme, and the theme's own [variables], each
    parsed where Textual's CSS uses it: a value it cannot take stops the app at the first frame.
    Variables Textual does not know are used nowhere, so they cannot break anything."""
    try:
        variables = {**theme.to_color_system().generate(), **theme.variables}
    except (ArithmeticError, ValueError) as exc:
        raise ValueError(f"its colours cannot be derived ({exc})") from None
    for name, value in theme.variables.items():
        if name not in _DESIGN_VARIABLES:
            continue
        css_property = _css_property(name)
        sheet = Stylesheet(variables=variables)
        sheet.add_source(f"Widget {{ {css_property}: ${name}; }}", read_from=(name, ""))
        try:
            sheet.parse()
        except Exception:  # the parser raises several kinds; any of them: not a value for it
            kind = "text style" if css_property == "text-style" else "colour"
            raise ValueError(f"[variables] {name} = {value!r} is not a {kind}") from None


def _css_property(variable: str) -> str:
    """The CSS property a design variable feeds: `*-text-style` and `link-style*` a text style,
    `*-background` a background, the rest a colour."""
    words = variable.split("-")
    if "style" in words:
        return "text-style"
    return "background" if words[-1] == "background" else "color"


def theme_names(theme_files: ThemeFiles) -> list[str]:
    """Every theme the app offers: Textual's built-in ones and the theme files' (the command
    palette lists the same)."""
    return sorted({*BUILTIN_THEMES, *(theme.name for theme in theme_files.themes)})


_THEME_LINE = re.compile(r"^\s*theme\s*=")
_TABLE_LINE = re.compile(r"^\s*\[")


def remember_theme(name: str, config_file: Path) -> None:
    """Set `theme = "<name>"` in `config_file`, keeping every other line (comments too), or
    start the file with it. Written atomically; a file it cannot read as TOML is left alone."""
    try:
        text = config_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    tomllib.loads(text)  # a broken file is the user's to fix: never write over it
    line = f"theme = {json.dumps(name, ensure_ascii=False)}\n"  # a TOML basic string
    lines = text.splitlines(keepends=True)
    # Top-level keys come before the first [table]; a key set there lives in that table.
    top = next((i for i, old in enumerate(lines) if _TABLE_LINE.match(old)), len(lines))
    replaced = [i for i in range(top) if _THEME_LINE.match(lines[i])]
    if replaced:
        lines[replaced[0]] = line
    else:
        if top and not lines[top - 1].endswith("\n"):
            lines[top - 1] += "\n"
        lines.insert(top, line)
    new_text = "".join(lines)
    if tomllib.loads(new_text).get("theme") != name:
        raise ValueError(f"cannot set the theme in {config_file}")
    write_atomic(config_file, new_text.encode("utf-8"))


def _check_color(key: str, value: object) -> None:
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be a colour string")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"'{key}' is not a colour: {value!r}") from None
