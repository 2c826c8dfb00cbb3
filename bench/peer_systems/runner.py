"""One peer system's run for ``bench.peers``, in the peers' own environment (``.venv-peers``).

    .venv-peers/bin/python bench/peer_systems/runner.py SYSTEM [VARIANT] --jobs N --latency K
    .venv-peers/bin/python bench/peer_systems/runner.py SYSTEM [VARIANT] --count N

Adapted from the peers' harness (../shared/peers/queue-bench/harness.py), same figures'
definitions: the system's worker starts as a subprocess in a session of its own (stopped by
its process group at the end); this process is the producer and client:
- throughput: N no-op jobs enqueued, each writing its result record to Redis; done when N
  records exist (a cheap DBSIZE polled every 10 ms); jobs/s = N / time;
- latency: K round trips one at a time (submit, then wait with the system's own result API);
- added here: CPU per job of the client and of the worker's process tree (user + system) over
  each stretch, and their peak RSS (VmHWM) summed;
- ``--count N``: no timing; N jobs between two handshake lines (``measure.counted_ready``),
  around which ``bench.peers`` reads the broker's and Redis's counters.
The result is one JSON line (``measure.print_result``).
"""

import argparse
import asyncio
import contextlib
import importlib
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import measure  # noqa: E402

WARM_UP = 200


async def wait_done(client, n, timeout=600.0, interval=0.01):
    t_end = time.perf_counter() + timeout
    while True:
        done = await client.done_count()
        if done >= n:
            return done
        if time.perf_counter() > t_end:
            raise TimeoutError(f"only {done}/{n} done")
        await asyncio.sleep(interval)


async def timed(client, args, worker_pid):
    result = {}
    parts = {"client": [os.getpid()], "worker": [worker_pid]}
    await client.reset()
    await asyncio.sleep(0.5)
    cpu = measure.CpuMeter(parts)
    cpu.start()
    t0 = time.perf_counter()
    await client.enqueue(args.jobs)
    t_enq = time.perf_counter()
    await wait_done(client, args.jobs)
    elapsed = time.perf_counter() - t0
    result["throughput"] = args.jobs / elapsed
    result["enqueue_rate"] = args.jobs / (t_enq - t0)
    result["cpu_us"] = cpu.per_job_us(args.jobs)
    if args.latency:
        await client.reset()
        await asyncio.sleep(0.5)
        for _ in range(20):
            await client.roundtrip()
        cpu.start()
        samples = []
        for _ in range(args.latency):
            t0 = time.perf_counter()
            await client.roundtrip()
            samples.append((time.perf_counter() - t0) * 1000)
        result["latency_ms"] = {"result API": samples}
        result["latency_cpu_us"] = {"result API": cpu.per_job_us(args.latency)}
    return result


async def counted(client, jobs):
    await client.reset()
    await asyncio.sleep(0.5)
    await asyncio.to_thread(measure.counted_ready, "bulk", jobs)
    await client.enqueue(jobs)
    await wait_done(client, jobs)
    await asyncio.to_thread(measure.counted_done, "bulk")
    return {}


async def bench(mod, args, worker_pid):
    client = mod.Client(args.variant)
    await client.setup()
    try:
        await client.reset()
        # The warm-up doubles as the readiness check (the worker may still be booting).
        await client.enqueue(WARM_UP)
        await wait_done(client, WARM_UP, timeout=120)
        if args.count:
            result = await counted(client, args.count)
        else:
            result = await timed(client, args, worker_pid)
        await client.reset()
    finally:
        await client.close()
    result["describe"] = client.describe()
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("system")
    parser.add_argument("variant", nargs="?", default="default")
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--count", type=int, default=0)
    args = parser.parse_args()

    mod = importlib.import_module(f"sys_{args.system}")
    cmd = mod.worker_cmd(args.variant)
    env = dict(os.environ, PYTHONPATH=HERE, QB_VARIANT=args.variant)
    with tempfile.NamedTemporaryFile("w", prefix=f"peer-{args.system}-", suffix=".log") as log:
        proc = subprocess.Popen(
            cmd, cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        rss = measure.PeakRss()
        try:
            time.sleep(1.0)
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited early rc={proc.returncode}")
            if getattr(mod, "CLIENT_UVLOOP", False) and "uvloop" in args.variant:
                import uvloop

                result = uvloop.run(bench(mod, args, proc.pid))
            else:
                result = asyncio.run(bench(mod, args, proc.pid))
        except BaseException:
            log.flush()
            with open(log.name) as out:
                sys.stderr.write(out.read()[-3000:])
            raise
        finally:
            rss.record({"client": [os.getpid()], "worker": [proc.pid]})
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
    result.update(system=mod.NAME, variant=args.variant, worker=" ".join(cmd[1:]))
    result["rss_mb"] = rss.parts_mb
    measure.print_result(result)


if __name__ == "__main__":
    main()
