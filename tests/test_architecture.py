"""The engine stays headless: checked by import-linter and by importing it for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_importing_the_engine_does_not_import_textual() -> None:
    code = (
        "import sys, engine, engine.core, engine.config, engine.logs, engine.source; "
        "assert 'textual' not in sys.modules, 'textual was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cli_help_does_not_import_textual_or_pandas() -> None:
    # `ktrdr-tui --help` and usage errors must answer at once.
    code = (
        "import sys\n"
        "from ktrdr_tui.cli import build_parser\n"
        "build_parser()\n"
        "loaded = {'textual', 'pandas', 'pyarrow', 'ib_insync'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
