"""Event publishes, in both transport modes: events written together arrive whole and in order."""

from __future__ import annotations

from conveyor.runtime.broker import Broker


async def test_events_written_together_arrive_whole_and_in_order(mode_broker: Broker) -> None:
    channel = await mode_broker.open_channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(mode_broker.topology.events, "hot.#")
    big = b"x" * 300_000  # more than one frame: split into content-body frames
    events = [(f"hot.{i}", f'{{"i":{i}}}'.encode(), {"n": i}) for i in range(300)]
    events.insert(150, ("hot.big", big, {"n": -1}))

    await mode_broker.publish_events(events)
    await mode_broker.publish_event("hot.last", b"{}", headers={"n": 300})

    received: list[tuple[str, bytes, object]] = []
    async with queue.iterator(no_ack=True) as messages:
        async for message in messages:
            received.append((message.routing_key or "", message.body, message.headers["n"]))
            if len(received) == len(events) + 1:
                break
    await channel.close()
    expected = [(key, body, headers["n"]) for key, body, headers in events]
    assert received == [*expected, ("hot.last", b"{}", 300)]
