"""`ktrdr-tui gateway` in the foreground: a stock ib_insync script connects; Ctrl-C stops it."""

from __future__ import annotations

import json
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


def test_listening_beyond_loopback_warns_that_the_network_can_reach_it() -> None:
    for host, warned in (("0.0.0.0", True), ("127.0.0.1", False)):
        process = subprocess.Popen(
            [str(SCRIPT), "gateway", "--host", host, "--port", "0", "--pacing", "off"],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stderr is not None
            first = process.stderr.readline()
            if warned:
                assert "simulated IB Gateway on 0.0.0.0:" in process.stderr.readline()
            process.send_signal(signal.SIGINT)  # once serving: the banner is out
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
        if warned:
            assert first == (
                "ktrdr-tui: warning: listening on 0.0.0.0, the gateway is reachable from the "
                "network: anyone who can reach this machine can connect (it has no login)\n"
            )
        else:
            assert first.startswith("simulated IB Gateway on 127.0.0.1:")


WEEKEND_SCRIPT = """
import json
from ib_insync import IB, Stock
ib = IB()
ib.RequestTimeout = 20  # a request left unanswered comes back empty instead of hanging
errors = []
def on_error(req_id, code, message, contract):
    if req_id >= 0:  # not the farm status lines
        errors.append([code, message])
ib.errorEvent += on_error
ib.connect("127.0.0.1", {port}, clientId=12, timeout=10)
aapl = Stock("AAPL", "SMART", "USD")
answers = [
    ib.reqHistoricalData(aapl, "", "1 D", "1 min", "TRADES", True),  # the README's example
    ib.reqHistoricalData(aapl, "29990101 00:00:00 UTC", "1 D", "1 min", "TRADES", True),
    ib.reqHistoricalData(aapl, "", "99999999999 Y", "1 day", "TRADES", True),
    ib.reqHistoricalData(aapl, "", "1 D", "1 min", "TRADES", True),  # --short-every 4
]
ib.disconnect()
days = sorted({{str(bar.date.date()) for bar in answers[0]}})
print(json.dumps({{"bars": [len(a) for a in answers], "days": days, "errors": errors}}))
"""


def test_on_a_sunday_the_readme_example_gets_fridays_session_and_absurd_requests_an_error(
    monkeypatch,
) -> None:
    # Before: "1 D" reached back 24 hours from Sunday (no bars: "no data"), and the end in
    # 2999 and the 99999999999-year duration left their requests unanswered for ever.
    monkeypatch.setenv("KTRDR_NOW", "2024-03-17T15:00:00Z")  # a Sunday
    process = subprocess.Popen(
        [str(SCRIPT), "gateway", "--port", "0", "--pacing", "off", "--short-every", "4"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        match = re.search(r"on 127\.0\.0\.1:(\d+) ", process.stderr.readline())
        assert match
        script = WEEKEND_SCRIPT.format(port=int(match.group(1)))
        user = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert user.returncode == 0, user.stderr
        report = json.loads(user.stdout)
        assert report["bars"] == [390, 0, 0, 195]
        assert report["days"] == ["2024-03-15"]  # Friday's session, all of it
        (end_error, duration_error) = report["errors"]
        assert end_error[0] == duration_error[0] == 162
        assert "end date/time '29990101 00:00:00 UTC' is out of range" in end_error[1]
        assert "invalid step: 99999999999 Y" in duration_error[1]
    finally:
        process.kill()
        process.wait(timeout=10)
