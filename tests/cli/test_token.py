"""``conveyor token`` prints a JWT that the gateway's secret verifies."""

from __future__ import annotations

import jwt
import pytest

from conveyor.runtime.tokens import ALGORITHM, verify_token
from tests.cli._run import clean_environ, conveyor

SECRET = "a-test-secret-long-enough-for-hs256-keys"


def test_a_token_verifies_with_the_configured_secret_and_names_user_and_roles() -> None:
    env = clean_environ(CONVEYOR_JWT_SECRET=SECRET)
    result = conveyor("token", "--user", "alice", "--admin", "--role", "ops", env=env)

    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    principal = verify_token(SECRET, token)
    assert principal.user == "alice"
    assert principal.roles == {"admin", "ops"}
    claims = jwt.decode(token, SECRET, algorithms=[ALGORITHM])
    assert claims["sub"] == "alice"
    assert sorted(claims["roles"]) == ["admin", "ops"]


def test_a_token_without_roles_is_a_plain_user_with_the_requested_lifetime() -> None:
    env = clean_environ(CONVEYOR_JWT_SECRET=SECRET)
    result = conveyor("token", "--user", "bob", "--ttl", "90", env=env)

    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=[ALGORITHM])
    assert claims["sub"] == "bob"
    assert claims["roles"] == []
    assert claims["exp"] - claims["iat"] == 90


def test_a_token_signed_with_another_secret_does_not_verify() -> None:
    result = conveyor("token", "--user", "carol", env=clean_environ(CONVEYOR_JWT_SECRET=SECRET))

    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(result.stdout.strip(), SECRET + "-other", algorithms=[ALGORITHM])


def test_a_bad_secret_setting_fails_with_a_sentence_naming_the_variable() -> None:
    result = conveyor("token", "--user", "dave", env=clean_environ(CONVEYOR_JWT_SECRET="short"))

    assert result.returncode == 2
    assert "CONVEYOR_JWT_SECRET" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("user", ["scheduler", "system"])
def test_a_reserved_owner_name_is_refused_as_the_user(user: str) -> None:
    result = conveyor("token", "--user", user, env=clean_environ(CONVEYOR_JWT_SECRET=SECRET))

    assert result.returncode == 2
    assert "--user" in result.stderr and "reserved" in result.stderr
    assert result.stdout == ""
