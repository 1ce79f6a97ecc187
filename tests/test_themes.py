"""Theme files: the shipped ones load; bad ones are reported and skipped."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ktrdr_tui.theme_files import load_theme_files, read_theme, shipped_themes_dir

ROOT = Path(__file__).resolve().parent.parent


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
