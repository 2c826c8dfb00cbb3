"""Re-importing corrections into a 10M-row awards dataset: the import's time, then the time
until a real aggregates worker serves the corrected awards.

A base dataset is generated once into bench/out (gitignored); each run works on a copy made
of hard links (the importer never writes into an existing file, so the base stays intact).
A correction CSV re-publishes ``--corrections`` awards drawn at random from the dataset with
a new amount and a title carrying the word "Zanzibarite". A real
``conveyor.aggregates_worker`` process first serves the old version (its hot table loaded);
then the import runs in this process and ``dataset.updated`` is published, and a search job
for "zanzibarite" is submitted at once. "Served after" is the time from the end of the import
to that job's success with the new version and every correction found; it is mostly the
worker reloading its hot table. The export worker needs no reload: it lists the dataset's
files per job.

    uv run python -m bench.reimport [--rows 10000000] [--corrections 100000] [--skip-worker]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time
from pathlib import Path

import msgspec
import polars as pl

from bench._harness import bench_namespace, peak_rss_mb, print_host_speed, worker_process
from bench._jobs import wait_for_state
from conveyor.awards.generator import generate
from conveyor.awards.import_report import ImportReport
from conveyor.awards.importer import import_files
from conveyor.awards.schema import DATASET_DIR, count_rows, dataset_version, scan_dataset
from conveyor.contracts.award_results import SearchResult
from conveyor.contracts.codecs import encode
from conveyor.contracts.events import DatasetUpdated
from conveyor.contracts.jobs import CachedResult, JobEnvelope, Priority, SearchRequest
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import Topology, domain_event_routing_key
from conveyor.dev_support.namespace import AMQP_URL
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle

OUT = Path(__file__).parent / "out"
FINAL = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}
MARK = "zanzibarite"


def base_dataset(rows: int) -> Path:
    """The awards directory of a cached generated dataset of ``rows`` awards."""
    directory = OUT / f"reimport-{rows}" / "base" / DATASET_DIR
    if not directory.is_dir() or count_rows(directory) != rows:
        print(f"generating {rows:,} awards into {directory} (once)")
        generate(rows, directory, seed=7, overwrite=True)
    return directory


def working_copy(base: Path) -> Path:
    """A fresh data directory whose ``awards`` hard-links the base dataset's files."""
    data_dir = base.parent.parent / "run"
    shutil.rmtree(data_dir, ignore_errors=True)
    awards = data_dir / DATASET_DIR
    awards.mkdir(parents=True)
    for file in base.glob("awards-*.parquet"):
        os.link(file, awards / file.name)
    return data_dir


def correction_file(awards: Path, corrections: int, out: Path) -> Path:
    """A CSV re-publishing ``corrections`` random awards with a new amount and title."""
    sample = scan_dataset(awards).collect().sample(corrections, seed=1)
    corrected = sample.with_columns(
        (pl.col("contract_amount") * 1.1).round(2),
        pl.format("{} {}", pl.lit(MARK.title()), pl.col("award_title")).alias("award_title"),
    )
    corrected.write_csv(out, date_format="%Y-%m-%d")
    return out


async def run(data_dir: Path, correction: Path, corrections: int, with_worker: bool) -> None:
    awards = data_dir / DATASET_DIR
    if not with_worker:
        report = import_files([correction], awards, rejects_file=data_dir / "rejects.csv")
        print_import(report)
        return
    async with bench_namespace() as (ns, redis):
        broker = Broker(AMQP_URL, Topology(ns), connection_name="bench")
        await broker.connect()
        store = JobStore(redis, Keys(ns), retention_seconds=3600, history_max=1000)
        lifecycle = JobLifecycle(store, broker)
        env = {"CONVEYOR_DATA_DIR": str(data_dir), "CONVEYOR_WARM_ON_START": "false"}
        request = SearchRequest(query=MARK, page_size=1)

        async def search() -> tuple[float, SearchResult]:
            envelope = JobEnvelope(request=request, priority=Priority.INTERACTIVE)
            started = time.perf_counter()
            await lifecycle.submit(envelope)
            record = await wait_for_state(store, envelope.job_id, FINAL, timeout=1800)
            assert record.state == JobState.SUCCEEDED, record
            assert isinstance(record.result, CachedResult)
            result = msgspec.json.decode(await redis.get(record.result.key), type=SearchResult)
            return time.perf_counter() - started, result

        try:
            async with worker_process(ns, redis, "conveyor.aggregates_worker", **env) as worker:
                seconds, before = await search()
                first_peak = peak_rss_mb(worker.process.pid)
                print(f"{'worker first load':<26}{seconds:>9.2f} s   (old version served)")
                assert before.total == 0
                report = await asyncio.to_thread(
                    import_files, [correction], awards, rejects_file=data_dir / "rejects.csv"
                )
                imported_at = time.perf_counter()
                print_import(report)
                version = dataset_version(awards)
                event = DatasetUpdated(version=version, rows=count_rows(awards), source="bench")
                await broker.publish_event(
                    domain_event_routing_key(DatasetUpdated), encode(event), headers={}
                )
                _, after = await search()
                served = time.perf_counter() - imported_at
                assert after.dataset_version == version, "served the old version"
                assert after.total == corrections, f"{after.total:,} corrections found"
                print(f"{'served after import':<26}{served:>9.2f} s   (search job, new version)")
                peak = peak_rss_mb(worker.process.pid)
                print(f"{'worker peak RSS':<26}{peak:>9.0f} MB  ({first_peak:.0f} MB first load)")
        finally:
            await broker.close()


def print_import(report: ImportReport) -> None:
    print(f"{'import':<26}{report.seconds:>9.2f} s   {report.rows_imported:,} rows imported")
    read = report.seconds - report.commit_seconds
    print(f"{'  read, check, stage':<26}{read:>9.2f} s")
    print(f"{'  replace and commit':<26}{report.commit_seconds:>9.2f} s")
    print(f"{'  replaced awards':<26}{report.replaced:>9,}")
    print(f"{'  files written':<26}{len(report.written):>9,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--corrections", type=int, default=100_000)
    parser.add_argument("--skip-worker", action="store_true")
    args = parser.parse_args()
    print_host_speed()
    print(f"{'load average (1 min)':<26}{os.getloadavg()[0]:>9.2f}")
    base = base_dataset(args.rows)
    data_dir = working_copy(base)
    started = time.perf_counter()
    correction = correction_file(
        data_dir / DATASET_DIR, args.corrections, data_dir / "corrections.csv"
    )
    size = correction.stat().st_size / 2**20
    print(f"{'dataset':<26}{args.rows:>9,} rows")
    print(
        f"{'correction file':<26}{args.corrections:>9,} rows  ({size:.1f} MiB, "
        f"made in {time.perf_counter() - started:.1f} s)"
    )
    asyncio.run(run(data_dir, correction, args.corrections, not args.skip_worker))
    rows = count_rows(data_dir / DATASET_DIR)
    duplicated = (
        scan_dataset(data_dir / DATASET_DIR)
        .select(pl.col("award_reference_no").is_duplicated().sum())
        .collect()
        .item()
    )
    print(f"{'rows after':<26}{rows:>9,}  ({duplicated:,} duplicated references)")


if __name__ == "__main__":
    main()
