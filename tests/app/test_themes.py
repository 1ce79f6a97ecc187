"""Theme files: the shipped ones load; bad ones are reported and skipped."""

from __future__ import annotations

import functools
import importlib
import pkgutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.app import App
from textual.css.stylesheet import Stylesheet
from textual.theme import BUILTIN_THEMES, Theme
from textual.widget import Widget

from ktrdr_tui.theme_files import (
    load_theme_files,
    read_theme,
    remember_theme,
    shipped_themes_dir,
    theme_names,
)

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_dark_and_light_themes() -> None:
    files = load_theme_files(shipped_themes_dir())
    assert files.problems == []
    by_name = {theme.name: theme for theme in files.themes}
    assert by_name["ktrdr-dark"].dark is True
    assert by_name["ktrdr-light"].dark is False
    # The package finds the same files a checkout has at the top level.
    assert sorted(p.name for p in shipped_themes_dir().glob("*.toml")) == sorted(
        p.name for p in (ROOT / "themes").glob("*.toml")
    )


def test_theme_variables_are_read(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        'name = "t"\nprimary = "#ff0000"\n[variables]\n"footer-key-foreground" = "red"\n'
    )
    theme = read_theme(path)
    assert theme.primary == "#ff0000"
    assert theme.variables == {"footer-key-foreground": "red"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name = \n", "not valid TOML"),
        ('primary = "#fff"\n', "'name'"),
        ('name = "x"\n', "'primary' is required"),
        ('name = "x"\nprimary = "chartreuse-ish"\n', "not a colour"),
        ('name = "x"\nprimary = "#fff"\nprimery = "#000"\n', "unknown keys primery"),
        ('name = "x"\nprimary = "#fff"\ndark = "yes"\n', "'dark'"),
        ('name = "x"\nprimary = "#fff"\nvariables = { a = 1 }\n', "[variables]"),
        # Values Textual takes, then fails on at the first frame: reported, not a crash.
        ('name = "x"\nprimary = "#fff"\nluminosity_spread = 1e308\n', "between 0 and 1"),
        ('name = "x"\nprimary = "#fff"\nluminosity_spread = nan\n', "between 0 and 1"),
        ('name = "x"\nprimary = "#fff"\ntext_alpha = -1\n', "between 0 and 1"),
        ('name = "x"\nprimary = "#fff"\ntext_alpha = true\n', "must be a number"),
        (
            'name = "x"\nprimary = "#fff"\n[variables]\n"footer-key-foreground" = "nope"\n',
            "footer-key-foreground = 'nope' is not a colour",
        ),
        (
            'name = "x"\nprimary = "#fff"\n[variables]\n"block-cursor-text-style" = "blinky"\n',
            "is not a text style",
        ),
        (
            'name = "x"\nprimary = "#fff"\n[variables]\n"footer-background" = "$primary"\n',
            "is not a colour",
        ),
    ],
)
def test_bad_theme_files_are_skipped_with_a_reason(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / "bad.toml").write_bytes(text.encode())
    (tmp_path / "good.toml").write_text('name = "good"\nprimary = "#00ff00"\n')
    files = load_theme_files(tmp_path)
    assert [theme.name for theme in files.themes] == ["good"]
    assert len(files.problems) == 1
    assert "bad.toml" in files.problems[0] and reason in files.problems[0]


def test_user_theme_overrides_shipped_theme_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text('name = "ktrdr-dark"\nprimary = "#010203"\n')
    files = load_theme_files(shipped_themes_dir(), tmp_path)
    dark = [theme for theme in files.themes if theme.name == "ktrdr-dark"]
    assert len(dark) == 1 and dark[0].primary == "#010203"


def test_wheel_ships_the_themes(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("ktrdr_tui-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for theme in (ROOT / "themes").glob("*.toml"):
        assert f"ktrdr_tui/themes/{theme.name}" in names


@functools.cache
def app_css() -> tuple[tuple[str, str], ...]:
    """Every stylesheet the app may load: its own, and the DEFAULT_CSS of every widget class
    it or Textual defines (dialogs included)."""
    import textual.widgets

    import ktrdr_tui.app  # its widgets (and the dialogs') become Widget subclasses

    for module in pkgutil.iter_modules(ktrdr_tui.screens.__path__):
        importlib.import_module(f"ktrdr_tui.screens.{module.name}")
    for name in textual.widgets.__all__:
        getattr(textual.widgets, name)  # imported lazily otherwise

    def subclasses(cls: type) -> set[type]:
        return {sub for direct in cls.__subclasses__() for sub in {direct, *subclasses(direct)}}

    sources = [(cls.DEFAULT_CSS, cls.__name__) for cls in subclasses(Widget)]
    sources += [(App.DEFAULT_CSS, "App"), ((ROOT / "ktrdr_tui/app.tcss").read_text(), "app")]
    return tuple((css, name) for css, name in sources if css)


def app_css_parses(theme: Theme) -> bool:
    variables = {**theme.to_color_system().generate(), **theme.variables}  # as App does
    sheet = Stylesheet(variables=variables)
    for css, name in app_css():
        sheet.add_source(css, read_from=(name, ""), is_default_css=True)
    try:
        sheet.parse()
    except Exception:
        return False
    return True


VARIABLE_NAMES = sorted(BUILTIN_THEMES["textual-dark"].to_color_system().generate())
SOME_VALUES = sorted(
    {v for t in BUILTIN_THEMES.values() for v in t.to_color_system().generate().values()}
)
NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 5)
VALUES = st.sampled_from(SOME_VALUES) | st.text(max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spread=NUMBERS,
    alpha=NUMBERS,
    variables=st.dictionaries(st.sampled_from(VARIABLE_NAMES), VALUES, max_size=3),
)
def test_a_theme_that_loads_is_one_the_app_can_draw(
    tmp_path_factory, spread: float, alpha: float, variables: dict[str, str]
) -> None:
    """Whatever the numbers and variables, a theme file is either refused with a reason or
    gives variables every stylesheet of the app parses with: never a crash at the first frame."""
    path = tmp_path_factory.mktemp("theme") / "t.toml"
    lines = ['name = "t"', 'primary = "#4EA1FF"', f"luminosity_spread = {toml_number(spread)}"]
    lines += [f"text_alpha = {toml_number(alpha)}", "[variables]"]
    lines += [f"{name!r} = {toml_string(value)}" for name, value in variables.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        theme = read_theme(path)
    except ValueError:
        return
    assert app_css_parses(theme)


def toml_number(value: float) -> str:
    text = str(value).lower()
    return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(text, text)


def toml_string(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def test_the_shipped_and_built_in_themes_pass_the_check() -> None:
    for theme in [*load_theme_files(shipped_themes_dir()).themes, *BUILTIN_THEMES.values()]:
        assert app_css_parses(theme), theme.name


def test_one_list_of_themes_has_textuals_and_ours(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text('name = "mine"\nprimary = "#123456"\n')
    names = theme_names(load_theme_files(shipped_themes_dir(), tmp_path))
    assert names == sorted({*BUILTIN_THEMES, "ktrdr-dark", "ktrdr-light", "mine"})
    assert "nord" in names and "textual-light" in names


def test_remember_theme_sets_the_key_and_keeps_the_rest(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    remember_theme("nord", config)  # no file yet
    assert tomllib.loads(config.read_text()) == {"theme": "nord"}
    config.write_text(
        '# my settings\nsource = "sim"\ntheme = "ktrdr-light"  # bright room\n'
        'data_dir = "~/bars"'  # no newline at the end
    )
    remember_theme("gruvbox", config)
    text = config.read_text()
    assert text.startswith('# my settings\nsource = "sim"\ntheme = "gruvbox"\n')
    assert tomllib.loads(text) == {"source": "sim", "theme": "gruvbox", "data_dir": "~/bars"}


def test_remember_theme_puts_the_key_before_any_table(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('source = "sim"\n[extra]\ntheme = "in a table"\n')
    remember_theme("nord", config)
    assert tomllib.loads(config.read_text()) == {
        "source": "sim",
        "theme": "nord",
        "extra": {"theme": "in a table"},
    }


def test_remember_theme_leaves_a_broken_config_alone(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("source = \n")
    with pytest.raises(ValueError):
        remember_theme("nord", config)
    assert config.read_text() == "source = \n"


def test_the_theme_flag_takes_every_theme_the_palette_offers(capsys, monkeypatch) -> None:
    from ktrdr_tui.app import KtrdrApp
    from tests.support.cli_run import run

    opened: list[str] = []
    monkeypatch.setattr(KtrdrApp, "run", lambda app, *args, **kwargs: opened.append(app.theme))
    for name in ("nord", "textual-light", "ktrdr-light"):
        assert run(capsys, "--theme", name)[0] == 0
    assert opened == ["nord", "textual-light", "ktrdr-light"]
    code, _, err = run(capsys, "--theme", "sepia")
    assert code == 2 and "nord" in err and "ktrdr-dark" in err
