"""Client options: what the caller writes, checked and with defaults filled in, once."""

import math
import re
import uuid
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from ._errors import ConfigurationError

DEFAULT_TIMEOUT = 60.0
"""Seconds the client waits for the server at each step of a call (connecting, each read)."""
DEFAULT_MAX_RETRIES = 2
"""Retries of a call that failed with a 429, a 5xx or a lost connection."""


@dataclass(frozen=True)
class ClientOptions:
    """The options in force."""

    base_url: str
    """Without a trailing slash or ``/v1``."""
    api_key: Optional[str]
    timeout: float
    max_retries: int


def compile_options(
    base_url: str, api_key: Optional[str], timeout: Optional[float], max_retries: Optional[int]
) -> ClientOptions:
    return ClientOptions(
        base_url=normalise_base_url(base_url),
        api_key=api_key or None,
        timeout=check_timeout("timeout", DEFAULT_TIMEOUT if timeout is None else timeout),
        max_retries=check_max_retries("max_retries", DEFAULT_MAX_RETRIES if max_retries is None else max_retries),
    )


def normalise_base_url(base_url: str) -> str:
    """``http://host:8080/v1/`` → ``http://host:8080``; a path prefix (a proxy's) is kept."""
    if not isinstance(base_url, str) or base_url.strip() == "":
        raise ConfigurationError(f"base_url: expected an http or https URL, got {base_url!r}")
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"base_url: expected an http or https URL, got {base_url!r}")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"base_url: must not have a query or fragment, got {base_url!r}")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def check_timeout(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise ConfigurationError(f"{name}: expected a positive number of seconds, got {value!r}")
    return float(value)


def check_max_retries(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{name}: expected an integer >= 0, got {value!r}")
    return value


_HEADER_VALUE = re.compile(r"[\x21-\x7e]+")


def idempotency_key_of(key: Optional[str]) -> str:
    """The ``Idempotency-Key`` of one create: the caller's, checked, or a fresh random UUID (v4).

    The same key goes with every retry of the call, so that a retry after a lost answer is answered
    with the first answer rather than creating a second job."""
    if key is None:
        return str(uuid.uuid4())
    # A header value must be visible ASCII: httpx would otherwise fail with a message that names no argument.
    if not isinstance(key, str) or _HEADER_VALUE.fullmatch(key) is None:
        raise ConfigurationError(f"idempotency_key: expected a non-empty string of visible ASCII, got {key!r}")
    return key
