"""How the engine waits: adaptive poll intervals, and retries of transient failures."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from batchflow.engine.events import Event, EventSink
from batchflow.errors import TIMED_OUT, UNREACHABLE, TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class PollPolicy:
    """Start polling at ``initial`` seconds; while nothing changes, stretch the interval by
    ``factor`` up to ``maximum``; back to ``initial`` as soon as something moves."""

    initial: float
    maximum: float
    factor: float = 1.5

    def next(self, current: float, changed: bool) -> float:
        """The interval after a poll that saw (or did not see) a change."""
        return self.initial if changed else min(self.maximum, current * self.factor)


class Pause(Protocol):
    """How the watch loop pauses between polls: ``interval`` seconds, or less where the pause
    can wait on the service itself (the local target: until ``need`` more tasks completed)."""

    def __call__(self, interval: float, need: int = 1) -> None: ...


def pause(interval: float, need: int = 1) -> None:
    """A remote service's pause: the interval (``need`` is for pauses that can wait on it)."""
    del need
    time.sleep(interval)


UNREACHABLE_ATTEMPTS = 2  # the adapter retried the connection already; a wrong endpoint
# must fail in seconds (a network outage long enough to get here fails the run, which resumes)
LOCAL_POLL = PollPolicy(initial=0.05, maximum=0.5)
AZURE_POLL = PollPolicy(initial=1.0, maximum=10.0)


SLOW_CALL_S = 2.0  # a first call to a service slower than this gets a word on what it waits for


@contextlib.contextmanager
def say_if_slow(sink: EventSink, event: Event, after: float = SLOW_CALL_S) -> Iterator[None]:
    """Run the body; should it take longer than ``after`` seconds, tell ``sink`` what it
    waits for, once (from a timer thread): a dead endpoint is not a silent minute."""
    timer = threading.Timer(after, sink, args=(event,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def wait_gone(
    read: Callable[[], object | None], poll: PollPolicy, timeout_s: float, what: str
) -> None:
    """Poll ``read()`` until it returns None (a resource finished deleting)."""
    from batchflow.errors import Conflict

    deadline = time.monotonic() + timeout_s
    interval = poll.initial
    while retry_transient(read) is not None:
        if time.monotonic() > deadline:
            raise Conflict(
                f"{what} is still being deleted after {timeout_s:.0f}s; run again later",
                code="BeingDeleted",
            )
        time.sleep(interval)
        interval = poll.next(interval, changed=False)


def retry_transient(fn: Callable[[], T], *, attempts: int = 6, delay: float = 0.2) -> T:
    """``fn()``, called again after a ``TransientError`` (the SDK's own retries having been
    spent, e.g. on a dropped connection during a POST), with a growing pause."""
    for attempt in range(attempts):
        try:
            return fn()
        except TransientError as exc:
            limit = attempts
            if exc.code == UNREACHABLE:
                limit = min(attempts, UNREACHABLE_ATTEMPTS)
            elif exc.code == TIMED_OUT:
                limit = 1  # the adapter waited twice already; a third wait is no news
            if attempt >= limit - 1:
                raise
            time.sleep(delay * (2**attempt))
    raise AssertionError("unreachable")  # the loop returns or raises
