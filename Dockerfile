# syntax=docker/dockerfile:1
# One image for the API (`books serve`, the default command), the workers (`books worker`) and
# the one-shot commands (`books seed`, `books reconcile`). See docker-compose.yml.
#
# Stage 1 installs the runtime dependencies from uv.lock (the one lock of the project, with
# hashes; no extras, so no development-only package such as mongoeco) and the project into a
# virtual environment; stage 2 copies that environment into a clean slim image, without a
# compiler or uv, and runs as an unprivileged user.

ARG PYTHON_IMAGE=python:3.13-slim
ARG UV_VERSION=0.13.9

# --- builder ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv

RUN pip install "uv==${UV_VERSION}"
WORKDIR /src

# Dependencies first: this layer is rebuilt only when the lock changes. --locked fails the
# build if uv.lock does not match pyproject.toml; wheels only, so nothing is compiled here.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-install-project --no-editable --no-build

# The project itself, as a regular (not editable) install into the same environment.
COPY README.md ./
COPY app ./app
COPY devtools ./devtools
COPY service ./service
COPY schema ./schema
COPY workers ./workers
RUN uv sync --locked --no-editable

# --- runtime ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=8000

RUN groupadd --system --gid 10001 books \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin books

# The environment built above (the interpreter's path is the same in both stages). The
# imports fail the build if the lock misses a module the code needs.
COPY --from=builder /opt/venv /opt/venv
RUN python -c "import app.asgi, app.cli, workers.runner" \
 && books --help > /dev/null

WORKDIR /app
USER 10001:10001

EXPOSE 8000

# Liveness of the API (slim images have no curl). Worker containers turn it off in compose.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["books", "serve"]
