"""Aggregates and search on a 10M-row awards dataset: compute times, the cache, the worker's RSS.

Part 1 (in process): load the hot table, then time the whole aggregate set uncached for
(a) no filter, (b) one region, (c) a keyword plus a year range, and a search (first page and
total count) for a one-word and a three-word query (best of ``--repeat`` runs each); then a
cached repeat through the engine and Redis. A search's first page and its total count are
timed separately (the page stops early in the default order; the count is remembered per
table, so its timing clears that memo). Part 2: a real ``conveyor.aggregates_worker`` process
runs the same jobs over RabbitMQ; its peak RSS is the kernel's high-water mark (VmHWM in
/proc/<pid>/status), which sees every peak; a 50 ms sampler is printed beside it.
Goals: set <= 1.5 s uncached, <= 5 ms cached; search <= 150 ms page / <= 500 ms count;
peak RSS <= 1.5 GB. The dataset is generated once into bench/out (gitignored).

    uv run python -m bench.aggregates [--rows 10000000] [--repeat 3] [--skip-worker]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._harness import bench_namespace, peak_rss_mb, rss_mb, sample_peak_rss, worker_process
from bench._jobs import wait_for_state
from conveyor.aggregates_worker.aggregates import compute_aggregates
from conveyor.aggregates_worker.engine import AggregatesEngine
from conveyor.aggregates_worker.hot_table import HotTable, load_hot_table
from conveyor.aggregates_worker.search import count_matches, query_terms, search_page
from conveyor.awards.generator import generate
from conveyor.awards.schema import DATASET_DIR, count_rows
from conveyor.contracts.award_results import AggregatesResult
from conveyor.contracts.jobs import (
    AggregatesRequest,
    AwardFilters,
    DateRange,
    JobEnvelope,
    Priority,
    SearchRequest,
)
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import Topology
from conveyor.dev_support.namespace import AMQP_URL
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle

OUT = Path(__file__).parent / "out"
FINAL = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
AGGREGATES = {
    "set, no filter": AggregatesRequest(),
    "set, one region": AggregatesRequest(filters=AwardFilters(areas=["Region VIII"])),
    "set, keyword + years": AggregatesRequest(
        filters=AwardFilters(
            keywords=["catering"],
            time_ranges=[DateRange(start=dt.date(2016, 1, 1), end=dt.date(2019, 12, 31))],
        )
    ),
}
SEARCHES = {
    "search, 1 word": SearchRequest(query="catering"),
    "search, 3 words": SearchRequest(query="repair services hospital"),
}


def dataset(rows: int) -> Path:
    """The data directory of a cached generated dataset of ``rows`` awards."""
    data_dir = OUT / f"aggregates-{rows}"
    directory = data_dir / DATASET_DIR
    if not directory.is_dir() or count_rows(directory) != rows:
        print(f"generating {rows:,} awards into {directory} (once)")
        generate(rows, directory, seed=7, overwrite=True)
    return data_dir


def timed(repeat: int, work: Callable[[], Any]) -> tuple[float, float, Any]:
    """(first run, best run, result): the first run of the unfiltered set builds its rollup."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return times[0], min(times), result


def in_process(directory: Path, repeat: int) -> None:
    started = time.perf_counter()
    table: HotTable = load_hot_table(directory)
    print(f"{'load hot table':<24}{time.perf_counter() - started:>9.2f} s   {table.rows:,} rows")
    cancelled = threading.Event()

    def quiet(*args: object) -> None:
        pass

    def aggregate_set(request: AggregatesRequest) -> AggregatesResult:
        table.memo.clear()  # the unfiltered set is remembered per table: time computing it
        return compute_aggregates(table, request, cancelled=cancelled, progress=quiet)

    for name, request in AGGREGATES.items():
        first, seconds, result = timed(repeat, functools.partial(aggregate_set, request))
        shown = f"{result.summary.count:,} awards, first run {first * 1000:.0f} ms"
        print(f"{name:<24}{seconds * 1000:>9.0f} ms  {shown}")
    for name, search in SEARCHES.items():
        terms = query_terms(search.query)

        def page(r: SearchRequest = search, t: list[str] = terms) -> list[Any]:
            return search_page(table, table.matcher(r.filters, t), r)

        def count(r: SearchRequest = search, t: list[str] = terms) -> int:
            table.memo.clear()  # the count is remembered per table: time computing it
            return count_matches(table, table.matcher(r.filters, t), r)

        _, page_seconds, awards = timed(repeat, page)
        _, count_seconds, total = timed(repeat, count)
        shown = f"page of {len(awards)}"
        print(f"{name + ', first page':<24}{page_seconds * 1000:>9.0f} ms  {shown}")
        print(f"{name + ', total count':<24}{count_seconds * 1000:>9.0f} ms  {total:,} total")


async def cached(data_dir: Path, repeat: int) -> None:
    async with bench_namespace() as (ns, redis):
        engine = AggregatesEngine(data_dir / DATASET_DIR, redis, Keys(ns), instance="bench")
        request = AGGREGATES["set, one region"]
        await engine.aggregates(request, None)  # loads the table and fills the cache
        samples = []
        for _ in range(max(repeat, 20)):
            started = time.perf_counter()
            answer = await engine.aggregates(request, None)
            samples.append(time.perf_counter() - started)
            assert answer.cache_hit
        median = sorted(samples)[len(samples) // 2]
        best = min(samples) * 1000
        print(f"{'set, cached repeat':<24}{best:>9.2f} ms  (median {median * 1000:.2f})")


async def worker(data_dir: Path) -> None:
    async with bench_namespace() as (ns, redis):
        broker = Broker(AMQP_URL, Topology(ns), connection_name="bench")
        await broker.connect()
        store = JobStore(redis, Keys(ns), retention_seconds=3600, history_max=1000)
        lifecycle = JobLifecycle(store, broker)
        env = {"CONVEYOR_DATA_DIR": str(data_dir), "CONVEYOR_WARM_ON_START": "false"}
        try:
            async with worker_process(ns, redis, "conveyor.aggregates_worker", **env) as process:
                pid = process.process.pid
                idle = rss_mb(pid)
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_peak_rss(pid, stop))
                requests: list[tuple[str, AggregatesRequest | SearchRequest]] = [
                    *AGGREGATES.items(),
                    *SEARCHES.items(),
                ]
                for name, request in requests:
                    envelope = JobEnvelope(request=request, priority=Priority.INTERACTIVE)
                    started = time.perf_counter()
                    await lifecycle.submit(envelope)
                    record = await wait_for_state(store, envelope.job_id, FINAL, timeout=900)
                    print(f"job {name:<20}{time.perf_counter() - started:>9.2f} s   {record.state}")
                stop.set()
                sampled = await sampler
                peak = peak_rss_mb(pid)
                print(f"{'worker peak RSS':<24}{peak:>9.0f} MB  VmHWM ({idle:.0f} MB idle)")
                print(f"{'  sampled every 50 ms':<24}{sampled:>9.0f} MB  (misses short peaks)")
        finally:
            await broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-worker", action="store_true")
    args = parser.parse_args()
    data_dir = dataset(args.rows)
    in_process(data_dir / DATASET_DIR, args.repeat)
    asyncio.run(cached(data_dir, args.repeat))
    if not args.skip_worker:
        asyncio.run(worker(data_dir))


if __name__ == "__main__":
    main()
