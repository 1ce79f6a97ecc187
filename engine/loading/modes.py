"""What a load fetches of a range. Import-light: the CLI and the New load dialog list them."""

from __future__ import annotations

from enum import StrEnum


class LoadMode(StrEnum):
    LOCAL = "local"  # the store only: nothing is fetched
    TAIL = "tail"  # from the newest stored session up to the end of the range
    BACKFILL = "backfill"  # from the oldest stored session back to the start of the range
    FULL = "full"  # every hole in the range
