"""The objects the server answers with, as core's contracts define them (``packages/core/src/contracts``).

Each model checks the fields it declares (present, of the declared type) and keeps the whole
object as received in ``raw``: a field the server adds later is never rejected, and is readable
there before this SDK declares it. Result rows stay plain dicts, so ``row["result"]["label"]``
works as in the seed's examples. ``tests/test_contracts.py`` checks these declarations against
core's zod schemas, so the two cannot drift apart.
"""

import dataclasses
from collections.abc import Mapping
from typing import (
    Any,
    ClassVar,
    Optional,
    TypedDict,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from ._errors import ResponseValidationError

__all__ = [
    "JOB_STATUSES",
    "TERMINAL_STATUSES",
    "Job",
    "JobList",
    "OperationResponse",
    "OperationRow",
    "OutputPage",
    "RowError",
    "TokenUsage",
]

JOB_STATUSES = ("validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled")
"""Every status a job can have (``client.batches.list(status=...)`` takes one)."""

TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
"""Statuses a job never leaves."""


class _CachedInput(TypedDict, total=False):
    cached_input_tokens: int
    """The part of ``input_tokens`` the provider read from its prompt cache (absent when it reported none)."""


class TokenUsage(_CachedInput):
    input_tokens: int
    output_tokens: int


class RowError(TypedDict):
    code: str
    message: str


class OperationRow(TypedDict):
    """One item's row: in a synchronous answer, an output page, or a JSONL line."""

    index: int
    """The item's 0-based position in the input."""
    custom_id: str
    """The item's ``id`` when it had one, else its index."""
    item: Optional[dict[str, Any]]
    """The item as submitted."""
    result: Any
    """The operation's answer (e.g. ``{"label", "confidence", "scores"}`` for classify), None on failure."""
    usage: Optional[TokenUsage]
    error: Optional[RowError]
    """``{"code", "message"}`` when the item failed, else None."""


_M = TypeVar("_M", bound="_Model")


@dataclasses.dataclass(frozen=True)
class _Model:
    raw: dict[str, Any] = dataclasses.field(repr=False, compare=False)
    """The object as the server sent it, fields unknown to this SDK included."""

    _object: ClassVar[Optional[str]] = None

    @classmethod
    def parse(cls: type[_M], value: object, where: str) -> _M:
        if not isinstance(value, dict):
            raise ResponseValidationError(f"{where}: expected a JSON object, got {_kind(value)}")
        if cls._object is not None and value.get("object") != cls._object:
            raise ResponseValidationError(f'{where}: expected "object": "{cls._object}", got {value.get("object")!r}')
        hints = get_type_hints(cls)
        fields: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name == "raw":
                continue
            if field.name not in value:
                raise ResponseValidationError(
                    f"{where}: the answer does not match the contract: {field.name} is missing"
                )
            fields[field.name] = _check(value[field.name], hints[field.name], f"{where}: {field.name}")
        return cls(raw=value, **fields)

    def to_dict(self) -> dict[str, Any]:
        """The object as the server sent it."""
        return dict(self.raw)


@dataclasses.dataclass(frozen=True)
class Job(_Model):
    """A job of the operations API (``/v1/jobs``): a batch, in this API's words."""

    _object: ClassVar[Optional[str]] = "job"

    id: str
    object: str
    operation: str
    """``label`` (classify), ``extract``, ``summarize``, ``enrich`` or ``run``."""
    name: Optional[str]
    model: Optional[str]
    status: str
    """``validating``, ``in_progress``, ``finalizing``, ``cancelling``, or a terminal one: ``completed``,
    ``failed``, ``expired``, ``cancelled``."""
    total_items: int
    completed_items: int
    failed_items: int
    cancelled_items: int
    """Items never sent because the job was cancelled (not counted as failed)."""
    expired_items: int
    """Items never sent because the job's window ended (not counted as failed)."""
    progress: float
    """Finished share of the items, 0–1."""
    throughput_per_minute: Optional[float]
    """Items finished per minute lately; None until known."""
    eta_seconds: Optional[int]
    """Seconds until the job should finish; None until it can be known."""
    retries: int
    """Upstream attempts beyond each finished item's first."""
    rate_limited: int
    """Attempts the upstream answered 429 (rate limited), over the finished items."""
    cost_usd: Optional[float]
    """What the finished items cost in USD, each at the price of the tier it was called at; None when a
    model has no price."""
    realtime_cost_usd: Optional[float]
    """The same tokens at the realtime price: the saving is ``realtime_cost_usd - cost_usd``."""
    parameters: Optional[dict[str, Any]]
    """The operation's parameters as validated (a retry reuses them)."""
    completion_window: str
    request_timeout_seconds: Optional[float]
    tier: str
    """How its items are sent: ``auto``, ``realtime``, ``flex`` or ``batch``."""
    created_at: int
    completed_at: Optional[int]
    cancelled_at: Optional[int]
    expires_at: Optional[int]
    output_file_id: Optional[str]
    error_file_id: Optional[str]
    usage: dict[str, Any]
    metadata: Optional[dict[str, str]]

    @property
    def is_terminal(self) -> bool:
        """True once the job is ``completed``, ``failed``, ``expired`` or ``cancelled``."""
        return self.status in TERMINAL_STATUSES


@dataclasses.dataclass(frozen=True)
class DryRun(_Model):
    """A dry run's answer: the input checked like a submit, and an estimate; nothing was created."""

    _object: ClassVar[Optional[str]] = "dry_run"

    object: str
    items: int
    input_tokens: int
    input_tokens_method: str
    """``tokenizer:<encoding>`` for OpenAI models, else ``estimate:chars/4``."""
    max_output_tokens: int
    estimated_cost_usd: Optional[float]
    """At the server's price table, at the tier the items would be called at; None when the model has no price."""
    estimated_realtime_cost_usd: Optional[float]
    """The same tokens at the realtime price."""
    estimated_seconds: float
    model: Optional[str]


@dataclasses.dataclass(frozen=True)
class JobList(_Model):
    """One page of ``GET /v1/jobs``, newest first."""

    _object: ClassVar[Optional[str]] = "list"

    object: str
    data: list[Job]
    first_id: Optional[str]
    last_id: Optional[str]
    has_more: bool


@dataclasses.dataclass(frozen=True)
class OutputPage(_Model):
    """One page of a job's output (``format="json"``). A running job's page holds only its finished items."""

    _object: ClassVar[Optional[str]] = "output.page"

    object: str
    id: str
    status: str
    offset: int
    limit: int
    total: int
    """The job's item count."""
    has_more: bool
    results: list[OperationRow]


@dataclasses.dataclass(frozen=True)
class OperationResponse(_Model):
    """The answer of a synchronous operation (``client.completions.*``)."""

    _object: ClassVar[Optional[str]] = "operation.result"

    object: str
    id: str
    """The one-off batch the call ran as."""
    operation: str
    name: Optional[str]
    """``run``: the run's free name (its ``operation`` parameter); None otherwise."""
    model: Optional[str]
    results: list[OperationRow]
    usage: TokenUsage


def _check(value: Any, hint: Any, where: str) -> Any:
    """``value`` if it has the declared type; models inside lists are parsed. Extra keys are kept."""
    if hint is Any:
        return value
    origin = get_origin(hint)
    if origin is Union:
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        others = [option for option in options if option is not type(None)]
        return _check(value, others[0] if len(others) == 1 else Any, where)
    if isinstance(hint, type) and issubclass(hint, _Model):
        return hint.parse(value, where)
    if origin is list:
        if not isinstance(value, list):
            raise _mismatch(where, "a list", value)
        (element,) = get_args(hint) or (Any,)
        return [_check(entry, element, f"{where}.{index}") for index, entry in enumerate(value)]
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, dict):
            raise _mismatch(where, "an object", value)
        return value
    if _is_typeddict(hint):
        if not isinstance(value, dict):
            raise _mismatch(where, "an object", value)
        required: frozenset[str] = getattr(hint, "__required_keys__", frozenset())
        missing = sorted(key for key in required if key not in value)
        if missing:
            raise ResponseValidationError(
                f"{where}: the answer does not match the contract: {', '.join(missing)} missing"
            )
        return value
    expected = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}.get(hint)
    if expected is None:
        raise TypeError(f"no check for {hint!r}")  # a declaration this module cannot check: a bug here
    if isinstance(value, bool) and hint is not bool:
        raise _mismatch(where, expected, value)
    ok = isinstance(value, (int, float)) if hint is float else isinstance(value, hint)
    if not ok:
        raise _mismatch(where, expected, value)
    return value


def _is_typeddict(hint: object) -> bool:
    return isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__required_keys__")


def _mismatch(where: str, expected: str, value: object) -> ResponseValidationError:
    return ResponseValidationError(
        f"{where}: the answer does not match the contract: expected {expected}, got {_kind(value)}"
    )


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), repr(value))
