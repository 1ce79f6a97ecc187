"""Shared fixtures: every test runs with its own config, data, cache and log folders, at one
pinned instant. Snapshots live where the snapshot plugin puts them: tests/app/__snapshots__/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from engine.clock import FixedClock
from engine.config import Config
from engine.core.pacing import PacingLedger, PacingRules
from engine.ib.sim_gateway import Faults, GatewaySettings, SimulatedGateway
from ktrdr_tui.app import KtrdrApp
from ktrdr_tui.theme_files import load_theme_files, shipped_themes_dir

TERMINAL_SIZE = (100, 30)
# Every test runs at this instant, whatever the calendar says: after the close of Friday
# 2024-03-15, so "the last month" is 2024-02-15 .. 2024-03-15, full sessions only.
PINNED_NOW = "2024-03-15T22:00:00+00:00"


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real user's config, data, cache or logs."""
    home = tmp_path / "home"
    for variable, folder in {
        "XDG_CONFIG_HOME": "config",
        "XDG_DATA_HOME": "data",
        "XDG_CACHE_HOME": "cache",
        "XDG_STATE_HOME": "state",
    }.items():
        monkeypatch.setenv(variable, str(home / folder))
    monkeypatch.setenv("HOME", str(home))
    for variable in (
        "KTRDR_CONFIG",
        "KTRDR_SOURCE",
        "KTRDR_GATEWAY",
        "KTRDR_CLIENT_ID",
        "KTRDR_DATA_DIR",
        "KTRDR_THEME",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KTRDR_NOW", PINNED_NOW)  # the CLI in a subprocess reads it
    return home


@pytest.fixture
def make_app(tmp_path: Path):
    """A deterministic app: simulated source, shipped themes only, animations off."""

    def make(theme: str = "ktrdr-dark", **config: object) -> KtrdrApp:
        settings = Config(
            source="sim",
            data_dir=tmp_path / "store",
            theme=theme,
            now=FixedClock.parse(PINNED_NOW),
        )
        app = KtrdrApp(replace(settings, **config), load_theme_files(shipped_themes_dir()))
        app.animation_level = "none"
        return app

    return make


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., SimulatedGateway]]:
    """`start_gateway(port=0, pacing="off", **faults)` -> a running simulated gateway, stopped
    after the test. `pacing` is a mode (`off`, `fast`, `real`) or scaled-down `PacingRules`;
    `faults` are `Faults` fields (`latency_ms=50`, `drop_after=3`, ...)."""
    started: list[SimulatedGateway] = []

    def start(port: int = 0, pacing: str | PacingRules = "off", **faults) -> SimulatedGateway:
        mode = pacing if isinstance(pacing, str) else "off"
        gateway = SimulatedGateway(GatewaySettings(pacing=mode, port=port, faults=Faults(**faults)))
        if not isinstance(pacing, str):
            gateway.pacing = PacingLedger(pacing)
        gateway.start_in_thread()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()
