"""The scheduler: every instance competes for the leader lock; the leader runs APScheduler.

Redis holds the schedules; the leader loads them into an ``AsyncIOScheduler`` when it takes
over and re-syncs on every ``ReloadSchedules`` control message and every
``scheduler_sync_interval``. A new leader starts each schedule at its first fire time not yet
claimed (``first_fire_time``), so firings missed while no leader ran are caught up or skipped
by the schedule's misfire policy (coalesce, grace time) rather than silently lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.exceptions import RedisError

from conveyor.contracts.codecs import control_decoder, encode
from conveyor.contracts.control import ControlCommand, ReloadSchedules
from conveyor.contracts.schedules import Schedule
from conveyor.contracts.topology import command_routing_key
from conveyor.maintenance.apscheduler_bridge import JOBSTORE, FiringExecutor
from conveyor.maintenance.default_schedules import default_schedules
from conveyor.maintenance.firing import Fired, ScheduleFirer
from conveyor.maintenance.leadership import LeaderLock
from conveyor.maintenance.settings import MaintenanceSettings
from conveyor.runtime.resources import Resources
from conveyor.runtime.schedule_store import ScheduleStore
from conveyor.runtime.schedule_triggers import build_trigger, first_fire_time
from conveyor.runtime.store_epoch import StoreEpoch
from conveyor.runtime.subscriptions import Broadcast, Exchange, Subscriber, Subscription

log = logging.getLogger(__name__)

MAX_CONCURRENT_FIRINGS = 16
"""Per schedule: a slow publish must not make APScheduler skip the next fire time."""

RELOADS = Broadcast(
    name="scheduler",
    exchange=Exchange.CONTROL,
    bindings=(command_routing_key(ReloadSchedules),),
    decode=control_decoder.decode,
)
"""``ReloadSchedules`` commands, heard by every scheduler instance."""


class Scheduler:
    """Leader election plus, while leading, the APScheduler instance firing the schedules."""

    def __init__(self, resources: Resources, settings: MaintenanceSettings) -> None:
        self._resources = resources
        self._settings = settings
        self.store = ScheduleStore(resources.redis, resources.keys)
        self.lock = LeaderLock(
            resources.redis,
            resources.keys,
            instance=settings.instance,
            ttl=settings.scheduler_lock_ttl,
        )
        self._firer = ScheduleFirer(
            redis=resources.redis,
            keys=resources.keys,
            lifecycle=resources.lifecycle,
            job_store=resources.store,
            schedules=self.store,
            lock=self.lock,
            claim_ttl=max(settings.retention_seconds, 2 * 86_400),
        )
        self._epoch = StoreEpoch(resources.redis, resources.keys)
        self._apscheduler: AsyncIOScheduler | None = None
        self._loaded: dict[str, bytes] = {}
        self._reload = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reloads: Subscription | None = None
        self.on_fired: Callable[[Schedule, dt.datetime, Fired], None] | None = None
        """Test hook: called after every firing attempt."""

    @property
    def is_leader(self) -> bool:
        return self._apscheduler is not None

    async def start(self) -> None:
        await self._epoch.check()
        await self._seed()
        await self._listen_for_reloads()
        self._task = asyncio.create_task(self._lead_when_possible(), name="scheduler")

    async def _seed(self) -> None:
        seeded = await self.store.seed(default_schedules(self._settings.schedule_timezone))
        if seeded:
            log.info("seeded %d default schedules", seeded)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        self._end_term()
        with contextlib.suppress(RedisError):
            await self.lock.release()
        if self._reloads is not None:
            with contextlib.suppress(Exception):
                await self._reloads.cancel()

    # -- leadership ----------------------------------------------------------------------------

    async def _lead_when_possible(self) -> None:
        interval = self._settings.scheduler_renew_interval
        loop = asyncio.get_running_loop()
        next_sync = 0.0
        while True:
            reload_requested = self._reload.is_set()
            self._reload.clear()
            try:
                if self.lock.held:
                    if not await self.lock.renew():
                        self._end_term()
                elif await self.lock.try_acquire():
                    log.info("leading the scheduler (lock %s)", self.lock.value)
                    self._begin_term()
                    next_sync = 0.0
                if self.is_leader and (reload_requested or loop.time() >= next_sync):
                    await self._sync()
                    next_sync = loop.time() + self._settings.scheduler_sync_interval
            except RedisError as exc:
                # The fence protects firings meanwhile: a claim needs the lock to name us.
                log.warning("scheduler cannot reach Redis: %s", exc)
            except Exception:
                log.exception("scheduler step failed; retrying")
            # Not asyncio.wait_for: on Python 3.11 it drops a cancellation that arrives as a
            # reload is requested (gh-86296), and ``stop`` would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._reload.wait()

    def _begin_term(self) -> None:
        scheduler = AsyncIOScheduler(
            executors={"default": FiringExecutor()},
            timezone=dt.UTC,
        )
        scheduler.start()
        self._apscheduler = scheduler
        self._loaded = {}

    def _end_term(self) -> None:
        if self._apscheduler is not None:
            self._apscheduler.shutdown(wait=False)
            self._apscheduler = None
            self._loaded = {}
            log.info("no longer leading the scheduler")

    # -- schedules -----------------------------------------------------------------------------

    async def _sync(self) -> None:
        """Make the APScheduler jobs match the definitions in Redis."""
        scheduler = self._apscheduler
        assert scheduler is not None
        if await self._epoch.check():
            # Redis came back empty: the schedules went with it. The defaults come back;
            # schedules added through the API are lost (RELIABILITY.md).
            log.error("Redis lost its data: seeding the default schedules again")
            await self._seed()
        schedules = {s.name: s for s in await self.store.all()}
        wanted = {name: s for name, s in schedules.items() if not s.paused}
        for name in list(self._loaded):
            if name not in wanted or self._loaded[name] != encode(wanted[name]):
                scheduler.remove_job(name)
                del self._loaded[name]
        await self._firer.recover_pending(schedules)
        states = await self.store.run_states(list(wanted))
        for name, schedule in wanted.items():
            if name in self._loaded:
                continue
            try:
                trigger = build_trigger(schedule.trigger, schedule.timezone)
            except ValueError as exc:
                log.error("schedule %s has an unusable trigger, not loaded: %s", name, exc)
                continue
            fired = states[name].fired_up_to
            first = first_fire_time(
                schedule,
                trigger,
                fired_up_to=None if fired is None else dt.datetime.fromtimestamp(fired, dt.UTC),
            )
            scheduler.add_job(
                self._fire,
                trigger=trigger,
                args=[schedule],
                id=name,
                name=name,
                next_run_time=first,
                coalesce=schedule.coalesce,
                misfire_grace_time=schedule.misfire_grace_seconds,
                max_instances=MAX_CONCURRENT_FIRINGS,
                jobstore=JOBSTORE,
            )
            self._loaded[name] = encode(schedule)
            log.info("schedule %s loaded; first fire time %s", name, first)

    async def _fire(self, schedule: Schedule, *, fire_time: dt.datetime | None = None) -> Fired:
        # Optional only for APScheduler's signature check: ``FiringExecutor`` always passes it.
        assert fire_time is not None
        outcome = await self._firer.fire(schedule, fire_time)
        if self.on_fired is not None:
            self.on_fired(schedule, fire_time, outcome)
        return outcome

    # -- control -------------------------------------------------------------------------------

    async def _listen_for_reloads(self) -> None:
        subscriber = Subscriber(
            self._resources.broker,
            instance=self._settings.instance,
            metrics=self._resources.metrics,
        )
        self._reloads = await subscriber.subscribe(RELOADS, self._on_control)

    async def _on_control(self, command: ControlCommand) -> None:
        if isinstance(command, ReloadSchedules):
            self._reload.set()
