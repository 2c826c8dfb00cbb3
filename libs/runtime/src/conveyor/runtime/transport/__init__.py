"""Every use of a library below its public API (aio-pika, aiormq and pamqp; redis-py), each
with a plain public-API fallback chosen by one setting (``Settings.transport``, see ``mode``).

Both modes keep the same behaviour, and the contract tests in tests/runtime/transport run
against the real broker and Redis in both. Nothing outside this package imports aiormq or
pamqp, or touches these libraries' private state (tests/runtime/transport/test_boundary.py,
tests/test_library_boundaries.py); the services' own boundary modules (aiohttp, APScheduler,
zipfile) are listed in docs/architecture.md.
"""
