"""IB's pacing rules for historical data (the rules' shape and the ledger that keeps them are
source-neutral: `engine.core.pacing`)."""

from __future__ import annotations

from engine.core.pacing import PacingRules

# 60 requests in any 10 minutes; an identical request within 15 s, or a sixth request for one
# contract within 2 s, is a violation.
REAL_PACING = PacingRules(
    max_requests=60,
    window_s=600.0,
    identical_window_s=15.0,
    per_contract_max=5,
    per_contract_window_s=2.0,
)
# `fast`: the same rules with every window 60 times shorter (10 s instead of 10 min), so demos
# and tests meet pacing without waiting for it.
FAST_PACING = REAL_PACING.scaled(1 / 60)
PACING_MODES: dict[str, PacingRules | None] = {
    "real": REAL_PACING,
    "fast": FAST_PACING,
    "off": None,
}
