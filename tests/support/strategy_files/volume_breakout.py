"""A user's strategy on high, low and volume, with a parameter of every type."""

from engine.strategy import Strategy


class VolumeBreakout(Strategy):
    """Buy a close above the highest high of the last `lookback` bars on a volume above
    `volume_factor` times their mean; sell a close below their lowest low, on such a volume
    too when `confirm_sells`."""

    name = "volume_breakout"
    lookback: int = 20
    volume_factor: float = 1.0
    confirm_sells: bool = False

    def validate(self) -> None:
        if self.lookback < 1:
            raise ValueError(f"lookback must be at least 1, got {self.lookback}")
        if self.volume_factor < 0:
            raise ValueError(f"volume_factor must be 0 or more, got {self.volume_factor}")

    def on_bar(self, bars) -> None:
        if len(bars) <= self.lookback:
            return
        before = slice(-self.lookback - 1, -1)
        heavy = bars.volume[-1] > self.volume_factor * bars.volume[before].mean()
        if bars.close[-1] > bars.high[before].max() and heavy:
            self.buy(confidence=1.0, reason="breakout on volume")
        elif bars.close[-1] < bars.low[before].min() and (heavy or not self.confirm_sells):
            self.sell(confidence=0.8, reason="breakdown")
