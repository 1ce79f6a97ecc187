"""Load jobs end to end against the simulated gateway: requests, overhead, ETA, cancel, memory.

    python -m bench.bench_loading [--quick]

Prints, each figure with its goal:
  1. requests sent for a year (2024) of AAPL at 1m, 5m, 1h and 1d, pacing off, against the
     fewest IB's step-size table and 2000-bar limit allow (a dynamic programme over the
     sessions, restated here independently of the planner), and whether the store then holds
     exactly the calendar's bars;
  2. a whole LoadService load of a year of 1m bars (252 segments) into an empty store against
     bare ib_insync `reqHistoricalData` calls for the same segments, nothing stored (gateway
     in this process, no latency, no pacing; medians of 3, interleaved): with the clients'
     45-requests-per-second throttle, as shipped (the goal), and with it lifted on both
     sides (what the throttle hides); plus where the service's time goes per segment
     (IB fetch, store merge, journal save), timed by patching those methods in this process;
  3. the ETA at 25/50/75% of the segments of a paced load (scaled-down rules, the same for
     the gateway and the service), against the time the job really took from there;
  4. cancel latency with a 2 s request in flight (cancel -> wait returning), 5 times;
  5. peak RSS (ru_maxrss) of a one-year 1m load in a subprocess, and of the imports, an idle
     gateway and the gateway serving the year without a store, for the shares.
--quick runs the overhead comparison once and the cancel twice (about a minute in all).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import itertools
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from bench.common import verdict
from engine.core.jobs import JobState
from engine.core.pacing import PacingLedger, PacingRules
from engine.ib.adapter import IBAdapter, default_library
from engine.ib.sim_gateway import Faults, GatewaySettings, SimulatedGateway
from engine.ib.source import IBSource
from engine.loading.journal import JournalStore, LoadJournal
from engine.loading.load_job import LoadJob
from engine.loading.planner import LoadMode, RequestLimits, plan_load
from engine.loading.request import load_request
from engine.loading.service import LoadService
from engine.market.calendar import Session, calendar_for
from engine.market.store import BarStore
from engine.market.timeframes import TIMEFRAME_SECONDS

REPO = Path(__file__).resolve().parent.parent
CALENDAR = calendar_for()
NOW = pd.Timestamp("2025-06-01 12:00", tz="UTC")  # fixed: the year 2024 is complete
SYMBOL = "AAPL"
YEAR = ("2024-01-02", "2024-12-31")
NOTHING = pd.DatetimeIndex([], tz="UTC")
_client_ids = itertools.count(300)

# IB's step-size table, restated: the furthest one request may reach back from its end.
LONGEST_REACH = {
    "1m": pd.Timedelta(days=1),
    "5m": pd.Timedelta(weeks=1),
    "1h": pd.DateOffset(months=1),
    "1d": pd.DateOffset(years=1),
}
IB_MAX_BARS = 2000
BAR_SIZE = {"1m": "1 min", "5m": "5 mins", "1h": "1 hour", "1d": "1 day"}


# -- helpers ------------------------------------------------------------------------------


def start_gateway(rules: PacingRules | None = None, latency_ms: float = 0.0) -> SimulatedGateway:
    gateway = SimulatedGateway(GatewaySettings(pacing="off", faults=Faults(latency_ms=latency_ms)))
    if rules is not None:
        gateway.pacing = PacingLedger(rules)
    gateway.start_in_thread()
    return gateway


def open_service(
    gateway: SimulatedGateway,
    data_dir: Path,
    pacing: PacingRules | None = None,
    library: str | None = None,
) -> LoadService:
    adapter = IBAdapter(gateway.address, next(_client_ids), library=library)
    return LoadService(data_dir, source=IBSource(adapter, name="sim", pacing=pacing))


def request(timeframe: str, start: str, end: str):
    return load_request(CALENDAR, [SYMBOL], timeframe, start, end, "full", now=NOW)


def load(service: LoadService, timeframe: str, start: str, end: str) -> tuple[LoadJob, float]:
    """Start one job and wait for it; returns the job and the seconds from start to end."""
    started = time.perf_counter()
    (job,) = service.start(request(timeframe, start, end))
    service.wait(job.id)
    seconds = time.perf_counter() - started
    status = job.status()
    if status.state is not JobState.DONE:
        raise SystemExit(f"load {timeframe} {start}..{end} ended {status.state}: {status.error}")
    return job, seconds


def sessions_of(start: str, end: str) -> list[Session]:
    return CALENDAR.sessions_for_dates(pd.Timestamp(start), pd.Timestamp(end))


# -- 1. requests vs the minimum ------------------------------------------------------------


def bars_in(session: Session, timeframe: str) -> int:
    seconds = TIMEFRAME_SECONDS[timeframe]
    return 1 if seconds == 0 else math.ceil(session.minutes * 60 / seconds)


def one_request_fits(run: list[Session], timeframe: str) -> bool:
    """Whether one request may cover these consecutive sessions: it ends at the last close,
    must reach back to the first open, at most IB's longest duration, and 2000 bars."""
    end = run[-1].close
    if sum(bars_in(s, timeframe) for s in run) > IB_MAX_BARS:
        return False
    return run[0].open >= end - LONGEST_REACH[timeframe]


def fewest_requests(sessions: list[Session], timeframe: str) -> int:
    """best[i]: the fewest requests for sessions[i:], over every place the first one may end
    (the sessions are consecutive: one run)."""
    best = [0] * (len(sessions) + 1)
    for i in range(len(sessions) - 1, -1, -1):
        options = []
        for j in range(i + 1, len(sessions) + 1):
            if not one_request_fits(sessions[i:j], timeframe):
                break  # a longer request cannot fit either
            options.append(1 + best[j])
        best[i] = min(options)
    return best[0]


def bench_requests(workdir: Path) -> None:
    print(f"1. requests for a year of {SYMBOL} ({YEAR[0]}..{YEAR[1]}), pacing off")
    sessions = sessions_of(*YEAR)
    gateway = start_gateway()
    service = open_service(gateway, workdir / "requests")
    all_ok = True
    try:
        for timeframe in ("1m", "5m", "1h", "1d"):
            before = gateway.historical_requests
            job, seconds = load(service, timeframe, *YEAR)
            sent = gateway.historical_requests - before
            assert sent == job.status().requests, (sent, job.status().requests)
            minimum = fewest_requests(sessions, timeframe)
            stored = service.store.timestamps(SYMBOL, timeframe)
            expected = CALENDAR.bar_starts(sessions, TIMEFRAME_SECONDS[timeframe])
            exact = stored.equals(expected)
            all_ok &= sent == minimum and exact
            print(
                f"  {timeframe:<3} sent {sent:4d} requests, minimum {minimum:4d}  "
                f"({verdict(sent == minimum)}); store {len(stored):7,} bars, calendar "
                f"{len(expected):7,} ({'exact' if exact else 'NOT exact'}); {seconds:5.2f} s"
            )
    finally:
        service.close()
        gateway.stop()
    print(f"goal: the minimum, and exactly the calendar's bars -> {verdict(all_ok)}")


# -- 2. overhead vs bare ib_insync ---------------------------------------------------------


class Breakdown:
    """Time spent in the calls a segment makes, by patching the classes for the bench only."""

    TARGETS = (
        ("IB fetch (adapter)", IBAdapter, "historical_bars"),
        ("store merge", BarStore, "merge"),
        ("journal save", JournalStore, "save"),
        ("  of which to_json", LoadJournal, "to_json"),
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @contextmanager
    def patched(self) -> Iterator[None]:
        originals = []
        for label, owner, name in self.TARGETS:
            original = getattr(owner, name)
            originals.append((owner, name, original))
            setattr(owner, name, self._timed(label, original))
        try:
            yield
        finally:
            for owner, name, original in originals:
                setattr(owner, name, original)

    def _timed(self, label: str, call: Callable) -> Callable:
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
                self.calls[label] += 1

        return timed


def service_load(gateway: SimulatedGateway, library: str, workdir: Path, throttle: bool) -> float:
    """A whole load into an empty store, from start (connecting included) to wait returning."""
    with tempfile.TemporaryDirectory(dir=workdir) as data_dir:
        service = open_service(gateway, Path(data_dir), library=library)
        try:
            started = time.perf_counter()
            if not throttle:
                service.connect()
                client = service._shared_connection().source.adapter._ib.client
                client.MaxRequests = 0  # a benchmark-only reach inside the client
            (job,) = service.start(request("1m", *YEAR))
            service.wait(job.id)
            seconds = time.perf_counter() - started
            status = job.status()
            assert status.state is JobState.DONE and status.requests == 252, status
        finally:
            service.close()
    return seconds


def bare_ib_insync(gateway: SimulatedGateway, segments, throttle: bool) -> float:
    import ib_insync

    started = time.perf_counter()
    ib = ib_insync.IB()
    ib.connect(gateway.address.host, gateway.address.port, clientId=next(_client_ids))
    if not throttle:
        ib.client.MaxRequests = 0  # a benchmark-only reach inside the client
    contract = ib_insync.Stock(SYMBOL, "SMART", "USD")
    ib.qualifyContracts(contract)
    bars = 0
    for segment in segments:
        bars += len(
            ib.reqHistoricalData(
                contract,
                endDateTime=segment.end.strftime("%Y%m%d %H:%M:%S UTC"),
                durationStr=str(segment.duration),
                barSizeSetting="1 min",
                whatToShow="TRADES",
                useRTH=True,
                formatDate=2,
            )
        )
    seconds = time.perf_counter() - started
    ib.disconnect()
    # A "1 D" request ending at an early close reaches back into the session before (the
    # service trims those bars): at least every segment's bars arrive.
    assert bars >= sum(s.expected_bars for s in segments), bars
    return seconds


def bench_overhead(workdir: Path, repeats: int) -> None:
    limits = RequestLimits.of(IBSource, "1m")
    segments = plan_load(
        CALENDAR, "1m", LoadMode.FULL, sessions_of(*YEAR), NOTHING, limits
    ).segments
    default = default_library()
    print(
        f"2. a year of 1m bars ({len(segments)} segments), gateway with no latency, no pacing, "
        f"in this process; median of {repeats}"
    )
    print(
        "   ib_insync and ib_async throttle to 45 requests/s by default: the service and the "
        "bare peer are both subject to it (the goal compares those); 'throttle lifted' sets "
        "the client's MaxRequests to 0 on both sides"
    )
    gateway = start_gateway()
    libraries = [default] + (["ib_insync"] if default != "ib_insync" else [])
    kinds: dict[str, Callable[[], float]] = {}
    for library in libraries:
        kinds[f"LoadService, {library}"] = functools.partial(
            service_load, gateway, library, workdir, True
        )
    kinds["bare ib_insync, nothing stored"] = functools.partial(
        bare_ib_insync, gateway, segments, True
    )
    kinds[f"LoadService, {default}, throttle lifted"] = functools.partial(
        service_load, gateway, default, workdir, False
    )
    kinds["bare ib_insync, throttle lifted"] = functools.partial(
        bare_ib_insync, gateway, segments, False
    )
    times: dict[str, list[float]] = defaultdict(list)
    breakdowns = {name: Breakdown() for name in kinds if name.startswith("LoadService")}
    try:
        for _ in range(repeats):  # interleaved, so drift in the machine's load hits all alike
            for name, run in kinds.items():
                if name in breakdowns:
                    with breakdowns[name].patched():
                        times[name].append(run())
                else:
                    times[name].append(run())
    finally:
        gateway.stop()
    medians = {name: statistics.median(values) for name, values in times.items()}
    width = max(map(len, kinds))
    for name, values in times.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(
            f"  {name:<{width}}  {medians[name]:6.2f} s  "
            f"({medians[name] / len(segments) * 1000:5.1f} ms per segment; runs {runs})"
        )
    print("  where a LoadService load's time goes, ms per segment (mean over its runs):")
    for name, breakdown in breakdowns.items():
        per_segment = {
            label: breakdown.seconds[label] / (len(times[name]) * len(segments)) * 1000
            for label, _, _ in Breakdown.TARGETS
        }
        whole = statistics.mean(times[name]) / len(segments) * 1000
        parts = [label for label, _, _ in Breakdown.TARGETS if not label.startswith(" ")]
        rest = whole - sum(per_segment[label] for label in parts)
        shares = ", ".join(f"{label.strip()} {ms:.2f}" for label, ms in per_segment.items())
        print(f"    {name:<{width}}  {shares}, the rest {rest:.2f} (of {whole:.1f})")
    saves = breakdowns[f"LoadService, {default}"].calls["journal save"] // repeats
    print(f"    ({saves} journal saves per load, each writing every one of the 252 segments)")
    peer = medians["bare ib_insync, nothing stored"]
    ok = True
    for library in libraries:
        ratio = medians[f"LoadService, {library}"] / peer
        ok &= ratio <= 1.15
        print(f"  ratio LoadService ({library}) / bare ib_insync: {ratio:.2f}x")
    lifted = (
        medians[f"LoadService, {default}, throttle lifted"]
        / medians["bare ib_insync, throttle lifted"]
    )
    print(f"  ratio with the throttle lifted on both sides (not the goal): {lifted:.2f}x")
    print(f"goal: a whole load at most 1.15x the bare requests -> {verdict(ok)}")


# -- 3. ETA accuracy -----------------------------------------------------------------------

ETA_RULES = PacingRules(
    max_requests=10,
    window_s=2.0,
    identical_window_s=0.5,
    per_contract_max=5,
    per_contract_window_s=0.4,
)


def bench_eta(workdir: Path) -> None:
    sessions = sessions_of(*YEAR)[:60]
    start, end = f"{sessions[0].date:%Y-%m-%d}", f"{sessions[-1].date:%Y-%m-%d}"
    rules = ETA_RULES
    print(
        f"3. ETA of a paced load: {len(sessions)} sessions of 1m ({start}..{end}); pacing "
        f"{rules.max_requests} requests / {rules.window_s:g} s, identical "
        f"{rules.identical_window_s:g} s, per contract {rules.per_contract_max} / "
        f"{rules.per_contract_window_s:g} s (gateway and service); status every 20 ms"
    )
    gateway = start_gateway(rules=rules)
    service = open_service(gateway, workdir / "eta", pacing=rules)
    samples: list[tuple[float, int, int, float | None]] = []
    try:
        (job,) = service.start(request("1m", start, end))
        while not service.wait(job.id, timeout=0.02):
            status = job.status()
            samples.append(
                (time.monotonic(), status.segments_done, status.segments_total, status.eta_s)
            )
        finished = time.monotonic()
        status = job.status()
    finally:
        service.close()
        gateway.stop()
    if status.state is not JobState.DONE:
        raise SystemExit(f"the paced load ended {status.state}: {status.error}")
    retries = sum(s.retries for s in status.segments)
    took = finished - samples[0][0] if samples else 0.0
    print(
        f"  {status.requests} requests, {retries} pacing retries, {took:.2f} s; the first "
        "sample at or past each fraction of segments done:"
    )
    ok = True
    for target in (0.25, 0.50, 0.75):
        sample = next(
            (s for s in samples if s[2] and s[1] / s[2] >= target and s[3] is not None), None
        )
        if sample is None:
            print(f"  {target:4.0%}: no sample with an ETA")
            ok = False
            continue
        at, done, total, predicted = sample
        actual = finished - at
        error = (predicted - actual) / actual * 100
        ok &= abs(error) <= 20
        print(
            f"  {target:4.0%} ({done}/{total} done): predicted {predicted:5.2f} s remaining, "
            f"actual {actual:5.2f} s, error {error:+6.1f}%"
        )
    print(f"goal: ETA within 20% from 25% on -> {verdict(ok)}")


# -- 4. cancel latency ---------------------------------------------------------------------


def bench_cancel(workdir: Path, repeats: int) -> None:
    print(f"4. cancel with a 2 s request in flight (gateway latency 2000 ms), {repeats} times")
    gateway = start_gateway(latency_ms=2000)
    service = open_service(gateway, workdir / "cancel")
    latencies = []
    try:
        for _ in range(repeats):
            (job,) = service.start(request("1m", "2024-01-02", "2024-01-04"))
            fetching = threading.Event()
            job.progress.subscribe(lambda snap, e=fetching: "fetching" in snap.detail and e.set())
            if not fetching.wait(15):
                raise SystemExit("no segment reached 'fetching' within 15 s")
            time.sleep(0.2)  # the request is at the gateway, which holds it for 2 s
            started = time.perf_counter()
            service.cancel(job.id)
            if not service.wait(job.id, timeout=5):
                raise SystemExit("the cancelled job did not end within 5 s")
            latencies.append((time.perf_counter() - started) * 1000)
            state = job.status().state
            if state is not JobState.CANCELLED:
                raise SystemExit(f"the cancelled job ended {state}")
    finally:
        service.close()
        gateway.stop()
    median, worst = statistics.median(latencies), max(latencies)
    print(
        f"  cancel -> wait returned: median {median:.1f} ms, max {worst:.1f} ms  "
        f"(runs {', '.join(f'{v:.1f}' for v in latencies)})"
    )
    print(f"goal: under 250 ms -> {verdict(worst < 250)}")


# -- 5. peak memory ------------------------------------------------------------------------

MEMORY_CHILD = """
import resource, sys, tempfile
from pathlib import Path
import pandas as pd
import pyarrow.parquet
import {library}
from engine.ib.adapter import BarRequest, IBAdapter
from engine.ib.sim_gateway import GatewaySettings, SimulatedGateway
from engine.ib.source import IBSource
from engine.loading.planner import LoadMode, RequestLimits, plan_load
from engine.loading.request import load_request
from engine.loading.service import LoadService
from engine.market.calendar import calendar_for

mode, start, end = sys.argv[1:4]
calendar = calendar_for()
if mode != "imports":
    gateway = SimulatedGateway(GatewaySettings(pacing="off"))
    address = gateway.start_in_thread()
if mode == "serve":
    sessions = calendar.sessions_for_dates(pd.Timestamp(start), pd.Timestamp(end))
    empty = pd.DatetimeIndex([], tz="UTC")
    limits = RequestLimits.of(IBSource, "1m")
    plan = plan_load(calendar, "1m", LoadMode.FULL, sessions, empty, limits)
    adapter = IBAdapter(address, 1, library="{library}")
    adapter.connect()
    requests = (BarRequest("AAPL", "1 min", s.end, s.duration) for s in plan.segments)
    bars = sum(len(adapter.historical_bars(request)) for request in requests)
    adapter.close()
    print("bars", bars)
if mode == "load":
    with tempfile.TemporaryDirectory() as data_dir:
        source = IBSource(IBAdapter(address, 1), name="sim", pacing=None)
        service = LoadService(Path(data_dir), source=source)
        now = pd.Timestamp("2025-06-01 12:00", tz="UTC")
        request = load_request(calendar, ["AAPL"], "1m", start, end, "full", now=now)
        (job,) = service.start(request)
        service.wait(job.id)
        status = job.status()
        service.close()
        print("state", status.state, "bars", status.bars_fetched)
with open("/proc/self/status") as status:
    print("vm_hwm", next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""

# The measured child runs under this small launcher: on Linux a child's ru_maxrss starts at the
# RSS of the process it was forked from (exec records the old address space's peak), so a
# child of this bench would report at least the bench's own ~200 MB.
LAUNCHER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print("children_maxrss_kb", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)
sys.exit(code)
"""


def child_peak_mb(mode: str) -> tuple[float, float, str]:
    """Run one child under the launcher: its peak RSS as the launcher's
    getrusage(RUSAGE_CHILDREN).ru_maxrss, its own VmHWM, and what it printed."""
    code = MEMORY_CHILD.replace("{library}", default_library())
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = [sys.executable, "-c", code, mode, *YEAR]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        result = subprocess.run(
            [sys.executable, "-c", LAUNCHER, *child], cwd=REPO, env=env, stdout=out, stderr=err
        )
        out.seek(0)
        err.seek(0)
        printed, errors = out.read(), err.read()
    if result.returncode != 0:
        raise SystemExit(f"memory child {mode!r} failed:\n{errors}")
    lines = dict(line.split(" ", 1) for line in printed.splitlines() if " " in line)
    if mode == "load" and not lines.get("state", "").startswith("done"):
        raise SystemExit(f"the memory child's load did not finish: {printed}{errors}")
    peak_kb = float(lines["children_maxrss_kb"])
    own_kb = float(lines.get("vm_hwm", "nan"))
    return peak_kb / 1024, own_kb / 1024, printed


def bench_memory() -> None:
    print(f"5. peak RSS of a one-year 1m load in a subprocess ({default_library()}, pacing off)")
    rows = [
        ("imports only (python, pandas, pyarrow, engine, client)", "imports"),
        ("+ gateway started, idle", "gateway"),
        ("+ gateway serving the year to IBAdapter, nothing stored", "serve"),
        ("+ gateway + LoadService loading the year into a store", "load"),
    ]
    peaks = {}
    width = max(len(label) for label, _ in rows)
    for label, mode in rows:
        started = time.perf_counter()
        peak, own, _ = child_peak_mb(mode)
        peaks[mode] = peak
        print(
            f"  {label:<{width}}  {peak:6.1f} MB  (the child's own VmHWM {own:.1f} MB; "
            f"{time.perf_counter() - started:.1f} s)"
        )
    print(
        f"  of the load's peak: {peaks['imports']:.1f} MB imports, "
        f"{peaks['gateway'] - peaks['imports']:+.1f} MB an idle gateway, "
        f"{peaks['serve'] - peaks['gateway']:+.1f} MB gateway + client serving the year, "
        f"{peaks['load'] - peaks['serve']:+.1f} MB store, journal and jobs on top"
    )
    print(f"goal: peak under 300 MB -> {peaks['load']:.1f} MB: {verdict(peaks['load'] < 300)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of each part")
    args = parser.parse_args()
    if importlib.util.find_spec("ib_insync") is None:
        raise SystemExit("ib_insync is not installed: it is the bare peer of part 2")
    repeats, cancels = (1, 2) if args.quick else (3, 5)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-loading-") as tmp:
        workdir = Path(tmp)
        bench_requests(workdir)
        bench_overhead(workdir, repeats)
        bench_eta(workdir)
        bench_cancel(workdir, cancels)
    bench_memory()
    print(f"({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
