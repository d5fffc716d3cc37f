"""Calls to shared state (Redis, PostgreSQL): bounded in time, behind a circuit breaker, and a
rule for what to do when the store cannot answer.

The rate limiter and the budget guard keep their counters in a store every process shares. Each
call to it goes through a :class:`SharedState`, which

- bounds it (``timeout_s``, ~200 ms): blocking calls by their client's socket timeouts; an
  async call is waited for that long and then abandoned (cancelled in the background: the
  clean-up of a cancelled database call may itself wait on the dead server). Async calls run
  on a private event loop in a daemon thread (:class:`IoLoop`), so the bound measures the
  store, not how busy the caller's loop is (a loop running a hundred requests at once resumes
  an awaiting coroutine late, and a 200 ms bound measured there would mistake a busy
  application for a dead Redis);
- skips it while the :class:`~modelmuxer._breaker.CircuitBreaker` is open, so an unreachable
  store costs one timeout per ``failures`` calls and cool-down, not one per request;
- turns what went wrong into :class:`Unavailable`, which the caller hands to
  :meth:`SharedState.unavailable`: the configured rule (``open``: carry on without the store;
  ``closed``: refuse with :class:`~modelmuxer.errors.SharedStateUnavailable`) and the
  ``shared_state.unavailable`` event.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from modelmuxer._breaker import CircuitBreaker
from modelmuxer.errors import SharedStateUnavailable
from modelmuxer.events import emit

if TYPE_CHECKING:
    import pluggy

    from modelmuxer.context import RequestContext

__all__ = ["IoLoop", "OnUnavailable", "SharedState", "Unavailable", "describe"]

T = TypeVar("T")
_log = logging.getLogger("modelmuxer.shared_state")

#: What a component does while its shared store cannot be reached: ``open`` admits (and
#: counts nothing), ``closed`` refuses with :class:`~modelmuxer.errors.SharedStateUnavailable`.
OnUnavailable = Literal["open", "closed"]


def describe(exc: BaseException) -> str:
    """``TimeoutError: ...``: the error's class and the first line of its message, short (a
    SQLAlchemy error's later lines hold the statement and its parameters)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


class Unavailable(Exception):
    """The store did not answer: the call failed or timed out, or the open breaker skipped it.

    ``retry_after_s`` is when the breaker lets the next call through (0: the next one tries);
    ``skipped``: the call was not made (the breaker is open), so it changed nothing.
    """

    def __init__(self, why: str, retry_after_s: float, *, skipped: bool = False) -> None:
        self.why = why
        self.retry_after_s = retry_after_s
        self.skipped = skipped
        super().__init__(why)


class IoLoop:
    """A private event loop in a daemon thread, started at first use: where an async store's
    connections live and its calls run, whichever loop (or thread) asks."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Whether the loop runs (a call was made and :meth:`stop` was not)."""
        return self._loop is not None

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; cancelling the future cancels it."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve, args=(loop,), name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the loop and wait for its thread (a later :meth:`submit` starts another)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout_s)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        # calls abandoned on a dead server: cancelled, given a moment to clean up
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _forget(tasks: set[asyncio.Future[Any]]) -> Callable[[asyncio.Future[Any]], None]:
    def done(task: asyncio.Future[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned call's error is no news

    return done


class SharedState:
    """The bounded, breaker-guarded access of one component to its shared store.

    :param component: ``limits`` or ``budgets`` (in logs, events and errors).
    :param backend: ``redis`` or ``postgresql``.
    :param timeout_s: the longest an async call may take (blocking calls are bounded by their
        client's socket timeouts, set to the same value by whoever builds the client).
    :param errors: the exceptions that mean "the store is unreachable or failing"; others
        (a refusal such as a full counter, a bug) mean it answered, and pass through.
    :param rule: what :meth:`unavailable` does: ``open`` carries on, ``closed`` refuses.
    :param events: where ``shared_state.unavailable`` is emitted (a muxer's plugin manager).
    :param own_loop: run async calls on a private :class:`IoLoop` (the store's async clients
        then belong to it: close them with :meth:`aclose`).
    """

    def __init__(
        self,
        component: str,
        backend: str,
        *,
        timeout_s: float,
        breaker: CircuitBreaker,
        errors: tuple[type[BaseException], ...],
        rule: OnUnavailable = "open",
        events: pluggy.PluginManager | None = None,
        own_loop: bool = False,
    ) -> None:
        self.component = component
        self.backend = backend
        self.timeout_s = timeout_s
        self.breaker = breaker
        self.rule: OnUnavailable = rule
        self.events = events
        self._errors: tuple[type[BaseException], ...] = (TimeoutError, *errors)
        self._io = IoLoop(f"modelmuxer-{component}-io") if own_loop else None
        self._abandoned: set[asyncio.Future[Any]] = set()

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()``, a blocking store call.

        :raises Unavailable: it failed or timed out, or the breaker is open (``fn`` not called).
        """
        if not self.breaker.allow():
            raise self._skipped()
        try:
            result = fn()
        except self._errors as exc:
            raise self._failed(exc) from exc
        except Exception:
            self._answered()  # the store answered (with a refusal, say)
            raise
        except BaseException:
            self.breaker.abandoned()
            raise
        self._answered()
        return result

    async def acall(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``await fn()`` within ``timeout_s`` (on the private loop when there is one); ``fn``
        is only called when the breaker allows.

        :raises Unavailable: it failed or timed out, or the breaker is open.
        """
        if not self.breaker.allow():
            raise self._skipped()
        if self._io is None:
            return await self._bounded(fn)
        return await asyncio.wrap_future(self._io.submit(self._bounded(fn)))

    async def aclose(self, close: Callable[[], Awaitable[None]]) -> None:
        """Run ``close()`` (the store's) where its connections live, then stop the private
        loop."""
        if self._io is None or not self._io.started:
            await close()
            return
        try:
            await asyncio.wrap_future(self._io.submit(_awaited(close)))
        finally:
            await asyncio.to_thread(self._io.stop)

    async def _bounded(self, fn: Callable[[], Awaitable[T]]) -> T:
        # The call runs as a task of its own and is abandoned (cancelled, not awaited) when
        # late: the clean-up of a cancelled database call may itself wait on the dead server.
        task: asyncio.Future[T] = asyncio.ensure_future(fn())
        try:
            await asyncio.wait((task,), timeout=self.timeout_s)
        except BaseException:  # cancelled: no verdict on the store
            self._abandon(task)
            self.breaker.abandoned()
            raise
        if not task.done():
            self._abandon(task)
            raise self._failed(TimeoutError())
        try:
            result = task.result()
        except self._errors as exc:
            raise self._failed(exc) from exc
        except Exception:
            self._answered()
            raise
        self._answered()
        return result

    def _abandon(self, task: asyncio.Future[Any]) -> None:
        """Cancel ``task`` and let it finish in the background (kept referenced until then)."""
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(_forget(self._abandoned))

    def unavailable(
        self, exc: Unavailable, ctx: RequestContext | None = None, *, refusable: bool = True
    ) -> None:
        """Apply the rule to an operation that could not reach the store.

        Emits ``shared_state.unavailable``. With rule ``closed`` a ``refusable`` operation (an
        admission, a reservation) raises :class:`~modelmuxer.errors.SharedStateUnavailable`;
        otherwise (rule ``open``, or a settlement that cannot be refused) it returns and the
        caller carries on without the store.
        """
        if self.events is not None:
            emit(
                self.events,
                "shared_state.unavailable",
                ctx,
                component=self.component,
                rule=self.rule,
                error=exc.why,
            )
        if refusable and self.rule == "closed":
            raise SharedStateUnavailable(
                component=self.component, backend=self.backend, retry_after_s=exc.retry_after_s
            ) from None

    # -- internals --------------------------------------------------------------------------

    def _skipped(self) -> Unavailable:
        return Unavailable("circuit breaker open", self.breaker.retry_in(), skipped=True)

    def _failed(self, exc: BaseException) -> Unavailable:
        why = f"no answer in {self.timeout_s:g} s" if type(exc) is TimeoutError else describe(exc)
        if self.breaker.failed():
            doing = "admitting without it" if self.rule == "open" else "refusing requests"
            _log.warning(
                "%s: %s unreachable (%s); %s (on_unavailable=%r) and retrying in %g s",
                self.component,
                self.backend,
                why,
                doing,
                self.rule,
                self.breaker.cooldown_s,
            )
        return Unavailable(why, self.breaker.retry_in())

    def _answered(self) -> None:
        if self.breaker.succeeded():
            _log.warning("%s: %s reachable again", self.component, self.backend)


async def _awaited(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()
