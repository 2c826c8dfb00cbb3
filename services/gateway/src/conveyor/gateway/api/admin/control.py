"""Control through the ``control`` exchange: pause/resume a job type, drain workers."""

from __future__ import annotations

from aiohttp import web

from conveyor.contracts.codecs import encode
from conveyor.contracts.control import ControlCommand, DrainWorker, PauseJobType, ResumeJobType
from conveyor.contracts.errors import ErrorResponse
from conveyor.contracts.jobs import JOB_REQUEST_TYPES
from conveyor.contracts.monitoring import ControlAccepted, WorkerStatus
from conveyor.contracts.topology import command_routing_key
from conveyor.gateway.api._routes import Route, json_response, path_param
from conveyor.gateway.api.admin._broker_errors import broker_required
from conveyor.gateway.auth import require_admin
from conveyor.gateway.errors import NotFoundError
from conveyor.gateway.state import Gateway, gateway_of
from conveyor.runtime.monitoring.pausing import paused_job_types, release_parked, set_paused
from conveyor.runtime.monitoring.workers import list_workers


async def _broadcast(gw: Gateway, command: ControlCommand) -> None:
    with broker_required(gw):
        await gw.broker.publish(
            gw.broker.topology.control,
            command_routing_key(type(command)),
            encode(command),
            persistent=False,
            mandatory=False,
        )


def _job_type(request: web.Request) -> str:
    job_type = request.match_info["job_type"]
    if job_type not in JOB_REQUEST_TYPES:
        raise NotFoundError(f"no job type {job_type!r}", field="job_type")
    return job_type


async def pause_job_type(request: web.Request) -> web.Response:
    require_admin(request)
    gw = gateway_of(request)
    job_type = _job_type(request)
    # Redis first: a worker that starts after this reads the set; running ones get the command.
    await set_paused(gw.redis, gw.store.keys, job_type, True)
    await _broadcast(gw, PauseJobType(job_type=job_type))
    paused = sorted(await paused_job_types(gw.redis, gw.store.keys))
    return json_response(
        ControlAccepted(command="pause_job_type", job_type=job_type, paused_job_types=paused),
        status=202,
    )


async def resume_job_type(request: web.Request) -> web.Response:
    require_admin(request)
    gw = gateway_of(request)
    job_type = _job_type(request)
    await set_paused(gw.redis, gw.store.keys, job_type, False)
    await _broadcast(gw, ResumeJobType(job_type=job_type))
    # Workers release what they parked too (after their in-flight parks); releasing here
    # covers a type whose workers are all gone.
    with broker_required(gw):
        await release_parked(gw.broker, job_type)
    paused = sorted(await paused_job_types(gw.redis, gw.store.keys))
    return json_response(
        ControlAccepted(command="resume_job_type", job_type=job_type, paused_job_types=paused),
        status=202,
    )


async def drain_worker(request: web.Request) -> web.Response:
    require_admin(request)
    gw = gateway_of(request)
    instance = request.match_info["instance"]
    workers = await list_workers(gw.redis, gw.store.keys)
    if not any(w.instance == instance and w.status == WorkerStatus.ALIVE for w in workers):
        raise NotFoundError(f"no live worker {instance!r}", field="instance")
    await _broadcast(gw, DrainWorker(instance=instance))
    return json_response(ControlAccepted(command="drain_worker", instance=instance), status=202)


async def drain_all_workers(request: web.Request) -> web.Response:
    require_admin(request)
    gw = gateway_of(request)
    await _broadcast(gw, DrainWorker())
    return json_response(ControlAccepted(command="drain_worker"), status=202)


_ERRORS = {401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 503: ErrorResponse}
_TYPE = path_param("job_type", "A job type, e.g. export or maintenance.cleanup_exports.")
_INSTANCE = path_param("instance", "A worker instance as listed by /api/v1/admin/workers.")

ROUTES = [
    Route(
        "POST",
        "/api/v1/admin/job-types/{job_type}/pause",
        pause_job_type,
        summary="Pause a job type: workers park its messages (they stay queued)",
        responses={202: ControlAccepted, **_ERRORS},
        parameters=(_TYPE,),
    ),
    Route(
        "POST",
        "/api/v1/admin/job-types/{job_type}/resume",
        resume_job_type,
        summary="Resume a job type: its parked messages go back to the jobs exchange",
        responses={202: ControlAccepted, **_ERRORS},
        parameters=(_TYPE,),
    ),
    Route(
        "POST",
        "/api/v1/admin/workers/{instance}/drain",
        drain_worker,
        summary="Drain one worker: it finishes its running jobs and exits",
        responses={202: ControlAccepted, **_ERRORS},
        parameters=(_INSTANCE,),
    ),
    Route(
        "POST",
        "/api/v1/admin/workers/drain",
        drain_all_workers,
        summary="Drain every worker: each finishes its running jobs and exits",
        responses={202: ControlAccepted, **_ERRORS},
    ),
]
