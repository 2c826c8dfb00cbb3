"""Logging setup: JSON lines off a terminal, text on one; job id and trace id as context."""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import sys
from typing import Any

import msgspec

job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
"""The job the current task works on; the worker harness sets it around each handler."""

_service = "conveyor"
_instance = ""
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from conveyor.runtime.telemetry import current_trace_id

        record.service = _service
        record.instance = _instance
        if not hasattr(record, "job_id"):
            record.job_id = job_id_var.get()
        if not hasattr(record, "trace_id"):
            record.trace_id = current_trace_id()
        return True


class JsonFormatter(logging.Formatter):
    _encoder = msgspec.json.Encoder()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and value is not None:
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return self._encoder.encode(entry).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        context = " ".join(
            f"{k}={getattr(record, k)}" for k in ("job_id", "trace_id") if getattr(record, k, None)
        )
        return f"{base} [{context}]" if context else base


def setup_logging(service: str, instance: str, *, level: str = "INFO", fmt: str = "auto") -> None:
    """Configure the root logger for a service process."""
    global _service, _instance
    _service, _instance = service, instance
    handler = logging.StreamHandler(sys.stderr)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler.setFormatter(
        JsonFormatter()
        if use_json
        else TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aio_pika", "aiormq", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
