# syntax=docker/dockerfile:1
# One Dockerfile, one target per service: gateway, maintenance, export-worker, aggregates-worker,
# and cli (the `conveyor` command: datasets, tokens, operations).
#   docker build --target gateway -t conveyor/gateway .
# Each target's virtualenv holds only its own member and that member's locked dependencies.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
# build: resolve and install from uv.lock (never re-resolve: --locked fails if it is stale).
FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# Third-party dependencies first, from the manifests alone, so this layer is reused until
# uv.lock or a pyproject.toml changes. Every workspace member's manifest must be here.
COPY pyproject.toml uv.lock ./
COPY libs/contracts/pyproject.toml libs/contracts/
COPY libs/runtime/pyproject.toml libs/runtime/
COPY libs/awards/pyproject.toml libs/awards/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/maintenance/pyproject.toml services/maintenance/
COPY services/export-worker/pyproject.toml services/export-worker/
COPY services/aggregates-worker/pyproject.toml services/aggregates-worker/
COPY cli/pyproject.toml cli/
COPY dev/support/pyproject.toml dev/support/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --all-packages --no-install-workspace

# Then the sources. Members are installed as wheels (--no-editable), so the runtime images
# need /app/.venv only, not /src.
COPY libs libs
COPY services services
COPY cli cli

FROM build AS build-gateway
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package conveyor-gateway

FROM build AS build-maintenance
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package conveyor-maintenance

FROM build AS build-export-worker
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package conveyor-export-worker

FROM build AS build-aggregates-worker
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package conveyor-aggregates-worker

FROM build AS build-cli
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package conveyor-cli

# ---------------------------------------------------------------------------------------------
# runtime: the same Python image (the venv's interpreter symlinks point into it), no uv,
# no sources, a non-root user. /data is where CONVEYOR_DATA_DIR points; a named volume mounted
# there starts out owned by that user.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 conveyor \
 && useradd --system --uid 10001 --gid conveyor --home-dir /app --shell /usr/sbin/nologin conveyor \
 && mkdir -p /app /data \
 && chown conveyor:conveyor /data
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CONVEYOR_DATA_DIR=/data
WORKDIR /app
USER conveyor:conveyor
# Services stop on SIGTERM: workers drain running jobs within CONVEYOR_SHUTDOWN_GRACE (30 s by
# default), so give containers a longer stop timeout (compose: stop_grace_period).
STOPSIGNAL SIGTERM

FROM runtime AS gateway
COPY --from=build-gateway /app/.venv /app/.venv
ENV CONVEYOR_HTTP_HOST=0.0.0.0 \
    CONVEYOR_HTTP_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ['CONVEYOR_HTTP_PORT'], timeout=4)"]
CMD ["python", "-m", "conveyor.gateway"]

FROM runtime AS maintenance
COPY --from=build-maintenance /app/.venv /app/.venv
CMD ["python", "-m", "conveyor.maintenance"]

FROM runtime AS export-worker
COPY --from=build-export-worker /app/.venv /app/.venv
CMD ["python", "-m", "conveyor.export_worker"]

FROM runtime AS aggregates-worker
COPY --from=build-aggregates-worker /app/.venv /app/.venv
CMD ["python", "-m", "conveyor.aggregates_worker"]

FROM runtime AS cli
COPY --from=build-cli /app/.venv /app/.venv
#   docker run --rm -v conveyor_conveyor-data:/data conveyor/cli data info /data/awards
ENTRYPOINT ["conveyor"]
CMD ["--help"]
