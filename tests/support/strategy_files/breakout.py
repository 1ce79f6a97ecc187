"""The example of DESIGN.md and the README, as a user writes it."""

from engine.strategy import Strategy


class Breakout(Strategy):
    """Buy a close above the highest high of the last `lookback` bars; sell one below the
    lowest low."""

    name = "breakout"
    lookback: int = 20

    def on_bar(self, bars) -> None:
        if len(bars) <= self.lookback:
            return
        if bars.close[-1] > bars.high[-self.lookback - 1 : -1].max():
            self.buy(confidence=1.0, reason="new high")
        elif bars.close[-1] < bars.low[-self.lookback - 1 : -1].min():
            self.sell(confidence=1.0, reason="new low")
