"""Where a sweep's backtests run: `local` worker processes on this machine (the default) or a
Dask cluster (`dask`: an existing scheduler, or a local cluster started for the sweep).

Either way the bars are sent to the workers once (shared memory here, the cluster's object
store there), and each task is a batch of backtests written as JSON text; a worker answers with
its results as JSON text. The stdlib pool and Dask move those strings (and Dask the bars'
byte buffers, by its own array serialization) with their own protocols, which pickle: only
builtin values and the importable name of the worker function ever cross, never an object of
ours, so nothing a worker or the parent unpickles was made from our classes.

A worker catches every error of a backtest and sends it back as text (`error`): the parent
fails the sweep with it (the finished results stay; `resume` runs the rest).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine.core.cancellation import CancelToken
from engine.core.errors import first_line
from engine.logging_setup import default_log_file
from engine.session.bars import SessionBars
from engine.strategy.catalog import Catalog, load_catalog
from engine.sweep.processes import local_context, prestart_local, started_deaf_to_ctrl_c
from engine.sweep.run import run_task
from engine.sweep.shared import MappedBars, SharedBars, pack, unpack
from engine.trading_rules import TradingRules

IN_FLIGHT_PER_WORKER = 4  # batches queued per worker: none idles while the parent collects
DASK_MISSING = "the dask executor needs dask[distributed]: pip install 'ktrdr-tui[dask]'"


class ExecutorUnavailable(RuntimeError):
    """The executor cannot start (a missing extra, an unreachable scheduler): one line."""


class Executor(Protocol):
    name: str
    workers: int

    def start(self) -> None:
        """Start what runs the workers (from the main thread, so that they ignore Ctrl-C:
        see engine.sweep.processes); `open` starts it if this was not called."""

    def open(self, bars: Sequence[SessionBars], setup: str) -> None:
        """Hand the workers `bars` (one per symbol) and the worker `setup` (JSON text, see
        `worker_setup`)."""

    def run(self, batches: Iterator[str], token: CancelToken) -> Iterator[str]:
        """Run the batches (JSON text each), yielding each one's results (JSON text) as it
        finishes, until they are done or `token` is cancelled."""

    def close(self) -> None: ...


def worker_setup(
    strategy_files: Sequence[Path] = (),
    named: Sequence[Path] = (),
    rules: TradingRules | None = None,
) -> str:
    """What a worker needs besides the bars, as JSON text: where the strategies come from
    (config.toml's `strategy_files`, `--strategy-file`) and the trading rules that a task's
    rule texts change."""
    return json.dumps(
        {
            "strategy_files": [str(path) for path in strategy_files],
            "named": [str(Path(path).expanduser().resolve()) for path in named],
            "rules": (rules or TradingRules()).texts(),
        }
    )


def run_batch(bars: dict[str, SessionBars], batch: str, setup: str) -> str:
    """A worker's answer to one batch: each task's result, or its error as text."""
    catalog, base = _setup(setup)
    results = []
    for task in json.loads(batch):
        try:
            results.append(run_task(bars, task, catalog, base))
        except Exception as exc:  # a bug must reach the parent as a line, not as an object
            results.append({"index": task["index"], "error": f"{type(exc).__name__}: {exc}"})
    return json.dumps(results)


_setups: dict[str, tuple[Catalog, TradingRules]] = {}
_setup_lock = threading.Lock()  # a Dask worker runs tasks on several threads


def _setup(setup: str) -> tuple[Catalog, TradingRules]:
    """The catalog and base rules of a worker setup, made once per worker."""
    with _setup_lock:
        if setup not in _setups:
            data = json.loads(setup)
            catalog = load_catalog(
                [Path(p) for p in data["strategy_files"]], [Path(p) for p in data["named"]]
            )
            _setups[setup] = (catalog, TradingRules.from_text(data["rules"]))
        return _setups[setup]


def _collect(
    submit: Callable[[str], Any],
    batches: Iterator[str],
    limit: int,
    token: CancelToken,
    cancel: Callable[[list[Any]], object],
) -> Iterator[str]:
    """Keep up to `limit` batches submitted (`submit` gives a future with add_done_callback);
    yield each one's results as it finishes. A cancel wakes it at once: what is still queued
    is cancelled (`cancel`) and it stops."""
    finished: queue.SimpleQueue[Any] = queue.SimpleQueue()
    running: set[Any] = set()

    def top_up() -> None:
        while len(running) < limit and (batch := next(batches, None)) is not None:
            future = submit(batch)
            running.add(future)
            future.add_done_callback(finished.put)

    unregister = token.on_cancel(lambda: finished.put(None))
    try:
        top_up()
        while running:
            future = finished.get()
            if token.cancelled:
                cancel(list(running))
                return
            running.discard(future)
            yield future.result()
            top_up()
    finally:
        unregister()


# -- local: processes sharing the bars' memory ------------------------------------------------

_local: dict[str, Any] = {}  # a local worker's mapped bars and catalog, set when it starts


def _start_local_worker(layouts: str, setup: str, output: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it cancels the sweep
    _output_to(Path(output))
    mapped = [MappedBars(layout) for layout in json.loads(layouts)]
    _local["mapped"] = mapped  # the blocks stay mapped while their bars are in use
    _local["bars"] = {m.bars.symbol: m.bars for m in mapped}
    _local["setup"] = setup
    _setup(setup)  # the strategies load once, before the first task


def worker_output_file() -> Path:
    """Where local workers' stdout and stderr go (a strategy's `print`, a library's warning):
    beside the log file, never the terminal, which the app or the progress line owns."""
    return default_log_file().with_name("sweep-workers.log")


def _output_to(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Appends from several workers interleave by whole writes; no rotation: a sweep's prints
    # are the user's own, and rare.
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)


def _run_local_batch(batch: str) -> str:
    return run_batch(_local["bars"], batch, _local["setup"])


class LocalExecutor:
    """Worker processes on this machine, `workers` of them (default: one per core), made as
    `processes.local_context` says; each maps the bars from shared memory."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._shared: list[SharedBars] = []
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        prestart_local()

    def open(self, bars: Sequence[SessionBars], setup: str) -> None:
        self.start()  # at once if it was
        self._shared = [SharedBars(one) for one in bars]
        layouts = json.dumps([shared.layout for shared in self._shared])
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=local_context(),
            initializer=_start_local_worker,
            # The parent names the file: a forked worker has the fork server's environment.
            initargs=(layouts, setup, str(worker_output_file())),
        )

    def run(self, batches: Iterator[str], token: CancelToken) -> Iterator[str]:
        pool = self._pool
        assert pool is not None, "open the executor first"

        def cancel(futures: list[Future]) -> None:
            for future in futures:
                future.cancel()

        return _collect(
            lambda batch: pool.submit(_run_local_batch, batch),
            batches,
            self.workers * IN_FLIGHT_PER_WORKER,
            token,
            cancel,
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for shared in self._shared:
            shared.close()
        self._shared = []


# -- dask: a cluster's workers, the bars scattered once ---------------------------------------

_dask_bars: dict[str, SessionBars] = {}  # a Dask worker's bars, by fingerprint


def _run_dask_batch(setup: str, layouts: str, batch: str, *buffers: np.ndarray) -> str:
    bars = {}
    for layout, buffer in zip(json.loads(layouts), buffers, strict=True):
        key = layout["fingerprint"]
        if key not in _dask_bars:  # the first task on this worker lays the bars out
            _dask_bars[key] = unpack(layout, buffer)
        bars[layout["symbol"]] = _dask_bars[key]
    return run_batch(bars, batch, setup)


class DaskExecutor:
    """A Dask cluster: the scheduler at `address` (`tcp://HOST:PORT`), or with none a local
    cluster of `workers` single-threaded worker processes (`processes=False`: threads, for
    tests) started for the sweep and closed with it."""

    name = "dask"

    def __init__(
        self, address: str | None = None, workers: int | None = None, processes: bool = True
    ):
        self.address = address
        self.workers = workers or os.cpu_count() or 1
        self._processes = processes
        self._client: Any = None
        self._cluster: Any = None
        self._bars: list[Any] = []
        self._layouts = ""
        self._setup = ""

    def start(self) -> None:
        if self._client is not None:
            return
        try:
            import distributed
        except ImportError:
            raise ExecutorUnavailable(DASK_MISSING) from None
        try:
            if self.address:
                self._client = distributed.Client(self.address, timeout="10s")
                self.workers = sum(
                    w["nthreads"] for w in self._client.scheduler_info()["workers"].values()
                )
            else:
                with started_deaf_to_ctrl_c():
                    self._cluster = distributed.LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=1,
                        processes=self._processes,
                        dashboard_address=":0",  # any free port: 8787 may be another cluster's
                        silence_logs=logging.ERROR,  # its workers log a cancel as a warning
                    )
                self._client = distributed.Client(self._cluster)
        except OSError as exc:  # no scheduler there, or it does not answer in time
            self.close()
            raise ExecutorUnavailable(
                f"cannot reach the Dask scheduler: {first_line(exc)}"
            ) from None
        if not self.workers:
            self.close()
            raise ExecutorUnavailable(f"the Dask scheduler at {self.address} has no workers")

    def open(self, bars: Sequence[SessionBars], setup: str) -> None:
        self.start()
        packed = [pack(one) for one in bars]
        self._layouts = json.dumps([layout for layout, _ in packed])
        self._bars = self._client.scatter([buffer for _, buffer in packed], broadcast=True)
        self._setup = setup

    def run(self, batches: Iterator[str], token: CancelToken) -> Iterator[str]:
        client = self._client
        assert client is not None, "open the executor first"
        return _collect(
            lambda batch: client.submit(
                _run_dask_batch, self._setup, self._layouts, batch, *self._bars, pure=False
            ),
            batches,
            self.workers * IN_FLIGHT_PER_WORKER,
            token,
            client.cancel,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
        self._bars = []


def make_executor(name: str, workers: int | None = None, address: str | None = None) -> Executor:
    if name == "dask":
        return DaskExecutor(address, workers)
    if address:
        raise ValueError("--address is for --executor dask")
    return LocalExecutor(workers)
