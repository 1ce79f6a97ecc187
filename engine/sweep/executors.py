"""Where a sweep's backtests run: `local` worker processes on this machine (the default) or a
Dask cluster (`dask`: an existing scheduler, or a local cluster started for the sweep).

Either way the bars are sent to the workers once (shared memory here, the cluster's object
store there), and each task is a batch of backtests written as JSON text; a worker answers with
its results as JSON text. Local workers get those strings as bytes through their pipes; Dask
moves them (and the bars' byte buffers, by its own array serialization) with its own protocol,
which pickles: only builtin values and the importable name of the worker function ever cross,
never an object of ours, so nothing a worker or the parent unpickles was made from our classes.

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
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol, TextIO

import numpy as np

from engine.core.cancellation import CancelToken
from engine.core.errors import first_line
from engine.logging_setup import default_log_file
from engine.session.bars import SessionBars
from engine.strategy.catalog import Catalog, load_catalog
from engine.sweep.processes import (
    keep_freed_memory,
    local_context,
    prestart_local,
    started_deaf_to_ctrl_c,
)
from engine.sweep.run import run_task
from engine.sweep.shared import MappedBars, SharedBars, pack, unpack
from engine.trading_rules import TradingRules

DASK_IN_FLIGHT = 4  # batches queued per Dask worker: none idles while the parent collects
DASK_MISSING = "the dask executor needs dask[distributed]: pip install 'ktrdr-tui[dask]'"


class ExecutorUnavailable(RuntimeError):
    """The executor cannot start (a missing extra, an unreachable scheduler): one line."""


class Executor(Protocol):
    name: str
    workers: int

    def start(self, setup: str) -> None:
        """Start the workers with the worker `setup` (JSON text, see `worker_setup`): they
        load the strategies while the caller reads the bars. From the main thread, so that
        they ignore Ctrl-C (see engine.sweep.processes); once started, again does nothing."""

    def open(self, bars: Sequence[SessionBars]) -> None:
        """Hand the workers `bars` (one per symbol); after `start`."""

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
    return json.dumps([run_one(bars, task, catalog, base) for task in json.loads(batch)])


def run_one(
    bars: dict[str, SessionBars], task: dict, catalog: Catalog, base: TradingRules
) -> dict[str, object]:
    """One task's result, or its error as text."""
    try:
        return run_task(bars, task, catalog, base)
    except Exception as exc:  # a bug must reach the parent as a line, not as an object
        return {"index": task["index"], "error": f"{type(exc).__name__}: {exc}"}


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


# -- local: processes sharing the bars' memory, the parent standing in until they are up ------

LOCAL_IN_FLIGHT = 2  # batches a local worker holds: one running, the next waiting in its pipe


class WorkerLost(RuntimeError):
    """A local worker stopped (or could not start) before the sweep was done: one line."""


def _local_worker(conn: Connection, output: str) -> None:
    """A local worker: told the setup, it loads the strategies and says so (an empty
    message); told the bars' layouts, it maps them and says it is ready (another); then it
    answers each batch it is sent until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it cancels the sweep
    keep_freed_memory()
    _output_to(Path(output))
    try:
        setup = conn.recv_bytes().decode()
        _setup(setup)  # the strategies load once, while the parent reads the bars
        conn.send_bytes(b"")
        layouts = json.loads(conn.recv_bytes())
    except (EOFError, BrokenPipeError):
        return  # the sweep ended (or its plan failed) before this worker had its bars
    mapped = [MappedBars(layout) for layout in layouts]  # mapped while their bars are in use
    bars = {m.bars.symbol: m.bars for m in mapped}
    with suppress(EOFError, BrokenPipeError):  # the parent is done with this worker
        conn.send_bytes(b"")
        while True:
            batch = conn.recv_bytes().decode()
            conn.send_bytes(run_batch(bars, batch, setup).encode())
    del bars  # the views go before their blocks, which cannot be unmapped under them


def worker_output_file() -> Path:
    """Where local workers' stdout and stderr go (a strategy's `print`, a library's warning):
    beside the log file, never the terminal, which the app or the progress line owns. So does
    what a strategy writes while the parent stands in for a worker."""
    return default_log_file().with_name("sweep-workers.log")


def _open_output(path: Path) -> int:
    """The workers' output file, opened to append: writes from several processes interleave
    by whole writes. No rotation: a sweep's prints are the user's own, and rare."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def _output_to(path: Path) -> None:
    target = _open_output(path)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)


class _ThreadOutput:
    """sys.stdout or sys.stderr while the parent runs a backtest: what `thread` writes goes to
    `file` (the workers' output file), what any other thread writes (the progress line, the
    app) where it went before. Everything else (isatty, encoding, fileno) is the usual
    stream's, so a front end that looks at it sees no change."""

    def __init__(self, usual: TextIO, thread: threading.Thread, file: TextIO):
        self._usual, self._thread, self._file = usual, thread, file

    def _target(self) -> TextIO:
        if threading.current_thread() is self._thread and not self._file.closed:
            return self._file
        return self._usual

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno: the usual stream's
        return getattr(self._usual, name)


@contextmanager
def _output_of_this_thread_to(file: TextIO) -> Iterator[None]:
    thread = threading.current_thread()
    routed = _ThreadOutput(sys.stdout, thread, file), _ThreadOutput(sys.stderr, thread, file)
    sys.stdout, sys.stderr = routed
    try:
        yield
    finally:
        file.flush()
        # Put back only what is still ours: the front end may have swapped its own meanwhile.
        if sys.stdout is routed[0]:
            sys.stdout = routed[0]._usual
        if sys.stderr is routed[1]:
            sys.stderr = routed[1]._usual


@dataclass
class _Worker:
    conn: Connection  # the parent's end of its pipe
    set_up: bool = False  # loaded the strategies: ready as soon as it has mapped the bars
    ready: bool = False  # mapped the bars too
    held: deque[str] = field(default_factory=deque)  # batches sent, not answered yet


class _Starts:
    """The local workers of one executor, started on a thread of their own, each told the
    setup as it starts and the bars' layouts once they are shared (`share`), whichever comes
    first. Once closing, no more start (one under way ends with its worker told nothing: it
    stops at once)."""

    def __init__(self, count: int, setup: str):
        pipes = [Pipe() for _ in range(count)]
        self.workers = [_Worker(ours) for ours, _ in pipes]
        self.error = ""  # why a worker could not start
        self._lock = threading.Lock()
        self._closing = False
        self._shared: list[SharedBars] = []
        self._layouts = b""  # their message, once shared
        self._started: list[BaseProcess] = []
        threading.Thread(
            target=self._start,
            args=(setup.encode(), [theirs for _, theirs in pipes]),
            name="sweep worker starter",
            daemon=True,  # a start may wait on the fork server; nothing waits for this thread
        ).start()

    def share(self, bars: Sequence[SessionBars]) -> None:
        """Put `bars` in shared memory and tell every worker started where (the others are
        told as they start)."""
        shared = [SharedBars(one) for one in bars]
        layouts = json.dumps([block.layout for block in shared]).encode()
        with self._lock:
            if self._closing:  # `close` has come and gone: no worker will map them
                for block in shared:
                    block.close()
                return
            self._shared, self._layouts = shared, layouts  # `close` frees them
            for worker in self.workers[: len(self._started)]:
                with suppress(OSError):  # one that died is found by the run (WorkerLost)
                    worker.conn.send_bytes(layouts)

    def _start(self, setup: bytes, theirs: list[Connection]) -> None:
        try:
            self._start_each(setup, theirs)
        except Exception as exc:  # the sweep fails with the line (WorkerLost); this thread ends
            self.error = f"cannot start a local worker: {first_line(exc)}"
        finally:
            for child_end in theirs:
                child_end.close()  # a started worker's is its own: the pipe ends with it

    def _start_each(self, setup: bytes, theirs: list[Connection]) -> None:
        context, output = local_context(), str(worker_output_file())
        for number, (worker, child_end) in enumerate(zip(self.workers, theirs, strict=True)):
            if self._closing:
                return
            process = context.Process(
                target=_local_worker,
                # The parent names the file: a forked worker has the fork server's environment.
                args=(child_end, output),
                name=f"sweep worker {number + 1}",
                daemon=True,
            )
            process.start()
            child_end.close()
            with self._lock:
                self._started.append(process)
                if not self._closing:
                    worker.conn.send_bytes(setup)
                    if self._layouts:
                        worker.conn.send_bytes(self._layouts)
                    continue
            process.join()  # told nothing, it stops at once
            return

    def close(self) -> None:
        """Stop the workers once their running batch is done, and free the bars' memory."""
        with self._lock:
            self._closing = True
            started = list(self._started)
        for worker in self.workers:
            worker.conn.close()  # a worker ends after the batch it runs
        for process in started:
            process.join()
        with self._lock:  # after every worker that mapped the bars has stopped
            shared, self._shared = self._shared, []
        for block in shared:
            block.close()


class LocalExecutor:
    """Worker processes on this machine, `workers` of them (default: one per core), made as
    `processes.local_context` says; each maps the bars from shared memory.

    Starting them takes a while (their server imports the engine, ~0.5 s, unless it is up
    already; then they load the strategies), so they are started on a thread of their own as
    soon as the sweep starts, while the caller reads the bars; until every one has loaded the
    strategies the parent stands in for those that have not: it runs batches itself, one
    backtest at a time, handing batches to each worker as soon as it is ready. A small sweep
    then never waits for a worker; a large one soon runs on every worker, and no more
    processes compute than `workers`. Batches and answers cross the workers' pipes as bytes:
    nothing is pickled but the worker's start (the pipe's end and a path)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._starts: _Starts | None = None
        self._bars: dict[str, SessionBars] = {}
        self._setup = ""

    def start(self, setup: str) -> None:
        if self._starts is None:
            prestart_local()
            self._setup = setup
            self._starts = _Starts(self.workers, setup)

    def open(self, bars: Sequence[SessionBars]) -> None:
        assert self._starts is not None, "start the executor first"
        self._bars = {one.symbol: one for one in bars}
        self._starts.share(bars)

    @property
    def ready(self) -> int:
        """Workers up and ready, as the last run saw them (0 once closed)."""
        return sum(w.ready for w in self._starts.workers) if self._starts is not None else 0

    def run(self, batches: Iterator[str], token: CancelToken) -> Iterator[str]:
        """As `Executor.run`; for another run, each run must have ended (not been cancelled)."""
        assert self._starts is not None, "open the executor first"
        return self._dispatch(self._starts, batches, token)

    def _dispatch(
        self, starts: _Starts, batches: Iterator[str], token: CancelToken
    ) -> Iterator[str]:
        workers = starts.workers
        by_conn = {worker.conn: worker for worker in workers}
        wake, waker = Pipe(duplex=False)
        unregister = token.on_cancel(lambda: _wake(waker))
        own: list[dict] = []  # the tasks of the batch the parent runs, not run yet
        own_results: list[dict] = []
        output: TextIO | None = None  # the workers' output file, while the parent runs tasks
        left = True  # batches left to hand out
        try:
            while not token.cancelled:
                for worker in workers:
                    while left and worker.ready and len(worker.held) < LOCAL_IN_FLIGHT:
                        batch = next(batches, None)
                        if batch is None:
                            left = False
                        else:
                            worker.conn.send_bytes(batch.encode())
                            worker.held.append(batch)
                if not (own or left or any(worker.held for worker in workers)):
                    return
                starting = left and not own and not all(worker.set_up for worker in workers)
                for conn in wait([*by_conn, wake], timeout=0 if own or starting else None):
                    if conn is wake:
                        continue  # cancelled: seen at the top
                    worker = by_conn[conn]
                    answer = _receive(worker, starts.error)
                    if not worker.set_up:
                        worker.set_up = True  # its first message: set up
                    elif not worker.ready:
                        worker.ready = True  # its second: ready
                    else:
                        worker.held.popleft()
                        yield answer
                # Stand in for a worker still starting, its messages read (not for one about
                # to map the bars).
                if starting and not all(worker.set_up for worker in workers):
                    batch = next(batches, None)
                    own = json.loads(batch) if batch is not None else []
                    left = batch is not None
                if own and not token.cancelled:
                    catalog, base = _setup(self._setup)
                    if output is None:
                        output = os.fdopen(
                            _open_output(worker_output_file()), "a", encoding="utf-8"
                        )
                    with _output_of_this_thread_to(output):
                        own_results.append(run_one(self._bars, own.pop(0), catalog, base))
                    if not own:
                        yield json.dumps(own_results)
                        own_results = []
            if own_results:  # cancelled in the middle of its batch: what it ran is kept
                yield json.dumps(own_results)
        finally:
            unregister()
            wake.close()
            waker.close()
            if output is not None:
                output.close()

    def close(self) -> None:
        """Stop the workers once their running batch is done (those still starting stop as
        they start), and free the bars' memory."""
        if self._starts is not None:
            self._starts.close()
            self._starts = None


def _receive(worker: _Worker, error: str) -> str:
    try:
        return worker.conn.recv_bytes().decode()
    except (EOFError, ConnectionResetError):
        stopped = f"a local worker stopped before the sweep was done (see {worker_output_file()})"
        raise WorkerLost(error or stopped) from None


def _wake(waker: Connection) -> None:
    with suppress(OSError):  # closed: the run it would wake is over
        waker.send_bytes(b"")


# -- dask: a cluster's workers, the bars scattered once ---------------------------------------


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

    def start(self, setup: str) -> None:
        if self._client is not None:
            return
        self._setup = setup
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

    def open(self, bars: Sequence[SessionBars]) -> None:
        assert self._client is not None, "start the executor first"
        packed = [pack(one) for one in bars]
        self._layouts = json.dumps([layout for layout, _ in packed])
        self._bars = self._client.scatter([buffer for _, buffer in packed], broadcast=True)

    def run(self, batches: Iterator[str], token: CancelToken) -> Iterator[str]:
        client = self._client
        assert client is not None, "open the executor first"
        return _collect(
            lambda batch: client.submit(
                _run_dask_batch, self._setup, self._layouts, batch, *self._bars, pure=False
            ),
            batches,
            self.workers * DASK_IN_FLIGHT,
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
