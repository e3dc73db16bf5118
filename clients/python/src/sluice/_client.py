"""The clients: :class:`Sluice` (blocking) and :class:`AsyncSluice` (asyncio), with the same surface."""

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Optional, TypedDict, Union

import httpx

from ._drive import AsyncDriver, SyncDriver
from ._http import AsyncTransport, SyncTransport
from ._options import ClientOptions, compile_options
from ._profile import resolve_profile
from .resources.batches import AsyncBatches, Batches
from .resources.completions import AsyncCompletions, Completions

__all__ = ["AsyncSluice", "Sluice"]

PathLike = Union[str, "os.PathLike[str]"]


class _Connection(TypedDict):
    base_url: str
    api_key: Optional[str]


class _CopiedOptions(_Connection):
    timeout: float
    max_retries: int


def _profile_connection(
    name: Optional[str], config_path: Optional[PathLike], env: Optional[Mapping[str, str]]
) -> _Connection:
    profile = resolve_profile(name, config_path=config_path, env=env)
    assert profile.base_url is not None  # resolve_profile raises when there is none
    return {"base_url": profile.base_url, "api_key": profile.api_key}


def _copy_options(options: ClientOptions, timeout: Optional[float], max_retries: Optional[int]) -> _CopiedOptions:
    return {
        "base_url": options.base_url,
        "api_key": options.api_key,
        "timeout": options.timeout if timeout is None else timeout,
        "max_retries": options.max_retries if max_retries is None else max_retries,
    }


class Sluice:
    """A client of a Sluice server's operations API.

    .. code-block:: python

        with Sluice(base_url="http://127.0.0.1:8080", api_key="...") as client:
            result = client.completions.classify(items=[{"content": "I was charged twice"}], categories=["billing", "bug"])
            batch = client.batches.submit_and_wait(operation="summarize", items=items, summary_instructions="One line.")

    ``timeout``: seconds to wait for the server at each step of a call (default 60). ``max_retries``:
    retries of a call that failed with a 429, a 5xx or a lost connection (default 2), after the delay
    the server asked for (``Retry-After``) or an exponential backoff. ``http_client``: an
    ``httpx.Client`` of your own (proxies, certificates); the client closes only one it made itself.
    """

    completions: Completions
    """Synchronous operations: ``POST /v1/operations/{operation}``."""
    batches: Batches
    """Jobs: ``/v1/jobs``."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: Optional[str] = None,
        timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        http_client: Optional[httpx.Client] = None,
    ) -> None:
        self._transport = SyncTransport(compile_options(base_url, api_key, timeout, max_retries), http_client)
        driver = SyncDriver(self._transport)
        self.completions = Completions(driver)
        self.batches = Batches(driver)

    @classmethod
    def from_profile(
        cls,
        name: Optional[str] = None,
        *,
        config_path: Optional[PathLike] = None,
        env: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        http_client: Optional[httpx.Client] = None,
    ) -> "Sluice":
        """A client for a named profile of the profiles file the CLI and the TypeScript SDK read:
        ``$SLUICE_CONFIG``, else ``$XDG_CONFIG_HOME/sluice/config.json``, else ``~/.config/sluice/config.json``,
        as ``{"profiles": {"prod": {"baseURL": "...", "apiKey": "..."}}}``. ``SLUICE_BASE_URL`` and
        ``SLUICE_API_KEY`` override its values. Without a name: ``$SLUICE_PROFILE``, else ``default``."""
        connection = _profile_connection(name, config_path, env)
        return cls(**connection, timeout=timeout, max_retries=max_retries, http_client=http_client)

    @property
    def options(self) -> ClientOptions:
        """The options in force, defaults filled in."""
        return self._transport.options

    def with_options(self, *, timeout: Optional[float] = None, max_retries: Optional[int] = None) -> "Sluice":
        """A client with other options that shares this one's connections (and closes none of them):
        ``client.with_options(timeout=300).completions.summarize(...)``."""
        return Sluice(**_copy_options(self.options, timeout, max_retries), http_client=self._transport.client)

    def close(self) -> None:
        """Closes the client's connections. ``with Sluice(...) as client:`` does it on leaving."""
        self._transport.close()

    def __enter__(self) -> "Sluice":
        return self

    def __exit__(
        self,
        kind: Optional[type[BaseException]],
        error: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Sluice(base_url={self.options.base_url!r})"


class AsyncSluice:
    """:class:`Sluice` for asyncio: the same options, resources and methods, awaited.

    .. code-block:: python

        async with AsyncSluice.from_profile("prod") as client:
            batch = await client.batches.submit_and_wait(operation="label", items=items, categories=["a", "b"])
            async for row in client.batches.iter_output(batch.id):
                print(row["result"])
    """

    completions: AsyncCompletions
    batches: AsyncBatches

    def __init__(
        self,
        base_url: str,
        *,
        api_key: Optional[str] = None,
        timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        http_client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        self._transport = AsyncTransport(compile_options(base_url, api_key, timeout, max_retries), http_client)
        driver = AsyncDriver(self._transport)
        self.completions = AsyncCompletions(driver)
        self.batches = AsyncBatches(driver)

    @classmethod
    def from_profile(
        cls,
        name: Optional[str] = None,
        *,
        config_path: Optional[PathLike] = None,
        env: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        http_client: Optional[httpx.AsyncClient] = None,
    ) -> "AsyncSluice":
        """See :meth:`Sluice.from_profile`. Reading the profile file is the only blocking step."""
        connection = _profile_connection(name, config_path, env)
        return cls(**connection, timeout=timeout, max_retries=max_retries, http_client=http_client)

    @property
    def options(self) -> ClientOptions:
        """The options in force, defaults filled in."""
        return self._transport.options

    def with_options(self, *, timeout: Optional[float] = None, max_retries: Optional[int] = None) -> "AsyncSluice":
        """See :meth:`Sluice.with_options`."""
        return AsyncSluice(**_copy_options(self.options, timeout, max_retries), http_client=self._transport.client)

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> "AsyncSluice":
        return self

    async def __aexit__(
        self,
        kind: Optional[type[BaseException]],
        error: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncSluice(base_url={self.options.base_url!r})"
