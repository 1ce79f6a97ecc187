"""`ktrdr-tui backtest` with a strategy that raises: it is stopped at its bar, the others run
to the end, the outputs are written, one clear line says what happened, and the exit is 1."""

from __future__ import annotations

import json

from tests.support.bar_fixtures import store_bars
from tests.support.cli_run import backtest

FAILING = '''
from engine.strategy import Strategy


class Fragile(Strategy):
    """Raises at its 100th bar."""

    name = "fragile"

    def on_bar(self, bars):
        if len(bars) == 100:
            {}["missing"]
'''


def test_a_strategy_that_raises_fails_the_run_after_the_others_finish(capsys, tmp_path) -> None:
    data_dir = tmp_path / "data"
    store_bars(data_dir)
    fragile = tmp_path / "fragile.py"
    fragile.write_text(FAILING)
    others = ("--strategy", "sma_crossover", "--strategy", "rsi")
    code, out, err, alone = backtest(capsys, data_dir, tmp_path, *others)
    assert code == 0, err

    code, out, err, rows = backtest(
        capsys,
        data_dir,
        tmp_path,
        "--strategy-file",
        str(fragile),
        "--strategy",
        "fragile",
        *others,
    )
    assert code == 1
    lines = [line for line in err.splitlines() if "fragile" in line]
    # Its 100th bar: 09:30 + 99 minutes = 11:09 New York, 16:09 UTC.
    when = "2024-03-04 16:09 UTC"
    assert lines == [
        f"ktrdr-tui: strategy fragile stopped at the bar of {when}: KeyError: 'missing'"
    ]
    assert "Traceback" not in err
    report = json.loads(out)
    assert report["bars_processed"] == 3900  # the session ran to the end
    assert report["strategy_failures"] == [lines[0].removeprefix("ktrdr-tui: ")]
    # The signals file is written, and the others' signals are what they are without it.
    assert rows == alone and len(rows) > 10
