# syntax=docker/dockerfile:1
# One image for every Linli process; the command picks the role:
#   docker run linli serve registry --host 0.0.0.0 --port 8000
#   docker run linli worker registry
#   docker run linli migrate all
# Build: docker build -t linli:dev .

# Base images pinned to exact versions. A release build also pins their digests, e.g.
#   --build-arg PYTHON_IMAGE=python:3.11.15-slim-bookworm@sha256:<digest>
# (`docker buildx imagetools inspect python:3.11.15-slim-bookworm` prints it).
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8

FROM ${UV_IMAGE} AS uv

# --- builder: resolve the locked dependencies into /app/.venv ------------------------------------
FROM ${PYTHON_IMAGE} AS builder

COPY --from=uv /uv /uvx /bin/

# Use the image's own Python (the final stage has the same one at the same path), compile
# bytecode once here, and install the workspace packages as real wheels, not editable links,
# so /app/.venv is self-contained and can be copied on its own.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

WORKDIR /app

# Third-party dependencies first: this layer is reused until uv.lock or a pyproject.toml changes.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY services/registry/pyproject.toml services/registry/
COPY services/inspections/pyproject.toml services/inspections/
COPY services/credit/pyproject.toml services/credit/
COPY services/notify/pyproject.toml services/notify/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-workspace

# Then Linli itself: the shared library, the four services and the `linli` command.
COPY README.md ./
COPY shared/src shared/src
COPY services/registry/src services/registry/src
COPY services/inspections/src services/inspections/src
COPY services/credit/src services/credit/src
COPY services/notify/src services/notify/src
COPY src src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# --- runtime: the same Python, the virtual environment, nothing else ------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# No build tools at run time: the slim image has no compiler; drop its pip, setuptools and wheel
# too (the virtual environment has none), and the set-uid/set-gid bits nobody here needs.
RUN python -m pip uninstall --yes --no-cache-dir pip setuptools wheel \
    && find / -xdev -type f -perm /6000 -exec chmod a-s {} + \
    && groupadd --system --gid 10001 linli \
    && useradd --system --uid 10001 --gid linli --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin linli

# Owned by root and read-only for the service user: the code cannot be changed at run time.
COPY --from=builder /app/.venv /app/.venv

WORKDIR /app
# The process writes nothing outside /tmp (PYTHONDONTWRITEBYTECODE; mount /tmp as tmpfs/emptyDir),
# so the container runs with a read-only root file system.
USER 10001:10001
EXPOSE 8000 9100

LABEL org.opencontainers.image.title="linli" \
      org.opencontainers.image.description="Linli: event-driven community governance" \
      org.opencontainers.image.licenses="Apache-2.0"

ENTRYPOINT ["linli"]
CMD ["--help"]
