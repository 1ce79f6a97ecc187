"""The instruments the simulated gateway knows: US stocks and ETFs on NYSE hours."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    symbol: str
    con_id: int
    primary_exchange: str
    long_name: str
    first_date: str  # the head timestamp's session date (clamped to the calendar's start)
    base_price: float  # where the synthetic random walk starts
    daily_volume: float  # typical shares per session

    @property
    def stock_type(self) -> str:
        return "ETF" if self.symbol in {"SPY", "QQQ"} else "COMMON"


UNIVERSE: dict[str, Instrument] = {
    i.symbol: i
    for i in [
        Instrument("AAPL", 265598, "NASDAQ", "APPLE INC", "1980-12-12", 28.0, 60e6),
        Instrument("MSFT", 272093, "NASDAQ", "MICROSOFT CORP", "1986-03-13", 45.0, 30e6),
        Instrument("GOOG", 208813720, "NASDAQ", "ALPHABET INC-CL C", "2004-08-19", 55.0, 25e6),
        Instrument("AMZN", 3691937, "NASDAQ", "AMAZON.COM INC", "1997-05-15", 4.0, 45e6),
        Instrument("SPY", 756733, "ARCA", "SPDR S&P 500 ETF TRUST", "1993-01-29", 140.0, 80e6),
        Instrument(
            "QQQ", 320227571, "NASDAQ", "INVESCO QQQ TRUST SERIES 1", "1999-03-10", 90.0, 40e6
        ),
        Instrument("IBM", 8314, "NYSE", "INTL BUSINESS MACHINES CORP", "1962-01-02", 110.0, 5e6),
        Instrument("TSLA", 76792991, "NASDAQ", "TESLA INC", "2010-06-29", 1.6, 90e6),
        Instrument("NVDA", 4815747, "NASDAQ", "NVIDIA CORP", "1999-01-22", 0.4, 250e6),
        Instrument(
            "META", 107113386, "NASDAQ", "META PLATFORMS INC-CLASS A", "2012-05-18", 38.0, 20e6
        ),
    ]
}
