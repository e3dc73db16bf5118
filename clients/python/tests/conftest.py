"""The real Sluice server for the tests: ``sluice serve --simulate``, embedded (no Kafka), on port 0.

Every test talks to it over HTTP, sync and async alike: the ``client`` fixture is parametrized
over both clients, the async one driven from a plain test through :class:`AsyncBridge`.
"""

import asyncio
import inspect
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Awaitable, Coroutine, Iterator
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import pytest

from sluice import AsyncBatches, AsyncCompletions, AsyncSluice, Sluice

ROOT = Path(__file__).resolve().parents[3]
CLI = ROOT / "packages" / "cli" / "dist" / "bin.js"
API_KEY = "sk-python-sdk-test"
T = TypeVar("T")


class SluiceServer:
    """``node packages/cli/dist/bin.js serve --simulate`` in a process of its own, stopped with SIGTERM."""

    def __init__(self, env: dict[str, str], label: str) -> None:
        if not CLI.exists():
            pytest.fail(f"{CLI} is missing: build the TypeScript packages first (pnpm build)", pytrace=False)
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"sluice-python-{label}-"))
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ""),
            "HOST": "127.0.0.1",
            "PORT": "0",
            "SLUICE_DATA_DIR": str(self.data_dir),
            "SLUICE_API_KEYS": f"{API_KEY}=python-tests",
            "LOG_LEVEL": "info",
            **env,
        }
        self.process = subprocess.Popen(
            ["node", str(CLI), "serve", "--simulate"],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        ready = threading.Event()
        self.url = ""

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))
                if not ready.is_set() and '"sluice is running"' in line:
                    self.url = json.loads(line)["url"]
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(90) or not self.url:
            self.stop()
            last = "\n".join(self.lines[-15:])
            pytest.fail(f"sluice serve did not start; its last lines:\n{last}", pytrace=False)

    def check_alive(self) -> None:
        """Fails the test with the server's last lines when it has died, rather than with a refused connection."""
        if self.process.poll() is not None:
            last = "\n".join(self.lines[-30:])
            pytest.fail(f"sluice serve exited with {self.process.returncode}; its last lines:\n{last}", pytrace=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server() -> Iterator[SluiceServer]:
    running = SluiceServer({"SLUICE_MAX_SYNC_ITEMS": "20"}, "embedded")
    yield running
    running.check_alive()
    running.stop()


class EventLoopThread:
    """One asyncio loop on a thread of its own, for the whole session: tests hand it coroutines."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapper() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result()

    def iterate(self, iterator: Any) -> Iterator[Any]:
        try:
            while True:
                try:
                    yield self.run(iterator.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            close: Optional[Callable[[], Coroutine[Any, Any, None]]] = getattr(iterator, "aclose", None)
            if close is not None:
                self.run(close())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[EventLoopThread]:
    running = EventLoopThread()
    yield running
    running.stop()


class AsyncBridge:
    """An :class:`AsyncSluice` (or one of its resources) called like the sync client: coroutines are
    awaited on the loop thread, async iterators iterated one item at a time. What runs is the async
    client's own code; only the test's side is synchronous."""

    def __init__(self, target: Any, loop: EventLoopThread) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if isinstance(value, (AsyncBatches, AsyncCompletions)):
            return AsyncBridge(value, self._loop)
        if callable(value):

            def call(*args: Any, **kwargs: Any) -> Any:
                result = value(*args, **kwargs)
                if inspect.isawaitable(result):
                    return self._loop.run(result)
                if hasattr(result, "__anext__"):
                    return self._loop.iterate(result)
                return result

            return call
        return value

    def __enter__(self) -> "AsyncBridge":
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.run(self._target.close())


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest, server: SluiceServer, loop_thread: EventLoopThread) -> Iterator[Any]:
    """The sync client, then the async one through :class:`AsyncBridge`: every test runs on both."""
    server.check_alive()
    if request.param == "sync":
        with Sluice(server.url, api_key=API_KEY) as sync_client:
            yield sync_client
    else:
        with AsyncBridge(AsyncSluice(server.url, api_key=API_KEY), loop_thread) as async_client:
            yield async_client
