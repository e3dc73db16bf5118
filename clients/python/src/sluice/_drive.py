"""One implementation of every method, for the sync and the async client alike.

A method of the SDK is written once, as a *plan*: a generator that yields what it needs done
(:class:`Call` an endpoint, :class:`Sleep`, :class:`Download` a body into a writer, :class:`Emit` a
value to the caller) and receives the results. :class:`SyncDriver` carries a plan out with blocking
calls, :class:`AsyncDriver` with awaited ones; an error is thrown back into the plan at the
``yield`` where it happened, so its ``with`` blocks clean up (a download removes its partial file).
The descriptors at the bottom turn a plan function into a method of ``Sluice``'s resources
(``sync_method``, ``sync_iterator``) or of ``AsyncSluice``'s (``async_method``, ``async_iterator``),
with the plan's own signature and docstring.
This is the sans-I/O pattern of h11 and httpcore; it keeps the two clients from drifting apart.
"""

import asyncio
import functools
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Generator, Iterator
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Generic,
    TypeVar,
    Union,
    overload,
)

from ._http import AsyncTransport, RequestSpec, SyncTransport
from ._models import _Model

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:  # pragma: no cover - Python 3.9
    from typing_extensions import ParamSpec

M = TypeVar("M", bound=_Model)
R = TypeVar("R")
T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class Call(Generic[M]):
    """Call an endpoint whose 2xx answer is JSON; the plan receives it parsed as ``model``."""

    spec: RequestSpec
    model: type[M]


@dataclass(frozen=True)
class Text:
    """Call an endpoint; the plan receives the answer's body as text."""

    spec: RequestSpec


@dataclass(frozen=True)
class Download:
    """Stream an answer's body into ``write``, chunk by chunk, never whole in memory."""

    spec: RequestSpec
    write: Callable[[bytes], object]


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Emit(Generic[T]):
    """Hand a value to the caller of an iterating method (``iter_output``); the plan resumes on the next one."""

    value: T


Effect = Union[Call[Any], Text, Download, Sleep]
Plan = Generator[Effect, Any, R]
"""A method that returns an ``R``."""
Stream = Generator[Union[Effect, Emit[T]], Any, None]
"""A method that hands out ``T`` values one at a time."""


def call(spec: RequestSpec, model: type[M]) -> Plan[M]:
    """A plan step: ``job = yield from call(spec, Job)``."""
    result: M = yield Call(spec, model)
    return result


def text(spec: RequestSpec) -> Plan[str]:
    result: str = yield Text(spec)
    return result


class SyncDriver:
    def __init__(self, transport: SyncTransport) -> None:
        self.transport = transport

    def perform(self, effect: Effect) -> Any:
        if isinstance(effect, Call):
            return self.transport.json(effect.spec, effect.model)
        if isinstance(effect, Text):
            return self.transport.request(effect.spec).text
        if isinstance(effect, Download):
            response = self.transport.request(effect.spec).response
            try:
                with self.transport.no_answer(effect.spec):
                    for chunk in response.iter_bytes():
                        effect.write(chunk)
            finally:
                response.close()
            return None
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
            return None
        raise TypeError(f"a plan yielded {effect!r}")  # a bug in a plan, never the caller's doing

    def bind(self, function: Callable[..., Any], iterates: bool) -> Callable[..., Any]:
        """``function``'s plan carried out by this driver, as a method."""

        def method(*args: Any, **kwargs: Any) -> Any:
            return (self.iterate if iterates else self.run)(function(*args, **kwargs))

        return method

    def run(self, plan: Plan[R]) -> R:
        try:
            effect = next(plan)
            while True:
                try:
                    result = self.perform(effect)
                except BaseException as error:  # the plan's `with` blocks must see every failure
                    effect = plan.throw(error)
                else:
                    effect = plan.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def iterate(self, stream: Stream[T]) -> Iterator[T]:
        try:
            step = next(stream)
            while True:
                if isinstance(step, Emit):
                    yield step.value
                    step = stream.send(None)
                    continue
                try:
                    result = self.perform(step)
                except BaseException as error:
                    step = stream.throw(error)
                else:
                    step = stream.send(result)
        except StopIteration:
            return
        finally:
            stream.close()  # also when the caller stops iterating early


class AsyncDriver:
    def __init__(self, transport: AsyncTransport) -> None:
        self.transport = transport

    async def perform(self, effect: Effect) -> Any:
        if isinstance(effect, Call):
            return await self.transport.json(effect.spec, effect.model)
        if isinstance(effect, Text):
            return (await self.transport.request(effect.spec)).text
        if isinstance(effect, Download):
            response = (await self.transport.request(effect.spec)).response
            try:
                with self.transport.no_answer(effect.spec):
                    async for chunk in response.aiter_bytes():
                        effect.write(chunk)
            finally:
                await response.aclose()
            return None
        if isinstance(effect, Sleep):
            await asyncio.sleep(effect.seconds)
            return None
        raise TypeError(f"a plan yielded {effect!r}")

    def bind(self, function: Callable[..., Any], iterates: bool) -> Callable[..., Any]:
        """``function``'s plan carried out by this driver: an async iterator, or a coroutine method."""
        if iterates:
            return lambda *args, **kwargs: self.iterate(function(*args, **kwargs))

        async def method(*args: Any, **kwargs: Any) -> Any:
            return await self.run(function(*args, **kwargs))

        return method

    async def run(self, plan: Plan[R]) -> R:
        try:
            effect = next(plan)
            while True:
                try:
                    result = await self.perform(effect)
                except BaseException as error:
                    effect = plan.throw(error)
                else:
                    effect = plan.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def iterate(self, stream: Stream[T]) -> AsyncIterator[T]:
        try:
            step = next(stream)
            while True:
                if isinstance(step, Emit):
                    yield step.value
                    step = stream.send(None)
                    continue
                try:
                    result = await self.perform(step)
                except BaseException as error:
                    step = stream.throw(error)
                else:
                    step = stream.send(result)
        except StopIteration:
            return
        finally:
            stream.close()  # also when the caller stops iterating early


F = TypeVar("F", bound=Callable[..., Any])
B = TypeVar("B", bound="Bound[Any]")


class Bound(Generic[F]):
    """A plan function on a resource class, bound to the resource's driver when looked up on an
    instance (``client.batches.retrieve``). Made by the four typed factories below, which say what
    the bound method returns."""

    def __init__(self, function: Callable[..., Any], iterates: bool) -> None:
        self.function = function
        self.iterates = iterates
        self.__doc__ = function.__doc__
        self.__wrapped__ = function  # for inspect.signature and help()

    @overload
    def __get__(self: B, resource: None, owner: object = None) -> B: ...

    @overload
    def __get__(self, resource: object, owner: object = None) -> F: ...

    def __get__(self, resource: Any, owner: object = None) -> Any:
        if resource is None:
            return self
        driver: Union[SyncDriver, AsyncDriver] = resource._driver
        method = driver.bind(self.function, self.iterates)
        functools.update_wrapper(method, self.function)
        return method


def sync_method(plan: Callable[P, Plan[R]]) -> Bound[Callable[P, R]]:
    """A plan as a method of a sync resource: ``client.batches.retrieve(id) -> Job``."""
    return Bound(plan, iterates=False)


def async_method(plan: Callable[P, Plan[R]]) -> Bound[Callable[P, Awaitable[R]]]:
    """A plan as a coroutine method of an async resource: ``await client.batches.retrieve(id)``."""
    return Bound(plan, iterates=False)


def sync_iterator(stream: Callable[P, Stream[T]]) -> Bound[Callable[P, Iterator[T]]]:
    """A stream as a method that returns an iterator: ``for row in client.batches.iter_output(id)``."""
    return Bound(stream, iterates=True)


def async_iterator(stream: Callable[P, Stream[T]]) -> Bound[Callable[P, AsyncIterator[T]]]:
    """A stream as a method that returns an async iterator: ``async for row in client.batches.iter_output(id)``."""
    return Bound(stream, iterates=True)
