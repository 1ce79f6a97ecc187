"""The exchange the app trades by default and its time zone. Import-light: widgets that show
exchange times without a calendar at hand read the zone here."""

from __future__ import annotations

DEFAULT_EXCHANGE = "XNYS"
EXCHANGE_TZ = "America/New_York"  # DEFAULT_EXCHANGE's zone: the calendar checks they agree
