"""`ktrdr-tui gateway` in the foreground: a stock ib_insync script connects; Ctrl-C stops it."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "ktrdr-tui"
USER_SCRIPT = """
from ib_insync import IB, Stock
ib = IB()
ib.connect("127.0.0.1", {port}, clientId=11, timeout=10)
bars = ib.reqHistoricalData(
    Stock("SPY", "SMART", "USD"), "20240103 21:00:00 UTC", "1 D", "5 mins", "TRADES", True, 2
)
ib.disconnect()
print(len(bars))
"""


def test_gateway_serves_a_plain_ib_insync_script_until_ctrl_c() -> None:
    process = subprocess.Popen(
        [str(SCRIPT), "gateway", "--port", "0", "--pacing", "off"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        match = re.search(r"on 127\.0\.0\.1:(\d+) \(pacing off, seed \d+\)", banner)
        assert match, banner
        # A user's own script, in a process of its own, as it would run against IB.
        script = USER_SCRIPT.format(port=int(match.group(1)))
        user = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert user.returncode == 0, user.stderr
        bars = int(user.stdout)
        assert bars == 78  # one regular session of 5-minute bars
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()


def test_gateway_reports_a_busy_port_in_one_line() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(SCRIPT), "gateway", "--port", str(port)], capture_output=True, text=True
        )
    assert result.returncode == 1
    assert result.stderr == (
        f"ktrdr-tui: cannot listen on 127.0.0.1:{port}: address already in use\n"
    )
