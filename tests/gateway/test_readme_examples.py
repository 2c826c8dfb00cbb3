"""The README's curl examples, run as curl would send them against a gateway on the real
RabbitMQ and Redis: each one gets the answer the README promises (never a 415)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.gateway.helpers import new_user, token

Client = TestClient[Any, Any]
README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
BASES = ("http://127.0.0.1:8080", "$URL")


def curl_commands(text: str) -> list[list[str]]:
    """Each ``curl`` command of the README's code blocks as curl's arguments (continuation
    lines joined, quotes spanning lines kept, cut at a pipe or a comment)."""
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", text, flags=re.DOTALL)
    commands = []
    for block in blocks:
        lines = block.replace("\\\n", " ").splitlines()
        i = 0
        while i < len(lines):
            if "curl " not in lines[i]:
                i += 1
                continue
            source = lines[i][lines[i].index("curl ") :]
            while True:
                try:
                    tokens = shlex.split(source, comments=True)
                    break
                except ValueError:  # a quote that closes on a later line
                    i += 1
                    source += "\n" + lines[i]
            commands.append(tokens[: tokens.index("|")] if "|" in tokens else tokens)
            i += 1
    return commands


def _request(args: list[str], values: dict[str, str]) -> tuple[str, str, dict[str, str], str]:
    method, url, headers, data = "GET", "", {}, None
    words = iter(args[1:])
    for word in words:
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            data = next(words)
            method = "POST" if method == "GET" else method
        elif not word.startswith("-"):
            url = word
    for name, value in values.items():
        url, data = url.replace(name, value), None if data is None else data.replace(name, value)
        headers = {k: v.replace(name, value) for k, v in headers.items()}
    for base in BASES:
        url = url.removeprefix(base)
    if data is not None:
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")  # as curl -d
    return method, url, headers, data or ""


def test_the_readme_has_the_curl_examples_this_module_runs() -> None:
    paths = [next(w for w in c if w.startswith(BASES)) for c in curl_commands(README)]
    assert any(path.endswith("/api/v1/jobs/aggregates") for path in paths)
    assert any(path.endswith("/api/v1/jobs/search") for path in paths)
    assert any("/events?after_seq=" in path for path in paths)


async def test_every_curl_example_gets_the_answer_the_readme_promises(client: Client) -> None:
    values = {"$TOKEN": token(new_user())}
    answered = []
    for args in curl_commands(README):
        method, url, headers, data = _request(args, values)
        response = await client.request(method, url, headers=headers, data=data.encode())
        body = await response.json()
        answered.append((method, url, response.status))
        if method == "POST":
            assert response.status == 202, (url, body)
            # Later examples read the job the first one submitted.
            values.setdefault("$JOB_ID", body["job_id"])
            values.setdefault("$JOB", body["job_id"])
        elif url.endswith("/result"):
            assert response.status == 409, (url, body)  # "409 until done": nothing runs it here
        else:
            assert response.status == 200, (url, body)
    assert len(answered) >= 6, answered
