"""The SDK's error taxonomy.

Every error says whether retrying may help (``retriable``); the one retry owner (``_http``) decides
from that flag alone. An HTTP status becomes an error class in one place: :func:`error_from_response`.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import httpx

from ._retry import is_retriable_answer, server_delay

if TYPE_CHECKING:
    from ._models import Job

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "SluiceError",
    "ValidationIssue",
    "WaitTimeoutError",
    "error_from_response",
]


class SluiceError(Exception):
    """The base of every error this SDK raises."""

    retriable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(SluiceError, ValueError):
    """Bad client options, a bad argument or an unusable profile: nothing was sent."""


@dataclass(frozen=True)
class ValidationIssue:
    """One problem with one input line or field, as the server names it."""

    line: Optional[int]
    """1-based line of an uploaded file; None for a JSON body or a request-level problem."""
    param: Optional[str]
    """The offending field as a dotted path (``items.3.content``), or None when a line as a whole is bad."""
    code: str
    message: str


class APIStatusError(SluiceError):
    """The server answered with an error status. One subclass per status; see :func:`error_from_response`."""

    def __init__(self, message: str, *, response: httpx.Response, body: object) -> None:
        super().__init__(message)
        self.response = response
        self.status_code: int = response.status_code
        self.body: object = body
        """The parsed error body (or its text when it is not JSON)."""
        error = _error_object(body)
        self.code: Optional[str] = _str_or_none(error.get("code"))
        """The error's machine-readable code, e.g. ``sync_limit_exceeded``, ``invalid_value``."""
        self.type: Optional[str] = _str_or_none(error.get("type"))
        self.param: Optional[str] = _str_or_none(error.get("param"))
        """The first offending field, as a dotted path, when the server names one."""
        self.details: list[ValidationIssue] = _issues(error.get("details"))
        """Every problem the server found (a bad request names each bad line or field), up to its cap."""
        self.truncated: bool = error.get("truncated") is True
        """True when the server found more problems than it listed in ``details``."""
        self.request_id: Optional[str] = response.headers.get("x-request-id")
        self.retry_after: Optional[float] = server_delay(response.headers)
        """The delay the server asked for before a retry (``retry-after-ms`` / ``retry-after``), in seconds."""
        self.retriable = is_retriable_answer(self.status_code, self.code)

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"HTTP {self.status_code}{code}: {self.message}"


class BadRequestError(APIStatusError):
    """400: the request is invalid; ``details`` names each bad line or field. Nothing was accepted."""


class AuthenticationError(APIStatusError):
    """401: no API key, or an unknown one."""


class PermissionDeniedError(APIStatusError):
    """403."""


class NotFoundError(APIStatusError):
    """404: no such job (or it belongs to another tenant)."""


class ConflictError(APIStatusError):
    """409: the job's state does not allow it, e.g. cancelling a finished job."""


class PayloadTooLargeError(APIStatusError):
    """413: the request or the file is larger than the server accepts."""


class RateLimitError(APIStatusError):
    """429. Retried, after ``retry_after`` when the server says."""


class InternalServerError(APIStatusError):
    """5xx. Retried."""


class APIConnectionError(SluiceError):
    """No HTTP answer: the connection was refused or dropped. Retried."""

    retriable = True


class APITimeoutError(APIConnectionError):
    """No answer within the client's timeout. Retried, like any lost connection."""


class ResponseValidationError(SluiceError):
    """A 2xx answer that does not match the contract: the server and the SDK disagree."""


class WaitTimeoutError(SluiceError):
    """``wait`` gave up before the job reached a terminal status; ``last`` is what the last poll saw."""

    def __init__(self, job_id: str, timeout: float, last: "Job") -> None:
        super().__init__(
            f"{job_id} did not finish within {timeout:g} s "
            f"(last seen {last.status}, {last.completed_items + last.failed_items}/{last.total_items} items)"
        )
        self.job_id = job_id
        self.timeout = timeout
        self.last = last


_ERROR_CLASS_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def error_from_response(response: httpx.Response) -> APIStatusError:
    """The one place an HTTP status becomes an error class (5xx: :class:`InternalServerError`).

    The response's body must have been read.
    """
    text = response.text
    body: object
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    message = _str_or_none(_error_object(body).get("message"))
    if message is None:
        shown = text.strip()[:200]
        message = f"HTTP {response.status_code}" + (f": {shown}" if shown else "")
    status = response.status_code
    error_class = _ERROR_CLASS_BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    return error_class(message, response=response, body=body)


def _error_object(body: object) -> Mapping[str, Any]:
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code", ...}}``."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return error
    return {}


def _issues(value: object) -> list[ValidationIssue]:
    if not isinstance(value, list):
        return []
    issues: list[ValidationIssue] = []
    for entry in value:
        if not isinstance(entry, dict):
            continue
        line = entry.get("line")
        issues.append(
            ValidationIssue(
                line=line if isinstance(line, int) and not isinstance(line, bool) else None,
                param=_str_or_none(entry.get("param")),
                code=_str_or_none(entry.get("code")) or "invalid_request",
                message=_str_or_none(entry.get("message")) or "",
            )
        )
    return issues


def _str_or_none(value: object) -> Optional[str]:
    return value if isinstance(value, str) else None
