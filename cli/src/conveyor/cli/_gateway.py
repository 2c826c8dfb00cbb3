"""Talking to the gateway from the CLI: URL and token from options or the environment,
JSON over HTTP, and errors that say what went wrong."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp

URL_ENV = "CONVEYOR_GATEWAY_URL"
TOKEN_ENV = "CONVEYOR_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8080"


class GatewayRequestError(Exception):
    """The gateway answered with an error body (or not at all)."""

    def __init__(self, status: int | None, message: str, field: str | None = None) -> None:
        where = f" (field {field})" if field else ""
        prefix = f"HTTP {status}: " if status else ""
        super().__init__(f"{prefix}{message}{where}")
        self.status = status
        self.message = message
        self.field = field


class CliUsageError(Exception):
    """Bad options or configuration: exit code 2."""


def add_gateway_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gateway",
        metavar="URL",
        help=f"the gateway's base URL (default: ${URL_ENV} or {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token", metavar="JWT", help=f"bearer token (default: ${TOKEN_ENV}; see conveyor token)"
    )
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")


class GatewayClient:
    """One aiohttp session against one gateway, authenticated with one bearer token."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None
    ) -> GatewayClient:
        env = os.environ if environ is None else environ
        url = args.gateway or env.get(URL_ENV) or DEFAULT_URL
        token = args.token or env.get(TOKEN_ENV)
        if not token:
            raise CliUsageError(
                f"no token: pass --token or set {TOKEN_ENV} (e.g. "
                f"export {TOKEN_ENV}=$(conveyor token --user me --admin))"
            )
        if not url.startswith(("http://", "https://")):
            raise CliUsageError(f"the gateway URL must start with http:// or https://: {url!r}")
        return cls(url, token)

    async def close(self) -> None:
        await self._session.close()

    def ws_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http") + "/ws"

    def ws_connect(self) -> Any:
        return self._session.ws_connect(self.ws_url(), heartbeat=20.0)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON answer; ``GatewayRequestError`` for any error status."""
        url = self.base_url + path
        try:
            async with self._session.request(
                method, url, json=body, params=params, headers=headers
            ) as response:
                text = await response.text()
                if response.status >= 400:
                    raise _error_from(response.status, text)
                return json.loads(text) if text else None
        except aiohttp.ClientConnectionError as exc:
            raise GatewayRequestError(None, f"cannot reach the gateway at {url}: {exc}") from exc
        except TimeoutError as exc:
            raise GatewayRequestError(None, f"the gateway at {url} did not answer in time") from exc

    @contextlib.asynccontextmanager
    async def stream(self, path: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """A successful GET response whose body is still to be read (files of any size: no
        total time limit, only one per read)."""
        url = self.base_url + path
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
        try:
            async with self._session.get(url, timeout=timeout) as response:
                if response.status >= 400:
                    raise _error_from(response.status, await response.text())
                yield response
        except aiohttp.ClientConnectionError as exc:
            raise GatewayRequestError(None, f"cannot reach the gateway at {url}: {exc}") from exc
        except aiohttp.ClientPayloadError as exc:
            raise GatewayRequestError(None, f"the answer from {url} broke off: {exc}") from exc
        except TimeoutError as exc:
            raise GatewayRequestError(None, f"the gateway at {url} stopped answering") from exc


def _error_from(status: int, text: str) -> GatewayRequestError:
    try:
        error = json.loads(text)["error"]
        return GatewayRequestError(status, error["message"], error.get("field"))
    except (ValueError, KeyError, TypeError):
        return GatewayRequestError(status, text.strip()[:200] or "no details")


Command = Callable[[GatewayClient, argparse.Namespace], Awaitable[int]]


def run_command(command: Command, args: argparse.Namespace, *, prog: str) -> int:
    """Run an async command with a gateway client; errors become one line and an exit code."""

    async def main() -> int:
        client = GatewayClient.from_args(args)
        try:
            return await command(client, args)
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    except CliUsageError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except GatewayRequestError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")
