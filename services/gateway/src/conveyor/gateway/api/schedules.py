"""Schedules admin API: list, pause, resume, reschedule and run now (``/api/v1/admin/schedules``).

Definitions live in Redis; every change is written there and then broadcast as
``ReloadSchedules`` on the control exchange, so the leading scheduler re-syncs at once
(and within ``scheduler_sync_interval`` should the broadcast be lost).
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable

import msgspec
from aiohttp import web

from conveyor.contracts.codecs import encode
from conveyor.contracts.control import ReloadSchedules
from conveyor.contracts.errors import ErrorCode, ErrorResponse
from conveyor.contracts.jobs import SCHEDULER_OWNER, JobEnvelope, Priority, utcnow
from conveyor.contracts.schedules import (
    Schedule,
    ScheduleList,
    ScheduleRun,
    ScheduleRunAccepted,
    ScheduleTrigger,
    ScheduleView,
    TriggerChange,
)
from conveyor.contracts.topology import command_routing_key
from conveyor.gateway.api._routes import Route, json_response, path_param
from conveyor.gateway.api.bodies import decode_body
from conveyor.gateway.api.submit import read_json_body
from conveyor.gateway.auth import require_admin, require_observer
from conveyor.gateway.errors import (
    NotFoundError,
    ServiceUnavailableError,
    ValidationFailedError,
)
from conveyor.gateway.state import Gateway, gateway_of
from conveyor.runtime.broker import BrokerUnavailableError
from conveyor.runtime.schedule_store import RunState, ScheduleStore
from conveyor.runtime.schedule_triggers import build_trigger, next_fire_time

log = logging.getLogger(__name__)

BASE = "/api/v1/admin/schedules"


def _store(gw: Gateway) -> ScheduleStore:
    return ScheduleStore(gw.redis, gw.store.keys)


async def _view(gw: Gateway, schedule: Schedule, state: RunState) -> ScheduleView:
    fired = state.fired_up_to
    last = state.last
    outcome = None
    if last is not None and last.error is not None:
        outcome = "not_queued"
    elif last is not None:
        record = await gw.store.get(last.job_id)
        outcome = record.state.value if record is not None else "expired"
    return ScheduleView(
        name=schedule.name,
        job_type=schedule.job_type,
        trigger=schedule.trigger.kind,
        cron=schedule.trigger.cron,
        interval_seconds=schedule.trigger.interval_seconds,
        timezone=schedule.timezone,
        paused=schedule.paused,
        coalesce=schedule.coalesce,
        misfire_grace_seconds=schedule.misfire_grace_seconds,
        next_run=next_fire_time(
            schedule,
            fired_up_to=None if fired is None else dt.datetime.fromtimestamp(fired, dt.UTC),
            now=utcnow(),
        ),
        last_run=last.at if last else None,
        last_job_id=last.job_id if last else None,
        last_outcome=outcome,
    )


async def _schedule(gw: Gateway, name: str) -> Schedule:
    schedule = await _store(gw).get(name)
    if schedule is None:
        raise NotFoundError(f"no schedule {name!r}")
    return schedule


async def _answer(gw: Gateway, schedule: Schedule) -> web.Response:
    states = await _store(gw).run_states([schedule.name])
    return json_response(await _view(gw, schedule, states[schedule.name]))


async def _update_and_notify(
    gw: Gateway, name: str, change: Callable[[Schedule], Schedule]
) -> Schedule:
    schedule = await _store(gw).update(name, change)
    if schedule is None:
        raise NotFoundError(f"no schedule {name!r}")
    try:
        await gw.broker.publish(
            gw.broker.topology.control,
            command_routing_key(ReloadSchedules),
            encode(ReloadSchedules()),
            persistent=False,
            mandatory=False,
        )
    except BrokerUnavailableError as exc:
        # Saved in Redis all the same: the leader picks it up at its next periodic sync.
        log.warning("schedule %s changed; reload not broadcast: %s", schedule.name, exc)
    return schedule


async def list_schedules(request: web.Request) -> web.Response:
    require_observer(request)
    gw = gateway_of(request)
    schedules = await _store(gw).all()
    states = await _store(gw).run_states([s.name for s in schedules])
    views = [await _view(gw, s, states[s.name]) for s in schedules]
    return json_response(ScheduleList(schedules=views))


async def get_schedule(request: web.Request) -> web.Response:
    require_observer(request)
    gw = gateway_of(request)
    return await _answer(gw, await _schedule(gw, request.match_info["name"]))


async def _set_paused(request: web.Request, paused: bool) -> web.Response:
    require_admin(request)
    gw = gateway_of(request)
    schedule = await _schedule(gw, request.match_info["name"])
    if schedule.paused != paused:

        def set_paused(current: Schedule) -> Schedule:
            if current.paused == paused:
                return current
            return msgspec.structs.replace(current, paused=paused, changed_at=utcnow())

        schedule = await _update_and_notify(gw, schedule.name, set_paused)
    return await _answer(gw, schedule)


async def pause_schedule(request: web.Request) -> web.Response:
    return await _set_paused(request, True)


async def resume_schedule(request: web.Request) -> web.Response:
    return await _set_paused(request, False)


def parse_trigger_change(body: bytes, current_timezone: str) -> tuple[ScheduleTrigger, str]:
    """The new trigger and timezone; ``ValidationFailedError`` naming the field at fault."""
    change = decode_body(body, TriggerChange)
    if (change.cron is None) == (change.interval_seconds is None):
        raise ValidationFailedError(
            "give exactly one of `cron` and `interval_seconds`",
            field="cron" if change.cron is not None else "interval_seconds",
        )
    timezone = change.timezone or current_timezone
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationFailedError(
            f"{timezone!r} is not an IANA timezone (e.g. 'Asia/Manila')", field="timezone"
        ) from None
    trigger = ScheduleTrigger(cron=change.cron, interval_seconds=change.interval_seconds)
    try:
        build_trigger(trigger, timezone)
    except ValueError as exc:
        raise ValidationFailedError(
            f"not a 5-field crontab expression ('minute hour day month weekday'): {exc}",
            field="cron",
        ) from None
    return trigger, timezone


async def reschedule(request: web.Request) -> web.Response:
    require_admin(request)
    gw = gateway_of(request)
    schedule = await _schedule(gw, request.match_info["name"])
    body = await read_json_body(request, gw.settings.max_body_bytes)
    trigger, timezone = parse_trigger_change(body, schedule.timezone)
    schedule = await _update_and_notify(
        gw,
        schedule.name,
        lambda current: msgspec.structs.replace(
            current, trigger=trigger, timezone=timezone, changed_at=utcnow()
        ),
    )
    return await _answer(gw, schedule)


async def run_now(request: web.Request) -> web.Response:
    """Queue the schedule's job at once (paused or not); its trigger is unaffected."""
    require_admin(request)
    gw = gateway_of(request)
    schedule = await _schedule(gw, request.match_info["name"])
    envelope = JobEnvelope(
        request=schedule.request,
        owner=SCHEDULER_OWNER,
        priority=Priority.SCHEDULED,
        max_attempts=schedule.max_attempts,
    )
    try:
        await gw.lifecycle.submit(envelope)
    except BrokerUnavailableError:
        raise ServiceUnavailableError(
            "the message broker cannot take jobs right now",
            code=ErrorCode.BROKER_UNAVAILABLE,
            retry_after=gw.settings.retry_after_seconds,
        ) from None
    await _store(gw).record_run(
        schedule.name, ScheduleRun(job_id=envelope.job_id, at=utcnow(), manual=True)
    )
    return json_response(
        ScheduleRunAccepted(schedule=schedule.name, job_id=envelope.job_id),
        status=202,
        headers={"Location": f"/api/v1/jobs/{envelope.job_id}"},
    )


_NAME = path_param("name", "The schedule's name, e.g. `cleanup-exports`.")
_READ_ERRORS = {status: ErrorResponse for status in (401, 403, 404)}
_WRITE_ERRORS = {status: ErrorResponse for status in (400, 401, 403, 404, 415)}

ROUTES = [
    Route(
        "GET",
        BASE,
        list_schedules,
        summary="List schedules with next run, last run and last outcome (admin or operator)",
        responses={200: ScheduleList, 401: ErrorResponse, 403: ErrorResponse},
    ),
    Route(
        "GET",
        BASE + "/{name}",
        get_schedule,
        summary="Get one schedule (admin or operator)",
        responses={200: ScheduleView, **_READ_ERRORS},
        parameters=(_NAME,),
    ),
    Route(
        "POST",
        BASE + "/{name}/pause",
        pause_schedule,
        summary="Pause a schedule: it fires no more until resumed (admin)",
        responses={200: ScheduleView, **_READ_ERRORS},
        parameters=(_NAME,),
    ),
    Route(
        "POST",
        BASE + "/{name}/resume",
        resume_schedule,
        summary="Resume a schedule; firings missed while paused are not caught up (admin)",
        responses={200: ScheduleView, **_READ_ERRORS},
        parameters=(_NAME,),
    ),
    Route(
        "PUT",
        BASE + "/{name}/trigger",
        reschedule,
        summary='Reschedule: {"cron": "0 2 * * *"} or {"interval_seconds": 900} (admin)',
        responses={200: ScheduleView, **_WRITE_ERRORS},
        parameters=(_NAME,),
        request_body=TriggerChange,
    ),
    Route(
        "POST",
        BASE + "/{name}/run",
        run_now,
        summary="Run the schedule's job now; answers 202 with the job id (admin)",
        responses={202: ScheduleRunAccepted, **_READ_ERRORS, 503: ErrorResponse},
        parameters=(_NAME,),
    ),
]
