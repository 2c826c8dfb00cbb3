"""``conveyor token``: mint a bearer JWT for the gateway, signed with its configured secret."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from conveyor.runtime.settings import GatewaySettings, SettingsError, load_settings
from conveyor.runtime.tokens import ADMIN_ROLE, DEFAULT_TTL_SECONDS, OPERATOR_ROLE, mint_token


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "token",
        help="print a bearer token for the gateway",
        description=(
            "Print a bearer JWT signed with CONVEYOR_JWT_SECRET (the gateway's secret), "
            'for use as "Authorization: Bearer <token>".'
        ),
    )
    parser.add_argument("--user", required=True, metavar="NAME", help="the token's subject")
    parser.add_argument(
        "--admin", action="store_true", help=f"add the {ADMIN_ROLE!r} role (sees every job)"
    )
    parser.add_argument(
        "--operator",
        action="store_true",
        help=f"add the read-only {OPERATOR_ROLE!r} role (reads the admin views)",
    )
    parser.add_argument(
        "--role",
        action="append",
        default=[],
        dest="roles",
        metavar="R",
        help="add a role (repeatable)",
    )
    parser.add_argument(
        "--ttl",
        type=_positive_int,
        metavar="SECONDS",
        default=DEFAULT_TTL_SECONDS,
        help="lifetime of the token (default: %(default)s)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(GatewaySettings)
    except SettingsError as exc:
        print(f"conveyor token: {exc}", file=sys.stderr)
        return 2
    roles = [*args.roles, *([ADMIN_ROLE] if args.admin else [])]
    roles += [OPERATOR_ROLE] if args.operator else []
    try:
        token = mint_token(settings.jwt_secret, args.user, roles=roles, ttl_seconds=args.ttl)
    except ValueError as exc:
        print(f"conveyor token: --user: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0
