"""Outside development the gateway refuses the development JWT secret and short secrets."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conveyor.runtime.settings import (
    DEVELOPMENT_JWT_SECRET,
    GatewaySettings,
    SettingsError,
    check_jwt_secret,
    load_settings,
)
from tests.cli._run import clean_environ, conveyor

GOOD = "a-production-secret-of-at-least-32-bytes"


@pytest.mark.parametrize(
    ("environ", "shown"),
    [
        ({}, "is the development default"),
        ({"CONVEYOR_ENV": "production"}, "is the development default"),
        ({"CONVEYOR_JWT_SECRET": "only-twenty-bytes-xx"}, "is only 20 bytes long"),
    ],
)
def test_production_refuses_the_development_or_a_short_secret_with_a_sentence(
    environ: dict[str, str], shown: str
) -> None:
    settings = load_settings(GatewaySettings, environ)
    with pytest.raises(SettingsError) as caught:
        check_jwt_secret(settings)
    message = str(caught.value)
    assert message.startswith(f"CONVEYOR_JWT_SECRET {shown}, but outside development")
    assert "CONVEYOR_ENV=development" in message and "32 bytes" in message
    assert environ.get("CONVEYOR_JWT_SECRET", DEVELOPMENT_JWT_SECRET) not in message


@pytest.mark.parametrize(
    "environ",
    [
        {"CONVEYOR_JWT_SECRET": GOOD},
        {"CONVEYOR_ENV": "development"},
        {"CONVEYOR_ENV": "development", "CONVEYOR_JWT_SECRET": "short-but-ok"},
    ],
)
def test_a_secret_of_its_own_or_development_mode_passes(environ: dict[str, str]) -> None:
    check_jwt_secret(load_settings(GatewaySettings, environ))


def test_an_unknown_environment_is_a_settings_error_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="CONVEYOR_ENV"):
        load_settings(GatewaySettings, {"CONVEYOR_ENV": "staging"})


def test_the_gateway_process_refuses_to_start_with_the_development_secret() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "conveyor.gateway"],
        env=clean_environ(CONVEYOR_HTTP_PORT="0"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "CONVEYOR_JWT_SECRET is the development default" in result.stderr
    assert "listening" not in result.stdout


def test_conveyor_settings_check_reports_the_development_secret_outside_development() -> None:
    refused = conveyor("settings", "--check", env=clean_environ())
    assert refused.returncode == 1
    assert "CONVEYOR_JWT_SECRET is the development default" in refused.stderr
    accepted = conveyor("settings", "--check", env=clean_environ(CONVEYOR_JWT_SECRET=GOOD))
    assert accepted.returncode == 0, accepted.stderr
