"""How long to wait before a retry: the same rules as the TypeScript SDK.

The server's word first (``retry-after-ms``, then ``retry-after`` in seconds or as an HTTP date),
else exponential backoff with jitter: 0.5 s doubling, capped at 8 s, each delay shortened by up
to a quarter so that clients that failed together do not come back together. A server delay
longer than a minute is taken as a mistake (as the OpenAI clients do), and backoff is used.
What is retried: 408, 429, 5xx and lost connections (see ``SluiceError.retriable``); never
another 4xx, never an upload. Not a 409 either: from Sluice it is a conflict with the resource's
state (cancelling a completed job, retrying a running one), a final answer that a retry only
repeats; except the 409 ``idempotency_key_in_use``, which says the first request with the same
``Idempotency-Key`` is still running: retried with that key, it gets the first request's answer.
(The processor does retry an upstream LLM's 409, OpenAI's lock conflict.) The rule is the
TypeScript SDK's; its table lives in packages/core/src/retry/retriable-statuses.json (``sluiceApi``)
and tests/test_retry_rules.py checks this module against it.
"""

import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Callable, Optional

RETRIABLE_STATUSES = (408, 429)
"""Request timeout, rate limit; and every status from ``RETRIABLE_FROM_STATUS`` up."""
RETRIABLE_FROM_STATUS = 500

INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
MAX_SERVER_DELAY = 60.0


RETRIABLE_CONFLICT_CODES = ("idempotency_key_in_use",)
"""The 409 codes that clear by themselves: the first request with this call's key is still running."""


def is_retriable_status(status: int) -> bool:
    """Whether an answer with this HTTP status is worth retrying."""
    return status in RETRIABLE_STATUSES or status >= RETRIABLE_FROM_STATUS


def is_retriable_answer(status: int, code: Optional[str]) -> bool:
    """Whether an error answer is worth retrying: its status, and for a 409 its ``error.code``."""
    if status == 409:
        return code in RETRIABLE_CONFLICT_CODES
    return is_retriable_status(status)


def retry_delay(retry: int, asked: Optional[float], rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``retry`` (0 for the first); ``asked`` is the server's delay."""
    if asked is not None and asked <= MAX_SERVER_DELAY:
        return asked
    base = min(INITIAL_DELAY * 2.0**retry, MAX_DELAY)
    return base * (1 - rand() * 0.25)


def server_delay(headers: Mapping[str, str], now: Optional[float] = None) -> Optional[float]:
    """The delay the server asked for, in seconds, or None when it asked for none (or said nonsense)."""
    ms = headers.get("retry-after-ms")
    if ms is not None and ms.strip() != "":
        value = _number(ms)
        if value is not None and value >= 0:
            return value / 1000
    after = headers.get("retry-after")
    if after is not None and after.strip() != "":
        seconds = _number(after)
        if seconds is not None:
            return seconds if seconds >= 0 else None
        try:
            date = parsedate_to_datetime(after)
        except (TypeError, ValueError):
            return None
        return max(0.0, date.timestamp() - (time.time() if now is None else now))
    return None


def _number(text: str) -> Optional[float]:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None
