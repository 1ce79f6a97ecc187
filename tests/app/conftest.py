"""Fixtures of the app's tests, beside tests/conftest.py's."""

from __future__ import annotations

import pytest

from engine.loading.load_job import LoadStatus
from engine.loading.service import LoadService
from tests.support.jobs_views import FakeLoads


@pytest.fixture
def fake_loads(monkeypatch: pytest.MonkeyPatch):
    """`fake_loads(statuses)`: the app opens a FakeLoads of `statuses` instead of a LoadService
    (and starts no gateway)."""

    def install(statuses: list[LoadStatus]) -> FakeLoads:
        fake = FakeLoads(statuses)
        monkeypatch.setattr(LoadService, "for_config", classmethod(lambda cls, *a, **k: fake))
        return fake

    return install
