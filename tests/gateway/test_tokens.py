"""Bearer tokens (conveyor.runtime.tokens): what the gateway accepts and what it refuses."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest

from conveyor.contracts.jobs import RESERVED_OWNERS
from conveyor.runtime.tokens import InvalidTokenError, Principal, mint_token, verify_token

SECRET = "a-secret-of-at-least-thirty-two-bytes"


def test_a_minted_token_verifies_to_its_user_and_roles() -> None:
    principal = verify_token(SECRET, mint_token(SECRET, "ana", roles=["admin", "ops"]))
    assert principal == Principal(user="ana", roles=frozenset({"admin", "ops"}))
    assert principal.is_admin


def test_a_token_without_the_admin_role_is_not_an_admin() -> None:
    principal = verify_token(SECRET, mint_token(SECRET, "ben", roles=["ops"]))
    assert not principal.is_admin
    assert principal.can_see("ben")
    assert not principal.can_see("ana")


def test_a_token_carries_sub_roles_iat_and_exp() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    token = mint_token(SECRET, "ana", ttl_seconds=60, now=now)
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims == {"sub": "ana", "roles": [], "iat": 1893456000, "exp": 1893456060}


def test_an_expired_token_is_refused() -> None:
    with pytest.raises(InvalidTokenError, match="expired"):
        verify_token(SECRET, mint_token(SECRET, "ana", ttl_seconds=-1))


def test_a_token_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, mint_token("another-secret-of-thirty-two-bytes!", "ana"))


def test_an_unsigned_token_is_refused() -> None:
    unsigned = jwt.encode({"sub": "ana", "iat": 0, "exp": 2**40}, None, algorithm="none")
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, unsigned)


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": [], "iat": 0, "exp": 2**40},
        {"sub": "", "iat": 0, "exp": 2**40},
        {"sub": "ana", "roles": "admin", "iat": 0, "exp": 2**40},
        {"sub": "ana", "iat": 0},
    ],
    ids=["no-sub", "empty-sub", "roles-not-a-list", "no-exp"],
)
def test_a_token_with_bad_claims_is_refused(claims: dict[str, object]) -> None:
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, jwt.encode(claims, SECRET, algorithm="HS256"))


def test_garbage_is_refused_with_our_error_type() -> None:
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, "not.a.token")


@pytest.mark.parametrize("subject", sorted(RESERVED_OWNERS))
def test_a_token_for_a_reserved_owner_is_neither_minted_nor_accepted(subject: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        mint_token(SECRET, subject)
    forged = jwt.encode({"sub": subject, "iat": 0, "exp": 2**40}, SECRET, algorithm="HS256")
    with pytest.raises(InvalidTokenError, match="reserved"):
        verify_token(SECRET, forged)


def test_a_verified_principal_knows_when_its_token_expires() -> None:
    now = dt.datetime.now(dt.UTC)
    principal = verify_token(SECRET, mint_token(SECRET, "ana", ttl_seconds=60, now=now))
    assert principal.expires_at == int(now.timestamp()) + 60
