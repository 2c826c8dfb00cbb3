"""The monitoring API under ``/api/v1/admin`` (the Flower replacement): admins change things,
the read-only ``operator`` role may read."""

from __future__ import annotations

from conveyor.gateway.api._routes import Route
from conveyor.gateway.api.admin import control, dead_letters, queues, stats, workers

ROUTES: list[Route] = [
    *workers.ROUTES,
    *queues.ROUTES,
    *dead_letters.ROUTES,
    *stats.ROUTES,
    *control.ROUTES,
]
