"""The table that maps job types to handlers, with each type's limits."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from conveyor.contracts.jobs import JobRequest, JobResult
from conveyor.runtime.worker.context import JobContext

R = TypeVar("R", bound=JobRequest)

HandlerFunc = Callable[..., Awaitable[JobResult | None]]
"""``async def handle(request: SomeRequest, *, job: JobContext, **deps) -> SomeResult``."""


@dataclass(frozen=True, slots=True)
class Handler(Generic[R]):
    """How to run one job type."""

    job_type: str
    func: HandlerFunc
    soft_time_limit: float | None = None
    """Seconds before the handler is cancelled; ``None`` uses the worker default."""
    hard_time_limit: float | None = None
    """Seconds before the job is failed even if the handler ignores cancellation."""
    retry: bool = True
    """Whether unexpected exceptions are retried (``RetryJob`` always is)."""


class HandlerTable:
    """Job type -> handler, plus dependencies passed to handlers as keyword arguments.

    A handler receives exactly the dependencies its signature names as keyword-only
    parameters (besides ``job``), so adding a dependency never breaks another handler.
    """

    def __init__(self, dependencies: dict[str, Any] | None = None) -> None:
        self._handlers: dict[str, Handler[Any]] = {}
        self._wants: dict[str, tuple[str, ...]] = {}
        self.dependencies: dict[str, Any] = dict(dependencies or {})

    def add(self, handler: Handler[Any]) -> None:
        if handler.job_type in self._handlers:
            raise ValueError(f"job type {handler.job_type!r} already has a handler")
        params = inspect.signature(handler.func).parameters.values()
        wants = tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "job")
        missing = [name for name in wants if name not in self.dependencies]
        if missing:
            raise ValueError(f"handler for {handler.job_type!r} needs missing {missing}")
        self._handlers[handler.job_type] = handler
        self._wants[handler.job_type] = wants

    def get(self, job_type: str) -> Handler[Any] | None:
        return self._handlers.get(job_type)

    def __iter__(self) -> Iterator[Handler[Any]]:
        return iter(self._handlers.values())

    @property
    def job_types(self) -> list[str]:
        return sorted(self._handlers)

    async def call(self, handler: Handler[Any], request: JobRequest, job: JobContext) -> Any:
        deps = {name: self.dependencies[name] for name in self._wants[handler.job_type]}
        return await handler.func(request, job=job, **deps)
