"""Jobs of the operations API (``/v1/jobs``): submit items, follow the job, read its output.

Every call is retried on 408, 429, 5xx and lost connections, except uploads. Every create (``submit``,
``submit_and_wait``, ``upload_file``, ``retry``) sends an ``Idempotency-Key`` (a fresh random UUID, or
the caller's ``idempotency_key``), the same on each of its retries, so that a retry whose first answer
was lost does not create a second job.
"""

import json
import math
import os
import time
from collections.abc import AsyncIterator, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import (
    Any,
    BinaryIO,
    Callable,
    Literal,
    Optional,
    Union,
    overload,
)
from urllib.parse import quote

from .._drive import (
    Download,
    Emit,
    Plan,
    Sleep,
    Stream,
    async_iterator,
    async_method,
    call,
    sync_iterator,
    sync_method,
    text,
)
from .._errors import ConfigurationError, WaitTimeoutError
from .._http import RequestSpec
from .._models import JOB_STATUSES, DryRun, Job, JobList, OperationRow, OutputPage
from .._options import idempotency_key_of
from .completions import Item

__all__ = ["AsyncBatches", "AsyncJobPage", "Batches", "JobOperation", "JobPage", "JobTier", "OutputFormat"]

JobOperation = Literal["label", "classify", "extract", "summarize", "enrich", "run"]
JobTier = Literal["auto", "realtime", "flex", "batch"]
"""How a job's items are sent (``tier``); synchronous calls are always realtime."""
"""``label`` is classify's batch name; the two are the same operation."""
OutputFormat = Literal["json", "jsonl", "csv"]
PathLike = Union[str, "os.PathLike[str]"]
ProgressCallback = Callable[[Job], object]

DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000
_FORMATS = ("json", "jsonl", "csv")


def submit(
    *,
    operation: JobOperation,
    items: Optional[Sequence[Item]] = None,
    input_file_id: Optional[str] = None,
    model: Optional[str] = None,
    name: Optional[str] = None,
    metadata: Optional[Mapping[str, str]] = None,
    completion_window: Optional[str] = None,
    tier: Optional[JobTier] = None,
    idempotency_key: Optional[str] = None,
    **params: Any,
) -> Plan[Job]:
    """Submit a job: ``items`` inline (or ``input_file_id`` of a stored ``.jsonl`` or ``.csv`` file) and the
    operation's fields as keywords, e.g. ``categories=[...]`` for ``label``. ``name`` is a free name
    (a ``run`` job's ``feedback_analysis``); ``completion_window`` from ``"1h"`` to ``"7d"`` (default 24h);
    ``tier``: how the items are sent, ``"auto"`` (the default: flex when an upstream of the model offers it
    and the window leaves room), ``"realtime"``, ``"flex"`` or ``"batch"`` (not available yet: a 400).
    Returns the job as accepted; the server has checked every item, and names the bad ones in a
    :class:`BadRequestError`. :meth:`dry_run` takes the same arguments (but this one) and creates nothing.
    ``idempotency_key``: sent as ``Idempotency-Key`` (default: a fresh random UUID), the same on every
    retry; pass your own to make the submit safe to repeat (the same key with another body: a 409)."""
    key = idempotency_key_of(idempotency_key)
    body = _job_params(operation, model, name, metadata, completion_window, tier, params)
    if items is not None:
        body["items"] = [dict(item) for item in items]
    if input_file_id is not None:
        body["input_file_id"] = input_file_id
    return (yield from call(RequestSpec("POST", "/v1/jobs", json=body, idempotency_key=key), Job))


def dry_run(
    *,
    operation: JobOperation,
    items: Optional[Sequence[Item]] = None,
    input_file_id: Optional[str] = None,
    model: Optional[str] = None,
    name: Optional[str] = None,
    metadata: Optional[Mapping[str, str]] = None,
    completion_window: Optional[str] = None,
    tier: Optional[JobTier] = None,
    **params: Any,
) -> Plan[DryRun]:
    """:meth:`submit`'s dry run (``POST /v1/jobs?dry_run=true``): the server checks the job exactly the
    same way (the same errors) and answers a :class:`DryRun` estimate (items, input tokens, output
    bound, cost, seconds). Nothing is created and nothing is sent upstream."""
    body = _job_params(operation, model, name, metadata, completion_window, tier, params)
    if items is not None:
        body["items"] = [dict(item) for item in items]
    if input_file_id is not None:
        body["input_file_id"] = input_file_id
    return (yield from call(RequestSpec("POST", "/v1/jobs", query={"dry_run": "true"}, json=body), DryRun))


def submit_and_wait(
    *,
    operation: JobOperation,
    items: Optional[Sequence[Item]] = None,
    input_file_id: Optional[str] = None,
    model: Optional[str] = None,
    name: Optional[str] = None,
    metadata: Optional[Mapping[str, str]] = None,
    completion_window: Optional[str] = None,
    tier: Optional[JobTier] = None,
    timeout: Optional[float] = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    on_progress: Optional[ProgressCallback] = None,
    idempotency_key: Optional[str] = None,
    **params: Any,
) -> Plan[Job]:
    """:meth:`submit`, then :meth:`wait` until the job is final (``timeout``, ``poll_interval`` and
    ``on_progress`` as there)."""
    deadline = _Deadline(timeout, poll_interval)  # bad wait arguments fail before anything is submitted
    job = yield from submit(
        operation=operation,
        items=items,
        input_file_id=input_file_id,
        model=model,
        name=name,
        metadata=metadata,
        completion_window=completion_window,
        tier=tier,
        idempotency_key=idempotency_key,
        **params,
    )
    return (yield from _wait(job.id, deadline, on_progress))


def retry(batch_id: str, *, idempotency_key: Optional[str] = None) -> Plan[Job]:
    """A new job of exactly the items of a finished job that failed, expired or were cancelled, with the
    same operation, parameters, model and window; its ``metadata["retry_of"]`` is ``batch_id``. A job
    still running: :class:`ConflictError`; nothing to retry: :class:`BadRequestError`.
    ``idempotency_key`` as in :meth:`submit`."""
    key = idempotency_key_of(idempotency_key)
    return (yield from call(RequestSpec("POST", f"{_job_path(batch_id)}/retry", idempotency_key=key), Job))


def retrieve(batch_id: str) -> Plan[Job]:
    """The job now: ``.status``, ``.progress`` (0–1), ``.completed_items``, ``.failed_items``, ..."""
    return (yield from call(RequestSpec("GET", _job_path(batch_id)), Job))


def wait(
    batch_id: str,
    *,
    timeout: Optional[float] = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    on_progress: Optional[ProgressCallback] = None,
) -> Plan[Job]:
    """Poll the job every ``poll_interval`` seconds until it is ``completed``, ``failed``, ``cancelled`` or
    ``expired``, and return it. ``on_progress`` is called with every job read, the final one included
    (see ``sluice.progress`` for a progress bar). After ``timeout`` seconds (default: no limit) raises
    :class:`WaitTimeoutError`, whose ``last`` is the last job read."""
    return (yield from _wait(batch_id, _Deadline(timeout, poll_interval), on_progress))


def cancel(batch_id: str) -> Plan[Job]:
    """Cancel a job: items not started are not sent upstream; finished ones stay in the output. The job
    answers ``cancelling``, then ``cancelled``. A job already final: :class:`ConflictError`."""
    return (yield from call(RequestSpec("POST", f"{_job_path(batch_id)}/cancel"), Job))


def list_jobs(
    *, after: Optional[str] = None, limit: Optional[int] = None, status: Optional[str] = None
) -> Plan[JobList]:
    if limit is not None:
        _check_int("limit", limit, 1, 100)
    if status is not None and status not in JOB_STATUSES:
        raise ConfigurationError(f"status: expected one of {', '.join(JOB_STATUSES)}, got {status!r}")
    query = {"after": after, "limit": limit, "status": status}
    return (yield from call(RequestSpec("GET", "/v1/jobs", query=query), JobList))


def output_page(batch_id: str, offset: int = 0, limit: Optional[int] = None) -> Plan[OutputPage]:
    _check_int("offset", offset, 0, None)
    if limit is not None:
        _check_int("limit", limit, 1, MAX_PAGE_SIZE)
    spec = RequestSpec("GET", _output_path(batch_id), query={"format": "json", "offset": offset, "limit": limit})
    return (yield from call(spec, OutputPage))


def output_text(batch_id: str, format: str) -> Plan[str]:
    return (yield from text(_output_text_spec(batch_id, format)))


def iter_output(batch_id: str, *, page_size: int = DEFAULT_PAGE_SIZE) -> Stream[OperationRow]:
    """Every result row, in item order, one page request at a time (``page_size`` rows, 1–10000).
    Read a final job: a running job's pages hold only the items finished when each page was read."""
    _check_int("page_size", page_size, 1, MAX_PAGE_SIZE)
    offset: Optional[int] = 0
    while offset is not None:
        page = yield from call(_page_spec(batch_id, offset, page_size), OutputPage)
        for row in page.results:
            yield Emit(row)
        offset = _next_offset(page)


def download_output(
    batch_id: str,
    path: Union[PathLike, BinaryIO],
    *,
    format: OutputFormat = "jsonl",
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Plan[int]:
    """Write the output to ``path`` (created or replaced; removed again if the download fails) or to a
    binary file object (left open), and return the number of bytes written. ``jsonl`` and ``csv`` are
    streamed as the server sends them; ``json`` is a JSON array built page by page (``page_size`` rows at
    a time). The output is never held in memory whole."""
    _check_format(format)
    _check_int("page_size", page_size, 1, MAX_PAGE_SIZE)
    with _Destination(path) as destination:
        if format != "json":
            yield Download(_output_text_spec(batch_id, format, stream=True), destination.write)
            return destination.written
        destination.write(b"[")
        first = True
        offset: Optional[int] = 0
        while offset is not None:
            page = yield from call(_page_spec(batch_id, offset, page_size), OutputPage)
            for row in page.results:
                destination.write(
                    (b"\n" if first else b",\n") + json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()
                )
                first = False
            offset = _next_offset(page)
        destination.write(b"]\n" if first else b"\n]\n")
        return destination.written


def upload_file(
    path: PathLike,
    *,
    operation: JobOperation,
    model: Optional[str] = None,
    name: Optional[str] = None,
    metadata: Optional[Mapping[str, str]] = None,
    completion_window: Optional[str] = None,
    tier: Optional[JobTier] = None,
    idempotency_key: Optional[str] = None,
    **params: Any,
) -> Plan[Job]:
    """Submit a file of items as a job: ``.jsonl`` (one item object per line) or ``.csv`` (a header row
    with a ``content`` column, then one item per row), with the operation's fields as keywords. The file
    is streamed from disk. Never retried (to retry one yourself, pass the same ``idempotency_key`` again);
    the server answers once it has read and checked the whole file, and names bad rows by line in a
    :class:`BadRequestError`."""
    key = idempotency_key_of(idempotency_key)
    file_path = Path(path)
    params_json = json.dumps(_job_params(operation, model, name, metadata, completion_window, tier, params))
    content_type = "text/csv" if file_path.suffix.lower() == ".csv" else "application/jsonl"
    with file_path.open("rb") as file:
        spec = RequestSpec(
            "POST",
            "/v1/jobs/upload",
            # The server reads the parts in order: params first, so that bad params fail before the file is stored.
            form={"params": params_json},
            files={"file": (file_path.name, file, content_type)},
            retry=False,
            idempotency_key=key,
        )
        return (yield from call(spec, Job))


def jobs_from(page: JobList, limit: Optional[int], status: Optional[str]) -> Stream[Job]:
    """The jobs of ``page`` and of every page after it (in ``status`` only, when given)."""
    while True:
        for job in page.data:
            yield Emit(job)
        if not page.has_more or page.last_id is None:
            return
        page = yield from list_jobs(after=page.last_id, limit=limit, status=status)


def _wait(batch_id: str, deadline: "_Deadline", on_progress: Optional[ProgressCallback]) -> Plan[Job]:
    while True:
        job: Job = yield from retrieve(batch_id)
        if on_progress is not None:
            on_progress(job)
        if job.is_terminal:
            return job
        yield Sleep(deadline.pause(job))


class _Deadline:
    def __init__(self, timeout: Optional[float], poll_interval: float) -> None:
        if timeout is not None:
            _check_seconds("timeout", timeout)
        _check_seconds("poll_interval", poll_interval)
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.end = math.inf if timeout is None else time.monotonic() + timeout

    def pause(self, last: Job) -> float:
        """Seconds until the next read; the last pause ends at the deadline, so the final read happens right at it."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise WaitTimeoutError(last.id, self.timeout or 0.0, last)
        return min(self.poll_interval, left)


class _Destination:
    """A file (replaced; removed again on failure) or a caller's binary file object (left open)."""

    def __init__(self, target: Union[PathLike, BinaryIO]) -> None:
        self.path = Path(target) if isinstance(target, (str, os.PathLike)) else None
        self.file: Optional[BinaryIO] = None if isinstance(target, (str, os.PathLike)) else target
        self.written = 0

    def __enter__(self) -> "_Destination":
        if self.path is not None:
            self.file = self.path.open("wb")
        return self

    def write(self, chunk: bytes) -> None:
        assert self.file is not None, "written outside its with block"
        self.file.write(chunk)
        self.written += len(chunk)

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        if self.path is None or self.file is None:
            return
        self.file.close()
        if error is not None:
            self.path.unlink(missing_ok=True)


def _job_params(
    operation: str,
    model: Optional[str],
    name: Optional[str],
    metadata: Optional[Mapping[str, str]],
    completion_window: Optional[str],
    tier: Optional[str],
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """A job's JSON: the operation, the job's own fields and the operation's; None values left out."""
    fields: dict[str, Any] = {
        "operation": operation,
        "model": model,
        "name": name,
        "metadata": None if metadata is None else dict(metadata),
        "completion_window": completion_window,
        "tier": tier,
        **params,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _job_path(batch_id: str) -> str:
    if not isinstance(batch_id, str) or batch_id == "":
        raise ConfigurationError(f"batch_id: expected a job id such as 'batch_...', got {batch_id!r}")
    return f"/v1/jobs/{quote(batch_id, safe='')}"


def _output_path(batch_id: str) -> str:
    return f"{_job_path(batch_id)}/output"


def _page_spec(batch_id: str, offset: int, limit: int) -> RequestSpec:
    return RequestSpec("GET", _output_path(batch_id), query={"format": "json", "offset": offset, "limit": limit})


def _output_text_spec(batch_id: str, format: str, stream: bool = False) -> RequestSpec:
    return RequestSpec(
        "GET", _output_path(batch_id), query={"format": format}, stream=stream, headers={"accept": "*/*"}
    )


def _next_offset(page: OutputPage) -> Optional[int]:
    """Steps over the page's whole range, not over the rows it held: a running job's page skips
    unfinished items, and counting rows would read finished ones twice."""
    offset = page.offset + page.limit
    return offset if offset < page.total else None


def _check_format(format: str) -> None:
    if format not in _FORMATS:
        raise ConfigurationError(f"format: expected one of {', '.join(_FORMATS)}, got {format!r}")


def _check_int(name: str, value: int, least: int, most: Optional[int]) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least or (most is not None and value > most):
        bounds = f"from {least} to {most}" if most is not None else f">= {least}"
        raise ConfigurationError(f"{name}: expected an integer {bounds}, got {value!r}")


def _check_seconds(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{name}: expected a positive number of seconds, got {value!r}")


class JobPage:
    """One page of :meth:`Batches.list`, newest first. Iterating it yields its jobs and those of every
    later page, fetched as needed; ``next_page()`` fetches the next page alone."""

    def __init__(self, batches: "Batches", page: JobList, limit: Optional[int], status: Optional[str]) -> None:
        self._batches = batches
        self._page = page
        self._limit = limit
        self._status = status
        self.data: list[Job] = page.data
        self.has_more = page.has_more
        self.first_id = page.first_id
        self.last_id = page.last_id

    def next_page(self) -> Optional["JobPage"]:
        if not self.has_more or self.last_id is None:
            return None
        return self._batches.list(after=self.last_id, limit=self._limit, status=self._status)

    def __iter__(self) -> Iterator[Job]:
        return self._batches._jobs_from(self._page, self._limit, self._status)


class AsyncJobPage:
    """One page of :meth:`AsyncBatches.list`; ``async for`` over it yields its jobs and those of every later page."""

    def __init__(self, batches: "AsyncBatches", page: JobList, limit: Optional[int], status: Optional[str]) -> None:
        self._batches = batches
        self._page = page
        self._limit = limit
        self._status = status
        self.data: list[Job] = page.data
        self.has_more = page.has_more
        self.first_id = page.first_id
        self.last_id = page.last_id

    async def next_page(self) -> Optional["AsyncJobPage"]:
        if not self.has_more or self.last_id is None:
            return None
        return await self._batches.list(after=self.last_id, limit=self._limit, status=self._status)

    def __aiter__(self) -> AsyncIterator[Job]:
        return self._batches._jobs_from(self._page, self._limit, self._status)


class AsyncJobPager:
    """What :meth:`AsyncBatches.list` returns: ``await`` it for the first :class:`AsyncJobPage`, or
    ``async for job in client.batches.list()`` for every job, page after page."""

    def __init__(
        self, batches: "AsyncBatches", after: Optional[str], limit: Optional[int], status: Optional[str]
    ) -> None:
        self._batches = batches
        self._after = after
        self._limit = limit
        self._status = status

    async def _first(self) -> AsyncJobPage:
        page = await self._batches._list(after=self._after, limit=self._limit, status=self._status)
        return AsyncJobPage(self._batches, page, self._limit, self._status)

    def __await__(self) -> Generator[Any, None, AsyncJobPage]:
        return self._first().__await__()

    async def __aiter__(self) -> AsyncIterator[Job]:
        page = await self._first()
        async for job in page:
            yield job


class Batches:
    """``client.batches``: jobs that run in the background."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    submit = sync_method(submit)
    submit_and_wait = sync_method(submit_and_wait)
    retrieve = sync_method(retrieve)
    wait = sync_method(wait)
    cancel = sync_method(cancel)
    retry = sync_method(retry)
    dry_run = sync_method(dry_run)
    iter_output = sync_iterator(iter_output)
    download_output = sync_method(download_output)
    upload_file = sync_method(upload_file)
    _list = sync_method(list_jobs)
    _output_page = sync_method(output_page)
    _output_text = sync_method(output_text)
    _jobs_from = sync_iterator(jobs_from)

    def list(
        self, *, after: Optional[str] = None, limit: Optional[int] = None, status: Optional[str] = None
    ) -> JobPage:
        """Jobs, newest first, ``limit`` (1–100, default 20) a page; ``after`` a job id to start after;
        ``status`` (e.g. ``"completed"``) the jobs in that status only.
        ``for job in client.batches.list()`` walks every page."""
        return JobPage(self, self._list(after=after, limit=limit, status=status), limit, status)

    @overload
    def output(
        self, batch_id: str, *, format: Literal["json"] = "json", offset: int = 0, limit: Optional[int] = None
    ) -> OutputPage: ...

    @overload
    def output(self, batch_id: str, *, format: Literal["jsonl", "csv"]) -> str: ...

    def output(
        self, batch_id: str, *, format: OutputFormat = "json", offset: int = 0, limit: Optional[int] = None
    ) -> Union[OutputPage, str]:
        """One page of results (``format="json"``: ``.id``, ``.status``, ``.offset``, ``.limit``, ``.total``,
        ``.has_more``, ``.results``; ``limit`` 1–10000, default 1000), or the whole output as text
        (``jsonl``, ``csv``). A running job's page holds only the finished items of its range."""
        _check_format(format)
        if format == "json":
            return self._output_page(batch_id, offset, limit)
        return self._output_text(batch_id, format)


class AsyncBatches:
    """``client.batches`` of :class:`AsyncSluice`: the same methods, awaited (``async for`` for the iterators)."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    submit = async_method(submit)
    submit_and_wait = async_method(submit_and_wait)
    retrieve = async_method(retrieve)
    wait = async_method(wait)
    cancel = async_method(cancel)
    retry = async_method(retry)
    dry_run = async_method(dry_run)
    iter_output = async_iterator(iter_output)
    download_output = async_method(download_output)
    upload_file = async_method(upload_file)
    _list = async_method(list_jobs)
    _output_page = async_method(output_page)
    _output_text = async_method(output_text)
    _jobs_from = async_iterator(jobs_from)

    def list(
        self, *, after: Optional[str] = None, limit: Optional[int] = None, status: Optional[str] = None
    ) -> AsyncJobPager:
        """See :meth:`Batches.list`: ``await`` it for one page, or ``async for`` over it for every job."""
        return AsyncJobPager(self, after, limit, status)

    @overload
    async def output(
        self, batch_id: str, *, format: Literal["json"] = "json", offset: int = 0, limit: Optional[int] = None
    ) -> OutputPage: ...

    @overload
    async def output(self, batch_id: str, *, format: Literal["jsonl", "csv"]) -> str: ...

    async def output(
        self, batch_id: str, *, format: OutputFormat = "json", offset: int = 0, limit: Optional[int] = None
    ) -> Union[OutputPage, str]:
        """See :meth:`Batches.output`."""
        _check_format(format)
        if format == "json":
            return await self._output_page(batch_id, offset, limit)
        return await self._output_text(batch_id, format)
