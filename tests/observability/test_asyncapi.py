"""The AsyncAPI document: generated from the contracts, served by the gateway, and enough on
its own for a non-Python AMQP client (pika, not aio-pika) to submit a job that runs."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jsonschema
import pika
import pytest
from redis.asyncio import Redis

from conveyor.contracts.asyncapi import build_asyncapi, public_server_url
from conveyor.contracts.events import JOB_EVENT_KINDS
from conveyor.contracts.jobs import JOB_REQUEST_TYPES
from conveyor.contracts.topology import Topology
from conveyor.runtime.tokens import mint_token
from tests.cli._run import clean_environ, conveyor
from tests.gateway.helpers import SECRET
from tests.observability.asyncapi_parser import official_diagnostics
from tests.observability.processes import stop
from tests.support.jobs import MAINTENANCE
from tests.support.namespace import AMQP_URL
from tests.support.services import running_worker, start_gateway


def test_the_document_names_every_job_type_event_and_exchange() -> None:
    doc = build_asyncapi(Topology("acme"))
    assert doc["asyncapi"] == "2.6.0"
    channels = doc["channels"]
    for job_type in JOB_REQUEST_TYPES:
        channel = channels[f"job.{job_type}"]
        assert channel["bindings"]["amqp"]["exchange"]["name"] == "acme.jobs"
        assert channel["publish"]["bindings"]["amqp"]["deliveryMode"] == 2
    events = channels["job.{owner}.{kind}.{job_type}"]
    assert events["bindings"]["amqp"]["exchange"]["name"] == "acme.events"
    # Every event kind, and the folded message that carries several events of one job.
    refs = [m["$ref"].split("/")[-1] for m in events["subscribe"]["message"]["oneOf"]]
    assert len(refs) == len(JOB_EVENT_KINDS) + 1 and refs[-1] == "FoldedJobEvents"
    assert channels["control.cancel_job"]["bindings"]["amqp"]["exchange"]["name"] == "acme.control"
    assert {"dataset.updated", "system.health"} <= set(channels)
    # Every reference resolves inside the document.
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        node: Any = doc
        for key in ref.removeprefix("#/").split("/"):
            node = node[key]


def test_the_document_is_valid_asyncapi_2_6() -> None:
    spec = json.loads((Path(__file__).parent / "data/asyncapi-2.6.0.schema.json").read_text())
    document = json.loads(json.dumps(build_asyncapi(Topology("conveyor"))))
    errors = [
        f"{list(error.absolute_path)}: {error.message[:200]}"
        for error in jsonschema.Draft7Validator(spec).iter_errors(document)
    ]
    assert errors == []


@pytest.fixture(scope="module")
async def stack(module_namespace: str, redis: Redis) -> AsyncIterator[str]:
    gateway, url = await start_gateway(module_namespace, CONVEYOR_JWT_SECRET=SECRET)
    try:
        async with running_worker(MAINTENANCE, module_namespace, redis):
            yield url
    finally:
        await stop(gateway)


async def test_the_gateway_serves_the_document_of_its_namespace_without_a_token(
    stack: str, module_namespace: str
) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{stack}/api/v1/asyncapi.json") as r:
        assert r.status == 200
        doc = await r.json()
    served = doc["channels"]["job.export"]["bindings"]["amqp"]["exchange"]["name"]
    assert served == f"{module_namespace}.jobs"
    assert "guest" not in doc["servers"]["rabbitmq"]["url"]  # no credentials leak
    async with aiohttp.ClientSession() as http, http.get(f"{stack}/api/v1/openapi.json") as r:
        assert "/api/v1/asyncapi.json" in (await r.json())["paths"]


def _submission_from(
    doc: dict[str, Any], owner: str
) -> tuple[str, str, pika.BasicProperties, bytes]:
    """Exchange, routing key, properties and body of a diagnostics job, read from ``doc`` only."""
    routing_key, channel = next(
        (name, ch)
        for name, ch in doc["channels"].items()
        if ch.get("publish", {}).get("operationId") == "submit_diagnostics"
    )
    exchange = channel["bindings"]["amqp"]["exchange"]["name"]
    operation = channel["publish"]
    message = doc["components"]["messages"][operation["message"]["$ref"].rsplit("/", 1)[1]]
    schemas = doc["components"]["schemas"]
    request_ref = message["payload"]["allOf"][1]["properties"]["request"]["$ref"]
    request_schema = schemas[request_ref.rsplit("/", 1)[1]]
    job_id = uuid.uuid4().hex
    body = {
        "job_id": job_id,
        "owner": owner,
        "priority": "interactive",
        "request": {"type": request_schema["properties"]["type"]["enum"][0], "numbers": [2, 3]},
    }
    # The body must satisfy the message's schema as the document states it.
    jsonschema.validate(body, {**message["payload"], "components": doc["components"]})
    headers_schema = message["headers"]["properties"]
    assert "traceparent" in headers_schema
    properties = pika.BasicProperties(
        content_type=message["contentType"],
        delivery_mode=operation["bindings"]["amqp"]["deliveryMode"],
        priority=operation["x-amqp-priority"]["interactive"],
        message_id=job_id,
        user_id=urlsplit(AMQP_URL).username,  # the broker user; workers trust it for any owner
        headers={"traceparent": f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"},
    )
    return exchange, routing_key, properties, json.dumps(body).encode()


def _publish_with_pika(exchange: str, key: str, props: pika.BasicProperties, body: bytes) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(exchange, key, body, props, mandatory=True)
    finally:
        connection.close()


async def test_a_job_published_with_pika_from_the_document_alone_is_processed_and_listed(
    stack: str,
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack}/api/v1/asyncapi.json") as response:
            doc = await response.json()
        owner = f"pika-{uuid.uuid4().hex[:6]}"
        exchange, key, properties, body = _submission_from(doc, owner)
        await asyncio.to_thread(_publish_with_pika, exchange, key, properties, body)
        job_id = json.loads(body)["job_id"]
        headers = {"Authorization": f"Bearer {mint_token(SECRET, owner)}"}
        listed: list[dict[str, Any]] = []
        async with asyncio.timeout(20):
            while not (listed and listed[0]["state"] == "succeeded"):
                await asyncio.sleep(0.1)
                async with http.get(f"{stack}/api/v1/jobs", headers=headers) as response:
                    assert response.status == 200
                    listed = (await response.json())["jobs"]
    assert [job["job_id"] for job in listed] == [job_id]
    assert listed[0]["result"]["sum"] == 5
    assert listed[0]["job_type"] == "diagnostics"


def test_conveyor_schema_asyncapi_prints_the_document_for_the_configured_namespace() -> None:
    result = conveyor("schema", "--asyncapi", env=clean_environ(CONVEYOR_NAMESPACE="acme"))
    assert result.returncode == 0, result.stderr
    expected = build_asyncapi(Topology("acme"), server_url="amqp://127.0.0.1:5672")
    assert json.loads(result.stdout) == json.loads(json.dumps(expected))


def test_the_official_parser_reads_the_generated_document_without_errors_or_warnings() -> None:
    report = official_diagnostics(build_asyncapi(Topology("conveyor")))
    assert report["parsed"]
    assert report["errors"] == []
    assert report["warnings"] == []
    # What is left is advice only (it names AsyncAPI 3, which the document does not use yet).
    assert {d["code"] for d in report["others"]} <= {"asyncapi-latest-version"}


async def test_the_official_parser_reads_the_served_document_without_errors_or_warnings(
    stack: str,
) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{stack}/api/v1/asyncapi.json") as r:
        doc = await r.json()
    report = await asyncio.to_thread(official_diagnostics, doc)
    assert report["parsed"]
    assert (report["errors"], report["warnings"]) == ([], [])


def test_every_message_has_its_own_id_summary_and_headers_that_fit_it() -> None:
    doc = build_asyncapi(Topology("conveyor"))
    messages = doc["components"]["messages"]
    assert [m["messageId"] for m in messages.values()] == list(messages)
    for name, message in messages.items():
        assert message["summary"], name
        assert "``" not in message["summary"] + message["description"], name
    assert "traceparent" in messages["DiagnosticsJob"]["headers"]["properties"]
    event_headers = messages["JobSucceeded"]["headers"]["properties"]
    assert {"x-conveyor-cursor", "x-conveyor-prev-cursor"} <= set(event_headers)
    assert "x-conveyor-cursor" not in json.dumps(messages["DiagnosticsJob"]["headers"])
    folded_headers = messages["FoldedJobEvents"]["headers"]
    assert folded_headers["required"] == ["x-conveyor-folded"]
    assert set(event_headers) < set(folded_headers["properties"])
    assert "headers" not in messages["CancelJob"]  # nothing reads headers on control commands
    assert doc["info"]["license"]["name"] and doc["info"]["contact"]["email"]
    assert {tag["name"] for tag in doc["tags"]} == {
        tag["name"] for m in messages.values() for tag in m["tags"]
    }


def test_the_document_says_what_outside_publishers_need_to_know() -> None:
    doc = build_asyncapi(Topology("conveyor"))
    messages, channels = doc["components"]["messages"], doc["channels"]
    events = channels["job.{owner}.{kind}.{job_type}"]["description"]
    assert "'job.*.succeeded.#'" in events
    assert "FoldedJobEvents" in events and "last event's kind" in events
    assert "Routed by its last event" in messages["FoldedJobEvents"]["description"]
    assert "any label" in messages["DatasetUpdated"]["description"]
    assert "already cancelled" not in messages["CancelJob"]["description"]
    assert "records the cancellation" in messages["CancelJob"]["description"]


def test_the_public_server_url_drops_credentials_query_and_trailing_slash() -> None:
    cases = {
        "amqp://guest:secret@rabbit:5672/?heartbeat=30": "amqp://rabbit:5672",
        "amqps://u:p@broker.example/prod": "amqps://broker.example/prod",
        "amqp://[::1]:5672/": "amqp://[::1]:5672",
        "amqp://localhost": "amqp://localhost",
    }
    assert {url: public_server_url(url) for url in cases} == cases


def test_conveyor_schema_asyncapi_names_the_configured_broker_without_credentials() -> None:
    env = clean_environ(
        CONVEYOR_NAMESPACE="acme", CONVEYOR_AMQP_URL="amqp://ana:s3cret@rabbit.internal:5673/"
    )
    result = conveyor("schema", "--asyncapi", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["servers"]["rabbitmq"]["url"] == "amqp://rabbit.internal:5673"
    assert "s3cret" not in result.stdout
