"""What every executor offers, and the machinery they share.

An executor runs (problem, code) samples and returns :class:`ExecResult`. Callers are both
synchronous (notebooks, scripts: ``run``, ``run_batch``) and asynchronous (an RL loop:
``arun``, ``arun_batch``, ``aiter_results``). :class:`AsyncService` gives an executor its own
asyncio loop on a background thread, so the same object works inside Jupyter (which already
runs a loop) and from plain code, and bounds how many samples of a batch are in flight
(backpressure: a lazy iterator of samples is consumed only as fast as results come back).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from criticlab.data.types import Problem
from criticlab.sandbox.options import JudgeOptions
from criticlab.sandbox.types import ExecResult

ResultCallback = Callable[[int, ExecResult], None]


@dataclass
class Sample:
    """One unit of work for a batch: the problem and the code to run against its tests."""

    problem: Problem
    code: str | None
    key: Any = None


def as_sample(item: Any) -> Sample:
    """Accept a :class:`Sample`, a ``(problem, code)`` pair, or anything with those attributes."""
    if isinstance(item, Sample):
        return item
    if isinstance(item, tuple) and len(item) == 2:
        return Sample(item[0], item[1])
    problem, code = getattr(item, "problem", None), getattr(item, "code", None)
    if isinstance(problem, Problem):
        return Sample(problem, code)
    raise TypeError(f"a batch item must be a Sample or a (problem, code) pair, got {type(item).__name__}")


@runtime_checkable
class Executor(Protocol):
    """The interface stages program against (LocalExecutor, SandboxFusionExecutor)."""

    def run(
        self, problem: Problem, code: str | None, *, stop_on_first_failure: bool | None = None
    ) -> ExecResult: ...

    def run_batch(self, samples: Iterable[Any], **kwargs: Any) -> list[ExecResult]: ...

    async def arun(
        self, problem: Problem, code: str | None, *, stop_on_first_failure: bool | None = None
    ) -> ExecResult: ...

    async def arun_batch(self, samples: Iterable[Any], **kwargs: Any) -> list[ExecResult]: ...

    def close(self) -> None: ...


def _option(name: str) -> property:
    """An executor attribute that is a field of its ``options`` record (setting it replaces the record)."""

    def read(self: AsyncService) -> Any:
        return getattr(self.options, name)

    def write(self: AsyncService, value: Any) -> None:
        self.options = dataclasses.replace(self.options, **{name: value})

    return property(
        read, write, doc=f"``options.{name}`` (see :class:`~criticlab.sandbox.options.JudgeOptions`)."
    )


class AsyncService:
    """A background event loop plus the sync/async/batch API on top of ``_run_sample``.

    Subclasses implement ``async _run_sample(sample, stop_first) -> ExecResult`` and may
    override ``async _astart()`` / ``async _aclose()``. They judge by ``options`` (one
    :class:`~criticlab.sandbox.options.JudgeOptions` record); its fields read (and set, which
    replaces the record) as attributes of the executor too: ``executor.time_limit``, ...
    """

    options: JudgeOptions = JudgeOptions()
    time_limit = _option("time_limit")
    time_scale = _option("time_scale")
    sample_timeout = _option("sample_timeout")
    compare = _option("compare")
    float_tol = _option("float_tol")
    stop_on_first_failure = _option("stop_on_first_failure")
    checkers = _option("checkers")
    max_pending: int = 8

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._service_lock = threading.Lock()
        self._closed = False
        self._startup: concurrent.futures.Future | None = None

    # -- to implement ------------------------------------------------------------------------

    async def _run_sample(self, sample: Sample, stop_first: bool) -> ExecResult:
        raise NotImplementedError

    async def _astart(self) -> None:
        return None

    async def _aclose(self) -> None:
        return None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> AsyncService:
        """Start the loop thread and the backend, once; concurrent callers wait for the same start."""
        with self._service_lock:
            if self._closed:
                raise RuntimeError(f"this {type(self).__name__} is closed")
            if self._startup is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_run_loop, args=(loop,), name=f"criticlab-{type(self).__name__}", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
                self._startup = asyncio.run_coroutine_threadsafe(self._astart(), loop)
            startup = self._startup
        try:
            startup.result()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Release workers/connections and stop the loop thread. Idempotent."""
        with self._service_lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._aclose(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> AsyncService:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _submit(self, coro: Any) -> concurrent.futures.Future:
        try:
            self.start()
        except BaseException:
            coro.close()
            raise
        if self._closed:
            coro.close()
            raise RuntimeError(f"this {type(self).__name__} is closed")
        assert self._loop is not None
        if _running_loop() is self._loop:
            coro.close()
            raise RuntimeError("call the executor from another thread or loop, not from its own loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    # -- public API --------------------------------------------------------------------------

    def _stop(self, override: bool | None) -> bool:
        return self.options.stop_on_first_failure if override is None else bool(override)

    def run(
        self, problem: Problem, code: str | None, *, stop_on_first_failure: bool | None = None
    ) -> ExecResult:
        """Run ``code`` against ``problem``'s tests and return the verdict (blocking)."""
        return self._submit(self._guarded(Sample(problem, code), self._stop(stop_on_first_failure))).result()

    async def arun(
        self, problem: Problem, code: str | None, *, stop_on_first_failure: bool | None = None
    ) -> ExecResult:
        """Async :meth:`run`, usable from any other event loop (a notebook's, an RL loop's)."""
        future = self._submit(self._guarded(Sample(problem, code), self._stop(stop_on_first_failure)))
        return await asyncio.wrap_future(future)

    def run_batch(
        self,
        samples: Iterable[Any],
        *,
        stop_on_first_failure: bool | None = None,
        progress: bool = False,
        on_result: ResultCallback | None = None,
    ) -> list[ExecResult]:
        """Run many samples concurrently; results come back in input order.

        ``samples`` holds :class:`Sample` objects or ``(problem, code)`` pairs and may be a lazy
        iterator: at most ``max_pending`` samples are planned and in flight at any time. A bad
        item becomes a ``SandboxError`` result; it never fails the batch.
        """
        bar = _progress_bar(samples, progress)
        callback = _chain(on_result, bar)
        try:
            return self._submit(self._batch(samples, self._stop(stop_on_first_failure), callback)).result()
        finally:
            if bar is not None:
                bar.close()

    async def arun_batch(
        self,
        samples: Iterable[Any],
        *,
        stop_on_first_failure: bool | None = None,
        on_result: ResultCallback | None = None,
    ) -> list[ExecResult]:
        """Async :meth:`run_batch`."""
        future = self._submit(self._batch(samples, self._stop(stop_on_first_failure), on_result))
        return await asyncio.wrap_future(future)

    async def aiter_results(
        self, samples: Iterable[Any], *, stop_on_first_failure: bool | None = None
    ) -> AsyncIterator[tuple[int, ExecResult]]:
        """Yield ``(index, result)`` in completion order, with the same backpressure as a batch."""
        queue: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def put(index: int, result: ExecResult) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (index, result))

        batch = asyncio.wrap_future(
            self._submit(self._batch(samples, self._stop(stop_on_first_failure), put))
        )
        delivered = 0
        while True:
            getter = asyncio.ensure_future(queue.get())
            finished, _ = await asyncio.wait({getter, batch}, return_when=asyncio.FIRST_COMPLETED)
            if getter in finished:
                delivered += 1
                yield getter.result()
                continue
            getter.cancel()
            total = len(batch.result())
            while delivered < total:
                yield await queue.get()
                delivered += 1
            return

    async def _guarded(self, sample: Sample, stop_first: bool) -> ExecResult:
        try:
            return await self._run_sample(sample, stop_first)
        except Exception as err:  # an executor bug must come back as an infrastructure error
            return ExecResult.sandbox_error(
                f"executor error: {type(err).__name__}: {err}", problem_id=getattr(sample.problem, "id", "")
            )

    async def _batch(
        self, samples: Iterable[Any], stop_first: bool, on_result: ResultCallback | None
    ) -> list[ExecResult]:
        results: dict[int, ExecResult] = {}
        pending: set[asyncio.Future] = set()

        async def one(index: int, item: Any) -> None:
            try:
                sample = as_sample(item)
            except TypeError as err:
                result = ExecResult.sandbox_error(f"bad batch item {index}: {err}")
            else:
                result = await self._guarded(sample, stop_first)
            results[index] = result
            if on_result is not None:
                with contextlib.suppress(Exception):
                    on_result(index, result)

        count = 0
        for index, item in enumerate(samples):
            while len(pending) >= max(1, self.max_pending):
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.add(asyncio.ensure_future(one(index, item)))
            count += 1
        if pending:
            await asyncio.wait(pending)
        return [results[i] for i in range(count)]


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        with contextlib.suppress(Exception):
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _progress_bar(samples: Iterable[Any], enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    total = len(samples) if hasattr(samples, "__len__") else None
    return tqdm(total=total, desc="sandbox", unit="sample")


def _chain(callback: ResultCallback | None, bar: Any) -> ResultCallback | None:
    if bar is None:
        return callback

    def both(index: int, result: ExecResult) -> None:
        bar.update(1)
        if callback is not None:
            callback(index, result)

    return both
