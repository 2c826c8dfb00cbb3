"""Typed settings read from the environment (``CONVEYOR_*``); a bad value fails with a sentence.

Services build their settings with ``load_settings(SomeSettings)``: the process environment is
read here and nowhere else; tests pass their own mapping. Field ``foo_bar`` is read from
``CONVEYOR_FOO_BAR``.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

ENV_PREFIX = "CONVEYOR_"
_NAMESPACE_RE = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_HOST_PORT_RE = r"^[^\s:,]+:[0-9]{1,5}$"


class SettingsError(ValueError):
    """A setting is missing or has a value that cannot be used."""

    def __init__(
        self, variable: str, value: str | None, problem: str, *, shown: str | None = None
    ) -> None:
        self.variable = variable
        self.value = value
        self.problem = problem
        # ``shown`` describes a value that must not be printed (a secret).
        shown = shown or ("is not set" if value is None else f"is {value!r}")
        super().__init__(f"{variable} {shown}, but {problem}.")


def default_instance() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


DEVELOPMENT_JWT_SECRET = "conveyor-dev-secret-change-me-in-prod"
MIN_PRODUCTION_SECRET_BYTES = 32


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """Settings every Conveyor process shares."""

    env: Literal["production", "development"] = "production"
    """``production``: the gateway refuses a weak JWT secret; ``development`` allows it."""
    namespace: Annotated[str, msgspec.Meta(pattern=_NAMESPACE_RE)] = "conveyor"
    """Prefix of every exchange, queue and Redis key; separate deployments or test runs."""
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    """RabbitMQ connection URL; for a cluster, its nodes' URLs comma-separated (tried in turn on
    connect, the next one after a node is lost)."""
    queue_type: Literal["classic", "quorum"] = "classic"
    """Type of every durable queue: ``quorum`` for a RabbitMQ cluster (replicated; a queue
    per priority lane, see docs/operations.md before switching a deployment)."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis connection URL (with Sentinel: its password, database and TLS only)."""
    redis_sentinels: list[Annotated[str, msgspec.Meta(pattern=_HOST_PORT_RE)]] = []
    """Redis Sentinels as comma-separated ``host:port``; set, the master is the one they name."""
    redis_master_name: Annotated[str, msgspec.Meta(min_length=1)] = "mymaster"
    """With Sentinel: the name of the monitored master."""
    redis_sentinel_password: str = ""
    """With Sentinel: the Sentinels' own password (``requirepass`` in sentinel.conf), if any."""
    redis_wait_replicas: Annotated[int, msgspec.Meta(ge=0, le=16)] = 0
    """Replicas that must acknowledge (Redis ``WAIT``) a job's record at submit and its final
    outcome; a final outcome they did not acknowledge is recorded again before its message is
    acked. Every other job event waits too, and one they did not acknowledge is not announced
    (readers find it in the history). 0: no waiting."""
    redis_wait_timeout_ms: Annotated[int, msgspec.Meta(ge=1, le=60_000)] = 500
    """Milliseconds ``WAIT`` waits for those replicas before the write counts as unreplicated."""
    instance: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = msgspec.field(
        default_factory=default_instance
    )
    """This process's name in heartbeats, logs and per-instance queues."""
    data_dir: Path = Path("./var")
    """Awards dataset, exports and other files."""
    job_retention_days: Annotated[float, msgspec.Meta(gt=0)] = 7.0
    """Days a job record and its event history are kept."""
    event_history_max: Annotated[int, msgspec.Meta(ge=10)] = 1000
    """Events kept per job for WebSocket resume (progress events included)."""
    owner_history_max: Annotated[int, msgspec.Meta(ge=100)] = 10_000
    """Events kept per owner for resuming an "all my jobs" subscription."""
    publish_timeout: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    """Seconds to wait for a broker confirm before a publish counts as failed."""
    log_level: str = "INFO"
    """Log level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``."""
    log_format: str = "auto"
    """``json``, ``text`` or ``auto`` (JSON unless stderr is a terminal)."""
    metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    """Workers: serve Prometheus metrics on this port (0: off)."""
    transport: Literal["fast", "plain"] = "fast"
    """``fast``: the library bypasses in ``runtime/transport/`` and the services' boundary
    modules; ``plain``: only the libraries' public APIs (docs/architecture.md, Boundaries)."""

    @property
    def retention_seconds(self) -> int:
        return int(self.job_retention_days * 86400)


class WorkerSettings(Settings, kw_only=True, frozen=True):
    """Settings of a process that consumes jobs."""

    concurrency: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 4
    """Jobs run at once by this process; also its AMQP prefetch unless ``prefetch`` says."""
    prefetch: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 0
    """Deliveries this process holds at once (0: its concurrency; quorum mode: twice it, per
    lane). More than the concurrency keeps the next jobs at hand (more short jobs per second)
    but a busy worker then holds jobs an idle one could run: keep 0 for long jobs."""
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    """Default attempts per job when the envelope does not say."""
    retry_base_delay: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    """Seconds before the 2nd attempt; doubles per attempt up to ``retry_max_delay``."""
    retry_max_delay: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    """Longest delay in seconds between two attempts of a job."""
    max_crashes: Annotated[int, msgspec.Meta(ge=1)] = 3
    """A job whose worker died during this many deliveries is dead-lettered."""
    soft_time_limit: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    """Default seconds after which a job's handler is cancelled (per-type overrides)."""
    hard_time_limit: Annotated[float, msgspec.Meta(gt=0)] = 3660.0
    """Seconds after which a job is failed even if its handler ignores cancellation."""
    shutdown_grace: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    """On SIGTERM: seconds running jobs get to finish before they are requeued."""
    heartbeat_interval: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    """Seconds between two heartbeats of a worker."""
    progress_interval: Annotated[float, msgspec.Meta(ge=0)] = 0.25
    """Minimum seconds between two progress events of a job (later ones coalesce)."""
    event_fold_window: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.05
    """Seconds a job's first event may wait for the job's next ones, to be published with
    them as one folded message (a job done within it: one event message, not three); a final
    event never waits. At most ``progress_interval`` is used (the delay already accepted for
    progress); 0 publishes every event alone. See services/gateway/WEBSOCKET.md."""
    owner_concurrency: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0
    """Interactive jobs of one owner this process runs at once (0: its concurrency less one,
    at least 1); the owner's further jobs are set aside so other owners' jobs get a slot."""
    fair_share_delay: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    """Seconds a job set aside by ``owner_concurrency`` waits before it is offered again."""
    publisher_owners: list[str] = msgspec.field(default_factory=lambda: ["guest=*"])
    """Owners each broker user may publish jobs for, comma-separated ``user=owner|owner`` or
    ``user=*`` entries; a job whose ``user_id`` (validated by RabbitMQ) may not submit for its
    owner is dead-lettered. See SECURITY.md."""

    @property
    def fold_window(self) -> float:
        """The event fold window in effect: ``event_fold_window``, at most ``progress_interval``."""
        return min(self.event_fold_window, self.progress_interval)


class GatewaySettings(Settings, kw_only=True, frozen=True):
    """Settings of the HTTP/WebSocket gateway."""

    http_host: str = "127.0.0.1"
    """Address the gateway listens on (``0.0.0.0`` in a container)."""
    http_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    """Port the gateway listens on."""
    jwt_secret: Annotated[str, msgspec.Meta(min_length=8)] = DEVELOPMENT_JWT_SECRET
    """HS256 secret for bearer tokens; outside development at least 32 bytes and not the default."""
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 1_048_576
    """Largest HTTP request body the gateway accepts."""
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    """Attempts given to jobs submitted over HTTP."""
    retry_after_seconds: Annotated[int, msgspec.Meta(ge=1)] = 5
    """``Retry-After`` sent with a 503 when the broker cannot take a job."""
    ws_send_queue: Annotated[int, msgspec.Meta(ge=16)] = 1000
    """WebSocket: events buffered per connection before a slow client is disconnected."""
    allowed_origins: list[str] = []
    """WebSocket: allowed ``Origin`` values besides the gateway's own (empty: same origin)."""
    test_hooks: bool = False
    """Accept fault-injecting job fields (diagnostics' crashes, failures, long sleeps)."""
    submit_rate: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """Jobs a user may submit per second, on average (admins: no limit)."""
    submit_burst: Annotated[int, msgspec.Meta(ge=1)] = 50
    """Jobs a user may submit at once before ``submit_rate`` applies."""
    max_jobs_in_flight: Annotated[int, msgspec.Meta(ge=1)] = 100
    """Jobs of one user queued, running or retrying at once (admins: no limit)."""
    interactive_in_flight: Annotated[int, msgspec.Meta(ge=1)] = 4
    """A user's interactive jobs beyond this many in flight queue at bulk priority, behind
    other users' interactive jobs (fair share; their records still say interactive)."""
    max_websockets: Annotated[int, msgspec.Meta(ge=1)] = 20
    """WebSocket connections one user may hold open at once (admins: no limit)."""


def check_jwt_secret(settings: GatewaySettings) -> None:
    """Outside development the gateway needs a secret of its own: ``SettingsError`` if not."""
    if settings.env == "development":
        return
    variable = env_name("jwt_secret")
    problem = (
        f"outside development ({env_name('env')}=development) the gateway needs a secret of "
        f"its own of at least {MIN_PRODUCTION_SECRET_BYTES} bytes"
    )
    if settings.jwt_secret == DEVELOPMENT_JWT_SECRET:
        raise SettingsError(variable, None, problem, shown="is the development default")
    size = len(settings.jwt_secret.encode())
    if size < MIN_PRODUCTION_SECRET_BYTES:
        raise SettingsError(variable, None, problem, shown=f"is only {size} bytes long")


S = TypeVar("S", bound=Settings)


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _parse(raw: str, annotation: Any) -> Any:
    # Lists come as comma-separated values; everything else as msgspec's str->type conversion.
    if getattr(annotation, "__origin__", None) is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def load_settings(cls: type[S], environ: Mapping[str, str] | None = None, **overrides: Any) -> S:
    """Build ``cls`` from ``CONVEYOR_*`` variables in ``environ`` plus explicit ``overrides``.

    Raises ``SettingsError`` naming the first variable whose value cannot be used.
    """
    environ = os.environ if environ is None else environ
    hints = msgspec.structs.fields(cls)
    values: dict[str, Any] = {}
    for field in hints:
        raw = environ.get(env_name(field.name))
        if raw is None or field.name in overrides:
            continue
        annotation = field.type
        try:
            values[field.name] = getattr(
                msgspec.convert(
                    {field.name: _parse(raw, annotation)}, cls, strict=False, dec_hook=_decode
                ),
                field.name,
            )
        except msgspec.ValidationError as exc:
            raise SettingsError(env_name(field.name), raw, _explain(exc)) from None
    values.update(overrides)
    try:
        return msgspec.convert(values, cls, strict=False, dec_hook=_decode)
    except msgspec.ValidationError as exc:
        name = _field_of(exc) or "?"
        raise SettingsError(env_name(name), str(values.get(name)), _explain(exc)) from None


def _decode(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str | Path):
        return Path(value)
    raise NotImplementedError(f"cannot read a {kind.__name__} setting")


def _field_of(exc: msgspec.ValidationError) -> str | None:
    match = re.search(r"at `\$\.(\w+)", str(exc))
    return match.group(1) if match else None


def _explain(exc: msgspec.ValidationError) -> str:
    text = re.sub(r" - at `\$[^`]*`", "", str(exc))
    return text[0].lower() + text[1:] if text else "it is invalid"
