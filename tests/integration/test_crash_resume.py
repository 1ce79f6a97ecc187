"""A load killed at each of its atomic writes in turn, then resumed (or, killed before it had a
journal, run again), ends with the very bytes of an uninterrupted load, and no temp file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.child_cli import child_env, run_killed_at, writes_made

LOAD = ("load", "AAPL", "--timeframe", "1m", "--start", "2024-01-02", "--end", "2024-01-04",
        "--source", "sim")  # fmt: skip
SESSIONS = 3

pytestmark = pytest.mark.slow  # each case kills a CLI process at one of its writes


def store_files(data: Path) -> dict[str, bytes]:
    root = data / "bars"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


def temp_files(data: Path) -> list[Path]:
    return sorted(data.rglob("*.tmp"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], int]:
    """The store an uninterrupted load leaves, and how many atomic writes it took."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    result = run_killed_at(0, child_env(folder / "home", folder / "data"), *LOAD)
    assert result.returncode == 0, result.stderr
    files = store_files(folder / "data")
    assert [name for name in files if name.endswith(".parquet")] == ["AAPL/1m/2024-01.parquet"]
    return files, writes_made(result)


def test_the_load_makes_a_write_per_segment_and_per_journal_update(uninterrupted) -> None:
    # The plan, then each segment's bars and its journal entry, then the save and the end.
    _, writes = uninterrupted
    assert writes == 1 + 2 * SESSIONS + 2


@pytest.mark.parametrize("kill_at", range(1, 1 + 2 * SESSIONS + 2 + 1))
def test_a_load_killed_at_any_write_resumes_to_the_same_bytes(
    tmp_path: Path, uninterrupted, kill_at: int
) -> None:
    expected, writes = uninterrupted
    assert kill_at <= writes
    data = tmp_path / "data"
    env = child_env(tmp_path / "home", data)
    killed = run_killed_at(kill_at, env, *LOAD)
    assert killed.returncode == -9, killed.stderr  # SIGKILL: no cleanup ran
    assert temp_files(data), "the kill left no temp file: it hit no write"

    journals = list((data / "jobs").glob("*.json"))
    if journals:
        (journal,) = journals
        job_id = journal.stem
        listed = run_killed_at(0, env, "jobs", "--json")
        (job,) = json.loads(listed.stdout)["jobs"]
        assert (job["job_id"], job["state"]) == (job_id, "interrupted")
        again = run_killed_at(0, env, "resume", job_id, "--source", "sim", "--json")
    else:  # killed writing its first journal: nothing to resume, so the load runs again
        again = run_killed_at(0, env, *LOAD, "--json")
    assert again.returncode == 0, again.stderr
    (job,) = json.loads(again.stdout)["jobs"]
    assert (job["state"], job["segments_done"], job["segments_failed"]) == ("done", 3, 0)

    assert store_files(data) == expected
    assert temp_files(data) == []  # the kill's temp file went with the next write in its folder
