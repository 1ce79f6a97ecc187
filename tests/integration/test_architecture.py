"""The engine stays headless and layered: checked by import-linter (the contracts in
pyproject.toml) and by importing it for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


CONTRACTS = (
    "The engine is headless: it never imports textual or the app",
    "Engine layers: loading / ib, session / strategy, results / market / core",
)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the packages under `root`, with the contracts of root/pyproject.toml."""
    lint = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [str(lint), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )


def test_import_linter_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CONTRACTS:
        assert f"{name} KEPT" in result.stdout, result.stdout
    assert f"{len(CONTRACTS)} kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "imports", "edge"),
    [
        # a session module importing the load jobs (as session/request.py once did)
        ("session/request.py", "engine.loading.modes", "engine.session.request -> engine.loading"),
        # a strategy reaching up into the session that runs it
        ("strategy/spec.py", "engine.session.bars", "engine.strategy.spec -> engine.session"),
        # the results calculators reaching up into the session
        ("results/trades.py", "engine.session.logs", "engine.results.trades -> engine.session"),
    ],
)
def test_the_layers_contract_catches_an_import_upwards(
    tmp_path: Path, module: str, imports: str, edge: str
) -> None:
    # The contract as configured, over a copy of the engine where one module imports a layer
    # above its own: import-linter must call it broken.
    config = (ROOT / "pyproject.toml").read_text()
    engine = tmp_path / "engine"
    shutil.copytree(ROOT / "engine", engine, ignore=shutil.ignore_patterns("__pycache__"))
    (engine / module).write_text(f"import {imports}\n", encoding="utf-8")
    shutil.copytree(ROOT / "ktrdr_tui", tmp_path / "ktrdr_tui")
    (tmp_path / "pyproject.toml").write_text(config, encoding="utf-8")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{CONTRACTS[1]} BROKEN" in result.stdout
    assert edge in result.stdout


def test_importing_the_engine_does_not_import_textual() -> None:
    code = (
        "import sys, engine, engine.core, engine.config, engine.logging_setup, engine.source; "
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
