"""bench.job_anatomy's reading of a packet capture: each job's stages, in order, from its
packets; a job missing a stage is left out rather than misread."""

from __future__ import annotations

from bench.job_anatomy import AMQP, REDIS, STAGES, analyse

CLIENT, WORKER, WORKER_REDIS = 40001, 40002, 40003


def _line(at: float, source: int, target: int, size: int) -> str:
    return (
        f"{at:.6f} IP 127.0.0.1.{source} > 127.0.0.1.{target}: Flags [P.], seq 1:2, ack 1, "
        f"win 64, options [nop,nop,TS val 1 ecr 2], length {size}"
    )


def _job(start: float) -> list[str]:
    return [
        _line(start, CLIENT, AMQP, 417),  # the publish
        _line(start + 0.0002, AMQP, WORKER, 462),  # delivered
        _line(start + 0.0003, AMQP, CLIENT, 21),  # a confirm: not a stage
        _line(start + 0.0007, WORKER_REDIS, REDIS, 1685),  # start script
        _line(start + 0.0009, REDIS, WORKER_REDIS, 116),
        _line(start + 0.0013, WORKER_REDIS, REDIS, 828),  # outcome script
        _line(start + 0.0014, REDIS, WORKER_REDIS, 69),
        _line(start + 0.0018, WORKER, AMQP, 1192),  # the event
        _line(start + 0.0018, WORKER, AMQP, 21),  # the ack
        _line(start + 0.0021, AMQP, CLIENT, 1237),  # the event arrives
    ]


def test_each_job_is_split_into_its_stages() -> None:
    lines = ["tcpdump: listening on lo", *_job(10.0), *_job(10.01)]
    found = analyse(lines, {CLIENT}, {WORKER})
    assert len(found) == 2
    for stages in found:
        assert len(stages) == len(STAGES)
        expected = [0.2, 0.5, 0.2, 0.4, 0.1, 0.4, 0.3]
        assert [round(s, 3) for s in stages] == expected


def test_a_job_whose_event_never_came_is_left_out() -> None:
    broken = _job(10.0)[:-1]
    assert analyse([*broken, *_job(10.01)], {CLIENT}, {WORKER}) == [
        analyse(_job(10.01), {CLIENT}, {WORKER})[0]
    ]
