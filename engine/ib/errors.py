"""Typed IB errors: the loader decides per type whether to retry, wait, or give up."""

from __future__ import annotations

from engine.core.retry import Recovery, recovery_for

# Informational codes IB sends with reqId -1: farm status and connectivity restored.
FARM_STATUS = frozenset({2103, 2104, 2105, 2106, 2107, 2108, 2119, 2158})
CONNECTIVITY_RESTORED = frozenset({1101, 1102})


class IBError(Exception):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class UnknownSymbol(IBError):
    """No security definition (200): permanent."""


class NoData(IBError):
    """IB has no bars for the span (162 'no data'): permanent for that segment."""


class PacingViolation(IBError):
    """IB refused the request for pacing (162): wait, then retry the same request."""


class InvalidRequest(IBError):
    """The request itself is wrong (invalid step, bar size, date; 321): a bug, not bad luck."""


class TransientError(IBError):
    """IB failed this time (162 HMDS trouble, 366): retry with backoff."""


class BadAnswer(IBError):
    """An answer came but cannot be used: the client could not decode it, or its bars fail
    the import's checks or stop short. That segment fails with the reason; a resume asks
    again."""


class NotConnected(IBError):
    """No connection to the gateway (504, refused connect)."""


class ConnectionLost(NotConnected):
    """The connection dropped while a request was in flight (1100, socket closed)."""


class ClientIdInUse(NotConnected):
    """Another program holds this client id (326)."""


class IBTimeout(IBError):
    """No answer in time."""


def classify(code: int, message: str) -> IBError:
    """The typed error for an IB error code and text."""
    text = message.lower()
    if code == 200:
        return UnknownSymbol(message, code)
    if code == 162:
        if "pacing violation" in text:
            return PacingViolation(message, code)
        if "no data" in text:
            return NoData(message, code)
        if "invalid" in text or "time length exceed" in text:
            return InvalidRequest(message, code)
        return TransientError(message, code)
    if code == 321:
        return InvalidRequest(message, code)
    if code == 326:
        return ClientIdInUse(message, code)
    if code in (504, 1100):
        return ConnectionLost(message, code)
    return TransientError(message, code)


# IB's retry-policy table: what the loader does after each error, whether it was fetching bars
# or checking a symbol (the most specific class listed wins).
RECOVERY: dict[type[BaseException], Recovery] = {
    IBError: Recovery.FAIL,
    PacingViolation: Recovery.PACING,
    NotConnected: Recovery.RECONNECT,  # ConnectionLost and ClientIdInUse too
    IBTimeout: Recovery.RECONNECT,
    TransientError: Recovery.RETRY,
    NoData: Recovery.FAIL,
    InvalidRequest: Recovery.FAIL,
    BadAnswer: Recovery.FAIL,
    UnknownSymbol: Recovery.FAIL_JOB,
}


def recovery(exc: BaseException) -> Recovery | None:
    return recovery_for(RECOVERY, exc)
