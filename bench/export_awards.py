"""Export 1,000,000 awards (all columns) to xlsx, csv and parquet through a real export worker.

For each format a fresh ``conveyor.export_worker`` process takes one export job over RabbitMQ
and Redis, exactly as in production; the figures are the job's own running time (the record's
``started_at`` to ``finished_at``), rows/s, and the worker's peak RSS sampled every 50 ms
(its idle RSS shown for reference). Goal for xlsx: <= 10 s and <= 400 MB.

    uv run python -m bench.export_awards [--rows 1000000] [--formats xlsx csv parquet]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from pathlib import Path

from bench._harness import bench_namespace, rss_mb, sample_peak_rss, worker_process
from bench._jobs import wait_for_state
from conveyor.awards.generator import generate
from conveyor.awards.schema import count_rows
from conveyor.contracts.jobs import ExportRequest, FileResult, JobEnvelope, Priority
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import Topology
from conveyor.dev_support.namespace import AMQP_URL
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle

FINAL = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}


async def run(data_dir: Path, formats: list[str], rows: int) -> None:
    async with bench_namespace() as (ns, redis):
        broker = Broker(AMQP_URL, Topology(ns), connection_name="bench")
        await broker.connect()
        store = JobStore(redis, Keys(ns), retention_seconds=3600, history_max=1000)
        lifecycle = JobLifecycle(store, broker)
        print(f"{'format':<9}{'seconds':>9}{'rows/s':>12}{'peak MB':>9}{'idle MB':>9}{'MB out':>9}")
        try:
            for format in formats:
                env = {"CONVEYOR_DATA_DIR": str(data_dir), "CONVEYOR_CONCURRENCY": "1"}
                async with worker_process(ns, redis, "conveyor.export_worker", **env) as worker:
                    pid = worker.process.pid
                    idle = rss_mb(pid)
                    stop = asyncio.Event()
                    sampler = asyncio.create_task(sample_peak_rss(pid, stop))
                    envelope = JobEnvelope(
                        request=ExportRequest(format=format),  # type: ignore[arg-type]
                        owner="bench",
                        priority=Priority.INTERACTIVE,
                    )
                    await lifecycle.submit(envelope)
                    record = await wait_for_state(store, envelope.job_id, FINAL, timeout=600)
                    stop.set()
                    peak = await sampler
                result = record.result
                if record.state != JobState.SUCCEEDED or not isinstance(result, FileResult):
                    print(f"{format:<9} {record.state}: {record.error}")
                    continue
                assert record.started_at is not None
                assert record.finished_at is not None
                assert result.rows == rows
                seconds = (record.finished_at - record.started_at).total_seconds()
                size = (data_dir / result.path).stat().st_size / 1e6
                print(
                    f"{format:<9}{seconds:>9.2f}{rows / seconds:>12,.0f}"
                    f"{peak:>9.0f}{idle:>9.0f}{size:>9.1f}",
                    flush=True,
                )
                (data_dir / result.path).unlink()
        finally:
            await lifecycle.drain()
            await broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", nargs="+", default=["xlsx", "csv", "parquet"])
    parser.add_argument("--data", type=Path, help="a data dir with awards/ (default: generated)")
    args = parser.parse_args()
    data_dir = args.data or Path(tempfile.mkdtemp(prefix="conveyor-export-bench-"))
    try:
        if args.data is None:
            generate(args.rows, data_dir / "awards", seed=1)
        rows = count_rows(data_dir / "awards")
        print(f"{rows:,} awards, all 17 columns, one fresh worker per format\n")
        asyncio.run(run(data_dir, args.formats, rows))
    finally:
        if args.data is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
