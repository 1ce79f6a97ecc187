"""Every worker's one error path.

Workers run with `exit_on_error=False`: an exception a worker did not handle itself becomes
one notification (its first line; the traceback goes to the log), never a crash of the app.
Worker state messages do not bubble, so each node that runs workers mixes this in.
"""

from __future__ import annotations

from textual.worker import Worker, WorkerState

from engine.core.errors import first_line


class ReportsWorkerErrors:
    """Mixed into a widget, screen or app: its failed workers are told, once each."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state is not WorkerState.ERROR or worker.error is None:
            return
        worker.node.log.error(f"worker {worker.name!r} failed", worker.error)
        worker.node.notify(
            f"Cannot {worker.description}: {first_line(worker.error)}", severity="error", timeout=10
        )
