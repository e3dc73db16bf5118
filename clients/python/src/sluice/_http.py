"""The one retry owner of the SDK, over one httpx client.

Every call goes through ``request``: a 408, a 429, a 5xx or a lost connection is retried up to
``max_retries`` times, after the delay the server asked for or a backoff (``_retry``), with the
same ``Idempotency-Key`` when the call has one; any other error status is raised at once as its
:class:`APIStatusError` subclass. Uploads are never
retried (``RequestSpec.retry``). The sync and async transports share everything but the waiting.
"""

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, TypeVar, Union

import httpx

from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ResponseValidationError,
    SluiceError,
    error_from_response,
)
from ._models import _Model
from ._options import ClientOptions
from ._retry import retry_delay
from ._version import __version__

M = TypeVar("M", bound=_Model)

QueryValue = Union[str, int, None]
FileSpec = tuple[str, Any, str]
"""(filename, binary file object, content type): a multipart file part."""


@dataclass(frozen=True)
class RequestSpec:
    """One HTTP call, as the resources describe it."""

    method: str
    path: str
    """From the server root, e.g. ``/v1/jobs``."""
    query: Mapping[str, QueryValue] = field(default_factory=dict)
    json: Any = None
    """A body sent as JSON (None: no body)."""
    form: Optional[Mapping[str, str]] = None
    """Multipart fields, sent before ``files``."""
    files: Optional[Mapping[str, FileSpec]] = None
    retry: bool = True
    """False for a body that cannot be sent twice (a file): such a call is never retried."""
    stream: bool = False
    """Hand the response over once its headers are in, unread (``Reply.response``); the caller reads and closes it."""
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: Optional[str] = None
    """Sent as ``Idempotency-Key`` on every attempt, retries included: a create whose answer was lost
    and is retried is answered, not done twice. Every create sends one (``idempotency_key_of``)."""

    @property
    def where(self) -> str:
        return f"{self.method} {self.path}"


class _Transport:
    def __init__(self, options: ClientOptions) -> None:
        self.options = options

    def _build(self, client: Union[httpx.Client, httpx.AsyncClient], spec: RequestSpec) -> httpx.Request:
        headers: dict[str, str] = {
            "accept": "application/json",
            "user-agent": f"sluice-python/{__version__}",
            **spec.headers,
        }
        if self.options.api_key is not None:
            headers["authorization"] = f"Bearer {self.options.api_key}"
        if spec.idempotency_key is not None:
            headers["idempotency-key"] = spec.idempotency_key
        query = {name: value for name, value in spec.query.items() if value is not None}
        return client.build_request(
            spec.method,
            self.options.base_url + spec.path,
            params=query,
            json=spec.json,
            data=spec.form,
            files=spec.files,
            headers=headers,
            timeout=self.options.timeout,
        )

    @contextlib.contextmanager
    def no_answer(self, spec: RequestSpec) -> Iterator[None]:
        """httpx's transport errors as the SDK's (retriable) connection errors."""
        try:
            yield
        except httpx.TimeoutException as error:
            raise APITimeoutError(
                f"{spec.where}: no answer from {self.options.base_url} within {self.options.timeout:g} s"
            ) from error
        except httpx.TransportError as error:
            raise APIConnectionError(f"{spec.where}: cannot reach {self.options.base_url}: {error}") from error

    def _max_retries(self, spec: RequestSpec) -> int:
        return self.options.max_retries if spec.retry else 0


def _delay_before(error: SluiceError, retry: int, max_retries: int) -> Optional[float]:
    """Seconds to wait before retrying after ``error``, or None to raise it."""
    if not error.retriable or retry >= max_retries:
        return None
    return retry_delay(retry, error.retry_after if isinstance(error, APIStatusError) else None)


@dataclass(frozen=True)
class Reply:
    """A 2xx answer. ``body`` holds its bytes, read into this object alone: httpx's ``Response`` sits in a
    reference cycle (with its stream) and would keep its content alive until the cycle collector runs,
    so a long paging loop would hold many pages at once. For ``spec.stream`` the body is unread and
    ``response`` open: the caller reads and closes it."""

    response: httpx.Response
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(self.response.encoding or "utf-8", errors="replace")


def _parse(spec: RequestSpec, reply: Reply, model: type[M]) -> M:
    try:
        value = json.loads(reply.body)
    except ValueError:
        raise ResponseValidationError(f"{spec.where}: the answer is not JSON: {reply.text[:200]}") from None
    return model.parse(value, spec.where)


class SyncTransport(_Transport):
    def __init__(self, options: ClientOptions, client: Optional[httpx.Client] = None) -> None:
        super().__init__(options)
        self.client = client if client is not None else httpx.Client(timeout=options.timeout)
        self.owns_client = client is None

    def request(self, spec: RequestSpec) -> Reply:
        """A 2xx answer, after any retries."""
        max_retries = self._max_retries(spec)
        retry = 0
        while True:
            try:
                return self._attempt(spec)
            except SluiceError as error:
                delay = _delay_before(error, retry, max_retries)
                if delay is None:
                    raise
            time.sleep(delay)
            retry += 1

    def json(self, spec: RequestSpec, model: type[M]) -> M:
        return _parse(spec, self.request(spec), model)

    def _attempt(self, spec: RequestSpec) -> Reply:
        with self.no_answer(spec):
            response = self.client.send(self._build(self.client, spec), stream=True)
            if response.is_success and spec.stream:
                return Reply(response, b"")
            try:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response)
                return Reply(response, b"".join(response.iter_bytes()))
            finally:
                response.close()

    def close(self) -> None:
        if self.owns_client:
            self.client.close()


class AsyncTransport(_Transport):
    def __init__(self, options: ClientOptions, client: Optional[httpx.AsyncClient] = None) -> None:
        super().__init__(options)
        self.client = client if client is not None else httpx.AsyncClient(timeout=options.timeout)
        self.owns_client = client is None

    async def request(self, spec: RequestSpec) -> Reply:
        """A 2xx answer, after any retries."""
        max_retries = self._max_retries(spec)
        retry = 0
        while True:
            try:
                return await self._attempt(spec)
            except SluiceError as error:
                delay = _delay_before(error, retry, max_retries)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            retry += 1

    async def json(self, spec: RequestSpec, model: type[M]) -> M:
        return _parse(spec, await self.request(spec), model)

    async def _attempt(self, spec: RequestSpec) -> Reply:
        with self.no_answer(spec):
            response = await self.client.send(self._build(self.client, spec), stream=True)
            if response.is_success and spec.stream:
                return Reply(response, b"")
            try:
                if not response.is_success:
                    await response.aread()
                    raise error_from_response(response)
                return Reply(response, b"".join([chunk async for chunk in response.aiter_bytes()]))
            finally:
                await response.aclose()

    async def close(self) -> None:
        if self.owns_client:
            await self.client.aclose()
