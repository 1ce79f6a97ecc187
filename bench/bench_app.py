"""How the app feels: time to the first frame, event-loop lag under load, and cancel latency.

    python bench/bench_app.py [--runs N]

- First frame: `ktrdr-tui` started in a real terminal (tmux); the time until the screen shows
  the panes and the footer, as a person would see it (goal: under 1 s). Median of N launches.
- Event-loop lag: the app (headless, Pilot) while a sim load and a max-speed playback of 5 years
  of 1m bars run together; a probe task asks to wake every 10 ms and records how late it wakes
  (goal: p99 under 50 ms).
- Cancel: `c` on a running load's row until the row shows `cancelled` (goal: under 300 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from tmux_session import TmuxApp

FIRST_FRAME_GOAL_S = 1.0
LAG_GOAL_MS = 50.0
CANCEL_GOAL_MS = 300.0


def first_frame_s(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            env = {"HOME": home, "KTRDR_DATA_DIR": f"{home}/data", "KTRDR_SOURCE": "sim"}
            app = TmuxApp([], env)
            try:
                app.wait_for(lambda s: "Jobs" in s and "Quit" in s, timeout=20, poll=0.005)
                times.append(time.perf_counter() - app.started)
            finally:
                app.close()
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def _probe_lag(stop: asyncio.Event, lags: list[float], period: float = 0.01) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        asked = loop.time()
        await asyncio.sleep(period)
        lags.append((loop.time() - asked - period) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    frames = first_frame_s(args.runs)
    print(
        f"first frame (tmux, {args.runs} launches): median {statistics.median(frames):.3f} s, "
        f"max {max(frames):.3f} s   goal < {FIRST_FRAME_GOAL_S:.1f} s"
    )


if __name__ == "__main__":
    main()
