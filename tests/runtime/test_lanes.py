"""``LaneGate``: at most ``slots`` deliveries run, the highest priority first, oldest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from conveyor.runtime.transport.amqp_delivery import Delivery
from conveyor.runtime.worker.lanes import LaneGate


@dataclass
class _Channel:
    is_closed: bool = False


@dataclass
class _Delivery:
    name: str
    routing_key: str
    priority: int | None = None
    channel: _Channel = field(default_factory=_Channel)


def _gate(slots: int) -> tuple[LaneGate, list[str]]:
    started: list[str] = []
    return LaneGate(slots, lambda d: started.append(cast(Any, d).name)), started


def _offer(gate: LaneGate, *deliveries: _Delivery) -> None:
    for delivery in deliveries:
        gate.offer(cast(Delivery, delivery))


def test_deliveries_start_at_once_while_slots_are_free() -> None:
    gate, started = _gate(2)
    _offer(gate, _Delivery("a", "scheduled.job.x"), _Delivery("b", "job.x"))
    assert started == ["a", "b"] and gate.waiting == 0


def test_a_freed_slot_goes_to_the_highest_priority_then_the_oldest() -> None:
    gate, started = _gate(1)
    _offer(
        gate,
        _Delivery("running", "job.x"),
        _Delivery("scheduled", "scheduled.job.x"),
        _Delivery("bulk-1", "job.x"),
        _Delivery("bulk-2", "job.x"),
        _Delivery("direct-interactive", "job.x", priority=2),
        _Delivery("interactive", "interactive.job.x"),
    )
    for _ in range(5):
        gate.done()
    assert started == [
        "running",
        "direct-interactive",
        "interactive",
        "bulk-1",
        "bulk-2",
        "scheduled",
    ]


def test_a_waiting_delivery_of_a_closed_channel_is_dropped_not_run() -> None:
    gate, started = _gate(1)
    lost = _Delivery("lost", "interactive.job.x")
    _offer(gate, _Delivery("running", "job.x"), lost, _Delivery("next", "job.x"))
    lost.channel.is_closed = True
    gate.done()
    assert started == ["running", "next"] and gate.waiting == 0


def test_draining_takes_the_waiting_deliveries_in_priority_order() -> None:
    gate, started = _gate(1)
    _offer(
        gate,
        _Delivery("running", "job.x"),
        _Delivery("low", "scheduled.job.x"),
        _Delivery("high", "interactive.job.x"),
    )
    taken = [cast(Any, d).name for d in gate.take_waiting()]
    assert taken == ["high", "low"] and gate.waiting == 0
    gate.done()
    assert started == ["running"]
