# syntax=docker/dockerfile:1
# One image for the API (`books serve`, the default command), the workers (`books worker`) and
# the one-shot commands (`books seed`, `books reconcile`). See docker-compose.yml.
#
# Stage 1 turns requirements.lock (every runtime dependency pinned with its hashes) into
# wheels and builds the project's own wheel; stage 2 installs them into a clean slim image,
# without a compiler, and runs as an unprivileged user.

ARG PYTHON_IMAGE=python:3.13-slim

# --- builder ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src

# Dependencies first: this layer is rebuilt only when the lock file changes. Binary wheels
# only (every locked package has a manylinux wheel), so nothing is ever compiled here either.
COPY requirements.lock ./
RUN pip wheel --require-hashes --only-binary :all: --wheel-dir /wheels -r requirements.lock

# The project itself (no dependencies: they are the locked wheels above).
COPY pyproject.toml README.md ./
COPY app ./app
COPY devtools ./devtools
COPY service ./service
COPY schema ./schema
COPY workers ./workers
RUN pip wheel --no-deps --wheel-dir /wheels/project .

# --- runtime ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOST=0.0.0.0 \
    PORT=8000

RUN groupadd --system --gid 10001 books \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin books

# The wheels are bind-mounted from the builder, not copied: they never become a layer here.
# Locked dependencies are installed with their hashes checked; the project wheel (built
# above, so it has no hash in the lock) goes in afterwards without resolving anything.
# The imports at the end fail the build if the lock misses a module the code needs.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,source=requirements.lock,target=/tmp/requirements.lock \
    pip install --no-index --find-links /wheels --require-hashes -r /tmp/requirements.lock \
 && pip install --no-index --no-deps /wheels/project/*.whl \
 && python -c "import app.asgi, app.cli, workers.runner" \
 && books --help > /dev/null

WORKDIR /app
USER 10001:10001

EXPOSE 8000

# Liveness of the API (slim images have no curl). Worker containers turn it off in compose.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["books", "serve"]
