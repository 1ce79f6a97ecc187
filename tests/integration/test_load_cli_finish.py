"""How `load` and `resume` end: a finished job is not resumed, an unwritable ETA history does
not fail a load, a failed segment's line says `resume` once, and small files read in kB."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from engine.ib import sim_gateway
from engine.loading.service import LoadService
from tests.support.cli_run import run

ONE_DAY = ("load", "AAPL", "--timeframe", "1m", "--start", "2024-01-02", "--end", "2024-01-02",
           "--source", "sim")  # fmt: skip
FOUR_DAYS = ("load", "AAPL", "--timeframe", "1m", "--start", "2024-01-02", "--end", "2024-01-05",
             "--source", "sim")  # fmt: skip


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("KTRDR_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def sim_faults(monkeypatch: pytest.MonkeyPatch):
    """Give the CLI's in-process simulated gateway these faults."""

    def give(**faults: object) -> None:
        build = sim_gateway.SimulatedGateway.__init__

        def with_faults(self, settings=None):
            settings = settings or sim_gateway.GatewaySettings()
            changed = dataclasses.replace(settings.faults, **faults)
            build(self, dataclasses.replace(settings, faults=changed))

        monkeypatch.setattr(sim_gateway.SimulatedGateway, "__init__", with_faults)

    return give


def test_resume_of_a_finished_job_says_so_before_starting_anything(capsys, monkeypatch) -> None:
    code, out, err = run(capsys, *ONE_DAY, "--json")
    assert code == 0, err
    job_id = json.loads(out)["jobs"][0]["job_id"]

    def no_service(*args, **kwargs):
        raise AssertionError("resume started a gateway for a finished job")

    monkeypatch.setattr(LoadService, "for_config", no_service)
    code, out, err = run(capsys, "resume", job_id, "--source", "sim", "--json")
    assert code == 0
    assert err == (
        f"AAPL 1m [{job_id}] is done already (1/1 segment, 390 bars, 1 request): "
        "nothing to resume\n"
    )
    assert json.loads(out)["jobs"][0]["state"] == "done"


def test_an_unwritable_eta_history_does_not_fail_the_load(
    capsys, isolated_user_dirs: Path, sim_faults
) -> None:
    # The ETA history is saved after a second of fetching, timed from the first segment's end:
    # three more answers of 500 ms make sure of it.
    sim_faults(latency_ms=500)
    cache = isolated_user_dirs / "cache"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("a file where the cache folder goes")
    code, out, err = run(capsys, *FOUR_DAYS, "--json")
    assert code == 0, err
    (job,) = json.loads(out)["jobs"]
    assert (job["state"], job["bars_fetched"]) == ("done", 1560)


def test_a_failed_segment_says_resume_once(capsys, sim_faults) -> None:
    sim_faults(no_data_every=2)
    code, out, err = run(capsys, *FOUR_DAYS, "--json")
    assert code == 1
    job_id = json.loads(out)["jobs"][0]["job_id"]
    (line,) = [line for line in err.splitlines() if line.startswith("ktrdr-tui:")]
    assert line.startswith(f"ktrdr-tui: AAPL 1m [{job_id}]: failed: 2 of 4 segments failed")
    assert line.endswith(
        f"(2/4 segments, 780 bars, 4 requests); resume with: ktrdr-tui resume {job_id}"
    )
    assert (
        line.count("resume") == 2
    )  # before: "...; resume <id> to retry them (...); resume with: ..."


def test_sizes_of_small_files_are_not_zero_megabytes(capsys) -> None:
    assert run(capsys, *ONE_DAY)[0] == 0
    code, out, _ = run(capsys, "data")
    assert code == 0
    (row,) = [line for line in out.splitlines() if "AAPL" in line]
    assert " kB " in row and "0.0 MB" not in row


def test_a_job_that_failed_before_its_plan_stays_listed_and_is_not_resumed(
    capsys, monkeypatch
) -> None:
    unknown = ("load", "ZZZZ", *ONE_DAY[2:])
    code, out, err = run(capsys, *unknown, "--json")
    assert code == 1
    job_id = json.loads(out)["jobs"][0]["job_id"]
    # A later `jobs` (a restart: another process) still lists it, with why; before, it was gone.
    code, out, _ = run(capsys, "jobs", "--json")
    (job,) = json.loads(out)["jobs"]
    assert (job["job_id"], job["state"], job["segments_total"]) == (job_id, "failed", 0)
    assert "unknown symbol 'ZZZZ'" in job["error"]
    code, out, _ = run(capsys, "jobs")
    assert "failed" in out and "resumable" not in out

    monkeypatch.setattr(LoadService, "for_config", lambda *a, **k: pytest.fail("gateway"))
    code, _, err = run(capsys, "resume", job_id, "--source", "sim")
    assert code == 1
    assert err == (
        f"ktrdr-tui: job {job_id} failed before it had a plan (unknown symbol 'ZZZZ': IB has no "
        "US stock of that name): nothing to resume; start a new load\n"
    )


def test_resume_of_a_bad_journal_names_it_once(capsys, data_dir: Path) -> None:
    code, out, _ = run(capsys, *ONE_DAY, "--json")
    job_id = json.loads(out)["jobs"][0]["job_id"]
    journal = data_dir / "jobs" / f"{job_id}.json"
    journal.write_text(journal.read_text().replace('"requests": 1', '"requests": -1'))
    code, _, err = run(capsys, "resume", job_id, "--source", "sim")
    assert code == 1
    (moved,) = (data_dir / "quarantine" / "jobs").iterdir()
    assert err == (
        f"ktrdr-tui: {journal} is unreadable (requests: expected a whole number from 0 to "
        f"2**53, got -1); moved to {moved}\n"
    )
